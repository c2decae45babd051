/* gate: the admission layers of one serving process, wired into the server
 * (docs/internals/gate.md describes the building blocks, docs/architecture.md
 * "The gate" where each runs).
 *
 * Every process that accepts connections (single, worker) keeps its own
 * prefix table, ticket ring and overload ladder: limits are per process, and
 * nothing is shared between processes but the master secret, so a ticket
 * signed by the origin verifies in any worker in a microsecond. The origin
 * (and the single process) also keeps the per-second timeline, the puzzle
 * replay set and the spaces' admission state (gatejoin.c).
 *
 * Cheapest check first. At accept: the peer's prefix against the table
 * (connection cap, new-connection bucket, glitch block), or, for a trusted
 * proxy, the PROXY header / X-Forwarded-For first. After the header: the
 * overload ladder by request class. On a ticketed mount: the admission ticket,
 * before any listener state exists. Every refusal carries a reason (the
 * answer's body, podium_rejections_total{reason}).
 */
#ifndef PODIUM_GATE_H
#define PODIUM_GATE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "gatejoin.h"
#include "iptable.h"
#include "loop.h"
#include "overload.h"
#include "pow.h"
#include "prefix.h"
#include "proxyproto.h"
#include "ticket.h"
#include "timeline.h"

/* Glitch points: what one piece of malformed input adds to its prefix's
 * score (glitch_cost_step_pts of it cost one more token per request,
 * glitch_block_pts block the prefix). Browsers and players never earn any. */
#define GATE_GLITCH_MALFORMED_PTS 2 /* 400, 414, 431 */
#define GATE_GLITCH_TIMEOUT_PTS 2   /* no complete header within header_timeout_ms */
#define GATE_GLITCH_FORGED_PTS 10   /* a ticket that is not ours (bad MAC, garbage) */
#define GATE_GLITCH_POW_PTS 5       /* a wrong puzzle solution */

#define GATE_TICK_MS 1000 /* overload sample, key epoch, timeline, admission ticks */

struct conn;
struct http_request;
struct mount;
struct server;
struct gatejoin;

struct gate {
    struct ticket_ring ring;
    bool ring_ok;
    struct iptable ipt;
    bool ipt_ok;
    struct proxy_trust trusted; /* trusted_proxies */
    struct proxy_trust exempt;  /* gate_exempt */
    struct overload ov;
    uint64_t mem_budget_bytes;
    uint64_t cpu_last_us, sample_last_us;
    uint64_t rss_bytes; /* the last sample's */
    int statm_fd;       /* /proc/self/statm, kept open: one pread a sample */
    struct timer tick;

    /* origin and single process */
    struct timeline tl;
    bool tl_ok;
    struct pow_replay replay;
    bool replay_ok;
    struct gatejoin *join;
    struct gatejoin_gauges gauges; /* the last tick's */
    struct metrics *last;          /* summed counters at the last tick (timeline deltas) */
};

/* gate_init: the gate of <srv> (after the loop exists; the role is set).
 * Validates the gate's settings as a whole. 0 or -1 (logged). */
int gate_init(struct server *srv);
void gate_free(struct server *srv);

/* gate_now_unix_s: wall-clock seconds (tickets cross nodes: Unix time). */
uint64_t gate_now_unix_s(void);

/* gate_space_key: the 32-bit space field of tickets for space (mount) <id>:
 * the first 32 of its random bits (any other name: a hash of it). */
uint32_t gate_space_key(const char *id);

/* gate_conn_accept: the gate's word on a connection just accepted as <fd>
 * from <sa>. Fills c->gate. false: refused (a 429 written, <fd> closed);
 * the caller must forget <fd>. */
struct conn_gate;
bool gate_conn_accept(struct server *srv, int fd, const struct sockaddr *sa, socklen_t sl,
                      struct conn_gate *g);

/* gate_conn_close: releases <c>'s hold on its prefix. */
void gate_conn_close(struct conn *c);

/* gate_proxy_input: for a connection from a trusted proxy, the PROXY header
 * at the start of base[0..have). Returns 1 when the client is settled or
 * will be by X-Forwarded-For (c->gate.skip says how many bytes to skip),
 * 0 when more bytes are needed, -1 when refused (answered). */
int gate_proxy_input(struct conn *c, const char *base, uint32_t have);

/* gate_client_settle: after the request header, the client of a trusted
 * proxy's connection from X-Forwarded-For, then its prefix's connection
 * hold. false: refused (answered). A no-op for settled connections. */
bool gate_client_settle(struct conn *c, const struct http_request *req);

/* gate_glitch: <c>'s client sent malformed input worth <pts>. */
void gate_glitch(struct conn *c, uint32_t pts);

/* gate_count_reject: one refusal of reason <r> (metrics, timeline). */
void gate_count_reject(struct server *srv, enum timeline_reason r);

/* gate_refuse: a plain-text refusal with reason <r> (counted), status, a
 * one-line text and Retry-After (0: none), then the lingering close. */
void gate_refuse(struct conn *c, int status, enum timeline_reason r, const char *text,
                 uint32_t retry_after_s);

/* gate_stream_check: the admission ticket of a GET/HEAD on the ticketed
 * mount <m>: ?ticket= or Authorization: Bearer. true: admitted. false:
 * refused with 401 (missing) or 403 (forged, expired, wrong prefix or space),
 * before anything is allocated for the listener. */
bool gate_stream_check(struct conn *c, const struct http_request *req, const struct mount *m);

/* gate_admits: whether the overload ladder lets a new request of <cls> in
 * now. The caller refuses (503, TIMELINE_R_OVERLOAD) in its own format. */
bool gate_admits(const struct server *srv, enum overload_class cls);

#endif
