#!/usr/bin/python3
"""Real forwarding between two gateways (issue 7): scripts/netns-topology brings up sunset —
west — east — sunrise, each gateway with its own kmod-sim; `ipsec tncfg --attach` makes ipsec0
a TUN device on both, and traffic from sunset to sunrise is routed into it. Checked here:
- an AES-256-GCM tunnel (tun+esp), then a tun+comp+esp+ah tunnel, configured with the ipsec
  commands: ping and a TCP transfer get through; the west-east link carries only ESP (or AH)
  and tshark decrypts it with the keys; ipsec_eroute and ipsec_spi count on both gateways
  exactly what the capture holds; an IPv6 tunnel (ChaCha20-Poly1305) over the IPv6 link;
- %trap (ACQUIRE seen by `ipsec pf_key`, a %hold, the held packet sent on after
  `eroute --replace`), %reject (ICMP "packet filtered" back to sunset), %drop (silence),
  %pass (in clear on the link);
- large packets: DF over ipsec0's MTU is answered by west's kernel; when the link's MTU
  shrinks below what ipsec0 allows, kmod-sim answers DF packets with ICMP "fragmentation
  needed" giving the MTU that fits, and fragments the outer packet of the others;
- a captured ESP packet injected again on the link is dropped as a replay and counted;
- ipsec0's life: the MTU left for the chain, detach and a killed daemon remove it, an
  unprivileged instance cannot attach; and nothing is left behind at the end.
Needs root, /dev/fuse, tcpdump, tshark, ping. Exit 0 passed, 1 failed, 77 skipped."""

import os
import shutil
import subprocess
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import netns  # noqa: E402
from netns import EAST, EAST6, SUNRISE, SUNRISE6, SUNSET, WEST, WEST6, ipsec, ping, run, view  # noqa: E402

SKIP = 77
# 36 bytes each: a 256-bit key and a 32-bit salt (RFC 4106 §8.1).
KEY_OUT = bytes(range(0, 36))
KEY_BACK = bytes(range(0x40, 0x40 + 36))
AH_KEY_OUT = bytes(range(0x80, 0x80 + 32))
AH_KEY_BACK = bytes(range(0xa0, 0xa0 + 32))
# ipsec0's MTU: the physical 1500 less the largest chain kmod-sim builds, 137 bytes: an IPv6
# outer header 40, IPComp 4, ESP 8 + 32 (the larger of IV 8 + ICV 16, and HMAC-SHA2-512-256's
# 32) + 2 + 3 padding, AH 12 + 32 padded to 48 for IPv6.
IPSEC0_MTU = 1500 - (40 + 4 + (8 + 32 + 2 + 3) + 48)
TSHARK_GCM = "AES-GCM with 16 octet ICV [RFC4106]"
SUBNET_WEST, SUBNET_EAST = "192.0.1.0/24", "192.0.2.0/24"
SUBNET6_WEST, SUBNET6_EAST = "2001:db8:0:1::/64", "2001:db8:0:2::/64"
EAST_INSIDE = netns.EAST_IN


def hexkey(b):
    return "0x" + b.hex()


def gateways():
    # west sends on SPI 0x1000 (or 0x3000) to east; east answers on 0x2000 (0x4000) to west.
    return (("west", WEST, EAST, SUBNET_WEST, SUBNET_EAST), ("east", EAST, WEST, SUBNET_EAST, SUBNET_WEST))


def configure_esp(c):
    """tun+esp (AES-256-GCM) both ways, on both gateways: each holds its outbound and its
    inbound group, as `ipsec manual` would set them up."""
    for gw in ("west", "east"):
        ipsec(gw, "spi", "--clear")
    for gw in ("west", "east"):
        for spi, src, dst, key in ((0x1000, WEST, EAST, KEY_OUT), (0x2000, EAST, WEST, KEY_BACK)):
            ipsec(gw, "spi", "--ip4", "--said", "tun.%x@%s" % (spi, dst), "--src", src, "--dst", dst)
            ipsec(gw, "spi", "--esp", "aes256gcm16", "--said", "esp.%x@%s" % (spi, dst), "--src", src,
                  "--replay_window", "32", "--enckey", hexkey(key))
            ipsec(gw, "spigrp", "inet", dst, "0x%x" % spi, "tun", "inet", dst, "0x%x" % spi, "esp")
    route_through("tun.1000@" + EAST, "tun.2000@" + WEST)


