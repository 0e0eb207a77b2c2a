"""One ESP or AH SA, tunnel (IPIP + the SA, grouped) or transport (the eroute points at the SA),
IPv4 or IPv6, both ways: kmod-sim sends and Scapy verifies; Scapy builds and kmod-sim
delivers. Shared by test_esp.py and test_ah.py.
"""

import struct

from scapy.layers.ipsec import IPSecIntegrityError

import kmodsim
from kmodsim import DELIVERED, PORT_HOST, PORT_WIRE, SENT
from oracle import (AEADS, AhSa, EspSa, TunSa, ip_header_len, parse_ip, proto_name,
                    tunnel, udp_packet, verify_esp_padding)

# The local end of inbound SAs must be one of the host's addresses (KLIPS marks such an SA
# dir=in); the loopback addresses are there on every machine. Outbound SAs go to documentation
# addresses no host has.
LOCAL = {4: "127.0.0.1", 6: "::1"}
PEER_IN = {4: "127.0.0.2", 6: "2001:db8:ff::2"}
OUT_SRC = {4: "198.51.100.1", 6: "2001:db8:ee::1"}
OUT_DST = {4: "198.51.100.2", 6: "2001:db8:ee::2"}

PAYLOAD = b"kmod-sim interop: the quick brown fox jumps over the lazy dog 0123456789"


def inner_hosts(fam, n, way):
    """Inner source and destination hosts and their subnets for scenario n."""
    if fam == 4:
        a, b = ("10.1.%d.5" % n, "10.2.%d.7" % n)
        nets = ("10.1.%d.0/24" % n, "10.2.%d.0/24" % n)
    else:
        a, b = ("2001:db8:1:%x::5" % n, "2001:db8:2:%x::7" % n)
        nets = ("2001:db8:1:%x::/64" % n, "2001:db8:2:%x::/64" % n)
    if way == "in":  # the remote side sends: from subnet 2 to subnet 1
        return b, a, nets[1], nets[0]
    return a, b, nets[0], nets[1]


def eraf(fam):
    return "inet6" if fam == 6 else "inet"


def make_sa(proto, alg, spi, src, dst, replay_window=None):
    if proto == "esp":
        return EspSa(alg, spi, src, dst, replay_window=replay_window)
    return AhSa(alg, spi, src, dst, replay_window=replay_window)


def ipv4_checksum_ok(header):
    total = 0
    for i in range(0, len(header), 2):
        total += (header[i] << 8) | header[i + 1]
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return total == 0xFFFF


def check_outer(c, what, wire, src, dst, proto, tunnel_mode):
    """The outer header kmod-sim wrote: addresses, protocol, length, TTL 64 and checksum."""
    fam = wire[0] >> 4
    hl, p = ip_header_len(wire)
    problems = []
    if fam == 4:
        got_src, got_dst = ".".join(map(str, wire[12:16])), ".".join(map(str, wire[16:20]))
        total = struct.unpack("!H", wire[2:4])[0]
        ttl = wire[8]
        if total != len(wire):
            problems.append("total length field %d, packet %d bytes" % (total, len(wire)))
        if not ipv4_checksum_ok(wire[:hl]):
            problems.append("bad IPv4 header checksum")
    else:
        pkt = parse_ip(wire)
        got_src, got_dst, ttl = pkt.src, pkt.dst, pkt.hlim
        plen = struct.unpack("!H", wire[4:6])[0]
        if plen != len(wire) - 40:
            problems.append("payload length field %d, packet has %d after the header" % (plen, len(wire) - 40))
    if (got_src, got_dst) != (src, dst):
        problems.append("addresses %s -> %s, expected %s -> %s" % (got_src, got_dst, src, dst))
    if p != proto:
        problems.append("protocol %s, expected %s" % (proto_name(p), proto_name(proto)))
    if tunnel_mode and ttl != 64:
        problems.append("outer TTL/hop limit %d, expected 64" % ttl)
    return c.check(not problems, "%s: outer header (%s -> %s, %s%s)" % (
        what, src, dst, proto_name(proto), ", TTL 64" if tunnel_mode else ""), "; ".join(problems))


