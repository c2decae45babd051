/* sjson: the little JSON storm needs — a streaming writer for reports and a
 * bounded DOM reader for `storm merge`. Input is untrusted (files from other
 * machines): depth, size and node counts are capped and every access is
 * checked.
 */
#ifndef PODIUM_SJSON_H
#define PODIUM_SJSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define SJSON_DEPTH_MAX 32
#define SJSON_NODES_MAX 1000000

enum sjson_type { SJ_NULL, SJ_BOOL, SJ_NUM, SJ_STR, SJ_ARR, SJ_OBJ };

struct sjson {
    enum sjson_type type;
    uint32_t len;        /* SJ_ARR/SJ_OBJ: children; SJ_STR: bytes */
    const char *key;     /* member name when inside an object (NUL-terminated) */
    union {
        bool b;
        double num;
        const char *str; /* NUL-terminated, unescaped */
        struct sjson *kids;
    } u;
};

/* sjson_parse: parses text[0..len) into a tree allocated in one block;
 * returns the root (free with sjson_free) or NULL with a reason in err. */
struct sjson *sjson_parse(const char *text, size_t len, char *err, size_t err_len);
void sjson_free(struct sjson *root);
/* Member <key> of an object, NULL when absent or not an object. */
const struct sjson *sjson_get(const struct sjson *obj, const char *key);
/* Numeric member as u64 (0 when absent, negative or not a number). */
uint64_t sjson_u64(const struct sjson *obj, const char *key);

/* Writer: comma handling is the caller's (jw_* keep it in a tiny state). */
struct jw {
    FILE *f;
    int depth;
    bool need_comma[SJSON_DEPTH_MAX];
};

void jw_begin(struct jw *w, FILE *f);
void jw_obj(struct jw *w, const char *key);  /* key NULL inside arrays / at top */
void jw_arr(struct jw *w, const char *key);
void jw_end_obj(struct jw *w);
void jw_end_arr(struct jw *w);
void jw_u64(struct jw *w, const char *key, uint64_t v);
void jw_num(struct jw *w, const char *key, double v);
void jw_bool(struct jw *w, const char *key, bool v);
void jw_str(struct jw *w, const char *key, const char *s);

#endif
