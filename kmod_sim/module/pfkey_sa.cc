#include "pfkey_sa.h"

#include <cerrno>

#include "crypto/algorithms.h"

namespace kmod_sim {

namespace {

using namespace pfkey;

uint16_t key_bits(const std::optional<KeyExt>& key) { return key ? key->bits : 0; }

// An HMAC-authenticated SA (AH, or ESP with NULL encryption): the algorithm and key size.
int set_integrity(const Message& m, SecurityAssociation* sa) {
    auto alg = integrity_of(m.sa->auth);
    if (!alg || *alg == crypto::Integrity::none || key_bits(m.key_auth) != crypto::info(*alg).key_bits) return EINVAL;
    sa->auth_alg = m.sa->auth;
    sa->auth_key_bits = key_bits(m.key_auth);
    sa->auth_bits = crypto::info(*alg).icv_bits;
    return 0;
}

int set_esp(const Message& m, SecurityAssociation* sa) {
    auto cipher = esp_cipher_of(m.sa->encrypt);
    if (!cipher || !crypto::available(*cipher)) return EINVAL;
    sa->enc_alg = m.sa->encrypt;
    if (*cipher == crypto::Cipher::null) {
        if (key_bits(m.key_encrypt) != 0) return EINVAL;
        return set_integrity(m, sa);  // ESP NULL without integrity protects nothing: refused
    }
    // An AEAD: its own tag, no HMAC.
    const crypto::CipherInfo info = crypto::info(*cipher);
    if (m.sa->auth != kAuthNone || m.key_auth || key_bits(m.key_encrypt) != info.key_bits) return EINVAL;
    sa->enc_key_bits = info.key_bits;
    sa->auth_bits = info.icv_bits;
    return 0;
}

Lifetime limits(const std::optional<LifetimeExt>& soft, const std::optional<LifetimeExt>& hard,
                uint64_t LifetimeExt::*member) {
    return Lifetime{0, soft ? (*soft).*member : 0, hard ? (*hard).*member : 0};
}

Lifetime limits32(const std::optional<LifetimeExt>& soft, const std::optional<LifetimeExt>& hard,
                  uint32_t LifetimeExt::*member) {
    return Lifetime{0, soft ? (*soft).*member : 0, hard ? (*hard).*member : 0};
}

AddressExt address_ext(const IpAddress& address) {
    AddressExt a;
    a.address = address;
    a.prefixlen = 0;
    return a;
}

}  // namespace

int sa_from_message(const Message& m, SecurityAssociation* sa) {
    auto proto = said_proto_of_satype(m.satype);
    if (!proto || *proto == kSaInt || !m.sa || !m.address_dst || !m.address_src) return EINVAL;
    if (m.lifetime_current) return EINVAL;  // §7.7: only the kernel reports current lifetimes
    const IpAddress& dst = m.address_dst->address;
    const IpAddress& src = m.address_src->address;
    if (src.family() != dst.family()) return EINVAL;

    *sa = SecurityAssociation{};
    sa->said = Said{dst, m.sa->spi, *proto};
    sa->src = src;
    sa->state = m.sa->state;
    sa->flags = m.sa->flags;
    sa->replay_window = m.sa->replay;

    switch (*proto) {
    case kSaEsp:
        if (int error = set_esp(m, sa)) return error;
        break;
    case kSaAh:
        if (m.sa->encrypt != kEncryptNone || m.key_encrypt) return EINVAL;
        if (int error = set_integrity(m, sa)) return error;
        break;
    case kSaComp:
        if (m.sa->encrypt != kCompDeflate || m.sa->auth != kAuthNone || m.key_auth || m.key_encrypt) {
            return EINVAL;
        }
        sa->enc_alg = kCompDeflate;
        break;
    case kSaTun:
        // The outer header's addresses are the SA's; the tunnel needs no algorithm or key.
        if (m.sa->auth != kAuthNone || m.sa->encrypt != kEncryptNone || m.key_auth || m.key_encrypt) {
            return EINVAL;
        }
        if (src.is_unspecified()) return EINVAL;
        break;
    }

    const auto& soft = m.lifetime_soft;
    const auto& hard = m.lifetime_hard;
    sa->life.allocations = limits32(soft, hard, &LifetimeExt::allocations);
    sa->life.bytes = limits(soft, hard, &LifetimeExt::bytes);
    sa->life.addtime = limits(soft, hard, &LifetimeExt::addtime);
    sa->life.usetime = limits(soft, hard, &LifetimeExt::usetime);
    sa->life.packets = limits32(soft, hard, &LifetimeExt::packets);
    for (Lifetime* l : {&sa->life.allocations, &sa->life.bytes, &sa->life.addtime, &sa->life.usetime,
                        &sa->life.packets}) {
        if (l->hard != 0 && (l->soft == 0 || l->soft > l->hard)) l->soft = l->hard;  // soft clamped to hard
    }
    sa->pid = m.pid;

    // The keys go into the SA's transform, and only there; the message's copy is wiped by
    // the caller.
    auto key = [](const std::optional<KeyExt>& k) {
        return k ? std::span<const uint8_t>(k->bytes) : std::span<const uint8_t>();
    };
    sa->transform = make_sa_transform(*sa, SaKeys{key(m.key_auth), key(m.key_encrypt)}, nullptr);
    if (!sa->transform) return EINVAL;
    return 0;
}

Message sa_message(uint8_t type, const SecurityAssociation& sa) {
    Message m;
    m.type = type;
    m.satype = satype_of_said_proto(sa.said.proto);
    SaExt ext;
    ext.spi = sa.said.spi;
    ext.replay = sa.replay_window;
    ext.state = sa.state;
    ext.auth = sa.auth_alg;
    ext.encrypt = sa.enc_alg;
    ext.flags = sa.flags;
    ext.x_sa_ref = sa.ref;
    m.sa = ext;

    LifetimeExt current;
    current.allocations = static_cast<uint32_t>(sa.life.allocations.count);
    current.bytes = sa.life.bytes.count;
    current.addtime = sa.life.addtime.count;
    current.usetime = sa.life.usetime.count;
    current.packets = static_cast<uint32_t>(sa.life.packets.count);
    m.lifetime_current = current;
    auto limit_ext = [&](uint64_t Lifetime::*which) -> std::optional<LifetimeExt> {
        LifetimeExt l;
        l.allocations = static_cast<uint32_t>(sa.life.allocations.*which);
        l.bytes = sa.life.bytes.*which;
        l.addtime = sa.life.addtime.*which;
        l.usetime = sa.life.usetime.*which;
        l.packets = static_cast<uint32_t>(sa.life.packets.*which);
        if (l == LifetimeExt{}) return std::nullopt;
        return l;
    };
    m.lifetime_hard = limit_ext(&Lifetime::hard);
    m.lifetime_soft = limit_ext(&Lifetime::soft);
    if (sa.src.has_family()) m.address_src = address_ext(sa.src);
    else m.address_src = address_ext(IpAddress::unspecified(sa.said.dst.family()));
    m.address_dst = address_ext(sa.said.dst);
    return m;
}

bool supported_algorithms(uint8_t satype, Message* reply) {
    auto hmacs = [] {
        SupportedExt s;
        for (uint8_t id : {kAuthSha2_256, kAuthSha2_512}) {
            const uint16_t bits = crypto::info(*integrity_of(id)).key_bits;
            s.algs.push_back(Alg{id, 0, bits, bits});
        }
        return s;
    };
    switch (satype) {
    case kSaTypeAh:
        reply->supported_auth = hmacs();
        return true;
    case kSaTypeEsp: {
        reply->supported_auth = hmacs();
        SupportedExt enc;
        enc.algs.push_back(Alg{kEncryptNull, 0, 0, 0});
        for (uint8_t id : {kEncryptAesGcm16, kEncryptChacha20Poly1305}) {
            const crypto::Cipher cipher = *esp_cipher_of(id);
            if (!crypto::available(cipher)) continue;
            const crypto::CipherInfo info = crypto::info(cipher);
            enc.algs.push_back(Alg{id, static_cast<uint8_t>(info.iv_bits), info.key_bits, info.key_bits});
        }
        reply->supported_encrypt = enc;
        return true;
    }
    case kSaTypeXIpip: {
        // KLIPS's table: the tunnel kinds, with the outer address size as "key" bits.
        SupportedExt tunnels;
        tunnels.algs = {Alg{kTunnelIpv4InIpv4, 0, 32, 32}, Alg{kTunnelIpv6InIpv4, 0, 32, 32},
                        Alg{kTunnelIpv4InIpv6, 0, 128, 128}, Alg{kTunnelIpv6InIpv6, 0, 128, 128}};
        reply->supported_encrypt = tunnels;
        return true;
    }
    case kSaTypeXComp:
        reply->supported_encrypt = SupportedExt{{Alg{kCompDeflate, 0, 1, 1}}};
        return true;
    default:
        return false;
    }
}

}  // namespace kmod_sim
