"""Helpers for Stage tests: the spaces API, a WebSocket stage client on a raw
socket (RFC 6455, masked frames), Opus packets made by ffmpeg's libopus, Ogg
files written from packets, and a tone detector on decoded audio."""
import base64
import json
import math
import os
import socket
import struct
import subprocess
import time

from lib import http_request, ogg_crc

HERE = os.path.dirname(os.path.abspath(__file__))


def api(srv, method, path, body=None, key=None):
    headers = {}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
        headers["Content-Length"] = str(len(data))
    if key:
        headers["Authorization"] = "Bearer " + key
    status, h, raw = http_request(srv.port, path, method, headers, data, timeout=5)
    try:
        doc = json.loads(raw.decode()) if raw else None
    except ValueError:
        doc = raw
    return status, doc


def create_space(srv, title="Test space", **extra):
    status, doc = api(srv, "POST", "/api/spaces", dict(title=title, **extra))
    assert status == 201, (status, doc)
    return doc["id"], doc["host_key"]


def invite(srv, space, key, name):
    status, doc = api(srv, "POST", f"/api/spaces/{space}/speakers", {"name": name}, key=key)
    assert status == 201, (status, doc)
    return doc["speaker_id"], doc["token"]


def ogg_packets(data):
    """Every packet of an Ogg stream (one logical stream), in order."""
    packets, cur, i = [], b"", 0
    while i + 27 <= len(data):
        assert data[i:i + 4] == b"OggS"
        nseg = data[i + 26]
        lacing = data[i + 27:i + 27 + nseg]
        body = i + 27 + nseg
        for lv in lacing:
            cur += data[body:body + lv]
            body += lv
            if lv < 255:
                packets.append(cur)
                cur = b""
        i = body
    return packets


def opus_tone(freq, seconds, tmp):
    """20 ms mono Opus packets of a sine at <freq>, from ffmpeg's libopus."""
    out = os.path.join(tmp, f"tone{freq}.opus")
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i",
                    f"sine=f={freq}:sample_rate=48000", "-t", str(seconds),
                    "-ac", "1", "-c:a", "libopus", "-b:a", "32k", "-frame_duration", "20",
                    "-f", "ogg", out], check=True, timeout=60)
    with open(out, "rb") as f:
        return ogg_packets(f.read())[2:]  # past OpusHead and OpusTags


def ogg_page(serial, seq, granule, packets, flags=0):
    lacing = b""
    for p in packets:
        lacing += b"\xff" * (len(p) // 255) + bytes([len(p) % 255])
    hdr = struct.pack("<4sBBqIIIB", b"OggS", 0, flags, granule, serial, seq, 0, len(lacing))
    page = hdr + lacing + b"".join(packets)
    crc = ogg_crc(page)
    return page[:22] + struct.pack("<I", crc) + page[26:]


def write_ogg_opus(path, packets, preskip=312):
    """An Ogg Opus file of 20 ms mono packets, one page per packet."""
    head = b"OpusHead" + struct.pack("<BBHIhB", 1, 1, preskip, 48000, 0, 0)
    tags = b"OpusTags" + struct.pack("<I", 4) + b"test" + struct.pack("<I", 0)
    out = ogg_page(7, 0, 0, [head], 2) + ogg_page(7, 1, 0, [tags])
    g = preskip
    for n, p in enumerate(packets):
        g += 960
        out += ogg_page(7, n + 2, g, [p], 4 if n == len(packets) - 1 else 0)
    with open(path, "wb") as f:
        f.write(out)


def decode_pcm(path, rate=8000):
    """Mono signed 16-bit samples at <rate>, decoded by ffmpeg."""
    r = subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", path, "-ac", "1", "-ar",
                        str(rate), "-f", "s16le", "-"], capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr.decode()
    n = len(r.stdout) // 2
    return struct.unpack("<%dh" % n, r.stdout[:2 * n])


