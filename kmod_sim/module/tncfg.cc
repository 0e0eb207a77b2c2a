#include "tncfg.h"

#include <cerrno>

namespace kmod_sim {

namespace {
IpsecDevice detached(std::string name) {
    IpsecDevice d;
    d.name = std::move(name);
    return d;
}
}  // namespace

Tncfg::Tncfg() {
    for (int i = 0; i < kDevicesAtLoad; ++i) devices_.push_back(detached("ipsec" + std::to_string(i)));
}

IpsecDevice* Tncfg::find_mutable(std::string_view virtual_name) {
    for (auto& d : devices_)
        if (d.name == virtual_name) return &d;
    return nullptr;
}

const IpsecDevice* Tncfg::find(std::string_view virtual_name) const {
    for (const auto& d : devices_)
        if (d.name == virtual_name) return &d;
    return nullptr;
}

int Tncfg::can_attach(std::string_view virtual_name) const {
    const IpsecDevice* d = find(virtual_name);
    if (!d) return ENODEV;
    return d->physical.empty() ? 0 : EBUSY;
}

int Tncfg::attach(std::string_view virtual_name, std::string_view physical, uint32_t mtu, uint32_t physical_mtu) {
    if (int error = can_attach(virtual_name)) return error;
    IpsecDevice* d = find_mutable(virtual_name);
    d->physical = physical;
    d->mtu = mtu;
    d->private_mtu = physical_mtu;
    d->physical_mtu = physical_mtu;
    return 0;
}

int Tncfg::detach(std::string_view virtual_name) {
    IpsecDevice* d = find_mutable(virtual_name);
    if (!d) return ENODEV;
    if (d->physical.empty()) return ENXIO;
    *d = detached(d->name);
    return 0;
}

bool Tncfg::set_physical_mtu(std::string_view virtual_name, uint32_t physical_mtu) {
    IpsecDevice* d = find_mutable(virtual_name);
    if (!d || d->physical.empty()) return false;
    d->private_mtu = physical_mtu;
    d->physical_mtu = physical_mtu;
    return true;
}

void Tncfg::clear() {
    for (auto& d : devices_) d = detached(d.name);
}

}  // namespace kmod_sim
