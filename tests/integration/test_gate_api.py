"""The gate, request by request, on the real binary: ticket checks on a
ticketed space's stream (401/403 before any listener state), the join
answers (200, 202, 429, 503 with their reasons), puzzles, the pre-queue and
its shuffle at the scheduled start, PROXY protocol and X-Forwarded-For from
trusted and untrusted peers, the overload ladder and the per-space bulkhead.
Client prefixes are made by binding 127.0.x.y source addresses: each /24 of
127/8 is a different network to the server."""
import time

from gatelib import (KIND_ADMISSION, KIND_PREQUEUE, KIND_QUEUE, join, proxy_v1, proxy_v2,
                     raw_from, request, solve, solves, stream_head, ticket_fields)
from lib import Podium, ffmpeg_source, read_response, run, settle_stats, wait_for
from stagelib import api, create_space

BASE = {"gate_exempt": "127.0.0.1"}  # the test's own requests are never limited


def live_space(srv, **kw):
    """A space fed by ffmpeg, live once its mount answers something but 404."""
    sid, key = create_space(srv, **kw)
    src = ffmpeg_source(srv.port, sid)
    wait_for(lambda: stream_head(srv, f"/live/{sid}.opus")[0] != 404, 15, f"space {sid} live")
    return sid, src


def reason_of(body):
    return body.decode(errors="replace") if isinstance(body, bytes) else str(body)


def test_stream_tickets():
    cfg = dict(BASE, workers=2)
    with Podium(config=cfg) as srv:
        sid, s1 = live_space(srv, access="ticketed")
        sid2, s2 = live_space(srv, access="ticketed")
        oid, s3 = live_space(srv, access="open")
        try:
            st, _, doc = join(srv, sid)
            assert st == 200, (st, doc)
            t = doc["ticket"]
            assert doc["stream"]["ogg"] == f"/live/{sid}.opus?ticket={t}"
            assert 3000 <= doc["expires_in"] <= 3600
            assert ticket_fields(t)[0] == KIND_ADMISSION
            settle_stats()
            joins0 = srv.metric("podium_listener_joins_total")

            bad_mac = t[:40] + ("A" if t[40] != "A" else "B") + t[41:]
            refused = [
                (f"/live/{sid}.opus", None, {}, 401, "ticket_missing"),
                (f"/live/{sid}.opus?ticket=", None, {}, 401, "ticket_missing"),
                (f"/live/{sid}.opus?ticket=" + "A" * 64, None, {}, 403, "ticket_malformed"),
                (f"/live/{sid}.opus?ticket=" + t[:-1], None, {}, 403, "ticket_malformed"),
                (f"/live/{sid}.opus?ticket={bad_mac}", None, {}, 403, "ticket_forged"),
                (f"/live/{sid2}.opus?ticket={t}", None, {}, 403, "ticket_misused"),
                (f"/live/{sid}.opus?ticket={t}", "127.0.1.1", {}, 403, "ticket_wrong_prefix"),
                (f"/live/{sid}.opus", None, {"Authorization": "Bearer " + bad_mac}, 403,
                 "ticket_forged"),
            ]
            for path, src, hdrs, want, why in refused:
                for method in ("HEAD", "GET"):
                    st, _, body = raw_from(srv.port, src, request(method, path, None, hdrs))
                    assert st == want, (method, path, src, st, body)
                    if method == "GET":
                        assert why in reason_of(body), (path, body)
            settle_stats()
            # Refused before any listener state: no join was counted.
            assert srv.metric("podium_listener_joins_total") == joins0
            assert srv.metric("podium_listeners") == 0
            m = srv.metrics()
            for why in ("ticket_missing", "ticket_malformed", "ticket_forged", "ticket_misused",
                        "ticket_wrong_prefix"):
                assert m[f'podium_rejections_total{{reason="{why}"}}'] >= 2, why
            assert m["podium_gate_glitches_total"] >= 6  # malformed and forged ones

            # The real thing: the URL from the join, from the same /24.
            st, _, body = raw_from(srv.port, "127.0.0.77",
                                   request("GET", doc["stream"]["ogg"]), timeout=5)
            assert st == 200, st
            st, _ = stream_head(srv, f"/live/{sid}.opus", headers={"Authorization": "Bearer " + t})
            assert st == 200, st
            # An open space needs none.
            assert stream_head(srv, f"/live/{oid}.opus")[0] == 200
            assert stream_head(srv, "/live/nothing-here.opus")[0] == 404
            settle_stats()
            assert srv.metric("podium_gate_tickets_ok_total") >= 2
        finally:
            for s in (s1, s2, s3):
                s.kill()


