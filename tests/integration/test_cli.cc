// The kmod-sim command line: --help, --version, and refusals that name the bad value.
#include <catch2/catch.hpp>

#include "daemon_instance.h"

using namespace it;

namespace {

RunResult kmod_sim(std::vector<std::string> args, const std::string& capture) {
    args.insert(args.begin(), kmod_sim_bin());
    return run_command(args, capture, milliseconds(10000));
}

}  // namespace

TEST_CASE("cli: --help names every option and exits 0", "[cli]") {
    RunResult r = kmod_sim({"--help"}, "cli-help");
    INFO(r.describe());
    CHECK(r.exit_code == 0);
    const std::string text = r.out + r.err;
    for (const char* option :
         {"--run-dir", "--mount", "--format", "--clock", "--foreground", "--daemon", "--help", "--version"}) {
        INFO("option " << option);
        CHECK(text.find(option) != std::string::npos);
    }
    for (const char* value : {"seed", "openswan", "real", "manual"}) {
        INFO("value " << value);
        CHECK(text.find(value) != std::string::npos);
    }
}

TEST_CASE("cli: --version", "[cli]") {
    RunResult r = kmod_sim({"--version"}, "cli-version");
    INFO(r.describe());
    CHECK(r.exit_code == 0);
    CHECK(r.out == "kmod-sim 0.1.0\n");
}

TEST_CASE("cli: bad options exit 1 and name the bad value", "[cli]") {
    DaemonInstance d("cli-bad");  // a run dir, so that nothing could start elsewhere
    struct Bad {
        std::vector<std::string> args;
        std::string named;
    };
    const std::vector<Bad> bad{
        {{"--bogus-option"}, "bogus-option"},
        {{"--run-dir", d.dir(), "--format", "xml"}, "xml"},
        {{"--run-dir", d.dir(), "--format"}, "--format"},
        {{"--run-dir", d.dir(), "--clock", "sundial"}, "sundial"},
        {{"--run-dir", d.dir(), "--clock", ""}, "--clock"},
        {{"--run-dir", d.dir(), "unexpected-argument"}, "unexpected-argument"},
    };
    for (const auto& b : bad) {
        RunResult r = kmod_sim(b.args, "cli-bad");
        std::string line;
        for (const auto& a : b.args) line += a + " ";
        INFO("kmod-sim " << line << "→ " << r.describe());
        CHECK(r.exit_code == 1);
        CHECK(r.err.find(b.named) != std::string::npos);
        CHECK_FALSE(r.timed_out);
    }
    CHECK(count_mounts_at(d.mount()) == 0);
}

TEST_CASE("cli: --daemon reports a failure to start and exits 1", "[cli]") {
    RunResult r = kmod_sim({"--run-dir", "/proc/no-such-dir/kmod-sim", "--daemon"}, "cli-fail");
    INFO(r.describe());
    CHECK(r.exit_code == 1);
    CHECK(r.err.starts_with("kmod-sim: "));
    CHECK_FALSE(r.timed_out);
}
