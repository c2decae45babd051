/* http: HTTP/1.x request parser, Basic auth, query parameters, chunked
 * decoder and reason phrases. Every input here comes from the network: each
 * loop is bounded by the caller's length, nothing is read past it, and
 * nothing is allocated. */
#include "http.h"

#include "b64.h"

#include <limits.h>
#include <string.h>

#define CHUNK_LINE_BYTES_MAX 64      /* chunk-size line, extensions included */
#define CHUNK_TRAILER_BYTES_MAX 8192 /* whole trailer section of a chunked body */

/* Byte classes for the request parser, one table lookup per byte. */
enum {
    C_TOKEN = 1,  /* tchar (RFC 9110 5.6.2): methods and field names */
    C_TARGET = 2, /* visible ASCII and obs-text: request-target bytes */
    C_VALUE = 4,  /* field-value bytes: VCHAR, SP, HTAB, obs-text */
};
#define TV (C_TOKEN | C_TARGET | C_VALUE)
#define V (C_TARGET | C_VALUE)

/* The ranges do not overlap on purpose (-Woverride-init). */
static const unsigned char cls[256] = {
    ['\t'] = C_VALUE,    [' '] = C_VALUE,   ['!'] = TV,         ['"'] = V,
    ['#' ... '\''] = TV, ['(' ... ')'] = V, ['*' ... '+'] = TV, [','] = V,
    ['-' ... '.'] = TV,  ['/'] = V,         ['0' ... '9'] = TV, [':' ... '@'] = V,
    ['A' ... 'Z'] = TV,  ['[' ... ']'] = V, ['^' ... '`'] = TV, ['a' ... 'z'] = TV,
    ['{'] = V,           ['|'] = TV,        ['}'] = V,          ['~'] = TV,
    [0x80 ... 0xff] = V,
};

static inline unsigned char lower(unsigned char ch)
{
    return (ch >= 'A' && ch <= 'Z') ? (unsigned char)(ch | 0x20) : ch;
}

static bool eq_nocase(const char *a, const char *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (lower((unsigned char)a[i]) != lower((unsigned char)b[i])) return false;
    return true;
}

/* Consumes one line end (CRLF or LF) at *p. 0, HTTP_NEED_MORE, HTTP_INVALID. */
static int eat_eol(const unsigned char **p, const unsigned char *end)
{
    const unsigned char *q = *p;

    if (q == end) return HTTP_NEED_MORE;
    if (*q == '\r') {
        if (++q == end) return HTTP_NEED_MORE;
    }
    if (*q != '\n') return HTTP_INVALID;
    *p = q + 1;
    return 0;
}

/* parse_section: the parser proper on buf[0..end), which the caller has
 * already cut to header_bytes_max; running off the end is HTTP_NEED_MORE. */
