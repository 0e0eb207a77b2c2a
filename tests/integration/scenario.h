// Helpers shared by the daemon tests: checked requests, the view's file list, and the golden
// scenario (golden/README.md explains what it builds and why each expected line is so).
#pragma once

#include <catch2/catch.hpp>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "daemon_instance.h"
#include "pfkey_test_client.h"

namespace it {

// The files of the view (DESIGN.md "At run time"; kmod_sim/module/proc_view.cc), with the
// name of their golden file.
struct ViewFile {
    const char* path;
    const char* golden;
};
inline const std::vector<ViewFile> kViewFiles{
    {"net/ipsec/eroute/all", "eroute"},
    {"net/ipsec/spi/all", "spi"},
    {"net/ipsec/spigrp/all", "spigrp"},
    {"net/ipsec/tncfg", "tncfg"},
    {"net/ipsec/klipsdebug", "klipsdebug"},
    {"net/ipsec/version", "version"},
    {"net/ipsec/natt", "natt"},
    {"net/ipsec/stats/trap_count", "trap_count"},
    {"net/ipsec/stats/trap_sendcount", "trap_sendcount"},
};

// The legacy symlinks and their targets (spec/klips.md §5.4).
inline const std::vector<std::pair<const char*, const char*>> kViewLinks{
    {"net/ipsec_eroute", "ipsec/eroute/all"},   {"net/ipsec_spi", "ipsec/spi/all"},
    {"net/ipsec_spigrp", "ipsec/spigrp/all"},   {"net/ipsec_tncfg", "ipsec/tncfg"},
    {"net/ipsec_version", "ipsec/version"},     {"net/ipsec_klipsdebug", "ipsec/klipsdebug"},
};

inline std::string errno_name(int e) {
    if (e == 0) return "0 (success)";
    const char* name = strerrorname_np(e);
    return std::to_string(e) + " (" + (name ? name : "?") + ")";
}

// Sends `m` and requires the reply's errno to be `expected` (0: success).
inline pf::Message expect(PfkeyClient& c, const pf::Message& m, int expected, const std::string& what) {
    pf::Message reply = c.request(m);
    INFO(what << ": request " << pf::to_string(m) << "reply " << pf::to_string(reply));
    CHECK(reply.type == m.type);
    REQUIRE(errno_name(reply.errno_value) == errno_name(expected));
    return reply;
}

inline pf::Message ok(PfkeyClient& c, const pf::Message& m, const std::string& what) { return expect(c, m, 0, what); }

// The clock after `operation` (X_CLOCK reply).
inline uint64_t clock_op(PfkeyClient& c, uint8_t operation, uint64_t seconds = 0) {
    pf::Message reply = ok(c, clock(operation, seconds), "X_CLOCK op " + std::to_string(operation));
    REQUIRE(reply.x_clock.has_value());
    return reply.x_clock->seconds;
}

inline std::string golden_dir() {
    const char* dir = std::getenv("KMOD_SIM_GOLDEN");
    return dir ? dir : "tests/integration/golden";
}

inline std::string read_golden(const std::string& profile, const std::string& name) {
    const std::string path = golden_dir() + "/" + profile + "/" + name;
    Fd f(open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (f.fd < 0) throw std::runtime_error("cannot open golden file " + path + ": " + std::strerror(errno));
    return read_fd(f.fd);
}

// The golden scenario (golden/README.md). Ends at clock 1175.
inline void run_golden_scenario(PfkeyClient& c) {
    // ---- the clock: manual, from 0
    REQUIRE(clock_op(c, pf::kClockGet) == 0);
    REQUIRE(clock_op(c, pf::kClockSet, 1000) == 1000);

    // ---- eroutes: ipsec_eroute(5)'s seven examples, spec §11 vectors 3 and 6, and more
    auto magic = [](uint32_t spi) { return SaidSpec{kInt, spi, "0.0.0.0"}; };
    // example 1
    ok(c, addflow({"172.31.252.0", 24, "0.0.0.0", 0}, {kIpip, 0x130, "192.168.43.1"}), "eroute ex 1");
    // example 2: tcp to port 25
    ok(c, addflow({"192.168.2.110", 32, "192.168.2.120", 32, 6, 0, 25}, {kEsp, 0x130, "192.168.2.120"}),
       "eroute ex 2");
    // example 3 (IPv6; the man page's 0:0/0 is ::/0)
    ok(c, addflow({"3049:1::", 64, "::", 0}, {kIpip, 0x130, "3058:4::5"}), "eroute ex 3");
    // example 4: the legacy %passthrough, tun SPI 0 at 0.0.0.0 (the kernel takes it; only
    // the eroute command refuses SPIs below 0x100)
    ok(c, addflow({"192.168.6.0", 24, "192.168.7.0", 24}, {kIpip, 0, "0.0.0.0"}), "eroute ex 4");
    // example 5: host bits in a /24 destination, kept as given; source identity "east"
    ok(c, addflow({"192.168.8.55", 32, "192.168.9.47", 24}, magic(kSpiHold), 0, "east"), "eroute ex 5");
    // example 6
    ok(c, addflow({"192.168.2.110", 32, "192.168.2.120", 32}, {kEsp, 0xe6de, "192.168.2.120"}), "eroute ex 6");
    // example 7 (IPv6 AH)
    ok(c, addflow({"3049:1::110", 128, "3049:1::120", 128}, {kAh, 0xf5ed, "3049:1::120"}), "eroute ex 7");
    // spec §11 vector 3 (%trap) and vector 6 (%pass for ICMP)
    ok(c, addflow({"192.0.2.0", 24, "192.0.1.0", 24}, magic(kSpiTrap)), "eroute %trap");
    ok(c, addflow({"192.168.10.0", 24, "192.168.20.0", 24, 1}, magic(kSpiPass)), "eroute %pass icmp");
    // ports, protocol and both identities on a real SAID
    ok(c, addflow({"10.0.0.0", 8, "192.168.20.0", 24, 17, 500, 4500}, {kEsp, 0x1001, "127.0.0.1"}, 0,
                  "@west.example", "@east.example"),
       "eroute with idents");
    ok(c, addflow({"192.168.30.0", 24, "0.0.0.0", 0}, magic(kSpiReject)), "eroute %reject");
    // added as %drop, then replaced (REPLACEFLOW) by %pass
    ok(c, addflow({"172.16.0.0", 12, "0.0.0.0", 0}, magic(kSpiDrop)), "eroute %drop");
    ok(c, addflow({"172.16.0.0", 12, "0.0.0.0", 0}, magic(kSpiPass), pf::kSaFlagXReplaceFlow), "eroute replace");
    // added and deleted again
    ok(c, addflow({"172.20.0.0", 16, "10.0.0.0", 8}, magic(kSpiHold)), "eroute to delete");
    ok(c, delflow({"172.20.0.0", 16, "10.0.0.0", 8}), "eroute delete");

    // ---- SAs at clock 1000: ipsec_spigrp(5)'s IPv4 group, tun/comp/esp/ah on 192.168.2.110
    const std::string g4 = "192.168.2.110", g4src = "192.168.2.100";
    ok(c, add_sa(ipip(0x3d0, g4, g4src)), "S1 tun");
    ok(c, add_sa(comp_deflate(0x3d0, g4, g4src)), "S2 comp");
    ok(c, add_sa(esp_chacha(0x187a101b, g4, g4src, 32)), "S3 esp chacha20-poly1305");
    ok(c, add_sa(ah_sha256(0x187a101a, g4, g4src, 32)), "S4 ah sha2-256");
    ok(c, grpsa({kIpip, 0x3d0, g4}, {kComp, 0x3d0, g4}), "group tun-comp");
    ok(c, grpsa({kComp, 0x3d0, g4}, {kEsp, 0x187a101b, g4}), "group comp-esp");
    ok(c, grpsa({kEsp, 0x187a101b, g4}, {kAh, 0x187a101a, g4}), "group esp-ah");

    // ---- clock 1100: the IPv6 group on 3049:1::2
    REQUIRE(clock_op(c, pf::kClockAdvance, 100) == 1100);
    const std::string g6 = "3049:1::2", g6src = "3049:1::1";
    ok(c, add_sa(ipip(0x3d0, g6, g6src)), "S5 tun6");
    ok(c, add_sa(comp_deflate(0x3d0, g6, g6src)), "S6 comp6");
    ok(c, add_sa(esp_null_sha512(0x187a101b, g6, g6src, 64)), "S7 esp null sha2-512");
    ok(c, add_sa(ah_sha512(0x187a101a, g6, g6src, 64)), "S8 ah sha2-512");
    ok(c, grpsa({kIpip, 0x3d0, g6}, {kComp, 0x3d0, g6}), "group6 tun-comp");
    ok(c, grpsa({kComp, 0x3d0, g6}, {kEsp, 0x187a101b, g6}), "group6 comp-esp");
    ok(c, grpsa({kEsp, 0x187a101b, g6}, {kAh, 0x187a101a, g6}), "group6 esp-ah");

    // ---- clock 1150: an inbound tun+esp group on 127.0.0.1 with lifetimes and an inbound
    // policy; a lone outbound esp; a group added and deleted as a whole
    REQUIRE(clock_op(c, pf::kClockAdvance, 50) == 1150);
    ok(c, add_sa(ipip(0x1001, "127.0.0.1", "127.0.0.2")), "S9 tun inbound");
    SaSpec s10 = esp_null_sha256(0x1001, "127.0.0.1", "127.0.0.2", 16);
    s10.soft = pf::LifetimeExt{0, 500000, 3600, 0, 0, true};
    s10.hard = pf::LifetimeExt{0, 1000000, 7200, 0, 0, true};
    ok(c, add_sa(s10), "S10 esp inbound with lifetimes");
    ok(c, grpsa({kIpip, 0x1001, "127.0.0.1"}, {kEsp, 0x1001, "127.0.0.1"}), "group inbound tun-esp");
    ok(c, addflow({"192.0.1.0", 24, "192.0.2.0", 24}, {kIpip, 0x1001, "127.0.0.1"}, pf::kSaFlagXInFlow),
       "eroute --addin");
    ok(c, add_sa(esp_chacha(0x2002, "198.51.100.45", "198.51.100.23", 0)), "S11 lone esp");
    ok(c, add_sa(esp_chacha(0x5000, "198.51.100.99", "198.51.100.23", 0)), "S13 esp to delete");
    ok(c, add_sa(ipip(0x5000, "198.51.100.99", "198.51.100.23")), "S14 tun to delete");
    ok(c, grpsa({kIpip, 0x5000, "198.51.100.99"}, {kEsp, 0x5000, "198.51.100.99"}), "group to delete");
    ok(c, delete_sa(kIpip, 0x5000, "198.51.100.99"), "delete the group through its tun");
    expect(c, delete_sa(kEsp, 0x5000, "198.51.100.99"), ESRCH, "the group's esp went with it");

    // ---- clock 1175: one more SA, listed at age 0
    REQUIRE(clock_op(c, pf::kClockAdvance, 25) == 1175);
    ok(c, add_sa(ah_sha256(0x91234567, "192.1.2.45", "192.1.2.23", 0)), "S12 ah at age 0");

    // ---- tncfg: ipsec0 on lo; ipsec1 attached and detached again
    ok(c, tncfg(pf::kTncfgAttach, "ipsec0", "lo"), "tncfg attach ipsec0 lo");
    ok(c, tncfg(pf::kTncfgAttach, "ipsec1", "lo"), "tncfg attach ipsec1 lo");
    ok(c, tncfg(pf::kTncfgDetach, "ipsec1"), "tncfg detach ipsec1");

    // ---- klipsdebug: --set tunnel-xmit, --set pfkey, --set eroute, --clear eroute
    ok(c, debug_set(pf::XDebugExt::tunnel, 0x10), "klipsdebug --set tunnel-xmit");
    ok(c, debug_set(pf::XDebugExt::pfkey), "klipsdebug --set pfkey");
    ok(c, debug_set(pf::XDebugExt::eroute), "klipsdebug --set eroute");
    ok(c, debug_clear(pf::XDebugExt::eroute), "klipsdebug --clear eroute");

    REQUIRE(clock_op(c, pf::kClockGet) == 1175);
}

// Every file of the view, byte for byte against golden/<profile>/.
inline void check_view_against_golden(const DaemonInstance& d, const std::string& profile) {
    // golden/*/tncfg was written for lo's usual MTU.
    INFO("the golden tncfg files assume lo has MTU 65536");
    REQUIRE(slurp("/sys/class/net/lo/mtu") == "65536\n");
    for (const auto& f : kViewFiles) {
        const std::string expected = read_golden(profile, f.golden);
        const std::string got = read_view_file(d.view(f.path));
        INFO("profile " << profile << ", file " << f.path << " (golden/" << profile << "/" << f.golden << ")");
        CHECK(got == expected);
    }
    for (const auto& [link, target] : kViewLinks) {
        char buf[256];
        ssize_t n = readlink(d.view(link).c_str(), buf, sizeof buf);
        INFO("symlink " << link);
        REQUIRE(n > 0);
        CHECK(std::string(buf, static_cast<size_t>(n)) == target);
        CHECK(read_view_file(d.view(link)) == read_view_file(d.view(std::string("net/") + target)));
    }
}

}  // namespace it
