// Golden tests of the /proc/net/ipsec_* listings in both output profiles (proc_render.h,
// proc_view.h; ../shared/DESIGN.md "Two output profiles, one model"; spec/klips.md §2-§5, §11).
//
// Every expected text is written by hand from the seed man pages, the spec and DESIGN.md —
// never pasted from the program's output — and compared byte for byte as a whole file,
// trailing spaces and final newline included. Where the spec leaves a detail open, the
// choice made and the reason are written beside the expectation.
#include <catch2/catch.hpp>

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "kmod_sim/lib/ip_address.h"
#include "kmod_sim/lib/said.h"
#include "kmod_sim/lib/subnet.h"
#include "kmod_sim/module/clock.h"
#include "kmod_sim/module/klips.h"
#include "kmod_sim/module/klipsdebug.h"
#include "kmod_sim/module/proc_render.h"
#include "kmod_sim/module/proc_view.h"
#include "kmod_sim/module/security_association.h"

using namespace kmod_sim;

namespace {

constexpr auto kSeed = OutputProfile::seed;
constexpr auto kOpenswan = OutputProfile::openswan;
constexpr auto kInet = AddressFamily::inet;
constexpr auto kInet6 = AddressFamily::inet6;
constexpr uint8_t kTcp = 6, kUdp = 17, kIcmp = 1, kIcmp6 = 58;

IpAddress v4(uint8_t a, uint8_t b, uint8_t c, uint8_t d) { return IpAddress::v4(a, b, c, d); }

IpAddress v6(std::string_view text) {
    auto parsed = ttoaddr(text, kInet6);
    REQUIRE(parsed.ok());
    return *parsed;
}

Said said_of(uint8_t proto, uint32_t spi, const IpAddress& dst) { return Said{dst, spi, proto}; }

Subnet subnet(const IpAddress& address, int bits) { return Subnet{address, mask_from_bits(address.family(), bits), 0}; }

// What `ipsec eroute` sends: masks from the prefix lengths, 0xffff port masks for given ports.
EroutSelector selector(const IpAddress& src, int src_bits, const IpAddress& dst, int dst_bits, uint8_t proto = 0,
                       uint16_t sport = 0, uint16_t dport = 0) {
    EroutSelector s;
    s.src = src;
    s.dst = dst;
    s.src_mask = mask_from_bits(src.family(), src_bits);
    s.dst_mask = mask_from_bits(dst.family(), dst_bits);
    s.proto = proto;
    s.sport = sport;
    s.dport = dport;
    s.sport_mask = sport ? 0xffff : 0;
    s.dport_mask = dport ? 0xffff : 0;
    return s;
}

EroutRow erow(const IpAddress& src, int src_bits, const IpAddress& dst, int dst_bits, const Said& said, uint32_t count,
              uint8_t proto = 0, uint16_t sport = 0, uint16_t dport = 0,
              std::optional<EroutIdentities> idents = std::nullopt) {
    EroutRow r;
    r.src = src;
    r.dst = dst;
    r.src_mask = mask_from_bits(src.family(), src_bits);
    r.dst_mask = mask_from_bits(dst.family(), dst_bits);
    r.sport = sport;
    r.dport = dport;
    r.proto = proto;
    r.said = said;
    r.count = count;
    if (idents) r.idents = std::make_shared<const EroutIdentities>(*idents);
    return r;
}

std::string eroutes(std::vector<EroutRow> rows, OutputProfile profile) { return format_eroutes(rows, profile); }

struct Instance {
    std::shared_ptr<ManualClock> clock;
    std::unique_ptr<Klips> klips;
};

Instance make_klips(OutputProfile profile, uint64_t start = 1000,
                    std::function<bool(const IpAddress&)> is_local = [](const IpAddress&) { return false; },
                    std::string version = "0.1.0") {
    Instance i;
    i.clock = std::make_shared<ManualClock>(start);
    KlipsConfig config;
    config.profile = profile;
    config.version = std::move(version);
    config.clock = i.clock;
    config.is_local_address = std::move(is_local);
    i.klips = std::make_unique<Klips>(std::move(config));
    return i;
}

// Sends `n` copies of `packet` through the eroute table; each must hit `expected`.
void route(Klips& klips, const PacketSelector& packet, int n, const Said& expected) {
    int hits = 0;
    for (int k = 0; k < n; ++k)
        if (klips.route_packet(packet) == std::optional<Said>(expected)) ++hits;
    REQUIRE(hits == n);
}

PacketSelector packet(const IpAddress& src, const IpAddress& dst, uint8_t proto, uint16_t sport = 0,
                      uint16_t dport = 0) {
    return PacketSelector{src, dst, proto, sport, dport};
}

std::string spi(std::vector<SaRow> rows, OutputProfile profile, uint64_t now, bool debug_xform = false) {
    return format_spi(rows, profile, now, debug_xform);
}

SecurityAssociation sa_of(const Said& said) {
    SecurityAssociation sa;
    sa.said = said;
    return sa;
}

}  // namespace

// ======================================================================================
// 1. ipsec_eroute, seed profile (ipsec_eroute(5) examples; DESIGN.md seed profile)
// ======================================================================================

namespace {

// Seed examples 1-7 (example 3 with ::/0), each as the seed text shows it, plus "\n".
const std::string kSeedEx1 = "1867 172.31.252.0/24:0 -> 0.0.0.0/0:0 => tun0x130@192.168.43.1:0 () ()\n";
const std::string kSeedEx2 = "746 192.168.2.110/32:0 -> 192.168.2.120/32:25 => esp0x130@192.168.2.120:6 () ()\n";
const std::string kSeedEx3 = "125 3049:1::/64 -> ::/0 => tun:130@3058:4::5 () ()\n";
const std::string kSeedEx4 = "42 192.168.6.0/24:0 -> 192.168.7.0/24:0 => %passthrough\n";
const std::string kSeedEx5 = "2112 192.168.8.55/32:0 -> 192.168.9.47/24:0 => %hold (east) ()\n";
const std::string kSeedEx6 = "2001 192.168.2.110/32:0 -> 192.168.2.120/32:0 => esp0xe6de@192.168.2.120:0 () ()\n";
const std::string kSeedEx7 = "1984 3049:1::110/128 -> 3049:1::120/128 => ah:f5ed@3049:1::120 () ()\n";

// The same seven eroutes as rows, with their seed counts.
EroutRow ex1_row() {
    return erow(v4(172, 31, 252, 0), 24, v4(0, 0, 0, 0), 0, said_of(kSaTun, 0x130, v4(192, 168, 43, 1)), 1867);
}
EroutRow ex2_row() {
    return erow(v4(192, 168, 2, 110), 32, v4(192, 168, 2, 120), 32, said_of(kSaEsp, 0x130, v4(192, 168, 2, 120)), 746,
                kTcp, 0, 25);
}
EroutRow ex3_row() {
    return erow(v6("3049:1::"), 64, v6("::"), 0, said_of(kSaTun, 0x130, v6("3058:4::5")), 125);
}
EroutRow ex4_row() {
    return erow(v4(192, 168, 6, 0), 24, v4(192, 168, 7, 0), 24, passthrough_said(kInet), 42);
}
EroutRow ex5_row() {
    return erow(v4(192, 168, 8, 55), 32, v4(192, 168, 9, 47), 24, magic_said(kSpiHold), 2112, 0, 0, 0,
                EroutIdentities{"east", ""});
}
EroutRow ex6_row() {
    return erow(v4(192, 168, 2, 110), 32, v4(192, 168, 2, 120), 32, said_of(kSaEsp, 0xe6de, v4(192, 168, 2, 120)),
                2001);
}
EroutRow ex7_row() {
    return erow(v6("3049:1::110"), 128, v6("3049:1::120"), 128, said_of(kSaAh, 0xf5ed, v6("3049:1::120")), 1984);
}

// Builds the seven seed eroutes in a Klips and counts them with real lookups.
void add_seed_examples(Klips& k) {
    const Said ex1 = said_of(kSaTun, 0x130, v4(192, 168, 43, 1));
    const Said ex2 = said_of(kSaEsp, 0x130, v4(192, 168, 2, 120));
    const Said ex3 = said_of(kSaTun, 0x130, v6("3058:4::5"));
    const Said ex4 = passthrough_said(kInet);
    const Said ex5 = magic_said(kSpiHold);
    const Said ex6 = said_of(kSaEsp, 0xe6de, v4(192, 168, 2, 120));
    const Said ex7 = said_of(kSaAh, 0xf5ed, v6("3049:1::120"));

    // Added in an order unlike the listing order, to show the listing sorts.
    REQUIRE(k.add_eroute({selector(v6("3049:1::110"), 128, v6("3049:1::120"), 128), ex7, 100, std::nullopt}) == 0);
    REQUIRE(k.add_eroute({selector(v4(192, 168, 8, 55), 32, v4(192, 168, 9, 47), 24), ex5, 100,
                          EroutIdentities{"east", ""}}) == 0);
    REQUIRE(k.add_eroute({selector(v4(192, 168, 2, 110), 32, v4(192, 168, 2, 120), 32, kTcp, 0, 25), ex2, 100,
                          std::nullopt}) == 0);
    REQUIRE(k.add_eroute({selector(v4(172, 31, 252, 0), 24, v4(0, 0, 0, 0), 0), ex1, 100, std::nullopt}) == 0);
    REQUIRE(k.add_eroute({selector(v6("3049:1::"), 64, v6("::"), 0), ex3, 100, std::nullopt}) == 0);
    REQUIRE(k.add_eroute({selector(v4(192, 168, 6, 0), 24, v4(192, 168, 7, 0), 24), ex4, 100, std::nullopt}) == 0);
    REQUIRE(k.add_eroute({selector(v4(192, 168, 2, 110), 32, v4(192, 168, 2, 120), 32), ex6, 100, std::nullopt}) ==
            0);

    route(k, packet(v4(172, 31, 252, 9), v4(8, 8, 8, 8), kIcmp), 1867, ex1);
    // TCP to port 25 matches both example 2 and example 6: the port-specific one wins (§6.2).
    route(k, packet(v4(192, 168, 2, 110), v4(192, 168, 2, 120), kTcp, 40000, 25), 746, ex2);
    route(k, packet(v6("3049:1::5"), v6("2001:db8::1"), kIcmp6), 125, ex3);
    route(k, packet(v4(192, 168, 6, 1), v4(192, 168, 7, 1), kUdp, 53, 53), 42, ex4);
    route(k, packet(v4(192, 168, 8, 55), v4(192, 168, 9, 200), kIcmp), 2112, ex5);
    route(k, packet(v4(192, 168, 2, 110), v4(192, 168, 2, 120), kIcmp), 2001, ex6);
    // The host pair also matches example 3's 3049:1::/64 -> ::/0; the /128 pair wins.
    route(k, packet(v6("3049:1::110"), v6("3049:1::120"), kIcmp6), 1984, ex7);
}

}  // namespace

