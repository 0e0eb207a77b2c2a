#!/usr/bin/python3
"""Interop, hostile input: packets built by Scapy that kmod-sim must drop (outcome dropped,
nothing delivered) and count in the right ipsec_spi field (spec/klips.md §4, §7.4, §7.6):

  a flipped bit            -> auth_errs + 1 (and the sequence number is not used up)
  a replayed packet        -> ooo_errs + 1 (replay errors; ooowin= is the window size)
  a packet below the window-> ooo_errs + 1
  a wrong SPI              -> no SA: ipsec_spi unchanged
  a wrong outer source     -> inbound policy: no error counter, the sequence number not used up
  an inner packet outside the tunnel's `eroute --addin` policy -> dropped

Over an IPv4 tunnel (IPIP + ESP ChaCha20-Poly1305, replay window 32) and IPv6 transport AH
(HMAC-SHA2-256-128, window 32). The instance runs on `--clock manual`, so its listings change
only when a packet changes them."""

import os
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kmodsim  # noqa: E402
from kmodsim import DELIVERED, DROPPED, PORT_HOST  # noqa: E402

PEER, LOCAL = "127.0.0.2", "127.0.0.1"


def counter(fields, name):
    try:
        return int(fields.get(name, "0"))
    except ValueError:
        return -1


class Hostile:
    def __init__(self, c, inst, sa):
        self.c, self.inst, self.sa = c, inst, sa

    def fields(self):
        return self.inst.spi_fields(self.sa.said)

    def delivered(self, what, wire, inner):
        ans = self.inst.rcv(wire)
        hosts = ans.on(PORT_HOST)
        ok = self.c.check(ans.outcome == DELIVERED and len(hosts) == 1 and hosts[0] == inner,
                          "%s: delivered byte for byte" % what,
                          "%s\n  sent:\n%s%s" % (ans.describe(), kmodsim.hexdump(wire, 256),
                                                 "\n  delivered:\n" + kmodsim.hexdump(hosts[0], 256) if hosts else ""))
        return ok

    def dropped(self, what, wire, counts, listing_unchanged=False):
        """Injects `wire`; it must be dropped with nothing delivered, and each ipsec_spi field
        of `counts` must move by the given amount (the others in ERRORS must stay)."""
        before = self.fields()
        listing_before = self.inst.proc("net/ipsec_spi")
        ans = self.inst.rcv(wire)
        self.c.check(ans.outcome == DROPPED and not ans.packets, "%s: dropped, nothing delivered" % what,
                     "%s\n  sent:\n%s" % (ans.describe(), kmodsim.hexdump(wire, 256)))
        self.c.info("summary: %s" % ans.summary)
        after = self.fields()
        for name in ERRORS:
            want = counter(before, name) + counts.get(name, 0)
            got = counter(after, name)
            self.c.check(got == want, "%s: %s %s%s" % (
                what, self.sa.said, name, " + %d" % counts[name] if name in counts else " unchanged"),
                "%s=%d before, %d after (expected %d)\n  before: %s\n  after:  %s" % (
                    name, counter(before, name), got, want, fields_text(before), fields_text(after)))
        if listing_unchanged:
            listing_after = self.inst.proc("net/ipsec_spi")
            self.c.check(listing_after == listing_before, "%s: ipsec_spi unchanged (nothing counted on any SA)" % what,
                         "before:\n%s\nafter:\n%s" % (listing_before, listing_after))


def fields_text(fields):
    return " ".join("%s=%s" % kv for kv in fields.items())


ERRORS = ("auth_errs", "ooo_errs", "encr_size_errs", "encr_pad_errs")


def flip(wire, offset_from_end):
    b = bytearray(wire)
    b[len(b) - offset_from_end] ^= 0x10
    return bytes(b)


