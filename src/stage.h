/* stage: a speaker's (or the host's) WebSocket on /api/spaces/ID/stage.
 *
 * In: binary messages [0x01, seq:u16, ts:u32, Opus packet] (48 kHz mono,
 * 20 ms) go to the space's mix; text messages are JSON commands. Out: the
 * mix-minus in the same binary format, and JSON events. docs/protocol.md
 * ("Stage WebSocket protocol") is the reference.
 *
 * A peer has a bounded input buffer (one frame) and a bounded output buffer;
 * audio that does not fit is dropped whole (counted), never half-sent.
 */
#ifndef PODIUM_STAGE_H
#define PODIUM_STAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tbucket.h"
#include "ws.h"

#define STAGE_AUDIO_HEADER_BYTES 7 /* type, seq, ts */
#define STAGE_IN_BYTES_MAX 4096    /* one client frame: header + audio header + 1275 */
#define STAGE_OUT_BYTES_MAX 65536  /* queued output; past it audio is dropped */
#define STAGE_TEXT_BYTES_MAX 1024  /* a JSON command */
#define STAGE_PING_MS 10000        /* a silent peer is pinged this often */
#define STAGE_IDLE_MS_MAX 30000    /* no frame at all for this long: closed (4005) */

struct conn;
struct space_rt;
struct http_request;

struct stage_peer {
    struct conn *conn;
    struct space_rt *space;
    struct stage_peer *next; /* the space's peers */
    uint32_t num;            /* the mixer's speaker id */
    char speaker_id[16];     /* the store's speaker id, or "host" */
    char name[72];
    bool is_host;
    bool muted;
    bool closing;
    bool shut;     /* our side is half-closed after the close frame */
    bool detached; /* its connection closed; memory goes after this iteration */
    struct ws_parser parser;
    uint8_t in[STAGE_IN_BYTES_MAX];
    uint32_t in_len;
    uint8_t *out;
    uint32_t out_len, out_cap;
    uint16_t out_seq;
    uint64_t last_rx_ms, last_ping_ms;
    uint64_t audio_in, audio_dropped, bad_messages;
    struct tbucket audio_tb; /* audio_rate (stage.c): a flood is dropped here */
    struct tbucket text_tb;  /* text_rate (stage.c): past it the peer is closed */
};

/* stage_accept: answers 101 on <c> and makes it a peer of <sp>. The caller
 * checked the handshake and the credentials. NULL when out of memory (the
 * connection was answered 503). */
struct stage_peer *stage_accept(struct conn *c, const struct http_request *req, struct space_rt *sp,
                                const char *speaker_id, const char *name, bool is_host,
                                uint32_t num);

/* stage_send_audio: one mix-minus packet to <p> (dropped if its output is
 * full). */
void stage_send_audio(struct stage_peer *p, uint32_t ts, const uint8_t *pkt, uint32_t len);

/* stage_send_text: a JSON event to <p>. */
void stage_send_text(struct stage_peer *p, const char *json, size_t len);

/* stage_close: sends a close frame with <code> and <reason>, then closes. */
void stage_close(struct stage_peer *p, uint16_t code, const char *reason);

/* stage_tick: pings a quiet peer, closes a dead one, drops one that does
 * not drain its close. Called by housekeeping. */
void stage_tick(struct stage_peer *p, uint64_t now_ms);

/* stage_detach: called by conn_close for a peer connection. */
void stage_detach(struct stage_peer *p);

#endif
