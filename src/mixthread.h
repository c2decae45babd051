/* mixthread: the real-time thread that ticks every space's mixer.
 *
 *   loop thread                              mix thread (20 ms clock)
 *   -----------                              -----------------------------
 *   mixthread_space_add ---- control queue --> adopts the space
 *   mixthread_space_remove -/                  and hands it back ---+
 *   mixthread_push ------- per-space queue --> jbuf (mixer_push)    |
 *   mixthread_speaker_* --/ (same queue,       mixer_tick per space |
 *                            so in order)          |                |
 *   mixthread_next  <------- output queue ---------+                |
 *     (eventfd readable)                                            |
 *   frees what came back <-- garbage queue -------------------------+
 *
 * Every queue is a bounded single-producer single-consumer ring with no
 * lock: the loop thread never blocks on the mix thread and the mix thread
 * never waits for the loop. A full input queue drops the packet (counted,
 * -ENOBUFS); a full output queue drops that space's tick (counted): a slow
 * consumer never delays the mix. Allocation and freeing happen on the loop
 * thread only (speakers and spaces are built there and handed over), so
 * the tick path neither allocates nor takes a lock.
 *
 * The thread sleeps to absolute 20 ms deadlines (clock_nanosleep,
 * TIMER_ABSTIME, CLOCK_MONOTONIC). Each tick drains what each space's queue
 * held when the tick began, then mixes with the tick's nominal time as
 * "now", so jitter buffers see an exact 20 ms grid. A tick that starts more
 * than late_us_max after its nominal time, or ends after the next one's, is
 * a deadline miss. When a whole period or more has passed, the thread
 * skips those ticks (counted) instead of running them back to back. With
 * no space to mix it does not tick at all: it sleeps until one is added.
 *
 * Several mixthreads share nothing: each has its own queues, eventfd and
 * spaces, and a space belongs to one for its life. The server runs one
 * per core (mix_threads) and puts each new space on the one with the
 * fewest (mixthread_least_loaded).
 *
 * Times given to mixthread_push (arrival_us) are CLOCK_MONOTONIC
 * microseconds, as clock_mono_us() and loop_now_us() return.
 *
 * Every function here is for the loop thread (one thread) unless said
 * otherwise.
 */
#ifndef PODIUM_MIXTHREAD_H
#define PODIUM_MIXTHREAD_H

#include <stdbool.h>
#include <stdint.h>

#include "mixer.h"

#define MIXTHREAD_TICK_US 20000

struct mixthread_config {
    uint32_t spaces_max;          /* spaces at once; default 256 */
    uint32_t in_queue_bytes_max;  /* per space, packets and commands; default 64 KiB */
    uint32_t out_queue_bytes_max; /* all spaces' output; default 4 MiB (about 40
                                     ticks of 100 spaces of 4 speakers) */
    uint32_t late_us_max;         /* start later than this: deadline miss; default 10 ms */
    uint32_t stats_ticks;         /* per-space stats every this many ticks, 0 never;
                                     default 50 (1 s) */
    int rt_priority;              /* SCHED_FIFO priority to ask for, 0: do not;
                                     default 0 (refusal is reported in
                                     mixthread_stats.realtime, not fatal) */
};

void mixthread_config_default(struct mixthread_config *cfg);

struct mixthread_stats {
    uint64_t ticks;            /* ticks run */
    uint64_t deadline_misses;  /* ticks late to start or overrunning the period */
    uint64_t late_starts;      /* of which started more than late_us_max late */
    uint64_t overruns;         /* of which ended after the next tick was due */
    uint64_t skipped_ticks;    /* ticks not run because the thread fell behind */
    uint64_t work_us_total;    /* time spent in ticks */
    uint64_t work_us_max;      /* longest tick */
    uint64_t out_drops;        /* space ticks dropped: output queue full */
    uint64_t in_drops;         /* packets refused by mixthread_push: queue full */
    uint64_t in_oversize;      /* packets refused by mixthread_push: too big */
    uint64_t spaces;           /* spaces the thread is mixing now */
    uint64_t spaces_refused;   /* space adds refused: spaces_max */
    uint64_t speakers_refused; /* speaker adds refused: MIXER_SPEAKERS_MAX or id in use */
    bool realtime;             /* SCHED_FIFO granted */
};

enum mixthread_out_kind {
    MIXTHREAD_OUT_TICK,  /* a space's tick: program and returns */
    MIXTHREAD_OUT_STATS, /* a space's counters */
};

