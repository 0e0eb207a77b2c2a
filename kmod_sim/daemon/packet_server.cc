#include "packet_server.h"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <new>

#include "unix_listener.h"

namespace kmod_sim::daemon {

namespace {

using namespace inject;

constexpr uint64_t kListenTag = 1;  // epoll tags; anything else is a Client*
constexpr uint64_t kWakeTag = 2;
constexpr int kRequestsPerEvent = 64;  // then the other clients get their turn
// What one collect answer carries at most: well inside a Unix socket's default send buffer
// (about 208 KiB), which bounds a SEQPACKET message.
constexpr size_t kCollectBudget = 160 * 1024;

std::string errno_text(const std::string& what) { return what + ": " + std::strerror(errno); }

InjectOutcome outcome_of(PacketVerdict verdict) {
    switch (verdict) {
    case PacketVerdict::sent: return InjectOutcome::sent;
    case PacketVerdict::passed: return InjectOutcome::passed;
    case PacketVerdict::delivered: return InjectOutcome::delivered;
    case PacketVerdict::rejected: return InjectOutcome::rejected;
    case PacketVerdict::held: return InjectOutcome::held;
    case PacketVerdict::trapped: return InjectOutcome::trapped;
    case PacketVerdict::dropped: return InjectOutcome::dropped;
    }
    return InjectOutcome::dropped;
}

InjectPort port_of(PacketPort port) { return port == PacketPort::host ? InjectPort::host : InjectPort::wire; }

}  // namespace

PacketServer::PacketServer(Klips& klips)
    : klips_(klips), receive_buffer_(kRequestHeaderSize + kMaxPacket + 1), own_uid_(geteuid()) {}

PacketServer::~PacketServer() { stop(); }

std::optional<std::string> PacketServer::start(const std::string& path) {
    epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
    if (epoll_fd_ < 0) return errno_text("epoll_create1");
    clients_.attach(epoll_fd_);
    wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (wake_fd_ < 0) return errno_text("eventfd");
    if (auto error = listen_seqpacket(path, &listen_fd_)) return error;
    path_ = path;
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = kListenTag;
    if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, listen_fd_, &ev) != 0) return errno_text("epoll_ctl");
    ev.data.u64 = kWakeTag;
    if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, wake_fd_, &ev) != 0) return errno_text("epoll_ctl");
    thread_ = std::thread([this] { loop(); });
    return std::nullopt;
}

void PacketServer::stop() {
    if (thread_.joinable()) {
        {
            std::lock_guard lock(mutex_);
            stopping_ = true;
        }
        const uint64_t one = 1;
        [[maybe_unused]] ssize_t n = write(wake_fd_, &one, sizeof one);
        thread_.join();
    }
    clients_.close_all();
    if (listen_fd_ >= 0) {
        close(listen_fd_);
        listen_fd_ = -1;
        unlink(path_.c_str());
    }
    for (int* fd : {&epoll_fd_, &wake_fd_}) {
        if (*fd >= 0) close(*fd);
        *fd = -1;
    }
}

void PacketServer::reinject(std::vector<uint8_t> packet) {
    {
        std::lock_guard lock(mutex_);
        if (reinjected_.size() >= kMaxCollected) return;
        reinjected_.push_back(std::move(packet));
    }
    const uint64_t one = 1;
    [[maybe_unused]] ssize_t n = write(wake_fd_, &one, sizeof one);
}

void PacketServer::loop() {
    epoll_event events[64];
    for (;;) {
        const int n = epoll_wait(epoll_fd_, events, 64, -1);
        if (n < 0) {
            if (errno == EINTR) continue;
            return;
        }
        for (int i = 0; i < n; ++i) {
            const uint64_t tag = events[i].data.u64;
            if (tag == kListenTag) {
                clients_.accept_all(listen_fd_, own_uid_);
            } else if (tag == kWakeTag) {
                uint64_t count;
                [[maybe_unused]] ssize_t r = read(wake_fd_, &count, sizeof count);
                {
                    std::lock_guard lock(mutex_);
                    if (stopping_) return;
                }
                run_reinjected();
            } else {
                serve(Clients::of(tag), events[i].events);
            }
        }
        for (auto& client : clients_) {
            if (!client->dead && !client->writing && !client->answers.empty()) flush(*client);
        }
        clients_.reap();
    }
}

