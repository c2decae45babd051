/* timeline: per-second gate records, JSON export, the verdict. */
#include "timeline.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#pragma GCC poison strcpy sprintf gets strtok atoi

/* The verdict's thresholds (docs/internals/gate.md explains each). */
#define QUIET_REQUESTS_MIN 100
#define GLITCH_PERMILLE_MIN 50
#define FORGED_PERMILLE_MIN 50
#define PREFIX_LIMITED_PERMILLE_MIN 200
#define CONCENTRATED_PERMILLE_MIN 250
#define CONCENTRATED_JOINS_MIN 100
#define SHARE_SECOND_JOINS_MIN 20
#define BROAD_PREFIXES_PER_S_MIN 20
#define BROAD_JOINS_PER_PREFIX_X10_MAX 50
#define OVER_CAPACITY_PERMILLE_MIN 100
#define OVERWHELMING_PERMILLE_MIN 500 /* one signal this strong counts as two */

static const char *const reason_names[TIMELINE_REASONS] = {
    [TIMELINE_R_PREFIX_CONNS] = "prefix_conns",
    [TIMELINE_R_PREFIX_CONN_RATE] = "prefix_conn_rate",
    [TIMELINE_R_PREFIX_TICKET_RATE] = "prefix_ticket_rate",
    [TIMELINE_R_PREFIX_GLITCHY] = "prefix_glitchy",
    [TIMELINE_R_TICKET_MISSING] = "ticket_missing",
    [TIMELINE_R_TICKET_MALFORMED] = "ticket_malformed",
    [TIMELINE_R_TICKET_FORGED] = "ticket_forged",
    [TIMELINE_R_TICKET_EXPIRED] = "ticket_expired",
    [TIMELINE_R_TICKET_MISUSED] = "ticket_misused",
    [TIMELINE_R_TICKET_WRONG_PREFIX] = "ticket_wrong_prefix",
    [TIMELINE_R_POW_REQUIRED] = "pow_required",
    [TIMELINE_R_POW_INVALID] = "pow_invalid",
    [TIMELINE_R_POW_REPLAYED] = "pow_replayed",
    [TIMELINE_R_QUEUE_FULL] = "queue_full",
    [TIMELINE_R_PREQUEUE_FULL] = "prequeue_full",
    [TIMELINE_R_QUEUE_TICKET] = "queue_ticket",
    [TIMELINE_R_OVERLOAD] = "overload",
    [TIMELINE_R_BULKHEAD] = "bulkhead",
    [TIMELINE_R_CAPACITY] = "capacity",
    [TIMELINE_R_PROXY_INVALID] = "proxy_invalid",
};

const char *timeline_reason_name(enum timeline_reason r)
{
    return (unsigned)r < TIMELINE_REASONS ? reason_names[r] : "?";
}

const char *timeline_outcome_name(enum timeline_outcome o)
{
    static const char *const names[] = {"admitted", "queued", "rejected", "shed"};
    return (unsigned)o < TIMELINE_OUTCOMES ? names[o] : "?";
}

const char *timeline_kind_name(enum timeline_kind k)
{
    static const char *const names[] = {"quiet", "legitimate", "hostile", "mixed"};
    return (unsigned)k <= TIMELINE_MIXED ? names[k] : "?";
}

enum timeline_reason timeline_reason_of_iptable(enum iptable_result r)
{
    assert(r != IPTABLE_OK);
    switch (r) {
    case IPTABLE_CONN_CAP:
        return TIMELINE_R_PREFIX_CONNS;
    case IPTABLE_CONN_RATE:
        return TIMELINE_R_PREFIX_CONN_RATE;
    case IPTABLE_TICKET_RATE:
        return TIMELINE_R_PREFIX_TICKET_RATE;
    case IPTABLE_GLITCHY:
    case IPTABLE_OK:
        break;
    }
    return TIMELINE_R_PREFIX_GLITCHY;
}

enum timeline_reason timeline_reason_of_ticket(enum ticket_status s)
{
    assert(s != TICKET_OK);
    switch (s) {
    case TICKET_BAD_SIGNATURE:
    case TICKET_UNKNOWN_EPOCH:
        return TIMELINE_R_TICKET_FORGED;
    case TICKET_EXPIRED:
    case TICKET_NOT_YET_VALID:
        return TIMELINE_R_TICKET_EXPIRED;
    case TICKET_WRONG_KIND:
    case TICKET_WRONG_SPACE:
        return TIMELINE_R_TICKET_MISUSED;
    case TICKET_WRONG_PREFIX:
        return TIMELINE_R_TICKET_WRONG_PREFIX;
    case TICKET_MALFORMED:
    case TICKET_OK:
        break;
    }
    return TIMELINE_R_TICKET_MALFORMED;
}

