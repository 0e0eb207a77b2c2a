// `ipsec spi` (spec/klips.md §8.2, Appendix A.5): the usage text, every error message with
// its stream and exit status, the key forms and their length checks (no key ever echoed), and
// end to end on a real instance: SAs of every kind added through the command, the listing
// compared byte for byte with the seed layout of §4.1, then --del and --clear.
#include <catch2/catch.hpp>

#include <fstream>
#include <string>
#include <vector>

#include "daemon_instance.h"
#include "ipsec_runner.h"
#include "pfkey_test_client.h"
#include "scenario.h"

using namespace it;

namespace {

const std::string kNoInstance = "/nonexistent-kmod-sim-spi";

// Appendix A.5 with kmod-sim's algorithms on the algorithm lines (and the NULL-ESP form
// taking --authkey only: it has no encryption key), then one line of kmod-sim's own: --esn
// is not a KLIPS option, so its line comes after KLIPS's text instead of inside it, leaving
// every line of A.5 where KLIPS printed it.
std::string usage_text(const std::string& prog) {
    return prog + ":Usage:\n"
           "\tin the following, <SA> is: --af <inet | inet6> --edst <dstaddr> --spi <spi> --proto <proto>\n"
           "                               OR: --said <proto><.|:><spi>@<dstaddr>\n"
           "\t                  <life> is: --life <soft|hard>-<allocations|bytes|addtime|usetime|packets>=<value>[,...]\n"
           "spi --clear\n"
           "spi --help\n"
           "spi --version\n"
           "spi\n"
           "spi --del <SA>\n"
           "spi --ip4 <SA> --src <encap-src> --dst <encap-dst>\n"
           "spi --ip6 <SA> --src <encap-src> --dst <encap-dst>\n"
           "spi --ah <algo> <SA> [<life> ][ --replay_window <replay_window> ] --authkey <key>\n"
           "\twhere <algo> is one of:\thmac-sha2-256-128 | hmac-sha2-512-256\n"
           "spi --esp <algo> <SA> [<life> ][ --replay_window <replay-window> ] --authkey <akey>\n"
           "\twhere <algo> is one of:\tnull-hmac-sha2-256 | null-hmac-sha2-512\n"
           "spi --esp <algo> <SA> [<life> ][ --replay_window <replay-window> ] --enckey <ekey>\n"
           "\twhere <algo> is one of:\tchacha20-poly1305 | aes256gcm16\n"
           "spi --comp <algo> <SA>\n"
           "\twhere <algo> is:\tdeflate\n"
           "[ --debug ] is optional to any spi command.\n"
           "[ --label <label> ] is optional to any spi command.\n"
           "[ --listenreply ]   is optional, and causes the command to stick\n"
           "                    around and listen to what the PF_KEY socket says.\n"
           "[ --esn ] is optional to --ah and --esp: 64-bit extended sequence numbers (RFC 4303).\n";
}

IpsecResult spi(std::vector<std::string> args, const std::string& dir = kNoInstance) {
    args.insert(args.begin(), "spi");
    return run_ipsec(args, dir);
}

// An error on stderr, nothing on stdout, and the status.
void expect_error(const std::vector<std::string>& args, const std::string& err, int status = 1,
                  const std::string& dir = kNoInstance) {
    IpsecResult r = spi(args, dir);
    INFO("ipsec spi with " << args.size() << " arguments, first " << (args.empty() ? "" : args[0]));
    CHECK(r.out.empty());
    CHECK(r.err == err);
    CHECK(r.status == status);
}

// 36 bytes (256-bit key + 32-bit salt), 32 and 64 bytes in the three forms.
const std::string kAeadHex = "0x00010203_04050607_08090a0b_0c0d0e0f_10111213_14151617_18191a1b_1c1d1e1f_20212223";
const std::string kAeadB64 = "0sMjM0NTY3ODk6Ozw9Pj9AQUJDREVGR0hJSktMTU5PUFFSU1RV";
const std::string kKey256B64 = "0sZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXp7fH1+f4CBgoM=";
const std::string kKey256Hex = "0x" + std::string(64, 'a');
const std::string kKey512Text = "0t" + std::string(64, 'k');
const std::string kKey512Hex = "0x" + std::string(128, '5');

bool cpu_has_aes() {
    std::ifstream in("/proc/cpuinfo");
    std::string line;
    while (std::getline(in, line))
        if (line.rfind("flags", 0) == 0) return line.find(" aes ") != std::string::npos || line.ends_with(" aes");
    return false;
}

}  // namespace

