#include "eroute_cache.h"

#include <bit>

namespace kmod_sim {

namespace {
constexpr size_t kProbes = 16;  // neighbours tried before evicting the home slot
}

EroutCache::EroutCache(size_t slots) {
    slots = std::bit_ceil(slots < 64 ? size_t{64} : slots);
    v4_.resize(slots);
    v6_.resize(slots / 4);
}

void EroutCache::sync_stamp(const EroutTable& table) {
    if (table.generation() == seen_generation_) return;
    seen_generation_ = table.generation();
    if (++stamp_ == 0) {  // after 2^32 table changes: forget everything, then restart
        for (auto& s : v4_) s.stamp = 0;
        for (auto& s : v6_) s.stamp = 0;
        stamp_ = 1;
    }
}

template <size_t W>
EroutRef EroutCache::match_in(std::vector<Slot<W>>& slots, AddressFamily af, const EroutTable& table,
                              const RadijKey<W>& key) {
    const size_t last = slots.size() - 1;
    const size_t home = key.hash() & last;
    Slot<W>* free_slot = nullptr;
    for (size_t i = 0; i < kProbes; ++i) {
        Slot<W>& s = slots[(home + i) & last];
        if (s.stamp == stamp_) {
            if (s.key == key) return s.entry == kNoEroute ? EroutRef{} : EroutRef{af, s.entry};
        } else if (!free_slot) {
            free_slot = &s;
        }
    }
    const EroutRef ref = table.match(key);
    Slot<W>& fill = free_slot ? *free_slot : slots[home];
    fill.key = key;
    fill.entry = ref ? ref.entry : kNoEroute;
    fill.stamp = stamp_;
    return ref;
}

EroutRef EroutCache::match(const EroutTable& table, const PacketSelector& p) {
    sync_stamp(table);
    if (p.src.is_v4() && p.dst.is_v4())
        return match_in(v4_, AddressFamily::inet, table, pack_radij_key<2>(p.src, p.dst, p.proto, p.sport, p.dport));
    if (p.src.is_v6() && p.dst.is_v6())
        return match_in(v6_, AddressFamily::inet6, table, pack_radij_key<5>(p.src, p.dst, p.proto, p.sport, p.dport));
    return {};
}

}  // namespace kmod_sim
