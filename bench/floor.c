/* floor: the cost floor of audio fan-out.
 *
 * Answers any HTTP GET with a 200 audio/ogg header, then writes the same
 * bytes to every connected listener at a fixed cadence: one write of
 * <pages_per_write> 431-byte Ogg pages every <cadence_ms>. Nothing else: no
 * source, no ring, no per-listener state beyond an fd. Whatever a real
 * server costs above this is overhead.
 *
 *   floor --listen 127.0.0.1:PORT --cadence-ms 100 --pages-per-write 1
 *   floor --listen 127.0.0.1:PORT --cadence-ms 500 --pages-per-write 5 [--procs 3]
 *
 * The pages are valid Ogg (CRC, page sequence +1, granule +100 ms each), so
 * a verifying client (podium storm) accepts them as audio: each tick the one
 * shared buffer is renumbered and its CRCs recomputed once, then sent to
 * everyone. The payload is a constant, not decodable Opus.
 *
 * --procs N forks N-1 more processes, each with its own SO_REUSEPORT
 * listening socket on the same port (the kernel spreads connections by
 * 4-tuple): one process holds at most its open-file limit (20,000 here).
 *
 * Port 0 picks a free port. Prints "floor: listening on http://ADDR:PORT" to
 * stderr once every process is ready, and counters (per process) on
 * SIGINT/SIGTERM before exiting.
 *
 * Slow listeners: a write that does not go through whole closes the
 * connection (counted as dropped_slow); at 4 KB/s on loopback this only
 * happens to a reader that has stopped reading for seconds.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
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
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#pragma GCC poison strcpy sprintf gets strtok atoi

enum {
    page_bytes = 431,        /* one 100 ms Opus page at 32 kbit/s, as measured */
    pages_per_write_max = 64,
    backlog = 4096,          /* capped by net.core.somaxconn */
    accepts_per_wakeup_max = 512,
    events_max = 1024,
    header_bytes_max = 8192, /* request header limit before we give up */
    fds_max = 1 << 20,
    procs_max = 16,
    page_samples = 4800,     /* granule advance per page: 100 ms at 48 kHz */
    page_serial = 0x466c6f72,
};

/* Per-fd state, indexed by fd. 0 = unused, else see below. */
enum { ST_FREE = 0, ST_REQUEST, ST_LISTENER };

struct slot {
    uint8_t state;
    uint8_t crlf;          /* progress through "\r\n\r\n" */
    uint16_t header_bytes; /* request bytes seen so far */
    int32_t pos;           /* index in listeners[] while ST_LISTENER */
};

static struct slot *slots;
static int slots_n;
static int *listeners; /* dense array of listener fds, swap-removed */
static int listeners_n;
static volatile sig_atomic_t stop_flag;
static pid_t kids[procs_max];
static int kids_n;

static uint64_t n_accepted, n_listeners_total, n_writes, n_bytes, n_dropped_slow, n_closed;

static const char response[] = "HTTP/1.0 200 OK\r\n"
                               "Content-Type: audio/ogg\r\n"
                               "Cache-Control: no-cache, no-store\r\n"
                               "Connection: close\r\n"
                               "\r\n";

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void on_signal(int sig)
{
    (void)sig;
    stop_flag = 1;
}

/* A listening socket on <sa> (port 0: the kernel picks; the chosen address
 * is written back) with SO_REUSEPORT so sibling processes can share it.
 * Returns the fd or -1. */
