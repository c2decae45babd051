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

struct mount;
struct source;
struct testsig;

struct server {
    struct conf conf;
    struct loop *loop;
    struct io listen_io;
    bool accept_paused;
    struct timer accept_resume;
    struct timer housekeeping;
    struct timer flush;
    struct io signal_io;
    uint16_t port;
    uint32_t connections_max; /* effective cap (conf, or from RLIMIT_NOFILE) */
    uint64_t started_ms;

    struct http_limits http_limits;
    char *scratch; /* one read buffer for the loop: requests and source bodies */
    uint32_t scratch_len;

    struct conn_list requests; /* reading headers, by arrival */
    struct conn_list lingering;
    struct source *sources;
    struct mount **mounts;
    uint32_t mounts_len;

    struct testsig *testsig;
    struct metrics m;
};

/* server_init: validates <conf>, binds, prepares. 0 or -1 (logged). */
int server_init(struct server *srv, const struct conf *conf);
/* server_run: serves until SIGTERM/SIGINT. Returns the exit code. */
int server_run(struct server *srv);
void server_destroy(struct server *srv);

/* server_route: a complete request on <c>; <rest> are bytes past it. */
void server_route(struct conn *c, const struct http_request *req, const char *rest,
                  size_t rest_len);

/* server_resume_accept: connections freed up; accept again if paused. */
void server_resume_accept(struct server *srv);

#endif
