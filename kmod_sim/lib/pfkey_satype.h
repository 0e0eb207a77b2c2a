// PF_KEY's SA types and the SAID protocols they stand for (spec/klips.md §9.1): AH 2 = ah,
// ESP 3 = esp, X_IPIP 9 = tun, X_COMP 10 = comp, X_INT 11 = int (the magic SAIDs).
#pragma once

#include <cstdint>
#include <optional>

namespace kmod_sim::pfkey {

// The SAID protocol of a satype (AH, ESP, IPIP, COMP, INT), if it has one.
std::optional<uint8_t> said_proto_of_satype(uint8_t satype);
// The satype of a SAID protocol (kSaTypeUnspec for an unknown one).
uint8_t satype_of_said_proto(uint8_t proto);

}  // namespace kmod_sim::pfkey
