/* http: HTTP/1.x request parsing for hostile input, and the small helpers the
 * server needs around it (Basic auth, chunked bodies, query parameters).
 *
 * Nothing here allocates or copies: results point into the caller's buffer.
 * Parser contract (picohttpparser style): >0 bytes consumed, -2 need more
 * bytes, -1 malformed; plus two specific refusals so the server can answer
 * 414 and 431.
 */
#ifndef PODIUM_HTTP_H
#define PODIUM_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HTTP_NEED_MORE (-2)
#define HTTP_INVALID (-1)
#define HTTP_URI_TOO_LONG (-3)      /* request-target longer than uri_bytes_max */
#define HTTP_HEADERS_TOO_LARGE (-4) /* header section over header_bytes_max, or too many headers */

#define HTTP_HEADERS_MAX 48 /* hard array size; limits.headers_max may be lower */

struct http_header {
    const char *name;
    size_t name_len;
    const char *value; /* leading/trailing spaces and tabs trimmed */
    size_t value_len;
};

struct http_request {
    const char *method;
    size_t method_len;
    const char *target; /* request-target as sent (origin-form expected) */
    size_t target_len;
    const char *path; /* target up to '?' (not decoded) */
    size_t path_len;
    const char *query; /* after '?', or NULL */
    size_t query_len;
    int minor_version; /* HTTP/1.<minor>: 0 or 1 */
    struct http_header headers[HTTP_HEADERS_MAX];
    size_t headers_len;
};

struct http_limits {
    size_t header_bytes_max; /* whole header section incl. request line */
    size_t uri_bytes_max;    /* request-target */
    size_t headers_max;      /* header fields, <= HTTP_HEADERS_MAX */
};

/* http_parse_request: parses the request line and header fields in
 * buf[0..len). Accepts CRLF and bare LF line ends. Refuses: methods that are
 * not tokens, control characters in the target, versions other than
 * HTTP/1.0 and HTTP/1.1, header names that are not tokens, obsolete line
 * folding, NUL anywhere. A refusal is decided as early as the bytes allow
 * (a too-long target gives HTTP_URI_TOO_LONG before the line ends; an
 * oversized section gives HTTP_HEADERS_TOO_LARGE as soon as len exceeds
 * header_bytes_max without a complete section).
 * Returns the length of the header section (through the blank line), or
 * HTTP_NEED_MORE / HTTP_INVALID / HTTP_URI_TOO_LONG / HTTP_HEADERS_TOO_LARGE.
 * Notes on the implementation (src/http.c):
 *  - "exceeds" is decided one byte early: len >= header_bytes_max without a
 *    complete section is HTTP_HEADERS_TOO_LARGE, since such a section can
 *    only end past the limit. A section of exactly header_bytes_max bytes
 *    is accepted, and bytes after the section (a body) are never counted.
 *  - Only the first header_bytes_max bytes are examined, so whichever
 *    refusal lies first in them wins (-1, -3, or -4 for one field too many).
 *  - More than min(headers_max, HTTP_HEADERS_MAX) fields is
 *    HTTP_HEADERS_TOO_LARGE, returned when the first extra field starts.
 *  - Empty lines before the request line are skipped (RFC 9112 2.2) and
 *    counted in the return value.
 *  - Bytes 0x80-0xFF are allowed in the target and in field values.
 *  - <req> is filled only as far as parsing went: read it only after a
 *    return > 0. Returns are at most INT_MAX. */
int http_parse_request(const char *buf, size_t len, const struct http_limits *lim,
                       struct http_request *req);

/* Case-insensitive header lookup; returns the first match or NULL. */
const struct http_header *http_find_header(const struct http_request *req, const char *name);

/* True when <req>'s method is exactly <m> (case-sensitive, as HTTP says). */
bool http_method_is(const struct http_request *req, const char *m);

/* True when the comma-separated header value contains the token <tok>
 * (case-insensitive), e.g. Transfer-Encoding: chunked, Connection: close. */
bool http_header_has_token(const struct http_header *h, const char *tok);

/* http_basic_auth: decodes "Basic <base64>" from an Authorization value
 * into user and password written NUL-terminated into out[0..out_len).
 * Returns 0, or -1 when the value is not Basic, not valid base64, has no
 * ':' or does not fit. *user and *pass point into <out>.
 * <out_len> must cover the decoded bytes plus one NUL. Also refused:
 * control characters (NUL included) in the decoded credentials, so a
 * decoded "admin\0x:pw" can never compare equal to "admin". The scheme
 * name is case-insensitive; base64 padding is optional. */
int http_basic_auth(const char *value, size_t value_len, char *out, size_t out_len,
                    const char **user, const char **pass);

/* http_query_param: finds <name> in a query string (a=1&b=2); on success
 * points *val and *val_len at the raw (undecoded) value and returns true.
 * The first match wins; "a&b=1" finds "a" with an empty value. <query> may
 * be NULL (no query): false. */
bool http_query_param(const char *query, size_t query_len, const char *name, const char **val,
                      size_t *val_len);

/* Chunked transfer-coding decoder (RFC 9112 7.1), streaming, in place.
 * Chunk extensions are skipped; trailers are skipped; chunk-size lines
 * longer than 64 bytes and sizes above chunk_bytes_max are refused. */
struct http_chunked {
    uint64_t remaining;      /* bytes left in the current chunk's data */
    uint64_t chunk_bytes_max;
    int state;               /* internal */
    unsigned line_len;       /* internal: bytes in the current size/trailer line */
    bool done;               /* the terminating 0-size chunk and trailers seen */
};

void http_chunked_init(struct http_chunked *c, uint64_t chunk_bytes_max);

/* http_chunked_decode: decodes buf[0..*len) in place: on return buf[0..*len)
 * holds only body data. Returns 0 on success (possibly with c->done set;
 * bytes after the end are dropped), -1 on malformed framing. Works on any
 * split of the input, one byte at a time included.
 * On -1, *len is 0 and the decoder stays failed. Line ends may be CRLF or
 * bare LF, as in the header section. The trailer section is limited to
 * 8192 bytes. */
int http_chunked_decode(struct http_chunked *c, char *buf, size_t *len);

/* Reason phrase for a status code ("OK", "Not Found", ...); never NULL,
 * "Unknown" for codes it does not know. */
const char *http_status_text(int status);

#endif
