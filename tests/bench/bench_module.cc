// Benchmark of the module's eroute table, render path and memory (not a test: it prints
// figures and never fails on time). Every figure comes with a baseline measured in the same
// run on the same data, and the ratio between them.
//
//   build/tests/bench/bench_module [--quick | --render]
//
// Tables are VPN-like: host pairs and subnet pairs over 16 mask pairs (/32 /28 /24 /16 on
// each side), half of them host pairs. Traffic is TCP. "warm" = 10k active flows through
// the per-thread EroutCache; "cold" = every packet a new flow, straight radij lookups.
#include <malloc.h>

#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <algorithm>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include "kmod_sim/module/eroute_cache.h"
#include "kmod_sim/module/klips.h"
#include "kmod_sim/module/proc_render.h"

using namespace kmod_sim;
using Timer = std::chrono::steady_clock;

namespace {

double seconds_since(Timer::time_point start) {
    return std::chrono::duration<double>(Timer::now() - start).count();
}

// Heap bytes in use: unlike the resident set, not blurred by memory freed earlier and reused.
size_t heap_bytes() { return mallinfo2().uordblks + mallinfo2().hblkhd; }

struct VpnTable {
    std::vector<EroutRequest> eroutes;
};

constexpr int kMaskBits[] = {32, 28, 24, 16};

VpnTable make_vpn_table(size_t n, std::mt19937_64& rng) {
    VpnTable t;
    t.eroutes.reserve(n);
    for (size_t i = 0; i < n; ++i) {
        int src_bits = 32, dst_bits = 32;
        if (rng() & 1) {  // half are subnet pairs over the other 15 mask pairs
            do {
                src_bits = kMaskBits[rng() % 4];
                dst_bits = kMaskBits[rng() % 4];
            } while (src_bits == 32 && dst_bits == 32);
        }
        EroutRequest r;
        r.selector.src_mask = mask_from_bits(AddressFamily::inet, src_bits);
        r.selector.dst_mask = mask_from_bits(AddressFamily::inet, dst_bits);
        r.selector.src = IpAddress::v4(0x0a000000u | static_cast<uint32_t>(rng() & 0x00ffffff)).masked(r.selector.src_mask);
        r.selector.dst = IpAddress::v4(0xac100000u | static_cast<uint32_t>(rng() & 0x000fffff)).masked(r.selector.dst_mask);
        r.said = Said{IpAddress::v4(192, 0, 2, static_cast<uint8_t>(1 + i % 250)),
                      static_cast<uint32_t>(0x1000 + i), kSaEsp};
        t.eroutes.push_back(std::move(r));
    }
    return t;
}

// A TCP packet inside eroute r's selector, with random host bits and ports.
PacketSelector packet_for(const EroutRequest& r, std::mt19937_64& rng) {
    PacketSelector p;
    const uint32_t sm = r.selector.src_mask.v4_host_order(), dm = r.selector.dst_mask.v4_host_order();
    p.src = IpAddress::v4((r.selector.src.v4_host_order() & sm) | (static_cast<uint32_t>(rng()) & ~sm));
    p.dst = IpAddress::v4((r.selector.dst.v4_host_order() & dm) | (static_cast<uint32_t>(rng()) & ~dm));
    p.proto = 6;
    p.sport = static_cast<uint16_t>(1024 + rng() % 60000);
    p.dport = static_cast<uint16_t>(rng() % 1024);
    return p;
}

uint64_t exact_key(const PacketSelector& p) {
    return uint64_t{p.src.v4_host_order()} << 32 ^ uint64_t{p.dst.v4_host_order()} ^
           (uint64_t{p.sport} << 16 | p.dport) * 0x9e3779b97f4a7c15ull;
}

// A small, fast generator for picking flows inside the timed loops.
struct XorShift {
    uint64_t s;
    uint64_t next() {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        return s;
    }
};

struct Row {
    std::string size;
    std::string name;
    double value;
    std::string unit;
    double baseline;
    std::string baseline_name;
};

std::vector<Row> g_rows;
std::string g_size;  // the table size the current figures are for
volatile uint64_t g_sink;  // keeps baseline loops from being optimised away
bool render_split = false;  // --render: also time the snapshot and the formatting apart

void report(std::string name, double value, std::string unit, double baseline, std::string baseline_name) {
    std::printf("  %-44s %12.3f %-10s baseline %12.3f (%s)  ratio %.2f\n", name.c_str(), value, unit.c_str(),
                baseline, baseline_name.c_str(), baseline > 0 ? value / baseline : 0.0);
    std::fflush(stdout);
    g_rows.push_back({g_size, std::move(name), value, std::move(unit), baseline, std::move(baseline_name)});
}

KlipsConfig bench_config(OutputProfile profile) {
    KlipsConfig c;
    c.profile = profile;
    c.clock = std::make_shared<ManualClock>(1000);
    return c;
}

void bench_size(size_t n, uint64_t warm_lookups, uint64_t cold_lookups) {
    std::printf("\n%zu eroutes\n", n);
    g_size = std::to_string(n) + " eroutes";
    std::mt19937_64 rng(n);
    VpnTable vpn = make_vpn_table(n, rng);

    // Inserts, through Klips (write lock, record, radij) vs std::unordered_map inserts.
    const size_t heap_before = heap_bytes();
    Klips klips(bench_config(OutputProfile::seed));
    auto start = Timer::now();
    size_t added = 0;
    for (const auto& r : vpn.eroutes) added += klips.add_eroute(r) == 0;
    const double insert_s = seconds_since(start);
    const size_t heap_after = heap_bytes();
    {
        std::unordered_map<uint64_t, uint32_t> baseline;
        baseline.reserve(n);
        auto b0 = Timer::now();
        uint32_t i = 0;
        for (const auto& r : vpn.eroutes)
            baseline.emplace(uint64_t{r.selector.src.v4_host_order()} << 32 | r.selector.dst.v4_host_order(), i++);
        report("inserts (Klips::add_eroute)", added / insert_s / 1e6, "M/s", n / seconds_since(b0) / 1e6,
               "unordered_map insert");
    }
    if (n >= 100000)
        report("heap bytes per eroute", double(heap_after - heap_before) / added, "bytes",
               double(sizeof(Eroute)), "sizeof(Eroute)");

    // The table itself, as the packet path sees it (under the read lock in real use).
    EroutTable table;
    for (const auto& r : vpn.eroutes) {
        Eroute e;
        e.said = r.said;
        (void)table.add(r.selector, std::move(e));
    }

    // (a) warm: 10k active flows.
    const size_t flows_n = 10000;
    std::vector<PacketSelector> flows;
    for (size_t i = 0; i < flows_n; ++i) flows.push_back(packet_for(vpn.eroutes[rng() % n], rng));
    EroutCache cache;
    XorShift pick{0x1234567};
    uint64_t found = 0;
    start = Timer::now();
    for (uint64_t i = 0; i < warm_lookups; ++i) found += bool(cache.match(table, flows[pick.next() % flows_n]));
    const double warm_s = seconds_since(start);
    {
        std::unordered_map<uint64_t, uint32_t> exact;
        for (size_t i = 0; i < flows_n; ++i) exact.emplace(exact_key(flows[i]), static_cast<uint32_t>(i));
        XorShift pick2{0x1234567};
        uint64_t hits = 0;
        auto b0 = Timer::now();
        for (uint64_t i = 0; i < warm_lookups; ++i) hits += exact.count(exact_key(flows[pick2.next() % flows_n]));
        report("lookups, warm (10k flows, EroutCache)", warm_lookups / warm_s / 1e6, "M/s",
               warm_lookups / seconds_since(b0) / 1e6, "unordered_map exact");
        g_sink = g_sink + hits;
        if (hits != warm_lookups || found != warm_lookups) std::printf("  !! lookups that found nothing\n");
    }
    {
        // The same warm traffic through Klips::route_packet: read lock + count per packet.
        XorShift pick3{0x1234567};
        EroutCache klips_cache;
        const uint64_t m = warm_lookups / 4;
        auto b0 = Timer::now();
        uint64_t routed = 0;
        for (uint64_t i = 0; i < m; ++i) routed += klips.route_packet(flows[pick3.next() % flows_n], &klips_cache).has_value();
        const double klips_s = seconds_since(b0);
        report("Klips::route_packet, warm (lock + count)", routed / klips_s / 1e6, "M/s",
               warm_lookups / warm_s / 1e6, "table lookup above");
    }

    // (b) cold: every packet a new flow.
    std::vector<PacketSelector> cold;
    cold.reserve(cold_lookups);
    for (uint64_t i = 0; i < cold_lookups; ++i) cold.push_back(packet_for(vpn.eroutes[rng() % n], rng));
    found = 0;
    start = Timer::now();
    for (const auto& p : cold) found += bool(table.match(p));
    const double cold_s = seconds_since(start);
    {
        std::unordered_map<uint64_t, uint32_t> exact;
        exact.reserve(n);
        for (size_t i = 0; i < n; ++i) exact.emplace(exact_key(packet_for(vpn.eroutes[i], rng)), static_cast<uint32_t>(i));
        std::vector<uint64_t> probes;
        probes.reserve(cold.size());
        for (const auto& p : cold) probes.push_back(exact_key(p));
        uint64_t hits = 0;
        auto b0 = Timer::now();
        for (uint64_t k : probes) {
            auto it = exact.find(k);
            hits += it == exact.end() ? 0 : it->second;
        }
        const double baseline_s = seconds_since(b0);
        report("lookups, cold (every packet a new flow)", cold.size() / cold_s / 1e6, "M/s",
               probes.size() / baseline_s / 1e6, "unordered_map, same size");
        if (found != cold.size()) std::printf("  !! cold lookups that found nothing: %" PRIu64 "\n", cold.size() - found);
        g_sink = g_sink + hits;
    }

    // Render speed of ipsec_eroute, both profiles, against copying the same bytes.
    if (n >= 100000) {
        for (OutputProfile profile : {OutputProfile::seed, OutputProfile::openswan}) {
            Klips k(bench_config(profile));
            for (const auto& r : vpn.eroutes) (void)k.add_eroute(r);
            // A user cats the file again and again: the best of five reads.
            std::string text;
            double render_s = 1e9;
            for (int rep = 0; rep < 5; ++rep) {
                auto r0 = Timer::now();
                text = render_eroute(k);
                render_s = std::min(render_s, seconds_since(r0));
            }
            std::string copy(text.size(), '\0');
            auto c0 = Timer::now();
            std::memcpy(copy.data(), text.data(), text.size());
            const double copy_s = seconds_since(c0);
            const std::string name = profile == OutputProfile::seed ? "seed" : "openswan";
            report("render ipsec_eroute (" + name + ")", text.size() / render_s / 1e6, "MB/s",
                   text.size() / copy_s / 1e6, "memcpy of the text");
            if (render_split) {
                // Where the time goes: the snapshot under the read lock, then the formatting.
                double rows_s = 1e9, format_s = 1e9;
                for (int rep = 0; rep < 5; ++rep) {
                    auto s0 = Timer::now();
                    const auto rows = k.eroute_rows();
                    rows_s = std::min(rows_s, seconds_since(s0));
                    auto f0 = Timer::now();
                    text = format_eroutes(rows, profile);
                    format_s = std::min(format_s, seconds_since(f0));
                }
                report("  snapshot, Klips::eroute_rows (" + name + ")", text.size() / rows_s / 1e6, "MB/s",
                       text.size() / render_s / 1e6, "whole render");
                report("  format_eroutes (" + name + ")", text.size() / format_s / 1e6, "MB/s",
                       text.size() / render_s / 1e6, "whole render");
            }
        }
    }
}

void bench_sa_memory(size_t n) {
    std::printf("\n%zu SAs\n", n);
    g_size = std::to_string(n) + " SAs";
    const size_t before = heap_bytes();
    Klips klips(bench_config(OutputProfile::seed));
    for (size_t i = 0; i < n; ++i) {
        SecurityAssociation sa;
        sa.said = Said{IpAddress::v4(0xc0000200u + static_cast<uint32_t>(i % 200)), static_cast<uint32_t>(0x1000 + i), kSaEsp};
        sa.src = IpAddress::v4(192, 0, 2, 1);
        sa.enc_alg = pfkey::kEncryptAesGcm16;
        sa.enc_key_bits = 288;
        sa.auth_bits = 128;
        sa.replay_window = 32;
        (void)klips.add_sa(std::move(sa));
    }
    report("heap bytes per SA", double(heap_bytes() - before) / n, "bytes",
           double(sizeof(SecurityAssociation)), "sizeof(SecurityAssociation)");
}

}  // namespace

