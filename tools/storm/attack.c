/* attack: bounded hostile traffic (see attack.h). */
#include "attack.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "loop.h"
#include "run.h"

enum amode { AM_SLOWLORIS, AM_IDLE, AM_SLOWREAD, AM_FLOOD };
static const char *const mode_name[] = {"slowloris", "idle", "slow_readers", "flood"};

enum astate { AS_FREE = 0, AS_CONNECTING, AS_OPEN, AS_DONE };

struct aconn {
    struct io io;
    struct attack *a;
    uint64_t opened_us, last_us;
    uint8_t mode, state, answered;
};

struct attack {
    struct run *run;
    struct aconn *c;
    uint32_t n, nfixed; /* pool size; the first nfixed are slowloris/idle/slow readers */
    uint32_t flood_rate, flood_inflight;
    uint64_t flood_sent, flood_t0_us;
    unsigned flood_k;
    struct timer flood_timer;
    char *big; /* the oversized-header flood request */
};

static void count(struct attack *a, int mode, const char *what, uint64_t n)
{
    char k[RES_KEY_BYTES];
    snprintf(k, sizeof(k), "%s.%s", mode_name[mode], what);
    res_map_add(&a->run->res->attack, k, n);
}

static void ac_close(struct aconn *c, const char *why)
{
    struct attack *a = c->a;
    if (why) count(a, c->mode, why, 1);
    if (c->io.fd >= 0) {
        io_set(a->run->loop, &c->io, 0);
        close(c->io.fd);
        a->run->open_fds--;
        c->io.fd = -1;
    }
    if (c->mode == AM_FLOOD) {
        a->flood_inflight--;
        c->state = AS_FREE;
    } else {
        c->state = AS_DONE;
    }
}

