// The processes and mounts bench_daemon.cc owns: starting the kmod-sim daemon and the forked
// child serving the trivial FUSE file, stopping them and cleaning up what they leave (the parts
// a signal handler may call are async-signal-safe), and reading the daemon's /proc/PID status
// and CPU. Apart so that the measurements read as measurements. Included only by
// bench_daemon.cc.
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <chrono>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "bench_daemon_common.h"
#include "fusefs/view.h"

namespace {

// ---------------------------------------------------------------------------------------------
// Processes and mounts we own. Kept in globals so that the signal handler can clean up too.

volatile pid_t g_daemon = -1;   // the background kmod-sim (our child: we are a subreaper)
volatile pid_t g_trivial = -1;  // the forked child serving the trivial FUSE file

bool reaped_within(pid_t pid, int ms) {  // async-signal-safe
    for (int i = 0; i < ms; ++i) {
        int status;
        const pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid || (r < 0 && errno == ECHILD && kill(pid, 0) != 0)) return true;
        const timespec tick{0, 1'000'000};
        nanosleep(&tick, nullptr);
    }
    return false;
}

// SIGTERM, a bounded wait, SIGKILL if that was not enough. Async-signal-safe.
void stop_process(volatile pid_t& slot) {
    const pid_t pid = slot;
    if (pid <= 0) return;
    kill(pid, SIGTERM);
    if (!reaped_within(pid, 10000)) {
        kill(pid, SIGKILL);
        reaped_within(pid, 5000);
    }
    slot = -1;
}

// Everything the benchmark may have left: processes, mounts, tmpfs files. Async-signal-safe
// (so the signal handler can call it); the directories themselves are removed by cleanup().
void release_resources() {
    stop_process(g_trivial);
    stop_process(g_daemon);
    umount2(kViewDir, MNT_DETACH);
    umount2(kTrivialDir, MNT_DETACH);
    unlink(kShmSmall);
    unlink(kShmBig);
}

std::vector<std::string> mount_points() {
    std::vector<std::string> out;
    std::ifstream in("/proc/self/mountinfo");
    std::string line;
    while (std::getline(in, line)) {
        std::istringstream fields(line);
        std::string f;
        for (int i = 0; i < 5 && fields >> f; ++i)
            if (i == 4) out.push_back(f);
    }
    return out;
}

bool mounted_at(const std::string& path) {
    for (const auto& p : mount_points())
        if (p == path) return true;
    return false;
}

// A kmod-sim left by an earlier run of this benchmark (its pid file, checked against the
// process's binary and command line before anything is sent to it).
void stop_leftover_daemon() {
    std::ifstream in(std::string(kRunDir) + "/kmod-sim.pid");
    long pid = 0;
    if (!(in >> pid) || pid <= 1) return;
    char exe[4096];
    const ssize_t n = readlink(("/proc/" + std::to_string(pid) + "/exe").c_str(), exe, sizeof exe - 1);
    if (n <= 0) return;
    const std::string path(exe, static_cast<size_t>(n));
    std::ifstream cmd("/proc/" + std::to_string(pid) + "/cmdline");
    std::string cmdline((std::istreambuf_iterator<char>(cmd)), std::istreambuf_iterator<char>());
    if (path.find("kmod-sim") == std::string::npos || cmdline.find(kRunDir) == std::string::npos) return;
    std::printf("stopping a kmod-sim left by an earlier run (pid %ld)\n", pid);
    kill(static_cast<pid_t>(pid), SIGTERM);
    for (int i = 0; i < 10000 && kill(static_cast<pid_t>(pid), 0) == 0; ++i) {
        waitpid(static_cast<pid_t>(pid), nullptr, WNOHANG);
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    if (kill(static_cast<pid_t>(pid), 0) == 0) kill(static_cast<pid_t>(pid), SIGKILL);
}

void cleanup() {
    release_resources();
    stop_leftover_daemon();
    for (int round = 0; round < 8; ++round) {
        bool any = false;
        for (const auto& p : mount_points()) {
            if (p == kTrivialDir || p == kRunDir || p.starts_with(std::string(kRunDir) + "/")) {
                umount2(p.c_str(), MNT_DETACH);
                any = true;
            }
        }
        if (!any) break;
    }
    std::error_code ignored;
    for (const char* dir : {kRunDir, kTrivialDir}) {
        if (!mounted_at(dir) && !mounted_at(std::string(dir) + "/proc")) std::filesystem::remove_all(dir, ignored);
    }
}

void on_signal(int sig) {
    release_resources();
    rmdir(kTrivialDir);
    rmdir(kViewDir);
    rmdir(kRunDir);  // empty once the daemon has gone: it removes its pid file and socket
    _exit(128 + sig);
}

// ---------------------------------------------------------------------------------------------
// The daemon

std::string status_field(pid_t pid, const char* name) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(in, line))
        if (line.starts_with(name)) return line;
    return "";
}

