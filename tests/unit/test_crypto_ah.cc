// AH transforms (crypto/ah.h).
//
// Framing and ICV are checked byte for byte against an oracle below that follows RFC 4302
// (§2 layout, §2.6 padding, §3.3.3.1 mutable fields, Appendix A options, §3.3.3.2.2 ESN) and
// RFC 4868 with libsodium's init/update/final calls, building the zeroed packet by hand and
// sharing no code with crypto/ah.cc.
#include <catch2/catch.hpp>

#include <sodium.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "crypto/ah.h"
#include "crypto/algorithms.h"

using namespace kmod_sim::crypto;
using Bytes = std::vector<uint8_t>;

namespace {

Bytes counting(uint8_t first, size_t n) {
    Bytes out(n);
    for (size_t i = 0; i < n; ++i) out[i] = uint8_t(first + i);
    return out;
}

void put16(Bytes& b, uint16_t v) {
    b.push_back(uint8_t(v >> 8));
    b.push_back(uint8_t(v));
}

void put32(Bytes& b, uint32_t v) {
    for (int s = 24; s >= 0; s -= 8) b.push_back(uint8_t(v >> s));
}

void set16(Bytes& b, size_t at, uint16_t v) {
    b[at] = uint8_t(v >> 8);
    b[at + 1] = uint8_t(v);
}

uint16_t ipv4_checksum(const Bytes& b, size_t header_size) {
    uint32_t sum = 0;
    for (size_t i = 0; i < header_size; i += 2)
        if (i != 10) sum += uint32_t(b[i]) << 8 | b[i + 1];
    while (sum > 0xffff) sum = (sum & 0xffff) + (sum >> 16);
    return uint16_t(~sum);
}

// An IPv4 packet: TOS 0xb8 (EF), DF, TTL 64, the given options (a multiple of 4 bytes).
Bytes ipv4(const Bytes& payload, const Bytes& options = {}, uint8_t protocol = 17) {
    const size_t header_size = 20 + options.size();
    Bytes p = {uint8_t(0x40 | header_size / 4), 0xb8};
    put16(p, uint16_t(header_size + payload.size()));
    put16(p, 0x1234);  // identification
    put16(p, 0x4000);  // DF
    p.push_back(64);
    p.push_back(protocol);
    put16(p, 0);
    put32(p, 0xc0a80001);
    put32(p, 0xc0a80202);
    p.insert(p.end(), options.begin(), options.end());
    set16(p, 10, ipv4_checksum(p, header_size));
    p.insert(p.end(), payload.begin(), payload.end());
    return p;
}

// An IPv6 packet: traffic class 0xb8, flow label 0x12345, hop limit 64.
Bytes ipv6(const Bytes& payload, uint8_t next_header = 17) {
    Bytes p = {0x6b, 0x81, 0x23, 0x45};
    put16(p, uint16_t(payload.size()));
    p.push_back(next_header);
    p.push_back(64);
    for (int i = 0; i < 16; ++i) p.push_back(uint8_t(0x20 + i));
    for (int i = 0; i < 16; ++i) p.push_back(uint8_t(0xfe - i));
    p.insert(p.end(), payload.begin(), payload.end());
    return p;
}

size_t header_size(const Bytes& p) { return p[0] >> 4 == 6 ? 40 : size_t(p[0] & 15) * 4; }

Bytes hmac(Integrity integrity, const Bytes& key, const Bytes& input) {
    if (integrity == Integrity::hmac_sha2_256_128) {
        crypto_auth_hmacsha256_state st;
        uint8_t mac[32];
        crypto_auth_hmacsha256_init(&st, key.data(), key.size());
        crypto_auth_hmacsha256_update(&st, input.data(), input.size());
        crypto_auth_hmacsha256_final(&st, mac);
        return Bytes(mac, mac + 16);
    }
    crypto_auth_hmacsha512_state st;
    uint8_t mac[64];
    crypto_auth_hmacsha512_init(&st, key.data(), key.size());
    crypto_auth_hmacsha512_update(&st, input.data(), input.size());
    crypto_auth_hmacsha512_final(&st, mac);
    return Bytes(mac, mac + 32);
}

// The oracle: packet with AH inserted after its IP header, from the RFCs. Knows the options
// the tests use: NOP, EOL, Router Alert (immutable), Timestamp 0x44 (mutable).
Bytes oracle(Integrity integrity, const Bytes& key, bool esn, uint32_t spi, uint64_t seq, const Bytes& packet) {
    const bool v6 = packet[0] >> 4 == 6;
    const size_t hs = header_size(packet);
    const size_t icv = integrity == Integrity::hmac_sha2_256_128 ? 16 : 32;
    const size_t ah_size = v6 ? (12 + icv + 7) / 8 * 8 : 12 + icv;  // §2.6
    Bytes out(packet.begin(), packet.begin() + long(hs));
    const uint8_t next = v6 ? packet[6] : packet[9];
    out.push_back(next);
    out.push_back(uint8_t(ah_size / 4 - 2));
    put16(out, 0);
    put32(out, spi);
    put32(out, uint32_t(seq));
    out.resize(out.size() + ah_size - 12, 0);
    out.insert(out.end(), packet.begin() + long(hs), packet.end());
    if (v6) {
        out[6] = 51;
        set16(out, 4, uint16_t(out.size() - 40));
    } else {
        out[9] = 51;
        set16(out, 2, uint16_t(out.size()));
        set16(out, 10, ipv4_checksum(out, hs));
    }
    Bytes zeroed = out;
    if (v6) {
        zeroed[0] = 0x60;
        zeroed[1] = zeroed[2] = zeroed[3] = 0;
        zeroed[7] = 0;
    } else {
        zeroed[1] = 0;
        zeroed[6] = zeroed[7] = zeroed[8] = 0;
        zeroed[10] = zeroed[11] = 0;
        for (size_t i = 20; i < hs;) {
            if (zeroed[i] == 0) break;
            if (zeroed[i] == 1) {
                ++i;
                continue;
            }
            const size_t len = zeroed[i + 1];
            if (zeroed[i] == 0x44) std::fill(zeroed.begin() + long(i), zeroed.begin() + long(i + len), 0);
            i += len;
        }
    }
    if (esn) put32(zeroed, uint32_t(seq >> 32));
    const Bytes mac = hmac(integrity, key, zeroed);
    std::copy(mac.begin(), mac.end(), out.begin() + long(hs + 12));
    return out;
}

const Integrity kIntegrities[] = {Integrity::hmac_sha2_256_128, Integrity::hmac_sha2_512_256};

Bytes test_key(Integrity integrity) { return counting(0x61, info(integrity).key_bits / 8); }

const Bytes kRouterAlert = {0x94, 0x04, 0x00, 0x00};
// Router Alert, then NOP NOP NOP EOL.
Bytes immutable_options() { return {0x94, 0x04, 0x00, 0x00, 0x01, 0x01, 0x01, 0x00}; }
// Timestamp (mutable: zeroed whole), then Router Alert.
Bytes mixed_options() { return {0x44, 0x08, 0x05, 0x00, 0xaa, 0xbb, 0xcc, 0xdd, 0x94, 0x04, 0x00, 0x00}; }

}  // namespace