def tone_power(samples, freq, rate=8000):
    """Goertzel power of <freq>, normalised per sample."""
    if not samples:
        return 0.0
    k = 2 * math.cos(2 * math.pi * freq / rate)
    s1 = s2 = 0.0
    for x in samples:
        s0 = x / 32768.0 + k * s1 - s2
        s2, s1 = s1, s0
    return (s1 * s1 + s2 * s2 - k * s1 * s2) / len(samples)


def has_tone(samples, freq, rate=8000):
    """The tone stands well above its neighbourhood (no tone there)."""
    p = tone_power(samples, freq, rate)
    off = max(tone_power(samples, freq * 1.27, rate), tone_power(samples, freq * 0.79, rate))
    return p > 1e-4 and p > 20 * off, (p, off)


class Stage:
    """A stage WebSocket: sends [0x01 seq ts opus], collects returns/events."""

    def __init__(self, port, space, token):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=5)
        key = base64.b64encode(os.urandom(16)).decode()
        self.s.sendall((f"GET /api/spaces/{space}/stage?token={token} HTTP/1.1\r\n"
                        f"Host: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
        head = b""
        while b"\r\n\r\n" not in head:
            c = self.s.recv(4096)
            assert c, "closed during the handshake"
            head += c
        hdr, self.buf = head.split(b"\r\n\r\n", 1)
        self.status = int(hdr.split()[1])
        self.audio, self.events, self.closed = [], [], None
        self.s.setblocking(False)

    def send_frame(self, opcode, payload):
        mask = os.urandom(4)
        n = len(payload)
        if n < 126:
            hdr = bytes([0x80 | opcode, 0x80 | n])
        else:
            hdr = bytes([0x80 | opcode, 0x80 | 126]) + struct.pack(">H", n)
        body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.s.setblocking(True)
        self.s.sendall(hdr + mask + body)
        self.s.setblocking(False)

    def send_audio(self, seq, ts, packet):
        self.send_frame(2, struct.pack(">BHI", 1, seq & 0xffff, ts & 0xffffffff) + packet)

    def send_json(self, obj):
        self.send_frame(1, json.dumps(obj).encode())

    def pump(self):
        try:
            while True:
                c = self.s.recv(65536)
                if not c:
                    self.closed = self.closed or "eof"
                    break
                self.buf += c
        except (BlockingIOError, socket.timeout):
            pass
        except ConnectionResetError:
            self.closed = "reset"
        while len(self.buf) >= 2:
            b0, b1 = self.buf[0], self.buf[1]
            n, off = b1 & 0x7f, 2
            if n == 126:
                if len(self.buf) < 4:
                    break
                n, off = struct.unpack(">H", self.buf[2:4])[0], 4
            if len(self.buf) < off + n:
                break
            payload, self.buf = self.buf[off:off + n], self.buf[off + n:]
            op = b0 & 0x0f
            if op == 2 and payload[:1] == b"\x01":
                self.audio.append(payload[7:])
            elif op == 1:
                self.events.append(json.loads(payload.decode()))
            elif op == 8:
                code = struct.unpack(">H", payload[:2])[0] if len(payload) >= 2 else None
                self.closed = ("close", code, payload[2:].decode(errors="replace"))

    def close(self):
        try:
            self.send_frame(8, struct.pack(">H", 1000))
        except OSError:
            pass
        self.s.close()


def play(stages_packets, seconds, every=None, mangle=None):
    """Sends each stage its packets at 20 ms pace for <seconds>; pumps all."""
    t0 = time.time()
    n = int(seconds / 0.02)
    for i in range(n):
        due = t0 + i * 0.02
        while time.time() < due:
            time.sleep(max(0, min(0.005, due - time.time())))
        for st, pkts in stages_packets:
            order = [i] if mangle is None else mangle(i)
            for j in order:
                st.send_audio(j, j * 960, pkts[j % len(pkts)])
            st.pump()
        if every:
            every()
