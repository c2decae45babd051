/* result: mergeable run results and their JSON form (see result.h). */
#include "result.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "sjson.h"

#define SLURP_BYTES_MAX (64u << 20)

const uint32_t res_within_ms[RES_WITHIN_N] = {1000, 5000, 60000};

void res_init(struct storm_result *r)
{
    memset(r, 0, sizeof(*r));
    hist_init(&r->ttfa);
    hist_init(&r->lag);
    hist_init(&r->issue);
    hist_init(&r->rejoin);
}

void res_map_add(struct res_map *m, const char *key, uint64_t n)
{
    char k[RES_KEY_BYTES];
    snprintf(k, sizeof(k), "%s", key);
    for (uint32_t i = 0; i < m->len; i++)
        if (!strcmp(m->e[i].key, k)) {
            m->e[i].n += n;
            return;
        }
    if (m->len == RES_MAP_MAX) {
        /* the last slot absorbs what does not fit, under its own name */
        snprintf(m->e[RES_MAP_MAX - 1].key, RES_KEY_BYTES, "other");
        m->e[RES_MAP_MAX - 1].n += n;
        return;
    }
    snprintf(m->e[m->len].key, RES_KEY_BYTES, "%s", k);
    m->e[m->len++].n = n;
}

uint64_t res_map_get(const struct res_map *m, const char *key)
{
    for (uint32_t i = 0; i < m->len; i++)
        if (!strcmp(m->e[i].key, key)) return m->e[i].n;
    return 0;
}

uint64_t res_integrity(const struct storm_result *r)
{
    return r->err_capture + r->err_crc + r->err_seq + r->err_granule;
}

uint64_t res_machine_bound_s(const struct storm_result *r)
{
    uint64_t n = 0, cores = r->cores ? r->cores : 1;
    for (uint32_t i = 0; i < r->ticks && i < RES_TIMELINE_MAX; i++)
        if (r->tl[i].tool_cpu_ms > 900u * cores) n++;
    return n;
}

int res_warnings(const struct storm_result *r, char w[][200], int max)
{
    int n = 0;
    uint64_t p99 = hist_quantile(&r->issue, 990000);
    if (n < max && r->issue.count && p99 > RES_ISSUE_LATE_US)
        snprintf(w[n++], 200, "storm was late: connect() issue lag p99 %.0f ms > %u ms (its own delay "
                 "is charged to TTFA; use more --procs or another machine)", p99 / 1000.0,
                 RES_ISSUE_LATE_US / 1000);
    if (n < max && r->tool_bound_s)
        snprintf(w[n++], 200, "storm was CPU-bound: a worker used > 90%% of a core for %llu s "
                 "(use more --procs or another machine)", (unsigned long long)r->tool_bound_s);
    uint64_t mb = res_machine_bound_s(r);
    if (n < max && mb)
        snprintf(w[n++], 200, "storm was CPU-bound: it used > 90%% of all %llu cores for %llu s "
                 "(the server was short of CPU; run storm on another machine)",
                 (unsigned long long)(r->cores ? r->cores : 1), (unsigned long long)mb);
    if (n < max && r->machine_saturated_s)
        snprintf(w[n++], 200, "the machine had no idle CPU (> 95%% busy) for %llu s: storm, the "
                 "server and everything else there competed for it",
                 (unsigned long long)r->machine_saturated_s);
    return n;
}

static void map_merge(struct res_map *d, const struct res_map *s)
{
    for (uint32_t i = 0; i < s->len; i++) res_map_add(d, s->e[i].key, s->e[i].n);
}

