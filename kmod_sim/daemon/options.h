// The kmod-sim command line (DESIGN.md "At run time"; README "kmod-sim").
#pragma once

#include <optional>
#include <string>
#include <variant>

#include "kmod_sim/module/klips.h"

namespace kmod_sim::daemon {

struct Options {
    std::string run_dir;                 // resolved: --run-dir, $KMOD_SIM_DIR, or the default
    std::string mountpoint;              // resolved: --mount, or RUN_DIR/proc
    OutputProfile profile = OutputProfile::seed;
    bool manual_clock = false;
    bool real_devices = true;            // --devices real: attached ipsecN are TUN devices
    bool daemonize = false;
};

// What the command line asks for: run with these options, or print `text` and exit with `status`
// (--help and --version to stdout with 0; mistakes to stderr with 1).
struct Exit {
    std::string text;
    int status = 0;
};

std::variant<Options, Exit> parse_options(int argc, char** argv);

}  // namespace kmod_sim::daemon
