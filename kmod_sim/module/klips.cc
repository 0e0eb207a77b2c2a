#include "klips.h"

#include <cerrno>
#include <mutex>
#include <shared_mutex>

namespace kmod_sim {

namespace {

Eroute make_eroute(const EroutRequest& r) {
    Eroute e;
    e.src = r.selector.src;
    e.dst = r.selector.dst;
    e.sport = r.selector.sport;
    e.dport = r.selector.dport;
    e.proto = r.selector.proto;
    e.said = r.said;
    e.pid = r.pid;
    if (r.idents) e.idents = std::make_shared<const EroutIdentities>(*r.idents);
    return e;
}

}  // namespace

Klips::Klips(KlipsConfig config) : config_(std::move(config)) {}

// ---- eroutes

int Klips::add_eroute(const EroutRequest& request) {
    std::unique_lock lock(mutex_);
    return eroutes_.add(request.selector, make_eroute(request));
}

int Klips::replace_eroute(const EroutRequest& request, std::unique_ptr<HeldPackets>* reinject) {
    std::unique_lock lock(mutex_);
    if (int error = eroutes_.remove(request.selector, reinject)) return error;
    return eroutes_.add(request.selector, make_eroute(request));
}

int Klips::delete_eroute(const EroutSelector& selector) {
    std::unique_lock lock(mutex_);
    return eroutes_.remove(selector);
}

void Klips::clear_eroutes() {
    std::unique_lock lock(mutex_);
    eroutes_.clear();
}

int Klips::add_inbound_policy(const Said& said, const Subnet& src, const Subnet& dst) {
    std::unique_lock lock(mutex_);
    SecurityAssociation* sa = sadb_.find(said);
    while (sa && sa->said.proto != kSaTun) sa = sa->inner;
    if (!sa) return ENOENT;
    sa->policy = InboundPolicy{src, dst};
    sa->flags |= pfkey::kSaFlagXInFlow;
    return 0;
}

// ---- the data plane's shared pieces

PacketResult Klips::emit(std::span<const uint8_t> packet, PacketWork& work, PacketVerdict verdict, PacketPort port) {
    std::vector<uint8_t>& out = work.buffers[work.current];
    out.assign(packet.begin(), packet.end());
    PacketResult r;
    r.verdict = verdict;
    r.port = port;
    r.packet = out;
    return r;
}

void Klips::count_eroute(Eroute& e, uint64_t now) {
    std::atomic_ref<uint32_t>(e.count).fetch_add(1, std::memory_order_relaxed);
    std::atomic_ref<uint64_t>(e.lasttime).store(now, std::memory_order_relaxed);
}

void Klips::delete_expired(const std::vector<Said>& expired) {
    std::unique_lock lock(mutex_);
    for (const Said& said : expired) {
        const SecurityAssociation* sa = sadb_.find(said);
        // Only the SA that expired: a new one may have been added under its SAID meanwhile.
        if (sa && sa->transform && sa->transform->hard_expired) sadb_.remove(said);
    }
}

std::optional<Said> Klips::route_packet(const PacketSelector& packet, EroutCache* cache) {
    std::shared_lock lock(mutex_);
    EroutRef ref = cache ? cache->match(eroutes_, packet) : eroutes_.match(packet);
    if (!ref) return std::nullopt;
    Eroute& e = eroutes_.at(ref);
    count_eroute(e, now());
    return e.said;
}

// ---- SAs

int Klips::add_sa(SecurityAssociation sa) {
    sa.inbound = config_.is_local_address && config_.is_local_address(sa.said.dst);
    sa.life.addtime.count = now();
    std::unique_lock lock(mutex_);
    return sadb_.add(std::move(sa));
}

namespace {

// KLIPS's lifetime update rule (spec/klips.md §7.7): 0 means "not set", a smaller new limit
// replaces a larger one, and soft never exceeds hard.
void merge_limits(Lifetime& into, const Lifetime& from) {
    auto merge = [](uint64_t& limit, uint64_t update) {
        if (update != 0 && (limit == 0 || update < limit)) limit = update;
    };
    merge(into.hard, from.hard);
    merge(into.soft, from.soft);
    if (into.hard != 0 && (into.soft == 0 || into.soft > into.hard)) into.soft = into.hard;
}

}  // namespace

int Klips::update_sa(const SecurityAssociation& update) {
    const bool inbound = config_.is_local_address && config_.is_local_address(update.said.dst);
    std::unique_lock lock(mutex_);
    SecurityAssociation* sa = sadb_.find(update.said);
    if (!sa) return ESRCH;
    if (sa->state == pfkey::kSaStateLarval) {
        SecurityAssociation* inner = sa->inner;
        SecurityAssociation* outer = sa->outer;
        const uint32_t ref = sa->ref;
        const uint64_t add_order = sa->add_order;
        const uint64_t addtime = sa->life.addtime.count;
        *sa = update;
        sa->inner = inner;
        sa->outer = outer;
        sa->ref = ref;
        sa->add_order = add_order;
        sa->life.addtime.count = addtime;
        sa->inbound = inbound;
        return 0;
    }
    if (update.auth_alg != sa->auth_alg || update.enc_alg != sa->enc_alg) return EINVAL;
    for (auto member : {&SaLifetimes::allocations, &SaLifetimes::bytes, &SaLifetimes::addtime,
                        &SaLifetimes::usetime, &SaLifetimes::packets}) {
        merge_limits(sa->life.*member, update.life.*member);
    }
    return 0;
}

int Klips::delete_sa(const Said& said) {
    std::unique_lock lock(mutex_);
    return sadb_.remove(said);
}

void Klips::flush_sas(uint8_t proto) {
    std::unique_lock lock(mutex_);
    sadb_.flush(proto);
}

int Klips::group_sas(const Said& inner, const Said& outer) {
    std::unique_lock lock(mutex_);
    return sadb_.group(inner, outer);
}

int Klips::ungroup_sa(const Said& said) {
    std::unique_lock lock(mutex_);
    return sadb_.ungroup(said);
}

std::optional<SecurityAssociation> Klips::find_sa(const Said& said) const {
    std::shared_lock lock(mutex_);
    const SecurityAssociation* sa = sadb_.find(said);
    if (!sa) return std::nullopt;
    return record_copy(*sa);
}

// ---- tncfg, debug, traps

int Klips::can_attach_device(std::string_view virtual_name) const {
    std::shared_lock lock(mutex_);
    return tncfg_.can_attach(virtual_name);
}

int Klips::attach_device(std::string_view virtual_name, std::string_view physical, uint32_t mtu,
                         uint32_t physical_mtu) {
    std::unique_lock lock(mutex_);
    return tncfg_.attach(virtual_name, physical, mtu, physical_mtu);
}

int Klips::detach_device(std::string_view virtual_name) {
    std::unique_lock lock(mutex_);
    return tncfg_.detach(virtual_name);
}

bool Klips::set_physical_mtu(std::string_view virtual_name, uint32_t physical_mtu) {
    std::unique_lock lock(mutex_);
    return tncfg_.set_physical_mtu(virtual_name, physical_mtu);
}

void Klips::clear_devices() {
    std::unique_lock lock(mutex_);
    tncfg_.clear();
}

void Klips::apply_debug(const KlipsDebug::Words& words) {
    std::unique_lock lock(mutex_);
    debug_.apply(words);
}

void Klips::count_trap(bool sent) {
    trap_count_.fetch_add(1, std::memory_order_relaxed);
    if (sent) trap_sendcount_.fetch_add(1, std::memory_order_relaxed);
}

// ---- snapshots

std::vector<EroutRow> Klips::eroute_rows() const {
    std::shared_lock lock(mutex_);
    std::vector<EroutRow> rows;
    rows.reserve(eroutes_.size());
    advise_huge_pages(rows.data(), rows.capacity() * sizeof(EroutRow));  // a fresh mmap when large
    eroutes_.walk([&](const EroutView& v) {
        const Eroute& e = v.eroute;
        // The rows a few steps on, fetched for writing: the stores then wait for no memory.
        const char* ahead = reinterpret_cast<const char*>(rows.data() + std::min(rows.size() + 16, rows.capacity() - 1));
        __builtin_prefetch(ahead, 1);
        __builtin_prefetch(ahead + sizeof(EroutRow) - 1, 1);
        rows.push_back(EroutRow{e.src, e.dst, v.src_mask, v.dst_mask, e.sport, e.dport, e.proto, e.said,
                                std::atomic_ref<const uint32_t>(e.count).load(std::memory_order_relaxed), e.idents});
    });
    return rows;
}

std::vector<SaRow> Klips::sa_rows() const {
    std::shared_lock lock(mutex_);
    std::vector<SaRow> rows;
    rows.reserve(sadb_.size());
    for (const SecurityAssociation* sa : sadb_.in_listing_order()) {
        rows.push_back(SaRow{record_copy(*sa)});
    }
    return rows;
}

namespace {

// Openswan 2.6's ips_next: grouping (inner, outer) linked inner→outer, but swapped the pair
// when the outer SA was inbound, so inbound chains run outer→inner (spec/klips.md §3.2).
const SecurityAssociation* openswan_next(const SecurityAssociation* sa) {
    if (sa->outer && !sa->outer->inbound) return sa->outer;
    if (sa->inner && sa->inbound) return sa->inner;
    return nullptr;
}

}  // namespace

std::vector<std::vector<Said>> Klips::spigrp_lines() const {
    std::shared_lock lock(mutex_);
    std::vector<std::vector<Said>> lines;
    for (const SecurityAssociation* sa : sadb_.in_listing_order()) {
        std::vector<Said> line;
        if (config_.profile == OutputProfile::openswan) {
            // One line for every SA, followed by its ips_next chain.
            for (const SecurityAssociation* s = sa; s; s = openswan_next(s)) line.push_back(s->said);
        } else {
            // FreeS/WAN: one line per group, from its innermost SA outward.
            if (sa->inner) continue;
            for (const SecurityAssociation* s = sa; s; s = s->outer) line.push_back(s->said);
        }
        lines.push_back(std::move(line));
    }
    return lines;
}

std::vector<IpsecDevice> Klips::devices() const {
    std::shared_lock lock(mutex_);
    return tncfg_.devices();
}

KlipsDebug::Words Klips::debug_words() const {
    std::shared_lock lock(mutex_);
    return debug_.words();
}

size_t Klips::eroute_count() const {
    std::shared_lock lock(mutex_);
    return eroutes_.size();
}

size_t Klips::sa_count() const {
    std::shared_lock lock(mutex_);
    return sadb_.size();
}

}  // namespace kmod_sim
