#include "raw_sockets.h"

#include <net/if.h>
#include <netinet/ip.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace kmod_sim::daemon {

namespace {

constexpr uint8_t kReceived[] = {50, 51, 108, 4, 41};  // ESP, AH, IPComp, IPv4, IPv6
constexpr int kBufferBytes = 4 << 20;                   // room for bursts at line rate

int fail(std::string* what, std::string step) {
    const int error = errno;
    *what = std::move(step);
    return error;
}

// Binds to `device` unless empty; larger buffers where allowed (root may exceed rmem_max).
int prepare(int fd, std::string_view device, std::string* what) {
    if (!device.empty()) {
        const std::string name(device);
        if (setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, name.c_str(), static_cast<socklen_t>(name.size())) != 0) {
            return fail(what, "SO_BINDTODEVICE " + name);
        }
    }
    setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &kBufferBytes, sizeof kBufferBytes);
    setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &kBufferBytes, sizeof kBufferBytes);
    return 0;
}

}  // namespace

// ---- RawSender

int RawSender::open(std::string_view device, std::string* what) {
    v4_.fd = UniqueFd(socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_RAW));
    if (!v4_.fd) return fail(what, "raw IPv4 socket");
    const int on = 1;
    if (setsockopt(v4_.fd.get(), IPPROTO_IP, IP_HDRINCL, &on, sizeof on) != 0) return fail(what, "IP_HDRINCL");
    if (int error = prepare(v4_.fd.get(), device, what)) return error;
    v6_.fd = UniqueFd(socket(AF_INET6, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_RAW));
    if (!v6_.fd) {
        if (errno == EAFNOSUPPORT) return 0;  // a host without IPv6
        return fail(what, "raw IPv6 socket");
    }
    return prepare(v6_.fd.get(), device, what);
}

void RawSender::queue(std::span<const uint8_t> packet) {
    const int version = packet.empty() ? 0 : packet[0] >> 4;
    Batch* batch = version == 4 && packet.size() >= 20 ? &v4_ : version == 6 && packet.size() >= 40 ? &v6_ : nullptr;
    if (!batch || !batch->fd) return;
    const size_t i = batch->count++;
    batch->packets[i].assign(packet.begin(), packet.end());
    sockaddr_in6& name = batch->names[i];
    std::memset(&name, 0, sizeof name);
    socklen_t name_size;
    if (version == 4) {
        // The kernel routes by this address; the header goes out as written.
        auto* in = reinterpret_cast<sockaddr_in*>(&name);
        in->sin_family = AF_INET;
        std::memcpy(&in->sin_addr, packet.data() + 16, 4);
        name_size = sizeof(sockaddr_in);
    } else {
        name.sin6_family = AF_INET6;
        std::memcpy(&name.sin6_addr, packet.data() + 24, 16);
        name_size = sizeof(sockaddr_in6);
    }
    batch->iov[i] = iovec{batch->packets[i].data(), batch->packets[i].size()};
    msghdr& m = batch->messages[i].msg_hdr;
    m = msghdr{};
    m.msg_name = &name;
    m.msg_namelen = name_size;
    m.msg_iov = &batch->iov[i];
    m.msg_iovlen = 1;
    if (batch->count == kPacketBatch) flush(*batch);
}

void RawSender::flush() {
    flush(v4_);
    flush(v6_);
}

void RawSender::flush(Batch& batch) {
    for (size_t done = 0; done < batch.count;) {
        // Never blocks: a full send buffer drops, as a busy interface would, and detach
        // never waits on a stuck queue.
        const int sent = sendmmsg(batch.fd.get(), &batch.messages[done], static_cast<unsigned>(batch.count - done),
                                  MSG_DONTWAIT);
        if (sent < 0) {
            if (errno == EINTR) continue;
            ++done;  // drop this one packet: the rest still go
            continue;
        }
        done += static_cast<size_t>(sent);
    }
    batch.count = 0;
}

// ---- RawReceivers

