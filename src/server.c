/* server: set-up, routing, timers, signals, shutdown. */
#include "server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "admit.h"
#include "api.h"
#include "edge.h"
#include "fanout.h"
#include "gate.h"
#include "log.h"
#include "mount.h"
#include "net.h"
#include "relay.h"
#include "rtp.h"
#include "source.h"
#include "space.h"
#include "testsig.h"
#include "web.h"
#include "workers.h"

#define HOUSEKEEPING_MS_MAX 1000 /* deadlines are checked at least this often */
#define HOUSEKEEPING_MS_MIN 25
#define FD_RESERVE 64 /* fds kept back for sources, logs and the data folder */
#define YOUNG_FLUSH_MS 250 /* a young stream's listeners wait at most this for pages */

/* The newest pages before they are needed: from the origin (a worker) or
 * from the sources that are read when needed (source_pump). */
static void pump(struct server *srv)
{
    edge_pump(srv);
    source_pump(srv);
}

/* The next flush pass is due <after_ms> from now: flush_ms after this one
 * ran, so a machine that cannot keep up stretches the cadence instead of
 * piling passes up (a worker's first one: see server_init_worker). */
static void start_flush(struct server *srv, uint64_t after_ms)
{
    timer_start(srv->loop, &srv->flush, after_ms);
    srv->flush_due_ms = srv->flush.when_ms;
}

/* The flush pass. Its lag, from the due time to the last write (a fresh
 * clock: the pass itself may take a while), is what the listener furthest
 * down the list waits beyond the cadence; passes that wrote nothing are not
 * counted, so an idle worker's counters stay still. */
static void on_flush(struct loop *loop, struct timer *t)
{
    struct server *srv = t->data;
    uint64_t writes = srv->m.writes;
    pump(srv);
    fanout_tick(srv);
    if (srv->m.writes != writes) {
        uint64_t done_ms = clock_mono_ms();
        metrics_flush_lag(&srv->m, done_ms > srv->flush_due_ms ? done_ms - srv->flush_due_ms : 0);
    }
    start_flush(srv, srv->conf.flush_ms);
}

/* A stream that went live less than burst_ms ago gives a joining listener
 * less than its burst, perhaps one page; its player would run dry long
 * before a pass a whole flush_ms later. So while a mount is young its
 * listeners get a pass every YOUNG_FLUSH_MS as well: the gaps in what they
 * receive grow from a quarter of a second to the cadence, never at once from
 * almost nothing. The regular flush keeps its own timer and phase. */
static void on_young(struct loop *loop, struct timer *t)
{
    struct server *srv = t->data;
    pump(srv);
    if (fanout_young_tick(srv)) timer_start(loop, t, YOUNG_FLUSH_MS);
}

static void young_listener(struct server *srv, const struct mount *m)
{
    if (srv->conf.flush_ms > YOUNG_FLUSH_MS && !timer_armed(&srv->young) &&
        mount_young(m, srv->conf.burst_ms))
        timer_start(srv->loop, &srv->young, YOUNG_FLUSH_MS);
}

/* housekeeping_ms: deadlines (header, source silence, grace periods) are
 * checked every quarter of the shortest of them, at most a second apart (the
 * defaults); with the slack below, one is kept to within 3/8 of itself. */
static uint32_t housekeeping_ms(const struct conf *c)
{
    const uint32_t deadlines[] = {c->header_timeout_ms, c->source_timeout_ms, c->mount_grace_ms,
                                  c->stage_grace_ms};
    uint32_t ms = HOUSEKEEPING_MS_MAX;
    for (size_t i = 0; i < sizeof(deadlines) / sizeof(deadlines[0]); i++)
        if (deadlines[i] && deadlines[i] / 4 < ms) ms = deadlines[i] / 4;
    return ms < HOUSEKEEPING_MS_MIN ? HOUSEKEEPING_MS_MIN : ms;
}

/* The chores may run up to half a period late: they ride on the flush or on
 * I/O instead of waking the process on their own (timer_start_slack). */
static void start_housekeeping(struct server *srv)
{
    uint32_t ms = housekeeping_ms(&srv->conf);
    timer_start_slack(srv->loop, &srv->housekeeping, ms, ms / 2);
}

static void on_housekeeping(struct loop *loop, struct timer *t)
{
    struct server *srv = t->data;
    uint64_t now = loop_now_ms(loop);
    conn_expire(srv, now);
    source_expire(srv, now);
    mount_housekeeping(srv, now);
    space_housekeeping(srv, now);
    if (srv->role == SERVER_WORKER) edge_send_stats(srv);
    start_housekeeping(srv);
}

