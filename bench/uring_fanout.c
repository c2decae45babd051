/* uring_fanout: is an io_uring back-end worth it? (issue #4)
 *
 * Two side-by-side measurements on loopback, epoll-style syscalls against
 * io_uring, every mode in the same run so the ratios share the machine:
 *
 *   uring_fanout fanout [--listeners 1000,5000,15000] [--cadence-ms 100,500]
 *                       [--modes writev,uring,uring-fixed,uring-sqpoll]
 *                       [--reps 3] [--window-ms 10000] [--sq-idle-ms 1]
 *   uring_fanout accept [--conns 20000] [--servers 2] [--modes epoll,uring,uring-direct]
 *                       [--watch 0,1] [--prequeue 0,1] [--reps 3] [--timeout-ms 20000]
 *   uring_fanout all    (both, defaults)
 *
 * fanout: this process is the server. It forks client processes (at most
 * 10,000 connections each, source addresses 127.0.0.(2 + i / 10000)) and
 * accepts N connections from them. Then, per rep and cadence, one window in
 * which every mode sends the same bytes to every socket once per cadence,
 * the modes taking turns pass by pass (--window-ms of passes per mode), so
 * load from elsewhere on the machine falls on all modes alike: one 431-byte
 * page at 100 ms, five pages as five iovecs at 500 ms (what src/fanout.c
 * writes at flush_ms 100 and 500). Modes:
 *   writev        one writev() per socket (src/fanout.c today)
 *   uring         one IORING_OP_WRITEV SQE per socket, one io_uring_submit()
 *                 per pass, completions reaped (SINGLE_ISSUER|DEFER_TASKRUN)
 *   uring-fixed   the same with the sockets in the registered file table
 *   uring-sqpoll  registered files and a kernel submission thread (SQPOLL,
 *                 idle after --sq-idle-ms): no io_uring_enter to submit
 * Server CPU is CLOCK_PROCESS_CPUTIME_ID of this process from a pass's
 * deadline to the next: it holds only the server thread plus the kernel
 * threads io_uring starts for it (the SQPOLL thread, io-wq workers), never
 * the clients'. The clients sleep on a pipe, not on their sockets: after
 * each pass the server writes one byte to each client, which drains its
 * sockets with MSG_DONTWAIT recv()s and acks. A reader asleep on its socket
 * would make every send pay for a wakeup that a remote listener does not
 * cost, and a reader draining during the pass would take part of the
 * loopback receive work off the server's bill.
 *
 * accept: --conns connections split over server processes (a server needs
 * one fd per connection and the hard limit is 20,000 per process), each
 * with its own listening socket (backlog 4096) and its own client process.
 * Clients create and bind their sockets first. Arrival "together": all
 * processes are released at once and the clients connect() as fast as they
 * can (--servers servers). Arrival "prequeued": the clients connect first,
 * into the accept queues (so at most 4,000 per server), then the servers
 * are released to drain them. Server modes:
 *   epoll         epoll_wait on the listener, accept4() until EAGAIN (at most
 *                 512 per wakeup, as bench/floor.c)
 *   uring         one multishot IORING_OP_ACCEPT, CQEs reaped in batches
 *   uring-direct  multishot accept into the registered file table (no fd)
 * With --watch 1 each accepted socket is also watched for reading, as a
 * server must (epoll_ctl ADD, or a multishot IORING_OP_POLL_ADD).
 * Reported: time from release to the last accept, server CPU, CPU per accept.
 *
 * Every number is printed per run, then a summary with medians over --reps
 * and ratios to the epoll-style mode, with /proc/loadavg before and after:
 * the machine is shared. Every loop is bounded in count and time; every
 * child exits by itself within an hour even if this process dies.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
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
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#pragma GCC poison strcpy sprintf gets strtok atoi

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

enum {
    page_bytes = 431, /* one 100 ms Opus page at 32 kbit/s, as bench/floor.c */
    pages_per_send_max = 16,
    listeners_per_server_max = 19000, /* hard fd limit 20,000 per process, minus slack */
    conns_per_client_max = 10000,     /* fan-out clients: one process per 10,000 */
    conns_per_src = 10000,            /* per 127.0.0.x source address, as bench/reader */
    clients_max = 8,
    servers_max = 8,
    list_max = 8, /* values in a comma list */
    reps_max = 15,
    ring_entries_max = 32768, /* IORING_MAX_ENTRIES */
    accept_sq_entries = 4096,
    accept_cq_entries = 16384,    /* a whole per-server burst fits without overflow */
    accepts_per_wakeup_max = 512, /* as bench/floor.c */
    backlog = 4096,               /* capped by net.core.somaxconn (4096 here) */
    recvs_per_sweep_max = 16,     /* per socket per client sweep */
    recv_buf_bytes = 65536,
    events_max = 256,
    cq_wait_ms_max = 2000, /* a pass's completions on loopback take microseconds */
    setup_ms_max = 60000,  /* connecting/accepting N before measuring */
    window_ms_max = 600000,
    child_life_ms_max = 3600000, /* every child exits by itself after an hour */
    null_syscalls = 200000,      /* per round of the syscall-cost probe */
    prequeue_per_server = 4000,  /* a prequeued share must fit the 4096 accept queue */
    prequeue_settle_ms = 200,
};

#define NS_PER_S 1000000000ull

static uint64_t clock_ns(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (uint64_t)ts.tv_sec * NS_PER_S + (uint64_t)ts.tv_nsec;
}

static uint64_t mono_ns(void)
{
    return clock_ns(CLOCK_MONOTONIC);
}

static void sleep_until_ns(uint64_t t_ns)
{
    struct timespec ts = {.tv_sec = (time_t)(t_ns / NS_PER_S), .tv_nsec = (long)(t_ns % NS_PER_S)};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
        ;
}

static void loadavg(char *buf, size_t len)
{
    FILE *f = fopen("/proc/loadavg", "r");
    buf[0] = '\0';
    if (!f) return;
    if (!fgets(buf, (int)len, f)) buf[0] = '\0';
    fclose(f);
    buf[strcspn(buf, "\n")] = '\0';
}

/* Writes all of <len> bytes to a blocking pipe. 0 or -errno. */
static int write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return n < 0 ? -errno : -EPIPE;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Reads exactly <len> bytes within <timeout_ms>. 0, -ETIMEDOUT, -EPIPE on
 * EOF, or -errno. */
static int read_full(int fd, void *buf, size_t len, uint32_t timeout_ms)
{
    char *p = buf;
    uint64_t end = mono_ns() + (uint64_t)timeout_ms * 1000000u;
    while (len) {
        uint64_t now = mono_ns();
        if (now >= end) return -ETIMEDOUT;
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        int rc = poll(&pfd, 1, (int)((end - now) / 1000000u) + 1);
        if (rc < 0 && errno != EINTR) return -errno;
        if (rc <= 0) continue;
        ssize_t n = read(fd, p, len);
        if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
        if (n <= 0) return n < 0 ? -errno : -EPIPE;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Blocks until the write end of <fd> is closed everywhere (EOF), at most
 * <timeout_ms>. Bytes read meanwhile are discarded. */
static void wait_eof(int fd, uint32_t timeout_ms)
{
    char b[64];
    uint64_t end = mono_ns() + (uint64_t)timeout_ms * 1000000u;
    for (;;) {
        uint64_t now = mono_ns();
        if (now >= end) return;
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        if (poll(&pfd, 1, (int)((end - now) / 1000000u) + 1) <= 0) continue;
        if (read(fd, b, sizeof(b)) == 0) return;
    }
}

/* The parent may die mid-run: children then die too, and in any case exit
 * after child_life_ms_max. */
static void child_guard(void)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    alarm(child_life_ms_max / 1000);
}

static void raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

/* A TCP listener on 127.0.0.1, port chosen by the kernel. Returns the fd
 * and the port in <port>, or -errno. */
static int listen_loopback(bool nonblock, uint16_t *port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | (nonblock ? SOCK_NONBLOCK : 0), 0);
    if (fd < 0) return -errno;
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, backlog) < 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &len) < 0) {
        int err = -errno;
        close(fd);
        return err;
    }
    *port = ntohs(sa.sin_port);
    return fd;
}

