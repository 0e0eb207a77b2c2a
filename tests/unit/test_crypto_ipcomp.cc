// IPComp with raw DEFLATE (crypto/ipcomp.h).
//
// Compressed output is inflated here with zlib called directly (raw, windowBits -15 and the
// Linux peer's -11), and this file's own deflate gives the sizes the "no gain" rule is checked
// against. The skip rules and the back-off sequence are spec/klips.md §7.5 worked out by hand.
#include <catch2/catch.hpp>

#include <zlib.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "crypto/ipcomp.h"

using namespace kmod_sim::crypto;
using Bytes = std::vector<uint8_t>;

namespace {

Bytes text_payload(size_t n) {
    const std::string words = "the quick brown fox jumps over the lazy dog and KLIPS compresses it ";
    Bytes out(n);
    for (size_t i = 0; i < n; ++i) out[i] = uint8_t(words[i % words.size()]);
    return out;
}

Bytes random_bytes(size_t n, uint32_t seed) {
    std::mt19937 rng(seed);
    Bytes out(n);
    for (auto& b : out) b = uint8_t(rng());
    return out;
}

// Raw inflate of data into at most cap bytes; empty with ok false on any error.
Bytes raw_inflate(const uint8_t* data, size_t size, int window_bits, bool& ok, size_t cap = 65536) {
    z_stream z{};
    REQUIRE(inflateInit2(&z, window_bits) == Z_OK);
    Bytes out(cap);
    z.next_in = const_cast<Bytef*>(data);
    z.avail_in = uInt(size);
    z.next_out = out.data();
    z.avail_out = uInt(cap);
    const int rc = inflate(&z, Z_FINISH);
    ok = rc == Z_STREAM_END && z.avail_in == 0;
    out.resize(ok ? cap - z.avail_out : 0);
    inflateEnd(&z);
    return out;
}

// Raw deflate of data, whole, with the given parameters.
Bytes raw_deflate(const Bytes& data, int level, int window_bits, int mem_level) {
    z_stream z{};
    REQUIRE(deflateInit2(&z, level, Z_DEFLATED, window_bits, mem_level, Z_DEFAULT_STRATEGY) == Z_OK);
    Bytes out(deflateBound(&z, uLong(data.size())) + 16);
    z.next_in = const_cast<Bytef*>(data.data());
    z.avail_in = uInt(data.size());
    z.next_out = out.data();
    z.avail_out = uInt(out.size());
    REQUIRE(deflate(&z, Z_FINISH) == Z_STREAM_END);
    out.resize(out.size() - z.avail_out);
    deflateEnd(&z);
    return out;
}

Bytes ipcomp_packet(uint8_t next_header, uint8_t flags, uint16_t cpi, const Bytes& data) {
    Bytes out(4 + data.size());
    out[0] = next_header, out[1] = flags, out[2] = uint8_t(cpi >> 8), out[3] = uint8_t(cpi);
    std::copy(data.begin(), data.end(), out.begin() + 4);
    return out;
}

size_t room_by_hand(size_t payload) { return payload - 4 - (payload <= 512 ? 32 : payload / 16); }

}  // namespace

TEST_CASE("ipcomp: compressed output is the RFC 3173 header and raw DEFLATE that zlib inflates") {
    IpComp comp;
    Bytes out;
    for (size_t size : {150u, 200u, 512u, 513u, 1400u, 9000u}) {
        CAPTURE(size);
        const Bytes payload = text_payload(size);
        REQUIRE(comp.compress(payload, 4, 0x1234, out) == CompResult::compressed);
        REQUIRE(out.size() > 4);
        CHECK(out[0] == 4);     // next header: the original protocol
        CHECK(out[1] == 0);     // flags
        CHECK(out[2] == 0x12);  // CPI, network order
        CHECK(out[3] == 0x34);
        CHECK(out.size() - 4 <= room_by_hand(size));
        bool ok = false;
        CHECK(raw_inflate(out.data() + 4, out.size() - 4, -15, ok) == payload);
        CHECK(ok);
        // A Linux peer inflates with a 2 KiB window (spec/dataplane.md §1.6).
        CHECK(raw_inflate(out.data() + 4, out.size() - 4, -11, ok) == payload);
        CHECK(ok);
        // And our own inflate gives it back.
        Bytes back;
        const Decompressed d = comp.decompress(out, 0x1234, CompAlg::deflate, back);
        CHECK(d.status == DecompStatus::ok);
        CHECK(d.next_header == 4);
        CHECK(back == payload);
    }
}

