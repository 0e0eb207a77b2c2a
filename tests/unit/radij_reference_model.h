// A deliberately naive reference model of KLIPS's eroute table ("radij"), written straight from
// spec/klips.md §6.2 to check kmod_sim/module/radij_table.h against.
//
// It shares nothing with RadijTable but the RadijKey type: every key is turned into the byte
// string KLIPS compares (big-endian, word 0 first) and all masking, bit tests and comparisons
// below work on those bytes with code of its own. Nothing here is fast:
//
//  - the table is a plain vector of entries {masked key, mask, insertion id};
//  - the dupedkey chains are a vector of vectors, one per distinct masked key, kept in chain
//    order by the spec's insertion rule (quirk included);
//  - the mask list is a vector of distinct masks with reference counts, a new mask going before
//    the first mask it strictly refines, else at the end;
//  - the leaf a radix descent reaches is computed without a tree: start from the set of all
//    distinct masked keys and, bit by bit, whenever the keys left disagree at a bit, keep those
//    that agree with the packet there.
//
// The two places where the spec is loose follow the decisions RadijTable made: EEXIST is
// checked against every entry with the same masked key (not only the chain head), and each
// distinct mask is on the list once, until its last entry goes.
#pragma once

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "kmod_sim/module/radij_key.h"

namespace radij_reference {

template <size_t W>
class RadijReferenceModel {
public:
    using Key = kmod_sim::RadijKey<W>;

    struct Entry {
        Key key;  // masked
        Key mask;
        uint64_t id = 0;  // insertion number, 0 for the first entry ever added
    };

    // 0, or EEXIST when an entry with the same masked key and mask exists.
    int insert(const Key& key, const Key& mask) {
        const Bytes k = masked(bytes_of(key), bytes_of(mask));
        const Bytes m = bytes_of(mask);
        for (const Row& r : rows_)
            if (same(r.key, k) && same(r.mask, m)) return EEXIST;

        const Row row{k, m, next_id_++};
        rows_.push_back(row);
        add_to_chain(row);
        add_mask(m);
        return 0;
    }

    // 0, EFAULT when no entry has this masked key, ENOENT when some do but not with this mask.
    int remove(const Key& key, const Key& mask) {
        const Bytes k = masked(bytes_of(key), bytes_of(mask));
        const Bytes m = bytes_of(mask);
        bool key_seen = false;
        size_t found = rows_.size();
        for (size_t i = 0; i < rows_.size(); ++i) {
            if (!same(rows_[i].key, k)) continue;
            key_seen = true;
            if (same(rows_[i].mask, m)) found = i;
        }
        if (!key_seen) return EFAULT;
        if (found == rows_.size()) return ENOENT;

        const uint64_t id = rows_[found].id;
        rows_.erase(rows_.begin() + static_cast<std::ptrdiff_t>(found));
        remove_from_chain(k, id);
        release_mask(m);
        return 0;
    }

    void clear() {
        rows_.clear();
        chains_.clear();
        masks_.clear();
    }

    size_t size() const { return rows_.size(); }

    // The entry a packet with this key matches (§6.2 steps 1-4), or nothing. `step`, when
    // given, is set to the step that decided: 2 (the leaf's chain; step 1 is its special case),
    // 3 (the mask list) or 4 (no match).
    std::optional<Entry> match(const Key& packet, int* step = nullptr) const {
        int ignored = 0;
        int& decided = step != nullptr ? *step : ignored;
        decided = 4;
        if (chains_.empty()) return std::nullopt;
        const Bytes p = bytes_of(packet);

        // Steps 1 and 2: the leaf's chain, first entry whose mask matches. (An exact key match
        // is the chain head, which matches under any mask.)
        decided = 2;
        for (const Row& r : chains_[descend(p)])
            if (covers(r.key, r.mask, p)) return entry_of(r);

        // Step 3: for each mask in list order, the entry with key packet&mask and that mask.
        decided = 3;
        for (const MaskUse& mu : masks_) {
            const Bytes target = masked(p, mu.mask);
            for (const Row& r : rows_)
                if (same(r.key, target) && same(r.mask, mu.mask)) return entry_of(r);
        }
        decided = 4;
        return std::nullopt;
    }

