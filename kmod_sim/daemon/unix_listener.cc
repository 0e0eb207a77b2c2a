#include "unix_listener.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace kmod_sim::daemon {

std::optional<std::string> listen_seqpacket(const std::string& path, int* fd_out) {
    auto failed = [](const std::string& what) -> std::optional<std::string> {
        return what + ": " + std::strerror(errno);
    };
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    if (path.size() >= sizeof address.sun_path) return "socket path too long: " + path;
    std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
    const int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return failed("socket");
    *fd_out = fd;
    if (unlink(path.c_str()) != 0 && errno != ENOENT) return failed("cannot remove stale " + path);
    // Created 0600 from the start: no moment in which another user could connect.
    const mode_t old_mask = umask(0177);
    const int bound = bind(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address);
    umask(old_mask);
    if (bound != 0) return failed("cannot bind " + path);
    if (listen(fd, SOMAXCONN) != 0) return failed("cannot listen on " + path);
    return std::nullopt;
}

int accept_trusted(int listen_fd, uid_t own_uid) {
    for (;;) {
        const int fd = accept4(listen_fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) return -1;  // EAGAIN, or a peer that left before we got to it
        ucred peer{};
        socklen_t length = sizeof peer;
        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &peer, &length) == 0 && (peer.uid == own_uid || peer.uid == 0)) {
            return fd;
        }
        close(fd);
    }
}

}  // namespace kmod_sim::daemon
