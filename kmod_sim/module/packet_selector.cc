#include "packet_selector.h"

namespace kmod_sim {

namespace {

constexpr uint8_t kTcp = 6;
constexpr uint8_t kUdp = 17;

uint16_t load16(std::span<const uint8_t> b, size_t at) { return static_cast<uint16_t>(b[at] << 8 | b[at + 1]); }

// Ports from a transport header at `at`, when the protocol has them and they are present.
void read_ports(PacketSelector& s, std::span<const uint8_t> packet, size_t at) {
    if ((s.proto == kTcp || s.proto == kUdp) && packet.size() >= at + 4) {
        s.sport = load16(packet, at);
        s.dport = load16(packet, at + 2);
    }
}

std::optional<PacketSelector> from_ipv4(std::span<const uint8_t> p) {
    const size_t header = size_t{p[0] & 0x0fu} * 4;
    if (header < 20 || p.size() < header) return std::nullopt;
    PacketSelector s;
    s.src = IpAddress::from_bytes(AddressFamily::inet, p.subspan(12, 4));
    s.dst = IpAddress::from_bytes(AddressFamily::inet, p.subspan(16, 4));
    s.proto = p[9];
    const bool later_fragment = (load16(p, 6) & 0x1fff) != 0;
    if (!later_fragment) read_ports(s, p, header);
    return s;
}

std::optional<PacketSelector> from_ipv6(std::span<const uint8_t> p) {
    if (p.size() < 40) return std::nullopt;
    PacketSelector s;
    s.src = IpAddress::from_bytes(AddressFamily::inet6, p.subspan(8, 16));
    s.dst = IpAddress::from_bytes(AddressFamily::inet6, p.subspan(24, 16));
    uint8_t next = p[6];
    size_t at = 40;
    bool later_fragment = false;
    for (;;) {
        if (next == 0 || next == 43 || next == 60) {  // hop-by-hop, routing, destination options
            if (p.size() < at + 8) break;
            next = p[at];
            at += (size_t{p[at + 1]} + 1) * 8;
        } else if (next == 44) {  // fragment
            if (p.size() < at + 8) break;
            later_fragment = (load16(p, at + 2) & 0xfff8) != 0;
            next = p[at];
            at += 8;
        } else {
            break;
        }
    }
    s.proto = next;
    if (!later_fragment) read_ports(s, p, at);
    return s;
}

}  // namespace

std::optional<PacketSelector> packet_selector(std::span<const uint8_t> packet) {
    if (packet.empty()) return std::nullopt;
    switch (packet[0] >> 4) {
    case 4: return packet.size() >= 20 ? from_ipv4(packet) : std::nullopt;
    case 6: return from_ipv6(packet);
    default: return std::nullopt;
    }
}

}  // namespace kmod_sim
