// Shared helpers for the data-plane tests (test_klips_xmit.cc, test_klips_rcv.cc): packets
// built byte by byte here (headers, checksums), SAs keyed through make_sa_transform, a fake
// KlipsEvents that records ACQUIRE and EXPIRE messages, and a module on a ManualClock.
//
// Nothing here asks the module under test how a packet should look: checksums are computed
// by this file's own RFC 1071 sum, and the crypto/ objects a test opens packets with are
// constructed separately with the same keys.
#pragma once

#include <catch2/catch.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "kmod_sim/lib/ip_address.h"
#include "kmod_sim/lib/pfkey_message.h"
#include "kmod_sim/lib/pfkey_types.h"
#include "kmod_sim/lib/said.h"
#include "kmod_sim/lib/subnet.h"
#include "kmod_sim/module/clock.h"
#include "kmod_sim/module/klips.h"
#include "kmod_sim/module/packet_result.h"
#include "kmod_sim/module/sa_transform.h"
#include "kmod_sim/module/security_association.h"

#include "text_string_makers.h"

namespace Catch {
template <>
struct StringMaker<kmod_sim::PacketVerdict> {
    static std::string convert(kmod_sim::PacketVerdict v) { return kmod_sim::to_string(v); }
};
template <>
struct StringMaker<kmod_sim::DropReason> {
    static std::string convert(kmod_sim::DropReason r) { return kmod_sim::to_string(r); }
};
template <>
struct StringMaker<kmod_sim::PacketPort> {
    static std::string convert(kmod_sim::PacketPort p) {
        return p == kmod_sim::PacketPort::wire ? "wire" : p == kmod_sim::PacketPort::host ? "host" : "none";
    }
};
}  // namespace Catch

namespace dp {

using namespace kmod_sim;
using Bytes = std::vector<uint8_t>;

inline constexpr uint8_t kIcmp = 1;
inline constexpr uint8_t kIpip = 4;
inline constexpr uint8_t kTcp = 6;
inline constexpr uint8_t kUdp = 17;
inline constexpr uint8_t kIpv6InIp = 41;
inline constexpr uint8_t kEsp = 50;
inline constexpr uint8_t kAh = 51;
inline constexpr uint8_t kIcmpv6 = 58;
inline constexpr uint8_t kComp = 108;

// ---- bytes

inline uint16_t get16(std::span<const uint8_t> b, size_t at) {
    return static_cast<uint16_t>(b[at] << 8 | b[at + 1]);
}
inline uint32_t get32(std::span<const uint8_t> b, size_t at) {
    return uint32_t{b[at]} << 24 | uint32_t{b[at + 1]} << 16 | uint32_t{b[at + 2]} << 8 | b[at + 3];
}
inline void put16(Bytes& b, size_t at, uint16_t v) {
    b[at] = static_cast<uint8_t>(v >> 8);
    b[at + 1] = static_cast<uint8_t>(v);
}
inline void put32(Bytes& b, size_t at, uint32_t v) {
    for (int i = 0; i < 4; ++i) b[at + i] = static_cast<uint8_t>(v >> (24 - 8 * i));
}
inline Bytes bytes_of(std::span<const uint8_t> s) { return Bytes(s.begin(), s.end()); }

// RFC 1071 one's-complement sum, folded, not complemented.
inline uint32_t sum16(std::span<const uint8_t> b, uint32_t acc = 0) {
    for (size_t i = 0; i + 1 < b.size(); i += 2) acc += uint32_t{b[i]} << 8 | b[i + 1];
    if (b.size() % 2) acc += uint32_t{b.back()} << 8;
    while (acc >> 16) acc = (acc & 0xffff) + (acc >> 16);
    return acc;
}
inline uint16_t checksum(std::span<const uint8_t> b) { return static_cast<uint16_t>(~sum16(b) & 0xffff); }
// A region whose checksum field is filled in sums to 0xffff.
inline bool checksum_ok(std::span<const uint8_t> b) { return sum16(b) == 0xffff; }

// The ICMPv6 / UDP-over-IPv6 checksum over the RFC 8200 §8.1 pseudo-header.
inline bool icmpv6_checksum_ok(std::span<const uint8_t> packet) {
    const size_t len = packet.size() - 40;
    Bytes pseudo(40, 0);
    std::copy(packet.begin() + 8, packet.begin() + 40, pseudo.begin());
    put32(pseudo, 32, static_cast<uint32_t>(len));
    pseudo[39] = packet[6];
    return sum16(packet.subspan(40), sum16(pseudo)) == 0xffff;
}

// ---- addresses, SAIDs, subnets

inline IpAddress addr(std::string_view text) {
    auto a = ttoaddr(text, AddressFamily::unspecified);
    INFO("address " << std::string(text));
    REQUIRE(a.ok());
    return *a;
}
inline Said said_of(std::string_view text) {
    auto s = ttosa(text);
    INFO("SAID " << std::string(text));
    REQUIRE(s.ok());
    return *s;
}
inline Subnet subnet(std::string_view text) {
    auto s = ttosubnet(text, AddressFamily::unspecified);
    INFO("subnet " << std::string(text));
    REQUIRE(s.ok());
    return *s;
}
inline std::string said_text(const Said& s) { return satot(s, SaidFormat::hex); }

// ---- packets

// A payload of `size` bytes: a repeated short text, so deflate shrinks it a lot.
inline Bytes compressible(size_t size) {
    const std::string_view text = "kmod-sim compressible payload ";
    Bytes b(size);
    for (size_t i = 0; i < size; ++i) b[i] = static_cast<uint8_t>(text[i % text.size()]);
    return b;
}
// A payload deflate cannot shrink: a fixed xorshift sequence (deterministic).
inline Bytes incompressible(size_t size) {
    Bytes b(size);
    uint32_t x = 0x9e3779b9u;
    for (size_t i = 0; i < size; ++i) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        b[i] = static_cast<uint8_t>(x);
    }
    return b;
}

