#!/usr/bin/python3
"""Interop, tshark 4.0: kmod-sim's ESP output written to a pcap (LINKTYPE_RAW) and read by
tshark with the SAs' keys given on its command line (spec/dataplane.md §3.2). tshark must
decrypt AES-256-GCM-16 (IPv4 and IPv6, tunnel and transport) and check NULL+HMAC-SHA2-256-128
and NULL+HMAC-SHA2-512-256 with esp.icv_good == 1, find the inner UDP packet's port and
payload, and, for the whole tun+comp+esp(GCM)+ah group, dissect AH and inflate the IPComp
payload. A copy of one packet with a flipped bit must come out esp.icv_bad == 1, which shows
tshark really checks."""

import os
import shutil
import struct
import subprocess
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kmodsim  # noqa: E402
from kmodsim import PORT_WIRE, SENT  # noqa: E402

PCAP_DIR = os.path.join(kmodsim.BASE_DIR, "tshark-pcap")

TSHARK_ENC = {"aes256gcm16": "AES-GCM with 16 octet ICV [RFC4106]", "null-hmac-sha2-256": "NULL",
              "null-hmac-sha2-512": "NULL"}
TSHARK_AUTH = {"aes256gcm16": "NULL", "null-hmac-sha2-256": "HMAC-SHA-256-128 [RFC4868]",
               "null-hmac-sha2-512": "HMAC-SHA-512-256 [RFC4868]"}
FIELDS = ["frame.number", "esp.spi", "esp.sequence", "esp.icv_good", "esp.icv_bad", "esp.pad_len",
          "esp.protocol", "ah.spi", "ipcomp.cpi", "ipcomp.next_header", "udp.dstport", "data.data"]


def write_pcap(path, packets):
    """A classic pcap file, LINKTYPE_RAW (101): each record an IPv4 or IPv6 packet."""
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 101))
        for i, p in enumerate(packets):
            f.write(struct.pack("<IIII", 1700000000 + i, 0, len(p), len(p)))
            f.write(p)


def uat(sa, fam):
    src, dst = ("*", "*") if sa.alg != "aes256gcm16" else (sa.src, sa.dst)
    enc_key = "0x" + sa.enc_key.hex() if sa.enc_key else ""
    auth_key = "0x" + sa.auth_key.hex() if sa.auth_key else ""
    return 'uat:esp_sa:"IPv%d","%s","%s","0x%08x","%s","%s","%s","%s"' % (
        fam, src, dst, sa.spi, TSHARK_ENC[sa.alg], enc_key, TSHARK_AUTH[sa.alg], auth_key)


def run_tshark(pcap, uats):
    argv = ["tshark", "-n", "-r", pcap, "-o", "esp.enable_encryption_decode:TRUE",
            "-o", "esp.enable_authentication_check:TRUE"]
    for u in uats:
        argv += ["-o", u]
    argv += ["-T", "fields", "-E", "separator=\t", "-E", "occurrence=a", "-E", "aggregator=,"]
    for f in FIELDS:
        argv += ["-e", f]
    r = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60,
                       env=dict(os.environ, HOME=PCAP_DIR))
    return argv, r.returncode, r.stdout.decode(errors="replace"), r.stderr.decode(errors="replace")


