"""The command line: help, errors, defaults, environment, signals."""
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time

from lib import BIN, Listener, Podium, ffmpeg_source, run, track, wait_for, wait_mount


def sh(*args, env=None, cwd=None):
    return subprocess.run([BIN, *args], capture_output=True, text=True, timeout=10, env=env,
                          cwd=cwd)


def test_help():
    r = sh("--help")
    assert r.returncode == 0 and "serve" in r.stdout and "storm" in r.stdout
    r = sh("serve", "--help")
    assert r.returncode == 0
    for opt in ["--listen", "--data", "--config", "--source-password", "PODIUM_SOURCE_PASSWORD",
                "header_timeout_ms", "flush_ms", "burst_ms", "mount_grace_ms", "listeners_max"]:
        assert opt in r.stdout, opt


def test_usage_errors_exit_2():
    r = sh("serve", "--bogus")
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "--bogus" in lines[0], r.stderr
    assert sh("frobnicate").returncode == 2
    assert sh("serve", "--set", "flush_ms=abc").returncode == 2
    assert sh("serve", "--set", "no_such_key=1").returncode == 2
    with tempfile.NamedTemporaryFile("w", suffix=".conf", delete=False) as f:
        f.write("# comment\nflush_ms = 500\nnot a setting line\n")
    r = sh("serve", "--config", f.name)
    os.unlink(f.name)
    assert r.returncode == 2 and ":3:" in r.stderr, r.stderr


def test_env_password():
    env = dict(os.environ, PODIUM_SOURCE_PASSWORD="from-env")
    tmp = tempfile.mkdtemp()
    p = track(subprocess.Popen([BIN, "serve", "--listen", "127.0.0.1:0", "--data", tmp + "/d",
                                "--no-demo"], env=env, stderr=subprocess.PIPE, text=True))
    line = ""
    for _ in range(10):  # a few info lines may come first
        line = p.stderr.readline()
        if "listening on" in line:
            break
    port = int(re.search(r"listening on http://127.0.0.1:(\d+)", line).group(1))
    src = ffmpeg_source(port, "env", password="from-env")
    try:
        class S:
            pass
        s = S()
        s.get = lambda path, method="GET": __import__("lib").http_request(port, path, method)
        wait_mount(s, "env")
    finally:
        src.kill()
        src.wait()
        p.send_signal(signal.SIGTERM)
        assert p.wait(timeout=10) == 0


def port_free(port):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def test_defaults():
    """No arguments: 127.0.0.1:8000, ./podium-data, the demo mount."""
    if not port_free(8000):
        print("  (port 8000 busy here: default-address check not run)")
        return
    cwd = tempfile.mkdtemp()
    p = track(subprocess.Popen([BIN, "serve"], cwd=cwd, stderr=subprocess.PIPE, text=True))
    try:
        lines = []
        while len(lines) < 10 and not any("listening on" in l for l in lines):
            lines.append(p.stderr.readline())
        assert any("listening on http://127.0.0.1:8000" in l for l in lines), lines
        assert any("source password" in l for l in lines), "a random password is shown"
        assert os.path.isdir(os.path.join(cwd, "podium-data"))
        from lib import http_request
        wait_for(lambda: http_request(8000, "/live/demo.opus", "HEAD")[0] == 200, 10, "demo")
    finally:
        p.send_signal(signal.SIGINT)
        assert p.wait(timeout=10) == 0


def test_sigterm_graceful_with_clients():
    srv = Podium().start()
    src = ffmpeg_source(srv.port, "bye")
    wait_mount(srv, "bye")
    ls = [Listener(srv.port, "bye") for _ in range(10)]
    t0 = time.time()
    rc = srv.stop()
    assert rc == 0, srv.logs()
    assert time.time() - t0 < 3
    for l in ls:
        l.s.settimeout(3)
        try:
            while l.s.recv(65536):
                pass
        except ConnectionResetError:
            pass
        l.close()
    src.kill()
    src.wait()
    assert "stopped" in srv.logs()


if __name__ == "__main__":
    sys.exit(run([test_help, test_usage_errors_exit_2, test_env_password, test_defaults,
                  test_sigterm_graceful_with_clients]))