static void on_accept_resume(struct loop *loop, struct timer *t)
{
    struct server *srv = t->data;
    srv->accept_paused = false;
    if (io_set(loop, &srv->listen_io, LOOP_READ) < 0) {
        srv->accept_paused = true;
        timer_start(loop, t, 100);
    }
}

void server_resume_accept(struct server *srv)
{
    /* Resume on the timer, not here: a close inside a burst of closes
     * should not re-register the listening socket every time. */
    if (srv->accept_paused && !timer_armed(&srv->accept_resume))
        timer_start(srv->loop, &srv->accept_resume, 0);
}

static void on_signal(struct loop *loop, struct io *io, uint32_t events)
{
    struct signalfd_siginfo si;
    while (read(io->fd, &si, sizeof(si)) == sizeof(si)) {
        if (si.ssi_signo == SIGCHLD) {
            workers_reap(io->data);
            continue;
        }
        /* A worker follows its origin: Ctrl-C reaches the whole process
         * group, and the origin stops its workers in order. */
        if (((struct server *)io->data)->role == SERVER_WORKER) {
            if (si.ssi_signo == SIGINT) continue;
        } else {
            log_info("signal %u: shutting down", si.ssi_signo);
        }
        loop_stop(loop);
    }
}

static bool is_get_or_head(const struct http_request *req, bool *head)
{
    *head = http_method_is(req, "HEAD");
    return *head || http_method_is(req, "GET");
}

static void serve_metrics(struct conn *c, bool head)
{
    struct server *srv = c->srv;
    char *text;
    size_t len;
    if (metrics_render(srv, &text, &len) < 0) {
        conn_reject(c, 503, REJ_OUT_OF_MEMORY, "out of memory", "Retry-After: 1\r\n");
        return;
    }
    conn_respond(c, 200, "text/plain; version=0.0.4; charset=utf-8", text, len, head);
    free(text);
}

static void route_listener(struct conn *c, const struct http_request *req, const char *name,
                           bool head)
{
    struct server *srv = c->srv;
    pump(srv); /* the newest pages (and, in a worker, mounts) first */
    struct mount *m = mount_find(srv, name);
    char ra[64];
    struct fanout_start start;
    const char *why;
    if (fanout_start_params(&srv->conf, req->query, req->query_len, &start, &why) < 0) {
        conn_reject(c, 400, REJ_BAD_REQUEST, why, "");
        return;
    }
    if (!m || !m->prelude) {
        conn_reject(c, 404, REJ_NOT_FOUND, "no such mount", "");
        return;
    }
    /* A ticketed space's listener shows its admission ticket before
     * anything is allocated for it. */
    if (m->ticketed && !gate_stream_check(c, req, m)) return;
    snprintf(ra, sizeof(ra), "Retry-After: %u\r\n", srv->conf.retry_after_s);
    if (srv->m.listeners >= srv->conf.listeners_max) {
        conn_reject(c, 503, REJ_LISTENER_CAP, "server is at its listener limit", ra);
        return;
    }
    if (m->listeners.len >= srv->conf.mount_listeners_max) {
        conn_reject(c, 503, REJ_LISTENER_CAP, "mount is at its listener limit", ra);
        return;
    }
    fanout_join(c, m, head, start);
    young_listener(srv, m);
}

/* The overload ladder's class of a request this process serves itself.
 * Listeners are audio: an open mount's GET is its own admission, a ticketed
 * one's was admitted by the join. Joins classify themselves (gatejoin.c);
 * health checks, /metrics and /api/status are never shed, so the operator
 * can see what is happening while it happens. */
static int request_class(const struct http_request *req, const char *name_or_null)
{
    const char *p = req->path;
    size_t pl = req->path_len;
    if (name_or_null) return OVERLOAD_AUDIO;
    if (http_method_is(req, "PUT") || http_method_is(req, "SOURCE")) return OVERLOAD_SPEAKER;
    if ((pl == 8 && !memcmp(p, "/healthz", 8)) || (pl == 8 && !memcmp(p, "/metrics", 8)) ||
        (pl >= 11 && !memcmp(p, "/api/status", 11)))
        return -1;
    if (api_is(p, pl)) {
        size_t k = pl;
        while (k > 5 && p[k - 1] != '/') k--;
        if (pl - k == 4 && !memcmp(p + k, "join", 4)) return -1;   /* gatejoin.c decides */
        if (pl - k == 5 && !memcmp(p + k, "stage", 5)) return OVERLOAD_SPEAKER;
    }
    return OVERLOAD_OTHER;
}

