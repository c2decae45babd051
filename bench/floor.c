/* floor: the cost floor of audio fan-out.
 *
 * Answers any HTTP GET with a 200 audio/ogg header, then writes the same
 * bytes to every connected listener at a fixed cadence: one write of
 * <pages_per_write> copies of a 431-byte Ogg page every <cadence_ms>.
 * Nothing else: no source, no ring, no per-listener state beyond an fd.
 * Whatever a real server costs above this is overhead.
 *
 *   floor --listen 127.0.0.1:PORT --cadence-ms 100 --pages-per-write 1
 *   floor --listen 127.0.0.1:PORT --cadence-ms 500 --pages-per-write 5
 *
 * Port 0 picks a free port. Prints "floor: listening on http://ADDR:PORT" to
 * stderr once ready, and counters on SIGINT/SIGTERM before exiting.
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
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
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

static void usage(void)
{
    fprintf(stderr, "usage: floor --listen HOST:PORT [--cadence-ms 100] [--pages-per-write 1]\n");
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

/* Fills <buf> with a syntactically plausible Ogg page: capture pattern and
 * header fields, a lacing table, and a constant payload. The CRC is not
 * computed: nobody decodes the floor's output, the readers only count bytes. */
static void make_page(uint8_t *buf)
{
    const int segs = 2; /* 431 = 27 + 2 + 402: lacing 255 + 147 */
    memset(buf, 0x5a, page_bytes);
    memcpy(buf, "OggS", 4);
    buf[4] = 0;    /* version */
    buf[5] = 0;    /* header type */
    memset(buf + 6, 0, 8 + 4 + 4 + 4);
    buf[26] = (uint8_t)segs;
    buf[27] = 255;
    buf[28] = (uint8_t)(page_bytes - 27 - segs - 255);
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
    long cadence_ms = 100, pages_per_write = 1;

    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--listen") && i + 1 < argc) {
            if (parse_hostport(argv[++i], &sa) < 0)
                usage();
            have_listen = true;
        } else if (!strcmp(argv[i], "--cadence-ms") && i + 1 < argc) {
            cadence_ms = strtol(argv[++i], NULL, 10);
        } else if (!strcmp(argv[i], "--pages-per-write") && i + 1 < argc) {
            pages_per_write = strtol(argv[++i], NULL, 10);
        } else {
            usage();
        }
    }
    if (!have_listen || cadence_ms < 1 || cadence_ms > 60000 || pages_per_write < 1 ||
        pages_per_write > pages_per_write_max)
        usage();

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

    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    if (lfd < 0)
        return 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(lfd, backlog) < 0) {
        perror("floor: bind/listen");
        return 1;
    }
    socklen_t salen = sizeof(sa);
    getsockname(lfd, (struct sockaddr *)&sa, &salen);
    char host[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &sa.sin_addr, host, sizeof(host));

    int epfd = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event lev = {.events = EPOLLIN, .data.fd = lfd};
    if (epfd < 0 || epoll_ctl(epfd, EPOLL_CTL_ADD, lfd, &lev) < 0)
        return 1;
    fprintf(stderr, "floor: listening on http://%s:%u cadence_ms=%ld pages_per_write=%ld\n",
            host, ntohs(sa.sin_port), cadence_ms, pages_per_write);

    struct epoll_event evs[events_max];
    uint64_t next_ms = now_ms() + (uint64_t)cadence_ms;
    while (!stop_flag) {
        uint64_t now = now_ms();
        if (now >= next_ms) {
            tick(epfd, data, data_len);
            next_ms += (uint64_t)cadence_ms;
            if (next_ms <= now) /* fell behind by a whole period: do not burst */
                next_ms = now + (uint64_t)cadence_ms;
            continue;
        }
        int n = epoll_wait(epfd, evs, events_max, (int)(next_ms - now));
        for (int i = 0; i < n; i++) {
            int fd = evs[i].data.fd;
            if (fd == lfd)
                accept_batch(epfd, lfd);
            else if (slots[fd].state != ST_FREE)
                on_readable(epfd, fd);
        }
    }
    fprintf(stderr,
            "floor: accepted=%llu listeners_total=%llu listeners_now=%d writes=%llu bytes=%llu "
            "dropped_slow=%llu closed=%llu\n",
            (unsigned long long)n_accepted, (unsigned long long)n_listeners_total, listeners_n,
            (unsigned long long)n_writes, (unsigned long long)n_bytes,
            (unsigned long long)n_dropped_slow, (unsigned long long)n_closed);
    return 0;
}
