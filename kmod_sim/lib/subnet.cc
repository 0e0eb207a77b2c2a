#include "subnet.h"

#include "number_text.h"

namespace kmod_sim {

Parsed<Subnet> ttosubnet(std::string_view text, AddressFamily af) {
    if (text.empty()) return text_error("empty string");

    if (text == "%default") {
        if (af == AddressFamily::unspecified)
            return text_error("unknown address family with 0/0 subnet not allowed.");
        text = af == AddressFamily::inet ? "0/0" : "::/0";
    }

    const size_t slash = text.find('/');
    if (slash == std::string_view::npos) return text_error("no / in subnet specification");

    auto address = ttoaddr(text.substr(0, slash), af);
    if (!address) return text_error(address.error());
    af = address->family();
    const int max_bits = af == AddressFamily::inet ? 32 : 128;

    // An optional ":port" follows the mask (so an IPv6 mask is never written with colons).
    std::string_view mask_text = text.substr(slash + 1);
    uint16_t port = 0;
    if (const size_t colon = mask_text.find(':'); colon != std::string_view::npos) {
        auto value = ttoul(mask_text.substr(colon + 1), 0);
        if (!value) return text_error(value.error());
        if (*value > 0xffff) return text_error("port number too large");
        port = static_cast<uint16_t>(*value);
        mask_text = mask_text.substr(0, colon);
    }

    int bits;
    if (auto count = ttoul(mask_text, 10)) {
        if (*count > static_cast<uint64_t>(max_bits)) return text_error("subnet mask bit count too large");
        bits = static_cast<int>(*count);
    } else if (af == AddressFamily::inet) {
        auto mask = ttoaddr(mask_text, af);
        if (!mask) return text_error(mask.error());
        bits = mask_bits(*mask);
        if (bits < 0) return text_error("non-contiguous or otherwise erroneous mask");
    } else {
        return text_error("masks are not permitted for IPv6 addresses");
    }

    Subnet subnet;
    subnet.mask = mask_from_bits(af, bits);
    subnet.address = address->masked(subnet.mask);
    subnet.port = port;
    return subnet;
}

std::string subnettot(const Subnet& subnet) {
    const int bits = subnet.prefix_bits();
    return addrtot(subnet.address) + "/" +
           (bits >= 0 ? ultot(static_cast<uint64_t>(bits), kBaseDecimal) : addrtot(subnet.mask));
}

std::string subnetporttot(const Subnet& subnet) {
    std::string text = subnettot(subnet);
    if (subnet.port != 0) text += ":" + ultot(subnet.port, kBaseDecimal);
    return text;
}

}  // namespace kmod_sim
