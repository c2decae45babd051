/* conf: the settings table, the config-file reader, and the defaults. */
#include "conf.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

enum conf_type { CONF_STR, CONF_U32, CONF_BOOL };

struct conf_key {
    const char *name;
    enum conf_type type;
    size_t offset;
    const char *def;
    uint32_t min, max; /* for CONF_U32 */
    const char *why;
};

#define K(f, t, d, lo, hi, w) {#f, t, offsetof(struct conf, f), d, lo, hi, w}

/* Every limit lives here, once. Units are the suffix of the name. */
static const struct conf_key keys[] = {
    {"listen", CONF_STR, offsetof(struct conf, listen), "127.0.0.1:8000", 0, 0,
     "address:port to listen on (port 0 picks a free one)"},
    {"data", CONF_STR, offsetof(struct conf, data_dir), "./podium-data", 0, 0,
     "data folder (created if missing)"},
    {"source_password", CONF_STR, offsetof(struct conf, source_password), "", 0, 0,
     "password for user 'source' (empty: a random one is made and printed)"},
    {"rtp_listen", CONF_STR, offsetof(struct conf, rtp_listen), "127.0.0.1:0", 0, 0,
     "UDP address:port for RTP/Opus into spaces (port 0 picks one; empty: off)"},
    {"demo", CONF_BOOL, offsetof(struct conf, demo), "on", 0, 0,
     "run the built-in test-signal source on /live/demo.opus"},
    K(workers, CONF_U32, "auto", 0, 256,
      "fan-out worker processes (0: one process; auto: one per CPU, more when the open-file "
      "limit needs it for listeners_max)"),
    K(backlog, CONF_U32, "4096", 16, 1u << 20,
      "listen queue: a join burst waits here, not in SYN retries (capped by somaxconn)"),
    K(accepts_per_wakeup, CONF_U32, "256", 1, 65536,
      "accepts per readiness event, so a burst cannot starve established listeners"),
    K(connections_max, CONF_U32, "0", 0, 10000000,
      "open connections (0: the open-file limit minus a reserve)"),
    K(listeners_max, CONF_U32, "100000", 1, 10000000, "listeners on this server; past it: 503"),
    K(mount_listeners_max, CONF_U32, "100000", 1, 10000000, "listeners on one mount; past it: 503"),
    K(mounts_max, CONF_U32, "64", 1, 100000, "live mounts at once"),
    K(header_bytes_max, CONF_U32, "8192", 256, 1u << 20, "request line and headers; past it: 431"),
    K(uri_bytes_max, CONF_U32, "2048", 16, 1u << 16, "request target; past it: 414"),
    K(headers_max, CONF_U32, "32", 4, 48, "header fields per request; past it: 431"),
    K(header_timeout_ms, CONF_U32, "10000", 100, 600000,
      "absolute deadline for a complete request header (slowloris)"),
    K(flush_ms, CONF_U32, "1000", 10, 10000,
      "listener flush cadence: players buffer seconds, and the cost is per write"),
    K(burst_ms, CONF_U32, "2000", 0, 60000,
      "recent audio sent at join so players start at once; keep it above flush_ms"),
    K(ring_ms, CONF_U32, "30000", 1000, 600000,
      "audio kept per mount; a listener behind this skips or is dropped"),
    K(write_stall_ms, CONF_U32, "30000", 1000, 600000,
      "a listener whose socket accepts nothing for this long is dropped"),
    K(slow_skips_max, CONF_U32, "3", 0, 1000, "skips ahead a slow listener gets before a drop"),
    K(listener_sndbuf_bytes, CONF_U32, "32768", 0, 1u << 26,
      "kernel send buffer per listener (0: kernel default and autotuning)"),
    K(listener_unsent_bytes, CONF_U32, "16384", 0, 1u << 26,
      "unsent bytes the kernel holds per listener (TCP_NOTSENT_LOWAT; 0: not set)"),
    K(retry_after_s, CONF_U32, "5", 1, 3600, "Retry-After sent with 503"),
    K(page_ms, CONF_U32, "100", 20, 1000, "audio per published Ogg page (the fan-out chunk)"),
    K(source_timeout_ms, CONF_U32, "10000", 500, 600000,
      "a source silent this long is closed and the mount may be taken over"),
    K(mount_grace_ms, CONF_U32, "60000", 0, 3600000,
      "listeners of a mount with no source stay this long, then are closed"),
    K(chunk_bytes_max, CONF_U32, "1048576", 1024, 1u << 30, "one chunk of a chunked source body"),
    K(source_read_bytes_max, CONF_U32, "65536", 4096, 1u << 24,
      "bytes read from one source per wakeup"),
    K(source_read_ms, CONF_U32, "250", 0, 10000,
      "a source that feeds no stage is read when its pages are needed, and with workers this "
      "often (at most flush_ms), not on each page: fewer wake-ups (0: on each arrival)"),
    K(stage_grace_ms, CONF_U32, "120000", 1000, 3600000,
      "a speaker (or the host) who comes back within this keeps the slot (the space)"),
    K(mix_bitrate_bps, CONF_U32, "32000", 6000, 256000, "bitrate of a space's program mix"),
    K(mix_threads, CONF_U32, "0", 0, 64,
      "mix threads; a new space goes to the one with the fewest (0: one per online CPU, "
      "at most 8)"),
    K(mix_rt_priority, CONF_U32, "10", 0, 99,
      "SCHED_FIFO priority of the mix threads (0: do not ask; refused: logged, they run "
      "at normal priority)"),

    /* The gate (docs/internals/gate.md, docs/operations.md "The gate"). */
    K(gate_secret, CONF_STR, "", 0, 0,
      "ticket master secret shared by all nodes, 16..64 bytes (empty: random per start, "
      "so tickets die with a restart)"),
    K(ticket_ttl_s, CONF_U32, "3600", 60, 86400,
      "life of an admission ticket: a listener may reconnect with it this long"),
    K(ticket_rotate_s, CONF_U32, "3600", 60, 86400,
      "key epoch; every ticket life must fit in one (the previous epoch stays valid)"),
    K(ticket_skew_s, CONF_U32, "30", 0, 600, "tolerated clock lead of the node that signed"),
    K(queue_ticket_ttl_s, CONF_U32, "120", 10, 3600,
      "a waiting client must come back within this (poll_max_s and then some)"),
    K(gate_exempt, CONF_STR, "127.0.0.0/8 ::1", 0, 0,
      "addresses never limited per prefix: local proxies without PROXY protocol, your own "
      "load tests (empty: none)"),
    K(trusted_proxies, CONF_STR, "", 0, 0,
      "CIDRs whose PROXY header (v1, v2) or X-Forwarded-For names the real client (empty: none)"),
    K(proxy_header_bytes_max, CONF_U32, "536", 16, 4096,
      "longest PROXY v2 header with TLVs from a trusted proxy"),
    K(prefix_table_entries, CONF_U32, "65536", 8, 1u << 24,
      "client prefixes (/24, /48) tracked per process, 96 B each; least recent evicted"),
    K(prefix_conns_max, CONF_U32, "256", 0, 1000000,
      "open connections per prefix per process (0: no cap); a NAT shares one"),
    K(prefix_conn_rate_mps, CONF_U32, "20000", 0, 1000000000,
      "new connections per prefix, milli-per-second (20000 = 20/s)"),
    K(prefix_conn_burst, CONF_U32, "100", 1, 1000000, "new connections per prefix at once"),
    K(prefix_ticket_rate_mps, CONF_U32, "10000", 0, 1000000000,
      "fresh joins (tickets) per prefix, milli-per-second (10000 = 10/s)"),
    K(prefix_ticket_burst, CONF_U32, "50", 1, 1000000, "fresh joins per prefix at once"),
    K(glitch_leak_pts_per_s, CONF_U32, "1", 0, 1000000,
      "a prefix's glitch score (malformed input) leaks this fast"),
    K(glitch_cost_step_pts, CONF_U32, "10", 0, 1000000,
      "each step of glitch score costs a prefix one more token per request (0: never)"),
    K(glitch_block_pts, CONF_U32, "100", 0, 1000000,
      "glitch score at which a prefix is refused outright (0: never)"),
    K(gate_spaces_max, CONF_U32, "256", 1, 100000,
      "spaces with admission state at once (8 KiB each); past it joins get 503"),
    K(admit_share_permille, CONF_U32, "750", 1, 1000,
      "admitted listeners stay under this share of a space's listeners_max"),
    K(admit_per_s, CONF_U32, "500", 1, 1000000,
      "the safe join rate of a space (admissions per second) unless the space sets its own"),
    K(admit_burst, CONF_U32, "500", 1, 1000000, "admissions that may go at once"),
    K(prequeue_max, CONF_U32, "1000000", 1, 1u << 30, "joins waiting for a scheduled start"),
    K(queue_max, CONF_U32, "10000000", 1, 4000000000u,
      "numbers waiting in a space's queue; past it: 503 queue_full"),
    K(poll_min_s, CONF_U32, "2", 1, 3600, "a waiting client polls no sooner than this"),
    K(poll_max_s, CONF_U32, "30", 1, 3600, "... and no later than this"),
    K(poll_jitter_permille, CONF_U32, "200", 0, 1000,
      "retry_after is spread by this much either way, so polls come in no waves"),
    K(prestart_spread_s, CONF_U32, "10", 0, 3600,
      "pre-queue polls after a scheduled start are spread over this"),
    K(promise_s, CONF_U32, "10", 1, 64,
      "an admitted number counts as a listener this long, connected or not"),
    K(space_join_rate_per_s, CONF_U32, "20000", 1, 1000000,
      "bulkhead: joins one space may put through the gate per second"),
    K(space_join_burst, CONF_U32, "20000", 1, 1000000, "bulkhead: joins of one space at once"),
    K(pow_on_permille, CONF_U32, "1000", 1, 1000000,
      "puzzles start when a space's join demand reaches this share of its admit rate"),
    K(pow_base_bits, CONF_U32, "16", 1, 40, "puzzle difficulty at that point (~65k hashes)"),
    K(pow_step_bits, CONF_U32, "2", 0, 40, "difficulty added per doubling of the overload"),
    K(pow_max_bits, CONF_U32, "24", 1, 40, "highest difficulty"),
    K(pow_ttl_s, CONF_U32, "120", 10, 3600, "a puzzle must be solved within this"),
    K(pow_replay_entries, CONF_U32, "262144", 16, 1u << 24,
      "redeemed puzzles remembered (12 B each): redeemed per second x pow_ttl_s"),
    K(overload_l1_permille, CONF_U32, "700", 1, 2000,
      "pressure (max of CPU, memory, connections) at which pages and the API are shed"),
    K(overload_l2_permille, CONF_U32, "800", 1, 2000, "... and new joins"),
    K(overload_l3_permille, CONF_U32, "900", 1, 2000, "... and queue polls"),
    K(overload_l4_permille, CONF_U32, "970", 1, 2000,
      "... and new speakers: only admitted listeners' audio is served"),
    K(overload_hyst_permille, CONF_U32, "100", 0, 1999,
      "a level is left only below its threshold minus this"),
    K(overload_calm_ms, CONF_U32, "5000", 0, 600000, "... held for this long"),
    K(overload_mem_mib, CONF_U32, "0", 0, 1u << 22,
      "resident memory one process may use (0: a quarter of the machine's RAM)"),
    K(timeline_s, CONF_U32, "14400", 60, 86400, "seconds of gate timeline kept (152 B each)"),
};

