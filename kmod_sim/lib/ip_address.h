// IPv4 and IPv6 addresses and their KLIPS text forms (ttoaddr / addrtot).
#pragma once

#include <sys/socket.h>

#include <array>
#include <compare>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "text_result.h"

namespace kmod_sim {

enum class AddressFamily : uint8_t {
    unspecified = AF_UNSPEC,  // "guess" when parsing
    inet = AF_INET,
    inet6 = AF_INET6,
};

// Bytes in an address of the family: 4, 16, or 0 for unspecified.
constexpr size_t address_length(AddressFamily af) {
    return af == AddressFamily::inet ? 4 : af == AddressFamily::inet6 ? 16 : 0;
}

// An IPv4 or IPv6 address in network byte order. A default-constructed address has no
// family (KLIPS's "<none>"). Ordering is by family, then bytes: the order of the radij key.
class IpAddress {
public:
    IpAddress() = default;

    static IpAddress v4(uint8_t a, uint8_t b, uint8_t c, uint8_t d);
    static IpAddress v4(uint32_t host_order);
    // bytes.size() must equal address_length(af) (4 or 16); anything else gives <none>.
    static IpAddress from_bytes(AddressFamily af, std::span<const uint8_t> bytes);
    // 0.0.0.0 or ::
    static IpAddress unspecified(AddressFamily af);

    AddressFamily family() const { return family_; }
    bool is_v4() const { return family_ == AddressFamily::inet; }
    bool is_v6() const { return family_ == AddressFamily::inet6; }
    bool has_family() const { return family_ != AddressFamily::unspecified; }
    // All bytes zero (0.0.0.0 or ::); false for <none>.
    bool is_unspecified() const;

    std::span<const uint8_t> bytes() const { return {bytes_.data(), address_length(family_)}; }
    std::span<uint8_t> mutable_bytes() { return {bytes_.data(), address_length(family_)}; }
    // The IPv4 address as a host-order integer (0 for other families).
    uint32_t v4_host_order() const;

    // This address AND mask, byte by byte (mask must be of the same family).
    IpAddress masked(const IpAddress& mask) const;

    friend bool operator==(const IpAddress&, const IpAddress&) = default;
    friend std::strong_ordering operator<=>(const IpAddress&, const IpAddress&) = default;

private:
    AddressFamily family_ = AddressFamily::unspecified;
    std::array<uint8_t, 16> bytes_{};  // unused bytes are always zero
};

// A mask of `bits` leading one bits (bits <= 32 for inet, <= 128 for inet6).
IpAddress mask_from_bits(AddressFamily af, int bits);

// The prefix length of a contiguous mask, or -1 when the mask is not contiguous
// (libfreeswan's masktocount/goodmask).
int mask_bits(const IpAddress& mask);

// Parses a numeric address, as libfreeswan's ttoaddr_num (no name lookup):
//  - IPv4 dotted decimal with 1 to 4 parts; missing trailing parts are 0, so "10" is
//    10.0.0.0 and "10.1" is 10.1.0.0; leading zeros are decimal ("010" is 10);
//  - with af == inet only: "0x" + 8 hex digits (network order) or "0h" + 8 hex digits
//    (host order of the little-endian machines KLIPS ran on);
//  - IPv6 colon-hex with at most one "::"; no embedded IPv4;
//  - "%any": the unspecified address of af (IPv4 when af is unspecified), as pluto read it.
// af == unspecified guesses IPv6 when the text has a ':'. Errors are KLIPS's own, e.g.
// "non-ipv6 address may not contain `:'", "byte overflow in dotted-decimal address",
// "more than one :: in IPv6 numeric address", "not numeric".
Parsed<IpAddress> ttoaddr(std::string_view text, AddressFamily af);

// addrtot, appended to `out` (the listings' fast path).
void append_addrtot(std::string& out, const IpAddress& address);

// Formats an address as KLIPS's addrtot(…, 0): dotted quad, or lowercase colon-hex with
// the FIRST run of two or more zero groups written "::" (not the longest run, unlike
// RFC 5952). A default-constructed address prints "<none>".
std::string addrtot(const IpAddress& address);

}  // namespace kmod_sim
