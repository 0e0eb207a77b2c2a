// Klips under concurrency (DESIGN.md "Concurrency"): writers apply PF_KEY operations while
// readers route packets and renderers take /proc snapshots, all through the public API.
//
// Every writer operation is one atomic transition between table states the test knows in
// advance, so every snapshot can be checked exactly, whatever the interleaving:
//  - eroute listings: lines in the known walk order, no duplicates, each line one of the known
//    lines with a well-formed count, the never-deleted eroutes always present, the replaced
//    eroute always present exactly once (with its old or its new SAID), a final '\n';
//  - spigrp listings: the whole file is one of the listings of the known group states;
//  - spi, tncfg and klipsdebug files: one of their known contents;
//  - counters: a never-deleted eroute's count never decreases across one thread's reads and
//    is never below that thread's own matches; after the join it equals the number of
//    route_packet calls that returned its SAID, summed over the readers;
//  - route_packet answers one of the SAIDs the packet can match in any state, with and
//    without a per-thread EroutCache.
// The outcome does not depend on the schedule. The writers run for ~1 s per profile
// (steady_clock) and at least a minimum number of iterations; readers and renderers run until
// both writers are done; threads start together on an atomic flag and are all joined; no
// sleeps. Catch2 is not thread-safe, so the threads record failures in their own slots and the
// main thread reports them after the join.
#include <catch2/catch.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "kmod_sim/lib/ip_address.h"
#include "kmod_sim/lib/said.h"
#include "kmod_sim/module/clock.h"
#include "kmod_sim/module/eroute_cache.h"
#include "kmod_sim/module/klips.h"
#include "kmod_sim/module/klipsdebug.h"
#include "kmod_sim/module/proc_render.h"
#include "kmod_sim/module/sa_transform.h"

using namespace kmod_sim;

