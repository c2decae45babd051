/* source: Icecast-compatible ingest (PUT, SOURCE, chunked), and internal
 * sources. */
#include "source.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "space.h"
#include "store.h"
#include "mount.h"
#include "server.h"
#include "workers.h"

static const char continue_100[] = "HTTP/1.1 100 Continue\r\n\r\n";
static const char ok_200[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
static const char ok_200_legacy[] = "HTTP/1.0 200 OK\r\n\r\n";

static int on_head(void *ctx, const struct opus_head *h)
{
    struct source *s = ctx;
    return mount_set_head(s->mount, h) < 0 ? -1 : 0;
}

static void on_packet(void *ctx, const uint8_t *pkt, uint32_t len, int samples)
{
    struct source *s = ctx;
    if (s->space) space_source_packet(s, pkt, len, samples);
    else mount_packet(s->mount, pkt, len, samples);
}

struct conn *source_conn(struct source *s)
{
    return s->conn;
}

struct space_rt *source_space(struct source *s)
{
    return s->space;
}

void source_set_space(struct source *s, struct space_rt *sp)
{
    s->space = sp;
}

static const struct ogg_in_ops ingest_ops = {on_head, on_packet};

static void source_unlink(struct server *srv, struct source *s)
{
    if (s->prev)
        s->prev->next = s->next;
    else
        srv->sources = s->next;
    if (s->next) s->next->prev = s->prev;
    s->prev = s->next = NULL;
}

void source_close(struct source *s)
{
    struct server *srv = s->conn->srv;
    source_unlink(srv, s);
    srv->m.source_bad_packets += s->in.bad_packets;
    ogg_in_free(&s->in);
    log_info("source for /live/%s.opus left after %llu bytes", s->mount->name,
             (unsigned long long)s->bytes);
    if (s->space) {
        space_source_detach(s);
        s->mount->source = NULL;
    } else {
        mount_source_left(s->mount);
    }
    srv->m.sources--;
    free(s);
}

/* Feeds body bytes; returns false when the connection was closed. */
static bool ingest(struct source *s, char *data, size_t len)
{
    struct conn *c = s->conn;
    struct server *srv = c->srv;
    if (s->is_chunked) {
        if (http_chunked_decode(&s->chunked, data, &len) < 0) {
            log_warn("source /live/%s.opus: bad chunked framing", s->mount->name);
            conn_close(c);
            return false;
        }
    } else if (s->has_length) {
        if (len > s->body_left) len = (size_t)s->body_left;
        s->body_left -= len;
    }
    s->bytes += len;
    srv->m.source_bytes += len;
    s->last_data_ms = loop_now_ms(srv->loop);
    if (len && ogg_in_feed(&s->in, (const uint8_t *)data, len, &ingest_ops, s) < 0) {
        if (!s->answered) {
            /* Detach first: the connection leaves as a plain rejection. */
            c->source = NULL;
            source_close(s);
            conn_reject(c, 415, REJ_UNSUPPORTED_MEDIA, "source body is not Ogg/Opus", "");
        } else {
            srv->m.rejects[REJ_UNSUPPORTED_MEDIA]++;
            log_warn("source /live/%s.opus: not Ogg/Opus (mapping family 0), closed",
                     s->mount->name);
            conn_close(c);
        }
        return false;
    }
    if (!s->answered && s->in.stage == 2) {
        /* Valid head and tags: now the client hears its 200 (after 100). */
        s->answered = true;
        conn_write_all(c, ok_200, sizeof(ok_200) - 1);
    }
    if ((s->is_chunked && s->chunked.done) || (s->has_length && !s->body_left)) {
        conn_close(c);
        return false;
    }
    return true;
}

enum { READ_EMPTIED, READ_MORE, READ_CLOSED };

/* Reads up to the budget (one fast source cannot hold the loop), in one
 * read into srv->source_buf: whether the socket was emptied, has more, or
 * the connection was closed. */
static int read_some(struct source *s)
{
    struct conn *c = s->conn;
    struct server *srv = c->srv;
    for (;;) {
        ssize_t n = read(c->io.fd, srv->source_buf, srv->conf.source_read_bytes_max);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno == EAGAIN) return READ_EMPTIED;
        if (n <= 0) {
            conn_close(c);
            return READ_CLOSED;
        }
        if (!ingest(s, srv->source_buf, (size_t)n)) return READ_CLOSED;
        return (size_t)n < srv->conf.source_read_bytes_max ? READ_EMPTIED : READ_MORE;
    }
}

/* Level-triggered: a source with more than the budget is back next
 * iteration. A lazy one is watched only for its peer closing (then read to
 * the end here), otherwise read by source_pump. */
static void source_io(struct loop *loop, struct io *io, uint32_t events)
{
    (void)loop;
    (void)events;
    struct conn *c = io->data;
    read_some(c->source);
}

/* ---- reading when needed ------------------------------------------------ */

