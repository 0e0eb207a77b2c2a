// What every part of bench_daemon.cc shares: the fixed paths of its one instance (so that
// cleanup, even from a signal handler, knows what to remove), the clock, and how a failure is
// reported (an exception that main() prints). Included only by bench_daemon.cc.
#pragma once

#include <chrono>
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <stdexcept>
#include <string>

using Timer = std::chrono::steady_clock;

namespace {

// Fixed paths: one benchmark instance at a time.
constexpr const char* kRunDir = "/tmp/kmod-sim-bench";
constexpr const char* kViewDir = "/tmp/kmod-sim-bench/proc";
constexpr const char* kTrivialDir = "/tmp/kmod-sim-bench-trivial";
constexpr const char* kShmSmall = "/dev/shm/kmod-sim-bench-eroute-10";
constexpr const char* kShmBig = "/dev/shm/kmod-sim-bench-eroute-big";

double seconds_since(Timer::time_point start) { return std::chrono::duration<double>(Timer::now() - start).count(); }

[[noreturn]] void die(const std::string& what) { throw std::runtime_error(what); }
std::string errno_text(const std::string& what) { return what + ": " + std::strerror(errno); }

}  // namespace
