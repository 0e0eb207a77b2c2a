#include "inject_protocol.h"

namespace kmod_sim::inject {

namespace {

uint16_t get16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }
uint32_t get32(const uint8_t* p) { return uint32_t{p[0]} << 24 | uint32_t{p[1]} << 16 | uint32_t{p[2]} << 8 | p[3]; }
void put16(std::vector<uint8_t>& out, uint16_t v) {
    out.push_back(static_cast<uint8_t>(v >> 8));
    out.push_back(static_cast<uint8_t>(v));
}
void put32(std::vector<uint8_t>& out, uint32_t v) {
    put16(out, static_cast<uint16_t>(v >> 16));
    put16(out, static_cast<uint16_t>(v));
}

bool valid_kind(uint8_t kind) { return kind >= 1 && kind <= 3; }
bool valid_outcome(uint8_t outcome) { return outcome >= 1 && outcome <= 9; }
bool valid_port(uint8_t port) { return port == 1 || port == 2; }

}  // namespace

const char* to_string(InjectKind kind) {
    switch (kind) {
    case InjectKind::out: return "out";
    case InjectKind::in: return "in";
    case InjectKind::collect: return "collect";
    }
    return "?";
}

const char* to_string(InjectOutcome outcome) {
    switch (outcome) {
    case InjectOutcome::sent: return "sent";
    case InjectOutcome::passed: return "passed";
    case InjectOutcome::delivered: return "delivered";
    case InjectOutcome::rejected: return "rejected";
    case InjectOutcome::held: return "held";
    case InjectOutcome::trapped: return "trapped";
    case InjectOutcome::dropped: return "dropped";
    case InjectOutcome::refused: return "refused";
    case InjectOutcome::collected: return "collected";
    }
    return "?";
}

const char* to_string(InjectPort port) {
    switch (port) {
    case InjectPort::wire: return "wire";
    case InjectPort::host: return "host";
    }
    return "?";
}

std::vector<uint8_t> encode_request(InjectKind kind, uint32_t tag, std::span<const uint8_t> packet) {
    std::vector<uint8_t> out;
    out.reserve(kRequestHeaderSize + packet.size());
    out.push_back(kInjectVersion);
    out.push_back(static_cast<uint8_t>(kind));
    put16(out, 0);
    put32(out, tag);
    out.insert(out.end(), packet.begin(), packet.end());
    return out;
}

std::optional<InjectRequest> decode_request(std::span<const uint8_t> bytes, std::string* error) {
    auto fail = [&](const char* why) -> std::optional<InjectRequest> {
        if (error) *error = why;
        return std::nullopt;
    };
    if (bytes.size() < kRequestHeaderSize) return fail("request shorter than its 8-byte header");
    if (bytes[0] != kInjectVersion) return fail("unknown request version (kmod-sim speaks version 1)");
    if (!valid_kind(bytes[1])) return fail("unknown request kind (1 out, 2 in, 3 collect)");
    if (get16(bytes.data() + 2) != 0) return fail("reserved request field is not zero");
    InjectRequest request;
    request.kind = static_cast<InjectKind>(bytes[1]);
    request.tag = get32(bytes.data() + 4);
    request.packet = bytes.subspan(kRequestHeaderSize);
    if (request.kind == InjectKind::collect && !request.packet.empty()) return fail("collect carries no packet");
    if (request.kind != InjectKind::collect && request.packet.empty()) return fail("no packet after the header");
    if (request.packet.size() > kMaxPacket) return fail("packet longer than 65535 bytes");
    return request;
}

void encode_answer_header(InjectKind kind, InjectOutcome outcome, uint32_t tag, uint16_t packet_count,
                          std::string_view summary, std::vector<uint8_t>& out) {
    if (summary.size() > 0xffff) summary = summary.substr(0, 0xffff);
    out.push_back(kInjectVersion);
    out.push_back(static_cast<uint8_t>(kind));
    out.push_back(static_cast<uint8_t>(outcome));
    out.push_back(0);
    put32(out, tag);
    put16(out, packet_count);
    put16(out, static_cast<uint16_t>(summary.size()));
    out.insert(out.end(), summary.begin(), summary.end());
}

void encode_answer_packet(InjectPort port, std::span<const uint8_t> packet, std::vector<uint8_t>& out) {
    out.push_back(static_cast<uint8_t>(port));
    out.push_back(0);
    put16(out, static_cast<uint16_t>(packet.size()));
    out.insert(out.end(), packet.begin(), packet.end());
}

std::optional<InjectAnswer> decode_answer(std::span<const uint8_t> bytes, std::string* error) {
    auto fail = [&](const char* why) -> std::optional<InjectAnswer> {
        if (error) *error = why;
        return std::nullopt;
    };
    if (bytes.size() < kAnswerHeaderSize) return fail("answer shorter than its 12-byte header");
    if (bytes[0] != kInjectVersion) return fail("unknown answer version");
    if (!valid_kind(bytes[1]) || !valid_outcome(bytes[2]) || bytes[3] != 0) return fail("malformed answer header");
    InjectAnswer answer;
    answer.kind = static_cast<InjectKind>(bytes[1]);
    answer.outcome = static_cast<InjectOutcome>(bytes[2]);
    answer.tag = get32(bytes.data() + 4);
    const uint16_t count = get16(bytes.data() + 8);
    const uint16_t summary_length = get16(bytes.data() + 10);
    size_t at = kAnswerHeaderSize;
    if (bytes.size() - at < summary_length) return fail("answer summary runs past its end");
    answer.summary.assign(reinterpret_cast<const char*>(bytes.data() + at), summary_length);
    at += summary_length;
    for (uint16_t i = 0; i < count; ++i) {
        if (bytes.size() - at < kPacketHeaderSize) return fail("answer packet header runs past its end");
        if (!valid_port(bytes[at]) || bytes[at + 1] != 0) return fail("malformed answer packet header");
        const uint16_t length = get16(bytes.data() + at + 2);
        at += kPacketHeaderSize;
        if (bytes.size() - at < length) return fail("answer packet runs past its end");
        answer.packets.push_back({static_cast<InjectPort>(bytes[at - kPacketHeaderSize]),
                                  std::vector<uint8_t>(bytes.begin() + at, bytes.begin() + at + length)});
        at += length;
    }
    if (at != bytes.size()) return fail("bytes after the answer's last packet");
    return answer;
}

}  // namespace kmod_sim::inject