// VmRSS / VmHWM of `pid`, bytes.
double status_bytes(pid_t pid, const char* name) {
    const std::string line = status_field(pid, name);
    long long kb = 0;
    std::sscanf(line.c_str() + std::strlen(name), ": %lld", &kb);
    return double(kb) * 1024;
}

// User and system CPU seconds of `pid` so far (/proc/PID/stat, clock ticks).
struct Cpu {
    double user = 0, sys = 0;
};
Cpu process_cpu(pid_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
    std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const size_t paren = stat.rfind(')');
    if (paren == std::string::npos) return {};
    std::istringstream fields(stat.substr(paren + 2));
    std::string f;
    unsigned long long utime = 0, stime = 0;
    for (int i = 3; i <= 15 && fields >> f; ++i) {  // field 3 is the state
        if (i == 14) utime = std::stoull(f);
        if (i == 15) stime = std::stoull(f);
    }
    const double tick = double(sysconf(_SC_CLK_TCK));
    return {double(utime) / tick, double(stime) / tick};
}

Cpu thread_cpu() {
    rusage u{};
    getrusage(RUSAGE_THREAD, &u);
    return {double(u.ru_utime.tv_sec) + double(u.ru_utime.tv_usec) / 1e6,
            double(u.ru_stime.tv_sec) + double(u.ru_stime.tv_usec) / 1e6};
}

pid_t start_daemon(const std::string& bin) {
    const pid_t pid = fork();
    if (pid < 0) die(errno_text("fork"));
    if (pid == 0) {
        execl(bin.c_str(), bin.c_str(), "--run-dir", kRunDir, "--daemon", static_cast<char*>(nullptr));
        std::fprintf(stderr, "cannot run %s: %s\n", bin.c_str(), std::strerror(errno));
        _exit(127);
    }
    int status = 0;
    bool done = false;
    for (int i = 0; i < 30000 && !done; ++i) {
        done = waitpid(pid, &status, WNOHANG) == pid;
        if (!done) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    if (!done) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        die("kmod-sim --daemon did not return within 30 s");
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) die("kmod-sim --daemon failed (see above)");
    std::ifstream in(std::string(kRunDir) + "/kmod-sim.pid");
    long daemon = 0;
    if (!(in >> daemon) || daemon <= 1) die("no pid in " + std::string(kRunDir) + "/kmod-sim.pid");
    return static_cast<pid_t>(daemon);
}

// ---------------------------------------------------------------------------------------------
// The trivial FUSE file: the same fusefs library, a generator returning fixed bytes, served by
// a forked child (a FUSE server must not read its own mount from its loop thread).

void start_trivial(const std::string& text) {
    mkdir(kTrivialDir, 0755);
    int ready[2];
    if (pipe2(ready, O_CLOEXEC) != 0) die(errno_text("pipe2"));
    const pid_t pid = fork();
    if (pid < 0) die(errno_text("fork"));
    if (pid == 0) {
        close(ready[0]);
        signal(SIGINT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        signal(SIGHUP, SIG_DFL);
        sigset_t set;
        sigemptyset(&set);
        for (int s : {SIGINT, SIGTERM, SIGHUP}) sigaddset(&set, s);
        sigprocmask(SIG_BLOCK, &set, nullptr);  // before the loop thread exists: it inherits the mask
        prctl(PR_SET_PDEATHSIG, SIGTERM);       // the benchmark died: unmount and go
        fusefs::GeneratedTree tree;
        std::string word = "ready";
        if (auto refused = tree.add_file("trivial", [text] { return text; })) word = *refused;
        fusefs::FuseView view;
        if (word == "ready") {
            if (auto error = view.start(kTrivialDir, std::move(tree), fusefs::ViewOptions{"kmod-sim-bench"}))
                word = *error;
        }
        if (write(ready[1], word.data(), word.size()) < 0) _exit(1);
        close(ready[1]);
        if (word != "ready") _exit(1);
        int sig = 0;
        sigwait(&set, &sig);
        view.stop();
        _exit(0);
    }
    g_trivial = pid;
    close(ready[1]);
    std::string word;
    char buf[512];
    pollfd p{ready[0], POLLIN, 0};
    while (poll(&p, 1, 10000) == 1) {
        const ssize_t n = read(ready[0], buf, sizeof buf);
        if (n <= 0) break;
        word.append(buf, static_cast<size_t>(n));
    }
    close(ready[0]);
    if (word != "ready") die("the trivial FUSE view did not start: " + word);
}

}  // namespace
