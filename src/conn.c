/* conn: accept, the request phase, error answers, closing. */
#include "conn.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fanout.h"
#include "gate.h"
#include "http.h"
#include "log.h"
#include "stage.h"
#include "server.h"
#include "source.h"

#define LINGER_MS 2000          /* drain input after an error answer this long at most */
#define LINGER_BYTES_MAX 65536  /* ... or this many bytes */
#define ACCEPT_RETRY_MS 100     /* out of fds: try accepting again after this */
#define REQUEST_BUF_STEP 512    /* partial headers grow in steps: slowloris pays, not us */

void conn_list_append(struct conn_list *l, struct conn *c)
{
    c->next = NULL;
    c->prev = l->tail;
    if (l->tail)
        l->tail->next = c;
    else
        l->head = c;
    l->tail = c;
    l->len++;
}

void conn_list_remove(struct conn_list *l, struct conn *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else
        l->head = c->next;
    if (c->next)
        c->next->prev = c->prev;
    else
        l->tail = c->prev;
    c->prev = c->next = NULL;
    l->len--;
}

static void conn_free(void *p)
{
    struct conn *c = p;
    free(c->buf);
    free(c);
}

void conn_close(struct conn *c)
{
    struct server *srv = c->srv;
    if (c->closed) return;
    c->closed = true;
    io_set(srv->loop, &c->io, 0);
    close(c->io.fd);
    switch (c->role) {
    case CONN_REQUEST:
        conn_list_remove(&srv->requests, c);
        break;
    case CONN_LINGER:
        conn_list_remove(&srv->lingering, c);
        break;
    case CONN_HANDOFF:
        conn_list_remove(&srv->handoffs, c);
        break;
    case CONN_LISTENER:
        fanout_detach(c);
        break;
    case CONN_SOURCE:
        source_close(c->source);
        c->source = NULL;
        break;
    case CONN_STAGE:
        if (c->peer->closing) conn_list_remove(&srv->lingering, c);
        stage_detach(c->peer);
        c->peer = NULL;
        break;
    case CONN_FILE:
        conn_list_remove(&srv->files, c);
        close(c->file->fd);
        free(c->file);
        c->file = NULL;
        break;
    }
    gate_conn_close(c);
    srv->m.connections--;
    if (loop_defer(srv->loop, conn_free, c) < 0) conn_free(c); /* nothing can reach it now */
    server_resume_accept(srv);
}

bool conn_write_all(struct conn *c, const void *p, size_t len)
{
    const char *b = p;
    while (len) {
        ssize_t n = send(c->io.fd, b, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        b += n;
        len -= (size_t)n;
    }
    return true;
}

static void linger_io(struct loop *loop, struct io *io, uint32_t events)
{
    struct conn *c = io->data;
    char sink[4096];
    for (;;) {
        ssize_t n = read(io->fd, sink, sizeof(sink));
        if (n > 0) {
            c->buf_len += (uint32_t)n;
            if (c->buf_len > LINGER_BYTES_MAX) break;
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno == EAGAIN) return;
        break; /* EOF or error: the peer has our answer or is gone */
    }
    conn_close(c);
}

void conn_end_request(struct conn *c)
{
    if (c->role == CONN_REQUEST) conn_list_remove(&c->srv->requests, c);
    free(c->buf);
    c->buf = NULL;
    c->buf_len = c->buf_cap = 0;
}

/* Half-close and drain: closing with unread input would reset the
 * connection and the peer could lose the answer we just wrote. */
static void conn_linger(struct conn *c)
{
    struct server *srv = c->srv;
    conn_end_request(c);
    c->role = CONN_LINGER;
    c->since_ms = loop_now_ms(srv->loop);
    conn_list_append(&srv->lingering, c);
    shutdown(c->io.fd, SHUT_WR);
    c->io.cb = linger_io;
    linger_io(srv->loop, &c->io, LOOP_READ);
}

static void file_io(struct loop *loop, struct io *io, uint32_t events)
{
    struct conn *c = io->data;
    struct conn_file *f = c->file;
    if (events & (LOOP_ERR | LOOP_HUP)) {
        conn_close(c);
        return;
    }
    while (f->left) {
        off_t off = (off_t)f->off;
        size_t want = f->left > (1u << 20) ? (1u << 20) : (size_t)f->left;
        ssize_t n = sendfile(io->fd, f->fd, &off, want);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno == EAGAIN) return;
        if (n <= 0) {
            conn_close(c);
            return;
        }
        c->since_ms = loop_now_ms(loop); /* progress: the stall clock restarts */
        f->off += (uint64_t)n;
        f->left -= (uint64_t)n;
    }
    conn_close(c);
}