    // How many insertions so far were linked after a refined member that was not the head
    // (the BSD 4.4-Lite quirk), for coverage statistics.
    size_t quirk_insertions() const { return quirk_insertions_; }

    // Every entry in /proc order: ascending masked key bytes, chain order within a key.
    std::vector<Entry> walk() const {
        std::vector<size_t> order;
        for (size_t i = 0; i < chains_.size(); ++i) order.push_back(i);
        std::sort(order.begin(), order.end(), [this](size_t a, size_t b) {
            return less(chains_[a].front().key, chains_[b].front().key);
        });
        std::vector<Entry> out;
        for (size_t c : order)
            for (const Row& r : chains_[c]) out.push_back(entry_of(r));
        return out;
    }

    // The distinct masks in lookup order.
    std::vector<Key> mask_list() const {
        std::vector<Key> out;
        for (const MaskUse& mu : masks_) out.push_back(key_of(mu.mask));
        return out;
    }

    // The chain of the leaf a descent by this key reaches (empty when the table is empty).
    std::vector<Entry> leaf_chain(const Key& packet) const {
        std::vector<Entry> out;
        if (chains_.empty()) return out;
        for (const Row& r : chains_[descend(bytes_of(packet))]) out.push_back(entry_of(r));
        return out;
    }

private:
    static constexpr size_t kBytes = W * 8;
    using Bytes = std::array<uint8_t, kBytes>;  // KLIPS's byte order

    struct Row {
        Bytes key;
        Bytes mask;
        uint64_t id;
    };
    struct MaskUse {
        Bytes mask;
        size_t refs;
    };

    // -- byte strings, independent of RadijKey's own helpers

    static Bytes bytes_of(const Key& key) {
        Bytes out{};
        size_t at = 0;
        for (size_t word = 0; word < W; ++word)
            for (int shift = 56; shift >= 0; shift -= 8)
                out[at++] = static_cast<uint8_t>((key.w[word] >> shift) & 0xff);
        return out;
    }
    static Key key_of(const Bytes& b) {
        Key key;
        for (size_t word = 0; word < W; ++word) {
            uint64_t v = 0;
            for (size_t i = 0; i < 8; ++i) v = (v << 8) | b[word * 8 + i];
            key.w[word] = v;
        }
        return key;
    }
    static Entry entry_of(const Row& r) { return Entry{key_of(r.key), key_of(r.mask), r.id}; }

    static Bytes masked(const Bytes& a, const Bytes& mask) {
        Bytes out{};
        for (size_t i = 0; i < kBytes; ++i) out[i] = static_cast<uint8_t>(a[i] & mask[i]);
        return out;
    }
    static bool same(const Bytes& a, const Bytes& b) {
        for (size_t i = 0; i < kBytes; ++i)
            if (a[i] != b[i]) return false;
        return true;
    }
    static bool less(const Bytes& a, const Bytes& b) {
        for (size_t i = 0; i < kBytes; ++i)
            if (a[i] != b[i]) return a[i] < b[i];
        return false;
    }
    // Bit `index` counted from the most significant bit of the first byte.
    static int bit(const Bytes& a, size_t index) { return (a[index / 8] >> (7 - index % 8)) & 1; }
    // (key XOR packet) AND mask == 0
    static bool covers(const Bytes& key, const Bytes& mask, const Bytes& packet) {
        for (size_t i = 0; i < kBytes; ++i)
            if (((key[i] ^ packet[i]) & mask[i]) != 0) return false;
        return true;
    }
    // a has every bit of b, and more (BSD's rn_refines).
    static bool strictly_refines(const Bytes& a, const Bytes& b) {
        bool more = false;
        for (size_t i = 0; i < kBytes; ++i) {
            if ((a[i] & b[i]) != b[i]) return false;
            if (a[i] != b[i]) more = true;
        }
        return more;
    }

