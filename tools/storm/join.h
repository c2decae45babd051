/* join: storm's client of the gate (`podium storm --space ID`).
 *
 * Each virtual listener first asks POST /api/spaces/ID/join, as the web page
 * does: a 200 gives it a ticket and the stream URL; a 202 tells it to come
 * back after retry_after_s with its queue ticket, or hands it a puzzle that
 * it solves with pow_solve() (at most 6 ms of hashing per 20 ms tick, so
 * solving never starves the listeners already playing nor delays the reading
 * of answers it times); a 429 or 503 tells
 * it to wait Retry-After. With its ticket it becomes an ordinary listener
 * (vl.c) whose GET carries ?ticket=, and a reconnect reuses the ticket.
 *
 * Every answer is counted in res->attack under "join.*" (by status, by
 * latency bucket: answered within 50/100/200/500 ms or later, so a merged
 * run still tells whether p99 was under 200 ms), and optionally logged one
 * line each (--join-log) for order checks. Listeners still waiting when the
 * run ends fail with "queued_at_end" (or "join_pending_at_end").
 *
 * Source addresses: --prefixes N[@A.B.C.0] puts listener i on network
 * (i mod N) of 127/8 from A.B.C.0 on, host 1 + (i / N) mod 254, so a crowd
 * comes from N different /24s, as a real audience does; the join and the
 * stream of one listener always leave from the same address (the ticket is
 * bound to its prefix).
 *
 * Attacks (--attack, need --space): forged-tickets=N/s sends stream GETs
 * with well-formed tickets under a made-up signature; join-flood=N/s sends
 * fresh joins that never follow their answers. Both from --sources, at most
 * JOIN_FLOOD_INFLIGHT_MAX open at once, counted as "forged_tickets.*" and
 * "join_flood.*".
 */
#ifndef PODIUM_STORM_JOIN_H
#define PODIUM_STORM_JOIN_H

#include <stddef.h>
#include <stdint.h>

#define JOIN_SPACE_BYTES 16           /* a space id is 12 characters */
#define JOIN_ANSWER_BYTES_MAX 2048    /* a join answer: a ticket or two and a URL */
#define JOIN_TICK_MS 20               /* waits, puzzles, floods */
#define JOIN_POW_US_PER_TICK 6000     /* hashing per 20 ms tick at most: answers wait less */
#define JOIN_POW_HASHES_PER_STEP 1024 /* the clock is read between steps */
#define JOIN_RETRY_S_MAX 60           /* a Retry-After longer than this is cut to it */
#define JOIN_FLOOD_INFLIGHT_MAX 1000  /* attack connections open at once, per worker */
#define JOIN_FLOOD_TIMEOUT_MS 5000

struct join_cfg {
    char space[JOIN_SPACE_BYTES]; /* "": not a join run */
    uint32_t prefixes;            /* 0: addresses as --sources (or the kernel's) */
    uint32_t prefix_base;         /* host order, a /24 network in 127/8 */
    char log_path[256];           /* "": no per-answer log */
};

/* join_prefixes_parse: "N" or "N@A.B.C.0" (default base 127.10.0.0); the
 * N networks must lie inside 127/8. 0 or -1. */
int join_prefixes_parse(const char *s, struct join_cfg *c);

/* join_space_valid: a space id: 12 base64url characters. */
int join_space_valid(const char *s);

struct run;
struct vl;
struct join;

struct join *join_new(struct run *r);
void join_start(struct join *j);
/* join_launch: <v> starts (or restarts, for a reconnect) through the gate. */
void join_launch(struct join *j, struct vl *v);
/* join_request: the stream GET of <v>, with its ticket. */
void join_request(struct join *j, struct vl *v, const char **req, size_t *len);
/* join_stop: fails the listeners still in the gate, stops the floods. */
void join_stop(struct join *j, uint64_t now_us);
void join_free(struct join *j);

#endif
