"""The FreeS/WAN test topology for tests: scripts/netns-topology brought up under a prefix and
a run dir of the tests' own (so a user's topology is left alone), commands run inside its
namespaces, captures on the west-east link, and the gateways' /proc views.

    sunset ---- west ======== east ---- sunrise
    192.0.1.1   192.0.1.254   192.0.2.254  192.0.2.1
                192.1.2.45 -- 192.1.2.23
"""

import os
import select
import signal
import struct
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "interop"))
import kmodsim  # noqa: E402  (Checker, wait_until)

# kmodsim makes this process a child subreaper for its own instances. The topology's daemons
# are not ours to reap: as zombies they would look alive to `netns-topology down`.
kmodsim._libc.prctl(kmodsim.PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)

Checker = kmodsim.Checker
wait_until = kmodsim.wait_until

PREFIX = "kst-"
BASE = "/tmp/kmod-sim-netns-test"
SUNSET, WEST_IN, WEST, EAST, EAST_IN, SUNRISE = (
    "192.0.1.1", "192.0.1.254", "192.1.2.45", "192.1.2.23", "192.0.2.254", "192.0.2.1")
SUNSET6, WEST6, EAST6, SUNRISE6 = "2001:db8:0:1::1", "2001:db8:1:2::45", "2001:db8:1:2::23", "2001:db8:0:2::1"


def scripts_dir():
    return os.environ.get("KMOD_SIM_SCRIPTS") or os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "scripts")


def topology(action):
    env = dict(os.environ, KMOD_SIM_NETNS_PREFIX=PREFIX, KMOD_SIM_NETNS_DIR=BASE,
               KMOD_SIM_BIN=kmodsim.kmod_sim_bin())
    return subprocess.run([os.path.join(scripts_dir(), "netns-topology"), action], env=env,
                          stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          timeout=60, text=True)


def namespaces():
    out = subprocess.run(["ip", "netns", "list"], stdout=subprocess.PIPE, text=True, timeout=10).stdout
    return [line.split()[0] for line in out.splitlines() if line.startswith(PREFIX)]


def mounts_under(path):
    with open("/proc/self/mounts") as f:
        return [line.split()[1] for line in f if line.split()[1].startswith(path)]


def run(host, *argv, timeout=30, check=False):
    """argv inside host's network namespace; a CompletedProcess with text stdout+stderr."""
    r = subprocess.run(["ip", "netns", "exec", PREFIX + host] + list(argv), stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout, text=True)
    if check and r.returncode != 0:
        raise RuntimeError("%s: %s failed (%d):\n%s" % (host, " ".join(argv), r.returncode, r.stdout))
    return r


def ipsec(gw, *args, check=True, user=None):
    """An ipsec command for gateway gw's instance, in its network namespace (as a user would
    run it there; the FUSE view is reached through the run dir, which nsenter --net keeps)."""
    argv = ["nsenter", "--net=/run/netns/" + PREFIX + gw]
    if user is not None:
        argv += ["setpriv", "--reuid", str(user), "--regid", str(user), "--clear-groups"]
    argv += [kmodsim.ipsec_bin()] + list(args)
    r = subprocess.run(argv, env=dict(os.environ, KMOD_SIM_DIR=os.path.join(BASE, gw)), stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30, text=True)
    if check and r.returncode != 0:
        raise RuntimeError("%s: ipsec %s failed (%d): %s%s" % (gw, " ".join(args), r.returncode, r.stdout, r.stderr))
    return r


def view(gw, rel):
    with open(os.path.join(BASE, gw, "proc", rel)) as f:
        return f.read()


def spi_fields(gw, said):
    """The name=value fields of said's net/ipsec_spi line on gw ({} when it has none)."""
    for line in view(gw, "net/ipsec_spi").splitlines():
        words = line.split(" ")
        if words[0] == said:
            return dict(w.split("=", 1) for w in words[2:] if "=" in w)
    return {}


