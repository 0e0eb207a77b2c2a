// The PF_KEY load bench_daemon.cc puts on the daemon: X_ADDFLOW messages pre-encoded into one
// buffer before any timing, sent pipelined (a window of outstanding requests) or synchronously
// with every reply checked, and the baseline they are compared against: a thread echoing the
// same datagrams over a SEQPACKET socketpair. Included only by bench_daemon.cc.
#pragma once

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "bench_daemon_common.h"
#include "bench_daemon_process.h"
#include "kmod_sim/lib/ip_address.h"
#include "kmod_sim/lib/pfkey_message.h"
#include "kmod_sim/lib/pfkey_types.h"

namespace pf = kmod_sim::pfkey;
using kmod_sim::AddressFamily;
using kmod_sim::IpAddress;

namespace {

// ---------------------------------------------------------------------------------------------
// PF_KEY

int connect_pfkey() {
    const std::string path = std::string(kRunDir) + "/pfkey";
    const int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    if (fd < 0) die(errno_text("socket"));
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) die(errno_text("connect " + path));
    return fd;
}

pf::AddressExt address_ext(IpAddress a) {
    pf::AddressExt e;
    e.address = a;
    return e;
}

// SADB_X_ADDFLOW as `ipsec eroute --add` builds it: host pair src/32 -> dst/32 => SAID
// tun0x<spi>@192.168.0.1 (satype IPIP).
std::vector<uint8_t> addflow(uint32_t src, uint32_t dst, uint32_t spi, uint32_t seq) {
    pf::Message m;
    m.type = pf::kXAddFlow;
    m.satype = pf::kSaTypeXIpip;
    m.seq = seq;
    m.pid = static_cast<uint32_t>(getpid());
    pf::SaExt sa;
    sa.spi = spi;
    m.sa = sa;
    m.address_src = address_ext(IpAddress::unspecified(AddressFamily::inet));
    m.address_dst = address_ext(IpAddress::v4(192, 168, 0, 1));
    m.x_src_flow = address_ext(IpAddress::v4(src));
    m.x_dst_flow = address_ext(IpAddress::v4(dst));
    m.x_src_mask = address_ext(kmod_sim::mask_from_bits(AddressFamily::inet, 32));
    m.x_dst_mask = address_ext(kmod_sim::mask_from_bits(AddressFamily::inet, 32));
    auto bytes = pf::encode(m);
    if (!bytes) die("cannot encode X_ADDFLOW: " + std::string(bytes.error()));
    return std::move(*bytes);
}

// SADB_X_DELFLOW with CLEARFLOW: the whole table.
std::vector<uint8_t> clearflow(uint32_t seq) {
    pf::Message m;
    m.type = pf::kXDelFlow;
    m.satype = pf::kSaTypeXInt;
    m.seq = seq;
    m.pid = static_cast<uint32_t>(getpid());
    pf::SaExt sa;
    sa.flags = pf::kSaFlagXClearFlow;
    m.sa = sa;
    auto bytes = pf::encode(m);
    if (!bytes) die("cannot encode X_DELFLOW: " + std::string(bytes.error()));
    return std::move(*bytes);
}

// Pre-encoded messages in one flat buffer.
struct Batch {
    std::vector<uint8_t> bytes;
    std::vector<size_t> offsets;  // one past the last: bytes.size()
    size_t size() const { return offsets.size(); }
    void add(const std::vector<uint8_t>& m) {
        offsets.push_back(bytes.size());
        bytes.insert(bytes.end(), m.begin(), m.end());
    }
    size_t length(size_t i) const { return (i + 1 < offsets.size() ? offsets[i + 1] : bytes.size()) - offsets[i]; }
};

// `n` distinct host-pair eroutes: src 10.0.0.0 + base + i, dst 172.16.0.0 + (i & 0xfffff).
Batch make_addflows(size_t n, uint32_t src_base) {
    Batch b;
    b.offsets.reserve(n);
    b.bytes.reserve(n * 192);
    for (size_t i = 0; i < n; ++i) {
        const uint32_t k = static_cast<uint32_t>(i);
        b.add(addflow(0x0a000000u + src_base + k, 0xac100000u + (k & 0xfffff), 0x1000 + (k & 0xfff), k + 1));
    }
    return b;
}

uint32_t seq_of(const uint8_t* m) {
    uint32_t seq;
    std::memcpy(&seq, m + 8, sizeof seq);
    return seq;
}

struct PipeResult {
    double seconds = 0;
    uint64_t ok = 0, failed = 0, out_of_order = 0;
    uint64_t receives = 0;  // recvmmsg calls: ok / receives = replies per wake-up
    int first_errno = 0;
};