enum timeline_reason timeline_reason_of_pow(enum pow_status s)
{
    assert(s != POW_OK);
    return s == POW_REPLAYED ? TIMELINE_R_POW_REPLAYED : TIMELINE_R_POW_INVALID;
}

enum timeline_reason timeline_reason_of_admit(enum admit_shed s)
{
    assert(s != ADMIT_SHED_NONE);
    switch (s) {
    case ADMIT_SHED_QUEUE_FULL:
        return TIMELINE_R_QUEUE_FULL;
    case ADMIT_SHED_PREQUEUE_FULL:
        return TIMELINE_R_PREQUEUE_FULL;
    case ADMIT_SHED_STALE:
    case ADMIT_SHED_REDEEMED:
    case ADMIT_SHED_BAD_CLAIM:
    case ADMIT_SHED_NONE:
        break;
    }
    return TIMELINE_R_QUEUE_TICKET;
}

/* ---- the ring ----------------------------------------------------------- */

int timeline_init(struct timeline *tl, uint32_t slots)
{
    memset(tl, 0, sizeof(*tl));
    if (slots == 0 || slots > TIMELINE_SLOTS_MAX) return -EINVAL;
    tl->sec = calloc(slots, sizeof(*tl->sec));
    if (!tl->sec) return -ENOMEM;
    for (uint32_t i = 0; i < slots; i++)
        tl->sec[i].s = UINT64_MAX;
    tl->slots = slots;
    return 0;
}

void timeline_free(struct timeline *tl)
{
    free(tl->sec);
    memset(tl, 0, sizeof(*tl));
}

/* at: the record for second <s>, claimed (and cleared) if it held another. */
static struct timeline_sec *at(struct timeline *tl, uint64_t s)
{
    assert(tl->sec);
    struct timeline_sec *r = &tl->sec[s % tl->slots];
    if (r->s != s) {
        memset(r, 0, sizeof(*r));
        r->s = s;
    }
    return r;
}

const struct timeline_sec *timeline_get(const struct timeline *tl, uint64_t s)
{
    const struct timeline_sec *r = &tl->sec[s % tl->slots];
    return r->s == s ? r : NULL;
}

void timeline_request(struct timeline *tl, uint64_t now_ms)
{
    at(tl, now_ms / 1000)->requests++;
}

void timeline_join(struct timeline *tl, uint64_t now_ms, enum timeline_outcome o)
{
    assert(o < TIMELINE_OUTCOMES);
    at(tl, now_ms / 1000)->joins[o]++;
}

void timeline_reject(struct timeline *tl, uint64_t now_ms, enum timeline_reason r)
{
    assert(r < TIMELINE_REASONS);
    at(tl, now_ms / 1000)->rejects[r]++;
}

void timeline_glitch(struct timeline *tl, uint64_t now_ms, uint32_t n)
{
    at(tl, now_ms / 1000)->glitches += n;
}

void timeline_add(struct timeline *tl, uint64_t now_ms, const struct timeline_sec *d)
{
    struct timeline_sec *r = at(tl, now_ms / 1000);
    r->requests += d->requests;
    for (unsigned i = 0; i < TIMELINE_OUTCOMES; i++)
        r->joins[i] += d->joins[i];
    for (unsigned i = 0; i < TIMELINE_REASONS; i++)
        r->rejects[i] += d->rejects[i];
    r->glitches += d->glitches;
}

void timeline_gauges(struct timeline *tl, uint64_t now_ms, uint32_t queue_len, uint32_t admitted,
                     unsigned overload_level, unsigned pow_bits)
{
    struct timeline_sec *r = at(tl, now_ms / 1000);
    r->queue_len = queue_len;
    r->admitted = admitted;
    r->overload_level = (uint8_t)(overload_level > 255 ? 255 : overload_level);
    r->pow_bits = (uint8_t)(pow_bits > 255 ? 255 : pow_bits);
}

