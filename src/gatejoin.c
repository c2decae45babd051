/* gatejoin: the join endpoint and the spaces' deli counters (see gatejoin.h). */
#include "gatejoin.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admit.h"
#include "api.h"
#include "conn.h"
#include "gate.h"
#include "http.h"
#include "json.h"
#include "log.h"
#include "server.h"
#include "space.h"
#include "store.h"

#pragma GCC poison strcpy sprintf gets strtok atoi

#define GATEJOIN_ANSWER_BYTES 1024 /* the longest answer: 202 with a ticket and a puzzle */

/* The admission state of one space. */
struct gspace {
    char id[STORE_ID_CHARS + 1];
    uint32_t key; /* the tickets' space field */
    bool ended;
    uint32_t admit_per_s;
    struct admit adm;
    struct tbucket bulk; /* the bulkhead: this space's share of the join path */
    uint32_t demand;     /* fresh joins without a solution, this second */
    uint32_t demand_last;
    uint8_t pow_bits;
    uint64_t last_join_ms;
    uint64_t served_seen; /* adm.st.served at the last tick */
};

struct gatejoin {
    struct gspace **sp;
    uint32_t len;
    struct pow_policy pow;
    struct tbucket_conf bulk;
};

int gatejoin_init(struct server *srv)
{
    const struct conf *cf = &srv->conf;
    struct gatejoin *j = calloc(1, sizeof(*j));
    if (!j) return -1;
    j->sp = calloc(cf->gate_spaces_max, sizeof(*j->sp));
    if (!j->sp) {
        free(j);
        return -1;
    }
    j->pow = (struct pow_policy){.on_permille = cf->pow_on_permille,
                                 .base_bits = (uint8_t)cf->pow_base_bits,
                                 .step_bits = (uint8_t)cf->pow_step_bits,
                                 .max_bits = (uint8_t)cf->pow_max_bits};
    j->bulk = (struct tbucket_conf){cf->space_join_rate_per_s * 1000, cf->space_join_burst};
    if (!tbucket_conf_valid(&j->bulk)) {
        log_error("gate: space_join_rate_per_s or space_join_burst out of range");
        free(j->sp);
        free(j);
        return -1;
    }
    srv->gate->join = j;
    return 0;
}

static void gspace_free(struct gspace *g)
{
    admit_free(&g->adm);
    free(g);
}

void gatejoin_free(struct server *srv)
{
    struct gatejoin *j = srv->gate ? srv->gate->join : NULL;
    if (!j) return;
    for (uint32_t i = 0; i < j->len; i++)
        gspace_free(j->sp[i]);
    free(j->sp);
    free(j);
    srv->gate->join = NULL;
}

uint32_t gatejoin_space_count(const struct server *srv)
{
    return srv->gate && srv->gate->join ? srv->gate->join->len : 0;
}

/* ---- the spaces ---------------------------------------------------------- */

static struct gspace *find(struct gatejoin *j, const char *id)
{
    for (uint32_t i = 0; i < j->len; i++)
        if (!memcmp(j->sp[i]->id, id, STORE_ID_CHARS)) return j->sp[i];
    return NULL;
}

/* gspace_new: admission state for space <row>; its start is the scheduled
 * one (joins before it take pre-queue slots), or now. NULL with *status set
 * (503 when the table is full or out of memory). */
