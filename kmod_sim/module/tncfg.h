// The ipsecN virtual devices and their attachment to physical ones (spec/klips.md §5.1, §8.4).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace kmod_sim {

struct IpsecDevice {
    std::string name;      // ipsec0 …
    std::string physical;  // empty when detached
    uint32_t mtu = 0;            // the virtual device's MTU when attached (KLIPS: 16260), else 0
    uint32_t private_mtu = 0;    // KLIPS's bracketed value: the physical MTU, lowered by PMTU
    uint32_t physical_mtu = 0;
};

class Tncfg {
public:
    static constexpr uint32_t kAttachedMtu = 16260;  // KLIPS's, and the most a real ipsecN gets
    static constexpr int kDevicesAtLoad = 4;  // ipsec0..ipsec3, as KLIPS's IPSEC_NUM_IF

    Tncfg();

    // 0; ENODEV for a virtual device that does not exist; EBUSY when already attached.
    int can_attach(std::string_view virtual_name) const;
    // can_attach's answer, and on 0 the attachment. The caller has checked the physical device
    // and passes its MTU, and the MTU the virtual device got.
    int attach(std::string_view virtual_name, std::string_view physical, uint32_t mtu, uint32_t physical_mtu);
    // 0; ENODEV for an unknown device; ENXIO when it is not attached.
    int detach(std::string_view virtual_name);
    // The attached physical device's MTU changed (a real device notices on its next packet).
    // false when the device is not attached.
    bool set_physical_mtu(std::string_view virtual_name, uint32_t physical_mtu);
    void clear();

    const IpsecDevice* find(std::string_view virtual_name) const;
    const std::vector<IpsecDevice>& devices() const { return devices_; }

private:
    IpsecDevice* find_mutable(std::string_view virtual_name);
    std::vector<IpsecDevice> devices_;
};

}  // namespace kmod_sim
