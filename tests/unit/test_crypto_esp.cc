// ESP transforms (crypto/esp.h) and the RFC 4868 HMAC (crypto/hmac.h).
//
// Known answers, typed from the documents: RFC 4868 §2.7 (PRF-1, PRF-2, AUTH256-1..4,
// AUTH512-1), the GCM specification's test cases 14-16 (McGrew/Viega, 256-bit key) for the
// AES-GCM primitive, and RFC 7539 §2.8.2's AEAD vector, whose 12-byte AAD has exactly the shape
// of an ESN ESP AAD (SPI || seq-hi || seq-lo) and so checks our nonce and AAD construction.
// Framing is checked byte for byte against an oracle below that follows RFC 4303/4106/7634
// with libsodium's one-shot calls, sharing no code with crypto/esp.cc.
#include <catch2/catch.hpp>

#include <sodium.h>

#include <cstdint>
#include <cstring>
#include <ostream>
#include <string>
#include <type_traits>
#include <string_view>
#include <vector>

#include "crypto/algorithms.h"
#include "crypto/esp.h"
#include "crypto/hmac.h"
#include "crypto/secret_bytes.h"

using namespace kmod_sim::crypto;
using Bytes = std::vector<uint8_t>;

namespace {

Bytes hex(std::string_view text) {
    Bytes out;
    for (size_t i = 0; i + 1 < text.size(); i += 2) out.push_back(uint8_t(std::stoul(std::string(text.substr(i, 2)), nullptr, 16)));
    return out;
}

Bytes text(std::string_view s) { return Bytes(s.begin(), s.end()); }

Bytes repeat(uint8_t byte, size_t n) { return Bytes(n, byte); }

Bytes counting(uint8_t first, size_t n) {
    Bytes out(n);
    for (size_t i = 0; i < n; ++i) out[i] = uint8_t(first + i);
    return out;
}

void put32(Bytes& b, uint32_t v) {
    for (int s = 24; s >= 0; s -= 8) b.push_back(uint8_t(v >> s));
}

std::string to_hex(const Bytes& b) {
    static const char* digits = "0123456789abcdef";
    std::string out;
    for (uint8_t x : b) out += digits[x >> 4], out += digits[x & 15];
    return out;
}

struct Suite {
    Cipher cipher;
    Integrity integrity;
    const char* name;
};

const Suite kSuites[] = {
    {Cipher::chacha20_poly1305, Integrity::none, "chacha20-poly1305"},
    {Cipher::aes256_gcm16, Integrity::none, "aes256-gcm16"},
    {Cipher::null, Integrity::hmac_sha2_256_128, "null+hmac-sha2-256-128"},
    {Cipher::null, Integrity::hmac_sha2_512_256, "null+hmac-sha2-512-256"},
};

size_t key_size(const Suite& s) {
    return s.cipher == Cipher::null ? info(s.integrity).key_bits / 8 : info(s.cipher).key_bits / 8;
}

Bytes test_key(const Suite& s) { return counting(0x40, key_size(s)); }

// RFC 4303 §2.4 plaintext: payload, padding 1, 2, 3 ... to 4-byte alignment, pad length, next header.
Bytes esp_plaintext(const Bytes& payload, uint8_t next_header) {
    Bytes p = payload;
    const size_t pad = (4 - (payload.size() + 2) % 4) % 4;
    for (size_t i = 1; i <= pad; ++i) p.push_back(uint8_t(i));
    p.push_back(uint8_t(pad));
    p.push_back(next_header);
    return p;
}

// The oracle: an ESP packet carrying any plaintext (trailer included), built from the RFCs.
Bytes oracle(const Suite& s, const Bytes& key, bool esn, uint64_t iv_mask, uint32_t spi, uint64_t seq,
             const Bytes& plaintext) {
    Bytes esp;
    put32(esp, spi);
    put32(esp, uint32_t(seq));
    if (s.cipher == Cipher::null) {
        esp.insert(esp.end(), plaintext.begin(), plaintext.end());
        Bytes input = esp;
        if (esn) put32(input, uint32_t(seq >> 32));  // RFC 4303 §2.2.1
        if (s.integrity == Integrity::hmac_sha2_256_128) {
            crypto_auth_hmacsha256_state st;
            uint8_t mac[32];
            crypto_auth_hmacsha256_init(&st, key.data(), key.size());
            crypto_auth_hmacsha256_update(&st, input.data(), input.size());
            crypto_auth_hmacsha256_final(&st, mac);
            esp.insert(esp.end(), mac, mac + 16);
        } else {
            crypto_auth_hmacsha512_state st;
            uint8_t mac[64];
            crypto_auth_hmacsha512_init(&st, key.data(), key.size());
            crypto_auth_hmacsha512_update(&st, input.data(), input.size());
            crypto_auth_hmacsha512_final(&st, mac);
            esp.insert(esp.end(), mac, mac + 32);
        }
        return esp;
    }
    Bytes iv;
    put32(iv, uint32_t((seq ^ iv_mask) >> 32));
    put32(iv, uint32_t(seq ^ iv_mask));
    Bytes nonce(key.end() - 4, key.end());  // salt || IV
    nonce.insert(nonce.end(), iv.begin(), iv.end());
    Bytes aad;
    put32(aad, spi);
    if (esn) put32(aad, uint32_t(seq >> 32));
    put32(aad, uint32_t(seq));
    esp.insert(esp.end(), iv.begin(), iv.end());
    Bytes ct(plaintext.size() + 16);
    unsigned long long ct_len = 0;
    if (s.cipher == Cipher::chacha20_poly1305)
        crypto_aead_chacha20poly1305_ietf_encrypt(ct.data(), &ct_len, plaintext.data(), plaintext.size(), aad.data(),
                                                  aad.size(), nullptr, nonce.data(), key.data());
    else
        crypto_aead_aes256gcm_encrypt(ct.data(), &ct_len, plaintext.data(), plaintext.size(), aad.data(), aad.size(),
                                      nullptr, nonce.data(), key.data());
    esp.insert(esp.end(), ct.begin(), ct.begin() + long(ct_len));
    return esp;
}

bool usable(const Suite& s) { return available(s.cipher); }

}  // namespace

