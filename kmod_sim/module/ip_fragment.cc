#include "ip_fragment.h"

#include <algorithm>

#include "crypto/ipip.h"
#include "crypto/wire.h"
#include "ip_packet.h"

namespace kmod_sim {

using crypto::wire::get16;
using crypto::wire::put16;
using crypto::wire::put32;

namespace {

constexpr uint16_t kDf = 0x4000;
constexpr uint16_t kMf = 0x2000;
constexpr uint16_t kOffsetMask = 0x1fff;
constexpr size_t kIpv6Header = 40;
constexpr size_t kFragmentHeader = 8;
constexpr uint8_t kNextFragment = 44;

// RFC 791 §3.1: options whose type has the "copied" bit go into every fragment; the others
// only into the first. Later fragments carry the copied ones, padded to 4 bytes.
std::vector<uint8_t> later_fragment_header(std::span<const uint8_t> header) {
    std::vector<uint8_t> out(header.begin(), header.begin() + 20);
    for (size_t at = 20; at < header.size();) {
        const uint8_t type = header[at];
        if (type == 0) break;  // end of options
        if (type == 1) {       // no-operation
            ++at;
            continue;
        }
        if (at + 1 >= header.size()) break;
        const size_t length = std::max<size_t>(header[at + 1], 2);
        if (at + length > header.size()) break;
        if (type & 0x80) out.insert(out.end(), header.begin() + at, header.begin() + at + length);
        at += length;
    }
    while (out.size() % 4) out.push_back(0);
    out[0] = static_cast<uint8_t>(0x40 | (out.size() / 4));
    return out;
}

}  // namespace

bool fragment_ipv4(std::span<const uint8_t> packet, size_t mtu, std::vector<std::vector<uint8_t>>* out) {
    const auto h = parse_ip_header(packet);
    if (!h || h->version != 4) return false;
    const std::span<const uint8_t> whole = packet.first(h->total_size);
    if (whole.size() <= mtu) {
        out->emplace_back(whole.begin(), whole.end());
        return true;
    }
    const uint16_t flags = get16(whole.data() + 6);
    if (flags & kDf) return false;
    const std::span<const uint8_t> first_header = whole.first(h->header_size);
    const std::vector<uint8_t> later_header = later_fragment_header(first_header);
    const size_t largest_header = std::max(first_header.size(), later_header.size());
    if (mtu < largest_header + 8) return false;

    const std::span<const uint8_t> payload = whole.subspan(h->header_size);
    const size_t base_offset = flags & kOffsetMask;  // in 8-byte units: the packet may be a fragment itself
    const bool more_after = flags & kMf;
    if (base_offset * 8 + payload.size() > 0xffff) return false;  // beyond any datagram (RFC 791 §3.1)
    for (size_t at = 0; at < payload.size();) {
        const std::span<const uint8_t> header = at == 0 ? first_header : std::span<const uint8_t>(later_header);
        const size_t room = (mtu - header.size()) & ~size_t{7};
        const size_t size = std::min(room, payload.size() - at);
        const bool last = at + size == payload.size();
        std::vector<uint8_t> fragment(header.size() + size);
        std::copy(header.begin(), header.end(), fragment.begin());
        std::copy_n(payload.begin() + at, size, fragment.begin() + header.size());
        uint8_t* p = fragment.data();
        put16(p + 2, static_cast<uint16_t>(fragment.size()));
        put16(p + 6, static_cast<uint16_t>(((last && !more_after) ? 0 : kMf) | ((base_offset + at / 8) & kOffsetMask)));
        put16(p + 10, 0);
        put16(p + 10, crypto::internet_checksum({p, header.size()}));
        out->push_back(std::move(fragment));
        at += size;
    }
    return true;
}

bool fragment_ipv6(std::span<const uint8_t> packet, size_t mtu, uint32_t id, std::vector<std::vector<uint8_t>>* out) {
    const auto h = parse_ip_header(packet);
    if (!h || h->version != 6) return false;
    const std::span<const uint8_t> whole = packet.first(h->total_size);
    if (whole.size() <= mtu) {
        out->emplace_back(whole.begin(), whole.end());
        return true;
    }
    // Only the base header is unfragmentable here: the engine's outer headers have no others.
    if (ipv6_header_before_ipsec(h->protocol) || mtu < kIpv6Header + kFragmentHeader + 8) return false;
    const std::span<const uint8_t> payload = whole.subspan(kIpv6Header);
    const size_t room = (mtu - kIpv6Header - kFragmentHeader) & ~size_t{7};
    for (size_t at = 0; at < payload.size();) {
        const size_t size = std::min(room, payload.size() - at);
        const bool last = at + size == payload.size();
        std::vector<uint8_t> fragment(kIpv6Header + kFragmentHeader + size);
        uint8_t* p = fragment.data();
        std::copy_n(whole.begin(), kIpv6Header, p);
        put16(p + 4, static_cast<uint16_t>(kFragmentHeader + size));
        p[6] = kNextFragment;
        uint8_t* f = p + kIpv6Header;
        f[0] = h->protocol;
        f[1] = 0;
        put16(f + 2, static_cast<uint16_t>(at | (last ? 0 : 1)));  // offset in bytes is already 8-aligned
        put32(f + 4, id);
        std::copy_n(payload.begin() + at, size, p + kIpv6Header + kFragmentHeader);
        out->push_back(std::move(fragment));
        at += size;
    }
    return true;
}

}  // namespace kmod_sim