def configure_group(c):
    """tun+comp+esp+ah both ways: IPComp, ESP AES-256-GCM, AH HMAC-SHA2-256-128."""
    for gw in ("west", "east"):
        ipsec(gw, "spi", "--clear")
    for gw in ("west", "east"):
        for spi, src, dst, key, ah_key in ((0x3000, WEST, EAST, KEY_OUT, AH_KEY_OUT),
                                          (0x4000, EAST, WEST, KEY_BACK, AH_KEY_BACK)):
            said = "%x@%s" % (spi, dst)
            ipsec(gw, "spi", "--ip4", "--said", "tun." + said, "--src", src, "--dst", dst)
            ipsec(gw, "spi", "--comp", "deflate", "--said", "comp." + said, "--src", src)
            ipsec(gw, "spi", "--esp", "aes256gcm16", "--said", "esp." + said, "--src", src,
                  "--replay_window", "32", "--enckey", hexkey(key))
            ipsec(gw, "spi", "--ah", "hmac-sha2-256-128", "--said", "ah." + said, "--src", src,
                  "--replay_window", "32", "--authkey", hexkey(ah_key))
            ipsec(gw, "spigrp", "--said", "tun." + said, "comp." + said, "esp." + said, "ah." + said)
    route_through("tun.3000@" + EAST, "tun.4000@" + WEST)


def route_through(west_said, east_said):
    """The subnet eroutes on both gateways (replacing any), and the routes into ipsec0."""
    for gw, said, src, dst in (("west", west_said, SUBNET_WEST, SUBNET_EAST), ("east", east_said, SUBNET_EAST, SUBNET_WEST)):
        ipsec(gw, "eroute", "--clear")
        ipsec(gw, "eroute", "--add", "--eraf", "inet", "--src", src, "--dst", dst, "--said", said)
        run(gw, "ip", "route", "replace", dst, "dev", "ipsec0", check=True)


def marker_ping():
    """One ping answered end to end: everything sent before it has left both gateways."""
    r = ping(count=1, wait=5)
    if r.returncode != 0:
        raise RuntimeError("the marker ping got no answer:\n" + r.stdout)


def traffic(c, what, pattern, repeat):
    """Ping and a TCP transfer from sunset to sunrise, checked end to end."""
    r = ping(count=5)
    c.check(r.returncode == 0 and " 0% packet loss" in r.stdout, "%s: 5 pings sunset -> sunrise answered" % what,
            r.stdout)
    sent, received = netns.tcp_transfer(pattern, repeat)
    c.check(sent != "" and sent == received, "%s: TCP sunset -> sunrise, %s bytes arrive intact" % (
        what, sent.split(" ")[0] if sent else "?"), "sent %r, received %r" % (sent, received))
    netns.settle_tcp()
    marker_ping()


def sent_both_ways(west_net, east_net):
    """What the two subnet eroutes counted together."""
    return (netns.eroute_count("west", west_net, east_net) or 0) + (netns.eroute_count("east", east_net, west_net) or 0)


def link_frames(capture, options=()):
    """Every IPv4 frame on the west-east link: (src, dst, proto of each header, ip.len of each)."""
    rows = capture.fields(["ip.src", "ip.dst", "ip.proto", "ip.len", "esp.spi", "esp.sequence", "ah.spi",
                           "ipcomp.cpi", "ip.flags.mf"], options, read_filter="ip")
    return [dict(src=r[0][0], dst=r[1][0], proto=[int(p) for p in r[2]], len=[int(n) for n in r[3]], esp_spi=r[4],
                 esp_seq=r[5], ah_spi=r[6], cpi=r[7], mf=r[8]) for r in rows]


def esp_uats(pairs):
    return ['uat:esp_sa:"IPv4","%s","%s","0x%08x","%s","%s","NULL",""' % (src, dst, spi, TSHARK_GCM, hexkey(key))
            for src, dst, spi, key in pairs]