/* A client socket bound to 127.0.0.(2 + <i> / conns_per_src), port chosen
 * at connect time. Returns the fd or -errno. */
static int client_socket(uint32_t i, bool nonblock)
{
    struct sockaddr_in src = {.sin_family = AF_INET};
    int one = 1;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | (nonblock ? SOCK_NONBLOCK : 0), 0);
    if (fd < 0) return -errno;
    src.sin_addr.s_addr = htonl(0x7f000000u | (2u + i / conns_per_src));
    setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&src, sizeof(src)) < 0) {
        int err = -errno;
        close(fd);
        return err;
    }
    return fd;
}

/* Closes with an RST: no TIME_WAIT left behind on either side, on a machine
 * where other benchmarks run too. */
static void close_rst(int fd)
{
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    close(fd);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Median of <n> values (sorted in place); spread = (max - min) / median. */
static double median(double *v, uint32_t n, double *spread)
{
    double m;
    qsort(v, n, sizeof(*v), cmp_double);
    m = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
    if (spread) *spread = m > 0 ? (v[n - 1] - v[0]) / m : 0;
    return m;
}

/* ---- options ------------------------------------------------------------ */

enum fan_mode { FAN_WRITEV, FAN_URING, FAN_URING_FIXED, FAN_URING_SQPOLL, fan_modes_n };
static const char *const fan_mode_names[fan_modes_n] = {"writev", "uring", "uring-fixed",
                                                        "uring-sqpoll"};

enum acc_mode { ACC_EPOLL, ACC_URING, ACC_URING_DIRECT, acc_modes_n };
static const char *const acc_mode_names[acc_modes_n] = {"epoll", "uring", "uring-direct"};

struct opts {
    uint32_t listeners[list_max];
    uint32_t listeners_n;
    uint32_t cadence_ms[list_max];
    uint32_t cadence_n;
    bool fan_modes[fan_modes_n];
    bool acc_modes[acc_modes_n];
    bool watch[2];
    bool prequeue[2];
    uint32_t reps;
    uint32_t window_ms;
    uint32_t sq_idle_ms;
    uint32_t conns;
    uint32_t servers;
    uint32_t timeout_ms;
};

static void usage(void)
{
    fprintf(stderr,
            "usage: uring_fanout fanout [--listeners 1000,5000,15000] [--cadence-ms 100,500]\n"
            "                           [--modes writev,uring,uring-fixed,uring-sqpoll]\n"
            "                           [--reps 3] [--window-ms 10000] [--sq-idle-ms 1]\n"
            "       uring_fanout accept [--conns 20000] [--servers 2]\n"
            "                           [--modes epoll,uring,uring-direct] [--watch 0,1]\n"
            "                           [--prequeue 0,1]\n"
            "                           [--reps 3] [--timeout-ms 20000]\n"
            "       uring_fanout all\n");
    exit(2);
}

/* Parses "a,b,c" into <out> (at most list_max values, each in [lo, hi]).
 * Returns the count, or exits through usage(). */
static uint32_t parse_list(const char *s, uint32_t *out, uint32_t lo, uint32_t hi)
{
    uint32_t n = 0;
    while (*s) {
        char *end;
        unsigned long v = strtoul(s, &end, 10);
        if (end == s || v < lo || v > hi || n == list_max || (*end && *end != ',')) usage();
        out[n++] = (uint32_t)v;
        s = *end ? end + 1 : end;
    }
    if (!n) usage();
    return n;
}

static uint32_t parse_u32(const char *s, uint32_t lo, uint32_t hi)
{
    uint32_t v;
    if (parse_list(s, &v, lo, hi) != 1) usage();
    return v;
}

/* Sets <on>[i] for each name of <names> listed in "a,b". */
static void parse_names(const char *s, const char *const *names, uint32_t names_n, bool *on)
{
    memset(on, 0, names_n * sizeof(*on));
    while (*s) {
        size_t len = strcspn(s, ",");
        uint32_t i;
        for (i = 0; i < names_n; i++)
            if (strlen(names[i]) == len && !strncmp(s, names[i], len)) break;
        if (i == names_n) usage();
        on[i] = true;
        s += len + (s[len] == ',');
    }
}

static void parse_opts(int argc, char **argv, struct opts *o)
{
    *o = (struct opts){.listeners = {1000, 5000, 15000},
                       .listeners_n = 3,
                       .cadence_ms = {100, 500},
                       .cadence_n = 2,
                       .fan_modes = {true, true, true, true},
                       .acc_modes = {true, true, true},
                       .watch = {true, true},
                       .prequeue = {true, true},
                       .reps = 3,
                       .window_ms = 10000,
                       .sq_idle_ms = 1,
                       .conns = 20000,
                       .servers = 2,
                       .timeout_ms = 20000};
    bool fanout = !strcmp(argv[1], "fanout");
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i], *v = argv[i + 1];
        if (i + 1 >= argc) usage();
        i++;
        if (!strcmp(a, "--listeners")) {
            o->listeners_n = parse_list(v, o->listeners, 1, listeners_per_server_max);
        } else if (!strcmp(a, "--cadence-ms")) {
            o->cadence_n = parse_list(v, o->cadence_ms, 10, 5000);
        } else if (!strcmp(a, "--modes")) {
            if (fanout)
                parse_names(v, fan_mode_names, fan_modes_n, o->fan_modes);
            else
                parse_names(v, acc_mode_names, acc_modes_n, o->acc_modes);
        } else if (!strcmp(a, "--watch")) {
            uint32_t w[list_max], n = parse_list(v, w, 0, 1);
            o->watch[0] = o->watch[1] = false;
            for (uint32_t k = 0; k < n; k++)
                o->watch[w[k]] = true;
        } else if (!strcmp(a, "--prequeue")) {
            uint32_t w[list_max], n = parse_list(v, w, 0, 1);
            o->prequeue[0] = o->prequeue[1] = false;
            for (uint32_t k = 0; k < n; k++)
                o->prequeue[w[k]] = true;
        } else if (!strcmp(a, "--reps")) {
            o->reps = parse_u32(v, 1, reps_max);
        } else if (!strcmp(a, "--window-ms")) {
            o->window_ms = parse_u32(v, 100, window_ms_max);
        } else if (!strcmp(a, "--sq-idle-ms")) {
            o->sq_idle_ms = parse_u32(v, 1, 10000);
        } else if (!strcmp(a, "--conns")) {
            o->conns = parse_u32(v, 1, servers_max * listeners_per_server_max);
        } else if (!strcmp(a, "--servers")) {
            o->servers = parse_u32(v, 1, servers_max);
        } else if (!strcmp(a, "--timeout-ms")) {
            o->timeout_ms = parse_u32(v, 100, setup_ms_max);
        } else {
            usage();
        }
    }
    if ((o->conns + o->servers - 1) / o->servers > listeners_per_server_max) {
        fprintf(stderr, "uring_fanout: more than %d connections per server; add --servers\n",
                listeners_per_server_max);
        exit(2);
    }
}

/* ---- fan-out: clients ---------------------------------------------------- */

struct client_report {
    uint64_t bytes, cpu_ns;
    uint32_t closed, err;
};

/* A fan-out client: connects <count> sockets (global indexes from <first>)
 * to <dst>, says so on <ready_w> (a uint32: how many), then after each tick
 * on <tick_r> drains every socket and acks with one byte on <ready_w>. EOF
 * on <tick_r> ends it: a last drain, the report on <res_w>, RST on every
 * socket. Never returns. */
