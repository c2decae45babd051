/* fuzz_http: libFuzzer driver for src/http.c.
 *
 * Input layout: 4 bytes choose the limits, the auth buffer size and the
 * split seed (see LLVMFuzzerTestOneInput); the rest is the request. The driver parses it, checks
 * what the parser promises (consumed <= len and <= header_bytes_max, every returned span inside the
 * section, trimmed values, no NUL), feeds the helpers the parsed values,
 * then decodes the rest as a chunked body twice, whole and in random
 * pieces, and requires both runs to agree. Any broken promise traps.
 */
#include "http.h"

#include <stdlib.h>
#include <string.h>

#define ASSERT(cond)                                                                               \
    do {                                                                                           \
        if (!(cond)) __builtin_trap();                                                             \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_span(const char *p, size_t n, const char *lo, const char *hi)
{
    ASSERT(p != NULL);
    ASSERT(p >= lo && n <= (size_t)(hi - lo) && p + n <= hi);
}

static uint32_t next_rand(uint32_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 17;
    *s ^= *s << 5;
    return *s;
}

static void check_request(const char *buf, size_t len, const struct http_limits *lim,
                          const struct http_request *req, int r)
{
    const char *end = buf + r;

    ASSERT((size_t)r <= len && (size_t)r <= lim->header_bytes_max);
    ASSERT(memchr(buf, '\0', (size_t)r) == NULL);
    check_span(req->method, req->method_len, buf, end);
    ASSERT(req->method_len > 0);
    check_span(req->target, req->target_len, buf, end);
    ASSERT(req->target_len > 0 && req->target_len <= lim->uri_bytes_max);
    ASSERT(req->path == req->target && req->path_len <= req->target_len);
    if (req->query) {
        ASSERT(req->query == req->path + req->path_len + 1);
        ASSERT(req->path_len + 1 + req->query_len == req->target_len);
    } else {
        ASSERT(req->path_len == req->target_len);
    }
    ASSERT(req->minor_version == 0 || req->minor_version == 1);
    ASSERT(req->headers_len <= lim->headers_max && req->headers_len <= HTTP_HEADERS_MAX);
    for (size_t i = 0; i < req->headers_len; i++) {
        const struct http_header *h = &req->headers[i];
        check_span(h->name, h->name_len, buf, end);
        ASSERT(h->name_len > 0);
        check_span(h->value, h->value_len, buf, end);
        if (h->value_len) {
            char first = h->value[0], last = h->value[h->value_len - 1];
            ASSERT(first != ' ' && first != '\t' && last != ' ' && last != '\t');
        }
        ASSERT(memchr(h->value, '\r', h->value_len) == NULL);
        ASSERT(memchr(h->value, '\n', h->value_len) == NULL);
    }
}

/* Helpers on the parsed values: lookups, tokens, auth, query parameters. */
static void exercise_helpers(const struct http_request *req, size_t out_len)
{
    char name[64];
    static char out[512];

    for (size_t i = 0; i < req->headers_len; i++) {
        const struct http_header *h = &req->headers[i];
        if (h->name_len < sizeof(name)) {
            memcpy(name, h->name, h->name_len);
            name[h->name_len] = '\0';
            const struct http_header *f = http_find_header(req, name);
            ASSERT(f != NULL && f <= h);
        }
        (void)http_header_has_token(h, "chunked");
        (void)http_header_has_token(h, "close");
    }

    (void)http_method_is(req, "GET");
    const struct http_header *a = http_find_header(req, "Authorization");
    if (a) {
        const char *user, *pass;
        if (out_len > sizeof(out)) out_len = sizeof(out);
        if (http_basic_auth(a->value, a->value_len, out, out_len, &user, &pass) == 0) {
            ASSERT(user == out);
            size_t ul = strlen(user);
            ASSERT(pass == user + ul + 1);
            ASSERT(ul + 1 + strlen(pass) + 1 <= out_len);
        }
    }

    if (req->query) {
        /* names: a fixed one, and the first parameter's own name */
        const char *v;
        size_t vl, n = 0;
        while (n < req->query_len && n < sizeof(name) - 1 && req->query[n] != '=' &&
               req->query[n] != '&')
            n++;
        memcpy(name, req->query, n);
        name[n] = '\0';
        const char *names[] = {"mount", name};
        for (size_t i = 0; i < 2; i++) {
            if (http_query_param(req->query, req->query_len, names[i], &v, &vl))
                check_span(v, vl, req->query, req->query + req->query_len);
        }
        bool whole_name = n == req->query_len || req->query[n] == '=' || req->query[n] == '&';
        if (whole_name && req->query_len > 0) {
            ASSERT(http_query_param(req->query, req->query_len, name, &v, &vl));
            ASSERT(v == req->query + n + (n < req->query_len && req->query[n] == '='));
        }
    }
}

/* Decodes body[0..n) at once and in pieces; the two must agree. */
static void exercise_chunked(const char *body, size_t n, uint64_t max, uint32_t seed)
{
    struct http_chunked whole, split;
    char *a = malloc(n + 1), *b = malloc(n + 1);
    size_t alen = n, blen = 0;
    int ra, rb = 0;

    memcpy(a, body, n);
    memcpy(b, body, n);
    http_chunked_init(&whole, max);
    ra = http_chunked_decode(&whole, a, &alen);
    ASSERT(alen <= n);
    if (ra != 0) ASSERT(alen == 0);

    http_chunked_init(&split, max);
    for (size_t off = 0; off < n && rb == 0;) {
        size_t piece = 1 + next_rand(&seed) % 16;
        if (piece > n - off) piece = n - off;
        size_t len = piece;
        rb = http_chunked_decode(&split, b + off, &len);
        ASSERT(len <= piece);
        if (rb == 0) {
            memmove(b + blen, b + off, len);
            blen += len;
        }
        off += piece;
    }
    ASSERT(ra == rb);
    ASSERT(whole.done == split.done);
    if (ra == 0) ASSERT(alen == blen && memcmp(a, b, alen) == 0);
    free(a);
    free(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 4) return 0;
    /* Limits from the first bytes: control bytes give small limits that
     * reach every refusal path; printable ones (the seeds start "FUZZ")
     * give the server's defaults, so whole requests get through. A
     * headers_max above the array size checks the clamp. */
    struct http_limits lim = {
        .header_bytes_max = data[0] < 0x20 ? (size_t)data[0] * 16 : 8192,
        .uri_bytes_max = data[1] < 0x40 ? (size_t)data[1] * 2 : 4096,
        .headers_max = data[2] < 0x20 ? data[2] : HTTP_HEADERS_MAX + (data[2] & 7u),
    };
    uint32_t seed = data[3] | 0x100u;
    size_t len = size - 4;
    char *buf = malloc(len ? len : 1); /* exact size: ASan sees overreads */
    struct http_request req;

    memcpy(buf, data + 4, len);
    int r = http_parse_request(buf, len, &lim, &req);
    ASSERT(r > 0 || r == HTTP_NEED_MORE || r == HTTP_INVALID || r == HTTP_URI_TOO_LONG ||
           r == HTTP_HEADERS_TOO_LARGE);
    if (r > 0) {
        check_request(buf, len, &lim, &req, r);
        exercise_helpers(&req, 1 + data[3] % 64);
        /* the section alone parses the same; one byte less is never complete */
        struct http_request again;
        ASSERT(http_parse_request(buf, (size_t)r, &lim, &again) == r);
        ASSERT(http_parse_request(buf, (size_t)r - 1, &lim, &again) <= 0);
    }

    size_t body_off = r > 0 ? (size_t)r : 0;
    exercise_chunked(buf + body_off, len - body_off, (data[1] & 1) ? UINT64_MAX : 4096, seed);
    (void)http_status_text((int)(data[0] | data[1] << 8) - 100);

    free(buf);
    return 0;
}
