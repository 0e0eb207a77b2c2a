// Benchmark of the kmod-sim daemon as its users meet it (not a test: it prints figures and
// never fails on time). Every figure comes with a baseline measured in the same run, and the
// ratio between them.
//
//   build/tests/bench/bench_daemon [--quick] [--kmod-sim PATH]
//
// One fresh instance at the fixed run dir /tmp/kmod-sim-bench (cleaned before and after):
//  1. open + read(128 KiB) to EOF + close of DIR/proc/net/ipsec_eroute holding 10 eroutes,
//     against a trivial file of the same size served by the same fusefs library from a
//     forked child, and a tmpfs file with the same bytes. Rounds are interleaved; each
//     target reports its median round (by ops/s).
//  2. PF_KEY X_ADDFLOW over one socket, pre-encoded: pipelined (a window of outstanding
//     requests) for N distinct eroutes, and synchronous (window 1); baseline: a thread
//     echoing the same datagrams over a SEQPACKET socketpair with the same window.
//  3. Reading the N-eroute ipsec_eroute whole with 128 KiB reads (best of 3), against the
//     same bytes in tmpfs; and the real `cat` binary once each.
//  4. The daemon's VmRSS / VmHWM: empty, after loading N eroutes, after the reads.
// Needs root and /dev/fuse (it mounts); otherwise it says so and exits 0.
// The parts are in headers of their own: bench_daemon_process.h (daemon, trivial FUSE child,
// cleanup), bench_pfkey_load.h (the X_ADDFLOW load and its echo baseline), bench_file_reads.h;
// this file keeps the measurement sequence and the report.
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <thread>
#include <vector>

#include "bench_daemon_common.h"
#include "bench_daemon_process.h"
#include "bench_file_reads.h"
#include "bench_pfkey_load.h"
#include "kmod_sim/module/eroute.h"

#ifndef KMOD_SIM_BIN
#define KMOD_SIM_BIN ""
#endif

