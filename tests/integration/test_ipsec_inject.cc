// `ipsec inject out|in IN.pcap [OUT.pcap]`: its usage and errors without an instance, then
// packets through real instances over DIR/packets (kmod_sim/lib/inject_protocol.h): the magic
// eroutes, no eroute, an ESP tunnel out and the same packet back in, and the link types a
// capture may come in. Captures are written here by hand (pcap's 24-byte file header and
// 16-byte record headers, little-endian) and OUT.pcap is read back the same way, so that the
// test does not check libpcap with libpcap.
#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "daemon_instance.h"
#include "ipsec_runner.h"

using namespace it;

namespace {

using Bytes = std::vector<uint8_t>;

const std::string kNoInstance = "/nonexistent/kmod-sim";
const std::string kUsageLine = "usage: ipsec inject out|in IN.pcap [OUT.pcap]\n";

// ---- packets

void put16(Bytes& b, size_t at, uint16_t v) {
    b[at] = static_cast<uint8_t>(v >> 8);
    b[at + 1] = static_cast<uint8_t>(v);
}
uint16_t get16(const Bytes& b, size_t at) { return static_cast<uint16_t>(b[at] << 8 | b[at + 1]); }
uint32_t get32(const Bytes& b, size_t at) { return uint32_t{get16(b, at)} << 16 | get16(b, at + 2); }

uint16_t checksum(const Bytes& b, size_t from, size_t to) {
    uint32_t sum = 0;
    for (size_t i = from; i < to; i += 2) sum += static_cast<uint32_t>(b[i] << 8 | (i + 1 < to ? b[i + 1] : 0));
    while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
    return static_cast<uint16_t>(~sum);
}

Bytes ip4(const char* dotted) {
    Bytes a(4);
    std::istringstream in(dotted);
    for (int i = 0; i < 4; ++i) {
        int v = 0;
        char dot = 0;
        in >> v;
        if (i < 3) in >> dot;
        a[i] = static_cast<uint8_t>(v);
    }
    return a;
}

// An ICMP echo request from src to dst, with `data_length` bytes of data: IPv4, TTL 64,
// checksums right.
Bytes icmp_echo(const char* src, const char* dst, uint16_t id, size_t data_length = 56) {
    Bytes p(20 + 8 + data_length);
    p[0] = 0x45;
    put16(p, 2, static_cast<uint16_t>(p.size()));
    put16(p, 4, id);
    p[8] = 64;
    p[9] = 1;
    const Bytes s = ip4(src), d = ip4(dst);
    std::copy(s.begin(), s.end(), p.begin() + 12);
    std::copy(d.begin(), d.end(), p.begin() + 16);
    put16(p, 10, checksum(p, 0, 20));
    p[20] = 8;  // echo request
    put16(p, 24, id);
    put16(p, 26, 1);
    for (size_t i = 0; i < data_length; ++i) p[28 + i] = static_cast<uint8_t>(i);
    put16(p, 22, checksum(p, 20, p.size()));
    return p;
}

Bytes concat(Bytes a, const Bytes& b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
}

Bytes ethernet(uint16_t ethertype, const Bytes& payload, std::vector<uint16_t> vlan_tags = {}) {
    Bytes f{0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1};
    for (uint16_t tag : vlan_tags) f.insert(f.end(), {0x81, 0x00, static_cast<uint8_t>(tag >> 8), static_cast<uint8_t>(tag)});
    f.push_back(static_cast<uint8_t>(ethertype >> 8));
    f.push_back(static_cast<uint8_t>(ethertype));
    f = concat(f, payload);
    if (f.size() < 60) f.resize(60, 0);  // the minimum frame: padding after the IP packet
    return f;
}

// ---- pcap files

struct Record {
    uint32_t sec = 0, usec = 0;
    Bytes data;
    uint32_t original_length = 0;  // 0: data.size()
};

void put_le(std::string& out, uint32_t v, int bytes) {
    for (int i = 0; i < bytes; ++i) out.push_back(static_cast<char>(v >> (8 * i)));
}

// A classic pcap file (microsecond stamps, little-endian) of `link_type`.
std::string pcap_bytes(uint32_t link_type, const std::vector<Record>& records) {
    std::string out;
    put_le(out, 0xa1b2c3d4, 4);
    put_le(out, 2, 2);
    put_le(out, 4, 2);
    put_le(out, 0, 4);
    put_le(out, 0, 4);
    put_le(out, 262144, 4);
    put_le(out, link_type, 4);
    for (const Record& r : records) {
        put_le(out, r.sec, 4);
        put_le(out, r.usec, 4);
        put_le(out, static_cast<uint32_t>(r.data.size()), 4);
        put_le(out, r.original_length ? r.original_length : static_cast<uint32_t>(r.data.size()), 4);
        out.append(reinterpret_cast<const char*>(r.data.data()), r.data.size());
    }
    return out;
}

void write_file(const std::string& path, const std::string& bytes) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    REQUIRE(out.good());
}

uint32_t get_le(const std::string& s, size_t at) {
    uint32_t v = 0;
    for (int i = 3; i >= 0; --i) v = v << 8 | static_cast<uint8_t>(s[at + static_cast<size_t>(i)]);
    return v;
}

// OUT.pcap as `ipsec inject` must write it: this machine's byte order (little-endian here),
// microseconds, version 2.4, snaplen 65535, LINKTYPE_RAW; every record whole.
std::vector<Record> read_out_pcap(const std::string& path) {
    const std::string s = slurp(path);
    INFO("reading " << path);
    REQUIRE(s.size() >= 24);
    REQUIRE(get_le(s, 0) == 0xa1b2c3d4);
    CHECK((get_le(s, 4) & 0xffff) == 2);
    CHECK((get_le(s, 4) >> 16) == 4);
    CHECK(get_le(s, 16) == 65535);
    REQUIRE(get_le(s, 20) == 101);
    std::vector<Record> records;
    for (size_t at = 24; at < s.size();) {
        REQUIRE(s.size() - at >= 16);
        Record r;
        r.sec = get_le(s, at);
        r.usec = get_le(s, at + 4);
        const uint32_t caplen = get_le(s, at + 8);
        r.original_length = get_le(s, at + 12);
        CHECK(caplen == r.original_length);
        at += 16;
        REQUIRE(s.size() - at >= caplen);
        r.data.assign(s.begin() + static_cast<std::ptrdiff_t>(at), s.begin() + static_cast<std::ptrdiff_t>(at + caplen));
        at += caplen;
        records.push_back(std::move(r));
    }
    return records;
}

