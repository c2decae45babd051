/* iptable: the bounded per-prefix table of the gate.
 *
 * One entry per client prefix (prefix.h: /24, /48) holds what the gate knows
 * about that network: open connections, a new-connection token bucket, a
 * ticket-issue token bucket, a glitch score (malformed input) that leaks away
 * over time and raises the prefix's cost, and the joins of the current second
 * (for load concentration).
 *
 * Bounded: a fixed number of entries, allocated once, never grown. The table
 * is set-associative: a keyed hash (SipHash-2-4 with a random seed, so that
 * nobody can aim many prefixes at one set) picks a set of IPTABLE_WAYS
 * entries; a new prefix takes a free way, else evicts the least recently seen
 * idle entry (no open connection), else the least recently seen busy one.
 * An evicted prefix starts over with full buckets and no glitches: eviction
 * fails open, and is counted. A connection holds a reference (slot and
 * generation), so closing a connection whose entry was evicted meanwhile
 * cannot decrement a stranger's count.
 *
 * Cost: each glitch_cost_step_pts of glitch score adds one to the tokens a
 * new connection or a ticket takes from that prefix's buckets (a noisy
 * network gets fewer tries); at glitch_block_pts the prefix is refused
 * outright until the score leaks below it.
 *
 * Time is a monotonic millisecond clock passed in by the caller.
 */
#ifndef PODIUM_IPTABLE_H
#define PODIUM_IPTABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "prefix.h"
#include "tbucket.h"

#define IPTABLE_WAYS 8
#define IPTABLE_SEED_BYTES 16
#define IPTABLE_ENTRIES_MAX (1u << 24) /* 16 M entries, about 1.5 GiB: a sanity bound */

struct iptable_limits {
    uint32_t entries_max;            /* table size, rounded up to a power of two >= WAYS */
    uint32_t conns_per_prefix_max;   /* concurrent connections per prefix; 0: no cap */
    struct tbucket_conf conn_rate;   /* new connections per prefix */
    struct tbucket_conf ticket_rate; /* tickets issued per prefix */
    uint32_t glitch_leak_pts_per_s;  /* glitch score leaks this fast */
    uint32_t glitch_cost_step_pts;   /* each step adds 1 to the cost; 0: cost stays 1 */
    uint32_t glitch_block_pts;       /* at or above: every request refused; 0: never */
    uint32_t cost_max;               /* cost never above this (>= 1) */
};

/* Defaults for the wiring (their conf keys are proposed in docs/internals/gate.md). */
#define IPTABLE_LIMITS_DEFAULT                                                                     \
    ((struct iptable_limits){                                                                      \
        .entries_max = 65536,                                                                      \
        .conns_per_prefix_max = 256,                                                               \
        .conn_rate = {.rate_mtok_per_s = 20000, .burst = 100},                                     \
        .ticket_rate = {.rate_mtok_per_s = 10000, .burst = 50},                                    \
        .glitch_leak_pts_per_s = 1,                                                                \
        .glitch_cost_step_pts = 10,                                                                \
        .glitch_block_pts = 100,                                                                   \
        .cost_max = 8,                                                                             \
    })

enum iptable_result {
    IPTABLE_OK = 0,
    IPTABLE_CONN_CAP,    /* the prefix has conns_per_prefix_max open */
    IPTABLE_CONN_RATE,   /* the prefix's new-connection bucket is empty */
    IPTABLE_TICKET_RATE, /* the prefix's ticket bucket is empty */
    IPTABLE_GLITCHY,     /* the prefix's glitch score is at the block level */
};

/* A connection's hold on its prefix's entry. */
struct iptable_ref {
    uint32_t slot;
    uint32_t gen; /* 0: no hold */
};

struct iptable_entry {
    struct prefix key;
    uint64_t seen_ms;
    struct tbucket conn_tb;
    struct tbucket ticket_tb;
    uint64_t glitch_mpts; /* milli-points */
    uint64_t glitch_ms;   /* clock of the last leak */
    uint32_t conns;
    uint32_t gen; /* 0: free slot; bumped each time the slot takes a prefix */
    uint64_t join_s;
    uint32_t joins; /* joins during second join_s */
};

