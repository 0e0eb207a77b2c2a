// The daemon's two Unix sockets, DIR/pfkey and DIR/packets, are made and guarded alike:
// SOCK_SEQPACKET, created 0600 from the start, and only peers running as this process's user
// or as root are served (SO_PEERCRED: a second lock behind the file mode).
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>

namespace kmod_sim::daemon {

// Binds `path` (replacing a stale socket file: the caller holds the run directory's lock) and
// listens, non-blocking. The listening fd, or what went wrong.
[[nodiscard]] std::optional<std::string> listen_seqpacket(const std::string& path, int* fd);

// Accepts one peer, non-blocking; -1 when there is none left (EAGAIN). A peer of another user
// is closed at once and the next one tried.
int accept_trusted(int listen_fd, uid_t own_uid);

}  // namespace kmod_sim::daemon
