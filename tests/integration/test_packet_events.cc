// What the data plane tells PF_KEY, through a running instance (spec/klips.md §6.4, §6.5,
// §7.7): a packet on a %trap eroute sends ACQUIRE to the sockets registered for ESP and
// leaves a %hold behind; replacing that %hold with REPLACEFLOW sends its packets on (fetched
// with a collect request on DIR/packets); lifetimes send EXPIRE to every socket, and a hard
// one deletes the group. The configuration goes in through the ipsec commands, the packets
// through DIR/packets, and the messages are read on PF_KEY sockets of the test's own.
#include <catch2/catch.hpp>

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <vector>

#include "daemon_instance.h"
#include "ipsec_runner.h"
#include "kmod_sim/lib/inject_protocol.h"
#include "pfkey_test_client.h"
#include "scenario.h"

using namespace it;
namespace inj = kmod_sim::inject;

namespace {

using Bytes = std::vector<uint8_t>;

// A client of DIR/packets: one request, one answer, within a bounded wait.
class PacketClient {
public:
    explicit PacketClient(const std::string& dir) : fd_(socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0)) {
        sockaddr_un address{};
        address.sun_family = AF_UNIX;
        const std::string path = dir + "/" + inj::kSocketName;
        std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
        if (fd_ < 0 || connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0)
            throw std::runtime_error("cannot connect to " + path + ": " + std::strerror(errno));
    }
    ~PacketClient() { close(fd_); }
    PacketClient(const PacketClient&) = delete;
    PacketClient& operator=(const PacketClient&) = delete;

    inj::InjectAnswer request(inj::InjectKind kind, const Bytes& packet = {}) {
        const Bytes bytes = inj::encode_request(kind, ++tag_, packet);
        if (send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(bytes.size()))
            throw std::runtime_error(std::string("send to DIR/packets: ") + std::strerror(errno));
        pollfd p{fd_, POLLIN, 0};
        if (poll(&p, 1, 5000) != 1) throw std::runtime_error("no answer on DIR/packets within 5 s");
        Bytes answer(1 << 20);
        const ssize_t n = recv(fd_, answer.data(), answer.size(), 0);
        if (n <= 0) throw std::runtime_error("DIR/packets closed or failed");
        answer.resize(static_cast<size_t>(n));
        std::string error;
        auto decoded = inj::decode_answer(answer, &error);
        if (!decoded) throw std::runtime_error("answer does not decode: " + error);
        if (decoded->tag != tag_) throw std::runtime_error("answer to another request");
        return *decoded;
    }

private:
    int fd_;
    uint32_t tag_ = 0;
};

uint16_t checksum(const Bytes& b, size_t from, size_t to) {
    uint32_t sum = 0;
    for (size_t i = from; i + 1 < to; i += 2) sum += uint32_t(b[i]) << 8 | b[i + 1];
    while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
    return static_cast<uint16_t>(~sum);
}

// An IPv4 UDP packet (UDP checksum 0: none) with `size` bytes of payload.
Bytes udp4(const IpAddress& src, const IpAddress& dst, uint16_t sport, uint16_t dport, size_t size) {
    Bytes p(28 + size, 0);
    p[0] = 0x45;
    p[2] = static_cast<uint8_t>(p.size() >> 8);
    p[3] = static_cast<uint8_t>(p.size());
    p[8] = 64;
    p[9] = 17;
    std::copy(src.bytes().begin(), src.bytes().end(), p.begin() + 12);
    std::copy(dst.bytes().begin(), dst.bytes().end(), p.begin() + 16);
    const uint16_t sum = checksum(p, 0, 20);
    p[10] = static_cast<uint8_t>(sum >> 8);
    p[11] = static_cast<uint8_t>(sum);
    p[20] = static_cast<uint8_t>(sport >> 8);
    p[21] = static_cast<uint8_t>(sport);
    p[22] = static_cast<uint8_t>(dport >> 8);
    p[23] = static_cast<uint8_t>(dport);
    p[24] = static_cast<uint8_t>((8 + size) >> 8);
    p[25] = static_cast<uint8_t>(8 + size);
    for (size_t i = 0; i < size; ++i) p[28 + i] = static_cast<uint8_t>('a' + i % 26);
    return p;
}

