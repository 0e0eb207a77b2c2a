// RadijTable, KLIPS's eroute table semantics (spec/klips.md §2.1, §6.1, §6.2, §11 #18-#19;
// kmod_sim/module/radij_table.h).
//
//  - the spec's vectors and §6.2's "practical consequences", run against both RadijTable and
//    the naive reference model of radij_reference_model.h (so the model is held to the spec
//    too), in every insertion order;
//  - a differential test: thousands of random tables, built and probed through both, must
//    agree on every error code, the /proc walk order, the mask list and every lookup;
//  - entry reuse and generation() bookkeeping.
#include <catch2/catch.hpp>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "kmod_sim/lib/ip_address.h"
#include "kmod_sim/module/radij_key.h"
#include "kmod_sim/module/radij_table.h"
#include "radij_reference_model.h"

using namespace kmod_sim;
using radij_reference::RadijReferenceModel;

namespace {

constexpr auto kInet = AddressFamily::inet;
constexpr uint8_t kIcmp = 1;
constexpr uint8_t kTcp = 6;
constexpr uint8_t kUdp = 17;

IpAddress v4(uint8_t a, uint8_t b, uint8_t c, uint8_t d) { return IpAddress::v4(a, b, c, d); }

// An eroute as `ipsec eroute --add` gives it: subnets, optional protocol and ports.
struct Eroute {
    std::string name;
    IpAddress src;
    int src_bits;
    IpAddress dst;
    int dst_bits;
    uint8_t proto = 0;
    uint16_t sport = 0;
    uint16_t dport = 0;
};

RadijKey4 key_of(const Eroute& e) { return pack_radij_key<2>(e.src, e.dst, e.proto, e.sport, e.dport); }

// §6.1: address masks from the prefix lengths, proto mask 0xff when a protocol is given, port
// masks 0xffff when a port is given.
RadijKey4 mask_of(const Eroute& e) {
    return pack_radij_key<2>(mask_from_bits(kInet, e.src_bits), mask_from_bits(kInet, e.dst_bits),
                             e.proto != 0 ? 0xff : 0, e.sport != 0 ? 0xffff : 0, e.dport != 0 ? 0xffff : 0);
}

// A packet's key: the real ports only for TCP and UDP.
RadijKey4 packet(const IpAddress& src, const IpAddress& dst, uint8_t proto = 0, uint16_t sport = 0,
                 uint16_t dport = 0) {
    const bool ports = proto == kTcp || proto == kUdp;
    return pack_radij_key<2>(src, dst, proto, ports ? sport : 0, ports ? dport : 0);
}

template <size_t W>
using KeyMask = std::pair<RadijKey<W>, RadijKey<W>>;

// The two implementations behind one interface, so the spec tests run against both.
template <size_t W>
struct TableSubject {
    using Key = RadijKey<W>;
    RadijTable<W> table;
    int insert(const Key& k, const Key& m) { return table.insert(k, m).error; }
    int remove(const Key& k, const Key& m) { return table.remove(k, m).error; }
    std::optional<KeyMask<W>> match(const Key& p) const {
        const uint32_t e = table.match(p);
        if (e == RadijTable<W>::kNone) return std::nullopt;
        return KeyMask<W>{table.key(e), table.mask(e)};
    }
    std::vector<KeyMask<W>> walk() const {
        std::vector<KeyMask<W>> out;
        table.walk([&](uint32_t e) { out.emplace_back(table.key(e), table.mask(e)); });
        return out;
    }
    std::vector<Key> mask_list() const { return table.mask_list(); }
    size_t size() const { return table.size(); }
};

template <size_t W>
struct ModelSubject {
    using Key = RadijKey<W>;
    RadijReferenceModel<W> model;
    int insert(const Key& k, const Key& m) { return model.insert(k, m); }
    int remove(const Key& k, const Key& m) { return model.remove(k, m); }
    std::optional<KeyMask<W>> match(const Key& p) const {
        auto e = model.match(p);
        if (!e) return std::nullopt;
        return KeyMask<W>{e->key, e->mask};
    }
    std::vector<KeyMask<W>> walk() const {
        std::vector<KeyMask<W>> out;
        for (const auto& e : model.walk()) out.emplace_back(e.key, e.mask);
        return out;
    }
    std::vector<Key> mask_list() const { return model.mask_list(); }
    size_t size() const { return model.size(); }
};

using Table4 = TableSubject<2>;
using Model4 = ModelSubject<2>;

// The name of the eroute with this masked key and mask, or "?".
std::string name_of(const std::vector<Eroute>& routes, const RadijKey4& key, const RadijKey4& mask) {
    for (const Eroute& r : routes)
        if ((key_of(r) & mask_of(r)) == key && mask_of(r) == mask) return r.name;
    return "?";
}

template <typename Subject>
std::vector<std::string> proc_order(const Subject& s, const std::vector<Eroute>& routes) {
    std::vector<std::string> out;
    for (const auto& [key, mask] : s.walk()) out.push_back(name_of(routes, key, mask));
    return out;
}

template <typename Subject>
std::string winner(const Subject& s, const std::vector<Eroute>& routes, const RadijKey4& pkt) {
    auto m = s.match(pkt);
    return m ? name_of(routes, m->first, m->second) : "none";
}

// Calls f(subject, order) for a fresh subject holding `routes` added in each possible order.
template <typename Subject, typename F>
void for_each_order(const std::vector<Eroute>& routes, F&& f) {
    std::vector<size_t> order(routes.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    do {
        Subject s;
        std::string text;
        for (size_t i : order) {
            text += (text.empty() ? "" : ",") + routes[i].name;
            REQUIRE(s.insert(key_of(routes[i]), mask_of(routes[i])) == 0);
        }
        f(s, text);
    } while (std::next_permutation(order.begin(), order.end()));
}

}  // namespace

// ---- the spec's vectors -------------------------------------------------------------------

TEMPLATE_TEST_CASE("spec 11 #18: lookup precedence and /proc order", "[radij][spec]", Table4, Model4) {
    const std::vector<Eroute> routes = {
        {"A", v4(10, 0, 0, 0), 8, v4(0, 0, 0, 0), 0},
        {"B", v4(10, 1, 0, 0), 16, v4(0, 0, 0, 0), 0},
        {"C", v4(10, 0, 0, 0), 8, v4(192, 168, 0, 0), 16},
        {"D", v4(0, 0, 0, 0), 0, v4(192, 168, 1, 0), 24},
        {"E", v4(0, 0, 0, 0), 0, v4(0, 0, 0, 0), 0},
        {"F", v4(10, 1, 2, 3), 32, v4(192, 168, 1, 5), 32, kTcp, 0, 25},
    };
    const RadijKey4 to_25 = packet(v4(10, 1, 2, 3), v4(192, 168, 1, 5), kTcp, 1234, 25);
    const RadijKey4 to_80 = packet(v4(10, 1, 2, 3), v4(192, 168, 1, 5), kTcp, 1234, 80);
    const RadijKey4 icmp = packet(v4(10, 1, 2, 3), v4(192, 168, 1, 5), kIcmp);

    SECTION("added in the order listed, A to F: every result of the vector") {
        TestType s;
        for (const Eroute& r : routes) REQUIRE(s.insert(key_of(r), mask_of(r)) == 0);
        CHECK(proc_order(s, routes) == std::vector<std::string>{"E", "D", "A", "C", "B", "F"});
        CHECK(winner(s, routes, to_25) == "F");
        CHECK(winner(s, routes, to_80) == "B");
        CHECK(winner(s, routes, icmp) == "B");
        CHECK(winner(s, routes, packet(v4(10, 2, 2, 3), v4(192, 168, 1, 5))) == "C");
        CHECK(winner(s, routes, packet(v4(10, 2, 2, 3), v4(172, 16, 0, 1))) == "A");
        CHECK(winner(s, routes, packet(v4(11, 2, 2, 3), v4(192, 168, 1, 9))) == "D");
        CHECK(winner(s, routes, packet(v4(11, 2, 2, 3), v4(172, 16, 0, 1))) == "E");
    }
    SECTION("added in any order: the results that do not depend on the mask list's order") {
        // The port-80 and ICMP packets descend to F, miss it, and go down the mask list, where
        // B's, C's and D's masks all match: which comes first depends on the insertion order
        // (§6.2: a mask goes before the first one it strictly refines, else at the end). Only
        // some orders, A-F among them, give B.
        size_t orders = 0;
        size_t b_wins = 0;
        for_each_order<TestType>(routes, [&](const TestType& s, const std::string& order) {
            CAPTURE(order);
            ++orders;
            CHECK(proc_order(s, routes) == std::vector<std::string>{"E", "D", "A", "C", "B", "F"});
            CHECK(winner(s, routes, to_25) == "F");
            CHECK(winner(s, routes, packet(v4(10, 2, 2, 3), v4(192, 168, 1, 5))) == "C");
            CHECK(winner(s, routes, packet(v4(10, 2, 2, 3), v4(172, 16, 0, 1))) == "A");
            CHECK(winner(s, routes, packet(v4(11, 2, 2, 3), v4(192, 168, 1, 9))) == "D");
            CHECK(winner(s, routes, packet(v4(11, 2, 2, 3), v4(172, 16, 0, 1))) == "E");
            const std::string w80 = winner(s, routes, to_80);
            CHECK((w80 == "B" || w80 == "C" || w80 == "D"));
            CHECK(winner(s, routes, icmp) == w80);
            if (w80 == "B") ++b_wins;
        });
        CHECK(orders == 720);
        CHECK(b_wins == 270);
    }
}

TEMPLATE_TEST_CASE("spec 11 #19: the dupedkey insertion quirk", "[radij][spec]", Table4, Model4) {
    const Eroute r24{"/24", v4(10, 0, 0, 0), 24, v4(0, 0, 0, 0), 0};
    const Eroute r8{"/8", v4(10, 0, 0, 0), 8, v4(0, 0, 0, 0), 0};
    const Eroute r16{"/16", v4(10, 0, 0, 0), 16, v4(0, 0, 0, 0), 0};
    const std::vector<Eroute> routes = {r24, r8, r16};
    const RadijKey4 p_10_0_1_1 = packet(v4(10, 0, 1, 1), v4(192, 0, 2, 1));

    SECTION("/24, then /8, then /16: the /16 is linked after the /8") {
        TestType s;
        for (const Eroute& r : {r24, r8, r16}) REQUIRE(s.insert(key_of(r), mask_of(r)) == 0);
        CHECK(proc_order(s, routes) == std::vector<std::string>{"/24", "/8", "/16"});
        CHECK(winner(s, routes, p_10_0_1_1) == "/8");
        CHECK(winner(s, routes, packet(v4(10, 0, 0, 77), v4(192, 0, 2, 1))) == "/24");
        CHECK(winner(s, routes, packet(v4(10, 9, 0, 1), v4(192, 0, 2, 1))) == "/8");
        CHECK(winner(s, routes, packet(v4(11, 0, 0, 1), v4(192, 0, 2, 1))) == "none");
    }
    SECTION("/8, then /16, then /24: most specific first") {
        TestType s;
        for (const Eroute& r : {r8, r16, r24}) REQUIRE(s.insert(key_of(r), mask_of(r)) == 0);
        CHECK(proc_order(s, routes) == std::vector<std::string>{"/24", "/16", "/8"});
        CHECK(winner(s, routes, p_10_0_1_1) == "/16");
        CHECK(winner(s, routes, packet(v4(10, 0, 0, 77), v4(192, 0, 2, 1))) == "/24");
        CHECK(winner(s, routes, packet(v4(10, 9, 0, 1), v4(192, 0, 2, 1))) == "/8");
    }
}

// ---- §6.2's practical consequences, in every insertion order --------------------------------

TEMPLATE_TEST_CASE("spec 6.2: the more specific source subnet wins", "[radij][spec]", Table4, Model4) {
    const std::vector<Eroute> routes = {
        {"10/8->0/0", v4(10, 0, 0, 0), 8, v4(0, 0, 0, 0), 0},
        {"10.1/16->0/0", v4(10, 1, 0, 0), 16, v4(0, 0, 0, 0), 0},
    };
    for_each_order<TestType>(routes, [&](const TestType& s, const std::string& order) {
        CAPTURE(order);
        CHECK(winner(s, routes, packet(v4(10, 1, 7, 7), v4(1, 2, 3, 4))) == "10.1/16->0/0");
        CHECK(winner(s, routes, packet(v4(10, 1, 255, 255), v4(255, 2, 3, 4), kTcp, 9, 9)) == "10.1/16->0/0");
        CHECK(winner(s, routes, packet(v4(10, 2, 0, 1), v4(1, 2, 3, 4))) == "10/8->0/0");
    });
}

TEMPLATE_TEST_CASE("spec 6.2: host- and port-specific eroutes beat the subnet", "[radij][spec]", Table4,
                   Model4) {
    const std::vector<Eroute> routes = {
        {"subnet", v4(10, 0, 0, 0), 8, v4(0, 0, 0, 0), 0},
        {"host", v4(10, 1, 2, 3), 32, v4(0, 0, 0, 0), 0},
        {"port", v4(10, 0, 0, 0), 8, v4(0, 0, 0, 0), 0, kTcp, 0, 25},
    };
    for_each_order<TestType>(routes, [&](const TestType& s, const std::string& order) {
        CAPTURE(order);
        CHECK(winner(s, routes, packet(v4(10, 1, 2, 3), v4(8, 8, 8, 8))) == "host");
        CHECK(winner(s, routes, packet(v4(10, 1, 2, 4), v4(8, 8, 8, 8), kTcp, 4000, 25)) == "port");
        CHECK(winner(s, routes, packet(v4(10, 1, 2, 4), v4(8, 8, 8, 8), kTcp, 4000, 80)) == "subnet");
        CHECK(winner(s, routes, packet(v4(10, 1, 2, 4), v4(8, 8, 8, 8), kUdp, 4000, 25)) == "subnet");
    });
}

TEMPLATE_TEST_CASE("spec 6.2: eroutes that do not nest, the source-specific one wins", "[radij][spec]",
                   Table4, Model4) {
    SECTION("10/8->0/0 and 0/0->192.168/16") {
        const std::vector<Eroute> routes = {
            {"10/8->0/0", v4(10, 0, 0, 0), 8, v4(0, 0, 0, 0), 0},
            {"0/0->192.168/16", v4(0, 0, 0, 0), 0, v4(192, 168, 0, 0), 16},
        };
        for_each_order<TestType>(routes, [&](const TestType& s, const std::string& order) {
            CAPTURE(order);
            CHECK(winner(s, routes, packet(v4(10, 1, 1, 1), v4(192, 168, 1, 1))) == "10/8->0/0");
            CHECK(winner(s, routes, packet(v4(11, 1, 1, 1), v4(192, 168, 1, 1))) == "0/0->192.168/16");
            CHECK(winner(s, routes, packet(v4(11, 1, 1, 1), v4(192, 169, 1, 1))) == "none");
        });
    }
    SECTION("10.1/16->0/0 and 10/8->192.168/16") {
        const std::vector<Eroute> routes = {
            {"10.1/16->0/0", v4(10, 1, 0, 0), 16, v4(0, 0, 0, 0), 0},
            {"10/8->192.168/16", v4(10, 0, 0, 0), 8, v4(192, 168, 0, 0), 16},
        };
        for_each_order<TestType>(routes, [&](const TestType& s, const std::string& order) {
            CAPTURE(order);
            CHECK(winner(s, routes, packet(v4(10, 1, 2, 3), v4(192, 168, 1, 5))) == "10.1/16->0/0");
            CHECK(winner(s, routes, packet(v4(10, 2, 2, 3), v4(192, 168, 1, 5))) == "10/8->192.168/16");
        });
    }
}

TEMPLATE_TEST_CASE("spec 6.2: address specificity beats port specificity", "[radij][spec]", Table4, Model4) {
    const std::vector<Eroute> routes = {
        {"10/8->0/0", v4(10, 0, 0, 0), 8, v4(0, 0, 0, 0), 0},
        {"0/0->0/0 tcp/25", v4(0, 0, 0, 0), 0, v4(0, 0, 0, 0), 0, kTcp, 0, 25},
    };
    for_each_order<TestType>(routes, [&](const TestType& s, const std::string& order) {
        CAPTURE(order);
        CHECK(winner(s, routes, packet(v4(10, 1, 1, 1), v4(1, 1, 1, 1), kTcp, 3333, 25)) == "10/8->0/0");
        CHECK(winner(s, routes, packet(v4(11, 1, 1, 1), v4(1, 1, 1, 1), kTcp, 3333, 25)) == "0/0->0/0 tcp/25");
    });
}

TEMPLATE_TEST_CASE("spec 6.2: tcp dport 25 beats icmp beats the plain eroute; UDP 53 falls back",
                   "[radij][spec]", Table4, Model4) {
    const IpAddress s_net = v4(192, 168, 10, 0);
    const IpAddress d_net = v4(192, 168, 20, 0);
    const std::vector<Eroute> routes = {
        {"plain", s_net, 24, d_net, 24},
        {"icmp", s_net, 24, d_net, 24, kIcmp},
        {"tcp/25", s_net, 24, d_net, 24, kTcp, 0, 25},
    };
    const IpAddress a = v4(192, 168, 10, 7);
    const IpAddress b = v4(192, 168, 20, 9);
    for_each_order<TestType>(routes, [&](const TestType& s, const std::string& order) {
        CAPTURE(order);
        CHECK(proc_order(s, routes) == std::vector<std::string>{"plain", "icmp", "tcp/25"});
        CHECK(winner(s, routes, packet(a, b, kTcp, 40000, 25)) == "tcp/25");
        CHECK(winner(s, routes, packet(a, b, kIcmp)) == "icmp");
        CHECK(winner(s, routes, packet(a, b, kUdp, 40000, 53)) == "plain");
        CHECK(winner(s, routes, packet(a, b, kTcp, 40000, 80)) == "plain");
        CHECK(winner(s, routes, packet(a, b, 50)) == "plain");
        CHECK(winner(s, routes, packet(b, a, kTcp, 40000, 25)) == "none");
    });
}

// ---- errors and the two decisions the spec leaves loose --------------------------------------

TEMPLATE_TEST_CASE("insert: EEXIST for the same masked key and mask, anywhere in the chain",
                   "[radij][errors]", Table4, Model4) {
    TestType s;
    const Eroute r24{"", v4(10, 0, 0, 0), 24, v4(0, 0, 0, 0), 0};
    const Eroute r8{"", v4(10, 0, 0, 0), 8, v4(0, 0, 0, 0), 0};
    const Eroute r16{"", v4(10, 0, 0, 0), 16, v4(0, 0, 0, 0), 0};
    for (const Eroute& r : {r24, r8, r16}) REQUIRE(s.insert(key_of(r), mask_of(r)) == 0);
    // Host bits do not make a new eroute (§11 #7, #10).
    const Eroute again8{"", v4(10, 1, 2, 3), 8, v4(0, 0, 0, 0), 0};
    const Eroute again16{"", v4(10, 0, 9, 9), 16, v4(0, 0, 0, 0), 0};  // the chain's tail
    const Eroute again24{"", v4(10, 0, 0, 1), 24, v4(0, 0, 0, 0), 0};  // the chain's head
    CHECK(s.insert(key_of(again8), mask_of(again8)) == EEXIST);
    CHECK(s.insert(key_of(again16), mask_of(again16)) == EEXIST);
    CHECK(s.insert(key_of(again24), mask_of(again24)) == EEXIST);
    CHECK(s.size() == 3);
    // The same addresses with a protocol are a different eroute.
    const Eroute icmp{"", v4(10, 0, 0, 0), 8, v4(0, 0, 0, 0), 0, kIcmp};
    CHECK(s.insert(key_of(icmp), mask_of(icmp)) == 0);
    CHECK(s.insert(key_of(icmp), mask_of(icmp)) == EEXIST);
    CHECK(s.size() == 4);
}

TEMPLATE_TEST_CASE("remove: EFAULT for an unknown key, ENOENT for a known key without that mask",
                   "[radij][errors]", Table4, Model4) {
    TestType s;
    const Eroute r8{"", v4(10, 0, 0, 0), 8, v4(0, 0, 0, 0), 0};
    const Eroute r16{"", v4(10, 0, 0, 0), 16, v4(0, 0, 0, 0), 0};
    REQUIRE(s.insert(key_of(r8), mask_of(r8)) == 0);
    REQUIRE(s.insert(key_of(r16), mask_of(r16)) == 0);

    CHECK(s.remove(key_of(r8), mask_of(r8)) == 0);  // the chain's tail (/16, /8)
    CHECK(s.remove(key_of(r8), mask_of(r8)) == ENOENT);
    const Eroute other_mask{"", v4(10, 0, 0, 0), 12, v4(0, 0, 0, 0), 0};
    CHECK(s.remove(key_of(other_mask), mask_of(other_mask)) == ENOENT);
    const Eroute other_key{"", v4(11, 0, 0, 0), 8, v4(0, 0, 0, 0), 0};
    CHECK(s.remove(key_of(other_key), mask_of(other_key)) == EFAULT);
    const Eroute sub{"", v4(10, 1, 0, 0), 16, v4(0, 0, 0, 0), 0};
    CHECK(s.remove(key_of(sub), mask_of(sub)) == EFAULT);
    const Eroute proto{"", v4(10, 0, 0, 0), 16, v4(0, 0, 0, 0), 0, kTcp};
    CHECK(s.remove(key_of(proto), mask_of(proto)) == EFAULT);  // another masked key
    CHECK(s.size() == 1);

    const Eroute host_bits{"", v4(10, 0, 77, 77), 16, v4(0, 0, 0, 0), 0};
    CHECK(s.remove(key_of(host_bits), mask_of(host_bits)) == 0);
    CHECK(s.size() == 0);
    CHECK(s.remove(key_of(r16), mask_of(r16)) == EFAULT);
    CHECK(s.walk().empty());
    CHECK(s.mask_list().empty());
    CHECK_FALSE(s.match(packet(v4(10, 0, 0, 1), v4(1, 1, 1, 1))).has_value());

    // The table is usable again.
    REQUIRE(s.insert(key_of(r16), mask_of(r16)) == 0);
    CHECK(s.match(packet(v4(10, 0, 0, 1), v4(1, 1, 1, 1))).has_value());
}

TEMPLATE_TEST_CASE("the mask list: each mask once, before the first mask it strictly refines",
                   "[radij][masks]", Table4, Model4) {
    TestType s;
    const Eroute a{"", v4(10, 0, 0, 0), 8, v4(0, 0, 0, 0), 0};         // (/8, /0)
    const Eroute b{"", v4(0, 0, 0, 0), 0, v4(0, 0, 0, 0), 0};          // (/0, /0)
    const Eroute c{"", v4(10, 1, 0, 0), 16, v4(0, 0, 0, 0), 0};        // (/16, /0)
    const Eroute d{"", v4(0, 0, 0, 0), 0, v4(192, 168, 0, 0), 16};     // (/0, /16)
    const Eroute e{"", v4(10, 0, 0, 0), 8, v4(192, 168, 0, 0), 16};    // (/8, /16)
    const Eroute a2{"", v4(11, 0, 0, 0), 8, v4(0, 0, 0, 0), 0};        // (/8, /0) again
    REQUIRE(s.insert(key_of(a), mask_of(a)) == 0);
    CHECK(s.mask_list() == std::vector<RadijKey4>{mask_of(a)});
    REQUIRE(s.insert(key_of(b), mask_of(b)) == 0);  // refines nothing: appended
    CHECK(s.mask_list() == std::vector<RadijKey4>{mask_of(a), mask_of(b)});
    REQUIRE(s.insert(key_of(c), mask_of(c)) == 0);  // refines (/8, /0): before it
    CHECK(s.mask_list() == std::vector<RadijKey4>{mask_of(c), mask_of(a), mask_of(b)});
    REQUIRE(s.insert(key_of(d), mask_of(d)) == 0);  // refines only (/0, /0): before it
    CHECK(s.mask_list() == std::vector<RadijKey4>{mask_of(c), mask_of(a), mask_of(d), mask_of(b)});
    REQUIRE(s.insert(key_of(e), mask_of(e)) == 0);  // refines (/8, /0) but not (/16, /0)
    CHECK(s.mask_list() ==
          std::vector<RadijKey4>{mask_of(c), mask_of(e), mask_of(a), mask_of(d), mask_of(b)});
    REQUIRE(s.insert(key_of(a2), mask_of(a2)) == 0);  // shared, not listed twice
    CHECK(s.mask_list().size() == 5);

    REQUIRE(s.remove(key_of(a), mask_of(a)) == 0);  // (/8, /0) still used by a2
    CHECK(s.mask_list().size() == 5);
    REQUIRE(s.remove(key_of(a2), mask_of(a2)) == 0);  // its last user
    CHECK(s.mask_list() == std::vector<RadijKey4>{mask_of(c), mask_of(e), mask_of(d), mask_of(b)});
    // Re-added, it goes where the rule puts it now: not before (/0, /16), which it does not
    // refine, but before (/0, /0).
    REQUIRE(s.insert(key_of(a), mask_of(a)) == 0);
    CHECK(s.mask_list() ==
          std::vector<RadijKey4>{mask_of(c), mask_of(e), mask_of(d), mask_of(a), mask_of(b)});
}

TEMPLATE_TEST_CASE("lookup step 3 follows the mask list's order", "[radij][masks]", Table4, Model4) {
    // Descent reaches Z, which does not match; both X and Y match through their masks, and
    // whichever mask is earlier on the list wins (mask list decision above).
    const std::vector<Eroute> routes = {
        {"X", v4(10, 0, 0, 0), 8, v4(0, 0, 0, 0), 0},
        {"Y", v4(0, 0, 0, 0), 0, v4(192, 168, 0, 0), 16},
        {"Z", v4(10, 1, 0, 0), 16, v4(172, 16, 0, 0), 16},
    };
    const RadijKey4 p = packet(v4(10, 1, 1, 1), v4(192, 168, 1, 1));
    SECTION("X's mask first") {
        TestType s;
        for (size_t i : {0, 1, 2}) REQUIRE(s.insert(key_of(routes[i]), mask_of(routes[i])) == 0);
        CHECK(winner(s, routes, p) == "X");
    }
    SECTION("Y's mask first") {
        TestType s;
        for (size_t i : {1, 0, 2}) REQUIRE(s.insert(key_of(routes[i]), mask_of(routes[i])) == 0);
        CHECK(winner(s, routes, p) == "Y");
    }
}

// ---- the differential test -------------------------------------------------------------------

namespace {

template <size_t W>
struct Op {
    enum Kind : uint8_t { kInsert, kRemove, kProbe };
    Kind kind;
    RadijKey<W> key;   // the packet for kProbe
    RadijKey<W> mask;  // unused for kProbe
};

template <size_t W>
std::string key_text(const RadijKey<W>& k) {
    std::ostringstream o;
    o << addrtot(radij_key_src(k)) << "->" << addrtot(radij_key_dst(k)) << " proto "
      << int{radij_key_proto(k)} << " ports " << radij_key_sport(k) << ":" << radij_key_dport(k);
    if (k.w[W - 1] & 0xffffff) o << " low24=" << std::hex << (k.w[W - 1] & 0xffffff) << std::dec;
    return o.str();
}

template <size_t W>
std::string entry_text(const std::optional<KeyMask<W>>& e) {
    if (!e) return "no match";
    return "{" + key_text(e->first) + " / " + key_text(e->second) + "}";
}

template <size_t W>
std::string op_text(const Op<W>& op) {
    switch (op.kind) {
        case Op<W>::kInsert: return "insert " + key_text(op.key) + " / " + key_text(op.mask);
        case Op<W>::kRemove: return "remove " + key_text(op.key) + " / " + key_text(op.mask);
        case Op<W>::kProbe: return "match  " + key_text(op.key);
    }
    return "?";
}

template <size_t W>
std::string ops_text(const std::vector<Op<W>>& ops) {
    std::string out;
    for (size_t i = 0; i < ops.size(); ++i) out += "  #" + std::to_string(i) + " " + op_text(ops[i]) + "\n";
    return out;
}

template <size_t W>
std::string sequence_text(const std::vector<KeyMask<W>>& seq) {
    std::string out;
    for (const auto& e : seq) out += "    " + entry_text<W>(e) + "\n";
    return out;
}

struct Stats {
    size_t tables = 0;
    size_t inserted = 0, eexist = 0;
    size_t removed = 0, efault = 0, enoent = 0;
    size_t by_chain = 0, by_mask_list = 0, no_match = 0;
    size_t quirk_insertions = 0;
    size_t state_checks = 0;
    size_t largest = 0;
};

// Replays `ops` on a fresh RadijTable and a fresh reference model; the first disagreement, if
// any. Compared: every error code and the size after each change; the walk and the mask list
// after each change while the table is small (up to 16 entries; then after every 4th operation,
// and past 64 entries every 32nd) and at the end; every probe's match; find() of every entry at
// the end.
template <size_t W>
std::optional<std::string> replay(const std::vector<Op<W>>& ops, Stats* stats = nullptr) {
    TableSubject<W> table;
    RadijReferenceModel<W> model;
    Stats local;
    Stats& st = stats != nullptr ? *stats : local;

    auto state_mismatch = [&]() -> std::optional<std::string> {
        ++st.state_checks;
        std::vector<KeyMask<W>> want;
        for (const auto& e : model.walk()) want.emplace_back(e.key, e.mask);
        const std::vector<KeyMask<W>> got = table.walk();
        if (want != got)
            return "walk differs\n  model:\n" + sequence_text<W>(want) + "  table:\n" + sequence_text<W>(got);
        const std::vector<RadijKey<W>> want_masks = model.mask_list();
        const std::vector<RadijKey<W>> got_masks = table.mask_list();
        if (want_masks != got_masks) {
            std::string text = "mask list differs\n  model:\n";
            for (const auto& m : want_masks) text += "    " + key_text(m) + "\n";
            text += "  table:\n";
            for (const auto& m : got_masks) text += "    " + key_text(m) + "\n";
            return text;
        }
        return std::nullopt;
    };

    for (size_t i = 0; i < ops.size(); ++i) {
        const Op<W>& op = ops[i];
        auto where = [&] { return "op #" + std::to_string(i) + " (" + op_text(op) + "): "; };
        if (op.kind == Op<W>::kProbe) {
            int step = 0;
            auto m = model.match(op.key, &step);
            const std::optional<KeyMask<W>> want =
                m ? std::optional<KeyMask<W>>(KeyMask<W>{m->key, m->mask}) : std::nullopt;
            const std::optional<KeyMask<W>> got = table.match(op.key);
            if (want != got)
                return where() + "model matches " + entry_text<W>(want) + " (step " + std::to_string(step) +
                       "), table matches " + entry_text<W>(got);
            (step == 2 ? st.by_chain : step == 3 ? st.by_mask_list : st.no_match)++;
            continue;
        }
        const bool insert = op.kind == Op<W>::kInsert;
        const int want = insert ? model.insert(op.key, op.mask) : model.remove(op.key, op.mask);
        const auto change = insert ? table.table.insert(op.key, op.mask) : table.table.remove(op.key, op.mask);
        if (want != change.error)
            return where() + "model error " + std::to_string(want) + ", table error " + std::to_string(change.error);
        if (insert && want == 0 &&
            (table.table.key(change.entry) != (op.key & op.mask) || table.table.mask(change.entry) != op.mask))
            return where() + "the entry number returned does not hold the eroute added";
        if (insert) (want == 0 ? st.inserted : st.eexist)++;
        else (want == 0 ? st.removed : want == EFAULT ? st.efault : st.enoent)++;
        if (model.size() != table.size())
            return where() + "model size " + std::to_string(model.size()) + ", table size " +
                   std::to_string(table.size());
        st.largest = std::max(st.largest, model.size());
        if (model.size() <= 16 || (model.size() <= 64 && i % 4 == 0) || i % 32 == 0)
            if (auto s = state_mismatch()) return "after " + where() + *s;
    }
    if (auto s = state_mismatch()) return "at the end: " + *s;
    for (const auto& e : model.walk()) {
        const uint32_t f = table.table.find(e.key, e.mask);
        if (f == RadijTable<W>::kNone || table.table.key(f) != e.key || table.table.mask(f) != e.mask)
            return "at the end: find() misses " + entry_text<W>(KeyMask<W>{e.key, e.mask});
    }
    st.quirk_insertions += model.quirk_insertions();
    ++st.tables;
    return std::nullopt;
}

// Drops operations while the disagreement persists (chunks of halving size, then singles).
template <size_t W>
std::vector<Op<W>> shrink(std::vector<Op<W>> ops) {
    for (size_t chunk = std::max<size_t>(ops.size() / 2, 1);; chunk /= 2) {
        bool progress = true;
        while (progress) {
            progress = false;
            for (size_t at = 0; at + chunk <= ops.size();) {
                std::vector<Op<W>> trial = ops;
                trial.erase(trial.begin() + static_cast<std::ptrdiff_t>(at),
                            trial.begin() + static_cast<std::ptrdiff_t>(at + chunk));
                if (replay(trial)) {
                    ops = std::move(trial);
                    progress = true;
                } else {
                    at += chunk;
                }
            }
        }
        if (chunk == 1) break;
    }
    return ops;
}

// Random tables in which masked keys, masks and chains collide often: addresses from small
// pools, prefixes mostly on byte boundaries, a few odd lengths and non-contiguous masks,
// protocols {0, 1, 6, 17}, ports {0, 25, 53, 80} for TCP and UDP only.
template <size_t W>
class Generator {
public:
    using Key = RadijKey<W>;
    explicit Generator(uint64_t seed) : rng_(seed) {}

