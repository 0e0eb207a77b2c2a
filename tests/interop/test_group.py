#!/usr/bin/python3
"""Interop, the whole KLIPS group tun + comp + esp + ah (spec/dataplane.md §1.1): on the wire
`outer IP | AH | ESP | IPComp | deflate(inner IP) | ESP trailer, ICV`.

kmod-sim -> Scapy: the AH ICV checked by Scapy (with the AH-over-ESP workaround of
spec/dataplane.md §3.1), the ESP decrypted by Scapy, the IPComp header read by hand and the
payload inflated by Python's zlib; a small packet (< 90 bytes) and an incompressible one must
go without the IPComp header. Scapy -> kmod-sim: the same group built with zlib raw deflate
(window bits -11 and -15), and without IPComp (RFC 3173 §2.2 non-expansion), each delivered
byte for byte. Once over IPv4 (ChaCha20-Poly1305 + HMAC-SHA2-256-128), once over IPv6
(AES-256-GCM-16 + HMAC-SHA2-512-256)."""

import os
import struct
import sys
import zlib

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kmodsim  # noqa: E402
from kmodsim import DELIVERED, PORT_HOST, PORT_WIRE, SENT  # noqa: E402

# A compressible payload well over the 90-byte threshold, and one that deflate cannot shrink.
TEXT = (b"KLIPS grouped tun comp esp ah: IPComp first, then ESP, then AH outermost. " * 6)
SMALL = b"tiny"


def group_sas(oracle, fam, way, esp_alg, ah_alg, base):
    from single_sa import LOCAL, OUT_DST, OUT_SRC, PEER_IN
    src, dst = (OUT_SRC[fam], OUT_DST[fam]) if way == "out" else (PEER_IN[fam], LOCAL[fam])
    tun = oracle.TunSa(base + 8, src, dst)
    comp = oracle.CompSa(base + 7, src, dst)
    esp = oracle.EspSa(esp_alg, base + 1, src, dst, replay_window=32)
    ah = oracle.AhSa(ah_alg, base + 6, src, dst, replay_window=32)
    return tun, comp, esp, ah


def configure(inst, fam, way, sas, nets):
    tun, comp, esp, ah = sas
    for sa in sas:
        inst.ipsec(*sa.spi_args())
    inst.ipsec("spigrp", "--said", tun.said, comp.said, esp.said, ah.said)
    action = "--add" if way == "out" else "--addin"
    inst.ipsec("eroute", action, "--eraf", "inet6" if fam == 6 else "inet", "--src", nets[0], "--dst", nets[1],
               "--said", tun.said)


def incompressible(n):
    import oracle
    return oracle.key_bytes("incompressible", n)


def run_out(c, inst, fam, esp_alg, ah_alg):
    import oracle
    import single_sa
    from scapy.layers.ipsec import IPSecIntegrityError
    what = "group tun+comp+esp(%s)+ah(%s) IPv%d, kmod-sim -> Scapy+zlib" % (esp_alg, ah_alg, fam)
    sas = group_sas(oracle, fam, "out", esp_alg, ah_alg, 0x3000 + fam * 0x100)
    tun, comp, esp, ah = sas
    src, dst, src_net, dst_net = single_sa.inner_hosts(fam, 200, "out")
    configure(inst, fam, "out", sas, (src_net, dst_net))
    inner_nh = 41 if fam == 6 else 4
    cases = [("compressible %d-byte payload" % len(TEXT), TEXT, True),
             ("small %d-byte payload" % len(SMALL), SMALL, False),
             ("incompressible 400-byte payload", incompressible(400), False)]
    for seq, (label, payload, expect_comp) in enumerate(cases, 1):
        w = "%s, %s" % (what, label)
        inner = oracle.udp_packet(src, dst, payload, ident=0x3000 + seq)
        ans = inst.out(inner)
        wires = ans.on(PORT_WIRE)
        if not c.check(ans.outcome == SENT and len(wires) == 1 and not ans.on(PORT_HOST),
                       "%s: sent as one wire packet" % w, ans.describe()):
            continue
        wire = wires[0]
        single_sa.check_outer(c, w, wire, tun.src, tun.dst, oracle.IPPROTO_AH, True)
        hl, _ = oracle.ip_header_len(wire)
        ah_nh, ah_len, _, ah_spi, ah_seq = struct.unpack("!BBHII", wire[hl:hl + 12])
        c.check((ah_nh, ah_spi, ah_seq) == (oracle.IPPROTO_ESP, ah.spi, seq),
                "%s: AH (SPI 0x%x, seq %d) is outermost, ESP under it" % (w, ah.spi, seq),
                "AH next header %s SPI 0x%x seq %d" % (oracle.proto_name(ah_nh), ah_spi, ah_seq))
        try:
            under_ah = ah.decrypt(wire)
        except IPSecIntegrityError as e:
            c.check(False, "%s: Scapy verifies the AH ICV (over ESP)" % w, "%s\n%s" % (e, kmodsim.hexdump(wire)))
            continue
        c.check(True, "%s: Scapy verifies the AH ICV (over ESP)" % w)
        hl2, p2 = oracle.ip_header_len(under_ah)
        esp_spi, esp_seq = struct.unpack("!II", under_ah[hl2:hl2 + 8])
        c.check((p2, esp_spi, esp_seq) == (oracle.IPPROTO_ESP, esp.spi, seq),
                "%s: ESP SPI 0x%x seq %d" % (w, esp.spi, seq),
                "protocol %s SPI 0x%x seq %d" % (oracle.proto_name(p2), esp_spi, esp_seq))
        try:
            dec = bytes(esp.scapy.decrypt(oracle.parse_ip(under_ah)))
        except IPSecIntegrityError as e:
            c.check(False, "%s: Scapy verifies and decrypts the ESP" % w, str(e))
            continue
        c.check(True, "%s: Scapy verifies and decrypts the ESP" % w)
        problem = oracle.verify_esp_padding(esp, under_ah[hl2:])
        c.check(problem is None, "%s: ESP padding 1..n, 4-byte aligned" % w, problem or "")
        hl3, nh = oracle.ip_header_len(dec)
        body = dec[hl3:]
        if expect_comp:
            if not c.check(nh == oracle.IPPROTO_COMP, "%s: ESP carries IPComp" % w,
                           "ESP next header %s" % oracle.proto_name(nh)):
                continue
            c_nh, c_flags, cpi = struct.unpack("!BBH", body[:4])
            c.check((c_nh, c_flags, cpi) == (inner_nh, 0, comp.cpi),
                    "%s: IPComp header next header %s, flags 0, CPI 0x%x" % (w, oracle.proto_name(inner_nh), comp.cpi),
                    "got next header %d flags %d CPI 0x%x" % (c_nh, c_flags, cpi))
            try:
                inflated = zlib.decompress(body[4:], -15)
            except zlib.error as e:
                c.check(False, "%s: zlib inflates the raw deflate data" % w, "%s\n%s" % (e, kmodsim.hexdump(body)))
                continue
            c.check(len(body) < len(inner), "%s: compressed (%d bytes for %d)" % (w, len(body), len(inner)))
            c.equal_bytes(inner, inflated, "%s: zlib inflates the inner packet byte for byte" % w)
        else:
            c.check(nh == inner_nh, "%s: no IPComp header, ESP carries the inner packet" % w,
                    "ESP next header %s" % oracle.proto_name(nh))
            c.equal_bytes(inner, body, "%s: the inner packet comes out byte for byte" % w)
    for sa in sas:
        c.info(inst.spi_line(sa.said) or "(no ipsec_spi line for %s)" % sa.said)


