#include "ipip.h"

#include <algorithm>
#include <cstring>

#include "wire.h"

namespace kmod_sim::crypto {

namespace {

using namespace wire;

constexpr uint8_t kDf = 0x40;       // in byte 6 of an IPv4 header
constexpr uint8_t kMf = 0x20;
constexpr uint8_t kEcnMask = 0x03;

// The traffic class / TOS byte: DSCP in the top six bits, ECN in the low two.
uint8_t traffic_class(std::span<const uint8_t> packet) {
    if (packet[0] >> 4 == 4) return packet[1];
    return uint8_t((packet[0] & 0x0f) << 4 | packet[1] >> 4);
}

void set_ecn(std::span<uint8_t> packet, Ecn ecn) {
    if (packet[0] >> 4 == 4) {
        packet[1] = uint8_t((packet[1] & ~kEcnMask) | uint8_t(ecn));
        put16(&packet[10], 0);
        put16(&packet[10], internet_checksum(packet.first(size_t(packet[0] & 0x0f) * 4)));
    } else {
        // The ECN bits of the traffic class are bits 4-5 of byte 1.
        packet[1] = uint8_t((packet[1] & ~(kEcnMask << 4)) | uint8_t(ecn) << 4);
    }
}

// Checks an inner packet's own header against the bytes it came in: the size that header
// claims must be exactly the size there is.
IpipStatus check_inner(std::span<const uint8_t> inner) {
    if (inner.empty()) return IpipStatus::too_short;
    switch (inner[0] >> 4) {
    case 4: {
        if (inner.size() < IpipTunnel::kIpv4HeaderSize) return IpipStatus::too_short;
        const size_t ihl = size_t(inner[0] & 0x0f) * 4;
        if (ihl < IpipTunnel::kIpv4HeaderSize || ihl > inner.size() || get16(&inner[2]) != inner.size())
            return IpipStatus::bad_length;
        return IpipStatus::ok;
    }
    case 6:
        if (inner.size() < IpipTunnel::kIpv6HeaderSize) return IpipStatus::too_short;
        if (IpipTunnel::kIpv6HeaderSize + get16(&inner[4]) != inner.size()) return IpipStatus::bad_length;
        return IpipStatus::ok;
    default:
        return IpipStatus::bad_version;
    }
}

}  // namespace

const char* to_string(IpipStatus status) {
    switch (status) {
    case IpipStatus::ok: return "ok";
    case IpipStatus::too_short: return "too short";
    case IpipStatus::bad_version: return "bad IP version";
    case IpipStatus::bad_protocol: return "protocol not 4 or 41";
    case IpipStatus::bad_length: return "inconsistent lengths";
    case IpipStatus::bad_address: return "addresses must be both 4 or both 16 bytes";
    case IpipStatus::too_big: return "too big for an IP length field";
    case IpipStatus::bad_checksum: return "bad IPv4 header checksum";
    case IpipStatus::fragment: return "outer fragment";
    case IpipStatus::ecn_drop: return "CE over Not-ECT";
    }
    return "?";
}

Ecn ecn_decapsulate(Ecn inner, Ecn outer, bool& drop) {
    drop = false;
    if (outer == Ecn::ce) {
        if (inner == Ecn::not_ect) drop = true;  // the endpoints cannot see congestion: drop
        return Ecn::ce;
    }
    // ECT(1) outer over ECT(0) inner says more than the inner does; everything else keeps
    // the inner codepoint (an ECT outer over Not-ECT or CE inner "should not occur").
    if (outer == Ecn::ect1 && inner == Ecn::ect0) return Ecn::ect1;
    return inner;
}

uint16_t internet_checksum(std::span<const uint8_t> bytes) {
    // RFC 1071 §2: the one's complement sum does not depend on byte order, so the words are
    // summed as the machine loads them, eight bytes at a time, and the result put into
    // network order once at the end.
    const uint8_t* p = bytes.data();
    const size_t n = bytes.size();
    uint64_t sum = 0;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t word;
        std::memcpy(&word, p + i, 8);
        sum += (word & 0xffffffffu) + (word >> 32);
    }
    for (; i + 2 <= n; i += 2) {
        uint16_t half;
        std::memcpy(&half, p + i, 2);
        sum += half;
    }
    if (i < n) {  // an odd last byte is the high half of a word padded with zero
        uint8_t last[2] = {p[i], 0};
        uint16_t half;
        std::memcpy(&half, last, 2);
        sum += half;
    }
    while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
    uint8_t folded[2];
    const uint16_t native = uint16_t(sum);
    std::memcpy(folded, &native, 2);
    return uint16_t(~get16(folded));
}

IpipStatus IpipTunnel::encapsulate(std::span<const uint8_t> inner, std::span<const uint8_t> outer_src,
                                   std::span<const uint8_t> outer_dst, std::vector<uint8_t>& out) {
    out.clear();
    const IpipStatus status = write_header(inner, outer_src, outer_dst, out);
    if (status == IpipStatus::ok) out.insert(out.end(), inner.begin(), inner.end());
    return status;
}

