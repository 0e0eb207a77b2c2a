// The SA database: SAs by SAID, their groups, and KLIPS's listing order (spec/klips.md §7).
//
// Not thread-safe: Klips serialises access with its reader-writer lock.
#pragma once

#include <functional>
#include <memory>
#include <span>
#include <unordered_map>
#include <vector>

#include "security_association.h"

namespace kmod_sim {

struct SaidHash {
    size_t operator()(const Said& said) const;
};

// KLIPS's SADB hash bucket (SADB_HASHMOD 257): (spi + dst + proto) mod 257, where spi and the
// IPv4 destination are network-order words read as little-endian integers, summed modulo
// 2^32. IPv6 SAs hash on spi + proto (KLIPS read an unused slot of the sockaddr, always 0).
uint32_t sadb_bucket(const Said& said);

class Sadb {
public:
    static constexpr uint32_t kBuckets = 257;

    // 0 or EEXIST. The SA's links are cleared; `ref` and `add_order` are assigned here.
    int add(SecurityAssociation sa);
    // Deletes the SA and its whole group: 0 or ESRCH.
    int remove(const Said& said);
    // Deletes every SA, or every SA of one protocol (proto != 0), each with its group.
    void flush(uint8_t proto = 0);

    // Links `outer` just outside `inner`: ENOENT if either is missing, EEXIST if inner
    // already has an outer SA, outer already has an inner SA, or the link would close a loop.
    int group(const Said& inner, const Said& outer);
    // Unlinks the whole group the SA belongs to: 0 or ENOENT.
    int ungroup(const Said& said);

    SecurityAssociation* find(const Said& said);
    const SecurityAssociation* find(const Said& said) const;
    size_t size() const { return by_said_.size(); }

    // Every SA in KLIPS's listing order: bucket 0 to 256, newest first within a bucket.
    std::vector<const SecurityAssociation*> in_listing_order() const;

private:
    void erase_group(SecurityAssociation* sa);

    std::unordered_map<Said, std::unique_ptr<SecurityAssociation>, SaidHash> by_said_;
    uint64_t next_add_order_ = 0;
    uint32_t next_ref_ = 1;
};

}  // namespace kmod_sim
