"""Stage: spaces API, speakers over WebSocket mixed once with libopus, the
mix-minus back to each speaker, an ffmpeg PUT and an ffmpeg RTP source in the
same mix, loss and reordering, reconnects within the grace period, and a
crash-safe recording."""
import os
import signal
import socket
import subprocess
import tempfile
import time

from lib import Podium, Listener, ogg_pages, run, track, wait_for
from stagelib import (Stage, api, create_space, decode_pcm, has_tone, invite, opus_tone, play,
                      write_ogg_opus)

TMP = tempfile.mkdtemp(prefix="podium-stage-")
TONE = {}


def tone(freq):
    if freq not in TONE:
        TONE[freq] = opus_tone(freq, 6, TMP)
    return TONE[freq]


def capture(listener, path):
    with open(path, "wb") as f:
        f.write(listener.body)
    return path


def audio_pages(body):
    return [p for p in ogg_pages(body) if p[3] >= 2]


def test_api_errors():
    with Podium() as srv:
        assert api(srv, "POST", "/api/spaces", {"description": "no title"})[0] == 400
        st, doc = api(srv, "POST", "/api/spaces", {"title": "x", "nope": 1})
        assert st == 400 and doc["error"] == "bad_json" and "nope" in doc["reason"], doc
        st, doc = api(srv, "POST", "/api/spaces", {"title": "x", "access": "vip"})
        assert st == 400 and doc["reason"], doc
        assert api(srv, "GET", "/api/spaces/AAAAAAAAAAAA")[0] == 404
        assert api(srv, "GET", "/api/nothing")[0] == 404
        sid, key = create_space(srv)
        st, doc = api(srv, "POST", f"/api/spaces/{sid}/end", {}, key="wrong")
        assert st == 401 and doc["error"] == "unauthorized", doc
        st, doc = api(srv, "GET", f"/api/spaces/{sid}")
        assert st == 200 and doc["state"] == "scheduled" and doc["stream"]["ogg"].endswith(".opus")
        st, doc = api(srv, "GET", "/api/spaces?limit=1")
        assert st == 200 and len(doc["spaces"]) == 1 and doc["next"], doc
        assert api(srv, "GET", "/api/spaces?limit=0")[0] == 400
        # A stage join without credentials, with a bad token, to a missing space
        st = Stage(srv.port, sid, "")
        assert st.status == 401, st.status
        st = Stage(srv.port, sid, "x" * 43)
        assert st.status == 403, st.status
        # an oversized body is refused before it is read
        status, _, _ = __import__("lib").http_request(
            srv.port, "/api/spaces", "POST", {"Content-Length": "999999"}, b"")
        assert status == 413, status
        st, doc = api(srv, "POST", f"/api/spaces/{sid}/end", {}, key=key)
        assert st == 200 and doc["state"] == "ended", doc
        st = Stage(srv.port, sid, key)
        assert st.status == 410, st.status