static int parse_section(const unsigned char *buf, const unsigned char *end,
                         const struct http_limits *lim, struct http_request *req)
{
    const unsigned char *p = buf, *start;
    size_t headers_max = lim->headers_max < HTTP_HEADERS_MAX ? lim->headers_max : HTTP_HEADERS_MAX;
    int r;

    /* RFC 9112 2.2: ignore empty lines before the request line (left over
     * from a previous body on a kept-alive connection). */
    while (p < end && (*p == '\r' || *p == '\n'))
        if ((r = eat_eol(&p, end)) != 0) return r;

    start = p;
    while (p < end && (cls[*p] & C_TOKEN))
        p++;
    if (p == end) return HTTP_NEED_MORE;
    if (p == start || *p != ' ') return HTTP_INVALID;
    req->method = (const char *)start;
    req->method_len = (size_t)(p - start);
    p++;

    /* Scan at most uri_bytes_max target bytes, so an endless target is
     * refused as soon as it is one byte too long. */
    start = p;
    size_t room = (size_t)(end - p);
    const unsigned char *stop = p + (room < lim->uri_bytes_max ? room : lim->uri_bytes_max);
    while (p < stop && (cls[*p] & C_TARGET))
        p++;
    if (p == end) return HTTP_NEED_MORE;
    if (cls[*p] & C_TARGET) return HTTP_URI_TOO_LONG;
    if (p == start || *p != ' ') return HTTP_INVALID;
    req->target = (const char *)start;
    req->target_len = (size_t)(p - start);
    const unsigned char *qmark = memchr(start, '?', req->target_len);
    req->path = req->target;
    if (qmark) {
        req->path_len = (size_t)(qmark - start);
        req->query = (const char *)qmark + 1;
        req->query_len = req->target_len - req->path_len - 1;
    } else {
        req->path_len = req->target_len;
        req->query = NULL;
        req->query_len = 0;
    }
    p++;

    static const char version[] = "HTTP/1.";
    for (size_t i = 0; i < sizeof(version) - 1; i++, p++) {
        if (p == end) return HTTP_NEED_MORE;
        if (*p != (unsigned char)version[i]) return HTTP_INVALID;
    }
    if (p == end) return HTTP_NEED_MORE;
    if (*p != '0' && *p != '1') return HTTP_INVALID;
    req->minor_version = *p++ - '0';
    if ((r = eat_eol(&p, end)) != 0) return r;

    req->headers_len = 0;
    for (;;) {
        if (p == end) return HTTP_NEED_MORE;
        if (*p == '\r' || *p == '\n') {
            if ((r = eat_eol(&p, end)) != 0) return r;
            return (int)(p - buf);
        }
        /* A line starting with whitespace is obs-fold (or junk before the
         * first field): RFC 9112 5.2 lets us refuse it, and we do. */
        if (*p == ' ' || *p == '\t') return HTTP_INVALID;
        if (req->headers_len == headers_max) return HTTP_HEADERS_TOO_LARGE;

        struct http_header *h = &req->headers[req->headers_len];
        start = p;
        while (p < end && (cls[*p] & C_TOKEN))
            p++;
        if (p == end) return HTTP_NEED_MORE;
        if (*p != ':' || p == start) return HTTP_INVALID;
        h->name = (const char *)start;
        h->name_len = (size_t)(p - start);
        p++;

        while (p < end && (*p == ' ' || *p == '\t'))
            p++;
        start = p;
        while (p < end && (cls[*p] & C_VALUE))
            p++;
        if (p == end) return HTTP_NEED_MORE;
        if (*p != '\r' && *p != '\n') return HTTP_INVALID; /* NUL, bare control characters, DEL */
        const unsigned char *vend = p;
        while (vend > start && (vend[-1] == ' ' || vend[-1] == '\t'))
            vend--;
        h->value = (const char *)start;
        h->value_len = (size_t)(vend - start);
        if ((r = eat_eol(&p, end)) != 0) return r;
        req->headers_len++;
    }
}

/* The section may not grow past header_bytes_max, so only that many bytes
 * are ever looked at; when they hold no complete section, waiting for more
 * cannot help and the answer is 431 right away. */
int http_parse_request(const char *buf, size_t len, const struct http_limits *lim,
                       struct http_request *req)
{
    size_t window = lim->header_bytes_max < (size_t)INT_MAX ? lim->header_bytes_max : INT_MAX;
    const unsigned char *ubuf = (const unsigned char *)buf;
    int r = parse_section(ubuf, ubuf + (len < window ? len : window), lim, req);

    if (r == HTTP_NEED_MORE && len >= window) return HTTP_HEADERS_TOO_LARGE;
    return r;
}

const struct http_header *http_find_header(const struct http_request *req, const char *name)
{
    size_t n = strlen(name);

    for (size_t i = 0; i < req->headers_len; i++) {
        const struct http_header *h = &req->headers[i];
        if (h->name_len == n && eq_nocase(h->name, name, n)) return h;
    }
    return NULL;
}

bool http_method_is(const struct http_request *req, const char *m)
{
    size_t n = strlen(m);

    return req->method_len == n && memcmp(req->method, m, n) == 0;
}

/* <h> may be NULL (header absent): false. Elements are trimmed of OWS;
 * empty elements ("a,,b") never match, as RFC 9110 5.6.1 asks. */
