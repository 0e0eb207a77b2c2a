// Klips::xmit: a packet the host routed into an ipsecN device (spec/klips.md §6.3, §6.4, §7.3;
// KLIPS's ipsec_tunnel_start_xmit → ipsec_xmit_encap_bundle).
#include <algorithm>
#include <cerrno>
#include <mutex>
#include <shared_mutex>

#include "icmp_error.h"
#include "ip_packet.h"
#include "klips.h"
#include "packet_selector.h"
#include "pfkey_notify.h"

namespace kmod_sim {

namespace {

constexpr uint16_t kIkePort = 500;
// A packet leaving one tunnel may match an eroute into another (nested tunnels); KLIPS
// followed such eroutes while their destinations changed. Bounded here against loops.
constexpr int kMaxNesting = 4;
constexpr uint64_t kMaxSeq32 = 0xffffffffu;

PacketResult dropped(DropReason reason) {
    PacketResult r;
    r.verdict = PacketVerdict::dropped;
    r.reason = reason;
    return r;
}

bool is_magic(const Said& said) { return said.proto == kSaInt; }

}  // namespace

// One SA's transform on the way out: `in` becomes the other buffer (tun: a new outer header;
// comp, esp: inserted after the IP header; ah: inserted and the header covered).
DropReason Klips::apply_outbound(SecurityAssociation& sa, std::span<const uint8_t> in, PacketWork& work,
                                 std::vector<Said>* expired) {
    SaTransform* t = sa.transform.get();
    if (!t) return DropReason::sa_not_mature;  // LARVAL: no keys yet
    auto h = parse_ip_header(in);
    if (!h) return DropReason::malformed;
    in = in.first(h->total_size);
    const std::span<const uint8_t> payload = in.subspan(h->header_size);
    std::vector<uint8_t>& out = work.buffers[work.current ^ 1];

    // What this SA makes of the packet is known before the transform runs (take_outbound).
    // IPComp's size is known only once deflated.
    size_t out_size = 0;
    const crypto::Esp* esp = t->esp ? &*t->esp : nullptr;
    const crypto::Ah* ah = t->ah ? &*t->ah : nullptr;
    switch (sa.said.proto) {
    case kSaTun:
        out_size = in.size() + (sa.said.dst.is_v4() ? crypto::IpipTunnel::kIpv4HeaderSize : crypto::IpipTunnel::kIpv6HeaderSize);
        break;
    case kSaEsp:
        if (h->version == 6 && ipv6_header_before_ipsec(h->protocol)) return DropReason::unsupported;
        out_size = h->header_size + esp->sealed_size(payload.size());
        break;
    case kSaAh:
        out_size = in.size() + ah->ah_size(h->version == 6);
        break;
    case kSaComp:
        if (h->version == 6 && ipv6_header_before_ipsec(h->protocol)) return DropReason::unsupported;
        break;
    default:
        return DropReason::no_sa;
    }
    if (out_size > 0xffff) return DropReason::too_big;

    uint64_t seq = 0;
    crypto::CompResult compressed = crypto::CompResult::skipped_protocol;
    if (sa.said.proto == kSaComp) {
        std::lock_guard lock(t->mutex);
        if (DropReason why = admit_locked(sa, work.now, expired); why != DropReason::none) return why;
        // RFC 3173 §2: compression happens before fragmentation, never after. One deflate
        // stream per SA: it runs under the lock.
        if (!h->fragment) {
            compressed = t->ipcomp->compress(payload, h->protocol, static_cast<uint16_t>(sa.said.spi), work.scratch);
            sa.comp_bytes_in += payload.size();
            sa.comp_bytes_out += compressed == crypto::CompResult::compressed ? work.scratch.size() : payload.size();
        }
        out_size = compressed == crypto::CompResult::compressed ? h->header_size + work.scratch.size() : in.size();
        count_use_locked(sa, out_size, work.now);
    } else if (DropReason why = take_outbound(sa, out_size, esp || ah ? &seq : nullptr, work, expired);
               why != DropReason::none) {
        return why;
    }

    switch (sa.said.proto) {
    case kSaTun: {
        const crypto::IpipStatus status = t->ipip->encapsulate(in, sa.src.bytes(), sa.said.dst.bytes(), out);
        if (status == crypto::IpipStatus::too_big) return DropReason::too_big;
        if (status != crypto::IpipStatus::ok) return DropReason::malformed;
        break;
    }
    case kSaComp:
        if (compressed != crypto::CompResult::compressed) {
            out.assign(in.begin(), in.end());  // sent without an IPComp header (RFC 3173 §2.2)
            break;
        }
        out.assign(in.begin(), in.begin() + h->header_size);
        out.insert(out.end(), work.scratch.begin(), work.scratch.end());
        finish_ip_header(out, h->header_size, kProtoComp);
        break;
    case kSaEsp:
        out.assign(in.begin(), in.begin() + h->header_size);
        if (!esp->seal(sa.said.spi, seq, payload, h->protocol, out)) return DropReason::seq_exhausted;
        finish_ip_header(out, h->header_size, kProtoEsp);
        break;
    case kSaAh:
        switch (ah->seal(sa.said.spi, seq, in, out)) {
        case crypto::AhStatus::ok: break;
        case crypto::AhStatus::too_long: return DropReason::too_big;
        case crypto::AhStatus::unsupported_header:
        case crypto::AhStatus::fragment: return DropReason::unsupported;
        case crypto::AhStatus::bad_sequence: return DropReason::seq_exhausted;
        default: return DropReason::malformed;
        }
        break;
    }
    work.current ^= 1;
    return DropReason::none;
}

// One hold of an SA's lock for an outbound packet: admitted, numbered (ESP and AH) and
// counted at the size its transform will make (spec/klips.md §4.1: outbound bytes are counted
// after the transform).
DropReason Klips::take_outbound(SecurityAssociation& sa, size_t out_size, uint64_t* seq, PacketWork& work,
                                std::vector<Said>* expired) {
    SaTransform& t = *sa.transform;
    std::lock_guard lock(t.mutex);
    if (DropReason why = admit_locked(sa, work.now, expired); why != DropReason::none) return why;
    if (seq) {
        // KLIPS kept the counter in the replay window's "last" field: ipsec_spi's seq=.
        const bool esn = t.esp ? t.esp->esn() : t.ah->esn();
        if (!esn && t.next_seq > kMaxSeq32) {  // §7.3: a wrapping counter is a hard expiry
            expire_hard_locked(sa, expired);
            return DropReason::seq_exhausted;
        }
        *seq = t.next_seq++;
        sa.replay_last_seq = static_cast<uint32_t>(*seq);
    }
    count_use_locked(sa, out_size, work.now);
    return DropReason::none;
}

// The commonest group, a tunnel with ESP just outside it, in one step: the outer header is
// written and the inner packet is sealed into the ESP payload where it lies, copied once
// instead of twice. The result is byte for byte what the two steps make.
DropReason Klips::apply_tunnel_esp(SecurityAssociation& tun, SecurityAssociation& esp_sa,
                                   std::span<const uint8_t> in, PacketWork& work, std::vector<Said>* expired) {
    if (!tun.transform || !esp_sa.transform) return DropReason::sa_not_mature;  // LARVAL: no keys yet
    auto h = parse_ip_header(in);
    if (!h) return DropReason::malformed;
    in = in.first(h->total_size);
    const crypto::Esp& esp = *esp_sa.transform->esp;
    const size_t outer_header = tun.said.dst.is_v4() ? crypto::IpipTunnel::kIpv4HeaderSize
                                                     : crypto::IpipTunnel::kIpv6HeaderSize;
    const size_t tun_size = outer_header + in.size();
    const size_t esp_size = outer_header + esp.sealed_size(in.size());
    if (tun_size > 0xffff || esp_size > 0xffff) return DropReason::too_big;
    uint64_t seq = 0;
    if (DropReason why = take_outbound(tun, tun_size, nullptr, work, expired); why != DropReason::none) return why;
    if (DropReason why = take_outbound(esp_sa, esp_size, &seq, work, expired); why != DropReason::none) return why;

    std::vector<uint8_t>& out = work.buffers[work.current ^ 1];
    out.clear();
    if (tun.transform->ipip->write_header(in, tun.src.bytes(), tun.said.dst.bytes(), out) != crypto::IpipStatus::ok) {
        return DropReason::malformed;
    }
    const uint8_t inner_protocol = h->version == 4 ? kProtoIpip : kProtoIpv6;
    if (!esp.seal(esp_sa.said.spi, seq, in, inner_protocol, out)) return DropReason::seq_exhausted;
    finish_ip_header(out, outer_header, kProtoEsp);
    work.current ^= 1;
    return DropReason::none;
}

// The eroute's SA and the ones grouped outside it, inner to outer (§7.3). The first reads
// `packet` where it lies; each writes the other of the two buffers.
DropReason Klips::apply_bundle(const Said& said, std::span<const uint8_t> packet, PacketWork& work,
                               uint8_t* transforms, std::vector<Said>* expired) {
    SecurityAssociation* sa = sadb_.find(said);
    if (!sa) return DropReason::no_sa;
    for (; sa; sa = sa->outer) {
        if (sa->said.proto == kSaTun && sa->outer && sa->outer->said.proto == kSaEsp) {
            if (DropReason why = apply_tunnel_esp(*sa, *sa->outer, packet, work, expired); why != DropReason::none) {
                return why;
            }
            sa = sa->outer;
            *transforms += 2;
        } else {
            if (DropReason why = apply_outbound(*sa, packet, work, expired); why != DropReason::none) return why;
            ++*transforms;
        }
        packet = work.buffers[work.current];
    }
    return DropReason::none;
}

PacketResult Klips::xmit(std::span<const uint8_t> packet, PacketWork& work) {
    work.now = now();
    auto header = parse_ip_header(packet);
    auto selector = header ? packet_selector(packet.first(header->total_size)) : std::nullopt;
    if (!selector) return dropped(DropReason::malformed);
    packet = packet.first(header->total_size);

    std::vector<Said> expired;
    PacketResult result;
    {
        std::shared_lock lock(mutex_);
        EroutRef ref = work.cache.match(eroutes_, *selector);

        // IKE (UDP from port 500) leaves in the clear, uncounted, unless an eroute sends it
        // into a tunnel towards another gateway (§6.3).
        if (selector->proto == kProtoUdp && selector->sport == kIkePort) {
            const IpAddress* edst = ref ? &eroutes_.at(ref).said.dst : nullptr;
            if (!edst || *edst == selector->dst || edst->is_unspecified()) {
                return emit(packet, work, PacketVerdict::passed, PacketPort::wire);
            }
        }
        if (!ref) return dropped(DropReason::no_eroute);  // KLIPS's default: %drop
        Eroute& e = eroutes_.at(ref);
        count_eroute(e, work.now);
        const Said said = e.said;

        if (is_magic(said)) {
            switch (said.spi) {
            case kSpiPass: {
                PacketResult r = emit(packet, work, PacketVerdict::passed, PacketPort::wire);
                r.said = said;
                r.has_said = true;
                return r;
            }
            case kSpiReject: {
                PacketResult r;
                r.verdict = PacketVerdict::rejected;
                r.said = said;
                r.has_said = true;
                std::vector<uint8_t>& out = work.buffers[work.current];
                if (icmp_reject(packet, *header, out)) {
                    r.port = PacketPort::host;
                    r.packet = out;
                }
                return r;
            }
            case kSpiHold:
            case kSpiTrap:
            case kSpiTrapSubnet:
                break;  // they change the table: below, under the write lock
            default:     // %drop (%passthrough is tun SPI 0: looked up as an SA, it fails, §6.4)
                PacketResult r = dropped(DropReason::drop_eroute);
                r.said = said;
                r.has_said = true;
                return r;
            }
        } else {
            result.said = said;
            result.has_said = true;
            DropReason why = apply_bundle(said, packet, work, &result.transforms, &expired);
            // A packet leaving a tunnel is routed again: an eroute for its new outer header
            // counts it, and sends it into a further tunnel while the gateway changes (§6.3).
            // KLIPS looked again only when the addresses changed, so transport mode counts once.
            IpAddress last_edst = said.dst;
            PacketSelector last = *selector;
            for (int depth = 0; why == DropReason::none && depth < kMaxNesting; ++depth) {
                auto outer = packet_selector(work.buffers[work.current]);
                if (!outer || (outer->src == last.src && outer->dst == last.dst)) break;
                last = *outer;
                EroutRef next = work.cache.match(eroutes_, *outer);
                if (!next) break;
                Eroute& n = eroutes_.at(next);
                count_eroute(n, work.now);
                if (is_magic(n.said) || n.said.dst == last_edst || n.said.dst.is_unspecified()) break;
                last_edst = n.said.dst;
                why = apply_bundle(n.said, work.buffers[work.current], work, &result.transforms, &expired);
            }
            if (why == DropReason::none) {
                result.verdict = PacketVerdict::sent;
                result.port = PacketPort::wire;
                result.packet = work.buffers[work.current];
            } else {
                result.verdict = PacketVerdict::dropped;
                result.reason = why;
            }
        }
    }
    if (!expired.empty()) delete_expired(expired);
    if (result.has_said && !is_magic(result.said)) return result;
    return hold_or_trap(packet, *selector);
}

// %hold, %trap and %trapsubnet (§6.4): they keep the packet and may change the table, so they
// run under the write lock, on the eroute the packet matches now.
PacketResult Klips::hold_or_trap(std::span<const uint8_t> packet, const PacketSelector& selector) {
    std::unique_lock lock(mutex_);
    EroutRef ref = eroutes_.match(selector);
    PacketResult r;
    if (!ref) return dropped(DropReason::no_eroute);
    Eroute& e = eroutes_.at(ref);
    r.said = e.said;
    r.has_said = true;
    if (!is_magic(e.said)) return dropped(DropReason::drop_eroute);  // changed meanwhile; rare

    if (e.said.spi == kSpiHold) {
        if (!e.held) e.held = std::make_unique<HeldPackets>();
        e.held->last.assign(packet.begin(), packet.end());  // the previous last one is freed
        r.verdict = PacketVerdict::held;
        return r;
    }
    if (e.said.spi != kSpiTrap && e.said.spi != kSpiTrapSubnet) {
        r.verdict = PacketVerdict::dropped;
        r.reason = DropReason::drop_eroute;
        return r;
    }

    r.verdict = PacketVerdict::trapped;
    std::vector<uint8_t> acquire = acquire_message(next_pfkey_seq(), selector, e);
    const bool sent = config_.events && !acquire.empty() && config_.events->acquire(std::move(acquire));
    count_trap(sent);
    if (!sent) return r;  // nobody to negotiate: nothing installed, the packet dropped
    if (e.said.spi == kSpiTrapSubnet) {
        e.said = magic_said(kSpiHold);  // the eroute itself now holds; its count goes on
        e.held = std::make_unique<HeldPackets>();
        e.held->first.assign(packet.begin(), packet.end());
        return r;
    }
    // %trap: a host-to-host %hold for this packet's flow, owned by the trap's adder.
    EroutSelector hold;
    hold.src = selector.src;
    hold.dst = selector.dst;
    hold.src_mask = mask_from_bits(selector.src.family(), selector.src.is_v4() ? 32 : 128);
    hold.dst_mask = mask_from_bits(selector.dst.family(), selector.dst.is_v4() ? 32 : 128);
    if (e.proto != 0) {
        hold.proto = selector.proto;
        if (e.sport != 0) hold.sport = selector.sport, hold.sport_mask = 0xffff;
        if (e.dport != 0) hold.dport = selector.dport, hold.dport_mask = 0xffff;
    }
    Eroute held;
    held.src = hold.src;
    held.dst = hold.dst;
    held.sport = hold.sport;
    held.dport = hold.dport;
    held.proto = hold.proto;
    held.said = magic_said(kSpiHold);
    held.pid = e.pid;
    held.idents = e.idents;
    held.held = std::make_unique<HeldPackets>();
    held.held->first.assign(packet.begin(), packet.end());
    eroutes_.remove(hold);  // replacing any identical one
    eroutes_.add(hold, std::move(held));
    return r;
}

}  // namespace kmod_sim