def check_counts(c, what, frames, outer_proto, west_said, east_said, inner_offset):
    """Counters on both gateways against the capture: per direction, the eroute's count and
    the SA's packets equal the frames; the outermost SA's bytes equal the frames' lengths, the
    tunnel's bytes the inner packets' plus 20 (tshark decrypted them)."""
    for sender, receiver, said, src_net, dst_net, src, dst in (
            ("west", "east", west_said, SUBNET_WEST, SUBNET_EAST, WEST, EAST),
            ("east", "west", east_said, SUBNET_EAST, SUBNET_WEST, EAST, WEST)):
        mine = [f for f in frames if f["src"] == src and f["dst"] == dst]
        c.check(all(f["proto"][0] == outer_proto for f in mine) and mine,
                "%s: %d frames %s -> %s on the link, all protocol %d" % (what, len(mine), sender, receiver, outer_proto),
                [f["proto"] for f in mine if f["proto"][0] != outer_proto][:5])
        count = netns.eroute_count(sender, src_net, dst_net)
        c.check(count == len(mine), "%s: %s's eroute counted %s packets, the link carried %d" % (
            what, sender, count, len(mine)))
        outer_bytes = sum(f["len"][0] for f in mine)
        inner_bytes = sum(f["len"][inner_offset] + 20 for f in mine) if inner_offset else 0
        tun, outer = said
        for gw in (sender, receiver):
            o = netns.spi_fields(gw, outer)
            t = netns.spi_fields(gw, tun)
            c.check(netns.life(o, "packets") == len(mine) and netns.life(o, "bytes") == outer_bytes,
                    "%s: %s's %s: %d packets, %d bytes, as on the link" % (what, gw, outer, len(mine), outer_bytes),
                    o)
            if inner_offset is not None:
                c.check(netns.life(t, "packets") == len(mine) and netns.life(t, "bytes") == inner_bytes,
                        "%s: %s's %s: %d packets, %d bytes (inner + 20)" % (what, gw, tun, len(mine), inner_bytes), t)


def test_devices(c):
    r = ipsec("west", "tncfg", "--attach", "--virtual", "ipsec0", "--physical", "eth0", check=False)
    c.check(r.returncode == 0 and r.stdout == r.stderr == "", "west: tncfg --attach ipsec0 eth0", r.stderr)
    ipsec("east", "tncfg", "--attach", "--virtual", "ipsec0", "--physical", "eth0")
    expected = "ipsec0 -> eth0 mtu=%d(1500) -> 1500\n" % IPSEC0_MTU
    c.check(view("west", "net/ipsec_tncfg").startswith(expected), "ipsec_tncfg: " + expected.strip(),
            view("west", "net/ipsec_tncfg"))
    link = run("west", "ip", "-o", "link", "show", "ipsec0").stdout
    c.check("mtu %d " % IPSEC0_MTU in link and ",UP," in link and "POINTOPOINT" in link,
            "west's ipsec0 is a TUN device, up, MTU %d" % IPSEC0_MTU, link)

    # detach removes the device; attach makes it again.
    ipsec("west", "tncfg", "--detach", "--virtual", "ipsec0")
    gone = run("west", "ip", "link", "show", "ipsec0")
    c.check(gone.returncode != 0, "detach removes west's ipsec0", gone.stdout)
    c.check(view("west", "net/ipsec_tncfg").startswith("ipsec0 -> NULL mtu=0(0) -> 0\n"), "ipsec_tncfg: detached")
    ipsec("west", "tncfg", "--attach", "--virtual", "ipsec0", "--physical", "eth0")

    # A device of that name that is not ours: refused, tables unchanged.
    run("west", "ip", "link", "add", "ipsec1", "type", "veth", "peer", "name", "ipsec1peer", check=True)
    r = ipsec("west", "tncfg", "--attach", "--virtual", "ipsec1", "--physical", "eth0", check=False)
    c.check(r.returncode == 1 and r.stderr.startswith("tncfg: Device exists.  A network device named ipsec1 "),
            "attach over an existing device named ipsec1 is refused", r.stderr)
    c.check("ipsec1 -> NULL mtu=0(0) -> 0\n" in view("west", "net/ipsec_tncfg"), "ipsec1 stays detached")
    run("west", "ip", "link", "del", "ipsec1", check=True)


