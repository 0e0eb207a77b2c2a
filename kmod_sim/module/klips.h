// class Klips: the emulated KLIPS module. It owns the eroute table, the SADB and its groups,
// the ipsecN devices, the debug switches and the trap counters, and answers the operations
// PF_KEY makes with KLIPS's errno results (spec/klips.md §5-§7).
//
// Pure logic: no sockets, no files, no system clock. Concurrency (DESIGN.md): one
// writer-preferring reader-writer lock (rw_lock.h); PF_KEY operations take it for writing,
// packet paths and snapshots for reading; packet counters are relaxed atomics so counting
// never needs the write lock.
// Snapshots copy rows under the read lock; renderers format them outside it.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "clock.h"
#include "kmod_sim_version.h"
#include "eroute_cache.h"
#include "eroute_table.h"
#include "ip_packet.h"
#include "klipsdebug.h"
#include "packet_result.h"
#include "rw_lock.h"
#include "sadb.h"
#include "tncfg.h"

namespace kmod_sim {

// Which KLIPS the /proc files imitate (DESIGN.md "Two output profiles, one model").
enum class OutputProfile { seed, openswan };

// What the data plane tells the PF_KEY sockets (spec/klips.md §6.4, §7.7). The daemon's
// socket server implements it; messages are complete PF_KEY v2 datagrams.
class KlipsEvents {
public:
    virtual ~KlipsEvents() = default;
    // An ACQUIRE for the sockets registered for ESP: false when none is (KLIPS's
    // EPROTONOSUPPORT), and then no %hold is installed.
    virtual bool acquire(std::vector<uint8_t> message) = 0;
    // An EXPIRE, soft or hard, for every open socket.
    virtual void expire(std::vector<uint8_t> message) = 0;
};

struct KlipsConfig {
    OutputProfile profile = OutputProfile::seed;
    std::string version = KMOD_SIM_VERSION;
    std::shared_ptr<const Clock> clock;  // required
    // Whether an address is one of this host's: decides an SA's direction when it is added.
    std::function<bool(const IpAddress&)> is_local_address;
    // Where ACQUIRE and EXPIRE go; null drops them (and %trap then never installs a %hold).
    KlipsEvents* events = nullptr;
};

struct EroutRequest {
    EroutSelector selector;
    Said said;
    uint32_t pid = 0;
    std::optional<EroutIdentities> idents;
};

// One eroute as a listing shows it, copied out of the table.
struct EroutRow {
    IpAddress src, dst, src_mask, dst_mask;
    uint16_t sport = 0, dport = 0;
    uint8_t proto = 0;
    Said said;
    uint32_t count = 0;
    std::shared_ptr<const EroutIdentities> idents;  // shared with the table: copying is cheap
};

// One SA as ipsec_spi shows it: the record without its links.
struct SaRow {
    SecurityAssociation sa;  // inner/outer are null in a row
};

class Klips {
public:
    explicit Klips(KlipsConfig config);

    OutputProfile profile() const { return config_.profile; }
    const std::string& version() const { return config_.version; }
    uint64_t now() const { return config_.clock->now(); }

    // ---- eroutes (SADB_X_ADDFLOW / SADB_X_DELFLOW)
    // 0, EEXIST, or EINVAL for a selector of mixed families.
    int add_eroute(const EroutRequest& request);
    // Replaces the eroute with the same selector (REPLACEFLOW): its held packets come back in
    // *reinject for the caller to send through the new eroute. EFAULT/ENOENT as delete.
    int replace_eroute(const EroutRequest& request, std::unique_ptr<HeldPackets>* reinject);
    // 0, EFAULT (no eroute with that key) or ENOENT (none with that mask). Held packets are freed.
    int delete_eroute(const EroutSelector& selector);
    void clear_eroutes();
    // `eroute --addin` (ADDFLOW with INFLOW): stores the inner policy in the IPIP SA found by
    // walking inward from `said`, and marks it INFLOW. ENOENT when there is none.
    int add_inbound_policy(const Said& said, const Subnet& src, const Subnet& dst);

    // The eroute a packet matches, counted (er_count, er_lasttime); nullopt for none. A packet
    // thread passes its own cache.
    std::optional<Said> route_packet(const PacketSelector& packet, EroutCache* cache = nullptr);

    // ---- the data plane (spec/klips.md §6.3-§7.7)
    // A packet the host routed into an ipsecN device: eroute lookup and count, then the
    // eroute's magic action or its SA group applied inner to outer.
    PacketResult xmit(std::span<const uint8_t> packet, PacketWork& work);
    // A packet from the network: its ESP, AH and IPComp headers checked and removed by the SAs
    // they name, the tunnel stripped and the inner packet checked against the group's policy.
    PacketResult rcv(std::span<const uint8_t> packet, PacketWork& work);

