#include "ipcomp.h"

#include <zlib.h>

#include <new>
#include <stdexcept>

namespace kmod_sim::crypto {

namespace {

// Raw DEFLATE both ways (RFC 2394 §2.1: no zlib header, no Adler-32). Deflate uses a 2 KiB
// window as Linux does, which inflates with windowBits 11 (spec/dataplane.md §1.6): no ratio
// loss on packets of MTU size, and safe towards Linux peers. Inflate takes any window.
constexpr int kDeflateWindowBits = -11;
constexpr int kInflateWindowBits = -15;
constexpr int kMemLevel = 8;  // memLevel under 8 was slower and compressed worse (§1.6)

constexpr uint8_t kAh = 51;
constexpr uint8_t kEsp = 50;

// KLIPS's threshold of gain: the data must leave 32 bytes (payloads up to 512) or 1/16 of the
// payload unused besides the header, else the work of the peer's inflate is not worth it.
size_t room_for(size_t payload) {
    const size_t gain = payload <= 512 ? 32 : payload / 16;
    return payload - IpComp::kHeaderSize - gain;
}

}  // namespace

struct IpComp::Streams {
    z_stream deflate{};
    z_stream inflate{};
    bool deflate_ready = false;
    bool inflate_ready = false;
    ~Streams() {
        if (deflate_ready) deflateEnd(&deflate);
        if (inflate_ready) inflateEnd(&inflate);
    }
};

const char* to_string(CompResult result) {
    switch (result) {
    case CompResult::compressed: return "compressed";
    case CompResult::skipped_protocol: return "already IPComp, AH or ESP";
    case CompResult::skipped_small: return "under 90 bytes";
    case CompResult::skipped_backoff: return "adaptive back-off";
    case CompResult::skipped_no_gain: return "no gain";
    }
    return "?";
}

const char* to_string(DecompStatus status) {
    switch (status) {
    case DecompStatus::ok: return "ok";
    case DecompStatus::too_short: return "too short";
    case DecompStatus::bad_flags: return "non-zero flags";
    case DecompStatus::unknown_cpi: return "unknown CPI";
    case DecompStatus::unknown_alg: return "unknown compression algorithm";
    case DecompStatus::nested: return "nested IPComp";
    case DecompStatus::inflate_error: return "inflate error";
    case DecompStatus::too_big: return "decompressed size over the cap";
    }
    return "?";
}

IpComp::IpComp(int level, size_t max_output) : streams_(std::make_unique<Streams>()), max_output_(max_output) {
    if (level < 0 || level > 9) throw std::invalid_argument("IPComp deflate level must be 0..9");
    if (max_output == 0 || max_output > UINT32_MAX)
        throw std::invalid_argument("IPComp decompression cap must be 1..4294967295 bytes");
    if (deflateInit2(&streams_->deflate, level, Z_DEFLATED, kDeflateWindowBits, kMemLevel, Z_DEFAULT_STRATEGY) != Z_OK)
        throw std::bad_alloc();
    streams_->deflate_ready = true;
    if (inflateInit2(&streams_->inflate, kInflateWindowBits) != Z_OK) throw std::bad_alloc();
    streams_->inflate_ready = true;
}

IpComp::~IpComp() = default;

CompResult IpComp::compress(std::span<const uint8_t> payload, uint8_t next_header, uint16_t cpi,
                            std::vector<uint8_t>& out) {
    out.clear();
    bytes_in_.fetch_add(payload.size(), std::memory_order_relaxed);
    auto skipped = [&](CompResult why) {
        packets_skipped_.fetch_add(1, std::memory_order_relaxed);
        bytes_out_.fetch_add(payload.size(), std::memory_order_relaxed);
        return why;
    };

    // The order is ipcomp.c's: what can never pay first, then the back-off, then the work.
    if (next_header == kProtocol || next_header == kAh || next_header == kEsp)
        return skipped(CompResult::skipped_protocol);
    if (payload.size() < kMinPayload) return skipped(CompResult::skipped_small);
    if (skip_ > 0) {
        --skip_;
        return skipped(CompResult::skipped_backoff);
    }

    // One byte more than the room, so that output filling the room exactly can still end
    // the stream (deflate reports Z_OK, not Z_STREAM_END, when its last byte fills the buffer).
    const size_t room = room_for(payload.size());
    out.resize(kHeaderSize + room + 1);
    z_stream& z = streams_->deflate;
    deflateReset(&z);
    z.next_in = const_cast<Bytef*>(payload.data());  // zlib's API is not const-correct
    z.avail_in = static_cast<uInt>(payload.size());
    z.next_out = out.data() + kHeaderSize;
    z.avail_out = static_cast<uInt>(room + 1);
    // Z_OK or Z_BUF_ERROR with the buffer full: the output does not fit, so it does not pay.
    if (::deflate(&z, Z_FINISH) != Z_STREAM_END || z.avail_out == 0) {
        out.clear();
        ++failures_;
        if (failures_ == kInitialTries) {
            skip_ = kInitialSkip;
        } else if (failures_ == kInitialTries + kSubseqTries) {
            skip_ = kSubseqSkip;
            failures_ = kInitialTries;
        }
        return skipped(CompResult::skipped_no_gain);
    }
    failures_ = 0;
    skip_ = 0;
    out.resize(kHeaderSize + (room + 1 - z.avail_out));
    out[0] = next_header;
    out[1] = 0;  // flags, reserved (RFC 3173 §3.3)
    out[2] = uint8_t(cpi >> 8);
    out[3] = uint8_t(cpi);
    packets_compressed_.fetch_add(1, std::memory_order_relaxed);
    bytes_out_.fetch_add(out.size(), std::memory_order_relaxed);
    return CompResult::compressed;
}

Decompressed IpComp::decompress(std::span<const uint8_t> ipcomp, uint16_t sa_cpi, CompAlg alg,
                                std::vector<uint8_t>& out) {
    out.clear();
    Decompressed result;
    if (ipcomp.size() <= kHeaderSize) return result;
    result.next_header = ipcomp[0];
    const uint16_t cpi = uint16_t(ipcomp[2] << 8 | ipcomp[3]);
    if (ipcomp[1] != 0) {
        result.status = DecompStatus::bad_flags;
    } else if (alg != CompAlg::deflate) {
        result.status = DecompStatus::unknown_alg;
    } else if (cpi != sa_cpi && cpi != static_cast<uint16_t>(alg)) {
        result.status = DecompStatus::unknown_cpi;
    } else if (result.next_header == kProtocol) {
        result.status = DecompStatus::nested;
    } else {
        const auto data = ipcomp.subspan(kHeaderSize);
        out.resize(max_output_);
        z_stream& z = streams_->inflate;
        inflateReset(&z);
        z.next_in = const_cast<Bytef*>(data.data());
        z.avail_in = static_cast<uInt>(data.size());
        z.next_out = out.data();
        z.avail_out = static_cast<uInt>(max_output_);
        const int rc = ::inflate(&z, Z_FINISH);
        if (rc == Z_STREAM_END && z.avail_in == 0) {
            out.resize(max_output_ - z.avail_out);
            result.status = DecompStatus::ok;
            return result;
        }
        result.status = rc != Z_STREAM_END && z.avail_out == 0 && rc != Z_DATA_ERROR
                            ? DecompStatus::too_big
                            : DecompStatus::inflate_error;
    }
    out.clear();
    return result;
}

CompCounters IpComp::counters() const {
    return {packets_compressed_.load(std::memory_order_relaxed), packets_skipped_.load(std::memory_order_relaxed),
            bytes_in_.load(std::memory_order_relaxed), bytes_out_.load(std::memory_order_relaxed)};
}

}  // namespace kmod_sim::crypto
