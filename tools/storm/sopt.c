/* sopt: storm option parsing (see sopt.h). */
#include "sopt.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

int sopt_u64_parse(const char *s, size_t len, uint64_t *out)
{
    uint64_t v = 0;
    if (len == 0 || len > 20) return -1;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') return -1;
        uint64_t d = (uint64_t)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10) return -1;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

int sopt_duration_parse(const char *s, uint64_t bare_unit_us, uint64_t *out_us)
{
    size_t n = 0, len = strlen(s);
    while (n < len && s[n] >= '0' && s[n] <= '9') n++;
    uint64_t v, unit;
    if (sopt_u64_parse(s, n, &v) < 0) return -1;
    const char *u = s + n;
    if (!*u) unit = bare_unit_us;
    else if (!strcmp(u, "us")) unit = 1;
    else if (!strcmp(u, "ms")) unit = 1000;
    else if (!strcmp(u, "s")) unit = 1000000;
    else if (!strcmp(u, "m")) unit = 60000000;
    else if (!strcmp(u, "h")) unit = 3600000000ull;
    else return -1;
    if (unit && v > UINT64_MAX / unit) return -1;
    *out_us = v * unit;
    return 0;
}

int sopt_arrival_parse(const char *s, struct arrival *a)
{
    struct arrival r = {0};
    if (!strcmp(s, "burst")) {
        r.kind = ARRIVAL_BURST;
    } else if (!strncmp(s, "ramp:", 5)) {
        r.kind = ARRIVAL_RAMP;
        if (sopt_duration_parse(s + 5, 1000000, &r.ramp_us) < 0) return -1;
    } else if (!strncmp(s, "rate:", 5)) {
        const char *p = s + 5, *slash = strchr(p, '/');
        r.kind = ARRIVAL_RATE;
        if (!slash || strcmp(slash, "/s") != 0) return -1;
        if (sopt_u64_parse(p, (size_t)(slash - p), &r.rate_per_s) < 0 || r.rate_per_s == 0)
            return -1;
    } else {
        return -1;
    }
    *a = r;
    return 0;
}

uint64_t sopt_arrival_at_us(const struct arrival *a, uint64_t i, uint64_t n)
{
    switch (a->kind) {
    case ARRIVAL_RAMP:
        if (n == 0) return 0;
        /* 128-bit product: ramp_us * i may exceed 64 bits for long ramps */
        return (uint64_t)((unsigned __int128)a->ramp_us * i / n);
    case ARRIVAL_RATE:
        return (uint64_t)((unsigned __int128)i * 1000000u / a->rate_per_s);
    case ARRIVAL_BURST:
    default:
        return 0;
    }
}

int sopt_target_parse(const char *s, struct target *t)
{
    struct target r;
    memset(&r, 0, sizeof(r));
    if (strncmp(s, "http://", 7) != 0) return -1;
    const char *h = s + 7, *end = h + strcspn(h, ":/");
    size_t hl = (size_t)(end - h);
    uint64_t port = 80;
    if (hl == 0 || hl >= sizeof(r.host)) return -1;
    memcpy(r.host, h, hl);
    r.host[hl] = 0;
    if (*end == ':') {
        const char *p = end + 1;
        size_t pl = strcspn(p, "/");
        if (sopt_u64_parse(p, pl, &port) < 0 || port == 0 || port > 65535) return -1;
        end = p + pl;
    }
    if (*end && strcmp(end, "/") != 0) return -1; /* the mount is given with --mount */
    const char *ip = !strcmp(r.host, "localhost") ? "127.0.0.1" : r.host;
    r.addr.sin_family = AF_INET;
    r.addr.sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, ip, &r.addr.sin_addr) != 1) return -1;
    r.loopback = (ntohl(r.addr.sin_addr.s_addr) >> 24) == 127;
    *t = r;
    return 0;
}

const char *sopt_target_guard(const struct target *t, bool attack, bool allow_remote,
                              bool allow_remote_attack)
{
    if (t->loopback) return NULL;
    if (!allow_remote) return "target is not a loopback address (127.0.0.0/8); pass --allow-remote "
                              "for your own staging deployment";
    if (attack && !allow_remote_attack)
        return "attack modes refuse a non-loopback target without --allow-remote-attack";
    return NULL;
}

