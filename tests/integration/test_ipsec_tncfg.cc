// `ipsec tncfg` (spec/klips.md §8.4, A.3): usage, messages and exit statuses byte for byte, and
// attach/detach/clear against a real instance, read back through net/ipsec_tncfg.
#include <catch2/catch.hpp>

#include "daemon_instance.h"
#include "ipsec_runner.h"

using namespace it;

namespace {

// Appendix A.3, <prog> = "tncfg" (or "tncfg --label L").
std::string tncfg_usage(const std::string& p) {
    return p + " --attach --virtual <virtual-device> --physical <physical-device>\n" +
           p + " --detach --virtual <virtual-device>\n" +
           p + " --clear\n" +
           p + " --help\n" +
           p + " --version\n" +
           p + "\n" +
           "        [ --debug ] is optional to any " + p + " command.\n" +
           "        [ --label <label> ] is optional to any " + p + " command.\n";
}

const std::string kNoSuchVirtual =
    "No such device.  Is the virtual device valid?  Is the ipsec module linked into the kernel or loaded as a module?\n";

std::string lo_mtu() {
    std::string mtu = slurp("/sys/class/net/lo/mtu");
    while (!mtu.empty() && mtu.back() == '\n') mtu.pop_back();
    return mtu;
}

}  // namespace

TEST_CASE("tncfg: usage, --version and argument errors", "[ipsec][tncfg]") {
    const std::string none = "/nonexistent";
    IpsecResult help = run_ipsec({"tncfg", "--help"}, none);
    CHECK(help.status == 1);
    CHECK(help.out == tncfg_usage("tncfg"));
    CHECK(help.err.empty());

    IpsecResult labelled = run_ipsec({"tncfg", "--label", "L", "--help"}, none);
    CHECK(labelled.status == 1);
    CHECK(labelled.out == tncfg_usage("tncfg --label L"));

    IpsecResult unknown = run_ipsec({"tncfg", "--bogus"}, none);
    CHECK(unknown.status == 1);
    CHECK(unknown.err == "tncfg: unrecognized option '--bogus'\n");
    CHECK(unknown.out == tncfg_usage("tncfg"));

    IpsecResult version = run_ipsec({"tncfg", "--version"}, none);
    CHECK(version.status == 1);
    CHECK(version.out.rfind("ipsec tncfg ", 0) == 0);
    CHECK(version.out.find("\nSee `ipsec --copyright' for copyright information.\n") != std::string::npos);

    struct Case {
        std::vector<std::string> args;
        std::string err;
    };
    const Case cases[] = {
        {{"tncfg", "--attach", "--detach"}, "tncfg: exactly one of '--attach', '--detach' or '--clear' options must be specified.\n"},
        {{"tncfg", "--clear", "--clear"}, "tncfg: exactly one of '--attach', '--detach' or '--clear' options must be specified.\n"},
        {{"tncfg", "--virtual", "ipsec0"}, "tncfg: exactly one of '--attach', '--detach' or '--clear' options must be specified.\n"},
        {{"tncfg", "--attach", "--virtual", "ipsec0"}, "tncfg: physical I/F parameter missing.\n"},
        {{"tncfg", "--attach", "--physical", "eth0"}, "tncfg: virtual I/F parameter missing.\n"},
        {{"tncfg", "--attach"}, "tncfg: physical I/F parameter missing.\n"},
        {{"tncfg", "--detach"}, "tncfg: virtual I/F parameter missing.\n"},
        {{"tncfg", "--label", "gw", "--detach"}, "tncfg --label gw: virtual I/F parameter missing.\n"},
    };
    for (const Case& c : cases) {
        INFO(c.args.back());
        IpsecResult r = run_ipsec(c.args, none);
        CHECK(r.status == 1);
        CHECK(r.out.empty());
        CHECK(r.err == c.err);
    }

    // Bare (also with only --debug/--label): the /proc file, or KLIPS's message without one.
    for (const auto& args : {std::vector<std::string>{"tncfg"}, std::vector<std::string>{"tncfg", "--debug"}}) {
        IpsecResult bare = run_ipsec(args, none);
        CHECK(bare.status == 1);
        CHECK(bare.err == "tncfg: No tncfg - no IPsec support in kernel (are the modules loaded?)\n");
    }
}

