"""podium storm against a real Icecast 2 (Debian's icecast2) fed by ffmpeg:
storm is a client of the Icecast protocol, not of podium alone. 50
listeners for 10 s all join, every page verifies, and an SLO gate passes;
a deliberately impossible SLO fails with exit 1. Skipped (CTest SKIP, exit
77) only when icecast2 is not installed."""
import sys

from lib import run
from stormlib import IcecastBroadcast, icecast_missing, storm

SKIP = 77


def test_fifty_listeners_verified_and_slo_gate():
    with IcecastBroadcast() as ic:
        # A 2 s ramp: Icecast's listen backlog is 5, and a burst would be a
        # test of SYN retries rather than of storm.
        rc, out, err, r = storm("--target", ic.url, "--mount", ic.mount, "--listeners", 50,
                                "--arrival", "ramp:2s", "--duration", "10s", "--quiet",
                                "--slo", "joined=100%,integrity_errors=0,stalls=0,ttfa_p99=5s",
                                timeout=40)
        assert rc == 0, (rc, out, err, ic.logs())
        assert "SLO pass" in out, out
        l = r["listeners"]
        assert (l["target"], l["joined"], l["failed"]) == (50, 50, 0), l
        assert l["ended"] == {"completed": 50}, l
        ie = r["integrity_errors"]
        assert ie["total"] == 0, ie
        assert r["stalls"]["count"] == 0, r["stalls"]
        assert r["slo"]["pass"] is True
        # Icecast's 64 KiB burst on connect: more audio than wall time listened
        t = r["traffic"]
        assert t["audio_ms"] >= t["listen_ms"] > 50 * 5000, t

        # The same gate with an impossible SLO: exit 1, the failure named.
        rc, out, err, r = storm("--target", ic.url, "--mount", ic.mount, "--listeners", 10,
                                "--arrival", "ramp:1s", "--duration", "3s", "--quiet",
                                "--slo", "joined=100%,ttfa_max=1us", timeout=30)
        assert rc == 1, (rc, out, err)
        assert "SLO FAIL: ttfa_max" in out, out
        assert r["listeners"]["joined"] == 10, r["listeners"]
        assert r["slo"]["pass"] is False and len(r["slo"]["failures"]) == 1, r["slo"]


if __name__ == "__main__":
    why = icecast_missing()
    if why:
        print(f"SKIP: {why}")
        sys.exit(SKIP)
    sys.exit(run([test_fifty_listeners_verified_and_slo_gate]))