TEST_CASE("AH check() and the constructor refuse what RFC 4868 does not fix", "[ah]") {
    CHECK(Ah::check(Integrity::hmac_sha2_256_128, 32).empty());
    CHECK(Ah::check(Integrity::hmac_sha2_512_256, 64).empty());
    CHECK(Ah::check(Integrity::hmac_sha2_256_128, 64) ==
          "AH with hmac-sha2-256-128: key is 64 bytes, must be 32");
    CHECK(Ah::check(Integrity::none, 32) == "AH with none: AH needs hmac-sha2-256-128 or hmac-sha2-512-256");
    const Bytes short_key(31, 1);
    CHECK_THROWS_AS(Ah(Integrity::hmac_sha2_256_128, short_key, false), std::invalid_argument);
    CHECK_THROWS_AS(Ah(Integrity::none, Bytes(32, 1), false), std::invalid_argument);
}

TEST_CASE("AH sizes and Payload Len follow RFC 4302 §2.2 and §2.6", "[ah]") {
    struct Case {
        Integrity integrity;
        bool ipv6;
        size_t size;
        uint8_t payload_len;
    };
    const Case cases[] = {
        {Integrity::hmac_sha2_256_128, false, 28, 5},
        {Integrity::hmac_sha2_256_128, true, 32, 6},
        {Integrity::hmac_sha2_512_256, false, 44, 9},
        {Integrity::hmac_sha2_512_256, true, 48, 10},
    };
    for (const Case& c : cases) {
        const Ah ah(c.integrity, test_key(c.integrity), false);
        CHECK(ah.ah_size(c.ipv6) == c.size);
        const Bytes packet = c.ipv6 ? ipv6(counting(0, 10)) : ipv4(counting(0, 10));
        Bytes out;
        REQUIRE(ah.seal(1, 1, packet, out) == AhStatus::ok);
        CHECK(out.size() == packet.size() + c.size);
        CHECK(out[header_size(packet) + 1] == c.payload_len);
    }
}

