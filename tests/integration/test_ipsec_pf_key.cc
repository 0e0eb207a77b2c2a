// `ipsec pf_key` (spec/klips.md §8.6, A.6): the usage on stderr, then a real listener: started
// with a pipe for its output, it registers for its SA types (their REGISTER replies are the
// first messages it prints), prints what another socket's changes make the daemon send, and
// ends on SIGTERM/SIGINT with `pf_key: Exiting on signal <n>`. --daemon, and batch mode.
#include <catch2/catch.hpp>

#include <fcntl.h>

#include "daemon_instance.h"
#include "ipsec_runner.h"
#include "pfkey_test_client.h"

using namespace it;

namespace {

// Appendix A.6 (→ is a TAB; --esp is listed twice).
const std::string kUsage =
    "pf_key: Usage: pf_key [--help]\n"
    "\tby default listens for AH, ESP, IPIP and IPCOMP\n"
    "\t--daemon <file>     fork before printing, stuffing the PID in the file\n"
    "\t--dumpfile <file>   decode file of pfkey messages\n"
    "\t--encodefile <file> encode file of pfkey messages\n"
    "\t--esp               listen for ESP messages\n"
    "\t--ah                listen for AH messages\n"
    "\t--esp               listen for ESP messages\n"
    "\t--ipip              listen for IPIP messages\n"
    "\t--ipcomp            listen for IPCOMP messages\n";

size_t count(const std::string& text, const std::string& what) {
    size_t n = 0;
    for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
    return n;
}

// `ipsec pf_key ARGS…` running in the background, its stdout and stderr read through pipes.
class Listener {
public:
    Listener(const std::vector<std::string>& args, const std::string& run_dir) {
        int out[2], err[2];
        if (pipe(out) != 0 || pipe(err) != 0) throw std::runtime_error("pipe failed");
        pid_ = fork();
        if (pid_ < 0) throw std::runtime_error("fork failed");
        if (pid_ == 0) {
            int null = open("/dev/null", O_RDONLY);
            dup2(null, 0);
            dup2(out[1], 1);
            dup2(err[1], 2);
            for (int fd : {out[0], out[1], err[0], err[1], null}) close(fd);
            setenv("KMOD_SIM_DIR", run_dir.c_str(), 1);
            std::vector<std::string> strings{ipsec_bin(), "pf_key"};
            strings.insert(strings.end(), args.begin(), args.end());
            std::vector<char*> argv;
            for (auto& s : strings) argv.push_back(s.data());
            argv.push_back(nullptr);
            execv(argv[0], argv.data());
            _exit(127);
        }
        close(out[1]);
        close(err[1]);
        out_fd_ = out[0];
        err_fd_ = err[0];
        fcntl(out_fd_, F_SETFL, O_NONBLOCK);
        fcntl(err_fd_, F_SETFL, O_NONBLOCK);
    }
    ~Listener() {
        if (pid_ > 0 && process_alive(pid_)) {
            kill(pid_, SIGKILL);
            wait_exit(pid_, milliseconds(5000));
        }
        close(out_fd_);
        close(err_fd_);
    }

    pid_t pid() const { return pid_; }

    // Waits (bounded) until stdout holds `n` occurrences of `what`.
    bool wait_for(const std::string& what, size_t n = 1) {
        return poll_until(milliseconds(10000), [&] {
            drain();
            return count(out, what) >= n;
        });
    }

    // Sends `sig` and waits for the exit: its wait status (stdout and stderr drained).
    std::optional<int> stop(int sig) {
        kill(pid_, sig);
        auto status = wait_exit(pid_, milliseconds(5000));
        if (status) pid_ = -1;
        drain();
        return status;
    }

    void drain() {
        char buf[65536];
        for (int fd : {out_fd_, err_fd_}) {
            ssize_t n;
            while ((n = read(fd, buf, sizeof buf)) > 0) (fd == out_fd_ ? out : err).append(buf, static_cast<size_t>(n));
        }
    }

