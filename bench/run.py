#!/usr/bin/env python3
"""bench/run.py: side-by-side fan-out benchmark: Podium vs Icecast 2 vs the floor.

The listener load is `podium storm` (every Ogg page verified, TTFA from the
intended arrival, the player-buffer stall model), read back from its JSON.

Steady mode (default), for each N and each target:
  start the server on 127.0.0.1 with a fresh config and its own ulimit -n 20000,
  feed it the same 32 kbit/s mono Opus stream from ffmpeg (not the floor: it
  needs no source), measure RSS with 0 listeners, ramp N storm listeners in,
  wait until they are all playing, settle, then measure over a steady window:
    CPU-us per listener-second = server CPU us / (live listeners x window s)
    KiB RSS per listener       = (RSS with N - RSS with 0) / live listeners
  and stalls/joined/failed from storm (stalls: the whole run, ramp included;
  in win: those of the steady window alone); steal% is the share of the machine's
  CPU the hypervisor gave to others in the window, and for podium the flush
  lag histogram from /metrics (passes over 1 s late: the server was late).
  --reader-ratio: for each floor cadence, one more floor with N storm and N
  bench/reader (counts bytes, verifies nothing) listeners side by side, and
  the ratio of the two clients' CPU per listener-second over one window
  (storm's goal: within 1.3x).
Flash mode (--flash N [--flash-arrival ramp:5s]): N joins, all at once
(storm --arrival burst, the default) or spread over a ramp, share
with audio within 1 s / 5 s / 60 s, TTFA p50/p99/max, storm's issue lag.

Python 3 stdlib only. Everything on 127.0.0.0/8; every wait is bounded; every
process it starts is killed on exit (by its own process group id).
See bench/README.md.
"""
import argparse
import atexit
import json
import os
import re
import math
import resource
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

PW = "benchpw"
MOUNT = "/live/bench.opus"
NOFILE = 20000  # the per-process hard limit on these machines
CLK_TCK = os.sysconf("SC_CLK_TCK")

started = []  # Popen objects we started, killed on exit


# ---- process bookkeeping ---------------------------------------------------

def limit_nofile():
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    n = NOFILE if hard == resource.RLIM_INFINITY else min(NOFILE, hard)
    resource.setrlimit(resource.RLIMIT_NOFILE, (n, hard))


def spawn(argv, log_path, **kw):
    """Starts <argv> in its own session (so its group can be killed by id)."""
    log = open(log_path, "ab")
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=kw.pop("stdout", log),
                         stderr=kw.pop("stderr", log), preexec_fn=limit_nofile,
                         start_new_session=True, **kw)
    p.log_path = log_path
    started.append(p)
    return p


def stop(p, sig=signal.SIGTERM, grace_s=5.0):
    if p is None or p.poll() is not None:
        return
    try:
        os.killpg(p.pid, sig)
    except ProcessLookupError:
        return
    try:
        p.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        p.wait(timeout=5)


def end_client(proc, sig, timeout_s, threads):
    """Asks a load client to finish (<sig>, if it still runs), waits up to
    <timeout_s> (then stops it) and joins the threads reading its output."""
    if proc.poll() is None:
        try:
            os.kill(proc.pid, sig)
        except ProcessLookupError:
            pass
    try:
        proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        stop(proc)
    for t in threads:
        t.join(timeout=5)


def stop_all():
    for p in reversed(started):
        stop(p, grace_s=3.0)


def on_signal(sig, _frame):
    raise SystemExit(128 + sig)


# ---- /proc sampling ---------------------------------------------------------

