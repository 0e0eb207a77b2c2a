// PfkeyHandler: what the module does with each PF_KEY v2 message (RFC 2367, spec/klips.md
// §7.1-§7.2, §7.7, §8.1-§8.5, §9.3; kmod_sim/module/pfkey_handler.h): the Klips operation,
// the errno, who gets the answer, and that keys never come back out.
#include <catch2/catch.hpp>

#include <cerrno>
#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "kmod_sim/lib/pfkey_message.h"
#include "kmod_sim/lib/said.h"
#include "kmod_sim/module/clock.h"
#include "kmod_sim/module/klips.h"
#include "kmod_sim/module/pfkey_handler.h"

#include "text_string_makers.h"

using namespace kmod_sim;
using namespace kmod_sim::pfkey;
using Audience = PfkeyAnswer::Audience;

namespace {

IpAddress addr(std::string_view text) {
    auto a = ttoaddr(text, AddressFamily::unspecified);
    REQUIRE(a.ok());
    return *a;
}

Said said(std::string_view text) {
    auto s = ttosa(text);
    REQUIRE(s.ok());
    return *s;
}

AddressExt address(std::string_view text, uint16_t port = 0) {
    AddressExt a;
    a.address = addr(text);
    a.port = port;
    return a;
}

// One Klips with a manual clock, a handler with one fake device ("eth0", MTU 1500), and a
// socket; ask() sends one message and returns its answers.
struct Harness {
    std::shared_ptr<ManualClock> clock = std::make_shared<ManualClock>(1000);
    Klips klips{KlipsConfig{OutputProfile::seed, "test", clock,
                            [](const IpAddress& a) { return a == IpAddress::v4(192, 168, 0, 1); }}};
    uint32_t next_random = 0x4000;
    PfkeyHandler handler{klips, PfkeyHost{[](std::string_view name) -> std::optional<uint32_t> {
                                              if (name == "eth0") return 1500;
                                              return std::nullopt;
                                          },
                                          clock.get(), [this] { return next_random++; }, nullptr,
                                          [this](std::string_view v, std::string_view p, uint32_t mtu) {
                                              if (!open_device) return DeviceOpened{0, Tncfg::kAttachedMtu};
                                              return open_device(v, p, mtu);
                                          },
                                          [this](std::string_view v) {
                                              if (close_device) close_device(v);
                                          }}};
    // What the host does when a device is made real or removed (unset: as in the tables only).
    std::function<DeviceOpened(std::string_view, std::string_view, uint32_t)> open_device;
    std::function<void(std::string_view)> close_device;
    PfkeySocket socket;