static void fan_client(const struct sockaddr_in *dst, uint32_t first, uint32_t count, int ready_w,
                       int tick_r, int res_w)
{
    static char buf[recv_buf_bytes];
    struct client_report rep = {0};
    int *fds = calloc(count, sizeof(*fds));
    uint32_t n = 0;
    bool last = false;

    if (!fds) _exit(3);
    for (; n < count; n++) {
        int fd = client_socket(first + n, false);
        if (fd < 0 || connect(fd, (const struct sockaddr *)dst, sizeof(*dst)) < 0) {
            rep.err = (uint32_t)(fd < 0 ? -fd : errno);
            if (fd >= 0) close(fd);
            break;
        }
        fcntl(fd, F_SETFL, O_NONBLOCK);
        fds[n] = fd;
    }
    uint32_t ok = n;
    if (write_all(ready_w, &ok, sizeof(ok)) < 0) _exit(3);
    while (!last) {
        struct pollfd pfd = {.fd = tick_r, .events = POLLIN};
        if (poll(&pfd, 1, 2000) <= 0) continue; /* child_guard bounds the whole life */
        char t[64];
        ssize_t r = read(tick_r, t, sizeof(t));
        if (r == 0)
            last = true;
        else if (r < 0)
            continue;
        for (uint32_t i = 0; i < n; i++) {
            if (fds[i] < 0) continue;
            for (int k = 0; k < recvs_per_sweep_max; k++) {
                ssize_t got = recv(fds[i], buf, sizeof(buf), MSG_DONTWAIT);
                if (got > 0) {
                    rep.bytes += (uint64_t)got;
                    if ((size_t)got == sizeof(buf)) continue;
                } else if (got == 0 || (errno != EAGAIN && errno != EINTR)) {
                    close(fds[i]);
                    fds[i] = -1;
                    rep.closed++;
                }
                break;
            }
        }
        if (!last && write_all(ready_w, "a", 1) < 0) _exit(3);
    }
    rep.cpu_ns = clock_ns(CLOCK_PROCESS_CPUTIME_ID);
    write_all(res_w, &rep, sizeof(rep));
    for (uint32_t i = 0; i < n; i++)
        if (fds[i] >= 0) close_rst(fds[i]);
    _exit(0);
}

/* ---- fan-out: the server side --------------------------------------------- */

struct fan_sample {
    uint64_t cpu_ns;    /* process: server thread + io_uring kernel threads */
    uint64_t thread_ns; /* the server thread alone */
    uint64_t passes, late, sends, bad, bytes;
    uint64_t pass_ns_sum, pass_ns_max;
};

struct fan {
    int *fds;
    uint32_t n;
    struct iovec iov[pages_per_send_max];
    int iov_n;
    size_t send_bytes;
    struct io_uring ring[fan_modes_n]; /* one per io_uring mode, all up during a window */
    bool ring_up[fan_modes_n];
    unsigned ring_flags[fan_modes_n];
    uint64_t bytes_total; /* every byte the server wrote, warm-up included */
};

static unsigned pow2_at_least(uint32_t n)
{
    unsigned v = 1;
    while (v < n && v < ring_entries_max)
        v <<= 1;
    return v;
}

static bool mode_fixed(enum fan_mode mode)
{
    return mode == FAN_URING_FIXED || mode == FAN_URING_SQPOLL;
}

/* Sets up the ring of <mode> (nothing for writev). 0 or -errno. */
static int fan_ring_up(struct fan *f, enum fan_mode mode, uint32_t sq_idle_ms)
{
    struct io_uring *ring = &f->ring[mode];
    struct io_uring_params p;
    int rc;

    if (mode == FAN_WRITEV) return 0;
    memset(&p, 0, sizeof(p));
    if (mode == FAN_URING_SQPOLL) {
        p.flags = IORING_SETUP_SQPOLL;
        p.sq_thread_idle = sq_idle_ms;
    } else {
        /* What a single-threaded loop would use: completions run only when
         * this thread asks for them, no cross-thread signalling. */
        p.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
    }
    rc = io_uring_queue_init_params(pow2_at_least(f->n), ring, &p);
    if (rc == -EINVAL && mode != FAN_URING_SQPOLL) {
        p.flags = IORING_SETUP_COOP_TASKRUN; /* kernels before 6.1 */
        rc = io_uring_queue_init_params(pow2_at_least(f->n), ring, &p);
    }
    if (rc < 0) return rc;
    f->ring_flags[mode] = p.flags;
    if (mode_fixed(mode) && (rc = io_uring_register_files(ring, f->fds, f->n)) < 0) {
        io_uring_queue_exit(ring);
        return rc;
    }
    f->ring_up[mode] = true;
    return 0;
}

static void fan_rings_down(struct fan *f)
{
    for (int m = 0; m < fan_modes_n; m++) {
        if (f->ring_up[m]) io_uring_queue_exit(&f->ring[m]);
        f->ring_up[m] = false;
    }
}

static void account_send(struct fan *f, struct fan_sample *s, ssize_t res)
{
    s->sends++;
    if (res > 0) {
        s->bytes += (uint64_t)res;
        f->bytes_total += (uint64_t)res;
    }
    if (res != (ssize_t)f->send_bytes)
        s->bad++; /* short, EAGAIN or error: none expected on loopback */
}

static void pass_writev(struct fan *f, struct fan_sample *s)
{
    for (uint32_t i = 0; i < f->n; i++)
        account_send(f, s, writev(f->fds[i], f->iov, f->iov_n));
}

/* Reaps completions until <*inflight> is 0, waiting only when <wait>.
 * 0 or -errno (-ETIME: completions still missing after cq_wait_ms_max). */
static int reap(struct fan *f, struct io_uring *ring, struct fan_sample *s, uint32_t *inflight,
                bool wait)
{
    while (*inflight) {
        struct io_uring_cqe *cqe;
        unsigned head, seen = 0;
        io_uring_for_each_cqe(ring, head, cqe)
        {
            account_send(f, s, cqe->res);
            seen++;
        }
        io_uring_cq_advance(ring, seen);
        *inflight -= seen;
        if (!*inflight || !wait) return 0;
        struct __kernel_timespec ts = {.tv_sec = cq_wait_ms_max / 1000};
        int rc = io_uring_wait_cqes(ring, &cqe, *inflight, &ts, NULL);
        if (rc < 0 && rc != -EINTR) return rc;
    }
    return 0;
}

/* One SQE per socket, one submit for the lot (more only if N exceeds the
 * ring), then every completion. 0 or -errno. */
static int pass_uring(struct fan *f, enum fan_mode mode, struct fan_sample *s)
{
    struct io_uring *ring = &f->ring[mode];
    const bool fixed = mode_fixed(mode);
    uint32_t inflight = 0;
    int rc;

    for (uint32_t i = 0; i < f->n; i++) {
        struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
        if (!sqe) {
            if ((rc = io_uring_submit(ring)) < 0) return rc;
            if ((rc = reap(f, ring, s, &inflight, false)) < 0) return rc;
            sqe = io_uring_get_sqe(ring);
            if (!sqe) return -EBUSY;
        }
        if (fixed) {
            io_uring_prep_writev(sqe, (int)i, f->iov, (unsigned)f->iov_n, 0);
            sqe->flags |= IOSQE_FIXED_FILE;
        } else {
            io_uring_prep_writev(sqe, f->fds[i], f->iov, (unsigned)f->iov_n, 0);
        }
        sqe->user_data = i;
        inflight++;
    }
    if ((rc = io_uring_submit(ring)) < 0) return rc;
    return reap(f, ring, s, &inflight, true);
}

