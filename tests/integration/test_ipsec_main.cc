// `ipsec` itself: the command list, --version, unknown commands, and a command's /proc file
// when no instance answers (spec/klips.md §8: KLIPS's "no IPsec support" message).
#include <catch2/catch.hpp>

#include "daemon_instance.h"
#include "ipsec_runner.h"

using namespace it;

TEST_CASE("ipsec: --help lists the commands, --version names kmod-sim", "[ipsec]") {
    IpsecResult help = run_ipsec({"--help"}, "/nonexistent");
    CHECK(help.status == 0);
    CHECK(help.err.empty());
    CHECK(help.out.rfind("usage: ipsec <command> [arguments]\n", 0) == 0);
    IpsecResult version = run_ipsec({"--version"}, "/nonexistent");
    CHECK(version.status == 0);
    CHECK(version.out == "kmod-sim ipsec 0.1.0\n");
}

TEST_CASE("ipsec: an unknown command, and none", "[ipsec]") {
    IpsecResult r = run_ipsec({"frobnicate"}, "/nonexistent");
    CHECK(r.status == 1);
    CHECK(r.out.empty());
    CHECK(r.err == "ipsec: unknown command 'frobnicate' (try 'ipsec --help')\n");
    IpsecResult none = run_ipsec({}, "/nonexistent");
    CHECK(none.status == 1);
    CHECK(none.err.rfind("usage: ipsec <command> [arguments]\n", 0) == 0);
}
