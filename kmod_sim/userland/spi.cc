// `ipsec spi` (spec/klips.md §8.2, Appendix A.5): add, delete and flush SAs with KLIPS's
// options, messages and exit statuses, for the algorithms of DESIGN.md. Options are read in
// order with getopt_long and the first bad one ends the command, as KLIPS's spi.c did:
// usage (and --help) exits 255 (KLIPS's exit(-1)), --version and every other error exit 1.
// Keys are never printed: where KLIPS quoted a bad key, we name the option instead.
#include <getopt.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

#include "command.h"
#include "kmod_sim/lib/pfkey_satype.h"
#include "kmod_sim/lib/said.h"
#include "kmod_sim_version.h"
#include "pfkey_write_error.h"
#include "proc_file.h"
#include "spi_keys.h"

namespace kmod_sim::userland {

namespace {

constexpr int kUsageStatus = 255;  // KLIPS's usage(): exit(-1)

enum class Action { none, clear, del, ip4, ip6, ah, esp, comp };

// An algorithm kmod-sim supports (kmod_sim/module/pfkey_sa.cc): the SA extension's ids and the
// key sizes the daemon accepts (0: no key of that kind).
struct Algorithm {
    std::string_view name;
    Action action;
    uint8_t auth;
    uint8_t encrypt;
    uint16_t auth_key_bits;
    uint16_t enc_key_bits;
};

constexpr Algorithm kAlgorithms[] = {
    {"hmac-sha2-256-128", Action::ah, pfkey::kAuthSha2_256, pfkey::kEncryptNone, 256, 0},
    {"hmac-sha2-512-256", Action::ah, pfkey::kAuthSha2_512, pfkey::kEncryptNone, 512, 0},
    {"chacha20-poly1305", Action::esp, pfkey::kAuthNone, pfkey::kEncryptChacha20Poly1305, 0, 288},
    {"aes256gcm16", Action::esp, pfkey::kAuthNone, pfkey::kEncryptAesGcm16, 0, 288},
    {"null-hmac-sha2-256", Action::esp, pfkey::kAuthSha2_256, pfkey::kEncryptNull, 256, 0},
    {"null-hmac-sha2-512", Action::esp, pfkey::kAuthSha2_512, pfkey::kEncryptNull, 512, 0},
    {"deflate", Action::comp, pfkey::kAuthNone, pfkey::kCompDeflate, 0, 0},
};

constexpr std::string_view kAhNames = "hmac-sha2-256-128 | hmac-sha2-512-256";
constexpr std::string_view kEspNames = "chacha20-poly1305 | aes256gcm16 | null-hmac-sha2-256 | null-hmac-sha2-512";

const Algorithm* find_algorithm(Action action, std::string_view name) {
    for (const Algorithm& a : kAlgorithms)
        if (a.action == action && a.name == name) return &a;
    return nullptr;
}

// KLIPS's own algorithm names (spi.c and the OS2.4+ kernel-alg strings such as
// "aes128-sha1"): recognised, so that the refusal can say they are not supported here.
bool is_klips_algorithm(Action action, std::string_view name) {
    auto has = [&](std::string_view part) { return name.find(part) != std::string_view::npos; };
    if (has("md5") || has("sha1") || has("ripemd")) return true;
    if (action == Action::comp) return name == "lzs";
    if (action != Action::esp) return false;
    const std::string_view cipher = name.substr(0, name.find('-'));
    for (std::string_view c : {"3des", "des", "aes", "aes128", "aes192", "aes256", "blowfish", "cast", "cast128",
                               "serpent", "twofish", "null"})
        if (cipher == c) return true;
    return false;
}

void spi_usage(const std::string& prog, FILE* to) {
    std::fprintf(to, "%s:Usage:\n", prog.c_str());
    std::fputs(
        "\tin the following, <SA> is: --af <inet | inet6> --edst <dstaddr> --spi <spi> --proto <proto>\n"
        "                               OR: --said <proto><.|:><spi>@<dstaddr>\n"
        "\t                  <life> is: --life <soft|hard>-<allocations|bytes|addtime|usetime|packets>=<value>[,...]\n"
        "spi --clear\n"
        "spi --help\n"
        "spi --version\n"
        "spi\n"
        "spi --del <SA>\n"
        "spi --ip4 <SA> --src <encap-src> --dst <encap-dst>\n"
        "spi --ip6 <SA> --src <encap-src> --dst <encap-dst>\n"
        "spi --ah <algo> <SA> [<life> ][ --replay_window <replay_window> ] --authkey <key>\n"
        "\twhere <algo> is one of:\thmac-sha2-256-128 | hmac-sha2-512-256\n"
        "spi --esp <algo> <SA> [<life> ][ --replay_window <replay-window> ] --authkey <akey>\n"
        "\twhere <algo> is one of:\tnull-hmac-sha2-256 | null-hmac-sha2-512\n"
        "spi --esp <algo> <SA> [<life> ][ --replay_window <replay-window> ] --enckey <ekey>\n"
        "\twhere <algo> is one of:\tchacha20-poly1305 | aes256gcm16\n"
        "spi --comp <algo> <SA>\n"
        "\twhere <algo> is:\tdeflate\n"
        "[ --debug ] is optional to any spi command.\n"
        "[ --label <label> ] is optional to any spi command.\n"
        "[ --listenreply ]   is optional, and causes the command to stick\n"
        "                    around and listen to what the PF_KEY socket says.\n"
        // Not KLIPS's: after its text, which tests and spec Appendix A.5 keep as it was.
        "[ --esn ] is optional to --ah and --esp: 64-bit extended sequence numbers (RFC 4303).\n",
        to);
}

AddressFamily family_of(int af) {
    return af == AF_INET ? AddressFamily::inet : af == AF_INET6 ? AddressFamily::inet6 : AddressFamily::unspecified;
}

int af_of(const IpAddress& a) { return static_cast<int>(a.family()); }

std::string bits_text(size_t bits) {
    return std::to_string(bits) + " bits (" + std::to_string(bits / 8) + " bytes)";
}

// What KLIPS's spi printed for a kernel error.
void report_kernel_error(const std::string& prog, int error) {
    std::fprintf(stderr, "%s: pfkey write failed (errno=%d): ", prog.c_str(), error);
    print_pfkey_write_error(error);
}

// Everything the options set, as spi.c's variables.
struct Options {
    std::string prog;
    Action action = Action::none;
    const Algorithm* algorithm = nullptr;
    int address_family = 0;
    std::optional<IpAddress> edst, src, dst;
    std::string edst_opt, spi_opt, proto_opt, af_opt, said_opt, src_opt, dst_opt;
    uint32_t spi = 0;
    uint8_t proto = 0;
    Said said;
    std::optional<std::vector<uint8_t>> authkey, enckey;
    unsigned long replay_window = 0;
    LifeOptions life;
    bool debug = false, listenreply = false, saref = false;
    bool esn = false;  // --esn: the SA flag pfkey::kSaFlagXEsn (not KLIPS's)
};

const char* action_option(Action a) {
    switch (a) {
    case Action::ah: return "--ah";
    case Action::esp: return "--esp";
    case Action::comp: return "--comp";
    case Action::ip4: return "--ip4";
    case Action::ip6: return "--ip6";
    case Action::del: return "--del";
    case Action::clear: return "--clear";
    case Action::none: break;
    }
    return "";
}

// A key option: KLIPS's prefix rule, then ttodata. The key's text is never echoed.
bool parse_key(const Options& o, const char* what, const char* option, const char* text,
               std::optional<std::vector<uint8_t>>* key) {
    if (text[0] == '0' && text[1] != 't' && text[1] != 'x' && text[1] != 's') {
        std::fprintf(stderr, "%s: %s key must have a '0x', '0t' or '0s' prefix to select the format (%s: key not "
                             "shown).\n", o.prog.c_str(), what, option);
        return false;
    }
    Parsed<std::vector<uint8_t>> data = ttodata(text);
    if (!data) {
        std::fprintf(stderr, "%s: unknown format or syntax error in %s key (%s: %.*s; key not shown).\n",
                     o.prog.c_str(), what[0] == 'A' ? "authentication" : "encryption", option,
                     static_cast<int>(data.error().size()), data.error().data());
        return false;
    }
    *key = std::move(*data);
    return true;
}

// Key presence and sizes for the chosen algorithm, checked before anything is sent (the
// daemon would answer EINVAL).
bool check_keys(const Options& o) {
    const Algorithm& a = *o.algorithm;
    const std::string p = o.prog;
    const std::string form = std::string(action_option(a.action)) + " " + std::string(a.name);
    auto check = [&](const std::optional<std::vector<uint8_t>>& key, uint16_t bits, const char* option,
                     const char* what) {
        if (bits == 0) {
            if (!key) return true;
            std::fprintf(stderr, "%s: %s is not used by %s%s.\n", p.c_str(), option, form.c_str(),
                         a.enc_key_bits ? " (an AEAD: its only key is --enckey)"
                                        : a.auth_key_bits ? " (its only key is --authkey)" : " (it takes no key)");
            return false;
        }
        const std::string expected = bits_text(bits) +
                                     (a.enc_key_bits && bits == a.enc_key_bits ? ": a 256-bit key and a 32-bit salt"
                                                                               : "");
        if (!key) {
            std::fprintf(stderr, "%s: %s needs %s <key>, %s %s.\n", p.c_str(), form.c_str(), option, what,
                         expected.c_str());
            return false;
        }
        if (key->size() * 8 != bits) {
            std::fprintf(stderr, "%s: %s for %s must be %s, got %zu bits (%zu bytes).\n", p.c_str(), what,
                         form.c_str(), expected.c_str(), key->size() * 8, key->size());
            return false;
        }
        return true;
    };
    return check(o.authkey, a.auth_key_bits, "--authkey", "authentication key") &&
           check(o.enckey, a.enc_key_bits, "--enckey", "encryption key");
}

pfkey::LifetimeExt lifetime_ext(const LifeOptions& life, LifeOptions::Severity s) {
    pfkey::LifetimeExt l;
    l.allocations = static_cast<uint32_t>(life.value[s][LifeOptions::allocations]);
    l.bytes = life.value[s][LifeOptions::bytes];
    l.addtime = life.value[s][LifeOptions::addtime];
    l.usetime = life.value[s][LifeOptions::usetime];
    l.packets = static_cast<uint32_t>(life.value[s][LifeOptions::packets]);
    return l;
}

uint8_t said_proto_for(Action a) {
    switch (a) {
    case Action::ah: return kSaAh;
    case Action::esp: return kSaEsp;
    case Action::comp: return kSaComp;
    case Action::ip4:
    case Action::ip6: return kSaTun;
    default: return 0;
    }
}

pfkey::AddressExt address_ext(const IpAddress& a) {
    pfkey::AddressExt ext;
    ext.address = a;
    return ext;
}

// The message for an SA action (SADB_ADD or SADB_DELETE), once the options are consistent.
pfkey::Message sa_message(const Options& o) {
    pfkey::Message m;
    m.type = o.action == Action::del ? pfkey::kDelete : pfkey::kAdd;
    m.satype = pfkey::satype_of_said_proto(o.said.proto);
    pfkey::SaExt sa;
    sa.spi = o.said.spi;
    sa.replay = static_cast<uint8_t>(o.replay_window);
    sa.state = pfkey::kSaStateMature;
    if (o.esn && o.action != Action::del) sa.flags |= pfkey::kSaFlagXEsn;
    if (o.algorithm) {
        sa.auth = o.algorithm->auth;
        sa.encrypt = o.algorithm->encrypt;
    }
    m.sa = sa;
    const IpAddress src = o.src ? *o.src : IpAddress::unspecified(o.said.dst.family());
    m.address_src = address_ext(src);
    m.address_dst = address_ext(o.said.dst);
    if (o.action == Action::del) return m;
    if (o.life.any(LifeOptions::soft)) m.lifetime_soft = lifetime_ext(o.life, LifeOptions::soft);
    if (o.life.any(LifeOptions::hard)) m.lifetime_hard = lifetime_ext(o.life, LifeOptions::hard);
    if (o.algorithm && o.algorithm->auth_key_bits)
        m.key_auth = pfkey::KeyExt{o.algorithm->auth_key_bits, *o.authkey};
    if (o.algorithm && o.algorithm->enc_key_bits)
        m.key_encrypt = pfkey::KeyExt{o.algorithm->enc_key_bits, *o.enckey};
    return m;
}

// The checks of spi.c after its option loop, and ours: the SA, its protocol against the
// action, keys, tunnel addresses. false after printing the message.
bool check_sa(Options& o) {
    const char* p = o.prog.c_str();
    if (o.said_opt.empty()) {
        if (!o.edst || o.edst->is_unspecified()) {
            std::fprintf(stderr, "%s: SA destination not specified.\n", p);
            return false;
        }
        if (!o.spi) {
            std::fprintf(stderr, "%s: SA SPI not specified.\n", p);
            return false;
        }
        if (!o.proto) {
            std::fprintf(stderr, "%s: SA PROTO not specified.\n", p);
            return false;
        }
        o.said = Said{*o.edst, o.spi, o.proto};
    }
    if (o.address_family != 0 && o.address_family != af_of(o.said.dst)) {
        std::fprintf(stderr, "%s: Defined address family and address family of SA missmatch.\n", p);
        return false;
    }
    const std::string sa_text = satot(o.said, SaidFormat::dotted);
    if (o.action != Action::del && o.said.proto != said_proto_for(o.action)) {
        std::fprintf(stderr, "%s: SA %s does not fit %s: it needs a %s SA.\n", p, sa_text.c_str(),
                     action_option(o.action), std::string(*sa_protocol_name(said_proto_for(o.action))).c_str());
        return false;
    }
    if (o.src && o.src->family() != o.said.dst.family()) {
        std::fprintf(stderr, "%s: --src %s is not of the address family of SA %s.\n", p, o.src_opt.c_str(),
                     sa_text.c_str());
        return false;
    }
    if (o.action == Action::ip4 || o.action == Action::ip6) {
        if (!o.src || o.src->is_unspecified()) {
            std::fprintf(stderr, "%s: %s needs --src <encap-src>, the outer header's source address.\n", p,
                         action_option(o.action));
            return false;
        }
        if (o.dst && *o.dst != o.said.dst) {
            std::fprintf(stderr, "%s: --dst %s differs from the destination of SA %s: the outer header goes to "
                                 "the SA's destination.\n", p, o.dst_opt.c_str(), sa_text.c_str());
            return false;
        }
    }
    if (o.algorithm && !check_keys(o)) return false;
    return true;
}

Plan add_or_delete_plan(const Options& o) {
    Request request;
    request.message = sa_message(o);
    const bool aes_gcm = o.algorithm && o.algorithm->encrypt == pfkey::kEncryptAesGcm16 && o.action == Action::esp;
    request.on_answer = [prog = o.prog, aes_gcm, saref = o.saref,
                         tell = o.debug || o.listenreply](const pfkey::Message& answer) {
        if (answer.errno_value != 0) {
            report_kernel_error(prog, answer.errno_value);
            if (aes_gcm && answer.errno_value == EINVAL) {
                std::fprintf(stderr, "%s: aes256gcm16 needs a CPU with AES-NI, which this machine does not offer "
                                     "to kmod-sim; use chacha20-poly1305 instead.\n", prog.c_str());
            }
            return 1;
        }
        if (saref) std::printf("%s: saref=%u\n", prog.c_str(), answer.sa ? answer.sa->x_sa_ref : 0u);
        if (tell) std::printf("%s: exited normally\n", prog.c_str());
        return 0;
    };
    Plan plan;
    plan.requests.push_back(std::move(request));
    return plan;
}

Plan flush_plan(const Options& o) {
    Request request;
    request.message.type = pfkey::kFlush;
    request.message.satype = pfkey::kSaTypeUnspec;
    request.on_answer = [prog = o.prog, tell = o.debug || o.listenreply](const pfkey::Message& answer) {
        if (answer.errno_value != 0) {
            report_kernel_error(prog, answer.errno_value);
            return 1;
        }
        if (tell) std::printf("%s: exited normally\n", prog.c_str());
        return 0;
    };
    Plan plan;
    plan.requests.push_back(std::move(request));
    return plan;
}

}  // namespace

Plan spi_command(const Invocation& invocation) {
    static const option kOptions[] = {
        {"ah", required_argument, nullptr, 'H'},      {"esp", required_argument, nullptr, 'P'},
        {"comp", required_argument, nullptr, 'Z'},    {"ip4", no_argument, nullptr, '4'},
        {"ip6", no_argument, nullptr, '6'},           {"del", no_argument, nullptr, 'd'},
        {"authkey", required_argument, nullptr, 'A'}, {"enckey", required_argument, nullptr, 'E'},
        {"edst", required_argument, nullptr, 'e'},    {"spi", required_argument, nullptr, 's'},
        {"proto", required_argument, nullptr, 'p'},   {"af", required_argument, nullptr, 'a'},
        {"replay_window", required_argument, nullptr, 'w'}, {"iv", required_argument, nullptr, 'i'},
        {"dst", required_argument, nullptr, 'D'},     {"src", required_argument, nullptr, 'S'},
        {"said", required_argument, nullptr, 'I'},    {"help", no_argument, nullptr, 'h'},
        {"version", no_argument, nullptr, 'v'},       {"clear", no_argument, nullptr, 'c'},
        {"label", required_argument, nullptr, 'l'},   {"debug", no_argument, nullptr, 'g'},
        {"life", required_argument, nullptr, 'f'},    {"saref", no_argument, nullptr, 'r'},
        {"listenreply", no_argument, nullptr, 'R'},   {"esn", no_argument, nullptr, 'N'},
        {nullptr, 0, nullptr, 0},
    };
    std::vector<char*> argv = invocation.argv();
    const int argc = static_cast<int>(argv.size()) - 1;
    int argcount = argc;
    Options o;
    o.prog = invocation.name;
    auto fail = [&](const char* format, auto... args) {
        std::fprintf(stderr, "%s: ", o.prog.c_str());
        std::fprintf(stderr, format, args...);
        std::fputc('\n', stderr);
        return Plan::exit(1);
    };
    auto usage_error = [&] {
        spi_usage(o.prog, stderr);
        return Plan::exit(kUsageStatus);
    };

    optind = 0;
    opterr = 1;
    for (int c; (c = getopt_long(argc, argv.data(), "", kOptions, nullptr)) != -1;) {
        const std::string arg = optarg ? optarg : "";
        const char* a = arg.c_str();
        switch (c) {
        case 'g':
            o.debug = true;
            --argcount;
            break;
        case 'R':
            o.listenreply = true;
            --argcount;
            break;
        case 'r':
            o.saref = true;
            --argcount;
            break;
        case 'N':
            o.esn = true;  // checked against the action after the loop: it may come first
            break;
        case 'l':
            o.prog = invocation.name + " --label " + arg;
            argcount -= 2;
            break;
        case 'H':
        case 'P':
        case 'Z':
        case '4':
        case '6':
        case 'd':
        case 'c': {
            if (o.action != Action::none) {
                // KLIPS's text has two spaces before "options" except after --ip4/--ip6.
                return fail("Only one of '--ah', '--esp', '--comp', '--ip4', '--ip6', '--del' or '--clear'%s"
                            "options permitted.", c == '4' || c == '6' ? " " : "  ");
            }
            const Action action = c == 'H' ? Action::ah : c == 'P' ? Action::esp : c == 'Z' ? Action::comp
                                : c == '4' ? Action::ip4 : c == '6' ? Action::ip6 : c == 'd' ? Action::del
                                                                                  : Action::clear;
            o.action = action;
            if (c == '4') o.address_family = AF_INET;
            if (c == '6') o.address_family = AF_INET6;
            if (c != 'H' && c != 'P' && c != 'Z') break;
            o.algorithm = find_algorithm(action, arg);
            if (o.algorithm) break;
            const std::string_view supported = c == 'H' ? kAhNames : c == 'P' ? kEspNames : "deflate";
            const char* option = action_option(action);
            if (is_klips_algorithm(action, arg)) {
                return fail("algorithm '%s' following '%s' is a KLIPS algorithm that kmod-sim does not support; "
                            "use one of: %.*s", a, option, static_cast<int>(supported.size()), supported.data());
            }
            if (c == 'H') return fail("Unknown authentication algorithm '%s' follows '--ah' option.", a);
            if (c == 'P') return fail("Invalid encryption algorithm '%s' follows '--esp' option.", a);
            return fail("Unknown compression algorithm '%s' follows '--comp' option.", a);
        }
        case 'e': {
            if (!o.said_opt.empty())
                return fail("Error, EDST parameter redefined:%s, already defined in SA:%s", a, o.said_opt.c_str());
            if (!o.edst_opt.empty())
                return fail("Error, EDST parameter redefined:%s, already defined as:%s", a, o.edst_opt.c_str());
            Parsed<IpAddress> address = ttoaddr(arg, family_of(o.address_family));
            if (!address)
                return fail("Error, %s converting --edst argument:%s", std::string(address.error()).c_str(), a);
            o.edst = *address;
            o.edst_opt = arg;
            break;
        }
        case 's': {
            if (!o.said_opt.empty())
                return fail("Error, SPI parameter redefined:%s, already defined in SA:%s", a, o.said_opt.c_str());
            if (!o.spi_opt.empty())
                return fail("Error, SPI parameter redefined:%s, already defined as:%s", a, o.spi_opt.c_str());
            char* end = nullptr;
            const unsigned long spi = std::strtoul(a, &end, 0);
            if (end != a + arg.size()) return fail("Invalid character in SPI parameter: %s", a);
            if (spi > UINT32_MAX) return fail("SPI parameter too large (at most 32 bits): %s", a);
            if (spi < 0x100)
                return fail("Illegal reserved spi: %s => 0x%x Must be larger than 0x100.", a,
                            static_cast<unsigned>(spi));
            o.spi = static_cast<uint32_t>(spi);
            o.spi_opt = arg;
            break;
        }
        case 'p':
            if (!o.said_opt.empty())
                return fail("Error, PROTO parameter redefined:%s, already defined in SA:%s", a, o.said_opt.c_str());
            if (!o.proto_opt.empty())
                return fail("Error, PROTO parameter redefined:%s, already defined as:%s", a, o.proto_opt.c_str());
            o.proto = arg == "ah" ? kSaAh : arg == "esp" ? kSaEsp : arg == "tun" ? kSaTun : arg == "comp" ? kSaComp : 0;
            if (!o.proto) return fail("Invalid PROTO parameter: %s", a);
            o.proto_opt = arg;
            break;
        case 'a':
            if (!o.said_opt.empty())
                return fail("Error, ADDRESS FAMILY parameter redefined:%s, already defined in SA:%s", a,
                            o.said_opt.c_str());
            if (!o.af_opt.empty())
                return fail("Error, ADDRESS FAMILY parameter redefined:%s, already defined as:%s", a,
                            o.af_opt.c_str());
            if (arg == "inet") o.address_family = AF_INET;
            else if (arg == "inet6") o.address_family = AF_INET6;
            else return fail("Invalid ADDRESS FAMILY parameter: %s.", a);
            o.af_opt = arg;
            break;
        case 'I': {
            if (!o.said_opt.empty())
                return fail("Error, SAID parameter redefined:%s, already defined in SA:%s", a, o.said_opt.c_str());
            if (!o.proto_opt.empty())
                return fail("Error, PROTO parameter redefined in SA:%s, already defined as:%s", a, o.proto_opt.c_str());
            if (!o.edst_opt.empty())
                return fail("Error, EDST parameter redefined in SA:%s, already defined as:%s", a, o.edst_opt.c_str());
            if (!o.spi_opt.empty())
                return fail("Error, SPI parameter redefined in SA:%s, already defined as:%s", a, o.spi_opt.c_str());
            Parsed<Said> said = ttosa(arg);
            if (!said) return fail("Error, %s converting --sa argument:%s", std::string(said.error()).c_str(), a);
            if (said->spi < 0x100)
                return fail("Illegal reserved spi: %s => 0x%x Must be larger than 0x100.", a, said->spi);
            if (o.address_family == 0) {
                o.address_family = af_of(said->dst);
            } else if (o.address_family != af_of(said->dst)) {
                return fail("Error, specified address family (%d) is different that of SAID: %s", o.address_family, a);
            }
            o.said = *said;
            o.said_opt = arg;
            break;
        }
        case 'A':
            if (!parse_key(o, "Authentication", "--authkey", a, &o.authkey)) return Plan::exit(1);
            break;
        case 'E':
            if (!parse_key(o, "Encryption", "--enckey", a, &o.enckey)) return Plan::exit(1);
            break;
        case 'w': {
            char* end = nullptr;
            o.replay_window = std::strtoul(a, &end, 0);
            if (end != a + arg.size()) return fail("Invalid character in replay_window parameter: %s", a);
            if (o.replay_window < 1 || o.replay_window > 64) {
                return fail("Failed -- Illegal window size: arg=%s, replay_window=%d, must be 1 <= size <= 64.", a,
                            static_cast<int>(o.replay_window));
            }
            break;
        }
        case 'i': {
            // KLIPS checked the IV's format and never sent it; kmod-sim's SAs make their own IVs.
            if (arg[0] == '0' && arg[1] != 't' && arg[1] != 'x' && arg[1] != 's') {
                return fail("IV must have a '0x', '0t' or '0s' prefix to select the format, found '%c'.", arg[1]);
            }
            Parsed<std::vector<uint8_t>> iv = ttodata(arg);
            if (!iv) return fail("unknown format or syntax error in IV (%s).", std::string(iv.error()).c_str());
            break;
        }
        case 'D':
        case 'S': {
            std::string& given = c == 'D' ? o.dst_opt : o.src_opt;
            const char* name = c == 'D' ? "DST" : "SRC";
            if (!given.empty()) return fail("Error, %s parameter redefined:%s, already defined as:%s", name, a, given.c_str());
            Parsed<IpAddress> address = ttoaddr(arg, family_of(o.address_family));
            if (!address) {
                return fail("Error, %s converting --%s argument:%s", std::string(address.error()).c_str(),
                            c == 'D' ? "dst" : "src", a);
            }
            (c == 'D' ? o.dst : o.src) = *address;
            given = arg;
            break;
        }
        case 'h':
            spi_usage(o.prog, stdout);
            return Plan::exit(kUsageStatus);
        case 'v':
            std::printf("%s, kmod-sim spi %s\n", o.prog.c_str(), KMOD_SIM_VERSION);
            return Plan::exit(1);
        case 'f':
            if (auto error = parse_life_option(arg, &o.life)) {
                std::fprintf(stderr, "%s: %s\n", o.prog.c_str(), error->message.c_str());
                if (error->with_usage) return usage_error();
                return Plan::exit(1);
            }
            break;
        case '?':
        default:
            return usage_error();
        }
    }

    if (argcount == 1) {
        Invocation as_prog = invocation;
        as_prog.name = o.prog;
        Plan plan;
        plan.local = [as_prog](PfkeyConnection*) { return print_proc_file(as_prog, "net/ipsec_spi", "spi"); };
        return plan;
    }
    switch (o.action) {
    case Action::none:
        return fail("No action chosen.  See '%s --help' for usage.", o.prog.c_str());
    case Action::clear:
        if (o.esn) return fail("--esn is only for --esp and --ah SAs: --clear adds no SA.");
        return flush_plan(o);
    default:
        if (o.esn && o.action != Action::esp && o.action != Action::ah) {
            return fail("--esn is only for --esp and --ah SAs: %s %s.", action_option(o.action),
                        o.action == Action::del ? "adds no SA" : "has no sequence number to extend");
        }
        if (o.esn && o.replay_window == 0) {
            // The receiver guesses the untransmitted high half from its window (RFC 4303
            // Appendix A2.2): without one it could never move past 2^32.
            return fail("--esn needs --replay_window: the high half of an extended sequence number is worked out from the window.");
        }
        if (!check_sa(o)) return Plan::exit(1);
        return add_or_delete_plan(o);
    }
}

}  // namespace kmod_sim::userland