def esp_tunnel(c, inst):
    import oracle
    from oracle import parse_ip, tunnel, udp_packet
    tun = oracle.TunSa(0x6008, PEER, LOCAL)
    sa = oracle.EspSa("chacha20-poly1305", 0x6001, PEER, LOCAL, replay_window=32)
    inst.ipsec(*tun.spi_args())
    inst.ipsec(*sa.spi_args())
    inst.ipsec("spigrp", "--said", tun.said, sa.said)
    inst.ipsec("eroute", "--addin", "--eraf", "inet", "--src", "10.2.9.0/24", "--dst", "10.1.9.0/24", "--said",
               tun.said)
    h = Hostile(c, inst, sa)
    inner = udp_packet("10.2.9.7", "10.1.9.5", b"hostile test payload 0123456789")

    def build(seq, packet=inner, outer=tun, spi_sa=sa):
        return bytes(spi_sa.encrypt(parse_ip(tunnel(outer, packet)), seq))

    w = "ESP tunnel IPv4"
    if not h.delivered("%s: seq 1, good (baseline)" % w, build(1), inner):
        c.info("the baseline packet was not delivered: the hostile cases below prove little")
    # A flipped bit in the ciphertext (16 bytes before the end: inside the ESP payload).
    h.dropped("%s: seq 2 with a flipped ciphertext bit" % w, flip(build(2), 20), {"auth_errs": 1})
    # ...and in the ICV itself.
    h.dropped("%s: seq 2 with a flipped ICV bit" % w, flip(build(2), 1), {"auth_errs": 1})
    h.delivered("%s: seq 2, good (the forged seq 2 packets did not use it up)" % w, build(2), inner)
    # Replays: the same packet again, then one below the window.
    h.dropped("%s: seq 1 replayed" % w, build(1), {"ooo_errs": 1})
    h.dropped("%s: seq 2 replayed" % w, build(2), {"ooo_errs": 1})
    h.delivered("%s: seq 40, good" % w, build(40), inner)
    h.dropped("%s: seq 5, below the 32-packet window" % w, build(5), {"ooo_errs": 1})
    h.delivered("%s: seq 20, good (inside the window, not seen)" % w, build(20), inner)
    # A wrong SPI: no SA, so nothing may be counted anywhere.
    stranger = oracle.EspSa("chacha20-poly1305", 0x6099, PEER, LOCAL, label="esp-chacha20-poly1305-6001")
    h.dropped("%s: SPI 0x6099 (no such SA)" % w, build(41, spi_sa=stranger), {}, listing_unchanged=True)
    # A wrong outer source (the SA's src is 127.0.0.2).
    impostor = oracle.TunSa(0x6008, "127.0.0.3", LOCAL)
    h.dropped("%s: seq 41 from 127.0.0.3, not the SA's source" % w, build(41, outer=impostor), {})
    h.delivered("%s: seq 41 from the right source (the impostor did not use it up)" % w, build(41), inner)
    # Inner packets outside the tunnel's inbound policy 10.2.9.0/24 -> 10.1.9.0/24.
    h.dropped("%s: inner source 10.99.0.7 outside the --addin policy" % w,
              build(42, packet=udp_packet("10.99.0.7", "10.1.9.5", b"not from the policy's subnet")), {})
    h.dropped("%s: inner destination 10.1.10.5 outside the --addin policy" % w,
              build(43, packet=udp_packet("10.2.9.7", "10.1.10.5", b"not to the policy's subnet")), {})
    h.delivered("%s: seq 44, good (after all the above)" % w, build(44), inner)
    c.info(inst.spi_line(sa.said))
    c.info(inst.spi_line(tun.said))


def ah_transport_v6(c, inst):
    import oracle
    from oracle import parse_ip, udp_packet
    peer, local = "2001:db8:ff::2", "::1"
    sa = oracle.AhSa("hmac-sha2-256-128", 0x6006, peer, local, replay_window=32)
    inst.ipsec(*sa.spi_args())
    h = Hostile(c, inst, sa)
    inner = udp_packet(peer, local, b"hostile AH payload")
    w = "AH transport IPv6"

    def build(seq):
        return bytes(sa.encrypt(parse_ip(inner), seq))

    h.delivered("%s: seq 1, good (baseline)" % w, build(1), inner)
    h.dropped("%s: seq 2 with a flipped payload bit" % w, flip(build(2), 3), {"auth_errs": 1})
    # The hop limit is mutable (zeroed for the ICV): changing it must not matter.
    hop = bytearray(build(2))
    hop[7] = 17
    expect = bytearray(inner)
    expect[7] = 17
    h.delivered("%s: seq 2 with another hop limit (a mutable field)" % w, bytes(hop), bytes(expect))
    h.dropped("%s: seq 2 replayed" % w, build(2), {"ooo_errs": 1})
    c.info(inst.spi_line(sa.said))


def body(c):
    with kmodsim.Instance("hostile", ["--clock", "manual"]) as inst:
        esp_tunnel(c, inst)
        ah_transport_v6(c, inst)


if __name__ == "__main__":
    kmodsim.run_main("interop hostile", body)
