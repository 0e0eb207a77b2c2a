// The eroute lookup key of an IP packet, as KLIPS built it (ipsec_extract_ports): source and
// destination addresses, the transport protocol, and the ports for TCP and UDP only.
#pragma once

#include <cstdint>
#include <optional>
#include <span>

#include "eroute.h"

namespace kmod_sim {

// Reads an IPv4 or IPv6 packet. Ports are 0 unless the packet is TCP or UDP and carries the
// first 4 bytes of that header (not a later fragment). IPv6 extension headers (hop-by-hop,
// routing, destination options, fragment) are skipped to find the transport protocol.
// nullopt for a packet too short or not IP.
std::optional<PacketSelector> packet_selector(std::span<const uint8_t> packet);

}  // namespace kmod_sim