#define KEYS_LEN (sizeof(keys) / sizeof(keys[0]))

static int fail(char *err, size_t err_len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, err_len, fmt, ap);
    va_end(ap);
    return -1;
}

static const struct conf_key *find_key(const char *name)
{
    for (size_t i = 0; i < KEYS_LEN; i++)
        if (strcmp(keys[i].name, name) == 0) return &keys[i];
    return NULL;
}

int conf_set(struct conf *c, const char *key, const char *value, char *err, size_t err_len)
{
    const struct conf_key *k = find_key(key);
    char *p;
    if (!k) return fail(err, err_len, "unknown setting '%s'", key);
    p = (char *)c + k->offset;
    switch (k->type) {
    case CONF_STR: {
        size_t n = strlen(value);
        if (n >= CONF_STR_MAX)
            return fail(err, err_len, "%s: longer than %d bytes", key, CONF_STR_MAX - 1);
        memcpy(p, value, n + 1);
        return 0;
    }
    case CONF_BOOL: {
        bool v;
        if (!strcmp(value, "on") || !strcmp(value, "true") || !strcmp(value, "yes") ||
            !strcmp(value, "1"))
            v = true;
        else if (!strcmp(value, "off") || !strcmp(value, "false") || !strcmp(value, "no") ||
                 !strcmp(value, "0"))
            v = false;
        else
            return fail(err, err_len, "%s: expected on or off, got '%s'", key, value);
        *(bool *)p = v;
        return 0;
    }
    case CONF_U32: {
        char *end;
        if (!strcmp(value, "auto") && !strcmp(k->def, "auto")) {
            *(uint32_t *)p = CONF_AUTO;
            return 0;
        }
        errno = 0;
        unsigned long long v = strtoull(value, &end, 10);
        if (errno || end == value || *end || value[0] == '-')
            return fail(err, err_len, "%s: expected a whole number, got '%s'", key, value);
        if (v < k->min || v > k->max)
            return fail(err, err_len, "%s: %llu is outside %u..%u", key, v, k->min, k->max);
        *(uint32_t *)p = (uint32_t)v;
        return 0;
    }
    }
    return fail(err, err_len, "%s: bad type", key);
}

