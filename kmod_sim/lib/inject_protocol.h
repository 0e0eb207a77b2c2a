// The packet injection socket, DIR/packets: how a test or `ipsec inject` hands the engine one
// IP packet and gets back what the engine did with it. Unix SOCK_SEQPACKET, mode 0600, the
// same peers as DIR/pfkey (own uid or root); one request per message, exactly one answer per
// request, in order.
//
// Request (8-byte header, then the packet; all integers network order):
//   u8  version   kInjectVersion
//   u8  kind      InjectKind: out (from the host into ipsecN), in (from the network), or
//                 collect (no packet: fetch what the engine emitted on its own since the last
//                 collect, such as held packets re-sent after SADB_X_ADDFLOW with REPLACEFLOW)
//   u16 reserved  0
//   u32 tag       echoed in the answer
//   packet        one IPv4 or IPv6 packet, its IP header first (empty for collect)
// Answer (12-byte header, the summary, then the packets):
//   u8  version, u8 kind (echoed), u8 outcome (InjectOutcome), u8 reserved 0
//   u32 tag (echoed)
//   u16 packet_count, u16 summary_length
//   summary       one line of text without its newline: what happened, in words
//   packet_count × { u8 port (InjectPort), u8 reserved 0, u16 length, length bytes }
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace kmod_sim::inject {

inline constexpr uint8_t kInjectVersion = 1;
inline constexpr size_t kRequestHeaderSize = 8;
inline constexpr size_t kAnswerHeaderSize = 12;
inline constexpr size_t kPacketHeaderSize = 4;
inline constexpr size_t kMaxPacket = 65535;
// The largest answer: a header, a summary and at most a few packets of kMaxPacket.
inline constexpr size_t kMaxAnswer = 1 << 20;
inline constexpr const char* kSocketName = "packets";

enum class InjectKind : uint8_t { out = 1, in = 2, collect = 3 };

// What became of the packet (the first of the answer's packets, if any, is its result).
enum class InjectOutcome : uint8_t {
    sent = 1,       // processed by an SA chain and sent to the wire
    passed = 2,     // sent on unchanged: %pass, IKE, or not IPsec's to handle
    delivered = 3,  // decapsulated and handed to the host
    rejected = 4,   // %reject: dropped, an ICMP error goes back to the host
    held = 5,       // kept by a %hold eroute
    trapped = 6,    // %trap / %trapsubnet: ACQUIRE sent (or not), packet kept or dropped
    dropped = 7,    // dropped; the summary says why and which counter counted it
    refused = 8,    // the request itself was malformed; nothing was processed
    collected = 9,  // answer to collect
};

enum class InjectPort : uint8_t { wire = 1, host = 2 };

const char* to_string(InjectKind kind);
const char* to_string(InjectOutcome outcome);
const char* to_string(InjectPort port);

struct InjectRequest {
    InjectKind kind = InjectKind::out;
    uint32_t tag = 0;
    std::span<const uint8_t> packet;  // into the decoded bytes
};

struct InjectedPacket {
    InjectPort port = InjectPort::wire;
    std::vector<uint8_t> bytes;
};

struct InjectAnswer {
    InjectKind kind = InjectKind::out;
    InjectOutcome outcome = InjectOutcome::dropped;
    uint32_t tag = 0;
    std::string summary;
    std::vector<InjectedPacket> packets;
};

std::vector<uint8_t> encode_request(InjectKind kind, uint32_t tag, std::span<const uint8_t> packet);
// nullopt (and *error set) for a bad version, kind, reserved field or size.
std::optional<InjectRequest> decode_request(std::span<const uint8_t> bytes, std::string* error);

// Appends to out: answers are built in a reused buffer on the daemon's side.
void encode_answer_header(InjectKind kind, InjectOutcome outcome, uint32_t tag, uint16_t packet_count,
                          std::string_view summary, std::vector<uint8_t>& out);
void encode_answer_packet(InjectPort port, std::span<const uint8_t> packet, std::vector<uint8_t>& out);
std::optional<InjectAnswer> decode_answer(std::span<const uint8_t> bytes, std::string* error);

}  // namespace kmod_sim::inject
