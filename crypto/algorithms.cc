#include "algorithms.h"

#include <sodium.h>

namespace kmod_sim::crypto {

namespace {

constexpr uint16_t kSaltBits = 32;  // RFC 4106 and RFC 7634: 4 bytes
constexpr uint16_t kIvBits = 64;    // the 8-byte explicit IV of both AEADs

constexpr uint16_t bits(size_t bytes) { return static_cast<uint16_t>(8 * bytes); }

}  // namespace

CipherInfo info(Cipher cipher) {
    switch (cipher) {
    case Cipher::aes256_gcm16:
        return {uint16_t(bits(crypto_aead_aes256gcm_KEYBYTES) + kSaltBits), kSaltBits, kIvBits,
                bits(crypto_aead_aes256gcm_ABYTES)};
    case Cipher::chacha20_poly1305:
        return {uint16_t(bits(crypto_aead_chacha20poly1305_ietf_KEYBYTES) + kSaltBits), kSaltBits, kIvBits,
                bits(crypto_aead_chacha20poly1305_ietf_ABYTES)};
    case Cipher::null:
        break;
    }
    return {0, 0, 0, 0};
}

IntegrityInfo info(Integrity integrity) {
    switch (integrity) {
    case Integrity::hmac_sha2_256_128: return {256, 128};  // RFC 4868 §2.1: key = output length
    case Integrity::hmac_sha2_512_256: return {512, 256};
    case Integrity::none: break;
    }
    return {0, 0};
}

const char* to_string(Cipher cipher) {
    switch (cipher) {
    case Cipher::null: return "null";
    case Cipher::aes256_gcm16: return "aes256-gcm16";
    case Cipher::chacha20_poly1305: return "chacha20-poly1305";
    }
    return "?";
}

const char* to_string(Integrity integrity) {
    switch (integrity) {
    case Integrity::none: return "none";
    case Integrity::hmac_sha2_256_128: return "hmac-sha2-256-128";
    case Integrity::hmac_sha2_512_256: return "hmac-sha2-512-256";
    }
    return "?";
}

bool available(Cipher cipher) {
    if (cipher != Cipher::aes256_gcm16) return true;
    // sodium_init() is idempotent and thread-safe; it fills in the CPU feature flags.
    static const bool aes = sodium_init() >= 0 && crypto_aead_aes256gcm_is_available() != 0;
    return aes;
}

}  // namespace kmod_sim::crypto
