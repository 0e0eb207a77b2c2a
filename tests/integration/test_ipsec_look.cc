// `ipsec look`: FreeS/WAN's one-screen summary. Its shape: a line with the host name and the
// date, then ipsec_eroute sorted by flow, ipsec_spigrp, ipsec_spi sorted, ipsec_tncfg, as the
// instance's view shows them.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cctype>
#include <sstream>

#include "daemon_instance.h"
#include "ipsec_runner.h"
#include "pfkey_test_client.h"

using namespace it;

namespace {

bool all_of_class(const std::string& s, int (*is)(int)) {
    return !s.empty() && std::all_of(s.begin(), s.end(), [is](char c) { return is(static_cast<unsigned char>(c)) != 0; });
}

// "Www Mmm dd hh:mm:ss ZONE yyyy", as date(1) prints by default.
bool is_date_line(const std::string& text) {
    std::string day_padded = text;
    const size_t at = day_padded.find("  ");  // "Nov  7": the padding of a one-digit day
    if (at != std::string::npos) day_padded.erase(at, 1);
    std::istringstream in(day_padded);
    std::string weekday, month, day, time, zone, year, extra;
    if (!(in >> weekday >> month >> day >> time >> zone >> year) || (in >> extra)) return false;
    auto word3 = [](const std::string& w) { return w.size() == 3 && std::isupper(static_cast<unsigned char>(w[0])) && all_of_class(w.substr(1), ::islower); };
    return word3(weekday) && word3(month) && day.size() <= 2 && all_of_class(day, ::isdigit) &&
           time.size() == 8 && time[2] == ':' && time[5] == ':' && all_of_class(time.substr(0, 2) + time.substr(3, 2) + time.substr(6, 2), ::isdigit) &&
           year.size() == 4 && all_of_class(year, ::isdigit);
}


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
    // `date`'s default form: "Fri Nov 27 21:45:28 UTC 2026" (a day below 10 is padded with a space).
    const std::string prefix = std::string(host) + " ";
    REQUIRE(out[0].rfind(prefix, 0) == 0);
    CHECK(is_date_line(out[0].substr(prefix.size())));

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
