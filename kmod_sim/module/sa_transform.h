// The data-plane half of an SA: its keyed transform (ESP, AH, IPComp or IPIP, from crypto/),
// its anti-replay window and its outbound sequence counter. Built from the keys of an ADD or
// UPDATE message, which are then wiped; the keys live on only inside the crypto objects, in
// sodium_malloc memory, and are wiped when the SA is deleted.
//
// `mutex` guards everything a packet changes in the SA: this state and the counters of its
// SecurityAssociation record (lifetimes, replay and error counters, IPComp ratio). Packet
// paths hold it only around that bookkeeping, never across ESP or AH crypto (IPComp's zlib
// streams take one packet at a time, so deflate and inflate run under it); snapshots take it
// to copy a consistent record.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>

#include "crypto/ah.h"
#include "crypto/esp.h"
#include "crypto/ipcomp.h"
#include "crypto/ipip.h"
#include "crypto/replay_window.h"

namespace kmod_sim {

struct SecurityAssociation;

struct SaTransform {
    mutable std::mutex mutex;
    std::optional<crypto::Esp> esp;
    std::optional<crypto::Ah> ah;
    std::unique_ptr<crypto::IpComp> ipcomp;  // its zlib streams: one packet at a time, under mutex
    std::optional<crypto::IpipTunnel> ipip;
    crypto::ReplayWindow replay{0};
    uint64_t next_seq = 1;        // outbound: the next sequence number to send (under mutex)
    bool soft_expired = false;    // one soft EXPIRE per SA
    bool hard_expired = false;    // hard EXPIRE sent; the group is being deleted
};

struct SaKeys {
    std::span<const uint8_t> auth;
    std::span<const uint8_t> encrypt;
};

// The crypto/ algorithm of a PF_KEY algorithm id; nullopt for one kmod-sim does not have.
// kAuthNone is Integrity::none (an AEAD's SA).
std::optional<crypto::Cipher> esp_cipher_of(uint8_t sadb_ealg);
std::optional<crypto::Integrity> integrity_of(uint8_t sadb_aalg);

// The transform for `sa` (its protocol, algorithms, replay window and flags) keyed with
// `keys`: null and *error set when they do not make one (a message naming what is wrong).
// ESP and AH use 64-bit extended sequence numbers when sa.flags has pfkey::kSaFlagXEsn.
std::shared_ptr<SaTransform> make_sa_transform(const SecurityAssociation& sa, SaKeys keys, std::string* error);

}  // namespace kmod_sim
