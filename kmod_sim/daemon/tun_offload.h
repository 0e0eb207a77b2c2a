// Segmentation and coalescing for ipsecN's TUN device with offloads (IFF_VNET_HDR): what
// the kernel's GSO and GRO would do on a real NIC, done here so that one read or write moves
// many TCP segments. Each TUN read and write costs a system call, which dominates the
// per-packet cost of the packet ports (see README "Benchmarks"); the engine itself still sees
// every segment as the wire packet it will be (ESP and AH are applied per segment, RFC 4303
// §3.3.4), so counters, sequence numbers and replay windows are those of ordinary packets.
//
// Every read and write starts with a struct virtio_net_hdr (<linux/virtio_net.h>, native
// byte order):
// - read: a TCP super-packet (gso_type TCPV4/TCPV6, segments of gso_size bytes) or a packet
//   whose transport checksum is partial (NEEDS_CSUM: the field holds the pseudo-header sum,
//   the rest is to be summed from csum_start). TunSegmenter gives back whole packets with
//   complete checksums (RFC 793 §3.1, RFC 8200 §8.1).
// - write: TunCoalescer joins consecutive IPv4 TCP segments of one flow that the kernel's
//   GRO would join (same addresses, ports, ACK, window, options, TOS, TTL and DF; contiguous
//   sequence numbers, and identifications too without DF; equal sizes but for a shorter last
//   one; no flags but ACK, and PSH on the last), and consecutive IPv4 UDP datagrams of one
//   flow of equal size (a shorter last one) that carry a checksum, into one super-packet (TCPV4, or UDP_L4 as UDP GSO) that the kernel segments again
//   where it must: at the latest, a UDP socket gets its datagrams one by one. Only packets
//   whose checksum is right join (GRO checks too). Anything else is written alone, in order.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace kmod_sim::daemon {

// struct virtio_net_hdr and its constants, from <linux/virtio_net.h> (which C++ cannot
// include: another struct there has a member named `class`).
struct VnetHeader {
    uint8_t flags;
    uint8_t gso_type;
    uint16_t hdr_len;      // the headers' length
    uint16_t gso_size;     // each segment's payload
    uint16_t csum_start;   // where the transport checksum's sum starts
    uint16_t csum_offset;  // the checksum field, from csum_start
};
inline constexpr size_t kVnetHeaderSize = sizeof(VnetHeader);
inline constexpr uint8_t kVnetNeedsCsum = 1;  // VIRTIO_NET_HDR_F_NEEDS_CSUM
inline constexpr uint8_t kVnetGsoNone = 0, kVnetGsoTcpv4 = 1, kVnetGsoTcpv6 = 4, kVnetGsoEcn = 0x80;

class TunSegmenter {
public:
    // `frame`: one TUN read, the virtio_net_hdr first. The packets in it, each complete;
    // empty when the frame is malformed or of a kind not offered (UDP GSO). Valid until the
    // next call.
    std::span<const std::span<const uint8_t>> split(std::span<uint8_t> frame);

private:
    std::vector<uint8_t> segments_;                 // the segments, back to back
    std::vector<std::span<const uint8_t>> packets_;
};

class TunCoalescer {
public:
    static constexpr size_t kMaxSegments = 64;
    static constexpr size_t kMaxSize = 65535;  // an IPv4 total length

    // `udp`: whether the kernel takes UDP GSO frames (Linux 6.2 and later; tun_device.h).
    TunCoalescer(int tun_fd, bool udp) : fd_(tun_fd), udp_(udp) {}

    // A packet for the host: joined to the pending super-packet, or written (after it).
    void add(std::span<const uint8_t> packet);
    // Writes what is pending. Call at the end of every batch.
    void flush();

    // For tests: what would be written, instead of writing to a descriptor.
    using Sink = void (*)(void* context, std::span<const uint8_t> frame);
    TunCoalescer(Sink sink, void* context, bool udp = true) : sink_(sink), context_(context), udp_(udp) {}

private:
    bool joins(std::span<const uint8_t> packet) const;
    void start(std::span<const uint8_t> packet);
    void write_alone(std::span<const uint8_t> packet);
    void emit(std::span<const uint8_t> frame);

    int fd_ = -1;
    Sink sink_ = nullptr;
    void* context_ = nullptr;
    bool udp_ = true;
    std::vector<uint8_t> pending_;  // virtio_net_hdr, then the first segment's headers and the payloads
    size_t segments_ = 0;
    size_t header_size_ = 0;        // IP + TCP or UDP of the first segment
    size_t segment_size_ = 0;       // the first segment's payload: the GSO size
    uint32_t next_seq_ = 0;
    bool closed_ = false;           // a shorter or PSH segment ended it
    std::vector<uint8_t> alone_;    // a single packet with its zero header
};

}  // namespace kmod_sim::daemon