TEST_CASE("ipcomp: payloads that are already IPComp, AH or ESP are never compressed") {
    IpComp comp;
    Bytes out{1, 2, 3};
    const Bytes payload = text_payload(1000);
    for (uint8_t proto : {uint8_t(108), uint8_t(51), uint8_t(50)}) {
        CHECK(comp.compress(payload, proto, 2, out) == CompResult::skipped_protocol);
        CHECK(out.empty());
    }
    for (uint8_t proto : {uint8_t(4), uint8_t(41), uint8_t(6), uint8_t(17)})
        CHECK(comp.compress(payload, proto, 2, out) == CompResult::compressed);
    CHECK(comp.failures() == 0);
    CHECK(comp.skip() == 0);
}

TEST_CASE("ipcomp: under 90 bytes is not compressed, 90 is") {
    IpComp comp;
    Bytes out;
    CHECK(comp.compress(Bytes(89, 'a'), 4, 2, out) == CompResult::skipped_small);
    CHECK(out.empty());
    CHECK(comp.compress(Bytes(0), 4, 2, out) == CompResult::skipped_small);
    CHECK(comp.compress(Bytes(90, 'a'), 4, 2, out) == CompResult::compressed);
    CHECK(comp.failures() == 0);  // small packets are not failures
}

TEST_CASE("ipcomp: no gain is output over payload - 4 - (payload <= 512 ? 32 : payload/16)") {
    CHECK(room_by_hand(90) == 54);
    CHECK(room_by_hand(512) == 476);
    CHECK(room_by_hand(513) == 477);  // 513 / 16 = 32
    CHECK(room_by_hand(1400) == 1309);
    // Random bytes then a compressible tail: as the random part grows the deflate size
    // crosses the room, and the result must follow this file's own deflate size exactly.
    for (size_t size : {100u, 300u, 512u, 600u, 1400u}) {
        bool seen_yes = false, seen_no = false;
        for (size_t random_part = 0; random_part <= size; random_part += 1) {
            Bytes payload = random_bytes(random_part, uint32_t(size));
            payload.resize(size, 'x');
            const size_t deflated = raw_deflate(payload, IpComp::kDefaultLevel, -11, 8).size();
            IpComp comp;  // fresh: no back-off in the way
            Bytes out;
            const CompResult r = comp.compress(payload, 4, 2, out);
            CAPTURE(size, random_part, deflated);
            if (deflated <= room_by_hand(size)) {
                CHECK(r == CompResult::compressed);
                CHECK(out.size() == 4 + deflated);
                seen_yes = true;
            } else {
                CHECK(r == CompResult::skipped_no_gain);
                CHECK(out.empty());
                seen_no = true;
            }
        }
        CHECK(seen_yes);
        CHECK(seen_no);
    }
}

