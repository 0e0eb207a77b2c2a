// The eroute table of both address families: a RadijTable per family for the selectors and
// lookups, and the Eroute records beside it. IPv4 eroutes list before IPv6 ones.
//
// Not thread-safe: Klips serialises access with its reader-writer lock. The only mutation
// allowed under the read lock is counting (Eroute::count/lasttime through std::atomic_ref).
#pragma once

#include <algorithm>
#include <deque>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <utility>
#include <vector>

#include "eroute.h"
#include "huge_pages.h"
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

    // Calls visit(const EroutView&) for every eroute in /proc order. Under the owner's read
    // lock; readers may walk at once.
    template <typename F>
    void walk(F&& visit) const {
        walk_family(v4_, visit);
        walk_family(v6_, visit);
    }

    size_t size() const { return v4_.table.size() + v6_.table.size(); }
    uint64_t generation() const { return v4_.table.generation() + v6_.table.generation(); }

private:
    // One family's /proc order, as the radij walk gave it at one table generation. The walk
    // visits the tree and records in key order, not memory order: a chain of cache misses
    // (about 150 ms for a million eroutes). The order stays right until the table changes, so
    // a listing read again walks this array instead, and fetches the records it names well
    // ahead of copying them. Pointers into the deque and the mask list stay valid while the
    // generation is unchanged: any add, remove or clear bumps it.
    template <size_t W>
    struct WalkOrder {
        struct Step {
            const Eroute* eroute;
            uint32_t masks;  // index into `masks`
        };
        uint64_t generation = 0;
        std::vector<Step> steps;
        std::vector<std::pair<IpAddress, IpAddress>> masks;  // (src, dst) of each mask in use
    };

    template <size_t W>
    struct Family {
        RadijTable<W> table;
        std::deque<Eroute> eroutes;  // indexed by the table's entry numbers; stable addresses
        // Filled by readers (walk_mutex_), dropped by writers; may be stale (generation).
        mutable std::shared_ptr<const WalkOrder<W>> order;
    };

    template <size_t W>
    static int add_to(Family<W>& family, const EroutSelector& s, Eroute&& eroute, uint32_t* entry);
    template <size_t W>
    static int remove_from(Family<W>& family, const EroutSelector& s, std::unique_ptr<HeldPackets>* held);

    // The family's order for the current generation, walking the tree when it changed.
    template <size_t W>
    std::shared_ptr<const WalkOrder<W>> walk_order(const Family<W>& family) const {
        std::lock_guard lock(walk_mutex_);
        if (!family.order || family.order->generation != family.table.generation()) {
            family.order.reset();  // free the stale one before building the new one
            auto order = std::make_shared<WalkOrder<W>>();
            order->generation = family.table.generation();
            order->steps.reserve(family.table.size());
            advise_huge_pages(order->steps.data(), order->steps.capacity() * sizeof(order->steps[0]));
            std::unordered_map<const RadijKey<W>*, uint32_t> seen;  // mask → index in order->masks
            family.table.walk([&](uint32_t e) {
                const RadijKey<W>* mask = &family.table.mask(e);
                auto [it, added] = seen.try_emplace(mask, static_cast<uint32_t>(order->masks.size()));
                if (added) order->masks.emplace_back(radij_key_src(*mask), radij_key_dst(*mask));
                order->steps.push_back({&family.eroutes[e], it->second});
            });
            family.order = std::move(order);
        }
        return family.order;
    }

    template <size_t W, typename F>
    void walk_family(const Family<W>& family, F& visit) const {
        if (family.table.size() == 0) return;
        const std::shared_ptr<const WalkOrder<W>> order = walk_order(family);
        const auto& steps = order->steps;
        // Records are fetched kAhead steps before they are visited, so the misses overlap.
        constexpr size_t kAhead = 16;
        const size_t n = steps.size();
        auto fetch = [&](size_t i) {
            const char* record = reinterpret_cast<const char*>(steps[i].eroute);
            __builtin_prefetch(record);
            __builtin_prefetch(record + 64);
            __builtin_prefetch(record + sizeof(Eroute) - 1);
        };
        for (size_t i = 0; i < std::min(n, kAhead); ++i) fetch(i);
        for (size_t i = 0; i < n; ++i) {
            if (i + kAhead < n) fetch(i + kAhead);
            const auto& masks = order->masks[steps[i].masks];
            visit(EroutView{*steps[i].eroute, masks.first, masks.second});
        }
    }

    mutable std::mutex walk_mutex_;  // readers filling WalkOrder caches
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