void conn_send_file(struct conn *c, const char *hdr, size_t hdr_len, int fd, uint64_t off,
                    uint64_t len)
{
    struct server *srv = c->srv;
    if (!conn_write_all(c, hdr, hdr_len) || fd < 0) {
        if (fd >= 0) close(fd);
        conn_linger(c);
        return;
    }
    struct conn_file *f = malloc(sizeof(*f));
    if (!f) {
        close(fd);
        conn_close(c);
        return;
    }
    f->fd = fd;
    f->off = off;
    f->left = len;
    conn_end_request(c);
    c->role = CONN_FILE;
    c->file = f;
    c->since_ms = loop_now_ms(srv->loop);
    conn_list_append(&srv->files, c);
    c->io.cb = file_io;
    file_io(srv->loop, &c->io, LOOP_WRITE);
}

void conn_respond_ex(struct conn *c, int status, const char *content_type,
                     const char *extra_headers, const char *body, size_t body_len,
                     bool head_only)
{
    char hdr[640];
    int n = snprintf(hdr, sizeof(hdr),
                     "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                     "Cache-Control: no-cache, no-store\r\n%sConnection: close\r\n\r\n",
                     status, http_status_text(status), content_type, body_len, extra_headers);
    if (n > 0 && (size_t)n < sizeof(hdr) && conn_write_all(c, hdr, (size_t)n) && !head_only)
        conn_write_all(c, body, body_len);
    conn_linger(c);
}

void conn_respond(struct conn *c, int status, const char *content_type, const char *body,
                  size_t body_len, bool head_only)
{
    conn_respond_ex(c, status, content_type, "", body, body_len, head_only);
}

void conn_reject(struct conn *c, int status, enum reject_reason why, const char *reason,
                 const char *extra_headers)
{
    c->srv->m.rejects[why]++;
    conn_refuse(c, status, reason, extra_headers);
}

void conn_refuse(struct conn *c, int status, const char *reason, const char *extra_headers)
{
    char msg[768];
    size_t rl = strlen(reason);
    int n = snprintf(msg, sizeof(msg),
                     "HTTP/1.1 %d %s\r\nContent-Type: text/plain; charset=utf-8\r\n"
                     "Content-Length: %zu\r\nCache-Control: no-store\r\nConnection: close\r\n"
                     "%s\r\n%s\n",
                     status, http_status_text(status), rl + 1, extra_headers, reason);
    if (n > 0 && (size_t)n < sizeof(msg)) conn_write_all(c, msg, (size_t)n);
    conn_linger(c);
}

static void request_fail(struct conn *c, int r)
{
    /* Browsers and players do not send these: the prefix pays. */
    c->srv->m.gate_requests++;
    gate_glitch(c, GATE_GLITCH_MALFORMED_PTS);
    switch (r) {
    case HTTP_URI_TOO_LONG:
        conn_reject(c, 414, REJ_URI_TOO_LONG, "request target too long", "");
        break;
    case HTTP_HEADERS_TOO_LARGE:
        conn_reject(c, 431, REJ_HEADER_TOO_LARGE, "request header section too large", "");
        break;
    default:
        conn_reject(c, 400, REJ_BAD_REQUEST, "malformed request", "");
        break;
    }
}

/* The most bytes a request may buffer: its header, or header and body once
 * the route asked for a body. */
static uint32_t request_cap(const struct conn *c)
{
    uint32_t cap = c->srv->conf.header_bytes_max + 1;
    return (c->want > cap ? c->want : cap) + c->gate.skip;
}

/* request_input: <base>[0..have) is everything <c> sent so far. Routes a
 * complete request or answers a bad one (false), or asks for more (true). */