void ipsec_ok(const std::vector<std::string>& args, const std::string& dir) {
    IpsecResult r = run_ipsec(args, dir);
    INFO("ipsec " << args[0] << " " << (args.size() > 1 ? args[1] : "") << ": " << r.err);
    CHECK(r.err.empty());
    REQUIRE(r.status == 0);
}

// The first message of `type` to reach `c`, within a bounded wait; the others are skipped
// (the echoes of every ADD and X_ADDFLOW reach every socket).
pf::Message next_of_type(PfkeyClient& c, uint8_t type) {
    for (int i = 0; i < 1000; ++i) {
        pf::Message m = c.recv(5000);
        if (m.type == type) return m;
    }
    throw std::runtime_error("no PF_KEY message of type " + std::to_string(type) + " among 1000");
}

std::vector<std::string> lines_of(const std::string& text) {
    std::vector<std::string> lines;
    size_t at = 0;
    for (size_t nl; (nl = text.find('\n', at)) != std::string::npos; at = nl + 1) lines.push_back(text.substr(at, nl - at));
    return lines;
}

// The listing line of an eroute, by everything after its count; "" when there is none.
std::string eroute_line(const DaemonInstance& d, const std::string& rest) {
    for (const std::string& line : lines_of(read_view_file(d.view("net/ipsec_eroute")))) {
        const size_t space = line.find(' ');
        if (space != std::string::npos && line.substr(space + 1) == rest) return line;
    }
    return "";
}

bool has_sa(const DaemonInstance& d, const std::string& said) {
    for (const std::string& line : lines_of(read_view_file(d.view("net/ipsec_spi"))))
        if (line.rfind(said + " ", 0) == 0) return true;
    return false;
}

const std::string kKey72 = "0x000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20212223";

// tun.1001 + esp.1002 from 192.0.2.1 to 192.0.2.2, grouped; extra options for the ESP SA.
void add_tunnel(const std::string& dir, const std::vector<std::string>& esp_options = {}) {
    ipsec_ok({"spi", "--ip4", "--said", "tun.1001@192.0.2.2", "--src", "192.0.2.1", "--dst", "192.0.2.2"}, dir);
    std::vector<std::string> esp{"spi", "--esp", "chacha20-poly1305", "--said", "esp.1002@192.0.2.2", "--src",
                                 "192.0.2.1"};
    esp.insert(esp.end(), esp_options.begin(), esp_options.end());
    esp.insert(esp.end(), {"--enckey", kKey72});
    ipsec_ok(esp, dir);
    ipsec_ok({"spigrp", "--said", "tun.1001@192.0.2.2", "esp.1002@192.0.2.2"}, dir);
}

}  // namespace