// IPv4: IHL 5, TTL 64, the given protocol, id, TOS; checksum computed here.
inline Bytes ipv4(std::string_view src, std::string_view dst, uint8_t proto, std::span<const uint8_t> payload,
                  uint16_t id = 0x1234, uint8_t tos = 0) {
    Bytes p(20 + payload.size());
    p[0] = 0x45;
    p[1] = tos;
    put16(p, 2, static_cast<uint16_t>(p.size()));
    put16(p, 4, id);
    p[8] = 64;
    p[9] = proto;
    const IpAddress s = addr(src), d = addr(dst);
    REQUIRE(s.is_v4());
    REQUIRE(d.is_v4());
    std::copy_n(s.bytes().data(), 4, p.begin() + 12);
    std::copy_n(d.bytes().data(), 4, p.begin() + 16);
    put16(p, 10, checksum(std::span<const uint8_t>(p).first(20)));
    std::copy(payload.begin(), payload.end(), p.begin() + 20);
    return p;
}
// Rewrites an IPv4 header's checksum after a test changed the header.
inline void fix_ipv4_checksum(Bytes& p) {
    put16(p, 10, 0);
    const size_t ihl = (p[0] & 0x0f) * 4u;
    put16(p, 10, checksum(std::span<const uint8_t>(p).first(ihl)));
}

inline Bytes ipv6(std::string_view src, std::string_view dst, uint8_t next, std::span<const uint8_t> payload) {
    Bytes p(40 + payload.size());
    p[0] = 0x60;
    put16(p, 4, static_cast<uint16_t>(payload.size()));
    p[6] = next;
    p[7] = 64;
    const IpAddress s = addr(src), d = addr(dst);
    REQUIRE(s.is_v6());
    REQUIRE(d.is_v6());
    std::copy_n(s.bytes().data(), 16, p.begin() + 8);
    std::copy_n(d.bytes().data(), 16, p.begin() + 24);
    std::copy(payload.begin(), payload.end(), p.begin() + 40);
    return p;
}

