// TUN offloads (kmod_sim/daemon/tun_offload.h): TunSegmenter does what the kernel's GSO
// (tcp_gso_segment) and checksum offload would do to a read with a struct virtio_net_hdr;
// TunCoalescer does what GRO would do before a write. Packets are built here by hand and
// checked against the RFCs (RFC 791 §3.1, RFC 793 §3.1, RFC 768, RFC 8200 §8.1, RFC 1071)
// and the Linux semantics of virtio_net_hdr (CHECKSUM_PARTIAL: the field holds the folded,
// not complemented, pseudo-header sum), never against what the code produced before.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <random>
#include <span>
#include <vector>

#include "kmod_sim/daemon/tun_offload.h"

using namespace kmod_sim::daemon;
using Bytes = std::vector<uint8_t>;

namespace {

constexpr uint8_t kFin = 0x01, kSyn = 0x02, kRst = 0x04, kPsh = 0x08, kAck = 0x10, kCwr = 0x80;
constexpr uint8_t kTcp = 6, kUdp = 17, kIcmp = 1;

const Bytes kSrc4{192, 0, 2, 1};
const Bytes kDst4{198, 51, 100, 7};
const Bytes kSrc6{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
const Bytes kDst6{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xbe, 0xef};

uint16_t get16(const uint8_t* p) { return uint16_t(p[0] << 8 | p[1]); }
uint32_t get32(const uint8_t* p) { return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | p[3]; }
void put16(uint8_t* p, uint16_t v) { p[0] = uint8_t(v >> 8); p[1] = uint8_t(v); }
void put32(uint8_t* p, uint32_t v) { p[0] = uint8_t(v >> 24); p[1] = uint8_t(v >> 16); p[2] = uint8_t(v >> 8); p[3] = uint8_t(v); }

// RFC 1071, written out independently of the code under test.
uint32_t sum_words(std::span<const uint8_t> b, uint32_t sum = 0) {
    for (size_t i = 0; i < b.size(); i += 2) sum += uint32_t(b[i]) << 8 | (i + 1 < b.size() ? b[i + 1] : 0);
    return sum;
}
uint16_t fold16(uint32_t sum) {
    while (sum > 0xffff) sum = (sum & 0xffff) + (sum >> 16);
    return uint16_t(sum);
}

// RFC 793 §3.1 (IPv4: source, destination, zero, protocol, TCP/UDP length) and RFC 8200 §8.1
// (IPv6: source, destination, 32-bit upper-layer length, three zero bytes, next header).
uint32_t pseudo_sum(std::span<const uint8_t> ip, uint8_t proto, uint32_t length) {
    if ((ip[0] >> 4) == 4) return sum_words(ip.subspan(12, 8)) + proto + length;
    Bytes ph(ip.begin() + 8, ip.begin() + 40);
    for (int s = 24; s >= 0; s -= 8) ph.push_back(uint8_t(length >> s));
    ph.insert(ph.end(), {0, 0, 0, proto});
    return sum_words(ph);
}

size_t l4_offset(std::span<const uint8_t> ip) { return (ip[0] >> 4) == 4 ? size_t(ip[0] & 0x0f) * 4 : 40; }

// A transport checksum is valid when pseudo-header + segment (field included) sums to 0xffff.
bool l4_checksum_ok(std::span<const uint8_t> ip, uint8_t proto) {
    const size_t l4 = l4_offset(ip);
    const uint32_t len = uint32_t(ip.size() - l4);
    return fold16(sum_words(ip.subspan(l4), pseudo_sum(ip, proto, len))) == 0xffff;
}
bool ipv4_header_ok(std::span<const uint8_t> ip) {
    return fold16(sum_words(ip.subspan(0, size_t(ip[0] & 0x0f) * 4))) == 0xffff;
}

void set_l4_checksum(Bytes& ip, uint8_t proto) {
    const size_t l4 = l4_offset(ip);
    const size_t field = l4 + (proto == kUdp ? 6 : 16);
    put16(&ip[field], 0);
    uint16_t c = uint16_t(~fold16(sum_words({ip.data() + l4, ip.size() - l4}, pseudo_sum(ip, proto, uint32_t(ip.size() - l4)))));
    if (proto == kUdp && c == 0) c = 0xffff;
    put16(&ip[field], c);
}
void set_ipv4_header_checksum(Bytes& ip) {
    put16(&ip[10], 0);
    put16(&ip[10], uint16_t(~fold16(sum_words({ip.data(), size_t(ip[0] & 0x0f) * 4}))));
}

struct Ip4 {
    uint8_t tos = 0;
    uint16_t id = 0x1000;
    uint16_t frag = 0x4000;  // DF
    uint8_t ttl = 64;
    uint8_t proto = kTcp;
    Bytes options;           // IHL > 5 when not empty
    Bytes src = kSrc4, dst = kDst4;
};

Bytes ipv4(const Ip4& h, const Bytes& l4) {
    Bytes p(20 + h.options.size());
    p[0] = uint8_t(0x40 | (p.size() / 4));
    p[1] = h.tos;
    put16(&p[2], uint16_t(p.size() + l4.size()));
    put16(&p[4], h.id);
    put16(&p[6], h.frag);
    p[8] = h.ttl;
    p[9] = h.proto;
    std::copy(h.src.begin(), h.src.end(), p.begin() + 12);
    std::copy(h.dst.begin(), h.dst.end(), p.begin() + 16);
    std::copy(h.options.begin(), h.options.end(), p.begin() + 20);
    set_ipv4_header_checksum(p);
    p.insert(p.end(), l4.begin(), l4.end());
    return p;
}

Bytes ipv6(uint8_t next, const Bytes& l4) {
    Bytes p(40);
    p[0] = 0x60;
    put16(&p[4], uint16_t(l4.size()));
    p[6] = next;
    p[7] = 64;
    std::copy(kSrc6.begin(), kSrc6.end(), p.begin() + 8);
    std::copy(kDst6.begin(), kDst6.end(), p.begin() + 24);
    p.insert(p.end(), l4.begin(), l4.end());
    return p;
}

// RFC 7323 timestamps, padded by two NOPs: 12 bytes, a 32-byte TCP header.
Bytes timestamps(uint32_t tsval, uint32_t tsecr) {
    Bytes o{1, 1, 8, 10, 0, 0, 0, 0, 0, 0, 0, 0};
    put32(&o[4], tsval);
    put32(&o[8], tsecr);
    return o;
}

struct Tcp {
    uint16_t sport = 40000, dport = 443;
    uint32_t seq = 1000000, ack = 0x55667788;
    uint8_t flags = kAck;
    uint16_t window = 502;
    Bytes options = timestamps(111, 222);
};

Bytes tcp(const Tcp& t, const Bytes& payload) {
    Bytes s(20 + t.options.size());
    put16(&s[0], t.sport);
    put16(&s[2], t.dport);
    put32(&s[4], t.seq);
    put32(&s[8], t.ack);
    s[12] = uint8_t((s.size() / 4) << 4);
    s[13] = t.flags;
    put16(&s[14], t.window);
    std::copy(t.options.begin(), t.options.end(), s.begin() + 20);
    s.insert(s.end(), payload.begin(), payload.end());
    return s;
}

Bytes udp(uint16_t sport, uint16_t dport, const Bytes& payload) {
    Bytes s(8);
    put16(&s[0], sport);
    put16(&s[2], dport);
    put16(&s[4], uint16_t(8 + payload.size()));
    s.insert(s.end(), payload.begin(), payload.end());
    return s;
}

// Whole packets with valid checksums.
Bytes tcp4(const Ip4& h, const Tcp& t, const Bytes& payload) {
    Bytes p = ipv4(h, tcp(t, payload));
    set_l4_checksum(p, kTcp);
    return p;
}
Bytes tcp6(const Tcp& t, const Bytes& payload) {
    Bytes p = ipv6(kTcp, tcp(t, payload));
    set_l4_checksum(p, kTcp);
    return p;
}
Bytes udp4(const Ip4& h, uint16_t sport, uint16_t dport, const Bytes& payload) {
    Ip4 u = h;
    u.proto = kUdp;
    Bytes p = ipv4(u, udp(sport, dport, payload));
    set_l4_checksum(p, kUdp);
    return p;
}

Bytes pattern(size_t n, uint8_t seed = 0) {
    Bytes b(n);
    for (size_t i = 0; i < n; ++i) b[i] = uint8_t(i * 7 + seed + (i >> 8));
    return b;
}
Bytes random_bytes(std::mt19937& rng, size_t n) {
    Bytes b(n);
    for (auto& x : b) x = uint8_t(rng());
    return b;
}

VnetHeader vnet(uint8_t flags, uint8_t gso_type, uint16_t hdr_len, uint16_t gso_size, uint16_t csum_start,
                uint16_t csum_offset) {
    VnetHeader v{};
    v.flags = flags;
    v.gso_type = gso_type;
    v.hdr_len = hdr_len;
    v.gso_size = gso_size;
    v.csum_start = csum_start;
    v.csum_offset = csum_offset;
    return v;
}

Bytes frame(const VnetHeader& v, const Bytes& packet) {
    Bytes f(kVnetHeaderSize);
    std::memcpy(f.data(), &v, sizeof v);
    f.insert(f.end(), packet.begin(), packet.end());
    return f;
}

VnetHeader header_of(std::span<const uint8_t> f) {
    VnetHeader v;
    std::memcpy(&v, f.data(), sizeof v);
    return v;
}
bool zero_header(std::span<const uint8_t> f) {
    return f.size() >= kVnetHeaderSize &&
           std::all_of(f.begin(), f.begin() + kVnetHeaderSize, [](uint8_t b) { return b == 0; });
}
Bytes packet_of(std::span<const uint8_t> f) { return Bytes(f.begin() + kVnetHeaderSize, f.end()); }

std::vector<Bytes> split(TunSegmenter& s, Bytes f) {
    std::vector<Bytes> out;
    for (auto p : s.split(f)) out.emplace_back(p.begin(), p.end());
    return out;
}

// A super-packet as the kernel hands a TSO read to the TUN reader: the TCP checksum field holds
// the pseudo-header sum over the whole TCP length (CHECKSUM_PARTIAL); the segmenter must not rely on it.
Bytes partial(Bytes p, uint8_t proto) {
    const size_t l4 = l4_offset(p);
    put16(&p[l4 + (proto == kUdp ? 6 : 16)], fold16(pseudo_sum(p, proto, uint32_t(p.size() - l4))));
    return p;
}

struct Sink {
    std::vector<Bytes> frames;
    static void take(void* context, std::span<const uint8_t> f) {
        static_cast<Sink*>(context)->frames.emplace_back(f.begin(), f.end());
    }
};

// Segment `i` of a flow of `size`-byte payloads: contiguous seq, incrementing IP IDs, DF.
struct Flow {
    Ip4 ip;
    Tcp tcp;
    size_t size = 1448;
    Bytes segment(size_t i, uint8_t flags = kAck, size_t payload = 0) const {
        Ip4 h = ip;
        h.id = uint16_t(ip.id + i);
        Tcp t = tcp;
        t.seq = tcp.seq + uint32_t(i * size);
        t.flags = flags;
        return tcp4(h, t, pattern(payload ? payload : size, uint8_t(i)));
    }
};

size_t l4_header_end(std::span<const uint8_t> ip) {
    const size_t l4 = l4_offset(ip);
    return ip[9] == kUdp ? l4 + 8 : l4 + size_t(ip[l4 + 12] >> 4) * 4;
}

// Checks a coalesced TCPV4/UDP_L4 frame made of `parts` (in order) and returns nothing.
void check_super(const Bytes& f, const std::vector<Bytes>& parts) {
    REQUIRE(parts.size() >= 2);
    const Bytes& first = parts.front();
    const bool is_udp = first[9] == kUdp;
    const size_t hdr = l4_header_end(first);
    const VnetHeader v = header_of(f);
    CHECK(v.flags == kVnetNeedsCsum);
    CHECK(v.gso_type == (is_udp ? 5 : kVnetGsoTcpv4));
    CHECK(v.hdr_len == hdr);
    CHECK(v.gso_size == first.size() - hdr);
    CHECK(v.csum_start == 20);
    CHECK(v.csum_offset == (is_udp ? 6 : 16));
    const Bytes p = packet_of(f);
    Bytes want_payload;
    for (const auto& s : parts) want_payload.insert(want_payload.end(), s.begin() + long(hdr), s.end());
    REQUIRE(p.size() == hdr + want_payload.size());
    CHECK(p.size() <= TunCoalescer::kMaxSize);
    CHECK(get16(&p[2]) == p.size());
    CHECK(ipv4_header_ok(p));
    CHECK(get16(&p[4]) == get16(&first[4]));  // the first segment's ID
    // Everything of the first header but total length, IP checksum and L4 length/checksum.
    CHECK(std::equal(p.begin() + 12, p.begin() + 20, first.begin() + 12));
    CHECK(p[1] == first[1]);
    CHECK(get16(&p[6]) == get16(&first[6]));
    CHECK(p[8] == first[8]);
    CHECK(p[9] == first[9]);
    if (is_udp) {
        CHECK(get16(&p[24]) == p.size() - 20);
        CHECK(get16(&p[26]) == fold16(pseudo_sum(p, kUdp, uint32_t(p.size() - 20))));
    } else {
        CHECK(std::equal(p.begin() + 20, p.begin() + 33, first.begin() + 20));  // ports, seq, ack, offset
        CHECK((p[33] & ~kPsh) == kAck);
        CHECK(((p[33] & kPsh) != 0) == ((parts.back()[33] & kPsh) != 0));
        CHECK(std::equal(p.begin() + 34, p.begin() + 36, first.begin() + 34));  // window
        CHECK(std::equal(p.begin() + 38, p.begin() + long(hdr), first.begin() + 38));  // urg, options
        CHECK(get16(&p[36]) == fold16(pseudo_sum(p, kTcp, uint32_t(p.size() - 20))));
    }
    CHECK(Bytes(p.begin() + long(hdr), p.end()) == want_payload);
}

void check_alone(const Bytes& f, const Bytes& packet) {
    CHECK(zero_header(f));
    CHECK(packet_of(f) == packet);
}

}  // namespace

// ---------------------------------------------------------------- TunSegmenter

TEST_CASE("TSO IPv4: ACK|PSH|CWR super-packet split like tcp_gso_segment", "[tun_offload][segmenter]") {
    const uint16_t mss = 1448;
    const size_t total = 5000;
    const Bytes payload = pattern(total, 3);
    Ip4 h;
    h.id = 0xfffe;  // the IDs wrap: 0xfffe, 0xffff, 0, 1
    Tcp t;
    t.seq = 0xfffff000;  // and so does the sequence number
    t.flags = kAck | kPsh | kCwr;
    const Bytes super = partial(tcp4(h, t, payload), kTcp);
    TunSegmenter seg;
    const auto out = split(seg, frame(vnet(kVnetNeedsCsum, kVnetGsoTcpv4, 52, mss, 20, 16), super));
    REQUIRE(out.size() == (total + mss - 1) / mss);
    for (size_t i = 0; i < out.size(); ++i) {
        INFO("segment " << i);
        const Bytes& s = out[i];
        const size_t size = std::min<size_t>(mss, total - i * mss);
        REQUIRE(s.size() == 52 + size);
        CHECK(s[0] == 0x45);
        CHECK(get16(&s[2]) == s.size());
        CHECK(get16(&s[4]) == uint16_t(0xfffe + i));
        CHECK(get16(&s[6]) == 0x4000);
        CHECK(s[8] == 64);
        CHECK(s[9] == kTcp);
        CHECK(ipv4_header_ok(s));
        CHECK(std::equal(s.begin() + 12, s.begin() + 24, super.begin() + 12));  // addresses, ports
        CHECK(get32(&s[24]) == uint32_t(t.seq + i * mss));
        CHECK(get32(&s[28]) == t.ack);
        CHECK(s[32] == super[32]);
        const bool last = i + 1 == out.size();
        uint8_t want = kAck;
        if (last) want |= kPsh;
        if (i == 0) want |= kCwr;
        CHECK(s[33] == want);
        CHECK(get16(&s[34]) == t.window);
        CHECK(std::equal(s.begin() + 40, s.begin() + 52, super.begin() + 40));  // timestamps
        CHECK(Bytes(s.begin() + 52, s.end()) == Bytes(payload.begin() + long(i * mss), payload.begin() + long(i * mss + size)));
        CHECK(l4_checksum_ok(s, kTcp));
    }
}

TEST_CASE("TSO IPv4: FIN only on the last segment", "[tun_offload][segmenter]") {
    Tcp t;
    t.flags = kAck | kFin;
    const Bytes super = partial(tcp4(Ip4{}, t, pattern(3000)), kTcp);
    TunSegmenter seg;
    const auto out = split(seg, frame(vnet(kVnetNeedsCsum, kVnetGsoTcpv4, 52, 1000, 20, 16), super));
    REQUIRE(out.size() == 3);
    CHECK(out[0][33] == kAck);
    CHECK(out[1][33] == kAck);
    CHECK(out[2][33] == (kAck | kFin));
    for (const auto& s : out) {
        CHECK(s.size() == 1052);
        CHECK(ipv4_header_ok(s));
        CHECK(l4_checksum_ok(s, kTcp));
    }
}

TEST_CASE("TSO IPv4: ECN bit in gso_type, payload an exact multiple", "[tun_offload][segmenter]") {
    Tcp t;
    t.flags = kAck | kCwr;
    const Bytes super = partial(tcp4(Ip4{}, t, pattern(4 * 500)), kTcp);
    TunSegmenter seg;
    const auto out = split(seg, frame(vnet(kVnetNeedsCsum, kVnetGsoTcpv4 | kVnetGsoEcn, 52, 500, 20, 16), super));
    REQUIRE(out.size() == 4);
    for (size_t i = 0; i < 4; ++i) {
        CHECK(out[i].size() == 552);
        CHECK(out[i][33] == (i == 0 ? (kAck | kCwr) : kAck));
        CHECK(l4_checksum_ok(out[i], kTcp));
    }
}

TEST_CASE("TSO IPv6: RFC 8200 payload length and pseudo-header", "[tun_offload][segmenter]") {
    const uint16_t mss = 1428;
    const size_t total = 5000;
    const Bytes payload = pattern(total, 9);
    Tcp t;
    t.flags = kAck | kPsh | kCwr;
    const Bytes super = partial(tcp6(t, payload), kTcp);
    TunSegmenter seg;
    const auto out = split(seg, frame(vnet(kVnetNeedsCsum, kVnetGsoTcpv6, 72, mss, 40, 16), super));
    REQUIRE(out.size() == (total + mss - 1) / mss);
    for (size_t i = 0; i < out.size(); ++i) {
        INFO("segment " << i);
        const Bytes& s = out[i];
        const size_t size = std::min<size_t>(mss, total - i * mss);
        REQUIRE(s.size() == 72 + size);
        CHECK(std::equal(s.begin(), s.begin() + 4, super.begin()));
        CHECK(get16(&s[4]) == s.size() - 40);
        CHECK(std::equal(s.begin() + 6, s.begin() + 40, super.begin() + 6));  // next header, hop limit, addresses
        CHECK(get32(&s[44]) == uint32_t(t.seq + i * mss));
        const bool last = i + 1 == out.size();
        CHECK(s[53] == uint8_t(kAck | (last ? kPsh : 0) | (i == 0 ? kCwr : 0)));
        CHECK(Bytes(s.begin() + 72, s.end()) == Bytes(payload.begin() + long(i * mss), payload.begin() + long(i * mss + size)));
        CHECK(l4_checksum_ok(s, kTcp));
    }
}

TEST_CASE("NEEDS_CSUM without GSO completes TCP and UDP checksums", "[tun_offload][segmenter]") {
    TunSegmenter seg;
    SECTION("IPv4 TCP") {
        const Bytes good = tcp4(Ip4{}, Tcp{}, pattern(777));
        const auto out = split(seg, frame(vnet(kVnetNeedsCsum, kVnetGsoNone, 0, 0, 20, 16), partial(good, kTcp)));
        REQUIRE(out.size() == 1);
        CHECK(out[0] == good);
        CHECK(l4_checksum_ok(out[0], kTcp));
    }
    SECTION("IPv6 TCP") {
        const Bytes good = tcp6(Tcp{}, pattern(333));
        const auto out = split(seg, frame(vnet(kVnetNeedsCsum, kVnetGsoNone, 0, 0, 40, 16), partial(good, kTcp)));
        REQUIRE(out.size() == 1);
        CHECK(out[0] == good);
    }
    SECTION("IPv4 UDP") {
        const Bytes good = udp4(Ip4{}, 5353, 53, pattern(101));  // odd length: a padded last byte
        const auto out = split(seg, frame(vnet(kVnetNeedsCsum, kVnetGsoNone, 0, 0, 20, 6), partial(good, kUdp)));
        REQUIRE(out.size() == 1);
        CHECK(out[0] == good);
        CHECK(l4_checksum_ok(out[0], kUdp));
    }
    SECTION("IPv4 UDP whose checksum computes to 0 is sent as 0xffff (RFC 768)") {
        // Two payload bytes chosen so that the whole sum folds to 0xffff: ~sum == 0.
        Bytes payload = pattern(40);
        payload[38] = payload[39] = 0;
        Bytes p = udp4(Ip4{}, 1234, 4321, payload);
        put16(&p[26], 0);
        const uint16_t s = fold16(sum_words({p.data() + 20, p.size() - 20}, pseudo_sum(p, kUdp, uint32_t(p.size() - 20))));
        put16(&p[p.size() - 2], uint16_t(0xffff - s));
        put16(&p[26], 0);
        REQUIRE(fold16(sum_words({p.data() + 20, p.size() - 20}, pseudo_sum(p, kUdp, uint32_t(p.size() - 20)))) == 0xffff);
        const auto out = split(seg, frame(vnet(kVnetNeedsCsum, kVnetGsoNone, 0, 0, 20, 6), partial(p, kUdp)));
        REQUIRE(out.size() == 1);
        CHECK(get16(&out[0][26]) == 0xffff);
        CHECK(l4_checksum_ok(out[0], kUdp));
        CHECK(std::equal(out[0].begin(), out[0].begin() + 26, p.begin()));
        CHECK(std::equal(out[0].begin() + 28, out[0].end(), p.begin() + 28));
    }
}

TEST_CASE("A plain packet (no flags, no GSO) comes back unchanged", "[tun_offload][segmenter]") {
    Bytes p = tcp4(Ip4{}, Tcp{}, pattern(200));
    put16(&p[36], 0xbeef);  // even a wrong checksum is not the reader's business
    TunSegmenter seg;
    const auto out = split(seg, frame(vnet(0, kVnetGsoNone, 0, 0, 0, 0), p));
    REQUIRE(out.size() == 1);
    CHECK(out[0] == p);
    const Bytes u = udp4(Ip4{}, 1, 2, pattern(30));
    const auto out6 = split(seg, frame(vnet(0, kVnetGsoNone, 0, 0, 0, 0), u));
    REQUIRE(out6.size() == 1);
    CHECK(out6[0] == u);
}

TEST_CASE("Malformed or unsupported reads give nothing", "[tun_offload][segmenter]") {
    TunSegmenter seg;
    const Bytes super = partial(tcp4(Ip4{}, Tcp{}, pattern(3000)), kTcp);
    const VnetHeader tso = vnet(kVnetNeedsCsum, kVnetGsoTcpv4, 52, 1448, 20, 16);
    REQUIRE(split(seg, frame(tso, super)).size() == 3);  // the well-formed baseline
    SECTION("shorter than a vnet header and an IPv4 header (30 bytes)") {
        Bytes f = frame(tso, super);
        f.resize(29);
        CHECK(split(seg, f).empty());
        f.resize(kVnetHeaderSize);
        CHECK(split(seg, f).empty());
        CHECK(split(seg, Bytes{}).empty());
    }
    SECTION("IP version 5") {
        Bytes p = super;
        p[0] = 0x55;
        CHECK(split(seg, frame(tso, p)).empty());
        CHECK(split(seg, frame(vnet(0, kVnetGsoNone, 0, 0, 0, 0), p)).empty());
    }
    SECTION("gso_type UDP (3) is not offered") {
        const Bytes u = udp4(Ip4{}, 1, 2, pattern(3000));
        CHECK(split(seg, frame(vnet(kVnetNeedsCsum, 3, 28, 1000, 20, 6), u)).empty());
    }
    SECTION("gso_type UDP_L4 (5) is not offered") {
        const Bytes u = udp4(Ip4{}, 1, 2, pattern(3000));
        CHECK(split(seg, frame(vnet(kVnetNeedsCsum, 5, 28, 1000, 20, 6), u)).empty());
    }
    SECTION("TCPV4 on an IPv6 packet, TCPV6 on an IPv4 one") {
        const Bytes p6 = partial(tcp6(Tcp{}, pattern(3000)), kTcp);
        CHECK(split(seg, frame(vnet(kVnetNeedsCsum, kVnetGsoTcpv4, 72, 1448, 40, 16), p6)).empty());
        CHECK(split(seg, frame(vnet(kVnetNeedsCsum, kVnetGsoTcpv6, 52, 1448, 20, 16), super)).empty());
    }
    SECTION("csum_start beyond the packet") {
        CHECK(split(seg, frame(vnet(kVnetNeedsCsum, kVnetGsoTcpv4, 52, 1448, uint16_t(super.size() + 4), 16), super)).empty());
        CHECK(split(seg, frame(vnet(kVnetNeedsCsum, kVnetGsoTcpv4, 52, 1448, uint16_t(super.size() - 10), 16), super)).empty());
        const Bytes small = tcp4(Ip4{}, Tcp{}, pattern(10));
        CHECK(split(seg, frame(vnet(kVnetNeedsCsum, kVnetGsoNone, 0, 0, uint16_t(small.size()), 16), small)).empty());
        CHECK(split(seg, frame(vnet(kVnetNeedsCsum, kVnetGsoNone, 0, 0, 20, uint16_t(small.size())), small)).empty());
    }
    SECTION("gso_size 0") {
        CHECK(split(seg, frame(vnet(kVnetNeedsCsum, kVnetGsoTcpv4, 52, 0, 20, 16), super)).empty());
    }
    SECTION("TCP data offset beyond the packet") {
        Bytes p = tcp4(Ip4{}, Tcp{}, Bytes{});  // 52 bytes, data offset 8
        p[32] = 0xf0;                             // 60 bytes of TCP header claimed
        CHECK(split(seg, frame(vnet(kVnetNeedsCsum, kVnetGsoTcpv4, 52, 1448, 20, 16), p)).empty());
    }
}

// Linux tcp_gso_segment: `thlen = th->doff * 4; if (thlen < sizeof(*th)) goto out;` — a TCP
// header shorter than 20 bytes is refused. The gso_size here is large enough that a
// segmenter which does not check only writes inside its own buffer (with a small gso_size the
// checksum of the last segment is written past the end of the segment buffer).
TEST_CASE("TSO with a TCP data offset below 5 is refused", "[tun_offload][segmenter]") {
    Bytes p = tcp4(Ip4{}, Tcp{}, pattern(100));
    p[32] = 0x00;
    TunSegmenter seg;
    CHECK(split(seg, frame(vnet(kVnetNeedsCsum, kVnetGsoTcpv4, 20, 1448, 20, 16), p)).empty());
}

// ---------------------------------------------------------------- TunCoalescer

TEST_CASE("GRO: a run of equal TCP segments becomes one TCPV4 super-packet", "[tun_offload][coalescer]") {
    Sink sink;
    TunCoalescer c(&Sink::take, &sink);
    Flow flow;
    std::vector<Bytes> segs;
    for (size_t i = 0; i < 10; ++i) segs.push_back(flow.segment(i));
    for (const auto& s : segs) c.add(s);
    CHECK(sink.frames.empty());  // pending until the end of the batch
    c.flush();
    REQUIRE(sink.frames.size() == 1);
    check_super(sink.frames[0], segs);
    const Bytes p = packet_of(sink.frames[0]);
    CHECK(p.size() == 52 + 10 * 1448);
    CHECK(header_of(sink.frames[0]).hdr_len == 52);
    CHECK(header_of(sink.frames[0]).gso_size == 1448);
    CHECK(p[33] == kAck);
    c.flush();
    CHECK(sink.frames.size() == 1);  // nothing left
}

TEST_CASE("GRO: a shorter segment ends the run", "[tun_offload][coalescer]") {
    Sink sink;
    TunCoalescer c(&Sink::take, &sink);
    Flow flow;
    std::vector<Bytes> run;
    for (size_t i = 0; i < 5; ++i) run.push_back(flow.segment(i));
    run.push_back(flow.segment(5, kAck, 500));
    for (const auto& s : run) c.add(s);
    // The next in sequence after the short one, and one after it.
    Flow next = flow;
    next.tcp.seq = flow.tcp.seq + 5 * 1448 + 500;
    next.ip.id = uint16_t(flow.ip.id + 6);
    const Bytes a = next.segment(0), b = next.segment(1);
    c.add(a);
    c.add(b);
    c.flush();
    REQUIRE(sink.frames.size() == 2);
    check_super(sink.frames[0], run);
    CHECK(header_of(sink.frames[0]).gso_size == 1448);
    check_super(sink.frames[1], {a, b});
}

TEST_CASE("GRO: a longer segment does not join", "[tun_offload][coalescer]") {
    Sink sink;
    TunCoalescer c(&Sink::take, &sink);
    Flow flow;
    flow.size = 1000;
    const Bytes s0 = flow.segment(0), s1 = flow.segment(1);
    Tcp t = flow.tcp;
    t.seq += 2000;
    Ip4 h = flow.ip;
    h.id = uint16_t(h.id + 2);
    const Bytes big = tcp4(h, t, pattern(1200));
    c.add(s0);
    c.add(s1);
    c.add(big);
    c.flush();
    REQUIRE(sink.frames.size() == 2);
    check_super(sink.frames[0], {s0, s1});
    check_alone(sink.frames[1], big);
}

TEST_CASE("GRO: a PSH segment is the last of its run", "[tun_offload][coalescer]") {
    Sink sink;
    TunCoalescer c(&Sink::take, &sink);
    Flow flow;
    std::vector<Bytes> run{flow.segment(0), flow.segment(1), flow.segment(2), flow.segment(3, kAck | kPsh)};
    for (const auto& s : run) c.add(s);
    const Bytes after4 = flow.segment(4), after5 = flow.segment(5);
    c.add(after4);
    c.add(after5);
    c.flush();
    REQUIRE(sink.frames.size() == 2);
    check_super(sink.frames[0], run);
    CHECK(packet_of(sink.frames[0])[33] == (kAck | kPsh));
    check_super(sink.frames[1], {after4, after5});
    CHECK(packet_of(sink.frames[1])[33] == kAck);
}

TEST_CASE("GRO: a PSH segment first is alone", "[tun_offload][coalescer]") {
    Sink sink;
    TunCoalescer c(&Sink::take, &sink);
    Flow flow;
    const Bytes s0 = flow.segment(0, kAck | kPsh), s1 = flow.segment(1), s2 = flow.segment(2);
    c.add(s0);
    c.add(s1);
    c.add(s2);
    c.flush();
    REQUIRE(sink.frames.size() == 2);
    check_alone(sink.frames[0], s0);
    check_super(sink.frames[1], {s1, s2});
}

TEST_CASE("GRO: a single segment is written alone, byte for byte", "[tun_offload][coalescer]") {
    Sink sink;
    TunCoalescer c(&Sink::take, &sink);
    const Bytes s = Flow{}.segment(0);
    c.add(s);
    c.flush();
    REQUIRE(sink.frames.size() == 1);
    CHECK(sink.frames[0].size() == kVnetHeaderSize + s.size());
    check_alone(sink.frames[0], s);
}

TEST_CASE("GRO: what breaks a run starts a new frame, in order", "[tun_offload][coalescer]") {
    Flow flow;
    // s0, s1, X, s3, s4: X (a modified segment 2, or another kind of packet) must not join
    // s0+s1, and s3+s4 (which do not continue X) form a run of their own.
    Bytes x;
    Ip4 h = flow.ip;
    h.id = uint16_t(h.id + 2);
    Tcp t = flow.tcp;
    t.seq += 2 * 1448;
    const Bytes body = pattern(1448, 2);
    SECTION("different source port") { t.sport = uint16_t(t.sport + 1); x = tcp4(h, t, body); }
    SECTION("different destination port") { t.dport = 8443; x = tcp4(h, t, body); }
    SECTION("different destination address") { h.dst = Bytes{198, 51, 100, 8}; x = tcp4(h, t, body); }
    SECTION("sequence gap") { t.seq += 1; x = tcp4(h, t, body); }
    SECTION("sequence overlap") { t.seq -= 1; x = tcp4(h, t, body); }
    SECTION("different ACK") { t.ack += 1448; x = tcp4(h, t, body); }
    SECTION("different window") { t.window = uint16_t(t.window + 1); x = tcp4(h, t, body); }
    SECTION("different timestamp") { t.options = timestamps(112, 222); x = tcp4(h, t, body); }
    SECTION("different timestamp echo") { t.options = timestamps(111, 223); x = tcp4(h, t, body); }
    SECTION("no options") { t.options.clear(); x = tcp4(h, t, body); }
    SECTION("different TOS") { h.tos = 0x02; x = tcp4(h, t, body); }
    SECTION("different TTL") { h.ttl = 63; x = tcp4(h, t, body); }
    SECTION("DF cleared") { h.frag = 0; x = tcp4(h, t, body); }
    SECTION("SYN") { t.flags = kSyn | kAck; x = tcp4(h, t, body); }
    SECTION("FIN") { t.flags = kFin | kAck; x = tcp4(h, t, body); }
    SECTION("RST") { t.flags = kRst | kAck; x = tcp4(h, t, body); }
    SECTION("no ACK") { t.flags = 0; x = tcp4(h, t, body); }
    SECTION("CWR") { t.flags = kCwr | kAck; x = tcp4(h, t, body); }
    SECTION("pure ACK, no payload") { x = tcp4(h, t, Bytes{}); }
    SECTION("ICMP echo request") {
        h.proto = kIcmp;
        Bytes icmp{8, 0, 0, 0, 0x12, 0x34, 0, 1};
        const Bytes data = pattern(56);
        icmp.insert(icmp.end(), data.begin(), data.end());
        put16(&icmp[2], uint16_t(~fold16(sum_words(icmp))));
        x = ipv4(h, icmp);
    }
    SECTION("UDP of the same addresses") { x = udp4(h, 40000, 443, body); }
    SECTION("IPv6 TCP") { x = tcp6(t, body); }
    SECTION("a fragment (MF)") { h.frag = 0x2000; x = tcp4(h, t, body); }
    SECTION("a fragment (offset)") {
        h.frag = 185;  // 1480 bytes in; not parseable as TCP at all
        x = ipv4(h, body);
    }
    SECTION("IP options (IHL 6)") { h.options = {1, 1, 1, 0}; x = tcp4(h, t, body); }
    SECTION("total length disagrees with the packet") {
        x = tcp4(h, t, body);
        x.push_back(0);  // a trailing byte
    }
    const Bytes s0 = flow.segment(0), s1 = flow.segment(1), s3 = flow.segment(3), s4 = flow.segment(4);
    Sink sink;
    TunCoalescer c(&Sink::take, &sink);
    for (const Bytes* p : {&s0, &s1, static_cast<const Bytes*>(&x), &s3, &s4}) c.add(*p);
    c.flush();
    REQUIRE(sink.frames.size() == 3);
    check_super(sink.frames[0], {s0, s1});
    check_alone(sink.frames[1], x);
    check_super(sink.frames[2], {s3, s4});
}

TEST_CASE("GRO: non-coalescable packets pass alone and in order", "[tun_offload][coalescer]") {
    Sink sink;
    TunCoalescer c(&Sink::take, &sink);
    std::vector<Bytes> in;
    Ip4 icmp;
    icmp.proto = kIcmp;
    in.push_back(ipv4(icmp, {8, 0, 0xf7, 0xff, 0, 0, 0, 0}));
    in.push_back(tcp6(Tcp{}, pattern(100)));
    Tcp syn;
    syn.flags = kSyn;
    in.push_back(tcp4(Ip4{}, syn, Bytes{}));
    in.push_back(Bytes{0x45, 0, 0, 20});  // truncated garbage still goes through, alone
    for (const auto& p : in) c.add(p);
    c.flush();
    REQUIRE(sink.frames.size() == in.size());
    for (size_t i = 0; i < in.size(); ++i) check_alone(sink.frames[i], in[i]);
}

TEST_CASE("GRO: at most 64 segments", "[tun_offload][coalescer]") {
    Sink sink;
    TunCoalescer c(&Sink::take, &sink);
    Flow flow;
    flow.size = 1000;  // 65 * 1000 + 52 < 65535: only the count limits
    std::vector<Bytes> segs;
    for (size_t i = 0; i < 65; ++i) segs.push_back(flow.segment(i));
    for (const auto& s : segs) c.add(s);
    c.flush();
    REQUIRE(sink.frames.size() >= 2);
    REQUIRE(sink.frames.size() == 2);
    check_super(sink.frames[0], std::vector<Bytes>(segs.begin(), segs.begin() + 64));
    check_alone(sink.frames[1], segs[64]);
}

TEST_CASE("GRO: at most 65535 bytes", "[tun_offload][coalescer]") {
    Sink sink;
    TunCoalescer c(&Sink::take, &sink);
    Flow flow;  // 1448-byte payloads: 45 fit (65212 bytes), 46 do not (66660)
    std::vector<Bytes> segs;
    for (size_t i = 0; i < 50; ++i) segs.push_back(flow.segment(i));
    for (const auto& s : segs) c.add(s);
    c.flush();
    REQUIRE(sink.frames.size() >= 2);
    Bytes payload, want;
    for (const auto& s : segs) want.insert(want.end(), s.begin() + 52, s.end());
    for (const auto& f : sink.frames) {
        const Bytes p = packet_of(f);
        CHECK(p.size() <= 65535);
        CHECK(get16(&p[2]) == p.size());
        payload.insert(payload.end(), p.begin() + 52, p.end());
    }
    CHECK(payload == want);
    REQUIRE(sink.frames.size() == 2);
    check_super(sink.frames[0], std::vector<Bytes>(segs.begin(), segs.begin() + 45));
    check_super(sink.frames[1], std::vector<Bytes>(segs.begin() + 45, segs.end()));
}

TEST_CASE("GRO: UDP datagrams of one flow and equal size become one UDP_L4 frame", "[tun_offload][coalescer]") {
    Sink sink;
    TunCoalescer c(&Sink::take, &sink);
    std::vector<Bytes> dgrams;
    for (size_t i = 0; i < 20; ++i) {
        Ip4 h;
        h.id = uint16_t(0x2000 + i);
        dgrams.push_back(udp4(h, 5000, 6000, pattern(64, uint8_t(i))));
    }
    for (const auto& d : dgrams) c.add(d);
    c.flush();
    REQUIRE(sink.frames.size() == 1);
    check_super(sink.frames[0], dgrams);
    const VnetHeader v = header_of(sink.frames[0]);
    CHECK(v.gso_type == 5);
    CHECK(v.csum_offset == 6);
    CHECK(v.hdr_len == 28);
    CHECK(v.gso_size == 64);
    const Bytes p = packet_of(sink.frames[0]);
    CHECK(p.size() == 28 + 20 * 64);
    CHECK(get16(&p[24]) == p.size() - 20);
    CHECK(get16(&p[26]) == fold16(pseudo_sum(p, kUdp, uint32_t(p.size() - 20))));
}

TEST_CASE("GRO: UDP size changes end the run", "[tun_offload][coalescer]") {
    Sink sink;
    TunCoalescer c(&Sink::take, &sink);
    auto d = [](size_t size, uint8_t seed) { return udp4(Ip4{}, 5000, 6000, pattern(size, seed)); };
    SECTION("a larger one in the middle starts a new run (and a smaller one may end it)") {
        const std::vector<Bytes> a{d(64, 0), d(64, 1), d(64, 2), d(64, 3), d(64, 4)};
        const std::vector<Bytes> b{d(100, 5), d(64, 6)};
        const std::vector<Bytes> e{d(64, 7), d(64, 8)};
        for (const auto* run : {&a, &b, &e})
            for (const auto& x : *run) c.add(x);
        c.flush();
        REQUIRE(sink.frames.size() == 3);
        check_super(sink.frames[0], a);
        check_super(sink.frames[1], b);
        CHECK(header_of(sink.frames[1]).gso_size == 100);
        check_super(sink.frames[2], e);
    }
    SECTION("a smaller one in the middle is the last of the run") {
        const std::vector<Bytes> a{d(64, 0), d(64, 1), d(64, 2), d(64, 3), d(64, 4), d(30, 5)};
        const std::vector<Bytes> b{d(64, 6), d(64, 7), d(64, 8)};
        for (const auto* run : {&a, &b})
            for (const auto& x : *run) c.add(x);
        c.flush();
        REQUIRE(sink.frames.size() == 2);
        check_super(sink.frames[0], a);
        CHECK(header_of(sink.frames[0]).gso_size == 64);
        check_super(sink.frames[1], b);
    }
    SECTION("another port") {
        const Bytes x0 = d(64, 0), x1 = d(64, 1), y = udp4(Ip4{}, 5001, 6000, pattern(64)), x2 = d(64, 2);
        for (const Bytes* p : {&x0, &x1, &y, &x2}) c.add(*p);
        c.flush();
        REQUIRE(sink.frames.size() == 3);
        check_super(sink.frames[0], {x0, x1});
        check_alone(sink.frames[1], y);
        check_alone(sink.frames[2], x2);
    }
    SECTION("TCP between UDP") {
        const Bytes x0 = d(64, 0), x1 = d(64, 1), tcp_seg = Flow{}.segment(0), x2 = d(64, 2), x3 = d(64, 3);
        for (const Bytes* p : {&x0, &x1, &tcp_seg, &x2, &x3}) c.add(*p);
        c.flush();
        REQUIRE(sink.frames.size() == 3);
        check_super(sink.frames[0], {x0, x1});
        check_alone(sink.frames[1], tcp_seg);
        check_super(sink.frames[2], {x2, x3});
    }
}

// ---------------------------------------------------------------- round trip

// What GRO joins, GSO must give back exactly: the coalescer's super-frames, read back as a
// TSO read (they already carry NEEDS_CSUM, TCPV4, csum_start 20, csum_offset 16), split into
// the original segments byte for byte, checksums and IP IDs included.
TEST_CASE("Round trip: coalesced TCP segments split back into the originals", "[tun_offload][roundtrip]") {
    std::mt19937 rng(20261127);
    struct Case {
        size_t size, count, last;  // payload size, segments, the last one's size (0: same)
        bool psh, options;
    };
    const Case cases[] = {
        {1448, 10, 0, false, true},  {1448, 10, 0, true, true},   {1448, 7, 613, true, true},
        {1460, 44, 0, false, false}, {536, 64, 0, false, true},   {536, 80, 17, true, true},
        {1, 30, 0, false, true},     {100, 5, 1, false, false},   {8000, 12, 4000, true, true},
        {1448, 2, 0, false, true},   {1448, 1, 0, true, true},    {977, 67, 0, false, true},
    };
    for (const Case& k : cases) {
        INFO("size " << k.size << " count " << k.count << " last " << k.last << " psh " << k.psh);
        Ip4 h;
        h.id = uint16_t(rng());
        h.tos = 0x20;
        Tcp t;
        t.seq = uint32_t(rng());
        t.ack = uint32_t(rng());
        t.window = uint16_t(rng());
        t.sport = uint16_t(rng() | 1024);
        t.options = k.options ? timestamps(uint32_t(rng()), uint32_t(rng())) : Bytes{};
        std::vector<Bytes> segs;
        for (size_t i = 0; i < k.count; ++i) {
            const bool last = i + 1 == k.count;
            Ip4 hi = h;
            hi.id = uint16_t(h.id + i);
            Tcp ti = t;
            ti.seq = t.seq + uint32_t(i * k.size);
            ti.flags = uint8_t(kAck | (last && k.psh ? kPsh : 0));
            segs.push_back(tcp4(hi, ti, random_bytes(rng, last && k.last ? k.last : k.size)));
        }
        Sink sink;
        TunCoalescer c(&Sink::take, &sink);
        for (const auto& s : segs) c.add(s);
        c.flush();
        if (k.count > 1) CHECK(sink.frames.size() < k.count);
        std::vector<Bytes> back;
        TunSegmenter seg;
        for (const auto& f : sink.frames) {
            const VnetHeader v = header_of(f);
            if (v.gso_type == kVnetGsoNone) {
                CHECK(zero_header(f));
                back.push_back(packet_of(f));
                continue;
            }
            CHECK(v.gso_type == kVnetGsoTcpv4);
            CHECK((v.flags & kVnetNeedsCsum) != 0);
            const Bytes p = packet_of(f);
            CHECK(p.size() <= 65535);
            CHECK(get16(&p[36]) == fold16(pseudo_sum(p, kTcp, uint32_t(p.size() - 20))));
            for (auto& s : split(seg, f)) back.push_back(std::move(s));
        }
        REQUIRE(back.size() == segs.size());
        for (size_t i = 0; i < segs.size(); ++i) {
            INFO("segment " << i);
            CHECK(back[i] == segs[i]);
        }
    }
}

TEST_CASE("GRO: without DF only consecutive IP identifications join", "[tun_offload][coalescer]") {
    // Linux's inet_gro_receive: a packet that may be fragmented keeps its ID only if the
    // segmentation that renumbers first_id + i would give it the same one.
    Sink sink;
    TunCoalescer c(&Sink::take, &sink);
    Flow flow;
    flow.ip.frag = 0;  // DF clear
    const Bytes a = flow.segment(0), b = flow.segment(1);
    Bytes jumped = flow.segment(2);
    put16(&jumped[4], uint16_t(flow.ip.id + 7));
    set_ipv4_header_checksum(jumped);
    c.add(a);
    c.add(b);
    c.add(jumped);
    c.flush();
    REQUIRE(sink.frames.size() == 2);
    check_super(sink.frames[0], {a, b});
    check_alone(sink.frames[1], jumped);
}

TEST_CASE("GRO: UDP datagrams without a checksum are written alone", "[tun_offload][coalescer]") {
    // Segmenting a super-packet would give each datagram a checksum it was sent without.
    Sink sink;
    TunCoalescer c(&Sink::take, &sink);
    std::vector<Bytes> dgrams;
    for (size_t i = 0; i < 3; ++i) {
        Ip4 h;
        h.id = uint16_t(0x3000 + i);
        Bytes d = udp4(h, 5000, 6000, pattern(64, uint8_t(i)));
        put16(&d[26], 0);  // RFC 768: no checksum
        dgrams.push_back(d);
    }
    for (const auto& d : dgrams) c.add(d);
    c.flush();
    REQUIRE(sink.frames.size() == 3);
    for (size_t i = 0; i < 3; ++i) check_alone(sink.frames[i], dgrams[i]);
}

TEST_CASE("GRO: a segment whose checksum is wrong is written alone", "[tun_offload][coalescer]") {
    // Joined, it would get a fresh checksum where it is segmented and pass as good.
    Sink sink;
    TunCoalescer c(&Sink::take, &sink);
    Flow flow;
    const Bytes a = flow.segment(0), c2 = flow.segment(2);
    Bytes damaged = flow.segment(1);
    damaged[damaged.size() - 1] ^= 0x01;  // payload changed, checksum not
    c.add(a);
    c.add(damaged);
    c.add(c2);
    c.flush();
    REQUIRE(sink.frames.size() == 3);
    check_alone(sink.frames[0], a);
    check_alone(sink.frames[1], damaged);
    check_alone(sink.frames[2], c2);
}

TEST_CASE("GRO: without UDP GSO in the kernel, datagrams are written alone", "[tun_offload][coalescer]") {
    Sink sink;
    TunCoalescer c(&Sink::take, &sink, false);
    std::vector<Bytes> dgrams;
    for (size_t i = 0; i < 3; ++i) {
        Ip4 h;
        h.id = uint16_t(0x4000 + i);
        dgrams.push_back(udp4(h, 5000, 6000, pattern(64, uint8_t(i))));
    }
    for (const auto& d : dgrams) c.add(d);
    c.flush();
    REQUIRE(sink.frames.size() == 3);
    for (size_t i = 0; i < 3; ++i) check_alone(sink.frames[i], dgrams[i]);
}