TEST_CASE("seed ipsec_eroute: each man page example alone, byte for byte", "[eroute][seed]") {
    CHECK(eroutes({ex1_row()}, kSeed) == kSeedEx1);
    CHECK(eroutes({ex2_row()}, kSeed) == kSeedEx2);
    CHECK(eroutes({ex3_row()}, kSeed) == kSeedEx3);
    CHECK(eroutes({ex4_row()}, kSeed) == kSeedEx4);
    CHECK(eroutes({ex5_row()}, kSeed) == kSeedEx5);
    CHECK(eroutes({ex6_row()}, kSeed) == kSeedEx6);
    CHECK(eroutes({ex7_row()}, kSeed) == kSeedEx7);
}

TEST_CASE("seed ipsec_eroute: rows print in the order given", "[eroute][seed]") {
    CHECK(eroutes({ex7_row(), ex1_row(), ex5_row()}, kSeed) == kSeedEx7 + kSeedEx1 + kSeedEx5);
}

TEST_CASE("seed ipsec_eroute: all seven examples through Klips and route_packet", "[eroute][seed][klips]") {
    Instance i = make_klips(kSeed);
    add_seed_examples(*i.klips);
    // Radij walk order = ascending masked key (spec §2.1), IPv4 before IPv6:
    //   172.31.252.0 (1); 192.168.2.110->192.168.2.120 proto 0 (6) before proto 6 dport 25 (2);
    //   192.168.6.0 (4); 192.168.8.55 (5); then 3049:1:: (3) before 3049:1::110 (7).
    const std::string expected = kSeedEx1 + kSeedEx6 + kSeedEx2 + kSeedEx4 + kSeedEx5 + kSeedEx3 + kSeedEx7;
    CHECK(render_eroute(*i.klips) == expected);
    CHECK(format_eroutes(i.klips->eroute_rows(), kSeed) == expected);
}

TEST_CASE("seed ipsec_eroute: the rules behind the examples", "[eroute][seed]") {
    const Said esp200 = said_of(kSaEsp, 0x200, v4(10, 0, 0, 2));
    SECTION("source port and transport protocol always printed for a real SAID") {
        CHECK(eroutes({erow(v4(10, 0, 0, 1), 32, v4(10, 0, 0, 2), 32, esp200, 0, kUdp, 53, 0)}, kSeed) ==
              "0 10.0.0.1/32:53 -> 10.0.0.2/32:0 => esp0x200@10.0.0.2:17 () ()\n");
    }
    SECTION("both identities") {
        CHECK(eroutes({erow(v4(10, 0, 0, 1), 32, v4(10, 0, 0, 2), 32, esp200, 5, 0, 0, 0,
                            EroutIdentities{"east", "west"})},
                      kSeed) == "5 10.0.0.1/32:0 -> 10.0.0.2/32:0 => esp0x200@10.0.0.2:0 (east) (west)\n");
    }
    SECTION("empty identities given explicitly print like none given") {
        CHECK(eroutes({erow(v4(10, 0, 0, 1), 32, v4(10, 0, 0, 2), 32, esp200, 5, 0, 0, 0, EroutIdentities{"", ""})},
                      kSeed) == "5 10.0.0.1/32:0 -> 10.0.0.2/32:0 => esp0x200@10.0.0.2:0 () ()\n");
        CHECK(eroutes({erow(v4(192, 168, 6, 0), 24, v4(192, 168, 7, 0), 24, passthrough_said(kInet), 42, 0, 0, 0,
                            EroutIdentities{"", ""})},
                      kSeed) == kSeedEx4);
    }
    SECTION("magic SAIDs drop :proto (vector 6 in the seed profile)") {
        CHECK(eroutes({erow(v4(192, 168, 10, 0), 24, v4(192, 168, 20, 0), 24, magic_said(kSpiPass), 0, kIcmp)},
                      kSeed) == "0 192.168.10.0/24:0 -> 192.168.20.0/24:0 => %pass\n");
        CHECK(eroutes({erow(v4(192, 0, 2, 0), 24, v4(192, 0, 1, 0), 24, magic_said(kSpiTrap), 0, 0, 0, 0,
                            EroutIdentities{"", "west"})},
                      kSeed) == "0 192.0.2.0/24:0 -> 192.0.1.0/24:0 => %trap () (west)\n");
        CHECK(eroutes({erow(v4(10, 0, 0, 0), 8, v4(0, 0, 0, 0), 0, magic_said(kSpiDrop), 3),
                       erow(v4(10, 0, 0, 0), 8, v4(1, 0, 0, 0), 8, magic_said(kSpiReject), 4),
                       erow(v4(10, 0, 0, 0), 8, v4(2, 0, 0, 0), 8, magic_said(kSpiTrapSubnet), 5)},
                      kSeed) == "3 10.0.0.0/8:0 -> 0.0.0.0/0:0 => %drop\n"
                                "4 10.0.0.0/8:0 -> 1.0.0.0/8:0 => %reject\n"
                                "5 10.0.0.0/8:0 -> 2.0.0.0/8:0 => %trapsubnet\n");
    }
    SECTION("count is unsigned decimal") {
        CHECK(eroutes({erow(v4(10, 0, 0, 0), 8, v4(0, 0, 0, 0), 0, esp200, 4294967295u)}, kSeed) ==
              "4294967295 10.0.0.0/8:0 -> 0.0.0.0/0:0 => esp0x200@10.0.0.2:0 () ()\n");
        CHECK(eroutes({erow(v4(10, 0, 0, 0), 8, v4(0, 0, 0, 0), 0, esp200, 2147483648u)}, kSeed) ==
              "2147483648 10.0.0.0/8:0 -> 0.0.0.0/0:0 => esp0x200@10.0.0.2:0 () ()\n");
    }
    SECTION("IPv6: [subnet]:port and :proto only when non-zero") {
        CHECK(eroutes({erow(v6("3049:1::110"), 128, v6("3049:1::120"), 128, said_of(kSaEsp, 0x130, v6("3049:1::120")),
                            9, kTcp, 0, 25)},
                      kSeed) == "9 3049:1::110/128 -> [3049:1::120/128]:25 => esp:130@3049:1::120:6 () ()\n");
    }
}

// ======================================================================================
// 2. ipsec_eroute, Openswan profile (spec §2.2 E4, §11)
// ======================================================================================

TEST_CASE("openswan ipsec_eroute: spec §11 vectors 1, 2, 3, 6, 7, 20", "[eroute][openswan]") {
    SECTION("vector 1") {
        CHECK(eroutes({ex1_row()}, kOpenswan) ==
              "1867       172.31.252.0/24    -> 0.0.0.0/0          => tun0x130@192.168.43.1\n");
    }
    SECTION("vector 2: a 19-character destination is not truncated") {
        CHECK(eroutes({ex2_row()}, kOpenswan) ==
              "746        192.168.2.110/32   -> 192.168.2.120/32:25 => esp0x130@192.168.2.120:6\n");
    }
    SECTION("vector 3") {
        CHECK(eroutes({erow(v4(192, 0, 2, 0), 24, v4(192, 0, 1, 0), 24, magic_said(kSpiTrap), 0)}, kOpenswan) ==
              "0          192.0.2.0/24       -> 192.0.1.0/24       => %trap\n");
    }
    SECTION("vector 6: :proto after a magic SAID") {
        CHECK(eroutes({erow(v4(192, 168, 10, 0), 24, v4(192, 168, 20, 0), 24, magic_said(kSpiPass), 0, kIcmp)},
                      kOpenswan) == "0          192.168.10.0/24    -> 192.168.20.0/24    => %pass:1\n");
    }
    SECTION("vector 7: the CLI's ttosubnet clears host bits before the kernel sees them") {
        auto src = ttosubnet("10.1.2.3/8", kInet);
        auto dst = ttosubnet("0/0", kInet);
        REQUIRE(src.ok());
        REQUIRE(dst.ok());
        Instance i = make_klips(kOpenswan);
        EroutSelector s;
        s.src = src->address;
        s.src_mask = src->mask;
        s.dst = dst->address;
        s.dst_mask = dst->mask;
        REQUIRE(i.klips->add_eroute({s, magic_said(kSpiDrop), 1, std::nullopt}) == 0);
        CHECK(render_eroute(*i.klips) == "0          10.0.0.0/8         -> 0.0.0.0/0          => %drop\n");
    }
    SECTION("vector 20: count 4294967295 prints -1 (%d of a uint32)") {
        CHECK(eroutes({erow(v4(10, 0, 0, 0), 8, v4(0, 0, 0, 0), 0, magic_said(kSpiDrop), 4294967295u)}, kOpenswan) ==
              "-1         10.0.0.0/8         -> 0.0.0.0/0          => %drop\n");
        CHECK(eroutes({erow(v4(10, 0, 0, 0), 8, v4(0, 0, 0, 0), 0, magic_said(kSpiDrop), 2147483648u)}, kOpenswan) ==
              "-2147483648 10.0.0.0/8         -> 0.0.0.0/0          => %drop\n");
        CHECK(eroutes({erow(v4(10, 0, 0, 0), 8, v4(0, 0, 0, 0), 0, magic_said(kSpiDrop), 2147483647u)}, kOpenswan) ==
              "2147483647 10.0.0.0/8         -> 0.0.0.0/0          => %drop\n");
    }
}

TEST_CASE("openswan ipsec_eroute: padding never truncates long IPv6 subnets", "[eroute][openswan]") {
    CHECK(eroutes({erow(v6("2001:db8:1:2:3:4:5:6"), 128, v6("3049:1::"), 64, said_of(kSaTun, 0x130, v6("3058:4::5")),
                        7)},
                  kOpenswan) == "7          2001:db8:1:2:3:4:5:6/128 -> 3049:1::/64        => tun0x130@3058:4::5\n");
    CHECK(eroutes({erow(v6("3049:1::110"), 128, v6("2001:db8:aaaa:bbbb:cccc:dddd:eeee:ffff"), 128,
                        said_of(kSaEsp, 0xe6de, v6("2001:db8:aaaa:bbbb:cccc:dddd:eeee:ffff")), 12)},
                  kOpenswan) ==
          "12         3049:1::110/128    -> 2001:db8:aaaa:bbbb:cccc:dddd:eeee:ffff/128 => "
          "esp0xe6de@2001:db8:aaaa:bbbb:cccc:dddd:eeee:ffff\n");
}

TEST_CASE("openswan ipsec_eroute: ports only when non-zero, no identities, odd masks", "[eroute][openswan]") {
    const Said esp200 = said_of(kSaEsp, 0x200, v4(10, 0, 0, 2));
    CHECK(eroutes({erow(v4(10, 0, 0, 1), 32, v4(10, 0, 0, 2), 32, esp200, 0, kUdp, 53, 0,
                        EroutIdentities{"east", "west"})},
                  kOpenswan) == "0          10.0.0.1/32:53     -> 10.0.0.2/32        => esp0x200@10.0.0.2:17\n");
    // A non-contiguous mask prints as a dotted quad (subnettoa, spec §1.3).
    EroutRow odd = erow(v4(10, 0, 0, 0), 8, v4(0, 0, 0, 0), 0, esp200, 1);
    odd.src_mask = v4(255, 0, 255, 0);
    CHECK(eroutes({odd}, kOpenswan) == "1          10.0.0.0/255.0.255.0 -> 0.0.0.0/0          => esp0x200@10.0.0.2\n");
}