// Sends every message of `batch` over `fd`, keeping at most `window` unanswered, and reads one
// reply per message (errno 0 = ok, in order by seq).
PipeResult pipeline(int fd, const Batch& batch, size_t window) {
    constexpr size_t kBurst = 64;
    std::vector<std::vector<uint8_t>> replies(kBurst, std::vector<uint8_t>(64 * 1024));
    mmsghdr sh[kBurst], rh[kBurst];
    iovec sv[kBurst], rv[kBurst];
    PipeResult r;
    const size_t n = batch.size();
    size_t next = 0, done = 0;
    const auto start = Timer::now();
    while (done < n) {
        // Refill once half the window is free: bursts, rather than one message per wake-up.
        if (next < n && (next == done || next - done <= window / 2)) {
            size_t k = std::min(window - (next - done), n - next);
            while (k > 0) {
                const size_t burst = std::min(k, kBurst);
                for (size_t i = 0; i < burst; ++i) {
                    sv[i] = {const_cast<uint8_t*>(batch.bytes.data() + batch.offsets[next + i]), batch.length(next + i)};
                    sh[i] = {};
                    sh[i].msg_hdr.msg_iov = &sv[i];
                    sh[i].msg_hdr.msg_iovlen = 1;
                }
                const int sent = sendmmsg(fd, sh, static_cast<unsigned>(burst), MSG_NOSIGNAL);
                if (sent < 0) {
                    if (errno == EINTR) continue;
                    die(errno_text("sendmmsg"));
                }
                next += static_cast<size_t>(sent);
                k -= static_cast<size_t>(sent);
            }
        }
        for (size_t i = 0; i < kBurst; ++i) {
            rv[i] = {replies[i].data(), replies[i].size()};
            rh[i] = {};
            rh[i].msg_hdr.msg_iov = &rv[i];
            rh[i].msg_hdr.msg_iovlen = 1;
        }
        const int got = recvmmsg(fd, rh, kBurst, MSG_WAITFORONE, nullptr);
        if (got < 0) {
            if (errno == EINTR) continue;
            die(errno_text("recvmmsg"));
        }
        if (got == 0) die("the PF_KEY peer closed the connection");
        ++r.receives;
        for (int i = 0; i < got; ++i) {
            const uint8_t* m = replies[i].data();
            const size_t len = rh[i].msg_len;
            if (len == 0) die("the PF_KEY peer closed the connection");
            ++done;
            if (len < 16 || m[1] != pf::kXAddFlow || m[2] != 0) {
                ++r.failed;
                if (!r.first_errno) r.first_errno = len >= 16 ? m[2] : -1;
            } else {
                ++r.ok;
            }
            if (len >= 16 && seq_of(m) != seq_of(batch.bytes.data() + batch.offsets[done - 1])) ++r.out_of_order;
        }
    }
    r.seconds = seconds_since(start);
    return r;
}

// One request, its reply's errno.
int request(int fd, const std::vector<uint8_t>& m) {
    if (send(fd, m.data(), m.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(m.size())) die(errno_text("send"));
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 60000) != 1) die("no PF_KEY reply within 60 s");
    std::vector<uint8_t> reply(64 * 1024);
    const ssize_t n = recv(fd, reply.data(), reply.size(), 0);
    if (n < 16) die("short PF_KEY reply");
    return reply[2];
}

// The baseline transport: a thread echoing every datagram back over a SEQPACKET socketpair,
// in bursts as the daemon reads and answers them (recvmmsg / sendmmsg).
class EchoServer {
public:
    EchoServer() {
        int fds[2];
        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds) != 0) die(errno_text("socketpair"));
        client_ = fds[0];
        server_ = fds[1];
        thread_ = std::thread([this] { run(); });
    }
    ~EchoServer() {
        shutdown(client_, SHUT_RDWR);
        thread_.join();
        close(client_);
        close(server_);
    }
    int fd() const { return client_; }
    // The echo thread's CPU so far (its own count, updated after every burst).
    Cpu cpu() const { return {cpu_user_.load(), cpu_sys_.load()}; }

private:
    void run() {
        constexpr size_t kSlots = 32;
        std::vector<std::vector<uint8_t>> buffers(kSlots, std::vector<uint8_t>(64 * 1024));
        mmsghdr h[kSlots];
        iovec v[kSlots];
        for (;;) {
            for (size_t i = 0; i < kSlots; ++i) {
                v[i] = {buffers[i].data(), buffers[i].size()};
                h[i] = {};
                h[i].msg_hdr.msg_iov = &v[i];
                h[i].msg_hdr.msg_iovlen = 1;
            }
            const int n = recvmmsg(server_, h, kSlots, MSG_WAITFORONE, nullptr);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) return;
            for (int i = 0; i < n; ++i) {
                if (h[i].msg_len == 0) return;  // end of file
                v[i].iov_len = h[i].msg_len;
            }
            for (int at = 0; at < n;) {
                const int sent = sendmmsg(server_, h + at, static_cast<unsigned>(n - at), MSG_NOSIGNAL);
                if (sent < 0 && errno == EINTR) continue;
                if (sent <= 0) return;
                at += sent;
            }
            const Cpu c = thread_cpu();
            cpu_user_ = c.user;
            cpu_sys_ = c.sys;
        }
    }
    std::atomic<double> cpu_user_{0}, cpu_sys_{0};
    int client_ = -1, server_ = -1;
    std::thread thread_;
};

}  // namespace
