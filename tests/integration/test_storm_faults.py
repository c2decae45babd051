"""podium storm: a byte corrupted in flight is a CRC error on every listener
that met it; attack modes run bounded next to the crowd; the multi-process
splitter merges workers exactly."""
import sys

from lib import run
from stormlib import Broadcast, FlipProxy, storm


def test_corrupted_byte_counts_crc():
    n = 8
    with Broadcast() as b:
        px = FlipProxy(b.srv.port, after=12000)
        try:
            rc, out, err, r = storm("--target", f"http://127.0.0.1:{px.port}", "--mount", b.mount,
                                    "--listeners", n, "--duration", "5s", "--quiet",
                                    "--slo", "integrity_errors=0")
        finally:
            px.close()
    assert px.flipped == n, px.flipped
    assert rc == 1 and "SLO FAIL: integrity_errors" in out, (rc, out, err)
    ie = r["integrity_errors"]
    assert ie["crc"] == n, ie
    assert ie["sequence"] == 0 and ie["granule"] == 0 and ie["capture"] == 0, ie
    assert r["listeners"]["joined"] == n


def test_attacks_run_bounded_beside_the_crowd():
    with Broadcast(config={"header_timeout_ms": 2000}) as b:
        rc, out, err, r = storm("--target", b.srv.url, "--mount", b.mount, "--listeners", 20,
                                "--duration", "6s", "--quiet", "--attack",
                                "slowloris=20,idle=20,flood=100/s,slow-readers=5,reconnect-storm@3s",
                                "--slo", "joined=100%,integrity_errors=0")
        assert rc == 0, (rc, out, err)
    m = r["attack"]["by_mode"]
    assert m["slowloris"]["opened"] == 20 and m["idle"]["opened"] == 20, m
    # podium's header deadline (2 s here) closes slowloris and idle connections
    assert m["slowloris"].get("closed_by_server", 0) == 20, m["slowloris"]
    # idle ones may sit in the kernel (TCP_DEFER_ACCEPT) past the run: every
    # one is accounted for, and storm closes what is left at the end
    assert m["idle"].get("closed_by_server", 0) + m["idle"].get("open_at_end", 0) == 20, m["idle"]
    assert m["flood"]["sent"] >= 400, m["flood"]
    answered = sum(v for k, v in m["flood"].items() if k.startswith("http_"))
    assert answered >= 0.9 * m["flood"]["sent"], m["flood"]
    assert m["slow_readers"]["opened"] == 5 and m["slow_readers"]["bytes"] > 0, m["slow_readers"]
    rs = m["reconnect_storm"]
    assert rs["dropped"] == 20 and rs["rejoined"] == 20, rs
    assert r["rejoin_ttfa_ms"]["count"] == 20
    assert r["listeners"]["ended"].get("completed") == 20


def test_multi_process_split_and_sources():
    with Broadcast() as b:
        rc, out, err, r = storm("--target", b.srv.url, "--mount", b.mount, "--listeners", 50,
                                "--duration", "3s", "--procs", 2, "--sources",
                                "127.0.0.2-127.0.0.5", "--slo", "joined=100%,stalls=0")
    assert rc == 0, (rc, out, err)
    assert r["procs"] == 2
    assert r["listeners"]["target"] == 50 and r["listeners"]["joined"] == 50
    assert r["histograms"]["ttfa_us"]["count"] == 50
    assert "procs=2" in err, err
    # both workers prepared their sockets on their own source addresses and
    # started together: every connect() timed, none before its time
    assert r["prepared"]["sockets"] == 50, r["prepared"]
    assert r["issue_lag_ms"]["count"] == 50 and r["issue_lag_ms"]["max"] < 2000, r["issue_lag_ms"]


if __name__ == "__main__":
    sys.exit(run([test_corrupted_byte_counts_crc, test_attacks_run_bounded_beside_the_crowd,
                  test_multi_process_split_and_sources]))
