// `ipsec eroute` (spec/klips.md §8.1, Appendix A.1, §9.3): the usage text, every message and
// exit status, getopt_long's prefixes, and end to end on a real instance: ipsec_eroute(5)'s
// examples built with the command, the view compared byte for byte, the kernel's errors and
// the SADB_X_ADDFLOW/X_DELFLOW messages the command sends.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "daemon_instance.h"
#include "ipsec_runner.h"
#include "pfkey_test_client.h"

using namespace it;

namespace {

const std::string kNoInstance = "/nonexistent/kmod-sim";

// Appendix A.1, OS2.6's first line.
std::string eroute_usage(const std::string& p) {
    return "usage: " + p +
           " --{add,addin,replace,replacein} --eraf <inet | inet6> --src <src>/<srcmaskbits>|<srcmask> --dst "
           "<dst>/<dstmaskbits>|<dstmask> [ --transport-proto <protocol> ] [ --src-port <source-port> ] [ --dst-port "
           "<dest-port> ] <SA>\n"
           "            where <SA> is '--af <inet | inet6> --edst <edst> --spi <spi> --proto <proto>'\n"
           "                       OR '--said <said>'\n"
           "                       OR '--said <%passthrough | %passthrough4 | %passthrough6 | %drop | %reject | %trap "
           "| %hold | %pass>'.\n"
           "       " +
           p +
           " --del --eraf <inet | inet6>--src <src>/<srcmaskbits>|<srcmask> --dst "
           "<dst>/<dstmaskbits>|<dstmask> [ --transport-proto <protocol> ] [ --src-port <source-port> ] [ --dst-port "
           "<dest-port> ]\n"
           "       " +
           p +
           " --clear\n"
           "       " +
           p +
           " --help\n"
           "       " +
           p +
           " --version\n"
           "       " +
           p +
           "\n"
           "        [ --debug ] is optional to any " +
           p +
           " command.\n"
           "        [ --label <label> ] is optional to any " +
           p + " command.\n";
}

IpsecResult eroute(std::vector<std::string> args, const std::string& dir = kNoInstance) {
    args.insert(args.begin(), "eroute");
    return run_ipsec(args, dir);
}

// An error before any PF_KEY: stderr exactly `err`, nothing on stdout, exit 1.
void check_error(const std::vector<std::string>& args, const std::string& err) {
    IpsecResult r = eroute(args);
    INFO("ipsec eroute with " << args.size() << " arguments; stderr: " << r.err);
    CHECK(r.err == err);
    CHECK(r.out.empty());
    CHECK(r.status == 1);
}

const std::vector<std::string> kAdd{"--add", "--eraf", "inet", "--src", "10.0.0.0/8", "--dst", "0/0"};

std::vector<std::string> with(std::vector<std::string> a, const std::vector<std::string>& b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
}

}  // namespace

TEST_CASE("eroute: --help prints the usage on stdout and exits 1", "[ipsec][eroute]") {
    IpsecResult r = eroute({"--help"});
    CHECK(r.out == eroute_usage("eroute"));
    CHECK(r.err.empty());
    CHECK(r.status == 1);
    // --label changes <prog> when it comes first.
    IpsecResult l = eroute({"--label", "west", "--help"});
    CHECK(l.out == eroute_usage("eroute --label west"));
    CHECK(l.status == 1);
}

TEST_CASE("eroute: unknown, ambiguous and argument-less options: glibc's line, then the usage", "[ipsec][eroute]") {
    struct Case {
        std::string arg, err;
    };
    for (const Case& c : std::vector<Case>{
             {"--frob", "eroute: unrecognized option '--frob'\n"},
             {"--ad", "eroute: option '--ad' is ambiguous; possibilities: '--add' '--addin'\n"},
             {"--rep", "eroute: option '--rep' is ambiguous; possibilities: '--replace' '--replacein'\n"},
             {"--src", "eroute: option '--src' requires an argument\n"},
             {"--add=x", "eroute: option '--add' doesn't allow an argument\n"},
         }) {
        IpsecResult r = eroute({c.arg});
        INFO(c.arg);
        CHECK(r.err == c.err);
        CHECK(r.out == eroute_usage("eroute"));
        CHECK(r.status == 1);
    }
}