static struct gspace *gspace_new(struct server *srv, const struct store_space *row, uint64_t now_ms)
{
    const struct conf *cf = &srv->conf;
    struct gatejoin *j = srv->gate->join;
    if (j->len >= cf->gate_spaces_max) return NULL;
    struct gspace *g = calloc(1, sizeof(*g));
    if (!g) return NULL;
    memcpy(g->id, row->id, sizeof(g->id));
    g->key = gate_space_key(row->id);
    struct admit_conf ac = ADMIT_CONF_DEFAULT;
    ac.listeners_max = row->listeners_max ? row->listeners_max : cf->listeners_max;
    ac.share_permille = cf->admit_share_permille;
    ac.admit_per_s = row->admit_per_s ? row->admit_per_s : cf->admit_per_s;
    ac.admit_burst = cf->admit_burst < ac.admit_per_s ? cf->admit_burst : ac.admit_per_s;
    ac.prequeue_max = cf->prequeue_max;
    ac.queue_max = cf->queue_max;
    ac.poll_min_s = cf->poll_min_s;
    ac.poll_max_s = cf->poll_max_s;
    ac.jitter_permille = cf->poll_jitter_permille;
    ac.prestart_spread_s = cf->prestart_spread_s;
    ac.promise_s = cf->promise_s;
    g->admit_per_s = ac.admit_per_s;
    int64_t wall = api_wall_ms();
    uint64_t start = now_ms;
    if (row->scheduled_start_ms > wall) start = now_ms + (uint64_t)(row->scheduled_start_ms - wall);
    if (admit_init(&g->adm, &ac, start, now_ms, admit_rng_os, NULL) < 0) {
        free(g);
        return NULL;
    }
    tbucket_init(&g->bulk, &j->bulk, now_ms);
    g->ended = row->state == STORE_ENDED;
    g->last_join_ms = now_ms;
    j->sp[j->len++] = g;
    return g;
}

void gatejoin_tick(struct server *srv, uint64_t now_ms, struct gatejoin_gauges *out)
{
    struct gatejoin *j = srv->gate->join;
    /* A space is forgotten once no queue ticket of it can still be alive. */
    uint64_t idle_ms = ((uint64_t)srv->conf.queue_ticket_ttl_s + srv->conf.poll_max_s) * 1000;
    for (uint32_t i = 0; i < j->len;) {
        struct gspace *g = j->sp[i];
        struct store_space row;
        if (now_ms - g->last_join_ms >= idle_ms) {
            gspace_free(g);
            j->sp[i] = j->sp[--j->len];
            continue;
        }
        int e = store_space_get(srv->store, g->id, &row);
        if (e == -ENOENT || (e == 0 && row.state == STORE_ENDED)) g->ended = true;
        uint64_t l = space_listeners(srv, g->id);
        admit_tick(&g->adm, now_ms, l > UINT32_MAX ? UINT32_MAX : (uint32_t)l);
        out->waiting += admit_waiting(&g->adm);
        out->served += (uint32_t)(g->adm.st.served - g->served_seen);
        g->served_seen = g->adm.st.served;
        g->demand_last = g->demand;
        g->demand = 0;
        g->pow_bits = (uint8_t)pow_difficulty(&j->pow, g->demand_last, g->admit_per_s);
        if (g->pow_bits > out->pow_bits) out->pow_bits = g->pow_bits;
        i++;
    }
}

/* ---- answers --------------------------------------------------------------- */

static void send_json(struct conn *c, int status, uint32_t retry_after_s, struct json_writer *w)
{
    char extra[64] = "";
    if (retry_after_s) snprintf(extra, sizeof(extra), "Retry-After: %u\r\n", retry_after_s);
    if (json_w_finish(w) < 0) {
        api_error(c, 500, "internal", "answer too large");
        return;
    }
    conn_respond_ex(c, status, "application/json", extra, w->buf, w->len, false);
}

/* refuse: {error, reason} with Retry-After (0: none); the reason counted. */
static void refuse(struct conn *c, int status, enum timeline_reason r, const char *error,
                   uint32_t retry_after_s)
{
    char buf[256];
    struct json_writer w;
    struct server *srv = c->srv;
    gate_count_reject(srv, r);
    srv->m.gate_joins[status == 503 ? TIMELINE_SHED : TIMELINE_REJECTED]++;
    srv->m.api_errors++;
    json_w_init(&w, buf, sizeof(buf));
    json_w_object_begin(&w);
    json_w_key(&w, "error");
    json_w_str(&w, error);
    json_w_key(&w, "reason");
    json_w_str(&w, timeline_reason_name(r));
    json_w_object_end(&w);
    send_json(c, status, retry_after_s, &w);
}

static uint32_t ms_to_s(uint64_t ms)
{
    uint64_t s = (ms + 999) / 1000;
    return s < 1 ? 1 : s > 3600 ? 3600 : (uint32_t)s;
}

