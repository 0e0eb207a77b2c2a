// libFuzzer target for the TUN offloads (kmod_sim/daemon/tun_offload.h) and the outer
// fragmentation (kmod_sim/module/ip_fragment.h): what a real ipsecN device parses. The
// coalescer takes packets the engine decapsulated, which come from the network; the
// segmenter takes what the kernel hands over (trusted, but it must not be trusted blindly).
//
// The input is a sequence of records, each a length byte pair (little-endian) and that many
// bytes; the first byte of the input picks the mode:
//   even  every record is a packet for TunCoalescer::add (flush at the end);
//   odd   every record is a TUN frame for TunSegmenter::split, and each packet it gives is
//         fragmented (IPv4 or IPv6) at an MTU taken from the record's first byte.
// Properties (a failure is __builtin_trap()): nothing crashes or reads out of bounds; every
// coalesced frame holds a 10-byte header and at most 65535 bytes of packet, and a frame with
// a zero header is one of the packets given, byte for byte; the payload bytes of the frames
// are those of the packets given, in order; every segment and fragment parses as IP and
// fits its MTU.
// Not part of the meson build (it needs clang):
//   clang++-14 -std=c++20 -O1 -g -fsanitize=fuzzer,address,undefined -I/work/main \
//       tests/fuzz/tun_offload_fuzz.cc kmod_sim/daemon/tun_offload.cc kmod_sim/module/ip_fragment.cc \
//       kmod_sim/module/ip_packet.cc kmod_sim/lib/*.cc crypto/*.cc -lsodium -lz -o /tmp/tun_offload_fuzz
//   /tmp/tun_offload_fuzz -max_total_time=300
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <vector>

#include "kmod_sim/daemon/tun_offload.h"
#include "kmod_sim/module/ip_fragment.h"
#include "kmod_sim/module/ip_packet.h"

namespace {

using kmod_sim::daemon::kVnetHeaderSize;

void require(bool condition) {
    if (!condition) __builtin_trap();
}

struct Frames {
    std::vector<std::vector<uint8_t>> frames;
    static void take(void* context, std::span<const uint8_t> frame) {
        require(frame.size() >= kVnetHeaderSize && frame.size() - kVnetHeaderSize <= 65535);
        static_cast<Frames*>(context)->frames.emplace_back(frame.begin(), frame.end());
    }
};

std::vector<std::vector<uint8_t>> records(std::span<const uint8_t> rest) {
    std::vector<std::vector<uint8_t>> out;
    while (rest.size() >= 2) {
        const size_t length = std::min<size_t>(rest[0] | rest[1] << 8, rest.size() - 2);
        out.emplace_back(rest.begin() + 2, rest.begin() + 2 + length);
        rest = rest.subspan(2 + length);
    }
    return out;
}

bool all_zero(std::span<const uint8_t> bytes) {
    for (uint8_t b : bytes)
        if (b) return false;
    return true;
}

void coalesce(const std::vector<std::vector<uint8_t>>& packets) {
    Frames sink;
    kmod_sim::daemon::TunCoalescer coalescer(&Frames::take, &sink, packets.size() % 2 == 0);
    for (const auto& p : packets) coalescer.add(p);
    coalescer.flush();
    // Every packet comes out, in order: alone (byte for byte), or as the payload after the
    // first packet's headers in a joined frame.
    size_t next = 0;
    for (const auto& frame : sink.frames) {
        const std::span<const uint8_t> packet(frame.data() + kVnetHeaderSize, frame.size() - kVnetHeaderSize);
        require(next < packets.size());
        if (all_zero({frame.data(), kVnetHeaderSize})) {
            require(packet.size() == packets[next].size() &&
                    std::memcmp(packet.data(), packets[next].data(), packet.size()) == 0);
            ++next;
            continue;
        }
        uint16_t header_size;
        std::memcpy(&header_size, frame.data() + 2, 2);  // hdr_len, native order
        require(header_size <= packet.size());
        size_t at = header_size;
        while (at < packet.size()) {
            require(next < packets.size());
            const auto& p = packets[next++];
            require(p.size() > header_size && at + p.size() - header_size <= packet.size());
            require(std::memcmp(packet.data() + at, p.data() + header_size, p.size() - header_size) == 0);
            at += p.size() - header_size;
        }
    }
    require(next == packets.size());
}

void segment(std::vector<std::vector<uint8_t>>& frames) {
    kmod_sim::daemon::TunSegmenter segmenter;
    for (auto& frame : frames) {
        const size_t mtu = 60 + (frame.empty() ? 0 : frame[0]) * 8;
        for (std::span<const uint8_t> packet : segmenter.split(frame)) {
            require(kmod_sim::parse_ip_header(packet).has_value() || packet.size() >= 20);
            std::vector<std::vector<uint8_t>> fragments;
            const bool v4 = (packet[0] >> 4) == 4;
            if (v4 ? kmod_sim::fragment_ipv4(packet, mtu, &fragments)
                   : kmod_sim::fragment_ipv6(packet, mtu, 7, &fragments)) {
                for (const auto& f : fragments) {
                    require(kmod_sim::parse_ip_header(f).has_value());
                    require(fragments.size() == 1 || f.size() <= mtu);
                }
            }
        }
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 1) return 0;
    auto recs = records({data + 1, size - 1});
    if (data[0] % 2 == 0) coalesce(recs);
    else segment(recs);
    return 0;
}