def test_api_body_in_pieces_through_a_worker():
    """A long header and a body that arrives in two pieces: the worker hands
    over more than a header's worth of bytes, the origin waits for the rest."""
    import json as _json
    with Podium(config={"workers": 2}) as srv:
        body = _json.dumps({"title": "Pieces", "description": "d" * 1900}).encode()
        head = (f"POST /api/spaces HTTP/1.1\r\nHost: x\r\nX-Filler: {'f' * 7600}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode()
        s = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
        s.sendall(head + body[:1000])
        time.sleep(0.3)
        s.sendall(body[1000:])
        status, _, answer = __import__("lib").read_response(s, 5)
        s.close()
        assert status == 201, (status, answer[:200])
        doc = _json.loads(answer)
        assert doc["space"]["description"] == "d" * 1900


def test_two_speakers_mix_and_mix_minus():
    with Podium(config={"workers": 2}) as srv:
        sid, key = create_space(srv, "Two tones")
        _, token = invite(srv, sid, key, "guest")
        host = Stage(srv.port, sid, key)
        guest = Stage(srv.port, sid, token)
        assert host.status == 101 and guest.status == 101
        play([(host, tone(440)), (guest, tone(660))], 0.6)
        lis = Listener(srv.port, sid)
        assert lis.status == 200
        play([(host, tone(440)), (guest, tone(660))], 4.0, every=lambda: lis.pump(0.0))
        lis.pump(1.0)
        for st in (host, guest):
            st.pump()
        mix = decode_pcm(capture(lis, os.path.join(TMP, "mix.opus")))
        assert len(mix) > 8000 * 3, len(mix)
        for f in (440, 660):
            ok, why = has_tone(mix[8000:], f)
            assert ok, (f, why)
        # Each speaker hears the other, not itself.
        for st, own, other, name in ((host, 440, 660, "host"), (guest, 660, 440, "guest")):
            assert len(st.audio) > 100, (name, len(st.audio))
            path = os.path.join(TMP, f"ret-{name}.opus")
            write_ogg_opus(path, st.audio[-150:])
            pcm = decode_pcm(path)[4000:]
            ok, why = has_tone(pcm, other)
            assert ok, (name, "hears", other, why)
            ok, why = has_tone(pcm, own)
            assert not ok, (name, "hears itself", own, why)
        types = [e["type"] for e in host.events]
        assert "hello" in types and "joined" in types, types
        st, doc = api(srv, "GET", f"/api/spaces/{sid}")
        assert doc["state"] == "live" and {s["speaker"] for s in doc["stage"]} >= {"host"}, doc
        assert srv.metric("podium_mix_ticks_total") > 100
        host.close()
        guest.close()


def test_spaces_on_two_mix_threads():
    """Two spaces on a server with two mix threads: the second space goes to
    the thread the first left empty, and each audience hears its own host
    and not the other's."""
    with Podium(config={"workers": 0}, args=["--set", "mix_threads=2"]) as srv:
        assert srv.metric("podium_mix_threads") == 2
        spaces = [create_space(srv, f"Thread {i}") for i in range(2)]
        hosts = [Stage(srv.port, sid, key) for sid, key in spaces]
        assert all(h.status == 101 for h in hosts)
        freqs = (440, 660)
        play(list(zip(hosts, (tone(f) for f in freqs))), 0.6)
        lis = [Listener(srv.port, sid) for sid, _ in spaces]
        assert all(x.status == 200 for x in lis)

        def pump():
            for x in lis:
                x.pump(0.0)
        play(list(zip(hosts, (tone(f) for f in freqs))), 4.0, every=pump)
        for x in lis:
            x.pump(0.5)
        for i, (x, own, other) in enumerate(zip(lis, freqs, reversed(freqs))):
            pcm = decode_pcm(capture(x, os.path.join(TMP, f"thread{i}.opus")))
            assert len(pcm) > 8000 * 3, (i, len(pcm))
            ok, why = has_tone(pcm[8000:], own)
            assert ok, (i, own, why)
            ok, why = has_tone(pcm[8000:], other)
            assert not ok, (i, "hears the other space", other, why)
        assert srv.metric("podium_mix_input_drops_total") == 0
        for h in hosts:
            h.close()


def test_loss_and_reordering_leave_no_gap():
    with Podium() as srv:
        sid, key = create_space(srv, "Lossy")
        host = Stage(srv.port, sid, key)
        lis = Listener(srv.port, sid)

        def mangle(i):
            if i % 10 == 3:
                return []            # 10 % lost
            if i % 10 == 5:
                return []            # held back ...
            if i % 10 == 6:
                return [i, i - 1]    # ... and sent after the next one
            return [i]
        play([(host, tone(440))], 5.0, every=lambda: lis.pump(0.0), mangle=mangle)
        lis.pump(1.0)
        pages = audio_pages(lis.body)
        seqs = [p[3] for p in pages]
        assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), "program pages continuous"
        pcm = decode_pcm(capture(lis, os.path.join(TMP, "lossy.opus")))
        body = pcm[8000:-12000]  # past the start and the silence after the speaker stops
        win = 800  # 100 ms windows at 8 kHz
        quiet = [i for i in range(0, len(body) - win, win)
                 if max(abs(x) for x in body[i:i + win]) < 1000]
        assert not quiet, f"silent 100 ms windows at {quiet[:5]}"
        ok, why = has_tone(body, 440)
        assert ok, why
        host.close()


