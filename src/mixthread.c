/* mixthread: the mixing thread and its queues. See mixthread.h. */
#include "mixthread.h"

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "loop.h"

/* Bytes of a space's input queue that packets may not take, so speaker
 * commands still fit while a speaker floods: 32 commands. */
#define IN_CMD_RESERVE_BYTES 1024
#define IN_QUEUE_BYTES_MIN 8192
#define OUT_QUEUE_BYTES_MIN 65536
#define QUEUE_BYTES_LIMIT (1u << 30)
#define SPACES_LIMIT 4096
#define CACHELINE 64

/* ---- bounded SPSC ring of variable-sized records ----
 *
 * head and tail count bytes since the start and never wrap; the buffer
 * index is the count modulo cap (a power of two). A record is a header and
 * a payload, 8-byte aligned, never split: one that does not fit before the
 * end is preceded by a padding record filling the end. The producer
 * publishes head with release after writing; the consumer publishes tail
 * with release after reading, and each reads the other's with acquire. */

struct rec_hdr {
    uint32_t size; /* whole record, header included, multiple of 8 */
    uint32_t kind; /* 0: padding */
};

struct spsc {
    _Atomic uint64_t head;
    char pad_head[CACHELINE - sizeof(uint64_t)];
    _Atomic uint64_t tail;
    char pad_tail[CACHELINE - sizeof(uint64_t)];
    /* producer's side */
    uint64_t p_head, p_tail_seen, p_rec;
    uint32_t p_size;
    char pad_p[CACHELINE - 3 * sizeof(uint64_t) - sizeof(uint32_t)];
    /* consumer's side */
    uint64_t c_tail;
    /* fixed */
    uint8_t *buf;
    uint32_t cap;
};

static uint32_t pow2_at_least(uint32_t n)
{
    uint32_t c = 1;
    while (c < n)
        c <<= 1;
    return c;
}

static int spsc_init(struct spsc *q, uint32_t bytes)
{
    memset(q, 0, sizeof(*q));
    q->cap = pow2_at_least(bytes);
    q->buf = malloc(q->cap);
    return q->buf ? 0 : -ENOMEM;
}

static void spsc_destroy(struct spsc *q)
{
    free(q->buf);
    q->buf = NULL;
}

/* Producer: room for a record of <payload> bytes leaving <keep_free>
 * bytes free, or NULL. Finish with spsc_commit. */
static void *spsc_begin(struct spsc *q, uint32_t payload, uint32_t keep_free)
{
    uint32_t size = (uint32_t)((sizeof(struct rec_hdr) + payload + 7) & ~(size_t)7);
    uint64_t head = q->p_head;
    uint32_t pos = (uint32_t)(head & (q->cap - 1));
    uint32_t pad = pos + size > q->cap ? q->cap - pos : 0;
    uint64_t need = (uint64_t)pad + size + keep_free;
    if (q->cap - (head - q->p_tail_seen) < need) {
        q->p_tail_seen = atomic_load_explicit(&q->tail, memory_order_acquire);
        if (q->cap - (head - q->p_tail_seen) < need) return NULL;
    }
    if (pad) {
        struct rec_hdr h = {pad, 0};
        memcpy(q->buf + pos, &h, sizeof(h));
        head += pad;
        pos = 0;
    }
    q->p_rec = head;
    q->p_size = size;
    return q->buf + pos + sizeof(struct rec_hdr);
}

static void spsc_commit(struct spsc *q, uint32_t kind)
{
    struct rec_hdr h = {q->p_size, kind};
    memcpy(q->buf + (q->p_rec & (q->cap - 1)), &h, sizeof(h));
    q->p_head = q->p_rec + q->p_size;
    atomic_store_explicit(&q->head, q->p_head, memory_order_release);
}

/* Consumer: where the records published so far end. */
static uint64_t spsc_end(struct spsc *q)
{
    return atomic_load_explicit(&q->head, memory_order_acquire);
}

/* Consumer: the next record before <end>, or NULL. Its bytes stay valid
 * until spsc_release. */
