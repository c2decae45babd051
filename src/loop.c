/* loop: epoll event loop, binary-heap timers, deferred releases, eventfd wake. */
#include "loop.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#define LOOP_EVENTS_DEFAULT 512
#define TIMER_FIRING UINT32_MAX /* heap_idx of a timer taken off the heap to fire */
#define TIMERS_PER_BATCH 64

struct deferred {
    defer_fn fn;
    void *ptr;
};

struct loop {
    int epfd;
    unsigned events_max;
    struct epoll_event *events;
    bool stopping;
    uint64_t now_us;
    unsigned ios; /* registered io count */

    struct timer **heap; /* 1-based min-heap on when_ms; heap[0] unused */
    uint32_t heap_len, heap_cap;

    struct deferred *defer;
    size_t defer_len, defer_cap;

    struct io wake_io;
    void (*wake_cb)(struct loop *, void *);
    void *wake_data;
};

uint64_t clock_mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void wake_read(struct loop *loop, struct io *io, uint32_t events)
{
    uint64_t v;
    (void)events;
    while (read(io->fd, &v, sizeof(v)) > 0) {
    }
    if (loop->wake_cb) loop->wake_cb(loop, loop->wake_data);
}

struct loop *loop_new(unsigned events_max)
{
    struct loop *loop = calloc(1, sizeof(*loop));
    if (!loop) return NULL;
    loop->events_max = events_max ? events_max : LOOP_EVENTS_DEFAULT;
    loop->events = calloc(loop->events_max, sizeof(*loop->events));
    if (!loop->events) goto out_free;
    loop->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (loop->epfd < 0) goto out_free_events;
    loop->heap_cap = 64;
    loop->heap = calloc(loop->heap_cap + 1, sizeof(*loop->heap));
    if (!loop->heap) goto out_close_ep;
    int efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (efd < 0) goto out_free_heap;
    io_init(&loop->wake_io, efd, wake_read, NULL);
    loop->now_us = clock_mono_us();
    return loop;

out_free_heap:
    free(loop->heap);
out_close_ep:
    close(loop->epfd);
out_free_events:
    free(loop->events);
out_free:
    free(loop);
    return NULL;
}

void loop_run_deferred(struct loop *loop)
{
    /* A release may defer more work; process until empty. */
    for (size_t i = 0; i < loop->defer_len; i++) loop->defer[i].fn(loop->defer[i].ptr);
    loop->defer_len = 0;
}

void loop_free(struct loop *loop)
{
    if (!loop) return;
    loop_run_deferred(loop);
    if (loop->wake_io.events) io_set(loop, &loop->wake_io, 0);
    close(loop->wake_io.fd);
    close(loop->epfd);
    free(loop->heap);
    free(loop->defer);
    free(loop->events);
    free(loop);
}

void loop_stop(struct loop *loop)
{
    loop->stopping = true;
}

bool loop_stopping(const struct loop *loop)
{
    return loop->stopping;
}

uint64_t loop_now_ms(const struct loop *loop)
{
    return loop->now_us / 1000;
}

uint64_t loop_now_us(const struct loop *loop)
{
    return loop->now_us;
}

void loop_update_time(struct loop *loop)
{
    loop->now_us = clock_mono_us();
}

void io_init(struct io *io, int fd, io_cb cb, void *data)
{
    io->fd = fd;
    io->events = 0;
    io->cb = cb;
    io->data = data;
}

int io_set(struct loop *loop, struct io *io, uint32_t events)
{
    struct epoll_event ev = {.events = events, .data.ptr = io};
    int op;
    if (events == io->events) return 0;
    if (events == 0)
        op = EPOLL_CTL_DEL;
    else if (io->events == 0)
        op = EPOLL_CTL_ADD;
    else
        op = EPOLL_CTL_MOD;
    if (epoll_ctl(loop->epfd, op, io->fd, &ev) < 0) {
        /* Unregistering an fd already closed (EBADF) or unknown (ENOENT)
         * leaves nothing registered: count it as done, or loop_run would
         * wait forever for an io that no longer exists. */
        if (op != EPOLL_CTL_DEL || (errno != EBADF && errno != ENOENT)) return -errno;
    }
    if (op == EPOLL_CTL_ADD) loop->ios++;
    if (op == EPOLL_CTL_DEL) loop->ios--;
    io->events = events;
    return 0;
}

/* ---- timers: 1-based binary min-heap of pointers; each timer knows its slot. */

static void heap_place(struct loop *loop, uint32_t i, struct timer *t)
{
    loop->heap[i] = t;
    t->heap_idx = i;
}

static void heap_up(struct loop *loop, uint32_t i)
{
    struct timer *t = loop->heap[i];
    while (i > 1 && loop->heap[i / 2]->when_ms > t->when_ms) {
        heap_place(loop, i, loop->heap[i / 2]);
        i /= 2;
    }
    heap_place(loop, i, t);
}

static void heap_down(struct loop *loop, uint32_t i)
{
    struct timer *t = loop->heap[i];
    for (;;) {
        uint32_t c = i * 2;
        if (c > loop->heap_len) break;
        if (c + 1 <= loop->heap_len && loop->heap[c + 1]->when_ms < loop->heap[c]->when_ms) c++;
        if (loop->heap[c]->when_ms >= t->when_ms) break;
        heap_place(loop, i, loop->heap[c]);
        i = c;
    }
    heap_place(loop, i, t);
}

void timer_init(struct timer *t, timer_cb cb, void *data)
{
    t->when_ms = 0;
    t->cb = cb;
    t->data = data;
    t->heap_idx = 0;
    t->slack_ms = 0;
}

