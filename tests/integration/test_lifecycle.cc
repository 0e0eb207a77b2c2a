// The daemon's life: readiness, the run dir layout, SIGTERM/SIGINT/SIGHUP, kill -9 and
// recovery, a second instance on a live run dir, --mount; and the view's protection: no
// change of any kind, readable by an unprivileged user who may not use PF_KEY.
#include <catch2/catch.hpp>

#include <grp.h>
#include <sys/stat.h>
#include <sys/time.h>

#include "daemon_instance.h"
#include "pfkey_test_client.h"
#include "scenario.h"

using namespace it;

namespace {

bool exists(const std::string& path) {
    struct stat st;
    return lstat(path.c_str(), &st) == 0;
}

// The view answers and PF_KEY works: the instance is fully up.
void check_serving(const DaemonInstance& d) {
    CHECK(read_view_file(d.view("net/ipsec/version")).ends_with(" version: 0.1.0\n"));
    PfkeyClient c(d.pfkey_path());
    ok(c, addflow({"10.77.0.0", 16, "0.0.0.0", 0}, {kInt, kSpiPass, "0.0.0.0"}), "eroute on the instance");
    CHECK(read_view_file(d.view("net/ipsec_eroute")).find("10.77.0.0/16") != std::string::npos);
    ok(c, delflow({"10.77.0.0", 16, "0.0.0.0", 0}), "and away again");
}

}  // namespace

TEST_CASE("lifecycle: --daemon returns when ready; the run dir layout", "[lifecycle]") {
    DaemonInstance d("layout");
    d.start_or_throw();
    CHECK(fstype_at(d.mount()) == "fuse.kmod-sim");
    struct stat st;
    REQUIRE(stat(d.pfkey_path().c_str(), &st) == 0);
    CHECK(S_ISSOCK(st.st_mode));
    CHECK((st.st_mode & 07777) == 0600);
    CHECK(slurp(d.pid_file()) == std::to_string(d.pid()) + "\n");
    REQUIRE(stat(d.view("net/ipsec/version").c_str(), &st) == 0);
    CHECK((st.st_mode & 07777) == 0444);
    REQUIRE(stat(d.view("net/ipsec").c_str(), &st) == 0);
    CHECK((st.st_mode & 07777) == 0555);
    check_serving(d);

    CHECK(describe_status(d.stop(SIGTERM)) == "exit 0");
    CHECK(count_mounts_at(d.mount()) == 0);
    CHECK_FALSE(exists(d.pfkey_path()));
    CHECK_FALSE(exists(d.pid_file()));
}

TEST_CASE("lifecycle: SIGINT stops it cleanly too", "[lifecycle]") {
    DaemonInstance d("sigint");
    d.start_or_throw();
    CHECK(describe_status(d.stop(SIGINT)) == "exit 0");
    CHECK(count_mounts_at(d.mount()) == 0);
    CHECK_FALSE(exists(d.pfkey_path()));
    CHECK_FALSE(exists(d.pid_file()));
}

TEST_CASE("lifecycle: foreground mode runs until a signal", "[lifecycle]") {
    SECTION("SIGTERM") {
        DaemonInstance d("foreground-term");
        d.start_foreground_or_throw();
        check_serving(d);
        CHECK(describe_status(d.stop(SIGTERM)) == "exit 0");
        CHECK(count_mounts_at(d.mount()) == 0);
        CHECK_FALSE(exists(d.pid_file()));
    }
    SECTION("SIGHUP") {
        DaemonInstance d("foreground-hup");
        d.start_foreground_or_throw();
        const int status = d.stop(SIGHUP);
        INFO(describe_status(status));
        CHECK(count_mounts_at(d.mount()) == 0);
        CHECK_FALSE(exists(d.pfkey_path()));
        CHECK_FALSE(exists(d.pid_file()));
    }
}