// A scratch directory for captures, gone at the end of the test.
struct Scratch {
    std::string dir;
    explicit Scratch(const std::string& name) : dir(kBaseDir + "/" + name) {
        mkdir(kBaseDir.c_str(), 0755);
        std::filesystem::remove_all(dir);
        std::filesystem::create_directories(dir);
    }
    ~Scratch() {
        std::error_code ec;
        std::filesystem::remove_all(dir, ec);
    }
    std::string path(const std::string& file) const { return dir + "/" + file; }
};

std::vector<std::string> lines_of(const std::string& text) {
    std::vector<std::string> lines;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    return lines;
}

bool starts_with(const std::string& s, const std::string& prefix) { return s.rfind(prefix, 0) == 0; }

// ---- instances

void ipsec_ok(const std::vector<std::string>& args, const std::string& dir) {
    IpsecResult r = run_ipsec(args, dir);
    INFO("ipsec " << args[0] << " " << (args.size() > 1 ? args[1] : "") << ": " << r.err);
    CHECK(r.err.empty());
    REQUIRE(r.status == 0);
}

// An instance whose daemon serves DIR/packets; the packet tests need one.
void require_packet_socket(const DaemonInstance& d) {
    struct stat st{};
    INFO("the daemon has no packet socket at " << d.dir() << "/packets (kmod_sim/lib/inject_protocol.h)");
    REQUIRE(stat((d.dir() + "/packets").c_str(), &st) == 0);
    REQUIRE(S_ISSOCK(st.st_mode));
}

// The listing line of the eroute from `src` to `dst`, without its packet count.
std::string eroute_count(const DaemonInstance& d, const std::string& rest) {
    for (const std::string& line : lines_of(read_view_file(d.view("net/ipsec_eroute")))) {
        const size_t space = line.find(' ');
        if (space != std::string::npos && line.substr(space + 1) == rest) return line.substr(0, space);
    }
    return "(no such eroute: " + rest + ")";
}

// The ipsec_spi line of `said` ("esp.1001@192.0.2.2").
std::string spi_line(const DaemonInstance& d, const std::string& said) {
    for (const std::string& line : lines_of(read_view_file(d.view("net/ipsec_spi"))))
        if (starts_with(line, said + " ")) return line;
    return "(no SA " + said + ")";
}

// The current count of a life(c,s,h) item ("packets") in an ipsec_spi line; 0 when not shown.
uint64_t life_count(const std::string& line, const std::string& item) {
    const size_t at = line.find(item + "(");
    return at == std::string::npos ? 0 : std::stoull(line.substr(at + item.size() + 1));
}

const std::string kKey72 = "0x000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20212223";

}  // namespace

TEST_CASE("inject: --help and usage errors", "[ipsec][inject]") {
    IpsecResult help = run_ipsec({"inject", "--help"}, kNoInstance);
    CHECK(help.status == 0);
    CHECK(help.err.empty());
    CHECK(starts_with(help.out, kUsageLine));
    CHECK(help.out.find("Exit status") != std::string::npos);

    struct Case {
        std::vector<std::string> args;
        std::string message;
    };
    const std::vector<Case> cases{
        {{"inject"}, "no direction (out or in) and no capture file"},
        {{"inject", "sideways", "a.pcap"}, "the direction is out or in, not 'sideways'"},
        {{"inject", "out"}, "no capture file"},
        {{"inject", "in", "a.pcap", "b.pcap", "c.pcap"}, "too many arguments"},
        {{"inject", "out", "--verbose", "a.pcap"}, "unknown option --verbose"},
        {{"inject", "out", "a.pcap", "-"}, "OUT.pcap cannot be standard output: the results are printed there"},
    };
    for (const Case& c : cases) {
        IpsecResult r = run_ipsec(c.args, kNoInstance);
        INFO(c.message);
        CHECK(r.status == 2);
        CHECK(r.out.empty());
        CHECK(r.err == "ipsec inject: " + c.message + "\n" + kUsageLine);
    }

    IpsecResult listed = run_ipsec({"--help"}, kNoInstance);
    CHECK(listed.out.find("\n  inject      ") != std::string::npos);
}

TEST_CASE("inject: captures it cannot use", "[ipsec][inject]") {
    Scratch s("inject-files");
    IpsecResult missing = run_ipsec({"inject", "out", s.path("missing.pcap")}, kNoInstance);
    CHECK(missing.status == 1);
    CHECK(missing.out.empty());
    CHECK(missing.err == "ipsec inject: cannot open " + s.path("missing.pcap") + ": No such file or directory\n");

    write_file(s.path("text.pcap"), "this is not a capture, only some text in a file\n");
    IpsecResult text = run_ipsec({"inject", "in", s.path("text.pcap")}, kNoInstance);
    CHECK(text.status == 1);
    CHECK(text.out.empty());
    CHECK(starts_with(text.err, "ipsec inject: cannot read " + s.path("text.pcap") + ": "));
    CHECK(lines_of(text.err).size() == 1);

    write_file(s.path("empty.pcap"), "");
    IpsecResult empty = run_ipsec({"inject", "in", s.path("empty.pcap")}, kNoInstance);
    CHECK(empty.status == 1);
    CHECK(starts_with(empty.err, "ipsec inject: cannot read " + s.path("empty.pcap") + ": "));

    // 802.11 (105): not a link type that carries IP packets the way inject can find them.
    write_file(s.path("wifi.pcap"), pcap_bytes(105, {{1, 0, Bytes(40, 0), 0}}));
    IpsecResult wifi = run_ipsec({"inject", "out", s.path("wifi.pcap")}, kNoInstance);
    CHECK(wifi.status == 1);
    CHECK(wifi.out.empty());
    CHECK(wifi.err == "ipsec inject: " + s.path("wifi.pcap") +
                          ": link type 105 (IEEE802_11) is not supported: raw IP, IPv4, IPv6, Ethernet, BSD "
                          "loopback (NULL, LOOP) and Linux cooked (SLL, SLL2) captures are\n");
}

TEST_CASE("inject: OUT.pcap must not be IN.pcap", "[ipsec][inject]") {
    Scratch s("inject-same");
    const std::string capture = pcap_bytes(101, {{1, 0, icmp_echo("10.0.1.5", "10.0.2.7", 1), 0}});
    write_file(s.path("one.pcap"), capture);
    IpsecResult r = run_ipsec({"inject", "out", s.path("one.pcap"), s.dir + "/./one.pcap"}, kNoInstance);
    CHECK(r.status == 2);
    CHECK(r.out.empty());
    CHECK(r.err == "ipsec inject: OUT.pcap is IN.pcap: it would be overwritten while it is read\n" + kUsageLine);
    CHECK(slurp(s.path("one.pcap")) == capture);
}

