// The integration tests' handle on a running kmod-sim: start it with --daemon at a fixed run
// dir /tmp/kmod-sim-it/<name>, read its pid, stop it with a signal, and — whatever happened
// in the test — kill it, detach its mount and remove the run dir when the handle goes.
//
// The test process makes itself a child subreaper (test_daemon_main.cc), so the background
// daemon that `kmod-sim --daemon` leaves behind becomes our child when the foreground command
// exits: we can waitpid() it, with a bounded WNOHANG poll, and see its exit status.
//
// Every wait here is a bounded poll that ends with a message naming what did not happen;
// nothing sleeps to synchronise.
#pragma once

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

namespace it {

inline const std::string kBaseDir = "/tmp/kmod-sim-it";

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// The daemon binary, from meson's KMOD_SIM_BIN.
inline std::string kmod_sim_bin() {
    const char* bin = std::getenv("KMOD_SIM_BIN");
    return bin ? bin : "";
}

// Polls `done` every millisecond until it is true or `timeout` has passed; true if it became
// true. The only way this file waits for anything.
inline bool poll_until(milliseconds timeout, const std::function<bool()>& done) {
    const auto deadline = Clock::now() + timeout;
    for (;;) {
        if (done()) return true;
        if (Clock::now() >= deadline) return false;
        std::this_thread::sleep_for(milliseconds(1));  // poll period, not synchronisation
    }
}

inline std::string slurp(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

// Mount points listed in /proc/self/mountinfo (field 5), with their filesystem type.
struct MountEntry {
    std::string point;
    std::string fstype;
};

inline std::vector<MountEntry> mounts() {
    std::vector<MountEntry> out;
    std::ifstream in("/proc/self/mountinfo");
    std::string line;
    while (std::getline(in, line)) {
        std::istringstream fields(line);
        std::string f, point;
        for (int i = 0; i < 5 && fields >> f; ++i)
            if (i == 4) point = f;
        std::string fstype;
        while (fields >> f)
            if (f == "-") {
                fields >> fstype;
                break;
            }
        out.push_back({point, fstype});
    }
    return out;
}

inline int count_mounts_at(const std::string& path) {
    int n = 0;
    for (const auto& m : mounts())
        if (m.point == path) ++n;
    return n;
}

inline std::string fstype_at(const std::string& path) {
    std::string type;
    for (const auto& m : mounts())
        if (m.point == path) type = m.fstype;
    return type;
}

// Lazily detaches everything mounted at or below `dir` (a test that failed half-way, or a
// killed daemon), innermost first, bounded.
inline void detach_mounts_under(const std::string& dir) {
    for (int round = 0; round < 16; ++round) {
        std::vector<std::string> found;
        for (const auto& m : mounts())
            if (m.point == dir || m.point.starts_with(dir + "/")) found.push_back(m.point);
        if (found.empty()) return;
        for (auto it = found.rbegin(); it != found.rend(); ++it) umount2(it->c_str(), MNT_DETACH);
    }
}

inline bool process_alive(pid_t pid) {
    if (pid <= 0) return false;
    if (kill(pid, 0) != 0) return false;
    // A zombie has exited: only its status is left.
    std::string stat = slurp("/proc/" + std::to_string(pid) + "/stat");
    auto close_paren = stat.rfind(')');
    return close_paren == std::string::npos || close_paren + 2 >= stat.size() || stat[close_paren + 2] != 'Z';
}

inline bool is_kmod_sim_process(pid_t pid) {
    char buf[4096];
    ssize_t n = readlink(("/proc/" + std::to_string(pid) + "/exe").c_str(), buf, sizeof buf - 1);
    if (n <= 0) return false;
    std::string exe(buf, static_cast<size_t>(n));
    return exe.ends_with("/kmod-sim") || exe.ends_with("/kmod-sim (deleted)");
}

// Reaps `pid` (our child, or a daemon reparented to us) within `timeout`: its wait status,
// or nullopt if it is still running. ECHILD (somebody else reaped it) counts as status 0
// only if the process is gone.
inline std::optional<int> wait_exit(pid_t pid, milliseconds timeout) {
    std::optional<int> status;
    poll_until(timeout, [&] {
        int s = 0;
        pid_t r = waitpid(pid, &s, WNOHANG);
        if (r == pid) {
            status = s;
            return true;
        }
        if (r < 0 && errno == ECHILD && !process_alive(pid)) {
            status = 0;
            return true;
        }
        return false;
    });
    return status;
}

inline std::string describe_status(int status) {
    if (WIFEXITED(status)) return "exit " + std::to_string(WEXITSTATUS(status));
    if (WIFSIGNALED(status)) return std::string("signal ") + strsignal(WTERMSIG(status));
    return "status " + std::to_string(status);
}

// A finished command: its exit code (-1 if it ended by a signal or timed out), stdout, stderr.
struct RunResult {
    int exit_code = -1;
    bool timed_out = false;
    std::string out, err;
    std::string describe() const {
        return "exit=" + std::to_string(exit_code) + (timed_out ? " (timed out)" : "") + " stdout=[" + out +
               "] stderr=[" + err + "]";
    }
};

// Runs `argv` with stdout and stderr sent to files (not pipes: a daemon child may keep them
// open), waits at most `timeout` for it to exit (SIGKILL after that), and returns what it
// printed. `capture` names the files, under kBaseDir.
inline RunResult run_command(const std::vector<std::string>& argv, const std::string& capture,
                             milliseconds timeout = milliseconds(20000)) {
    mkdir(kBaseDir.c_str(), 0755);
    const std::string out_path = kBaseDir + "/" + capture + ".stdout";
    const std::string err_path = kBaseDir + "/" + capture + ".stderr";
    RunResult result;
    pid_t pid = fork();
    if (pid < 0) throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
    if (pid == 0) {
        int out = open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int err = open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int in = open("/dev/null", O_RDONLY);
        if (out < 0 || err < 0 || in < 0) _exit(126);
        dup2(in, 0);
        dup2(out, 1);
        dup2(err, 2);
        std::vector<char*> args;
        for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
        args.push_back(nullptr);
        execv(args[0], args.data());
        _exit(127);
    }
    auto status = wait_exit(pid, timeout);
    if (!status) {
        result.timed_out = true;
        kill(pid, SIGKILL);
        status = wait_exit(pid, milliseconds(5000));
    }
    if (status && WIFEXITED(*status)) result.exit_code = WEXITSTATUS(*status);
    result.out = slurp(out_path);
    result.err = slurp(err_path);
    unlink(out_path.c_str());
    unlink(err_path.c_str());
    return result;
}

// One kmod-sim instance at /tmp/kmod-sim-it/<name>.
class DaemonInstance {
public:
    // Cleans whatever a previous failed run left at this run dir and creates it afresh
    // (mode 0755 along the path, so an unprivileged user can reach the view). Does not start.
    explicit DaemonInstance(std::string name, std::vector<std::string> options = {})
        : name_(std::move(name)), dir_(kBaseDir + "/" + name_), options_(std::move(options)) {
        mkdir(kBaseDir.c_str(), 0755);
        chmod(kBaseDir.c_str(), 0755);
        clean_leftovers();
        if (mkdir(dir_.c_str(), 0755) != 0)
            throw std::runtime_error("cannot create run dir " + dir_ + ": " + std::strerror(errno));
        chmod(dir_.c_str(), 0755);
    }

    ~DaemonInstance() {
        if (pid_ > 0 && process_alive(pid_)) {
            kill(pid_, SIGKILL);
            wait_exit(pid_, milliseconds(5000));
        }
        clean_leftovers();
    }

    DaemonInstance(const DaemonInstance&) = delete;
    DaemonInstance& operator=(const DaemonInstance&) = delete;

    const std::string& name() const { return name_; }
    const std::string& dir() const { return dir_; }
    std::string mount() const { return mount_.empty() ? dir_ + "/proc" : mount_; }
    std::string pfkey_path() const { return dir_ + "/pfkey"; }
    std::string pid_file() const { return dir_ + "/kmod-sim.pid"; }
    std::string view(const std::string& rel) const { return mount() + "/" + rel; }
    pid_t pid() const { return pid_; }
    void set_mount(std::string mnt) { mount_ = std::move(mnt); }

    // The command line `start` runs: bin --run-dir DIR [--mount MNT] <options> --daemon.
    // Instances run side by side in one network namespace, so their ipsecN stay in the tables
    // (--devices model) unless the options say otherwise; real devices are tested on the
    // netns topology (tests/integration/netns).
    std::vector<std::string> command(bool daemon = true) const {
        std::vector<std::string> argv{kmod_sim_bin(), "--run-dir", dir_};
        if (!mount_.empty()) {
            argv.push_back("--mount");
            argv.push_back(mount_);
        }
        argv.insert(argv.end(), options_.begin(), options_.end());
        if (std::find(options_.begin(), options_.end(), "--devices") == options_.end()) {
            argv.push_back("--devices");
            argv.push_back("model");
        }
        if (daemon) argv.push_back("--daemon");
        return argv;
    }

    // Runs `kmod-sim … --daemon`; on exit 0 reads the pid file. Returns what the command did.
    RunResult start() {
        RunResult r = run_command(command(), name_ + "-start");
        if (r.exit_code == 0) pid_ = read_pid();
        return r;
    }

    // start(), throwing with the command's output if it failed.
    void start_or_throw() {
        RunResult r = start();
        if (r.exit_code != 0 || pid_ <= 0)
            throw std::runtime_error("kmod-sim --daemon at " + dir_ + " failed: " + r.describe());
        if (!process_alive(pid_))
            throw std::runtime_error("kmod-sim at " + dir_ + " reported ready but pid " + std::to_string(pid_) +
                                     " is not running");
    }

    // Starts in the foreground (no --daemon) as our direct child and waits, bounded, for the
    // pid file: the documented readiness signal.
    void start_foreground_or_throw() {
        auto argv = command(false);
        pid_t pid = fork();
        if (pid < 0) throw std::runtime_error("fork failed");
        if (pid == 0) {
            int null = open("/dev/null", O_RDWR);
            dup2(null, 0);
            dup2(null, 1);
            std::vector<char*> args;
            for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
            args.push_back(nullptr);
            execv(args[0], args.data());
            _exit(127);
        }
        pid_ = pid;
        if (!poll_until(milliseconds(10000), [&] { return read_pid() == pid || !process_alive(pid); }))
            throw std::runtime_error("foreground kmod-sim at " + dir_ + " wrote no pid file within 10 s");
        if (read_pid() != pid)
            throw std::runtime_error("foreground kmod-sim at " + dir_ + " exited before it was ready");
    }

    // The pid in DIR/kmod-sim.pid ("<pid>\n"), or -1.
    pid_t read_pid() const {
        std::string text = slurp(pid_file());
        if (text.empty() || text.back() != '\n') return -1;
        char* end = nullptr;
        long v = std::strtol(text.c_str(), &end, 10);
        if (end == text.c_str() || *end != '\n') return -1;
        return static_cast<pid_t>(v);
    }

    // Sends `sig` and waits (bounded) for the daemon to exit: its wait status.
    int stop(int sig = SIGTERM, milliseconds timeout = milliseconds(5000)) {
        if (pid_ <= 0) throw std::runtime_error("stop: instance " + name_ + " is not running");
        kill(pid_, sig);
        auto status = wait_exit(pid_, timeout);
        if (!status)
            throw std::runtime_error("kmod-sim pid " + std::to_string(pid_) + " did not exit within " +
                                     std::to_string(timeout.count()) + " ms of signal " + std::to_string(sig));
        pid_ = -1;
        return *status;
    }

    // kill -9, reaped; the dead mount, the socket and the pid file stay behind.
    void kill9() {
        if (pid_ <= 0) return;
        kill(pid_, SIGKILL);
        if (!wait_exit(pid_, milliseconds(5000)))
            throw std::runtime_error("kmod-sim pid " + std::to_string(pid_) + " survived SIGKILL for 5 s");
        pid_ = -1;
    }

    // Forget the pid without stopping (another handle owns it).
    void forget() { pid_ = -1; }

private:
    void clean_leftovers() {
        pid_t stale = read_pid();
        if (stale > 0 && process_alive(stale) && is_kmod_sim_process(stale)) {
            kill(stale, SIGKILL);
            wait_exit(stale, milliseconds(5000));
        }
        detach_mounts_under(dir_);
        if (!mount_.empty()) detach_mounts_under(mount_);
        std::error_code ec;
        std::filesystem::remove_all(dir_, ec);
    }

    std::string name_;
    std::string dir_;
    std::string mount_;
    std::vector<std::string> options_;
    pid_t pid_ = -1;
};

// Reads `fd` to EOF in `chunk`-byte read() calls.
inline std::string read_fd(int fd, size_t chunk = 4096) {
    std::string out;
    std::string buf(chunk, '\0');
    for (;;) {
        ssize_t n = read(fd, buf.data(), chunk);
        if (n < 0) {
            if (errno == EINTR) continue;
            throw std::runtime_error(std::string("read: ") + std::strerror(errno));
        }
        if (n == 0) return out;
        out.append(buf.data(), static_cast<size_t>(n));
    }
}

inline std::string read_view_file(const std::string& path, size_t chunk = 4096) {
    int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw std::runtime_error("open " + path + ": " + std::strerror(errno));
    try {
        std::string s = read_fd(fd, chunk);
        close(fd);
        return s;
    } catch (...) {
        close(fd);
        throw;
    }
}

// An fd closed at scope exit.
struct Fd {
    int fd = -1;
    explicit Fd(int f) : fd(f) {}
    ~Fd() {
        if (fd >= 0) close(fd);
    }
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
};

}  // namespace it
