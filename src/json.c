/* json: reader (request bodies, in place), writer (bounded buffer), UTF-8.
 * Every input to the reader comes from the network: loops are bounded by
 * the caller's length, recursion by JSON_DEPTH_MAX, and nothing allocates. */
#include "json.h"

#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* UTF-8 ---------------------------------------------------------------- */

/* utf8_lead: for a lead byte, how many continuation bytes follow and the
 * range the first of them must fall in (which is what excludes overlong
 * forms, surrogates and code points past U+10FFFF). False for a byte that
 * cannot start a sequence. */
static bool utf8_lead(uint8_t b, uint8_t *need, uint8_t *lo, uint8_t *hi)
{
    *lo = 0x80;
    *hi = 0xbf;
    if (b < 0x80) {
        *need = 0;
    } else if (b >= 0xc2 && b <= 0xdf) {
        *need = 1;
    } else if (b >= 0xe0 && b <= 0xef) {
        *need = 2;
        if (b == 0xe0) *lo = 0xa0;
        if (b == 0xed) *hi = 0x9f;
    } else if (b >= 0xf0 && b <= 0xf4) {
        *need = 3;
        if (b == 0xf0) *lo = 0x90;
        if (b == 0xf4) *hi = 0x8f;
    } else {
        return false;
    }
    return true;
}

bool json_utf8_feed(struct json_utf8 *u, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint8_t b = p[i];
        if (u->need == 0) {
            if (b < 0x80) continue;
            if (!utf8_lead(b, &u->need, &u->lo, &u->hi)) return false;
        } else {
            if (b < u->lo || b > u->hi) return false;
            u->need--;
            u->lo = 0x80;
            u->hi = 0xbf;
        }
    }
    return true;
}

size_t json_utf8_seq(const uint8_t *p, size_t n)
{
    uint8_t need, lo, hi;

    if (n == 0 || !utf8_lead(p[0], &need, &lo, &hi) || n <= need) return 0;
    for (size_t i = 1; i <= need; i++) {
        if (p[i] < lo || p[i] > hi) return 0;
        lo = 0x80;
        hi = 0xbf;
    }
    return (size_t)need + 1;
}

