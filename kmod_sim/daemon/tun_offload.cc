#include "tun_offload.h"

#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "crypto/ipip.h"
#include "crypto/wire.h"

namespace kmod_sim::daemon {

using crypto::wire::get16;
using crypto::wire::get32;
using crypto::wire::put16;
using crypto::wire::put32;

namespace {

static_assert(kVnetHeaderSize == 10);

constexpr uint8_t kTcp = 6;
constexpr uint8_t kUdp = 17;
constexpr size_t kIpv6Header = 40;
constexpr uint8_t kFin = 0x01, kPsh = 0x08, kAck = 0x10, kCwr = 0x80;
constexpr size_t kMaxSegmented = 1 << 20;  // bytes of segments one read may become

// RFC 1071: the one's complement sum of 16-bit big-endian words (folded: crypto's fast
// checksum, uncomplemented), added to `sum`.
uint32_t add_words(std::span<const uint8_t> bytes, uint32_t sum = 0) {
    return sum + uint16_t(~crypto::internet_checksum(bytes));
}

uint16_t fold(uint32_t sum) {
    while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
    return uint16_t(sum);
}

// The pseudo-header of RFC 793 §3.1 / RFC 8200 §8.1, for `length` bytes of protocol `proto`.
uint32_t pseudo_header(std::span<const uint8_t> packet, uint8_t proto, size_t length) {
    const bool v6 = (packet[0] >> 4) == 6;
    uint32_t sum = add_words(packet.subspan(v6 ? 8 : 12, v6 ? 32 : 8));
    return sum + proto + uint32_t(length >> 16) + uint32_t(length & 0xffff);
}

void set_ipv4_checksum(uint8_t* ip) {
    put16(ip + 10, 0);
    put16(ip + 10, crypto::internet_checksum({ip, size_t(ip[0] & 0x0f) * 4}));
}

// A whole segment's TCP checksum, from scratch.
void set_tcp_checksum(std::span<uint8_t> packet, size_t l4) {
    const size_t length = packet.size() - l4;
    put16(packet.data() + l4 + 16, 0);
    const uint32_t sum = add_words(packet.subspan(l4), pseudo_header(packet, kTcp, length));
    put16(packet.data() + l4 + 16, uint16_t(~fold(sum)));
}

}  // namespace

// ---- TunSegmenter

std::span<const std::span<const uint8_t>> TunSegmenter::split(std::span<uint8_t> frame) {
    packets_.clear();
    if (frame.size() < kVnetHeaderSize + 20) return {};
    VnetHeader vnet;
    std::memcpy(&vnet, frame.data(), sizeof vnet);
    const std::span<uint8_t> packet = frame.subspan(kVnetHeaderSize);
    const int version = packet[0] >> 4;
    if (version != 4 && version != 6) return {};
    const size_t csum_start = vnet.csum_start;
    const uint8_t gso = vnet.gso_type & ~kVnetGsoEcn;

    if (gso == kVnetGsoNone) {
        if (vnet.flags & kVnetNeedsCsum) {
            // The field holds the pseudo-header's sum: summing on from csum_start completes it.
            const size_t field = csum_start + vnet.csum_offset;
            if (field + 2 > packet.size() || csum_start >= packet.size()) return {};
            uint16_t check = uint16_t(~fold(add_words(packet.subspan(csum_start))));
            if (check == 0 && vnet.csum_offset == 6) check = 0xffff;  // UDP sends a zero as all ones
            put16(packet.data() + field, check);
        }
        packets_.emplace_back(packet.data(), packet.size());
        return packets_;
    }
    if (gso != kVnetGsoTcpv4 && gso != kVnetGsoTcpv6) return {};
    if ((gso == kVnetGsoTcpv4) != (version == 4)) return {};

    // TCP segmentation offload: split the payload into gso_size pieces behind copies of the
    // headers, as the kernel's tcp_gso_segment does.
    const size_t l4 = csum_start;
    if (l4 < (version == 4 ? 20u : kIpv6Header) || l4 + 20 > packet.size()) return {};
    if ((packet[l4 + 12] >> 4) < 5) return {};  // a TCP header is at least 20 bytes
    const size_t header = l4 + size_t(packet[l4 + 12] >> 4) * 4;
    const size_t mss = vnet.gso_size;
    if (header > packet.size() || mss == 0) return {};
    const size_t payload = packet.size() - header;
    const size_t count = std::max<size_t>(1, (payload + mss - 1) / mss);
    if (count * (header + mss) > kMaxSegmented) return {};  // no kernel sends that; refuse, not allocate
    segments_.resize(count * (header + mss));
    const uint32_t seq = get32(packet.data() + l4 + 4);
    const uint16_t id = version == 4 ? get16(packet.data() + 4) : 0;
    const uint8_t flags = packet[l4 + 13];
    uint8_t* out = segments_.data();
    for (size_t i = 0; i < count; ++i) {
        const size_t at = i * mss;
        const size_t size = std::min(mss, payload - std::min(payload, at));
        const bool last = i + 1 == count;
        std::memcpy(out, packet.data(), header);
        std::memcpy(out + header, packet.data() + header + at, size);
        const std::span<uint8_t> segment(out, header + size);
        if (version == 4) {
            put16(out + 2, uint16_t(segment.size()));
            put16(out + 4, uint16_t(id + i));
            set_ipv4_checksum(out);
        } else {
            put16(out + 4, uint16_t(segment.size() - kIpv6Header));
        }
        put32(out + l4 + 4, seq + uint32_t(at));
        uint8_t f = flags;
        if (!last) f &= uint8_t(~(kFin | kPsh));
        if (i != 0) f &= uint8_t(~kCwr);
        out[l4 + 13] = f;
        set_tcp_checksum(segment, l4);
        packets_.emplace_back(segment.data(), segment.size());
        out += segment.size();
    }
    return packets_;
}

// ---- TunCoalescer

namespace {

constexpr uint8_t kUdpGso = 5;  // VIRTIO_NET_HDR_GSO_UDP_L4

// The headers' size (IP and TCP or UDP) when `packet` is an IPv4 TCP segment or UDP datagram
// that may start or join a super-packet, else 0: no IP options, not a fragment, some payload;
// TCP with ACK (and perhaps PSH) only; UDP with a checksum (segmentation would add one).
size_t coalescable(std::span<const uint8_t> packet, bool udp) {
    if (packet.size() < 29 || packet[0] != 0x45 || get16(packet.data() + 2) != packet.size()) return 0;
    if ((get16(packet.data() + 6) & 0x3fff) != 0) return 0;
    size_t header;
    if (packet[9] == kUdp) {
        if (!udp || get16(packet.data() + 24) != packet.size() - 20 || get16(packet.data() + 26) == 0) return 0;
        header = 28;
    } else {
        if (packet[9] != kTcp || packet.size() < 41) return 0;
        header = 20 + size_t(packet[32] >> 4) * 4;
        if (header < 40 || header >= packet.size() || (packet[33] & ~kPsh) != kAck) return 0;
    }
    // A joined packet's checksum is computed afresh by whoever segments it: a damaged one
    // must not join (as GRO checks), so that it is still dropped where it would have been.
    const uint32_t sum = add_words(packet.subspan(20), pseudo_header(packet, packet[9], packet.size() - 20));
    return fold(sum) == 0xffff ? header : 0;
}

}  // namespace

bool TunCoalescer::joins(std::span<const uint8_t> packet) const {
    if (closed_ || segments_ >= kMaxSegments || coalescable(packet, udp_) != header_size_) return false;
    const uint8_t* first = pending_.data() + kVnetHeaderSize;
    const uint8_t* p = packet.data();
    const size_t payload = packet.size() - header_size_;
    // Same TOS, DF, TTL, protocol, addresses and ports.
    if (p[1] != first[1] || p[6] != first[6] || p[8] != first[8] || p[9] != first[9]) return false;
    if (std::memcmp(p + 12, first + 12, 12) != 0) return false;
    if (payload == 0 || payload > segment_size_) return false;
    // Without DF the identifications must run on, as the kernel's segmentation will number them.
    if (!(p[6] & 0x40) && get16(p + 4) != uint16_t(get16(first + 4) + segments_)) return false;
    if (pending_.size() - kVnetHeaderSize + payload > kMaxSize) return false;
    if (p[9] == kUdp) return true;
    // TCP: the next sequence number; the same ACK, header length, window, and options
    // (timestamps) byte for byte.
    if (get32(p + 24) != next_seq_ || std::memcmp(p + 28, first + 28, 5) != 0) return false;
    return std::memcmp(p + 34, first + 34, 2) == 0 && std::memcmp(p + 40, first + 40, header_size_ - 40) == 0;
}

void TunCoalescer::start(std::span<const uint8_t> packet) {
    pending_.assign(kVnetHeaderSize, 0);
    pending_.insert(pending_.end(), packet.begin(), packet.end());
    header_size_ = coalescable(packet, udp_);
    segment_size_ = packet.size() - header_size_;
    segments_ = 1;
    closed_ = false;
    if (packet[9] == kTcp) {
        next_seq_ = get32(packet.data() + 24) + uint32_t(segment_size_);
        closed_ = packet[33] & kPsh;
    }
}

void TunCoalescer::add(std::span<const uint8_t> packet) {
    if (!pending_.empty() && joins(packet)) {
        const size_t payload = packet.size() - header_size_;
        pending_.insert(pending_.end(), packet.begin() + header_size_, packet.end());
        ++segments_;
        closed_ = payload < segment_size_;  // only the last may be shorter
        if (packet[9] == kTcp) {
            next_seq_ += uint32_t(payload);
            if (packet[33] & kPsh) {
                pending_[kVnetHeaderSize + 33] |= kPsh;  // GSO gives it to the last segment
                closed_ = true;
            }
        }
        return;
    }
    flush();
    if (coalescable(packet, udp_)) start(packet);
    else write_alone(packet);
}

void TunCoalescer::flush() {
    if (pending_.empty()) return;
    if (segments_ > 1) {
        uint8_t* ip = pending_.data() + kVnetHeaderSize;
        const size_t size = pending_.size() - kVnetHeaderSize;
        const bool udp = ip[9] == kUdp;
        put16(ip + 2, uint16_t(size));
        set_ipv4_checksum(ip);
        if (udp) put16(ip + 24, uint16_t(size - 20));
        // CHECKSUM_PARTIAL: the field carries the pseudo-header's sum, the kernel the rest.
        const size_t field = udp ? 26 : 36;
        put16(ip + field, fold(pseudo_header({ip, size}, ip[9], size - 20)));
        VnetHeader vnet{};
        vnet.flags = kVnetNeedsCsum;
        vnet.gso_type = udp ? kUdpGso : kVnetGsoTcpv4;
        vnet.hdr_len = uint16_t(header_size_);
        vnet.gso_size = uint16_t(segment_size_);
        vnet.csum_start = 20;
        vnet.csum_offset = udp ? 6 : 16;
        std::memcpy(pending_.data(), &vnet, sizeof vnet);
    }
    emit(pending_);
    pending_.clear();
    segments_ = 0;
}

void TunCoalescer::write_alone(std::span<const uint8_t> packet) {
    alone_.assign(kVnetHeaderSize, 0);
    alone_.insert(alone_.end(), packet.begin(), packet.end());
    emit(alone_);
}

void TunCoalescer::emit(std::span<const uint8_t> frame) {
    if (sink_) {
        sink_(context_, frame);
        return;
    }
    // A full queue drops the packet, as a busy interface would.
    [[maybe_unused]] const ssize_t written = write(fd_, frame.data(), frame.size());
}

}  // namespace kmod_sim::daemon
