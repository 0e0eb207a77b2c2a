// The PF_KEY messages the module sends on its own, as KLIPS's data path did: ACQUIRE when a
// packet hits a %trap eroute (spec/klips.md §6.4) and EXPIRE when an SA passes a soft or
// hard lifetime (§7.7). Each carries the next number of one module-wide sequence. Empty when
// the message cannot be encoded (never for what the module builds; the caller sends nothing).
#pragma once

#include <cstdint>
#include <vector>

#include "eroute.h"
#include "security_association.h"

namespace kmod_sim {

// ACQUIRE (satype ESP, as KLIPS hard-wired it): the packet's addresses; its protocol and the
// ports the trap eroute names when the eroute has a protocol; the eroute's identities; and
// KLIPS's fixed proposal (replay 64; 3DES with MD5 or SHA-1, PFS, 8 h / 24 h lifetimes).
std::vector<uint8_t> acquire_message(uint32_t seq, const PacketSelector& packet, const Eroute& trap);

// EXPIRE: the SA, its current lifetime, the limits that were passed (hard or soft) and its
// addresses; pid 0.
std::vector<uint8_t> expire_message(uint32_t seq, const SecurityAssociation& sa, bool hard);

}  // namespace kmod_sim