    uint64_t below(uint64_t n) { return std::uniform_int_distribution<uint64_t>(0, n - 1)(rng_); }
    bool percent(uint64_t p) { return below(100) < p; }

    // About 2 * target changes, growing the table to about `target` entries and keeping it
    // there, with some probes half-way and a few dozen at the end.
    std::vector<Op<W>> table_ops(size_t target) {
        std::vector<Op<W>> ops;
        RadijReferenceModel<W> oracle;  // only to know which changes succeed
        std::vector<KeyMask<W>> live;   // masked key, mask
        std::vector<KeyMask<W>> gone;   // raw key, mask of removed eroutes

        auto probes = [&](int n) {
            for (int i = 0; i < n; ++i) {
                if (!live.empty() && percent(75)) {
                    const auto& [k, m] = live[below(live.size())];
                    ops.push_back({Op<W>::kProbe, packet_near(k, m), Key{}});
                } else {
                    ops.push_back({Op<W>::kProbe, random_packet(), Key{}});
                }
            }
        };
        auto apply = [&](typename Op<W>::Kind kind, const Key& key, const Key& mask) {
            ops.push_back({kind, key, mask});
            const Key masked = key & mask;
            if (kind == Op<W>::kInsert) {
                if (oracle.insert(key, mask) == 0) live.emplace_back(masked, mask);
            } else if (oracle.remove(key, mask) == 0) {
                for (size_t i = 0; i < live.size(); ++i) {
                    if (live[i].first == masked && live[i].second == mask) {
                        live.erase(live.begin() + static_cast<std::ptrdiff_t>(i));
                        break;
                    }
                }
                gone.emplace_back(key, mask);
            }
        };

        const size_t steps = 2 * target + 1;
        for (size_t step = 0; step < steps; ++step) {
            if (step == steps / 2) probes(8);
            const bool grow = live.size() < target ? percent(85) : percent(35);
            const uint64_t r = below(100);
            if (grow) {
                if (r < 8 && !gone.empty()) {  // re-insert a removed one
                    const auto& [k, m] = gone[below(gone.size())];
                    apply(Op<W>::kInsert, k, m);
                } else if (r < 14 && !live.empty()) {  // a duplicate with other host bits
                    const auto& [k, m] = live[below(live.size())];
                    apply(Op<W>::kInsert, with_host_bits(k, m), m);
                } else if (r < 22 && !live.empty()) {  // same key, another mask
                    const auto [k, m] = live[below(live.size())];
                    apply(Op<W>::kInsert, k, selector().second);
                } else {
                    const auto [k, m] = selector();
                    apply(Op<W>::kInsert, k, m);
                }
            } else {
                if (r < 65 && !live.empty()) {  // an existing one, with host bits
                    const auto& [k, m] = live[below(live.size())];
                    apply(Op<W>::kRemove, with_host_bits(k, m), m);
                } else if (r < 82 && !live.empty()) {  // an existing key, maybe another mask
                    const auto [k, m] = live[below(live.size())];
                    apply(Op<W>::kRemove, k, selector().second);
                } else {  // anything, mostly absent
                    const auto [k, m] = selector();
                    apply(Op<W>::kRemove, k, m);
                }
            }
        }
        probes(32);
        return ops;
    }

private:
    static constexpr AddressFamily kAf = W == 2 ? AddressFamily::inet : AddressFamily::inet6;
    static constexpr size_t kAddrBytes = W == 2 ? 4 : 16;
    static constexpr int kAddrBits = W == 2 ? 32 : 128;

