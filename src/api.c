/* api: the spaces API. */
#include "api.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "conn.h"
#include "gatejoin.h"
#include "gatestatus.h"
#include "http.h"
#include "json.h"
#include "log.h"
#include "mount.h"
#include "server.h"
#include "space.h"
#include "store.h"
#include "workers.h"

#define API_ANSWER_BYTES_SMALL 16384 /* one space, one speaker, an error */
#define API_SPACE_BYTES_MAX 16384    /* one space in JSON, worst case of escaping */

bool api_is(const char *path, size_t len)
{
    return len >= 5 && !memcmp(path, "/api/", 5);
}

int64_t api_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void answer(struct conn *c, int status, struct json_writer *w)
{
    if (json_w_finish(w) < 0) {
        api_error(c, 500, "internal", "answer too large");
        return;
    }
    conn_respond(c, status, "application/json", w->buf, w->len, false);
}

void api_error(struct conn *c, int status, const char *kind, const char *reason)
{
    char buf[512];
    struct json_writer w;
    c->srv->m.api_errors++;
    json_w_init(&w, buf, sizeof(buf));
    json_w_object_begin(&w);
    json_w_kstr(&w, "error", kind);
    json_w_kstr(&w, "reason", reason);
    json_w_object_end(&w);
    if (json_w_finish(&w) < 0) return conn_respond(c, status, "application/json", "{}", 2, false);
    conn_respond(c, status, "application/json", buf, w.len, false);
}

/* Path segments after /api/: "spaces", "<id>", "speakers", ... */
#define API_SEGS_MAX 6
struct segs {
    const char *p[API_SEGS_MAX];
    size_t n[API_SEGS_MAX];
    unsigned len;
};

static bool split(const char *path, size_t len, struct segs *s)
{
    s->len = 0;
    size_t i = 5; /* past "/api/" */
    while (i < len) {
        size_t j = i;
        while (j < len && path[j] != '/')
            j++;
        if (j == i || s->len == API_SEGS_MAX) return false;
        s->p[s->len] = path + i;
        s->n[s->len++] = j - i;
        i = j + 1;
    }
    return true;
}

static bool seg_is(const struct segs *s, unsigned i, const char *lit)
{
    size_t l = strlen(lit);
    return i < s->len && s->n[i] == l && !memcmp(s->p[i], lit, l);
}

/* A space id from the path: exactly STORE_ID_CHARS of base64url. */
static bool seg_id(const struct segs *s, unsigned i, char out[STORE_ID_CHARS + 1])
{
    if (i >= s->len || s->n[i] != STORE_ID_CHARS) return false;
    for (size_t k = 0; k < STORE_ID_CHARS; k++) {
        char ch = s->p[i][k];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '-' || ch == '_'))
            return false;
    }
    memcpy(out, s->p[i], STORE_ID_CHARS);
    out[STORE_ID_CHARS] = 0;
    return true;
}

void api_write_space(struct json_writer *w, const struct server *srv, const struct store_space *sp)
{
    char url[64];
    json_w_object_begin(w);
    json_w_kstr(w, "id", sp->id);
    json_w_kstr(w, "title", sp->title);
    json_w_kstr(w, "description", sp->description);
    json_w_kint(w, "scheduled_start", sp->scheduled_start_ms);
    json_w_kstr(w, "access", store_access_name(sp->access));
    json_w_kstr(w, "state", store_state_name(sp->state));
    json_w_kint(w, "created", sp->created_ms);
    json_w_key(w, "started");
    if (sp->started_ms)
        json_w_int(w, sp->started_ms);
    else
        json_w_null(w);
    json_w_key(w, "ended");
    if (sp->ended_ms)
        json_w_int(w, sp->ended_ms);
    else
        json_w_null(w);
    json_w_kint(w, "listeners", (int64_t)space_listeners(srv, sp->id));
    json_w_kint(w, "peak_listeners", sp->peak_listeners);
    json_w_kint(w, "listeners_max", sp->listeners_max);
    json_w_kint(w, "admit_per_s", sp->admit_per_s);
    json_w_key(w, "rtp");
    if (sp->rtp_enabled) {
        json_w_object_begin(w);
        json_w_kint(w, "port", srv->rtp_port);
        json_w_kstr(w, "source", sp->rtp_source_addr);
        json_w_kint(w, "source_port", sp->rtp_source_port);
        json_w_object_end(w);
    } else {
        json_w_null(w);
    }
    json_w_key(w, "stage");
    space_write_stage(w, srv, sp->id);
    json_w_key(w, "stream");
    json_w_object_begin(w);
    snprintf(url, sizeof(url), "/live/%s.opus", sp->id);
    json_w_kstr(w, "ogg", url);
    json_w_object_end(w);
    json_w_object_end(w);
}