void res_merge(struct storm_result *d, const struct storm_result *s)
{
    if (!d->target[0]) {
        memcpy(d->target, s->target, sizeof(d->target));
        memcpy(d->mount, s->mount, sizeof(d->mount));
        memcpy(d->arrival, s->arrival, sizeof(d->arrival));
    }
    if (!d->slo_spec[0]) memcpy(d->slo_spec, s->slo_spec, sizeof(d->slo_spec));
    if (s->duration_ms > d->duration_ms) d->duration_ms = s->duration_ms;
    d->procs += s->procs;
    d->listeners_target += s->listeners_target;
    d->joined += s->joined;
    d->failed += s->failed;
    map_merge(&d->by_reason, &s->by_reason);
    map_merge(&d->ended, &s->ended);
    hist_merge(&d->ttfa, &s->ttfa);
    for (int i = 0; i < RES_WITHIN_N; i++) d->within[i] += s->within[i];
    hist_merge(&d->lag, &s->lag);
    hist_merge(&d->issue, &s->issue);
    hist_merge(&d->rejoin, &s->rejoin);
    d->stalls += s->stalls;
    d->stalled_listeners += s->stalled_listeners;
    d->stall_ms += s->stall_ms;
    d->err_capture += s->err_capture;
    d->err_crc += s->err_crc;
    d->err_seq += s->err_seq;
    d->err_granule += s->err_granule;
    d->bytes += s->bytes;
    d->audio_ms += s->audio_ms;
    d->listen_ms += s->listen_ms;
    map_merge(&d->attack, &s->attack);
    d->cpu_us += s->cpu_us;
    d->tool_bound_s += s->tool_bound_s;
    if (s->cores > d->cores) d->cores = s->cores;
    d->machine_saturated_s += s->machine_saturated_s;
    d->armed += s->armed;
    d->arm_failed += s->arm_failed;
    d->port_fallback += s->port_fallback;
    if (s->arm_ms > d->arm_ms) d->arm_ms = s->arm_ms;
    if (s->ticks > d->ticks) d->ticks = s->ticks;
    for (uint32_t i = 0; i < s->ticks && i < RES_TIMELINE_MAX; i++) {
        d->tl[i].listeners += s->tl[i].listeners;
        d->tl[i].joins += s->tl[i].joins;
        d->tl[i].stalls += s->tl[i].stalls;
        d->tl[i].errors += s->tl[i].errors;
        d->tl[i].failures += s->tl[i].failures;
        d->tl[i].tool_cpu_ms += s->tl[i].tool_cpu_ms;
    }
}

static const uint32_t q_ppm[4] = {500000, 900000, 990000, 999000};

int res_slo_check(const struct storm_result *r, char fails[][160], int fail_max)
{
    struct slo slos[SLO_MAX];
    int n = 0, nf = 0;
    if (!r->slo_spec[0]) return 0;
    n = sopt_slo_parse(r->slo_spec, slos, SLO_MAX);
    if (n < 0) return -1;
    struct slo_facts f = {
        .target = r->listeners_target, .joined = r->joined, .failed = r->failed,
        .stalls = r->stalls, .stalled_listeners = r->stalled_listeners,
        .integrity = res_integrity(r),
    };
    for (int i = 0; i < 4; i++) f.ttfa_us[i] = hist_quantile(&r->ttfa, q_ppm[i]);
    f.ttfa_us[4] = r->ttfa.count ? r->ttfa.max : 0;
    for (int i = 0; i < n; i++) {
        char why[160];
        if (sopt_slo_eval(&slos[i], &f, why, sizeof(why))) continue;
        if (nf < fail_max) snprintf(fails[nf], 160, "%s", why);
        nf++;
    }
    return nf;
}

static void write_map(struct jw *w, const char *key, const struct res_map *m)
{
    jw_obj(w, key);
    for (uint32_t i = 0; i < m->len; i++) jw_u64(w, m->e[i].key, m->e[i].n);
    jw_end_obj(w);
}

/* Attack counters are kept flat ("slowloris.opened") and written nested. */
static void write_attack(struct jw *w, const struct res_map *m)
{
    jw_obj(w, "attack");
    jw_obj(w, "by_mode");
    bool done[RES_MAP_MAX] = {0};
    for (uint32_t i = 0; i < m->len; i++) {
        if (done[i]) continue;
        const char *dot = strchr(m->e[i].key, '.');
        size_t ml = dot ? (size_t)(dot - m->e[i].key) : strlen(m->e[i].key);
        char mode[RES_KEY_BYTES];
        snprintf(mode, sizeof(mode), "%.*s", (int)ml, m->e[i].key);
        jw_obj(w, mode);
        for (uint32_t j = i; j < m->len; j++) {
            if (done[j] || strncmp(m->e[j].key, mode, ml) || (m->e[j].key[ml] != '.' && m->e[j].key[ml]))
                continue;
            done[j] = true;
            jw_u64(w, m->e[j].key[ml] ? m->e[j].key + ml + 1 : "count", m->e[j].n);
        }
        jw_end_obj(w);
    }
    jw_end_obj(w);
    jw_end_obj(w);
}

static void write_hist(struct jw *w, const char *key, const struct hist *h)
{
    jw_obj(w, key);
    jw_str(w, "unit", "us");
    jw_u64(w, "sub_bits", HIST_SUB_BITS);
    jw_u64(w, "count", h->count);
    jw_u64(w, "sum", h->sum);
    jw_u64(w, "min", h->count ? h->min : 0);
    jw_u64(w, "max", h->max);
    jw_arr(w, "buckets"); /* sparse [index, count] pairs */
    for (uint32_t i = 0; i < HIST_BUCKETS; i++) {
        if (!h->counts[i]) continue;
        jw_arr(w, NULL);
        jw_u64(w, NULL, i);
        jw_u64(w, NULL, h->counts[i]);
        jw_end_arr(w);
    }
    jw_end_arr(w);
    jw_end_obj(w);
}