def body(c):
    import oracle
    import single_sa
    from test_group import TEXT
    os.makedirs(PCAP_DIR, exist_ok=True)
    frames = []  # (description, wire bytes, expectations)
    uats = []
    with kmodsim.Instance("tshark") as inst:
        n = 0
        for alg, fam, mode in (("aes256gcm16", 4, "tunnel"), ("aes256gcm16", 6, "tunnel"),
                               ("aes256gcm16", 4, "transport"), ("aes256gcm16", 6, "transport"),
                               ("null-hmac-sha2-256", 4, "tunnel"), ("null-hmac-sha2-512", 6, "tunnel"),
                               ("null-hmac-sha2-512", 4, "transport")):
            n += 1
            spi = 0x5000 + n
            src, dst, src_net, dst_net = single_sa.inner_hosts(fam, 100 + n, "out")
            bits = 128 if fam == 6 else 32
            if mode == "tunnel":
                tun = oracle.TunSa(spi, single_sa.OUT_SRC[fam], single_sa.OUT_DST[fam])
                sa = oracle.EspSa(alg, spi, tun.src, tun.dst)
                inst.ipsec(*tun.spi_args())
                inst.ipsec(*sa.spi_args())
                inst.ipsec("spigrp", "--said", tun.said, sa.said)
                head = tun.said
            else:
                sa = oracle.EspSa(alg, spi, src, dst)
                inst.ipsec(*sa.spi_args())
                head = sa.said
                src_net, dst_net = "%s/%d" % (src, bits), "%s/%d" % (dst, bits)
            inst.ipsec("eroute", "--add", "--eraf", single_sa.eraf(fam), "--src", src_net, "--dst", dst_net,
                       "--said", head)
            uats.append(uat(sa, fam))
            dport = 41000 + n
            payload = b"tshark reads kmod-sim %d " % n + bytes(range(32))
            for seq in (1, 2):
                ans = inst.out(oracle.udp_packet(src, dst, payload, dport=dport))
                w = "ESP %s IPv%d %s packet %d" % (alg, fam, mode, seq)
                if c.check(ans.outcome == SENT and len(ans.on(PORT_WIRE)) == 1, "%s: sent by kmod-sim" % w,
                           ans.describe()):
                    frames.append((w, ans.on(PORT_WIRE)[0],
                                   {"esp.spi": "0x%08x" % spi, "esp.sequence": str(seq), "esp.icv_good": "1",
                                    "udp.dstport": str(dport), "data.data": payload.hex()}))
        # The whole group, AES-GCM inside AH.
        fam = 4
        tun = oracle.TunSa(0x5108, single_sa.OUT_SRC[fam], single_sa.OUT_DST[fam])
        comp = oracle.CompSa(0x5107, tun.src, tun.dst)
        esp = oracle.EspSa("aes256gcm16", 0x5101, tun.src, tun.dst)
        ah = oracle.AhSa("hmac-sha2-256-128", 0x5106, tun.src, tun.dst)
        for sa in (tun, comp, esp, ah):
            inst.ipsec(*sa.spi_args())
        inst.ipsec("spigrp", "--said", tun.said, comp.said, esp.said, ah.said)
        src, dst, src_net, dst_net = single_sa.inner_hosts(fam, 150, "out")
        inst.ipsec("eroute", "--add", "--eraf", "inet", "--src", src_net, "--dst", dst_net, "--said", tun.said)
        uats.append(uat(esp, fam))
        ans = inst.out(oracle.udp_packet(src, dst, TEXT, dport=41500))
        w = "group tun+comp+esp(aes256gcm16)+ah IPv4"
        if c.check(ans.outcome == SENT and len(ans.on(PORT_WIRE)) == 1, "%s: sent by kmod-sim" % w, ans.describe()):
            frames.append((w, ans.on(PORT_WIRE)[0],
                           {"ah.spi": "0x%08x" % ah.spi, "esp.spi": "0x%08x" % esp.spi, "esp.icv_good": "1",
                            "ipcomp.cpi": "0x%04x" % comp.cpi, "udp.dstport": "41500", "data.data": TEXT.hex()}))
    if not frames:
        c.check(False, "kmod-sim sent packets for tshark to read")
        return
    # The negative control: the first frame with its last ICV byte flipped.
    bad = bytearray(frames[0][1])
    bad[-1] ^= 0x01
    frames.append(("%s with a flipped ICV bit" % frames[0][0], bytes(bad),
                   {"esp.icv_bad": "1", "esp.icv_good": "0"}))
    pcap = os.path.join(PCAP_DIR, "kmod-sim.pcap")
    write_pcap(pcap, [f[1] for f in frames])
    argv, rc, out, err = run_tshark(pcap, uats)
    if not c.check(rc == 0, "tshark reads the pcap", "exit %d: %s" % (rc, err)):
        return
    lines = [ln for ln in out.split("\n") if ln]
    if not c.check(len(lines) == len(frames), "tshark prints one line per frame (%d)" % len(frames),
                   "got %d lines:\n%s" % (len(lines), out)):
        return
    for (what, _, expect), line in zip(frames, lines):
        got = dict(zip(FIELDS, line.split("\t")))
        # A field present more than once (the group's compressed and inflated data) matches
        # when any of its occurrences does.
        wrong = ["%s=%r (expected %r)" % (k, got.get(k, ""), v) for k, v in expect.items()
                 if v.lower() not in got.get(k, "").lower().split(",")]
        c.check(not wrong, "tshark: %s: %s" % (what, ", ".join("%s=%s" % (k, v if len(v) < 20 else v[:16] + "...")
                                                                for k, v in expect.items())),
                "; ".join(wrong) + "\n  tshark line: %s" % line.replace("\t", " | "))
    if c.failures:
        c.info("pcap kept for a look: %s (tshark command: %s)" % (pcap, " ".join(repr(a) for a in argv)))
    else:
        shutil.rmtree(PCAP_DIR, ignore_errors=True)


if __name__ == "__main__":
    kmodsim.run_main("interop tshark", body, need_tshark=True)
