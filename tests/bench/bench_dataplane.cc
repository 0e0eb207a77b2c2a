// Benchmark of the data plane (not a test: it prints figures and never fails on time). Every
// figure comes with its limit measured in the same run on the same bytes: raw libsodium for
// ESP and AH, raw zlib for IPComp, the single-flow figure for the 10k-flow one; the ratio is
// engine / limit.
//
//   build/tests/bench/bench_dataplane [--quick] [--only esp|ah|group|flows|alloc]
//
// Method (spec/dataplane.md §5): one core (sched_setaffinity), each cell several timed
// repetitions (engine and limit alternating, so that a neighbour's noise hits both), median
// taken; timed by the thread's CPU clock (CLOCK_THREAD_CPUTIME_ID), so that time the thread
// spends descheduled on a shared machine is not counted; "spread" is (max - min) / median of the engine's repetitions. Sizes are whole inner
// IPv4 packets (20-byte header, UDP); GB/s = 10^9 inner-packet bytes per second. Packets for
// rcv are made by xmit beforehand and received on a fresh Klips holding the same SAs and keys
// (replay window 32), one fresh instance per pass over them, built outside the timed part.
// The raw limits: AEAD in place on the same number of bytes, AAD 8 bytes, a new nonce per
// call (AES-GCM with beforenm once); HMAC with a pre-keyed state copied per packet; zlib
// deflate level 1 (windowBits -11, memLevel 9, deflateReset per packet), inflate -15.
//
// Last: heap allocations per packet on the ESP paths, counted by replacing operator new and
// malloc/calloc/realloc in this program.
#include <sched.h>
#include <time.h>
#include <sodium.h>
#include <zlib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <iterator>
#include <memory>
#include <new>
#include <optional>
#include <string>
#include <vector>

#include "kmod_sim/module/klips.h"
#include "kmod_sim/module/sa_transform.h"
#include "kmod_sim/module/security_association.h"

// ---- allocation counters (section 5)

namespace {
std::atomic<uint64_t> g_news{0};     // operator new, every form
std::atomic<uint64_t> g_mallocs{0};  // malloc, calloc, realloc (operator new's included)
}  // namespace

extern "C" {
void* __libc_malloc(size_t);
void* __libc_calloc(size_t, size_t);
void* __libc_realloc(void*, size_t);
void __libc_free(void*);

void* malloc(size_t n) noexcept {
    g_mallocs.fetch_add(1, std::memory_order_relaxed);
    return __libc_malloc(n);
}
void* calloc(size_t n, size_t m) noexcept {
    g_mallocs.fetch_add(1, std::memory_order_relaxed);
    return __libc_calloc(n, m);
}
void* realloc(void* p, size_t n) noexcept {
    g_mallocs.fetch_add(1, std::memory_order_relaxed);
    return __libc_realloc(p, n);
}
void free(void* p) noexcept { __libc_free(p); }
}

namespace {
void* counted_new(size_t n) {
    g_news.fetch_add(1, std::memory_order_relaxed);
    if (void* p = std::malloc(n ? n : 1)) return p;
    throw std::bad_alloc();
}
void* counted_new_aligned(size_t n, std::align_val_t a) {
    g_news.fetch_add(1, std::memory_order_relaxed);
    const size_t align = static_cast<size_t>(a);
    if (void* p = std::aligned_alloc(align, (n + align - 1) / align * align)) return p;
    throw std::bad_alloc();
}
}  // namespace

void* operator new(size_t n) { return counted_new(n); }
void* operator new[](size_t n) { return counted_new(n); }
void* operator new(size_t n, const std::nothrow_t&) noexcept {
    try {
        return counted_new(n);
    } catch (...) {
        return nullptr;
    }
}
void* operator new[](size_t n, const std::nothrow_t&) noexcept {
    try {
        return counted_new(n);
    } catch (...) {
        return nullptr;
    }
}
void* operator new(size_t n, std::align_val_t a) { return counted_new_aligned(n, a); }
void* operator new[](size_t n, std::align_val_t a) { return counted_new_aligned(n, a); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, size_t) noexcept { std::free(p); }
void operator delete[](void* p, size_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, size_t, std::align_val_t) noexcept { std::free(p); }

using namespace kmod_sim;
using Timer = std::chrono::steady_clock;
using Bytes = std::vector<uint8_t>;

