// PF_KEY semantics against a running daemon: replies and broadcasts, the kernel errnos of
// every message (spec/klips.md §6-§9, the contract of issue 4), REGISTER's algorithm lists,
// tncfg, klipsdebug and the private clock.
#include <catch2/catch.hpp>

#include <algorithm>
#include <fstream>

#include "daemon_instance.h"
#include "pfkey_test_client.h"
#include "scenario.h"

using namespace it;

namespace {

bool cpu_has_aesni() {
    std::ifstream in("/proc/cpuinfo");
    std::string line;
    while (std::getline(in, line))
        if (line.starts_with("flags") && (line.find(" aes ") != std::string::npos || line.ends_with(" aes")))
            return true;
    return false;
}

std::vector<uint8_t> alg_ids(const std::optional<pf::SupportedExt>& s) {
    std::vector<uint8_t> ids;
    if (s)
        for (const auto& a : s->algs) ids.push_back(a.id);
    return ids;
}

bool has_alg(const std::optional<pf::SupportedExt>& s, uint8_t id, uint8_t ivlen, uint16_t minbits, uint16_t maxbits) {
    if (!s) return false;
    return std::any_of(s->algs.begin(), s->algs.end(), [&](const pf::Alg& a) {
        return a.id == id && a.ivlen == ivlen && a.minbits == minbits && a.maxbits == maxbits;
    });
}

}  // namespace

TEST_CASE("pfkey: a reply echoes type, satype, seq and pid; changes go to every socket", "[pfkey][broadcast]") {
    DaemonInstance d("pfkey-broadcast", {"--clock", "manual"});
    d.start_or_throw();
    PfkeyClient c1(d.pfkey_path());
    PfkeyClient c2(d.pfkey_path());

    pf::Message m = addflow({"10.0.0.0", 8, "0.0.0.0", 0}, {kEsp, 0x300, "192.0.2.7"});
    m.seq = 4242;
    m.pid = 777;
    c1.send(m);
    pf::Message reply = c1.recv();
    CHECK(reply.type == pf::kXAddFlow);
    CHECK(reply.satype == kEsp);
    CHECK(reply.seq == 4242);
    CHECK(reply.pid == 777);
    CHECK(reply.errno_value == 0);
    // The other socket sees the same message.
    pf::Message copy = c2.recv();
    CHECK(copy.type == pf::kXAddFlow);
    CHECK(copy.seq == 4242);
    CHECK(copy.pid == 777);
    CHECK(copy.errno_value == 0);

    // Each broadcast kind reaches c2; an error reply does not.
    auto broadcast_seen = [&](const pf::Message& msg, const char* what) {
        pf::Message r = c1.request(msg);
        INFO(what << ": " << pf::to_string(r));
        REQUIRE(r.errno_value == 0);
        pf::Message other = c2.recv();
        CHECK(other.type == msg.type);
        CHECK(other.seq == r.seq);
    };
    broadcast_seen(add_sa(esp_chacha(0x300, "192.0.2.7", "192.0.2.8")), "ADD");
    broadcast_seen(add_sa(ipip(0x300, "192.0.2.7", "192.0.2.8")), "ADD tun");
    broadcast_seen(grpsa({kIpip, 0x300, "192.0.2.7"}, {kEsp, 0x300, "192.0.2.7"}), "X_GRPSA");
    broadcast_seen(delete_sa(kEsp, 0x300, "192.0.2.7"), "DELETE");
    broadcast_seen(flush(0), "FLUSH");
    broadcast_seen(delflow({"10.0.0.0", 8, "0.0.0.0", 0}), "X_DELFLOW");

    expect(c1, delete_sa(kEsp, 0x300, "192.0.2.7"), ESRCH, "DELETE of a missing SA");
    ok(c1, debug_set(pf::XDebugExt::pfkey), "X_DEBUG");
    ok(c1, tncfg(pf::kTncfgAttach, "ipsec0", "lo"), "X_TNCFG");
    ok(c1, clock(pf::kClockGet), "X_CLOCK");
    ok(c1, register_for(kEsp), "REGISTER");
    CHECK(c2.quiet(200));
}

