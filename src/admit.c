/* admit: deli counter, pre-queue shuffle, capacity share, ETA and retry. */
#include "admit.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "iptable.h" /* iptable_hash: SipHash-2-4, the Feistel round function */

#pragma GCC poison strcpy sprintf gets strtok atoi

#define FEISTEL_ROUNDS 4

static const char *const shed_names[] = {
    [ADMIT_SHED_NONE] = "none",
    [ADMIT_SHED_QUEUE_FULL] = "queue_full",
    [ADMIT_SHED_PREQUEUE_FULL] = "prequeue_full",
    [ADMIT_SHED_STALE] = "queue_ticket_stale",
    [ADMIT_SHED_REDEEMED] = "queue_ticket_redeemed",
    [ADMIT_SHED_BAD_CLAIM] = "queue_ticket_unknown",
};

const char *admit_shed_name(enum admit_shed r)
{
    if ((unsigned)r >= sizeof(shed_names) / sizeof(shed_names[0])) return "?";
    return shed_names[r];
}

void admit_rng_os(void *arg, void *buf, size_t len)
{
    uint8_t *p = buf;
    (void)arg;
    while (len) {
        ssize_t n = getrandom(p, len, 0);
        if (n < 0) {
            if (errno == EINTR) continue;
            abort(); /* no randomness: nothing fair or secret can be done */
        }
        p += n;
        len -= (size_t)n;
    }
}

bool admit_conf_valid(const struct admit_conf *c)
{
    return c->listeners_max >= 1 && c->share_permille >= 1 && c->share_permille <= 1000 &&
           c->admit_per_s >= 1 && c->admit_per_s <= 1000000 && c->admit_burst >= 1 &&
           c->admit_burst <= TBUCKET_BURST_MAX && c->prequeue_max <= ADMIT_PREQUEUE_MAX &&
           c->queue_max >= 1 && c->poll_min_s >= 1 && c->poll_min_s <= c->poll_max_s &&
           c->poll_max_s <= 3600 && c->jitter_permille <= 1000 && c->prestart_spread_s <= 3600 &&
           c->promise_s >= 1 && c->promise_s <= ADMIT_SLOTS && c->redeem_window >= 64 &&
           c->redeem_window <= ADMIT_REDEEM_WINDOW_MAX;
}

int admit_init(struct admit *a, const struct admit_conf *c, uint64_t start_ms, uint64_t now_ms,
               admit_rng_fn rng, void *rng_arg)
{
    assert(rng);
    memset(a, 0, sizeof(*a));
    if (!admit_conf_valid(c)) return -EINVAL;
    uint32_t w = 64;
    while (w < c->redeem_window)
        w <<= 1;
    a->redeemed = calloc(w / 64, sizeof(uint64_t));
    if (!a->redeemed) return -ENOMEM;
    a->redeem_mask = w - 1;
    a->c = *c;
    a->c.redeem_window = w;
    a->rng = rng;
    a->rng_arg = rng_arg;
    a->start_ms = start_ms;
    a->tbc.rate_mtok_per_s = c->admit_per_s * 1000;
    a->tbc.burst = c->admit_burst;
    tbucket_init(&a->tb, &a->tbc, now_ms);
    for (unsigned i = 0; i < ADMIT_SLOTS; i++)
        a->slot_s[i] = UINT64_MAX;
    return 0;
}

void admit_free(struct admit *a)
{
    free(a->redeemed);
    memset(a, 0, sizeof(*a));
}

/* ---- served counts per second ------------------------------------------- */

static uint32_t *served_at(struct admit *a, uint64_t s)
{
    unsigned i = (unsigned)(s % ADMIT_SLOTS);
    if (a->slot_s[i] != s) {
        a->slot_s[i] = s;
        a->served[i] = 0;
    }
    return &a->served[i];
}

