// The module's real clock: whole seconds since boot (CLOCK_BOOTTIME, which keeps counting
// through suspend, as lifetimes should).
#pragma once

#include <time.h>

#include "kmod_sim/module/clock.h"

namespace kmod_sim::daemon {

class BootClock final : public Clock {
public:
    uint64_t now() const override {
        timespec ts{};
        clock_gettime(CLOCK_BOOTTIME, &ts);
        return static_cast<uint64_t>(ts.tv_sec);
    }
};

}  // namespace kmod_sim::daemon
