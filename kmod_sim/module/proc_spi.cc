// /proc/net/ipsec_spi: Openswan 2.6's layout (spec/klips.md §4) and FreeS/WAN's ipsec_spi(5)
// layout for the seed profile (§4.1).
#include <cinttypes>
#include <cstdio>

#include "kmod_sim/lib/subnet.h"
#include "proc_render.h"

namespace kmod_sim {

namespace {

// Openswan's SAref table split (CONFIG_KLIPS_IPSEC_SA_REF_TABLE_IDX_WIDTH 14, main table 4
// bits): the debug_xform fields reftable = ref >> 10, refentry = ref & 1023.
constexpr unsigned kSarefSubtableBits = 10;

// OS2.6 prints the SA's reference count less the one its own /proc read holds: an SA in
// the SADB is held by the hash table, the SAref table and its creator's lookup.
constexpr int kOpenswanRefcount = 3;

void appendf(std::string& out, const char* format, auto... args) {
    char buf[128];
    int n = std::snprintf(buf, sizeof(buf), format, args...);
    if (n > 0) out.append(buf, static_cast<size_t>(n) < sizeof(buf) ? static_cast<size_t>(n) : sizeof(buf) - 1);
}

std::string encryption_part(const SecurityAssociation& sa) {
    if (sa.said.proto == kSaComp) {
        switch (sa.enc_alg) {
        case pfkey::kCompNone: return "_NONE";
        case pfkey::kCompDeflate: return "_DEFLATE";
        case pfkey::kCompLzs: return "_LZS";
        default: return "_UNKNOWN_comp";
        }
    }
    switch (sa.enc_alg) {
    case pfkey::kEncryptNone: return "";
    case pfkey::kEncrypt3DesCbc: return "_3DES";
    case pfkey::kEncryptNull: return "_NULL";
    case pfkey::kEncryptAesCbc: return "_AES";
    case pfkey::kEncryptAesGcm16: return "_AES_GCM_16";
    case pfkey::kEncryptChacha20Poly1305: return "_CHACHA20_POLY1305";
    default: return "_ID" + std::to_string(sa.enc_alg);
    }
}

std::string auth_part(const SecurityAssociation& sa) {
    if (sa.said.proto == kSaComp) return "";
    switch (sa.auth_alg) {
    case pfkey::kAuthNone: return "";
    case pfkey::kAuthMd5Hmac: return "_HMAC_MD5";
    case pfkey::kAuthSha1Hmac: return "_HMAC_SHA1";
    case pfkey::kAuthSha2_256: return "_HMAC_SHA2_256";
    case pfkey::kAuthSha2_384: return "_HMAC_SHA2_384";
    case pfkey::kAuthSha2_512: return "_HMAC_SHA2_512";
    default: return "_ID" + std::to_string(sa.auth_alg);
    }
}

void append_iv(std::string& out, const SecurityAssociation& sa) {
    if (sa.iv.empty()) return;
    appendf(out, " iv_bits=%zubits iv=0x", sa.iv.size() * 8);
    for (uint8_t b : sa.iv) appendf(out, "%02x", b);
}

void append_policy(std::string& out, const SecurityAssociation& sa) {
    if (sa.said.proto != kSaTun || !sa.policy || !(sa.flags & (pfkey::kSaFlagXInFlow | pfkey::kSaFlagXPolicyOnly))) return;
    out += " policy=" + subnettot(sa.policy->src) + "->" + subnettot(sa.policy->dst);
}

void append_replay_and_errors(std::string& out, const SecurityAssociation& sa) {
    if (sa.enc_alg != 0 || sa.auth_alg != 0) {
        if (sa.replay_window) appendf(out, " ooowin=%d", sa.replay_window);
        if (sa.replay_errors) appendf(out, " ooo_errs=%d", static_cast<int>(sa.replay_errors));
        if (sa.replay_last_seq) appendf(out, " seq=%d", static_cast<int>(sa.replay_last_seq));
        if (sa.replay_bitmap) appendf(out, " bit=0x%" PRIx64, sa.replay_bitmap);
        if (sa.max_seq_diff) appendf(out, " max_seq_diff=%d", static_cast<int>(sa.max_seq_diff));
    }
    if (sa.flags & ~uint32_t{1}) appendf(out, " flags=0x%x<>", sa.flags & ~uint32_t{1});
    if (sa.auth_bits) appendf(out, " alen=%d", sa.auth_bits);
    if (sa.auth_key_bits) appendf(out, " aklen=%d", sa.auth_key_bits);
    if (sa.auth_errors) appendf(out, " auth_errs=%d", static_cast<int>(sa.auth_errors));
    if (sa.enc_key_bits) appendf(out, " eklen=%d", sa.enc_key_bits);
    if (sa.encr_size_errors) appendf(out, " encr_size_errs=%d", static_cast<int>(sa.encr_size_errors));
    if (sa.encr_pad_errors) appendf(out, " encr_pad_errs=%d", static_cast<int>(sa.encr_pad_errors));
}

void append_life_item(std::string& out, const char* name, uint64_t c, const Lifetime& l) {
    appendf(out, "%s(%" PRIu64 ",%" PRIu64 ",%" PRIu64 ")", name, c, l.soft, l.hard);
}

bool ever_used(const SecurityAssociation& sa) { return sa.life.packets.count != 0; }

// KLIPS's ipsec_lifetime_format: an item shows when its raw counter is above 1 or a limit
// is set; the two time items show now - stamp.
void append_openswan_life(std::string& out, const SecurityAssociation& sa, uint64_t now) {
    out += " life(c,s,h)=";
    auto item = [&](const char* name, const Lifetime& l, bool is_time) {
        if (l.count > 1 || l.soft || l.hard) append_life_item(out, name, is_time ? now - l.count : l.count, l);
    };
    item("alloc", sa.life.allocations, false);
    item("bytes", sa.life.bytes, false);
    item("addtime", sa.life.addtime, true);
    item("usetime", sa.life.usetime, true);
    item("packets", sa.life.packets, false);
}

// FreeS/WAN's ipsec_spi(5): an item shows when any of its three values is non-zero; add and
// use are seconds since the SA was added and first used.
void append_seed_life(std::string& out, const SecurityAssociation& sa, uint64_t now) {
    out += " life(c,s,h)=";
    auto item = [&](const char* name, uint64_t c, const Lifetime& l) {
        if (c || l.soft || l.hard) append_life_item(out, name, c, l);
    };
    item("alloc", sa.life.allocations.count, sa.life.allocations);
    item("bytes", sa.life.bytes.count, sa.life.bytes);
    item("add", now - sa.life.addtime.count, sa.life.addtime);
    item("use", ever_used(sa) ? now - sa.life.usetime.count : 0, sa.life.usetime);
    item("packets", sa.life.packets.count, sa.life.packets);
}

void append_usage(std::string& out, const SecurityAssociation& sa, uint64_t now) {
    if (ever_used(sa)) appendf(out, " idle=%" PRId64, static_cast<int64_t>(now - sa.last_used));
    if (sa.said.proto == kSaComp && (sa.comp_bytes_in || sa.comp_bytes_out))
        appendf(out, " ratio=%" PRId64 ":%" PRId64, static_cast<int64_t>(sa.comp_bytes_in),
                static_cast<int64_t>(sa.comp_bytes_out));
}

void append_openswan_line(std::string& out, const SecurityAssociation& sa, uint64_t now, bool debug_xform) {
    out += satot(sa.said, SaidFormat::hex);
    out += ' ';
    out += transform_name(sa);
    out += sa.inbound ? ": dir=in " : ": dir=out";
    if (sa.src.has_family()) out += " src=" + addrtot(sa.src);
    append_policy(out, sa);
    append_iv(out, sa);
    append_replay_and_errors(out, sa);
    append_openswan_life(out, sa, now);
    append_usage(out, sa, now);
    out += " natencap=none natsport=0 natdport=0";
    appendf(out, " refcount=%d ref=%d refhim=0", kOpenswanRefcount, static_cast<int>(sa.ref));
    if (debug_xform)
        appendf(out, " reftable=%lu refentry=%lu", static_cast<unsigned long>(sa.ref >> kSarefSubtableBits),
                static_cast<unsigned long>(sa.ref & ((1u << kSarefSubtableBits) - 1)));
    out += '\n';
}

void append_seed_line(std::string& out, const SecurityAssociation& sa, uint64_t now) {
    out += satot(sa.said, SaidFormat::dotted);
    out += ' ';
    out += transform_name(sa);
    out += sa.inbound ? ": dir=in" : ": dir=out";
    if (sa.src.has_family()) out += " src=" + addrtot(sa.src);
    append_policy(out, sa);
    append_iv(out, sa);
    append_replay_and_errors(out, sa);
    append_seed_life(out, sa, now);
    append_usage(out, sa, now);
    out += '\n';
}

}  // namespace

std::string transform_name(const SecurityAssociation& sa) {
    std::string name;
    switch (sa.said.proto) {
    case kSaAh: name = "AH"; break;
    case kSaEsp: name = "ESP"; break;
    case kSaTun: name = "IPIP"; break;
    case kSaComp: name = "COMP"; break;
    default: name = "UNKNOWN_proto"; break;
    }
    return name + encryption_part(sa) + auth_part(sa);
}

std::string format_spi(std::span<const SaRow> rows, OutputProfile profile, uint64_t now, bool debug_xform) {
    std::string out;
    for (const SaRow& row : rows) {
        if (profile == OutputProfile::seed) append_seed_line(out, row.sa, now);
        else append_openswan_line(out, row.sa, now, debug_xform);
    }
    return out;
}

std::string render_spi(const Klips& klips) {
    auto rows = klips.sa_rows();
    const bool debug_xform = klips.debug_words()[KlipsDebug::kXform] != 0;
    return format_spi(rows, klips.profile(), klips.now(), debug_xform);
}

}  // namespace kmod_sim
