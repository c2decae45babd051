/* timeline: what the gate saw, second by second, for hours.
 *
 * A ring of fixed per-second records (TIMELINE_SLOTS_DEFAULT = 4 h), one
 * allocation, overwritten in place: joins by outcome, rejections by reason,
 * glitches, requests, distinct prefixes and the busiest prefix's share,
 * queue length, admissions per second, overload level and puzzle
 * difficulty. Writers index by the monotonic second; a record is reused
 * when its second comes round again, so nothing grows and a stale record
 * is never read as a fresh one.
 *
 * timeline_json() exports a range with its verdict; timeline_verdict()
 * reads a range and says whether it looks like legitimate demand, hostile
 * traffic, or both, with the numbers it decided on (the heuristic is in
 * docs/internals/gate.md).
 *
 * The rejection reasons here are the gate's single list: each is the
 * `reason` of an error answer and the label of podium_rejections_total.
 * The *_reason() helpers map the other gate modules' results onto it.
 */
#ifndef PODIUM_TIMELINE_H
#define PODIUM_TIMELINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "admit.h"
#include "iptable.h"
#include "pow.h"
#include "prefix.h"
#include "ticket.h"

#define TIMELINE_SLOTS_DEFAULT 14400u /* 4 hours of seconds, about 2 MiB */
#define TIMELINE_SLOTS_MAX 86400u     /* a day */
/* JSON bytes: per exported second at most, plus the envelope and verdict */
#define TIMELINE_JSON_SEC_BYTES_MAX 2048u
#define TIMELINE_JSON_HEAD_BYTES_MAX 2048u

enum timeline_outcome {
    TIMELINE_ADMITTED, /* 200 with a ticket */
    TIMELINE_QUEUED,   /* 202 with a queue ticket */
    TIMELINE_REJECTED, /* 4xx: this client, this request */
    TIMELINE_SHED,     /* 503: the server or the space is full */
    TIMELINE_OUTCOMES,
};

enum timeline_reason {
    TIMELINE_R_PREFIX_CONNS,       /* per-prefix connection cap */
    TIMELINE_R_PREFIX_CONN_RATE,   /* per-prefix new-connection bucket */
    TIMELINE_R_PREFIX_TICKET_RATE, /* per-prefix ticket bucket */
    TIMELINE_R_PREFIX_GLITCHY,     /* prefix blocked for malformed input */
    TIMELINE_R_TICKET_MISSING,     /* ticketed endpoint, no ticket */
    TIMELINE_R_TICKET_MALFORMED,
    TIMELINE_R_TICKET_FORGED,       /* bad signature, unknown epoch */
    TIMELINE_R_TICKET_EXPIRED,      /* expired, not yet valid */
    TIMELINE_R_TICKET_MISUSED,      /* wrong kind, wrong space */
    TIMELINE_R_TICKET_WRONG_PREFIX, /* genuine, from another network */
    TIMELINE_R_POW_REQUIRED,        /* puzzles are on and none was solved */
    TIMELINE_R_POW_INVALID,         /* bad challenge or wrong solution */
    TIMELINE_R_POW_REPLAYED,
    TIMELINE_R_QUEUE_FULL,
    TIMELINE_R_PREQUEUE_FULL,
    TIMELINE_R_QUEUE_TICKET,  /* stale, already redeemed, or unknown number */
    TIMELINE_R_OVERLOAD,      /* the overload ladder */
    TIMELINE_R_BULKHEAD,      /* the space's share of the gate is spent */
    TIMELINE_R_CAPACITY,      /* listener or connection caps */
    TIMELINE_R_PROXY_INVALID, /* bad PROXY header or X-Forwarded-For from a trusted peer */
    TIMELINE_REASONS,
};

struct timeline_sec {
    uint64_t s; /* the monotonic second this record holds; UINT64_MAX: none */
    uint32_t requests;
    uint32_t joins[TIMELINE_OUTCOMES];
    uint32_t rejects[TIMELINE_REASONS];
    uint32_t glitches;
    uint32_t prefix_joins;     /* joins the prefix table counted */
    uint32_t prefixes;         /* distinct prefixes among them */
    uint32_t top_prefix_joins; /* joins of the busiest one */
    struct prefix top_prefix;
    uint32_t queue_len; /* gauge: waiting numbers */
    uint32_t admitted;  /* gauge: numbers served during the second */
    uint8_t overload_level;
    uint8_t pow_bits;
};

struct timeline {
    struct timeline_sec *sec;
    uint32_t slots;
};

/* timeline_init: allocates <slots> records (1..TIMELINE_SLOTS_MAX).
 * Returns 0, -EINVAL, -ENOMEM. */
int timeline_init(struct timeline *tl, uint32_t slots);
void timeline_free(struct timeline *tl);

