// The PF_KEY v2 endpoint: a Unix SOCK_SEQPACKET socket (one message per datagram, mode 0600)
// served by one epoll loop for any number of clients (DESIGN.md "At run time").
//
// Each client gets its answers in order. Answers for every socket (the echoes of ADD, X_ADDFLOW,
// …) reach the others best-effort: a socket that does not read has at most kMaxQueued of them
// waiting and loses the rest, as a full PF_KEY socket buffer lost them in KLIPS. A client's
// own answers are never dropped: while they wait, the server stops reading from that client.
// A client that sends garbage gets EINVAL answers; one that vanishes is forgotten; neither
// holds up anybody else.
//
// It is also where the data plane's ACQUIRE and EXPIRE messages go (KlipsEvents): packet
// threads post them, and the loop hands them to the sockets registered for ESP or to all.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <atomic>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "epoll_clients.h"
#include "kmod_sim/module/pfkey_handler.h"

namespace kmod_sim::daemon {

class PfkeyServer final : public KlipsEvents {
public:
    static constexpr size_t kMaxQueued = 4096;          // others' echoes waiting for a slow reader
    static constexpr size_t kMaxDatagram = 64 * 1024;   // larger ones are answered EMSGSIZE

    explicit PfkeyServer(PfkeyHandler& handler);
    ~PfkeyServer() override;
    PfkeyServer(const PfkeyServer&) = delete;
    PfkeyServer& operator=(const PfkeyServer&) = delete;

    // Binds `path` (replacing a stale socket file) with mode 0600 and listens. Accepted
    // peers must run as this process's user or as root (SO_PEERCRED).
    [[nodiscard]] std::optional<std::string> listen(const std::string& path);

    // Serves until `signal_fd` (a signalfd) is readable; returns the signal's number.
    int run(int signal_fd);

    // Closes every client and the listening socket, and removes the socket file.
    void close_all();

    // KlipsEvents, from any thread. acquire() is false when no socket is registered for ESP.
    bool acquire(std::vector<uint8_t> message) override;
    void expire(std::vector<uint8_t> message) override;

private:
    struct Client : EpollClient {
        PfkeySocket state;
        std::deque<std::vector<uint8_t>> own;     // answers to its own messages
        std::deque<std::vector<uint8_t>> others;  // echoes of other clients' messages
    };
    using Clients = EpollClients<Client>;

    void serve(Client& client, uint32_t events);
    void handle_datagram(Client& client, std::span<uint8_t> datagram, bool truncated);
    void copy_to_promiscuous(const Client& sender, std::span<const uint8_t> datagram);
    void flush(Client& client);

    struct Posted {
        std::vector<uint8_t> message;
        bool esp_registered_only;  // ACQUIRE; EXPIRE goes to every socket
    };
    bool post(Posted posted);  // false when the queue is full and the message is lost
    void deliver_posted();
    void count_esp_listeners();

    PfkeyHandler& handler_;
    std::string path_;
    int listen_fd_ = -1;
    int epoll_fd_ = -1;
    Clients clients_;
    std::vector<PfkeyAnswer> answers_;             // reused for each datagram
    std::vector<std::unique_ptr<uint8_t[]>> buffers_;  // receive slots for recvmmsg
    uid_t own_uid_;

    int event_fd_ = -1;  // wakes the loop for posted messages
    std::mutex posted_mutex_;
    std::deque<Posted> posted_;
    std::atomic<uint32_t> esp_listeners_{0};
};

}  // namespace kmod_sim::daemon