static int listen_on(struct sockaddr_in *sa)
{
    int one = 1;
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (lfd < 0)
        return -1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    setsockopt(lfd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
    socklen_t salen = sizeof(*sa);
    if (bind(lfd, (struct sockaddr *)sa, sizeof(*sa)) < 0 || listen(lfd, backlog) < 0 ||
        getsockname(lfd, (struct sockaddr *)sa, &salen) < 0) {
        perror("floor: bind/listen");
        close(lfd);
        return -1;
    }
    return lfd;
}

static void usage(void)
{
    fprintf(stderr, "usage: floor --listen HOST:PORT [--cadence-ms 100] [--pages-per-write 1] "
                    "[--procs 1]\n");
    exit(2);
}

/* Parses "A.B.C.D:PORT" into <sa>. Returns 0 or -1. */
static int parse_hostport(const char *s, struct sockaddr_in *sa)
{
    const char *colon = strrchr(s, ':');
    char host[64];
    char *end;
    long port;

    if (!colon || (size_t)(colon - s) >= sizeof(host))
        return -1;
    memcpy(host, s, (size_t)(colon - s));
    host[colon - s] = '\0';
    port = strtol(colon + 1, &end, 10);
    if (*end || port < 0 || port > 65535)
        return -1;
    memset(sa, 0, sizeof(*sa));
    sa->sin_family = AF_INET;
    sa->sin_port = htons((uint16_t)port);
    return inet_pton(AF_INET, host, &sa->sin_addr) == 1 ? 0 : -1;
}

/* Ogg CRC-32: polynomial 0x04C11DB7, MSB first, init 0, no final xor. */
static uint32_t crc_table[256];

static void crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t r = i << 24;
        for (int k = 0; k < 8; k++)
            r = (r & 0x80000000u) ? (r << 1) ^ 0x04C11DB7u : r << 1;
        crc_table[i] = r;
    }
}

static uint32_t ogg_crc(const uint8_t *p, size_t len)
{
    uint32_t crc = 0;
    for (size_t i = 0; i < len; i++)
        crc = (crc << 8) ^ crc_table[((crc >> 24) ^ p[i]) & 0xff];
    return crc;
}

static void put_le(uint8_t *p, uint64_t v, int bytes)
{
    for (int i = 0; i < bytes; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* Fills <buf> with an Ogg page skeleton: capture pattern, version, serial,
 * a lacing table for one 402-byte packet and a constant payload. Sequence,
 * granule and CRC are set per tick by number_pages(). */
static void make_page(uint8_t *buf)
{
    const int segs = 2; /* 431 = 27 + 2 + 402: lacing 255 + 147 */
    memset(buf, 0x5a, page_bytes);
    memcpy(buf, "OggS", 4);
    buf[4] = 0;    /* version */
    buf[5] = 0;    /* header type */
    memset(buf + 6, 0, 8 + 4 + 4 + 4);
    put_le(buf + 14, page_serial, 4);
    buf[26] = (uint8_t)segs;
    buf[27] = 255;
    buf[28] = (uint8_t)(page_bytes - 27 - segs - 255);
}

/* Renumbers the <n> pages of <data> from page <seq> on (granule = 100 ms per
 * page) and recomputes their CRCs: once per tick, whatever the listener
 * count. */
static void number_pages(uint8_t *data, long n, uint64_t seq)
{
    for (long k = 0; k < n; k++) {
        uint8_t *pg = data + k * page_bytes;
        put_le(pg + 6, (seq + (uint64_t)k + 1) * page_samples, 8);
        put_le(pg + 18, (uint32_t)(seq + (uint64_t)k), 4);
        memset(pg + 22, 0, 4);
        put_le(pg + 22, ogg_crc(pg, page_bytes), 4);
    }
}

static void close_fd(int epfd, int fd)
{
    struct slot *s = &slots[fd];

    if (s->state == ST_LISTENER) {
        int last = listeners[--listeners_n];
        listeners[s->pos] = last;
        slots[last].pos = s->pos;
    }
    memset(s, 0, sizeof(*s));
    epoll_ctl(epfd, EPOLL_CTL_DEL, fd, NULL);
    close(fd);
    n_closed++;
}

static void accept_batch(int epfd, int lfd)
{
    for (int i = 0; i < accepts_per_wakeup_max; i++) {
        int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE)
                fprintf(stderr, "floor: out of file descriptors\n");
            return; /* EAGAIN, or a transient error: wait for the next wakeup */
        }
        if (fd >= slots_n) {
            close(fd);
            continue;
        }
        struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
        if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
            close(fd);
            continue;
        }
        slots[fd] = (struct slot){.state = ST_REQUEST};
        n_accepted++;
    }
}

