// The smaller /proc files: ipsec_spigrp (spec/klips.md §3), ipsec_tncfg (§5.1),
// ipsec_klipsdebug (§5.2), ipsec_version (§5.3), natt and the trap counters (§5.4).
#include <cstdio>

#include "proc_render.h"

namespace kmod_sim {

std::string format_spigrp(std::span<const std::vector<Said>> lines, OutputProfile profile) {
    const SaidFormat format = profile == OutputProfile::seed ? SaidFormat::dotted : SaidFormat::hex;
    std::string out;
    for (const auto& line : lines) {
        for (const Said& said : line) {
            out += satot(said, format);
            out += ' ';  // every SAID is followed by a space, the last one too
        }
        out += '\n';
    }
    return out;
}

std::string format_tncfg(std::span<const IpsecDevice> devices) {
    std::string out;
    for (const IpsecDevice& d : devices) {
        out += d.name + " -> " + (d.physical.empty() ? "NULL" : d.physical) + " mtu=" +
               std::to_string(d.mtu) + "(" + std::to_string(d.private_mtu) + ") -> " +
               std::to_string(d.physical_mtu) + "\n";
    }
    return out;
}

std::string format_klipsdebug(const KlipsDebug::Words& words) {
    std::string out;
    for (const auto& listed : KlipsDebug::kListed) {
        char value[16];
        std::snprintf(value, sizeof(value), "%08x", words[listed.word]);
        out += "debug_" + std::string(listed.name) + "=" + value + ".\n";
    }
    return out;
}

std::string render_spigrp(const Klips& klips) {
    return format_spigrp(klips.spigrp_lines(), klips.profile());
}

std::string render_tncfg(const Klips& klips) { return format_tncfg(klips.devices()); }

std::string render_klipsdebug(const Klips& klips) { return format_klipsdebug(klips.debug_words()); }

std::string render_version(const Klips& klips) {
    const char* who = klips.profile() == OutputProfile::seed ? "FreeS/WAN" : "Openswan";
    return std::string(who) + " version: " + klips.version() + "\n";
}

// kmod-sim has no NAT traversal: 0, "none".
std::string render_natt(const Klips&) { return "0\n"; }

namespace {
std::string hex8_line(uint32_t value) {
    char buf[16];
    std::snprintf(buf, sizeof(buf), "%08x\n", value);
    return buf;
}
}  // namespace

std::string render_trap_count(const Klips& klips) { return hex8_line(klips.trap_count()); }
std::string render_trap_sendcount(const Klips& klips) { return hex8_line(klips.trap_sendcount()); }

}  // namespace kmod_sim
