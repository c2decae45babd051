"""A real browser: Debian's Chromium (headless, driven by playwright-core from
tests/browser) opens the page Podium serves at /, plays the demo stream in
the page's own <audio>, and plays a second, ffmpeg-fed mount in a fresh
<audio>; the decoded samples must not be silence.

Needs /usr/bin/chromium and node (scripts/deps.sh test installs them). The
node part is installed here with `npm ci` when tests/browser/node_modules is
missing or older than package-lock.json. Only 127.0.0.1 traffic once installed.
"""
import fcntl
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

from lib import wait_for, ROOT, Podium, ffmpeg_source, run, track, wait_mount

BROWSER_DIR = os.path.join(ROOT, "tests", "browser")
LOCK = os.path.join(BROWSER_DIR, "package-lock.json")
STAMP = os.path.join(BROWSER_DIR, "node_modules", ".package-lock.json")  # written by npm
CHROMIUM = "/usr/bin/chromium"
TMP = tempfile.mkdtemp(prefix="podium-browser-")


def ensure_node_modules():
    """npm ci when node_modules is missing or older than the lock file; a lock
    on package-lock.json keeps two test runs from installing at once."""
    for tool in ("node", "npm"):
        assert shutil.which(tool), f"{tool} not found: run scripts/deps.sh test"
    assert os.access(CHROMIUM, os.X_OK), f"{CHROMIUM} not found: run scripts/deps.sh test"
    with open(LOCK) as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if os.path.exists(STAMP) and os.path.getmtime(STAMP) >= os.path.getmtime(LOCK):
                return
            r = subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=BROWSER_DIR,
                               capture_output=True, text=True, timeout=180)
            assert r.returncode == 0, f"npm ci failed:\n{r.stdout}\n{r.stderr}"
            os.utime(STAMP)  # npm keeps the packages' own mtimes; mark the install
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def play(url, other, shot, timeout=90, script="play.mjs", args=None):
    """Runs a browser script (play.mjs by default) in its own process group
    (node and the Chromium it launches); returns (exit code, parsed RESULT,
    stdout+stderr)."""
    cmd = ["node", os.path.join(BROWSER_DIR, script)] + (
        args if args is not None else [url, "--other", other, "--screenshot", shot])
    p = track(subprocess.Popen(cmd, cwd=BROWSER_DIR, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, start_new_session=True))
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        out, err = p.communicate()
        raise AssertionError(f"play.mjs took over {timeout}s:\n{out}\n{err}")
    finally:
        try:  # nothing of the browser outlives the test
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    lines = [ln for ln in out.splitlines() if ln.startswith("RESULT ")]
    assert lines, f"play.mjs printed no RESULT (exit {p.returncode}):\n{out}\n{err}"
    return p.returncode, json.loads(lines[-1][len("RESULT "):]), out + err


def png_size(path):
    with open(path, "rb") as f:
        head = f.read(24)
    assert head[:8] == b"\x89PNG\r\n\x1a\n", "screenshot is not a PNG"
    return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")