def test_unprivileged(c):
    """An instance without CAP_NET_ADMIN and CAP_NET_RAW (root otherwise, for its FUSE view)
    in sunset's namespace cannot make ipsec0 real."""
    base = os.path.join(netns.BASE, "uncapable")
    os.makedirs(base, exist_ok=True)
    start = subprocess.run(["nsenter", "--net=/run/netns/" + netns.PREFIX + "sunset", "setpriv", "--bounding-set",
                            "-net_admin,-net_raw", netns.kmodsim.kmod_sim_bin(), "--run-dir", base, "--daemon"],
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=30, text=True)
    if not c.check(start.returncode == 0, "kmod-sim starts without CAP_NET_ADMIN and CAP_NET_RAW", start.stdout):
        return
    try:
        r = subprocess.run(["nsenter", "--net=/run/netns/" + netns.PREFIX + "sunset", netns.kmodsim.ipsec_bin(),
                            "tncfg", "--attach", "--virtual", "ipsec0", "--physical", "eth0"],
                           env=dict(os.environ, KMOD_SIM_DIR=base),
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30, text=True)
        c.check(r.returncode == 1 and r.stderr == (
            "tncfg: Operation not permitted.  A real ipsec0 needs CAP_NET_ADMIN and CAP_NET_RAW: run kmod-sim as root, "
            "or start it with --devices model.\n"), "unprivileged attach: a clear message, exit 1", r.stderr)
        with open(os.path.join(base, "proc", "net", "ipsec_tncfg")) as f:
            c.check(f.read().startswith("ipsec0 -> NULL mtu=0(0) -> 0\n"), "unprivileged attach: the tables are unchanged")
        c.check(run("sunset", "ip", "link", "show", "ipsec0").returncode != 0, "unprivileged attach: no device made")
    finally:
        pidfile = os.path.join(base, "kmod-sim.pid")
        if os.path.exists(pidfile):  # else it never started, and `netns-topology down` sweeps up
            with open(pidfile) as f:
                pid = int(f.read())
            os.kill(pid, 15)
            netns.wait_until(10, lambda: not os.path.exists("/proc/%d" % pid), "the uncapable instance to exit")


def test_esp_tunnel(c):
    configure_esp(c)
    with netns.Capture("west", "eth0", "esp") as capture:
        traffic(c, "ESP", os.urandom(4096), 256)  # 1 MiB of noise
        capture.wait_for(sent_both_ways(SUBNET_WEST, SUBNET_EAST), "every packet the eroutes counted")
        dropped = capture.stop()
    c.check(dropped == 0, "the capture lost no packet", dropped)
    uats = esp_uats(((WEST, EAST, 0x1000, KEY_OUT), (EAST, WEST, 0x2000, KEY_BACK)))
    frames = link_frames(capture, ["esp.enable_encryption_decode:TRUE"] + uats)
    c.check(all(f["proto"][0] == 50 for f in frames) and frames, "ESP: the link carried only ESP (%d frames)" % len(frames),
            [f for f in frames if f["proto"][0] != 50][:3])
    # Tunnel mode: the tun SA's header is the outer one, ESP follows it, the inner packet is
    # what tshark decrypts.
    c.check(all(len(f["proto"]) == 2 and f["proto"][1] in (1, 6) for f in frames),
            "ESP: tshark decrypts every frame to the inner ICMP or TCP packet", [f["proto"] for f in frames[:5]])
    check_counts(c, "ESP", frames, 50, ("tun.1000@" + EAST, "esp.1000@" + EAST), ("tun.2000@" + WEST, "esp.2000@" + WEST),
                 inner_offset=1)
    return capture