def test_join_answers():
    cfg = dict(BASE, workers=1, queue_max=3, prefix_ticket_burst=5, prefix_ticket_rate_mps=1000)
    with Podium(config=cfg) as srv:
        a, _ = create_space(srv, title="small", listeners_max=4, admit_per_s=100)
        b, _ = create_space(srv, title="big", listeners_max=1000, admit_per_s=1000)
        # Capacity 4 at a 75 % share: three are let in, the rest wait.
        for i in range(3):
            st, hd, doc = join(srv, a)
            assert st == 200, (i, st, doc)
            assert ticket_fields(doc["ticket"]) == (KIND_ADMISSION, i)
        st, hd, q = join(srv, a)
        assert st == 202, (st, q)
        assert set(q) == {"queue_ticket", "position", "eta_s", "retry_after_s"}, q
        assert ticket_fields(q["queue_ticket"]) == (KIND_QUEUE, 3)
        assert q["position"] == 0 and q["retry_after_s"] >= 1
        assert q["eta_s"] is None or q["eta_s"] >= 0
        assert int(hd["retry-after"]) == q["retry_after_s"]
        # Polling keeps the place.
        st, _, q2 = join(srv, a, {"queue_ticket": q["queue_ticket"]})
        assert st == 202 and ticket_fields(q2["queue_ticket"]) == (KIND_QUEUE, 3), (st, q2)
        join(srv, a)
        join(srv, a)
        st, hd, full = join(srv, a)
        assert st == 503 and full == {"error": "the queue is full", "reason": "queue_full"}, full
        assert int(hd["retry-after"]) >= 1
        # Tickets that are not ours, or not for this space.
        forged = q["queue_ticket"][:40] + ("A" if q["queue_ticket"][40] != "A" else "B") + \
            q["queue_ticket"][41:]
        st, _, doc = join(srv, a, {"queue_ticket": forged})
        assert st == 403 and doc["reason"] == "ticket_forged", doc
        st, _, doc = join(srv, b, {"queue_ticket": q["queue_ticket"]})
        assert st == 403 and doc["reason"] == "ticket_misused", doc
        # One network's fresh joins: 5 at once, then 1/s.
        for i in range(5):
            st, _, doc = join(srv, b, src="127.0.3.1")
            assert st == 200, (i, st, doc)
        st, hd, doc = join(srv, b, src="127.0.3.9")
        assert st == 429 and doc == {"error": "too many joins from your network",
                                     "reason": "prefix_ticket_rate"}, (st, doc)
        assert int(hd["retry-after"]) >= 1
        assert join(srv, b, src="127.0.4.1")[0] == 200  # another network is not affected
        # Bad requests.
        assert join(srv, "AAAAAAAAAAAA")[0] == 404
        st, _, _ = raw_from(srv.port, None,
                            b"POST /api/spaces/" + b.encode() + b"/join HTTP/1.1\r\nHost: x\r\n"
                            b"Content-Length: 5\r\n\r\n{bad}")
        assert st == 400
        assert join(srv, b, {"counter": "x"})[0] == 400
        m = srv.metrics()
        assert m['podium_rejections_total{reason="queue_full"}'] == 1
        assert m['podium_rejections_total{reason="prefix_ticket_rate"}'] == 1
        assert m['podium_gate_joins_total{outcome="admitted"}'] == 9
        assert m['podium_gate_joins_total{outcome="queued"}'] >= 4


def test_ended_space_is_gone():
    with Podium(config=BASE) as srv:
        sid, key = create_space(srv)
        assert join(srv, sid)[0] == 200
        st, _ = api(srv, "POST", f"/api/spaces/{sid}/end", key=key)
        assert st == 200
        wait_for(lambda: join(srv, sid)[0] == 410, 3, "410 after the end")


