/* join: storm's gate client and gate attacks (see join.h). */
#include "join.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "b64.h"
#include "json.h"
#include "pow.h"
#include "run.h"
#include "ticket.h"
#include "vl.h"

#pragma GCC poison strcpy sprintf gets strtok atoi

enum jphase { JP_NONE, JP_CONNECTING, JP_SENT, JP_WAIT, JP_SOLVE, JP_STREAM, JP_FAILED };

/* One listener's place in the gate. */
struct jvl {
    uint64_t wake_us; /* JP_WAIT: ask again then */
    uint64_t sent_us; /* when this join's connect() was issued */
    uint64_t counter; /* JP_SOLVE: next counter to try */
    uint32_t addr;    /* source address, host order; 0: the kernel's */
    uint16_t got;     /* answer bytes in buf */
    uint8_t phase, bits;
    char qt[TICKET_TEXT_BYTES + 1]; /* queue ticket ("": a fresh join) */
    char ch[TICKET_TEXT_BYTES + 1]; /* puzzle challenge; with sol: solved at counter */
    char ticket[TICKET_TEXT_BYTES + 1];
    uint8_t sol;
    char *buf; /* the answer being read (only while one is) */
};

enum fkind { FK_FORGED, FK_JOIN };
static const char *const fk_name[] = {"forged_tickets", "join_flood"};

struct fconn {
    struct io io;
    struct join *j;
    uint64_t opened_us;
    uint8_t kind, busy, connected;
};

struct join {
    struct run *r;
    struct jvl *v;
    struct timer tick;
    FILE *log;
    char sreq[512]; /* the stream GET being sent */
    struct fconn *fc;
    uint32_t fc_busy;
    uint64_t flood_t0_us, sent[2];
    uint32_t rate[2];
};

/* ---- options --------------------------------------------------------------- */

int join_space_valid(const char *s)
{
    if (strlen(s) != 12) return 0;
    for (const char *p = s; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '-' || *p == '_'))
            return 0;
    return 1;
}

int join_prefixes_parse(const char *s, struct join_cfg *c)
{
    const char *at = strchr(s, '@');
    uint64_t n;
    uint32_t base = (127u << 24) | (10u << 16);
    if (sopt_u64_parse(s, at ? (size_t)(at - s) : strlen(s), &n) < 0 || n < 1 || n > 65536)
        return -1;
    if (at) {
        struct in_addr a;
        if (inet_pton(AF_INET, at + 1, &a) != 1) return -1;
        base = ntohl(a.s_addr);
        if ((base & 0xff) != 0 || (base >> 24) != 127) return -1;
    }
    if (((base & 0xffffffu) >> 8) + n > (1u << 16)) return -1; /* past 127.255.255.0 */
    c->prefixes = (uint32_t)n;
    c->prefix_base = base;
    return 0;
}

/* ---- accounting ---------------------------------------------------------- */

static void count(struct join *j, const char *what, uint64_t n)
{
    char k[RES_KEY_BYTES];
    snprintf(k, sizeof(k), "join.%s", what);
    res_map_add(&j->r->res->attack, k, n);
}

static uint32_t index_of(const struct join *j, const struct vl *v)
{
    return (uint32_t)(v - j->r->vls);
}

static uint64_t ticket_number(const char *t, int *kind)
{
    uint8_t bin[TICKET_BIN_BYTES];
    *kind = 0;
    if (strlen(t) != TICKET_TEXT_BYTES ||
        b64_decode(B64_URL, t, TICKET_TEXT_BYTES, bin, sizeof(bin)) != TICKET_BIN_BYTES)
        return UINT64_MAX;
    uint64_t n = 0;
    for (int i = 0; i < 8; i++)
        n = n << 8 | bin[16 + i];
    *kind = bin[0] & 0x0f;
    return n;
}

/* One log line per answer: listener, its intended arrival and the answer's
 * time (ms after the start), status, the ticket's kind and number, position. */
static void log_answer(struct join *j, struct vl *v, uint64_t now, unsigned status, const char *tk,
                       int64_t position, const char *reason)
{
    if (!j->log) return;
    struct run *r = j->r;
    uint32_t shards = r->cfg->shards ? r->cfg->shards : 1;
    uint64_t gi = (uint64_t)index_of(j, v) * shards + r->cfg->shard;
    int kind = 0;
    uint64_t num = tk && *tk ? ticket_number(tk, &kind) : UINT64_MAX;
    fprintf(j->log, "%llu %llu %llu %u %d %lld %lld %s\n", (unsigned long long)gi,
            (unsigned long long)((v->intended_us - r->t0_us) / 1000),
            (unsigned long long)((now - r->t0_us) / 1000), status, kind,
            num == UINT64_MAX ? -1LL : (long long)num, (long long)position,
            reason && *reason ? reason : "-");
}