TEST_CASE("packets: %trap sends ACQUIRE and holds; REPLACEFLOW sends the held packets on", "[packets][acquire]") {
    DaemonInstance d("pkt-acquire");
    d.start_or_throw();
    const std::string dir = d.dir();
    PfkeyClient negotiator(d.pfkey_path());  // a key daemon: registered for ESP
    ok(negotiator, register_for(kEsp), "REGISTER ESP");
    PfkeyClient bystander(d.pfkey_path());   // not registered: ACQUIRE is not for it
    ipsec_ok({"eroute", "--add", "--eraf", "inet", "--src", "10.0.1.0/24", "--dst", "10.0.2.0/24", "--said", "%trap"},
             dir);

    PacketClient packets(dir);
    const IpAddress a = addr("10.0.1.5"), b = addr("10.0.2.7");
    const Bytes first = udp4(a, b, 1234, 80, 40), second = udp4(a, b, 1234, 80, 41);
    inj::InjectAnswer trapped = packets.request(inj::InjectKind::out, first);
    CHECK(trapped.outcome == inj::InjectOutcome::trapped);
    CHECK(trapped.packets.empty());

    // §6.4: ACQUIRE, satype ESP, the packet's addresses (the trap has no protocol: ports 0),
    // KLIPS's proposal: replay 64, 3DES with MD5 and with SHA-1.
    const pf::Message acquire = next_of_type(negotiator, pf::kAcquire);
    CHECK(acquire.satype == kEsp);
    REQUIRE(acquire.address_src.has_value());
    REQUIRE(acquire.address_dst.has_value());
    CHECK(acquire.address_src->address == a);
    CHECK(acquire.address_dst->address == b);
    CHECK(acquire.address_src->port == 0);
    REQUIRE(acquire.proposal.has_value());
    CHECK(acquire.proposal->replay == 64);
    REQUIRE(acquire.proposal->combs.size() == 2);
    CHECK(acquire.proposal->combs[0].auth == pf::kAuthMd5Hmac);
    CHECK(acquire.proposal->combs[1].auth == pf::kAuthSha1Hmac);
    CHECK(acquire.proposal->combs[0].encrypt == pf::kEncrypt3DesCbc);
    // The bystander heard the X_ADDFLOW echo, and nothing after it.
    CHECK(next_of_type(bystander, pf::kXAddFlow).errno_value == 0);
    CHECK(bystander.quiet(200));

    // The trap counted the packet and stays; a host-to-host %hold owns the flow now.
    CHECK(eroute_line(d, "10.0.1.0/24:0 -> 10.0.2.0/24:0 => %trap") == "1 10.0.1.0/24:0 -> 10.0.2.0/24:0 => %trap");
    CHECK(eroute_line(d, "10.0.1.5/32:0 -> 10.0.2.7/32:0 => %hold") == "0 10.0.1.5/32:0 -> 10.0.2.7/32:0 => %hold");
    CHECK(read_view_file(d.view("net/ipsec/stats/trap_count")) == "00000001\n");
    CHECK(read_view_file(d.view("net/ipsec/stats/trap_sendcount")) == "00000001\n");

    inj::InjectAnswer held = packets.request(inj::InjectKind::out, second);
    CHECK(held.outcome == inj::InjectOutcome::held);
    CHECK(eroute_line(d, "10.0.1.5/32:0 -> 10.0.2.7/32:0 => %hold") == "1 10.0.1.5/32:0 -> 10.0.2.7/32:0 => %hold");

    // The key daemon's answer: SAs, then the %hold replaced by the tunnel (§6.5): the first
    // and the last held packet go out through it.
    add_tunnel(dir);
    ipsec_ok({"eroute", "--replace", "--eraf", "inet", "--src", "10.0.1.5/32", "--dst", "10.0.2.7/32", "--said",
              "tun0x1001@192.0.2.2"},
             dir);
    inj::InjectAnswer collected = packets.request(inj::InjectKind::collect);
    CHECK(collected.outcome == inj::InjectOutcome::collected);
    REQUIRE(collected.packets.size() == 2);
    for (const inj::InjectedPacket& p : collected.packets) {
        CHECK(p.port == inj::InjectPort::wire);
        REQUIRE(p.bytes.size() > 40);
        CHECK(p.bytes[9] == 50);  // ESP
        CHECK(IpAddress::from_bytes(AddressFamily::inet, {p.bytes.data() + 16, 4}) == addr("192.0.2.2"));
    }
    // Sequence numbers 1 and 2, in the held order: first, then last.
    CHECK(collected.packets[0].bytes[27] == 1);
    CHECK(collected.packets[1].bytes[27] == 2);
    CHECK(eroute_line(d, "10.0.1.5/32:0 -> 10.0.2.7/32:0 => tun0x1001@192.0.2.2:0 () ()") ==
          "2 10.0.1.5/32:0 -> 10.0.2.7/32:0 => tun0x1001@192.0.2.2:0 () ()");
    // Nothing more to collect.
    CHECK(packets.request(inj::InjectKind::collect).packets.empty());
    CHECK(describe_status(d.stop()) == "exit 0");
}