bool api_bearer(const struct http_request *req, const char **v, size_t *vl)
{
    const struct http_header *h = http_find_header(req, "Authorization");
    if (!h || h->value_len < 8 || strncasecmp(h->value, "Bearer ", 7) != 0) return false;
    *v = h->value + 7;
    *vl = h->value_len - 7;
    return true;
}

bool api_host_or_401(struct conn *c, const struct http_request *req, const char *id)
{
    const char *k;
    size_t kl;
    if (api_bearer(req, &k, &kl) && store_host_key_verify(c->srv->store, id, k, kl)) return true;
    api_error(c, 401, "unauthorized", "the host key is needed (Authorization: Bearer)");
    return false;
}

void api_storage_error(struct conn *c)
{
    api_error(c, 503, "storage", "the database is unavailable");
}

static int parse_body(struct conn *c, const char *body, size_t len, char *copy,
                      struct json_doc *doc, const char *const *allowed, size_t n_allowed)
{
    char err[JSON_REASON_BYTES + 64];
    memcpy(copy, body, len);
    if (json_parse(copy, len, doc, err, sizeof(err)) < 0 ||
        json_check_keys(doc, allowed, n_allowed, err, sizeof(err)) < 0) {
        api_error(c, 400, "bad_json", err);
        return -1;
    }
    return 0;
}

static const char *str_member(const struct json_doc *d, const char *k, bool *bad)
{
    const struct json_member *m = json_find(d, k);
    if (!m || m->type == JSON_NULL) return NULL;
    if (m->type != JSON_STRING) *bad = true;
    return m->type == JSON_STRING ? m->str : NULL;
}

static int64_t int_member(const struct json_doc *d, const char *k, bool *bad)
{
    const struct json_member *m = json_find(d, k);
    if (!m || m->type == JSON_NULL) return 0;
    if (m->type != JSON_INT) *bad = true;
    return m->type == JSON_INT ? m->i : 0;
}

static void create_space(struct conn *c, const char *body, size_t len)
{
    static const char *const keys[] = {"title",      "description",   "scheduled_start",
                                       "access",     "listeners_max", "admit_per_s",
                                       "rtp_source", "rtp_port"};
    char copy[API_BODY_BYTES_MAX + 1], err[STORE_REASON_BYTES], key[STORE_KEY_CHARS + 1];
    struct json_doc doc;
    struct store_space sp;
    if (!len) return api_error(c, 400, "bad_json", "a JSON object with at least a title");
    if (parse_body(c, body, len, copy, &doc, keys, 8) < 0) return;
    bool bad = false;
    struct store_space_new in = {
        .title = str_member(&doc, "title", &bad),
        .description = str_member(&doc, "description", &bad),
        .scheduled_start_ms = int_member(&doc, "scheduled_start", &bad),
        .access = str_member(&doc, "access", &bad),
        .listeners_max = int_member(&doc, "listeners_max", &bad),
        .admit_per_s = int_member(&doc, "admit_per_s", &bad),
        .rtp_source_addr = str_member(&doc, "rtp_source", &bad),
        .rtp_source_port = int_member(&doc, "rtp_port", &bad),
    };
    in.rtp_enabled = in.rtp_source_addr != NULL;
    if (bad)
        return api_error(c, 400, "bad_field",
                         "title, description, access, rtp_source are strings; scheduled_start "
                         "(ms since 1970), listeners_max, admit_per_s, rtp_port are integers");
    int e = store_space_create(c->srv->store, &in, api_wall_ms(), &sp, key, err, sizeof(err));
    if (e == -EINVAL) return api_error(c, 400, "bad_field", err);
    if (e < 0) return api_storage_error(c);
    log_info("space %s created: %s", sp.id, sp.title);
    if (sp.rtp_enabled) space_rtp_refresh(c->srv);

    char *buf = malloc(API_SPACE_BYTES_MAX + 256);
    if (!buf) return api_error(c, 503, "out_of_memory", "out of memory");
    struct json_writer w;
    json_w_init(&w, buf, API_SPACE_BYTES_MAX + 256);
    json_w_object_begin(&w);
    json_w_kstr(&w, "id", sp.id);
    json_w_kstr(&w, "host_key", key);
    json_w_key(&w, "space");
    api_write_space(&w, c->srv, &sp);
    json_w_object_end(&w);
    answer(c, 201, &w);
    free(buf);
}