/* Which requests a worker hands to its origin: those that need the origin's
 * state (sources, the server-wide counters). Listeners, health checks, the
 * embedded pages and every refusal are answered where they arrive. */
static bool origin_only(const struct http_request *req)
{
    if (http_method_is(req, "PUT") || http_method_is(req, "SOURCE")) return true;
    if (api_is(req->path, req->path_len)) return true;
    return req->path_len == 8 && !memcmp(req->path, "/metrics", 8);
}

int64_t server_body_bytes(const struct server *srv, const struct http_request *req,
                          const char **why)
{
    if (srv->role == SERVER_WORKER || !api_is(req->path, req->path_len)) return 0;
    if (http_method_is(req, "GET") || http_method_is(req, "HEAD")) return 0;
    if (http_find_header(req, "Transfer-Encoding")) {
        *why = "send the body with Content-Length";
        return -411;
    }
    const struct http_header *cl = http_find_header(req, "Content-Length");
    if (!cl) return 0;
    uint64_t n = 0;
    if (cl->value_len == 0 || cl->value_len > 9) goto bad;
    for (size_t i = 0; i < cl->value_len; i++) {
        if (cl->value[i] < '0' || cl->value[i] > '9') goto bad;
        n = n * 10 + (uint64_t)(cl->value[i] - '0');
    }
    if (n > API_BODY_BYTES_MAX) {
        *why = "request body too large";
        return -413;
    }
    return (int64_t)n;
bad:
    *why = "bad Content-Length";
    return -400;
}

void server_route(struct conn *c, const struct http_request *req, const char *raw,
                  size_t raw_len, size_t head_len)
{
    char name[MOUNT_NAME_BYTES_MAX + 1];
    bool head;
    const char *p = req->path;
    size_t pl = req->path_len;
    const char *rest = raw + head_len;
    size_t rest_len = raw_len - head_len;

    if (c->srv->role == SERVER_WORKER && origin_only(req)) {
        edge_handoff(c, raw, raw_len);
        return;
    }
    c->srv->m.gate_requests++;
    bool is_mount = mount_from_path(p, pl, name);
    int cls = request_class(req, is_mount && !http_method_is(req, "PUT") &&
                                         !http_method_is(req, "SOURCE")
                                     ? name
                                     : NULL);
    if (cls >= 0 && !gate_admits(c->srv, (enum overload_class)cls)) {
        gate_refuse(c, 503, TIMELINE_R_OVERLOAD, "the server is shedding load; try again", 5);
        return;
    }
    if (api_is(p, pl)) {
        api_route(c, req, rest, rest_len);
        return;
    }
    if (http_method_is(req, "PUT") || http_method_is(req, "SOURCE")) {
        if (!mount_from_path(p, pl, name)) {
            conn_reject(c, 404, REJ_NOT_FOUND, "sources publish to /live/NAME.opus", "");
            return;
        }
        source_start(c, req, name, rest, rest_len);
        return;
    }
    if (!is_get_or_head(req, &head)) {
        conn_reject(c, 405, REJ_METHOD, "method not allowed",
                    "Allow: GET, HEAD, PUT, SOURCE, POST, DELETE\r\n");
        return;
    }
    if (is_mount) {
        route_listener(c, req, name, head);
    } else if (pl == 8 && !memcmp(p, "/healthz", 8)) {
        conn_respond(c, 200, "text/plain", "ok\n", 3, head);
    } else if (pl == 8 && !memcmp(p, "/metrics", 8)) {
        serve_metrics(c, head);
    } else {
        const struct web_file *f = web_find(p, pl);
        if (f)
            conn_respond(c, 200, f->type, (const char *)f->data, f->len, head);
        else
            conn_reject(c, 404, REJ_NOT_FOUND, "not found", "");
    }
}

static int prepare_data_dir(const char *dir)
{
    if (mkdir(dir, 0750) < 0 && errno != EEXIST) {
        log_error("data folder %s: %s", dir, strerror(errno));
        return -1;
    }
    return 0;
}

static uint32_t effective_connections_max(const struct conf *conf)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        getrlimit(RLIMIT_NOFILE, &rl);
    }
    uint64_t fds = rl.rlim_cur > FD_RESERVE * 2 ? rl.rlim_cur - FD_RESERVE : FD_RESERVE;
    if (conf->connections_max && conf->connections_max < fds) return conf->connections_max;
    return fds > UINT32_MAX ? UINT32_MAX : (uint32_t)fds;
}