IpipStatus IpipTunnel::write_header(std::span<const uint8_t> inner, std::span<const uint8_t> outer_src,
                                    std::span<const uint8_t> outer_dst, std::vector<uint8_t>& out) {
    if (IpipStatus s = check_inner(inner); s != IpipStatus::ok) return s;
    if (outer_src.size() != outer_dst.size() || (outer_src.size() != 4 && outer_src.size() != 16))
        return IpipStatus::bad_address;
    const bool inner_v4 = inner[0] >> 4 == 4;
    const uint8_t protocol = inner_v4 ? kProtoIpv4 : kProtoIpv6;
    const uint8_t tos = traffic_class(inner);  // DSCP copied, ECN copied (RFC 6040 normal mode)
    const size_t start = out.size();

    if (outer_src.size() == 4) {
        const size_t total = kIpv4HeaderSize + inner.size();
        if (total > 0xffff) return IpipStatus::too_big;
        out.resize(start + kIpv4HeaderSize);
        uint8_t* h = out.data() + start;
        h[0] = 0x45;  // version 4, IHL 5: options are never copied
        h[1] = tos;
        put16(h + 2, uint16_t(total));
        // Never 0: a raw socket's kernel would replace it, and AH covers it.
        uint16_t id = next_id_.fetch_add(1, std::memory_order_relaxed);
        if (id == 0) id = next_id_.fetch_add(1, std::memory_order_relaxed);
        put16(h + 4, id);
        h[6] = inner_v4 ? uint8_t(inner[6] & kDf) : kDf;  // flags, fragment offset 0
        h[7] = 0;
        h[8] = kTtl;
        h[9] = protocol;
        put16(h + 10, 0);
        std::copy(outer_src.begin(), outer_src.end(), h + 12);
        std::copy(outer_dst.begin(), outer_dst.end(), h + 16);
        put16(h + 10, internet_checksum({h, kIpv4HeaderSize}));
        return IpipStatus::ok;
    }

    if (inner.size() > 0xffff) return IpipStatus::too_big;  // no jumbograms
    out.resize(start + kIpv6HeaderSize);
    uint8_t* h = out.data() + start;
    h[0] = uint8_t(0x60 | tos >> 4);
    h[1] = uint8_t(tos << 4);
    if (!inner_v4) {  // flow label copied (RFC 2473 §6.5 leaves it to the tunnel)
        h[1] = uint8_t(h[1] | (inner[1] & 0x0f));
        h[2] = inner[2];
        h[3] = inner[3];
    }
    put16(h + 4, uint16_t(inner.size()));
    h[6] = protocol;
    h[7] = kTtl;
    std::copy(outer_src.begin(), outer_src.end(), h + 8);
    std::copy(outer_dst.begin(), outer_dst.end(), h + 24);
    return IpipStatus::ok;
}

// Checks the outer header and finds the inner packet: its place in `outer` and the ECN field
// it must carry (RFC 6040 §4.2).
IpipStatus IpipTunnel::locate_inner(std::span<const uint8_t> outer, size_t* offset, size_t* size, Ecn* ecn) {
    if (outer.empty()) return IpipStatus::too_short;
    size_t header = 0;
    size_t end = 0;
    uint8_t protocol = 0;
    switch (outer[0] >> 4) {
    case 4: {
        if (outer.size() < kIpv4HeaderSize) return IpipStatus::too_short;
        header = size_t(outer[0] & 0x0f) * 4;
        end = get16(&outer[2]);
        if (header < kIpv4HeaderSize || header > end || end > outer.size()) return IpipStatus::bad_length;
        if (internet_checksum(outer.first(header)) != 0) return IpipStatus::bad_checksum;
        if ((outer[6] & kMf) || (get16(&outer[6]) & 0x1fff)) return IpipStatus::fragment;
        protocol = outer[9];
        break;
    }
    case 6:
        if (outer.size() < kIpv6HeaderSize) return IpipStatus::too_short;
        header = kIpv6HeaderSize;
        end = header + get16(&outer[4]);
        if (end > outer.size()) return IpipStatus::bad_length;
        protocol = outer[6];
        break;
    default:
        return IpipStatus::bad_version;
    }
    if (protocol != kProtoIpv4 && protocol != kProtoIpv6) return IpipStatus::bad_protocol;

    const auto inner = outer.subspan(header, end - header);
    if (IpipStatus s = check_inner(inner); s != IpipStatus::ok) return s;
    if ((inner[0] >> 4 == 4) != (protocol == kProtoIpv4)) return IpipStatus::bad_version;

    const Ecn inner_ecn = Ecn(traffic_class(inner) & kEcnMask);
    const Ecn outer_ecn = Ecn(traffic_class(outer) & kEcnMask);
    bool drop = false;
    *ecn = ecn_decapsulate(inner_ecn, outer_ecn, drop);
    if (drop) return IpipStatus::ecn_drop;
    *offset = header;
    *size = inner.size();
    return IpipStatus::ok;
}

IpipStatus IpipTunnel::decapsulate(std::span<const uint8_t> outer, std::vector<uint8_t>& out) {
    out.clear();
    size_t offset = 0, size = 0;
    Ecn ecn{};
    if (IpipStatus s = locate_inner(outer, &offset, &size, &ecn); s != IpipStatus::ok) return s;
    out.assign(outer.begin() + ptrdiff_t(offset), outer.begin() + ptrdiff_t(offset + size));
    if (Ecn(traffic_class(out) & kEcnMask) != ecn) set_ecn(out, ecn);
    return IpipStatus::ok;
}

IpipStatus IpipTunnel::decapsulate_in_place(std::span<uint8_t> outer, std::span<uint8_t>* inner) {
    size_t offset = 0, size = 0;
    Ecn ecn{};
    if (IpipStatus s = locate_inner(outer, &offset, &size, &ecn); s != IpipStatus::ok) return s;
    *inner = outer.subspan(offset, size);
    if (Ecn(traffic_class(*inner) & kEcnMask) != ecn) set_ecn(*inner, ecn);
    return IpipStatus::ok;
}

}  // namespace kmod_sim::crypto
