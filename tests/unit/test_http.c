/* test_http: the request parser, its refusals and limits, and the helpers
 * (tokens, Basic auth, query parameters, chunked bodies, reason phrases). */
#include "http.h"
#include "t.h"

#include <stdlib.h>

static const struct http_limits lim_default = {
    .header_bytes_max = 8192,
    .uri_bytes_max = 1024,
    .headers_max = HTTP_HEADERS_MAX,
};

/* parse_n: runs the parser on a heap copy of exactly <len> bytes, so ASan
 * sees any read past the end. Results point into the copy, which lives
 * until the next call. */
static int parse_n(const char *s, size_t len, const struct http_limits *lim,
                   struct http_request *req)
{
    static char *copy;

    free(copy);
    copy = malloc(len ? len : 1);
    memcpy(copy, s, len);
    return http_parse_request(copy, len, lim, req);
}

static int parse(const char *s, struct http_request *req)
{
    return parse_n(s, strlen(s), &lim_default, req);
}

static bool span_is(const char *p, size_t n, const char *want)
{
    return p && n == strlen(want) && memcmp(p, want, n) == 0;
}

static void test_get(void)
{
    struct http_request req;
    const char *s = "GET /live.ogg?token=abc&x=1 HTTP/1.1\r\nHost: example.org\r\n"
                    "User-Agent: test\r\n\r\n";
    CHECK_EQ(parse(s, &req), strlen(s));
    CHECK(http_method_is(&req, "GET"));
    CHECK(!http_method_is(&req, "get"));
    CHECK(!http_method_is(&req, "GE"));
    CHECK(span_is(req.target, req.target_len, "/live.ogg?token=abc&x=1"));
    CHECK(span_is(req.path, req.path_len, "/live.ogg"));
    CHECK(span_is(req.query, req.query_len, "token=abc&x=1"));
    CHECK_EQ(req.minor_version, 1);
    CHECK_EQ(req.headers_len, 2);
    CHECK(span_is(req.headers[0].name, req.headers[0].name_len, "Host"));
    CHECK(span_is(req.headers[0].value, req.headers[0].value_len, "example.org"));
    CHECK(span_is(req.headers[1].value, req.headers[1].value_len, "test"));

    CHECK_EQ(parse("GET / HTTP/1.1\r\n\r\n", &req), 18);
    CHECK(req.query == NULL);
    CHECK_EQ(req.headers_len, 0);
    CHECK_EQ(parse("GET /a? HTTP/1.1\r\n\r\n", &req), 20);
    CHECK(req.query != NULL);
    CHECK_EQ(req.query_len, 0);
    CHECK(span_is(req.path, req.path_len, "/a"));
}

static void test_put_and_source(void)
{
    struct http_request req;
    const char *put = "PUT /studio.ogg HTTP/1.1\r\nAuthorization: Basic c291cmNlOmhhY2ttZQ==\r\n"
                      "Content-Type: audio/ogg\r\nTransfer-Encoding: chunked\r\n"
                      "Ice-Public: 0\r\nExpect: 100-continue\r\n\r\nBODY";
    CHECK_EQ(parse(put, &req), strlen(put) - 4);
    CHECK(http_method_is(&req, "PUT"));
    CHECK_EQ(req.headers_len, 5);
    const struct http_header *h = http_find_header(&req, "content-type");
    CHECK(h && span_is(h->value, h->value_len, "audio/ogg"));
    CHECK(http_header_has_token(http_find_header(&req, "Transfer-Encoding"), "chunked"));
    CHECK(http_find_header(&req, "Content-Length") == NULL);

    const char *src = "SOURCE /live HTTP/1.0\r\nice-name: Radio\r\n\r\n";
    CHECK_EQ(parse(src, &req), strlen(src));
    CHECK(http_method_is(&req, "SOURCE"));
    CHECK_EQ(req.minor_version, 0);
    CHECK(http_find_header(&req, "Ice-Name") != NULL);
}