static void *spsc_read(struct spsc *q, uint64_t end, uint32_t *kind, uint32_t *payload)
{
    while (q->c_tail != end) {
        struct rec_hdr h;
        uint8_t *at = q->buf + (q->c_tail & (q->cap - 1));
        memcpy(&h, at, sizeof(h));
        q->c_tail += h.size;
        if (h.kind == 0) continue;
        *kind = h.kind;
        *payload = h.size - (uint32_t)sizeof(h);
        return at + sizeof(h);
    }
    return NULL;
}

static void spsc_release(struct spsc *q)
{
    atomic_store_explicit(&q->tail, q->c_tail, memory_order_release);
}

/* ---- records ---- */

enum { IN_PACKET = 1, IN_ADD, IN_REMOVE, IN_MUTE };
enum { CTL_SPACE_ADD = 1, CTL_SPACE_REMOVE };
enum { GB_SPACE = 1, GB_SPEAKER };
enum { OUT_TICK = 1, OUT_STATS };

struct in_packet {
    uint64_t arrival_us;
    uint32_t speaker_id;
    uint32_t ts;
    uint16_t seq;
    uint16_t len;
    uint8_t data[];
};

struct in_cmd {
    struct mixer_speaker *speaker; /* IN_ADD */
    uint32_t speaker_id;
    uint32_t muted;
};

struct out_ret {
    uint32_t speaker_id;
    uint32_t len;
    uint32_t flags; /* OUT_RET_* */
};
#define OUT_RET_SHARED 1u
#define OUT_RET_ACTIVE 2u
#define OUT_RET_SILENT 4u

struct out_tick {
    uint64_t ts;
    uint32_t space_id;
    uint32_t program_len;
    uint32_t returns;
    uint32_t pad;
    /* then returns x struct out_ret, the program bytes, each unshared
     * return's bytes */
};

struct out_stats {
    uint32_t space_id;
    uint32_t pad;
    struct mixer_stats stats;
};

struct mixthread_space {
    uint32_t id;
    uint32_t speakers; /* loop thread: added minus removed */
    struct mixer_config cfg;
    struct mixer *mixer;
    uint32_t stats_countdown; /* mix thread */
    uint32_t index;           /* mix thread: slot in mt->spaces */
    struct spsc in;           /* loop -> mix: packets and speaker commands */
};

struct mixthread {
    struct mixthread_config cfg;
    int efd;
    int park_fd; /* blocking eventfd: a thread with no space waits on it */
    pthread_t thread;
    bool running;
    atomic_bool stop;
    struct spsc ctl;     /* loop -> mix: space add/remove */
    struct spsc out;     /* mix -> loop: ticks and stats */
    struct spsc garbage; /* mix -> loop: spaces and speakers to free */

    /* mix thread (or the loop thread while the mix thread is stopped) */
    struct mixthread_space **spaces;
    uint32_t nspaces;

    /* loop thread */
    uint32_t spaces_added; /* added minus removed */
    uint32_t objects;      /* spaces and speakers allocated, not yet freed */
    uint32_t objects_max;  /* bound that keeps the garbage queue from filling */
    bool out_held;         /* a record from mixthread_next awaits release */
    uint64_t in_drops, in_oversize, loop_spaces_refused, loop_speakers_refused;

    /* written by the mix thread, read by anyone */
    _Atomic uint64_t ticks, misses, late_starts, overruns, skipped, work_total, work_max;
    _Atomic uint64_t out_drops, spaces_now, speakers_refused, cpu_us;
    atomic_bool realtime;
};

/* Counters have one writer: a relaxed load and store is enough. */
static void bump(_Atomic uint64_t *c, uint64_t n)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
                          memory_order_relaxed);
}

static uint64_t get(const _Atomic uint64_t *c)
{
    return atomic_load_explicit(c, memory_order_relaxed);
}

void mixthread_config_default(struct mixthread_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->spaces_max = 256;
    cfg->in_queue_bytes_max = 64 * 1024;
    cfg->out_queue_bytes_max = 4 * 1024 * 1024;
    cfg->late_us_max = 10000;
    cfg->stats_ticks = 50;
    cfg->rt_priority = 0;
}