/* served_since: numbers served during the last <secs> seconds up to now. */
static uint64_t served_since(const struct admit *a, uint64_t now_ms, uint32_t secs)
{
    uint64_t now_s = now_ms / 1000, sum = 0;
    for (uint32_t k = 0; k < secs && k <= now_s; k++) {
        unsigned i = (unsigned)((now_s - k) % ADMIT_SLOTS);
        if (a->slot_s[i] == now_s - k) sum += a->served[i];
    }
    return sum;
}

uint32_t admit_headroom(const struct admit *a, uint64_t now_ms)
{
    uint64_t target = (uint64_t)a->c.listeners_max * a->c.share_permille / 1000;
    uint64_t used = (uint64_t)a->listeners_now + served_since(a, now_ms, a->c.promise_s);
    return target > used ? (uint32_t)(target - used) : 0;
}

/* ---- the start shuffle: a keyed permutation of [0, pre_n) ---------------- */

static uint64_t feistel(const struct admit *a, uint64_t x)
{
    uint64_t mask = (1ull << a->half_bits) - 1, l = x >> a->half_bits, r = x & mask;
    for (unsigned round = 0; round < FEISTEL_ROUNDS; round++) {
        uint8_t in[9];
        in[0] = (uint8_t)round;
        for (int i = 0; i < 8; i++)
            in[1 + i] = (uint8_t)(r >> (8 * i));
        uint64_t f = iptable_hash(a->k0, a->k1, in, sizeof(in)) & mask;
        uint64_t t = l ^ f;
        l = r;
        r = t;
    }
    return l << a->half_bits | r;
}

uint64_t admit_prequeue_number(const struct admit *a, uint64_t slot)
{
    if (!a->started || slot >= a->pre_n) return ADMIT_POSITION_UNKNOWN;
    /* Cycle walking: the domain is at most 4 * pre_n, so on average fewer
     * than 4 steps; it ends because slot's own cycle returns below pre_n. */
    uint64_t x = slot;
    do
        x = feistel(a, x);
    while (x >= a->pre_n);
    return x;
}

static void start(struct admit *a, uint64_t now_ms)
{
    uint8_t key[16];
    a->rng(a->rng_arg, key, sizeof(key));
    a->k0 = a->k1 = 0;
    for (int i = 0; i < 8; i++) {
        a->k0 |= (uint64_t)key[i] << (8 * i);
        a->k1 |= (uint64_t)key[8 + i] << (8 * i);
    }
    a->half_bits = 1;
    while (a->half_bits < 32 && (1ull << (2 * a->half_bits)) < a->pre_n)
        a->half_bits++;
    a->next_number = a->pre_n;
    a->now_serving = 0;
    a->started = true;
    (void)now_ms;
}

/* ---- serving ------------------------------------------------------------ */

static bool redeemed_bit(const struct admit *a, uint64_t n)
{
    uint64_t i = n & a->redeem_mask;
    return a->redeemed[i / 64] >> (i % 64) & 1;
}

static void set_redeemed(struct admit *a, uint64_t n, bool v)
{
    uint64_t i = n & a->redeem_mask, bit = 1ull << (i % 64);
    if (v)
        a->redeemed[i / 64] |= bit;
    else
        a->redeemed[i / 64] &= ~bit;
}

/* serve: lets <k> more numbers in; their redemption bits start clear (the
 * bit last belonged to the number redeem_window below, now out of reach). */
static void serve(struct admit *a, uint64_t now_ms, uint64_t k)
{
    for (uint64_t i = 0; i < k; i++)
        set_redeemed(a, a->now_serving + i, false);
    a->now_serving += k;
    *served_at(a, now_ms / 1000) += (uint32_t)k;
    a->st.served += k;
}

static void advance(struct admit *a, uint64_t now_ms)
{
    if (!a->started) {
        if (now_ms < a->start_ms) return;
        start(a, now_ms);
    }
    uint64_t waiting = a->next_number - a->now_serving;
    if (!waiting) return;
    uint64_t k = admit_headroom(a, now_ms);
    uint32_t tokens = tbucket_tokens(&a->tb, &a->tbc, now_ms);
    if (k > tokens) k = tokens;
    if (k > waiting) k = waiting;
    if (!k) return;
    bool took = tbucket_take(&a->tb, &a->tbc, now_ms, (uint32_t)k);
    assert(took);
    (void)took;
    serve(a, now_ms, k);
}

