/* stage: WebSocket peers of a space's stage. */
#include "stage.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "conn.h"
#include "http.h"
#include "log.h"
#include "server.h"
#include "space.h"

#define STAGE_AUDIO 0x01

static void flush_out(struct stage_peer *p)
{
    struct conn *c = p->conn;
    while (p->out_len) {
        ssize_t n = send(c->io.fd, p->out, p->out_len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno == EAGAIN) return;
        if (n <= 0) {
            conn_close(c);
            return;
        }
        memmove(p->out, p->out + n, p->out_len - (size_t)n);
        p->out_len -= (uint32_t)n;
    }
    /* The close frame is out: half-close and drain, so unread input does
     * not turn our close into a reset that loses it. The peer's EOF or the
     * linger deadline ends the connection. */
    if (p->closing && !p->shut) {
        p->shut = true;
        shutdown(c->io.fd, SHUT_WR);
    }
}

/* Queues one whole frame; false (nothing queued) when it does not fit. */
static bool queue_frame(struct stage_peer *p, uint8_t opcode, const void *a, size_t al,
                        const void *b, size_t bl)
{
    uint8_t hdr[WS_SERVER_HEADER_BYTES_MAX];
    size_t hl = ws_frame_header(hdr, opcode, true, al + bl);
    size_t need = hl + al + bl;
    if (p->out_len + need > STAGE_OUT_BYTES_MAX) return false;
    if (p->out_len + need > p->out_cap) {
        uint32_t cap = p->out_cap ? p->out_cap : 2048;
        while (cap < p->out_len + need)
            cap *= 2;
        if (cap > STAGE_OUT_BYTES_MAX) cap = STAGE_OUT_BYTES_MAX;
        uint8_t *np = realloc(p->out, cap);
        if (!np) return false;
        p->out = np;
        p->out_cap = cap;
    }
    memcpy(p->out + p->out_len, hdr, hl);
    if (al) memcpy(p->out + p->out_len + hl, a, al);
    if (bl) memcpy(p->out + p->out_len + hl + al, b, bl);
    p->out_len += (uint32_t)need;
    return true;
}

void stage_send_audio(struct stage_peer *p, uint32_t ts, const uint8_t *pkt, uint32_t len)
{
    if (p->detached) return;
    uint8_t ah[STAGE_AUDIO_HEADER_BYTES] = {
        STAGE_AUDIO,         (uint8_t)(p->out_seq >> 8), (uint8_t)p->out_seq, (uint8_t)(ts >> 24),
        (uint8_t)(ts >> 16), (uint8_t)(ts >> 8),         (uint8_t)ts};
    if (p->closing) return;
    p->out_seq++;
    /* Audio is only worth sending while the peer keeps up: a frame that
     * would wait behind more than a few others is dropped whole. */
    if (p->out_len > STAGE_OUT_BYTES_MAX / 4 ||
        !queue_frame(p, WS_OP_BINARY, ah, sizeof(ah), pkt, len)) {
        p->conn->srv->m.stage_out_drops++;
        p->audio_dropped++;
        return;
    }
    flush_out(p);
}

void stage_send_text(struct stage_peer *p, const char *json, size_t len)
{
    if (p->closing || p->detached) return;
    if (!queue_frame(p, WS_OP_TEXT, json, len, NULL, 0)) {
        stage_close(p, WS_CLOSE_POLICY, "not reading its events");
        return;
    }
    flush_out(p);
}

void stage_close(struct stage_peer *p, uint16_t code, const char *reason)
{
    uint8_t pl[WS_CONTROL_BYTES_MAX];
    if (p->closing || p->detached) return;
    size_t n = ws_close_payload(pl, code, reason);
    /* The close frame goes even past the output bound: it is the last. */
    p->out_len = p->out_len > STAGE_OUT_BYTES_MAX - 256 ? 0 : p->out_len;
    queue_frame(p, WS_OP_CLOSE, pl, n, NULL, 0);
    p->closing = true;
    /* On the linger FIFO: a peer that does not take its close frame is
     * dropped at the linger deadline. */
    p->conn->since_ms = loop_now_ms(p->conn->srv->loop);
    conn_list_append(&p->conn->srv->lingering, p->conn);
    space_peer_gone(p);
    p->space = NULL;
    flush_out(p);
}

