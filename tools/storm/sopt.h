/* sopt: storm's command-line vocabulary — arrival schedules, durations, the
 * target URL and its loopback guard, source-address ranges, attack specs and
 * SLOs. Pure parsing and arithmetic, no I/O, so every rule is unit-tested.
 * Parsers return 0 on success, -1 on invalid input (never partially applied).
 */
#ifndef PODIUM_SOPT_H
#define PODIUM_SOPT_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum arrival_kind { ARRIVAL_BURST, ARRIVAL_RAMP, ARRIVAL_RATE };

struct arrival {
    enum arrival_kind kind;
    uint64_t ramp_us;    /* ARRIVAL_RAMP: all joins spread evenly over this */
    uint64_t rate_per_s; /* ARRIVAL_RATE: joins per second */
};

/* "burst", "ramp:10s", "rate:5000/s" */
int sopt_arrival_parse(const char *s, struct arrival *a);
/* Intended join time of listener <i> of <n>, in µs after the start. */
uint64_t sopt_arrival_at_us(const struct arrival *a, uint64_t i, uint64_t n);

/* "60s", "500ms", "2m", "1500us", "1h"; a bare number means <bare_unit_us>. */
int sopt_duration_parse(const char *s, uint64_t bare_unit_us, uint64_t *out_us);
/* Decimal u64 with nothing after it; refuses signs, blanks and overflow. */
int sopt_u64_parse(const char *s, size_t len, uint64_t *out);

struct target {
    struct sockaddr_in addr;
    char host[64];  /* as written, for the Host header */
    bool loopback;  /* 127.0.0.0/8 */
};

/* "http://HOST[:PORT][/]" with HOST a dotted IPv4 address or "localhost".
 * Storm resolves nothing else: a name would hide where traffic goes. */
int sopt_target_parse(const char *s, struct target *t);
/* The loopback guard: NULL when the target may be used, else the reason. */
const char *sopt_target_guard(const struct target *t, bool attack, bool allow_remote,
                              bool allow_remote_attack);

/* "127.0.0.2-127.0.0.40" or a single address; loopback addresses only. */
int sopt_sources_parse(const char *s, uint32_t *first_host_order, uint32_t *count);

struct attack_spec {
    uint32_t slowloris, idle, slow_readers; /* connections */
    uint32_t flood_per_s;                   /* junk/forged requests per second */
    uint32_t forged_per_s;                  /* --space: stream GETs with forged tickets (join.c) */
    uint32_t join_flood_per_s;              /* --space: fresh joins that never follow (join.c) */
    uint64_t reconnect_at_us;               /* reconnect storm at; UINT64_MAX: none */
};

/* "slowloris=5000,idle=20000,flood=20000/s,slow-readers=1000,reconnect-storm@30s,
 *  forged-tickets=500/s,join-flood=300/s" */
int sopt_attack_parse(const char *s, struct attack_spec *a);
bool sopt_attack_any(const struct attack_spec *a);

enum slo_kind {
    SLO_TTFA_P50, SLO_TTFA_P90, SLO_TTFA_P99, SLO_TTFA_P999, SLO_TTFA_MAX,
    SLO_STALLS, SLO_STALLED_LISTENERS, SLO_JOINED, SLO_FAILED, SLO_INTEGRITY,
};

struct slo {
    enum slo_kind kind;
    bool percent;       /* SLO_JOINED: threshold is parts per million of the target */
    uint64_t threshold; /* µs for TTFA, counts otherwise */
};

#define SLO_MAX 16

/* "ttfa_p99=1s,stalls=0,joined=100%". Returns the number of SLOs or -1. */
int sopt_slo_parse(const char *s, struct slo *out, int out_max);
const char *sopt_slo_name(enum slo_kind k);

/* What an SLO is judged against. */
struct slo_facts {
    uint64_t ttfa_us[5]; /* p50, p90, p99, p999, max */
    uint64_t target, joined, failed, stalls, stalled_listeners, integrity;
};

/* sopt_slo_eval: true when <slo> holds; on failure writes a one-line
 * explanation ("ttfa_p99 1250 ms > 1000 ms") into why[0..why_len). */
bool sopt_slo_eval(const struct slo *slo, const struct slo_facts *f, char *why, size_t why_len);

#endif
