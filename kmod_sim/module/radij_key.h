// The key of KLIPS's eroute radix tree ("radij"): a packet's or an eroute's selector packed
// into W big-endian 64-bit words, so that comparing words compares KLIPS's key bytes.
//
//   IPv4 (W = 2): word 0 = src(32) dst(32); word 1 = proto(8) sport(16) dport(16) 0(24)
//   IPv6 (W = 5): words 0-1 = src, words 2-3 = dst, word 4 = proto sport dport 0
//
// The header bytes of KLIPS's sockaddr_encap (length, family, type) are the same for every
// key of one family, so they are left out; IPv4 and IPv6 live in separate trees, IPv4 first
// (KLIPS's sen_type 1 < 2).
#pragma once

#include <array>
#include <bit>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <span>

#include "kmod_sim/lib/ip_address.h"

namespace kmod_sim {

template <size_t W>
struct RadijKey {
    static constexpr size_t kWords = W;
    static constexpr int kBits = static_cast<int>(W * 64);

    std::array<uint64_t, W> w{};

    friend bool operator==(const RadijKey& a, const RadijKey& b) {
        uint64_t x = 0;  // word by word, inline (the defaulted == calls memcmp)
        for (size_t i = 0; i < W; ++i) x |= a.w[i] ^ b.w[i];
        return x == 0;
    }
    friend std::strong_ordering operator<=>(const RadijKey&, const RadijKey&) = default;

    RadijKey operator&(const RadijKey& m) const {
        RadijKey out;
        for (size_t i = 0; i < W; ++i) out.w[i] = w[i] & m.w[i];
        return out;
    }

    // Bit `index`, counted from the most significant bit of word 0.
    bool bit(int index) const {
        return (w[static_cast<size_t>(index) / 64] >> (63 - index % 64)) & 1;
    }

    // The first bit where the keys differ, or -1 when they are equal.
    int first_difference(const RadijKey& other) const {
        for (size_t i = 0; i < W; ++i)
            if (uint64_t x = w[i] ^ other.w[i]) return static_cast<int>(i * 64) + std::countl_zero(x);
        return -1;
    }

    // (this XOR other) AND mask == 0: `other` falls inside this masked key.
    bool matches(const RadijKey& other, const RadijKey& mask) const {
        uint64_t x = 0;
        for (size_t i = 0; i < W; ++i) x |= (w[i] ^ other.w[i]) & mask.w[i];
        return x == 0;
    }

    // Every bit of `other` is set here too, and they differ (BSD's rn_refines).
    bool strictly_refines(const RadijKey& other) const {
        for (size_t i = 0; i < W; ++i)
            if ((w[i] & other.w[i]) != other.w[i]) return false;
        return *this != other;
    }

    size_t hash() const {
        uint64_t h = 0x9e3779b97f4a7c15ull;
        for (uint64_t x : w) {
            h ^= x;
            h *= 0xff51afd7ed558ccdull;
            h ^= h >> 32;
        }
        return static_cast<size_t>(h);
    }
};

using RadijKey4 = RadijKey<2>;
using RadijKey6 = RadijKey<5>;

namespace radij_detail {
inline uint64_t load_be(std::span<const uint8_t> bytes, size_t from, size_t count) {
    uint64_t v = 0;
    for (size_t i = 0; i < count; ++i) v = v << 8 | bytes[from + i];
    return v;
}
inline void store_be(uint64_t v, std::span<uint8_t> bytes, size_t from, size_t count) {
    for (size_t i = count; i-- > 0; v >>= 8) bytes[from + i] = static_cast<uint8_t>(v);
}
}  // namespace radij_detail

// Packs src, dst (both of the key's family: IPv4 for W = 2, IPv6 for W = 5), the transport
// protocol and the ports (host order).
template <size_t W>
RadijKey<W> pack_radij_key(const IpAddress& src, const IpAddress& dst, uint8_t proto,
                           uint16_t sport, uint16_t dport) {
    using radij_detail::load_be;
    static_assert(W == 2 || W == 5, "RadijKey is 2 words (IPv4) or 5 words (IPv6)");
    RadijKey<W> key;
    if constexpr (W == 2) {
        key.w[0] = load_be(src.bytes(), 0, 4) << 32 | load_be(dst.bytes(), 0, 4);
    } else {
        key.w[0] = load_be(src.bytes(), 0, 8);
        key.w[1] = load_be(src.bytes(), 8, 8);
        key.w[2] = load_be(dst.bytes(), 0, 8);
        key.w[3] = load_be(dst.bytes(), 8, 8);
    }
    key.w[W - 1] = uint64_t{proto} << 56 | uint64_t{sport} << 40 | uint64_t{dport} << 24;
    return key;
}

// The parts of a key, the inverse of pack_radij_key.
template <size_t W>
IpAddress radij_key_src(const RadijKey<W>& key) {
    using radij_detail::store_be;
    if constexpr (W == 2) {
        return IpAddress::v4(static_cast<uint32_t>(key.w[0] >> 32));
    } else {
        std::array<uint8_t, 16> b{};
        store_be(key.w[0], b, 0, 8);
        store_be(key.w[1], b, 8, 8);
        return IpAddress::from_bytes(AddressFamily::inet6, b);
    }
}

template <size_t W>
IpAddress radij_key_dst(const RadijKey<W>& key) {
    using radij_detail::store_be;
    if constexpr (W == 2) {
        return IpAddress::v4(static_cast<uint32_t>(key.w[0]));
    } else {
        std::array<uint8_t, 16> b{};
        store_be(key.w[2], b, 0, 8);
        store_be(key.w[3], b, 8, 8);
        return IpAddress::from_bytes(AddressFamily::inet6, b);
    }
}

template <size_t W>
uint8_t radij_key_proto(const RadijKey<W>& key) { return static_cast<uint8_t>(key.w[W - 1] >> 56); }
template <size_t W>
uint16_t radij_key_sport(const RadijKey<W>& key) { return static_cast<uint16_t>(key.w[W - 1] >> 40); }
template <size_t W>
uint16_t radij_key_dport(const RadijKey<W>& key) { return static_cast<uint16_t>(key.w[W - 1] >> 24); }

}  // namespace kmod_sim
