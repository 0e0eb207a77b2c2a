// `ipsec inject out|in IN.pcap [OUT.pcap]`: replays a capture through a running instance's
// engine over its packet socket, DIR/packets (kmod_sim/lib/inject_protocol.h), one packet at
// a time. `out` hands each packet to ipsecN as the host would, `in` as it arrives from the
// network. One line per captured packet tells what became of it; every packet that came out
// goes to OUT.pcap (raw IP, each stamped with the time of the packet it came from).
//
// Not a KLIPS command: KLIPS's packets came from the kernel's stack. Its messages start with
// "ipsec inject: ", as `ipsec batch`'s do.
#include <pcap/pcap.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "command.h"
#include "kmod_sim/lib/inject_protocol.h"

namespace kmod_sim::userland {

namespace {

using inject::InjectAnswer;
using inject::InjectKind;
using inject::InjectOutcome;

constexpr const char* kUsage =
    "usage: ipsec inject out|in IN.pcap [OUT.pcap]\n"
    "Replays the packets of IN.pcap ('-': standard input) through the kmod-sim instance, one at\n"
    "a time: 'out' as the host sends them into ipsecN, 'in' as they arrive from the network.\n"
    "Prints one line per packet, '<n> <outcome>: <what happened>' (outcomes: sent passed\n"
    "delivered rejected held trapped dropped refused, or skipped for a frame that holds no\n"
    "whole IP packet), then 'collected <n>: ...' if the engine re-sent held packets. OUT.pcap,\n"
    "if given, receives every packet that came out, as raw IP.\n"
    "Captures: raw IP, IPv4, IPv6, Ethernet (802.1Q tags too), BSD loopback, Linux cooked.\n"
    "Exit status: 0 when every packet was processed (dropped ones too), 1 on an error or a\n"
    "refused packet, 2 for a usage error.\n";

constexpr int kAnswerTimeoutMs = 10000;

// A usage error: what was wrong, then the usage line. Exit status 2.
int usage_error(const std::string& why) {
    std::fprintf(stderr, "ipsec inject: %s\n%.*s", why.c_str(), static_cast<int>(std::strchr(kUsage, '\n') + 1 - kUsage),
                 kUsage);
    return 2;
}

uint16_t get16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }

// ---- the capture

// How a link type frames its IP packets.
enum class Framing { raw, ethernet, loopback, sll, sll2 };

std::optional<Framing> framing_of(int link_type) {
    switch (link_type) {
    case 12:   // DLT_RAW on most systems
    case 14:   // DLT_RAW on OpenBSD
    case 101:  // LINKTYPE_RAW
    case 228:  // LINKTYPE_IPV4
    case 229:  // LINKTYPE_IPV6
        return Framing::raw;
    case DLT_EN10MB: return Framing::ethernet;
    case DLT_NULL:
    case DLT_LOOP: return Framing::loopback;
    case DLT_LINUX_SLL: return Framing::sll;
#ifdef DLT_LINUX_SLL2
    case DLT_LINUX_SLL2: return Framing::sll2;
#endif
    default: return std::nullopt;
    }
}

// A link layer may pad a short frame (Ethernet to 60 bytes): cut the packet to the length its
// own IP header gives, as the host's stack does. A header that claims more is left to the engine.
std::span<const uint8_t> trim_padding(std::span<const uint8_t> packet) {
    if (packet.size() >= 20 && packet[0] >> 4 == 4) {
        const uint16_t total = get16(packet.data() + 2);
        if (total >= 20 && total < packet.size()) return packet.first(total);
    } else if (packet.size() >= 40 && packet[0] >> 4 == 6) {
        const size_t total = 40 + size_t{get16(packet.data() + 4)};
        if (total > 40 && total < packet.size()) return packet.first(total);
    }
    return packet;
}

std::string hex16(uint16_t value) {
    char text[8];
    std::snprintf(text, sizeof text, "0x%04x", value);
    return text;
}

// The IP packet inside one captured frame, or why there is none (*skip set).
std::span<const uint8_t> ip_packet_of(Framing framing, std::span<const uint8_t> frame, std::string* skip) {
    auto by_ethertype = [&](uint16_t type, size_t at, const char* what) -> std::span<const uint8_t> {
        if (type != 0x0800 && type != 0x86dd) {
            *skip = "ethertype " + hex16(type) + " is not IPv4 or IPv6";
            return {};
        }
        if (frame.size() == at) {
            *skip = std::string("nothing after the ") + what + " header";
            return {};
        }
        return trim_padding(frame.subspan(at));
    };
    switch (framing) {
    case Framing::raw: return frame;
    case Framing::ethernet: {
        if (frame.size() < 14) {
            *skip = "Ethernet frame shorter than its 14-byte header";
            return {};
        }
        uint16_t type = get16(frame.data() + 12);
        size_t at = 14;
        while (type == 0x8100 || type == 0x88a8 || type == 0x9100) {  // 802.1Q, 802.1ad tags
            if (frame.size() < at + 4) {
                *skip = "Ethernet frame ends inside a VLAN tag";
                return {};
            }
            type = get16(frame.data() + at + 2);
            at += 4;
        }
        return by_ethertype(type, at, "Ethernet");
    }
    case Framing::loopback: {
        if (frame.size() < 4) {
            *skip = "loopback frame shorter than its 4-byte family header";
            return {};
        }
        // DLT_NULL's family is in the capturing host's byte order, DLT_LOOP's in network order.
        const uint32_t big = uint32_t{frame[0]} << 24 | uint32_t{frame[1]} << 16 | uint32_t{frame[2]} << 8 | frame[3];
        const uint32_t little = uint32_t{frame[3]} << 24 | uint32_t{frame[2]} << 16 | uint32_t{frame[1]} << 8 | frame[0];
        auto is_ip = [](uint32_t family) { return family == 2 || family == 10 || family == 24 || family == 28 || family == 30; };
        if (!is_ip(big) && !is_ip(little)) {
            *skip = "address family " + std::to_string(big < little ? big : little) + " is not IPv4 or IPv6";
            return {};
        }
        if (frame.size() == 4) {
            *skip = "nothing after the loopback header";
            return {};
        }
        return frame.subspan(4);
    }
    case Framing::sll:
        if (frame.size() < 16) {
            *skip = "Linux cooked frame shorter than its 16-byte header";
            return {};
        }
        return by_ethertype(get16(frame.data() + 14), 16, "Linux cooked");
    case Framing::sll2:
        if (frame.size() < 20) {
            *skip = "Linux cooked frame shorter than its 20-byte header";
            return {};
        }
        return by_ethertype(get16(frame.data()), 20, "Linux cooked");
    }
    return frame;
}

struct PcapClose {
    void operator()(pcap_t* p) const { pcap_close(p); }
};
using Pcap = std::unique_ptr<pcap_t, PcapClose>;

struct DumperClose {
    void operator()(pcap_dumper_t* d) const { pcap_dump_close(d); }
};
using Dumper = std::unique_ptr<pcap_dumper_t, DumperClose>;

// ---- the packet socket

class PacketSocket {
public:
    explicit PacketSocket(int fd) : fd_(fd), buffer_(inject::kMaxAnswer + 1) {}
    PacketSocket(const PacketSocket&) = delete;
    PacketSocket& operator=(const PacketSocket&) = delete;
    ~PacketSocket() { close(fd_); }