namespace {

// ---------------------------------------------------------------------------------------------
// The report

struct Row {
    std::string section, name;
    double value;
    std::string unit;
    double baseline;
    std::string baseline_name;
};
std::vector<Row> g_rows;
std::string g_section;

void report(std::string name, double value, std::string unit, double baseline, std::string baseline_name) {
    std::printf("  %-48s %12.2f %-6s baseline %12.2f (%s)  ratio %.2f\n", name.c_str(), value, unit.c_str(), baseline,
                baseline_name.c_str(), baseline > 0 ? value / baseline : 0.0);
    std::fflush(stdout);
    g_rows.push_back({g_section, std::move(name), value, std::move(unit), baseline, std::move(baseline_name)});
}

void note(const char* format, ...) __attribute__((format(printf, 1, 2)));
void note(const char* format, ...) {
    va_list args;
    va_start(args, format);
    std::printf("    ");
    std::vprintf(format, args);
    std::printf("\n");
    std::fflush(stdout);
    va_end(args);
}

std::string with_commas(uint64_t n) {
    const std::string digits = std::to_string(n);
    std::string out;
    for (size_t i = 0; i < digits.size(); ++i) {
        if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
        out += digits[i];
    }
    return out;
}

// ---------------------------------------------------------------------------------------------

struct Config {
    bool quick = false;
    std::string bin = KMOD_SIM_BIN;
    size_t eroutes = 1'000'000;
    size_t sync_messages = 20'000;
    size_t window = 256;
    double op_seconds = 2.0;
    int rounds = 3;
};

OpStats median_round(std::vector<OpStats> rounds) {
    std::sort(rounds.begin(), rounds.end(), [](const OpStats& a, const OpStats& b) { return a.ops_per_s < b.ops_per_s; });
    return rounds[rounds.size() / 2];
}

void bench_small_reads(const Config& c, int pfkey) {
    g_section = "10 eroutes";
    std::printf("\n1. open + read(128 KiB) to EOF + close, 10 eroutes (median of %d interleaved rounds of %.1f s)\n",
                c.rounds, c.op_seconds);
    for (uint32_t i = 0; i < 10; ++i) {
        const int e = request(pfkey, addflow(0x0b000000u + i, 0xac1f0000u + i, 0x1000 + i, 900000 + i));
        if (e != 0) die("X_ADDFLOW of the 10 eroutes failed: errno " + std::to_string(e));
    }
    const std::string eroute = std::string(kViewDir) + "/net/ipsec_eroute";
    const std::string eroute_direct = std::string(kViewDir) + "/net/ipsec/eroute/all";
    const std::string text = slurp(eroute);
    write_file(kShmSmall, text);
    start_trivial(std::string(text.size(), 'x'));  // same size; content does not matter
    const std::string trivial = std::string(kTrivialDir) + "/trivial";
    if (slurp(trivial).size() != text.size()) die("the trivial file has the wrong size");
    note("listing: %zu bytes (%zu lines)", text.size(), size_t(std::count(text.begin(), text.end(), '\n')));

    std::vector<OpStats> e_rounds, d_rounds, t_rounds, s_rounds;
    for (int r = 0; r < c.rounds; ++r) {
        e_rounds.push_back(open_read_close(eroute, c.op_seconds, text.size()));
        t_rounds.push_back(open_read_close(trivial, c.op_seconds, text.size()));
        d_rounds.push_back(open_read_close(eroute_direct, c.op_seconds, text.size()));
        s_rounds.push_back(open_read_close(kShmSmall, c.op_seconds, text.size()));
        note("round %d: ipsec_eroute %.1fk/s, trivial %.1fk/s, ipsec/eroute/all %.1fk/s, tmpfs %.1fk/s", r + 1,
             e_rounds.back().ops_per_s / 1e3, t_rounds.back().ops_per_s / 1e3, d_rounds.back().ops_per_s / 1e3,
             s_rounds.back().ops_per_s / 1e3);
    }
    uint64_t wrong = 0;
    for (auto* v : {&e_rounds, &d_rounds, &t_rounds, &s_rounds})
        for (const auto& s : *v) wrong += s.wrong_size;
    if (wrong) note("!! %" PRIu64 " reads returned a size other than %zu bytes", wrong, text.size());
    const OpStats e = median_round(e_rounds), d = median_round(d_rounds), t = median_round(t_rounds),
                  s = median_round(s_rounds);
    struct Named {
        const char* label;
        const OpStats* stats;
    };
    for (const Named& n : {Named{"net/ipsec_eroute (symlink)", &e}, Named{"net/ipsec/eroute/all", &d},
                           Named{"trivial FUSE file", &t}, Named{"tmpfs file", &s}})
        note("%-28s %9.1f ops/s  mean %7.2f us  p99 %7.2f us", n.label, n.stats->ops_per_s, n.stats->mean_us,
             n.stats->p99_us);
    report("ipsec_eroute open+read+close, ops/s", e.ops_per_s / 1e3, "k/s", t.ops_per_s / 1e3, "trivial FUSE file");
    report("ipsec_eroute open+read+close, mean", e.mean_us, "us", t.mean_us, "trivial FUSE file");
    report("ipsec_eroute open+read+close, p99", e.p99_us, "us", t.p99_us, "trivial FUSE file");
    report("ipsec/eroute/all (no symlink), ops/s", d.ops_per_s / 1e3, "k/s", t.ops_per_s / 1e3, "trivial FUSE file");
    report("trivial FUSE file, ops/s", t.ops_per_s / 1e3, "k/s", s.ops_per_s / 1e3, "tmpfs file");
    report("trivial FUSE file, mean", t.mean_us, "us", s.mean_us, "tmpfs file");
    report("trivial FUSE file, p99", t.p99_us, "us", s.p99_us, "tmpfs file");
    report("ipsec_eroute open+read+close, ops/s", e.ops_per_s / 1e3, "k/s", s.ops_per_s / 1e3, "tmpfs file");

    stop_process(g_trivial);
    umount2(kTrivialDir, MNT_DETACH);  // normally already gone
    unlink(kShmSmall);
    if (request(pfkey, clearflow(900100)) != 0) die("X_DELFLOW CLEARFLOW failed");
}

void report_pipe(const char* name, const PipeResult& d, const PipeResult& echo, size_t n) {
    report(name, double(n) / d.seconds / 1e3, "k/s", double(n) / echo.seconds / 1e3, "SEQPACKET echo thread");
    if (d.failed || d.out_of_order)
        note("!! %" PRIu64 " replies with an error (first errno %d), %" PRIu64 " out of order", d.failed, d.first_errno,
             d.out_of_order);
    if (echo.failed || echo.out_of_order) note("!! the echo baseline lost or reordered messages");
    note("replies per receive: %.1f (echo: %.1f)", double(d.ok + d.failed) / double(d.receives),
         double(echo.ok + echo.failed) / double(echo.receives));
}

int run(const Config& c, const std::string& command) {
    cleanup();
    if (mkdir(kRunDir, 0755) != 0) die(errno_text(std::string("mkdir ") + kRunDir));
    prctl(PR_SET_CHILD_SUBREAPER, 1);  // the background daemon becomes our child: we can reap it
    std::printf("kmod-sim daemon benchmark%s: %s eroutes, window %zu\n", c.quick ? " (quick)" : "",
                with_commas(c.eroutes).c_str(), c.window);
    std::printf("command: %s\n", command.c_str());
    std::fflush(stdout);
    g_daemon = start_daemon(c.bin);
    const pid_t daemon = g_daemon;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));  // let it settle before measuring memory
    const double rss_empty = status_bytes(daemon, "VmRSS"), hwm_empty = status_bytes(daemon, "VmHWM");

    int pfkey = connect_pfkey();
    bench_small_reads(c, pfkey);

    // 2. PF_KEY. Pre-encoded before any timing.
    g_section = with_commas(c.eroutes) + " eroutes";
    std::printf("\n2. PF_KEY X_ADDFLOW over one socket (pre-encoded; every reply checked)\n");
    const Batch load = make_addflows(c.eroutes, 0);
    const Batch sync = make_addflows(c.sync_messages, 0x01000000u);  // 11.0.0.0 on: distinct from `load`
    note("messages: %zu bytes each", load.length(0));
    PipeResult echo_pipe_a, echo_pipe_b, echo_sync;
    Cpu echo_cpu;
    {
        EchoServer echo;
        echo_pipe_a = pipeline(echo.fd(), load, c.window);
        echo_cpu = echo.cpu();
        echo_sync = pipeline(echo.fd(), sync, 1);
    }
    const PipeResult d_sync = pipeline(pfkey, sync, 1);
    if (request(pfkey, clearflow(900200)) != 0) die("X_DELFLOW CLEARFLOW failed");
    const Cpu cpu0 = process_cpu(daemon);
    const Cpu self0 = thread_cpu();
    const PipeResult d_pipe = pipeline(pfkey, load, c.window);
    const Cpu cpu1 = process_cpu(daemon);
    const Cpu self1 = thread_cpu();
    {
        EchoServer echo;
        echo_pipe_b = pipeline(echo.fd(), load, c.window);
    }
    const PipeResult& echo_pipe = echo_pipe_a.seconds < echo_pipe_b.seconds ? echo_pipe_a : echo_pipe_b;
    note("echo baseline, window %zu: %.0fk/s before, %.0fk/s after the daemon run (the better one is used)", c.window,
         double(c.eroutes) / echo_pipe_a.seconds / 1e3, double(c.eroutes) / echo_pipe_b.seconds / 1e3);
    report_pipe(("X_ADDFLOW pipelined, window " + std::to_string(c.window) + ", msgs/s").c_str(), d_pipe, echo_pipe,
                c.eroutes);
    report_pipe(("X_ADDFLOW synchronous (" + with_commas(c.sync_messages) + " msgs), msgs/s").c_str(), d_sync,
                echo_sync, c.sync_messages);
    const double per = 1e6 / double(c.eroutes);
    report("daemon CPU per X_ADDFLOW, pipelined", (cpu1.user + cpu1.sys - cpu0.user - cpu0.sys) * per, "us",
           (echo_cpu.user + echo_cpu.sys) * per, "echo thread CPU per message");
    note("daemon: %.2f us user + %.2f us system per message, busy %.0f%% of the run; echo thread: %.2f user + %.2f "
         "system; this client: %.2f user + %.2f system",
         (cpu1.user - cpu0.user) * per, (cpu1.sys - cpu0.sys) * per,
         100 * (cpu1.user + cpu1.sys - cpu0.user - cpu0.sys) / d_pipe.seconds, echo_cpu.user * per, echo_cpu.sys * per,
         (self1.user - self0.user) * per, (self1.sys - self0.sys) * per);
    report("X_ADDFLOW synchronous, round trip", d_sync.seconds / double(c.sync_messages) * 1e6, "us",
           echo_sync.seconds / double(c.sync_messages) * 1e6, "SEQPACKET echo thread");
    close(pfkey);

    // 4 (first half). Memory after the load, before any read of the big listing.
    const double rss_loaded = status_bytes(daemon, "VmRSS"), hwm_loaded = status_bytes(daemon, "VmHWM");

    // 3. Reading the big listing.
    std::printf("\n3. ipsec_eroute with %s eroutes, whole file with 128 KiB reads (best of 3, interleaved)\n",
                with_commas(c.eroutes).c_str());
    const std::string eroute = std::string(kViewDir) + "/net/ipsec_eroute";
    const std::string text = slurp(eroute);
    const size_t lines = size_t(std::count(text.begin(), text.end(), '\n'));
    note("size: %zu bytes, %zu lines (%.1f bytes per line)", text.size(), lines, double(text.size()) / double(lines));
    if (lines != c.eroutes) note("!! expected %zu lines", c.eroutes);
    write_file(kShmBig, text);
    std::vector<char> buf(kReadSize);
    WholeRead best_d{1e9, 0, 0}, best_s{1e9, 0, 0};
    for (int r = 0; r < 3; ++r) {
        const WholeRead d = read_whole(eroute, buf);
        const WholeRead s = read_whole(kShmBig, buf);
        if (d.bytes != text.size() || s.bytes != text.size()) note("!! a read returned %zu / %zu bytes", d.bytes, s.bytes);
        note("round %d: ipsec_eroute %.3f s (first read %.3f s), tmpfs %.3f s", r + 1, d.seconds, d.first_read_s,
             s.seconds);
        if (d.seconds < best_d.seconds) best_d = d;
        if (s.seconds < best_s.seconds) best_s = s;
    }
    const double mb = double(text.size()) / 1e6;
    report("read ipsec_eroute whole (128 KiB reads)", mb / best_d.seconds, "MB/s", mb / best_s.seconds, "tmpfs file");
    report("  time to the first read's return (render)", best_d.first_read_s * 1e3, "ms", best_d.seconds * 1e3,
           "whole read");
    report("  after the first read (FUSE transfer)", mb / (best_d.seconds - best_d.first_read_s), "MB/s",
           mb / best_s.seconds, "tmpfs file");
    const double cat_d = run_cat(eroute), cat_s = run_cat(kShmBig);
    report("real cat > /dev/null, once", mb / cat_d, "MB/s", mb / cat_s, "cat of the tmpfs file");
    note("cat took %.3f s (tmpfs: %.3f s)", cat_d, cat_s);
    unlink(kShmBig);

    // 4. Memory.
    std::printf("\n4. daemon memory (/proc/%d/status)\n", int(daemon));
    const double rss_after = status_bytes(daemon, "VmRSS"), hwm_after = status_bytes(daemon, "VmHWM");
    note("empty:               VmRSS %8.1f MB  VmHWM %8.1f MB", rss_empty / 1e6, hwm_empty / 1e6);
    note("after %9s adds: VmRSS %8.1f MB  VmHWM %8.1f MB", with_commas(c.eroutes).c_str(), rss_loaded / 1e6,
         hwm_loaded / 1e6);
    note("after the reads:     VmRSS %8.1f MB  VmHWM %8.1f MB", rss_after / 1e6, hwm_after / 1e6);
    report("VmRSS bytes per eroute (loaded - empty)", (rss_loaded - rss_empty) / double(c.eroutes), "bytes",
           double(sizeof(kmod_sim::Eroute)), "sizeof(Eroute)");
    report("VmHWM bytes per eroute, after the reads", (hwm_after - hwm_empty) / double(c.eroutes), "bytes",
           double(text.size()) / double(lines), "listing bytes per line");

    std::printf("\n| table | figure | value | baseline (same run) | ratio |\n|---|---|---|---|---|\n");
    for (const Row& r : g_rows)
        std::printf("| %s | %s | %.2f %s | %.2f (%s) | %.2f |\n", r.section.c_str(), r.name.c_str(), r.value,
                    r.unit.c_str(), r.baseline, r.baseline_name.c_str(), r.baseline > 0 ? r.value / r.baseline : 0.0);
    std::printf("\ncommand: %s\n", command.c_str());
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    Config c;
    std::string command;
    for (int i = 0; i < argc; ++i) command += (i ? " " : "") + std::string(argv[i]);
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "--quick") {
            c.quick = true;
        } else if (a == "--kmod-sim" && i + 1 < argc) {
            c.bin = argv[++i];
        } else {
            std::fprintf(stderr, "usage: %s [--quick] [--kmod-sim PATH]\n", argv[0]);
            return 2;
        }
    }
    if (c.quick) {
        c.eroutes = 100'000;
        c.sync_messages = 5'000;
        c.op_seconds = 0.5;
    }
    if (geteuid() != 0 || access("/dev/fuse", R_OK | W_OK) != 0) {
        std::printf("bench_daemon: needs root and /dev/fuse (it mounts FUSE views); skipped\n");
        return 0;
    }
    if (c.bin.empty() || access(c.bin.c_str(), X_OK) != 0) {
        std::fprintf(stderr, "bench_daemon: no kmod-sim binary at '%s' (use --kmod-sim PATH)\n", c.bin.c_str());
        return 2;
    }
    struct sigaction sa {};
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    for (int s : {SIGINT, SIGTERM, SIGHUP}) sigaction(s, &sa, nullptr);
    signal(SIGPIPE, SIG_IGN);

    int status = 1;
    try {
        status = run(c, command);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "bench_daemon: %s\n", e.what());
    }
    cleanup();
    for (const char* p : {kRunDir, kTrivialDir})
        if (mounted_at(p) || mounted_at(std::string(p) + "/proc")) std::fprintf(stderr, "bench_daemon: %s is still mounted\n", p);
    return status;
}
