"""Bad input gets a clear answer, is counted, and costs little."""
import socket
import sys
import time

from lib import (Podium, ffmpeg_source, http_request, read_response, run, wait_mount,
                 PASSWORD)

srv = None


def reason_count(reason):
    return srv.metric("podium_rejections_total", reason=reason)


def wait_reason(reason, pred):
    """Workers report their counters every 250 ms: wait for the sum."""
    return srv.wait_metric("podium_rejections_total", pred, timeout=5, reason=reason)


def test_malformed_request_400():
    before = reason_count("bad_request")
    status, _, body = http_request(srv.port, None, raw=b"GET /x HTTP/9.9\r\n\r\n")
    assert status == 400, status
    assert body.strip(), "a one-line reason is sent"
    status, _, _ = http_request(srv.port, None, raw=b"G\x01T / HTTP/1.1\r\n\r\n")
    assert status == 400, status
    wait_reason("bad_request", lambda v: v == before + 2)


def test_unknown_method_405():
    status, h, _ = srv.get("/live/a.opus", method="BREW")
    assert status == 405, status
    assert "GET" in h.get("allow", ""), h
    status, _, _ = srv.get("/", method="DELETE")
    assert status == 405


def test_header_too_large_431():
    big = {"X-Filler-%d" % i: "y" * 200 for i in range(60)}
    status, _, _ = srv.get("/healthz", headers=big)
    assert status == 431, status
    wait_reason("header_too_large", lambda v: v >= 1)


def test_uri_too_long_414():
    status, _, _ = srv.get("/" + "a" * 5000)
    assert status == 414, status
    wait_reason("uri_too_long", lambda v: v >= 1)


def test_no_such_mount_404():
    status, _, body = srv.get("/live/nothing-here.opus")
    assert status == 404, status
    assert b"mount" in body
    status, _, _ = srv.get("/nope")
    assert status == 404


def test_wrong_password_401():
    auth = "Basic " + __import__("base64").b64encode(b"source:wrong").decode()
    status, h, _ = srv.get("/live/a.opus", method="PUT", headers={"Authorization": auth})
    assert status == 401, status
    assert h.get("www-authenticate", "").startswith("Basic"), h
    status, h, _ = srv.get("/live/a.opus", method="PUT")
    assert status == 401 and "www-authenticate" in h
    assert reason_count("unauthorized") >= 2


def test_second_source_409():
    src = ffmpeg_source(srv.port, "busy")
    try:
        wait_mount(srv, "busy")
        auth = "Basic " + __import__("base64").b64encode(
            f"source:{PASSWORD}".encode()).decode()
        status, _, body = srv.get("/live/busy.opus", method="PUT",
                                  headers={"Authorization": auth, "Expect": "100-continue"})
        assert status == 409, status
        assert reason_count("mount_busy") >= 1
    finally:
        src.kill()
        src.wait()


def _put(mount, body_chunks, expect=True):
    auth = "Basic " + __import__("base64").b64encode(f"source:{PASSWORD}".encode()).decode()
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
    head = f"PUT /live/{mount}.opus HTTP/1.1\r\nHost: x\r\nAuthorization: {auth}\r\n" \
           "Content-Type: audio/ogg\r\n"
    if expect:
        head += "Expect: 100-continue\r\n"
    s.sendall((head + "\r\n").encode())
    return s


def test_not_ogg_source_415():
    s = _put("junk", [])
    status, _, _ = read_response(s, 5, body_bytes=0)
    assert status == 100, status
    s.sendall(b"ID3\x04\x00\x00\x00\x00\x00\x00" + b"\xff\xfb\x90\x00" * 300)
    status, _, body = read_response(s, 5)
    assert status == 415, status
    # the source is closed: the server ends the connection
    s.settimeout(5)
    rest = b""
    try:
        while True:
            c = s.recv(4096)
            if not c:
                break
            rest += c
    except ConnectionResetError:
        pass
    s.close()
    assert reason_count("unsupported_media") >= 1
    # an Ogg stream that is not Opus (Vorbis-like head) is refused the same way
    s = _put("junk2", [])
    read_response(s, 5, body_bytes=0)
    page = bytearray(b"OggS\x00\x02" + b"\0" * 8 + b"\x01\0\0\0" + b"\0" * 8 + b"\x01\x1e")
    page += b"\x01vorbis" + b"\0" * 23
    s.sendall(bytes(page))
    status, _, _ = read_response(s, 5)
    assert status == 415, status
    s.close()


def test_listener_cap_503():
    # One worker: with several, the cap is split between them.
    with Podium(config={"listeners_max": 2, "workers": 1}) as small:
        src = ffmpeg_source(small.port, "capped")
        socks = []
        try:
            wait_mount(small, "capped")
            for _ in range(2):
                s = socket.create_connection(("127.0.0.1", small.port), timeout=5)
                s.sendall(b"GET /live/capped.opus HTTP/1.1\r\nHost: x\r\n\r\n")
                status, _, _ = read_response(s, 5, body_bytes=1)
                assert status == 200
                socks.append(s)
            status, h, body = small.get("/live/capped.opus")
            assert status == 503, status
            assert int(h.get("retry-after", "0")) > 0, h
            small.wait_metric("podium_rejections_total", lambda v: v == 1, timeout=5,
                              reason="listener_cap")
        finally:
            for s in socks:
                s.close()
            src.kill()
            src.wait()


def test_slowloris_header_deadline():
    with Podium(config={"header_timeout_ms": 1000}) as fast:
        socks = []
        for _ in range(20):
            s = socket.create_connection(("127.0.0.1", fast.port), timeout=5)
            s.sendall(b"GET /healthz HTTP/1.1\r\nX-a: ")  # never finishes
            socks.append(s)
        t0 = time.time()
        closed = 0
        for s in socks:
            s.settimeout(5)
            try:
                if s.recv(100) == b"":
                    closed += 1
            except (ConnectionResetError, socket.timeout):
                closed += 1 if time.time() - t0 < 5 else 0
            s.close()
        assert closed == 20, closed
        assert time.time() - t0 < 4, "closed near the deadline, not much later"
        fast.wait_metric("podium_rejections_total", lambda v: v == 20, timeout=5,
                         reason="header_timeout")
        # the server still answers
        assert fast.get("/healthz")[0] == 200


def test_bad_chunked_source_closed():
    auth = "Basic " + __import__("base64").b64encode(f"source:{PASSWORD}".encode()).decode()
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
    s.sendall((f"PUT /live/chunky.opus HTTP/1.1\r\nHost: x\r\nAuthorization: {auth}\r\n"
               "Transfer-Encoding: chunked\r\n\r\nZZZZ\r\n").encode())
    s.settimeout(5)
    data = b""
    try:
        while True:
            c = s.recv(4096)
            if not c:
                break
            data += c
    except ConnectionResetError:
        pass
    s.close()  # closed by the server rather than hanging


def main():
    global srv
    with Podium() as p:
        srv = p
        rc = run([test_malformed_request_400, test_unknown_method_405, test_header_too_large_431,
             test_uri_too_long_414, test_no_such_mount_404, test_wrong_password_401,
             test_second_source_409, test_not_ogg_source_415, test_listener_cap_503,
             test_slowloris_header_deadline, test_bad_chunked_source_closed])
    sys.exit(rc)


if __name__ == "__main__":
    main()