static void write_pcts(struct jw *w, const char *key, const struct hist *h)
{
    static const char *names[4] = {"p50", "p90", "p99", "p999"};
    jw_obj(w, key);
    for (int i = 0; i < 4; i++) jw_num(w, names[i], hist_quantile(h, q_ppm[i]) / 1000.0);
    jw_num(w, "max", h->max / 1000.0);
    jw_u64(w, "count", h->count);
    jw_end_obj(w);
}

int res_write_json(const struct storm_result *r, FILE *f)
{
    struct jw w;
    char fails[SLO_MAX][160];
    int nf = res_slo_check(r, fails, SLO_MAX);
    jw_begin(&w, f);
    jw_obj(&w, NULL);
    jw_u64(&w, "version", 1);
    jw_str(&w, "target", r->target);
    jw_str(&w, "mount", r->mount);
    jw_str(&w, "arrival", r->arrival);
    jw_u64(&w, "duration_ms", r->duration_ms);
    jw_u64(&w, "procs", r->procs);
    jw_obj(&w, "listeners");
    jw_u64(&w, "target", r->listeners_target);
    jw_u64(&w, "joined", r->joined);
    jw_u64(&w, "failed", r->failed);
    write_map(&w, "by_reason", &r->by_reason);
    write_map(&w, "ended", &r->ended);
    jw_end_obj(&w);
    write_pcts(&w, "ttfa_ms", &r->ttfa);
    jw_obj(&w, "ttfa_within_ms"); /* joins with their first audio within N ms of arrival */
    for (int i = 0; i < RES_WITHIN_N; i++) {
        char k[16];
        snprintf(k, sizeof(k), "%u", res_within_ms[i]);
        jw_u64(&w, k, r->within[i]);
    }
    jw_end_obj(&w);
    write_pcts(&w, "schedule_lag_ms", &r->lag);
    write_pcts(&w, "issue_lag_ms", &r->issue);
    jw_obj(&w, "prepared"); /* sockets made and bound before the start */
    jw_u64(&w, "sockets", r->armed);
    jw_u64(&w, "failed", r->arm_failed);
    jw_u64(&w, "port_fallback", r->port_fallback);
    jw_u64(&w, "ms", r->arm_ms);
    jw_end_obj(&w);
    if (r->rejoin.count) write_pcts(&w, "rejoin_ttfa_ms", &r->rejoin);
    jw_obj(&w, "stalls");
    jw_u64(&w, "count", r->stalls);
    jw_u64(&w, "listeners_affected", r->stalled_listeners);
    jw_u64(&w, "total_ms", r->stall_ms);
    jw_end_obj(&w);
    jw_obj(&w, "integrity_errors");
    jw_u64(&w, "total", res_integrity(r));
    jw_u64(&w, "capture", r->err_capture);
    jw_u64(&w, "crc", r->err_crc);
    jw_u64(&w, "sequence", r->err_seq);
    jw_u64(&w, "granule", r->err_granule);
    jw_end_obj(&w);
    jw_obj(&w, "traffic");
    jw_u64(&w, "bytes", r->bytes);
    jw_u64(&w, "audio_ms", r->audio_ms);
    jw_u64(&w, "listen_ms", r->listen_ms);
    jw_end_obj(&w);
    write_attack(&w, &r->attack);
    jw_obj(&w, "cpu");
    jw_u64(&w, "tool_cpu_us", r->cpu_us);
    jw_u64(&w, "tool_bound_s", r->tool_bound_s);
    jw_u64(&w, "machine_bound_s", res_machine_bound_s(r));
    jw_u64(&w, "cores", r->cores);
    jw_u64(&w, "machine_saturated_s", r->machine_saturated_s);
    jw_num(&w, "us_per_listener_s", r->listen_ms ? r->cpu_us * 1000.0 / r->listen_ms : 0);
    jw_end_obj(&w);
    jw_obj(&w, "slo");
    jw_str(&w, "spec", r->slo_spec);
    jw_bool(&w, "pass", nf == 0);
    jw_arr(&w, "failures");
    if (nf < 0) jw_str(&w, NULL, "slo spec does not parse");
    for (int i = 0; i < nf && i < SLO_MAX; i++) jw_str(&w, NULL, fails[i]);
    jw_end_arr(&w);
    jw_end_obj(&w);
    char warn[RES_WARN_MAX][200];
    int nw = res_warnings(r, warn, RES_WARN_MAX);
    jw_arr(&w, "warnings");
    for (int i = 0; i < nw; i++) jw_str(&w, NULL, warn[i]);
    jw_end_arr(&w);
    /* [second, listeners, joins, stalls, errors, failures, tool_cpu_ms] */
    jw_arr(&w, "timeline");
    for (uint32_t i = 0; i < r->ticks; i++) {
        jw_arr(&w, NULL);
        jw_u64(&w, NULL, i);
        jw_u64(&w, NULL, r->tl[i].listeners);
        jw_u64(&w, NULL, r->tl[i].joins);
        jw_u64(&w, NULL, r->tl[i].stalls);
        jw_u64(&w, NULL, r->tl[i].errors);
        jw_u64(&w, NULL, r->tl[i].failures);
        jw_u64(&w, NULL, r->tl[i].tool_cpu_ms);
        jw_end_arr(&w);
    }
    jw_end_arr(&w);
    jw_obj(&w, "histograms");
    write_hist(&w, "ttfa_us", &r->ttfa);
    write_hist(&w, "schedule_lag_us", &r->lag);
    write_hist(&w, "issue_lag_us", &r->issue);
    write_hist(&w, "rejoin_ttfa_us", &r->rejoin);
    jw_end_obj(&w);
    jw_end_obj(&w);
    fputc('\n', f);
    return ferror(f) ? -EIO : 0;
}

