// ipsec spigrp: group SAs inner to outer, or ungroup one (spec/klips.md §8.3, Appendix A.2),
// as programs/spigrp/spigrp.c did: positional arguments (`--debug` first, `--label L` next),
// then one SADB_X_GRPSA per neighbouring pair, or one without the second SA to ungroup.
#include <arpa/inet.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "command.h"
#include "kmod_sim/lib/pfkey_satype.h"
#include "kmod_sim/lib/said.h"
#include "kmod_sim_version.h"
#include "pfkey_write_error.h"
#include "proc_file.h"

namespace kmod_sim::userland {
namespace {

constexpr int kMaxSaids = 4;

void usage(const char* s) {
    std::printf("usage: Note: position of options and arguments is important!\n");
    std::printf(
        "usage: %s [ --debug ] [ --label <label> ] af1 dst1 spi1 proto1 [ af2 dst2 spi2 proto2 [ af3 dst3 spi3 "
        "proto3 [ af4 dst4 spi4 proto4 ] ] ]\n",
        s);
    std::printf("usage: %s [ --debug ] [ --label <label> ] --said <SA1> [ <SA2> [ <SA3> [ <SA4> ] ] ]\n", s);
    std::printf("usage: %s --help\n", s);
    std::printf("usage: %s --version\n", s);
    std::printf("usage: %s\n", s);
    std::printf("        [ --debug ] is optional to any %s command.\n", s);
    std::printf("        [ --label <label> ] is optional to any %s command.\n", s);
}

pfkey::AddressExt address_ext(const IpAddress& address) {
    pfkey::AddressExt a;
    a.address = address;
    return a;
}

pfkey::SaExt sa_ext(uint32_t spi) {
    pfkey::SaExt sa;
    sa.spi = spi;
    return sa;
}

}  // namespace

Plan spigrp_command(const Invocation& inv) {
    // argv[0] is the name; the shifts below are spigrp.c's argv += n.
    std::vector<std::string> argv{inv.name};
    argv.insert(argv.end(), inv.args.begin(), inv.args.end());
    size_t at = 0;  // argv[at] plays the role of spigrp.c's argv[0]
    int argc = static_cast<int>(argv.size());
    std::string p = inv.name;
    bool debug = false;
    auto arg = [&](int i) -> const std::string& { return argv[at + static_cast<size_t>(i)]; };

    if (argc > 1 && arg(1) == "--debug") {
        debug = true;
        std::printf("\"--debug\" option requested.\n");
        at += 1;
        argc -= 1;
    }
    if (debug) std::printf("argc=%d (%d incl. --debug option).\n", argc, argc + 1);
    if (argc > 1 && arg(1) == "--label") {
        if (argc <= 2) {
            std::fprintf(stderr, "%s: --label option requires an argument.\n", p.c_str());
            return Plan::exit(1);
        }
        p = inv.name + " --label " + arg(2);
        if (debug) std::printf("using \"%s\" as a label.\n", p.c_str());
        at += 2;
        argc -= 2;
    }
    if (debug) std::printf("...After check for --label option.\n");

    if (argc == 1) {
        Plan plan;
        plan.local = [inv, p](PfkeyConnection*) {
            Invocation labelled = inv;
            labelled.name = p;
            return print_proc_file(labelled, "net/ipsec_spigrp", "spigrp");
        };
        return plan;
    }
    if (debug) std::printf("...After check for no option to print /proc/net/ipsec_spigrp.\n");
    if (arg(1) == "--help") {
        if (debug) std::printf("\"--help\" option requested.\n");
        usage(p.c_str());
        return Plan::exit(1);
    }
    if (debug) std::printf("...After check for --help option.\n");
    if (arg(1) == "--version") {
        if (debug) std::printf("\"--version\" option requested.\n");
        std::fprintf(stderr, "%s, kmod-sim %s\n", p.c_str(), KMOD_SIM_VERSION);
        return Plan::exit(1);
    }
    if (debug) std::printf("...After check for --version option.\n");
    const bool said_opt = arg(1) == "--said";
    if (said_opt && debug) std::printf("processing %d args with --said flag.\n", argc);
    if (debug) std::printf("...After check for --said option.\n");

    int nspis = 0;
    if (said_opt) {
        if (argc < 3) {
            std::fprintf(stderr, "expecting 3 or more args with --said, got %d.\n", argc);
            usage(p.c_str());
            return Plan::exit(1);
        }
        nspis = argc - 2;
        // KLIPS wrote past its 4-entry array here; kmod-sim refuses instead.
        if (nspis > kMaxSaids) {
            std::fprintf(stderr, "%s: at most %d SAs can be grouped, got %d.\n", p.c_str(), kMaxSaids, nspis);
            usage(p.c_str());
            return Plan::exit(1);
        }
    } else {
        if (argc < 5 || argc > 17 || argc % 4 != 1) {
            std::fprintf(stderr, "expecting 5 or more args without --said, got %d.\n", argc);
            usage(p.c_str());
            return Plan::exit(1);
        }
        nspis = argc / 4;
    }
    if (debug) std::printf("processing %d nspis.\n", nspis);

    std::vector<Said> saids(static_cast<size_t>(nspis));
    for (int i = 0; i < nspis; i++) {
        if (debug) std::printf("processing spi #%d.\n", i);
        Said& said = saids[static_cast<size_t>(i)];
        if (said_opt) {
            const std::string& text = arg(i + 2);
            auto parsed = ttosa(text);
            if (!parsed) {
                std::fprintf(stderr, "%s: Error, %.*s converting --sa argument:%s\n", p.c_str(),
                             static_cast<int>(parsed.error().size()), parsed.error().data(), text.c_str());
                return Plan::exit(1);
            }
            said = *parsed;
            if (debug) std::printf("said[%d].dst=%s.\n", i, addrtot(said.dst).c_str());
        } else {
            const std::string& af = arg(i * 4 + 1);
            const std::string& dst = arg(i * 4 + 2);
            const std::string& spi = arg(i * 4 + 3);
            const std::string& proto = arg(i * 4 + 4);
            if (proto == "ah") said.proto = kSaAh;
            if (proto == "esp") said.proto = kSaEsp;
            if (proto == "tun") said.proto = kSaTun;
            if (proto == "comp") said.proto = kSaComp;
            if (said.proto == 0) {
                std::fprintf(stderr, "%s: Badly formed proto: %s\n", p.c_str(), proto.c_str());
                return Plan::exit(1);
            }
            char* end = nullptr;
            said.spi = static_cast<uint32_t>(std::strtoul(spi.c_str(), &end, 0));
            if (*end != '\0') {
                std::fprintf(stderr, "%s: Badly formed spi: %s\n", p.c_str(), spi.c_str());
                return Plan::exit(1);
            }
            const AddressFamily family = af == "inet"    ? AddressFamily::inet
                                         : af == "inet6" ? AddressFamily::inet6
                                                         : AddressFamily::unspecified;
            if (family == AddressFamily::unspecified) {
                std::fprintf(stderr, "%s: Address family %s not supported\n", p.c_str(), af.c_str());
                return Plan::exit(1);
            }
            auto address = ttoaddr(dst, family);
            if (!address) {
                std::fprintf(stderr, "%s: Error, %.*s converting %dth address argument:%s\n", p.c_str(),
                             static_cast<int>(address.error().size()), address.error().data(), i, dst.c_str());
                return Plan::exit(1);
            }
            said.dst = *address;
        }
        if (debug)
            std::printf("SA %d contains: \nproto = %d\nspi = %08x\nedst = %s\n", i + 1, said.proto, htonl(said.spi),
                        addrtot(said.dst).c_str());
    }
    if (debug) std::printf("Opening pfkey socket.\n");

    // Pairs inner -> outer: A-B, B-C, C-D; a single SA: ungroup.
    Plan plan;
    const int messages = nspis - 1 < 2 ? 1 : nspis - 1;
    for (int i = 0; i < messages; i++) {
        const Said& inner = saids[static_cast<size_t>(i)];
        pfkey::Message m;
        m.type = pfkey::kXGrpSa;
        m.satype = pfkey::satype_of_said_proto(inner.proto);
        m.sa = sa_ext(inner.spi);
        m.address_dst = address_ext(inner.dst);
        if (nspis > 1) {
            const Said& outer = saids[static_cast<size_t>(i + 1)];
            m.x_satype2 = pfkey::XSaTypeExt{pfkey::satype_of_said_proto(outer.proto)};
            m.x_sa2 = sa_ext(outer.spi);
            m.x_address_dst2 = address_ext(outer.dst);
        }
        plan.requests.push_back({std::move(m), [p, debug, i](const pfkey::Message& answer) {
                                     if (debug) std::printf("processing %dth pfkey message.\n", i);
                                     if (!answer.errno_value) return 0;
                                     std::fprintf(stderr, "%s: pfkey write failed, returning -1 with errno=%d.\n",
                                                  p.c_str(), answer.errno_value);
                                     print_pfkey_write_error(answer.errno_value);
                                     return 1;
                                 }});
    }
    return plan;
}

}  // namespace kmod_sim::userland
