// `ipsec pf_key` (spec/klips.md §8.6, A.6): register for the chosen SA types and print every
// PF_KEY message that arrives, in the format of KLIPS's pf_key, until SIGINT or SIGTERM.
// --daemon forks once the registrations are answered and leaves the child's pid in the file.
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "command.h"
#include "run_plan.h"

namespace kmod_sim::userland {

namespace {

void pf_key_usage(const std::string& prog) {
    const char* p = prog.c_str();
    std::fprintf(stderr,
                 "%s: Usage: %s [--help]\n"
                 "\tby default listens for AH, ESP, IPIP and IPCOMP\n"
                 "\t--daemon <file>     fork before printing, stuffing the PID in the file\n"
                 "\t--dumpfile <file>   decode file of pfkey messages\n"
                 "\t--encodefile <file> encode file of pfkey messages\n"
                 "\t--esp               listen for ESP messages\n"
                 "\t--ah                listen for AH messages\n"
                 "\t--esp               listen for ESP messages\n"
                 "\t--ipip              listen for IPIP messages\n"
                 "\t--ipcomp            listen for IPCOMP messages\n",
                 p, p);
}

const char* satype_name(uint8_t satype) {
    switch (satype) {
    case pfkey::kSaTypeEsp: return "ESP";
    case pfkey::kSaTypeAh: return "AH";
    case pfkey::kSaTypeXIpip: return "IPIP";
    case pfkey::kSaTypeXComp: return "COMP";
    case pfkey::kSaTypeXInt: return "INT";
    default: return "UNKNOWN";
    }
}

// KLIPS's pf_key: a blank line, the header, then pfkey_print's line (pfkey_message.h).
void print_message(const pfkey::Message& m) {
    auto encoded = pfkey::encode(m);
    const size_t units = encoded ? encoded->size() / pfkey::kAlign : 0;
    const std::string_view type = pfkey::message_type_name(m.type);
    std::printf("\npfkey v%d msg. type=%d(%.*s) seq=%u len=%zu pid=%u errno=%d satype=%d(%s)\n", int{pfkey::kVersion},
                int{m.type}, static_cast<int>(type.size()), type.data(), m.seq, units, m.pid, int{m.errno_value},
                int{m.satype}, satype_name(m.satype));
    std::fputs(pfkey::to_string(m).c_str(), stdout);
    std::fflush(stdout);
}

struct Listener {
    Invocation invocation;
    std::vector<uint8_t> satypes;
    std::string pidfile;  // --daemon

    int run(PfkeyConnection& connection) const;
};

// The signals that end the listening arrive through a signalfd, next to the socket.
class SignalWatch {
public:
    SignalWatch() {
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, SIGINT);
        sigaddset(&set, SIGTERM);
        sigprocmask(SIG_BLOCK, &set, &old_);
        fd_ = signalfd(-1, &set, SFD_CLOEXEC);
    }
    ~SignalWatch() {
        if (fd_ >= 0) close(fd_);
        sigprocmask(SIG_SETMASK, &old_, nullptr);
    }
    int fd() const { return fd_; }
    int take() const {  // the signal's number
        signalfd_siginfo info{};
        if (read(fd_, &info, sizeof info) != sizeof info) return 0;
        return static_cast<int>(info.ssi_signo);
    }

private:
    int fd_ = -1;
    sigset_t old_{};
};

int write_pidfile(const std::string& path, pid_t pid) {
    FILE* f = std::fopen(path.c_str(), "w");
    if (!f) return errno;
    std::fprintf(f, "%d\n", static_cast<int>(pid));
    return std::fclose(f) == 0 ? 0 : errno;
}

int Listener::run(PfkeyConnection& connection) const {
    const char* prog = invocation.name.c_str();
    SignalWatch signals;
    if (signals.fd() < 0) {
        std::fprintf(stderr, "%s: cannot watch for signals: %s\n", prog, std::strerror(errno));
        return 1;
    }
    // Register for each type, then keep what arrives until every registration is answered.
    std::vector<uint32_t> pending;
    for (uint8_t satype : satypes) {
        pfkey::Message m;
        m.type = pfkey::kRegister;
        m.satype = satype;
        if (int error = connection.send(m)) {
            report_unreachable(invocation, error);
            return 1;
        }
        pending.push_back(m.seq);
    }
    std::deque<pfkey::Message> received;
    while (!pending.empty()) {
        int error = 0;
        auto m = connection.receive(PfkeyConnection::kAnswerTimeoutMs, &error);
        if (!m) {
            if (error == EBADMSG) continue;
            report_unreachable(invocation, error);
            return 1;
        }
        if (m->type == pfkey::kRegister && m->pid == connection.pid()) std::erase(pending, m->seq);
        received.push_back(std::move(*m));
    }
    if (!pidfile.empty()) {
        std::fflush(stdout);
        const pid_t child = fork();
        if (child < 0) {
            std::fprintf(stderr, "%s: fork failed: %s\n", prog, std::strerror(errno));
            return 1;
        }
        if (child > 0) {
            if (int error = write_pidfile(pidfile, child)) {
                std::fprintf(stderr, "%s: cannot write %s: %s\n", prog, pidfile.c_str(), std::strerror(error));
                kill(child, SIGTERM);
                return 1;
            }
            return 0;
        }
    }
    for (const pfkey::Message& m : received) print_message(m);
    for (;;) {
        pollfd fds[2] = {{connection.fd(), POLLIN, 0}, {signals.fd(), POLLIN, 0}};
        if (poll(fds, 2, -1) < 0) {
            if (errno == EINTR) continue;
            std::fprintf(stderr, "%s: poll: %s\n", prog, std::strerror(errno));
            return 1;
        }
        if (fds[1].revents) {
            std::fprintf(stderr, "%s: Exiting on signal %d\n", prog, signals.take());
            return 0;
        }
        int error = 0;
        auto m = connection.receive(0, &error);
        if (m) {
            print_message(*m);
        } else if (error == EBADMSG) {
            std::fprintf(stderr, "%s: a message that does not decode was skipped\n", prog);
        } else if (error != ETIMEDOUT) {
            report_unreachable(invocation, error);
            return 1;
        }
    }
}

}  // namespace

