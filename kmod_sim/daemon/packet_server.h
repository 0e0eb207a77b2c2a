// The packet injection endpoint, DIR/packets (protocol: kmod_sim/lib/inject_protocol.h): a
// test or `ipsec inject` hands the engine one IP packet per message, as if it entered ipsecN
// from the host (Klips::xmit) or arrived from the network (Klips::rcv), and gets back what the
// engine emitted. Needs no privilege: the socket is the user's own, like DIR/pfkey.
// (Real traffic enters and leaves through the ipsecN devices instead: device_ports.h.)
//
// It runs its own thread and epoll loop, the daemon's packet thread: packets never wait for
// PF_KEY work and the other way round beyond the module's lock. Packets the engine sends on
// its own (held packets re-sent when SADB_X_ADDFLOW replaces their %hold eroute) are queued
// for the next `collect` request.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "device_ports.h"
#include "epoll_clients.h"
#include "kmod_sim/lib/inject_protocol.h"
#include "kmod_sim/module/klips.h"

namespace kmod_sim::daemon {

class PacketServer {
public:
    static constexpr size_t kMaxCollected = 1024;  // emitted on the engine's own, awaiting collect
    static constexpr size_t kMaxAnswersQueued = 64;  // per client, before we stop reading it

    explicit PacketServer(Klips& klips);
    ~PacketServer();
    PacketServer(const PacketServer&) = delete;
    PacketServer& operator=(const PacketServer&) = delete;

    // Where packets the engine sends on its own go once any ipsecN is real: the network,
    // rather than `collect`. Set before start().
    void send_emitted_through(DevicePorts* ports) { ports_ = ports; }

    // Binds `path` (0600) and starts the packet thread.
    [[nodiscard]] std::optional<std::string> start(const std::string& path);
    // Stops the thread, closes every client and removes the socket file.
    void stop();

    // From any thread: a packet for Klips::xmit on the packet thread, its result kept for
    // `collect` (PfkeyHost::reinject).
    void reinject(std::vector<uint8_t> packet);

private:
    struct Client : EpollClient {
        std::deque<std::vector<uint8_t>> answers;
    };
    using Clients = EpollClients<Client>;

    void loop();
    void serve(Client& client, uint32_t events);
    void answer(Client& client, std::span<const uint8_t> request);
    void run_reinjected();
    void flush(Client& client);

    Klips& klips_;
    DevicePorts* ports_ = nullptr;
    PacketWork work_;
    std::vector<uint8_t> receive_buffer_;
    std::string path_;
    int listen_fd_ = -1;
    int epoll_fd_ = -1;
    int wake_fd_ = -1;  // eventfd: reinjected packets, or stop
    std::thread thread_;
    bool stopping_ = false;  // under mutex_
    uid_t own_uid_;
    Clients clients_;

    std::mutex mutex_;
    std::deque<std::vector<uint8_t>> reinjected_;  // under mutex_
    std::deque<inject::InjectedPacket> collected_; // packet thread only
};

}  // namespace kmod_sim::daemon