    using Bytes = std::array<uint8_t, kAddrBytes>;

    template <typename T, size_t N>
    T pick(const std::array<T, N>& pool) { return pool[below(N)]; }

    static Bytes bytes_of(const IpAddress& a) {
        Bytes b{};
        std::copy(a.bytes().begin(), a.bytes().end(), b.begin());
        return b;
    }
    static IpAddress address_of(const Bytes& b) { return IpAddress::from_bytes(kAf, b); }

    IpAddress address() {
        Bytes b{};
        const uint64_t r = below(20);
        if (r == 0) {
            for (auto& x : b) x = static_cast<uint8_t>(below(256));
        } else if (r == 1) {
            // all zero
        } else if constexpr (W == 2) {
            if (r < 5) b = {192, 168, static_cast<uint8_t>(below(2)), pick(std::array<uint8_t, 3>{0, 1, 5})};
            else b = {10, static_cast<uint8_t>(below(3)), static_cast<uint8_t>(below(3)),
                      pick(std::array<uint8_t, 3>{0, 1, 3})};
        } else {
            if (r < 5) {
                b[0] = 0xfe;
                b[1] = 0x80;
            } else {
                b[0] = 0x20;
                b[1] = 0x01;
                b[2] = 0x0d;
                b[3] = 0xb8;
                b[5] = static_cast<uint8_t>(below(2));
                b[7] = static_cast<uint8_t>(below(3));
            }
            b[15] = pick(std::array<uint8_t, 3>{0, 1, 3});
        }
        return address_of(b);
    }