TEST_CASE("pfkey: eroute errnos", "[pfkey][eroute]") {
    DaemonInstance d("pfkey-eroute", {"--clock", "manual"});
    d.start_or_throw();
    PfkeyClient c(d.pfkey_path());
    const SaidSpec sa{kEsp, 0x400, "192.0.2.9"};
    ok(c, addflow({"10.0.0.0", 8, "0.0.0.0", 0}, sa), "add /8");
    ok(c, addflow({"10.0.0.0", 16, "0.0.0.0", 0}, sa), "add /16, same key");
    expect(c, addflow({"10.0.0.0", 8, "0.0.0.0", 0}, sa), EEXIST, "duplicate");
    expect(c, addflow({"10.0.0.0", 8, "0.0.0.0", 0}, {kInt, kSpiDrop, "0.0.0.0"}), EEXIST,
           "duplicate selector, other SAID");
    expect(c, delflow({"11.0.0.0", 8, "0.0.0.0", 0}), EFAULT, "delete: no eroute with that key");
    expect(c, delflow({"10.0.0.0", 24, "0.0.0.0", 0}), ENOENT, "delete: key present, not that mask");
    expect(c, addflow({"11.0.0.0", 8, "0.0.0.0", 0}, sa, pf::kSaFlagXReplaceFlow), EFAULT,
           "replace of a missing eroute");
    expect(c, addflow({"192.0.1.0", 24, "192.0.2.0", 24}, {kIpip, 0x999, "127.0.0.1"}, pf::kSaFlagXInFlow), ENOENT,
           "addin without its IPIP SA");
    CHECK(read_view_file(d.view("net/ipsec_eroute")) ==
          "0 10.0.0.0/16:0 -> 0.0.0.0/0:0 => esp0x400@192.0.2.9:0 () ()\n"
          "0 10.0.0.0/8:0 -> 0.0.0.0/0:0 => esp0x400@192.0.2.9:0 () ()\n");

    ok(c, addflow({"10.0.0.0", 8, "0.0.0.0", 0}, {kInt, kSpiReject, "0.0.0.0"}, pf::kSaFlagXReplaceFlow), "replace");
    ok(c, delflow({"10.0.0.0", 16, "0.0.0.0", 0}), "delete /16");
    CHECK(read_view_file(d.view("net/ipsec_eroute")) == "0 10.0.0.0/8:0 -> 0.0.0.0/0:0 => %reject\n");
    ok(c, addflow({"1.2.3.4", 32, "5.6.7.8", 32, 6, 1234, 80}, sa), "ports");
    ok(c, clearflow(), "CLEARFLOW");
    CHECK(read_view_file(d.view("net/ipsec_eroute")).empty());
    ok(c, clearflow(), "CLEARFLOW of an empty table");
}

