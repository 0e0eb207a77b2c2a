// libopenswan's pfkey_write_error(): the explanation spi and spigrp printed after "pfkey write
// failed" for the kernel's errno. (eroute had its own, action-dependent, in eroute.cc.)
#pragma once

namespace kmod_sim::userland {

// Prints the explanation line(s) for `error` to stderr.
void print_pfkey_write_error(int error);

}  // namespace kmod_sim::userland
