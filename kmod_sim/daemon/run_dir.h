// The instance's run directory (DESIGN.md "At run time"): DIR/kmod-sim.pid doubles as the lock
// that makes one live instance own DIR. The lock is an flock(2) on the open pid file, so the
// kernel releases it when the instance dies, however it dies: a `kill -9` leaves no false owner.
#pragma once

#include <optional>
#include <string>

#include "kmod_sim/lib/inject_protocol.h"

namespace kmod_sim::daemon {

class RunDir {
public:
    RunDir() = default;
    ~RunDir();  // unlocks; release() first to remove the pid file
    RunDir(const RunDir&) = delete;
    RunDir& operator=(const RunDir&) = delete;

    // Creates DIR (0755, parents included) and takes the lock. The reason on failure, e.g.
    // "/run/kmod-sim is in use by another kmod-sim (pid 812)".
    [[nodiscard]] std::optional<std::string> acquire(const std::string& dir);

    // Writes this process's pid: the sign that the instance is ready.
    [[nodiscard]] std::optional<std::string> write_pid();

    // Makes DIR/proc a symlink to `mountpoint` (absolute) when the view is mounted elsewhere
    // (--mount), so that the ipsec commands find it in DIR either way. The reason when DIR/proc
    // is something else that cannot be replaced (a directory that is not empty, a mount).
    [[nodiscard]] std::optional<std::string> link_view(const std::string& mountpoint);

    // Removes the pid file, then unlocks.
    void release();

    const std::string& path() const { return dir_; }
    std::string pid_file() const { return dir_ + "/kmod-sim.pid"; }
    std::string pfkey_socket() const { return dir_ + "/pfkey"; }
    std::string packet_socket() const { return dir_ + "/" + inject::kSocketName; }
    std::string view() const { return dir_ + "/proc"; }

private:
    std::string dir_;
    int lock_fd_ = -1;
};

}  // namespace kmod_sim::daemon