Plan pf_key_command(const Invocation& invocation) {
    static const option kOptions[] = {
        {"help", no_argument, nullptr, 'h'},          {"daemon", required_argument, nullptr, 'd'},
        {"dumpfile", required_argument, nullptr, 'D'}, {"encodefile", required_argument, nullptr, 'E'},
        {"ah", no_argument, nullptr, 'a'},            {"esp", no_argument, nullptr, 'e'},
        {"ipip", no_argument, nullptr, 'i'},          {"ipcomp", no_argument, nullptr, 'c'},
        {nullptr, 0, nullptr, 0},
    };
    std::vector<char*> argv = invocation.argv();
    const int argc = static_cast<int>(argv.size()) - 1;
    const std::string& prog = invocation.name;
    auto listener = std::make_shared<Listener>();
    listener->invocation = invocation;
    bool ah = false, esp = false, ipip = false, ipcomp = false;

    optind = 0;
    opterr = 1;
    for (int c; (c = getopt_long(argc, argv.data(), "", kOptions, nullptr)) != -1;) {
        switch (c) {
        case 'd':
            listener->pidfile = optarg;
            break;
        case 'D':
        case 'E':
            std::fprintf(stderr, "%s: --%s is not implemented in kmod-sim: it only listens to a running instance\n",
                         prog.c_str(), c == 'D' ? "dumpfile" : "encodefile");
            return Plan::exit(1);
        case 'a': ah = true; break;
        case 'e': esp = true; break;
        case 'i': ipip = true; break;
        case 'c': ipcomp = true; break;
        case 'h':
        default:
            pf_key_usage(prog);
            return Plan::exit(1);
        }
    }
    if (optind < argc) {
        pf_key_usage(prog);
        return Plan::exit(1);
    }
    if (invocation.in_batch) {
        std::fprintf(stderr, "%s: listens until it is stopped: not in a batch (run 'ipsec pf_key' on its own)\n",
                     prog.c_str());
        return Plan::exit(1);
    }
    const bool all = !(ah || esp || ipip || ipcomp);
    if (all || ah) listener->satypes.push_back(pfkey::kSaTypeAh);
    if (all || esp) listener->satypes.push_back(pfkey::kSaTypeEsp);
    if (all || ipip) listener->satypes.push_back(pfkey::kSaTypeXIpip);
    if (all || ipcomp) listener->satypes.push_back(pfkey::kSaTypeXComp);

    Plan plan;
    plan.local_needs_connection = true;
    plan.local = [listener](PfkeyConnection* connection) { return listener->run(*connection); };
    return plan;
}

}  // namespace kmod_sim::userland
