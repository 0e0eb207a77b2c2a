// The ICMP errors the engine sends back to a packet's sender, from the packet's destination
// to its source, quoting as much of the packet as keeps the error within 576 bytes (IPv4,
// RFC 1812 §4.3.2.3) or 1280 bytes (IPv6, RFC 4443 §2.4):
// - %reject (spec/klips.md §6.4): destination unreachable, "communication administratively
//   prohibited" (ICMP type 3 code 13, RFC 1812 §5.2.7.1; ICMPv6 type 1 code 1, RFC 4443 §3.1);
// - a packet too big for the path once encapsulated (spec/dataplane.md "PMTU"): ICMP
//   "fragmentation needed" with the next-hop MTU (type 3 code 4, RFC 1191 §4), ICMPv6
//   "packet too big" (type 2 code 0, RFC 4443 §3.2).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "ip_packet.h"

namespace kmod_sim {

// Each writes the error into out. false (and out empty) when none may be sent (RFC 1122
// §3.2.2, RFC 4443 §2.4): the packet is itself an ICMP error, a later fragment, or from an
// unspecified or multicast source.
bool icmp_reject(std::span<const uint8_t> packet, const IpHeader& header, std::vector<uint8_t>& out);
// `mtu`: the largest packet of the sender's that fits once encapsulated.
bool icmp_too_big(std::span<const uint8_t> packet, const IpHeader& header, uint32_t mtu, std::vector<uint8_t>& out);

}  // namespace kmod_sim
