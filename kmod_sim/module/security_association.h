// A Security Association as KLIPS's SADB held it (struct ipsec_sa; spec/klips.md §4, §7):
// identity, algorithms, replay state, error counters, lifetimes, inbound policy and the
// links of its group. Key material is not in the record: it lives in the SA's transform.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "kmod_sim/lib/pfkey_types.h"
#include "kmod_sim/lib/said.h"
#include "kmod_sim/lib/subnet.h"
#include "sa_transform.h"

namespace kmod_sim {

// Algorithm ids, states and flags are PF_KEY v2's numbers (kmod_sim/lib/pfkey_types.h).

// One of the five lifetimes. For addtime and usetime `count` is a clock timestamp (seconds),
// 0 until set; for the others a counter. A limit of 0 means "not set".
struct Lifetime {
    uint64_t count = 0;
    uint64_t soft = 0;
    uint64_t hard = 0;
};

struct SaLifetimes {
    Lifetime allocations, bytes, addtime, usetime, packets;
};

// The inner policy of an IPIP SA, from `ipsec eroute --addin` (ADDFLOW with INFLOW).
struct InboundPolicy {
    Subnet src, dst;
};

struct SecurityAssociation {
    Said said;
    IpAddress src;         // the SA's source address, if given (has_family() otherwise false)
    bool inbound = false;  // the destination was a local address when added
    uint8_t state = pfkey::kSaStateMature;
    uint32_t flags = 0;
    uint8_t auth_alg = pfkey::kAuthNone;
    uint8_t enc_alg = pfkey::kEncryptNone;  // for IPComp SAs: the compression algorithm
    uint16_t auth_bits = 0;      // ICV length (alen)
    uint16_t auth_key_bits = 0;  // aklen
    uint16_t enc_key_bits = 0;   // eklen (with the salt for the AEADs)
    std::vector<uint8_t> iv;     // shown by the listing when present

    // Anti-replay state (RFC 4303 §3.4.3 as KLIPS kept it).
    uint8_t replay_window = 0;
    uint32_t replay_last_seq = 0;
    uint64_t replay_bitmap = 0;
    uint32_t max_seq_diff = 0;

    // Error counters shown by ipsec_spi.
    uint32_t replay_errors = 0;  // ooo_errs
    uint32_t auth_errors = 0;
    uint32_t encr_size_errors = 0;
    uint32_t encr_pad_errors = 0;

    SaLifetimes life;
    uint64_t last_used = 0;  // clock seconds of the last packet (an SA with packets.count 0 was never used)

    // IPComp ratio counters: bytes before compression and after.
    uint64_t comp_bytes_in = 0;
    uint64_t comp_bytes_out = 0;

    std::optional<InboundPolicy> policy;

    // The group: the SA applied just inside and just outside this one (spigrp order).
    SecurityAssociation* inner = nullptr;
    SecurityAssociation* outer = nullptr;

    // Keys, crypto state, replay window and sequence counter (sa_transform.h); null for a
    // LARVAL SA. Snapshot rows leave it null.
    std::shared_ptr<SaTransform> transform;

    uint32_t ref = 0;         // SAref table index
    uint32_t pid = 0;         // of the process that added it
    uint64_t add_order = 0;   // newer SAs list first within a hash bucket
};

// The lifetimes against their limits (spec/klips.md §7.7): a count, or the seconds since the
// SA was added or first used, strictly greater than a limit passes it. Allocations are never
// enforced. Call under the SA's transform mutex.
enum class LifeCheck { ok, soft, hard };
LifeCheck check_lifetimes(const SecurityAssociation& sa, uint64_t now);

// A copy of the record for a listing or a message: without its links and its transform.
// record_copy takes the transform's mutex; record_copy_locked is for a caller holding it.
SecurityAssociation record_copy(const SecurityAssociation& sa);
SecurityAssociation record_copy_locked(const SecurityAssociation& sa);

}  // namespace kmod_sim