void stage_tick(struct stage_peer *p, uint64_t now_ms)
{
    if (p->closing) return; /* the linger deadline takes care of it */
    if (now_ms - p->last_rx_ms >= STAGE_IDLE_MS_MAX) {
        stage_close(p, 4005, "timed out");
        return;
    }
    if (now_ms - p->last_rx_ms >= STAGE_PING_MS && now_ms - p->last_ping_ms >= STAGE_PING_MS) {
        p->last_ping_ms = now_ms;
        queue_frame(p, WS_OP_PING, NULL, 0, NULL, 0);
        flush_out(p);
    }
}

void stage_detach(struct stage_peer *p)
{
    struct loop *loop = p->conn->srv->loop;
    p->detached = true;
    if (p->space) space_peer_gone(p);
    p->space = NULL;
    free(p->out);
    p->out = NULL;
    p->out_len = p->out_cap = 0;
    /* Events to several peers may hold a pointer to this one until the
     * loop iteration ends (as the connection itself). */
    if (loop_defer(loop, free, p) < 0) free(p);
}

/* Per peer. Audio: one 20 ms packet is 50 a second; twice that, with a
 * second of burst, lets a client catch up after a stall. Commands: a person
 * clicking, with room for a client's start-up burst. */
static const struct tbucket_conf audio_rate = {.rate_mtok_per_s = 100000, .burst = 100};
static const struct tbucket_conf text_rate = {.rate_mtok_per_s = 10000, .burst = 30};

/* One complete frame from the peer. false when the peer was closed. */
static bool on_frame(struct stage_peer *p, const struct ws_frame *f)
{
    struct server *srv = p->conn->srv;
    switch (f->opcode) {
    case WS_OP_PING:
        queue_frame(p, WS_OP_PONG, f->payload, f->payload_len, NULL, 0);
        flush_out(p);
        return !p->conn->closed;
    case WS_OP_PONG:
        return true;
    case WS_OP_CLOSE:
        stage_close(p, WS_CLOSE_NORMAL, "bye");
        return false;
    default:
        break;
    }
    if (!f->fin || f->opcode == WS_OP_CONTINUATION) {
        /* Speakers send one frame per message: audio is small. */
        srv->m.stage_bad_messages++;
        stage_close(p, WS_CLOSE_PROTOCOL, "fragmented messages are not used here");
        return false;
    }
    if (f->opcode == WS_OP_TEXT) {
        if (f->payload_len > STAGE_TEXT_BYTES_MAX) {
            stage_close(p, WS_CLOSE_TOO_BIG, "command too large");
            return false;
        }
        if (!tbucket_take(&p->text_tb, &text_rate, loop_now_ms(srv->loop), 1)) {
            srv->m.stage_bad_messages++;
            stage_close(p, WS_CLOSE_POLICY, "too many commands");
            return false;
        }
        char json[STAGE_TEXT_BYTES_MAX + 1];
        memcpy(json, f->payload, f->payload_len);
        space_peer_command(p, json, f->payload_len);
        return !p->conn->closed && !p->closing;
    }
    /* Binary: [0x01, seq:u16, ts:u32, Opus packet]. */
    const uint8_t *b = f->payload;
    if (f->payload_len < STAGE_AUDIO_HEADER_BYTES + 1 || b[0] != STAGE_AUDIO) {
        srv->m.stage_bad_messages++;
        p->bad_messages++;
        stage_close(p, WS_CLOSE_UNSUPPORTED, "binary messages are [0x01 seq ts opus]");
        return false;
    }
    uint16_t seq = (uint16_t)(b[1] << 8 | b[2]);
    uint32_t ts = (uint32_t)b[3] << 24 | (uint32_t)b[4] << 16 | (uint32_t)b[5] << 8 | b[6];
    p->audio_in++;
    /* The space's input queue is shared by its speakers: one that floods
     * is cut to twice the real-time rate here, before it can crowd out the
     * others. */
    if (!tbucket_take(&p->audio_tb, &audio_rate, loop_now_ms(srv->loop), 1)) {
        srv->m.stage_audio_drops++;
        return true;
    }
    space_peer_packet(p, seq, ts, b + STAGE_AUDIO_HEADER_BYTES,
                      (uint32_t)(f->payload_len - STAGE_AUDIO_HEADER_BYTES));
    return true;
}