// ICMP echo request (type 8; ICMPv6 128) with `data_size` bytes of data; the ICMPv4
// checksum is filled in (the ICMPv6 one is irrelevant to these tests and left 0).
inline Bytes icmp_echo(size_t data_size, uint16_t seq = 1, bool v6 = false, bool compressible_data = true) {
    Bytes b(8);
    b[0] = v6 ? 128 : 8;
    put16(b, 4, 0x4242);
    put16(b, 6, seq);
    Bytes data = compressible_data ? compressible(data_size) : incompressible(data_size);
    b.insert(b.end(), data.begin(), data.end());
    if (!v6) put16(b, 2, checksum(b));
    return b;
}
inline Bytes ping(std::string_view src, std::string_view dst, size_t data_size = 56, uint16_t seq = 1) {
    return ipv4(src, dst, kIcmp, icmp_echo(data_size, seq));
}
inline Bytes ping6(std::string_view src, std::string_view dst, size_t data_size = 56, uint16_t seq = 1) {
    return ipv6(src, dst, kIcmpv6, icmp_echo(data_size, seq, true));
}
// UDP header with checksum 0 (allowed for IPv4; these tests never check it).
inline Bytes udp(uint16_t sport, uint16_t dport, size_t data_size = 20) {
    Bytes b(8 + data_size, 0xab);
    put16(b, 0, sport);
    put16(b, 2, dport);
    put16(b, 4, static_cast<uint16_t>(b.size()));
    put16(b, 6, 0);
    return b;
}

// What an IP packet says about itself, read here (not through the module's parser).
struct Ip {
    uint8_t version = 0;
    size_t header_size = 0;
    size_t total = 0;
    uint8_t proto = 0;
    IpAddress src, dst;
};
inline Ip read_ip(std::span<const uint8_t> p) {
    Ip ip;
    REQUIRE(p.size() >= 20);
    ip.version = p[0] >> 4;
    if (ip.version == 4) {
        ip.header_size = (p[0] & 0x0f) * 4u;
        ip.total = get16(p, 2);
        ip.proto = p[9];
        ip.src = IpAddress::from_bytes(AddressFamily::inet, p.subspan(12, 4));
        ip.dst = IpAddress::from_bytes(AddressFamily::inet, p.subspan(16, 4));
    } else {
        REQUIRE(ip.version == 6);
        REQUIRE(p.size() >= 40);
        ip.header_size = 40;
        ip.total = 40u + get16(p, 4);
        ip.proto = p[6];
        ip.src = IpAddress::from_bytes(AddressFamily::inet6, p.subspan(8, 16));
        ip.dst = IpAddress::from_bytes(AddressFamily::inet6, p.subspan(24, 16));
    }
    return ip;
}

// ---- keys and SAs

// Fixed, distinct key bytes: 36 for ChaCha20-Poly1305 (key + salt), 32 for HMAC-SHA2-256.
inline Bytes key_bytes(size_t size, uint8_t seed) {
    Bytes k(size);
    for (size_t i = 0; i < size; ++i) k[i] = static_cast<uint8_t>(seed + 7 * i);
    return k;
}
inline Bytes esp_key(uint8_t seed = 0x10) { return key_bytes(36, seed); }
inline Bytes auth_key(uint8_t seed = 0x60) { return key_bytes(32, seed); }

// An independent ESP/AH object holding the same key as the SA under test.
inline crypto::Esp esp_crypto(const Bytes& key) {
    return crypto::Esp(crypto::Cipher::chacha20_poly1305, crypto::Integrity::none, key, false);
}
inline crypto::Esp esp_null_crypto(const Bytes& key) {
    return crypto::Esp(crypto::Cipher::null, crypto::Integrity::hmac_sha2_256_128, key, false);
}
inline crypto::Ah ah_crypto(const Bytes& key) { return crypto::Ah(crypto::Integrity::hmac_sha2_256_128, key, false); }

inline void attach_transform(SecurityAssociation& sa, const Bytes& auth, const Bytes& enc) {
    std::string error;
    sa.transform = make_sa_transform(sa, SaKeys{auth, enc}, &error);
    INFO("make_sa_transform: " << error);
    REQUIRE(sa.transform);
}

