// fusefs: the tree's path rules, then a real mount per test case under
// /tmp/kmod-sim-fusefs-test/<case>, exercised through ordinary system calls as a reader would.
#include <catch2/catch.hpp>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <set>
#include <stdexcept>
#include <string>

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fusefs/generated_tree.h"
#include "fusefs/stale_mount.h"
#include "fusefs/view.h"

using fusefs::FuseView;
using fusefs::GeneratedTree;
using fusefs::ViewOptions;

namespace {

const std::string base_dir = "/tmp/kmod-sim-fusefs-test";
const std::string view_name = "fusefs-test";
const std::string fstype = "fuse." + view_name;

ViewOptions test_options() {
    ViewOptions options;
    options.name = view_name;
    return options;
}

// Detaches whatever is still mounted at `path` (a test that failed half-way), bounded.
void force_unmount(const std::string& path) {
    for (int i = 0; i < 16 && fusefs::count_mounts(path, "") > 0; ++i) {
        if (geteuid() == 0) {
            umount2(path.c_str(), MNT_DETACH);
        } else {
            std::string cmd = "fusermount3 -u -z '" + path + "' 2>/dev/null";
            [[maybe_unused]] int rc = std::system(cmd.c_str());
        }
    }
}

// A fresh, empty mountpoint directory, unmounted and removed again however the test ends.
class MountDir {
public:
    explicit MountDir(const std::string& name) : path_(base_dir + "/" + name) {
        mkdir(base_dir.c_str(), 0755);
        force_unmount(path_);
        rmdir(path_.c_str());
        if (mkdir(path_.c_str(), 0755) != 0)
            throw std::runtime_error("cannot create " + path_ + ": " + std::strerror(errno));
    }
    ~MountDir() {
        force_unmount(path_);
        rmdir(path_.c_str());
    }
    MountDir(const MountDir&) = delete;
    MountDir& operator=(const MountDir&) = delete;
    const std::string& path() const { return path_; }
    std::string operator/(const std::string& rel) const { return path_ + "/" + rel; }

private:
    std::string path_;
};

// A view mounted on its own MountDir; members are destroyed in reverse, so the view stops
// before the directory goes.
struct Mounted {
    MountDir dir;
    FuseView view;
    Mounted(const std::string& name, GeneratedTree tree, ViewOptions options = test_options()) : dir(name) {
        auto error = view.start(dir.path(), std::move(tree), options);
        if (error) throw std::runtime_error("start failed: " + *error);
    }
    std::string operator/(const std::string& rel) const { return dir / rel; }
};

// An fd closed at scope exit.
struct Fd {
    int fd;
    explicit Fd(int f) : fd(f) {}
    ~Fd() {
        if (fd >= 0) close(fd);
    }
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
};

// Reads `fd` from its current position to EOF in `chunk`-byte read() calls.
std::string read_rest(int fd, std::size_t chunk) {
    std::string out;
    std::string buf(chunk, '\0');
    for (;;) {
        ssize_t n = read(fd, buf.data(), chunk);
        if (n < 0) throw std::runtime_error(std::string("read: ") + std::strerror(errno));
        if (n == 0) return out;
        out.append(buf.data(), static_cast<std::size_t>(n));
    }
}

std::string read_file(const std::string& path, std::size_t chunk = 4096) {
    Fd f(open(path.c_str(), O_RDONLY));
    if (f.fd < 0) throw std::runtime_error("open " + path + ": " + std::strerror(errno));
    return read_rest(f.fd, chunk);
}

std::set<std::string> list_dir(const std::string& path) {
    std::set<std::string> names;
    DIR* d = opendir(path.c_str());
    if (!d) throw std::runtime_error("opendir " + path + ": " + std::strerror(errno));
    while (dirent* e = readdir(d)) names.insert(e->d_name);
    closedir(d);
    return names;
}

// errno of a failed call, or 0 if it succeeded.
template <typename Call>
int errno_of(Call call) {
    errno = 0;
    return call() < 0 ? errno : 0;
}

// About 5 MiB of numbered lines, all naming `generation`.
std::string big_content(long generation) {
    std::string out;
    out.reserve(5 * 1024 * 1024 + 64);
    char line[64];
    for (long i = 0; out.size() < 5 * 1024 * 1024; ++i) {
        int n = std::snprintf(line, sizeof line, "generation %ld line %ld\n", generation, i);
        out.append(line, static_cast<std::size_t>(n));
    }
    return out;
}

// The common parent of the mountpoints goes at exit, if empty.
struct RemoveBaseDir {
    ~RemoveBaseDir() { rmdir(base_dir.c_str()); }
} remove_base_dir;

// Meson's skip: the test needs /dev/fuse and the right to mount. Checked once, before Catch
// runs anything.
const bool fuse_usable = [] {
    int fd = open("/dev/fuse", O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        std::fprintf(stderr, "SKIP: cannot open /dev/fuse: %s\n", std::strerror(errno));
        std::exit(77);
    }
    close(fd);
    MountDir dir("probe");
    FuseView probe;
    if (auto error = probe.start(dir.path(), GeneratedTree{}, test_options())) {
        std::fprintf(stderr, "SKIP: mounting is not permitted here: %s\n", error->c_str());
        std::exit(77);
    }
    return true;
}();

}  // namespace