static int fan_pass(struct fan *f, enum fan_mode mode, struct fan_sample *s)
{
    if (mode == FAN_WRITEV) {
        pass_writev(f, s);
        return 0;
    }
    return pass_uring(f, mode, s);
}

struct clients {
    const int *tick_w;
    int ack_r;
    uint32_t n;
};

/* Tells every client a pass is done and waits until all have drained their
 * sockets: the clients never run during a pass, so the server's sends never
 * meet a reader holding the socket or its cache lines. The wait is sleep,
 * not CPU. 0 or -errno. */
static int drain_clients(const struct clients *cl)
{
    char acks[clients_max];
    for (uint32_t c = 0; c < cl->n; c++)
        if (write_all(cl->tick_w[c], "t", 1) < 0) return -EPIPE;
    return read_full(cl->ack_r, acks, cl->n, cq_wait_ms_max * 5);
}

/* One measured window. The modes in <order> take turns pass by pass (one
 * warm-up pass each first), so a drift in the machine's load hits every
 * mode alike. Pass k's CPU is read from its deadline to the next one:
 * whole cadence periods, so an SQPOLL thread spinning after its pass is
 * charged to it. <s>[mode] gets <passes> passes per mode. 0 or -errno. */
static int fan_window(struct fan *f, const enum fan_mode *order, uint32_t order_n,
                      uint32_t cadence_ms, uint32_t passes, const struct clients *cl,
                      struct fan_sample *s)
{
    const uint64_t period = (uint64_t)cadence_ms * 1000000u;
    struct fan_sample warm = {0};
    int rc;

    for (uint32_t k = 0; k < order_n; k++) {
        memset(&s[order[k]], 0, sizeof(s[order[k]]));
        if ((rc = fan_pass(f, order[k], &warm)) < 0 || (rc = drain_clients(cl)) < 0) return rc;
        sleep_until_ns(mono_ns() + period / 4);
    }
    uint64_t next = mono_ns() + period;
    sleep_until_ns(next);
    uint64_t cpu_prev = clock_ns(CLOCK_PROCESS_CPUTIME_ID);
    uint64_t thr_prev = clock_ns(CLOCK_THREAD_CPUTIME_ID);
    for (uint32_t p = 0; p < passes * order_n; p++) {
        struct fan_sample *ms = &s[order[p % order_n]];
        uint64_t t0 = mono_ns();
        if ((rc = fan_pass(f, order[p % order_n], ms)) < 0) return rc;
        uint64_t dt = mono_ns() - t0;
        if ((rc = drain_clients(cl)) < 0) return rc;
        ms->passes++;
        ms->pass_ns_sum += dt;
        if (dt > ms->pass_ns_max) ms->pass_ns_max = dt;
        next += period;
        uint64_t now = mono_ns();
        if (now >= next) {
            ms->late++;
            next = now; /* fell behind: do not burst */
        }
        sleep_until_ns(next);
        uint64_t cpu = clock_ns(CLOCK_PROCESS_CPUTIME_ID);
        uint64_t thr = clock_ns(CLOCK_THREAD_CPUTIME_ID);
        ms->cpu_ns += cpu - cpu_prev;
        ms->thread_ns += thr - thr_prev;
        cpu_prev = cpu;
        thr_prev = thr;
    }
    return 0;
}

/* CPU-µs per listener-second: the window's CPU over N listeners, each served
 * for passes × cadence. */
static double per_listener_s(const struct fan_sample *s, uint32_t n, uint32_t cadence_ms)
{
    double listener_s = (double)n * (double)s->passes * cadence_ms / 1000.0;
    return listener_s > 0 ? (double)s->cpu_ns / 1000.0 / listener_s : 0;
}

struct fan_results {
    struct fan_sample s[list_max][list_max][reps_max][fan_modes_n]; /* [n][cadence][rep][mode] */
    unsigned flags[fan_modes_n];
    char load_before[list_max][64], load_after[list_max][64];
    struct client_report clients[list_max];
    uint64_t bytes_sent[list_max];
};

/* Runs every rep, cadence and mode at one N. 0 or -errno. */
static int fan_at(const struct opts *o, uint32_t ni, struct fan_results *res)
{
    const uint32_t n = o->listeners[ni];
    const uint32_t clients_n = (n + conns_per_client_max - 1) / conns_per_client_max;
    int tick_r[clients_max], tick_w[clients_max], res_r[clients_max], res_w[clients_max];
    int ready[2] = {-1, -1};
    pid_t pids[clients_max];
    uint32_t forked = 0, accepted = 0;
    struct fan f = {.n = n};
    static uint8_t pages[pages_per_send_max][page_bytes];
    uint16_t port;
    int rc = 0;

    for (uint32_t c = 0; c < clients_max; c++)
        tick_r[c] = tick_w[c] = res_r[c] = res_w[c] = -1;
    int lfd = listen_loopback(true, &port);
    if (lfd < 0) return lfd;
    f.fds = calloc(n, sizeof(*f.fds));
    if (!f.fds) {
        rc = -ENOMEM;
        goto out_close_lfd;
    }
    if (pipe2(ready, O_CLOEXEC) < 0) {
        rc = -errno;
        goto out_clients;
    }
    for (uint32_t c = 0; c < clients_n; c++) {
        int t[2], r[2];
        if (pipe2(t, O_CLOEXEC) < 0) {
            rc = -errno;
            goto out_clients;
        }
        tick_r[c] = t[0], tick_w[c] = t[1];
        if (pipe2(r, O_CLOEXEC) < 0) {
            rc = -errno;
            goto out_clients;
        }
        res_r[c] = r[0], res_w[c] = r[1];
    }
    struct sockaddr_in dst = {
        .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    for (; forked < clients_n; forked++) {
        uint32_t first = forked * conns_per_client_max;
        uint32_t count = n - first < conns_per_client_max ? n - first : conns_per_client_max;
        pid_t pid = fork();
        if (pid < 0) {
            rc = -errno;
            goto out_clients;
        }
        if (pid == 0) {
            child_guard();
            close(lfd);
            close(ready[0]);
            for (uint32_t c = 0; c < clients_n; c++) {
                close(tick_w[c]);
                close(res_r[c]);
                if (c != forked) close(tick_r[c]), close(res_w[c]);
            }
            fan_client(&dst, first, count, ready[1], tick_r[forked], res_w[forked]);
        }
        pids[forked] = pid;
    }
    for (uint32_t c = 0; c < clients_n; c++) {
        close(tick_r[c]), close(res_w[c]);
        tick_r[c] = res_w[c] = -1;
    }
    close(ready[1]);
    ready[1] = -1;

    /* Accept all N before anything is measured. */
    uint64_t end = mono_ns() + (uint64_t)setup_ms_max * 1000000u;
    while (accepted < n && mono_ns() < end) {
        struct pollfd pfd = {.fd = lfd, .events = POLLIN};
        if (poll(&pfd, 1, 100) <= 0) continue;
        for (int k = 0; k < accepts_per_wakeup_max && accepted < n; k++) {
            int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
            if (fd < 0) break;
            int one = 1;
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)); /* as src/fanout.c */
            f.fds[accepted++] = fd;
        }
    }
    for (uint32_t c = 0; c < clients_n; c++) {
        uint32_t ok = 0;
        if (read_full(ready[0], &ok, sizeof(ok), setup_ms_max) < 0) ok = 0;
        (void)ok;
    }
    if (accepted < n) {
        fprintf(stderr, "uring_fanout: only %u of %u connections accepted\n", accepted, n);
        rc = -ECONNREFUSED;
        goto out_fds;
    }

    struct clients cl = {.tick_w = tick_w, .ack_r = ready[0], .n = clients_n};
    loadavg(res->load_before[ni], sizeof(res->load_before[ni]));
    fprintf(stderr, "fanout: n=%u clients=%u load %s\n", n, clients_n, res->load_before[ni]);
    for (uint32_t r = 0; r < o->reps; r++) {
        for (uint32_t ci = 0; ci < o->cadence_n; ci++) {
            uint32_t cad = o->cadence_ms[ci];
            uint32_t passes = o->window_ms / cad ? o->window_ms / cad : 1;
            f.iov_n = cad / 100 ? (int)(cad / 100) : 1; /* one page per 100 ms */
            if (f.iov_n > pages_per_send_max) f.iov_n = pages_per_send_max;
            f.send_bytes = (size_t)f.iov_n * page_bytes;
            for (int k = 0; k < f.iov_n; k++) {
                memset(pages[k], 0x5a, page_bytes);
                memcpy(pages[k], "OggS", 4);
                f.iov[k] = (struct iovec){.iov_base = pages[k], .iov_len = page_bytes};
            }
            /* Rotate the order each rep so no mode always runs first. */
            enum fan_mode order[fan_modes_n];
            uint32_t order_n = 0;
            for (uint32_t k = 0; k < fan_modes_n; k++) {
                enum fan_mode m = (enum fan_mode)((k + r) % fan_modes_n);
                if (!o->fan_modes[m]) continue;
                order[order_n++] = m;
                if ((rc = fan_ring_up(&f, m, o->sq_idle_ms)) < 0) {
                    fprintf(stderr, "uring_fanout: %s: ring setup: %s\n", fan_mode_names[m],
                            strerror(-rc));
                    fan_rings_down(&f);
                    goto out_fds;
                }
                res->flags[m] = f.ring_flags[m];
            }
            struct fan_sample *s = res->s[ni][ci][r];
            rc = fan_window(&f, order, order_n, cad, passes, &cl, s);
            fan_rings_down(&f);
            if (rc < 0) {
                fprintf(stderr, "uring_fanout: pass: %s\n", strerror(-rc));
                goto out_fds;
            }
            char la[64];
            loadavg(la, sizeof(la));
            for (uint32_t k = 0; k < order_n; k++) {
                const struct fan_sample *ms = &s[order[k]];
                printf("fanout n=%u cadence_ms=%u mode=%s rep=%u passes=%llu late=%llu "
                       "cpu_us_per_ls=%.3f thread_share=%.2f pass_ms_mean=%.2f pass_ms_max=%.2f "
                       "sends=%llu bad=%llu load=\"%s\"\n",
                       n, cad, fan_mode_names[order[k]], r + 1, (unsigned long long)ms->passes,
                       (unsigned long long)ms->late, per_listener_s(ms, n, cad),
                       ms->cpu_ns ? (double)ms->thread_ns / (double)ms->cpu_ns : 0,
                       ms->passes ? (double)ms->pass_ns_sum / (double)ms->passes / 1e6 : 0,
                       (double)ms->pass_ns_max / 1e6, (unsigned long long)ms->sends,
                       (unsigned long long)ms->bad, la);
            }
        }
    }
    loadavg(res->load_after[ni], sizeof(res->load_after[ni]));
    res->bytes_sent[ni] = f.bytes_total;

