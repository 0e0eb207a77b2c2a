// A decoded PF_KEY v2 message (sadb_msg + typed extensions) and its wire codec.
//
// decode() takes one datagram and returns the message or an error naming the extension or
// field at fault; it never throws and never reads outside the span. It checks the layout
// (lengths, alignment, duplicates, unknown types, address families, prefix lengths, key bits)
// and then pfkey::validate() (pfkey_validate.h: required/permitted extensions per type).
// encode() writes the message back (extensions in ascending type order, as KLIPS's
// pfkey_msg_build), without the semantic validation, so that tests can build bad messages.
//
// Byte order: host order everywhere except sadb_sa_spi and the sockaddr port and address,
// which are network order on the wire (the structs below hold the SPI and port in host order).
// Key bytes are never printed by to_string().
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "ip_address.h"
#include "pfkey_types.h"
#include "text_result.h"

namespace kmod_sim::pfkey {

struct SaExt {
    uint32_t spi = 0;  // host order
    uint8_t replay = 0;
    uint8_t state = 0;
    uint8_t auth = 0;
    uint8_t encrypt = 0;
    uint32_t flags = 0;
    uint32_t x_sa_ref = 0;     // KLIPS 24-byte form only
    bool klips_form = true;    // true: 24-byte KLIPS sadb_sa; false: 16-byte RFC 2367 form
    friend bool operator==(const SaExt&, const SaExt&) = default;
};

struct LifetimeExt {
    uint32_t allocations = 0;
    uint64_t bytes = 0;
    uint64_t addtime = 0;
    uint64_t usetime = 0;
    uint32_t packets = 0;      // KLIPS 40-byte form only
    bool klips_form = true;    // true: 40-byte KLIPS sadb_lifetime; false: 32-byte RFC form
    friend bool operator==(const LifetimeExt&, const LifetimeExt&) = default;
};

// sadb_address + sockaddr_in / sockaddr_in6 (flowinfo and scope id are written as 0).
struct AddressExt {
    uint8_t proto = 0;
    uint8_t prefixlen = 0;
    IpAddress address;   // IPv4 or IPv6 (never <none> in a decoded message)
    uint16_t port = 0;   // host order
    friend bool operator==(const AddressExt&, const AddressExt&) = default;
};

// sadb_key. bits <= 8 * bytes.size(); encode() writes ceil(bits / 8) bytes (padded).
struct KeyExt {
    uint16_t bits = 0;
    std::vector<uint8_t> bytes;  // secret: never printed
    friend bool operator==(const KeyExt&, const KeyExt&) = default;
};

// sadb_ident + NUL-padded string (decode stops at the first NUL; encode refuses a NUL).
struct IdentityExt {
    uint16_t type = 0;
    uint64_t id = 0;
    std::string text;
    friend bool operator==(const IdentityExt&, const IdentityExt&) = default;
};

// sadb_comb, KLIPS's 80-byte form.
struct Comb {
    uint8_t auth = 0;
    uint8_t encrypt = 0;
    uint16_t flags = 0;
    uint16_t auth_minbits = 0;
    uint16_t auth_maxbits = 0;
    uint16_t encrypt_minbits = 0;
    uint16_t encrypt_maxbits = 0;
    uint32_t soft_allocations = 0;
    uint32_t hard_allocations = 0;
    uint64_t soft_bytes = 0;
    uint64_t hard_bytes = 0;
    uint64_t soft_addtime = 0;
    uint64_t hard_addtime = 0;
    uint64_t soft_usetime = 0;
    uint64_t hard_usetime = 0;
    uint32_t soft_packets = 0;
    uint32_t hard_packets = 0;
    friend bool operator==(const Comb&, const Comb&) = default;
};

struct ProposalExt {
    uint8_t replay = 0;
    std::vector<Comb> combs;
    friend bool operator==(const ProposalExt&, const ProposalExt&) = default;
};

// sadb_alg
struct Alg {
    uint8_t id = 0;
    uint8_t ivlen = 0;  // bits
    uint16_t minbits = 0;
    uint16_t maxbits = 0;
    friend bool operator==(const Alg&, const Alg&) = default;
};

struct SupportedExt {
    std::vector<Alg> algs;
    friend bool operator==(const SupportedExt&, const SupportedExt&) = default;
};

struct SpiRangeExt {
    uint32_t min = 0;
    uint32_t max = 0;
    friend bool operator==(const SpiRangeExt&, const SpiRangeExt&) = default;
};

struct XSaTypeExt {
    uint8_t satype = 0;
    friend bool operator==(const XSaTypeExt&, const XSaTypeExt&) = default;
};

// sadb_x_debug: tunnel, netlink, xform, eroute, spi, radij, esp, ah, rcv, pfkey, ipcomp, verbose.
struct XDebugExt {
    enum Word { tunnel, netlink, xform, eroute, spi, radij, esp, ah, rcv, pfkey, ipcomp, verbose };
    std::array<uint32_t, 12> words{};
    friend bool operator==(const XDebugExt&, const XDebugExt&) = default;
};

struct XProtocolExt {
    uint8_t proto = 0;
    uint8_t direction = 0;
    uint8_t flags = 0;
    friend bool operator==(const XProtocolExt&, const XProtocolExt&) = default;
};

// kmod-sim private X_TNCFG extension (pfkey_types.h).
struct XTncfgExt {
    uint8_t operation = 0;
    std::string virtual_name;   // at most 15 characters, no NUL
    std::string physical_name;  // at most 15 characters, no NUL
    friend bool operator==(const XTncfgExt&, const XTncfgExt&) = default;
};

// kmod-sim private X_CLOCK extension (pfkey_types.h).
struct XClockExt {
    uint8_t operation = 0;
    uint64_t seconds = 0;
    friend bool operator==(const XClockExt&, const XClockExt&) = default;
};

struct Message {
    // sadb_msg (version is always 2; len is computed by encode()).
    uint8_t type = 0;
    uint8_t errno_value = 0;
    uint8_t satype = 0;
    uint16_t reserved = 0;
    uint32_t seq = 0;
    uint32_t pid = 0;

