/* workers: start, feed, watch and restart the fan-out worker processes. */
#include "workers.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "conn.h"
#include "edge.h"
#include "log.h"
#include "mount.h"
#include "net.h"
#include "relay.h"
#include "server.h"

#define WORKERS_QUEUE_BYTES_MAX (32u << 20) /* a stuck worker is cut off past this */
#define WORKERS_BACKOFF_MS_MIN 100
#define WORKERS_BACKOFF_MS_MAX 5000
#define WORKERS_STABLE_MS 10000 /* a worker up this long restarts without delay */
#define WORKERS_STOP_MS 3000    /* SIGTERM, then SIGKILL after this */

struct worker {
    struct server *srv;
    uint32_t index;
    pid_t pid; /* 0 when not running */
    int listen_fd;
    struct relay *link;
    struct timer restart;
    uint32_t backoff_ms;
    uint64_t started_ms;
    struct metrics stats; /* its last report */
    struct workers_mount_stat *mstats;
    uint32_t mstats_len;
};

struct workers {
    uint32_t n;
    struct worker *w;
    uint64_t restarts;
    struct metrics retired; /* counters of worker processes that exited */
    bool stopping;
};

uint32_t workers_count(const struct server *srv, uint64_t fds_per_process)
{
    if (srv->conf.workers != CONF_AUTO) return srv->conf.workers;
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    uint64_t n = cpus > 0 ? (uint64_t)cpus : 1;
    if (fds_per_process) {
        uint64_t need = (srv->conf.listeners_max + fds_per_process - 1) / fds_per_process;
        if (need > n) n = need;
    }
    return n > 256 ? 256 : (uint32_t)n;
}

/* ---- relaying the stream ---------------------------------------------- */

static void send_open(struct worker *w, const struct mount *m)
{
    uint8_t hdr[RELAY_OPEN_FIXED_BYTES + MOUNT_NAME_BYTES_MAX];
    size_t nl = strlen(m->name);
    uint32_t hl;
    const uint8_t *head = mount_head_pages(m, &hl);
    relay_put_u32(hdr, m->id);
    relay_put_u32(hdr + 4, m->serial);
    hdr[8] = (uint8_t)nl;
    hdr[9] = m->ticketed ? RELAY_OPEN_TICKETED : 0;
    memcpy(hdr + RELAY_OPEN_FIXED_BYTES, m->name, nl);
    const void *parts[] = {hdr, head};
    size_t lens[] = {RELAY_OPEN_FIXED_BYTES + nl, hl};
    relay_sendv(w->link, RELAY_OPEN, parts, lens, 2);
}

static void send_page(struct worker *w, const struct mount *m, const struct chunk *c)
{
    uint8_t hdr[28];
    relay_put_u32(hdr, m->id);
    relay_put_u64(hdr + 4, c->seq);
    relay_put_u64(hdr + 12, c->granule);
    relay_put_u64(hdr + 20, c->born_us);
    const void *parts[] = {hdr, c->data};
    size_t lens[] = {sizeof(hdr), c->len};
    relay_sendv(w->link, RELAY_PAGE, parts, lens, 2);
}

void workers_mount_open(struct server *srv, const struct mount *m)
{
    if (!srv->workers) return;
    for (uint32_t i = 0; i < srv->workers->n; i++)
        if (srv->workers->w[i].link) send_open(&srv->workers->w[i], m);
}

void workers_page(struct server *srv, const struct mount *m, const struct chunk *c)
{
    if (!srv->workers) return;
    for (uint32_t i = 0; i < srv->workers->n; i++)
        if (srv->workers->w[i].link) send_page(&srv->workers->w[i], m, c);
}

void workers_mount_close(struct server *srv, const struct mount *m)
{
    if (!srv->workers) return;
    uint8_t p[4];
    relay_put_u32(p, m->id);
    for (uint32_t i = 0; i < srv->workers->n; i++)
        if (srv->workers->w[i].link) relay_send(srv->workers->w[i].link, RELAY_CLOSE, p, 4);
}

