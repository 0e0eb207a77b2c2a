// Subnets (address + mask) and their KLIPS text forms (ttosubnet / subnettot).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "ip_address.h"
#include "text_result.h"

namespace kmod_sim {

// An address with a mask of the same family. The mask need not be contiguous (a PF_KEY
// peer may send any mask); ttosubnet only makes contiguous ones. `port` is the optional
// ":port" of ttosubnet's text (0 = none), in host order.
struct Subnet {
    IpAddress address;
    IpAddress mask;
    uint16_t port = 0;

    AddressFamily family() const { return address.family(); }
    // Prefix length, or -1 for a non-contiguous mask.
    int prefix_bits() const { return mask_bits(mask); }
    bool contains(const IpAddress& a) const { return a.masked(mask) == address.masked(mask); }

    friend bool operator==(const Subnet&, const Subnet&) = default;
};

// Parses "ADDR/BITS" or "ADDR/DOTTED-MASK" (IPv4 only), optionally followed by ":PORT"
// (a ttoul base-0 number), or "%default" (0.0.0.0/0 or ::/0 by af). Host bits are cleared.
// af == unspecified takes the family of the address, but refuses "%default". Errors are
// KLIPS's: "no / in subnet specification", "subnet mask bit count too large",
// "non-contiguous or otherwise erroneous mask", "masks are not permitted for IPv6
// addresses", "unknown address family with 0/0 subnet not allowed.", plus ttoaddr's and
// ttoul's; and "port number too large" for a port over 65535 (KLIPS truncated it).
Parsed<Subnet> ttosubnet(std::string_view text, AddressFamily af);

// "ADDR/BITS" (always with /BITS, even /32, /0, /128), or "ADDR/MASK" with the mask as an
// address when it is not contiguous. The address is printed as stored, never masked.
std::string subnettot(const Subnet& subnet);

// subnettot plus ":PORT" when the port is not zero (libfreeswan's subnetporttot).
std::string subnetporttot(const Subnet& subnet);

}  // namespace kmod_sim
