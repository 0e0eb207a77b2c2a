// `ipsec look`: FreeS/WAN's one-screen summary. Its shape: a line with the host name and the
// date, then ipsec_eroute sorted by flow, ipsec_spigrp, ipsec_spi sorted, ipsec_tncfg, as the
// instance's view shows them.
#include <catch2/catch.hpp>

#include <algorithm>
#include <regex>
#include <sstream>

#include "daemon_instance.h"
#include "ipsec_runner.h"
#include "pfkey_test_client.h"

using namespace it;

namespace {

std::vector<std::string> lines_of(const std::string& text) {
    std::vector<std::string> lines;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    return lines;
}

std::string joined(const std::vector<std::string>& lines) {
    std::string out;
    for (const auto& l : lines) out += l + "\n";
    return out;
}

std::string after_count(const std::string& eroute_line) { return eroute_line.substr(eroute_line.find(' ') + 1); }

}  // namespace

TEST_CASE("look: usage, and no instance", "[ipsec][look]") {
    IpsecResult help = run_ipsec({"look", "--help"}, "/nonexistent");
    CHECK(help.status == 0);
    CHECK(help.out == "usage: look\n");
    IpsecResult extra = run_ipsec({"look", "now"}, "/nonexistent");
    CHECK(extra.status == 1);
    CHECK(extra.err == "usage: look\n");
    IpsecResult none = run_ipsec({"look"}, "/nonexistent");
    CHECK(none.status == 1);
    CHECK(none.out.empty());
    CHECK(none.err == "look: No eroute table - no IPsec support in kernel (are the modules loaded?)\n");
}

TEST_CASE("look: host and date, then the tables", "[ipsec][look]") {
    DaemonInstance d("look-e2e", {"--clock", "manual"});
    d.start_or_throw();
    {
        PfkeyClient c(d.pfkey_path());
        // Added out of order, so that sorting shows.
        for (const char* src : {"10.9.0.0", "10.1.0.0", "10.5.0.0"})
            REQUIRE(c.errno_of(addflow({src, 16, "10.200.0.0", 16}, {kIpip, 0x200, "192.0.2.7"})) == 0);
        REQUIRE(c.errno_of(add_sa(ipip(0x200, "192.0.2.7", "192.0.2.1"))) == 0);
        REQUIRE(c.errno_of(add_sa(esp_chacha(0x300, "192.0.2.7", "192.0.2.1"))) == 0);
        REQUIRE(c.errno_of(add_sa(esp_chacha(0x100, "192.0.2.9", "192.0.2.1"))) == 0);
        REQUIRE(c.errno_of(grpsa({kIpip, 0x200, "192.0.2.7"}, {kEsp, 0x300, "192.0.2.7"})) == 0);
    }
    IpsecResult r = run_ipsec({"look"}, d.dir());
    REQUIRE(r.status == 0);
    CHECK(r.err.empty());

    char host[256] = "";
    gethostname(host, sizeof host - 1);
    auto out = lines_of(r.out);
    REQUIRE(!out.empty());
    // `date`'s default form: "Fri Nov 27 21:45:28 UTC 2026".
    const std::regex first(std::string(host) + R"( [A-Z][a-z]{2} [A-Z][a-z]{2} [ 123][0-9] \d\d:\d\d:\d\d \S+ \d{4})");
    CHECK(std::regex_match(out[0], first));

    auto eroute = lines_of(slurp(d.view("net/ipsec_eroute")));
    auto spigrp = lines_of(slurp(d.view("net/ipsec_spigrp")));
    auto spi = lines_of(slurp(d.view("net/ipsec_spi")));
    auto tncfg = lines_of(slurp(d.view("net/ipsec_tncfg")));
    REQUIRE(eroute.size() == 3);
    REQUIRE(!spigrp.empty());
    REQUIRE(spi.size() == 3);
    REQUIRE(tncfg.size() == 4);
    std::stable_sort(eroute.begin(), eroute.end(),
                     [](const std::string& a, const std::string& b) { return after_count(a) < after_count(b); });
    std::sort(spi.begin(), spi.end());
    CHECK(eroute[0].find("10.1.0.0/16") != std::string::npos);
    CHECK(eroute[2].find("10.9.0.0/16") != std::string::npos);

    std::vector<std::string> expected{out[0]};
    for (const auto* part : {&eroute, &spigrp, &spi, &tncfg}) expected.insert(expected.end(), part->begin(), part->end());
    CHECK(r.out == joined(expected));
    CHECK(describe_status(d.stop()) == "exit 0");
}