void workers_hold(struct server *srv)
{
    if (!srv->workers) return;
    for (uint32_t i = 0; i < srv->workers->n; i++)
        if (srv->workers->w[i].link) relay_hold(srv->workers->w[i].link);
}

void workers_release(struct server *srv)
{
    if (!srv->workers) return;
    for (uint32_t i = 0; i < srv->workers->n; i++)
        if (srv->workers->w[i].link) relay_release(srv->workers->w[i].link);
}

/* A new worker gets every mount and its whole window, so it can give its
 * first listeners the same burst the others get. */
static void send_snapshot(struct worker *w)
{
    struct server *srv = w->srv;
    for (uint32_t i = 0; i < srv->mounts_len && w->link; i++) {
        const struct mount *m = srv->mounts[i];
        if (!m->prelude) continue;
        send_open(w, m);
        for (uint64_t s = m->ring.tail; s < m->ring.head && w->link; s++)
            send_page(w, m, ring_get(&m->ring, s));
    }
}

/* ---- what workers send ------------------------------------------------- */

static bool take_stats(struct worker *w, const uint8_t *p, uint32_t len)
{
    if (len < sizeof(struct metrics) + 4) return false;
    uint32_t n = relay_get_u32(p + sizeof(struct metrics));
    if (n > w->srv->conf.mounts_max ||
        len != sizeof(struct metrics) + 4 + (size_t)n * sizeof(struct workers_mount_stat))
        return false;
    if (n > w->mstats_len || !w->mstats) {
        void *np = realloc(w->mstats, (n ? n : 1) * sizeof(*w->mstats));
        if (!np) return true; /* keep the old report */
        w->mstats = np;
    }
    memcpy(&w->stats, p, sizeof(w->stats));
    memcpy(w->mstats, p + sizeof(struct metrics) + 4, n * sizeof(*w->mstats));
    w->mstats_len = n;
    return true;
}

static bool on_frame(struct relay *r, uint8_t type, const uint8_t *p, uint32_t len, int fd)
{
    struct worker *w = r->data;
    switch (type) {
    case RELAY_STATS:
        if (take_stats(w, p, len)) return true;
        log_warn("worker %u: malformed stats frame", w->index);
        return false;
    case RELAY_HANDOFF: {
        struct prefix pfx;
        if (len < EDGE_HANDOFF_HEAD_BYTES) {
            close(fd);
            log_warn("worker %u: short handoff frame", w->index);
            return false;
        }
        memcpy(pfx.b, p + 1, sizeof(pfx.b));
        conn_adopt(w->srv, fd, &pfx, p[0], (const char *)p + EDGE_HANDOFF_HEAD_BYTES,
                   len - EDGE_HANDOFF_HEAD_BYTES);
        return true;
    }
    default:
        log_warn("worker %u: unexpected frame type %u", w->index, type);
        return false;
    }
}

static void on_close(struct relay *r, const char *why)
{
    struct worker *w = r->data;
    w->link = NULL;
    if (w->pid && !w->srv->workers->stopping) {
        log_warn("worker %u: relay link closed (%s); restarting it", w->index, why);
        kill(w->pid, SIGTERM);
    }
}

/* ---- processes --------------------------------------------------------- */

