/* split: runs a storm over several worker processes when one process's
 * open-file limit cannot hold all the connections. Each worker takes every
 * n-th listener of one common schedule (the same start instant on
 * CLOCK_MONOTONIC), streams a one-line snapshot per second to the parent (for
 * the live line) and leaves its result as JSON; the parent merges the results
 * exactly, as `storm merge` does.
 */
#ifndef PODIUM_SPLIT_H
#define PODIUM_SPLIT_H

#include <stdint.h>

#include "result.h"
#include "run.h"

#define SPLIT_PROCS_MAX 64
#define SPLIT_FDS_SPARE 256 /* per process, for the loop, logs, the odd pipe */

/* Connections one process can hold with an open-file limit of <nofile>. */
uint64_t split_fds_per_proc(uint64_t nofile);
/* Processes needed for <conns> connections with limit <nofile> (>= 1). */
uint32_t split_procs_needed(uint64_t conns, uint64_t nofile);

/* split_run: <procs> workers for <cfg> (shard fields are set per worker);
 * merged into <res>. 0 or -errno. */
int split_run(const struct run_cfg *cfg, uint32_t procs, struct storm_result *res);

#endif