static bool may_be_lazy(const struct source *s)
{
    const struct server *srv = s->conn->srv;
    /* A stage input feeds a jitter buffer on its arrival clock; a young
     * mount's first listeners need every page at once (server.c, young). */
    return srv->conf.source_read_ms && !s->space && s->answered &&
           !mount_young(s->mount, srv->conf.burst_ms);
}

static uint32_t read_period_ms(const struct conf *c)
{
    return c->source_read_ms < c->flush_ms ? c->source_read_ms : c->flush_ms;
}

static void set_lazy(struct source *s, bool lazy)
{
    struct server *srv = s->conn->srv;
    if (lazy == s->lazy) return;
    if (io_set(srv->loop, &s->conn->io, lazy ? LOOP_RDHUP : LOOP_READ | LOOP_RDHUP) < 0)
        return; /* stays as it was: correct either way */
    s->lazy = lazy;
}

/* Workers take pages from the origin as they come, and the origin has no
 * flush pass of its own: while a source may be read lazily, a tick reads
 * it for them. */
static void arm_tick(struct server *srv)
{
    if (!srv->workers || !srv->conf.source_read_ms || timer_armed(&srv->source_read)) return;
    for (const struct source *s = srv->sources; s; s = s->next)
        if (!s->space) {
            timer_start(srv->loop, &srv->source_read, read_period_ms(&srv->conf));
            return;
        }
}

void source_pump(struct server *srv)
{
    struct source *next;
    /* Once per loop iteration: a burst of joins asks for every one. */
    if (srv->sources_pumped_us == loop_now_us(srv->loop)) return;
    srv->sources_pumped_us = loop_now_us(srv->loop);
    workers_hold(srv); /* the pages read now: one write per worker */
    for (struct source *s = srv->sources; s; s = next) {
        next = s->next; /* reading may close s, never another source */
        if (!s->lazy && !may_be_lazy(s)) continue;
        int r = read_some(s);
        if (r != READ_CLOSED) set_lazy(s, r == READ_EMPTIED && may_be_lazy(s));
    }
    workers_release(srv);
}

static void on_read_tick(struct loop *loop, struct timer *t)
{
    struct server *srv = t->data;
    (void)loop;
    source_pump(srv);
    arm_tick(srv);
}

void source_read_init(struct server *srv)
{
    timer_init(&srv->source_read, on_read_tick, srv);
}

/* attach: <s> (zeroed) becomes the source of <m> and takes over <c>. */
static void attach(struct conn *c, struct mount *m, struct source *s)
{
    struct server *srv = c->srv;
    s->conn = c;
    s->mount = m;
    ogg_in_init(&s->in);
    s->last_data_ms = loop_now_ms(srv->loop);
    s->next = srv->sources;
    if (srv->sources) srv->sources->prev = s;
    srv->sources = s;
    m->source = s;
    m->orphan_since_ms = 0;
    c->source = s;
    c->role = CONN_SOURCE;
    c->io.cb = source_io;
    srv->m.sources++;
    srv->m.source_connects++;
    /* Sources are few and read with a budget: level-triggered. */
    io_set(srv->loop, &c->io, LOOP_READ | LOOP_RDHUP);
    arm_tick(srv);
}

/* User "source" with the server's source password, or, for a space's
 * mount, with the space's host key. */
static bool password_ok(const struct server *srv, const struct http_request *req,
                        const char *name)
{
    char buf[512];
    const char *user, *pass;
    const struct http_header *h = http_find_header(req, "Authorization");
    if (!h || http_basic_auth(h->value, h->value_len, buf, sizeof(buf), &user, &pass) < 0)
        return false;
    if (srv->store && !strcmp(user, "source") &&
        store_host_key_verify(srv->store, name, pass, strlen(pass)))
        return true;
    const char *want = srv->conf.source_password;
    size_t wl = strlen(want), pl = strlen(pass);
    /* Constant time in the password's length: no early exit on a mismatch. */
    unsigned diff = (unsigned)(wl ^ pl) | (unsigned)strcmp(user, "source");
    for (size_t i = 0; i < pl; i++) diff |= (unsigned)(pass[i] ^ want[i % (wl ? wl : 1)]);
    return diff == 0 && wl > 0;
}