int RawReceivers::open(std::string_view device, std::string* what) {
    sockets_.clear();
    for (int family : {AF_INET, AF_INET6}) {
        for (uint8_t protocol : kReceived) {
            UniqueFd fd(socket(family, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, protocol));
            if (!fd) {
                if (family == AF_INET6 && errno == EAFNOSUPPORT) break;
                return fail(what, std::string(family == AF_INET ? "raw IPv4" : "raw IPv6") + " socket for protocol " +
                                      std::to_string(protocol));
            }
            if (int error = prepare(fd.get(), device, what)) return error;
            if (family == AF_INET6) {
                const int on = 1;
                for (int option : {IPV6_RECVPKTINFO, IPV6_RECVHOPLIMIT, IPV6_RECVTCLASS}) {
                    if (setsockopt(fd.get(), IPPROTO_IPV6, option, &on, sizeof on) != 0) return fail(what, "IPV6_RECV*");
                }
            }
            sockets_.push_back(Socket{std::move(fd), family, protocol});
        }
    }
    slots_.resize(kPacketBatch);
    received_.reserve(kPacketBatch);
    return 0;
}

std::span<const std::span<const uint8_t>> RawReceivers::receive(const Socket& socket) {
    received_.clear();
    const bool v6 = socket.family == AF_INET6;
    for (size_t i = 0; i < kPacketBatch; ++i) {
        Slot& slot = slots_[i];
        // IPv6 payloads land after room for the header we rebuild.
        const size_t offset = v6 ? kIpv6Header : 0;
        slot.iov = iovec{slot.buffer.data() + offset, slot.buffer.size() - offset};
        msghdr& m = messages_[i].msg_hdr;
        m = msghdr{};
        m.msg_name = &slot.name;
        m.msg_namelen = sizeof slot.name;
        m.msg_iov = &slot.iov;
        m.msg_iovlen = 1;
        if (v6) {
            m.msg_control = slot.control.data();
            m.msg_controllen = slot.control.size();
        }
    }
    int count;
    do count = recvmmsg(socket.fd.get(), messages_.data(), kPacketBatch, MSG_DONTWAIT, nullptr);
    while (count < 0 && errno == EINTR);
    for (int i = 0; i < count; ++i) {
        Slot& slot = slots_[static_cast<size_t>(i)];
        const msghdr& m = messages_[static_cast<size_t>(i)].msg_hdr;
        const size_t length = messages_[static_cast<size_t>(i)].msg_len;
        if (m.msg_flags & MSG_TRUNC) continue;
        if (!v6) {
            received_.emplace_back(slot.buffer.data(), length);
            continue;
        }
        uint8_t* h = slot.buffer.data();
        std::memset(h, 0, kIpv6Header);
        bool have_destination = false;
        int hop_limit = 64, traffic_class = 0;
        for (cmsghdr* c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(const_cast<msghdr*>(&m), c)) {
            if (c->cmsg_level != IPPROTO_IPV6) continue;
            if (c->cmsg_type == IPV6_PKTINFO) {
                in6_pktinfo info;
                std::memcpy(&info, CMSG_DATA(c), sizeof info);
                std::memcpy(h + 24, &info.ipi6_addr, 16);
                have_destination = true;
            } else if (c->cmsg_type == IPV6_HOPLIMIT) {
                std::memcpy(&hop_limit, CMSG_DATA(c), sizeof hop_limit);
            } else if (c->cmsg_type == IPV6_TCLASS) {
                std::memcpy(&traffic_class, CMSG_DATA(c), sizeof traffic_class);
            }
        }
        if (!have_destination || length > 65535) continue;
        h[0] = static_cast<uint8_t>(0x60 | ((traffic_class >> 4) & 0x0f));
        h[1] = static_cast<uint8_t>((traffic_class & 0x0f) << 4);
        h[4] = static_cast<uint8_t>(length >> 8);
        h[5] = static_cast<uint8_t>(length);
        h[6] = socket.protocol;
        h[7] = static_cast<uint8_t>(hop_limit);
        std::memcpy(h + 8, &slot.name.sin6_addr, 16);
        received_.emplace_back(h, kIpv6Header + length);
    }
    return received_;
}

}  // namespace kmod_sim::daemon