TEST_CASE("pfkey: SA kinds, refusals and the group rules", "[pfkey][sa]") {
    DaemonInstance d("pfkey-sa", {"--clock", "manual"});
    d.start_or_throw();
    PfkeyClient c(d.pfkey_path());
    const std::string dst = "198.51.100.5", src = "198.51.100.6";

    // Refused: the algorithms KLIPS had but kmod-sim does not, wrong key sizes, bad mixes.
    auto refused = [&](SaSpec s, const char* what) { expect(c, add_sa(s), EINVAL, what); };
    SaSpec des3{kEsp, 0x500, dst, src, 32, pf::kAuthSha1Hmac, pf::kEncrypt3DesCbc, 160, 192, {}, {}, {}};
    refused(des3, "3DES with SHA1");
    refused({kEsp, 0x500, dst, src, 32, pf::kAuthNone, pf::kEncrypt3DesCbc, 0, 192, {}, {}, {}}, "3DES alone");
    refused({kAh, 0x500, dst, src, 32, pf::kAuthMd5Hmac, 0, 128, 0, {}, {}, {}}, "AH MD5");
    refused({kAh, 0x500, dst, src, 32, pf::kAuthSha1Hmac, 0, 160, 0, {}, {}, {}}, "AH SHA1");
    refused({kEsp, 0x500, dst, src, 32, pf::kAuthSha2_256, pf::kEncryptAesCbc, 256, 128, {}, {}, {}}, "AES-CBC");
    SaSpec short_key = esp_chacha(0x500, dst, src);
    short_key.enc_key_bits = 256;
    refused(short_key, "chacha20-poly1305 without the salt (256 bits)");
    SaSpec chacha_auth = esp_chacha(0x500, dst, src);
    chacha_auth.auth = pf::kAuthSha2_256;
    chacha_auth.auth_key_bits = 256;
    refused(chacha_auth, "AEAD with an auth algorithm as well");
    SaSpec ah_short = ah_sha256(0x500, dst, src);
    ah_short.auth_key_bits = 160;
    refused(ah_short, "HMAC-SHA2-256 with a 160-bit key");
    SaSpec ah512_short = ah_sha512(0x500, dst, src);
    ah512_short.auth_key_bits = 256;
    refused(ah512_short, "HMAC-SHA2-512 with a 256-bit key");
    SaSpec null_sha_nokey = esp_null_sha256(0x500, dst, src);
    null_sha_nokey.auth_key_bits = 0;
    refused(null_sha_nokey, "ESP NULL+SHA2-256 without KEY_AUTH");
    refused({kComp, 0x500, dst, src, 0, 0, pf::kCompLzs, 0, 0, {}, {}, {}}, "IPComp LZS");
    SaSpec current = esp_chacha(0x500, dst, src);
    current.current = pf::LifetimeExt{};
    refused(current, "LIFETIME_CURRENT in ADD");
    CHECK(read_view_file(d.view("net/ipsec_spi")).empty());

    // Accepted: one of each supported kind.
    ok(c, add_sa(esp_chacha(0x501, dst, src)), "chacha20-poly1305");
    ok(c, add_sa(esp_null_sha256(0x502, dst, src)), "null + sha2-256");
    ok(c, add_sa(esp_null_sha512(0x503, dst, src)), "null + sha2-512");
    ok(c, add_sa(ah_sha256(0x504, dst, src)), "ah sha2-256");
    ok(c, add_sa(ah_sha512(0x505, dst, src)), "ah sha2-512");
    ok(c, add_sa(ipip(0x506, dst, src)), "ipip");
    ok(c, add_sa(comp_deflate(0x507, dst, src)), "deflate");
    expect(c, add_sa(esp_chacha(0x501, dst, src)), EEXIST, "duplicate SAID");
    expect(c, add_sa(esp_null_sha256(0x501, dst, src)), EEXIST, "duplicate SAID, other algorithm");

    // AES-GCM-16 exists only with AES-NI.
    if (cpu_has_aesni()) {
        ok(c, add_sa(esp_aes_gcm(0x508, dst, src)), "aes-gcm-16 with AES-NI");
        CHECK(read_view_file(d.view("net/ipsec_spi")).find(
                  "esp.508@198.51.100.5 ESP_AES_GCM_16: dir=out src=198.51.100.6 ooowin=32 alen=128 eklen=288 ") !=
              std::string::npos);
        ok(c, delete_sa(kEsp, 0x508, dst), "delete aes-gcm");
    } else {
        CHECK(c.errno_of(add_sa(esp_aes_gcm(0x508, dst, src))) != 0);
    }

    // Groups.
    expect(c, grpsa({kIpip, 0x506, dst}, {kEsp, 0x5ff, dst}), ENOENT, "group with a missing outer SA");
    expect(c, grpsa({kIpip, 0x5ff, dst}, {kEsp, 0x501, dst}), ENOENT, "group with a missing inner SA");
    ok(c, grpsa({kIpip, 0x506, dst}, {kEsp, 0x501, dst}), "tun inside esp");
    expect(c, grpsa({kIpip, 0x506, dst}, {kEsp, 0x502, dst}), EEXIST, "inner already has an outer SA");
    expect(c, grpsa({kComp, 0x507, dst}, {kEsp, 0x501, dst}), EEXIST, "outer already has an inner SA");
    expect(c, grpsa({kEsp, 0x501, dst}, {kIpip, 0x506, dst}), EEXIST, "a loop");
    const std::string spigrp = read_view_file(d.view("net/ipsec_spigrp"));
    CHECK(spigrp.find("tun.506@198.51.100.5 esp.501@198.51.100.5 \n") != std::string::npos);
    ok(c, ungrpsa({kEsp, 0x501, dst}), "ungroup");
    CHECK(read_view_file(d.view("net/ipsec_spigrp")).find("tun.506@198.51.100.5 \n") != std::string::npos);
    expect(c, ungrpsa({kEsp, 0x5ff, dst}), ENOENT, "ungroup of a missing SA");

    // DELETE takes the whole group; FLUSH by satype; FLUSH 0 all; eroutes stay.
    ok(c, grpsa({kIpip, 0x506, dst}, {kEsp, 0x501, dst}), "regroup");
    ok(c, delete_sa(kEsp, 0x501, dst), "delete the outer SA");
    expect(c, delete_sa(kIpip, 0x506, dst), ESRCH, "the inner one went with it");
    ok(c, addflow({"10.0.0.0", 8, "0.0.0.0", 0}, {kEsp, 0x502, dst}), "an eroute");
    ok(c, flush(kAh), "flush AH");
    std::string spi = read_view_file(d.view("net/ipsec_spi"));
    CHECK(spi.find("ah.") == std::string::npos);
    CHECK(spi.find("esp.502@") != std::string::npos);
    CHECK(spi.find("comp.507@") != std::string::npos);
    ok(c, flush(0), "flush all");
    CHECK(read_view_file(d.view("net/ipsec_spi")).empty());
    CHECK(read_view_file(d.view("net/ipsec_spigrp")).empty());
    CHECK_FALSE(read_view_file(d.view("net/ipsec_eroute")).empty());
}

