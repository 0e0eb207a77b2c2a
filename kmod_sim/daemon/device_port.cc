#include "device_port.h"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <random>
#include <system_error>

#include "crypto/algorithms.h"
#include "kmod_sim/module/icmp_error.h"
#include "kmod_sim/module/ip_fragment.h"
#include "kmod_sim/module/ip_packet.h"
#include "host_network.h"
#include "tun_device.h"

namespace kmod_sim::daemon {

namespace {

constexpr uint64_t kWakeTag = 0;
constexpr uint64_t kTunTag = 1;
constexpr uint64_t kFirstReceiverTag = 2;  // + the receiver's index
constexpr size_t kMaxRead = kVnetHeaderSize + 65536;
constexpr uint32_t kIpv6MinimumMtu = 1280;
constexpr uint32_t kIpv4MinimumMtu = 68;  // RFC 791

uint32_t bits_to_bytes(uint16_t bits) { return bits / 8u; }

bool may_fragment(std::span<const uint8_t> inner, const IpHeader& h) {
    return h.version == 4 && (inner[6] & 0x40) == 0;  // DF clear; IPv6 is never fragmented on the way
}

}  // namespace

uint32_t DevicePort::chain_overhead_reserve() {
    using namespace crypto;
    uint32_t esp_auth = 0;  // IV and ICV together
    for (Cipher c : {Cipher::aes256_gcm16, Cipher::chacha20_poly1305}) {
        esp_auth = std::max(esp_auth, bits_to_bytes(info(c).iv_bits) + bits_to_bytes(info(c).icv_bits));
    }
    uint32_t hmac = 0;
    for (Integrity i : {Integrity::hmac_sha2_256_128, Integrity::hmac_sha2_512_256}) {
        hmac = std::max(hmac, bits_to_bytes(info(i).icv_bits));
    }
    esp_auth = std::max(esp_auth, hmac);  // ESP with null encryption carries only the HMAC
    const uint32_t tunnel = 40;                    // an IPv6 outer header
    const uint32_t ipcomp = 4;
    const uint32_t esp = 8 + esp_auth + 2 + 3;     // SPI and sequence, trailer, padding to 4
    const uint32_t ah = (12 + hmac + 7) / 8 * 8;   // padded to 8 bytes for IPv6 (RFC 4302 §3.3.3.2.1)
    return tunnel + ipcomp + esp + ah;
}

uint32_t DevicePort::tun_mtu_for(uint32_t physical_mtu) {
    const uint32_t reserve = chain_overhead_reserve();
    uint32_t mtu = physical_mtu > reserve ? physical_mtu - reserve : kIpv4MinimumMtu;
    mtu = std::min(mtu, Tncfg::kAttachedMtu);
    if (mtu < kIpv6MinimumMtu && physical_mtu >= kIpv6MinimumMtu) mtu = kIpv6MinimumMtu;
    return std::max(mtu, kIpv4MinimumMtu);
}

DevicePort::DevicePort(Klips& klips, std::string virtual_name, std::string physical, uint32_t physical_mtu)
    : klips_(klips), virtual_name_(std::move(virtual_name)), physical_(std::move(physical)),
      physical_mtu_(physical_mtu), listed_mtu_(physical_mtu), coalescer_(-1, false), read_buffer_(kMaxRead),
      fragment_id_(std::random_device{}()) {}

DevicePort::Opened DevicePort::open(Klips& klips, const std::string& virtual_name, const std::string& physical,
                                    uint32_t physical_mtu) {
    Opened result;
    std::unique_ptr<DevicePort> port(new DevicePort(klips, virtual_name, physical, physical_mtu));
    auto failed = [&result](int error, std::string what) {
        result.error = error;
        result.what = std::move(what);
        return std::move(result);
    };
    // Raw sockets first: without CAP_NET_RAW nothing is created at all.
    std::string what;
    // ENODEV while binding to the physical device: it went since X_TNCFG checked it (ENXIO,
    // tncfg's "Is the physical device valid?").
    auto physical_failed = [&](int error) { return failed(error == ENODEV ? ENXIO : error, what); };
    if (int error = port->wire_.open(physical, &what)) return physical_failed(error);
    if (int error = port->host_.open("", &what)) return failed(error, what);
    if (int error = port->receivers_.open(physical, &what)) return physical_failed(error);
    port->control_ = UniqueFd(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    if (!port->control_) return failed(errno, "socket");
    const uint32_t mtu = tun_mtu_for(physical_mtu);
    TunOpened tun = open_tun(virtual_name, mtu);
    if (!tun.fd) return failed(tun.error, tun.what);
    port->tun_ = std::move(tun.fd);
    port->coalescer_ = TunCoalescer(port->tun_.get(), tun.udp_gso);

    port->transmit_epoll_ = UniqueFd(epoll_create1(EPOLL_CLOEXEC));
    port->receive_epoll_ = UniqueFd(epoll_create1(EPOLL_CLOEXEC));
    if (!port->transmit_epoll_ || !port->receive_epoll_) return failed(errno, "epoll_create1");
    port->wake_ = UniqueFd(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
    if (!port->wake_) return failed(errno, "eventfd");
    auto watch = [](const UniqueFd& epoll, int fd, uint64_t tag) {
        epoll_event ev{};
        ev.events = EPOLLIN;
        ev.data.u64 = tag;
        return epoll_ctl(epoll.get(), EPOLL_CTL_ADD, fd, &ev) == 0;
    };
    bool watched = watch(port->transmit_epoll_, port->wake_.get(), kWakeTag) &&
                   watch(port->transmit_epoll_, port->tun_.get(), kTunTag) &&
                   watch(port->receive_epoll_, port->wake_.get(), kWakeTag);
    const auto& sockets = port->receivers_.sockets();
    for (size_t i = 0; i < sockets.size() && watched; ++i) {
        watched = watch(port->receive_epoll_, sockets[i].fd.get(), kFirstReceiverTag + i);
    }
    if (!watched) return failed(errno, "epoll_ctl");
    DevicePort* self = port.get();
    try {
        port->transmit_thread_ = std::thread([self] { self->loop(self->transmit_epoll_.get()); });
        port->receive_thread_ = std::thread([self] { self->loop(self->receive_epoll_.get()); });
    } catch (const std::system_error& e) {
        return failed(e.code().value(), "starting the packet threads");  // the destructor joins what started
    }
    result.port = std::move(port);
    result.mtu = mtu;
    return result;
}

DevicePort::~DevicePort() {
    const uint64_t one = 1;
    [[maybe_unused]] ssize_t n = write(wake_.get(), &one, sizeof one);
    if (transmit_thread_.joinable()) transmit_thread_.join();
    if (receive_thread_.joinable()) receive_thread_.join();
}

void DevicePort::loop(int epoll) {
    epoll_event events[16];
    for (;;) {
        const int n = epoll_wait(epoll, events, 16, -1);
        if (n < 0 && errno != EINTR) return;
        for (int i = 0; i < n; ++i) {
            const uint64_t tag = events[i].data.u64;
            if (tag == kWakeTag) return;
            if (tag == kTunTag) transmit_batch();
            else receive_batch(receivers_.sockets()[tag - kFirstReceiverTag]);
        }
    }
}

void DevicePort::refresh_physical_mtu() {
    const auto mtu = device_mtu_through(control_.get(), physical_);
    if (!mtu) return;
    physical_mtu_ = *mtu;
    // Rare, so the write lock is fine. Until X_TNCFG has entered the device in the tables
    // (this thread starts just before), the update is refused and tried again.
    if (physical_mtu_ != listed_mtu_ && klips_.set_physical_mtu(virtual_name_, physical_mtu_)) {
        listed_mtu_ = physical_mtu_;
    }
}

void DevicePort::transmit_batch() {
    refresh_physical_mtu();
    for (size_t i = 0; i < kPacketBatch; ++i) {
        const ssize_t n = read(tun_.get(), read_buffer_.data(), read_buffer_.size());
        if (n < 0 && errno != EAGAIN && errno != EINTR) {
            // The device was deleted behind our back (`ip link del`): stop reading it rather
            // than spin on its error; detach or --clear tidies up the rest.
            std::fprintf(stderr, "kmod-sim: %s: reading the TUN device: %s; no longer reading it\n",
                         virtual_name_.c_str(), std::strerror(errno));
            epoll_ctl(transmit_epoll_.get(), EPOLL_CTL_DEL, tun_.get(), nullptr);
            break;
        }
        if (n <= 0) break;  // EAGAIN: all read
        for (std::span<const uint8_t> packet : segmenter_.split({read_buffer_.data(), static_cast<size_t>(n)})) {
            const PacketResult result = klips_.xmit(packet, transmit_work_);
            if (result.port == PacketPort::wire) to_wire(packet, result.packet);
            else if (result.port == PacketPort::host) host_.queue(result.packet);  // %reject's ICMP
        }
    }
    wire_.flush();
    host_.flush();
}

void DevicePort::to_wire(std::span<const uint8_t> inner, std::span<const uint8_t> outer) {
    if (outer.size() <= physical_mtu_) {
        wire_.queue(outer);
        return;
    }
    const auto inner_header = parse_ip_header(inner);
    if (!inner_header) return;
    // RFC 2473 §7.1: an IPv6 packet of the minimum MTU or less is never refused; its outer
    // packet is fragmented.
    const bool small_ipv6 = inner_header->version == 6 && inner_header->total_size <= kIpv6MinimumMtu;
    if (!may_fragment(inner, *inner_header) && !small_ipv6) {
        // What the sender's packets may be so that, encapsulated the same way, they fit. ESP
        // pads to 4 bytes, so a smaller packet may need up to 3 more bytes than this one.
        const size_t overhead = outer.size() - std::min(outer.size(), inner_header->total_size) + 3;
        const uint32_t floor = inner_header->version == 4 ? kIpv4MinimumMtu : kIpv6MinimumMtu;
        const uint32_t fits = physical_mtu_ > overhead ? static_cast<uint32_t>(physical_mtu_ - overhead) : floor;
        if (icmp_too_big(inner, *inner_header, std::max(fits, floor), icmp_)) host_.queue(icmp_);
        return;
    }
    fragments_.clear();
    bool split;
    if ((outer[0] >> 4) == 4) {
        // The copy may clear DF (set for an inner IPv6 packet) and must not keep a zero ID:
        // the kernel would give each fragment a different one.
        unfragmented_.assign(outer.begin(), outer.end());
        uint8_t* h = unfragmented_.data();
        h[6] &= uint8_t(~0x40);
        if (h[4] == 0 && h[5] == 0) {
            h[4] = uint8_t(fragment_id_ >> 8);
            h[5] = uint8_t(fragment_id_ | 1);
            ++fragment_id_;
        }
        finish_ip_header(unfragmented_, size_t(h[0] & 0x0f) * 4, h[9]);  // the checksum again
        split = fragment_ipv4(unfragmented_, physical_mtu_, &fragments_);
    } else {
        split = fragment_ipv6(outer, physical_mtu_, fragment_id_++, &fragments_);
    }
    if (!split) return;  // a header the fragmenter refuses: dropped, as the kernel would
    for (const auto& fragment : fragments_) wire_.queue(fragment);
}

void DevicePort::receive_batch(const RawReceivers::Socket& socket) {
    for (std::span<const uint8_t> packet : receivers_.receive(socket)) {
        const PacketResult result = klips_.rcv(packet, receive_work_);
        // Only what the engine decapsulated goes in; anything it passed is the kernel's own
        // copy to deliver (raw sockets only ever see copies).
        if (result.verdict == PacketVerdict::delivered) coalescer_.add(result.packet);
    }
    coalescer_.flush();
}

}  // namespace kmod_sim::daemon
