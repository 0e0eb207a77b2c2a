// Semantic validation of a decoded PF_KEY v2 message: which extensions each message type
// requires and permits (RFC 2367 §3.1 and KLIPS, spec/klips.md §6.4, §7.7, §9.3).
//
// The codec serves both directions, so "permitted" is the union of what the request and
// KLIPS's reply carry (e.g. GETSPI's reply has SA, REGISTER's reply SUPPORTED_*). Messages
// with a non-zero errno (error replies, pluto's failed-ACQUIRE answer) are exempt from the
// "required" rules but not from the "permitted" ones.
#pragma once

#include <optional>

#include "pfkey_message.h"
#include "text_result.h"

namespace kmod_sim::pfkey {

// nullopt when the message is acceptable, else the error (e.g.
// "X_ADDFLOW requires extension X_ADDRESS_SRC_FLOW").
std::optional<TextError> validate(const Message& message);

// "SA", "LIFETIME_CURRENT", …, "X_TNCFG"; "unknown" otherwise.
std::string_view extension_name(uint16_t ext_type);

}  // namespace kmod_sim::pfkey