namespace {

using SteadyClock = std::chrono::steady_clock;

constexpr uint8_t kIcmp = 1;
constexpr uint8_t kTcp = 6;
constexpr uint8_t kUdp = 17;

constexpr auto kRunTime = std::chrono::milliseconds(1000);  // per profile
constexpr uint64_t kMinIterations = 200;                     // per reader and renderer
// Per writer: every state of every toggle and group cycle, many times. Klips's lock prefers
// writers, so continuous readers cannot starve them: a starving lock would fail this bound
// (with glibc's default rwlock writers managed 30-330 iterations a second here).
constexpr uint64_t kMinWriterIterations = 1000;
constexpr uint64_t kMaxIterations = 50'000'000;

// ---- failures, one slot per thread

struct Failures {
    std::string thread;
    std::vector<std::string> first;  // the first few messages
    uint64_t count = 0;
    void add(std::string message) {
        if (first.size() < 8) first.push_back(thread + ": " + std::move(message));
        ++count;
    }
};

// ---- the fixed world

IpAddress addr(std::string_view text) {
    auto a = ttoaddr(text, AddressFamily::unspecified);
    return a.ok() ? *a : IpAddress{};
}

Said sa_id(std::string_view text) {
    auto s = ttosa(text);
    return s.ok() ? *s : Said{};
}

struct ErouteSpec {
    const char* name;
    const char* src;
    int src_bits;
    const char* dst;
    int dst_bits;
    uint8_t proto;
    uint16_t sport, dport;
    const char* said;
};

enum EroutId : size_t { P1, P2, P3, P6, T1, T2, T5, T3, T4, R, kEroutCount };

// P*: never deleted. T1, T2, T5: toggled by writer 0; T3, T4: toggled by writer 1; R: replaced
// by writer 1, alternating between its SAID below and kReplacedSaid. All masked keys distinct,
// so the walk order of any subset is the subsequence of the full table's order.
constexpr std::array<ErouteSpec, kEroutCount> kEroutes{{
    {"P1", "10.1.0.0", 16, "10.2.0.0", 16, 0, 0, 0, "tun0x1001@192.0.2.1"},
    {"P2", "10.3.0.0", 16, "10.4.0.0", 16, kTcp, 0, 25, "esp0x1002@192.0.2.2"},
    {"P3", "172.16.0.0", 12, "0.0.0.0", 0, 0, 0, 0, "tun0x1003@192.0.2.3"},
    {"P6", "3049:1::", 64, "::", 0, 0, 0, 0, "tun:130@3058:4::5"},
    {"T1", "172.16.1.0", 24, "192.168.1.0", 24, 0, 0, 0, "tun0x2001@192.0.2.4"},
    {"T2", "172.16.2.0", 24, "192.168.2.0", 24, kUdp, 53, 0, "esp0x2002@192.0.2.4"},
    {"T5", "3049:2::", 64, "3058::", 16, 0, 0, 0, "esp:2005@3058:4::5"},
    {"T3", "172.16.3.0", 24, "192.168.3.0", 24, 0, 0, 0, "%drop"},
    {"T4", "172.16.4.5", 32, "192.168.4.0", 24, kTcp, 0, 0, "%pass"},
    {"R", "10.5.0.0", 16, "10.6.0.0", 16, 0, 0, 0, "tun0x3001@192.0.2.5"},
}};
constexpr const char* kReplacedSaid = "%hold";
constexpr std::array<EroutId, 4> kPermanent{P1, P2, P3, P6};

EroutSelector selector_of(const ErouteSpec& e) {
    EroutSelector s;
    s.src = addr(e.src);
    s.dst = addr(e.dst);
    s.src_mask = mask_from_bits(s.src.family(), e.src_bits);
    s.dst_mask = mask_from_bits(s.dst.family(), e.dst_bits);
    s.proto = e.proto;
    s.sport = e.sport;
    s.dport = e.dport;
    s.sport_mask = e.sport ? 0xffff : 0;
    s.dport_mask = e.dport ? 0xffff : 0;
    return s;
}

EroutRequest request_of(EroutId id, const char* said = nullptr) {
    EroutRequest r;
    r.selector = selector_of(kEroutes[id]);
    r.said = sa_id(said ? said : kEroutes[id].said);
    return r;
}

// Which eroute a returned SAID belongs to (every SAID is unique to one eroute; kReplacedSaid is R's).
std::optional<EroutId> eroute_of(const Said& said) {
    if (said == sa_id(kReplacedSaid)) return R;
    for (size_t i = 0; i < kEroutCount; ++i)
        if (said == sa_id(kEroutes[i].said)) return static_cast<EroutId>(i);
    return std::nullopt;
}

// A packet and every answer route_packet may give for it in some state of the table
// (kNoMatch = nullopt).
constexpr size_t kNoMatch = kEroutCount;
struct Probe {
    PacketSelector packet;
    std::vector<size_t> allowed;
};

PacketSelector packet(std::string_view src, std::string_view dst, uint8_t proto = kIcmp, uint16_t sport = 0,
                      uint16_t dport = 0) {
    return PacketSelector{addr(src), addr(dst), proto, sport, dport};
}

std::vector<Probe> probes() {
    return {
        {packet("10.1.1.1", "10.2.2.2"), {P1}},
        {packet("10.3.3.3", "10.4.4.4", kTcp, 1234, 25), {P2}},
        {packet("10.3.3.3", "10.4.4.4", kTcp, 1234, 80), {kNoMatch}},
        {packet("172.16.200.1", "8.8.8.8"), {P3}},
        {packet("172.16.1.9", "192.168.1.9"), {T1, P3}},
        {packet("172.16.2.9", "192.168.2.9", kUdp, 53, 999), {T2, P3}},
        {packet("172.16.2.9", "192.168.2.9", kUdp, 54, 999), {P3}},
        {packet("172.16.3.9", "192.168.3.9"), {T3, P3}},
        {packet("172.16.4.5", "192.168.4.9", kTcp, 1, 2), {T4, P3}},
        {packet("10.5.1.1", "10.6.1.1"), {R}},  // old or new SAID: never missing
        {packet("3049:1::9", "3058:4::5"), {P6}},
        {packet("3049:2::9", "3058:1::1"), {T5, kNoMatch}},
    };
}

// SA groups: writer 0 cycles G1 through {} -> {a-b} -> {a-b-c} -> {}; writer 1 cycles G2
// through {} -> {y-z} -> {x-y-z} -> {}. G2's destination is local, so its SAs are inbound
// (the openswan profile prints inbound chains outer to inner).
constexpr std::array<const char*, 3> kGroup1{"tun0x5001@192.0.2.10", "esp0x5001@192.0.2.10", "ah0x5001@192.0.2.10"};
constexpr std::array<const char*, 3> kGroup2{"tun0x6001@192.0.2.20", "comp0x6001@192.0.2.20", "esp0x6001@192.0.2.20"};
const IpAddress kLocal = IpAddress::v4(192, 0, 2, 20);

// The grouping operation that moves each group from state s to s + 1 (mod 3); the third
// ungroups through a member chosen by `round`.
int step_group1(Klips& k, int state, uint64_t round) {
    switch (state) {
    case 0: return k.group_sas(sa_id(kGroup1[0]), sa_id(kGroup1[1]));
    case 1: return k.group_sas(sa_id(kGroup1[1]), sa_id(kGroup1[2]));
    default: return k.ungroup_sa(sa_id(kGroup1[round % 3]));
    }
}
int step_group2(Klips& k, int state, uint64_t round) {
    switch (state) {
    case 0: return k.group_sas(sa_id(kGroup2[1]), sa_id(kGroup2[2]));
    case 1: return k.group_sas(sa_id(kGroup2[0]), sa_id(kGroup2[1]));
    default: return k.ungroup_sa(sa_id(kGroup2[round % 3]));
    }
}

SecurityAssociation sa_with(const Said& said) {
    SecurityAssociation sa;
    sa.said = said;
    return sa;
}

std::unique_ptr<Klips> make_klips(OutputProfile profile) {
    KlipsConfig config;
    config.profile = profile;
    config.clock = std::make_shared<ManualClock>(1000);
    config.is_local_address = [](const IpAddress& a) { return a == kLocal; };
    auto k = std::make_unique<Klips>(std::move(config));
    for (const char* s : kGroup1) k->add_sa(sa_with(sa_id(s)));
    for (const char* s : kGroup2) k->add_sa(sa_with(sa_id(s)));
    return k;
}

// ---- listing checks

// Splits an eroute line into its count and the rest, checking the count field's shape:
// seed "<count> ", openswan "%-10d ". False when malformed.
bool split_eroute_line(std::string_view line, OutputProfile profile, uint64_t* count, std::string_view* rest) {
    size_t digits = 0;
    while (digits < line.size() && line[digits] >= '0' && line[digits] <= '9') ++digits;
    if (digits == 0 || digits > 10 || (digits > 1 && line[0] == '0')) return false;
    auto r = std::from_chars(line.data(), line.data() + digits, *count);
    if (r.ec != std::errc{} || *count > UINT32_MAX) return false;
    const size_t field = profile == OutputProfile::seed ? digits : std::max<size_t>(digits, 10);
    if (line.size() <= field + 1) return false;
    for (size_t i = digits; i <= field; ++i)
        if (line[i] != ' ') return false;
    *rest = line.substr(field + 1);
    return (*rest)[0] != ' ';
}

// What the walk may show: each possible line (without its count) and its position in the
// walk order of the full table; R's two SAIDs share one position.
struct KnownEroutes {
    std::map<std::string, size_t, std::less<>> position;
    std::map<size_t, EroutId> id_at;  // position -> eroute
};

struct CountWatch {
    std::array<uint64_t, kEroutCount> last{};  // per eroute: the last count this thread saw
};

void check_eroute_listing(const std::string& text, const KnownEroutes& known, OutputProfile profile,
                          CountWatch& watch, const std::array<uint64_t, kEroutCount>* own_matches,
                          Failures& f, const char* what) {
    if (text.empty() || text.back() != '\n') {
        f.add(std::string(what) + ": listing is empty or lacks the final newline:\n" + text);
        return;
    }
    std::vector<size_t> positions;
    std::array<int, kEroutCount> seen{};
    std::array<uint64_t, kEroutCount> counts{};
    size_t start = 0;
    while (start < text.size()) {
        const size_t end = text.find('\n', start);
        const std::string_view line(text.data() + start, end - start);
        start = end + 1;
        uint64_t count = 0;
        std::string_view rest;
        if (!split_eroute_line(line, profile, &count, &rest)) {
            f.add(std::string(what) + ": malformed line '" + std::string(line) + "'");
            continue;
        }
        auto it = known.position.find(rest);
        if (it == known.position.end()) {
            f.add(std::string(what) + ": unknown line '" + std::string(line) + "'");
            continue;
        }
        positions.push_back(it->second);
        const EroutId id = known.id_at.at(it->second);
        ++seen[id];
        counts[id] = count;
    }
    for (size_t i = 1; i < positions.size(); ++i)
        if (positions[i - 1] >= positions[i]) {
            f.add(std::string(what) + ": lines out of walk order or duplicated:\n" + text);
            break;
        }
    for (EroutId id : kPermanent) {
        if (seen[id] != 1) {
            f.add(std::string(what) + ": never-deleted eroute " + kEroutes[id].name + " listed " +
                  std::to_string(seen[id]) + " times:\n" + text);
            continue;
        }
        if (counts[id] < watch.last[id])
            f.add(std::string(what) + ": count of " + kEroutes[id].name + " went down from " +
                  std::to_string(watch.last[id]) + " to " + std::to_string(counts[id]));
        if (own_matches && counts[id] < (*own_matches)[id])
            f.add(std::string(what) + ": count of " + kEroutes[id].name + " is " + std::to_string(counts[id]) +
                  ", below this thread's own " + std::to_string((*own_matches)[id]) + " matches");
        watch.last[id] = counts[id];
    }
    if (seen[R] != 1)
        f.add(std::string(what) + ": the replaced eroute listed " + std::to_string(seen[R]) + " times:\n" + text);
}

KnownEroutes known_eroutes(OutputProfile profile) {
    KnownEroutes known;
    auto full = make_klips(profile);
    for (size_t i = 0; i < kEroutCount; ++i) full->add_eroute(request_of(static_cast<EroutId>(i)));
    auto lines_of = [&](const std::string& text) {
        std::vector<std::string> out;
        size_t start = 0;
        while (start < text.size()) {
            const size_t end = text.find('\n', start);
            uint64_t count = 0;
            std::string_view rest;
            const std::string_view line(text.data() + start, end - start);
            if (split_eroute_line(line, profile, &count, &rest)) out.emplace_back(rest);
            start = end + 1;
        }
        return out;
    };
    const auto lines = lines_of(render_eroute(*full));
    const auto rows = full->eroute_rows();
    for (size_t pos = 0; pos < lines.size() && pos < rows.size(); ++pos) {
        known.position[lines[pos]] = pos;
        known.id_at[pos] = *eroute_of(rows[pos].said);
    }
    // R with its other SAID, at R's position.
    std::unique_ptr<HeldPackets> reinject;
    full->replace_eroute(request_of(R, kReplacedSaid), &reinject);
    const auto replaced = lines_of(render_eroute(*full));
    for (size_t pos = 0; pos < replaced.size(); ++pos)
        if (!known.position.contains(replaced[pos])) known.position[replaced[pos]] = pos;
    return known;
}

// Every spigrp file any pair of group states gives.
std::set<std::string> known_spigrp(OutputProfile profile) {
    std::set<std::string> out;
    for (int g1 = 0; g1 < 3; ++g1)
        for (int g2 = 0; g2 < 3; ++g2) {
            auto k = make_klips(profile);
            for (int s = 0; s < g1; ++s) step_group1(*k, s, 0);
            for (int s = 0; s < g2; ++s) step_group2(*k, s, 0);
            out.insert(render_spigrp(*k));
        }
    return out;
}

std::string describe(const std::string& text) { return text.empty() ? "(empty)" : "\n" + text; }

// ---- the run

struct RunResult {
    std::vector<Failures> failures;   // one per thread
    std::vector<uint64_t> iterations;  // one per thread
    std::array<SteadyClock::duration, 2> slowest_write{};  // per writer: the longest single operation
};

// Runs one write operation, keeping the longest time any took.
template <typename F>
auto timed(SteadyClock::duration& slowest, F&& op) {
    const auto t0 = SteadyClock::now();
    auto result = op();
    slowest = std::max(slowest, SteadyClock::now() - t0);
    return result;
}

}  // namespace