void conf_defaults(struct conf *c)
{
    char err[128];
    memset(c, 0, sizeof(*c));
    for (size_t i = 0; i < KEYS_LEN; i++) {
        int r = conf_set(c, keys[i].name, keys[i].def, err, sizeof(err));
        (void)r; /* defaults are valid by construction; conf tests check it */
    }
}

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t') s++;
    char *e = s + strlen(s);
    while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r' || e[-1] == '\n')) e--;
    *e = 0;
    return s;
}

int conf_load(struct conf *c, const char *path, char *err, size_t err_len)
{
    FILE *f = fopen(path, "r");
    char line[1024], why[200];
    unsigned lineno = 0;
    if (!f) return fail(err, err_len, "%s: %s", path, strerror(errno));
    while (fgets(line, sizeof(line), f)) {
        lineno++;
        if (!strchr(line, '\n') && !feof(f)) {
            fclose(f);
            return fail(err, err_len, "%s:%u: line longer than %zu bytes", path, lineno,
                        sizeof(line) - 2);
        }
        /* '#' starts a comment at the line start or after a blank, as in a
         * shell: a value (a password) may contain '#'. */
        for (char *h = line; *h; h++)
            if (*h == '#' && (h == line || h[-1] == ' ' || h[-1] == '\t')) {
                *h = 0;
                break;
            }
        char *s = trim(line);
        if (!*s) continue;
        char *eq = strchr(s, '=');
        if (!eq) {
            fclose(f);
            return fail(err, err_len, "%s:%u: expected 'key = value'", path, lineno);
        }
        *eq = 0;
        if (conf_set(c, trim(s), trim(eq + 1), why, sizeof(why)) < 0) {
            fclose(f);
            return fail(err, err_len, "%s:%u: %s", path, lineno, why);
        }
    }
    fclose(f);
    return 0;
}

