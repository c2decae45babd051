"""podium storm against a local podium, with faults injected, asserting that
storm sees them: clean run and SLO pass; the source paused 3 s → a stall on
every listener; a server refusing joins → failures by reason and a failing
SLO (exit 1); storm itself stopped → flagged late; usage errors (exit 2);
the loopback guard; exact merge."""
import os
import signal
import sys
import time

from lib import run
from stormlib import TMP, Broadcast, storm


def test_clean_run_slo_pass_json_html():
    html = os.path.join(TMP, "clean.html")
    with Broadcast() as b:
        rc, out, err, r = storm("--target", b.srv.url, "--mount", b.mount, "--listeners", 60,
                                "--arrival", "ramp:1s", "--duration", "5s", "--html", html,
                                "--slo", "ttfa_p99=2s,stalls=0,joined=100%,integrity_errors=0")
    assert rc == 0, (rc, out, err)
    assert "SLO pass" in out
    l = r["listeners"]
    assert (l["target"], l["joined"], l["failed"]) == (60, 60, 0), l
    assert r["integrity_errors"]["total"] == 0
    assert r["stalls"]["count"] == 0
    assert 0 < r["ttfa_ms"]["p99"] < 2000
    assert r["slo"]["pass"] is True and r["slo"]["failures"] == []
    # audio time received keeps up with wall time (burst ahead, never behind)
    assert r["traffic"]["audio_ms"] >= 0.9 * r["traffic"]["listen_ms"], r["traffic"]
    assert r["histograms"]["ttfa_us"]["count"] == 60
    # one live line per second on stderr, with storm's own connect lag
    assert err.count("storm t=") >= 4, err
    assert "issue p99=" in err, err
    # every socket prepared before the start, every connect() timed
    assert r["prepared"]["sockets"] == 60 and r["prepared"]["failed"] == 0, r["prepared"]
    assert r["issue_lag_ms"]["count"] == 60, r["issue_lag_ms"]
    assert "issue lag ms" in out, out
    assert isinstance(r["warnings"], list)
    page = open(html).read()
    assert page.count("<svg") >= 5 and "<script" not in page and "http://" not in page.replace(
        b.srv.url, "")


