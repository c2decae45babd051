"""Shared helpers for integration tests: the real podium binary on 127.0.0.1
(port 0), real ffmpeg as source, raw sockets and ffprobe as checkers.

Every helper is bounded in time; every process started is stopped by the
test (or by atexit) so nothing outlives a test.
"""
import atexit
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
BIN = os.path.abspath(os.environ.get("PODIUM_BIN") or os.path.join(ROOT, "build", "podium"))
PASSWORD = "hackme"

_procs = []


def _cleanup():
    for p in _procs:
        if p.poll() is None:
            p.kill()
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass


atexit.register(_cleanup)


def track(p):
    _procs.append(p)
    return p


class Podium:
    """A podium server on 127.0.0.1 with a private data folder."""

    def __init__(self, config=None, args=(), password=PASSWORD, demo=False):
        self.config = dict(config or {})
        if not demo:
            self.config.setdefault("demo", "off")
        self.args = list(args)
        self.password = password
        self.proc = None
        self.port = None
        self.tmp = tempfile.mkdtemp(prefix="podium-test-")
        self.log_path = os.path.join(self.tmp, "server.log")

    def start(self, timeout=10):
        conf = os.path.join(self.tmp, "podium.conf")
        with open(conf, "w") as f:
            for k, v in self.config.items():
                f.write(f"{k} = {v}\n")
        cmd = [BIN, "serve", "--listen", "127.0.0.1:0", "--data",
               os.path.join(self.tmp, "data"), "--config", conf,
               "--source-password", self.password] + self.args
        self.log = open(self.log_path, "w+")
        self.proc = track(subprocess.Popen(cmd, stdout=self.log, stderr=self.log))
        deadline = time.time() + timeout
        while time.time() < deadline:
            with open(self.log_path) as f:
                m = re.search(r"listening on http://127\.0\.0\.1:(\d+)", f.read())
            if m:
                self.port = int(m.group(1))
                return self
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise RuntimeError("podium did not start:\n" + self.logs())

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def logs(self):
        try:
            with open(self.log_path) as f:
                return f.read()
        except OSError:
            return ""

    def stop(self, timeout=10):
        """SIGTERM, wait, and return the exit code."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("podium did not stop within %ss on SIGTERM" % timeout)

    def get(self, path, method="GET", headers=None, body=None, timeout=5):
        """One HTTP request on a raw socket; returns (status, headers, body)."""
        return http_request(self.port, path, method, headers, body, timeout)

    def metrics(self):
        status, _, body = self.get("/metrics")
        assert status == 200, status
        return parse_metrics(body.decode())

    def metric(self, name, **labels):
        key = name
        if labels:
            key += "{" + ",".join(f'{k}="{v}"' for k, v in sorted(labels.items())) + "}"
        return self.metrics().get(key, 0)

    def wait_metric(self, name, pred, timeout=10, **labels):
        deadline = time.time() + timeout
        v = None
        while time.time() < deadline:
            v = self.metric(name, **labels)
            if pred(v):
                return v
            time.sleep(0.1)
        raise AssertionError(f"metric {name}{labels} stayed at {v}")

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        log = ""
        try:
            rc = self.stop()
            if rc != 0:
                log = self.logs()[-4000:]  # the server's last words: gone with tmp
        finally:
            shutil.rmtree(self.tmp, ignore_errors=True)
        if exc[0] is None:
            assert rc == 0, f"podium exited {rc} on SIGTERM; its log ends:\n{log}"


def parse_metrics(text):
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        key, _, val = line.rpartition(" ")
        out[key] = float(val)
    return out


def http_request(port, path, method="GET", headers=None, body=None, timeout=5,
                 raw=None, version="HTTP/1.1"):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        if raw is None:
            h = {"Host": f"127.0.0.1:{port}"}
            h.update(headers or {})
            req = f"{method} {path} {version}\r\n" + "".join(
                f"{k}: {v}\r\n" for k, v in h.items()) + "\r\n"
            raw = req.encode() + (body or b"")
        s.sendall(raw)
        return read_response(s, timeout)
    finally:
        s.close()


def read_response(s, timeout=5, body_bytes=None):
    """Reads an HTTP answer: the whole body (Content-Length or until close),
    or only <body_bytes> of it for streams."""
    deadline = time.time() + timeout
    data = b""
    while b"\r\n\r\n" not in data:
        s.settimeout(max(0.05, deadline - time.time()))
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    if not lines[0]:
        return None, {}, b""
    status = int(lines[0].split()[1])
    hdrs = {}
    for ln in lines[1:]:
        k, _, v = ln.partition(":")
        hdrs[k.strip().lower()] = v.strip()
    want = body_bytes
    if want is None and "content-length" in hdrs:
        want = int(hdrs["content-length"])
    while (want is None or len(body) < want) and time.time() < deadline:
        s.settimeout(max(0.05, deadline - time.time()))
        try:
            chunk = s.recv(65536)
        except socket.timeout:
            break
        except ConnectionResetError:
            break
        if not chunk:
            break
        body += chunk
    return status, hdrs, body


def ffmpeg_source(port, mount, password=PASSWORD, seconds=None, freq=440, legacy=False,
                  page_ms=None, extra=()):
    """ffmpeg broadcasting a sine tone as Ogg/Opus to /live/<mount>.opus."""
    name = mount if mount.startswith("/") else f"/live/{mount}.opus"
    cmd = ["ffmpeg", "-nostdin", "-v", "error", "-re", "-f", "lavfi", "-i",
           f"sine=f={freq}:sample_rate=48000"]
    if seconds:
        cmd += ["-t", str(seconds)]
    cmd += ["-ac", "1", "-c:a", "libopus", "-b:a", "32k"]
    if page_ms:
        cmd += ["-page_duration", str(page_ms * 1000)]
    cmd += ["-f", "ogg", "-content_type", "audio/ogg"]
    if legacy:
        cmd += ["-legacy_icecast", "1"]
    cmd += list(extra)
    cmd += [f"icecast://source:{password}@127.0.0.1:{port}{name}"]
    return track(subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE))


def ffmpeg_capture(url, seconds, out_path):
    """ffmpeg recording a stream for <seconds> into a file (a real player)."""
    cmd = ["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", url, "-t", str(seconds),
           "-c", "copy", out_path]
    return track(subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE))


def decode_check(path):
    """Decodes <path> fully with ffmpeg; returns (ok, seconds, errors)."""
    r = subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", path, "-f", "null", "-"],
                       capture_output=True, timeout=60)
    p = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration",
                        "-of", "default=nw=1:nk=1", path], capture_output=True, timeout=30)
    try:
        dur = float(p.stdout.decode().strip() or 0)
    except ValueError:
        dur = 0.0
    err = (r.stderr + p.stderr).decode(errors="replace").strip()
    return r.returncode == 0 and not err, dur, err


def settle_stats():
    """Waits out a worker's report of its counters to the origin (with its
    housekeeping: once a second, at most 1.5 s apart; the rest is margin for
    a loaded machine), so /metrics shows what the workers did."""
    time.sleep(1.8)


def wait_for(pred, timeout=10, what="condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if pred():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def tcp_row(server_port, client_port):
    """The fields of /proc/net/tcp's row for the server end of the loopback
    connection from <client_port> to <server_port>; None if there is none."""
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            fields = line.split()
            if (int(fields[1].split(":")[1], 16) == server_port
                    and int(fields[2].split(":")[1], 16) == client_port):
                return fields
    return None


def children(pid):
    """Pids of <pid>'s children (a server's worker processes), from /proc."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(d))
    return sorted(out)