void timeline_prefixes(struct timeline *tl, const struct iptable_second *s)
{
    struct timeline_sec *r = &tl->sec[s->s % tl->slots];
    if (r->s != s->s) {
        /* a second we have no record of: claim its slot only if that holds
         * an older second (never overwrite the present with the past) */
        if (r->s != UINT64_MAX && r->s > s->s) return;
        r = at(tl, s->s);
    }
    r->prefix_joins = s->joins;
    r->prefixes = s->prefixes;
    r->top_prefix_joins = s->top_joins;
    r->top_prefix = s->top;
}

/* ---- verdict ------------------------------------------------------------ */

static uint32_t permille(uint64_t part, uint64_t whole)
{
    if (!whole) return 0;
    uint64_t v = part * 1000 / whole;
    return v > 1000000 ? 1000000 : (uint32_t)v;
}

void timeline_verdict(const struct timeline *tl, uint64_t from_s, uint64_t to_s,
                      struct timeline_verdict *v)
{
    uint64_t forged = 0, limited = 0, capacity = 0, prefix_secs = 0, prefix_joins = 0;
    uint64_t top_joins = 0;
    memset(v, 0, sizeof(*v));
    if (to_s >= from_s && to_s - from_s >= tl->slots) from_s = to_s - tl->slots + 1;
    for (uint64_t s = from_s; s <= to_s && s != UINT64_MAX; s++) {
        const struct timeline_sec *r = timeline_get(tl, s);
        if (!r) continue;
        v->seconds++;
        v->requests += r->requests;
        v->admitted += r->joins[TIMELINE_ADMITTED];
        v->queued += r->joins[TIMELINE_QUEUED];
        v->rejected += r->joins[TIMELINE_REJECTED];
        v->shed += r->joins[TIMELINE_SHED];
        v->glitches += r->glitches;
        forged += (uint64_t)r->rejects[TIMELINE_R_TICKET_MALFORMED] +
                  r->rejects[TIMELINE_R_TICKET_FORGED] +
                  r->rejects[TIMELINE_R_TICKET_WRONG_PREFIX] + r->rejects[TIMELINE_R_POW_INVALID] +
                  r->rejects[TIMELINE_R_POW_REPLAYED] + r->rejects[TIMELINE_R_PROXY_INVALID];
        limited += (uint64_t)r->rejects[TIMELINE_R_PREFIX_CONNS] +
                   r->rejects[TIMELINE_R_PREFIX_CONN_RATE] +
                   r->rejects[TIMELINE_R_PREFIX_TICKET_RATE] +
                   r->rejects[TIMELINE_R_PREFIX_GLITCHY];
        capacity += (uint64_t)r->rejects[TIMELINE_R_QUEUE_FULL] +
                    r->rejects[TIMELINE_R_PREQUEUE_FULL] + r->rejects[TIMELINE_R_OVERLOAD] +
                    r->rejects[TIMELINE_R_BULKHEAD] + r->rejects[TIMELINE_R_CAPACITY];
        prefix_secs += r->prefixes;
        prefix_joins += r->prefix_joins;
        top_joins += r->top_prefix_joins;
        if (r->prefix_joins >= SHARE_SECOND_JOINS_MIN) {
            uint32_t share = permille(r->top_prefix_joins, r->prefix_joins);
            if (share > v->top_share_max_permille) {
                v->top_share_max_permille = share;
                v->top_prefix = r->top_prefix;
            }
        }
    }
    v->joins = v->admitted + v->queued + v->rejected + v->shed;
    v->glitch_permille = permille(v->glitches, v->requests);
    v->forged_permille = permille(forged, v->requests);
    v->prefix_limited_permille = permille(limited, v->requests);
    v->capacity_permille = permille(capacity, v->requests);
    v->top_share_permille = permille(top_joins, prefix_joins);
    v->prefixes_per_s = v->seconds ? (uint32_t)(prefix_secs / v->seconds) : 0;
    v->joins_per_prefix_x10 = prefix_secs ? (uint32_t)(prefix_joins * 10 / prefix_secs) : 0;