TEST_CASE("pfkey: an SA to a local address is inbound", "[pfkey][sa]") {
    DaemonInstance d("pfkey-inbound", {"--clock", "manual", "--format", "openswan"});
    d.start_or_throw();
    PfkeyClient c(d.pfkey_path());
    REQUIRE(clock_op(c, pf::kClockSet, 10) == 10);
    ok(c, add_sa(ah_sha512(0x600, "127.0.0.1", "127.0.0.2", 0)), "inbound v4");
    ok(c, add_sa(ah_sha512(0x600, "::1", "::2", 0)), "inbound v6");
    ok(c, add_sa(ah_sha512(0x601, "198.51.100.77", "127.0.0.1", 0)), "outbound");
    const std::string spi = read_view_file(d.view("net/ipsec_spi"));
    INFO(spi);
    CHECK(spi.find("ah0x600@127.0.0.1 AH_HMAC_SHA2_512: dir=in  src=127.0.0.2 alen=256 aklen=512 "
                   "life(c,s,h)=addtime(0,0,0) natencap=none") != std::string::npos);
    CHECK(spi.find("ah0x600@::1 AH_HMAC_SHA2_512: dir=in  src=::2 ") != std::string::npos);
    CHECK(spi.find("ah0x601@198.51.100.77 AH_HMAC_SHA2_512: dir=out src=127.0.0.1 ") != std::string::npos);
}

