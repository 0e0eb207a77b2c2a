// What a packet takes of an SA, in either direction (spec/klips.md §7.3, §7.4, §7.7): the
// state and lifetime checks that admit it, with their EXPIRE messages, and its count. Each is
// called with the SA's transform mutex held, so that a packet path takes that lock once or
// twice per SA, never around the crypto (IPComp's zlib streams excepted: one user at a time).
#include "klips.h"
#include "pfkey_notify.h"

namespace kmod_sim {

DropReason Klips::admit_locked(SecurityAssociation& sa, uint64_t now, std::vector<Said>* expired) {
    SaTransform& t = *sa.transform;
    if (sa.state == pfkey::kSaStateLarval || sa.state == pfkey::kSaStateDead) return DropReason::sa_not_mature;
    if (t.hard_expired) {  // EXPIRE sent; the group is deleted by whoever holds the write lock next
        expired->push_back(sa.said);
        return DropReason::hard_expired;
    }
    switch (check_lifetimes(sa, now)) {
    case LifeCheck::hard:
        expire_hard_locked(sa, expired);
        return DropReason::hard_expired;
    case LifeCheck::soft:
        if (!t.soft_expired) {  // one soft EXPIRE; the SA goes on, DYING
            t.soft_expired = true;
            sa.state = pfkey::kSaStateDying;
            notify_expire(sa, false);
        }
        break;
    case LifeCheck::ok:
        break;
    }
    return DropReason::none;
}

// A hard EXPIRE, once; the group is deleted by the caller when it holds the write lock.
void Klips::expire_hard_locked(SecurityAssociation& sa, std::vector<Said>* expired) {
    SaTransform& t = *sa.transform;
    if (t.hard_expired) return;
    t.hard_expired = true;
    notify_expire(sa, true);
    expired->push_back(sa.said);
}

void Klips::count_use_locked(SecurityAssociation& sa, size_t bytes, uint64_t now) {
    sa.life.bytes.count += bytes;
    ++sa.life.packets.count;
    if (sa.life.usetime.count == 0) sa.life.usetime.count = now;
    sa.last_used = now;
}

void Klips::notify_expire(const SecurityAssociation& sa, bool hard) {
    if (!config_.events) return;
    std::vector<uint8_t> message = expire_message(next_pfkey_seq(), sa, hard);
    if (!message.empty()) config_.events->expire(std::move(message));
}

}  // namespace kmod_sim
