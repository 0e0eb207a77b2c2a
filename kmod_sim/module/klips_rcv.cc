// Klips::rcv: a packet from the network (spec/klips.md §7.4, §7.6; KLIPS's ipsec_rcv): each
// ESP, AH or IPComp header is checked and removed by the SA it names, the group's order is
// enforced, the tunnel is stripped, and the inner packet must fit the tunnel's policy.
#include <mutex>
#include <shared_mutex>

#include "crypto/wire.h"
#include "ip_packet.h"
#include "klips.h"

namespace kmod_sim {

namespace {

bool is_ipsec(uint8_t protocol) {
    return protocol == kProtoEsp || protocol == kProtoAh || protocol == kProtoComp;
}

uint8_t said_proto_of(uint8_t protocol) {
    return protocol == kProtoEsp ? kSaEsp : protocol == kProtoAh ? kSaAh : kSaComp;
}

// The source an SA names, if it names one: the inbound policy check compares it (§7.4).
bool from_wrong_source(const SecurityAssociation& sa, const IpAddress& src) {
    return sa.src.has_family() && !sa.src.is_unspecified() && sa.src != src;
}

bool inside_policy(const InboundPolicy& policy, const std::optional<IpHeader>& inner) {
    if (!inner || inner->src().family() != policy.src.address.family() ||
        inner->dst().family() != policy.dst.address.family()) {
        return false;
    }
    return policy.src.contains(inner->src()) && policy.dst.contains(inner->dst());
}

}  // namespace

// One ESP, AH or IPComp header, removed by `sa`: `in` becomes the other buffer. ESP and AH:
// replay check before any crypto, window update only after the ICV passed (§7.6), the SA's
// counters saying what failed; the SA's lock is held before and after the crypto, not across.
DropReason Klips::apply_inbound(SecurityAssociation& sa, const IpHeader& h, std::span<const uint8_t> in,
                                PacketWork& work, std::vector<Said>* expired) {
    SaTransform* t = sa.transform.get();
    if (!t) return DropReason::sa_not_mature;  // LARVAL: no keys yet
    in = in.first(h.total_size);
    const std::span<const uint8_t> payload = in.subspan(h.header_size);
    std::vector<uint8_t>& out = work.buffers[work.current ^ 1];

    if (sa.said.proto == kSaComp) {
        crypto::Decompressed result;
        {
            std::lock_guard lock(t->mutex);  // one inflate stream per SA
            if (DropReason why = admit_locked(sa, work.now, expired); why != DropReason::none) return why;
            result = t->ipcomp->decompress(payload, static_cast<uint16_t>(sa.said.spi), crypto::CompAlg::deflate,
                                           work.scratch);
            if (result) count_use_locked(sa, in.size(), work.now);
        }
        if (!result) return DropReason::decompress_failed;
        out.assign(in.begin(), in.begin() + h.header_size);
        out.insert(out.end(), work.scratch.begin(), work.scratch.end());
        finish_ip_header(out, h.header_size, result.next_header);
        work.current ^= 1;
        return DropReason::none;
    }

    const crypto::Esp* esp = t->esp ? &*t->esp : nullptr;
    const crypto::Ah* ah = t->ah ? &*t->ah : nullptr;
    std::optional<uint32_t> numbered;
    if (esp) {
        if (auto header = crypto::Esp::header(payload)) numbered = header->seq_low;
    } else if (auto header = crypto::Ah::header(in)) {
        numbered = header->seq_low;
    }
    if (!numbered) return DropReason::bad_size;
    const uint32_t seq_low = *numbered;
    uint32_t high = 0;
    {
        std::lock_guard lock(t->mutex);
        if (DropReason why = admit_locked(sa, work.now, expired); why != DropReason::none) return why;
        if ((esp ? esp->esn() : ah->esn())) high = crypto::esn_guess_high(t->replay, seq_low);
        if (t->replay.enabled() && t->replay.check(uint64_t{high} << 32 | seq_low) != crypto::ReplayCheck::ok) {
            ++sa.replay_errors;
            return DropReason::replay;
        }
    }

    DropReason why = DropReason::none;
    uint8_t next_header = 0;
    if (esp) {
        out.assign(in.begin(), in.begin() + h.header_size);
        const crypto::EspOpened opened = esp->open_append(payload, high, out);
        next_header = opened.next_header;
        switch (opened.status) {
        case crypto::EspStatus::ok: break;
        case crypto::EspStatus::too_short: why = DropReason::bad_size; break;
        case crypto::EspStatus::icv_mismatch: why = DropReason::auth_failed; break;
        case crypto::EspStatus::bad_pad_length:
        case crypto::EspStatus::bad_padding: why = DropReason::bad_padding; break;
        case crypto::EspStatus::dummy_packet: why = DropReason::dummy_packet; break;
        }
    } else {
        switch (ah->open(in, high, out).status) {
        case crypto::AhStatus::ok: break;
        case crypto::AhStatus::icv_mismatch: why = DropReason::auth_failed; break;
        case crypto::AhStatus::too_short:
        case crypto::AhStatus::bad_payload_length: why = DropReason::bad_size; break;
        case crypto::AhStatus::fragment: why = DropReason::fragment; break;
        case crypto::AhStatus::unsupported_header: why = DropReason::unsupported; break;
        default: why = DropReason::malformed; break;
        }
    }

    {
        std::lock_guard lock(t->mutex);
        switch (why) {
        case DropReason::none:
        case DropReason::dummy_packet: break;  // authentic: its number is used up
        case DropReason::auth_failed: ++sa.auth_errors; return why;
        case DropReason::bad_size: ++sa.encr_size_errors; return why;
        case DropReason::bad_padding: ++sa.encr_pad_errors; return why;
        default: return why;
        }
        if (t->replay.enabled()) {
            if (t->replay.accept(uint64_t{high} << 32 | seq_low) != crypto::ReplayCheck::ok) {
                ++sa.replay_errors;  // the same number raced in on another thread
                return DropReason::replay;
            }
            sa.replay_last_seq = static_cast<uint32_t>(t->replay.last_seq());
            sa.replay_bitmap = t->replay.bitmap();
            sa.max_seq_diff = static_cast<uint32_t>(t->replay.max_seq_diff());
        }
        count_use_locked(sa, in.size(), work.now);
    }
    if (why != DropReason::none) return why;
    if (esp) finish_ip_header(out, h.header_size, next_header);
    work.current ^= 1;
    return DropReason::none;
}

// The IPIP header the group ends in, taken off where the packet lies (§7.4).
DropReason Klips::strip_tunnel(SecurityAssociation& tun, PacketWork& work, std::span<uint8_t>* inner,
                               std::vector<Said>* expired) {
    SaTransform* t = tun.transform.get();
    if (!t) return DropReason::sa_not_mature;
    std::vector<uint8_t>& packet = work.buffers[work.current];
    const size_t size = parse_ip_header(packet)->total_size;
    switch (crypto::IpipTunnel::decapsulate_in_place(std::span<uint8_t>(packet.data(), size), inner)) {
    case crypto::IpipStatus::ok: break;
    case crypto::IpipStatus::ecn_drop: return DropReason::ecn;
    case crypto::IpipStatus::fragment: return DropReason::fragment;
    default: return DropReason::malformed;
    }
    std::lock_guard lock(t->mutex);
    if (DropReason why = admit_locked(tun, work.now, expired); why != DropReason::none) return why;
    count_use_locked(tun, size, work.now);
    return DropReason::none;
}

PacketResult Klips::rcv(std::span<const uint8_t> packet, PacketWork& work) {
    work.now = now();
    PacketResult r;
    auto first = parse_ip_header(packet);
    if (!first) {
        r.reason = DropReason::malformed;
        return r;
    }
    packet = packet.first(first->total_size);
    // KLIPS registered only for ESP, AH and IPComp: anything else went to the host's stack.
    if (!is_ipsec(first->protocol)) return emit(packet, work, PacketVerdict::passed, PacketPort::host);

    std::vector<Said> expired;
    auto fail = [&](DropReason why) {
        r.verdict = PacketVerdict::dropped;
        r.reason = why;
        r.port = PacketPort::none;
        r.packet = {};
    };
    {
        std::shared_lock lock(mutex_);
        SecurityAssociation* prev = nullptr;  // the SA that removed the previous header
        DropReason why = DropReason::none;
        std::span<const uint8_t> current = packet;  // the input where it lies, then a buffer
        for (;; current = work.buffers[work.current]) {
            auto h = parse_ip_header(current);
            if (!h) {
                why = DropReason::malformed;
                break;
            }
            if (!is_ipsec(h->protocol)) break;
            if (h->fragment) {
                why = DropReason::fragment;
                break;
            }
            const std::span<const uint8_t> bytes = current.first(h->total_size);
            const std::span<const uint8_t> payload = bytes.subspan(h->header_size);
            Said said{h->dst(), 0, said_proto_of(h->protocol)};
            SecurityAssociation* sa = nullptr;
            if (h->protocol == kProtoComp) {
                if (payload.size() < crypto::IpComp::kHeaderSize) {
                    why = DropReason::decompress_failed;
                    break;
                }
                said.spi = crypto::wire::get16(payload.data() + 2);
                // The CPI may be the well-known one (§7.5): the group says which SA it is.
                if (prev && prev->inner && prev->inner->said.proto == kSaComp && prev->inner->said.dst == h->dst()) {
                    sa = prev->inner;
                } else {
                    sa = sadb_.find(said);
                }
            } else {
                const auto header = h->protocol == kProtoEsp ? crypto::Esp::header(payload)
                                                             : std::optional<crypto::EspHeader>();
                const auto ah = h->protocol == kProtoAh ? crypto::Ah::header(bytes) : std::optional<crypto::AhHeader>();
                if (!header && !ah) {
                    why = DropReason::bad_size;
                    break;
                }
                said.spi = header ? header->spi : ah->spi;
                sa = sadb_.find(said);
            }
            r.said = sa ? sa->said : said;
            r.has_said = true;
            if (!sa) {
                why = DropReason::unknown_sa;
                break;
            }
            if (from_wrong_source(*sa, h->src())) {
                why = DropReason::wrong_source;
                break;
            }
            // Each header must be the one the group puts next (KLIPS's inext check), and the
            // first must be the group's outermost: a peer may not strip an outer AH.
            if (prev ? prev->inner != sa : sa->outer != nullptr) {
                why = DropReason::wrong_chain;
                break;
            }
            if ((why = apply_inbound(*sa, *h, bytes, work, &expired)) != DropReason::none) break;
            ++r.transforms;
            prev = sa;
        }

        // The tunnel the group ends in, if any: an IPComp SA the sender skipped is passed over.
        SecurityAssociation* tun = why == DropReason::none && prev ? prev->inner : nullptr;
        if (tun && tun->said.proto == kSaComp) tun = tun->inner;
        std::span<const uint8_t> delivered = work.buffers[work.current];
        if (tun) {
            auto h = parse_ip_header(work.buffers[work.current]);
            std::span<uint8_t> inner;
            if (tun->said.proto != kSaTun || tun->inner) {
                why = DropReason::wrong_chain;
            } else if (!h || (h->protocol != kProtoIpip && h->protocol != kProtoIpv6)) {
                why = DropReason::not_tunnel;
            } else if (from_wrong_source(*tun, h->src())) {
                why = DropReason::wrong_source;
            } else if ((why = strip_tunnel(*tun, work, &inner, &expired)) == DropReason::none) {
                r.said = tun->said;
                ++r.transforms;
                delivered = inner;
                if (tun->policy && !inside_policy(*tun->policy, parse_ip_header(inner))) why = DropReason::inner_policy;
            }
        }
        if (why == DropReason::none) {
            r.verdict = PacketVerdict::delivered;
            r.port = PacketPort::host;
            r.packet = delivered;
        } else {
            fail(why);
        }
    }
    if (!expired.empty()) delete_expired(expired);
    return r;
}

}  // namespace kmod_sim