out_fds:
    /* Clients do a last drain, report and reset their ends. */
    for (uint32_t c = 0; c < clients_n; c++) {
        close(tick_w[c]);
        tick_w[c] = -1;
    }
    for (uint32_t c = 0; c < forked; c++) {
        struct client_report cr = {0};
        if (read_full(res_r[c], &cr, sizeof(cr), setup_ms_max) == 0) {
            res->clients[ni].bytes += cr.bytes;
            res->clients[ni].cpu_ns += cr.cpu_ns;
            res->clients[ni].closed += cr.closed;
            if (!res->clients[ni].err) res->clients[ni].err = cr.err;
        }
    }
    for (uint32_t i = 0; i < accepted; i++)
        close(f.fds[i]);
out_clients:
    for (uint32_t c = 0; c < clients_n; c++) {
        int *ends[] = {&tick_r[c], &tick_w[c], &res_r[c], &res_w[c]};
        for (size_t k = 0; k < sizeof(ends) / sizeof(ends[0]); k++)
            if (*ends[k] >= 0) close(*ends[k]);
    }
    for (uint32_t c = 0; c < forked; c++)
        waitpid(pids[c], NULL, 0);
    if (ready[0] >= 0) close(ready[0]);
    if (ready[1] >= 0) close(ready[1]);
out_close_lfd:
    free(f.fds);
    close(lfd);
    return rc;
}

static void flags_str(unsigned flags, char *buf, size_t len)
{
    snprintf(buf, len, "%s%s%s%s", flags & IORING_SETUP_SQPOLL ? "SQPOLL " : "",
             flags & IORING_SETUP_SINGLE_ISSUER ? "SINGLE_ISSUER " : "",
             flags & IORING_SETUP_DEFER_TASKRUN ? "DEFER_TASKRUN " : "",
             flags & IORING_SETUP_COOP_TASKRUN ? "COOP_TASKRUN " : "");
}

static void fan_summary(const struct opts *o, struct fan_results *res)
{
    printf("\n## fan-out: server CPU-us per listener-second, median of %u windows "
           "(spread = (max-min)/median; x writev = median of the per-window ratios)\n\n",
           o->reps);
    printf("| N | cadence | mode | CPU-us/l-s | spread | x writev | ratio range | thread share "
           "| pass ms | late | bad |\n");
    printf("| ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n");
    for (uint32_t ni = 0; ni < o->listeners_n; ni++) {
        uint32_t n = o->listeners[ni];
        for (uint32_t ci = 0; ci < o->cadence_n; ci++) {
            uint32_t cad = o->cadence_ms[ci];
            for (uint32_t m = 0; m < fan_modes_n; m++) {
                double v[reps_max], ratio[reps_max], share[reps_max], pass[reps_max], spread;
                uint64_t late = 0, bad = 0;
                if (!o->fan_modes[m]) continue;
                for (uint32_t r = 0; r < o->reps; r++) {
                    const struct fan_sample *ms = &res->s[ni][ci][r][m];
                    double base = per_listener_s(&res->s[ni][ci][r][FAN_WRITEV], n, cad);
                    v[r] = per_listener_s(ms, n, cad);
                    ratio[r] = base > 0 ? v[r] / base : 0;
                    share[r] = ms->cpu_ns ? (double)ms->thread_ns / (double)ms->cpu_ns : 0;
                    pass[r] = ms->passes ? (double)ms->pass_ns_sum / (double)ms->passes / 1e6 : 0;
                    late += ms->late;
                    bad += ms->bad;
                }
                double med = median(v, o->reps, &spread);
                char rs[16] = "-", rr[32] = "-";
                if (o->fan_modes[FAN_WRITEV]) {
                    snprintf(rs, sizeof(rs), "%.2f", median(ratio, o->reps, NULL));
                    snprintf(rr, sizeof(rr), "%.2f-%.2f", ratio[0], ratio[o->reps - 1]);
                }
                printf("| %u | %u ms | %s | %.2f | %.0f%% | %s | %s | %.2f | %.2f | %llu | %llu "
                       "|\n",
                       n, cad, fan_mode_names[m], med, spread * 100, rs, rr,
                       median(share, o->reps, NULL), median(pass, o->reps, NULL),
                       (unsigned long long)late, (unsigned long long)bad);
            }
        }
    }
    printf("\nload average (1, 5, 15 min) before / after each N:\n");
    for (uint32_t ni = 0; ni < o->listeners_n; ni++) {
        const struct client_report *c = &res->clients[ni];
        printf("  N=%u: %s / %s; server wrote %llu B, clients read %llu B, clients closed %u, "
               "client error %s, client CPU %.2f s\n",
               o->listeners[ni], res->load_before[ni], res->load_after[ni],
               (unsigned long long)res->bytes_sent[ni], (unsigned long long)c->bytes, c->closed,
               c->err ? strerror((int)c->err) : "-", (double)c->cpu_ns / 1e9);
    }
    for (uint32_t m = FAN_URING; m < fan_modes_n; m++) {
        char fl[96];
        if (!o->fan_modes[m]) continue;
        flags_str(res->flags[m], fl, sizeof(fl));
        printf("  %s ring flags: %s%s\n", fan_mode_names[m], fl,
               mode_fixed((enum fan_mode)m) ? "+ registered files" : "");
    }
}

