/* reader: a minimal HTTP listener load client for bench/.
 *
 *   reader --url http://127.0.0.1:PORT/live/bench.opus -n 5000 (--burst | --ramp SECONDS)
 *          [--duration SECONDS] [--stall-ms 2000] [--per-src 10000] [--per-worker 19000]
 *          [--workers K] [--stop-when-all-audio] [--progress-ms 1000]
 *
 * Opens N listener connections, reads and counts bytes (no parsing beyond
 * the HTTP status code and the end of the response header), and prints one
 * JSON line on stdout when done. Progress goes to stderr once a second:
 *   reader: t=3.0 attempted=.. connected=.. audio=.. live=.. failed=.. bytes=..
 *
 * Definitions (also in bench/README.md):
 *  - scheduled time of connection i: t0 in --burst; t0 + ramp * i / N in --ramp.
 *  - ttfb: scheduled time -> first body byte (after the response header),
 *    so a connection that waits for a free fd or a slow accept pays for it.
 *  - stall: a connection that has received body bytes, is still open, and
 *    sees more than --stall-ms (2000) with no body byte. Each such gap counts
 *    once; a gap still open when the run ends counts too.
 *  - failed: connect error, non-2xx status, or closed before the first body
 *    byte. closed_after_audio: the server closed a listener mid-stream.
 *  - pending: neither failed nor got audio when the run ended.
 *
 * The open-file limit is a hard 20,000 per process here, so the parent forks
 * K workers (each at most --per-worker connections; connection i goes to
 * worker i % K) and aggregates their results over pipes. Connection i binds
 * source address 127.0.0.(2 + i / per_src) before connect(), with
 * IP_BIND_ADDRESS_NO_PORT so the ephemeral port is chosen per 4-tuple.
 * Always exits by itself: workers stop at --duration, the parent has an alarm.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#pragma GCC poison strcpy sprintf gets strtok atoi

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

enum {
    workers_max = 64,
    starts_per_iteration_max = 256, /* connects issued before polling again */
    events_max = 1024,
    header_bytes_max = 16384, /* response header limit */
    recv_buf_bytes = 65536,
    src_addr_last = 254,
};

#define TTFB_NONE UINT32_MAX

struct opts {
    struct sockaddr_in dst;
    char host[64];
    char path[512];
    uint32_t n;
    bool burst;
    uint32_t ramp_ms;
    uint32_t duration_ms;
    uint32_t stall_ms;
    uint32_t per_src;
    uint32_t per_worker;
    uint32_t workers;
    uint32_t progress_ms;
    bool stop_when_all_audio;
};

struct counts {
    uint64_t attempted, connected, audio;
    uint64_t failed_connect, failed_status, failed_closed;
    uint64_t closed_after_audio, stalls, stalled_conns, bytes;
};

enum { MSG_PROGRESS = 1, MSG_FINAL = 2 };

struct msg {
    uint32_t type;
    uint32_t ttfb_n; /* MSG_FINAL: number of uint32 ttfb values that follow */
    struct counts c;
};

enum { ST_IDLE = 0, ST_CONNECTING, ST_HEADER, ST_BODY, ST_DONE };

struct conn {
    int32_t fd;
    uint8_t state;
    uint8_t crlf;      /* progress through "\r\n\r\n" */
    uint8_t stalled;   /* already counted in stalled_conns */
    uint16_t hdr_bytes;
    uint16_t status;   /* from "HTTP/1.x NNN" */
    uint32_t last_ms;  /* last body byte, relative to t0 */
};

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void usage(void)
{
    fprintf(stderr, "usage: reader --url http://HOST:PORT/PATH -n N (--burst | --ramp S) "
                    "[--duration S] [--stall-ms MS] [--per-src N] [--per-worker N] "
                    "[--workers K] [--stop-when-all-audio] [--progress-ms MS]\n");
    exit(2);
}

