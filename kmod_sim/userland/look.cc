// `ipsec look`: FreeS/WAN's one-screen summary of the IPsec state: a line with the host name
// and the date, then ipsec_eroute sorted by source, ipsec_spigrp, ipsec_spi sorted and
// ipsec_tncfg, all read from the instance's view. (FreeS/WAN's look also showed the routing
// table's ipsecN routes; kmod-sim has no such routes, so that part is left out.)
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "command.h"

namespace kmod_sim::userland {

namespace {

std::optional<std::vector<std::string>> read_lines(const Invocation& invocation, std::string_view relative) {
    if (invocation.instance.dir.empty()) return std::nullopt;
    std::ifstream in(invocation.instance.proc_file(relative));
    if (!in) return std::nullopt;
    std::vector<std::string> lines;
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    return lines;
}

// `sort -k2`: eroute lines by what follows the packet count (the source, then the rest).
bool by_flow(const std::string& a, const std::string& b) {
    auto rest = [](const std::string& s) {
        auto space = s.find(' ');
        return space == std::string::npos ? std::string_view(s) : std::string_view(s).substr(space + 1);
    };
    return rest(a) < rest(b);
}

std::string host_and_date() {
    char host[256] = "";
    gethostname(host, sizeof host - 1);
    char date[128] = "";
    const std::time_t now = std::time(nullptr);
    std::tm local{};
    localtime_r(&now, &local);
    std::strftime(date, sizeof date, "%a %b %e %H:%M:%S %Z %Y", &local);  // date(1)'s default
    return std::string(host) + " " + date;
}

int look(const Invocation& invocation) {
    struct Part {
        std::string_view file;
        std::string_view what;
        bool sorted;
    };
    static constexpr Part kParts[] = {
        {"net/ipsec_eroute", "eroute table", true},
        {"net/ipsec_spigrp", "SA group table", false},
        {"net/ipsec_spi", "SA table", true},
        {"net/ipsec_tncfg", "tncfg table", false},
    };
    std::string out = host_and_date() + "\n";
    for (const Part& part : kParts) {
        auto lines = read_lines(invocation, part.file);
        if (!lines) {
            std::fprintf(stderr, "%s: No %.*s - no IPsec support in kernel (are the modules loaded?)\n",
                         invocation.name.c_str(), static_cast<int>(part.what.size()), part.what.data());
            return 1;
        }
        if (part.sorted) {
            if (part.file == "net/ipsec_eroute") std::stable_sort(lines->begin(), lines->end(), by_flow);
            else std::sort(lines->begin(), lines->end());
        }
        for (const std::string& line : *lines) out += line + "\n";
    }
    std::fputs(out.c_str(), stdout);
    std::fflush(stdout);
    return 0;
}

}  // namespace

Plan look_command(const Invocation& invocation) {
    if (invocation.args.size() == 1 && invocation.args[0] == "--help") {
        std::printf("usage: %s\n", invocation.name.c_str());
        return Plan::exit(0);
    }
    if (!invocation.args.empty()) {
        std::fprintf(stderr, "usage: %s\n", invocation.name.c_str());
        return Plan::exit(1);
    }
    Plan plan;
    plan.local = [invocation](PfkeyConnection*) { return look(invocation); };
    return plan;
}

}  // namespace kmod_sim::userland