static void admitted(struct conn *c, struct gspace *g, uint64_t number)
{
    struct server *srv = c->srv;
    char tk[TICKET_TEXT_BYTES + 1], url[128], buf[GATEJOIN_ANSWER_BYTES];
    struct ticket t = {.kind = TICKET_ADMISSION, .space = g->key, .number = number};
    if (ticket_issue(&srv->gate->ring, &t, &c->gate.pfx, gate_now_unix_s(), srv->conf.ticket_ttl_s,
                     tk, sizeof(tk)) < 0)
        return refuse(c, 503, TIMELINE_R_CAPACITY, "cannot issue a ticket now", 5);
    srv->m.gate_joins[TIMELINE_ADMITTED]++;
    snprintf(url, sizeof(url), "/live/%s.opus?ticket=%s", g->id, tk);
    struct json_writer w;
    json_w_init(&w, buf, sizeof(buf));
    json_w_object_begin(&w);
    json_w_key(&w, "ticket");
    json_w_str(&w, tk);
    json_w_key(&w, "expires_in");
    json_w_int(&w, srv->conf.ticket_ttl_s);
    json_w_key(&w, "stream");
    json_w_object_begin(&w);
    json_w_key(&w, "ogg");
    json_w_str(&w, url);
    json_w_object_end(&w);
    json_w_object_end(&w);
    send_json(c, 200, 0, &w);
}

static void write_eta(struct json_writer *w, uint32_t eta_s)
{
    json_w_key(w, "eta_s");
    if (eta_s == ADMIT_UNKNOWN)
        json_w_null(w);
    else
        json_w_int(w, eta_s);
}

static void queued(struct conn *c, struct gspace *g, const struct admit_decision *d)
{
    struct server *srv = c->srv;
    const struct conf *cf = &srv->conf;
    char tk[TICKET_TEXT_BYTES + 1], buf[GATEJOIN_ANSWER_BYTES];
    uint32_t ttl = cf->queue_ticket_ttl_s, retry = d->retry_after_s;
    if (d->pre) {
        /* Before the start the ticket must outlive the wait; a start
         * further away than a key epoch is met by polling earlier. */
        uint64_t want = (uint64_t)retry + cf->queue_ticket_ttl_s;
        ttl = want > cf->ticket_rotate_s ? cf->ticket_rotate_s : (uint32_t)want;
        if (retry > ttl - cf->queue_ticket_ttl_s) retry = ttl - cf->queue_ticket_ttl_s;
        if (retry < 1) retry = 1;
    }
    struct ticket t = {
        .kind = d->pre ? TICKET_PREQUEUE : TICKET_QUEUE, .space = g->key, .number = d->number};
    if (ticket_issue(&srv->gate->ring, &t, &c->gate.pfx, gate_now_unix_s(), ttl, tk, sizeof(tk)) <
        0)
        return refuse(c, 503, TIMELINE_R_CAPACITY, "cannot issue a ticket now", 5);
    srv->m.gate_joins[TIMELINE_QUEUED]++;
    struct json_writer w;
    json_w_init(&w, buf, sizeof(buf));
    json_w_object_begin(&w);
    json_w_key(&w, "queue_ticket");
    json_w_str(&w, tk);
    json_w_key(&w, "position");
    if (d->position == ADMIT_POSITION_UNKNOWN)
        json_w_null(&w);
    else
        json_w_int(&w, (int64_t)d->position);
    write_eta(&w, d->eta_s);
    json_w_key(&w, "retry_after_s");
    json_w_int(&w, retry);
    json_w_object_end(&w);
    send_json(c, 202, retry, &w);
}

/* A fresh join while puzzles are on, without a solution: a puzzle, no
 * place yet. The solution comes back in the next join and earns one. */