TEST_CASE("tree: paths are validated with clear errors", "[tree]") {
    GeneratedTree tree;
    auto gen = [] { return std::string("x"); };
    REQUIRE_FALSE(tree.add_file("net/ipsec/eroute/all", gen));
    REQUIRE_FALSE(tree.add_symlink("net/ipsec_eroute", "ipsec/eroute/all"));
    REQUIRE_FALSE(tree.add_file("net/ipsec/version", gen));

    auto refused = [&](std::string_view path, std::string_view words) {
        auto error = tree.add_file(path, gen);
        INFO("path: " << path);
        REQUIRE(error);
        INFO("error: " << *error);
        CHECK(error->find(words) != std::string::npos);
    };
    refused("", "empty");
    refused("/net/x", "relative");
    refused("net/", "end in '/'");
    refused("net//x", "empty component");
    refused("net/../x", "'..'");
    refused("./x", "'.'");
    refused("net/ipsec/version", "already taken by a file");
    refused("net/ipsec", "already taken by a directory");
    refused("net/ipsec/version/x", "\"net/ipsec/version\" to be a directory");
    refused("net/ipsec_eroute/x", "to be a directory");
    REQUIRE(tree.add_symlink("net/ipsec/version", "elsewhere"));
    REQUIRE(tree.add_file("y", {}));
    REQUIRE(tree.add_symlink("z", ""));

    const std::size_t before = tree.nodes().size();
    REQUIRE(tree.add_file("new/dir/../x", gen));
    CHECK(tree.nodes().size() == before);   // a refused path adds no directories

    REQUIRE(tree.find("net/ipsec/eroute/all"));
    CHECK(tree.node(*tree.find("net/ipsec/eroute")).kind == GeneratedTree::Kind::directory);
    CHECK(tree.node(*tree.find("net/ipsec_eroute")).target == "ipsec/eroute/all");
    CHECK_FALSE(tree.find("net/nothing"));
}