    std::optional<SaExt> sa;                       // 1
    std::optional<LifetimeExt> lifetime_current;   // 2
    std::optional<LifetimeExt> lifetime_hard;      // 3
    std::optional<LifetimeExt> lifetime_soft;      // 4
    std::optional<AddressExt> address_src;         // 5
    std::optional<AddressExt> address_dst;         // 6
    std::optional<AddressExt> address_proxy;       // 7
    std::optional<KeyExt> key_auth;                // 8
    std::optional<KeyExt> key_encrypt;             // 9
    std::optional<IdentityExt> identity_src;       // 10
    std::optional<IdentityExt> identity_dst;       // 11
    std::optional<ProposalExt> proposal;           // 13
    std::optional<SupportedExt> supported_auth;    // 14
    std::optional<SupportedExt> supported_encrypt; // 15
    std::optional<SpiRangeExt> spirange;           // 16
    std::optional<XSaTypeExt> x_satype2;           // 18
    std::optional<SaExt> x_sa2;                    // 19
    std::optional<AddressExt> x_address_dst2;      // 20
    std::optional<AddressExt> x_src_flow;          // 21
    std::optional<AddressExt> x_dst_flow;          // 22
    std::optional<AddressExt> x_src_mask;          // 23
    std::optional<AddressExt> x_dst_mask;          // 24
    std::optional<XDebugExt> x_debug;              // 25
    std::optional<XProtocolExt> x_protocol;        // 26
    std::optional<XTncfgExt> x_tncfg;              // 200
    std::optional<XClockExt> x_clock;              // 201

    // True when the extension of that type is present (false for unknown types).
    bool has(uint16_t ext_type) const;

    friend bool operator==(const Message&, const Message&) = default;
};

// Decodes one datagram: checks layout and then validate(). A bare 16-byte header with a
// non-zero errno (an error answer) may carry any type and satype: it echoes the request's.
Parsed<Message> decode(std::span<const uint8_t> datagram);

// Decodes the layout only (no required/permitted checks): for tools that print anything.
Parsed<Message> decode_layout(std::span<const uint8_t> datagram);

// Encodes a message. Errors: "message longer than 524280 bytes", "extension longer than
// 524280 bytes", "key bits exceed the key bytes", "address has no family",
// "interface name longer than 15 characters", "identity text contains a NUL character".
Parsed<std::vector<uint8_t>> encode(const Message& message);

// The pfkey_print-style one-line description ("version=2 type=14 errno=0 satype=9 len=… seq=…
// pid=… {ext=1 len=3 spi=… } …", spec/klips.md §8.6, ending in '\n'); key extensions show
// only their bits ("bits=128 key=<hidden>"), never the key; other extensions without a
// dedicated form print their bytes after the 4-byte ext header in hex.
std::string to_string(const Message& message);

// "getspi", "x-addflow(eroute)", … (pf_key's names); "x-tncfg" for 200, "x-clock" for 201;
// "unknown" otherwise.
std::string_view message_type_name(uint8_t type);

}  // namespace kmod_sim::pfkey