TEST_CASE("eroute: unambiguous prefixes are the options they start", "[ipsec][eroute]") {
    // --he = --help, --vers = --version, --addi = --addin, --ed = --edst, --sa = --said.
    CHECK(eroute({"--he"}).out == eroute_usage("eroute"));
    CHECK(eroute({"--vers"}).out == "ipsec eroute 0.1.0\nSee `ipsec --copyright' for copyright information.\n");
    check_error({"--addi", "--eraf", "inet", "--src", "1.0.0.0/8", "--dst", "0/0"},
                "eroute: add and addin options must have SA specified.\n");
    check_error({"--ed", "1.2.3.4", "--sa", "esp0x130@1.2.3.4"},
                "eroute: Error, EDST parameter redefined in SA:esp0x130@1.2.3.4, already defined as:1.2.3.4\n");
    // --add is an exact match even though it is also a prefix of --addin.
    check_error({"--add", "--cl"},
                "eroute: Only one of '--add', '--addin', '--replace', '--clear', or '--del' "
                "options permitted.\n");
}

TEST_CASE("eroute: --version prints on stdout and exits 1", "[ipsec][eroute]") {
    IpsecResult r = eroute({"--version"});
    CHECK(r.out == "ipsec eroute 0.1.0\nSee `ipsec --copyright' for copyright information.\n");
    CHECK(r.err.empty());
    CHECK(r.status == 1);
}

TEST_CASE("eroute: without an action, or with two", "[ipsec][eroute]") {
    check_error({"--eraf", "inet"},
                "eroute: exactly one of '--add', '--addin', '--replace', '--del' or '--clear' "
                "options must be specified.\nTry eroute --help' for usage information.\n");
    for (const char* second : {"--add", "--addin", "--replace", "--replacein", "--clear", "--del"})
        check_error({"--del", second},
                    "eroute: Only one of '--add', '--addin', '--replace', '--clear', or '--del' "
                    "options permitted.\n");
    check_error({"--label", "x", "--clear", "--clear"},
                "eroute --label x: Only one of '--add', '--addin', '--replace', '--clear', or '--del' options "
                "permitted.\n");
}

TEST_CASE("eroute: a missing SA, --src or --dst", "[ipsec][eroute]") {
    for (const char* action : {"--add", "--addin", "--replace", "--replacein"})
        check_error({action, "--eraf", "inet", "--src", "1.0.0.0/8", "--dst", "0/0"},
                    "eroute: add and addin options must have SA specified.\n");
    // A partial SA is no SA.
    check_error(with(kAdd, {"--af", "inet", "--edst", "1.2.3.4", "--spi", "0x200"}),
                "eroute: add and addin options must have SA specified.\n");
    check_error({"--add", "--eraf", "inet", "--dst", "0/0", "--said", "%pass"},
                "eroute: Error -- add option '--src' is required.\n");
    check_error({"--add", "--eraf", "inet", "--src", "0/0", "--said", "%pass"},
                "eroute: Error -- add option '--dst' is required.\n");
    // Every other action says "del" (KLIPS's wording).
    for (const char* action : {"--addin", "--replace", "--replacein"})
        check_error({action, "--eraf", "inet", "--dst", "0/0", "--said", "%pass"},
                    "eroute: Error -- del option '--src' is required.\n");
    check_error({"--del", "--eraf", "inet", "--src", "0/0"}, "eroute: Error -- del option '--dst' is required.\n");
}