/* Every proper prefix of a valid request is "need more", never a refusal. */
static void test_every_split(void)
{
    const char *reqs[] = {
        "GET /a?b=c HTTP/1.1\r\nHost: x\r\nX-Empty:\r\nX-Pad:  v  \r\n\r\n",
        "\r\nSOURCE /m HTTP/1.0\nA: b\n\n",
    };
    for (size_t k = 0; k < sizeof(reqs) / sizeof(reqs[0]); k++) {
        size_t n = strlen(reqs[k]);
        struct http_request req;
        for (size_t i = 0; i < n; i++)
            CHECK_EQ(parse_n(reqs[k], i, &lim_default, &req), HTTP_NEED_MORE);
        CHECK_EQ(parse_n(reqs[k], n, &lim_default, &req), n);
    }
}

static void test_bare_lf(void)
{
    struct http_request req;
    const char *s = "GET /x HTTP/1.1\nHost: h\r\nA: b\n\n";
    CHECK_EQ(parse(s, &req), strlen(s));
    CHECK_EQ(req.headers_len, 2);
    CHECK(span_is(req.headers[1].value, req.headers[1].value_len, "b"));
    /* A leading empty line (left over after a body) is skipped. */
    CHECK_EQ(parse("\r\nGET / HTTP/1.1\r\n\r\n", &req), 20);
    CHECK(http_method_is(&req, "GET"));
}

static void test_refusals(void)
{
    struct http_request req;
    static const char *bad[] = {
        "G(T / HTTP/1.1\r\n\r\n",                /* method not a token */
        " GET / HTTP/1.1\r\n\r\n",               /* empty method */
        "GET  / HTTP/1.1\r\n\r\n",               /* empty target */
        "GET / HTTP/1.2\r\n\r\n",                /* version */
        "GET / HTTP/2.0\r\n\r\n",                /* version */
        "GET / http/1.1\r\n\r\n",                /* version case */
        "GET / HTTP/1.1 \r\n\r\n",               /* trailing space */
        "GET / HTTP/1.1\r\r\n\r\n",              /* bare CR */
        "GET /a\x01 HTTP/1.1\r\n\r\n",           /* control char in target */
        "GET /a\x7f HTTP/1.1\r\n\r\n",           /* DEL in target */
        "GET /\tHTTP/1.1\r\n\r\n",               /* tab separator */
        "GET / HTTP/1.1\r\nA: b\r\n c\r\n\r\n",  /* obs-fold */
        "GET / HTTP/1.1\r\nA: b\r\n\tc\r\n\r\n", /* obs-fold, tab */
        "GET / HTTP/1.1\r\n X: b\r\n\r\n",       /* whitespace before first field */
        "GET / HTTP/1.1\r\nBad Name: x\r\n\r\n", /* space in name */
        "GET / HTTP/1.1\r\nName : x\r\n\r\n",    /* space before colon */
        "GET / HTTP/1.1\r\nNoColon\r\n\r\n",     /* missing colon */
        "GET / HTTP/1.1\r\n: x\r\n\r\n",         /* empty name */
        "GET / HTTP/1.1\r\nA: b\x01z\r\n\r\n",   /* control char in value */
        "GET / HTTP/1.1\r\nA: b\rz\r\n\r\n",     /* bare CR in value */
        "GET / HTTP/1.1\r\nA: b\r\n\rX",         /* bad blank line */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int r = parse(bad[i], &req);
        if (r != HTTP_INVALID) fprintf(stderr, "case %zu: got %d\n", i, r);
        CHECK_EQ(r, HTTP_INVALID);
    }
    /* NUL in each part; strlen cannot be used for these. */
    static const char nul_method[] = "GE\0T / HTTP/1.1\r\n\r\n";
    static const char nul_target[] = "GET /\0 HTTP/1.1\r\n\r\n";
    static const char nul_value[] = "GET / HTTP/1.1\r\nA: b\0c\r\n\r\n";
    static const char nul_name[] = "GET / HTTP/1.1\r\nA\0: b\r\n\r\n";
    CHECK_EQ(parse_n(nul_method, sizeof(nul_method) - 1, &lim_default, &req), HTTP_INVALID);
    CHECK_EQ(parse_n(nul_target, sizeof(nul_target) - 1, &lim_default, &req), HTTP_INVALID);
    CHECK_EQ(parse_n(nul_value, sizeof(nul_value) - 1, &lim_default, &req), HTTP_INVALID);
    CHECK_EQ(parse_n(nul_name, sizeof(nul_name) - 1, &lim_default, &req), HTTP_INVALID);
    /* Refused early: the bad version is known before the line ends. */
    CHECK_EQ(parse("GET / HTTP/3", &req), HTTP_INVALID);
    CHECK_EQ(parse("GET / HTTP/1.", &req), HTTP_NEED_MORE);
}

