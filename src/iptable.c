/* iptable: bounded, set-associative, keyed per-prefix table. */
#include "iptable.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#pragma GCC poison strcpy sprintf gets strtok atoi

#define GLITCH_LEAK_PTS_PER_S_MAX 1000000u
#define COST_MAX_MAX 1000u
#define ELAPSED_MS_MAX (1ull << 40)

static const char *const result_names[] = {
    [IPTABLE_OK] = "ok",
    [IPTABLE_CONN_CAP] = "prefix_conns",
    [IPTABLE_CONN_RATE] = "prefix_conn_rate",
    [IPTABLE_TICKET_RATE] = "prefix_ticket_rate",
    [IPTABLE_GLITCHY] = "prefix_glitchy",
};

const char *iptable_result_name(enum iptable_result r)
{
    if ((unsigned)r >= sizeof(result_names) / sizeof(result_names[0])) return "?";
    return result_names[r];
}

/* SipHash-2-4, written from the algorithm's description (Aumasson and
 * Bernstein, 2012): four 64-bit lanes, two rounds per word, four at the end. */
static inline uint64_t rotl(uint64_t x, unsigned b)
{
    return (x << b) | (x >> (64 - b));
}

#define SIPROUND                                                                                   \
    do {                                                                                           \
        v0 += v1;                                                                                  \
        v1 = rotl(v1, 13);                                                                         \
        v1 ^= v0;                                                                                  \
        v0 = rotl(v0, 32);                                                                         \
        v2 += v3;                                                                                  \
        v3 = rotl(v3, 16);                                                                         \
        v3 ^= v2;                                                                                  \
        v0 += v3;                                                                                  \
        v3 = rotl(v3, 21);                                                                         \
        v3 ^= v0;                                                                                  \
        v2 += v1;                                                                                  \
        v1 = rotl(v1, 17);                                                                         \
        v1 ^= v2;                                                                                  \
        v2 = rotl(v2, 32);                                                                         \
    } while (0)

static uint64_t le64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

uint64_t iptable_hash(uint64_t k0, uint64_t k1, const uint8_t *in, size_t len)
{
    uint64_t v0 = k0 ^ 0x736f6d6570736575ull, v1 = k1 ^ 0x646f72616e646f6dull;
    uint64_t v2 = k0 ^ 0x6c7967656e657261ull, v3 = k1 ^ 0x7465646279746573ull;
    size_t whole = len & ~(size_t)7;
    for (size_t i = 0; i < whole; i += 8) {
        uint64_t m = le64(in + i);
        v3 ^= m;
        SIPROUND;
        SIPROUND;
        v0 ^= m;
    }
    uint64_t last = (uint64_t)(len & 0xff) << 56;
    for (size_t i = 0; i < (len & 7); i++)
        last |= (uint64_t)in[whole + i] << (8 * i);
    v3 ^= last;
    SIPROUND;
    SIPROUND;
    v0 ^= last;
    v2 ^= 0xff;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    return v0 ^ v1 ^ v2 ^ v3;
}

bool iptable_limits_valid(const struct iptable_limits *lim)
{
    return lim->entries_max >= 1 && lim->entries_max <= IPTABLE_ENTRIES_MAX &&
           tbucket_conf_valid(&lim->conn_rate) && tbucket_conf_valid(&lim->ticket_rate) &&
           lim->glitch_leak_pts_per_s <= GLITCH_LEAK_PTS_PER_S_MAX && lim->cost_max >= 1 &&
           lim->cost_max <= COST_MAX_MAX;
}

int iptable_init(struct iptable *t, const struct iptable_limits *lim,
                 const uint8_t seed[IPTABLE_SEED_BYTES])
{
    memset(t, 0, sizeof(*t));
    if (!iptable_limits_valid(lim)) return -EINVAL;
    uint32_t n = IPTABLE_WAYS;
    while (n < lim->entries_max)
        n <<= 1;
    t->e = calloc(n, sizeof(*t->e));
    if (!t->e) return -ENOMEM;
    t->lim = *lim;
    t->lim.entries_max = n;
    t->mask_sets = n / IPTABLE_WAYS - 1;
    t->k0 = le64(seed);
    t->k1 = le64(seed + 8);
    t->gen_next = 1;
    return 0;
}

