#include "pfkey_handler.h"

#include <cerrno>
#include <cstring>
#include <string.h>  // explicit_bzero

#include "kmod_sim/lib/pfkey_validate.h"
#include "pfkey_sa.h"

namespace kmod_sim {

using namespace pfkey;

namespace {

using Audience = PfkeyAnswer::Audience;

constexpr uint32_t kGetSpiTries = 1000;  // random picks before scanning the range in order

void wipe_keys(Message& m) {
    for (auto* key : {&m.key_auth, &m.key_encrypt}) {
        if (*key && !(*key)->bytes.empty()) explicit_bzero((*key)->bytes.data(), (*key)->bytes.size());
        key->reset();
    }
}

std::optional<Said> said_of(uint8_t satype, const std::optional<SaExt>& sa, const std::optional<AddressExt>& dst) {
    auto proto = said_proto_of_satype(satype);
    if (!proto || !sa || !dst) return std::nullopt;
    return Said{dst->address, sa->spi, *proto};
}

EroutSelector selector_of(const Message& m) {
    EroutSelector s;
    s.src = m.x_src_flow->address;
    s.dst = m.x_dst_flow->address;
    s.src_mask = m.x_src_mask->address;
    s.dst_mask = m.x_dst_mask->address;
    s.sport = m.x_src_flow->port;
    s.dport = m.x_dst_flow->port;
    s.sport_mask = m.x_src_mask->port;
    s.dport_mask = m.x_dst_mask->port;
    s.proto = m.x_protocol ? m.x_protocol->proto : 0;
    return s;
}

bool flows_of_one_family(const Message& m) {
    const AddressFamily af = m.x_src_flow->address.family();
    return m.x_dst_flow->address.family() == af && m.x_src_mask->address.family() == af &&
           m.x_dst_mask->address.family() == af;
}

}  // namespace

std::vector<uint8_t> pfkey_error_answer(std::span<const uint8_t> request, int error) {
    std::vector<uint8_t> out(kMsgSize, 0);
    out[0] = kVersion;
    if (request.size() > 1) out[1] = request[1];
    out[2] = static_cast<uint8_t>(error);
    if (request.size() > 3) out[3] = request[3];
    const uint16_t units = kMsgSize / kAlign;
    std::memcpy(out.data() + 4, &units, sizeof units);
    if (request.size() >= 12) std::memcpy(out.data() + 8, request.data() + 8, 4);   // seq
    if (request.size() >= 16) std::memcpy(out.data() + 12, request.data() + 12, 4); // pid
    return out;
}

PfkeyHandler::PfkeyHandler(Klips& klips, PfkeyHost host) : klips_(klips), host_(std::move(host)) {}

void PfkeyHandler::handle(std::span<const uint8_t> datagram, PfkeySocket& socket,
                          std::vector<PfkeyAnswer>* answers) {
    auto message = decode(datagram);
    if (!message) {
        answers->push_back({Audience::sender, pfkey_error_answer(datagram, EINVAL)});
        return;
    }
    Outcome outcome = dispatch(*message, socket, answers);
    const bool keyed = message->key_auth || message->key_encrypt;
    wipe_keys(*message);
    if (outcome.answered) return;
    if (outcome.error != 0) {
        answers->push_back({Audience::sender, pfkey_error_answer(datagram, outcome.error)});
        return;
    }
    if (!outcome.rewritten && !keyed) {
        // The reply is the request itself (errno 0 already): no need to encode it again.
        answers->push_back({outcome.audience, std::vector<uint8_t>(datagram.begin(), datagram.end())});
        return;
    }
    auto reply = encode(*message);
    if (!reply) {  // cannot happen for a message that decoded; never leave the sender waiting
        answers->push_back({Audience::sender, pfkey_error_answer(datagram, EINVAL)});
        return;
    }
    answers->push_back({outcome.audience, std::move(*reply)});
}

PfkeyHandler::Outcome PfkeyHandler::dispatch(Message& m, PfkeySocket& socket, std::vector<PfkeyAnswer>* answers) {
    if (m.errno_value != 0) return failed(EINVAL);  // requests carry no errno
    switch (m.type) {
    case kGetSpi:
        return get_spi(m);
    case kAdd:
    case kUpdate: {
        SecurityAssociation sa;
        if (int error = sa_from_message(m, &sa)) return failed(error);
        if (m.type == kAdd && sa.state != kSaStateMature) return failed(EINVAL);
        int error = m.type == kAdd ? klips_.add_sa(std::move(sa)) : klips_.update_sa(sa);
        return {error, Audience::all, false};
    }
    case kDelete: {
        auto said = said_of(m.satype, m.sa, m.address_dst);
        if (!said || said->proto == kSaInt) return failed(EINVAL);
        return {klips_.delete_sa(*said), Audience::all, false};
    }
    case kGet: {
        auto said = said_of(m.satype, m.sa, m.address_dst);
        if (!said || said->proto == kSaInt) return failed(EINVAL);
        auto sa = klips_.find_sa(*said);
        if (!sa) return failed(ESRCH);
        Message reply = sa_message(kGet, *sa);
        reply.seq = m.seq;
        reply.pid = m.pid;
        m = std::move(reply);
        return rewritten();
    }
    case kRegister: {
        Message reply;
        if (!supported_algorithms(m.satype, &reply)) return failed(EINVAL);
        socket.registered_satypes |= uint32_t{1} << m.satype;
        reply.type = kRegister;
        reply.satype = m.satype;
        reply.seq = m.seq;
        reply.pid = m.pid;
        m = std::move(reply);
        return rewritten();
    }
    case kFlush: {
        if (m.satype == kSaTypeUnspec) {
            klips_.flush_sas();
        } else {
            auto proto = said_proto_of_satype(m.satype);
            if (!proto || *proto == kSaInt) return failed(EINVAL);
            klips_.flush_sas(*proto);
        }
        return {0, Audience::all, false};
    }
    case kDump:
        return dump(m, answers);
    case kXPromisc:
        // RFC 2367 §3.1.14: satype 1 turns it on, 0 off.
        if (m.satype > 1) return failed(EINVAL);
        socket.promiscuous = m.satype == 1;
        return {};
    case kXGrpSa:
        return group(m);
    case kXAddFlow:
        return add_flow(m);
    case kXDelFlow:
        return delete_flow(m);
    case kXDebug: {
        KlipsDebug::Words words;
        static_assert(std::tuple_size_v<KlipsDebug::Words> == std::tuple_size_v<decltype(m.x_debug->words)>);
        std::copy(m.x_debug->words.begin(), m.x_debug->words.end(), words.begin());
        klips_.apply_debug(words);
        return {};
    }
    case kXTncfg:
        return tncfg(m);
    case kXClock:
        return clock(m);
    default:  // ACQUIRE, EXPIRE, X_PCHANGE: the kernel's to send
        return failed(EOPNOTSUPP);
    }
}

PfkeyHandler::Outcome PfkeyHandler::get_spi(Message& m) {
    auto proto = said_proto_of_satype(m.satype);
    if (!proto || *proto == kSaInt || *proto == kSaTun) return failed(EINVAL);
    if (m.address_src->address.family() != m.address_dst->address.family()) return failed(EINVAL);
    // RFC 2367 §3.1.1: without SPIRANGE the kernel picks; KLIPS's tools never use SPIs below 0x100.
    uint32_t min = m.spirange ? m.spirange->min : 0x100;
    uint32_t max = m.spirange ? m.spirange->max : 0xffffffff;
    if (*proto == kSaComp) max = std::min<uint32_t>(max, 0xffff);  // a CPI is 16 bits
    if (min > max) return failed(EINVAL);

    SecurityAssociation sa;
    sa.said.dst = m.address_dst->address;
    sa.said.proto = *proto;
    sa.src = m.address_src->address;
    sa.state = kSaStateLarval;
    sa.pid = m.pid;
    const uint64_t span = uint64_t{max} - min + 1;
    auto try_spi = [&](uint32_t spi) {
        sa.said.spi = spi;
        return klips_.add_sa(sa) == 0;
    };
    bool found = false;
    for (uint32_t i = 0; i < kGetSpiTries && !found; ++i) found = try_spi(min + uint32_t(host_.random() % span));
    for (uint64_t i = 0; i < span && !found && span <= kGetSpiTries * 64ull; ++i) found = try_spi(uint32_t(min + i));
    if (!found) return failed(EEXIST);

    // The reply names the SA: SA (larval, the new SPI) and the addresses.
    SaExt ext;
    ext.spi = sa.said.spi;
    ext.state = kSaStateLarval;
    m.sa = ext;
    m.spirange.reset();
    return rewritten();
}

PfkeyHandler::Outcome PfkeyHandler::add_flow(const Message& m) {
    auto said = said_of(m.satype, m.sa, m.address_dst);
    if (!said || !flows_of_one_family(m)) return failed(EINVAL);
    const uint32_t flags = m.sa->flags;
    if (flags & kSaFlagXInFlow) {
        // `eroute --addin` / `--replacein`: an inbound policy on the IPIP SA; the table is untouched.
        Subnet src{m.x_src_flow->address, m.x_src_mask->address, 0};
        Subnet dst{m.x_dst_flow->address, m.x_dst_mask->address, 0};
        return {klips_.add_inbound_policy(*said, src, dst), Audience::all, false};
    }
    EroutRequest request;
    request.selector = selector_of(m);
    request.said = *said;
    request.pid = m.pid;
    if (m.identity_src || m.identity_dst) {
        request.idents = EroutIdentities{m.identity_src ? m.identity_src->text : std::string(),
                                         m.identity_dst ? m.identity_dst->text : std::string(),
                                         m.identity_src ? m.identity_src->type : uint16_t{0},
                                         m.identity_dst ? m.identity_dst->type : uint16_t{0}};
    }
    if (flags & kSaFlagXReplaceFlow) {
        // The old eroute's held packets are sent again, through the new one (spec/klips.md §6.5).
        std::unique_ptr<HeldPackets> held;
        const int error = klips_.replace_eroute(request, &held);
        if (error == 0 && held && host_.reinject) {
            for (auto* packet : {&held->first, &held->last}) {
                if (!packet->empty()) host_.reinject(std::move(*packet));
            }
        }
        return {error, Audience::all, false};
    }
    return {klips_.add_eroute(request), Audience::all, false};
}

PfkeyHandler::Outcome PfkeyHandler::delete_flow(const Message& m) {
    if (m.sa->flags & kSaFlagXClearFlow) {
        klips_.clear_eroutes();
        return {0, Audience::all, false};
    }
    if (!flows_of_one_family(m)) return failed(EINVAL);
    return {klips_.delete_eroute(selector_of(m)), Audience::all, false};
}

PfkeyHandler::Outcome PfkeyHandler::group(const Message& m) {
    auto first = said_of(m.satype, m.sa, m.address_dst);
    if (!first) return failed(EINVAL);
    if (!m.x_sa2) return {klips_.ungroup_sa(*first), Audience::all, false};  // UNGRPSA
    auto second = said_of(m.x_satype2->satype, m.x_sa2, m.x_address_dst2);
    if (!second) return failed(EINVAL);
    return {klips_.group_sas(*first, *second), Audience::all, false};
}

PfkeyHandler::Outcome PfkeyHandler::tncfg(const Message& m) {
    const XTncfgExt& t = *m.x_tncfg;
    switch (t.operation) {
    case kTncfgAttach: {
        if (t.virtual_name.empty() || t.physical_name.empty()) return failed(EINVAL);
        // KLIPS's order: the virtual device, then the physical one, then whether it is busy.
        const int attachable = klips_.can_attach_device(t.virtual_name);
        if (attachable == ENODEV) return failed(ENODEV);
        auto physical_mtu = host_.device_mtu ? host_.device_mtu(t.physical_name) : std::nullopt;
        if (!physical_mtu) return failed(ENXIO);  // ipsec tncfg: "Is the physical device valid?"
        if (attachable != 0) return failed(attachable);
        uint32_t mtu = Tncfg::kAttachedMtu;
        if (host_.open_device) {
            const DeviceOpened opened = host_.open_device(t.virtual_name, t.physical_name, *physical_mtu);
            if (opened.error != 0) return failed(opened.error);  // the tables stay as they were
            mtu = opened.mtu;
        }
        const int error = klips_.attach_device(t.virtual_name, t.physical_name, mtu, *physical_mtu);
        if (error != 0 && host_.close_device) host_.close_device(t.virtual_name);
        return {error, Audience::sender, false};
    }
    case kTncfgDetach: {
        const int error = klips_.detach_device(t.virtual_name);
        if (error == 0 && host_.close_device) host_.close_device(t.virtual_name);
        return {error, Audience::sender, false};
    }
    default:
        if (host_.close_device) {
            for (const IpsecDevice& d : klips_.devices())
                if (!d.physical.empty()) host_.close_device(d.name);
        }
        klips_.clear_devices();
        return {};
    }
}

PfkeyHandler::Outcome PfkeyHandler::clock(Message& m) {
    XClockExt& c = *m.x_clock;
    if (c.operation != kClockGet) {
        if (!host_.manual_clock) return failed(EOPNOTSUPP);
        if (c.operation == kClockSet) host_.manual_clock->set(c.seconds);
        else host_.manual_clock->advance(c.seconds);
    }
    c.seconds = klips_.now();
    return rewritten();
}

PfkeyHandler::Outcome PfkeyHandler::dump(const Message& m, std::vector<PfkeyAnswer>* answers) {
    std::optional<uint8_t> proto;
    if (m.satype != kSaTypeUnspec) {
        proto = said_proto_of_satype(m.satype);
        if (!proto || *proto == kSaInt) return failed(EINVAL);
    }
    std::vector<Message> replies;
    for (const SaRow& row : klips_.sa_rows()) {
        if (proto && row.sa.said.proto != *proto) continue;
        replies.push_back(sa_message(kDump, row.sa));
    }
    if (replies.empty()) return failed(ENOENT);  // RFC 2367 §3.1.15
    // Sequence numbers count down to 0, which marks the last (RFC 2367 §3.1.15).
    uint32_t seq = static_cast<uint32_t>(replies.size());
    for (Message& reply : replies) {
        reply.seq = --seq;
        reply.pid = m.pid;
        auto bytes = encode(reply);
        if (bytes) answers->push_back({Audience::sender, std::move(*bytes)});
    }
    return {0, Audience::sender, true, false};
}

}  // namespace kmod_sim