TEST_CASE("openswan ipsec_eroute: the seed examples' state in the kernel format", "[eroute][openswan][klips]") {
    Instance i = make_klips(kOpenswan);
    add_seed_examples(*i.klips);
    // Same order as the seed test; satot(…,'x') SAIDs (so %passthrough4, spec §1.4), no
    // idents, flows as stored (example 5's 192.168.9.47/24 unmasked, spec §1.3).
    CHECK(render_eroute(*i.klips) ==
          "1867       172.31.252.0/24    -> 0.0.0.0/0          => tun0x130@192.168.43.1\n"
          "2001       192.168.2.110/32   -> 192.168.2.120/32   => esp0xe6de@192.168.2.120\n"
          "746        192.168.2.110/32   -> 192.168.2.120/32:25 => esp0x130@192.168.2.120:6\n"
          "42         192.168.6.0/24     -> 192.168.7.0/24     => %passthrough4\n"
          "2112       192.168.8.55/32    -> 192.168.9.47/24    => %hold\n"
          "125        3049:1::/64        -> ::/0               => tun0x130@3058:4::5\n"
          "1984       3049:1::110/128    -> 3049:1::120/128    => ah0xf5ed@3049:1::120\n");
}

TEST_CASE("ipsec_eroute listing order: §11 vector 18 (radij walk, counts from lookups)", "[eroute][openswan][klips]") {
    Instance i = make_klips(kOpenswan);
    Klips& k = *i.klips;
    const IpAddress gw = v4(192, 0, 2, 1);
    const Said a = said_of(kSaEsp, 0xa, gw), b = said_of(kSaEsp, 0xb, gw), c = said_of(kSaEsp, 0xc, gw),
               d = said_of(kSaEsp, 0xd, gw), e = said_of(kSaEsp, 0xe, gw), f = said_of(kSaEsp, 0xf, gw);
    REQUIRE(k.add_eroute({selector(v4(10, 0, 0, 0), 8, v4(0, 0, 0, 0), 0), a, 1, std::nullopt}) == 0);
    REQUIRE(k.add_eroute({selector(v4(10, 1, 0, 0), 16, v4(0, 0, 0, 0), 0), b, 1, std::nullopt}) == 0);
    REQUIRE(k.add_eroute({selector(v4(10, 0, 0, 0), 8, v4(192, 168, 0, 0), 16), c, 1, std::nullopt}) == 0);
    REQUIRE(k.add_eroute({selector(v4(0, 0, 0, 0), 0, v4(192, 168, 1, 0), 24), d, 1, std::nullopt}) == 0);
    REQUIRE(k.add_eroute({selector(v4(0, 0, 0, 0), 0, v4(0, 0, 0, 0), 0), e, 1, std::nullopt}) == 0);
    REQUIRE(k.add_eroute({selector(v4(10, 1, 2, 3), 32, v4(192, 168, 1, 5), 32, kTcp, 0, 25), f, 1, std::nullopt}) ==
            0);
    route(k, packet(v4(10, 1, 2, 3), v4(192, 168, 1, 5), kTcp, 1234, 25), 1, f);
    route(k, packet(v4(10, 1, 2, 3), v4(192, 168, 1, 5), kTcp, 1234, 80), 1, b);
    route(k, packet(v4(10, 1, 2, 3), v4(192, 168, 1, 5), kIcmp), 1, b);
    route(k, packet(v4(10, 2, 2, 3), v4(192, 168, 1, 5), kIcmp), 3, c);
    route(k, packet(v4(10, 2, 2, 3), v4(172, 16, 0, 1), kIcmp), 4, a);
    route(k, packet(v4(11, 2, 2, 3), v4(192, 168, 1, 9), kIcmp), 5, d);
    route(k, packet(v4(11, 2, 2, 3), v4(172, 16, 0, 1), kIcmp), 6, e);
    // /proc order E, D, A, C, B, F.
    CHECK(render_eroute(k) ==
          "6          0.0.0.0/0          -> 0.0.0.0/0          => esp0xe@192.0.2.1\n"
          "5          0.0.0.0/0          -> 192.168.1.0/24     => esp0xd@192.0.2.1\n"
          "4          10.0.0.0/8         -> 0.0.0.0/0          => esp0xa@192.0.2.1\n"
          "3          10.0.0.0/8         -> 192.168.0.0/16     => esp0xc@192.0.2.1\n"
          "2          10.1.0.0/16        -> 0.0.0.0/0          => esp0xb@192.0.2.1\n"
          "1          10.1.2.3/32        -> 192.168.1.5/32:25  => esp0xf@192.0.2.1:6\n");
}

TEST_CASE("ipsec_eroute listing order: §11 vector 19 (dupedkey chain order)", "[eroute][seed][klips]") {
    Instance i = make_klips(kSeed);
    Klips& k = *i.klips;
    const IpAddress gw = v4(192, 0, 2, 1);
    const Said s24 = said_of(kSaEsp, 0x24, gw), s8 = said_of(kSaEsp, 0x8, gw), s16 = said_of(kSaEsp, 0x10, gw);
    auto add = [&](int bits, const Said& said) {
        REQUIRE(k.add_eroute({selector(v4(10, 0, 0, 0), bits, v4(0, 0, 0, 0), 0), said, 1, std::nullopt}) == 0);
    };
    SECTION("added /24, /8, /16: listed /24, /8, /16; 10.0.1.1 takes the /8") {
        add(24, s24);
        add(8, s8);
        add(16, s16);
        route(k, packet(v4(10, 0, 1, 1), v4(1, 1, 1, 1), kIcmp), 2, s8);
        route(k, packet(v4(10, 0, 0, 5), v4(1, 1, 1, 1), kIcmp), 3, s24);
        CHECK(render_eroute(k) ==
              "3 10.0.0.0/24:0 -> 0.0.0.0/0:0 => esp0x24@192.0.2.1:0 () ()\n"
              "2 10.0.0.0/8:0 -> 0.0.0.0/0:0 => esp0x8@192.0.2.1:0 () ()\n"
              "0 10.0.0.0/16:0 -> 0.0.0.0/0:0 => esp0x10@192.0.2.1:0 () ()\n");
    }
    SECTION("added /8, /16, /24: listed /24, /16, /8; 10.0.1.1 takes the /16") {
        add(8, s8);
        add(16, s16);
        add(24, s24);
        route(k, packet(v4(10, 0, 1, 1), v4(1, 1, 1, 1), kIcmp), 2, s16);
        route(k, packet(v4(10, 0, 0, 5), v4(1, 1, 1, 1), kIcmp), 3, s24);
        CHECK(render_eroute(k) ==
              "3 10.0.0.0/24:0 -> 0.0.0.0/0:0 => esp0x24@192.0.2.1:0 () ()\n"
              "2 10.0.0.0/16:0 -> 0.0.0.0/0:0 => esp0x10@192.0.2.1:0 () ()\n"
              "0 10.0.0.0/8:0 -> 0.0.0.0/0:0 => esp0x8@192.0.2.1:0 () ()\n");
    }
}

// ======================================================================================
// 3. ipsec_spigrp (spec §3, §11 vectors 11 and 12; ipsec_spigrp(5))
// ======================================================================================

namespace {

const Said kTun3d0 = said_of(kSaTun, 0x3d0, IpAddress::v4(192, 168, 2, 110));
const Said kComp3d0 = said_of(kSaComp, 0x3d0, IpAddress::v4(192, 168, 2, 110));
const Said kEsp187a101b = said_of(kSaEsp, 0x187a101b, IpAddress::v4(192, 168, 2, 110));
const Said kAh187a101a = said_of(kSaAh, 0x187a101a, IpAddress::v4(192, 168, 2, 110));

const Said kTunD1234567 = said_of(kSaTun, 0xd1234567, IpAddress::v4(192, 1, 2, 45));
const Said kEspD1234567 = said_of(kSaEsp, 0xd1234567, IpAddress::v4(192, 1, 2, 45));

// Adds the SAs (outermost first, as a keying daemon would) and groups them inner → outer.
void add_group(Klips& k, const std::vector<Said>& inner_to_outer) {
    for (auto it = inner_to_outer.rbegin(); it != inner_to_outer.rend(); ++it) REQUIRE(k.add_sa(sa_of(*it)) == 0);
    for (size_t n = 0; n + 1 < inner_to_outer.size(); ++n)
        REQUIRE(k.group_sas(inner_to_outer[n], inner_to_outer[n + 1]) == 0);
}

// Vector 11: `ipsec spi` esp then tun, then `ipsec spigrp … tun … esp`.
void add_vector11(Klips& k) {
    SecurityAssociation esp = sa_of(kEspD1234567);
    esp.src = IpAddress::v4(192, 1, 2, 23);
    SecurityAssociation tun = sa_of(kTunD1234567);
    tun.src = IpAddress::v4(192, 1, 2, 23);
    REQUIRE(k.add_sa(esp) == 0);
    REQUIRE(k.add_sa(tun) == 0);
    REQUIRE(k.group_sas(kTunD1234567, kEspD1234567) == 0);
}

}  // namespace

TEST_CASE("spigrp: format_spigrp of the man page and vector 12 lines", "[spigrp]") {
    const std::vector<std::vector<Said>> v4_line{{kTun3d0, kComp3d0, kEsp187a101b, kAh187a101a}};
    const std::vector<std::vector<Said>> v6_line{{said_of(kSaTun, 0x3d0, v6("3049:1::2")),
                                                  said_of(kSaComp, 0x3d0, v6("3049:1::2")),
                                                  said_of(kSaEsp, 0x187a101b, v6("3049:1::2")),
                                                  said_of(kSaAh, 0x187a101a, v6("3049:1::2"))}};
    CHECK(format_spigrp(v4_line, kSeed) ==
          "tun.3d0@192.168.2.110 comp.3d0@192.168.2.110 esp.187a101b@192.168.2.110 ah.187a101a@192.168.2.110 \n");
    CHECK(format_spigrp(v6_line, kSeed) ==
          "tun:3d0@3049:1::2 comp:3d0@3049:1::2 esp:187a101b@3049:1::2 ah:187a101a@3049:1::2 \n");
    CHECK(format_spigrp(v4_line, kOpenswan) ==
          "tun0x3d0@192.168.2.110 comp0x3d0@192.168.2.110 esp0x187a101b@192.168.2.110 ah0x187a101a@192.168.2.110 \n");
    CHECK(format_spigrp(v6_line, kOpenswan) ==
          "tun0x3d0@3049:1::2 comp0x3d0@3049:1::2 esp0x187a101b@3049:1::2 ah0x187a101a@3049:1::2 \n");
}