static int fan_main(const struct opts *o)
{
    struct fan_results *res = calloc(1, sizeof(*res));
    int rc = 0;
    if (!res) return -ENOMEM;
    for (uint32_t ni = 0; ni < o->listeners_n && rc == 0; ni++)
        rc = fan_at(o, ni, res);
    if (rc == 0) fan_summary(o, res);
    free(res);
    return rc;
}

/* ---- accept burst ------------------------------------------------------- */

enum { MSG_SERVER_READY = 1, MSG_CLIENT_READY, MSG_SERVER_DONE, MSG_CLIENT_DONE };

struct acc_msg {
    int32_t type;
    int32_t idx;
    int32_t err; /* first error seen, as a positive errno */
    uint32_t port;
    uint64_t count; /* accepted (server) / connects issued (client) */
    uint64_t cpu_ns;
    uint64_t last_ns; /* since release: last accept (server) / last connect issued (client) */
    uint64_t waits;   /* epoll_wait / io_uring_enter calls that waited */
    uint64_t failed;  /* accept or connect calls that failed other than EAGAIN/EINPROGRESS */
};

struct acc_server {
    enum acc_mode mode;
    bool watch;
    uint32_t quota;
    int lfd, epfd;
    struct io_uring ring;
    struct acc_msg m;
    uint64_t t0;
};

static void acc_note_err(struct acc_msg *m, int err)
{
    m->failed++;
    if (!m->err) m->err = err;
}

static void acc_got(struct acc_server *s)
{
    s->m.count++;
    s->m.last_ns = mono_ns() - s->t0;
}

static struct io_uring_sqe *acc_sqe(struct acc_server *s)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(&s->ring);
    if (!sqe) {
        io_uring_submit(&s->ring);
        sqe = io_uring_get_sqe(&s->ring);
    }
    return sqe;
}

/* (Re-)arms the multishot accept. 0 or -errno. */
static int acc_arm(struct acc_server *s)
{
    struct io_uring_sqe *sqe = acc_sqe(s);
    if (!sqe) return -EBUSY;
    if (s->mode == ACC_URING_DIRECT)
        io_uring_prep_multishot_accept_direct(sqe, s->lfd, NULL, NULL, SOCK_NONBLOCK);
    else
        io_uring_prep_multishot_accept(sqe, s->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    sqe->user_data = 0;
    return 0;
}

static int acc_setup(struct acc_server *s)
{
    uint16_t port;
    int rc;

    s->lfd = listen_loopback(s->mode == ACC_EPOLL, &port);
    if (s->lfd < 0) return s->lfd;
    s->m.port = port;
    if (s->mode == ACC_EPOLL) {
        struct epoll_event ev = {.events = EPOLLIN, .data.fd = s->lfd};
        s->epfd = epoll_create1(EPOLL_CLOEXEC);
        if (s->epfd < 0 || epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->lfd, &ev) < 0) return -errno;
        return 0;
    }
    struct io_uring_params p = {.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN |
                                         IORING_SETUP_CQSIZE,
                                .cq_entries = accept_cq_entries};
    rc = io_uring_queue_init_params(accept_sq_entries, &s->ring, &p);
    if (rc < 0) return rc;
    if (s->mode == ACC_URING_DIRECT &&
        (rc = io_uring_register_files_sparse(&s->ring, s->quota + 16)) < 0)
        return rc;
    if ((rc = acc_arm(s)) < 0) return rc;
    rc = io_uring_submit(&s->ring);
    return rc < 0 ? rc : 0;
}

static void acc_run_epoll(struct acc_server *s, uint64_t deadline)
{
    struct epoll_event evs[events_max];
    while (s->m.count < s->quota) {
        uint64_t now = mono_ns();
        if (now >= deadline) return;
        int n = epoll_wait(s->epfd, evs, events_max, (int)((deadline - now) / 1000000u) + 1);
        s->m.waits++;
        for (int i = 0; i < n; i++) {
            if (evs[i].data.fd != s->lfd) continue;
            for (int k = 0; k < accepts_per_wakeup_max; k++) {
                int fd = accept4(s->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
                if (fd < 0) {
                    if (errno != EAGAIN && errno != EINTR) acc_note_err(&s->m, errno);
                    break;
                }
                acc_got(s);
                if (s->watch) {
                    struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
                    if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) acc_note_err(&s->m, errno);
                }
            }
        }
    }
}

static void acc_run_uring(struct acc_server *s, uint64_t deadline)
{
    while (s->m.count < s->quota) {
        uint64_t now = mono_ns();
        if (now >= deadline) return;
        struct __kernel_timespec ts = {.tv_sec = (long long)((deadline - now) / NS_PER_S),
                                       .tv_nsec = (long long)((deadline - now) % NS_PER_S)};
        struct io_uring_cqe *cqe;
        int rc = io_uring_submit_and_wait_timeout(&s->ring, &cqe, 1, &ts, NULL);
        s->m.waits++;
        if (rc < 0 && rc != -ETIME && rc != -EINTR) {
            acc_note_err(&s->m, -rc);
            return;
        }
        unsigned head, seen = 0;
        bool rearm = false;
        io_uring_for_each_cqe(&s->ring, head, cqe)
        {
            seen++;
            if (cqe->user_data != 0) continue; /* a watch: nobody sends, so only errors come here */
            if (!(cqe->flags & IORING_CQE_F_MORE)) rearm = true;
            if (cqe->res < 0) {
                if (cqe->res != -EAGAIN) acc_note_err(&s->m, -cqe->res);
                continue;
            }
            acc_got(s);
            if (!s->watch) continue;
            struct io_uring_sqe *sqe = acc_sqe(s);
            if (!sqe) {
                acc_note_err(&s->m, EBUSY);
                continue;
            }
            io_uring_prep_poll_multishot(sqe, cqe->res, POLLIN);
            if (s->mode == ACC_URING_DIRECT) sqe->flags |= IOSQE_FIXED_FILE;
            sqe->user_data = 1;
        }
        io_uring_cq_advance(&s->ring, seen);
        if (rearm && acc_arm(s) < 0) {
            acc_note_err(&s->m, EBUSY);
            return;
        }
    }
    /* The watches of the last batch are armed only when submitted: that is
     * part of the work, as epoll_ctl() is for epoll. */
    int rc = io_uring_submit(&s->ring);
    if (rc < 0) acc_note_err(&s->m, -rc);
}

/* A burst server: sets up, reports its port, waits for release (EOF on
 * <go_r>), accepts its quota or gives up at <timeout_ms>, reports, then
 * holds its connections until EOF on <end_r>. Never returns. */
static void acc_server_main(struct acc_server *s, int go_r, int msg_w, int end_r,
                            uint32_t timeout_ms)
{
    int rc = acc_setup(s);
    s->m.type = MSG_SERVER_READY;
    s->m.err = rc < 0 ? -rc : 0;
    if (write_all(msg_w, &s->m, sizeof(s->m)) < 0 || rc < 0) _exit(3);
    wait_eof(go_r, setup_ms_max);
    s->t0 = mono_ns();
    uint64_t cpu0 = clock_ns(CLOCK_PROCESS_CPUTIME_ID);
    uint64_t deadline = s->t0 + (uint64_t)timeout_ms * 1000000u;
    if (s->mode == ACC_EPOLL)
        acc_run_epoll(s, deadline);
    else
        acc_run_uring(s, deadline);
    s->m.cpu_ns = clock_ns(CLOCK_PROCESS_CPUTIME_ID) - cpu0;
    s->m.type = MSG_SERVER_DONE;
    write_all(msg_w, &s->m, sizeof(s->m));
    wait_eof(end_r, setup_ms_max);
    _exit(0);
}