// ---- SecretBytes -------------------------------------------------------------------------------

template <typename T>
concept Printable = requires(std::ostream& os, const T& t) { os << t; };

// Keys have one owner and never reach a stream.
static_assert(!Printable<SecretBytes>);
static_assert(!std::is_copy_constructible_v<SecretBytes> && std::is_nothrow_move_constructible_v<SecretBytes>);
static_assert(!std::is_copy_constructible_v<Esp> && std::is_move_constructible_v<Esp>);
static_assert(!std::is_copy_constructible_v<Hmac>);

TEST_CASE("SecretBytes holds a copy, moves, and starts zeroed", "[secret]") {
    const Bytes key = counting(1, 36);
    SecretBytes a(key);
    REQUIRE(a.size() == 36);
    CHECK(std::memcmp(a.data(), key.data(), key.size()) == 0);
    SecretBytes b(std::move(a));
    CHECK(a.empty());
    CHECK(a.data() == nullptr);
    CHECK(b.size() == 36);
    CHECK(b.data()[35] == 36);
    SecretBytes c(20);
    CHECK(Bytes(c.bytes().begin(), c.bytes().end()) == Bytes(20, 0));
    c = std::move(b);
    CHECK(c.size() == 36);
    CHECK(b.empty());
    SecretBytes empty{0};
    CHECK(empty.empty());
}

// ---- HMAC, RFC 4868 §2.7 -------------------------------------------------------------------------