/* Parses "http://A.B.C.D:PORT/PATH". Returns 0 or -1. */
static int parse_url(const char *url, struct opts *o)
{
    const char *p = url, *colon, *slash;
    char *end;
    long port;

    if (strncmp(p, "http://", 7))
        return -1;
    p += 7;
    slash = strchr(p, '/');
    if (!slash)
        slash = p + strlen(p);
    colon = memchr(p, ':', (size_t)(slash - p));
    if (!colon || (size_t)(colon - p) >= sizeof(o->host) || strlen(slash) >= sizeof(o->path))
        return -1;
    memcpy(o->host, p, (size_t)(colon - p));
    o->host[colon - p] = '\0';
    port = strtol(colon + 1, &end, 10);
    if (end != slash || port < 1 || port > 65535)
        return -1;
    snprintf(o->path, sizeof(o->path), "%s", *slash ? slash : "/");
    memset(&o->dst, 0, sizeof(o->dst));
    o->dst.sin_family = AF_INET;
    o->dst.sin_port = htons((uint16_t)port);
    return inet_pton(AF_INET, o->host, &o->dst.sin_addr) == 1 ? 0 : -1;
}

static uint32_t arg_u32(const char *s, double scale)
{
    char *end;
    double v = strtod(s, &end);
    if (*end || v < 0 || v * scale > 4e9)
        usage();
    return (uint32_t)llround(v * scale);
}

static void parse_opts(int argc, char **argv, struct opts *o)
{
    bool have_url = false, have_mode = false;

    *o = (struct opts){.duration_ms = 30000, .stall_ms = 2000, .per_src = 10000,
                       .per_worker = 19000, .progress_ms = 1000};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--burst")) {
            o->burst = true;
            have_mode = true;
        } else if (!strcmp(a, "--stop-when-all-audio")) {
            o->stop_when_all_audio = true;
        } else if (!v) {
            usage();
        } else if (!strcmp(a, "--url")) {
            if (parse_url(v, o) < 0)
                usage();
            have_url = true;
            i++;
        } else if (!strcmp(a, "-n")) {
            o->n = arg_u32(v, 1), i++;
        } else if (!strcmp(a, "--ramp")) {
            o->ramp_ms = arg_u32(v, 1000), have_mode = true, i++;
        } else if (!strcmp(a, "--duration")) {
            o->duration_ms = arg_u32(v, 1000), i++;
        } else if (!strcmp(a, "--stall-ms")) {
            o->stall_ms = arg_u32(v, 1), i++;
        } else if (!strcmp(a, "--per-src")) {
            o->per_src = arg_u32(v, 1), i++;
        } else if (!strcmp(a, "--per-worker")) {
            o->per_worker = arg_u32(v, 1), i++;
        } else if (!strcmp(a, "--workers")) {
            o->workers = arg_u32(v, 1), i++;
        } else if (!strcmp(a, "--progress-ms")) {
            o->progress_ms = arg_u32(v, 1), i++;
        } else {
            usage();
        }
    }
    if (!have_url || !have_mode || o->n == 0 || o->duration_ms == 0 || o->per_src == 0 ||
        o->per_worker == 0 || o->progress_ms == 0)
        usage();
    if (o->burst)
        o->ramp_ms = 0;
    if (!o->workers)
        o->workers = (o->n + o->per_worker - 1) / o->per_worker;
    if (o->workers > workers_max || (o->n - 1) / o->per_src + 2 > src_addr_last) {
        fprintf(stderr, "reader: too many workers or source addresses\n");
        exit(2);
    }
}

/* Writes all of <len> bytes to a blocking pipe. Returns 0 or -1. */
static int write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* ---- worker ---------------------------------------------------------------- */

/* SIGUSR1/SIGTERM/SIGINT end the run early but cleanly: workers report what
 * they have, the parent still prints the JSON line. */
static volatile sig_atomic_t stop_flag;
static void on_stop(int sig)
{
    (void)sig;
    stop_flag = 1;
}

struct worker {
    const struct opts *o;
    uint32_t id, local_n;
    uint64_t t0_ms;
    int epfd;
    struct conn *conns;
    uint32_t *ttfb; /* per local connection, TTFB_NONE until first body byte */
    struct counts c;
    char req[1024];
    size_t req_len;
};