bool http_header_has_token(const struct http_header *h, const char *tok)
{
    size_t n = strlen(tok);

    if (!h || n == 0) return false;
    const char *p = h->value, *end = h->value + h->value_len;

    while (p < end) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        const char *e = comma ? comma : end;
        while (p < e && (*p == ' ' || *p == '\t'))
            p++;
        const char *te = e;
        while (te > p && (te[-1] == ' ' || te[-1] == '\t'))
            te--;
        if ((size_t)(te - p) == n && eq_nocase(p, tok, n)) return true;
        p = comma ? comma + 1 : end;
    }
    return false;
}

/* The decoded credentials must not hold control characters (RFC 7617 2):
 * a NUL would let "admin\0x:pw" compare equal to user "admin". */
int http_basic_auth(const char *value, size_t value_len, char *out, size_t out_len,
                    const char **user, const char **pass)
{
    static const char scheme[] = "Basic";
    size_t sl = sizeof(scheme) - 1, i = sl;

    if (value_len <= sl || !eq_nocase(value, scheme, sl) || value[sl] != ' ') return -1;
    while (i < value_len && value[i] == ' ')
        i++;
    size_t e = value_len;
    while (e > i && (value[e - 1] == ' ' || value[e - 1] == '\t'))
        e--;
    if (e == i || out_len == 0) return -1;

    int dlen = b64_decode(B64_STD, value + i, e - i, (uint8_t *)out, out_len - 1);
    if (dlen < 0) return -1;
    char *colon = NULL;
    for (int k = 0; k < dlen; k++) {
        unsigned char ch = (unsigned char)out[k];
        if (ch < 0x20 || ch == 0x7f) return -1;
        if (ch == ':' && !colon) colon = out + k;
    }
    if (!colon) return -1;
    *colon = '\0';
    out[dlen] = '\0';
    *user = out;
    *pass = colon + 1;
    return 0;
}

/* A parameter without '=' ("?debug&x=1") is found with an empty value. */
bool http_query_param(const char *query, size_t query_len, const char *name, const char **val,
                      size_t *val_len)
{
    if (!query) return false;
    size_t n = strlen(name);
    const char *p = query, *end = query + query_len;

    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *e = amp ? amp : end;
        const char *eq = memchr(p, '=', (size_t)(e - p));
        const char *ne = eq ? eq : e;
        if ((size_t)(ne - p) == n && memcmp(p, name, n) == 0) {
            *val = eq ? eq + 1 : e;
            *val_len = (size_t)(e - *val);
            return true;
        }
        p = amp ? amp + 1 : end;
    }
    return false;
}

enum chunk_state {
    CH_SIZE_FIRST, /* start of a chunk-size line */
    CH_SIZE,       /* in the hex digits; c->remaining accumulates the size */
    CH_SIZE_BWS,   /* whitespace after the size, before ';' */
    CH_EXT,        /* chunk extension, skipped */
    CH_SIZE_LF,
    CH_DATA,
    CH_DATA_CR, /* CRLF after chunk data */
    CH_DATA_LF,
    CH_TRAILER_START, /* start of a trailer line (or the final empty line) */
    CH_TRAILER,
    CH_TRAILER_LF,
    CH_END_LF,
    CH_DONE,
    CH_ERROR,
};

void http_chunked_init(struct http_chunked *c, uint64_t chunk_bytes_max)
{
    memset(c, 0, sizeof(*c));
    c->chunk_bytes_max = chunk_bytes_max;
    c->state = CH_SIZE_FIRST;
}

static int hex_value(unsigned char ch)
{
    if (ch >= '0' && ch <= '9') return ch - '0';
    ch = lower(ch);
    if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
    return -1;
}

/* State is kept per byte so that any split of the input decodes the same;
 * chunk data, the bulk of the bytes, moves in one memmove per call. Line
 * ends are CRLF or bare LF, as for the header section. After an error
 * the decoder stays failed. */