void admit_tick(struct admit *a, uint64_t now_ms, uint32_t listeners_now)
{
    a->listeners_now = listeners_now;
    advance(a, now_ms);
}

uint64_t admit_waiting(const struct admit *a)
{
    return a->next_number - a->now_serving;
}

/* ---- answers ------------------------------------------------------------ */

uint32_t admit_eta_s(const struct admit *a, uint64_t now_ms, uint64_t number)
{
    if (!a->started) {
        if (now_ms >= a->start_ms) return 0;
        return (uint32_t)((a->start_ms - now_ms + 999) / 1000);
    }
    if (number < a->now_serving) return 0;
    /* Serves needed until <number> is in: the bucket's tokens go at once, the
     * rest of the headroom at admit_per_s, beyond it at the measured rate. */
    uint64_t need = number - a->now_serving + 1;
    struct tbucket tb = a->tb;
    uint64_t tokens = tbucket_tokens(&tb, &a->tbc, now_ms);
    uint64_t room = admit_headroom(a, now_ms);
    uint64_t fast = need < room ? need : room, slow = need - fast;
    uint64_t eta_ms = fast > tokens ? (fast - tokens) * 1000 / a->c.admit_per_s : 0;
    if (slow) {
        uint64_t since_start_s = a->start_ms <= now_ms ? (now_ms - a->start_ms) / 1000 + 1 : 1;
        uint64_t window_s = since_start_s < a->c.promise_s ? since_start_s : a->c.promise_s;
        uint64_t served = served_since(a, now_ms, (uint32_t)window_s);
        if (!served) return ADMIT_UNKNOWN;
        eta_ms += slow * window_s * 1000 / served;
    }
    uint64_t s = (eta_ms + 999) / 1000;
    return s >= ADMIT_UNKNOWN ? ADMIT_UNKNOWN - 1 : (uint32_t)s;
}

static uint32_t rand32(struct admit *a)
{
    uint32_t r;
    a->rng(a->rng_arg, &r, sizeof(r));
    return r;
}

/* jitter: <base> seconds +- jitter_permille, at least 1. */
static uint32_t jitter(struct admit *a, uint32_t base)
{
    uint32_t j = a->c.jitter_permille;
    uint64_t factor = 1000 - j + (j ? rand32(a) % (2 * j + 1) : 0);
    uint64_t v = ((uint64_t)base * factor + 500) / 1000;
    return v < 1 ? 1 : v > UINT32_MAX ? UINT32_MAX : (uint32_t)v;
}

static uint32_t retry_for_eta(struct admit *a, uint32_t eta_s)
{
    uint32_t base = eta_s;
    if (base < a->c.poll_min_s) base = a->c.poll_min_s;
    if (base > a->c.poll_max_s) base = a->c.poll_max_s;
    return jitter(a, base);
}

/* Before the start: come back after it, spread over prestart_spread_s. */
static uint32_t retry_prestart(struct admit *a, uint64_t now_ms)
{
    uint64_t until = (a->start_ms - now_ms + 999) / 1000;
    uint32_t spread = a->c.prestart_spread_s ? rand32(a) % (a->c.prestart_spread_s + 1) : 0;
    uint64_t v = until + spread;
    return v < 1 ? 1 : v > UINT32_MAX ? UINT32_MAX : (uint32_t)v;
}

static void shed(struct admit *a, struct admit_decision *d, enum admit_shed why, uint32_t retry)
{
    d->outcome = ADMIT_SHED;
    d->reason = why;
    d->retry_after_s = retry;
    a->st.shed[why]++;
}

static void queue(struct admit *a, uint64_t now_ms, uint64_t number, struct admit_decision *d)
{
    d->outcome = ADMIT_QUEUE;
    d->number = number;
    d->position = number - a->now_serving;
    d->eta_s = admit_eta_s(a, now_ms, number);
    d->retry_after_s = retry_for_eta(a, d->eta_s == ADMIT_UNKNOWN ? a->c.poll_max_s : d->eta_s);
}