TEST_CASE("spi: --help, --version, unknown options", "[ipsec][spi]") {
    IpsecResult help = spi({"--help"});
    CHECK(help.out == usage_text("spi"));
    CHECK(help.err.empty());
    CHECK(help.status == 255);

    IpsecResult labelled = spi({"--label", "west", "--help"});
    CHECK(labelled.out == usage_text("spi --label west"));
    CHECK(labelled.status == 255);

    IpsecResult version = spi({"--version"});
    CHECK(version.out == "spi, kmod-sim spi 0.1.0\n");
    CHECK(version.status == 1);

    expect_error({"--bogus"}, "spi: unrecognized option '--bogus'\n" + usage_text("spi"), 255);
    expect_error({"--ah"}, "spi: option '--ah' requires an argument\n" + usage_text("spi"), 255);
}

TEST_CASE("spi: bare, with no instance", "[ipsec][spi]") {
    expect_error({}, "spi: No spi - no IPsec support in kernel (are the modules loaded?)\n");
    expect_error({"--label", "x"}, "spi --label x: No spi - no IPsec support in kernel (are the modules loaded?)\n");
}

TEST_CASE("spi: §8.2 error messages", "[ipsec][spi]") {
    const std::string only2 =
        "spi: Only one of '--ah', '--esp', '--comp', '--ip4', '--ip6', '--del' or '--clear'  options permitted.\n";
    const std::string only1 =
        "spi: Only one of '--ah', '--esp', '--comp', '--ip4', '--ip6', '--del' or '--clear' options permitted.\n";
    expect_error({"--del", "--clear"}, only2);
    expect_error({"--clear", "--ah", "hmac-sha2-256-128"}, only2);
    expect_error({"--del", "--esp", "chacha20-poly1305"}, only2);
    expect_error({"--del", "--comp", "deflate"}, only2);
    expect_error({"--clear", "--ip4"}, only1);  // spi.c's --ip4/--ip6 text has one space
    expect_error({"--clear", "--ip6"}, only1);

    expect_error({"--ah", "foo", "--said", "ah.1000@1.2.3.4"},
                 "spi: Unknown authentication algorithm 'foo' follows '--ah' option.\n");
    expect_error({"--esp", "foo"}, "spi: Invalid encryption algorithm 'foo' follows '--esp' option.\n");
    expect_error({"--comp", "foo"}, "spi: Unknown compression algorithm 'foo' follows '--comp' option.\n");

    expect_error({"--del", "--spi", "0x1000", "--proto", "esp"}, "spi: SA destination not specified.\n");
    expect_error({"--del", "--af", "inet", "--edst", "1.2.3.4", "--proto", "esp"}, "spi: SA SPI not specified.\n");
    expect_error({"--del", "--af", "inet", "--edst", "1.2.3.4", "--spi", "0x1000"}, "spi: SA PROTO not specified.\n");
    expect_error({"--del", "--spi", "0xff"}, "spi: Illegal reserved spi: 0xff => 0xff Must be larger than 0x100.\n");
    expect_error({"--del", "--spi", "12"}, "spi: Illegal reserved spi: 12 => 0xc Must be larger than 0x100.\n");
    expect_error({"--del", "--said", "esp.ff@1.2.3.4"},
                 "spi: Illegal reserved spi: esp.ff@1.2.3.4 => 0xff Must be larger than 0x100.\n");
    expect_error({"--del", "--spi", "0x1g"}, "spi: Invalid character in SPI parameter: 0x1g\n");
    expect_error({"--del", "--proto", "foo"}, "spi: Invalid PROTO parameter: foo\n");
    expect_error({"--del", "--af", "inet7"}, "spi: Invalid ADDRESS FAMILY parameter: inet7.\n");
    expect_error({"--del", "--said", "esp.1000@1.2.3.4", "--spi", "0x2000"},
                 "spi: Error, SPI parameter redefined:0x2000, already defined in SA:esp.1000@1.2.3.4\n");
    expect_error({"--del", "--said", "esp1000"},
                 "spi: Error, no @ in SA specifier converting --sa argument:esp1000\n");

    for (const char* bad : {"65", "0"}) {
        expect_error({"--replay_window", bad}, std::string("spi: Failed -- Illegal window size: arg=") + bad +
                                                   ", replay_window=" + bad + ", must be 1 <= size <= 64.\n");
    }
    expect_error({"--replay_window", "3x"}, "spi: Invalid character in replay_window parameter: 3x\n");
    expect_error({"--said", "esp.1000@1.2.3.4"}, "spi: No action chosen.  See 'spi --help' for usage.\n");
    expect_error({"--label", "L", "--said", "esp.1000@1.2.3.4"},
                 "spi --label L: No action chosen.  See 'spi --label L --help' for usage.\n");

    // --life (KLIPS's parse_life_options; the pointer dumps of its messages are left out)
    expect_error({"--life", "medium-bytes=1"}, "spi: missing lifetime severity in medium-bytes=1\n" + usage_text("spi"),
                 255);
    expect_error({"--life", "soft+bytes=1"},
                 "spi: expected '-' after severity of lifetime parameter to --life option.\n" + usage_text("spi"), 255);
    expect_error({"--life", "soft-kilos=1"}, "spi: missing lifetime type after '-' in soft-kilos=1\n" + usage_text("spi"),
                 255);
    expect_error({"--life", "soft-bytes:1"},
                 "spi: expected '=' after type of lifetime parameter to --life option.\n" + usage_text("spi"), 255);
    expect_error({"--life", "soft-bytes="}, "spi: expected value after '=' in --life option.\n" + usage_text("spi"), 255);
    expect_error({"--life", "soft-bytes=1x00"},
                 "spi: Invalid character='x' at offset 12 in lifetime option parameter: 'soft-bytes=1x00', parameter "
                 "string is 15 characters long, 3 valid value characters found.\n");
    expect_error({"--life", "soft-bytes=1,soft-bytes=2"},
                 "spi: Error, lifetime parameter redefined:soft-bytes=2, already defined as:soft-bytes=1\n");
}