TEST_CASE("view: directories list their entries; modes, sizes and owners", "[view]") {
    GeneratedTree tree;
    REQUIRE_FALSE(tree.add_file("net/ipsec/eroute/all", [] { return std::string("eroutes\n"); }));
    REQUIRE_FALSE(tree.add_file("net/ipsec/version", [] { return std::string("v1\n"); }));
    REQUIRE_FALSE(tree.add_symlink("net/ipsec_eroute", "ipsec/eroute/all"));
    REQUIRE_FALSE(tree.add_file("top", [] { return std::string("top\n"); }));
    Mounted m("listing", std::move(tree));

    CHECK(fusefs::count_mounts(m.dir.path(), fstype) == 1);
    CHECK(list_dir(m.dir.path()) == std::set<std::string>{".", "..", "net", "top"});
    CHECK(list_dir(m / "net") == std::set<std::string>{".", "..", "ipsec", "ipsec_eroute"});
    CHECK(list_dir(m / "net/ipsec") == std::set<std::string>{".", "..", "eroute", "version"});
    CHECK(list_dir(m / "net/ipsec/eroute") == std::set<std::string>{".", "..", "all"});

    struct stat st {};
    REQUIRE(lstat(m.dir.path().c_str(), &st) == 0);
    CHECK(S_ISDIR(st.st_mode));
    CHECK((st.st_mode & 07777) == 0555);
    REQUIRE(lstat((m / "net/ipsec").c_str(), &st) == 0);
    CHECK(S_ISDIR(st.st_mode));
    CHECK((st.st_mode & 07777) == 0555);
    CHECK(st.st_uid == geteuid());
    CHECK(st.st_gid == getegid());

    REQUIRE(lstat((m / "net/ipsec/version").c_str(), &st) == 0);
    CHECK(S_ISREG(st.st_mode));
    CHECK((st.st_mode & 07777) == 0444);
    CHECK(st.st_size == 0);
    CHECK(st.st_nlink == 1);
    CHECK(st.st_uid == geteuid());
    const ino_t version_ino = st.st_ino;

    REQUIRE(lstat((m / "net/ipsec_eroute").c_str(), &st) == 0);
    CHECK(S_ISLNK(st.st_mode));
    CHECK((st.st_mode & 07777) == 0777);

    // Inode numbers are stable.
    REQUIRE(stat((m / "net/ipsec/version").c_str(), &st) == 0);
    CHECK(st.st_ino == version_ino);

    CHECK(errno_of([&] { return lstat((m / "net/missing").c_str(), &st); }) == ENOENT);
    CHECK(errno_of([&] { return lstat((m / "top/x").c_str(), &st); }) == ENOTDIR);

    struct statvfs vfs {};
    REQUIRE(statvfs(m.dir.path().c_str(), &vfs) == 0);
    CHECK((vfs.f_flag & ST_RDONLY) != 0);
}

TEST_CASE("view: reads give the generator's output byte for byte, one snapshot per read pass", "[view]") {
    std::atomic<long> generations{0};
    const std::string small("binary\0bytes\xff\n", 15);
    GeneratedTree tree;
    REQUIRE_FALSE(tree.add_file("small", [&] { return small; }));
    REQUIRE_FALSE(tree.add_file("empty", [] { return std::string(); }));
    REQUIRE_FALSE(tree.add_file("big", [&] { return big_content(++generations); }));
    Mounted m("content", std::move(tree));

    CHECK(read_file(m / "small") == small);
    CHECK(read_file(m / "small", 1) == small);
    CHECK(read_file(m / "empty").empty());

    // 5 MiB in 4 KiB reads: 1280 READ requests, all served from the snapshot made at offset 0,
    // although the generator would give different bytes on every call.
    const std::string first = read_file(m / "big", 4096);
    CHECK(generations == 1);
    CHECK(first.size() >= 5 * 1024 * 1024);
    CHECK(first == big_content(1));

    const std::string second = read_file(m / "big", 128 * 1024);
    CHECK(generations == 2);
    CHECK(second == big_content(2));
}