def test_group_tunnel(c):
    configure_group(c)
    text = b"kmod-sim carries this line through tun, comp, esp and ah. " * 8
    with netns.Capture("west", "eth0", "group") as capture:
        traffic(c, "tun+comp+esp+ah", text, 2048)  # 950 KB of text, which deflates well
        capture.wait_for(sent_both_ways(SUBNET_WEST, SUBNET_EAST), "every packet the eroutes counted")
        dropped = capture.stop()
    c.check(dropped == 0, "the capture lost no packet", dropped)
    uats = esp_uats(((WEST, EAST, 0x3000, KEY_OUT), (EAST, WEST, 0x4000, KEY_BACK)))
    frames = link_frames(capture, ["esp.enable_encryption_decode:TRUE"] + uats)
    c.check(all(f["proto"][0] == 51 and f["ah_spi"] and f["esp_spi"] for f in frames) and frames,
            "tun+comp+esp+ah: the link carried only AH over ESP (%d frames)" % len(frames),
            [f for f in frames if f["proto"][0] != 51 or not f["esp_spi"]][:3])
    c.check(all(len(f["proto"]) == 2 and f["proto"][1] in (1, 6) for f in frames),
            "tun+comp+esp+ah: tshark decrypts (and inflates) every frame to the inner ICMP or TCP packet",
            [f for f in frames if len(f["proto"]) != 2][:3])
    compressed = [f for f in frames if f["cpi"]]
    c.check(len(compressed) > 50, "tun+comp+esp+ah: tshark finds IPComp in %d decrypted frames" % len(compressed))
    check_counts(c, "tun+comp+esp+ah", frames, 51, ("tun.3000@" + EAST, "ah.3000@" + EAST),
                 ("tun.4000@" + WEST, "ah.4000@" + WEST), inner_offset=None)
    for gw, said in (("west", "comp.3000@" + EAST), ("east", "comp.3000@" + EAST)):
        f = netns.spi_fields(gw, said)
        c.check(netns.life(f, "packets") > 0, "%s's %s counted packets" % (gw, said), f)


def test_ipv6_tunnel(c):
    """An IPv6 tunnel over the IPv6 link, ChaCha20-Poly1305: ping and TCP over IPv6; the link
    carries only ESP for the subnets; both gateways count the same packets."""
    for gw in ("west", "east"):
        ipsec(gw, "spi", "--clear")
    for gw in ("west", "east"):
        for spi, src, dst, key in ((0x5000, WEST6, EAST6, KEY_OUT), (0x6000, EAST6, WEST6, KEY_BACK)):
            said = "%x@%s" % (spi, dst)
            ipsec(gw, "spi", "--ip6", "--said", "tun:" + said, "--src", src, "--dst", dst)
            ipsec(gw, "spi", "--esp", "chacha20-poly1305", "--said", "esp:" + said, "--src", src,
                  "--replay_window", "32", "--enckey", hexkey(key))
            ipsec(gw, "spigrp", "--said", "tun:" + said, "esp:" + said)
    for gw, said, src, dst in (("west", "tun:5000@" + EAST6, SUBNET6_WEST, SUBNET6_EAST),
                               ("east", "tun:6000@" + WEST6, SUBNET6_EAST, SUBNET6_WEST)):
        ipsec(gw, "eroute", "--add", "--eraf", "inet6", "--src", src, "--dst", dst, "--said", said)
        run(gw, "ip", "-6", "route", "replace", dst, "dev", "ipsec0", check=True)
    with netns.Capture("west", "eth0", "ipv6") as capture:
        r = ping(count=3, dst=SUNRISE6)
        c.check(r.returncode == 0 and " 0% packet loss" in r.stdout, "IPv6: 3 pings sunset -> sunrise answered",
                r.stdout)
        sent, received = netns.tcp_transfer(os.urandom(4096), 64, dst=SUNRISE6)
        c.check(sent != "" and sent == received, "IPv6: TCP sunset -> sunrise, 256 KiB arrive intact",
                "sent %r, received %r" % (sent, received))
        netns.settle_tcp()
        marker = ping(count=1, wait=5, dst=SUNRISE6)
        c.check(marker.returncode == 0, "IPv6: the marker ping was answered", marker.stdout)
        counted = sum(netns.life(netns.spi_fields("west", said), "packets")
                      for said in ("esp:5000@" + EAST6, "esp:6000@" + WEST6))
        capture.wait_for(counted, "every ESP packet west sent and received", ipv6_esp=True)
        capture.stop()
    rows = capture.fields(["ipv6.src", "ipv6.dst", "ipv6.nxt", "icmpv6.type"], read_filter="ipv6")
    frames = [dict(src=r[0][0], dst=r[1][0], nxt=int(r[2][0]), icmp=r[3]) for r in rows]
    tunnel = [f for f in frames if f["nxt"] == 50]
    clear = [f for f in frames if f["nxt"] != 50 and not set(f["icmp"]) & {"133", "134", "135", "136", "137", "143"}]
    c.check(tunnel and not clear, "IPv6: the link carried %d ESP frames and nothing else but neighbour discovery"
            % len(tunnel), clear[:3])
    for sender, receiver, said, src, dst in (("west", "east", "esp:5000@" + EAST6, WEST6, EAST6),
                                             ("east", "west", "esp:6000@" + WEST6, EAST6, WEST6)):
        mine = len([f for f in tunnel if f["src"] == src and f["dst"] == dst])
        counts = [netns.life(netns.spi_fields(gw, said), "packets") for gw in (sender, receiver)]
        c.check(counts == [mine, mine], "IPv6: %s on both gateways counted the %d ESP frames %s -> %s" % (
            said, mine, sender, receiver), counts)
    for gw, dst in (("west", SUBNET6_EAST), ("east", SUBNET6_WEST)):
        run(gw, "ip", "-6", "route", "del", dst, "dev", "ipsec0", check=True)