TEST_CASE("packets: without a socket registered for ESP, %trap installs nothing", "[packets][acquire]") {
    DaemonInstance d("pkt-noacquire");
    d.start_or_throw();
    const std::string dir = d.dir();
    ipsec_ok({"eroute", "--add", "--eraf", "inet", "--src", "10.0.1.0/24", "--dst", "10.0.2.0/24", "--said",
              "%trapsubnet"},
             dir);
    PacketClient packets(dir);
    CHECK(packets.request(inj::InjectKind::out, udp4(addr("10.0.1.5"), addr("10.0.2.7"), 1, 2, 10)).outcome ==
          inj::InjectOutcome::trapped);
    // Counted and tried, not sent: the eroute stays %trapsubnet.
    CHECK(read_view_file(d.view("net/ipsec/stats/trap_count")) == "00000001\n");
    CHECK(read_view_file(d.view("net/ipsec/stats/trap_sendcount")) == "00000000\n");
    CHECK(read_view_file(d.view("net/ipsec_eroute")) == "1 10.0.1.0/24:0 -> 10.0.2.0/24:0 => %trapsubnet\n");
    CHECK(describe_status(d.stop()) == "exit 0");
}

TEST_CASE("packets: a soft lifetime sends one EXPIRE, a hard one another and deletes the group", "[packets][expire]") {
    DaemonInstance d("pkt-expire", {"--clock", "manual"});
    d.start_or_throw();
    const std::string dir = d.dir();
    PfkeyClient watcher(d.pfkey_path());  // EXPIRE goes to every socket, registered or not
    add_tunnel(dir, {"--life", "soft-packets=2,hard-packets=3"});
    ipsec_ok({"eroute", "--add", "--eraf", "inet", "--src", "10.0.1.0/24", "--dst", "10.0.2.0/24", "--said",
              "tun0x1001@192.0.2.2"},
             dir);
    PacketClient packets(dir);
    const Bytes p = udp4(addr("10.0.1.5"), addr("10.0.2.7"), 1234, 80, 30);

    // §7.7: checked before each packet, "strictly greater": packets 1-3 go out quietly; the
    // 4th finds 3 > 2 (soft: EXPIRE, DYING, still sent); the 5th finds 4 > 3 (hard).
    for (int n = 1; n <= 3; ++n) CHECK(packets.request(inj::InjectKind::out, p).outcome == inj::InjectOutcome::sent);
    CHECK(packets.request(inj::InjectKind::out, p).outcome == inj::InjectOutcome::sent);
    const pf::Message soft = next_of_type(watcher, pf::kExpire);
    CHECK(soft.satype == kEsp);
    REQUIRE(soft.sa.has_value());
    CHECK(soft.sa->spi == 0x1002);
    CHECK(soft.sa->state == pf::kSaStateDying);
    CHECK(soft.lifetime_soft.has_value());
    CHECK_FALSE(soft.lifetime_hard.has_value());
    REQUIRE(soft.lifetime_current.has_value());
    CHECK(soft.lifetime_current->packets == 3);

    inj::InjectAnswer last = packets.request(inj::InjectKind::out, p);
    CHECK(last.outcome == inj::InjectOutcome::dropped);
    CHECK(last.summary.find("hard lifetime") != std::string::npos);
    const pf::Message hard = next_of_type(watcher, pf::kExpire);
    CHECK(hard.sa->spi == 0x1002);
    CHECK(hard.lifetime_hard.has_value());
    CHECK_FALSE(hard.lifetime_soft.has_value());
    CHECK(hard.lifetime_current->packets == 4);

    // The whole group is gone (§7.1); the eroute stays, pointing at nothing.
    CHECK_FALSE(has_sa(d, "esp.1002@192.0.2.2"));
    CHECK_FALSE(has_sa(d, "tun.1001@192.0.2.2"));
    inj::InjectAnswer after = packets.request(inj::InjectKind::out, p);
    CHECK(after.outcome == inj::InjectOutcome::dropped);
    CHECK(after.summary.find("no SA") != std::string::npos);
    CHECK(eroute_line(d, "10.0.1.0/24:0 -> 10.0.2.0/24:0 => tun0x1001@192.0.2.2:0 () ()") ==
          "6 10.0.1.0/24:0 -> 10.0.2.0/24:0 => tun0x1001@192.0.2.2:0 () ()");
    CHECK(watcher.quiet(200));  // exactly one soft and one hard EXPIRE
    CHECK(describe_status(d.stop()) == "exit 0");
}
