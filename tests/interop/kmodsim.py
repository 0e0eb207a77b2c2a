"""The interop tests' handle on kmod-sim: start and stop an instance, run `ipsec` commands
against it, hand it packets through DIR/packets and read its /proc view.

The packet socket speaks kmod_sim/lib/inject_protocol.h: AF_UNIX SOCK_SEQPACKET, one request
per message (8-byte header + one IP packet), exactly one answer per request (12-byte header,
a one-line summary, then the packets, each {u8 port, u8 0, u16 length, bytes}).

Every wait here is bounded and ends with a message saying what did not happen; nothing
sleeps to synchronise. An instance is stopped (SIGTERM, then SIGKILL), its mount detached and
its run directory removed whatever happens in the test: `with Instance(...)` and atexit.
"""

import atexit
import ctypes
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time
import traceback

BASE_DIR = "/tmp/kmod-sim-interop"

# inject_protocol.h
INJECT_VERSION = 1
KIND_OUT, KIND_IN, KIND_COLLECT = 1, 2, 3
OUTCOMES = {1: "sent", 2: "passed", 3: "delivered", 4: "rejected", 5: "held",
            6: "trapped", 7: "dropped", 8: "refused", 9: "collected"}
SENT, PASSED, DELIVERED, REJECTED, HELD, TRAPPED, DROPPED, REFUSED, COLLECTED = range(1, 10)
PORT_WIRE, PORT_HOST = 1, 2
PORTS = {PORT_WIRE: "wire", PORT_HOST: "host"}
MAX_ANSWER = 1 << 20

SKIP = 77  # meson: test skipped


def kmod_sim_bin():
    return os.environ.get("KMOD_SIM_BIN", "")


def ipsec_bin():
    return os.environ.get("IPSEC_BIN", "")


def hexdump(data, limit=None):
    """Bytes as spaced hex, 16 a line (for failure messages)."""
    if limit is not None and len(data) > limit:
        data, more = data[:limit], " ... (%d bytes in all)" % len(data)
    else:
        more = ""
    lines = []
    for i in range(0, len(data), 16):
        lines.append("    %04x  %s" % (i, " ".join("%02x" % b for b in data[i:i + 16])))
    return "\n".join(lines) + more


def first_difference(a, b):
    """A short description of where two byte strings first differ, or None if equal."""
    if a == b:
        return None
    n = min(len(a), len(b))
    for i in range(n):
        if a[i] != b[i]:
            return "first difference at byte %d: expected 0x%02x, got 0x%02x (lengths %d / %d)" % (
                i, a[i], b[i], len(a), len(b))
    return "lengths differ: expected %d bytes, got %d (equal for the first %d)" % (len(a), len(b), n)


# ---------------------------------------------------------------------------------------------
# Reporting: every check prints one line; the script's exit status says whether all passed.

class Checker:
    def __init__(self, name):
        self.name = name
        self.passed = 0
        self.failures = []

    def check(self, condition, what, detail=""):
        if condition:
            self.passed += 1
            print("ok   %s" % what, flush=True)
        else:
            self.failures.append(what)
            print("FAIL %s" % what, flush=True)
            if detail:
                for line in str(detail).rstrip("\n").split("\n"):
                    print("       " + line, flush=True)
        return bool(condition)

    def equal_bytes(self, expected, got, what):
        diff = first_difference(expected, got)
        if diff is None:
            return self.check(True, what)
        return self.check(False, what, "%s\n  expected:\n%s\n  got:\n%s" % (
            diff, hexdump(expected, 256), hexdump(got, 256)))

    def info(self, text):
        print("     %s" % text, flush=True)

    def summary(self):
        print("%s: %d checks passed, %d failed" % (self.name, self.passed, len(self.failures)), flush=True)
        for f in self.failures:
            print("  failed: %s" % f, flush=True)
        return 0 if not self.failures else 1