TEST_CASE("Klips stays consistent under concurrent writers, packet readers and renderers", "[klips][stress]") {
    const OutputProfile profile = GENERATE(OutputProfile::seed, OutputProfile::openswan);
    INFO("profile " << (profile == OutputProfile::seed ? "seed" : "openswan"));

    auto klips_ptr = make_klips(profile);
    Klips& k = *klips_ptr;
    REQUIRE(k.sa_count() == 6);
    for (EroutId id : kPermanent) REQUIRE(k.add_eroute(request_of(id)) == 0);
    REQUIRE(k.add_eroute(request_of(R)) == 0);

    // ---- what may be seen, worked out single-threaded
    const KnownEroutes known = known_eroutes(profile);
    REQUIRE(known.position.size() == kEroutCount + 1);
    REQUIRE(known.id_at.size() == kEroutCount);
    if (profile == OutputProfile::seed) {
        // The full table in walk order: IPv4 by masked key, then IPv6 (spec §2.1).
        std::vector<std::string> order;
        for (const auto& [pos, id] : known.id_at) order.push_back(kEroutes[id].name);
        CHECK(order == std::vector<std::string>{"P1", "P2", "R", "P3", "T1", "T2", "T3", "T4", "P6", "T5"});
        auto full = make_klips(profile);
        for (size_t i = 0; i < kEroutCount; ++i) REQUIRE(full->add_eroute(request_of(static_cast<EroutId>(i))) == 0);
        CHECK(render_eroute(*full) == "0 10.1.0.0/16:0 -> 10.2.0.0/16:0 => tun0x1001@192.0.2.1:0 () ()\n"
                                      "0 10.3.0.0/16:0 -> 10.4.0.0/16:25 => esp0x1002@192.0.2.2:6 () ()\n"
                                      "0 10.5.0.0/16:0 -> 10.6.0.0/16:0 => tun0x3001@192.0.2.5:0 () ()\n"
                                      "0 172.16.0.0/12:0 -> 0.0.0.0/0:0 => tun0x1003@192.0.2.3:0 () ()\n"
                                      "0 172.16.1.0/24:0 -> 192.168.1.0/24:0 => tun0x2001@192.0.2.4:0 () ()\n"
                                      "0 172.16.2.0/24:53 -> 192.168.2.0/24:0 => esp0x2002@192.0.2.4:17 () ()\n"
                                      "0 172.16.3.0/24:0 -> 192.168.3.0/24:0 => %drop\n"
                                      "0 172.16.4.5/32:0 -> 192.168.4.0/24:0 => %pass\n"
                                      "0 3049:1::/64 -> ::/0 => tun:130@3058:4::5 () ()\n"
                                      "0 3049:2::/64 -> 3058::/16 => esp:2005@3058:4::5 () ()\n");
    }
    const std::set<std::string> spigrp_files = known_spigrp(profile);
    REQUIRE(spigrp_files.size() == 9);
    const std::string spi_file = render_spi(k);
    REQUIRE(std::count(spi_file.begin(), spi_file.end(), '\n') == 6);
    const std::string tncfg_detached = render_tncfg(k);
    REQUIRE(k.attach_device("ipsec1", "eth1", Tncfg::kAttachedMtu, 1500) == 0);
    const std::string tncfg_attached = render_tncfg(k);
    REQUIRE(k.detach_device("ipsec1") == 0);
    const std::string debug_clear = render_klipsdebug(k);
    k.apply_debug(KlipsDebug::set_words(KlipsDebug::kEroute));
    const std::string debug_set = render_klipsdebug(k);
    k.apply_debug(KlipsDebug::clear_words(KlipsDebug::kEroute));
    REQUIRE(render_klipsdebug(k) == debug_clear);

    // The probes' answer sets hold with every toggled eroute absent and with every one present.
    const std::vector<Probe> probe_list = probes();
    auto answer = [](const std::optional<Said>& s) -> size_t {
        if (!s) return kNoMatch;
        auto id = eroute_of(*s);
        return id ? *id : kNoMatch + 1;
    };
    for (int pass = 0; pass < 2; ++pass) {
        auto probe_klips = make_klips(profile);
        for (EroutId id : kPermanent) REQUIRE(probe_klips->add_eroute(request_of(id)) == 0);
        REQUIRE(probe_klips->add_eroute(request_of(R)) == 0);
        if (pass == 1)
            for (EroutId id : {T1, T2, T5, T3, T4}) REQUIRE(probe_klips->add_eroute(request_of(id)) == 0);
        for (size_t i = 0; i < probe_list.size(); ++i) {
            INFO("probe " << i << " pass " << pass);
            const size_t got = answer(probe_klips->route_packet(probe_list[i].packet));
            CHECK(std::find(probe_list[i].allowed.begin(), probe_list[i].allowed.end(), got) !=
                  probe_list[i].allowed.end());
            // With the toggled eroutes present each probe reaches the first of its answers,
            // with them absent the last (its fallback).
            CHECK(got == (pass == 1 ? probe_list[i].allowed.front() : probe_list[i].allowed.back()));
        }
    }

    // ---- the concurrent run
    enum Role { kWriter0, kWriter1, kReader0, kReader1, kRenderer0, kRenderer1, kThreads };
    RunResult result;
    result.failures.resize(kThreads);
    result.iterations.resize(kThreads);
    const char* names[kThreads] = {"writer 0", "writer 1", "reader 0", "reader 1", "renderer 0", "renderer 1"};
    for (int t = 0; t < kThreads; ++t) result.failures[t].thread = names[t];
    std::array<std::array<uint64_t, kEroutCount>, 2> reader_matches{};
    std::array<bool, kEroutCount> final_present{};
    for (EroutId id : kPermanent) final_present[id] = true;
    final_present[R] = true;
    int final_group1 = 0, final_group2 = 0;
    bool final_r_replaced = false;

    std::atomic<int> ready{0};
    std::atomic<bool> go{false};
    SteadyClock::time_point deadline{};
    auto start_together = [&] {
        ready.fetch_add(1);
        while (!go.load(std::memory_order_acquire)) std::this_thread::yield();
    };
    // Writers run until the deadline (and at least kMinWriterIterations); readers and renderers run
    // until both writers are done, so they overlap every transition.
    std::atomic<int> writers_running{2};
    auto keep_writing = [&](uint64_t i) {
        if (i < kMinWriterIterations) return true;
        return i < kMaxIterations && SteadyClock::now() < deadline;
    };
    auto keep_reading = [&](uint64_t i) {
        if (i < kMinIterations) return true;
        return i < kMaxIterations && writers_running.load(std::memory_order_relaxed) > 0;
    };

    // A writer's own eroutes: add when absent, delete when present.
    auto toggle = [&](Failures& f, SteadyClock::duration& slowest, std::array<bool, kEroutCount>& present,
                      EroutId id) {
        const int e = present[id] ? timed(slowest, [&] { return k.delete_eroute(selector_of(kEroutes[id])); })
                                  : timed(slowest, [&] { return k.add_eroute(request_of(id)); });
        if (e) f.add(std::string(present[id] ? "delete " : "add ") + kEroutes[id].name + ": " + std::to_string(e));
        present[id] = !present[id];
    };

    auto writer0 = [&] {
        Failures& f = result.failures[kWriter0];
        auto& slowest = result.slowest_write[0];
        start_together();
        std::array<bool, kEroutCount> present{};
        int group = 0;
        const EroutId mine[] = {T1, T2, T5};
        uint64_t i = 0;
        for (; keep_writing(i); ++i) {
            toggle(f, slowest, present, mine[i % 3]);
            if (int e = timed(slowest, [&] { return step_group1(k, group, i); }))
                f.add("group 1 step from " + std::to_string(group) + ": " + std::to_string(e));
            group = (group + 1) % 3;
            if (i % 8 == 0) {
                // Operations that must fail, interleaved with the others.
                if (int e = timed(slowest, [&] { return k.add_eroute(request_of(P1)); }); e != EEXIST)
                    f.add("re-adding P1: " + std::to_string(e));
                const EroutSelector absent = selector_of({"X", "11.0.0.0", 8, "0.0.0.0", 0, 0, 0, 0, "%pass"});
                if (int e = timed(slowest, [&] { return k.delete_eroute(absent); }); e != EFAULT)
                    f.add("deleting an absent eroute: " + std::to_string(e));
                const Said missing = sa_id("esp0x9999@192.0.2.10");
                if (int e = timed(slowest, [&] { return k.group_sas(sa_id(kGroup1[0]), missing); }); e != ENOENT)
                    f.add("grouping with a missing SA: " + std::to_string(e));
            }
        }
        result.iterations[kWriter0] = i;
        for (EroutId id : mine) final_present[id] = present[id];
        final_group1 = group;
        writers_running.fetch_sub(1);
    };

    auto writer1 = [&] {
        Failures& f = result.failures[kWriter1];
        auto& slowest = result.slowest_write[1];
        start_together();
        std::array<bool, kEroutCount> present{};
        int group = 0;
        bool replaced = false, attached = false, debugging = false;
        const EroutId mine[] = {T3, T4};
        uint64_t i = 0;
        for (; keep_writing(i); ++i) {
            toggle(f, slowest, present, mine[i % 2]);

            std::unique_ptr<HeldPackets> reinject;
            const EroutRequest next = request_of(R, replaced ? nullptr : kReplacedSaid);
            if (int e = timed(slowest, [&] { return k.replace_eroute(next, &reinject); }))
                f.add("replace R: " + std::to_string(e));
            if (reinject && (!reinject->first.empty() || !reinject->last.empty()))
                f.add("replace R returned held packets that nobody held");
            replaced = !replaced;

            if (int e = timed(slowest, [&] { return step_group2(k, group, i); }))
                f.add("group 2 step from " + std::to_string(group) + ": " + std::to_string(e));
            group = (group + 1) % 3;

            if (i % 4 == 0) {
                const int e = timed(slowest, [&] {
                    return attached ? k.detach_device("ipsec1") : k.attach_device("ipsec1", "eth1", Tncfg::kAttachedMtu, 1500);
                });
                if (e) f.add("tncfg: " + std::to_string(e));
                attached = !attached;
                timed(slowest, [&] {
                    k.apply_debug(debugging ? KlipsDebug::clear_words(KlipsDebug::kEroute)
                                            : KlipsDebug::set_words(KlipsDebug::kEroute));
                    return 0;
                });
                debugging = !debugging;
            }
        }
        result.iterations[kWriter1] = i;
        for (EroutId id : mine) final_present[id] = present[id];
        final_group2 = group;
        final_r_replaced = replaced;
        if (attached) k.detach_device("ipsec1");
        if (debugging) k.apply_debug(KlipsDebug::clear_words(KlipsDebug::kEroute));
        writers_running.fetch_sub(1);
    };

    auto reader = [&](int slot) {
        Failures& f = result.failures[kReader0 + slot];
        auto& matches = reader_matches[slot];
        CountWatch watch;
        // Reader 1 routes through its own lookup cache, which every table change must invalidate.
        std::unique_ptr<EroutCache> cache = slot == 1 ? std::make_unique<EroutCache>() : nullptr;
        start_together();
        uint64_t i = 0;
        for (; keep_reading(i); ++i) {
            const Probe& p = probe_list[i % probe_list.size()];
            const std::optional<Said> got = k.route_packet(p.packet, cache.get());
            const size_t a = answer(got);
            if (std::find(p.allowed.begin(), p.allowed.end(), a) == p.allowed.end()) {
                f.add("probe " + std::to_string(i % probe_list.size()) + " answered " +
                      (got ? satot(*got, SaidFormat::hex) : std::string("nothing")));
                continue;
            }
            if (a < kEroutCount) ++matches[a];
            if (i % 16 == 15) {
                // The counters as this thread sees them: never down, never below its own matches.
                for (const EroutRow& row : k.eroute_rows()) {
                    const auto id = eroute_of(row.said);
                    if (!id || std::find(kPermanent.begin(), kPermanent.end(), *id) == kPermanent.end()) continue;
                    if (row.count < watch.last[*id])
                        f.add(std::string("count of ") + kEroutes[*id].name + " went down from " +
                              std::to_string(watch.last[*id]) + " to " + std::to_string(row.count));
                    if (row.count < matches[*id])
                        f.add(std::string("count of ") + kEroutes[*id].name + " is " + std::to_string(row.count) +
                              ", below this reader's " + std::to_string(matches[*id]) + " matches");
                    watch.last[*id] = row.count;
                }
            }
        }
        result.iterations[kReader0 + slot] = i;
    };

    auto renderer = [&](int slot) {
        Failures& f = result.failures[kRenderer0 + slot];
        CountWatch watch;
        start_together();
        uint64_t i = 0;
        for (; keep_reading(i); ++i) {
            switch ((i + static_cast<uint64_t>(slot)) % 4) {
            case 0:
                check_eroute_listing(render_eroute(k), known, profile, watch, nullptr, f, "render_eroute");
                break;
            case 1: {
                const auto rows = k.eroute_rows();
                check_eroute_listing(format_eroutes(rows, profile), known, profile, watch, nullptr, f, "eroute_rows");
                break;
            }
            case 2: {
                const std::string text = render_spigrp(k);
                if (!spigrp_files.contains(text)) f.add("render_spigrp: not a listing of any state:" + describe(text));
                const auto lines = k.spigrp_lines();
                const std::string again = format_spigrp(lines, profile);
                if (!spigrp_files.contains(again)) f.add("spigrp_lines: not a listing of any state:" + describe(again));
                break;
            }
            default: {
                const std::string spi = render_spi(k);
                if (spi != spi_file) f.add("render_spi changed:" + describe(spi));
                const std::string tncfg = render_tncfg(k);
                if (tncfg != tncfg_detached && tncfg != tncfg_attached) f.add("render_tncfg:" + describe(tncfg));
                const std::string debug = render_klipsdebug(k);
                if (debug != debug_clear && debug != debug_set) f.add("render_klipsdebug:" + describe(debug));
                break;
            }
            }
        }
        result.iterations[kRenderer0 + slot] = i;
    };

    std::vector<std::thread> threads;
    threads.emplace_back(writer0);
    threads.emplace_back(writer1);
    threads.emplace_back(reader, 0);
    threads.emplace_back(reader, 1);
    threads.emplace_back(renderer, 0);
    threads.emplace_back(renderer, 1);
    while (ready.load() < kThreads) std::this_thread::yield();
    const auto started = SteadyClock::now();
    deadline = started + kRunTime;
    go.store(true, std::memory_order_release);
    for (auto& t : threads) t.join();
    const double seconds = std::chrono::duration<double>(SteadyClock::now() - started).count();

    // ---- after the join
    std::printf("klips_stress %s: %.2f s; iterations:", profile == OutputProfile::seed ? "seed" : "openswan",
                seconds);
    for (int t = 0; t < kThreads; ++t)
        std::printf(" %s %llu", names[t], static_cast<unsigned long long>(result.iterations[t]));
    std::printf("; slowest write operation %.1f ms / %.1f ms\n",
                std::chrono::duration<double, std::milli>(result.slowest_write[0]).count(),
                std::chrono::duration<double, std::milli>(result.slowest_write[1]).count());

    for (const Failures& f : result.failures) {
        INFO(f.thread << ": " << f.count << " failures");
        for (const std::string& m : f.first) UNSCOPED_INFO(m);
        CHECK(f.count == 0);
    }
    for (int t = 0; t < kThreads; ++t)
        CHECK(result.iterations[t] >= (t == kWriter0 || t == kWriter1 ? kMinWriterIterations : kMinIterations));

    // Every never-deleted eroute counted exactly the packets routed to it.
    std::array<uint64_t, kEroutCount> matched{};
    for (const auto& m : reader_matches)
        for (size_t i = 0; i < kEroutCount; ++i) matched[i] += m[i];
    const auto rows = k.eroute_rows();
    std::array<int, kEroutCount> listed{};
    for (const EroutRow& row : rows) {
        const auto id = eroute_of(row.said);
        REQUIRE(id.has_value());
        ++listed[*id];
        INFO("eroute " << kEroutes[*id].name);
        if (std::find(kPermanent.begin(), kPermanent.end(), *id) != kPermanent.end())
            CHECK(row.count == matched[*id]);
        else
            CHECK(row.count <= matched[*id]);  // toggled or replaced: counted since it was last added
    }
    for (size_t i = 0; i < kEroutCount; ++i) {
        INFO("eroute " << kEroutes[i].name);
        CHECK(listed[i] == (final_present[i] ? 1 : 0));
    }
    for (EroutId id : kPermanent) CHECK(matched[id] > 0);
    // The replaced eroute carries the SAID of the last replace.
    for (const EroutRow& row : rows)
        if (eroute_of(row.said) == R) CHECK(row.said == sa_id(final_r_replaced ? kReplacedSaid : kEroutes[R].said));

    // The groups are as the writers left them.
    auto expected = make_klips(profile);
    for (int s = 0; s < final_group1; ++s) step_group1(*expected, s, 0);
    for (int s = 0; s < final_group2; ++s) step_group2(*expected, s, 0);
    CHECK(render_spigrp(k) == render_spigrp(*expected));
    CHECK(render_spi(k) == spi_file);
    CHECK(render_tncfg(k) == tncfg_detached);
    CHECK(render_klipsdebug(k) == debug_clear);
}