TEST_CASE("pfkey: REGISTER lists the supported algorithms, to the sender only", "[pfkey][register]") {
    DaemonInstance d("pfkey-register");
    d.start_or_throw();
    PfkeyClient c(d.pfkey_path());
    PfkeyClient other(d.pfkey_path());

    pf::Message ah = ok(c, register_for(kAh), "REGISTER AH");
    CHECK(has_alg(ah.supported_auth, pf::kAuthSha2_256, 0, 256, 256));
    CHECK(has_alg(ah.supported_auth, pf::kAuthSha2_512, 0, 512, 512));
    auto ah_ids = alg_ids(ah.supported_auth);
    CHECK(std::find(ah_ids.begin(), ah_ids.end(), pf::kAuthMd5Hmac) == ah_ids.end());
    CHECK(std::find(ah_ids.begin(), ah_ids.end(), pf::kAuthSha1Hmac) == ah_ids.end());

    pf::Message esp = ok(c, register_for(kEsp), "REGISTER ESP");
    CHECK(has_alg(esp.supported_auth, pf::kAuthSha2_256, 0, 256, 256));
    CHECK(has_alg(esp.supported_auth, pf::kAuthSha2_512, 0, 512, 512));
    CHECK(has_alg(esp.supported_encrypt, pf::kEncryptNull, 0, 0, 0));
    CHECK(has_alg(esp.supported_encrypt, pf::kEncryptChacha20Poly1305, 64, 288, 288));
    CHECK(has_alg(esp.supported_encrypt, pf::kEncryptAesGcm16, 64, 288, 288) == cpu_has_aesni());
    auto enc_ids = alg_ids(esp.supported_encrypt);
    CHECK(std::find(enc_ids.begin(), enc_ids.end(), pf::kEncrypt3DesCbc) == enc_ids.end());

    pf::Message tun = ok(c, register_for(kIpip), "REGISTER IPIP");
    CHECK(has_alg(tun.supported_encrypt, pf::kTunnelIpv4InIpv4, 0, 32, 32));

    pf::Message comp = ok(c, register_for(kComp), "REGISTER COMP");
    CHECK(has_alg(comp.supported_encrypt, pf::kCompDeflate, 0, 1, 1));

    expect(c, register_for(5), EINVAL, "REGISTER RSVP");
    expect(c, register_for(0), EINVAL, "REGISTER UNSPEC");
    expect(c, register_for(kInt), EINVAL, "REGISTER INT");
    CHECK(other.quiet(200));
}

TEST_CASE("pfkey: tncfg attach, detach and their errnos", "[pfkey][tncfg]") {
    DaemonInstance d("pfkey-tncfg");
    d.start_or_throw();
    PfkeyClient c(d.pfkey_path());
    expect(c, tncfg(pf::kTncfgAttach, "ipsec0", "nosuchdev0"), ENXIO, "missing physical device");
    expect(c, tncfg(pf::kTncfgAttach, "ipsec9", "lo"), ENODEV, "missing virtual device");
    expect(c, tncfg(pf::kTncfgAttach, "eth0", "lo"), ENODEV, "not an ipsecN device");
    expect(c, tncfg(pf::kTncfgDetach, "ipsec2"), ENXIO, "detach when not attached");
    ok(c, tncfg(pf::kTncfgAttach, "ipsec2", "lo"), "attach");
    expect(c, tncfg(pf::kTncfgAttach, "ipsec2", "lo"), EBUSY, "attached already");
    const std::string lo_mtu = slurp("/sys/class/net/lo/mtu");
    REQUIRE(!lo_mtu.empty());
    const std::string mtu = lo_mtu.substr(0, lo_mtu.size() - 1);
    CHECK(read_view_file(d.view("net/ipsec/tncfg")) ==
          "ipsec0 -> NULL mtu=0(0) -> 0\nipsec1 -> NULL mtu=0(0) -> 0\n"
          "ipsec2 -> lo mtu=16260(" + mtu + ") -> " + mtu + "\nipsec3 -> NULL mtu=0(0) -> 0\n");
    ok(c, tncfg(pf::kTncfgAttach, "ipsec3", "lo"), "attach another");
    ok(c, tncfg(pf::kTncfgClear, ""), "clear");
    CHECK(read_view_file(d.view("net/ipsec/tncfg")) ==
          "ipsec0 -> NULL mtu=0(0) -> 0\nipsec1 -> NULL mtu=0(0) -> 0\n"
          "ipsec2 -> NULL mtu=0(0) -> 0\nipsec3 -> NULL mtu=0(0) -> 0\n");
}