TEST_CASE("tncfg: attach, detach and clear on a real instance", "[ipsec][tncfg]") {
    DaemonInstance d("tncfg-e2e", {"--clock", "manual"});
    d.start_or_throw();
    const std::string dir = d.dir();
    const std::string detached = " -> NULL mtu=0(0) -> 0\n";
    const std::string fresh = "ipsec0" + detached + "ipsec1" + detached + "ipsec2" + detached + "ipsec3" + detached;
    CHECK(slurp(d.view("net/ipsec_tncfg")) == fresh);

    // Prefixes of the long options are accepted, and getopt_long_only takes a single dash.
    IpsecResult attach = run_ipsec({"tncfg", "-att", "--vir", "ipsec0", "--phys", "lo"}, dir);
    CHECK(attach.status == 0);
    CHECK(attach.out.empty());
    CHECK(attach.err.empty());
    const std::string attached = "ipsec0 -> lo mtu=16260(" + lo_mtu() + ") -> " + lo_mtu() + "\n";
    CHECK(slurp(d.view("net/ipsec_tncfg")) == attached + "ipsec1" + detached + "ipsec2" + detached + "ipsec3" + detached);

    IpsecResult bare = run_ipsec({"tncfg"}, dir);
    CHECK(bare.status == 0);
    CHECK(bare.out == slurp(d.view("net/ipsec_tncfg")));

    IpsecResult busy = run_ipsec({"tncfg", "--attach", "--virtual", "ipsec0", "--physical", "lo"}, dir);
    CHECK(busy.status == 1);
    CHECK(busy.err == "tncfg: Device busy.  Virtual device ipsec0 is already attached to a physical device -- Use detach first.\n");

    IpsecResult no_virtual = run_ipsec({"tncfg", "--attach", "--virtual", "ipsec9", "--physical", "lo"}, dir);
    CHECK(no_virtual.status == 1);
    CHECK(no_virtual.err == "tncfg: " + kNoSuchVirtual);

    IpsecResult no_physical = run_ipsec({"tncfg", "--attach", "--virtual", "ipsec1", "--physical", "nosuchdev9"}, dir);
    CHECK(no_physical.status == 1);
    CHECK(no_physical.err == "tncfg: No such device.  Is the physical device valid?\n");

    IpsecResult not_linked = run_ipsec({"tncfg", "--label", "gw", "--detach", "--virtual", "ipsec1"}, dir);
    CHECK(not_linked.status == 1);
    CHECK(not_linked.err == "tncfg --label gw: Device requested is not linked to any physical device.\n");

    IpsecResult detach_missing = run_ipsec({"tncfg", "--detach", "--virtual", "ipsec7"}, dir);
    CHECK(detach_missing.status == 1);
    CHECK(detach_missing.err == "tncfg: " + kNoSuchVirtual);

    IpsecResult detach = run_ipsec({"tncfg", "--detach", "--virtual", "ipsec0"}, dir);
    CHECK(detach.status == 0);
    CHECK(slurp(d.view("net/ipsec_tncfg")) == fresh);

    REQUIRE(run_ipsec({"tncfg", "--attach", "--virtual", "ipsec2", "--physical", "lo"}, dir).status == 0);
    REQUIRE(run_ipsec({"tncfg", "--attach", "--virtual", "ipsec3", "--physical", "lo"}, dir).status == 0);
    IpsecResult clear = run_ipsec({"tncfg", "--clear"}, dir);
    CHECK(clear.status == 0);
    CHECK(clear.err.empty());
    CHECK(slurp(d.view("net/ipsec_tncfg")) == fresh);

    CHECK(describe_status(d.stop()) == "exit 0");
}
