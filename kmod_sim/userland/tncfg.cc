// `ipsec tncfg` (spec/klips.md §8.4, A.3): attach the virtual ipsecN devices to physical ones.
// KLIPS did it with an ioctl on the device; kmod-sim carries it in its private PF_KEY message
// X_TNCFG (kmod_sim/lib/pfkey_types.h). Options are parsed with getopt_long_only, as KLIPS did.
#include <getopt.h>

#include <cerrno>
#include <cstdio>
#include <string>

#include "command.h"
#include "kmod_sim_version.h"
#include "proc_file.h"

namespace kmod_sim::userland {

namespace {

void tncfg_usage(const std::string& prog) {
    const char* p = prog.c_str();
    std::printf("%s --attach --virtual <virtual-device> --physical <physical-device>\n"
                "%s --detach --virtual <virtual-device>\n"
                "%s --clear\n"
                "%s --help\n"
                "%s --version\n"
                "%s\n"
                "        [ --debug ] is optional to any %s command.\n"
                "        [ --label <label> ] is optional to any %s command.\n",
                p, p, p, p, p, p, p, p);
}

// What KLIPS's tncfg printed for the ioctl's errno.
void report_error(const std::string& prog, uint8_t operation, int error, const std::string& virtual_name) {
    const char* p = prog.c_str();
    if (error == ENODEV) {
        std::fprintf(stderr, "%s: No such device.  Is the virtual device valid?  Is the ipsec module linked into "
                             "the kernel or loaded as a module?\n", p);
    } else if (error == ENXIO && operation == pfkey::kTncfgAttach) {
        std::fprintf(stderr, "%s: No such device.  Is the physical device valid?\n", p);
    } else if (error == EBUSY && operation == pfkey::kTncfgAttach) {
        std::fprintf(stderr, "%s: Device busy.  Virtual device %s is already attached to a physical device -- "
                             "Use detach first.\n", p, virtual_name.c_str());
    } else if (error == ENXIO) {
        std::fprintf(stderr, "%s: Device requested is not linked to any physical device.\n", p);
    } else if ((error == EPERM || error == EACCES) && operation == pfkey::kTncfgAttach) {
        // kmod-sim's own: making ipsecN a real TUN device with raw sockets needs privilege.
        std::fprintf(stderr, "%s: Operation not permitted.  A real %s needs CAP_NET_ADMIN and CAP_NET_RAW: run "
                             "kmod-sim as root, or start it with --devices model.\n", p, virtual_name.c_str());
    } else if (error == ENOENT && operation == pfkey::kTncfgAttach) {
        std::fprintf(stderr, "%s: No TUN support.  A real %s needs /dev/net/tun (modprobe tun), or start kmod-sim "
                             "with --devices model.\n", p, virtual_name.c_str());
    } else if (error == EEXIST && operation == pfkey::kTncfgAttach) {
        std::fprintf(stderr, "%s: Device exists.  A network device named %s already exists in kmod-sim's network "
                             "namespace -- remove it first.\n", p, virtual_name.c_str());
    } else {
        std::fprintf(stderr, "%s: Unknown socket error %d.\n", p, error);
    }
}

}  // namespace

Plan tncfg_command(const Invocation& invocation) {
    static const option kOptions[] = {
        {"virtual", required_argument, nullptr, 'V'}, {"physical", required_argument, nullptr, 'P'},
        {"attach", no_argument, nullptr, 'a'},        {"detach", no_argument, nullptr, 'd'},
        {"clear", no_argument, nullptr, 'c'},         {"help", no_argument, nullptr, 'h'},
        {"version", no_argument, nullptr, 'v'},       {"label", required_argument, nullptr, 'l'},
        {"debug", no_argument, nullptr, 'g'},         {nullptr, 0, nullptr, 0},
    };
    std::vector<char*> argv = invocation.argv();
    const int argc = static_cast<int>(argv.size()) - 1;
    int argcount = argc;
    std::string prog = invocation.name;
    uint8_t operation = 0;
    std::string virtual_name, physical_name;

    optind = 0;
    opterr = 1;
    for (int c; (c = getopt_long_only(argc, argv.data(), "", kOptions, nullptr)) != -1;) {
        switch (c) {
        case 'a':
        case 'd':
        case 'c':
            if (operation) {
                std::fprintf(stderr, "%s: exactly one of '--attach', '--detach' or '--clear' options must be "
                                     "specified.\n", prog.c_str());
                return Plan::exit(1);
            }
            operation = c == 'a' ? pfkey::kTncfgAttach : c == 'd' ? pfkey::kTncfgDetach : pfkey::kTncfgClear;
            break;
        case 'V':
            virtual_name = optarg;
            break;
        case 'P':
            physical_name = optarg;
            break;
        case 'v':
            std::printf("ipsec %s %s\nSee `ipsec --copyright' for copyright information.\n",
                        invocation.name.c_str(), KMOD_SIM_VERSION);
            return Plan::exit(1);
        case 'l':
            prog = invocation.name + " --label " + optarg;
            argcount -= 2;
            break;
        case 'g':
            --argcount;
            break;
        case 'h':
        default:
            tncfg_usage(prog);
            return Plan::exit(1);
        }
    }
    if (argcount == 1) {
        Plan plan;
        plan.local = [invocation](PfkeyConnection*) { return print_proc_file(invocation, "net/ipsec_tncfg", "tncfg"); };
        return plan;
    }
    switch (operation) {
    case pfkey::kTncfgAttach:
        if (physical_name.empty()) {
            std::fprintf(stderr, "%s: physical I/F parameter missing.\n", prog.c_str());
            return Plan::exit(1);
        }
        [[fallthrough]];
    case pfkey::kTncfgDetach:
        if (virtual_name.empty()) {
            std::fprintf(stderr, "%s: virtual I/F parameter missing.\n", prog.c_str());
            return Plan::exit(1);
        }
        break;
    case pfkey::kTncfgClear:
        break;
    default:
        std::fprintf(stderr, "%s: exactly one of '--attach', '--detach' or '--clear' options must be specified.\n",
                     prog.c_str());
        return Plan::exit(1);
    }
    // Names longer than an interface name (15) cannot name a device: as the ioctl would.
    for (const std::string* name : {&virtual_name, &physical_name}) {
        if (name->size() > 15) {
            report_error(prog, operation, name == &virtual_name ? ENODEV : ENXIO, virtual_name);
            return Plan::exit(1);
        }
    }

    Request request;
    request.message.type = pfkey::kXTncfg;
    request.message.x_tncfg = pfkey::XTncfgExt{operation, operation == pfkey::kTncfgClear ? "" : virtual_name,
                                               operation == pfkey::kTncfgAttach ? physical_name : ""};
    request.on_answer = [prog, operation, virtual_name](const pfkey::Message& answer) {
        if (answer.errno_value == 0) return 0;
        report_error(prog, operation, answer.errno_value, virtual_name);
        return 1;
    };
    Plan plan;
    plan.requests.push_back(std::move(request));
    return plan;
}

}  // namespace kmod_sim::userland