namespace {

// ---- settings

int g_reps = 7;                 // timed repetitions per cell
double g_rep_seconds = 0.07;    // timed CPU seconds per repetition
volatile uint64_t g_sink;       // keeps baseline results alive

double seconds_since(Timer::time_point start) { return std::chrono::duration<double>(Timer::now() - start).count(); }

// The timed parts run on this thread's CPU clock, not the wall clock: on a machine shared with
// other work, time spent descheduled is not counted against the engine or the limit (caches
// and the other hyperthread still are).
struct CpuClock {
    using time_point = double;
    static double now() {
        timespec ts;
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
        return double(ts.tv_sec) + double(ts.tv_nsec) * 1e-9;
    }
};
double cpu_since(double start) { return CpuClock::now() - start; }

// ---- packets

void put16(uint8_t* p, uint16_t v) {
    p[0] = static_cast<uint8_t>(v >> 8);
    p[1] = static_cast<uint8_t>(v);
}

uint16_t ip_checksum(const uint8_t* p, size_t n) {
    uint32_t sum = 0;
    for (size_t i = 0; i < n; i += 2) sum += static_cast<uint32_t>(p[i] << 8 | p[i + 1]);
    while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
    return static_cast<uint16_t>(~sum);
}

void set_source(Bytes& p, uint32_t src_host_order) {
    p[12] = static_cast<uint8_t>(src_host_order >> 24);
    p[13] = static_cast<uint8_t>(src_host_order >> 16);
    p[14] = static_cast<uint8_t>(src_host_order >> 8);
    p[15] = static_cast<uint8_t>(src_host_order);
    p[10] = p[11] = 0;
    put16(&p[10], ip_checksum(p.data(), 20));
}

// A UDP/IPv4 packet of `total` bytes from src to dst, its data taken from `fill` (cycled).
Bytes udp_packet(uint32_t src, uint32_t dst, size_t total, const uint8_t* fill, size_t fill_size, uint16_t id) {
    Bytes p(total);
    p[0] = 0x45;
    put16(&p[2], static_cast<uint16_t>(total));
    put16(&p[4], id);
    p[8] = 64;
    p[9] = 17;
    for (int i = 0; i < 4; ++i) p[16 + i] = static_cast<uint8_t>(dst >> (24 - 8 * i));
    put16(&p[20], 5001);  // never 500: IKE would leave in the clear
    put16(&p[22], 5002);
    put16(&p[24], static_cast<uint16_t>(total - 20));
    for (size_t i = 28; i < total; ++i) p[i] = fill[(i - 28) % fill_size];
    set_source(p, src);
    return p;
}

constexpr uint32_t kInnerSrc = 0x0a010005;  // 10.1.0.5
constexpr uint32_t kInnerDst = 0x0a020007;  // 10.2.0.7
constexpr uint32_t kGwLocal = 0xc0000201;   // 192.0.2.1
constexpr uint32_t kGwPeer = 0xc0000202;    // 192.0.2.2

// Text for IPComp: the licence texts of this machine, 1380-byte slices (a UDP payload of a
// 1400-byte packet, less the UDP header: the slices fill from byte 28).
std::vector<Bytes> text_slices(size_t slice, size_t max_slices, std::string* source) {
    std::string text;
    for (const char* name : {"GPL-3", "GPL-2", "LGPL-2.1", "Apache-2.0", "MPL-2.0", "GFDL-1.3", "Artistic"}) {
        std::ifstream in(std::string("/usr/share/common-licenses/") + name, std::ios::binary);
        text.append(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    }
    *source = "/usr/share/common-licenses (GPL-3, GPL-2, LGPL-2.1, Apache-2.0, MPL-2.0, GFDL-1.3, Artistic)";
    if (text.size() < slice * 4) {
        *source = "synthetic English-like text (no /usr/share/common-licenses here)";
        const char* words[] = {"the ", "licence ", "program ", "software ", "free ", "of ", "and ", "to ",
                               "copy ", "modify ", "distribute ", "source ", "code ", "work ", "you ", "any "};
        uint64_t s = 88172645463325252ull;
        while (text.size() < slice * 60) {
            s ^= s << 13, s ^= s >> 7, s ^= s << 17;
            text += words[s % 16];
        }
    }
    std::vector<Bytes> out;
    for (size_t at = 0; at + slice <= text.size() && out.size() < max_slices; at += slice)
        out.emplace_back(text.begin() + static_cast<std::ptrdiff_t>(at), text.begin() + static_cast<std::ptrdiff_t>(at + slice));
    return out;
}

// A set of packets stored back to back.
struct PacketSet {
    Bytes bytes;
    std::vector<std::pair<size_t, size_t>> at;  // offset, size
    void add(std::span<const uint8_t> p) {
        at.emplace_back(bytes.size(), p.size());
        bytes.insert(bytes.end(), p.begin(), p.end());
    }
    std::span<const uint8_t> operator[](size_t i) const { return {bytes.data() + at[i].first, at[i].second}; }
    size_t size() const { return at.size(); }
};

// ---- SAs and instances

struct SaSpec {
    uint8_t proto = 0;
    uint32_t spi = 0;
    uint32_t src = kGwLocal, dst = kGwPeer;
    uint8_t enc_alg = pfkey::kEncryptNone;
    uint8_t auth_alg = pfkey::kAuthNone;
    Bytes enc_key, auth_key;
    Said said() const { return Said{IpAddress::v4(dst), spi, proto}; }
};

// SAs inner to outer (grouped in that order); the eroutes point at the first.
struct Scenario {
    std::string name;
    std::vector<SaSpec> sas;
    std::vector<EroutSelector> selectors;
};

Bytes key_bytes(size_t n, uint8_t seed) {
    Bytes k(n);
    for (size_t i = 0; i < n; ++i) k[i] = static_cast<uint8_t>(seed + 7 * i);
    return k;
}

SaSpec esp_aead(uint8_t alg, uint32_t spi = 0x2000) {
    SaSpec s;
    s.proto = kSaEsp;
    s.spi = spi;
    s.enc_alg = alg;
    s.enc_key = key_bytes(36, 0x11);  // 32-byte key, 4-byte salt
    return s;
}

SaSpec ah_hmac(uint8_t alg, uint32_t src, uint32_t dst, uint32_t spi = 0x3000) {
    SaSpec s;
    s.proto = kSaAh;
    s.spi = spi;
    s.src = src;
    s.dst = dst;
    s.auth_alg = alg;
    s.auth_key = key_bytes(alg == pfkey::kAuthSha2_512 ? 64 : 32, 0x22);
    return s;
}

SaSpec plain_sa(uint8_t proto, uint32_t spi, uint32_t src = kGwLocal, uint32_t dst = kGwPeer) {
    SaSpec s;
    s.proto = proto;
    s.spi = spi;
    s.src = src;
    s.dst = dst;
    if (proto == kSaComp) s.enc_alg = pfkey::kCompDeflate;
    return s;
}

EroutSelector subnet_selector(uint32_t src, int src_bits, uint32_t dst, int dst_bits) {
    EroutSelector e;
    e.src_mask = mask_from_bits(AddressFamily::inet, src_bits);
    e.dst_mask = mask_from_bits(AddressFamily::inet, dst_bits);
    e.src = IpAddress::v4(src).masked(e.src_mask);
    e.dst = IpAddress::v4(dst).masked(e.dst_mask);
    return e;
}

[[noreturn]] void die(const std::string& why) {
    std::printf("!! setup failed: %s\n", why.c_str());
    std::exit(1);
}

std::shared_ptr<ManualClock> g_clock = std::make_shared<ManualClock>(1000);

// An instance with the scenario's SAs (replay window 32) and, for the sending side, its eroutes.
std::unique_ptr<Klips> build(const Scenario& sc, bool receiver) {
    KlipsConfig c;
    c.clock = g_clock;
    if (receiver) c.is_local_address = [](const IpAddress& a) { return a == IpAddress::v4(kGwPeer) || a == IpAddress::v4(kInnerDst); };
    auto k = std::make_unique<Klips>(c);
    for (const SaSpec& s : sc.sas) {
        SecurityAssociation sa;
        sa.said = s.said();
        sa.src = IpAddress::v4(s.src);
        sa.state = pfkey::kSaStateMature;
        sa.replay_window = 32;
        sa.enc_alg = s.enc_alg;
        sa.auth_alg = s.auth_alg;
        if (s.proto == kSaEsp) {
            sa.enc_key_bits = static_cast<uint16_t>(s.enc_key.size() * 8);
            sa.auth_bits = 128;
        } else if (s.proto == kSaAh) {
            sa.auth_key_bits = static_cast<uint16_t>(s.auth_key.size() * 8);
            sa.auth_bits = s.auth_alg == pfkey::kAuthSha2_512 ? 256 : 128;
        }
        std::string error;
        sa.transform = make_sa_transform(sa, SaKeys{s.auth_key, s.enc_key}, &error);
        if (!sa.transform) die(sc.name + ": make_sa_transform: " + error);
        if (int e = k->add_sa(std::move(sa))) die(sc.name + ": add_sa errno " + std::to_string(e));
    }
    for (size_t i = 0; i + 1 < sc.sas.size(); ++i)
        if (int e = k->group_sas(sc.sas[i].said(), sc.sas[i + 1].said())) die(sc.name + ": group_sas errno " + std::to_string(e));
    if (!receiver) {
        for (const EroutSelector& sel : sc.selectors) {
            EroutRequest r;
            r.selector = sel;
            r.said = sc.sas.front().said();
            if (int e = k->add_eroute(r)) die(sc.name + ": add_eroute errno " + std::to_string(e));
        }
    }
    return k;
}

// ---- verdict bookkeeping: nothing is hidden

struct Failures {
    uint64_t count = 0;
    std::string first;
    void check(const PacketResult& r, PacketVerdict want) {
        if (r.verdict == want) return;
        if (count++ == 0) first = describe(r);
    }
    void report(const std::string& what) {
        if (count) std::printf("  !! %s: %" PRIu64 " packets not %s; first: %s\n", what.c_str(), count,
                               what.find("rcv") != std::string::npos ? "delivered" : "sent", first.c_str());
        count = 0;
        first.clear();
    }
};

// ---- timing

struct Chunk {
    uint64_t ops;
    double seconds;  // of the timed part only
};
using ChunkFn = std::function<Chunk()>;

double run_rep(const ChunkFn& f) {
    double t = 0;
    uint64_t ops = 0;
    while (t < g_rep_seconds) {
        const Chunk c = f();
        t += c.seconds;
        ops += c.ops;
    }
    return ops / t;
}

struct Stat {
    double median = 0, spread = 0;  // ops/s; (max - min) / median
};

Stat stat_of(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    Stat s;
    s.median = v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
    s.spread = (v.back() - v.front()) / s.median;
    return s;
}

// Engine and limit, alternating repetitions.
std::pair<Stat, Stat> measure_pair(const ChunkFn& engine, const ChunkFn& limit) {
    (void)engine();  // warm
    (void)limit();
    std::vector<double> a, b;
    for (int r = 0; r < g_reps; ++r) {
        a.push_back(run_rep(engine));
        b.push_back(run_rep(limit));
    }
    return {stat_of(a), stat_of(b)};
}

// ---- report

struct Row {
    std::string section, name;
    double pps, gbps;
    double limit_pps, limit_gbps;
    std::string limit_name;
    std::string target;
    double spread;
};
std::vector<Row> g_rows;
std::string g_section;

void section(const std::string& title) {
    g_section = title;
    std::printf("\n%s\n", title.c_str());
    std::fflush(stdout);
}

// bytes: inner-packet bytes per packet, for GB/s.
void report(const std::string& name, Stat engine, Stat limit, size_t bytes, const std::string& limit_name,
            const std::string& target = "") {
    const double ratio = limit.median > 0 ? engine.median / limit.median : 0;
    std::printf("  %-34s %8.4f Mpps %7.3f GB/s (±%2.0f%%) | %-34s %8.4f Mpps %7.3f GB/s | ratio %.2f%s%s\n",
                name.c_str(), engine.median / 1e6, engine.median * bytes / 1e9, 100 * engine.spread,
                limit_name.c_str(), limit.median / 1e6, limit.median * bytes / 1e9, ratio,
                target.empty() ? "" : "  target ", target.c_str());
    std::fflush(stdout);
    g_rows.push_back({g_section, name, engine.median, engine.median * bytes / 1e9, limit.median,
                      limit.median * bytes / 1e9, limit_name, target, engine.spread});
}

// ---- raw libsodium

struct RawAead {
    uint8_t alg;
    Bytes key = key_bytes(32, 0x11);
    crypto_aead_aes256gcm_state* gcm = nullptr;  // beforenm once
    uint8_t aad[8] = {0, 0, 0x20, 0, 0, 0, 0, 1};
    uint8_t nonce[12] = {1, 2, 3, 4};
    uint64_t counter = 0;

    explicit RawAead(uint8_t a) : alg(a) {
        if (alg == pfkey::kEncryptAesGcm16) {
            gcm = static_cast<crypto_aead_aes256gcm_state*>(sodium_malloc(sizeof(crypto_aead_aes256gcm_state)));
            crypto_aead_aes256gcm_beforenm(gcm, key.data());
        }
    }
    ~RawAead() {
        if (gcm) sodium_free(gcm);
    }
    RawAead(const RawAead&) = delete;
    RawAead& operator=(const RawAead&) = delete;

    void next_nonce() {
        ++counter;
        std::memcpy(nonce + 4, &counter, 8);
        std::memcpy(aad + 4, &counter, 4);
    }
    void encrypt(uint8_t* p, size_t n, uint8_t* tag) {
        next_nonce();
        if (gcm)
            crypto_aead_aes256gcm_encrypt_detached_afternm(p, tag, nullptr, p, n, aad, 8, nullptr, nonce, gcm);
        else
            crypto_aead_chacha20poly1305_ietf_encrypt_detached(p, tag, nullptr, p, n, aad, 8, nullptr, nonce, key.data());
    }
    // With the nonce and AAD of call number `which` (1-based) of encrypt.
    bool decrypt(uint8_t* p, size_t n, const uint8_t* tag, uint64_t which) {
        uint8_t nn[12], ad[8];
        std::memcpy(nn, nonce, 4);
        std::memcpy(nn + 4, &which, 8);
        std::memcpy(ad, aad, 4);
        std::memcpy(ad + 4, &which, 4);
        if (gcm) return crypto_aead_aes256gcm_decrypt_detached_afternm(p, nullptr, p, n, tag, ad, 8, nn, gcm) == 0;
        return crypto_aead_chacha20poly1305_ietf_decrypt_detached(p, nullptr, p, n, tag, ad, 8, nn, key.data()) == 0;
    }
};

// N ciphertexts of one size, each with its own nonce; restored before each pass over them.
struct RawCipherSet {
    size_t n, size;
    Bytes pristine, work, tags;
    std::vector<uint64_t> which;
    RawCipherSet(RawAead& aead, const Bytes& plain, size_t count) : n(count), size(plain.size()) {
        pristine.resize(n * size);
        tags.resize(n * 16);
        for (size_t i = 0; i < n; ++i) {
            std::memcpy(&pristine[i * size], plain.data(), size);
            aead.encrypt(&pristine[i * size], size, &tags[i * 16]);
            which.push_back(aead.counter);
        }
        work = pristine;
    }
};

struct RawHmac {
    bool sha512;
    crypto_auth_hmacsha256_state s256;
    crypto_auth_hmacsha512_state s512;
    explicit RawHmac(uint8_t alg) : sha512(alg == pfkey::kAuthSha2_512) {
        const Bytes k = key_bytes(sha512 ? 64 : 32, 0x22);
        if (sha512) crypto_auth_hmacsha512_init(&s512, k.data(), k.size());
        else crypto_auth_hmacsha256_init(&s256, k.data(), k.size());
    }
    size_t icv() const { return sha512 ? 32 : 16; }
    void mac(const uint8_t* p, size_t n, uint8_t* out) const {
        uint8_t full[64];
        if (sha512) {
            crypto_auth_hmacsha512_state st = s512;
            crypto_auth_hmacsha512_update(&st, p, n);
            crypto_auth_hmacsha512_final(&st, full);
        } else {
            crypto_auth_hmacsha256_state st = s256;
            crypto_auth_hmacsha256_update(&st, p, n);
            crypto_auth_hmacsha256_final(&st, full);
        }
        std::memcpy(out, full, icv());
    }
    bool verify(const uint8_t* p, size_t n, const uint8_t* icv_in) const {
        uint8_t m[32];
        mac(p, n, m);
        return sha512 ? crypto_verify_32(m, icv_in) == 0 : crypto_verify_16(m, icv_in) == 0;
    }
};

// ---- raw zlib

struct RawZlib {
    z_stream d{}, i{};
    RawZlib() {
        if (deflateInit2(&d, 1, Z_DEFLATED, -11, 9, Z_DEFAULT_STRATEGY) != Z_OK) die("deflateInit2");
        if (inflateInit2(&i, -15) != Z_OK) die("inflateInit2");
    }
    ~RawZlib() {
        deflateEnd(&d);
        inflateEnd(&i);
    }
    RawZlib(const RawZlib&) = delete;
    RawZlib& operator=(const RawZlib&) = delete;
    size_t deflate(const uint8_t* p, size_t n, uint8_t* out, size_t room) {
        deflateReset(&d);
        d.next_in = const_cast<Bytef*>(p);
        d.avail_in = static_cast<uInt>(n);
        d.next_out = out;
        d.avail_out = static_cast<uInt>(room);
        if (::deflate(&d, Z_FINISH) != Z_STREAM_END) return 0;
        return room - d.avail_out;
    }
    size_t inflate(const uint8_t* p, size_t n, uint8_t* out, size_t room) {
        inflateReset(&i);
        i.next_in = const_cast<Bytef*>(p);
        i.avail_in = static_cast<uInt>(n);
        i.next_out = out;
        i.avail_out = static_cast<uInt>(room);
        if (::inflate(&i, Z_FINISH) != Z_STREAM_END) return 0;
        return room - i.avail_out;
    }
};

// ---- engine loops

constexpr uint64_t kChunk = 256;

// xmit of `packets` (cycled) on a sending instance.
ChunkFn xmit_loop(Klips& k, PacketWork& work, const std::vector<Bytes>& packets, Failures& f) {
    return [&k, &work, &packets, &f, next = size_t{0}]() mutable {
        const double t0 = CpuClock::now();
        for (uint64_t i = 0; i < kChunk; ++i) {
            f.check(k.xmit(packets[next], work), PacketVerdict::sent);
            if (++next == packets.size()) next = 0;
        }
        return Chunk{kChunk, cpu_since(t0)};
    };
}

// The packets xmit makes of `inner` (cycled), for rcv: enough for a pass of about `bytes`.
PacketSet make_wire(Klips& sender, const std::vector<Bytes>& inner, size_t count, Failures& f) {
    PacketWork work;
    PacketSet set;
    for (size_t i = 0; i < count; ++i) {
        PacketResult r = sender.xmit(inner[i % inner.size()], work);
        f.check(r, PacketVerdict::sent);
        if (r.verdict == PacketVerdict::sent) set.add(r.packet);
    }
    return set;
}

// One pass of rcv over `wire` on a fresh receiving instance (made before the clock starts).
ChunkFn rcv_loop(const Scenario& sc, PacketWork& work, const PacketSet& wire, Failures& f) {
    return [&sc, &work, &wire, &f, k = std::shared_ptr<Klips>()]() mutable {
        k.reset();
        k = build(sc, true);
        const double t0 = CpuClock::now();
        for (size_t i = 0; i < wire.size(); ++i) f.check(k->rcv(wire[i], work), PacketVerdict::delivered);
        return Chunk{wire.size(), cpu_since(t0)};
    };
}

// A pass's packet count: about 1 MB of packets, 64..8192 of them.
size_t pass_count(size_t size) { return std::clamp<size_t>((1u << 20) / size, 64, 8192); }

// One inner packet round trip: xmit on a fresh sender, rcv on a fresh receiver, bytes compared.
void check_round_trip(const Scenario& sc, const Bytes& inner) {
    auto s = build(sc, false);
    auto r = build(sc, true);
    PacketWork w1, w2;
    PacketResult x = s->xmit(inner, w1);
    if (x.verdict != PacketVerdict::sent) {
        std::printf("  !! %s: xmit: %s\n", sc.name.c_str(), describe(x).c_str());
        return;
    }
    PacketResult y = r->rcv(x.packet, w2);
    if (y.verdict != PacketVerdict::delivered) {
        std::printf("  !! %s: rcv: %s\n", sc.name.c_str(), describe(y).c_str());
        return;
    }
    if (!std::equal(y.packet.begin(), y.packet.end(), inner.begin(), inner.end()))
        std::printf("  !! %s: rcv delivered %zu bytes that differ from the %zu sent\n", sc.name.c_str(),
                    y.packet.size(), inner.size());
}

const char* aead_name(uint8_t alg) { return alg == pfkey::kEncryptAesGcm16 ? "aes256gcm16" : "chacha20-poly1305"; }
const char* hmac_name(uint8_t alg) { return alg == pfkey::kAuthSha2_512 ? "hmac-sha2-512-256" : "hmac-sha2-256-128"; }

std::vector<uint8_t> g_aeads;
constexpr size_t kSizes[] = {64, 512, 1400, 9000};
const uint8_t kFill[] = "kmod-sim data plane benchmark payload 0123456789abcdefghijklmnopqrstuvwxyz";

Bytes sized_packet(size_t size) { return udp_packet(kInnerSrc, kInnerDst, size, kFill, sizeof kFill - 1, 1); }

Scenario tunnel_esp(uint8_t alg) {
    Scenario sc;
    sc.name = std::string("tun+esp ") + aead_name(alg);
    sc.sas = {plain_sa(kSaTun, 0x1000), esp_aead(alg)};
    sc.selectors = {subnet_selector(kInnerSrc, 16, kInnerDst, 16)};
    return sc;
}

// ---- 1. ESP tunnel

void bench_esp() {
    section("1. ESP tunnel mode (tun+esp group via an eroute), xmit = encapsulate+encrypt, rcv = decrypt+decapsulate");
    for (uint8_t alg : g_aeads) {
        const Scenario sc = tunnel_esp(alg);
        check_round_trip(sc, sized_packet(1400));
        for (size_t size : kSizes) {
            const std::vector<Bytes> inner{sized_packet(size)};
            Failures f;
            auto sender = build(sc, false);
            PacketWork work;
            RawAead raw(alg);
            Bytes buf = inner[0];
            uint8_t tag[16];
            const ChunkFn raw_enc = [&] {
                const double t0 = CpuClock::now();
                for (uint64_t i = 0; i < kChunk; ++i) raw.encrypt(buf.data(), buf.size(), tag);
                return Chunk{kChunk, cpu_since(t0)};
            };
            const std::string label = std::string(aead_name(alg)) + " " + std::to_string(size) + " B";
            auto [ex, rx] = measure_pair(xmit_loop(*sender, work, inner, f), raw_enc);
            report(label + " xmit", ex, rx, size, "raw encrypt_detached", size == 1400 ? ">= 0.85" : "");
            f.report(label + " xmit");

            const size_t n = pass_count(size);
            const PacketSet wire = make_wire(*build(sc, false), inner, n, f);
            RawCipherSet set(raw, inner[0], n);
            uint64_t bad = 0;
            const ChunkFn raw_dec = [&] {
                std::memcpy(set.work.data(), set.pristine.data(), set.work.size());
                const double t0 = CpuClock::now();
                for (size_t i = 0; i < set.n; ++i)
                    bad += !raw.decrypt(&set.work[i * set.size], set.size, &set.tags[i * 16], set.which[i]);
                return Chunk{set.n, cpu_since(t0)};
            };
            auto [er, rr] = measure_pair(rcv_loop(sc, work, wire, f), raw_dec);
            report(label + " rcv", er, rr, size, "raw decrypt_detached", size == 1400 ? ">= 0.85" : "");
            f.report(label + " rcv");
            if (bad) std::printf("  !! raw decrypt failed %" PRIu64 " times\n", bad);
        }
    }
}

// ---- 2. AH transport

void bench_ah() {
    section("2. AH transport mode (eroute -> ah SA), xmit = AH added, rcv = AH checked and removed");
    for (uint8_t alg : {uint8_t(pfkey::kAuthSha2_256), uint8_t(pfkey::kAuthSha2_512)}) {
        Scenario sc;
        sc.name = std::string("ah ") + hmac_name(alg);
        sc.sas = {ah_hmac(alg, kInnerSrc, kInnerDst)};
        sc.selectors = {subnet_selector(kInnerSrc, 32, kInnerDst, 32)};
        check_round_trip(sc, sized_packet(1400));
        for (size_t size : kSizes) {
            const std::vector<Bytes> inner{sized_packet(size)};
            Failures f;
            auto sender = build(sc, false);
            PacketWork work;
            RawHmac raw(alg);
            const Bytes& buf = inner[0];
            uint8_t icv[32];
            const ChunkFn raw_mac = [&] {
                const double t0 = CpuClock::now();
                for (uint64_t i = 0; i < kChunk; ++i) raw.mac(buf.data(), buf.size(), icv);
                g_sink = g_sink + icv[0];
                return Chunk{kChunk, cpu_since(t0)};
            };
            raw.mac(buf.data(), buf.size(), icv);
            uint64_t bad = 0;
            const ChunkFn raw_verify = [&] {
                const double t0 = CpuClock::now();
                for (uint64_t i = 0; i < kChunk; ++i) bad += !raw.verify(buf.data(), buf.size(), icv);
                return Chunk{kChunk, cpu_since(t0)};
            };
            const std::string label = std::string(hmac_name(alg)) + " " + std::to_string(size) + " B";
            auto [ex, rx] = measure_pair(xmit_loop(*sender, work, inner, f), raw_mac);
            report(label + " xmit", ex, rx, size, "raw HMAC, pre-keyed state");
            f.report(label + " xmit");
            const PacketSet wire = make_wire(*build(sc, false), inner, pass_count(size), f);
            auto [er, rr] = measure_pair(rcv_loop(sc, work, wire, f), raw_verify);
            report(label + " rcv", er, rr, size, "raw HMAC + crypto_verify");
            f.report(label + " rcv");
            if (bad) std::printf("  !! raw verify failed %" PRIu64 " times\n", bad);
        }
    }
    // The eroute's packet count after a known number of packets (transport mode: the packet
    // leaving the SA has the same addresses and may be matched, and counted, again).
    Scenario sc;
    sc.name = "ah count";
    sc.sas = {ah_hmac(pfkey::kAuthSha2_256, kInnerSrc, kInnerDst)};
    sc.selectors = {subnet_selector(kInnerSrc, 32, kInnerDst, 32)};
    auto k = build(sc, false);
    PacketWork w;
    const Bytes p = sized_packet(1400);
    for (int i = 0; i < 100; ++i) (void)k->xmit(p, w);
    const auto rows = k->eroute_rows();
    std::printf("  eroute packet count after 100 AH transport xmits: %u%s\n", rows.empty() ? 0 : rows[0].count,
                !rows.empty() && rows[0].count != 100 ? "  !! (expected 100: each packet counted twice?)" : "");
}

// ---- 3. the full group and IPComp

struct GroupData {
    std::vector<Bytes> packets;  // 1400-byte inner packets
    std::vector<Bytes> payloads; // their IP payloads (what IPComp compresses)
};

GroupData group_data(const std::vector<Bytes>& slices, uint32_t src = kInnerSrc) {
    GroupData g;
    uint16_t id = 1;
    for (const Bytes& s : slices) {
        Bytes p = udp_packet(src, kInnerDst, 1400, s.data(), s.size(), id++);
        g.payloads.emplace_back(p.begin() + 20, p.end());
        g.packets.push_back(std::move(p));
    }
    return g;
}

void bench_group(const std::vector<Bytes>& text, const std::vector<Bytes>& random) {
    const uint8_t aead = g_aeads.back();  // AES-GCM when this CPU has it
    section(std::string("3. tun+comp+esp+ah group (esp ") + aead_name(aead) +
            ", ah hmac-sha2-256-128, comp deflate), 1400 B, and IPComp alone (transport) against raw zlib");
    Scenario sc;
    sc.name = "tun+comp+esp+ah";
    sc.sas = {plain_sa(kSaTun, 0x1000), plain_sa(kSaComp, 0x4d2), esp_aead(aead), ah_hmac(pfkey::kAuthSha2_256, kGwLocal, kGwPeer)};
    sc.selectors = {subnet_selector(kInnerSrc, 16, kInnerDst, 16)};

    for (bool compressible : {true, false}) {
        const GroupData g = group_data(compressible ? text : random);
        check_round_trip(sc, g.packets[0]);
        Failures f;
        auto sender = build(sc, false);
        PacketWork work;
        RawAead raw(aead);
        RawHmac mac(pfkey::kAuthSha2_256);
        RawZlib z;
        // The raw chain: deflate the payload (text only: the engine skips random data after a
        // few tries), AEAD the result in place, HMAC it.
        Bytes buf(2048);
        uint8_t tag[16], icv[32];
        size_t next = 0;
        size_t comp_total = 0, comp_n = 0;
        const ChunkFn raw_out = [&] {
            const double t0 = CpuClock::now();
            for (uint64_t i = 0; i < kChunk; ++i) {
                const Bytes& p = g.packets[next];
                if (++next == g.packets.size()) next = 0;
                size_t n;
                if (compressible) {
                    n = z.deflate(p.data() + 20, p.size() - 20, buf.data(), buf.size());
                    comp_total += n;
                    ++comp_n;
                } else {
                    n = p.size();
                    std::memcpy(buf.data(), p.data(), n);
                }
                raw.encrypt(buf.data(), n, tag);
                mac.mac(buf.data(), n, icv);
            }
            return Chunk{kChunk, cpu_since(t0)};
        };
        const std::string label = compressible ? "text" : "random";
        auto [ex, rx] = measure_pair(xmit_loop(*sender, work, g.packets, f), raw_out);
        report("group xmit, " + label, ex, rx, 1400,
               compressible ? "raw deflate+AEAD+HMAC" : "raw AEAD+HMAC (no deflate)");
        f.report("group xmit " + label);
        if (compressible && comp_n)
            std::printf("  (raw deflate out/in %.3f on these payloads)\n", double(comp_total) / comp_n / 1380);

        // rcv: the chain reversed on prepared records (HMAC check, decrypt in place, inflate).
        const PacketSet wire = make_wire(*build(sc, false), g.packets, 512, f);
        struct Rec {
            Bytes c;
            uint8_t tag[16];
            uint8_t icv[16];
            uint64_t which;
        };
        std::vector<Rec> recs;
        for (const Bytes& p : g.packets) {
            Rec r;
            if (compressible) {
                r.c.resize(2048);
                r.c.resize(z.deflate(p.data() + 20, p.size() - 20, r.c.data(), r.c.size()));
            } else {
                r.c = p;
            }
            raw.encrypt(r.c.data(), r.c.size(), r.tag);
            r.which = raw.counter;
            mac.mac(r.c.data(), r.c.size(), r.icv);
            recs.push_back(std::move(r));
        }
        std::vector<Rec> work_recs = recs;
        Bytes out(16384);
        uint64_t bad = 0;
        const ChunkFn raw_in = [&] {
            for (size_t i = 0; i < recs.size(); ++i) std::memcpy(work_recs[i].c.data(), recs[i].c.data(), recs[i].c.size());
            const double t0 = CpuClock::now();
            for (Rec& r : work_recs) {
                bad += !mac.verify(r.c.data(), r.c.size(), r.icv);
                bad += !raw.decrypt(r.c.data(), r.c.size(), r.tag, r.which);
                if (compressible) bad += z.inflate(r.c.data(), r.c.size(), out.data(), out.size()) != 1380;
            }
            return Chunk{work_recs.size(), cpu_since(t0)};
        };
        auto [er, rr] = measure_pair(rcv_loop(sc, work, wire, f), raw_in);
        report("group rcv, " + label, er, rr, 1400,
               compressible ? "raw HMAC+AEAD+inflate" : "raw HMAC+AEAD (no inflate)");
        f.report("group rcv " + label);
        if (bad) std::printf("  !! raw chain failed %" PRIu64 " times\n", bad);
        if (auto comp = build(sc, false)) {
            // The compression the engine achieved on these packets.
            PacketWork w;
            for (const Bytes& p : g.packets) (void)comp->xmit(p, w);
            if (auto s = comp->find_sa(sc.sas[1].said()); s && s->comp_bytes_in)
                std::printf("  (engine IPComp out/in %.3f on these payloads)\n", double(s->comp_bytes_out) / s->comp_bytes_in);
        }
    }

    // IPComp alone, transport mode, text: against raw deflate and inflate.
    Scenario comp;
    comp.name = "comp";
    comp.sas = {plain_sa(kSaComp, 0x4d2, kInnerSrc, kInnerDst)};
    comp.selectors = {subnet_selector(kInnerSrc, 32, kInnerDst, 32)};
    const GroupData g = group_data(text);
    check_round_trip(comp, g.packets[0]);
    Failures f;
    auto sender = build(comp, false);
    PacketWork work;
    RawZlib z;
    Bytes buf(2048);
    size_t next = 0;
    const ChunkFn raw_deflate = [&] {
        const double t0 = CpuClock::now();
        for (uint64_t i = 0; i < kChunk; ++i) {
            const Bytes& p = g.payloads[next];
            if (++next == g.payloads.size()) next = 0;
            g_sink = g_sink + z.deflate(p.data(), p.size(), buf.data(), buf.size());
        }
        return Chunk{kChunk, cpu_since(t0)};
    };
    auto [ex, rx] = measure_pair(xmit_loop(*sender, work, g.packets, f), raw_deflate);
    report("IPComp xmit, text", ex, rx, 1400, "raw deflate L1 -11 mem9");
    f.report("comp xmit");
    std::vector<Bytes> deflated;
    for (const Bytes& p : g.payloads) {
        Bytes d(2048);
        d.resize(z.deflate(p.data(), p.size(), d.data(), d.size()));
        deflated.push_back(std::move(d));
    }
    Bytes out(16384);
    uint64_t bad = 0;
    const ChunkFn raw_inflate = [&] {
        const double t0 = CpuClock::now();
        for (uint64_t i = 0; i < kChunk; ++i) {
            const Bytes& d = deflated[next];
            if (++next == deflated.size()) next = 0;
            bad += z.inflate(d.data(), d.size(), out.data(), out.size()) != 1380;
        }
        return Chunk{kChunk, cpu_since(t0)};
    };
    const PacketSet wire = make_wire(*build(comp, false), g.packets, 512, f);
    auto [er, rr] = measure_pair(rcv_loop(comp, work, wire, f), raw_inflate);
    report("IPComp rcv, text", er, rr, 1400, "raw inflate -15");
    f.report("comp rcv");
    if (bad) std::printf("  !! raw inflate failed %" PRIu64 " times\n", bad);
}

// ---- 4. 10k flows

void bench_flows() {
    constexpr uint32_t kFlows = 10000;
    const uint8_t aead = g_aeads.back();
    section(std::string("4. eroute lookup + ESP (tun+esp ") + aead_name(aead) +
            "), xmit, 10,000 flows cycling vs one flow (source address rewritten per packet in every loop)");
    struct Xor {
        uint64_t s = 0x9e3779b97f4a7c15ull;
        uint32_t next() {
            s ^= s << 13, s ^= s >> 7, s ^= s << 17;
            return static_cast<uint32_t>(s);
        }
    };
    auto flow_src = [](uint32_t i) { return 0x0a010000u + 1 + i; };  // 10.1.0.1 ...
    for (size_t size : {size_t{64}, size_t{1400}}) {
        Scenario subnet = tunnel_esp(aead);
        Scenario hosts = subnet;
        hosts.selectors.clear();
        for (uint32_t i = 0; i < kFlows; ++i) hosts.selectors.push_back(subnet_selector(flow_src(i), 32, kInnerDst, 32));

        Failures f;
        auto one = build(subnet, false);
        auto sub = build(subnet, false);
        auto many = build(hosts, false);
        PacketWork w1, w2, w3;
        Bytes p1 = sized_packet(size), p2 = p1, p3 = p1;
        auto loop = [&f](Klips& k, PacketWork& w, Bytes& p, bool cycle, Xor x) -> ChunkFn {
            return [&k, &w, &p, &f, cycle, x]() mutable {
                const double t0 = CpuClock::now();
                for (uint64_t i = 0; i < kChunk; ++i) {
                    set_source(p, 0x0a010000u + 1 + (cycle ? x.next() % kFlows : 4));
                    f.check(k.xmit(p, w), PacketVerdict::sent);
                }
                return Chunk{kChunk, cpu_since(t0)};
            };
        };
        const std::string label = std::to_string(size) + " B";
        const ChunkFn single = loop(*one, w1, p1, false, Xor{});
        auto [a, b] = measure_pair(loop(*many, w3, p3, true, Xor{}), single);
        report(label + " 10k /32 eroutes, 10k flows", a, b, size, "one flow, one /16 eroute");
        f.report(label + " 10k /32 xmit");
        auto [c, d] = measure_pair(loop(*sub, w2, p2, true, Xor{}), single);
        report(label + " one /16 eroute, 10k flows", c, d, size, "one flow, one /16 eroute");
        f.report(label + " /16 xmit");
        const auto rows = many->eroute_rows();
        uint64_t total = 0;
        for (const auto& r : rows) total += r.count;
        std::printf("  (%zu eroutes in the 10k table, %" PRIu64 " packets counted on them)\n", rows.size(), total);
    }
}

// ---- 5. allocations

void bench_allocations(uint64_t n) {
    section("5. heap allocations per packet on the ESP paths (one PacketWork, after warm-up; operator new and malloc counted)");
    for (uint8_t alg : g_aeads) {
        for (size_t size : {size_t{64}, size_t{1400}, size_t{9000}}) {
            const Scenario sc = tunnel_esp(alg);
            const Bytes inner = sized_packet(size);
            Failures f;
            auto sender = build(sc, false);
            const PacketSet wire = make_wire(*build(sc, false), {inner}, n + 64, f);
            auto receiver = build(sc, true);
            PacketWork work;
            for (size_t i = 0; i < 64; ++i) {  // warm: both directions, same PacketWork
                f.check(sender->xmit(inner, work), PacketVerdict::sent);
                f.check(receiver->rcv(wire[i], work), PacketVerdict::delivered);
            }
            const uint64_t new0 = g_news.load(), malloc0 = g_mallocs.load();
            for (uint64_t i = 0; i < n; ++i) f.check(sender->xmit(inner, work), PacketVerdict::sent);
            const uint64_t new1 = g_news.load(), malloc1 = g_mallocs.load();
            for (uint64_t i = 0; i < n; ++i) f.check(receiver->rcv(wire[64 + i], work), PacketVerdict::delivered);
            const uint64_t new2 = g_news.load(), malloc2 = g_mallocs.load();
            std::printf("  %-18s %5zu B  xmit: %.2f new, %.2f malloc per packet   rcv: %.2f new, %.2f malloc per packet  (%" PRIu64 " each)\n",
                        aead_name(alg), size, double(new1 - new0) / n, double(malloc1 - malloc0) / n,
                        double(new2 - new1) / n, double(malloc2 - malloc1) / n, n);
            f.report(std::string(aead_name(alg)) + " alloc xmit/rcv");
        }
    }
}

void pin_one_cpu() {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) != 0) {
        std::printf("(sched_getaffinity failed: not pinned)\n");
        return;
    }
    int cpu = -1;
    for (int i = 0; i < CPU_SETSIZE; ++i)
        if (CPU_ISSET(i, &set)) cpu = i;  // the last one allowed
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (sched_setaffinity(0, sizeof set, &set) != 0) std::printf("(sched_setaffinity failed: not pinned)\n");
    else std::printf("pinned to CPU %d\n", cpu);
}

}  // namespace

