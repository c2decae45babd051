/* fuzz_ws: libFuzzer driver for src/ws.c.
 *
 * Input layout: byte 0 picks the mode and the limits, bytes 1-2 seed the
 * split points; the rest is either an HTTP request (odd byte 0: the
 * opening handshake) or a stream of client frames (even byte 0).
 *
 * Handshake: an accepted request must get a 101 answer that fits
 * WS_RESPONSE_BYTES_MAX; a refusal must be 400, 405 or 426 with a reason.
 *
 * Frames: the stream is parsed twice, whole and as it would arrive from a
 * socket in random pieces, and both runs must give the same frames and the
 * same end. Each frame is checked against what the parser promises (sizes
 * within the limits, control frames short and final, close codes valid,
 * text messages valid UTF-8 once complete, message sizes within the limit)
 * and a refusal must carry 1002, 1007 or 1009 and stay refused. Close
 * frames are written back with ws_close_payload and ws_frame_header and
 * must parse again. Any broken promise traps.
 */
#include "ws.h"

#include <stdlib.h>
#include <string.h>

#define ASSERT(cond)                                                                               \
    do {                                                                                           \
        if (!(cond)) __builtin_trap();                                                             \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FRAMES_MAX 4096

struct seen {
    int ret;
    uint8_t opcode, msg_opcode;
    bool fin;
    size_t payload_len;
    uint32_t payload_sum;
    uint16_t close_code;
};

static struct seen whole[FRAMES_MAX], pieces[FRAMES_MAX];

/* record: padding zeroed too, since runs are compared with memcmp. */
static void record(struct seen *s, int ret, const struct ws_frame *f, uint16_t code)
{
    memset(s, 0, sizeof(*s));
    s->ret = ret;
    s->close_code = code;
    if (!f) return;
    s->opcode = f->opcode;
    s->msg_opcode = f->msg_opcode;
    s->fin = f->fin;
    s->payload_len = f->payload_len;
    s->close_code = f->close_code;
    for (size_t i = 0; i < f->payload_len; i++)
        s->payload_sum = s->payload_sum * 31 + f->payload[i];
}

static uint32_t next_rand(uint32_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 17;
    *s ^= *s << 5;
    return *s;
}

static void fuzz_handshake(const uint8_t *data, size_t size)
{
    static const struct http_limits lim = {8192, 2048, HTTP_HEADERS_MAX};
    struct http_request req;
    char *buf = malloc(size ? size : 1);
    memcpy(buf, data, size);

    if (http_parse_request(buf, size, &lim, &req) > 0) {
        const char *reason = NULL;
        int st = ws_handshake_check(&req, &reason);
        if (st == 0) {
            char out[WS_RESPONSE_BYTES_MAX];
            int n = ws_handshake_response(&req, out, sizeof(out));
            ASSERT(n > 0 && (size_t)n < sizeof(out));
            const char *acc = strstr(out, "Sec-WebSocket-Accept: ");
            ASSERT(acc && strlen(acc) == 22 + WS_ACCEPT_CHARS + 4);
        } else {
            ASSERT(st == 400 || st == 405 || st == 426);
            ASSERT(reason && *reason);
            ASSERT(ws_refusal_headers(st) != NULL);
        }
    }
    free(buf);
}

static bool utf8_valid(const uint8_t *p, size_t n)
{
    struct json_utf8 u = {0};
    return json_utf8_feed(&u, p, n) && json_utf8_complete(&u);
}

/* roundtrip_close: the close frame written back by our writers, masked as
 * a client would, parses to the same code. */
static void roundtrip_close(const struct ws_limits *lim, const struct ws_frame *f)
{
    char reason[WS_CONTROL_BYTES_MAX + 1];
    uint8_t p[WS_CONTROL_BYTES_MAX], frame[WS_CLIENT_HEADER_BYTES_MAX + WS_CONTROL_BYTES_MAX];
    struct ws_parser wp;
    struct ws_frame back;

    if (f->close_code == WS_CLOSE_NO_STATUS) return;
    size_t rl = f->close_reason_len;
    memcpy(reason, f->close_reason, rl);
    reason[rl] = '\0';
    size_t n = ws_close_payload(p, f->close_code, reason);
    ASSERT(n >= 2 && n <= 2 + strlen(reason));
    size_t h = ws_frame_header(frame, WS_OP_CLOSE, true, n);
    frame[1] |= 0x80;
    memcpy(frame + h, "\0\0\0\0", 4); /* a zero mask: the payload as it is */
    memcpy(frame + h + 4, p, n);
    ws_parser_init(&wp, lim);
    ASSERT(ws_parse_frame(&wp, frame, h + 4 + n, &back) == (int)(h + 4 + n));
    ASSERT(back.close_code == f->close_code);
}

/* run: parses buf[0..len) frame by frame, handing the parser at most
 * <step> more bytes at a time when step is not 0 (0: everything at once).
 * Records what it saw in out; returns the number of entries. */
static size_t run(const struct ws_limits *lim, const uint8_t *data, size_t len, uint32_t seed,
                  struct seen *out, bool check)
{
    struct ws_parser wp;
    struct ws_frame f;
    struct json_utf8 text = {0};
    uint64_t msg = 0;
    size_t off = 0, avail = seed ? 0 : len, count = 0;
    uint8_t *buf = malloc(len ? len : 1);
    memcpy(buf, data, len);

    ws_parser_init(&wp, lim);
    while (count < FRAMES_MAX) {
        /* A heap copy of exactly the available bytes, so ASan sees reads
         * past what has "arrived". */
        size_t have = avail - off;
        uint8_t *win = malloc(have ? have : 1);
        memcpy(win, buf + off, have);
        int r = ws_parse_frame(&wp, win, have, &f);
        if (r == -2) {
            free(win);
            if (avail == len) {
                record(&out[count++], -2, NULL, 0);
                break;
            }
            avail += 1 + next_rand(&seed) % 64;
            if (avail > len) avail = len;
            continue;
        }
        if (r == -1) {
            free(win);
            ASSERT(wp.close_code == 1002 || wp.close_code == 1007 || wp.close_code == 1009);
            ASSERT(wp.reason && *wp.reason);
            ASSERT(ws_parse_frame(&wp, buf + off, len - off, &f) == -1);
            record(&out[count++], -1, NULL, wp.close_code);
            break;
        }
        ASSERT(r > 0 && (size_t)r <= have);
        ASSERT(f.payload >= win && f.payload + f.payload_len == win + r);
        ASSERT(f.payload_len <= lim->frame_bytes_max);
        record(&out[count], r, &f, 0);
        if (f.opcode & 8) {
            ASSERT(f.fin && f.msg_end && f.payload_len <= WS_CONTROL_BYTES_MAX);
            ASSERT(f.msg_opcode == f.opcode);
            if (f.opcode == WS_OP_CLOSE) {
                ASSERT(f.close_code == WS_CLOSE_NO_STATUS || ws_close_code_valid(f.close_code));
                ASSERT(utf8_valid(f.close_reason ? f.close_reason : f.payload, f.close_reason_len));
                if (check) roundtrip_close(lim, &f);
            }
        } else {
            ASSERT(f.msg_opcode == WS_OP_TEXT || f.msg_opcode == WS_OP_BINARY);
            ASSERT(f.msg_end == f.fin);
            if (f.opcode != WS_OP_CONTINUATION) {
                msg = 0;
                memset(&text, 0, sizeof(text));
            }
            msg += f.payload_len;
            ASSERT(msg <= lim->message_bytes_max);
            if (f.msg_opcode == WS_OP_TEXT) {
                ASSERT(json_utf8_feed(&text, f.payload, f.payload_len));
                if (f.fin) ASSERT(json_utf8_complete(&text));
            }
        }
        count++;
        free(win);
        off += (size_t)r;
        if (avail < off) avail = off;
    }
    free(buf);
    return count;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3) return 0;
    uint8_t mode = data[0];
    uint32_t seed = (uint32_t)data[1] << 8 | data[2] | 0x10000u;
    data += 3;
    size -= 3;

    if (mode & 1) {
        fuzz_handshake(data, size);
        return 0;
    }
    static const uint64_t frame_max[8] = {0, 1, 125, 126, 1282, 65535, 65536, 1u << 20};
    static const uint64_t msg_max[4] = {0, 200, 70000, 1u << 24};
    struct ws_limits lim = {frame_max[mode >> 1 & 7], msg_max[mode >> 4 & 3]};
    size_t a = run(&lim, data, size, 0, whole, true);
    size_t b = run(&lim, data, size, seed, pieces, false);
    ASSERT(a == b);
    ASSERT(memcmp(whole, pieces, a * sizeof(whole[0])) == 0);
    return 0;
}
