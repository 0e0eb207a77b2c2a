// ipsec: the KLIPS userland's commands in one program (spec/klips.md §8):
//   ipsec <command> [arguments]      ipsec --help      ipsec --version
// The instance is $KMOD_SIM_DIR's, or the kmod-sim default (kmod_sim/lib/instance_dir.h).
#include <csignal>
#include <cstdio>
#include <cstring>
#include <string>

#include "command.h"
#include "kmod_sim_version.h"
#include "run_plan.h"

using namespace kmod_sim::userland;

namespace {

void usage(FILE* to) {
    std::fprintf(to, "usage: ipsec <command> [arguments]\n"
                     "       ipsec --help | --version\n"
                     "\n"
                     "The KLIPS commands, talking PF_KEY v2 to a kmod-sim instance: the one whose run\n"
                     "directory is $KMOD_SIM_DIR, else /run/kmod-sim as root, else $XDG_RUNTIME_DIR/kmod-sim.\n"
                     "Each command without arguments prints its /proc file.\n"
                     "\n"
                     "commands:\n");
    for (const CommandInfo& c : commands()) std::fprintf(to, "  %-11s %s\n", c.name, c.summary);
    std::fprintf(to, "\n'ipsec <command> --help' describes one command.\n");
}

}  // namespace

int main(int argc, char** argv) {
    std::signal(SIGPIPE, SIG_IGN);
    if (argc < 2) {
        usage(stderr);
        return 1;
    }
    const std::string name = argv[1];
    if (name == "--help" || name == "-h") {
        usage(stdout);
        return 0;
    }
    if (name == "--version") {
        std::printf("kmod-sim ipsec %s\n", KMOD_SIM_VERSION);
        return 0;
    }
    const CommandInfo* command = find_command(name);
    if (!command) {
        std::fprintf(stderr, "ipsec: unknown command '%s' (try 'ipsec --help')\n", name.c_str());
        return 1;
    }
    Invocation invocation;
    invocation.name = name;
    invocation.args.assign(argv + 2, argv + argc);
    invocation.instance = find_instance();
    Plan plan = command->run(invocation);
    return run_plan(invocation, plan);
}