static void puzzle(struct conn *c, struct gspace *g, uint64_t now_ms)
{
    struct server *srv = c->srv;
    char ch[TICKET_TEXT_BYTES + 1], buf[GATEJOIN_ANSWER_BYTES];
    uint64_t nonce;
    admit_rng_os(NULL, &nonce, sizeof(nonce));
    if (pow_issue(&srv->gate->ring, g->key, &c->gate.pfx, g->pow_bits, nonce, gate_now_unix_s(),
                  srv->conf.pow_ttl_s, ch, sizeof(ch)) < 0)
        return refuse(c, 503, TIMELINE_R_CAPACITY, "cannot issue a puzzle now", 5);
    gate_count_reject(srv, TIMELINE_R_POW_REQUIRED);
    srv->m.gate_puzzles_issued++;
    struct json_writer w;
    json_w_init(&w, buf, sizeof(buf));
    json_w_object_begin(&w);
    json_w_key(&w, "queue_ticket");
    json_w_null(&w);
    json_w_key(&w, "position");
    json_w_null(&w);
    write_eta(&w, admit_eta_s(&g->adm, now_ms, g->adm.next_number));
    json_w_key(&w, "retry_after_s");
    json_w_int(&w, 0);
    json_w_key(&w, "puzzle");
    json_w_object_begin(&w);
    json_w_key(&w, "challenge");
    json_w_str(&w, ch);
    json_w_key(&w, "difficulty");
    json_w_int(&w, g->pow_bits);
    json_w_object_end(&w);
    json_w_object_end(&w);
    send_json(c, 202, 0, &w);
}

/* ---- the join ---------------------------------------------------------------- */

struct join_body {
    const char *queue_ticket; /* NULL: a fresh join */
    size_t queue_ticket_len;
    const char *challenge; /* NULL: no puzzle solution */
    size_t challenge_len;
    int64_t counter;
};

/* parse: the optional JSON body. false: answered 400. */
static bool parse(struct conn *c, const char *body, size_t len, char *copy, struct join_body *b)
{
    static const char *const keys[] = {"queue_ticket", "challenge", "counter", "token"};
    char err[JSON_REASON_BYTES + 64];
    struct json_doc doc;
    memset(b, 0, sizeof(*b));
    if (!len) return true;
    if (len > GATEJOIN_BODY_BYTES_MAX) {
        api_error(c, 413, "too_large", "a join body is a few hundred bytes");
        return false;
    }
    memcpy(copy, body, len);
    if (json_parse(copy, len, &doc, err, sizeof(err)) < 0 ||
        json_check_keys(&doc, keys, 4, err, sizeof(err)) < 0) {
        api_error(c, 400, "bad_json", err);
        return false;
    }
    const struct json_member *q = json_find(&doc, "queue_ticket");
    const struct json_member *ch = json_find(&doc, "challenge");
    const struct json_member *n = json_find(&doc, "counter");
    if ((q && q->type != JSON_STRING && q->type != JSON_NULL) ||
        (ch && ch->type != JSON_STRING && ch->type != JSON_NULL) ||
        (n && n->type != JSON_INT && n->type != JSON_NULL) ||
        (ch && ch->type == JSON_STRING && (!n || n->type != JSON_INT || n->i < 0))) {
        api_error(c, 400, "bad_field",
                  "queue_ticket and challenge are strings, counter a non-negative integer "
                  "(with challenge)");
        return false;
    }
    if (q && q->type == JSON_STRING) {
        b->queue_ticket = q->str;
        b->queue_ticket_len = q->str_len;
    }
    if (ch && ch->type == JSON_STRING) {
        b->challenge = ch->str;
        b->challenge_len = ch->str_len;
        b->counter = n->i;
    }
    return true;
}

/* space: the admission state of space <id>, made from the store on its
 * first join. NULL: answered (404, 410, 503). */
