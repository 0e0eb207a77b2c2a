// Readers against a writer: one thread with its own PF_KEY socket changes the eroute table
// thousands of times while other threads read() the eroute file (> 128 KiB, so one read
// takes many chunks). Every read must show one whole, consistent state (DESIGN.md
// "Concurrency"; spec/fuse.md §0 "Consistency"); pread at offset 0 on an open fd shows the
// new state.
#include <catch2/catch.hpp>

#include <atomic>
#include <set>
#include <sstream>
#include <thread>

#include "daemon_instance.h"
#include "pfkey_test_client.h"
#include "scenario.h"

using namespace it;

namespace {

constexpr int kBaseEroutes = 3000;
constexpr int kToggles = 2000;  // each an add and a delete: 4000 changes

// The i-th base eroute: 10.<i/256>.<i%256>.0/24 -> 192.168.0.0/16 via esp0x<1000+i>@192.0.2.1.
Flow base_flow(int i) { return {"10." + std::to_string(i / 256) + "." + std::to_string(i % 256) + ".0", 24, "192.168.0.0", 16}; }
std::string base_line(int i) {
    std::ostringstream s;
    s << "0 10." << i / 256 << "." << i % 256 << ".0/24:0 -> 192.168.0.0/16:0 => esp0x" << std::hex << (0x1000 + i)
      << "@192.0.2.1:0 () ()\n";
    return s.str();
}
// The toggled eroute sorts first (1.0.0.0), so a torn read would shift every later byte.
const Flow kToggleFlow{"1.0.0.0", 8, "0.0.0.0", 0};
const std::string kToggleLine = "0 1.0.0.0/8:0 -> 0.0.0.0/0:0 => %drop\n";

}  // namespace

TEST_CASE("concurrency: every read of a large eroute file is one consistent state", "[concurrency]") {
    DaemonInstance d("concurrency", {"--clock", "manual"});
    d.start_or_throw();
    std::string expected_base;
    {
        PfkeyClient c(d.pfkey_path());
        for (int i = 0; i < kBaseEroutes; ++i) {
            pf::Message r = c.request(addflow(base_flow(i), {kEsp, static_cast<uint32_t>(0x1000 + i), "192.0.2.1"}));
            if (r.errno_value != 0) FAIL("base eroute " << i << " refused: " << errno_name(r.errno_value));
            expected_base += base_line(i);
        }
    }
    const std::string path = d.view("net/ipsec/eroute/all");
    const std::string first = read_view_file(path);
    REQUIRE(first.size() > 128 * 1024);
    REQUIRE(first == expected_base);
    const std::string with_toggle = kToggleLine + expected_base;

    std::atomic<bool> writer_done{false};
    std::atomic<int> writer_errors{0};
    std::string writer_failure;
    std::thread writer([&] {
        try {
            PfkeyClient w(d.pfkey_path());
            for (int k = 0; k < kToggles; ++k) {
                if (w.request(addflow(kToggleFlow, {kInt, kSpiDrop, "0.0.0.0"})).errno_value != 0) ++writer_errors;
                if (w.request(delflow(kToggleFlow)).errno_value != 0) ++writer_errors;
            }
        } catch (const std::exception& e) {
            writer_failure = e.what();
        }
        writer_done = true;
    });

    struct ReaderResult {
        int reads = 0, with = 0, without = 0, bad = 0;
        std::string first_bad;
        std::string failure;
    };
    std::vector<ReaderResult> results(2);
    std::vector<std::thread> readers;
    for (size_t r = 0; r < results.size(); ++r) {
        readers.emplace_back([&, r] {
            ReaderResult& res = results[r];
            try {
                const size_t chunk = r == 0 ? 4096 : 16384;
                while (!writer_done || res.reads < 20) {
                    std::string got = read_view_file(path, chunk);
                    ++res.reads;
                    if (got == expected_base) ++res.without;
                    else if (got == with_toggle) ++res.with;
                    else if (res.bad++ == 0) res.first_bad = got.substr(0, 300) + "... (" + std::to_string(got.size()) + " bytes)";
                    if (res.reads > 100000) break;
                }
            } catch (const std::exception& e) {
                res.failure = e.what();
            }
        });
    }
    writer.join();
    for (auto& t : readers) t.join();

    REQUIRE(writer_failure.empty());
    CHECK(writer_errors == 0);
    int states_seen_with = 0;
    for (const auto& res : results) {
        INFO("reader: " << res.reads << " reads, " << res.with << " with the toggled line, " << res.without
                        << " without, " << res.bad << " torn or wrong; first bad: " << res.first_bad);
        REQUIRE(res.failure.empty());
        CHECK(res.bad == 0);
        CHECK(res.reads > 0);
        states_seen_with += res.with;
    }
    // Informational: how often the readers caught the table mid-toggle.
    WARN("reads with the toggled eroute present: " << states_seen_with);
    CHECK(read_view_file(path) == expected_base);
}

TEST_CASE("concurrency: pread at offset 0 on an open fd shows the new state", "[concurrency]") {
    DaemonInstance d("pread", {"--clock", "manual"});
    d.start_or_throw();
    PfkeyClient c(d.pfkey_path());
    ok(c, addflow({"10.9.0.0", 16, "0.0.0.0", 0}, {kInt, kSpiPass, "0.0.0.0"}), "first eroute");
    Fd f(open(d.view("net/ipsec/eroute/all").c_str(), O_RDONLY));
    REQUIRE(f.fd >= 0);
    const std::string one = "0 10.9.0.0/16:0 -> 0.0.0.0/0:0 => %pass\n";
    CHECK(read_fd(f.fd) == one);

    ok(c, addflow({"10.8.0.0", 16, "0.0.0.0", 0}, {kInt, kSpiDrop, "0.0.0.0"}), "second eroute");
    // Still at EOF of the old snapshot: nothing more.
    char buf[4096];
    CHECK(read(f.fd, buf, sizeof buf) == 0);
    const std::string two = "0 10.8.0.0/16:0 -> 0.0.0.0/0:0 => %drop\n" + one;
    ssize_t n = pread(f.fd, buf, sizeof buf, 0);
    REQUIRE(n >= 0);
    CHECK(std::string(buf, static_cast<size_t>(n)) == two);

    // Reads at other offsets come from the snapshot taken at offset 0.
    ok(c, delflow({"10.9.0.0", 16, "0.0.0.0", 0}), "delete");
    n = pread(f.fd, buf, 10, 5);
    REQUIRE(n == 10);
    CHECK(std::string(buf, 10) == two.substr(5, 10));
    REQUIRE(lseek(f.fd, 0, SEEK_SET) == 0);
    CHECK(read_fd(f.fd) == "0 10.8.0.0/16:0 -> 0.0.0.0/0:0 => %drop\n");
}
