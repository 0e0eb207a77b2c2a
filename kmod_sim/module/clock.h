// Time as the module sees it: whole seconds since "boot", from a clock the owner injects.
// The module never reads the system clock itself (DESIGN.md "Time").
#pragma once

#include <atomic>
#include <cstdint>

namespace kmod_sim {

class Clock {
public:
    virtual ~Clock() = default;
    virtual uint64_t now() const = 0;  // seconds
};

// A clock that moves only when told to (--clock manual; tests).
class ManualClock final : public Clock {
public:
    explicit ManualClock(uint64_t start = 0) : now_(start) {}
    uint64_t now() const override { return now_.load(std::memory_order_relaxed); }
    void set(uint64_t seconds) { now_.store(seconds, std::memory_order_relaxed); }
    void advance(uint64_t seconds) { now_.fetch_add(seconds, std::memory_order_relaxed); }

private:
    std::atomic<uint64_t> now_;
};

}  // namespace kmod_sim