def verify_out(c, what, sa, wire, inner, seq, tunnel_mode, outer_src, outer_dst):
    """Scapy verifies and decrypts one packet kmod-sim sent; the inner packet must come back
    byte for byte. Returns the ESP IV (or None)."""
    proto = 50 if isinstance(sa, EspSa) else 51
    check_outer(c, what, wire, outer_src, outer_dst, proto, tunnel_mode)
    hl, _ = ip_header_len(wire)
    expect_nh = (41 if inner[0] >> 4 == 6 else 4) if tunnel_mode else ip_header_len(inner)[1]
    iv = None
    if proto == 50:
        spi, got_seq = struct.unpack("!II", wire[hl:hl + 8])
        c.check((spi, got_seq) == (sa.spi, seq), "%s: ESP SPI 0x%x seq %d" % (what, sa.spi, seq),
                "got SPI 0x%x seq %d" % (spi, got_seq))
        try:
            dec = sa.scapy.decrypt(parse_ip(wire))
        except IPSecIntegrityError as e:
            c.check(False, "%s: Scapy verifies the ICV and decrypts" % what, "%s\n%s" % (e, kmodsim.hexdump(wire)))
            return None
        c.check(True, "%s: Scapy verifies the ICV and decrypts" % what)
        if sa.alg in AEADS:
            iv = wire[hl + 8:hl + 16]
        problem = verify_esp_padding(sa, wire[hl:])
        c.check(problem is None, "%s: ESP padding 1..n, 4-byte aligned" % what, problem or "")
        dec_bytes = bytes(dec)
        nh = dec_bytes[6] if dec_bytes[0] >> 4 == 6 else dec_bytes[9]
    else:
        nh, plen, reserved, spi, got_seq = struct.unpack("!BBHII", wire[hl:hl + 12])
        icv_words = {(4, 16): 5, (4, 32): 9, (6, 16): 6, (6, 32): 10}[(wire[0] >> 4, sa.icv_len)]
        c.check((spi, got_seq, plen, reserved) == (sa.spi, seq, icv_words, 0),
                "%s: AH SPI 0x%x seq %d payload len %d reserved 0" % (what, sa.spi, seq, icv_words),
                "got SPI 0x%x seq %d payload len %d reserved %d" % (spi, got_seq, plen, reserved))
        try:
            dec_bytes = sa.decrypt(wire)
        except IPSecIntegrityError as e:
            c.check(False, "%s: Scapy verifies the AH ICV" % what, "%s\n%s" % (e, kmodsim.hexdump(wire)))
            return None
        c.check(True, "%s: Scapy verifies the AH ICV" % what)
    c.check(nh == expect_nh, "%s: next header %s" % (what, proto_name(expect_nh)), "got %s" % proto_name(nh))
    if tunnel_mode:
        got = dec_bytes[ip_header_len(dec_bytes)[0]:]
        c.equal_bytes(inner, got, "%s: the inner packet comes out byte for byte" % what)
    else:
        c.equal_bytes(inner, dec_bytes, "%s: the original packet is restored byte for byte" % what)
    return iv


def counted(c, inst, what, said, packets, nbytes, last_seq=None):
    """ipsec_spi counts the SA's packets and bytes (spec/klips.md §4.1: outbound, the length
    after that SA's transform; inbound, as received for it) and, with last_seq, shows the last
    sequence number sent (§4 item 7; KLIPS's real `dir=out ... seq=8 ... packets(8,0,0)`)."""
    line = inst.spi_line(said)
    fields = inst.spi_fields(said)
    want = ["packets(%d," % packets, "bytes(%d," % nbytes]
    ok = line is not None and all(w in line for w in want)
    c.check(ok, "%s: ipsec_spi counts %d packets, %d bytes on %s" % (what, packets, nbytes, said), "line: %s" % line)
    if last_seq is not None:
        c.check(fields.get("seq") == str(last_seq), "%s: ipsec_spi shows seq=%d on %s" % (what, last_seq, said),
                "line: %s" % line)


