// KLIPS's eroute table semantics ("radij", a BSD 4.4-Lite radix tree; spec/klips.md §6.2),
// rebuilt for speed with the same answers:
//
//  - a crit-bit tree over the distinct masked keys gives the leaf a lookup descends to, and
//    the in-order walk (ascending key bytes) of /proc;
//  - each leaf holds a "dupedkey" chain of the entries sharing that masked key, ordered by
//    KLIPS's insertion rule, quirk included;
//  - the masks in use form one ordered list (a new mask goes before the first mask it
//    strictly refines, else at the end), which lookup's last step walks;
//  - a hash index on (masked key, mask) finds the entry of a mask in O(1).
//
// Lookup, as KLIPS: descend by the packet's bits to a leaf; the first entry of its chain
// whose mask matches wins; otherwise, for each mask in list order, the entry with key
// packet&mask and that mask wins; otherwise no match. The fast path gives the same answers
// without walking the tree: it probes the index once per mask (behind a Bloom filter); with
// one match that is the answer; with more, the leaf the descent would reach is recognised
// from each matching key's cached path bits.
//
// Not thread-safe: the owner serialises writers and readers (Klips's reader-writer lock).
#pragma once

#include <atomic>
#include <bit>
#include <cerrno>
#include <cstdint>
#include <vector>

#include "radij_key.h"

namespace kmod_sim {

template <size_t W>
class RadijTable {
public:
    using Key = RadijKey<W>;
    static constexpr uint32_t kNone = UINT32_MAX;

    struct Change {
        int error = 0;           // 0, or EEXIST / EFAULT / ENOENT
        uint32_t entry = kNone;  // the entry added or removed
    };

    // Adds (key & mask, mask). EEXIST when an entry with the same masked key and mask exists.
    // Entry numbers are reused after removal; they stay valid until the entry is removed.
    Change insert(const Key& key, const Key& mask);
    // Removes the entry with this masked key and mask: EFAULT when no entry has the key,
    // ENOENT when some do but none has the mask (KLIPS's rj_delete results).
    Change remove(const Key& key, const Key& mask);
    void clear();

    // The entry with exactly this masked key and mask, or kNone.
    uint32_t find(const Key& key, const Key& mask) const;
    // The eroute a packet with this key matches, or kNone (see the header comment).
    uint32_t match(const Key& packet) const;

    // Calls f(entry) for every entry in /proc order: ascending masked key, then chain order.
    template <typename F>
    void walk(F&& f) const;

    const Key& key(uint32_t entry) const { return entries_[entry].key; }
    const Key& mask(uint32_t entry) const { return masks_[entries_[entry].mask].mask; }
    size_t size() const { return size_; }
    // Bumped by every change: a cached lookup result is valid while this is unchanged.
    uint64_t generation() const { return generation_; }

    // The masks in lookup order, for tests.
    std::vector<Key> mask_list() const;
    size_t memory_bytes() const;

private:
    static constexpr uint32_t kLeaf = 1u << 31;  // tree references with this bit are entries
    static constexpr uint32_t kEmptyTree = UINT32_MAX;

    struct Entry {
        Key key;            // masked
        uint32_t mask = 0;  // index into masks_
        uint32_t next = kNone;  // next entry of the dupedkey chain
    };
    struct Mask {
        Key mask;
        uint32_t refs = 0;  // entries using it; 0 = free slot
    };
    struct Node {
        uint32_t bit;       // the critical bit tested here
        uint32_t child[2];  // node index, or entry | kLeaf
    };
    struct Slot {
        uint32_t entry;  // kNone = empty
        uint32_t hash;
    };

    uint32_t new_mask(const Key& mask);  // a mask not in use yet, with one reference
    void release_mask(uint32_t id);
    uint32_t find_mask(const Key& mask) const;

    static constexpr size_t kMaxProbeBatch = 64;