def test_trap(c):
    """%trap on west: ACQUIRE to `ipsec pf_key`, a %hold for the flow, and the held packet
    sent on when the eroute is replaced with the tunnel's SA."""
    configure_esp(c)
    ipsec("west", "eroute", "--clear")
    ipsec("west", "eroute", "--add", "--eraf", "inet", "--src", SUBNET_WEST, "--dst", SUBNET_EAST, "--said", "%trap")
    log = os.path.join(netns.BASE, "pf_key.log")
    pidfile = os.path.join(netns.BASE, "pf_key.pid")
    with open(log, "w") as out:
        subprocess.run([netns.kmodsim.ipsec_bin(), "pf_key", "--esp", "--daemon", pidfile], stdout=out,
                       stderr=subprocess.STDOUT, env=dict(os.environ, KMOD_SIM_DIR=os.path.join(netns.BASE, "west")),
                       stdin=subprocess.DEVNULL, timeout=30, check=True)
    pinger = netns.Background("sunset", ["ping", "-n", "-c", "1", "-W", "20", SUNRISE])
    try:
        netns.wait_until(10, lambda: "acquire" in open(log).read(), "an ACQUIRE in ipsec pf_key's output")
        c.check(True, "%trap: the first packet's ACQUIRE reached ipsec pf_key")
        acquire = [line for line in open(log).read().splitlines() if line.startswith("version=2 type=6 ")]
        # The address extensions as pf_key dumps them: a sockaddr_in, AF_INET then the address.
        c.check(acquire and "addr=0x02000000c0000101" in acquire[0] and "addr=0x02000000c0000201" in acquire[0],
                "the ACQUIRE names the flow, 192.0.1.1 -> 192.0.2.1", open(log).read())
        netns.wait_until(10, lambda: netns.eroute_count("west", "192.0.1.1/32", "192.0.2.1/32") is not None,
                         "the %hold eroute")
        held = [line for line in view("west", "net/ipsec_eroute").splitlines() if "192.0.1.1/32" in line]
        c.check(held and "%hold" in held[0], "%trap: a %hold for 192.0.1.1/32 -> 192.0.2.1/32", held)
        c.check(view("west", "net/ipsec/stats/trap_count").strip() not in ("", "0"), "trap_count counted",
                view("west", "net/ipsec/stats/trap_count"))
        ipsec("west", "eroute", "--replace", "--eraf", "inet", "--src", "192.0.1.1/32", "--dst", "192.0.2.1/32",
              "--said", "tun.1000@" + EAST)
        code, out = pinger.finish(30)
        c.check(code == 0 and "1 received" in out, "%trap: the held packet went on after the replace, and was answered",
                out)
    finally:
        pinger.kill()
        with open(pidfile) as f:
            os.kill(int(f.read()), 15)


