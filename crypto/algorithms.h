// The ESP and AH algorithms kmod-sim implements (DESIGN.md "Algorithms"), with the sizes the
// RFCs fix for them. libsodium provides every one; AES-256-GCM only on CPUs with AES-NI and
// PCLMUL, which available() reports.
#pragma once

#include <cstdint>

namespace kmod_sim::crypto {

// ESP encryption.
enum class Cipher {
    null,               // RFC 2410: integrity comes from an HMAC
    aes256_gcm16,       // RFC 4106, 16-byte ICV
    chacha20_poly1305,  // RFC 7634
};

// ESP and AH integrity (RFC 4868).
enum class Integrity {
    none,               // with an AEAD cipher
    hmac_sha2_256_128,
    hmac_sha2_512_256,
};

struct CipherInfo {
    uint16_t key_bits;   // what the SA is given: the cipher key plus the salt
    uint16_t salt_bits;  // the nonce's fixed part, from the end of the key (RFC 4106 §8.1, RFC 7634 §4)
    uint16_t iv_bits;    // the explicit IV carried in each packet
    uint16_t icv_bits;   // the AEAD tag; 0 for null
};

struct IntegrityInfo {
    uint16_t key_bits;
    uint16_t icv_bits;   // the truncated HMAC carried in each packet
};

CipherInfo info(Cipher cipher);
IntegrityInfo info(Integrity integrity);

// "chacha20-poly1305", "hmac-sha2-256-128", …: for messages.
const char* to_string(Cipher cipher);
const char* to_string(Integrity integrity);

// Whether this machine can run the algorithm (AES-256-GCM needs the CPU's AES instructions).
bool available(Cipher cipher);

}  // namespace kmod_sim::crypto
