// The tunnel header (RFC 2003 IPv4-in-IPv4, RFC 4213 §3.5 / RFC 2473 for the IPv6 cases,
// built as RFC 4301 §5.1.2 says): 4-in-4, 6-in-6, 4-in-6 and 6-in-4, with ECN handled in
// RFC 6040's normal mode. Addresses are raw network-order bytes (4 or 16); the inner family
// comes from the packet's version nibble, the outer from the address size.
//
// Outer header fields (spec/dataplane.md §1.7): TTL / hop limit 64; DSCP and ECN copied from
// the inner header (RFC 6040 §4.1 normal mode copies ECN unchanged, CE included); DF copied
// from an inner IPv4 header and set for an inner IPv6 one (IPv6 routers never fragment);
// Identification from a per-tunnel counter; IPv6 flow label copied from an inner IPv6 header,
// else 0; no options or extension headers.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace kmod_sim::crypto {

enum class IpipStatus {
    ok,
    too_short,         // shorter than the header it claims to have
    bad_version,       // version nibble neither 4 nor 6, or not the one the outer protocol says
    bad_protocol,      // outer protocol / next header neither 4 nor 41
    bad_length,        // length fields disagree with each other or with the bytes
    bad_address,       // encapsulate: addresses not both 4 or both 16 bytes
    too_big,           // encapsulate: the result would not fit a 16-bit length
    bad_checksum,      // decapsulate: the outer IPv4 header checksum is wrong
    fragment,          // decapsulate: an outer IPv4 fragment, to reassemble first
    ecn_drop,          // decapsulate: outer CE over an inner Not-ECT (RFC 6040 §4.2)
};

const char* to_string(IpipStatus status);

// ECN codepoints (RFC 3168 §5).
enum class Ecn : uint8_t { not_ect = 0, ect1 = 1, ect0 = 2, ce = 3 };

// RFC 6040 §4.2's egress table: the inner ECN to forward; drop is set for the one
// combination that must be dropped (outer CE over inner Not-ECT).
Ecn ecn_decapsulate(Ecn inner, Ecn outer, bool& drop);

// The RFC 1071 Internet checksum of bytes, as stored in a header (already complemented).
uint16_t internet_checksum(std::span<const uint8_t> bytes);

class IpipTunnel {
public:
    static constexpr uint8_t kProtoIpv4 = 4;   // IPPROTO_IPIP
    static constexpr uint8_t kProtoIpv6 = 41;  // IPPROTO_IPV6
    static constexpr uint8_t kTtl = 64;        // KLIPS SYSCTL_IPSEC_DEFAULT_TTL
    static constexpr size_t kIpv4HeaderSize = 20;
    static constexpr size_t kIpv6HeaderSize = 40;

    // first_id is the Identification of the first IPv4 outer header (tests fix it).
    explicit IpipTunnel(uint16_t first_id = 0) : next_id_(first_id) {}

    // Writes the outer header followed by inner into out (replacing what out held). On any
    // failure out is empty.
    IpipStatus encapsulate(std::span<const uint8_t> inner, std::span<const uint8_t> outer_src,
                           std::span<const uint8_t> outer_dst, std::vector<uint8_t>& out);

    // Only the outer header that encapsulate() would write, appended to out, its lengths
    // counting `inner` as what follows: for a caller that puts the inner packet after it in
    // another form (ESP-encrypted) without copying it twice. Appends nothing on failure.
    IpipStatus write_header(std::span<const uint8_t> inner, std::span<const uint8_t> outer_src,
                            std::span<const uint8_t> outer_dst, std::vector<uint8_t>& out);

    // Checks the outer header and writes the inner packet into out, its ECN field updated by
    // RFC 6040 §4.2 (and its IPv4 checksum with it). Bytes after the outer IPv4 total length
    // (link padding) are ignored. On any failure out is empty.
    static IpipStatus decapsulate(std::span<const uint8_t> outer, std::vector<uint8_t>& out);
    // The same without a copy: *inner is the inner packet inside `outer`, its ECN field (and
    // IPv4 checksum) updated there. Untouched on failure.
    static IpipStatus decapsulate_in_place(std::span<uint8_t> outer, std::span<uint8_t>* inner);

private:
    static IpipStatus locate_inner(std::span<const uint8_t> outer, size_t* offset, size_t* size, Ecn* ecn);

    std::atomic<uint16_t> next_id_;
};

}  // namespace kmod_sim::crypto
