// The anti-replay window (crypto/replay_window.h): KLIPS's 1..64-bit bitmap (spec/klips.md
// §7.6), the RFC 6479 ring for larger windows, and the RFC 4303 Appendix A2.2 ESN guess.
// Expected values are worked out by hand from those rules.
#include <catch2/catch.hpp>

#include <cstdint>
#include <set>

#include "crypto/replay_window.h"

using kmod_sim::crypto::esn_guess_high;
using kmod_sim::crypto::ReplayCheck;
using kmod_sim::crypto::ReplayWindow;

namespace {

// A plain model: a set of seen numbers and the rule "right edge minus size".
struct Model {
    uint64_t size;
    uint64_t last = 0;
    std::set<uint64_t> seen;
    ReplayCheck check(uint64_t seq) const {
        if (size == 0) return ReplayCheck::ok;
        if (seq == 0) return ReplayCheck::zero;
        if (seq > last) return ReplayCheck::ok;
        if (seq == last) return ReplayCheck::duplicate;
        if (last - seq >= size) return ReplayCheck::too_old;
        return seen.count(seq) ? ReplayCheck::duplicate : ReplayCheck::ok;
    }
    void accept(uint64_t seq) {
        if (size == 0 || check(seq) != ReplayCheck::ok) return;
        seen.insert(seq);
        if (seq > last) last = seq;
    }
};

}  // namespace

TEST_CASE("window 0 lets everything through and records nothing", "[replay]") {
    ReplayWindow w(0);
    CHECK_FALSE(w.enabled());
    CHECK(w.check(0) == ReplayCheck::ok);
    CHECK(w.accept(5) == ReplayCheck::ok);
    CHECK(w.accept(5) == ReplayCheck::ok);
    CHECK(w.last_seq() == 0);
    CHECK(w.bitmap() == 0);
    CHECK(w.max_seq_diff() == 0);
}

TEST_CASE("sequence number 0 is refused", "[replay]") {
    for (uint32_t size : {1u, 32u, 64u, 65u, 1024u}) {
        ReplayWindow w(size);
        CHECK(w.check(0) == ReplayCheck::zero);
        CHECK(w.accept(0) == ReplayCheck::zero);
        CHECK(w.last_seq() == 0);
    }
}

TEST_CASE("sizes above the maximum are refused", "[replay]") {
    CHECK_NOTHROW(ReplayWindow(ReplayWindow::kMaxSize));
    CHECK_THROWS_AS(ReplayWindow(ReplayWindow::kMaxSize + 1), std::invalid_argument);
}

TEST_CASE("window 1 accepts only increasing numbers", "[replay]") {
    ReplayWindow w(1);
    CHECK(w.accept(1) == ReplayCheck::ok);
    CHECK(w.accept(1) == ReplayCheck::duplicate);
    CHECK(w.accept(3) == ReplayCheck::ok);
    CHECK(w.check(2) == ReplayCheck::too_old);
    CHECK(w.check(3) == ReplayCheck::duplicate);
    CHECK(w.check(4) == ReplayCheck::ok);
    CHECK(w.bitmap() == 1);
    CHECK(w.max_seq_diff() == 1);  // 1 -> 3 skipped one
}

TEST_CASE("KLIPS bitmap, last seq and max_seq_diff", "[replay]") {
    ReplayWindow w(32);
    CHECK(w.accept(1) == ReplayCheck::ok);
    CHECK(w.accept(2) == ReplayCheck::ok);
    CHECK(w.accept(5) == ReplayCheck::ok);   // gap of 2 (3, 4)
    CHECK(w.last_seq() == 5);
    CHECK(w.bitmap() == 0b11001);            // 5, 2, 1 -> bits 0, 3, 4
    CHECK(w.max_seq_diff() == 2);
    CHECK(w.check(3) == ReplayCheck::ok);
    CHECK(w.accept(3) == ReplayCheck::ok);   // out of order: sets bit 2, no slide
    CHECK(w.bitmap() == 0b11101);
    CHECK(w.accept(3) == ReplayCheck::duplicate);
    CHECK(w.accept(2) == ReplayCheck::duplicate);
    CHECK(w.accept(4) == ReplayCheck::ok);
    CHECK(w.bitmap() == 0b11111);
    CHECK(w.accept(37) == ReplayCheck::ok);  // advance 32 = window: KLIPS restarts the map at 1
    CHECK(w.bitmap() == 1);
    CHECK(w.max_seq_diff() == 31);
    CHECK(w.check(5) == ReplayCheck::too_old);  // 37 - 5 = 32, outside a 32 window
    CHECK(w.check(6) == ReplayCheck::ok);       // 37 - 6 = 31, inside and unseen
    CHECK(w.accept(6) == ReplayCheck::ok);
    CHECK(w.bitmap() == (uint64_t{1} << 31 | 1));
}

