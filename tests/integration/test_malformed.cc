// Malformed PF_KEY input (DESIGN.md "Errors": the daemon survives any input): each bad
// datagram gets one 16-byte EINVAL reply and changes nothing; a fuzz loop of 10,000 random
// datagrams (fixed seed); clients that vanish or never read harm nobody else.
#include <catch2/catch.hpp>

#include <cstring>
#include <random>

#include "daemon_instance.h"
#include "pfkey_test_client.h"
#include "scenario.h"

using namespace it;

namespace {

using Bytes = std::vector<uint8_t>;

Bytes encoded(const pf::Message& m) {
    auto b = pf::encode(m);
    if (!b) throw std::runtime_error(std::string("encode: ") + std::string(b.error()));
    return *b;
}

uint16_t get16(const Bytes& b, size_t at) {
    uint16_t v;
    std::memcpy(&v, b.data() + at, 2);
    return v;
}
void put16(Bytes& b, size_t at, uint16_t v) { std::memcpy(b.data() + at, &v, 2); }
uint32_t get32(const Bytes& b, size_t at) {
    uint32_t v;
    std::memcpy(&v, b.data() + at, 4);
    return v;
}

// Offset of the extension of `type` in an encoded message.
size_t ext_offset(const Bytes& b, uint16_t type) {
    for (size_t at = pf::kMsgSize; at + 4 <= b.size();) {
        const uint16_t units = get16(b, at);
        if (get16(b, at + 2) == type) return at;
        if (units == 0) break;
        at += units * pf::kAlign;
    }
    throw std::runtime_error("extension " + std::to_string(type) + " not in the message");
}

void set_msg_len(Bytes& b, uint16_t units) { put16(b, 4, units); }

// A message that changes state if accepted: any reply but EINVAL shows.
pf::Message sample_addflow() {
    pf::Message m = addflow({"10.5.0.0", 16, "0.0.0.0", 0}, {kEsp, 0x1234, "192.0.2.5"});
    m.seq = 99;
    m.pid = 4321;
    return m;
}

// The state a bad datagram must not change, as the view shows it.
std::string view_state(const DaemonInstance& d) {
    std::string s;
    for (const auto& f : kViewFiles) s += std::string(f.path) + ":\n" + read_view_file(d.view(f.path));
    return s;
}

void seed_state(PfkeyClient& c) {
    ok(c, clock(pf::kClockSet, 300), "clock");
    ok(c, addflow({"10.1.0.0", 16, "10.2.0.0", 16}, {kEsp, 0x100, "192.0.2.10"}), "eroute");
    ok(c, addflow({"10.3.0.0", 16, "0.0.0.0", 0}, {kInt, kSpiTrap, "0.0.0.0"}), "eroute");
    ok(c, add_sa(esp_chacha(0x100, "192.0.2.10", "192.0.2.11")), "sa");
    ok(c, add_sa(ipip(0x100, "192.0.2.10", "192.0.2.11")), "sa");
    ok(c, grpsa({kIpip, 0x100, "192.0.2.10"}, {kEsp, 0x100, "192.0.2.10"}), "group");
    ok(c, tncfg(pf::kTncfgAttach, "ipsec1", "lo"), "tncfg");
    ok(c, debug_set(pf::XDebugExt::rcv), "debug");
}

// Sends `bytes` and checks the single reply: a 16-byte sadb_msg alone with errno EINVAL,
// echoing type, satype, seq and pid when the request had a readable 16-byte header.
// Returns an empty string when all is well, else what was wrong.
std::string bad_reply_problem(PfkeyClient& c, const Bytes& bytes, int timeout_ms = 5000) {
    c.send_raw(bytes);
    auto reply = c.recv_raw(timeout_ms);
    if (!reply) return "no reply within " + std::to_string(timeout_ms) + " ms";
    const Bytes& r = *reply;
    if (r.size() != 16) return "reply of " + std::to_string(r.size()) + " bytes, not a 16-byte sadb_msg";
    std::string problem;
    if (r[0] != 2) problem += " version " + std::to_string(r[0]) + ";";
    if (r[2] != EINVAL) problem += " errno " + errno_name(r[2]) + ";";
    if (get16(r, 4) != 2) problem += " sadb_msg_len " + std::to_string(get16(r, 4)) + ";";
    if (bytes.size() >= 16) {
        if (r[1] != bytes[1]) problem += " type " + std::to_string(r[1]) + " for " + std::to_string(bytes[1]) + ";";
        if (r[3] != bytes[3]) problem += " satype " + std::to_string(r[3]) + " for " + std::to_string(bytes[3]) + ";";
        if (get32(r, 8) != get32(bytes, 8)) problem += " seq not echoed;";
        if (get32(r, 12) != get32(bytes, 12)) problem += " pid not echoed;";
    }
    return problem;
}

}  // namespace

