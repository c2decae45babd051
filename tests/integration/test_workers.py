"""Fan-out worker processes: listeners spread over them get identical bytes;
a worker killed with SIGKILL loses only its own listeners, who resume with
?from=N without a gap or a duplicate; the origin restarts it; workers never
outlive their origin."""
import os
import selectors
import signal
import socket
import statistics
import time

from lib import (Podium, children, tcp_row, ffmpeg_source, decode_check, ogg_pages, run,
                 settle_stats, wait_for, wait_mount)


def socket_owner(server_port, client_port, pids):
    """Which of <pids> holds the server end of the connection from
    <client_port>: match the socket inode in /proc/net/tcp to an fd."""
    row = tcp_row(server_port, client_port)
    if row is None:
        return None
    target = f"socket:[{row[9]}]"
    for pid in pids:
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                if os.readlink(f"/proc/{pid}/fd/{fd}") == target:
                    return pid
        except OSError:
            continue
    return None


class Conn:
    def __init__(self, port, path):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        self.raw = b""
        self.eof = False
        head = b""
        while b"\r\n\r\n" not in head:
            c = self.s.recv(4096)
            assert c, "closed before the answer"
            head += c
        hdr, self.body = head.split(b"\r\n\r\n", 1)
        assert hdr.startswith(b"HTTP/1.1 200"), hdr[:40]
        self.s.setblocking(False)

    def pages(self):
        return ogg_pages(self.body)


def pump(conns, seconds, bursts=None):
    """Reads every connection for <seconds>; marks EOF/reset. <bursts>: a
    dict to note, per connection, when each burst of data began (data after
    300 ms of quiet)."""
    last = {}
    sel = selectors.DefaultSelector()
    for c in conns:
        if not c.eof:
            sel.register(c.s, selectors.EVENT_READ, c)
    deadline = time.time() + seconds
    while time.time() < deadline and sel.get_map():
        for key, _ in sel.select(timeout=max(0.01, deadline - time.time())):
            c = key.data
            try:
                data = c.s.recv(65536)
            except BlockingIOError:
                continue
            except ConnectionResetError:
                data = b""
            if data:
                c.body += data
                now = time.monotonic()
                if bursts is not None and now - last.get(c, 0) > 0.3:
                    bursts.setdefault(c, []).append(now)
                last[c] = now
            else:
                c.eof = True
                sel.unregister(c.s)
    sel.close()


def audio_seqs(pages):
    return [p[3] for p in pages if p[3] >= 2]


def assert_continuous(seqs, what):
    assert seqs, f"{what}: no audio pages"
    for a, b in zip(seqs, seqs[1:]):
        assert b == a + 1, f"{what}: page {a} followed by {b}"


def test_kill_worker_listeners_resume():
    with Podium(config={"workers": 3}) as srv:
        src = ffmpeg_source(srv.port, "w", page_ms=100)
        try:
            wait_mount(srv, "w")
            wait_for(lambda: len(children(srv.proc.pid)) == 3, 5, "three workers")
            workers = children(srv.proc.pid)
            conns = [Conn(srv.port, "/live/w.opus") for _ in range(15)]
            owner = {}
            for c in conns:
                owner[c] = socket_owner(srv.port, c.s.getsockname()[1], workers)
                assert owner[c] in workers, "every listener is served by a worker"
            used = set(owner.values())
            assert len(used) >= 2, f"15 joins all landed on one worker: {used}"
            deadline = time.time() + 15
            while time.time() < deadline and not all(len(audio_seqs(c.pages())) >= 5
                                                     for c in conns):
                pump(conns, 0.5)
            pump(conns, 2.0)

            # Identical bytes: the same page from two workers is the same page.
            by_worker = {}
            for c in conns:
                by_worker.setdefault(owner[c], c)
            a, b = list(by_worker.values())[:2]
            pa = {p[3]: p for p in a.pages()}
            pb = {p[3]: p for p in b.pages()}
            common = set(pa) & set(pb)
            assert len(common) >= 10, (len(common), sorted(pa)[-3:], sorted(pb)[-3:])
            for seq in common:
                assert pa[seq] == pb[seq], f"page {seq} differs between workers"

            victim = owner[conns[0]]
            victims = [c for c in conns if owner[c] == victim]
            others = [c for c in conns if owner[c] != victim]
            os.kill(victim, signal.SIGKILL)
            pump(conns, 1.5)
            assert all(c.eof for c in victims), "the killed worker's listeners saw the end"
            assert not any(c.eof for c in others), "other workers' listeners were untouched"

            # Each victim resumes on whatever worker takes it, from the page
            # after the last whole page it got.
            resumed = []
            for c in victims:
                last = audio_seqs(c.pages())[-1]
                r = Conn(srv.port, f"/live/w.opus?from={last + 1}")
                resumed.append((c, r, last))
            pump(others + [r for _, r, _ in resumed], 2.5)
            for c, r, last in resumed:
                got = audio_seqs(r.pages())
                assert got and got[0] == last + 1, f"resumed at {got[:1]}, wanted {last + 1}"
                assert_continuous(audio_seqs(c.pages()) + got, "victim across the resume")
            for c in others:
                assert not c.eof
                assert_continuous(audio_seqs(c.pages()), "untouched listener")

            srv.wait_metric("podium_worker_restarts_total", lambda v: v == 1, timeout=5)
            srv.wait_metric("podium_workers", lambda v: v == 3, timeout=5)
            wait_for(lambda: len(children(srv.proc.pid)) == 3, 5, "worker restarted")

            path = os.path.join(srv.tmp, "survivor.opus")
            with open(path, "wb") as f:
                f.write(others[0].body)
            decode_check(path)
            for c in conns + [r for _, r, _ in resumed]:
                c.s.close()
        finally:
            src.kill()
            src.wait()


