// What Klips::xmit and Klips::rcv did with one packet (spec/klips.md §6.3-§7.7): the verdict,
// why a packet was dropped, the SAID that decided, and the packet that came out, if any.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "eroute_cache.h"
#include "kmod_sim/lib/said.h"

namespace kmod_sim {

enum class PacketVerdict : uint8_t {
    sent,       // xmit: through an SA chain, to the wire
    passed,     // sent on unchanged: %pass, IKE, or (rcv) not a packet KLIPS handles
    delivered,  // rcv: every IPsec header checked and removed, the inner packet to the host
    rejected,   // %reject: dropped; an ICMP destination unreachable goes back to the host
    held,       // kept by a %hold eroute as its last packet
    trapped,    // %trap / %trapsubnet: ACQUIRE attempted; the packet is held if one was sent
    dropped,
};

// Why a packet was dropped; each inbound reason names the ipsec_spi counter it moves, if any.
enum class DropReason : uint8_t {
    none,
    malformed,         // not a well-formed IPv4/IPv6 packet
    no_eroute,         // xmit: no eroute matched (KLIPS's default %drop)
    drop_eroute,       // xmit: the eroute says %drop
    no_sa,             // xmit: the eroute's SA, or one of its group, does not exist
    sa_not_mature,     // the SA is LARVAL (GETSPI without UPDATE) or DEAD
    hard_expired,      // a hard lifetime passed: EXPIRE sent, group deleted
    seq_exhausted,     // xmit: the sequence number would wrap (no ESN): treated as hard expiry
    too_big,           // xmit: the result would not fit an IP packet
    unsupported,       // a header layout the transforms do not handle (e.g. IPv4 source routing)
    unknown_sa,        // rcv: no SA for (destination, SPI/CPI, protocol)
    wrong_source,      // rcv: outer source is not the SA's source (inbound policy check)
    wrong_chain,       // rcv: the SA is not the one the group puts next (inext), or one is missing
    replay,            // rcv: below the window or seen before: ooo_errs
    auth_failed,       // rcv: ICV mismatch: auth_errs
    bad_size,          // rcv: too short for header, IV and ICV: encr_size_errs
    bad_padding,       // rcv: pad length or padding bytes wrong: encr_pad_errs
    dummy_packet,      // rcv: ESP next header 59 (RFC 4303 §2.6), dropped silently
    decompress_failed, // rcv: IPComp flags, CPI, inflate error or size
    not_tunnel,        // rcv: the group wants IPIP next and the packet is not IPIP
    inner_policy,      // rcv: the inner packet is outside the tunnel's `eroute --addin` policy
    ecn,               // rcv: outer CE over an inner Not-ECT (RFC 6040 §4.2)
    fragment,          // rcv: an IPsec fragment, which would need reassembly first
};

enum class PacketPort : uint8_t { none, wire, host };

const char* to_string(PacketVerdict verdict);
const char* to_string(DropReason reason);

struct PacketResult {
    PacketVerdict verdict = PacketVerdict::dropped;
    DropReason reason = DropReason::none;
    PacketPort port = PacketPort::none;
    std::span<const uint8_t> packet;  // what came out: into the PacketWork, valid until its next use
    Said said;                        // xmit: the eroute's SAID; rcv: the SA that decided
    bool has_said = false;
    uint8_t transforms = 0;           // SAs applied (xmit) or removed (rcv)
};

// One packet thread's reusable state: the flow cache and the buffers packets are built in,
// so that once warm, a packet path allocates nothing.
class PacketWork {
public:
    EroutCache cache;
    std::vector<uint8_t> buffers[2];
    size_t current = 0;            // which buffer holds the packet being built
    std::vector<uint8_t> scratch;  // a transform's own output (deflate, inflate)
    uint64_t now = 0;              // the clock, read once per packet
};

// What happened, in words, after the verdict (`ipsec inject` prints "<verdict>: <this>"):
// "tun.1001@192.0.2.2, 2 transforms, 156 bytes to the wire";
// "authentication failed (auth_errs) at esp.1001@192.0.2.2".
std::string describe(const PacketResult& result);

}  // namespace kmod_sim