int sopt_sources_parse(const char *s, uint32_t *first_host_order, uint32_t *count)
{
    char a[32], b[32];
    const char *dash = strchr(s, '-');
    size_t al = dash ? (size_t)(dash - s) : strlen(s);
    if (al >= sizeof(a)) return -1;
    memcpy(a, s, al);
    a[al] = 0;
    size_t bl = dash ? strlen(dash + 1) : al;
    if (bl >= sizeof(b)) return -1;
    memcpy(b, dash ? dash + 1 : s, bl);
    b[bl] = 0;
    struct in_addr x, y;
    if (inet_pton(AF_INET, a, &x) != 1 || inet_pton(AF_INET, b, &y) != 1) return -1;
    uint32_t lo = ntohl(x.s_addr), hi = ntohl(y.s_addr);
    if (lo > hi || (lo >> 24) != 127 || (hi >> 24) != 127) return -1;
    *first_host_order = lo;
    *count = hi - lo + 1;
    return 0;
}

bool sopt_attack_any(const struct attack_spec *a)
{
    return a->slowloris || a->idle || a->slow_readers || a->flood_per_s || a->forged_per_s ||
           a->join_flood_per_s || a->reconnect_at_us != UINT64_MAX;
}

/* One "key=value" or "key@time" item of --attack. */
static int attack_item(const char *it, size_t len, struct attack_spec *a)
{
    static const char rs[] = "reconnect-storm@";
    const char *eq = memchr(it, '=', len);
    char tmp[32];
    if (len > strlen(rs) && !memcmp(it, rs, strlen(rs))) {
        size_t tl = len - strlen(rs);
        if (tl >= sizeof(tmp)) return -1;
        memcpy(tmp, it + strlen(rs), tl);
        tmp[tl] = 0;
        return sopt_duration_parse(tmp, 1000000, &a->reconnect_at_us);
    }
    if (!eq) return -1;
    size_t kl = (size_t)(eq - it), vl = len - kl - 1;
    const char *v = eq + 1;
    uint64_t n;
    uint32_t *rate = kl == 5 && !memcmp(it, "flood", 5)             ? &a->flood_per_s
                     : kl == 14 && !memcmp(it, "forged-tickets", 14) ? &a->forged_per_s
                     : kl == 10 && !memcmp(it, "join-flood", 10)     ? &a->join_flood_per_s
                                                                     : NULL;
    if (rate) {
        if (vl > 2 && !memcmp(v + vl - 2, "/s", 2)) vl -= 2;
        if (sopt_u64_parse(v, vl, &n) < 0 || n > 1000000) return -1;
        *rate = (uint32_t)n;
        return 0;
    }
    if (sopt_u64_parse(v, vl, &n) < 0 || n > 1000000) return -1;
    if (kl == 9 && !memcmp(it, "slowloris", 9)) a->slowloris = (uint32_t)n;
    else if (kl == 4 && !memcmp(it, "idle", 4)) a->idle = (uint32_t)n;
    else if (kl == 12 && !memcmp(it, "slow-readers", 12)) a->slow_readers = (uint32_t)n;
    else return -1;
    return 0;
}

int sopt_attack_parse(const char *s, struct attack_spec *out)
{
    struct attack_spec a = {.reconnect_at_us = UINT64_MAX};
    const char *p = s;
    if (!*s) return -1;
    for (int guard = 0; guard < 64; guard++) {
        size_t len = strcspn(p, ",");
        if (len == 0 || attack_item(p, len, &a) < 0) return -1;
        p += len;
        if (!*p) {
            *out = a;
            return 0;
        }
        p++;
    }
    return -1;
}

static const struct {
    const char *name;
    enum slo_kind kind;
} slo_names[] = {
    {"ttfa_p50", SLO_TTFA_P50},   {"ttfa_p90", SLO_TTFA_P90},
    {"ttfa_p99", SLO_TTFA_P99},   {"ttfa_p999", SLO_TTFA_P999},
    {"ttfa_max", SLO_TTFA_MAX},   {"stalls", SLO_STALLS},
    {"stalled_listeners", SLO_STALLED_LISTENERS}, {"joined", SLO_JOINED},
    {"failed", SLO_FAILED},       {"integrity_errors", SLO_INTEGRITY},
};

