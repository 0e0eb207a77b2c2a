#include "eroute_table.h"

#include <cerrno>

namespace kmod_sim {

namespace {

AddressFamily selector_family(const EroutSelector& s) {
    const AddressFamily af = s.src.family();
    if (af == AddressFamily::unspecified || s.dst.family() != af || s.src_mask.family() != af ||
        s.dst_mask.family() != af)
        return AddressFamily::unspecified;
    return af;
}

}  // namespace

template <size_t W>
int EroutTable::add_to(Family<W>& family, const EroutSelector& s, Eroute&& eroute, uint32_t* entry) {
    auto change = family.table.insert(selector_key<W>(s), selector_mask<W>(s));
    if (change.error) return change.error;
    if (change.entry >= family.eroutes.size()) family.eroutes.resize(change.entry + 1);
    family.eroutes[change.entry] = std::move(eroute);
    family.order.reset();  // stale now (the writer has the table to itself)
    *entry = change.entry;
    return 0;
}

template <size_t W>
int EroutTable::remove_from(Family<W>& family, const EroutSelector& s,
                            std::unique_ptr<HeldPackets>* held) {
    auto change = family.table.remove(selector_key<W>(s), selector_mask<W>(s));
    if (change.error) return change.error;
    Eroute& gone = family.eroutes[change.entry];
    if (held) *held = std::move(gone.held);
    gone = Eroute{};
    family.order.reset();
    return 0;
}

int EroutTable::add(const EroutSelector& selector, Eroute eroute, EroutRef* added) {
    const AddressFamily af = selector_family(selector);
    uint32_t entry = UINT32_MAX;
    int error = EINVAL;
    if (af == AddressFamily::inet) error = add_to(v4_, selector, std::move(eroute), &entry);
    if (af == AddressFamily::inet6) error = add_to(v6_, selector, std::move(eroute), &entry);
    if (error == 0 && added) *added = EroutRef{af, entry};
    return error;
}

int EroutTable::remove(const EroutSelector& selector, std::unique_ptr<HeldPackets>* held) {
    switch (selector_family(selector)) {
    case AddressFamily::inet: return remove_from(v4_, selector, held);
    case AddressFamily::inet6: return remove_from(v6_, selector, held);
    default: return EINVAL;
    }
}

void EroutTable::clear() {
    v4_.table.clear();
    v4_.eroutes.clear();
    v4_.order.reset();
    v6_.table.clear();
    v6_.eroutes.clear();
    v6_.order.reset();
}

EroutRef EroutTable::find(const EroutSelector& s) const {
    uint32_t entry = RadijTable<2>::kNone;
    const AddressFamily af = selector_family(s);
    if (af == AddressFamily::inet) entry = v4_.table.find(selector_key<2>(s), selector_mask<2>(s));
    if (af == AddressFamily::inet6) entry = v6_.table.find(selector_key<5>(s), selector_mask<5>(s));
    return entry == RadijTable<2>::kNone ? EroutRef{} : EroutRef{af, entry};
}

EroutRef EroutTable::match(const PacketSelector& p) const {
    if (p.src.is_v4() && p.dst.is_v4()) return match(pack_radij_key<2>(p.src, p.dst, p.proto, p.sport, p.dport));
    if (p.src.is_v6() && p.dst.is_v6()) return match(pack_radij_key<5>(p.src, p.dst, p.proto, p.sport, p.dport));
    return {};
}

EroutRef EroutTable::match(const RadijKey4& packet) const {
    const uint32_t entry = v4_.table.match(packet);
    return entry == RadijTable<2>::kNone ? EroutRef{} : EroutRef{AddressFamily::inet, entry};
}

EroutRef EroutTable::match(const RadijKey6& packet) const {
    const uint32_t entry = v6_.table.match(packet);
    return entry == RadijTable<5>::kNone ? EroutRef{} : EroutRef{AddressFamily::inet6, entry};
}

Eroute& EroutTable::at(EroutRef ref) {
    return ref.family == AddressFamily::inet ? v4_.eroutes[ref.entry] : v6_.eroutes[ref.entry];
}

const Eroute& EroutTable::at(EroutRef ref) const {
    return ref.family == AddressFamily::inet ? v4_.eroutes[ref.entry] : v6_.eroutes[ref.entry];
}

}  // namespace kmod_sim