    IpAddress address_mask() {
        int bits;
        if (percent(88)) {
            if constexpr (W == 2) bits = pick(std::array<int, 5>{0, 8, 16, 24, 32});
            else bits = pick(std::array<int, 7>{0, 32, 40, 48, 56, 64, 128});
        } else {
            bits = static_cast<int>(below(kAddrBits + 1));
        }
        IpAddress m = mask_from_bits(kAf, bits);
        if (percent(7)) {  // non-contiguous
            Bytes b = bytes_of(m);
            for (uint64_t n = 1 + below(3); n > 0; --n) {
                const uint64_t bit = below(kAddrBits);
                b[bit / 8] = static_cast<uint8_t>(b[bit / 8] ^ (0x80 >> (bit % 8)));
            }
            m = address_of(b);
        }
        return m;
    }

    uint8_t proto() {
        const uint64_t r = below(10);
        return r < 5 ? 0 : r < 6 ? kIcmp : r < 8 ? kTcp : kUdp;
    }

    uint16_t port() { return pick(std::array<uint16_t, 4>{0, 25, 53, 80}); }

    // An eroute's (raw key, mask).
    KeyMask<W> selector() {
        const IpAddress src = address();
        const IpAddress dst = address();
        const uint8_t p = proto();
        const bool ports = p == kTcp || p == kUdp;
        const uint16_t sport = ports && percent(30) ? port() : 0;
        const uint16_t dport = ports && percent(60) ? port() : 0;
        const Key key = pack_radij_key<W>(src, dst, p, sport, dport);
        const Key mask = pack_radij_key<W>(address_mask(), address_mask(), p != 0 ? 0xff : 0,
                                           sport != 0 ? 0xffff : 0, dport != 0 ? 0xffff : 0);
        return {key, mask};
    }

