// The tunnel header (crypto/ipip.h): every field of the four outer/inner combinations checked
// against RFC 791 / RFC 8200 layouts, RFC 2003 §3.1 and RFC 4301 §5.1.2; the IPv4 checksum
// recomputed here by RFC 1071's definition; RFC 6040 §4.2's 16 egress combinations.
#include <catch2/catch.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "crypto/ipip.h"

using namespace kmod_sim::crypto;
using Bytes = std::vector<uint8_t>;

namespace {

const Bytes kSrc4{192, 0, 2, 1};
const Bytes kDst4{198, 51, 100, 7};
const Bytes kSrc6{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
const Bytes kDst6{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xbe, 0xef};

uint16_t get16(const Bytes& b, size_t at) { return uint16_t(b[at] << 8 | b[at + 1]); }

// RFC 1071 §4.1's loop, written out separately from crypto/ipip.cc's.
uint16_t checksum(const Bytes& b, size_t from, size_t n) {
    uint32_t sum = 0;
    for (size_t i = 0; i < n; i += 2) sum += uint32_t(b[from + i]) << 8 | (i + 1 < n ? b[from + i + 1] : 0);
    while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
    return uint16_t(~sum & 0xffff);
}

void fix_checksum(Bytes& b, size_t at = 0) {
    b[at + 10] = b[at + 11] = 0;
    const uint16_t c = checksum(b, at, size_t(b[at] & 15) * 4);
    b[at + 10] = uint8_t(c >> 8), b[at + 11] = uint8_t(c);
}

Bytes inner4(uint8_t tos, bool df, size_t payload = 12) {
    Bytes p{0x45, tos, 0, 0, 0xab, 0xcd, uint8_t(df ? 0x40 : 0), 0, 33, 17, 0, 0, 10, 1, 2, 3, 10, 4, 5, 6};
    for (size_t i = 0; i < payload; ++i) p.push_back(uint8_t(i));
    p[2] = uint8_t(p.size() >> 8), p[3] = uint8_t(p.size());
    fix_checksum(p);
    return p;
}

Bytes inner6(uint8_t tclass, uint32_t flow = 0x12345, size_t payload = 12) {
    Bytes p{uint8_t(0x60 | tclass >> 4), uint8_t(tclass << 4 | (flow >> 16 & 15)), uint8_t(flow >> 8), uint8_t(flow),
            0, uint8_t(payload), 17, 33};
    for (int i = 0; i < 16; ++i) p.push_back(uint8_t(0xfd));
    for (int i = 0; i < 16; ++i) p.push_back(uint8_t(i));
    for (size_t i = 0; i < payload; ++i) p.push_back(uint8_t(0x80 + i));
    return p;
}

Bytes slice(const Bytes& b, size_t from, size_t n) { return Bytes(b.begin() + long(from), b.begin() + long(from + n)); }

uint8_t ecn_of(const Bytes& p) { return p[0] >> 4 == 4 ? p[1] & 3 : (p[1] >> 4) & 3; }

void set_outer_ecn(Bytes& p, uint8_t ecn) {
    if (p[0] >> 4 == 4) {
        p[1] = uint8_t((p[1] & ~3) | ecn);
        fix_checksum(p);
    } else {
        p[1] = uint8_t((p[1] & ~0x30) | ecn << 4);
    }
}

}  // namespace

TEST_CASE("ipip: 4-in-4 outer header, field by field (RFC 791, RFC 2003 §3.1)") {
    IpipTunnel tunnel(0x1000);
    Bytes out;
    const Bytes inner = inner4(0xb9, true);  // DSCP EF (46), ECT(1)
    REQUIRE(tunnel.encapsulate(inner, kSrc4, kDst4, out) == IpipStatus::ok);
    REQUIRE(out.size() == 20 + inner.size());
    CHECK(out[0] == 0x45);                       // version 4, IHL 5
    CHECK(out[1] == 0xb9);                       // DSCP and ECN copied
    CHECK(get16(out, 2) == 20 + inner.size());   // total length
    CHECK(get16(out, 4) == 0x1000);              // identification
    CHECK(out[6] == 0x40);                       // DF copied, MF clear
    CHECK(out[7] == 0);                          // fragment offset
    CHECK(out[8] == 64);                         // TTL
    CHECK(out[9] == 4);                          // protocol IPIP
    CHECK(checksum(out, 0, 20) == 0);            // a valid header sums to 0xffff
    Bytes zeroed = slice(out, 0, 20);
    zeroed[10] = zeroed[11] = 0;
    CHECK(get16(out, 10) == checksum(zeroed, 0, 20));
    CHECK(slice(out, 12, 4) == kSrc4);
    CHECK(slice(out, 16, 4) == kDst4);
    CHECK(slice(out, 20, inner.size()) == inner);  // inner untouched, TTL included

    // DF clear inside, clear outside; identification counts per tunnel.
    REQUIRE(tunnel.encapsulate(inner4(0x00, false), kSrc4, kDst4, out) == IpipStatus::ok);
    CHECK(out[6] == 0);
    CHECK(out[1] == 0);
    CHECK(get16(out, 4) == 0x1001);
    CHECK(checksum(out, 0, 20) == 0);
    IpipTunnel other(0xffff);
    REQUIRE(other.encapsulate(inner, kSrc4, kDst4, out) == IpipStatus::ok);
    CHECK(get16(out, 4) == 0xffff);
    REQUIRE(other.encapsulate(inner, kSrc4, kDst4, out) == IpipStatus::ok);
    CHECK(get16(out, 4) == 1);  // wraps past 0, which a raw socket's kernel would overwrite
    IpipTunnel from_zero(0);
    REQUIRE(from_zero.encapsulate(inner, kSrc4, kDst4, out) == IpipStatus::ok);
    CHECK(get16(out, 4) == 1);
}

TEST_CASE("ipip: 6-in-4 outer header: protocol 41, DF set, traffic class copied") {
    IpipTunnel tunnel(7);
    Bytes out;
    const Bytes inner = inner6(0x2b);  // DSCP 10, ECN CE
    REQUIRE(tunnel.encapsulate(inner, kSrc4, kDst4, out) == IpipStatus::ok);
    REQUIRE(out.size() == 20 + inner.size());
    CHECK(out[0] == 0x45);
    CHECK(out[1] == 0x2b);  // CE copied too: RFC 6040 normal mode
    CHECK(get16(out, 2) == out.size());
    CHECK(get16(out, 4) == 7);
    CHECK(out[6] == 0x40);
    CHECK(out[7] == 0);
    CHECK(out[8] == 64);
    CHECK(out[9] == 41);
    CHECK(checksum(out, 0, 20) == 0);
    CHECK(slice(out, 12, 4) == kSrc4);
    CHECK(slice(out, 16, 4) == kDst4);
    CHECK(slice(out, 20, inner.size()) == inner);
}

TEST_CASE("ipip: 4-in-6 outer header (RFC 8200 §3, RFC 4301 §5.1.2.2)") {
    IpipTunnel tunnel;
    Bytes out;
    const Bytes inner = inner4(0xb9, true);
    REQUIRE(tunnel.encapsulate(inner, kSrc6, kDst6, out) == IpipStatus::ok);
    REQUIRE(out.size() == 40 + inner.size());
    CHECK(out[0] == 0x6b);  // version 6, traffic class high nibble 0xb
    CHECK(out[1] == 0x90);  // traffic class low nibble 9, flow label 0
    CHECK(out[2] == 0);
    CHECK(out[3] == 0);
    CHECK(get16(out, 4) == inner.size());  // payload length
    CHECK(out[6] == 4);                    // next header IPIP
    CHECK(out[7] == 64);                   // hop limit
    CHECK(slice(out, 8, 16) == kSrc6);
    CHECK(slice(out, 24, 16) == kDst6);
    CHECK(slice(out, 40, inner.size()) == inner);
}

TEST_CASE("ipip: 6-in-6 outer header: flow label copied") {
    IpipTunnel tunnel;
    Bytes out;
    const Bytes inner = inner6(0xb9, 0xabcde);
    REQUIRE(tunnel.encapsulate(inner, kSrc6, kDst6, out) == IpipStatus::ok);
    REQUIRE(out.size() == 40 + inner.size());
    CHECK(out[0] == 0x6b);
    CHECK(out[1] == 0x9a);
    CHECK(out[2] == 0xbc);
    CHECK(out[3] == 0xde);
    CHECK(get16(out, 4) == inner.size());
    CHECK(out[6] == 41);
    CHECK(out[7] == 64);
    CHECK(slice(out, 8, 16) == kSrc6);
    CHECK(slice(out, 24, 16) == kDst6);
    CHECK(slice(out, 40, inner.size()) == inner);
}

TEST_CASE("ipip: encapsulate rejects bad inner packets and addresses") {
    IpipTunnel tunnel;
    Bytes out{1};
    CHECK(tunnel.encapsulate(Bytes{}, kSrc4, kDst4, out) == IpipStatus::too_short);
    CHECK(out.empty());
    CHECK(tunnel.encapsulate(slice(inner4(0, false), 0, 19), kSrc4, kDst4, out) == IpipStatus::too_short);
    CHECK(tunnel.encapsulate(slice(inner6(0), 0, 39), kSrc4, kDst4, out) == IpipStatus::too_short);
    Bytes v5 = inner4(0, false);
    v5[0] = 0x55;
    CHECK(tunnel.encapsulate(v5, kSrc4, kDst4, out) == IpipStatus::bad_version);
    Bytes longer = inner4(0, false);
    longer.push_back(0);
    CHECK(tunnel.encapsulate(longer, kSrc4, kDst4, out) == IpipStatus::bad_length);
    Bytes ihl = inner4(0, false);
    ihl[0] = 0x44;
    CHECK(tunnel.encapsulate(ihl, kSrc4, kDst4, out) == IpipStatus::bad_length);
    Bytes v6 = inner6(0);
    v6.pop_back();
    CHECK(tunnel.encapsulate(v6, kSrc6, kDst6, out) == IpipStatus::bad_length);
    CHECK(tunnel.encapsulate(inner4(0, false), kSrc4, kDst6, out) == IpipStatus::bad_address);
    CHECK(tunnel.encapsulate(inner4(0, false), Bytes{1, 2, 3}, Bytes{1, 2, 3}, out) == IpipStatus::bad_address);
    CHECK(out.empty());
}

TEST_CASE("ipip: decapsulate gives back the inner packet for all four combinations") {
    IpipTunnel tunnel;
    Bytes outer, inner;
    for (const Bytes& packet : {inner4(0xb9, true, 100), inner6(0x25, 0x54321, 100)}) {
        for (const Bytes* src : {&kSrc4, &kSrc6}) {
            const Bytes& dst = src == &kSrc4 ? kDst4 : kDst6;
            REQUIRE(tunnel.encapsulate(packet, *src, dst, outer) == IpipStatus::ok);
            CHECK(IpipTunnel::decapsulate(outer, inner) == IpipStatus::ok);
            CHECK(inner == packet);
        }
    }
    // Link padding after the outer IPv4 total length is ignored.
    REQUIRE(tunnel.encapsulate(inner4(0, false), kSrc4, kDst4, outer) == IpipStatus::ok);
    outer.insert(outer.end(), 6, 0);
    CHECK(IpipTunnel::decapsulate(outer, inner) == IpipStatus::ok);
    CHECK(inner == inner4(0, false));
}

TEST_CASE("ipip: decapsulate rejects malformed outer packets") {
    IpipTunnel tunnel;
    Bytes out{1}, outer4, outer6;
    REQUIRE(tunnel.encapsulate(inner4(0, false), kSrc4, kDst4, outer4) == IpipStatus::ok);
    REQUIRE(tunnel.encapsulate(inner6(0), kSrc6, kDst6, outer6) == IpipStatus::ok);

    CHECK(IpipTunnel::decapsulate(Bytes{}, out) == IpipStatus::too_short);
    CHECK(IpipTunnel::decapsulate(slice(outer4, 0, 19), out) == IpipStatus::too_short);
    CHECK(IpipTunnel::decapsulate(slice(outer6, 0, 39), out) == IpipStatus::too_short);
    Bytes b = outer4;
    b[0] = 0x55;
    CHECK(IpipTunnel::decapsulate(b, out) == IpipStatus::bad_version);
    b = outer4;
    b[9] = 17;
    fix_checksum(b);
    CHECK(IpipTunnel::decapsulate(b, out) == IpipStatus::bad_protocol);
    b = outer6;
    b[6] = 50;
    CHECK(IpipTunnel::decapsulate(b, out) == IpipStatus::bad_protocol);
    b = outer4;
    b[9] = 41;  // says IPv6 inside, holds IPv4
    fix_checksum(b);
    CHECK(IpipTunnel::decapsulate(b, out) == IpipStatus::bad_version);
    b = outer6;
    b[6] = 4;
    CHECK(IpipTunnel::decapsulate(b, out) == IpipStatus::bad_version);
    b = outer4;
    b[3] = uint8_t(b[3] + 1);  // total length past the bytes
    fix_checksum(b);
    CHECK(IpipTunnel::decapsulate(b, out) == IpipStatus::bad_length);
    b = outer4;
    b[3] = uint8_t(b[3] - 1);  // total length cuts the inner packet short
    fix_checksum(b);
    CHECK(IpipTunnel::decapsulate(b, out) == IpipStatus::bad_length);
    b = outer6;
    b[5] = uint8_t(b[5] + 1);
    CHECK(IpipTunnel::decapsulate(b, out) == IpipStatus::bad_length);
    b = outer4;
    b[0] = 0x44;
    CHECK(IpipTunnel::decapsulate(b, out) == IpipStatus::bad_length);
    b = outer4;
    b[8] = 63;  // checksum now stale
    CHECK(IpipTunnel::decapsulate(b, out) == IpipStatus::bad_checksum);
    b = outer4;
    b[6] = 0x20;  // MF
    fix_checksum(b);
    CHECK(IpipTunnel::decapsulate(b, out) == IpipStatus::fragment);
    b = outer4;
    b[7] = 1;  // offset 8
    fix_checksum(b);
    CHECK(IpipTunnel::decapsulate(b, out) == IpipStatus::fragment);
    CHECK(out.empty());
}

TEST_CASE("ipip: RFC 6040 §4.2 egress, all 16 combinations, both families") {
    // Codepoints 0 Not-ECT, 1 ECT(1), 2 ECT(0), 3 CE; -1 = drop. Rows inner, columns outer,
    // in the RFC's order: Not-ECT, ECT(0), ECT(1), CE.
    const int order[4] = {0, 2, 1, 3};
    const int table[4][4] = {
        {0, 0, 0, -1},  // inner Not-ECT
        {2, 2, 1, 3},   // inner ECT(0)
        {1, 1, 1, 3},   // inner ECT(1)
        {3, 3, 3, 3},   // inner CE
    };
    IpipTunnel tunnel;
    int checked = 0;
    for (int r = 0; r < 4; ++r) {
        for (int c = 0; c < 4; ++c) {
            const uint8_t in_ecn = uint8_t(order[r]), out_ecn = uint8_t(order[c]);
            const int want = table[r][c];
            bool drop = false;
            CHECK(int(ecn_decapsulate(Ecn(in_ecn), Ecn(out_ecn), drop)) == (want < 0 ? 3 : want));
            CHECK(drop == (want < 0));
            for (int family = 0; family < 2; ++family) {
                CAPTURE(r, c, family);
                const Bytes packet = family == 0 ? inner4(uint8_t(0xb8 | in_ecn), true) : inner6(uint8_t(0xb8 | in_ecn));
                Bytes outer, out{9};
                REQUIRE(tunnel.encapsulate(packet, family == 0 ? kSrc4 : kSrc6, family == 0 ? kDst4 : kDst6, outer) ==
                        IpipStatus::ok);
                set_outer_ecn(outer, out_ecn);
                const IpipStatus s = IpipTunnel::decapsulate(outer, out);
                if (want < 0) {
                    CHECK(s == IpipStatus::ecn_drop);
                    CHECK(out.empty());
                    ++checked;
                    continue;
                }
                REQUIRE(s == IpipStatus::ok);
                CHECK(ecn_of(out) == want);
                Bytes expect = packet;
                if (family == 0) {
                    expect[1] = uint8_t(0xb8 | want);  // DSCP kept
                    fix_checksum(expect);
                    CHECK(checksum(out, 0, 20) == 0);
                } else {
                    expect[1] = uint8_t((expect[1] & 0xcf) | want << 4);
                }
                CHECK(out == expect);
                ++checked;
            }
        }
    }
    CHECK(checked == 32);
}

TEST_CASE("ipip: checksum and status names") {
    // RFC 1071 §3's example bytes: 00 01 f2 03 f4 f5 f6 f7 sum to 0xddf2, complement 0x220d.
    const Bytes example{0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7};
    CHECK(internet_checksum(example) == 0x220d);
    CHECK(checksum(example, 0, example.size()) == 0x220d);
    CHECK(std::string(to_string(IpipStatus::ecn_drop)) == "CE over Not-ECT");
}

TEST_CASE("ipip: the checksum equals RFC 1071's word-by-word sum at every length and alignment") {
    // The reference: big-endian 16-bit words, an odd last byte padded with zero, end-around carry.
    auto reference = [](const uint8_t* p, size_t n) {
        uint32_t sum = 0;
        for (size_t i = 0; i + 1 < n; i += 2) sum += uint32_t(p[i]) << 8 | p[i + 1];
        if (n % 2) sum += uint32_t(p[n - 1]) << 8;
        while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
        return uint16_t(~sum);
    };
    Bytes bytes(300);
    uint32_t state = 12345;
    int checked = 0;
    for (int round = 0; round < 50; ++round) {
        for (auto& b : bytes) {
            state = state * 1103515245u + 12345u;
            b = uint8_t(round % 5 == 0 ? 0xff : state >> 24);  // all-ones rounds force carries
        }
        for (size_t offset = 0; offset < 8; ++offset) {
            for (size_t n = 0; n + offset <= 90; ++n) {
                INFO("round " << round << " offset " << offset << " length " << n);
                REQUIRE(internet_checksum({bytes.data() + offset, n}) == reference(bytes.data() + offset, n));
                ++checked;
            }
        }
    }
    CHECK(checked > 30000);
}
