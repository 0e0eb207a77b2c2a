// One ESP SA's transform (RFC 4303): builds and opens the bytes from the ESP header to the ICV.
// The SA owns its expanded keys (AES-GCM key schedule, keyed HMAC states, ChaCha20 key and
// salt) in sodium_malloc memory, computed once here and wiped when the SA goes. Nothing in a
// packet path allocates beyond the output vector the caller passes, whose capacity is reused.
//
// Who does what around open(): the caller reads header() for the SPI and the low sequence
// number, asks its ReplayWindow (and esn_guess_high with ESN), then calls open() and, only if
// the ICV passed, accepts the number in the window.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "algorithms.h"
#include "hmac.h"
#include "secret_bytes.h"

namespace kmod_sim::crypto {

// Why an inbound ESP packet was dropped (spec/dataplane.md §1.10).
enum class EspStatus {
    ok,
    too_short,       // shorter than header + IV + trailer + ICV
    icv_mismatch,    // authentication failed; nothing was decrypted into the output
    bad_pad_length,  // pad length larger than the plaintext holds
    bad_padding,     // padding bytes not 1, 2, 3, ... (RFC 4303 §2.4)
    dummy_packet,    // next header 59 (RFC 4303 §2.6): the ICV passed, drop silently
};

const char* to_string(EspStatus status);

struct EspHeader {
    uint32_t spi;
    uint32_t seq_low;
};

struct EspOpened {
    EspStatus status = EspStatus::too_short;
    uint8_t next_header = 0;
    uint64_t seq = 0;  // with ESN, the guessed high half joined to the received low half
    explicit operator bool() const { return status == EspStatus::ok; }
};

class Esp {
public:
    static constexpr size_t kHeaderSize = 8;  // SPI, sequence number
    static constexpr uint8_t kDummyNextHeader = 59;

    // "" when the combination and key length are usable here, else what is wrong and what is
    // accepted. Keys: AEADs take the cipher key then the 4-byte salt (RFC 4106 §8.1, RFC 7634
    // §2); NULL takes the HMAC key (32 or 64 bytes, RFC 4868 §2.1.1).
    static std::string check(Cipher cipher, Integrity integrity, size_t key_size);

    // Throws std::invalid_argument with check()'s message. iv_mask is what the sequence
    // number is XORed with to make the AEAD IV; it is drawn at random unless a test gives it.
    Esp(Cipher cipher, Integrity integrity, std::span<const uint8_t> key, bool esn,
        std::optional<uint64_t> iv_mask = std::nullopt);

    Cipher cipher() const { return cipher_; }
    Integrity integrity() const { return integrity_; }
    bool esn() const { return esn_; }
    size_t iv_size() const { return iv_size_; }
    size_t icv_size() const { return icv_size_; }
    // The ESP bytes seal() appends for a payload of this size.
    size_t sealed_size(size_t payload_size) const;

    // Appends the ESP header, IV, encrypted payload and trailer, and ICV to out (so a caller
    // may have written the outer header first). seq is the full 64-bit counter; without ESN it
    // must fit in 32 bits. Returns false and appends nothing for seq 0 or an out-of-range seq:
    // repeating a number would repeat an AEAD nonce.
    [[nodiscard]] bool seal(uint32_t spi, uint64_t seq, std::span<const uint8_t> payload,
                            uint8_t next_header, std::vector<uint8_t>& out) const;

    // The SPI and low sequence number, before any crypto; nullopt when too short to hold them.
    static std::optional<EspHeader> header(std::span<const uint8_t> esp);

    // Verifies and decrypts esp (ESP header to ICV). seq_high is the ESN guess (ignored
    // without ESN). On ok, out holds exactly the payload; on any failure out is empty.
    EspOpened open(std::span<const uint8_t> esp, uint32_t seq_high, std::vector<uint8_t>& out) const;
    // The same, appending the payload to out (so a caller may have written the IP header
    // first); on any failure out is back to the size it had.
    EspOpened open_append(std::span<const uint8_t> esp, uint32_t seq_high, std::vector<uint8_t>& out) const;

private:
    void encrypt(std::span<const uint8_t> aad, const uint8_t* nonce, std::span<uint8_t> text,
                 uint8_t* icv) const;
    bool decrypt(std::span<const uint8_t> aad, const uint8_t* nonce, std::span<const uint8_t> cipher_text,
                 const uint8_t* icv, uint8_t* plain) const;

    Cipher cipher_;
    Integrity integrity_;
    bool esn_;
    size_t iv_size_;
    size_t icv_size_;
    uint64_t iv_mask_ = 0;
    SecretBytes aead_;            // AES-GCM: the beforenm state; ChaCha20: the key. Then the salt.
    std::optional<Hmac> hmac_;    // NULL encryption's integrity
};

}  // namespace kmod_sim::crypto
