#include "pfkey_server.h"

#include <poll.h>
#include <string.h>  // explicit_bzero
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <new>

#include "unix_listener.h"

namespace kmod_sim::daemon {

namespace {

constexpr uint64_t kListenTag = 1;  // epoll tags; anything else is a Client*
constexpr uint64_t kSignalTag = 2;
constexpr uint64_t kEventTag = 3;
constexpr size_t kSlots = 64;        // datagrams taken per recvmmsg
constexpr size_t kBatch = 64;        // datagrams given per sendmmsg
constexpr size_t kOwnBacklog = 1024; // own answers waiting before we stop reading the client

std::string errno_text(const std::string& what) { return what + ": " + std::strerror(errno); }

bool peer_hung_up(int fd) {
    pollfd p{fd, POLLRDHUP, 0};
    return poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR));
}

}  // namespace

PfkeyServer::PfkeyServer(PfkeyHandler& handler) : handler_(handler), own_uid_(geteuid()) {
    // Left uninitialised: a slot's pages are touched only as far as datagrams fill them.
    for (size_t i = 0; i < kSlots; ++i) buffers_.push_back(std::make_unique_for_overwrite<uint8_t[]>(kMaxDatagram));
}

PfkeyServer::~PfkeyServer() { close_all(); }

std::optional<std::string> PfkeyServer::listen(const std::string& path) {
    epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
    if (epoll_fd_ < 0) return errno_text("epoll_create1");
    clients_.attach(epoll_fd_);
    event_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (event_fd_ < 0) return errno_text("eventfd");
    if (auto error = listen_seqpacket(path, &listen_fd_)) return error;
    path_ = path;
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = kListenTag;
    if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, listen_fd_, &ev) != 0) return errno_text("epoll_ctl");
    ev.data.u64 = kEventTag;
    if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, event_fd_, &ev) != 0) return errno_text("epoll_ctl");
    return std::nullopt;
}

// ---- messages from the data plane (KlipsEvents), posted from packet threads

bool PfkeyServer::acquire(std::vector<uint8_t> message) {
    if (esp_listeners_.load(std::memory_order_relaxed) == 0) return false;  // KLIPS: EPROTONOSUPPORT
    return post(Posted{std::move(message), true});
}

void PfkeyServer::expire(std::vector<uint8_t> message) { post(Posted{std::move(message), false}); }

bool PfkeyServer::post(Posted posted) {
    {
        std::lock_guard lock(posted_mutex_);
        if (posted_.size() >= kMaxQueued) return false;  // nobody is reading them: as a full socket, lost
        posted_.push_back(std::move(posted));
    }
    const uint64_t one = 1;
    [[maybe_unused]] ssize_t n = write(event_fd_, &one, sizeof one);
    return true;
}

void PfkeyServer::deliver_posted() {
    uint64_t count;
    [[maybe_unused]] ssize_t n = read(event_fd_, &count, sizeof count);
    std::deque<Posted> posted;
    {
        std::lock_guard lock(posted_mutex_);
        posted.swap(posted_);
    }
    for (Posted& p : posted) {
        for (auto& client : clients_) {
            if (client->dead || client->others.size() >= kMaxQueued) continue;
            if (p.esp_registered_only && !(client->state.registered_satypes & (1u << pfkey::kSaTypeEsp))) continue;
            client->others.push_back(p.message);
        }
    }
}

void PfkeyServer::count_esp_listeners() {
    uint32_t n = 0;
    for (const auto& client : clients_) {
        if (!client->dead && (client->state.registered_satypes & (1u << pfkey::kSaTypeEsp))) ++n;
    }
    esp_listeners_.store(n, std::memory_order_relaxed);
}

int PfkeyServer::run(int signal_fd) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = kSignalTag;
    epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, signal_fd, &ev);
    epoll_event events[64];
    for (;;) {
        const int n = epoll_wait(epoll_fd_, events, 64, -1);
        if (n < 0) {
            if (errno == EINTR) continue;
            return 0;
        }
        for (int i = 0; i < n; ++i) {
            const uint64_t tag = events[i].data.u64;
            if (tag == kListenTag) {
                clients_.accept_all(listen_fd_, own_uid_);
            } else if (tag == kEventTag) {
                deliver_posted();
            } else if (tag == kSignalTag) {
                signalfd_siginfo info{};
                if (read(signal_fd, &info, sizeof info) == sizeof info) return static_cast<int>(info.ssi_signo);
            } else {
                serve(Clients::of(tag), events[i].events);
            }
        }
        // Send what this round produced; a client whose socket is full waits for EPOLLOUT.
        for (auto& client : clients_) {
            if (!client->dead && !client->writing && (!client->own.empty() || !client->others.empty())) {
                flush(*client);
            }
        }
        clients_.reap();
        count_esp_listeners();
    }
}