TEST_CASE("spigrp seed: both ipsec_spigrp(5) examples through Klips", "[spigrp][seed][klips]") {
    Instance i = make_klips(kSeed);
    add_group(*i.klips, {kTun3d0, kComp3d0, kEsp187a101b, kAh187a101a});
    SECTION("the IPv4 group alone") {
        CHECK(render_spigrp(*i.klips) ==
              "tun.3d0@192.168.2.110 comp.3d0@192.168.2.110 esp.187a101b@192.168.2.110 ah.187a101a@192.168.2.110 \n");
    }
    SECTION("with the IPv6 group: lines in hash order of their innermost SA") {
        add_group(*i.klips, {said_of(kSaTun, 0x3d0, v6("3049:1::2")), said_of(kSaComp, 0x3d0, v6("3049:1::2")),
                             said_of(kSaEsp, 0x187a101b, v6("3049:1::2")), said_of(kSaAh, 0x187a101a, v6("3049:1::2"))});
        // Buckets (spec §7.1): tun:3d0@3049:1::2 = (0xd0030000 + 4) mod 257 = 56;
        // tun.3d0@192.168.2.110 = (0xd0030000 + 0x6e02a8c0 + 4) mod 2^32 mod 257 = 228.
        CHECK(render_spigrp(*i.klips) ==
              "tun:3d0@3049:1::2 comp:3d0@3049:1::2 esp:187a101b@3049:1::2 ah:187a101a@3049:1::2 \n"
              "tun.3d0@192.168.2.110 comp.3d0@192.168.2.110 esp.187a101b@192.168.2.110 ah.187a101a@192.168.2.110 \n");
    }
}

TEST_CASE("spigrp: vector 11 in both profiles and both directions", "[spigrp][klips]") {
    auto local_45 = [](const IpAddress& a) { return a == IpAddress::v4(192, 1, 2, 45); };
    SECTION("seed, outbound") {
        Instance i = make_klips(kSeed);
        add_vector11(*i.klips);
        CHECK(render_spigrp(*i.klips) == "tun.d1234567@192.1.2.45 esp.d1234567@192.1.2.45 \n");
    }
    SECTION("seed, inbound: still one line, inner to outer") {
        Instance i = make_klips(kSeed, 1000, local_45);
        add_vector11(*i.klips);
        CHECK(render_spigrp(*i.klips) == "tun.d1234567@192.1.2.45 esp.d1234567@192.1.2.45 \n");
    }
    SECTION("openswan 2.6, outbound: a line per SA in hash order (tun bucket 35, esp bucket 81)") {
        Instance i = make_klips(kOpenswan);
        add_vector11(*i.klips);
        CHECK(render_spigrp(*i.klips) ==
              "tun0xd1234567@192.1.2.45 esp0xd1234567@192.1.2.45 \n"
              "esp0xd1234567@192.1.2.45 \n");
    }
    SECTION("openswan 2.6, inbound: the chain is stored outer to inner") {
        Instance i = make_klips(kOpenswan, 1000, local_45);
        add_vector11(*i.klips);
        CHECK(render_spigrp(*i.klips) ==
              "tun0xd1234567@192.1.2.45 \n"
              "esp0xd1234567@192.1.2.45 tun0xd1234567@192.1.2.45 \n");
    }
}

TEST_CASE("spigrp: vector 12 in both profiles", "[spigrp][klips]") {
    SECTION("seed: one line for the group") {
        Instance i = make_klips(kSeed);
        add_group(*i.klips, {kTun3d0, kComp3d0, kEsp187a101b, kAh187a101a});
        CHECK(render_spigrp(*i.klips) ==
              "tun.3d0@192.168.2.110 comp.3d0@192.168.2.110 esp.187a101b@192.168.2.110 ah.187a101a@192.168.2.110 \n");
    }
    SECTION("openswan 2.6, outbound: every SA with its chain outward, in hash order") {
        // §11 #12's K line is the ≤OS2.4 single line (checked with format_spigrp above); the
        // Openswan profile is OS2.6, which prints one line per SA (§3.2). Buckets: comp 75,
        // esp 114, ah 116, tun 228.
        Instance i = make_klips(kOpenswan);
        add_group(*i.klips, {kTun3d0, kComp3d0, kEsp187a101b, kAh187a101a});
        CHECK(render_spigrp(*i.klips) ==
              "comp0x3d0@192.168.2.110 esp0x187a101b@192.168.2.110 ah0x187a101a@192.168.2.110 \n"
              "esp0x187a101b@192.168.2.110 ah0x187a101a@192.168.2.110 \n"
              "ah0x187a101a@192.168.2.110 \n"
              "tun0x3d0@192.168.2.110 comp0x3d0@192.168.2.110 esp0x187a101b@192.168.2.110 ah0x187a101a@192.168.2.110 \n");
    }
    SECTION("openswan 2.6, inbound: every pair swapped, chains run outer to inner") {
        Instance i = make_klips(kOpenswan, 1000,
                                [](const IpAddress& a) { return a == IpAddress::v4(192, 168, 2, 110); });
        add_group(*i.klips, {kTun3d0, kComp3d0, kEsp187a101b, kAh187a101a});
        CHECK(render_spigrp(*i.klips) ==
              "comp0x3d0@192.168.2.110 tun0x3d0@192.168.2.110 \n"
              "esp0x187a101b@192.168.2.110 comp0x3d0@192.168.2.110 tun0x3d0@192.168.2.110 \n"
              "ah0x187a101a@192.168.2.110 esp0x187a101b@192.168.2.110 comp0x3d0@192.168.2.110 tun0x3d0@192.168.2.110 \n"
              "tun0x3d0@192.168.2.110 \n");
    }
}

TEST_CASE("spigrp: an ungrouped SA gets a one-SAID line", "[spigrp][klips]") {
    const Said esp130 = said_of(kSaEsp, 0x130, IpAddress::v4(1, 2, 3, 4));  // bucket 1
    SECTION("seed") {
        Instance i = make_klips(kSeed);
        add_vector11(*i.klips);
        REQUIRE(i.klips->add_sa(sa_of(esp130)) == 0);
        CHECK(render_spigrp(*i.klips) ==
              "esp.130@1.2.3.4 \n"
              "tun.d1234567@192.1.2.45 esp.d1234567@192.1.2.45 \n");
    }
    SECTION("openswan") {
        Instance i = make_klips(kOpenswan);
        REQUIRE(i.klips->add_sa(sa_of(esp130)) == 0);
        CHECK(render_spigrp(*i.klips) == "esp0x130@1.2.3.4 \n");
    }
    SECTION("seed, after ungrouping: each SA alone, hash order") {
        Instance i = make_klips(kSeed);
        add_vector11(*i.klips);
        REQUIRE(i.klips->ungroup_sa(kEspD1234567) == 0);
        CHECK(render_spigrp(*i.klips) ==
              "tun.d1234567@192.1.2.45 \n"
              "esp.d1234567@192.1.2.45 \n");
    }
}

// ======================================================================================
// 4. ipsec_spi (spec §4 Openswan 2.6, §4.1 seed)
// ======================================================================================

TEST_CASE("spi: transform names", "[spi]") {
    auto name = [](uint8_t proto, uint8_t enc, uint8_t auth) {
        SecurityAssociation sa = sa_of(said_of(proto, 0x1000, IpAddress::v4(10, 0, 0, 2)));
        sa.enc_alg = enc;
        sa.auth_alg = auth;
        return transform_name(sa);
    };
    // The algorithms kmod-sim supports (§4.1).
    CHECK(name(kSaEsp, pfkey::kEncryptChacha20Poly1305, pfkey::kAuthNone) == "ESP_CHACHA20_POLY1305");
    CHECK(name(kSaEsp, pfkey::kEncryptAesGcm16, pfkey::kAuthNone) == "ESP_AES_GCM_16");
    CHECK(name(kSaEsp, pfkey::kEncryptNull, pfkey::kAuthSha2_256) == "ESP_NULL_HMAC_SHA2_256");
    CHECK(name(kSaEsp, pfkey::kEncryptNull, pfkey::kAuthSha2_512) == "ESP_NULL_HMAC_SHA2_512");
    CHECK(name(kSaAh, pfkey::kEncryptNone, pfkey::kAuthSha2_256) == "AH_HMAC_SHA2_256");
    CHECK(name(kSaAh, pfkey::kEncryptNone, pfkey::kAuthSha2_512) == "AH_HMAC_SHA2_512");
    CHECK(name(kSaTun, pfkey::kEncryptNone, pfkey::kAuthNone) == "IPIP");
    CHECK(name(kSaComp, pfkey::kCompDeflate, pfkey::kAuthNone) == "COMP_DEFLATE");
    // KLIPS's own names (§4 item 2).
    CHECK(name(kSaAh, pfkey::kEncryptNone, pfkey::kAuthMd5Hmac) == "AH_HMAC_MD5");
    CHECK(name(kSaEsp, pfkey::kEncrypt3DesCbc, pfkey::kAuthSha1Hmac) == "ESP_3DES_HMAC_SHA1");
    CHECK(name(kSaEsp, pfkey::kEncrypt3DesCbc, pfkey::kAuthMd5Hmac) == "ESP_3DES_HMAC_MD5");
    CHECK(name(kSaEsp, 2, pfkey::kAuthMd5Hmac) == "ESP_ID2_HMAC_MD5");
    CHECK(name(kSaEsp, pfkey::kEncrypt3DesCbc, pfkey::kAuthNone) == "ESP_3DES");
    CHECK(name(kSaEsp, pfkey::kEncryptAesCbc, pfkey::kAuthSha1Hmac) == "ESP_AES_HMAC_SHA1");
    CHECK(name(kSaAh, pfkey::kEncryptNone, pfkey::kAuthSha2_384) == "AH_HMAC_SHA2_384");
    CHECK(name(kSaEsp, 7, 9) == "ESP_ID7_ID9");
    CHECK(name(kSaComp, pfkey::kCompLzs, pfkey::kAuthNone) == "COMP_LZS");
    CHECK(name(kSaComp, pfkey::kCompNone, pfkey::kAuthNone) == "COMP_NONE");
    CHECK(name(kSaComp, 1, pfkey::kAuthNone) == "COMP_UNKNOWN_comp");
}

