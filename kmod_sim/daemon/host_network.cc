#include "host_network.h"

#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <memory>
#include <string>

namespace kmod_sim::daemon {

bool is_local_address(const IpAddress& address) {
    ifaddrs* list = nullptr;
    if (getifaddrs(&list) != 0) return false;
    std::unique_ptr<ifaddrs, decltype(&freeifaddrs)> owner(list, freeifaddrs);
    for (const ifaddrs* ifa = list; ifa; ifa = ifa->ifa_next) {
        const sockaddr* sa = ifa->ifa_addr;
        if (!sa) continue;
        if (sa->sa_family == AF_INET && address.is_v4()) {
            const auto* in = reinterpret_cast<const sockaddr_in*>(sa);
            if (std::memcmp(&in->sin_addr, address.bytes().data(), 4) == 0) return true;
        } else if (sa->sa_family == AF_INET6 && address.is_v6()) {
            const auto* in6 = reinterpret_cast<const sockaddr_in6*>(sa);
            if (std::memcmp(&in6->sin6_addr, address.bytes().data(), 16) == 0) return true;
        }
    }
    return false;
}

std::optional<uint32_t> device_mtu_through(int socket, std::string_view name) {
    if (name.empty() || name.size() >= IFNAMSIZ) return std::nullopt;
    ifreq request{};
    std::memcpy(request.ifr_name, name.data(), name.size());
    if (ioctl(socket, SIOCGIFMTU, &request) != 0 || request.ifr_mtu <= 0) return std::nullopt;
    return static_cast<uint32_t>(request.ifr_mtu);
}

std::optional<uint32_t> device_mtu(std::string_view name) {
    const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return std::nullopt;
    auto mtu = device_mtu_through(fd, name);
    close(fd);
    return mtu;
}

}  // namespace kmod_sim::daemon
