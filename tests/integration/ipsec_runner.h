// Runs the `ipsec` program as a user would, and keeps what it printed and its exit status, so
// that tests compare them with KLIPS's texts byte for byte. The binary comes from meson's
// IPSEC_BIN; the instance from KMOD_SIM_DIR, set per run (an empty dir means "no instance").
#pragma once

#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <vector>

namespace it {

inline std::string ipsec_bin() {
    const char* bin = std::getenv("IPSEC_BIN");
    return bin ? bin : "";
}

struct IpsecResult {
    std::string out, err;
    int status = -1;  // exit status; 128 + signal when killed
};

// `ipsec ARGS…` with KMOD_SIM_DIR=run_dir, stdin from `input`. Bounded: a run that takes
// longer than 30 s is killed and reported as status 128 + 9.
inline IpsecResult run_ipsec(const std::vector<std::string>& args, const std::string& run_dir,
                             const std::string& input = "") {
    int out[2], err[2], in[2];
    if (pipe(out) != 0 || pipe(err) != 0 || pipe(in) != 0) throw std::runtime_error("pipe failed");
    const pid_t pid = fork();
    if (pid < 0) throw std::runtime_error("fork failed");
    if (pid == 0) {
        dup2(in[0], 0);
        dup2(out[1], 1);
        dup2(err[1], 2);
        for (int fd : {in[0], in[1], out[0], out[1], err[0], err[1]}) close(fd);
        setenv("KMOD_SIM_DIR", run_dir.c_str(), 1);
        std::vector<std::string> argv_strings{ipsec_bin()};
        argv_strings.insert(argv_strings.end(), args.begin(), args.end());
        std::vector<char*> argv;
        for (auto& s : argv_strings) argv.push_back(s.data());
        argv.push_back(nullptr);
        execv(argv[0], argv.data());
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    close(err[1]);
    // Feed stdin and drain both outputs together, so that no pipe fills and blocks the child.
    IpsecResult result;
    size_t written = 0;
    if (input.empty()) close(in[1]);
    bool in_open = !input.empty(), out_open = true, err_open = true;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (out_open || err_open) {
        std::vector<pollfd> fds;
        if (out_open) fds.push_back({out[0], POLLIN, 0});
        if (err_open) fds.push_back({err[0], POLLIN, 0});
        if (in_open) fds.push_back({in[1], POLLOUT, 0});
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0 || poll(fds.data(), fds.size(), static_cast<int>(left.count())) <= 0) {
            kill(pid, SIGKILL);
            break;
        }
        for (const pollfd& p : fds) {
            if (!p.revents) continue;
            if (p.fd == in[1]) {
                ssize_t n = write(in[1], input.data() + written, input.size() - written);
                if (n > 0) written += static_cast<size_t>(n);
                if (n <= 0 || written == input.size()) {
                    close(in[1]);
                    in_open = false;
                }
                continue;
            }
            char buf[65536];
            ssize_t n = read(p.fd, buf, sizeof buf);
            std::string& into = p.fd == out[0] ? result.out : result.err;
            if (n > 0) into.append(buf, static_cast<size_t>(n));
            else (p.fd == out[0] ? out_open : err_open) = false;
        }
    }
    if (in_open) close(in[1]);
    close(out[0]);
    close(err[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    result.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return result;
}

}  // namespace it
