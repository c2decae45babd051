/* conf: every setting and limit, its default, and where it came from.
 *
 * The table in conf.c is the one place a limit is defined: name, default,
 * bounds and a one-line reason. The config file is `key = value` lines with
 * `#` comments; the command line overrides the file.
 */
#ifndef PODIUM_CONF_H
#define PODIUM_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define CONF_STR_MAX 256
#define CONF_AUTO UINT32_MAX /* "auto" for the settings whose default it is */

struct conf {
    char listen[CONF_STR_MAX];
    char data_dir[CONF_STR_MAX];
    char source_password[CONF_STR_MAX];
    char rtp_listen[CONF_STR_MAX];
    bool demo;

    /* processes */
    uint32_t workers;

    /* connections and the accept path */
    uint32_t backlog;
    uint32_t accepts_per_wakeup;
    uint32_t connections_max;
    uint32_t listeners_max;
    uint32_t mount_listeners_max;
    uint32_t mounts_max;

    /* requests */
    uint32_t header_bytes_max;
    uint32_t uri_bytes_max;
    uint32_t headers_max;
    uint32_t header_timeout_ms;

    /* fan-out */
    uint32_t flush_ms;
    uint32_t burst_ms;
    uint32_t ring_ms;
    uint32_t write_stall_ms;
    uint32_t slow_skips_max;
    uint32_t listener_sndbuf_bytes;
    uint32_t listener_unsent_bytes;
    uint32_t retry_after_s;

    /* sources */
    uint32_t page_ms;
    uint32_t source_timeout_ms;
    uint32_t mount_grace_ms;
    uint32_t chunk_bytes_max;
    uint32_t source_read_bytes_max;
    uint32_t source_read_ms;

    /* spaces */
    uint32_t stage_grace_ms;
    uint32_t mix_bitrate_bps;
    uint32_t mix_threads;
    uint32_t mix_rt_priority;

    /* the gate: tickets */
    char gate_secret[CONF_STR_MAX];
    uint32_t ticket_ttl_s;
    uint32_t ticket_rotate_s;
    uint32_t ticket_skew_s;
    uint32_t queue_ticket_ttl_s;

    /* the gate: per-prefix limits */
    char gate_exempt[CONF_STR_MAX];
    char trusted_proxies[CONF_STR_MAX];
    uint32_t proxy_header_bytes_max;
    uint32_t prefix_table_entries;
    uint32_t prefix_conns_max;
    uint32_t prefix_conn_rate_mps;
    uint32_t prefix_conn_burst;
    uint32_t prefix_ticket_rate_mps;
    uint32_t prefix_ticket_burst;
    uint32_t glitch_leak_pts_per_s;
    uint32_t glitch_cost_step_pts;
    uint32_t glitch_block_pts;

    /* the gate: admission */
    uint32_t gate_spaces_max;
    uint32_t admit_share_permille;
    uint32_t admit_per_s;
    uint32_t admit_burst;
    uint32_t prequeue_max;
    uint32_t queue_max;
    uint32_t poll_min_s;
    uint32_t poll_max_s;
    uint32_t poll_jitter_permille;
    uint32_t prestart_spread_s;
    uint32_t promise_s;
    uint32_t space_join_rate_per_s;
    uint32_t space_join_burst;

    /* the gate: proof of work */
    uint32_t pow_on_permille;
    uint32_t pow_base_bits;
    uint32_t pow_step_bits;
    uint32_t pow_max_bits;
    uint32_t pow_ttl_s;
    uint32_t pow_replay_entries;

    /* the gate: overload ladder and timeline */
    uint32_t overload_l1_permille;
    uint32_t overload_l2_permille;
    uint32_t overload_l3_permille;
    uint32_t overload_l4_permille;
    uint32_t overload_hyst_permille;
    uint32_t overload_calm_ms;
    uint32_t overload_mem_mib;
    uint32_t timeline_s;
};

/* conf_defaults: fills every field with its default. */
void conf_defaults(struct conf *c);

/* conf_set: sets <key> from the string <value>. Returns 0, or -1 with a
 * one-line reason in err[0..err_len) (unknown key, not a number, out of
 * bounds, too long). */
int conf_set(struct conf *c, const char *key, const char *value, char *err, size_t err_len);

/* conf_load: reads a `key = value` file. Returns 0 or -1 with a reason
 * naming the file and line. */
int conf_load(struct conf *c, const char *path, char *err, size_t err_len);

/* conf_check: cross-field consistency after everything is set. */
int conf_check(const struct conf *c, char *err, size_t err_len);

/* conf_help: prints every key, its default and its reason. */
void conf_help(FILE *out);

#endif
