// An eroute: one entry of KLIPS's extended routing table, which maps a packet selector
// (source and destination subnets, transport protocol, ports) to an SAID (spec/klips.md §6).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "kmod_sim/lib/ip_address.h"
#include "kmod_sim/lib/said.h"

namespace kmod_sim {

// What SADB_X_ADDFLOW / SADB_X_DELFLOW carry: flows, masks, protocol and ports.
struct EroutSelector {
    IpAddress src, dst;            // as given; the table masks them, listings do not
    IpAddress src_mask, dst_mask;  // same family as src/dst
    uint8_t proto = 0;             // 0 = any transport protocol
    uint16_t sport = 0, dport = 0;            // host order
    uint16_t sport_mask = 0, dport_mask = 0;  // 0xffff when the port was given
};

// A packet's key: addresses, IP protocol, and ports for TCP and UDP (0 otherwise).
struct PacketSelector {
    IpAddress src, dst;
    uint8_t proto = 0;
    uint16_t sport = 0, dport = 0;
};

struct EroutIdentities {
    std::string src, dst;
    // sadb_ident_type of each as ADDFLOW gave it (0 when not given); ACQUIRE repeats them.
    uint16_t src_type = 0, dst_type = 0;
};

// The packets a %hold eroute keeps: the one that triggered the trap and the latest.
struct HeldPackets {
    std::vector<uint8_t> first, last;
};

struct Eroute {
    IpAddress src, dst;  // the flow addresses as given (seed example 5 shows host bits)
    uint16_t sport = 0, dport = 0;
    uint8_t proto = 0;
    Said said;
    uint32_t pid = 0;       // of the process that added it
    uint32_t count = 0;     // packets matched; updated through std::atomic_ref
    uint64_t lasttime = 0;  // clock seconds of the last match; std::atomic_ref
    std::shared_ptr<const EroutIdentities> idents;  // null when neither identity was given
    std::unique_ptr<HeldPackets> held;        // null when nothing is held
};

}  // namespace kmod_sim
