/* fanout: listener cursors over shared chunks; one send per flush. */
#include "fanout.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "http.h"
#include "log.h"
#include "server.h"

#define IOV_BATCH 64           /* iovecs per sendmsg: 6.4 s of 100 ms pages */
#define FLAT_BYTES_MAX 65536   /* the shared block of one pass: 15 s at 32 kbit/s */
#define LISTENER_JUNK_BYTES_MAX 16384 /* a player sends nothing after its request */

/* The page from which <burst_ms> of recent audio starts (the head: none). */
static uint64_t burst_seq(const struct mount *m, uint32_t burst_ms)
{
    if (!burst_ms) return m->ring.head;
    return ring_seq_back(&m->ring, (uint64_t)burst_ms * 48);
}

/* A query value as a decimal number of at most 15 digits; -1 if not. */
static int64_t param_number(const char *query, size_t query_len, const char *name, bool *present)
{
    const char *v;
    size_t vl;
    *present = http_query_param(query, query_len, name, &v, &vl);
    if (!*present) return -1;
    if (vl == 0 || vl > 15) return -1;
    int64_t n = 0;
    for (size_t i = 0; i < vl; i++) {
        if (v[i] < '0' || v[i] > '9') return -1;
        n = n * 10 + (v[i] - '0');
    }
    return n;
}

int fanout_start_params(const struct conf *conf, const char *query, size_t query_len,
                        struct fanout_start *out, const char **why)
{
    bool present;
    out->from = -1;
    out->burst_ms = conf->burst_ms;
    int64_t from = param_number(query, query_len, "from", &present);
    if (present && from < 0) {
        *why = "from must be a page sequence number";
        return -1;
    }
    out->from = from;
    int64_t burst = param_number(query, query_len, "burst_ms", &present);
    if (present) {
        if (burst < 0 || burst + 2 * conf->page_ms > conf->ring_ms) {
            *why = "burst_ms must be a number of milliseconds within ring_ms";
            return -1;
        }
        out->burst_ms = (uint32_t)burst;
    }
    return 0;
}

/* Where a listener starts: the burst point, or for a resuming listener
 * (?from=N, after its connection or its worker failed) page N itself when it
 * is still in the window; before the window it gets the oldest page held
 * (its player sees the gap in the sequence numbers), after the head it waits
 * for the next page. */
static uint64_t start_seq(const struct mount *m, struct fanout_start st)
{
    if (st.from < 0) return burst_seq(m, st.burst_ms);
    if ((uint64_t)st.from < m->ring.tail) return m->ring.tail;
    if ((uint64_t)st.from > m->ring.head) return m->ring.head;
    return (uint64_t)st.from;
}

