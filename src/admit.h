/* admit: the per-space admission controller (the deli counter).
 *
 * Runs at the space's origin; its only state that matters to clients is
 * next_number (the next ticket number handed out) and now_serving (every
 * number below it may come in). Waiting clients hold a signed queue ticket
 * (ticket.h) carrying their number and cost the controller nothing: no list,
 * no per-client entry. They come back after retry_after_s with the ticket.
 *
 * Before the scheduled start, joins take pre-queue slots 0, 1, 2... (a
 * counter, bounded by prequeue_max). At the start a secret key is drawn from
 * the injected RNG and the slots are shuffled by a keyed pseudorandom
 * permutation of [0, n): slot s gets number perm(s). The permutation is
 * computed, not stored (a 4-round Feistel network over the smallest even
 * power of two >= n, keyed with SipHash, walking cycles until the value
 * falls below n), so the pre-queue needs no memory either, and nobody, not
 * even the server, knows an order before the start: arriving a few ms
 * earlier wins nothing. Joins after the start take numbers from n upwards:
 * first come, first served.
 *
 * now_serving advances by one admission token at a time: a token bucket at
 * admit_per_s with admit_burst, and only while the space has headroom:
 *   target   = listeners_max * share_permille / 1000     (75 % by default)
 *   promised = numbers served in the last promise_s seconds
 *   headroom = target - listeners_now - promised
 * A served number is counted as a listener for promise_s seconds whether or
 * not its holder shows up (conservative: a holder who has connected is
 * counted twice until the promise ages out). listeners_now comes from the
 * server through admit_tick().
 *
 * A served number is redeemed once: a bitmap over the last redeem_window
 * served numbers (bits, allocated once) refuses a second redemption and
 * numbers older than the window.
 *
 * Position = numbers ahead (number - now_serving); ETA = ahead / rate, where
 * the rate is admit_per_s while there is headroom, else the rate measured
 * over the last promise_s seconds. retry_after_s is the ETA clamped to
 * [poll_min_s, poll_max_s] with +-jitter_permille of random jitter, so
 * polls do not arrive in waves.
 *
 * Time is a monotonic millisecond clock passed in by the caller.
 */
#ifndef PODIUM_ADMIT_H
#define PODIUM_ADMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tbucket.h"

#define ADMIT_SLOTS 64                /* seconds of served counts kept; promise_s <= this */
#define ADMIT_PREQUEUE_MAX (1u << 30) /* sanity bound on prequeue_max */
#define ADMIT_REDEEM_WINDOW_MAX (1u << 24)
#define ADMIT_UNKNOWN UINT32_MAX /* eta_s when no rate is known */
#define ADMIT_POSITION_UNKNOWN UINT64_MAX

/* The random source: fills buf[0..len). Production: admit_rng_os. */
typedef void (*admit_rng_fn)(void *arg, void *buf, size_t len);

struct admit_conf {
    uint32_t listeners_max;  /* the space's capacity (min of server and per-space) */
    uint32_t share_permille; /* admitted listeners stay under this share of it */
    uint32_t admit_per_s;    /* the safe join rate */
    uint32_t admit_burst;    /* admissions that may go at once */
    uint32_t prequeue_max;   /* pre-queue slots before the start */
    uint32_t queue_max;      /* numbers waiting beyond now_serving; past it: shed */
    uint32_t poll_min_s;     /* retry_after bounds */
    uint32_t poll_max_s;
    uint32_t jitter_permille;   /* +- spread of retry_after */
    uint32_t prestart_spread_s; /* pre-queue polls after the start spread over this */
    uint32_t promise_s;         /* a served number counts as a listener this long */
    uint32_t redeem_window;     /* served numbers remembered (rounded to a power of two) */
};

#define ADMIT_CONF_DEFAULT                                                                         \
    ((struct admit_conf){                                                                          \
        .listeners_max = 100000,                                                                   \
        .share_permille = 750,                                                                     \
        .admit_per_s = 500,                                                                        \
        .admit_burst = 500,                                                                        \
        .prequeue_max = 1000000,                                                                   \
        .queue_max = 10000000,                                                                     \
        .poll_min_s = 2,                                                                           \
        .poll_max_s = 30,                                                                          \
        .jitter_permille = 200,                                                                    \
        .prestart_spread_s = 10,                                                                   \
        .promise_s = 10,                                                                           \
        .redeem_window = 1u << 16,                                                                 \
    })

enum admit_claim_kind {
    ADMIT_CLAIM_NONE,  /* a fresh join */
    ADMIT_CLAIM_PRE,   /* a verified TICKET_PREQUEUE: number is the slot */
    ADMIT_CLAIM_QUEUE, /* a verified TICKET_QUEUE: number is the deli number */
};