/* Encodes a scalar value (not a surrogate) into out; returns 1..4. */
static size_t utf8_put(char *out, uint32_t cp)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xc0 | cp >> 6);
        out[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xe0 | cp >> 12);
        out[1] = (char)(0x80 | (cp >> 6 & 0x3f));
        out[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    out[0] = (char)(0xf0 | cp >> 18);
    out[1] = (char)(0x80 | (cp >> 12 & 0x3f));
    out[2] = (char)(0x80 | (cp >> 6 & 0x3f));
    out[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

/* Reader --------------------------------------------------------------- */

struct reader {
    char *buf;
    size_t len;
    size_t pos;
    char *err;
    size_t err_len;
};

__attribute__((format(printf, 3, 4))) static int fail(struct reader *r, size_t at, const char *fmt,
                                                      ...)
{
    char what[64];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    if (r->err_len) snprintf(r->err, r->err_len, "%s at byte %zu", what, at);
    return -1;
}

static void skip_ws(struct reader *r)
{
    while (r->pos < r->len) {
        char ch = r->buf[r->pos];
        if (ch != ' ' && ch != '\t' && ch != '\n' && ch != '\r') break;
        r->pos++;
    }
}

static int hex4(const char *p, uint32_t *out)
{
    uint32_t v = 0;

    for (int i = 0; i < 4; i++) {
        char ch = p[i];
        v <<= 4;
        if (ch >= '0' && ch <= '9')
            v |= (uint32_t)(ch - '0');
        else if (ch >= 'a' && ch <= 'f')
            v |= (uint32_t)(ch - 'a' + 10);
        else if (ch >= 'A' && ch <= 'F')
            v |= (uint32_t)(ch - 'A' + 10);
        else
            return -1;
    }
    *out = v;
    return 0;
}

/* read_escape_u: the \uXXXX escape at r->pos (on the 'u'), with its low
 * surrogate when it is a high one. Leaves r->pos after it. */
static int read_escape_u(struct reader *r, uint32_t *cp)
{
    size_t at = r->pos - 1; /* the backslash */
    uint32_t hi, lo;

    if (r->len - r->pos < 5 || hex4(r->buf + r->pos + 1, &hi) < 0)
        return fail(r, at, "invalid \\u escape");
    r->pos += 5;
    if (hi >= 0xdc00 && hi <= 0xdfff) return fail(r, at, "unpaired surrogate");
    if (hi >= 0xd800 && hi <= 0xdbff) {
        if (r->len - r->pos < 6 || r->buf[r->pos] != '\\' || r->buf[r->pos + 1] != 'u' ||
            hex4(r->buf + r->pos + 2, &lo) < 0 || lo < 0xdc00 || lo > 0xdfff)
            return fail(r, at, "unpaired surrogate");
        r->pos += 6;
        hi = 0x10000 + ((hi - 0xd800) << 10) + (lo - 0xdc00);
    }
    if (hi == 0) return fail(r, at, "\\u0000 not allowed");
    *cp = hi;
    return 0;
}

/* read_string: the string starting at r->pos (on its quote). With <store>
 * it is unescaped in place and NUL-terminated (the output never outruns
 * the input: an escape is never shorter than what it stands for), and
 * *out and *out_len describe it; without, it is only validated. */
static int read_string(struct reader *r, bool store, const char **out, size_t *out_len)
{
    size_t start = r->pos, w = ++r->pos;

    for (;;) {
        if (r->pos == r->len) return fail(r, start, "unterminated string");
        unsigned char ch = (unsigned char)r->buf[r->pos];
        if (ch == '"') break;
        if (ch < 0x20) return fail(r, r->pos, "control character in string");
        if (ch == '\\') {
            size_t at = r->pos;
            if (++r->pos == r->len) return fail(r, start, "unterminated string");
            char e = r->buf[r->pos], c;
            // clang-format off
            switch (e) {
            case '"': c = '"'; break;
            case '\\': c = '\\'; break;
            case '/': c = '/'; break;
            case 'b': c = '\b'; break;
            case 'f': c = '\f'; break;
            case 'n': c = '\n'; break;
            case 'r': c = '\r'; break;
            case 't': c = '\t'; break;
            case 'u': {
                uint32_t cp = 0;
                if (read_escape_u(r, &cp) < 0) return -1;
                if (store)
                    w += utf8_put(r->buf + w, cp);
                continue;
            }
            default:
                return fail(r, at, "invalid escape");
            }
            // clang-format on
            if (store) r->buf[w++] = c;
            r->pos++;
            continue;
        }
        size_t n = 1;
        if (ch >= 0x80) {
            n = json_utf8_seq((const uint8_t *)r->buf + r->pos, r->len - r->pos);
            if (n == 0) return fail(r, r->pos, "invalid UTF-8");
        }
        if (store) memmove(r->buf + w, r->buf + r->pos, n);
        w += n;
        r->pos += n;
    }
    if (store) {
        r->buf[w] = '\0'; /* at most the closing quote, which is behind us */
        *out = r->buf + start + 1;
        *out_len = w - start - 1;
    }
    r->pos++;
    return 0;
}

static bool is_digit(char ch)
{
    return ch >= '0' && ch <= '9';
}

/* read_number: the number at r->pos. With <as_int> it must be an integer
 * that fits int64 and is stored in *out; without, any JSON number passes. */
static int read_number(struct reader *r, bool as_int, int64_t *out)
{
    size_t start = r->pos;
    bool neg = false;
    uint64_t mag = 0, limit;
    bool overflow = false;

    if (r->buf[r->pos] == '-') {
        neg = true;
        r->pos++;
    }
    limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    if (r->pos == r->len || !is_digit(r->buf[r->pos])) return fail(r, start, "invalid number");
    if (r->buf[r->pos] == '0') {
        r->pos++;
    } else {
        while (r->pos < r->len && is_digit(r->buf[r->pos])) {
            unsigned d = (unsigned)(r->buf[r->pos++] - '0');
            if (mag > (limit - d) / 10)
                overflow = true;
            else
                mag = mag * 10 + d;
        }
    }
    bool fraction = false;
    if (r->pos < r->len && r->buf[r->pos] == '.') {
        fraction = true;
        if (++r->pos == r->len || !is_digit(r->buf[r->pos]))
            return fail(r, start, "invalid number");
        while (r->pos < r->len && is_digit(r->buf[r->pos]))
            r->pos++;
    }
    if (r->pos < r->len && (r->buf[r->pos] == 'e' || r->buf[r->pos] == 'E')) {
        fraction = true;
        r->pos++;
        if (r->pos < r->len && (r->buf[r->pos] == '+' || r->buf[r->pos] == '-')) r->pos++;
        if (r->pos == r->len || !is_digit(r->buf[r->pos])) return fail(r, start, "invalid number");
        while (r->pos < r->len && is_digit(r->buf[r->pos]))
            r->pos++;
    }
    if (!as_int) return 0;
    if (fraction) return fail(r, start, "not an integer");
    if (overflow) return fail(r, start, "integer out of range");
    /* -2^63 is representable; its magnitude is not, as an int64. */
    *out = neg ? (int64_t)(0 - mag) : (int64_t)mag;
    return 0;
}

static int read_literal(struct reader *r, const char *word)
{
    size_t n = strlen(word);

    if (r->len - r->pos < n || memcmp(r->buf + r->pos, word, n) != 0)
        return fail(r, r->pos, "expected a value");
    r->pos += n;
    return 0;
}

static int read_value(struct reader *r, unsigned depth, struct json_member *m);

/* read_container: the object or array at r->pos, at nesting <depth> (the
 * container's own level), validated and skipped. */
static int read_container(struct reader *r, unsigned depth)
{
    bool object = r->buf[r->pos] == '{';
    char close = object ? '}' : ']';

    if (depth > JSON_DEPTH_MAX) return fail(r, r->pos, "nesting deeper than %d", JSON_DEPTH_MAX);
    r->pos++;
    skip_ws(r);
    if (r->pos < r->len && r->buf[r->pos] == close) {
        r->pos++;
        return 0;
    }
    for (;;) {
        if (object) {
            skip_ws(r);
            if (r->pos == r->len || r->buf[r->pos] != '"') return fail(r, r->pos, "expected a key");
            if (read_string(r, false, NULL, NULL) < 0) return -1;
            skip_ws(r);
            if (r->pos == r->len || r->buf[r->pos] != ':') return fail(r, r->pos, "expected ':'");
            r->pos++;
        }
        if (read_value(r, depth + 1, NULL) < 0) return -1;
        skip_ws(r);
        if (r->pos < r->len && r->buf[r->pos] == ',') {
            r->pos++;
            continue;
        }
        if (r->pos < r->len && r->buf[r->pos] == close) {
            r->pos++;
            return 0;
        }
        return fail(r, r->pos, object ? "expected ',' or '}'" : "expected ',' or ']'");
    }
}

/* read_value: the value at r->pos (after whitespace), at nesting <depth>
 * for a container. With <m> (a top-level member) it is converted and
 * stored; without, it is only validated. */
static int read_value(struct reader *r, unsigned depth, struct json_member *m)
{
    skip_ws(r);
    if (r->pos == r->len) return fail(r, r->pos, "expected a value");
    size_t start = r->pos;
    char ch = r->buf[r->pos];
    int64_t i = 0;
    const char *s = NULL;
    size_t s_len = 0;
    enum json_type t;
    int rc;

    switch (ch) {
    case '"':
        t = JSON_STRING;
        rc = read_string(r, m != NULL, &s, &s_len);
        break;
    case '{':
    case '[':
        t = ch == '{' ? JSON_OBJECT : JSON_ARRAY;
        rc = read_container(r, depth);
        s = r->buf + start;
        s_len = r->pos - start;
        break;
    case 't':
    case 'f':
        t = JSON_BOOL;
        rc = read_literal(r, ch == 't' ? "true" : "false");
        break;
    case 'n':
        t = JSON_NULL;
        rc = read_literal(r, "null");
        break;
    default:
        if (ch != '-' && !is_digit(ch)) return fail(r, r->pos, "expected a value");
        t = JSON_INT;
        rc = read_number(r, m != NULL, &i);
    }
    if (rc < 0 || !m) return rc;
    m->type = t;
    m->b = ch == 't';
    m->i = i;
    m->str = s;
    m->str_len = s_len;
    return 0;
}

int json_parse(char *buf, size_t len, struct json_doc *doc, char *err, size_t err_len)
{
    struct reader r = {buf, len, 0, err, err_len};

    doc->len = 0;
    if (err_len) err[0] = '\0';
    if (len > JSON_BYTES_MAX) return fail(&r, JSON_BYTES_MAX, "body over %d bytes", JSON_BYTES_MAX);
    skip_ws(&r);
    if (r.pos == len) return fail(&r, r.pos, "empty body");
    if (buf[r.pos] != '{') return fail(&r, r.pos, "expected '{'");
    r.pos++;
    skip_ws(&r);
    if (r.pos < len && buf[r.pos] == '}') {
        r.pos++;
        goto after;
    }
    for (;;) {
        skip_ws(&r);
        size_t key_at = r.pos;
        if (r.pos == len || buf[r.pos] != '"') return fail(&r, r.pos, "expected a key");
        if (doc->len == JSON_KEYS_MAX) return fail(&r, key_at, "more than %d keys", JSON_KEYS_MAX);
        struct json_member *m = &doc->members[doc->len];
        if (read_string(&r, true, &m->key, &m->key_len) < 0) return -1;
        for (size_t k = 0; k < doc->len; k++)
            if (doc->members[k].key_len == m->key_len &&
                memcmp(doc->members[k].key, m->key, m->key_len) == 0)
                return fail(&r, key_at, "duplicate key");
        skip_ws(&r);
        if (r.pos == len || buf[r.pos] != ':') return fail(&r, r.pos, "expected ':'");
        r.pos++;
        if (read_value(&r, 2, m) < 0) return -1;
        doc->len++;
        skip_ws(&r);
        if (r.pos < len && buf[r.pos] == ',') {
            r.pos++;
            continue;
        }
        if (r.pos < len && buf[r.pos] == '}') {
            r.pos++;
            break;
        }
        return fail(&r, r.pos, "expected ',' or '}'");
    }
after:
    skip_ws(&r);
    if (r.pos != len) return fail(&r, r.pos, "unexpected data after the object");
    return (int)len;
}

const struct json_member *json_find(const struct json_doc *doc, const char *key)
{
    size_t n = strlen(key);

    for (size_t i = 0; i < doc->len; i++)
        if (doc->members[i].key_len == n && memcmp(doc->members[i].key, key, n) == 0)
            return &doc->members[i];
    return NULL;
}

int json_check_keys(const struct json_doc *doc, const char *const *allowed, size_t n, char *err,
                    size_t err_len)
{
    for (size_t i = 0; i < doc->len; i++) {
        const struct json_member *m = &doc->members[i];
        bool known = false;
        for (size_t k = 0; k < n && !known; k++)
            known = strlen(allowed[k]) == m->key_len && memcmp(allowed[k], m->key, m->key_len) == 0;
        if (!known) {
            /* The key is valid UTF-8 but may hold anything; the reason is
             * echoed to the client, so cut it short. */
            if (err_len) snprintf(err, err_len, "unknown field '%.40s'", m->key);
            return -1;
        }
    }
    return 0;
}

const char *json_type_name(enum json_type t)
{
    // clang-format off
    switch (t) {
    case JSON_NULL: return "null";
    case JSON_BOOL: return "boolean";
    case JSON_INT: return "integer";
    case JSON_STRING: return "string";
    case JSON_OBJECT: return "object";
    case JSON_ARRAY: return "array";
    }
    // clang-format on
    return "unknown";
}

/* Writer --------------------------------------------------------------- */

void json_w_init(struct json_writer *w, char *buf, size_t cap)
{
    memset(w, 0, sizeof(*w));
    w->buf = buf;
    w->cap = cap;
}

static void put(struct json_writer *w, const char *p, size_t n)
{
    if (w->overflow) return;
    if (n > w->cap - w->len) {
        w->overflow = true;
        return;
    }
    memcpy(w->buf + w->len, p, n);
    w->len += n;
}

/* before_value: the separator a value needs where it stands. */
static void before_value(struct json_writer *w)
{
    if (w->depth == 0) {
        assert(w->len == 0 && !w->overflow && "one top-level value per document");
        return;
    }
    uint32_t bit = 1u << (w->depth - 1);
    if (w->in_object & bit) {
        assert(w->after_key && "a value in an object needs a key first");
        w->after_key = false;
        return;
    }
    if (w->has_items & bit) put(w, ",", 1);
    w->has_items |= bit;
}

static void begin(struct json_writer *w, bool object)
{
    before_value(w);
    assert(w->depth < JSON_DEPTH_MAX);
    uint32_t bit = 1u << w->depth;
    w->depth++;
    w->has_items &= ~bit;
    if (object)
        w->in_object |= bit;
    else
        w->in_object &= ~bit;
    put(w, object ? "{" : "[", 1);
}

static void end(struct json_writer *w, bool object)
{
    assert(w->depth > 0 && !w->after_key);
    assert(((w->in_object >> (w->depth - 1)) & 1) == object);
    w->depth--;
    put(w, object ? "}" : "]", 1);
}

void json_w_object_begin(struct json_writer *w)
{
    begin(w, true);
}

void json_w_object_end(struct json_writer *w)
{
    end(w, true);
}

void json_w_array_begin(struct json_writer *w)
{
    begin(w, false);
}

void json_w_array_end(struct json_writer *w)
{
    end(w, false);
}

static void put_string(struct json_writer *w, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    const uint8_t *p = (const uint8_t *)s;
    size_t i = 0, run = 0;

    put(w, "\"", 1);
    /* Plain bytes go out in runs; only escapes and bad sequences break them. */
    while (i < n) {
        uint8_t ch = p[i];
        const char *esc = NULL;
        char u[6];
        size_t seq = 1;
        if (ch == '"')
            esc = "\\\"";
        else if (ch == '\\')
            esc = "\\\\";
        else if (ch == '\n')
            esc = "\\n";
        else if (ch == '\r')
            esc = "\\r";
        else if (ch == '\t')
            esc = "\\t";
        else if (ch == '\b')
            esc = "\\b";
        else if (ch == '\f')
            esc = "\\f";
        else if (ch >= 0x80)
            seq = json_utf8_seq(p + i, n - i);
        if (!esc && ch >= 0x20 && seq > 0) {
            i += seq;
            continue;
        }
        put(w, s + run, i - run);
        if (esc) {
            put(w, esc, 2);
        } else if (ch < 0x20) {
            memcpy(u, "\\u00", 4);
            u[4] = hex[ch >> 4];
            u[5] = hex[ch & 15];
            put(w, u, 6);
        } else {
            put(w, "\xef\xbf\xbd", 3); /* U+FFFD for one bad byte */
        }
        i++;
        run = i;
    }
    put(w, s + run, i - run);
    put(w, "\"", 1);
}

void json_w_key(struct json_writer *w, const char *key)
{
    assert(w->depth > 0 && (w->in_object >> (w->depth - 1) & 1) && !w->after_key);
    uint32_t bit = 1u << (w->depth - 1);
    if (w->has_items & bit) put(w, ",", 1);
    w->has_items |= bit;
    put_string(w, key, strlen(key));
    put(w, ":", 1);
    w->after_key = true;
}

void json_w_string(struct json_writer *w, const char *s, size_t n)
{
    before_value(w);
    put_string(w, s, n);
}

void json_w_str(struct json_writer *w, const char *s)
{
    json_w_string(w, s, strlen(s));
}

void json_w_int(struct json_writer *w, int64_t v)
{
    char tmp[24];
    int n = snprintf(tmp, sizeof(tmp), "%lld", (long long)v);

    before_value(w);
    put(w, tmp, (size_t)n);
}

void json_w_bool(struct json_writer *w, bool v)
{
    before_value(w);
    put(w, v ? "true" : "false", v ? 4 : 5);
}

void json_w_null(struct json_writer *w)
{
    before_value(w);
    put(w, "null", 4);
}

int json_w_finish(struct json_writer *w)
{
    assert(w->depth == 0 && !w->after_key);
    if (w->overflow || w->len > (size_t)INT32_MAX) return -ENOBUFS;
    if (w->len < w->cap) w->buf[w->len] = '\0';
    return (int)w->len;
}

void json_w_kstr(struct json_writer *w, const char *key, const char *s)
{
    json_w_key(w, key);
    json_w_str(w, s);
}

void json_w_kint(struct json_writer *w, const char *key, int64_t v)
{
    json_w_key(w, key);
    json_w_int(w, v);
}

void json_w_kbool(struct json_writer *w, const char *key, bool v)
{
    json_w_key(w, key);
    json_w_bool(w, v);
}