TEST_CASE("AH seal matches the RFC oracle byte for byte", "[ah][oracle]") {
    const size_t sizes[] = {0, 1, 3, 8, 20, 63, 64, 100, 1400};
    for (Integrity integrity : kIntegrities) {
        const Bytes key = test_key(integrity);
        for (bool esn : {false, true}) {
            const Ah ah(integrity, key, esn);
            const uint64_t seq = esn ? 0x0000000500000007ULL : 0x80000001ULL;
            for (size_t n : sizes) {
                const Bytes payload = counting(uint8_t(n), n);
                const Bytes packets[] = {ipv4(payload), ipv4(payload, immutable_options()),
                                         ipv4(payload, mixed_options()), ipv6(payload), ipv6(payload, 60)};
                for (const Bytes& packet : packets) {
                    INFO("integrity " << int(integrity) << " esn " << esn << " size " << n << " version "
                                      << (packet[0] >> 4) << " header " << header_size(packet));
                    Bytes out = {1, 2, 3};  // replaced, not appended to
                    REQUIRE(ah.seal(0x11223344, seq, packet, out) == AhStatus::ok);
                    CHECK(out == oracle(integrity, key, esn, 0x11223344, seq, packet));
                }
            }
        }
    }
}

TEST_CASE("AH round trips give back the packet and the SPI and sequence number", "[ah]") {
    for (Integrity integrity : kIntegrities) {
        for (bool esn : {false, true}) {
            const Ah ah(integrity, test_key(integrity), esn);
            const uint64_t seq = esn ? 0x00000003fffffff0ULL : 42;
            for (const Bytes& packet : {ipv4(counting(7, 33)), ipv4(counting(0, 0), mixed_options()),
                                        ipv6(counting(9, 77)), ipv6({})}) {
                Bytes sealed, opened;
                REQUIRE(ah.seal(0xdeadbeef, seq, packet, sealed) == AhStatus::ok);
                const auto peek = Ah::header(sealed);
                REQUIRE(peek);
                CHECK(peek->spi == 0xdeadbeef);
                CHECK(peek->seq_low == uint32_t(seq));
                const AhOpened r = ah.open(sealed, uint32_t(seq >> 32), opened);
                REQUIRE(r.status == AhStatus::ok);
                CHECK(bool(r));
                CHECK(r.spi == 0xdeadbeef);
                CHECK(r.seq == seq);
                CHECK(r.next_header == 17);
                CHECK(opened == packet);
                if (esn) {
                    CHECK(ah.open(sealed, uint32_t(seq >> 32) + 1, opened).status == AhStatus::icv_mismatch);
                    CHECK(opened.empty());
                }
            }
        }
    }
}

namespace {

enum class Flip { rejected, verifies, fragment };

// What a one-bit change at byte i, bit b of a sealed packet must do.
Flip expected(const Bytes& sealed, size_t i, int b) {
    if (sealed[0] >> 4 == 6) {
        if ((i == 0 && b < 4) || i == 1 || i == 2 || i == 3 || i == 7) return Flip::verifies;
        return Flip::rejected;
    }
    if (i == 1 || i == 8 || i == 10 || i == 11) return Flip::verifies;  // TOS, TTL, checksum
    if (i == 6 && b >= 6) return Flip::verifies;                         // reserved flag, DF
    if (i == 6 || i == 7) return Flip::fragment;                         // MF, fragment offset
    // The Timestamp option in mixed_options() is zeroed whole (Appendix A), so its data and
    // its type may change (no one-bit change of 0x44 names an immutable option); a changed
    // length moves the option boundaries and is caught.
    if (header_size(sealed) == 32 && sealed[20] == 0x44 && i >= 20 && i < 28 && i != 21) return Flip::verifies;
    return Flip::rejected;
}

}  // namespace