static int spawn(struct worker *w)
{
    struct server *srv = w->srv;
    int sv[2];
    char idx[16];
    snprintf(idx, sizeof(idx), "%u", w->index);
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) return -errno;
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        close(sv[0]);
        close(sv[1]);
        return -e;
    }
    if (pid == 0) {
        /* Child: only async-signal-safe calls until exec. Everything the
         * origin holds is close-on-exec; the two descriptors the worker
         * needs become 3 (listening) and 4 (relay). */
        sigset_t all;
        sigemptyset(&all);
        sigprocmask(SIG_SETMASK, &all, NULL);
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() != parent) _exit(1);
        int l = fcntl(w->listen_fd, F_DUPFD_CLOEXEC, 10);
        int rl = fcntl(sv[1], F_DUPFD_CLOEXEC, 10);
        if (l < 0 || rl < 0 || dup2(l, 3) < 0 || dup2(rl, 4) < 0) _exit(1);
        char *argv[] = {"podium", "worker", idx, NULL};
        execv("/proc/self/exe", argv);
        _exit(127);
    }
    close(sv[1]);
    if (fcntl(sv[0], F_SETFL, fcntl(sv[0], F_GETFL) | O_NONBLOCK) < 0) {
        int e = errno;
        close(sv[0]);
        kill(pid, SIGTERM);
        return -e;
    }
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    w->pid = pid;
    w->started_ms = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
    w->link = relay_open(srv->loop, sv[0], WORKERS_QUEUE_BYTES_MAX, on_frame, on_close, w);
    if (!w->link) {
        close(sv[0]);
        kill(pid, SIGTERM);
        return -ENOMEM;
    }

    uint8_t hello[4];
    relay_put_u32(hello, RELAY_VERSION);
    relay_send(w->link, RELAY_HELLO, hello, sizeof(hello));
    /* The worker's share of the listener caps; no secrets leave the origin. */
    struct conf c = srv->conf;
    uint32_t n = srv->workers->n;
    memset(c.source_password, 0, sizeof(c.source_password));
    c.listeners_max = (c.listeners_max + n - 1) / n;
    c.mount_listeners_max = (c.mount_listeners_max + n - 1) / n;
    c.workers = n;
    if (w->link) relay_send(w->link, RELAY_CONF, &c, sizeof(c));
    if (w->link) send_snapshot(w);
    log_debug("worker %u: started, pid %d", w->index, (int)pid);
    return 0;
}

static void on_restart(struct loop *loop, struct timer *t)
{
    struct worker *w = t->data;
    if (w->srv->workers->stopping || w->pid) return;
    int e = spawn(w);
    if (e < 0) {
        log_error("worker %u: cannot start: %s", w->index, strerror(-e));
        timer_start(loop, t, WORKERS_BACKOFF_MS_MAX);
    }
}

static void add_counters(struct metrics *dst, const struct metrics *src, bool gauges)
{
    uint64_t *d = (uint64_t *)dst;
    const uint64_t *s = (const uint64_t *)src;
    for (size_t i = 0; i < sizeof(*dst) / sizeof(uint64_t); i++)
        d[i] += s[i];
    if (!gauges) {
        dst->connections -= src->connections;
        dst->listeners -= src->listeners;
        dst->sources -= src->sources;
    }
}

void workers_reap(struct server *srv)
{
    struct workers *ws = srv->workers;
    int st;
    pid_t pid;
    while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
        if (!ws) continue;
        for (uint32_t i = 0; i < ws->n; i++) {
            struct worker *w = &ws->w[i];
            if (w->pid != pid) continue;
            w->pid = 0;
            add_counters(&ws->retired, &w->stats, false);
            memset(&w->stats, 0, sizeof(w->stats));
            w->mstats_len = 0;
            if (w->link) relay_close(w->link, "worker exited");
            if (ws->stopping || loop_stopping(srv->loop)) break;
            if (WIFSIGNALED(st))
                log_error("worker %u (pid %d) killed by signal %d; its listeners reconnect",
                          w->index, (int)pid, WTERMSIG(st));
            else
                log_warn("worker %u (pid %d) exited with %d", w->index, (int)pid, WEXITSTATUS(st));
            uint64_t up = loop_now_ms(srv->loop) - w->started_ms;
            if (up >= WORKERS_STABLE_MS) w->backoff_ms = WORKERS_BACKOFF_MS_MIN;
            ws->restarts++;
            timer_start(srv->loop, &w->restart, w->backoff_ms);
            w->backoff_ms *= 2;
            if (w->backoff_ms > WORKERS_BACKOFF_MS_MAX) w->backoff_ms = WORKERS_BACKOFF_MS_MAX;
            break;
        }
    }
}

