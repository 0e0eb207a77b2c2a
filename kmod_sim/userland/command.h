// What an ipsec command is made of (spec/klips.md §8). A command parses its arguments the way
// KLIPS's program did and returns a Plan: exit at once (usage, --version, a bad argument: the
// messages are printed already), or PF_KEY requests, each with what to make of its answer, or
// something to do locally (print a /proc file, listen). The plan is then carried out one
// request at a time for a single command (run_plan.h), or pipelined for `ipsec batch`.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "instance.h"
#include "kmod_sim/lib/pfkey_message.h"
#include "pfkey_connection.h"

namespace kmod_sim::userland {

struct Invocation {
    std::string name;                // "eroute", "spi", …: argv[0] for getopt and for messages
    std::vector<std::string> args;   // the arguments after the name
    Instance instance;
    bool in_batch = false;           // run by `ipsec batch`: no interactive or endless actions

    // argv for getopt_long: name first, then the arguments; valid while the Invocation lives.
    std::vector<char*> argv() const;
};

struct Request {
    pfkey::Message message;
    // Called with the answer (errno_value 0 for success): prints what KLIPS printed for it and
    // returns the exit status (0 when all is well).
    std::function<int(const pfkey::Message& answer)> on_answer;
};

struct Plan {
    std::optional<int> exit_status;  // set: nothing more to do, exit with this
    std::vector<Request> requests;   // in order; the first non-zero status stops the rest
    // Done here instead of (or after) the requests; it gets the connection when it needs one.
    std::function<int(PfkeyConnection* connection)> local;
    bool local_needs_connection = false;

    static Plan exit(int status) {
        Plan p;
        p.exit_status = status;
        return p;
    }
};

using Command = Plan (*)(const Invocation& invocation);

struct CommandInfo {
    const char* name;
    Command run;
    const char* summary;  // one line for `ipsec --help`
};

// Every command `ipsec` knows, in the order `ipsec --help` lists them.
const std::vector<CommandInfo>& commands();
const CommandInfo* find_command(const std::string& name);

}  // namespace kmod_sim::userland