size_t attack_flood_request(unsigned k, const char *mount, char *buf, size_t cap)
{
    int n;
    switch (k % 6) {
    case 0: n = snprintf(buf, cap, "GARBAGE\x01\x02 /??? HTTP/9.9\r\n\r\n"); break;
    case 1: /* a forged source: wrong password */
        n = snprintf(buf, cap, "PUT %s HTTP/1.1\r\nHost: storm\r\nAuthorization: Basic "
                     "c291cmNlOndyb25n\r\nContent-Type: audio/ogg\r\n\r\n", mount);
        break;
    case 2: n = snprintf(buf, cap, "GET /live/storm-missing-%u.opus HTTP/1.1\r\nHost: storm\r\n\r\n", k); break;
    case 3: /* a forged ticket */
        n = snprintf(buf, cap, "GET %s?ticket=forged.%u.AAAAAAAAAAAAAAAA HTTP/1.1\r\nHost: storm\r\n"
                     "Connection: close\r\n\r\n", mount, k);
        break;
    case 4: n = snprintf(buf, cap, "BREW /pot HTTP/1.1\r\nHost: storm\r\n\r\n"); break;
    default: /* legacy SOURCE with a guessed password */
        n = snprintf(buf, cap, "SOURCE %s HTTP/1.0\r\nAuthorization: Basic c291cmNlOmd1ZXNz\r\n\r\n", mount);
        break;
    }
    return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

static void send_first(struct aconn *c, uint64_t now)
{
    struct attack *a = c->a;
    struct run *r = a->run;
    char buf[512];
    size_t len = 0;
    const char *p = buf;
    switch (c->mode) {
    case AM_SLOWLORIS:
        len = (size_t)snprintf(buf, sizeof(buf), "GET %s HTTP/1.1\r\nHost: storm\r\n", r->cfg->mount);
        break;
    case AM_SLOWREAD:
        p = r->request;
        len = r->request_len;
        break;
    case AM_FLOOD:
        /* every 7th flood request is an oversized header section */
        if (a->flood_k % 7 == 6 && a->big) {
            p = a->big;
            len = strlen(a->big);
        } else {
            len = attack_flood_request(a->flood_k, r->cfg->mount, buf, sizeof(buf));
        }
        a->flood_k++;
        break;
    default:
        break;
    }
    if (len && send(c->io.fd, p, len, MSG_NOSIGNAL) < 0 && errno != EAGAIN) {
        ac_close(c, "closed_by_server");
        return;
    }
    c->last_us = now;
    c->state = AS_OPEN;
    if (c->mode == AM_FLOOD) count(a, AM_FLOOD, "sent", 1);
    /* Slow readers are read on the sweep only, never on readiness. */
    io_set(r->loop, &c->io, c->mode == AM_SLOWREAD ? 0 : LOOP_READ);
}

static void ac_io(struct loop *loop, struct io *io, uint32_t events)
{
    struct aconn *c = io->data;
    uint64_t now = loop_now_us(loop);
    if (c->state == AS_CONNECTING) {
        int err = 0;
        socklen_t el = sizeof(err);
        getsockopt(io->fd, SOL_SOCKET, SO_ERROR, &err, &el);
        if (err) {
            ac_close(c, "connect_failed");
            return;
        }
        send_first(c, now);
        return;
    }
    char buf[512];
    ssize_t n = recv(io->fd, buf, sizeof(buf), 0);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
    if (c->mode == AM_FLOOD) {
        if (n > 12 && !memcmp(buf, "HTTP/1.", 7)) {
            char k[24];
            snprintf(k, sizeof(k), "http_%.3s", buf + 9);
            ac_close(c, k);
        } else {
            ac_close(c, "closed");
        }
        return;
    }
    if (n <= 0) {
        ac_close(c, "closed_by_server");
        return;
    }
    if (!c->answered) {
        c->answered = 1;
        count(c->a, c->mode, "answered", 1);
    }
}

static void ac_open(struct attack *a, struct aconn *c, int mode, uint64_t now)
{
    struct run *r = a->run;
    c->a = a;
    c->mode = (uint8_t)mode;
    c->answered = 0;
    c->opened_us = c->last_us = now;
    io_init(&c->io, -1, ac_io, c);
    if (mode == AM_FLOOD) a->flood_inflight++;
    int fd = run_connect(r);
    if (fd < 0) {
        c->state = AS_OPEN;
        ac_close(c, "connect_failed");
        return;
    }
    if (mode == AM_SLOWREAD) {
        /* a tiny receive window so the server's sends really back up */
        int sz = 4096;
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
    }
    r->open_fds++;
    io_init(&c->io, fd, ac_io, c);
    c->state = AS_CONNECTING;
    count(a, mode, "opened", 1);
    if (io_set(r->loop, &c->io, LOOP_READ | LOOP_WRITE) < 0) ac_close(c, "connect_failed");
}

static void flood_due(struct loop *loop, struct timer *t)
{
    struct attack *a = t->data;
    uint64_t now = loop_now_us(loop);
    uint64_t due = (now - a->flood_t0_us) * a->flood_rate / 1000000u;
    uint32_t slot = a->nfixed;
    while (a->flood_sent < due) {
        if (a->flood_inflight >= ATTACK_FLOOD_INFLIGHT_MAX) {
            count(a, AM_FLOOD, "skipped_inflight_cap", due - a->flood_sent);
            a->flood_sent = due;
            break;
        }
        while (slot < a->n && a->c[slot].state != AS_FREE) slot++;
        if (slot == a->n) break;
        ac_open(a, &a->c[slot], AM_FLOOD, now);
        a->flood_sent++;
    }
    timer_start(loop, t, 10);
}

struct attack *attack_new(struct run *r)
{
    const struct attack_spec *s = &r->cfg->attack;
    uint32_t shards = r->cfg->shards ? r->cfg->shards : 1, me = r->cfg->shard;
    struct attack *a = calloc(1, sizeof(*a));
    if (!a) return NULL;
    a->run = r;
#define SHARE(x) ((x) / shards + (me < (x) % shards ? 1u : 0u))
    uint32_t sl = SHARE(s->slowloris), id = SHARE(s->idle), sr = SHARE(s->slow_readers);
    a->flood_rate = SHARE(s->flood_per_s);
#undef SHARE
    a->nfixed = sl + id + sr;
    a->n = a->nfixed + (a->flood_rate ? ATTACK_FLOOD_INFLIGHT_MAX : 0);
    a->c = calloc(a->n ? a->n : 1, sizeof(*a->c));
    if (!a->c) goto out_free;
    for (uint32_t i = 0; i < a->n; i++) {
        a->c[i].io.fd = -1;
        a->c[i].mode = i < sl ? AM_SLOWLORIS : i < sl + id ? AM_IDLE : i < a->nfixed ? AM_SLOWREAD : AM_FLOOD;
    }
    if (a->flood_rate) {
        size_t bl = 12000;
        a->big = malloc(bl);
        if (a->big) {
            int n = snprintf(a->big, bl, "GET / HTTP/1.1\r\nHost: storm\r\nX-Pad: ");
            memset(a->big + n, 'a', bl - (size_t)n - 6);
            memcpy(a->big + bl - 6, "\r\n\r\n", 5);
        }
    }
    timer_init(&a->flood_timer, flood_due, a);
    return a;
out_free:
    free(a);
    return NULL;
}

void attack_start(struct attack *a)
{
    uint64_t now = loop_now_us(a->run->loop);
    for (uint32_t i = 0; i < a->nfixed; i++) ac_open(a, &a->c[i], a->c[i].mode, now);
    if (a->flood_rate) {
        a->flood_t0_us = now;
        timer_start(a->run->loop, &a->flood_timer, 10);
    }
}

void attack_sweep(struct attack *a, uint64_t now)
{
    struct run *r = a->run;
    for (uint32_t i = 0; i < a->n; i++) {
        struct aconn *c = &a->c[i];
        if (c->state != AS_OPEN) continue;
        if (c->mode == AM_SLOWLORIS && now - c->last_us >= ATTACK_TRICKLE_MS * 1000u) {
            char line[32];
            int n = snprintf(line, sizeof(line), "X-Storm-%u: %u\r\n", i, (unsigned)(now / 1000000u));
            if (send(c->io.fd, line, (size_t)n, MSG_NOSIGNAL) < 0 && errno != EAGAIN)
                ac_close(c, "closed_by_server");
            else
                c->last_us = now;
        } else if (c->mode == AM_SLOWREAD) {
            char buf[ATTACK_SLOW_READ_BYTES];
            ssize_t n = recv(c->io.fd, buf, sizeof(buf), MSG_DONTWAIT);
            if (n > 0) count(a, AM_SLOWREAD, "bytes", (uint64_t)n);
            else if (n == 0 || (errno != EAGAIN && errno != EINTR)) ac_close(c, "dropped_by_server");
        } else if (c->mode == AM_FLOOD && now - c->opened_us > ATTACK_FLOOD_TIMEOUT_MS * 1000u) {
            ac_close(c, "timeout");
        }
    }
    (void)r;
}

void attack_stop(struct attack *a, uint64_t now)
{
    (void)now;
    timer_stop(a->run->loop, &a->flood_timer);
    for (uint32_t i = 0; i < a->n; i++) {
        struct aconn *c = &a->c[i];
        if (c->state == AS_OPEN || c->state == AS_CONNECTING)
            ac_close(c, c->mode == AM_FLOOD ? "unanswered_at_end" : "open_at_end");
    }
}

void attack_free(struct attack *a)
{
    free(a->big);
    free(a->c);
    free(a);
}