static bool request_input(struct conn *c, char *base, uint32_t have)
{
    struct server *srv = c->srv;
    uint32_t cap = srv->conf.header_bytes_max + 1;
    struct http_request req;
    /* A trusted proxy's PROXY header comes first; the request follows it. */
    int pr = gate_proxy_input(c, base, have);
    if (pr <= 0) return pr == 0;
    char *whole = base;
    base += c->gate.skip;
    have -= c->gate.skip;
    size_t plen = have < cap ? have : cap;
    int r = http_parse_request(base, plen, &srv->http_limits, &req);
    if (r > 0) {
        if (!gate_client_settle(c, &req)) return false;
        /* Routes that need the whole body first (the API) say how much. */
        const char *why;
        int64_t body = server_body_bytes(srv, &req, &why);
        if (body < 0) {
            conn_reject(c, (int)-body, body == -413 ? REJ_BODY_TOO_LARGE : REJ_BAD_REQUEST, why,
                        "");
            return false;
        }
        if ((uint64_t)have - (uint64_t)r < (uint64_t)body) {
            c->want = (uint32_t)(r + body);
            return true;
        }
        /* Routing ends the request phase, which frees c->buf, while the
         * route still reads the request and the bytes past it: when they
         * live in c->buf, it is freed only after the route returns. */
        char *owned = NULL;
        if (whole == c->buf) {
            owned = c->buf;
            c->buf = NULL;
            c->buf_len = c->buf_cap = 0;
        }
        server_route(c, &req, base, have, (size_t)r);
        free(owned);
        return false;
    }
    if (r != HTTP_NEED_MORE) {
        request_fail(c, r);
        return false;
    }
    if (have >= cap && !c->want) {
        request_fail(c, HTTP_HEADERS_TOO_LARGE);
        return false;
    }
    return true;
}

/* keep_partial: copies a partial header into a buffer of <c>'s own, sized in
 * REQUEST_BUF_STEP steps. false when out of memory (<c> is closed). */
static bool keep_partial(struct conn *c, const char *base, uint32_t have)
{
    uint32_t cap = request_cap(c);
    if (!c->buf) {
        uint32_t want =
            c->want ? c->want + c->gate.skip : (have / REQUEST_BUF_STEP + 1) * REQUEST_BUF_STEP;
        if (want > cap) want = cap;
        c->buf = malloc(want);
        if (!c->buf) {
            conn_close(c);
            return false;
        }
        memcpy(c->buf, base, have);
        c->buf_cap = want;
    }
    c->buf_len = have;
    return true;
}

/* Reads into the loop's scratch buffer when the connection has no partial
 * header (the common case: the whole request arrives in one segment), so a
 * connection costs no buffer unless its request is split. */
static void request_io(struct loop *loop, struct io *io, uint32_t events)
{
    struct conn *c = io->data;
    struct server *srv = c->srv;

    /* A new socket reports writable at once: nothing to read yet. */
    if (!(events & (LOOP_READ | LOOP_RDHUP | LOOP_HUP | LOOP_ERR))) return;
    for (;;) {
        char *base;
        uint32_t have;
        uint32_t cap = request_cap(c);
        if (c->buf) {
            if (c->buf_cap < cap) {
                uint32_t want = c->want ? cap : c->buf_cap + REQUEST_BUF_STEP;
                if (want > cap) want = cap;
                char *nb = realloc(c->buf, want);
                if (!nb) {
                    conn_close(c);
                    return;
                }
                c->buf = nb;
                c->buf_cap = want;
            }
            base = c->buf;
            have = c->buf_len;
        } else {
            base = srv->scratch;
            have = 0;
        }
        uint32_t room = (c->buf ? c->buf_cap : srv->scratch_len) - have;
        ssize_t n = read(io->fd, base + have, room);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno == EAGAIN) return;
        if (n <= 0) {
            conn_close(c); /* gone before asking anything */
            return;
        }
        have += (uint32_t)n;
        if (!request_input(c, base, have) || !keep_partial(c, base, have)) return;
        if ((uint32_t)n < room) return; /* drained the socket */
    }
}

/* Registers a new connection <fd> in the request phase. NULL when out of
 * memory or epoll refuses (the fd is closed). */
static struct conn *conn_new(struct server *srv, int fd)
{
    struct conn *c = calloc(1, sizeof(*c));
    if (!c) {
        close(fd);
        return NULL;
    }
    c->srv = srv;
    c->role = CONN_REQUEST;
    c->since_ms = loop_now_ms(srv->loop);
    io_init(&c->io, fd, request_io, c);
    srv->m.connections++;
    conn_list_append(&srv->requests, c);
    /* One registration for the connection's whole life: edge-triggered
     * read, write and hang-up. Later phases only swap the callback. */
    if (io_set(srv->loop, &c->io, LOOP_READ | LOOP_WRITE | LOOP_RDHUP | LOOP_EDGE) < 0) {
        conn_close(c);
        return NULL;
    }
    return c;
}