TEST_CASE("RFC 4868 §2.7.1 PRF test cases (full HMAC output)", "[hmac][kat]") {
    struct Case {
        const char* name;
        Bytes key, data;
        const char* sha256;
        const char* sha512;
    };
    const Case cases[] = {
        {"PRF-1", repeat(0x0b, 20), text("Hi There"),
         "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
         "87aa7cdea5ef619d4ff0b4241a1d6cb02379f4e2ce4ec2787ad0b30545e17cde"
         "daa833b7d6b8a702038b274eaea3f4e4be9d914eeb61f1702e696c203a126854"},
        {"PRF-2", text("Jefe"), text("what do ya want for nothing?"),
         "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
         "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea250554"
         "9758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737"},
    };
    for (const Case& c : cases) {
        INFO(c.name);
        Bytes out(64);
        Hmac(Integrity::hmac_sha2_256_128, c.key).compute({c.data}, out);
        CHECK(to_hex(Bytes(out.begin(), out.begin() + 32)) == c.sha256);
        Hmac(Integrity::hmac_sha2_512_256, c.key).compute({c.data}, out);
        CHECK(to_hex(out) == c.sha512);
    }
}

TEST_CASE("RFC 4868 §2.7.2 authentication test cases (ICVs at the ESP key sizes)", "[hmac][kat]") {
    struct Case {
        const char* name;
        Integrity integrity;
        Bytes key, data;
        const char* full;
    };
    const Case cases[] = {
        {"AUTH256-1", Integrity::hmac_sha2_256_128, repeat(0x0b, 32), text("Hi There"),
         "198a607eb44bfbc69903a0f1cf2bbdc5ba0aa3f3d9ae3c1c7a3b1696a0b68cf7"},
        {"AUTH256-2", Integrity::hmac_sha2_256_128, text("JefeJefeJefeJefeJefeJefeJefeJefe"),
         text("what do ya want for nothing?"),
         "167f928588c5cc2eef8e3093caa0e87c9ff566a14794aa61648d81621a2a40c6"},
        {"AUTH256-3", Integrity::hmac_sha2_256_128, repeat(0xaa, 32), repeat(0xdd, 50),
         "cdcb1220d1ecccea91e53aba3092f962e549fe6ce9ed7fdc43191fbde45c30b0"},
        {"AUTH256-4", Integrity::hmac_sha2_256_128, counting(1, 32), repeat(0xcd, 50),
         "372efcf9b40b35c2115b1346903d2ef42fced46f0846e7257bb156d3d7b30d3f"},
        {"AUTH512-1", Integrity::hmac_sha2_512_256, repeat(0x0b, 64), text("Hi There"),
         "637edc6e01dce7e6742a99451aae82df23da3e92439e590e43e761b33e910fb8"
         "ac2878ebd5803f6f0b61dbce5e251ff8789a4722c1be65aea45fd464e89f8f5b"},
    };
    for (const Case& c : cases) {
        INFO(c.name);
        const Hmac mac(c.integrity, c.key);
        const Bytes full = hex(c.full);
        const Bytes truncated(full.begin(), full.begin() + long(mac.icv_size()));
        Bytes out(mac.output_size());
        mac.compute({c.data}, out);
        CHECK(to_hex(out) == c.full);
        Bytes icv(mac.icv_size());
        mac.icv({c.data}, icv);
        CHECK(icv == truncated);
        // Split input gives the same answer: the keyed state is copied, never consumed.
        const Bytes head(c.data.begin(), c.data.begin() + 3), tail(c.data.begin() + 3, c.data.end());
        CHECK(mac.verify({head, tail}, truncated));
        CHECK(mac.verify({c.data}, truncated));
        Bytes bad = truncated;
        bad.back() ^= 1;
        CHECK_FALSE(mac.verify({c.data}, bad));
        CHECK_FALSE(mac.verify({c.data}, full));  // the untruncated value is not the ICV
    }
}

// ---- AES-GCM primitive, GCM spec test cases 14-16 --------------------------------------------------

