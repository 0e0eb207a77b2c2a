#include "ah.h"

#include <cstring>
#include <stdexcept>

#include "wire.h"

namespace kmod_sim::crypto {

namespace {

using namespace wire;

constexpr size_t kIpv4MinHeader = 20;
constexpr size_t kIpv4MaxHeader = 60;
constexpr size_t kIpv6Header = 40;
constexpr size_t kMaxIpLength = 65535;
constexpr size_t kMaxIcvField = 40;  // 32-byte ICV plus IPv6 padding, rounded up

// IPv6 headers that RFC 8200 §4.1 puts before AH; we do not walk them (see ah.h).
constexpr bool before_ah(uint8_t next_header) {
    return next_header == 0 || next_header == 43 || next_header == 44;  // hop-by-hop, routing, fragment
}

// RFC 4302 Appendix A: the IPv4 options that keep their bytes in the ICV input.
enum class OptionKind { immutable, predictable, mutable_ };

OptionKind kind(uint8_t type) {
    switch (type) {
    case 0x82:  // Security
    case 0x85:  // Extended Security
    case 0x86:  // Commercial Security
    case 0x94:  // Router Alert
    case 0x95:  // Sender Directed Multi-Destination Delivery
        return OptionKind::immutable;
    case 0x83:  // Loose Source Route
    case 0x89:  // Strict Source Route
        return OptionKind::predictable;
    default:
        return OptionKind::mutable_;
    }
}

// The IP header at the front of a packet, checked against the packet's size.
struct Ip {
    bool ipv6 = false;
    size_t header_size = 0;
    uint8_t protocol = 0;  // IPv4 protocol, IPv6 base header's next header
};

AhStatus parse_ip(std::span<const uint8_t> packet, Ip& ip) {
    if (packet.empty()) return AhStatus::bad_ip_header;
    const uint8_t* p = packet.data();
    if (p[0] >> 4 == 6) {
        if (packet.size() < kIpv6Header || kIpv6Header + get16(p + 4) != packet.size())
            return AhStatus::bad_ip_header;  // also refuses jumbograms (payload length 0)
        ip = {true, kIpv6Header, p[6]};
        return AhStatus::ok;
    }
    if (p[0] >> 4 != 4 || packet.size() < kIpv4MinHeader) return AhStatus::bad_ip_header;
    const size_t header_size = size_t(p[0] & 15) * 4;
    if (header_size < kIpv4MinHeader || header_size > packet.size() || get16(p + 2) != packet.size())
        return AhStatus::bad_ip_header;
    if ((get16(p + 6) & 0x3fff) != 0) return AhStatus::fragment;  // MF or an offset
    for (size_t i = kIpv4MinHeader; i < header_size;) {
        if (p[i] == 0) break;  // EOL: the rest is padding
        if (p[i] == 1) {       // NOP
            ++i;
            continue;
        }
        if (i + 1 >= header_size || p[i + 1] < 2 || i + p[i + 1] > header_size) return AhStatus::bad_ip_header;
        if (kind(p[i]) == OptionKind::predictable) return AhStatus::unsupported_header;
        i += p[i + 1];
    }
    ip = {false, header_size, p[9]};
    return AhStatus::ok;
}

// The IP header as the ICV sees it (RFC 4302 §3.3.3.1): a copy with the mutable fields zeroed.
// parse_ip() has checked the options' lengths and refused the predictable ones.
void zero_mutable(bool ipv6, uint8_t* h, size_t header_size) {
    if (ipv6) {
        h[0] &= 0xf0;              // traffic class (high half)
        h[1] = h[2] = h[3] = 0;    // traffic class (low half), flow label
        h[7] = 0;                  // hop limit
        return;
    }
    h[1] = 0;                      // TOS: DSCP and ECN
    h[6] = h[7] = 0;               // flags (DF may be set en route) and fragment offset
    h[8] = 0;                      // TTL
    h[10] = h[11] = 0;             // header checksum
    for (size_t i = kIpv4MinHeader; i < header_size;) {
        if (h[i] == 0) break;
        if (h[i] == 1) {
            ++i;
            continue;
        }
        const size_t length = h[i + 1];
        // Appendix A: a mutable option is zeroed whole, type and length included.
        if (kind(h[i]) == OptionKind::mutable_) std::memset(h + i, 0, length);
        i += length;
    }
}

void set_ipv4_checksum(uint8_t* h, size_t header_size) {
    h[10] = h[11] = 0;
    uint32_t sum = 0;
    for (size_t i = 0; i < header_size; i += 2) sum += get16(h + i);
    while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
    put16(h + 10, uint16_t(~sum));
}

// The protocol field and length of the IP header at h, for a packet of total_size bytes.
void set_protocol_and_length(bool ipv6, uint8_t* h, size_t header_size, uint8_t protocol, size_t total_size) {
    if (ipv6) {
        h[6] = protocol;
        put16(h + 4, uint16_t(total_size - kIpv6Header));
        return;
    }
    h[9] = protocol;
    put16(h + 2, uint16_t(total_size));
    set_ipv4_checksum(h, header_size);
}

}  // namespace

const char* to_string(AhStatus status) {
    switch (status) {
    case AhStatus::ok: return "ok";
    case AhStatus::bad_ip_header: return "bad IP header";
    case AhStatus::unsupported_header: return "unsupported IPv4 option or IPv6 extension header";
    case AhStatus::fragment: return "fragment";
    case AhStatus::not_ah: return "not AH";
    case AhStatus::too_short: return "too short";
    case AhStatus::bad_payload_length: return "bad AH payload length";
    case AhStatus::icv_mismatch: return "ICV mismatch";
    case AhStatus::bad_sequence: return "sequence number out of range";
    case AhStatus::too_long: return "too long";
    }
    return "?";
}

std::string Ah::check(Integrity integrity, size_t key_size) {
    std::string what = std::string("AH with ") + to_string(integrity) + ": ";
    if (integrity == Integrity::none) return what + "AH needs hmac-sha2-256-128 or hmac-sha2-512-256";
    const size_t want = info(integrity).key_bits / 8;
    if (key_size != want)
        return what + "key is " + std::to_string(key_size) + " bytes, must be " + std::to_string(want);
    return "";
}

namespace {

// check() runs before Hmac is built so that a bad key size gets AH's message.
Integrity checked(Integrity integrity, size_t key_size) {
    if (std::string error = Ah::check(integrity, key_size); !error.empty()) throw std::invalid_argument(error);
    return integrity;
}

}  // namespace

Ah::Ah(Integrity integrity, std::span<const uint8_t> key, bool esn)
    : hmac_(checked(integrity, key.size()), key), esn_(esn) {}

size_t Ah::ah_size(bool ipv6) const {
    const size_t align = ipv6 ? 8 : 4;
    return (kHeaderSize + icv_size() + align - 1) / align * align;
}

AhStatus Ah::seal(uint32_t spi, uint64_t seq, std::span<const uint8_t> packet, std::vector<uint8_t>& out) const {
    out.clear();
    if (seq == 0 || (!esn_ && seq > UINT32_MAX)) return AhStatus::bad_sequence;
    Ip ip;
    if (AhStatus status = parse_ip(packet, ip); status != AhStatus::ok) return status;
    if (ip.ipv6 && before_ah(ip.protocol)) return AhStatus::unsupported_header;
    const size_t ah = ah_size(ip.ipv6);
    if (packet.size() + ah > kMaxIpLength + (ip.ipv6 ? kIpv6Header : 0)) return AhStatus::too_long;

    out.resize(packet.size() + ah);
    uint8_t* const h = out.data();
    std::memcpy(h, packet.data(), ip.header_size);
    uint8_t* const a = h + ip.header_size;
    a[0] = ip.protocol;
    a[1] = uint8_t(ah / 4 - 2);  // RFC 4302 §2.2: 32-bit words minus 2
    a[2] = a[3] = 0;
    put32(a + 4, spi);
    put32(a + 8, uint32_t(seq));           // only the low half travels (§2.5.1)
    std::memset(a + kHeaderSize, 0, ah - kHeaderSize);  // ICV zeroed for the computation; padding zero
    std::memcpy(a + ah, packet.data() + ip.header_size, packet.size() - ip.header_size);
    // AH covers the IPv4 Identification, and a raw socket's kernel replaces a zero one on the
    // way out. A whole datagram (not a fragment) may carry any (RFC 6864 §4.1): give it one.
    if (!ip.ipv6 && get16(h + 4) == 0 && (get16(h + 6) & 0x3fff) == 0) put16(h + 4, uint16_t(seq) ? uint16_t(seq) : 1);
    set_protocol_and_length(ip.ipv6, h, ip.header_size, kProtocol, out.size());

    uint8_t zeroed[kIpv4MaxHeader];
    std::memcpy(zeroed, h, ip.header_size);
    zero_mutable(ip.ipv6, zeroed, ip.header_size);
    // §3.3.3.2.2: with ESN the high half is authenticated as if it followed the packet.
    uint8_t high[4];
    put32(high, uint32_t(seq >> 32));
    hmac_.icv({std::span<const uint8_t>(zeroed, ip.header_size),
               std::span<const uint8_t>(a, out.size() - ip.header_size), std::span<const uint8_t>(high, esn_ ? 4 : 0)},
              std::span<uint8_t>(a + kHeaderSize, icv_size()));
    return AhStatus::ok;
}

std::optional<AhHeader> Ah::header(std::span<const uint8_t> packet) {
    Ip ip;
    if (parse_ip(packet, ip) != AhStatus::ok || ip.protocol != kProtocol ||
        packet.size() - ip.header_size < kHeaderSize)
        return std::nullopt;
    const uint8_t* a = packet.data() + ip.header_size;
    return AhHeader{get32(a + 4), get32(a + 8)};
}

AhOpened Ah::open(std::span<const uint8_t> packet, uint32_t seq_high, std::vector<uint8_t>& out) const {
    out.clear();
    AhOpened result;
    Ip ip;
    if (result.status = parse_ip(packet, ip); result.status != AhStatus::ok) return result;
    if (ip.protocol != kProtocol) {
        result.status = ip.ipv6 && (before_ah(ip.protocol) || ip.protocol == 60) ? AhStatus::unsupported_header
                                                                                  : AhStatus::not_ah;
        return result;
    }
    const size_t ah = ah_size(ip.ipv6);
    const size_t rest = packet.size() - ip.header_size;
    const uint8_t* const a = packet.data() + ip.header_size;
    if (rest < kHeaderSize) {
        result.status = AhStatus::too_short;
        return result;
    }
    if ((size_t(a[1]) + 2) * 4 != ah) {
        result.status = AhStatus::bad_payload_length;
        return result;
    }
    if (rest < ah) {
        result.status = AhStatus::too_short;
        return result;
    }
    result.next_header = a[0];
    result.spi = get32(a + 4);
    const uint32_t seq_low = get32(a + 8);
    result.seq = esn_ ? (uint64_t(seq_high) << 32 | seq_low) : seq_low;

    uint8_t zeroed[kIpv4MaxHeader];
    std::memcpy(zeroed, packet.data(), ip.header_size);
    zero_mutable(ip.ipv6, zeroed, ip.header_size);
    static constexpr uint8_t kZeros[kMaxIcvField] = {};
    uint8_t high[4];
    put32(high, seq_high);
    // The ICV is zeroed; its padding is hashed as received (§3.3.3.2.1).
    const size_t icv = icv_size();
    if (!hmac_.verify({std::span<const uint8_t>(zeroed, ip.header_size), std::span<const uint8_t>(a, kHeaderSize),
                       std::span<const uint8_t>(kZeros, icv),
                       std::span<const uint8_t>(a + kHeaderSize + icv, ah - kHeaderSize - icv),
                       std::span<const uint8_t>(a + ah, rest - ah), std::span<const uint8_t>(high, esn_ ? 4 : 0)},
                      std::span<const uint8_t>(a + kHeaderSize, icv))) {
        result.status = AhStatus::icv_mismatch;
        return result;
    }

    out.resize(packet.size() - ah);
    std::memcpy(out.data(), packet.data(), ip.header_size);
    std::memcpy(out.data() + ip.header_size, a + ah, rest - ah);
    set_protocol_and_length(ip.ipv6, out.data(), ip.header_size, result.next_header, out.size());
    result.status = AhStatus::ok;
    return result;
}

}  // namespace kmod_sim::crypto
