// ultot / ttoul: unsigned numbers in KLIPS text (spec/klips.md §1.1; lib/number_text.h).
//
// Expected values are worked out from the spec and the header's rules, never pasted from the
// program's output.
#include <catch2/catch.hpp>

#include <cstdint>
#include <limits>
#include <string>
#include <string_view>

#include "kmod_sim/lib/number_text.h"

using namespace kmod_sim;

namespace {

constexpr uint64_t kMax = std::numeric_limits<uint64_t>::max();

// "error: <message>" for a failed parse, the decimal value otherwise: one string to compare,
// so a failure shows both what was expected and what came back.
std::string outcome(const Parsed<uint64_t>& r) {
    if (!r.ok()) return "error: " + std::string(r.error());
    return std::to_string(r.value());
}

std::string ok(uint64_t v) { return std::to_string(v); }
std::string err(std::string_view message) { return "error: " + std::string(message); }

}  // namespace

// ---------------------------------------------------------------------------------------------
// ultot
// ---------------------------------------------------------------------------------------------

TEST_CASE("ultot base 10 and 'd' print plain decimal", "[ultot]") {
    for (int base : {kBaseDecimal, int{'d'}}) {
        INFO("base " << base);
        CHECK(ultot(0, base) == "0");
        CHECK(ultot(7, base) == "7");
        CHECK(ultot(10, base) == "10");
        CHECK(ultot(169, base) == "169");
        CHECK(ultot(1234567890, base) == "1234567890");
        CHECK(ultot(4294967295u, base) == "4294967295");
        CHECK(ultot(4294967296u, base) == "4294967296");
        CHECK(ultot(kMax, base) == "18446744073709551615");
    }
}

TEST_CASE("ultot base 16 prints lowercase hex without prefix or leading zeros", "[ultot]") {
    CHECK(ultot(0, kBaseHex) == "0");
    CHECK(ultot(9, kBaseHex) == "9");
    CHECK(ultot(0xa, kBaseHex) == "a");
    CHECK(ultot(0xa9, kBaseHex) == "a9");
    CHECK(ultot(0x130, kBaseHex) == "130");
    CHECK(ultot(0xe6de, kBaseHex) == "e6de");
    CHECK(ultot(0xdeadbeef, kBaseHex) == "deadbeef");
    CHECK(ultot(0xABCDEF, kBaseHex) == "abcdef");
    CHECK(ultot(0x100000000ull, kBaseHex) == "100000000");
    CHECK(ultot(kMax, kBaseHex) == "ffffffffffffffff");
}

TEST_CASE("ultot base 17 prints lowercase hex zero-padded to 8 digits", "[ultot]") {
    CHECK(ultot(0, kBaseHexPadded) == "00000000");
    CHECK(ultot(1, kBaseHexPadded) == "00000001");
    CHECK(ultot(0xa9, kBaseHexPadded) == "000000a9");
    CHECK(ultot(0x130, kBaseHexPadded) == "00000130");
    CHECK(ultot(0x1234567, kBaseHexPadded) == "01234567");
    CHECK(ultot(0xdeadbeef, kBaseHexPadded) == "deadbeef");
    CHECK(ultot(0xffffffff, kBaseHexPadded) == "ffffffff");
    // Padding is a minimum width, never a truncation.
    CHECK(ultot(0x123456789ull, kBaseHexPadded) == "123456789");
    CHECK(ultot(kMax, kBaseHexPadded) == "ffffffffffffffff");
}

TEST_CASE("ultot base 'x' prints lowercase hex with a 0x prefix", "[ultot]") {
    CHECK(ultot(0, kBaseHexPrefixed) == "0x0");
    CHECK(ultot(0x9, kBaseHexPrefixed) == "0x9");
    CHECK(ultot(0x130, kBaseHexPrefixed) == "0x130");
    CHECK(ultot(0xe6de, kBaseHexPrefixed) == "0xe6de");
    CHECK(ultot(0xDEADBEEF, kBaseHexPrefixed) == "0xdeadbeef");
    CHECK(ultot(kMax, kBaseHexPrefixed) == "0xffffffffffffffff");
}

TEST_CASE("ultot base 8 prints octal without prefix", "[ultot]") {
    CHECK(ultot(0, kBaseOctal) == "0");
    CHECK(ultot(7, kBaseOctal) == "7");
    CHECK(ultot(8, kBaseOctal) == "10");
    CHECK(ultot(64, kBaseOctal) == "100");
    CHECK(ultot(511, kBaseOctal) == "777");
    CHECK(ultot(0755, kBaseOctal) == "755");
    CHECK(ultot(kMax, kBaseOctal) == "1777777777777777777777");
}