static void test_uri_limit(void)
{
    struct http_request req;
    struct http_limits lim = lim_default;
    char line[64];
    lim.uri_bytes_max = 8;

    /* "/1234567" is exactly 8 bytes: accepted. */
    snprintf(line, sizeof(line), "GET /1234567 HTTP/1.1\r\n\r\n");
    CHECK_EQ(parse_n(line, strlen(line), &lim, &req), strlen(line));
    CHECK_EQ(req.target_len, 8);
    /* 9 bytes: refused, and already with only the 9th target byte sent. */
    snprintf(line, sizeof(line), "GET /12345678 HTTP/1.1\r\n\r\n");
    CHECK_EQ(parse_n(line, strlen(line), &lim, &req), HTTP_URI_TOO_LONG);
    CHECK_EQ(parse_n(line, 4 + 8, &lim, &req), HTTP_NEED_MORE);
    CHECK_EQ(parse_n(line, 4 + 9, &lim, &req), HTTP_URI_TOO_LONG);
}

/* builds "GET / HTTP/1.1\r\n" + <n> "Xnn: v\r\n" fields + "\r\n". */
static size_t build_headers(char *out, size_t cap, unsigned n)
{
    size_t len = (size_t)snprintf(out, cap, "GET / HTTP/1.1\r\n");
    for (unsigned i = 0; i < n; i++)
        len += (size_t)snprintf(out + len, cap - len, "X%02u: v\r\n", i);
    len += (size_t)snprintf(out + len, cap - len, "\r\n");
    return len;
}

static void test_header_bytes_limit(void)
{
    struct http_request req;
    struct http_limits lim = lim_default;
    char buf[512];
    size_t n = build_headers(buf, sizeof(buf), 3);

    lim.header_bytes_max = n; /* exactly at the limit: accepted */
    CHECK_EQ(parse_n(buf, n, &lim, &req), n);
    /* followed by body bytes beyond the limit: still accepted */
    memcpy(buf + n, "body", 4);
    CHECK_EQ(parse_n(buf, n + 4, &lim, &req), n);
    /* one byte short of the limit and incomplete: wait */
    CHECK_EQ(parse_n(buf, n - 1, &lim, &req), HTTP_NEED_MORE);

    lim.header_bytes_max = n - 1; /* one byte over */
    CHECK_EQ(parse_n(buf, n, &lim, &req), HTTP_HEADERS_TOO_LARGE);
    /* known as soon as the window is full without a complete section */
    CHECK_EQ(parse_n(buf, n - 1, &lim, &req), HTTP_HEADERS_TOO_LARGE);
    CHECK_EQ(parse_n(buf, n - 2, &lim, &req), HTTP_NEED_MORE);

    /* a slowloris header that never ends */
    memset(buf, 'a', sizeof(buf));
    memcpy(buf, "GET / HTTP/1.1\r\nX: ", 19);
    lim.header_bytes_max = 256;
    CHECK_EQ(parse_n(buf, 255, &lim, &req), HTTP_NEED_MORE);
    CHECK_EQ(parse_n(buf, 256, &lim, &req), HTTP_HEADERS_TOO_LARGE);
    CHECK_EQ(parse_n(buf, sizeof(buf), &lim, &req), HTTP_HEADERS_TOO_LARGE);
}

static void test_headers_max(void)
{
    struct http_request req;
    struct http_limits lim = lim_default;
    char buf[1024];
    size_t n;

    lim.headers_max = 4;
    n = build_headers(buf, sizeof(buf), 4);
    CHECK_EQ(parse_n(buf, n, &lim, &req), n);
    CHECK_EQ(req.headers_len, 4);
    n = build_headers(buf, sizeof(buf), 5);
    CHECK_EQ(parse_n(buf, n, &lim, &req), HTTP_HEADERS_TOO_LARGE);

    lim.headers_max = 0;
    n = build_headers(buf, sizeof(buf), 0);
    CHECK_EQ(parse_n(buf, n, &lim, &req), n);
    n = build_headers(buf, sizeof(buf), 1);
    CHECK_EQ(parse_n(buf, n, &lim, &req), HTTP_HEADERS_TOO_LARGE);

    /* a limit above the array size is clamped to it */
    lim.headers_max = 1000;
    n = build_headers(buf, sizeof(buf), HTTP_HEADERS_MAX);
    CHECK_EQ(parse_n(buf, n, &lim, &req), n);
    CHECK_EQ(req.headers_len, HTTP_HEADERS_MAX);
    n = build_headers(buf, sizeof(buf), HTTP_HEADERS_MAX + 1);
    CHECK_EQ(parse_n(buf, n, &lim, &req), HTTP_HEADERS_TOO_LARGE);
}

