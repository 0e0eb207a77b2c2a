#include "sa_transform.h"

#include <stdexcept>

#include "security_association.h"

namespace kmod_sim {

using namespace pfkey;

std::optional<crypto::Cipher> esp_cipher_of(uint8_t id) {
    switch (id) {
    case kEncryptNull: return crypto::Cipher::null;
    case kEncryptAesGcm16: return crypto::Cipher::aes256_gcm16;
    case kEncryptChacha20Poly1305: return crypto::Cipher::chacha20_poly1305;
    default: return std::nullopt;
    }
}

std::optional<crypto::Integrity> integrity_of(uint8_t id) {
    switch (id) {
    case kAuthNone: return crypto::Integrity::none;
    case kAuthSha2_256: return crypto::Integrity::hmac_sha2_256_128;
    case kAuthSha2_512: return crypto::Integrity::hmac_sha2_512_256;
    default: return std::nullopt;
    }
}

std::shared_ptr<SaTransform> make_sa_transform(const SecurityAssociation& sa, SaKeys keys, std::string* error) {
    auto fail = [&](std::string why) -> std::shared_ptr<SaTransform> {
        if (error) *error = std::move(why);
        return nullptr;
    };
    auto t = std::make_shared<SaTransform>();
    const bool esn = (sa.flags & kSaFlagXEsn) != 0;
    // The receiver works out the untransmitted high half from its window (RFC 4303 A2.2).
    if (esn && sa.replay_window == 0) return fail("extended sequence numbers need a replay window");
    try {
        t->replay = crypto::ReplayWindow(sa.replay_window);
        switch (sa.said.proto) {
        case kSaEsp: {
            auto cipher = esp_cipher_of(sa.enc_alg);
            auto mac = integrity_of(sa.auth_alg);
            if (!cipher || !mac) return fail("unsupported ESP algorithm");
            // AEADs take the encryption key (key and salt); NULL encryption the HMAC key.
            const auto key = *cipher == crypto::Cipher::null ? keys.auth : keys.encrypt;
            if (std::string why = crypto::Esp::check(*cipher, *mac, key.size()); !why.empty()) return fail(why);
            t->esp.emplace(*cipher, *mac, key, esn);
            break;
        }
        case kSaAh: {
            auto mac = integrity_of(sa.auth_alg);
            if (!mac || *mac == crypto::Integrity::none) return fail("unsupported AH algorithm");
            if (std::string why = crypto::Ah::check(*mac, keys.auth.size()); !why.empty()) return fail(why);
            t->ah.emplace(*mac, keys.auth, esn);
            break;
        }
        case kSaComp:
            if (sa.enc_alg != kCompDeflate) return fail("unsupported IPComp algorithm (deflate is)");
            t->ipcomp = std::make_unique<crypto::IpComp>();
            break;
        case kSaTun:
            t->ipip.emplace();
            break;
        default:
            return fail("no transform for this SA protocol");
        }
    } catch (const std::invalid_argument& e) {
        return fail(e.what());
    }
    return t;
}

}  // namespace kmod_sim