TEST_CASE("AES-256-GCM primitive: McGrew/Viega test cases 14, 15, 16 through beforenm/afternm", "[gcm][kat]") {
    if (!available(Cipher::aes256_gcm16)) {
        WARN("no AES-NI/PCLMUL: AES-GCM not tested");
        return;
    }
    const Bytes k15 = hex("feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308");
    const Bytes iv15 = hex("cafebabefacedbaddecaf888");
    const Bytes p15 = hex("d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
                          "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255");
    const Bytes c15 = hex("522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
                          "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662898015ad");
    struct Case {
        const char* name;
        Bytes key, iv, plain, aad, cipher, tag;
    };
    const Case cases[] = {
        {"TC14", Bytes(32), Bytes(12), Bytes(16), {}, hex("cea7403d4d606b6e074ec5d3baf39d18"),
         hex("d0d1c8a799996bf0265b98b5d48ab919")},
        {"TC15", k15, iv15, p15, {}, c15, hex("b094dac5d93471bdec1a502270e3cc6c")},
        {"TC16", k15, iv15, Bytes(p15.begin(), p15.begin() + 60), hex("feedfacedeadbeeffeedfacedeadbeefabaddad2"),
         Bytes(c15.begin(), c15.begin() + 60), hex("76fc6ece0f4e1768cddf8853bb2d551b")},
    };
    for (const Case& c : cases) {
        INFO(c.name);
        alignas(16) crypto_aead_aes256gcm_state st;
        crypto_aead_aes256gcm_beforenm(&st, c.key.data());
        Bytes out(c.plain.size()), tag(16);
        crypto_aead_aes256gcm_encrypt_detached_afternm(out.data(), tag.data(), nullptr, c.plain.data(), c.plain.size(),
                                                       c.aad.data(), c.aad.size(), nullptr, c.iv.data(), &st);
        CHECK(out == c.cipher);
        CHECK(tag == c.tag);
    }
}

// ---- ESP framing against the oracle -------------------------------------------------------------

TEST_CASE("RFC 7539 §2.8.2 AEAD vector opened as an ESN ESP packet", "[esp][kat]") {
    // Key 80..9f, nonce 07000000 || 4041424344454647, AAD 50515253 c0c1c2c3 c4c5c6c7. As ESP
    // (RFC 7634): salt 07000000, SPI 0x50515253, seq 0xc0c1c2c3_c4c5c6c7 with ESN, and an IV
    // mask that turns that seq into IV 4041424344454647. The plaintext ends "t." which, read as
    // an ESP trailer, is pad length 0x74 > 112: so the ICV passes and the trailer is refused.
    Bytes key = counting(0x80, 32);
    const Bytes salt = hex("07000000");
    key.insert(key.end(), salt.begin(), salt.end());
    const uint64_t seq = 0xc0c1c2c3c4c5c6c7ULL;
    const uint64_t mask = seq ^ 0x4041424344454647ULL;
    const Bytes ct = hex("d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d6"
                         "3dbea45e8ca9671282fafb69da92728b1a71de0a9e060b2905d6a5b67ecd3b36"
                         "92ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc"
                         "3ff4def08e4b7a9de576d26586cec64b6116");
    const Bytes tag = hex("1ae10b594f09e26a7e902ecbd0600691");
    Bytes esp = hex("50515253c4c5c6c74041424344454647");
    esp.insert(esp.end(), ct.begin(), ct.end());
    esp.insert(esp.end(), tag.begin(), tag.end());

    const Esp sa(Cipher::chacha20_poly1305, Integrity::none, key, true, mask);
    Bytes out;
    const EspOpened r = sa.open(esp, 0xc0c1c2c3, out);
    CHECK(r.status == EspStatus::bad_pad_length);
    CHECK(r.seq == seq);
    CHECK(out.empty());
    // The wrong high half changes the AAD: now the ICV fails.
    CHECK(sa.open(esp, 0xc0c1c2c2, out).status == EspStatus::icv_mismatch);
}

