// The TUN device behind an attached ipsecN (DESIGN.md "At run time"): IFF_TUN without packet
// information, with a virtio_net_hdr before each packet (IFF_VNET_HDR) and the checksum and
// TCP segmentation offloads on, so that one read or write can carry many TCP segments
// (tun_offload.h). It is not persistent: the kernel removes it when its descriptor closes,
// so a killed daemon leaves none behind.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "unique_fd.h"

namespace kmod_sim::daemon {

struct TunOpened {
    UniqueFd fd;        // non-blocking
    bool udp_gso = false;  // the kernel takes UDP GSO frames written to it (Linux 6.2+)
    int error = 0;      // errno when fd is empty
    std::string what;   // the step that failed, for the daemon's log
};

// Creates TUN `name` in this network namespace with `mtu`, and brings it up. EEXIST when a
// device of that name exists already (it is not ours to take over or remove); EPERM without
// CAP_NET_ADMIN.
TunOpened open_tun(std::string_view name, uint32_t mtu);

}  // namespace kmod_sim::daemon
