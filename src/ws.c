/* ws: WebSocket handshake, client frame parser, server frame headers.
 * Frames come from the network: every length is checked before it is
 * used, and the parser never reads past the caller's length. */
#include "ws.h"

#include "b64.h"

#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>

static const char ws_guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/* Handshake -------------------------------------------------------------- */

/* key_valid: base64 of exactly 16 bytes is 22 alphabet characters and "=="
 * (RFC 6455 4.1, item 7). The last character carries 2 bits of padding;
 * they are not required to be zero. */
static bool key_valid(const char *k, size_t n)
{
    if (n != WS_KEY_CHARS || k[22] != '=' || k[23] != '=') return false;
    for (size_t i = 0; i < 22; i++)
        if (!b64_is_char(B64_STD, k[i])) return false;
    return true;
}

/* count_headers: how many fields are named <name>; a repeated key or
 * version is ambiguous and refused. */
static size_t count_headers(const struct http_request *req, const char *name)
{
    size_t n = strlen(name), count = 0;

    for (size_t i = 0; i < req->headers_len; i++)
        if (req->headers[i].name_len == n && strncasecmp(req->headers[i].name, name, n) == 0)
            count++;
    return count;
}

int ws_handshake_check(const struct http_request *req, const char **reason)
{
    const struct http_header *h;

    if (!http_method_is(req, "GET")) {
        *reason = "WebSocket handshake must be GET";
        return 405;
    }
    if (req->minor_version < 1) {
        *reason = "WebSocket needs HTTP/1.1";
        return 400;
    }
    if (!http_find_header(req, "Host")) {
        *reason = "missing Host";
        return 400;
    }
    if (!http_header_has_token(http_find_header(req, "Upgrade"), "websocket")) {
        *reason = "missing Upgrade: websocket";
        return 400;
    }
    if (!http_header_has_token(http_find_header(req, "Connection"), "upgrade")) {
        *reason = "Connection does not list upgrade";
        return 400;
    }
    h = http_find_header(req, "Sec-WebSocket-Version");
    if (!h || count_headers(req, "Sec-WebSocket-Version") != 1 || h->value_len != 2 ||
        memcmp(h->value, "13", 2) != 0) {
        *reason = "Sec-WebSocket-Version must be 13";
        return 426;
    }
    h = http_find_header(req, "Sec-WebSocket-Key");
    if (!h || count_headers(req, "Sec-WebSocket-Key") != 1 || !key_valid(h->value, h->value_len)) {
        *reason = "Sec-WebSocket-Key must be base64 of 16 bytes";
        return 400;
    }
    *reason = NULL;
    return 0;
}

const char *ws_refusal_headers(int status)
{
    if (status == 405) return "Allow: GET\r\n";
    if (status == 426) return "Sec-WebSocket-Version: 13\r\nUpgrade: websocket\r\n";
    return "";
}

int ws_accept_key(const char *key, size_t key_len, char out[WS_ACCEPT_CHARS + 1])
{
    uint8_t digest[EVP_MAX_MD_SIZE];
    unsigned digest_len = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha1(), NULL) &&
             EVP_DigestUpdate(ctx, key, key_len) &&
             EVP_DigestUpdate(ctx, ws_guid, sizeof(ws_guid) - 1) &&
             EVP_DigestFinal_ex(ctx, digest, &digest_len) && digest_len == 20;

    EVP_MD_CTX_free(ctx);
    if (!ok) return -EIO;
    return b64_encode(B64_STD, digest, 20, out, WS_ACCEPT_CHARS + 1) == WS_ACCEPT_CHARS ? 0 : -EIO;
}

int ws_handshake_response(const struct http_request *req, char *out, size_t cap)
{
    const struct http_header *key = http_find_header(req, "Sec-WebSocket-Key");
    char accept[WS_ACCEPT_CHARS + 1];

    assert(key && "call ws_handshake_check first");
    if (ws_accept_key(key->value, key->value_len, accept) < 0) return -EIO;
    int n = snprintf(out, cap,
                     "HTTP/1.1 101 Switching Protocols\r\n"
                     "Upgrade: websocket\r\n"
                     "Connection: Upgrade\r\n"
                     "Sec-WebSocket-Accept: %s\r\n"
                     "\r\n",
                     accept);
    if (n < 0 || (size_t)n >= cap) return -ENOBUFS;
    return n;
}