    std::vector<PfkeyAnswer> ask_bytes(std::span<const uint8_t> bytes) {
        std::vector<PfkeyAnswer> answers;
        handler.handle(bytes, socket, &answers);
        return answers;
    }
    std::vector<PfkeyAnswer> ask(const Message& m) {
        auto bytes = encode(m);
        REQUIRE(bytes.ok());
        return ask_bytes(*bytes);
    }
    // The one answer's errno, after checking the answer is a well-formed message.
    int errno_of(const Message& m, Audience* audience = nullptr) {
        auto answers = ask(m);
        REQUIRE(answers.size() == 1);
        auto reply = decode_layout(answers[0].message);
        REQUIRE(reply.ok());
        CHECK(reply->type == m.type);
        CHECK(reply->seq == m.seq);
        CHECK(reply->pid == m.pid);
        if (audience) *audience = answers[0].audience;
        return reply->errno_value;
    }
    Message reply_of(const Message& m) {
        auto answers = ask(m);
        REQUIRE(answers.size() == 1);
        auto reply = decode_layout(answers[0].message);
        REQUIRE(reply.ok());
        return *reply;
    }
};

KeyExt key(uint16_t bits, uint8_t fill = 0xa5) { return KeyExt{bits, std::vector<uint8_t>(bits / 8, fill)}; }

Message add_message(uint8_t satype, uint32_t spi, std::string_view dst, uint8_t auth, uint8_t encrypt) {
    Message m;
    m.type = kAdd;
    m.satype = satype;
    m.seq = 7;
    m.pid = 4242;
    SaExt sa;
    sa.spi = spi;
    sa.replay = 32;
    sa.state = kSaStateMature;
    sa.auth = auth;
    sa.encrypt = encrypt;
    m.sa = sa;
    m.address_src = address("192.168.0.2");
    m.address_dst = address(dst);
    return m;
}

Message esp_chacha(uint32_t spi, std::string_view dst = "10.0.0.1") {
    Message m = add_message(kSaTypeEsp, spi, dst, kAuthNone, kEncryptChacha20Poly1305);
    m.key_encrypt = key(288);
    return m;
}

Message flow_message(uint8_t type, std::string_view said_text, std::string_view src, int src_bits,
                     std::string_view dst, int dst_bits, uint32_t flags = 0) {
    const Said s = said(said_text);
    Message m;
    m.type = type;
    m.satype = s.proto == kSaInt ? kSaTypeXInt : s.proto == kSaTun ? kSaTypeXIpip : kSaTypeEsp;
    m.seq = 9;
    m.pid = 77;
    SaExt sa;
    sa.spi = s.spi;
    sa.flags = flags;
    m.sa = sa;
    m.address_src = address("0.0.0.0");
    m.address_dst = AddressExt{0, 0, s.dst, 0};
    m.x_src_flow = address(src);
    m.x_dst_flow = address(dst);
    m.x_src_mask = AddressExt{0, 0, mask_from_bits(AddressFamily::inet, src_bits), 0};
    m.x_dst_mask = AddressExt{0, 0, mask_from_bits(AddressFamily::inet, dst_bits), 0};
    return m;
}

Message group_message(std::string_view inner, std::string_view outer) {
    auto satype = [](const Said& s) { return s.proto == kSaTun ? uint8_t{kSaTypeXIpip} : uint8_t{kSaTypeEsp}; };
    const Said a = said(inner);
    Message m;
    m.type = kXGrpSa;
    m.satype = satype(a);
    m.sa = SaExt{};
    m.sa->spi = a.spi;
    m.address_dst = AddressExt{0, 0, a.dst, 0};
    if (!outer.empty()) {
        const Said b = said(outer);
        m.x_satype2 = XSaTypeExt{satype(b)};
        m.x_sa2 = SaExt{};
        m.x_sa2->spi = b.spi;
        m.x_address_dst2 = AddressExt{0, 0, b.dst, 0};
    }
    return m;
}

Message tun_sa(uint32_t spi, std::string_view dst) {
    return add_message(kSaTypeXIpip, spi, dst, kAuthNone, kEncryptNone);
}

}  // namespace

TEST_CASE("pfkey handler: ADD builds the SA, echoes to all, and never returns keys", "[pfkey_handler]") {
    Harness h;
    Message m = esp_chacha(0x12345678);
    auto answers = h.ask(m);
    REQUIRE(answers.size() == 1);
    CHECK(answers[0].audience == Audience::all);
    auto reply = decode(answers[0].message);
    REQUIRE(reply.ok());
    CHECK(reply->errno_value == 0);
    CHECK_FALSE(reply->key_encrypt.has_value());
    CHECK_FALSE(reply->key_auth.has_value());
    CHECK(reply->sa->spi == 0x12345678);

    auto sa = h.klips.find_sa(said("esp0x12345678@10.0.0.1"));
    REQUIRE(sa.has_value());
    CHECK(sa->state == kSaStateMature);
    CHECK(sa->enc_alg == kEncryptChacha20Poly1305);
    CHECK(sa->auth_alg == kAuthNone);
    CHECK(sa->enc_key_bits == 288);  // 256-bit key + 32-bit salt (RFC 7634)
    CHECK(sa->auth_bits == 128);     // the Poly1305 tag
    CHECK(sa->replay_window == 32);
    CHECK(sa->src == addr("192.168.0.2"));
    CHECK(sa->pid == 4242);
    CHECK(sa->life.addtime.count == 1000);
    CHECK_FALSE(sa->inbound);

    CHECK(h.errno_of(esp_chacha(0x12345678)) == EEXIST);
    Message inbound = esp_chacha(0x2000, "192.168.0.1");
    CHECK(h.errno_of(inbound) == 0);
    CHECK(h.klips.find_sa(said("esp0x2000@192.168.0.1"))->inbound);
}