def tree(pid):
    """<pid> and all its descendants (threads' children included)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            for tid in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{tid}/children") as f:
                    todo.extend(int(x) for x in f.read().split())
        except OSError:
            pass
    return out


def cpu_s(pid):
    """CPU seconds (user+system) of the process tree rooted at <pid>.

    Uses per-thread schedstat (ns resolution) where available, else
    utime+stime from /proc/PID/stat (10 ms ticks)."""
    total = 0.0
    for p in tree(pid):
        try:
            ns = 0
            for tid in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{tid}/schedstat") as f:
                    ns += int(f.read().split()[0])
            total += ns / 1e9
        except (OSError, ValueError, IndexError):
            try:
                with open(f"/proc/{p}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                total += (int(fields[11]) + int(fields[12])) / CLK_TCK
            except (OSError, ValueError, IndexError):
                pass
    return total


def cpu_ticks_s(pid):
    """utime+stime of the tree from /proc/PID/stat (10 ms ticks): a cross-check."""
    total = 0
    for p in tree(pid):
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except (OSError, ValueError, IndexError):
            pass
    return total / CLK_TCK


def steal_s():
    """CPU time the hypervisor gave to others, all vCPUs (/proc/stat)."""
    with open("/proc/stat") as f:
        return int(f.readline().split()[8]) / CLK_TCK


def flush_lag(base_url):
    """podium's flush lag histogram from /metrics: (passes, passes over 1 s,
    the largest bucket bound reached, in s), or None."""
    try:
        with urllib.request.urlopen(base_url + "/metrics", timeout=5) as resp:
            text = resp.read().decode()
    except OSError:
        return None
    buckets, count = [], None
    for line in text.splitlines():
        m = re.match(r'podium_flush_lag_seconds_bucket\{le="([^"]+)"\} (\d+)', line)
        if m:
            buckets.append((float(m.group(1)), int(m.group(2))))
        elif line.startswith("podium_flush_lag_seconds_count "):
            count = int(line.split()[1])
    if count is None:
        return None
    over_1s = count - max((n for le, n in buckets if le <= 1.0), default=0)
    worst = min((le for le, n in buckets if n == count), default=float("inf"))
    return count, over_1s, worst


def rss_kib(pid):
    total = 0
    for p in tree(pid):
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total


# ---- helpers ----------------------------------------------------------------

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_log(path, pattern, timeout_s, proc):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            with open(path, errors="replace") as f:
                if re.search(pattern, f.read()):
                    return True
        except OSError:
            pass
        time.sleep(0.1)
    return False


def wait_port(port, timeout_s, proc):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.1)
    return False


def probe_stream(port, timeout_s):
    """True once GET MOUNT answers 2xx and at least one body byte."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
                s.settimeout(2)
                s.sendall(f"GET {MOUNT} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n".encode())
                buf = b""
                while b"\r\n\r\n" not in buf and len(buf) < 16384:
                    chunk = s.recv(4096)
                    if not chunk:
                        break
                    buf += chunk
                head, _, body = buf.partition(b"\r\n\r\n")
                if re.match(rb"(HTTP/1\.[01]|ICY) 2\d\d", head):
                    if body or s.recv(1):
                        return True
        except OSError:
            pass
        time.sleep(0.3)
    return False


# ---- targets ----------------------------------------------------------------

ICECAST_XML = os.path.join(os.path.dirname(os.path.abspath(__file__)), "icecast.xml.in")