void fanout_join(struct conn *c, struct mount *m, bool head_only, struct fanout_start start)
{
    struct server *srv = c->srv;
    conn_end_request(c);
    c->role = CONN_LISTENER;
    c->mount = m;
    c->head_only = head_only;
    c->hold = chunk_ref(m->prelude);
    c->off = 0;
    c->seq = start_seq(m, start);
    c->since_ms = loop_now_ms(srv->loop);
    c->io.cb = fanout_io;

    int one = 1;
    setsockopt(c->io.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (srv->conf.listener_sndbuf_bytes) {
        int sz = (int)srv->conf.listener_sndbuf_bytes;
        setsockopt(c->io.fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
    }
    /* A listener that stops reading holds at most this much unsent audio in
     * the kernel (plus what is in flight): past it, writes stop short and
     * the listener waits as blocked, then is skipped or dropped. */
    if (srv->conf.listener_unsent_bytes) {
        int lw = (int)srv->conf.listener_unsent_bytes;
        setsockopt(c->io.fd, IPPROTO_TCP, TCP_NOTSENT_LOWAT, &lw, sizeof(lw));
    }
    conn_list_append(&m->listeners, c);
    srv->m.listeners++;
    srv->m.listener_joins++;
    m->joins++;
    if (m->listeners.len > m->peak_listeners) m->peak_listeners = m->listeners.len;
    fanout_flush(c);
}

void fanout_detach(struct conn *c)
{
    struct server *srv = c->srv;
    conn_list_remove(&c->mount->listeners, c);
    if (c->hold) chunk_unref(c->hold);
    c->hold = NULL;
    srv->m.listeners--;
}

/* Moves the cursor past <w> written bytes. */
static void advance(struct conn *c, size_t w, uint32_t hold_lim)
{
    if (c->hold) {
        size_t part = hold_lim - c->off;
        if (w < part) {
            c->off += (uint32_t)w;
            return;
        }
        w -= part;
        chunk_unref(c->hold);
        c->hold = NULL;
        c->off = 0;
    }
    while (w) {
        struct chunk *ch = ring_get(&c->mount->ring, c->seq);
        c->seq++;
        if (w < ch->len) {
            c->hold = chunk_ref(ch);
            c->off = (uint32_t)w;
            return;
        }
        w -= ch->len;
    }
}

void fanout_flush(struct conn *c)
{
    struct server *srv = c->srv;
    struct mount *m = c->mount;
    struct iovec iov[IOV_BATCH];

    for (;;) {
        int n = 0;
        if (!c->hold && c->seq < m->ring.tail) {
            /* Fell out of the window between pages. */
            if (c->skips >= srv->conf.slow_skips_max) {
                srv->m.slow_drops++;
                conn_close(c);
                return;
            }
            c->skips++;
            srv->m.slow_skips++;
            c->seq = burst_seq(m, srv->conf.burst_ms);
        }
        uint32_t hold_lim = 0;
        if (c->hold) {
            hold_lim = c->head_only ? m->prelude_http_len : c->hold->len;
            iov[n].iov_base = c->hold->data + c->off;
            iov[n].iov_len = hold_lim - c->off;
            n++;
        }
        /* Behind the tail with a page part-sent: finish that page first; the
         * next round skips (a half page followed by another is a corrupt
         * stream). A listener at the start of this pass's shared block
         * takes it whole: one contiguous write, as the floor does. (Without
         * a held page, a cursor below the tail was moved up just above; a
         * relay gap empties the block before the head can go back.) */
        if (!c->hold && !c->head_only && c->seq == m->flat_seq && c->seq < m->flat_end) {
            iov[n].iov_base = m->flat;
            iov[n].iov_len = m->flat_len;
            n++;
        } else if (!c->head_only && c->seq >= m->ring.tail) {
            for (uint64_t s = c->seq; s < m->ring.head && n < IOV_BATCH; s++) {
                struct chunk *ch = ring_get(&m->ring, s);
                iov[n].iov_base = ch->data;
                iov[n].iov_len = ch->len;
                n++;
            }
        }
        if (n == 0) {
            c->blocked = false;
            c->stall_since_ms = 0;
            return;
        }
        /* send and sendmsg, not writev: a socket's writes need not go
         * through the file layer (the VFS checks, fsnotify); 6 % less CPU
         * at 1,000 listeners (docs/performance.md). */
        struct msghdr mh = {.msg_iov = iov, .msg_iovlen = (size_t)n};
        ssize_t w = n == 1 ? send(c->io.fd, iov[0].iov_base, iov[0].iov_len, MSG_NOSIGNAL)
                           : sendmsg(c->io.fd, &mh, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN) {
                if (!c->blocked) c->stall_since_ms = loop_now_ms(srv->loop);
                c->blocked = true;
                return;
            }
            srv->m.listener_leaves++;
            conn_close(c);
            return;
        }
        srv->m.writes++;
        srv->m.bytes_sent += (uint64_t)w;
        c->stall_since_ms = loop_now_ms(srv->loop);
        advance(c, (size_t)w, hold_lim);
        if (c->head_only && !c->hold) {
            conn_close(c);
            return;
        }
    }
}

void fanout_io(struct loop *loop, struct io *io, uint32_t events)
{
    struct conn *c = io->data;
    if (events & (LOOP_ERR | LOOP_HUP)) goto leave;
    if (events & (LOOP_READ | LOOP_RDHUP)) {
        char sink[2048];
        for (;;) {
            ssize_t n = read(io->fd, sink, sizeof(sink));
            if (n > 0) {
                c->buf_len += (uint32_t)n; /* listeners use buf_len to count junk */
                if (c->buf_len > LISTENER_JUNK_BYTES_MAX) {
                    c->srv->m.junk_from_listeners++;
                    conn_close(c);
                    return;
                }
                continue;
            }
            if (n < 0 && errno == EINTR) continue;
            if (n < 0 && errno == EAGAIN) break;
            goto leave; /* EOF: the player went away */
        }
    }
    if ((events & LOOP_WRITE) && c->blocked) fanout_flush(c);
    return;
leave:
    c->srv->m.listener_leaves++;
    conn_close(c);
}

/* Copies the pages published since the last pass into <m>'s shared block
 * (up to FLAT_BYTES_MAX). A listener that kept up is at flushed_head; one
 * that fell behind or joined since goes through its own iovecs instead. */
static void flat_build(struct mount *m)
{
    uint64_t s = m->flushed_head < m->ring.tail ? m->ring.tail : m->flushed_head;
    m->flat_seq = s;
    m->flat_end = s;
    m->flat_len = 0;
    for (; s < m->ring.head; s++) {
        const struct chunk *ch = ring_get(&m->ring, s);
        uint32_t len = m->flat_len + ch->len;
        if (len > FLAT_BYTES_MAX) break;
        if (len > m->flat_cap) {
            uint32_t cap = m->flat_cap ? m->flat_cap : 4096;
            while (cap < len)
                cap *= 2;
            uint8_t *p = realloc(m->flat, cap);
            if (!p) break; /* listeners take the iovec path */
            m->flat = p;
            m->flat_cap = cap;
        }
        memcpy(m->flat + m->flat_len, ch->data, ch->len);
        m->flat_len = len;
        m->flat_end = s + 1;
    }
}

static void tick_mount(struct server *srv, struct mount *m, uint64_t now)
{
    bool dirty = m->dirty;
    m->dirty = false;
    if (dirty) flat_build(m);
    struct conn *next;
    for (struct conn *c = m->listeners.head; c; c = next) {
        next = c->next;
        if (c->blocked) {
            if (now - c->stall_since_ms >= srv->conf.write_stall_ms) {
                srv->m.slow_drops++;
                conn_close(c);
            }
            continue;
        }
        if (dirty) fanout_flush(c);
    }
    if (dirty) m->flushed_head = m->ring.head;
}

void fanout_tick(struct server *srv)
{
    uint64_t now = loop_now_ms(srv->loop);
    for (uint32_t i = 0; i < srv->mounts_len; i++)
        tick_mount(srv, srv->mounts[i], now);
}

bool fanout_young_tick(struct server *srv)
{
    uint64_t now = loop_now_ms(srv->loop);
    bool again = false;
    for (uint32_t i = 0; i < srv->mounts_len; i++) {
        struct mount *m = srv->mounts[i];
        if (!m->listeners.len || !mount_young(m, srv->conf.burst_ms)) continue;
        again = true;
        if (m->dirty) tick_mount(srv, m, now);
    }
    return again;
}
