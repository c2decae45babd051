/* test_json: the reader (types, unescaping, limits, refusals with their
 * reasons and offsets), the writer (escaping, nesting, overflow), a
 * write-then-read round trip, and the UTF-8 validator on the classic
 * boundary cases. */
#include "json.h"
#include "t.h"

#include <errno.h>
#include <stdlib.h>

static struct json_doc doc;
static char err[JSON_REASON_BYTES];

/* parse: runs json_parse on a heap copy of exactly the text (so ASan sees
 * any read past the end); the copy lives until the next call. */
static int parse_n(const char *s, size_t n)
{
    static char *copy;

    free(copy);
    copy = malloc(n ? n : 1);
    memcpy(copy, s, n);
    return json_parse(copy, n, &doc, err, sizeof(err));
}

static int parse(const char *s)
{
    return parse_n(s, strlen(s));
}

static void test_types(void)
{
    const char *s = " {\"title\": \"Morning show\", \"n\": -42, \"big\": 9223372036854775807,"
                    " \"small\": -9223372036854775808, \"on\": true, \"off\": false,"
                    " \"none\": null, \"obj\": {\"a\": [1, 2.5e3, {}]}, \"arr\": [] }\n";
    CHECK_EQ(parse(s), strlen(s));
    CHECK_EQ(doc.len, 9);
    const struct json_member *m = json_find(&doc, "title");
    CHECK(m && m->type == JSON_STRING);
    if (m) {
        CHECK_STR(m->str, "Morning show");
        CHECK_EQ(m->str_len, 12);
        CHECK_EQ(m->key_len, 5);
        CHECK_STR(m->key, "title");
    }
    m = json_find(&doc, "n");
    CHECK(m && m->type == JSON_INT && m->i == -42);
    m = json_find(&doc, "big");
    CHECK(m && m->type == JSON_INT && m->i == INT64_MAX);
    m = json_find(&doc, "small");
    CHECK(m && m->type == JSON_INT && m->i == INT64_MIN);
    m = json_find(&doc, "on");
    CHECK(m && m->type == JSON_BOOL && m->b);
    m = json_find(&doc, "off");
    CHECK(m && m->type == JSON_BOOL && !m->b);
    m = json_find(&doc, "none");
    CHECK(m && m->type == JSON_NULL);
    m = json_find(&doc, "obj");
    CHECK(m && m->type == JSON_OBJECT);
    if (m) CHECK(m->str_len == 21 && memcmp(m->str, "{\"a\": [1, 2.5e3, {}]}", 21) == 0);
    m = json_find(&doc, "arr");
    CHECK(m && m->type == JSON_ARRAY && m->str_len == 2);
    CHECK(json_find(&doc, "missing") == NULL);
    CHECK(json_find(&doc, "titl") == NULL);

    CHECK_EQ(parse("{}"), 2);
    CHECK_EQ(doc.len, 0);
    CHECK_EQ(parse(" { } "), 5);
    CHECK_EQ(parse("{\"z\":0}"), 7);
    CHECK(doc.len == 1 && doc.members[0].i == 0);
    CHECK_EQ(parse("{\"z\":-0}"), 8);
    CHECK(doc.len == 1 && doc.members[0].i == 0);
    CHECK_STR(json_type_name(JSON_INT), "integer");
    CHECK_STR(json_type_name(JSON_STRING), "string");
}

static void test_unescape(void)
{
    CHECK(parse("{\"s\":\"a\\\"b\\\\c\\/d\\b\\f\\n\\r\\te\"}") > 0);
    CHECK_STR(doc.members[0].str, "a\"b\\c/d\b\f\n\r\te");
    CHECK(parse("{\"s\":\"\\u0041\\u00e9\\u20AC\\ud83d\\ude00\"}") > 0);
    CHECK_STR(doc.members[0].str, "A\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80");
    CHECK_EQ(doc.members[0].str_len, 10);
    /* Raw UTF-8 passes through untouched. */
    CHECK(parse("{\"caf\xc3\xa9\":\"\xe2\x82\xac \xf0\x9f\x98\x80\"}") > 0);
    CHECK_STR(doc.members[0].key, "caf\xc3\xa9");
    CHECK_STR(doc.members[0].str, "\xe2\x82\xac \xf0\x9f\x98\x80");
    /* Escaped keys are unescaped and compared after unescaping. */
    CHECK(parse("{\"\\u0074itle\":\"x\"}") > 0);
    CHECK(json_find(&doc, "title") != NULL);
    CHECK_EQ(parse("{\"title\":1,\"\\u0074itle\":2}"), -1);
    CHECK_STR(err, "duplicate key at byte 11");
    /* Nested strings are validated but left as they were. */
    CHECK(parse("{\"o\":{\"k\":\"\\n\\u00e9\"}}") > 0);
    CHECK(doc.members[0].str_len == 16 &&
          memcmp(doc.members[0].str, "{\"k\":\"\\n\\u00e9\"}", 16) == 0);
}

