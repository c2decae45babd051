/* json: the small JSON the API needs, without allocating.
 *
 * Reader: a request body (one JSON object) becomes a flat list of its
 * top-level members, key -> typed value. Strings are unescaped in place in
 * the caller's buffer and NUL-terminated there; nested objects and arrays
 * are validated (syntax, depth, UTF-8) and handed back as raw text. Every
 * refusal comes with a one-line reason naming the byte offset ("expected
 * ':' at byte 17"), fit to go back to the client in a 400 answer.
 *
 * Writer: appends to a caller's fixed buffer; an overflow is sticky and
 * reported once at the end, so a caller writes a whole answer and checks
 * one result.
 *
 * UTF-8: the validator both halves use is exported, in a streaming form, for
 * WebSocket text messages whose characters may straddle frames.
 */
#ifndef PODIUM_JSON_H
#define PODIUM_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define JSON_BYTES_MAX 65536 /* request body; an API body is a few hundred bytes */
#define JSON_DEPTH_MAX 8     /* nesting, the top-level object counting as 1 */
#define JSON_KEYS_MAX 32     /* top-level members */
#define JSON_REASON_BYTES 96 /* room enough for every reason json_parse writes */

enum json_type { JSON_NULL = 1, JSON_BOOL, JSON_INT, JSON_STRING, JSON_OBJECT, JSON_ARRAY };

struct json_member {
    const char *key; /* unescaped, NUL-terminated in the parsed buffer */
    size_t key_len;
    enum json_type type;
    bool b;    /* JSON_BOOL */
    int64_t i; /* JSON_INT */
    /* JSON_STRING: the unescaped value, valid UTF-8 without NUL, and
     * NUL-terminated in the parsed buffer. JSON_OBJECT / JSON_ARRAY: the raw,
     * already validated text of the value ("{...}" / "[...]"), not
     * terminated; an object can be handed to json_parse again (on a copy:
     * parsing writes). */
    const char *str;
    size_t str_len;
};

struct json_doc {
    struct json_member members[JSON_KEYS_MAX];
    size_t len;
};

/* json_parse: parses buf[0..len) as one JSON object (RFC 8259) with
 * whitespace around it. Top-level values may be strings, integers, true,
 * false, null, objects and arrays; nested values may also hold numbers with
 * fractions and exponents (validated, not converted).
 * Refuses, with a reason in err[0..err_len): an empty body, more than
 * JSON_BYTES_MAX bytes, a top level that is not an object, nesting deeper
 * than JSON_DEPTH_MAX, more than JSON_KEYS_MAX members, duplicate top-level
 * keys, a top-level number that is not an integer or does not fit int64,
 * invalid UTF-8, lone surrogates, \u0000 (strings become C strings), control
 * characters in strings, and anything after the object.
 * Writes into <buf> (unescaping in place): on success every string in <doc>
 * points into it; on failure its content is unspecified.
 * Returns len (>0, everything consumed) or -1. Offsets in reasons count
 * from 0. */
int json_parse(char *buf, size_t len, struct json_doc *doc, char *err, size_t err_len);

/* json_find: the member named <key>, or NULL. */
const struct json_member *json_find(const struct json_doc *doc, const char *key);

/* json_check_keys: 0 when every member's key is one of allowed[0..n), else
 * -1 with "unknown field 'x'" in err (keys longer than 40 bytes are cut). */
int json_check_keys(const struct json_doc *doc, const char *const *allowed, size_t n, char *err,
                    size_t err_len);

/* "string", "integer", ...: for reasons such as "title: expected string, got integer". */
const char *json_type_name(enum json_type t);

/* Writer. Calling it out of order (a value in an object without a key, a
 * key outside an object, an end that does not match, nesting deeper than
 * JSON_DEPTH_MAX) is a programmer error and asserts. */
struct json_writer {
    char *buf;
    size_t cap;
    size_t len;
    bool overflow;
    unsigned depth;
    uint32_t in_object; /* bit d: level d+1 is an object (else an array) */
    uint32_t has_items; /* bit d: level d+1 already holds a member or element */
    bool after_key;
};

void json_w_init(struct json_writer *w, char *buf, size_t cap);
void json_w_object_begin(struct json_writer *w);
void json_w_object_end(struct json_writer *w);
void json_w_array_begin(struct json_writer *w);
void json_w_array_end(struct json_writer *w);
void json_w_key(struct json_writer *w, const char *key);
/* json_w_string: <s> is n bytes of UTF-8; quotes, backslashes and control
 * characters are escaped, and invalid UTF-8 is written as U+FFFD, so the
 * output is valid JSON whatever the input. */
void json_w_string(struct json_writer *w, const char *s, size_t n);
void json_w_str(struct json_writer *w, const char *s); /* NUL-terminated */
void json_w_int(struct json_writer *w, int64_t v);
void json_w_bool(struct json_writer *w, bool v);
void json_w_null(struct json_writer *w);

/* json_w_finish: the length of the complete document (NUL-terminated in
 * the buffer when there is room for the NUL), or -ENOBUFS when it did not
 * fit <cap>. Asserts that every object and array was closed. */
int json_w_finish(struct json_writer *w);

/* A member in one call: json_w_key then the value. */
void json_w_kstr(struct json_writer *w, const char *key, const char *s);
void json_w_kint(struct json_writer *w, const char *key, int64_t v);
void json_w_kbool(struct json_writer *w, const char *key, bool v);

/* Streaming UTF-8 validation (RFC 3629: no overlong forms, no surrogates,
 * nothing above U+10FFFF). Zero-initialise, feed bytes in any split, then
 * ask json_utf8_complete at the end of the text. */
struct json_utf8 {
    uint8_t need;   /* continuation bytes still expected */
    uint8_t lo, hi; /* range the next continuation byte must fall in */
};

/* Returns false at the first byte that cannot be valid; the state is then
 * meaningless. */
bool json_utf8_feed(struct json_utf8 *u, const uint8_t *p, size_t n);

/* True when no sequence is left half-way. */
static inline bool json_utf8_complete(const struct json_utf8 *u)
{
    return u->need == 0;
}

/* json_utf8_seq: the length (1..4) of the valid UTF-8 sequence at p[0..n),
 * or 0 when it is invalid or cut short. */
size_t json_utf8_seq(const uint8_t *p, size_t n);

#endif
