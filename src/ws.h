/* ws: the server side of WebSocket (RFC 6455), without the connection.
 *
 * Handshake: checking a parsed upgrade request, computing the accept key,
 * writing the 101 answer. Frames: a parser for client frames that enforces
 * every rule of section 5 (masking, minimal lengths, RSV bits, opcodes,
 * control-frame size and fragmentation, message sequencing, close codes,
 * UTF-8 of text), with limits on frame and message bytes; and a writer for
 * server frame headers, so one payload can be shared by many connections as
 * "header iovec + shared payload iovec".
 *
 * Nothing here allocates or does I/O. No extension (permessage-deflate) and
 * no subprotocol are negotiated.
 */
#ifndef PODIUM_WS_H
#define PODIUM_WS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "http.h"
#include "json.h"

#define WS_KEY_CHARS 24               /* Sec-WebSocket-Key: base64 of 16 bytes */
#define WS_ACCEPT_CHARS 28            /* Sec-WebSocket-Accept: base64 of a SHA-1 */
#define WS_CONTROL_BYTES_MAX 125      /* payload of a control frame (RFC 6455 5.5) */
#define WS_CLIENT_HEADER_BYTES_MAX 14 /* 2 + 8 (64-bit length) + 4 (mask) */
#define WS_SERVER_HEADER_BYTES_MAX 10 /* 2 + 8, servers never mask */
#define WS_RESPONSE_BYTES_MAX 160     /* the 101 answer ws_handshake_response writes */

enum ws_opcode {
    WS_OP_CONTINUATION = 0x0,
    WS_OP_TEXT = 0x1,
    WS_OP_BINARY = 0x2,
    WS_OP_CLOSE = 0x8,
    WS_OP_PING = 0x9,
    WS_OP_PONG = 0xa,
};

/* Close codes (RFC 6455 7.4.1) the server sends. */
enum ws_close_code {
    WS_CLOSE_NORMAL = 1000,
    WS_CLOSE_GOING_AWAY = 1001,
    WS_CLOSE_PROTOCOL = 1002,
    WS_CLOSE_UNSUPPORTED = 1003, /* e.g. not Opus */
    WS_CLOSE_NO_STATUS = 1005,   /* never sent: "the close frame had no code" */
    WS_CLOSE_INVALID_DATA = 1007,
    WS_CLOSE_POLICY = 1008,
    WS_CLOSE_TOO_BIG = 1009,
    WS_CLOSE_INTERNAL = 1011,
    WS_CLOSE_TRY_AGAIN = 1013,
};

/* ws_handshake_check: is <req> a WebSocket opening handshake we accept
 * (RFC 6455 4.2.1)? It must be GET, HTTP/1.1, carry Host, Upgrade: websocket and
 * a Connection header listing "upgrade" (both case-insensitive), exactly
 * one Sec-WebSocket-Version equal to 13, and exactly one Sec-WebSocket-Key
 * that is base64 of 16 bytes.
 * Returns 0, or the HTTP status to answer with (405 not GET, 426 wrong
 * version, 400 anything else) and a one-line *reason. Add
 * ws_refusal_headers(status) to that answer. Origin, the path and the
 * token are the caller's policy, not checked here. */
int ws_handshake_check(const struct http_request *req, const char **reason);

/* ws_refusal_headers: header lines a refusal must carry ("Allow: GET\r\n"
 * for 405, "Sec-WebSocket-Version: 13\r\n" for 426), or "". Never NULL. */
const char *ws_refusal_headers(int status);

/* ws_accept_key: Sec-WebSocket-Accept for <key> (as sent, key_len bytes):
 * base64(SHA-1(key + the RFC's GUID)), NUL-terminated into out. Returns 0,
 * or -EIO when libcrypto fails. */
int ws_accept_key(const char *key, size_t key_len, char out[WS_ACCEPT_CHARS + 1]);