// ---------------------------------------------------------------------------------------------
// The data plane under concurrency: two packet threads send pings through a tun+esp group and
// take each sealed packet straight back through rcv (a round trip in one instance, as in
// test_klips_rcv.cc), and also send a packet through a %pass eroute nobody touches; a writer
// deletes, adds, ungroups and regroups the SAs, flushes them (all, and ESP with its group), deletes and
// re-adds the group's eroute and replaces it with %drop, %hold and %pass and back; a reader
// renders ipsec_spi and ipsec_eroute. Every packet's answer must be one the writer's states
// allow, in any interleaving:
//  - xmit: sent through 2 transforms (grouped) or 1 (the tunnel alone), as an IPsec or IPIP
//    packet; dropped for no eroute, a %drop eroute or a missing SA; held; passed unchanged;
//  - rcv of what was sent: delivered (the original ping, or the IPIP packet around it when the
//    ESP SA was ungrouped meanwhile); passed (plain IPIP); dropped for an unknown SA or by the
//    replay window (a thread's packet overtaken by more than the window, or an older
//    generation's number seen first by a re-added SA);
//  - the %pass eroute: always passed, its count never going down in anyone's view, and
//    finally the number of packets sent to it.
// After the join the SAs and the eroute are set up once more, single-threaded, and a round
// trip must deliver.