TEST_CASE("KLIPS keeps bits beyond a window under 64 in the shifted map", "[replay]") {
    // The kernel shifted one 64-bit word whatever the window; /proc shows it as it is.
    ReplayWindow w(32);
    for (uint64_t s = 1; s <= 40; ++s) REQUIRE(w.accept(s) == ReplayCheck::ok);
    CHECK(w.bitmap() == (uint64_t{1} << 40) - 1);
    CHECK(w.check(8) == ReplayCheck::too_old);  // bit 32 is set but outside the window
}

TEST_CASE("window 64 uses every bit of the word", "[replay]") {
    ReplayWindow w(64);
    CHECK(w.accept(100) == ReplayCheck::ok);
    CHECK(w.max_seq_diff() == 99);
    CHECK(w.check(37) == ReplayCheck::ok);       // 100 - 63
    CHECK(w.check(36) == ReplayCheck::too_old);  // 100 - 64
    CHECK(w.accept(37) == ReplayCheck::ok);
    CHECK(w.bitmap() == (uint64_t{1} << 63 | 1));
    CHECK(w.accept(101) == ReplayCheck::ok);     // the slide pushes 37 out of the word
    CHECK(w.bitmap() == 0b11);
    CHECK(w.check(37) == ReplayCheck::too_old);
    CHECK(w.accept(165) == ReplayCheck::ok);     // advance 64 restarts the map
    CHECK(w.bitmap() == 1);
}

TEST_CASE("ring window 65 and 1024: edges, duplicates and the bitmap view", "[replay]") {
    for (uint32_t size : {65u, 1024u}) {
        ReplayWindow w(size);
        CHECK(w.accept(2000) == ReplayCheck::ok);
        CHECK(w.check(2000 - size) == ReplayCheck::too_old);
        CHECK(w.check(2000 - size + 1) == ReplayCheck::ok);
        CHECK(w.accept(2000 - size + 1) == ReplayCheck::ok);
        CHECK(w.accept(2000 - size + 1) == ReplayCheck::duplicate);
        CHECK(w.accept(1999) == ReplayCheck::ok);
        CHECK(w.accept(1937) == ReplayCheck::ok);  // 2000 - 63: the top bit of the /proc view
        CHECK(w.bitmap() == (uint64_t{1} << 63 | 0b11));
        CHECK(w.accept(2001) == ReplayCheck::ok);
        CHECK(w.bitmap() == 0b111);                // 1937 is now bit 64, out of view
        CHECK(w.check(1937) == ReplayCheck::duplicate);
        CHECK(w.check(2001 - size) == ReplayCheck::too_old);
    }
}

TEST_CASE("RFC 6479 ring wraps around its words without stale bits", "[replay]") {
    // Window 65 gets a 4-word ring (256 numbers). Walk far enough to reuse every word many
    // times, with gaps that clear one, several and all words at once.
    ReplayWindow w(65);
    uint64_t seq = 1;
    for (uint64_t step : {1, 1, 63, 64, 65, 127, 128, 200, 255, 256, 257, 1000, 3, 64}) {
        seq += step;
        REQUIRE(w.accept(seq) == ReplayCheck::ok);
        // Every unseen number inside the window must be acceptable: no bit left over from the
        // word's previous turn.
        for (uint64_t back = 1; back < 65 && back < seq; ++back) {
            const uint64_t s = seq - back;
            INFO("seq " << seq << " back " << back);
            const ReplayCheck c = w.check(s);
            CHECK((c == ReplayCheck::ok || c == ReplayCheck::duplicate));
        }
        CHECK(w.accept(seq) == ReplayCheck::duplicate);
    }
}

