#include "proc_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace kmod_sim::userland {

int print_proc_file(const Invocation& invocation, std::string_view relative, std::string_view what) {
    const std::string path = invocation.instance.proc_file(relative);
    const int fd = invocation.instance.dir.empty() ? -1 : open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        std::fprintf(stderr, "%s: No %.*s - no IPsec support in kernel (are the modules loaded?)\n",
                     invocation.name.c_str(), static_cast<int>(what.size()), what.data());
        return 1;
    }
    std::fflush(stdout);
    char buffer[128 * 1024];
    int status = 0;
    for (;;) {
        ssize_t n = read(fd, buffer, sizeof buffer);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            std::fprintf(stderr, "%s: cannot read %s: %s\n", invocation.name.c_str(), path.c_str(), std::strerror(errno));
            status = 1;
            break;
        }
        if (n == 0) break;
        for (ssize_t at = 0; at < n;) {
            ssize_t w = write(STDOUT_FILENO, buffer + at, static_cast<size_t>(n - at));
            if (w < 0 && errno == EINTR) continue;
            if (w <= 0) {
                close(fd);
                return 1;  // stdout is gone (a closed pipe): cat would stop too
            }
            at += w;
        }
    }
    close(fd);
    return status;
}

}  // namespace kmod_sim::userland