int http_chunked_decode(struct http_chunked *c, char *buf, size_t *len)
{
    const unsigned char *in = (const unsigned char *)buf, *end = in + *len;
    char *out = buf;

    while (in < end) {
        if (c->state == CH_DATA) {
            size_t n = (size_t)(end - in);
            if (n > c->remaining) n = (size_t)c->remaining;
            memmove(out, in, n);
            out += n;
            in += n;
            c->remaining -= n;
            if (c->remaining == 0) c->state = CH_DATA_CR;
            continue;
        }
        if (c->state == CH_DONE) break; /* bytes after the body are not ours */
        if (c->state == CH_ERROR) goto fail;

        unsigned char ch = *in++;
        int v;
        switch (c->state) {
        case CH_SIZE_FIRST:
            if ((v = hex_value(ch)) < 0 || (uint64_t)v > c->chunk_bytes_max) goto fail;
            c->remaining = (uint64_t)v;
            c->line_len = 1;
            c->state = CH_SIZE;
            break;
        case CH_SIZE:
        case CH_SIZE_BWS:
        case CH_EXT:
            if (ch == '\r') {
                c->state = CH_SIZE_LF;
                break;
            }
            if (ch == '\n') goto size_line_done;
            if (++c->line_len > CHUNK_LINE_BYTES_MAX) goto fail;
            if (c->state == CH_SIZE && (v = hex_value(ch)) >= 0) {
                if (c->remaining >> 60) goto fail; /* one more digit would overflow */
                c->remaining = c->remaining << 4 | (uint64_t)v;
                if (c->remaining > c->chunk_bytes_max) goto fail;
            } else if (c->state != CH_EXT && (ch == ' ' || ch == '\t')) {
                c->state = CH_SIZE_BWS;
            } else if (c->state != CH_EXT && ch == ';') {
                c->state = CH_EXT;
            } else if (c->state != CH_EXT || (ch < 0x20 && ch != '\t') || ch == 0x7f) {
                goto fail;
            }
            break;
        case CH_SIZE_LF:
            if (ch != '\n') goto fail;
        size_line_done:
            c->line_len = 0;
            c->state = c->remaining ? CH_DATA : CH_TRAILER_START;
            break;
        case CH_DATA_CR:
            if (ch == '\r')
                c->state = CH_DATA_LF;
            else if (ch == '\n')
                c->state = CH_SIZE_FIRST;
            else
                goto fail;
            break;
        case CH_DATA_LF:
            if (ch != '\n') goto fail;
            c->state = CH_SIZE_FIRST;
            break;
        case CH_TRAILER_START:
        case CH_TRAILER:
            if (ch == '\r') {
                c->state = c->state == CH_TRAILER_START ? CH_END_LF : CH_TRAILER_LF;
            } else if (ch == '\n') {
                if (c->state == CH_TRAILER_START) {
                    c->state = CH_DONE;
                    c->done = true;
                } else {
                    c->state = CH_TRAILER_START;
                }
            } else if ((ch < 0x20 && ch != '\t') || ch == 0x7f ||
                       ++c->line_len > CHUNK_TRAILER_BYTES_MAX) {
                goto fail;
            } else {
                c->state = CH_TRAILER;
            }
            break;
        case CH_TRAILER_LF:
            if (ch != '\n') goto fail;
            c->state = CH_TRAILER_START;
            break;
        case CH_END_LF:
            if (ch != '\n') goto fail;
            c->state = CH_DONE;
            c->done = true;
            break;
        default:
            goto fail;
        }
    }
    *len = (size_t)(out - buf);
    return 0;
fail:
    c->state = CH_ERROR;
    *len = 0;
    return -1;
}

/* Never NULL: unknown codes get "Unknown". */
const char *http_status_text(int status)
{
    // clang-format off
    switch (status) {
    case 100: return "Continue";
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 206: return "Partial Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 406: return "Not Acceptable";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 411: return "Length Required";
    case 412: return "Precondition Failed";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 416: return "Range Not Satisfiable";
    case 417: return "Expectation Failed";
    case 426: return "Upgrade Required";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
    }
    // clang-format on
}