TEST_CASE("pfkey handler: ADD accepts exactly the supported algorithms and key sizes", "[pfkey_handler]") {
    Harness h;
    uint32_t spi = 0x1000;
    auto esp = [&](uint8_t auth, uint8_t encrypt, uint16_t auth_bits, uint16_t enc_bits) {
        Message m = add_message(kSaTypeEsp, ++spi, "10.0.0.1", auth, encrypt);
        if (auth_bits) m.key_auth = key(auth_bits);
        if (enc_bits) m.key_encrypt = key(enc_bits);
        return h.errno_of(m);
    };
    auto ah = [&](uint8_t auth, uint16_t bits) {
        Message m = add_message(kSaTypeAh, ++spi, "10.0.0.1", auth, kEncryptNone);
        if (bits) m.key_auth = key(bits);
        return h.errno_of(m);
    };
    CHECK(esp(kAuthNone, kEncryptChacha20Poly1305, 0, 288) == 0);
    CHECK(esp(kAuthNone, kEncryptChacha20Poly1305, 0, 256) == EINVAL);  // salt missing
    CHECK(esp(kAuthSha2_256, kEncryptChacha20Poly1305, 256, 288) == EINVAL);  // an AEAD takes no HMAC
    CHECK(esp(kAuthSha2_256, kEncryptNull, 256, 0) == 0);
    CHECK(esp(kAuthSha2_512, kEncryptNull, 512, 0) == 0);
    CHECK(esp(kAuthSha2_512, kEncryptNull, 256, 0) == EINVAL);  // RFC 4868: 512-bit key
    CHECK(esp(kAuthNone, kEncryptNull, 0, 0) == EINVAL);          // no protection at all
    CHECK(esp(kAuthMd5Hmac, kEncrypt3DesCbc, 128, 192) == EINVAL);  // KLIPS's old ones: refused
    CHECK(esp(kAuthSha1Hmac, kEncryptAesCbc, 160, 128) == EINVAL);
    CHECK(ah(kAuthSha2_256, 256) == 0);
    CHECK(ah(kAuthSha2_512, 512) == 0);
    CHECK(ah(kAuthSha1Hmac, 160) == EINVAL);
    CHECK(ah(kAuthSha2_256, 0) == EINVAL);

    auto sha512 = h.klips.find_sa(said("esp0x1005@10.0.0.1"));
    REQUIRE(sha512.has_value());
    CHECK(sha512->auth_bits == 256);  // HMAC-SHA2-512-256
    CHECK(sha512->auth_key_bits == 512);

    Message comp = add_message(kSaTypeXComp, 0x10002, "10.0.0.1", kAuthNone, kCompDeflate);
    CHECK(h.errno_of(comp) == 0);
    comp.sa->spi = 0x10003;
    comp.sa->encrypt = kCompLzs;
    CHECK(h.errno_of(comp) == EINVAL);
    CHECK(h.errno_of(tun_sa(0x3000, "10.0.0.1")) == 0);
    Message tun_any = tun_sa(0x3001, "10.0.0.1");
    tun_any.address_src = address("0.0.0.0");  // an IPIP SA needs its outer source
    CHECK(h.errno_of(tun_any) == EINVAL);
    Message mixed = esp_chacha(0x3002);
    mixed.address_src = address("::1");
    CHECK(h.errno_of(mixed) == EINVAL);
    Message larval = esp_chacha(0x3003);
    larval.sa->state = kSaStateLarval;
    CHECK(h.errno_of(larval) == EINVAL);
    Message magic = add_message(kSaTypeXInt, 0x100, "0.0.0.0", kAuthNone, kEncryptNone);
    CHECK(h.errno_of(magic) == EINVAL);
    Message current = esp_chacha(0x3004);
    current.lifetime_current = LifetimeExt{};
    CHECK(h.errno_of(current) == EINVAL);  // §7.7
    CHECK_FALSE(h.klips.find_sa(said("esp0x3004@10.0.0.1")).has_value());
}

TEST_CASE("pfkey handler: lifetimes are limits, soft clamped to hard", "[pfkey_handler]") {
    Harness h;
    Message m = esp_chacha(0x5000);
    LifetimeExt soft, hard;
    soft.bytes = 5000;
    hard.bytes = 1000;
    soft.addtime = 60;
    hard.addtime = 120;
    hard.packets = 10;
    m.lifetime_soft = soft;
    m.lifetime_hard = hard;
    REQUIRE(h.errno_of(m) == 0);
    auto sa = h.klips.find_sa(said("esp0x5000@10.0.0.1"));
    REQUIRE(sa.has_value());
    CHECK(sa->life.bytes.soft == 1000);
    CHECK(sa->life.bytes.hard == 1000);
    CHECK(sa->life.addtime.soft == 60);
    CHECK(sa->life.addtime.hard == 120);
    CHECK(sa->life.packets.soft == 10);
    CHECK(sa->life.usetime.hard == 0);
}

