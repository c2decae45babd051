/* gatestatus: the gate's status and timeline endpoints (see gatestatus.h). */
#include "gatestatus.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api.h"
#include "conn.h"
#include "gate.h"
#include "gatejoin.h"
#include "http.h"
#include "json.h"
#include "server.h"

#pragma GCC poison strcpy sprintf gets strtok atoi

#define GATESTATUS_ANSWER_BYTES (64 * 1024) /* status with every space's line */

/* wall-clock seconds minus monotonic seconds: timeline seconds to Unix time */
static int64_t unix_offset_s(const struct server *srv)
{
    return (int64_t)gate_now_unix_s() - (int64_t)(loop_now_ms(srv->loop) / 1000);
}

/* A query parameter as an unsigned decimal; false when absent. -1: bad. */
static int param_u64(const struct http_request *req, const char *name, uint64_t *out)
{
    const char *v;
    size_t vl;
    if (!http_query_param(req->query, req->query_len, name, &v, &vl)) return 0;
    if (!vl || vl > 15) return -1;
    uint64_t n = 0;
    for (size_t i = 0; i < vl; i++) {
        if (v[i] < '0' || v[i] > '9') return -1;
        n = n * 10 + (uint64_t)(v[i] - '0');
    }
    *out = n;
    return 1;
}