    // The critical bits on the root-to-leaf path of an entry's key, and its chain's head:
    // a packet descends to that leaf iff it agrees with the key on those bits.
    struct PathInfo {
        Key bits;
        uint32_t head = kNone;
    };
    struct PathCache {
        Key bits;
        uint32_t head = kNone;
        uint64_t stamp = 0;  // generation_ + 1 when filled
    };
    PathInfo path_info(uint32_t entry) const;
    // KLIPS's three steps literally (for tables with more masks than one probe batch).
    uint32_t match_in_klips_order(const Key& packet) const;

    uint32_t descend(const Key& key) const;  // tree must not be empty
    void prefetch_ref(uint32_t ref) const {
        if (ref & kLeaf) __builtin_prefetch(&entries_[ref & ~kLeaf]);
        else __builtin_prefetch(&nodes_[ref]);
    }
    uint32_t chain_head(const Key& key) const;
    void tree_insert(const Key& key, uint32_t entry, uint32_t leaf);  // leaf = descend(key)
    void tree_remove(const Key& key);
    void tree_replace_leaf(const Key& key, uint32_t entry);

    static uint32_t index_hash(const Key& key, uint32_t mask) {
        uint64_t h = key.hash() ^ (uint64_t{mask} * 0x9e3779b97f4a7c15ull);
        h ^= h >> 29;
        return static_cast<uint32_t>(h * 0xbf58476d1ce4e5b9ull >> 32);
    }
    uint32_t index_find(const Key& key, uint32_t mask) const;
    uint32_t index_probe(const Key& key, uint32_t mask, uint32_t hash) const;
    void index_insert(uint32_t entry);
    void index_erase(uint32_t entry);
    void index_grow();

    // A Bloom filter over the index's hashes (one bit each, 8+ bits per entry), small enough
    // for L2: most masks a packet does not match are rejected without touching the index.
    // Removals leave their bits set; it is rebuilt when they add up.
    bool bloom_may_contain(uint32_t hash) const {
        const uint32_t bit = (hash * 0x9e3779b1u) >> bloom_shift_;
        return bloom_[bit >> 6] >> (bit & 63) & 1;
    }
    void bloom_add(uint32_t hash) {
        const uint32_t bit = (hash * 0x9e3779b1u) >> bloom_shift_;
        bloom_[bit >> 6] |= uint64_t{1} << (bit & 63);
    }
    void bloom_rebuild();

