/* sjson: JSON writer and bounded reader (see sjson.h). */
#include "sjson.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- reader: two passes over the text would be cleaner; one pass with
 * per-container growable child arrays is enough for report-sized files. */

struct parser {
    const char *p, *end, *start;
    char *err;
    size_t err_len;
    size_t nodes;
    /* every allocation is chained so sjson_free releases all of them */
    void **allocs;
    size_t allocs_len, allocs_cap;
};

static void *p_alloc(struct parser *ps, size_t n)
{
    if (ps->allocs_len == ps->allocs_cap) {
        size_t cap = ps->allocs_cap ? ps->allocs_cap * 2 : 64;
        void **a = realloc(ps->allocs, cap * sizeof(*a));
        if (!a) return NULL;
        ps->allocs = a;
        ps->allocs_cap = cap;
    }
    void *m = calloc(1, n ? n : 1);
    if (m) ps->allocs[ps->allocs_len++] = m;
    return m;
}

static int fail(struct parser *ps, const char *why)
{
    snprintf(ps->err, ps->err_len, "%s at byte %zu", why, (size_t)(ps->p - ps->start));
    return -1;
}

static void ws(struct parser *ps)
{
    while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\n' || *ps->p == '\r' || *ps->p == '\t'))
        ps->p++;
}

static int parse_value(struct parser *ps, struct sjson *out, int depth);

static int parse_string(struct parser *ps, const char **out, uint32_t *out_len)
{
    ps->p++; /* opening quote */
    const char *s = ps->p;
    while (ps->p < ps->end && *ps->p != '"') {
        if (*ps->p == '\\') ps->p++;
        ps->p++;
    }
    if (ps->p >= ps->end) return fail(ps, "unterminated string");
    size_t n = (size_t)(ps->p - s);
    char *d = p_alloc(ps, n + 1);
    if (!d) return fail(ps, "out of memory");
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '\\' && i + 1 < n) {
            c = s[++i];
            if (c == 'n') c = '\n';
            else if (c == 't') c = '\t';
            else if (c == 'u') { /* storm writes none; keep it a '?' */
                i += 4 < n - i ? 4 : n - i - 1;
                c = '?';
            }
        }
        d[k++] = c;
    }
    d[k] = 0;
    ps->p++;
    *out = d;
    *out_len = (uint32_t)k;
    return 0;
}

static int parse_container(struct parser *ps, struct sjson *out, int depth, bool obj)
{
    size_t cap = 8, len = 0;
    struct sjson *kids = p_alloc(ps, cap * sizeof(*kids));
    if (!kids) return fail(ps, "out of memory");
    ps->p++;
    ws(ps);
    if (ps->p < ps->end && *ps->p == (obj ? '}' : ']')) {
        ps->p++;
        goto done;
    }
    for (;;) {
        const char *key = NULL;
        uint32_t kl;
        ws(ps);
        if (obj) {
            if (ps->p >= ps->end || *ps->p != '"') return fail(ps, "expected a member name");
            if (parse_string(ps, &key, &kl) < 0) return -1;
            ws(ps);
            if (ps->p >= ps->end || *ps->p != ':') return fail(ps, "expected ':'");
            ps->p++;
        }
        if (len == cap) {
            struct sjson *k2 = p_alloc(ps, cap * 2 * sizeof(*k2));
            if (!k2) return fail(ps, "out of memory");
            memcpy(k2, kids, len * sizeof(*kids)); /* old block freed with the tree */
            kids = k2;
            cap *= 2;
        }
        if (parse_value(ps, &kids[len], depth + 1) < 0) return -1;
        kids[len++].key = key;
        ws(ps);
        if (ps->p < ps->end && *ps->p == ',') {
            ps->p++;
            continue;
        }
        if (ps->p < ps->end && *ps->p == (obj ? '}' : ']')) {
            ps->p++;
            break;
        }
        return fail(ps, "expected ',' or a closing bracket");
    }
done:
    out->type = obj ? SJ_OBJ : SJ_ARR;
    out->len = (uint32_t)len;
    out->u.kids = kids;
    return 0;
}