TEST_CASE("pfkey: klipsdebug --all and --none", "[pfkey][debug]") {
    DaemonInstance d("pfkey-debug");
    d.start_or_throw();
    PfkeyClient c(d.pfkey_path());
    std::array<uint32_t, 12> all;
    all.fill(0xffffffff);
    all[pf::XDebugExt::verbose] = 0;
    ok(c, debug(all), "--all");
    CHECK(read_view_file(d.view("net/ipsec_klipsdebug")) ==
          "debug_tunnel=ffffffff.\ndebug_xform=ffffffff.\ndebug_eroute=ffffffff.\ndebug_spi=ffffffff.\n"
          "debug_radij=ffffffff.\ndebug_esp=ffffffff.\ndebug_ah=ffffffff.\ndebug_rcv=ffffffff.\n"
          "debug_pfkey=ffffffff.\n");
    ok(c, debug_clear(pf::XDebugExt::tunnel, 0x10), "--clear tunnel-xmit");
    CHECK(read_view_file(d.view("net/ipsec_klipsdebug")).starts_with("debug_tunnel=ffffffef.\n"));
    ok(c, debug(std::array<uint32_t, 12>{}), "--none");
    CHECK(read_view_file(d.view("net/ipsec_klipsdebug")) ==
          "debug_tunnel=00000000.\ndebug_xform=00000000.\ndebug_eroute=00000000.\ndebug_spi=00000000.\n"
          "debug_radij=00000000.\ndebug_esp=00000000.\ndebug_ah=00000000.\ndebug_rcv=00000000.\n"
          "debug_pfkey=00000000.\n");
}

TEST_CASE("pfkey: the manual clock moves only by X_CLOCK; the real one refuses", "[pfkey][clock]") {
    SECTION("manual") {
        DaemonInstance d("clock-manual", {"--clock", "manual"});
        d.start_or_throw();
        PfkeyClient c(d.pfkey_path());
        CHECK(clock_op(c, pf::kClockGet) == 0);
        CHECK(clock_op(c, pf::kClockAdvance, 5) == 5);
        CHECK(clock_op(c, pf::kClockSet, 100000) == 100000);
        CHECK(clock_op(c, pf::kClockAdvance, 1) == 100001);
        CHECK(clock_op(c, pf::kClockGet) == 100001);
        ok(c, add_sa(ipip(0x700, "198.51.100.9", "198.51.100.8")), "sa");
        CHECK(clock_op(c, pf::kClockAdvance, 42) == 100043);
        CHECK(read_view_file(d.view("net/ipsec_spi")) ==
              "tun.700@198.51.100.9 IPIP: dir=out src=198.51.100.8 life(c,s,h)=add(42,0,0)\n");
        pf::Message bad = clock(pf::kClockGet);
        bad.x_clock->operation = 4;
        CHECK(c.errno_of(bad) != 0);
        CHECK(clock_op(c, pf::kClockGet) == 100043);
    }
    SECTION("real") {
        DaemonInstance d("clock-real", {"--clock", "real"});
        d.start_or_throw();
        PfkeyClient c(d.pfkey_path());
        const uint64_t before = clock_op(c, pf::kClockGet);
        expect(c, clock(pf::kClockSet, 5), EOPNOTSUPP, "set on a real clock");
        expect(c, clock(pf::kClockAdvance, 5), EOPNOTSUPP, "advance on a real clock");
        CHECK(clock_op(c, pf::kClockGet) >= before);
    }
}