TEST_CASE("lifecycle: --mount puts the view elsewhere", "[lifecycle]") {
    DaemonInstance d("mount-option");
    const std::string mnt = kBaseDir + "/mount-option-view";
    detach_mounts_under(mnt);
    rmdir(mnt.c_str());
    REQUIRE(mkdir(mnt.c_str(), 0755) == 0);
    d.set_mount(mnt);
    d.start_or_throw();
    CHECK(fstype_at(mnt) == "fuse.kmod-sim");
    CHECK(count_mounts_at(d.dir() + "/proc") == 0);
    check_serving(d);
    CHECK(describe_status(d.stop()) == "exit 0");
    CHECK(count_mounts_at(mnt) == 0);
    rmdir(mnt.c_str());
}

TEST_CASE("lifecycle: a second instance on a live run dir is refused", "[lifecycle]") {
    DaemonInstance d("in-use");
    d.start_or_throw();
    RunResult second = run_command(d.command(), "in-use-second");
    INFO(second.describe());
    CHECK(second.exit_code == 1);
    CHECK(second.err == "kmod-sim: " + d.dir() + " is in use by another kmod-sim (pid " + std::to_string(d.pid()) +
                            ")\n");
    // The first one is untouched.
    CHECK(slurp(d.pid_file()) == std::to_string(d.pid()) + "\n");
    CHECK(count_mounts_at(d.mount()) == 1);
    check_serving(d);
}

TEST_CASE("lifecycle: after kill -9 a new instance on the same run dir recovers", "[lifecycle]") {
    DaemonInstance d("kill9");
    d.start_or_throw();
    {
        PfkeyClient c(d.pfkey_path());
        ok(c, addflow({"10.66.0.0", 16, "0.0.0.0", 0}, {kInt, kSpiDrop, "0.0.0.0"}), "state to lose");
    }
    d.kill9();
    // What a crash leaves: a dead mount (unless an auto_unmount helper took it away), a
    // socket file nobody listens on, the pid file.
    if (count_mounts_at(d.mount()) > 0) {
        struct stat st;
        errno = 0;
        CHECK(stat(d.view("net").c_str(), &st) != 0);
        CHECK(errno_name(errno) == errno_name(ENOTCONN));
    }
    CHECK(connect_errno(d.pfkey_path()) != 0);

    d.start_or_throw();
    CHECK(count_mounts_at(d.mount()) == 1);  // the dead one detached, not stacked under
    CHECK(read_view_file(d.view("net/ipsec_eroute")).empty());
    check_serving(d);
    CHECK(describe_status(d.stop()) == "exit 0");
    CHECK(count_mounts_at(d.mount()) == 0);
}

TEST_CASE("lifecycle: SIGTERM unmounts within 1 s while a reader holds a file open", "[lifecycle]") {
    DaemonInstance d("busy-unmount");
    d.start_or_throw();
    Fd held(open(d.view("net/ipsec/version").c_str(), O_RDONLY));
    REQUIRE(held.fd >= 0);
    char c;
    REQUIRE(read(held.fd, &c, 1) == 1);
    Fd held_dir(open(d.view("net/ipsec").c_str(), O_RDONLY | O_DIRECTORY));
    REQUIRE(held_dir.fd >= 0);

    const auto t0 = Clock::now();
    kill(d.pid(), SIGTERM);
    const bool unmounted = poll_until(milliseconds(5000), [&] { return count_mounts_at(d.mount()) == 0; });
    const auto took = std::chrono::duration_cast<milliseconds>(Clock::now() - t0).count();
    INFO("unmounted: " << unmounted << " after " << took << " ms");
    REQUIRE(unmounted);
    CHECK(took < 1000);
    auto status = wait_exit(d.pid(), milliseconds(5000));
    REQUIRE(status.has_value());
    CHECK(describe_status(*status) == "exit 0");
    d.forget();
    CHECK_FALSE(exists(d.pfkey_path()));
    CHECK_FALSE(exists(d.pid_file()));
}

