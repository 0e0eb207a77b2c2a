#include "secret_bytes.h"

#include <cstring>
#include <new>
#include <utility>

#include "sodium_init.h"

namespace kmod_sim::crypto {

SecretBytes::SecretBytes(size_t size) {
    if (size == 0) return;
    ensure_sodium();
    void* p = sodium_malloc(size);
    if (p == nullptr) throw std::bad_alloc();
    data_ = static_cast<uint8_t*>(p);
    size_ = size;
    // sodium_malloc fills with 0xdb to catch use of uninitialised memory; callers expect zeros.
    sodium_memzero(data_, size_);
}

SecretBytes::SecretBytes(std::span<const uint8_t> bytes) : SecretBytes(bytes.size()) {
    if (!bytes.empty()) std::memcpy(data_, bytes.data(), bytes.size());
}

SecretBytes::~SecretBytes() { release(); }

SecretBytes::SecretBytes(SecretBytes&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)), size_(std::exchange(other.size_, 0)) {}

SecretBytes& SecretBytes::operator=(SecretBytes&& other) noexcept {
    if (this != &other) {
        release();
        data_ = std::exchange(other.data_, nullptr);
        size_ = std::exchange(other.size_, 0);
    }
    return *this;
}

void SecretBytes::release() noexcept {
    if (data_ == nullptr) return;
    // sodium_free zeroes too; the explicit wipe keeps that promise visible here.
    sodium_memzero(data_, size_);
    sodium_free(data_);
    data_ = nullptr;
    size_ = 0;
}

}  // namespace kmod_sim::crypto
