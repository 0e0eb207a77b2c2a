// ttosubnet / subnettot / subnetporttot (spec/klips.md §1.3; lib/subnet.h).
//
// The regression rows are libfreeswan's ttosubnet regression table; expected outputs and error
// messages are worked out from the spec and KLIPS's rules, never pasted from the program's output.
#include <catch2/catch.hpp>

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "kmod_sim/lib/ip_address.h"
#include "kmod_sim/lib/subnet.h"

#include "text_string_makers.h"


using namespace kmod_sim;

namespace {

constexpr auto kUnspec = AddressFamily::unspecified;
constexpr auto kInet = AddressFamily::inet;
constexpr auto kInet6 = AddressFamily::inet6;

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

std::string err(std::string_view message) { return "error: " + std::string(message); }

// subnetporttot of the parsed subnet (as libfreeswan's regression printed it), or
// "error: <message>".
std::string outcome(const Parsed<Subnet>& r) {
    if (!r.ok()) return "error: " + std::string(r.error());
    return subnetporttot(r.value());
}

const char* family_name(AddressFamily af) {
    return af == kInet ? "inet" : af == kInet6 ? "inet6" : "unspecified";
}

struct Row {
    AddressFamily af;
    const char* input;
    std::string expected;  // subnetporttot output, err(message), or kAnyError
};

void check_rows(const std::vector<Row>& rows) {
    for (const Row& row : rows) {
        INFO("ttosubnet(\"" << row.input << "\", " << family_name(row.af) << ")");
        const std::string actual = outcome(ttosubnet(row.input, row.af));
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
// ttosubnet: libfreeswan's regression table, IPv4
// ---------------------------------------------------------------------------------------------

TEST_CASE("ttosubnet IPv4 regression rows that parse", "[ttosubnet][regression]") {
    check_rows({
        {kInet, "1.2.3.0/255.255.255.0", "1.2.3.0/24"},
        {kInet, "1.2.3.0/24", "1.2.3.0/24"},
        {kInet, "1.2.3.0/24:10", "1.2.3.0/24:10"},
        {kInet, "1.2.3.0/24:0x10", "1.2.3.0/24:16"},
        {kInet, "1.2.3.0/24:0X10", "1.2.3.0/24:16"},
        {kInet, "1.2.3.0/24:010", "1.2.3.0/24:8"},
        {kInet, "1.2.3.1/255.255.255.240", "1.2.3.0/28"},
        {kInet, "1.2.3.1/32", "1.2.3.1/32"},
        {kInet, "1.2.3.1/0", "0.0.0.0/0"},
        {kInet, "128.009.000.032/32", "128.9.0.32/32"},
        {kInet, "0x80090020/32", "128.9.0.32/32"},
        {kInet, "128.9.0.32/0xffFF0000", "128.9.0.0/16"},
        {kInet, "10/8", "10.0.0.0/8"},
        {kInet, "10.0/8", "10.0.0.0/8"},
        {kInet, "10.0.0/8", "10.0.0.0/8"},
        {kInet, "10.0.1/24", "10.0.1.0/24"},
        {kInet, "%default", "0.0.0.0/0"},
    });
}

TEST_CASE("ttosubnet IPv4 regression rows that fail, with KLIPS's messages", "[ttosubnet][regression][errors]") {
    check_rows({
        // The port is a ttoul base-0 number.
        {kInet, "1.2.3.0/24:-1", err("non-digit in number")},
        {kInet, "1.2.3.0/24:none", err("non-digit in number")},
        {kInet, "1.2.3.0/24:", err("empty string")},
        // Masks.
        {kInet, "1.2.3.1/255.255.127.0", err("non-contiguous or otherwise erroneous mask")},
        {kInet, "128.9.0.32/0xff0000FF", err("non-contiguous or otherwise erroneous mask")},
        {kInet, "128.9.0.32/0x0000ffFF", err("non-contiguous or otherwise erroneous mask")},
        {kInet, "128.9.0.32/0x00ffFF0000", err("not numeric")},  // not 0x + 8 digits: dotted
        {kInet, "128.9.0.32/0xffFF", err("not numeric")},
        {kInet, "1.2.3.1/99", err("subnet mask bit count too large")},
        {kInet, "1.2.3.1/_", err("not numeric")},
        {kInet, "1.2.3.1/24._", err("not numeric")},
        // Addresses.
        {kInet, "128.0x9.0.32/32", err("syntax error in dotted-decimal address")},
        {kInet, "0x800x0020/32", std::string(kAnyError)},
        {kInet, "128.9.0.32.27/32", err("extra garbage on end of dotted-decimal address")},
        {kInet, "128.9.0k32/32", err("syntax error in dotted-decimal address")},
        {kInet, "328.9.0.32/32", err("byte overflow in dotted-decimal address")},
        {kInet, "128.9..32/32", err("non-numeric component in dotted-decimal address")},
        {kInet, "_/_", err("not numeric")},
        {kInet, "localhost/32", err("not numeric")},
        // No slash.
        {kInet, "_", err("no / in subnet specification")},
        {kInet, "1.2.3.1", err("no / in subnet specification")},
    });
}

// ---------------------------------------------------------------------------------------------
// ttosubnet: libfreeswan's regression table, IPv6
// ---------------------------------------------------------------------------------------------

TEST_CASE("ttosubnet IPv6 regression rows that parse", "[ttosubnet][regression]") {
    check_rows({
        {kInet6, "3049:1::8007:2040/0", "::/0"},
        {kInet6, "3049:1::8007:2040/128", "3049:1::8007:2040/128"},
        {kInet6, "3049:1::8007:2040/64", "3049:1::/64"},
        {kInet6, "3049:1::8007:2040/64:53", "3049:1::/64:53"},
        {kInet6, "::/21", "::/21"},
        {kInet6, "::1/128", "::1/128"},
        {kInet6, "1::/21", "1::/21"},
        {kInet6, "1::2/128", "1::2/128"},
        {kInet6, "1:0:0:0:0:0:0:2/128", "1::2/128"},
        {kInet6, "1:0:0:0:3:0:0:2/128", "1::3:0:0:2/128"},
        {kInet6, "1:0:0:3:0:0:0:2/128", "1::3:0:0:0:2/128"},
        {kInet6, "1:0:3:0:0:0:0:2/128", "1:0:3::2/128"},
        {kInet6, "abcd:ef01:2345:6789:0:00a:000:20/128", "abcd:ef01:2345:6789:0:a:0:20/128"},
        {kInet6, "3049:12::9000:3200/28", "3049:10::/28"},
        {kInet6, "%default", "::/0"},
    });
}

TEST_CASE("ttosubnet IPv6 regression rows that fail, with KLIPS's messages", "[ttosubnet][regression][errors]") {
    check_rows({
        {kInet6, "3049:1::192.168.0.1/128", err("syntax error in IPv6 numeric address")},
        {kInet6, "3049:1::8007::2040/128", err("more than one :: in IPv6 numeric address")},
        {kInet6, "3049:1::8007:x:2040/128", err("non-hex field in IPv6 numeric address")},
        {kInet6, "3049:1t::8007:2040/128", err("syntax error in IPv6 numeric address")},
        {kInet6, "3049:1::80071:2040/128",
         err("field in IPv6 numeric address longer than 4 hex digits")},
        // ":0" is a valid port, leaving a mask that is not a bit count.
        {kInet6, "3049:1::8007:2040/ffff:0", err("masks are not permitted for IPv6 addresses")},
        {kInet6, "3049:1::8007:2040/ff1f:0", err("masks are not permitted for IPv6 addresses")},
        {kInet6, "3049:12::9000:3200/128_", err("masks are not permitted for IPv6 addresses")},
        {kInet6, "3049:12::9000:3200/", err("masks are not permitted for IPv6 addresses")},
    });
}

TEST_CASE("ttosubnet reads the port (after the first ':' of the mask) before the mask",
          "[ttosubnet][regression][errors]") {
    // KLIPS takes everything after the first ':' following the '/' as a base-0 port and parses
    // it first, so these IPv6 "masks" fail on their port text.
    check_rows({
        {kInet6, "3049:1::8007:2040/ffff:", err("empty string")},
        {kInet6, "3049:12::9000:3200/ff00:", err("empty string")},
        {kInet6, "3049:12::9000:3200/ffff:", err("empty string")},
        {kInet6, "3049:1::8007:2040/0000:ffff::0", err("non-digit in number")},
        {kInet6, "3049:1::8007:2040/ffff:ffff:", err("non-digit in number")},
        {kInet6, "3049:1::8007:2040/ffff:88:", err("non-digit in number")},
        {kInet6, "3049:12::9000:3200/ffff:fff0", err("non-digit in number")},
    });
}

// ---------------------------------------------------------------------------------------------
// ttosubnet: further rules
// ---------------------------------------------------------------------------------------------

TEST_CASE("ttosubnet error: empty string", "[ttosubnet][errors]") {
    for (AddressFamily af : {kUnspec, kInet, kInet6}) {
        INFO("af " << family_name(af));
        CHECK(outcome(ttosubnet("", af)) == err("empty string"));
    }
    CHECK(outcome(ttosubnet("1.2.3.0/", kInet)) == err("empty string"));  // empty dotted mask
}

TEST_CASE("ttosubnet %default needs a family", "[ttosubnet]") {
    CHECK(outcome(ttosubnet("%default", kInet)) == "0.0.0.0/0");
    CHECK(outcome(ttosubnet("%default", kInet6)) == "::/0");
    CHECK(outcome(ttosubnet("%default", kUnspec)) ==
          err("unknown address family with 0/0 subnet not allowed."));
    // Spelled out, the default subnets are fine without a family.
    CHECK(outcome(ttosubnet("0.0.0.0/0", kUnspec)) == "0.0.0.0/0");
    CHECK(outcome(ttosubnet("::/0", kUnspec)) == "::/0");
}

TEST_CASE("ttosubnet with af unspecified takes the family of the address", "[ttosubnet]") {
    check_rows({
        {kUnspec, "1.2.3.0/24", "1.2.3.0/24"},
        {kUnspec, "1.2.3.1/255.255.255.240", "1.2.3.0/28"},
        {kUnspec, "10/8", "10.0.0.0/8"},
        {kUnspec, "3049:1::8007:2040/64", "3049:1::/64"},
        {kUnspec, "3049:1::8007:2040/64:53", "3049:1::/64:53"},
        {kUnspec, "1.2.3.1/33", err("subnet mask bit count too large")},
        {kUnspec, "3049:1::/129", err("subnet mask bit count too large")},
    });
    const auto v4net = ttosubnet("1.2.3.0/24", kUnspec);
    REQUIRE(v4net.ok());
    CHECK(v4net->family() == kInet);
    CHECK(v4net->mask.is_v4());
    const auto v6net = ttosubnet("3049:1::/64", kUnspec);
    REQUIRE(v6net.ok());
    CHECK(v6net->family() == kInet6);
    CHECK(v6net->mask.is_v6());
}

TEST_CASE("ttosubnet with af inet refuses an IPv6 address", "[ttosubnet][errors]") {
    CHECK(outcome(ttosubnet("1:2::3/64", kInet)) == err("non-ipv6 address may not contain `:'"));
    CHECK(outcome(ttosubnet("::/0", kInet)) == err("non-ipv6 address may not contain `:'"));
}

TEST_CASE("ttosubnet with af inet6 refuses an IPv4 address", "[ttosubnet][errors]") {
    const auto r = ttosubnet("1.2.3.0/24", kInet6);
    CHECK_FALSE(r.ok());
}

TEST_CASE("ttosubnet bit counts: 0 to 32 for IPv4, 0 to 128 for IPv6", "[ttosubnet]") {
    check_rows({
        {kInet, "1.2.3.4/0", "0.0.0.0/0"},
        {kInet, "1.2.3.4/32", "1.2.3.4/32"},
        {kInet, "1.2.3.4/33", err("subnet mask bit count too large")},
        {kInet, "1.2.3.4/255.255.255.255", "1.2.3.4/32"},
        {kInet, "1.2.3.4/0.0.0.0", "0.0.0.0/0"},
        {kInet, "10.1.2.3/8", "10.0.0.0/8"},
        {kInet, "10.1.2.3/255.0.0.0", "10.0.0.0/8"},
        {kInet, "10.1.2.3/255.0.255.0", err("non-contiguous or otherwise erroneous mask")},
        {kInet6, "3049:1::1/128", "3049:1::1/128"},
        {kInet6, "3049:1::1/129", err("subnet mask bit count too large")},
        {kInet6, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/127", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe/127"},
        {kInet6, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/1", "8000::/1"},
    });
}

TEST_CASE("ttosubnet ports: 0 to 65535", "[ttosubnet]") {
    check_rows({
        {kInet, "1.2.3.0/24:0", "1.2.3.0/24"},  // port 0 is "no port"
        {kInet, "1.2.3.0/24:1", "1.2.3.0/24:1"},
        {kInet, "1.2.3.0/24:65535", "1.2.3.0/24:65535"},
        {kInet, "1.2.3.0/24:0xffff", "1.2.3.0/24:65535"},
        {kInet, "1.2.3.0/24:65536", err("port number too large")},
        {kInet, "1.2.3.0/24:0x10000", err("port number too large")},
        {kInet, "1.2.3.0/24:4294967296", err("port number too large")},
        {kInet6, "3049:1::/64:65535", "3049:1::/64:65535"},
        {kInet6, "3049:1::/64:65536", err("port number too large")},
    });
}

TEST_CASE("ttosubnet values: host bits cleared, contiguous mask, host-order port", "[ttosubnet]") {
    const auto a = ttosubnet("1.2.3.1/24", kInet);
    REQUIRE(a.ok());
    CHECK(a.value() == Subnet{v4(1, 2, 3, 0), v4(255, 255, 255, 0), 0});
    CHECK(a->prefix_bits() == 24);

    const auto b = ttosubnet("1.2.3.0/24:10", kInet);
    REQUIRE(b.ok());
    CHECK(b.value() == Subnet{v4(1, 2, 3, 0), v4(255, 255, 255, 0), 10});

    const auto c = ttosubnet("%default", kInet);
    REQUIRE(c.ok());
    CHECK(c.value() == Subnet{v4(0, 0, 0, 0), v4(0, 0, 0, 0), 0});

    const auto d = ttosubnet("3049:12::9000:3200/28", kInet6);
    REQUIRE(d.ok());
    CHECK(d.value() == Subnet{v6({0x3049, 0x10, 0, 0, 0, 0, 0, 0}), v6({0xffff, 0xfff0, 0, 0, 0, 0, 0, 0}), 0});

    const auto e = ttosubnet("%default", kInet6);
    REQUIRE(e.ok());
    CHECK(e.value() == Subnet{v6({0, 0, 0, 0, 0, 0, 0, 0}), v6({0, 0, 0, 0, 0, 0, 0, 0}), 0});

    const auto f = ttosubnet("3049:1::8007:2040/64:53", kInet6);
    REQUIRE(f.ok());
    CHECK(f.value() == Subnet{v6({0x3049, 1, 0, 0, 0, 0, 0, 0}), v6({0xffff, 0xffff, 0xffff, 0xffff, 0, 0, 0, 0}), 53});
}

// ---------------------------------------------------------------------------------------------
// subnettot / subnetporttot
// ---------------------------------------------------------------------------------------------

TEST_CASE("subnettot always prints /BITS for a contiguous mask", "[subnettot]") {
    CHECK(subnettot(Subnet{v4(1, 2, 3, 0), v4(255, 255, 255, 0), 0}) == "1.2.3.0/24");
    CHECK(subnettot(Subnet{v4(1, 2, 3, 4), v4(255, 255, 255, 255), 0}) == "1.2.3.4/32");
    CHECK(subnettot(Subnet{v4(0, 0, 0, 0), v4(0, 0, 0, 0), 0}) == "0.0.0.0/0");
    CHECK(subnettot(Subnet{v4(10, 0, 0, 0), mask_from_bits(kInet, 8), 0}) == "10.0.0.0/8");
    CHECK(subnettot(Subnet{v4(192, 168, 2, 0), mask_from_bits(kInet, 23), 0}) == "192.168.2.0/23");
    CHECK(subnettot(Subnet{v6({0, 0, 0, 0, 0, 0, 0, 0}), mask_from_bits(kInet6, 0), 0}) == "::/0");
    CHECK(subnettot(Subnet{v6({0, 0, 0, 0, 0, 0, 0, 1}), mask_from_bits(kInet6, 128), 0}) == "::1/128");
    CHECK(subnettot(Subnet{v6({0x3049, 1, 0, 0, 0, 0, 0, 0}), mask_from_bits(kInet6, 64), 0}) == "3049:1::/64");
    CHECK(subnettot(Subnet{v6({0x3049, 1, 0, 0, 0, 0, 0x8007, 0x2040}), mask_from_bits(kInet6, 128), 0}) ==
          "3049:1::8007:2040/128");
}

TEST_CASE("subnettot prints a non-contiguous mask as an address", "[subnettot]") {
    CHECK(subnettot(Subnet{v4(10, 0, 0, 0), v4(255, 0, 255, 0), 0}) == "10.0.0.0/255.0.255.0");
    CHECK(subnettot(Subnet{v4(1, 2, 3, 0), v4(255, 255, 127, 0), 0}) == "1.2.3.0/255.255.127.0");
    CHECK(subnettot(Subnet{v4(0, 0, 0, 1), v4(0, 0, 0, 255), 0}) == "0.0.0.1/0.0.0.255");
    CHECK(subnettot(Subnet{v6({0x3049, 1, 0, 0, 0, 0, 0, 0}), v6({0xffff, 0, 0xffff, 0, 0, 0, 0, 0}), 0}) ==
          "3049:1::/ffff:0:ffff::");
}

TEST_CASE("subnettot prints the address as stored, not masked", "[subnettot]") {
    CHECK(subnettot(Subnet{v4(10, 1, 2, 3), mask_from_bits(kInet, 8), 0}) == "10.1.2.3/8");
    CHECK(subnettot(Subnet{v4(1, 2, 3, 4), mask_from_bits(kInet, 0), 0}) == "1.2.3.4/0");
    CHECK(subnettot(Subnet{v6({0x3049, 1, 0, 0, 0, 0, 0x8007, 0x2040}), mask_from_bits(kInet6, 64), 0}) ==
          "3049:1::8007:2040/64");
}

TEST_CASE("subnettot ignores the port; subnetporttot appends :PORT when it is not 0", "[subnettot]") {
    const Subnet s{v4(1, 2, 3, 0), v4(255, 255, 255, 0), 10};
    CHECK(subnettot(s) == "1.2.3.0/24");
    CHECK(subnetporttot(s) == "1.2.3.0/24:10");
    CHECK(subnetporttot(Subnet{v4(1, 2, 3, 0), v4(255, 255, 255, 0), 0}) == "1.2.3.0/24");
    CHECK(subnetporttot(Subnet{v4(1, 2, 3, 0), v4(255, 255, 255, 0), 65535}) == "1.2.3.0/24:65535");
    CHECK(subnetporttot(Subnet{v4(10, 0, 0, 0), v4(255, 0, 255, 0), 80}) == "10.0.0.0/255.0.255.0:80");
    CHECK(subnetporttot(Subnet{v6({0x3049, 1, 0, 0, 0, 0, 0, 0}), mask_from_bits(kInet6, 64), 53}) ==
          "3049:1::/64:53");
    CHECK(subnetporttot(Subnet{v6({0, 0, 0, 0, 0, 0, 0, 0}), mask_from_bits(kInet6, 0), 500}) == "::/0:500");
}

TEST_CASE("Subnet::prefix_bits and contains", "[subnet]") {
    const Subnet net{v4(10, 0, 0, 0), mask_from_bits(kInet, 8), 0};
    CHECK(net.prefix_bits() == 8);
    CHECK(net.contains(v4(10, 255, 1, 2)));
    CHECK_FALSE(net.contains(v4(11, 0, 0, 0)));
    const Subnet odd{v4(10, 0, 0, 0), v4(255, 0, 255, 0), 0};
    CHECK(odd.prefix_bits() == -1);
    CHECK(odd.contains(v4(10, 7, 0, 9)));
    CHECK_FALSE(odd.contains(v4(10, 7, 1, 9)));
}
