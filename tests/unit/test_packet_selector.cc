// The lookup key of a packet (spec/klips.md §6.2: ports for TCP and UDP only).
#include <catch2/catch.hpp>

#include <vector>

#include "kmod_sim/module/packet_selector.h"

using namespace kmod_sim;

namespace {

std::vector<uint8_t> ipv4(uint8_t proto, std::vector<uint8_t> payload, uint16_t frag = 0) {
    std::vector<uint8_t> p = {0x45, 0, 0, 0, 0, 0, static_cast<uint8_t>(frag >> 8), static_cast<uint8_t>(frag),
                              64, proto, 0, 0, 10, 1, 2, 3, 192, 168, 1, 5};
    p.insert(p.end(), payload.begin(), payload.end());
    return p;
}

std::vector<uint8_t> ipv6(uint8_t next, std::vector<uint8_t> rest) {
    std::vector<uint8_t> p(40, 0);
    p[0] = 0x60;
    p[6] = next;
    p[8] = 0x30; p[9] = 0x49; p[10] = 0; p[11] = 1; p[23] = 0x10;   // 3049:1::10
    p[24] = 0x30; p[25] = 0x49; p[26] = 0; p[27] = 1; p[39] = 0x20;  // 3049:1::20
    p.insert(p.end(), rest.begin(), rest.end());
    return p;
}

const std::vector<uint8_t> kPorts1234To25 = {0x04, 0xd2, 0x00, 0x19, 0, 0, 0, 0};

}  // namespace

TEST_CASE("IPv4 TCP and UDP packets carry their ports", "[packet_selector]") {
    for (uint8_t proto : {uint8_t{6}, uint8_t{17}}) {
        auto s = packet_selector(ipv4(proto, kPorts1234To25));
        REQUIRE(s);
        CHECK(s->src == IpAddress::v4(10, 1, 2, 3));
        CHECK(s->dst == IpAddress::v4(192, 168, 1, 5));
        CHECK(s->proto == proto);
        CHECK(s->sport == 1234);
        CHECK(s->dport == 25);
    }
}

TEST_CASE("other protocols, later fragments and short headers have no ports", "[packet_selector]") {
    auto icmp = packet_selector(ipv4(1, kPorts1234To25));
    REQUIRE(icmp);
    CHECK(icmp->proto == 1);
    CHECK(icmp->sport == 0);
    CHECK(icmp->dport == 0);

    auto fragment = packet_selector(ipv4(6, kPorts1234To25, 0x0010));  // offset 16 * 8 bytes
    REQUIRE(fragment);
    CHECK(fragment->dport == 0);

    auto first_fragment = packet_selector(ipv4(6, kPorts1234To25, 0x2000));  // MF set, offset 0
    REQUIRE(first_fragment);
    CHECK(first_fragment->dport == 25);

    auto truncated = packet_selector(ipv4(6, {0x04, 0xd2}));
    REQUIRE(truncated);
    CHECK(truncated->sport == 0);
}

TEST_CASE("IPv6: ports found behind extension headers", "[packet_selector]") {
    auto plain = packet_selector(ipv6(6, kPorts1234To25));
    REQUIRE(plain);
    CHECK(plain->src.is_v6());
    CHECK(plain->proto == 6);
    CHECK(plain->dport == 25);

    // hop-by-hop (8 bytes, next = destination options), destination options (16 bytes, next = UDP)
    std::vector<uint8_t> rest = {60, 0, 0, 0, 0, 0, 0, 0, 17, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
    rest.insert(rest.end(), kPorts1234To25.begin(), kPorts1234To25.end());
    auto behind = packet_selector(ipv6(0, rest));
    REQUIRE(behind);
    CHECK(behind->proto == 17);
    CHECK(behind->sport == 1234);
    CHECK(behind->dport == 25);

    std::vector<uint8_t> later = {6, 0, 0x00, 0x08, 0, 0, 0, 1};  // fragment header, offset 1
    later.insert(later.end(), kPorts1234To25.begin(), kPorts1234To25.end());
    auto fragment = packet_selector(ipv6(44, later));
    REQUIRE(fragment);
    CHECK(fragment->proto == 6);
    CHECK(fragment->dport == 0);
}

TEST_CASE("not IP, or too short: no selector", "[packet_selector]") {
    CHECK_FALSE(packet_selector({}));
    CHECK_FALSE(packet_selector(std::vector<uint8_t>{0x45, 0, 0}));
    CHECK_FALSE(packet_selector(std::vector<uint8_t>(40, 0x50)));
    auto bad_ihl = ipv4(6, kPorts1234To25);
    bad_ihl[0] = 0x44;  // header length 16 < 20
    CHECK_FALSE(packet_selector(bad_ihl));
    CHECK_FALSE(packet_selector(std::vector<uint8_t>(39, 0x60)));
}
