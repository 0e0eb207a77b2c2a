#include "spi_keys.h"

#include <cctype>
#include <cstdlib>
#include <cstring>

namespace kmod_sim::userland {

namespace {

int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

int base64_digit(char c) {
    static constexpr std::string_view kAlphabet =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const size_t at = kAlphabet.find(c);
    return at == std::string_view::npos || c == '\0' ? -1 : static_cast<int>(at);
}

// One group of base64 digits (four characters) into 1..3 bytes, '=' padding as unb64.
std::optional<TextError> unb64(std::string_view group, std::vector<uint8_t>* out) {
    int d[4];
    for (int i = 0; i < 4; ++i) d[i] = base64_digit(group[static_cast<size_t>(i)]);
    if (d[0] < 0 || d[1] < 0) return text_error("unknown character in input");
    out->push_back(static_cast<uint8_t>((d[0] << 2) | (d[1] >> 4)));
    if (d[2] < 0) {
        if (group[2] == '=' && group[3] == '=') {
            if ((d[1] & 0xf) != 0) return text_error("bad (non-zero) padding at end of base64 input");
            return std::nullopt;
        }
        return text_error("unknown character in input");
    }
    out->push_back(static_cast<uint8_t>(((d[1] & 0xf) << 4) | (d[2] >> 2)));
    if (d[3] < 0) {
        if (group[3] == '=') {
            if ((d[2] & 0x3) != 0) return text_error("bad (non-zero) padding at end of base64 input");
            return std::nullopt;
        }
        return text_error("unknown character in input");
    }
    out->push_back(static_cast<uint8_t>(((d[2] & 0x3) << 6) | d[3]));
    return std::nullopt;
}

bool starts_with(std::string_view s, std::string_view prefix) { return s.substr(0, prefix.size()) == prefix; }

}  // namespace

Parsed<std::vector<uint8_t>> ttodata(std::string_view text) {
    if (text.size() < 2) return text_error("input too short to be valid");
    if (text[0] != '0') return text_error("input does not begin with format prefix");
    size_t group;
    const char format = static_cast<char>(std::tolower(static_cast<unsigned char>(text[1])));
    if (format == 'x') group = 2;
    else if (format == 's') group = 4;
    else if (format == 't') group = 1;
    else return text_error("unknown format prefix");
    text.remove_prefix(2);

    std::vector<uint8_t> data;
    while (!text.empty()) {
        if (text.size() < group) return text_error("input ends in mid-byte, perhaps truncated");
        const std::string_view stage = text.substr(0, group);
        text.remove_prefix(group);
        if (format == 'x') {
            const int high = hex_digit(stage[0]), low = hex_digit(stage[1]);
            if (high < 0 || low < 0) return text_error("unknown character in input");
            data.push_back(static_cast<uint8_t>(high << 4 | low));
            // ttodata skips one '_' after a byte, unless it is the last character.
            if (text.size() > 1 && text[0] == '_') text.remove_prefix(1);
        } else if (format == 's') {
            if (auto error = unb64(stage, &data)) return *error;
        } else {
            data.push_back(static_cast<uint8_t>(stage[0]));
        }
    }
    if (data.empty()) return text_error("no data bytes specified by input");
    return data;
}

bool LifeOptions::any(Severity severity) const {
    for (const std::string& g : given[severity])
        if (!g.empty()) return true;
    return false;
}

std::optional<LifeError> parse_life_option(std::string_view argument, LifeOptions* life) {
    static constexpr std::string_view kTypeNames[LifeOptions::kTypes] = {"allocations", "bytes", "addtime",
                                                                         "usetime", "packets"};
    const std::string optarg(argument);  // NUL-terminated, for strtoull as KLIPS's strtoul
    const char* p = optarg.c_str();
    const char* end = nullptr;
    do {
        const char* item = p;
        const std::string_view rest(p);
        LifeOptions::Severity severity;
        if (starts_with(rest, "soft")) severity = LifeOptions::soft;
        else if (starts_with(rest, "hard")) severity = LifeOptions::hard;
        else return LifeError{"missing lifetime severity in " + std::string(item), true};
        p += 4;
        if (*p++ != '-') {
            return LifeError{"expected '-' after severity of lifetime parameter to --life option.", true};
        }
        int type = -1;
        for (int t = 0; t < LifeOptions::kTypes; ++t) {
            if (starts_with(p, kTypeNames[t])) {
                type = t;
                p += kTypeNames[t].size();
                break;
            }
        }
        if (type < 0) return LifeError{"missing lifetime type after '-' in " + std::string(item), true};
        const std::string item_text(item, std::strcspn(item, ", "));
        std::string& given = life->given[severity][static_cast<size_t>(type)];
        if (!given.empty()) {
            return LifeError{"Error, lifetime parameter redefined:" + std::string(item) + ", already defined as:" +
                             given, false};
        }
        if (*p++ != '=') {
            return LifeError{"expected '=' after type of lifetime parameter to --life option.", true};
        }
        if (*p == '\0') return LifeError{"expected value after '=' in --life option.", true};
        char* stop = nullptr;
        const unsigned long long value = std::strtoull(p, &stop, 0);
        end = stop;
        const size_t valid = std::strcspn(p, ", ");
        if (!(end == p + std::strlen(p) || end == p + valid)) {
            return LifeError{"Invalid character='" + std::string(1, *end) + "' at offset " +
                             std::to_string(end - optarg.c_str()) + " in lifetime option parameter: '" + optarg +
                             "', parameter string is " + std::to_string(optarg.size()) + " characters long, " +
                             std::to_string(static_cast<long>(valid) - 1) + " valid value characters found.",
                             false};
        }
        if ((type == LifeOptions::allocations || type == LifeOptions::packets) && value > UINT32_MAX) {
            return LifeError{"lifetime value too large in " + item_text + ": allocations and packets are " +
                             "32-bit counts, at most 4294967295.", false};
        }
        life->value[severity][static_cast<size_t>(type)] = value;
        given = item_text;
        p = end + 1;
    } while (*end == ',' || std::isspace(static_cast<unsigned char>(*end)));
    return std::nullopt;
}

}  // namespace kmod_sim::userland