// ESP with ChaCha20-Poly1305 (RFC 7634).
inline SecurityAssociation esp_sa(std::string_view said, std::string_view src, const Bytes& key,
                                  uint8_t replay_window = 32) {
    SecurityAssociation sa;
    sa.said = said_of(said);
    if (!src.empty()) sa.src = addr(src);
    sa.enc_alg = pfkey::kEncryptChacha20Poly1305;
    sa.auth_alg = pfkey::kAuthNone;
    sa.enc_key_bits = 288;
    sa.replay_window = replay_window;
    attach_transform(sa, {}, key);
    return sa;
}
// ESP with NULL encryption and HMAC-SHA2-256-128 (RFC 2410, RFC 4868).
inline SecurityAssociation esp_null_sa(std::string_view said, std::string_view src, const Bytes& key,
                                       uint8_t replay_window = 32) {
    SecurityAssociation sa;
    sa.said = said_of(said);
    if (!src.empty()) sa.src = addr(src);
    sa.enc_alg = pfkey::kEncryptNull;
    sa.auth_alg = pfkey::kAuthSha2_256;
    sa.auth_bits = 128;
    sa.auth_key_bits = 256;
    sa.replay_window = replay_window;
    attach_transform(sa, key, {});
    return sa;
}
inline SecurityAssociation ah_sa(std::string_view said, std::string_view src, const Bytes& key,
                                 uint8_t replay_window = 32) {
    SecurityAssociation sa;
    sa.said = said_of(said);
    if (!src.empty()) sa.src = addr(src);
    sa.auth_alg = pfkey::kAuthSha2_256;
    sa.auth_bits = 128;
    sa.auth_key_bits = 256;
    sa.replay_window = replay_window;
    attach_transform(sa, key, {});
    return sa;
}
inline SecurityAssociation comp_sa(std::string_view said, std::string_view src) {
    SecurityAssociation sa;
    sa.said = said_of(said);
    if (!src.empty()) sa.src = addr(src);
    sa.enc_alg = pfkey::kCompDeflate;
    attach_transform(sa, {}, {});
    return sa;
}
inline SecurityAssociation tun_sa(std::string_view said, std::string_view src) {
    SecurityAssociation sa;
    sa.said = said_of(said);
    sa.src = addr(src);
    attach_transform(sa, {}, {});
    return sa;
}

// ---- the module

// Records what the data plane sends to the PF_KEY sockets.
class RecordingEvents final : public KlipsEvents {
public:
    bool accept_acquire = true;
    std::vector<Bytes> acquires, expires;
    bool acquire(std::vector<uint8_t> message) override {
        acquires.push_back(std::move(message));
        return accept_acquire;
    }
    void expire(std::vector<uint8_t> message) override { expires.push_back(std::move(message)); }
};

inline pfkey::Message decoded(const Bytes& datagram) {
    auto m = pfkey::decode(datagram);
    REQUIRE(m.ok());
    return *m;
}

struct Module {
    std::shared_ptr<ManualClock> clock = std::make_shared<ManualClock>(1000);
    std::unique_ptr<RecordingEvents> events = std::make_unique<RecordingEvents>();
    std::unique_ptr<Klips> klips;
    PacketWork work;

    Klips& k() { return *klips; }
    PacketResult xmit(std::span<const uint8_t> packet) { return klips->xmit(packet, work); }
    PacketResult rcv(std::span<const uint8_t> packet) { return klips->rcv(packet, work); }
    // xmit, and a copy of what came out (the result's span dies with the next packet).
    Bytes sent(std::span<const uint8_t> packet) {
        const PacketResult r = xmit(packet);
        INFO("xmit: " << describe(r));
        REQUIRE(r.verdict == PacketVerdict::sent);
        REQUIRE(r.port == PacketPort::wire);
        return bytes_of(r.packet);
    }
    void add(SecurityAssociation sa) {
        const std::string name = said_text(sa.said);
        INFO("add_sa " << name);
        REQUIRE(klips->add_sa(std::move(sa)) == 0);
    }
    // spigrp inner → outer.
    void group(std::initializer_list<std::string_view> saids) {
        std::vector<std::string_view> v(saids);
        for (size_t i = 0; i + 1 < v.size(); ++i) {
            INFO("group " << std::string(v[i]) << " " << std::string(v[i + 1]));
            REQUIRE(klips->group_sas(said_of(v[i]), said_of(v[i + 1])) == 0);
        }
    }
    SecurityAssociation sa(std::string_view said) const {
        auto s = klips->find_sa(said_of(said));
        INFO("find_sa " << std::string(said));
        REQUIRE(s.has_value());
        return *s;
    }
    bool has_sa(std::string_view said) const { return klips->find_sa(said_of(said)).has_value(); }
};