TEST_CASE("spi: KLIPS's algorithms are recognised and refused", "[ipsec][spi]") {
    const std::string esp = "use one of: chacha20-poly1305 | aes256gcm16 | null-hmac-sha2-256 | null-hmac-sha2-512\n";
    for (const char* name : {"3des-md5-96", "3des-sha1-96", "3des", "aes128-sha1", "aes-sha1-96"}) {
        expect_error({"--esp", name}, std::string("spi: algorithm '") + name +
                                          "' following '--esp' is a KLIPS algorithm that kmod-sim does not support; " +
                                          esp);
    }
    for (const char* name : {"hmac-md5-96", "hmac-sha1-96"}) {
        expect_error({"--ah", name}, std::string("spi: algorithm '") + name +
                                         "' following '--ah' is a KLIPS algorithm that kmod-sim does not support; "
                                         "use one of: hmac-sha2-256-128 | hmac-sha2-512-256\n");
    }
    expect_error({"--comp", "lzs"}, "spi: algorithm 'lzs' following '--comp' is a KLIPS algorithm that kmod-sim does "
                                    "not support; use one of: deflate\n");
}

TEST_CASE("spi: key forms, lengths, and no key in any message", "[ipsec][spi]") {
    const std::vector<std::string> ah{"--ah", "hmac-sha2-256-128", "--said", "ah.1000@1.2.3.4"};
    auto with = [](std::vector<std::string> v, std::initializer_list<std::string> more) {
        v.insert(v.end(), more);
        return v;
    };
    expect_error(with(ah, {"--authkey", "0qSECRET"}),
                 "spi: Authentication key must have a '0x', '0t' or '0s' prefix to select the format (--authkey: key "
                 "not shown).\n");
    expect_error(with(ah, {"--authkey", "0xSECRETSECRET"}),
                 "spi: unknown format or syntax error in authentication key (--authkey: unknown character in input; "
                 "key not shown).\n");
    expect_error(with(ah, {"--authkey", "SECRET"}),
                 "spi: unknown format or syntax error in authentication key (--authkey: input does not begin with "
                 "format prefix; key not shown).\n");
    expect_error(with(ah, {"--authkey", "0x123"}),
                 "spi: unknown format or syntax error in authentication key (--authkey: input ends in mid-byte, "
                 "perhaps truncated; key not shown).\n");
    expect_error(with(ah, {"--authkey", "0sSECRE"}),
                 "spi: unknown format or syntax error in authentication key (--authkey: input ends in mid-byte, "
                 "perhaps truncated; key not shown).\n");
    expect_error(with(ah, {"--authkey", "0tMySecretPassphrase"}),
                 "spi: authentication key for --ah hmac-sha2-256-128 must be 256 bits (32 bytes), got 144 bits (18 "
                 "bytes).\n");
    expect_error(ah, "spi: --ah hmac-sha2-256-128 needs --authkey <key>, authentication key 256 bits (32 bytes).\n");
    expect_error({"--ah", "hmac-sha2-512-256", "--said", "ah.1000@1.2.3.4", "--authkey", kKey256Hex},
                 "spi: authentication key for --ah hmac-sha2-512-256 must be 512 bits (64 bytes), got 256 bits (32 "
                 "bytes).\n");
    expect_error({"--esp", "chacha20-poly1305", "--said", "esp.1000@1.2.3.4", "--enckey", kKey256Hex},
                 "spi: encryption key for --esp chacha20-poly1305 must be 288 bits (36 bytes): a 256-bit key and a "
                 "32-bit salt, got 256 bits (32 bytes).\n");
    expect_error({"--esp", "aes256gcm16", "--said", "esp.1000@1.2.3.4"},
                 "spi: --esp aes256gcm16 needs --enckey <key>, encryption key 288 bits (36 bytes): a 256-bit key and "
                 "a 32-bit salt.\n");
    expect_error({"--esp", "chacha20-poly1305", "--said", "esp.1000@1.2.3.4", "--enckey", kAeadHex, "--authkey",
                  kKey256Hex},
                 "spi: --authkey is not used by --esp chacha20-poly1305 (an AEAD: its only key is --enckey).\n");
    expect_error({"--esp", "null-hmac-sha2-256", "--said", "esp.1000@1.2.3.4", "--authkey", kKey256Hex, "--enckey",
                  kAeadHex},
                 "spi: --enckey is not used by --esp null-hmac-sha2-256 (its only key is --authkey).\n");
    expect_error({"--esp", "null-hmac-sha2-512", "--said", "esp.1000@1.2.3.4", "--authkey", kKey256Hex},
                 "spi: authentication key for --esp null-hmac-sha2-512 must be 512 bits (64 bytes), got 256 bits (32 "
                 "bytes).\n");

    // Whatever goes wrong, the key's text is nowhere in the output.
    for (const std::string key : {"0qSECRETKEY", "0xSECRETKEY", "0tSECRETKEY", "0sSECRETKEY", "SECRETKEY"}) {
        for (const char* option : {"--authkey", "--enckey"}) {
            IpsecResult r = spi({"--esp", "chacha20-poly1305", "--said", "esp.1000@1.2.3.4", option, key});
            CHECK(r.status == 1);
            CHECK(r.out.find("SECRETKEY") == std::string::npos);
            CHECK(r.err.find("SECRETKEY") == std::string::npos);
        }
    }
}