/* Counters for the second of <now_ms> (monotonic). */
void timeline_request(struct timeline *tl, uint64_t now_ms);
void timeline_join(struct timeline *tl, uint64_t now_ms, enum timeline_outcome o);
void timeline_reject(struct timeline *tl, uint64_t now_ms, enum timeline_reason r);
void timeline_glitch(struct timeline *tl, uint64_t now_ms, uint32_t n);

/* timeline_add: adds the counters of <d> (requests, joins, rejects,
 * glitches; its other fields are ignored) to the second of <now_ms>: for
 * counts made elsewhere (worker processes) and delivered in bulk. */
void timeline_add(struct timeline *tl, uint64_t now_ms, const struct timeline_sec *d);

/* timeline_gauges: the end-of-second values for the second of <now_ms>. */
void timeline_gauges(struct timeline *tl, uint64_t now_ms, uint32_t queue_len, uint32_t admitted,
                     unsigned overload_level, unsigned pow_bits);

/* timeline_prefixes: the load concentration of second s->s (from
 * iptable_last_second()); dropped if that second has left the ring. */
void timeline_prefixes(struct timeline *tl, const struct iptable_second *s);

/* timeline_get: the record of second <s>, or NULL if not kept. */
const struct timeline_sec *timeline_get(const struct timeline *tl, uint64_t s);

enum timeline_kind {
    TIMELINE_QUIET,      /* too little traffic to say */
    TIMELINE_LEGITIMATE, /* demand from many networks, clean input */
    TIMELINE_HOSTILE,    /* several attack signals, no broad crowd */
    TIMELINE_MIXED,      /* attack signals on top of (or without proof of) a real crowd */
};

/* Which signals fired (bits). */
#define TIMELINE_SIG_GLITCHES (1u << 0)      /* malformed input share */
#define TIMELINE_SIG_FORGED (1u << 1)        /* invalid tickets / puzzles / proxy data */
#define TIMELINE_SIG_PREFIX_LIMITS (1u << 2) /* per-prefix limits hit */
#define TIMELINE_SIG_CONCENTRATED (1u << 3)  /* one network makes much of the joins */
#define TIMELINE_SIG_BROAD (1u << 4)         /* many networks, few joins each (legitimate) */
#define TIMELINE_SIG_OVER_CAPACITY (1u << 5) /* demand beyond capacity (neither) */

struct timeline_verdict {
    enum timeline_kind kind;
    uint32_t signals; /* TIMELINE_SIG_* */
    /* the evidence */
    uint32_t seconds; /* records read in the range */
    uint64_t requests, joins, admitted, queued, rejected, shed, glitches;
    uint32_t glitch_permille;         /* glitches / requests */
    uint32_t forged_permille;         /* invalid credentials / requests */
    uint32_t prefix_limited_permille; /* per-prefix refusals / requests */
    uint32_t capacity_permille;       /* capacity refusals / requests */
    uint32_t top_share_permille;      /* busiest prefix's joins / joins, averaged */
    uint32_t top_share_max_permille;  /* in the worst second with >= 20 joins */
    uint32_t prefixes_per_s;          /* distinct joining prefixes per second, average */
    uint32_t joins_per_prefix_x10;    /* joins / distinct prefix-seconds, x10 */
    struct prefix top_prefix;         /* busiest prefix of the worst second */
};

/* timeline_verdict: reads seconds [from_s, to_s] (monotonic, inclusive). */
void timeline_verdict(const struct timeline *tl, uint64_t from_s, uint64_t to_s,
                      struct timeline_verdict *v);

/* timeline_json: {"from":..,"to":..,"seconds":[..],"verdict":{..}} for
 * seconds [from_s, to_s]; times are exported as monotonic second +
 * <unix_offset_s> (the wall clock minus the monotonic clock). Seconds with
 * no record are left out. Returns the bytes written (NUL not counted) or
 * -ENOSPC; (to_s - from_s + 1) * TIMELINE_JSON_SEC_BYTES_MAX +
 * TIMELINE_JSON_HEAD_BYTES_MAX always suffices. */
int timeline_json(const struct timeline *tl, uint64_t from_s, uint64_t to_s, int64_t unix_offset_s,
                  char *buf, size_t len);

const char *timeline_reason_name(enum timeline_reason r);
const char *timeline_outcome_name(enum timeline_outcome o);
const char *timeline_kind_name(enum timeline_kind k);

/* The other modules' refusals as timeline reasons. */
enum timeline_reason timeline_reason_of_iptable(enum iptable_result r);
enum timeline_reason timeline_reason_of_ticket(enum ticket_status s);
enum timeline_reason timeline_reason_of_pow(enum pow_status s);
enum timeline_reason timeline_reason_of_admit(enum admit_shed s);

#endif