static struct gspace *space(struct conn *c, const char *id, uint64_t now_ms)
{
    struct server *srv = c->srv;
    struct gspace *g = find(srv->gate->join, id);
    if (!g) {
        struct store_space row;
        int e = store_space_get(srv->store, id, &row);
        if (e == -ENOENT) {
            api_error(c, 404, "not_found", "no such space");
            return NULL;
        }
        if (e < 0) {
            api_error(c, 503, "storage", "the database is unavailable");
            return NULL;
        }
        if (row.state == STORE_ENDED) {
            api_error(c, 410, "ended", "the space has ended");
            return NULL;
        }
        g = gspace_new(srv, &row, now_ms);
        if (!g) {
            refuse(c, 503, TIMELINE_R_CAPACITY, "too many spaces are admitting listeners", 5);
            return NULL;
        }
    }
    if (g->ended) {
        api_error(c, 410, "ended", "the space has ended");
        return NULL;
    }
    return g;
}

/* claim: the verified claim of a presented queue ticket. A ticket that is
 * ours but stale, from another network or from before a restart makes a
 * fresh join (its holder lost nothing it could still use); one that is not
 * ours at all is refused. false: answered. */
static bool claim(struct conn *c, struct gspace *g, const struct join_body *b,
                  struct admit_claim *cl)
{
    struct server *srv = c->srv;
    struct ticket t;
    cl->kind = ADMIT_CLAIM_NONE;
    if (!b->queue_ticket) return true;
    uint64_t unix_s = gate_now_unix_s();
    enum ticket_status st = ticket_verify(&srv->gate->ring, b->queue_ticket, b->queue_ticket_len,
                                          TICKET_QUEUE, g->key, &c->gate.pfx, unix_s, &t);
    if (st == TICKET_WRONG_KIND && t.kind == TICKET_PREQUEUE)
        st = ticket_verify(&srv->gate->ring, b->queue_ticket, b->queue_ticket_len, TICKET_PREQUEUE,
                           g->key, &c->gate.pfx, unix_s, &t);
    switch (st) {
    case TICKET_OK:
        cl->kind = t.kind == TICKET_PREQUEUE ? ADMIT_CLAIM_PRE : ADMIT_CLAIM_QUEUE;
        cl->number = t.number;
        return true;
    case TICKET_EXPIRED:
    case TICKET_NOT_YET_VALID:
    case TICKET_WRONG_PREFIX:
    case TICKET_UNKNOWN_EPOCH:
        return true;
    case TICKET_MALFORMED:
    case TICKET_BAD_SIGNATURE:
        gate_glitch(c, GATE_GLITCH_FORGED_PTS);
        break;
    case TICKET_WRONG_KIND:
    case TICKET_WRONG_SPACE:
        break;
    }
    refuse(c, 403, timeline_reason_of_ticket(st), "queue ticket refused", 0);
    return false;
}

/* fresh: the checks of a join without a place: the prefix's ticket bucket,
 * then the puzzle while one is in force. false: answered. */
static bool fresh(struct conn *c, struct gspace *g, const struct join_body *b, uint64_t now_ms)
{
    struct server *srv = c->srv;
    struct gate *gt = srv->gate;
    if (!(c->gate.flags & CONN_G_EXEMPT)) {
        uint64_t retry_ms = 0;
        enum iptable_result r = iptable_ticket_take(&gt->ipt, &c->gate.pfx, now_ms, &retry_ms);
        if (r != IPTABLE_OK) {
            refuse(c, 429, timeline_reason_of_iptable(r), "too many joins from your network",
                   ms_to_s(retry_ms ? retry_ms : 1000));
            return false;
        }
    }
    if (!b->challenge) {
        g->demand++;
        if (!g->pow_bits) return true;
        puzzle(c, g, now_ms);
        return false;
    }
    if (!g->pow_bits) return true; /* puzzles are off again: the work was not needed */
    enum ticket_status why;
    enum pow_status ps =
        pow_verify(&gt->ring, &gt->replay, b->challenge, b->challenge_len, (uint64_t)b->counter,
                   g->key, &c->gate.pfx, gate_now_unix_s(), &why, NULL);
    if (ps == POW_OK) {
        srv->m.gate_puzzles_solved++;
        return true;
    }
    if (ps == POW_UNSOLVED || (ps == POW_BAD_CHALLENGE && why != TICKET_EXPIRED))
        gate_glitch(c, GATE_GLITCH_POW_PTS);
    refuse(c, 429, timeline_reason_of_pow(ps), "puzzle solution refused; join again", 1);
    return false;
}

