// PF_KEY v2 numbers as KLIPS used them (RFC 2367 plus KLIPS's SADB_X_* extensions;
// spec/klips.md §9.1), and kmod-sim's one private addition, X_TNCFG.
//
// kmod-sim private message: X_TNCFG (message type 200, extension type 200).
//   KLIPS configured its ipsecN <-> physical interface attachments with an ioctl on the
//   ipsecN device (`ipsec tncfg`). kmod-sim has no devices, so tncfg travels over the PF_KEY
//   socket as a private message type well above KLIPS's range (KLIPS HEAD stops at 19):
//     base (type 200, satype 0) + extension 200 (40 bytes):
//       u16 len (= 5), u16 exttype (= 200),
//       u8 operation (1 attach, 2 detach, 3 clear), u8 reserved[3],
//       char virtual_name[16]   (e.g. "ipsec0", NUL-padded, at most 15 characters),
//       char physical_name[16]  (e.g. "eth0", NUL-padded, at most 15; empty for detach/clear).
//   Reply: the same message echoed to the sender, errno set on failure.
//
// kmod-sim private message: X_CLOCK (message type 201, extension type 201), the control of a
// daemon started with `--clock manual` (tests move time instead of sleeping):
//     base (type 201, satype 0) + extension 201 (16 bytes):
//       u16 len (= 2), u16 exttype (= 201),
//       u8 operation (1 get, 2 set, 3 advance), u8 reserved[3],
//       u64 seconds  (set: the new time; advance: the step; get: ignored).
//   Reply: the same message to the sender, `seconds` = the module's time after the operation;
//   errno EOPNOTSUPP for set/advance on a daemon running the real clock.
#pragma once

#include <cstdint>