struct mixthread_out {
    enum mixthread_out_kind kind;
    uint32_t space_id;
    /* TICK: as mixer_tick gave it. Pointers stay valid until the next
     * mixthread_next call; shared returns point at the program bytes. */
    struct mixer_out mix;
    struct mixer_stats stats; /* STATS */
};

struct mixthread;
struct mixthread_space;

/* mixthread_new: queues and the eventfd; no thread yet. NULL with errno
 * set (EINVAL for a bad <cfg>, ENOMEM, or eventfd's errno). */
struct mixthread *mixthread_new(const struct mixthread_config *cfg);

/* mixthread_start: starts the thread; the first tick is one period from
 * now. 0 or -errno. With cfg.rt_priority > 0 the thread is SCHED_FIFO on
 * return when the system allowed it: mixthread_stats says (realtime); a
 * refusal is not an error. */
int mixthread_start(struct mixthread *mt);

/* mixthread_stop: stops and joins the thread (within one period). Spaces
 * stay; mixthread_start may run it again. */
void mixthread_stop(struct mixthread *mt);

/* mixthread_free: stops the thread and frees everything, spaces
 * included. NULL is a no-op. */
void mixthread_free(struct mixthread *mt);

/* mixthread_fd: an eventfd, readable when output is waiting. Read it (to
 * clear it) before draining with mixthread_next, so nothing that arrives
 * meanwhile goes unnoticed. */
int mixthread_fd(const struct mixthread *mt);

/* mixthread_next: the next output into <out>. Returns 1, or 0 when there
 * is none. Also frees what the mix thread handed back. */
int mixthread_next(struct mixthread *mt, struct mixthread_out *out);

/* mixthread_space_add: a new space <space_id> mixed from the next tick
 * with <cfg>. NULL with errno set: EINVAL (cfg), ENOSPC (spaces_max),
 * EAGAIN (control queue full: retry later), ENOMEM. */
struct mixthread_space *mixthread_space_add(struct mixthread *mt, uint32_t space_id,
                                            const struct mixer_config *cfg);

/* mixthread_space_remove: stops mixing <sp>; <sp> must not be used again.
 * Output already queued for it may still come out. 0, or -EAGAIN (control
 * queue full: retry later; <sp> is still valid). */
int mixthread_space_remove(struct mixthread *mt, struct mixthread_space *sp);

/* mixthread_speaker_add / _remove / _mute: speaker commands, applied in
 * order with the packets pushed around them. 0, -ENOSPC (add: already
 * MIXER_SPEAKERS_MAX speakers added), -ENOMEM, or -EAGAIN (queue full even
 * with its reserve for commands: retry later). */
int mixthread_speaker_add(struct mixthread *mt, struct mixthread_space *sp, uint32_t speaker_id);
int mixthread_speaker_remove(struct mixthread *mt, struct mixthread_space *sp, uint32_t speaker_id);
int mixthread_speaker_mute(struct mixthread *mt, struct mixthread_space *sp, uint32_t speaker_id,
                           bool muted);

/* mixthread_push: one packet from a speaker (see jbuf_push). Never
 * blocks. 0, -EMSGSIZE (payload above JBUF_PAYLOAD_BYTES_MAX) or -ENOBUFS
 * (queue full); both counted. */
int mixthread_push(struct mixthread *mt, struct mixthread_space *sp, uint32_t speaker_id,
                   uint16_t seq, uint32_t ts, const uint8_t *data, uint32_t len,
                   uint64_t arrival_us);

/* mixthread_stats: the thread's counters (read while it runs). */
void mixthread_stats(const struct mixthread *mt, struct mixthread_stats *out);

/* mixthread_thread_cpu_us: CPU time the mix thread has used, or 0 when it
 * has not run. */
uint64_t mixthread_thread_cpu_us(const struct mixthread *mt);

/* mixthread_space_count: spaces added and not removed (the loop thread's
 * count, exact at once; mixthread_stats.spaces follows a tick later). */
uint32_t mixthread_space_count(const struct mixthread *mt);

/* mixthread_least_loaded: where a new space goes among <n> (> 0) threads:
 * the index of the one with the fewest spaces, the lowest index on a tie.
 * Spaces of one thread share its 20 ms; spread, a stalled or slow core
 * holds back only its own share. */
unsigned mixthread_least_loaded(struct mixthread *const *mts, unsigned n);

#endif
