/* result: everything one storm run measured, in a form that merges exactly
 * (counters add, histograms add bucket by bucket, timelines add second by
 * second), written as JSON and read back by `storm merge` and by the
 * multi-process splitter. Percentiles are always recomputed from the merged
 * histogram, never averaged.
 */
#ifndef PODIUM_RESULT_H
#define PODIUM_RESULT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "hist.h"
#include "sopt.h"

#define RES_MAP_MAX 48        /* distinct reasons / attack counters kept */
#define RES_KEY_BYTES 56
#define RES_TIMELINE_MAX 7200 /* seconds of timeline kept */
#define RES_WITHIN_N 3
extern const uint32_t res_within_ms[RES_WITHIN_N]; /* 1 s, 5 s, 60 s */

struct res_count {
    char key[RES_KEY_BYTES];
    uint64_t n;
};

struct res_map {
    uint32_t len;
    struct res_count e[RES_MAP_MAX];
};

/* One second of the run. */
struct res_tick {
    uint32_t listeners; /* playing at the end of the second */
    uint32_t joins;     /* first audio in this second */
    uint32_t stalls;    /* stalls counted in this second */
    uint32_t errors;    /* integrity errors in this second */
    uint32_t failures;  /* joins that failed in this second */
    uint32_t tool_cpu_ms; /* storm's own CPU in this second, all workers */
};

struct storm_result {
    char target[80], mount[160], arrival[40], slo_spec[256];
    uint64_t duration_ms, procs;
    uint64_t listeners_target, joined, failed;
    struct res_map by_reason; /* failures, e.g. http_503, connect_refused */
    struct res_map ended;     /* how every listener ended */
    struct hist ttfa;         /* µs from intended arrival to first audio */
    uint64_t within[RES_WITHIN_N]; /* joins with TTFA <= res_within_ms[i], exact */
    struct hist lag;          /* µs from intended arrival to storm reaching the listener */
    struct hist issue;        /* µs from intended arrival to the connect() call */
    struct hist rejoin;       /* reconnect storm: µs from the drop to audio again */
    uint64_t stalls, stalled_listeners, stall_ms;
    uint64_t err_capture, err_crc, err_seq, err_granule;
    uint64_t bytes, audio_ms, listen_ms; /* audio received vs wall time listened */
    struct res_map attack;    /* "mode.counter" */
    uint64_t cpu_us;          /* tool's own CPU (user + system) */
    uint64_t tool_bound_s;    /* worker-seconds in which one worker burnt > 90 % of a core */
    uint64_t cores;           /* online CPUs where it ran (the largest, after a merge) */
    uint64_t machine_saturated_s; /* seconds the whole machine was > 95 % busy */
    uint64_t armed, arm_failed, port_fallback; /* sockets prepared before the start */
    uint64_t arm_ms;          /* longest time a worker took to prepare them */
    uint32_t ticks;
    struct res_tick tl[RES_TIMELINE_MAX];
};

void res_init(struct storm_result *r);
/* Adds <n> to <key> (truncated to RES_KEY_BYTES-1); keys past RES_MAP_MAX
 * go to "other". */
void res_map_add(struct res_map *m, const char *key, uint64_t n);
uint64_t res_map_get(const struct res_map *m, const char *key);
uint64_t res_integrity(const struct storm_result *r);
/* Seconds of the timeline in which storm as a whole used more than 90 % of
 * all the machine's cores (it was then competing with the server for CPU). */
uint64_t res_machine_bound_s(const struct storm_result *r);

#define RES_ISSUE_LATE_US 1000000u /* connects issued later than this (p99): storm was late */
#define RES_WARN_MAX 4

/* res_warnings: the ways the run measured storm rather than the server
 * (late connects, CPU-bound), one line each; returns how many (<= max). */
int res_warnings(const struct storm_result *r, char w[][200], int max);
/* dst += src exactly. */
void res_merge(struct storm_result *dst, const struct storm_result *src);

/* res_slo_check: evaluates --slo <spec> (r->slo_spec) on <r>. Fills up to
 * <fail_max> failure lines; returns the number of failures, or -1 when the
 * spec does not parse. */
int res_slo_check(const struct storm_result *r, char fails[][160], int fail_max);

/* JSON with the summary, by_reason, SLO verdict, timeline and the raw
 * histograms. 0 or -errno. */
int res_write_json(const struct storm_result *r, FILE *f);
/* res_read_json: the inverse, for merge. 0, or -1 with a reason in err. */
int res_read_json(struct storm_result *r, const char *text, size_t len, char *err,
                  size_t err_len);
/* Reads a whole file into memory (NUL-terminated); NULL on error. Caps at
 * 64 MiB. */
char *res_slurp(const char *path, size_t *len);

#endif