TEST_CASE("view: no change of any kind is possible", "[view][readonly]") {
    DaemonInstance d("readonly");
    d.start_or_throw();
    const std::string file = d.view("net/ipsec/eroute/all");
    const std::string dir = d.view("net/ipsec");
    auto refused = [](const char* what, int rc) {
        const int e = rc < 0 ? errno : 0;
        INFO(what << ": " << errno_name(e));
        CHECK(rc < 0);
        CHECK((e == EACCES || e == EROFS));
    };
    auto open_rc = [](const std::string& p, int flags) {
        int fd = open(p.c_str(), flags, 0644);
        if (fd >= 0) close(fd);
        return fd;
    };
    refused("open O_WRONLY", open_rc(file, O_WRONLY));
    refused("open O_RDWR", open_rc(file, O_RDWR));
    refused("open O_RDONLY|O_TRUNC", open_rc(file, O_RDONLY | O_TRUNC));
    refused("open O_WRONLY|O_APPEND", open_rc(file, O_WRONLY | O_APPEND));
    refused("open O_CREAT new file", open_rc(dir + "/newfile", O_WRONLY | O_CREAT));
    refused("creat over a file", open_rc(file, O_WRONLY | O_CREAT | O_TRUNC));
    refused("chmod", chmod(file.c_str(), 0666));
    refused("chown", chown(file.c_str(), 1, 1));
    refused("truncate", truncate(file.c_str(), 0));
    refused("utimes", utimes(file.c_str(), nullptr));
    refused("unlink", unlink(file.c_str()));
    refused("unlink symlink", unlink(d.view("net/ipsec_eroute").c_str()));
    refused("mkdir", mkdir((dir + "/newdir").c_str(), 0755));
    refused("rmdir", rmdir(d.view("net/ipsec/stats").c_str()));
    refused("rename", rename(file.c_str(), (dir + "/renamed").c_str()));
    refused("symlink", symlink("eroute/all", (dir + "/newlink").c_str()));
    refused("link", link(file.c_str(), (dir + "/hardlink").c_str()));
    refused("mknod", mknod((dir + "/fifo").c_str(), S_IFIFO | 0644, 0));
    // Nothing changed.
    CHECK(read_view_file(file).empty());
    struct stat st;
    CHECK(stat((dir + "/newfile").c_str(), &st) != 0);
    CHECK(read_view_file(d.view("net/ipsec/version")) == "FreeS/WAN version: 0.1.0\n");
}

TEST_CASE("view: an unprivileged user reads the view but may not use PF_KEY", "[view][permissions]") {
    DaemonInstance d("nobody");
    d.start_or_throw();
    // The child reports each finding as one byte over a pipe; exit status 0 means all done.
    int fds[2];
    REQUIRE(pipe(fds) == 0);
    pid_t child = fork();
    REQUIRE(child >= 0);
    if (child == 0) {
        close(fds[0]);
        auto report = [&](char code) { (void)!write(fds[1], &code, 1); };
        if (setgroups(0, nullptr) != 0 || setresgid(65534, 65534, 65534) != 0 || setresuid(65534, 65534, 65534) != 0)
            _exit(10);
        // 'r': read the version file; 'l': read through a symlink; 'w': write refused;
        // 'c': connect refused with EACCES (else 'C').
        try {
            if (read_view_file(d.view("net/ipsec/version")) == "FreeS/WAN version: 0.1.0\n") report('r');
            if (read_view_file(d.view("net/ipsec_version")) == "FreeS/WAN version: 0.1.0\n") report('l');
        } catch (...) {
        }
        int fd = open(d.view("net/ipsec/version").c_str(), O_WRONLY);
        if (fd < 0 && (errno == EACCES || errno == EROFS)) report('w');
        const int e = connect_errno(d.pfkey_path());
        report(e == EACCES ? 'c' : 'C');
        _exit(0);
    }
    close(fds[1]);
    auto status = wait_exit(child, milliseconds(10000));
    std::string codes;
    char buf[16];
    ssize_t n;
    while ((n = read(fds[0], buf, sizeof buf)) > 0) codes.append(buf, static_cast<size_t>(n));
    close(fds[0]);
    REQUIRE(status.has_value());
    INFO("child " << describe_status(*status) << ", findings '" << codes << "' (r read, l symlink, w write "
                  << "refused, c connect EACCES, C connect not EACCES)");
    REQUIRE(describe_status(*status) == "exit 0");
    CHECK(codes.find('r') != std::string::npos);
    CHECK(codes.find('l') != std::string::npos);
    CHECK(codes.find('w') != std::string::npos);
    CHECK(codes.find('c') != std::string::npos);
}