def test_puzzles():
    cfg = dict(BASE, pow_on_permille=1, pow_base_bits=8, pow_max_bits=8, workers=0)
    with Podium(config=cfg) as srv:
        sid, _ = create_space(srv, listeners_max=1000, admit_per_s=1)
        for _ in range(3):
            join(srv, sid)  # demand: the next second asks for puzzles

        def puzzled():
            st, _, doc = join(srv, sid)
            return doc if st == 202 and doc.get("puzzle") else None
        wait_for(puzzled, 3, "a puzzle")
        st, _, doc = join(srv, sid)
        assert st == 202, doc
        assert doc["queue_ticket"] is None and doc["position"] is None, doc
        assert doc["retry_after_s"] == 0
        pz = doc["puzzle"]
        assert pz["difficulty"] == 8 and ticket_fields(pz["challenge"])[0] == 4
        c = solve(pz["challenge"], 8)
        bad = next(k for k in range(c + 1, c + 100000) if not solves(pz["challenge"], 8, k))
        st, _, wrong = join(srv, sid, {"challenge": pz["challenge"], "counter": bad})
        assert st == 429 and wrong["reason"] == "pow_invalid", (st, wrong)
        st, _, ok = join(srv, sid, {"challenge": pz["challenge"], "counter": c})
        assert st in (200, 202) and (ok.get("ticket") or ok.get("queue_ticket")), (st, ok)
        st, _, again = join(srv, sid, {"challenge": pz["challenge"], "counter": c})
        assert st == 429 and again["reason"] == "pow_replayed", (st, again)
        m = srv.metrics()
        assert m["podium_gate_puzzles_solved_total"] == 1
        assert m['podium_rejections_total{reason="pow_replayed"}'] == 1


