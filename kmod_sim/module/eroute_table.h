// The eroute table of both address families: a RadijTable per family for the selectors and
// lookups, and the Eroute records beside it. IPv4 eroutes list before IPv6 ones.
//
// Not thread-safe: Klips serialises access with its reader-writer lock. The only mutation
// allowed under the read lock is counting (Eroute::count/lasttime through std::atomic_ref).
#pragma once

#include <deque>
#include <memory>

#include "eroute.h"
#include "radij_table.h"

namespace kmod_sim {

// Where an eroute lives: stable until it is removed.
struct EroutRef {
    AddressFamily family = AddressFamily::unspecified;
    uint32_t entry = UINT32_MAX;
    explicit operator bool() const { return family != AddressFamily::unspecified; }
};

// An eroute as the /proc walk sees it, with the table's mask for each side.
struct EroutView {
    const Eroute& eroute;
    IpAddress src_mask, dst_mask;
};

class EroutTable {
public:
    // 0, EEXIST (same masked selector and masks), or EINVAL (mixed address families).
    int add(const EroutSelector& selector, Eroute eroute, EroutRef* added = nullptr);
    // 0, EFAULT (no eroute with that masked key), ENOENT (none with that mask), or EINVAL.
    // The removed eroute's held packets, if any, are moved to *held.
    int remove(const EroutSelector& selector, std::unique_ptr<HeldPackets>* held = nullptr);
    void clear();

    EroutRef find(const EroutSelector& selector) const;
    EroutRef match(const PacketSelector& packet) const;
    // The same, for a packet key already packed (EroutCache packs once for both uses).
    EroutRef match(const RadijKey4& packet) const;
    EroutRef match(const RadijKey6& packet) const;
    Eroute& at(EroutRef ref);
    const Eroute& at(EroutRef ref) const;

    // Calls visit(const EroutView&) for every eroute in /proc order.
    template <typename F>
    void walk(F&& visit) const {
        walk_family(v4_, visit);
        walk_family(v6_, visit);
    }

    size_t size() const { return v4_.table.size() + v6_.table.size(); }
    uint64_t generation() const { return v4_.table.generation() + v6_.table.generation(); }

private:
    template <size_t W>
    struct Family {
        RadijTable<W> table;
        std::deque<Eroute> eroutes;  // indexed by the table's entry numbers; stable addresses
    };

    template <size_t W>
    static int add_to(Family<W>& family, const EroutSelector& s, Eroute&& eroute, uint32_t* entry);
    template <size_t W>
    static int remove_from(Family<W>& family, const EroutSelector& s, std::unique_ptr<HeldPackets>* held);

    // The walk visits records in key order, not memory order: each is prefetched a few
    // steps before it is visited, so the cache misses overlap.
    template <size_t W, typename F>
    static void walk_family(const Family<W>& family, F& visit) {
        constexpr size_t kAhead = 16;
        uint32_t ring[kAhead];
        size_t seen = 0;
        auto emit = [&](uint32_t e) {
            const auto& mask = family.table.mask(e);
            visit(EroutView{family.eroutes[e], radij_key_src(mask), radij_key_dst(mask)});
        };
        family.table.walk([&](uint32_t e) {
            const char* record = reinterpret_cast<const char*>(&family.eroutes[e]);
            __builtin_prefetch(record);
            __builtin_prefetch(record + 64);
            if (seen >= kAhead) emit(ring[seen % kAhead]);
            ring[seen++ % kAhead] = e;
        });
        for (size_t i = seen > kAhead ? seen - kAhead : 0; i < seen; ++i) emit(ring[i % kAhead]);
    }

    Family<2> v4_;
    Family<5> v6_;
};

// The radij keys of a selector: masked flow and mask (proto mask 0xff when a protocol is set).
template <size_t W>
RadijKey<W> selector_key(const EroutSelector& s) {
    return pack_radij_key<W>(s.src, s.dst, s.proto, s.sport, s.dport);
}
template <size_t W>
RadijKey<W> selector_mask(const EroutSelector& s) {
    return pack_radij_key<W>(s.src_mask, s.dst_mask, s.proto ? 0xff : 0, s.sport_mask, s.dport_mask);
}

}  // namespace kmod_sim