namespace {

// The two ipsec_spi(5) examples (§4.1), at now = 100000.
constexpr uint64_t kManNow = 100000;

SaRow man_tun_row() {
    SecurityAssociation sa = sa_of(said_of(kSaTun, 0x12a, IpAddress::v4(192, 168, 43, 1)));
    sa.src = IpAddress::v4(192, 168, 43, 2);
    sa.life.bytes.count = 14073;
    sa.life.addtime.count = kManNow - 269;
    sa.life.usetime.count = kManNow - 149;
    sa.life.packets.count = 14;
    sa.last_used = kManNow - 23;
    sa.ref = 7;
    return SaRow{sa};
}

SaRow man_esp_row() {
    SecurityAssociation sa = sa_of(said_of(kSaEsp, 0x9a35fc02, v6("3049:1::1")));
    sa.src = v6("3049:1::2");
    sa.inbound = true;
    sa.enc_alg = pfkey::kEncrypt3DesCbc;
    sa.auth_alg = pfkey::kAuthMd5Hmac;
    sa.replay_window = 32;
    sa.replay_last_seq = 7149;
    sa.replay_bitmap = 0xffffffff;
    sa.auth_bits = 128;
    sa.auth_key_bits = 128;
    sa.enc_key_bits = 192;
    sa.life.bytes.count = 1222304;
    sa.life.addtime.count = kManNow - 4593;
    sa.life.usetime.count = kManNow - 3858;
    sa.life.packets.count = 7149;
    sa.last_used = kManNow - 23;
    sa.ref = 8;
    return SaRow{sa};
}

// Every optional field of §4 at once, at now = 10000.
constexpr uint64_t kFullNow = 10000;

SaRow full_row(uint32_t ref) {
    SecurityAssociation sa = sa_of(said_of(kSaEsp, 0x1000583, IpAddress::v4(192, 1, 2, 45)));
    sa.src = IpAddress::v4(192, 1, 2, 23);
    sa.enc_alg = pfkey::kEncrypt3DesCbc;
    sa.auth_alg = pfkey::kAuthSha1Hmac;
    sa.iv = {0x05, 0x2c, 0x73, 0xa6, 0x14, 0xbc, 0x63, 0xc9};
    sa.replay_window = 64;
    sa.replay_errors = 3;
    sa.replay_last_seq = 8;
    sa.replay_bitmap = 0xff;
    sa.max_seq_diff = 2;
    sa.flags = pfkey::kSaFlagPfs | pfkey::kSaFlagXClearFlow;  // bit 0 is not shown: printed 0x4
    sa.auth_bits = 160;
    sa.auth_key_bits = 160;
    sa.auth_errors = 5;
    sa.enc_key_bits = 192;
    sa.encr_size_errors = 6;
    sa.encr_pad_errors = 7;
    sa.life.allocations = {2, 0, 0};
    sa.life.bytes = {992, 1000000, 2000000};
    sa.life.addtime = {kFullNow - 100, 3600, 7200};
    sa.life.usetime = {kFullNow - 50, 0, 0};
    sa.life.packets = {8, 0, 100};
    sa.last_used = kFullNow - 1;
    sa.ref = ref;
    return SaRow{sa};
}

}  // namespace

TEST_CASE("spi seed: the two ipsec_spi(5) examples", "[spi][seed]") {
    CHECK(spi({man_tun_row(), man_esp_row()}, kSeed, kManNow) ==
          "tun.12a@192.168.43.1 IPIP: dir=out src=192.168.43.2 "
          "life(c,s,h)=bytes(14073,0,0)add(269,0,0)use(149,0,0)packets(14,0,0) idle=23\n"
          "esp:9a35fc02@3049:1::1 ESP_3DES_HMAC_MD5: dir=in src=3049:1::2 ooowin=32 seq=7149 bit=0xffffffff "
          "alen=128 aklen=128 eklen=192 "
          "life(c,s,h)=bytes(1222304,0,0)add(4593,0,0)use(3858,0,0)packets(7149,0,0) idle=23\n");
}

TEST_CASE("spi openswan: the two ipsec_spi(5) examples in the OS2.6 layout", "[spi][openswan]") {
    CHECK(spi({man_tun_row(), man_esp_row()}, kOpenswan, kManNow) ==
          "tun0x12a@192.168.43.1 IPIP: dir=out src=192.168.43.2 "
          "life(c,s,h)=bytes(14073,0,0)addtime(269,0,0)usetime(149,0,0)packets(14,0,0) idle=23 "
          "natencap=none natsport=0 natdport=0 refcount=3 ref=7 refhim=0\n"
          "esp0x9a35fc02@3049:1::1 ESP_3DES_HMAC_MD5: dir=in  src=3049:1::2 ooowin=32 seq=7149 bit=0xffffffff "
          "alen=128 aklen=128 eklen=192 "
          "life(c,s,h)=bytes(1222304,0,0)addtime(4593,0,0)usetime(3858,0,0)packets(7149,0,0) idle=23 "
          "natencap=none natsport=0 natdport=0 refcount=3 ref=8 refhim=0\n");
}

TEST_CASE("spi: every optional field", "[spi]") {
    SECTION("openswan") {
        CHECK(spi({full_row(2049)}, kOpenswan, kFullNow) ==
              "esp0x1000583@192.1.2.45 ESP_3DES_HMAC_SHA1: dir=out src=192.1.2.23 "
              "iv_bits=64bits iv=0x052c73a614bc63c9 ooowin=64 ooo_errs=3 seq=8 bit=0xff max_seq_diff=2 flags=0x4<> "
              "alen=160 aklen=160 auth_errs=5 eklen=192 encr_size_errs=6 encr_pad_errs=7 "
              "life(c,s,h)=alloc(2,0,0)bytes(992,1000000,2000000)addtime(100,3600,7200)usetime(50,0,0)"
              "packets(8,0,100) idle=1 natencap=none natsport=0 natdport=0 refcount=3 ref=2049 refhim=0\n");
    }
    SECTION("openswan with the xform debug switch: reftable = ref >> 10, refentry = ref & 1023") {
        CHECK(spi({full_row(2049)}, kOpenswan, kFullNow, true) ==
              "esp0x1000583@192.1.2.45 ESP_3DES_HMAC_SHA1: dir=out src=192.1.2.23 "
              "iv_bits=64bits iv=0x052c73a614bc63c9 ooowin=64 ooo_errs=3 seq=8 bit=0xff max_seq_diff=2 flags=0x4<> "
              "alen=160 aklen=160 auth_errs=5 eklen=192 encr_size_errs=6 encr_pad_errs=7 "
              "life(c,s,h)=alloc(2,0,0)bytes(992,1000000,2000000)addtime(100,3600,7200)usetime(50,0,0)"
              "packets(8,0,100) idle=1 natencap=none natsport=0 natdport=0 refcount=3 ref=2049 refhim=0 "
              "reftable=2 refentry=1\n");
        CHECK(spi({full_row(1023)}, kOpenswan, kFullNow, true).ends_with(
                  " refcount=3 ref=1023 refhim=0 reftable=0 refentry=1023\n"));
        CHECK(spi({full_row(5 * 1024)}, kOpenswan, kFullNow, true).ends_with(
                  " refcount=3 ref=5120 refhim=0 reftable=5 refentry=0\n"));
    }
    SECTION("seed (the same with or without the xform switch: no ref fields)") {
        const std::string expected =
            "esp.1000583@192.1.2.45 ESP_3DES_HMAC_SHA1: dir=out src=192.1.2.23 "
            "iv_bits=64bits iv=0x052c73a614bc63c9 ooowin=64 ooo_errs=3 seq=8 bit=0xff max_seq_diff=2 flags=0x4<> "
            "alen=160 aklen=160 auth_errs=5 eklen=192 encr_size_errs=6 encr_pad_errs=7 "
            "life(c,s,h)=alloc(2,0,0)bytes(992,1000000,2000000)add(100,3600,7200)use(50,0,0)packets(8,0,100) "
            "idle=1\n";
        CHECK(spi({full_row(2049)}, kSeed, kFullNow) == expected);
        CHECK(spi({full_row(2049)}, kSeed, kFullNow, true) == expected);
    }
}

TEST_CASE("spi: an AEAD SA, inbound, 64-bit replay bitmap", "[spi]") {
    SecurityAssociation sa = sa_of(said_of(kSaEsp, 0x2000, IpAddress::v4(10, 0, 0, 2)));
    sa.src = IpAddress::v4(10, 0, 0, 1);
    sa.inbound = true;
    sa.enc_alg = pfkey::kEncryptChacha20Poly1305;
    sa.auth_bits = 128;
    sa.enc_key_bits = 288;
    sa.replay_window = 64;
    sa.replay_last_seq = 1000;
    sa.replay_bitmap = 0x8000000000000001ull;
    sa.life.addtime.count = 4990;
    sa.ref = 3;
    CHECK(spi({SaRow{sa}}, kOpenswan, 5000) ==
          "esp0x2000@10.0.0.2 ESP_CHACHA20_POLY1305: dir=in  src=10.0.0.1 ooowin=64 seq=1000 "
          "bit=0x8000000000000001 alen=128 eklen=288 life(c,s,h)=addtime(10,0,0) "
          "natencap=none natsport=0 natdport=0 refcount=3 ref=3 refhim=0\n");
    CHECK(spi({SaRow{sa}}, kSeed, 5000) ==
          "esp.2000@10.0.0.2 ESP_CHACHA20_POLY1305: dir=in src=10.0.0.1 ooowin=64 seq=1000 "
          "bit=0x8000000000000001 alen=128 eklen=288 life(c,s,h)=add(10,0,0)\n");
}

TEST_CASE("spi: dir without src, and the inbound double space", "[spi]") {
    // Added at clock 1 and listed at clock 1: no addtime in either profile (stamp not > 1;
    // 0 seconds old), so the line is as short as a line gets.
    SecurityAssociation out = sa_of(said_of(kSaTun, 0x5, IpAddress::v4(1, 2, 3, 4)));
    out.life.addtime.count = 1;
    out.ref = 1;
    SecurityAssociation in = sa_of(said_of(kSaEsp, 0x6, IpAddress::v4(1, 2, 3, 5)));
    in.inbound = true;
    in.enc_alg = pfkey::kEncryptAesGcm16;
    in.life.addtime.count = 1;
    in.ref = 2;
    CHECK(spi({SaRow{out}, SaRow{in}}, kOpenswan, 1) ==
          "tun0x5@1.2.3.4 IPIP: dir=out life(c,s,h)= natencap=none natsport=0 natdport=0 refcount=3 ref=1 refhim=0\n"
          "esp0x6@1.2.3.5 ESP_AES_GCM_16: dir=in  life(c,s,h)= natencap=none natsport=0 natdport=0 refcount=3 ref=2 "
          "refhim=0\n");
    CHECK(spi({SaRow{out}, SaRow{in}}, kSeed, 1) ==
          "tun.5@1.2.3.4 IPIP: dir=out life(c,s,h)=\n"
          "esp.6@1.2.3.5 ESP_AES_GCM_16: dir=in life(c,s,h)=\n");
}

TEST_CASE("spi: replay fields are only for SAs with an algorithm (not IPIP); flag bit 0 hidden", "[spi]") {
    // §4's real line 2 (tun0xd1234567, OS2.4 refcount=4) in the OS2.6 layout; the replay state
    // and PFS flag set on it must not show.
    SecurityAssociation sa = sa_of(kTunD1234567);
    sa.src = IpAddress::v4(192, 1, 2, 23);
    sa.inbound = true;
    sa.replay_window = 32;
    sa.replay_last_seq = 5;
    sa.replay_errors = 1;
    sa.replay_bitmap = 0x3;
    sa.max_seq_diff = 1;
    sa.flags = pfkey::kSaFlagPfs;
    sa.life.addtime.count = 1;  // as in "dir without src": no addtime in either profile
    sa.ref = 4;
    CHECK(spi({SaRow{sa}}, kOpenswan, 1) ==
          "tun0xd1234567@192.1.2.45 IPIP: dir=in  src=192.1.2.23 life(c,s,h)= "
          "natencap=none natsport=0 natdport=0 refcount=3 ref=4 refhim=0\n");
    CHECK(spi({SaRow{sa}}, kSeed, 1) == "tun.d1234567@192.1.2.45 IPIP: dir=in src=192.1.2.23 life(c,s,h)=\n");
}