TEST_CASE("view: lseek(0) or pread at 0 on an open file shows new content", "[view]") {
    std::atomic<long> counter{0};
    GeneratedTree tree;
    REQUIRE_FALSE(tree.add_file("counter", [&] { return "count " + std::to_string(++counter) + "\n"; }));
    Mounted m("reread", std::move(tree));

    Fd f(open((m / "counter").c_str(), O_RDONLY));
    REQUIRE(f.fd >= 0);
    CHECK(read_rest(f.fd, 4096) == "count 1\n");
    CHECK(read_rest(f.fd, 4096).empty());   // at EOF: served from the snapshot, no regeneration
    CHECK(counter == 1);

    REQUIRE(lseek(f.fd, 0, SEEK_SET) == 0);
    CHECK(read_rest(f.fd, 4096) == "count 2\n");

    char buf[64] = {};
    ssize_t n = pread(f.fd, buf, sizeof buf, 0);
    REQUIRE(n > 0);
    CHECK(std::string(buf, static_cast<std::size_t>(n)) == "count 3\n");

    // A read at a later offset continues the same snapshot.
    n = pread(f.fd, buf, sizeof buf, 6);
    REQUIRE(n > 0);
    CHECK(std::string(buf, static_cast<std::size_t>(n)) == "3\n");
    CHECK(counter == 3);
}

TEST_CASE("view: symlinks read back their targets and lead to their files", "[view]") {
    GeneratedTree tree;
    REQUIRE_FALSE(tree.add_file("net/ipsec/eroute/all", [] { return std::string("the eroutes\n"); }));
    REQUIRE_FALSE(tree.add_symlink("net/ipsec_eroute", "ipsec/eroute/all"));
    REQUIRE_FALSE(tree.add_symlink("dangling", "nowhere"));
    Mounted m("symlinks", std::move(tree));

    char target[256] = {};
    ssize_t n = readlink((m / "net/ipsec_eroute").c_str(), target, sizeof target);
    REQUIRE(n > 0);
    CHECK(std::string(target, static_cast<std::size_t>(n)) == "ipsec/eroute/all");
    CHECK(read_file(m / "net/ipsec_eroute") == "the eroutes\n");

    struct stat st {};
    CHECK(errno_of([&] { return stat((m / "dangling").c_str(), &st); }) == ENOENT);
    CHECK(errno_of([&] { return static_cast<int>(readlink((m / "net").c_str(), target, sizeof target)); }) == EINVAL);
}

// With the "ro" mount option (the default) the kernel refuses every change itself, before the
// daemon sees it: EROFS even for open(O_WRONLY), since the read-only check on the superblock
// comes before the permission check. The daemon's own refusals (EACCES on open for writing,
// EROFS for the rest) are checked on a mount without "ro".
TEST_CASE("view: every change is refused", "[view]") {
    const bool kernel_read_only = GENERATE(true, false);
    ViewOptions options = test_options();
    options.kernel_read_only = kernel_read_only;
    GeneratedTree tree;
    REQUIRE_FALSE(tree.add_file("dir/file", [] { return std::string("content\n"); }));
    Mounted m(kernel_read_only ? "refusals-ro" : "refusals-rw", std::move(tree), options);
    const std::string file = m / "dir/file";
    const std::string dir = m / "dir";
    INFO("kernel_read_only = " << kernel_read_only << ", euid = " << geteuid());

    // Open for writing: the kernel answers EROFS on a ro mount. Without ro, root passes
    // default_permissions (CAP_DAC_OVERRIDE) and our open handler says EACCES; a non-root
    // caller gets the same EACCES from default_permissions (mode 0444).
    const int open_errno = kernel_read_only ? EROFS : EACCES;
    CHECK(errno_of([&] { return open(file.c_str(), O_WRONLY); }) == open_errno);
    CHECK(errno_of([&] { return open(file.c_str(), O_RDWR); }) == open_errno);
    CHECK(errno_of([&] { return open(file.c_str(), O_WRONLY | O_APPEND); }) == open_errno);
    CHECK(errno_of([&] { return open(file.c_str(), O_RDONLY | O_TRUNC); }) == open_errno);

    // Changes to names and attributes: EROFS from the kernel on a ro mount; without ro, root's
    // requests reach the daemon, which answers EROFS, while a non-root caller is stopped by
    // default_permissions (0555 directories, files owned by the daemon) with EACCES or EPERM.
    const bool root = geteuid() == 0;
    const int name_errno = kernel_read_only || root ? EROFS : EACCES;
    const int attr_errno = kernel_read_only || root ? EROFS : EPERM;
    CHECK(errno_of([&] { return creat((m / "dir/new").c_str(), 0644); }) == name_errno);
    CHECK(errno_of([&] { return mkdir((m / "dir/newdir").c_str(), 0755); }) == name_errno);
    CHECK(errno_of([&] { return unlink(file.c_str()); }) == name_errno);
    CHECK(errno_of([&] { return rmdir(dir.c_str()); }) == name_errno);
    CHECK(errno_of([&] { return rename(file.c_str(), (m / "dir/moved").c_str()); }) == name_errno);
    CHECK(errno_of([&] { return symlink("x", (m / "dir/link").c_str()); }) == name_errno);
    CHECK(errno_of([&] { return link(file.c_str(), (m / "dir/hard").c_str()); }) == name_errno);
    CHECK(errno_of([&] { return chmod(file.c_str(), 0666); }) == attr_errno);
    CHECK(errno_of([&] { return truncate(file.c_str(), 0); }) == (kernel_read_only || root ? EROFS : EACCES));

    // Nothing changed.
    CHECK(read_file(file) == "content\n");
    CHECK(list_dir(dir) == std::set<std::string>{".", "..", "file"});
}

