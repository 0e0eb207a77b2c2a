// PF_KEY's view of an SA: the SA an ADD or UPDATE describes, the message GET and DUMP answer
// with, and the algorithms REGISTER announces (RFC 2367, spec/klips.md §7, §9). The supported
// algorithms are DESIGN.md's: ESP with ChaCha20-Poly1305, AES-256-GCM-16 (where the CPU can),
// or NULL with HMAC-SHA2-256-128 / HMAC-SHA2-512-256; AH with those two HMACs; IPComp
// DEFLATE; IPIP.
#pragma once

#include <optional>

#include "kmod_sim/lib/pfkey_message.h"
#include "kmod_sim/lib/pfkey_satype.h"
#include "security_association.h"

namespace kmod_sim {

// The SA an ADD or UPDATE message describes: 0, or EINVAL when the satype, addresses,
// algorithms, key lengths or lifetimes are not ones kmod-sim accepts. Keys are checked, not
// kept: the data plane will own them.
int sa_from_message(const pfkey::Message& message, SecurityAssociation* sa);

// A GET or DUMP answer: SA, the current lifetime and the limits that are set, and the
// addresses. Never keys: they do not leave the engine.
pfkey::Message sa_message(uint8_t type, const SecurityAssociation& sa);

// The REGISTER answer's extensions for `satype` (AH, ESP, IPIP or COMP); false for others.
bool supported_algorithms(uint8_t satype, pfkey::Message* reply);

}  // namespace kmod_sim
