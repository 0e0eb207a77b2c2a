// Where a kmod-sim instance lives when nobody says (DESIGN.md "At run time"): the daemon
// creates its run directory there and the ipsec commands look for it there.
#pragma once

#include <optional>
#include <string>

namespace kmod_sim {

// $KMOD_SIM_DIR, else /run/kmod-sim as root, else $XDG_RUNTIME_DIR/kmod-sim; nullopt when
// none of them applies.
std::optional<std::string> default_instance_dir();

}  // namespace kmod_sim