static int config_check(const struct mixthread_config *c)
{
    if (c->spaces_max == 0 || c->spaces_max > SPACES_LIMIT) return -EINVAL;
    if (c->in_queue_bytes_max < IN_QUEUE_BYTES_MIN || c->in_queue_bytes_max > QUEUE_BYTES_LIMIT)
        return -EINVAL;
    if (c->out_queue_bytes_max < OUT_QUEUE_BYTES_MIN || c->out_queue_bytes_max > QUEUE_BYTES_LIMIT)
        return -EINVAL;
    if (c->late_us_max > MIXTHREAD_TICK_US) return -EINVAL;
    if (c->rt_priority < 0 || c->rt_priority > 99) return -EINVAL;
    return 0;
}

struct mixthread *mixthread_new(const struct mixthread_config *cfg)
{
    if (config_check(cfg) < 0) {
        errno = EINVAL;
        return NULL;
    }
    struct mixthread *mt = calloc(1, sizeof(*mt));
    if (!mt) return NULL;
    mt->cfg = *cfg;
    mt->objects_max = cfg->spaces_max * (1 + MIXER_SPEAKERS_MAX);
    /* Every object the garbage queue can hold was counted in objects:
     * 16-byte records, so it can never be full. */
    uint32_t gb_bytes = mt->objects_max * 16;
    uint32_t ctl_bytes = cfg->spaces_max * 4 * 16;
    mt->spaces = calloc(cfg->spaces_max, sizeof(*mt->spaces));
    if (!mt->spaces) goto out_free;
    if (spsc_init(&mt->ctl, ctl_bytes) < 0) goto out_spaces;
    if (spsc_init(&mt->out, cfg->out_queue_bytes_max) < 0) goto out_ctl;
    if (spsc_init(&mt->garbage, gb_bytes) < 0) goto out_out;
    mt->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (mt->efd < 0) goto out_garbage;
    mt->park_fd = eventfd(0, EFD_CLOEXEC);
    if (mt->park_fd < 0) goto out_efd;
    return mt;

out_efd:
    close(mt->efd);
out_garbage:
    spsc_destroy(&mt->garbage);
out_out:
    spsc_destroy(&mt->out);
out_ctl:
    spsc_destroy(&mt->ctl);
out_spaces:
    free(mt->spaces);
out_free : {
    int e = errno;
    free(mt);
    errno = e ? e : ENOMEM;
    return NULL;
}
}

int mixthread_fd(const struct mixthread *mt)
{
    return mt->efd;
}

/* ---- mix-thread side ---- */

static void give_back(struct mixthread *mt, uint32_t kind, void *p)
{
    void **slot = spsc_begin(&mt->garbage, sizeof(void *), 0);
    assert(slot); /* sized for every object there can be */
    if (!slot) return;
    *slot = p;
    spsc_commit(&mt->garbage, kind);
}

static void adopt(struct mixthread *mt, struct mixthread_space *sp)
{
    /* The loop side refuses adds beyond spaces_max, and removals reach
     * this queue before the adds that follow them. */
    assert(mt->nspaces < mt->cfg.spaces_max);
    sp->index = mt->nspaces;
    sp->stats_countdown = mt->cfg.stats_ticks;
    mt->spaces[mt->nspaces++] = sp;
    atomic_store_explicit(&mt->spaces_now, mt->nspaces, memory_order_relaxed);
}

static void disown(struct mixthread *mt, struct mixthread_space *sp)
{
    assert(sp->index < mt->nspaces && mt->spaces[sp->index] == sp);
    struct mixthread_space *last = mt->spaces[--mt->nspaces];
    mt->spaces[sp->index] = last;
    last->index = sp->index;
    atomic_store_explicit(&mt->spaces_now, mt->nspaces, memory_order_relaxed);
    give_back(mt, GB_SPACE, sp);
}

static void control(struct mixthread *mt)
{
    uint64_t end = spsc_end(&mt->ctl);
    uint32_t kind, len;
    struct mixthread_space **p;
    while ((p = spsc_read(&mt->ctl, end, &kind, &len))) {
        if (kind == CTL_SPACE_ADD)
            adopt(mt, *p);
        else
            disown(mt, *p);
    }
    spsc_release(&mt->ctl);
}

