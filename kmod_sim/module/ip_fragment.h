// Fragmenting an encapsulated packet too big for the path, when its sender allows it
// (spec/dataplane.md "PMTU"; RFC 4303 §3.3.4: fragment only after ESP): IPv4 per RFC 791
// §3.2, IPv6 with a Fragment header per RFC 8200 §4.5 (the engine is the outer packet's source).
// The receiver reassembles before its IPsec processing.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace kmod_sim {

// Splits `packet` into fragments of at most `mtu` bytes, appended to *out. false (nothing
// appended) when it may not or cannot be split: an IPv4 packet with DF set, an IPv6 packet
// with extension headers, a malformed header, or an MTU that leaves no room for 8 bytes of
// payload after the headers. A packet that fits is appended whole.
bool fragment_ipv4(std::span<const uint8_t> packet, size_t mtu, std::vector<std::vector<uint8_t>>* out);
// `id`: the Fragment header's identification, unique among this source's recent packets.
bool fragment_ipv6(std::span<const uint8_t> packet, size_t mtu, uint32_t id, std::vector<std::vector<uint8_t>>* out);

}  // namespace kmod_sim