def test_magic(c):
    """%reject, %drop and %pass on the subnet eroute."""
    configure_esp(c)
    ipsec("west", "eroute", "--replace", "--eraf", "inet", "--src", SUBNET_WEST, "--dst", SUBNET_EAST, "--said", "%reject")
    r = ping(count=1, wait=2)
    c.check(r.returncode != 0 and "From %s icmp_seq=1 Packet filtered" % SUNRISE in r.stdout,
            "%reject: sunset gets ICMP 'communication administratively prohibited'", r.stdout)

    ipsec("west", "eroute", "--replace", "--eraf", "inet", "--src", SUBNET_WEST, "--dst", SUBNET_EAST, "--said", "%drop")
    # A marker behind the dropped packet, through the same ipsec0 and packet thread: %pass to
    # east's inside address (east answers through its tunnel). Once it is answered, the
    # dropped packet is long done with.
    ipsec("west", "eroute", "--add", "--eraf", "inet", "--src", SUNSET + "/32", "--dst", EAST_INSIDE + "/32",
          "--said", "%pass")
    with netns.Capture("west", "eth0", "drop") as capture:
        r = ping(count=1, wait=1)
        marker = ping(count=1, wait=5, dst=EAST_INSIDE)
        capture.wait_for(2, "the marker's request and answer")
        capture.stop()
    c.check(r.returncode != 0 and "From" not in r.stdout, "%drop: no answer and no ICMP", r.stdout)
    c.check(marker.returncode == 0, "%drop: the marker behind it was answered", marker.stdout)
    frames = link_frames(capture)
    c.check(not [f for f in frames if f["dst"] == SUNRISE or (f["src"] == WEST and f["proto"][0] == 50)],
            "%drop: nothing for sunrise crossed the link", frames)
    c.check(netns.eroute_count("west", SUBNET_WEST, SUBNET_EAST) == 1, "%drop: the eroute counted the packet")
    ipsec("west", "eroute", "--del", "--eraf", "inet", "--src", SUNSET + "/32", "--dst", EAST_INSIDE + "/32")

    for gw, src, dst in (("west", SUBNET_WEST, SUBNET_EAST), ("east", SUBNET_EAST, SUBNET_WEST)):
        ipsec(gw, "eroute", "--replace", "--eraf", "inet", "--src", src, "--dst", dst, "--said", "%pass")
    with netns.Capture("west", "eth0", "pass") as capture:
        r = ping(count=3)
        capture.wait_for(6, "3 echo requests and 3 replies")
        capture.stop()
    c.check(r.returncode == 0, "%pass: sunset's pings are answered", r.stdout)
    frames = link_frames(capture)
    clear = [f for f in frames if f["src"] == SUNSET and f["dst"] == SUNRISE and f["proto"] == [1]]
    c.check(len(clear) == 3, "%pass: the 3 echo requests crossed the link in clear", frames)
    c.check(netns.eroute_count("west", SUBNET_WEST, SUBNET_EAST) == 3 and
            netns.eroute_count("east", SUBNET_EAST, SUBNET_WEST) == 3, "%pass: both eroutes counted 3 packets")


def test_large_packets(c):
    configure_esp(c)
    run("sunset", "ip", "route", "flush", "cache")
    r = ping(count=1, size=1400, df="do")
    c.check(r.returncode != 0 and "Frag needed and DF set (mtu = %d)" % IPSEC0_MTU in r.stdout,
            "1428 bytes with DF: west's kernel answers 'fragmentation needed', mtu %d (ipsec0)" % IPSEC0_MTU, r.stdout)
    run("sunset", "ip", "route", "flush", "cache")
    r = ping(count=1, size=1400, df="dont")
    c.check(r.returncode == 0, "1428 bytes without DF: fragmented into ipsec0 and answered", r.stdout)

    # The link's MTU shrinks below what ipsec0 lets through: kmod-sim's own answer. A
    # 1363-byte packet becomes 1420 bytes (20 + 8 + 8 IV + 1363 + 2 + 3 padding + 16 ICV).
    # Both ends of the link: a veth drops what exceeds its own MTU on receipt.
    for gw in ("west", "east"):
        run(gw, "ip", "link", "set", "eth0", "mtu", "1400", check=True)
    try:
        run("sunset", "ip", "route", "flush", "cache")
        r = ping(count=1, size=1335, df="do")
        # 1400 - 57 = 1343 would fit this packet's padding; a smaller one may pad 3 bytes more.
        c.check(r.returncode != 0 and "From %s icmp_seq=1 Frag needed and DF set (mtu = 1340)" % SUNRISE in r.stdout,
                "DF and 1420 bytes once encapsulated on a 1400 link: kmod-sim answers 'fragmentation needed', "
                "mtu 1340", r.stdout)
        learnt = run("sunset", "ip", "route", "get", SUNRISE).stdout
        c.check("mtu 1340" in learnt, "sunset's route to sunrise learnt mtu 1340", learnt)
        c.check(view("west", "net/ipsec_tncfg").startswith("ipsec0 -> eth0 mtu=%d(1400) -> 1400\n" % IPSEC0_MTU),
                "ipsec_tncfg shows the link's new MTU", view("west", "net/ipsec_tncfg"))
        run("sunset", "ip", "route", "flush", "cache")
        with netns.Capture("west", "eth0", "fragments") as capture:
            r = ping(count=1, size=1335, df="dont")
            capture.wait_for(4, "two fragments each way")
            capture.stop()
        c.check(r.returncode == 0, "without DF the same packet is answered", r.stdout)
        frames = link_frames(capture, ["ip.defragment:FALSE"])
        firsts = [f for f in frames if f["src"] == WEST and f["proto"] == [50] and f["mf"] == ["1"]]
        c.check(len(firsts) == 1 and all(f["len"][0] <= 1400 for f in frames),
                "its outer ESP packet crossed the link in fragments of at most 1400 bytes", frames)
    finally:
        for gw in ("west", "east"):
            run(gw, "ip", "link", "set", "eth0", "mtu", "1500", check=True)
        run("sunset", "ip", "route", "flush", "cache")


