#include "pfkey_validate.h"

#include <array>
#include <string>

namespace kmod_sim::pfkey {

namespace {

// Extension sets as bit masks: bit t for ext type t (1..26); the private X_TNCFG (200) and
// X_CLOCK (201) use bits 27 and 28.
using ExtSet = uint32_t;
constexpr unsigned kTncfgBit = 27;
constexpr unsigned kClockBit = 28;
constexpr unsigned ext_bit_index(uint16_t type) {
    return type == kExtXTncfg ? kTncfgBit : type == kExtXClock ? kClockBit : type;
}
constexpr ExtSet bit(uint16_t type) { return ExtSet{1} << ext_bit_index(type); }

template <typename... T>
constexpr ExtSet set_of(T... types) { return (ExtSet{0} | ... | bit(types)); }

struct Rule {
    ExtSet required;
    ExtSet permitted;  // in addition to the required ones
};

constexpr ExtSet kAddOptional = set_of(kExtLifetimeHard, kExtLifetimeSoft, kExtAddressProxy, kExtKeyAuth,
                                       kExtKeyEncrypt, kExtIdentitySrc, kExtIdentityDst);
// What GET's and DUMP's replies carry besides SA and addresses.
constexpr ExtSet kGetReplyOptional = kAddOptional | bit(kExtLifetimeCurrent);
constexpr ExtSet kFlowSet = set_of(kExtXAddressSrcFlow, kExtXAddressDstFlow, kExtXAddressSrcMask,
                                   kExtXAddressDstMask);
constexpr ExtSet kFlowOptional = set_of(kExtAddressSrc, kExtIdentitySrc, kExtIdentityDst, kExtXProtocol);

Rule rule_for(uint8_t type) {
    switch (type) {
        case kGetSpi:  // request: SRC, DST, SPIRANGE; reply: SA, SRC, DST
            return {set_of(kExtAddressSrc, kExtAddressDst), set_of(kExtSa, kExtSpiRange, kExtAddressProxy)};
        case kUpdate:
        case kAdd:
            return {set_of(kExtSa, kExtAddressSrc, kExtAddressDst), kAddOptional};
        case kDelete:
            return {set_of(kExtSa, kExtAddressDst), set_of(kExtAddressSrc, kExtAddressProxy)};
        case kGet:
            return {set_of(kExtSa, kExtAddressDst), set_of(kExtAddressSrc) | kGetReplyOptional};
        case kAcquire:  // kernel -> registered sockets (§6.4)
            return {set_of(kExtAddressSrc, kExtAddressDst, kExtProposal),
                    set_of(kExtIdentitySrc, kExtIdentityDst, kExtAddressProxy)};
        case kRegister:  // request: base; reply: SUPPORTED_*
            return {0, set_of(kExtSupportedAuth, kExtSupportedEncrypt)};
        case kExpire:  // §7.7
            return {set_of(kExtSa, kExtLifetimeCurrent, kExtAddressSrc, kExtAddressDst),
                    set_of(kExtLifetimeHard, kExtLifetimeSoft)};
        case kFlush:
        case kXPromisc:
        case kXPChange:
            return {0, 0};
        case kDump:  // request: base; replies: as GET's
            return {0, set_of(kExtSa, kExtAddressSrc, kExtAddressDst) | kGetReplyOptional};
        case kXGrpSa:
            return {set_of(kExtSa, kExtAddressDst), set_of(kExtXSaType2, kExtXSa2, kExtXAddressDst2)};
        case kXAddFlow:
            return {set_of(kExtSa, kExtAddressDst) | kFlowSet, kFlowOptional};
        case kXDelFlow:  // flows and masks required unless CLEARFLOW: checked below
            return {set_of(kExtSa), kFlowSet | kFlowOptional | bit(kExtAddressDst)};
        case kXDebug:
            return {set_of(kExtXDebug), 0};
        case kXTncfg:
            return {set_of(kExtXTncfg), 0};
        case kXClock:
            return {set_of(kExtXClock), 0};
        default:
            return {0, 0};
    }
}

constexpr std::array<std::string_view, 27> kExtNames{
    "RESERVED", "SA", "LIFETIME_CURRENT", "LIFETIME_HARD", "LIFETIME_SOFT", "ADDRESS_SRC",
    "ADDRESS_DST", "ADDRESS_PROXY", "KEY_AUTH", "KEY_ENCRYPT", "IDENTITY_SRC", "IDENTITY_DST",
    "SENSITIVITY", "PROPOSAL", "SUPPORTED_AUTH", "SUPPORTED_ENCRYPT", "SPIRANGE", "X_KMPRIVATE",
    "X_SATYPE2", "X_SA2", "X_ADDRESS_DST2", "X_ADDRESS_SRC_FLOW", "X_ADDRESS_DST_FLOW",
    "X_ADDRESS_SRC_MASK", "X_ADDRESS_DST_MASK", "X_DEBUG", "X_PROTOCOL"};

constexpr std::array<std::string_view, 17> kMessageNames{
    "RESERVED", "GETSPI", "UPDATE", "ADD", "DELETE", "GET", "ACQUIRE", "REGISTER", "EXPIRE",
    "FLUSH", "DUMP", "X_PROMISC", "X_PCHANGE", "X_GRPSA", "X_ADDFLOW", "X_DELFLOW", "X_DEBUG"};

std::string_view message_name(uint8_t type) {
    if (type < kMessageNames.size()) return kMessageNames[type];
    if (type == kXTncfg) return "X_TNCFG";
    return type == kXClock ? "X_CLOCK" : "unknown";
}

constexpr size_t kMsgSlots = 19;  // 0..16, 17 for X_TNCFG, 18 for X_CLOCK
constexpr size_t kBits = 29;

size_t msg_slot(uint8_t type) {
    if (type == kXTncfg || type == kXClock) return 17 + (type - kXTncfg);
    return type < 17 ? type : 0;
}

uint16_t ext_of_bit(unsigned b) {
    if (b == kTncfgBit) return kExtXTncfg;
    return b == kClockBit ? uint16_t{kExtXClock} : uint16_t(b);
}

// "<MESSAGE> requires extension <EXT>" / "<MESSAGE> does not permit extension <EXT>",
// built once; the strings live for the program's lifetime.
TextError rule_error(uint8_t type, unsigned ext_bit, bool missing) {
    using Table = std::array<std::array<std::array<std::string, 2>, kBits>, kMsgSlots>;
    static const Table table = [] {
        Table t;
        for (unsigned m = 0; m <= kXClock; ++m) {
            if (m > 16 && m != kXTncfg && m != kXClock) continue;
            for (unsigned b = 0; b < kBits; ++b) {
                std::string msg(message_name(uint8_t(m)));
                std::string ext(extension_name(ext_of_bit(b)));
                t[msg_slot(uint8_t(m))][b][0] = msg + " does not permit extension " + ext;
                t[msg_slot(uint8_t(m))][b][1] = msg + " requires extension " + ext;
            }
        }
        return t;
    }();
    return TextError{table[msg_slot(type)][ext_bit][missing ? 1 : 0]};
}

}  // namespace

std::string_view extension_name(uint16_t ext_type) {
    if (ext_type < kExtNames.size()) return kExtNames[ext_type];
    if (ext_type == kExtXTncfg) return "X_TNCFG";
    return ext_type == kExtXClock ? "X_CLOCK" : "unknown";
}

std::optional<TextError> validate(const Message& m) {
    ExtSet present = 0;
    for (unsigned b = 1; b < kBits; ++b) {
        if (m.has(ext_of_bit(b))) present |= ExtSet{1} << b;
    }
    Rule rule = rule_for(m.type);
    if (m.type == kXDelFlow && m.sa && !(m.sa->flags & kSaFlagXClearFlow)) rule.required |= kFlowSet;

    ExtSet not_permitted = present & ~(rule.required | rule.permitted);
    for (unsigned b = 1; b < kBits; ++b) {
        if (not_permitted & (ExtSet{1} << b)) return rule_error(m.type, b, false);
    }
    if (m.errno_value != 0) return {};  // error replies need not carry the required set
    ExtSet missing = rule.required & ~present;
    for (unsigned b = 1; b < kBits; ++b) {
        if (missing & (ExtSet{1} << b)) return rule_error(m.type, b, true);
    }
    if (m.type == kExpire && m.lifetime_hard.has_value() == m.lifetime_soft.has_value()) {
        return text_error("EXPIRE requires exactly one of LIFETIME_HARD and LIFETIME_SOFT");
    }
    if (m.type == kXGrpSa) {
        int group = m.x_satype2.has_value() + m.x_sa2.has_value() + m.x_address_dst2.has_value();
        if (group != 0 && group != 3) {
            return text_error("X_GRPSA requires X_SATYPE2, X_SA2 and X_ADDRESS_DST2 together");
        }
    }
    return {};
}

}  // namespace kmod_sim::pfkey
