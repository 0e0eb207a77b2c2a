// The raw IP sockets of the packet ports (DESIGN.md "At run time"): one sender per address
// family writing whole packets (IP_HDRINCL; an IPv6 IPPROTO_RAW socket includes the header
// too), and receivers for the protocols KLIPS registered or tunnelled: ESP 50, AH 51,
// IPComp 108, IPv4 4 and IPv6 41, each in both families. The kernel hands receivers a copy of
// every such packet addressed to this host, reassembled; it has no handler of its own for
// them unless xfrm modules are loaded, and sends no "protocol unreachable" while a raw socket
// took the packet. Sending and receiving both need CAP_NET_RAW.
#pragma once

#include <sys/socket.h>

#include <netinet/in.h>

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "unique_fd.h"

namespace kmod_sim::daemon {

// Packets handled per system call, and per turn of a port's loop.
inline constexpr size_t kPacketBatch = 32;

class RawSender {
public:
    // `device` empty: packets are routed by their destination alone (those the engine sends
    // back towards the host: ICMP errors, held packets). Otherwise routed out of `device`
    // only, as KLIPS routed its output through the attached physical device. 0 or errno,
    // with the failing step in *what.
    int open(std::string_view device, std::string* what);

    // Queues a copy of one whole IPv4 or IPv6 packet; sent at flush(), or when the batch is
    // full. A packet of no family, or of one that has no socket, is dropped; so is one the
    // kernel refuses (ENOBUFS, or EMSGSIZE when the MTU shrank), as a busy interface would.
    void queue(std::span<const uint8_t> packet);
    void flush();

private:
    struct Batch {
        UniqueFd fd;
        size_t count = 0;
        std::array<std::vector<uint8_t>, kPacketBatch> packets;
        std::array<sockaddr_in6, kPacketBatch> names{};  // sockaddr_in fits in one
        std::array<iovec, kPacketBatch> iov{};
        std::array<mmsghdr, kPacketBatch> messages{};
    };
    void flush(Batch& batch);

    Batch v4_, v6_;
};

class RawReceivers {
public:
    struct Socket {
        UniqueFd fd;
        int family;
        uint8_t protocol;
    };

    // Opens the ten receivers, bound to `device` (so that each attached device sees its own
    // traffic), non-blocking. IPv6 is left out where the host has none. 0 or errno.
    int open(std::string_view device, std::string* what);
    const std::vector<Socket>& sockets() const { return sockets_; }

    // Reads what `socket` has, up to kPacketBatch packets, each a whole IP packet (for IPv6,
    // whose raw sockets give only the payload, the base header rebuilt from the addresses,
    // hop limit and traffic class). Valid until the next receive.
    std::span<const std::span<const uint8_t>> receive(const Socket& socket);

private:
    static constexpr size_t kIpv6Header = 40;
    static constexpr size_t kMaxPacket = 65535 + kIpv6Header;
    struct Slot {
        std::vector<uint8_t> buffer = std::vector<uint8_t>(kMaxPacket);
        sockaddr_in6 name{};
        alignas(cmsghdr) std::array<uint8_t, 256> control{};
        iovec iov{};
    };
    std::vector<Socket> sockets_;
    std::vector<Slot> slots_;
    std::array<mmsghdr, kPacketBatch> messages_{};
    std::vector<std::span<const uint8_t>> received_;
};

}  // namespace kmod_sim::daemon