struct list_ctx {
    struct json_writer *w;
    const struct server *srv;
    struct store_space last;
    uint32_t n;
};

static int list_one(void *ctx, const struct store_space *sp)
{
    struct list_ctx *l = ctx;
    api_write_space(l->w, l->srv, sp);
    l->last = *sp;
    l->n++;
    return 0;
}

/* GET /api/spaces?state=live&limit=20&before=CURSOR; the cursor is the
 * "next" of the previous page. */
static void list_spaces(struct conn *c, const struct http_request *req)
{
    struct store_page pg = {0};
    const char *v;
    size_t vl;
    char tmp[64];
    if (http_query_param(req->query, req->query_len, "state", &v, &vl)) {
        pg.by_state = true;
        if (vl == 9 && !memcmp(v, "scheduled", 9))
            pg.state = STORE_SCHEDULED;
        else if (vl == 4 && !memcmp(v, "live", 4))
            pg.state = STORE_LIVE;
        else if (vl == 5 && !memcmp(v, "ended", 5))
            pg.state = STORE_ENDED;
        else
            return api_error(c, 400, "bad_query", "state is scheduled, live or ended");
    }
    if (http_query_param(req->query, req->query_len, "limit", &v, &vl)) {
        if (vl == 0 || vl > 3 || strspn(v, "0123456789") < vl)
            return api_error(c, 400, "bad_query", "limit is 1..100");
        memcpy(tmp, v, vl);
        tmp[vl] = 0;
        pg.limit = (uint32_t)strtoul(tmp, NULL, 10);
        if (pg.limit < 1 || pg.limit > STORE_LIST_LIMIT_MAX)
            return api_error(c, 400, "bad_query", "limit is 1..100");
    }
    if (http_query_param(req->query, req->query_len, "before", &v, &vl)) {
        /* CREATED_MS.ID */
        const char *dot = memchr(v, '.', vl);
        if (!dot || dot == v || dot - v > 15 || vl - (size_t)(dot - v) - 1 != STORE_ID_CHARS ||
            strspn(v, "0123456789") < (size_t)(dot - v))
            return api_error(c, 400, "bad_query", "before is the 'next' of a previous page");
        memcpy(tmp, v, (size_t)(dot - v));
        tmp[dot - v] = 0;
        pg.before_created_ms = strtoll(tmp, NULL, 10);
        memcpy(pg.before_id, dot + 1, STORE_ID_CHARS);
        pg.before_id[STORE_ID_CHARS] = 0;
    }
    uint32_t limit = pg.limit ? pg.limit : STORE_LIST_LIMIT_DEFAULT;
    size_t cap = (size_t)limit * API_SPACE_BYTES_MAX + 256;
    char *buf = malloc(cap);
    if (!buf) return api_error(c, 503, "out_of_memory", "out of memory");
    struct json_writer w;
    json_w_init(&w, buf, cap);
    json_w_object_begin(&w);
    json_w_key(&w, "spaces");
    json_w_array_begin(&w);
    struct list_ctx l = {.w = &w, .srv = c->srv};
    int r = store_space_list(c->srv->store, &pg, list_one, &l);
    json_w_array_end(&w);
    json_w_key(&w, "next");
    if (r >= 0 && l.n == limit) {
        snprintf(tmp, sizeof(tmp), "%lld.%s", (long long)l.last.created_ms, l.last.id);
        json_w_str(&w, tmp);
    } else {
        json_w_null(&w);
    }
    json_w_object_end(&w);
    if (r < 0)
        api_storage_error(c);
    else
        answer(c, 200, &w);
    free(buf);
}