TEST_CASE("ultot base 'o' prints octal with a leading 0", "[ultot]") {
    CHECK(ultot(0, kBaseOctalPrefixed) == "00");
    CHECK(ultot(7, kBaseOctalPrefixed) == "07");
    CHECK(ultot(8, kBaseOctalPrefixed) == "010");
    CHECK(ultot(511, kBaseOctalPrefixed) == "0777");
    CHECK(ultot(kMax, kBaseOctalPrefixed) == "01777777777777777777777");
}

TEST_CASE("ultot with an unknown base gives an empty string", "[ultot]") {
    for (int base : {0, 1, 2, 7, 9, 15, 18, 36, int{'X'}, int{'D'}, int{'O'}, int{'b'}, -1}) {
        INFO("base " << base);
        CHECK(ultot(1234, base).empty());
    }
}

// ---------------------------------------------------------------------------------------------
// ttoul
// ---------------------------------------------------------------------------------------------

TEST_CASE("ttoul base 10 reads decimal", "[ttoul]") {
    CHECK(outcome(ttoul("0", 10)) == ok(0));
    CHECK(outcome(ttoul("7", 10)) == ok(7));
    CHECK(outcome(ttoul("130", 10)) == ok(130));
    CHECK(outcome(ttoul("0130", 10)) == ok(130));  // base given: leading zeros are decimal
    CHECK(outcome(ttoul("000", 10)) == ok(0));
    CHECK(outcome(ttoul("4294967296", 10)) == ok(4294967296u));
    CHECK(outcome(ttoul("18446744073709551615", 10)) == ok(kMax));
}

TEST_CASE("ttoul base 8 reads octal", "[ttoul]") {
    CHECK(outcome(ttoul("0", 8)) == ok(0));
    CHECK(outcome(ttoul("7", 8)) == ok(7));
    CHECK(outcome(ttoul("10", 8)) == ok(8));
    CHECK(outcome(ttoul("777", 8)) == ok(511));
    CHECK(outcome(ttoul("0777", 8)) == ok(511));
    CHECK(outcome(ttoul("1777777777777777777777", 8)) == ok(kMax));
}

TEST_CASE("ttoul base 16 reads hex in either case, without a prefix", "[ttoul]") {
    CHECK(outcome(ttoul("0", 16)) == ok(0));
    CHECK(outcome(ttoul("a9", 16)) == ok(0xa9));
    CHECK(outcome(ttoul("A9", 16)) == ok(0xa9));
    CHECK(outcome(ttoul("130", 16)) == ok(0x130));
    CHECK(outcome(ttoul("000000a9", 16)) == ok(0xa9));
    CHECK(outcome(ttoul("deadbeef", 16)) == ok(0xdeadbeef));
    CHECK(outcome(ttoul("DEADBEEF", 16)) == ok(0xdeadbeef));
    CHECK(outcome(ttoul("dEaDbEeF", 16)) == ok(0xdeadbeef));
    CHECK(outcome(ttoul("0123456789abcdef", 16)) == ok(0x0123456789abcdefull));
    CHECK(outcome(ttoul("ffffffffffffffff", 16)) == ok(kMax));
}

TEST_CASE("ttoul base 0 guesses the base from the prefix", "[ttoul]") {
    SECTION("0x or 0X prefix: hex") {
        CHECK(outcome(ttoul("0x10", 0)) == ok(16));
        CHECK(outcome(ttoul("0X10", 0)) == ok(16));
        CHECK(outcome(ttoul("0x130", 0)) == ok(0x130));
        CHECK(outcome(ttoul("0xa9", 0)) == ok(0xa9));
        CHECK(outcome(ttoul("0XA9", 0)) == ok(0xa9));
        CHECK(outcome(ttoul("0x0", 0)) == ok(0));
        CHECK(outcome(ttoul("0xffffffffffffffff", 0)) == ok(kMax));
    }
    SECTION("leading 0: octal") {
        CHECK(outcome(ttoul("010", 0)) == ok(8));
        CHECK(outcome(ttoul("0130", 0)) == ok(88));
        CHECK(outcome(ttoul("0777", 0)) == ok(511));
        CHECK(outcome(ttoul("00", 0)) == ok(0));
        CHECK(outcome(ttoul("01777777777777777777777", 0)) == ok(kMax));
    }
    SECTION("otherwise: decimal") {
        CHECK(outcome(ttoul("0", 0)) == ok(0));
        CHECK(outcome(ttoul("9", 0)) == ok(9));
        CHECK(outcome(ttoul("10", 0)) == ok(10));
        CHECK(outcome(ttoul("130", 0)) == ok(130));
        CHECK(outcome(ttoul("257", 0)) == ok(257));
        CHECK(outcome(ttoul("18446744073709551615", 0)) == ok(kMax));
    }
}

TEST_CASE("ttoul error: empty string", "[ttoul][errors]") {
    for (int base : {0, 8, 10, 16}) {
        INFO("base " << base);
        CHECK(outcome(ttoul("", base)) == err("empty string"));
    }
}

