// A cache of eroute lookups by exact packet key, for one packet thread. Real traffic is a
// few thousand flows hitting the same eroutes over and over; the cache answers those with
// one hash probe instead of a radij lookup. Entries carry a stamp; any change to the table
// (its generation moves) starts a new stamp, which invalidates every entry at once.
//
// Not thread-safe: one cache per packet thread, used under the table's read lock.
#pragma once

#include <vector>

#include "eroute_table.h"

namespace kmod_sim {

class EroutCache {
public:
    // `slots` (IPv4; IPv6 gets a quarter) is rounded up to a power of two. The default, 32k
    // slots (768 KiB for IPv4), keeps ~10k active flows at a load where none evicts another.
    explicit EroutCache(size_t slots = 1u << 15);

    EroutRef match(const EroutTable& table, const PacketSelector& packet);

private:
    template <size_t W>
    struct Slot {
        RadijKey<W> key;
        uint32_t entry = 0;
        uint32_t stamp = 0;  // valid iff equal to stamp_; 0 never is
    };
    template <size_t W>
    EroutRef match_in(std::vector<Slot<W>>& slots, AddressFamily af, const EroutTable& table,
                      const RadijKey<W>& key);
    void sync_stamp(const EroutTable& table);

    static constexpr uint32_t kNoEroute = UINT32_MAX;

    std::vector<Slot<2>> v4_;
    std::vector<Slot<5>> v6_;
    uint64_t seen_generation_ = UINT64_MAX;
    uint32_t stamp_ = 0;
};

}  // namespace kmod_sim