/* A listener the gate never let through: failed, like vl.c's failures. */
static void jfail(struct join *j, struct vl *v, uint64_t now, const char *reason)
{
    struct run *r = j->r;
    struct jvl *s = &j->v[index_of(j, v)];
    s->phase = JP_FAILED;
    free(s->buf);
    s->buf = NULL;
    r->res->failed++;
    res_map_add(&r->res->by_reason, reason, 1);
    r->res->tl[run_tick_index(r, now)].failures++;
    vl_finish(v, now, "failed");
}

/* ---- the join exchange ------------------------------------------------------- */

static void join_io(struct loop *loop, struct io *io, uint32_t events);

static int connect_from(struct join *j, uint32_t addr)
{
    const struct run_cfg *c = j->r->cfg;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -errno;
    if (addr) {
        int one = 1;
        struct sockaddr_in src = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(addr)};
        setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
        if (bind(fd, (struct sockaddr *)&src, sizeof(src)) < 0) {
            int e = errno;
            close(fd);
            return -e;
        }
    }
    if (connect(fd, (const struct sockaddr *)&c->target.addr, sizeof(c->target.addr)) < 0 &&
        errno != EINPROGRESS) {
        int e = errno;
        close(fd);
        return -e;
    }
    return fd;
}

static void close_io(struct join *j, struct vl *v)
{
    if (v->io.fd < 0) return;
    io_set(j->r->loop, &v->io, 0);
    close(v->io.fd);
    j->r->open_fds--;
    v->io.fd = -1;
}

static void wait_then(struct join *j, struct vl *v, uint64_t now, uint64_t after_us)
{
    struct jvl *s = &j->v[index_of(j, v)];
    close_io(j, v);
    free(s->buf);
    s->buf = NULL;
    s->phase = JP_WAIT;
    s->wake_us = now + after_us;
}

/* ask: connects and, once writable, sends the join with what <v> holds. */
static void ask(struct join *j, struct vl *v, uint64_t now)
{
    struct jvl *s = &j->v[index_of(j, v)];
    v->state = VL_CONNECTING; /* for vl_finish: a session under way */
    int fd = connect_from(j, s->addr);
    s->sent_us = now;
    s->got = 0;
    if (fd < 0) {
        count(j, "connect_failed", 1);
        wait_then(j, v, now, 1000000);
        return;
    }
    j->r->open_fds++;
    io_init(&v->io, fd, join_io, v);
    s->phase = JP_CONNECTING;
    if (io_set(j->r->loop, &v->io, LOOP_READ | LOOP_WRITE) < 0) {
        count(j, "connect_failed", 1);
        wait_then(j, v, now, 1000000);
    }
}

static void send_join(struct join *j, struct vl *v, uint64_t now)
{
    struct jvl *s = &j->v[index_of(j, v)];
    const struct run_cfg *c = j->r->cfg;
    char body[256], req[768];
    int bl;
    if (s->sol)
        bl = snprintf(body, sizeof(body), "{\"challenge\":\"%s\",\"counter\":%llu}", s->ch,
                      (unsigned long long)s->counter);
    else if (s->qt[0])
        bl = snprintf(body, sizeof(body), "{\"queue_ticket\":\"%s\"}", s->qt);
    else
        bl = snprintf(body, sizeof(body), "{}");
    int n = snprintf(req, sizeof(req),
                     "POST /api/spaces/%s/join HTTP/1.1\r\nHost: %s:%u\r\nUser-Agent: "
                     "podium-storm/1\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
                     "Connection: close\r\n\r\n%s",
                     c->join.space, c->target.host, ntohs(c->target.addr.sin_port), bl, body);
    if (n <= 0 || (size_t)n >= sizeof(req) || send(v->io.fd, req, (size_t)n, MSG_NOSIGNAL) != n) {
        count(j, "unanswered", 1);
        wait_then(j, v, now, 1000000);
        return;
    }
    s->phase = JP_SENT;
    io_set(j->r->loop, &v->io, LOOP_READ);
}

