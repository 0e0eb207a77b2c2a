// `ipsec klipsdebug` (spec/klips.md §8.5, A.4): set and clear KLIPS's debug switches with
// SADB_X_DEBUG. The kernel ORs the words in when the top bit of the netlink word is set and
// ANDs them otherwise, so --set sends the switch's bits in OR mode and --clear sends all ones
// but the switch's bits in AND mode (the same words as kmod_sim/module/klipsdebug.h, kept here
// because the userland depends on kmod_sim/lib only).
#include <getopt.h>

#include <array>
#include <cstdio>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

#include "command.h"
#include "kmod_sim_version.h"
#include "proc_file.h"

namespace kmod_sim::userland {

namespace {

using Word = pfkey::XDebugExt::Word;
using Words = std::array<uint32_t, 12>;
constexpr uint32_t kOrMode = 0x80000000;

struct Switch {
    std::string_view name;
    Word word;
    uint32_t bits;
};

// The names KLIPS's parser took: `comp`, although the usage text says `ipcomp`.
constexpr Switch kSwitches[] = {
    {"tunnel", pfkey::XDebugExt::tunnel, 0xffffffff}, {"tunnel-xmit", pfkey::XDebugExt::tunnel, 0x10},
    {"netlink", pfkey::XDebugExt::netlink, 0xffffffff}, {"xform", pfkey::XDebugExt::xform, 0xffffffff},
    {"eroute", pfkey::XDebugExt::eroute, 0xffffffff},   {"spi", pfkey::XDebugExt::spi, 0xffffffff},
    {"radij", pfkey::XDebugExt::radij, 0xffffffff},     {"esp", pfkey::XDebugExt::esp, 0xffffffff},
    {"ah", pfkey::XDebugExt::ah, 0xffffffff},           {"rcv", pfkey::XDebugExt::rcv, 0xffffffff},
    {"pfkey", pfkey::XDebugExt::pfkey, 0xffffffff},     {"comp", pfkey::XDebugExt::ipcomp, 0xffffffff},
    {"verbose", pfkey::XDebugExt::verbose, 0xffffffff},
};

std::optional<Switch> parse_switch(std::string_view name) {
    for (const Switch& s : kSwitches)
        if (s.name == name) return s;
    return std::nullopt;
}

Words set_words(const Switch& s) {
    Words w{};
    w[s.word] = s.bits;
    w[pfkey::XDebugExt::netlink] |= kOrMode;
    return w;
}

Words clear_words(const Switch& s) {
    Words w;
    w.fill(0xffffffff);
    w[pfkey::XDebugExt::netlink] &= ~kOrMode;
    w[s.word] &= ~s.bits;
    return w;
}

Words all_words() {  // OR mode (netlink's top bit is among the ones), verbose left alone
    Words w;
    w.fill(0xffffffff);
    w[pfkey::XDebugExt::verbose] = 0;
    return w;
}

void klipsdebug_usage(const std::string& prog) {
    const char* p = prog.c_str();
    std::printf("usage: %s {--set|--clear} {tunnel|tunnel-xmit|netlink|xform|eroute|spi|radij|esp|ah|rcv|pfkey|ipcomp|verbose}\n"
                "       %s {--all|--none}\n"
                "       %s --help\n"
                "       %s --version\n"
                "       %s\n"
                "        [ --debug ] is optional to any %s command\n"
                "        [ --label <label> ] is optional to any %s command.\n",
                p, p, p, p, p, p, p);
}

}  // namespace

Plan klipsdebug_command(const Invocation& invocation) {
    static const option kOptions[] = {
        {"set", required_argument, nullptr, 's'}, {"clear", required_argument, nullptr, 'c'},
        {"all", no_argument, nullptr, 'a'},       {"none", no_argument, nullptr, 'n'},
        {"help", no_argument, nullptr, 'h'},      {"version", no_argument, nullptr, 'v'},
        {"label", required_argument, nullptr, 'l'}, {"debug", no_argument, nullptr, 'd'},
        {nullptr, 0, nullptr, 0},
    };
    std::vector<char*> argv = invocation.argv();
    const int argc = static_cast<int>(argv.size()) - 1;
    int argcount = argc;
    std::string prog = invocation.name;
    std::optional<Words> words;

    optind = 0;
    opterr = 1;
    for (int c; (c = getopt_long(argc, argv.data(), "", kOptions, nullptr)) != -1;) {
        switch (c) {
        case 's':
        case 'c':
        case 'a':
        case 'n':
            if (words) {
                std::fprintf(stderr, "%s: Only one of '--set', '--clear', '--all' or '--none' options permitted.\n",
                             prog.c_str());
                return Plan::exit(1);
            }
            if (c == 'a') {
                words = all_words();
            } else if (c == 'n') {
                words = Words{};
            } else {
                auto s = parse_switch(optarg);
                if (!s) {
                    klipsdebug_usage(prog);
                    return Plan::exit(1);
                }
                words = c == 's' ? set_words(*s) : clear_words(*s);
            }
            break;
        case 'v':
            std::printf("%s (Linux FreeS/WAN %s) kmod-sim\nSee `ipsec --copyright' for copyright information.\n",
                        invocation.name.c_str(), KMOD_SIM_VERSION);
            return Plan::exit(0);
        case 'l':
            prog = invocation.name + " --label " + optarg;
            argcount -= 2;
            break;
        case 'd':
            --argcount;
            break;
        case 'h':
        default:
            klipsdebug_usage(prog);
            return Plan::exit(1);
        }
    }
    if (argcount == 1) {
        Plan plan;
        plan.local = [invocation](PfkeyConnection*) {
            return print_proc_file(invocation, "net/ipsec_klipsdebug", "klipsdebug");
        };
        return plan;
    }
    if (!words) {  // arguments, but no action among them
        klipsdebug_usage(prog);
        return Plan::exit(1);
    }
    Request request;
    request.message.type = pfkey::kXDebug;
    request.message.x_debug = pfkey::XDebugExt{*words};
    request.on_answer = [prog](const pfkey::Message& answer) {
        if (answer.errno_value == 0) return 0;
        std::fprintf(stderr, "%s: pfkey write failed, returning -1 with errno=%d (%s).\n", prog.c_str(),
                     int{answer.errno_value}, std::strerror(answer.errno_value));
        return 1;
    };
    Plan plan;
    plan.requests.push_back(std::move(request));
    return plan;
}

}  // namespace kmod_sim::userland