/* Reads whatever the peer sent. Before the header ends, scans for the blank
 * line without buffering; afterwards input is discarded. EOF or error closes. */
static void on_readable(int epfd, int fd)
{
    static const char crlf2[4] = {'\r', '\n', '\r', '\n'};
    struct slot *s = &slots[fd];
    char buf[2048];
    ssize_t n = recv(fd, buf, sizeof(buf), 0);

    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
        close_fd(epfd, fd);
        return;
    }
    if (n < 0 || s->state != ST_REQUEST)
        return;
    for (ssize_t i = 0; i < n; i++) {
        s->crlf = buf[i] == crlf2[s->crlf] ? s->crlf + 1 : (buf[i] == '\r' ? 1 : 0);
        if (s->crlf == 4) {
            if (send(fd, response, sizeof(response) - 1, MSG_NOSIGNAL) !=
                (ssize_t)(sizeof(response) - 1)) {
                close_fd(epfd, fd);
                return;
            }
            s->state = ST_LISTENER;
            s->pos = listeners_n;
            listeners[listeners_n++] = fd;
            n_listeners_total++;
            return;
        }
    }
    s->header_bytes = (uint16_t)(s->header_bytes + n > header_bytes_max ? header_bytes_max + 1
                                                                        : s->header_bytes + n);
    if (s->header_bytes > header_bytes_max)
        close_fd(epfd, fd);
}

/* One tick: the same buffer to every listener, one send() each. Walks the
 * array backwards so a swap-remove never skips a listener. */
static void tick(int epfd, const uint8_t *data, size_t len)
{
    for (int i = listeners_n - 1; i >= 0; i--) {
        int fd = listeners[i];
        ssize_t n = send(fd, data, len, MSG_NOSIGNAL | MSG_DONTWAIT);
        n_writes++;
        if (n > 0)
            n_bytes += (uint64_t)n;
        if (n != (ssize_t)len) {
            if (n >= 0 || errno == EAGAIN)
                n_dropped_slow++;
            close_fd(epfd, fd);
        }
    }
}

