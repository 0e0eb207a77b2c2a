// The ipsecN devices made real (`kmod-sim --devices real`, the default): one DevicePort per
// attached device, opened by `ipsec tncfg --attach` and closed by --detach, --clear and the
// daemon's exit. The PF_KEY thread opens and closes them; each runs its own packet thread.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>

#include "device_port.h"
#include "kmod_sim/module/pfkey_handler.h"
#include "raw_sockets.h"

namespace kmod_sim::daemon {

class DevicePorts {
public:
    explicit DevicePorts(Klips& klips) : klips_(klips) {}
    ~DevicePorts() { close_all(); }
    DevicePorts(const DevicePorts&) = delete;
    DevicePorts& operator=(const DevicePorts&) = delete;

    // PfkeyHost::open_device: the TUN's MTU, or errno (EPERM without CAP_NET_ADMIN or
    // CAP_NET_RAW, EEXIST when a device of that name exists); the reason goes to stderr.
    DeviceOpened open(std::string_view virtual_name, std::string_view physical, uint32_t physical_mtu);
    void close(std::string_view virtual_name);
    void close_all();

    // Whether any device is real: then packets the engine sends on its own (held packets
    // re-sent after REPLACEFLOW) go to the network rather than to `ipsec inject`'s collect.
    bool any_open() const { return open_count_.load(std::memory_order_acquire) > 0; }
    // Such a packet, routed by its destination. From the injection thread only.
    void send_routed(std::span<const uint8_t> packet);

private:
    Klips& klips_;
    std::mutex mutex_;  // ports_
    std::map<std::string, std::unique_ptr<DevicePort>, std::less<>> ports_;
    RawSender routed_;  // opened with the first port, before open_count_ says so
    bool routed_open_ = false;
    std::atomic<size_t> open_count_{0};
};

}  // namespace kmod_sim::daemon