LAG = "podium_flush_lag_seconds"


def flush_lag(srv):
    """The flush lag histogram: (count, sum in s, passes over 1 s), after
    checking it is one (cumulative buckets, +Inf equal to the count)."""
    m = srv.metrics()
    les = ["0.05", "0.1", "0.25", "0.5", "1", "2", "+Inf"]
    cum = [m[f'{LAG}_bucket{{le="{le}"}}'] for le in les]
    assert cum == sorted(cum), cum
    assert cum[-1] == m[f"{LAG}_count"], (cum, m[f"{LAG}_count"])
    return m[f"{LAG}_count"], m[f"{LAG}_sum"], cum[-1] - cum[les.index("1")]


def test_stopped_worker_shows_in_flush_lag():
    """A worker that does not get to run (SIGSTOP here, a starved machine in
    production) writes to its listeners late: the origin's /metrics shows
    those passes in the flush lag histogram, summed from the workers."""
    with Podium(config={"workers": 1, "flush_ms": 100}) as srv:
        src = ffmpeg_source(srv.port, "lag", page_ms=100)
        try:
            wait_mount(srv, "lag")
            wait_for(lambda: len(children(srv.proc.pid)) == 1, 5, "one worker")
            worker = children(srv.proc.pid)[0]
            c = Conn(srv.port, "/live/lag.opus")
            deadline = time.time() + 10
            while time.time() < deadline and len(audio_seqs(c.pages())) < 3:
                pump([c], 0.3)
            settle_stats()
            n0, sum0, late0 = flush_lag(srv)
            assert n0 >= 1, "the listener's flush passes are counted"
            os.kill(worker, signal.SIGSTOP)
            time.sleep(1.5)
            os.kill(worker, signal.SIGCONT)
            pump([c], 1.0)
            settle_stats()
            n1, sum1, late1 = flush_lag(srv)
            assert n1 > n0
            assert late1 - late0 >= 1, "the pass after the stop lagged over 1 s"
            assert sum1 - sum0 >= 1.3, (sum0, sum1)
            assert not c.eof
            assert_continuous(audio_seqs(c.pages()), "the listener across the stop")
            c.s.close()
        finally:
            src.kill()
            src.wait()


def test_workers_flush_out_of_step():
    """Two workers started together write to their listeners half a period
    apart, not at the same moment: each pass then has the CPU to itself."""
    with Podium(config={"workers": 2, "flush_ms": 1000}) as srv:
        src = ffmpeg_source(srv.port, "ph", page_ms=100)
        try:
            wait_mount(srv, "ph")
            wait_for(lambda: len(children(srv.proc.pid)) == 2, 5, "two workers")
            workers = children(srv.proc.pid)
            by = {}
            for _ in range(20):
                if len(by) == 2:
                    break
                c = Conn(srv.port, "/live/ph.opus")
                w = socket_owner(srv.port, c.s.getsockname()[1], workers)
                if w in by:
                    c.s.close()
                else:
                    by[w] = c
            assert len(by) == 2, "20 joins all landed on one worker"
            bursts = {}
            pump(list(by.values()), 4.5, bursts)
            assert not any(c.eof for c in by.values()), "a listener was closed"
            a, b = (bursts.get(c, []) for c in by.values())
            assert len(a) >= 3 and len(b) >= 3, (a, b)
            # How far each pass of one (the first may be the join's burst) is
            # from the nearest pass of the other: half a second when spread.
            d = statistics.median(min(abs(tb - ta) for ta in a) for tb in b[1:])
            assert 0.3 <= d <= 0.7, f"the workers flush {d * 1000:.0f} ms apart"
            for c in by.values():
                c.s.close()
        finally:
            src.kill()
            src.wait()