    std::vector<Entry> entries_;
    std::vector<uint32_t> free_entries_;
    std::vector<Mask> masks_;
    std::vector<uint32_t> mask_order_;  // mask ids in lookup order
    std::vector<Node> nodes_;
    std::vector<uint32_t> free_nodes_;
    uint32_t root_ = kEmptyTree;
    std::vector<Slot> index_;  // open addressing, linear probing, power-of-two size
    // Filled lazily by readers (under the owner's read lock), through atomics.
    mutable std::vector<PathCache> path_cache_;
    std::vector<uint64_t> bloom_;  // 4 bits per index slot
    int bloom_shift_ = 32;
    size_t bloom_stale_ = 0;       // removals since the last rebuild
    size_t size_ = 0;
    uint64_t generation_ = 0;
};

// ---- implementation ----------------------------------------------------------------------

template <size_t W>
auto RadijTable<W>::insert(const Key& raw_key, const Key& mask) -> Change {
    const Key key = raw_key & mask;
    const uint32_t existing_mask = find_mask(mask);
    if (existing_mask != kNone && !index_.empty())  // its index slot, fetched during the descent
        __builtin_prefetch(&index_[index_hash(key, existing_mask) & (index_.size() - 1)]);
    // One descent finds the chain of this key, or the leaf to split for a new key.
    const uint32_t leaf = root_ == kEmptyTree ? kNone : descend(key);
    const uint32_t head = leaf != kNone && entries_[leaf].key == key ? leaf : kNone;
    if (existing_mask != kNone && head != kNone) {
        for (uint32_t e = head; e != kNone; e = entries_[e].next)
            if (entries_[e].mask == existing_mask) return {EEXIST, e};
    }

    uint32_t entry;
    if (!free_entries_.empty()) {
        entry = free_entries_.back();
        free_entries_.pop_back();
    } else {
        entry = static_cast<uint32_t>(entries_.size());
        entries_.emplace_back();
        path_cache_.emplace_back();
    }
    entries_[entry] = Entry{key, existing_mask != kNone ? existing_mask : new_mask(mask), kNone};
    if (existing_mask != kNone) ++masks_[existing_mask].refs;

    if (head == kNone) {
        tree_insert(key, entry, leaf);
    } else {
        // KLIPS's chain order: stop at the first member whose mask the new one strictly
        // refines. Before the head → new head; otherwise the new entry goes AFTER that
        // member (the BSD 4.4-Lite quirk), or at the tail when none is refined.
        uint32_t prev = kNone;
        uint32_t e = head;
        for (; e != kNone; prev = e, e = entries_[e].next)
            if (mask.strictly_refines(this->mask(e))) break;
        if (e == head) {
            entries_[entry].next = head;
            tree_replace_leaf(key, entry);
        } else {
            uint32_t after = e != kNone ? e : prev;
            entries_[entry].next = entries_[after].next;
            entries_[after].next = entry;
        }
    }
    index_insert(entry);
    ++size_;
    ++generation_;
    return {0, entry};
}

template <size_t W>
auto RadijTable<W>::remove(const Key& raw_key, const Key& mask) -> Change {
    const Key key = raw_key & mask;
    const uint32_t head = chain_head(key);
    if (head == kNone) return {EFAULT, kNone};
    const uint32_t mask_id = find_mask(mask);
    uint32_t prev = kNone;
    uint32_t e = head;
    for (; e != kNone; prev = e, e = entries_[e].next)
        if (entries_[e].mask == mask_id) break;
    if (e == kNone) return {ENOENT, kNone};

    const uint32_t next = entries_[e].next;
    if (prev != kNone) entries_[prev].next = next;
    else if (next != kNone) tree_replace_leaf(key, next);
    else tree_remove(key);

    index_erase(e);
    release_mask(entries_[e].mask);
    entries_[e] = Entry{};
    free_entries_.push_back(e);
    --size_;
    ++generation_;
    return {0, e};
}

template <size_t W>
void RadijTable<W>::clear() {
    const uint64_t generation = generation_;
    *this = RadijTable{};
    generation_ = generation + 1;
}

template <size_t W>
uint32_t RadijTable<W>::find(const Key& raw_key, const Key& mask) const {
    const uint32_t mask_id = find_mask(mask);
    return mask_id == kNone ? kNone : index_find(raw_key & mask, mask_id);
}

template <size_t W>
uint32_t RadijTable<W>::match(const Key& packet) const {
    if (root_ == kEmptyTree) return kNone;
    const size_t masks = mask_order_.size();
    if (masks > kMaxProbeBatch) return match_in_klips_order(packet);

    // Every eroute the packet falls in is found by probing the index with packet & mask, one
    // probe per mask; the probes are independent, so their cache misses overlap. When at most
    // one eroute matches, KLIPS's three steps can only answer that one.
    // Branch-free filtering, so the Bloom filter's loads overlap instead of serialising.
    uint32_t hashes[kMaxProbeBatch];
    uint32_t ids[kMaxProbeBatch];
    size_t candidates = 0;
    for (size_t i = 0; i < masks; ++i) {
        const uint32_t id = mask_order_[i];
        const uint32_t hash = index_hash(packet & masks_[id].mask, id);
        hashes[candidates] = hash;
        ids[candidates] = id;
        candidates += bloom_may_contain(hash);
    }
    const size_t last = index_.size() - 1;
    for (size_t i = 0; i < candidates; ++i) __builtin_prefetch(&index_[hashes[i] & last]);

    uint32_t first = kNone;  // the first hit in mask-list order: step 3's answer
    uint32_t hits[kMaxProbeBatch];
    size_t hit_count = 0;
    for (size_t i = 0; i < candidates; ++i) {
        const uint32_t e = index_probe(packet & masks_[ids[i]].mask, ids[i], hashes[i]);
        if (e == kNone) continue;
        if (first == kNone) first = e;
        hits[hit_count++] = e;
    }
    if (hit_count <= 1) return first;

    // Two or more match: KLIPS answers from the leaf the packet's bits descend to, if that
    // leaf's chain holds one of them, else with step 3. The descent reaches a matching key
    // iff the packet agrees with it on every critical bit of its path (cached per table
    // generation), so no descent is needed.
    for (size_t i = 0; i < hit_count; ++i) {
        const PathInfo path = path_info(hits[i]);
        if (!entries_[hits[i]].key.matches(packet, path.bits)) continue;
        for (uint32_t e = path.head; e != kNone; e = entries_[e].next)
            if (entries_[e].key.matches(packet, mask(e))) return e;
    }
    return first;
}

template <size_t W>
auto RadijTable<W>::path_info(uint32_t entry) const -> PathInfo {
    PathCache& cache = path_cache_[entry];
    const uint64_t stamp = generation_ + 1;  // 0 = never computed
    PathInfo info;
    if (std::atomic_ref<uint64_t>(cache.stamp).load(std::memory_order_acquire) == stamp) {
        for (size_t i = 0; i < W; ++i)
            info.bits.w[i] = std::atomic_ref<uint64_t>(cache.bits.w[i]).load(std::memory_order_relaxed);
        info.head = std::atomic_ref<uint32_t>(cache.head).load(std::memory_order_relaxed);
        return info;
    }
    // Walk from the root along the entry's own key, noting each critical bit.
    const Key& key = entries_[entry].key;
    uint32_t ref = root_;
    while (!(ref & kLeaf)) {
        const Node& n = nodes_[ref];
        info.bits.w[n.bit / 64] |= uint64_t{1} << (63 - n.bit % 64);
        ref = n.child[key.bit(static_cast<int>(n.bit))];
    }
    info.head = ref & ~kLeaf;
    // Readers may fill the same entry at once: they store the same values, atomically.
    for (size_t i = 0; i < W; ++i)
        std::atomic_ref<uint64_t>(cache.bits.w[i]).store(info.bits.w[i], std::memory_order_relaxed);
    std::atomic_ref<uint32_t>(cache.head).store(info.head, std::memory_order_relaxed);
    std::atomic_ref<uint64_t>(cache.stamp).store(stamp, std::memory_order_release);
    return info;
}

template <size_t W>
uint32_t RadijTable<W>::match_in_klips_order(const Key& packet) const {
    // Steps 1 and 2: the leaf the packet's bits lead to, and its dupedkey chain.
    for (uint32_t e = descend(packet); e != kNone; e = entries_[e].next)
        if (entries_[e].key.matches(packet, mask(e))) return e;
    // Step 3: the masks in list order.
    for (uint32_t id : mask_order_) {
        uint32_t e = index_find(packet & masks_[id].mask, id);
        if (e != kNone) return e;
    }
    return kNone;
}

template <size_t W>
template <typename F>
void RadijTable<W>::walk(F&& f) const {
    if (root_ == kEmptyTree) return;
    std::vector<uint32_t> stack{root_};
    while (!stack.empty()) {
        uint32_t ref = stack.back();
        stack.pop_back();
        if (ref & kLeaf) {
            for (uint32_t e = ref & ~kLeaf; e != kNone; e = entries_[e].next) f(e);
        } else {
            const Node& n = nodes_[ref];
            for (uint32_t child : n.child) prefetch_ref(child);
            stack.push_back(n.child[1]);
            stack.push_back(n.child[0]);
        }
    }
}

template <size_t W>
std::vector<RadijKey<W>> RadijTable<W>::mask_list() const {
    std::vector<Key> out;
    for (uint32_t id : mask_order_) out.push_back(masks_[id].mask);
    return out;
}

template <size_t W>
size_t RadijTable<W>::memory_bytes() const {
    return entries_.capacity() * sizeof(Entry) + free_entries_.capacity() * sizeof(uint32_t) +
           masks_.capacity() * sizeof(Mask) + mask_order_.capacity() * sizeof(uint32_t) +
           nodes_.capacity() * sizeof(Node) + free_nodes_.capacity() * sizeof(uint32_t) +
           index_.capacity() * sizeof(Slot) + bloom_.capacity() * sizeof(uint64_t) +
           path_cache_.capacity() * sizeof(PathCache);
}

// -- masks

template <size_t W>
uint32_t RadijTable<W>::find_mask(const Key& mask) const {
    for (uint32_t id : mask_order_)
        if (masks_[id].mask == mask) return id;
    return kNone;
}

template <size_t W>
uint32_t RadijTable<W>::new_mask(const Key& mask) {
    uint32_t id = 0;
    while (id < masks_.size() && masks_[id].refs != 0) ++id;
    if (id == masks_.size()) masks_.emplace_back();
    masks_[id] = Mask{mask, 1};

    // Before the first mask it strictly refines, else at the end.
    auto pos = mask_order_.begin();
    while (pos != mask_order_.end() && !mask.strictly_refines(masks_[*pos].mask)) ++pos;
    mask_order_.insert(pos, id);
    return id;
}

template <size_t W>
void RadijTable<W>::release_mask(uint32_t id) {
    if (--masks_[id].refs != 0) return;
    std::erase(mask_order_, id);
}

// -- the crit-bit tree

template <size_t W>
uint32_t RadijTable<W>::descend(const Key& key) const {
    uint32_t ref = root_;
    while (!(ref & kLeaf)) {
        const Node& n = nodes_[ref];
        // Fetch both children (a node, or the entry a leaf names) while the bit test decides:
        // the walk is a chain of cache misses.
        for (uint32_t child : n.child) prefetch_ref(child);
        ref = n.child[key.bit(static_cast<int>(n.bit))];
    }
    return ref & ~kLeaf;
}

template <size_t W>
uint32_t RadijTable<W>::chain_head(const Key& key) const {
    if (root_ == kEmptyTree) return kNone;
    uint32_t e = descend(key);
    return entries_[e].key == key ? e : kNone;
}

template <size_t W>
void RadijTable<W>::tree_insert(const Key& key, uint32_t entry, uint32_t leaf) {
    if (root_ == kEmptyTree) {
        root_ = entry | kLeaf;
        return;
    }
    const int crit = key.first_difference(entries_[leaf].key);
    const bool side = key.bit(crit);

    uint32_t node;  // allocate first: growing nodes_ would invalidate `slot` below
    if (!free_nodes_.empty()) {
        node = free_nodes_.back();
        free_nodes_.pop_back();
    } else {
        node = static_cast<uint32_t>(nodes_.size());
        nodes_.emplace_back();
    }

    uint32_t* slot = &root_;
    while (!(*slot & kLeaf)) {
        Node& n = nodes_[*slot];
        if (static_cast<int>(n.bit) > crit) break;
        slot = &n.child[key.bit(static_cast<int>(n.bit))];
    }
    nodes_[node].bit = static_cast<uint32_t>(crit);
    nodes_[node].child[side] = entry | kLeaf;
    nodes_[node].child[!side] = *slot;
    *slot = node;
}

template <size_t W>
void RadijTable<W>::tree_remove(const Key& key) {
    uint32_t* slot = &root_;
    uint32_t* parent = nullptr;
    while (!(*slot & kLeaf)) {
        parent = slot;
        Node& n = nodes_[*slot];
        slot = &n.child[key.bit(static_cast<int>(n.bit))];
    }
    if (parent == nullptr) {
        root_ = kEmptyTree;
        return;
    }
    const uint32_t node = *parent;
    Node& p = nodes_[node];
    *parent = slot == &p.child[0] ? p.child[1] : p.child[0];
    free_nodes_.push_back(node);
}

template <size_t W>
void RadijTable<W>::tree_replace_leaf(const Key& key, uint32_t entry) {
    uint32_t* slot = &root_;
    while (!(*slot & kLeaf)) {
        Node& n = nodes_[*slot];
        slot = &n.child[key.bit(static_cast<int>(n.bit))];
    }
    *slot = entry | kLeaf;
}

// -- the (masked key, mask) index

template <size_t W>
uint32_t RadijTable<W>::index_find(const Key& key, uint32_t mask) const {
    if (index_.empty()) return kNone;
    return index_probe(key, mask, index_hash(key, mask));
}

template <size_t W>
uint32_t RadijTable<W>::index_probe(const Key& key, uint32_t mask, uint32_t hash) const {
    const size_t last = index_.size() - 1;
    for (size_t i = hash & last;; i = (i + 1) & last) {
        const Slot& s = index_[i];
        if (s.entry == kNone) return kNone;
        if (s.hash == hash && entries_[s.entry].mask == mask && entries_[s.entry].key == key)
            return s.entry;
    }
}

template <size_t W>
void RadijTable<W>::index_insert(uint32_t entry) {
    if ((size_ + 1) * 2 > index_.size()) index_grow();
    const uint32_t hash = index_hash(entries_[entry].key, entries_[entry].mask);
    const size_t last = index_.size() - 1;
    size_t i = hash & last;
    while (index_[i].entry != kNone) i = (i + 1) & last;
    index_[i] = Slot{entry, hash};
    bloom_add(hash);
}

template <size_t W>
void RadijTable<W>::index_erase(uint32_t entry) {
    const size_t last = index_.size() - 1;
    size_t i = index_hash(entries_[entry].key, entries_[entry].mask) & last;
    while (index_[i].entry != entry) i = (i + 1) & last;
    // Backward-shift deletion keeps every probe sequence unbroken without tombstones.
    for (size_t j = (i + 1) & last; index_[j].entry != kNone; j = (j + 1) & last) {
        const size_t home = index_[j].hash & last;
        // Move j back to the hole at i when its home does not lie cyclically in (i, j].
        const bool home_in_range = i <= j ? (home > i && home <= j) : (home > i || home <= j);
        if (!home_in_range) {
            index_[i] = index_[j];
            i = j;
        }
    }
    index_[i] = Slot{kNone, 0};
    if (++bloom_stale_ > size_ / 2 + 64) bloom_rebuild();
}

template <size_t W>
void RadijTable<W>::index_grow() {
    std::vector<Slot> old = std::move(index_);
    index_.assign(old.empty() ? 16 : old.size() * 2, Slot{kNone, 0});
    const size_t last = index_.size() - 1;
    for (const Slot& s : old) {
        if (s.entry == kNone) continue;
        size_t i = s.hash & last;
        while (index_[i].entry != kNone) i = (i + 1) & last;
        index_[i] = s;
    }
    bloom_rebuild();
}

template <size_t W>
void RadijTable<W>::bloom_rebuild() {
    const size_t bits = index_.size() * 4;  // ≥ 8 bits per entry at the index's load ≤ 1/2
    bloom_.assign(bits / 64, 0);
    bloom_shift_ = 32 - std::countr_zero(bits);
    bloom_stale_ = 0;
    for (const Slot& s : index_)
        if (s.entry != kNone) bloom_add(s.hash);
}

}  // namespace kmod_sim
