// KLIPS's debug switches (spec/klips.md §5.2, §8.5): twelve 32-bit words, of which the
// /proc file shows nine.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string_view>

namespace kmod_sim {

class KlipsDebug {
public:
    // In the order of SADB_X_EXT_DEBUG (spec/klips.md §9.2).
    enum Word : size_t {
        kTunnel, kNetlink, kXform, kEroute, kSpi, kRadij, kEsp, kAh, kRcv, kPfkey, kIpcomp,
        kVerbose, kWordCount,
    };
    using Words = std::array<uint32_t, kWordCount>;

    // The words the /proc file lists, in its order, with their names.
    struct Listed {
        std::string_view name;
        Word word;
    };
    static constexpr std::array<Listed, 9> kListed{{
        {"tunnel", kTunnel}, {"xform", kXform}, {"eroute", kEroute}, {"spi", kSpi},
        {"radij", kRadij}, {"esp", kEsp}, {"ah", kAh}, {"rcv", kRcv}, {"pfkey", kPfkey},
    }};

    // The kernel side of SADB_X_DEBUG: with the top bit of the netlink word set the words
    // are OR-ed in (that bit itself excluded), otherwise AND-ed.
    void apply(const Words& words);

    // What `ipsec klipsdebug` asks for, as apply() arguments.
    static Words set_words(Word word, uint32_t bits = 0xffffffff);
    static Words clear_words(Word word, uint32_t bits = 0xffffffff);
    static Words all_words();   // every word but verbose
    static Words none_words();
    // The name of a switch as `ipsec klipsdebug` takes it; "tunnel-xmit" is tunnel bit 0x10.
    struct Switch {
        Word word;
        uint32_t bits;
    };
    static std::optional<Switch> parse_switch(std::string_view name);

    static constexpr uint32_t kOrMode = 0x80000000;
    static constexpr uint32_t kTunnelXmit = 0x10;

    const Words& words() const { return words_; }

private:
    Words words_{};
};

}  // namespace kmod_sim