/* Applies what <sp>'s queue held when the tick began. */
static void drain(struct mixthread *mt, struct mixthread_space *sp)
{
    uint64_t end = spsc_end(&sp->in);
    uint32_t kind, len;
    void *p;
    while ((p = spsc_read(&sp->in, end, &kind, &len))) {
        if (kind == IN_PACKET) {
            struct in_packet *k = p;
            mixer_push(sp->mixer, k->speaker_id, k->seq, k->ts, k->data, k->len, k->arrival_us);
            continue;
        }
        struct in_cmd *c = p;
        if (kind == IN_ADD) {
            if (mixer_attach(sp->mixer, c->speaker) < 0) {
                bump(&mt->speakers_refused, 1);
                give_back(mt, GB_SPEAKER, c->speaker);
            }
        } else if (kind == IN_REMOVE) {
            struct mixer_speaker *s = mixer_detach(sp->mixer, c->speaker_id);
            if (s) give_back(mt, GB_SPEAKER, s);
        } else if (kind == IN_MUTE) {
            mixer_mute(sp->mixer, c->speaker_id, c->muted != 0);
        }
    }
    spsc_release(&sp->in);
}

/* Queues one space's tick for the loop thread; false when it did not fit. */
static bool emit_tick(struct mixthread *mt, struct mixthread_space *sp, const struct mixer_out *o)
{
    size_t bytes = sizeof(struct out_tick) + o->returns * sizeof(struct out_ret) + o->program_len;
    for (unsigned i = 0; i < o->returns; i++)
        if (!o->ret[i].shared) bytes += o->ret[i].len;
    uint8_t *p = spsc_begin(&mt->out, (uint32_t)bytes, 0);
    if (!p) {
        bump(&mt->out_drops, 1);
        return false;
    }
    struct out_tick t = {o->ts, sp->id, o->program_len, o->returns, 0};
    memcpy(p, &t, sizeof(t));
    struct out_ret *r = (struct out_ret *)(p + sizeof(t));
    uint8_t *data = (uint8_t *)(r + o->returns);
    memcpy(data, o->program, o->program_len);
    data += o->program_len;
    for (unsigned i = 0; i < o->returns; i++) {
        const struct mixer_return *mr = &o->ret[i];
        r[i].speaker_id = mr->speaker_id;
        r[i].len = mr->len;
        r[i].flags = (mr->shared ? OUT_RET_SHARED : 0) | (mr->active ? OUT_RET_ACTIVE : 0) |
                     (mr->silent ? OUT_RET_SILENT : 0);
        if (mr->shared || mr->silent) continue;
        memcpy(data, mr->data, mr->len);
        data += mr->len;
    }
    spsc_commit(&mt->out, OUT_TICK);
    return true;
}

static bool emit_stats(struct mixthread *mt, struct mixthread_space *sp)
{
    struct out_stats *s = spsc_begin(&mt->out, sizeof(*s), 0);
    if (!s) {
        bump(&mt->out_drops, 1);
        return false;
    }
    s->space_id = sp->id;
    s->pad = 0;
    mixer_stats(sp->mixer, &s->stats);
    spsc_commit(&mt->out, OUT_STATS);
    return true;
}

static void run_tick(struct mixthread *mt, uint64_t now_us)
{
    bool emitted = false;
    control(mt);
    for (uint32_t i = 0; i < mt->nspaces; i++) {
        struct mixthread_space *sp = mt->spaces[i];
        struct mixer_out o;
        drain(mt, sp);
        mixer_tick(sp->mixer, now_us, &o); /* encoder failures are counted by the mixer */
        emitted |= emit_tick(mt, sp, &o);
        if (mt->cfg.stats_ticks && --sp->stats_countdown == 0) {
            sp->stats_countdown = mt->cfg.stats_ticks;
            emitted |= emit_stats(mt, sp);
        }
    }
    if (emitted) {
        uint64_t one = 1;
        /* Fails only when the counter would overflow: already readable. */
        (void)!write(mt->efd, &one, sizeof(one));
    }
}

static void sleep_until_us(uint64_t when_us)
{
    struct timespec ts = {(time_t)(when_us / 1000000), (long)(when_us % 1000000) * 1000};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {
    }
}