int main(int argc, char** argv) {
    const bool quick = argc > 1 && std::strcmp(argv[1], "--quick") == 0;
    const bool render_only = argc > 1 && std::strcmp(argv[1], "--render") == 0;
    std::printf("kmod-sim module benchmark%s\n", quick ? " (quick)" : render_only ? " (render only)" : "");
    if (render_only) {
        // The render figures alone (100k and 1M), with the snapshot/format split; few lookups.
        render_split = true;
        bench_size(100000, 100'000, 10'000);
        bench_size(1000000, 100'000, 10'000);
        return 0;
    }
    const uint64_t warm = quick ? 2'000'000 : 20'000'000;
    const uint64_t cold = quick ? 200'000 : 2'000'000;
    bench_size(1000, warm, cold);
    bench_size(100000, warm, cold);
    if (!quick) bench_size(1000000, warm, cold);
    bench_sa_memory(quick ? 10000 : 100000);

    std::printf("\n| table | figure | value | baseline (same run) | ratio |\n|---|---|---|---|---|\n");
    for (const Row& r : g_rows)
        std::printf("| %s | %s | %.2f %s | %.2f (%s) | %.2f |\n", r.size.c_str(), r.name.c_str(), r.value, r.unit.c_str(), r.baseline,
                    r.baseline_name.c_str(), r.baseline > 0 ? r.value / r.baseline : 0.0);
    return 0;
}