TEST_CASE("spi: SA checks of our own", "[ipsec][spi]") {
    expect_error({"--ah", "hmac-sha2-256-128", "--said", "esp.1000@1.2.3.4", "--authkey", kKey256Hex},
                 "spi: SA esp.1000@1.2.3.4 does not fit --ah: it needs a ah SA.\n");
    expect_error({"--ip4", "--said", "tun.1000@1.2.3.4"},
                 "spi: --ip4 needs --src <encap-src>, the outer header's source address.\n");
    expect_error({"--ip4", "--said", "tun.1000@1.2.3.4", "--src", "1.2.3.5", "--dst", "1.2.3.6"},
                 "spi: --dst 1.2.3.6 differs from the destination of SA tun.1000@1.2.3.4: the outer header goes to "
                 "the SA's destination.\n");
    expect_error({"--ip4", "--said", "tun:1000@3049::1"},
                 "spi: Error, specified address family (2) is different that of SAID: tun:1000@3049::1\n");
    expect_error({"--said", "tun:1000@3049::1", "--ip4", "--src", "1.2.3.5"},
                 "spi: Defined address family and address family of SA missmatch.\n");
}

TEST_CASE("spi: end to end, every kind of SA, the listing, --del, --clear", "[ipsec][spi][e2e]") {
    DaemonInstance d("spi-e2e", {"--clock", "manual"});
    d.start_or_throw();
    const std::string dir = d.dir();
    const std::string g4 = "192.168.2.110", s4 = "192.168.2.100";
    auto ok = [&](std::vector<std::string> args) {
        IpsecResult r = spi(args, dir);
        INFO("ipsec spi " << args[0] << " " << (args.size() > 2 ? args[2] : ""));
        CHECK(r.err.empty());
        CHECK(r.out.empty());
        REQUIRE(r.status == 0);
    };
    ok({"--esp", "chacha20-poly1305", "--said", "esp.1001@" + g4, "--src", s4, "--replay_window", "32", "--life",
        "soft-bytes=500000", "--life", "hard-bytes=1000000", "--enckey", kAeadHex});
    ok({"--esp", "null-hmac-sha2-256", "--said", "esp.1003@" + g4, "--src", s4, "--replay_window", "16", "--life",
        "soft-addtime=3600,hard-addtime=7200", "--authkey", kKey256Hex});
    ok({"--esp", "null-hmac-sha2-512", "--said", "esp:1004@3049:1::2", "--src", "3049:1::1", "--replay_window", "64",
        "--authkey", kKey512Hex});
    ok({"--ah", "hmac-sha2-256-128", "--said", "ah.1005@" + g4, "--src", s4, "--life",
        "soft-allocations=10,hard-allocations=20,soft-packets=100,hard-packets=200", "--authkey", kKey256B64});
    ok({"--ah", "hmac-sha2-512-256", "--said", "ah.1006@" + g4, "--src", s4, "--authkey", kKey512Text});
    ok({"--comp", "deflate", "--said", "comp.1007@" + g4, "--src", s4});
    ok({"--ip4", "--said", "tun.1008@" + g4, "--src", s4, "--dst", g4});
    ok({"--ip6", "--said", "tun:1009@3049:1::2", "--src", "3049:1::1", "--dst", "3049:1::2"});
    ok({"--ah", "hmac-sha2-256-128", "--af", "inet", "--edst", g4, "--spi", "0x100a", "--proto", "ah", "--src", s4,
        "--replay_window", "8", "--authkey", kKey256Hex});
    ok({"--esp", "chacha20-poly1305", "--said", "esp.100b@127.0.0.1", "--src", "127.0.0.2", "--enckey", kAeadB64});

    {
        PfkeyClient c(d.pfkey_path());
        REQUIRE(clock_op(c, pf::kClockAdvance, 30) == 30);
    }
    // §4.1 seed layout, in SADB hash order (§7.1; buckets 11, 33, 62, 181, 185, 230, 234,
    // 235, 236, 238), every SA added at clock 0 and listed at 30.
    const std::string listing =
        "tun:1009@3049:1::2 IPIP: dir=out src=3049:1::1 life(c,s,h)=add(30,0,0)\n"
        "comp.1007@192.168.2.110 COMP_DEFLATE: dir=out src=192.168.2.100 life(c,s,h)=add(30,0,0)\n"
        "esp:1004@3049:1::2 ESP_NULL_HMAC_SHA2_512: dir=out src=3049:1::1 ooowin=64 alen=256 aklen=512 "
        "life(c,s,h)=add(30,0,0)\n"
        "esp.100b@127.0.0.1 ESP_CHACHA20_POLY1305: dir=in src=127.0.0.2 alen=128 eklen=288 life(c,s,h)=add(30,0,0)\n"
        "tun.1008@192.168.2.110 IPIP: dir=out src=192.168.2.100 life(c,s,h)=add(30,0,0)\n"
        "ah.100a@192.168.2.110 AH_HMAC_SHA2_256: dir=out src=192.168.2.100 ooowin=8 alen=128 aklen=256 "
        "life(c,s,h)=add(30,0,0)\n"
        "ah.1006@192.168.2.110 AH_HMAC_SHA2_512: dir=out src=192.168.2.100 alen=256 aklen=512 "
        "life(c,s,h)=add(30,0,0)\n"
        "ah.1005@192.168.2.110 AH_HMAC_SHA2_256: dir=out src=192.168.2.100 alen=128 aklen=256 "
        "life(c,s,h)=alloc(0,10,20)add(30,0,0)packets(0,100,200)\n"
        "esp.1003@192.168.2.110 ESP_NULL_HMAC_SHA2_256: dir=out src=192.168.2.100 ooowin=16 alen=128 aklen=256 "
        "life(c,s,h)=add(30,3600,7200)\n"
        "esp.1001@192.168.2.110 ESP_CHACHA20_POLY1305: dir=out src=192.168.2.100 ooowin=32 alen=128 eklen=288 "
        "life(c,s,h)=bytes(0,500000,1000000)add(30,0,0)\n";
    CHECK(read_view_file(d.view("net/ipsec_spi")) == listing);
    IpsecResult bare = spi({}, dir);
    CHECK(bare.out == listing);
    CHECK(bare.status == 0);

    // kernel errors (§8.2): the same SA again, a missing one deleted
    expect_error({"--comp", "deflate", "--said", "comp.1007@" + g4, "--src", s4},
                 "spi: pfkey write failed (errno=17): SA already in use.  Delete old one first.\n", 1, dir);
    expect_error({"--del", "--said", "esp.9999@" + g4},
                 "spi: pfkey write failed (errno=3): SA does not exist.  Cannot delete.\n", 1, dir);

    ok({"--del", "--said", "tun:1009@3049:1::2"});
    ok({"--del", "--af", "inet", "--edst", g4, "--spi", "0x1001", "--proto", "esp"});
    std::string rest = listing;
    for (const char* gone : {"tun:1009@", "esp.1001@"}) {
        const size_t at = rest.find(gone);
        REQUIRE(at != std::string::npos);
        rest.erase(at, rest.find('\n', at) + 1 - at);
    }
    CHECK(read_view_file(d.view("net/ipsec_spi")) == rest);

    IpsecResult listen = spi({"--clear", "--listenreply"}, dir);
    CHECK(listen.out == "spi: exited normally\n");
    CHECK(listen.status == 0);
    CHECK(read_view_file(d.view("net/ipsec_spi")).empty());
    CHECK(describe_status(d.stop()) == "exit 0");
}

