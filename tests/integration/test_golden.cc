// The golden scenario (scenario.h, golden/README.md) in both output profiles, every file of
// the view compared byte for byte; and two instances side by side keeping separate state.
#include <catch2/catch.hpp>

#include "daemon_instance.h"
#include "pfkey_test_client.h"
#include "scenario.h"

using namespace it;

TEST_CASE("golden: the scenario's view, seed profile", "[golden][seed]") {
    DaemonInstance d("golden-seed", {"--format", "seed", "--clock", "manual"});
    d.start_or_throw();
    {
        PfkeyClient c(d.pfkey_path());
        run_golden_scenario(c);
    }
    check_view_against_golden(d, "seed");
    CHECK(describe_status(d.stop()) == "exit 0");
}

TEST_CASE("golden: the scenario's view, openswan profile", "[golden][openswan]") {
    DaemonInstance d("golden-openswan", {"--format", "openswan", "--clock", "manual"});
    d.start_or_throw();
    {
        PfkeyClient c(d.pfkey_path());
        run_golden_scenario(c);
    }
    check_view_against_golden(d, "openswan");
    CHECK(describe_status(d.stop()) == "exit 0");
}

TEST_CASE("golden: the default profile is seed", "[golden]") {
    DaemonInstance d("golden-default", {"--clock", "manual"});
    d.start_or_throw();
    CHECK(read_view_file(d.view("net/ipsec/version")) == read_golden("seed", "version"));
    // A fresh module: empty tables, four detached devices, debug all zero.
    CHECK(read_view_file(d.view("net/ipsec/eroute/all")).empty());
    CHECK(read_view_file(d.view("net/ipsec/spi/all")).empty());
    CHECK(read_view_file(d.view("net/ipsec/spigrp/all")).empty());
    CHECK(read_view_file(d.view("net/ipsec/tncfg")) ==
          "ipsec0 -> NULL mtu=0(0) -> 0\nipsec1 -> NULL mtu=0(0) -> 0\n"
          "ipsec2 -> NULL mtu=0(0) -> 0\nipsec3 -> NULL mtu=0(0) -> 0\n");
    CHECK(read_view_file(d.view("net/ipsec/klipsdebug")) ==
          "debug_tunnel=00000000.\ndebug_xform=00000000.\ndebug_eroute=00000000.\ndebug_spi=00000000.\n"
          "debug_radij=00000000.\ndebug_esp=00000000.\ndebug_ah=00000000.\ndebug_rcv=00000000.\n"
          "debug_pfkey=00000000.\n");
}

TEST_CASE("two instances side by side keep separate state", "[instances]") {
    DaemonInstance a("side-a", {"--clock", "manual"});
    DaemonInstance b("side-b", {"--clock", "manual", "--format", "openswan"});
    a.start_or_throw();
    b.start_or_throw();
    REQUIRE(a.pid() != b.pid());
    PfkeyClient ca(a.pfkey_path());
    PfkeyClient cb(b.pfkey_path());

    ok(ca, addflow({"10.1.0.0", 16, "10.2.0.0", 16}, {kEsp, 0x111, "192.0.2.111"}), "eroute on a");
    ok(cb, addflow({"10.3.0.0", 16, "10.4.0.0", 16}, {kIpip, 0x222, "192.0.2.222"}), "eroute on b");
    REQUIRE(clock_op(ca, pf::kClockSet, 500) == 500);
    REQUIRE(clock_op(cb, pf::kClockSet, 9000) == 9000);
    ok(ca, add_sa(ah_sha256(0x111, "198.51.100.1", "198.51.100.2")), "sa on a");
    ok(cb, add_sa(ipip(0x222, "198.51.100.3", "198.51.100.4")), "sa on b");
    REQUIRE(clock_op(ca, pf::kClockAdvance, 7) == 507);
    ok(cb, tncfg(pf::kTncfgAttach, "ipsec3", "lo"), "tncfg on b");

    CHECK(read_view_file(a.view("net/ipsec_eroute")) ==
          "0 10.1.0.0/16:0 -> 10.2.0.0/16:0 => esp0x111@192.0.2.111:0 () ()\n");
    CHECK(read_view_file(b.view("net/ipsec_eroute")) ==
          "0          10.3.0.0/16        -> 10.4.0.0/16        => tun0x222@192.0.2.222\n");
    CHECK(read_view_file(a.view("net/ipsec_spi")) ==
          "ah.111@198.51.100.1 AH_HMAC_SHA2_256: dir=out src=198.51.100.2 ooowin=32 alen=128 aklen=256 "
          "life(c,s,h)=add(7,0,0)\n");
    CHECK(read_view_file(b.view("net/ipsec_spi")) ==
          "tun0x222@198.51.100.3 IPIP: dir=out src=198.51.100.4 life(c,s,h)=addtime(0,0,0) "
          "natencap=none natsport=0 natdport=0 refcount=3 ref=1 refhim=0\n");
    CHECK(read_view_file(a.view("net/ipsec_tncfg")).starts_with("ipsec0 -> NULL"));
    CHECK(read_view_file(b.view("net/ipsec_tncfg")).ends_with("ipsec3 -> lo mtu=16260(65536) -> 65536\n"));
    CHECK(read_view_file(a.view("net/ipsec_version")) == "FreeS/WAN version: 0.1.0\n");
    CHECK(read_view_file(b.view("net/ipsec_version")) == "Openswan version: 0.1.0\n");

    // Stopping one leaves the other serving.
    CHECK(describe_status(a.stop()) == "exit 0");
    CHECK(clock_op(cb, pf::kClockGet) == 9000);
    CHECK(read_view_file(b.view("net/ipsec_spigrp")) == "tun0x222@198.51.100.3 \n");
}