TEST_CASE("eroute: --src and --dst: --eraf first, ttosubnet's errors", "[ipsec][eroute]") {
    // spec §11 vector 8
    check_error({"--add", "--src", "192.0.2.0/24", "--eraf", "inet"},
                "eroute: Error, unknown address family in ttosubnet converting --src argument: 192.0.2.0/24\n");
    check_error({"--add", "--dst", "0/0"},
                "eroute: Error, unknown address family in ttosubnet converting --dst argument: 0/0\n");
    check_error({"--eraf", "inet", "--src", "10.0.0.0"},
                "eroute: Error, no / in subnet specification converting --src argument: 10.0.0.0\n");
    check_error({"--eraf", "inet", "--dst", "10.0.0.0/33"},
                "eroute: Error, subnet mask bit count too large converting --dst argument: 10.0.0.0/33\n");
    check_error({"--eraf", "inet", "--src", "10.0.0.0/255.0.255.0"},
                "eroute: Error, non-contiguous or otherwise erroneous mask converting --src argument: "
                "10.0.0.0/255.0.255.0\n");
    check_error({"--eraf", "inet", "--src", "1.0.0.0/8", "--src", "2.0.0.0/8"},
                "eroute: Error, --src parameter redefined:2.0.0.0/8, already defined as:1.0.0.0/8\n");
    check_error({"--eraf", "inet", "--dst", "1.0.0.0/8", "--dst", "2.0.0.0/8"},
                "eroute: Error, --dst parameter redefined:2.0.0.0/8, already defined as:1.0.0.0/8\n");
    check_error({"--eraf", "inet", "--eraf", "inet6"},
                "eroute: Error, address family of eroute redefined:inet6, already defined as:inet\n");
    check_error({"--eraf", "ipx"}, "eroute: Invalid address family parameter for eroute: ipx\n");
    check_error({"--af", "ipx"}, "eroute: Invalid address family parameter for SAID: ipx\n");
    check_error({"--af", "inet", "--af", "inet"},
                "eroute: Error, address family of SAID redefined:inet, already defined as:inet\n");
}

TEST_CASE("eroute: --spi, --proto, --edst and --said", "[ipsec][eroute]") {
    check_error({"--spi", "12x"}, "eroute: Invalid character in SPI parameter: 12x\n");
    check_error({"--spi", "0xff"}, "eroute: Illegal reserved spi: 0xff => 0xff Must be larger than 0x100.\n");
    check_error({"--spi", "255"}, "eroute: Illegal reserved spi: 255 => 0xff Must be larger than 0x100.\n");
    check_error({"--spi", "0x200", "--spi", "0x300"},
                "eroute: Error, SPI parameter redefined:0x300, already defined as:0x200\n");
    check_error({"--proto", "udp"}, "eroute: Invalid PROTO parameter: udp\n");
    check_error({"--proto", "esp", "--proto", "ah"},
                "eroute: Error, PROTO parameter redefined:ah, already defined as:esp\n");
    check_error({"--edst", "1.2.3.4", "--edst", "1.2.3.5"},
                "eroute: Error, EDST parameter redefined:1.2.3.5, already defined as:1.2.3.4\n");
    check_error({"--edst", "1.2.3.400"},
                "eroute: Error, byte overflow in dotted-decimal address converting --edst argument:1.2.3.400\n");
    // spec §11 vector 9: --said's message shows the SPI as it lay in memory (network order).
    check_error({"--said", "%passthrough"},
                "eroute: Illegal reserved spi: %passthrough => 0x0 Must be larger than or equal to 0x100.\n");
    check_error({"--said", "esp.ff@1.2.3.4"},
                "eroute: Illegal reserved spi: esp.ff@1.2.3.4 => 0xff000000 Must be larger than or equal to 0x100.\n");
    check_error({"--said", "esp0x130"}, "eroute: Error, no @ in SA specifier converting --sa argument:esp0x130\n");
    check_error({"--said", "%bogus"}, "eroute: Error, unknown % keyword converting --sa argument:%bogus\n");
    check_error({"--said", "%pass", "--said", "%drop"},
                "eroute: Error, SAID parameter redefined:%drop, already defined in SA:%pass\n");
    check_error({"--said", "%pass", "--edst", "1.2.3.4"},
                "eroute: Error, EDST parameter redefined:1.2.3.4, already defined in SA:%pass\n");
    check_error({"--said", "%pass", "--spi", "0x200"},
                "eroute: Error, SPI parameter redefined:0x200, already defined in SA:%pass\n");
    check_error({"--said", "%pass", "--proto", "esp"},
                "eroute: Error, PROTO parameter redefined:esp, already defined in SA:%pass\n");
    check_error({"--proto", "esp", "--said", "%pass"},
                "eroute: Error, PROTO parameter redefined in SA:%pass, already defined as:esp\n");
    check_error({"--spi", "0x200", "--said", "%pass"},
                "eroute: Error, SPI parameter redefined in SA:%pass, already defined as:0x200\n");
    check_error({"--af", "inet", "--said", "%pass"},
                "eroute: Error, address family parameter redefined in SA:%pass, already defined as:inet\n");
}