TEST_CASE("spi: aes256gcm16 where the CPU has AES-NI, a clear refusal where not", "[ipsec][spi][e2e]") {
    DaemonInstance d("spi-aesgcm", {"--clock", "manual"});
    d.start_or_throw();
    const std::vector<std::string> add{"--esp", "aes256gcm16", "--said", "esp.2001@192.168.2.110", "--src",
                                       "192.168.2.100", "--enckey", kAeadHex};
    if (cpu_has_aes()) {
        IpsecResult r = spi(add, d.dir());
        CHECK(r.err.empty());
        CHECK(r.status == 0);
        CHECK(read_view_file(d.view("net/ipsec_spi")) ==
              "esp.2001@192.168.2.110 ESP_AES_GCM_16: dir=out src=192.168.2.100 alen=128 eklen=288 life(c,s,h)=\n");
    } else {
        expect_error(add,
                     "spi: pfkey write failed (errno=22): Invalid argument, check kernel log messages for specifics.\n"
                     "spi: aes256gcm16 needs a CPU with AES-NI, which this machine does not offer to kmod-sim; use "
                     "chacha20-poly1305 instead.\n", 1, d.dir());
    }
    CHECK(describe_status(d.stop()) == "exit 0");
}

TEST_CASE("spi: --esn is refused except with --esp and --ah", "[ipsec][spi][esn]") {
    const std::string refused = "spi: --esn is only for --esp and --ah SAs: ";
    expect_error({"--comp", "deflate", "--said", "comp.1007@1.2.3.4", "--src", "1.2.3.5", "--esn"},
                 refused + "--comp has no sequence number to extend.\n");
    expect_error({"--esn", "--ip4", "--said", "tun.1008@1.2.3.4", "--src", "1.2.3.5", "--dst", "1.2.3.4"},
                 refused + "--ip4 has no sequence number to extend.\n");
    expect_error({"--ip6", "--said", "tun:1009@3049:1::2", "--src", "3049:1::1", "--esn"},
                 refused + "--ip6 has no sequence number to extend.\n");
    expect_error({"--del", "--said", "esp.1001@1.2.3.4", "--esn"}, refused + "--del adds no SA.\n");
    expect_error({"--clear", "--esn"}, refused + "--clear adds no SA.\n");
    expect_error({"--esn", "--said", "esp.1001@1.2.3.4"}, "spi: No action chosen.  See 'spi --help' for usage.\n");
    expect_error({"--esn=1"}, "spi: option '--esn' doesn't allow an argument\n" + usage_text("spi"), 255);
    // The receiver works out the high half from its window: no window, no ESN.
    expect_error({"--esp", "chacha20-poly1305", "--esn", "--said", "esp.1001@1.2.3.4", "--src", "1.2.3.5", "--enckey",
                  kAeadHex},
                 "spi: --esn needs --replay_window: the high half of an extended sequence number is worked out "
                 "from the window.\n");
}

