// /proc/net/ipsec_eroute (spec/klips.md §2; DESIGN.md for the seed profile).
#include <array>
#include <bit>
#include <charconv>
#include <cstring>

#include "huge_pages.h"
#include "kmod_sim/lib/number_text.h"
#include "kmod_sim/lib/subnet.h"
#include "proc_render.h"

namespace kmod_sim {

namespace {

void append_number(std::string& out, uint64_t n) {
    char buf[24];
    auto r = std::to_chars(buf, buf + sizeof(buf), n);
    out.append(buf, r.ptr);
}

// addr/bits, or addr/mask for a non-contiguous mask; the address as stored, unmasked.
void append_subnet(std::string& out, const IpAddress& addr, const IpAddress& mask) {
    append_addrtot(out, addr);
    out += '/';
    const int bits = mask_bits(mask);
    if (bits >= 0) append_number(out, static_cast<uint64_t>(bits));
    else append_addrtot(out, mask);
}

// IPv4: subnet:port (the seed profile always writes the port, Openswan only when set);
// IPv6: [subnet]:port, only when the port is set.
void append_side(std::string& out, const IpAddress& addr, const IpAddress& mask, uint16_t port,
                 bool always_port) {
    if (addr.is_v6() && port != 0) {
        out += '[';
        append_subnet(out, addr, mask);
        out += "]:";
        append_number(out, port);
        return;
    }
    append_subnet(out, addr, mask);
    if (addr.is_v4() && (always_port || port != 0)) {
        out += ':';
        append_number(out, port);
    }
}

bool is_magic(const Said& said) {
    return said.proto == kSaInt || is_passthrough(said);
}

// The seed pages write the legacy bypass as FreeS/WAN's satoa did: %passthrough.
void append_seed_said(std::string& out, const Said& said) {
    if (is_passthrough(said) && said.dst.is_v4())
        out += "%passthrough";
    else
        append_satot(out, said, said.dst.is_v6() ? SaidFormat::dotted : SaidFormat::hex);
}

void append_seed_line(std::string& out, const EroutRow& row) {
    const bool v4 = row.src.is_v4();
    append_number(out, row.count);
    out += ' ';
    append_side(out, row.src, row.src_mask, row.sport, true);
    out += " -> ";
    append_side(out, row.dst, row.dst_mask, row.dport, true);
    out += " => ";
    append_seed_said(out, row.said);
    const bool magic = is_magic(row.said);
    if (!magic && (v4 || row.proto != 0)) {
        out += ':';
        append_number(out, row.proto);
    }
    const bool has_idents = row.idents && (!row.idents->src.empty() || !row.idents->dst.empty());
    if (!magic || has_idents) {
        out += " (";
        if (row.idents) out += row.idents->src;
        out += ") (";
        if (row.idents) out += row.idents->dst;
        out += ')';
    }
    out += '\n';
}

void append_padded(std::string& out, size_t start, size_t width) {
    if (out.size() - start < width) out.append(width - (out.size() - start), ' ');
}

// Openswan 2.6: "%-10d %-18s -> %-18s => %s%s\n"; the count is a signed 32-bit %d.
void append_openswan_line(std::string& out, const EroutRow& row) {
    size_t start = out.size();
    const auto count = static_cast<int32_t>(row.count);
    if (count < 0) {
        out += '-';
        append_number(out, static_cast<uint64_t>(-static_cast<int64_t>(count)));
    } else {
        append_number(out, static_cast<uint64_t>(count));
    }
    append_padded(out, start, 10);
    out += ' ';
    start = out.size();
    append_side(out, row.src, row.src_mask, row.sport, false);
    append_padded(out, start, 18);
    out += " -> ";
    start = out.size();
    append_side(out, row.dst, row.dst_mask, row.dport, false);
    append_padded(out, start, 18);
    out += " => ";
    append_satot(out, row.said, SaidFormat::hex);
    if (row.proto != 0) {
        out += ':';
        append_number(out, row.proto);
    }
    out += '\n';
}

// ---- the fast path: IPv4 rows with an ordinary SAID, written straight into the text --------
//
// A million-row listing is formatted in well under the time the generic appenders above take
// (std::string appends, ultot's temporaries): the common row is written through a char
// pointer into room made beforehand. Every other row goes through the generic code, so the
// fast path only has to agree with it on the rows it takes (IPv4 flow, contiguous masks, an
// ah/esp/tun/comp SAID to an IPv4 address that is not %passthrough).

// "0".."255", each padded to 4 bytes, and their lengths: an octet is one 4-byte copy.
struct OctetTable {
    std::array<char, 4 * 256> text{};
    std::array<uint8_t, 256> length{};
    constexpr OctetTable() {
        for (unsigned v = 0; v < 256; ++v) {
            char* p = text.data() + 4 * v;
            if (v >= 100) *p++ = static_cast<char>('0' + v / 100);
            if (v >= 10) *p++ = static_cast<char>('0' + v / 10 % 10);
            *p++ = static_cast<char>('0' + v % 10);
            length[v] = static_cast<uint8_t>(p - (text.data() + 4 * v));
        }
    }
};
constexpr OctetTable kOctets;

char* write_octet(char* p, uint8_t v) {
    std::memcpy(p, kOctets.text.data() + 4 * v, 4);  // the room for 4 is always there
    return p + kOctets.length[v];
}

char* write_ipv4(char* p, const IpAddress& a) {
    const auto b = a.bytes();
    p = write_octet(p, b[0]);
    *p++ = '.';
    p = write_octet(p, b[1]);
    *p++ = '.';
    p = write_octet(p, b[2]);
    *p++ = '.';
    return write_octet(p, b[3]);
}

constexpr char kDigitPairs[] =
    "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
    "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
    "8081828384858687888990919293949596979899";

char* write_decimal(char* p, uint32_t v) {
    if (v < 10) {
        *p = static_cast<char>('0' + v);
        return p + 1;
    }
    char buf[10];
    char* q = buf + sizeof(buf);
    while (v >= 100) {
        q -= 2;
        std::memcpy(q, kDigitPairs + 2 * (v % 100), 2);
        v /= 100;
    }
    if (v >= 10) {
        q -= 2;
        std::memcpy(q, kDigitPairs + 2 * v, 2);
    } else {
        *--q = static_cast<char>('0' + v);
    }
    const size_t n = static_cast<size_t>(buf + sizeof(buf) - q);
    std::memcpy(p, q, n);
    return p + n;
}

// Lowercase hex without leading zeros ("0" for zero), as ultot base 16.
char* write_hex(char* p, uint32_t v) {
    constexpr char kHex[] = "0123456789abcdef";
    const int digits = v == 0 ? 1 : (35 - std::countl_zero(v)) / 4;
    for (int i = digits - 1; i >= 0; --i) p[digits - 1 - i] = kHex[(v >> (4 * i)) & 0xf];
    return p + digits;
}

char* write_text(char* p, std::string_view text) {
    std::memcpy(p, text.data(), text.size());
    return p + text.size();
}

// The prefix length of a contiguous IPv4 mask, or -1.
int v4_mask_bits(const IpAddress& mask) {
    const uint32_t m = mask.v4_host_order();
    const int ones = std::countl_one(m);
    return ones == 32 || m << ones == 0 ? ones : -1;
}

// The SAID protocols whose satot is "<name>0x<spi>@<dst>"; empty for the rest.
std::string_view plain_said_prefix(uint8_t proto) {
    switch (proto) {
    case kSaAh: return "ah0x";
    case kSaEsp: return "esp0x";
    case kSaTun: return "tun0x";
    case kSaComp: return "comp0x";
    default: return {};
    }
}

// Whether the fast path writes this row (see above); the bits of the masks when it does.
bool fast_row(const EroutRow& row, int* src_bits, int* dst_bits) {
    if (!row.src.is_v4() || !row.dst.is_v4() || !row.src_mask.is_v4() || !row.dst_mask.is_v4() ||
        !row.said.dst.is_v4() || plain_said_prefix(row.said.proto).empty() || is_passthrough(row.said))
        return false;
    *src_bits = v4_mask_bits(row.src_mask);
    *dst_bits = v4_mask_bits(row.dst_mask);
    return *src_bits >= 0 && *dst_bits >= 0;
}

// addr/bits, then :port when asked: at most 24 bytes (+3 of octet slack).
char* write_side(char* p, const IpAddress& addr, int bits, uint16_t port, bool with_port) {
    p = write_ipv4(p, addr);
    *p++ = '/';
    p = write_decimal(p, static_cast<uint32_t>(bits));
    if (with_port) {
        *p++ = ':';
        p = write_decimal(p, port);
    }
    return p;
}

// "<name>0x<spi>@<dst>": at most 30 bytes.
char* write_said(char* p, const Said& said) {
    p = write_text(p, plain_said_prefix(said.proto));
    p = write_hex(p, said.spi);
    *p++ = '@';
    return write_ipv4(p, said.dst);
}

char* pad_to(char* p, const char* start, size_t width) {
    const size_t used = static_cast<size_t>(p - start);
    if (used >= width) return p;
    std::memset(p, ' ', width - used);
    return p + (width - used);
}

// Room a fast row needs, beyond its idents: the longest line is ~125 bytes, the octet copies
// may write 3 bytes past the end.
constexpr size_t kFastRowRoom = 160;

// append_seed_line, for a fast row.
char* write_seed_line(char* p, const EroutRow& row, int src_bits, int dst_bits) {
    p = write_decimal(p, row.count);
    *p++ = ' ';
    p = write_side(p, row.src, src_bits, row.sport, true);
    p = write_text(p, " -> ");
    p = write_side(p, row.dst, dst_bits, row.dport, true);
    p = write_text(p, " => ");
    p = write_said(p, row.said);
    *p++ = ':';  // IPv4 and not magic: the protocol always
    p = write_decimal(p, row.proto);
    p = write_text(p, " (");  // not magic: the idents always, empty or not
    if (row.idents) p = write_text(p, row.idents->src);
    p = write_text(p, ") (");
    if (row.idents) p = write_text(p, row.idents->dst);
    return write_text(p, ")\n");
}

// append_openswan_line, for a fast row.
char* write_openswan_line(char* p, const EroutRow& row, int src_bits, int dst_bits) {
    const char* start = p;
    const auto count = static_cast<int32_t>(row.count);
    if (count < 0) {
        *p++ = '-';
        p = write_decimal(p, static_cast<uint32_t>(-static_cast<int64_t>(count)));
    } else {
        p = write_decimal(p, static_cast<uint32_t>(count));
    }
    p = pad_to(p, start, 10);
    *p++ = ' ';
    start = p;
    p = write_side(p, row.src, src_bits, row.sport, row.sport != 0);
    p = pad_to(p, start, 18);
    p = write_text(p, " -> ");
    start = p;
    p = write_side(p, row.dst, dst_bits, row.dport, row.dport != 0);
    p = pad_to(p, start, 18);
    p = write_text(p, " => ");
    p = write_said(p, row.said);
    if (row.proto != 0) {
        *p++ = ':';
        p = write_decimal(p, row.proto);
    }
    *p++ = '\n';
    return p;
}

// The listing text, grown ahead of the writes: `room(n)` makes sure n bytes can be written
// at `p`. The string's size runs ahead of the text until finish().
class TextBuffer {
public:
    explicit TextBuffer(size_t expected) { grow(expected); }

