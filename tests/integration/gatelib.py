"""Helpers for the gate's tests: requests from a chosen 127/8 source address
(each /24 of it is a different client prefix to the server), the join API,
ticket decoding (docs/internals/gate.md: the layout is public, only the MAC
is secret), a puzzle solver, and the server's memory from /proc."""
import base64
import hashlib
import json
import os
import socket
import struct

from lib import children, read_response


def raw_from(port, src, data, timeout=5):
    """Sends <data> from source address <src> ("127.0.0.1" or None for the
    kernel's); returns (status, headers, body)."""
    s = socket.socket()
    try:
        if src:
            s.bind((src, 0))
        s.settimeout(timeout)
        s.connect(("127.0.0.1", port))
        s.sendall(data)
        return read_response(s, timeout)
    finally:
        s.close()


def request(method, path, body=None, headers=None, proxy=b""):
    h = {"Host": "podium"}
    h.update(headers or {})
    data = b""
    if body is not None:
        data = json.dumps(body).encode()
        h["Content-Type"] = "application/json"
    if method == "POST" or body is not None:
        h["Content-Length"] = str(len(data))
    head = f"{method} {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in h.items())
    return proxy + head.encode() + b"\r\n" + data


def join(srv, space, body=None, src=None, headers=None, proxy=b""):
    """POST /api/spaces/<space>/join; returns (status, headers, doc)."""
    st, hd, raw = raw_from(srv.port, src, request("POST", f"/api/spaces/{space}/join", body,
                                                  headers, proxy))
    try:
        doc = json.loads(raw.decode()) if raw else None
    except ValueError:
        doc = raw
    return st, hd, doc


def stream_head(srv, path, src=None, headers=None, proxy=b""):
    """HEAD of a stream URL; returns (status, body)."""
    st, _, body = raw_from(srv.port, src, request("HEAD", path, None, headers, proxy))
    return st, body


def ticket_fields(text):
    """(kind, number) of a ticket's 64 base64url characters."""
    b = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    assert len(b) == 48, len(b)
    return b[0] & 0x0F, int.from_bytes(b[16:24], "big")


KIND_ADMISSION, KIND_QUEUE, KIND_PREQUEUE, KIND_PUZZLE = 1, 2, 3, 4


def solves(challenge, bits, c):
    """SHA-256(challenge || counter BE64) starts with <bits> zero bits."""
    d = hashlib.sha256(challenge.encode() + struct.pack(">Q", c)).digest()
    return int.from_bytes(d, "big") >> (256 - bits) == 0


def solve(challenge, bits):
    """The smallest counter that solves the puzzle (the same search as
    pow_solve and web/pow.js)."""
    c = 0
    while not solves(challenge, bits, c):
        c += 1
    return c


def proxy_v1(src, dst="127.0.0.1", sport=40000, dport=80):
    return f"PROXY TCP4 {src} {dst} {sport} {dport}\r\n".encode()


def proxy_v2(src, dst="127.0.0.1", sport=40000, dport=80):
    sig = b"\r\n\r\n\x00\r\nQUIT\n"
    addr = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack(">HH", sport, dport)
    return sig + bytes([0x21, 0x11]) + struct.pack(">H", len(addr)) + addr


def rss_bytes(pid):
    """VmRSS of <pid> and its worker processes together."""
    total = 0
    for p in [pid] + children(pid):
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) * 1024
        except OSError:
            pass
    return total
