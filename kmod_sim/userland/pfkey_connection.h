// A PF_KEY v2 socket to a kmod-sim instance, as the userland's pfkey_open/pfkey_write did for
// KLIPS. The daemon answers every message on the sender's socket, in order, with the reply or
// with the bare header carrying sadb_msg_errno (kmod_sim/module/pfkey_handler.h); other
// sockets' echoes arrive in between and are told apart by their pid.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "kmod_sim/lib/pfkey_message.h"

namespace kmod_sim::userland {

class PfkeyConnection {
public:
    static constexpr int kAnswerTimeoutMs = 10000;

    // Connects to the socket at `path`; nullopt with *error (an errno) when it cannot.
    static std::optional<PfkeyConnection> open(const std::string& path, int* error);

    PfkeyConnection(PfkeyConnection&& other) noexcept;
    PfkeyConnection& operator=(PfkeyConnection&& other) noexcept;
    PfkeyConnection(const PfkeyConnection&) = delete;
    ~PfkeyConnection();

    int fd() const { return fd_; }
    uint32_t pid() const { return pid_; }

    // Fills in seq (the next number) and pid (ours), encodes and sends: 0 or an errno.
    int send(pfkey::Message& message);
    int send_bytes(std::span<const uint8_t> datagram);

    // The next datagram, decoded by layout (an undecodable one comes back as EBADMSG);
    // nullopt with *error on timeout (ETIMEDOUT), end of file (ECONNRESET) or a socket error.
    // timeout_ms < 0 waits for ever.
    std::optional<pfkey::Message> receive(int timeout_ms, int* error);

    // Sends the datagrams in order, many per system call: 0 or an errno.
    int send_all(std::span<const std::span<const uint8_t>> datagrams);
    // Waits up to timeout_ms for a datagram, then takes every one already there (up to 64) in
    // one call, appending those that decode to *messages: 0, or ETIMEDOUT, ECONNRESET, an errno.
    int receive_available(int timeout_ms, std::vector<pfkey::Message>* messages);

    // Sends `message` and waits for its answer (same seq and our pid), skipping what else
    // arrives. nullopt with *error when the socket fails or no answer comes.
    std::optional<pfkey::Message> request(pfkey::Message& message, int* error);

private:
    explicit PfkeyConnection(int fd);

    int fd_ = -1;
    uint32_t pid_ = 0;
    uint32_t next_seq_ = 1;
    std::vector<uint8_t> buffer_;
    std::vector<uint8_t> batch_buffer_;
};

}  // namespace kmod_sim::userland
