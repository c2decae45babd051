"""The broadcast path with real clients: ffmpeg in, many listeners out, every
captured stream decodes; sources come and go without listeners noticing."""
import base64
import os
import socket
import subprocess
import sys
import tempfile
import time

from lib import (PASSWORD, Listener, Podium, decode_check, ffmpeg_capture, ffmpeg_source,
                 ogg_pages, read_response, run, track, wait_for, wait_mount)

TMP = tempfile.mkdtemp(prefix="podium-stream-")


def check_stream(body, expect_head=True):
    """Every page has a valid CRC, one serial, consecutive sequence numbers
    after the header pages, and a granule that never goes back."""
    pages = ogg_pages(body)
    assert len(pages) >= 3, f"only {len(pages)} pages"
    assert all(p[4] for p in pages), "CRC error"
    assert len({p[2] for p in pages}) == 1, "more than one logical stream"
    if expect_head:
        assert pages[0][5].startswith(b"OpusHead") and pages[0][0] & 2, "first page: OpusHead, BOS"
        assert pages[1][5].startswith(b"OpusTags"), "second page: OpusTags"
        assert (pages[0][3], pages[1][3]) == (0, 1)
    audio = pages[2:]
    for a, b in zip(audio, audio[1:]):
        assert b[3] == a[3] + 1, f"page sequence jumps {a[3]} -> {b[3]}"
        assert b[1] > a[1], "granule does not grow"
    return pages


def test_many_listeners_decode():
    """200 raw listeners and 4 ffmpeg players (two joining mid-stream) all get
    a valid, decodable stream."""
    with Podium() as srv:
        src = ffmpeg_source(srv.port, "talk")
        try:
            wait_mount(srv, "talk")
            early = [ffmpeg_capture(f"{srv.url}/live/talk.opus", 6, f"{TMP}/early{i}.ogg")
                     for i in range(2)]
            listeners = [Listener(srv.port, "talk") for _ in range(200)]
            assert all(l.status == 200 for l in listeners)
            assert listeners[0].headers["content-type"] == "audio/ogg"
            assert "no-cache" in listeners[0].headers.get("cache-control", "")
            time.sleep(2)
            late = [ffmpeg_capture(f"{srv.url}/live/talk.opus", 4, f"{TMP}/late{i}.ogg")
                    for i in range(2)]
            deadline = time.time() + 6
            for l in listeners:
                l.pump(max(0.01, deadline - time.time()) / 20)
            for l in listeners:
                l.pump(0.02)
            srv.wait_metric("podium_listeners", lambda v: v >= 200, timeout=5)
            for l in listeners:
                check_stream(l.body)
                l.close()
            for p in early + late:
                assert p.wait(timeout=30) == 0, p.stderr.read().decode()
            for name in ["early0", "early1", "late0", "late1"]:
                ok, dur, err = decode_check(f"{TMP}/{name}.ogg")
                assert ok, f"{name}: {err}"
                assert dur >= 3.5, f"{name}: only {dur}s"
        finally:
            src.kill()
            src.wait()


def test_burst_then_live():
    """A new listener gets the head pages and about a second of audio at once,
    starting on a page boundary, then live pages."""
    with Podium(config={"burst_ms": 1000}) as srv:
        src = ffmpeg_source(srv.port, "b")
        try:
            wait_mount(srv, "b")
            time.sleep(2.5)
            l = Listener(srv.port, "b")
            l.pump(0.3)
            pages = check_stream(l.body)
            burst = pages[2:]
            dur = (burst[-1][1] - burst[0][1]) / 48000 + 0.1
            assert 0.8 <= dur <= 1.6, f"burst of {dur:.2f}s"
            l.pump(1.5)
            after = check_stream(l.body)
            assert len(after) > len(pages), "live pages follow the burst"
            l.close()
        finally:
            src.kill()
            src.wait()


def arrivals(l, seconds):
    """Reads <l> for <seconds>; the monotonic times data came in."""
    times = []
    assert l.pump(seconds, times) is not None, "closed"
    return times