TEST_CASE("AH: every bit flip in immutable parts is rejected, mutable fields may change", "[ah]") {
    for (Integrity integrity : kIntegrities) {
        for (bool esn : {false, true}) {
            const Ah ah(integrity, test_key(integrity), esn);
            for (const Bytes& packet : {ipv4(counting(1, 21)), ipv4(counting(2, 5), immutable_options()),
                                        ipv4(counting(3, 9), mixed_options()), ipv6(counting(4, 13))}) {
                Bytes sealed, opened;
                REQUIRE(ah.seal(0x01020304, 9, packet, sealed) == AhStatus::ok);
                for (size_t i = 0; i < sealed.size(); ++i) {
                    for (int b = 0; b < 8; ++b) {
                        Bytes bad = sealed;
                        bad[i] ^= uint8_t(1 << b);
                        const AhOpened r = ah.open(bad, 0, opened);
                        INFO("byte " << i << " bit " << b << " status " << to_string(r.status));
                        switch (expected(sealed, i, b)) {
                        case Flip::verifies: {
                            REQUIRE(r.status == AhStatus::ok);
                            // The payload is intact; the mutable field keeps its received value.
                            const size_t hs = header_size(packet);
                            CHECK(Bytes(opened.begin() + long(hs), opened.end()) ==
                                  Bytes(packet.begin() + long(hs), packet.end()));
                            if (i != 10 && i != 11) CHECK(opened[i] == bad[i]);
                            break;
                        }
                        case Flip::fragment: CHECK(r.status == AhStatus::fragment); break;
                        case Flip::rejected:
                            CHECK(r.status != AhStatus::ok);
                            CHECK(opened.empty());
                            break;
                        }
                    }
                }
            }
        }
    }
}

TEST_CASE("AH: the output's IPv4 checksum is valid after mutable changes", "[ah]") {
    const Ah ah(Integrity::hmac_sha2_256_128, test_key(Integrity::hmac_sha2_256_128), false);
    Bytes sealed, opened;
    REQUIRE(ah.seal(5, 5, ipv4(counting(0, 40)), sealed) == AhStatus::ok);
    CHECK(ipv4_checksum(sealed, 20) == uint16_t(sealed[10] << 8 | sealed[11]));
    sealed[8] = 3;     // TTL decremented en route, checksum not updated: both are mutable
    sealed[1] = 0xb9;  // CE marked
    REQUIRE(ah.open(sealed, 0, opened).status == AhStatus::ok);
    CHECK(opened[8] == 3);
    CHECK(opened[1] == 0xb9);
    CHECK(ipv4_checksum(opened, 20) == uint16_t(opened[10] << 8 | opened[11]));
}

TEST_CASE("AH: truncated packets are rejected", "[ah]") {
    for (Integrity integrity : kIntegrities) {
        const Ah ah(integrity, test_key(integrity), false);
        for (const Bytes& packet : {ipv4(counting(1, 30)), ipv6(counting(1, 30))}) {
            Bytes sealed, opened;
            REQUIRE(ah.seal(7, 7, packet, sealed) == AhStatus::ok);
            const bool v6 = packet[0] >> 4 == 6;
            for (size_t n = 0; n < sealed.size(); ++n) {
                INFO("kept " << n);
                Bytes cut(sealed.begin(), sealed.begin() + long(n));
                CHECK(ah.open(cut, 0, opened).status != AhStatus::ok);
                CHECK(opened.empty());
                const size_t hs = v6 ? 40 : 20;
                if (n < hs) continue;
                // With the IP length fields agreeing: the AH header or ICV field is short, or the
                // ICV does not match.
                if (v6) {
                    set16(cut, 4, uint16_t(n - 40));
                } else {
                    set16(cut, 2, uint16_t(n));
                }
                const AhStatus status = ah.open(cut, 0, opened).status;
                if (n < hs + 12) CHECK(status == AhStatus::too_short);
                else if (n < hs + ah.ah_size(v6)) CHECK(status == AhStatus::too_short);
                else CHECK(status == AhStatus::icv_mismatch);
                if (n < hs + 8) CHECK_FALSE(Ah::header(cut));
            }
            // Extra bytes after the IP length are refused too.
            Bytes longer = sealed;
            longer.push_back(0);
            CHECK(ah.open(longer, 0, opened).status == AhStatus::bad_ip_header);
        }
    }
}