static void test_values_and_tokens(void)
{
    struct http_request req;
    const char *s = "GET / HTTP/1.1\r\nA: \t padded \t \r\nEmpty:\r\nSpaces:   \r\n"
                    "CONNECTION: keep-alive, Upgrade\r\nTE: ,, gzip ,\tChunked\r\n\r\n";
    CHECK_EQ(parse(s, &req), strlen(s));
    const struct http_header *h = http_find_header(&req, "a");
    CHECK(h && span_is(h->value, h->value_len, "padded"));
    h = http_find_header(&req, "EMPTY");
    CHECK(h && h->value_len == 0);
    h = http_find_header(&req, "spaces");
    CHECK(h && h->value_len == 0);

    h = http_find_header(&req, "Connection");
    CHECK(h != NULL);
    CHECK(http_header_has_token(h, "keep-alive"));
    CHECK(http_header_has_token(h, "upgrade"));
    CHECK(http_header_has_token(h, "UPGRADE"));
    CHECK(!http_header_has_token(h, "close"));
    CHECK(!http_header_has_token(h, "keep"));
    CHECK(!http_header_has_token(h, "alive, Upgrade"));
    h = http_find_header(&req, "te");
    CHECK(http_header_has_token(h, "gzip"));
    CHECK(http_header_has_token(h, "chunked"));
    CHECK(!http_header_has_token(h, ""));
    CHECK(!http_header_has_token(NULL, "chunked"));
    CHECK(http_find_header(&req, "Upgrade") == NULL);
    CHECK(http_find_header(&req, "") == NULL);
}

static int auth(const char *value, char *out, size_t out_len, const char **u, const char **p)
{
    return http_basic_auth(value, strlen(value), out, out_len, u, p);
}

static void test_basic_auth(void)
{
    char out[64];
    const char *u = NULL, *p = NULL;

    CHECK_EQ(auth("Basic c291cmNlOmhhY2ttZQ==", out, sizeof(out), &u, &p), 0);
    CHECK_STR(u, "source");
    CHECK_STR(p, "hackme");
    /* scheme is case-insensitive; a colon in the password is kept */
    CHECK_EQ(auth("basic   dTpwOnE=", out, sizeof(out), &u, &p), 0);
    CHECK_STR(u, "u");
    CHECK_STR(p, "p:q");
    /* no padding; empty user and password */
    CHECK_EQ(auth("Basic dTpwOnE", out, sizeof(out), &u, &p), 0);
    CHECK_STR(p, "p:q");
    CHECK_EQ(auth("Basic Og==", out, sizeof(out), &u, &p), 0);
    CHECK_STR(u, "");
    CHECK_STR(p, "");

    CHECK_EQ(auth("Basic c291cmNl!mhhY2ttZQ==", out, sizeof(out), &u, &p), -1); /* bad char */
    CHECK_EQ(auth("Basic c291c", out, sizeof(out), &u, &p), -1);                /* length 1 mod 4 */
    CHECK_EQ(auth("Basic Og=", out, sizeof(out), &u, &p), -1);                  /* short padding */
    CHECK_EQ(auth("Basic O=g=", out, sizeof(out), &u, &p), -1);                 /* padding inside */
    CHECK_EQ(auth("Basic c291cmNl", out, sizeof(out), &u, &p), -1); /* "source": no colon */
    CHECK_EQ(auth("Bearer c291cmNlOmhhY2ttZQ==", out, sizeof(out), &u, &p), -1);
    CHECK_EQ(auth("BasicX c291cmNlOmhhY2ttZQ==", out, sizeof(out), &u, &p), -1);
    CHECK_EQ(auth("Basic", out, sizeof(out), &u, &p), -1);
    CHECK_EQ(auth("Basic ", out, sizeof(out), &u, &p), -1);
    CHECK_EQ(auth("Basic YWRtaW4AeDpwdw==", out, sizeof(out), &u, &p), -1); /* "admin\0x:pw" */

    /* "source:hackme" is 13 bytes: needs 14 with the NUL */
    CHECK_EQ(auth("Basic c291cmNlOmhhY2ttZQ==", out, 14, &u, &p), 0);
    CHECK_EQ(auth("Basic c291cmNlOmhhY2ttZQ==", out, 13, &u, &p), -1);
    CHECK_EQ(auth("Basic c291cmNlOmhhY2ttZQ==", out, 0, &u, &p), -1);
}