void PacketServer::serve(Client& client, uint32_t events) {
    if (!readable(client, events, [&] { flush(client); })) return;
    for (int i = 0; i < kRequestsPerEvent && client.answers.size() < kMaxAnswersQueued; ++i) {
        iovec vector{receive_buffer_.data(), receive_buffer_.size()};
        msghdr header{};
        header.msg_iov = &vector;
        header.msg_iovlen = 1;
        const ssize_t n = recvmsg(client.fd, &header, MSG_DONTWAIT);
        if (n < 0) {
            if (errno != EAGAIN && errno != EINTR) client.dead = true;
            break;
        }
        if (n == 0) {  // end of file (a SEQPACKET peer never sends an empty request that counts)
            client.dead = true;
            break;
        }
        std::span<const uint8_t> request(receive_buffer_.data(), static_cast<size_t>(n));
        if (header.msg_flags & MSG_TRUNC) request = request.first(receive_buffer_.size());  // refused: too long
        answer(client, request);
    }
    clients_.want(client, client.answers.size() < kMaxAnswersQueued, client.writing);
}

void PacketServer::answer(Client& client, std::span<const uint8_t> bytes) {
    std::vector<uint8_t> out;
    std::string error;
    auto request = decode_request(bytes, &error);
    if (!request) {
        // As much of the header as arrived, so that the sender can tell which request it was.
        const InjectKind kind = bytes.size() > 1 && bytes[1] >= 1 && bytes[1] <= 3 ? InjectKind(bytes[1]) : InjectKind::out;
        uint32_t tag = 0;
        if (bytes.size() >= kRequestHeaderSize) {
            tag = uint32_t{bytes[4]} << 24 | uint32_t{bytes[5]} << 16 | uint32_t{bytes[6]} << 8 | bytes[7];
        }
        encode_answer_header(kind, InjectOutcome::refused, tag, 0, "refused: " + error, out);
    } else if (request->kind == InjectKind::collect) {
        // Packets handed over before this request was sent are in: a client that saw the
        // PF_KEY reply to a REPLACEFLOW collects what it released, whatever epoll's order.
        run_reinjected();
        // As many as one answer can carry through the socket; the rest wait for the next one.
        size_t count = 0, bytes = 0;
        while (count < collected_.size() && bytes + collected_[count].bytes.size() + kPacketHeaderSize <= kCollectBudget) {
            bytes += collected_[count++].bytes.size() + kPacketHeaderSize;
        }
        std::string summary = std::to_string(count) + (count == 1 ? " packet" : " packets") +
                              " the engine sent on its own (held packets re-sent)";
        if (count < collected_.size()) summary += ", " + std::to_string(collected_.size() - count) + " more waiting";
        encode_answer_header(InjectKind::collect, InjectOutcome::collected, request->tag, static_cast<uint16_t>(count),
                             summary, out);
        for (size_t i = 0; i < count; ++i) encode_answer_packet(collected_[i].port, collected_[i].bytes, out);
        collected_.erase(collected_.begin(), collected_.begin() + static_cast<ptrdiff_t>(count));
    } else {
        try {
            const PacketResult result = request->kind == InjectKind::out ? klips_.xmit(request->packet, work_)
                                                                         : klips_.rcv(request->packet, work_);
            const bool emitted = result.port != PacketPort::none;
            encode_answer_header(request->kind, outcome_of(result.verdict), request->tag, emitted ? 1 : 0,
                                 describe(result), out);
            if (emitted) encode_answer_packet(port_of(result.port), result.packet, out);
        } catch (const std::bad_alloc&) {  // the packet is lost; the sender hears why
            out.clear();
            encode_answer_header(request->kind, InjectOutcome::refused, request->tag, 0, "refused: out of memory", out);
        }
    }
    client.answers.push_back(std::move(out));
}

void PacketServer::run_reinjected() {
    std::deque<std::vector<uint8_t>> packets;
    {
        std::lock_guard lock(mutex_);
        packets.swap(reinjected_);
    }
    for (const auto& packet : packets) {
        const PacketResult result = klips_.xmit(packet, work_);
        if (result.port == PacketPort::none) continue;
        if (ports_ && ports_->any_open()) {
            ports_->send_routed(result.packet);
            continue;
        }
        if (collected_.size() >= kMaxCollected) continue;
        collected_.push_back({port_of(result.port), std::vector<uint8_t>(result.packet.begin(), result.packet.end())});
    }
}

void PacketServer::flush(Client& client) {
    while (!client.dead && !client.answers.empty()) {
        const auto& next = client.answers.front();
        const ssize_t sent = send(client.fd, next.data(), next.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
        if (sent < 0) {
            if (errno == EAGAIN || errno == ENOBUFS) break;
            if (errno == EINTR) continue;
            client.dead = true;  // EPIPE, ECONNRESET, or EMSGSIZE: nothing more to do for it
            return;
        }
        client.answers.pop_front();
    }
    clients_.want(client, client.answers.size() < kMaxAnswersQueued, !client.answers.empty());
}

}  // namespace kmod_sim::daemon