TEST_CASE("ttoul error: unsupported number base", "[ttoul][errors]") {
    for (int base : {1, 2, 7, 9, 11, 17, 36, int{'x'}, int{'d'}, int{'o'}, -1}) {
        INFO("base " << base);
        CHECK(outcome(ttoul("10", base)) == err("unsupported number base"));
    }
}

TEST_CASE("ttoul error: non-hex digit in hex number", "[ttoul][errors]") {
    CHECK(outcome(ttoul("g", 16)) == err("non-hex digit in hex number"));
    CHECK(outcome(ttoul("12g4", 16)) == err("non-hex digit in hex number"));
    CHECK(outcome(ttoul("0x10", 16)) == err("non-hex digit in hex number"));  // no prefix in base 16
    CHECK(outcome(ttoul("-1", 16)) == err("non-hex digit in hex number"));
    CHECK(outcome(ttoul(" a", 16)) == err("non-hex digit in hex number"));
    CHECK(outcome(ttoul("a ", 16)) == err("non-hex digit in hex number"));
    // Through base 0's "0x" prefix.
    CHECK(outcome(ttoul("0xg", 0)) == err("non-hex digit in hex number"));
    CHECK(outcome(ttoul("0x12z", 0)) == err("non-hex digit in hex number"));
    CHECK(outcome(ttoul("0x0x1", 0)) == err("non-hex digit in hex number"));
}

TEST_CASE("ttoul error: hex number too long", "[ttoul][errors]") {
    // 17 hex digits do not fit 64 bits.
    CHECK(outcome(ttoul("11111111111111111", 16)) == err("hex number too long"));
    CHECK(outcome(ttoul("fffffffffffffffff", 16)) == err("hex number too long"));
    CHECK(outcome(ttoul("0x11111111111111111", 0)) == err("hex number too long"));
}

TEST_CASE("ttoul error: non-digit in number", "[ttoul][errors]") {
    SECTION("base 10") {
        CHECK(outcome(ttoul("a", 10)) == err("non-digit in number"));
        CHECK(outcome(ttoul("12a", 10)) == err("non-digit in number"));
        CHECK(outcome(ttoul("-1", 10)) == err("non-digit in number"));
        CHECK(outcome(ttoul("+1", 10)) == err("non-digit in number"));
        CHECK(outcome(ttoul(" 1", 10)) == err("non-digit in number"));
        CHECK(outcome(ttoul("1 ", 10)) == err("non-digit in number"));
        CHECK(outcome(ttoul("1.5", 10)) == err("non-digit in number"));
        CHECK(outcome(ttoul("0x10", 10)) == err("non-digit in number"));
    }
    SECTION("base 8") {
        CHECK(outcome(ttoul("8", 8)) == err("non-digit in number"));
        CHECK(outcome(ttoul("19", 8)) == err("non-digit in number"));
        CHECK(outcome(ttoul("7a", 8)) == err("non-digit in number"));
    }
    SECTION("base 0") {
        CHECK(outcome(ttoul("78x", 0)) == err("non-digit in number"));   // decimal
        CHECK(outcome(ttoul("7x7", 0)) == err("non-digit in number"));   // decimal
        CHECK(outcome(ttoul("p9", 0)) == err("non-digit in number"));    // decimal
        CHECK(outcome(ttoul("-1", 0)) == err("non-digit in number"));    // decimal
        CHECK(outcome(ttoul("none", 0)) == err("non-digit in number"));  // decimal
        CHECK(outcome(ttoul("09", 0)) == err("non-digit in number"));    // octal
        CHECK(outcome(ttoul("018", 0)) == err("non-digit in number"));   // octal
        // "0x" alone is too short for the hex prefix: leading 0, octal "x".
        CHECK(outcome(ttoul("0x", 0)) == err("non-digit in number"));
        CHECK(outcome(ttoul("0X", 0)) == err("non-digit in number"));
    }
}

TEST_CASE("ttoul error: unsigned-long overflow", "[ttoul][errors]") {
    CHECK(outcome(ttoul("18446744073709551616", 10)) == err("unsigned-long overflow"));
    CHECK(outcome(ttoul("18446744073709551620", 10)) == err("unsigned-long overflow"));
    CHECK(outcome(ttoul("99999999999999999999", 10)) == err("unsigned-long overflow"));
    CHECK(outcome(ttoul("100000000000000000000", 10)) == err("unsigned-long overflow"));
    CHECK(outcome(ttoul("18446744073709551616", 0)) == err("unsigned-long overflow"));
    CHECK(outcome(ttoul("2000000000000000000000", 8)) == err("unsigned-long overflow"));
    CHECK(outcome(ttoul("02000000000000000000000", 0)) == err("unsigned-long overflow"));
}