def test_replay(c, esp_capture):
    """The first ESP packet of the ESP test, sent again on the link, is a replay for east."""
    configure_esp(c)
    marker_ping()
    from scapy.all import IP, rdpcap  # noqa: E402
    first = next(bytes(p[IP]) for p in rdpcap(esp_capture.path) if IP in p and p[IP].src == WEST and p[IP].proto == 50)
    said = "esp.1000@" + EAST
    before = netns.spi_fields("east", said)
    sender = ("import socket, sys; s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW); "
              "s.sendto(bytes.fromhex(sys.argv[1]), (sys.argv[2], 0))")
    run("west", "/usr/bin/python3", "-c", sender, first.hex(), EAST, check=True)
    netns.wait_until(10, lambda: netns.spi_fields("east", said).get("ooo_errs") == "1", "east to count the replay")
    after = netns.spi_fields("east", said)
    c.check(after.get("ooo_errs") == "1" and netns.life(after, "packets") == netns.life(before, "packets"),
            "a replayed ESP packet is dropped by east and counted in ooo_errs", after)


def test_killed_daemon(c):
    """kill -9 of west's instance: its ipsec0 goes with it (the TUN is not persistent)."""
    with open(os.path.join(netns.BASE, "west", "kmod-sim.pid")) as f:
        pid = int(f.read())
    os.kill(pid, 9)
    netns.wait_until(10, lambda: run("west", "ip", "link", "show", "ipsec0").returncode != 0,
                     "west's ipsec0 to go with its instance")
    c.check(True, "kill -9 of west's kmod-sim removes its ipsec0")


def body(c):
    for tool in ("tcpdump", "tshark", "ping", "nsenter", "setpriv"):
        if shutil.which(tool) is None:
            print("SKIP netns: %s is not installed" % tool)
            sys.exit(SKIP)
    up = netns.topology("up")
    if not c.check(up.returncode == 0, "netns-topology up", up.stdout):
        return
    try:
        test_devices(c)
        test_unprivileged(c)
        esp_capture = test_esp_tunnel(c)
        test_group_tunnel(c)
        test_ipv6_tunnel(c)
        test_trap(c)
        test_magic(c)
        test_large_packets(c)
        test_replay(c, esp_capture)
        test_killed_daemon(c)
    finally:
        down = netns.topology("down")
        c.check(down.returncode == 0, "netns-topology down", down.stdout)
        c.check(netns.namespaces() == [], "no namespace left", netns.namespaces())
        c.check(netns.mounts_under(netns.BASE) == [], "no mount left", netns.mounts_under(netns.BASE))
        c.check(not os.path.exists(netns.BASE), "no run dir left")


if __name__ == "__main__":
    netns.kmodsim.run_main("netns_tunnels", body, need_tshark=True)
