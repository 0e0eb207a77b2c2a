#include "pfkey_satype.h"

#include "pfkey_types.h"
#include "said.h"

namespace kmod_sim::pfkey {

std::optional<uint8_t> said_proto_of_satype(uint8_t satype) {
    switch (satype) {
    case kSaTypeAh: return kSaAh;
    case kSaTypeEsp: return kSaEsp;
    case kSaTypeXIpip: return kSaTun;
    case kSaTypeXComp: return kSaComp;
    case kSaTypeXInt: return kSaInt;
    default: return std::nullopt;
    }
}

uint8_t satype_of_said_proto(uint8_t proto) {
    switch (proto) {
    case kSaAh: return kSaTypeAh;
    case kSaEsp: return kSaTypeEsp;
    case kSaTun: return kSaTypeXIpip;
    case kSaComp: return kSaTypeXComp;
    case kSaInt: return kSaTypeXInt;
    default: return kSaTypeUnspec;
    }
}

}  // namespace kmod_sim::pfkey