static uint64_t thread_cpu_us(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) < 0) return 0;
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* With no space to mix, the thread does not tick: it waits until a space
 * is added or it is stopped (both write park_fd; a count written while it
 * was ticking only costs one more tick). */
static void park(struct mixthread *mt)
{
    uint64_t v;
    while (read(mt->park_fd, &v, sizeof(v)) < 0 && errno == EINTR) {
    }
}

static void *thread_main(void *arg)
{
    struct mixthread *mt = arg;
    uint64_t next = clock_mono_us() + MIXTHREAD_TICK_US;
    while (!atomic_load_explicit(&mt->stop, memory_order_relaxed)) {
        sleep_until_us(next);
        if (atomic_load_explicit(&mt->stop, memory_order_relaxed)) break;
        uint64_t start = clock_mono_us();
        bool late = start > next + mt->cfg.late_us_max;
        if (start >= next + MIXTHREAD_TICK_US) {
            /* Fell behind by whole periods: skip them, do not pile up. */
            uint64_t k = (start - next) / MIXTHREAD_TICK_US;
            next += k * MIXTHREAD_TICK_US;
            bump(&mt->skipped, k);
        }
        run_tick(mt, next);
        uint64_t end = clock_mono_us();
        bool overrun = end > next + MIXTHREAD_TICK_US;
        uint64_t work = end - start;
        bump(&mt->ticks, 1);
        bump(&mt->work_total, work);
        if (work > get(&mt->work_max))
            atomic_store_explicit(&mt->work_max, work, memory_order_relaxed);
        if (late) bump(&mt->late_starts, 1);
        if (overrun) bump(&mt->overruns, 1);
        if (late || overrun) bump(&mt->misses, 1);
        atomic_store_explicit(&mt->cpu_us, thread_cpu_us(), memory_order_relaxed);
        next += MIXTHREAD_TICK_US;
        if (mt->nspaces == 0) {
            park(mt);
            next = clock_mono_us(); /* the first tick adopts the new space */
        }
    }
    return NULL;
}

/* ---- loop-thread side ---- */

int mixthread_start(struct mixthread *mt)
{
    if (mt->running) return -EALREADY;
    atomic_store(&mt->stop, false);
    atomic_store(&mt->realtime, false);
    int rc = pthread_create(&mt->thread, NULL, thread_main, mt);
    if (rc) return -rc;
    mt->running = true;
    /* Asked from here rather than by the thread itself, so the caller
     * knows the answer on return; the first tick is a period away. */
    if (mt->cfg.rt_priority > 0) {
        struct sched_param prio = {.sched_priority = mt->cfg.rt_priority};
        if (pthread_setschedparam(mt->thread, SCHED_FIFO, &prio) == 0)
            atomic_store(&mt->realtime, true);
    }
    return 0;
}

void mixthread_stop(struct mixthread *mt)
{
    if (!mt->running) return;
    atomic_store(&mt->stop, true);
    uint64_t one = 1;
    (void)!write(mt->park_fd, &one, sizeof(one));
    pthread_join(mt->thread, NULL);
    mt->running = false;
}

/* Frees a space the mix thread gave back (or never had), with its
 * attached speakers and the ones still waiting in its queue. */
static void space_free(struct mixthread *mt, struct mixthread_space *sp)
{
    uint64_t end = spsc_end(&sp->in);
    uint32_t kind, len;
    void *p;
    while ((p = spsc_read(&sp->in, end, &kind, &len))) {
        if (kind == IN_ADD) {
            mixer_speaker_free(((struct in_cmd *)p)->speaker);
            mt->objects--;
        }
    }
    mt->objects -= mixer_speakers(sp->mixer) + 1;
    mixer_free(sp->mixer);
    spsc_destroy(&sp->in);
    free(sp);
}

/* Frees what the mix thread handed back. */
static void collect(struct mixthread *mt)
{
    uint64_t end = spsc_end(&mt->garbage);
    uint32_t kind, len;
    void **p;
    while ((p = spsc_read(&mt->garbage, end, &kind, &len))) {
        if (kind == GB_SPEAKER) {
            mixer_speaker_free(*p);
            mt->objects--;
        } else {
            space_free(mt, *p);
        }
    }
    spsc_release(&mt->garbage);
}