struct admit_claim {
    enum admit_claim_kind kind;
    uint64_t number;
};

enum admit_outcome {
    ADMIT_ADMIT, /* issue an admission ticket */
    ADMIT_QUEUE, /* 202: issue a queue (or pre-queue) ticket for number */
    ADMIT_SHED,  /* 503 with reason and retry_after_s */
};

enum admit_shed {
    ADMIT_SHED_NONE = 0,
    ADMIT_SHED_QUEUE_FULL,    /* queue_max numbers already wait */
    ADMIT_SHED_PREQUEUE_FULL, /* prequeue_max slots taken before the start */
    ADMIT_SHED_STALE,         /* served too long ago (outside redeem_window): join again */
    ADMIT_SHED_REDEEMED,      /* this number was already let in */
    ADMIT_SHED_BAD_CLAIM,     /* a claim this controller never issued (restarted?) */
};

struct admit_decision {
    enum admit_outcome outcome;
    enum admit_shed reason;
    bool pre;               /* queue: number is a pre-queue slot (issue TICKET_PREQUEUE) */
    uint64_t number;        /* admit: the number let in; queue: the number for the ticket */
    uint64_t position;      /* queue: numbers ahead; ADMIT_POSITION_UNKNOWN before the start */
    uint32_t eta_s;         /* queue: ahead / rate, rounded up; ADMIT_UNKNOWN if no rate */
    uint32_t retry_after_s; /* queue and shed: come back after this (>= 1) */
};

struct admit_stats {
    uint64_t decisions, admitted_direct, queued, redeemed, served;
    uint64_t shed[ADMIT_SHED_BAD_CLAIM + 1];
};

struct admit {
    struct admit_conf c;
    admit_rng_fn rng;
    void *rng_arg;
    uint64_t start_ms;
    bool started;
    uint64_t pre_n;       /* pre-queue slots taken (fixed at the start) */
    uint64_t k0, k1;      /* the shuffle key, drawn at the start */
    unsigned half_bits;   /* Feistel half width */
    uint64_t next_number; /* next number handed out */
    uint64_t now_serving; /* numbers below it may come in */
    uint32_t listeners_now;
    struct tbucket_conf tbc;
    struct tbucket tb;
    uint64_t slot_s[ADMIT_SLOTS]; /* second each served[] slot counts */
    uint32_t served[ADMIT_SLOTS];
    uint64_t *redeemed; /* redeem_window bits */
    uint32_t redeem_mask;
    struct admit_stats st;
};

/* admit_conf_valid: capacities >= 1, share 1..1000, rate 1..1e6,
 * poll_min_s 1..poll_max_s, jitter <= 1000, promise_s 1..ADMIT_SLOTS, ... */
bool admit_conf_valid(const struct admit_conf *c);

/* admit_init: a controller whose start is <start_ms> (<= now_ms: open at
 * once). <rng> draws the shuffle key and the jitter. Allocates the redeem
 * bitmap once. Returns 0, -EINVAL, -ENOMEM. */
int admit_init(struct admit *a, const struct admit_conf *c, uint64_t start_ms, uint64_t now_ms,
               admit_rng_fn rng, void *rng_arg);

void admit_free(struct admit *a);

/* admit_tick: tells the controller how many admitted listeners are connected
 * now, starts the space if its time has come, and advances now_serving.
 * Call it every 100 ms to 1 s; admit_decide() also advances. */
void admit_tick(struct admit *a, uint64_t now_ms, uint32_t listeners_now);

/* admit_decide: the answer to a join at <now_ms>, with the verified claim
 * of its ticket (NULL or ADMIT_CLAIM_NONE for none). Never fails. */
void admit_decide(struct admit *a, uint64_t now_ms, const struct admit_claim *claim,
                  struct admit_decision *d);

/* admit_eta_s: seconds until <number> is served at the current rate. */
uint32_t admit_eta_s(const struct admit *a, uint64_t now_ms, uint64_t number);

/* admit_waiting: numbers handed out and not yet served (the queue length). */
uint64_t admit_waiting(const struct admit *a);

/* admit_headroom: admissions the capacity share allows now. */
uint32_t admit_headroom(const struct admit *a, uint64_t now_ms);

/* admit_prequeue_number: the number pre-queue <slot> got at the start, or
 * ADMIT_POSITION_UNKNOWN before the start or for a slot never taken. */
uint64_t admit_prequeue_number(const struct admit *a, uint64_t slot);

/* admit_rng_os: admit_rng_fn reading the kernel CSPRNG (getrandom). */
void admit_rng_os(void *arg, void *buf, size_t len);

const char *admit_shed_name(enum admit_shed r);

#endif
