// libsodium must be initialised before sodium_malloc or the AES-GCM CPU check; sodium_init()
// is idempotent and thread-safe, so every crypto/ entry point that needs it calls this.
#pragma once

#include <sodium.h>

#include <stdexcept>

namespace kmod_sim::crypto {

inline void ensure_sodium() {
    static const bool ok = sodium_init() >= 0;
    if (!ok) throw std::runtime_error("libsodium failed to initialise");
}

}  // namespace kmod_sim::crypto