    std::string out, err;

private:
    pid_t pid_ = -1;
    int out_fd_ = -1, err_fd_ = -1;
};

// What pf_key prints for a message (§8.6): a blank line, the header, pfkey_print's line.
std::string printed(const pf::Message& m, const char* satype_name) {
    auto bytes = pf::encode(m);
    REQUIRE(bytes);
    return "\npfkey v2 msg. type=" + std::to_string(m.type) + "(" + std::string(pf::message_type_name(m.type)) +
           ") seq=" + std::to_string(m.seq) + " len=" + std::to_string(bytes->size() / 8) +
           " pid=" + std::to_string(m.pid) + " errno=" + std::to_string(m.errno_value) +
           " satype=" + std::to_string(m.satype) + "(" + satype_name + ")\n" + pf::to_string(m);
}

}  // namespace

TEST_CASE("pf_key: usage on stderr, exit 1", "[ipsec][pf_key]") {
    const std::string none = "/nonexistent";
    IpsecResult help = run_ipsec({"pf_key", "--help"}, none);
    CHECK(help.status == 1);
    CHECK(help.out.empty());
    CHECK(help.err == kUsage);

    IpsecResult unknown = run_ipsec({"pf_key", "--listen"}, none);
    CHECK(unknown.status == 1);
    CHECK(unknown.err == "pf_key: unrecognized option '--listen'\n" + kUsage);

    IpsecResult extra = run_ipsec({"pf_key", "stray"}, none);
    CHECK(extra.status == 1);
    CHECK(extra.err == kUsage);

    for (const char* option : {"--dumpfile", "--encodefile"}) {
        IpsecResult r = run_ipsec({"pf_key", option, "/tmp/x"}, none);
        CHECK(r.status == 1);
        CHECK(r.err == std::string("pf_key: ") + option +
                           " is not implemented in kmod-sim: it only listens to a running instance\n");
    }

    IpsecResult unreachable = run_ipsec({"pf_key"}, none);
    CHECK(unreachable.status == 1);
    CHECK(unreachable.err.rfind("pf_key: cannot reach kmod-sim: ", 0) == 0);
}

TEST_CASE("pf_key: registers for all four types, prints what arrives, exits on SIGTERM", "[ipsec][pf_key]") {
    DaemonInstance d("pf_key-e2e", {"--clock", "manual"});
    d.start_or_throw();
    Listener listener({}, d.dir());
    REQUIRE(listener.wait_for("type=7(register)", 4));

    // The REGISTER replies, in the order asked: AH, ESP, IPIP, COMP.
    const std::string pid = std::to_string(listener.pid());
    size_t at = 0;
    int seq = 1;
    for (const char* satype : {"2(AH)", "3(ESP)", "9(IPIP)", "10(COMP)"}) {
        const std::string head = "\npfkey v2 msg. type=7(register) seq=" + std::to_string(seq++) + " len=";
        at = listener.out.find(head, at);
        REQUIRE(at != std::string::npos);
        const std::string tail = " pid=" + pid + " errno=0 satype=" + satype + "\nversion=2 type=7 errno=0 satype=";
        CHECK(listener.out.find(tail, at) != std::string::npos);
    }

    PfkeyClient c(d.pfkey_path());
    pf::Message added = c.request(add_sa(esp_chacha(0x1234, "192.0.2.1", "192.0.2.2")));
    REQUIRE(added.errno_value == 0);
    pf::Message flow = c.request(addflow({"10.1.0.0", 16, "10.2.0.0", 16}, {kIpip, 0x1234, "192.0.2.1"}));
    REQUIRE(flow.errno_value == 0);
    REQUIRE(listener.wait_for("type=14(x-addflow(eroute))"));
    CHECK(listener.out.find(printed(added, "ESP")) != std::string::npos);
    CHECK(listener.out.find(printed(flow, "IPIP")) != std::string::npos);
    // The ADD carried a key (bytes 0x5a): it is never shown.
    CHECK(listener.out.find("5a5a5a5a") == std::string::npos);

    auto status = listener.stop(SIGTERM);
    REQUIRE(status);
    CHECK(describe_status(*status) == "exit 0");
    CHECK(listener.err == "pf_key: Exiting on signal 15\n");
    CHECK(describe_status(d.stop()) == "exit 0");
}