TEST_CASE("spi openswan: %d fields print a uint32 over 2^31 as negative", "[spi][openswan]") {
    SecurityAssociation sa = sa_of(said_of(kSaEsp, 0x7000, IpAddress::v4(10, 0, 0, 2)));
    sa.enc_alg = pfkey::kEncryptAesGcm16;
    sa.replay_window = 64;
    sa.replay_last_seq = 0xffffffff;  // ` seq=%d` (§4 item 7)
    sa.life.addtime.count = 1;
    sa.ref = 1;
    CHECK(spi({SaRow{sa}}, kOpenswan, 1) ==
          "esp0x7000@10.0.0.2 ESP_AES_GCM_16: dir=out ooowin=64 seq=-1 life(c,s,h)= "
          "natencap=none natsport=0 natdport=0 refcount=3 ref=1 refhim=0\n");
}

TEST_CASE("spi: §4 real line 1 (ESP_3DES, addtime stamp deleted) in the OS2.6 layout", "[spi][openswan]") {
    SecurityAssociation sa = sa_of(said_of(kSaEsp, 0x1000583, IpAddress::v4(192, 1, 2, 45)));
    sa.src = IpAddress::v4(192, 1, 2, 23);
    sa.enc_alg = pfkey::kEncrypt3DesCbc;
    sa.iv = {0xde, 0xad, 0xf0, 0x0d, 0xde, 0xad, 0xf0, 0x0d};
    sa.replay_last_seq = 8;
    sa.enc_key_bits = 192;
    sa.life.bytes.count = 992;
    sa.life.addtime.count = 0;  // the UML harness deleted addtime; a stamp <= 1 is not shown
    sa.life.usetime.count = 4999;
    sa.life.packets.count = 8;
    sa.last_used = 4999;
    sa.ref = 2;
    CHECK(spi({SaRow{sa}}, kOpenswan, 5000) ==
          "esp0x1000583@192.1.2.45 ESP_3DES: dir=out src=192.1.2.23 iv_bits=64bits iv=0xdeadf00ddeadf00d seq=8 "
          "eklen=192 life(c,s,h)=bytes(992,0,0)usetime(1,0,0)packets(8,0,0) idle=1 "
          "natencap=none natsport=0 natdport=0 refcount=3 ref=2 refhim=0\n");
}

TEST_CASE("spi: lifetime items appear by each profile's own rule", "[spi][life]") {
    constexpr uint64_t now = 5000;
    SECTION("raw counters of 1: openswan needs > 1, seed any non-zero value") {
        SecurityAssociation sa = sa_of(said_of(kSaAh, 0x3000, IpAddress::v4(10, 0, 0, 2)));
        sa.auth_alg = pfkey::kAuthSha2_256;
        sa.auth_bits = 128;
        sa.auth_key_bits = 256;
        sa.life.allocations = {1, 0, 0};
        sa.life.bytes = {1, 0, 0};
        sa.life.addtime = {1, 0, 0};  // added at clock 1: a stamp of 1 is not > 1
        sa.life.usetime = {4990, 0, 0};  // the one packet, 10 seconds ago
        sa.life.packets = {1, 0, 0};
        sa.last_used = 4990;
        sa.ref = 4;
        CHECK(spi({SaRow{sa}}, kOpenswan, now) ==
              "ah0x3000@10.0.0.2 AH_HMAC_SHA2_256: dir=out alen=128 aklen=256 life(c,s,h)=usetime(10,0,0) idle=10 "
              "natencap=none natsport=0 natdport=0 refcount=3 ref=4 refhim=0\n");
        CHECK(spi({SaRow{sa}}, kSeed, now) ==
              "ah.3000@10.0.0.2 AH_HMAC_SHA2_256: dir=out alen=128 aklen=256 "
              "life(c,s,h)=alloc(1,0,0)bytes(1,0,0)add(4999,0,0)use(10,0,0)packets(1,0,0) idle=10\n");
    }
    SECTION("raw counters of 2 show in both") {
        SecurityAssociation sa = sa_of(said_of(kSaAh, 0x3000, IpAddress::v4(10, 0, 0, 2)));
        sa.auth_alg = pfkey::kAuthSha2_512;
        sa.auth_bits = 256;
        sa.auth_key_bits = 512;
        sa.life.allocations = {2, 0, 0};
        sa.life.bytes = {2, 0, 0};
        sa.life.addtime = {2, 0, 0};
        sa.life.usetime = {2, 0, 0};
        sa.life.packets = {2, 0, 0};
        sa.last_used = 2;
        sa.ref = 4;
        CHECK(spi({SaRow{sa}}, kOpenswan, now) ==
              "ah0x3000@10.0.0.2 AH_HMAC_SHA2_512: dir=out alen=256 aklen=512 "
              "life(c,s,h)=alloc(2,0,0)bytes(2,0,0)addtime(4998,0,0)usetime(4998,0,0)packets(2,0,0) idle=4998 "
              "natencap=none natsport=0 natdport=0 refcount=3 ref=4 refhim=0\n");
        CHECK(spi({SaRow{sa}}, kSeed, now) ==
              "ah.3000@10.0.0.2 AH_HMAC_SHA2_512: dir=out alen=256 aklen=512 "
              "life(c,s,h)=alloc(2,0,0)bytes(2,0,0)add(4998,0,0)use(4998,0,0)packets(2,0,0) idle=4998\n");
    }
    SECTION("zero counters with limits show in both; addtime added this second only in openswan") {
        SecurityAssociation sa = sa_of(said_of(kSaEsp, 0x4000, IpAddress::v4(10, 0, 0, 2)));
        sa.enc_alg = pfkey::kEncryptNull;
        sa.auth_alg = pfkey::kAuthSha2_512;
        sa.auth_bits = 256;
        sa.auth_key_bits = 512;
        sa.life.allocations = {0, 5, 10};
        sa.life.bytes = {0, 1000, 0};
        sa.life.addtime = {now, 0, 0};  // stamp > 1, but 0 seconds old
        sa.life.packets = {0, 0, 50};
        sa.ref = 5;
        CHECK(spi({SaRow{sa}}, kOpenswan, now) ==
              "esp0x4000@10.0.0.2 ESP_NULL_HMAC_SHA2_512: dir=out alen=256 aklen=512 "
              "life(c,s,h)=alloc(0,5,10)bytes(0,1000,0)addtime(0,0,0)packets(0,0,50) "
              "natencap=none natsport=0 natdport=0 refcount=3 ref=5 refhim=0\n");
        CHECK(spi({SaRow{sa}}, kSeed, now) ==
              "esp.4000@10.0.0.2 ESP_NULL_HMAC_SHA2_512: dir=out alen=256 aklen=512 "
              "life(c,s,h)=alloc(0,5,10)bytes(0,1000,0)packets(0,0,50)\n");
    }
    SECTION("usetime limits on an unused SA") {
        // Openswan quirk (§4 item 14): stamp 0, so c = now - 0. Seed: `use` is seconds since
        // first use, and FreeS/WAN printed use(0,…) for an unused SA (§4 item 14, §4.1).
        SecurityAssociation sa = sa_of(said_of(kSaEsp, 0x4001, IpAddress::v4(10, 0, 0, 2)));
        sa.enc_alg = pfkey::kEncryptNull;
        sa.auth_alg = pfkey::kAuthSha2_256;
        sa.auth_bits = 128;
        sa.auth_key_bits = 256;
        sa.life.addtime = {now, 0, 0};  // added this second
        sa.life.usetime = {0, 100, 200};
        sa.ref = 6;
        CHECK(spi({SaRow{sa}}, kOpenswan, now) ==
              "esp0x4001@10.0.0.2 ESP_NULL_HMAC_SHA2_256: dir=out alen=128 aklen=256 "
              "life(c,s,h)=addtime(0,0,0)usetime(5000,100,200) natencap=none natsport=0 natdport=0 refcount=3 ref=6 refhim=0\n");
        CHECK(spi({SaRow{sa}}, kSeed, now) ==
              "esp.4001@10.0.0.2 ESP_NULL_HMAC_SHA2_256: dir=out alen=128 aklen=256 "
              "life(c,s,h)=use(0,100,200)\n");
    }
}

TEST_CASE("spi: IPComp ratio", "[spi]") {
    SecurityAssociation sa = sa_of(kComp3d0);
    sa.src = IpAddress::v4(192, 168, 2, 100);
    sa.enc_alg = pfkey::kCompDeflate;
    sa.life.bytes.count = 2200;
    sa.life.addtime.count = 4970;
    sa.life.usetime.count = 4980;
    sa.life.packets.count = 2;
    sa.last_used = 4995;
    sa.comp_bytes_in = 1500;
    sa.comp_bytes_out = 700;
    sa.ref = 6;
    CHECK(spi({SaRow{sa}}, kOpenswan, 5000) ==
          "comp0x3d0@192.168.2.110 COMP_DEFLATE: dir=out src=192.168.2.100 "
          "life(c,s,h)=bytes(2200,0,0)addtime(30,0,0)usetime(20,0,0)packets(2,0,0) idle=5 ratio=1500:700 "
          "natencap=none natsport=0 natdport=0 refcount=3 ref=6 refhim=0\n");
    CHECK(spi({SaRow{sa}}, kSeed, 5000) ==
          "comp.3d0@192.168.2.110 COMP_DEFLATE: dir=out src=192.168.2.100 "
          "life(c,s,h)=bytes(2200,0,0)add(30,0,0)use(20,0,0)packets(2,0,0) idle=5 ratio=1500:700\n");
    SECTION("no ratio while both counters are zero") {
        sa.comp_bytes_in = sa.comp_bytes_out = 0;
        CHECK(spi({SaRow{sa}}, kSeed, 5000) ==
              "comp.3d0@192.168.2.110 COMP_DEFLATE: dir=out src=192.168.2.100 "
              "life(c,s,h)=bytes(2200,0,0)add(30,0,0)use(20,0,0)packets(2,0,0) idle=5\n");
    }
}