/* ws_handshake_response: writes the 101 Switching Protocols answer for a
 * request that passed ws_handshake_check into out[0..cap). Returns its
 * length, -ENOBUFS when cap is too small (WS_RESPONSE_BYTES_MAX always
 * fits), -EIO when hashing fails. */
int ws_handshake_response(const struct http_request *req, char *out, size_t cap);

struct ws_limits {
    uint64_t frame_bytes_max;   /* payload of one frame */
    uint64_t message_bytes_max; /* payload of all frames of one message */
};

/* Client frame parser. State that spans frames: the message being
 * assembled (its opcode and size so far) and, for text, the UTF-8 decoder,
 * since a character may straddle frames. */
struct ws_parser {
    struct ws_limits lim;
    bool in_message;    /* a fragmented message is under way */
    uint8_t msg_opcode; /* its opcode: WS_OP_TEXT or WS_OP_BINARY */
    uint64_t msg_bytes; /* payload bytes of it so far */
    struct json_utf8 utf8;
    bool failed;
    uint16_t close_code; /* after -1: the code to close with */
    const char *reason;  /* after -1: why, one line, also fit for the close frame */
};

struct ws_frame {
    uint8_t opcode;     /* as sent (WS_OP_CONTINUATION for later fragments) */
    uint8_t msg_opcode; /* data frames: the message's opcode; control frames: opcode */
    bool fin;
    bool msg_end;     /* data frames: this frame ends the message */
    uint8_t *payload; /* unmasked in place, inside the caller's buffer */
    size_t payload_len;
    /* Close frames: the code (WS_CLOSE_NO_STATUS when the frame had none)
     * and the UTF-8 reason, a part of payload. */
    uint16_t close_code;
    const uint8_t *close_reason;
    size_t close_reason_len;
};

/* ws_parser_init: <lim>->frame_bytes_max must be at most
 * INT_MAX - WS_CLIENT_HEADER_BYTES_MAX (asserted). */
void ws_parser_init(struct ws_parser *p, const struct ws_limits *lim);

/* ws_parse_frame: parses one client frame at buf[0..len). Returns the
 * frame's size (>0) with *f filled and its payload unmasked in place;
 * -2 when buf holds only part of a frame (the header, once complete, is
 * judged at once: a frame over frame_bytes_max is refused before its
 * payload arrives); -1 for a protocol violation, with p->close_code and
 * p->reason set. After -1 the parser stays failed: close the connection
 * with that code. A whole frame must fit in the caller's buffer, so size
 * it to WS_CLIENT_HEADER_BYTES_MAX + frame_bytes_max.
 * Refuses (1002 unless said): unmasked frames; RSV bits; unknown opcodes;
 * a length not in its shortest form or with the top bit set; control frames
 * over 125 bytes or fragmented; a continuation outside a message and a new
 * message inside one; a close payload of 1 byte or with a code that may not
 * be sent (outside 1000-1003, 1007-1014, 3000-4999); frames over
 * frame_bytes_max and messages over message_bytes_max (1009); text or close
 * reasons that are not UTF-8 (1007), checked per frame as they arrive. */
int ws_parse_frame(struct ws_parser *p, uint8_t *buf, size_t len, struct ws_frame *f);

/* ws_close_code_valid: may a peer send <code> in a close frame? */
bool ws_close_code_valid(uint16_t code);

/* ws_frame_header: writes the header of an unmasked server frame carrying
 * <payload_len> bytes into out. Returns its length (2, 4 or 10). A control
 * frame must have fin set and at most WS_CONTROL_BYTES_MAX bytes (asserted). */
size_t ws_frame_header(uint8_t out[WS_SERVER_HEADER_BYTES_MAX], uint8_t opcode, bool fin,
                       uint64_t payload_len);

/* ws_close_payload: the payload of a close frame: <code> then <reason> cut
 * to fit 125 bytes at a UTF-8 character boundary (NULL: none). Returns its
 * length (2..125). */
size_t ws_close_payload(uint8_t out[WS_CONTROL_BYTES_MAX], uint16_t code, const char *reason);

#endif
