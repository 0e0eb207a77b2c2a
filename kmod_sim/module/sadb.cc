#include "sadb.h"

#include <algorithm>
#include <cerrno>

namespace kmod_sim {

namespace {

// A network-order word as a little-endian machine read it.
uint32_t wire_word_as_host(std::span<const uint8_t> b) {
    return uint32_t{b[0]} | uint32_t{b[1]} << 8 | uint32_t{b[2]} << 16 | uint32_t{b[3]} << 24;
}

}  // namespace

size_t SaidHash::operator()(const Said& said) const {
    size_t h = said.spi * 0x9e3779b97f4a7c15ull ^ said.proto;
    for (uint8_t b : said.dst.bytes()) h = (h ^ b) * 0x100000001b3ull;
    return h;
}

uint32_t sadb_bucket(const Said& said) {
    const uint8_t spi_wire[4] = {static_cast<uint8_t>(said.spi >> 24), static_cast<uint8_t>(said.spi >> 16),
                                 static_cast<uint8_t>(said.spi >> 8), static_cast<uint8_t>(said.spi)};
    uint32_t sum = wire_word_as_host(spi_wire) + said.proto;
    if (said.dst.is_v4()) sum += wire_word_as_host(said.dst.bytes());
    return sum % Sadb::kBuckets;
}

int Sadb::add(SecurityAssociation sa) {
    if (by_said_.contains(sa.said)) return EEXIST;
    sa.inner = sa.outer = nullptr;
    sa.ref = next_ref_++;
    sa.add_order = next_add_order_++;
    auto owned = std::make_unique<SecurityAssociation>(std::move(sa));
    const Said said = owned->said;
    by_said_.emplace(said, std::move(owned));
    return 0;
}

void Sadb::erase_group(SecurityAssociation* sa) {
    // KLIPS's ipsec_sa_delchain: to the outermost, then delete inward.
    while (sa->outer) sa = sa->outer;
    while (sa) {
        SecurityAssociation* inner = sa->inner;
        by_said_.erase(sa->said);
        sa = inner;
    }
}

int Sadb::remove(const Said& said) {
    SecurityAssociation* sa = find(said);
    if (!sa) return ESRCH;
    erase_group(sa);
    return 0;
}

void Sadb::flush(uint8_t proto) {
    if (proto == 0) {
        by_said_.clear();
        return;
    }
    std::vector<Said> doomed;
    for (const auto& [said, sa] : by_said_)
        if (said.proto == proto) doomed.push_back(said);
    for (const Said& said : doomed)
        if (SecurityAssociation* sa = find(said)) erase_group(sa);
}

int Sadb::group(const Said& inner_said, const Said& outer_said) {
    SecurityAssociation* inner = find(inner_said);
    SecurityAssociation* outer = find(outer_said);
    if (!inner || !outer) return ENOENT;
    if (inner->outer || outer->inner || inner == outer) return EEXIST;
    for (const SecurityAssociation* sa = outer; sa; sa = sa->outer)
        if (sa == inner) return EEXIST;  // would close a loop
    inner->outer = outer;
    outer->inner = inner;
    return 0;
}

int Sadb::ungroup(const Said& said) {
    SecurityAssociation* sa = find(said);
    if (!sa) return ENOENT;
    while (sa->inner) sa = sa->inner;
    while (sa) {
        SecurityAssociation* outer = sa->outer;
        sa->inner = sa->outer = nullptr;
        sa = outer;
    }
    return 0;
}

SecurityAssociation* Sadb::find(const Said& said) {
    auto it = by_said_.find(said);
    return it == by_said_.end() ? nullptr : it->second.get();
}

const SecurityAssociation* Sadb::find(const Said& said) const {
    auto it = by_said_.find(said);
    return it == by_said_.end() ? nullptr : it->second.get();
}

std::vector<const SecurityAssociation*> Sadb::in_listing_order() const {
    struct Ranked {
        uint32_t bucket;
        uint64_t add_order;
        const SecurityAssociation* sa;
    };
    std::vector<Ranked> ranked;
    ranked.reserve(by_said_.size());
    for (const auto& [said, sa] : by_said_) ranked.push_back({sadb_bucket(said), sa->add_order, sa.get()});
    std::sort(ranked.begin(), ranked.end(), [](const Ranked& a, const Ranked& b) {
        return a.bucket != b.bucket ? a.bucket < b.bucket : a.add_order > b.add_order;
    });
    std::vector<const SecurityAssociation*> out;
    out.reserve(ranked.size());
    for (const Ranked& r : ranked) out.push_back(r.sa);
    return out;
}

}  // namespace kmod_sim