static void random_password(char *out, size_t len)
{
    static const char alphabet[] = "abcdefghijkmnpqrstuvwxyz23456789";
    uint8_t rnd[16] = {0};
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        if (read(fd, rnd, sizeof(rnd)) != sizeof(rnd)) memset(rnd, 7, sizeof(rnd));
        close(fd);
    }
    size_t n = len - 1 < sizeof(rnd) ? len - 1 : sizeof(rnd);
    for (size_t i = 0; i < n; i++) out[i] = alphabet[rnd[i] % (sizeof(alphabet) - 1)];
    out[n] = 0;
}

/* The parts every role shares: limits, buffers, the loop, signals, timers. */
static int init_common(struct server *srv)
{
    sigset_t mask;
    srv->http_limits.header_bytes_max = srv->conf.header_bytes_max;
    srv->http_limits.uri_bytes_max = srv->conf.uri_bytes_max;
    srv->http_limits.headers_max = srv->conf.headers_max;
    srv->connections_max = effective_connections_max(&srv->conf);
    srv->listen_io.fd = -1;

    srv->scratch_len = srv->conf.source_read_bytes_max;
    if (srv->scratch_len < srv->conf.header_bytes_max + 1)
        srv->scratch_len = srv->conf.header_bytes_max + 1;
    srv->scratch = malloc(srv->scratch_len);
    srv->loop = loop_new(0);
    if (!srv->scratch || !srv->loop) {
        log_error("out of memory");
        return -1;
    }

    signal(SIGPIPE, SIG_IGN);
    sigemptyset(&mask);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGCHLD);
    sigprocmask(SIG_BLOCK, &mask, NULL);
    int sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
    if (sfd < 0) {
        log_error("signalfd: %s", strerror(errno));
        return -1;
    }
    io_init(&srv->signal_io, sfd, on_signal, srv);
    io_set(srv->loop, &srv->signal_io, LOOP_READ);

    timer_init(&srv->flush, on_flush, srv);
    timer_init(&srv->housekeeping, on_housekeeping, srv);
    timer_init(&srv->accept_resume, on_accept_resume, srv);
    timer_init(&srv->young, on_young, srv);
    source_read_init(srv);
    start_flush(srv, srv->conf.flush_ms);
    start_housekeeping(srv);
    srv->started_ms = loop_now_ms(srv->loop);
    return 0;
}

static void listen_on(struct server *srv, int fd)
{
    io_init(&srv->listen_io, fd, conn_accept_ready, srv);
    io_set(srv->loop, &srv->listen_io, LOOP_READ);
}

int server_init(struct server *srv, const struct conf *conf)
{
    char err[256], addr[96];
    struct sockaddr_storage ss;
    socklen_t sl;

    memset(srv, 0, sizeof(*srv));
    srv->conf = *conf;
    if (conf_check(&srv->conf, err, sizeof(err)) < 0) {
        log_error("config: %s", err);
        return -1;
    }
    if (net_parse_hostport(srv->conf.listen, &ss, &sl, err, sizeof(err)) < 0) {
        log_error("listen: %s", err);
        return -1;
    }
    if (prepare_data_dir(srv->conf.data_dir) < 0) return -1;
    if (!srv->conf.source_password[0]) {
        random_password(srv->conf.source_password, 13);
        log_info("no source password set; this run's is: %s", srv->conf.source_password);
    }
    if (!srv->conf.gate_secret[0]) {
        /* Random per start: tickets do not survive a restart. Workers get
         * it with the rest of the settings (CONF frame). */
        uint8_t raw[32];
        admit_rng_os(NULL, raw, sizeof(raw));
        for (size_t i = 0; i < sizeof(raw); i++)
            snprintf(srv->conf.gate_secret + 2 * i, 3, "%02x", raw[i]);
    }
    if (init_common(srv) < 0) return -1;
    srv->source_buf = malloc(srv->conf.source_read_bytes_max);
    if (!srv->source_buf) {
        log_error("out of memory");
        return -1;
    }

    if (space_system_init(srv) < 0 || rtp_open(srv) < 0) return -1;

    uint32_t nworkers = workers_count(srv, srv->connections_max);
    srv->role = nworkers ? SERVER_ORIGIN : SERVER_SINGLE;
    if (gate_init(srv) < 0) return -1;
    if (nworkers) {
        if (workers_start(srv, nworkers, &ss, sl) < 0) return -1;
        /* Listeners are the workers' (requests come here only handed off):
         * no flush pass here, one wake-up a second less. */
        timer_stop(srv->loop, &srv->flush);
    } else {
        srv->role = SERVER_SINGLE;
        int fd = net_listen(&ss, sl, (int)srv->conf.backlog, 1);
        if (fd < 0) {
            log_error("listen on %s: %s", srv->conf.listen, strerror(-fd));
            return -1;
        }
        listen_on(srv, fd);
        srv->port = net_local_port(fd);
    }

    if (srv->conf.demo) {
        int dfd = -1;
        srv->testsig = testsig_start(&dfd);
        if (!srv->testsig) {
            log_error("demo source: %s", strerror(errno));
            return -1;
        }
        fcntl(dfd, F_SETFL, fcntl(dfd, F_GETFL) | O_NONBLOCK);
        if (source_start_internal(srv, dfd, "demo") < 0) {
            close(dfd);
            log_error("demo source could not start");
            return -1;
        }
    }

    if (ss.ss_family == AF_INET)
        ((struct sockaddr_in *)&ss)->sin_port = htons(srv->port);
    else
        ((struct sockaddr_in6 *)&ss)->sin6_port = htons(srv->port);
    net_format(&ss, addr, sizeof(addr));
    /* Tests and scripts read this line for the port. */
    fprintf(stderr, "podium: listening on http://%s\n", addr);
    log_info("data folder %s; %u worker process%s, connections up to %u each%s",
             srv->conf.data_dir, nworkers, nworkers == 1 ? "" : "es", srv->connections_max,
             srv->conf.demo ? "; demo stream at /live/demo.opus" : "");
    return 0;
}