TEST_CASE("eroute: --transport-proto and the ports", "[ipsec][eroute]") {
    check_error(with(kAdd, {"--said", "%pass", "--transport-proto", "256"}),
                "eroute: --transport-proto parameter: 256 must be in the range 0 to 255 inclusive\n");
    check_error(with(kAdd, {"--said", "%pass", "--transport-proto", "bogus"}),
                "eroute: Invalid character in --transport-proto parameter: bogus\n");
    check_error(with(kAdd, {"--said", "%pass", "--dst-port", "25"}),
                "eroute: --transport-proto with either UDP or TCP must be specified if --src-port or --dst-port is "
                "used\n");
    check_error(with(kAdd, {"--said", "%pass", "--transport-proto", "icmp", "--src-port", "25"}),
                "eroute: --transport-proto with either UDP or TCP must be specified if --src-port or --dst-port is "
                "used\n");
    check_error(with(kAdd, {"--said", "%pass", "--transport-proto", "tcp", "--src-port", "smtpx"}),
                "eroute: Invalid character in --src-port parameter: smtpx\n");
    check_error({"--transport-proto", "tcp", "--transport-proto", "udp"},
                "eroute: Error, --transport-proto paramter redefined:udp, already defined as:tcp\n");
    check_error({"--src-port", "1", "--src-port", "2"},
                "eroute: Error, --src-port parameter redefined:2, already defined as:1\n");
    check_error({"--dst-port", "1", "--dst-port", "2"},
                "eroute: Error, --dst-port parameter redefined:2, already defined as:1\n");
    // A port over 65535 is reported, and the command goes on (here to the next error).
    check_error({"--add", "--transport-proto", "udp", "--dst-port", "70000", "--said", "%pass"},
                "eroute: --dst-port parameter: 70000 must be in the range 0 to 65535 inclusive\n"
                "eroute: Error -- add option '--src' is required.\n");
}

TEST_CASE("eroute: --optionsfrom is refused", "[ipsec][eroute]") {
    IpsecResult r = eroute({"--optionsfrom", "/dev/null"});
    CHECK(r.err.rfind("eroute: --optionsfrom is not supported", 0) == 0);
    CHECK(r.status == 1);
}

TEST_CASE("eroute: bare, with --debug or --label, and no instance", "[ipsec][eroute]") {
    const std::string missing = " No eroute table - no IPsec support in kernel (are the modules loaded?)\n";
    IpsecResult r = eroute({});
    CHECK(r.err == "eroute:" + missing);
    CHECK(r.out.empty());
    CHECK(r.status == 1);
    IpsecResult l = eroute({"--label", "x"});
    CHECK(l.err == "eroute --label x:" + missing);
    CHECK(l.status == 1);
    IpsecResult d = eroute({"--debug"});
    CHECK(d.out == "eroute: DEBUG: argc=2\n");
    CHECK(d.err == "eroute:" + missing);
    // Any other argument, even a stray word, is not "bare".
    check_error({"stray"},
                "eroute: exactly one of '--add', '--addin', '--replace', '--del' or '--clear' options "
                "must be specified.\nTry eroute --help' for usage information.\n");
}

