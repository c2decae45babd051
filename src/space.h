/* space: the origin's runtime of live spaces — the mix, the stage, the
 * recording, the audience mount.
 *
 *   stage peers (WebSocket) ─┐                        ┌─► mount /live/ID.opus ─► ring ─► workers
 *   PUT/SOURCE into the mix ─┼─► mixthread (20 ms) ───┤   (packaged like any source)
 *   RTP/Opus (UDP)          ─┘   jbuf, PLC, limiter   ├─► recording (Ogg Opus, crash-safe)
 *                                 mix-minus returns ──┴─► back to each stage peer
 *
 * A space goes live when its host (or a speaker, or a source) first
 * connects; it ends when the host ends it, or when the host has been gone
 * for stage_grace_ms. Everything here runs on the origin's loop thread; the
 * mix runs on the mix threads (src/mixthread.c; each space on one of them)
 * and talks to them only through mixthread's queues.
 */
#ifndef PODIUM_SPACE_H
#define PODIUM_SPACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct server;
struct conn;
struct http_request;
struct json_writer;
struct source;
struct store_space;

/* space_system_init: opens the store (repairing recordings of spaces a
 * crash left live), starts the mix threads. 0 or -1 (logged). */
int space_system_init(struct server *srv);
void space_system_stop(struct server *srv);

/* space_listeners: listeners of space <id> now, all processes. */
uint64_t space_listeners(const struct server *srv, const char *id);

/* space_end: ends space <id> (store, mix, stage, recording; listeners get
 * the last audio and a FIN). <why> goes to the log and to stage peers. */
void space_end(struct server *srv, const char *id, const char *why);

/* space_speaker_revoked: a speaker token was revoked: its peer, if
 * connected, is closed. */
void space_speaker_revoked(struct server *srv, const char *id, const char *speaker_id);

/* space_route: the space endpoints not in api.c (stage, recording, hands,
 * mute). <seg> is the path segment after the id. true when answered. */
bool space_route(struct conn *c, const struct http_request *req, const char *id, const char *seg,
                 size_t seg_len, const char *body, size_t body_len);

/* space_write_stage: who is on stage now (for GET /api/spaces/ID). */
void space_write_stage(struct json_writer *w, const struct server *srv, const char *id);

/* space_housekeeping: host grace, recording syncs, peaks. */
void space_housekeeping(struct server *srv, uint64_t now_ms);

/* For source.c: a PUT/SOURCE to /live/ID.opus of a space joins its mix.
 * space_source_attach: 0, or -ENOENT (not a space: a plain mount),
 * -EINVAL (ended), -ENOSPC (stage full). The source then calls
 * space_source_packet for each packet and space_source_detach at the end. */
int space_source_attach(struct server *srv, const char *name, struct source *s);
void space_source_packet(struct source *s, const uint8_t *pkt, uint32_t len, int samples);
void space_source_detach(struct source *s);

/* For /metrics: live spaces and the mix threads' counters, summed. */
struct space_mix_stats {
    uint64_t ticks, deadline_misses, skipped_ticks, in_drops, work_us;
    uint32_t threads, realtime_threads; /* running; of which SCHED_FIFO */
};
uint32_t space_live_count(const struct server *srv);
void space_mix_stats(const struct server *srv, struct space_mix_stats *out);

/* RTP: space_rtp_refresh reloads which addresses feed which spaces (after
 * a space is created or ended); space_rtp_packet routes one packet. */
struct sockaddr_storage;
struct rtp_packet;
void space_rtp_refresh(struct server *srv);
void space_rtp_packet(struct server *srv, const struct sockaddr_storage *from,
                      const struct rtp_packet *pk);

/* For stage.c: what a peer's messages do. */
struct stage_peer;
void space_peer_packet(struct stage_peer *p, uint16_t seq, uint32_t ts, const uint8_t *pkt,
                       uint32_t len);
void space_peer_command(struct stage_peer *p, char *json, size_t len);
/* space_peer_gone: <p> left (closed, or closing); its slot waits for it. */
void space_peer_gone(struct stage_peer *p);

#endif
