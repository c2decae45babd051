/* gate: the per-process admission layers (see gate.h). */
#include "gate.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "admit.h"
#include "b64.h"
#include "conn.h"
#include "gatejoin.h"
#include "http.h"
#include "log.h"
#include "mount.h"
#include "server.h"
#include "workers.h"

#pragma GCC poison strcpy sprintf gets strtok atoi

#define GATE_REFUSE_DRAIN_BYTES 4096 /* read and dropped before a refusal at accept */

uint64_t gate_now_unix_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec;
}

uint32_t gate_space_key(const char *id)
{
    uint8_t raw[6];
    size_t n = strlen(id);
    /* A space id is 12 base64url characters of random bytes: its first 8
     * characters decode to 6 bytes, of which the ticket keeps 4. */
    if (n == 12 && b64_decode(B64_URL, id, 8, raw, sizeof(raw)) == 6)
        return (uint32_t)raw[0] << 24 | (uint32_t)raw[1] << 16 | (uint32_t)raw[2] << 8 | raw[3];
    uint32_t h = 2166136261u; /* FNV-1a: plain mounts never carry tickets; any value will do */
    for (size_t i = 0; i < n; i++)
        h = (h ^ (uint8_t)id[i]) * 16777619u;
    return h;
}

/* ---- counting ------------------------------------------------------------ */

void gate_count_reject(struct server *srv, enum timeline_reason r)
{
    srv->m.gate_rejects[r]++;
}

void gate_glitch(struct conn *c, uint32_t pts)
{
    struct server *srv = c->srv;
    srv->m.gate_glitches++;
    if (!(c->gate.flags & CONN_G_EXEMPT) && srv->gate && srv->gate->ipt_ok)
        iptable_glitch(&srv->gate->ipt, &c->gate.pfx, loop_now_ms(srv->loop), pts);
}

void gate_refuse(struct conn *c, int status, enum timeline_reason r, const char *text,
                 uint32_t retry_after_s)
{
    char extra[64] = "", body[160];
    gate_count_reject(c->srv, r);
    if (retry_after_s) snprintf(extra, sizeof(extra), "Retry-After: %u\r\n", retry_after_s);
    snprintf(body, sizeof(body), "%s (%s)", text, timeline_reason_name(r));
    conn_refuse(c, status, body, extra);
}

static uint32_t retry_s(uint64_t retry_ms)
{
    uint64_t s = (retry_ms + 999) / 1000;
    return s < 1 ? 1 : s > 3600 ? 3600 : (uint32_t)s;
}

/* refuse_fd: a connection refused before it became a struct conn: its first
 * bytes are read (so the close is a FIN, not a reset that could lose the
 * answer), a 429 written if the socket takes it, and the fd closed. */
static void refuse_fd(struct server *srv, int fd, enum timeline_reason r, uint64_t retry_ms)
{
    char buf[GATE_REFUSE_DRAIN_BYTES];
    gate_count_reject(srv, r);
    srv->m.gate_requests++;
    if (read(fd, buf, sizeof(buf)) < 0) { /* nothing yet: fine */
    }
    char body[96];
    int bl = snprintf(body, sizeof(body), "too many requests from your network (%s)\n",
                      timeline_reason_name(r));
    int n = snprintf(buf, sizeof(buf),
                     "HTTP/1.1 429 Too Many Requests\r\nContent-Type: text/plain; charset=utf-8\r\n"
                     "Content-Length: %d\r\nRetry-After: %u\r\nConnection: close\r\n\r\n%s",
                     bl, retry_s(retry_ms), body);
    if (n > 0 && (size_t)n < sizeof(buf) &&
        send(fd, buf, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT) < 0) {
        /* the peer is gone or its window is shut: nothing more to do */
    }
    close(fd);
}

/* ---- connections ----------------------------------------------------------- */

/* hold: the prefix's connection count for <g> (unless exempt). IPTABLE_OK
 * or the refusal, with *retry_ms. */