TEST_CASE("windows agree with a plain model on a long pseudo-random walk", "[replay]") {
    for (uint32_t size : {1u, 2u, 31u, 32u, 63u, 64u, 65u, 128u, 129u, 1024u, 4096u}) {
        ReplayWindow w(size);
        Model m{size, 0, {}};
        uint64_t x = 0x9e3779b97f4a7c15ULL ^ size;
        uint64_t edge = 1;
        for (int i = 0; i < 20000; ++i) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;  // xorshift64
            // Mostly near the edge, sometimes far ahead or far behind.
            const uint64_t r = x % 100;
            uint64_t seq;
            if (r < 70) seq = edge + (x >> 8) % 8;
            else if (r < 95) seq = edge > size * 2 ? edge - (x >> 8) % (size * 2 + 2) : 1 + (x >> 8) % edge;
            else seq = edge + (x >> 8) % (size * 3 + 70);
            INFO("size " << size << " step " << i << " seq " << seq);
            REQUIRE(w.check(seq) == m.check(seq));
            REQUIRE(w.accept(seq) == m.check(seq));
            m.accept(seq);
            REQUIRE(w.last_seq() == m.last);
            edge = m.last;
        }
    }
}

TEST_CASE("ESN: guessed high half, RFC 4303 Appendix A2.2", "[replay][esn]") {
    struct Row {
        uint64_t last;  // the window's right edge T
        uint32_t size;  // W
        uint32_t low;   // received Seql
        uint32_t high;  // expected Seqh
    };
    const Row rows[] = {
        // Case A (Tl >= W - 1): T = 5:1000, W = 64, window 5:937..5:1000.
        {5ULL << 32 | 1000, 64, 1000, 5},       // the edge itself
        {5ULL << 32 | 1000, 64, 937, 5},        // the left edge
        {5ULL << 32 | 1000, 64, 936, 6},        // below the window: the next block
        {5ULL << 32 | 1000, 64, 0xffffffff, 5}, // above the edge in this block
        {5ULL << 32 | 63, 64, 0, 5},            // Tl = W - 1: the window is 5:0..5:63
        // Case B (Tl < W - 1): T = 5:10, W = 64, window 4:0xffffffcb..5:10.
        {5ULL << 32 | 10, 64, 10, 5},
        {5ULL << 32 | 10, 64, 0, 5},
        {5ULL << 32 | 10, 64, 0xffffffcb, 4},   // the left edge, in the previous block
        {5ULL << 32 | 10, 64, 0xffffffff, 4},
        {5ULL << 32 | 10, 64, 0xffffffca, 5},   // below the left edge: ahead in this block
        {5ULL << 32 | 10, 64, 11, 5},
        // Block 0 has no previous block.
        {10, 64, 0xffffffff, 0},
        {0, 64, 1, 0},
        // Larger windows.
        {7ULL << 32 | 5000, 4096, 904, 8},      // 5000 - 4096 + 1 = 905 is the left edge
        {7ULL << 32 | 5000, 4096, 905, 7},
        {7ULL << 32 | 100, 1024, 0xfffffc65, 6},// 100 - 1024 + 1 = -923 = 0xfffffc65
        {7ULL << 32 | 100, 1024, 0xfffffc64, 7},
    };
    for (const Row& row : rows) {
        ReplayWindow w(row.size);
        if (row.last != 0) REQUIRE(w.accept(row.last) == ReplayCheck::ok);
        INFO("T " << std::hex << row.last << " W " << std::dec << row.size << " Seql " << std::hex << row.low);
        CHECK(esn_guess_high(w, row.low) == row.high);
    }
}
