/* pow: adaptive proof-of-work for the join path.
 *
 * When join demand exceeds what the space can admit, the 202/429 answer
 * carries a puzzle; a solved puzzle earns a queue place. The puzzle costs a
 * client about 2^difficulty SHA-256 evaluations and costs us one HMAC and
 * one SHA-256 to check, so a flood of joins pays for itself while a browser
 * at the normal difficulty pays a fraction of a second once.
 *
 * Challenge: a ticket of kind TICKET_PUZZLE (ticket.h): 64 base64url
 * characters, signed, bound to the space and the client prefix, with the
 * difficulty in its aux byte, a random 64-bit nonce as its number, and a
 * short expiry. No server memory per issued puzzle.
 *
 * Solution: a counter c (0 <= c < 2^53, so JavaScript numbers hold it) such
 * that SHA-256(challenge_text || c as 8 bytes big-endian) starts with at
 * least <difficulty> zero bits. Solvers search c = 0, 1, 2... so the C
 * solver (pow_solve, used by storm) and the JavaScript one (web/pow.js) find
 * the same counter for the same challenge.
 *
 * Replay: one solution would otherwise buy any number of queue places until
 * its challenge expires. pow_replay is a bounded set of the nonces already
 * redeemed, each kept until its challenge expires; a nonce is recorded only
 * after the solution checks out, so junk cannot fill the set.
 *
 * Difficulty from load: pow_difficulty() turns demand / capacity into bits:
 * 0 (no puzzle) below on_permille, then base_bits, plus step_bits for every
 * doubling of the overload, capped at max_bits.
 */
#ifndef PODIUM_POW_H
#define PODIUM_POW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "prefix.h"
#include "ticket.h"

#define POW_DIFFICULTY_MAX 40        /* bits; 2^40 hashes is days for anyone */
#define POW_COUNTER_MAX (1ull << 53) /* exclusive; exact in a JavaScript number */
#define POW_REPLAY_ENTRIES_MAX (1u << 24)
#define POW_REPLAY_PROBES 16

/* ---- SHA-256 (FIPS 180-4), own implementation: the solver's inner loop and
 * the reference the JavaScript solver must match. */
struct pow_sha256 {
    uint32_t h[8];
    uint8_t buf[64];
    uint64_t bytes;
};

void pow_sha256_init(struct pow_sha256 *s);
void pow_sha256_update(struct pow_sha256 *s, const void *data, size_t len);
void pow_sha256_final(struct pow_sha256 *s, uint8_t out[32]);
void pow_sha256(const void *data, size_t len, uint8_t out[32]);

/* pow_leading_zero_bits: zero bits at the start of a digest (0..256). */
unsigned pow_leading_zero_bits(const uint8_t digest[32]);

/* pow_check: whether <counter> solves <challenge>[0..len) at <difficulty>. */
bool pow_check(const char *challenge, size_t len, uint64_t counter, unsigned difficulty);

/* pow_solve: the smallest counter c in [start, start + iters_max) solving
 * the challenge. Returns 0 with *counter set, -EAGAIN when none is in the
 * range, -EINVAL for difficulty > POW_DIFFICULTY_MAX or a range past
 * POW_COUNTER_MAX. */
int pow_solve(const char *challenge, size_t len, unsigned difficulty, uint64_t start,
              uint64_t iters_max, uint64_t *counter);

/* ---- difficulty */
struct pow_policy {
    uint32_t on_permille; /* demand/capacity at which puzzles start (1000: demand = capacity) */
    uint8_t base_bits;    /* the normal difficulty */
    uint8_t step_bits;    /* added per doubling of the overload */
    uint8_t max_bits;     /* cap */
};

#define POW_POLICY_DEFAULT                                                                         \
    ((struct pow_policy){.on_permille = 1000, .base_bits = 16, .step_bits = 2, .max_bits = 24})

/* pow_difficulty: bits for a measured <demand_per_s> of joins against the
 * <capacity_per_s> the space admits; 0 means no puzzle. capacity 0 with any
 * demand gives max_bits. */
unsigned pow_difficulty(const struct pow_policy *pp, uint64_t demand_per_s,
                        uint64_t capacity_per_s);

/* ---- challenges */

/* pow_issue: a challenge for <space> and client prefix <p> at <difficulty>
 * (1..POW_DIFFICULTY_MAX), with a random <nonce> from the caller's CSPRNG,
 * valid <ttl_s>. Writes TICKET_TEXT_BYTES characters and a NUL into out.
 * Returns as ticket_issue(), or -EINVAL for the difficulty. */
int pow_issue(struct ticket_ring *r, uint32_t space, const struct prefix *p, unsigned difficulty,
              uint64_t nonce, uint64_t now_unix_s, uint32_t ttl_s, char *out, size_t out_len);

/* A bounded set of redeemed challenge nonces. */
struct pow_replay {
    uint64_t *nonce;
    uint32_t *expires_unix_s; /* 0: free */
    uint32_t mask;
    uint64_t evicted_live; /* a live entry overwritten because its probe window was full */
};

/* pow_replay_init: <entries_max> rounded up to a power of two (>= 16). Size
 * it for puzzles redeemed per second x puzzle ttl. Returns 0, -EINVAL, -ENOMEM. */
int pow_replay_init(struct pow_replay *s, uint32_t entries_max);
void pow_replay_free(struct pow_replay *s);

/* pow_replay_add: records <nonce> until <expires_unix_s>. Returns true if it
 * was not there (first redemption), false if it is a replay. When every
 * slot of its probe window is live, the one expiring first is overwritten
 * (counted in evicted_live). Nonces come from our CSPRNG under our MAC, so
 * they index the table directly. */
bool pow_replay_add(struct pow_replay *s, uint64_t nonce, uint32_t expires_unix_s,
                    uint64_t now_unix_s);

enum pow_status {
    POW_OK = 0,
    POW_BAD_CHALLENGE, /* the challenge is not a valid puzzle ticket for us (see *why) */
    POW_UNSOLVED,      /* the counter does not meet the difficulty */
    POW_REPLAYED,      /* this challenge was already redeemed */
};

/* pow_verify: checks a solution: the challenge must verify as a puzzle
 * ticket for <space> and <p> (reason in *why, may be NULL), then the counter
 * must solve it, then its nonce must be new to <replay>. Returns POW_OK and
 * the puzzle's difficulty in *difficulty (may be NULL). */
enum pow_status pow_verify(struct ticket_ring *r, struct pow_replay *replay, const char *challenge,
                           size_t len, uint64_t counter, uint32_t space, const struct prefix *p,
                           uint64_t now_unix_s, enum ticket_status *why, unsigned *difficulty);

const char *pow_status_name(enum pow_status s);

#endif
