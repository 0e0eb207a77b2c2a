#include "replay_window.h"

#include <algorithm>
#include <bit>
#include <stdexcept>
#include <string>

namespace kmod_sim::crypto {

namespace {

constexpr uint32_t kWordBits = 64;

}  // namespace

const char* to_string(ReplayCheck check) {
    switch (check) {
    case ReplayCheck::ok: return "ok";
    case ReplayCheck::zero: return "sequence number 0";
    case ReplayCheck::too_old: return "left of the replay window";
    case ReplayCheck::duplicate: return "duplicate";
    }
    return "?";
}

ReplayWindow::ReplayWindow(uint32_t size) : size_(size) {
    if (size > kMaxSize)
        throw std::invalid_argument("replay window " + std::to_string(size) + " is larger than " +
                                    std::to_string(kMaxSize));
    if (size > kWordBits) {
        // One spare word so the word holding the left edge is never the one being cleared for
        // the right edge; a power of two so the index is a mask (RFC 6479 §2).
        ring_.assign(std::bit_ceil((size + kWordBits - 1) / kWordBits + 1), 0);
    }
}

bool ReplayWindow::seen(uint64_t seq) const {
    if (ring_.empty()) return (bits_ >> (last_ - seq)) & 1;
    return (ring_[(seq / kWordBits) & (ring_.size() - 1)] >> (seq % kWordBits)) & 1;
}

ReplayCheck ReplayWindow::check(uint64_t seq) const {
    if (size_ == 0) return ReplayCheck::ok;
    if (seq == 0) return ReplayCheck::zero;
    if (seq > last_) return ReplayCheck::ok;
    // last_ itself is always recorded, so with window 1 the same number is a duplicate.
    if (seq == last_) return ReplayCheck::duplicate;
    if (last_ - seq >= size_) return ReplayCheck::too_old;
    return seen(seq) ? ReplayCheck::duplicate : ReplayCheck::ok;
}

ReplayCheck ReplayWindow::accept(uint64_t seq) {
    const ReplayCheck verdict = check(seq);
    if (verdict != ReplayCheck::ok || size_ == 0) return verdict;

    if (seq > last_) {
        const uint64_t advance = seq - last_;
        if (advance - 1 > max_diff_) max_diff_ = advance - 1;
        if (ring_.empty()) {
            // KLIPS: shift by the advance, or start over when it leaves the window.
            bits_ = advance < size_ && advance < kWordBits ? (bits_ << advance) | 1 : 1;
        } else {
            // Clear the words that come into the window between the old and new right edges.
            const uint64_t mask = ring_.size() - 1;
            const uint64_t old_word = last_ / kWordBits, new_word = seq / kWordBits;
            const uint64_t clear = std::min<uint64_t>(new_word - old_word, ring_.size());
            for (uint64_t i = 1; i <= clear; ++i) ring_[(old_word + i) & mask] = 0;
            ring_[new_word & mask] |= uint64_t{1} << (seq % kWordBits);
        }
        last_ = seq;
        return ReplayCheck::ok;
    }
    if (ring_.empty())
        bits_ |= uint64_t{1} << (last_ - seq);
    else
        ring_[(seq / kWordBits) & (ring_.size() - 1)] |= uint64_t{1} << (seq % kWordBits);
    return ReplayCheck::ok;
}

uint64_t ReplayWindow::bitmap() const {
    if (ring_.empty()) return bits_;
    uint64_t out = 0;
    for (uint64_t i = 0; i < kWordBits && i < last_; ++i)
        if (seen(last_ - i)) out |= uint64_t{1} << i;
    return out;
}

uint32_t esn_guess_high(const ReplayWindow& window, uint32_t seq_low) {
    const uint64_t t = window.last_seq();
    const uint32_t th = static_cast<uint32_t>(t >> 32);
    const uint32_t tl = static_cast<uint32_t>(t);
    const uint32_t w = window.size() == 0 ? 1 : window.size();
    const uint32_t bottom = tl - w + 1;  // the window's left edge, modulo 2^32
    if (tl >= w - 1) {
        // Case A: the window lies within one 2^32 block; below its left edge means the next block.
        return seq_low >= bottom ? th : th + 1;
    }
    // Case B: the window straddles a block boundary; numbers at its top end are the previous
    // block (none exists before block 0).
    if (seq_low >= bottom) return th == 0 ? 0 : th - 1;
    return th;
}

}  // namespace kmod_sim::crypto