TEST_CASE("spi: --esn adds ESP and AH SAs with the ESN flag, shown as flags=0x10000<>", "[ipsec][spi][e2e][esn]") {
    DaemonInstance d("spi-esn", {"--clock", "manual"});
    d.start_or_throw();
    const std::string dir = d.dir();
    auto ok = [&](std::vector<std::string> args) {
        IpsecResult r = spi(args, dir);
        INFO("ipsec spi " << args[0] << " " << args[1]);
        CHECK(r.err.empty());
        CHECK(r.out.empty());
        REQUIRE(r.status == 0);
    };
    // --esn anywhere among the options, before or after the action.
    ok({"--esp", "chacha20-poly1305", "--esn", "--said", "esp.1001@192.168.2.110", "--src", "192.168.2.100",
        "--replay_window", "32", "--enckey", kAeadHex});
    ok({"--esp", "null-hmac-sha2-256", "--said", "esp.1003@192.168.2.110", "--src", "192.168.2.100",
        "--replay_window", "16", "--authkey", kKey256Hex, "--esn"});
    ok({"--esn", "--ah", "hmac-sha2-256-128", "--said", "ah.1005@192.168.2.110", "--src", "192.168.2.100",
        "--replay_window", "64", "--authkey", kKey256Hex});
    ok({"--ah", "hmac-sha2-512-256", "--said", "ah.1006@192.168.2.110", "--src", "192.168.2.100", "--authkey",
        kKey512Text});  // without --esn: no flags field
    // Same order as the e2e listing above (SADB hash order); the SA flag prints as KLIPS
    // printed any sa_flags bit beyond PFS: the hex value and an empty name list.
    const std::string listing =
        "ah.1006@192.168.2.110 AH_HMAC_SHA2_512: dir=out src=192.168.2.100 alen=256 aklen=512 life(c,s,h)=\n"
        "ah.1005@192.168.2.110 AH_HMAC_SHA2_256: dir=out src=192.168.2.100 ooowin=64 flags=0x10000<> alen=128 "
        "aklen=256 life(c,s,h)=\n"
        "esp.1003@192.168.2.110 ESP_NULL_HMAC_SHA2_256: dir=out src=192.168.2.100 ooowin=16 flags=0x10000<> "
        "alen=128 aklen=256 life(c,s,h)=\n"
        "esp.1001@192.168.2.110 ESP_CHACHA20_POLY1305: dir=out src=192.168.2.100 ooowin=32 flags=0x10000<> "
        "alen=128 eklen=288 life(c,s,h)=\n";
    CHECK(read_view_file(d.view("net/ipsec_spi")) == listing);
    CHECK(describe_status(d.stop()) == "exit 0");
}
