// One IPComp SA (RFC 3173) with raw DEFLATE (RFC 2394), as KLIPS's ipcomp.c runs it
// (spec/klips.md §7.5): which packets are worth compressing, the adaptive back-off after
// repeated failures, the CPIs accepted inbound, and the ratio counters. Each datagram is
// compressed on its own (RFC 3173 §2.1); the SA keeps one deflate and one inflate stream and
// resets them per packet, so nothing in a packet path allocates beyond the caller's vector.
//
// compress() and decompress() change the streams and the back-off state: one caller at a
// time per SA. The counters are relaxed atomics and may be read from anywhere.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

struct z_stream_s;

namespace kmod_sim::crypto {

// IPCOMP transform IDs, which are also the well-known CPIs (RFC 3173 §3.3, RFC 2394 §4).
enum class CompAlg : uint8_t {
    deflate = 2,
};

// What compress() did. Every value but compressed means: send the payload as it was, with
// no IPComp header (RFC 3173 §2.2); the receiver accepts both forms.
enum class CompResult {
    compressed,
    skipped_protocol,  // the payload is already IPComp, AH or ESP
    skipped_small,     // payload under 90 bytes (RFC 2394 §3)
    skipped_backoff,   // the adaptive skip counter was non-zero
    skipped_no_gain,   // deflate output did not fit in the size that makes it worth sending
};

// Why an inbound IPComp payload was dropped.
enum class DecompStatus {
    ok,
    too_short,      // no room for the 4-byte header and at least one byte of data
    bad_flags,      // the reserved flags byte is not zero (KLIPS drops these)
    unknown_cpi,    // neither the SA's CPI nor the algorithm's well-known CPI
    unknown_alg,    // the SA's algorithm is not one this build can inflate
    nested,         // the inner protocol is IPComp again
    inflate_error,  // not a complete raw DEFLATE stream, or bytes after its end
    too_big,        // the output would pass the SA's cap
};

const char* to_string(CompResult result);
const char* to_string(DecompStatus status);

struct Decompressed {
    DecompStatus status = DecompStatus::too_short;
    uint8_t next_header = 0;
    explicit operator bool() const { return status == DecompStatus::ok; }
};

// ratio=d:c in KLIPS's listing: every packet offered to compress(), compressed or not.
struct CompCounters {
    uint64_t packets_compressed = 0;
    uint64_t packets_skipped = 0;
    uint64_t bytes_in = 0;   // payload bytes offered ("decompressed" size)
    uint64_t bytes_out = 0;  // bytes sent in their place: header + data, or the payload as it was
};

class IpComp {
public:
    static constexpr size_t kHeaderSize = 4;          // next header, flags, CPI
    static constexpr uint8_t kProtocol = 108;         // IPPROTO_COMP
    static constexpr size_t kMinPayload = 90;         // RFC 2394 §3, KLIPS and Linux
    static constexpr size_t kDefaultMaxOutput = 16260;  // KLIPS: max(MTU, 16260)
    // spec/dataplane.md §5: level 1 deflates ~30% faster than 6 for a 3.5% worse ratio.
    static constexpr int kDefaultLevel = 1;

    // KLIPS's adaptive back-off (IPCOMP_ADAPT_INITIAL_TRIES/SKIP, SUBSEQ_TRIES/SKIP).
    static constexpr unsigned kInitialTries = 8;
    static constexpr unsigned kInitialSkip = 4;
    static constexpr unsigned kSubseqTries = 2;
    static constexpr unsigned kSubseqSkip = 8;

    // Throws std::invalid_argument for a level outside 0..9 or a zero cap, std::bad_alloc
    // when zlib cannot allocate its streams.
    explicit IpComp(int level = kDefaultLevel, size_t max_output = kDefaultMaxOutput);
    ~IpComp();
    IpComp(const IpComp&) = delete;  // zlib streams point back at themselves
    IpComp& operator=(const IpComp&) = delete;

    // On compressed, out holds the IPComp header (next_header, flags 0, cpi) and the raw
    // DEFLATE data; on any skip, out is empty. Fragments are the caller's to skip: only it
    // sees the IP header.
    CompResult compress(std::span<const uint8_t> payload, uint8_t next_header, uint16_t cpi,
                        std::vector<uint8_t>& out);

    // Checks and inflates ipcomp (IPComp header and data). sa_cpi is the low 16 bits of the
    // SA's SPI; the algorithm's own number is accepted too (peers using the well-known CPI).
    // On ok, out holds exactly the original payload; on any failure out is empty.
    Decompressed decompress(std::span<const uint8_t> ipcomp, uint16_t sa_cpi, CompAlg alg,
                            std::vector<uint8_t>& out);

    CompCounters counters() const;
    // The back-off state, for tests and debugging.
    unsigned failures() const { return failures_; }
    unsigned skip() const { return skip_; }

private:
    struct Streams;
    std::unique_ptr<Streams> streams_;
    size_t max_output_;
    unsigned failures_ = 0;  // consecutive compressions that did not pay
    unsigned skip_ = 0;      // packets still to send without trying
    std::atomic<uint64_t> packets_compressed_{0};
    std::atomic<uint64_t> packets_skipped_{0};
    std::atomic<uint64_t> bytes_in_{0};
    std::atomic<uint64_t> bytes_out_{0};
};

}  // namespace kmod_sim::crypto
