#include "pfkey_message.h"

#include <netinet/in.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstring>
#include <string_view>

#include "pfkey_validate.h"

namespace kmod_sim::pfkey {

namespace {

// ---- errors naming the extension ------------------------------------------------------------

enum ExtError {
    kErrTooShort,
    kErrDuplicate,
    kErrPastEnd,
    kErrUnsupported,
    kErrFamily,
    kErrSockaddrShort,
    kErrPrefix,
    kErrKeyBits,
    kErrPropLength,
    kErrSpiRange,
    kErrSaType,
    kErrState,
    kErrTncfgOperation,
    kErrTncfgName,
    kErrClockOperation,
    kErrCount
};

constexpr std::array<std::string_view, kErrCount> kExtErrorText{{
    "length is shorter than its fixed size",
    "appears more than once",
    "length runs past the end of the message",
    "is not supported",
    "sockaddr has an unknown address family",
    "sockaddr does not fit in the extension",
    "prefix length is too large for the address family",
    "key bits exceed the key length",
    "length is not 8 + a multiple of the 80-byte sadb_comb",
    "minimum SPI is greater than the maximum",
    "satype is unknown",
    "state is unknown",
    "operation is not attach (1), detach (2) or clear (3)",
    "interface name is not NUL-terminated within 16 bytes",
    "operation is not get (1), set (2) or advance (3)",
}};

constexpr size_t kErrSlots = 29;  // ext types 0..26, slots 27 and 28 for X_TNCFG and X_CLOCK

bool is_private_ext(uint16_t type) { return type == kExtXTncfg || type == kExtXClock; }

size_t ext_slot(uint16_t type) {
    if (is_private_ext(type)) return 27 + (type - kExtXTncfg);
    return type < 27 ? type : 0;
}

// "extension <NAME> <text>", built once; the strings live for the program's lifetime.
TextError ext_error(uint16_t type, ExtError error) {
    static const auto table = [] {
        std::array<std::array<std::string, kErrCount>, kErrSlots> t;
        for (uint16_t type = 0; type <= kExtXClock; ++type) {
            if (type > 26 && !is_private_ext(type)) continue;
            for (size_t e = 0; e < kErrCount; ++e) {
                t[ext_slot(type)][e] = "extension " + std::string(extension_name(type)) + " " +
                                       std::string(kExtErrorText[e]);
            }
        }
        return t;
    }();
    return TextError{table[ext_slot(type)][error]};
}

// ---- reading and writing host-order integers ------------------------------------------------

template <typename T>
T load(std::span<const uint8_t> bytes, size_t offset) {
    T value;
    std::memcpy(&value, bytes.data() + offset, sizeof value);
    return value;
}

uint16_t load_be16(std::span<const uint8_t> bytes, size_t offset) {
    return static_cast<uint16_t>(bytes[offset] << 8 | bytes[offset + 1]);
}

uint32_t load_be32(std::span<const uint8_t> bytes, size_t offset) {
    return uint32_t{bytes[offset]} << 24 | uint32_t{bytes[offset + 1]} << 16 |
           uint32_t{bytes[offset + 2]} << 8 | uint32_t{bytes[offset + 3]};
}

class Writer {
public:
    explicit Writer(std::vector<uint8_t>& out) : out_(out) {}
    template <typename T>
    void put(T value) {
        uint8_t raw[sizeof value];
        std::memcpy(raw, &value, sizeof value);
        out_.insert(out_.end(), raw, raw + sizeof value);
    }
    void be16(uint16_t v) { out_.push_back(uint8_t(v >> 8)); out_.push_back(uint8_t(v)); }
    void be32(uint32_t v) { be16(uint16_t(v >> 16)); be16(uint16_t(v)); }
    void bytes(std::span<const uint8_t> b) { out_.insert(out_.end(), b.begin(), b.end()); }
    void zeros(size_t n) { out_.resize(out_.size() + n); }
    void pad() { zeros((kAlign - out_.size() % kAlign) % kAlign); }
    size_t size() const { return out_.size(); }
    std::vector<uint8_t>& out() { return out_; }

private:
    std::vector<uint8_t>& out_;
};

// ---- the slots of the message, by extension type ---------------------------------------------

template <typename M>
auto* address_slot(M& m, uint16_t type) {
    switch (type) {
        case kExtAddressSrc: return &m.address_src;
        case kExtAddressDst: return &m.address_dst;
        case kExtAddressProxy: return &m.address_proxy;
        case kExtXAddressDst2: return &m.x_address_dst2;
        case kExtXAddressSrcFlow: return &m.x_src_flow;
        case kExtXAddressDstFlow: return &m.x_dst_flow;
        case kExtXAddressSrcMask: return &m.x_src_mask;
        case kExtXAddressDstMask: return &m.x_dst_mask;
        default: return decltype(&m.address_src){nullptr};
    }
}

template <typename M>
auto* lifetime_slot(M& m, uint16_t type) {
    switch (type) {
        case kExtLifetimeCurrent: return &m.lifetime_current;
        case kExtLifetimeHard: return &m.lifetime_hard;
        case kExtLifetimeSoft: return &m.lifetime_soft;
        default: return decltype(&m.lifetime_current){nullptr};
    }
}

bool is_address(uint16_t t) { return t == kExtAddressSrc || t == kExtAddressDst ||
                                     t == kExtAddressProxy || (t >= kExtXAddressDst2 && t <= kExtXAddressDstMask); }
bool is_lifetime(uint16_t t) { return t >= kExtLifetimeCurrent && t <= kExtLifetimeSoft; }

// ---- decoding one extension ------------------------------------------------------------------

using Error = std::optional<TextError>;

Error decode_sa(std::span<const uint8_t> e, std::optional<SaExt>& slot, uint16_t type) {
    if (e.size() < kSaSizeRfc) return ext_error(type, kErrTooShort);
    SaExt sa;
    sa.spi = load_be32(e, 4);
    sa.replay = e[8];
    sa.state = e[9];
    sa.auth = e[10];
    sa.encrypt = e[11];
    sa.flags = load<uint32_t>(e, 12);
    sa.klips_form = e.size() >= kSaSizeKlips;
    if (sa.klips_form) sa.x_sa_ref = load<uint32_t>(e, 16);
    if (sa.state > kSaStateDead) return ext_error(type, kErrState);
    slot = sa;
    return {};
}

Error decode_lifetime(std::span<const uint8_t> e, std::optional<LifetimeExt>& slot, uint16_t type) {
    if (e.size() < kLifetimeSizeRfc) return ext_error(type, kErrTooShort);
    LifetimeExt lt;
    lt.allocations = load<uint32_t>(e, 4);
    lt.bytes = load<uint64_t>(e, 8);
    lt.addtime = load<uint64_t>(e, 16);
    lt.usetime = load<uint64_t>(e, 24);
    lt.klips_form = e.size() >= kLifetimeSizeKlips;
    if (lt.klips_form) lt.packets = load<uint32_t>(e, 32);
    slot = lt;
    return {};
}

Error decode_address(std::span<const uint8_t> e, std::optional<AddressExt>& slot, uint16_t type) {
    if (e.size() < kAddressHeaderSize + kSockaddrInSize) return ext_error(type, kErrTooShort);
    AddressExt a;
    a.proto = e[4];
    a.prefixlen = e[5];
    auto sockaddr = e.subspan(kAddressHeaderSize);
    auto family = load<sa_family_t>(sockaddr, 0);
    a.port = load_be16(sockaddr, 2);
    if (family == AF_INET) {
        a.address = IpAddress::from_bytes(AddressFamily::inet, sockaddr.subspan(4, 4));
        if (a.prefixlen > 32) return ext_error(type, kErrPrefix);
    } else if (family == AF_INET6) {
        if (sockaddr.size() < kSockaddrIn6Size) return ext_error(type, kErrSockaddrShort);
        a.address = IpAddress::from_bytes(AddressFamily::inet6, sockaddr.subspan(8, 16));
        if (a.prefixlen > 128) return ext_error(type, kErrPrefix);
    } else {
        return ext_error(type, kErrFamily);
    }
    slot = a;
    return {};
}

Error decode_key(std::span<const uint8_t> e, std::optional<KeyExt>& slot, uint16_t type) {
    if (e.size() < kKeyHeaderSize) return ext_error(type, kErrTooShort);
    KeyExt k;
    k.bits = load<uint16_t>(e, 4);
    size_t key_bytes = (size_t{k.bits} + 7) / 8;
    if (key_bytes > e.size() - kKeyHeaderSize) return ext_error(type, kErrKeyBits);
    auto key = e.subspan(kKeyHeaderSize, key_bytes);
    k.bytes.assign(key.begin(), key.end());
    slot = std::move(k);
    return {};
}

Error decode_identity(std::span<const uint8_t> e, std::optional<IdentityExt>& slot, uint16_t type) {
    if (e.size() < kIdentHeaderSize) return ext_error(type, kErrTooShort);
    IdentityExt id;
    id.type = load<uint16_t>(e, 4);
    id.id = load<uint64_t>(e, 8);
    auto text = e.subspan(kIdentHeaderSize);
    size_t n = 0;
    while (n < text.size() && text[n] != 0) ++n;
    id.text.assign(reinterpret_cast<const char*>(text.data()), n);
    slot = std::move(id);
    return {};
}

Error decode_proposal(std::span<const uint8_t> e, std::optional<ProposalExt>& slot, uint16_t type) {
    if (e.size() < kPropHeaderSize) return ext_error(type, kErrTooShort);
    if ((e.size() - kPropHeaderSize) % kCombSize != 0) return ext_error(type, kErrPropLength);
    ProposalExt p;
    p.replay = e[4];
    for (size_t at = kPropHeaderSize; at < e.size(); at += kCombSize) {
        auto c = e.subspan(at, kCombSize);
        Comb comb;
        comb.auth = c[0];
        comb.encrypt = c[1];
        comb.flags = load<uint16_t>(c, 2);
        comb.auth_minbits = load<uint16_t>(c, 4);
        comb.auth_maxbits = load<uint16_t>(c, 6);
        comb.encrypt_minbits = load<uint16_t>(c, 8);
        comb.encrypt_maxbits = load<uint16_t>(c, 10);
        // 12: reserved u32
        comb.soft_allocations = load<uint32_t>(c, 16);
        comb.hard_allocations = load<uint32_t>(c, 20);
        comb.soft_bytes = load<uint64_t>(c, 24);
        comb.hard_bytes = load<uint64_t>(c, 32);
        comb.soft_addtime = load<uint64_t>(c, 40);
        comb.hard_addtime = load<uint64_t>(c, 48);
        comb.soft_usetime = load<uint64_t>(c, 56);
        comb.hard_usetime = load<uint64_t>(c, 64);
        comb.soft_packets = load<uint32_t>(c, 72);
        comb.hard_packets = load<uint32_t>(c, 76);
        p.combs.push_back(comb);
    }
    slot = std::move(p);
    return {};
}

Error decode_supported(std::span<const uint8_t> e, std::optional<SupportedExt>& slot, uint16_t type) {
    if (e.size() < kSupportedHeaderSize) return ext_error(type, kErrTooShort);
    SupportedExt s;
    for (size_t at = kSupportedHeaderSize; at + kAlgSize <= e.size(); at += kAlgSize) {
        Alg alg;
        alg.id = e[at];
        alg.ivlen = e[at + 1];
        alg.minbits = load<uint16_t>(e, at + 2);
        alg.maxbits = load<uint16_t>(e, at + 4);
        s.algs.push_back(alg);
    }
    slot = std::move(s);
    return {};
}

Error decode_name(std::span<const uint8_t> field, std::string& name) {
    size_t n = 0;
    while (n < field.size() && field[n] != 0) ++n;
    if (n == field.size()) return ext_error(kExtXTncfg, kErrTncfgName);
    name.assign(reinterpret_cast<const char*>(field.data()), n);
    return {};
}

Error decode_extension(uint16_t type, std::span<const uint8_t> e, Message& m) {
    if (auto* slot = address_slot(m, type)) return decode_address(e, *slot, type);
    if (auto* slot = lifetime_slot(m, type)) return decode_lifetime(e, *slot, type);
    switch (type) {
        case kExtSa: return decode_sa(e, m.sa, type);
        case kExtXSa2: return decode_sa(e, m.x_sa2, type);
        case kExtKeyAuth: return decode_key(e, m.key_auth, type);
        case kExtKeyEncrypt: return decode_key(e, m.key_encrypt, type);
        case kExtIdentitySrc: return decode_identity(e, m.identity_src, type);
        case kExtIdentityDst: return decode_identity(e, m.identity_dst, type);
        case kExtProposal: return decode_proposal(e, m.proposal, type);
        case kExtSupportedAuth: return decode_supported(e, m.supported_auth, type);
        case kExtSupportedEncrypt: return decode_supported(e, m.supported_encrypt, type);
        case kExtSpiRange: {
            if (e.size() < kSpiRangeSize) return ext_error(type, kErrTooShort);
            SpiRangeExt r{load<uint32_t>(e, 4), load<uint32_t>(e, 8)};
            if (r.min > r.max) return ext_error(type, kErrSpiRange);
            m.spirange = r;
            return {};
        }
        case kExtXSaType2: {
            if (e.size() < kXSaTypeSize) return ext_error(type, kErrTooShort);
            if (!is_known_satype(e[4])) return ext_error(type, kErrSaType);
            m.x_satype2 = XSaTypeExt{e[4]};
            return {};
        }
        case kExtXDebug: {
            if (e.size() < kXDebugSize) return ext_error(type, kErrTooShort);
            XDebugExt d;
            for (size_t i = 0; i < d.words.size(); ++i) d.words[i] = load<uint32_t>(e, 4 + 4 * i);
            m.x_debug = d;
            return {};
        }
        case kExtXProtocol: {
            if (e.size() < kXProtocolSize) return ext_error(type, kErrTooShort);
            m.x_protocol = XProtocolExt{e[4], e[5], e[6]};
            return {};
        }
        case kExtXTncfg: {
            if (e.size() < kXTncfgSize) return ext_error(type, kErrTooShort);
            XTncfgExt t;
            t.operation = e[4];
            if (t.operation < kTncfgAttach || t.operation > kTncfgClear) {
                return ext_error(type, kErrTncfgOperation);
            }
            if (auto err = decode_name(e.subspan(8, kIfNameSize), t.virtual_name)) return err;
            if (auto err = decode_name(e.subspan(8 + kIfNameSize, kIfNameSize), t.physical_name)) return err;
            m.x_tncfg = std::move(t);
            return {};
        }
        case kExtXClock: {
            if (e.size() < kXClockSize) return ext_error(type, kErrTooShort);
            XClockExt c{e[4], load<uint64_t>(e, 8)};
            if (c.operation < kClockGet || c.operation > kClockAdvance) {
                return ext_error(type, kErrClockOperation);
            }
            m.x_clock = c;
            return {};
        }
        default: return ext_error(type, kErrUnsupported);
    }
}

bool is_known_message_type(uint8_t type) {
    return (type >= kGetSpi && type <= kXDebug) || type == kXTncfg || type == kXClock;
}

// ---- encoding --------------------------------------------------------------------------------

constexpr size_t kMaxBytes = 0xffff * kAlign;

void encode_sa(Writer& w, const SaExt& sa) {
    w.be32(sa.spi);
    w.put(sa.replay);
    w.put(sa.state);
    w.put(sa.auth);
    w.put(sa.encrypt);
    w.put(sa.flags);
    if (sa.klips_form) {
        w.put(sa.x_sa_ref);
        w.zeros(4);
    }
}

void encode_lifetime(Writer& w, const LifetimeExt& lt) {
    w.put(lt.allocations);
    w.put(lt.bytes);
    w.put(lt.addtime);
    w.put(lt.usetime);
    if (lt.klips_form) {
        w.put(lt.packets);
        w.zeros(4);
    }
}

Error encode_address(Writer& w, const AddressExt& a) {
    w.put(a.proto);
    w.put(a.prefixlen);
    w.zeros(2);
    if (a.address.is_v4()) {
        w.put(sa_family_t{AF_INET});
        w.be16(a.port);
        w.bytes(a.address.bytes());
        w.zeros(8);
    } else if (a.address.is_v6()) {
        w.put(sa_family_t{AF_INET6});
        w.be16(a.port);
        w.zeros(4);  // flowinfo
        w.bytes(a.address.bytes());
        w.zeros(4);  // scope id
    } else {
        return text_error("address has no family");
    }
    return {};
}

Error encode_key(Writer& w, const KeyExt& k) {
    size_t n = (size_t{k.bits} + 7) / 8;
    if (n > k.bytes.size()) return text_error("key bits exceed the key bytes");
    w.put(k.bits);
    w.zeros(2);
    w.bytes(std::span(k.bytes).first(n));
    return {};
}

Error encode_identity(Writer& w, const IdentityExt& id) {
    if (id.text.find('\0') != std::string::npos) return text_error("identity text contains a NUL character");
    w.put(id.type);
    w.zeros(2);
    w.put(id.id);
    w.bytes(std::span(reinterpret_cast<const uint8_t*>(id.text.data()), id.text.size()));
    return {};
}

void encode_comb(Writer& w, const Comb& c) {
    w.put(c.auth);
    w.put(c.encrypt);
    w.put(c.flags);
    w.put(c.auth_minbits);
    w.put(c.auth_maxbits);
    w.put(c.encrypt_minbits);
    w.put(c.encrypt_maxbits);
    w.zeros(4);
    w.put(c.soft_allocations);
    w.put(c.hard_allocations);
    w.put(c.soft_bytes);
    w.put(c.hard_bytes);
    w.put(c.soft_addtime);
    w.put(c.hard_addtime);
    w.put(c.soft_usetime);
    w.put(c.hard_usetime);
    w.put(c.soft_packets);
    w.put(c.hard_packets);
}

Error encode_name(Writer& w, const std::string& name) {
    if (name.size() >= kIfNameSize) return text_error("interface name longer than 15 characters");
    w.bytes(std::span(reinterpret_cast<const uint8_t*>(name.data()), name.size()));
    w.zeros(kIfNameSize - name.size());
    return {};
}

// Appends the body (after the 4-byte ext header) of extension `type` if present; returns
// false in *present when the message does not carry it.
Error encode_body(Writer& w, const Message& m, uint16_t type, bool* present) {
    *present = m.has(type);
    if (!*present) return {};
    if (auto* slot = address_slot(m, type)) return encode_address(w, **slot);
    if (auto* slot = lifetime_slot(m, type)) {
        encode_lifetime(w, **slot);
        return {};
    }
    switch (type) {
        case kExtSa: encode_sa(w, *m.sa); return {};
        case kExtXSa2: encode_sa(w, *m.x_sa2); return {};
        case kExtKeyAuth: return encode_key(w, *m.key_auth);
        case kExtKeyEncrypt: return encode_key(w, *m.key_encrypt);
        case kExtIdentitySrc: return encode_identity(w, *m.identity_src);
        case kExtIdentityDst: return encode_identity(w, *m.identity_dst);
        case kExtProposal:
            w.put(m.proposal->replay);
            w.zeros(3);
            for (const auto& c : m.proposal->combs) encode_comb(w, c);
            return {};
        case kExtSupportedAuth:
        case kExtSupportedEncrypt: {
            const auto& s = type == kExtSupportedAuth ? *m.supported_auth : *m.supported_encrypt;
            w.zeros(4);
            for (const auto& a : s.algs) {
                w.put(a.id);
                w.put(a.ivlen);
                w.put(a.minbits);
                w.put(a.maxbits);
                w.zeros(2);
            }
            return {};
        }
        case kExtSpiRange:
            w.put(m.spirange->min);
            w.put(m.spirange->max);
            w.zeros(4);
            return {};
        case kExtXSaType2:
            w.put(m.x_satype2->satype);
            w.zeros(3);
            return {};
        case kExtXDebug:
            for (auto word : m.x_debug->words) w.put(word);
            w.zeros(4);
            return {};
        case kExtXProtocol:
            w.put(m.x_protocol->proto);
            w.put(m.x_protocol->direction);
            w.put(m.x_protocol->flags);
            w.zeros(1);
            return {};
        case kExtXTncfg:
            w.put(m.x_tncfg->operation);
            w.zeros(3);
            if (auto err = encode_name(w, m.x_tncfg->virtual_name)) return err;
            return encode_name(w, m.x_tncfg->physical_name);
        case kExtXClock:
            w.put(m.x_clock->operation);
            w.zeros(3);
            w.put(m.x_clock->seconds);
            return {};
        default: *present = false; return {};
    }
}

// All extension types the codec knows, in encoding order.
constexpr std::array<uint16_t, 26> kEncodedTypes{
    1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 14, 15, 16, 18, 19, 20, 21, 22, 23, 24, 25, 26, 200, 201};

// Appends one whole extension; false in *present when absent.
Error encode_extension(std::vector<uint8_t>& out, const Message& m, uint16_t type, bool* present) {
    Writer w(out);
    size_t start = w.size();
    w.zeros(kExtHeaderSize);
    if (auto err = encode_body(w, m, type, present)) return err;
    if (!*present) {
        out.resize(start);
        return {};
    }
    w.pad();
    size_t length = w.size() - start;
    if (length > kMaxBytes) return text_error("extension longer than 524280 bytes");
    auto units = static_cast<uint16_t>(length / kAlign);
    std::memcpy(out.data() + start, &units, 2);
    std::memcpy(out.data() + start + 2, &type, 2);
    return {};
}

void append_hex(std::string& s, std::span<const uint8_t> bytes) {
    static constexpr char kHex[] = "0123456789abcdef";
    for (uint8_t b : bytes) {
        s += kHex[b >> 4];
        s += kHex[b & 15];
    }
}

template <typename... Args>
void appendf(std::string& s, const char* format, Args... args) {
    char buffer[256];
    int n = std::snprintf(buffer, sizeof buffer, format, args...);
    if (n > 0) s.append(buffer, std::min(static_cast<size_t>(n), sizeof buffer - 1));
}

}  // namespace

bool Message::has(uint16_t t) const {
    if (auto* slot = address_slot(*this, t)) return slot->has_value();
    if (auto* slot = lifetime_slot(*this, t)) return slot->has_value();
    switch (t) {
        case kExtSa: return sa.has_value();
        case kExtKeyAuth: return key_auth.has_value();
        case kExtKeyEncrypt: return key_encrypt.has_value();
        case kExtIdentitySrc: return identity_src.has_value();
        case kExtIdentityDst: return identity_dst.has_value();
        case kExtProposal: return proposal.has_value();
        case kExtSupportedAuth: return supported_auth.has_value();
        case kExtSupportedEncrypt: return supported_encrypt.has_value();
        case kExtSpiRange: return spirange.has_value();
        case kExtXSaType2: return x_satype2.has_value();
        case kExtXSa2: return x_sa2.has_value();
        case kExtXDebug: return x_debug.has_value();
        case kExtXProtocol: return x_protocol.has_value();
        case kExtXTncfg: return x_tncfg.has_value();
        case kExtXClock: return x_clock.has_value();
        default: return false;
    }
}

Parsed<Message> decode_layout(std::span<const uint8_t> d) {
    if (d.size() < kMsgSize) return text_error("message shorter than the 16-byte sadb_msg");
    if (d.size() % kAlign != 0) return text_error("datagram size is not a multiple of 8 bytes");
    if (d[0] != kVersion) return text_error("sadb_msg_version is not 2");
    if (size_t{load<uint16_t>(d, 4)} * kAlign != d.size()) {
        return text_error("sadb_msg_len does not match the datagram size");
    }
    Message m;
    m.type = d[1];
    m.errno_value = d[2];
    m.satype = d[3];
    m.reserved = load<uint16_t>(d, 6);
    m.seq = load<uint32_t>(d, 8);
    m.pid = load<uint32_t>(d, 12);
    // An error answer is the header of whatever it answers, garbage included: it may carry
    // any type and satype, but nothing else.
    const bool error_answer = m.errno_value != 0 && d.size() == kMsgSize;
    if (!error_answer && !is_known_message_type(m.type)) return text_error("sadb_msg_type is unknown");
    // X_PROMISC's satype is its on (1) / off (0) switch (RFC 2367 §3.1.14).
    if (!error_answer && m.type != kXPromisc && !is_known_satype(m.satype)) {
        return text_error("sadb_msg_satype is unknown");
    }

    for (size_t at = kMsgSize; at < d.size();) {
        // `at` and d.size() are multiples of 8, so the 4-byte ext header is inside.
        size_t units = load<uint16_t>(d, at);
        uint16_t type = load<uint16_t>(d, at + 2);
        bool known = (type >= kExtSa && type <= kExtXProtocol) || is_private_ext(type);
        if (!known) return text_error("unknown extension type");
        if (units == 0) return ext_error(type, kErrTooShort);
        if (units * kAlign > d.size() - at) return ext_error(type, kErrPastEnd);
        if (type == kExtSensitivity || type == kExtXKmPrivate) return ext_error(type, kErrUnsupported);
        if (m.has(type)) return ext_error(type, kErrDuplicate);
        if (auto err = decode_extension(type, d.subspan(at, units * kAlign), m)) return *err;
        at += units * kAlign;
    }
    return m;
}

Parsed<Message> decode(std::span<const uint8_t> datagram) {
    auto m = decode_layout(datagram);
    if (!m) return m;
    if (auto err = validate(*m)) return *err;
    return m;
}

Parsed<std::vector<uint8_t>> encode(const Message& m) {
    std::vector<uint8_t> out;
    out.reserve(256);  // most messages fit: one allocation
    Writer w(out);
    w.put(kVersion);
    w.put(m.type);
    w.put(m.errno_value);
    w.put(m.satype);
    w.put(uint16_t{0});  // length, below
    w.put(m.reserved);
    w.put(m.seq);
    w.put(m.pid);
    for (uint16_t type : kEncodedTypes) {
        bool present = false;
        if (auto err = encode_extension(out, m, type, &present)) return *err;
    }
    if (out.size() > kMaxBytes) return text_error("message longer than 524280 bytes");
    auto units = static_cast<uint16_t>(out.size() / kAlign);
    std::memcpy(out.data() + 4, &units, 2);
    return out;
}

std::string_view message_type_name(uint8_t type) {
    static constexpr std::array<std::string_view, 17> kNames{
        "reserved", "getspi", "update", "add", "delete", "get", "acquire", "register", "expire",
        "flush", "dump", "x-promisc", "x-pchange", "x-groupsa", "x-addflow(eroute)",
        "x-delflow(eroute)", "x-debug"};
    if (type < kNames.size()) return kNames[type];
    if (type == kXTncfg) return "x-tncfg";
    if (type == kXClock) return "x-clock";
    return "unknown";
}

std::string to_string(const Message& m) {
    std::string s;
    auto encoded = encode(m);
    size_t total_units = encoded ? encoded->size() / kAlign : 0;
    appendf(s, "version=%d type=%d errno=%d satype=%d len=%zu seq=%u pid=%u ", int{kVersion},
            int{m.type}, int{m.errno_value}, int{m.satype}, total_units, m.seq, m.pid);
    for (uint16_t type : kEncodedTypes) {
        if (!m.has(type)) continue;
        std::vector<uint8_t> ext;
        bool present = false;
        if (encode_extension(ext, m, type, &present)) {
            appendf(s, "{ext=%d unencodable} ", int{type});
            continue;
        }
        appendf(s, "{ext=%d len=%zu ", int{type}, ext.size() / kAlign);
        if (type == kExtSa || type == kExtXSa2) {
            const SaExt& sa = type == kExtSa ? *m.sa : *m.x_sa2;
            appendf(s, "spi=%08x replay=%d state=%d auth=%d encrypt=%d flags=%08x ref=%08x} ", sa.spi,
                    int{sa.replay}, int{sa.state}, int{sa.auth}, int{sa.encrypt}, sa.flags, sa.x_sa_ref);
        } else if (is_address(type)) {
            const AddressExt& a = **address_slot(m, type);
            appendf(s, "proto=%d prefixlen=%d addr=0x", int{a.proto}, int{a.prefixlen});
            append_hex(s, std::span(ext).subspan(kAddressHeaderSize));
            s += " } ";
        } else if (type == kExtXProtocol) {
            appendf(s, "proto=%d direction=%d flags=%d } ", int{m.x_protocol->proto},
                    int{m.x_protocol->direction}, int{m.x_protocol->flags});
        } else if (is_lifetime(type)) {
            const LifetimeExt& lt = **lifetime_slot(m, type);
            appendf(s, "allocations=%u bytes=%llu addtime=%llu usetime=%llu packets=%u } ", lt.allocations,
                    static_cast<unsigned long long>(lt.bytes), static_cast<unsigned long long>(lt.addtime),
                    static_cast<unsigned long long>(lt.usetime), lt.packets);
        } else if (type == kExtKeyAuth || type == kExtKeyEncrypt) {
            // Never the key itself.
            const KeyExt& k = type == kExtKeyAuth ? *m.key_auth : *m.key_encrypt;
            appendf(s, "bits=%d key=<hidden> } ", int{k.bits});
        } else {
            s += "bytes=0x";
            append_hex(s, std::span(ext).subspan(kExtHeaderSize));
            s += " } ";
        }
    }
    if (!s.empty() && s.back() == ' ') s.back() = '\n';
    return s;
}

}  // namespace kmod_sim::pfkey
