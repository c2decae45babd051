/* overload: pressure -> level with hysteresis; level -> admitted classes. */
#include "overload.h"

#include <assert.h>
#include <errno.h>
#include <string.h>

#pragma GCC poison strcpy sprintf gets strtok atoi

bool overload_conf_valid(const struct overload_conf *c)
{
    uint32_t prev = 0;
    for (unsigned i = 0; i < OVERLOAD_LEVELS - 1; i++) {
        if (c->up_permille[i] <= prev || c->up_permille[i] > OVERLOAD_PRESSURE_MAX) return false;
        prev = c->up_permille[i];
    }
    return c->hysteresis_permille < c->up_permille[0];
}

int overload_init(struct overload *o, const struct overload_conf *c, uint64_t now_ms)
{
    memset(o, 0, sizeof(*o));
    if (!overload_conf_valid(c)) return -EINVAL;
    o->c = *c;
    o->calm_since_ms = UINT64_MAX;
    o->level_since_ms = now_ms;
    return 0;
}

static uint32_t ratio_permille(uint64_t used, uint64_t budget)
{
    if (!budget) return 0;
    if (used >= budget * 2) return OVERLOAD_PRESSURE_MAX;
    return (uint32_t)(used * 1000 / budget);
}

uint32_t overload_pressure(const struct overload_sample *s, enum overload_input *cause)
{
    uint32_t cpu =
        s->cpu_permille > OVERLOAD_PRESSURE_MAX ? OVERLOAD_PRESSURE_MAX : s->cpu_permille;
    uint32_t mem = ratio_permille(s->mem_bytes, s->mem_budget_bytes);
    uint32_t conns = ratio_permille(s->conns, s->conns_max);
    uint32_t p = cpu;
    enum overload_input why = OVERLOAD_CPU;
    if (mem > p) {
        p = mem;
        why = OVERLOAD_MEM;
    }
    if (conns > p) {
        p = conns;
        why = OVERLOAD_CONNS;
    }
    if (cause) *cause = why;
    return p;
}

unsigned overload_update(struct overload *o, uint64_t now_ms, const struct overload_sample *s)
{
    uint32_t p = overload_pressure(s, &o->cause);
    unsigned target = 0;
    o->pressure_permille = p;
    while (target < OVERLOAD_LEVELS - 1 && p >= o->c.up_permille[target])
        target++;

    if (target > o->level) { /* up: at once, as far as needed */
        o->level = target;
        o->level_since_ms = now_ms;
        o->transitions++;
        o->calm_since_ms = UINT64_MAX;
        return o->level;
    }
    uint32_t up = o->level ? o->c.up_permille[o->level - 1] : 0;
    if (o->level == 0 || p >= up - o->c.hysteresis_permille) {
        o->calm_since_ms = UINT64_MAX; /* not calm enough to come down */
        return o->level;
    }
    if (o->calm_since_ms == UINT64_MAX) o->calm_since_ms = now_ms;
    if (now_ms - o->calm_since_ms >= o->c.calm_ms) { /* down: one level per calm period */
        o->level--;
        o->level_since_ms = now_ms;
        o->transitions++;
        o->calm_since_ms = now_ms;
    }
    return o->level;
}

bool overload_level_admits(unsigned level, enum overload_class cls)
{
    assert(cls < OVERLOAD_CLASSES);
    /* level L refuses the L lowest-priority classes; audio never */
    if (cls == OVERLOAD_AUDIO) return true;
    return (unsigned)cls < (unsigned)OVERLOAD_CLASSES - level;
}

bool overload_admits(const struct overload *o, enum overload_class cls)
{
    return overload_level_admits(o->level, cls);
}

const char *overload_class_name(enum overload_class cls)
{
    static const char *const names[] = {"audio", "speaker", "queue_poll", "join", "other"};
    return (unsigned)cls < OVERLOAD_CLASSES ? names[cls] : "?";
}

const char *overload_input_name(enum overload_input in)
{
    static const char *const names[] = {"cpu", "memory", "connections"};
    return (unsigned)in <= OVERLOAD_CONNS ? names[in] : "?";
}
