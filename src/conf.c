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
    K(flush_ms, CONF_U32, "500", 10, 10000,
      "listener flush cadence: players buffer seconds, and the cost is per write"),
    K(burst_ms, CONF_U32, "1000", 0, 60000, "recent audio sent at join so players start at once"),
    K(ring_ms, CONF_U32, "30000", 1000, 600000,
      "audio kept per mount; a listener behind this skips or is dropped"),
    K(write_stall_ms, CONF_U32, "30000", 1000, 600000,
      "a listener whose socket accepts nothing for this long is dropped"),
    K(slow_skips_max, CONF_U32, "3", 0, 1000, "skips ahead a slow listener gets before a drop"),
    K(listener_sndbuf_bytes, CONF_U32, "32768", 0, 1u << 26,
      "kernel send buffer per listener (0: kernel default and autotuning)"),
    K(retry_after_s, CONF_U32, "5", 1, 3600, "Retry-After sent with 503"),
    K(page_ms, CONF_U32, "100", 20, 1000, "audio per published Ogg page (the fan-out chunk)"),
    K(source_timeout_ms, CONF_U32, "10000", 500, 600000,
      "a source silent this long is closed and the mount may be taken over"),
    K(mount_grace_ms, CONF_U32, "60000", 0, 3600000,
      "listeners of a mount with no source stay this long, then are closed"),
    K(chunk_bytes_max, CONF_U32, "1048576", 1024, 1u << 30, "one chunk of a chunked source body"),
    K(source_read_bytes_max, CONF_U32, "65536", 4096, 1u << 24,
      "bytes read from one source per wakeup"),
    K(stage_grace_ms, CONF_U32, "120000", 1000, 3600000,
      "a speaker (or the host) who comes back within this keeps the slot (the space)"),
    K(mix_bitrate_bps, CONF_U32, "32000", 6000, 256000, "bitrate of a space's program mix"),
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
    return 0;
}

void conf_help(FILE *out)
{
    for (size_t i = 0; i < KEYS_LEN; i++)
        fprintf(out, "  %-22s %-16s %s\n", keys[i].name, keys[i].def, keys[i].why);
}
