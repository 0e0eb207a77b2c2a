#include "tun_device.h"

#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

namespace kmod_sim::daemon {

namespace {

TunOpened failed(int error, std::string what) {
    TunOpened result;
    result.error = error;
    result.what = std::move(what);
    return result;
}

void set_name(ifreq& request, std::string_view name) {
    std::memset(&request, 0, sizeof request);
    std::memcpy(request.ifr_name, name.data(), name.size());
}

}  // namespace

TunOpened open_tun(std::string_view name, uint32_t mtu) {
    if (name.empty() || name.size() >= IFNAMSIZ) return failed(EINVAL, "device name");
    const std::string name_text(name);
    // TUNSETIFF would quietly join an existing persistent TUN of that name, which would then
    // outlive us; and fail in less clear ways for other kinds of device.
    if (if_nametoindex(name_text.c_str()) != 0) return failed(EEXIST, "a network device named " + name_text);

    UniqueFd fd(open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC));
    if (!fd) return failed(errno, "/dev/net/tun");
    ifreq request;
    set_name(request, name);
    request.ifr_flags = IFF_TUN | IFF_NO_PI | IFF_VNET_HDR;
    if (ioctl(fd.get(), TUNSETIFF, &request) != 0) return failed(errno, "TUNSETIFF " + name_text);
    // A kernel that knows the UDP segmentation offload flags (6.2+) also accepts UDP GSO
    // frames: ask, then settle on TCP only for reads (no UDP super-packets to split).
    const unsigned offloads = TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6;
    const unsigned uso = 0x20 | 0x40;  // TUN_F_USO4 | TUN_F_USO6, newer than Debian 12's headers
    const bool udp_gso = ioctl(fd.get(), TUNSETOFFLOAD, offloads | uso) == 0;
    if (ioctl(fd.get(), TUNSETOFFLOAD, offloads) != 0) return failed(errno, "TUNSETOFFLOAD " + name_text);

    UniqueFd control(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    if (!control) return failed(errno, "socket");
    set_name(request, name);
    request.ifr_mtu = static_cast<int>(mtu);
    if (ioctl(control.get(), SIOCSIFMTU, &request) != 0) return failed(errno, "SIOCSIFMTU " + name_text);
    set_name(request, name);
    if (ioctl(control.get(), SIOCGIFFLAGS, &request) != 0) return failed(errno, "SIOCGIFFLAGS " + name_text);
    request.ifr_flags = static_cast<short>(request.ifr_flags | IFF_UP);
    if (ioctl(control.get(), SIOCSIFFLAGS, &request) != 0) return failed(errno, "SIOCSIFFLAGS " + name_text);
    TunOpened result;
    result.fd = std::move(fd);
    result.udp_gso = udp_gso;
    return result;
}

}  // namespace kmod_sim::daemon