def run_main(name, body, need_tshark=False):
    """Runs body(checker) and exits 0 (all passed), 1 (a failure or an error) or 77 (skip: no
    Scapy for this interpreter, or no tshark when the test needs it)."""
    try:
        import scapy  # noqa: F401
        import scapy.layers.ipsec  # noqa: F401
        import cryptography  # noqa: F401
    except ImportError as e:
        print("SKIP %s: %s lacks Scapy/cryptography (%s); install python3-scapy" % (name, sys.executable, e))
        sys.exit(SKIP)
    if need_tshark and shutil.which("tshark") is None:
        print("SKIP %s: tshark is not installed" % name)
        sys.exit(SKIP)
    for var, what in (("KMOD_SIM_BIN", "the kmod-sim daemon"), ("IPSEC_BIN", "the ipsec program")):
        path = os.environ.get(var, "")
        if not path or not os.access(path, os.X_OK):
            print("FAIL %s: %s=%r is not an executable (%s); meson sets it" % (name, var, path, what))
            sys.exit(1)
    if os.geteuid() != 0 or not os.path.exists("/dev/fuse"):
        # The daemon mounts its view with FUSE; like the integration tests, skip without it.
        print("SKIP %s: needs root and /dev/fuse to start kmod-sim" % name)
        sys.exit(SKIP)
    checker = Checker(name)
    started = time.monotonic()
    try:
        body(checker)
    except Exception:
        checker.check(False, "the test ran to its end", traceback.format_exc())
    finally:
        stop_all()
    print("%s: %.1f s" % (name, time.monotonic() - started))
    sys.exit(checker.summary())


# ---------------------------------------------------------------------------------------------
# Processes

_libc = ctypes.CDLL(None, use_errno=True)
PR_SET_CHILD_SUBREAPER = 36
MNT_DETACH = 2

# The daemon that `kmod-sim --daemon` leaves behind becomes our child when the foreground
# command exits, so we can wait for it (and see how it ended) instead of guessing.
_libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


def wait_until(timeout, done, what):
    """Polls done() every millisecond until true; raises TimeoutError naming `what`."""
    deadline = time.monotonic() + timeout
    while True:
        if done():
            return
        if time.monotonic() >= deadline:
            raise TimeoutError("gave up after %.1f s waiting for %s" % (timeout, what))
        time.sleep(0.001)  # poll period, not synchronisation