static bool qp(const char *q, const char *name, const char *want)
{
    const char *v = NULL;
    size_t vl = 0;
    if (!http_query_param(q, q ? strlen(q) : 0, name, &v, &vl)) return want == NULL;
    return want && span_is(v, vl, want) && v >= q && v + vl <= q + strlen(q);
}

static void test_query_param(void)
{
    const char *q = "token=abc&ab=2&a=1&empty=&flag&last=z";
    CHECK(qp(q, "token", "abc"));
    CHECK(qp(q, "a", "1"));
    CHECK(qp(q, "ab", "2"));
    CHECK(qp(q, "last", "z"));
    CHECK(qp(q, "empty", ""));
    CHECK(qp(q, "flag", ""));
    CHECK(qp(q, "missing", NULL));
    CHECK(qp(q, "tok", NULL));
    CHECK(qp("a=1&a=2", "a", "1"));
    CHECK(qp("x=a=b", "x", "a=b"));
    CHECK(qp("", "a", NULL));
    CHECK(qp(NULL, "a", NULL));
    CHECK(qp("&&a=3&", "a", "3"));
}

/* Decodes <in> fed in pieces of <step> bytes (0: all at once) and checks
 * the result against <want>; returns the first error or 0. */
static int chunked_run(const char *in, size_t n, size_t step, uint64_t max, const char *want,
                       bool want_done)
{
    struct http_chunked c;
    char *buf = malloc(n ? n : 1);
    char out[256];
    size_t out_len = 0;
    int rc = 0;

    memcpy(buf, in, n);
    http_chunked_init(&c, max);
    for (size_t off = 0; off < n && rc == 0;) {
        size_t piece = step && n - off > step ? step : n - off;
        size_t len = piece;
        rc = http_chunked_decode(&c, buf + off, &len);
        CHECK(len <= piece);
        if (rc == 0 && out_len + len <= sizeof(out)) {
            memcpy(out + out_len, buf + off, len);
            out_len += len;
        }
        off += piece;
    }
    free(buf);
    if (rc == 0 && want) {
        CHECK(out_len == strlen(want) && memcmp(out, want, out_len) == 0);
        CHECK_EQ(c.done, want_done);
    }
    return rc;
}

static void chunked_all_splits(const char *in, uint64_t max, const char *want, bool done)
{
    size_t n = strlen(in);
    for (size_t step = 0; step <= 7; step++)
        CHECK_EQ(chunked_run(in, n, step, max, want, done), 0);
}