TEST_CASE("inject: no instance running", "[ipsec][inject]") {
    Scratch s("inject-none");
    write_file(s.path("one.pcap"), pcap_bytes(101, {{1, 0, icmp_echo("10.0.1.5", "10.0.2.7", 1), 0}}));
    const std::string dir = kBaseDir + "/inject-not-running";
    IpsecResult r = run_ipsec({"inject", "out", s.path("one.pcap"), s.path("out.pcap")}, dir);
    CHECK(r.status == 1);
    CHECK(r.out.empty());
    CHECK(r.err == "ipsec inject: cannot reach kmod-sim at " + dir +
                       "/packets: No such file or directory (is it running? its run directory is " + dir + ")\n");
    CHECK(!std::filesystem::exists(s.path("out.pcap")));
}

TEST_CASE("inject: not offered in a batch", "[ipsec][inject]") {
    DaemonInstance d("inject-batch");
    d.start_or_throw();
    IpsecResult r = run_ipsec({"batch"}, d.dir(), "eroute --add --eraf inet --src 10.0.1.0/24 --dst 10.0.2.0/24 --said %pass\n"
                                                  "inject out /tmp/x.pcap\n");
    CHECK(r.status == 1);
    CHECK(r.err == "ipsec inject: not in a batch (run 'ipsec inject' on its own)\n"
                   "ipsec batch: stdin:2: stopped here; the lines before it were sent\n");
    CHECK(eroute_count(d, "10.0.1.0/24:0 -> 10.0.2.0/24:0 => %pass") == "0");
}

TEST_CASE("inject: %pass, %drop, %reject and no eroute, out", "[ipsec][inject][packets]") {
    DaemonInstance d("inject-magic", {"--clock", "manual"});
    d.start_or_throw();
    require_packet_socket(d);
    const std::string dir = d.dir();
    ipsec_ok({"eroute", "--add", "--eraf", "inet", "--src", "10.0.1.0/24", "--dst", "10.0.2.0/24", "--said", "%pass"}, dir);
    ipsec_ok({"eroute", "--add", "--eraf", "inet", "--src", "10.0.3.0/24", "--dst", "10.0.4.0/24", "--said", "%drop"}, dir);
    ipsec_ok({"eroute", "--add", "--eraf", "inet", "--src", "10.0.5.0/24", "--dst", "10.0.6.0/24", "--said", "%reject"}, dir);

    const Bytes pass = icmp_echo("10.0.1.5", "10.0.2.7", 1);
    const Bytes drop = icmp_echo("10.0.3.5", "10.0.4.7", 2);
    const Bytes reject = icmp_echo("10.0.5.5", "10.0.6.7", 3);
    const Bytes none = icmp_echo("10.0.7.5", "10.0.8.7", 4);
    Scratch s("inject-magic-files");
    write_file(s.path("in.pcap"), pcap_bytes(101, {{100, 1, pass, 0}, {200, 2, drop, 0}, {300, 3, reject, 0}, {400, 4, none, 0}}));

    IpsecResult r = run_ipsec({"inject", "out", s.path("in.pcap"), s.path("out.pcap")}, dir);
    INFO(r.out << r.err);
    CHECK(r.status == 0);
    CHECK(r.err.empty());
    const auto lines = lines_of(r.out);
    REQUIRE(lines.size() == 4);
    CHECK(starts_with(lines[0], "1 passed: "));
    CHECK(starts_with(lines[1], "2 dropped: "));
    CHECK(starts_with(lines[2], "3 rejected: "));
    CHECK(starts_with(lines[3], "4 dropped: "));

    const auto out = read_out_pcap(s.path("out.pcap"));
    REQUIRE(out.size() == 2);
    CHECK(out[0].data == pass);
    CHECK(out[0].sec == 100);
    CHECK(out[0].usec == 1);
    // %reject: ICMP destination unreachable, communication administratively prohibited, to
    // the source, quoting the IP header and the first 8 bytes of what was refused.
    const Bytes& icmp = out[1].data;
    CHECK(out[1].sec == 300);
    CHECK(out[1].usec == 3);
    REQUIRE(icmp.size() >= 20 + 8 + 28);
    CHECK(icmp[0] >> 4 == 4);
    const size_t ihl = (icmp[0] & 0x0f) * 4u;
    CHECK(icmp[9] == 1);
    CHECK(Bytes(icmp.begin() + 16, icmp.begin() + 20) == ip4("10.0.5.5"));
    CHECK(checksum(icmp, 0, ihl) == 0);
    REQUIRE(icmp.size() >= ihl + 8 + 28);
    CHECK(icmp[ihl] == 3);
    CHECK(icmp[ihl + 1] == 13);
    CHECK(checksum(icmp, ihl, icmp.size()) == 0);
    CHECK(Bytes(icmp.begin() + static_cast<std::ptrdiff_t>(ihl + 8 + 12), icmp.begin() + static_cast<std::ptrdiff_t>(ihl + 8 + 20)) ==
          Bytes(reject.begin() + 12, reject.begin() + 20));
    CHECK(Bytes(icmp.begin() + static_cast<std::ptrdiff_t>(ihl + 8 + 20), icmp.begin() + static_cast<std::ptrdiff_t>(ihl + 8 + 28)) ==
          Bytes(reject.begin() + 20, reject.begin() + 28));

    CHECK(eroute_count(d, "10.0.1.0/24:0 -> 10.0.2.0/24:0 => %pass") == "1");
    CHECK(eroute_count(d, "10.0.3.0/24:0 -> 10.0.4.0/24:0 => %drop") == "1");
    CHECK(eroute_count(d, "10.0.5.0/24:0 -> 10.0.6.0/24:0 => %reject") == "1");

    // Without OUT.pcap nothing is written; the lines are the same, the counts go on.
    IpsecResult again = run_ipsec({"inject", "out", s.path("in.pcap")}, dir);
    CHECK(again.status == 0);
    CHECK(lines_of(again.out).size() == 4);
    CHECK(eroute_count(d, "10.0.1.0/24:0 -> 10.0.2.0/24:0 => %pass") == "2");

    // A capture cut short in its second record: the first packet goes, then the error.
    const std::string whole = pcap_bytes(101, {{1, 0, pass, 0}, {2, 0, pass, 0}});
    write_file(s.path("cut.pcap"), whole.substr(0, whole.size() - 10));
    IpsecResult cut = run_ipsec({"inject", "out", s.path("cut.pcap")}, dir);
    CHECK(cut.status == 1);
    CHECK(starts_with(cut.out, "1 passed: "));
    CHECK(lines_of(cut.out).size() == 1);
    CHECK(starts_with(cut.err, "ipsec inject: cannot read " + s.path("cut.pcap") + ": "));
    CHECK(lines_of(cut.err).size() == 1);
    CHECK(eroute_count(d, "10.0.1.0/24:0 -> 10.0.2.0/24:0 => %pass") == "3");

    // Only %drop: an OUT.pcap with no packet at all.
    write_file(s.path("drop.pcap"), pcap_bytes(101, {{5, 0, drop, 0}}));
    IpsecResult dropped = run_ipsec({"inject", "out", s.path("drop.pcap"), s.path("none.pcap")}, dir);
    CHECK(dropped.status == 0);
    CHECK(starts_with(dropped.out, "1 dropped: "));
    CHECK(read_out_pcap(s.path("none.pcap")).empty());
    CHECK(describe_status(d.stop()) == "exit 0");
}

