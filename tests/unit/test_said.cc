// ttosa / satot and the magic SAIDs (spec/klips.md §1.4; lib/said.h).
//
// The regression rows are libfreeswan's ttosa regression table; expected outputs and error
// messages are worked out from the spec and KLIPS's rules, never pasted from the program's output.
#include <catch2/catch.hpp>

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "kmod_sim/lib/ip_address.h"
#include "kmod_sim/lib/said.h"

#include "text_string_makers.h"


using namespace kmod_sim;

namespace {

constexpr auto kInet = AddressFamily::inet;
constexpr auto kInet6 = AddressFamily::inet6;
constexpr auto kDotted = SaidFormat::dotted;
constexpr auto kPadded = SaidFormat::padded;
constexpr auto kHex = SaidFormat::hex;
constexpr auto kDecimal = SaidFormat::decimal;
constexpr SaidFormat kAllFormats[] = {kDotted, kPadded, kHex, kDecimal};

// Marks a row whose text must be refused, with whatever message.
constexpr std::string_view kAnyError = "error: *";

IpAddress v4(uint8_t a, uint8_t b, uint8_t c, uint8_t d) { return IpAddress::v4(a, b, c, d); }

IpAddress v6(std::array<uint16_t, 8> groups) {
    std::array<uint8_t, 16> bytes{};
    for (size_t i = 0; i < 8; ++i) {
        bytes[2 * i] = static_cast<uint8_t>(groups[i] >> 8);
        bytes[2 * i + 1] = static_cast<uint8_t>(groups[i] & 0xff);
    }
    return IpAddress::from_bytes(kInet6, bytes);
}

const IpAddress kAny4 = IpAddress::unspecified(kInet);
const IpAddress kAny6 = IpAddress::unspecified(kInet6);

std::string err(std::string_view message) { return "error: " + std::string(message); }

const char* format_name(SaidFormat f) {
    switch (f) {
        case SaidFormat::dotted: return "dotted (0)";
        case SaidFormat::padded: return "padded ('f')";
        case SaidFormat::hex: return "hex ('x')";
        case SaidFormat::decimal: return "decimal ('d')";
    }
    return "?";
}

// satot of the parsed SAID in `format` (as libfreeswan's regression printed it), or
// "error: <message>".
std::string outcome(const Parsed<Said>& r, SaidFormat format = kDotted) {
    if (!r.ok()) return "error: " + std::string(r.error());
    return satot(r.value(), format);
}

struct Row {
    const char* input;
    std::string expected;  // satot output, err(message), or kAnyError
    SaidFormat format = kDotted;
};

void check_rows(const std::vector<Row>& rows) {
    for (const Row& row : rows) {
        INFO("ttosa(\"" << row.input << "\") then satot " << format_name(row.format));
        const std::string actual = outcome(ttosa(row.input), row.format);
        if (row.expected == kAnyError) {
            CHECK(actual.rfind("error: ", 0) == 0);
            CHECK(actual.size() > std::string_view("error: ").size());
        } else {
            CHECK(actual == row.expected);
        }
    }
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// ttosa: libfreeswan's regression table
// ---------------------------------------------------------------------------------------------

TEST_CASE("ttosa regression rows that parse, printed by satot", "[ttosa][regression]") {
    check_rows({
        {"esp257@1.2.3.0", "esp.101@1.2.3.0"},
        {"ah0x20@1.2.3.4", "ah.20@1.2.3.4"},
        {"tun20@1.2.3.4", "tun.14@1.2.3.4"},
        {"comp20@1.2.3.4", "comp.14@1.2.3.4"},
        {"esp257@::1", "esp:101@::1"},
        {"esp257@0bc:12de::1", "esp:101@bc:12de::1"},
        {"esp78@1049:1::8007:2040", "esp:4e@1049:1::8007:2040"},
        {"esp0x78@1049:1::8007:2040", "esp:78@1049:1::8007:2040"},
        {"ah78@1049:1::8007:2040", "ah:4e@1049:1::8007:2040"},
        {"ah0x78@1049:1::8007:2040", "ah:78@1049:1::8007:2040"},
        {"tun78@1049:1::8007:2040", "tun:4e@1049:1::8007:2040"},
        {"tun0x78@1049:1::8007:2040", "tun:78@1049:1::8007:2040"},
        {"esp9@1.2.3.4", "esp.9@1.2.3.4"},
        {"esp0xa9@1.2.3.4", "esp.000000a9@1.2.3.4", kPadded},
    });
}

TEST_CASE("ttosa regression rows for the magic SAIDs", "[ttosa][regression][magic]") {
    check_rows({
        {"%passthrough", "%passthrough4"},
        {"%passthrough4", "%passthrough4"},
        {"%passthrough6", "%passthrough6"},
        {"%pass", "%pass"},
        {"int256@0.0.0.0", "%pass"},
        {"%drop", "%drop"},
        {"int257@0.0.0.0", "%drop"},
        {"%reject", "%reject"},
        {"int258@0.0.0.0", "%reject"},
        {"%hold", "%hold"},
        {"int259@0.0.0.0", "%hold"},
        {"%trap", "%trap"},
        {"int260@0.0.0.0", "%trap"},
        {"%trapsubnet", "%trapsubnet"},
        {"int261@0.0.0.0", "%trapsubnet"},
        // OS2.6 and later: any other int SPI prints %unk-<decimal SPI>.
        {"int262@0.0.0.0", "%unk-262"},
        {"int0x106@0.0.0.0", "%unk-262"},
    });
}

TEST_CASE("ttosa regression rows that fail, with KLIPS's messages", "[ttosa][regression][errors]") {
    check_rows({
        {"duk99@3ffe:370:400:ff::9001:3001", err("SA specifier lacks valid protocol prefix")},
        {"esp78x@1049:1::8007:2040", err("non-digit in number")},
        {"esp0x78@1049:1:0xfff::8007:2040", err("syntax error in IPv6 numeric address")},
        {"es78@1049:1::8007:2040", err("SA specifier lacks valid protocol prefix")},
        {"", err("empty string")},
        {"_", err("string too short to be SA identifier")},
        {"ah2.2", err("no @ in SA specifier")},  // 5 characters: long enough, but no '@'
        {"goo2@1.2.3.4", err("SA specifier lacks valid protocol prefix")},
        {"espp9@1.2.3.4", err("non-digit in number")},
        {"es9@1.2.3.4", err("SA specifier lacks valid protocol prefix")},
        {"ah@1.2.3.4", err("no SPI in SA specifier")},
        {"esp7x7@1.2.3.4", err("non-digit in number")},
        {"esp77@1.0x2.3.4", err("syntax error in dotted-decimal address")},
    });
}

TEST_CASE("ttosa: an SAID with protocol 77 prints as unk77", "[ttosa][regression]") {
    const auto r = ttosa("esp9@1.2.3.4");
    REQUIRE(r.ok());
    Said s = r.value();
    s.proto = 77;
    CHECK(satot(s, kDotted) == "unk77.9@1.2.3.4");
}

// ---------------------------------------------------------------------------------------------
// ttosa: further rules
// ---------------------------------------------------------------------------------------------

TEST_CASE("ttosa SPI syntax: '.' or ':' means hex, otherwise ttoul base 0", "[ttosa]") {
    check_rows({
        {"esp.130@1.2.3.4", "esp.130@1.2.3.4"},
        {"esp.A9@1.2.3.4", "esp.a9@1.2.3.4"},
        {"esp:e6de@3049:1::120", "esp:e6de@3049:1::120"},
        {"esp0x130@1.2.3.4", "esp.130@1.2.3.4"},
        {"esp0X130@1.2.3.4", "esp.130@1.2.3.4"},
        {"esp130@1.2.3.4", "esp.82@1.2.3.4"},   // decimal 130
        {"esp0130@1.2.3.4", "esp.58@1.2.3.4"},  // octal 0130 = 88
        {"esp0@1.2.3.4", "esp.0@1.2.3.4"},
        {"esp4294967295@1.2.3.4", "esp.ffffffff@1.2.3.4"},
        {"esp.ffffffff@1.2.3.4", "esp.ffffffff@1.2.3.4"},
        {"ah0@0", "ah.0@0.0.0.0"},  // as short as an SAID gets
        {"esp1@1:2::3", "esp:1@1:2::3"},  // family guessed from the ':'
        {"tun.130@192.168.43.1", "tun0x130@192.168.43.1", kHex},
        {"esp169@1.2.3.4", "esp169@1.2.3.4", kDecimal},
    });
}

TEST_CASE("ttosa reads each protocol prefix", "[ttosa]") {
    const struct {
        const char* input;
        uint8_t proto;
    } rows[] = {
        {"ah0x1234@1.2.3.4", kSaAh},
        {"esp0x1234@1.2.3.4", kSaEsp},
        {"tun0x1234@1.2.3.4", kSaTun},
        {"comp0x1234@1.2.3.4", kSaComp},
        {"int0x1234@1.2.3.4", kSaInt},
    };
    for (const auto& row : rows) {
        INFO(row.input);
        const auto r = ttosa(row.input);
        REQUIRE(r.ok());
        CHECK(r.value() == Said{v4(1, 2, 3, 4), 0x1234, row.proto});
    }
    const auto r6 = ttosa("esp:e6de@3049:1::120");
    REQUIRE(r6.ok());
    CHECK(r6.value() == Said{v6({0x3049, 1, 0, 0, 0, 0, 0, 0x120}), 0xe6de, kSaEsp});
}

TEST_CASE("ttosa errors beyond the regression table", "[ttosa][errors]") {
    check_rows({
        {"abcd", err("string too short to be SA identifier")},
        {"ah0@", err("string too short to be SA identifier")},
        // The length check comes first: a 4-character % word is too short.
        {"%foo", err("string too short to be SA identifier")},
        {"%fooo", err("unknown % keyword")},
        {"%PASS", err("unknown % keyword")},
        {"%pass ", err("unknown % keyword")},
        {"%passthrough5", err("unknown % keyword")},
        {"%trapsubnets", err("unknown % keyword")},
        {"%default", err("unknown % keyword")},
        {"esp.@1.2.3.4", err("no SPI found in SA specifier")},
        {"esp:@::1", err("no SPI found in SA specifier")},
        {"ESP1@1.2.3.4", err("SA specifier lacks valid protocol prefix")},
        {"1esp@1.2.3.4", err("SA specifier lacks valid protocol prefix")},
        {"esp1.2.3.4", err("no @ in SA specifier")},
        // ttoul's errors.
        {"esp.1g@1.2.3.4", err("non-hex digit in hex number")},
        {"esp0x1g@1.2.3.4", err("non-hex digit in hex number")},
        {"esp.11111111111111111@1.2.3.4", err("hex number too long")},
        {"esp09@1.2.3.4", err("non-digit in number")},
        {"esp99999999999999999999@1.2.3.4", err("unsigned-long overflow")},
        // SPIs are 32 bits.
        {"esp0x100000000@1.2.3.4", err("SPI too large")},
        {"esp4294967296@1.2.3.4", err("SPI too large")},
        {"esp.100000000@1.2.3.4", err("SPI too large")},
        // ttoaddr's errors; '.' forces IPv4.
        {"esp.1@::1", err("non-ipv6 address may not contain `:'")},
        {"esp1@1.2.3.4.5", err("extra garbage on end of dotted-decimal address")},
        {"esp1@256.2.3.4", err("byte overflow in dotted-decimal address")},
        {"esp1@1:2:3", err("IPv6 numeric address ends prematurely")},
        {"esp1@", err("empty string")},
        {"esp:1@1.2.3.4", std::string(kAnyError)},  // ':' forces IPv6
    });
}

// ---------------------------------------------------------------------------------------------
// magic SAIDs
// ---------------------------------------------------------------------------------------------

TEST_CASE("magic_said and passthrough_said build the internal forms", "[magic]") {
    CHECK(magic_said(kSpiPass) == Said{kAny4, 256, kSaInt});
    CHECK(magic_said(kSpiDrop) == Said{kAny4, 257, kSaInt});
    CHECK(magic_said(kSpiReject) == Said{kAny4, 258, kSaInt});
    CHECK(magic_said(kSpiHold) == Said{kAny4, 259, kSaInt});
    CHECK(magic_said(kSpiTrap) == Said{kAny4, 260, kSaInt});
    CHECK(magic_said(kSpiTrapSubnet) == Said{kAny4, 261, kSaInt});
    CHECK(passthrough_said(kInet) == Said{kAny4, 0, kSaTun});
    CHECK(passthrough_said(kInet6) == Said{kAny6, 0, kSaTun});
}

TEST_CASE("ttosa reads the magic names as their internal forms", "[ttosa][magic]") {
    const struct {
        const char* name;
        Said said;
    } rows[] = {
        {"%pass", Said{kAny4, kSpiPass, kSaInt}},
        {"%drop", Said{kAny4, kSpiDrop, kSaInt}},
        {"%reject", Said{kAny4, kSpiReject, kSaInt}},
        {"%hold", Said{kAny4, kSpiHold, kSaInt}},
        {"%trap", Said{kAny4, kSpiTrap, kSaInt}},
        {"%trapsubnet", Said{kAny4, kSpiTrapSubnet, kSaInt}},
        {"%passthrough", Said{kAny4, 0, kSaTun}},
        {"%passthrough4", Said{kAny4, 0, kSaTun}},
        {"%passthrough6", Said{kAny6, 0, kSaTun}},
        {"tun0@0.0.0.0", Said{kAny4, 0, kSaTun}},
        {"tun0@::", Said{kAny6, 0, kSaTun}},
    };
    for (const auto& row : rows) {
        INFO(row.name);
        const auto r = ttosa(row.name);
        REQUIRE(r.ok());
        CHECK(r.value() == row.said);
    }
}

TEST_CASE("satot prints the magic names in every format", "[satot][magic]") {
    const struct {
        Said said;
        const char* text;
    } rows[] = {
        {magic_said(kSpiPass), "%pass"},
        {magic_said(kSpiDrop), "%drop"},
        {magic_said(kSpiReject), "%reject"},
        {magic_said(kSpiHold), "%hold"},
        {magic_said(kSpiTrap), "%trap"},
        {magic_said(kSpiTrapSubnet), "%trapsubnet"},
        {passthrough_said(kInet), "%passthrough4"},
        {passthrough_said(kInet6), "%passthrough6"},
        // The int check does not look at the destination.
        {Said{v4(1, 2, 3, 4), 256, kSaInt}, "%pass"},
        {Said{v6({0, 0, 0, 0, 0, 0, 0, 1}), 259, kSaInt}, "%hold"},
        // Any other int SPI: %unk-<decimal>, whatever the destination.
        {Said{kAny4, 262, kSaInt}, "%unk-262"},
        {Said{kAny4, 0, kSaInt}, "%unk-0"},
        {Said{kAny4, 255, kSaInt}, "%unk-255"},
        {Said{v4(1, 2, 3, 4), 1000, kSaInt}, "%unk-1000"},
        {Said{kAny6, 262, kSaInt}, "%unk-262"},
    };
    for (const auto& row : rows) {
        for (SaidFormat f : kAllFormats) {
            INFO(row.text << " in format " << format_name(f));
            CHECK(satot(row.said, f) == row.text);
        }
    }
}

TEST_CASE("satot: only tun SPI 0 to an unspecified address is a passthrough", "[satot][magic]") {
    CHECK(satot(Said{v4(1, 2, 3, 4), 0, kSaTun}, kDotted) == "tun.0@1.2.3.4");
    CHECK(satot(Said{v4(1, 2, 3, 4), 0, kSaTun}, kHex) == "tun0x0@1.2.3.4");
    CHECK(satot(Said{v6({0, 0, 0, 0, 0, 0, 0, 1}), 0, kSaTun}, kDotted) == "tun:0@::1");
    CHECK(satot(Said{kAny4, 1, kSaTun}, kDotted) == "tun.1@0.0.0.0");
    CHECK(satot(Said{kAny4, 0, kSaEsp}, kDotted) == "esp.0@0.0.0.0");
    CHECK(satot(Said{kAny6, 0, kSaAh}, kDotted) == "ah:0@::");
}

// ---------------------------------------------------------------------------------------------
// satot formats
// ---------------------------------------------------------------------------------------------

TEST_CASE("satot formats (spec §1.4 table)", "[satot]") {
    const Said tun4{v4(192, 168, 43, 1), 0x130, kSaTun};
    CHECK(satot(tun4, kDotted) == "tun.130@192.168.43.1");
    CHECK(satot(tun4, kPadded) == "tun.00000130@192.168.43.1");
    CHECK(satot(tun4, kHex) == "tun0x130@192.168.43.1");
    CHECK(satot(tun4, kDecimal) == "tun304@192.168.43.1");

    const Said esp6{v6({0x3049, 1, 0, 0, 0, 0, 0, 0x120}), 0xe6de, kSaEsp};
    CHECK(satot(esp6, kDotted) == "esp:e6de@3049:1::120");
    CHECK(satot(esp6, kPadded) == "esp:0000e6de@3049:1::120");
    CHECK(satot(esp6, kHex) == "esp0xe6de@3049:1::120");
    CHECK(satot(esp6, kDecimal) == "esp59102@3049:1::120");

    const Said esp4{v4(1, 2, 3, 4), 0xa9, kSaEsp};
    CHECK(satot(esp4, kDotted) == "esp.a9@1.2.3.4");
    CHECK(satot(esp4, kPadded) == "esp.000000a9@1.2.3.4");
    CHECK(satot(esp4, kHex) == "esp0xa9@1.2.3.4");
    CHECK(satot(esp4, kDecimal) == "esp169@1.2.3.4");
}

TEST_CASE("satot protocol names and SPI extremes", "[satot]") {
    CHECK(satot(Said{v4(1, 2, 3, 4), 0x20, kSaAh}, kDotted) == "ah.20@1.2.3.4");
    CHECK(satot(Said{v4(1, 2, 3, 4), 0x14, kSaComp}, kDotted) == "comp.14@1.2.3.4");
    CHECK(satot(Said{v4(1, 2, 3, 4), 0xdeadbeef, kSaEsp}, kDotted) == "esp.deadbeef@1.2.3.4");
    CHECK(satot(Said{v4(1, 2, 3, 4), 0xffffffff, kSaEsp}, kPadded) == "esp.ffffffff@1.2.3.4");
    CHECK(satot(Said{v4(1, 2, 3, 4), 0xffffffff, kSaEsp}, kHex) == "esp0xffffffff@1.2.3.4");
    CHECK(satot(Said{v4(1, 2, 3, 4), 0xffffffff, kSaEsp}, kDecimal) == "esp4294967295@1.2.3.4");
    CHECK(satot(Said{v4(1, 2, 3, 4), 0, kSaEsp}, kPadded) == "esp.00000000@1.2.3.4");
    CHECK(satot(Said{v4(1, 2, 3, 4), 0, kSaEsp}, kHex) == "esp0x0@1.2.3.4");
    CHECK(satot(Said{v4(1, 2, 3, 4), 0, kSaEsp}, kDecimal) == "esp0@1.2.3.4");
}

TEST_CASE("satot prints an unknown protocol as unk<decimal>", "[satot]") {
    CHECK(satot(Said{v4(1, 2, 3, 4), 9, 77}, kDotted) == "unk77.9@1.2.3.4");
    CHECK(satot(Said{v4(1, 2, 3, 4), 9, 77}, kPadded) == "unk77.00000009@1.2.3.4");
    CHECK(satot(Said{v4(1, 2, 3, 4), 9, 77}, kHex) == "unk770x9@1.2.3.4");
    CHECK(satot(Said{v4(1, 2, 3, 4), 9, 77}, kDecimal) == "unk779@1.2.3.4");
    CHECK(satot(Said{v6({0, 0, 0, 0, 0, 0, 0, 1}), 9, 77}, kDotted) == "unk77:9@::1");
    CHECK(satot(Said{v4(1, 2, 3, 4), 9, 0}, kDotted) == "unk0.9@1.2.3.4");
    CHECK(satot(Said{v4(1, 2, 3, 4), 9, 255}, kDotted) == "unk255.9@1.2.3.4");
}

TEST_CASE("sa_protocol_name", "[said]") {
    CHECK(sa_protocol_name(kSaAh).value_or("<none>") == "ah");
    CHECK(sa_protocol_name(kSaEsp).value_or("<none>") == "esp");
    CHECK(sa_protocol_name(kSaTun).value_or("<none>") == "tun");
    CHECK(sa_protocol_name(kSaComp).value_or("<none>") == "comp");
    CHECK(sa_protocol_name(kSaInt).value_or("<none>") == "int");
    CHECK_FALSE(sa_protocol_name(0).has_value());
    CHECK_FALSE(sa_protocol_name(77).has_value());
    CHECK_FALSE(sa_protocol_name(255).has_value());
}
