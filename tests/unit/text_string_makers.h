// Catch2 printers for the text-form types: a failing assertion shows the raw value,
// formatted without the code under test (so a bug in addrtot cannot hide in its own report).
#pragma once

#include <catch2/catch.hpp>
#include <string>

#include "kmod_sim/lib/ip_address.h"
#include "kmod_sim/lib/said.h"
#include "kmod_sim/lib/subnet.h"

namespace Catch {
template <>
struct StringMaker<kmod_sim::IpAddress> {
    static std::string convert(const kmod_sim::IpAddress& a) {
        static const char kHex[] = "0123456789abcdef";
        std::string s = a.is_v4() ? "IpAddress{inet " : a.is_v6() ? "IpAddress{inet6 " : "IpAddress{none";
        size_t i = 0;
        for (uint8_t b : a.bytes()) {
            if (a.is_v4()) {
                s += (i ? "." : "") + std::to_string(b);
            } else {
                s += (i && i % 2 == 0) ? ":" : "";
                s += kHex[b >> 4];
                s += kHex[b & 15];
            }
            ++i;
        }
        return s + "}";
    }
};
}  // namespace Catch
namespace Catch {
template <>
struct StringMaker<kmod_sim::Subnet> {
    static std::string convert(const kmod_sim::Subnet& s) {
        return "Subnet{" + StringMaker<kmod_sim::IpAddress>::convert(s.address) + " mask " +
               StringMaker<kmod_sim::IpAddress>::convert(s.mask) + " port " + std::to_string(s.port) + "}";
    }
};
}  // namespace Catch
namespace Catch {
template <>
struct StringMaker<kmod_sim::Said> {
    static std::string convert(const kmod_sim::Said& s) {
        return "Said{proto " + std::to_string(s.proto) + " spi " + std::to_string(s.spi) + " dst " +
               StringMaker<kmod_sim::IpAddress>::convert(s.dst) + "}";
    }
};
}  // namespace Catch