TEST_CASE("eroute: ipsec_eroute(5)'s examples built with the command, the view byte for byte", "[ipsec][eroute][e2e]") {
    DaemonInstance d("eroute-examples", {"--format", "seed"});
    d.start_or_throw();
    const std::string dir = d.dir();
    auto ok = [&](std::vector<std::string> args) {
        IpsecResult r = eroute(std::move(args), dir);
        INFO(r.err);
        CHECK(r.out.empty());
        CHECK(r.err.empty());
        CHECK(r.status == 0);
    };
    // 1
    ok({"--add", "--eraf", "inet", "--src", "172.31.252.0/24", "--dst", "0.0.0.0/0", "--said",
        "tun0x130@192.168.43.1"});
    // 2: SMTP by name, as getservbyname/getprotobyname read them
    ok({"--add", "--eraf", "inet", "--src", "192.168.2.110/32", "--dst", "192.168.2.120/32", "--transport-proto", "tcp",
        "--dst-port", "smtp", "--said", "esp0x130@192.168.2.120"});
    // 3: the four-option SA form, IPv6
    ok({"--add", "--eraf", "inet6", "--src", "3049:1::/64", "--dst", "::/0", "--af", "inet6", "--edst", "3058:4::5",
        "--spi", "0x130", "--proto", "tun"});
    // 4: %passthrough (tun SPI 0) cannot come from the command: it refuses SPIs below 0x100.
    IpsecResult four = eroute(
        {"--add", "--eraf", "inet", "--src", "192.168.6.0/24", "--dst", "192.168.7.0/24", "--said", "%passthrough"},
        dir);
    CHECK(four.err == "eroute: Illegal reserved spi: %passthrough => 0x0 Must be larger than or equal to 0x100.\n");
    CHECK(four.status == 1);
    // 5: the command masks 192.168.9.47/24 to 192.168.9.0/24 (the man page's unmasked address
    // and its "(east)" identity can only come from another PF_KEY client).
    ok({"--add", "--eraf", "inet", "--src", "192.168.8.55/32", "--dst", "192.168.9.47/24", "--said", "%hold"});
    // 6, 7
    ok({"--add", "--eraf", "inet", "--src", "192.168.2.110/32", "--dst", "192.168.2.120/32", "--said",
        "esp0xe6de@192.168.2.120"});
    ok({"--add", "--eraf", "inet6", "--src", "3049:1::110/128", "--dst", "3049:1::120/128", "--said",
        "ah:f5ed@3049:1::120"});

    // The man page's lines with count 0 (no traffic), in the radij walk order; example 3's
    // "0:0/0" is "::/0"; example 5 masked and without identities.
    const std::string expected =
        "0 172.31.252.0/24:0 -> 0.0.0.0/0:0 => tun0x130@192.168.43.1:0 () ()\n"
        "0 192.168.2.110/32:0 -> 192.168.2.120/32:0 => esp0xe6de@192.168.2.120:0 () ()\n"
        "0 192.168.2.110/32:0 -> 192.168.2.120/32:25 => esp0x130@192.168.2.120:6 () ()\n"
        "0 192.168.8.55/32:0 -> 192.168.9.0/24:0 => %hold\n"
        "0 3049:1::/64 -> ::/0 => tun:130@3058:4::5 () ()\n"
        "0 3049:1::110/128 -> 3049:1::120/128 => ah:f5ed@3049:1::120 () ()\n";
    CHECK(read_view_file(d.view("net/ipsec_eroute")) == expected);
    // The bare command cats the same file.
    IpsecResult bare = eroute({}, dir);
    CHECK(bare.out == expected);
    CHECK(bare.status == 0);

    // --del and --clear
    ok({"--del", "--eraf", "inet", "--src", "192.168.8.55/32", "--dst", "192.168.9.0/24"});
    CHECK(read_view_file(d.view("net/ipsec_eroute")).find("%hold") == std::string::npos);
    ok({"--clear"});
    CHECK(read_view_file(d.view("net/ipsec_eroute")).empty());
}

TEST_CASE("eroute: host bits, magic SAIDs, ports and --replace on a real instance", "[ipsec][eroute][e2e]") {
    DaemonInstance d("eroute-semantics", {"--format", "openswan"});
    d.start_or_throw();
    const std::string dir = d.dir();
    // spec §11 vectors 6 and 7
    CHECK(eroute({"--add", "--eraf", "inet", "--src", "10.1.2.3/8", "--dst", "0/0", "--said", "%drop"}, dir).status ==
          0);
    CHECK(eroute({"--add", "--eraf", "inet", "--src", "192.168.10.0/24", "--dst", "192.168.20.0/24",
                  "--transport-proto", "icmp", "--said", "%pass"},
                 dir)
              .status == 0);
    CHECK(read_view_file(d.view("net/ipsec_eroute")) ==
          "0          10.0.0.0/8         -> 0.0.0.0/0          => %drop\n"
          "0          192.168.10.0/24    -> 192.168.20.0/24    => %pass:1\n");
    // --replace swaps the SAID in place.
    CHECK(eroute({"--replace", "--eraf", "inet", "--src", "10.0.0.0/8", "--dst", "0/0", "--said", "%reject"}, dir)
              .status == 0);
    CHECK(read_view_file(d.view("net/ipsec_eroute"))
              .rfind("0          10.0.0.0/8         -> 0.0.0.0/0          => "
                     "%reject\n",
                     0) == 0);
    // numeric ports, a port number over 65535 kept modulo 2^16 after the message
    IpsecResult big =
        eroute({"--add", "--eraf", "inet", "--src", "10.9.0.0/16", "--dst", "10.8.0.0/16", "--transport-proto", "17",
                "--src-port", "0x1f4", "--dst-port", "70000", "--said", "%trap"},
               dir);
    CHECK(big.err == "eroute: --dst-port parameter: 70000 must be in the range 0 to 65535 inclusive\n");
    CHECK(big.status == 0);
    CHECK(read_view_file(d.view("net/ipsec_eroute"))
              .find("0          10.9.0.0/16:500    -> 10.8.0.0/16:4464   => %trap:17\n") != std::string::npos);
}

