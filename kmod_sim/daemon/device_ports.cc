#include "device_ports.h"

#include <cstdio>
#include <cstring>

namespace kmod_sim::daemon {

DeviceOpened DevicePorts::open(std::string_view virtual_name, std::string_view physical, uint32_t physical_mtu) {
    const std::string name(virtual_name);
    auto log_failure = [&name, &physical](int error, const std::string& what) {
        std::fprintf(stderr, "kmod-sim: cannot attach %s to %.*s: %s: %s\n", name.c_str(), int(physical.size()),
                     physical.data(), what.c_str(), std::strerror(error));
        return DeviceOpened{error, 0};
    };
    std::lock_guard lock(mutex_);
    if (ports_.count(name)) return DeviceOpened{EBUSY, 0};
    if (!routed_open_) {
        std::string what;
        if (int error = routed_.open("", &what)) return log_failure(error, what);
        routed_open_ = true;
    }
    DevicePort::Opened opened = DevicePort::open(klips_, name, std::string(physical), physical_mtu);
    if (!opened.port) return log_failure(opened.error, opened.what);
    ports_.emplace(name, std::move(opened.port));
    open_count_.store(ports_.size(), std::memory_order_release);
    return DeviceOpened{0, opened.mtu};
}

void DevicePorts::close(std::string_view virtual_name) {
    std::unique_ptr<DevicePort> closing;
    {
        std::lock_guard lock(mutex_);
        auto found = ports_.find(virtual_name);
        if (found == ports_.end()) return;
        closing = std::move(found->second);
        ports_.erase(found);
        open_count_.store(ports_.size(), std::memory_order_release);
    }
    // Joined outside the lock; the port's thread never takes it.
}

void DevicePorts::close_all() {
    std::map<std::string, std::unique_ptr<DevicePort>, std::less<>> closing;
    {
        std::lock_guard lock(mutex_);
        closing.swap(ports_);
        open_count_.store(0, std::memory_order_release);
    }
}

void DevicePorts::send_routed(std::span<const uint8_t> packet) {
    routed_.queue(packet);
    routed_.flush();
}

}  // namespace kmod_sim::daemon
