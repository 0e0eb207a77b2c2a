// Extended sequence numbers through the data plane (RFC 4303 §2.2.1, RFC 4302 §2.5.1): an SA
// added with pfkey::kSaFlagXEsn (`ipsec spi --esn`) sends 64-bit sequence numbers, of which
// only the low half goes on the wire, and its receiver guesses the high half from its replay
// window (RFC 4303 Appendix A). The outbound counter is started just below 2^32 by setting the
// transform's next_seq, so every test crosses the boundary in a few packets.
//
// Round trips run in one instance, as in test_klips_rcv.cc: the SA that sealed a packet opens
// it, so its counter and its window are the same transform's. What the wire carries is read
// here byte by byte, and an independent crypto::Esp keyed like the SA checks which high half
// the ICV covers.
#include <catch2/catch.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "crypto/esp.h"
#include "dataplane_fixture.h"

using namespace dp;

namespace {

constexpr const char* kLeft = "192.0.2.1";   // a host behind this gateway
constexpr const char* kRight = "192.0.1.1";  // a host behind the peer
constexpr const char* kGwL = "192.1.2.45";   // this gateway
constexpr const char* kGwR = "192.1.2.23";   // the peer
constexpr const char* kTun = "tun0x1001@192.1.2.23";
constexpr const char* kEspSaid = "esp0x1002@192.1.2.23";
constexpr const char* kAhSaid = "ah0x1004@192.1.2.23";

// The fixture's ESP (ChaCha20-Poly1305) and AH (HMAC-SHA2-256-128) SAs, with the ESN flag set
// before the transform is made (make_sa_transform reads it).
SecurityAssociation esn_esp_sa(std::string_view said, const Bytes& key, uint8_t window) {
    SecurityAssociation sa;
    sa.said = said_of(said);
    sa.src = addr(kGwL);
    sa.enc_alg = pfkey::kEncryptChacha20Poly1305;
    sa.auth_alg = pfkey::kAuthNone;
    sa.enc_key_bits = 288;
    sa.replay_window = window;
    sa.flags = pfkey::kSaFlagXEsn;
    attach_transform(sa, {}, key);
    REQUIRE(sa.transform->esp->esn());
    return sa;
}
SecurityAssociation esn_ah_sa(std::string_view said, const Bytes& key, uint8_t window) {
    SecurityAssociation sa;
    sa.said = said_of(said);
    sa.src = addr(kGwL);
    sa.auth_alg = pfkey::kAuthSha2_256;
    sa.auth_bits = 128;
    sa.auth_key_bits = 256;
    sa.replay_window = window;
    sa.flags = pfkey::kSaFlagXEsn;
    attach_transform(sa, key, {});
    REQUIRE(sa.transform->ah->esn());
    return sa;
}

// tun+esp from this gateway to the peer for 192.0.2.0/24 -> 192.0.1.0/24.
void esp_tunnel(Module& m, SecurityAssociation esp) {
    m.add(tun_sa(kTun, kGwL));
    m.add(std::move(esp));
    m.group({kTun, kEspSaid});
    add_eroute(m.k(), "192.0.2.0/24", "192.0.1.0/24", kTun);
}

// The transform stays the test's to reach: Klips's copies of a record (find_sa) leave it out.
using Transform = std::shared_ptr<SaTransform>;

// The SA's outbound counter: the next number xmit uses.
void set_next_seq(const Transform& t, uint64_t next) {
    std::lock_guard lock(t->mutex);
    t->next_seq = next;
}
uint64_t next_seq(const Transform& t) {
    std::lock_guard lock(t->mutex);
    return t->next_seq;
}
uint64_t window_top(const Transform& t) {
    std::lock_guard lock(t->mutex);
    return t->replay.last_seq();
}

// The ESP part of an IPv4 packet (header to ICV) and its wire sequence number.
std::span<const uint8_t> esp_of(const Bytes& wire) {
    const Ip ip = read_ip(wire);
    REQUIRE(ip.proto == kEsp);
    return std::span<const uint8_t>(wire).subspan(ip.header_size, ip.total - ip.header_size);
}
uint32_t wire_seq(const Bytes& wire) {
    const Ip ip = read_ip(wire);
    if (ip.proto == kEsp) return get32(wire, ip.header_size + 4);
    REQUIRE(ip.proto == kAh);
    return get32(wire, ip.header_size + 8);  // next header, length, reserved, SPI, sequence
}

}  // namespace

