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
