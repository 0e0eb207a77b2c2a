// The receiver's anti-replay window (RFC 4303 §3.4.3) as KLIPS kept it (spec/klips.md §7.6):
// check() before any crypto, accept() only after the ICV passed. Sizes 1..64 use one 64-bit
// bitmap shifted left as the window advances, exactly KLIPS's; larger windows use a ring of
// 64-bit words that never shifts (RFC 6479). Size 0 turns the check off.
#pragma once

#include <cstdint>
#include <vector>

namespace kmod_sim::crypto {

enum class ReplayCheck {
    ok,
    zero,       // sequence number 0 is never sent (first is 1) or the counter wrapped
    too_old,    // left of the window
    duplicate,  // inside the window and already seen
};

const char* to_string(ReplayCheck check);

class ReplayWindow {
public:
    static constexpr uint32_t kMaxSize = 4096;  // a 1 KiB ring per SA

    // Throws std::invalid_argument above kMaxSize.
    explicit ReplayWindow(uint32_t size);

    uint32_t size() const { return size_; }
    bool enabled() const { return size_ != 0; }

    // Whether seq may be authenticated. Cheap, touches nothing.
    ReplayCheck check(uint64_t seq) const;
    // Records seq after its ICV passed. Returns check(seq) as it stood, so a race between two
    // packets with the same number is caught here too; the state changes only when ok.
    ReplayCheck accept(uint64_t seq);

    // What /proc/net/ipsec_spi shows as seq=, bit= and max_seq_diff=.
    uint64_t last_seq() const { return last_; }
    uint64_t bitmap() const;  // bit i = last_seq() - i was seen
    uint64_t max_seq_diff() const { return max_diff_; }

private:
    bool seen(uint64_t seq) const;

    uint32_t size_;
    uint64_t last_ = 0;      // the right edge: the highest authenticated sequence number
    uint64_t max_diff_ = 0;  // KLIPS: the largest forward jump minus one
    uint64_t bits_ = 0;      // sizes 1..64: bit i = last_ - i
    std::vector<uint64_t> ring_;  // sizes 65..: bit (s & 63) of word (s >> 6) & mask
};

// RFC 4303 Appendix A2.2: the high 32 bits of an extended sequence number, guessed from the
// window's right edge and the received low 32 bits. Only the ICV confirms the guess. A window
// of size 0 is treated as size 1.
uint32_t esn_guess_high(const ReplayWindow& window, uint32_t seq_low);

}  // namespace kmod_sim::crypto
