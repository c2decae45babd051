/* edge: mirror the origin's mounts from relay frames. */
#include "edge.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf.h"
#include "conn.h"
#include "log.h"
#include "mount.h"
#include "relay.h"
#include "server.h"
#include "workers.h"

#define EDGE_QUEUE_BYTES_MAX (1u << 20) /* stats and handoffs; the origin reads them at once */

static struct mount *by_id(struct server *srv, uint32_t id)
{
    for (uint32_t i = 0; i < srv->mounts_len; i++)
        if (srv->mounts[i]->id == id) return srv->mounts[i];
    return NULL;
}

/* OPEN: u32 id, u32 serial, u8 name_len, u8 flags, name, header pages. */
static bool on_open(struct server *srv, const uint8_t *p, uint32_t len)
{
    const uint32_t fixed = RELAY_OPEN_FIXED_BYTES;
    if (len < fixed || len < fixed + p[8]) return false;
    uint32_t id = relay_get_u32(p), nl = p[8];
    char name[MOUNT_NAME_BYTES_MAX + 1];
    if (!mount_name_valid((const char *)p + fixed, nl)) return false;
    memcpy(name, p + fixed, nl);
    name[nl] = 0;
    struct mount *m = mount_get(srv, name);
    if (!m) {
        log_error("relay: no room for mount %s", name);
        return true; /* its pages are ignored; listeners get 404 */
    }
    m->id = id;
    m->relayed = true;
    m->serial = relay_get_u32(p + 4);
    m->ticketed = (p[9] & RELAY_OPEN_TICKETED) != 0;
    if (mount_set_prelude(m, p + fixed + nl, len - fixed - nl) < 0)
        log_error("relay: out of memory");
    return true;
}

/* PAGE: u32 id, u64 seq, u64 granule, u64 born_us, the page. */
static bool on_page(struct server *srv, const uint8_t *p, uint32_t len)
{
    if (len <= 28) return false;
    struct mount *m = by_id(srv, relay_get_u32(p));
    if (!m) return true;
    if (mount_relay_page(m, relay_get_u64(p + 4), relay_get_u64(p + 12), relay_get_u64(p + 20),
                         p + 28, len - 28) < 0)
        log_error("relay: out of memory, page dropped");
    return true;
}

static bool on_frame(struct relay *r, uint8_t type, const uint8_t *p, uint32_t len, int fd)
{
    struct server *srv = r->data;
    switch (type) {
    case RELAY_OPEN:
        return on_open(srv, p, len);
    case RELAY_PAGE:
        return on_page(srv, p, len);
    case RELAY_CLOSE: {
        if (len != 4) return false;
        struct mount *m = by_id(srv, relay_get_u32(p));
        if (m) mount_close(m);
        return true;
    }
    default:
        if (fd >= 0) close(fd);
        log_warn("relay: unexpected frame type %u", type);
        return false;
    }
}

static void on_close(struct relay *r, const char *why)
{
    struct server *srv = r->data;
    srv->upstream = NULL;
    if (!loop_stopping(srv->loop)) {
        /* Without the origin there is nothing to serve: stop, and let the
         * origin (if alive) start a fresh worker. */
        log_error("worker %u: lost the origin (%s); stopping", srv->worker_index, why);
        loop_stop(srv->loop);
    }
}