TEST_CASE("AH: wrong key, integrity or SPI is rejected", "[ah]") {
    const Bytes key = test_key(Integrity::hmac_sha2_256_128);
    const Ah ah(Integrity::hmac_sha2_256_128, key, false);
    Bytes other_key = key;
    other_key[31] ^= 1;
    const Ah wrong_key(Integrity::hmac_sha2_256_128, other_key, false);
    const Ah wrong_integrity(Integrity::hmac_sha2_512_256, test_key(Integrity::hmac_sha2_512_256), false);
    const Ah with_esn(Integrity::hmac_sha2_256_128, key, true);
    for (const Bytes& packet : {ipv4(counting(0, 64)), ipv6(counting(0, 64))}) {
        Bytes sealed, opened;
        REQUIRE(ah.seal(0x1000, 3, packet, sealed) == AhStatus::ok);
        CHECK(wrong_key.open(sealed, 0, opened).status == AhStatus::icv_mismatch);
        CHECK(wrong_integrity.open(sealed, 0, opened).status == AhStatus::bad_payload_length);
        CHECK(with_esn.open(sealed, 0, opened).status == AhStatus::icv_mismatch);
        Bytes other_spi = sealed;
        other_spi[header_size(packet) + 7] = 0x01;  // SPI 0x1001
        CHECK(Ah::header(other_spi)->spi == 0x1001);
        CHECK(ah.open(other_spi, 0, opened).status == AhStatus::icv_mismatch);
        CHECK(opened.empty());
        CHECK(ah.open(sealed, 0, opened).status == AhStatus::ok);
    }
}

TEST_CASE("AH: ICV padding (IPv6) is hashed as received", "[ah]") {
    const Ah ah(Integrity::hmac_sha2_256_128, test_key(Integrity::hmac_sha2_256_128), false);
    Bytes sealed, opened;
    REQUIRE(ah.seal(1, 1, ipv6(counting(0, 8)), sealed) == AhStatus::ok);
    for (size_t i = 40 + 28; i < 40 + 32; ++i) CHECK(sealed[i] == 0);
    sealed[40 + 30] = 0x55;
    CHECK(ah.open(sealed, 0, opened).status == AhStatus::icv_mismatch);
}