int conf_check(const struct conf *c, char *err, size_t err_len)
{
    if (c->uri_bytes_max >= c->header_bytes_max)
        return fail(err, err_len, "uri_bytes_max must be below header_bytes_max");
    if (c->burst_ms + 2 * c->page_ms > c->ring_ms)
        return fail(err, err_len, "ring_ms must hold burst_ms plus two pages");
    if (!c->data_dir[0]) return fail(err, err_len, "data: must not be empty");
    size_t sl = strlen(c->gate_secret);
    if (sl && (sl < 16 || sl > 64))
        return fail(err, err_len, "gate_secret: 16 to 64 bytes, or empty for a random one");
    if (c->ticket_ttl_s > c->ticket_rotate_s || c->queue_ticket_ttl_s > c->ticket_rotate_s ||
        c->pow_ttl_s > c->ticket_rotate_s)
        return fail(err, err_len,
                    "ticket_ttl_s, queue_ticket_ttl_s and pow_ttl_s must not exceed "
                    "ticket_rotate_s");
    if (c->poll_min_s > c->poll_max_s)
        return fail(err, err_len, "poll_min_s must not exceed poll_max_s");
    if (c->poll_max_s >= c->queue_ticket_ttl_s)
        return fail(err, err_len, "queue_ticket_ttl_s must exceed poll_max_s");
    if (c->pow_base_bits > c->pow_max_bits)
        return fail(err, err_len, "pow_base_bits must not exceed pow_max_bits");
    if (!(c->overload_l1_permille < c->overload_l2_permille &&
          c->overload_l2_permille < c->overload_l3_permille &&
          c->overload_l3_permille < c->overload_l4_permille))
        return fail(err, err_len, "overload_l1..l4_permille must increase");
    if (c->overload_hyst_permille >= c->overload_l1_permille)
        return fail(err, err_len, "overload_hyst_permille must be below overload_l1_permille");
    return 0;
}

void conf_help(FILE *out)
{
    for (size_t i = 0; i < KEYS_LEN; i++)
        fprintf(out, "  %-22s %-16s %s\n", keys[i].name, keys[i].def, keys[i].why);
}
