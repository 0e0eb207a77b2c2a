// The ICMP errors sent back to a packet's sender (kmod_sim/module/icmp_error.h): "fragmentation
// needed" (RFC 1191 §4) and ICMPv6 "packet too big" (RFC 4443 §3.2), plus %reject's
// "administratively prohibited". Headers and checksums are checked with this file's own
// RFC 1071 sum, the ICMPv6 one over the RFC 8200 §8.1 pseudo-header built here; the cases
// where no error may be sent come from RFC 1122 §3.2.2 and RFC 4443 §2.4(e).
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "kmod_sim/module/icmp_error.h"
#include "kmod_sim/module/ip_packet.h"

using namespace kmod_sim;
using Bytes = std::vector<uint8_t>;

namespace {

const Bytes kSrc4{192, 0, 2, 1};
const Bytes kDst4{198, 51, 100, 7};
const Bytes kSrc6{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
const Bytes kDst6{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xbe, 0xef};

uint16_t get16(const Bytes& b, size_t at) { return uint16_t(b[at] << 8 | b[at + 1]); }
uint32_t get32(const Bytes& b, size_t at) { return uint32_t(get16(b, at)) << 16 | get16(b, at + 2); }
void put16(Bytes& b, size_t at, uint16_t v) { b[at] = uint8_t(v >> 8), b[at + 1] = uint8_t(v); }

Bytes slice(const Bytes& b, size_t from, size_t n) { return Bytes(b.begin() + long(from), b.begin() + long(from + n)); }

// RFC 1071 §4.1's loop, written out separately from crypto/ipip.cc's: the complemented
// one's complement sum; 0 over bytes that include a correct checksum.
uint16_t checksum(const Bytes& b) {
    uint32_t sum = 0;
    for (size_t i = 0; i < b.size(); i += 2) sum += uint32_t(b[i]) << 8 | (i + 1 < b.size() ? b[i + 1] : 0);
    while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
    return uint16_t(~sum & 0xffff);
}

// An IPv4 packet from src to dst: `protocol`, flags/offset, `payload` bytes starting with
// `first` (the ICMP type when protocol is ICMP), a valid header checksum.
Bytes ipv4(size_t payload, uint8_t protocol = 50, uint16_t flags_offset = 0x4000, const Bytes& src = kSrc4,
           uint8_t first = 0xa5) {
    Bytes p{0x45, 0, 0, 0, 0x12, 0x34, 0, 0, 57, protocol, 0, 0};
    p.insert(p.end(), src.begin(), src.end());
    p.insert(p.end(), kDst4.begin(), kDst4.end());
    for (size_t i = 0; i < payload; ++i) p.push_back(i == 0 ? first : uint8_t(i * 13 + 1));
    put16(p, 2, uint16_t(p.size()));
    put16(p, 6, flags_offset);
    put16(p, 10, checksum(slice(p, 0, 20)));
    return p;
}

// An IPv6 packet from src to dst with next header `next` and `payload` bytes starting with
// `first` (the ICMPv6 type, or the Fragment header's next header).
Bytes ipv6(size_t payload, uint8_t next = 50, const Bytes& src = kSrc6, uint8_t first = 0xa5) {
    Bytes p{0x60, 0, 0, 0, uint8_t(payload >> 8), uint8_t(payload), next, 63};
    p.insert(p.end(), src.begin(), src.end());
    p.insert(p.end(), kDst6.begin(), kDst6.end());
    for (size_t i = 0; i < payload; ++i) p.push_back(i == 0 ? first : uint8_t(i * 13 + 1));
    return p;
}

IpHeader header_of(const Bytes& p) {
    const std::optional<IpHeader> h = parse_ip_header(p);
    REQUIRE(h);
    return *h;
}

// An IPv4 error: a plain header from the original's destination to its source, within 576
// bytes (RFC 1812 §4.3.2.3), quoting as much of the original as fits; the ICMP message's
// type and code, bytes 4..7 as `rest`, its checksum over the whole message (RFC 792).
void check_v4_error(const Bytes& out, const Bytes& original, uint8_t type, uint8_t code, uint32_t rest) {
    REQUIRE(out.size() >= 28);
    CHECK(out.size() <= 576);
    CHECK(out[0] == 0x45);
    CHECK(get16(out, 2) == out.size());
    CHECK((get16(out, 6) & 0x3fff) == 0);  // not a fragment
    CHECK(out[8] > 0);                     // TTL
    CHECK(out[9] == 1);                    // ICMP
    CHECK(checksum(slice(out, 0, 20)) == 0);
    CHECK(slice(out, 12, 4) == slice(original, 16, 4));  // from the original's destination
    CHECK(slice(out, 16, 4) == slice(original, 12, 4));  // to its source
    const Bytes icmp = slice(out, 20, out.size() - 20);
    CHECK(icmp[0] == type);
    CHECK(icmp[1] == code);
    CHECK(checksum(icmp) == 0);
    CHECK(get32(icmp, 4) == rest);
    // The quote: the start of the original, as much as keeps the error within 576 bytes.
    const size_t quote = std::min<size_t>(get16(original, 2), 576 - 28);
    CHECK(icmp.size() == 8 + quote);
    CHECK(slice(icmp, 8, icmp.size() - 8) == slice(original, 0, quote));
}

// An IPv6 error: from the original's destination to its source, within 1280 bytes (RFC 4443
// §2.4(c)), checksum over the pseudo-header (RFC 8200 §8.1: source, destination, 32-bit
// upper-layer length, three zero bytes, next header 58) and the message.
void check_v6_error(const Bytes& out, const Bytes& original, uint8_t type, uint8_t code, uint32_t rest) {
    REQUIRE(out.size() >= 48);
    CHECK(out.size() <= 1280);
    CHECK(out[0] >> 4 == 6);
    CHECK(get16(out, 4) == out.size() - 40);
    CHECK(out[6] == 58);  // ICMPv6, no extension headers
    CHECK(out[7] > 0);    // hop limit
    CHECK(slice(out, 8, 16) == slice(original, 24, 16));
    CHECK(slice(out, 24, 16) == slice(original, 8, 16));
    const Bytes icmp = slice(out, 40, out.size() - 40);
    CHECK(icmp[0] == type);
    CHECK(icmp[1] == code);
    CHECK(get32(icmp, 4) == rest);
    Bytes pseudo = slice(out, 8, 32);
    pseudo.push_back(uint8_t(icmp.size() >> 24));
    pseudo.push_back(uint8_t(icmp.size() >> 16));
    pseudo.push_back(uint8_t(icmp.size() >> 8));
    pseudo.push_back(uint8_t(icmp.size()));
    pseudo.insert(pseudo.end(), {0, 0, 0, 58});
    pseudo.insert(pseudo.end(), icmp.begin(), icmp.end());
    CHECK(checksum(pseudo) == 0);
    const size_t total = 40 + size_t(get16(original, 4));
    const size_t quote = std::min<size_t>(total, 1280 - 48);
    CHECK(icmp.size() == 8 + quote);
    CHECK(slice(icmp, 8, icmp.size() - 8) == slice(original, 0, quote));
}

}  // namespace

TEST_CASE("icmp_error: IPv4 fragmentation needed, type 3 code 4 with the next-hop MTU (RFC 1191 §4)") {
    SECTION("a large packet: the quote is cut at 576 bytes in all") {
        const Bytes original = ipv4(1480);
        Bytes out;
        REQUIRE(icmp_too_big(original, header_of(original), 1380, out));
        CHECK(out.size() == 576);
        // Low 16 bits of the second word: next-hop MTU; the upper 16 bits unused, zero.
        check_v4_error(out, original, 3, 4, 1380);
        CHECK(get16(out, 24) == 0);
        CHECK(get16(out, 26) == 1380);
    }
    SECTION("a small packet is quoted whole") {
        const Bytes original = ipv4(100);
        Bytes out;
        REQUIRE(icmp_too_big(original, header_of(original), 68, out));
        CHECK(out.size() == 28 + 120);
        check_v4_error(out, original, 3, 4, 68);
    }
    SECTION("link padding beyond the total length is not quoted") {
        Bytes padded = ipv4(60);
        const Bytes original = padded;
        padded.insert(padded.end(), 8, 0xee);
        Bytes out;
        REQUIRE(icmp_too_big(padded, header_of(padded), 1000, out));
        check_v4_error(out, original, 3, 4, 1000);
    }
    SECTION("an MTU beyond 16 bits leaves the upper half zero") {
        const Bytes original = ipv4(200);
        Bytes out;
        REQUIRE(icmp_too_big(original, header_of(original), 70000, out));
        CHECK(get16(out, 24) == 0);
    }
}

TEST_CASE("icmp_error: ICMPv6 packet too big, type 2 code 0 with a 32-bit MTU (RFC 4443 §3.2)") {
    SECTION("a large packet: the quote is cut at 1280 bytes in all") {
        const Bytes original = ipv6(1460);
        Bytes out;
        REQUIRE(icmp_too_big(original, header_of(original), 1400, out));
        CHECK(out.size() == 1280);
        check_v6_error(out, original, 2, 0, 1400);
    }
    SECTION("a small packet is quoted whole") {
        const Bytes original = ipv6(100);
        Bytes out;
        REQUIRE(icmp_too_big(original, header_of(original), 1280, out));
        CHECK(out.size() == 48 + 140);
        check_v6_error(out, original, 2, 0, 1280);
    }
    SECTION("all 32 bits of the MTU are carried") {
        const Bytes original = ipv6(100);
        Bytes out;
        REQUIRE(icmp_too_big(original, header_of(original), 0x00012345, out));
        check_v6_error(out, original, 2, 0, 0x00012345);
    }
}

TEST_CASE("icmp_error: no IPv4 error about an error, a later fragment, or a non-unicast source") {
    // RFC 1122 §3.2.2; out is emptied whatever it held.
    const auto refused = [](const Bytes& p) {
        Bytes out{1, 2, 3};
        CHECK_FALSE(icmp_too_big(p, header_of(p), 1000, out));
        CHECK(out.empty());
        out = {1, 2, 3};
        CHECK_FALSE(icmp_reject(p, header_of(p), out));
        CHECK(out.empty());
    };
    for (uint8_t type : {uint8_t(3), uint8_t(4), uint8_t(5), uint8_t(11), uint8_t(12)}) {
        INFO("ICMP type " << int(type));
        refused(ipv4(600, 1, 0, kSrc4, type));
    }
    SECTION("a later fragment (offset non-zero), with or without MF") {
        refused(ipv4(600, 50, 0x2000 | 185));
        refused(ipv4(600, 50, 185));
    }
    SECTION("unspecified, multicast or limited broadcast source") {
        refused(ipv4(600, 50, 0, Bytes{0, 0, 0, 0}));
        refused(ipv4(600, 50, 0, Bytes{224, 0, 0, 5}));
        refused(ipv4(600, 50, 0, Bytes{239, 255, 255, 250}));
        refused(ipv4(600, 50, 0, Bytes{255, 255, 255, 255}));
    }
}

TEST_CASE("icmp_error: IPv4 errors that may be sent") {
    SECTION("about an ICMP query (echo request is not an error)") {
        const Bytes original = ipv4(600, 1, 0, kSrc4, 8);
        Bytes out;
        REQUIRE(icmp_too_big(original, header_of(original), 576, out));
        check_v4_error(out, original, 3, 4, 576);
    }
    SECTION("about a first fragment (MF set, offset 0)") {
        const Bytes original = ipv4(600, 50, 0x2000);
        Bytes out;
        REQUIRE(icmp_too_big(original, header_of(original), 576, out));
        check_v4_error(out, original, 3, 4, 576);
    }
}

TEST_CASE("icmp_error: no ICMPv6 error about an error, a later fragment, or a non-unicast source") {
    // RFC 4443 §2.4(e).
    const auto refused = [](const Bytes& p) {
        Bytes out{1, 2, 3};
        CHECK_FALSE(icmp_too_big(p, header_of(p), 1280, out));
        CHECK(out.empty());
        out = {1, 2, 3};
        CHECK_FALSE(icmp_reject(p, header_of(p), out));
        CHECK(out.empty());
    };
    for (uint8_t type : {uint8_t(1), uint8_t(2), uint8_t(3), uint8_t(4)}) {
        INFO("ICMPv6 type " << int(type));
        refused(ipv6(600, 58, kSrc6, type));
    }
    SECTION("a later fragment: Fragment header with a non-zero offset") {
        Bytes p = ipv6(600, 44, kSrc6, 50);
        p[41] = 0;
        put16(p, 42, 154 << 3 | 1);
        refused(p);
        put16(p, 42, 154 << 3);
        refused(p);
    }
    SECTION("unspecified or multicast source") {
        refused(ipv6(600, 50, Bytes(16, 0)));
        Bytes all_nodes(16, 0);
        all_nodes[0] = 0xff, all_nodes[1] = 0x02, all_nodes[15] = 1;
        refused(ipv6(600, 50, all_nodes));
    }
}

TEST_CASE("icmp_error: ICMPv6 errors that may be sent") {
    SECTION("about an echo request (type 128, informational)") {
        const Bytes original = ipv6(1400, 58, kSrc6, 128);
        Bytes out;
        REQUIRE(icmp_too_big(original, header_of(original), 1280, out));
        check_v6_error(out, original, 2, 0, 1280);
    }
    SECTION("about a first fragment (offset 0, M set)") {
        Bytes original = ipv6(1400, 44, kSrc6, 50);
        original[41] = 0;
        put16(original, 42, 1);
        Bytes out;
        REQUIRE(icmp_too_big(original, header_of(original), 1280, out));
        check_v6_error(out, original, 2, 0, 1280);
    }
}

TEST_CASE("icmp_error: %reject is administratively prohibited, bytes 4..7 zero") {
    // RFC 1812 §5.2.7.1: ICMP type 3 code 13; RFC 4443 §3.1: ICMPv6 type 1 code 1; the
    // "unused" word is zero in both.
    const Bytes v4 = ipv4(1000);
    Bytes out;
    REQUIRE(icmp_reject(v4, header_of(v4), out));
    check_v4_error(out, v4, 3, 13, 0);
    const Bytes v6 = ipv6(1500);
    REQUIRE(icmp_reject(v6, header_of(v6), out));
    check_v6_error(out, v6, 1, 1, 0);
}