static int parse_value(struct parser *ps, struct sjson *out, int depth)
{
    if (depth > SJSON_DEPTH_MAX) return fail(ps, "nested too deep");
    if (++ps->nodes > SJSON_NODES_MAX) return fail(ps, "too many values");
    ws(ps);
    if (ps->p >= ps->end) return fail(ps, "unexpected end");
    memset(out, 0, sizeof(*out));
    char c = *ps->p;
    if (c == '{' || c == '[') return parse_container(ps, out, depth, c == '{');
    if (c == '"') {
        out->type = SJ_STR;
        return parse_string(ps, &out->u.str, &out->len);
    }
    if (ps->end - ps->p >= 4 && !memcmp(ps->p, "true", 4)) {
        out->type = SJ_BOOL;
        out->u.b = true;
        ps->p += 4;
        return 0;
    }
    if (ps->end - ps->p >= 5 && !memcmp(ps->p, "false", 5)) {
        out->type = SJ_BOOL;
        ps->p += 5;
        return 0;
    }
    if (ps->end - ps->p >= 4 && !memcmp(ps->p, "null", 4)) {
        ps->p += 4;
        return 0;
    }
    if (c == '-' || (c >= '0' && c <= '9')) {
        char tmp[64];
        size_t n = 0;
        while (ps->p + n < ps->end && n < sizeof(tmp) - 1 && strchr("+-.eE0123456789", ps->p[n]))
            n++;
        memcpy(tmp, ps->p, n);
        tmp[n] = 0;
        char *e;
        out->type = SJ_NUM;
        out->u.num = strtod(tmp, &e);
        if (e != tmp + n || !isfinite(out->u.num)) return fail(ps, "bad number");
        ps->p += n;
        return 0;
    }
    return fail(ps, "unexpected character");
}

/* The root block holds the allocation list so one free releases the tree. */
struct root_block {
    struct sjson root;
    void **allocs;
    size_t allocs_len;
};

struct sjson *sjson_parse(const char *text, size_t len, char *err, size_t err_len)
{
    struct parser ps = {.p = text, .start = text, .end = text + len, .err = err, .err_len = err_len};
    struct root_block *rb = calloc(1, sizeof(*rb));
    if (!rb) return NULL;
    if (parse_value(&ps, &rb->root, 0) < 0) goto out_free;
    ws(&ps);
    if (ps.p != ps.end) {
        fail(&ps, "trailing bytes");
        goto out_free;
    }
    rb->allocs = ps.allocs;
    rb->allocs_len = ps.allocs_len;
    return &rb->root;
out_free:
    for (size_t i = 0; i < ps.allocs_len; i++) free(ps.allocs[i]);
    free(ps.allocs);
    free(rb);
    return NULL;
}

void sjson_free(struct sjson *root)
{
    if (!root) return;
    struct root_block *rb = (struct root_block *)root;
    for (size_t i = 0; i < rb->allocs_len; i++) free(rb->allocs[i]);
    free(rb->allocs);
    free(rb);
}

const struct sjson *sjson_get(const struct sjson *obj, const char *key)
{
    if (!obj || obj->type != SJ_OBJ) return NULL;
    for (uint32_t i = 0; i < obj->len; i++)
        if (obj->u.kids[i].key && !strcmp(obj->u.kids[i].key, key)) return &obj->u.kids[i];
    return NULL;
}

uint64_t sjson_u64(const struct sjson *obj, const char *key)
{
    const struct sjson *v = sjson_get(obj, key);
    if (!v || v->type != SJ_NUM || !(v->u.num >= 0) || v->u.num > 1.8e19) return 0;
    return (uint64_t)v->u.num;
}

/* ---- writer */

void jw_begin(struct jw *w, FILE *f)
{
    memset(w, 0, sizeof(*w));
    w->f = f;
}

static void put_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') fprintf(f, "\\%c", c);
        else if (c == '\n') fputs("\\n", f);
        else if (c < 0x20) fputc('?', f);
        else fputc(c, f);
    }
    fputc('"', f);
}

static void jw_key(struct jw *w, const char *key)
{
    if (w->need_comma[w->depth]) fputc(',', w->f);
    w->need_comma[w->depth] = true;
    if (key) {
        put_str(w->f, key);
        fputc(':', w->f);
    }
}

static void jw_open(struct jw *w, const char *key, char c)
{
    jw_key(w, key);
    fputc(c, w->f);
    if (w->depth < SJSON_DEPTH_MAX - 1) w->depth++;
    w->need_comma[w->depth] = false;
}

void jw_obj(struct jw *w, const char *key) { jw_open(w, key, '{'); }
void jw_arr(struct jw *w, const char *key) { jw_open(w, key, '['); }

void jw_end_obj(struct jw *w)
{
    if (w->depth) w->depth--;
    fputc('}', w->f);
}

void jw_end_arr(struct jw *w)
{
    if (w->depth) w->depth--;
    fputc(']', w->f);
}

void jw_u64(struct jw *w, const char *key, uint64_t v)
{
    jw_key(w, key);
    fprintf(w->f, "%llu", (unsigned long long)v);
}

void jw_num(struct jw *w, const char *key, double v)
{
    jw_key(w, key);
    fprintf(w->f, "%.3f", isfinite(v) ? v : 0.0);
}

void jw_bool(struct jw *w, const char *key, bool v)
{
    jw_key(w, key);
    fputs(v ? "true" : "false", w->f);
}

void jw_str(struct jw *w, const char *key, const char *s)
{
    jw_key(w, key);
    put_str(w->f, s);
}