TEST_CASE("esn: tun+esp round trip across 2^32, the wire carrying the low half", "[esn][esp][roundtrip]") {
    auto m = make_module();
    const Bytes key = esp_key();
    SecurityAssociation esp = esn_esp_sa(kEspSaid, key, 32);
    const Transform t = esp.transform;
    esp_tunnel(*m, std::move(esp));
    set_next_seq(t, 0xffffffff);

    std::vector<Bytes> plain, wire;
    for (uint16_t n = 0; n < 3; ++n) {
        plain.push_back(ping(kLeft, kRight, 64, n));
        wire.push_back(m->sent(plain.back()));
    }
    CHECK(next_seq(t) == 0x100000002);
    CHECK(wire_seq(wire[0]) == 0xffffffff);
    CHECK(wire_seq(wire[1]) == 0);
    CHECK(wire_seq(wire[2]) == 1);

    // The ICV covers the high half (RFC 4303 §2.2.1): an independent ESN object opens the
    // third packet with high half 1 only.
    const crypto::Esp independent(crypto::Cipher::chacha20_poly1305, crypto::Integrity::none, key, true);
    Bytes out;
    CHECK(independent.open(esp_of(wire[2]), 1, out).status == crypto::EspStatus::ok);
    CHECK(independent.open(esp_of(wire[2]), 0, out).status == crypto::EspStatus::icv_mismatch);

    SECTION("received in order") {
        for (size_t i = 0; i < 3; ++i) {
            INFO("packet " << i);
            expect_delivered(m->rcv(wire[i]), plain[i]);
        }
        CHECK(window_top(t) == 0x100000001);
    }
    SECTION("0x100000000 lost: 0x100000001 follows 0xffffffff, then the lost one arrives late") {
        expect_delivered(m->rcv(wire[0]), plain[0]);
        CHECK(window_top(t) == 0xffffffff);
        expect_delivered(m->rcv(wire[2]), plain[2]);
        CHECK(window_top(t) == 0x100000001);
        expect_delivered(m->rcv(wire[1]), plain[1]);  // inside the window, not yet seen
    }
    // Whatever the order, each number is accepted once.
    for (size_t i = 0; i < 3; ++i) {
        INFO("replayed packet " << i);
        expect_dropped(m->rcv(wire[i]), DropReason::replay);
    }
    CHECK(m->sa(kEspSaid).auth_errors == 0);
    CHECK(m->sa(kEspSaid).replay_errors == 3);
}

TEST_CASE("esn: AH round trip across 2^32", "[esn][ah][roundtrip]") {
    auto m = make_module();
    SecurityAssociation ah = esn_ah_sa(kAhSaid, auth_key(), 32);
    const Transform t = ah.transform;
    m->add(std::move(ah));
    add_eroute(m->k(), "192.1.2.45/32", "192.1.2.23/32", kAhSaid);
    set_next_seq(t, 0xffffffff);
    std::vector<Bytes> plain, wire;
    for (uint16_t n = 0; n < 3; ++n) {
        plain.push_back(ipv4(kGwL, kGwR, kUdp, udp(1000, 2000, 40), static_cast<uint16_t>(0x100 + n)));
        wire.push_back(m->sent(plain.back()));
    }
    CHECK(wire_seq(wire[0]) == 0xffffffff);
    CHECK(wire_seq(wire[2]) == 1);
    expect_delivered(m->rcv(wire[0]), plain[0]);
    expect_delivered(m->rcv(wire[2]), plain[2]);
    expect_delivered(m->rcv(wire[1]), plain[1]);
    CHECK(window_top(t) == 0x100000001);
    expect_dropped(m->rcv(wire[2]), DropReason::replay);
}

TEST_CASE("esn: a wrong high-half guess fails authentication", "[esn][esp]") {
    // Far ahead of the window (2^32 + 5 numbers after its top) the receiver guesses the same
    // block, so the ICV, computed over the next block's high half, does not verify.
    auto m = make_module();
    SecurityAssociation esp = esn_esp_sa(kEspSaid, esp_key(), 32);
    const Transform t = esp.transform;
    esp_tunnel(*m, std::move(esp));
    set_next_seq(t, 10);
    const Bytes first = ping(kLeft, kRight, 64, 1);
    expect_delivered(m->rcv(m->sent(first)), first);
    set_next_seq(t, 0x100000000 + 20);
    expect_dropped(m->rcv(m->sent(ping(kLeft, kRight, 64, 2))), DropReason::auth_failed);
    CHECK(m->sa(kEspSaid).auth_errors == 1);
    CHECK(window_top(t) == 10);
}

TEST_CASE("esn: without the flag the counter stops at 2^32 - 1", "[esn][esp]") {
    auto m = make_module();
    SecurityAssociation esp = esp_sa(kEspSaid, kGwL, esp_key());
    const Transform t = esp.transform;
    esp_tunnel(*m, std::move(esp));
    set_next_seq(t, 0xffffffff);
    const Bytes wire = m->sent(ping(kLeft, kRight));
    CHECK(wire_seq(wire) == 0xffffffff);
    const PacketResult r = m->xmit(ping(kLeft, kRight));
    INFO("xmit: " << describe(r));
    CHECK(r.verdict == PacketVerdict::dropped);
    CHECK(r.reason == DropReason::seq_exhausted);
}

TEST_CASE("esn: an SA without a replay window cannot have extended sequence numbers", "[esn]") {
    // RFC 4303 Appendix A2.2: the receiver infers the high half from its window.
    SecurityAssociation sa;
    sa.said = said_of(kEspSaid);
    sa.src = addr(kGwL);
    sa.enc_alg = pfkey::kEncryptChacha20Poly1305;
    sa.enc_key_bits = 288;
    sa.flags = pfkey::kSaFlagXEsn;
    const Bytes key = esp_key();
    std::string error;
    CHECK(make_sa_transform(sa, SaKeys{{}, key}, &error) == nullptr);
    CHECK(error == "extended sequence numbers need a replay window");
    sa.replay_window = 1;
    CHECK(make_sa_transform(sa, SaKeys{{}, key}, &error) != nullptr);
}
