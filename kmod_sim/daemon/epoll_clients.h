// The clients of one of the daemon's SEQPACKET sockets (DIR/pfkey, DIR/packets) as an epoll
// loop keeps them: each registered with its own address as the epoll tag, read only while it
// keeps up with its answers, written when answers wait, forgotten once dead.
#pragma once

#include <sys/epoll.h>
#include <sys/types.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <vector>

#include "unix_listener.h"

namespace kmod_sim::daemon {

struct EpollClient {
    int fd = -1;
    bool reading = true;   // EPOLLIN armed
    bool writing = false;  // EPOLLOUT armed
    bool dead = false;
};

// The first steps with a client's epoll events, the same for both sockets: an error kills
// it, EPOLLOUT calls flush(); true only when there is something to read and it is read.
template <typename Flush>
bool readable(EpollClient& client, uint32_t events, Flush&& flush) {
    if (client.dead) return false;
    if (events & EPOLLERR) {
        client.dead = true;
        return false;
    }
    if (events & EPOLLOUT) flush();
    if (!(events & EPOLLIN) || !client.reading || client.dead) {
        if ((events & (EPOLLHUP | EPOLLRDHUP)) && !(events & EPOLLIN)) client.dead = true;
        return false;
    }
    return true;
}

// Client derives from EpollClient.
template <typename Client>
class EpollClients {
public:
    void attach(int epoll_fd) { epoll_fd_ = epoll_fd; }

    // Takes every peer waiting on listen_fd that accept_trusted lets in.
    void accept_all(int listen_fd, uid_t own_uid) {
        for (int fd; (fd = accept_trusted(listen_fd, own_uid)) >= 0;) {
            auto client = std::make_unique<Client>();
            client->fd = fd;
            epoll_event ev{};
            ev.events = EPOLLIN | EPOLLRDHUP;
            ev.data.u64 = reinterpret_cast<uint64_t>(client.get());
            if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev) != 0) {
                close(fd);
                continue;
            }
            list_.push_back(std::move(client));
        }
    }

    // The client whose address is an epoll tag.
    static Client& of(uint64_t tag) { return *reinterpret_cast<Client*>(tag); }

    // Arms EPOLLIN and EPOLLOUT as client.reading and client.writing say.
    void rearm(Client& client) {
        epoll_event ev{};
        ev.events = EPOLLRDHUP | (client.reading ? EPOLLIN : 0u) | (client.writing ? EPOLLOUT : 0u);
        ev.data.u64 = reinterpret_cast<uint64_t>(&client);
        if (epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, client.fd, &ev) != 0) client.dead = true;
    }

    // Sets reading and writing, rearming only when they change (epoll_ctl is a system call).
    void want(Client& client, bool reading, bool writing) {
        if (reading == client.reading && writing == client.writing) return;
        client.reading = reading;
        client.writing = writing;
        rearm(client);
    }

    // Closes and forgets the dead clients.
    void reap() {
        auto gone = std::remove_if(list_.begin(), list_.end(), [&](const std::unique_ptr<Client>& c) {
            if (!c->dead) return false;
            epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, c->fd, nullptr);
            close(c->fd);
            return true;
        });
        list_.erase(gone, list_.end());
    }

    void close_all() {
        for (auto& client : list_) close(client->fd);
        list_.clear();
    }

    auto begin() { return list_.begin(); }
    auto end() { return list_.end(); }
    auto begin() const { return list_.begin(); }
    auto end() const { return list_.end(); }

private:
    int epoll_fd_ = -1;
    std::vector<std::unique_ptr<Client>> list_;
};

}  // namespace kmod_sim::daemon