def test_young_stream_feeds_its_first_listeners_often():
    """A listener who joins a stream that just went live gets what little
    audio there is, then pages every quarter second until the stream is
    burst_ms old, instead of waiting a whole flush_ms with a player about to
    run dry; then the regular cadence takes over."""
    # A 3 s burst: the stream stays young for 3 s, room for a slow start.
    with Podium(config={"workers": 0, "flush_ms": 1000, "burst_ms": 3000}) as srv:
        src = ffmpeg_source(srv.port, "young", page_ms=100)
        try:
            wait_for(lambda: srv.get("/live/young.opus", method="HEAD")[0] == 200, 10,
                     "mount young")
            l = Listener(srv.port, "young")
            t0 = time.monotonic()
            early = arrivals(l, 1.2)
            # The longest wait for data in the first 1.2 s, its end included.
            marks = [t0] + early + [t0 + 1.2]
            gap = max(b - a for a, b in zip(marks, marks[1:]))
            assert gap <= 0.5, f"a young stream's listener waited {gap:.2f} s for pages"
            arrivals(l, 2.8)  # the stream is over burst_ms old now
            late = arrivals(l, 3.0)
            bursts = 1 + sum(1 for a, b in zip(late, late[1:]) if b - a > 0.15)
            assert bursts <= 4, f"{bursts} writes in 3 s: the extra passes did not stop"
            pages = check_stream(l.body)
            assert pages[-1][1] >= 4 * 48000, "the listener kept getting audio"
            l.close()
        finally:
            src.kill()
            src.wait()


def test_head_request():
    with Podium() as srv:
        src = ffmpeg_source(srv.port, "h")
        try:
            wait_mount(srv, "h")
            status, h, body = srv.get("/live/h.opus", method="HEAD")
            assert status == 200 and h["content-type"] == "audio/ogg" and body == b""
        finally:
            src.kill()
            src.wait()


def chunked_put(port, mount, seconds, chunked=True):
    """Encodes a tone with ffmpeg to stdout and PUTs it, with chunked encoding
    or as a body that ends when the connection does."""
    enc = track(subprocess.Popen(
        ["ffmpeg", "-nostdin", "-v", "error", "-re", "-f", "lavfi", "-i",
         "sine=f=550:sample_rate=48000", "-t", str(seconds), "-ac", "1", "-c:a", "libopus",
         "-b:a", "32k", "-page_duration", "100000", "-f", "ogg", "-"],
        stdout=subprocess.PIPE))
    auth = base64.b64encode(f"source:{PASSWORD}".encode()).decode()
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # the body's end goes out at once
    s.sendall((f"PUT /live/{mount}.opus HTTP/1.1\r\nHost: x\r\nAuthorization: Basic {auth}\r\n"
               "Content-Type: audio/ogg\r\n" +
               ("Transfer-Encoding: chunked\r\n" if chunked else "") +
               "Expect: 100-continue\r\n\r\n").encode())
    status, _, _ = read_response(s, 5, body_bytes=0)
    assert status == 100, status
    return enc, s