    // ---- SAs (SADB_ADD / DELETE / FLUSH / X_GRPSA)
    // 0 or EEXIST. Sets the direction, the addtime stamp and clears the links.
    int add_sa(SecurityAssociation sa);
    // SADB_UPDATE (RFC 2367 §3.1.2): a LARVAL SA (from GETSPI) takes every parameter of `sa`
    // and keeps its links; a MATURE or DYING one takes only lifetime limits, a smaller new
    // limit replacing a larger one. ESRCH when missing, EINVAL when a non-larval SA would
    // change its algorithms.
    int update_sa(const SecurityAssociation& sa);
    int delete_sa(const Said& said);      // 0 or ESRCH; deletes the whole group
    void flush_sas(uint8_t proto = 0);    // all SAs, or those of one protocol
    int group_sas(const Said& inner, const Said& outer);  // 0, ENOENT, EEXIST
    int ungroup_sa(const Said& said);                      // 0 or ENOENT
    std::optional<SecurityAssociation> find_sa(const Said& said) const;  // links cleared

    // ---- tncfg
    int can_attach_device(std::string_view virtual_name) const;  // 0, ENODEV or EBUSY
    int attach_device(std::string_view virtual_name, std::string_view physical, uint32_t mtu, uint32_t physical_mtu);
    int detach_device(std::string_view virtual_name);
    bool set_physical_mtu(std::string_view virtual_name, uint32_t physical_mtu);  // false: not attached
    void clear_devices();

    // ---- klipsdebug (SADB_X_DEBUG)
    void apply_debug(const KlipsDebug::Words& words);

    // ---- trap counters (the data plane counts ACQUIREs attempted and sent)
    void count_trap(bool sent);

    // ---- snapshots, each one consistent moment of the tables
    std::vector<EroutRow> eroute_rows() const;
    std::vector<SaRow> sa_rows() const;  // listing order
    // The SAID sequences ipsec_spigrp lists, per the profile's rule (spec/klips.md §3.2).
    std::vector<std::vector<Said>> spigrp_lines() const;
    std::vector<IpsecDevice> devices() const;
    KlipsDebug::Words debug_words() const;
    uint32_t trap_count() const { return trap_count_.load(std::memory_order_relaxed); }
    uint32_t trap_sendcount() const { return trap_sendcount_.load(std::memory_order_relaxed); }
    size_t eroute_count() const;
    size_t sa_count() const;

private:
    // ---- the data plane's pieces (klips_xmit.cc, klips_rcv.cc, klips_sa_use.cc)
    DropReason apply_outbound(SecurityAssociation& sa, std::span<const uint8_t> in, PacketWork& work,
                              std::vector<Said>* expired);
    DropReason take_outbound(SecurityAssociation& sa, size_t out_size, uint64_t* seq, PacketWork& work,
                             std::vector<Said>* expired);
    DropReason apply_tunnel_esp(SecurityAssociation& tun, SecurityAssociation& esp, std::span<const uint8_t> in,
                                PacketWork& work, std::vector<Said>* expired);
    DropReason apply_bundle(const Said& said, std::span<const uint8_t> packet, PacketWork& work,
                            uint8_t* transforms, std::vector<Said>* expired);
    PacketResult hold_or_trap(std::span<const uint8_t> packet, const PacketSelector& selector);
    DropReason apply_inbound(SecurityAssociation& sa, const IpHeader& header, std::span<const uint8_t> in,
                             PacketWork& work, std::vector<Said>* expired);
    DropReason strip_tunnel(SecurityAssociation& tun, PacketWork& work, std::span<uint8_t>* inner,
                            std::vector<Said>* expired);
    // The packet, unchanged, as what came out.
    static PacketResult emit(std::span<const uint8_t> packet, PacketWork& work, PacketVerdict verdict,
                             PacketPort port);
    static void count_eroute(Eroute& e, uint64_t now);
    // With sa.transform->mutex held: state and lifetimes (EXPIREs; a group to delete goes in
    // *expired), a hard expiry, and a packet's count.
    DropReason admit_locked(SecurityAssociation& sa, uint64_t now, std::vector<Said>* expired);
    void expire_hard_locked(SecurityAssociation& sa, std::vector<Said>* expired);
    static void count_use_locked(SecurityAssociation& sa, size_t bytes, uint64_t now);
    void notify_expire(const SecurityAssociation& sa, bool hard);
    // Deletes the groups whose hard lifetime passed (write lock).
    void delete_expired(const std::vector<Said>& expired);
    uint32_t next_pfkey_seq() { return pfkey_seq_.fetch_add(1, std::memory_order_relaxed) + 1; }

    KlipsConfig config_;
    mutable RwLock mutex_;
    EroutTable eroutes_;
    Sadb sadb_;
    Tncfg tncfg_;
    KlipsDebug debug_;
    std::atomic<uint32_t> trap_count_{0};
    std::atomic<uint32_t> trap_sendcount_{0};
    std::atomic<uint32_t> pfkey_seq_{0};  // ACQUIRE and EXPIRE numbers
};

}  // namespace kmod_sim