void timer_stop(struct loop *loop, struct timer *t)
{
    uint32_t i = t->heap_idx;
    if (!i) return;
    if (i == TIMER_FIRING) {
        t->heap_idx = 0;
        return;
    }
    struct timer *last = loop->heap[loop->heap_len--];
    t->heap_idx = 0;
    if (last == t) return;
    heap_place(loop, i, last);
    heap_up(loop, i);
    heap_down(loop, last->heap_idx);
}

int timer_start(struct loop *loop, struct timer *t, uint64_t after_ms)
{
    return timer_start_slack(loop, t, after_ms, 0);
}

int timer_start_slack(struct loop *loop, struct timer *t, uint64_t after_ms, uint32_t slack_ms)
{
    timer_stop(loop, t);
    if (loop->heap_len == loop->heap_cap) {
        uint32_t cap = loop->heap_cap * 2;
        struct timer **h = realloc(loop->heap, (cap + 1) * sizeof(*h));
        if (!h) return -ENOMEM;
        loop->heap = h;
        loop->heap_cap = cap;
    }
    /* Round up: a timer never fires before <after_ms> has passed; 0 means
     * the next iteration. */
    t->when_ms = after_ms ? (loop->now_us + after_ms * 1000 + 999) / 1000 : loop_now_ms(loop);
    t->slack_ms = slack_ms;
    loop->heap_len++;
    heap_place(loop, loop->heap_len, t);
    heap_up(loop, loop->heap_len);
    return 0;
}

/* Due timers are taken off the heap first and fired after, so a timer
 * re-armed with 0 delay waits for the next iteration. A callback that
 * stops a timer of the same batch cancels it (heap_idx back to 0). */
static void run_timers(struct loop *loop)
{
    uint64_t now = loop_now_ms(loop);
    for (;;) {
        struct timer *due[TIMERS_PER_BATCH];
        unsigned n = 0;
        while (n < TIMERS_PER_BATCH && loop->heap_len && loop->heap[1]->when_ms <= now) {
            struct timer *t = loop->heap[1];
            timer_stop(loop, t);
            t->heap_idx = TIMER_FIRING;
            due[n++] = t;
        }
        for (unsigned i = 0; i < n; i++) {
            struct timer *t = due[i];
            if (t->heap_idx != TIMER_FIRING) continue; /* stopped or re-armed meanwhile */
            t->heap_idx = 0;
            t->cb(loop, t);
        }
        if (n < TIMERS_PER_BATCH) return;
    }
}

/* latest_wake: the earliest (when + slack) in the subtree at <i>, if below
 * <best>. A subtree whose root is due at or after <best> cannot lower it
 * (its timers are due no earlier and slack only adds), so the walk visits
 * only the timers due before the answer: one when nothing has slack. */
static uint64_t latest_wake(const struct loop *loop, uint32_t i, uint64_t best)
{
    if (i > loop->heap_len || loop->heap[i]->when_ms >= best) return best;
    const struct timer *t = loop->heap[i];
    if (t->when_ms + t->slack_ms < best) best = t->when_ms + t->slack_ms;
    best = latest_wake(loop, 2 * i, best);
    return latest_wake(loop, 2 * i + 1, best);
}

static int next_timeout(struct loop *loop)
{
    if (!loop->heap_len) return -1;
    uint64_t now = loop_now_ms(loop), when = latest_wake(loop, 1, UINT64_MAX);
    if (when <= now) return 0;
    uint64_t d = when - now;
    return d > 60000 ? 60000 : (int)d;
}

int loop_defer(struct loop *loop, defer_fn fn, void *ptr)
{
    if (loop->defer_len == loop->defer_cap) {
        size_t cap = loop->defer_cap ? loop->defer_cap * 2 : 64;
        struct deferred *d = realloc(loop->defer, cap * sizeof(*d));
        if (!d) return -ENOMEM;
        loop->defer = d;
        loop->defer_cap = cap;
    }
    loop->defer[loop->defer_len++] = (struct deferred){fn, ptr};
    return 0;
}

void loop_set_wake_cb(struct loop *loop, void (*cb)(struct loop *, void *), void *data)
{
    loop->wake_cb = cb;
    loop->wake_data = data;
    if (!loop->wake_io.events) io_set(loop, &loop->wake_io, LOOP_READ);
}

void loop_wake(struct loop *loop)
{
    uint64_t one = 1;
    ssize_t r = write(loop->wake_io.fd, &one, sizeof(one));
    (void)r; /* EAGAIN means a wake is already pending */
}

int loop_once(struct loop *loop, int timeout_ms)
{
    int t = next_timeout(loop);
    if (timeout_ms >= 0 && (t < 0 || timeout_ms < t)) t = timeout_ms;
    if (loop->defer_len) t = 0;
    int n = epoll_wait(loop->epfd, loop->events, (int)loop->events_max, t);
    int err = n < 0 ? errno : 0;
    loop_update_time(loop);
    if (n < 0) {
        loop_run_deferred(loop);
        return err == EINTR ? 0 : -err;
    }
    for (int i = 0; i < n; i++) {
        struct io *io = loop->events[i].data.ptr;
        /* Closed earlier in this batch (its memory lives until the deferred
         * releases run): skip it. */
        if (!io->events) continue;
        io->cb(loop, io, loop->events[i].events);
    }
    run_timers(loop);
    loop_run_deferred(loop);
    return n;
}

int loop_run(struct loop *loop)
{
    while (!loop->stopping) {
        /* The wake eventfd does not count as work to wait for. */
        unsigned own = loop->wake_io.events ? 1 : 0;
        if (loop->ios <= own && !loop->heap_len && !loop->defer_len) break;
        int r = loop_once(loop, -1);
        if (r < 0) return r;
    }
    return 0;
}
