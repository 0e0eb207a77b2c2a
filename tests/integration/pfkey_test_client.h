// A PF_KEY v2 client for the integration tests: one SOCK_SEQPACKET connection to DIR/pfkey,
// messages encoded and decoded with the project's codec (kmod_sim/lib/pfkey_message.h), and
// builders for the messages `ipsec eroute`, `spi`, `spigrp`, `tncfg`, `klipsdebug` send.
//
// Every receive is bounded by poll(); a missing reply is a failure with a message, not a hang.
#pragma once

#include <cerrno>
#include <cstring>
#include <deque>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "kmod_sim/lib/ip_address.h"
#include "kmod_sim/lib/pfkey_message.h"
#include "kmod_sim/lib/pfkey_types.h"

namespace it {

namespace pf = kmod_sim::pfkey;
using kmod_sim::AddressFamily;
using kmod_sim::IpAddress;

inline int connect_pfkey(const std::string& path) {
    int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.size() >= sizeof addr.sun_path) {
        close(fd);
        errno = ENAMETOOLONG;
        return -1;
    }
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

// errno of connecting to `path`, 0 on success.
inline int connect_errno(const std::string& path) {
    int fd = connect_pfkey(path);
    if (fd < 0) return errno;
    close(fd);
    return 0;
}

inline IpAddress addr(std::string_view text) {
    auto parsed = kmod_sim::ttoaddr(text, AddressFamily::unspecified);
    if (!parsed) throw std::runtime_error("bad address in test: " + std::string(text));
    return *parsed;
}

inline pf::AddressExt address_ext(std::string_view text, uint16_t port = 0) {
    pf::AddressExt a;
    a.address = addr(text);
    a.port = port;
    return a;
}

inline pf::AddressExt mask_ext(std::string_view like, int bits, bool port_given) {
    pf::AddressExt a;
    a.address = kmod_sim::mask_from_bits(addr(like).family(), bits);
    a.port = port_given ? 0xffff : 0;
    return a;
}

class PfkeyClient {
public:
    explicit PfkeyClient(const std::string& path) : fd_(connect_pfkey(path)) {
        if (fd_ < 0) throw std::runtime_error("cannot connect to " + path + ": " + std::strerror(errno));
    }
    ~PfkeyClient() {
        if (fd_ >= 0) close(fd_);
    }
    PfkeyClient(const PfkeyClient&) = delete;
    PfkeyClient& operator=(const PfkeyClient&) = delete;

    int fd() const { return fd_; }
    void close_now() {
        if (fd_ >= 0) close(fd_);
        fd_ = -1;
    }

    void send_raw(std::span<const uint8_t> bytes) {
        ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
        if (n != static_cast<ssize_t>(bytes.size()))
            throw std::runtime_error(std::string("send to pfkey: ") + (n < 0 ? std::strerror(errno) : "short"));
    }

    void send(const pf::Message& m) {
        auto bytes = pf::encode(m);
        if (!bytes) throw std::runtime_error("test built an unencodable message: " + std::string(bytes.error()));
        send_raw(*bytes);
    }

    // One datagram, or nullopt after `timeout_ms` without one. Throws on EOF.
    std::optional<std::vector<uint8_t>> recv_raw(int timeout_ms = 5000) {
        pollfd p{fd_, POLLIN, 0};
        int r = poll(&p, 1, timeout_ms);
        if (r < 0) throw std::runtime_error(std::string("poll: ") + std::strerror(errno));
        if (r == 0) return std::nullopt;
        std::vector<uint8_t> buf(1 << 20);
        ssize_t n = ::recv(fd_, buf.data(), buf.size(), MSG_TRUNC);
        if (n < 0) throw std::runtime_error(std::string("recv: ") + std::strerror(errno));
        if (n == 0 && (p.revents & (POLLHUP | POLLERR)))
            throw std::runtime_error("the daemon closed the PF_KEY connection");
        if (static_cast<size_t>(n) > buf.size()) throw std::runtime_error("reply larger than 1 MiB");
        buf.resize(static_cast<size_t>(n));
        return buf;
    }

