/* workers: the origin's side of its fan-out worker processes.
 *
 *   origin (sources, packaging, API)
 *     │ listening sockets: one per worker, SO_REUSEPORT, created here and
 *     │ kept open so a restarted worker inherits its queued joins
 *     ├── relay link (socketpair) ──► worker 0 ── listeners
 *     ├── relay link              ──► worker 1 ── listeners
 *     └── ...
 *
 * Each worker is this binary run as `podium worker` (fork + exec: a fresh
 * process with nothing inherited but its two descriptors). The origin sends
 * it CONF, then OPEN and the window of PAGEs of every mount, then every page
 * as it is published. A worker sends STATS every housekeeping tick and
 * HANDOFFs the connections that are not listeners (sources, /metrics, API).
 * A worker that dies loses only its listeners; it is started again with a
 * back-off, on the same listening socket.
 */
#ifndef PODIUM_WORKERS_H
#define PODIUM_WORKERS_H

#include <stdint.h>

#include "metrics.h"

struct server;
struct mount;
struct chunk;

/* workers_count: the number of workers <srv->conf> asks for ("auto"
 * resolved: one per CPU, and enough that listeners_max fits under the
 * per-process open-file limit <fds_per_process>). 0 means single process. */
uint32_t workers_count(const struct server *srv, uint64_t fds_per_process);

/* workers_start: binds <n> listening sockets on <ss> (the first resolves
 * port 0), starts the processes. 0 or -1 (logged). Sets srv->port. */
int workers_start(struct server *srv, uint32_t n, const void *ss, unsigned sl);

/* workers_stop: SIGTERM to every worker, then waits for them (bounded). */
void workers_stop(struct server *srv);

/* workers_reap: a SIGCHLD arrived: collects exits, schedules restarts. */
void workers_reap(struct server *srv);

/* Relay the canonical stream to every worker. No-ops without workers. */
void workers_mount_open(struct server *srv, const struct mount *m);
void workers_page(struct server *srv, const struct mount *m, const struct chunk *c);
void workers_mount_close(struct server *srv, const struct mount *m);
/* workers_hold, workers_release: the frames relayed between them go out as
 * one write per worker (relay_hold). */
void workers_hold(struct server *srv);
void workers_release(struct server *srv);

/* workers_totals: <out> = this process's counters plus every worker's last
 * report plus the counters of workers that exited. */
void workers_totals(const struct server *srv, struct metrics *out);

/* workers_mount_counts: listeners now and joins of mount <m>, all
 * processes: this one's own plus every worker's last report. */
void workers_mount_counts(const struct server *srv, const struct mount *m, uint64_t *listeners,
                          uint64_t *joins);

/* workers_running, workers_restarts: for /metrics. */
uint32_t workers_running(const struct server *srv);
uint64_t workers_restarts(const struct server *srv);

/* The STATS frame: struct metrics, then u32 n, then n x (u32 id, u32
 * listeners, u64 joins). Local workers only: both ends are the same binary. */
struct workers_mount_stat {
    uint32_t id, listeners;
    uint64_t joins;
};

#endif
