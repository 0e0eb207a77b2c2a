#include "packet_result.h"

namespace kmod_sim {

const char* to_string(PacketVerdict verdict) {
    switch (verdict) {
    case PacketVerdict::sent: return "sent";
    case PacketVerdict::passed: return "passed";
    case PacketVerdict::delivered: return "delivered";
    case PacketVerdict::rejected: return "rejected";
    case PacketVerdict::held: return "held";
    case PacketVerdict::trapped: return "trapped";
    case PacketVerdict::dropped: return "dropped";
    }
    return "?";
}

const char* to_string(DropReason reason) {
    switch (reason) {
    case DropReason::none: return "none";
    case DropReason::malformed: return "not a well-formed IP packet";
    case DropReason::no_eroute: return "no eroute (default %drop)";
    case DropReason::drop_eroute: return "eroute says drop";
    case DropReason::no_sa: return "no SA for the eroute's SAID or its group";
    case DropReason::sa_not_mature: return "SA is larval or dead";
    case DropReason::hard_expired: return "hard lifetime passed, SA group deleted";
    case DropReason::seq_exhausted: return "sequence number would wrap, SA group deleted";
    case DropReason::too_big: return "result would exceed 65535 bytes";
    case DropReason::unsupported: return "header layout not supported";
    case DropReason::unknown_sa: return "no SA for this destination, SPI and protocol";
    case DropReason::wrong_source: return "outer source is not the SA's source";
    case DropReason::wrong_chain: return "SA out of its group's order";
    case DropReason::replay: return "replayed or too old (ooo_errs)";
    case DropReason::auth_failed: return "authentication failed (auth_errs)";
    case DropReason::bad_size: return "too short for its headers (encr_size_errs)";
    case DropReason::bad_padding: return "bad padding (encr_pad_errs)";
    case DropReason::dummy_packet: return "ESP dummy packet";
    case DropReason::decompress_failed: return "IPComp could not be inflated";
    case DropReason::not_tunnel: return "group expects a tunnel, packet is not IPIP";
    case DropReason::inner_policy: return "inner packet outside the tunnel's policy";
    case DropReason::ecn: return "CE outer over a Not-ECT inner packet";
    case DropReason::fragment: return "fragment";
    }
    return "?";
}

std::string describe(const PacketResult& r) {
    std::string text;
    auto add = [&](const std::string& part) {
        if (!text.empty()) text += ", ";
        text += part;
    };
    if (r.verdict == PacketVerdict::dropped) text = to_string(r.reason);
    if (r.has_said) {
        if (r.verdict == PacketVerdict::dropped) text += " at " + satot(r.said, SaidFormat::dotted);
        else add(satot(r.said, SaidFormat::dotted));
    }
    if (r.transforms != 0) add(std::to_string(r.transforms) + (r.transforms == 1 ? " transform" : " transforms"));
    if (r.port != PacketPort::none) {
        add(std::to_string(r.packet.size()) + " bytes to the " + (r.port == PacketPort::wire ? "wire" : "host"));
    }
    if (text.empty()) text = to_string(r.verdict);
    return text;
}

}  // namespace kmod_sim
