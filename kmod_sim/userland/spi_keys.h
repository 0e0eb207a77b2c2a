// The text forms `ipsec spi` reads besides SAIDs: keys (libfreeswan's ttodata) and the --life
// option (KLIPS's parse_life_options). Keys are secret: nothing here ever puts a key's text
// into a message.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "kmod_sim/lib/text_result.h"

namespace kmod_sim::userland {

// ttodata(text, base 0): "0x" hex (an '_' may follow any byte but the last), "0s" base64,
// "0t" text. Errors are ttodata's literals ("input does not begin with format prefix",
// "unknown format prefix", "unknown character in input", …), which never quote the input.
Parsed<std::vector<uint8_t>> ttodata(std::string_view text);

// The --life limits: [soft|hard][allocations|bytes|addtime|usetime|packets].
struct LifeOptions {
    enum Severity { soft, hard };
    enum Type { allocations, bytes, addtime, usetime, packets };
    static constexpr int kTypes = 5;
    std::array<std::array<uint64_t, kTypes>, 2> value{};
    std::array<std::array<std::string, kTypes>, 2> given{};  // the item's text, "" when not set

    bool any(Severity severity) const;
};

// What a bad --life argument gets: the message (after "<prog>: ") and whether KLIPS then
// printed its usage (exit 255) or just exited 1.
struct LifeError {
    std::string message;
    bool with_usage = false;
};

// Parses one --life argument into `life`: "<soft|hard>-<type>=<value>[,...]" (values strtoul
// base 0). nullopt on success.
std::optional<LifeError> parse_life_option(std::string_view argument, LifeOptions* life);

}  // namespace kmod_sim::userland