static long header_u64(const char *head, const char *name)
{
    size_t nl = strlen(name);
    for (const char *p = strchr(head, '\n'); p; p = strchr(p + 1, '\n'))
        if (!strncasecmp(p + 1, name, nl) && p[1 + nl] == ':') return strtol(p + 2 + nl, NULL, 10);
    return -1;
}

static void latency(struct join *j, uint64_t us)
{
    static const struct {
        uint64_t us;
        const char *k;
    } b[] = {{50000, "answer_le_50ms"},   {100000, "answer_le_100ms"},
             {200000, "answer_le_200ms"}, {500000, "answer_le_500ms"},
             {1000000, "answer_le_1s"},   {UINT64_MAX, "answer_gt_1s"}};
    for (size_t i = 0; i < sizeof(b) / sizeof(b[0]); i++)
        if (us <= b[i].us) {
            count(j, b[i].k, 1);
            return;
        }
}

static void copy_ticket(char dst[TICKET_TEXT_BYTES + 1], const struct json_member *m)
{
    dst[0] = 0;
    if (m && m->type == JSON_STRING && m->str_len == TICKET_TEXT_BYTES)
        memcpy(dst, m->str, TICKET_TEXT_BYTES + 1);
}

/* answer: a complete answer to <v>'s join. */
static void answer(struct join *j, struct vl *v, uint64_t now)
{
    struct jvl *s = &j->v[index_of(j, v)];
    char *buf = s->buf, err[JSON_REASON_BYTES], k[32];
    struct json_doc doc;
    buf[s->got] = 0;
    char *body = strstr(buf, "\r\n\r\n");
    unsigned status = 0;
    if (!body || sscanf(buf, "HTTP/1.%*c %u", &status) != 1) {
        count(j, "bad_answer", 1);
        wait_then(j, v, now, 1000000);
        return;
    }
    *body = 0;
    body += 4;
    long retry = header_u64(buf, "Retry-After");
    latency(j, now - s->sent_us);
    snprintf(k, sizeof(k), "http_%u", status);
    count(j, k, 1);
    size_t bl = strlen(body);
    if (json_parse(body, bl, &doc, err, sizeof(err)) < 0) memset(&doc, 0, sizeof(doc));
    const struct json_member *reason = json_find(&doc, "reason");
    const char *why = reason && reason->type == JSON_STRING ? reason->str : NULL;
    s->sol = 0;
    if (status == 200) {
        copy_ticket(s->ticket, json_find(&doc, "ticket"));
        log_answer(j, v, now, status, s->ticket, -1, NULL);
        if (!s->ticket[0]) {
            jfail(j, v, now, "join_bad_ticket");
            return;
        }
        close_io(j, v);
        free(s->buf);
        s->buf = NULL;
        s->phase = JP_STREAM;
        vl_connect(j->r, v, connect_from(j, s->addr));
        return;
    }
    if (status == 202) {
        const struct json_member *pz = json_find(&doc, "puzzle");
        const struct json_member *pos = json_find(&doc, "position");
        const struct json_member *ra = json_find(&doc, "retry_after_s");
        if (pz && pz->type == JSON_OBJECT) {
            char copy[512];
            struct json_doc pd;
            size_t pl = pz->str_len < sizeof(copy) ? pz->str_len : sizeof(copy) - 1;
            memcpy(copy, pz->str, pl);
            copy[pl] = 0;
            if (json_parse(copy, pl, &pd, err, sizeof(err)) > 0) {
                const struct json_member *d = json_find(&pd, "difficulty");
                copy_ticket(s->ch, json_find(&pd, "challenge"));
                s->bits = d && d->type == JSON_INT && d->i > 0 && d->i <= 30 ? (uint8_t)d->i : 0;
            }
            log_answer(j, v, now, status, NULL, -1, "puzzle");
            if (!s->ch[0] || !s->bits) {
                count(j, "bad_puzzle", 1);
                wait_then(j, v, now, 1000000);
                return;
            }
            count(j, "puzzles", 1);
            close_io(j, v);
            free(s->buf);
            s->buf = NULL;
            s->counter = 0;
            s->phase = JP_SOLVE;
            return;
        }
        copy_ticket(s->qt, json_find(&doc, "queue_ticket"));
        log_answer(j, v, now, status, s->qt, pos && pos->type == JSON_INT ? pos->i : -1, NULL);
        long w = ra && ra->type == JSON_INT ? (long)ra->i : retry;
        if (w < 0) w = 1;
        if (w > JOIN_RETRY_S_MAX) w = JOIN_RETRY_S_MAX;
        wait_then(j, v, now, (uint64_t)w * 1000000u);
        return;
    }
    log_answer(j, v, now, status, NULL, -1, why);
    if (status == 429 || status == 503) {
        /* A refused queue ticket or puzzle answer: start over, later. */
        if (why && (!strcmp(why, "queue_ticket") || !strncmp(why, "ticket_", 7))) s->qt[0] = 0;
        long w = retry > 0 ? retry : 1;
        if (w > JOIN_RETRY_S_MAX) w = JOIN_RETRY_S_MAX;
        wait_then(j, v, now, (uint64_t)w * 1000000u);
        return;
    }
    snprintf(k, sizeof(k), "join_http_%u", status);
    jfail(j, v, now, k);
}