def test_prequeue_shuffle():
    cfg = dict(BASE, prestart_spread_s=0, workers=0)
    with Podium(config=cfg) as srv:
        start_ms = int(time.time() * 1000) + 3000
        sid, _ = create_space(srv, scheduled_start=start_ms, listeners_max=100000,
                              admit_per_s=1000)
        n = 200
        pre = []
        for i in range(n):
            st, hd, doc = join(srv, sid)
            assert st == 202, (i, st, doc)
            assert doc["position"] is None and doc["eta_s"] >= 1, doc
            kind, slot = ticket_fields(doc["queue_ticket"])
            assert (kind, slot) == (KIND_PREQUEUE, i), (kind, slot)
            pre.append(doc["queue_ticket"])
        # Polling before the start keeps the slot; nobody has a number yet.
        st, _, doc = join(srv, sid, {"queue_ticket": pre[7]})
        assert st == 202 and ticket_fields(doc["queue_ticket"]) == (KIND_PREQUEUE, 7), doc
        assert time.time() * 1000 < start_ms, "the pre-queue took too long to fill"
        time.sleep((start_ms - time.time() * 1000) / 1000 + 1.3)
        # After the start, first come first served: numbers from n on.
        after = []
        for _ in range(3):
            st, _, doc = join(srv, sid)
            assert st in (200, 202), (st, doc)
            after.append(ticket_fields(doc.get("ticket") or doc["queue_ticket"])[1])
        assert after == [n, n + 1, n + 2], after
        numbers = []
        for t in pre:
            st, _, doc = join(srv, sid, {"queue_ticket": t})
            assert st in (200, 202), (st, doc)
            numbers.append(ticket_fields(doc.get("ticket") or doc["queue_ticket"])[1])
        assert sorted(numbers) == list(range(n)), "the shuffle is not a permutation"
        # Arriving first won nothing: the first tenth of arrivals is spread.
        early = sum(1 for s in range(n // 10) if numbers[s] < n // 10)
        assert early <= 8, (early, numbers[:20])
        mean = (n - 1) / 2
        cov = sum((s - mean) * (numbers[s] - mean) for s in range(n))
        var = sum((s - mean) ** 2 for s in range(n))
        assert abs(cov / var) < 0.35, cov / var  # rank correlation of a random order


def test_proxy_protocol():
    cfg = dict(BASE, workers=2, trusted_proxies="127.0.0.5")
    with Podium(config=cfg) as srv:
        sid, src = live_space(srv, access="ticketed")
        try:
            path = f"/live/{sid}.opus?ticket="
            # PROXY v1 from the trusted proxy names the client: 203.0.113.0/24.
            st, _, doc = join(srv, sid, src="127.0.0.5", proxy=proxy_v1("203.0.113.7"))
            assert st == 200, (st, doc)
            t = doc["ticket"]
            assert stream_head(srv, path + t, "127.0.0.5", proxy=proxy_v1("203.0.113.99"))[0] == 200
            assert stream_head(srv, path + t, "127.0.0.5", proxy=proxy_v2("203.0.113.50"))[0] == 200
            st, body = stream_head(srv, path + t, "127.0.0.5", proxy=proxy_v1("198.51.100.1"))
            assert st == 403, st
            assert stream_head(srv, path + t, "127.0.0.5")[0] == 403  # the proxy is not the client
            # From anyone else a PROXY header is a malformed request.
            st, _, body = raw_from(srv.port, "127.0.0.6",
                                   proxy_v1("203.0.113.7") + request("GET", path + t))
            assert st == 400, (st, body)
            # A trusted proxy's broken header: refused with its reason.
            st, _, body = raw_from(srv.port, "127.0.0.5",
                                   b"PROXY TCP4 nonsense\r\n" + request("GET", path + t))
            assert st == 400 and b"proxy_invalid" in body, (st, body)
            # X-Forwarded-For, believed only from the trusted peer.
            st, _, doc = join(srv, sid, src="127.0.0.5",
                              headers={"X-Forwarded-For": "198.51.100.4"})
            assert st == 200, doc
            t2 = doc["ticket"]
            assert stream_head(srv, path + t2, "127.0.0.5",
                               headers={"X-Forwarded-For": "198.51.100.200"})[0] == 200
            assert stream_head(srv, path + t2, "127.0.0.5",
                               headers={"X-Forwarded-For": "10.9.9.9, 198.51.100.9, 127.0.0.5"}
                               )[0] == 200
            st, _, doc = join(srv, sid, src="127.0.0.6",
                              headers={"X-Forwarded-For": "198.51.100.4"})
            assert st == 200, doc
            t3 = doc["ticket"]  # bound to the peer, 127.0.0.0/24: the header was ignored
            assert stream_head(srv, path + t3, "127.0.0.7")[0] == 200
            assert stream_head(srv, path + t3, "127.0.0.5",
                               headers={"X-Forwarded-For": "198.51.100.4"})[0] == 403
            settle_stats()
            m = srv.metrics()
            assert m["podium_gate_proxied_total"] >= 6
            assert m['podium_rejections_total{reason="proxy_invalid"}'] == 1
            assert m['podium_rejections_total{reason="ticket_wrong_prefix"}'] >= 3
        finally:
            src.kill()


def test_overload_ladder():
    # A memory budget of 1 MiB puts every process at the top of the ladder.
    cfg = dict(BASE, overload_mem_mib=1, workers=1)
    with Podium(config=cfg, demo=True) as srv:
        sid, _ = create_space(srv)

        def top():
            st, d = api(srv, "GET", "/api/status")
            return st == 200 and d["overload"]["level"] == 4
        wait_for(top, 5, "overload level 4")
        st, _, doc = join(srv, sid)
        assert st == 503 and doc["reason"] == "overload", (st, doc)
        st, _, body = raw_from(srv.port, None, request("GET", "/api/spaces"))
        assert st == 503 and b"overload" in body, (st, body)
        # Audio for listeners, health, metrics and status are never shed.
        st, _, _ = raw_from(srv.port, None, request("HEAD", "/live/demo.opus"))
        assert st == 200
        assert srv.get("/healthz")[0] == 200
        assert srv.metric("podium_overload_level") == 4
        assert srv.metric('podium_rejections_total{reason="overload"}') >= 2
        assert srv.metric("podium_overload_pressure_permille") == 2000


def test_bulkhead():
    cfg = dict(BASE, space_join_rate_per_s=1, space_join_burst=3, workers=0)
    with Podium(config=cfg) as srv:
        hot, _ = create_space(srv, title="hot")
        calm, _ = create_space(srv, title="calm")
        codes = [join(srv, hot)[0] for _ in range(4)]
        assert codes[:3] == [200, 200, 200], codes
        st, hd, doc = join(srv, hot)
        assert st == 503 and doc["reason"] == "bulkhead", (st, doc)
        assert int(hd["retry-after"]) >= 1
        assert join(srv, calm)[0] == 200  # the other space is not starved


if __name__ == "__main__":
    raise SystemExit(run([test_stream_tickets, test_join_answers, test_ended_space_is_gone,
                          test_puzzles, test_prequeue_shuffle, test_proxy_protocol,
                          test_overload_ladder, test_bulkhead]))
