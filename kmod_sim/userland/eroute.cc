// ipsec eroute: add, replace, delete and clear eroutes (spec/klips.md §8.1, Appendix A.1), as
// Openswan 2.6's programs/eroute/eroute.c did: getopt_long over long-only options, checks in
// the same order with the same words, then one SADB_X_ADDFLOW or SADB_X_DELFLOW (§9.3).
#include <arpa/inet.h>
#include <getopt.h>
#include <netdb.h>
#include <unistd.h>

#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "command.h"
#include "kmod_sim/lib/pfkey_satype.h"
#include "kmod_sim/lib/said.h"
#include "kmod_sim/lib/subnet.h"
#include "kmod_sim_version.h"
#include "proc_file.h"

namespace kmod_sim::userland {
namespace {

// KLIPS's action codes (EMT_*), printed by --debug.
enum Action { kNone = 0, kSet = 5, kDel = 6, kClear = 10, kReplace = 12, kIn = 14, kInReplace = 15 };

bool adds(Action a) { return a == kSet || a == kReplace || a == kIn || a == kInReplace; }

const option kLongOptions[] = {
    {"dst", required_argument, nullptr, 'D'},
    {"src", required_argument, nullptr, 'S'},
    {"eraf", required_argument, nullptr, 'f'},
    {"add", no_argument, nullptr, 'a'},
    {"addin", no_argument, nullptr, 'A'},
    {"replace", no_argument, nullptr, 'r'},
    {"replacein", no_argument, nullptr, 'E'},
    {"clear", no_argument, nullptr, 'c'},
    {"del", no_argument, nullptr, 'd'},
    {"af", required_argument, nullptr, 'i'},
    {"edst", required_argument, nullptr, 'e'},
    {"proto", required_argument, nullptr, 'p'},
    {"transport-proto", required_argument, nullptr, 'P'},
    {"src-port", required_argument, nullptr, 'Q'},
    {"dst-port", required_argument, nullptr, 'R'},
    {"help", no_argument, nullptr, 'h'},
    {"spi", required_argument, nullptr, 's'},
    {"said", required_argument, nullptr, 'I'},
    {"version", no_argument, nullptr, 'v'},
    {"label", required_argument, nullptr, 'l'},
    {"optionsfrom", required_argument, nullptr, '+'},
    {"debug", no_argument, nullptr, 'g'},
    {nullptr, 0, nullptr, 0},
};

void usage(const char* p) {
    std::printf(
        "usage: %s --{add,addin,replace,replacein} --eraf <inet | inet6> --src <src>/<srcmaskbits>|<srcmask> "
        "--dst <dst>/<dstmaskbits>|<dstmask> [ --transport-proto <protocol> ] [ --src-port <source-port> ] "
        "[ --dst-port <dest-port> ] <SA>\n",
        p);
    std::printf("            where <SA> is '--af <inet | inet6> --edst <edst> --spi <spi> --proto <proto>'\n");
    std::printf("                       OR '--said <said>'\n");
    std::printf(
        "                       OR '--said <%%passthrough | %%passthrough4 | %%passthrough6 | %%drop | "
        "%%reject | %%trap | %%hold | %%pass>'.\n");
    std::printf(
        "       %s --del --eraf <inet | inet6>--src <src>/<srcmaskbits>|<srcmask> --dst "
        "<dst>/<dstmaskbits>|<dstmask> [ --transport-proto <protocol> ] [ --src-port <source-port> ] "
        "[ --dst-port <dest-port> ]\n",
        p);
    std::printf("       %s --clear\n", p);
    std::printf("       %s --help\n", p);
    std::printf("       %s --version\n", p);
    std::printf("       %s\n", p);
    std::printf("        [ --debug ] is optional to any %s command.\n", p);
    std::printf("        [ --label <label> ] is optional to any %s command.\n", p);
}

// What eroute.c printed after "pfkey write failed" for the kernel's errno (its switch falls
// through from ENXIO to EFAULT to EACCES for the actions it does not name).
void print_write_error(int e, Action action) {
    const bool set = action == kSet || action == kReplace;
    switch (e) {
        case EINVAL: std::fprintf(stderr, "Invalid argument, check kernel log messages for specifics.\n"); return;
        case ENXIO:
            if (set) return (void)std::fprintf(stderr, "Invalid mask.\n");
            if (action == kDel) return (void)std::fprintf(stderr, "Mask not found.\n");
            [[fallthrough]];
        case EFAULT:
            if (set) return (void)std::fprintf(stderr, "Invalid address.\n");
            if (action == kDel) return (void)std::fprintf(stderr, "Address not found.\n");
            [[fallthrough]];
        case EACCES:
            std::fprintf(stderr, "access denied.  %s\n",
                         getuid() == 0 ? "Check permissions.  Should be 600." : "You must be root to open this file.");
            return;
        case EUNATCH: std::fprintf(stderr, "KLIPS not loaded.\n"); return;
        case EBUSY:
            std::fprintf(stderr,
                         "KLIPS is busy.  Most likely a serious internal error occured in a previous command.  "
                         "Please report as much detail as possible to development team.\n");
            return;
        case ENODEV: std::fprintf(stderr, "KLIPS not loaded or enabled.\nNo device?!?\n"); return;
        case ENOBUFS: std::fprintf(stderr, "No kernel memory to allocate SA.\n"); return;
        case ESOCKTNOSUPPORT:
            std::fprintf(stderr, "Algorithm support not available in the kernel.  Please compile in support.\n");
            return;
        case EEXIST: std::fprintf(stderr, "eroute already in use.  Delete old one first.\n"); return;
        case ENOENT:
            if (action == kIn || action == kInReplace) return (void)std::fprintf(stderr, "non-existant IPIP SA.\n");
            std::fprintf(stderr, "eroute doesn't exist.  Can't delete.\n");
            return;
        case ENOSPC: std::fprintf(stderr, "no room in kernel SAref table.  Cannot process request.\n"); return;
        case ESPIPE: std::fprintf(stderr, "kernel SAref table internal error.  Cannot process request.\n"); return;
        default:
            std::fprintf(
                stderr,
                "Unknown socket write error %d.  Please report as much detail as possible to development team.\n", e);
    }
}

// A --src-port/--dst-port value: a service name or a number. nullopt after the error message.
// A number over 65535 is reported but kept, truncated to 16 bits, as KLIPS did.
std::optional<uint16_t> parse_port(const std::string& p, const char* opt, const char* text) {
    if (const servent* ent = getservbyname(text, nullptr)) return ntohs(static_cast<uint16_t>(ent->s_port));
    char* end = nullptr;
    unsigned long value = std::strtoul(text, &end, 0);
    if (*end != '\0' || (value == 0 && end == text)) {
        std::fprintf(stderr, "%s: Invalid character in --%s parameter: %s\n", p.c_str(), opt, text);
        return std::nullopt;
    }
    if (value > 65535)
        std::fprintf(stderr, "%s: --%s parameter: %s must be in the range 0 to 65535 inclusive\n", p.c_str(), opt,
                     text);
    return static_cast<uint16_t>(value);
}

pfkey::AddressExt address_ext(const IpAddress& address, uint16_t port = 0) {
    pfkey::AddressExt a;
    a.address = address;
    a.port = port;
    return a;
}

// "<prog>: " + the message on stderr; exit status 1.
[[gnu::format(printf, 2, 3)]] Plan fail(const std::string& p, const char* format, ...) {
    std::fprintf(stderr, "%s: ", p.c_str());
    va_list args;
    va_start(args, format);
    std::vfprintf(stderr, format, args);
    va_end(args);
    return Plan::exit(1);
}

}  // namespace

Plan eroute_command(const Invocation& inv) {
    std::vector<char*> argv = inv.argv();
    const int argc = static_cast<int>(argv.size()) - 1;
    std::string p = inv.name;  // progname: "eroute", or "eroute --label L"

    const char *eroute_af_opt = nullptr, *said_af_opt = nullptr, *edst_opt = nullptr, *spi_opt = nullptr,
               *proto_opt = nullptr, *said_opt = nullptr, *dst_opt = nullptr, *src_opt = nullptr,
               *transport_proto_opt = nullptr, *src_port_opt = nullptr, *dst_port_opt = nullptr;
    Action action = kNone;
    bool debug = false;
    int argcount = argc;
    Said said;
    AddressFamily said_af = AddressFamily::unspecified, eroute_af = AddressFamily::unspecified;
    Subnet s_subnet, d_subnet;

    auto family_of = [](const char* text) {
        if (!std::strcmp(text, "inet")) return AddressFamily::inet;
        if (!std::strcmp(text, "inet6")) return AddressFamily::inet6;
        return AddressFamily::unspecified;
    };

    optind = 0;
    opterr = 1;
    int c;
    while ((c = getopt_long(argc, argv.data(), "", kLongOptions, nullptr)) != -1) {
        switch (c) {
            case 'g':
                debug = true;
                argcount--;
                break;
            case 'a':
            case 'A':
            case 'r':
            case 'E':
            case 'c':
            case 'd':
                if (action)
                    return fail(p,
                                "Only one of '--add', '--addin', '--replace', '--clear', or '--del' options "
                                "permitted.\n");
                action = c == 'a'   ? kSet
                         : c == 'A' ? kIn
                         : c == 'r' ? kReplace
                         : c == 'E' ? kInReplace
                         : c == 'c' ? kClear
                                    : kDel;
                break;
            case 'e': {
                if (said_opt)
                    return fail(p, "Error, EDST parameter redefined:%s, already defined in SA:%s\n", optarg, said_opt);
                if (edst_opt)
                    return fail(p, "Error, EDST parameter redefined:%s, already defined as:%s\n", optarg, edst_opt);
                auto dst = ttoaddr(optarg, said_af);
                if (!dst)
                    return fail(p, "Error, %s converting --edst argument:%s\n", std::string(dst.error()).c_str(),
                                optarg);
                said.dst = *dst;
                edst_opt = optarg;
                break;
            }
            case 'h':
            case '?': usage(p.c_str()); return Plan::exit(1);
            case 's': {
                if (said_opt)
                    return fail(p, "Error, SPI parameter redefined:%s, already defined in SA:%s\n", optarg, said_opt);
                if (spi_opt)
                    return fail(p, "Error, SPI parameter redefined:%s, already defined as:%s\n", optarg, spi_opt);
                char* end = nullptr;
                said.spi = static_cast<uint32_t>(std::strtoul(optarg, &end, 0));
                if (*end != '\0') return fail(p, "Invalid character in SPI parameter: %s\n", optarg);
                if (said.spi < 0x100)
                    return fail(p, "Illegal reserved spi: %s => 0x%x Must be larger than 0x100.\n", optarg, said.spi);
                spi_opt = optarg;
                break;
            }
            case 'p':
                if (said_opt)
                    return fail(p, "Error, PROTO parameter redefined:%s, already defined in SA:%s\n", optarg, said_opt);
                if (proto_opt)
                    return fail(p, "Error, PROTO parameter redefined:%s, already defined as:%s\n", optarg, proto_opt);
                if (!std::strcmp(optarg, "ah")) said.proto = kSaAh;
                if (!std::strcmp(optarg, "esp")) said.proto = kSaEsp;
                if (!std::strcmp(optarg, "tun")) said.proto = kSaTun;
                if (!std::strcmp(optarg, "comp")) said.proto = kSaComp;
                if (said.proto == 0) return fail(p, "Invalid PROTO parameter: %s\n", optarg);
                proto_opt = optarg;
                break;
            case 'I': {
                if (said_opt)
                    return fail(p, "Error, SAID parameter redefined:%s, already defined in SA:%s\n", optarg, said_opt);
                if (proto_opt)
                    return fail(p, "Error, PROTO parameter redefined in SA:%s, already defined as:%s\n", optarg,
                                proto_opt);
                if (edst_opt)
                    return fail(p, "Error, EDST parameter redefined in SA:%s, already defined as:%s\n", optarg,
                                edst_opt);
                if (spi_opt)
                    return fail(p, "Error, SPI parameter redefined in SA:%s, already defined as:%s\n", optarg, spi_opt);
                if (said_af_opt)
                    return fail(p, "Error, address family parameter redefined in SA:%s, already defined as:%s\n",
                                optarg, said_af_opt);
                auto parsed = ttosa(optarg);
                if (!parsed)
                    return fail(p, "Error, %s converting --sa argument:%s\n", std::string(parsed.error()).c_str(),
                                optarg);
                said = *parsed;
                // KLIPS printed the SPI as it lay in memory: network order read on a little-endian host.
                if (said.spi < 0x100)
                    return fail(p, "Illegal reserved spi: %s => 0x%x Must be larger than or equal to 0x100.\n", optarg,
                                htonl(said.spi));
                said_af = said.dst.family();
                said_opt = optarg;
                break;
            }
            case 'v':
                std::printf("ipsec eroute %s\n", KMOD_SIM_VERSION);
                std::printf("See `ipsec --copyright' for copyright information.\n");
                return Plan::exit(1);
            case 'D':
            case 'S': {
                const char* which = c == 'D' ? "dst" : "src";
                const char*& opt = c == 'D' ? dst_opt : src_opt;
                if (opt)
                    return fail(p, "Error, --%s parameter redefined:%s, already defined as:%s\n", which, optarg, opt);
                // KLIPS's ttosubnet knew no family 0: --eraf must come first.
                if (eroute_af == AddressFamily::unspecified)
                    return fail(p, "Error, unknown address family in ttosubnet converting --%s argument: %s\n", which,
                                optarg);
                auto subnet = ttosubnet(optarg, eroute_af);
                if (!subnet)
                    return fail(p, "Error, %s converting --%s argument: %s\n", std::string(subnet.error()).c_str(),
                                which, optarg);
                (c == 'D' ? d_subnet : s_subnet) = *subnet;
                opt = optarg;
                break;
            }
            case 'P':
                if (transport_proto_opt)
                    return fail(p, "Error, --transport-proto paramter redefined:%s, already defined as:%s\n", optarg,
                                transport_proto_opt);
                transport_proto_opt = optarg;
                break;
            case 'Q':
                if (src_port_opt)
                    return fail(p, "Error, --src-port parameter redefined:%s, already defined as:%s\n", optarg,
                                src_port_opt);
                src_port_opt = optarg;
                break;
            case 'R':
                if (dst_port_opt)
                    return fail(p, "Error, --dst-port parameter redefined:%s, already defined as:%s\n", optarg,
                                dst_port_opt);
                dst_port_opt = optarg;
                break;
            case 'l':
                p = inv.name + " --label " + optarg;
                argcount -= 2;
                break;
            case 'i':
                if (said_af_opt)
                    return fail(p, "Error, address family of SAID redefined:%s, already defined as:%s\n", optarg,
                                said_af_opt);
                if (family_of(optarg) != AddressFamily::unspecified) said_af = family_of(optarg);
                if (said_af == AddressFamily::unspecified)
                    return fail(p, "Invalid address family parameter for SAID: %s\n", optarg);
                said_af_opt = optarg;
                break;
            case 'f':
                if (eroute_af_opt)
                    return fail(p, "Error, address family of eroute redefined:%s, already defined as:%s\n", optarg,
                                eroute_af_opt);
                eroute_af = family_of(optarg);
                if (eroute_af == AddressFamily::unspecified)
                    return fail(p, "Invalid address family parameter for eroute: %s\n", optarg);
                eroute_af_opt = optarg;
                break;
            case '+':
                return fail(p,
                            "--optionsfrom is not supported by kmod-sim's eroute; give the options on the command "
                            "line (or use `ipsec batch`).\n");
            default: break;
        }
    }

    if (debug) std::printf("%s: DEBUG: argc=%d\n", p.c_str(), argc);
    if (argcount == 1) {
        Plan plan;
        plan.local = [inv, p](PfkeyConnection*) {
            Invocation labelled = inv;
            labelled.name = p;
            return print_proc_file(labelled, "net/ipsec_eroute", "eroute table");
        };
        return plan;
    }
    if (debug) std::printf("%s: DEBUG: action_type=%d\n", p.c_str(), action);

    int transport_proto = 0;
    if (transport_proto_opt) {
        if (const protoent* proto = getprotobyname(transport_proto_opt)) {
            transport_proto = proto->p_proto;
        } else {
            char* end = nullptr;
            transport_proto = static_cast<int>(std::strtoul(transport_proto_opt, &end, 0));
            if (*end != '\0' || (transport_proto == 0 && end == transport_proto_opt))
                return fail(p, "Invalid character in --transport-proto parameter: %s\n", transport_proto_opt);
            if (transport_proto > 255)
                return fail(p, "--transport-proto parameter: %s must be in the range 0 to 255 inclusive\n",
                            transport_proto_opt);
        }
    }
    if ((src_port_opt || dst_port_opt) && transport_proto != IPPROTO_UDP && transport_proto != IPPROTO_TCP)
        return fail(p,
                    "--transport-proto with either UDP or TCP must be specified if --src-port or --dst-port is used\n");
    uint16_t src_port = 0, dst_port = 0;
    if (src_port_opt) {
        auto port = parse_port(p, "src-port", src_port_opt);
        if (!port) return Plan::exit(1);
        src_port = *port;
    }
    if (dst_port_opt) {
        auto port = parse_port(p, "dst-port", dst_port_opt);
        if (!port) return Plan::exit(1);
        dst_port = *port;
    }

    switch (action) {
        case kSet:
        case kReplace:
        case kIn:
        case kInReplace:
            if (!(said_af_opt && edst_opt && spi_opt && proto_opt) && !said_opt)
                return fail(p, "add and addin options must have SA specified.\n");
            [[fallthrough]];
        case kDel:
            if (!src_opt) return fail(p, "Error -- %s option '--src' is required.\n", action == kSet ? "add" : "del");
            if (!dst_opt) return fail(p, "Error -- %s option '--dst' is required.\n", action == kSet ? "add" : "del");
            break;
        case kClear: break;
        default:
            std::fprintf(stderr,
                         "%s: exactly one of '--add', '--addin', '--replace', '--del' or '--clear' options must be "
                         "specified.\nTry %s --help' for usage information.\n",
                         p.c_str(), p.c_str());
            return Plan::exit(1);
    }

    // The message (§9.3). KLIPS's --del sent no SA extension; kmod-sim's X_DELFLOW wants one
    // (spec §9.3), so --del carries the SAID's SPI (0 when none was given) with no flags.
    pfkey::Message m;
    m.type = adds(action) ? pfkey::kXAddFlow : pfkey::kXDelFlow;
    m.satype = pfkey::satype_of_said_proto(said.proto);
    uint32_t flags = action == kClear       ? pfkey::kSaFlagXClearFlow
                     : action == kReplace   ? pfkey::kSaFlagXReplaceFlow
                     : action == kIn        ? pfkey::kSaFlagXInFlow
                     : action == kInReplace ? pfkey::kSaFlagXReplaceFlow | pfkey::kSaFlagXInFlow
                                            : 0;
    m.sa = pfkey::SaExt{};
    m.sa->spi = said.spi;
    m.sa->flags = flags;
    if (debug) std::printf("%s: DEBUG: pfkey_msg_hdr_build successfull.\n", p.c_str());
    if (debug && action != kDel) std::printf("%s: DEBUG: pfkey_sa_build successful.\n", p.c_str());
    if (adds(action)) {
        m.address_src = address_ext(IpAddress::unspecified(said_af));
        m.address_dst = address_ext(said.dst);
        if (debug)
            std::printf(
                "%s: DEBUG: pfkey_address_build successful for src.\n"
                "%s: DEBUG: pfkey_address_build successful for dst.\n",
                p.c_str(), p.c_str());
    }
    if (action != kClear) {
        m.x_src_flow = address_ext(s_subnet.address, src_port);
        m.x_dst_flow = address_ext(d_subnet.address, dst_port);
        m.x_src_mask = address_ext(s_subnet.mask, src_port ? 0xffff : 0);
        m.x_dst_mask = address_ext(d_subnet.mask, dst_port ? 0xffff : 0);
        if (debug)
            for (const char* what : {"src flow", "dst flow", "src mask", "dst mask"})
                std::printf("%s: DEBUG: pfkey_address_build successful for %s.\n", p.c_str(), what);
    }
    if (transport_proto != 0) m.x_protocol = pfkey::XProtocolExt{static_cast<uint8_t>(transport_proto), 0, 0};
    if (debug) std::printf("%s: DEBUG: pfkey_msg_build successful.\n", p.c_str());

    Plan plan;
    plan.requests.push_back({std::move(m), [p, action, debug](const pfkey::Message& answer) {
                                 if (answer.errno_value) {
                                     std::fprintf(stderr, "%s: pfkey write failed, returning -1 with errno=%d.\n",
                                                  p.c_str(), answer.errno_value);
                                     print_write_error(answer.errno_value, action);
                                     return 1;
                                 }
                                 if (debug)
                                     std::printf("%s: DEBUG: pfkey write successful.\n%s: DEBUG: write ok\n", p.c_str(),
                                                 p.c_str());
                                 return 0;
                             }});
    return plan;
}

}  // namespace kmod_sim::userland
