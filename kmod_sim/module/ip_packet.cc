#include "ip_packet.h"

#include "crypto/ipip.h"
#include "crypto/wire.h"

namespace kmod_sim {

using crypto::wire::get16;
using crypto::wire::put16;

std::optional<IpHeader> parse_ip_header(std::span<const uint8_t> p) {
    if (p.empty()) return std::nullopt;
    IpHeader h;
    h.packet = p.data();
    h.version = p[0] >> 4;
    if (h.version == 4) {
        if (p.size() < 20) return std::nullopt;
        h.header_size = size_t{p[0] & 0x0fu} * 4;
        h.total_size = get16(p.data() + 2);
        if (h.header_size < 20 || h.total_size < h.header_size || h.total_size > p.size()) return std::nullopt;
        h.protocol = p[9];
        h.fragment = (get16(p.data() + 6) & 0x3fff) != 0;  // MF or an offset
        return h;
    }
    if (h.version == 6) {
        if (p.size() < 40) return std::nullopt;
        h.header_size = 40;
        h.total_size = 40 + size_t{get16(p.data() + 4)};
        if (h.total_size > p.size()) return std::nullopt;
        h.protocol = p[6];
        h.fragment = h.protocol == 44;
        return h;
    }
    return std::nullopt;
}

bool ipv6_header_before_ipsec(uint8_t next_header) {
    return next_header == 0 || next_header == 43 || next_header == 44;
}

void finish_ip_header(std::vector<uint8_t>& packet, size_t header_size, uint8_t protocol) {
    uint8_t* p = packet.data();
    if ((p[0] >> 4) == 4) {
        p[9] = protocol;
        put16(p + 2, static_cast<uint16_t>(packet.size()));
        put16(p + 10, 0);
        put16(p + 10, crypto::internet_checksum(std::span<const uint8_t>(p, header_size)));
    } else {
        p[6] = protocol;
        put16(p + 4, static_cast<uint16_t>(packet.size() - 40));
    }
}

}  // namespace kmod_sim