static uint32_t global_index(const struct worker *w, uint32_t k)
{
    return w->id + k * w->o->workers;
}

static uint32_t sched_ms(const struct worker *w, uint32_t k)
{
    if (w->o->burst)
        return 0;
    return (uint32_t)((uint64_t)w->o->ramp_ms * global_index(w, k) / w->o->n);
}

static void conn_fail(struct conn *c, uint64_t *counter)
{
    if (c->fd >= 0)
        close(c->fd); /* also leaves the epoll set */
    c->fd = -1;
    c->state = ST_DONE;
    (*counter)++;
}

static void send_request(struct worker *w, uint32_t k)
{
    struct conn *c = &w->conns[k];
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = k};

    if (send(c->fd, w->req, w->req_len, MSG_NOSIGNAL) != (ssize_t)w->req_len ||
        epoll_ctl(w->epfd, EPOLL_CTL_MOD, c->fd, &ev) < 0) {
        conn_fail(c, &w->c.failed_connect);
        return;
    }
    c->state = ST_HEADER;
}

static void start_conn(struct worker *w, uint32_t k)
{
    struct conn *c = &w->conns[k];
    uint32_t i = global_index(w, k);
    struct sockaddr_in src = {.sin_family = AF_INET};
    struct epoll_event ev = {.events = EPOLLOUT, .data.u32 = k};
    int one = 1;

    w->c.attempted++;
    c->state = ST_CONNECTING;
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0)
        goto fail;
    src.sin_addr.s_addr = htonl(0x7f000000u | (2u + i / w->o->per_src));
    setsockopt(c->fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
    if (bind(c->fd, (struct sockaddr *)&src, sizeof(src)) < 0)
        goto fail;
    if (connect(c->fd, (struct sockaddr *)&w->o->dst, sizeof(w->o->dst)) < 0 &&
        errno != EINPROGRESS)
        goto fail;
    if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, c->fd, &ev) < 0)
        goto fail;
    return;
fail:
    conn_fail(c, &w->c.failed_connect);
}

static void on_connect_ready(struct worker *w, uint32_t k)
{
    struct conn *c = &w->conns[k];
    int err = 0;
    socklen_t len = sizeof(err);

    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err) {
        conn_fail(c, &w->c.failed_connect);
        return;
    }
    send_request(w, k);
}

static void on_body(struct worker *w, uint32_t k, size_t n, uint32_t now)
{
    struct conn *c = &w->conns[k];

    if (!n)
        return;
    w->c.bytes += n;
    if (w->ttfb[k] == TTFB_NONE) {
        uint32_t s = sched_ms(w, k);
        w->ttfb[k] = now > s ? now - s : 0;
        w->c.audio++;
    } else if (now - c->last_ms > w->o->stall_ms) {
        w->c.stalls++;
        if (!c->stalled)
            w->c.stalled_conns++, c->stalled = 1;
    }
    c->last_ms = now;
}

/* Skims the response header: status code from bytes 9..11, end at the blank
 * line. Returns bytes of <buf> consumed by the header, or -1 to fail. */
static ssize_t skim_header(struct worker *w, struct conn *c, const char *buf, size_t n)
{
    static const char crlf2[4] = {'\r', '\n', '\r', '\n'};

    for (size_t i = 0; i < n; i++) {
        char ch = buf[i];
        if (c->hdr_bytes >= 9 && c->hdr_bytes <= 11)
            c->status = (uint16_t)(c->status * 10 + (ch >= '0' && ch <= '9' ? ch - '0' : 0));
        c->hdr_bytes++;
        c->crlf = ch == crlf2[c->crlf] ? c->crlf + 1 : (ch == '\r' ? 1 : 0);
        if (c->crlf == 4) {
            if (c->status < 200 || c->status > 299) {
                conn_fail(c, &w->c.failed_status);
                return -1;
            }
            c->state = ST_BODY;
            w->c.connected++;
            return (ssize_t)(i + 1);
        }
        if (c->hdr_bytes >= header_bytes_max) {
            conn_fail(c, &w->c.failed_status);
            return -1;
        }
    }
    return (ssize_t)n;
}