TEST_CASE("ipcomp: adaptive back-off follows KLIPS's 8/4/2/8 sequence") {
    IpComp comp;
    Bytes out;
    const Bytes noise = random_bytes(400, 7);
    const Bytes text = text_payload(400);
    auto fail = [&] { return comp.compress(noise, 4, 2, out); };

    // 8 failures, then 4 packets not tried.
    for (int i = 1; i <= 8; ++i) {
        CHECK(fail() == CompResult::skipped_no_gain);
        CHECK(comp.failures() == unsigned(i));
    }
    CHECK(comp.skip() == 4);
    // Small and already-encrypted packets do not consume the skip.
    CHECK(comp.compress(Bytes(50, 'a'), 4, 2, out) == CompResult::skipped_small);
    CHECK(comp.compress(text, 50, 2, out) == CompResult::skipped_protocol);
    CHECK(comp.skip() == 4);
    for (int i = 0; i < 4; ++i) CHECK(comp.compress(text, 4, 2, out) == CompResult::skipped_backoff);
    CHECK(comp.skip() == 0);
    // 2 more failures: skip 8, failure counter back to 8.
    CHECK(fail() == CompResult::skipped_no_gain);
    CHECK(comp.failures() == 9);
    CHECK(comp.skip() == 0);
    CHECK(fail() == CompResult::skipped_no_gain);
    CHECK(comp.failures() == 8);
    CHECK(comp.skip() == 8);
    for (int i = 0; i < 8; ++i) CHECK(fail() == CompResult::skipped_backoff);
    // And again: every 2 failures buy 8 skips while the data stays incompressible.
    CHECK(fail() == CompResult::skipped_no_gain);
    CHECK(fail() == CompResult::skipped_no_gain);
    CHECK(comp.skip() == 8);
    CHECK(comp.failures() == 8);
    for (int i = 0; i < 8; ++i) CHECK(fail() == CompResult::skipped_backoff);
    // A success resets both counters: the next back-off needs 8 failures again.
    CHECK(fail() == CompResult::skipped_no_gain);
    CHECK(comp.failures() == 9);
    CHECK(comp.compress(text, 4, 2, out) == CompResult::compressed);
    CHECK(comp.failures() == 0);
    CHECK(comp.skip() == 0);
    for (int i = 0; i < 7; ++i) CHECK(fail() == CompResult::skipped_no_gain);
    CHECK(comp.skip() == 0);
    CHECK(fail() == CompResult::skipped_no_gain);
    CHECK(comp.skip() == 4);
}

TEST_CASE("ipcomp: back-off state is per SA") {
    IpComp a, b;
    Bytes out;
    const Bytes noise = random_bytes(400, 9);
    for (int i = 0; i < 8; ++i) a.compress(noise, 4, 2, out);
    CHECK(a.skip() == 4);
    CHECK(b.skip() == 0);
    CHECK(b.compress(text_payload(400), 4, 2, out) == CompResult::compressed);
}

TEST_CASE("ipcomp: ratio counters count compressed and skipped packets") {
    IpComp comp;
    Bytes out;
    CHECK(comp.compress(text_payload(1000), 4, 2, out) == CompResult::compressed);
    const size_t compressed = out.size();
    CHECK(comp.compress(Bytes(60, 'a'), 4, 2, out) == CompResult::skipped_small);
    CHECK(comp.compress(random_bytes(300, 1), 4, 2, out) == CompResult::skipped_no_gain);
    CHECK(comp.compress(text_payload(200), 50, 2, out) == CompResult::skipped_protocol);
    const CompCounters c = comp.counters();
    CHECK(c.packets_compressed == 1);
    CHECK(c.packets_skipped == 3);
    CHECK(c.bytes_in == 1000 + 60 + 300 + 200);
    CHECK(c.bytes_out == compressed + 60 + 300 + 200);
}

