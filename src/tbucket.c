/* tbucket: integer token bucket, micro-token level, injected clock. */
#include "tbucket.h"

#include <assert.h>

#pragma GCC poison strcpy sprintf gets strtok atoi

#define UTOK_PER_TOK 1000000ull
/* Past this gap the bucket is full anyway for any valid conf: 1e6 tokens at
 * 0.001 tokens/s is 1e9 s, so cap elapsed at 2^40 ms (35 years) to keep
 * rate * elapsed < 2^30 * 2^40. */
#define ELAPSED_MS_MAX (1ull << 40)

bool tbucket_conf_valid(const struct tbucket_conf *c)
{
    return c->rate_mtok_per_s <= TBUCKET_RATE_MTOK_PER_S_MAX && c->burst <= TBUCKET_BURST_MAX;
}

void tbucket_init(struct tbucket *b, const struct tbucket_conf *c, uint64_t now_ms)
{
    assert(tbucket_conf_valid(c));
    b->level_utok = (uint64_t)c->burst * UTOK_PER_TOK;
    b->last_ms = now_ms;
}

/* refill: adds rate * elapsed micro-tokens (exact: mtok/s * ms = utok). */
static void refill(struct tbucket *b, const struct tbucket_conf *c, uint64_t now_ms)
{
    uint64_t cap = (uint64_t)c->burst * UTOK_PER_TOK;
    if (now_ms <= b->last_ms) return;
    uint64_t elapsed = now_ms - b->last_ms;
    if (elapsed > ELAPSED_MS_MAX) elapsed = ELAPSED_MS_MAX;
    b->last_ms = now_ms;
    uint64_t add = elapsed * c->rate_mtok_per_s;
    b->level_utok = (cap - b->level_utok <= add) ? cap : b->level_utok + add;
}

bool tbucket_take(struct tbucket *b, const struct tbucket_conf *c, uint64_t now_ms, uint32_t n)
{
    assert(tbucket_conf_valid(c));
    refill(b, c, now_ms);
    uint64_t need = (uint64_t)n * UTOK_PER_TOK;
    if (b->level_utok < need) return false;
    b->level_utok -= need;
    return true;
}

uint32_t tbucket_tokens(struct tbucket *b, const struct tbucket_conf *c, uint64_t now_ms)
{
    refill(b, c, now_ms);
    return (uint32_t)(b->level_utok / UTOK_PER_TOK);
}

uint64_t tbucket_wait_ms(struct tbucket *b, const struct tbucket_conf *c, uint64_t now_ms,
                         uint32_t n)
{
    refill(b, c, now_ms);
    uint64_t need = (uint64_t)n * UTOK_PER_TOK;
    if (b->level_utok >= need) return 0;
    if (n > c->burst || c->rate_mtok_per_s == 0) return UINT64_MAX;
    uint64_t missing = need - b->level_utok;
    return (missing + c->rate_mtok_per_s - 1) / c->rate_mtok_per_s;
}