TEST_CASE("malformed: each kind of bad datagram gets EINVAL and changes nothing", "[malformed]") {
    DaemonInstance d("malformed", {"--clock", "manual"});
    d.start_or_throw();
    PfkeyClient c(d.pfkey_path());
    seed_state(c);
    const std::string before = view_state(d);

    const Bytes good = encoded(sample_addflow());
    std::vector<std::pair<std::string, Bytes>> cases;
    auto add = [&](std::string name, Bytes b) { cases.emplace_back(std::move(name), std::move(b)); };

    add("1 byte", Bytes{2});
    add("8 bytes: half a sadb_msg", Bytes(good.begin(), good.begin() + 8));
    add("15 bytes", Bytes(good.begin(), good.begin() + 15));
    add("truncated after the header (len still says more)", Bytes(good.begin(), good.begin() + 16));
    add("truncated mid-extension", Bytes(good.begin(), good.begin() + 40));
    add("truncated by 8 bytes", Bytes(good.begin(), good.end() - 8));
    {
        Bytes b(good.begin(), good.end() - 8);
        set_msg_len(b, static_cast<uint16_t>(b.size() / 8));
        add("last extension cut off, lengths consistent", b);
    }
    add("not a multiple of 8 bytes", [&] { Bytes b = good; b.push_back(0); return b; }());
    add("sadb_msg_len one too many", [&] { Bytes b = good; set_msg_len(b, static_cast<uint16_t>(b.size() / 8 + 1)); return b; }());
    add("sadb_msg_len one too few", [&] { Bytes b = good; set_msg_len(b, static_cast<uint16_t>(b.size() / 8 - 1)); return b; }());
    add("sadb_msg_len 0", [&] { Bytes b = good; set_msg_len(b, 0); return b; }());
    add("version 1", [&] { Bytes b = good; b[0] = 1; return b; }());
    add("unknown message type 99", [&] { Bytes b = good; b[1] = 99; return b; }());
    add("unknown message type 255", [&] { Bytes b = good; b[1] = 255; return b; }());
    add("unknown satype 77", [&] { Bytes b = good; b[3] = 77; return b; }());
    add("SA extension length 0", [&] { Bytes b = good; put16(b, ext_offset(b, pf::kExtSa), 0); return b; }());
    add("SA extension length 1 (too short)", [&] { Bytes b = good; put16(b, ext_offset(b, pf::kExtSa), 1); return b; }());
    add("extension length past the end", [&] { Bytes b = good; put16(b, ext_offset(b, pf::kExtXAddressDstMask), 40); return b; }());
    add("address extension length 1", [&] { Bytes b = good; put16(b, ext_offset(b, pf::kExtAddressDst), 1); return b; }());
    add("unknown extension type 99", [&] {
        Bytes b = good;
        Bytes ext{1, 0, 99, 0, 0, 0, 0, 0};
        b.insert(b.end(), ext.begin(), ext.end());
        set_msg_len(b, static_cast<uint16_t>(b.size() / 8));
        return b;
    }());
    add("unknown extension type 202", [&] {
        Bytes b = good;
        Bytes ext{1, 0, 202, 0, 0, 0, 0, 0};
        b.insert(b.end(), ext.begin(), ext.end());
        set_msg_len(b, static_cast<uint16_t>(b.size() / 8));
        return b;
    }());
    add("duplicate extension", [&] {
        Bytes b = good;
        const size_t at = ext_offset(b, pf::kExtSa);
        Bytes sa(b.begin() + static_cast<long>(at), b.begin() + static_cast<long>(at + get16(b, at) * 8));
        b.insert(b.end(), sa.begin(), sa.end());
        set_msg_len(b, static_cast<uint16_t>(b.size() / 8));
        return b;
    }());
    add("address family AF_UNIX", [&] { Bytes b = good; put16(b, ext_offset(b, pf::kExtAddressDst) + 8, AF_UNIX); return b; }());
    add("address family 0 in a flow", [&] { Bytes b = good; put16(b, ext_offset(b, pf::kExtXAddressSrcFlow) + 8, 0); return b; }());
    add("IPv4 prefix length 33", [&] { Bytes b = good; b[ext_offset(b, pf::kExtAddressDst) + 5] = 33; return b; }());
    add("IPv6 prefix length 129", [&] {
        pf::Message m = addflow({"3049:1::", 64, "::", 0}, {kIpip, 0x130, "3058:4::5"});
        m.seq = 7;
        Bytes b = encoded(m);
        b[ext_offset(b, pf::kExtAddressDst) + 5] = 129;
        return b;
    }());
    add("X_ADDFLOW without X_ADDRESS_DST_FLOW", [&] { pf::Message m = sample_addflow(); m.x_dst_flow.reset(); return encoded(m); }());
    add("X_ADDFLOW without SA", [&] { pf::Message m = sample_addflow(); m.sa.reset(); return encoded(m); }());
    add("ADD without ADDRESS_DST", [&] {
        pf::Message m = add_sa(esp_chacha(0x900, "192.0.2.90", "192.0.2.91"));
        m.address_dst.reset();
        return encoded(m);
    }());
    add("ADD with SUPPORTED_AUTH (not permitted)", [&] {
        pf::Message m = add_sa(esp_chacha(0x900, "192.0.2.90", "192.0.2.91"));
        m.supported_auth = pf::SupportedExt{{pf::Alg{5, 0, 256, 256}}};
        return encoded(m);
    }());
    add("X_DEBUG without its extension", encoded(base(pf::kXDebug, 0)));
    add("X_TNCFG with operation 9", [&] { pf::Message m = tncfg(9, "ipsec0", "lo"); return encoded(m); }());
    add("X_CLOCK without its extension", encoded(base(pf::kXClock, 0)));
    add("FLUSH with an unknown satype", [&] { Bytes b = encoded(flush(0)); b[3] = 250; return b; }());

    for (const auto& [name, bytes] : cases) {
        INFO("case: " << name << " (" << bytes.size() << " bytes)");
        CHECK(bad_reply_problem(c, bytes) == "");
    }
    CHECK(view_state(d) == before);
    CHECK(clock_op(c, pf::kClockGet) == 300);

    SECTION("a zero-length datagram") {
        CHECK(bad_reply_problem(c, Bytes{}) == "");
        // The connection still works afterwards.
        CHECK(clock_op(c, pf::kClockGet) == 300);
        CHECK(view_state(d) == before);
    }
}