def test_source_paused_3s_stalls_every_listener():
    n = 30
    with Broadcast() as b:
        src = b.src
        t0 = time.time()
        import subprocess
        p = subprocess.Popen([os.environ.get("PODIUM_BIN", ""), "storm", "--target", b.srv.url,
                              "--mount", b.mount, "--listeners", str(n), "--duration", "10s",
                              "--quiet", "--json", os.path.join(TMP, "pause.json")],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(3)
        src.send_signal(signal.SIGSTOP)
        time.sleep(3)
        src.send_signal(signal.SIGCONT)
        out, err = p.communicate(timeout=30)
        assert p.returncode == 0, (out, err)
    import json
    r = json.load(open(os.path.join(TMP, "pause.json")))
    assert r["listeners"]["joined"] == n, r["listeners"]
    assert r["stalls"]["listeners_affected"] == n, r["stalls"]
    assert r["stalls"]["count"] >= n
    assert r["stalls"]["total_ms"] >= n * 1000
    assert r["integrity_errors"]["total"] == 0, r["integrity_errors"]
    assert any(t[3] > 0 for t in r["timeline"]), "stalls over time"


def test_refused_joins_by_reason_and_failing_slo():
    with Broadcast(config={"listeners_max": 5, "workers": 1}) as b:
        rc, out, err, r = storm("--target", b.srv.url, "--mount", b.mount, "--listeners", 20,
                                "--duration", "3s", "--quiet", "--slo", "joined=100%,ttfa_p99=5s")
        assert rc == 1, (rc, out, err)
        assert "SLO FAIL: joined 5 of 20" in out, out
        l = r["listeners"]
        assert (l["joined"], l["failed"]) == (5, 15), l
        assert l["by_reason"] == {"http_503": 15}, l
        assert r["slo"]["pass"] is False and len(r["slo"]["failures"]) == 1
        rc, out, err, r = storm("--target", b.srv.url, "--mount", "/live/nobody.opus",
                                "--listeners", 10, "--duration", "2s", "--quiet")
        assert rc == 0, (rc, err)  # no SLO: a report, not a gate
        assert r["listeners"]["by_reason"] == {"http_404": 10}, r["listeners"]
        # nothing listening at all
        port = b.srv.port
    rc, out, err, r = storm("--target", f"http://127.0.0.1:{port}", "--mount", "/live/s.opus",
                            "--listeners", 5, "--duration", "1s", "--quiet", "--slo", "joined=1")
    assert rc == 1
    assert r["listeners"]["by_reason"] == {"connect_refused": 5}, r["listeners"]


def test_late_storm_is_flagged():
    """storm frozen (SIGSTOP) 1.6 s in the middle of a ramp issues those
    connects late: the issue lag shows it, and storm warns that it measured
    itself."""
    import json
    import subprocess
    path = os.path.join(TMP, "late.json")
    with Broadcast() as b:
        p = subprocess.Popen([os.environ.get("PODIUM_BIN", ""), "storm", "--target", b.srv.url,
                              "--mount", b.mount, "--listeners", "100", "--arrival", "ramp:3s",
                              "--duration", "5s", "--json", path],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(0.7)
        p.send_signal(signal.SIGSTOP)
        time.sleep(1.6)
        p.send_signal(signal.SIGCONT)
        out, err = p.communicate(timeout=30)
    assert p.returncode == 0, (out, err)
    r = json.load(open(path))
    il = r["issue_lag_ms"]
    assert il["count"] == 100 and il["p99"] > 1000 and il["max"] >= 1300, il
    assert any("storm was late" in w for w in r["warnings"]), r["warnings"]
    assert "warning: storm was late" in out, out
    assert "[tool late]" in err, err
    # the listeners still joined: late, not lost
    assert r["listeners"]["joined"] == 100, r["listeners"]


def test_sigterm_ends_early_with_a_report():
    """SIGTERM to the parent of a 2-process run: both workers end at their
    next sweep and the merged report is written, as for a full run."""
    import json
    import subprocess
    path = os.path.join(TMP, "early.json")
    with Broadcast() as b:
        t0 = time.time()
        p = subprocess.Popen([os.environ.get("PODIUM_BIN", ""), "storm", "--target", b.srv.url,
                              "--mount", b.mount, "--listeners", "40", "--procs", "2",
                              "--duration", "60s", "--quiet", "--json", path],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(2.5)
        p.send_signal(signal.SIGTERM)
        out, err = p.communicate(timeout=20)
        took = time.time() - t0
    assert p.returncode == 0, (out, err)
    assert took < 10, took
    r = json.load(open(path))
    assert r["procs"] == 2
    assert 1500 <= r["duration_ms"] < 6000, r["duration_ms"]
    assert r["listeners"]["joined"] == 40, r["listeners"]
    assert r["listeners"]["ended"] == {"completed": 40}, r["listeners"]
    assert r["ttfa_within_ms"]["60000"] == 40, r["ttfa_within_ms"]


def test_usage_errors_exit_2():
    for args in (["--arrival", "sometimes"], ["--listeners", "0"], ["--bogus"],
                 ["--slo", "ttfa_p99"], ["--duration", "-3s"], ["--attack", "nuke=1"],
                 ["--mount", "no-slash"], ["--sources", "10.0.0.1-10.0.0.5"], ["extra"],
                 ["--space", "42"], ["--target", "http://example.org"],
                 ["--src-ports", "random"]):
        rc, out, err, r = storm(*args, "--duration", "1s")
        assert rc == 2, (args, rc, err)
        assert err.startswith("podium storm: "), err
        assert r is None
    rc, out, err, _ = storm("--help")
    assert rc == 0 and "--arrival" in out


def test_loopback_guard_refuses_non_loopback():
    # TEST-NET-1 (192.0.2.0/24): refused before any socket is made.
    rc, out, err, r = storm("--target", "http://192.0.2.1:8000", "--listeners", 1)
    assert rc == 2 and "refusing target" in err and "--allow-remote" in err, err
    rc, out, err, r = storm("--target", "http://192.0.2.1:8000", "--listeners", 1,
                            "--allow-remote", "--attack", "idle=1")
    assert rc == 2 and "--allow-remote-attack" in err, err
    assert r is None


def test_merge_is_exact():
    a, b = os.path.join(TMP, "ma.json"), os.path.join(TMP, "mb.json")
    with Broadcast() as bc:
        for path, n in ((a, 17), (b, 23)):
            rc, out, err, _ = storm("--target", bc.srv.url, "--mount", bc.mount, "--listeners", n,
                                    "--duration", "2s", "--quiet", "--json", path)
            assert rc == 0, err
    import json
    ra, rb = json.load(open(a)), json.load(open(b))
    m_path = os.path.join(TMP, "m.json")
    rc, out, err, _ = storm("merge", a, b, "--json", m_path, "--slo", "joined=100%")
    assert rc == 0, err
    m = json.load(open(m_path))
    assert m["listeners"]["target"] == 40 and m["listeners"]["joined"] == 40
    ha, hb, hm = (dict(map(tuple, x["histograms"]["ttfa_us"]["buckets"])) for x in (ra, rb, m))
    for k in set(ha) | set(hb):
        assert hm.get(k, 0) == ha.get(k, 0) + hb.get(k, 0), k
    assert m["histograms"]["ttfa_us"]["count"] == 40
    assert m["ttfa_ms"]["max"] == max(ra["ttfa_ms"]["max"], rb["ttfa_ms"]["max"])
    assert m["procs"] == 2
    rc, out, err, _ = storm("merge", a, b, "--json", m_path, "--slo", "ttfa_max=1us")
    assert rc == 1 and "SLO FAIL: ttfa_max" in out
    rc, out, err, _ = storm("merge", a, "/nonexistent.json")
    assert rc == 2


if __name__ == "__main__":
    sys.exit(run([test_usage_errors_exit_2, test_loopback_guard_refuses_non_loopback,
                  test_clean_run_slo_pass_json_html, test_source_paused_3s_stalls_every_listener,
                  test_refused_joins_by_reason_and_failing_slo, test_late_storm_is_flagged,
                  test_sigterm_ends_early_with_a_report,
                  test_merge_is_exact]))
