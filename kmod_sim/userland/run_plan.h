// Carries out one command's Plan against its instance: connect when needed, send each request,
// wait for its answer, stop at the first failure. What `ipsec <command>` does.
#pragma once

#include "command.h"

namespace kmod_sim::userland {

int run_plan(const Invocation& invocation, Plan& plan);

// "<name>: cannot reach kmod-sim: <why> (is it running? its run directory is <dir>)" for a
// failed connect or a socket that stopped answering.
void report_unreachable(const Invocation& invocation, int error);

}  // namespace kmod_sim::userland