    // A decoded datagram (layout only: error replies and broadcasts need no validation).
    pf::Message recv(int timeout_ms = 5000) {
        auto raw = recv_raw(timeout_ms);
        if (!raw) throw std::runtime_error("no PF_KEY reply within " + std::to_string(timeout_ms) + " ms");
        return decode(*raw);
    }

    static pf::Message decode(const std::vector<uint8_t>& raw) {
        auto m = pf::decode_layout(raw);
        if (!m) throw std::runtime_error("reply does not decode: " + std::string(m.error()));
        return *m;
    }

    // Sends `m` with this client's next seq and our pid and returns its reply: the first
    // datagram carrying that seq and pid (others, e.g. broadcasts of other clients'
    // changes, are kept in `others`).
    pf::Message request(pf::Message m, int timeout_ms = 5000) {
        m.seq = ++seq_;
        m.pid = static_cast<uint32_t>(getpid());
        send(m);
        for (;;) {
            pf::Message reply = recv(timeout_ms);
            if (reply.seq == m.seq && reply.pid == m.pid) return reply;
            others.push_back(std::move(reply));
            if (others.size() > 100000) throw std::runtime_error("flooded with foreign PF_KEY messages");
        }
    }

    // The errno of the reply to `m` (0 for success).
    int errno_of(pf::Message m, int timeout_ms = 5000) { return request(std::move(m), timeout_ms).errno_value; }

    // True if nothing arrives within `timeout_ms`.
    bool quiet(int timeout_ms = 100) {
        pollfd p{fd_, POLLIN, 0};
        return poll(&p, 1, timeout_ms) == 0;
    }

    uint32_t next_seq() { return ++seq_; }