TEST_CASE("seal matches the RFC oracle byte for byte; open returns the payload", "[esp]") {
    for (const Suite& s : kSuites) {
        if (!usable(s)) {
            WARN(s.name << " not available on this CPU");
            continue;
        }
        for (bool esn : {false, true}) {
            const Bytes key = test_key(s);
            const uint64_t mask = 0x0123456789abcdefULL;
            const Esp sa(s.cipher, s.integrity, key, esn, mask);
            Bytes sealed, opened;
            for (size_t n = 0; n <= 300; ++n) {
                INFO(s.name << (esn ? " esn" : "") << " payload " << n);
                const Bytes payload = counting(uint8_t(n), n);
                const uint64_t seq = esn ? (uint64_t(7) << 32 | (n + 1)) : n + 1;
                sealed.clear();
                REQUIRE(sa.seal(0x01020304, seq, payload, 4, sealed));
                REQUIRE(sealed == oracle(s, key, esn, mask, 0x01020304, seq, esp_plaintext(payload, 4)));
                CHECK(sealed.size() == sa.sealed_size(n));
                CHECK((sealed.size() - sa.icv_size()) % 4 == 0);  // the ICV starts 4-byte aligned
                const auto h = Esp::header(sealed);
                REQUIRE(h);
                CHECK(h->spi == 0x01020304);
                CHECK(h->seq_low == uint32_t(seq));
                const EspOpened r = sa.open(sealed, uint32_t(seq >> 32), opened);
                REQUIRE(r.status == EspStatus::ok);
                CHECK(r.next_header == 4);
                CHECK(r.seq == seq);
                CHECK(opened == payload);
            }
        }
    }
}

TEST_CASE("seal appends after what the caller already wrote", "[esp]") {
    const Suite& s = kSuites[0];
    const Esp sa(s.cipher, s.integrity, test_key(s), false);
    Bytes out = {0xaa, 0xbb};
    REQUIRE(sa.seal(9, 1, Bytes{1, 2, 3}, 41, out));
    CHECK(out.size() == 2 + sa.sealed_size(3));
    CHECK(out[0] == 0xaa);
    Bytes opened;
    CHECK(sa.open(std::span<const uint8_t>(out).subspan(2), 0, opened).status == EspStatus::ok);
    CHECK(opened == Bytes{1, 2, 3});
}

TEST_CASE("IV is the sequence number XOR the per-SA mask, random by default", "[esp]") {
    const Suite& s = kSuites[0];
    const Bytes key = test_key(s);
    const Esp fixed(s.cipher, s.integrity, key, false, 0xff00ff00ff00ff00ULL);
    Bytes out;
    REQUIRE(fixed.seal(1, 5, Bytes{}, 59, out));
    CHECK(Bytes(out.begin() + 8, out.begin() + 16) == hex("ff00ff00ff00ff05"));
    // Two SAs with the same key draw different masks, so their IVs differ for the same seq.
    const Esp a(s.cipher, s.integrity, key, false), b(s.cipher, s.integrity, key, false);
    Bytes oa, ob;
    REQUIRE(a.seal(1, 1, Bytes{}, 4, oa));
    REQUIRE(b.seal(1, 1, Bytes{}, 4, ob));
    CHECK(Bytes(oa.begin() + 8, oa.begin() + 16) != Bytes(ob.begin() + 8, ob.begin() + 16));
}

TEST_CASE("seal refuses sequence numbers that would repeat a nonce", "[esp]") {
    for (const Suite& s : kSuites) {
        if (!usable(s)) continue;
        INFO(s.name);
        const Esp plain(s.cipher, s.integrity, test_key(s), false);
        const Esp esn(s.cipher, s.integrity, test_key(s), true);
        Bytes out;
        CHECK_FALSE(plain.seal(1, 0, Bytes{}, 4, out));
        CHECK_FALSE(plain.seal(1, uint64_t{1} << 32, Bytes{}, 4, out));
        CHECK(out.empty());
        CHECK(plain.seal(1, 0xffffffff, Bytes{}, 4, out));
        out.clear();
        CHECK_FALSE(esn.seal(1, 0, Bytes{}, 4, out));
        CHECK(esn.seal(1, uint64_t{1} << 32, Bytes{}, 4, out));
    }
}