static void peer_io(struct loop *loop, struct io *io, uint32_t events)
{
    struct conn *c = io->data;
    struct stage_peer *p = c->peer;
    if (events & LOOP_WRITE) {
        flush_out(p);
        if (c->closed) return;
    }
    if (events & (LOOP_ERR | LOOP_HUP)) {
        conn_close(c);
        return;
    }
    if (!(events & (LOOP_READ | LOOP_RDHUP))) return;
    if (p->closing) { /* after our close frame: discard until EOF */
        char sink[4096];
        for (;;) {
            ssize_t n = read(io->fd, sink, sizeof(sink));
            if (n > 0) continue;
            if (n < 0 && (errno == EINTR)) continue;
            if (n < 0 && errno == EAGAIN) return;
            conn_close(c);
            return;
        }
    }
    for (unsigned rounds = 0; rounds < 32; rounds++) {
        ssize_t n = read(io->fd, p->in + p->in_len, sizeof(p->in) - p->in_len);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno == EAGAIN) return;
        if (n <= 0) {
            conn_close(c);
            return;
        }
        p->in_len += (uint32_t)n;
        p->last_rx_ms = loop_now_ms(loop);
        size_t off = 0;
        for (;;) {
            struct ws_frame f;
            int r = ws_parse_frame(&p->parser, p->in + off, p->in_len - off, &f);
            if (r == -2) break;
            if (r < 0) {
                c->srv->m.stage_bad_messages++;
                stage_close(p, p->parser.close_code, p->parser.reason);
                return;
            }
            off += (size_t)r;
            if (!on_frame(p, &f)) return; /* closing or closed */
        }
        memmove(p->in, p->in + off, p->in_len - off);
        p->in_len -= (uint32_t)off;
        if (p->in_len == sizeof(p->in)) {
            /* The frame cannot be bigger than our buffer: the parser's
             * limit says so, this is belt and braces. */
            stage_close(p, WS_CLOSE_TOO_BIG, "frame too large");
            return;
        }
    }
}

struct stage_peer *stage_accept(struct conn *c, const struct http_request *req, struct space_rt *sp,
                                const char *speaker_id, const char *name, bool is_host,
                                uint32_t num)
{
    char resp[WS_RESPONSE_BYTES_MAX];
    struct stage_peer *p = calloc(1, sizeof(*p));
    int n = ws_handshake_response(req, resp, sizeof(resp));
    if (!p || n <= 0) {
        free(p);
        conn_reject(c, 503, REJ_OUT_OF_MEMORY, "out of memory", "Retry-After: 5\r\n");
        return NULL;
    }
    struct ws_limits lim = {.frame_bytes_max = STAGE_IN_BYTES_MAX - WS_CLIENT_HEADER_BYTES_MAX,
                            .message_bytes_max = STAGE_IN_BYTES_MAX - WS_CLIENT_HEADER_BYTES_MAX};
    ws_parser_init(&p->parser, &lim);
    p->conn = c;
    p->space = sp;
    p->last_rx_ms = p->last_ping_ms = loop_now_ms(c->srv->loop);
    tbucket_init(&p->audio_tb, &audio_rate, p->last_rx_ms);
    tbucket_init(&p->text_tb, &text_rate, p->last_rx_ms);
    p->num = num;
    p->is_host = is_host;
    snprintf(p->speaker_id, sizeof(p->speaker_id), "%s", speaker_id);
    snprintf(p->name, sizeof(p->name), "%s", name);
    conn_end_request(c);
    c->role = CONN_STAGE;
    c->peer = p;
    c->io.cb = peer_io;
    if (!conn_write_all(c, resp, (size_t)n)) {
        conn_close(c);
        return NULL;
    }
    return p;
}
