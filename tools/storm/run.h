/* run: one storm worker — one event loop driving a shard of the virtual
 * listeners plus its share of the attack, from a common start time, into one
 * storm_result. Several workers (processes) merge their results exactly.
 */
#ifndef PODIUM_RUN_H
#define PODIUM_RUN_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "arm.h"
#include "join.h"
#include "loop.h"
#include "result.h"
#include "sopt.h"

#define RUN_READ_BYTES 65536        /* one read() per readiness event, into a shared buffer */
#define RUN_LAUNCH_BATCH_MAX 65536  /* connects issued per loop iteration (then let reads run) */
#define RUN_LAUNCH_SLICE_MS 250     /* ... or this long, whichever comes first */
#define RUN_EVENTS_MAX 1024         /* readiness events taken per loop iteration */
#define RUN_HEADER_BYTES_MAX 16384  /* response header section a listener accepts */
#define RUN_SWEEP_MS 250            /* stall checks and attack trickles */
#define RUN_START_WAIT_MS 60000     /* a worker waits this long for the common start */
#define RUN_START_MARGIN_US 20000   /* from "everyone is armed" to t0: time to wake up */

struct run_cfg {
    struct target target;
    char mount[160];
    uint32_t listeners; /* all shards together */
    uint32_t shard, shards; /* this worker takes indices i with i % shards == shard */
    struct arrival arrival;
    uint64_t duration_us;
    uint64_t t0_us;   /* common start on CLOCK_MONOTONIC; 0 = now */
    struct attack_spec attack;
    uint32_t src_first, src_count; /* source addresses, host order; count 0 = kernel's choice */
    struct arm_plan arm; /* how each listener's socket is bound before the start */
    bool live;        /* one line per second on stderr */
    int status_fd;    /* worker → parent snapshot lines, -1 when none */
    struct join_cfg join; /* --space: listeners join through the gate first */
    int go_fd;        /* parent → worker: the common t0, sent once all are armed; -1 when none */
};

struct vl;
struct attack;

/* The machine's CPU counters (/proc/stat), to tell a saturated machine:
 * storm and the server on one box compete for it with everything else. */
struct run_cpustat {
    uint64_t total, idle; /* clock ticks, all CPUs */
};

#define RUN_MACHINE_SATURATED_PPM 950000 /* a second with < 5 % idle CPU on the machine */

struct run {
    const struct run_cfg *cfg;
    struct loop *loop;
    struct storm_result *res;
    struct vl *vls;
    uint32_t nvl;       /* this shard's listeners */
    uint32_t next_launch;
    uint32_t playing;   /* listeners with audio right now */
    uint32_t open_fds;
    uint64_t t0_us, end_us;
    uint32_t src_rr;
    char request[512];  /* the listener's GET, the same bytes for everyone */
    size_t request_len;
    struct timer launch_timer, sweep_timer, tick_timer, end_timer, storm_timer;
    struct attack *atk;
    struct join *join; /* --space */
    uint64_t cpu_start_us, cpu_tick_us;
    uint32_t tool_bound_ticks;
    struct run_cpustat machine; /* at the last tick (sampled only when not under the splitter) */
    uint32_t tick_no;   /* seconds reported so far */
    uint8_t *rbuf;
    bool ended;
};

/* Set (from a signal handler) to end every run early, at the next 250 ms
 * sweep, with its report. */
extern volatile sig_atomic_t run_stop_requested;

/* run_catch_stop: <handler> for SIGINT and SIGTERM (it sets
 * run_stop_requested; the parent and its workers differ in what a second
 * signal does). */
void run_catch_stop(void (*handler)(int));

/* run_worker: runs the whole shard to its end and fills <res>. 0, or -errno
 * when the worker could not start (no loop, no memory). */
int run_worker(const struct run_cfg *cfg, struct storm_result *res);

/* run_socket: a non-blocking TCP socket bound to the next source address
 * (if any; the port is chosen at connect). Returns the fd or -errno. */
int run_socket(struct run *r);
/* run_issue: connect() of <fd> to the target; 0 once issued (in progress or
 * done), or -errno. */
int run_issue(struct run *r, int fd);
/* run_connect: run_socket + run_issue; the fd or -errno (nothing left open). */
int run_connect(struct run *r);

/* Seconds since start, for timeline ticks (clamped to the timeline). */
uint32_t run_tick_index(const struct run *r, uint64_t now_us);

/* Process CPU (user + system) in µs. */
uint64_t run_cpu_us(void);

/* run_cpustat_read: 0, or -errno when /proc/stat cannot be read. */
int run_cpustat_read(struct run_cpustat *s);
/* Busy share of the machine from <a> to <b> in parts per million; 0 when
 * unknown (no ticks between them). */
uint32_t run_cpustat_busy_ppm(const struct run_cpustat *a, const struct run_cpustat *b);

#endif
