// Huge pages for the big buffers a /proc listing fills once and frees (a snapshot of a
// million rows, the text): glibc gets each from a fresh mmap, and faulting it in 4 KiB at a
// time costs more than filling it (about 0.9 ms per MB here, against 0.2 ms with 2 MiB pages).
// Only advice: where transparent huge pages are off, nothing changes.
#pragma once

#include <sys/mman.h>

#include <cstddef>
#include <cstdint>

namespace kmod_sim {

// Asks for huge pages over the 2 MiB-aligned part of [data, data + bytes) not touched yet.
// Small buffers are left alone (they come from the heap and are reused).
inline void advise_huge_pages(const void* data, size_t bytes) {
    constexpr uintptr_t kHuge = uintptr_t{2} << 20;
    if (bytes < 4 * kHuge) return;
    const uintptr_t begin = (reinterpret_cast<uintptr_t>(data) + kHuge - 1) & ~(kHuge - 1);
    const uintptr_t end = (reinterpret_cast<uintptr_t>(data) + bytes) & ~(kHuge - 1);
    if (end > begin) (void)madvise(reinterpret_cast<void*>(begin), end - begin, MADV_HUGEPAGE);
}

}  // namespace kmod_sim
