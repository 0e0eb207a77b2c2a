// One attached ipsecN at work (DESIGN.md "At run time"): its TUN device, the raw sockets on
// its physical device, and two packet threads that move packets between them through the
// engine, in batches, one each way:
//   TUN ipsecN --read, segment--> Klips::xmit --> raw sender bound to the physical device (the wire)
//                                    --> raw sender routed by destination (ICMP back to the host)
//   raw receivers on the physical device --> Klips::rcv --> delivered: coalesced, written into ipsecN
// The threads take the engine's read lock (and each SA's own) per packet, never the PF_KEY
// loop's or the FUSE view's turn; the write lock only when the link's MTU changed. One way's packets do not wait behind the other's (a gateway's TCP
// data goes one way, its ACKs the other).
//
// Outer packets larger than the physical device's MTU (spec/dataplane.md "PMTU"): when the
// inner packet may not be fragmented (IPv4 with DF, or IPv6 above 1280 bytes) its sender
// gets ICMP "fragmentation needed" / ICMPv6 "packet too big" with the MTU that fits once
// encapsulated, and the packet is dropped; otherwise the outer packet is fragmented, and the
// peer reassembles it before its IPsec processing. The MTU is read again for every transmit
// batch, so a changed link MTU takes effect at once (and shows in ipsec_tncfg). Only the
// link's MTU is known: a smaller one further along the path is not.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "kmod_sim/module/klips.h"
#include "raw_sockets.h"
#include "tun_offload.h"
#include "unique_fd.h"

namespace kmod_sim::daemon {

class DevicePort {
public:
    // The largest outer header chain a group can add (tun over IPv6, IPComp, ESP with the
    // largest ICV, AH with the largest ICV): the TUN's MTU leaves this much room below the
    // physical device's, so that most packets need neither fragmentation nor ICMP.
    static uint32_t chain_overhead_reserve();
    // The TUN MTU for a physical MTU: room left for the chain, at most KLIPS's 16260, at least
    // IPv6's 1280 (RFC 8200 §5) where the physical MTU allows.
    static uint32_t tun_mtu_for(uint32_t physical_mtu);

    struct Opened {
        std::unique_ptr<DevicePort> port;
        int error = 0;
        std::string what;  // the failing step
        uint32_t mtu = 0;  // the TUN's
    };
    // Creates the TUN `virtual_name` and the raw sockets on `physical`, and starts the thread.
    static Opened open(Klips& klips, const std::string& virtual_name, const std::string& physical,
                       uint32_t physical_mtu);

    ~DevicePort();  // stops the threads; closing the TUN removes the device
    DevicePort(const DevicePort&) = delete;
    DevicePort& operator=(const DevicePort&) = delete;

private:
    DevicePort(Klips& klips, std::string virtual_name, std::string physical, uint32_t physical_mtu);
    // One thread's loop: `epoll` holds the wake eventfd and what the thread reads.
    void loop(int epoll);
    void transmit_batch();
    void receive_batch(const RawReceivers::Socket& socket);
    // An xmit result for the wire: sent whole, fragmented, or answered with ICMP.
    void to_wire(std::span<const uint8_t> inner, std::span<const uint8_t> outer);
    void refresh_physical_mtu();

    Klips& klips_;
    const std::string virtual_name_;
    const std::string physical_;
    uint32_t physical_mtu_;     // transmit thread: what the link takes now
    uint32_t listed_mtu_;       // what ipsec_tncfg was last told
    PacketWork transmit_work_;  // each thread's own
    PacketWork receive_work_;
    UniqueFd tun_;
    UniqueFd control_;  // ioctl socket: the physical MTU
    UniqueFd transmit_epoll_;   // the TUN
    UniqueFd receive_epoll_;    // the raw receivers
    UniqueFd wake_;     // eventfd: stop (never read, so it wakes both threads)
    RawSender wire_;    // bound to the physical device
    RawSender host_;    // routed by destination: ICMP errors back to senders
    RawReceivers receivers_;
    TunSegmenter segmenter_;    // what a TUN read gave, as packets
    TunCoalescer coalescer_;    // delivered packets into the TUN
    std::vector<uint8_t> read_buffer_;
    std::vector<uint8_t> icmp_;
    std::vector<uint8_t> unfragmented_;  // an outer IPv4 packet made ready for fragmenting
    std::vector<std::vector<uint8_t>> fragments_;
    uint32_t fragment_id_;
    std::thread transmit_thread_;
    std::thread receive_thread_;
};

}  // namespace kmod_sim::daemon
