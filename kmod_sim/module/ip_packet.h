// The few things the data plane reads and rewrites in an IP header: version, header length,
// protocol, lengths, fragment bits, addresses; and the fix-up after a header is inserted or
// removed behind it (protocol, length, IPv4 checksum).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "kmod_sim/lib/ip_address.h"

namespace kmod_sim {

struct IpHeader {
    uint8_t version = 0;     // 4 or 6
    size_t header_size = 0;  // IPv4: IHL * 4; IPv6: the 40-byte base header
    size_t total_size = 0;   // from the length field: bytes beyond it are link padding
    uint8_t protocol = 0;    // IPv4 protocol; IPv6: the base header's next header
    bool fragment = false;   // IPv4 MF or offset; IPv6: a fragment header follows the base
    const uint8_t* packet = nullptr;  // the header's bytes: addresses are read when asked for
    size_t payload_size() const { return total_size - header_size; }
    IpAddress src() const { return address(version == 4 ? 12 : 8); }
    IpAddress dst() const { return address(version == 4 ? 16 : 24); }

private:
    IpAddress address(size_t at) const {
        const AddressFamily af = version == 4 ? AddressFamily::inet : AddressFamily::inet6;
        return IpAddress::from_bytes(af, {packet + at, address_length(af)});
    }
};

inline constexpr uint8_t kProtoIcmp = 1;
inline constexpr uint8_t kProtoIpip = 4;
inline constexpr uint8_t kProtoUdp = 17;
inline constexpr uint8_t kProtoIpv6 = 41;
inline constexpr uint8_t kProtoEsp = 50;
inline constexpr uint8_t kProtoAh = 51;
inline constexpr uint8_t kProtoIcmpv6 = 58;
inline constexpr uint8_t kProtoComp = 108;

// nullopt unless packet starts with a consistent IPv4 or IPv6 header whose length fields fit.
std::optional<IpHeader> parse_ip_header(std::span<const uint8_t> packet);

// Whether an IPv6 next header is one that must stay in front of ESP, AH or IPComp
// (hop-by-hop 0, routing 43, fragment 44): the transforms here insert right after the base
// header, so such packets are not handled.
bool ipv6_header_before_ipsec(uint8_t next_header);

// packet holds an IP header of header_size bytes followed by a new payload: sets its
// protocol (next header), its length fields to packet.size(), and the IPv4 checksum.
void finish_ip_header(std::vector<uint8_t>& packet, size_t header_size, uint8_t protocol);

}  // namespace kmod_sim