def _process_state(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            stat = f.read()
    except OSError:
        return None
    return stat[stat.rfind(")") + 2:][:1]


def _exited(pid):
    """True once `pid` has exited (reaping it if it is our child)."""
    try:
        r, _ = os.waitpid(pid, os.WNOHANG)
        if r == pid:
            return True
    except ChildProcessError:
        pass
    state = _process_state(pid)
    return state is None or state == "Z" and not _is_our_child(pid)


def _is_our_child(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            stat = f.read()
        return int(stat[stat.rfind(")") + 2:].split()[1]) == os.getpid()
    except (OSError, ValueError, IndexError):
        return False


def _is_kmod_sim(pid, run_dir):
    """Whether pid is a kmod-sim serving run_dir (so a leftover of an earlier run of this test)."""
    try:
        exe = os.readlink("/proc/%d/exe" % pid)
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            argv = f.read().split(b"\0")
    except OSError:
        return False
    return (exe.endswith("/kmod-sim") or exe.endswith("/kmod-sim (deleted)")) and run_dir.encode() in argv


def _mounts_under(path):
    found = []
    try:
        with open("/proc/self/mountinfo") as f:
            for line in f:
                point = line.split()[4].replace("\\040", " ")
                if point == path or point.startswith(path + "/"):
                    found.append(point)
    except OSError:
        pass
    return found


def _detach_mounts_under(path):
    for _ in range(16):
        found = _mounts_under(path)
        if not found:
            return
        for point in reversed(found):
            _libc.umount2(point.encode(), MNT_DETACH)


_instances = []


def stop_all():
    for inst in list(_instances):
        try:
            inst.stop()
        except Exception as e:  # cleanup must go on
            print("     (cleanup of %s: %s)" % (inst.dir, e))


atexit.register(stop_all)


def _on_signal(signum, frame):
    stop_all()
    sys.exit(128 + signum)


signal.signal(signal.SIGTERM, _on_signal)


class InjectError(Exception):
    pass


class Answer:
    def __init__(self, kind, outcome, tag, summary, packets):
        self.kind = kind
        self.outcome = outcome
        self.tag = tag
        self.summary = summary
        self.packets = packets  # [(port, bytes)]

    @property
    def outcome_name(self):
        return OUTCOMES.get(self.outcome, "outcome %d" % self.outcome)

    def on(self, port):
        return [p for (pt, p) in self.packets if pt == port]

    def describe(self):
        ports = ", ".join("%s %d bytes" % (PORTS.get(pt, "port %d" % pt), len(p)) for pt, p in self.packets)
        return "%s: \"%s\" [%s]" % (self.outcome_name, self.summary, ports or "no packets")


def encode_request(kind, tag, packet):
    return struct.pack("!BBHI", INJECT_VERSION, kind, 0, tag) + bytes(packet)


def decode_answer(data):
    if len(data) < 12:
        raise InjectError("answer of %d bytes is shorter than its 12-byte header" % len(data))
    version, kind, outcome, reserved, tag, count, summary_len = struct.unpack("!BBBBIHH", data[:12])
    if version != INJECT_VERSION or reserved != 0:
        raise InjectError("answer header version %d reserved %d:\n%s" % (version, reserved, hexdump(data[:12])))
    pos = 12
    if pos + summary_len > len(data):
        raise InjectError("summary of %d bytes runs past the %d-byte answer" % (summary_len, len(data)))
    summary = data[pos:pos + summary_len].decode("utf-8", "replace")
    pos += summary_len
    packets = []
    for i in range(count):
        if pos + 4 > len(data):
            raise InjectError("packet %d of %d: header runs past the answer" % (i + 1, count))
        port, zero, length = struct.unpack("!BBH", data[pos:pos + 4])
        pos += 4
        if zero != 0 or pos + length > len(data):
            raise InjectError("packet %d of %d: reserved %d, length %d past the answer" % (i + 1, count, zero, length))
        packets.append((port, bytes(data[pos:pos + length])))
        pos += length
    if pos != len(data):
        raise InjectError("%d bytes left over after %d packets" % (len(data) - pos, count))
    return Answer(kind, outcome, tag, summary, packets)


class Instance:
    """One kmod-sim at /tmp/kmod-sim-interop/<name>, its view mounted at DIR/mnt."""

    def __init__(self, name, options=()):
        self.name = name
        self.dir = os.path.join(BASE_DIR, name)
        self.mount = os.path.join(self.dir, "mnt")
        self.options = list(options)
        self.pid = None
        self.sock = None
        self._tag = 0
        self.commands = []  # every ipsec command run, for reproductions

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()
        return False

    # -- lifetime
    def _clean_leftovers(self):
        pid_file = os.path.join(self.dir, "kmod-sim.pid")
        try:
            with open(pid_file) as f:
                old = int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            old = None
        if old and _is_kmod_sim(old, self.dir):
            print("     (stopping kmod-sim pid %d left at %s by an earlier run)" % (old, self.dir))
            os.kill(old, signal.SIGTERM)
            try:
                wait_until(5, lambda: _exited(old), "leftover kmod-sim pid %d to exit" % old)
            except TimeoutError:
                os.kill(old, signal.SIGKILL)
        _detach_mounts_under(self.dir)
        if os.path.lexists(self.dir):
            shutil.rmtree(self.dir, ignore_errors=True)

    def start(self):
        os.makedirs(BASE_DIR, exist_ok=True)
        self._clean_leftovers()
        os.makedirs(self.dir)
        _instances.append(self)
        argv = [kmod_sim_bin(), "--run-dir", self.dir, "--mount", self.mount] + self.options + ["--daemon"]
        try:
            r = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               timeout=20)
        except subprocess.TimeoutExpired:
            raise RuntimeError("`%s` did not return within 20 s" % " ".join(argv))
        if r.returncode != 0:
            raise RuntimeError("`%s` exited %d: %s%s" % (" ".join(argv), r.returncode,
                                                          r.stdout.decode(), r.stderr.decode()))
        with open(os.path.join(self.dir, "kmod-sim.pid")) as f:
            self.pid = int(f.read().split()[0])
        path = os.path.join(self.dir, "packets")
        # --daemon returns once the instance is ready, so the socket should be there already;
        # the bounded wait only turns "not there" into a clear message.
        wait_until(5, lambda: os.path.exists(path), "%s (the packet injection socket)" % path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.sock.settimeout(10)
        self.sock.connect(path)

    def stop(self):
        if self in _instances:
            _instances.remove(self)
        if self.sock is not None:
            self.sock.close()
            self.sock = None
        if self.pid:
            pid, self.pid = self.pid, None
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                wait_until(10, lambda: _exited(pid), "kmod-sim pid %d to exit after SIGTERM" % pid)
            except TimeoutError as e:
                print("     (%s; sending SIGKILL)" % e)
                try:
                    os.kill(pid, signal.SIGKILL)
                    wait_until(5, lambda: _exited(pid), "kmod-sim pid %d to exit after SIGKILL" % pid)
                except (ProcessLookupError, TimeoutError):
                    pass
        _detach_mounts_under(self.dir)
        shutil.rmtree(self.dir, ignore_errors=True)

    # -- configuration
    def ipsec(self, *args, check=True):
        """Runs `ipsec args...` against this instance; raises with its output if it fails."""
        argv = [ipsec_bin()] + [str(a) for a in args]
        env = dict(os.environ, KMOD_SIM_DIR=self.dir)
        self.commands.append("ipsec " + " ".join(str(a) for a in args))
        try:
            r = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, timeout=20)
        except subprocess.TimeoutExpired:
            raise RuntimeError("`ipsec %s` did not finish within 20 s" % " ".join(argv[1:]))
        out, err = r.stdout.decode(errors="replace"), r.stderr.decode(errors="replace")
        if check and r.returncode != 0:
            raise RuntimeError("`ipsec %s` exited %d\n  stdout: %s\n  stderr: %s" % (
                " ".join(argv[1:]), r.returncode, out.strip(), err.strip()))
        return r.returncode, out, err

    # -- the view
    def proc(self, rel):
        with open(os.path.join(self.mount, rel)) as f:
            return f.read()

    def spi_line(self, said):
        """The net/ipsec_spi line of `said` (written as the listing writes it), or None."""
        for line in self.proc("net/ipsec_spi").splitlines():
            if line.split(" ", 1)[0] == said:
                return line
        return None

    def spi_fields(self, said):
        """The name=value fields of the SA's ipsec_spi line as a dict ({} if no line)."""
        line = self.spi_line(said)
        fields = {}
        if line is None:
            return fields
        for word in line.split(" ")[2:]:
            if "=" in word:
                k, v = word.split("=", 1)
                fields[k] = v
        return fields

    # -- packets
    def inject(self, kind, packet=b""):
        """Sends one request and returns its Answer (raising InjectError on a bad answer)."""
        if self.sock is None:
            raise InjectError("instance %s is not started" % self.name)
        self._tag += 1
        tag = self._tag
        self.sock.send(encode_request(kind, tag, packet))
        try:
            data = self.sock.recv(MAX_ANSWER)
        except socket.timeout:
            raise InjectError("no answer to request tag %d within 10 s" % tag)
        if not data:
            raise InjectError("the daemon closed the packet socket instead of answering tag %d" % tag)
        answer = decode_answer(data)
        if answer.tag != tag or answer.kind != kind:
            raise InjectError("answer for tag %d kind %d came back as tag %d kind %d" % (
                tag, kind, answer.tag, answer.kind))
        return answer

    def out(self, packet):
        """A packet from the host into ipsecN (the outbound path)."""
        return self.inject(KIND_OUT, bytes(packet))

    def rcv(self, packet):
        """A packet from the network (the inbound path)."""
        return self.inject(KIND_IN, bytes(packet))

    def collect(self):
        return self.inject(KIND_COLLECT, b"")
