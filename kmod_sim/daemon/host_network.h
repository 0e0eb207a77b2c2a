// What the daemon asks of the host's network configuration: whether an address is one of the
// host's (an SA to a local address is inbound), and a device's MTU (`ipsec tncfg --attach`).
// Both read the current state on every call, as KLIPS asked the kernel's tables.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "kmod_sim/lib/ip_address.h"

namespace kmod_sim::daemon {

bool is_local_address(const IpAddress& address);

// The MTU of the network device `name` in this network namespace; nullopt when there is none.
std::optional<uint32_t> device_mtu(std::string_view name);
// The same through `socket` (any socket of this namespace), for callers that ask often.
std::optional<uint32_t> device_mtu_through(int socket, std::string_view name);

}  // namespace kmod_sim::daemon