TEST_CASE("malformed: 10,000 random datagrams, then business as usual", "[malformed][fuzz]") {
    DaemonInstance d("fuzz", {"--clock", "manual"});
    d.start_or_throw();
    PfkeyClient c(d.pfkey_path());
    seed_state(c);
    const std::string before = view_state(d);

    // Valid messages to mutate.
    std::vector<Bytes> pool;
    for (const pf::Message& m :
         {sample_addflow(), delflow({"10.1.0.0", 16, "10.2.0.0", 16}), clearflow(),
          add_sa(esp_null_sha512(0x901, "3049:1::9", "3049:1::8")), add_sa(comp_deflate(0x902, "192.0.2.1", "192.0.2.2")),
          delete_sa(kEsp, 0x100, "192.0.2.10"), grpsa({kIpip, 0x100, "192.0.2.10"}, {kEsp, 0x100, "192.0.2.10"}),
          debug_set(pf::XDebugExt::spi), tncfg(pf::kTncfgDetach, "ipsec1"), clock(pf::kClockAdvance, 5), flush(0),
          register_for(kEsp)})
        pool.push_back(encoded(m));

    std::mt19937 rng(20261127);
    auto below = [&](size_t n) { return static_cast<size_t>(rng() % n); };
    auto candidate = [&]() -> Bytes {
        switch (below(4)) {
        case 0: {  // random bytes
            Bytes b(below(200));
            for (auto& x : b) x = static_cast<uint8_t>(rng());
            return b;
        }
        case 1: {  // a plausible header, random extensions
            const size_t units = 2 + below(20);
            Bytes b(units * 8);
            for (auto& x : b) x = static_cast<uint8_t>(rng());
            b[0] = 2;
            static const uint8_t types[] = {1, 2, 3, 4, 5, 7, 9, 10, 13, 14, 15, 16, 200, 201};
            b[1] = types[below(sizeof types)];
            b[2] = 0;
            b[3] = static_cast<uint8_t>(below(12));
            put16(b, 4, static_cast<uint16_t>(units));
            // extension headers with plausible types and lengths
            for (size_t at = 16; at + 8 <= b.size();) {
                const size_t len = 1 + below(4);
                put16(b, at, static_cast<uint16_t>(len));
                put16(b, at + 2, static_cast<uint16_t>(1 + below(27)));
                at += len * 8;
            }
            return b;
        }
        default: {  // a valid message with a few bytes changed, cut or extended
            Bytes b = pool[below(pool.size())];
            const size_t flips = 1 + below(4);
            for (size_t k = 0; k < flips; ++k) b[below(b.size())] ^= static_cast<uint8_t>(1u << below(8));
            if (below(4) == 0) b.resize(below(b.size() + 1));
            else if (below(8) == 0) b.resize(b.size() + 8 * (1 + below(3)), static_cast<uint8_t>(rng()));
            return b;
        }
        }
    };

    constexpr int kDatagrams = 10000;
    int sent = 0, skipped_valid = 0, bad = 0;
    std::string first_problems;
    while (sent < kDatagrams) {
        Bytes b = candidate();
        if (pf::decode(b)) {  // a valid message could rightly change state: not fuzz
            ++skipped_valid;
            continue;
        }
        std::string problem = bad_reply_problem(c, b);
        ++sent;
        if (!problem.empty() && bad++ < 5) {
            first_problems += "datagram " + std::to_string(sent) + " (" + std::to_string(b.size()) + " bytes, type " +
                              (b.size() > 1 ? std::to_string(b[1]) : "-") + "): " + problem + "\n";
            if (problem.starts_with("no reply")) break;  // the daemon is gone or stuck
        }
    }
    INFO("sent " << sent << ", skipped " << skipped_valid << " that decode validly; first problems:\n"
                 << first_problems);
    CHECK(bad == 0);
    CHECK(sent == kDatagrams);

    // Exactly one reply each: nothing left over, a normal request is answered correctly.
    CHECK(c.quiet(100));
    CHECK(clock_op(c, pf::kClockGet) == 300);
    CHECK(c.others.empty());
    CHECK(view_state(d) == before);
    ok(c, addflow({"10.99.0.0", 16, "0.0.0.0", 0}, {kInt, kSpiPass, "0.0.0.0"}), "a normal request after the fuzz");
    CHECK(read_view_file(d.view("net/ipsec_eroute")).find("0 10.99.0.0/16:0 -> 0.0.0.0/0:0 => %pass\n") !=
          std::string::npos);
}

