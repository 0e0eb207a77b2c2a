"""The independent side of the interop tests: ESP and AH through Scapy 2.5
(scapy.layers.ipsec), IPComp through Python's zlib, and the `ipsec spi` arguments that give
kmod-sim the same keys. Workarounds for Scapy's known bugs (spec/dataplane.md §3.1) live here.
"""

import contextlib
import hashlib
import hmac
import struct
import zlib

from scapy.layers.inet import IP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.ipsec import AH, ESP, SecurityAssociation
from scapy.packet import Raw, bind_layers, split_layers

from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305

# kmod-sim's algorithm names (`ipsec spi --esp/--ah`) -> Scapy's, key length, ICV length.
ESP_ALGS = {
    #  name                  scapy crypt           scapy auth       enc key  auth key  icv
    "chacha20-poly1305": ("CHACHA20-POLY1305", None, 36, 0, 16),
    "aes256gcm16": ("AES-GCM", None, 36, 0, 16),
    "null-hmac-sha2-256": ("NULL", "SHA2-256-128", 0, 32, 16),
    "null-hmac-sha2-512": ("NULL", "SHA2-512-256", 0, 64, 32),
}
AH_ALGS = {
    "hmac-sha2-256-128": ("SHA2-256-128", 32, 16),
    "hmac-sha2-512-256": ("SHA2-512-256", 64, 32),
}
AEADS = ("chacha20-poly1305", "aes256gcm16")

IPPROTO_IPIP, IPPROTO_IPV6, IPPROTO_ESP, IPPROTO_AH, IPPROTO_COMP = 4, 41, 50, 51, 108


def key_bytes(label, n):
    """Deterministic key material (so a failure can be reproduced by hand)."""
    out = b""
    i = 0
    while len(out) < n:
        out += hashlib.sha256(("%s/%d" % (label, i)).encode()).digest()
        i += 1
    return out[:n]


def hexkey(key):
    return "0x" + key.hex()


def family_of(addr):
    return 6 if ":" in addr else 4


def said(proto, spi, dst):
    """The SAID as the commands take it and ipsec_spi prints it: esp.1001@1.2.3.4, esp:1001@::1."""
    return "%s%s%x@%s" % (proto, ":" if family_of(dst) == 6 else ".", spi, dst)


class EspSa:
    """One ESP SA: the Scapy SecurityAssociation and the `ipsec spi` arguments, same keys."""

    def __init__(self, alg, spi, src, dst, label=None, replay_window=None):
        crypt, auth, enc_len, auth_len, icv = ESP_ALGS[alg]
        self.alg, self.spi, self.src, self.dst, self.icv_len = alg, spi, src, dst, icv
        label = label or "esp-%s-%x" % (alg, spi)
        self.enc_key = key_bytes(label + "/enc", enc_len) if enc_len else b""
        self.auth_key = key_bytes(label + "/auth", auth_len) if auth_len else b""
        self.replay_window = replay_window
        self.said = said("esp", spi, dst)
        self.scapy = SecurityAssociation(ESP, spi=spi, crypt_algo=crypt, crypt_key=self.enc_key or None,
                                         auth_algo=auth or "NULL", auth_key=self.auth_key or None)

    def spi_args(self):
        args = ["spi", "--esp", self.alg, "--said", self.said, "--src", self.src]
        if self.replay_window:
            args += ["--replay_window", self.replay_window]
        if self.alg in AEADS:
            args += ["--enckey", hexkey(self.enc_key)]
        else:
            args += ["--authkey", hexkey(self.auth_key)]
        return args

    def encrypt(self, ip_packet, seq):
        """Transport-style ESP after ip_packet's header (tunnel mode: an IPIP packet)."""
        return self.scapy.encrypt(ip_packet, seq_num=seq)

    def decrypt(self, wire_bytes):
        """Verifies and decrypts an ESP packet (outer header first): (ip header with the
        payload restored, the _ESPPlain). Raises IPSecIntegrityError on a bad ICV."""
        pkt = parse_ip(wire_bytes)
        return self.scapy.decrypt(pkt)

    def plaintext(self, esp_bytes):
        """The whole decrypted ESP payload (data, padding, pad length, next header) from the
        ESP header onwards, computed with `cryptography` directly (Scapy's decrypt loses the
        padding bytes), so the padding can be checked. The ICV was checked by decrypt()."""
        spi_seq, body = esp_bytes[:8], esp_bytes[8:]
        if self.alg in AEADS:
            iv, rest = body[:8], body[8:]
            key, salt = self.enc_key[:32], self.enc_key[32:]
            cipher = AESGCM(key) if self.alg == "aes256gcm16" else ChaCha20Poly1305(key)
            return cipher.decrypt(salt + iv, rest, spi_seq)
        return body[:len(body) - self.icv_len]


class AhSa:
    def __init__(self, alg, spi, src, dst, label=None, replay_window=None):
        auth, key_len, icv = AH_ALGS[alg]
        self.alg, self.spi, self.src, self.dst, self.icv_len = alg, spi, src, dst, icv
        self.auth_key = key_bytes((label or "ah-%s-%x" % (alg, spi)) + "/auth", key_len)
        self.replay_window = replay_window
        self.said = said("ah", spi, dst)
        self.scapy = SecurityAssociation(AH, spi=spi, auth_algo=auth, auth_key=self.auth_key)

    def spi_args(self):
        args = ["spi", "--ah", self.alg, "--said", self.said, "--src", self.src]
        if self.replay_window:
            args += ["--replay_window", self.replay_window]
        return args + ["--authkey", hexkey(self.auth_key)]

    def encrypt(self, ip_packet, seq):
        with esp_unbound():
            return parse_ip(bytes(self.scapy.encrypt(parse_ip(bytes(ip_packet)), seq_num=seq)))

    def decrypt(self, wire_bytes):
        """Verifies the AH ICV and removes the header: the IP packet that was under it, as bytes
        (re-parsed: Scapy binds AH nh=0, not 4, to IPv4)."""
        with esp_unbound():
            return bytes(self.scapy.decrypt(parse_ip(wire_bytes)))