int server_init_worker(struct server *srv, uint32_t index, int listen_fd, int relay_fd)
{
    memset(srv, 0, sizeof(*srv));
    srv->role = SERVER_WORKER;
    srv->worker_index = index;
    if (edge_read_conf(relay_fd, &srv->conf) < 0) return -1;
    srv->conf.demo = false;
    if (init_common(srv) < 0 || gate_init(srv) < 0) return -1;
    if (fcntl(relay_fd, F_SETFL, fcntl(relay_fd, F_GETFL) | O_NONBLOCK) < 0 ||
        fcntl(listen_fd, F_SETFL, fcntl(listen_fd, F_GETFL) | O_NONBLOCK) < 0 ||
        edge_attach(srv, relay_fd) < 0) {
        log_error("worker %u: %s", index, strerror(errno));
        return -1;
    }
    listen_on(srv, listen_fd);
    /* Worker i of n makes its first pass (i + 1)/n of a period from now:
     * workers started together would otherwise all write at the same
     * moment, share the cores for the whole pass, and each one's last
     * listener would wait for all of them. Never more than a period: a
     * listener who joins a young stream has little audio to start with. */
    uint32_t n = srv->conf.workers > index ? srv->conf.workers : index + 1;
    start_flush(srv, (uint64_t)srv->conf.flush_ms * (index + 1) / n);
    return 0;
}

int server_run(struct server *srv)
{
    int r = loop_run(srv->loop);
    if (r < 0) {
        log_error("event loop: %s", strerror(-r));
        return 1;
    }
    return 0;
}

void server_destroy(struct server *srv)
{
    if (srv->loop) {
        /* Stop the demo first so its thread is not writing into a closed
         * socket; then close everything, mounts last. */
        if (srv->testsig) testsig_stop(srv->testsig);
        srv->testsig = NULL;
        workers_stop(srv);
        if (srv->upstream) relay_close(srv->upstream, "stopping");
        if (srv->listen_io.events) io_set(srv->loop, &srv->listen_io, 0);
        if (srv->listen_io.fd >= 0) close(srv->listen_io.fd);
        rtp_close(srv);
        space_system_stop(srv); /* stage peers move to the linger list */
        while (srv->requests.head) conn_close(srv->requests.head);
        while (srv->lingering.head) conn_close(srv->lingering.head);
        while (srv->files.head) conn_close(srv->files.head);
        while (srv->handoffs.head) conn_close(srv->handoffs.head);
        while (srv->sources) conn_close(srv->sources->conn);
        for (uint32_t i = 0; i < srv->mounts_len; i++) {
            struct mount *m = srv->mounts[i];
            while (m->listeners.head) conn_close(m->listeners.head);
        }
        /* The deferred frees only: a due timer or a ready io would run
         * against what is already gone (the gate's tick read the closed
         * store). */
        loop_run_deferred(srv->loop);
        for (uint32_t i = 0; i < srv->mounts_len; i++) mount_free(srv->mounts[i]);
        gate_free(srv); /* after every connection let go of its prefix */
        io_set(srv->loop, &srv->signal_io, 0);
        close(srv->signal_io.fd);
        loop_free(srv->loop);
    }
    free(srv->mounts);
    free(srv->scratch);
    free(srv->source_buf);
    free(srv->stats);
}
