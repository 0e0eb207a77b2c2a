#include "proc_view.h"

#include "proc_render.h"

namespace kmod_sim {

std::vector<ProcEntry> proc_entries(const Klips& klips) {
    const Klips* k = &klips;
    auto file = [k](std::string path, std::string (*render)(const Klips&)) {
        return ProcEntry{std::move(path), [k, render] { return render(*k); }, {}};
    };
    auto link = [](std::string path, std::string target) {
        return ProcEntry{std::move(path), nullptr, std::move(target)};
    };
    return {
        file("net/ipsec/eroute/all", render_eroute),
        file("net/ipsec/spi/all", render_spi),
        file("net/ipsec/spigrp/all", render_spigrp),
        file("net/ipsec/tncfg", render_tncfg),
        file("net/ipsec/klipsdebug", render_klipsdebug),
        file("net/ipsec/version", render_version),
        file("net/ipsec/natt", render_natt),
        file("net/ipsec/stats/trap_count", render_trap_count),
        file("net/ipsec/stats/trap_sendcount", render_trap_sendcount),
        // The legacy names, as KLIPS's ipsec_proc_init made them (spec/klips.md §5.4).
        link("net/ipsec_eroute", "ipsec/eroute/all"),
        link("net/ipsec_spi", "ipsec/spi/all"),
        link("net/ipsec_spigrp", "ipsec/spigrp/all"),
        link("net/ipsec_tncfg", "ipsec/tncfg"),
        link("net/ipsec_version", "ipsec/version"),
        link("net/ipsec_klipsdebug", "ipsec/klipsdebug"),
    };
}

}  // namespace kmod_sim