static enum iptable_result hold(struct server *srv, struct conn_gate *g, uint64_t *retry_ms)
{
    struct gate *gt = srv->gate;
    g->flags |= CONN_G_SETTLED;
    if ((g->flags & CONN_G_EXEMPT) || !gt || !gt->ipt_ok) return IPTABLE_OK;
    return iptable_conn_open(&gt->ipt, &g->pfx, loop_now_ms(srv->loop), &g->ref, retry_ms);
}

bool gate_conn_accept(struct server *srv, int fd, const struct sockaddr *sa, socklen_t sl,
                      struct conn_gate *g)
{
    struct gate *gt = srv->gate;
    memset(g, 0, sizeof(*g));
    if (prefix_from_sockaddr(&g->pfx, sa, sl) < 0) return true; /* AF_UNIX: not ours to judge */
    if (!gt) return true;
    if (proxy_trust_match(&gt->trusted, sa, sl)) {
        /* The proxy is not the client: the prefix is settled by its PROXY
         * header or X-Forwarded-For, and limited then. */
        g->flags |= CONN_G_TRUSTED;
        return true;
    }
    if (proxy_trust_match(&gt->exempt, sa, sl)) g->flags |= CONN_G_EXEMPT;
    uint64_t retry_ms = 0;
    enum iptable_result r = hold(srv, g, &retry_ms);
    if (r == IPTABLE_OK) return true;
    refuse_fd(srv, fd, timeline_reason_of_iptable(r), retry_ms ? retry_ms : 1000);
    return false;
}

void gate_conn_close(struct conn *c)
{
    struct gate *gt = c->srv->gate;
    if (c->gate.ref.gen && gt && gt->ipt_ok) iptable_conn_close(&gt->ipt, &c->gate.ref);
    c->gate.ref.gen = 0;
}

/* After the client address is known: exempt? then its prefix's hold. */
static bool settle(struct conn *c, const struct sockaddr *client, socklen_t cl)
{
    struct server *srv = c->srv;
    uint64_t retry_ms = 0;
    if (client) {
        if (prefix_from_sockaddr(&c->gate.pfx, client, cl) < 0) return true;
        if (proxy_trust_match(&srv->gate->exempt, client, cl)) c->gate.flags |= CONN_G_EXEMPT;
    }
    enum iptable_result r = hold(srv, &c->gate, &retry_ms);
    if (r == IPTABLE_OK) return true;
    gate_refuse(c, 429, timeline_reason_of_iptable(r), "too many requests from your network",
                retry_s(retry_ms ? retry_ms : 1000));
    return false;
}

static const char proxy_v2_sig[12] = {'\r', '\n', '\r', '\n', 0,   '\r',
                                      '\n', 'Q',  'U',  'I',  'T', '\n'};

int gate_proxy_input(struct conn *c, const char *base, uint32_t have)
{
    struct server *srv = c->srv;
    if (!(c->gate.flags & CONN_G_TRUSTED) || (c->gate.flags & CONN_G_SETTLED) || c->gate.skip)
        return 1;
    /* A trusted proxy may or may not send a PROXY header: only bytes that
     * begin like one are parsed as one. */
    bool v1 = have && base[0] == 'P', v2 = have && base[0] == '\r';
    size_t cmp = have < 6 ? have : 6;
    if (v1 && memcmp(base, "PROXY ", cmp) != 0) v1 = false;
    cmp = have < sizeof(proxy_v2_sig) ? have : sizeof(proxy_v2_sig);
    if (v2 && memcmp(base, proxy_v2_sig, cmp) != 0) v2 = false;
    if (!have) return 0;
    if (!v1 && !v2) return 1; /* plain HTTP from the proxy: X-Forwarded-For may name the client */
    struct proxy_hdr h;
    int r = proxy_parse((const uint8_t *)base, have, srv->conf.proxy_header_bytes_max, &h);
    if (r == PROXY_NEED_MORE) return 0;
    if (r < 0) {
        /* Counted, but no glitch points: they would land on the proxy's
         * whole prefix, i.e. on everyone behind it. */
        srv->m.gate_glitches++;
        gate_refuse(c, 400, TIMELINE_R_PROXY_INVALID, "bad PROXY header", 0);
        return -1;
    }
    c->gate.skip = (uint16_t)r;
    c->gate.flags |= CONN_G_PROXIED;
    srv->m.gate_proxied++;
    if (h.local) return settle(c, NULL, 0) ? 1 : -1; /* the proxy's own health check */
    return settle(c, (const struct sockaddr *)&h.src, h.src_len) ? 1 : -1;
}