void source_start(struct conn *c, const struct http_request *req, const char *name,
                  const char *body, size_t body_len)
{
    struct server *srv = c->srv;
    if (!password_ok(srv, req, name)) {
        conn_reject(c, 401, REJ_UNAUTHORIZED, "source credentials required (user 'source')",
                    "WWW-Authenticate: Basic realm=\"podium\"\r\n");
        return;
    }
    const struct http_header *te = http_find_header(req, "Transfer-Encoding");
    const struct http_header *cl = http_find_header(req, "Content-Length");
    bool chunked = te && http_header_has_token(te, "chunked");
    if ((te && !chunked) || (te && cl)) {
        conn_reject(c, 400, REJ_BAD_REQUEST, "unsupported Transfer-Encoding", "");
        return;
    }
    uint64_t length = 0;
    if (cl) {
        char *end;
        char tmp[24];
        if (cl->value_len == 0 || cl->value_len >= sizeof(tmp)) goto bad_length;
        memcpy(tmp, cl->value, cl->value_len);
        tmp[cl->value_len] = 0;
        if (tmp[0] < '0' || tmp[0] > '9') goto bad_length;
        errno = 0;
        length = strtoull(tmp, &end, 10);
        if (errno || *end) goto bad_length;
    }
    struct mount *m = mount_find(srv, name);
    /* A lazy source's last bytes (the end of its chunked body) may be
     * waiting unread: read them before calling the mount busy. */
    if (m && m->source && m->source->lazy) read_some(m->source);
    if (m && m->source) {
        conn_reject(c, 409, REJ_MOUNT_BUSY, "mount already has a live source", "");
        return;
    }
    struct source *s = calloc(1, sizeof(*s));
    if (!s) {
        conn_reject(c, 503, REJ_OUT_OF_MEMORY, "out of memory", "Retry-After: 5\r\n");
        return;
    }
    /* The mount of a space: the source joins the space's mix. */
    int e = space_source_attach(srv, name, s);
    if (e == -EINVAL || e == -ENOSPC || e == -EBUSY || e == -ENOMEM) {
        free(s);
        if (e == -EINVAL) conn_reject(c, 410, REJ_NOT_FOUND, "the space has ended", "");
        else if (e == -EBUSY) conn_reject(c, 409, REJ_MOUNT_BUSY, "space has a source", "");
        else conn_reject(c, 503, REJ_MOUNT_CAP, "the stage is full", "Retry-After: 30\r\n");
        return;
    }
    if (e == 0) m = mount_find(srv, name);
    if (!m) m = mount_get(srv, name);
    if (!m) {
        free(s);
        conn_reject(c, 503, REJ_MOUNT_CAP, "too many mounts", "Retry-After: 30\r\n");
        return;
    }
    conn_end_request(c);
    attach(c, m, s);
    s->is_chunked = chunked;
    if (chunked) http_chunked_init(&s->chunked, srv->conf.chunk_bytes_max);
    s->has_length = cl != NULL;
    s->body_left = length;
    log_info("source connected to /live/%s.opus (%s%s)", name,
             http_method_is(req, "SOURCE") ? "SOURCE" : "PUT", chunked ? ", chunked" : "");

    const struct http_header *expect = http_find_header(req, "Expect");
    if (expect && http_header_has_token(expect, "100-continue")) {
        /* The client waits for 100 before sending audio; its 200 follows
         * once the stream's head checks out, or a 415 instead. */
        conn_write_all(c, continue_100, sizeof(continue_100) - 1);
    } else if (!body_len) {
        /* Legacy clients (SOURCE, butt) send nothing until they get 200. */
        s->answered = true;
        if (req->minor_version == 0)
            conn_write_all(c, ok_200_legacy, sizeof(ok_200_legacy) - 1);
        else
            conn_write_all(c, ok_200, sizeof(ok_200) - 1);
    }
    if (body_len) {
        /* The bytes live in the scratch buffer, which ingest may reuse
         * only after this call; decoding in place is fine. */
        if (!ingest(s, (char *)body, body_len)) return;
    }
    return;

bad_length:
    conn_reject(c, 400, REJ_BAD_REQUEST, "bad Content-Length", "");
}

int source_start_internal(struct server *srv, int fd, const char *name)
{
    struct mount *m = mount_get(srv, name);
    if (!m) return -ENOMEM;
    if (m->source) return -EBUSY;
    struct conn *c = calloc(1, sizeof(*c));
    struct source *s = calloc(1, sizeof(*s));
    if (!c || !s) {
        free(c);
        free(s);
        return -ENOMEM;
    }
    c->srv = srv;
    c->since_ms = loop_now_ms(srv->loop);
    io_init(&c->io, fd, source_io, c);
    srv->m.connections++;
    attach(c, m, s);
    s->answered = true;
    return 0;
}

void source_expire(struct server *srv, uint64_t now_ms)
{
    struct source *next;
    for (struct source *s = srv->sources; s; s = next) {
        next = s->next;
        if (now_ms - s->last_data_ms < srv->conf.source_timeout_ms) continue;
        /* Unread is not silent: a lazy source may have sent since. */
        if (s->lazy && (read_some(s) == READ_CLOSED ||
                        now_ms - s->last_data_ms < srv->conf.source_timeout_ms))
            continue;
        log_warn("source for /live/%s.opus silent for %ums: closed", s->mount->name,
                 srv->conf.source_timeout_ms);
        srv->m.source_timeouts++;
        conn_close(s->conn);
    }
}
