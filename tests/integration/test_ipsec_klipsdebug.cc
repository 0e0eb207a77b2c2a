// `ipsec klipsdebug` (spec/klips.md §8.5, A.4, §5.2): usage, messages and exit statuses byte for
// byte, and --set/--clear/--all/--none against a real instance, read back through
// net/ipsec_klipsdebug (nine lines `debug_<name>=%08x.`).
#include <catch2/catch.hpp>

#include <map>

#include "daemon_instance.h"
#include "ipsec_runner.h"

using namespace it;

namespace {

// Appendix A.4 (no final period on the --debug line).
std::string klipsdebug_usage(const std::string& p) {
    return "usage: " + p + " {--set|--clear} {tunnel|tunnel-xmit|netlink|xform|eroute|spi|radij|esp|ah|rcv|pfkey|ipcomp|verbose}\n" +
           "       " + p + " {--all|--none}\n" +
           "       " + p + " --help\n" +
           "       " + p + " --version\n" +
           "       " + p + "\n" +
           "        [ --debug ] is optional to any " + p + " command\n" +
           "        [ --label <label> ] is optional to any " + p + " command.\n";
}

// §5.2: the nine listed words in their order; those not given are 00000000.
std::string listing(const std::map<std::string, std::string>& words) {
    std::string out;
    for (const char* name : {"tunnel", "xform", "eroute", "spi", "radij", "esp", "ah", "rcv", "pfkey"}) {
        auto it = words.find(name);
        out += std::string("debug_") + name + "=" + (it == words.end() ? "00000000" : it->second) + ".\n";
    }
    return out;
}

}  // namespace

TEST_CASE("klipsdebug: usage, --version and argument errors", "[ipsec][klipsdebug]") {
    const std::string none = "/nonexistent";
    IpsecResult help = run_ipsec({"klipsdebug", "--help"}, none);
    CHECK(help.status == 1);
    CHECK(help.out == klipsdebug_usage("klipsdebug"));
    CHECK(help.err.empty());

    CHECK(run_ipsec({"klipsdebug", "--label", "x", "--help"}, none).out == klipsdebug_usage("klipsdebug --label x"));

    // The usage names `ipcomp`, but only `comp` is accepted; an unknown switch prints the usage.
    for (const char* bad : {"ipcomp", "everything", ""}) {
        INFO(bad);
        IpsecResult r = run_ipsec({"klipsdebug", "--set", bad}, none);
        CHECK(r.status == 1);
        CHECK(r.out == klipsdebug_usage("klipsdebug"));
        CHECK(r.err.empty());
    }

    IpsecResult unknown = run_ipsec({"klipsdebug", "--frob"}, none);
    CHECK(unknown.status == 1);
    CHECK(unknown.err == "klipsdebug: unrecognized option '--frob'\n");
    CHECK(unknown.out == klipsdebug_usage("klipsdebug"));

    const std::string only_one = "Only one of '--set', '--clear', '--all' or '--none' options permitted.\n";
    for (const auto& args : {std::vector<std::string>{"klipsdebug", "--set", "pfkey", "--all"},
                             std::vector<std::string>{"klipsdebug", "--none", "--clear", "esp"},
                             std::vector<std::string>{"klipsdebug", "--all", "--all"}}) {
        IpsecResult r = run_ipsec(args, none);
        CHECK(r.status == 1);
        CHECK(r.out.empty());
        CHECK(r.err == "klipsdebug: " + only_one);
    }
    CHECK(run_ipsec({"klipsdebug", "--label", "gw", "--all", "--none"}, none).err == "klipsdebug --label gw: " + only_one);

    // §8.5: --version exits 0.
    IpsecResult version = run_ipsec({"klipsdebug", "--version"}, none);
    CHECK(version.status == 0);
    CHECK(version.out.rfind("klipsdebug (Linux FreeS/WAN ", 0) == 0);
    CHECK(version.out.find("\nSee `ipsec --copyright' for copyright information.\n") != std::string::npos);

    IpsecResult bare = run_ipsec({"klipsdebug", "--debug"}, none);
    CHECK(bare.status == 1);
    CHECK(bare.err == "klipsdebug: No klipsdebug - no IPsec support in kernel (are the modules loaded?)\n");
}

TEST_CASE("klipsdebug: --set, --clear, --all and --none on a real instance", "[ipsec][klipsdebug]") {
    DaemonInstance d("klipsdebug-e2e", {"--clock", "manual"});
    d.start_or_throw();
    const std::string dir = d.dir();
    auto view = [&] { return slurp(d.view("net/ipsec_klipsdebug")); };
    auto ok = [&](std::vector<std::string> args) {
        args.insert(args.begin(), "klipsdebug");
        IpsecResult r = run_ipsec(args, dir);
        INFO(r.err);
        CHECK(r.status == 0);
        CHECK(r.out.empty());
        CHECK(r.err.empty());
    };
    CHECK(view() == listing({}));

    ok({"--set", "pfkey"});  // §5.2's example
    CHECK(view() == listing({{"pfkey", "ffffffff"}}));
    ok({"--se", "esp"});  // a prefix of --set
    CHECK(view() == listing({{"pfkey", "ffffffff"}, {"esp", "ffffffff"}}));
    ok({"--set", "tunnel-xmit"});
    CHECK(view() == listing({{"tunnel", "00000010"}, {"pfkey", "ffffffff"}, {"esp", "ffffffff"}}));
    ok({"--clear", "pfkey"});
    CHECK(view() == listing({{"tunnel", "00000010"}, {"esp", "ffffffff"}}));
    // netlink, comp and verbose are not listed: setting them changes nothing shown.
    ok({"--set", "comp"});
    ok({"--set", "netlink"});
    ok({"--set", "verbose"});
    CHECK(view() == listing({{"tunnel", "00000010"}, {"esp", "ffffffff"}}));

    ok({"--all"});
    const std::map<std::string, std::string> all{
        {"tunnel", "ffffffff"}, {"xform", "ffffffff"}, {"eroute", "ffffffff"}, {"spi", "ffffffff"}, {"radij", "ffffffff"},
        {"esp", "ffffffff"},    {"ah", "ffffffff"},    {"rcv", "ffffffff"},    {"pfkey", "ffffffff"}};
    CHECK(view() == listing(all));
    ok({"--clear", "tunnel-xmit"});
    auto without_xmit = all;
    without_xmit["tunnel"] = "ffffffef";
    CHECK(view() == listing(without_xmit));
    ok({"--debug", "--clear", "rcv"});
    without_xmit["rcv"] = "00000000";
    CHECK(view() == listing(without_xmit));

    IpsecResult bare = run_ipsec({"klipsdebug"}, dir);
    CHECK(bare.status == 0);
    CHECK(bare.out == view());

    ok({"--none"});
    CHECK(view() == listing({}));
    CHECK(describe_status(d.stop()) == "exit 0");
}
