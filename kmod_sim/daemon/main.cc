// kmod-sim: the emulated KLIPS module as a process (DESIGN.md "At run time"). It owns one
// Klips, answers PF_KEY v2 on RUN_DIR/pfkey, takes packets on RUN_DIR/packets and mounts the module's /proc files read-only on
// RUN_DIR/proc, until SIGINT, SIGTERM or SIGHUP.
#include <fcntl.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>

#include "boot_clock.h"
#include "device_ports.h"
#include "fusefs/view.h"
#include "host_network.h"
#include "kmod_sim/module/pfkey_handler.h"
#include "kmod_sim/module/proc_view.h"
#include "options.h"
#include "packet_server.h"
#include "pfkey_server.h"
#include "run_dir.h"

namespace kmod_sim::daemon {

namespace {

// How a --daemon child tells the waiting parent that it is ready ("" ) or why it is not.
class ReadyPipe {
public:
    // Forks. Returns in the child; the parent waits for the child's word and exits with it.
    void fork_and_wait() {
        int fds[2];
        if (pipe2(fds, O_CLOEXEC) != 0) fail_parent(std::string("pipe: ") + std::strerror(errno));
        const pid_t child = fork();
        if (child < 0) fail_parent(std::string("fork: ") + std::strerror(errno));
        if (child > 0) {
            close(fds[1]);
            std::string word;
            char buf[512];
            ssize_t n;
            while ((n = read(fds[0], buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR)) {
                if (n > 0) word.append(buf, static_cast<size_t>(n));
            }
            if (word == "ready") _exit(0);
            if (word.empty()) word = "kmod-sim: the background instance died while starting\n";
            std::fputs(word.c_str(), stderr);
            _exit(1);
        }
        close(fds[0]);
        fd_ = fds[1];
        setsid();  // leave the caller's session: its terminal's signals are not ours
    }

    // Startup failed: the parent prints `message`. In the foreground we print it ourselves.
    void failed(const std::string& message) {
        const std::string line = "kmod-sim: " + message + "\n";
        if (fd_ < 0) {
            std::fputs(line.c_str(), stderr);
            return;
        }
        write_all(line);
    }

    // Ready: the parent exits 0, and our standard streams let go of its terminal.
    void ready() {
        if (fd_ < 0) return;
        write_all("ready");
        close(fd_);
        fd_ = -1;
        const int null = open("/dev/null", O_RDWR | O_CLOEXEC);
        if (null >= 0) {
            dup2(null, 0);
            dup2(null, 1);
            dup2(null, 2);
            close(null);
        }
    }

private:
    [[noreturn]] static void fail_parent(const std::string& message) {
        std::fprintf(stderr, "kmod-sim: %s\n", message.c_str());
        _exit(1);
    }
    void write_all(const std::string& text) {
        for (size_t at = 0; at < text.size();) {
            ssize_t n = write(fd_, text.data() + at, text.size() - at);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) return;
            at += static_cast<size_t>(n);
        }
    }
    int fd_ = -1;
};

// Hands the module's messages to the PF_KEY server, which is built after the module.
struct KlipsEventsRelay final : KlipsEvents {
    KlipsEvents* target = nullptr;
    bool acquire(std::vector<uint8_t> message) override { return target && target->acquire(std::move(message)); }
    void expire(std::vector<uint8_t> message) override {
        if (target) target->expire(std::move(message));
    }
};

fusefs::GeneratedTree view_tree(const Klips& klips, std::string* error) {
    fusefs::GeneratedTree tree;
    for (ProcEntry& entry : proc_entries(klips)) {
        auto refused = entry.is_symlink() ? tree.add_symlink(entry.path, entry.link_target)
                                          : tree.add_file(entry.path, std::move(entry.render));
        if (refused && error->empty()) *error = *refused;
    }
    return tree;
}

std::optional<std::string> make_mountpoint(const std::string& path) {
    if (mkdir(path.c_str(), 0755) == 0 || errno == EEXIST || errno == ENOTCONN) return std::nullopt;
    return "cannot create the mountpoint " + path + ": " + std::strerror(errno);
}

int run(const Options& options) {
    // Control signals are taken by the main loop through a signalfd: block them before any
    // thread exists, so that every thread (the FUSE loop included) inherits the mask.
    sigset_t signals;
    sigemptyset(&signals);
    for (int s : {SIGINT, SIGTERM, SIGHUP}) sigaddset(&signals, s);
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);
    signal(SIGPIPE, SIG_IGN);