TEST_CASE("clients that vanish or never read harm no other client", "[malformed][clients]") {
    DaemonInstance d("vanishing-clients", {"--clock", "manual"});
    d.start_or_throw();
    PfkeyClient good(d.pfkey_path());
    ok(good, clock(pf::kClockSet, 50), "clock");

    SECTION("a client sends many requests and closes without reading a reply") {
        for (int round = 0; round < 20; ++round) {
            PfkeyClient rude(d.pfkey_path());
            for (int k = 0; k < 50; ++k) {
                rude.send(addflow({"10.200." + std::to_string(k) + ".0", 24, "0.0.0.0", 0}, {kInt, kSpiDrop, "0.0.0.0"}));
                rude.send(delflow({"10.200." + std::to_string(k) + ".0", 24, "0.0.0.0", 0}));
            }
            rude.close_now();
            CHECK(clock_op(good, pf::kClockGet) == 50);
            good.others.clear();  // the broadcasts of the rude client's changes
        }
        ok(good, clearflow(), "clear");
    }
    SECTION("a client that never reads while another makes thousands of broadcast changes") {
        PfkeyClient deaf(d.pfkey_path());
        PfkeyClient busy(d.pfkey_path());
        for (int k = 0; k < 3000; ++k) {
            pf::Message r = busy.request(addflow({"10.201.0.0", 16, "0.0.0.0", 0}, {kInt, kSpiDrop, "0.0.0.0"}), 5000);
            if (r.errno_value != 0) FAIL("add " << k << ": " << errno_name(r.errno_value));
            r = busy.request(delflow({"10.201.0.0", 16, "0.0.0.0", 0}), 5000);
            if (r.errno_value != 0) FAIL("delete " << k << ": " << errno_name(r.errno_value));
            busy.others.clear();
            if (k % 500 == 0) good.others.clear();
            // `good` reads its own messages now and then so that only `deaf` falls behind
            while (!good.quiet(0)) good.recv(100);
        }
        deaf.close_now();
        CHECK(clock_op(busy, pf::kClockGet) == 50);
    }
    CHECK(clock_op(good, pf::kClockGet) == 50);
    CHECK(read_view_file(d.view("net/ipsec_eroute")).empty());
}