def test_put_and_rtp_sources_mixed():
    with Podium(config={"workers": 2}) as srv:
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        udp.bind(("127.0.0.1", 0))
        rtp_local = udp.getsockname()[1]
        udp.close()
        sid, key = create_space(srv, "Music bed and RTP", rtp_source="127.0.0.1",
                                rtp_port=rtp_local)
        st, doc = api(srv, "GET", f"/api/spaces/{sid}")
        rtp_port = doc["rtp"]["port"]
        assert rtp_port > 0, doc
        put = track(subprocess.Popen(
            ["ffmpeg", "-nostdin", "-v", "error", "-re", "-f", "lavfi", "-i",
             "sine=f=440:sample_rate=48000", "-t", "12", "-ac", "1", "-c:a", "libopus", "-b:a",
             "32k", "-frame_duration", "20", "-page_duration", "100000", "-f", "ogg",
             "-content_type", "audio/ogg",
             f"icecast://source:{key}@127.0.0.1:{srv.port}/live/{sid}.opus"],
            stderr=subprocess.PIPE))
        rtp = track(subprocess.Popen(
            ["ffmpeg", "-nostdin", "-v", "error", "-re", "-f", "lavfi", "-i",
             "sine=f=660:sample_rate=48000", "-t", "12", "-ac", "1", "-c:a", "libopus", "-b:a",
             "32k", "-frame_duration", "20", "-f", "rtp",
             f"rtp://127.0.0.1:{rtp_port}?localport={rtp_local}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE))
        try:
            wait_for(lambda: srv.metric("podium_rtp_packets_total") > 20, 10, "RTP arriving")
            time.sleep(1.0)
            lis = Listener(srv.port, sid)
            lis.pump(4.0)
            pcm = decode_pcm(capture(lis, os.path.join(TMP, "two-sources.opus")))
            for f in (440, 660):
                ok, why = has_tone(pcm[8000:], f)
                assert ok, (f, why)
            assert srv.metric("podium_rtp_unexpected_total") == 0
            # RTP from anywhere else is dropped and counted.
            u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            for i in range(5):
                u.sendto(bytes([0x80, 111, 0, i]) + bytes(8) + b"\xfc\xff\xfe", ("127.0.0.1", rtp_port))
            u.sendto(b"not rtp", ("127.0.0.1", rtp_port))
            u.close()
            srv.wait_metric("podium_rtp_unexpected_total", lambda v: v == 5, timeout=5)
            srv.wait_metric("podium_rtp_bad_total", lambda v: v == 1, timeout=5)
        finally:
            for p in (put, rtp):
                p.kill()
                p.wait()


def test_reconnect_within_grace_keeps_space_and_listeners():
    with Podium(config={"workers": 2}) as srv:
        sid, key = create_space(srv, "Flaky host")
        _, token = invite(srv, sid, key, "guest")
        host = Stage(srv.port, sid, key)
        guest = Stage(srv.port, sid, token)
        lis = Listener(srv.port, sid)
        play([(host, tone(440)), (guest, tone(660))], 1.5, every=lambda: lis.pump(0.0))
        host.s.close()     # both drop without a goodbye
        guest.s.close()
        lis.pump(2.0)      # silence, but the stream goes on
        host = Stage(srv.port, sid, key)
        guest = Stage(srv.port, sid, token)
        assert host.status == 101 and guest.status == 101
        play([(host, tone(440)), (guest, tone(660))], 2.0, every=lambda: lis.pump(0.0))
        lis.pump(1.0)
        assert lis.pump(0.5) is not None, "the listener was never disconnected"
        seqs = [p[3] for p in audio_pages(lis.body)]
        assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
        st, doc = api(srv, "GET", f"/api/spaces/{sid}")
        assert doc["state"] == "live", doc
        names = sorted(s["speaker"] for s in doc["stage"])
        assert names.count("host") == 1 and len(names) == 2, names  # same slots
        host.close()
        guest.close()


def test_bad_stage_input_and_full_stage():
    with Podium(config={"stage_grace_ms": 1000}) as srv:
        sid, key = create_space(srv, "Hostile")
        host = Stage(srv.port, sid, key)
        lis = Listener(srv.port, sid)
        play([(host, tone(440))], 0.5, every=lambda: lis.pump(0.0))
        # not an audio message: closed with 1003, counted
        _, tok = invite(srv, sid, key, "bad1")
        bad = Stage(srv.port, sid, tok)
        bad.send_frame(2, b"\x07garbage")
        wait_for(lambda: bad.pump() or bad.closed, 5, "close")
        assert bad.closed and bad.closed[1] == 1003, bad.closed
        # an unmasked frame is a protocol error: 1002
        _, tok = invite(srv, sid, key, "bad2")
        bad = Stage(srv.port, sid, tok)
        bad.s.setblocking(True)
        bad.s.sendall(bytes([0x82, 3, 1, 2, 3]))
        bad.s.setblocking(False)
        wait_for(lambda: bad.pump() or bad.closed, 5, "close")
        assert bad.closed and bad.closed[1] == 1002, bad.closed
        # a frame over the limit: 1009
        _, tok = invite(srv, sid, key, "bad3")
        bad = Stage(srv.port, sid, tok)
        bad.send_frame(2, b"\x01" + bytes(6) + bytes(5000))
        wait_for(lambda: bad.pump() or bad.closed, 5, "close")
        assert bad.closed and bad.closed[1] == 1009, bad.closed
        # non-Opus bytes inside an audio message: counted by the mixer, no harm
        _, tok = invite(srv, sid, key, "noise")
        noise = Stage(srv.port, sid, tok)
        for i in range(20):
            noise.send_audio(i, i * 960, bytes([0xff]) * 40)
        assert srv.metric("podium_stage_bad_messages_total") >= 3
        # the stage holds 16: the rest get 503 with a reason
        peers = []
        for i in range(20):
            _, tok = invite(srv, sid, key, f"p{i}")
            st = Stage(srv.port, sid, tok)
            peers.append(st)
        codes = [p.status for p in peers]
        assert 503 in codes and codes.count(101) >= 10, codes
        # hands: raised by a listener, seen by the host, lowered
        st, doc = api(srv, "POST", f"/api/spaces/{sid}/hands", {"name": "Ann"})
        assert st == 202 and doc["name"] == "Ann", doc
        st, doc = api(srv, "GET", f"/api/spaces/{sid}/hands", key=key)
        assert st == 200 and [h["name"] for h in doc["hands"]] == ["Ann"], doc
        hand = doc["hands"][0]["hand"]
        assert api(srv, "GET", f"/api/spaces/{sid}/hands")[0] == 401
        st, doc = api(srv, "GET", f"/api/spaces/{sid}/hands?lower={hand}", key=key)
        assert doc["hands"] == [], doc
        host.pump()
        assert any(e.get("type") == "hand" for e in host.events), host.events
        # through all of it the audience heard the host without a gap
        lis.pump(1.0)
        seqs = [p[3] for p in audio_pages(lis.body)]
        assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
        for p in peers:
            p.s.close()
        noise.s.close()
        # the host goes away: past stage_grace_ms the space ends, listeners get a FIN
        host.s.close()
        wait_for(lambda: api(srv, "GET", f"/api/spaces/{sid}")[1]["state"] == "ended", 10,
                 "space ended after the host's grace")
        lis.s.settimeout(5)
        ended = lis.pump(4.0)
        assert ended is None or lis.pump(1.0) is None, "listener closed after the end"


def test_a_flooding_speaker_is_cut_to_rate():
    # A speaker sending 30 times real time has all but about twice its rate
    # dropped before the space's queue; the host beside it is heard without
    # a gap; a speaker flooding commands is closed with 1008.
    with Podium() as srv:
        sid, key = create_space(srv, "Flood")
        host = Stage(srv.port, sid, key)
        _, tok = invite(srv, sid, key, "flood")
        flood = Stage(srv.port, sid, tok)
        lis = Listener(srv.port, sid)
        noise = tone(660)
        sent = [0]

        def every():
            lis.pump(0.0)
            for _ in range(30):
                n = sent[0]
                flood.send_audio(n, n * 960, noise[n % len(noise)])
                sent[0] += 1
            flood.pump()

        play([(host, tone(440))], 4.0, every=every)
        lis.pump(1.0)
        drops = srv.metric("podium_stage_audio_drops_total")
        # 4 s at 100 packets/s plus a burst of 100 may pass: ~500 of ~6,000
        assert drops >= sent[0] - 700, (drops, sent[0])
        assert not flood.closed, flood.closed
        assert srv.metric("podium_mix_input_drops_total") == 0
        seqs = [p[3] for p in audio_pages(lis.body)]
        assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
        mix = decode_pcm(capture(lis, os.path.join(TMP, "flood.opus")))
        ok, why = has_tone(mix[8000:], 440)
        assert ok, why
        for i in range(60):
            flood.send_json({"type": "mute", "speaker": "nobody", "muted": True})
        wait_for(lambda: flood.pump() or flood.closed, 5, "close")
        assert flood.closed and flood.closed[1] == 1008, flood.closed
        host.close()


def test_kill9_recording_survives_and_is_served():
    srv = Podium(config={"workers": 0})
    srv.start()
    try:
        sid, key = create_space(srv, "Crash")
        host = Stage(srv.port, sid, key)
        play([(host, tone(440))], 4.0)
        t_kill = time.time()
        srv.proc.send_signal(signal.SIGKILL)
        srv.proc.wait()
        host.s.close()
        # Restart on the same data folder.
        srv.proc = None
        srv.start()
        st, doc = api(srv, "GET", f"/api/spaces/{sid}")
        assert st == 200 and doc["state"] == "ended", doc
        status, h, body = __import__("lib").http_request(
            srv.port, f"/api/spaces/{sid}/recording", timeout=10)
        assert status == 200 and h["content-type"] == "audio/ogg", (status, h)
        path = os.path.join(TMP, "crash.opus")
        with open(path, "wb") as f:
            f.write(body)
        pcm = decode_pcm(path)
        secs = len(pcm) / 8000
        assert secs >= 4.0 - 1.0 - 0.3, f"recording holds {secs:.2f}s of ~4 s sent"
        ok, why = has_tone(pcm, 440)
        assert ok, why
        status, h, part = __import__("lib").http_request(
            srv.port, f"/api/spaces/{sid}/recording", headers={"Range": "bytes=0-99"})
        assert status == 206 and len(part) == 100 and part == body[:100], (status, h)
        assert h["content-range"] == f"bytes 0-99/{len(body)}", h
        status, _, _ = __import__("lib").http_request(
            srv.port, f"/api/spaces/{sid}/recording", headers={"Range": f"bytes={len(body) + 5}-"})
        assert status == 416
        del t_kill
    finally:
        srv.cleanup()


if __name__ == "__main__":
    raise SystemExit(run([test_api_errors, test_api_body_in_pieces_through_a_worker,
                          test_two_speakers_mix_and_mix_minus, test_spaces_on_two_mix_threads,
                          test_loss_and_reordering_leave_no_gap, test_put_and_rtp_sources_mixed,
                          test_reconnect_within_grace_keeps_space_and_listeners,
                          test_bad_stage_input_and_full_stage,
                          test_a_flooding_speaker_is_cut_to_rate,
                          test_kill9_recording_survives_and_is_served]))
