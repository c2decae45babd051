"""web/pow.js, the browser's puzzle solver, under node: it must hash like
SHA-256 (checked against Python's hashlib), find exactly the counters the C
solver finds (the shared vector in tests/unit/test_pow.c), and its time at
the normal difficulty is printed (measured, never asserted).

Skips (passes with a note) when node is not installed.
"""
import hashlib
import json
import os
import re
import shutil
import statistics
import struct
import subprocess
import sys

from lib import ROOT, run

POW_JS = os.path.join(ROOT, "web", "pow.js")
C_TEST = os.path.join(ROOT, "tests", "unit", "test_pow.c")
NODE = shutil.which("node")


def node(script, timeout=120):
    """Runs <script> under node with PodiumPow bound to web/pow.js; returns
    its stdout parsed as JSON."""
    prog = f"const P = require({json.dumps(POW_JS)});\n" + script
    r = subprocess.run([NODE, "-e", prog], capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def zero_bits(d):
    n = 0
    for b in d:
        if b:
            return n + 8 - b.bit_length()
        n += 8
    return n


def smallest(challenge, difficulty):
    c = 0
    while zero_bits(hashlib.sha256(challenge.encode() + struct.pack(">Q", c)).digest()) < difficulty:
        c += 1
    return c


def shared_vector():
    """The challenge and counters from the C unit test, so both sides check
    one vector."""
    text = open(C_TEST).read()
    ch = re.search(r'#define VECTOR_CHALLENGE "([^"]+)"', text).group(1)
    counters = {int(d): int(c) for d, c in re.findall(r"#define VECTOR_D(\d+) (\d+)", text)}
    assert len(counters) >= 3, counters
    return ch, counters


def test_sha256_matches_hashlib():
    msgs = ["", "abc", "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"]
    msgs += ["x" * n for n in (55, 56, 63, 64, 65, 119, 120, 128, 1000)]
    got = node("console.log(JSON.stringify(%s.map(m => Buffer.from(P.sha256("
               "Buffer.from(m))).toString('hex'))));" % json.dumps(msgs))
    for m, h in zip(msgs, got):
        assert h == hashlib.sha256(m.encode()).hexdigest(), m


def test_shared_vector_same_as_c():
    ch, counters = shared_vector()
    got = node("const ch = %s; console.log(JSON.stringify(%s.map(d => P.solve(ch, d))));"
               % (json.dumps(ch), json.dumps(sorted(counters))))
    for d, c in zip(sorted(counters), got):
        assert c == counters[d], (d, c, counters[d])
        assert c == smallest(ch, d), (d, c)  # and hashlib agrees
    checks = node("const ch = %s; console.log(JSON.stringify([P.check(ch, %d, 16), "
                  "P.check(ch, %d, 16), P.check(ch, -1, 0), P.check(ch, 2 ** 53, 0)]));"
                  % (json.dumps(ch), counters[16], counters[16] - 1))
    assert checks == [True, False, False, False], checks


def test_any_challenge_length():
    """Tails shorter and longer than a block, and several blocks."""
    chs = ["short", "x" * 47, "x" * 48, "x" * 60, "y" * 64, "z" * 130]
    got = node("console.log(JSON.stringify(%s.map(c => P.solve(c, 10))));" % json.dumps(chs))
    assert got == [smallest(c, 10) for c in chs], got


def test_solve_async_and_range():
    ch, counters = shared_vector()
    got = node("P.solveAsync(%s, 16, {sliceIters: 1000}).then(c => "
               "console.log(JSON.stringify([c, P.solve(%s, 16, 0, %d)])));"
               % (json.dumps(ch), json.dumps(ch), counters[16]))
    assert got == [counters[16], -1], got


def test_normal_difficulty_time():
    """Prints how long node takes at the normal difficulty (16 bits, the
    POW_POLICY_DEFAULT base) over 40 challenges shaped like real ones."""
    got = node(r"""
const times = [], iters = [];
for (let i = 0; i < 40; i++) {
  const ch = Buffer.from('puzzle-' + i + '-'.repeat(40)).toString('base64url').slice(0, 64).padEnd(64, 'A');
  const t = process.hrtime.bigint();
  const c = P.solve(ch, 16);
  times.push(Number(process.hrtime.bigint() - t) / 1e6);
  iters.push(c + 1);
}
console.log(JSON.stringify({times, iters}));
""", timeout=300)
    t = sorted(got["times"])
    rate = sum(got["iters"]) / (sum(t) / 1000)
    print(f"     node {subprocess.run([NODE, '--version'], capture_output=True, text=True).stdout.strip()}"
          f" difficulty 16: mean {statistics.mean(t):.0f} ms, median {statistics.median(t):.0f} ms,"
          f" p90 {t[int(len(t) * 0.9)]:.0f} ms, max {t[-1]:.0f} ms; {rate / 1e6:.2f} Mhash/s",
          flush=True)


if __name__ == "__main__":
    if not NODE:
        print("node not installed: skipped\n0 passed, 0 failed")
        sys.exit(0)
    sys.exit(run([test_sha256_matches_hashlib, test_shared_vector_same_as_c,
                  test_any_challenge_length, test_solve_async_and_range,
                  test_normal_difficulty_time]))