bool gate_client_settle(struct conn *c, const struct http_request *req)
{
    struct server *srv = c->srv;
    if (c->gate.flags & CONN_G_SETTLED) return true;
    if (!(c->gate.flags & CONN_G_TRUSTED)) return settle(c, NULL, 0);
    /* X-Forwarded-For, joined as one list if repeated (proxy_xff_client). */
    char joined[1024];
    size_t jl = 0;
    bool any = false, too_long = false;
    for (size_t i = 0; i < req->headers_len; i++) {
        const struct http_header *h = &req->headers[i];
        if (h->name_len != 15 || strncasecmp(h->name, "X-Forwarded-For", 15) != 0) continue;
        if (jl + h->value_len + 1 >= sizeof(joined)) {
            too_long = true;
            break;
        }
        if (any) joined[jl++] = ',';
        memcpy(joined + jl, h->value, h->value_len);
        jl += h->value_len;
        any = true;
    }
    if (!any) return settle(c, NULL, 0); /* the proxy itself, e.g. its health check */
    struct sockaddr_storage ss;
    socklen_t sl = 0;
    if (too_long || proxy_xff_client(joined, jl, &srv->gate->trusted, &ss, &sl) < 0) {
        /* Bad data from a trusted peer: counted, the peer stays the client. */
        srv->m.gate_glitches++;
        gate_count_reject(srv, TIMELINE_R_PROXY_INVALID);
        return settle(c, NULL, 0);
    }
    srv->m.gate_proxied++;
    return settle(c, (const struct sockaddr *)&ss, sl);
}

/* ---- tickets on the stream ------------------------------------------------- */

static bool bearer(const struct http_request *req, const char **v, size_t *vl)
{
    if (http_query_param(req->query, req->query_len, "ticket", v, vl)) return true;
    const struct http_header *h = http_find_header(req, "Authorization");
    if (h && h->value_len > 7 && !strncasecmp(h->value, "Bearer ", 7)) {
        *v = h->value + 7;
        *vl = h->value_len - 7;
        return true;
    }
    return false;
}

bool gate_stream_check(struct conn *c, const struct http_request *req, const struct mount *m)
{
    struct server *srv = c->srv;
    struct gate *gt = srv->gate;
    const char *t;
    size_t tl;
    if (!bearer(req, &t, &tl) || !tl) {
        gate_refuse(c, 401, TIMELINE_R_TICKET_MISSING, "this space needs a ticket: join first", 0);
        return false;
    }
    if (!gt || !gt->ring_ok) {
        gate_refuse(c, 503, TIMELINE_R_CAPACITY, "tickets cannot be checked now", 5);
        return false;
    }
    enum ticket_status st =
        ticket_verify(&gt->ring, t, tl, TICKET_ADMISSION, gate_space_key(m->name), &c->gate.pfx,
                      gate_now_unix_s(), NULL);
    if (st == TICKET_OK) {
        srv->m.gate_tickets_ok++;
        return true;
    }
    enum timeline_reason r = timeline_reason_of_ticket(st);
    if (r == TIMELINE_R_TICKET_FORGED || r == TIMELINE_R_TICKET_MALFORMED)
        gate_glitch(c, GATE_GLITCH_FORGED_PTS);
    gate_refuse(c, 403, r, "ticket refused", 0);
    return false;
}

/* ---- the overload ladder --------------------------------------------------- */

bool gate_admits(const struct server *srv, enum overload_class cls)
{
    return !srv->gate || overload_admits(&srv->gate->ov, cls);
}

/* CPU of the calling thread: the event loop's, which answers the joins.
 * Not the process's: the origin's mix threads run on their own real-time
 * budget, and 100 live spaces (most of a core) would otherwise read as an
 * overloaded join path and shed listeners. */