/* A burst client: creates and binds <count> sockets, reports ready, waits
 * for release, connects them all without waiting, reports, then holds them
 * until EOF on <end_r> and resets them. Never returns. */
static void acc_client_main(uint32_t idx, uint16_t port, uint32_t first, uint32_t count, int go_r,
                            int msg_w, int end_r)
{
    struct sockaddr_in dst = {
        .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    struct acc_msg m = {.type = MSG_CLIENT_READY, .idx = (int32_t)idx};
    int *fds = calloc(count, sizeof(*fds));
    uint32_t n = 0;

    if (!fds) _exit(3);
    for (; n < count; n++) {
        int fd = client_socket(first + n, true);
        if (fd < 0) {
            m.err = -fd;
            break;
        }
        fds[n] = fd;
    }
    if (write_all(msg_w, &m, sizeof(m)) < 0) _exit(3);
    wait_eof(go_r, setup_ms_max);
    uint64_t t0 = mono_ns(), cpu0 = clock_ns(CLOCK_PROCESS_CPUTIME_ID);
    for (uint32_t i = 0; i < n; i++) {
        if (connect(fds[i], (struct sockaddr *)&dst, sizeof(dst)) == 0 || errno == EINPROGRESS)
            m.count++;
        else
            acc_note_err(&m, errno);
    }
    m.last_ns = mono_ns() - t0;
    m.cpu_ns = clock_ns(CLOCK_PROCESS_CPUTIME_ID) - cpu0;
    m.type = MSG_CLIENT_DONE;
    write_all(msg_w, &m, sizeof(m));
    wait_eof(end_r, setup_ms_max);
    for (uint32_t i = 0; i < n; i++)
        close_rst(fds[i]);
    _exit(0);
}

struct acc_sample {
    uint64_t accepted, failed, waits;
    uint64_t all_ns;        /* release -> last accept, slowest server */
    uint64_t cpu_ns;        /* all servers */
    uint64_t client_cpu_ns; /* all clients, connect loop only */
    uint64_t client_ns;     /* release -> last connect issued, slowest client */
    int err;
};

static void close_all(int *fds, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (fds[i] >= 0) {
            close(fds[i]);
            fds[i] = -1;
        }
}

/* Adds one DONE message to <out>. */
static void acc_add(struct acc_sample *out, const struct acc_msg *m)
{
    out->failed += m->failed;
    if (m->err && !out->err) out->err = m->err;
    if (m->type == MSG_SERVER_DONE) {
        out->accepted += m->count;
        out->waits += m->waits;
        out->cpu_ns += m->cpu_ns;
        if (m->last_ns > out->all_ns) out->all_ns = m->last_ns;
    } else {
        out->client_cpu_ns += m->cpu_ns;
        if (m->last_ns > out->client_ns) out->client_ns = m->last_ns;
    }
}

/* Reads <n> DONE messages into <out> within <timeout_ms>. 0 or -errno. */
static int acc_collect(int msg_r, uint32_t n, uint32_t timeout_ms, struct acc_sample *out)
{
    for (uint32_t i = 0; i < n; i++) {
        struct acc_msg m;
        int rc = read_full(msg_r, &m, sizeof(m), timeout_ms);
        if (rc < 0) return rc;
        if (m.type != MSG_SERVER_DONE && m.type != MSG_CLIENT_DONE) return -EPROTO;
        acc_add(out, &m);
    }
    return 0;
}

/* Servers for a run: with <prequeue> each server's share must fit in its
 * accept queue. */
static uint32_t acc_servers(const struct opts *o, bool prequeue)
{
    uint32_t s = o->servers;
    if (prequeue && (o->conns + prequeue_per_server - 1) / prequeue_per_server > s)
        s = (o->conns + prequeue_per_server - 1) / prequeue_per_server;
    return s;
}

/* One burst: as many servers as acc_servers() and one client per server,
 * fresh processes and listeners. Without <prequeue> clients and servers are
 * released together; with it the clients connect first (into the accept
 * queues), then the servers are released to drain them. 0 or -errno. */
static int acc_once(const struct opts *o, enum acc_mode mode, bool watch, bool prequeue,
                    struct acc_sample *out)
{
    const uint32_t S = acc_servers(o, prequeue);
    /* pipe ends: [0..1] servers' go, [2..3] clients' go, [4..5] messages,
     * [6..7] clients' end, [8..9] servers' end */
    int p[10] = {-1, -1, -1, -1, -1, -1, -1, -1, -1, -1};
    enum { GS_R, GS_W, GC_R, GC_W, MSG_R, MSG_W, CE_R, CE_W, SE_R, SE_W };
    pid_t spid[servers_max], cpid[servers_max];
    uint32_t quota[servers_max], ports[servers_max], ns = 0, nc = 0;
    int rc = 0;

    memset(out, 0, sizeof(*out));
    if (S > servers_max) return -E2BIG;
    for (int k = 0; k < 10; k += 2)
        if (pipe2(&p[k], O_CLOEXEC) < 0) {
            rc = -errno;
            goto out_close;
        }
    for (uint32_t i = 0; i < S; i++)
        quota[i] = o->conns / S + (i < o->conns % S);

    for (; ns < S; ns++) {
        pid_t pid = fork();
        if (pid < 0) {
            rc = -errno;
            goto out_release;
        }
        if (pid == 0) {
            struct acc_server s = {.mode = mode,
                                   .watch = watch,
                                   .quota = quota[ns],
                                   .lfd = -1,
                                   .epfd = -1,
                                   .m.idx = (int32_t)ns};
            int keep[] = {p[GS_R], p[MSG_W], p[SE_R]};
            child_guard();
            for (int k = 0; k < 10; k++)
                if (p[k] != keep[0] && p[k] != keep[1] && p[k] != keep[2]) close(p[k]);
            acc_server_main(&s, p[GS_R], p[MSG_W], p[SE_R], o->timeout_ms);
        }
        spid[ns] = pid;
    }
    for (uint32_t i = 0; i < S; i++) {
        struct acc_msg m;
        if ((rc = read_full(p[MSG_R], &m, sizeof(m), setup_ms_max)) < 0) goto out_release;
        if (m.type != MSG_SERVER_READY || m.idx < 0 || (uint32_t)m.idx >= S || m.err) {
            rc = m.err ? -m.err : -EPROTO;
            goto out_release;
        }
        ports[m.idx] = m.port;
    }
    uint32_t first = 0;
    for (; nc < S; nc++) {
        pid_t pid = fork();
        if (pid < 0) {
            rc = -errno;
            goto out_release;
        }
        if (pid == 0) {
            int keep[] = {p[GC_R], p[MSG_W], p[CE_R]};
            child_guard();
            for (int k = 0; k < 10; k++)
                if (p[k] != keep[0] && p[k] != keep[1] && p[k] != keep[2]) close(p[k]);
            acc_client_main(nc, (uint16_t)ports[nc], first, quota[nc], p[GC_R], p[MSG_W], p[CE_R]);
        }
        cpid[nc] = pid;
        first += quota[nc];
    }
    for (uint32_t i = 0; i < S; i++) {
        struct acc_msg m;
        if ((rc = read_full(p[MSG_R], &m, sizeof(m), setup_ms_max)) < 0) goto out_release;
        if (m.type != MSG_CLIENT_READY || m.err) {
            rc = m.err ? -m.err : -EPROTO;
            goto out_release;
        }
    }
    if (prequeue) {
        close_all(&p[GC_W], 1);
        if ((rc = acc_collect(p[MSG_R], S, setup_ms_max, out)) < 0) goto out_release;
        /* Loopback handshakes finish inside connect(); this is margin. */
        sleep_until_ns(mono_ns() + (uint64_t)prequeue_settle_ms * 1000000u);
        close_all(&p[GS_W], 1);
        rc = acc_collect(p[MSG_R], S, o->timeout_ms + 10000, out);
    } else {
        close_all(&p[GC_W], 1); /* release everyone at once */
        close_all(&p[GS_W], 1);
        rc = acc_collect(p[MSG_R], 2 * S, o->timeout_ms + 10000, out);
    }

out_release:
    close_all(&p[GC_W], 1);
    close_all(&p[GS_W], 1);
    close_all(&p[CE_W], 1); /* clients reset their connections first: no TIME_WAIT */
    for (uint32_t i = 0; i < nc; i++)
        waitpid(cpid[i], NULL, 0);
    close_all(&p[SE_W], 1);
    for (uint32_t i = 0; i < ns; i++)
        waitpid(spid[i], NULL, 0);
out_close:
    close_all(p, 10);
    return rc;
}

static const char *const arrival_names[2] = {"together", "prequeued"};

static void acc_print(const struct opts *o, enum acc_mode m, int w, int q, uint32_t r,
                      const struct acc_sample *s)
{
    char la[64];
    loadavg(la, sizeof(la));
    printf("accept conns=%u servers=%u arrival=%s mode=%s watch=%d rep=%u accepted=%llu "
           "all_ms=%.1f server_cpu_ms=%.1f us_per_accept=%.2f waits=%llu client_ms=%.1f "
           "client_cpu_ms=%.1f failed=%llu err=%s load=\"%s\"\n",
           o->conns, acc_servers(o, q), arrival_names[q], acc_mode_names[m], w, r + 1,
           (unsigned long long)s->accepted, (double)s->all_ns / 1e6, (double)s->cpu_ns / 1e6,
           s->accepted ? (double)s->cpu_ns / 1e3 / (double)s->accepted : 0,
           (unsigned long long)s->waits, (double)s->client_ns / 1e6, (double)s->client_cpu_ns / 1e6,
           (unsigned long long)s->failed, s->err ? strerror(s->err) : "-", la);
}

static void acc_summary(const struct opts *o, struct acc_sample (*res)[2][2][reps_max])
{
    printf("\n## accept burst: %u connections, median of %u (spread = (max-min)/median)\n\n",
           o->conns, o->reps);
    printf("| arrival | servers | mode | watch | accepted | all accepted ms | server CPU ms "
           "| CPU-us/accept | spread | x epoll | waits | client CPU ms |\n");
    printf("| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n");
    for (int q = 0; q < 2; q++) {
        for (int w = 0; w < 2; w++) {
            double base = 0;
            if (!o->prequeue[q] || !o->watch[w]) continue;
            for (uint32_t m = 0; m < acc_modes_n; m++) {
                double all[reps_max], cpu[reps_max], per[reps_max], acc[reps_max], waits[reps_max],
                    ccpu[reps_max], spread;
                if (!o->acc_modes[m]) continue;
                for (uint32_t r = 0; r < o->reps; r++) {
                    const struct acc_sample *s = &res[m][q][w][r];
                    all[r] = (double)s->all_ns / 1e6;
                    cpu[r] = (double)s->cpu_ns / 1e6;
                    per[r] = s->accepted ? (double)s->cpu_ns / 1e3 / (double)s->accepted : 0;
                    acc[r] = (double)s->accepted;
                    waits[r] = (double)s->waits;
                    ccpu[r] = (double)s->client_cpu_ns / 1e6;
                }
                double per_med = median(per, o->reps, &spread);
                if (m == ACC_EPOLL) base = per_med;
                char ratio[16] = "-";
                if (base > 0) snprintf(ratio, sizeof(ratio), "%.2f", per_med / base);
                printf("| %s | %u | %s | %d | %.0f | %.1f | %.1f | %.2f | %.0f%% | %s | %.0f | "
                       "%.1f |\n",
                       arrival_names[q], acc_servers(o, q), acc_mode_names[m], w,
                       median(acc, o->reps, NULL), median(all, o->reps, NULL),
                       median(cpu, o->reps, NULL), per_med, spread * 100, ratio,
                       median(waits, o->reps, NULL), median(ccpu, o->reps, NULL));
            }
        }
    }
}

static int acc_main(const struct opts *o)
{
    static struct acc_sample res[acc_modes_n][2][2][reps_max]; /* [mode][prequeue][watch][rep] */
    char before[64], after[64];
    int rc;

    loadavg(before, sizeof(before));
    fprintf(stderr, "accept: conns=%u load %s\n", o->conns, before);
    for (uint32_t r = 0; r < o->reps; r++) {
        for (uint32_t k = 0; k < acc_modes_n; k++) {
            enum acc_mode m = (enum acc_mode)((k + r) % acc_modes_n);
            if (!o->acc_modes[m]) continue;
            for (int q = 0; q < 2; q++) {
                for (int w = 0; w < 2; w++) {
                    if (!o->prequeue[q] || !o->watch[w]) continue;
                    if ((rc = acc_once(o, m, w, q, &res[m][q][w][r])) < 0) {
                        fprintf(stderr, "uring_fanout: accept %s: %s\n", acc_mode_names[m],
                                strerror(-rc));
                        return rc;
                    }
                    acc_print(o, m, w, q, r, &res[m][q][w][r]);
                }
            }
        }
    }
    loadavg(after, sizeof(after));
    acc_summary(o, res);
    printf("\nload average (1, 5, 15 min) before / after: %s / %s\n", before, after);
    return 0;
}

/* ---- main --------------------------------------------------------------- */

/* The price of crossing into the kernel and back on this machine, which is
 * most of what io_uring saves: ns per getppid(), best of a few rounds. */
static double null_syscall_ns(void)
{
    double best = 0;
    for (int r = 0; r < 5; r++) {
        uint64_t t0 = mono_ns();
        for (int i = 0; i < null_syscalls; i++)
            syscall(SYS_getppid);
        double ns = (double)(mono_ns() - t0) / null_syscalls;
        if (r == 0 || ns < best) best = ns;
    }
    return best;
}

static void print_kernel(void)
{
    struct utsname u;
    struct io_uring_probe *probe = io_uring_get_probe();
    uname(&u);
    printf("kernel %s, io_uring probe: %s", u.release, probe ? "ok" : "unavailable");
    if (probe) {
        printf(" (WRITEV %s, ACCEPT %s, POLL_ADD %s)",
               io_uring_opcode_supported(probe, IORING_OP_WRITEV) ? "yes" : "no",
               io_uring_opcode_supported(probe, IORING_OP_ACCEPT) ? "yes" : "no",
               io_uring_opcode_supported(probe, IORING_OP_POLL_ADD) ? "yes" : "no");
        io_uring_free_probe(probe);
    }
    printf(", null syscall %.0f ns\n", null_syscall_ns());
}

int main(int argc, char **argv)
{
    struct opts o;
    int rc = 0;

    if (argc < 2) usage();
    bool fan = !strcmp(argv[1], "fanout"), acc = !strcmp(argv[1], "accept");
    bool all = !strcmp(argv[1], "all");
    if (!fan && !acc && !all) usage();
    if (all && argc > 2) usage();
    parse_opts(argc, argv, &o);
    raise_nofile();
    signal(SIGPIPE, SIG_IGN);
    setvbuf(stdout, NULL, _IOLBF, 0);
    print_kernel();
    if (fan || all) rc = fan_main(&o);
    if (rc == 0 && (acc || all)) rc = acc_main(&o);
    return rc < 0 ? 1 : 0;
}
