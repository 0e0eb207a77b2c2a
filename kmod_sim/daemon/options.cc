#include "options.h"

#include <getopt.h>

#include "kmod_sim/lib/instance_dir.h"
#include "kmod_sim_version.h"

namespace kmod_sim::daemon {

namespace {

constexpr const char* kUsage =
    "usage: kmod-sim [--run-dir DIR] [--mount MNT] [--format seed|openswan]\n"
    "                [--clock real|manual] [--devices real|model] [--foreground | --daemon]\n"
    "       kmod-sim --help | --version\n"
    "\n"
    "Runs the emulated KLIPS module: serves PF_KEY v2 on DIR/pfkey and mounts its /proc files\n"
    "(net/ipsec_eroute, net/ipsec_spi, ...) read-only on DIR/proc.\n"
    "\n"
    "  --run-dir DIR    the instance's directory (default: $KMOD_SIM_DIR, else /run/kmod-sim\n"
    "                   as root, else $XDG_RUNTIME_DIR/kmod-sim); holds pfkey, proc and\n"
    "                   kmod-sim.pid\n"
    "  --mount MNT      mount the /proc view on MNT instead of DIR/proc\n"
    "  --format F       seed (default): the listings of the FreeS/WAN man pages;\n"
    "                   openswan: byte-exact Openswan 2.6 kernel output\n"
    "  --clock C        real (default): seconds since boot; manual: starts at 0 and moves\n"
    "                   only by PF_KEY X_CLOCK messages (for tests)\n"
    "  --devices D      real (default): `ipsec tncfg --attach` makes ipsecN a TUN device in\n"
    "                   this network namespace and opens raw sockets on the physical device,\n"
    "                   so routed traffic really passes the eroutes and SAs (needs\n"
    "                   CAP_NET_ADMIN and CAP_NET_RAW); model: ipsecN exist in the tables only\n"
    "  --foreground     stay in the foreground until SIGINT/SIGTERM (the default)\n"
    "  --daemon         return once the view is mounted and the socket listens, leaving the\n"
    "                   instance running in the background (its pid in DIR/kmod-sim.pid)\n"
    "  --help           print this text\n"
    "  --version        print the version\n";

Exit mistake(const std::string& what) {
    return Exit{"kmod-sim: " + what + "\nTry 'kmod-sim --help' for more information.\n", 1};
}

}  // namespace

std::variant<Options, Exit> parse_options(int argc, char** argv) {
    enum { kRunDir = 1, kMount, kFormat, kClock, kDevices, kForeground, kDaemon, kHelp, kVersion };
    static const option kLong[] = {
        {"run-dir", required_argument, nullptr, kRunDir},
        {"mount", required_argument, nullptr, kMount},
        {"format", required_argument, nullptr, kFormat},
        {"clock", required_argument, nullptr, kClock},
        {"devices", required_argument, nullptr, kDevices},
        {"foreground", no_argument, nullptr, kForeground},
        {"daemon", no_argument, nullptr, kDaemon},
        {"help", no_argument, nullptr, kHelp},
        {"version", no_argument, nullptr, kVersion},
        {nullptr, 0, nullptr, 0},
    };
    Options options;
    std::string run_dir, mount;
    opterr = 0;  // our own messages
    optind = 1;
    for (;;) {
        int index = 0;
        const int c = getopt_long(argc, argv, ":", kLong, &index);
        if (c == -1) break;
        const std::string arg = optarg ? optarg : "";
        switch (c) {
        case kRunDir: run_dir = arg; break;
        case kMount: mount = arg; break;
        case kFormat:
            if (arg == "seed") options.profile = OutputProfile::seed;
            else if (arg == "openswan") options.profile = OutputProfile::openswan;
            else return mistake("unknown --format '" + arg + "' (seed or openswan)");
            break;
        case kClock:
            if (arg == "real") options.manual_clock = false;
            else if (arg == "manual") options.manual_clock = true;
            else return mistake("unknown --clock '" + arg + "' (real or manual)");
            break;
        case kDevices:
            if (arg == "real") options.real_devices = true;
            else if (arg == "model") options.real_devices = false;
            else return mistake("unknown --devices '" + arg + "' (real or model)");
            break;
        case kForeground: options.daemonize = false; break;
        case kDaemon: options.daemonize = true; break;
        case kHelp: return Exit{kUsage, 0};
        case kVersion: return Exit{std::string("kmod-sim ") + KMOD_SIM_VERSION + "\n", 0};
        case ':': return mistake(std::string("option '") + argv[optind - 1] + "' needs a value");
        default: return mistake(std::string("unknown option '") + argv[optind - 1] + "'");
        }
    }
    if (optind < argc) return mistake(std::string("unexpected argument '") + argv[optind] + "'");
    if (run_dir.empty()) {
        auto dir = default_instance_dir();
        if (!dir) return mistake("no run directory: give --run-dir, or set KMOD_SIM_DIR or XDG_RUNTIME_DIR");
        run_dir = *dir;
    }
    while (run_dir.size() > 1 && run_dir.back() == '/') run_dir.pop_back();
    options.run_dir = run_dir;
    options.mountpoint = mount.empty() ? run_dir + "/proc" : mount;
    return options;
}

}  // namespace kmod_sim::daemon
