#include "ip_address.h"

#include <algorithm>
#include <bit>
#include <optional>

#include "number_text.h"

namespace kmod_sim {

// ---- the address type ------------------------------------------------------------------

IpAddress IpAddress::v4(uint8_t a, uint8_t b, uint8_t c, uint8_t d) {
    IpAddress addr;
    addr.family_ = AddressFamily::inet;
    addr.bytes_ = {a, b, c, d};
    return addr;
}

IpAddress IpAddress::v4(uint32_t host_order) {
    return v4(static_cast<uint8_t>(host_order >> 24), static_cast<uint8_t>(host_order >> 16),
              static_cast<uint8_t>(host_order >> 8), static_cast<uint8_t>(host_order));
}

IpAddress IpAddress::from_bytes(AddressFamily af, std::span<const uint8_t> bytes) {
    IpAddress addr;
    if (af == AddressFamily::unspecified || bytes.size() != address_length(af)) return addr;
    addr.family_ = af;
    std::copy(bytes.begin(), bytes.end(), addr.bytes_.begin());
    return addr;
}

IpAddress IpAddress::unspecified(AddressFamily af) {
    IpAddress addr;
    addr.family_ = af;
    return addr;
}

bool IpAddress::is_unspecified() const {
    auto b = bytes();
    return has_family() && std::all_of(b.begin(), b.end(), [](uint8_t x) { return x == 0; });
}

uint32_t IpAddress::v4_host_order() const {
    if (!is_v4()) return 0;
    return uint32_t{bytes_[0]} << 24 | uint32_t{bytes_[1]} << 16 | uint32_t{bytes_[2]} << 8 |
           bytes_[3];
}

IpAddress IpAddress::masked(const IpAddress& mask) const {
    IpAddress out = *this;
    for (size_t i = 0; i < address_length(family_); ++i) out.bytes_[i] &= mask.bytes_[i];
    return out;
}

IpAddress mask_from_bits(AddressFamily af, int bits) {
    IpAddress mask = IpAddress::unspecified(af);
    auto bytes = mask.mutable_bytes();
    for (size_t i = 0; i < bytes.size() && bits > 0; ++i, bits -= 8)
        bytes[i] = bits >= 8 ? 0xff : static_cast<uint8_t>(0xff00 >> bits);
    return mask;
}

int mask_bits(const IpAddress& mask) {
    auto b = mask.bytes();
    size_t i = 0;
    int bits = 0;
    for (; i < b.size() && b[i] == 0xff; ++i) bits += 8;
    if (i == b.size()) return bits;
    const int ones = std::countl_one(b[i]);
    if (static_cast<uint8_t>(b[i] << ones) != 0) return -1;  // a one after a zero
    bits += ones;
    for (++i; i < b.size(); ++i)
        if (b[i] != 0) return -1;
    return bits;
}

// ---- parsing ---------------------------------------------------------------------------

namespace {

constexpr std::string_view kNotNumeric = "not numeric";

// Dotted decimal. An error with `looked_numeric == false` means the text did not look like
// dotted decimal at all (KLIPS then tried it as a name); the caller reports "not numeric".
struct DottedResult {
    std::optional<IpAddress> address;
    std::string_view error;
    bool looked_numeric = true;
};

DottedResult parse_dotted(std::string_view text) {
    DottedResult result;
    std::array<uint8_t, 4> parts{};
    size_t pos = 0;
    for (size_t part = 0; part < parts.size() && pos < text.size(); ++part) {
        const size_t start = pos;
        unsigned value = 0;
        while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9' && value <= 255)
            value = value * 10 + static_cast<unsigned>(text[pos++] - '0');
        if (pos == start) {
            // "1.2.x" is a broken address; "x" or "1.x" is probably not an address at all.
            result.error = "non-numeric component in dotted-decimal address";
            result.looked_numeric = part > 1;
            return result;
        }
        if (value > 255) {
            result.error = "byte overflow in dotted-decimal address";
            return result;
        }
        parts[part] = static_cast<uint8_t>(value);
        if (part < 3 && pos < text.size() && text[pos++] != '.') {
            result.error = "syntax error in dotted-decimal address";
            result.looked_numeric = part > 0;
            return result;
        }
    }
    if (pos != text.size()) {
        result.error = "extra garbage on end of dotted-decimal address";
        return result;
    }
    result.address = IpAddress::v4(parts[0], parts[1], parts[2], parts[3]);
    return result;
}

// "0x" or "0h" followed by exactly 8 hex digits (IPv4 only).
Parsed<IpAddress> parse_hex_v4(std::string_view digits, bool host_order) {
    auto value = ttoul(digits, 16);
    if (!value) return text_error(value.error());
    auto v = static_cast<uint32_t>(*value);
    if (host_order) {
        // Host order of the little-endian machines KLIPS ran on: bytes reversed.
        v = (v >> 24) | ((v >> 8) & 0xff00) | ((v << 8) & 0xff0000) | (v << 24);
    }
    return IpAddress::v4(v);
}

bool is_hex(char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

// Colon-hex IPv6. KLIPS's rules: a leading or trailing ':' must be part of "::"; at most one
// "::"; 1 to 4 hex digits per group; "::" must stand for at least two zero groups.
Parsed<IpAddress> parse_colon_hex(std::string_view text) {
    constexpr size_t kGroups = 8;
    const size_t end = text.size();
    size_t pos = 0;

    if (text[0] == ':') {
        if (end == 1 || text[1] != ':') return text_error("illegal leading `:' in IPv6 numeric address");
        if (end == 2) return IpAddress::unspecified(AddressFamily::inet6);
        pos = 1;  // the second ':' is read below as an empty group
    }
    if (text[end - 1] == ':' && (end - pos == 1 || text[end - 2] != ':'))
        return text_error("illegal trailing `:' in IPv6 numeric address");

    std::array<uint16_t, kGroups> groups{};
    std::optional<size_t> gap;  // index of the empty group "::" stands for
    size_t count = 0;
    for (; count < kGroups && pos < end; ++count) {
        if (text[pos] == ':') {
            if (gap) return text_error("more than one :: in IPv6 numeric address");
            gap = count;
        } else {
            size_t digits = 0;
            while (pos + digits < end && digits < 4 && is_hex(text[pos + digits])) ++digits;
            if (digits == 0) return text_error("non-hex field in IPv6 numeric address");
            if (digits == 4 && pos + digits < end && is_hex(text[pos + digits]))
                return text_error("field in IPv6 numeric address longer than 4 hex digits");
            groups[count] = static_cast<uint16_t>(*ttoul(text.substr(pos, digits), 16));
            pos += digits;
        }
        if (count < kGroups - 1) {
            if (pos == end && !gap) return text_error("IPv6 numeric address ends prematurely");
            if (pos != end && text[pos++] != ':') return text_error("syntax error in IPv6 numeric address");
        }
    }
    if (pos != end) return text_error("extra garbage on end of IPv6 numeric address");
    if (gap && count == kGroups)
        return text_error("non-abbreviating empty field in IPv6 numeric address");

    std::array<uint16_t, kGroups> full{};
    if (gap) {
        // Groups before the gap stay put; those after it move to the end.
        std::copy(groups.begin(), groups.begin() + static_cast<long>(*gap), full.begin());
        const size_t after = count - (*gap + 1);
        std::copy(groups.begin() + static_cast<long>(*gap + 1),
                  groups.begin() + static_cast<long>(count), full.end() - static_cast<long>(after));
    } else {
        full = groups;
    }
    std::array<uint8_t, 16> bytes{};
    for (size_t i = 0; i < kGroups; ++i) {
        bytes[2 * i] = static_cast<uint8_t>(full[i] >> 8);
        bytes[2 * i + 1] = static_cast<uint8_t>(full[i]);
    }
    return IpAddress::from_bytes(AddressFamily::inet6, bytes);
}

}  // namespace

Parsed<IpAddress> ttoaddr(std::string_view text, AddressFamily af) {
    if (text.empty()) return text_error("empty string");
    if (text == "%any")
        return IpAddress::unspecified(af == AddressFamily::inet6 ? AddressFamily::inet6
                                                                 : AddressFamily::inet);

    if (af == AddressFamily::inet && text.size() == 10 && text[0] == '0') {
        if (text[1] == 'x' || text[1] == 'X') return parse_hex_v4(text.substr(2), false);
        if (text[1] == 'h' || text[1] == 'H') return parse_hex_v4(text.substr(2), true);
    }

    if (text.find(':') != std::string_view::npos) {
        if (af == AddressFamily::inet) return text_error("non-ipv6 address may not contain `:'");
        return parse_colon_hex(text);
    }

    if (af != AddressFamily::inet6) {
        DottedResult dotted = parse_dotted(text);
        if (dotted.address) return *dotted.address;
        if (dotted.looked_numeric) return text_error(dotted.error);
    }
    return text_error(kNotNumeric);
}

// ---- formatting ------------------------------------------------------------------------

namespace {

char* write_decimal_byte(char* p, uint8_t v) {
    if (v >= 100) {
        *p++ = static_cast<char>('0' + v / 100);
        *p++ = static_cast<char>('0' + v / 10 % 10);
    } else if (v >= 10) {
        *p++ = static_cast<char>('0' + v / 10);
    }
    *p++ = static_cast<char>('0' + v % 10);
    return p;
}

char* write_hex_group(char* p, uint16_t v) {
    constexpr char kHex[] = "0123456789abcdef";
    int shift = 12;
    while (shift > 0 && (v >> shift) == 0) shift -= 4;  // no leading zeros
    for (; shift >= 0; shift -= 4) *p++ = kHex[(v >> shift) & 0xf];
    return p;
}

}  // namespace

void append_addrtot(std::string& out, const IpAddress& address) {
    auto b = address.bytes();
    char buf[48];
    char* p = buf;
    if (address.is_v4()) {
        for (size_t i = 0; i < 4; ++i) {
            if (i) *p++ = '.';
            p = write_decimal_byte(p, b[i]);
        }
        out.append(buf, p);
        return;
    }
    if (!address.is_v6()) {
        out += "<none>";
        return;
    }

    std::array<uint16_t, 8> groups{};
    for (size_t i = 0; i < groups.size(); ++i)
        groups[i] = static_cast<uint16_t>(b[2 * i] << 8 | b[2 * i + 1]);

    // KLIPS collapses the FIRST run of two or more zero groups, not the longest.
    size_t run_start = groups.size(), run_end = groups.size();
    for (size_t i = 0; i + 1 < groups.size(); ++i) {
        if (groups[i] == 0 && groups[i + 1] == 0) {
            run_start = i;
            run_end = i;
            while (run_end < groups.size() && groups[run_end] == 0) ++run_end;
            break;
        }
    }

    for (size_t i = 0; i < groups.size(); ++i) {
        if (i == run_start) {
            *p++ = ':';
            *p++ = ':';
            i = run_end - 1;
            continue;
        }
        if (p != buf && p[-1] != ':') *p++ = ':';
        p = write_hex_group(p, groups[i]);
    }
    out.append(buf, p);
}

std::string addrtot(const IpAddress& address) {
    std::string out;
    append_addrtot(out, address);
    return out;
}

}  // namespace kmod_sim
