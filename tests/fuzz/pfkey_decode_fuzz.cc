// libFuzzer target for the PF_KEY v2 decoder (lib/pfkey_message.h). Not part of the meson
// build (it needs clang):
//   clang++-14 -std=c++20 -fsanitize=fuzzer,address -I/work/main \
//       tests/fuzz/pfkey_decode_fuzz.cc kmod_sim/lib/*.cc -o /tmp/pfkey_fuzz
//   /tmp/pfkey_fuzz -max_total_time=60 tests/fuzz/corpus/pfkey
// Property: decode never crashes nor reads out of bounds; whatever it accepts encodes, and
// the encoding decodes to an equal message (and re-encodes to the same bytes).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>

#include "kmod_sim/lib/pfkey_message.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace kmod_sim::pfkey;
    std::span<const uint8_t> input(data, size);
    if (auto layout = decode_layout(input); layout.ok()) (void)to_string(*layout);
    auto message = decode(input);
    if (!message.ok()) return 0;
    auto bytes = encode(*message);
    if (!bytes.ok()) std::abort();
    auto again = decode(*bytes);
    if (!again.ok() || !(*again == *message)) std::abort();
    auto bytes_again = encode(*again);
    if (!bytes_again.ok() || *bytes_again != *bytes) std::abort();
    return 0;
}
