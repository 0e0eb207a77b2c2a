// libFuzzer target for the data plane (module/klips.h: Klips::xmit and Klips::rcv). Each input
// gets a fresh Klips holding one fixed world: keyed SA groups (tun+esp ChaCha20-Poly1305,
// transport AH, tun+comp+esp NULL-HMAC+ah, an IPv6 esp), an inbound tun+esp from the peer
// with an `eroute --addin` policy, and eroutes to each of them and to %pass, %drop, %reject,
// %hold, %trap and %trapsubnet. Fresh per input, so a crash reproduces from its input alone
// (only the AEAD IV mask is random, and no check depends on it).
//
// The first byte's low two bits pick what the rest is (its top bit: render the listings too):
//   mode 0  a packet from the host: xmit(rest)
//   mode 1  a packet from the network: rcv(rest)
//   mode 2  a valid packet for rcv, then changed: rest[0] picks an inner packet and the group
//           it goes through, xmit seals it, and the bytes after rest[0] are edits, 3 bytes
//           each (what, where, value: xor, set, cut the packet short, or insert a byte),
//           applied before rcv. With no edits the round trip must deliver the inner packet
//           byte for byte. This is what takes the fuzzer past the ICVs into the crypto and
//           the checks behind them.
//   mode 3  as mode 2, then the unchanged packet too (replay window, chain state)
// Not part of the meson build (it needs clang); the module's sources are compiled with it:
//   clang++-14 -std=c++20 -O1 -g -fsanitize=fuzzer,address,undefined -I/work/main -I/work/main/build \
//       tests/fuzz/packet_path_fuzz.cc kmod_sim/lib/*.cc kmod_sim/module/*.cc crypto/*.cc \
//       -lsodium -lz -o /tmp/packet_path_fuzz
//   /tmp/packet_path_fuzz -max_total_time=600 tests/fuzz/corpus/packet_path
// Properties (a failure is __builtin_trap()): nothing crashes or reads out of bounds; rcv
// answers delivered, passed or dropped only, sends nothing to the wire, and delivers (port
// host, a packet) only with the verdict delivered; passed is the packet unchanged; a delivered
// packet parses as IPv4 or IPv6 (version, header and total length, IPv4 header checksum);
// xmit's verdicts come with their ports (sent: an IPsec or IPIP packet to the wire; passed:
// the packet unchanged; rejected: nothing or an ICMP error to the host; held, trapped,
// dropped: nothing); describe() of any result holds no key bytes, raw or in hex; the
// listings render.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "kmod_sim/lib/ip_address.h"
#include "kmod_sim/lib/pfkey_types.h"
#include "kmod_sim/lib/said.h"
#include "kmod_sim/lib/subnet.h"
#include "kmod_sim/module/clock.h"
#include "kmod_sim/module/klips.h"
#include "kmod_sim/module/packet_result.h"
#include "kmod_sim/module/proc_view.h"
#include "kmod_sim/module/sa_transform.h"
#include "kmod_sim/module/security_association.h"