TEST_CASE("spi: §11 vectors 14 and 15 as rows (OS2.6 layout)", "[spi][openswan]") {
    SecurityAssociation ah = sa_of(said_of(kSaAh, 0x91234567, IpAddress::v4(192, 1, 2, 45)));
    ah.src = IpAddress::v4(192, 1, 2, 23);
    ah.auth_alg = pfkey::kAuthMd5Hmac;
    ah.auth_bits = 128;
    ah.auth_key_bits = 128;
    ah.life.addtime.count = 1000;
    ah.ref = 2;
    SecurityAssociation tun = sa_of(said_of(kSaTun, 0x1001, IpAddress::v4(192, 1, 2, 23)));
    tun.src = IpAddress::v4(192, 1, 2, 45);
    tun.inbound = true;
    tun.flags = pfkey::kSaFlagXInFlow;
    tun.policy = InboundPolicy{subnet(IpAddress::v4(192, 0, 1, 0), 24), subnet(IpAddress::v4(192, 0, 2, 0), 24)};
    tun.life.addtime.count = 1000;
    tun.ref = 9;
    CHECK(spi({SaRow{ah}, SaRow{tun}}, kOpenswan, 1006) ==
          "ah0x91234567@192.1.2.45 AH_HMAC_MD5: dir=out src=192.1.2.23 alen=128 aklen=128 "
          "life(c,s,h)=addtime(6,0,0) natencap=none natsport=0 natdport=0 refcount=3 ref=2 refhim=0\n"
          "tun0x1001@192.1.2.23 IPIP: dir=in  src=192.1.2.45 policy=192.0.1.0/24->192.0.2.0/24 flags=0x8<> "
          "life(c,s,h)=addtime(6,0,0) natencap=none natsport=0 natdport=0 refcount=3 ref=9 refhim=0\n");
    CHECK(spi({SaRow{ah}, SaRow{tun}}, kSeed, 1006) ==
          "ah.91234567@192.1.2.45 AH_HMAC_MD5: dir=out src=192.1.2.23 alen=128 aklen=128 life(c,s,h)=add(6,0,0)\n"
          "tun.1001@192.1.2.23 IPIP: dir=in src=192.1.2.45 policy=192.0.1.0/24->192.0.2.0/24 flags=0x8<> "
          "life(c,s,h)=add(6,0,0)\n");
}

namespace {

// Vectors 14 and 15 through Klips: AH MD5 outbound, IPIP inbound with `eroute --addin` policy.
void add_vectors_14_15(Klips& k) {
    SecurityAssociation ah = sa_of(said_of(kSaAh, 0x91234567, IpAddress::v4(192, 1, 2, 45)));
    ah.src = IpAddress::v4(192, 1, 2, 23);
    ah.auth_alg = pfkey::kAuthMd5Hmac;
    ah.auth_bits = 128;
    ah.auth_key_bits = 128;
    REQUIRE(k.add_sa(ah) == 0);
    SecurityAssociation tun = sa_of(said_of(kSaTun, 0x1001, IpAddress::v4(192, 1, 2, 23)));
    tun.src = IpAddress::v4(192, 1, 2, 45);
    REQUIRE(k.add_sa(tun) == 0);
    REQUIRE(k.add_inbound_policy(tun.said, subnet(IpAddress::v4(192, 0, 1, 0), 24),
                                 subnet(IpAddress::v4(192, 0, 2, 0), 24)) == 0);
}

std::string ref_of(const Klips& k, const Said& said) {
    auto sa = k.find_sa(said);
    REQUIRE(sa.has_value());
    return std::to_string(sa->ref);
}

}  // namespace

TEST_CASE("spi through Klips: add_sa, add_inbound_policy, clock, render_spi", "[spi][klips]") {
    auto local_23 = [](const IpAddress& a) { return a == IpAddress::v4(192, 1, 2, 23); };
    const Said ah_said = said_of(kSaAh, 0x91234567, IpAddress::v4(192, 1, 2, 45));
    const Said tun_said = said_of(kSaTun, 0x1001, IpAddress::v4(192, 1, 2, 23));
    // Hash order (§7.1): ah0x91234567@192.1.2.45 bucket 18, tun0x1001@192.1.2.23 bucket 189.
    SECTION("openswan") {
        Instance i = make_klips(kOpenswan, 1000, local_23);
        add_vectors_14_15(*i.klips);
        i.clock->advance(6);
        // The SAref index is KLIPS's table slot, not fixed by the spec: read it back.
        const std::string ah_ref = ref_of(*i.klips, ah_said);
        const std::string tun_ref = ref_of(*i.klips, tun_said);
        const std::string expected =
            "ah0x91234567@192.1.2.45 AH_HMAC_MD5: dir=out src=192.1.2.23 alen=128 aklen=128 "
            "life(c,s,h)=addtime(6,0,0) natencap=none natsport=0 natdport=0 refcount=3 ref=" +
            ah_ref +
            " refhim=0\n"
            "tun0x1001@192.1.2.23 IPIP: dir=in  src=192.1.2.45 policy=192.0.1.0/24->192.0.2.0/24 flags=0x8<> "
            "life(c,s,h)=addtime(6,0,0) natencap=none natsport=0 natdport=0 refcount=3 ref=" +
            tun_ref + " refhim=0\n";
        CHECK(render_spi(*i.klips) == expected);
        CHECK(format_spi(i.klips->sa_rows(), kOpenswan, i.klips->now(), false) == expected);

        SECTION("the xform debug switch adds reftable/refentry") {
            const auto sw = KlipsDebug::parse_switch("xform");
            REQUIRE(sw.has_value());
            i.klips->apply_debug(KlipsDebug::set_words(sw->word, sw->bits));
            const uint32_t ah_r = i.klips->find_sa(ah_said)->ref, tun_r = i.klips->find_sa(tun_said)->ref;
            CHECK(render_spi(*i.klips) ==
                  "ah0x91234567@192.1.2.45 AH_HMAC_MD5: dir=out src=192.1.2.23 alen=128 aklen=128 "
                  "life(c,s,h)=addtime(6,0,0) natencap=none natsport=0 natdport=0 refcount=3 ref=" +
                      ah_ref + " refhim=0 reftable=" + std::to_string(ah_r >> 10) +
                      " refentry=" + std::to_string(ah_r & 1023) +
                      "\n"
                      "tun0x1001@192.1.2.23 IPIP: dir=in  src=192.1.2.45 policy=192.0.1.0/24->192.0.2.0/24 "
                      "flags=0x8<> life(c,s,h)=addtime(6,0,0) natencap=none natsport=0 natdport=0 refcount=3 ref=" +
                      tun_ref + " refhim=0 reftable=" + std::to_string(tun_r >> 10) +
                      " refentry=" + std::to_string(tun_r & 1023) + "\n");
        }
    }
    SECTION("seed") {
        Instance i = make_klips(kSeed, 1000, local_23);
        add_vectors_14_15(*i.klips);
        i.clock->advance(6);
        const std::string expected =
            "ah.91234567@192.1.2.45 AH_HMAC_MD5: dir=out src=192.1.2.23 alen=128 aklen=128 life(c,s,h)=add(6,0,0)\n"
            "tun.1001@192.1.2.23 IPIP: dir=in src=192.1.2.45 policy=192.0.1.0/24->192.0.2.0/24 flags=0x8<> "
            "life(c,s,h)=add(6,0,0)\n";
        CHECK(render_spi(*i.klips) == expected);
        // No ref fields in the seed profile, whatever the debug switches.
        i.klips->apply_debug(KlipsDebug::all_words());
        CHECK(render_spi(*i.klips) == expected);
    }
}

TEST_CASE("spi through Klips: hash order, newest first within a bucket", "[spi][klips]") {
    Instance i = make_klips(kSeed, 2000);
    SecurityAssociation esp = sa_of(kEspD1234567);
    esp.src = IpAddress::v4(192, 1, 2, 23);
    esp.enc_alg = pfkey::kEncryptAesGcm16;
    esp.auth_bits = 128;
    esp.enc_key_bits = 288;
    SecurityAssociation tun = sa_of(kTunD1234567);
    tun.src = IpAddress::v4(192, 1, 2, 23);
    SecurityAssociation a = sa_of(said_of(kSaEsp, 0x100, v6("3049:1::1")));
    a.enc_alg = pfkey::kEncryptAesGcm16;
    SecurityAssociation b = sa_of(said_of(kSaEsp, 0x100, v6("3049:1::2")));
    b.enc_alg = pfkey::kEncryptAesGcm16;
    REQUIRE(i.klips->add_sa(esp) == 0);
    REQUIRE(i.klips->add_sa(tun) == 0);
    REQUIRE(i.klips->add_sa(a) == 0);
    REQUIRE(i.klips->add_sa(b) == 0);
    // tun bucket 35; both IPv6 SAs hash on spi + proto only: (0x00010000 + 50) mod 257 = 51,
    // the newer (::2) first; esp bucket 81. Added this second: no add(…) in the seed profile.
    CHECK(render_spi(*i.klips) ==
          "tun.d1234567@192.1.2.45 IPIP: dir=out src=192.1.2.23 life(c,s,h)=\n"
          "esp:100@3049:1::2 ESP_AES_GCM_16: dir=out life(c,s,h)=\n"
          "esp:100@3049:1::1 ESP_AES_GCM_16: dir=out life(c,s,h)=\n"
          "esp.d1234567@192.1.2.45 ESP_AES_GCM_16: dir=out src=192.1.2.23 alen=128 eklen=288 life(c,s,h)=\n");
}

// ======================================================================================
// 5. tncfg, klipsdebug, version, natt, trap counters (spec §5)
// ======================================================================================

TEST_CASE("tncfg: vector 17 and detached devices", "[tncfg][klips]") {
    for (OutputProfile profile : {kSeed, kOpenswan}) {
        Instance i = make_klips(profile);
        CHECK(render_tncfg(*i.klips) ==
              "ipsec0 -> NULL mtu=0(0) -> 0\n"
              "ipsec1 -> NULL mtu=0(0) -> 0\n"
              "ipsec2 -> NULL mtu=0(0) -> 0\n"
              "ipsec3 -> NULL mtu=0(0) -> 0\n");
        REQUIRE(i.klips->attach_device("ipsec0", "eth1", Tncfg::kAttachedMtu, 1500) == 0);
        CHECK(render_tncfg(*i.klips) ==
              "ipsec0 -> eth1 mtu=16260(1500) -> 1500\n"
              "ipsec1 -> NULL mtu=0(0) -> 0\n"
              "ipsec2 -> NULL mtu=0(0) -> 0\n"
              "ipsec3 -> NULL mtu=0(0) -> 0\n");
        REQUIRE(i.klips->detach_device("ipsec0") == 0);
        CHECK(render_tncfg(*i.klips) ==
              "ipsec0 -> NULL mtu=0(0) -> 0\n"
              "ipsec1 -> NULL mtu=0(0) -> 0\n"
              "ipsec2 -> NULL mtu=0(0) -> 0\n"
              "ipsec3 -> NULL mtu=0(0) -> 0\n");
    }
}

TEST_CASE("tncfg: the man page example (PMTU-lowered private MTU)", "[tncfg]") {
    const std::vector<IpsecDevice> devices{{"ipsec2", "eth3", 16260, 1443, 1500}, {"ipsec3", "", 0, 0, 0}};
    CHECK(format_tncfg(devices) ==
          "ipsec2 -> eth3 mtu=16260(1443) -> 1500\n"
          "ipsec3 -> NULL mtu=0(0) -> 0\n");
}

