// `ipsec batch` (kmod_sim/userland/batch.h): lines from a file or stdin over one connection;
// comments, quotes and an optional leading "ipsec"; the first failure stops the batch with its
// line number (the lines before it took effect), --force goes on and counts.
#include <catch2/catch.hpp>

#include <fstream>

#include "daemon_instance.h"
#include "ipsec_runner.h"

using namespace it;

namespace {

std::string eroutes(DaemonInstance& d) { return slurp(d.view("net/ipsec_eroute")); }

}  // namespace

TEST_CASE("ipsec batch: good lines from stdin, with comments, quotes and a listing", "[batch]") {
    DaemonInstance d("batch-good");
    d.start_or_throw();
    const std::string input =
        "# a comment\n"
        "\n"
        "   eroute --add --eraf inet --src 10.1.0.0/16 --dst 10.2.0.0/16 --said %pass\n"
        "ipsec eroute --add --eraf inet --src '10.3.0.0/16' --dst \"10.4.0.0/16\" --said %drop  # trailing\n"
        "eroute\n"
        "eroute --del --eraf inet --src 10.1.0.0/16 --dst 10.2.0.0/16\n";
    IpsecResult r = run_ipsec({"batch"}, d.dir(), input);
    CHECK(r.err == "");
    CHECK(r.status == 0);
    // The bare `eroute` on line 5 waited for lines 3 and 4 and shows them.
    CHECK(r.out == "0 10.1.0.0/16:0 -> 10.2.0.0/16:0 => %pass\n"
                   "0 10.3.0.0/16:0 -> 10.4.0.0/16:0 => %drop\n");
    CHECK(eroutes(d) == "0 10.3.0.0/16:0 -> 10.4.0.0/16:0 => %drop\n");
}

TEST_CASE("ipsec batch: a line that does not parse stops it there", "[batch]") {
    DaemonInstance d("batch-parse");
    d.start_or_throw();
    const std::string input =
        "eroute --add --eraf inet --src 10.1.0.0/16 --dst 10.2.0.0/16 --said %pass\n"
        "eroute --add --eraf inet --src 10.3.0.0/16 --said %pass\n";
    IpsecResult r = run_ipsec({"batch", "-"}, d.dir(), input);
    CHECK(r.status == 1);
    CHECK(r.out == "");
    CHECK(r.err == "eroute: Error -- add option '--dst' is required.\n"
                   "ipsec batch: stdin:2: stopped here; the lines before it were sent\n");
    CHECK(eroutes(d) == "0 10.1.0.0/16:0 -> 10.2.0.0/16:0 => %pass\n");

    for (const auto& [line, message] : std::vector<std::pair<std::string, std::string>>{
             {"frobnicate --now\n", "ipsec batch: stdin:1: unknown command 'frobnicate'\n"},
             {"batch x\n", "ipsec batch: stdin:1: a batch cannot run 'batch'\n"},
             {"eroute --add 'unterminated\n", "ipsec batch: stdin:1: unterminated quote\n"}}) {
        IpsecResult bad = run_ipsec({"batch"}, d.dir(), line + "eroute --clear\n");
        CHECK(bad.status == 1);
        CHECK(bad.err == message + "ipsec batch: stdin:1: stopped here; the lines before it were sent\n");
        CHECK(eroutes(d) == "0 10.1.0.0/16:0 -> 10.2.0.0/16:0 => %pass\n");  // line 2 never ran
    }
}

TEST_CASE("ipsec batch: the first kernel error stops it with its line; --force goes on", "[batch]") {
    DaemonInstance d("batch-kernel");
    d.start_or_throw();
    const std::string path = d.dir() + "/lines";
    {
        std::ofstream f(path);
        f << "eroute --add --eraf inet --src 10.1.0.0/16 --dst 10.2.0.0/16 --said %pass\n"
             "# the same again: EEXIST\n"
             "eroute --add --eraf inet --src 10.1.0.0/16 --dst 10.2.0.0/16 --said %drop\n"
             "eroute --add --eraf inet --src 10.5.0.0/16 --dst 10.6.0.0/16 --said %drop\n";
    }
    IpsecResult r = run_ipsec({"batch", path}, d.dir());
    CHECK(r.status == 1);
    CHECK(r.err == "eroute: pfkey write failed, returning -1 with errno=17.\n"
                   "eroute already in use.  Delete old one first.\n"
                   "ipsec batch: stopped at line 3\n");
    // Line 4 was already on its way (pipelined) and took effect, as batch.h says.
    CHECK(eroutes(d) == "0 10.1.0.0/16:0 -> 10.2.0.0/16:0 => %pass\n"
                        "0 10.5.0.0/16:0 -> 10.6.0.0/16:0 => %drop\n");

    IpsecResult forced = run_ipsec({"batch", "--force", path}, d.dir());
    CHECK(forced.status == 1);
    CHECK(forced.err == "eroute: pfkey write failed, returning -1 with errno=17.\n"
                        "eroute already in use.  Delete old one first.\n"
                        "ipsec batch: line 1 failed\n"
                        "eroute: pfkey write failed, returning -1 with errno=17.\n"
                        "eroute already in use.  Delete old one first.\n"
                        "ipsec batch: line 3 failed\n"
                        "eroute: pfkey write failed, returning -1 with errno=17.\n"
                        "eroute already in use.  Delete old one first.\n"
                        "ipsec batch: line 4 failed\n"
                        "ipsec batch: 3 of 3 lines failed\n");
}

TEST_CASE("ipsec batch: usage, a missing file, no instance", "[batch]") {
    IpsecResult help = run_ipsec({"batch", "--help"}, "/nonexistent");
    CHECK(help.status == 0);
    CHECK(help.out.rfind("usage: ipsec batch [--force] [FILE]\n", 0) == 0);
    IpsecResult two = run_ipsec({"batch", "a", "b"}, "/nonexistent");
    CHECK(two.status == 1);
    CHECK(two.err.rfind("usage: ipsec batch [--force] [FILE]\n", 0) == 0);
    IpsecResult gone = run_ipsec({"batch", "/dev/null"}, "/tmp/kmod-sim-it/no-such-instance");
    CHECK(gone.status == 1);
    CHECK(gone.err == "batch: cannot reach kmod-sim: No such file or directory (is it running? its run "
                      "directory is /tmp/kmod-sim-it/no-such-instance)\n");

    DaemonInstance d("batch-missing");
    d.start_or_throw();
    IpsecResult missing = run_ipsec({"batch", d.dir() + "/nope"}, d.dir());
    CHECK(missing.status == 1);
    CHECK(missing.err == "ipsec batch: cannot read " + d.dir() + "/nope: No such file or directory\n");
}
