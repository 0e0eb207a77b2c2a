// Unsigned numbers in text, as libfreeswan's ttoul() and ultot() read and wrote them.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "text_result.h"

namespace kmod_sim {

// ultot bases (spec/klips.md §1.1).
inline constexpr int kBaseOctal = 8;             // octal, no prefix
inline constexpr int kBaseOctalPrefixed = 'o';   // octal with a leading 0
inline constexpr int kBaseDecimal = 10;          // also 'd'
inline constexpr int kBaseHex = 16;              // lowercase hex, no prefix, no leading zeros
inline constexpr int kBaseHexPadded = 17;        // lowercase hex, zero-padded to 8 digits
inline constexpr int kBaseHexPrefixed = 'x';     // lowercase hex with "0x"

// Formats n in one of the bases above; an unknown base gives an empty string.
std::string ultot(uint64_t n, int base);

// Parses an unsigned number. base 0 guesses: "0x"/"0X" prefix = hex, leading 0 = octal,
// otherwise decimal; 8, 10 and 16 are taken literally. Values are 64-bit (unsigned long on
// the LP64 systems KLIPS's userland ran on). Errors: "empty string", "unsupported number
// base", "non-hex digit in hex number", "hex number too long", "non-digit in number",
// "unsigned-long overflow".
Parsed<uint64_t> ttoul(std::string_view text, int base);

}  // namespace kmod_sim