    Key with_host_bits(const Key& key, const Key& mask) {
        Key out = key;
        for (size_t i = 0; i < W; ++i) out.w[i] |= rng_() & ~mask.w[i];
        return out;
    }

    // Random bits where the mask is clear; sometimes one flipped bit where it is set.
    IpAddress near(const IpAddress& a, const IpAddress& m) {
        Bytes ab = bytes_of(a);
        const Bytes mb = bytes_of(m);
        for (size_t i = 0; i < kAddrBytes; ++i)
            ab[i] = static_cast<uint8_t>((ab[i] & mb[i]) | (below(256) & ~mb[i]));
        if (percent(15)) {
            const uint64_t bit = below(kAddrBits);
            ab[bit / 8] = static_cast<uint8_t>(ab[bit / 8] ^ (0x80 >> (bit % 8)));
        }
        return address_of(ab);
    }

    Key make_packet(const IpAddress& src, const IpAddress& dst, uint8_t p, uint16_t sport, uint16_t dport) {
        const bool ports = p == kTcp || p == kUdp;
        return pack_radij_key<W>(src, dst, p, ports ? sport : 0, ports ? dport : 0);
    }

    uint8_t packet_proto() {
        const uint64_t r = below(10);
        return r < 2 ? kIcmp : r < 5 ? kTcp : r < 8 ? kUdp : r < 9 ? 0 : static_cast<uint8_t>(below(256));
    }
    uint16_t packet_port() {
        return percent(80) ? pick(std::array<uint16_t, 5>{0, 25, 53, 80, 1234})
                           : static_cast<uint16_t>(below(65536));
    }