def main_thread_wakeups(pid):
    """Voluntary context switches of a process's main thread: how often its
    event loop slept and was woken."""
    with open(f"/proc/{pid}/task/{pid}/status") as f:
        for line in f:
            if line.startswith("voluntary_ctxt_switches:"):
                return int(line.split()[1])
    raise AssertionError(f"no voluntary_ctxt_switches for {pid}")


def test_origin_reads_a_relayed_source_in_batches():
    """The origin reads a source that feeds no stage every source_read_ms
    (250 ms), not on each of its ten pages a second, and relays what it read
    in one write per worker: it wakes about half as often. Every page still
    reaches every listener, in order."""
    with Podium(config={"workers": 2, "flush_ms": 1000, "burst_ms": 1000}) as srv:
        src = ffmpeg_source(srv.port, "rd", page_ms=100)
        try:
            wait_mount(srv, "rd")
            wait_for(lambda: len(children(srv.proc.pid)) == 2, 5, "two workers")
            conns = [Conn(srv.port, "/live/rd.opus") for _ in range(6)]
            pump(conns, 2.0)  # the stream holds burst_ms now: no longer young
            w0, t0 = main_thread_wakeups(srv.proc.pid), time.monotonic()
            pump(conns, 4.0)
            rate = (main_thread_wakeups(srv.proc.pid) - w0) / (time.monotonic() - t0)
            # Read on arrival it wakes for each page, plus the gate's tick and
            # the workers' reports: 13-14 a second. In batches: four reads, the
            # tick and the reports, about 7.
            assert rate < 10, f"the origin woke {rate:.1f} times a second"
            for c in conns:
                assert not c.eof, "a listener was closed"
                seqs = audio_seqs(c.pages())
                assert len(seqs) >= 50, f"{len(seqs)} pages in 6 s"
                assert_continuous(seqs, "listener")
                c.s.close()
        finally:
            src.kill()
            src.wait()


def test_bad_from_is_400():
    with Podium(config={"workers": 2}, demo=True) as srv:
        wait_mount(srv, "demo")
        status, _, body = srv.get("/live/demo.opus?from=12x")
        assert status == 400, status
        assert b"from" in body


def test_workers_never_outlive_the_origin():
    # SIGTERM: the origin stops its workers before it exits.
    srv = Podium(config={"workers": 2}).start()
    wait_for(lambda: len(children(srv.proc.pid)) == 2, 5, "two workers")
    pids = children(srv.proc.pid)
    # An operator finds them by name (top, ps -C podium, pgrep -x podium),
    # not as "exe", the name /proc/self/exe would give them.
    for p in pids:
        with open(f"/proc/{p}/comm") as f:
            assert f.read().strip() == "podium", p
    assert srv.stop() == 0
    for p in pids:
        assert not os.path.exists(f"/proc/{p}") or "Z" in open(f"/proc/{p}/stat").read().split()[2]
    srv.cleanup()

    # SIGKILL: the kernel tells each worker (parent-death signal).
    srv = Podium(config={"workers": 2}).start()
    wait_for(lambda: len(children(srv.proc.pid)) == 2, 5, "two workers")
    pids = children(srv.proc.pid)
    srv.proc.kill()
    srv.proc.wait()

    def gone():
        return all(not os.path.exists(f"/proc/{p}") for p in pids)
    wait_for(gone, 5, "workers exit after the origin is killed")
    srv.cleanup()


def test_single_process_mode():
    with Podium(config={"workers": 0}, demo=True) as srv:
        wait_mount(srv, "demo")
        assert children(srv.proc.pid) == []
        assert srv.metric("podium_workers") == 0
        status, _, _ = srv.get("/live/demo.opus", method="HEAD")
        assert status == 200


if __name__ == "__main__":
    raise SystemExit(run([test_kill_worker_listeners_resume, test_stopped_worker_shows_in_flush_lag,
                          test_workers_flush_out_of_step, test_origin_reads_a_relayed_source_in_batches,
                          test_bad_from_is_400,
                          test_workers_never_outlive_the_origin, test_single_process_mode]))