static uint64_t cpu_us(void)
{
    struct rusage ru;
    getrusage(RUSAGE_THREAD, &ru);
    return (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000u +
           (uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

static uint64_t rss_bytes(int fd)
{
    char buf[128];
    unsigned long long size = 0, rss = 0;
    ssize_t n = fd >= 0 ? pread(fd, buf, sizeof(buf) - 1, 0) : -1;
    if (n <= 0) return 0;
    buf[n] = 0;
    if (sscanf(buf, "%llu %llu", &size, &rss) != 2) return 0;
    return (uint64_t)rss * (uint64_t)sysconf(_SC_PAGESIZE);
}

/* Once a second: pressure (CPU of the loop thread from getrusage, resident
 * memory, connections) into the ladder. */
static void sample(struct server *srv, uint64_t now_ms)
{
    struct gate *gt = srv->gate;
    uint64_t now_us = loop_now_us(srv->loop), cpu = cpu_us();
    uint64_t wall = now_us - gt->sample_last_us;
    struct overload_sample s = {0};
    if (wall) s.cpu_permille = (uint32_t)((cpu - gt->cpu_last_us) * 1000 / wall);
    gt->cpu_last_us = cpu;
    gt->sample_last_us = now_us;
    gt->rss_bytes = rss_bytes(gt->statm_fd);
    s.mem_bytes = gt->rss_bytes;
    s.mem_budget_bytes = gt->mem_budget_bytes;
    s.conns = (uint32_t)srv->m.connections;
    s.conns_max = srv->connections_max;
    unsigned before = gt->ov.level;
    overload_update(&gt->ov, now_ms, &s);
    if (gt->ov.level != before)
        log_warn("overload level %u -> %u (pressure %u permille, %s)", before, gt->ov.level,
                 gt->ov.pressure_permille, overload_input_name(gt->ov.cause));
}

/* The origin's timeline gets, once a second, what every process counted
 * since the last tick (workers report at their housekeeping, once a second
 * when a counter changed). */
static void feed_timeline(struct server *srv, uint64_t now_ms)
{
    struct gate *gt = srv->gate;
    struct metrics tot;
    struct timeline_sec d;
    workers_totals(srv, &tot);
    memset(&d, 0, sizeof(d));
#define DELTA(f) ((uint32_t)(tot.f >= gt->last->f ? tot.f - gt->last->f : 0))
    d.requests = DELTA(gate_requests);
    d.glitches = DELTA(gate_glitches);
    for (unsigned i = 0; i < TIMELINE_OUTCOMES; i++)
        d.joins[i] = DELTA(gate_joins[i]);
    for (unsigned i = 0; i < TIMELINE_REASONS; i++)
        d.rejects[i] = DELTA(gate_rejects[i]);
#undef DELTA
    *gt->last = tot;
    timeline_add(&gt->tl, now_ms, &d);
    struct iptable_second is;
    iptable_last_second(&gt->ipt, now_ms, &is);
    if (is.joins) timeline_prefixes(&gt->tl, &is);
}

/* The timeline wants a tick in every second; without one (a worker), the
 * sample measures its own interval, so the tick may ride on the flush. */
static void start_tick(struct server *srv)
{
    struct gate *gt = srv->gate;
    timer_start_slack(srv->loop, &gt->tick, GATE_TICK_MS, gt->tl_ok ? 0 : GATE_TICK_MS / 2);
}

static void on_tick(struct loop *loop, struct timer *t)
{
    struct server *srv = t->data;
    struct gate *gt = srv->gate;
    uint64_t now = loop_now_ms(loop);
    if (gt->ring_ok) ticket_ring_tick(&gt->ring, gate_now_unix_s());
    sample(srv, now);
    if (gt->tl_ok) {
        struct gatejoin_gauges gg = {0};
        gatejoin_tick(srv, now, &gg);
        feed_timeline(srv, now);
        timeline_gauges(&gt->tl, now, gg.waiting > UINT32_MAX ? UINT32_MAX : (uint32_t)gg.waiting,
                        gg.served, gt->ov.level, gg.pow_bits);
        gt->gauges = gg;
    }
    start_tick(srv);
}

/* ---- set-up -------------------------------------------------------------- */

static int fail(const char *what, const char *why)
{
    log_error("gate: %s: %s", what, why);
    return -1;
}

int gate_init(struct server *srv)
{
    const struct conf *cf = &srv->conf;
    char err[160];
    struct gate *gt = calloc(1, sizeof(*gt));
    if (!gt) return fail("start", "out of memory");
    srv->gate = gt;
    gt->statm_fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
    uint64_t now = loop_now_ms(srv->loop);

    size_t sl = strlen(cf->gate_secret);
    int e = ticket_ring_init(&gt->ring, (const uint8_t *)cf->gate_secret, sl, cf->ticket_rotate_s,
                             cf->ticket_rotate_s, cf->ticket_skew_s, gate_now_unix_s());
    if (e < 0) return fail("ticket keys", strerror(-e));
    gt->ring_ok = true;

    if (proxy_trust_parse(&gt->trusted, cf->trusted_proxies, err, sizeof(err)) < 0)
        return fail("trusted_proxies", err);
    if (proxy_trust_parse(&gt->exempt, cf->gate_exempt, err, sizeof(err)) < 0)
        return fail("gate_exempt", err);

    struct iptable_limits lim = {
        .entries_max = cf->prefix_table_entries,
        .conns_per_prefix_max = cf->prefix_conns_max,
        .conn_rate = {cf->prefix_conn_rate_mps, cf->prefix_conn_burst},
        .ticket_rate = {cf->prefix_ticket_rate_mps, cf->prefix_ticket_burst},
        .glitch_leak_pts_per_s = cf->glitch_leak_pts_per_s,
        .glitch_cost_step_pts = cf->glitch_cost_step_pts,
        .glitch_block_pts = cf->glitch_block_pts,
        .cost_max = IPTABLE_LIMITS_DEFAULT.cost_max,
    };
    uint8_t seed[IPTABLE_SEED_BYTES];
    admit_rng_os(NULL, seed, sizeof(seed));
    e = iptable_init(&gt->ipt, &lim, seed);
    if (e < 0) return fail("prefix table", e == -EINVAL ? "limits out of range" : strerror(-e));
    gt->ipt_ok = true;

    struct overload_conf oc = {
        .up_permille = {cf->overload_l1_permille, cf->overload_l2_permille,
                        cf->overload_l3_permille, cf->overload_l4_permille},
        .hysteresis_permille = cf->overload_hyst_permille,
        .calm_ms = cf->overload_calm_ms,
    };
    if (overload_init(&gt->ov, &oc, now) < 0) return fail("overload ladder", "thresholds invalid");
    gt->mem_budget_bytes = (uint64_t)cf->overload_mem_mib << 20;
    if (!gt->mem_budget_bytes) {
        long pages = sysconf(_SC_PHYS_PAGES), psz = sysconf(_SC_PAGESIZE);
        if (pages > 0 && psz > 0) gt->mem_budget_bytes = (uint64_t)pages * (uint64_t)psz / 4;
    }
    gt->cpu_last_us = cpu_us();
    gt->sample_last_us = loop_now_us(srv->loop);

    if (srv->role != SERVER_WORKER) {
        if (timeline_init(&gt->tl, cf->timeline_s) < 0) return fail("timeline", "out of memory");
        gt->tl_ok = true;
        e = pow_replay_init(&gt->replay, cf->pow_replay_entries);
        if (e < 0) return fail("puzzle replay set", strerror(-e));
        gt->replay_ok = true;
        gt->last = calloc(1, sizeof(*gt->last));
        if (!gt->last) return fail("start", "out of memory");
        if (gatejoin_init(srv) < 0) return -1;
    }
    timer_init(&gt->tick, on_tick, srv);
    start_tick(srv);
    return 0;
}

void gate_free(struct server *srv)
{
    struct gate *gt = srv->gate;
    if (!gt) return;
    if (srv->loop) timer_stop(srv->loop, &gt->tick);
    gatejoin_free(srv);
    if (gt->ring_ok) ticket_ring_free(&gt->ring);
    if (gt->ipt_ok) iptable_free(&gt->ipt);
    if (gt->tl_ok) timeline_free(&gt->tl);
    if (gt->replay_ok) pow_replay_free(&gt->replay);
    free(gt->last);
    if (gt->statm_fd >= 0) close(gt->statm_fd);
    free(gt);
    srv->gate = NULL;
}