    // Connects to `path`: the socket, or nullptr with *error (an errno).
    static std::unique_ptr<PacketSocket> open(const std::string& path, int* error) {
        sockaddr_un address{};
        address.sun_family = AF_UNIX;
        if (path.size() >= sizeof address.sun_path) {
            *error = ENAMETOOLONG;
            return nullptr;
        }
        std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
        const int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            *error = errno;
            return nullptr;
        }
        if (connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
            *error = errno;
            ::close(fd);
            return nullptr;
        }
        return std::make_unique<PacketSocket>(fd);
    }

    // Sends one request and waits for its answer: the answer, or nullopt with *why.
    std::optional<InjectAnswer> request(InjectKind kind, uint32_t tag, std::span<const uint8_t> packet,
                                        std::string* why) {
        const std::vector<uint8_t> bytes = inject::encode_request(kind, tag, packet);
        for (;;) {
            if (::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL) >= 0) break;
            if (errno != EINTR) {
                *why = std::string("cannot send to kmod-sim: ") + std::strerror(errno);
                return std::nullopt;
            }
        }
        pollfd p{fd_, POLLIN, 0};
        int ready;
        while ((ready = poll(&p, 1, kAnswerTimeoutMs)) < 0 && errno == EINTR) {
        }
        if (ready == 0) {
            *why = "kmod-sim did not answer within " + std::to_string(kAnswerTimeoutMs / 1000) + " s";
            return std::nullopt;
        }
        iovec vector{buffer_.data(), buffer_.size()};
        msghdr header{};
        header.msg_iov = &vector;
        header.msg_iovlen = 1;
        ssize_t n = -1;
        if (ready > 0)
            while ((n = recvmsg(fd_, &header, 0)) < 0 && errno == EINTR) {
            }
        if (n < 0) {
            *why = std::string("cannot read kmod-sim's answer: ") + std::strerror(errno);
            return std::nullopt;
        }
        if (n == 0) {
            *why = "kmod-sim closed the packet socket";
            return std::nullopt;
        }
        if ((header.msg_flags & MSG_TRUNC) || static_cast<size_t>(n) > inject::kMaxAnswer) {
            *why = "malformed answer from kmod-sim: longer than 1 MiB";
            return std::nullopt;
        }
        std::string error;
        auto answer = inject::decode_answer(std::span(buffer_.data(), static_cast<size_t>(n)), &error);
        if (!answer) {
            *why = "malformed answer from kmod-sim: " + error;
            return std::nullopt;
        }
        if (answer->tag != tag || answer->kind != kind) {
            *why = "malformed answer from kmod-sim: it answers " + std::string(inject::to_string(answer->kind)) +
                   " request " + std::to_string(answer->tag);
            return std::nullopt;
        }
        return answer;
    }