TEST_CASE("view: stop() returns promptly while a reader holds a file open", "[view]") {
    GeneratedTree tree;
    REQUIRE_FALSE(tree.add_file("held", [] { return std::string(100000, 'h'); }));
    Mounted m("stop-open", std::move(tree));

    Fd f(open((m / "held").c_str(), O_RDONLY));
    REQUIRE(f.fd >= 0);
    char buf[16];
    REQUIRE(read(f.fd, buf, sizeof buf) == static_cast<ssize_t>(sizeof buf));

    const auto begin = std::chrono::steady_clock::now();
    m.view.stop();
    const auto elapsed = std::chrono::steady_clock::now() - begin;
    INFO("stop() took " << std::chrono::duration_cast<std::chrono::milliseconds>(elapsed).count() << " ms");
    CHECK(elapsed < std::chrono::seconds(1));
    CHECK_FALSE(m.view.running());
    CHECK(fusefs::count_mounts(m.dir.path(), "") == 0);

    // The held file is cut off: the connection was aborted.
    CHECK(errno_of([&] { return static_cast<int>(read(f.fd, buf, sizeof buf)); }) == ENOTCONN);
    m.view.stop();   // idempotent
}

TEST_CASE("view: a dead mount left by a killed process is detached before mounting", "[view]") {
    MountDir dir("stale");
    int ready[2];
    REQUIRE(pipe2(ready, O_CLOEXEC) == 0);
    const pid_t child = fork();
    REQUIRE(child >= 0);
    if (child == 0) {
        // The child mounts, says so, and waits to be killed; it never returns into Catch.
        close(ready[0]);
        GeneratedTree tree;
        if (tree.add_file("file", [] { return std::string("old\n"); })) _exit(2);
        auto* view = new FuseView;   // never destroyed: the process dies with SIGKILL
        if (view->start(dir.path(), std::move(tree), test_options())) _exit(3);
        if (write(ready[1], "R", 1) != 1) _exit(4);
        for (;;) pause();
    }
    close(ready[1]);
    pollfd p {ready[0], POLLIN, 0};
    const int polled = poll(&p, 1, 10000);
    char c = 0;
    const bool child_ready = polled == 1 && read(ready[0], &c, 1) == 1 && c == 'R';
    close(ready[0]);
    kill(child, SIGKILL);
    int status = 0;
    REQUIRE(waitpid(child, &status, 0) == child);
    INFO("child exit status " << status);
    REQUIRE(child_ready);   // else the child could not mount (or took over 10 s)

    struct stat st {};
    CHECK(errno_of([&] { return stat(dir.path().c_str(), &st); }) == ENOTCONN);
    CHECK(fusefs::count_mounts(dir.path(), fstype) == 1);

    GeneratedTree tree;
    REQUIRE_FALSE(tree.add_file("file", [] { return std::string("new\n"); }));
    FuseView view;
    auto error = view.start(dir.path(), std::move(tree), test_options());
    INFO("start: " << error.value_or("ok"));
    REQUIRE_FALSE(error);
    CHECK(fusefs::count_mounts(dir.path(), "") == 1);   // ours alone, not stacked on the dead one
    CHECK(read_file(dir / "file") == "new\n");
    view.stop();
    CHECK(fusefs::count_mounts(dir.path(), "") == 0);
}