const char *sopt_slo_name(enum slo_kind k)
{
    for (size_t i = 0; i < sizeof(slo_names) / sizeof(slo_names[0]); i++)
        if (slo_names[i].kind == k) return slo_names[i].name;
    return "?";
}

static int slo_item(const char *it, size_t len, struct slo *o)
{
    const char *eq = memchr(it, '=', len);
    char v[32];
    if (!eq) return -1;
    size_t kl = (size_t)(eq - it), vl = len - kl - 1;
    if (vl == 0 || vl >= sizeof(v)) return -1;
    memcpy(v, eq + 1, vl);
    v[vl] = 0;
    for (size_t i = 0; i < sizeof(slo_names) / sizeof(slo_names[0]); i++) {
        if (strlen(slo_names[i].name) != kl || memcmp(slo_names[i].name, it, kl)) continue;
        o->kind = slo_names[i].kind;
        o->percent = false;
        if (o->kind <= SLO_TTFA_MAX) return sopt_duration_parse(v, 1000, &o->threshold);
        if (o->kind == SLO_JOINED && v[vl - 1] == '%') {
            /* "99.5%" → parts per million */
            const char *dot = strchr(v, '.');
            size_t il = dot ? (size_t)(dot - v) : vl - 1;
            uint64_t ip, fp = 0;
            if (sopt_u64_parse(v, il, &ip) < 0 || ip > 100) return -1;
            if (dot) {
                size_t fl = vl - 1 - il - 1;
                if (fl == 0 || fl > 4 || sopt_u64_parse(dot + 1, fl, &fp) < 0) return -1;
                for (size_t k = fl; k < 4; k++) fp *= 10;
            }
            o->threshold = ip * 10000 + fp;
            if (o->threshold > 1000000) return -1;
            o->percent = true;
            return 0;
        }
        return sopt_u64_parse(v, vl, &o->threshold);
    }
    return -1;
}

int sopt_slo_parse(const char *s, struct slo *out, int out_max)
{
    const char *p = s;
    int n = 0;
    if (!*s) return -1;
    for (;;) {
        size_t len = strcspn(p, ",");
        if (n == out_max || len == 0 || slo_item(p, len, &out[n]) < 0) return -1;
        n++;
        p += len;
        if (!*p) return n;
        p++;
    }
}

bool sopt_slo_eval(const struct slo *slo, const struct slo_facts *f, char *why, size_t why_len)
{
    const char *name = sopt_slo_name(slo->kind);
    uint64_t have = 0;
    switch (slo->kind) {
    case SLO_TTFA_P50: case SLO_TTFA_P90: case SLO_TTFA_P99: case SLO_TTFA_P999:
    case SLO_TTFA_MAX:
        have = f->ttfa_us[slo->kind - SLO_TTFA_P50];
        /* With nobody joined there is no TTFA to trust: that fails too. */
        if (f->joined == 0) {
            snprintf(why, why_len, "%s: no listener got audio", name);
            return false;
        }
        if (have <= slo->threshold) return true;
        snprintf(why, why_len, "%s %.1f ms > %.1f ms", name, have / 1000.0,
                 slo->threshold / 1000.0);
        return false;
    case SLO_JOINED: {
        uint64_t need = slo->percent
                            ? (uint64_t)(((unsigned __int128)f->target * slo->threshold + 999999) /
                                         1000000)
                            : slo->threshold;
        if (f->joined >= need) return true;
        snprintf(why, why_len, "joined %llu of %llu < %llu required", (unsigned long long)f->joined,
                 (unsigned long long)f->target, (unsigned long long)need);
        return false;
    }
    case SLO_STALLS: have = f->stalls; break;
    case SLO_STALLED_LISTENERS: have = f->stalled_listeners; break;
    case SLO_FAILED: have = f->failed; break;
    case SLO_INTEGRITY: have = f->integrity; break;
    }
    if (have <= slo->threshold) return true;
    snprintf(why, why_len, "%s %llu > %llu", name, (unsigned long long)have,
             (unsigned long long)slo->threshold);
    return false;
}
