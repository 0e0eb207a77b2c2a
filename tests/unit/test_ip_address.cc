// ttoaddr / addrtot and the mask helpers (spec/klips.md §1.2; lib/ip_address.h).
//
// Expected values are worked out from the spec and the header's rules, never pasted from the
// program's output.
#include <catch2/catch.hpp>

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "kmod_sim/lib/ip_address.h"

#include "text_string_makers.h"


using namespace kmod_sim;

namespace {

constexpr auto kUnspec = AddressFamily::unspecified;
constexpr auto kInet = AddressFamily::inet;
constexpr auto kInet6 = AddressFamily::inet6;

IpAddress v4(uint8_t a, uint8_t b, uint8_t c, uint8_t d) { return IpAddress::v4(a, b, c, d); }

// An IPv6 address from its eight 16-bit groups.
IpAddress v6(std::array<uint16_t, 8> groups) {
    std::array<uint8_t, 16> bytes{};
    for (size_t i = 0; i < 8; ++i) {
        bytes[2 * i] = static_cast<uint8_t>(groups[i] >> 8);
        bytes[2 * i + 1] = static_cast<uint8_t>(groups[i] & 0xff);
    }
    return IpAddress::from_bytes(kInet6, bytes);
}

std::string raw(const IpAddress& a) { return Catch::StringMaker<IpAddress>::convert(a); }

// The parsed address (formatted without addrtot) or "error: <message>".
std::string outcome(const Parsed<IpAddress>& r) {
    if (!r.ok()) return "error: " + std::string(r.error());
    return raw(r.value());
}

std::string err(std::string_view message) { return "error: " + std::string(message); }

const char* family_name(AddressFamily af) {
    return af == kInet ? "inet" : af == kInet6 ? "inet6" : "unspecified";
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// IpAddress basics the text functions rely on
// ---------------------------------------------------------------------------------------------

TEST_CASE("IpAddress constructors, families and bytes", "[ip_address]") {
    const IpAddress none;
    CHECK_FALSE(none.has_family());
    CHECK(none.family() == kUnspec);
    CHECK(none.bytes().empty());
    CHECK_FALSE(none.is_unspecified());

    const IpAddress a = v4(1, 2, 3, 4);
    CHECK(a.is_v4());
    CHECK_FALSE(a.is_v6());
    REQUIRE(a.bytes().size() == 4);
    CHECK(a.bytes()[0] == 1);
    CHECK(a.bytes()[3] == 4);
    CHECK(a.v4_host_order() == 0x01020304u);
    CHECK(IpAddress::v4(0x01020304u) == a);
    CHECK(IpAddress::from_bytes(kInet, std::array<uint8_t, 4>{1, 2, 3, 4}) == a);

    const IpAddress b = v6({0x3049, 1, 0, 0, 0, 0, 0x8007, 0x2040});
    CHECK(b.is_v6());
    REQUIRE(b.bytes().size() == 16);
    CHECK(b.bytes()[0] == 0x30);
    CHECK(b.bytes()[1] == 0x49);
    CHECK(b.bytes()[15] == 0x40);
    CHECK(b.v4_host_order() == 0);

    CHECK(IpAddress::unspecified(kInet) == v4(0, 0, 0, 0));
    CHECK(IpAddress::unspecified(kInet6) == v6({0, 0, 0, 0, 0, 0, 0, 0}));
    CHECK(IpAddress::unspecified(kInet).is_unspecified());
    CHECK(IpAddress::unspecified(kInet6).is_unspecified());
    CHECK_FALSE(a.is_unspecified());
    CHECK(v4(0, 0, 0, 0) != v6({0, 0, 0, 0, 0, 0, 0, 0}));

    // A byte count that does not match the family gives <none>.
    CHECK_FALSE(IpAddress::from_bytes(kInet, std::array<uint8_t, 3>{1, 2, 3}).has_family());
    CHECK_FALSE(IpAddress::from_bytes(kInet6, std::array<uint8_t, 4>{1, 2, 3, 4}).has_family());
    CHECK_FALSE(IpAddress::from_bytes(kUnspec, std::array<uint8_t, 4>{1, 2, 3, 4}).has_family());
}

TEST_CASE("IpAddress ordering is by family, then bytes", "[ip_address]") {
    CHECK(v4(1, 2, 3, 4) < v4(1, 2, 3, 5));
    CHECK(v4(1, 2, 3, 255) < v4(1, 2, 4, 0));
    CHECK(v4(255, 255, 255, 255) < v6({0, 0, 0, 0, 0, 0, 0, 0}));  // AF_INET < AF_INET6
    CHECK(v6({1, 0, 0, 0, 0, 0, 0, 0}) < v6({1, 0, 0, 0, 0, 0, 0, 1}));
}

TEST_CASE("IpAddress::masked ANDs byte by byte", "[ip_address]") {
    CHECK(v4(10, 1, 2, 3).masked(v4(255, 0, 0, 0)) == v4(10, 0, 0, 0));
    CHECK(v4(1, 2, 3, 1).masked(v4(255, 255, 255, 240)) == v4(1, 2, 3, 0));
    CHECK(v4(10, 1, 2, 3).masked(v4(255, 0, 255, 0)) == v4(10, 0, 2, 0));
    CHECK(v6({0x3049, 0x12, 0, 0, 0, 0, 0x9000, 0x3200}).masked(v6({0xffff, 0xfff0, 0, 0, 0, 0, 0, 0})) ==
          v6({0x3049, 0x10, 0, 0, 0, 0, 0, 0}));
}

// ---------------------------------------------------------------------------------------------
// mask_from_bits / mask_bits
// ---------------------------------------------------------------------------------------------

TEST_CASE("mask_from_bits makes contiguous masks", "[mask]") {
    CHECK(mask_from_bits(kInet, 0) == v4(0, 0, 0, 0));
    CHECK(mask_from_bits(kInet, 1) == v4(128, 0, 0, 0));
    CHECK(mask_from_bits(kInet, 8) == v4(255, 0, 0, 0));
    CHECK(mask_from_bits(kInet, 16) == v4(255, 255, 0, 0));
    CHECK(mask_from_bits(kInet, 17) == v4(255, 255, 128, 0));
    CHECK(mask_from_bits(kInet, 24) == v4(255, 255, 255, 0));
    CHECK(mask_from_bits(kInet, 28) == v4(255, 255, 255, 240));
    CHECK(mask_from_bits(kInet, 31) == v4(255, 255, 255, 254));
    CHECK(mask_from_bits(kInet, 32) == v4(255, 255, 255, 255));

    CHECK(mask_from_bits(kInet6, 0) == v6({0, 0, 0, 0, 0, 0, 0, 0}));
    CHECK(mask_from_bits(kInet6, 21) == v6({0xffff, 0xf800, 0, 0, 0, 0, 0, 0}));
    CHECK(mask_from_bits(kInet6, 28) == v6({0xffff, 0xfff0, 0, 0, 0, 0, 0, 0}));
    CHECK(mask_from_bits(kInet6, 64) == v6({0xffff, 0xffff, 0xffff, 0xffff, 0, 0, 0, 0}));
    CHECK(mask_from_bits(kInet6, 127) ==
          v6({0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xfffe}));
    CHECK(mask_from_bits(kInet6, 128) ==
          v6({0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff}));
}

TEST_CASE("mask_bits counts a contiguous mask and every prefix length round-trips", "[mask]") {
    for (int bits = 0; bits <= 32; ++bits) {
        INFO("inet /" << bits);
        const IpAddress m = mask_from_bits(kInet, bits);
        CHECK(m.is_v4());
        // Independent reference: the top `bits` bits of a 32-bit word.
        const uint32_t expected = bits == 0 ? 0u : ~uint32_t{0} << (32 - bits);
        CHECK(m.v4_host_order() == expected);
        CHECK(mask_bits(m) == bits);
    }
    for (int bits = 0; bits <= 128; ++bits) {
        INFO("inet6 /" << bits);
        const IpAddress m = mask_from_bits(kInet6, bits);
        CHECK(m.is_v6());
        CHECK(mask_bits(m) == bits);
    }
}

TEST_CASE("mask_bits is -1 for a non-contiguous mask", "[mask]") {
    CHECK(mask_bits(v4(255, 0, 255, 0)) == -1);
    CHECK(mask_bits(v4(255, 255, 127, 0)) == -1);
    CHECK(mask_bits(v4(255, 0, 0, 255)) == -1);
    CHECK(mask_bits(v4(0, 0, 255, 255)) == -1);
    CHECK(mask_bits(v4(0, 0, 0, 1)) == -1);
    CHECK(mask_bits(v4(254, 255, 255, 255)) == -1);
    CHECK(mask_bits(v6({0, 0xffff, 0, 0, 0, 0, 0, 0})) == -1);
    CHECK(mask_bits(v6({0xff1f, 0, 0, 0, 0, 0, 0, 0})) == -1);
    CHECK(mask_bits(v6({0xffff, 0, 0xffff, 0, 0, 0, 0, 0})) == -1);
    CHECK(mask_bits(v6({0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xfffd})) == -1);
}

// ---------------------------------------------------------------------------------------------
// addrtot
// ---------------------------------------------------------------------------------------------

TEST_CASE("addrtot prints IPv4 as dotted decimal without leading zeros", "[addrtot]") {
    CHECK(addrtot(v4(192, 168, 2, 110)) == "192.168.2.110");
    CHECK(addrtot(v4(1, 2, 3, 4)) == "1.2.3.4");
    CHECK(addrtot(v4(10, 0, 0, 1)) == "10.0.0.1");
    CHECK(addrtot(v4(128, 9, 0, 32)) == "128.9.0.32");
    CHECK(addrtot(v4(0, 0, 0, 0)) == "0.0.0.0");
    CHECK(addrtot(v4(255, 255, 255, 255)) == "255.255.255.255");
    CHECK(addrtot(IpAddress::v4(0xc0a8022eu)) == "192.168.2.46");
}

TEST_CASE("addrtot collapses the first run of two or more zero groups (spec §1.2 examples)", "[addrtot]") {
    CHECK(addrtot(v6({0x3049, 1, 0, 0, 0, 0, 0, 0})) == "3049:1::");
    CHECK(addrtot(v6({0, 0, 0, 0, 0, 0, 0, 1})) == "::1");
    CHECK(addrtot(v6({1, 0, 0, 2, 0, 0, 0, 3})) == "1::2:0:0:0:3");    // first run, not longest
    CHECK(addrtot(v6({1, 0, 2, 0, 0, 0, 0, 3})) == "1:0:2::3");        // single zero kept
    CHECK(addrtot(v6({0x3058, 4, 0, 0, 0, 0, 0, 5})) == "3058:4::5");
    CHECK(addrtot(v6({0, 0, 0, 0, 0, 0, 0, 0})) == "::");
}

TEST_CASE("addrtot IPv6 details: groups, case, single zeros, runs at either end", "[addrtot]") {
    CHECK(addrtot(v6({1, 2, 0, 0, 3, 4, 0, 0})) == "1:2::3:4:0:0");
    CHECK(addrtot(v6({0x3049, 1, 0, 0, 0, 0, 0x8007, 0x2040})) == "3049:1::8007:2040");
    CHECK(addrtot(v6({0x00bc, 0x12de, 0, 0, 0, 0, 0, 1})) == "bc:12de::1");
    CHECK(addrtot(v6({0xABCD, 0xEF01, 0x2345, 0x6789, 0, 0x000a, 0, 0x20})) ==
          "abcd:ef01:2345:6789:0:a:0:20");
    CHECK(addrtot(v6({1, 2, 3, 4, 5, 6, 7, 8})) == "1:2:3:4:5:6:7:8");
    CHECK(addrtot(v6({0, 1, 2, 3, 4, 5, 6, 7})) == "0:1:2:3:4:5:6:7");
    CHECK(addrtot(v6({1, 2, 3, 4, 5, 6, 7, 0})) == "1:2:3:4:5:6:7:0");
    CHECK(addrtot(v6({1, 0, 2, 0, 3, 0, 4, 0})) == "1:0:2:0:3:0:4:0");
    CHECK(addrtot(v6({0, 0, 1, 2, 3, 4, 5, 6})) == "::1:2:3:4:5:6");
    CHECK(addrtot(v6({1, 2, 3, 4, 5, 6, 0, 0})) == "1:2:3:4:5:6::");
    CHECK(addrtot(v6({0, 0, 0, 0, 0, 0, 0, 1})) == "::1");
    CHECK(addrtot(v6({1, 0, 0, 0, 0, 0, 0, 0})) == "1::");
    CHECK(addrtot(v6({0, 0, 1, 0, 0, 0, 0, 2})) == "::1:0:0:0:0:2");
    CHECK(addrtot(v6({1, 0, 0, 0, 3, 0, 0, 2})) == "1::3:0:0:2");
    CHECK(addrtot(v6({1, 0, 0, 3, 0, 0, 0, 2})) == "1::3:0:0:0:2");
    CHECK(addrtot(v6({1, 0, 3, 0, 0, 0, 0, 2})) == "1:0:3::2");
    CHECK(addrtot(v6({0xa0, 0, 0, 0x0b, 0, 0, 0, 0})) == "a0::b:0:0:0:0");
    CHECK(addrtot(v6({0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff})) ==
          "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff");
    CHECK(addrtot(v6({0xfe80, 0, 0, 0, 0x0202, 0xb3ff, 0xfe1e, 0x8329})) == "fe80::202:b3ff:fe1e:8329");
}

TEST_CASE("addrtot of an address without a family prints <none>", "[addrtot]") {
    CHECK(addrtot(IpAddress()) == "<none>");
    CHECK(addrtot(IpAddress::from_bytes(kInet, std::array<uint8_t, 3>{1, 2, 3})) == "<none>");
}

// ---------------------------------------------------------------------------------------------
// ttoaddr
// ---------------------------------------------------------------------------------------------

TEST_CASE("ttoaddr reads IPv4 dotted decimal with 1 to 4 parts", "[ttoaddr]") {
    for (AddressFamily af : {kUnspec, kInet}) {
        INFO("af " << family_name(af));
        CHECK(outcome(ttoaddr("1.2.3.4", af)) == raw(v4(1, 2, 3, 4)));
        CHECK(outcome(ttoaddr("192.168.2.110", af)) == raw(v4(192, 168, 2, 110)));
        CHECK(outcome(ttoaddr("0.0.0.0", af)) == raw(v4(0, 0, 0, 0)));
        CHECK(outcome(ttoaddr("255.255.255.255", af)) == raw(v4(255, 255, 255, 255)));
        // Missing trailing parts are zero.
        CHECK(outcome(ttoaddr("10", af)) == raw(v4(10, 0, 0, 0)));
        CHECK(outcome(ttoaddr("10.1", af)) == raw(v4(10, 1, 0, 0)));
        CHECK(outcome(ttoaddr("10.0.1", af)) == raw(v4(10, 0, 1, 0)));
        CHECK(outcome(ttoaddr("1.", af)) == raw(v4(1, 0, 0, 0)));
        CHECK(outcome(ttoaddr("1.2.", af)) == raw(v4(1, 2, 0, 0)));
        CHECK(outcome(ttoaddr("1.2.3.", af)) == raw(v4(1, 2, 3, 0)));
        // Leading zeros are decimal, not octal.
        CHECK(outcome(ttoaddr("010", af)) == raw(v4(10, 0, 0, 0)));
        CHECK(outcome(ttoaddr("128.009.000.032", af)) == raw(v4(128, 9, 0, 32)));
        CHECK(outcome(ttoaddr("001.002.003.004", af)) == raw(v4(1, 2, 3, 4)));
        CHECK(outcome(ttoaddr("0001.2.3.0255", af)) == raw(v4(1, 2, 3, 255)));
    }
}

TEST_CASE("ttoaddr with af inet reads 0x (network order) and 0h (host order) hex", "[ttoaddr]") {
    CHECK(outcome(ttoaddr("0x01020304", kInet)) == raw(v4(1, 2, 3, 4)));
    CHECK(outcome(ttoaddr("0X01020304", kInet)) == raw(v4(1, 2, 3, 4)));
    CHECK(outcome(ttoaddr("0x80090020", kInet)) == raw(v4(128, 9, 0, 32)));
    CHECK(outcome(ttoaddr("0xffFF0000", kInet)) == raw(v4(255, 255, 0, 0)));
    CHECK(outcome(ttoaddr("0xC0A8026E", kInet)) == raw(v4(192, 168, 2, 110)));
    CHECK(outcome(ttoaddr("0h01020304", kInet)) == raw(v4(4, 3, 2, 1)));
    CHECK(outcome(ttoaddr("0H01020304", kInet)) == raw(v4(4, 3, 2, 1)));
    CHECK(outcome(ttoaddr("0h6e02a8c0", kInet)) == raw(v4(192, 168, 2, 110)));
    // A non-hex digit in the 8: an error (KLIPS passes ttoul's on).
    CHECK_FALSE(ttoaddr("0x800x0020", kInet).ok());
    // Only exactly 8 hex digits, and only with af inet; otherwise it is dotted decimal, which
    // stops at the 'x' after the first part.
    CHECK(outcome(ttoaddr("0x0102030", kInet)) == err("not numeric"));
    CHECK(outcome(ttoaddr("0x00ffFF0000", kInet)) == err("not numeric"));
    CHECK(outcome(ttoaddr("0xffFF", kInet)) == err("not numeric"));
    CHECK(outcome(ttoaddr("0x01020304", kUnspec)) == err("not numeric"));
    CHECK(outcome(ttoaddr("0h01020304", kUnspec)) == err("not numeric"));
}

TEST_CASE("ttoaddr reads IPv6 colon-hex with at most one ::", "[ttoaddr]") {
    for (AddressFamily af : {kUnspec, kInet6}) {
        INFO("af " << family_name(af));
        CHECK(outcome(ttoaddr("::", af)) == raw(v6({0, 0, 0, 0, 0, 0, 0, 0})));
        CHECK(outcome(ttoaddr("::1", af)) == raw(v6({0, 0, 0, 0, 0, 0, 0, 1})));
        CHECK(outcome(ttoaddr("1::", af)) == raw(v6({1, 0, 0, 0, 0, 0, 0, 0})));
        CHECK(outcome(ttoaddr("1::2", af)) == raw(v6({1, 0, 0, 0, 0, 0, 0, 2})));
        CHECK(outcome(ttoaddr("1:2::3:4", af)) == raw(v6({1, 2, 0, 0, 0, 0, 3, 4})));
        CHECK(outcome(ttoaddr("1:2:3:4:5:6:7:8", af)) == raw(v6({1, 2, 3, 4, 5, 6, 7, 8})));
        CHECK(outcome(ttoaddr("0:0:0:0:0:0:0:0", af)) == raw(v6({0, 0, 0, 0, 0, 0, 0, 0})));
        CHECK(outcome(ttoaddr("1:0:0:0:0:0:0:2", af)) == raw(v6({1, 0, 0, 0, 0, 0, 0, 2})));
        CHECK(outcome(ttoaddr("1:2:3:4:5:6::", af)) == raw(v6({1, 2, 3, 4, 5, 6, 0, 0})));
        CHECK(outcome(ttoaddr("::3:4:5:6:7:8", af)) == raw(v6({0, 0, 3, 4, 5, 6, 7, 8})));
        CHECK(outcome(ttoaddr("3049:1::8007:2040", af)) ==
              raw(v6({0x3049, 1, 0, 0, 0, 0, 0x8007, 0x2040})));
        CHECK(outcome(ttoaddr("0bc:12de::1", af)) == raw(v6({0xbc, 0x12de, 0, 0, 0, 0, 0, 1})));
        CHECK(outcome(ttoaddr("ABCD:EF01::", af)) == raw(v6({0xabcd, 0xef01, 0, 0, 0, 0, 0, 0})));
        CHECK(outcome(ttoaddr("abcd:ef01:2345:6789:0:00a:000:20", af)) ==
              raw(v6({0xabcd, 0xef01, 0x2345, 0x6789, 0, 0xa, 0, 0x20})));
        CHECK(outcome(ttoaddr("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", af)) ==
              raw(v6({0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff})));
    }
}

TEST_CASE("ttoaddr reads %any as the unspecified address of the family", "[ttoaddr]") {
    CHECK(outcome(ttoaddr("%any", kUnspec)) == raw(v4(0, 0, 0, 0)));
    CHECK(outcome(ttoaddr("%any", kInet)) == raw(v4(0, 0, 0, 0)));
    CHECK(outcome(ttoaddr("%any", kInet6)) == raw(v6({0, 0, 0, 0, 0, 0, 0, 0})));
}

TEST_CASE("ttoaddr error: empty string", "[ttoaddr][errors]") {
    for (AddressFamily af : {kUnspec, kInet, kInet6}) {
        INFO("af " << family_name(af));
        CHECK(outcome(ttoaddr("", af)) == err("empty string"));
    }
}

TEST_CASE("ttoaddr IPv4 errors", "[ttoaddr][errors]") {
    struct Row {
        const char* input;
        const char* error;
    };
    const Row rows[] = {
        {"256.1.1.1", "byte overflow in dotted-decimal address"},
        {"328.9.0.32", "byte overflow in dotted-decimal address"},
        {"1.2.3.256", "byte overflow in dotted-decimal address"},
        {"1.2.3.1000", "byte overflow in dotted-decimal address"},
        {"1.999", "byte overflow in dotted-decimal address"},
        // A bad separator after the second or a later part.
        {"1.2x3.4", "syntax error in dotted-decimal address"},
        {"128.9.0k32", "syntax error in dotted-decimal address"},
        {"1.2.3x4", "syntax error in dotted-decimal address"},
        {"1.0x2.3.4", "syntax error in dotted-decimal address"},
        {"128.0x9.0.32", "syntax error in dotted-decimal address"},
        // Nothing numeric in part 0 or 1, or a bad separator right after part 0.
        {"abc", "not numeric"},
        {"x", "not numeric"},
        {".", "not numeric"},
        {"1.x", "not numeric"},
        {"1..2", "not numeric"},
        {"1x2.3.4", "not numeric"},
        {"localhost", "not numeric"},
        {" 1.2.3.4", "not numeric"},
        {"_", "not numeric"},
        {"24._", "not numeric"},
        // Nothing numeric in part 2 or 3.
        {"1.2.x", "non-numeric component in dotted-decimal address"},
        {"1.2.3.x", "non-numeric component in dotted-decimal address"},
        {"128.9..32", "non-numeric component in dotted-decimal address"},
        {"1.2..", "non-numeric component in dotted-decimal address"},
        // Anything after the fourth part.
        {"1.2.3.4.5", "extra garbage on end of dotted-decimal address"},
        {"128.9.0.32.27", "extra garbage on end of dotted-decimal address"},
        {"1.2.3.4.", "extra garbage on end of dotted-decimal address"},
        {"1.2.3.4 ", "extra garbage on end of dotted-decimal address"},
        {"1.2.3.4x", "extra garbage on end of dotted-decimal address"},
    };
    for (AddressFamily af : {kUnspec, kInet}) {
        for (const Row& row : rows) {
            INFO("ttoaddr(\"" << row.input << "\", " << family_name(af) << ")");
            CHECK(outcome(ttoaddr(row.input, af)) == err(row.error));
        }
    }
}

TEST_CASE("ttoaddr IPv6 errors", "[ttoaddr][errors]") {
    struct Row {
        const char* input;
        const char* error;
    };
    const Row rows[] = {
        {":1::2", "illegal leading `:' in IPv6 numeric address"},
        {":", "illegal leading `:' in IPv6 numeric address"},
        {":1:2:3:4:5:6:7", "illegal leading `:' in IPv6 numeric address"},
        {"1::2:", "illegal trailing `:' in IPv6 numeric address"},
        {"1:", "illegal trailing `:' in IPv6 numeric address"},
        {"1:2:3:4:5:6:7:", "illegal trailing `:' in IPv6 numeric address"},
        {"1::2::3", "more than one :: in IPv6 numeric address"},
        {"3049:1::8007::2040", "more than one :: in IPv6 numeric address"},
        {"::1::", "more than one :: in IPv6 numeric address"},
        {"1:g::", "non-hex field in IPv6 numeric address"},
        {"g::1", "non-hex field in IPv6 numeric address"},
        {"3049:1::8007:x:2040", "non-hex field in IPv6 numeric address"},
        {"12345::", "field in IPv6 numeric address longer than 4 hex digits"},
        {"00001::", "field in IPv6 numeric address longer than 4 hex digits"},
        {"3049:1::80071:2040", "field in IPv6 numeric address longer than 4 hex digits"},
        {"1:2:3", "IPv6 numeric address ends prematurely"},
        {"1:2:3:4:5:6:7", "IPv6 numeric address ends prematurely"},
        {"1.2:3::", "syntax error in IPv6 numeric address"},
        {"3049:1::192.168.0.1", "syntax error in IPv6 numeric address"},  // no embedded IPv4
        {"3049:1t::8007:2040", "syntax error in IPv6 numeric address"},
        {"1049:1:0xfff::8007:2040", "syntax error in IPv6 numeric address"},
        {"1:2:3:4:5:6:7:8:9", "extra garbage on end of IPv6 numeric address"},
        {"1::2:3:4:5:6:7:8", "extra garbage on end of IPv6 numeric address"},  // 9 fields
        {"1:2:3:4:5:6:7:8x", "extra garbage on end of IPv6 numeric address"},
        {"1::2:3:4:5:6:7", "non-abbreviating empty field in IPv6 numeric address"},  // 8 fields
        {"::1:2:3:4:5:6:7", "non-abbreviating empty field in IPv6 numeric address"},
        {"1::3:4:5:6:7:8", "non-abbreviating empty field in IPv6 numeric address"},  // :: for one group
    };
    for (AddressFamily af : {kUnspec, kInet6}) {
        for (const Row& row : rows) {
            INFO("ttoaddr(\"" << row.input << "\", " << family_name(af) << ")");
            CHECK(outcome(ttoaddr(row.input, af)) == err(row.error));
        }
    }
}

TEST_CASE("ttoaddr with af inet refuses any ':'", "[ttoaddr][errors]") {
    for (const char* input : {"1:2::3", "::", "::1", "3049:1::8007:2040", "1.2.3.4:80", "1.2:3", ":"}) {
        INFO(input);
        CHECK(outcome(ttoaddr(input, kInet)) == err("non-ipv6 address may not contain `:'"));
    }
}

TEST_CASE("ttoaddr with af inet6 does not read dotted decimal", "[ttoaddr][errors]") {
    for (const char* input : {"1.2.3.4", "10", "0x01020304"}) {
        INFO(input);
        const auto r = ttoaddr(input, kInet6);
        CHECK_FALSE(r.ok());
        if (!r.ok()) CHECK_FALSE(r.error().empty());
    }
}