/* Frames ----------------------------------------------------------------- */

void ws_parser_init(struct ws_parser *p, const struct ws_limits *lim)
{
    /* ws_parse_frame returns a frame's size as an int. */
    assert(lim->frame_bytes_max <= INT_MAX - WS_CLIENT_HEADER_BYTES_MAX);
    memset(p, 0, sizeof(*p));
    p->lim = *lim;
}

static int refuse(struct ws_parser *p, uint16_t code, const char *reason)
{
    p->failed = true;
    p->close_code = code;
    p->reason = reason;
    return -1;
}

bool ws_close_code_valid(uint16_t code)
{
    /* 1004 is reserved, 1005, 1006 and 1015 are never put on the wire,
     * 1016-2999 are for future standards, 3000-4999 for registered and
     * private use. */
    return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
           (code >= 3000 && code <= 4999);
}

/* unmask: XOR with the 4-byte key, which repeats from the payload's start. */
static void unmask(uint8_t *p, size_t n, const uint8_t key[4])
{
    for (size_t i = 0; i < n; i++)
        p[i] ^= key[i & 3];
}

/* check_close: the payload of a close frame (already unmasked). */
static int check_close(struct ws_parser *p, struct ws_frame *f)
{
    f->close_code = WS_CLOSE_NO_STATUS;
    f->close_reason = NULL;
    f->close_reason_len = 0;
    if (f->payload_len == 0) return 0;
    if (f->payload_len == 1) return refuse(p, WS_CLOSE_PROTOCOL, "close frame of 1 byte");
    f->close_code = (uint16_t)(f->payload[0] << 8 | f->payload[1]);
    if (!ws_close_code_valid(f->close_code))
        return refuse(p, WS_CLOSE_PROTOCOL, "invalid close code");
    f->close_reason = f->payload + 2;
    f->close_reason_len = f->payload_len - 2;
    struct json_utf8 u = {0};
    if (!json_utf8_feed(&u, f->close_reason, f->close_reason_len) || !json_utf8_complete(&u))
        return refuse(p, WS_CLOSE_INVALID_DATA, "close reason is not UTF-8");
    return 0;
}

/* Each check is made as soon as the bytes it needs are in, so a hostile
 * header is refused without waiting for (or buffering) its payload. */