static void on_readable(struct worker *w, uint32_t k, char *buf, uint32_t now)
{
    struct conn *c = &w->conns[k];
    ssize_t n = recv(c->fd, buf, recv_buf_bytes, 0);

    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {
        if (c->state == ST_BODY && w->ttfb[k] != TTFB_NONE) {
            close(c->fd);
            c->fd = -1;
            c->state = ST_DONE;
            w->c.closed_after_audio++;
        } else {
            conn_fail(c, &w->c.failed_closed);
        }
        return;
    }
    size_t off = 0;
    if (c->state == ST_HEADER) {
        ssize_t used = skim_header(w, c, buf, (size_t)n);
        if (used < 0 || c->state != ST_BODY)
            return;
        off = (size_t)used;
    }
    on_body(w, k, (size_t)n - off, now);
}

static void send_msg(int pfd, const struct worker *w, uint32_t type)
{
    struct msg m = {.type = type, .ttfb_n = type == MSG_FINAL ? w->local_n : 0, .c = w->c};
    if (write_all(pfd, &m, sizeof(m)) < 0)
        _exit(3);
    if (type == MSG_FINAL && write_all(pfd, w->ttfb, sizeof(uint32_t) * w->local_n) < 0)
        _exit(3);
}

static void worker_run(const struct opts *o, uint32_t id, uint64_t t0_ms, int pfd)
{
    struct worker w = {.o = o, .id = id, .t0_ms = t0_ms};
    static char buf[recv_buf_bytes];
    struct epoll_event evs[events_max];

    prctl(PR_SET_PDEATHSIG, SIGKILL);
    struct sigaction act = {.sa_handler = on_stop};
    sigaction(SIGUSR1, &act, NULL);
    sigaction(SIGTERM, &act, NULL);
    signal(SIGINT, SIG_IGN); /* a terminal ^C reaches the parent, which forwards it */
    w.local_n = o->n / o->workers + (id < o->n % o->workers ? 1 : 0);
    w.conns = calloc(w.local_n ? w.local_n : 1, sizeof(*w.conns));
    w.ttfb = malloc(sizeof(uint32_t) * (w.local_n ? w.local_n : 1));
    w.epfd = epoll_create1(EPOLL_CLOEXEC);
    if (!w.conns || !w.ttfb || w.epfd < 0)
        _exit(3);
    for (uint32_t k = 0; k < w.local_n; k++) {
        w.conns[k].fd = -1;
        w.ttfb[k] = TTFB_NONE;
    }
    int rl = snprintf(w.req, sizeof(w.req),
                      "GET %s HTTP/1.0\r\nHost: %s:%u\r\nUser-Agent: podium-bench-reader\r\n"
                      "Accept: */*\r\n\r\n",
                      o->path, o->host, ntohs(o->dst.sin_port));
    w.req_len = (size_t)rl;

    uint32_t next_k = 0, next_progress = o->progress_ms;
    for (;;) {
        uint64_t m = mono_ms();
        uint32_t now = m > t0_ms ? (uint32_t)(m - t0_ms) : 0;
        if ((m >= t0_ms && now >= o->duration_ms) || stop_flag)
            break;
        if (o->stop_when_all_audio && next_k == w.local_n &&
            w.c.audio + w.c.failed_connect + w.c.failed_status + w.c.failed_closed == w.local_n)
            break;
        if (now >= next_progress) {
            send_msg(pfd, &w, MSG_PROGRESS);
            next_progress += o->progress_ms;
        }
        /* Issue due connects, a bounded batch at a time, so the events of
         * the connections already made are served while a burst is issued. */
        for (uint32_t s = 0; m >= t0_ms && s < starts_per_iteration_max && next_k < w.local_n &&
                             sched_ms(&w, next_k) <= now;
             s++)
            start_conn(&w, next_k++);

        int timeout;
        if (m < t0_ms)
            timeout = (int)(t0_ms - m);
        else if (next_k < w.local_n && sched_ms(&w, next_k) <= now)
            timeout = 0;
        else {
            uint32_t until = o->duration_ms;
            if (next_progress < until)
                until = next_progress;
            if (next_k < w.local_n && sched_ms(&w, next_k) < until)
                until = sched_ms(&w, next_k);
            timeout = until > now ? (int)(until - now) : 0;
        }
        int n = epoll_wait(w.epfd, evs, events_max, timeout);
        m = mono_ms();
        now = m > t0_ms ? (uint32_t)(m - t0_ms) : 0;
        for (int i = 0; i < n; i++) {
            uint32_t k = evs[i].data.u32;
            struct conn *c = &w.conns[k];
            if (c->state == ST_CONNECTING)
                on_connect_ready(&w, k);
            else if (c->state == ST_HEADER || c->state == ST_BODY)
                on_readable(&w, k, buf, now);
        }
    }

    /* A gap still open at the end is a stall too. */
    uint64_t m = mono_ms();
    uint32_t now = m > t0_ms ? (uint32_t)(m - t0_ms) : 0;
    for (uint32_t k = 0; k < w.local_n; k++) {
        struct conn *c = &w.conns[k];
        if (c->state == ST_BODY && w.ttfb[k] != TTFB_NONE && now - c->last_ms > o->stall_ms) {
            w.c.stalls++;
            if (!c->stalled)
                w.c.stalled_conns++;
        }
    }
    send_msg(pfd, &w, MSG_FINAL);
    _exit(0);
}

