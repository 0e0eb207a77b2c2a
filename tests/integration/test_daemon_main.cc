// test_daemon: the kmod-sim daemon's integration tests (issue 4). Catch2's main comes from
// tests/unit/catch_main.cc; this file holds what must happen before any test runs.
//
// Skips (exit 77, meson's "skipped") when the daemon cannot be mounted here: not root, no
// /dev/fuse, or no KMOD_SIM_BIN. Makes this process a child subreaper so that the background
// daemon left by `kmod-sim --daemon` is reparented to us and can be reaped with a bounded
// waitpid (daemon_instance.h).
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon_instance.h"

namespace {

const bool environment_ready = [] {
    if (geteuid() != 0) {
        std::fprintf(stderr, "SKIP: the daemon tests mount FUSE views and switch users: they need root\n");
        std::exit(77);
    }
    int fd = open("/dev/fuse", O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        std::fprintf(stderr, "SKIP: cannot open /dev/fuse: %s\n", std::strerror(errno));
        std::exit(77);
    }
    close(fd);
    const std::string bin = it::kmod_sim_bin();
    if (bin.empty() || access(bin.c_str(), X_OK) != 0) {
        std::fprintf(stderr, "SKIP: KMOD_SIM_BIN does not name an executable kmod-sim (%s)\n", bin.c_str());
        std::exit(77);
    }
    if (prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) {
        std::fprintf(stderr, "cannot become a child subreaper: %s\n", std::strerror(errno));
        std::exit(1);
    }
    std::signal(SIGPIPE, SIG_IGN);
    mkdir(it::kBaseDir.c_str(), 0755);
    return true;
}();

// The common parent of the run dirs goes at exit, if empty.
struct RemoveBaseDir {
    ~RemoveBaseDir() { rmdir(it::kBaseDir.c_str()); }
} remove_base_dir;

}  // namespace