namespace {

namespace dpstress {

constexpr auto kRunTime = std::chrono::milliseconds(1000);
constexpr uint64_t kMinPackets = 200;  // per packet thread
constexpr uint64_t kMinWrites = 100;   // writer cycles

constexpr const char* kGwL = "192.1.2.45";
constexpr const char* kTunSaid = "tun0x7001@192.1.2.23";
constexpr const char* kEspSaid = "esp0x7002@192.1.2.23";

std::vector<uint8_t> esp_key() {
    std::vector<uint8_t> k(36);
    for (size_t i = 0; i < k.size(); ++i) k[i] = static_cast<uint8_t>(0x21 + 7 * i);
    return k;
}

uint32_t sum16(std::span<const uint8_t> b) {
    uint32_t acc = 0;
    for (size_t i = 0; i + 1 < b.size(); i += 2) acc += uint32_t{b[i]} << 8 | b[i + 1];
    if (b.size() % 2) acc += uint32_t{b.back()} << 8;
    while (acc >> 16) acc = (acc & 0xffff) + (acc >> 16);
    return acc;
}

// An IPv4 ICMP echo request, 64 bytes of data, checksums filled in.
std::vector<uint8_t> ping(const char* src, const char* dst, uint16_t seq) {
    std::vector<uint8_t> p(20 + 8 + 64);
    p[0] = 0x45;
    p[2] = static_cast<uint8_t>(p.size() >> 8);
    p[3] = static_cast<uint8_t>(p.size());
    p[8] = 64;
    p[9] = kIcmp;
    std::copy_n(addr(src).bytes().data(), 4, p.begin() + 12);
    std::copy_n(addr(dst).bytes().data(), 4, p.begin() + 16);
    const uint16_t ip_sum = static_cast<uint16_t>(~sum16(std::span<const uint8_t>(p).first(20)));
    p[10] = static_cast<uint8_t>(ip_sum >> 8);
    p[11] = static_cast<uint8_t>(ip_sum);
    p[20] = 8;
    p[26] = static_cast<uint8_t>(seq >> 8);
    p[27] = static_cast<uint8_t>(seq);
    for (size_t i = 28; i < p.size(); ++i) p[i] = static_cast<uint8_t>(i * 3);
    const uint16_t icmp_sum = static_cast<uint16_t>(~sum16(std::span<const uint8_t>(p).subspan(20)));
    p[22] = static_cast<uint8_t>(icmp_sum >> 8);
    p[23] = static_cast<uint8_t>(icmp_sum);
    return p;
}

SecurityAssociation keyed(SecurityAssociation sa, std::span<const uint8_t> enc) {
    sa.transform = make_sa_transform(sa, SaKeys{{}, enc}, nullptr);
    return sa;
}
SecurityAssociation tun_sa() {
    SecurityAssociation sa;
    sa.said = sa_id(kTunSaid);
    sa.src = addr(kGwL);
    return keyed(std::move(sa), {});
}
SecurityAssociation esp_sa() {
    SecurityAssociation sa;
    sa.said = sa_id(kEspSaid);
    sa.src = addr(kGwL);
    sa.enc_alg = pfkey::kEncryptChacha20Poly1305;
    sa.enc_key_bits = 288;
    sa.auth_bits = 128;
    sa.replay_window = 32;
    return keyed(std::move(sa), esp_key());
}

EroutRequest group_eroute(const char* said = kTunSaid) {
    EroutRequest r;
    r.selector = selector_of({"G", "192.0.2.0", 24, "192.0.1.0", 24, 0, 0, 0, ""});
    r.said = sa_id(said);
    return r;
}
EroutRequest pass_eroute() {
    EroutRequest r;
    r.selector = selector_of({"P", "10.1.0.0", 16, "10.2.0.0", 16, 0, 0, 0, ""});
    r.said = sa_id("%pass");
    return r;
}

bool same(std::span<const uint8_t> a, std::span<const uint8_t> b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin());
}
// The IPIP packet around `inner`: protocol 4 and the inner packet after a 20-byte header.
bool ipip_around(std::span<const uint8_t> p, std::span<const uint8_t> inner) {
    return p.size() == 20 + inner.size() && p[0] == 0x45 && p[9] == 4 && same(p.subspan(20), inner);
}

// The %pass eroute's count in an ipsec_eroute listing (seed profile); nullopt when missing.
std::optional<uint64_t> pass_count(const std::string& listing) {
    const std::string_view tail = " 10.1.0.0/16:0 -> 10.2.0.0/16:0 => %pass\n";
    const size_t at = listing.find(tail);
    if (at == std::string::npos) return std::nullopt;
    size_t start = listing.rfind('\n', at);
    start = start == std::string::npos ? 0 : start + 1;
    uint64_t count = 0;
    auto r = std::from_chars(listing.data() + start, listing.data() + at, count);
    if (r.ec != std::errc{} || r.ptr != listing.data() + at) return std::nullopt;
    return count;
}

}  // namespace dpstress

}  // namespace