static void write_signals(struct json_writer *w, uint32_t signals)
{
    static const char *const names[] = {"glitches",     "forged", "prefix_limits",
                                        "concentrated", "broad",  "over_capacity"};
    json_w_array_begin(w);
    for (unsigned i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (signals & (1u << i)) json_w_str(w, names[i]);
    json_w_array_end(w);
}

static void status(struct conn *c, const struct http_request *req, bool head)
{
    struct server *srv = c->srv;
    struct gate *gt = srv->gate;
    uint64_t win = GATESTATUS_WINDOW_S_DEFAULT;
    int pr = param_u64(req, "window_s", &win);
    if (pr < 0 || win < 1 || win > GATESTATUS_WINDOW_S_MAX)
        return api_error(c, 400, "bad_query", "window_s is 1..3600");
    uint64_t now_ms = loop_now_ms(srv->loop), to = now_ms / 1000;
    uint64_t from = to + 1 > win ? to + 1 - win : 0;
    struct timeline_verdict v;
    uint64_t rejects[TIMELINE_REASONS] = {0}, served = 0;
    timeline_verdict(&gt->tl, from, to, &v);
    for (uint64_t s = from; s <= to; s++) {
        const struct timeline_sec *r = timeline_get(&gt->tl, s);
        if (!r) continue;
        for (unsigned i = 0; i < TIMELINE_REASONS; i++)
            rejects[i] += r->rejects[i];
        served += r->admitted;
    }

    char *buf = malloc(GATESTATUS_ANSWER_BYTES);
    if (!buf) return api_error(c, 503, "out_of_memory", "out of memory");
    struct json_writer w;
    char pfx[PREFIX_TEXT_BYTES_MAX];
    json_w_init(&w, buf, GATESTATUS_ANSWER_BYTES);
    json_w_object_begin(&w);
    json_w_key(&w, "now");
    json_w_int(&w, (int64_t)gate_now_unix_s());
    json_w_key(&w, "window_s");
    json_w_int(&w, (int64_t)win);
    json_w_key(&w, "verdict");
    json_w_str(&w, timeline_kind_name(v.kind));
    json_w_key(&w, "signals");
    write_signals(&w, v.signals);

    json_w_key(&w, "evidence");
    json_w_object_begin(&w);
    json_w_key(&w, "seconds");
    json_w_int(&w, v.seconds);
    json_w_key(&w, "requests");
    json_w_int(&w, (int64_t)v.requests);
    json_w_key(&w, "joins");
    json_w_object_begin(&w);
    json_w_key(&w, "admitted");
    json_w_int(&w, (int64_t)v.admitted);
    json_w_key(&w, "queued");
    json_w_int(&w, (int64_t)v.queued);
    json_w_key(&w, "rejected");
    json_w_int(&w, (int64_t)v.rejected);
    json_w_key(&w, "shed");
    json_w_int(&w, (int64_t)v.shed);
    json_w_object_end(&w);
    json_w_key(&w, "rejections");
    json_w_object_begin(&w);
    for (unsigned i = 0; i < TIMELINE_REASONS; i++)
        if (rejects[i]) {
            json_w_key(&w, timeline_reason_name((enum timeline_reason)i));
            json_w_int(&w, (int64_t)rejects[i]);
        }
    json_w_object_end(&w);
    json_w_key(&w, "glitches");
    json_w_int(&w, (int64_t)v.glitches);
    json_w_key(&w, "glitch_permille");
    json_w_int(&w, v.glitch_permille);
    json_w_key(&w, "forged_permille");
    json_w_int(&w, v.forged_permille);
    json_w_key(&w, "prefix_limited_permille");
    json_w_int(&w, v.prefix_limited_permille);
    json_w_key(&w, "capacity_permille");
    json_w_int(&w, v.capacity_permille);
    json_w_key(&w, "top_share_permille");
    json_w_int(&w, v.top_share_permille);
    json_w_key(&w, "top_share_max_permille");
    json_w_int(&w, v.top_share_max_permille);
    json_w_key(&w, "top_prefix");
    if (v.top_share_max_permille && prefix_format(&v.top_prefix, pfx, sizeof(pfx)) > 0)
        json_w_str(&w, pfx);
    else
        json_w_null(&w);
    json_w_key(&w, "prefixes_per_s");
    json_w_int(&w, v.prefixes_per_s);
    json_w_key(&w, "joins_per_prefix_x10");
    json_w_int(&w, v.joins_per_prefix_x10);
    json_w_object_end(&w);

    json_w_key(&w, "queue");
    json_w_object_begin(&w);
    json_w_key(&w, "waiting");
    json_w_int(&w, (int64_t)gt->gauges.waiting);
    json_w_key(&w, "admit_rate_per_s");
    json_w_int(&w, v.seconds ? (int64_t)(served / v.seconds) : 0);
    json_w_key(&w, "spaces");
    gatejoin_write_spaces(&w, srv, now_ms);
    json_w_object_end(&w);

    json_w_key(&w, "overload");
    json_w_object_begin(&w);
    json_w_key(&w, "level");
    json_w_int(&w, gt->ov.level);
    json_w_key(&w, "pressure_permille");
    json_w_int(&w, gt->ov.pressure_permille);
    json_w_key(&w, "cause");
    json_w_str(&w, overload_input_name(gt->ov.cause));
    json_w_key(&w, "rss_bytes");
    json_w_int(&w, (int64_t)gt->rss_bytes);
    json_w_object_end(&w);

    json_w_key(&w, "prefix_table");
    json_w_object_begin(&w);
    json_w_key(&w, "used");
    json_w_int(&w, gt->ipt.st.used);
    json_w_key(&w, "evictions");
    json_w_int(&w, (int64_t)(gt->ipt.st.evictions_idle + gt->ipt.st.evictions_busy));
    json_w_object_end(&w);
    json_w_object_end(&w);
    if (json_w_finish(&w) < 0)
        api_error(c, 500, "internal", "answer too large");
    else
        conn_respond(c, 200, "application/json", buf, w.len, head);
    free(buf);
}

static void timeline(struct conn *c, const struct http_request *req, bool head)
{
    struct server *srv = c->srv;
    int64_t off = unix_offset_s(srv);
    uint64_t now_unix = gate_now_unix_s(), from = 0, to = now_unix;
    int rf = param_u64(req, "from", &from), rt = param_u64(req, "to", &to);
    if (rf < 0 || rt < 0) return api_error(c, 400, "bad_query", "from and to are Unix seconds");
    if (!rf)
        from =
            to >= GATESTATUS_TIMELINE_S_DEFAULT - 1 ? to - (GATESTATUS_TIMELINE_S_DEFAULT - 1) : 0;
    if (to < from) return api_error(c, 400, "bad_query", "to is before from");
    if (to - from >= GATESTATUS_TIMELINE_S_MAX)
        return api_error(c, 400, "bad_query", "at most 3600 seconds per request");
    /* Unix seconds to the timeline's monotonic seconds; before this
     * process started there is nothing. */
    int64_t mf = (int64_t)from - off, mt = (int64_t)to - off;
    if (mt < 0) mt = 0;
    if (mf < 0) mf = 0;
    size_t cap = (size_t)(mt - mf + 1) * TIMELINE_JSON_SEC_BYTES_MAX + TIMELINE_JSON_HEAD_BYTES_MAX;
    char *buf = malloc(cap);
    if (!buf) return api_error(c, 503, "out_of_memory", "out of memory");
    int n = timeline_json(&srv->gate->tl, (uint64_t)mf, (uint64_t)mt, off, buf, cap);
    if (n < 0)
        api_error(c, 500, "internal", "answer too large");
    else
        conn_respond(c, 200, "application/json", buf, (size_t)n, head);
    free(buf);
}

bool gatestatus_route(struct conn *c, const struct http_request *req)
{
    const char *p = req->path;
    size_t pl = req->path_len;
    bool get = http_method_is(req, "GET"), head = http_method_is(req, "HEAD");
    bool st = pl == 11 && !memcmp(p, "/api/status", 11);
    bool tl = pl == 20 && !memcmp(p, "/api/status/timeline", 20);
    if (!st && !tl) return false;
    if (!c->srv->gate || !c->srv->gate->tl_ok) {
        api_error(c, 503, "busy", "no gate here");
        return true;
    }
    if (!get && !head) {
        api_error(c, 405, "method", "GET");
        return true;
    }
    if (st)
        status(c, req, head);
    else
        timeline(c, req, head);
    return true;
}