TEST_CASE("AH: what seal and open refuse", "[ah]") {
    const Ah ah(Integrity::hmac_sha2_256_128, test_key(Integrity::hmac_sha2_256_128), false);
    const Ah ah_esn(Integrity::hmac_sha2_256_128, test_key(Integrity::hmac_sha2_256_128), true);
    Bytes out = {1};
    const Bytes packet = ipv4(counting(0, 10));
    CHECK(ah.seal(1, 0, packet, out) == AhStatus::bad_sequence);
    CHECK(out.empty());
    CHECK(ah.seal(1, 0x100000000ULL, packet, out) == AhStatus::bad_sequence);
    CHECK(ah.seal(1, UINT32_MAX, packet, out) == AhStatus::ok);
    CHECK(ah_esn.seal(1, 0x100000000ULL, packet, out) == AhStatus::ok);
    CHECK(ah_esn.seal(1, 0, packet, out) == AhStatus::bad_sequence);

    CHECK(ah.seal(1, 1, {}, out) == AhStatus::bad_ip_header);
    CHECK(ah.seal(1, 1, Bytes(40, 0x50), out) == AhStatus::bad_ip_header);  // version 5
    Bytes fragment = packet;
    fragment[6] = 0x20;  // MF
    CHECK(ah.seal(1, 1, fragment, out) == AhStatus::fragment);
    fragment[6] = 0x00, fragment[7] = 0x10;  // offset
    CHECK(ah.seal(1, 1, fragment, out) == AhStatus::fragment);
    // LSRR is mutable but predictable; we refuse rather than compute the receiver's view.
    CHECK(ah.seal(1, 1, ipv4(counting(0, 4), {0x01, 0x83, 0x07, 0x04, 1, 2, 3, 4}), out) ==
          AhStatus::unsupported_header);
    CHECK(ah.seal(1, 1, ipv4(counting(0, 4), {0x44, 0x09, 0, 0, 0, 0, 0, 0}), out) == AhStatus::bad_ip_header);
    CHECK(ah.seal(1, 1, ipv4(counting(0, 4), {0x44, 0x01, 0, 0}), out) == AhStatus::bad_ip_header);
    CHECK(ah.seal(1, 1, ipv6(counting(0, 8), 0), out) == AhStatus::unsupported_header);   // hop-by-hop
    CHECK(ah.seal(1, 1, ipv6(counting(0, 8), 43), out) == AhStatus::unsupported_header);  // routing
    CHECK(ah.seal(1, 1, ipv6(counting(0, 8), 44), out) == AhStatus::unsupported_header);  // fragment
    CHECK(ah.seal(1, 1, ipv4(Bytes(65535 - 20 - 28, 0)), out) == AhStatus::ok);
    CHECK(ah.seal(1, 1, ipv4(Bytes(65535 - 20 - 27, 0)), out) == AhStatus::too_long);
    CHECK(ah.seal(1, 1, ipv6(Bytes(65535 - 32, 0)), out) == AhStatus::ok);
    CHECK(ah.seal(1, 1, ipv6(Bytes(65535 - 31, 0)), out) == AhStatus::too_long);
    CHECK(out.empty());

    CHECK(ah.open(packet, 0, out).status == AhStatus::not_ah);
    CHECK_FALSE(Ah::header(packet));
    CHECK(ah.open(ipv6(counting(0, 8), 0), 0, out).status == AhStatus::unsupported_header);
    CHECK(ah.open(ipv6(counting(0, 8), 6), 0, out).status == AhStatus::not_ah);
    Bytes sealed;
    REQUIRE(ah.seal(1, 1, packet, sealed) == AhStatus::ok);
    sealed[21] = 6;  // Payload Len
    CHECK(ah.open(sealed, 0, out).status == AhStatus::bad_payload_length);
    CHECK(std::string(to_string(AhStatus::icv_mismatch)) == "ICV mismatch");
}

TEST_CASE("AH: a zero IPv4 identification is given one before the ICV", "[ah]") {
    // A raw socket's kernel replaces a zero Identification, which AH covers (RFC 4302 §3.3.3.1.1.1:
    // immutable), so the packet would fail its check; the source of a whole datagram may pick
    // any (RFC 6864 §4.1).
    const Ah ah(Integrity::hmac_sha2_256_128, test_key(Integrity::hmac_sha2_256_128), false);
    Bytes packet = ipv4(counting(1, 40));
    set16(packet, 4, 0);
    set16(packet, 10, ipv4_checksum(packet, 20));
    for (uint64_t seq : {uint64_t(7), uint64_t(0x10000)}) {
        Bytes sealed, opened;
        REQUIRE(ah.seal(0x100, seq, packet, sealed) == AhStatus::ok);
        const uint16_t id = uint16_t(sealed[4] << 8 | sealed[5]);
        CHECK(id == (seq == 7 ? 7 : 1));  // the sequence number's low half, never 0
        CHECK(ipv4_checksum(sealed, 20) == uint16_t(sealed[10] << 8 | sealed[11]));
        REQUIRE(ah.open(sealed, 0, opened).status == AhStatus::ok);
        CHECK(Bytes(opened.begin() + 20, opened.end()) == Bytes(packet.begin() + 20, packet.end()));
    }
    // A non-zero one is left alone.
    Bytes sealed;
    REQUIRE(ah.seal(0x100, 7, ipv4(counting(1, 40)), sealed) == AhStatus::ok);
    CHECK(sealed[4] == 0x12);
    CHECK(sealed[5] == 0x34);
}
