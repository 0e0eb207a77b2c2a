#include "icmp_reject.h"

#include <algorithm>

#include "crypto/ipip.h"
#include "crypto/wire.h"

namespace kmod_sim {

using crypto::wire::get16;
using crypto::wire::put16;

namespace {

constexpr size_t kIpv4Limit = 576;
constexpr size_t kIpv6Limit = 1280;
constexpr uint8_t kTtl = 64;

// Error types: ICMPv4 3, 4, 5, 11, 12; ICMPv6 below 128.
bool is_icmp_error(std::span<const uint8_t> packet, const IpHeader& h) {
    if (packet.size() < h.header_size + 1) return false;
    const uint8_t type = packet[h.header_size];
    if (h.version == 4) return h.protocol == kProtoIcmp && (type == 3 || type == 4 || type == 5 || type == 11 || type == 12);
    return h.protocol == kProtoIcmpv6 && type < 128;
}

bool later_fragment(std::span<const uint8_t> packet, const IpHeader& h) {
    if (h.version == 4) return (get16(packet.data() + 6) & 0x1fff) != 0;
    return h.protocol == 44 && packet.size() >= 48 && (get16(packet.data() + 42) & 0xfff8) != 0;
}

bool multicast(const IpAddress& a) {
    const auto b = a.bytes();
    return a.is_v4() ? (b[0] & 0xf0) == 0xe0 || a.v4_host_order() == 0xffffffff : b[0] == 0xff;
}

}  // namespace

bool icmp_reject(std::span<const uint8_t> packet, const IpHeader& h, std::vector<uint8_t>& out) {
    out.clear();
    if (is_icmp_error(packet, h) || later_fragment(packet, h) || h.src().is_unspecified() || multicast(h.src())) {
        return false;
    }
    const std::span<const uint8_t> quoted = packet.first(h.total_size);
    if (h.version == 4) {
        const size_t quote = std::min(quoted.size(), kIpv4Limit - 20 - 8);
        out.resize(20 + 8 + quote);
        uint8_t* p = out.data();
        p[0] = 0x45;
        put16(p + 2, static_cast<uint16_t>(out.size()));
        p[8] = kTtl;
        p[9] = kProtoIcmp;
        std::copy_n(h.dst().bytes().data(), 4, p + 12);
        std::copy_n(h.src().bytes().data(), 4, p + 16);
        put16(p + 10, crypto::internet_checksum({p, 20}));
        uint8_t* icmp = p + 20;
        icmp[0] = 3;   // destination unreachable
        icmp[1] = 13;  // communication administratively prohibited
        std::copy_n(quoted.data(), quote, icmp + 8);
        put16(icmp + 2, crypto::internet_checksum({icmp, 8 + quote}));
        return true;
    }
    const size_t quote = std::min(quoted.size(), kIpv6Limit - 40 - 8);
    const size_t icmp_size = 8 + quote;
    out.resize(40 + icmp_size);
    uint8_t* p = out.data();
    p[0] = 0x60;
    put16(p + 4, static_cast<uint16_t>(icmp_size));
    p[6] = kProtoIcmpv6;
    p[7] = kTtl;
    std::copy_n(h.dst().bytes().data(), 16, p + 8);
    std::copy_n(h.src().bytes().data(), 16, p + 24);
    uint8_t* icmp = p + 40;
    icmp[0] = 1;  // destination unreachable
    icmp[1] = 1;  // communication with destination administratively prohibited
    std::copy_n(quoted.data(), quote, icmp + 8);
    // The checksum covers the pseudo-header (RFC 8200 §8.1): addresses, length, next header.
    // %reject is not a fast path: a scratch copy keeps this plain.
    std::vector<uint8_t> pseudo(40 + icmp_size, 0);
    std::copy_n(p + 8, 32, pseudo.data());
    crypto::wire::put32(pseudo.data() + 32, static_cast<uint32_t>(icmp_size));
    pseudo[39] = kProtoIcmpv6;
    std::copy_n(icmp, icmp_size, pseudo.data() + 40);
    put16(icmp + 2, crypto::internet_checksum(pseudo));
    return true;
}

}  // namespace kmod_sim
