/* test_ws: the opening handshake (the RFC's example key, every refusal and
 * its status), the 101 answer, the client frame parser on the RFC's
 * examples and on every rule it enforces (each refusal with its close
 * code), partial input, and the server frame-header and close writers. */
#include "ws.h"
#include "t.h"

#include <errno.h>
#include <stdlib.h>

/* Handshake ---------------------------------------------------------- */

static struct http_request req;

/* parse_req: parses a request held in a static copy (the request points
 * into it until the next call). */
static int parse_req(const char *s)
{
    static char copy[2048];
    static const struct http_limits lim = {8192, 1024, HTTP_HEADERS_MAX};
    size_t n = strlen(s);

    memcpy(copy, s, n);
    return http_parse_request(copy, n, &lim, &req);
}

#define KEY "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
#define VER "Sec-WebSocket-Version: 13\r\n"
#define HOST "Host: example.org\r\n"
#define UPG "Upgrade: websocket\r\nConnection: Upgrade\r\n"

static void test_accept_key(void)
{
    char out[WS_ACCEPT_CHARS + 1];

    /* RFC 6455 1.3. */
    CHECK_EQ(ws_accept_key("dGhlIHNhbXBsZSBub25jZQ==", 24, out), 0);
    CHECK_STR(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    /* A second well-known pair. */
    CHECK_EQ(ws_accept_key("x3JJHMbDL1EzLkh9GBhXDw==", 24, out), 0);
    CHECK_STR(out, "HSmrc0sMlYUkAGmm5OPpG2HaGWk=");
}

static void test_handshake_ok(void)
{
    const char *reason = "x";
    char out[WS_RESPONSE_BYTES_MAX];

    CHECK(parse_req("GET /api/spaces/abc/stage?token=t HTTP/1.1\r\n" HOST UPG KEY VER
                    "Origin: https://example.org\r\n\r\n") > 0);
    CHECK_EQ(ws_handshake_check(&req, &reason), 0);
    CHECK(reason == NULL);
    int n = ws_handshake_response(&req, out, sizeof(out));
    const char *want = "HTTP/1.1 101 Switching Protocols\r\n"
                       "Upgrade: websocket\r\n"
                       "Connection: Upgrade\r\n"
                       "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
                       "\r\n";
    CHECK_EQ(n, strlen(want));
    CHECK_STR(out, want);
    CHECK_EQ(ws_handshake_response(&req, out, strlen(want)), -ENOBUFS);
    CHECK_EQ(ws_handshake_response(&req, out, strlen(want) + 1), n);

    /* Firefox: "Connection: keep-alive, Upgrade"; tokens are case-insensitive. */
    CHECK(parse_req("GET / HTTP/1.1\r\n" HOST "Upgrade: WebSocket\r\n"
                    "Connection: keep-alive, upgrade\r\n" KEY VER "\r\n") > 0);
    CHECK_EQ(ws_handshake_check(&req, &reason), 0);
    CHECK_STR(ws_refusal_headers(200), "");
}

struct refusal {
    const char *req;
    int status;
    const char *reason;
};

static void test_handshake_refusals(void)
{
    static const struct refusal cases[] = {
        {"POST / HTTP/1.1\r\n" HOST UPG KEY VER "\r\n", 405, "WebSocket handshake must be GET"},
        {"GET / HTTP/1.0\r\n" HOST UPG KEY VER "\r\n", 400, "WebSocket needs HTTP/1.1"},
        {"GET / HTTP/1.1\r\n" UPG KEY VER "\r\n", 400, "missing Host"},
        {"GET / HTTP/1.1\r\n" HOST "Connection: Upgrade\r\n" KEY VER "\r\n", 400,
         "missing Upgrade: websocket"},
        {"GET / HTTP/1.1\r\n" HOST "Upgrade: h2c\r\nConnection: Upgrade\r\n" KEY VER "\r\n", 400,
         "missing Upgrade: websocket"},
        {"GET / HTTP/1.1\r\n" HOST "Upgrade: websocket\r\n" KEY VER "\r\n", 400,
         "Connection does not list upgrade"},
        {"GET / HTTP/1.1\r\n" HOST "Upgrade: websocket\r\nConnection: keep-alive\r\n" KEY VER
         "\r\n",
         400, "Connection does not list upgrade"},
        {"GET / HTTP/1.1\r\n" HOST UPG KEY "\r\n", 426, "Sec-WebSocket-Version must be 13"},
        {"GET / HTTP/1.1\r\n" HOST UPG KEY "Sec-WebSocket-Version: 8\r\n\r\n", 426,
         "Sec-WebSocket-Version must be 13"},
        {"GET / HTTP/1.1\r\n" HOST UPG KEY "Sec-WebSocket-Version: 13, 8\r\n\r\n", 426,
         "Sec-WebSocket-Version must be 13"},
        {"GET / HTTP/1.1\r\n" HOST UPG KEY VER VER "\r\n", 426, "Sec-WebSocket-Version must be 13"},
        {"GET / HTTP/1.1\r\n" HOST UPG VER "\r\n", 400,
         "Sec-WebSocket-Key must be base64 of 16 bytes"},
        {"GET / HTTP/1.1\r\n" HOST UPG VER KEY KEY "\r\n", 400,
         "Sec-WebSocket-Key must be base64 of 16 bytes"},
        /* 20 bytes, 15 bytes, a bad character, missing padding */
        {"GET / HTTP/1.1\r\n" HOST UPG VER
         "Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAAAAAAA=\r\n\r\n",
         400, "Sec-WebSocket-Key must be base64 of 16 bytes"},
        {"GET / HTTP/1.1\r\n" HOST UPG VER "Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAA\r\n\r\n", 400,
         "Sec-WebSocket-Key must be base64 of 16 bytes"},
        {"GET / HTTP/1.1\r\n" HOST UPG VER "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25j*Q==\r\n\r\n",
         400, "Sec-WebSocket-Key must be base64 of 16 bytes"},
        {"GET / HTTP/1.1\r\n" HOST UPG VER "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQAA\r\n\r\n",
         400, "Sec-WebSocket-Key must be base64 of 16 bytes"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *reason = NULL;
        CHECK(parse_req(cases[i].req) > 0);
        int st = ws_handshake_check(&req, &reason);
        if (st != cases[i].status) fprintf(stderr, "case %zu: %d %s\n", i, st, reason);
        CHECK_EQ(st, cases[i].status);
        CHECK_STR(reason, cases[i].reason);
    }
    CHECK_STR(ws_refusal_headers(405), "Allow: GET\r\n");
    CHECK(strstr(ws_refusal_headers(426), "Sec-WebSocket-Version: 13\r\n") != NULL);
}

/* Frames ------------------------------------------------------------- */

static const struct ws_limits lim = {.frame_bytes_max = 70000, .message_bytes_max = 100000};

/* mk: a client frame. lenform 0 picks the shortest length encoding, 16 and
 * 64 force the longer ones; mask false leaves the mask bit clear. */
static size_t mk_full(uint8_t *out, uint8_t b0, bool mask, int lenform, const void *payload,
                      size_t n)
{
    static const uint8_t key[4] = {0x37, 0xfa, 0x21, 0x3d};
    size_t h = 0;

    out[h++] = b0;
    uint8_t m = mask ? 0x80 : 0;
    if (lenform == 0 && n < 126) {
        out[h++] = m | (uint8_t)n;
    } else if (lenform == 16 || (lenform == 0 && n <= 0xffff)) {
        out[h++] = m | 126;
        out[h++] = (uint8_t)(n >> 8);
        out[h++] = (uint8_t)n;
    } else {
        out[h++] = m | 127;
        for (int i = 0; i < 8; i++)
            out[h++] = (uint8_t)((uint64_t)n >> (56 - 8 * i));
    }
    if (mask) {
        memcpy(out + h, key, 4);
        h += 4;
    }
    for (size_t i = 0; i < n; i++)
        out[h + i] = ((const uint8_t *)payload)[i] ^ (mask ? key[i & 3] : 0);
    return h + n;
}

static size_t mk(uint8_t *out, bool fin, uint8_t op, const void *payload, size_t n)
{
    return mk_full(out, (uint8_t)((fin ? 0x80 : 0) | op), true, 0, payload, n);
}

static struct ws_parser wp;
static struct ws_frame fr;

/* feed: parses one frame from a heap copy of exactly len bytes. */
static int feed(const uint8_t *buf, size_t len)
{
    static uint8_t *copy;

    free(copy);
    copy = malloc(len ? len : 1);
    memcpy(copy, buf, len);
    return ws_parse_frame(&wp, copy, len, &fr);
}

static void test_rfc_examples(void)
{
    /* RFC 6455 5.7: a single-frame masked text message "Hello". */
    static const uint8_t hello[] = {0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d,
                                    0x7f, 0x9f, 0x4d, 0x51, 0x58};
    ws_parser_init(&wp, &lim);
    CHECK_EQ(feed(hello, sizeof(hello)), 11);
    CHECK_EQ(fr.opcode, WS_OP_TEXT);
    CHECK_EQ(fr.msg_opcode, WS_OP_TEXT);
    CHECK(fr.fin && fr.msg_end);
    CHECK(fr.payload_len == 5 && memcmp(fr.payload, "Hello", 5) == 0);
    /* Every shorter prefix is "need more", and leaves the bytes alone. */
    for (size_t i = 0; i < sizeof(hello); i++) {
        uint8_t copy[sizeof(hello)];
        memcpy(copy, hello, sizeof(hello));
        CHECK_EQ(ws_parse_frame(&wp, copy, i, &fr), -2);
        CHECK(memcmp(copy, hello, sizeof(hello)) == 0);
    }

    /* A masked ping with "Hello" body, then the same as a fragmented text. */
    uint8_t buf[64];
    size_t n = mk(buf, true, WS_OP_PING, "Hello", 5);
    CHECK_EQ(feed(buf, n), n);
    CHECK(fr.opcode == WS_OP_PING && fr.payload_len == 5 && memcmp(fr.payload, "Hello", 5) == 0);
    n = mk(buf, false, WS_OP_TEXT, "Hel", 3);
    CHECK_EQ(feed(buf, n), n);
    CHECK(!fr.fin && !fr.msg_end && fr.msg_opcode == WS_OP_TEXT);
    n = mk(buf, true, WS_OP_CONTINUATION, "lo", 2);
    CHECK_EQ(feed(buf, n), n);
    CHECK(fr.fin && fr.msg_end && fr.opcode == WS_OP_CONTINUATION && fr.msg_opcode == WS_OP_TEXT);
    CHECK(fr.payload_len == 2 && memcmp(fr.payload, "lo", 2) == 0);
}

static void test_lengths(void)
{
    static uint8_t payload[70000], buf[70100];
    for (size_t i = 0; i < sizeof(payload); i++)
        payload[i] = (uint8_t)(i * 31 + 7);

    static const size_t sizes[] = {0, 1, 125, 126, 127, 65535, 65536, 70000};
    for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
        ws_parser_init(&wp, &lim);
        size_t n = mk(buf, true, WS_OP_BINARY, payload, sizes[k]);
        size_t hdr = sizes[k] < 126 ? 6 : sizes[k] <= 0xffff ? 8 : 14;
        CHECK_EQ(n, hdr + sizes[k]);
        CHECK_EQ(feed(buf, n), n);
        CHECK_EQ(fr.payload_len, sizes[k]);
        CHECK(memcmp(fr.payload, payload, sizes[k]) == 0);
        /* The header alone, and the frame one byte short, need more. */
        CHECK_EQ(feed(buf, hdr), sizes[k] ? -2 : (int)hdr);
        if (sizes[k]) CHECK_EQ(feed(buf, n - 1), -2);
    }
    /* Two frames back to back: one at a time. */
    ws_parser_init(&wp, &lim);
    size_t a = mk(buf, true, WS_OP_BINARY, "ab", 2);
    size_t b = mk(buf + a, true, WS_OP_TEXT, "cde", 3);
    CHECK_EQ(feed(buf, a + b), a);
    CHECK_EQ(feed(buf + a, b), b);
    CHECK(fr.payload_len == 3 && memcmp(fr.payload, "cde", 3) == 0);
}

/* refused: a fresh parser (or the given one) refuses buf with code and
 * reason, and stays failed. */
static void check_refused(const uint8_t *buf, size_t n, uint16_t code, const char *reason)
{
    CHECK_EQ(feed(buf, n), -1);
    CHECK_EQ(wp.close_code, code);
    CHECK_STR(wp.reason, reason);
    uint8_t ok[16];
    size_t m = mk(ok, true, WS_OP_PING, "", 0);
    CHECK_EQ(feed(ok, m), -1);
}

static void test_header_refusals(void)
{
    uint8_t buf[256], zero[200] = {0};
    size_t n;

    ws_parser_init(&wp, &lim);
    n = mk_full(buf, 0x81, false, 0, "Hello", 5);
    check_refused(buf, n, 1002, "client frame not masked");
    for (uint8_t rsv = 1; rsv < 8; rsv++) {
        ws_parser_init(&wp, &lim);
        n = mk_full(buf, (uint8_t)(0x81 | rsv << 4), true, 0, "Hello", 5);
        check_refused(buf, n, 1002, "RSV bits set");
    }
    static const uint8_t bad_ops[] = {3, 4, 5, 6, 7, 0xb, 0xc, 0xd, 0xe, 0xf};
    for (size_t i = 0; i < sizeof(bad_ops); i++) {
        ws_parser_init(&wp, &lim);
        n = mk_full(buf, (uint8_t)(0x80 | bad_ops[i]), true, 0, "", 0);
        check_refused(buf, n, 1002, "unknown opcode");
    }
    /* Refusals come from the first two bytes, before any payload. */
    ws_parser_init(&wp, &lim);
    buf[0] = 0x82;
    buf[1] = 0x05;
    check_refused(buf, 2, 1002, "client frame not masked");

    /* Control frames: at most 125 bytes, never fragmented. */
    ws_parser_init(&wp, &lim);
    n = mk(buf, true, WS_OP_PING, zero, 125);
    CHECK_EQ(feed(buf, n), n);
    n = mk_full(buf, 0x80 | WS_OP_PING, true, 0, zero, 126);
    check_refused(buf, 2, 1002, "control frame over 125 bytes");
    ws_parser_init(&wp, &lim);
    n = mk(buf, false, WS_OP_PING, "x", 1);
    check_refused(buf, n, 1002, "fragmented control frame");
    ws_parser_init(&wp, &lim);
    n = mk(buf, true, WS_OP_CLOSE, zero, 126);
    check_refused(buf, n, 1002, "control frame over 125 bytes");

    /* Lengths in their shortest form only, and never with the top bit. */
    ws_parser_init(&wp, &lim);
    n = mk_full(buf, 0x82, true, 16, zero, 125);
    check_refused(buf, n, 1002, "length not in shortest form");
    ws_parser_init(&wp, &lim);
    n = mk_full(buf, 0x82, true, 64, zero, 100);
    check_refused(buf, n, 1002, "length not in shortest form");
    ws_parser_init(&wp, &lim);
    uint8_t top[] = {0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 1};
    check_refused(top, sizeof(top), 1002, "length with the top bit set");
}

static void test_size_limits(void)
{
    static uint8_t buf[140000], zero[140000];
    size_t n;

    /* A frame over the limit is refused from its header: no payload needed. */
    ws_parser_init(&wp, &lim);
    n = mk(buf, true, WS_OP_BINARY, zero, 70001);
    CHECK_EQ(n, 14 + 70001);
    check_refused(buf, 10, 1009, "frame too big");
    ws_parser_init(&wp, &lim);
    uint8_t huge[] = {0x82, 0xff, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    check_refused(huge, sizeof(huge), 1009, "frame too big");

    /* A message over the limit across fragments, refused at the fragment
     * that crosses it; control frames in between do not count. */
    ws_parser_init(&wp, &lim);
    n = mk(buf, false, WS_OP_BINARY, zero, 60000);
    CHECK_EQ(feed(buf, n), n);
    n = mk(buf, true, WS_OP_PING, zero, 125);
    CHECK_EQ(feed(buf, n), n);
    n = mk(buf, false, WS_OP_CONTINUATION, zero, 40000);
    CHECK_EQ(feed(buf, n), n);
    n = mk(buf, true, WS_OP_CONTINUATION, zero, 1);
    check_refused(buf, n, 1009, "message too big");

    /* Exactly the limit passes, and the count restarts with each message. */
    ws_parser_init(&wp, &lim);
    for (int round = 0; round < 3; round++) {
        n = mk(buf, false, WS_OP_BINARY, zero, 50000);
        CHECK_EQ(feed(buf, n), n);
        n = mk(buf, true, WS_OP_CONTINUATION, zero, 50000);
        CHECK_EQ(feed(buf, n), n);
        CHECK(fr.msg_end);
    }
}

static void test_sequencing(void)
{
    uint8_t buf[64];
    size_t n;

    ws_parser_init(&wp, &lim);
    n = mk(buf, true, WS_OP_CONTINUATION, "x", 1);
    check_refused(buf, n, 1002, "continuation outside a message");

    ws_parser_init(&wp, &lim);
    n = mk(buf, false, WS_OP_BINARY, "x", 1);
    CHECK_EQ(feed(buf, n), n);
    n = mk(buf, true, WS_OP_TEXT, "y", 1);
    check_refused(buf, n, 1002, "new message before the last one ended");

    /* Control frames may come between fragments; the message goes on. */
    ws_parser_init(&wp, &lim);
    n = mk(buf, false, WS_OP_BINARY, "ab", 2);
    CHECK_EQ(feed(buf, n), n);
    n = mk(buf, true, WS_OP_PONG, "p", 1);
    CHECK_EQ(feed(buf, n), n);
    CHECK(fr.opcode == WS_OP_PONG && fr.msg_opcode == WS_OP_PONG && fr.msg_end);
    n = mk(buf, false, WS_OP_CONTINUATION, "", 0);
    CHECK_EQ(feed(buf, n), n);
    CHECK(fr.msg_opcode == WS_OP_BINARY && !fr.msg_end);
    n = mk(buf, true, WS_OP_CONTINUATION, "cd", 2);
    CHECK_EQ(feed(buf, n), n);
    CHECK(fr.msg_opcode == WS_OP_BINARY && fr.msg_end);
    /* ...and then a new message may start. */
    n = mk(buf, true, WS_OP_TEXT, "ok", 2);
    CHECK_EQ(feed(buf, n), n);
}

static void test_text_utf8(void)
{
    uint8_t buf[64];
    size_t n;

    ws_parser_init(&wp, &lim);
    n = mk(buf, true, WS_OP_TEXT, "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5", 11);
    CHECK_EQ(feed(buf, n), n);
    /* A character split across fragments is fine... */
    n = mk(buf, false, WS_OP_TEXT, "a\xe2\x82", 3);
    CHECK_EQ(feed(buf, n), n);
    n = mk(buf, true, WS_OP_CONTINUATION, "\xac", 1);
    CHECK_EQ(feed(buf, n), n);
    /* ...one left unfinished at the end of the message is not. */
    n = mk(buf, false, WS_OP_TEXT, "a", 1);
    CHECK_EQ(feed(buf, n), n);
    n = mk(buf, true, WS_OP_CONTINUATION, "\xe2\x82", 2);
    check_refused(buf, n, 1007, "text is not UTF-8");
    /* Invalid bytes fail at the fragment that holds them. */
    ws_parser_init(&wp, &lim);
    n = mk(buf, false, WS_OP_TEXT, "ok\xed\xa0\x80", 5);
    check_refused(buf, n, 1007, "text is not UTF-8");
    ws_parser_init(&wp, &lim);
    n = mk(buf, true, WS_OP_TEXT, "\xc0\xaf", 2);
    check_refused(buf, n, 1007, "text is not UTF-8");
    /* Binary messages are not checked. */
    ws_parser_init(&wp, &lim);
    n = mk(buf, true, WS_OP_BINARY, "\xc0\xaf", 2);
    CHECK_EQ(feed(buf, n), n);
}

static size_t mk_close(uint8_t *buf, uint16_t code, const char *reason)
{
    uint8_t p[125];
    size_t rl = strlen(reason);
    p[0] = (uint8_t)(code >> 8);
    p[1] = (uint8_t)code;
    memcpy(p + 2, reason, rl);
    return mk(buf, true, WS_OP_CLOSE, p, 2 + rl);
}

static void test_close(void)
{
    uint8_t buf[200];
    size_t n;

    ws_parser_init(&wp, &lim);
    n = mk(buf, true, WS_OP_CLOSE, "", 0);
    CHECK_EQ(feed(buf, n), n);
    CHECK_EQ(fr.close_code, WS_CLOSE_NO_STATUS);
    CHECK_EQ(fr.close_reason_len, 0);

    n = mk_close(buf, 1000, "bye \xf0\x9f\x91\x8b");
    CHECK_EQ(feed(buf, n), n);
    CHECK_EQ(fr.close_code, 1000);
    CHECK(fr.close_reason_len == 8 && memcmp(fr.close_reason, "bye \xf0\x9f\x91\x8b", 8) == 0);

    static const uint16_t good[] = {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010,
                                    1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        ws_parser_init(&wp, &lim);
        n = mk_close(buf, good[i], "");
        CHECK_EQ(feed(buf, n), n);
        CHECK_EQ(fr.close_code, good[i]);
        CHECK(ws_close_code_valid(good[i]));
    }
    static const uint16_t bad[] = {0, 999, 1004, 1005, 1006, 1015, 1016, 2000, 2999, 5000, 65535};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ws_parser_init(&wp, &lim);
        n = mk_close(buf, bad[i], "");
        check_refused(buf, n, 1002, "invalid close code");
        CHECK(!ws_close_code_valid(bad[i]));
    }
    ws_parser_init(&wp, &lim);
    n = mk(buf, true, WS_OP_CLOSE, "\x03", 1);
    check_refused(buf, n, 1002, "close frame of 1 byte");
    ws_parser_init(&wp, &lim);
    n = mk_close(buf, 1000, "\xff");
    check_refused(buf, n, 1007, "close reason is not UTF-8");
}

static void test_writers(void)
{
    uint8_t h[WS_SERVER_HEADER_BYTES_MAX];

    CHECK_EQ(ws_frame_header(h, WS_OP_BINARY, true, 0), 2);
    CHECK(h[0] == 0x82 && h[1] == 0);
    CHECK_EQ(ws_frame_header(h, WS_OP_TEXT, true, 125), 2);
    CHECK(h[0] == 0x81 && h[1] == 125);
    CHECK_EQ(ws_frame_header(h, WS_OP_BINARY, false, 126), 4);
    CHECK(h[0] == 0x02 && h[1] == 126 && h[2] == 0 && h[3] == 126);
    CHECK_EQ(ws_frame_header(h, WS_OP_CONTINUATION, true, 65535), 4);
    CHECK(h[0] == 0x80 && h[1] == 126 && h[2] == 0xff && h[3] == 0xff);
    CHECK_EQ(ws_frame_header(h, WS_OP_BINARY, true, 65536), 10);
    static const uint8_t want[] = {0x82, 127, 0, 0, 0, 0, 0, 1, 0, 0};
    CHECK(memcmp(h, want, 10) == 0);
    CHECK_EQ(ws_frame_header(h, WS_OP_BINARY, true, 0x0102030405060708ull), 10);
    static const uint8_t want2[] = {0x82, 127, 1, 2, 3, 4, 5, 6, 7, 8};
    CHECK(memcmp(h, want2, 10) == 0);
    CHECK_EQ(ws_frame_header(h, WS_OP_CLOSE, true, 2), 2);
    CHECK(h[0] == 0x88 && h[1] == 2);

    uint8_t p[WS_CONTROL_BYTES_MAX];
    CHECK_EQ(ws_close_payload(p, 1008, NULL), 2);
    CHECK(p[0] == 0x03 && p[1] == 0xf0);
    CHECK_EQ(ws_close_payload(p, 1000, "bye"), 5);
    CHECK(memcmp(p + 2, "bye", 3) == 0);

    /* A long reason is cut at a character boundary: 2-byte characters,
     * 123 bytes of room, so 61 characters (122 bytes). */
    char longr[400] = "";
    for (int i = 0; i < 130; i++)
        strcat(longr, "\xc3\xa9");
    size_t n = ws_close_payload(p, 1013, longr);
    CHECK_EQ(n, 124);
    struct json_utf8 u = {0};
    CHECK(json_utf8_feed(&u, p + 2, n - 2) && json_utf8_complete(&u));
    /* It is a valid close frame payload for our own parser too. */
    uint8_t frame[200];
    size_t fl = mk(frame, true, WS_OP_CLOSE, p, n);
    ws_parser_init(&wp, &lim);
    CHECK_EQ(feed(frame, fl), fl);
    CHECK_EQ(fr.close_code, 1013);
    CHECK_EQ(fr.close_reason_len, 122);
}

int main(void)
{
    T_RUN(test_accept_key);
    T_RUN(test_handshake_ok);
    T_RUN(test_handshake_refusals);
    T_RUN(test_rfc_examples);
    T_RUN(test_lengths);
    T_RUN(test_header_refusals);
    T_RUN(test_size_limits);
    T_RUN(test_sequencing);
    T_RUN(test_text_utf8);
    T_RUN(test_close);
    T_RUN(test_writers);
    T_DONE();
}
