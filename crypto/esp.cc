#include "esp.h"

#include <cstring>
#include <stdexcept>

#include "sodium_init.h"

#include "wire.h"

namespace kmod_sim::crypto {

namespace {

using namespace wire;

constexpr size_t kSaltSize = 4;
constexpr size_t kNonceSize = 12;  // salt || IV, RFC 4106 §4 and RFC 7634 §2
constexpr size_t kTrailerSize = 2; // pad length, next header
static_assert(crypto_aead_aes256gcm_NPUBBYTES == kNonceSize);
static_assert(crypto_aead_chacha20poly1305_ietf_NPUBBYTES == kNonceSize);

// Where the salt sits in the AEAD block: after the expanded key. The block's size is a multiple
// of 16 so that sodium_malloc, which puts a block against its trailing guard page, returns the
// 16-byte alignment crypto_aead_aes256gcm_state needs.
size_t salt_offset(Cipher cipher) {
    return cipher == Cipher::aes256_gcm16 ? sizeof(crypto_aead_aes256gcm_state)
                                          : crypto_aead_chacha20poly1305_ietf_KEYBYTES;
}

constexpr size_t round16(size_t n) { return (n + 15) / 16 * 16; }

// AEAD AAD (RFC 4106 §5, RFC 7634 §2.1): SPI || seq, or SPI || seq-high || seq-low with ESN.
size_t build_aad(uint8_t* aad, uint32_t spi, uint64_t seq, bool esn) {
    put32(aad, spi);
    if (!esn) {
        put32(aad + 4, uint32_t(seq));
        return 8;
    }
    put64(aad + 4, seq);
    return 12;
}

}  // namespace

const char* to_string(EspStatus status) {
    switch (status) {
    case EspStatus::ok: return "ok";
    case EspStatus::too_short: return "too short";
    case EspStatus::icv_mismatch: return "ICV mismatch";
    case EspStatus::bad_pad_length: return "bad pad length";
    case EspStatus::bad_padding: return "bad padding bytes";
    case EspStatus::dummy_packet: return "dummy packet";
    }
    return "?";
}

std::string Esp::check(Cipher cipher, Integrity integrity, size_t key_size) {
    std::string what = std::string("ESP ") + to_string(cipher) + " with " + to_string(integrity) + ": ";
    if (cipher == Cipher::null) {
        // RFC 4303 §3.2: NULL encryption without integrity protects nothing.
        if (integrity == Integrity::none)
            return what + "NULL encryption needs hmac-sha2-256-128 or hmac-sha2-512-256";
        const size_t want = info(integrity).key_bits / 8;
        if (key_size != want)
            return what + "key is " + std::to_string(key_size) + " bytes, must be " + std::to_string(want);
        return "";
    }
    if (integrity != Integrity::none)
        return what + "an AEAD cipher carries its own integrity; use integrity none";
    if (!available(cipher))
        return what + "this CPU lacks AES-NI/PCLMUL, which libsodium needs for AES-GCM; use chacha20-poly1305";
    const size_t want = info(cipher).key_bits / 8;
    if (key_size != want)
        return what + "key is " + std::to_string(key_size) + " bytes, must be " + std::to_string(want) +
               " (" + std::to_string(want - kSaltSize) + "-byte key then 4-byte salt)";
    return "";
}

Esp::Esp(Cipher cipher, Integrity integrity, std::span<const uint8_t> key, bool esn,
         std::optional<uint64_t> iv_mask)
    : cipher_(cipher), integrity_(integrity), esn_(esn) {
    if (std::string error = check(cipher, integrity, key.size()); !error.empty())
        throw std::invalid_argument(error);
    ensure_sodium();
    if (cipher == Cipher::null) {
        iv_size_ = 0;
        hmac_.emplace(integrity, key);
        icv_size_ = hmac_->icv_size();
        return;
    }
    iv_size_ = info(cipher).iv_bits / 8;
    icv_size_ = info(cipher).icv_bits / 8;
    if (iv_mask) {
        iv_mask_ = *iv_mask;
    } else {
        // IV = seq XOR a per-SA random value (Linux seqiv, strongSwan iv_gen_seq): unique per
        // key by construction, and two runs that reuse a manual key collide only by chance.
        randombytes_buf(&iv_mask_, sizeof iv_mask_);
    }
    const size_t cipher_key = key.size() - kSaltSize;
    aead_ = SecretBytes(round16(salt_offset(cipher) + kSaltSize));
    if (cipher == Cipher::aes256_gcm16) {
        if (reinterpret_cast<uintptr_t>(aead_.data()) % 16 != 0)
            throw std::logic_error("AES-GCM state is not 16-byte aligned");
        crypto_aead_aes256gcm_beforenm(reinterpret_cast<crypto_aead_aes256gcm_state*>(aead_.data()),
                                       key.data());
    } else {
        std::memcpy(aead_.data(), key.data(), cipher_key);
    }
    std::memcpy(aead_.data() + salt_offset(cipher), key.data() + cipher_key, kSaltSize);
}

size_t Esp::sealed_size(size_t payload_size) const {
    // RFC 4303 §2.4: payload + trailer ends on a 4-byte boundary (block size 1 for all ours;
    // the header and IV are multiples of 4, so the ICV starts 4-byte aligned).
    const size_t pad = (4 - (payload_size + kTrailerSize) % 4) % 4;
    return kHeaderSize + iv_size_ + payload_size + pad + kTrailerSize + icv_size_;
}

void Esp::encrypt(std::span<const uint8_t> aad, const uint8_t* nonce, std::span<uint8_t> text,
                  uint8_t* icv) const {
    if (cipher_ == Cipher::aes256_gcm16)
        crypto_aead_aes256gcm_encrypt_detached_afternm(
            text.data(), icv, nullptr, text.data(), text.size(), aad.data(), aad.size(), nullptr, nonce,
            reinterpret_cast<const crypto_aead_aes256gcm_state*>(aead_.data()));
    else
        crypto_aead_chacha20poly1305_ietf_encrypt_detached(text.data(), icv, nullptr, text.data(),
                                                           text.size(), aad.data(), aad.size(), nullptr,
                                                           nonce, aead_.data());
}

bool Esp::decrypt(std::span<const uint8_t> aad, const uint8_t* nonce, std::span<const uint8_t> cipher_text,
                  const uint8_t* icv, uint8_t* plain) const {
    // Both verify the tag before writing any plaintext.
    if (cipher_ == Cipher::aes256_gcm16)
        return crypto_aead_aes256gcm_decrypt_detached_afternm(
                   plain, nullptr, cipher_text.data(), cipher_text.size(), icv, aad.data(), aad.size(), nonce,
                   reinterpret_cast<const crypto_aead_aes256gcm_state*>(aead_.data())) == 0;
    return crypto_aead_chacha20poly1305_ietf_decrypt_detached(plain, nullptr, cipher_text.data(),
                                                              cipher_text.size(), icv, aad.data(), aad.size(),
                                                              nonce, aead_.data()) == 0;
}

bool Esp::seal(uint32_t spi, uint64_t seq, std::span<const uint8_t> payload, uint8_t next_header,
               std::vector<uint8_t>& out) const {
    if (seq == 0 || (!esn_ && seq > UINT32_MAX)) return false;
    const size_t start = out.size();
    // Header and IV, then the payload appended (not zero-filled first), then the rest.
    out.resize(start + kHeaderSize + iv_size_);
    out.insert(out.end(), payload.begin(), payload.end());
    out.resize(start + sealed_size(payload.size()));
    uint8_t* const esp = out.data() + start;
    put32(esp, spi);
    put32(esp + 4, uint32_t(seq));  // only the low half travels (RFC 4303 §2.2.1)
    uint8_t* const iv = esp + kHeaderSize;
    if (iv_size_ != 0) put64(iv, seq ^ iv_mask_);

    uint8_t* const text = iv + iv_size_;
    const size_t text_size = out.size() - start - kHeaderSize - iv_size_ - icv_size_;
    const size_t pad = text_size - kTrailerSize - payload.size();
    for (size_t i = 0; i < pad; ++i) text[payload.size() + i] = uint8_t(i + 1);
    text[text_size - 2] = uint8_t(pad);
    text[text_size - 1] = next_header;
    uint8_t* const icv = text + text_size;

    if (hmac_) {
        // RFC 4303 §2.2.1: with ESN the high half is authenticated as if it followed the trailer.
        uint8_t high[4];
        put32(high, uint32_t(seq >> 32));
        hmac_->icv({std::span<const uint8_t>(esp, kHeaderSize + text_size),
                    std::span<const uint8_t>(high, esn_ ? 4 : 0)},
                   std::span<uint8_t>(icv, icv_size_));
        return true;
    }
    uint8_t aad[12];
    const size_t aad_size = build_aad(aad, spi, seq, esn_);
    uint8_t nonce[kNonceSize];
    std::memcpy(nonce, aead_.data() + salt_offset(cipher_), kSaltSize);
    std::memcpy(nonce + kSaltSize, iv, iv_size_);
    encrypt({aad, aad_size}, nonce, {text, text_size}, icv);
    return true;
}

std::optional<EspHeader> Esp::header(std::span<const uint8_t> esp) {
    if (esp.size() < kHeaderSize) return std::nullopt;
    return EspHeader{get32(esp.data()), get32(esp.data() + 4)};
}

EspOpened Esp::open(std::span<const uint8_t> esp, uint32_t seq_high, std::vector<uint8_t>& out) const {
    out.clear();
    return open_append(esp, seq_high, out);
}

EspOpened Esp::open_append(std::span<const uint8_t> esp, uint32_t seq_high, std::vector<uint8_t>& out) const {
    const size_t start = out.size();
    EspOpened result;
    if (esp.size() < kHeaderSize + iv_size_ + kTrailerSize + icv_size_) return result;  // too_short
    const uint32_t spi = get32(esp.data());
    const uint32_t seq_low = get32(esp.data() + 4);
    result.seq = esn_ ? (uint64_t(seq_high) << 32 | seq_low) : seq_low;
    const auto text = esp.subspan(kHeaderSize + iv_size_, esp.size() - kHeaderSize - iv_size_ - icv_size_);
    const auto icv = esp.last(icv_size_);
    auto fail = [&](EspStatus status) {
        out.resize(start);
        result.status = status;
        return result;
    };
    if (hmac_) {
        // Separate integrity: verify before touching the payload (RFC 4303 §3.4.4.1).
        uint8_t high[4];
        put32(high, seq_high);
        if (!hmac_->verify({esp.first(esp.size() - icv_size_), std::span<const uint8_t>(high, esn_ ? 4 : 0)},
                           icv)) {
            return fail(EspStatus::icv_mismatch);
        }
        out.insert(out.end(), text.begin(), text.end());
    } else {
        uint8_t aad[12];
        const size_t aad_size = build_aad(aad, spi, result.seq, esn_);
        uint8_t nonce[kNonceSize];
        std::memcpy(nonce, aead_.data() + salt_offset(cipher_), kSaltSize);
        std::memcpy(nonce + kSaltSize, esp.data() + kHeaderSize, iv_size_);
        out.resize(start + text.size());
        if (!decrypt({aad, aad_size}, nonce, text, icv.data(), out.data() + start)) return fail(EspStatus::icv_mismatch);
    }
    const uint8_t* plain = out.data() + start;
    const size_t n = out.size() - start;
    const uint8_t pad = plain[n - 2];
    result.next_header = plain[n - 1];
    if (pad > n - kTrailerSize) return fail(EspStatus::bad_pad_length);
    const size_t payload_size = n - kTrailerSize - pad;
    for (size_t i = 0; i < pad; ++i) {
        if (plain[payload_size + i] != uint8_t(i + 1)) return fail(EspStatus::bad_padding);
    }
    if (result.next_header == kDummyNextHeader) return fail(EspStatus::dummy_packet);
    out.resize(start + payload_size);
    result.status = EspStatus::ok;
    return result;
}

}  // namespace kmod_sim::crypto
