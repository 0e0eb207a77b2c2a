#include "instance.h"

#include "kmod_sim/lib/instance_dir.h"

namespace kmod_sim::userland {

Instance find_instance() { return Instance{default_instance_dir().value_or(std::string())}; }

}  // namespace kmod_sim::userland
