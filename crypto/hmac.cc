#include "hmac.h"

#include <cstring>
#include <stdexcept>

#include "sodium_init.h"

namespace kmod_sim::crypto {

namespace {

// Copies of the keyed state are as secret as the key: they are wiped before returning.
template <typename State, typename Update, typename Final>
void run(const uint8_t* keyed, std::initializer_list<std::span<const uint8_t>> parts, uint8_t* out,
         Update update, Final final) {
    State st;
    std::memcpy(&st, keyed, sizeof st);
    for (auto part : parts) update(&st, part.data(), part.size());
    final(&st, out);
    sodium_memzero(&st, sizeof st);
}

}  // namespace

Hmac::Hmac(Integrity integrity, std::span<const uint8_t> key) : integrity_(integrity) {
    ensure_sodium();
    switch (integrity) {
    case Integrity::hmac_sha2_256_128:
        state_ = SecretBytes(sizeof(crypto_auth_hmacsha256_state));
        crypto_auth_hmacsha256_init(reinterpret_cast<crypto_auth_hmacsha256_state*>(state_.data()),
                                    key.data(), key.size());
        return;
    case Integrity::hmac_sha2_512_256:
        // The one-shot crypto_auth_hmacsha512256() takes 32-byte keys only; RFC 4868 uses 64,
        // so the init/update/final API is the one that fits.
        state_ = SecretBytes(sizeof(crypto_auth_hmacsha512_state));
        crypto_auth_hmacsha512_init(reinterpret_cast<crypto_auth_hmacsha512_state*>(state_.data()),
                                    key.data(), key.size());
        return;
    case Integrity::none:
        break;
    }
    throw std::invalid_argument("HMAC needs hmac-sha2-256-128 or hmac-sha2-512-256");
}

size_t Hmac::output_size() const {
    return integrity_ == Integrity::hmac_sha2_256_128 ? crypto_auth_hmacsha256_BYTES
                                                      : crypto_auth_hmacsha512_BYTES;
}

size_t Hmac::icv_size() const { return info(integrity_).icv_bits / 8; }

void Hmac::compute(std::initializer_list<std::span<const uint8_t>> parts, std::span<uint8_t> out) const {
    if (out.size() < output_size()) throw std::invalid_argument("HMAC output buffer too small");
    if (integrity_ == Integrity::hmac_sha2_256_128)
        run<crypto_auth_hmacsha256_state>(state_.data(), parts, out.data(), crypto_auth_hmacsha256_update,
                                          crypto_auth_hmacsha256_final);
    else
        run<crypto_auth_hmacsha512_state>(state_.data(), parts, out.data(), crypto_auth_hmacsha512_update,
                                          crypto_auth_hmacsha512_final);
}

void Hmac::icv(std::initializer_list<std::span<const uint8_t>> parts, std::span<uint8_t> out) const {
    if (out.size() < icv_size()) throw std::invalid_argument("ICV buffer too small");
    uint8_t full[crypto_auth_hmacsha512_BYTES];
    compute(parts, full);
    std::memcpy(out.data(), full, icv_size());
}

bool Hmac::verify(std::initializer_list<std::span<const uint8_t>> parts, std::span<const uint8_t> icv) const {
    if (icv.size() != icv_size()) return false;
    uint8_t full[crypto_auth_hmacsha512_BYTES];
    compute(parts, full);
    return (icv_size() == 16 ? crypto_verify_16(full, icv.data()) : crypto_verify_32(full, icv.data())) == 0;
}

}  // namespace kmod_sim::crypto