    char* p = nullptr;

    void room(size_t n) {
        if (static_cast<size_t>(end_ - p) < n) grow(n);
    }
    std::string finish() {
        out_.resize(static_cast<size_t>(p - out_.data()));
        return std::move(out_);
    }

private:
    void grow(size_t n) {
        const size_t used = p ? static_cast<size_t>(p - out_.data()) : 0;
        const size_t size = std::max(used + n, out_.size() + out_.size() / 2);
        out_.reserve(size);
        if (used == 0) advise_huge_pages(out_.data(), out_.capacity());  // still untouched
        out_.resize(size);
        p = out_.data() + used;
        end_ = out_.data() + out_.size();
    }

    std::string out_;
    const char* end_ = nullptr;
};

}  // namespace

std::string format_eroutes(std::span<const EroutRow> rows, OutputProfile profile) {
    // About 70 bytes a line (seed, IPv4); more is grown as needed.
    TextBuffer text(rows.size() * 72 + kFastRowRoom);
    std::string slow;  // a row the fast path does not take
    const bool seed = profile == OutputProfile::seed;
    constexpr size_t kAhead = 8;  // idents live elsewhere in memory: fetched ahead
    for (size_t i = 0; i < rows.size(); ++i) {
        if (i + kAhead < rows.size() && rows[i + kAhead].idents) __builtin_prefetch(rows[i + kAhead].idents.get());
        const EroutRow& row = rows[i];
        int src_bits, dst_bits;
        if (fast_row(row, &src_bits, &dst_bits)) {
            text.room(kFastRowRoom + (seed && row.idents ? row.idents->src.size() + row.idents->dst.size() : 0));
            text.p = seed ? write_seed_line(text.p, row, src_bits, dst_bits)
                          : write_openswan_line(text.p, row, src_bits, dst_bits);
        } else {
            slow.clear();
            if (seed) append_seed_line(slow, row);
            else append_openswan_line(slow, row);
            text.room(slow.size() + kFastRowRoom);
            text.p = write_text(text.p, slow);
        }
    }
    return text.finish();
}

std::string format_eroute_line(const EroutRow& row, OutputProfile profile) {
    std::string line;
    if (profile == OutputProfile::seed) append_seed_line(line, row);
    else append_openswan_line(line, row);
    return line;
}

std::string render_eroute(const Klips& klips) {
    return format_eroutes(klips.eroute_rows(), klips.profile());
}

}  // namespace kmod_sim