TEST_CASE("inject: the link types of a capture", "[ipsec][inject][packets]") {
    DaemonInstance d("inject-links", {"--clock", "manual"});
    d.start_or_throw();
    require_packet_socket(d);
    ipsec_ok({"eroute", "--add", "--eraf", "inet", "--src", "10.0.1.0/24", "--dst", "10.0.2.0/24", "--said", "%pass"},
             d.dir());
    Scratch s("inject-links-files");
    const Bytes big = icmp_echo("10.0.1.5", "10.0.2.7", 1);
    const Bytes small = icmp_echo("10.0.1.6", "10.0.2.8", 2, 0);  // 28 bytes: padded in a frame

    SECTION("Ethernet: IPv4, ARP skipped, an 802.1Q tag, padding cut, a truncated frame skipped") {
        const Bytes arp = ethernet(0x0806, Bytes(28, 1));
        const Bytes truncated = ethernet(0x0800, big);
        write_file(s.path("eth.pcap"),
                   pcap_bytes(1, {{10, 0, ethernet(0x0800, big), 0},
                                  {11, 0, arp, 0},
                                  {12, 0, ethernet(0x0800, small, {100}), 0},
                                  {13, 0, Bytes(truncated.begin(), truncated.begin() + 40), static_cast<uint32_t>(truncated.size())}}));
        IpsecResult r = run_ipsec({"inject", "out", s.path("eth.pcap"), s.path("out.pcap")}, d.dir());
        INFO(r.out << r.err);
        CHECK(r.status == 0);
        CHECK(r.err.empty());
        const auto lines = lines_of(r.out);
        REQUIRE(lines.size() == 4);
        CHECK(starts_with(lines[0], "1 passed: "));
        CHECK(lines[1] == "2 skipped: ethertype 0x0806 is not IPv4 or IPv6");
        CHECK(starts_with(lines[2], "3 passed: "));
        CHECK(lines[3] == "4 skipped: truncated by the capture (40 of " + std::to_string(truncated.size()) + " bytes)");
        const auto out = read_out_pcap(s.path("out.pcap"));
        REQUIRE(out.size() == 2);
        CHECK(out[0].data == big);
        CHECK(out[0].sec == 10);
        CHECK(out[1].data == small);
        CHECK(out[1].sec == 12);
        CHECK(eroute_count(d, "10.0.1.0/24:0 -> 10.0.2.0/24:0 => %pass") == "2");
    }
    SECTION("IPv4, BSD loopback both ways round, Linux cooked") {
        const Bytes sll_header{0, 0, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0, 0x08, 0x00};
        const Bytes sll2_header{0x08, 0x00, 0, 0, 0, 0, 0, 2, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0};
        struct Link {
            uint32_t type;
            Bytes frame;
        };
        const std::vector<Link> links{
            {228, big},                               // LINKTYPE_IPV4
            {0, concat({2, 0, 0, 0}, big)},           // DLT_NULL, written little-endian
            {0, concat({0, 0, 0, 2}, big)},           // DLT_NULL from a big-endian host
            {108, concat({0, 0, 0, 2}, big)},         // DLT_LOOP
            {113, concat(sll_header, big)},           // LINUX_SLL
            {276, concat(sll2_header, big)},          // LINUX_SLL2
        };
        for (const Link& link : links) {
            INFO("link type " << link.type);
            write_file(s.path("link.pcap"), pcap_bytes(link.type, {{7, 8, link.frame, 0}}));
            IpsecResult r = run_ipsec({"inject", "out", s.path("link.pcap"), s.path("out.pcap")}, d.dir());
            INFO(r.out << r.err);
            CHECK(r.status == 0);
            CHECK(starts_with(r.out, "1 passed: "));
            CHECK(lines_of(r.out).size() == 1);
            const auto out = read_out_pcap(s.path("out.pcap"));
            REQUIRE(out.size() == 1);
            CHECK(out[0].data == big);
        }
        write_file(s.path("family.pcap"), pcap_bytes(0, {{7, 8, concat({7, 0, 0, 0}, big), 0}}));
        IpsecResult r = run_ipsec({"inject", "out", s.path("family.pcap")}, d.dir());
        CHECK(r.status == 0);
        CHECK(r.out == "1 skipped: address family 7 is not IPv4 or IPv6\n");
    }
}