def feed(enc, s, seconds, chunked):
    """Copies the encoder's output (real time) to the source socket."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        data = os.read(enc.stdout.fileno(), 4096)
        if not data:
            break
        s.sendall(b"%x\r\n" % len(data) + data + b"\r\n" if chunked else data)


def test_chunked_put_source():
    with Podium() as srv:
        enc, s = chunked_put(srv.port, "chunked", 5)
        try:
            got_200 = False
            cap = None
            while True:
                data = os.read(enc.stdout.fileno(), 4096)
                if not data:
                    break
                s.sendall(b"%x\r\n" % len(data) + data + b"\r\n")
                if not got_200:
                    s.settimeout(0.01)
                    try:
                        if b"200" in s.recv(100):
                            got_200 = True
                            cap = ffmpeg_capture(f"{srv.url}/live/chunked.opus", 3,
                                                 f"{TMP}/chunked.ogg")
                    except socket.timeout:
                        pass
            s.sendall(b"0\r\n\r\n")
            assert got_200, "the source got its 200 once the head was valid"
            assert cap.wait(timeout=20) == 0
            ok, dur, err = decode_check(f"{TMP}/chunked.ogg")
            assert ok and dur >= 2, (ok, dur, err)
        finally:
            s.close()
            enc.kill()
            enc.wait()


def test_source_reconnect_keeps_listeners():
    """The source drops and another takes over: listeners stay connected and
    see one continuous logical stream."""
    with Podium(config={"mount_grace_ms": 20000}) as srv:
        src = ffmpeg_source(srv.port, "re", freq=440)
        wait_mount(srv, "re")
        l = Listener(srv.port, "re")
        l.pump(1.5)
        src.kill()
        src.wait()
        l.pump(1.0)
        assert srv.metric("podium_sources_connected") == 0
        src2 = ffmpeg_source(srv.port, "re", freq=880, legacy=True)
        try:
            wait_for(lambda: srv.metric("podium_sources_connected") == 1, 10, "second source")
            got = l.pump(3.0)
            assert got and got > 1000, f"listener got {got} bytes after the takeover"
            pages = check_stream(l.body)
            assert srv.metric("podium_listeners") == 1
            path = f"{TMP}/reconnect.ogg"
            with open(path, "wb") as f:
                f.write(l.body)
            ok, dur, err = decode_check(path)
            assert ok, err
            l.close()
        finally:
            src2.kill()
            src2.wait()


def test_source_timeout_and_takeover():
    """A source that stops sending (but keeps its connection) is closed after
    source_timeout_ms; a new source may then take the mount."""
    # ffmpeg writes 1 s pages by default; 100 ms pages keep the timeout short.
    with Podium(config={"source_timeout_ms": 1500, "mount_grace_ms": 20000}) as srv:
        src = ffmpeg_source(srv.port, "to", page_ms=100)
        wait_mount(srv, "to")
        l = Listener(srv.port, "to")
        assert l.pump(1.0)
        src.send_signal(19)  # SIGSTOP: connected, silent
        try:
            wait_for(lambda: srv.metric("podium_source_timeouts_total") == 1, 5, "timeout")
            src2 = ffmpeg_source(srv.port, "to", freq=300, page_ms=100)
            wait_for(lambda: srv.metric("podium_sources_connected") == 1, 10, "takeover")
            assert l.pump(2.0)
            assert srv.metric("podium_listeners") == 1
            src2.kill()
            src2.wait()
        finally:
            src.send_signal(18)
            src.kill()
            src.wait()
            l.close()


def test_source_read_when_needed():
    """In one process a source that feeds no stage is read before each flush
    pass, not on each page. Unread is not silent: a source_timeout_ms shorter
    than the cadence does not close a source that is sending."""
    cfg = {"workers": 0, "flush_ms": 3000, "burst_ms": 1000, "source_timeout_ms": 600,
           "mount_grace_ms": 20000}
    with Podium(config=cfg) as srv:
        src = ffmpeg_source(srv.port, "rn", page_ms=100)
        try:
            wait_mount(srv, "rn")
            l = Listener(srv.port, "rn")
            assert l.pump(7.0), "the listener got nothing"
            assert srv.metric("podium_source_timeouts_total") == 0, "a live source timed out"
            assert srv.metric("podium_sources_connected") == 1
            pages = check_stream(l.body)
            assert pages[-1][1] - pages[2][1] >= 5 * 48000, "under 5 s of audio in 7 s"
            l.close()
        finally:
            src.kill()
            src.wait()


def test_a_lazy_source_leaving_is_seen_at_once():
    """A source read only when needed (here at joins and 10 s flush passes)
    is still seen leaving at once: its closing wakes the server (EPOLLRDHUP),
    and a new source for its mount first reads the old one, so one that ended
    its chunked body a moment ago does not leave the mount busy (409)."""
    cfg = {"workers": 0, "flush_ms": 10000, "burst_ms": 1000, "mount_grace_ms": 20000}
    with Podium(config=cfg) as srv:
        for chunked in (False, True):
            enc, s = chunked_put(srv.port, "lz", 30, chunked)
            try:
                feed(enc, s, 2.0, chunked)
                # A join reads the source first: past burst_ms, it turns lazy.
                l = Listener(srv.port, "lz")
                assert l.status == 200, l.status
                feed(enc, s, 0.5, chunked)
                if chunked:
                    s.sendall(b"0\r\n\r\n")  # the body ends; the connection stays
                    enc2, s2 = chunked_put(srv.port, "lz", 5)  # 100, not 409
                    s2.close()
                    enc2.kill()
                    enc2.wait()
                else:
                    s.shutdown(socket.SHUT_WR)
                    t0 = time.monotonic()
                    wait_for(lambda: srv.metric("podium_sources_connected") == 0, 5,
                             "the source left")
                    took = time.monotonic() - t0
                    assert took < 1.0, f"the source's leaving was seen after {took:.1f} s"
                l.close()
            finally:
                s.close()
                enc.kill()
                enc.wait()


def test_a_join_that_reads_the_source_keeps_its_request():
    """In one process a join reads a lazy source first, for the newest
    pages. That read must not land where the join's own request is being
    parsed: a resume at ?from=N still starts at page N."""
    # A 10 s cadence: no flush pass reads the source during the test.
    with Podium(config={"workers": 0, "flush_ms": 10000, "burst_ms": 1000}) as srv:
        src = ffmpeg_source(srv.port, "fq", page_ms=100)
        try:
            wait_mount(srv, "fq")
            time.sleep(1.5)  # past burst_ms: a join makes the source lazy
            l = Listener(srv.port, "fq")
            l.pump(0.3)
            time.sleep(0.5)  # pages wait unread in the source's socket
            want = [p[3] for p in ogg_pages(l.body)][-1] - 3
            s = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
            s.sendall(f"GET /live/fq.opus?from={want} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            status, _, body = read_response(s, 3, body_bytes=2000)
            s.close()
            assert status == 200, status
            audio = [p[3] for p in ogg_pages(body) if p[3] >= 2]
            assert audio and audio[0] == want, f"resumed at {audio[:1]}, wanted {want}"
            l.close()
        finally:
            src.kill()
            src.wait()


def test_grace_period_then_clean_close():
    with Podium(config={"mount_grace_ms": 1500}) as srv:
        src = ffmpeg_source(srv.port, "g")
        wait_mount(srv, "g")
        l = Listener(srv.port, "g")
        l.pump(0.5)
        src.kill()
        src.wait()
        t0 = time.time()
        # connected during the grace period, then closed with a FIN
        l.s.settimeout(10)
        ended = None
        while time.time() - t0 < 8:
            try:
                c = l.s.recv(65536)
            except ConnectionResetError:
                ended = "reset"
                break
            if not c:
                ended = "fin"
                break
        took = time.time() - t0
        assert ended == "fin", ended
        assert 1.2 <= took <= 4, f"closed after {took:.1f}s"
        srv.wait_metric("podium_grace_closes_total", lambda v: v == 1, timeout=5)
        status, _, _ = srv.get("/live/g.opus")
        assert status == 404


def test_demo_and_pages():
    with Podium(demo=True) as srv:
        wait_mount(srv, "demo")
        status, h, body = srv.get("/")
        assert status == 200 and b"/live/demo.opus" in body
        assert srv.get("/healthz")[0] == 200
        cap = ffmpeg_capture(f"{srv.url}/live/demo.opus", 2, f"{TMP}/demo.ogg")
        assert cap.wait(timeout=20) == 0
        ok, dur, err = decode_check(f"{TMP}/demo.ogg")
        assert ok and dur >= 1.5, (ok, dur, err)
        m = srv.metrics()
        assert m["podium_sources_connected"] == 1
        assert 'podium_mount_listeners{mount="/live/demo.opus"}' in m


if __name__ == "__main__":
    sys.exit(run([test_many_listeners_decode, test_burst_then_live,
                  test_young_stream_feeds_its_first_listeners_often, test_head_request,
                  test_chunked_put_source, test_source_reconnect_keeps_listeners,
                  test_source_timeout_and_takeover, test_source_read_when_needed,
                  test_a_lazy_source_leaving_is_seen_at_once,
                  test_a_join_that_reads_the_source_keeps_its_request,
                  test_grace_period_then_clean_close,
                  test_demo_and_pages]))