int main(int argc, char** argv) {
    bool quick = false;
    std::string only;  // --only esp|ah|group|flows|alloc: one section (for profiling)
    for (int i = 1; i < argc; ++i) {
        if (std::strcmp(argv[i], "--quick") == 0) quick = true;
        else if (std::strcmp(argv[i], "--only") == 0 && i + 1 < argc) only = argv[++i];
        else {
            std::printf("usage: bench_dataplane [--quick] [--only esp|ah|group|flows|alloc]\n");
            return 2;
        }
    }
    auto run = [&only](const char* name) { return only.empty() || only == name; };
    if (quick) {
        g_reps = 3;
        g_rep_seconds = 0.008;
    }
    if (sodium_init() < 0) die("sodium_init");
    std::printf("kmod-sim data plane benchmark%s: %d repetitions of %.3f CPU s per figure, median; libsodium %s, zlib %s\n",
                quick ? " (quick)" : "", g_reps, g_rep_seconds, sodium_version_string(), zlibVersion());
    pin_one_cpu();
    g_aeads.push_back(pfkey::kEncryptChacha20Poly1305);
    if (crypto_aead_aes256gcm_is_available()) g_aeads.push_back(pfkey::kEncryptAesGcm16);
    else std::printf("(no AES-NI/PCLMUL: aes256gcm16 left out)\n");

    std::string source;
    const std::vector<Bytes> text = text_slices(1372, 97, &source);  // 1400 - 20 (IP) - 8 (UDP)
    std::vector<Bytes> random(text.size(), Bytes(1372));
    for (Bytes& r : random) randombytes_buf(r.data(), r.size());
    std::printf("IPComp text: %zu slices of %s\n", text.size(), source.c_str());

    const auto start = Timer::now();
    if (run("esp")) bench_esp();
    if (run("ah")) bench_ah();
    if (run("group")) bench_group(text, random);
    if (run("flows")) bench_flows();
    if (run("alloc")) bench_allocations(quick ? 2000 : 20000);

    std::printf("\n| section | figure | engine | limit (same run) | ratio | target |\n|---|---|---|---|---|---|\n");
    for (const Row& r : g_rows)
        std::printf("| %s | %s | %.3f Mpps, %.3f GB/s | %.3f Mpps, %.3f GB/s (%s) | %.2f | %s |\n",
                    r.section.substr(0, 2).c_str(), r.name.c_str(), r.pps / 1e6, r.gbps, r.limit_pps / 1e6,
                    r.limit_gbps, r.limit_name.c_str(), r.limit_pps > 0 ? r.pps / r.limit_pps : 0.0, r.target.c_str());
    std::printf("\ntotal %.1f s\n", seconds_since(start));
    return 0;
}
