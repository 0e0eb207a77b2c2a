// The /proc/net/ipsec* files, rendered from snapshots of the module in either output
// profile (DESIGN.md "Two output profiles, one model"; spec/klips.md §2-§5).
//
// format_* work on rows and are pure; render_* take a snapshot of a Klips (under its read
// lock) and format it outside the lock.
#pragma once

#include <span>
#include <string>

#include "klips.h"

namespace kmod_sim {

// format_eroutes writes the common row (IPv4, contiguous masks, an ordinary SAID) through a
// fast path; format_eroute_line writes any one row by the general rules. They agree on every
// row (tests/unit/test_proc_render.cc checks it on random rows).
std::string format_eroutes(std::span<const EroutRow> rows, OutputProfile profile);
std::string format_eroute_line(const EroutRow& row, OutputProfile profile);
// `now` is the clock (for add/use times and idle); `debug_xform` adds reftable/refentry.
std::string format_spi(std::span<const SaRow> rows, OutputProfile profile, uint64_t now, bool debug_xform);
std::string format_spigrp(std::span<const std::vector<Said>> lines, OutputProfile profile);
std::string format_tncfg(std::span<const IpsecDevice> devices);
std::string format_klipsdebug(const KlipsDebug::Words& words);

// KLIPS's transform name of an SA: ESP_AES_GCM_16, AH_HMAC_SHA2_256, IPIP, COMP_DEFLATE, …
std::string transform_name(const SecurityAssociation& sa);

std::string render_eroute(const Klips& klips);
std::string render_spi(const Klips& klips);
std::string render_spigrp(const Klips& klips);
std::string render_tncfg(const Klips& klips);
std::string render_klipsdebug(const Klips& klips);
std::string render_version(const Klips& klips);
std::string render_natt(const Klips& klips);
std::string render_trap_count(const Klips& klips);
std::string render_trap_sendcount(const Klips& klips);

}  // namespace kmod_sim
