// Key material and key-derived state (HMAC pads, the AES-GCM key schedule). It lives in
// sodium_malloc memory: guard pages around it, mlock'd so it never reaches swap, and wiped
// when freed. Move-only, so a key has one owner and one wipe; there is deliberately no way to
// print it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <iosfwd>
#include <span>

namespace kmod_sim::crypto {

class SecretBytes {
public:
    SecretBytes() = default;
    // size zeroed bytes. Throws std::bad_alloc when libsodium cannot map or lock the pages.
    explicit SecretBytes(size_t size);
    // A copy of bytes; the caller wipes its own copy.
    explicit SecretBytes(std::span<const uint8_t> bytes);
    ~SecretBytes();

    SecretBytes(SecretBytes&& other) noexcept;
    SecretBytes& operator=(SecretBytes&& other) noexcept;
    SecretBytes(const SecretBytes&) = delete;
    SecretBytes& operator=(const SecretBytes&) = delete;

    uint8_t* data() { return data_; }
    const uint8_t* data() const { return data_; }
    size_t size() const { return size_; }
    bool empty() const { return size_ == 0; }
    std::span<uint8_t> bytes() { return {data_, size_}; }
    std::span<const uint8_t> bytes() const { return {data_, size_}; }

    // Keys never reach a stream, a log or a test failure message.
    friend std::ostream& operator<<(std::ostream&, const SecretBytes&) = delete;

private:
    void release() noexcept;

    uint8_t* data_ = nullptr;
    size_t size_ = 0;
};

}  // namespace kmod_sim::crypto
