"""Helpers for the storm integration tests: run `podium storm`, a podium with
an ffmpeg source on one mount, Debian's Icecast 2 with the same source, and
a byte-flipping TCP proxy. Loopback only, every wait bounded."""
import grp
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time

from lib import BIN, ROOT, Podium, ffmpeg_source, track, wait_mount

TMP = tempfile.mkdtemp(prefix="podium-storm-test-")


def storm(*args, timeout=60):
    """Runs `podium storm ARGS --json FILE`; returns (rc, stdout, stderr, report
    dict or None)."""
    out = os.path.join(TMP, f"r{time.monotonic_ns()}.json")
    cmd = [BIN, "storm", *map(str, args)]
    if "merge" not in args and "--json" not in args:
        cmd += ["--json", out]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    report = None
    if os.path.exists(out):
        with open(out) as f:
            report = json.load(f)
    return p.returncode, p.stdout, p.stderr, report


class Broadcast:
    """A podium with <config> and an ffmpeg source on /live/<name>.opus with
    100 ms pages (as the issue's setup)."""

    def __init__(self, name="s", config=None):
        self.name = name
        self.mount = f"/live/{name}.opus"
        self.srv = Podium(config=config or {})
        self.src = None

    def __enter__(self):
        self.srv.start()
        self.src = ffmpeg_source(self.srv.port, self.name, self.srv.password, page_ms=100)
        wait_mount(self.srv, self.name, timeout=15)
        time.sleep(1.2)  # let a burst's worth of audio collect
        return self

    def __exit__(self, *exc):
        if self.src and self.src.poll() is None:
            self.src.kill()
            self.src.wait(timeout=5)
        self.srv.cleanup()


ICECAST_BIN = shutil.which("icecast2") or "/usr/bin/icecast2"
ICECAST_USER, ICECAST_GROUP = "icecast2", "icecast"  # made by Debian's package

ICECAST_XML = os.path.join(ROOT, "bench", "icecast.xml.in")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def icecast_missing():
    """Why Icecast cannot be used here, or None."""
    if not os.access(ICECAST_BIN, os.X_OK):
        return f"{ICECAST_BIN} is not installed (scripts/deps.sh test installs icecast2)"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(ICECAST_USER)
            grp.getgrnam(ICECAST_GROUP)
        except KeyError:
            return f"running as root and there is no {ICECAST_USER}:{ICECAST_GROUP} to drop to"
    return None


class IcecastBroadcast:
    """Debian's icecast2 on a free 127.0.0.1 port with its own XML config
    and logs in a temp dir, and an ffmpeg Ogg/Opus source (100 ms pages) on
    /live/<name>.opus."""

    def __init__(self, name="s", password="hackme"):
        self.name, self.password = name, password
        self.mount = f"/live/{name}.opus"
        self.tmp = tempfile.mkdtemp(prefix="podium-icecast-test-")
        self.proc = self.src = None
        self.port = None

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def logs(self):
        out = []
        for name in ("icecast.out", "log/error.log"):
            try:
                with open(os.path.join(self.tmp, name), errors="replace") as f:
                    out.append(f.read()[-3000:])
            except OSError:
                pass
        return "\n".join(out)

    def __enter__(self):
        logdir = os.path.join(self.tmp, "log")
        os.makedirs(logdir)
        # Icecast will not run as root: as root, the template makes it drop
        # to its own user after binding (elsewhere that block is commented out).
        root = os.geteuid() == 0
        if root:
            # after the drop it still writes its logs, and must reach them
            shutil.chown(logdir, ICECAST_USER, ICECAST_GROUP)
            os.chmod(self.tmp, 0o755)
        self.port = free_port()
        xml = os.path.join(self.tmp, "icecast.xml")
        with open(xml, "w") as f:
            with open(ICECAST_XML) as t:
                f.write(t.read().format(pw=self.password, port=self.port, logdir=logdir,
                                        clients=1000, root_only="" if root else "<!--",
                                        end_root_only="" if root else "-->"))
        out = open(os.path.join(self.tmp, "icecast.out"), "w")
        self.proc = track(subprocess.Popen([ICECAST_BIN, "-c", xml], stdin=subprocess.DEVNULL,
                                           stdout=out, stderr=out))
        try:
            self._wait_listening(10)
            self.src = ffmpeg_source(self.port, self.name, self.password, page_ms=100)
            self._wait_stream(15)
        except Exception:
            self.__exit__(None, None, None)
            raise
        time.sleep(1.2)  # a burst's worth of audio in Icecast's queue
        return self

    def _wait_listening(self, timeout):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("icecast2 exited:\n" + self.logs())
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("icecast2 did not listen:\n" + self.logs())

    def _wait_stream(self, timeout):
        """Until GET <mount> answers 200 with body bytes (the source is on)."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=2) as s:
                    s.settimeout(2)
                    s.sendall(f"GET {self.mount} HTTP/1.0\r\nHost: x\r\n\r\n".encode())
                    data = b""
                    while b"\r\n\r\n" not in data and len(data) < 16384:
                        chunk = s.recv(4096)
                        if not chunk:
                            break
                        data += chunk
                    head, _, body = data.partition(b"\r\n\r\n")
                    if head.startswith(b"HTTP/1.0 200") and (body or s.recv(1)):
                        return
            except OSError:
                pass
            time.sleep(0.3)
        raise RuntimeError("no stream on icecast2:\n" + self.logs())

    def __exit__(self, *exc):
        for p in (self.src, self.proc):
            if p and p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait(timeout=5)
        shutil.rmtree(self.tmp, ignore_errors=True)


class FlipProxy:
    """127.0.0.1:<port> → target port. In each server→client stream, once
    <after> bytes went by, the byte 40 bytes past the next "OggS" (inside a
    page body: the header is 27 + a few lacing bytes) is flipped, once per
    connection."""

    def __init__(self, target_port, after=20000):
        self.target_port = target_port
        self.after = after
        self.ls = socket.socket()
        self.ls.bind(("127.0.0.1", 0))
        self.ls.listen(512)
        self.port = self.ls.getsockname()[1]
        self.flipped = 0
        self.stop_flag = False
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        self.ls.settimeout(0.2)
        while not self.stop_flag:
            try:
                c, _ = self.ls.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            try:
                u = socket.create_connection(("127.0.0.1", self.target_port), timeout=5)
            except OSError:
                c.close()
                continue
            threading.Thread(target=self._pump, args=(c, u, False), daemon=True).start()
            threading.Thread(target=self._pump, args=(u, c, True), daemon=True).start()

    def _pump(self, src, dst, downstream):
        seen, done, carry = 0, False, b""
        src.settimeout(0.5)
        deadline = time.time() + 120
        while not self.stop_flag and time.time() < deadline:
            try:
                data = src.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                break
            if not data:
                break
            if downstream and not done:
                buf = bytearray(carry + data)
                start = max(0, self.after - seen)
                i = buf.find(b"OggS", start) if start < len(buf) else -1
                if i >= 0 and i + 40 < len(buf):
                    buf[i + 40] ^= 0x5A
                    done = True
                    with self.lock:
                        self.flipped += 1
                # hold back nothing: a miss just waits for a later page
                data = bytes(buf[len(carry):])
                seen += len(data)
                carry = b""
            try:
                dst.sendall(data)
            except OSError:
                break
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def close(self):
        self.stop_flag = True
        self.ls.close()
