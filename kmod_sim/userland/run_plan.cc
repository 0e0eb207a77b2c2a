#include "run_plan.h"

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace kmod_sim::userland {

void report_unreachable(const Invocation& invocation, int error) {
    const std::string dir = invocation.instance.dir.empty() ? std::string("unknown: set KMOD_SIM_DIR")
                                                            : invocation.instance.dir;
    const char* why = error == ETIMEDOUT ? "no answer" : std::strerror(error);
    std::fprintf(stderr, "%s: cannot reach kmod-sim: %s (is it running? its run directory is %s)\n",
                 invocation.name.c_str(), why, dir.c_str());
}

int run_plan(const Invocation& invocation, Plan& plan) {
    if (plan.exit_status) return *plan.exit_status;
    std::optional<PfkeyConnection> connection;
    if (!plan.requests.empty() || plan.local_needs_connection) {
        int error = 0;
        connection = PfkeyConnection::open(invocation.instance.pfkey_socket(), &error);
        if (!connection) {
            report_unreachable(invocation, error);
            return 1;
        }
    }
    for (Request& request : plan.requests) {
        int error = 0;
        auto answer = connection->request(request.message, &error);
        if (!answer) {
            report_unreachable(invocation, error);
            return 1;
        }
        if (int status = request.on_answer(*answer)) return status;
    }
    if (plan.local) return plan.local(connection ? &*connection : nullptr);
    return 0;
}

}  // namespace kmod_sim::userland