struct bad {
    const char *in;
    const char *reason;
};

static void test_refusals(void)
{
    static const struct bad cases[] = {
        {"", "empty body at byte 0"},
        {"   ", "empty body at byte 3"},
        {"[1]", "expected '{' at byte 0"},
        {"\"s\"", "expected '{' at byte 0"},
        {"{\"title\" \"x\"}", "expected ':' at byte 9"},
        {"{\"a\":1 \"b\":2}", "expected ',' or '}' at byte 7"},
        {"{\"a\":1,}", "expected a key at byte 7"},
        {"{a:1}", "expected a key at byte 1"},
        {"{\"a\":}", "expected a value at byte 5"},
        {"{\"a\":tru}", "expected a value at byte 5"},
        {"{\"a\":nul}", "expected a value at byte 5"},
        {"{\"a\":+1}", "expected a value at byte 5"},
        {"{\"a\":01}", "expected ',' or '}' at byte 6"},
        {"{\"a\":1.}", "invalid number at byte 5"},
        {"{\"a\":-}", "invalid number at byte 5"},
        {"{\"a\":1e}", "invalid number at byte 5"},
        {"{\"a\":1.5}", "not an integer at byte 5"},
        {"{\"a\":1e3}", "not an integer at byte 5"},
        {"{\"a\":9223372036854775808}", "integer out of range at byte 5"},
        {"{\"a\":-9223372036854775809}", "integer out of range at byte 5"},
        {"{\"a\":99999999999999999999999}", "integer out of range at byte 5"},
        {"{\"a\":\"abc", "unterminated string at byte 5"},
        {"{\"a\":\"abc\\", "unterminated string at byte 5"},
        {"{\"a\":\"a\tb\"}", "control character in string at byte 7"},
        {"{\"a\":\"\\x\"}", "invalid escape at byte 6"},
        {"{\"a\":\"\\u12\"}", "invalid \\u escape at byte 6"},
        {"{\"a\":\"\\u12G4\"}", "invalid \\u escape at byte 6"},
        {"{\"a\":\"\\ud800\"}", "unpaired surrogate at byte 6"},
        {"{\"a\":\"\\ud800\\u0041\"}", "unpaired surrogate at byte 6"},
        {"{\"a\":\"\\udc00\\ud800\"}", "unpaired surrogate at byte 6"},
        {"{\"a\":\"\\u0000\"}", "\\u0000 not allowed at byte 6"},
        {"{\"a\":\"\xc0\xaf\"}", "invalid UTF-8 at byte 6"},
        {"{\"a\":\"\xed\xa0\x80\"}", "invalid UTF-8 at byte 6"},
        {"{\"a\":\"\xf4\x90\x80\x80\"}", "invalid UTF-8 at byte 6"},
        {"{\"a\":\"\xe2\x82\"}", "invalid UTF-8 at byte 6"},
        {"{\"a\":\"\xff\"}", "invalid UTF-8 at byte 6"},
        {"{\"a\":[1,]}", "expected a value at byte 8"},
        {"{\"a\":[1 2]}", "expected ',' or ']' at byte 8"},
        {"{\"a\":{\"b\"}}", "expected ':' at byte 9"},
        {"{\"a\":[\"\\q\"]}", "invalid escape at byte 7"},
        {"{\"a\":1} x", "unexpected data after the object at byte 8"},
        {"{\"a\":1}{}", "unexpected data after the object at byte 7"},
        {"{\"a\":1", "expected ',' or '}' at byte 6"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int r = parse(cases[i].in);
        if (r != -1 || strcmp(err, cases[i].reason) != 0)
            fprintf(stderr, "case %zu: %s -> %d \"%s\"\n", i, cases[i].in, r, err);
        CHECK_EQ(r, -1);
        CHECK_STR(err, cases[i].reason);
    }
    /* A NUL byte in the body is a control character, not an end. */
    CHECK_EQ(parse_n("{\"a\":\"x\0y\"}", 11), -1);
    CHECK_STR(err, "control character in string at byte 7");
    CHECK_EQ(parse_n("{\"a\":1}\0", 8), -1);
}

static void test_limits(void)
{
    char buf[JSON_BYTES_MAX + 16];

    /* Depth: the top level counts as 1, so 7 nested levels pass, 8 do not. */
    CHECK(parse("{\"a\":[[[[[[[]]]]]]]}") > 0);
    CHECK_EQ(parse("{\"a\":[[[[[[[[]]]]]]]]}"), -1);
    CHECK_STR(err, "nesting deeper than 8 at byte 12");
    CHECK(parse("{\"a\":{\"b\":{\"c\":{\"d\":{\"e\":{\"f\":{\"g\":1}}}}}}}") > 0);
    CHECK(parse("{\"a\":{\"b\":{\"c\":{\"d\":{\"e\":{\"f\":{\"g\":{}}}}}}}}") > 0);
    CHECK_EQ(parse("{\"a\":{\"b\":{\"c\":{\"d\":{\"e\":{\"f\":{\"g\":{\"h\":{}}}}}}}}}"), -1);
    CHECK_STR(err, "nesting deeper than 8 at byte 40");

    /* Keys: 32 pass, the 33rd is refused where it starts. */
    size_t n = 0, last = 0;
    char want[64];
    buf[n++] = '{';
    for (int k = 0; k < JSON_KEYS_MAX + 1; k++) {
        if (k) buf[n++] = ',';
        last = n;
        n += (size_t)snprintf(buf + n, sizeof(buf) - n, "\"k%02d\":%d", k, k);
    }
    buf[n++] = '}';
    CHECK_EQ(parse_n(buf, n), -1);
    snprintf(want, sizeof(want), "more than 32 keys at byte %zu", last);
    CHECK_STR(err, want);
    size_t cut = last - 1; /* drop the last member and its comma */
    buf[cut] = '}';
    CHECK_EQ(parse_n(buf, cut + 1), (int)cut + 1);
    CHECK_EQ(doc.len, JSON_KEYS_MAX);
    CHECK_EQ(json_find(&doc, "k31")->i, 31);

    /* Bytes: a body of exactly JSON_BYTES_MAX passes, one more does not. */
    memset(buf, ' ', sizeof(buf));
    memcpy(buf, "{\"pad\":\"", 8);
    memset(buf + 8, 'x', JSON_BYTES_MAX - 10);
    memcpy(buf + JSON_BYTES_MAX - 2, "\"}", 2);
    CHECK_EQ(parse_n(buf, JSON_BYTES_MAX), JSON_BYTES_MAX);
    CHECK_EQ(doc.members[0].str_len, JSON_BYTES_MAX - 10);
    CHECK_EQ(parse_n(buf, JSON_BYTES_MAX + 1), -1);
    CHECK_STR(err, "body over 65536 bytes at byte 65536");

    /* A short reason buffer is cut, not overrun. */
    char small[8];
    char text[] = "{\"a\":}";
    CHECK_EQ(json_parse(text, 6, &doc, small, sizeof(small)), -1);
    CHECK_STR(small, "expecte");
}

static void test_check_keys(void)
{
    static const char *const allowed[] = {"title", "description"};

    CHECK(parse("{\"title\":\"x\",\"description\":\"y\"}") > 0);
    CHECK_EQ(json_check_keys(&doc, allowed, 2, err, sizeof(err)), 0);
    CHECK(parse("{\"title\":\"x\",\"titel\":\"y\"}") > 0);
    CHECK_EQ(json_check_keys(&doc, allowed, 2, err, sizeof(err)), -1);
    CHECK_STR(err, "unknown field 'titel'");
    CHECK(parse("{\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\":1}") > 0);
    CHECK_EQ(json_check_keys(&doc, allowed, 2, err, sizeof(err)), -1);
    CHECK_STR(err, "unknown field 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa'");
}

static void test_writer(void)
{
    char buf[512];
    struct json_writer w;

    json_w_init(&w, buf, sizeof(buf));
    json_w_object_begin(&w);
    json_w_key(&w, "id");
    json_w_str(&w, "abc");
    json_w_key(&w, "n");
    json_w_int(&w, INT64_MIN);
    json_w_key(&w, "list");
    json_w_array_begin(&w);
    json_w_int(&w, 1);
    json_w_bool(&w, true);
    json_w_null(&w);
    json_w_object_begin(&w);
    json_w_object_end(&w);
    json_w_array_begin(&w);
    json_w_array_end(&w);
    json_w_array_end(&w);
    json_w_key(&w, "b");
    json_w_bool(&w, false);
    json_w_object_end(&w);
    int n = json_w_finish(&w);
    const char *want = "{\"id\":\"abc\",\"n\":-9223372036854775808,\"list\":[1,true,null,{},[]],"
                       "\"b\":false}";
    CHECK_EQ(n, strlen(want));
    CHECK_STR(buf, want);

    /* Escaping: quotes, backslash, the short escapes, other controls as
     * \u00XX, DEL and valid UTF-8 as they are, bad bytes as U+FFFD. */
    json_w_init(&w, buf, sizeof(buf));
    json_w_string(&w, "q\"b\\n\nr\rt\tb\bf\f\x01\x1f\x7f\xc3\xa9\xff\xe2\x82!", 23);
    CHECK(json_w_finish(&w) > 0);
    CHECK_STR(buf, "\"q\\\"b\\\\n\\nr\\rt\\tb\\bf\\f\\u0001\\u001f\x7f\xc3\xa9"
                   "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd!\"");
    /* Embedded NUL is written as \u0000 (the reader refuses it, the writer
     * must still produce valid JSON). */
    json_w_init(&w, buf, sizeof(buf));
    json_w_string(&w, "a\0b", 3);
    CHECK(json_w_finish(&w) > 0);
    CHECK_STR(buf, "\"a\\u0000b\"");
    /* Keys are escaped the same way. */
    json_w_init(&w, buf, sizeof(buf));
    json_w_object_begin(&w);
    json_w_key(&w, "a\"b");
    json_w_int(&w, 0);
    json_w_object_end(&w);
    CHECK(json_w_finish(&w) > 0);
    CHECK_STR(buf, "{\"a\\\"b\":0}");
}

static void test_writer_overflow(void)
{
    char buf[64];
    struct json_writer w;

    /* Every capacity below the full length overflows, never writes past
     * cap, and the full length (with or without room for the NUL) fits. */
    const char *want = "{\"k\":\"value with \\\"quotes\\\"\",\"n\":12345}";
    size_t full = strlen(want);
    for (size_t cap = 0; cap <= full + 1; cap++) {
        memset(buf, '#', sizeof(buf));
        json_w_init(&w, buf, cap);
        json_w_object_begin(&w);
        json_w_key(&w, "k");
        json_w_str(&w, "value with \"quotes\"");
        json_w_key(&w, "n");
        json_w_int(&w, 12345);
        json_w_object_end(&w);
        int r = json_w_finish(&w);
        if (cap < full) {
            CHECK_EQ(r, -ENOBUFS);
        } else {
            CHECK_EQ(r, full);
            CHECK(memcmp(buf, want, full) == 0);
        }
        for (size_t i = cap; i < sizeof(buf); i++)
            CHECK_EQ(buf[i], '#');
    }
}

/* Writing a document and reading it back gives the same values. */
static void test_roundtrip(void)
{
    char buf[1024];
    struct json_writer w;
    char all[128];

    for (int i = 0; i < 127; i++)
        all[i] = (char)(i + 1); /* every ASCII byte but NUL */
    all[127] = '\0';
    json_w_init(&w, buf, sizeof(buf));
    json_w_object_begin(&w);
    json_w_key(&w, "ascii");
    json_w_str(&w, all);
    json_w_key(&w, "utf8");
    json_w_str(&w, "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80");
    json_w_key(&w, "min");
    json_w_int(&w, INT64_MIN);
    json_w_key(&w, "max");
    json_w_int(&w, INT64_MAX);
    json_w_key(&w, "nested");
    json_w_array_begin(&w);
    json_w_str(&w, "\"");
    json_w_array_end(&w);
    json_w_object_end(&w);
    int n = json_w_finish(&w);
    CHECK(n > 0);
    CHECK_EQ(json_parse(buf, (size_t)n, &doc, err, sizeof(err)), n);
    CHECK_EQ(doc.len, 5);
    CHECK_STR(json_find(&doc, "ascii")->str, all);
    CHECK_STR(json_find(&doc, "utf8")->str, "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80");
    CHECK_EQ(json_find(&doc, "min")->i, INT64_MIN);
    CHECK_EQ(json_find(&doc, "max")->i, INT64_MAX);
    CHECK_EQ(json_find(&doc, "nested")->type, JSON_ARRAY);
}

static bool utf8_ok(const char *s, size_t n)
{
    struct json_utf8 u = {0};
    return json_utf8_feed(&u, (const uint8_t *)s, n) && json_utf8_complete(&u);
}

static void test_utf8(void)
{
    static const struct {
        const char *s;
        size_t n;
        bool ok;
    } cases[] = {
        {"", 0, true},
        {"plain", 5, true},
        {"\x7f", 1, true},
        {"\xc2\x80", 2, true},          /* U+0080 */
        {"\xdf\xbf", 2, true},          /* U+07FF */
        {"\xe0\xa0\x80", 3, true},      /* U+0800 */
        {"\xed\x9f\xbf", 3, true},      /* U+D7FF */
        {"\xee\x80\x80", 3, true},      /* U+E000 */
        {"\xef\xbf\xbf", 3, true},      /* U+FFFF */
        {"\xf0\x90\x80\x80", 4, true},  /* U+10000 */
        {"\xf4\x8f\xbf\xbf", 4, true},  /* U+10FFFF */
        {"\x80", 1, false},             /* lone continuation */
        {"\xc0\x80", 2, false},         /* overlong NUL */
        {"\xc1\xbf", 2, false},         /* overlong */
        {"\xe0\x9f\xbf", 3, false},     /* overlong */
        {"\xed\xa0\x80", 3, false},     /* U+D800 */
        {"\xed\xbf\xbf", 3, false},     /* U+DFFF */
        {"\xf0\x8f\xbf\xbf", 4, false}, /* overlong */
        {"\xf4\x90\x80\x80", 4, false}, /* U+110000 */
        {"\xf5\x80\x80\x80", 4, false},
        {"\xfe", 1, false},
        {"\xff", 1, false},
        {"\xc3", 1, false},     /* cut short */
        {"\xe2\x82", 2, false}, /* cut short */
        {"\xe2\x28\xa1", 3, false},
        {"a\xc3\xa9z", 4, true},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        if (utf8_ok(cases[i].s, cases[i].n) != cases[i].ok) fprintf(stderr, "utf8 case %zu\n", i);
        CHECK_EQ(utf8_ok(cases[i].s, cases[i].n), cases[i].ok);
        size_t seq = json_utf8_seq((const uint8_t *)cases[i].s, cases[i].n);
        if (cases[i].ok && cases[i].n > 0 && cases[i].n <= 4 && (uint8_t)cases[i].s[0] >= 0x80)
            CHECK_EQ(seq, cases[i].n);
    }

    /* Any split of a valid text feeds the same: one byte at a time here. */
    const char *t = "h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80";
    struct json_utf8 u = {0};
    for (size_t i = 0; i < strlen(t); i++) {
        CHECK(json_utf8_feed(&u, (const uint8_t *)t + i, 1));
        bool boundary = i + 1 == strlen(t) || ((uint8_t)t[i + 1] & 0xc0) != 0x80;
        CHECK_EQ(json_utf8_complete(&u), boundary);
    }
}

int main(void)
{
    T_RUN(test_types);
    T_RUN(test_unescape);
    T_RUN(test_refusals);
    T_RUN(test_limits);
    T_RUN(test_check_keys);
    T_RUN(test_writer);
    T_RUN(test_writer_overflow);
    T_RUN(test_roundtrip);
    T_RUN(test_utf8);
    T_DONE();
}