TEST_CASE("pfkey handler: GET and DUMP describe SAs without keys", "[pfkey_handler]") {
    Harness h;
    Message get;
    get.type = kGet;
    get.satype = kSaTypeEsp;
    get.seq = 3;
    get.sa = SaExt{};
    get.sa->spi = 0x6000;
    get.address_dst = address("10.0.0.1");
    CHECK(h.errno_of(get) == ESRCH);

    Message dump;
    dump.type = kDump;
    dump.seq = 5;
    CHECK(h.errno_of(dump) == ENOENT);  // RFC 2367 §3.1.15: nothing to dump

    REQUIRE(h.errno_of(esp_chacha(0x6000)) == 0);
    h.clock->advance(5);
    REQUIRE(h.errno_of(tun_sa(0x6001, "10.0.0.2")) == 0);
    Message reply = h.reply_of(get);
    CHECK(reply.errno_value == 0);
    REQUIRE(reply.sa.has_value());
    CHECK(reply.sa->encrypt == kEncryptChacha20Poly1305);
    CHECK(reply.sa->replay == 32);
    REQUIRE(reply.lifetime_current.has_value());
    CHECK(reply.lifetime_current->addtime == 1000);
    CHECK(reply.address_dst->address == addr("10.0.0.1"));
    CHECK(reply.address_src->address == addr("192.168.0.2"));
    CHECK_FALSE(reply.key_encrypt.has_value());

    auto answers = h.ask(dump);
    REQUIRE(answers.size() == 2);
    std::set<uint32_t> spis;
    uint32_t expected_seq = 1;
    for (auto& answer : answers) {
        CHECK(answer.audience == Audience::sender);
        auto m = decode(answer.message);
        REQUIRE(m.ok());
        CHECK(m->type == kDump);
        CHECK(m->seq == expected_seq--);  // counts down to 0, the last
        CHECK_FALSE(m->key_encrypt.has_value());
        spis.insert(m->sa->spi);
    }
    CHECK(spis == std::set<uint32_t>{0x6000, 0x6001});
    dump.satype = kSaTypeXIpip;
    CHECK(h.ask(dump).size() == 1);
}

TEST_CASE("pfkey handler: GETSPI makes a larval SA that UPDATE completes", "[pfkey_handler]") {
    Harness h;
    Message getspi;
    getspi.type = kGetSpi;
    getspi.satype = kSaTypeEsp;
    getspi.address_src = address("192.168.0.2");
    getspi.address_dst = address("10.0.0.1");
    getspi.spirange = SpiRangeExt{0x5000, 0x5003};
    Message reply = h.reply_of(getspi);
    REQUIRE(reply.errno_value == 0);
    REQUIRE(reply.sa.has_value());
    CHECK(reply.sa->state == kSaStateLarval);
    CHECK_FALSE(reply.spirange.has_value());
    const uint32_t spi = reply.sa->spi;
    CHECK(spi >= 0x5000);
    CHECK(spi <= 0x5003);
    const Said larval{addr("10.0.0.1"), spi, kSaEsp};
    REQUIRE(h.klips.find_sa(larval).has_value());
    CHECK(h.klips.find_sa(larval)->state == kSaStateLarval);

    // The range fills up: four SPIs, then EEXIST.
    for (int i = 0; i < 3; ++i) CHECK(h.reply_of(getspi).errno_value == 0);
    CHECK(h.reply_of(getspi).errno_value == EEXIST);

    Message update = esp_chacha(spi);
    update.type = kUpdate;
    Audience audience{};
    CHECK(h.errno_of(update, &audience) == 0);
    CHECK(audience == Audience::all);
    auto sa = h.klips.find_sa(larval);
    REQUIRE(sa.has_value());
    CHECK(sa->state == kSaStateMature);
    CHECK(sa->enc_alg == kEncryptChacha20Poly1305);

    // A mature SA keeps its algorithms; only its lifetimes may change.
    Message change = add_message(kSaTypeEsp, spi, "10.0.0.1", kAuthSha2_256, kEncryptNull);
    change.type = kUpdate;
    change.key_auth = key(256);
    CHECK(h.errno_of(change) == EINVAL);
    update.lifetime_hard = LifetimeExt{};
    update.lifetime_hard->addtime = 300;
    CHECK(h.errno_of(update) == 0);
    CHECK(h.klips.find_sa(larval)->life.addtime.hard == 300);
    update.sa->spi = 0x9999;
    CHECK(h.errno_of(update) == ESRCH);
}