static void test_chunked(void)
{
    chunked_all_splits("5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", 1024, "hello world", true);
    /* bytes after the end are dropped */
    chunked_all_splits("3\r\nabc\r\n0\r\n\r\nGET / HTTP/1.1\r\n", 1024, "abc", true);
    /* uppercase and lowercase hex, leading zeros */
    chunked_all_splits("A\r\n0123456789\r\nb\r\nabcdefghijk\r\n00\r\n\r\n", 1024,
                       "0123456789abcdefghijk", true);
    /* extensions, with and without values, and whitespace before ';' */
    chunked_all_splits("3;name=val\r\nabc\r\n2 ; x=\"q d\"\r\nde\r\n0;last\r\n\r\n", 1024, "abcde",
                       true);
    /* trailers skipped */
    chunked_all_splits("2\r\nhi\r\n0\r\nX-Trailer: 1\r\nY: 2\r\n\r\n", 1024, "hi", true);
    /* bare LF framing */
    chunked_all_splits("2\nhi\n0\n\n", 1024, "hi", true);
    /* unfinished body: not done, no error */
    chunked_all_splits("4\r\nabcd\r\n3\r\nef", 1024, "abcdef", false);
    chunked_all_splits("4\r\nabcd\r\n0\r\nX: y\r\n", 1024, "abcd", false);

    /* size at the limit, above it */
    const char *at = "4\r\nabcd\r\n0\r\n\r\n";
    CHECK_EQ(chunked_run(at, strlen(at), 0, 4, "abcd", true), 0);
    CHECK_EQ(chunked_run(at, strlen(at), 0, 3, NULL, false), -1);
    CHECK_EQ(chunked_run("10000\r\n", 7, 1, 0xffff, NULL, false), -1);
    /* hex overflow: 16 digits fit in 64 bits, 17 do not */
    const char *f16 = "FFFFFFFFFFFFFFFF\r\n", *f17 = "10000000000000000\r\n";
    CHECK_EQ(chunked_run(f16, strlen(f16), 1, UINT64_MAX, NULL, false), 0);
    CHECK_EQ(chunked_run(f17, strlen(f17), 1, UINT64_MAX, NULL, false), -1);
    /* size line of 64 bytes accepted, 65 refused */
    char line[80];
    memset(line, '0', 64);
    memcpy(line + 64, "\r\n\r\n", 5);
    CHECK_EQ(chunked_run(line, strlen(line), 1, 1024, "", true), 0);
    memset(line, '0', 65);
    memcpy(line + 65, "\r\n\r\n", 5);
    CHECK_EQ(chunked_run(line, strlen(line), 1, 1024, NULL, false), -1);
    memcpy(line, "1;", 2);
    memset(line + 2, 'e', 63);
    memcpy(line + 65, "\r\nx\r\n", 6);
    CHECK_EQ(chunked_run(line, strlen(line), 3, 1024, NULL, false), -1);

    static const char *bad[] = {
        "\r\n",                      /* empty size */
        ";x\r\n",                    /* extension without size */
        "g\r\n",                     /* not hex */
        "-1\r\n",                    /* sign */
        "0x5\r\nhello\r\n",          /* prefix */
        "1 2\r\n",                   /* digit after whitespace */
        "2\r\nabX\r\n",              /* data longer than its size */
        "2\r\nab\rX",                /* bad CRLF after data */
        "2\r\nab\r\n0\r\nX\x01\r\n", /* control char in trailer */
        "2\rX",                      /* bare CR in size line */
        "2;a\x01\r\n",               /* control char in extension */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        for (size_t step = 0; step <= 2; step++)
            CHECK_EQ(chunked_run(bad[i], strlen(bad[i]), step, 1024, NULL, false), -1);

    /* after an error the decoder stays failed */
    struct http_chunked c;
    char b1[] = "zz", b2[] = "0\r\n\r\n";
    size_t l1 = 2, l2 = 5;
    http_chunked_init(&c, 16);
    CHECK_EQ(http_chunked_decode(&c, b1, &l1), -1);
    CHECK_EQ(l1, 0);
    CHECK_EQ(http_chunked_decode(&c, b2, &l2), -1);
    CHECK(!c.done);
}

static void test_status_text(void)
{
    static const int codes[] = {100, 101, 200, 204, 206, 301, 302, 304, 400, 401, 403, 404, 405,
                                408, 409, 411, 413, 414, 415, 416, 429, 431, 500, 501, 503, 505};
    for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
        CHECK(strcmp(http_status_text(codes[i]), "Unknown") != 0);
    CHECK_STR(http_status_text(200), "OK");
    CHECK_STR(http_status_text(404), "Not Found");
    CHECK_STR(http_status_text(414), "URI Too Long");
    CHECK_STR(http_status_text(431), "Request Header Fields Too Large");
    CHECK_STR(http_status_text(799), "Unknown");
    CHECK_STR(http_status_text(-1), "Unknown");
}

int main(void)
{
    T_RUN(test_get);
    T_RUN(test_put_and_source);
    T_RUN(test_every_split);
    T_RUN(test_bare_lf);
    T_RUN(test_refusals);
    T_RUN(test_uri_limit);
    T_RUN(test_header_bytes_limit);
    T_RUN(test_headers_max);
    T_RUN(test_values_and_tokens);
    T_RUN(test_basic_auth);
    T_RUN(test_query_param);
    T_RUN(test_chunked);
    T_RUN(test_status_text);
    T_DONE();
}