static int read_full(int fd, void *buf, size_t len)
{
    uint8_t *p = buf;
    while (len) {
        ssize_t n = read(fd, p, len);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int edge_read_conf(int fd, struct conf *out)
{
    uint8_t hdr[5], hello[4];
    if (read_full(fd, hdr, 5) < 0 || hdr[4] != RELAY_HELLO || relay_get_u32(hdr) != 5 ||
        read_full(fd, hello, 4) < 0 || relay_get_u32(hello) != RELAY_VERSION) {
        log_error("worker: no valid HELLO from the origin");
        return -1;
    }
    if (read_full(fd, hdr, 5) < 0 || hdr[4] != RELAY_CONF ||
        relay_get_u32(hdr) != 1 + sizeof(*out) || read_full(fd, out, sizeof(*out)) < 0) {
        log_error("worker: no valid CONF from the origin");
        return -1;
    }
    return 0;
}

int edge_attach(struct server *srv, int fd)
{
    srv->upstream = relay_open(srv->loop, fd, EDGE_QUEUE_BYTES_MAX, on_frame, on_close, srv);
    if (!srv->upstream) return -ENOMEM;
    srv->upstream->on_writable = edge_unpark;
    relay_set_lazy(srv->upstream, true);
    return 0;
}

void edge_pump(struct server *srv)
{
    if (srv->upstream) relay_pump(srv->upstream);
}

/* Once a housekeeping pass: the counters, if any changed since the last
 * report (an idle worker sends nothing). */
void edge_send_stats(struct server *srv)
{
    if (!srv->upstream) return;
    size_t len = sizeof(srv->m) + 4 + srv->mounts_len * sizeof(struct workers_mount_stat);
    if (len > srv->stats_cap) {
        uint8_t *p = realloc(srv->stats, len);
        if (!p) return; /* the next pass tries again */
        srv->stats = p;
        srv->stats_cap = len;
        srv->stats_len = 0;
    }
    uint8_t *p = srv->stats;
    bool same = len == srv->stats_len && !memcmp(p, &srv->m, sizeof(srv->m));
    memcpy(p, &srv->m, sizeof(srv->m));
    relay_put_u32(p + sizeof(srv->m), srv->mounts_len);
    struct workers_mount_stat *ms = (struct workers_mount_stat *)(p + sizeof(srv->m) + 4);
    for (uint32_t i = 0; i < srv->mounts_len; i++) {
        struct workers_mount_stat st = {.id = srv->mounts[i]->id,
                                        .listeners = srv->mounts[i]->listeners.len,
                                        .joins = srv->mounts[i]->joins};
        same = same && !memcmp(&ms[i], &st, sizeof(st));
        memcpy(&ms[i], &st, sizeof(st));
    }
    if (same) return;
    if (relay_send(srv->upstream, RELAY_STATS, p, len) < 0)
        srv->stats_len = 0; /* not sent: the next pass sends it */
    else
        srv->stats_len = len;
}

/* send_handoff: the frame and the descriptor; 0 or -errno (-EAGAIN: no room). */
static int send_handoff(struct conn *c, const char *raw, size_t raw_len)
{
    struct server *srv = c->srv;
    if (!srv->upstream) return -EPIPE;
    /* HANDOFF: gate flags, the client's prefix (settled here: PROXY header
     * or X-Forwarded-For already applied), then the bytes. */
    uint8_t *p = malloc(EDGE_HANDOFF_HEAD_BYTES + raw_len);
    if (!p) return -ENOMEM;
    p[0] = c->gate.flags;
    memcpy(p + 1, c->gate.pfx.b, sizeof(c->gate.pfx.b));
    memcpy(p + EDGE_HANDOFF_HEAD_BYTES, raw, raw_len);
    int e =
        relay_send_fd(srv->upstream, RELAY_HANDOFF, p, EDGE_HANDOFF_HEAD_BYTES + raw_len, c->io.fd);
    free(p);
    return e;
}

static void handed(struct conn *c, int e)
{
    if (e < 0) {
        conn_reject(c, 503, REJ_HANDOFF, "server busy, try again", "Retry-After: 1\r\n");
        return;
    }
    c->srv->m.handoffs++;
    conn_close(c); /* our copy; the origin has its own */
}

/* A parked request reads nothing (the rest of its body is the origin's to
 * read); it only notices that its client went away. */
static void parked_io(struct loop *loop, struct io *io, uint32_t events)
{
    struct conn *c = io->data;
    if (events & (LOOP_HUP | LOOP_ERR)) conn_close(c);
}

/* park: the link to the origin is full (a join burst): the request waits,
 * in arrival order, for room instead of getting a 503. Bounded in count;
 * the header deadline still runs. false: no room to park. */
static bool park(struct conn *c, const char *raw, size_t raw_len)
{
    struct server *srv = c->srv;
    if (srv->handoffs.len >= EDGE_PARKED_MAX) return false;
    char *copy = malloc(raw_len ? raw_len : 1);
    if (!copy) return false;
    memcpy(copy, raw, raw_len);
    conn_end_request(c);
    c->role = CONN_HANDOFF;
    c->buf = copy;
    c->buf_len = c->buf_cap = (uint32_t)raw_len;
    c->io.cb = parked_io;
    conn_list_append(&srv->handoffs, c);
    relay_want_writable(srv->upstream);
    return true;
}

void edge_unpark(struct relay *r)
{
    struct server *srv = r->data;
    while (srv->handoffs.head && srv->upstream) {
        struct conn *c = srv->handoffs.head;
        int e = send_handoff(c, c->buf, c->buf_len);
        if (e == -EAGAIN) {
            relay_want_writable(srv->upstream);
            return;
        }
        /* Back on the request list so closing and refusing work as usual. */
        conn_list_remove(&srv->handoffs, c);
        c->role = CONN_REQUEST;
        conn_list_append(&srv->requests, c);
        handed(c, e);
    }
}

void edge_handoff(struct conn *c, const char *raw, size_t raw_len)
{
    struct server *srv = c->srv;
    int e = srv->handoffs.len ? -EAGAIN : send_handoff(c, raw, raw_len); /* keep the order */
    if (e == -EAGAIN && srv->upstream && park(c, raw, raw_len)) return;
    handed(c, e);
}