void conn_adopt(struct server *srv, int fd, const struct prefix *pfx, uint8_t gate_flags,
                const char *raw, size_t raw_len)
{
    if (raw_len > srv->scratch_len) raw_len = srv->scratch_len; /* a worker never sends more */
    struct conn *c = conn_new(srv, fd);
    if (!c) return;
    /* The worker settled the client and holds its prefix; here it is only
     * named (tickets, join buckets), never held twice. */
    c->gate.pfx = *pfx;
    c->gate.flags = (uint8_t)((gate_flags & (CONN_G_EXEMPT | CONN_G_PROXIED)) | CONN_G_SETTLED);
    /* The bytes are parsed from the scratch buffer, as if just read. */
    memcpy(srv->scratch, raw, raw_len);
    /* Asking for more means raw_len is within request_cap(c): keep it all,
     * body bytes past a header's worth included. */
    if (raw_len && request_input(c, srv->scratch, (uint32_t)raw_len) &&
        keep_partial(c, srv->scratch, (uint32_t)raw_len))
        request_io(srv->loop, &c->io, LOOP_READ);
}

static void pause_accept(struct server *srv)
{
    if (srv->accept_paused) return;
    srv->accept_paused = true;
    srv->m.accept_pauses++;
    io_set(srv->loop, &srv->listen_io, 0);
    timer_start(srv->loop, &srv->accept_resume, ACCEPT_RETRY_MS);
}

void conn_accept_ready(struct loop *loop, struct io *io, uint32_t events)
{
    struct server *srv = io->data;
    for (uint32_t i = 0; i < srv->conf.accepts_per_wakeup; i++) {
        if (srv->m.connections >= srv->connections_max) {
            /* The backlog holds the rest until a connection closes. */
            pause_accept(srv);
            return;
        }
        struct sockaddr_storage ss;
        socklen_t sl = sizeof(ss);
        int fd = accept4(io->fd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED) continue;
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                log_warn("accept: %s; pausing accepts", strerror(errno));
                pause_accept(srv);
            }
            return; /* EAGAIN: drained */
        }
        srv->m.accepts++;
        struct conn_gate g;
        if (!gate_conn_accept(srv, fd, (struct sockaddr *)&ss, sl, &g)) continue;
        struct conn *c = conn_new(srv, fd);
        if (!c) {
            if (srv->gate && srv->gate->ipt_ok) iptable_conn_close(&srv->gate->ipt, &g.ref);
            pause_accept(srv);
            return;
        }
        c->gate = g;
        /* With TCP_DEFER_ACCEPT the request is usually here already. */
        request_io(loop, &c->io, LOOP_READ);
    }
}

void conn_expire(struct server *srv, uint64_t now_ms)
{
    uint64_t hdr = srv->conf.header_timeout_ms;
    while (srv->requests.head && now_ms - srv->requests.head->since_ms >= hdr) {
        struct conn *c = srv->requests.head;
        /* Slow or silent clients get no answer: a 408 would only cost us a
         * write on behalf of an attacker. */
        srv->m.rejects[REJ_HEADER_TIMEOUT]++;
        srv->m.gate_requests++;
        gate_glitch(c, GATE_GLITCH_TIMEOUT_PTS);
        conn_close(c);
    }
    while (srv->lingering.head && now_ms - srv->lingering.head->since_ms >= LINGER_MS)
        conn_close(srv->lingering.head);
    /* Requests waiting for the origin keep their header deadline. */
    while (srv->handoffs.head && now_ms - srv->handoffs.head->since_ms >= hdr) {
        srv->m.rejects[REJ_HANDOFF]++;
        conn_close(srv->handoffs.head);
    }
    /* Downloads are few: a full walk, closing those stalled too long. */
    struct conn *next;
    for (struct conn *c = srv->files.head; c; c = next) {
        next = c->next;
        if (now_ms - c->since_ms >= srv->conf.write_stall_ms) conn_close(c);
    }
}