// `local` decides which addresses are this host's (the SA direction); the events fake is
// attached unless with_events is false.
inline std::unique_ptr<Module> make_module(std::vector<std::string> local = {}, bool with_events = true) {
    auto m = std::make_unique<Module>();
    KlipsConfig config;
    config.clock = m->clock;
    std::vector<IpAddress> locals;
    for (const auto& l : local) locals.push_back(addr(l));
    config.is_local_address = [locals](const IpAddress& a) {
        for (const auto& l : locals)
            if (l == a) return true;
        return false;
    };
    config.events = with_events ? m->events.get() : nullptr;
    m->klips = std::make_unique<Klips>(std::move(config));
    return m;
}

// "ADDR/BITS" sides, as an ADDFLOW carries them; a given port gets mask 0xffff.
inline EroutSelector flow(std::string_view src, std::string_view dst, uint8_t proto = 0, uint16_t sport = 0,
                          uint16_t dport = 0) {
    auto side = [](std::string_view text, IpAddress* a, IpAddress* mask) {
        const size_t slash = text.find('/');
        REQUIRE(slash != std::string_view::npos);
        *a = addr(text.substr(0, slash));
        *mask = mask_from_bits(a->family(), std::stoi(std::string(text.substr(slash + 1))));
    };
    EroutSelector s;
    side(src, &s.src, &s.src_mask);
    side(dst, &s.dst, &s.dst_mask);
    s.proto = proto;
    s.sport = sport;
    s.dport = dport;
    s.sport_mask = sport ? 0xffff : 0;
    s.dport_mask = dport ? 0xffff : 0;
    return s;
}
inline void add_eroute(Klips& k, std::string_view src, std::string_view dst, std::string_view said,
                       uint32_t pid = 4242) {
    EroutRequest r;
    r.selector = flow(src, dst);
    r.said = said_of(said);
    r.pid = pid;
    INFO("add_eroute " << std::string(src) << " -> " << std::string(dst) << " => " << std::string(said));
    REQUIRE(k.add_eroute(r) == 0);
}

// The eroute listing as "src/bits -> dst/bits => SAID count" (lib printers only).
inline std::string row_text(const EroutRow& r) {
    return addrtot(r.src) + "/" + std::to_string(mask_bits(r.src_mask)) + " -> " + addrtot(r.dst) + "/" +
           std::to_string(mask_bits(r.dst_mask)) + " => " + said_text(r.said) + " " + std::to_string(r.count);
}
inline std::vector<std::string> eroute_listing(const Klips& k) {
    std::vector<std::string> out;
    for (const EroutRow& r : k.eroute_rows()) out.push_back(row_text(r));
    return out;
}
inline std::optional<EroutRow> eroute_row(const Klips& k, std::string_view src, std::string_view dst) {
    const EroutSelector s = flow(src, dst);
    for (const EroutRow& r : k.eroute_rows()) {
        if (r.src.masked(r.src_mask) == s.src.masked(s.src_mask) && r.src_mask == s.src_mask &&
            r.dst.masked(r.dst_mask) == s.dst.masked(s.dst_mask) && r.dst_mask == s.dst_mask) {
            return r;
        }
    }
    return std::nullopt;
}

// The held packets of the eroute with this selector, taken back by a REPLACEFLOW to the
// same SAID (§6.5: the old eroute's er_first and er_last come back for re-injection).
inline HeldPackets take_held(Klips& k, std::string_view src, std::string_view dst, std::string_view said) {
    EroutRequest r;
    r.selector = flow(src, dst);
    r.said = said_of(said);
    r.pid = 4242;
    std::unique_ptr<HeldPackets> held;
    REQUIRE(k.replace_eroute(r, &held) == 0);
    return held ? *held : HeldPackets{};
}

// What rcv answered, checked: delivered to the host byte for byte, or dropped for `why`
// with nothing out.
inline void expect_delivered(const PacketResult& r, const Bytes& original) {
    INFO("rcv: " << describe(r));
    CHECK(r.verdict == PacketVerdict::delivered);
    CHECK(r.reason == DropReason::none);
    CHECK(r.port == PacketPort::host);
    CHECK(bytes_of(r.packet) == original);
}

inline void expect_dropped(const PacketResult& r, DropReason why) {
    INFO("rcv: " << describe(r));
    CHECK(r.verdict == PacketVerdict::dropped);
    CHECK(r.reason == why);
    CHECK(r.port == PacketPort::none);
    CHECK(r.packet.empty());
}

}  // namespace dp
