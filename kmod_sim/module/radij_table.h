// KLIPS's eroute table semantics ("radij", a BSD 4.4-Lite radix tree; spec/klips.md §6.2),
// rebuilt for speed with the same answers:
//
//  - a crit-bit tree over the distinct masked keys gives the leaf a lookup descends to, and
//    the in-order walk (ascending key bytes) of /proc;
//  - each leaf holds a "dupedkey" chain of the entries sharing that masked key, ordered by
//    KLIPS's insertion rule, quirk included;
//  - the masks in use form one ordered list (a new mask goes before the first mask it
//    strictly refines, else at the end), which lookup's last step walks;
//  - a hash index on (masked key, mask) answers that last step in O(1) per mask.
//
// Lookup: descend by the packet's bits to a leaf; the first entry of its chain whose mask
// matches wins; otherwise, for each mask in list order, the entry with key packet&mask and
// that mask wins; otherwise no match.
//
// Not thread-safe: the owner serialises writers and readers (Klips's reader-writer lock).
#pragma once

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

    uint32_t intern_mask(const Key& mask);
    void release_mask(uint32_t id);
    uint32_t find_mask(const Key& mask) const;

    uint32_t descend(const Key& key) const;  // tree must not be empty
    uint32_t chain_head(const Key& key) const;
    void tree_insert(const Key& key, uint32_t entry);
    void tree_remove(const Key& key);
    void tree_replace_leaf(const Key& key, uint32_t entry);

    static uint32_t index_hash(const Key& key, uint32_t mask) {
        uint64_t h = key.hash() ^ (uint64_t{mask} * 0x9e3779b97f4a7c15ull);
        h ^= h >> 29;
        return static_cast<uint32_t>(h * 0xbf58476d1ce4e5b9ull >> 32);
    }
    uint32_t index_find(const Key& key, uint32_t mask) const;
    void index_insert(uint32_t entry);
    void index_erase(uint32_t entry);
    void index_grow();

    std::vector<Entry> entries_;
    std::vector<uint32_t> free_entries_;
    std::vector<Mask> masks_;
    std::vector<uint32_t> mask_order_;  // mask ids in lookup order
    std::vector<Node> nodes_;
    std::vector<uint32_t> free_nodes_;
    uint32_t root_ = kEmptyTree;
    std::vector<Slot> index_;  // open addressing, linear probing, power-of-two size
    size_t size_ = 0;
    uint64_t generation_ = 0;
};

// ---- implementation ----------------------------------------------------------------------

template <size_t W>
auto RadijTable<W>::insert(const Key& raw_key, const Key& mask) -> Change {
    const Key key = raw_key & mask;
    const uint32_t existing_mask = find_mask(mask);
    const uint32_t head = chain_head(key);
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
    }
    entries_[entry] = Entry{key, intern_mask(mask), kNone};

    if (head == kNone) {
        tree_insert(key, entry);
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
    for (uint32_t e = descend(packet); e != kNone; e = entries_[e].next)
        if (entries_[e].key.matches(packet, mask(e))) return e;
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
            stack.push_back(nodes_[ref].child[1]);
            stack.push_back(nodes_[ref].child[0]);
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
           index_.capacity() * sizeof(Slot);
}

// -- masks

template <size_t W>
uint32_t RadijTable<W>::find_mask(const Key& mask) const {
    for (uint32_t id : mask_order_)
        if (masks_[id].mask == mask) return id;
    return kNone;
}

template <size_t W>
uint32_t RadijTable<W>::intern_mask(const Key& mask) {
    if (uint32_t id = find_mask(mask); id != kNone) {
        ++masks_[id].refs;
        return id;
    }
    uint32_t id = 0;
    while (id < masks_.size() && masks_[id].refs != 0) ++id;
    if (id == masks_.size()) masks_.emplace_back();
    masks_[id] = Mask{mask, 1};

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
void RadijTable<W>::tree_insert(const Key& key, uint32_t entry) {
    if (root_ == kEmptyTree) {
        root_ = entry | kLeaf;
        return;
    }
    const int crit = key.first_difference(entries_[descend(key)].key);
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
    const uint32_t hash = index_hash(key, mask);
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
}

}  // namespace kmod_sim