void iptable_free(struct iptable *t)
{
    free(t->e);
    memset(t, 0, sizeof(*t));
}

static struct iptable_entry *set_of(const struct iptable *t, const struct prefix *p)
{
    uint64_t h = iptable_hash(t->k0, t->k1, p->b, sizeof(p->b));
    return &t->e[(h & t->mask_sets) * IPTABLE_WAYS];
}

static struct iptable_entry *find(const struct iptable *t, const struct prefix *p)
{
    struct iptable_entry *set = set_of(t, p);
    for (unsigned i = 0; i < IPTABLE_WAYS; i++)
        if (set[i].gen && prefix_eq(&set[i].key, p)) return &set[i];
    return NULL;
}

/* A free way, else the oldest idle way, else the oldest busy way. */
static struct iptable_entry *victim(struct iptable *t, struct iptable_entry *set)
{
    struct iptable_entry *idle = NULL, *busy = NULL;
    for (unsigned i = 0; i < IPTABLE_WAYS; i++) {
        struct iptable_entry *e = &set[i];
        if (!e->gen) return e;
        if (e->conns == 0) {
            if (!idle || e->seen_ms < idle->seen_ms) idle = e;
        } else if (!busy || e->seen_ms < busy->seen_ms) {
            busy = e;
        }
    }
    if (idle) {
        t->st.evictions_idle++;
        return idle;
    }
    t->st.evictions_busy++;
    return busy;
}

/* get: <p>'s entry, inserted when absent; marks it seen. */
static struct iptable_entry *get(struct iptable *t, const struct prefix *p, uint64_t now_ms)
{
    struct iptable_entry *e = find(t, p);
    if (!e) {
        e = victim(t, set_of(t, p));
        if (!e->gen) t->st.used++;
        t->st.inserts++;
        memset(e, 0, sizeof(*e));
        e->key = *p;
        e->gen = t->gen_next++;
        if (t->gen_next == 0) t->gen_next = 1;
        tbucket_init(&e->conn_tb, &t->lim.conn_rate, now_ms);
        tbucket_init(&e->ticket_tb, &t->lim.ticket_rate, now_ms);
        e->glitch_ms = now_ms;
        e->join_s = UINT64_MAX;
    }
    if (now_ms > e->seen_ms) e->seen_ms = now_ms;
    return e;
}

/* leak: the glitch score drains at glitch_leak_pts_per_s (pts/s * ms = mpts). */
static void leak(const struct iptable *t, struct iptable_entry *e, uint64_t now_ms)
{
    if (now_ms <= e->glitch_ms) return;
    uint64_t elapsed = now_ms - e->glitch_ms;
    if (elapsed > ELAPSED_MS_MAX) elapsed = ELAPSED_MS_MAX;
    uint64_t drop = elapsed * t->lim.glitch_leak_pts_per_s;
    e->glitch_mpts = e->glitch_mpts > drop ? e->glitch_mpts - drop : 0;
    e->glitch_ms = now_ms;
}

static uint32_t cost_of(const struct iptable *t, const struct iptable_entry *e)
{
    if (!t->lim.glitch_cost_step_pts) return 1;
    uint64_t c = 1 + e->glitch_mpts / 1000 / t->lim.glitch_cost_step_pts;
    return c > t->lim.cost_max ? t->lim.cost_max : (uint32_t)c;
}

static bool blocked(const struct iptable *t, const struct iptable_entry *e, uint64_t *retry_ms)
{
    uint64_t block = (uint64_t)t->lim.glitch_block_pts * 1000;
    if (!t->lim.glitch_block_pts || e->glitch_mpts < block) return false;
    if (retry_ms) {
        uint64_t leak_per_ms = t->lim.glitch_leak_pts_per_s;
        *retry_ms = leak_per_ms ? (e->glitch_mpts - block) / leak_per_ms + 1 : UINT64_MAX;
    }
    return true;
}