static void join_io(struct loop *loop, struct io *io, uint32_t events)
{
    struct vl *v = io->data;
    struct join *j = v->run->join;
    struct jvl *s = &j->v[index_of(j, v)];
    uint64_t now = loop_now_us(loop);
    if (s->phase == JP_CONNECTING) {
        int err = 0;
        socklen_t el = sizeof(err);
        if (getsockopt(io->fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0 || err) {
            count(j, "unanswered", 1);
            wait_then(j, v, now, 1000000);
            return;
        }
        if (events & LOOP_WRITE) send_join(j, v, now);
        return;
    }
    if (!s->buf && !(s->buf = malloc(JOIN_ANSWER_BYTES_MAX + 1))) {
        wait_then(j, v, now, 1000000);
        return;
    }
    for (;;) {
        ssize_t n = read(io->fd, s->buf + s->got, JOIN_ANSWER_BYTES_MAX - s->got);
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
        if (n > 0) {
            s->got = (uint16_t)(s->got + n);
            if (s->got < JOIN_ANSWER_BYTES_MAX) continue;
        }
        /* EOF (the server closes after every answer), an error, or full. */
        if (s->got)
            answer(j, v, now);
        else {
            count(j, "unanswered", 1);
            wait_then(j, v, now, 1000000);
        }
        return;
    }
}

/* ---- waits and puzzles ------------------------------------------------------ */

static void solve_some(struct join *j, uint64_t now)
{
    uint64_t until = clock_mono_us() + JOIN_POW_US_PER_TICK;
    for (uint32_t i = 0; i < j->r->nvl; i++) {
        struct jvl *s = &j->v[i];
        if (s->phase != JP_SOLVE) continue;
        for (;;) {
            if (clock_mono_us() >= until) return;
            uint64_t found;
            int e = pow_solve(s->ch, TICKET_TEXT_BYTES, s->bits, s->counter,
                              JOIN_POW_HASHES_PER_STEP, &found);
            if (e == -EAGAIN) {
                s->counter += JOIN_POW_HASHES_PER_STEP;
                continue;
            }
            if (e < 0) {
                s->ch[0] = 0;
                wait_then(j, &j->r->vls[i], now, 1000000);
            } else {
                s->counter = found;
                s->sol = 1;
                count(j, "puzzles_solved", 1);
                ask(j, &j->r->vls[i], now);
            }
            break;
        }
    }
}

static void flood_due(struct join *j, uint64_t now);

static void on_tick(struct loop *loop, struct timer *t)
{
    struct join *j = t->data;
    uint64_t now = loop_now_us(loop);
    for (uint32_t i = 0; i < j->r->nvl; i++) {
        struct jvl *s = &j->v[i];
        if (s->phase == JP_WAIT && s->wake_us <= now) ask(j, &j->r->vls[i], now);
    }
    solve_some(j, now);
    flood_due(j, now);
    timer_start(loop, t, JOIN_TICK_MS);
}

/* ---- the hooks vl.c calls --------------------------------------------------- */

void join_launch(struct join *j, struct vl *v)
{
    struct jvl *s = &j->v[index_of(j, v)];
    uint64_t now = loop_now_us(j->r->loop);
    if (s->ticket[0]) { /* a reconnect: the ticket is still good */
        s->phase = JP_STREAM;
        vl_connect(j->r, v, connect_from(j, s->addr));
        return;
    }
    ask(j, v, now);
}

void join_request(struct join *j, struct vl *v, const char **req, size_t *len)
{
    const struct run_cfg *c = j->r->cfg;
    struct jvl *s = &j->v[index_of(j, v)];
    int n = snprintf(j->sreq, sizeof(j->sreq),
                     "GET /live/%s.opus?ticket=%s HTTP/1.0\r\nHost: %s:%u\r\n"
                     "User-Agent: podium-storm/1\r\nAccept: */*\r\n\r\n",
                     c->join.space, s->ticket, c->target.host, ntohs(c->target.addr.sin_port));
    if (n > 0 && (size_t)n < sizeof(j->sreq)) {
        *req = j->sreq;
        *len = (size_t)n;
    }
}

/* ---- attacks ------------------------------------------------------------------ */

static void fc_close(struct fconn *f, const char *why)
{
    struct join *j = f->j;
    char k[RES_KEY_BYTES];
    if (why) {
        snprintf(k, sizeof(k), "%s.%s", fk_name[f->kind], why);
        res_map_add(&j->r->res->attack, k, 1);
    }
    if (f->io.fd >= 0) {
        io_set(j->r->loop, &f->io, 0);
        close(f->io.fd);
        j->r->open_fds--;
        f->io.fd = -1;
    }
    f->busy = 0;
    j->fc_busy--;
}

/* A ticket that looks like ours (version 1, admission, this epoch if the
 * default rotation is in use) with random bytes for the rest: the server
 * must compute a MAC to refuse it. */
static void forged_ticket(char out[TICKET_TEXT_BYTES + 1])
{
    uint8_t bin[TICKET_BIN_BYTES];
    if (getrandom(bin, sizeof(bin), 0) != (ssize_t)sizeof(bin)) memset(bin, 0x5a, sizeof(bin));
    uint32_t epoch = (uint32_t)(time(NULL) / 3600);
    bin[0] = 0x11;
    bin[1] = 0;
    bin[2] = (uint8_t)(epoch >> 8);
    bin[3] = (uint8_t)epoch;
    b64_encode(B64_URL, bin, sizeof(bin), out, TICKET_TEXT_BYTES + 1);
}

static void fc_io(struct loop *loop, struct io *io, uint32_t events)
{
    struct fconn *f = io->data;
    struct join *j = f->j;
    const struct run_cfg *c = j->r->cfg;
    if (!f->connected) {
        int err = 0;
        socklen_t el = sizeof(err);
        if (getsockopt(io->fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0 || err) {
            fc_close(f, "connect_failed");
            return;
        }
        if (!(events & LOOP_WRITE)) return;
        char req[512], tk[TICKET_TEXT_BYTES + 1];
        int n;
        if (f->kind == FK_FORGED) {
            forged_ticket(tk);
            n = snprintf(req, sizeof(req),
                         "GET /live/%s.opus?ticket=%s HTTP/1.1\r\nHost: storm\r\n"
                         "Connection: close\r\n\r\n",
                         c->join.space, tk);
        } else {
            n = snprintf(req, sizeof(req),
                         "POST /api/spaces/%s/join HTTP/1.1\r\nHost: storm\r\n"
                         "Content-Length: 0\r\nConnection: close\r\n\r\n",
                         c->join.space);
        }
        f->connected = 1;
        if (n <= 0 || send(io->fd, req, (size_t)n, MSG_NOSIGNAL) != n) {
            fc_close(f, "closed");
            return;
        }
        res_map_add(&j->r->res->attack,
                    f->kind == FK_FORGED ? "forged_tickets.sent" : "join_flood.sent", 1);
        io_set(loop, io, LOOP_READ);
        return;
    }
    char buf[512], k[24];
    ssize_t n = recv(io->fd, buf, sizeof(buf) - 1, 0);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
    if (n > 12 && !memcmp(buf, "HTTP/1.", 7)) {
        snprintf(k, sizeof(k), "http_%.3s", buf + 9);
        fc_close(f, k);
    } else {
        fc_close(f, "closed");
    }
}

static void flood_due(struct join *j, uint64_t now)
{
    if (!j->fc) return;
    for (uint32_t i = 0; i < JOIN_FLOOD_INFLIGHT_MAX; i++) {
        struct fconn *f = &j->fc[i];
        if (f->busy && now - f->opened_us > JOIN_FLOOD_TIMEOUT_MS * 1000u) fc_close(f, "timeout");
    }
    uint32_t slot = 0;
    for (int kind = 0; kind < 2; kind++) {
        if (!j->rate[kind]) continue;
        uint64_t due = (now - j->flood_t0_us) * j->rate[kind] / 1000000u;
        while (j->sent[kind] < due) {
            if (j->fc_busy >= JOIN_FLOOD_INFLIGHT_MAX) {
                char k[RES_KEY_BYTES];
                snprintf(k, sizeof(k), "%s.skipped_inflight_cap", fk_name[kind]);
                res_map_add(&j->r->res->attack, k, due - j->sent[kind]);
                j->sent[kind] = due;
                break;
            }
            while (slot < JOIN_FLOOD_INFLIGHT_MAX && j->fc[slot].busy)
                slot++;
            if (slot == JOIN_FLOOD_INFLIGHT_MAX) break;
            struct fconn *f = &j->fc[slot];
            j->sent[kind]++;
            f->busy = 1;
            f->connected = 0;
            f->kind = (uint8_t)kind;
            f->opened_us = now;
            j->fc_busy++;
            int fd = run_connect(j->r);
            io_init(&f->io, fd, fc_io, f);
            if (fd < 0) {
                fc_close(f, "connect_failed");
                continue;
            }
            j->r->open_fds++;
            if (io_set(j->r->loop, &f->io, LOOP_READ | LOOP_WRITE) < 0)
                fc_close(f, "connect_failed");
        }
    }
}

/* ---- life ---------------------------------------------------------------------- */

struct join *join_new(struct run *r)
{
    const struct run_cfg *c = r->cfg;
    uint32_t shards = c->shards ? c->shards : 1;
    struct join *j = calloc(1, sizeof(*j));
    if (!j) return NULL;
    j->r = r;
    r->join = j;
    j->v = calloc(r->nvl ? r->nvl : 1, sizeof(*j->v));
    if (!j->v) goto out_free;
    for (uint32_t i = 0; i < r->nvl; i++) {
        uint64_t gi = (uint64_t)i * shards + c->shard;
        struct jvl *s = &j->v[i];
        if (c->join.prefixes) {
            uint32_t p = (uint32_t)(gi % c->join.prefixes);
            s->addr = c->join.prefix_base + p * 256u + 1u + (uint32_t)(gi / c->join.prefixes % 254);
        } else if (c->src_count) {
            s->addr = c->src_first + (uint32_t)(gi % c->src_count);
        }
    }
    j->rate[FK_FORGED] =
        c->attack.forged_per_s / shards + (c->shard < c->attack.forged_per_s % shards);
    j->rate[FK_JOIN] =
        c->attack.join_flood_per_s / shards + (c->shard < c->attack.join_flood_per_s % shards);
    if (j->rate[FK_FORGED] || j->rate[FK_JOIN]) {
        j->fc = calloc(JOIN_FLOOD_INFLIGHT_MAX, sizeof(*j->fc));
        if (!j->fc) goto out_free;
        for (uint32_t i = 0; i < JOIN_FLOOD_INFLIGHT_MAX; i++) {
            j->fc[i].j = j;
            j->fc[i].io.fd = -1;
        }
    }
    if (c->join.log_path[0]) {
        j->log = fopen(c->join.log_path, "a");
        if (!j->log) goto out_free;
        setvbuf(j->log, NULL, _IOLBF, 0); /* one write per line: shards share the file */
    }
    timer_init(&j->tick, on_tick, j);
    return j;
out_free:
    join_free(j);
    r->join = NULL;
    return NULL;
}

void join_start(struct join *j)
{
    j->flood_t0_us = loop_now_us(j->r->loop);
    timer_start(j->r->loop, &j->tick, JOIN_TICK_MS);
}

void join_stop(struct join *j, uint64_t now_us)
{
    struct run *r = j->r;
    timer_stop(r->loop, &j->tick);
    for (uint32_t i = 0; i < r->nvl; i++) {
        struct jvl *s = &j->v[i];
        struct vl *v = &r->vls[i];
        if (s->phase == JP_NONE || s->phase == JP_STREAM || s->phase == JP_FAILED) continue;
        close_io(j, v);
        if (v->flags & VL_F_REJOIN) {
            s->phase = JP_FAILED;
            vl_finish(v, now_us, "failed");
            continue;
        }
        jfail(j, v, now_us, s->qt[0] ? "queued_at_end" : "join_pending_at_end");
    }
    if (j->fc)
        for (uint32_t i = 0; i < JOIN_FLOOD_INFLIGHT_MAX; i++)
            if (j->fc[i].busy) fc_close(&j->fc[i], "unanswered_at_end");
}

void join_free(struct join *j)
{
    if (!j) return;
    if (j->v)
        for (uint32_t i = 0; i < j->r->nvl; i++)
            free(j->v[i].buf);
    if (j->log) fclose(j->log);
    free(j->fc);
    free(j->v);
    free(j);
}