namespace kmod_sim::pfkey {

constexpr uint8_t kVersion = 2;  // PF_KEY_V2

// sadb_msg_type
enum MessageType : uint8_t {
    kReserved = 0,
    kGetSpi = 1,
    kUpdate = 2,
    kAdd = 3,
    kDelete = 4,
    kGet = 5,
    kAcquire = 6,
    kRegister = 7,
    kExpire = 8,
    kFlush = 9,
    kDump = 10,
    kXPromisc = 11,
    kXPChange = 12,
    kXGrpSa = 13,
    kXAddFlow = 14,
    kXDelFlow = 15,
    kXDebug = 16,
    kXTncfg = 200,  // kmod-sim private, see the header comment
    kXClock = 201,  // kmod-sim private, see the header comment
};

// sadb_ext_type
enum ExtensionType : uint16_t {
    kExtReserved = 0,
    kExtSa = 1,
    kExtLifetimeCurrent = 2,
    kExtLifetimeHard = 3,
    kExtLifetimeSoft = 4,
    kExtAddressSrc = 5,
    kExtAddressDst = 6,
    kExtAddressProxy = 7,
    kExtKeyAuth = 8,
    kExtKeyEncrypt = 9,
    kExtIdentitySrc = 10,
    kExtIdentityDst = 11,
    kExtSensitivity = 12,  // not supported by KLIPS nor by this codec
    kExtProposal = 13,
    kExtSupportedAuth = 14,
    kExtSupportedEncrypt = 15,
    kExtSpiRange = 16,
    kExtXKmPrivate = 17,  // not supported by this codec
    kExtXSaType2 = 18,
    kExtXSa2 = 19,
    kExtXAddressDst2 = 20,
    kExtXAddressSrcFlow = 21,
    kExtXAddressDstFlow = 22,
    kExtXAddressSrcMask = 23,
    kExtXAddressDstMask = 24,
    kExtXDebug = 25,
    kExtXProtocol = 26,
    kExtXTncfg = 200,  // kmod-sim private, see the header comment
    kExtXClock = 201,  // kmod-sim private, see the header comment
};

// sadb_msg_satype
enum SaType : uint8_t {
    kSaTypeUnspec = 0,
    kSaTypeAh = 2,
    kSaTypeEsp = 3,
    kSaTypeRsvp = 5,
    kSaTypeOspfV2 = 6,
    kSaTypeRipV2 = 7,
    kSaTypeMip = 8,
    kSaTypeXIpip = 9,
    kSaTypeXComp = 10,
    kSaTypeXInt = 11,
};

constexpr bool is_known_satype(uint8_t satype) {
    return satype == 0 || satype == 2 || satype == 3 || (satype >= 5 && satype <= 11);
}

// sadb_sa_state
enum SaState : uint8_t {
    kSaStateLarval = 0,
    kSaStateMature = 1,
    kSaStateDying = 2,
    kSaStateDead = 3,
};

// sadb_sa_flags
enum SaFlags : uint32_t {
    kSaFlagPfs = 1,
    kSaFlagXReplaceFlow = 2,
    kSaFlagXClearFlow = 4,
    kSaFlagXInFlow = 8,
    kSaFlagXPolicyOnly = 16,
    // kmod-sim's own (no KLIPS had it): ESP/AH with 64-bit extended sequence numbers
    // (RFC 4303 §2.2.1), set by `ipsec spi --esn`.
    kSaFlagXEsn = 0x10000,
};

// sadb_sa_auth
enum AuthAlg : uint8_t {
    kAuthNone = 0,
    kAuthMd5Hmac = 2,
    kAuthSha1Hmac = 3,
    kAuthSha2_256 = 5,
    kAuthSha2_384 = 6,
    kAuthSha2_512 = 7,
    kAuthRipemd160 = 8,
    kAuthNull = 251,
};

// sadb_sa_encrypt (ESP)
enum EncryptAlg : uint8_t {
    kEncryptNone = 0,
    kEncryptDesCbc = 2,
    kEncrypt3DesCbc = 3,
    kEncryptCast = 6,
    kEncryptBlowfish = 7,
    kEncryptNull = 11,
    kEncryptAesCbc = 12,
    kEncryptAesGcm16 = 20,          // IANA ESP transform ids (RFC 4106, RFC 7634)
    kEncryptChacha20Poly1305 = 28,
};

// sadb_sa_encrypt (IPComp)
enum CompAlg : uint8_t {
    kCompNone = 0,
    kCompOui = 1,
    kCompDeflate = 2,
    kCompLzs = 3,
    kCompLzjh = 4,  // also V42BIS
};

// The IPIP "algorithms" of the REGISTER reply.
enum TunnelAlg : uint8_t {
    kTunnelIpv4InIpv4 = 1,
    kTunnelIpv6InIpv4 = 2,
    kTunnelIpv4InIpv6 = 3,
    kTunnelIpv6InIpv6 = 4,
};

// sadb_ident_type
enum IdentType : uint16_t {
    kIdentReserved = 0,
    kIdentPrefix = 1,
    kIdentFqdn = 2,
    kIdentUserFqdn = 3,
    kIdentXConnection = 4,
};

// X_TNCFG operation
enum TncfgOperation : uint8_t {
    kTncfgAttach = 1,
    kTncfgDetach = 2,
    kTncfgClear = 3,
};

// X_CLOCK operation
enum ClockOperation : uint8_t {
    kClockGet = 1,
    kClockSet = 2,
    kClockAdvance = 3,
};

// Wire sizes in bytes (spec/klips.md §9.2). Extension lengths are in 8-byte units.
constexpr size_t kAlign = 8;
constexpr size_t kMsgSize = 16;
constexpr size_t kExtHeaderSize = 4;
constexpr size_t kSaSizeRfc = 16;
constexpr size_t kSaSizeKlips = 24;
constexpr size_t kLifetimeSizeRfc = 32;
constexpr size_t kLifetimeSizeKlips = 40;
constexpr size_t kAddressHeaderSize = 8;
constexpr size_t kSockaddrInSize = 16;
constexpr size_t kSockaddrIn6Size = 28;
constexpr size_t kKeyHeaderSize = 8;
constexpr size_t kIdentHeaderSize = 16;
constexpr size_t kPropHeaderSize = 8;
constexpr size_t kCombSize = 80;
constexpr size_t kSupportedHeaderSize = 8;
constexpr size_t kAlgSize = 8;
constexpr size_t kSpiRangeSize = 16;
constexpr size_t kXSaTypeSize = 8;
constexpr size_t kXDebugSize = 56;
constexpr size_t kXProtocolSize = 8;
constexpr size_t kXTncfgSize = 40;
constexpr size_t kXClockSize = 16;
constexpr size_t kIfNameSize = 16;  // IFNAMSIZ, terminating NUL included

}  // namespace kmod_sim::pfkey