TEST_CASE("inject: an ESP tunnel out, and the packet back in", "[ipsec][inject][packets]") {
    DaemonInstance d("inject-esp", {"--clock", "manual"});
    d.start_or_throw();
    require_packet_socket(d);
    const std::string dir = d.dir();
    ipsec_ok({"spi", "--esp", "chacha20-poly1305", "--said", "esp.1001@192.0.2.2", "--src", "192.0.2.1",
              "--replay_window", "32", "--enckey", kKey72},
             dir);
    ipsec_ok({"spi", "--ip4", "--said", "tun.1001@192.0.2.2", "--src", "192.0.2.1", "--dst", "192.0.2.2"}, dir);
    ipsec_ok({"spigrp", "inet", "192.0.2.2", "0x1001", "tun", "inet", "192.0.2.2", "0x1001", "esp"}, dir);
    ipsec_ok({"eroute", "--add", "--eraf", "inet", "--src", "10.0.1.0/24", "--dst", "10.0.2.0/24", "--said",
              "tun0x1001@192.0.2.2"},
             dir);
    CHECK(life_count(spi_line(d, "esp.1001@192.0.2.2"), "packets") == 0);

    Scratch s("inject-esp-files");
    const Bytes inner = icmp_echo("10.0.1.5", "10.0.2.7", 9);
    write_file(s.path("plain.pcap"), pcap_bytes(101, {{1700000000, 250000, inner, 0}}));
    IpsecResult out = run_ipsec({"inject", "out", s.path("plain.pcap"), s.path("esp.pcap")}, dir);
    INFO(out.out << out.err);
    CHECK(out.status == 0);
    CHECK(out.err.empty());
    REQUIRE(lines_of(out.out).size() == 1);
    CHECK(starts_with(out.out, "1 sent: "));
    CHECK(eroute_count(d, "10.0.1.0/24:0 -> 10.0.2.0/24:0 => tun0x1001@192.0.2.2:0 () ()") == "1");

    const auto esp = read_out_pcap(s.path("esp.pcap"));
    REQUIRE(esp.size() == 1);
    const Bytes& wire = esp[0].data;
    CHECK(esp[0].sec == 1700000000);
    CHECK(esp[0].usec == 250000);
    REQUIRE(wire.size() >= 20 + 8 + inner.size());
    CHECK(wire[0] == 0x45);
    CHECK(get16(wire, 2) == wire.size());
    CHECK(wire[9] == 50);
    CHECK(checksum(wire, 0, 20) == 0);
    CHECK(Bytes(wire.begin() + 12, wire.begin() + 16) == ip4("192.0.2.1"));
    CHECK(Bytes(wire.begin() + 16, wire.begin() + 20) == ip4("192.0.2.2"));
    CHECK(get32(wire, 20) == 0x1001);
    CHECK(get32(wire, 24) == 1);
    // Encrypted: the inner packet does not show through.
    CHECK(std::search(wire.begin(), wire.end(), inner.begin() + 12, inner.begin() + 20) == wire.end());
    const uint64_t packets_out = life_count(spi_line(d, "esp.1001@192.0.2.2"), "packets");
    CHECK(packets_out == 1);
    CHECK(life_count(spi_line(d, "tun.1001@192.0.2.2"), "packets") == 1);

    // Back in: the same SAs take it apart (an instance decapsulates whatever the SA's direction).
    IpsecResult in = run_ipsec({"inject", "in", s.path("esp.pcap"), s.path("inner.pcap")}, dir);
    INFO(in.out << in.err);
    CHECK(in.status == 0);
    CHECK(in.err.empty());
    REQUIRE(lines_of(in.out).size() == 1);
    CHECK(starts_with(in.out, "1 delivered: "));
    const auto back = read_out_pcap(s.path("inner.pcap"));
    REQUIRE(back.size() == 1);
    CHECK(back[0].data == inner);
    CHECK(back[0].sec == 1700000000);
    CHECK(back[0].usec == 250000);
    const std::string esp_after = spi_line(d, "esp.1001@192.0.2.2");
    INFO(esp_after);
    CHECK(life_count(esp_after, "packets") == packets_out + 1);
    CHECK(esp_after.find(" seq=1") != std::string::npos);

    // The same packet again is a replay: dropped, and counted.
    IpsecResult replay = run_ipsec({"inject", "in", s.path("esp.pcap")}, dir);
    CHECK(replay.status == 0);
    CHECK(starts_with(replay.out, "1 dropped: "));
    CHECK(spi_line(d, "esp.1001@192.0.2.2").find(" ooo_errs=1") != std::string::npos);
    CHECK(describe_status(d.stop()) == "exit 0");
}

// ---- the seed examples: the man pages' tables carry packets
//
// scripts/demo loads scripts/demo-tables.batch (the eroutes of ipsec_eroute(5), the SA groups
// of ipsec_spigrp(5), an eroute into each group and the SAs the eroute examples point at) and
// replays the capture of scripts/demo-packets. The test loads the same file, builds the same
// eleven packets here, and checks what spec/klips.md says must come of them: §6.3 (each
// packet counts once on the eroute it matches; a tunnel's new outer header is looked up again
// and counts on the eroute it matches, if any; transport mode counts once), §6.4 (what each
// SAID does), §4 (the packets, bytes and seq= of each SA; outbound bytes after the SA's own
// transform), §7.3 and spec/dataplane.md §1.1 (a group applies inner to outer).

#include <arpa/inet.h>

#include <cstdlib>
#include <cstring>

