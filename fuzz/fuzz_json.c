/* fuzz_json: libFuzzer driver for src/json.c.
 *
 * The input is a request body. The driver parses it and checks what
 * json_parse promises: success consumes everything and yields at most
 * JSON_KEYS_MAX unique keys whose strings are NUL-terminated, NUL-free,
 * valid UTF-8 and inside the buffer; a refusal gives a reason ending in
 * "at byte N" with N within the body. A nested object is parsed again on
 * its own and may only fail for what the top level alone checks (key count,
 * duplicates, number conversion). Then every member is written back with
 * the writer and read again: the values must survive. Finally the writer
 * runs into a buffer cut to a size taken from the input: it must report
 * the overflow and never write past the end. Any broken promise traps.
 */
#include "json.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define ASSERT(cond)                                                                               \
    do {                                                                                           \
        if (!(cond)) __builtin_trap();                                                             \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool utf8_valid(const char *s, size_t n)
{
    struct json_utf8 u = {0};
    return json_utf8_feed(&u, (const uint8_t *)s, n) && json_utf8_complete(&u);
}

static void check_cstring(const char *s, size_t n, const char *lo, const char *hi)
{
    ASSERT(s >= lo && s + n < hi); /* the NUL is inside the buffer too */
    ASSERT(s[n] == '\0');
    ASSERT(memchr(s, '\0', n) == NULL);
    ASSERT(utf8_valid(s, n));
}

static void check_reason(const char *err, size_t size)
{
    const char *at = strstr(err, " at byte ");
    ASSERT(at != NULL);
    char *end;
    unsigned long long off = strtoull(at + 9, &end, 10);
    ASSERT(*end == '\0');
    ASSERT(off <= size);
}

/* write_doc: every member written back; containers become strings of
 * their raw text, which is still a faithful test of the string path. */
static int write_doc(const struct json_doc *doc, char *out, size_t cap)
{
    struct json_writer w;
    json_w_init(&w, out, cap);
    json_w_object_begin(&w);
    for (size_t i = 0; i < doc->len; i++) {
        const struct json_member *m = &doc->members[i];
        json_w_key(&w, m->key);
        // clang-format off
        switch (m->type) {
        case JSON_NULL: json_w_null(&w); break;
        case JSON_BOOL: json_w_bool(&w, m->b); break;
        case JSON_INT: json_w_int(&w, m->i); break;
        default: json_w_string(&w, m->str, m->str_len); break;
        }
        // clang-format on
    }
    json_w_object_end(&w);
    return json_w_finish(&w);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct json_doc doc, again;
    char err[JSON_REASON_BYTES];
    char *buf = malloc(size ? size : 1);
    memcpy(buf, data, size);

    int r = json_parse(buf, size, &doc, err, sizeof(err));
    if (r < 0) {
        ASSERT(r == -1);
        check_reason(err, size > JSON_BYTES_MAX ? JSON_BYTES_MAX : size);
        free(buf);
        return 0;
    }
    ASSERT((size_t)r == size);
    ASSERT(doc.len <= JSON_KEYS_MAX);
    for (size_t i = 0; i < doc.len; i++) {
        const struct json_member *m = &doc.members[i];
        check_cstring(m->key, m->key_len, buf, buf + size);
        for (size_t k = 0; k < i; k++)
            ASSERT(doc.members[k].key_len != m->key_len ||
                   memcmp(doc.members[k].key, m->key, m->key_len) != 0);
        ASSERT(json_find(&doc, m->key) == m);
        if (m->type == JSON_STRING) check_cstring(m->str, m->str_len, buf, buf + size);
        if (m->type == JSON_OBJECT || m->type == JSON_ARRAY) {
            ASSERT(m->str >= buf && m->str_len >= 2 && m->str + m->str_len <= buf + size);
            ASSERT(m->str[0] == (m->type == JSON_OBJECT ? '{' : '['));
            ASSERT(m->str[m->str_len - 1] == (m->type == JSON_OBJECT ? '}' : ']'));
        }
    }
    for (size_t i = 0; i < doc.len; i++) {
        const struct json_member *m = &doc.members[i];
        if (m->type != JSON_OBJECT) continue;
        char *copy = malloc(m->str_len);
        memcpy(copy, m->str, m->str_len);
        if (json_parse(copy, m->str_len, &again, err, sizeof(err)) < 0)
            ASSERT(strstr(err, "more than ") || strstr(err, "duplicate key") ||
                   strstr(err, "not an integer") || strstr(err, "integer out of range"));
        free(copy);
    }

    size_t cap = 6 * size + 64;
    char *out = malloc(cap);
    int n = write_doc(&doc, out, cap);
    ASSERT(n > 0 && (size_t)n < cap && out[n] == '\0');
    if ((size_t)n <= JSON_BYTES_MAX) {
        char *copy = malloc((size_t)n);
        memcpy(copy, out, (size_t)n);
        ASSERT(json_parse(copy, (size_t)n, &again, err, sizeof(err)) == n);
        ASSERT(again.len == doc.len);
        for (size_t i = 0; i < doc.len; i++) {
            const struct json_member *a = &doc.members[i], *b = &again.members[i];
            ASSERT(a->key_len == b->key_len && memcmp(a->key, b->key, a->key_len) == 0);
            if (a->type == JSON_NULL || a->type == JSON_BOOL || a->type == JSON_INT) {
                ASSERT(a->type == b->type && a->b == b->b && a->i == b->i);
            } else {
                ASSERT(b->type == JSON_STRING && a->str_len == b->str_len);
                ASSERT(memcmp(a->str, b->str, a->str_len) == 0);
            }
        }
        free(copy);
    }

    /* Cut the writer short at a size taken from the body: exact-size heap
     * buffer, so a write past it is an ASan report. */
    size_t small = size ? data[0] * (size_t)(data[size - 1] + 1) % ((size_t)n + 1) : 0;
    char *tight = malloc(small ? small : 1);
    int t = write_doc(&doc, tight, small);
    ASSERT(small >= (size_t)n ? t == n : t == -ENOBUFS);
    free(tight);
    free(out);
    free(buf);
    return 0;
}