/* ---- reading back */

static void read_str(char *dst, size_t cap, const struct sjson *o, const char *key)
{
    const struct sjson *v = sjson_get(o, key);
    snprintf(dst, cap, "%s", v && v->type == SJ_STR ? v->u.str : "");
}

static void read_map(struct res_map *m, const struct sjson *o, const char *prefix)
{
    if (!o || o->type != SJ_OBJ) return;
    for (uint32_t i = 0; i < o->len; i++) {
        const struct sjson *v = &o->u.kids[i];
        char k[RES_KEY_BYTES];
        if (v->type != SJ_NUM || v->u.num < 0) continue;
        if (prefix) snprintf(k, sizeof(k), "%s.%s", prefix, v->key);
        else snprintf(k, sizeof(k), "%s", v->key);
        res_map_add(m, k, (uint64_t)v->u.num);
    }
}

static int read_hist(struct hist *h, const struct sjson *o, char *err, size_t err_len)
{
    if (!o) return 0; /* absent: empty */
    if (sjson_u64(o, "sub_bits") != HIST_SUB_BITS) {
        snprintf(err, err_len, "histogram with sub_bits %llu (want %u)",
                 (unsigned long long)sjson_u64(o, "sub_bits"), HIST_SUB_BITS);
        return -1;
    }
    const struct sjson *b = sjson_get(o, "buckets");
    if (!b || b->type != SJ_ARR) return 0;
    for (uint32_t i = 0; i < b->len; i++) {
        const struct sjson *p = &b->u.kids[i];
        if (p->type != SJ_ARR || p->len != 2 || p->u.kids[0].type != SJ_NUM ||
            p->u.kids[1].type != SJ_NUM || p->u.kids[0].u.num < 0 || p->u.kids[1].u.num < 0 ||
            hist_add_bucket(h, (uint32_t)p->u.kids[0].u.num, (uint64_t)p->u.kids[1].u.num) < 0) {
            snprintf(err, err_len, "bad histogram bucket");
            return -1;
        }
    }
    h->sum = sjson_u64(o, "sum");
    h->max = sjson_u64(o, "max");
    h->min = h->count ? sjson_u64(o, "min") : UINT64_MAX;
    return 0;
}

