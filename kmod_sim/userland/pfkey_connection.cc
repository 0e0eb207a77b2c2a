#include "pfkey_connection.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <algorithm>

namespace kmod_sim::userland {

std::optional<PfkeyConnection> PfkeyConnection::open(const std::string& path, int* error) {
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    if (path.size() >= sizeof address.sun_path) {
        *error = ENAMETOOLONG;
        return std::nullopt;
    }
    std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
    const int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        *error = errno;
        return std::nullopt;
    }
    if (connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
        *error = errno;
        close(fd);
        return std::nullopt;
    }
    return PfkeyConnection(fd);
}

PfkeyConnection::PfkeyConnection(int fd)
    : fd_(fd), pid_(static_cast<uint32_t>(getpid())), buffer_(64 * 1024) {}

PfkeyConnection::PfkeyConnection(PfkeyConnection&& other) noexcept
    : fd_(other.fd_), pid_(other.pid_), next_seq_(other.next_seq_), buffer_(std::move(other.buffer_)),
      batch_buffer_(std::move(other.batch_buffer_)) {
    other.fd_ = -1;
}

PfkeyConnection& PfkeyConnection::operator=(PfkeyConnection&& other) noexcept {
    std::swap(fd_, other.fd_);
    std::swap(pid_, other.pid_);
    std::swap(next_seq_, other.next_seq_);
    std::swap(buffer_, other.buffer_);
    std::swap(batch_buffer_, other.batch_buffer_);
    return *this;
}

PfkeyConnection::~PfkeyConnection() {
    if (fd_ >= 0) close(fd_);
}

int PfkeyConnection::send(pfkey::Message& message) {
    message.seq = next_seq_++;
    message.pid = pid_;
    auto bytes = pfkey::encode(message);
    if (!bytes) return EINVAL;
    const int error = send_bytes(*bytes);
    std::memset(bytes->data(), 0, bytes->size());  // it may carry keys
    return error;
}

int PfkeyConnection::send_bytes(std::span<const uint8_t> datagram) {
    for (;;) {
        const ssize_t n = ::send(fd_, datagram.data(), datagram.size(), MSG_NOSIGNAL);
        if (n >= 0) return 0;
        if (errno != EINTR) return errno;
    }
}

int PfkeyConnection::send_all(std::span<const std::span<const uint8_t>> datagrams) {
    constexpr size_t kBatch = 64;
    mmsghdr headers[kBatch];
    iovec vectors[kBatch];
    for (size_t at = 0; at < datagrams.size();) {
        const size_t count = std::min(kBatch, datagrams.size() - at);
        for (size_t i = 0; i < count; ++i) {
            vectors[i] = {const_cast<uint8_t*>(datagrams[at + i].data()), datagrams[at + i].size()};
            headers[i] = {};
            headers[i].msg_hdr.msg_iov = &vectors[i];
            headers[i].msg_hdr.msg_iovlen = 1;
        }
        const int sent = sendmmsg(fd_, headers, static_cast<unsigned>(count), MSG_NOSIGNAL);
        if (sent < 0) {
            if (errno == EINTR) continue;
            return errno;
        }
        at += static_cast<size_t>(sent);
    }
    return 0;
}

int PfkeyConnection::receive_available(int timeout_ms, std::vector<pfkey::Message>* messages) {
    pollfd p{fd_, POLLIN, 0};
    int ready;
    while ((ready = poll(&p, 1, timeout_ms)) < 0 && errno == EINTR) {
    }
    if (ready < 0) return errno;
    if (ready == 0) return ETIMEDOUT;
    constexpr size_t kSlots = 64;
    constexpr size_t kSlot = 4096;  // answers are small; a longer one comes back truncated and is skipped
    if (batch_buffer_.size() < kSlots * kSlot) batch_buffer_.resize(kSlots * kSlot);
    mmsghdr headers[kSlots];
    iovec vectors[kSlots];
    for (size_t i = 0; i < kSlots; ++i) {
        vectors[i] = {batch_buffer_.data() + i * kSlot, kSlot};
        headers[i] = {};
        headers[i].msg_hdr.msg_iov = &vectors[i];
        headers[i].msg_hdr.msg_iovlen = 1;
    }
    int n;
    while ((n = recvmmsg(fd_, headers, kSlots, MSG_DONTWAIT, nullptr)) < 0 && errno == EINTR) {
    }
    if (n < 0) return errno == EAGAIN ? 0 : errno;
    for (int i = 0; i < n; ++i) {
        if (headers[i].msg_len == 0) return ECONNRESET;
        if (headers[i].msg_hdr.msg_flags & MSG_TRUNC) continue;
        auto message = pfkey::decode_layout(std::span(batch_buffer_.data() + i * kSlot, headers[i].msg_len));
        if (message) messages->push_back(std::move(*message));
    }
    return 0;
}

std::optional<pfkey::Message> PfkeyConnection::receive(int timeout_ms, int* error) {
    pollfd p{fd_, POLLIN, 0};
    int ready;
    while ((ready = poll(&p, 1, timeout_ms)) < 0 && errno == EINTR) {
    }
    if (ready < 0) {
        *error = errno;
        return std::nullopt;
    }
    if (ready == 0) {
        *error = ETIMEDOUT;
        return std::nullopt;
    }
    ssize_t n;
    while ((n = recv(fd_, buffer_.data(), buffer_.size(), 0)) < 0 && errno == EINTR) {
    }
    if (n < 0) {
        *error = errno;
        return std::nullopt;
    }
    if (n == 0) {
        *error = ECONNRESET;
        return std::nullopt;
    }
    auto message = pfkey::decode_layout(std::span(buffer_.data(), static_cast<size_t>(n)));
    if (!message) {
        *error = EBADMSG;
        return std::nullopt;
    }
    return *message;
}

std::optional<pfkey::Message> PfkeyConnection::request(pfkey::Message& message, int* error) {
    if ((*error = send(message)) != 0) return std::nullopt;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kAnswerTimeoutMs);
    for (;;) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) {
            *error = ETIMEDOUT;
            return std::nullopt;
        }
        auto answer = receive(static_cast<int>(left.count()), error);
        if (!answer) {
            if (*error == EBADMSG) continue;  // not ours to understand: someone else's
            return std::nullopt;
        }
        if (answer->pid == pid_ && answer->seq == message.seq && answer->type == message.type) return answer;
    }
}

}  // namespace kmod_sim::userland