TEST_CASE("klipsdebug: vector 16", "[klipsdebug][klips]") {
    for (OutputProfile profile : {kSeed, kOpenswan}) {
        Instance i = make_klips(profile);
        CHECK(render_klipsdebug(*i.klips) ==
              "debug_tunnel=00000000.\n"
              "debug_xform=00000000.\n"
              "debug_eroute=00000000.\n"
              "debug_spi=00000000.\n"
              "debug_radij=00000000.\n"
              "debug_esp=00000000.\n"
              "debug_ah=00000000.\n"
              "debug_rcv=00000000.\n"
              "debug_pfkey=00000000.\n");
        const auto xmit = KlipsDebug::parse_switch("tunnel-xmit");
        const auto pfkey = KlipsDebug::parse_switch("pfkey");
        REQUIRE(xmit.has_value());
        REQUIRE(pfkey.has_value());
        i.klips->apply_debug(KlipsDebug::set_words(xmit->word, xmit->bits));
        i.klips->apply_debug(KlipsDebug::set_words(pfkey->word, pfkey->bits));
        const std::string expected =
            "debug_tunnel=00000010.\n"
            "debug_xform=00000000.\n"
            "debug_eroute=00000000.\n"
            "debug_spi=00000000.\n"
            "debug_radij=00000000.\n"
            "debug_esp=00000000.\n"
            "debug_ah=00000000.\n"
            "debug_rcv=00000000.\n"
            "debug_pfkey=ffffffff.\n";
        CHECK(render_klipsdebug(*i.klips) == expected);
        CHECK(format_klipsdebug(i.klips->debug_words()) == expected);
    }
}

TEST_CASE("klipsdebug: netlink, ipcomp and verbose are not listed", "[klipsdebug]") {
    KlipsDebug::Words words{};
    words[KlipsDebug::kNetlink] = 0xffffffff;
    words[KlipsDebug::kIpcomp] = 0xffffffff;
    words[KlipsDebug::kVerbose] = 0xffffffff;
    words[KlipsDebug::kXform] = 0x1;
    words[KlipsDebug::kEsp] = 0xabcdef01;
    words[KlipsDebug::kRcv] = 0x100;
    CHECK(format_klipsdebug(words) ==
          "debug_tunnel=00000000.\n"
          "debug_xform=00000001.\n"
          "debug_eroute=00000000.\n"
          "debug_spi=00000000.\n"
          "debug_radij=00000000.\n"
          "debug_esp=abcdef01.\n"
          "debug_ah=00000000.\n"
          "debug_rcv=00000100.\n"
          "debug_pfkey=00000000.\n");
}

TEST_CASE("version, natt and trap counters", "[misc][klips]") {
    SECTION("seed") {
        Instance i = make_klips(kSeed, 1000, [](const IpAddress&) { return false; }, "2.6.38");
        CHECK(render_version(*i.klips) == "FreeS/WAN version: 2.6.38\n");
        CHECK(render_natt(*i.klips) == "0\n");
        CHECK(render_trap_count(*i.klips) == "00000000\n");
        CHECK(render_trap_sendcount(*i.klips) == "00000000\n");
        i.klips->count_trap(true);
        i.klips->count_trap(false);
        CHECK(render_trap_count(*i.klips) == "00000002\n");
        CHECK(render_trap_sendcount(*i.klips) == "00000001\n");
    }
    SECTION("openswan") {
        Instance i = make_klips(kOpenswan, 1000, [](const IpAddress&) { return false; }, "2.6.38");
        CHECK(render_version(*i.klips) == "Openswan version: 2.6.38\n");
        CHECK(render_natt(*i.klips) == "0\n");
        i.klips->count_trap(true);
        i.klips->count_trap(false);
        CHECK(render_trap_count(*i.klips) == "00000002\n");
        CHECK(render_trap_sendcount(*i.klips) == "00000001\n");
        // %08x: lowercase hex.
        for (int n = 0; n < 24; ++n) i.klips->count_trap(true);
        CHECK(render_trap_count(*i.klips) == "0000001a\n");
        CHECK(render_trap_sendcount(*i.klips) == "00000019\n");
    }
}

// ======================================================================================
// 6. The /proc view table (DESIGN.md "At run time"; spec §5.4)
// ======================================================================================

TEST_CASE("proc_entries: every file and legacy symlink once, rendering as render_*", "[proc_view][klips]") {
    for (OutputProfile profile : {kSeed, kOpenswan}) {
        Instance i = make_klips(profile, 1000, [](const IpAddress& a) { return a == IpAddress::v4(192, 1, 2, 45); });
        add_seed_examples(*i.klips);
        add_vector11(*i.klips);
        REQUIRE(i.klips->attach_device("ipsec1", "eth0", Tncfg::kAttachedMtu, 1400) == 0);
        i.klips->apply_debug(KlipsDebug::set_words(KlipsDebug::kXform));
        i.klips->count_trap(true);
        i.clock->advance(17);

        const Klips& k = *i.klips;
        const std::map<std::string, std::function<std::string()>> files{
            {"net/ipsec/eroute/all", [&] { return render_eroute(k); }},
            {"net/ipsec/spi/all", [&] { return render_spi(k); }},
            {"net/ipsec/spigrp/all", [&] { return render_spigrp(k); }},
            {"net/ipsec/tncfg", [&] { return render_tncfg(k); }},
            {"net/ipsec/klipsdebug", [&] { return render_klipsdebug(k); }},
            {"net/ipsec/version", [&] { return render_version(k); }},
            {"net/ipsec/natt", [&] { return render_natt(k); }},
            {"net/ipsec/stats/trap_count", [&] { return render_trap_count(k); }},
            {"net/ipsec/stats/trap_sendcount", [&] { return render_trap_sendcount(k); }},
        };
        const std::map<std::string, std::string> links{
            {"net/ipsec_eroute", "ipsec/eroute/all"}, {"net/ipsec_spi", "ipsec/spi/all"},
            {"net/ipsec_spigrp", "ipsec/spigrp/all"}, {"net/ipsec_tncfg", "ipsec/tncfg"},
            {"net/ipsec_version", "ipsec/version"},   {"net/ipsec_klipsdebug", "ipsec/klipsdebug"},
        };

        const std::vector<ProcEntry> entries = proc_entries(k);
        std::map<std::string, int> seen;
        for (const ProcEntry& e : entries) {
            ++seen[e.path];
            INFO("path " << e.path);
            if (auto f = files.find(e.path); f != files.end()) {
                REQUIRE_FALSE(e.is_symlink());
                CHECK(e.render() == f->second());
            } else if (auto l = links.find(e.path); l != links.end()) {
                REQUIRE(e.is_symlink());
                CHECK(e.link_target == l->second);
            } else {
                FAIL_CHECK("unexpected entry in the view: " << e.path);
            }
        }
        for (const auto& [path, render] : files) {
            INFO("file " << path);
            CHECK(seen[path] == 1);
        }
        for (const auto& [path, target] : links) {
            INFO("symlink " << path);
            CHECK(seen[path] == 1);
        }
        CHECK(entries.size() == files.size() + links.size());
        // The view follows the tables live: a change shows on the next render.
        for (const ProcEntry& e : entries)
            if (e.path == "net/ipsec/tncfg") {
                REQUIRE(i.klips->detach_device("ipsec1") == 0);
                CHECK(e.render() ==
                      "ipsec0 -> NULL mtu=0(0) -> 0\n"
                      "ipsec1 -> NULL mtu=0(0) -> 0\n"
                      "ipsec2 -> NULL mtu=0(0) -> 0\n"
                      "ipsec3 -> NULL mtu=0(0) -> 0\n");
            }
    }
}

// ======================================================================================
// 7. Empty tables render as empty files (spec §2.1, §3.2)
// ======================================================================================

TEST_CASE("empty eroute, spi and spigrp tables are empty files", "[empty][klips]") {
    for (OutputProfile profile : {kSeed, kOpenswan}) {
        Instance i = make_klips(profile);
        CHECK(render_eroute(*i.klips).empty());
        CHECK(render_spi(*i.klips).empty());
        CHECK(render_spigrp(*i.klips).empty());
        CHECK(format_eroutes({}, profile).empty());
        CHECK(format_spi({}, profile, 1000, true).empty());
        CHECK(format_spigrp({}, profile).empty());
        // …and again after everything added is gone.
        add_seed_examples(*i.klips);
        add_vector11(*i.klips);
        i.klips->clear_eroutes();
        i.klips->flush_sas();
        CHECK(render_eroute(*i.klips) == "");
        CHECK(render_spi(*i.klips) == "");
        CHECK(render_spigrp(*i.klips) == "");
    }
}

// format_eroutes writes common rows through a fast path and the others by the general rules
// (format_eroute_line): the two must agree on every row, rows of every shape mixed together.
TEST_CASE("ipsec_eroute: the fast path agrees with the general rules on random rows", "[eroute][property]") {
    uint64_t state = 20261127;
    auto next = [&state](uint64_t bound) {
        state = state * 6364136223846793005ull + 1442695040888963407ull;
        return (state >> 33) % bound;
    };
    auto address = [&](bool six) {
        if (!six) return IpAddress::v4(static_cast<uint32_t>(next(1ull << 32)));
        std::array<uint8_t, 16> bytes{};
        for (auto& b : bytes) b = next(3) == 0 ? 0 : static_cast<uint8_t>(next(256));
        return IpAddress::from_bytes(kInet6, bytes);
    };
    auto mask = [&](bool six) {
        if (next(10) == 0) return address(six);  // usually not contiguous
        return mask_from_bits(six ? kInet6 : kInet, static_cast<int>(next(six ? 129 : 33)));
    };
    const std::vector<uint8_t> protos{kSaAh, kSaEsp, kSaTun, kSaComp, kSaInt, 99};
    std::vector<EroutRow> rows;
    for (int i = 0; i < 20000; ++i) {
        const bool six = next(5) == 0;
        EroutRow row;
        row.src = address(six);
        row.dst = address(six);
        row.src_mask = mask(six);
        row.dst_mask = mask(six);
        if (next(4) == 0) {
            row.sport = static_cast<uint16_t>(next(65536));
            row.dport = static_cast<uint16_t>(next(3) == 0 ? 0 : next(65536));
        }
        row.proto = next(3) == 0 ? 0 : static_cast<uint8_t>(next(256));
        row.count = static_cast<uint32_t>(next(4) == 0 ? next(1ull << 32) : next(100000));
        switch (next(8)) {
        case 0: row.said = magic_said(static_cast<MagicSpi>(256 + next(6))); break;
        case 1: row.said = passthrough_said(next(2) ? kInet6 : kInet); break;
        default: row.said = Said{address(next(4) == 0), static_cast<uint32_t>(next(1ull << 32)),
                                 protos[next(protos.size())]};
        }
        if (next(3) == 0) {
            row.idents = std::make_shared<const EroutIdentities>(
                EroutIdentities{std::string(next(40), 'a' + static_cast<char>(next(26))),
                                std::string(next(2) ? 0 : next(300), '@')});
        }
        rows.push_back(row);
    }
    for (auto profile : {kSeed, kOpenswan}) {
        std::string expected;
        for (const EroutRow& row : rows) expected += format_eroute_line(row, profile);
        const std::string got = format_eroutes(rows, profile);
        REQUIRE(got.size() == expected.size());
        CHECK(got == expected);
    }
}