    // A packet inside (or just outside) the eroute with this masked key and mask.
    Key packet_near(const Key& key, const Key& mask) {
        const uint8_t p = radij_key_proto(mask) == 0xff && percent(85) ? radij_key_proto(key) : packet_proto();
        const uint16_t sport =
            radij_key_sport(mask) == 0xffff && percent(85) ? radij_key_sport(key) : packet_port();
        const uint16_t dport =
            radij_key_dport(mask) == 0xffff && percent(85) ? radij_key_dport(key) : packet_port();
        return make_packet(near(radij_key_src(key), radij_key_src(mask)),
                           near(radij_key_dst(key), radij_key_dst(mask)), p, sport, dport);
    }

    Key random_packet() {
        const IpAddress none = IpAddress::unspecified(kAf);
        const IpAddress src = percent(50) ? near(address(), address_mask()) : near(none, none);
        const IpAddress dst = percent(50) ? near(address(), address_mask()) : near(none, none);
        return make_packet(src, dst, packet_proto(), packet_port(), packet_port());
    }

    std::mt19937_64 rng_;
};

template <size_t W>
Stats run_differential(uint64_t seed, int tables, int large_every, size_t large_min, size_t large_span) {
    Stats stats;
    for (int iteration = 0; iteration < tables; ++iteration) {
        Generator<W> gen(seed + static_cast<uint64_t>(iteration));
        const size_t target = (iteration + 1) % large_every == 0 ? large_min + gen.below(large_span)
                                                                : 1 + gen.below(64);
        const std::vector<Op<W>> ops = gen.table_ops(target);
        if (auto mismatch = replay(ops, &stats)) {
            INFO("seed " << seed << ", iteration " << iteration << " (Generator seed " << seed + iteration
                         << "), " << ops.size() << " operations");
            INFO("first disagreement: " << *mismatch);
            const std::vector<Op<W>> small = shrink(ops);
            INFO("minimal case (" << small.size() << " operations):\n"
                                  << ops_text(small) << "disagreement: " << replay(small).value_or("?"));
            FAIL("RadijTable and the reference model disagree");
        }
    }
    return stats;
}

void report(const Stats& s) {
    INFO("tables " << s.tables << ", largest " << s.largest << ", inserted " << s.inserted << ", EEXIST "
                   << s.eexist << ", removed " << s.removed << ", EFAULT " << s.efault << ", ENOENT " << s.enoent
                   << ", matched by chain " << s.by_chain << ", by mask list " << s.by_mask_list
                   << ", unmatched " << s.no_match << ", quirk insertions " << s.quirk_insertions
                   << ", state checks " << s.state_checks);
    SUCCEED("statistics");
}

}  // namespace

TEST_CASE("RadijTable agrees with the reference model: random IPv4 tables", "[radij][differential]") {
    constexpr uint64_t kSeed = 0x4b4c495053ull;  // "KLIPS"
    constexpr int kTables = 10000;
    INFO("seed " << kSeed);
    const Stats s = run_differential<2>(kSeed, kTables, 100, 400, 201);  // every 100th ~500 entries
    report(s);
    CHECK(s.tables == kTables);
    CHECK(s.largest >= 400);
    // The generator reaches every case.
    CHECK(s.eexist > 1000);
    CHECK(s.efault > 1000);
    CHECK(s.enoent > 1000);
    CHECK(s.by_chain > 10000);
    CHECK(s.by_mask_list > 10000);
    CHECK(s.no_match > 1000);
    CHECK(s.quirk_insertions > 100);
}

TEST_CASE("RadijTable agrees with the reference model: random IPv6 tables", "[radij][differential]") {
    constexpr uint64_t kSeed = 0x4b4c49505336ull;  // "KLIPS6"
    constexpr int kTables = 400;
    INFO("seed " << kSeed);
    const Stats s = run_differential<5>(kSeed, kTables, 50, 150, 101);  // every 50th ~200 entries
    report(s);
    CHECK(s.tables == kTables);
    CHECK(s.eexist > 50);
    CHECK(s.efault > 50);
    CHECK(s.enoent > 50);
    CHECK(s.by_chain > 500);
    CHECK(s.by_mask_list > 500);
    CHECK(s.quirk_insertions > 5);
}

TEST_CASE("tables with more masks than one probe batch take KLIPS's three steps literally",
          "[radij][masks]") {
    // 64 distinct masks plus the default: destination-specific eroutes 0/0 -> 192.168.7.9/d are
    // added first, so the mask list prefers them; source-specific 10.1.2.3/s -> 0/0 come after,
    // and the radix descent (source bits first) prefers those (spec 6.2). Above the 64 masks
    // the fast path probes at once, the literal three steps must still give KLIPS's answer.
    RadijTable<2> table;
    RadijReferenceModel<2> model;
    auto add = [&](const Eroute& e) {
        REQUIRE(table.insert(key_of(e), mask_of(e)).error == model.insert(key_of(e), mask_of(e)));
    };
    for (int dst_bits = 0; dst_bits <= 32; ++dst_bits) add(Eroute{"", v4(0, 0, 0, 0), 0, v4(192, 168, 7, 9), dst_bits});
    for (int src_bits = 1; src_bits <= 32; ++src_bits) add(Eroute{"", v4(10, 1, 2, 3), src_bits, v4(0, 0, 0, 0), 0});
    REQUIRE(table.mask_list().size() > 64);
    std::mt19937_64 rng(99);
    for (int i = 0; i < 2000; ++i) {
        // Flip a random number of trailing bits on each side, so every prefix length is hit.
        const uint32_t src = 0x0a010203u ^ static_cast<uint32_t>(rng() & ((uint64_t{1} << (rng() % 33)) - 1));
        const uint32_t dst = 0xc0a80709u ^ static_cast<uint32_t>(rng() & ((uint64_t{1} << (rng() % 33)) - 1));
        const RadijKey4 packet = pack_radij_key<2>(IpAddress::v4(src), IpAddress::v4(dst), 6, 1234, 80);
        INFO("packet " << i);
        const uint32_t got = table.match(packet);
        const auto want = model.match(packet);
        REQUIRE((got == RadijTable<2>::kNone) == !want.has_value());
        if (want) {
            CHECK(table.key(got) == want->key);
            CHECK(table.mask(got) == want->mask);
        }
    }
}

// ---- bookkeeping ---------------------------------------------------------------------------

TEST_CASE("RadijTable reuses removed entries; generation() moves on every change, only then",
          "[radij][memory]") {
    RadijTable<2> t;
    // 40 eroutes with two masks: 10.i.0.0/16 -> 0/0 and 10.i.1.0/24 -> 192.168.0.0/16.
    std::vector<std::pair<RadijKey4, RadijKey4>> routes;
    for (uint8_t i = 0; i < 20; ++i) {
        const Eroute a{"", v4(10, i, 0, 0), 16, v4(0, 0, 0, 0), 0};
        const Eroute b{"", v4(10, i, 1, 0), 24, v4(192, 168, 0, 0), 16};
        routes.emplace_back(key_of(a), mask_of(a));
        routes.emplace_back(key_of(b), mask_of(b));
    }
    uint64_t g = t.generation();
    std::vector<uint32_t> ids;
    for (const auto& [k, m] : routes) {
        const auto c = t.insert(k, m);
        REQUIRE(c.error == 0);
        CHECK(t.generation() != g);
        g = t.generation();
        ids.push_back(c.entry);
    }
    REQUIRE(t.size() == 40);

    SECTION("failed changes and reads leave generation() alone") {
        CHECK(t.insert(routes[0].first, routes[0].second).error == EEXIST);
        const Eroute absent{"", v4(11, 0, 0, 0), 8, v4(0, 0, 0, 0), 0};
        CHECK(t.remove(key_of(absent), mask_of(absent)).error == EFAULT);
        const Eroute other_mask{"", v4(10, 0, 0, 0), 8, v4(0, 0, 0, 0), 0};  // key 10.0.0.0 exists
        CHECK(t.remove(key_of(other_mask), mask_of(other_mask)).error == ENOENT);
        CHECK(t.match(packet(v4(10, 3, 1, 1), v4(192, 168, 3, 3))) != RadijTable<2>::kNone);
        CHECK(t.find(routes[5].first, routes[5].second) == ids[5]);
        size_t n = 0;
        t.walk([&](uint32_t) { ++n; });
        CHECK(n == 40);
        CHECK(t.generation() == g);
        CHECK(t.size() == 40);
    }

    SECTION("removed entry numbers are handed out again; memory stops growing") {
        std::set<uint32_t> freed;
        for (size_t i = 0; i < 40; i += 4) {
            const auto c = t.remove(routes[i].first, routes[i].second);
            REQUIRE(c.error == 0);
            CHECK(c.entry == ids[i]);
            CHECK(t.generation() != g);
            g = t.generation();
            freed.insert(c.entry);
        }
        REQUIRE(freed.size() == 10);
        const size_t memory = t.memory_bytes();
        // Ten new eroutes with the masks already in use take the freed numbers.
        for (uint8_t i = 0; i < 10; ++i) {
            const Eroute a{"", v4(10, static_cast<uint8_t>(100 + i), 0, 0), 16, v4(0, 0, 0, 0), 0};
            const auto c = t.insert(key_of(a), mask_of(a));
            REQUIRE(c.error == 0);
            CHECK(freed.count(c.entry) == 1);
            freed.erase(c.entry);
            CHECK(t.generation() != g);
            g = t.generation();
        }
        CHECK(freed.empty());
        CHECK(t.memory_bytes() == memory);

        // Empty and refill the table many times, in shuffled orders: after the first round the
        // footprint is fixed and the entry numbers stay below the peak count.
        std::vector<std::pair<RadijKey4, RadijKey4>> all;
        t.walk([&](uint32_t e) { all.emplace_back(t.key(e), t.mask(e)); });
        REQUIRE(all.size() == 40);
        std::mt19937_64 rng(20261127);
        size_t settled = 0;
        for (int round = 0; round < 20; ++round) {
            std::shuffle(all.begin(), all.end(), rng);
            for (const auto& [k, m] : all) REQUIRE(t.remove(k, m).error == 0);
            CHECK(t.size() == 0);
            std::shuffle(all.begin(), all.end(), rng);
            for (const auto& [k, m] : all) {
                const auto c = t.insert(k, m);
                REQUIRE(c.error == 0);
                CHECK(c.entry < 40);
            }
            if (round == 0) settled = t.memory_bytes();
            CHECK(t.memory_bytes() == settled);
            CHECK(t.generation() != g);
            g = t.generation();
        }
    }

    SECTION("clear() is a change") {
        t.clear();
        CHECK(t.size() == 0);
        CHECK(t.generation() != g);
        g = t.generation();
        CHECK(t.match(packet(v4(10, 3, 1, 1), v4(192, 168, 3, 3))) == RadijTable<2>::kNone);
        CHECK(t.remove(routes[0].first, routes[0].second).error == EFAULT);
        CHECK(t.generation() == g);
        CHECK(t.insert(routes[0].first, routes[0].second).error == 0);
        CHECK(t.generation() != g);
    }
}