TEST_CASE("pfkey handler: DELETE, FLUSH and X_GRPSA", "[pfkey_handler]") {
    Harness h;
    REQUIRE(h.errno_of(tun_sa(0x7000, "10.0.0.1")) == 0);
    REQUIRE(h.errno_of(esp_chacha(0x7001)) == 0);
    REQUIRE(h.errno_of(esp_chacha(0x7002)) == 0);
    Audience audience{};
    CHECK(h.errno_of(group_message("tun0x7000@10.0.0.1", "esp0x7001@10.0.0.1"), &audience) == 0);
    CHECK(audience == Audience::all);
    CHECK(h.errno_of(group_message("tun0x7000@10.0.0.1", "esp0x7002@10.0.0.1")) == EEXIST);
    CHECK(h.errno_of(group_message("tun0x7000@10.0.0.1", "esp0x7777@10.0.0.1")) == ENOENT);
    CHECK(h.klips.spigrp_lines().size() == 2);  // the group and the lone esp0x7002
    CHECK(h.errno_of(group_message("esp0x7001@10.0.0.1", "")) == 0);  // UNGRPSA
    CHECK(h.klips.spigrp_lines().size() == 3);
    REQUIRE(h.errno_of(group_message("tun0x7000@10.0.0.1", "esp0x7001@10.0.0.1")) == 0);

    Message del;
    del.type = kDelete;
    del.satype = kSaTypeEsp;
    del.sa = SaExt{};
    del.sa->spi = 0x7001;
    del.address_dst = address("10.0.0.1");
    CHECK(h.errno_of(del, &audience) == 0);
    CHECK(audience == Audience::all);
    CHECK(h.klips.sa_count() == 1);  // the whole group went
    CHECK(h.errno_of(del) == ESRCH);

    REQUIRE(h.errno_of(tun_sa(0x7003, "10.0.0.1")) == 0);
    Message flush;
    flush.type = kFlush;
    flush.satype = kSaTypeXIpip;
    CHECK(h.errno_of(flush) == 0);
    CHECK(h.klips.sa_count() == 1);
    flush.satype = kSaTypeUnspec;
    CHECK(h.errno_of(flush) == 0);
    CHECK(h.klips.sa_count() == 0);
}

TEST_CASE("pfkey handler: X_ADDFLOW and X_DELFLOW", "[pfkey_handler]") {
    Harness h;
    Message add = flow_message(kXAddFlow, "tun0x130@192.168.43.1", "192.168.2.110", 32, "192.168.43.0", 24);
    add.identity_src = IdentityExt{kIdentFqdn, 0, "@west"};
    Audience audience{};
    CHECK(h.errno_of(add, &audience) == 0);
    CHECK(audience == Audience::all);
    CHECK(h.errno_of(add) == EEXIST);
    auto rows = h.klips.eroute_rows();
    REQUIRE(rows.size() == 1);
    CHECK(rows[0].said == said("tun0x130@192.168.43.1"));
    CHECK(rows[0].dst_mask == mask_from_bits(AddressFamily::inet, 24));
    REQUIRE(rows[0].idents);
    CHECK(rows[0].idents->src == "@west");
    CHECK(rows[0].idents->dst.empty());

    Message pass = flow_message(kXAddFlow, "%pass", "10.1.0.0", 16, "10.2.0.0", 16);
    pass.x_protocol = XProtocolExt{6, 0, 0};
    pass.x_src_flow->port = 80;
    pass.x_src_mask->port = 0xffff;
    CHECK(h.errno_of(pass) == 0);
    rows = h.klips.eroute_rows();
    REQUIRE(rows.size() == 2);

    Message replace = flow_message(kXAddFlow, "%drop", "10.9.0.0", 16, "10.2.0.0", 16, kSaFlagXReplaceFlow);
    CHECK(h.errno_of(replace) == EFAULT);  // nothing to replace (§6.5)
    replace = flow_message(kXAddFlow, "%drop", "192.168.2.110", 32, "192.168.43.0", 24, kSaFlagXReplaceFlow);
    CHECK(h.errno_of(replace) == 0);
    CHECK(h.klips.eroute_count() == 2);

    Message del = flow_message(kXDelFlow, "%drop", "192.168.2.110", 32, "192.168.43.0", 24);
    CHECK(h.errno_of(del, &audience) == 0);
    CHECK(audience == Audience::all);
    CHECK(h.errno_of(del) == EFAULT);
    CHECK(h.klips.eroute_count() == 1);
    Message clear;
    clear.type = kXDelFlow;
    clear.satype = kSaTypeXInt;
    clear.sa = SaExt{};
    clear.sa->flags = kSaFlagXClearFlow;
    CHECK(h.errno_of(clear) == 0);
    CHECK(h.klips.eroute_count() == 0);

    Message mixed = flow_message(kXAddFlow, "%pass", "10.1.0.0", 16, "10.2.0.0", 16);
    mixed.x_dst_flow = address("::1");
    mixed.x_dst_mask = AddressExt{0, 0, mask_from_bits(AddressFamily::inet6, 128), 0};
    CHECK(h.errno_of(mixed) == EINVAL);
    CHECK(h.klips.eroute_count() == 0);
}