TEST_CASE("pf_key: --esp only, and SIGINT", "[ipsec][pf_key]") {
    DaemonInstance d("pf_key-esp", {"--clock", "manual"});
    d.start_or_throw();
    Listener listener({"--esp"}, d.dir());
    REQUIRE(listener.wait_for("type=7(register)"));
    CHECK(listener.out.rfind("\npfkey v2 msg. type=7(register) seq=1 len=", 0) == 0);
    CHECK(listener.out.find(" pid=" + std::to_string(listener.pid()) + " errno=0 satype=3(ESP)\n") != std::string::npos);

    PfkeyClient c(d.pfkey_path());
    pf::Message flushed = c.request(flush());
    REQUIRE(flushed.errno_value == 0);
    REQUIRE(listener.wait_for("type=9(flush)"));
    CHECK(listener.out.find(printed(flushed, "UNKNOWN")) != std::string::npos);
    CHECK(count(listener.out, "type=7(register)") == 1);

    auto status = listener.stop(SIGINT);
    REQUIRE(status);
    CHECK(describe_status(*status) == "exit 0");
    CHECK(listener.err == "pf_key: Exiting on signal 2\n");
}

TEST_CASE("pf_key: --daemon forks after registering and leaves the child's pid", "[ipsec][pf_key]") {
    DaemonInstance d("pf_key-daemon", {"--clock", "manual"});
    d.start_or_throw();
    const std::string pidfile = d.dir() + "/pf_key.pid";
    const std::string out_path = d.dir() + "/pf_key.out", err_path = d.dir() + "/pf_key.err";
    setenv("KMOD_SIM_DIR", d.dir().c_str(), 1);
    const pid_t parent = fork();
    REQUIRE(parent >= 0);
    if (parent == 0) {
        int out = open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int err = open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        dup2(out, 1);
        dup2(err, 2);
        std::string bin = ipsec_bin();
        execl(bin.c_str(), bin.c_str(), "pf_key", "--daemon", pidfile.c_str(), static_cast<char*>(nullptr));
        _exit(127);
    }
    unsetenv("KMOD_SIM_DIR");
    auto parent_status = wait_exit(parent, milliseconds(10000));
    REQUIRE(parent_status);
    CHECK(describe_status(*parent_status) == "exit 0");
    const std::string pid_text = slurp(pidfile);
    REQUIRE(!pid_text.empty());
    const pid_t child = static_cast<pid_t>(std::stol(pid_text));
    CHECK(pid_text == std::to_string(child) + "\n");
    CHECK(process_alive(child));
    // The child prints the four REGISTER replies, answered before the fork.
    CHECK(poll_until(milliseconds(10000), [&] { return count(slurp(out_path), "type=7(register)") == 4; }));

    kill(child, SIGTERM);
    auto child_status = wait_exit(child, milliseconds(5000));  // reparented to us, the subreaper
    REQUIRE(child_status);
    CHECK(describe_status(*child_status) == "exit 0");
    CHECK(slurp(err_path) == "pf_key: Exiting on signal 15\n");
}

TEST_CASE("pf_key: refused in a batch", "[ipsec][pf_key]") {
    DaemonInstance d("pf_key-batch", {"--clock", "manual"});
    d.start_or_throw();
    IpsecResult r = run_ipsec({"batch"}, d.dir(), "pf_key\n");
    CHECK(r.status != 0);
    CHECK(r.err.find("pf_key: listens until it is stopped: not in a batch (run 'ipsec pf_key' on its own)\n") !=
          std::string::npos);
}
