"""Helpers for the storm integration tests: run `podium storm`, a podium with
an ffmpeg source on one mount, and a byte-flipping TCP proxy. Loopback only,
every wait bounded."""
import json
import os
import socket
import subprocess
import tempfile
import threading
import time

from lib import BIN, Podium, ffmpeg_source, track, wait_mount

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