@contextlib.contextmanager
def esp_unbound():
    """spec/dataplane.md §3.1: Scapy's AH sign()/verify() look for an ESP layer first and, with
    AH over ESP, MAC the ESP data instead of filling the AH ICV. While AH is built or checked,
    ESP is not dissected (the packet after the AH header stays Raw)."""
    split_layers(IP, ESP, proto=IPPROTO_ESP)
    split_layers(IPv6, ESP, nh=IPPROTO_ESP)
    try:
        yield
    finally:
        bind_layers(IP, ESP, proto=IPPROTO_ESP)
        bind_layers(IPv6, ESP, nh=IPPROTO_ESP)


class CompSa:
    """IPComp DEFLATE: header {next header, flags 0, CPI = low 16 bits of the SPI}, raw deflate."""

    def __init__(self, spi, src, dst):
        self.spi, self.src, self.dst = spi, src, dst
        self.cpi = spi & 0xFFFF
        self.said = said("comp", spi, dst)

    def spi_args(self):
        return ["spi", "--comp", "deflate", "--said", self.said, "--src", self.src]

    def compress(self, payload, next_header, wbits=-11):
        c = zlib.compressobj(6, zlib.DEFLATED, wbits)
        return struct.pack("!BBH", next_header, 0, self.cpi) + c.compress(payload) + c.flush()


class TunSa:
    def __init__(self, spi, src, dst):
        self.spi, self.src, self.dst = spi, src, dst
        self.said = said("tun", spi, dst)

    def spi_args(self):
        return ["spi", "--ip6" if family_of(self.dst) == 6 else "--ip4", "--said", self.said,
                "--src", self.src, "--dst", self.dst]

    def header(self, inner_family):
        if family_of(self.dst) == 6:
            return IPv6(src=self.src, dst=self.dst, hlim=64)
        return IP(src=self.src, dst=self.dst, ttl=64, id=0x4242)


# ---------------------------------------------------------------------------------------------
# Packets

def parse_ip(data):
    data = bytes(data)
    if not data:
        raise ValueError("empty packet")
    return IPv6(data) if data[0] >> 4 == 6 else IP(data)


def udp_packet(src, dst, payload, sport=40001, dport=40002, ttl=64, ident=0x1234, tos=0):
    """An inner UDP packet as bytes (ports chosen to have no tshark dissector)."""
    if family_of(dst) == 6:
        p = IPv6(src=src, dst=dst, hlim=ttl, tc=tos) / UDP(sport=sport, dport=dport) / Raw(payload)
    else:
        p = IP(src=src, dst=dst, ttl=ttl, id=ident, tos=tos) / UDP(sport=sport, dport=dport) / Raw(payload)
    return bytes(p)


def ip_header_len(data):
    """Length of the IP header (IPv4 with options; IPv6 fixed 40: the tests add no extension
    headers) and the protocol/next header it names."""
    if data[0] >> 4 == 6:
        return 40, data[6]
    return (data[0] & 0x0F) * 4, data[9]


def wrap_ip(outer_template, proto, payload):
    """outer_template's header with `proto` as its protocol and payload after it."""
    if family_of(outer_template.dst) == 6:
        h = outer_template.copy()
        h.nh = proto
        return bytes(h / Raw(payload))
    h = outer_template.copy()
    h.proto = proto
    return bytes(h / Raw(payload))


def tunnel(tun, inner):
    """IPIP: the tun SA's outer header (TTL 64) around `inner`."""
    proto = IPPROTO_IPV6 if inner[0] >> 4 == 6 else IPPROTO_IPIP
    return wrap_ip(tun.header(inner[0] >> 4), proto, inner)


def verify_esp_padding(sa, esp_bytes):
    """None if the ESP trailer's padding is the RFC 4303 default 1, 2, 3, ... and the ESP
    payload is 4-byte aligned; else what is wrong."""
    plain = sa.plaintext(esp_bytes)
    padlen = plain[-2]
    if padlen + 2 > len(plain):
        return "pad length %d exceeds the %d-byte plaintext" % (padlen, len(plain))
    pad = plain[len(plain) - 2 - padlen:len(plain) - 2]
    if pad != bytes(range(1, padlen + 1)):
        return "padding bytes %s are not 1..%d" % (pad.hex(), padlen)
    iv_len = 8 if sa.alg in AEADS else 0
    if (8 + iv_len + len(plain)) % 4 != 0:
        return "ESP header + IV + plaintext = %d bytes, not a multiple of 4" % (8 + iv_len + len(plain))
    return None


def hmac_trunc(key, data, digest, n):
    return hmac.new(key, data, digest).digest()[:n]


def proto_name(n):
    return {4: "IPIP", 41: "IPv6", 50: "ESP", 51: "AH", 108: "IPComp", 17: "UDP"}.get(n, str(n))