namespace {

using namespace kmod_sim;
using Bytes = std::vector<uint8_t>;

#define FUZZ_CHECK(cond)              \
    do {                              \
        if (!(cond)) __builtin_trap(); \
    } while (0)

constexpr uint8_t kIcmp = 1, kIpip = 4, kTcp = 6, kUdp = 17, kIpv6InIp = 41, kEsp = 50, kAh = 51, kComp = 108;

constexpr const char* kGwL = "192.1.2.45";  // this gateway
constexpr const char* kGwR = "192.1.2.23";  // the peer
constexpr const char* kGw6L = "2001:db8:ff::1";
constexpr const char* kGw6R = "2001:db8:ff::2";

IpAddress addr(std::string_view text) {
    auto a = ttoaddr(text, AddressFamily::unspecified);
    FUZZ_CHECK(a.ok());
    return *a;
}
Said said_of(std::string_view text) {
    auto s = ttosa(text);
    FUZZ_CHECK(s.ok());
    return *s;
}
Subnet subnet(std::string_view text) {
    auto s = ttosubnet(text, AddressFamily::unspecified);
    FUZZ_CHECK(s.ok());
    return *s;
}

// ---- keys: fixed, distinct, and searched for in every describe()

Bytes key_bytes(size_t size, uint8_t seed) {
    Bytes k(size);
    for (size_t i = 0; i < size; ++i) k[i] = static_cast<uint8_t>(seed + 7 * i);
    return k;
}
const Bytes kEspKey = key_bytes(36, 0x10);      // ChaCha20-Poly1305: key + salt
const Bytes kEspInKey = key_bytes(36, 0x30);    // the inbound tunnel's
const Bytes kEsp6Key = key_bytes(36, 0x50);     // IPv6
const Bytes kAuthKey = key_bytes(32, 0x60);     // AH, HMAC-SHA2-256
const Bytes kNullKey = key_bytes(32, 0x90);     // ESP NULL + HMAC-SHA2-256
const Bytes kAh2Key = key_bytes(64, 0xc0);      // AH, HMAC-SHA2-512
const Bytes* const kKeys[] = {&kEspKey, &kEspInKey, &kEsp6Key, &kAuthKey, &kNullKey, &kAh2Key};

std::string hex(std::span<const uint8_t> b, bool upper) {
    std::string out;
    for (uint8_t v : b) {
        char s[3];
        std::snprintf(s, sizeof s, upper ? "%02X" : "%02x", v);
        out += s;
    }
    return out;
}

// Every 6 consecutive bytes of a key (from every third byte), raw and in hex, made once.
const std::vector<std::string>& key_pieces() {
    static const std::vector<std::string> pieces = [] {
        std::vector<std::string> out;
        for (const Bytes* key : kKeys) {
            for (size_t at = 0; at + 6 <= key->size(); at += 3) {
                const std::span<const uint8_t> piece(key->data() + at, 6);
                out.emplace_back(piece.begin(), piece.end());
                out.push_back(hex(piece, false));
                out.push_back(hex(piece, true));
            }
        }
        return out;
    }();
    return pieces;
}

bool holds_key(std::string_view text) {
    for (const std::string& piece : key_pieces())
        if (text.find(piece) != std::string_view::npos) return true;
    return false;
}

// ---- the world

class Events final : public KlipsEvents {
public:
    bool acquire(std::vector<uint8_t>) override { return true; }  // so %trap installs a %hold
    void expire(std::vector<uint8_t>) override {}
};

SecurityAssociation keyed(SecurityAssociation sa, const Bytes& auth, const Bytes& enc) {
    std::string error;
    sa.transform = make_sa_transform(sa, SaKeys{auth, enc}, &error);
    FUZZ_CHECK(sa.transform != nullptr);
    return sa;
}
SecurityAssociation base(std::string_view said, std::string_view src, uint8_t window = 32) {
    SecurityAssociation sa;
    sa.said = said_of(said);
    sa.src = addr(src);
    sa.replay_window = window;
    return sa;
}
SecurityAssociation esp_chacha(std::string_view said, std::string_view src, const Bytes& key, uint32_t flags = 0) {
    SecurityAssociation sa = base(said, src);
    sa.enc_alg = pfkey::kEncryptChacha20Poly1305;
    sa.enc_key_bits = 288;
    sa.auth_bits = 128;
    sa.flags = flags;
    return keyed(std::move(sa), {}, key);
}
SecurityAssociation esp_null(std::string_view said, std::string_view src, const Bytes& key) {
    SecurityAssociation sa = base(said, src, 64);
    sa.enc_alg = pfkey::kEncryptNull;
    sa.auth_alg = pfkey::kAuthSha2_256;
    sa.auth_bits = 128;
    sa.auth_key_bits = 256;
    return keyed(std::move(sa), key, {});
}
SecurityAssociation ah(std::string_view said, std::string_view src, const Bytes& key, uint8_t alg, uint32_t flags = 0) {
    SecurityAssociation sa = base(said, src, 8);
    sa.auth_alg = alg;
    sa.auth_bits = alg == pfkey::kAuthSha2_256 ? 128 : 256;
    sa.auth_key_bits = static_cast<uint16_t>(key.size() * 8);
    sa.flags = flags;
    return keyed(std::move(sa), key, {});
}
SecurityAssociation comp(std::string_view said, std::string_view src) {
    SecurityAssociation sa = base(said, src, 0);
    sa.enc_alg = pfkey::kCompDeflate;
    return keyed(std::move(sa), {}, {});
}
SecurityAssociation tun(std::string_view said, std::string_view src) {
    return keyed(base(said, src, 0), {}, {});
}

struct World {
    std::shared_ptr<ManualClock> clock = std::make_shared<ManualClock>(1000);
    Events events;
    std::unique_ptr<Klips> klips;
};

void add_sa(Klips& k, SecurityAssociation sa) { FUZZ_CHECK(k.add_sa(std::move(sa)) == 0); }
void group(Klips& k, std::initializer_list<const char*> saids) {
    const std::vector<const char*> v(saids);
    for (size_t i = 0; i + 1 < v.size(); ++i) FUZZ_CHECK(k.group_sas(said_of(v[i]), said_of(v[i + 1])) == 0);
}
void eroute(Klips& k, std::string_view src, std::string_view dst, std::string_view said, uint8_t proto = 0,
            uint16_t dport = 0) {
    auto side = [](std::string_view text, IpAddress* a, IpAddress* mask) {
        const size_t slash = text.find('/');
        *a = addr(text.substr(0, slash));
        *mask = mask_from_bits(a->family(), std::stoi(std::string(text.substr(slash + 1))));
    };
    EroutRequest r;
    side(src, &r.selector.src, &r.selector.src_mask);
    side(dst, &r.selector.dst, &r.selector.dst_mask);
    r.selector.proto = proto;
    r.selector.dport = dport;
    r.selector.dport_mask = dport ? 0xffff : 0;
    r.said = said_of(said);
    r.pid = 4242;
    FUZZ_CHECK(k.add_eroute(r) == 0);
}

std::unique_ptr<World> make_world() {
    auto w = std::make_unique<World>();
    KlipsConfig config;
    config.clock = w->clock;
    const IpAddress local4 = addr(kGwL), local6 = addr(kGw6L);
    config.is_local_address = [local4, local6](const IpAddress& a) { return a == local4 || a == local6; };
    config.events = &w->events;
    w->klips = std::make_unique<Klips>(std::move(config));
    Klips& k = *w->klips;

    // Outbound, to the peer (rcv takes these back in the same instance, as a round trip).
    add_sa(k, tun("tun0x1001@192.1.2.23", kGwL));
    add_sa(k, esp_chacha("esp0x1002@192.1.2.23", kGwL, kEspKey));
    group(k, {"tun0x1001@192.1.2.23", "esp0x1002@192.1.2.23"});
    eroute(k, "192.0.2.0/24", "192.0.1.0/24", "tun0x1001@192.1.2.23");

    add_sa(k, ah("ah0x1004@192.1.2.23", kGwL, kAuthKey, pfkey::kAuthSha2_256, pfkey::kSaFlagXEsn));
    eroute(k, "192.1.2.45/32", "192.1.2.23/32", "ah0x1004@192.1.2.23");

    add_sa(k, tun("tun0x1101@192.1.2.23", kGwL));
    add_sa(k, comp("comp0x1103@192.1.2.23", kGwL));
    add_sa(k, esp_null("esp0x1102@192.1.2.23", kGwL, kNullKey));
    add_sa(k, ah("ah0x1104@192.1.2.23", kGwL, kAh2Key, pfkey::kAuthSha2_512));
    group(k, {"tun0x1101@192.1.2.23", "comp0x1103@192.1.2.23", "esp0x1102@192.1.2.23", "ah0x1104@192.1.2.23"});
    eroute(k, "192.0.3.0/24", "192.0.4.0/24", "tun0x1101@192.1.2.23");

    add_sa(k, tun("tun:1201@2001:db8:ff::2", kGw6L));
    add_sa(k, esp_chacha("esp:1202@2001:db8:ff::2", kGw6L, kEsp6Key, pfkey::kSaFlagXEsn));
    group(k, {"tun:1201@2001:db8:ff::2", "esp:1202@2001:db8:ff::2"});
    eroute(k, "2001:db8:1::/48", "2001:db8:2::/48", "tun:1201@2001:db8:ff::2");

    // Inbound from the peer: a tunnel with an `eroute --addin` policy.
    add_sa(k, tun("tun0x2001@192.1.2.45", kGwR));
    add_sa(k, esp_chacha("esp0x2002@192.1.2.45", kGwR, kEspInKey));
    group(k, {"tun0x2001@192.1.2.45", "esp0x2002@192.1.2.45"});
    FUZZ_CHECK(k.add_inbound_policy(said_of("esp0x2002@192.1.2.45"), subnet("192.0.1.0/24"),
                                    subnet("192.0.2.0/24")) == 0);

    // The magic eroutes, and one to an SA that does not exist.
    eroute(k, "10.1.0.0/16", "10.2.0.0/16", "%pass");
    eroute(k, "10.3.0.0/16", "10.4.0.0/16", "%drop");
    eroute(k, "10.5.0.0/16", "10.6.0.0/16", "%reject");
    eroute(k, "10.7.0.0/16", "10.8.0.0/16", "%hold");
    eroute(k, "10.9.0.0/16", "10.10.0.0/16", "%trap");
    eroute(k, "10.11.0.0/16", "10.12.0.0/16", "%trapsubnet", kTcp, 80);
    eroute(k, "10.13.0.0/16", "0.0.0.0/0", "esp0x9999@192.1.2.23");
    eroute(k, "2001:db8:3::/48", "::/0", "%reject");
    return w;
}

// ---- packets

uint16_t get16(std::span<const uint8_t> b, size_t at) { return static_cast<uint16_t>(b[at] << 8 | b[at + 1]); }
void put16(Bytes& b, size_t at, uint16_t v) {
    b[at] = static_cast<uint8_t>(v >> 8);
    b[at + 1] = static_cast<uint8_t>(v);
}
uint32_t sum16(std::span<const uint8_t> b) {
    uint32_t acc = 0;
    for (size_t i = 0; i + 1 < b.size(); i += 2) acc += uint32_t{b[i]} << 8 | b[i + 1];
    if (b.size() % 2) acc += uint32_t{b.back()} << 8;
    while (acc >> 16) acc = (acc & 0xffff) + (acc >> 16);
    return acc;
}

Bytes ipv4(std::string_view src, std::string_view dst, uint8_t proto, const Bytes& payload) {
    Bytes p(20 + payload.size());
    p[0] = 0x45;
    put16(p, 2, static_cast<uint16_t>(p.size()));
    put16(p, 4, 0x1234);
    p[8] = 64;
    p[9] = proto;
    std::copy_n(addr(src).bytes().data(), 4, p.begin() + 12);
    std::copy_n(addr(dst).bytes().data(), 4, p.begin() + 16);
    put16(p, 10, static_cast<uint16_t>(~sum16(std::span<const uint8_t>(p).first(20))));
    std::copy(payload.begin(), payload.end(), p.begin() + 20);
    return p;
}
Bytes ipv6(std::string_view src, std::string_view dst, uint8_t next, const Bytes& payload) {
    Bytes p(40 + payload.size());
    p[0] = 0x60;
    put16(p, 4, static_cast<uint16_t>(payload.size()));
    p[6] = next;
    p[7] = 64;
    std::copy_n(addr(src).bytes().data(), 16, p.begin() + 8);
    std::copy_n(addr(dst).bytes().data(), 16, p.begin() + 24);
    std::copy(payload.begin(), payload.end(), p.begin() + 40);
    return p;
}
Bytes echo(size_t size, bool compressible) {
    Bytes b(8 + size);
    b[0] = 8;
    uint32_t x = 0x9e3779b9u;
    for (size_t i = 0; i < size; ++i) {
        x ^= x << 13, x ^= x >> 17, x ^= x << 5;
        b[8 + i] = compressible ? static_cast<uint8_t>("kmod-sim "[i % 9]) : static_cast<uint8_t>(x);
    }
    put16(b, 2, static_cast<uint16_t>(~sum16(b)));
    return b;
}
Bytes udp(uint16_t sport, uint16_t dport, size_t size) {
    Bytes b(8 + size, 0xab);
    put16(b, 0, sport);
    put16(b, 2, dport);
    put16(b, 4, static_cast<uint16_t>(b.size()));
    put16(b, 6, 0);
    return b;
}

// Inner packets that xmit seals: one per group, and sizes around the compression threshold.
Bytes template_packet(uint8_t pick) {
    switch (pick % 8) {
    case 0: return ipv4("192.0.2.1", "192.0.1.1", kIcmp, echo(56, false));
    case 1: return ipv4("192.0.2.9", "192.0.1.200", kUdp, udp(1000, 53, 3));
    case 2: return ipv4(kGwL, kGwR, kUdp, udp(4500, 4500, 40));             // transport AH
    case 3: return ipv4("192.0.3.1", "192.0.4.1", kIcmp, echo(400, true));  // compressed
    case 4: return ipv4("192.0.3.1", "192.0.4.1", kIcmp, echo(40, true));   // too small to compress
    case 5: return ipv6("2001:db8:1::1", "2001:db8:2::1", 58, echo(32, false));
    case 6: return ipv4("192.0.2.1", "192.0.1.1", kTcp, Bytes(20, 0));
    default: return ipv4("192.0.3.7", "192.0.4.9", kUdp, udp(1, 2, 900));
    }
}

// An IP packet as it says it is: version, header and total length agreeing with its size, and
// an IPv4 header checksum that verifies.
bool parses_as_ip(std::span<const uint8_t> p) {
    if (p.empty()) return false;
    if (p[0] >> 4 == 4) {
        if (p.size() < 20) return false;
        const size_t ihl = (p[0] & 0x0f) * 4u;
        return ihl >= 20 && ihl <= p.size() && get16(p, 2) == p.size() && sum16(p.first(ihl)) == 0xffff;
    }
    if (p[0] >> 4 == 6) return p.size() >= 40 && 40u + get16(p, 4) == p.size();
    return false;
}
uint8_t protocol_of(std::span<const uint8_t> p) { return p[0] >> 4 == 4 ? p[9] : p[6]; }

// ---- the properties

void check_common(const PacketResult& r) {
    const std::string text = describe(r);
    FUZZ_CHECK(!text.empty());
    FUZZ_CHECK(!holds_key(text));
    FUZZ_CHECK(std::string_view(to_string(r.verdict)).size() > 0);
    FUZZ_CHECK(std::string_view(to_string(r.reason)).size() > 0);
    // A reason comes with a drop, and a drop with its reason.
    FUZZ_CHECK((r.reason != DropReason::none) == (r.verdict == PacketVerdict::dropped));
}

void check_rcv(std::span<const uint8_t> in, const PacketResult& r) {
    check_common(r);
    switch (r.verdict) {
    case PacketVerdict::delivered:
        FUZZ_CHECK(r.port == PacketPort::host);
        FUZZ_CHECK(r.reason == DropReason::none);
        FUZZ_CHECK(r.transforms > 0 && r.has_said);
        FUZZ_CHECK(parses_as_ip(r.packet));
        break;
    case PacketVerdict::passed:
        // Not IPsec's: to the host as it came (cut to its IP total length).
        FUZZ_CHECK(r.port == PacketPort::host);
        FUZZ_CHECK(r.transforms == 0);
        FUZZ_CHECK(r.packet.size() <= in.size() && std::equal(r.packet.begin(), r.packet.end(), in.begin()));
        FUZZ_CHECK(!r.packet.empty());
        {
            const uint8_t proto = protocol_of(r.packet);
            FUZZ_CHECK(proto != kEsp && proto != kAh && proto != kComp);
        }
        break;
    case PacketVerdict::dropped:
        FUZZ_CHECK(r.port == PacketPort::none);
        FUZZ_CHECK(r.packet.empty());
        FUZZ_CHECK(r.reason != DropReason::none);
        break;
    default:
        __builtin_trap();  // rcv never sends, rejects, holds or traps
    }
}

void check_xmit(std::span<const uint8_t> in, const PacketResult& r) {
    check_common(r);
    switch (r.verdict) {
    case PacketVerdict::sent: {
        FUZZ_CHECK(r.port == PacketPort::wire);
        FUZZ_CHECK(r.transforms > 0 && r.has_said);
        FUZZ_CHECK(parses_as_ip(r.packet));
        const uint8_t proto = protocol_of(r.packet);
        FUZZ_CHECK(proto == kEsp || proto == kAh || proto == kComp || proto == kIpip || proto == kIpv6InIp);
        break;
    }
    case PacketVerdict::passed:
        FUZZ_CHECK(r.port == PacketPort::wire);
        FUZZ_CHECK(!r.packet.empty() && r.packet.size() <= in.size() &&
                   std::equal(r.packet.begin(), r.packet.end(), in.begin()));
        break;
    case PacketVerdict::rejected:
        FUZZ_CHECK(r.port == (r.packet.empty() ? PacketPort::none : PacketPort::host));
        if (!r.packet.empty()) {
            FUZZ_CHECK(parses_as_ip(r.packet));
            const uint8_t proto = protocol_of(r.packet);
            FUZZ_CHECK(proto == kIcmp || proto == 58);
        }
        break;
    case PacketVerdict::held:
    case PacketVerdict::trapped:
    case PacketVerdict::dropped:
        FUZZ_CHECK(r.port == PacketPort::none);
        FUZZ_CHECK(r.packet.empty());
        break;
    case PacketVerdict::delivered:
        __builtin_trap();  // xmit never delivers
    }
}

// Edits of 3 bytes each: what, where (scaled to the packet), value.
void apply_edits(Bytes& p, std::span<const uint8_t> edits) {
    for (size_t i = 0; i + 3 <= edits.size() && !p.empty(); i += 3) {
        const size_t at = edits[i + 1] * p.size() / 256;
        const uint8_t v = edits[i + 2];
        switch (edits[i] % 5) {
        case 0: p[at] ^= v ? v : 1; break;
        case 1: p[at] = v; break;
        case 2: p.resize(at); break;
        case 3: p.insert(p.begin() + static_cast<std::ptrdiff_t>(at), v); break;
        default: p[p.size() - 1 - (at % p.size())] ^= static_cast<uint8_t>(1u << (v % 8)); break;  // from the end
        }
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 1) return 0;
    auto world = make_world();
    Klips& k = *world->klips;
    // The buffers are reused from input to input; the flow cache is not (a stamp from another
    // Klips's table could look current), and a small one costs less to make than the default.
    static PacketWork work;
    work.cache = EroutCache(16);
    const std::span<const uint8_t> rest(data + 1, size - 1);
    // The packet is copied: the module reads it while it writes its buffers.
    const Bytes packet(rest.begin(), rest.end());

    switch (data[0] % 4) {
    case 0: {
        check_xmit(packet, k.xmit(packet, work));
        // What a %trap installed, or a %hold keeps, must not change the next answer's shape.
        check_xmit(packet, k.xmit(packet, work));
        break;
    }
    case 1:
        check_rcv(packet, k.rcv(packet, work));
        break;
    default: {
        if (rest.empty()) return 0;
        const Bytes inner = template_packet(rest[0]);
        const PacketResult sealed = k.xmit(inner, work);
        check_xmit(inner, sealed);
        FUZZ_CHECK(sealed.verdict == PacketVerdict::sent);
        const Bytes wire(sealed.packet.begin(), sealed.packet.end());
        Bytes changed = wire;
        const std::span<const uint8_t> edits = rest.subspan(1);
        apply_edits(changed, edits);
        const PacketResult r = k.rcv(changed, work);
        check_rcv(changed, r);
        if (edits.size() < 3) {
            // Unchanged: the round trip gives back the inner packet byte for byte.
            FUZZ_CHECK(r.verdict == PacketVerdict::delivered);
            FUZZ_CHECK(r.packet.size() == inner.size() && std::equal(inner.begin(), inner.end(), r.packet.begin()));
        }
        if (data[0] % 4 == 3) check_rcv(wire, k.rcv(wire, work));
        break;
    }
    }
    // The listings after the packets (when the first byte's top bit is set: they cost more
    // than the packets).
    if (data[0] & 0x80) {
        for (ProcEntry& entry : proc_entries(k)) {
            if (!entry.is_symlink()) FUZZ_CHECK(!holds_key(entry.render()));
        }
    }
    return 0;
}
