// A command run without arguments prints its /proc file, as KLIPS's programs ran `cat`
// (spec/klips.md §8): from the instance's view, or KLIPS's message when there is none.
#pragma once

#include <string_view>

#include "command.h"

namespace kmod_sim::userland {

// Prints `relative` ("net/ipsec_eroute") of the view to stdout: 0; or
// "<name>: No <what> - no IPsec support in kernel (are the modules loaded?)" and 1.
int print_proc_file(const Invocation& invocation, std::string_view relative, std::string_view what);

}  // namespace kmod_sim::userland