private:
    int fd_;
    std::vector<uint8_t> buffer_;
};

// ---- the command

struct Job {
    Invocation invocation;
    InjectKind kind = InjectKind::out;
    std::string in_path, out_path;  // out_path empty: nothing written

    int run() const;
};

// The summary as one printable line, whatever the daemon sent.
std::string printable(const std::string& text) {
    std::string out = text;
    for (char& c : out)
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = ' ';
    return out;
}

int fail(const std::string& message) {
    std::fflush(stdout);
    std::fprintf(stderr, "ipsec inject: %s\n", message.c_str());
    return 1;
}

int Job::run() const {
    // The capture first: a bad file is found before anything reaches the engine.
    FILE* file = in_path == "-" ? stdin : std::fopen(in_path.c_str(), "rb");
    if (!file) return fail("cannot open " + in_path + ": " + std::strerror(errno));
    char errbuf[PCAP_ERRBUF_SIZE] = "";
    Pcap capture(pcap_fopen_offline(file, errbuf));  // owns `file` from here on
    if (!capture) {
        if (file != stdin) std::fclose(file);
        return fail("cannot read " + in_path + ": " + errbuf);
    }
    const int link_type = pcap_datalink(capture.get());
    const std::optional<Framing> framing = framing_of(link_type);
    if (!framing) {
        const char* name = pcap_datalink_val_to_name(link_type);
        return fail(in_path + ": link type " + std::to_string(link_type) + (name ? std::string(" (") + name + ")" : "") +
                    " is not supported: raw IP, IPv4, IPv6, Ethernet, BSD loopback (NULL, LOOP) and Linux cooked "
                    "(SLL, SLL2) captures are");
    }

    struct stat in_stat{}, out_stat{};
    if (!out_path.empty() && fstat(fileno(pcap_file(capture.get())), &in_stat) == 0 &&
        stat(out_path.c_str(), &out_stat) == 0 && in_stat.st_dev == out_stat.st_dev && in_stat.st_ino == out_stat.st_ino)
        return usage_error("OUT.pcap is IN.pcap: it would be overwritten while it is read");

    const std::string& dir = invocation.instance.dir;
    if (dir.empty()) return fail("cannot reach kmod-sim: no run directory (set KMOD_SIM_DIR)");
    const std::string socket_path = dir + "/" + inject::kSocketName;
    int error = 0;
    std::unique_ptr<PacketSocket> socket = PacketSocket::open(socket_path, &error);
    if (!socket)
        return fail("cannot reach kmod-sim at " + socket_path + ": " + std::strerror(error) +
                    " (is it running? its run directory is " + dir + ")");

    Pcap dead;
    Dumper dumper;
    if (!out_path.empty()) {
        dead.reset(pcap_open_dead(DLT_RAW, 65535));
        if (!dead) return fail("cannot write " + out_path + ": libpcap cannot make a raw IP writer");
        dumper.reset(pcap_dump_open(dead.get(), out_path.c_str()));
        if (!dumper) return fail("cannot write " + out_path + ": " + pcap_geterr(dead.get()));
    }
    auto dump = [&](const timeval& when, const std::vector<uint8_t>& packet) {
        if (!dumper) return;
        pcap_pkthdr header{};
        header.ts = when;
        header.caplen = header.len = static_cast<bpf_u_int32>(packet.size());
        pcap_dump(reinterpret_cast<u_char*>(dumper.get()), &header, packet.data());
    };

    uint32_t index = 0;
    size_t refused = 0;
    timeval last_time{};
    std::string why;
    for (;;) {
        pcap_pkthdr* header = nullptr;
        const u_char* data = nullptr;
        const int got = pcap_next_ex(capture.get(), &header, &data);
        if (got == PCAP_ERROR_BREAK) break;  // end of the file
        if (got != 1) return fail("cannot read " + in_path + ": " + pcap_geterr(capture.get()));
        ++index;
        last_time = header->ts;
        if (header->caplen < header->len) {
            std::printf("%u skipped: truncated by the capture (%u of %u bytes)\n", index, header->caplen, header->len);
            continue;
        }
        std::string skip;
        const std::span<const uint8_t> packet = ip_packet_of(*framing, std::span(data, header->caplen), &skip);
        if (skip.empty() && packet.empty()) skip = "empty packet";
        if (skip.empty() && packet.size() > inject::kMaxPacket)
            skip = std::to_string(packet.size()) + " bytes, more than an IP packet can hold";
        if (!skip.empty()) {
            std::printf("%u skipped: %s\n", index, skip.c_str());
            continue;
        }
        auto answer = socket->request(kind, index, packet, &why);
        if (!answer) return fail("packet " + std::to_string(index) + ": " + why);
        std::printf("%u %s: %s\n", index, inject::to_string(answer->outcome), printable(answer->summary).c_str());
        if (answer->outcome == InjectOutcome::refused) ++refused;
        for (const auto& out : answer->packets) dump(header->ts, out.bytes);
    }

    // What the engine sent on its own meanwhile (held packets released by a new eroute).
    auto collected = socket->request(InjectKind::collect, index + 1, {}, &why);
    if (!collected) return fail("collect: " + why);
    if (collected->outcome != InjectOutcome::collected)
        return fail(std::string("collect: malformed answer from kmod-sim: outcome ") +
                    inject::to_string(collected->outcome));
    if (!collected->packets.empty()) {
        std::printf("collected %zu: %s\n", collected->packets.size(), printable(collected->summary).c_str());
        for (const auto& out : collected->packets) dump(last_time, out.bytes);
    }

    std::fflush(stdout);
    if (dumper) {
        errno = 0;
        if (pcap_dump_flush(dumper.get()) != 0 || std::ferror(pcap_dump_file(dumper.get())))
            return fail("cannot write " + out_path + ": " + std::strerror(errno ? errno : EIO));
        dumper.reset();
    }
    if (refused) return fail("kmod-sim refused " + std::to_string(refused) + " of the packets");
    return 0;
}

}  // namespace