TEST_CASE("view: two views side by side serve their own trees", "[view]") {
    GeneratedTree a, b;
    REQUIRE_FALSE(a.add_file("name", [] { return std::string("first\n"); }));
    REQUIRE_FALSE(a.add_file("only-a", [] { return std::string("a\n"); }));
    REQUIRE_FALSE(b.add_file("name", [] { return std::string("second\n"); }));
    Mounted first("side-a", std::move(a));
    Mounted second("side-b", std::move(b));

    CHECK(read_file(first / "name") == "first\n");
    CHECK(read_file(second / "name") == "second\n");
    CHECK(list_dir(first.dir.path()) == std::set<std::string>{".", "..", "name", "only-a"});
    CHECK(list_dir(second.dir.path()) == std::set<std::string>{".", "..", "name"});

    first.view.stop();
    CHECK(read_file(second / "name") == "second\n");
}

TEST_CASE("view: a generator that throws gives EIO, and the view keeps serving", "[view]") {
    GeneratedTree tree;
    REQUIRE_FALSE(tree.add_file("broken", []() -> std::string { throw std::runtime_error("boom"); }));
    REQUIRE_FALSE(tree.add_file("fine", [] { return std::string("fine\n"); }));
    Mounted m("throwing", std::move(tree));

    Fd f(open((m / "broken").c_str(), O_RDONLY));
    REQUIRE(f.fd >= 0);
    char buf[16];
    CHECK(errno_of([&] { return static_cast<int>(read(f.fd, buf, sizeof buf)); }) == EIO);
    CHECK(read_file(m / "fine") == "fine\n");
}

TEST_CASE("view: start() explains what is wrong", "[view]") {
    MountDir dir("start-errors");
    FuseView view;
    auto error = view.start(dir / "missing", GeneratedTree{}, test_options());
    REQUIRE(error);
    CHECK(error->find(dir / "missing") != std::string::npos);
    CHECK(error->find("No such file or directory") != std::string::npos);

    ViewOptions bad = test_options();
    bad.name = "a,allow_other";
    error = view.start(dir.path(), GeneratedTree{}, bad);
    REQUIRE(error);
    CHECK(error->find("view name") != std::string::npos);

    REQUIRE_FALSE(view.start(dir.path(), GeneratedTree{}, test_options()));
    error = view.start(dir.path(), GeneratedTree{}, test_options());
    REQUIRE(error);
    CHECK(error->find("already started") != std::string::npos);
}

TEST_CASE("view: an unmount from outside ends the session; stop() still returns", "[view]") {
    if (geteuid() != 0) return;   // umount2 needs root; fusermount3 -u would do the same
    GeneratedTree tree;
    REQUIRE_FALSE(tree.add_file("f", [] { return std::string("f\n"); }));
    Mounted m("external-unmount", std::move(tree));
    CHECK(read_file(m / "f") == "f\n");
    REQUIRE(umount2(m.dir.path().c_str(), MNT_DETACH) == 0);

    const auto begin = std::chrono::steady_clock::now();
    m.view.stop();
    CHECK(std::chrono::steady_clock::now() - begin < std::chrono::seconds(1));
    CHECK_FALSE(m.view.running());
    CHECK(fusefs::count_mounts(m.dir.path(), "") == 0);
}
