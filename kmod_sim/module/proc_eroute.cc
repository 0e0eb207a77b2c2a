// /proc/net/ipsec_eroute (spec/klips.md §2; DESIGN.md for the seed profile).
#include <charconv>

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

}  // namespace

std::string format_eroutes(std::span<const EroutRow> rows, OutputProfile profile) {
    std::string out;
    out.reserve(rows.size() * 80);
    for (const EroutRow& row : rows) {
        if (profile == OutputProfile::seed) append_seed_line(out, row);
        else append_openswan_line(out, row);
    }
    return out;
}

std::string render_eroute(const Klips& klips) {
    return format_eroutes(klips.eroute_rows(), klips.profile());
}

}  // namespace kmod_sim