    ReadyPipe starter;
    if (options.daemonize) starter.fork_and_wait();

    RunDir run_dir;
    if (auto error = run_dir.acquire(options.run_dir)) {
        starter.failed(*error);
        return 1;
    }
    const int signal_fd = signalfd(-1, &signals, SFD_CLOEXEC);
    if (signal_fd < 0) {
        starter.failed(std::string("signalfd: ") + std::strerror(errno));
        return 1;
    }

    std::shared_ptr<ManualClock> manual;
    std::shared_ptr<const Clock> clock;
    if (options.manual_clock) clock = manual = std::make_shared<ManualClock>(0);
    else clock = std::make_shared<BootClock>();
    // The PF_KEY server is where the module's ACQUIRE and EXPIRE go; it needs the handler,
    // which needs the module: the server's events are wired in before any packet flows.
    KlipsEventsRelay events;
    Klips klips(KlipsConfig{options.profile, KMOD_SIM_VERSION, clock, is_local_address, &events});
    PacketServer packets(klips);
    DevicePorts ports(klips);
    if (options.real_devices) packets.send_emitted_through(&ports);

    std::mt19937 random{std::random_device{}()};
    PfkeyHost host;
    host.device_mtu = device_mtu;
    host.manual_clock = manual.get();
    host.random = [&random] { return uint32_t(random()); };
    host.reinject = [&packets](std::vector<uint8_t> packet) { packets.reinject(std::move(packet)); };
    if (options.real_devices) {
        host.open_device = [&ports](std::string_view name, std::string_view physical, uint32_t physical_mtu) {
            return ports.open(name, physical, physical_mtu);
        };
        host.close_device = [&ports](std::string_view name) { ports.close(name); };
    }
    PfkeyHandler handler(klips, std::move(host));
    PfkeyServer server(handler);
    events.target = &server;
    if (auto error = server.listen(run_dir.pfkey_socket())) {
        starter.failed(*error);
        return 1;
    }
    if (auto error = packets.start(run_dir.packet_socket())) {
        starter.failed(*error);
        return 1;
    }
    // Declared after the server: on any return below, the packet threads (which post to the
    // server) stop before the server is destroyed, and the ipsecN devices go.
    struct PacketThreadsStop {
        PacketServer& packets;
        DevicePorts& ports;
        ~PacketThreadsStop() {
            ports.close_all();
            packets.stop();
        }
    } packet_threads_stop{packets, ports};

    std::string tree_error;
    fusefs::GeneratedTree tree = view_tree(klips, &tree_error);
    if (!tree_error.empty()) {
        starter.failed("the /proc view is malformed: " + tree_error);
        return 1;
    }
    if (auto error = make_mountpoint(options.mountpoint)) {
        starter.failed(*error);
        return 1;
    }
    fusefs::FuseView view;
    if (auto error = view.start(options.mountpoint, std::move(tree), fusefs::ViewOptions{"kmod-sim"})) {
        starter.failed("cannot mount the /proc view on " + options.mountpoint + ": " + *error);
        return 1;
    }
    if (options.mountpoint != run_dir.view()) {
        // Not fatal: the view works; only the ipsec commands will not find it through DIR.
        if (auto error = run_dir.link_view(view.mountpoint())) std::fprintf(stderr, "kmod-sim: warning: %s\n", error->c_str());
    }
    if (auto error = run_dir.write_pid()) {
        starter.failed(*error);
        return 1;
    }
    if (!options.daemonize) {
        std::printf("kmod-sim: PF_KEY on %s, /proc view on %s; stop with Ctrl-C or kill %d\n",
                    run_dir.pfkey_socket().c_str(), view.mountpoint().c_str(), getpid());
        std::fflush(stdout);
    }
    starter.ready();

    server.run(signal_fd);

    // Unmount first: readers holding files open get ENOTCONN rather than a hang.
    view.stop();
    ports.close_all();
    packets.stop();
    server.close_all();
    close(signal_fd);
    run_dir.release();
    return 0;
}

}  // namespace

}  // namespace kmod_sim::daemon

int main(int argc, char** argv) {
    using namespace kmod_sim::daemon;
    auto parsed = parse_options(argc, argv);
    if (auto* exit = std::get_if<Exit>(&parsed)) {
        std::fputs(exit->text.c_str(), exit->status == 0 ? stdout : stderr);
        return exit->status;
    }
    return run(std::get<Options>(parsed));
}