TEST_CASE("eroute: the kernel's errors, two lines each, exit 1", "[ipsec][eroute][e2e]") {
    DaemonInstance d("eroute-errors");
    d.start_or_throw();
    const std::string dir = d.dir();
    const std::vector<std::string> one{"--eraf", "inet", "--src", "172.31.252.0/24", "--dst", "0.0.0.0/0"};
    auto run = [&](const std::string& action, std::vector<std::string> more = {}) {
        std::vector<std::string> args{action};
        args.insert(args.end(), one.begin(), one.end());
        args.insert(args.end(), more.begin(), more.end());
        return eroute(args, dir);
    };
    const std::vector<std::string> said{"--said", "tun0x130@192.168.43.1"};
    REQUIRE(run("--add", said).status == 0);
    // spec §11 vector 10
    IpsecResult again = run("--add", said);
    CHECK(again.err ==
          "eroute: pfkey write failed, returning -1 with errno=17.\n"
          "eroute already in use.  Delete old one first.\n");
    CHECK(again.out.empty());
    CHECK(again.status == 1);
    // --addin / --replacein: no IPIP SA behind the SAID
    for (const char* in : {"--addin", "--replacein"}) {
        IpsecResult r = run(in, said);
        INFO(in);
        CHECK(r.err == "eroute: pfkey write failed, returning -1 with errno=2.\nnon-existant IPIP SA.\n");
        CHECK(r.status == 1);
    }
    // deleting: an unknown key (EFAULT), then a known key with another mask (ENOENT)
    IpsecResult unknown = eroute({"--del", "--eraf", "inet", "--src", "10.0.0.0/8", "--dst", "0/0"}, dir);
    CHECK(unknown.err == "eroute: pfkey write failed, returning -1 with errno=14.\nAddress not found.\n");
    CHECK(unknown.status == 1);
    IpsecResult mask = eroute({"--del", "--eraf", "inet", "--src", "172.31.252.0/25", "--dst", "0/0"}, dir);
    CHECK(mask.err == "eroute: pfkey write failed, returning -1 with errno=2.\neroute doesn't exist.  Can't delete.\n");
    CHECK(mask.status == 1);
    // replacing what is not there fails with the delete's error, in --add's words
    IpsecResult replace =
        eroute({"--replace", "--eraf", "inet", "--src", "10.0.0.0/8", "--dst", "0/0", "--said", "%pass"}, dir);
    CHECK(replace.err == "eroute: pfkey write failed, returning -1 with errno=14.\nInvalid address.\n");
    CHECK(replace.status == 1);
    // --label names the command in the first line
    IpsecResult labelled = eroute({"--label", "west", "--add", "--eraf", "inet", "--src", "172.31.252.0/24", "--dst",
                                   "0.0.0.0/0", "--said", "tun0x130@192.168.43.1"},
                                  dir);
    CHECK(labelled.err ==
          "eroute --label west: pfkey write failed, returning -1 with errno=17.\n"
          "eroute already in use.  Delete old one first.\n");
}