def run_out(c, inst, proto, alg, fam, mode, n):
    what = "%s %s IPv%d %s, kmod-sim -> Scapy" % (proto.upper(), alg, fam, mode)
    spi = 0x1000 + n
    src, dst, src_net, dst_net = inner_hosts(fam, n, "out")
    if mode == "tunnel":
        tun = TunSa(spi, OUT_SRC[fam], OUT_DST[fam])
        sa = make_sa(proto, alg, spi, OUT_SRC[fam], OUT_DST[fam])
        inst.ipsec(*tun.spi_args())
        inst.ipsec(*sa.spi_args())
        inst.ipsec("spigrp", "--said", tun.said, sa.said)
        inst.ipsec("eroute", "--add", "--eraf", eraf(fam), "--src", src_net, "--dst", dst_net, "--said", tun.said)
        outer = (OUT_SRC[fam], OUT_DST[fam])
    else:
        sa = make_sa(proto, alg, spi, src, dst)
        inst.ipsec(*sa.spi_args())
        bits = 128 if fam == 6 else 32
        inst.ipsec("eroute", "--add", "--eraf", eraf(fam), "--src", "%s/%d" % (src, bits),
                   "--dst", "%s/%d" % (dst, bits), "--said", sa.said)
        outer = (src, dst)
    inner = udp_packet(src, dst, PAYLOAD + bytes([n]))
    ivs, total = [], 0
    for seq in (1, 2):
        ans = inst.out(inner)
        wires = ans.on(PORT_WIRE)
        if not c.check(ans.outcome == SENT and len(wires) == 1 and not ans.on(PORT_HOST),
                       "%s: packet %d sent as one wire packet" % (what, seq), ans.describe()):
            return
        total += len(wires[0])
        ivs.append(verify_out(c, what + " #%d" % seq, sa, wires[0], inner, seq, mode == "tunnel", *outer))
    if proto == "esp" and alg in AEADS and None not in ivs:
        c.check(ivs[0] != ivs[1], "%s: the two packets have different IVs" % what,
                "both IVs %s" % ivs[0].hex())
    counted(c, inst, what, sa.said, 2, total, last_seq=2)
    if mode == "tunnel":
        counted(c, inst, what, tun.said, 2, 2 * (len(inner) + (40 if fam == 6 else 20)))


def run_in(c, inst, proto, alg, fam, mode, n):
    what = "%s %s IPv%d %s, Scapy -> kmod-sim" % (proto.upper(), alg, fam, mode)
    spi = 0x2000 + n
    peer, local = PEER_IN[fam], LOCAL[fam]
    if mode == "tunnel":
        src, dst, src_net, dst_net = inner_hosts(fam, n, "in")
        tun = TunSa(spi, peer, local)
        sa = make_sa(proto, alg, spi, peer, local, replay_window=32)
        inst.ipsec(*tun.spi_args())
        inst.ipsec(*sa.spi_args())
        inst.ipsec("spigrp", "--said", tun.said, sa.said)
        inst.ipsec("eroute", "--addin", "--eraf", eraf(fam), "--src", src_net, "--dst", dst_net, "--said", tun.said)
    else:
        src, dst = peer, local
        sa = make_sa(proto, alg, spi, peer, local, replay_window=32)
        inst.ipsec(*sa.spi_args())
    inner = udp_packet(src, dst, PAYLOAD + bytes([n]), ident=0x2000 + n)
    total = 0
    for seq in (1, 2):
        carrier = tunnel(tun, inner) if mode == "tunnel" else inner
        wire = bytes(sa.encrypt(parse_ip(carrier), seq))
        total += len(wire)
        ans = inst.rcv(wire)
        hosts = ans.on(PORT_HOST)
        if not c.check(ans.outcome == DELIVERED and len(hosts) == 1 and not ans.on(PORT_WIRE),
                       "%s: packet %d (seq %d) delivered to the host" % (what, seq, seq),
                       "%s\n  sent:\n%s" % (ans.describe(), kmodsim.hexdump(wire, 256))):
            return
        c.equal_bytes(inner, hosts[0], "%s: packet %d delivered byte for byte" % (what, seq))
    counted(c, inst, what, sa.said, 2, total)


