// The keyed HMAC of RFC 4868 (HMAC-SHA2-256-128, HMAC-SHA2-512-256) for ESP and AH. The
// inner and outer pads are hashed once, when the SA is made; each packet copies that state,
// which saves two compression blocks per packet (spec/dataplane.md §2).
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <span>

#include "algorithms.h"
#include "secret_bytes.h"

namespace kmod_sim::crypto {

class Hmac {
public:
    // Any key length works (RFC 2104); SAs check RFC 4868's sizes before they get here.
    // Throws std::invalid_argument for Integrity::none.
    Hmac(Integrity integrity, std::span<const uint8_t> key);

    Integrity integrity() const { return integrity_; }
    size_t output_size() const;  // the full HMAC: 32 or 64
    size_t icv_size() const;     // the truncated ICV carried in packets: 16 or 32

    // The full HMAC over the concatenated parts into out[0, output_size()).
    void compute(std::initializer_list<std::span<const uint8_t>> parts, std::span<uint8_t> out) const;
    // The truncated ICV into out[0, icv_size()).
    void icv(std::initializer_list<std::span<const uint8_t>> parts, std::span<uint8_t> out) const;
    // Constant-time comparison of a received ICV (crypto_verify_16/32).
    bool verify(std::initializer_list<std::span<const uint8_t>> parts, std::span<const uint8_t> icv) const;

private:
    Integrity integrity_;
    SecretBytes state_;  // the keyed crypto_auth_hmacsha{256,512}_state
};

}  // namespace kmod_sim::crypto