    if (v->glitch_permille >= GLITCH_PERMILLE_MIN) v->signals |= TIMELINE_SIG_GLITCHES;
    if (v->forged_permille >= FORGED_PERMILLE_MIN) v->signals |= TIMELINE_SIG_FORGED;
    if (v->prefix_limited_permille >= PREFIX_LIMITED_PERMILLE_MIN)
        v->signals |= TIMELINE_SIG_PREFIX_LIMITS;
    if (prefix_joins >= CONCENTRATED_JOINS_MIN &&
        v->top_share_permille >= CONCENTRATED_PERMILLE_MIN)
        v->signals |= TIMELINE_SIG_CONCENTRATED;
    if (v->prefixes_per_s >= BROAD_PREFIXES_PER_S_MIN &&
        v->joins_per_prefix_x10 <= BROAD_JOINS_PER_PREFIX_X10_MAX)
        v->signals |= TIMELINE_SIG_BROAD;
    if (v->capacity_permille >= OVER_CAPACITY_PERMILLE_MIN || v->queued > v->admitted)
        v->signals |= TIMELINE_SIG_OVER_CAPACITY;

    unsigned hostile = (unsigned)__builtin_popcount(
        v->signals & (TIMELINE_SIG_GLITCHES | TIMELINE_SIG_FORGED | TIMELINE_SIG_PREFIX_LIMITS |
                      TIMELINE_SIG_CONCENTRATED));
    /* When the cheap layers shed an attack at accept, little of it reaches
     * the join (no concentration to measure): but half of all requests
     * refused per network, malformed or forged is no crowd behind a NAT. */
    if (v->glitch_permille >= OVERWHELMING_PERMILLE_MIN ||
        v->forged_permille >= OVERWHELMING_PERMILLE_MIN ||
        v->prefix_limited_permille >= OVERWHELMING_PERMILLE_MIN)
        hostile++;
    if (v->requests < QUIET_REQUESTS_MIN)
        v->kind = TIMELINE_QUIET;
    else if (hostile == 0)
        v->kind = TIMELINE_LEGITIMATE;
    else if (hostile >= 2 && !(v->signals & TIMELINE_SIG_BROAD))
        v->kind = TIMELINE_HOSTILE;
    else
        v->kind = TIMELINE_MIXED;
}

/* ---- JSON: a bounded writer that only ever emits our own names ----------- */

struct jw {
    char *buf;
    size_t len, n;
    bool full;
};

static void jw_mem(struct jw *w, const char *s, size_t n)
{
    if (w->full || w->len - w->n <= n) {
        w->full = true;
        return;
    }
    memcpy(w->buf + w->n, s, n);
    w->n += n;
    w->buf[w->n] = '\0';
}

static void jw_s(struct jw *w, const char *s)
{
    jw_mem(w, s, strlen(s));
}

static void jw_u(struct jw *w, uint64_t v)
{
    char t[24];
    int n = snprintf(t, sizeof(t), "%" PRIu64, v);
    jw_mem(w, t, (size_t)n);
}

static void jw_i(struct jw *w, int64_t v)
{
    char t[24];
    int n = snprintf(t, sizeof(t), "%" PRId64, v);
    jw_mem(w, t, (size_t)n);
}

/* jw_kv: ,"key":value (comma unless first) */
static void jw_kv(struct jw *w, bool *first, const char *key, uint64_t v)
{
    if (!*first) jw_s(w, ",");
    *first = false;
    jw_s(w, "\"");
    jw_s(w, key);
    jw_s(w, "\":");
    jw_u(w, v);
}

static void json_second(struct jw *w, const struct timeline_sec *r, int64_t offset)
{
    bool first = true;
    jw_s(w, "{\"t\":");
    jw_i(w, (int64_t)r->s + offset);
    jw_s(w, ",\"requests\":");
    jw_u(w, r->requests);
    jw_s(w, ",\"joins\":{");
    for (unsigned o = 0; o < TIMELINE_OUTCOMES; o++)
        jw_kv(w, &first, timeline_outcome_name((enum timeline_outcome)o), r->joins[o]);
    jw_s(w, "},\"rejections\":{");
    first = true;
    for (unsigned i = 0; i < TIMELINE_REASONS; i++)
        if (r->rejects[i]) jw_kv(w, &first, reason_names[i], r->rejects[i]);
    jw_s(w, "}");
    first = false;
    jw_kv(w, &first, "glitches", r->glitches);
    jw_kv(w, &first, "prefix_joins", r->prefix_joins);
    jw_kv(w, &first, "prefixes", r->prefixes);
    jw_kv(w, &first, "top_prefix_joins", r->top_prefix_joins);
    if (r->top_prefix_joins) {
        char p[PREFIX_TEXT_BYTES_MAX];
        if (prefix_format(&r->top_prefix, p, sizeof(p)) > 0) {
            jw_s(w, ",\"top_prefix\":\"");
            jw_s(w, p); /* digits, hex, '.', ':' and '/': nothing to escape */
            jw_s(w, "\"");
        }
    }
    jw_kv(w, &first, "queue", r->queue_len);
    jw_kv(w, &first, "admitted_per_s", r->admitted);
    jw_kv(w, &first, "overload_level", r->overload_level);
    jw_kv(w, &first, "pow_bits", r->pow_bits);
    jw_s(w, "}");
}