TEST_CASE("pfkey handler: X_ADDFLOW with INFLOW sets the IPIP SA's inbound policy", "[pfkey_handler]") {
    Harness h;
    Message addin = flow_message(kXAddFlow, "tun0x200@192.168.0.1", "10.1.0.0", 16, "10.2.0.0", 16, kSaFlagXInFlow);
    CHECK(h.errno_of(addin) == ENOENT);  // "non-existant IPIP SA."
    REQUIRE(h.errno_of(tun_sa(0x200, "192.168.0.1")) == 0);
    CHECK(h.errno_of(addin) == 0);
    auto sa = h.klips.find_sa(said("tun0x200@192.168.0.1"));
    REQUIRE(sa.has_value());
    REQUIRE(sa->policy.has_value());
    CHECK(sa->policy->src.address == addr("10.1.0.0"));
    CHECK(sa->policy->dst.mask == mask_from_bits(AddressFamily::inet, 16));
    CHECK((sa->flags & kSaFlagXInFlow) != 0);
    CHECK(h.klips.eroute_count() == 0);  // the table is untouched
}

TEST_CASE("pfkey handler: REGISTER, X_PROMISC and kernel-only messages", "[pfkey_handler]") {
    Harness h;
    Message reg;
    reg.type = kRegister;
    reg.satype = kSaTypeEsp;
    reg.seq = 11;
    Message reply = h.reply_of(reg);
    CHECK(reply.errno_value == 0);
    CHECK((h.socket.registered_satypes & (1u << kSaTypeEsp)) != 0);
    REQUIRE(reply.supported_auth.has_value());
    REQUIRE(reply.supported_encrypt.has_value());
    std::set<int> auth, enc;
    for (auto& a : reply.supported_auth->algs) auth.insert(a.id);
    for (auto& a : reply.supported_encrypt->algs) enc.insert(a.id);
    CHECK(auth == std::set<int>{kAuthSha2_256, kAuthSha2_512});
    CHECK(enc.count(kEncryptNull) == 1);
    CHECK(enc.count(kEncryptChacha20Poly1305) == 1);
    CHECK(enc.count(kEncrypt3DesCbc) == 0);
    for (auto& a : reply.supported_encrypt->algs) {
        if (a.id == kEncryptChacha20Poly1305) {
            CHECK(a.minbits == 288);
            CHECK(a.maxbits == 288);
            CHECK(a.ivlen == 64);
        }
    }
    reg.satype = kSaTypeAh;
    reply = h.reply_of(reg);
    CHECK(reply.errno_value == 0);
    CHECK_FALSE(reply.supported_encrypt.has_value());
    reg.satype = kSaTypeXComp;
    CHECK(h.reply_of(reg).supported_encrypt->algs.size() == 1);
    reg.satype = kSaTypeRsvp;
    CHECK(h.errno_of(reg) == EINVAL);
    CHECK(h.socket.registered_satypes == ((1u << kSaTypeEsp) | (1u << kSaTypeAh) | (1u << kSaTypeXComp)));

    Message promisc;
    promisc.type = kXPromisc;
    promisc.satype = 1;
    CHECK(h.errno_of(promisc) == 0);
    CHECK(h.socket.promiscuous);
    promisc.satype = 0;
    CHECK(h.errno_of(promisc) == 0);
    CHECK_FALSE(h.socket.promiscuous);

    Message acquire;
    acquire.type = kAcquire;
    acquire.satype = kSaTypeEsp;
    acquire.address_src = address("10.0.0.1");
    acquire.address_dst = address("10.0.0.2");
    acquire.proposal = ProposalExt{};
    CHECK(h.errno_of(acquire) == EOPNOTSUPP);
}