int ws_parse_frame(struct ws_parser *p, uint8_t *buf, size_t len, struct ws_frame *f)
{
    if (p->failed) return -1;
    if (len < 2) return -2;

    uint8_t b0 = buf[0], b1 = buf[1], op = b0 & 0x0f;
    bool fin = b0 & 0x80, control = op & 0x08;

    if (b0 & 0x70) return refuse(p, WS_CLOSE_PROTOCOL, "RSV bits set");
    if (op != WS_OP_CONTINUATION && op != WS_OP_TEXT && op != WS_OP_BINARY && op != WS_OP_CLOSE &&
        op != WS_OP_PING && op != WS_OP_PONG)
        return refuse(p, WS_CLOSE_PROTOCOL, "unknown opcode");
    if (!(b1 & 0x80)) return refuse(p, WS_CLOSE_PROTOCOL, "client frame not masked");
    if (control && !fin) return refuse(p, WS_CLOSE_PROTOCOL, "fragmented control frame");
    if (op == WS_OP_CONTINUATION && !p->in_message)
        return refuse(p, WS_CLOSE_PROTOCOL, "continuation outside a message");
    if ((op == WS_OP_TEXT || op == WS_OP_BINARY) && p->in_message)
        return refuse(p, WS_CLOSE_PROTOCOL, "new message before the last one ended");

    uint64_t plen = b1 & 0x7f;
    size_t hlen = 2;
    if (control && plen > WS_CONTROL_BYTES_MAX)
        return refuse(p, WS_CLOSE_PROTOCOL, "control frame over 125 bytes");
    if (plen == 126) {
        if (len < 4) return -2;
        plen = (uint64_t)buf[2] << 8 | buf[3];
        if (plen < 126) return refuse(p, WS_CLOSE_PROTOCOL, "length not in shortest form");
        hlen = 4;
    } else if (plen == 127) {
        if (len < 10) return -2;
        plen = 0;
        for (int i = 0; i < 8; i++)
            plen = plen << 8 | buf[2 + i];
        if (plen >> 63) return refuse(p, WS_CLOSE_PROTOCOL, "length with the top bit set");
        if (plen <= 0xffff) return refuse(p, WS_CLOSE_PROTOCOL, "length not in shortest form");
        hlen = 10;
    }
    if (plen > p->lim.frame_bytes_max) return refuse(p, WS_CLOSE_TOO_BIG, "frame too big");
    uint64_t msg_bytes = (op == WS_OP_CONTINUATION ? p->msg_bytes : 0) + plen;
    if (!control && msg_bytes > p->lim.message_bytes_max)
        return refuse(p, WS_CLOSE_TOO_BIG, "message too big");

    if (len < hlen + 4) return -2;
    const uint8_t *key = buf + hlen;
    hlen += 4;
    if (len - hlen < plen) return -2;

    f->opcode = op;
    f->fin = fin;
    f->payload = buf + hlen;
    f->payload_len = (size_t)plen;
    f->close_code = 0;
    f->close_reason = NULL;
    f->close_reason_len = 0;
    unmask(f->payload, f->payload_len, key);

    if (control) {
        f->msg_opcode = op;
        f->msg_end = true;
        if (op == WS_OP_CLOSE && check_close(p, f) < 0) return -1;
        return (int)(hlen + plen);
    }

    if (op != WS_OP_CONTINUATION) {
        p->msg_opcode = op;
        memset(&p->utf8, 0, sizeof(p->utf8));
    }
    if (p->msg_opcode == WS_OP_TEXT) {
        if (!json_utf8_feed(&p->utf8, f->payload, f->payload_len) ||
            (fin && !json_utf8_complete(&p->utf8)))
            return refuse(p, WS_CLOSE_INVALID_DATA, "text is not UTF-8");
    }
    p->in_message = !fin;
    p->msg_bytes = fin ? 0 : msg_bytes;
    f->msg_opcode = p->msg_opcode;
    f->msg_end = fin;
    return (int)(hlen + plen);
}

size_t ws_frame_header(uint8_t out[WS_SERVER_HEADER_BYTES_MAX], uint8_t opcode, bool fin,
                       uint64_t payload_len)
{
    assert(!(opcode & 0x08) || (fin && payload_len <= WS_CONTROL_BYTES_MAX));
    assert(payload_len >> 63 == 0);
    out[0] = (uint8_t)((fin ? 0x80 : 0) | (opcode & 0x0f));
    if (payload_len < 126) {
        out[1] = (uint8_t)payload_len;
        return 2;
    }
    if (payload_len <= 0xffff) {
        out[1] = 126;
        out[2] = (uint8_t)(payload_len >> 8);
        out[3] = (uint8_t)payload_len;
        return 4;
    }
    out[1] = 127;
    for (int i = 0; i < 8; i++)
        out[2 + i] = (uint8_t)(payload_len >> (56 - 8 * i));
    return 10;
}

size_t ws_close_payload(uint8_t out[WS_CONTROL_BYTES_MAX], uint16_t code, const char *reason)
{
    size_t n = 0, room = WS_CONTROL_BYTES_MAX - 2;

    out[0] = (uint8_t)(code >> 8);
    out[1] = (uint8_t)code;
    if (reason) {
        /* Whole characters only, so the reason stays valid UTF-8. */
        const uint8_t *r = (const uint8_t *)reason;
        size_t total = strlen(reason);
        while (n < total) {
            size_t seq = json_utf8_seq(r + n, total - n);
            if (seq == 0 || n + seq > room) break;
            n += seq;
        }
        memcpy(out + 2, reason, n);
    }
    return 2 + n;
}
