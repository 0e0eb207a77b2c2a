#include "icmp_error.h"

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

// One error: ICMP `type4`/`code4` or ICMPv6 `type6`/`code6`, `rest` in the 4 bytes after the
// checksum (the MTU field of "fragmentation needed" and "packet too big").
bool icmp_error(std::span<const uint8_t> packet, const IpHeader& h, uint8_t type4, uint8_t code4, uint8_t type6,
                uint8_t code6, uint32_t rest, std::vector<uint8_t>& out) {
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
        icmp[0] = type4;
        icmp[1] = code4;
        crypto::wire::put32(icmp + 4, rest);
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
    icmp[0] = type6;
    icmp[1] = code6;
    crypto::wire::put32(icmp + 4, rest);
    std::copy_n(quoted.data(), quote, icmp + 8);
    // The checksum covers the pseudo-header (RFC 8200 §8.1): addresses, length, next header.
    // Errors are not a fast path: a scratch copy keeps this plain.
    std::vector<uint8_t> pseudo(40 + icmp_size, 0);
    std::copy_n(p + 8, 32, pseudo.data());
    crypto::wire::put32(pseudo.data() + 32, static_cast<uint32_t>(icmp_size));
    pseudo[39] = kProtoIcmpv6;
    std::copy_n(icmp, icmp_size, pseudo.data() + 40);
    put16(icmp + 2, crypto::internet_checksum(pseudo));
    return true;
}

}  // namespace

bool icmp_reject(std::span<const uint8_t> packet, const IpHeader& h, std::vector<uint8_t>& out) {
    // Destination unreachable, administratively prohibited.
    return icmp_error(packet, h, 3, 13, 1, 1, 0, out);
}

bool icmp_too_big(std::span<const uint8_t> packet, const IpHeader& h, uint32_t mtu, std::vector<uint8_t>& out) {
    // RFC 1191 §4: the next-hop MTU in the low 16 bits; RFC 4443 §3.2: all 32.
    const uint32_t v4_mtu = std::min<uint32_t>(mtu, 0xffff);
    return icmp_error(packet, h, 3, 4, 2, 0, h.version == 4 ? v4_mtu : mtu, out);
}

}  // namespace kmod_sim
