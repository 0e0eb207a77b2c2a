// libFuzzer target for the module's PF_KEY handling (module/pfkey_handler.h): one input is a
// sequence of datagrams, each prefixed by its 2-byte length, handled in turn by one Klips so
// that state carries from message to message. Not part of the meson build (it needs clang):
//   clang++-14 -std=c++20 -O1 -fsanitize=fuzzer,address,undefined -I/work/main -I/work/main/build \
//       tests/fuzz/pfkey_handler_fuzz.cc kmod_sim/lib/*.cc kmod_sim/module/*.cc crypto/*.cc \
//       -lsodium -o /tmp/pfkey_handler_fuzz
//   /tmp/pfkey_handler_fuzz -max_total_time=60 tests/fuzz/corpus/pfkey
// Properties: nothing crashes or reads out of bounds; every datagram gets at least one answer
// and every answer is a message that decodes; no answer carries a key extension; every
// listing renders.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <span>
#include <vector>

#include "kmod_sim/lib/pfkey_message.h"
#include "kmod_sim/module/clock.h"
#include "kmod_sim/module/klips.h"
#include "kmod_sim/module/pfkey_handler.h"
#include "kmod_sim/module/proc_view.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace kmod_sim;
    auto clock = std::make_shared<ManualClock>(100);
    Klips klips(KlipsConfig{OutputProfile::seed, "fuzz", clock, [](const IpAddress&) { return false; }});
    uint32_t random = 0;
    PfkeyHandler handler(klips, PfkeyHost{[](std::string_view) -> std::optional<uint32_t> { return 1500; },
                                          clock.get(), [&random] { return random++; }, nullptr,
                                          nullptr, nullptr});
    PfkeySocket socket;
    std::span<const uint8_t> rest(data, size);
    std::vector<PfkeyAnswer> answers;
    while (rest.size() >= 2) {
        const size_t length = std::min<size_t>(rest[0] | rest[1] << 8, rest.size() - 2);
        std::span<const uint8_t> datagram = rest.subspan(2, length);
        rest = rest.subspan(2 + length);
        answers.clear();
        handler.handle(datagram, socket, &answers);
        if (answers.empty()) std::abort();
        for (const PfkeyAnswer& answer : answers) {
            auto reply = pfkey::decode_layout(answer.message);
            if (!reply.ok() || reply->key_auth || reply->key_encrypt) std::abort();
        }
    }
    for (ProcEntry& entry : proc_entries(klips)) {
        if (!entry.is_symlink()) (void)entry.render();
    }
    return 0;
}
