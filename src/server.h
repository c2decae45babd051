/* server: one serving process — the listening socket, the loop, the
 * connections, the mounts, the counters. */
#ifndef PODIUM_SERVER_H
#define PODIUM_SERVER_H

#include <stdbool.h>
#include <stdint.h>

#include "conf.h"
#include "conn.h"
#include "http.h"
#include "loop.h"
#include "metrics.h"

struct gate;
struct mount;
struct relay;
struct source;
struct space_sys;
struct store;
struct testsig;
struct workers;

/* What this process is. SINGLE: one process does everything. ORIGIN: takes
 * sources and API requests (handed over by workers), packages, relays pages
 * to its workers; accepts nothing itself. WORKER: accepts on its own
 * SO_REUSEPORT socket, serves listeners from pages relayed by the origin,
 * hands everything else to the origin. */
enum server_role { SERVER_SINGLE, SERVER_ORIGIN, SERVER_WORKER };

struct server {
    struct conf conf;
    uint8_t role;
    uint32_t worker_index;    /* WORKER: which one (0-based) */
    struct workers *workers;  /* ORIGIN: the supervisor */
    struct relay *upstream;   /* WORKER: the link to the origin */
    uint8_t *stats;           /* WORKER: the last STATS payload built */
    size_t stats_len, stats_cap; /* stats_len 0: not sent (send the next) */
    uint32_t next_mount_id;
    struct loop *loop;
    struct io listen_io;
    bool accept_paused;
    struct timer accept_resume;
    struct timer housekeeping;
    struct timer flush;
    uint64_t flush_due_ms; /* when the armed flush pass is due (its lag metric) */
    struct timer young;    /* extra passes while a mount with listeners is young */
    struct timer source_read; /* ORIGIN: reads lazy sources for the workers (source.c) */
    uint64_t sources_pumped_us; /* loop time of the last source_pump */
    struct io signal_io;
    uint16_t port;
    uint32_t connections_max; /* effective cap (conf, or from RLIMIT_NOFILE) */
    uint64_t started_ms;

    struct http_limits http_limits;
    char *scratch; /* one read buffer for the loop: requests, and body bytes read with one */
    uint32_t scratch_len;
    /* ORIGIN, SINGLE: where sources are read (source_read_bytes_max). Not
     * the scratch buffer: a source read when needed is read while a join or
     * a new source's request is still parsed from there. */
    char *source_buf;

    struct conn_list requests; /* reading headers, by arrival */
    struct conn_list lingering;
    struct conn_list files; /* sending a file (recordings) */
    struct conn_list handoffs; /* WORKER: requests for the origin waiting for room on the link */
    struct source *sources;
    struct mount **mounts;
    uint32_t mounts_len;

    struct testsig *testsig;
    struct store *store;       /* ORIGIN, SINGLE: spaces and recordings */
    struct space_sys *spaces;  /* ORIGIN, SINGLE: live spaces and the mix threads */
    struct io rtp_io;          /* ORIGIN, SINGLE: RTP/Opus into spaces */
    uint16_t rtp_port;
    struct gate *gate; /* admission layers (gate.c) */
    struct metrics m;
};

/* server_init: validates <conf>, binds, starts workers, prepares. 0 or -1
 * (logged). */
int server_init(struct server *srv, const struct conf *conf);

/* server_init_worker: the worker side, in a process started by the origin:
 * <listen_fd> is its own listening socket, <relay_fd> its link. */
int server_init_worker(struct server *srv, uint32_t index, int listen_fd, int relay_fd);
/* server_run: serves until SIGTERM/SIGINT. Returns the exit code. */
int server_run(struct server *srv);
void server_destroy(struct server *srv);

/* server_route: a complete request on <c>. <raw>[0..raw_len) is everything
 * read so far; the header section is its first <head_len> bytes. */
void server_route(struct conn *c, const struct http_request *req, const char *raw,
                  size_t raw_len, size_t head_len);

/* server_body_bytes: how many body bytes the route of <req> needs before it
 * runs: 0 (none, or the route streams it), the Content-Length, or -status
 * (-411, -413, -400) with a one-line reason in *why. */
int64_t server_body_bytes(const struct server *srv, const struct http_request *req,
                          const char **why);

/* server_resume_accept: connections freed up; accept again if paused. */
void server_resume_accept(struct server *srv);

#endif