static void json_verdict(struct jw *w, const struct timeline_verdict *v)
{
    static const char *const sig_names[] = {"glitches",     "forged", "prefix_limits",
                                            "concentrated", "broad",  "over_capacity"};
    bool first = true;
    jw_s(w, "{\"kind\":\"");
    jw_s(w, timeline_kind_name(v->kind));
    jw_s(w, "\",\"signals\":[");
    for (unsigned i = 0; i < sizeof(sig_names) / sizeof(sig_names[0]); i++) {
        if (!(v->signals & (1u << i))) continue;
        if (!first) jw_s(w, ",");
        first = false;
        jw_s(w, "\"");
        jw_s(w, sig_names[i]);
        jw_s(w, "\"");
    }
    jw_s(w, "],\"evidence\":{");
    first = true;
    jw_kv(w, &first, "seconds", v->seconds);
    jw_kv(w, &first, "requests", v->requests);
    jw_kv(w, &first, "joins", v->joins);
    jw_kv(w, &first, "admitted", v->admitted);
    jw_kv(w, &first, "queued", v->queued);
    jw_kv(w, &first, "rejected", v->rejected);
    jw_kv(w, &first, "shed", v->shed);
    jw_kv(w, &first, "glitches", v->glitches);
    jw_kv(w, &first, "glitch_permille", v->glitch_permille);
    jw_kv(w, &first, "forged_permille", v->forged_permille);
    jw_kv(w, &first, "prefix_limited_permille", v->prefix_limited_permille);
    jw_kv(w, &first, "capacity_permille", v->capacity_permille);
    jw_kv(w, &first, "top_share_permille", v->top_share_permille);
    jw_kv(w, &first, "top_share_max_permille", v->top_share_max_permille);
    jw_kv(w, &first, "prefixes_per_s", v->prefixes_per_s);
    jw_kv(w, &first, "joins_per_prefix_x10", v->joins_per_prefix_x10);
    if (v->top_share_max_permille) {
        char p[PREFIX_TEXT_BYTES_MAX];
        if (prefix_format(&v->top_prefix, p, sizeof(p)) > 0) {
            jw_s(w, ",\"top_prefix\":\"");
            jw_s(w, p);
            jw_s(w, "\"");
        }
    }
    jw_s(w, "}}");
}

int timeline_json(const struct timeline *tl, uint64_t from_s, uint64_t to_s, int64_t unix_offset_s,
                  char *buf, size_t len)
{
    struct jw w = {.buf = buf, .len = len};
    struct timeline_verdict v;
    bool first = true;
    if (len) buf[0] = '\0';
    if (to_s >= from_s && to_s - from_s >= tl->slots) from_s = to_s - tl->slots + 1;
    jw_s(&w, "{\"from\":");
    jw_i(&w, (int64_t)from_s + unix_offset_s);
    jw_s(&w, ",\"to\":");
    jw_i(&w, (int64_t)to_s + unix_offset_s);
    jw_s(&w, ",\"seconds\":[");
    for (uint64_t s = from_s; s <= to_s && s != UINT64_MAX && !w.full; s++) {
        const struct timeline_sec *r = timeline_get(tl, s);
        if (!r) continue;
        if (!first) jw_s(&w, ",");
        first = false;
        json_second(&w, r, unix_offset_s);
    }
    jw_s(&w, "],\"verdict\":");
    timeline_verdict(tl, from_s, to_s, &v);
    json_verdict(&w, &v);
    jw_s(&w, "}");
    if (w.full) {
        if (len) buf[0] = '\0';
        return -ENOSPC;
    }
    return (int)w.n;
}