int workers_start(struct server *srv, uint32_t n, const void *ssv, unsigned sl)
{
    struct sockaddr_storage ss;
    memcpy(&ss, ssv, sizeof(ss));
    struct workers *ws = calloc(1, sizeof(*ws));
    if (!ws || !(ws->w = calloc(n, sizeof(*ws->w)))) {
        free(ws);
        log_error("out of memory");
        return -1;
    }
    ws->n = n;
    srv->workers = ws;
    for (uint32_t i = 0; i < n; i++) {
        struct worker *w = &ws->w[i];
        w->srv = srv;
        w->index = i;
        w->listen_fd = -1;
        w->backoff_ms = WORKERS_BACKOFF_MS_MIN;
        timer_init(&w->restart, on_restart, w);
        if (i > 0) {
            if (ss.ss_family == AF_INET)
                ((struct sockaddr_in *)&ss)->sin_port = htons(srv->port);
            else
                ((struct sockaddr_in6 *)&ss)->sin6_port = htons(srv->port);
        }
        int fd = net_listen(&ss, (socklen_t)sl, (int)srv->conf.backlog, 1);
        if (fd < 0) {
            log_error("listen on %s (worker %u): %s", srv->conf.listen, i, strerror(-fd));
            return -1;
        }
        w->listen_fd = fd;
        if (i == 0) srv->port = net_local_port(fd);
    }
    for (uint32_t i = 0; i < n; i++) {
        int e = spawn(&ws->w[i]);
        if (e < 0) {
            log_error("worker %u: cannot start: %s", i, strerror(-e));
            return -1;
        }
    }
    return 0;
}

void workers_stop(struct server *srv)
{
    struct workers *ws = srv->workers;
    if (!ws) return;
    ws->stopping = true;
    for (uint32_t i = 0; i < ws->n; i++) {
        struct worker *w = &ws->w[i];
        timer_stop(srv->loop, &w->restart);
        if (w->pid) kill(w->pid, SIGTERM);
    }
    uint64_t deadline = clock_mono_ms() + WORKERS_STOP_MS;
    for (;;) {
        uint32_t alive = 0;
        workers_reap(srv);
        for (uint32_t i = 0; i < ws->n; i++)
            alive += ws->w[i].pid != 0;
        if (!alive) break;
        if (clock_mono_ms() >= deadline) {
            for (uint32_t i = 0; i < ws->n; i++)
                if (ws->w[i].pid) {
                    log_warn("worker %u did not stop; killing it", i);
                    kill(ws->w[i].pid, SIGKILL);
                    waitpid(ws->w[i].pid, NULL, 0);
                    ws->w[i].pid = 0;
                }
            break;
        }
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    for (uint32_t i = 0; i < ws->n; i++) {
        struct worker *w = &ws->w[i];
        if (w->link) relay_close(w->link, "stopping");
        if (w->listen_fd >= 0) close(w->listen_fd);
        free(w->mstats);
    }
    free(ws->w);
    free(ws);
    srv->workers = NULL;
}

void workers_totals(const struct server *srv, struct metrics *out)
{
    *out = srv->m;
    const struct workers *ws = srv->workers;
    if (!ws) return;
    add_counters(out, &ws->retired, true);
    for (uint32_t i = 0; i < ws->n; i++)
        add_counters(out, &ws->w[i].stats, true);
}

void workers_mount_counts(const struct server *srv, const struct mount *m, uint64_t *listeners,
                          uint64_t *joins)
{
    const struct workers *ws = srv->workers;
    *listeners = m->listeners.len;
    *joins = m->joins;
    if (!ws) return;
    for (uint32_t i = 0; i < ws->n; i++)
        for (uint32_t j = 0; j < ws->w[i].mstats_len; j++)
            if (ws->w[i].mstats[j].id == m->id) {
                *listeners += ws->w[i].mstats[j].listeners;
                *joins += ws->w[i].mstats[j].joins;
            }
}

uint32_t workers_running(const struct server *srv)
{
    uint32_t n = 0;
    if (srv->workers)
        for (uint32_t i = 0; i < srv->workers->n; i++)
            n += srv->workers->w[i].pid != 0;
    return n;
}

uint64_t workers_restarts(const struct server *srv)
{
    return srv->workers ? srv->workers->restarts : 0;
}
