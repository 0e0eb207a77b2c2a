#include "klipsdebug.h"

namespace kmod_sim {

void KlipsDebug::apply(const Words& words) {
    const bool or_in = words[kNetlink] & kOrMode;
    for (size_t i = 0; i < kWordCount; ++i) {
        uint32_t w = i == kNetlink ? words[i] & ~kOrMode : words[i];
        if (or_in) words_[i] |= w;
        else words_[i] &= w;
    }
}

KlipsDebug::Words KlipsDebug::set_words(Word word, uint32_t bits) {
    Words w{};
    w[word] = bits;
    w[kNetlink] |= kOrMode;
    return w;
}

KlipsDebug::Words KlipsDebug::clear_words(Word word, uint32_t bits) {
    Words w;
    w.fill(0xffffffff);
    w[kNetlink] &= ~kOrMode;
    w[word] &= ~bits;
    return w;
}

KlipsDebug::Words KlipsDebug::all_words() {
    Words w;
    w.fill(0xffffffff);
    w[kVerbose] = 0;
    return w;  // netlink's top bit is set: OR mode
}

KlipsDebug::Words KlipsDebug::none_words() { return Words{}; }

std::optional<KlipsDebug::Switch> KlipsDebug::parse_switch(std::string_view name) {
    struct Named {
        std::string_view name;
        Switch sw;
    };
    // `comp`, not `ipcomp`: KLIPS's parser took `comp` though its usage says `ipcomp`.
    static constexpr Named kSwitches[] = {
        {"tunnel", {kTunnel, 0xffffffff}}, {"tunnel-xmit", {kTunnel, kTunnelXmit}},
        {"netlink", {kNetlink, 0xffffffff}}, {"xform", {kXform, 0xffffffff}},
        {"eroute", {kEroute, 0xffffffff}}, {"spi", {kSpi, 0xffffffff}},
        {"radij", {kRadij, 0xffffffff}}, {"esp", {kEsp, 0xffffffff}}, {"ah", {kAh, 0xffffffff}},
        {"rcv", {kRcv, 0xffffffff}}, {"pfkey", {kPfkey, 0xffffffff}},
        {"comp", {kIpcomp, 0xffffffff}}, {"verbose", {kVerbose, 0xffffffff}},
    };
    for (const auto& s : kSwitches)
        if (s.name == name) return s.sw;
    return std::nullopt;
}

}  // namespace kmod_sim