Plan inject_command(const Invocation& invocation) {
    const std::vector<std::string>& args = invocation.args;
    for (const std::string& arg : args)
        if (arg == "--help" || arg == "-h") {
            std::fputs(kUsage, stdout);
            return Plan::exit(0);
        }
    for (const std::string& arg : args)
        if (arg.size() > 1 && arg[0] == '-') return Plan::exit(usage_error("unknown option " + arg));
    if (args.empty()) return Plan::exit(usage_error("no direction (out or in) and no capture file"));
    if (args[0] != "out" && args[0] != "in")
        return Plan::exit(usage_error("the direction is out or in, not '" + args[0] + "'"));
    if (args.size() < 2) return Plan::exit(usage_error("no capture file"));
    if (args.size() > 3) return Plan::exit(usage_error("too many arguments"));
    if (args.size() == 3 && args[2] == "-")
        return Plan::exit(usage_error("OUT.pcap cannot be standard output: the results are printed there"));
    if (invocation.in_batch) {
        std::fprintf(stderr, "ipsec inject: not in a batch (run 'ipsec inject' on its own)\n");
        return Plan::exit(1);
    }
    auto job = std::make_shared<Job>();
    job->invocation = invocation;
    job->kind = args[0] == "out" ? InjectKind::out : InjectKind::in;
    job->in_path = args[1];
    if (args.size() == 3) job->out_path = args[2];
    Plan plan;
    plan.local = [job](PfkeyConnection*) { return job->run(); };
    return plan;
}

}  // namespace kmod_sim::userland
