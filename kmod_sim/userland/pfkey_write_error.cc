#include "pfkey_write_error.h"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace kmod_sim::userland {

void print_pfkey_write_error(int error) {
    switch (error) {
    case EACCES:
        std::fprintf(stderr, "access denied.  %s\n",
                     getuid() == 0 ? "Check permissions.  Should be 600." : "You must be root to open this file.");
        break;
    case EUNATCH: std::fprintf(stderr, "Netlink not enabled OR KLIPS not loaded.\n"); break;
    case EBUSY:
        std::fprintf(stderr, "KLIPS is busy.  Most likely a serious internal error occured in a previous command.  "
                             "Please report as much detail as possible to development team.\n");
        break;
    case EINVAL: std::fprintf(stderr, "Invalid argument, check kernel log messages for specifics.\n"); break;
    case ENODEV: std::fprintf(stderr, "KLIPS not loaded or enabled.\nNo device?!?\n"); break;
    case ENOBUFS: std::fprintf(stderr, "No kernel memory to allocate SA.\n"); break;
    case ESOCKTNOSUPPORT:
        std::fprintf(stderr, "Algorithm support not available in the kernel.  Please compile in support.\n");
        break;
    case EEXIST: std::fprintf(stderr, "SA already in use.  Delete old one first.\n"); break;
    case ENOENT: std::fprintf(stderr, "device does not exist.  See FreeS/WAN installation procedure.\n"); break;
    case ENXIO:
    case ESRCH: std::fprintf(stderr, "SA does not exist.  Cannot delete.\n"); break;
    case ENOSPC: std::fprintf(stderr, "no room in kernel SAref table.  Cannot process request.\n"); break;
    case ESPIPE: std::fprintf(stderr, "kernel SAref table internal error.  Cannot process request.\n"); break;
    default:
        std::fprintf(stderr, "Unknown socket write error %d (%s).  Please report as much detail as possible to "
                             "development team.\n", error, std::strerror(error));
    }
}

}  // namespace kmod_sim::userland
