"""A listener that never reads, and one that reads too slowly, do not slow
the others or the source; they are skipped ahead or dropped, and counted.
One that stops reading holds a bounded amount of the server's kernel memory."""
import socket
import sys
import threading
import time

from lib import Listener, Podium, ffmpeg_source, ogg_pages, run, tcp_row, wait_mount


def test_slow_listeners_do_not_slow_others():
    conf = {"ring_ms": 3000, "burst_ms": 500, "write_stall_ms": 4000, "slow_skips_max": 1,
            "listener_sndbuf_bytes": 4096, "flush_ms": 100}
    with Podium(config=conf) as srv:
        src = ffmpeg_source(srv.port, "s", page_ms=100)
        try:
            wait_mount(srv, "s")
            # never reads: its socket fills, then it makes no progress
            never = Listener(srv.port, "s", rcvbuf=2048, read=False)
            # reads ~400 bytes/s, a tenth of the stream's rate
            trickle = Listener(srv.port, "s", rcvbuf=2048, read=False)
            stop = threading.Event()

            def trickle_reader():
                while not stop.is_set():
                    try:
                        trickle.s.settimeout(0.5)
                        if not trickle.s.recv(100):
                            return
                    except socket.timeout:
                        pass
                    except OSError:
                        return
                    time.sleep(0.25)

            t = threading.Thread(target=trickle_reader, daemon=True)
            t.start()
            normal = [Listener(srv.port, "s") for _ in range(20)]
            arrivals = {id(l): [] for l in normal}
            t0 = time.time()
            while time.time() - t0 < 12:
                for l in normal:
                    l.s.setblocking(False)
                    try:
                        chunk = l.s.recv(65536)
                        if chunk:
                            l.body += chunk
                            arrivals[id(l)].append(time.time())
                    except BlockingIOError:
                        pass
                time.sleep(0.02)
            stop.set()
            elapsed = time.time() - t0
            for l in normal:
                pages = ogg_pages(l.body)
                assert all(p[4] for p in pages)
                audio = (pages[-1][1] - pages[2][1]) / 48000
                # real time minus the burst head start: no listener fell behind
                assert audio >= elapsed - 1.0, f"only {audio:.1f}s of audio in {elapsed:.1f}s"
                a = arrivals[id(l)]
                gap = max(b - x for x, b in zip(a, a[1:]))
                assert gap < 1.0, f"a normal listener waited {gap:.2f}s"
            m = srv.metrics()
            assert m["podium_slow_listener_drops_total"] >= 1, m
            assert m["podium_slow_listener_skips_total"] + m["podium_slow_listener_drops_total"] >= 2
            assert m["podium_listeners"] <= 21
            for l in normal + [never, trickle]:
                l.close()
        finally:
            src.kill()
            src.wait()


def server_queue_bytes(server_port, client_port):
    """Bytes the server's socket to <client_port> has written and not had
    acknowledged, sent or not (tx_queue in /proc/net/tcp); None if absent."""
    row = tcp_row(server_port, client_port)
    return None if row is None else int(row[4].split(":")[0], 16)


def test_a_stalled_listener_holds_bounded_kernel_memory():
    # With the low-water mark the server stops writing to a listener that
    # stopped reading once ~16 KiB wait unsent; without it, the socket's send
    # buffer (32 KiB, doubled by the kernel) fills with seconds of audio.
    lowat = 16384
    seen = {}
    for setting in (lowat, 0):
        conf = {"listener_unsent_bytes": setting, "write_stall_ms": 60000,
                "flush_ms": 100}
        with Podium(config=conf) as srv:
            src = ffmpeg_source(srv.port, "s", page_ms=100)
            try:
                wait_mount(srv, "s")
                stalled = [Listener(srv.port, "s", rcvbuf=2048, read=False) for _ in range(3)]
                # 2 s of burst, then 4 KB/s: ~45 KB offered to each in 9 s
                time.sleep(9)
                seen[setting] = [server_queue_bytes(srv.port, l.s.getsockname()[1])
                                 for l in stalled]
                for l in stalled:
                    l.close()
            finally:
                src.kill()
                src.wait()
    assert all(q is not None for q in seen[lowat] + seen[0]), seen
    assert max(seen[lowat]) <= lowat + 4096, seen
    assert min(seen[0]) > lowat + 8192, seen


if __name__ == "__main__":
    sys.exit(run([test_slow_listeners_do_not_slow_others,
                  test_a_stalled_listener_holds_bounded_kernel_memory]))