TEST_CASE("pfkey handler: X_DEBUG, X_TNCFG and X_CLOCK", "[pfkey_handler]") {
    Harness h;
    Message debug;
    debug.type = kXDebug;
    debug.x_debug = XDebugExt{};
    debug.x_debug->words[XDebugExt::netlink] = KlipsDebug::kOrMode;
    debug.x_debug->words[XDebugExt::eroute] = 0xffffffff;
    CHECK(h.errno_of(debug) == 0);
    CHECK(h.klips.debug_words()[KlipsDebug::kEroute] == 0xffffffff);
    CHECK(h.klips.debug_words()[KlipsDebug::kNetlink] == 0);

    Message tncfg;
    tncfg.type = kXTncfg;
    tncfg.x_tncfg = XTncfgExt{kTncfgAttach, "ipsec0", "eth0"};
    Audience audience{};
    CHECK(h.errno_of(tncfg, &audience) == 0);
    CHECK(audience == Audience::sender);
    CHECK(h.klips.devices()[0].physical == "eth0");
    CHECK(h.klips.devices()[0].physical_mtu == 1500);
    CHECK(h.errno_of(tncfg) == EBUSY);
    tncfg.x_tncfg = XTncfgExt{kTncfgAttach, "ipsec1", "eth9"};
    CHECK(h.errno_of(tncfg) == ENXIO);
    tncfg.x_tncfg = XTncfgExt{kTncfgAttach, "ipsec9", "eth0"};
    CHECK(h.errno_of(tncfg) == ENODEV);
    tncfg.x_tncfg = XTncfgExt{kTncfgDetach, "ipsec1", ""};
    CHECK(h.errno_of(tncfg) == ENXIO);
    tncfg.x_tncfg = XTncfgExt{kTncfgDetach, "ipsec0", ""};
    CHECK(h.errno_of(tncfg) == 0);
    CHECK(h.klips.devices()[0].physical.empty());

    CHECK(h.klips.devices()[0].mtu == 0);

    Message clock;
    clock.type = kXClock;
    clock.x_clock = XClockExt{kClockGet, 0};
    CHECK(h.reply_of(clock).x_clock->seconds == 1000);
    clock.x_clock = XClockExt{kClockAdvance, 30};
    CHECK(h.reply_of(clock).x_clock->seconds == 1030);
    clock.x_clock = XClockExt{kClockSet, 5};
    CHECK(h.reply_of(clock).x_clock->seconds == 5);
    CHECK(h.klips.now() == 5);

    Klips real_klips{KlipsConfig{OutputProfile::seed, "test", h.clock, nullptr}};
    PfkeyHandler real(real_klips, PfkeyHost{nullptr, nullptr, [] { return 0u; }, nullptr, nullptr, nullptr});
    std::vector<PfkeyAnswer> answers;
    auto bytes = encode(clock);
    real.handle(*bytes, h.socket, &answers);
    REQUIRE(answers.size() == 1);
    CHECK(decode_layout(answers[0].message)->errno_value == EOPNOTSUPP);
}

