#include "instance_dir.h"

#include <unistd.h>

#include <cstdlib>

namespace kmod_sim {

std::optional<std::string> default_instance_dir() {
    if (const char* dir = std::getenv("KMOD_SIM_DIR"); dir && *dir) return std::string(dir);
    if (geteuid() == 0) return std::string("/run/kmod-sim");
    if (const char* xdg = std::getenv("XDG_RUNTIME_DIR"); xdg && *xdg) return std::string(xdg) + "/kmod-sim";
    return std::nullopt;
}

}  // namespace kmod_sim