TEST_CASE("Klips data plane round trips while SAs and eroutes change", "[klips][stress][dataplane]") {
    using namespace dpstress;
    using dpstress::kRunTime;
    KlipsConfig config;
    config.clock = std::make_shared<ManualClock>(1000);
    config.is_local_address = [](const IpAddress&) { return false; };
    Klips k(std::move(config));
    auto setup_group = [&] {
        int e = k.add_sa(tun_sa());
        if (!e) e = k.add_sa(esp_sa());
        if (!e) e = k.group_sas(sa_id(kTunSaid), sa_id(kEspSaid));
        return e;
    };
    REQUIRE(setup_group() == 0);
    REQUIRE(k.add_eroute(group_eroute()) == 0);
    REQUIRE(k.add_eroute(pass_eroute()) == 0);
    {
        // The world works before the threads start.
        PacketWork work;
        const auto p = ping("192.0.2.1", "192.0.1.1", 0);
        const PacketResult sent = k.xmit(p, work);
        REQUIRE(sent.verdict == PacketVerdict::sent);
        REQUIRE(sent.transforms == 2);
        const std::vector<uint8_t> wire(sent.packet.begin(), sent.packet.end());
        const PacketResult got = k.rcv(wire, work);
        REQUIRE(got.verdict == PacketVerdict::delivered);
        REQUIRE(same(got.packet, p));
    }

    enum Role { kWriter, kPackets0, kPackets1, kReader, kThreads };
    const char* names[kThreads] = {"writer", "packets 0", "packets 1", "reader"};
    std::array<Failures, kThreads> failures;
    std::array<uint64_t, kThreads> iterations{};
    for (int t = 0; t < kThreads; ++t) failures[t].thread = names[t];
    std::array<std::map<std::string, uint64_t>, 2> outcomes;  // per packet thread: "xmit sent 2" -> n
    std::array<uint64_t, 2> passes{};                         // per packet thread: packets to %pass

    std::atomic<int> ready{0};
    std::atomic<bool> go{false}, writing{true};
    SteadyClock::time_point deadline{};
    auto start_together = [&] {
        ready.fetch_add(1);
        while (!go.load(std::memory_order_acquire)) std::this_thread::yield();
    };

    auto writer = [&] {
        Failures& f = failures[kWriter];
        start_together();
        auto expect = [&](const char* what, int e) {
            if (e) f.add(std::string(what) + ": " + std::to_string(e));
        };
        auto replace = [&](const char* said) {
            std::unique_ptr<HeldPackets> reinject;  // held packets are dropped with it
            expect(said, k.replace_eroute(group_eroute(said), &reinject));
        };
        uint64_t i = 0;
        for (; i < kMinWrites || (i < kMaxIterations && SteadyClock::now() < deadline); ++i) {
            // One cycle through every change, back to the starting state.
            expect("ungroup", k.ungroup_sa(sa_id(kEspSaid)));
            expect("regroup", k.group_sas(sa_id(kTunSaid), sa_id(kEspSaid)));
            replace("%drop");
            replace("%hold");
            replace(kTunSaid);
            expect("delete eroute", k.delete_eroute(group_eroute().selector));
            expect("add eroute", k.add_eroute(group_eroute()));
            expect("delete SA", k.delete_sa(sa_id(kEspSaid)));  // the whole group goes
            expect("re-add group", setup_group());
            k.flush_sas();
            expect("add after flush", setup_group());
            k.flush_sas(kSaEsp);  // the ESP SA with its whole group, as delete_sa
            if (k.sa_count() != 0) f.add("SA count " + std::to_string(k.sa_count()) + " after flushing ESP");
            expect("add after flushing ESP", setup_group());
            replace("%pass");
            replace(kTunSaid);
            if (k.sa_count() != 2) f.add("SA count " + std::to_string(k.sa_count()) + " after a cycle");
        }
        iterations[kWriter] = i;
        writing.store(false);
    };

    auto packets = [&](int slot) {
        Failures& f = failures[kPackets0 + slot];
        auto& seen = outcomes[slot];
        PacketWork work;
        start_together();
        const auto to_pass = ping("10.1.1.1", "10.2.2.2", 0);
        uint64_t i = 0;
        for (; i < kMinPackets || writing.load(std::memory_order_relaxed); ++i) {
            const auto p = ping(slot ? "192.0.2.2" : "192.0.2.1", "192.0.1.1", static_cast<uint16_t>(i));
            const PacketResult out = k.xmit(p, work);
            std::string what = std::string("xmit ") + to_string(out.verdict);
            bool ok = false;
            switch (out.verdict) {
            case PacketVerdict::sent:
                ok = out.port == PacketPort::wire && (out.transforms == 1 || out.transforms == 2) &&
                     out.packet.size() > p.size() && out.packet[9] == (out.transforms == 2 ? 50 : 4);
                what += " " + std::to_string(out.transforms);
                break;
            case PacketVerdict::dropped:
                ok = out.reason == DropReason::no_eroute || out.reason == DropReason::drop_eroute ||
                     out.reason == DropReason::no_sa;
                what += std::string(" ") + to_string(out.reason);
                break;
            case PacketVerdict::held: ok = out.packet.empty(); break;
            case PacketVerdict::passed: ok = out.port == PacketPort::wire && same(out.packet, p); break;
            default: break;
            }
            ++seen[what];
            if (!ok) f.add("unexpected " + what + ": " + describe(out));
            if (out.verdict == PacketVerdict::sent && ok) {
                const std::vector<uint8_t> wire(out.packet.begin(), out.packet.end());
                const PacketResult in = k.rcv(wire, work);
                std::string back = std::string("rcv ") + to_string(in.verdict);
                bool fine = false;
                switch (in.verdict) {
                case PacketVerdict::delivered:
                    back += " " + std::to_string(in.transforms);
                    fine = in.port == PacketPort::host &&
                           ((in.transforms == 2 && same(in.packet, p)) || (in.transforms == 1 && ipip_around(in.packet, p)));
                    break;
                case PacketVerdict::passed: fine = wire[9] == 4 && same(in.packet, wire); break;
                case PacketVerdict::dropped:
                    back += std::string(" ") + to_string(in.reason);
                    fine = in.reason == DropReason::unknown_sa || in.reason == DropReason::replay;
                    break;
                default: break;
                }
                ++seen[back];
                if (!fine) f.add("unexpected " + back + " for a packet sent through " +
                                 std::to_string(out.transforms) + " transforms: " + describe(in));
            }
            const PacketResult pass = k.xmit(to_pass, work);
            if (pass.verdict != PacketVerdict::passed || !same(pass.packet, to_pass))
                f.add("the %pass eroute answered " + describe(pass));
            ++passes[slot];
        }
        iterations[kPackets0 + slot] = i;
    };

    auto reader = [&] {
        Failures& f = failures[kReader];
        start_together();
        uint64_t last = 0, i = 0;
        for (; i < kMinPackets || writing.load(std::memory_order_relaxed); ++i) {
            const std::string spi = render_spi(k);
            size_t start = 0;
            while (start < spi.size()) {
                const size_t end = spi.find('\n', start);
                if (end == std::string::npos) {
                    f.add("ipsec_spi without a final newline:\n" + spi);
                    break;
                }
                const std::string_view line(spi.data() + start, end - start);
                if (!line.starts_with("tun.7001@192.1.2.23 IPIP: ") &&
                    !line.starts_with("esp.7002@192.1.2.23 ESP_CHACHA20_POLY1305: "))
                    f.add("unknown ipsec_spi line: " + std::string(line));
                start = end + 1;
            }
            const std::optional<uint64_t> count = pass_count(render_eroute(k));
            if (!count) {
                f.add("the %pass eroute is missing from ipsec_eroute");
            } else {
                if (*count < last) f.add("%pass count went down from " + std::to_string(last) + " to " +
                                         std::to_string(*count));
                last = *count;
            }
        }
        iterations[kReader] = i;
    };

    std::vector<std::thread> threads;
    threads.emplace_back(writer);
    threads.emplace_back(packets, 0);
    threads.emplace_back(packets, 1);
    threads.emplace_back(reader);
    while (ready.load() < kThreads) std::this_thread::yield();
    const auto started = SteadyClock::now();
    deadline = started + kRunTime;
    go.store(true, std::memory_order_release);
    for (auto& t : threads) t.join();

    std::printf("klips_stress dataplane: %.2f s; iterations:",
                std::chrono::duration<double>(SteadyClock::now() - started).count());
    for (int t = 0; t < kThreads; ++t) std::printf(" %s %llu", names[t], static_cast<unsigned long long>(iterations[t]));
    std::printf("\n");
    std::map<std::string, uint64_t> all;
    for (const auto& m : outcomes)
        for (const auto& [what, n] : m) all[what] += n;
    for (const auto& [what, n] : all) std::printf("  %s: %llu\n", what.c_str(), static_cast<unsigned long long>(n));

    for (const Failures& f : failures) {
        INFO(f.thread << ": " << f.count << " failures");
        for (const std::string& m : f.first) UNSCOPED_INFO(m);
        CHECK(f.count == 0);
    }
    CHECK(iterations[kWriter] >= kMinWrites);
    CHECK(iterations[kPackets0] >= kMinPackets);
    CHECK(iterations[kPackets1] >= kMinPackets);
    CHECK(all["xmit sent 2"] > 0);
    CHECK(all["rcv delivered 2"] > 0);
    CHECK(pass_count(render_eroute(k)) == passes[0] + passes[1]);

    // Stable again: fresh SAs (no number from an earlier generation in their windows), the
    // eroute as at the start; the round trip delivers.
    k.flush_sas();
    REQUIRE(setup_group() == 0);
    std::unique_ptr<HeldPackets> reinject;
    REQUIRE(k.replace_eroute(group_eroute(), &reinject) == 0);
    PacketWork work;
    for (uint16_t n = 1; n <= 3; ++n) {
        const auto p = ping("192.0.2.1", "192.0.1.1", n);
        const PacketResult sent = k.xmit(p, work);
        INFO("xmit: " << describe(sent));
        REQUIRE(sent.verdict == PacketVerdict::sent);
        CHECK(sent.transforms == 2);
        const std::vector<uint8_t> wire(sent.packet.begin(), sent.packet.end());
        const PacketResult got = k.rcv(wire, work);
        INFO("rcv: " << describe(got));
        CHECK(got.verdict == PacketVerdict::delivered);
        CHECK(same(got.packet, p));
    }
}