def wait_mount(srv, mount, timeout=10):
    def ok():
        status, _, _ = srv.get(f"/live/{mount}.opus", method="HEAD")
        return status == 200
    wait_for(ok, timeout, f"mount {mount}")


def ogg_pages(data):
    """Splits an Ogg byte string into pages: (header_type, granule, serial,
    seq, crc_ok, packets_bytes). Stops at the first incomplete page."""
    pages = []
    i = 0
    while i + 27 <= len(data):
        if data[i:i + 4] != b"OggS":
            raise AssertionError(f"no capture pattern at byte {i}")
        nseg = data[i + 26]
        if i + 27 + nseg > len(data):
            break
        lacing = data[i + 27:i + 27 + nseg]
        size = 27 + nseg + sum(lacing)
        if i + size > len(data):
            break
        page = data[i:i + size]
        crc_ok = ogg_crc(page[:22] + b"\0\0\0\0" + page[26:]) == int.from_bytes(page[22:26], "little")
        pages.append((page[5], int.from_bytes(page[6:14], "little"),
                      int.from_bytes(page[14:18], "little"),
                      int.from_bytes(page[18:22], "little"), crc_ok, page[27 + nseg:]))
        i += size
    return pages


_CRC = None


def ogg_crc(data):
    global _CRC
    if _CRC is None:
        _CRC = []
        for n in range(256):
            r = n << 24
            for _ in range(8):
                r = ((r << 1) ^ 0x04C11DB7) if r & 0x80000000 else (r << 1)
            _CRC.append(r & 0xFFFFFFFF)
    crc = 0
    for b in data:
        crc = ((crc << 8) & 0xFFFFFFFF) ^ _CRC[((crc >> 24) ^ b) & 0xFF]
    return crc


class Listener:
    """A raw-socket listener: reads the response header, then collects the
    body. <rcvbuf> shrinks the receive buffer (slow-reader tests)."""

    def __init__(self, port, mount, rcvbuf=None, read=True):
        self.s = socket.socket()
        if rcvbuf:
            self.s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.s.settimeout(5)
        self.s.connect(("127.0.0.1", port))
        self.s.sendall(f"GET /live/{mount}.opus HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        self.status = None
        self.body = b""
        if read:
            self.status, self.headers, self.body = read_response(self.s, 5, body_bytes=1)

    def pump(self, seconds, times=None):
        """Reads for <seconds>; returns bytes got in that time, None on EOF
        before any. <times>: a list to append each arrival's monotonic time to."""
        deadline = time.time() + seconds
        got = 0
        while time.time() < deadline:
            self.s.settimeout(max(0.01, deadline - time.time()))
            try:
                chunk = self.s.recv(65536)
            except socket.timeout:
                continue
            except ConnectionResetError:
                return None
            if not chunk:
                return None if got == 0 else got
            self.body += chunk
            got += len(chunk)
            if times is not None:
                times.append(time.monotonic())
        return got

    def close(self):
        self.s.close()


def run(tests):
    """Runs test functions in order; prints the closing line CTest logs show;
    returns the exit code."""
    passed = failed = 0
    only = sys.argv[1:]
    for t in tests:
        if only and t.__name__ not in only:
            continue
        t0 = time.time()
        try:
            t()
            passed += 1
            print(f"ok   {t.__name__} ({time.time() - t0:.1f}s)", flush=True)
        except Exception as e:  # report and go on: one failing test should not hide others
            failed += 1
            import traceback
            traceback.print_exc()
            print(f"FAIL {t.__name__}: {e}", flush=True)
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0