def life(fields, what):
    """The current value of one life(c,s,h) counter: bytes, packets, … (0 when absent)."""
    text = fields.get("life(c,s,h)", "")
    for part in text.replace(")", ")\n").split("\n"):
        if part.startswith(what + "("):
            return int(part[len(what) + 1:].split(",")[0])
    return 0


def eroute_count(gw, src, dst):
    """The packet count of the ipsec_eroute line for src -> dst on gw (None when absent)."""
    for line in view(gw, "net/ipsec_eroute").splitlines():
        words = line.split()
        if len(words) >= 4 and words[1] == src + ":0" and words[3] == dst + ":0":
            return int(words[0])
    return None


def ping(count=1, size=56, df=None, wait=2, dst=SUNRISE, interval=0.2):
    """ping from sunset; df: None (the default, path MTU discovery), "do" or "dont"."""
    argv = ["ping", "-n", "-c", str(count), "-s", str(size), "-W", str(wait), "-i", str(interval)]
    if ":" in dst:
        argv.append("-6")
    if df:
        argv += ["-M", df]
    return run("sunset", *(argv + [dst]), timeout=30 + count * wait)


class Capture:
    """tcpdump on one namespace's interface into a pcap file, started and stopped for sure."""

    def __init__(self, host, iface, name):
        self.path = os.path.join(BASE, name + ".pcap")
        self.log = os.path.join(BASE, name + ".tcpdump")
        self.host = host
        self.iface = iface
        self.proc = None

    def __enter__(self):
        with open(self.log, "w") as log:
            self.proc = subprocess.Popen(
                ["ip", "netns", "exec", PREFIX + self.host, "tcpdump", "-i", self.iface, "-n", "-U", "-B", "65536",
                 "-s", "0", "-w", self.path, "ip or ip6"], stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        wait_until(10, lambda: "listening on" in open(self.log).read() or self.proc.poll() is not None,
                   "tcpdump to start on %s:%s" % (self.host, self.iface))
        if self.proc.poll() is not None:
            raise RuntimeError("tcpdump did not start: " + open(self.log).read())
        return self

    def frames(self, ipv6_esp=False):
        """How many IPv4 frames (or IPv6 ESP frames) the file holds so far (tcpdump -U writes
        each as it gets it); the link is Ethernet. IPv6 neighbour discovery is not counted."""
        try:
            with open(self.path, "rb") as f:
                data = f.read()
        except FileNotFoundError:
            return 0
        if len(data) < 24:
            return 0
        endian = "<" if data[:4] == b"\xd4\xc3\xb2\xa1" or data[:4] == b"\x4d\x3c\xb2\xa1" else ">"
        count, at = 0, 24
        while at + 16 <= len(data):
            caplen = struct.unpack(endian + "I", data[at + 8:at + 12])[0]
            if at + 16 + caplen > len(data):
                break
            frame = data[at + 16:at + 16 + caplen]
            if ipv6_esp:
                count += frame[12:14] == b"\x86\xdd" and len(frame) > 20 and frame[20] == 50
            else:
                count += frame[12:14] == b"\x08\x00"
            at += 16 + caplen
        return count

    def wait_for(self, count, what, ipv6_esp=False):
        """Waits until the file holds at least `count` frames: the kernel hands tcpdump its
        packets in blocks, the last one when its timeout (1 s) passes."""
        wait_until(10, lambda: self.frames(ipv6_esp) >= count, "the capture to hold %d frames (%s); it has %d" % (
            count, what, self.frames(ipv6_esp)))

    def stop(self):
        """Stops tcpdump (it writes out what it holds on SIGINT); the kernel's drop count."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        text = open(self.log).read()
        for line in text.splitlines():
            if "dropped by kernel" in line:
                return int(line.split()[0])
        return None

    def __exit__(self, *exc):
        self.stop()

    def fields(self, fields, options=(), read_filter=None):
        """tshark's fields for every frame: a list of lists, each field split on ','."""
        argv = ["tshark", "-n", "-r", self.path]
        for o in options:
            argv += ["-o", o]
        if read_filter:
            argv += ["-Y", read_filter]
        argv += ["-T", "fields", "-E", "separator=\t", "-E", "occurrence=a", "-E", "aggregator=,"]
        for f in fields:
            argv += ["-e", f]
        r = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=120, text=True, env=dict(os.environ, HOME=BASE))
        if r.returncode != 0:
            raise RuntimeError("tshark failed: " + r.stderr)
        return [[col.split(",") if col else [] for col in line.split("\t")] for line in r.stdout.splitlines()]