static void get_space(struct conn *c, const char *id, bool head)
{
    struct store_space sp;
    int e = store_space_get(c->srv->store, id, &sp);
    if (e == -ENOENT) return api_error(c, 404, "not_found", "no such space");
    if (e < 0) return api_storage_error(c);
    char *buf = malloc(API_SPACE_BYTES_MAX + 4096);
    if (!buf) return api_error(c, 503, "out_of_memory", "out of memory");
    struct json_writer w;
    json_w_init(&w, buf, API_SPACE_BYTES_MAX + 4096);
    api_write_space(&w, c->srv, &sp);
    if (json_w_finish(&w) < 0)
        api_error(c, 500, "internal", "answer too large");
    else
        conn_respond(c, 200, "application/json", buf, w.len, head);
    free(buf);
}

static void end_space(struct conn *c, const struct http_request *req, const char *id)
{
    struct store_space sp;
    int e = store_space_get(c->srv->store, id, &sp);
    if (e == -ENOENT) return api_error(c, 404, "not_found", "no such space");
    if (e < 0) return api_storage_error(c);
    if (!api_host_or_401(c, req, id)) return;
    if (sp.state == STORE_ENDED) return api_error(c, 409, "ended", "the space has ended");
    space_end(c->srv, id, "ended by the host");
    get_space(c, id, false);
}

static void invite_speaker(struct conn *c, const struct http_request *req, const char *id,
                           const char *body, size_t len)
{
    static const char *const keys[] = {"name"};
    char copy[API_BODY_BYTES_MAX + 1], err[STORE_REASON_BYTES], token[STORE_KEY_CHARS + 1];
    char buf[1024], url[128];
    struct json_doc doc;
    struct store_speaker sk;
    if (!api_host_or_401(c, req, id)) return;
    if (!len) return api_error(c, 400, "bad_json", "a JSON object with the speaker's name");
    if (parse_body(c, body, len, copy, &doc, keys, 1) < 0) return;
    bool bad = false;
    const char *name = str_member(&doc, "name", &bad);
    if (bad || !name) return api_error(c, 400, "bad_field", "name is a string");
    int e =
        store_speaker_create(c->srv->store, id, name, api_wall_ms(), &sk, token, err, sizeof(err));
    if (e == -ENOENT) return api_error(c, 404, "not_found", "no such space");
    if (e == -EINVAL) return api_error(c, 400, "bad_field", err);
    if (e == -ENOSPC) return api_error(c, 409, "too_many", "this space has its most speakers");
    if (e < 0) return api_storage_error(c);
    struct json_writer w;
    json_w_init(&w, buf, sizeof(buf));
    json_w_object_begin(&w);
    json_w_kstr(&w, "speaker_id", sk.id);
    json_w_kstr(&w, "name", sk.name);
    json_w_kstr(&w, "token", token);
    json_w_key(&w, "stage");
    snprintf(url, sizeof(url), "/api/spaces/%s/stage", id);
    json_w_str(&w, url);
    json_w_object_end(&w);
    answer(c, 201, &w);
}

struct speakers_ctx {
    struct json_writer *w;
};