TEST_CASE("eroute: the SADB_X_ADDFLOW / X_DELFLOW messages it sends (§9.3)", "[ipsec][eroute][e2e]") {
    DaemonInstance d("eroute-messages");
    d.start_or_throw();
    const std::string dir = d.dir();
    PfkeyClient watcher(d.pfkey_path());  // sees every flow change
    auto next_flow = [&] {
        for (;;) {
            pf::Message m = watcher.recv();
            if (m.type == pf::kXAddFlow || m.type == pf::kXDelFlow) return m;
        }
    };

    REQUIRE(eroute({"--add", "--eraf", "inet", "--src", "192.168.2.110/32", "--dst", "192.168.2.120/32",
                    "--transport-proto", "tcp", "--dst-port", "25", "--said", "esp0x130@192.168.2.120"},
                   dir)
                .status == 0);
    pf::Message add = next_flow();
    CHECK(add.type == pf::kXAddFlow);
    CHECK(add.satype == kEsp);
    REQUIRE(add.sa);
    CHECK(add.sa->spi == 0x130);
    CHECK(add.sa->flags == 0);
    REQUIRE(add.address_src);
    CHECK(addrtot(add.address_src->address) == "0.0.0.0");
    REQUIRE(add.address_dst);
    CHECK(addrtot(add.address_dst->address) == "192.168.2.120");
    REQUIRE(add.x_dst_flow);
    CHECK(add.x_dst_flow->port == 25);
    REQUIRE(add.x_src_flow);
    CHECK(add.x_src_flow->port == 0);
    REQUIRE(add.x_dst_mask);
    CHECK(add.x_dst_mask->port == 0xffff);
    CHECK(addrtot(add.x_dst_mask->address) == "255.255.255.255");
    REQUIRE(add.x_src_mask);
    CHECK(add.x_src_mask->port == 0);
    REQUIRE(add.x_protocol);
    CHECK(add.x_protocol->proto == 6);

    struct FlagCase {
        const char* action;
        uint32_t flags;
    };
    for (const FlagCase& f : std::vector<FlagCase>{{"--replace", pf::kSaFlagXReplaceFlow}}) {
        REQUIRE(eroute({f.action, "--eraf", "inet", "--src", "192.168.2.110/32", "--dst", "192.168.2.120/32",
                        "--transport-proto", "tcp", "--dst-port", "25", "--said", "%pass"},
                       dir)
                    .status == 0);
        pf::Message m = next_flow();
        INFO(f.action);
        CHECK(m.satype == kInt);
        REQUIRE(m.sa);
        CHECK(m.sa->spi == 256);
        CHECK(m.sa->flags == f.flags);
    }
    // --addin and --replacein: an inbound policy on an IPIP SA
    {
        PfkeyClient c(d.pfkey_path());
        REQUIRE(c.errno_of(add_sa(ipip(0x1001, "127.0.0.1", "127.0.0.2"))) == 0);
    }
    for (const FlagCase& f : std::vector<FlagCase>{{"--addin", pf::kSaFlagXInFlow},
                                                   {"--replacein", pf::kSaFlagXReplaceFlow | pf::kSaFlagXInFlow}}) {
        IpsecResult r = eroute({f.action, "--eraf", "inet", "--src", "192.0.1.0/24", "--dst", "192.0.2.0/24", "--said",
                                "tun0x1001@127.0.0.1"},
                               dir);
        INFO(f.action << ": " << r.err);
        REQUIRE(r.status == 0);
        pf::Message m = next_flow();
        CHECK(m.satype == kIpip);
        REQUIRE(m.sa);
        CHECK(m.sa->spi == 0x1001);
        CHECK(m.sa->flags == f.flags);
    }
    REQUIRE(eroute({"--add", "--eraf", "inet6", "--src", "3049:1::/64", "--dst", "::/0", "--said", "tun:130@3058:4::5"},
                   dir)
                .status == 0);
    pf::Message six = next_flow();
    CHECK(six.satype == kIpip);
    REQUIRE(six.address_src);
    CHECK(addrtot(six.address_src->address) == "::");
    CHECK(!six.x_protocol);

    REQUIRE(eroute({"--clear"}, dir).status == 0);
    pf::Message clear = next_flow();
    CHECK(clear.type == pf::kXDelFlow);
    REQUIRE(clear.sa);
    CHECK(clear.sa->flags == pf::kSaFlagXClearFlow);
    CHECK(!clear.x_src_flow);
}