void PfkeyServer::serve(Client& client, uint32_t events) {
    if (!readable(client, events, [&] { flush(client); })) return;
    mmsghdr headers[kSlots];
    iovec vectors[kSlots];
    for (size_t i = 0; i < kSlots; ++i) {
        vectors[i] = {buffers_[i].get(), kMaxDatagram};
        headers[i] = {};
        headers[i].msg_hdr.msg_iov = &vectors[i];
        headers[i].msg_hdr.msg_iovlen = 1;
    }
    const int n = recvmmsg(client.fd, headers, kSlots, MSG_DONTWAIT, nullptr);
    if (n < 0) {
        if (errno != EAGAIN && errno != EINTR) client.dead = true;
        return;
    }
    for (int i = 0; i < n && !client.dead; ++i) {
        const size_t length = headers[i].msg_len;
        // SOCK_SEQPACKET reads end-of-file as an empty record: tell it from an empty datagram.
        if (length == 0 && ((events & (EPOLLRDHUP | EPOLLHUP)) || peer_hung_up(client.fd))) {
            client.dead = true;
            break;
        }
        handle_datagram(client, std::span(buffers_[i].get(), length),
                        (headers[i].msg_hdr.msg_flags & MSG_TRUNC) != 0);
    }
    if ((events & (EPOLLRDHUP | EPOLLHUP)) && n < static_cast<int>(kSlots)) client.dead = true;
}

void PfkeyServer::handle_datagram(Client& client, std::span<uint8_t> datagram, bool truncated) {
    answers_.clear();
    const uint32_t registered_before = client.state.registered_satypes;
    try {
        if (truncated) {
            answers_.push_back({PfkeyAnswer::Audience::sender, pfkey_error_answer(datagram, EMSGSIZE)});
        } else {
            copy_to_promiscuous(client, datagram);
            handler_.handle(datagram, client.state, &answers_);
        }
    } catch (const std::bad_alloc&) {
        answers_.clear();
        answers_.push_back({PfkeyAnswer::Audience::sender, pfkey_error_answer(datagram, ENOMEM)});
    }
    explicit_bzero(datagram.data(), datagram.size());  // it may have carried keys
    // A REGISTER counts for ACQUIRE before its reply can reach the client.
    if (client.state.registered_satypes != registered_before) count_esp_listeners();
    for (PfkeyAnswer& answer : answers_) {
        if (answer.audience == PfkeyAnswer::Audience::all) {
            for (auto& other : clients_) {
                if (other.get() == &client || other->dead) continue;
                if (other->others.size() < kMaxQueued) other->others.push_back(answer.message);
            }
        }
        client.own.push_back(std::move(answer.message));
    }
    if (client.own.size() >= kOwnBacklog && client.reading) {
        // It is not reading its answers: stop reading its questions.
        clients_.want(client, false, client.writing);
    }
}

void PfkeyServer::copy_to_promiscuous(const Client& sender, std::span<const uint8_t> datagram) {
    const bool any = std::any_of(clients_.begin(), clients_.end(), [&](const auto& c) {
        return c.get() != &sender && !c->dead && c->state.promiscuous;
    });
    if (!any) return;
    // RFC 2367 §3.1.14: a copy of what others send, but never their keys.
    std::vector<uint8_t> copy(datagram.begin(), datagram.end());
    if (auto message = pfkey::decode_layout(datagram); message && (message->key_auth || message->key_encrypt)) {
        for (auto* key : {&message->key_auth, &message->key_encrypt}) {
            if (*key) explicit_bzero((*key)->bytes.data(), (*key)->bytes.size());
            key->reset();
        }
        auto encoded = pfkey::encode(*message);
        explicit_bzero(copy.data(), copy.size());
        if (!encoded) return;
        copy = std::move(*encoded);
    }
    for (auto& other : clients_) {
        if (other.get() == &sender || other->dead || !other->state.promiscuous) continue;
        if (other->others.size() < kMaxQueued) other->others.push_back(copy);
    }
}

void PfkeyServer::flush(Client& client) {
    while (!client.dead && (!client.own.empty() || !client.others.empty())) {
        mmsghdr headers[kBatch];
        iovec vectors[kBatch];
        size_t count = 0;
        for (auto* queue : {&client.own, &client.others}) {
            for (size_t i = 0; i < queue->size() && count < kBatch; ++i, ++count) {
                vectors[count] = {(*queue)[i].data(), (*queue)[i].size()};
                headers[count] = {};
                headers[count].msg_hdr.msg_iov = &vectors[count];
                headers[count].msg_hdr.msg_iovlen = 1;
            }
        }
        const int sent = sendmmsg(client.fd, headers, static_cast<unsigned>(count), MSG_DONTWAIT | MSG_NOSIGNAL);
        if (sent < 0) {
            if (errno == EAGAIN || errno == ENOBUFS) break;
            if (errno == EINTR) continue;
            client.dead = true;  // EPIPE, ECONNRESET: it is gone
            return;
        }
        size_t done = static_cast<size_t>(sent);
        const size_t from_own = std::min(done, client.own.size());
        client.own.erase(client.own.begin(), client.own.begin() + static_cast<ptrdiff_t>(from_own));
        client.others.erase(client.others.begin(), client.others.begin() + static_cast<ptrdiff_t>(done - from_own));
        if (done < count) break;  // the socket is full
    }
    const bool pending = !client.own.empty() || !client.others.empty();
    // Reading resumes once half the backlog is gone (hysteresis keeps epoll_ctl calls rare).
    const bool reading = client.own.size() < kOwnBacklog / 2 || (client.reading && client.own.size() < kOwnBacklog);
    clients_.want(client, reading, pending);
}

void PfkeyServer::close_all() {
    clients_.close_all();
    if (listen_fd_ >= 0) {
        close(listen_fd_);
        listen_fd_ = -1;
        unlink(path_.c_str());
    }
    if (epoll_fd_ >= 0) {
        close(epoll_fd_);
        epoll_fd_ = -1;
    }
    if (event_fd_ >= 0) {
        close(event_fd_);
        event_fd_ = -1;
    }
}

}  // namespace kmod_sim::daemon