int main(int argc, char **argv)
{
    struct sockaddr_in sa;
    bool have_listen = false;
    long cadence_ms = 100, pages_per_write = 1, procs = 1;

    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--listen") && i + 1 < argc) {
            if (parse_hostport(argv[++i], &sa) < 0)
                usage();
            have_listen = true;
        } else if (!strcmp(argv[i], "--cadence-ms") && i + 1 < argc) {
            cadence_ms = strtol(argv[++i], NULL, 10);
        } else if (!strcmp(argv[i], "--pages-per-write") && i + 1 < argc) {
            pages_per_write = strtol(argv[++i], NULL, 10);
        } else if (!strcmp(argv[i], "--procs") && i + 1 < argc) {
            procs = strtol(argv[++i], NULL, 10);
        } else {
            usage();
        }
    }
    if (!have_listen || cadence_ms < 1 || cadence_ms > 60000 || pages_per_write < 1 ||
        pages_per_write > pages_per_write_max || procs < 1 || procs > procs_max)
        usage();
    crc_init();

    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        getrlimit(RLIMIT_NOFILE, &rl);
    }
    slots_n = rl.rlim_cur > fds_max ? fds_max : (int)rl.rlim_cur;
    slots = calloc((size_t)slots_n, sizeof(*slots));
    listeners = calloc((size_t)slots_n, sizeof(*listeners));
    size_t data_len = (size_t)pages_per_write * page_bytes;
    uint8_t *data = malloc(data_len);
    if (!slots || !listeners || !data)
        return 1;
    make_page(data);
    for (long k = 1; k < pages_per_write; k++)
        memcpy(data + k * page_bytes, data, page_bytes);

    signal(SIGPIPE, SIG_IGN);
    struct sigaction act = {.sa_handler = on_signal};
    sigaction(SIGINT, &act, NULL);
    sigaction(SIGTERM, &act, NULL);

    int lfd = listen_on(&sa);
    if (lfd < 0)
        return 1;
    /* Siblings bind the port the first socket got, each its own socket:
     * SO_REUSEPORT balances new connections over them. */
    int proc_no = 0, ready[2];
    if (pipe(ready) < 0)
        return 1;
    for (long k = 1; k < procs; k++) {
        pid_t pid = fork();
        if (pid < 0) {
            perror("floor: fork");
            break;
        }
        if (pid == 0) {
            prctl(PR_SET_PDEATHSIG, SIGTERM);
            kids_n = 0;
            proc_no = (int)k;
            close(lfd);
            lfd = listen_on(&sa);
            if (lfd < 0 || write(ready[1], "r", 1) != 1)
                _exit(1);
            break;
        }
        kids[kids_n++] = pid;
    }
    close(ready[1]);
    if (proc_no)
        close(ready[0]);
    char host[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &sa.sin_addr, host, sizeof(host));
    int epfd = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event lev = {.events = EPOLLIN, .data.fd = lfd};
    if (epfd < 0 || epoll_ctl(epfd, EPOLL_CTL_ADD, lfd, &lev) < 0)
        return 1;
    if (proc_no == 0) {
        /* Ready once every sibling listens too (each writes one byte); a
         * sibling that died closes its end, and the wait is bounded. */
        int got = 0;
        uint64_t deadline = now_ms() + 5000;
        while (got < kids_n && now_ms() < deadline) {
            struct pollfd pf = {.fd = ready[0], .events = POLLIN};
            char b[procs_max];
            if (poll(&pf, 1, 100) <= 0)
                continue;
            ssize_t n = read(ready[0], b, sizeof(b));
            if (n <= 0)
                break;
            got += (int)n;
        }
        close(ready[0]);
        if (got < kids_n) {
            fprintf(stderr, "floor: only %d of %d sibling processes started\n", got, kids_n);
            for (int k = 0; k < kids_n; k++)
                kill(kids[k], SIGTERM);
            return 1;
        }
        fprintf(stderr,
                "floor: listening on http://%s:%u cadence_ms=%ld pages_per_write=%ld procs=%d\n",
                host, ntohs(sa.sin_port), cadence_ms, pages_per_write, kids_n + 1);
    }

    struct epoll_event evs[events_max];
    uint64_t next_ms = now_ms() + (uint64_t)cadence_ms;
    uint64_t seq = 0;
    while (!stop_flag) {
        /* Events first, every iteration: a tick that takes longer than the
         * cadence must not starve accepts (it did: ticks ran back to back). */
        uint64_t now = now_ms();
        int n = epoll_wait(epfd, evs, events_max, now >= next_ms ? 0 : (int)(next_ms - now));
        for (int i = 0; i < n; i++) {
            int fd = evs[i].data.fd;
            if (fd == lfd)
                accept_batch(epfd, lfd);
            else if (slots[fd].state != ST_FREE)
                on_readable(epfd, fd);
        }
        if (now_ms() < next_ms)
            continue;
        number_pages(data, pages_per_write, seq);
        seq += (uint64_t)pages_per_write;
        tick(epfd, data, data_len);
        next_ms += (uint64_t)cadence_ms;
        now = now_ms();
        if (next_ms <= now) /* fell behind by a whole period: do not burst */
            next_ms = now + (uint64_t)cadence_ms;
    }
    for (int k = 0; k < kids_n; k++)
        kill(kids[k], SIGTERM);
    fprintf(stderr,
            "floor[%d]: accepted=%llu listeners_total=%llu listeners_now=%d writes=%llu bytes=%llu "
            "dropped_slow=%llu closed=%llu\n",
            proc_no, (unsigned long long)n_accepted, (unsigned long long)n_listeners_total, listeners_n,
            (unsigned long long)n_writes, (unsigned long long)n_bytes,
            (unsigned long long)n_dropped_slow, (unsigned long long)n_closed);
    for (int k = 0; k < kids_n; k++)
        waitpid(kids[k], NULL, 0);
    return 0;
}