namespace {

std::string scripts_dir() {
    const char* dir = std::getenv("KMOD_SIM_SCRIPTS");
    return dir ? dir : "scripts";
}

// "192.168.2.110" or "3049:1::5" in network order (4 or 16 bytes).
Bytes address_bytes(const char* text) {
    const bool v6 = std::strchr(text, ':') != nullptr;
    Bytes a(v6 ? 16 : 4);
    REQUIRE(inet_pton(v6 ? AF_INET6 : AF_INET, text, a.data()) == 1);
    return a;
}

// An IPv4 (TTL 64, header checksum right) or IPv6 (hop limit 64) packet around `payload`.
Bytes ip_packet(const char* src, const char* dst, uint8_t proto, const Bytes& payload, uint16_t id) {
    const Bytes s = address_bytes(src), d = address_bytes(dst);
    Bytes p;
    if (s.size() == 4) {
        p.assign(20, 0);
        p[0] = 0x45;
        put16(p, 2, static_cast<uint16_t>(20 + payload.size()));
        put16(p, 4, id);
        p[8] = 64;
        p[9] = proto;
        std::copy(s.begin(), s.end(), p.begin() + 12);
        std::copy(d.begin(), d.end(), p.begin() + 16);
        put16(p, 10, checksum(p, 0, 20));
    } else {
        p.assign(40, 0);
        p[0] = 0x60;
        put16(p, 4, static_cast<uint16_t>(payload.size()));
        p[6] = proto;
        p[7] = 64;
        std::copy(s.begin(), s.end(), p.begin() + 8);
        std::copy(d.begin(), d.end(), p.begin() + 24);
    }
    return concat(p, payload);
}

// `segment` with its checksum (at byte `at`) over the pseudo-header: RFC 768, RFC 793, and
// RFC 8200 §8.1 for IPv6 (ICMPv6 too).
Bytes with_pseudo_checksum(Bytes segment, size_t at, const char* src, const char* dst, uint8_t proto) {
    Bytes sum = concat(address_bytes(src), address_bytes(dst));
    const auto length = static_cast<uint32_t>(segment.size());
    if (sum.size() == 8) sum.insert(sum.end(), {0, proto, static_cast<uint8_t>(length >> 8), static_cast<uint8_t>(length)});
    else sum.insert(sum.end(), {static_cast<uint8_t>(length >> 24), static_cast<uint8_t>(length >> 16),
                                static_cast<uint8_t>(length >> 8), static_cast<uint8_t>(length), 0, 0, 0, proto});
    put16(segment, at, 0);
    uint16_t value = checksum(concat(sum, segment), 0, sum.size() + segment.size());
    if (proto == 17 && value == 0) value = 0xffff;  // UDP: 0 would mean "no checksum"
    put16(segment, at, value);
    return segment;
}

// An echo request with 56 bytes of data: ICMP for IPv4 (icmp_echo above), ICMPv6 for IPv6.
Bytes echo(const char* src, const char* dst, uint16_t id) {
    if (!std::strchr(src, ':')) return icmp_echo(src, dst, id);
    Bytes icmp{128, 0, 0, 0, static_cast<uint8_t>(id >> 8), static_cast<uint8_t>(id), 0, 1};
    for (uint8_t i = 0; i < 56; ++i) icmp.push_back(i);
    return ip_packet(src, dst, 58, with_pseudo_checksum(icmp, 2, src, dst, 58), id);
}

Bytes udp(const char* src, const char* dst, uint16_t sport, uint16_t dport, const std::string& data, uint16_t id) {
    Bytes u(8, 0);
    put16(u, 0, sport);
    put16(u, 2, dport);
    put16(u, 4, static_cast<uint16_t>(8 + data.size()));
    u.insert(u.end(), data.begin(), data.end());
    return ip_packet(src, dst, 17, with_pseudo_checksum(u, 6, src, dst, 17), id);
}

// A TCP SYN (sequence 1000, window 65535, no options).
Bytes tcp_syn(const char* src, const char* dst, uint16_t sport, uint16_t dport, uint16_t id) {
    Bytes t(20, 0);
    put16(t, 0, sport);
    put16(t, 2, dport);
    put16(t, 4, 0);
    put16(t, 6, 1000);
    t[12] = 5 << 4;
    t[13] = 0x02;
    put16(t, 14, 65535);
    return ip_packet(src, dst, 6, with_pseudo_checksum(t, 16, src, dst, 6), id);
}

// 400 bytes of text that deflates well (scripts/demo-packets' TEXT).
std::string compressible_text() {
    std::string text;
    for (int i = 0; i < 6; ++i) text += "kmod-sim demo: this text is sent through the SA group of ipsec_spigrp(5). ";
    return text.substr(0, 400);
}

// The packets of scripts/demo-packets, in its order (its header lists them).
std::vector<Bytes> seed_packets() {
    const std::string text = compressible_text();
    return {
        tcp_syn("192.168.2.110", "192.168.2.120", 1025, 25, 1),  //  1 example 2 (smtp)
        echo("192.168.2.110", "192.168.2.120", 2),               //  2 example 6
        echo("172.31.252.5", "198.51.100.7", 3),                 //  3 example 1
        echo("3049:1::5", "2001:db8::7", 4),                     //  4 example 3
        echo("192.168.6.5", "192.168.7.9", 5),                   //  5 example 4 (%pass)
        echo("3049:1::110", "3049:1::120", 6),                   //  6 example 7
        echo("192.168.1.5", "192.168.3.7", 7),                   //  7 the IPv4 group
        udp("192.168.1.5", "192.168.3.7", 4000, 9, text, 8),     //  8 the IPv4 group
        echo("3049:3::5", "3049:4::7", 9),                       //  9 the IPv6 group
        udp("3049:3::5", "3049:4::7", 4000, 9, text, 10),        // 10 the IPv6 group
        echo("10.1.1.1", "10.2.2.2", 11),                        // 11 no eroute
    };
}

// The outer header of a packet `ipsec inject` wrote: its version, protocol and addresses as
// expected, its lengths (and IPv4 checksum) right. Returns where the next header starts.
size_t check_outer(const Bytes& w, int version, uint8_t proto, const char* src, const char* dst) {
    REQUIRE(w.size() >= 40);
    REQUIRE(w[0] >> 4 == version);
    const Bytes s = address_bytes(src), d = address_bytes(dst);
    if (version == 4) {
        REQUIRE((w[0] & 0x0f) == 5);
        CHECK(get16(w, 2) == w.size());
        CHECK(checksum(w, 0, 20) == 0);
        CHECK(w[9] == proto);
        CHECK(Bytes(w.begin() + 12, w.begin() + 16) == s);
        CHECK(Bytes(w.begin() + 16, w.begin() + 20) == d);
        return 20;
    }
    CHECK(get16(w, 4) == w.size() - 40);
    CHECK(w[6] == proto);
    CHECK(Bytes(w.begin() + 8, w.begin() + 24) == s);
    CHECK(Bytes(w.begin() + 24, w.begin() + 40) == d);
    return 40;
}

// ESP (RFC 4303 §2: SPI, then sequence number) at `at`.
void check_esp(const Bytes& w, size_t at, uint32_t spi, uint32_t seq) {
    REQUIRE(w.size() >= at + 8);
    CHECK(get32(w, at) == spi);
    CHECK(get32(w, at + 4) == seq);
}

// AH (RFC 4302 §2: next header, payload length, reserved, SPI, sequence number) at `at`;
// returns where the header after it starts.
size_t check_ah(const Bytes& w, size_t at, uint8_t next, uint32_t spi, uint32_t seq) {
    REQUIRE(w.size() >= at + 12);
    CHECK(w[at] == next);
    CHECK(get32(w, at + 4) == spi);
    CHECK(get32(w, at + 8) == seq);
    return at + (w[at + 1] + 2u) * 4u;
}

bool contains(const Bytes& haystack, const Bytes& needle) {
    return std::search(haystack.begin(), haystack.end(), needle.begin(), needle.end()) != haystack.end();
}

}  // namespace