TEST_CASE("ipcomp: inbound CPI is the SA's or the algorithm's well-known 2") {
    IpComp comp;
    const Bytes payload = text_payload(500);
    const Bytes data = raw_deflate(payload, 9, -15, 8);  // another sender's settings
    Bytes out;
    CHECK(comp.decompress(ipcomp_packet(41, 0, 0x0102, data), 0x0102, CompAlg::deflate, out).status ==
          DecompStatus::ok);
    CHECK(out == payload);
    CHECK(comp.decompress(ipcomp_packet(41, 0, 2, data), 0x0102, CompAlg::deflate, out).status == DecompStatus::ok);
    CHECK(out == payload);
    for (uint16_t cpi : {uint16_t(0), uint16_t(1), uint16_t(3), uint16_t(0x0103), uint16_t(0x0201)}) {
        CAPTURE(cpi);
        CHECK(comp.decompress(ipcomp_packet(41, 0, cpi, data), 0x0102, CompAlg::deflate, out).status ==
              DecompStatus::unknown_cpi);
        CHECK(out.empty());
    }
    CHECK(comp.decompress(ipcomp_packet(41, 0, 2, data), 2, static_cast<CompAlg>(3), out).status ==
          DecompStatus::unknown_alg);
}

TEST_CASE("ipcomp: bad flags, nesting, garbage and oversize are rejected") {
    IpComp comp(IpComp::kDefaultLevel, 1000);
    const Bytes payload = text_payload(1000);
    const Bytes data = raw_deflate(payload, 6, -15, 8);
    Bytes out;
    auto status = [&](const Bytes& packet) { return comp.decompress(packet, 0x300, CompAlg::deflate, out).status; };

    CHECK(status(ipcomp_packet(4, 0, 2, data)) == DecompStatus::ok);  // exactly the cap
    CHECK(out.size() == 1000);
    for (uint8_t flags : {uint8_t(1), uint8_t(0x80), uint8_t(0xff)}) {
        CHECK(status(ipcomp_packet(4, flags, 2, data)) == DecompStatus::bad_flags);
        CHECK(out.empty());
    }
    CHECK(status(ipcomp_packet(108, 0, 2, data)) == DecompStatus::nested);
    CHECK(status(Bytes{4, 0, 0, 2}) == DecompStatus::too_short);
    CHECK(status(Bytes{}) == DecompStatus::too_short);
    CHECK(status(ipcomp_packet(4, 0, 2, random_bytes(300, 3))) == DecompStatus::inflate_error);
    CHECK(status(ipcomp_packet(4, 0, 2, Bytes{0xff, 0xff, 0xff, 0xff})) == DecompStatus::inflate_error);
    Bytes truncated(data.begin(), data.end() - 5);
    CHECK(status(ipcomp_packet(4, 0, 2, truncated)) == DecompStatus::inflate_error);
    Bytes trailing = data;
    trailing.push_back(0);
    CHECK(status(ipcomp_packet(4, 0, 2, trailing)) == DecompStatus::inflate_error);
    CHECK(out.empty());
    // One byte over the cap.
    CHECK(status(ipcomp_packet(4, 0, 2, raw_deflate(text_payload(1001), 6, -15, 8))) == DecompStatus::too_big);
    CHECK(out.empty());
    // A deflate bomb stops at the cap, not at its 16 MiB.
    CHECK(status(ipcomp_packet(4, 0, 2, raw_deflate(Bytes(16 << 20, 0), 9, -15, 9))) == DecompStatus::too_big);
    // The stream is reset after a failure: a good packet still inflates.
    CHECK(status(ipcomp_packet(4, 0, 2, data)) == DecompStatus::ok);
    CHECK(out == payload);
}

TEST_CASE("ipcomp: level and cap are checked") {
    CHECK_THROWS_AS(IpComp(-1), std::invalid_argument);
    CHECK_THROWS_AS(IpComp(10), std::invalid_argument);
    CHECK_THROWS_AS(IpComp(1, 0), std::invalid_argument);
    IpComp store(0);  // level 0 stores: never a gain
    Bytes out;
    CHECK(store.compress(text_payload(1000), 4, 2, out) == CompResult::skipped_no_gain);
    CHECK(std::string(to_string(CompResult::skipped_backoff)) == "adaptive back-off");
    CHECK(std::string(to_string(DecompStatus::unknown_cpi)) == "unknown CPI");
}
