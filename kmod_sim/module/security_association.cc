#include "security_association.h"

#include <mutex>

namespace kmod_sim {

namespace {

bool passed(uint64_t value, uint64_t limit) { return limit != 0 && value > limit; }

// Seconds since a stamp; 0 if the clock was set back before it.
uint64_t since(uint64_t now, uint64_t stamp) { return now > stamp ? now - stamp : 0; }

// Whether any lifetime passes the limit `which` (soft or hard).
bool any_passed(const SecurityAssociation& sa, uint64_t now, uint64_t Lifetime::*which) {
    const SaLifetimes& l = sa.life;
    return passed(l.bytes.count, l.bytes.*which) || passed(l.packets.count, l.packets.*which) ||
           passed(since(now, l.addtime.count), l.addtime.*which) ||
           (l.usetime.count != 0 && passed(since(now, l.usetime.count), l.usetime.*which));
}

}  // namespace

LifeCheck check_lifetimes(const SecurityAssociation& sa, uint64_t now) {
    if (any_passed(sa, now, &Lifetime::hard)) return LifeCheck::hard;
    if (any_passed(sa, now, &Lifetime::soft)) return LifeCheck::soft;
    return LifeCheck::ok;
}

SecurityAssociation record_copy_locked(const SecurityAssociation& sa) {
    SecurityAssociation copy;
    // Member by member would be fragile; copy and then drop what a copy must not carry.
    copy = sa;
    copy.inner = copy.outer = nullptr;
    copy.transform.reset();
    return copy;
}

SecurityAssociation record_copy(const SecurityAssociation& sa) {
    if (!sa.transform) return record_copy_locked(sa);
    std::lock_guard lock(sa.transform->mutex);
    return record_copy_locked(sa);
}

}  // namespace kmod_sim