def run_matrix(c, proto, algs, name):
    with kmodsim.Instance(name) as inst:
        n = 0
        for alg in algs:
            for fam in (4, 6):
                for mode in ("tunnel", "transport"):
                    n += 1
                    run_out(c, inst, proto, alg, fam, mode, n)
                    run_in(c, inst, proto, alg, fam, mode, n)
        # An IPv4 tunnel inside IPv6 (4in6) and the reverse, once each.
        for fam_outer, fam_inner in ((6, 4), (4, 6)):
            n += 1
            run_mixed(c, inst, proto, algs[0], fam_outer, fam_inner, n)


def run_mixed(c, inst, proto, alg, fam_outer, fam_inner, n):
    """IPv{fam_inner} in IPv{fam_outer}: out and in."""
    what = "%s %s IPv%d-in-IPv%d tunnel" % (proto.upper(), alg, fam_inner, fam_outer)
    # out
    spi = 0x1000 + n
    src, dst, src_net, dst_net = inner_hosts(fam_inner, n, "out")
    tun = TunSa(spi, OUT_SRC[fam_outer], OUT_DST[fam_outer])
    sa = make_sa(proto, alg, spi, OUT_SRC[fam_outer], OUT_DST[fam_outer])
    inst.ipsec(*tun.spi_args())
    inst.ipsec(*sa.spi_args())
    inst.ipsec("spigrp", "--said", tun.said, sa.said)
    inst.ipsec("eroute", "--add", "--eraf", eraf(fam_inner), "--src", src_net, "--dst", dst_net, "--said", tun.said)
    inner = udp_packet(src, dst, PAYLOAD)
    ans = inst.out(inner)
    wires = ans.on(PORT_WIRE)
    if c.check(ans.outcome == SENT and len(wires) == 1, "%s, kmod-sim -> Scapy: sent" % what, ans.describe()):
        verify_out(c, what + ", kmod-sim -> Scapy", sa, wires[0], inner, 1, True, OUT_SRC[fam_outer],
                   OUT_DST[fam_outer])
    # in
    spi = 0x2000 + n
    src, dst, src_net, dst_net = inner_hosts(fam_inner, n, "in")
    tun = TunSa(spi, PEER_IN[fam_outer], LOCAL[fam_outer])
    sa = make_sa(proto, alg, spi, PEER_IN[fam_outer], LOCAL[fam_outer])
    inst.ipsec(*tun.spi_args())
    inst.ipsec(*sa.spi_args())
    inst.ipsec("spigrp", "--said", tun.said, sa.said)
    inst.ipsec("eroute", "--addin", "--eraf", eraf(fam_inner), "--src", src_net, "--dst", dst_net, "--said", tun.said)
    inner = udp_packet(src, dst, PAYLOAD)
    wire = bytes(sa.encrypt(parse_ip(tunnel(tun, inner)), 1))
    ans = inst.rcv(wire)
    hosts = ans.on(PORT_HOST)
    if c.check(ans.outcome == DELIVERED and len(hosts) == 1, "%s, Scapy -> kmod-sim: delivered" % what,
               ans.describe()):
        c.equal_bytes(inner, hosts[0], "%s, Scapy -> kmod-sim: delivered byte for byte" % what)