def run_in(c, inst, fam, esp_alg, ah_alg):
    import oracle
    import single_sa
    what = "group tun+comp+esp(%s)+ah(%s) IPv%d, Scapy+zlib -> kmod-sim" % (esp_alg, ah_alg, fam)
    sas = group_sas(oracle, fam, "in", esp_alg, ah_alg, 0x4000 + fam * 0x100)
    tun, comp, esp, ah = sas
    src, dst, src_net, dst_net = single_sa.inner_hosts(fam, 200, "in")
    configure(inst, fam, "in", sas, (src_net, dst_net))
    inner_nh = 41 if fam == 6 else 4
    outer = tun.header(fam)
    cases = [("IPComp wbits -11", TEXT, -11, comp.cpi),
             ("IPComp wbits -15", TEXT, -15, comp.cpi),
             ("no IPComp (small packet)", SMALL, None, None),
             ("IPComp with the well-known CPI 2 (spec/klips.md §7.5)", TEXT, -15, 2)]
    for seq, (label, payload, wbits, cpi) in enumerate(cases, 1):
        w = "%s, %s" % (what, label)
        inner = oracle.udp_packet(src, dst, payload, ident=0x4000 + seq)
        if wbits is None:
            carrier = oracle.wrap_ip(outer, inner_nh, inner)
        else:
            z = zlib.compressobj(6, zlib.DEFLATED, wbits)
            comp_bytes = struct.pack("!BBH", inner_nh, 0, cpi) + z.compress(inner) + z.flush()
            carrier = oracle.wrap_ip(outer, oracle.IPPROTO_COMP, comp_bytes)
        esp_pkt = esp.encrypt(oracle.parse_ip(carrier), seq)
        wire = bytes(ah.encrypt(esp_pkt, seq))
        ans = inst.rcv(wire)
        hosts = ans.on(PORT_HOST)
        if c.check(ans.outcome == DELIVERED and len(hosts) == 1 and not ans.on(PORT_WIRE),
                   "%s: delivered to the host" % w, "%s\n  sent:\n%s" % (ans.describe(), kmodsim.hexdump(wire, 512))):
            c.equal_bytes(inner, hosts[0], "%s: delivered byte for byte" % w)
    for sa in sas:
        c.info(inst.spi_line(sa.said) or "(no ipsec_spi line for %s)" % sa.said)


def body(c):
    with kmodsim.Instance("group") as inst:
        for fam, esp_alg, ah_alg in ((4, "chacha20-poly1305", "hmac-sha2-256-128"),
                                     (6, "aes256gcm16", "hmac-sha2-512-256")):
            run_out(c, inst, fam, esp_alg, ah_alg)
            run_in(c, inst, fam, esp_alg, ah_alg)


if __name__ == "__main__":
    kmodsim.run_main("interop group", body)