    // -- the descent, without a tree: index into chains_ of the leaf reached.
    size_t descend(const Bytes& packet) const {
        std::vector<size_t> alive;
        for (size_t i = 0; i < chains_.size(); ++i) alive.push_back(i);
        for (size_t b = 0; b < kBytes * 8 && alive.size() > 1; ++b) {
            const int first = bit(chains_[alive.front()].front().key, b);
            bool agree = true;
            for (size_t c : alive)
                if (bit(chains_[c].front().key, b) != first) agree = false;
            if (agree) continue;
            std::vector<size_t> kept;
            for (size_t c : alive)
                if (bit(chains_[c].front().key, b) == bit(packet, b)) kept.push_back(c);
            alive = kept;
        }
        return alive.front();
    }

    // -- dupedkey chains

    std::vector<Row>* chain_of(const Bytes& key) {
        for (std::vector<Row>& chain : chains_)
            if (same(chain.front().key, key)) return &chain;
        return nullptr;
    }

    void add_to_chain(const Row& row) {
        std::vector<Row>* chain = chain_of(row.key);
        if (chain == nullptr) {
            chains_.push_back({row});
            return;
        }
        // Scan from the head; stop at the first member whose mask the new mask strictly refines.
        size_t stop = chain->size();
        for (size_t i = 0; i < chain->size(); ++i) {
            if (strictly_refines(row.mask, (*chain)[i].mask)) {
                stop = i;
                break;
            }
        }
        size_t at;
        if (stop == 0) {
            at = 0;  // before the head: the new head
        } else if (stop < chain->size()) {
            at = stop + 1;  // AFTER the refined member (the BSD 4.4-Lite quirk)
            ++quirk_insertions_;
        } else {
            at = chain->size();  // none refined: the tail
        }
        chain->insert(chain->begin() + static_cast<std::ptrdiff_t>(at), row);
    }

    void remove_from_chain(const Bytes& key, uint64_t id) {
        for (size_t c = 0; c < chains_.size(); ++c) {
            if (!same(chains_[c].front().key, key)) continue;
            std::vector<Row>& chain = chains_[c];
            for (size_t i = 0; i < chain.size(); ++i) {
                if (chain[i].id == id) {
                    chain.erase(chain.begin() + static_cast<std::ptrdiff_t>(i));
                    break;
                }
            }
            if (chain.empty()) chains_.erase(chains_.begin() + static_cast<std::ptrdiff_t>(c));
            return;
        }
    }

    // -- the mask list

    void add_mask(const Bytes& mask) {
        for (MaskUse& mu : masks_) {
            if (same(mu.mask, mask)) {
                ++mu.refs;
                return;
            }
        }
        size_t at = 0;
        while (at < masks_.size() && !strictly_refines(mask, masks_[at].mask)) ++at;
        masks_.insert(masks_.begin() + static_cast<std::ptrdiff_t>(at), MaskUse{mask, 1});
    }

    void release_mask(const Bytes& mask) {
        for (size_t i = 0; i < masks_.size(); ++i) {
            if (!same(masks_[i].mask, mask)) continue;
            if (--masks_[i].refs == 0) masks_.erase(masks_.begin() + static_cast<std::ptrdiff_t>(i));
            return;
        }
    }

    std::vector<Row> rows_;                 // the table
    std::vector<std::vector<Row>> chains_;  // one per distinct masked key, in chain order
    std::vector<MaskUse> masks_;            // the mask list, in lookup order
    uint64_t next_id_ = 0;
    size_t quirk_insertions_ = 0;
};

}  // namespace radij_reference
