/* api: the JSON API under /api (origin only; workers hand these requests
 * over). Spaces: create, list, get, end; speakers: invite, revoke. The
 * reference is docs/protocol.md ("Spaces API"). Every answer is JSON; every
 * error is { "error": "<kind>", "reason": "<one line>" } with its status. */
#ifndef PODIUM_API_H
#define PODIUM_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define API_BODY_BYTES_MAX 16384 /* a request body: a space's title and description fit */

struct conn;
struct http_request;

/* api_is: is <path> under /api/? */
bool api_is(const char *path, size_t len);

/* api_route: answers the complete request <req> whose body is
 * body[0..body_len). */
void api_route(struct conn *c, const struct http_request *req, const char *body, size_t body_len);

/* api_wall_ms: wall-clock time in ms since 1970 (what the store keeps). */
int64_t api_wall_ms(void);

struct json_writer;
struct server;
struct store_space;
/* api_write_space: one space as a JSON object. */
void api_write_space(struct json_writer *w, const struct server *srv, const struct store_space *sp);

/* api_bearer: the credential of "Authorization: Bearer X" (non-empty). */
bool api_bearer(const struct http_request *req, const char **v, size_t *vl);

/* api_host_or_401: true when <req> carries space <id>'s host key; else
 * answers 401 and returns false. */
bool api_host_or_401(struct conn *c, const struct http_request *req, const char *id);

/* api_storage_error: the 503 answer when SQLite fails or is not open. */
void api_storage_error(struct conn *c);

/* api_error: the JSON error answer (status, kind, one-line reason). */
void api_error(struct conn *c, int status, const char *kind, const char *reason);

#endif