static void decide_prestart(struct admit *a, uint64_t now_ms, const struct admit_claim *cl,
                            struct admit_decision *d)
{
    if (cl->kind == ADMIT_CLAIM_QUEUE || (cl->kind == ADMIT_CLAIM_PRE && cl->number >= a->pre_n)) {
        shed(a, d, ADMIT_SHED_BAD_CLAIM, retry_prestart(a, now_ms));
        return;
    }
    uint64_t slot = cl->number;
    if (cl->kind == ADMIT_CLAIM_NONE) {
        if (a->pre_n >= a->c.prequeue_max) {
            shed(a, d, ADMIT_SHED_PREQUEUE_FULL, retry_prestart(a, now_ms));
            return;
        }
        slot = a->pre_n++;
        a->st.queued++;
    }
    d->outcome = ADMIT_QUEUE;
    d->pre = true;
    d->number = slot;
    d->position = ADMIT_POSITION_UNKNOWN;
    d->eta_s = admit_eta_s(a, now_ms, 0);
    d->retry_after_s = retry_prestart(a, now_ms);
}

static void redeem(struct admit *a, uint64_t now_ms, uint64_t n, struct admit_decision *d)
{
    if (n >= a->next_number) {
        shed(a, d, ADMIT_SHED_BAD_CLAIM, jitter(a, a->c.poll_min_s));
        return;
    }
    if (n >= a->now_serving) {
        queue(a, now_ms, n, d);
        return;
    }
    if (a->now_serving - n > a->c.redeem_window) {
        shed(a, d, ADMIT_SHED_STALE, jitter(a, a->c.poll_min_s));
        return;
    }
    if (redeemed_bit(a, n)) {
        shed(a, d, ADMIT_SHED_REDEEMED, jitter(a, a->c.poll_min_s));
        return;
    }
    set_redeemed(a, n, true);
    a->st.redeemed++;
    d->outcome = ADMIT_ADMIT;
    d->number = n;
}

void admit_decide(struct admit *a, uint64_t now_ms, const struct admit_claim *claim,
                  struct admit_decision *d)
{
    static const struct admit_claim none = {ADMIT_CLAIM_NONE, 0};
    const struct admit_claim *cl = claim ? claim : &none;
    memset(d, 0, sizeof(*d));
    a->st.decisions++;
    advance(a, now_ms);
    if (!a->started) {
        decide_prestart(a, now_ms, cl, d);
        return;
    }

    switch (cl->kind) {
    case ADMIT_CLAIM_PRE: {
        uint64_t n = admit_prequeue_number(a, cl->number);
        if (n == ADMIT_POSITION_UNKNOWN) {
            shed(a, d, ADMIT_SHED_BAD_CLAIM, jitter(a, a->c.poll_min_s));
            return;
        }
        {
            redeem(a, now_ms, n, d);
            return;
        }
    }
    case ADMIT_CLAIM_QUEUE: {
        redeem(a, now_ms, cl->number, d);
        return;
    }
    case ADMIT_CLAIM_NONE:
        break;
    }
    /* Nobody waiting, room and a token: straight in (a number is still
     * consumed, so counts stay one sequence). */
    if (a->now_serving == a->next_number && admit_headroom(a, now_ms) > 0 &&
        tbucket_take(&a->tb, &a->tbc, now_ms, 1)) {
        uint64_t n = a->next_number++;
        serve(a, now_ms, 1);
        set_redeemed(a, n, true);
        a->st.admitted_direct++;
        d->outcome = ADMIT_ADMIT;
        d->number = n;
        return;
    }
    if (a->next_number - a->now_serving >= a->c.queue_max) {
        shed(a, d, ADMIT_SHED_QUEUE_FULL, jitter(a, a->c.poll_max_s));
        return;
    }
    a->st.queued++;
    queue(a, now_ms, a->next_number++, d);
}
