// Randomised properties of the text forms (spec/klips.md §1): formatting then parsing gives the
// value back, the formatters follow the spec's rules (checked against small reference formatters
// written here from those rules), and no text, however malformed, crashes a parser.
//
// The generator is a std::mt19937_64 with a fixed seed, printed with every failure, so a failure
// is reproducible.
#include <catch2/catch.hpp>

#include <array>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "kmod_sim/lib/ip_address.h"
#include "kmod_sim/lib/number_text.h"
#include "kmod_sim/lib/said.h"
#include "kmod_sim/lib/subnet.h"

#include "text_string_makers.h"


using namespace kmod_sim;

namespace {

constexpr uint64_t kSeed = 0x6b6d6f642d73696dULL;  // "kmod-sim"
constexpr int kRounds = 5000;
constexpr int kFuzzRounds = 20000;

constexpr auto kUnspec = AddressFamily::unspecified;
constexpr auto kInet = AddressFamily::inet;
constexpr auto kInet6 = AddressFamily::inet6;

using Rng = std::mt19937_64;

uint64_t below(Rng& rng, uint64_t n) { return std::uniform_int_distribution<uint64_t>(0, n - 1)(rng); }
bool coin(Rng& rng) { return below(rng, 2) == 0; }

std::string hex(uint64_t v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%" PRIx64, v);
    return buf;
}

std::string hex_padded8(uint64_t v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%08" PRIx64, v);
    return buf;
}

std::string octal(uint64_t v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%" PRIo64, v);
    return buf;
}

// ---- random values --------------------------------------------------------------------------

// A 16-bit group: zero half the time (so "::" compression is exercised), otherwise short or full.
uint16_t random_group(Rng& rng) {
    switch (below(rng, 4)) {
        case 0:
        case 1: return 0;
        case 2: return static_cast<uint16_t>(1 + below(rng, 0xff));
        default: return static_cast<uint16_t>(below(rng, 0x10000));
    }
}

std::array<uint16_t, 8> random_groups(Rng& rng) {
    std::array<uint16_t, 8> g{};
    for (auto& x : g) x = random_group(rng);
    return g;
}

IpAddress from_groups(const std::array<uint16_t, 8>& g) {
    std::array<uint8_t, 16> bytes{};
    for (size_t i = 0; i < 8; ++i) {
        bytes[2 * i] = static_cast<uint8_t>(g[i] >> 8);
        bytes[2 * i + 1] = static_cast<uint8_t>(g[i] & 0xff);
    }
    return IpAddress::from_bytes(kInet6, bytes);
}

IpAddress random_v4(Rng& rng) {
    // Mostly uniform, sometimes with zero bytes.
    std::array<uint8_t, 4> b{};
    for (auto& x : b) x = below(rng, 4) == 0 ? 0 : static_cast<uint8_t>(below(rng, 256));
    return IpAddress::v4(b[0], b[1], b[2], b[3]);
}

IpAddress random_address(Rng& rng, AddressFamily af) {
    return af == kInet ? random_v4(rng) : from_groups(random_groups(rng));
}

AddressFamily random_family(Rng& rng) { return coin(rng) ? kInet : kInet6; }

// ---- reference formatters, written from spec §1.2 -------------------------------------------

std::string reference_v4(const IpAddress& a) {
    std::string s;
    for (uint8_t b : a.bytes()) s += (s.empty() ? "" : ".") + std::to_string(b);
    return s;
}

// Lowercase hex groups without leading zeros; the FIRST run of two or more zero groups (the
// whole run) becomes "::"; a single zero group is never collapsed.
std::string reference_v6(const std::array<uint16_t, 8>& g) {
    auto join = [&](size_t from, size_t to) {
        std::string s;
        for (size_t i = from; i < to; ++i) s += (i == from ? "" : ":") + hex(g[i]);
        return s;
    };
    for (size_t i = 0; i + 1 < 8; ++i) {
        if (g[i] == 0 && g[i + 1] == 0) {
            size_t j = i;
            while (j < 8 && g[j] == 0) ++j;
            return join(0, i) + "::" + join(j, 8);
        }
    }
    return join(0, 8);
}

std::array<uint16_t, 8> groups_of(const IpAddress& a) {
    std::array<uint16_t, 8> g{};
    const auto b = a.bytes();
    for (size_t i = 0; i < 8 && 2 * i + 1 < b.size(); ++i) g[i] = static_cast<uint16_t>(b[2 * i] << 8 | b[2 * i + 1]);
    return g;
}

std::string reference_addr(const IpAddress& a) { return a.is_v4() ? reference_v4(a) : reference_v6(groups_of(a)); }

// Another legal spelling of the same IPv6 address: random leading zeros and letter case, and
// "::" over a random run of two or more zero groups (or no "::" at all).
std::string respell_v6(Rng& rng, const std::array<uint16_t, 8>& g) {
    auto group = [&](uint16_t v) {
        std::string digits = hex(v);
        const size_t width = digits.size() + below(rng, 5 - digits.size());
        digits.insert(0, width - digits.size(), '0');
        for (char& c : digits)
            if (c >= 'a' && c <= 'f' && coin(rng)) c = static_cast<char>(c - 'a' + 'A');
        return digits;
    };
    std::vector<std::pair<size_t, size_t>> runs;  // [from, to) of >= 2 zero groups
    for (size_t i = 0; i < 8; ++i)
        for (size_t j = i + 2; j <= 8; ++j) {
            bool zeros = true;
            for (size_t k = i; k < j; ++k) zeros = zeros && g[k] == 0;
            if (zeros) runs.emplace_back(i, j);
        }
    std::string s;
    if (runs.empty() || coin(rng)) {
        for (size_t i = 0; i < 8; ++i) s += (i ? ":" : "") + group(g[i]);
        return s;
    }
    const auto [from, to] = runs[below(rng, runs.size())];
    for (size_t i = 0; i < from; ++i) s += (i ? ":" : "") + group(g[i]);
    s += "::";
    for (size_t i = to; i < 8; ++i) s += (i == to ? "" : ":") + group(g[i]);
    return s;
}

const char* family_name(AddressFamily af) {
    return af == kInet ? "inet" : af == kInet6 ? "inet6" : "unspecified";
}

// ---- every message the parsers may give: KLIPS's own plus kmod-sim's two additions ----------

const std::set<std::string_view>& known_errors() {
    static const std::set<std::string_view> messages = {
        // ttoul
        "empty string", "unsupported number base", "non-hex digit in hex number", "hex number too long",
        "non-digit in number", "unsigned-long overflow",
        // ttoaddr
        "invalid address family", "non-ipv6 address may not contain `:'", "not numeric",
        "syntax error in dotted-decimal address", "extra garbage on end of dotted-decimal address",
        "empty number in dotted-decimal address", "non-numeric component in dotted-decimal address",
        "byte overflow in dotted-decimal address", "illegal leading `:' in IPv6 numeric address",
        "illegal trailing `:' in IPv6 numeric address", "more than one :: in IPv6 numeric address",
        "IPv6 numeric address ends prematurely", "syntax error in IPv6 numeric address",
        "extra garbage on end of IPv6 numeric address", "incomplete IPv6 numeric address (internal error)",
        "non-abbreviating empty field in IPv6 numeric address", "non-hex field in IPv6 numeric address",
        "field in IPv6 numeric address longer than 4 hex digits", "internal error, tryhex called with bad length",
        // ttosubnet
        "no / in subnet specification", "unknown address family with 0/0 subnet not allowed.",
        "unknown address family in ttosubnet", "subnet mask bit count too large",
        "non-contiguous or otherwise erroneous mask", "masks are not permitted for IPv6 addresses",
        "port number too large",
        // ttosa
        "string too short to be SA identifier", "unknown % keyword", "no @ in SA specifier",
        "SA specifier lacks valid protocol prefix", "no SPI in SA specifier", "no SPI found in SA specifier",
        "SPI too large",
    };
    return messages;
}

// "" for a failure with a known message; otherwise what is wrong, for the failure report.
template <typename T>
std::string unexpected_failure(const Parsed<T>& r) {
    if (r.ok()) return "(parsed OK)";
    if (r.error().empty()) return "(empty error message)";
    if (known_errors().count(r.error()) == 0) return "unknown message: " + std::string(r.error());
    return "";
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// addresses
// ---------------------------------------------------------------------------------------------

TEST_CASE("IPv4: addrtot matches the dotted-quad rule and ttoaddr reads it back", "[property][address]") {
    INFO("seed " << kSeed);
    Rng rng(kSeed);
    for (int i = 0; i < kRounds; ++i) {
        const IpAddress a = random_v4(rng);
        const std::string text = addrtot(a);
        INFO("round " << i << ": " << text);
        REQUIRE(text == reference_v4(a));
        for (AddressFamily af : {kUnspec, kInet}) {
            const auto back = ttoaddr(text, af);
            REQUIRE(back.ok());
            REQUIRE(back.value() == a);
        }
    }
}

TEST_CASE("IPv6: addrtot collapses the first zero run and ttoaddr reads it back", "[property][address]") {
    INFO("seed " << kSeed);
    Rng rng(kSeed + 1);
    int compressed = 0;
    for (int i = 0; i < kRounds; ++i) {
        const auto g = random_groups(rng);
        const IpAddress a = from_groups(g);
        const std::string text = addrtot(a);
        INFO("round " << i << ": " << text);
        REQUIRE(text == reference_v6(g));
        compressed += text.find("::") != std::string::npos;
        for (AddressFamily af : {kUnspec, kInet6}) {
            const auto back = ttoaddr(text, af);
            REQUIRE(back.ok());
            REQUIRE(back.value() == a);
        }
    }
    // The generator really does exercise both cases.
    CHECK(compressed > kRounds / 4);
    CHECK(compressed < kRounds);
}

TEST_CASE("IPv6: ttoaddr reads any legal spelling (case, leading zeros, where the :: goes)", "[property][address]") {
    INFO("seed " << kSeed);
    Rng rng(kSeed + 2);
    for (int i = 0; i < kRounds; ++i) {
        const auto g = random_groups(rng);
        const std::string text = respell_v6(rng, g);
        INFO("round " << i << ": " << text);
        const auto r = ttoaddr(text, kInet6);
        REQUIRE(r.ok());
        REQUIRE(r.value() == from_groups(g));
    }
}

// ---------------------------------------------------------------------------------------------
// subnets
// ---------------------------------------------------------------------------------------------

TEST_CASE("subnets: subnettot gives ADDR/BITS and ttosubnet reads it back", "[property][subnet]") {
    INFO("seed " << kSeed);
    Rng rng(kSeed + 3);
    for (int i = 0; i < kRounds; ++i) {
        const AddressFamily af = random_family(rng);
        const int bits = static_cast<int>(below(rng, af == kInet ? 33 : 129));
        const IpAddress mask = mask_from_bits(af, bits);
        const Subnet s{random_address(rng, af).masked(mask), mask, 0};
        const std::string text = subnettot(s);
        INFO("round " << i << ": " << text);
        REQUIRE(text == reference_addr(s.address) + "/" + std::to_string(bits));
        REQUIRE(subnetporttot(s) == text);
        for (AddressFamily parse_af : {af, kUnspec}) {
            INFO("parsed with af " << family_name(parse_af));
            const auto back = ttosubnet(text, parse_af);
            REQUIRE(back.ok());
            REQUIRE(back.value() == s);
        }
    }
}

TEST_CASE("subnets with ports: subnetporttot then ttosubnet gives the same subnet", "[property][subnet]") {
    INFO("seed " << kSeed);
    Rng rng(kSeed + 4);
    for (int i = 0; i < kRounds; ++i) {
        const AddressFamily af = random_family(rng);
        const int bits = static_cast<int>(below(rng, af == kInet ? 33 : 129));
        const IpAddress mask = mask_from_bits(af, bits);
        const auto port = static_cast<uint16_t>(below(rng, 0x10000));
        const Subnet s{random_address(rng, af).masked(mask), mask, port};
        const std::string text = subnetporttot(s);
        INFO("round " << i << ": " << text);
        REQUIRE(text == subnettot(s) + (port ? ":" + std::to_string(port) : std::string()));
        const auto back = ttosubnet(text, af);
        REQUIRE(back.ok());
        REQUIRE(back.value() == s);
    }
}

// ---------------------------------------------------------------------------------------------
// SAIDs
// ---------------------------------------------------------------------------------------------

TEST_CASE("SAIDs: satot in every format follows §1.4 and ttosa reads it back", "[property][said]") {
    INFO("seed " << kSeed);
    Rng rng(kSeed + 5);
    const struct {
        uint8_t proto;
        const char* name;
    } protos[] = {{kSaAh, "ah"}, {kSaEsp, "esp"}, {kSaTun, "tun"}, {kSaComp, "comp"}};
    for (int i = 0; i < kRounds; ++i) {
        const auto& p = protos[below(rng, 4)];
        const auto spi = static_cast<uint32_t>(0x100 + below(rng, 0x100000000ull - 0x100));
        const AddressFamily af = random_family(rng);
        const Said s{random_address(rng, af), spi, p.proto};
        const std::string at = "@" + reference_addr(s.dst);
        const std::string sep = af == kInet ? "." : ":";
        const struct {
            SaidFormat format;
            std::string expected;
        } forms[] = {
            {SaidFormat::dotted, p.name + sep + hex(spi) + at},
            {SaidFormat::padded, p.name + sep + hex_padded8(spi) + at},
            {SaidFormat::hex, p.name + ("0x" + hex(spi)) + at},
            {SaidFormat::decimal, p.name + std::to_string(spi) + at},
        };
        for (const auto& form : forms) {
            const std::string text = satot(s, form.format);
            INFO("round " << i << ": " << text);
            REQUIRE(text == form.expected);
            const auto back = ttosa(text);
            REQUIRE(back.ok());
            REQUIRE(back.value() == s);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// numbers
// ---------------------------------------------------------------------------------------------

TEST_CASE("numbers: ultot in each base and ttoul read the value back", "[property][number]") {
    INFO("seed " << kSeed);
    Rng rng(kSeed + 6);
    for (int i = 0; i < kRounds; ++i) {
        uint64_t v = 0;
        switch (below(rng, 4)) {
            case 0: v = rng(); break;                                 // full range
            case 1: v = below(rng, 1000); break;                      // small
            case 2: v = rng() >> below(rng, 64); break;               // any length
            default: v = (uint64_t{1} << below(rng, 64)) - below(rng, 2); break;  // powers of two, and one less
        }
        INFO("round " << i << ": value " << v);
        const struct {
            int base;
            std::string expected;
            int parse_base;
        } forms[] = {
            {kBaseDecimal, std::to_string(v), 10},
            {kBaseDecimal, std::to_string(v), 0},
            {'d', std::to_string(v), 10},
            {kBaseHex, hex(v), 16},
            {kBaseHexPadded, hex_padded8(v), 16},
            {kBaseHexPrefixed, "0x" + hex(v), 0},
            {kBaseOctal, octal(v), 8},
            {kBaseOctalPrefixed, "0" + octal(v), 0},
            {kBaseOctalPrefixed, "0" + octal(v), 8},
        };
        for (const auto& form : forms) {
            const std::string text = ultot(v, form.base);
            INFO("ultot base " << form.base << " gave " << text << ", parsed with base " << form.parse_base);
            REQUIRE(text == form.expected);
            const auto back = ttoul(text, form.parse_base);
            REQUIRE(back.ok());
            REQUIRE(back.value() == v);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// robustness: malformed text
// ---------------------------------------------------------------------------------------------

namespace {

// Parses `text` with every parser. Each must either succeed with a value whose canonical text
// parses back to the same value, or fail with one of the known messages.
void check_parsers_on(const std::string& text) {
    INFO("text \"" << text << "\" (" << text.size() << " bytes)");
    for (AddressFamily af : {kUnspec, kInet, kInet6}) {
        INFO("af " << family_name(af));
        const auto a = ttoaddr(text, af);
        if (a.ok()) {
            REQUIRE(a->has_family());
            const auto again = ttoaddr(addrtot(*a), a->family());
            REQUIRE(again.ok());
            REQUIRE(again.value() == a.value());
        } else {
            REQUIRE(unexpected_failure(a) == "");
        }

        const auto s = ttosubnet(text, af);
        if (s.ok()) {
            REQUIRE(s->address.has_family());
            REQUIRE(s->mask.family() == s->address.family());
            REQUIRE(s->prefix_bits() >= 0);
            REQUIRE(s->address == s->address.masked(s->mask));
            const auto again = ttosubnet(subnetporttot(*s), s->family());
            REQUIRE(again.ok());
            REQUIRE(again.value() == s.value());
        } else {
            REQUIRE(unexpected_failure(s) == "");
        }
    }

    const auto sa = ttosa(text);
    if (sa.ok()) {
        REQUIRE(sa->dst.has_family());
        const bool int_unk = sa->proto == kSaInt && (sa->spi < kSpiPass || sa->spi > kSpiTrapSubnet);
        const bool int_magic_elsewhere = sa->proto == kSaInt && !int_unk && sa->dst != IpAddress::v4(0, 0, 0, 0);
        if (!int_unk && !int_magic_elsewhere) {  // those print as names that do not say the dst
            const auto again = ttosa(satot(*sa, SaidFormat::dotted));
            REQUIRE(again.ok());
            REQUIRE(again.value() == sa.value());
        }
    } else {
        REQUIRE(unexpected_failure(sa) == "");
    }

    for (int base : {0, 8, 10, 16}) {
        INFO("ttoul base " << base);
        const auto n = ttoul(text, base);
        if (n.ok()) {
            const auto again = ttoul(ultot(*n, 10), 10);
            REQUIRE(again.ok());
            REQUIRE(again.value() == n.value());
        } else {
            REQUIRE(unexpected_failure(n) == "");
        }
    }
}

}  // namespace

TEST_CASE("robustness: random short strings never crash a parser", "[property][fuzz]") {
    INFO("seed " << kSeed);
    Rng rng(kSeed + 7);
    static constexpr std::string_view kAlphabet = "0123456789abcdefx.:/%@ ";
    for (int i = 0; i < kFuzzRounds; ++i) {
        const size_t length = below(rng, 17);
        std::string text;
        for (size_t k = 0; k < length; ++k) text += kAlphabet[below(rng, kAlphabet.size())];
        INFO("round " << i);
        check_parsers_on(text);
    }
}

TEST_CASE("robustness: mutated valid texts never crash a parser", "[property][fuzz]") {
    INFO("seed " << kSeed);
    Rng rng(kSeed + 8);
    static const std::vector<std::string> kCorpus = {
        "1.2.3.4", "10", "128.009.000.032", "0x80090020", "0h01020304", "%any", "::", "::1",
        "3049:1::8007:2040", "abcd:ef01:2345:6789:0:a:0:20", "1.2.3.0/24", "1.2.3.0/24:10",
        "128.9.0.32/0xffFF0000", "1.2.3.1/255.255.255.240", "%default", "3049:1::8007:2040/64:53",
        "::/0", "esp.101@1.2.3.0", "esp:4e@1049:1::8007:2040", "tun0x130@192.168.43.1",
        "esp169@1.2.3.4", "comp20@1.2.3.4", "ah0@0", "int262@0.0.0.0", "%passthrough",
        "%passthrough6", "%trapsubnet", "%hold", "0x130", "0777", "18446744073709551615",
        "ffffffffffffffff",
    };
    // Mutation characters: the syntax, letters of the keywords, and bytes no parser expects.
    static const std::string kCharacters = std::string("0123456789abcdefABCDEFxXhH.:/%@ -_+gptsunikomr") +
                                           std::string(1, '\0') + "\x7f\x80\xff";
    for (int i = 0; i < kFuzzRounds; ++i) {
        std::string text = kCorpus[below(rng, kCorpus.size())];
        const int edits = 1 + static_cast<int>(below(rng, 3));
        for (int e = 0; e < edits; ++e) {
            const char c = kCharacters[below(rng, kCharacters.size())];
            switch (below(rng, 4)) {
                case 0:  // replace
                    if (!text.empty()) text[below(rng, text.size())] = c;
                    break;
                case 1:  // insert
                    text.insert(text.begin() + static_cast<std::ptrdiff_t>(below(rng, text.size() + 1)), c);
                    break;
                case 2:  // delete
                    if (!text.empty()) text.erase(below(rng, text.size()), 1);
                    break;
                default: {  // truncate or duplicate a tail
                    const size_t at = below(rng, text.size() + 1);
                    text = coin(rng) ? text.substr(0, at) : text + text.substr(at);
                    break;
                }
            }
        }
        INFO("round " << i);
        check_parsers_on(text);
    }
}
