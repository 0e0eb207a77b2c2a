// The kmod-sim instance a command talks to: its run directory ($KMOD_SIM_DIR or the daemon's
// default, kmod_sim/lib/instance_dir.h), its PF_KEY socket and its /proc view.
#pragma once

#include <string>
#include <string_view>

namespace kmod_sim::userland {

struct Instance {
    std::string dir;  // empty when no run directory applies (non-root without XDG_RUNTIME_DIR)

    std::string pfkey_socket() const { return dir + "/pfkey"; }
    // A file of the view: proc_file("net/ipsec_eroute").
    std::string proc_file(std::string_view relative) const { return dir + "/proc/" + std::string(relative); }
};

Instance find_instance();

}  // namespace kmod_sim::userland