    std::deque<pf::Message> others;

private:
    int fd_ = -1;
    uint32_t seq_ = 0;
};

// ---------------------------------------------------------------------------------------------
// Message builders

// The satype of a SAID protocol as PF_KEY names it.
enum Satype : uint8_t { kAh = 2, kEsp = 3, kIpip = 9, kComp = 10, kInt = 11 };

constexpr uint32_t kSpiPass = 256, kSpiDrop = 257, kSpiReject = 258, kSpiHold = 259, kSpiTrap = 260,
                   kSpiTrapSubnet = 261;

struct Flow {
    std::string src;  // address text as it goes into the flow (may carry host bits)
    int src_bits = 0;
    std::string dst;
    int dst_bits = 0;
    uint8_t proto = 0;
    uint16_t sport = 0;
    uint16_t dport = 0;
};

struct SaidSpec {
    uint8_t satype = kEsp;
    uint32_t spi = 0;
    std::string edst;  // "0.0.0.0" for the magic SAIDs
};

inline pf::Message base(uint8_t type, uint8_t satype) {
    pf::Message m;
    m.type = type;
    m.satype = satype;
    return m;
}

inline void put_flow(pf::Message& m, const Flow& f) {
    m.x_src_flow = address_ext(f.src, f.sport);
    m.x_dst_flow = address_ext(f.dst, f.dport);
    m.x_src_mask = mask_ext(f.src, f.src_bits, f.sport != 0);
    m.x_dst_mask = mask_ext(f.dst, f.dst_bits, f.dport != 0);
    if (f.proto) m.x_protocol = pf::XProtocolExt{f.proto, 0, 0};
}

inline pf::SaExt sa_ext(uint32_t spi, uint32_t flags = 0) {
    pf::SaExt sa;
    sa.spi = spi;
    sa.flags = flags;
    return sa;
}

// SADB_X_ADDFLOW as `ipsec eroute --add` builds it (ADDRESS_SRC 0.0.0.0 of the edst family).
inline pf::Message addflow(const Flow& f, const SaidSpec& said, uint32_t flags = 0, std::string src_ident = "",
                           std::string dst_ident = "") {
    pf::Message m = base(pf::kXAddFlow, said.satype);
    m.sa = sa_ext(said.spi, flags);
    const IpAddress edst = addr(said.edst);
    m.address_src = pf::AddressExt{};
    m.address_src->address = IpAddress::unspecified(edst.family());
    m.address_dst = address_ext(said.edst);
    put_flow(m, f);
    if (!src_ident.empty()) m.identity_src = pf::IdentityExt{pf::kIdentFqdn, 0, std::move(src_ident)};
    if (!dst_ident.empty()) m.identity_dst = pf::IdentityExt{pf::kIdentFqdn, 0, std::move(dst_ident)};
    return m;
}

// SADB_X_DELFLOW for one selector.
inline pf::Message delflow(const Flow& f, uint8_t satype = kInt) {
    pf::Message m = base(pf::kXDelFlow, satype);
    m.sa = sa_ext(0);
    put_flow(m, f);
    return m;
}

// SADB_X_DELFLOW with CLEARFLOW: the whole table.
inline pf::Message clearflow() {
    pf::Message m = base(pf::kXDelFlow, kInt);
    m.sa = sa_ext(0, pf::kSaFlagXClearFlow);
    return m;
}

struct SaSpec {
    uint8_t satype = kEsp;
    uint32_t spi = 0;
    std::string dst;
    std::string src;
    uint8_t replay = 0;
    uint8_t auth = 0;
    uint8_t encrypt = 0;
    uint16_t auth_key_bits = 0;  // 0: no KEY_AUTH
    uint16_t enc_key_bits = 0;   // 0: no KEY_ENCRYPT
    std::optional<pf::LifetimeExt> soft, hard, current;
};

inline pf::KeyExt key(uint16_t bits, uint8_t fill) {
    pf::KeyExt k;
    k.bits = bits;
    k.bytes.assign((bits + 7u) / 8u, fill);
    return k;
}

// SADB_ADD, state MATURE.
inline pf::Message add_sa(const SaSpec& s) {
    pf::Message m = base(pf::kAdd, s.satype);
    m.sa = sa_ext(s.spi);
    m.sa->replay = s.replay;
    m.sa->state = pf::kSaStateMature;
    m.sa->auth = s.auth;
    m.sa->encrypt = s.encrypt;
    m.address_src = address_ext(s.src);
    m.address_dst = address_ext(s.dst);
    if (s.auth_key_bits) m.key_auth = key(s.auth_key_bits, 0xa5);
    if (s.enc_key_bits) m.key_encrypt = key(s.enc_key_bits, 0x5a);
    m.lifetime_soft = s.soft;
    m.lifetime_hard = s.hard;
    m.lifetime_current = s.current;
    return m;
}

// The supported kinds, keyed as the tests name them.
inline SaSpec esp_chacha(uint32_t spi, std::string dst, std::string src, uint8_t replay = 32) {
    return {kEsp, spi, std::move(dst), std::move(src), replay, pf::kAuthNone, pf::kEncryptChacha20Poly1305, 0, 288,
            {}, {}, {}};
}
inline SaSpec esp_aes_gcm(uint32_t spi, std::string dst, std::string src, uint8_t replay = 32) {
    return {kEsp, spi, std::move(dst), std::move(src), replay, pf::kAuthNone, pf::kEncryptAesGcm16, 0, 288, {}, {}, {}};
}
inline SaSpec esp_null_sha256(uint32_t spi, std::string dst, std::string src, uint8_t replay = 32) {
    return {kEsp, spi, std::move(dst), std::move(src), replay, pf::kAuthSha2_256, pf::kEncryptNull, 256, 0, {}, {}, {}};
}
inline SaSpec esp_null_sha512(uint32_t spi, std::string dst, std::string src, uint8_t replay = 32) {
    return {kEsp, spi, std::move(dst), std::move(src), replay, pf::kAuthSha2_512, pf::kEncryptNull, 512, 0, {}, {}, {}};
}
inline SaSpec ah_sha256(uint32_t spi, std::string dst, std::string src, uint8_t replay = 32) {
    return {kAh, spi, std::move(dst), std::move(src), replay, pf::kAuthSha2_256, pf::kEncryptNone, 256, 0, {}, {}, {}};
}
inline SaSpec ah_sha512(uint32_t spi, std::string dst, std::string src, uint8_t replay = 32) {
    return {kAh, spi, std::move(dst), std::move(src), replay, pf::kAuthSha2_512, pf::kEncryptNone, 512, 0, {}, {}, {}};
}
inline SaSpec ipip(uint32_t spi, std::string dst, std::string src) {
    return {kIpip, spi, std::move(dst), std::move(src), 0, 0, 0, 0, 0, {}, {}, {}};
}
inline SaSpec comp_deflate(uint32_t spi, std::string dst, std::string src) {
    return {kComp, spi, std::move(dst), std::move(src), 0, pf::kAuthNone, pf::kCompDeflate, 0, 0, {}, {}, {}};
}

// SADB_DELETE
inline pf::Message delete_sa(uint8_t satype, uint32_t spi, const std::string& dst) {
    pf::Message m = base(pf::kDelete, satype);
    m.sa = sa_ext(spi);
    m.address_dst = address_ext(dst);
    return m;
}

// SADB_FLUSH (satype 0: every SA).
inline pf::Message flush(uint8_t satype = 0) { return base(pf::kFlush, satype); }

// SADB_X_GRPSA: `inner` just inside `outer`.
inline pf::Message grpsa(const SaidSpec& inner, const SaidSpec& outer) {
    pf::Message m = base(pf::kXGrpSa, inner.satype);
    m.sa = sa_ext(inner.spi);
    m.address_dst = address_ext(inner.edst);
    m.x_satype2 = pf::XSaTypeExt{outer.satype};
    m.x_sa2 = sa_ext(outer.spi);
    m.x_address_dst2 = address_ext(outer.edst);
    return m;
}

// SADB_X_GRPSA without the second SA: ungroup.
inline pf::Message ungrpsa(const SaidSpec& said) {
    pf::Message m = base(pf::kXGrpSa, said.satype);
    m.sa = sa_ext(said.spi);
    m.address_dst = address_ext(said.edst);
    return m;
}

// SADB_X_DEBUG with the twelve words as given (netlink's top bit: OR mode).
inline pf::Message debug(const std::array<uint32_t, 12>& words) {
    pf::Message m = base(pf::kXDebug, 0);
    m.x_debug = pf::XDebugExt{words};
    return m;
}
// `ipsec klipsdebug --set <word>` (bits of that word OR-ed in).
inline pf::Message debug_set(pf::XDebugExt::Word word, uint32_t bits = 0xffffffff) {
    std::array<uint32_t, 12> w{};
    w[word] = bits;
    w[pf::XDebugExt::netlink] |= 0x80000000u;
    return debug(w);
}
// `ipsec klipsdebug --clear <word>` (everything AND-ed with all ones but that word).
inline pf::Message debug_clear(pf::XDebugExt::Word word, uint32_t bits = 0xffffffff) {
    std::array<uint32_t, 12> w;
    w.fill(0xffffffff);
    w[pf::XDebugExt::netlink] &= ~0x80000000u;
    w[word] &= ~bits;
    return debug(w);
}

// X_TNCFG (private, type 200).
inline pf::Message tncfg(uint8_t operation, std::string virt, std::string phys = "") {
    pf::Message m = base(pf::kXTncfg, 0);
    m.x_tncfg = pf::XTncfgExt{operation, std::move(virt), std::move(phys)};
    return m;
}

// X_CLOCK (private, type 201).
inline pf::Message clock(uint8_t operation, uint64_t seconds = 0) {
    pf::Message m = base(pf::kXClock, 0);
    m.x_clock = pf::XClockExt{operation, seconds};
    return m;
}

// SADB_REGISTER
inline pf::Message register_for(uint8_t satype) { return base(pf::kRegister, satype); }

}  // namespace it