TEST_CASE("every single-bit flip is an ICV mismatch", "[esp]") {
    for (const Suite& s : kSuites) {
        if (!usable(s)) continue;
        for (bool esn : {false, true}) {
            const Esp sa(s.cipher, s.integrity, test_key(s), esn);
            for (size_t n : {0, 1, 2, 3, 57, 300}) {
                Bytes sealed, out;
                REQUIRE(sa.seal(0x1000, 0x100000002ULL & (esn ? ~0ULL : 0xffffffffULL), counting(0, n), 4, sealed));
                for (size_t bit = 0; bit < sealed.size() * 8; ++bit) {
                    Bytes bad = sealed;
                    bad[bit / 8] ^= uint8_t(1 << (bit % 8));
                    INFO(s.name << (esn ? " esn" : "") << " payload " << n << " bit " << bit);
                    REQUIRE(sa.open(bad, esn ? 1 : 0, out).status == EspStatus::icv_mismatch);
                    REQUIRE(out.empty());
                }
            }
        }
    }
}

TEST_CASE("truncated packets are refused", "[esp]") {
    for (const Suite& s : kSuites) {
        if (!usable(s)) continue;
        const Esp sa(s.cipher, s.integrity, test_key(s), false);
        Bytes sealed, out;
        REQUIRE(sa.seal(7, 3, counting(0, 40), 4, sealed));
        const size_t minimum = Esp::kHeaderSize + sa.iv_size() + 2 + sa.icv_size();
        for (size_t len = 0; len < sealed.size(); ++len) {
            INFO(s.name << " length " << len);
            const EspStatus st = sa.open(std::span<const uint8_t>(sealed).first(len), 0, out).status;
            CHECK(st == (len < minimum ? EspStatus::too_short : EspStatus::icv_mismatch));
            CHECK(out.empty());
        }
        CHECK_FALSE(Esp::header(std::span<const uint8_t>(sealed).first(7)));
    }
}

TEST_CASE("authenticated but malformed trailers: pad length, padding bytes, dummy packets", "[esp]") {
    for (const Suite& s : kSuites) {
        if (!usable(s)) continue;
        for (bool esn : {false, true}) {
            INFO(s.name << (esn ? " esn" : ""));
            const Bytes key = test_key(s);
            const uint64_t mask = 42;
            const uint64_t seq = esn ? (uint64_t(3) << 32 | 9) : 9;
            const Esp sa(s.cipher, s.integrity, key, esn, mask);
            Bytes out;
            auto open = [&](const Bytes& plaintext) {
                return sa.open(oracle(s, key, esn, mask, 5, seq, plaintext), uint32_t(seq >> 32), out);
            };
            // Pad length 3 with only 2 bytes before the trailer.
            CHECK(open({0xaa, 0xbb, 3, 4}).status == EspStatus::bad_pad_length);
            CHECK(out.empty());
            // Pad length 2 over the whole plaintext but the bytes are not 1, 2.
            CHECK(open({1, 3, 2, 4}).status == EspStatus::bad_padding);
            CHECK(open({2, 1, 2, 4}).status == EspStatus::bad_padding);
            CHECK(open({1, 2, 2, 4}).status == EspStatus::ok);
            CHECK(out.empty());
            // Extra padding beyond the minimum is legal (RFC 4303 §2.4 allows up to 255).
            Bytes extra = {9, 8, 7};
            for (int i = 1; i <= 5; ++i) extra.push_back(uint8_t(i));
            extra.push_back(5);
            extra.push_back(41);
            const EspOpened r = open(extra);
            CHECK(r.status == EspStatus::ok);
            CHECK(r.next_header == 41);
            CHECK(out == Bytes{9, 8, 7});
            // Next header 59: a dummy packet, authenticated, to be dropped silently.
            const EspOpened d = open(esp_plaintext({1, 2, 3, 4, 5}, 59));
            CHECK(d.status == EspStatus::dummy_packet);
            CHECK(d.seq == seq);
            CHECK(out.empty());
            // Plaintext of just a trailer: an empty payload, which is fine.
            CHECK(open({0, 4}).status == EspStatus::ok);
        }
    }
}