TEST_CASE("pfkey handler: malformed messages get EINVAL and change nothing", "[pfkey_handler]") {
    Harness h;
    Message add = esp_chacha(0x8000);
    auto good = encode(add);
    REQUIRE(good.ok());
    // Every truncation and a corrupted length: one EINVAL answer each, nothing added.
    for (size_t n = 0; n < good->size(); ++n) {
        auto answers = h.ask_bytes(std::span(good->data(), n));
        REQUIRE(answers.size() == 1);
        const auto& bytes = answers[0].message;
        REQUIRE(bytes.size() == 16);
        CHECK(bytes[0] == 2);
        CHECK(bytes[2] == EINVAL);
        CHECK(bytes[4] == 2);  // sadb_msg_len: the header alone
        CHECK(bytes[5] == 0);
        if (n >= 16) {
            CHECK(bytes[1] == kAdd);
            CHECK(std::equal(bytes.begin() + 8, bytes.end(), good->begin() + 8));  // seq and pid echoed
        }
    }
    std::vector<uint8_t> bad = *good;
    bad[16 + 0] = 2;  // the SA extension claims 16 bytes, shorter than KLIPS's sadb_sa? RFC form: still valid
    bad[16 + 0] = 1;  // 8 bytes: shorter than any sadb_sa
    CHECK(h.ask_bytes(bad)[0].message[2] == EINVAL);
    CHECK(h.klips.sa_count() == 0);
    CHECK(h.ask_bytes(*good)[0].message[2] == 0);
    CHECK(h.klips.sa_count() == 1);

    Message with_errno = esp_chacha(0x8001);
    with_errno.errno_value = EIO;  // requests carry no errno
    CHECK(h.errno_of(with_errno) == EINVAL);
    CHECK(h.klips.sa_count() == 1);
}

TEST_CASE("pfkey handler: X_TNCFG makes a device real only once the tables agree", "[pfkey_handler]") {
    Harness h;
    std::vector<std::string> calls;  // what the host was asked, in order
    int open_error = EPERM;
    h.open_device = [&](std::string_view v, std::string_view p, uint32_t mtu) {
        calls.push_back("open " + std::string(v) + " " + std::string(p) + " " + std::to_string(mtu));
        return DeviceOpened{open_error, open_error ? 0u : 1363u};
    };
    h.close_device = [&](std::string_view v) { calls.push_back("close " + std::string(v)); };
    Message tncfg;
    tncfg.type = kXTncfg;

    // Refused by the host (no privilege): the tables are as before.
    tncfg.x_tncfg = XTncfgExt{kTncfgAttach, "ipsec0", "eth0"};
    CHECK(h.errno_of(tncfg) == EPERM);
    CHECK(h.klips.devices()[0].physical.empty());
    CHECK(calls == std::vector<std::string>{"open ipsec0 eth0 1500"});

    // Refused by the tables first: the host is not asked.
    calls.clear();
    tncfg.x_tncfg = XTncfgExt{kTncfgAttach, "ipsec9", "eth0"};
    CHECK(h.errno_of(tncfg) == ENODEV);
    tncfg.x_tncfg = XTncfgExt{kTncfgAttach, "ipsec1", "eth9"};
    CHECK(h.errno_of(tncfg) == ENXIO);
    CHECK(calls.empty());

    // Accepted: the listing carries the real device's MTU and the physical one.
    open_error = 0;
    tncfg.x_tncfg = XTncfgExt{kTncfgAttach, "ipsec0", "eth0"};
    CHECK(h.errno_of(tncfg) == 0);
    CHECK(h.klips.devices()[0].physical == "eth0");
    CHECK(h.klips.devices()[0].mtu == 1363);
    CHECK(h.klips.devices()[0].private_mtu == 1500);
    CHECK(h.klips.devices()[0].physical_mtu == 1500);
    CHECK(h.errno_of(tncfg) == EBUSY);  // not opened twice
    tncfg.x_tncfg = XTncfgExt{kTncfgAttach, "ipsec2", "eth0"};
    CHECK(h.errno_of(tncfg) == 0);
    CHECK(calls == std::vector<std::string>{"open ipsec0 eth0 1500", "open ipsec2 eth0 1500"});

    // Detach closes that one; clear closes the rest; a detached device is not closed again.
    calls.clear();
    tncfg.x_tncfg = XTncfgExt{kTncfgDetach, "ipsec0", ""};
    CHECK(h.errno_of(tncfg) == 0);
    CHECK(h.errno_of(tncfg) == ENXIO);
    tncfg.x_tncfg = XTncfgExt{kTncfgClear, "", ""};
    CHECK(h.errno_of(tncfg) == 0);
    CHECK(calls == std::vector<std::string>{"close ipsec0", "close ipsec2"});
    for (const IpsecDevice& d : h.klips.devices()) CHECK(d.physical.empty());
}
