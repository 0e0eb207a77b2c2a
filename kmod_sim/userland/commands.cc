// The table of ipsec commands (command.h). Each command lives in its own file.
#include <algorithm>

#include "batch.h"
#include "command.h"

namespace kmod_sim::userland {

Plan eroute_command(const Invocation&);
Plan spi_command(const Invocation&);
Plan spigrp_command(const Invocation&);
Plan tncfg_command(const Invocation&);
Plan klipsdebug_command(const Invocation&);
Plan pf_key_command(const Invocation&);
Plan look_command(const Invocation&);
Plan inject_command(const Invocation&);

std::vector<char*> Invocation::argv() const {
    std::vector<char*> argv;
    argv.push_back(const_cast<char*>(name.c_str()));
    for (const std::string& arg : args) argv.push_back(const_cast<char*>(arg.c_str()));
    argv.push_back(nullptr);
    return argv;
}

const std::vector<CommandInfo>& commands() {
    static const std::vector<CommandInfo> table{
        // COMMANDS (one line each, in --help order)
        {"eroute", eroute_command, "add, replace, delete and clear eroutes (ipsec_eroute)"},
        {"spi", spi_command, "add, delete and flush SAs (ipsec_spi)"},
        {"spigrp", spigrp_command, "group SAs inner to outer, or ungroup them (ipsec_spigrp)"},
        {"tncfg", tncfg_command, "attach the virtual ipsecN devices to physical ones (ipsec_tncfg)"},
        {"klipsdebug", klipsdebug_command, "set and clear KLIPS's debug switches (ipsec_klipsdebug)"},
        {"pf_key", pf_key_command, "register and print every PF_KEY message until stopped"},
        {"look", look_command, "one-screen summary: eroutes, SA groups, SAs, devices"},
        {"inject", inject_command, "replay a pcap capture through the engine, out or in; save what came out"},
        {"batch", batch_command, "run many commands from a file or standard input over one connection"},
    };
    return table;
}

const CommandInfo* find_command(const std::string& name) {
    const auto& table = commands();
    auto it = std::find_if(table.begin(), table.end(), [&](const CommandInfo& c) { return name == c.name; });
    return it == table.end() ? nullptr : &*it;
}

}  // namespace kmod_sim::userland