enum iptable_result iptable_conn_open(struct iptable *t, const struct prefix *p, uint64_t now_ms,
                                      struct iptable_ref *ref, uint64_t *retry_ms)
{
    assert(t->e && ref);
    struct iptable_entry *e = get(t, p, now_ms);
    ref->slot = 0;
    ref->gen = 0;
    if (retry_ms) *retry_ms = 0;
    leak(t, e, now_ms);
    if (blocked(t, e, retry_ms)) return IPTABLE_GLITCHY;
    if (t->lim.conns_per_prefix_max && e->conns >= t->lim.conns_per_prefix_max)
        return IPTABLE_CONN_CAP;
    uint32_t cost = cost_of(t, e);
    if (!tbucket_take(&e->conn_tb, &t->lim.conn_rate, now_ms, cost)) {
        if (retry_ms) *retry_ms = tbucket_wait_ms(&e->conn_tb, &t->lim.conn_rate, now_ms, cost);
        return IPTABLE_CONN_RATE;
    }
    e->conns++;
    ref->slot = (uint32_t)(e - t->e);
    ref->gen = e->gen;
    return IPTABLE_OK;
}

void iptable_conn_close(struct iptable *t, struct iptable_ref *ref)
{
    if (!ref->gen) return;
    assert(ref->slot < t->lim.entries_max);
    struct iptable_entry *e = &t->e[ref->slot];
    if (e->gen == ref->gen && e->conns > 0)
        e->conns--;
    else
        t->st.releases_stale++;
    ref->gen = 0;
}

enum iptable_result iptable_ticket_take(struct iptable *t, const struct prefix *p, uint64_t now_ms,
                                        uint64_t *retry_ms)
{
    assert(t->e);
    struct iptable_entry *e = get(t, p, now_ms);
    if (retry_ms) *retry_ms = 0;
    leak(t, e, now_ms);
    if (blocked(t, e, retry_ms)) return IPTABLE_GLITCHY;
    uint32_t cost = cost_of(t, e);
    if (!tbucket_take(&e->ticket_tb, &t->lim.ticket_rate, now_ms, cost)) {
        if (retry_ms) *retry_ms = tbucket_wait_ms(&e->ticket_tb, &t->lim.ticket_rate, now_ms, cost);
        return IPTABLE_TICKET_RATE;
    }
    return IPTABLE_OK;
}

void iptable_glitch(struct iptable *t, const struct prefix *p, uint64_t now_ms, uint32_t points)
{
    assert(t->e);
    struct iptable_entry *e = get(t, p, now_ms);
    leak(t, e, now_ms);
    e->glitch_mpts += (uint64_t)points * 1000;
}

uint32_t iptable_cost(struct iptable *t, const struct prefix *p, uint64_t now_ms)
{
    struct iptable_entry *e = find(t, p);
    if (!e) return 1;
    leak(t, e, now_ms);
    return cost_of(t, e);
}

uint32_t iptable_glitch_pts(struct iptable *t, const struct prefix *p, uint64_t now_ms)
{
    struct iptable_entry *e = find(t, p);
    if (!e) return 0;
    leak(t, e, now_ms);
    uint64_t pts = e->glitch_mpts / 1000;
    return pts > UINT32_MAX ? UINT32_MAX : (uint32_t)pts;
}

uint32_t iptable_conns(const struct iptable *t, const struct prefix *p)
{
    const struct iptable_entry *e = find(t, p);
    return e ? e->conns : 0;
}

void iptable_note_join(struct iptable *t, const struct prefix *p, uint64_t now_ms)
{
    uint64_t s = now_ms / 1000;
    if (s != t->cur.s) {
        if (s == t->cur.s + 1) {
            t->prev = t->cur;
        } else {
            memset(&t->prev, 0, sizeof(t->prev));
            t->prev.s = s - 1;
        }
        memset(&t->cur, 0, sizeof(t->cur));
        t->cur.s = s;
    }
    struct iptable_entry *e = get(t, p, now_ms);
    if (e->join_s != s) {
        e->join_s = s;
        e->joins = 0;
        t->cur.prefixes++;
    }
    e->joins++;
    t->cur.joins++;
    if (e->joins > t->cur.top_joins) {
        t->cur.top_joins = e->joins;
        t->cur.top = e->key;
    }
}

void iptable_last_second(const struct iptable *t, uint64_t now_ms, struct iptable_second *out)
{
    uint64_t want = now_ms / 1000 - 1;
    if (t->cur.s == want && t->cur.joins)
        *out = t->cur;
    else if (t->prev.s == want && t->prev.joins)
        *out = t->prev;
    else {
        memset(out, 0, sizeof(*out));
        out->s = want;
    }
}