void mixthread_free(struct mixthread *mt)
{
    if (!mt) return;
    mixthread_stop(mt);
    /* The mix thread is gone: finish its control work here, then free
     * what it held and what it gave back. */
    control(mt);
    collect(mt);
    for (uint32_t i = 0; i < mt->nspaces; i++)
        space_free(mt, mt->spaces[i]);
    close(mt->efd);
    close(mt->park_fd);
    spsc_destroy(&mt->garbage);
    spsc_destroy(&mt->out);
    spsc_destroy(&mt->ctl);
    free(mt->spaces);
    free(mt);
}

int mixthread_next(struct mixthread *mt, struct mixthread_out *out)
{
    if (mt->out_held) {
        spsc_release(&mt->out);
        mt->out_held = false;
    }
    collect(mt);
    uint32_t kind, len;
    uint8_t *p = spsc_read(&mt->out, spsc_end(&mt->out), &kind, &len);
    if (!p) {
        spsc_release(&mt->out); /* padding read past */
        return 0;
    }
    mt->out_held = true;
    if (kind == OUT_STATS) {
        struct out_stats s;
        memcpy(&s, p, sizeof(s));
        out->kind = MIXTHREAD_OUT_STATS;
        out->space_id = s.space_id;
        out->stats = s.stats;
        return 1;
    }
    struct out_tick t;
    memcpy(&t, p, sizeof(t));
    out->kind = MIXTHREAD_OUT_TICK;
    out->space_id = t.space_id;
    out->mix.ts = t.ts;
    out->mix.returns = t.returns;
    const struct out_ret *r = (const struct out_ret *)(p + sizeof(t));
    const uint8_t *data = (const uint8_t *)(r + t.returns);
    out->mix.program = data;
    out->mix.program_len = t.program_len;
    data += t.program_len;
    for (uint32_t i = 0; i < t.returns; i++) {
        struct mixer_return *mr = &out->mix.ret[i];
        mr->speaker_id = r[i].speaker_id;
        mr->shared = (r[i].flags & OUT_RET_SHARED) != 0;
        mr->active = (r[i].flags & OUT_RET_ACTIVE) != 0;
        mr->silent = (r[i].flags & OUT_RET_SILENT) != 0;
        mr->len = r[i].len;
        mr->data = mr->shared ? out->mix.program : mr->silent ? NULL : data;
        if (!mr->shared) data += r[i].len;
    }
    return 1;
}

struct mixthread_space *mixthread_space_add(struct mixthread *mt, uint32_t space_id,
                                            const struct mixer_config *cfg)
{
    collect(mt);
    if (mixer_config_check(cfg) < 0) {
        errno = EINVAL;
        return NULL;
    }
    if (mt->spaces_added >= mt->cfg.spaces_max || mt->objects >= mt->objects_max) {
        mt->loop_spaces_refused++;
        errno = ENOSPC;
        return NULL;
    }
    struct mixthread_space *sp = calloc(1, sizeof(*sp));
    if (!sp) return NULL;
    sp->id = space_id;
    sp->cfg = *cfg;
    sp->mixer = mixer_new(cfg);
    if (!sp->mixer) goto out_free;
    if (spsc_init(&sp->in, mt->cfg.in_queue_bytes_max) < 0) goto out_mixer;
    struct mixthread_space **rec = spsc_begin(&mt->ctl, sizeof(sp), 0);
    if (!rec) {
        errno = EAGAIN;
        goto out_queue;
    }
    *rec = sp;
    spsc_commit(&mt->ctl, CTL_SPACE_ADD);
    uint64_t one = 1;
    (void)!write(mt->park_fd, &one, sizeof(one)); /* wakes a parked thread */
    mt->spaces_added++;
    mt->objects++;
    return sp;

out_queue:
    spsc_destroy(&sp->in);
out_mixer:
    mixer_free(sp->mixer);
out_free : {
    int e = errno;
    free(sp);
    errno = e ? e : ENOMEM;
    return NULL;
}
}