/* One second's load concentration. */
struct iptable_second {
    uint64_t s;         /* the second (now_ms / 1000) */
    uint32_t joins;     /* all joins noted */
    uint32_t prefixes;  /* distinct prefixes that joined */
    uint32_t top_joins; /* joins of the busiest prefix */
    struct prefix top;  /* the busiest prefix */
};

struct iptable_stats {
    uint64_t inserts, evictions_idle, evictions_busy, releases_stale;
    uint32_t used;
};

struct iptable {
    struct iptable_limits lim;
    struct iptable_entry *e;
    uint32_t mask_sets; /* sets - 1 */
    uint64_t k0, k1;    /* hash key */
    uint32_t gen_next;
    struct iptable_second cur, prev;
    struct iptable_stats st;
};

/* iptable_limits_valid: sizes in range, buckets valid, cost_max >= 1. */
bool iptable_limits_valid(const struct iptable_limits *lim);

/* iptable_init: allocates the table once. <seed> must be secret and random
 * (e.g. RAND_bytes). Returns 0, -EINVAL for invalid limits, -ENOMEM. */
int iptable_init(struct iptable *t, const struct iptable_limits *lim,
                 const uint8_t seed[IPTABLE_SEED_BYTES]);

/* iptable_free: releases the table; <t> may then be re-initialised. */
void iptable_free(struct iptable *t);

/* iptable_conn_open: admission of a new connection from <p>: refused when
 * the prefix is glitch-blocked, at its connection cap, or out of
 * new-connection tokens (it takes iptable_cost() tokens). On IPTABLE_OK the
 * prefix's count is raised and <ref> holds it until iptable_conn_close().
 * When refused for rate or block, *retry_ms (if not NULL) is when trying
 * again can succeed; for the cap it is 0 (depends on others closing). */
enum iptable_result iptable_conn_open(struct iptable *t, const struct prefix *p, uint64_t now_ms,
                                      struct iptable_ref *ref, uint64_t *retry_ms);

/* iptable_conn_close: drops the hold taken by iptable_conn_open(); a no-op
 * for a zero ref, and counted (releases_stale) when the entry was evicted. */
void iptable_conn_close(struct iptable *t, struct iptable_ref *ref);

/* iptable_ticket_take: whether <p> may be issued one more ticket now (takes
 * iptable_cost() tokens). *retry_ms as for iptable_conn_open. */
enum iptable_result iptable_ticket_take(struct iptable *t, const struct prefix *p, uint64_t now_ms,
                                        uint64_t *retry_ms);

/* iptable_glitch: adds <points> of glitch score to <p> (malformed request,
 * bad ticket, failed puzzle...). */
void iptable_glitch(struct iptable *t, const struct prefix *p, uint64_t now_ms, uint32_t points);

/* iptable_cost: the token cost of one request from <p> now: 1 for an
 * unknown or clean prefix, up to cost_max. Does not insert <p>. */
uint32_t iptable_cost(struct iptable *t, const struct prefix *p, uint64_t now_ms);

/* iptable_glitch_pts: <p>'s current glitch score in whole points. */
uint32_t iptable_glitch_pts(struct iptable *t, const struct prefix *p, uint64_t now_ms);

/* iptable_conns: <p>'s open connections. */
uint32_t iptable_conns(const struct iptable *t, const struct prefix *p);

/* iptable_note_join: counts one join from <p> in the current second. */
void iptable_note_join(struct iptable *t, const struct prefix *p, uint64_t now_ms);

/* iptable_last_second: the concentration of the second before now_ms's
 * (zeros when nothing was noted in it). */
void iptable_last_second(const struct iptable *t, uint64_t now_ms, struct iptable_second *out);

/* iptable_hash: the keyed hash (SipHash-2-4 of <len> bytes under k0, k1),
 * exported for its test vectors. */
uint64_t iptable_hash(uint64_t k0, uint64_t k1, const uint8_t *in, size_t len);

const char *iptable_result_name(enum iptable_result r);

#endif
