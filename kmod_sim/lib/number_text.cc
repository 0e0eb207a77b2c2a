#include "number_text.h"

#include <limits>

namespace kmod_sim {

namespace {

constexpr char kLowerHex[] = "0123456789abcdef";

std::string digits(uint64_t n, unsigned base) {
    char buf[64];
    size_t pos = sizeof(buf);
    do {
        buf[--pos] = kLowerHex[n % base];
        n /= base;
    } while (n != 0);
    return std::string(buf + pos, sizeof(buf) - pos);
}

int hex_digit_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

}  // namespace

std::string ultot(uint64_t n, int base) {
    switch (base) {
    case kBaseOctal: return digits(n, 8);
    case kBaseOctalPrefixed: return "0" + digits(n, 8);
    case kBaseDecimal:
    case 'd': return digits(n, 10);
    case kBaseHex: return digits(n, 16);
    case kBaseHexPadded: {
        std::string hex = digits(n, 16);
        return hex.size() < 8 ? std::string(8 - hex.size(), '0') + hex : hex;
    }
    case kBaseHexPrefixed: return "0x" + digits(n, 16);
    default: return {};
    }
}

Parsed<uint64_t> ttoul(std::string_view text, int base) {
    if (text.empty()) return text_error("empty string");

    if (base == 0) {
        if (text.size() > 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X'))
            return ttoul(text.substr(2), 16);
        if (text.size() > 1 && text[0] == '0') return ttoul(text.substr(1), 8);
        return ttoul(text, 10);
    }

    uint64_t value = 0;
    if (base == 16) {
        // Every digit is checked before the length, so "0xzz…" reports the bad digit.
        for (char c : text) {
            int d = hex_digit_value(c);
            if (d < 0) return text_error("non-hex digit in hex number");
            value = (value << 4) | static_cast<uint64_t>(d);
        }
        if (text.size() > 2 * sizeof(uint64_t)) return text_error("hex number too long");
        return value;
    }
    if (base != 8 && base != 10) return text_error("unsupported number base");

    const uint64_t limit = std::numeric_limits<uint64_t>::max() / static_cast<unsigned>(base);
    const uint64_t last_digit_limit =
        std::numeric_limits<uint64_t>::max() - limit * static_cast<unsigned>(base);
    for (char c : text) {
        int d = c - '0';
        if (d < 0 || d >= base) return text_error("non-digit in number");
        auto digit = static_cast<uint64_t>(d);
        if (value > limit || (value == limit && digit > last_digit_limit))
            return text_error("unsigned-long overflow");
        value = value * static_cast<unsigned>(base) + digit;
    }
    return value;
}

}  // namespace kmod_sim
