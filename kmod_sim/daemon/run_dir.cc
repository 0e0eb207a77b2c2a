#include "run_dir.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace kmod_sim::daemon {

namespace {

std::string errno_text(const std::string& what) { return what + ": " + std::strerror(errno); }

// mkdir -p, each new directory 0755 so that other users can reach the view.
std::optional<std::string> make_directories(const std::string& dir) {
    for (size_t at = 1; at <= dir.size(); ++at) {
        if (at != dir.size() && dir[at] != '/') continue;
        const std::string prefix = dir.substr(0, at);
        if (mkdir(prefix.c_str(), 0755) == 0) {
            chmod(prefix.c_str(), 0755);  // whatever the umask: other users read the view through it
        } else if (errno != EEXIST) {
            return errno_text("cannot create " + prefix);
        }
    }
    struct stat st {};
    if (stat(dir.c_str(), &st) != 0) return errno_text("cannot use " + dir);
    if (!S_ISDIR(st.st_mode)) return dir + " is not a directory";
    return std::nullopt;
}

std::string read_pid(int fd) {
    char buf[32] = {};
    ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
    std::string pid(buf, n > 0 ? static_cast<size_t>(n) : 0);
    while (!pid.empty() && (pid.back() == '\n' || pid.back() == ' ')) pid.pop_back();
    return pid.empty() ? "unknown" : pid;
}

}  // namespace

RunDir::~RunDir() {
    if (lock_fd_ >= 0) close(lock_fd_);
}

std::optional<std::string> RunDir::acquire(const std::string& dir) {
    dir_ = dir;
    if (auto error = make_directories(dir)) return error;
    const std::string file = pid_file();
    int fd = open(file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return errno_text("cannot open " + file);
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        std::string error = errno == EWOULDBLOCK
                                ? dir + " is in use by another kmod-sim (pid " + read_pid(fd) + ")"
                                : errno_text("cannot lock " + file);
        close(fd);
        return error;
    }
    lock_fd_ = fd;
    fchmod(fd, 0644);  // readable by all, like the view, whatever the umask
    // Whatever a dead instance left there is stale now.
    if (ftruncate(fd, 0) != 0) return errno_text("cannot truncate " + file);
    return std::nullopt;
}

std::optional<std::string> RunDir::write_pid() {
    const std::string text = std::to_string(getpid()) + "\n";
    if (pwrite(lock_fd_, text.data(), text.size(), 0) != static_cast<ssize_t>(text.size())) {
        return errno_text("cannot write " + pid_file());
    }
    return std::nullopt;
}

std::optional<std::string> RunDir::link_view(const std::string& mountpoint) {
    const std::string link = view();
    struct stat st {};
    if (lstat(link.c_str(), &st) == 0) {
        const bool replaceable = S_ISLNK(st.st_mode) ? unlink(link.c_str()) == 0
                                 : S_ISDIR(st.st_mode) ? rmdir(link.c_str()) == 0  // empty ones only
                                                       : false;
        if (!replaceable) return link + " is in the way of a link to the view on " + mountpoint;
    }
    if (symlink(mountpoint.c_str(), link.c_str()) != 0) return errno_text("cannot link " + link);
    return std::nullopt;
}

void RunDir::release() {
    if (lock_fd_ < 0) return;
    unlink(pid_file().c_str());  // while still locked: a newcomer either waits on us or finds no file
    close(lock_fd_);
    lock_fd_ = -1;
}

}  // namespace kmod_sim::daemon
