// What the module does with a PF_KEY v2 message from a socket, as KLIPS's pfkey_v2_parser.c
// did: decode and check it, apply it to the Klips, and answer (RFC 2367, spec/klips.md §9.3).
//
// Every message gets exactly one answer for its sender, in order (DUMP: one per SA, the last
// with seq 0): on success the reply message, on failure the 16-byte sadb_msg alone with
// sadb_msg_errno set. KLIPS returned the errno from write(2); a socket server can only answer
// with a message. A message that does not decode or validate gets EINVAL and changes nothing.
// Replies to ADD, UPDATE, DELETE, FLUSH, X_GRPSA, X_ADDFLOW and X_DELFLOW are for every open
// socket, as KLIPS's pfkey_upmsg loops sent them; the others for the sender only.
//
// Handled: GETSPI, UPDATE, ADD, DELETE, GET, REGISTER, FLUSH, DUMP, X_PROMISC, X_GRPSA,
// X_ADDFLOW, X_DELFLOW, X_DEBUG, and kmod-sim's X_TNCFG and X_CLOCK (pfkey_types.h).
// ACQUIRE, EXPIRE and X_PCHANGE travel from the kernel only: EOPNOTSUPP. X_ADDFLOW with
// REPLACEFLOW hands the replaced eroute's held packets to PfkeyHost::reinject.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "kmod_sim/lib/pfkey_message.h"
#include "klips.h"

namespace kmod_sim {

// What the module remembers of one PF_KEY socket.
struct PfkeySocket {
    uint32_t registered_satypes = 0;  // bit n set: REGISTERed for satype n (ACQUIRE goes to ESP's)
    bool promiscuous = false;         // X_PROMISC: also gets a copy of what other sockets send
};

struct PfkeyAnswer {
    enum class Audience { sender, all };
    Audience audience = Audience::sender;
    std::vector<uint8_t> message;
};

// What making an attached ipsecN real gave: 0 and the device's MTU, or an errno.
struct DeviceOpened {
    int error = 0;
    uint32_t mtu = 0;
};

// What the handler needs from the host it runs on.
struct PfkeyHost {
    // The MTU of a network device of the host, nullopt when there is none (X_TNCFG attach).
    std::function<std::optional<uint32_t>(std::string_view)> device_mtu;
    // The clock X_CLOCK may set and advance; null when the daemon runs the real clock.
    ManualClock* manual_clock = nullptr;
    // GETSPI's choice of SPI.
    std::function<uint32_t()> random;
    // Sends a packet again through the data plane (held packets after REPLACEFLOW); null
    // frees them instead.
    std::function<void(std::vector<uint8_t>)> reinject;
    // Makes an ipsecN real once the tables agree to attach it (a TUN device, raw sockets on the
    // physical one). Null: the devices exist in the tables only, with KLIPS's MTU.
    std::function<DeviceOpened(std::string_view virtual_name, std::string_view physical, uint32_t physical_mtu)>
        open_device;
    // Removes what open_device made (detach, clear).
    std::function<void(std::string_view virtual_name)> close_device;
};

// The failure answer to `request`: its sadb_msg header (as much of it as was readable) with
// sadb_msg_errno set and no extensions.
std::vector<uint8_t> pfkey_error_answer(std::span<const uint8_t> request, int error);

class PfkeyHandler {
public:
    PfkeyHandler(Klips& klips, PfkeyHost host);

    // Handles one datagram from `socket` and appends its answers to *answers.
    void handle(std::span<const uint8_t> datagram, PfkeySocket& socket, std::vector<PfkeyAnswer>* answers);

private:
    struct Outcome {
        int error = 0;
        PfkeyAnswer::Audience audience = PfkeyAnswer::Audience::sender;
        bool answered = false;  // the answers are already out (DUMP)
        bool rewritten = false; // the reply is the message as changed, not the request's bytes
    };
    static Outcome failed(int error) { return {error, PfkeyAnswer::Audience::sender, false, false}; }
    static Outcome rewritten() { return {0, PfkeyAnswer::Audience::sender, false, true}; }

    Outcome dispatch(pfkey::Message& message, PfkeySocket& socket, std::vector<PfkeyAnswer>* answers);
    Outcome get_spi(pfkey::Message& m);
    Outcome add_flow(const pfkey::Message& m);
    Outcome delete_flow(const pfkey::Message& m);
    Outcome group(const pfkey::Message& m);
    Outcome tncfg(const pfkey::Message& m);
    Outcome clock(pfkey::Message& m);
    Outcome dump(const pfkey::Message& m, std::vector<PfkeyAnswer>* answers);

    Klips& klips_;
    PfkeyHost host_;
};

}  // namespace kmod_sim