def test_chromium_plays_page_and_mount():
    ensure_node_modules()
    shot = os.path.join(TMP, "page.png")
    with Podium(demo=True) as srv:
        src = ffmpeg_source(srv.port, "browser", freq=660)
        try:
            wait_mount(srv, "demo")
            wait_mount(srv, "browser")
            t0 = time.time()
            code, res, log = play(srv.url, "/live/browser.opus", shot)
            took = time.time() - t0
            assert srv.get("/healthz")[0] == 200, "server healthy after the browser left"
        finally:
            src.kill()
            src.wait()
    print(f"  chromium {res.get('chromium')}: demo playing after "
          f"{playing_ms(res['demo'])} ms, other after {playing_ms(res.get('other'))} ms; "
          f"browser run {took:.1f}s; screenshot {shot}")
    assert code == 0 and res["ok"], "browser checks failed: " + "; ".join(res["failures"]) \
        + "\n" + log
    assert not res["failures"]
    d, o = res["demo"], res["other"]
    # The same facts, asserted here too so a change in play.mjs cannot hide them.
    assert res["page"]["status"] == 200 and res["page"]["title"] == "Podium"
    assert res["page"]["player_src"] == srv.url + "/live/demo.opus?burst_ms=8000"
    # The page asks for a longer burst: Chromium waits for ~32 KiB before it
    # starts, 4-6 s of a 32 kbit/s stream more than the default 2 s burst.
    assert playing_ms(d) is not None, d.get("events")
    for name, m, least in (("demo", d, 3), ("other", o, 2)):
        assert m["error"] is None, (name, m["error"])
        assert m["readyState"] >= 3, (name, m["readyState"])
        assert m["currentTime"] > least, (name, m["currentTime"])
        assert m["currentTime"] >= m["ct_at_playing"] + 2, (name, m["ct_at_playing"],
                                                             m["currentTime"])
        assert m["level"]["rms_max"] > 0.01 and m["level"]["loud_frames"] >= 3, (name, m["level"])
    assert o["url"] == srv.url + "/live/browser.opus" and o["src"] == o["url"]
    assert o["play_promise"] == "resolved", o["play_promise"]
    assert res["requests_offhost"] == [], res["requests_offhost"]
    # The page has no favicon; any other console error (script, media) is a bug.
    errors = [e for e in res["console_errors"] if "/favicon.ico" not in e]
    assert errors == [], errors
    w, h = png_size(shot)
    assert w >= 800 and h >= 600 and os.path.getsize(shot) > 10000, (w, h, os.path.getsize(shot))


def playing_ms(m):
    for ev in (m or {}).get("events", []):
        if ev[0] == "playing":
            return ev[1]
    return None


def test_space_page_joins_through_the_gate():
    """A listener's page: a ticketed space whose join demand exceeds its
    admission rate, so the page must solve the puzzle (pow.js) before it is
    admitted; then it plays the ticketed stream."""
    ensure_node_modules()
    from stagelib import api, create_space
    # gate_exempt empty: loopback (this test) gets no exemption from puzzles.
    # Puzzles start at a demand of 200 permille of the admission rate: the
    # background joins below (about 5/s against 20/s) keep it there, at the
    # base difficulty (16 bits).
    with Podium(config={"pow_on_permille": 200, "admit_per_s": 20, "admit_burst": 20,
                        "gate_exempt": ""}) as srv:
        sid, key = create_space(srv, "Browser joins", access="ticketed")
        src = ffmpeg_source(srv.port, sid, password=key, freq=660)
        try:
            wait_for(lambda: api(srv, "GET", f"/api/spaces/{sid}")[1]["state"] == "live", 10,
                     "space live")
            status, _ = api(srv, "GET", f"/live/{sid}.opus")  # no ticket: refused
            assert status == 401, status
            stop = threading.Event()

            def demand():  # bounded: stops with the browser run, or after 120 s
                t_end = time.time() + 120
                while not stop.is_set() and time.time() < t_end:
                    api(srv, "POST", f"/api/spaces/{sid}/join", {})
                    time.sleep(0.2)
            th = threading.Thread(target=demand, daemon=True)
            th.start()
            time.sleep(1.5)
            try:
                code, res, log = play(srv.url, None, None, script="space.mjs",
                                      args=[srv.url, sid])
            finally:
                stop.set()
                th.join(10)
        finally:
            src.kill()
            src.wait()
    j = res.get("join") or {}
    print(f"  space page: answers {j.get('answers')}, puzzles {j.get('puzzles')} solved in "
          f"{j.get('puzzle_ms')} ms, audio clock {res.get('currentTime'):.1f} s")
    assert code == 0 and res["ok"], log
    assert j["admitted"] and j["puzzles"] >= 1, j
    assert "ticket=" in res["src"], res["src"]
    assert res["error"] is None and res["currentTime"] > 2, res
    errors = [e for e in res["console_errors"] if "favicon" not in e]
    assert errors == [], errors


if __name__ == "__main__":
    sys.exit(run([test_chromium_plays_page_and_mount, test_space_page_joins_through_the_gate]))
