// How bench_daemon.cc reads files, the same way for the daemon's listings and for their
// baselines (a trivial FUSE file, tmpfs): open + read(128 KiB) + close loops with per-op
// latency, one whole-file read with the first read timed apart, and the real `cat`.
// Included only by bench_daemon.cc.
#pragma once

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

#include "bench_daemon_common.h"

namespace {

constexpr size_t kReadSize = 128 * 1024;  // what cat asks for

// ---------------------------------------------------------------------------------------------
// Reading files

void write_file(const char* path, const std::string& text) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(text.data(), static_cast<std::streamsize>(text.size()));
    if (!out) die(std::string("cannot write ") + path);
}

// The whole file with 128 KiB reads, as cat reads it.
std::string slurp(const std::string& path) {
    const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) die(errno_text("open " + path));
    std::string out;
    std::vector<char> buf(kReadSize);
    for (;;) {
        const ssize_t n = read(fd, buf.data(), buf.size());
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) die(errno_text("read " + path));
        if (n == 0) break;
        out.append(buf.data(), static_cast<size_t>(n));
    }
    close(fd);
    return out;
}

struct OpStats {
    double ops_per_s = 0, mean_us = 0, p99_us = 0;
    uint64_t ops = 0, wrong_size = 0;
};

// open + read(128 KiB) until EOF + close, for `seconds`; per-op latency.
OpStats open_read_close(const std::string& path, double seconds, size_t expected) {
    std::vector<char> buf(kReadSize);
    std::vector<uint32_t> ns;
    ns.reserve(1 << 20);
    OpStats s;
    const auto start = Timer::now();
    const auto end = start + std::chrono::duration_cast<Timer::duration>(std::chrono::duration<double>(seconds));
    Timer::time_point now = start;
    while (now < end) {
        const auto t0 = now;
        const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
        if (fd < 0) die(errno_text("open " + path));
        size_t total = 0;
        for (;;) {
            const ssize_t n = read(fd, buf.data(), buf.size());
            if (n < 0 && errno == EINTR) continue;
            if (n < 0) die(errno_text("read " + path));
            if (n == 0) break;
            total += static_cast<size_t>(n);
        }
        close(fd);
        now = Timer::now();
        ns.push_back(static_cast<uint32_t>(std::min<int64_t>(
            std::chrono::duration_cast<std::chrono::nanoseconds>(now - t0).count(), UINT32_MAX)));
        s.wrong_size += total != expected;
    }
    const double elapsed = std::chrono::duration<double>(now - start).count();
    s.ops = ns.size();
    s.ops_per_s = double(s.ops) / elapsed;
    double sum = 0;
    for (uint32_t v : ns) sum += v;
    s.mean_us = sum / double(s.ops) / 1e3;
    const size_t k = std::min(ns.size() - 1, ns.size() * 99 / 100);
    std::nth_element(ns.begin(), ns.begin() + static_cast<ptrdiff_t>(k), ns.end());
    s.p99_us = ns[k] / 1e3;
    return s;
}

struct WholeRead {
    double seconds = 0, first_read_s = 0;
    size_t bytes = 0;
};

// One whole-file read with 128 KiB reads; the time to the first read's return apart (for the
// daemon, that is when it renders the snapshot).
WholeRead read_whole(const std::string& path, std::vector<char>& buf) {
    WholeRead w;
    const auto start = Timer::now();
    const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) die(errno_text("open " + path));
    for (bool first = true;; first = false) {
        const ssize_t n = read(fd, buf.data(), buf.size());
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) die(errno_text("read " + path));
        if (first) w.first_read_s = seconds_since(start);
        if (n == 0) break;
        w.bytes += static_cast<size_t>(n);
    }
    close(fd);
    w.seconds = seconds_since(start);
    return w;
}

// The real cat binary, output to /dev/null: wall seconds from fork to its exit.
double run_cat(const std::string& path) {
    const auto start = Timer::now();
    const pid_t pid = fork();
    if (pid < 0) die(errno_text("fork"));
    if (pid == 0) {
        const int null = open("/dev/null", O_WRONLY);
        if (null < 0 || dup2(null, 1) < 0) _exit(126);
        execlp("cat", "cat", path.c_str(), static_cast<char*>(nullptr));
        _exit(127);
    }
    int status = 0;
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
        die("cat " + path + " failed");
    return seconds_since(start);
}

}  // namespace