void gatejoin_handle(struct conn *c, const struct http_request *req, const char *id,
                     const char *body, size_t body_len)
{
    struct server *srv = c->srv;
    uint64_t now = loop_now_ms(srv->loop);
    char copy[GATEJOIN_BODY_BYTES_MAX + 1];
    struct join_body b;
    struct admit_claim cl;
    struct admit_decision d;
    (void)req;
    if (!srv->gate || !srv->gate->join) return api_error(c, 503, "busy", "no gate here");
    struct gspace *g = space(c, id, now);
    if (!g) return;
    if (!parse(c, body, body_len, copy, &b)) return;
    if (!gate_admits(srv, b.queue_ticket ? OVERLOAD_QUEUE_POLL : OVERLOAD_JOIN))
        return refuse(c, 503, TIMELINE_R_OVERLOAD, "the server is shedding load", 5);
    g->last_join_ms = now;
    if (!tbucket_take(&g->bulk, &srv->gate->join->bulk, now, 1))
        return refuse(c, 503, TIMELINE_R_BULKHEAD, "this space's joins are arriving too fast",
                      ms_to_s(tbucket_wait_ms(&g->bulk, &srv->gate->join->bulk, now, 1)));
    iptable_note_join(&srv->gate->ipt, &c->gate.pfx, now); /* concentration: counted, not limited */
    if (!claim(c, g, &b, &cl)) return;
    if (cl.kind == ADMIT_CLAIM_NONE && !fresh(c, g, &b, now)) return;
    admit_decide(&g->adm, now, &cl, &d);
    switch (d.outcome) {
    case ADMIT_ADMIT:
        return admitted(c, g, d.number);
    case ADMIT_QUEUE:
        return queued(c, g, &d);
    case ADMIT_SHED:
        break;
    }
    static const char *const what[] = {
        [ADMIT_SHED_NONE] = "shed",
        [ADMIT_SHED_QUEUE_FULL] = "the queue is full",
        [ADMIT_SHED_PREQUEUE_FULL] = "the waiting room is full",
        [ADMIT_SHED_STALE] = "that queue ticket is too old: join again",
        [ADMIT_SHED_REDEEMED] = "that queue ticket was used: join again",
        [ADMIT_SHED_BAD_CLAIM] = "that queue ticket is not known here: join again",
    };
    refuse(c, 503, timeline_reason_of_admit(d.reason), what[d.reason], d.retry_after_s);
}

/* ---- status ------------------------------------------------------------------- */

void gatejoin_write_spaces(struct json_writer *w, const struct server *srv, uint64_t now_ms)
{
    const struct gatejoin *j = srv->gate ? srv->gate->join : NULL;
    json_w_array_begin(w);
    for (uint32_t i = 0; j && i < j->len; i++) {
        const struct gspace *g = j->sp[i];
        json_w_object_begin(w);
        json_w_key(w, "id");
        json_w_str(w, g->id);
        json_w_key(w, "started");
        json_w_bool(w, g->adm.started);
        json_w_key(w, "prequeue");
        json_w_int(w, (int64_t)g->adm.pre_n);
        json_w_key(w, "waiting");
        json_w_int(w, (int64_t)admit_waiting(&g->adm));
        json_w_key(w, "now_serving");
        json_w_int(w, (int64_t)g->adm.now_serving);
        json_w_key(w, "next_number");
        json_w_int(w, (int64_t)g->adm.next_number);
        json_w_key(w, "admit_per_s");
        json_w_int(w, g->admit_per_s);
        json_w_key(w, "headroom");
        json_w_int(w, admit_headroom(&g->adm, now_ms));
        json_w_key(w, "listeners");
        json_w_int(w, g->adm.listeners_now);
        json_w_key(w, "served");
        json_w_int(w, (int64_t)g->adm.st.served);
        json_w_key(w, "demand_per_s");
        json_w_int(w, g->demand_last);
        json_w_key(w, "pow_bits");
        json_w_int(w, g->pow_bits);
        json_w_object_end(w);
    }
    json_w_array_end(w);
}
