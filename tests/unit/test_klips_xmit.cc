// Klips::xmit, the outbound data plane (spec/klips.md §4 counters, §6.3 counting, §6.4 magic
// SAIDs, §6.5 holds, §7.3 output processing, §7.5 IPComp, §7.7 lifetimes;
// spec/dataplane.md §1 wire formats).
//
// Expected packets are worked out from the spec and checked with crypto/ objects built here
// with the same keys (ESP opened, AH verified, IPComp inflated), and with this file's own
// header parsing and checksums; never by comparing with what the module printed before.
#include <catch2/catch.hpp>

#include <cerrno>
#include <cstdint>
#include <string>
#include <vector>

#include "crypto/ah.h"
#include "crypto/esp.h"
#include "crypto/ipcomp.h"
#include "dataplane_fixture.h"

using namespace dp;

namespace {

constexpr const char* kLeft = "192.0.2.1";    // a host behind this gateway
constexpr const char* kRight = "192.0.1.1";   // a host behind the peer
constexpr const char* kGwL = "192.1.2.45";    // this gateway
constexpr const char* kGwR = "192.1.2.23";    // the peer

// ESP bytes (header to ICV) of an IPv4/IPv6 packet whose protocol is ESP.
std::span<const uint8_t> esp_part(const Bytes& p) {
    const Ip ip = read_ip(p);
    REQUIRE(ip.proto == kEsp);
    return std::span<const uint8_t>(p).subspan(ip.header_size, ip.total - ip.header_size);
}

// Opens the ESP packet p with an independent crypto::Esp: the IP header with the protocol
// set to ESP's next header, followed by the decrypted payload (lengths fixed, checksum
// recomputed), the way a receiver would reassemble it.
struct Opened {
    uint8_t next_header = 0;
    uint64_t seq = 0;
    Bytes payload;
};
Opened open_esp(const crypto::Esp& esp, const Bytes& p) {
    Opened o;
    const crypto::EspOpened r = esp.open(esp_part(p), 0, o.payload);
    INFO("ESP open: " << crypto::to_string(r.status));
    REQUIRE(r.status == crypto::EspStatus::ok);
    o.next_header = r.next_header;
    o.seq = r.seq;
    return o;
}

uint32_t esp_spi(const Bytes& p) { return get32(esp_part(p), 0); }
uint32_t esp_seq(const Bytes& p) { return get32(esp_part(p), 4); }

// The group tun → esp towards the peer, and the subnet eroute into it.
void esp_tunnel(Module& m, const Bytes& key) {
    m.add(tun_sa("tun0x1001@192.1.2.23", kGwL));
    m.add(esp_sa("esp0x1002@192.1.2.23", kGwL, key));
    m.group({"tun0x1001@192.1.2.23", "esp0x1002@192.1.2.23"});
    add_eroute(m.k(), "192.0.2.0/24", "192.0.1.0/24", "tun0x1001@192.1.2.23");
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// No eroute, %drop, %pass (§6.3, §6.4)

TEST_CASE("xmit: no eroute matches: dropped as KLIPS's default %drop", "[xmit][magic]") {
    auto m = make_module();
    const PacketResult r = m->xmit(ping(kLeft, kRight));
    CHECK(r.verdict == PacketVerdict::dropped);
    CHECK(r.reason == DropReason::no_eroute);
    CHECK(r.port == PacketPort::none);
    CHECK(r.packet.empty());
}

TEST_CASE("xmit: a packet that is not IPv4/IPv6 is dropped as malformed", "[xmit]") {
    auto m = make_module();
    add_eroute(m->k(), "0.0.0.0/0", "0.0.0.0/0", "%pass");
    Bytes junk = ping(kLeft, kRight);
    junk[0] = 0x35;  // version 3
    CHECK(m->xmit(junk).reason == DropReason::malformed);
    Bytes truncated = ping(kLeft, kRight);
    truncated.resize(30);  // total length says 84
    CHECK(m->xmit(truncated).reason == DropReason::malformed);
    CHECK(eroute_row(m->k(), "0.0.0.0/0", "0.0.0.0/0")->count == 0);
}

TEST_CASE("xmit: %drop discards the packet and counts the eroute", "[xmit][magic]") {
    auto m = make_module();
    add_eroute(m->k(), "192.0.2.0/24", "192.0.1.0/24", "%drop");
    const PacketResult r = m->xmit(ping(kLeft, kRight));
    CHECK(r.verdict == PacketVerdict::dropped);
    CHECK(r.reason == DropReason::drop_eroute);
    CHECK(r.port == PacketPort::none);
    REQUIRE(r.has_said);
    CHECK(said_text(r.said) == "%drop");
    CHECK(eroute_listing(m->k()) == std::vector<std::string>{"192.0.2.0/24 -> 192.0.1.0/24 => %drop 1"});
}

TEST_CASE("xmit: %passthrough (tun SPI 0) is looked up as an SA, fails and drops", "[xmit][magic]") {
    auto m = make_module();
    EroutRequest r;
    r.selector = flow("192.0.2.0/24", "192.0.1.0/24");
    r.said = passthrough_said(AddressFamily::inet);
    REQUIRE(m->k().add_eroute(r) == 0);
    const PacketResult x = m->xmit(ping(kLeft, kRight));
    CHECK(x.verdict == PacketVerdict::dropped);
    CHECK(x.port == PacketPort::none);
}

TEST_CASE("xmit: %pass sends the packet out unchanged and counts it", "[xmit][magic]") {
    auto m = make_module();
    add_eroute(m->k(), "192.0.2.0/24", "192.0.1.0/24", "%pass");
    const Bytes p = ping(kLeft, kRight);
    const PacketResult r = m->xmit(p);
    CHECK(r.verdict == PacketVerdict::passed);
    CHECK(r.port == PacketPort::wire);
    CHECK(bytes_of(r.packet) == p);
    CHECK(eroute_listing(m->k()) == std::vector<std::string>{"192.0.2.0/24 -> 192.0.1.0/24 => %pass 1"});

    SECTION("link padding after the IP total length is not sent") {
        Bytes padded = p;
        padded.insert(padded.end(), {0, 0, 0, 0, 0, 0});
        const PacketResult r2 = m->xmit(padded);
        CHECK(r2.verdict == PacketVerdict::passed);
        CHECK(bytes_of(r2.packet) == p);
        CHECK(eroute_row(m->k(), "192.0.2.0/24", "192.0.1.0/24")->count == 2);
    }
}

// ---------------------------------------------------------------------------------------------
// %reject (§6.4): ICMP destination unreachable, code 13 / ICMPv6 1 code 1, back to the source

TEST_CASE("xmit: %reject answers an ICMP type 3 code 13 quoting the packet", "[xmit][magic][reject]") {
    auto m = make_module();
    add_eroute(m->k(), "192.0.2.0/24", "192.0.1.0/24", "%reject");
    const Bytes p = ipv4(kLeft, kRight, kUdp, udp(40000, 53, 30));
    const PacketResult r = m->xmit(p);
    CHECK(r.verdict == PacketVerdict::rejected);
    CHECK(r.port == PacketPort::host);
    CHECK(eroute_row(m->k(), "192.0.2.0/24", "192.0.1.0/24")->count == 1);
    const Bytes icmp = bytes_of(r.packet);
    REQUIRE(icmp.size() >= 20 + 8 + 28);
    const Ip ip = read_ip(icmp);
    CHECK(ip.version == 4);
    CHECK(ip.total == icmp.size());
    CHECK(ip.proto == kIcmp);
    CHECK(ip.src == addr(kRight));  // from the packet's destination
    CHECK(ip.dst == addr(kLeft));   // back to its source
    CHECK(icmp[8] > 0);             // a TTL the host can forward
    CHECK(checksum_ok(std::span<const uint8_t>(icmp).first(ip.header_size)));
    const auto body = std::span<const uint8_t>(icmp).subspan(ip.header_size);
    CHECK(body[0] == 3);
    CHECK(body[1] == 13);
    CHECK(checksum_ok(body));
    // RFC 792/1812: the quote is the offending IP header and at least 8 bytes of its payload;
    // a packet this small fits whole.
    const auto quoted = body.subspan(8);
    REQUIRE(quoted.size() >= 28);
    CHECK(Bytes(quoted.begin(), quoted.begin() + 28) == Bytes(p.begin(), p.begin() + 28));
    CHECK(quoted.size() <= p.size());
    CHECK(icmp.size() <= 576);
}

TEST_CASE("xmit: %reject of a large packet keeps the ICMP error within 576 bytes", "[xmit][magic][reject]") {
    auto m = make_module();
    add_eroute(m->k(), "192.0.2.0/24", "192.0.1.0/24", "%reject");
    const Bytes p = ping(kLeft, kRight, 1400);
    const PacketResult r = m->xmit(p);
    REQUIRE(r.verdict == PacketVerdict::rejected);
    const Bytes icmp = bytes_of(r.packet);
    REQUIRE(icmp.size() > 28);
    CHECK(icmp.size() <= 576);
    CHECK(read_ip(icmp).total == icmp.size());
    CHECK(checksum_ok(std::span<const uint8_t>(icmp).subspan(20)));
    CHECK(Bytes(icmp.begin() + 28, icmp.end()) == Bytes(p.begin(), p.begin() + (icmp.size() - 28)));
}

TEST_CASE("xmit: %reject for IPv6 answers ICMPv6 type 1 code 1", "[xmit][magic][reject][ipv6]") {
    auto m = make_module();
    add_eroute(m->k(), "2001:db8:1::/48", "2001:db8:2::/48", "%reject");
    const Bytes p = ping6("2001:db8:1::5", "2001:db8:2::7");
    const PacketResult r = m->xmit(p);
    CHECK(r.verdict == PacketVerdict::rejected);
    CHECK(r.port == PacketPort::host);
    const Bytes icmp = bytes_of(r.packet);
    REQUIRE(icmp.size() >= 40 + 8 + 48);
    const Ip ip = read_ip(icmp);
    CHECK(ip.version == 6);
    CHECK(ip.total == icmp.size());
    CHECK(ip.proto == kIcmpv6);
    CHECK(ip.src == addr("2001:db8:2::7"));
    CHECK(ip.dst == addr("2001:db8:1::5"));
    CHECK(icmp[40] == 1);
    CHECK(icmp[41] == 1);
    CHECK(icmpv6_checksum_ok(icmp));
    CHECK(Bytes(icmp.begin() + 48, icmp.end()) == p);  // small enough to quote whole
}

TEST_CASE("xmit: %reject never answers an ICMP error with another", "[xmit][magic][reject]") {
    auto m = make_module();
    add_eroute(m->k(), "192.0.2.0/24", "192.0.1.0/24", "%reject");
    // A destination unreachable quoting some earlier packet.
    Bytes err(8, 0);
    err[0] = 3;
    err[1] = 1;
    const Bytes quoted = ipv4(kRight, kLeft, kUdp, udp(53, 40000, 4));
    err.insert(err.end(), quoted.begin(), quoted.end());
    put16(err, 2, checksum(err));
    const PacketResult r = m->xmit(ipv4(kLeft, kRight, kIcmp, err));
    CHECK(r.verdict == PacketVerdict::rejected);
    CHECK(r.port == PacketPort::none);
    CHECK(r.packet.empty());
    CHECK(eroute_row(m->k(), "192.0.2.0/24", "192.0.1.0/24")->count == 1);

    SECTION("but an echo request is answered") {
        CHECK(m->xmit(ping(kLeft, kRight)).port == PacketPort::host);
    }
    SECTION("nor an ICMPv6 error (type < 128)") {
        add_eroute(m->k(), "2001:db8:1::/48", "2001:db8:2::/48", "%reject");
        Bytes err6(8, 0);
        err6[0] = 1;
        err6[1] = 4;
        const PacketResult r6 = m->xmit(ipv6("2001:db8:1::5", "2001:db8:2::7", kIcmpv6, err6));
        CHECK(r6.verdict == PacketVerdict::rejected);
        CHECK(r6.packet.empty());
    }
}

// ---------------------------------------------------------------------------------------------
// %hold, %trap, %trapsubnet (§6.4, §6.5)

TEST_CASE("xmit: %hold keeps the latest packet; REPLACEFLOW hands it back", "[xmit][magic][hold]") {
    auto m = make_module();
    add_eroute(m->k(), "192.0.2.0/24", "192.0.1.0/24", "%hold");
    const Bytes p1 = ping(kLeft, kRight, 56, 1), p2 = ping(kLeft, kRight, 56, 2), p3 = ping(kLeft, kRight, 56, 3);
    for (const Bytes* p : {&p1, &p2, &p3}) {
        const PacketResult r = m->xmit(*p);
        CHECK(r.verdict == PacketVerdict::held);
        CHECK(r.port == PacketPort::none);
    }
    CHECK(eroute_row(m->k(), "192.0.2.0/24", "192.0.1.0/24")->count == 3);
    const HeldPackets held = take_held(m->k(), "192.0.2.0/24", "192.0.1.0/24", "%hold");
    CHECK(held.first.empty());  // only a trap sets the first packet
    CHECK(held.last == p3);
    SECTION("after the replace nothing is held any more") {
        const HeldPackets again = take_held(m->k(), "192.0.2.0/24", "192.0.1.0/24", "%hold");
        CHECK(again.first.empty());
        CHECK(again.last.empty());
    }
}

TEST_CASE("xmit: ACQUIRE carries the trap eroute's identities with the types ADDFLOW gave", "[xmit][magic][trap]") {
    auto m = make_module();
    EroutRequest r;
    r.selector = flow("192.0.2.0/24", "192.0.1.0/24");
    r.said = said_of("%trap");
    // A distinguished name has no '@': only the stored type says what it is.
    r.idents = EroutIdentities{"C=CA, O=Example, CN=east", "@west.example", pfkey::kIdentXConnection,
                               pfkey::kIdentFqdn};
    REQUIRE(m->k().add_eroute(r) == 0);
    CHECK(m->xmit(ping(kLeft, kRight, 56, 1)).verdict == PacketVerdict::trapped);
    REQUIRE(m->events->acquires.size() == 1);
    const pfkey::Message a = decoded(m->events->acquires[0]);
    REQUIRE(a.identity_src);
    REQUIRE(a.identity_dst);
    CHECK(a.identity_src->text == "C=CA, O=Example, CN=east");
    CHECK(a.identity_src->type == pfkey::kIdentXConnection);
    CHECK(a.identity_dst->text == "@west.example");
    CHECK(a.identity_dst->type == pfkey::kIdentFqdn);
}

TEST_CASE("xmit: %trap sends an ACQUIRE and installs a /32 %hold holding the packet", "[xmit][magic][trap]") {
    auto m = make_module();
    add_eroute(m->k(), "192.0.2.0/24", "192.0.1.0/24", "%trap", 777);
    const Bytes p1 = ping(kLeft, kRight, 56, 1);
    const PacketResult r = m->xmit(p1);
    CHECK(r.verdict == PacketVerdict::trapped);
    CHECK(r.port == PacketPort::none);
    CHECK(m->k().trap_count() == 1);
    CHECK(m->k().trap_sendcount() == 1);

    REQUIRE(m->events->acquires.size() == 1);
    const pfkey::Message a = decoded(m->events->acquires[0]);
    CHECK(a.type == pfkey::kAcquire);
    CHECK(a.satype == pfkey::kSaTypeEsp);
    REQUIRE(a.address_src);
    REQUIRE(a.address_dst);
    CHECK(a.address_src->address == addr(kLeft));
    CHECK(a.address_dst->address == addr(kRight));
    CHECK(a.address_src->port == 0);
    CHECK(a.address_dst->port == 0);
    REQUIRE(a.proposal);
    CHECK(a.proposal->replay == 64);
    CHECK(a.proposal->combs.size() == 2);
    CHECK(m->events->expires.empty());

    // radij walk order: ascending keys, the source first (§6.2)
    CHECK(eroute_listing(m->k()) == std::vector<std::string>{"192.0.2.0/24 -> 192.0.1.0/24 => %trap 1",
                                                             "192.0.2.1/32 -> 192.0.1.1/32 => %hold 0"});
    auto hold = eroute_row(m->k(), "192.0.2.1/32", "192.0.1.1/32");
    REQUIRE(hold);
    CHECK(said_text(hold->said) == "%hold");
    CHECK(hold->count == 0);

    SECTION("the spec's east-trap-01: 8 pings give 1 on the %trap and 7 on the %hold") {
        Bytes last;
        for (uint16_t seq = 2; seq <= 8; ++seq) {
            last = ping(kLeft, kRight, 56, seq);
            CHECK(m->xmit(last).verdict == PacketVerdict::held);
        }
        CHECK(eroute_row(m->k(), "192.0.2.0/24", "192.0.1.0/24")->count == 1);
        CHECK(eroute_row(m->k(), "192.0.2.1/32", "192.0.1.1/32")->count == 7);
        CHECK(m->k().trap_count() == 1);
        CHECK(m->k().trap_sendcount() == 1);
        CHECK(m->events->acquires.size() == 1);
        const HeldPackets held = take_held(m->k(), "192.0.2.1/32", "192.0.1.1/32", "%hold");
        CHECK(held.first == p1);
        CHECK(held.last == last);
    }
    SECTION("the hold holds the triggering packet as its first, nothing as its last") {
        const HeldPackets held = take_held(m->k(), "192.0.2.1/32", "192.0.1.1/32", "%hold");
        CHECK(held.first == p1);
        CHECK(held.last.empty());
    }
    SECTION("another host pair behind the trap gets its own hold and ACQUIRE") {
        CHECK(m->xmit(ping("192.0.2.9", kRight)).verdict == PacketVerdict::trapped);
        CHECK(m->k().trap_count() == 2);
        CHECK(m->k().trap_sendcount() == 2);
        CHECK(eroute_row(m->k(), "192.0.2.9/32", "192.0.1.1/32").has_value());
        CHECK(eroute_row(m->k(), "192.0.2.0/24", "192.0.1.0/24")->count == 2);
        REQUIRE(m->events->acquires.size() == 2);
        CHECK(decoded(m->events->acquires[1]).seq != decoded(m->events->acquires[0]).seq);
    }
}

TEST_CASE("xmit: %trap with a transport protocol copies protocol and ports into ACQUIRE and hold",
          "[xmit][magic][trap]") {
    auto m = make_module();
    EroutRequest req;
    req.selector = flow("192.0.2.0/24", "192.0.1.0/24", kTcp, 0, 25);
    req.said = said_of("%trap");
    req.pid = 99;
    REQUIRE(m->k().add_eroute(req) == 0);
    Bytes tcp(20, 0);
    put16(tcp, 0, 41000);
    put16(tcp, 2, 25);
    tcp[12] = 0x50;
    CHECK(m->xmit(ipv4(kLeft, kRight, kTcp, tcp)).verdict == PacketVerdict::trapped);
    REQUIRE(m->events->acquires.size() == 1);
    const pfkey::Message a = decoded(m->events->acquires[0]);
    REQUIRE(a.address_src);
    REQUIRE(a.address_dst);
    CHECK(a.address_src->proto == kTcp);
    CHECK(a.address_dst->proto == kTcp);
    CHECK(a.address_dst->port == 25);
    CHECK(a.address_src->port == 0);  // the trap eroute named no source port
    bool found = false;
    for (const EroutRow& row : m->k().eroute_rows()) {
        if (said_text(row.said) != "%hold") continue;
        found = true;
        CHECK(row.src == addr(kLeft));
        CHECK(row.dst == addr(kRight));
        CHECK(mask_bits(row.src_mask) == 32);
        CHECK(row.proto == kTcp);
        CHECK(row.dport == 25);
        CHECK(row.sport == 0);
    }
    CHECK(found);
}

TEST_CASE("xmit: %trap when no socket takes the ACQUIRE installs nothing", "[xmit][magic][trap]") {
    SECTION("the events refuse (EPROTONOSUPPORT)") {
        auto m = make_module();
        m->events->accept_acquire = false;
        add_eroute(m->k(), "192.0.2.0/24", "192.0.1.0/24", "%trap");
        const PacketResult r = m->xmit(ping(kLeft, kRight));
        CHECK(r.verdict == PacketVerdict::trapped);
        CHECK(r.port == PacketPort::none);
        CHECK(m->events->acquires.size() == 1);
        CHECK(m->k().trap_count() == 1);
        CHECK(m->k().trap_sendcount() == 0);
        CHECK(eroute_listing(m->k()) == std::vector<std::string>{"192.0.2.0/24 -> 192.0.1.0/24 => %trap 1"});
        // and the next packet traps again
        m->xmit(ping(kLeft, kRight));
        CHECK(m->k().trap_count() == 2);
        CHECK(m->k().trap_sendcount() == 0);
        CHECK(eroute_listing(m->k()) == std::vector<std::string>{"192.0.2.0/24 -> 192.0.1.0/24 => %trap 2"});
    }
    SECTION("no events at all") {
        auto m = make_module({}, false);
        add_eroute(m->k(), "192.0.2.0/24", "192.0.1.0/24", "%trap");
        CHECK(m->xmit(ping(kLeft, kRight)).verdict == PacketVerdict::trapped);
        CHECK(m->k().trap_count() == 1);
        CHECK(m->k().trap_sendcount() == 0);
        CHECK(m->k().eroute_count() == 1);
    }
}

TEST_CASE("xmit: %trapsubnet turns the eroute itself into a %hold", "[xmit][magic][trap]") {
    auto m = make_module();
    add_eroute(m->k(), "192.0.2.0/24", "192.0.1.0/24", "%trapsubnet");
    const Bytes p1 = ping(kLeft, kRight, 56, 1);
    CHECK(m->xmit(p1).verdict == PacketVerdict::trapped);
    CHECK(m->k().trap_count() == 1);
    CHECK(m->k().trap_sendcount() == 1);
    REQUIRE(m->events->acquires.size() == 1);
    CHECK(decoded(m->events->acquires[0]).address_dst->address == addr(kRight));
    CHECK(eroute_listing(m->k()) == std::vector<std::string>{"192.0.2.0/24 -> 192.0.1.0/24 => %hold 1"});
    Bytes last;
    for (uint16_t seq = 2; seq <= 8; ++seq) {
        last = ping(kLeft, kRight, 56, seq);
        CHECK(m->xmit(last).verdict == PacketVerdict::held);
    }
    // east-trapsubnet-01: 8 pings, one eroute counting all 8
    CHECK(eroute_listing(m->k()) == std::vector<std::string>{"192.0.2.0/24 -> 192.0.1.0/24 => %hold 8"});
    CHECK(m->k().trap_count() == 1);
    const HeldPackets held = take_held(m->k(), "192.0.2.0/24", "192.0.1.0/24", "%hold");
    CHECK(held.first == p1);
    CHECK(held.last == last);
}

TEST_CASE("xmit: %trapsubnet refused by the sockets stays a %trapsubnet", "[xmit][magic][trap]") {
    auto m = make_module();
    m->events->accept_acquire = false;
    add_eroute(m->k(), "192.0.2.0/24", "192.0.1.0/24", "%trapsubnet");
    m->xmit(ping(kLeft, kRight));
    CHECK(eroute_listing(m->k()) == std::vector<std::string>{"192.0.2.0/24 -> 192.0.1.0/24 => %trapsubnet 1"});
    CHECK(m->k().trap_sendcount() == 0);
}

// ---------------------------------------------------------------------------------------------
// IKE (§6.3): UDP from port 500 passes uncounted unless it is tunnelled towards another gateway

TEST_CASE("xmit: IKE (UDP source port 500) is passed uncounted", "[xmit][ike]") {
    auto m = make_module();
    SECTION("under a %drop eroute (SAID dst 0.0.0.0)") {
        add_eroute(m->k(), "0.0.0.0/0", "0.0.0.0/0", "%drop");
        const Bytes ike = ipv4(kGwL, kGwR, kUdp, udp(500, 500, 100));
        const PacketResult r = m->xmit(ike);
        CHECK(r.verdict == PacketVerdict::passed);
        CHECK(r.port == PacketPort::wire);
        CHECK(bytes_of(r.packet) == ike);
        CHECK(eroute_row(m->k(), "0.0.0.0/0", "0.0.0.0/0")->count == 0);
        // other UDP is dropped and counted
        CHECK(m->xmit(ipv4(kGwL, kGwR, kUdp, udp(501, 500))).reason == DropReason::drop_eroute);
        CHECK(eroute_row(m->k(), "0.0.0.0/0", "0.0.0.0/0")->count == 1);
        // destination port 500 from another port is not IKE by this rule
        CHECK(m->xmit(ipv4(kGwL, kGwR, kUdp, udp(4500, 500))).verdict == PacketVerdict::dropped);
    }
    SECTION("with no eroute at all") {
        const PacketResult r = m->xmit(ipv4(kGwL, kGwR, kUdp, udp(500, 500)));
        CHECK(r.verdict == PacketVerdict::passed);
        CHECK(r.port == PacketPort::wire);
    }
    SECTION("with an eroute whose SAID points at the packet's own destination") {
        m->add(esp_sa("esp0x1002@192.1.2.23", kGwL, esp_key()));
        add_eroute(m->k(), "192.1.2.45/32", "192.1.2.23/32", "esp0x1002@192.1.2.23");
        const Bytes ike = ipv4(kGwL, kGwR, kUdp, udp(500, 500));
        const PacketResult r = m->xmit(ike);
        CHECK(r.verdict == PacketVerdict::passed);
        CHECK(bytes_of(r.packet) == ike);
        CHECK(eroute_row(m->k(), "192.1.2.45/32", "192.1.2.23/32")->count == 0);
        CHECK(m->sa("esp0x1002@192.1.2.23").life.packets.count == 0);
    }
    SECTION("but an eroute into a tunnel to another gateway takes it, counted") {
        const Bytes key = esp_key();
        esp_tunnel(*m, key);
        const Bytes ike = ipv4(kLeft, kRight, kUdp, udp(500, 500));
        const PacketResult r = m->xmit(ike);
        CHECK(r.verdict == PacketVerdict::sent);
        CHECK(eroute_row(m->k(), "192.0.2.0/24", "192.0.1.0/24")->count == 1);
    }
}

// ---------------------------------------------------------------------------------------------
// SA chains (§7.3; spec/dataplane.md §1.1-§1.7)

TEST_CASE("xmit: tun + esp: outer IPv4 ESP between the gateways, the original packet inside",
          "[xmit][esp][tunnel]") {
    auto m = make_module();
    const Bytes key = esp_key();
    esp_tunnel(*m, key);
    const Bytes p = ping(kLeft, kRight);
    const PacketResult r = m->xmit(p);
    REQUIRE(r.verdict == PacketVerdict::sent);
    CHECK(r.port == PacketPort::wire);
    CHECK(r.transforms == 2);
    REQUIRE(r.has_said);
    CHECK(said_text(r.said) == "tun0x1001@192.1.2.23");
    const Bytes out = bytes_of(r.packet);

    const Ip ip = read_ip(out);
    CHECK(ip.version == 4);
    CHECK(ip.header_size == 20);  // no options in a constructed outer header
    CHECK(ip.total == out.size());
    CHECK(ip.proto == kEsp);
    CHECK(ip.src == addr(kGwL));
    CHECK(ip.dst == addr(kGwR));
    CHECK(out[8] == 64);  // KLIPS's default TTL
    CHECK(checksum_ok(std::span<const uint8_t>(out).first(20)));
    CHECK(esp_spi(out) == 0x1002);
    CHECK(esp_seq(out) == 1);
    // ChaCha20-Poly1305: header 8 + IV 8 + payload + pad to 4 + 2 + ICV 16
    const size_t plain = p.size() + 2;
    CHECK(out.size() == 20 + 8 + 8 + (plain + 3) / 4 * 4 + 16);

    const Opened o = open_esp(esp_crypto(key), out);
    CHECK(o.next_header == kIpip);
    CHECK(o.seq == 1);
    CHECK(o.payload == p);
    CHECK(eroute_row(m->k(), "192.0.2.0/24", "192.0.1.0/24")->count == 1);
}

TEST_CASE("xmit: tun alone is IPIP: outer header from the SA, the packet unchanged inside",
          "[xmit][tunnel]") {
    auto m = make_module();
    m->add(tun_sa("tun0x1001@192.1.2.23", kGwL));
    add_eroute(m->k(), "192.0.2.0/24", "192.0.1.0/24", "tun0x1001@192.1.2.23");
    const Bytes p = ping(kLeft, kRight);
    const Bytes out = m->sent(p);
    const Ip ip = read_ip(out);
    CHECK(ip.proto == kIpip);
    CHECK(ip.src == addr(kGwL));
    CHECK(ip.dst == addr(kGwR));
    CHECK(out.size() == p.size() + 20);
    CHECK(checksum_ok(std::span<const uint8_t>(out).first(20)));
    CHECK(Bytes(out.begin() + 20, out.end()) == p);
}

TEST_CASE("xmit: transport ESP inserts ESP after the packet's own header", "[xmit][esp]") {
    auto m = make_module();
    const Bytes key = esp_key();
    m->add(esp_sa("esp0x2001@192.1.2.23", kGwL, key));
    add_eroute(m->k(), "192.1.2.45/32", "192.1.2.23/32", "esp0x2001@192.1.2.23");
    const Bytes p = ipv4(kGwL, kGwR, kUdp, udp(1234, 5678, 50), 0x7777);
    const Bytes out = m->sent(p);
    const Ip ip = read_ip(out);
    CHECK(ip.proto == kEsp);
    CHECK(ip.src == addr(kGwL));
    CHECK(ip.dst == addr(kGwR));
    CHECK(ip.total == out.size());
    CHECK(get16(out, 4) == 0x7777);  // the packet's own header, identification kept
    CHECK(checksum_ok(std::span<const uint8_t>(out).first(20)));
    const Opened o = open_esp(esp_crypto(key), out);
    CHECK(o.next_header == kUdp);
    CHECK(o.payload == Bytes(p.begin() + 20, p.end()));
}

TEST_CASE("xmit: ESP with NULL encryption and HMAC-SHA2-256-128 carries the payload in clear",
          "[xmit][esp]") {
    auto m = make_module();
    const Bytes key = auth_key();
    m->add(esp_null_sa("esp0x2002@192.1.2.23", kGwL, key));
    add_eroute(m->k(), "192.1.2.45/32", "192.1.2.23/32", "esp0x2002@192.1.2.23");
    const Bytes p = ipv4(kGwL, kGwR, kUdp, udp(1234, 5678, 50));
    const Bytes out = m->sent(p);
    // SPI, seq, then the payload as it was (no IV for NULL)
    CHECK(Bytes(out.begin() + 28, out.begin() + 28 + 58) == Bytes(p.begin() + 20, p.end()));
    const Opened o = open_esp(esp_null_crypto(key), out);
    CHECK(o.next_header == kUdp);
    CHECK(o.payload == Bytes(p.begin() + 20, p.end()));
}

TEST_CASE("xmit: ESP sequence numbers run 1, 2, 3, … per SA", "[xmit][esp]") {
    auto m = make_module();
    const Bytes key = esp_key();
    esp_tunnel(*m, key);
    const crypto::Esp esp = esp_crypto(key);
    for (uint32_t n = 1; n <= 5; ++n) {
        const Bytes out = m->sent(ping(kLeft, kRight, 56, static_cast<uint16_t>(n)));
        CHECK(esp_seq(out) == n);
        CHECK(open_esp(esp, out).seq == n);
    }
    CHECK(m->sa("esp0x1002@192.1.2.23").life.packets.count == 5);
    CHECK(m->sa("tun0x1001@192.1.2.23").life.packets.count == 5);
}

TEST_CASE("xmit: transport AH covers the packet; the independent AH verifies it", "[xmit][ah]") {
    auto m = make_module();
    const Bytes key = auth_key();
    m->add(ah_sa("ah0x3001@192.1.2.23", kGwL, key));
    add_eroute(m->k(), "192.1.2.45/32", "192.1.2.23/32", "ah0x3001@192.1.2.23");
    const Bytes p = ipv4(kGwL, kGwR, kUdp, udp(1234, 5678, 40));
    const crypto::Ah ah = ah_crypto(key);
    for (uint32_t n = 1; n <= 3; ++n) {
        const Bytes out = m->sent(p);
        const Ip ip = read_ip(out);
        CHECK(ip.proto == kAh);
        CHECK(out.size() == p.size() + 28);  // RFC 4302 with a 16-byte ICV on IPv4
        CHECK(out[20] == kUdp);              // AH next header
        CHECK(out[21] == 5);                 // payload length: 28 / 4 - 2
        CHECK(get32(out, 24) == 0x3001);
        CHECK(get32(out, 28) == n);
        CHECK(checksum_ok(std::span<const uint8_t>(out).first(20)));
        Bytes back;
        const crypto::AhOpened o = ah.open(out, 0, back);
        INFO("AH open: " << crypto::to_string(o.status));
        REQUIRE(o.status == crypto::AhStatus::ok);
        CHECK(back == p);
    }
}

TEST_CASE("xmit: IPComp compresses a compressible payload of 90 bytes or more", "[xmit][ipcomp]") {
    auto m = make_module();
    m->add(comp_sa("comp0x4711@192.1.2.23", kGwL));
    add_eroute(m->k(), "192.1.2.45/32", "192.1.2.23/32", "comp0x4711@192.1.2.23");

    SECTION("200 bytes of repeated text: protocol 108, CPI = low 16 bits of the SPI") {
        const Bytes p = ipv4(kGwL, kGwR, kUdp, compressible(200));
        const Bytes out = m->sent(p);
        const Ip ip = read_ip(out);
        CHECK(ip.proto == kComp);
        CHECK(ip.total == out.size());
        CHECK(out.size() < p.size());
        CHECK(checksum_ok(std::span<const uint8_t>(out).first(20)));
        CHECK(out[20] == kUdp);  // next header
        CHECK(out[21] == 0);     // flags
        CHECK(get16(out, 22) == 0x4711);
        crypto::IpComp inflater;
        Bytes payload;
        const auto d = inflater.decompress(std::span<const uint8_t>(out).subspan(20), 0x4711,
                                           crypto::CompAlg::deflate, payload);
        INFO("decompress: " << crypto::to_string(d.status));
        REQUIRE(d.status == crypto::DecompStatus::ok);
        CHECK(payload == Bytes(p.begin() + 20, p.end()));
        const SecurityAssociation sa = m->sa("comp0x4711@192.1.2.23");
        CHECK(sa.comp_bytes_in == 200);
        CHECK(sa.comp_bytes_out == out.size() - 20);
    }
    SECTION("exactly 90 bytes is compressed") {
        const Bytes out = m->sent(ipv4(kGwL, kGwR, kUdp, compressible(90)));
        CHECK(read_ip(out).proto == kComp);
    }
    SECTION("89 bytes is sent without an IPComp header") {
        const Bytes p = ipv4(kGwL, kGwR, kUdp, compressible(89));
        const PacketResult r = m->xmit(p);
        CHECK(r.verdict == PacketVerdict::sent);
        CHECK(bytes_of(r.packet) == p);
        // the ratio counters count packets that were not compressed too (§7.5)
        CHECK(m->sa("comp0x4711@192.1.2.23").comp_bytes_in == 89);
        CHECK(m->sa("comp0x4711@192.1.2.23").comp_bytes_out == 89);
    }
    SECTION("an incompressible payload is sent without an IPComp header") {
        const Bytes p = ipv4(kGwL, kGwR, kUdp, incompressible(400));
        CHECK(m->sent(p) == p);
    }
    SECTION("a payload that is already ESP is not compressed") {
        const Bytes p = ipv4(kGwL, kGwR, kEsp, compressible(300));
        CHECK(m->sent(p) == p);
    }
}

TEST_CASE("xmit: tun + comp + esp + ah: outer IP | AH | ESP | IPComp | deflate(inner)",
          "[xmit][chain]") {
    auto m = make_module();
    const Bytes ekey = esp_key(0x21), akey = auth_key(0x42);
    m->add(tun_sa("tun0x1001@192.1.2.23", kGwL));
    m->add(comp_sa("comp0x1003@192.1.2.23", kGwL));
    m->add(esp_sa("esp0x1002@192.1.2.23", kGwL, ekey));
    m->add(ah_sa("ah0x1004@192.1.2.23", kGwL, akey));
    m->group({"tun0x1001@192.1.2.23", "comp0x1003@192.1.2.23", "esp0x1002@192.1.2.23", "ah0x1004@192.1.2.23"});
    add_eroute(m->k(), "192.0.2.0/24", "192.0.1.0/24", "tun0x1001@192.1.2.23");

    const Bytes p = ping(kLeft, kRight, 400);
    const PacketResult r = m->xmit(p);
    REQUIRE(r.verdict == PacketVerdict::sent);
    CHECK(r.transforms == 4);
    const Bytes out = bytes_of(r.packet);

    // outer IP, protocol AH
    const Ip ip = read_ip(out);
    CHECK(ip.proto == kAh);
    CHECK(ip.src == addr(kGwL));
    CHECK(ip.dst == addr(kGwR));
    CHECK(checksum_ok(std::span<const uint8_t>(out).first(20)));
    // AH: next header ESP, SPI 0x1004, seq 1; verified and removed
    CHECK(out[20] == kEsp);
    CHECK(get32(out, 24) == 0x1004);
    CHECK(get32(out, 28) == 1);
    Bytes no_ah;
    REQUIRE(ah_crypto(akey).open(out, 0, no_ah).status == crypto::AhStatus::ok);
    CHECK(read_ip(no_ah).proto == kEsp);
    // ESP: SPI 0x1002, next header IPComp
    CHECK(esp_spi(no_ah) == 0x1002);
    const Opened o = open_esp(esp_crypto(ekey), no_ah);
    CHECK(o.next_header == kComp);
    // IPComp: next header IPIP, CPI 0x1003, inflates to the original packet
    REQUIRE(o.payload.size() > 4);
    CHECK(o.payload[0] == kIpip);
    CHECK(o.payload[1] == 0);
    CHECK(get16(o.payload, 2) == 0x1003);
    crypto::IpComp inflater;
    Bytes inner;
    REQUIRE(inflater.decompress(o.payload, 0x1003, crypto::CompAlg::deflate, inner).status ==
            crypto::DecompStatus::ok);
    CHECK(inner == p);
}

TEST_CASE("xmit: an eroute to a missing SA, or a group member missing, drops no_sa", "[xmit][sa]") {
    auto m = make_module();
    add_eroute(m->k(), "192.0.2.0/24", "192.0.1.0/24", "esp0x999@192.1.2.23");
    const PacketResult r = m->xmit(ping(kLeft, kRight));
    CHECK(r.verdict == PacketVerdict::dropped);
    CHECK(r.reason == DropReason::no_sa);
    CHECK(r.port == PacketPort::none);
    CHECK(eroute_row(m->k(), "192.0.2.0/24", "192.0.1.0/24")->count == 1);  // counted at lookup
}

TEST_CASE("xmit: a LARVAL SA refuses packets: sa_not_mature", "[xmit][sa]") {
    auto m = make_module();
    SECTION("larval, no keys yet (GETSPI)") {
        SecurityAssociation sa;
        sa.said = said_of("esp0x2001@192.1.2.23");
        sa.state = pfkey::kSaStateLarval;
        m->add(sa);
    }
    SECTION("larval even with a transform") {
        SecurityAssociation sa = esp_sa("esp0x2001@192.1.2.23", kGwL, esp_key());
        sa.state = pfkey::kSaStateLarval;
        m->add(sa);
    }
    SECTION("dead") {
        SecurityAssociation sa = esp_sa("esp0x2001@192.1.2.23", kGwL, esp_key());
        sa.state = pfkey::kSaStateDead;
        m->add(sa);
    }
    add_eroute(m->k(), "192.1.2.45/32", "192.1.2.23/32", "esp0x2001@192.1.2.23");
    const PacketResult r = m->xmit(ipv4(kGwL, kGwR, kUdp, udp(1, 2)));
    CHECK(r.verdict == PacketVerdict::dropped);
    CHECK(r.reason == DropReason::sa_not_mature);
    CHECK(m->sa("esp0x2001@192.1.2.23").life.packets.count == 0);
}

TEST_CASE("xmit: a larval SA in the middle of a group drops the packet", "[xmit][sa]") {
    auto m = make_module();
    m->add(tun_sa("tun0x1001@192.1.2.23", kGwL));
    SecurityAssociation esp;
    esp.said = said_of("esp0x1002@192.1.2.23");
    esp.state = pfkey::kSaStateLarval;
    m->add(esp);
    m->group({"tun0x1001@192.1.2.23", "esp0x1002@192.1.2.23"});
    add_eroute(m->k(), "192.0.2.0/24", "192.0.1.0/24", "tun0x1001@192.1.2.23");
    const PacketResult r = m->xmit(ping(kLeft, kRight));
    CHECK(r.verdict == PacketVerdict::dropped);
    CHECK(r.reason == DropReason::sa_not_mature);
    CHECK(r.port == PacketPort::none);
}

// ---------------------------------------------------------------------------------------------
// Counters (§4 "Byte counters", §6.3)

TEST_CASE("xmit: SA counters: packets +1, bytes = length after that SA's transform", "[xmit][counters]") {
    auto m = make_module();
    const Bytes key = esp_key();
    esp_tunnel(*m, key);
    m->clock->set(2000);
    const Bytes p = ping(kLeft, kRight);
    const Bytes out1 = m->sent(p);
    m->clock->set(2005);
    const Bytes out2 = m->sent(p);
    const SecurityAssociation tun = m->sa("tun0x1001@192.1.2.23");
    const SecurityAssociation esp = m->sa("esp0x1002@192.1.2.23");
    CHECK(tun.life.packets.count == 2);
    CHECK(esp.life.packets.count == 2);
    // §4: IPIP adds 20; ESP adds header, IV, padding and ICV
    CHECK(tun.life.bytes.count == 2 * (p.size() + 20));
    CHECK(esp.life.bytes.count == out1.size() + out2.size());
    CHECK(tun.life.usetime.count == 2000);  // stamped at first use
    CHECK(tun.last_used == 2005);
    CHECK(esp.life.usetime.count == 2000);
    CHECK(esp.last_used == 2005);
    CHECK(tun.life.addtime.count == 1000);

    SECTION("sa_rows shows the same counters") {
        bool seen = false;
        for (const SaRow& row : m->k().sa_rows()) {
            if (row.sa.said != said_of("esp0x1002@192.1.2.23")) continue;
            seen = true;
            CHECK(row.sa.life.packets.count == 2);
            CHECK(row.sa.life.bytes.count == out1.size() + out2.size());
        }
        CHECK(seen);
    }
}

TEST_CASE("xmit: after a tunnel the new outer header is routed again and its eroute counted",
          "[xmit][counters]") {
    auto m = make_module();
    const Bytes key = esp_key();
    esp_tunnel(*m, key);
    add_eroute(m->k(), "192.1.2.45/32", "192.1.2.23/32", "%pass");
    const Bytes out = m->sent(ping(kLeft, kRight));
    CHECK(read_ip(out).proto == kEsp);  // %pass does not change it
    CHECK(eroute_row(m->k(), "192.0.2.0/24", "192.0.1.0/24")->count == 1);
    CHECK(eroute_row(m->k(), "192.1.2.45/32", "192.1.2.23/32")->count == 1);
}

// ---------------------------------------------------------------------------------------------
// Lifetimes (§7.3, §7.7): strictly greater than the limit; soft once, DYING; hard deletes

namespace {

// The one ESP SA, transport, with lifetimes.
void esp_with_life(Module& m, const Lifetime& packets, const Lifetime& bytes = {}, const Lifetime& addtime = {},
                   const Lifetime& usetime = {}) {
    SecurityAssociation sa = esp_sa("esp0x2001@192.1.2.23", kGwL, esp_key());
    sa.life.packets.soft = packets.soft;
    sa.life.packets.hard = packets.hard;
    sa.life.bytes.soft = bytes.soft;
    sa.life.bytes.hard = bytes.hard;
    sa.life.addtime.soft = addtime.soft;
    sa.life.addtime.hard = addtime.hard;
    sa.life.usetime.soft = usetime.soft;
    sa.life.usetime.hard = usetime.hard;
    m.add(sa);
    add_eroute(m.k(), "192.1.2.45/32", "192.1.2.23/32", "esp0x2001@192.1.2.23");
}

Bytes small_udp() { return ipv4(kGwL, kGwR, kUdp, udp(1000, 2000, 20)); }

}  // namespace

TEST_CASE("xmit: packets soft lifetime: one soft EXPIRE when the count passes it, state DYING",
          "[xmit][life]") {
    auto m = make_module();
    esp_with_life(*m, Lifetime{0, 3, 0});
    // Checked before each packet is counted: the count is 0..3 for packets 1..4, and only
    // 4 > 3 passes the soft limit, at packet 5.
    for (int n = 1; n <= 4; ++n) {
        INFO("packet " << n);
        CHECK(m->xmit(small_udp()).verdict == PacketVerdict::sent);
        CHECK(m->events->expires.empty());
    }
    CHECK(m->sa("esp0x2001@192.1.2.23").state == pfkey::kSaStateMature);
    CHECK(m->xmit(small_udp()).verdict == PacketVerdict::sent);  // still processed
    REQUIRE(m->events->expires.size() == 1);
    const pfkey::Message e = decoded(m->events->expires[0]);
    CHECK(e.type == pfkey::kExpire);
    CHECK(e.satype == pfkey::kSaTypeEsp);
    CHECK(e.pid == 0);
    REQUIRE(e.sa);
    CHECK(e.sa->spi == 0x2001);
    CHECK(e.lifetime_soft.has_value());
    CHECK_FALSE(e.lifetime_hard.has_value());
    REQUIRE(e.lifetime_soft);
    CHECK(e.lifetime_soft->packets == 3);
    REQUIRE(e.lifetime_current);
    CHECK(e.lifetime_current->packets == 4);
    REQUIRE(e.address_dst);
    CHECK(e.address_dst->address == addr(kGwR));
    CHECK(m->sa("esp0x2001@192.1.2.23").state == pfkey::kSaStateDying);
    for (int n = 0; n < 5; ++n) CHECK(m->xmit(small_udp()).verdict == PacketVerdict::sent);
    CHECK(m->events->expires.size() == 1);  // once per SA
    CHECK(m->sa("esp0x2001@192.1.2.23").life.packets.count == 10);
}

TEST_CASE("xmit: packets hard lifetime: EXPIRE hard, the group deleted, the packet dropped",
          "[xmit][life]") {
    auto m = make_module();
    const Bytes key = esp_key();
    m->add(tun_sa("tun0x1001@192.1.2.23", kGwL));
    SecurityAssociation esp = esp_sa("esp0x1002@192.1.2.23", kGwL, key);
    esp.life.packets.hard = 2;
    m->add(esp);
    m->group({"tun0x1001@192.1.2.23", "esp0x1002@192.1.2.23"});
    add_eroute(m->k(), "192.0.2.0/24", "192.0.1.0/24", "tun0x1001@192.1.2.23");

    for (int n = 1; n <= 3; ++n) {
        INFO("packet " << n);
        CHECK(m->xmit(ping(kLeft, kRight)).verdict == PacketVerdict::sent);
    }
    CHECK(m->events->expires.empty());
    const PacketResult r = m->xmit(ping(kLeft, kRight));
    CHECK(r.verdict == PacketVerdict::dropped);
    CHECK(r.reason == DropReason::hard_expired);
    CHECK(r.port == PacketPort::none);
    REQUIRE(m->events->expires.size() == 1);
    const pfkey::Message e = decoded(m->events->expires[0]);
    CHECK(e.type == pfkey::kExpire);
    REQUIRE(e.sa);
    CHECK(e.sa->spi == 0x1002);
    CHECK(e.lifetime_hard.has_value());
    CHECK_FALSE(e.lifetime_soft.has_value());
    CHECK_FALSE(m->has_sa("esp0x1002@192.1.2.23"));
    CHECK_FALSE(m->has_sa("tun0x1001@192.1.2.23"));  // the whole group (§7.1)
    CHECK(m->k().sa_count() == 0);
    // the eroute stays and now points at nothing
    const PacketResult after = m->xmit(ping(kLeft, kRight));
    CHECK(after.reason == DropReason::no_sa);
    CHECK(m->events->expires.size() == 1);
}

TEST_CASE("xmit: soft and hard together: soft first, then hard", "[xmit][life]") {
    auto m = make_module();
    esp_with_life(*m, Lifetime{0, 1, 3});
    std::vector<PacketVerdict> verdicts;
    for (int n = 1; n <= 6; ++n) verdicts.push_back(m->xmit(small_udp()).verdict);
    // packet 3 sees count 2 > 1: soft; packet 5 sees count 4 > 3: hard
    CHECK(verdicts == std::vector<PacketVerdict>{PacketVerdict::sent, PacketVerdict::sent, PacketVerdict::sent,
                                                 PacketVerdict::sent, PacketVerdict::dropped, PacketVerdict::dropped});
    REQUIRE(m->events->expires.size() == 2);
    CHECK(decoded(m->events->expires[0]).lifetime_soft.has_value());
    CHECK(decoded(m->events->expires[1]).lifetime_hard.has_value());
    CHECK_FALSE(m->has_sa("esp0x2001@192.1.2.23"));
}

TEST_CASE("xmit: bytes lifetime counts bytes after the transform", "[xmit][life]") {
    auto m = make_module();
    // One packet's ESP output (transport, 48-byte IP packet): 20 + 8 + 8 + 28 + 2 + 2 + 16 = 84
    // bytes; hard at 100 lets two packets through (counts 0 and 84 checked), drops the third.
    esp_with_life(*m, Lifetime{}, Lifetime{0, 0, 100});
    const Bytes first = m->sent(small_udp());
    REQUIRE(first.size() == 84);
    CHECK(m->xmit(small_udp()).verdict == PacketVerdict::sent);
    CHECK(m->xmit(small_udp()).reason == DropReason::hard_expired);
    CHECK_FALSE(m->has_sa("esp0x2001@192.1.2.23"));
}

TEST_CASE("xmit: addtime hard lifetime passes with the clock", "[xmit][life]") {
    auto m = make_module();  // clock at 1000: the SA's addtime stamp
    esp_with_life(*m, Lifetime{}, Lifetime{}, Lifetime{0, 50, 100});
    CHECK(m->xmit(small_udp()).verdict == PacketVerdict::sent);
    m->clock->advance(50);  // 50 s: not past 50
    CHECK(m->xmit(small_udp()).verdict == PacketVerdict::sent);
    CHECK(m->events->expires.empty());
    m->clock->advance(1);  // 51 s > 50: soft
    CHECK(m->xmit(small_udp()).verdict == PacketVerdict::sent);
    REQUIRE(m->events->expires.size() == 1);
    CHECK(decoded(m->events->expires[0]).lifetime_soft.has_value());
    CHECK(m->sa("esp0x2001@192.1.2.23").state == pfkey::kSaStateDying);
    m->clock->advance(49);  // 100 s: not past 100
    CHECK(m->xmit(small_udp()).verdict == PacketVerdict::sent);
    m->clock->advance(1);  // 101 s: hard
    const PacketResult r = m->xmit(small_udp());
    CHECK(r.verdict == PacketVerdict::dropped);
    CHECK(r.reason == DropReason::hard_expired);
    REQUIRE(m->events->expires.size() == 2);
    const pfkey::Message e = decoded(m->events->expires[1]);
    REQUIRE(e.lifetime_hard);
    CHECK(e.lifetime_hard->addtime == 100);
    CHECK_FALSE(m->has_sa("esp0x2001@192.1.2.23"));
}

TEST_CASE("xmit: usetime counts from the first use", "[xmit][life]") {
    auto m = make_module();
    esp_with_life(*m, Lifetime{}, Lifetime{}, Lifetime{}, Lifetime{0, 0, 10});
    m->clock->advance(500);  // unused: usetime does not run
    CHECK(m->xmit(small_udp()).verdict == PacketVerdict::sent);  // first use at 1500
    m->clock->advance(10);
    CHECK(m->xmit(small_udp()).verdict == PacketVerdict::sent);
    m->clock->advance(1);
    CHECK(m->xmit(small_udp()).reason == DropReason::hard_expired);
}

TEST_CASE("xmit: an eroute count keeps counting packets its SA drops", "[xmit][counters]") {
    auto m = make_module();
    esp_with_life(*m, Lifetime{0, 0, 1});
    std::vector<PacketVerdict> verdicts;
    for (int n = 0; n < 4; ++n) verdicts.push_back(m->xmit(small_udp()).verdict);
    CHECK(verdicts == std::vector<PacketVerdict>{PacketVerdict::sent, PacketVerdict::sent, PacketVerdict::dropped,
                                                 PacketVerdict::dropped});
    // §6.3: every packet counts once at lookup. A packet that was sent is looked up again
    // only when its outer addresses changed (a tunnel): transport mode keeps the host pair,
    // so nothing more is counted. 4 packets, 4 counts.
    CHECK(eroute_row(m->k(), "192.1.2.45/32", "192.1.2.23/32")->count == 4);
}

// ---------------------------------------------------------------------------------------------
// IPv6 (spec/dataplane.md §1.7 tunnel, §1.2 transport)

TEST_CASE("xmit: IPv6 tunnel: outer IPv6 ESP between the gateways", "[xmit][ipv6][tunnel]") {
    auto m = make_module();
    const Bytes key = esp_key();
    m->add(tun_sa("tun:1001@2001:db8:ff::2", "2001:db8:ff::1"));
    m->add(esp_sa("esp:1002@2001:db8:ff::2", "2001:db8:ff::1", key));
    m->group({"tun:1001@2001:db8:ff::2", "esp:1002@2001:db8:ff::2"});
    add_eroute(m->k(), "2001:db8:1::/48", "2001:db8:2::/48", "tun:1001@2001:db8:ff::2");
    const Bytes p = ping6("2001:db8:1::5", "2001:db8:2::7");
    const Bytes out = m->sent(p);
    const Ip ip = read_ip(out);
    CHECK(ip.version == 6);
    CHECK(ip.proto == kEsp);
    CHECK(ip.total == out.size());
    CHECK(ip.src == addr("2001:db8:ff::1"));
    CHECK(ip.dst == addr("2001:db8:ff::2"));
    CHECK(esp_spi(out) == 0x1002);
    const Opened o = open_esp(esp_crypto(key), out);
    CHECK(o.next_header == kIpv6InIp);
    CHECK(o.payload == p);
}

TEST_CASE("xmit: IPv6 transport ESP", "[xmit][ipv6][esp]") {
    auto m = make_module();
    const Bytes key = esp_key();
    m->add(esp_sa("esp:2001@2001:db8:ff::2", "2001:db8:ff::1", key));
    add_eroute(m->k(), "2001:db8:ff::1/128", "2001:db8:ff::2/128", "esp:2001@2001:db8:ff::2");
    const Bytes p = ipv6("2001:db8:ff::1", "2001:db8:ff::2", kUdp, udp(7, 9, 33));
    const Bytes out = m->sent(p);
    const Ip ip = read_ip(out);
    CHECK(ip.proto == kEsp);
    CHECK(ip.total == out.size());
    CHECK(ip.src == addr("2001:db8:ff::1"));
    const Opened o = open_esp(esp_crypto(key), out);
    CHECK(o.next_header == kUdp);
    CHECK(o.payload == Bytes(p.begin() + 40, p.end()));
}

TEST_CASE("xmit: the IPIP outer header copies the inner TOS (DSCP and ECN)", "[xmit][tunnel]") {
    // spec/dataplane.md §1.7: KLIPS ipsec_tos 0 copies the whole TOS; RFC 6040 normal mode
    // copies ECN unchanged.
    auto m = make_module();
    m->add(tun_sa("tun0x1001@192.1.2.23", kGwL));
    add_eroute(m->k(), "192.0.2.0/24", "192.0.1.0/24", "tun0x1001@192.1.2.23");
    const Bytes p = ipv4(kLeft, kRight, kUdp, udp(1, 2), 0x1111, 0xb9);  // EF, ECT(1)
    const Bytes out = m->sent(p);
    CHECK(out[1] == 0xb9);
    CHECK(Bytes(out.begin() + 20, out.end()) == p);
}

TEST_CASE("xmit: %trap for IPv6 installs a /128 %hold", "[xmit][magic][trap][ipv6]") {
    auto m = make_module();
    add_eroute(m->k(), "2001:db8:1::/48", "2001:db8:2::/48", "%trap");
    const Bytes p = ping6("2001:db8:1::5", "2001:db8:2::7");
    CHECK(m->xmit(p).verdict == PacketVerdict::trapped);
    REQUIRE(m->events->acquires.size() == 1);
    const pfkey::Message a = decoded(m->events->acquires[0]);
    CHECK(a.address_src->address == addr("2001:db8:1::5"));
    CHECK(a.address_dst->address == addr("2001:db8:2::7"));
    auto hold = eroute_row(m->k(), "2001:db8:1::5/128", "2001:db8:2::7/128");
    REQUIRE(hold);
    CHECK(said_text(hold->said) == "%hold");
    CHECK(hold->count == 0);
    CHECK(m->xmit(p).verdict == PacketVerdict::held);
    CHECK(eroute_row(m->k(), "2001:db8:1::5/128", "2001:db8:2::7/128")->count == 1);
}