TEST_CASE("seed examples: packets through the man pages' tables", "[ipsec][inject][packets][seed]") {
    DaemonInstance d("inject-seed", {"--clock", "manual"});
    d.start_or_throw();
    require_packet_socket(d);
    const std::string dir = d.dir();
    const std::string tables = scripts_dir() + "/demo-tables.batch";
    INFO("the tables: " << tables << " (KMOD_SIM_SCRIPTS)");
    REQUIRE(std::filesystem::exists(tables));
    IpsecResult loaded = run_ipsec({"batch", tables}, dir);
    INFO(loaded.out << loaded.err);
    REQUIRE(loaded.status == 0);
    CHECK(loaded.err.empty());

    // The eroutes as the seed profile lists them: the man page's examples 1, 2, 3, 4 (as
    // %pass), 6 and 7, then the two eroutes into the spigrp(5) groups.
    const std::string ex1 = "172.31.252.0/24:0 -> 0.0.0.0/0:0 => tun0x130@192.168.43.1:0 () ()";
    const std::string ex2 = "192.168.2.110/32:0 -> 192.168.2.120/32:25 => esp0x130@192.168.2.120:6 () ()";
    const std::string ex3 = "3049:1::/64 -> ::/0 => tun:130@3058:4::5 () ()";
    const std::string ex4 = "192.168.6.0/24:0 -> 192.168.7.0/24:0 => %pass";
    const std::string ex6 = "192.168.2.110/32:0 -> 192.168.2.120/32:0 => esp0xe6de@192.168.2.120:0 () ()";
    const std::string ex7 = "3049:1::110/128 -> 3049:1::120/128 => ah:f5ed@3049:1::120 () ()";
    const std::string group4 = "192.168.1.0/24:0 -> 192.168.3.0/24:0 => tun0x3d0@192.168.2.110:0 () ()";
    const std::string group6 = "3049:3::/64 -> 3049:4::/64 => tun:3d0@3049:1::2 () ()";
    for (const std::string& e : {ex1, ex2, ex3, ex4, ex6, ex7, group4, group6}) CHECK(eroute_count(d, e) == "0");
    const std::string spigrp = read_view_file(d.view("net/ipsec_spigrp"));
    CHECK(spigrp.find("tun.3d0@192.168.2.110 comp.3d0@192.168.2.110 esp.187a101b@192.168.2.110 ah.187a101a@192.168.2.110 \n") !=
          std::string::npos);
    CHECK(spigrp.find("tun:3d0@3049:1::2 comp:3d0@3049:1::2 esp:187a101b@3049:1::2 ah:187a101a@3049:1::2 \n") !=
          std::string::npos);

    const std::vector<Bytes> packets = seed_packets();
    std::vector<Record> records;
    for (size_t i = 0; i < packets.size(); ++i) records.push_back({1700000001 + static_cast<uint32_t>(i), 0, packets[i], 0});
    Scratch s("inject-seed-files");
    write_file(s.path("demo.pcap"), pcap_bytes(101, records));
    IpsecResult r = run_ipsec({"inject", "out", s.path("demo.pcap"), s.path("demo-out.pcap")}, dir);
    INFO(r.out << r.err);
    CHECK(r.status == 0);
    CHECK(r.err.empty());

    // What each packet went through: the SAs of the eroute's group (§7.3), and for 9 and 10
    // the IPv6 group (4) and then, routed again, example 3's tun+esp (2).
    const auto lines = lines_of(r.out);
    REQUIRE(lines.size() == packets.size());
    const std::vector<int> transforms{1, 1, 2, 2, 0, 1, 4, 4, 6, 6, 0};
    for (size_t i = 0; i < lines.size(); ++i) {
        const std::string n = std::to_string(i + 1);
        INFO(lines[i]);
        if (i == 4) {
            CHECK(starts_with(lines[i], n + " passed: "));
        } else if (i == 10) {
            CHECK(starts_with(lines[i], n + " dropped: "));
            CHECK(lines[i].find("no eroute") != std::string::npos);
        } else {
            CHECK(starts_with(lines[i], n + " sent: "));
            const int t = transforms[i];
            CHECK(lines[i].find(" " + std::to_string(t) + (t == 1 ? " transform," : " transforms,")) != std::string::npos);
        }
    }

    // §6.3: one count per packet on the eroute it matches; a packet leaving a tunnel is looked
    // up again by its new outer header. Example 1's tunnel leaves as 192.168.43.2 ->
    // 192.168.43.1, example 3's as 3058:4::1 -> 3058:4::5, the IPv4 group's as 192.168.2.100 ->
    // 192.168.2.110: no eroute matches those. The IPv6 group's packets leave as 3049:1::1 ->
    // 3049:1::2, which example 3 (3049:1::/64 -> ::/0) matches: counted there too, and sent on
    // into example 3's tunnel (a new gateway, 3058:4::5), whose outer header matches nothing.
    // Transport mode (examples 2, 6, 7) keeps the addresses: counted once.
    CHECK(eroute_count(d, ex1) == "1");     // packet 3
    CHECK(eroute_count(d, ex2) == "1");     // packet 1: TCP to port 25 takes the smtp eroute
    CHECK(eroute_count(d, ex3) == "3");     // packet 4, and 9 and 10 leaving the IPv6 group
    CHECK(eroute_count(d, ex4) == "1");     // packet 5
    CHECK(eroute_count(d, ex6) == "1");     // packet 2: ICMP, not port 25
    CHECK(eroute_count(d, ex7) == "1");     // packet 6: the /128 pair, not example 3's /64
    CHECK(eroute_count(d, group4) == "2");  // packets 7 and 8
    CHECK(eroute_count(d, group6) == "2");  // packets 9 and 10; packet 11 counts nowhere

    // What came out: every packet but the dropped one, in order (§6.4).
    const auto out = read_out_pcap(s.path("demo-out.pcap"));
    REQUIRE(out.size() == 10);
    for (size_t i = 0; i < out.size(); ++i) CHECK(out[i].sec == 1700000001 + i);  // packet 11 was last
    {
        INFO("1: example 2, ESP in transport mode, the addresses kept");
        check_esp(out[0].data, check_outer(out[0].data, 4, 50, "192.168.2.110", "192.168.2.120"), 0x130, 1);
    }
    {
        INFO("2: example 6, ESP NULL+HMAC in transport mode");
        check_esp(out[1].data, check_outer(out[1].data, 4, 50, "192.168.2.110", "192.168.2.120"), 0xe6de, 1);
    }
    {
        INFO("3: example 1, tunnel to 192.168.43.1 from 192.168.43.2, ESP outside");
        check_esp(out[2].data, check_outer(out[2].data, 4, 50, "192.168.43.2", "192.168.43.1"), 0x130, 1);
        CHECK(!contains(out[2].data, address_bytes("198.51.100.7")));  // encrypted
    }
    {
        INFO("4: example 3, IPv6 tunnel to 3058:4::5 from 3058:4::1, ESP outside");
        check_esp(out[3].data, check_outer(out[3].data, 6, 50, "3058:4::1", "3058:4::5"), 0x130, 1);
        CHECK(!contains(out[3].data, address_bytes("2001:db8::7")));
    }
    {
        INFO("5: example 4, %pass: unchanged");
        CHECK(out[4].data == packets[4]);
    }
    {
        INFO("6: example 7, AH in transport mode over ICMPv6");
        check_ah(out[5].data, check_outer(out[5].data, 6, 51, "3049:1::110", "3049:1::120"), 58, 0xf5ed, 1);
    }
    for (size_t i : {6u, 7u}) {
        INFO(i + 1 << ": the IPv4 group: outer header 192.168.2.100 -> 192.168.2.110, AH, then ESP");
        const Bytes& w = out[i].data;
        const size_t esp = check_ah(w, check_outer(w, 4, 51, "192.168.2.100", "192.168.2.110"), 50, 0x187a101a,
                                    static_cast<uint32_t>(i - 5));
        check_esp(w, esp, 0x187a101b, static_cast<uint32_t>(i - 5));
    }
    // Packet 8's 400 bytes of text were deflated inside the tunnel (RFC 3173; packet 7 is below
    // the 90-byte threshold): even with all four headers it is smaller than it came in.
    CHECK(out[7].data.size() < packets[7].size());
    for (size_t i : {8u, 9u}) {
        INFO(i + 1 << ": the IPv6 group, then example 3's tunnel: outer header 3058:4::1 -> 3058:4::5");
        check_esp(out[i].data, check_outer(out[i].data, 6, 50, "3058:4::1", "3058:4::5"), 0x130,
                  static_cast<uint32_t>(i - 6));
    }

    // §4: every SA that handled a packet counts it; ESP and AH show the last sequence number
    // sent (seq=); tun and comp have none. Outbound bytes are the size after the SA's own
    // transform: a tunnel adds its outer header (20 or 40 bytes); the outermost SA's bytes are
    // what went to the wire.
    struct SaCount {
        std::string said;
        uint64_t packets;
        uint64_t seq;  // 0: no seq= (tun, comp)
    };
    const std::vector<SaCount> counts{
        {"esp.130@192.168.2.120", 1, 1},      {"esp.e6de@192.168.2.120", 1, 1},
        {"tun.130@192.168.43.1", 1, 0},       {"esp.130@192.168.43.1", 1, 1},
        {"tun:130@3058:4::5", 3, 0},          {"esp:130@3058:4::5", 3, 3},
        {"ah:f5ed@3049:1::120", 1, 1},        {"tun.3d0@192.168.2.110", 2, 0},
        {"comp.3d0@192.168.2.110", 2, 0},     {"esp.187a101b@192.168.2.110", 2, 2},
        {"ah.187a101a@192.168.2.110", 2, 2},  {"tun:3d0@3049:1::2", 2, 0},
        {"comp:3d0@3049:1::2", 2, 0},         {"esp:187a101b@3049:1::2", 2, 2},
        {"ah:187a101a@3049:1::2", 2, 2},
    };
    for (const SaCount& c : counts) {
        const std::string line = spi_line(d, c.said);
        INFO(line);
        CHECK(life_count(line, "packets") == c.packets);
        if (c.seq) CHECK(line.find(" seq=" + std::to_string(c.seq) + " ") != std::string::npos);
        else CHECK(line.find("seq=") == std::string::npos);
    }
    CHECK(spi_line(d, "comp.3d0@192.168.2.110").find(" ratio=") != std::string::npos);
    CHECK(spi_line(d, "comp:3d0@3049:1::2").find(" ratio=") != std::string::npos);

    auto bytes_of = [&](const std::string& said) { return life_count(spi_line(d, said), "bytes"); };
    CHECK(bytes_of("tun.3d0@192.168.2.110") == packets[6].size() + 20 + packets[7].size() + 20);
    CHECK(bytes_of("tun:3d0@3049:1::2") == packets[8].size() + 40 + packets[9].size() + 40);
    CHECK(bytes_of("tun.130@192.168.43.1") == packets[2].size() + 20);
    CHECK(bytes_of("ah.187a101a@192.168.2.110") == out[6].data.size() + out[7].data.size());
    CHECK(bytes_of("esp.130@192.168.43.1") == out[2].data.size());
    CHECK(bytes_of("esp.130@192.168.2.120") == out[0].data.size());
    CHECK(bytes_of("esp.e6de@192.168.2.120") == out[1].data.size());
    CHECK(bytes_of("ah:f5ed@3049:1::120") == out[5].data.size());
    // Example 3's tunnel took packet 4 as it came and 9 and 10 as the IPv6 group's AH made them.
    CHECK(bytes_of("tun:130@3058:4::5") == packets[3].size() + 40 + bytes_of("ah:187a101a@3049:1::2") + 2 * 40);
    CHECK(bytes_of("esp:130@3058:4::5") == out[3].data.size() + out[8].data.size() + out[9].data.size());
    CHECK(describe_status(d.stop()) == "exit 0");
}

TEST_CASE("seed examples: scripts/demo-packets writes the test's packets", "[ipsec][inject][seed]") {
    // scripts/demo replays the capture of scripts/demo-packets (standard-library Python): the
    // same packets as the test above, so that the demo shows the counts the test checks.
    const std::string python = "/usr/bin/python3";
    if (access(python.c_str(), X_OK) != 0) {
        WARN("no " << python << ": scripts/demo-packets not checked");
        return;
    }
    Scratch s("inject-seed-script");
    RunResult r = run_command({python, scripts_dir() + "/demo-packets", s.path("demo.pcap")}, "inject-seed-script");
    INFO(r.describe());
    REQUIRE(r.exit_code == 0);
    const auto records = read_out_pcap(s.path("demo.pcap"));
    const std::vector<Bytes> packets = seed_packets();
    REQUIRE(records.size() == packets.size());
    for (size_t i = 0; i < packets.size(); ++i) {
        INFO("packet " << i + 1);
        CHECK(records[i].data == packets[i]);
        CHECK(records[i].sec == 1700000001 + i);
    }
}
