// Fragmenting outer packets too big for the path (kmod_sim/module/ip_fragment.h): IPv4 per
// RFC 791 §2.3/§3.1/§3.2, IPv6 with a Fragment header per RFC 8200 §4.5. Packets are built
// here by hand; every fragment is checked field by field against the RFCs and the payloads
// are put back together by offset, the way a receiver does (RFC 815), never by comparing
// with what the module produced before.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "crypto/ipip.h"
#include "kmod_sim/module/ip_fragment.h"

using namespace kmod_sim;
using Bytes = std::vector<uint8_t>;
using Fragments = std::vector<Bytes>;

namespace {

const Bytes kSrc4{192, 0, 2, 1};
const Bytes kDst4{198, 51, 100, 7};
const Bytes kSrc6{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
const Bytes kDst6{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xbe, 0xef};

// RFC 791 §3.1 options: Router Alert (RFC 2113) has the copied bit (0x80) set; Record Route
// (type 7, one empty 4-byte slot) does not, so it stays in the first fragment only.
const Bytes kRouterAlert{0x94, 4, 0, 0};
const Bytes kRecordRoute{0x07, 7, 4, 0, 0, 0, 0};

constexpr uint16_t kDf = 0x4000;
constexpr uint16_t kMf = 0x2000;

uint16_t get16(const Bytes& b, size_t at) { return uint16_t(b[at] << 8 | b[at + 1]); }
uint32_t get32(const Bytes& b, size_t at) { return uint32_t(get16(b, at)) << 16 | get16(b, at + 2); }
void put16(Bytes& b, size_t at, uint16_t v) { b[at] = uint8_t(v >> 8), b[at + 1] = uint8_t(v); }

Bytes slice(const Bytes& b, size_t from, size_t n) { return Bytes(b.begin() + long(from), b.begin() + long(from + n)); }

// Payload bytes that differ from their neighbours, so a misplaced fragment shows.
Bytes payload_of(size_t n) {
    Bytes p(n);
    for (size_t i = 0; i < n; ++i) p[i] = uint8_t(i * 7 + i / 251 + 3);
    return p;
}

size_t ihl_bytes(const Bytes& p) { return size_t(p[0] & 15) * 4; }

// An IPv4 packet: `options` padded with end-of-options to 4 bytes, `payload` bytes of ESP,
// flags/offset as given, a valid header checksum.
Bytes ipv4(size_t payload, uint16_t flags_offset = 0, const Bytes& options = {}) {
    Bytes p{0x45, 0x28, 0, 0, 0xbe, 0xef, 0, 0, 61, 50, 0, 0};
    p.insert(p.end(), kSrc4.begin(), kSrc4.end());
    p.insert(p.end(), kDst4.begin(), kDst4.end());
    p.insert(p.end(), options.begin(), options.end());
    while (p.size() % 4) p.push_back(0);
    p[0] = uint8_t(0x40 | p.size() / 4);
    const Bytes data = payload_of(payload);
    p.insert(p.end(), data.begin(), data.end());
    put16(p, 2, uint16_t(p.size()));
    put16(p, 6, flags_offset);
    put16(p, 10, crypto::internet_checksum(std::span<const uint8_t>(p.data(), ihl_bytes(p))));
    return p;
}

// An IPv6 packet: base header (traffic class, flow label, hop limit set so their copying
// shows), next header `next`, `payload` bytes.
Bytes ipv6(size_t payload, uint8_t next = 50) {
    Bytes p{0x6b, 0x81, 0x23, 0x45, uint8_t(payload >> 8), uint8_t(payload), next, 64};
    p.insert(p.end(), kSrc6.begin(), kSrc6.end());
    p.insert(p.end(), kDst6.begin(), kDst6.end());
    const Bytes data = payload_of(payload);
    p.insert(p.end(), data.begin(), data.end());
    return p;
}

// RFC 815 in miniature: each fragment's bytes placed at offset*8, with no byte written twice
// and no hole left; the length is known from the fragment that ends the series.
struct Reassembly {
    Bytes data;
    std::vector<bool> filled;
    size_t end = 0;
    bool seen_last = false;

    void add(size_t at, const Bytes& bytes, bool last) {
        if (data.size() < at + bytes.size()) data.resize(at + bytes.size()), filled.resize(at + bytes.size());
        size_t overlap = 0;
        for (size_t i = 0; i < bytes.size(); ++i) {
            overlap += filled[at + i];
            filled[at + i] = true;
            data[at + i] = bytes[i];
        }
        CHECK(overlap == 0);  // no byte written twice
        if (last) {
            CHECK_FALSE(seen_last);
            seen_last = true;
            end = at + bytes.size();
        }
    }
    Bytes result() {
        CHECK(seen_last);
        CHECK(data.size() == end);  // nothing beyond the last fragment
        CHECK(std::count(filled.begin(), filled.end(), false) == 0);  // no hole
        return data;
    }
};

// The copied options (RFC 791 §3.1 "copied flag") of the original's header, padded to 4.
Bytes copied_options(const Bytes& original) {
    Bytes out;
    for (size_t at = 20; at < ihl_bytes(original);) {
        const uint8_t type = original[at];
        if (type == 0) break;
        if (type == 1) {
            ++at;
            continue;
        }
        const uint8_t length = original[at + 1];
        if (type & 0x80) out.insert(out.end(), original.begin() + long(at), original.begin() + long(at + length));
        at += length;
    }
    while (out.size() % 4) out.push_back(0);
    return out;
}

// Checks every fragment of `original` against RFC 791 §3.2 and returns the payload put back
// together, relative to the original's own offset (which may be non-zero: it may itself be a
// fragment).
Bytes check_ipv4_fragments(const Bytes& original, const Fragments& frags, size_t mtu) {
    const size_t header = ihl_bytes(original);
    const uint16_t original_flags = get16(original, 6);
    const size_t base = original_flags & 0x1fff;
    const bool original_mf = original_flags & kMf;
    const Bytes copied = copied_options(original);
    Reassembly r;
    size_t expected_offset = base;
    for (size_t i = 0; i < frags.size(); ++i) {
        INFO("fragment " << i << " of " << frags.size() << ", mtu " << mtu);
        const Bytes& f = frags[i];
        const bool last = i + 1 == frags.size();
        REQUIRE(f.size() >= 20);
        CHECK(f.size() <= mtu);
        CHECK(f[0] >> 4 == 4);
        const size_t ihl = ihl_bytes(f);
        REQUIRE(ihl >= 20);
        REQUIRE(ihl <= f.size());
        CHECK(get16(f, 2) == f.size());  // total length is this fragment's
        // The header checksum is recomputed: summing the header with it gives zero.
        CHECK(crypto::internet_checksum(std::span<const uint8_t>(f.data(), ihl)) == 0);
        CHECK(f[1] == original[1]);                   // TOS
        CHECK(get16(f, 4) == get16(original, 4));     // identification: the receiver's key
        CHECK(f[8] == original[8]);                   // TTL
        CHECK(f[9] == original[9]);                   // protocol
        CHECK(slice(f, 12, 8) == slice(original, 12, 8));  // addresses
        const uint16_t flags = get16(f, 6);
        CHECK((flags & kDf) == 0);
        CHECK((flags & 0x8000) == 0);  // reserved bit
        // MF on every fragment but the last; on the last too when the original had it.
        CHECK(bool(flags & kMf) == (!last || original_mf));
        CHECK((flags & 0x1fff) == expected_offset);
        if (i == 0) {
            // The first fragment carries all the options (RFC 791 §3.2 "copy the original
            // internet header").
            CHECK(ihl == header);
            CHECK(slice(f, 20, ihl - 20) == slice(original, 20, header - 20));
        } else {
            CHECK(ihl == 20 + copied.size());
            CHECK(slice(f, 20, ihl - 20) == copied);
        }
        const size_t data = f.size() - ihl;
        CHECK(data > 0);
        if (!last) CHECK(data % 8 == 0);  // offsets count 8-byte blocks
        r.add((expected_offset - base) * 8, slice(f, ihl, data), last);
        expected_offset += data / 8;
    }
    return r.result();
}

Bytes ipv4_payload(const Bytes& p) { return slice(p, ihl_bytes(p), get16(p, 2) - ihl_bytes(p)); }

// Checks every fragment of `original` against RFC 8200 §4.5 and returns the fragmentable
// part put back together.
Bytes check_ipv6_fragments(const Bytes& original, const Fragments& frags, size_t mtu, uint32_t id) {
    Reassembly r;
    for (size_t i = 0; i < frags.size(); ++i) {
        INFO("fragment " << i << " of " << frags.size() << ", mtu " << mtu);
        const Bytes& f = frags[i];
        const bool last = i + 1 == frags.size();
        REQUIRE(f.size() > 48);
        CHECK(f.size() <= mtu);
        CHECK(slice(f, 0, 4) == slice(original, 0, 4));   // version, traffic class, flow label
        CHECK(get16(f, 4) == f.size() - 40);               // payload length: this fragment's
        CHECK(f[6] == 44);                                 // next header: Fragment
        CHECK(f[7] == original[7]);                        // hop limit
        CHECK(slice(f, 8, 32) == slice(original, 8, 32));  // addresses
        // Fragment header: next header, reserved, offset (13 bits) | res (2) | M, id.
        CHECK(f[40] == original[6]);
        CHECK(f[41] == 0);
        const uint16_t offset_m = get16(f, 42);
        CHECK((offset_m & 6) == 0);
        CHECK(bool(offset_m & 1) == !last);
        CHECK(get32(f, 44) == id);
        const size_t data = f.size() - 48;
        if (!last) CHECK(data % 8 == 0);
        r.add(size_t(offset_m >> 3) * 8, slice(f, 48, data), last);
    }
    return r.result();
}

}  // namespace

TEST_CASE("ip_fragment: IPv4 without options, several MTUs (RFC 791 §3.2)") {
    for (size_t payload : {1480u, 1481u, 2999u, 4000u}) {
        const Bytes original = ipv4(payload);
        for (size_t mtu : {576u, 1000u, 1001u, 1400u, 1500u}) {
            INFO("payload " << payload << ", mtu " << mtu);
            if (original.size() <= mtu) continue;
            Fragments frags;
            REQUIRE(fragment_ipv4(original, mtu, &frags));
            REQUIRE(frags.size() >= 2);
            CHECK(check_ipv4_fragments(original, frags, mtu) == ipv4_payload(original));
            // As few fragments as the 8-byte rule allows: each non-last one is as full as it
            // can be (not an RFC requirement, but anything less wastes the path).
            const size_t room = (mtu - 20) / 8 * 8;
            CHECK(frags.size() == (payload + room - 1) / room);
        }
    }
}

TEST_CASE("ip_fragment: IPv4 options, copied ones only in later fragments (RFC 791 §3.1)") {
    SECTION("router alert (copied) then record route (not copied)") {
        Bytes options = kRouterAlert;
        options.insert(options.end(), kRecordRoute.begin(), kRecordRoute.end());
        const Bytes original = ipv4(3000, 0, options);
        REQUIRE(ihl_bytes(original) == 32);
        for (size_t mtu : {576u, 1000u, 1001u, 1400u, 1500u}) {
            Fragments frags;
            REQUIRE(fragment_ipv4(original, mtu, &frags));
            REQUIRE(frags.size() >= 2);
            CHECK(check_ipv4_fragments(original, frags, mtu) == ipv4_payload(original));
            // Later fragments: 20 bytes + router alert, IHL 6.
            for (size_t i = 1; i < frags.size(); ++i) CHECK(frags[i][0] == 0x46);
        }
    }
    SECTION("record route first, a no-op, then router alert") {
        Bytes options = kRecordRoute;
        options.push_back(1);  // no-operation
        options.insert(options.end(), kRouterAlert.begin(), kRouterAlert.end());
        const Bytes original = ipv4(2500, 0, options);
        REQUIRE(ihl_bytes(original) == 32);
        Fragments frags;
        REQUIRE(fragment_ipv4(original, 1001, &frags));
        CHECK(check_ipv4_fragments(original, frags, 1001) == ipv4_payload(original));
        for (size_t i = 1; i < frags.size(); ++i) CHECK(slice(frags[i], 20, 4) == kRouterAlert);
    }
    SECTION("only a non-copied option: later fragments have a bare 20-byte header") {
        const Bytes original = ipv4(2000, 0, kRecordRoute);
        REQUIRE(ihl_bytes(original) == 28);
        Fragments frags;
        REQUIRE(fragment_ipv4(original, 576, &frags));
        CHECK(check_ipv4_fragments(original, frags, 576) == ipv4_payload(original));
        CHECK(frags[0][0] == 0x47);
        for (size_t i = 1; i < frags.size(); ++i) CHECK(frags[i][0] == 0x45);
    }
}

TEST_CASE("ip_fragment: an IPv4 packet that fits comes back whole and unchanged") {
    const Bytes original = ipv4(1480);
    for (size_t mtu : {1500u, 1501u, 9000u}) {
        Fragments frags;
        REQUIRE(fragment_ipv4(original, mtu, &frags));
        REQUIRE(frags.size() == 1);
        CHECK(frags[0] == original);
    }
    // DF only forbids splitting: a packet with DF that fits goes as it is.
    Bytes df = ipv4(100, kDf);
    Fragments frags;
    REQUIRE(fragment_ipv4(df, 576, &frags));
    REQUIRE(frags.size() == 1);
    CHECK(frags[0] == df);
}

TEST_CASE("ip_fragment: IPv4 fragments are appended after what *out already holds") {
    const Bytes original = ipv4(2000);
    Fragments frags{Bytes{1, 2, 3}};
    REQUIRE(fragment_ipv4(original, 1500, &frags));
    REQUIRE(frags.size() == 3);
    CHECK(frags[0] == Bytes{1, 2, 3});
    CHECK(check_ipv4_fragments(original, Fragments(frags.begin() + 1, frags.end()), 1500) == ipv4_payload(original));
}

TEST_CASE("ip_fragment: IPv4 with DF set and too big is not split (RFC 791 §2.3)") {
    const Bytes original = ipv4(2000, kDf);
    Fragments frags{Bytes{9}};
    CHECK_FALSE(fragment_ipv4(original, 1500, &frags));
    REQUIRE(frags.size() == 1);  // nothing appended
    CHECK(frags[0] == Bytes{9});
}

TEST_CASE("ip_fragment: an MTU with no room for 8 bytes of data after the header is refused") {
    // RFC 791 §3.2: fragments carry at least one 8-byte block.
    const Bytes plain = ipv4(100);
    Fragments frags;
    CHECK_FALSE(fragment_ipv4(plain, 27, &frags));
    CHECK(frags.empty());
    CHECK_FALSE(fragment_ipv4(plain, 0, &frags));
    CHECK(frags.empty());
    // 20 + 8 is the smallest that works: 8 bytes a fragment.
    REQUIRE(fragment_ipv4(plain, 28, &frags));
    CHECK(frags.size() == 13);
    CHECK(check_ipv4_fragments(plain, frags, 28) == ipv4_payload(plain));

    // With options the first header (32 bytes here) sets the limit.
    Bytes options = kRouterAlert;
    options.insert(options.end(), kRecordRoute.begin(), kRecordRoute.end());
    const Bytes with_options = ipv4(100, 0, options);
    frags.clear();
    CHECK_FALSE(fragment_ipv4(with_options, 39, &frags));
    CHECK(frags.empty());
    REQUIRE(fragment_ipv4(with_options, 40, &frags));
    CHECK(check_ipv4_fragments(with_options, frags, 40) == ipv4_payload(with_options));
}

TEST_CASE("ip_fragment: refragmenting a fragment keeps MF and continues its offset (RFC 791 §3.2)") {
    SECTION("a non-last fragment (MF set) at offset 100") {
        const Bytes original = ipv4(2400, kMf | 100);
        Fragments frags;
        REQUIRE(fragment_ipv4(original, 1000, &frags));
        REQUIRE(frags.size() == 3);
        CHECK(check_ipv4_fragments(original, frags, 1000) == ipv4_payload(original));
        for (const Bytes& f : frags) CHECK((get16(f, 6) & kMf) != 0);  // none ends the datagram
        CHECK((get16(frags[0], 6) & 0x1fff) == 100);
        CHECK((get16(frags[1], 6) & 0x1fff) == 100 + 976 / 8);
    }
    SECTION("a first fragment (MF set, offset 0)") {
        const Bytes original = ipv4(1600, kMf);
        Fragments frags;
        REQUIRE(fragment_ipv4(original, 576, &frags));
        CHECK(check_ipv4_fragments(original, frags, 576) == ipv4_payload(original));
        CHECK((get16(frags.back(), 6) & kMf) != 0);
    }
    SECTION("a last fragment (MF clear) at offset 185: only the new last one has MF clear") {
        const Bytes original = ipv4(1600, 185);
        Fragments frags;
        REQUIRE(fragment_ipv4(original, 576, &frags));
        CHECK(check_ipv4_fragments(original, frags, 576) == ipv4_payload(original));
        CHECK((get16(frags.back(), 6) & kMf) == 0);
        CHECK((get16(frags[0], 6) & 0x1fff) == 185);
    }
}

TEST_CASE("ip_fragment: bytes beyond the IPv4 total length are link padding, not payload") {
    Bytes original = ipv4(2000);
    const Bytes padded_tail{0xee, 0xee, 0xee, 0xee};
    Bytes padded = original;
    padded.insert(padded.end(), padded_tail.begin(), padded_tail.end());
    Fragments frags;
    REQUIRE(fragment_ipv4(padded, 1500, &frags));
    CHECK(check_ipv4_fragments(original, frags, 1500) == ipv4_payload(original));
    frags.clear();
    REQUIRE(fragment_ipv4(padded, 2020, &frags));
    REQUIRE(frags.size() == 1);
    CHECK(frags[0] == original);
}

TEST_CASE("ip_fragment: malformed IPv4 input is refused") {
    const Bytes good = ipv4(2000);
    Fragments frags;
    SECTION("truncated header") {
        CHECK_FALSE(fragment_ipv4(slice(good, 0, 12), 576, &frags));
    }
    SECTION("empty") {
        CHECK_FALSE(fragment_ipv4(Bytes{}, 576, &frags));
    }
    SECTION("bad version") {
        Bytes bad = good;
        bad[0] = 0x55;
        CHECK_FALSE(fragment_ipv4(bad, 576, &frags));
    }
    SECTION("an IPv6 packet") {
        CHECK_FALSE(fragment_ipv4(ipv6(2000), 576, &frags));
    }
    SECTION("IHL below 5") {
        Bytes bad = good;
        bad[0] = 0x44;
        CHECK_FALSE(fragment_ipv4(bad, 576, &frags));
    }
    SECTION("total length beyond the bytes there are") {
        CHECK_FALSE(fragment_ipv4(slice(good, 0, good.size() - 1), 576, &frags));
    }
    SECTION("total length shorter than the header") {
        Bytes bad = good;
        put16(bad, 2, 19);
        CHECK_FALSE(fragment_ipv4(bad, 576, &frags));
    }
    CHECK(frags.empty());
}

TEST_CASE("ip_fragment: IPv6 with a Fragment header (RFC 8200 §4.5)") {
    constexpr uint32_t kId = 0x12345678;
    for (size_t payload : {1500u, 1461u, 3001u, 5000u}) {
        const Bytes original = ipv6(payload);
        for (size_t mtu : {1280u, 1500u}) {
            INFO("payload " << payload << ", mtu " << mtu);
            if (original.size() <= mtu) continue;
            Fragments frags;
            REQUIRE(fragment_ipv6(original, mtu, kId, &frags));
            REQUIRE(frags.size() >= 2);
            CHECK(check_ipv6_fragments(original, frags, mtu, kId) == slice(original, 40, payload));
            const size_t room = (mtu - 48) / 8 * 8;
            CHECK(frags.size() == (payload + room - 1) / room);
            CHECK(get16(frags[0], 42) == 1);  // first: offset 0, M set
        }
    }
}

TEST_CASE("ip_fragment: IPv6 fragment offsets in 8-byte units in the top 13 bits") {
    // 3000 bytes at mtu 1280: 1232 + 1232 + 536, offsets 0, 154, 308 (units of 8 bytes).
    const Bytes original = ipv6(3000);
    Fragments frags;
    REQUIRE(fragment_ipv6(original, 1280, 0xdeadbeef, &frags));
    REQUIRE(frags.size() == 3);
    CHECK(frags[0].size() == 1280);
    CHECK(frags[1].size() == 1280);
    CHECK(frags[2].size() == 48 + 536);
    CHECK(get16(frags[0], 42) == (0 << 3 | 1));
    CHECK(get16(frags[1], 42) == (154 << 3 | 1));
    CHECK(get16(frags[2], 42) == (308 << 3 | 0));
    CHECK(get32(frags[2], 44) == 0xdeadbeef);
}

TEST_CASE("ip_fragment: an IPv6 packet that fits comes back whole") {
    const Bytes original = ipv6(1240);  // exactly 1280
    Fragments frags;
    REQUIRE(fragment_ipv6(original, 1280, 1, &frags));
    REQUIRE(frags.size() == 1);
    CHECK(frags[0] == original);
    // Link padding beyond the payload length is not part of it.
    Bytes padded = original;
    padded.push_back(0xee);
    frags.clear();
    REQUIRE(fragment_ipv6(padded, 1500, 1, &frags));
    REQUIRE(frags.size() == 1);
    CHECK(frags[0] == original);
}

TEST_CASE("ip_fragment: IPv6 with hop-by-hop, routing or fragment header first is refused") {
    // Those belong to the unfragmentable part (RFC 8200 §4.5), which is only the base header here.
    for (uint8_t next : {uint8_t(0), uint8_t(43), uint8_t(44)}) {
        INFO("next header " << int(next));
        Fragments frags{Bytes{7}};
        CHECK_FALSE(fragment_ipv6(ipv6(2000, next), 1280, 5, &frags));
        CHECK(frags.size() == 1);  // nothing appended
    }
    // Other next headers (TCP, UDP, AH, no next header) are fragmentable.
    for (uint8_t next : {uint8_t(6), uint8_t(17), uint8_t(51), uint8_t(59)}) {
        INFO("next header " << int(next));
        const Bytes original = ipv6(2000, next);
        Fragments frags;
        REQUIRE(fragment_ipv6(original, 1280, 5, &frags));
        CHECK(check_ipv6_fragments(original, frags, 1280, 5) == slice(original, 40, 2000));
    }
}

TEST_CASE("ip_fragment: IPv6 MTU too small or malformed input is refused") {
    const Bytes original = ipv6(2000);
    Fragments frags;
    CHECK_FALSE(fragment_ipv6(original, 55, 1, &frags));  // 40 + 8 + 8 = 56 needed
    CHECK(frags.empty());
    REQUIRE(fragment_ipv6(original, 56, 1, &frags));
    CHECK(check_ipv6_fragments(original, frags, 56, 1) == slice(original, 40, 2000));
    frags.clear();

    CHECK_FALSE(fragment_ipv6(slice(original, 0, 30), 1280, 1, &frags));  // truncated header
    CHECK_FALSE(fragment_ipv6(slice(original, 0, original.size() - 1), 1280, 1, &frags));  // length
    Bytes bad = original;
    bad[0] = 0x50;
    CHECK_FALSE(fragment_ipv6(bad, 1280, 1, &frags));
    CHECK_FALSE(fragment_ipv6(ipv4(2000), 1280, 1, &frags));
    CHECK(frags.empty());
}