int res_read_json(struct storm_result *r, const char *text, size_t len, char *err, size_t err_len)
{
    struct sjson *root = sjson_parse(text, len, err, err_len);
    int rc = -1;
    if (!root) return -1;
    res_init(r);
    if (root->type != SJ_OBJ || sjson_u64(root, "version") != 1) {
        snprintf(err, err_len, "not a storm report (version 1)");
        goto out_free;
    }
    read_str(r->target, sizeof(r->target), root, "target");
    read_str(r->mount, sizeof(r->mount), root, "mount");
    read_str(r->arrival, sizeof(r->arrival), root, "arrival");
    r->duration_ms = sjson_u64(root, "duration_ms");
    r->procs = sjson_u64(root, "procs");
    const struct sjson *l = sjson_get(root, "listeners");
    r->listeners_target = sjson_u64(l, "target");
    r->joined = sjson_u64(l, "joined");
    r->failed = sjson_u64(l, "failed");
    read_map(&r->by_reason, sjson_get(l, "by_reason"), NULL);
    read_map(&r->ended, sjson_get(l, "ended"), NULL);
    for (int i = 0; i < RES_WITHIN_N; i++) {
        char k[16];
        snprintf(k, sizeof(k), "%u", res_within_ms[i]);
        r->within[i] = sjson_u64(sjson_get(root, "ttfa_within_ms"), k);
    }
    const struct sjson *s = sjson_get(root, "stalls");
    r->stalls = sjson_u64(s, "count");
    r->stalled_listeners = sjson_u64(s, "listeners_affected");
    r->stall_ms = sjson_u64(s, "total_ms");
    const struct sjson *ie = sjson_get(root, "integrity_errors");
    r->err_capture = sjson_u64(ie, "capture");
    r->err_crc = sjson_u64(ie, "crc");
    r->err_seq = sjson_u64(ie, "sequence");
    r->err_granule = sjson_u64(ie, "granule");
    const struct sjson *t = sjson_get(root, "traffic");
    r->bytes = sjson_u64(t, "bytes");
    r->audio_ms = sjson_u64(t, "audio_ms");
    r->listen_ms = sjson_u64(t, "listen_ms");
    const struct sjson *bm = sjson_get(sjson_get(root, "attack"), "by_mode");
    if (bm && bm->type == SJ_OBJ)
        for (uint32_t i = 0; i < bm->len; i++) read_map(&r->attack, &bm->u.kids[i], bm->u.kids[i].key);
    r->cpu_us = sjson_u64(sjson_get(root, "cpu"), "tool_cpu_us");
    r->tool_bound_s = sjson_u64(sjson_get(root, "cpu"), "tool_bound_s");
    r->cores = sjson_u64(sjson_get(root, "cpu"), "cores");
    r->machine_saturated_s = sjson_u64(sjson_get(root, "cpu"), "machine_saturated_s");
    const struct sjson *pr = sjson_get(root, "prepared");
    r->armed = sjson_u64(pr, "sockets");
    r->arm_failed = sjson_u64(pr, "failed");
    r->port_fallback = sjson_u64(pr, "port_fallback");
    r->arm_ms = sjson_u64(pr, "ms");
    read_str(r->slo_spec, sizeof(r->slo_spec), sjson_get(root, "slo"), "spec");
    const struct sjson *tl = sjson_get(root, "timeline");
    if (tl && tl->type == SJ_ARR) {
        for (uint32_t i = 0; i < tl->len && i < RES_TIMELINE_MAX; i++) {
            const struct sjson *e = &tl->u.kids[i];
            uint32_t v[7] = {0};
            /* 6 entries before tool_cpu_ms was added */
            if (e->type != SJ_ARR || e->len < 6 || e->len > 7) continue;
            for (uint32_t k = 0; k < e->len; k++)
                if (e->u.kids[k].type == SJ_NUM && e->u.kids[k].u.num >= 0 &&
                    e->u.kids[k].u.num < 4e9)
                    v[k] = (uint32_t)e->u.kids[k].u.num;
            if (v[0] >= RES_TIMELINE_MAX) continue;
            r->tl[v[0]] = (struct res_tick){v[1], v[2], v[3], v[4], v[5], v[6]};
            if (v[0] + 1 > r->ticks) r->ticks = v[0] + 1;
        }
    }
    const struct sjson *hs = sjson_get(root, "histograms");
    if (read_hist(&r->ttfa, sjson_get(hs, "ttfa_us"), err, err_len) < 0) goto out_free;
    if (read_hist(&r->lag, sjson_get(hs, "schedule_lag_us"), err, err_len) < 0) goto out_free;
    if (read_hist(&r->issue, sjson_get(hs, "issue_lag_us"), err, err_len) < 0) goto out_free;
    if (read_hist(&r->rejoin, sjson_get(hs, "rejoin_ttfa_us"), err, err_len) < 0) goto out_free;
    rc = 0;
out_free:
    sjson_free(root);
    return rc;
}

char *res_slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap + 1);
    while (buf) {
        size_t k = fread(buf + n, 1, cap - n, f);
        n += k;
        if (k == 0) break;
        if (n == cap) {
            if (cap >= SLURP_BYTES_MAX) {
                free(buf);
                buf = NULL;
                break;
            }
            char *b2 = realloc(buf, cap * 2 + 1);
            if (!b2) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = b2;
            cap *= 2;
        }
    }
    if (buf && ferror(f)) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    if (!buf) return NULL;
    buf[n] = 0;
    *len = n;
    return buf;
}
