/* source: a broadcaster feeding one mount (Icecast PUT or SOURCE, or the
 * built-in test signal over a socketpair). */
#ifndef PODIUM_SOURCE_H
#define PODIUM_SOURCE_H

#include <stdbool.h>
#include <stdint.h>

#include "conn.h"
#include "http.h"
#include "ogg_in.h"

struct mount;

struct source {
    struct conn *conn;
    struct mount *mount;
    struct ogg_in in;
    struct http_chunked chunked;
    bool is_chunked;
    bool answered;       /* the final 200 has been sent */
    bool has_length;
    bool lazy;           /* read when needed, not on arrival (source_pump) */
    uint64_t body_left;  /* with Content-Length */
    uint64_t last_data_ms;
    uint64_t bytes;
    struct source *prev, *next; /* server's source list */
    struct space_rt *space;     /* the space whose mix this source joins, or NULL */
};

struct conn *source_conn(struct source *s);
struct space_rt *source_space(struct source *s);
void source_set_space(struct source *s, struct space_rt *sp);

/* source_start: a PUT or SOURCE request for /live/<name>.opus. Checks auth
 * (401), the mount (409, 503), then takes over the connection; <body> holds
 * the bytes read past the header section. */
void source_start(struct conn *c, const struct http_request *req, const char *name,
                  const char *body, size_t body_len);

/* source_start_internal: adopts <fd> (already connected, carrying an Ogg
 * stream) as the source of mount <name>, with no HTTP exchange. 0 or -errno. */
int source_start_internal(struct server *srv, int fd, const char *name);

/* source_close: detaches from the mount and frees; called from conn_close. */
void source_close(struct source *s);

/* source_expire: closes sources silent past source_timeout_ms. */
void source_expire(struct server *srv, uint64_t now_ms);

/* source_pump: reads what the lazy sources sent since the last pump (and
 * makes a source lazy once it may be). A source that feeds no stage and
 * whose mount holds burst_ms of audio is read only when its pages are
 * needed: before a flush pass or a join here, every source_read_ms when
 * workers take the pages (source_read_init), and when it closes. The
 * process then wakes once per pass instead of once per page. */
void source_pump(struct server *srv);

/* source_read_init: prepares the timer that pumps for the workers. */
void source_read_init(struct server *srv);

#endif