class Target:
    """One server under test. start() returns False if it did not come up."""

    def __init__(self, kind, cadence_ms, cfg, workdir, n):
        self.kind, self.cadence_ms, self.cfg, self.n = kind, cadence_ms, cfg, n
        self.dir = workdir
        self.proc = self.source = None
        self.port = None

    @property
    def label(self):
        return f"{self.kind}@{self.cadence_ms}" if self.cadence_ms else self.kind

    @property
    def cadence_label(self):
        return f"{self.cadence_ms}ms" if self.cadence_ms else "src 100ms"

    def start(self):
        os.makedirs(self.dir, exist_ok=True)
        self.port = free_port()
        log = os.path.join(self.dir, "server.log")
        if self.kind == "floor":
            ppw = max(1, self.cadence_ms // 100)
            # one process holds at most NOFILE connections: SO_REUSEPORT siblings
            procs = max(1, math.ceil(self.n / (NOFILE - 1000)))
            self.proc = spawn([self.cfg.floor, "--listen", f"127.0.0.1:{self.port}",
                               "--cadence-ms", str(self.cadence_ms),
                               "--pages-per-write", str(ppw), "--procs", str(procs)], log)
            return wait_log(log, r"floor: listening on", 10, self.proc)
        if self.kind == "icecast":
            logdir = os.path.join(self.dir, "log")
            os.makedirs(logdir, exist_ok=True)
            xml = os.path.join(self.dir, "icecast.xml")
            with open(xml, "w") as f:
                with open(ICECAST_XML) as t:
                    f.write(t.read().format(pw=PW, port=self.port, logdir=logdir,
                                            clients=100000, root_only="",
                                            end_root_only=""))
            # icecast refuses to run as root; <changeowner> drops to icecast2
            # after binding, so its log dir must be theirs.
            shutil.chown(logdir, "icecast2", "icecast")
            os.chmod(self.dir, 0o755)
            self.proc = spawn([self.cfg.icecast, "-c", xml], log)
            ok = wait_port(self.port, 10, self.proc)
            return ok and self.start_source()
        if self.kind == "podium":
            data = os.path.join(self.dir, "data")
            os.makedirs(data, exist_ok=True)
            conf = os.path.join(self.dir, "podium.conf")
            with open(conf, "w") as f:
                f.write(f"flush_ms = {self.cadence_ms}\nlisteners_max = 100000\ndemo = off\n")
            self.proc = spawn([self.cfg.podium, "serve", "--listen", f"127.0.0.1:{self.port}",
                               "--data", data, "--config", conf, "--source-password", PW,
                               *shlex.split(self.cfg.serve_args)], log)
            ok = wait_log(log, r"podium: listening on http://127\.0\.0\.1:\d+", 10, self.proc)
            return ok and self.start_source()
        raise ValueError(self.kind)

    def start_source(self):
        url = f"icecast://source:{PW}@127.0.0.1:{self.port}{MOUNT}"
        self.source = spawn([self.cfg.ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "warning",
                             "-re", "-f", "lavfi", "-i", "sine=f=440:sample_rate=48000",
                             "-ac", "1", "-c:a", "libopus", "-b:a", "32k",
                             "-page_duration", "100000", "-f", "ogg",
                             "-content_type", "audio/ogg", url],
                            os.path.join(self.dir, "ffmpeg.log"))
        return probe_stream(self.port, 15)

    def stop(self):
        stop(self.source)
        stop(self.proc)
        self.source = self.proc = None

    def url(self):
        return f"http://127.0.0.1:{self.port}{MOUNT}"

    def base_url(self):
        return f"http://127.0.0.1:{self.port}"


STORM_RE = re.compile(r"storm t=(\d+)s listeners=(\d+) .*?failed=(\d+)")


class Storm:
    """The listener load: `podium storm`, its live line parsed as it comes,
    its JSON read when it ends (by itself, or on SIGTERM: storm then ends
    at its next 250 ms sweep and writes the report)."""

    def __init__(self, cfg, target, n, arrival, duration_s, logdir, tag=""):
        self.progress = {"live": 0, "failed": 0, "t": 0}
        self.json_path = os.path.join(logdir, f"storm-{n}{tag}.json")
        self.log_path = os.path.join(logdir, f"storm-{n}{tag}.log")
        argv = [cfg.podium, "storm", "--target", target.base_url(), "--mount", MOUNT,
                "--listeners", str(n), "--arrival", arrival,
                "--duration", f"{int(duration_s * 1000)}ms", "--json", self.json_path]
        self.proc = spawn(argv, self.log_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.t_err = threading.Thread(target=self._pump, args=(self.proc.stderr, True),
                                      daemon=True)
        self.t_out = threading.Thread(target=self._pump, args=(self.proc.stdout, False),
                                      daemon=True)
        self.t_err.start()
        self.t_out.start()

    def _pump(self, stream, live):
        with open(self.log_path, "a") as log:
            for raw in stream:
                line = raw.decode(errors="replace")
                log.write(line)
                m = STORM_RE.search(line) if live else None
                if m:
                    self.progress = {"t": int(m.group(1)), "live": int(m.group(2)),
                                     "failed": int(m.group(3))}

    def finish(self, timeout_s):
        """Ends the run now (SIGTERM to storm's parent) and returns its JSON."""
        end_client(self.proc, signal.SIGTERM, timeout_s, (self.t_err, self.t_out))
        try:
            with open(self.json_path) as f:
                return json.load(f)
        except (OSError, ValueError):
            return None


def storm_pending(res):
    """Listeners neither joined nor failed by the end (storm counts them as
    failed with an *_at_end reason)."""
    by = res["listeners"]["by_reason"]
    return sum(v for k, v in by.items() if k.endswith("_at_end"))


HIST_SUB_BITS = 5  # tools/storm/hist.h


def bucket_high(idx):
    sub = 1 << HIST_SUB_BITS
    if idx < sub:
        return idx
    e = idx // sub - 1 + HIST_SUB_BITS
    low = (sub + idx % sub) << (e - HIST_SUB_BITS)
    return low + (1 << (e - HIST_SUB_BITS)) - 1


def ttfa_over_all_ms(res, q):
    """TTFA quantile <q> over all N joins, a join without audio sorting last
    (None when the quantile falls on those), from storm's histogram."""
    n = res["listeners"]["target"]
    h = res["histograms"]["ttfa_us"]
    rank = max(1, math.ceil(q * n))
    if rank > h["count"]:
        return None
    seen = 0
    for idx, c in sorted(h["buckets"]):
        seen += c
        if seen >= rank:
            return min(bucket_high(idx), h["max"]) / 1000.0
    return h["max"] / 1000.0


PROGRESS_RE = re.compile(r"reader: t=([\d.]+) attempted=(\d+) connected=(\d+) audio=(\d+) "
                         r"live=(\d+) failed=(\d+) stalls=(\d+) bytes=(\d+)")


class Reader:
    """bench/reader, the minimal client (counts bytes, verifies nothing): only
    for the storm-vs-reader client cost ratio (--reader-ratio)."""

    def __init__(self, cfg, url, n, mode_args, duration_s, logdir, extra=()):
        self.progress = {"live": 0, "audio": 0, "failed": 0, "attempted": 0}
        self.lines = []
        argv = [cfg.reader, "--url", url, "-n", str(n), *mode_args,
                "--duration", f"{duration_s:.1f}", *extra]
        self.log_path = os.path.join(logdir, f"reader-{n}.log")
        self.proc = spawn(argv, self.log_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.out = []
        self.t_err = threading.Thread(target=self._pump_err, daemon=True)
        self.t_out = threading.Thread(target=self._pump_out, daemon=True)
        self.t_err.start()
        self.t_out.start()

    def _pump_err(self):
        with open(self.log_path, "a") as log:
            for raw in self.proc.stderr:
                line = raw.decode(errors="replace")
                log.write(line)
                m = PROGRESS_RE.search(line)
                if m:
                    keys = ("t", "attempted", "connected", "audio", "live", "failed",
                            "stalls", "bytes")
                    self.progress = dict(zip(keys, (float(m.group(1)),
                                                    *map(int, m.groups()[1:]))))

    def _pump_out(self):
        for raw in self.proc.stdout:
            self.out.append(raw.decode(errors="replace"))

    def finish(self, timeout_s):
        """Asks the reader to stop (SIGUSR1) and returns its JSON result."""
        end_client(self.proc, signal.SIGUSR1, timeout_s, (self.t_out,))
        for line in self.out:
            line = line.strip()
            if line.startswith("{"):
                return json.loads(line)
        return None


# ---- the two modes ----------------------------------------------------------

def steady(cfg, target, n):
    """One steady measurement of <target> with <n> storm listeners."""
    r = {"target": target.kind, "label": target.label, "cadence": target.cadence_label,
         "n": n, "client": "storm", "ok": False}
    if not target.start():
        r["error"] = f"did not start (see {target.dir})"
        target.stop()
        return r
    try:
        time.sleep(2)  # settle with the source only
        r["rss0_kib"] = rss_kib(target.proc.pid)
        ramp_s = max(1.0, n / cfg.ramp_rate)
        total_s = ramp_s + cfg.join_wait + cfg.settle + cfg.duration + 5
        cl = Storm(cfg, target, n, f"ramp:{int(ramp_s * 1000)}ms", total_s + 5, target.dir)
        t_start = time.monotonic()
        deadline = t_start + ramp_s + cfg.join_wait
        while time.monotonic() < deadline and cl.proc.poll() is None:
            if cl.progress.get("live", 0) >= n:
                break
            time.sleep(0.2)
        r["join_s"] = round(time.monotonic() - t_start, 1)
        time.sleep(cfg.settle)
        live0 = cl.progress.get("live", 0)
        k0 = cpu_ticks_s(target.proc.pid)
        c0, q0, t0 = cpu_s(target.proc.pid), cpu_s(cl.proc.pid), time.monotonic()
        st0 = steal_s()
        src0 = cpu_s(target.source.pid) if target.source else 0.0
        time.sleep(cfg.duration)
        c1, q1, t1 = cpu_s(target.proc.pid), cpu_s(cl.proc.pid), time.monotonic()
        st1 = steal_s()
        k1 = cpu_ticks_s(target.proc.pid)
        src1 = cpu_s(target.source.pid) if target.source else 0.0
        live1 = cl.progress.get("live", 0)
        r["rss_kib"] = rss_kib(target.proc.pid)
        res = cl.finish(30)
        if res:
            # storm's timeline counts from its start, about t_start: the
            # stalls of the seconds that overlap the window, apart from the
            # ramp's (when joins and the fan-out compete for the cores)
            w0, w1 = t0 - t_start, t1 - t_start
            r["window_stalls"] = sum(t[3] for t in res.get("timeline", [])
                                     if t[0] + 1 > w0 and t[0] < w1)
        if target.kind == "podium":
            time.sleep(2)  # the workers' last reports (at most 1.5 s apart)
            r["flush_lag"] = flush_lag(target.base_url())
        window = t1 - t0
        live = (live0 + live1) / 2
        r.update(window_s=round(window, 2), live=int(live), result=res,
                 server_cpu_pct=100 * (c1 - c0) / window,
                 client_cpu_pct=100 * (q1 - q0) / window,
                 source_cpu_pct=100 * (src1 - src0) / window,
                 steal_pct=100 * (st1 - st0) / (window * (os.cpu_count() or 1)))
        if live > 0:
            r["cpu_us_per_ls"] = (c1 - c0) * 1e6 / (live * window)
            r["cpu_us_per_ls_stat"] = (k1 - k0) * 1e6 / (live * window)
            r["kib_per_listener"] = (r["rss_kib"] - r["rss0_kib"]) / live
            r["client_cpu_us_per_ls"] = (q1 - q0) * 1e6 / (live * window)
        r["ok"] = res is not None and live > 0
    finally:
        target.stop()
    return r


def client_ratio(cfg, target, n):
    """Storm's own cost against the minimal client: <n> storm listeners and
    <n> bench/reader listeners on one floor at the same time, each client's
    CPU per listener-second over the same window (side by side, so the
    machine's other load weighs on both alike)."""
    r = {"target": target.kind, "label": target.label, "cadence": target.cadence_label,
         "n": n, "client": "ratio", "ok": False}
    if not target.start():
        r["error"] = f"did not start (see {target.dir})"
        target.stop()
        return r
    try:
        ramp_s = max(1.0, n / cfg.ramp_rate)
        total_s = ramp_s + cfg.join_wait + cfg.settle + cfg.duration + 5
        st = Storm(cfg, target, n, f"ramp:{int(ramp_s * 1000)}ms", total_s + 5, target.dir,
                   tag="-ratio")
        rd = Reader(cfg, target.url(), n, ["--ramp", f"{ramp_s:.1f}"], total_s, target.dir)
        deadline = time.monotonic() + ramp_s + cfg.join_wait
        while time.monotonic() < deadline and st.proc.poll() is None and rd.proc.poll() is None:
            if st.progress.get("live", 0) >= n and rd.progress.get("live", 0) >= n:
                break
            time.sleep(0.2)
        time.sleep(cfg.settle)
        ls0, lr0 = st.progress.get("live", 0), rd.progress.get("live", 0)
        s0, q0, t0 = cpu_s(st.proc.pid), cpu_s(rd.proc.pid), time.monotonic()
        time.sleep(cfg.duration)
        s1, q1, t1 = cpu_s(st.proc.pid), cpu_s(rd.proc.pid), time.monotonic()
        ls1, lr1 = st.progress.get("live", 0), rd.progress.get("live", 0)
        res, rres = st.finish(30), rd.finish(30)
        window = t1 - t0
        ls, lr = (ls0 + ls1) / 2, (lr0 + lr1) / 2
        r.update(window_s=round(window, 2), live_storm=int(ls), live_reader=int(lr),
                 result=res, reader=rres)
        if ls > 0 and lr > 0:
            r["storm_us_per_ls"] = (s1 - s0) * 1e6 / (ls * window)
            r["reader_us_per_ls"] = (q1 - q0) * 1e6 / (lr * window)
            r["ok"] = res is not None
    finally:
        target.stop()
    return r


def flash(cfg, target, n):
    r = {"target": target.kind, "label": target.label, "cadence": target.cadence_label,
         "n": n, "client": "storm", "ok": False}
    if not target.start():
        r["error"] = f"did not start (see {target.dir})"
        target.stop()
        return r
    try:
        time.sleep(2)
        c0, t0 = cpu_s(target.proc.pid), time.monotonic()
        st = Storm(cfg, target, n, cfg.flash_arrival, cfg.flash_timeout, target.dir)
        q = 0.0
        # Ends when every join has audio or failed (from the live line), or
        # when storm's own --duration (the flash timeout) is up.
        while st.proc.poll() is None and time.monotonic() < t0 + cfg.flash_timeout + 10:
            q = max(q, cpu_s(st.proc.pid))  # the tree vanishes at exit: keep the last
            p = st.progress
            if p["live"] + p["failed"] >= n:
                break
            time.sleep(0.5)
        t1 = time.monotonic()
        res = st.finish(30)
        r.update(result=res, wall_s=round(t1 - t0, 1), client_cpu_s=q,
                 server_cpu_pct=100 * (cpu_s(target.proc.pid) - c0) / (t1 - t0))
        r["ok"] = res is not None
    finally:
        target.stop()
    return r


# ---- reporting --------------------------------------------------------------

def fmt(v, spec="{:.1f}", none="-"):
    return none if v is None else spec.format(v)


def ratio(a, b):
    return None if a is None or not b else a / b


def print_steady(n, rows, cfg):
    print(f"\n== steady: N={n} listeners (podium storm), window {cfg.duration:g} s, "
          f"ramp {cfg.ramp_rate:g}/s, stall = player buffer empty > 1 s ==")
    hdr = (f"{'target':<12} {'cadence':<10} {'live':>6} {'CPU-us/l-s':>11} {'KiB/listener':>12} "
           f"{'stalls':>6} {'in win':>6} {'joined':>7} {'failed':>6} {'pending':>7} {'errors':>6} {'join s':>6} "
           f"{'server%':>8} {'storm%':>7} {'storm-us/l-s':>12} {'source%':>8} {'steal%':>7}")
    print(hdr)
    print("-" * len(hdr))
    srows = [r for r in rows if r.get("client") == "storm"]
    for r in srows:
        if not r.get("ok"):
            print(f"{r['label']:<12} {r['cadence']:<10} FAILED: {r.get('error', 'no result')}")
            continue
        res = r["result"]
        pend = storm_pending(res)
        print(f"{r['label']:<12} {r['cadence']:<10} {r['live']:>6} "
              f"{fmt(r.get('cpu_us_per_ls')):>11} {fmt(r.get('kib_per_listener'), '{:.2f}'):>12} "
              f"{res['stalls']['count']:>6} {r.get('window_stalls', '-'):>6} "
              f"{res['listeners']['joined']:>7} "
              f"{res['listeners']['failed'] - pend:>6} {pend:>7} "
              f"{res['integrity_errors']['total']:>6} {r['join_s']:>6.1f} "
              f"{r['server_cpu_pct']:>8.1f} {r['client_cpu_pct']:>7.1f} "
              f"{fmt(r.get('client_cpu_us_per_ls')):>12} {r['source_cpu_pct']:>8.1f} "
              f"{r['steal_pct']:>7.1f}")
    def median_of(key):
        got = {}
        for r in srows:
            if r.get("ok") and r.get(key) is not None:
                got.setdefault(r["label"], []).append(r[key])
        return {k: statistics.median(v) for k, v in got.items()}
    cpu, mem = median_of("cpu_us_per_ls"), median_of("kib_per_listener")
    rounds = max((r.get("round", 1) for r in srows), default=1)
    if rounds > 1:
        print(f"medians of {rounds} rounds: " + "; ".join(
            f"{k} {cpu[k]:.1f} us/l-s" for k in sorted(cpu)))
    out = []
    for c in cfg.cadences:
        p, f = f"podium@{c}", f"floor@{c}"
        if p in cpu and f in cpu:
            out.append(f"podium/floor@{c}ms CPU {fmt(ratio(cpu[p], cpu[f]), '{:.2f}')}")
        if "icecast" in cpu and p in cpu:
            out.append(f"icecast/podium@{c}ms CPU {fmt(ratio(cpu['icecast'], cpu[p]), '{:.2f}')}"
                       f" RSS {fmt(ratio(mem['icecast'], mem[p]), '{:.2f}')}")
    if rounds > 1:
        # Each round runs podium right after the floor, so the two share the
        # VM's conditions (steal): the per-round ratio is the paired figure.
        by = {(r.get("round", 1), r["label"]): r["cpu_us_per_ls"] for r in srows
              if r.get("ok") and r.get("cpu_us_per_ls") is not None}
        for c in cfg.cadences:
            rs = [ratio(by[(k, f"podium@{c}")], by[(k, f"floor@{c}")])
                  for k in range(1, rounds + 1)
                  if (k, f"podium@{c}") in by and (k, f"floor@{c}") in by]
            if rs:
                out.append(f"podium/floor@{c}ms per round " +
                           " ".join(f"{x:.2f}" for x in rs) +
                           f" (median {statistics.median(rs):.2f})")
    if "icecast" in cpu and "floor@100" in cpu:
        out.append(f"icecast/floor@100ms CPU {fmt(ratio(cpu['icecast'], cpu['floor@100']), '{:.2f}')}")
    if out:
        print("ratios: " + "; ".join(out))
    # the client cost: storm (verifies every page) vs bench/reader (counts bytes)
    for r in rows:
        if r.get("client") != "ratio":
            continue
        if not r.get("ok"):
            print(f"client cost {r['label']}: FAILED: {r.get('error', 'no result')}")
            continue
        rs, rr = r["storm_us_per_ls"], r["reader_us_per_ls"]
        print(f"client cost {r['label']}, side by side on one floor: storm {rs:.1f} us/l-s "
              f"(live {r['live_storm']}), reader {rr:.1f} us/l-s (live {r['live_reader']}), "
              f"storm/reader {ratio(rs, rr):.2f} (goal <= 1.3)")
    for r in srows:
        if r.get("flush_lag"):
            passes, late, worst = r["flush_lag"]
            print(f"{r['label']}: {passes} flush passes, {late} of them over 1 s late, "
                  f"all within {worst:g} s (podium_flush_lag_seconds)")
    slow = [r["label"] for r in srows if r.get("ok") and r["live"] < r["n"]]
    if slow:
        print(f"note: not all {n} listeners were live in the window for {', '.join(slow)}; "
              "per-listener figures use the live count")
    hot = [r["label"] for r in srows if r.get("ok") and r["client_cpu_pct"] > 80]
    if hot:
        print(f"warning: the load generator above 80% of a core for {', '.join(hot)}: it may be "
              "the bottleneck, not the server")
    for r in srows:
        for w in (r.get("result") or {}).get("warnings", []):
            print(f"warning: {r['label']}: {w}")


def print_flash(n, rows, arrival):
    print(f"\n== flash crowd: {n} joins (podium storm --arrival {arrival}) ==")
    hdr = (f"{'target':<12} {'cadence':<10} {'audio':>6} {'<=1s':>7} {'<=5s':>7} {'<=60s':>7} "
           f"{'p50 ms':>7} {'p99 ms':>7} {'max ms':>7} {'failed':>6} {'pending':>7} "
           f"{'errors':>6} {'issue p99':>9} {'wall s':>6} {'server%':>8}")
    print(hdr)
    print("-" * len(hdr))
    for r in rows:
        res = r.get("result")
        if not r.get("ok") or not res:
            print(f"{r['label']:<12} {r['cadence']:<10} FAILED: {r.get('error', 'no result')}")
            continue
        w = res["ttfa_within_ms"]
        pend = storm_pending(res)
        p50, p99 = ttfa_over_all_ms(res, 0.50), ttfa_over_all_ms(res, 0.99)
        mx = res["ttfa_ms"]["max"] if res["listeners"]["joined"] == n else None
        print(f"{r['label']:<12} {r['cadence']:<10} {res['listeners']['joined']:>6} "
              f"{100 * w['1000'] / n:>6.1f}% {100 * w['5000'] / n:>6.1f}% "
              f"{100 * w['60000'] / n:>6.1f}% {fmt(p50, '{:.0f}'):>7} {fmt(p99, '{:.0f}'):>7} "
              f"{fmt(mx, '{:.0f}'):>7} {res['listeners']['failed'] - pend:>6} {pend:>7} "
              f"{res['integrity_errors']['total']:>6} {res['issue_lag_ms']['p99']:>9.0f} "
              f"{r['wall_s']:>6.1f} {r['server_cpu_pct']:>8.1f}")
    print("(<=Ns: share of all joins with verified audio within N s of the join; p50/p99/max "
          "over all joins, '-' when they fall on joins without audio; <=60s counts only if the "
          "run lasted that long; issue p99: storm's own connect() lag, ms)")
    for r in rows:
        for w in (r.get("result") or {}).get("warnings", []):
            print(f"warning: {r['label']}: {w}")


# ---- main -------------------------------------------------------------------

def find_bin(name, cfg):
    for d in (cfg.build, "/work/main/build-bench", "/work/main/build"):
        for sub in ("", "bench"):  # CMake puts floor and reader in <build>/bench
            path = os.path.join(d or "", sub, name)
            if d and os.access(path, os.X_OK):
                return path
    return None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--listeners", default="1000,5000,15000", help="comma list of N")
    ap.add_argument("--duration", type=float, default=30, help="steady window, seconds")
    ap.add_argument("--only", default="podium,icecast,floor", help="targets to run")
    ap.add_argument("--cadence-ms", default="500,1000",
                    help="floor cadence / podium flush_ms list (icecast has none)")
    ap.add_argument("--flash", type=int, default=0, help="flash-crowd mode with N joins")
    ap.add_argument("--flash-arrival", default="burst",
                    help="storm --arrival for flash mode: burst (all at once) or ramp:5s")
    ap.add_argument("--flash-timeout", type=float, default=62,
                    help="flash run ends when all have audio or after this many seconds")
    ap.add_argument("--ramp-rate", type=float, default=2000, help="joins per second (steady)")
    ap.add_argument("--join-wait", type=float, default=20,
                    help="seconds after the ramp to wait for all listeners to be live")
    ap.add_argument("--settle", type=float, default=3, help="seconds before the window")
    ap.add_argument("--rounds", type=int, default=1,
                    help="steady mode: run the targets this many times, interleaved, and take "
                    "each target's median (on a shared VM one window can be 10-20%% off)")
    ap.add_argument("--reader-ratio", action="store_true",
                    help="steady mode: per floor cadence, N storm and N bench/reader listeners "
                    "side by side on one floor; print the storm/reader client cost ratio")
    ap.add_argument("--serve-args", default="",
                    help="extra arguments for podium serve (e.g. '--set workers=2')")
    ap.add_argument("--build", default=os.environ.get("BUILD"), help="dir with podium/floor/reader")
    ap.add_argument("--podium"), ap.add_argument("--floor"), ap.add_argument("--reader")
    ap.add_argument("--icecast", default=shutil.which("icecast2") or "/usr/bin/icecast2")
    ap.add_argument("--ffmpeg", default=shutil.which("ffmpeg") or "/usr/bin/ffmpeg")
    ap.add_argument("--json", help="also write all results to this file")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir (logs, configs)")
    cfg = ap.parse_args()

    cfg.ns = [int(x) for x in cfg.listeners.split(",") if x]
    cfg.targets = [x.strip() for x in cfg.only.split(",") if x.strip()]
    cfg.cadences = [int(x) for x in cfg.cadence_ms.split(",") if x]
    for name in ("podium", "floor", "reader"):
        if not getattr(cfg, name):
            setattr(cfg, name, find_bin(name, cfg))
    if not cfg.podium:
        sys.exit("run.py: build podium first: the load is `podium storm` (see bench/README.md)")
    if ("floor" in cfg.targets and not cfg.floor) or (cfg.reader_ratio and not cfg.reader):
        sys.exit("run.py: build floor (and reader for --reader-ratio) first (see bench/README.md)")

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    atexit.register(stop_all)
    work = tempfile.mkdtemp(prefix="podium-bench-")
    os.chmod(work, 0o755)
    if not cfg.keep:
        atexit.register(shutil.rmtree, work, True)
    print(f"# bench: targets={','.join(cfg.targets)} cadences={cfg.cadence_ms} "
          f"cores={os.cpu_count()} tmp={work}", flush=True)
    print(f"# binaries: podium={cfg.podium} (serve and storm) floor={cfg.floor} "
          f"reader={cfg.reader} icecast={cfg.icecast}", flush=True)
    if cfg.serve_args:
        print(f"# podium serve extra arguments: {cfg.serve_args}", flush=True)

    def targets_for():
        for kind in ("floor", "icecast", "podium"):
            if kind not in cfg.targets:
                continue
            if kind == "icecast":
                yield kind, 0
            else:
                for c in cfg.cadences:
                    yield kind, c

    results = []
    ns = [cfg.flash] if cfg.flash else cfg.ns
    rounds = 1 if cfg.flash else max(1, cfg.rounds)
    for n in ns:
        rows = []
        for k, (kind, c) in ((k, t) for k in range(rounds) for t in targets_for()):
            t = Target(kind, c, cfg, os.path.join(work, f"{kind}{c or ''}-{n}-{k}"), n)
            print(f"# {'flash' if cfg.flash else 'steady'} N={n} {t.label} "
                  f"(round {k + 1} of {rounds}) ...", file=sys.stderr, flush=True)
            rows.append(flash(cfg, t, n) if cfg.flash else steady(cfg, t, n))
            rows[-1]["round"] = k + 1
            time.sleep(1)  # let TIME_WAIT and the kernel settle between targets
            if kind == "floor" and cfg.reader_ratio and not cfg.flash and k == 0:
                # twice the listeners on this floor: storm's N and the reader's N
                t = Target(kind, c, cfg, os.path.join(work, f"{kind}{c}-{n}-ratio"), 2 * n)
                print(f"# steady N={n} {t.label}: storm and bench/reader side by side ...",
                      file=sys.stderr, flush=True)
                rows.append(client_ratio(cfg, t, n))
                time.sleep(1)
        results.extend(rows)
        print_flash(n, rows, cfg.flash_arrival) if cfg.flash else print_steady(n, rows, cfg)
        sys.stdout.flush()
    if cfg.json:
        with open(cfg.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