static int speaker_one(void *ctx, const struct store_speaker *sk)
{
    struct json_writer *w = ((struct speakers_ctx *)ctx)->w;
    json_w_object_begin(w);
    json_w_kstr(w, "id", sk->id);
    json_w_kstr(w, "name", sk->name);
    json_w_kint(w, "created", sk->created_ms);
    json_w_key(w, "revoked");
    if (sk->revoked_ms)
        json_w_int(w, sk->revoked_ms);
    else
        json_w_null(w);
    json_w_object_end(w);
    return 0;
}

static void list_speakers(struct conn *c, const struct http_request *req, const char *id)
{
    if (!api_host_or_401(c, req, id)) return;
    size_t cap = STORE_SPEAKERS_MAX * 512 + 64;
    char *buf = malloc(cap);
    if (!buf) return api_error(c, 503, "out_of_memory", "out of memory");
    struct json_writer w;
    json_w_init(&w, buf, cap);
    json_w_object_begin(&w);
    json_w_key(&w, "speakers");
    json_w_array_begin(&w);
    struct speakers_ctx sc = {&w};
    int r = store_speaker_list(c->srv->store, id, speaker_one, &sc);
    json_w_array_end(&w);
    json_w_object_end(&w);
    if (r < 0)
        api_storage_error(c);
    else
        answer(c, 200, &w);
    free(buf);
}

static void revoke_speaker(struct conn *c, const struct http_request *req, const char *id,
                           const struct segs *s)
{
    char sid[STORE_ID_CHARS + 1];
    if (!api_host_or_401(c, req, id)) return;
    if (!seg_id(s, 3, sid)) return api_error(c, 404, "not_found", "no such speaker");
    int e = store_speaker_revoke(c->srv->store, id, sid, api_wall_ms());
    if (e == -ENOENT) return api_error(c, 404, "not_found", "no such speaker");
    if (e == -EALREADY) return api_error(c, 409, "revoked", "already revoked");
    if (e < 0) return api_storage_error(c);
    space_speaker_revoked(c->srv, id, sid);
    conn_respond(c, 200, "application/json", "{\"revoked\":true}", 16, false);
}

void api_route(struct conn *c, const struct http_request *req, const char *body, size_t body_len)
{
    struct segs s;
    char id[STORE_ID_CHARS + 1];
    bool get = http_method_is(req, "GET"), head = http_method_is(req, "HEAD");
    bool post = http_method_is(req, "POST"), del = http_method_is(req, "DELETE");
    c->srv->m.api_requests++;
    if (gatestatus_route(c, req)) return;
    if (!c->srv->store) return api_storage_error(c);
    if (!split(req->path, req->path_len, &s) || !seg_is(&s, 0, "spaces"))
        return api_error(c, 404, "not_found", "no such endpoint");
    if (s.len == 1) {
        if (post) return create_space(c, body, body_len);
        if (get) return list_spaces(c, req);
        return api_error(c, 405, "method", "GET or POST");
    }
    if (!seg_id(&s, 1, id)) return api_error(c, 404, "not_found", "no such space");
    if (s.len == 2) {
        if (get || head) return get_space(c, id, head);
        return api_error(c, 405, "method", "GET");
    }
    if (s.len == 3 && seg_is(&s, 2, "join")) {
        if (post) return gatejoin_handle(c, req, id, body, body_len);
        return api_error(c, 405, "method", "POST");
    }
    if (s.len == 3 && seg_is(&s, 2, "end")) {
        if (post) return end_space(c, req, id);
        return api_error(c, 405, "method", "POST");
    }
    if (seg_is(&s, 2, "speakers")) {
        if (s.len == 3 && post) return invite_speaker(c, req, id, body, body_len);
        if (s.len == 3 && get) return list_speakers(c, req, id);
        if (s.len == 4 && del) return revoke_speaker(c, req, id, &s);
        return api_error(c, 405, "method", "POST or GET .../speakers, DELETE .../speakers/ID");
    }
    if (space_route(c, req, id, s.len > 2 ? s.p[2] : NULL, s.len > 2 ? s.n[2] : 0, body, body_len))
        return;
    api_error(c, 404, "not_found", "no such endpoint");
}
