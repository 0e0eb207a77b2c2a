#include "said.h"

#include <array>

#include "number_text.h"

namespace kmod_sim {

namespace {

struct ProtocolName {
    std::string_view name;
    uint8_t proto;
};

// The protocol prefixes, in the order ttosa tries them.
constexpr std::array<ProtocolName, 5> kProtocols{{
    {"ah", kSaAh}, {"esp", kSaEsp}, {"tun", kSaTun}, {"comp", kSaComp}, {"int", kSaInt},
}};

struct MagicName {
    std::string_view name;
    uint32_t spi;
};

constexpr std::array<MagicName, 6> kMagicNames{{
    {"%pass", kSpiPass},
    {"%drop", kSpiDrop},
    {"%reject", kSpiReject},
    {"%hold", kSpiHold},
    {"%trap", kSpiTrap},
    {"%trapsubnet", kSpiTrapSubnet},
}};

// "ah0@0" is as short as an SAID can be.
constexpr size_t kShortestSaid = 5;

Parsed<Said> magic_from_name(std::string_view text) {
    if (text == "%passthrough" || text == "%passthrough4") return passthrough_said(AddressFamily::inet);
    if (text == "%passthrough6") return passthrough_said(AddressFamily::inet6);
    for (const auto& magic : kMagicNames)
        if (text == magic.name) return magic_said(static_cast<MagicSpi>(magic.spi));
    return text_error("unknown % keyword");
}

}  // namespace

Said magic_said(MagicSpi spi) {
    return Said{IpAddress::unspecified(AddressFamily::inet), spi, kSaInt};
}

Said passthrough_said(AddressFamily af) {
    return Said{IpAddress::unspecified(af), 0, kSaTun};
}

bool is_passthrough(const Said& said) {
    return said.proto == kSaTun && said.spi == 0 && said.dst.is_unspecified();
}

std::optional<std::string_view> sa_protocol_name(uint8_t proto) {
    for (const auto& p : kProtocols)
        if (p.proto == proto) return p.name;
    return std::nullopt;
}

void append_satot(std::string& out, const Said& said, SaidFormat format) {
    if (is_passthrough(said)) {
        out += said.dst.is_v4() ? "%passthrough4" : "%passthrough6";
        return;
    }
    if (said.proto == kSaInt) {
        for (const auto& magic : kMagicNames)
            if (said.spi == magic.spi) {
                out += magic.name;
                return;
            }
        out += "%unk-";
        out += ultot(said.spi, kBaseDecimal);
        return;
    }

    if (auto name = sa_protocol_name(said.proto)) out += *name;
    else out += "unk" + ultot(said.proto, kBaseDecimal);

    switch (format) {
    case SaidFormat::dotted:
        out += said.dst.is_v4() ? '.' : ':';
        out += ultot(said.spi, kBaseHex);
        break;
    case SaidFormat::padded:
        out += said.dst.is_v4() ? '.' : ':';
        out += ultot(said.spi, kBaseHexPadded);
        break;
    case SaidFormat::hex: out += ultot(said.spi, kBaseHexPrefixed); break;
    case SaidFormat::decimal: out += ultot(said.spi, kBaseDecimal); break;
    }
    out += '@';
    append_addrtot(out, said.dst);
}

std::string satot(const Said& said, SaidFormat format) {
    std::string out;
    append_satot(out, said, format);
    return out;
}

Parsed<Said> ttosa(std::string_view text) {
    if (text.empty()) return text_error("empty string");
    if (text.size() < kShortestSaid) return text_error("string too short to be SA identifier");
    if (text[0] == '%') return magic_from_name(text);

    const size_t at = text.find('@');
    if (at == std::string_view::npos) return text_error("no @ in SA specifier");

    Said said;
    size_t spi_start = 0;
    for (const auto& p : kProtocols) {
        if (p.name.size() < text.size() && text.starts_with(p.name)) {
            said.proto = p.proto;
            spi_start = p.name.size();
            break;
        }
    }
    if (spi_start == 0) return text_error("SA specifier lacks valid protocol prefix");
    if (spi_start >= at) return text_error("no SPI in SA specifier");

    // '.' or ':' after the protocol: hex SPI and the address family; else ttoul's base 0.
    AddressFamily af = AddressFamily::unspecified;
    int base = 0;
    if (text[spi_start] == '.' || text[spi_start] == ':') {
        af = text[spi_start] == '.' ? AddressFamily::inet : AddressFamily::inet6;
        base = 16;
        ++spi_start;
    }
    if (spi_start >= at) return text_error("no SPI found in SA specifier");

    auto spi = ttoul(text.substr(spi_start, at - spi_start), base);
    if (!spi) return text_error(spi.error());
    if (*spi > 0xffffffffu) return text_error("SPI too large");
    said.spi = static_cast<uint32_t>(*spi);

    std::string_view address_text = text.substr(at + 1);
    if (af == AddressFamily::unspecified)
        af = address_text.find(':') != std::string_view::npos ? AddressFamily::inet6 : AddressFamily::inet;
    auto dst = ttoaddr(address_text, af);
    if (!dst) return text_error(dst.error());
    said.dst = *dst;
    return said;
}

}  // namespace kmod_sim
