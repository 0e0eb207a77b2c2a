#include "pfkey_notify.h"

#include "kmod_sim/lib/pfkey_message.h"
#include "pfkey_sa.h"

namespace kmod_sim {

using namespace pfkey;

namespace {

// The identity as ADDFLOW gave it. One added without a type (the module's own callers) gets
// the kind its text shows: @fqdn, user@fqdn, else an address prefix.
IdentityExt identity(const std::string& text, uint16_t type) {
    IdentityExt ext;
    ext.text = text;
    const auto at = text.find('@');
    const IdentType guessed = at == 0 ? kIdentFqdn : at != std::string::npos ? kIdentUserFqdn : kIdentPrefix;
    ext.type = type != 0 ? type : uint16_t{guessed};
    return ext;
}

Comb klips_comb(uint8_t auth, uint16_t auth_bits) {
    Comb c;
    c.auth = auth;
    c.encrypt = kEncrypt3DesCbc;
    c.flags = kSaFlagPfs;
    c.auth_minbits = c.auth_maxbits = auth_bits;
    c.encrypt_minbits = c.encrypt_maxbits = 168;
    c.soft_addtime = c.soft_usetime = 57600;
    c.hard_addtime = c.hard_usetime = 86400;
    return c;
}

std::vector<uint8_t> encoded(const Message& m) {
    auto bytes = encode(m);
    return bytes ? std::move(*bytes) : std::vector<uint8_t>{};
}

}  // namespace

std::vector<uint8_t> acquire_message(uint32_t seq, const PacketSelector& packet, const Eroute& trap) {
    Message m;
    m.type = kAcquire;
    m.satype = kSaTypeEsp;
    m.seq = seq;
    m.pid = 0;
    AddressExt src, dst;
    src.address = packet.src;
    dst.address = packet.dst;
    if (trap.proto != 0) {
        src.proto = dst.proto = packet.proto;
        if (trap.sport != 0) src.port = packet.sport;
        if (trap.dport != 0) dst.port = packet.dport;
    }
    m.address_src = src;
    m.address_dst = dst;
    if (trap.idents) {
        if (!trap.idents->src.empty()) m.identity_src = identity(trap.idents->src, trap.idents->src_type);
        if (!trap.idents->dst.empty()) m.identity_dst = identity(trap.idents->dst, trap.idents->dst_type);
    }
    ProposalExt proposal;
    proposal.replay = 64;
    proposal.combs = {klips_comb(kAuthMd5Hmac, 128), klips_comb(kAuthSha1Hmac, 160)};
    m.proposal = proposal;
    return encoded(m);
}

std::vector<uint8_t> expire_message(uint32_t seq, const SecurityAssociation& sa, bool hard) {
    Message m = sa_message(kExpire, sa);
    m.seq = seq;
    m.pid = 0;
    if (hard) m.lifetime_soft.reset();
    else m.lifetime_hard.reset();
    return encoded(m);
}

}  // namespace kmod_sim