int mixthread_space_remove(struct mixthread *mt, struct mixthread_space *sp)
{
    collect(mt);
    struct mixthread_space **rec = spsc_begin(&mt->ctl, sizeof(sp), 0);
    if (!rec) return -EAGAIN;
    *rec = sp;
    spsc_commit(&mt->ctl, CTL_SPACE_REMOVE);
    mt->spaces_added--;
    return 0;
}

static int command(struct mixthread_space *sp, uint32_t kind, struct mixer_speaker *s,
                   uint32_t speaker_id, bool muted)
{
    struct in_cmd *c = spsc_begin(&sp->in, sizeof(*c), 0);
    if (!c) return -EAGAIN;
    c->speaker = s;
    c->speaker_id = speaker_id;
    c->muted = muted;
    spsc_commit(&sp->in, kind);
    return 0;
}

int mixthread_speaker_add(struct mixthread *mt, struct mixthread_space *sp, uint32_t speaker_id)
{
    collect(mt);
    if (sp->speakers >= MIXER_SPEAKERS_MAX || mt->objects >= mt->objects_max) {
        mt->loop_speakers_refused++;
        return -ENOSPC;
    }
    struct mixer_speaker *s = mixer_speaker_new(&sp->cfg, speaker_id);
    if (!s) return -ENOMEM;
    int rc = command(sp, IN_ADD, s, speaker_id, false);
    if (rc < 0) {
        mixer_speaker_free(s);
        return rc;
    }
    sp->speakers++;
    mt->objects++;
    return 0;
}

int mixthread_speaker_remove(struct mixthread *mt, struct mixthread_space *sp, uint32_t speaker_id)
{
    collect(mt);
    int rc = command(sp, IN_REMOVE, NULL, speaker_id, false);
    if (rc == 0 && sp->speakers) sp->speakers--;
    return rc;
}

int mixthread_speaker_mute(struct mixthread *mt, struct mixthread_space *sp, uint32_t speaker_id,
                           bool muted)
{
    return command(sp, IN_MUTE, NULL, speaker_id, muted);
}

int mixthread_push(struct mixthread *mt, struct mixthread_space *sp, uint32_t speaker_id,
                   uint16_t seq, uint32_t ts, const uint8_t *data, uint32_t len,
                   uint64_t arrival_us)
{
    if (len > JBUF_PAYLOAD_BYTES_MAX) {
        mt->in_oversize++;
        return -EMSGSIZE;
    }
    struct in_packet *k = spsc_begin(&sp->in, (uint32_t)sizeof(*k) + len, IN_CMD_RESERVE_BYTES);
    if (!k) {
        mt->in_drops++;
        return -ENOBUFS;
    }
    k->arrival_us = arrival_us;
    k->speaker_id = speaker_id;
    k->ts = ts;
    k->seq = seq;
    k->len = (uint16_t)len;
    if (len) memcpy(k->data, data, len);
    spsc_commit(&sp->in, IN_PACKET);
    return 0;
}

void mixthread_stats(const struct mixthread *mt, struct mixthread_stats *out)
{
    memset(out, 0, sizeof(*out));
    out->ticks = get(&mt->ticks);
    out->deadline_misses = get(&mt->misses);
    out->late_starts = get(&mt->late_starts);
    out->overruns = get(&mt->overruns);
    out->skipped_ticks = get(&mt->skipped);
    out->work_us_total = get(&mt->work_total);
    out->work_us_max = get(&mt->work_max);
    out->out_drops = get(&mt->out_drops);
    out->in_drops = mt->in_drops;
    out->in_oversize = mt->in_oversize;
    out->spaces = get(&mt->spaces_now);
    out->spaces_refused = mt->loop_spaces_refused;
    out->speakers_refused = get(&mt->speakers_refused) + mt->loop_speakers_refused;
    out->realtime = atomic_load(&mt->realtime);
}

uint64_t mixthread_thread_cpu_us(const struct mixthread *mt)
{
    return get(&mt->cpu_us);
}

uint32_t mixthread_space_count(const struct mixthread *mt)
{
    return mt->spaces_added;
}

unsigned mixthread_least_loaded(struct mixthread *const *mts, unsigned n)
{
    assert(n > 0);
    unsigned best = 0;
    for (unsigned i = 1; i < n; i++)
        if (mts[i]->spaces_added < mts[best]->spaces_added) best = i;
    return best;
}
