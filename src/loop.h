/* loop: a single-threaded event loop (epoll) with millisecond timers.
 *
 * One loop per thread; nothing here is thread-safe except loop_wake().
 * The server, the storm tool and the tests all run on this one core.
 *
 * Contract:
 *  - An io watches one fd. Callbacks receive the epoll event mask
 *    (LOOP_READ, LOOP_WRITE, LOOP_HUP, LOOP_ERR). Watches are edge-triggered
 *    when LOOP_EDGE is set in <events>, level-triggered otherwise.
 *  - Timers fire once; re-arm from the callback for periodic work. Timer
 *    callbacks may start/stop any timer, including their own.
 *  - Nothing frees itself inside its own callback: use loop_defer() to run a
 *    release function after the current iteration, when no callback of this
 *    iteration can still reach the object.
 *  - Time is the loop's cached monotonic clock, refreshed once per iteration
 *    (loop_now_ms / loop_now_us), so every decision in one iteration sees one
 *    "now".
 */
#ifndef PODIUM_LOOP_H
#define PODIUM_LOOP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LOOP_READ 0x001u  /* EPOLLIN */
#define LOOP_WRITE 0x004u /* EPOLLOUT */
#define LOOP_ERR 0x008u   /* EPOLLERR */
#define LOOP_HUP 0x010u   /* EPOLLHUP */
#define LOOP_RDHUP 0x2000u /* EPOLLRDHUP */
#define LOOP_EDGE (1u << 31) /* EPOLLET */

struct loop;
struct io;
struct timer;

typedef void (*io_cb)(struct loop *loop, struct io *io, uint32_t events);
typedef void (*timer_cb)(struct loop *loop, struct timer *t);
typedef void (*defer_fn)(void *ptr);

struct io {
    int fd;
    uint32_t events; /* current interest, 0 when not registered */
    io_cb cb;
    void *data;
};

struct timer {
    uint64_t when_ms;
    timer_cb cb;
    void *data;
    uint32_t heap_idx; /* 0 = not armed; otherwise 1-based slot in the heap */
    uint32_t slack_ms; /* may fire this late (timer_start_slack) */
};

/* loop_new: <events_max> is the most events taken per epoll_wait (accept
 * batching and fairness); 0 picks the default. Returns NULL on failure with
 * errno set. */
struct loop *loop_new(unsigned events_max);
void loop_free(struct loop *loop);

/* Runs until loop_stop() is called or nothing is left to wait for (no io,
 * no timer). Returns 0, or -errno if epoll_wait fails other than EINTR. */
int loop_run(struct loop *loop);

/* One iteration: waits at most <timeout_ms> (-1 forever, 0 poll). Returns
 * the number of io events handled or -errno. */
int loop_once(struct loop *loop, int timeout_ms);

void loop_stop(struct loop *loop);
bool loop_stopping(const struct loop *loop);

uint64_t loop_now_ms(const struct loop *loop);
uint64_t loop_now_us(const struct loop *loop);
/* Re-reads the clock (for long callbacks that need a fresh time). */
void loop_update_time(struct loop *loop);

/* io_init fills <io>; it does not register anything. */
void io_init(struct io *io, int fd, io_cb cb, void *data);
/* io_set: register, modify or (events == 0) unregister. 0 or -errno. */
int io_set(struct loop *loop, struct io *io, uint32_t events);

void timer_init(struct timer *t, timer_cb cb, void *data);
/* timer_start: (re)arms <t> to fire <after_ms> from loop_now_ms(). 0 or
 * -ENOMEM when the heap cannot grow. */
int timer_start(struct loop *loop, struct timer *t, uint64_t after_ms);
/* timer_start_slack: as timer_start, but the timer may fire up to <slack_ms>
 * late: the loop does not wake for it before then, and it fires with
 * whatever wakes the loop first (I/O or another timer). Periodic chores
 * armed this way ride on other wake-ups, and two of the same period drift
 * into one wake-up (as the kernel's timer slack). Never fires early. */
int timer_start_slack(struct loop *loop, struct timer *t, uint64_t after_ms, uint32_t slack_ms);
void timer_stop(struct loop *loop, struct timer *t);
static inline bool timer_armed(const struct timer *t)
{
    return t->heap_idx != 0;
}

/* loop_defer: runs <fn>(<ptr>) after the current iteration's callbacks.
 * 0 or -ENOMEM. */
int loop_defer(struct loop *loop, defer_fn fn, void *ptr);
/* loop_run_deferred: runs the deferred releases now, and nothing else (no
 * io, no timer): for tearing down, when what a timer or io would touch may
 * already be gone. */
void loop_run_deferred(struct loop *loop);

/* loop_wake: thread-safe; makes a blocked loop_once() return and run <cb>
 * set by loop_set_wake_cb() in the loop's thread. */
void loop_set_wake_cb(struct loop *loop, void (*cb)(struct loop *, void *), void *data);
void loop_wake(struct loop *loop);

/* Monotonic clock helpers for code outside a loop (threads, tools). */
uint64_t clock_mono_us(void);
static inline uint64_t clock_mono_ms(void)
{
    return clock_mono_us() / 1000;
}

#endif