/* ---- parent ---------------------------------------------------------------- */

struct wstate {
    pid_t pid;
    int fd;
    bool eof;
    struct msg last;
    size_t got;       /* bytes of the current message (header, then ttfb) */
    uint32_t *ttfb;   /* MSG_FINAL payload */
    size_t ttfb_got;  /* bytes of ttfb received */
    bool in_payload;
    bool final;
};

static void add_counts(struct counts *a, const struct counts *b)
{
    a->attempted += b->attempted;
    a->connected += b->connected;
    a->audio += b->audio;
    a->failed_connect += b->failed_connect;
    a->failed_status += b->failed_status;
    a->failed_closed += b->failed_closed;
    a->closed_after_audio += b->closed_after_audio;
    a->stalls += b->stalls;
    a->stalled_conns += b->stalled_conns;
    a->bytes += b->bytes;
}

/* Consumes readable bytes from one worker's pipe. */
static void pump(struct wstate *ws)
{
    for (;;) {
        ssize_t n;
        if (!ws->in_payload) {
            n = read(ws->fd, (char *)&ws->last + ws->got, sizeof(ws->last) - ws->got);
            if (n > 0) {
                ws->got += (size_t)n;
                if (ws->got == sizeof(ws->last)) {
                    ws->got = 0;
                    if (ws->last.type == MSG_FINAL) {
                        ws->final = true;
                        ws->in_payload = ws->last.ttfb_n > 0;
                        ws->ttfb = malloc(sizeof(uint32_t) * (ws->last.ttfb_n + 1u));
                        if (!ws->ttfb)
                            exit(1);
                    }
                }
            }
        } else {
            size_t want = sizeof(uint32_t) * ws->last.ttfb_n;
            n = read(ws->fd, (char *)ws->ttfb + ws->ttfb_got, want - ws->ttfb_got);
            if (n > 0) {
                ws->ttfb_got += (size_t)n;
                if (ws->ttfb_got == want)
                    ws->in_payload = false;
            }
        }
        if (n == 0) {
            ws->eof = true;
            return;
        }
        if (n < 0)
            return; /* EAGAIN: the pipe is non-blocking on our side */
    }
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static void print_ms(const char *key, uint32_t v, bool comma)
{
    if (v == TTFB_NONE)
        printf("\"%s\":null%s", key, comma ? "," : "");
    else
        printf("\"%s\":%u%s", key, v, comma ? "," : "");
}

static volatile sig_atomic_t alarm_fired;
static void on_alarm(int sig)
{
    (void)sig;
    alarm_fired = 1;
}

int main(int argc, char **argv)
{
    struct opts o;
    struct wstate ws[workers_max];
    struct rlimit rl;

    parse_opts(argc, argv, &o);
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        getrlimit(RLIMIT_NOFILE, &rl);
    }
    uint32_t biggest = (o.n + o.workers - 1) / o.workers;
    if ((uint64_t)biggest + 64 > rl.rlim_cur)
        fprintf(stderr, "reader: warning: %u connections per worker with an fd limit of %llu\n",
                biggest, (unsigned long long)rl.rlim_cur);
    signal(SIGPIPE, SIG_IGN);

    uint64_t start_ms = mono_ms();
    uint64_t t0_ms = start_ms + 200 + 20 * o.workers; /* after every fork */
    memset(ws, 0, sizeof(ws));
    for (uint32_t id = 0; id < o.workers; id++) {
        int p[2];
        if (pipe2(p, O_CLOEXEC) < 0)
            return 1;
        fflush(NULL);
        pid_t pid = fork();
        if (pid < 0)
            return 1;
        if (pid == 0) {
            close(p[0]);
            for (uint32_t j = 0; j < id; j++)
                close(ws[j].fd);
            worker_run(&o, id, t0_ms, p[1]);
        }
        close(p[1]);
        fcntl(p[0], F_SETFL, O_NONBLOCK);
        ws[id].pid = pid;
        ws[id].fd = p[0];
    }

    struct sigaction act = {.sa_handler = on_alarm};
    sigaction(SIGALRM, &act, NULL);
    struct sigaction sact = {.sa_handler = on_stop};
    sigaction(SIGUSR1, &sact, NULL);
    sigaction(SIGTERM, &sact, NULL);
    sigaction(SIGINT, &sact, NULL);
    bool forwarded = false;
    alarm((o.duration_ms + 999) / 1000 + 60); /* safety net: never hang */

    uint64_t next_progress = t0_ms + o.progress_ms;
    struct pollfd pfds[workers_max];
    for (;;) {
        uint32_t live_n = 0;
        for (uint32_t id = 0; id < o.workers; id++) {
            if (ws[id].eof)
                continue;
            pfds[live_n].fd = ws[id].fd;
            pfds[live_n].events = POLLIN;
            live_n++;
        }
        if (!live_n || alarm_fired)
            break;
        if (stop_flag && !forwarded) {
            for (uint32_t id = 0; id < o.workers; id++)
                kill(ws[id].pid, SIGUSR1);
            forwarded = true;
        }
        poll(pfds, live_n, 250);
        for (uint32_t id = 0; id < o.workers; id++)
            if (!ws[id].eof)
                pump(&ws[id]);
        uint64_t m = mono_ms();
        if (m >= next_progress) {
            struct counts t = {0};
            for (uint32_t id = 0; id < o.workers; id++)
                add_counts(&t, &ws[id].last.c);
            fprintf(stderr,
                    "reader: t=%.1f attempted=%llu connected=%llu audio=%llu live=%llu "
                    "failed=%llu stalls=%llu bytes=%llu\n",
                    (double)(m - t0_ms) / 1000.0, (unsigned long long)t.attempted,
                    (unsigned long long)t.connected, (unsigned long long)t.audio,
                    (unsigned long long)(t.audio - t.closed_after_audio),
                    (unsigned long long)(t.failed_connect + t.failed_status + t.failed_closed),
                    (unsigned long long)t.stalls, (unsigned long long)t.bytes);
            next_progress += o.progress_ms;
            if (next_progress < m)
                next_progress = m + o.progress_ms;
        }
    }
    bool incomplete = alarm_fired;
    for (uint32_t id = 0; id < o.workers; id++) {
        if (alarm_fired)
            kill(ws[id].pid, SIGKILL);
        waitpid(ws[id].pid, NULL, 0);
        if (!ws[id].final || ws[id].in_payload)
            incomplete = true;
    }
    uint64_t wall_ms = mono_ms() - t0_ms;
    struct rusage ru;
    getrusage(RUSAGE_CHILDREN, &ru);
    double cpu_s = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
                   (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;

    /* Every scheduled connection counts in the percentiles; one without a
     * first byte sorts last as TTFB_NONE and reads as null. */
    struct counts t = {0};
    uint32_t *all = malloc(sizeof(uint32_t) * o.n);
    size_t all_n = 0;
    if (!all)
        return 1;
    for (uint32_t id = 0; id < o.workers; id++) {
        add_counts(&t, &ws[id].last.c);
        if (ws[id].final && !ws[id].in_payload)
            for (uint32_t k = 0; k < ws[id].last.ttfb_n && all_n < o.n; k++)
                all[all_n++] = ws[id].ttfb[k];
    }
    while (all_n < o.n)
        all[all_n++] = TTFB_NONE;
    qsort(all, o.n, sizeof(uint32_t), cmp_u32);
    uint32_t p50 = all[(o.n * 50 + 99) / 100 - 1];
    uint32_t p99 = all[(o.n * 99 + 99) / 100 - 1];
    uint32_t max_all = all[o.n - 1], max_got = 0;
    uint64_t within_1s = 0, within_5s = 0, within_60s = 0;
    for (uint32_t k = 0; k < o.n; k++) {
        if (all[k] == TTFB_NONE)
            break;
        max_got = all[k];
        within_1s += all[k] <= 1000;
        within_5s += all[k] <= 5000;
        within_60s += all[k] <= 60000;
    }
    uint64_t failed = t.failed_connect + t.failed_status + t.failed_closed;
    uint64_t pending = o.n > t.audio + failed ? o.n - t.audio - failed : 0;

    printf("{\"n\":%u,\"workers\":%u,\"mode\":\"%s\",\"ramp_s\":%.1f,\"duration_s\":%.1f,"
           "\"wall_s\":%.2f,\"attempted\":%llu,\"connected\":%llu,\"audio\":%llu,"
           "\"live_end\":%llu,\"failed\":%llu,\"failed_connect\":%llu,\"failed_status\":%llu,"
           "\"failed_closed\":%llu,\"closed_after_audio\":%llu,\"pending\":%llu,",
           o.n, o.workers, o.burst ? "burst" : "ramp", o.ramp_ms / 1000.0,
           o.duration_ms / 1000.0, wall_ms / 1000.0, (unsigned long long)t.attempted,
           (unsigned long long)t.connected, (unsigned long long)t.audio,
           (unsigned long long)(t.audio - t.closed_after_audio), (unsigned long long)failed,
           (unsigned long long)t.failed_connect, (unsigned long long)t.failed_status,
           (unsigned long long)t.failed_closed, (unsigned long long)t.closed_after_audio,
           (unsigned long long)pending);
    printf("\"ttfb_ms\":{");
    print_ms("p50", p50, true);
    print_ms("p99", p99, true);
    print_ms("max", max_all, true);
    print_ms("max_received", t.audio ? max_got : TTFB_NONE, false);
    printf("},\"first_byte_1s_share\":%.4f,\"first_byte_5s_share\":%.4f,"
           "\"first_byte_60s_share\":%.4f,\"stall_ms\":%u,\"stalls\":%llu,"
           "\"stalled_conns\":%llu,\"bytes\":%llu,\"reader_cpu_s\":%.2f,"
           "\"reader_cpu_share\":%.3f,\"incomplete\":%s}\n",
           (double)within_1s / o.n, (double)within_5s / o.n, (double)within_60s / o.n,
           o.stall_ms, (unsigned long long)t.stalls, (unsigned long long)t.stalled_conns,
           (unsigned long long)t.bytes, cpu_s, wall_ms ? cpu_s * 1000.0 / wall_ms : 0.0,
           incomplete ? "true" : "false");
    return incomplete ? 1 : 0;
}
