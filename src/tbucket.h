/* tbucket: an integer token bucket on a caller-supplied monotonic clock.
 *
 * Rates are in milli-tokens per second, as in nginx's limit_req ("1
 * corresponds to 0.001 r/s"): 2500 is 2.5 tokens/s. The level is kept in
 * micro-tokens, so that refilling for e ms adds exactly rate * e micro-tokens:
 * no rounding, no drift, and a sequence of takes gives the same answers
 * whether time advances in one step or in a thousand.
 *
 * The rate and burst (struct tbucket_conf) live apart from the state (16
 * bytes) so that a table of buckets shares one configuration. A bucket starts
 * full. Time that runs backwards (a caller bug, or two threads' clocks) adds
 * nothing and does not move the bucket's clock back.
 */
#ifndef PODIUM_TBUCKET_H
#define PODIUM_TBUCKET_H

#include <stdbool.h>
#include <stdint.h>

/* Upper bounds that keep rate * elapsed inside 64 bits. */
#define TBUCKET_RATE_MTOK_PER_S_MAX 1000000000u /* 1,000,000 tokens/s */
#define TBUCKET_BURST_MAX 1000000u              /* tokens */

struct tbucket_conf {
    uint32_t rate_mtok_per_s; /* refill, milli-tokens per second; 0: never refills */
    uint32_t burst;           /* capacity, whole tokens; 0: the bucket refuses everything */
};

struct tbucket {
    uint64_t level_utok; /* micro-tokens, <= burst * 1e6 */
    uint64_t last_ms;    /* the clock at the last refill */
};

/* tbucket_conf_valid: whether <c> is inside the bounds above. */
bool tbucket_conf_valid(const struct tbucket_conf *c);

/* tbucket_init: a full bucket at <now_ms>. <c> must be valid. */
void tbucket_init(struct tbucket *b, const struct tbucket_conf *c, uint64_t now_ms);

/* tbucket_take: takes <n> whole tokens if the bucket holds them at <now_ms>.
 * Returns true when taken; false leaves the level as refilled (a refused
 * request costs nothing). n == 0 is always granted. */
bool tbucket_take(struct tbucket *b, const struct tbucket_conf *c, uint64_t now_ms, uint32_t n);

/* tbucket_tokens: whole tokens available at <now_ms> (refills <b>). */
uint32_t tbucket_tokens(struct tbucket *b, const struct tbucket_conf *c, uint64_t now_ms);

/* tbucket_wait_ms: milliseconds from <now_ms> until <n> tokens are there
 * (0 if they are now); UINT64_MAX if never (n > burst, or rate 0 and too few).
 * For Retry-After. Refills <b>. */
uint64_t tbucket_wait_ms(struct tbucket *b, const struct tbucket_conf *c, uint64_t now_ms,
                         uint32_t n);

#endif