class Background:
    """A process in a namespace whose output is read line by line, with bounded waits."""

    def __init__(self, host, argv):
        self.proc = subprocess.Popen(["ip", "netns", "exec", PREFIX + host] + list(argv), stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self.pending = b""  # read but not yet a whole line
        self.lines = []

    def read_line(self, timeout):
        """The next whole line, reading the pipe's bytes directly so that the deadline holds."""
        deadline = time.monotonic() + timeout
        fd = self.proc.stdout.fileno()
        while b"\n" not in self.pending:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no output line within %.1f s from %s" % (timeout, self.proc.args))
            ready, _, _ = select.select([fd], [], [], left)
            if ready:
                chunk = os.read(fd, 65536)
                if not chunk:
                    raise EOFError("%s ended: %s" % (self.proc.args, "".join(self.lines) + self.pending.decode()))
                self.pending += chunk
        line, self.pending = self.pending.split(b"\n", 1)
        self.lines.append(line.decode(errors="replace") + "\n")
        return line.decode(errors="replace")

    def finish(self, timeout):
        """Waits for the exit (killing it after timeout); its exit code and all its output."""
        try:
            out, _ = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, _ = self.proc.communicate(timeout=10)
        self.lines.append((self.pending + (out or b"")).decode(errors="replace"))
        self.pending = b""
        return self.proc.returncode, "".join(self.lines)

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate(timeout=10)


# A TCP transfer sunset -> sunrise: the server prints "ready", then the byte count and SHA-256
# of what it received once the client closes; the client sends, half-closes, and waits for
# the server's close, so that the whole exchange is over when it exits.
TCP_SERVER = r"""
import hashlib, socket, sys
s = socket.socket(socket.AF_INET6); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
s.bind(("::", 5001)); s.listen(1); print("ready", flush=True)
c, _ = s.accept(); h = hashlib.sha256(); n = 0
while True:
    b = c.recv(65536)
    if not b: break
    h.update(b); n += len(b)
c.close(); print(n, h.hexdigest(), flush=True)
"""
TCP_CLIENT = r"""
import hashlib, socket, sys
data = bytes.fromhex(sys.argv[2]) * int(sys.argv[3])
c = socket.create_connection((sys.argv[1], 5001), timeout=30)
c.sendall(data); c.shutdown(socket.SHUT_WR)
while c.recv(65536): pass
c.close(); print(len(data), hashlib.sha256(data).hexdigest(), flush=True)
"""


def tcp_transfer(pattern, repeat, dst=SUNRISE):
    """Sends pattern*repeat from sunset to sunrise (dst) over TCP; (sent, received) as
    'n sha256'."""
    server = Background("sunrise", ["/usr/bin/python3", "-c", TCP_SERVER])
    try:
        if server.read_line(10) != "ready":
            raise RuntimeError("TCP server: " + "".join(server.lines))
        client = run("sunset", "/usr/bin/python3", "-c", TCP_CLIENT, dst, pattern.hex(), str(repeat), timeout=60)
        _, received = server.finish(30)
        return client.stdout.strip(), received.splitlines()[-1].strip() if received.strip() else ""
    finally:
        server.kill()


def settle_tcp():
    """Waits until sunset holds no TCP connection that is not over (TIME-WAIT or gone): the
    last ACK has been handed to the kernel."""
    def over():
        out = run("sunset", "ss", "-tanH").stdout
        return all(line.split()[0] in ("TIME-WAIT", "LISTEN") for line in out.splitlines() if line.strip())
    wait_until(10, over, "sunset's TCP connections to close")
