/* overload: the overload ladder, driven by measured pressure.
 *
 * Once a second the server samples its pressure: CPU busy share of the
 * event loop, memory against its budget, open connections against their
 * cap. The highest of the three, in permille, is the pressure. The ladder
 * climbs at once to the highest level whose threshold the pressure reaches,
 * and comes down one level at a time, only after the pressure has stayed
 * below that level's threshold minus a hysteresis margin for calm_ms: a
 * spike sheds immediately, recovery does not flap.
 *
 * Each level refuses one more class of new work, lowest priority first:
 *
 *   level  refuses new ...                          still served
 *     0    nothing                                  everything
 *     1    other (pages, API, metrics scrapes)      joins, polls, speakers, audio
 *     2    + joins (503 overload, Retry-After)      polls, speakers, audio
 *     3    + queue polls (told to retry later)      speakers, audio
 *     4    + speaker connections                    audio for admitted listeners
 *
 * Audio for listeners already admitted is never refused by the ladder; it
 * is what everything else is shed to protect. The ladder governs new
 * requests only: it never closes an established stream.
 */
#ifndef PODIUM_OVERLOAD_H
#define PODIUM_OVERLOAD_H

#include <stdbool.h>
#include <stdint.h>

#define OVERLOAD_LEVELS 5          /* 0..4 */
#define OVERLOAD_PRESSURE_MAX 2000 /* permille: "twice the budget" is as bad as it gets */

enum overload_class {
    OVERLOAD_AUDIO,      /* an admitted listener's stream */
    OVERLOAD_SPEAKER,    /* a source / speaker connection */
    OVERLOAD_QUEUE_POLL, /* a join retried with a queue ticket */
    OVERLOAD_JOIN,       /* a new join */
    OVERLOAD_OTHER,      /* everything else */
    OVERLOAD_CLASSES,
};

enum overload_input { OVERLOAD_CPU, OVERLOAD_MEM, OVERLOAD_CONNS };

struct overload_conf {
    uint32_t up_permille[OVERLOAD_LEVELS - 1]; /* pressure entering levels 1..4, increasing */
    uint32_t hysteresis_permille;              /* leave level L below up[L-1] minus this */
    uint32_t calm_ms;                          /* ... held for this long */
};

#define OVERLOAD_CONF_DEFAULT                                                                      \
    ((struct overload_conf){                                                                       \
        .up_permille = {700, 800, 900, 970}, .hysteresis_permille = 100, .calm_ms = 5000})

struct overload_sample {
    uint32_t cpu_permille;     /* loop busy time / wall time over the last second */
    uint64_t mem_bytes;        /* resident memory */
    uint64_t mem_budget_bytes; /* 0: not measured */
    uint32_t conns;
    uint32_t conns_max; /* 0: not measured */
};

struct overload {
    struct overload_conf c;
    unsigned level;
    uint32_t pressure_permille; /* the last sample's */
    enum overload_input cause;  /* which input it came from */
    uint64_t calm_since_ms;     /* UINT64_MAX: not below the way-down threshold */
    uint64_t level_since_ms;    /* when the level last changed */
    uint64_t transitions;
};

/* overload_conf_valid: thresholds strictly increasing in 1..PRESSURE_MAX,
 * hysteresis below the first threshold. */
bool overload_conf_valid(const struct overload_conf *c);

/* overload_init: level 0 at <now_ms>. Returns 0 or -EINVAL. */
int overload_init(struct overload *o, const struct overload_conf *c, uint64_t now_ms);

/* overload_pressure: the highest input in permille (capped at
 * OVERLOAD_PRESSURE_MAX); *cause (may be NULL) says which. */
uint32_t overload_pressure(const struct overload_sample *s, enum overload_input *cause);

/* overload_update: feeds one sample taken at <now_ms>; returns the level. */
unsigned overload_update(struct overload *o, uint64_t now_ms, const struct overload_sample *s);

/* overload_level_admits: whether <level> lets a new request of <cls> in. */
bool overload_level_admits(unsigned level, enum overload_class cls);

/* overload_admits: the same at the ladder's current level. */
bool overload_admits(const struct overload *o, enum overload_class cls);

const char *overload_class_name(enum overload_class cls);
const char *overload_input_name(enum overload_input in);

#endif
