// One AH SA's transform (RFC 4302) with HMAC-SHA2-256-128 or HMAC-SHA2-512-256 (RFC 4868).
// Unlike ESP, AH covers the IP header in front of it, so both directions take the whole IP
// packet: seal() inserts the AH header right after the IP header and fixes that header up;
// open() checks it and gives back the packet with AH taken out. The keyed HMAC state lives in
// sodium_malloc memory (crypto/hmac.h). Nothing in a packet path allocates beyond the output
// vector the caller passes, whose capacity is reused.
//
// What is covered of the IP header (RFC 4302 §3.3.3.1): mutable fields are zeroed in a stack
// copy of it before hashing.
//  - IPv4: TOS, flags and fragment offset, TTL and checksum. Options follow Appendix A: Security,
//    Extended Security, Commercial Security, Router Alert and SDMDD are hashed as they are,
//    EOL/NOP too, and every other option is zeroed whole. LSRR/SSRR are mutable but
//    predictable; we do not compute the receiver's view of them and refuse such packets.
//  - IPv6: traffic class, flow label and hop limit. AH goes right after the 40-byte base
//    header: extension headers before AH are not supported yet, so a packet whose base header
//    is followed by hop-by-hop options, a routing header or a fragment header (which must come
//    before AH) is refused, and open() wants AH right after the base header. Destination
//    options (60) are fine on the way out: they stay after AH, where RFC 8200 §4.1 allows them.
//
// Who does what around open(): the caller reads header() for the SPI and the low sequence
// number, asks its ReplayWindow (and esn_guess_high with ESN), then calls open() and, only if
// the ICV passed, accepts the number in the window.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "algorithms.h"
#include "hmac.h"

namespace kmod_sim::crypto {

// Why an AH packet was refused, outbound or inbound (spec/dataplane.md §1.10).
enum class AhStatus {
    ok,
    bad_ip_header,       // not IPv4/IPv6, header or length fields inconsistent with the bytes
    unsupported_header,  // IPv4 LSRR/SSRR, or an IPv6 extension header that would sit before AH
    fragment,            // AH is never applied to fragments, nor checked on them (§3.3.4, §3.4.1)
    not_ah,              // open(): the IP header's protocol/next header is not 51
    too_short,           // open(): the AH header or its ICV field does not fit in the packet
    bad_payload_length,  // open(): AH Payload Len is not what this SA's ICV and IP version make
    icv_mismatch,        // open(): authentication failed
    bad_sequence,        // seal(): seq 0, or above 32 bits without ESN
    too_long,            // seal(): the packet with AH would exceed 65535 bytes of IP length
};

const char* to_string(AhStatus status);

struct AhHeader {
    uint32_t spi;
    uint32_t seq_low;
};

struct AhOpened {
    AhStatus status = AhStatus::bad_ip_header;
    uint8_t next_header = 0;  // AH's Next Header, now in the IP header of the output
    uint32_t spi = 0;
    uint64_t seq = 0;         // with ESN, the guessed high half joined to the received low half
    explicit operator bool() const { return status == AhStatus::ok; }
};

class Ah {
public:
    static constexpr uint8_t kProtocol = 51;
    static constexpr size_t kHeaderSize = 12;  // next header, payload len, reserved, SPI, seq

    // "" when the integrity and key length are usable here, else what is wrong and what is
    // accepted (RFC 4868 §2.1.1: 32-byte keys for SHA2-256-128, 64 for SHA2-512-256).
    static std::string check(Integrity integrity, size_t key_size);

    // Throws std::invalid_argument with check()'s message.
    Ah(Integrity integrity, std::span<const uint8_t> key, bool esn);

    Integrity integrity() const { return hmac_.integrity(); }
    bool esn() const { return esn_; }
    size_t icv_size() const { return hmac_.icv_size(); }
    // The AH header's size, ICV and padding included: a multiple of 4 bytes for IPv4, of 8 for
    // IPv6 (RFC 4302 §2.6): 28/44 for IPv4, 32/48 for IPv6.
    size_t ah_size(bool ipv6) const;

    // Replaces out with packet (a complete IPv4 or IPv6 packet, the IP header first) carrying
    // an AH header right after its IP header, the IP header's protocol/next header, length
    // and (IPv4) checksum fixed up. seq is the full 64-bit counter; only its low half travels.
    // On any status but ok, out is empty. packet and out must not overlap.
    [[nodiscard]] AhStatus seal(uint32_t spi, uint64_t seq, std::span<const uint8_t> packet,
                                std::vector<uint8_t>& out) const;

    // The SPI and low sequence number of the AH header right after the IP header, before any
    // crypto; nullopt when the packet is not AH or too short to hold them.
    static std::optional<AhHeader> header(std::span<const uint8_t> packet);

    // Verifies the AH header right after packet's IP header. seq_high is the ESN guess (ignored
    // without ESN). On ok, out holds the packet without AH, its IP header's protocol/next
    // header taken from AH and its lengths and (IPv4) checksum fixed up; the mutable fields
    // stay as received. On any failure out is empty.
    AhOpened open(std::span<const uint8_t> packet, uint32_t seq_high, std::vector<uint8_t>& out) const;

private:
    Hmac hmac_;
    bool esn_;
};

}  // namespace kmod_sim::crypto