TEST_CASE("ESN: the high half is authenticated though it never travels", "[esp][esn]") {
    for (const Suite& s : kSuites) {
        if (!usable(s)) continue;
        INFO(s.name);
        const Esp sa(s.cipher, s.integrity, test_key(s), true);
        Bytes sealed, out;
        REQUIRE(sa.seal(1, uint64_t(5) << 32 | 17, Bytes{1, 2, 3}, 4, sealed));
        CHECK(Esp::header(sealed)->seq_low == 17);
        CHECK(sa.open(sealed, 4, out).status == EspStatus::icv_mismatch);
        CHECK(sa.open(sealed, 6, out).status == EspStatus::icv_mismatch);
        const EspOpened r = sa.open(sealed, 5, out);
        CHECK(r.status == EspStatus::ok);
        CHECK(r.seq == (uint64_t(5) << 32 | 17));
        // An SA without ESN authenticates a different input: it must not accept these bytes.
        const Esp plain(s.cipher, s.integrity, test_key(s), false, 0);
        CHECK(plain.open(sealed, 0, out).status == EspStatus::icv_mismatch);
    }
}

TEST_CASE("a wrong key or SPI is an ICV mismatch", "[esp]") {
    for (const Suite& s : kSuites) {
        if (!usable(s)) continue;
        INFO(s.name);
        const Esp sa(s.cipher, s.integrity, test_key(s), false);
        Bytes other_key = test_key(s);
        other_key[0] ^= 1;
        const Esp other(s.cipher, s.integrity, other_key, false);
        Bytes sealed, out;
        REQUIRE(sa.seal(1, 1, Bytes{1, 2, 3}, 4, sealed));
        CHECK(other.open(sealed, 0, out).status == EspStatus::icv_mismatch);
        if (s.cipher != Cipher::null) {
            // The salt is part of the nonce.
            Bytes other_salt = test_key(s);
            other_salt.back() ^= 1;
            CHECK(Esp(s.cipher, s.integrity, other_salt, false).open(sealed, 0, out).status == EspStatus::icv_mismatch);
        }
    }
}

TEST_CASE("unusable combinations and key sizes are refused with a message", "[esp]") {
    CHECK(Esp::check(Cipher::chacha20_poly1305, Integrity::none, 36).empty());
    CHECK(Esp::check(Cipher::null, Integrity::hmac_sha2_256_128, 32).empty());
    CHECK(Esp::check(Cipher::null, Integrity::hmac_sha2_512_256, 64).empty());
    CHECK_THAT(Esp::check(Cipher::chacha20_poly1305, Integrity::none, 32), Catch::Contains("must be 36"));
    CHECK_THAT(Esp::check(Cipher::null, Integrity::hmac_sha2_512_256, 32), Catch::Contains("must be 64"));
    CHECK_THAT(Esp::check(Cipher::null, Integrity::none, 0), Catch::Contains("needs hmac"));
    CHECK_THAT(Esp::check(Cipher::chacha20_poly1305, Integrity::hmac_sha2_256_128, 36),
               Catch::Contains("integrity none"));
    if (available(Cipher::aes256_gcm16))
        CHECK(Esp::check(Cipher::aes256_gcm16, Integrity::none, 36).empty());
    else
        CHECK_THAT(Esp::check(Cipher::aes256_gcm16, Integrity::none, 36), Catch::Contains("AES-NI"));
    const Bytes short_key(20);
    CHECK_THROWS_AS(Esp(Cipher::chacha20_poly1305, Integrity::none, short_key, false), std::invalid_argument);
}

TEST_CASE("an SA moves with its keys", "[esp]") {
    const Suite& s = kSuites[2];
    Esp a(s.cipher, s.integrity, test_key(s), false);
    Bytes sealed, out;
    REQUIRE(a.seal(1, 1, Bytes{7}, 4, sealed));
    const Esp b(std::move(a));
    CHECK(b.open(sealed, 0, out).status == EspStatus::ok);
    CHECK(out == Bytes{7});
}
