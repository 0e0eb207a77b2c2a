// Security Association IDentifiers — protocol, SPI and destination — and their KLIPS text
// forms (ttosa / satot), magic SAIDs included (spec/klips.md §1.4).
#pragma once

#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "ip_address.h"
#include "text_result.h"

namespace kmod_sim {

// IP protocol numbers of SAs (the `proto` of an SAID).
enum SaProtocol : uint8_t {
    kSaTun = 4,     // IPPROTO_IPIP, "tun"
    kSaEsp = 50,    // "esp"
    kSaAh = 51,     // "ah"
    kSaInt = 61,    // KLIPS's internal "magic" SAs, "int"
    kSaComp = 108,  // IPPROTO_COMP, "comp"
};

// SPIs of the magic `int` SAIDs.
enum MagicSpi : uint32_t {
    kSpiPass = 256,
    kSpiDrop = 257,
    kSpiReject = 258,
    kSpiHold = 259,
    kSpiTrap = 260,
    kSpiTrapSubnet = 261,
};

struct Said {
    IpAddress dst;
    uint32_t spi = 0;  // host order
    uint8_t proto = 0;

    friend bool operator==(const Said&, const Said&) = default;
    friend std::strong_ordering operator<=>(const Said&, const Said&) = default;
};

// The magic SAIDs: %pass, %drop, … are int SAs with SPIs 256..261 and dst 0.0.0.0;
// %passthrough (= %passthrough4) is tun SPI 0 to 0.0.0.0, %passthrough6 the same to ::.
Said magic_said(MagicSpi spi);
Said passthrough_said(AddressFamily af);
// tun SPI 0 to an unspecified address, IPv4 or IPv6: the legacy %passthrough bypass.
bool is_passthrough(const Said& said);

// "ah", "esp", "tun", "comp", "int"; nullopt for any other protocol.
std::optional<std::string_view> sa_protocol_name(uint8_t proto);

// satot formats.
enum class SaidFormat : char {
    dotted = 0,       // esp.130@1.2.3.4, esp:130@3049:1::1  ('.' IPv4, ':' IPv6, hex SPI)
    padded = 'f',     // as dotted, SPI zero-padded to 8 hex digits
    hex = 'x',        // esp0x130@1.2.3.4 (no family character)
    decimal = 'd',    // esp304@1.2.3.4
};

// Formats an SAID as satot (OS2.6 and later): %passthrough4/%passthrough6 for tun SPI 0 to
// an unspecified address; %pass … %trapsubnet for int SPIs 256..261 and %unk-<spi> for other
// int SPIs (whatever the address); unk<proto> for an unknown protocol.
std::string satot(const Said& said, SaidFormat format);
// satot, appended to `out` (the listings' fast path).
void append_satot(std::string& out, const Said& said, SaidFormat format);

// Parses "<proto><spi>@<addr>" or a magic name, as ttosa. After the protocol, '.' means a
// hex SPI and IPv4, ':' a hex SPI and IPv6; otherwise the SPI is ttoul base 0 ("0x130" hex,
// "130" decimal, "0130" octal) and the family is IPv6 iff the address has a ':'. Errors:
// "empty string", "string too short to be SA identifier", "unknown % keyword", "no @ in SA
// specifier", "SA specifier lacks valid protocol prefix", "no SPI in SA specifier", "no SPI
// found in SA specifier", ttoul's and ttoaddr's; and "SPI too large" for an SPI over 32 bits
// (KLIPS on 64-bit machines silently truncated it).
Parsed<Said> ttosa(std::string_view text);

}  // namespace kmod_sim
