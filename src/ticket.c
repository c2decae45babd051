/* ticket: layout, key ring, HMAC signing and verification, base64url. */
#include "ticket.h"

#include "b64.h"

#include <assert.h>
#include <errno.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/params.h>
#include <string.h>

#pragma GCC poison strcpy sprintf gets strtok atoi

#define SIGNED_BYTES (TICKET_BIN_BYTES - TICKET_MAC_BYTES)

static const char *const status_names[] = {
    [TICKET_OK] = "ok",
    [TICKET_MALFORMED] = "malformed",
    [TICKET_UNKNOWN_EPOCH] = "unknown_epoch",
    [TICKET_BAD_SIGNATURE] = "bad_signature",
    [TICKET_WRONG_KIND] = "wrong_kind",
    [TICKET_NOT_YET_VALID] = "not_yet_valid",
    [TICKET_EXPIRED] = "expired",
    [TICKET_WRONG_SPACE] = "wrong_space",
    [TICKET_WRONG_PREFIX] = "wrong_prefix",
};

const char *ticket_status_name(enum ticket_status s)
{
    if ((unsigned)s >= sizeof(status_names) / sizeof(status_names[0])) return "?";
    return status_names[s];
}

/* ---- keys --------------------------------------------------------------- */

/* hmac_once: a one-shot HMAC-SHA256, for key derivation (rare). */
static void hmac_once(const uint8_t *key, size_t key_len, const void *data, size_t len,
                      uint8_t out[32])
{
    unsigned int out_len = 32;
    unsigned char *r = HMAC(EVP_sha256(), key, (int)key_len, data, len, out, &out_len);
    assert(r && out_len == 32);
    (void)r;
}

/* mac_run: HMAC-SHA256 of data under the key <ctx> was set up with. */
static void mac_run(EVP_MAC_CTX *ctx, const void *data, size_t len, uint8_t out[32])
{
    size_t out_len = 0;
    int ok = EVP_MAC_init(ctx, NULL, 0, NULL) && EVP_MAC_update(ctx, data, len) &&
             EVP_MAC_final(ctx, out, &out_len, 32);
    /* cannot fail once keyed: no allocation, fixed digest */
    assert(ok && out_len == 32);
    (void)ok;
}

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* derive: epoch key = HMAC(master, label || epoch); the MAC and tag keys are
 * HMACs of that under distinct labels, so neither reveals the other. */
static int derive(struct ticket_ring *r, uint32_t epoch, struct ticket_key *k)
{
    static const char label[] = "podium ticket v1 epoch";
    uint8_t msg[sizeof(label) - 1 + 4], ek[32], mk[32], tk[32];
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
        OSSL_PARAM_construct_end(),
    };
    int err = 0;
    memcpy(msg, label, sizeof(label) - 1);
    put32(msg + sizeof(label) - 1, epoch);
    hmac_once(r->master, r->master_len, msg, sizeof(msg), ek);
    hmac_once(ek, sizeof(ek), "mac", 3, mk);
    hmac_once(ek, sizeof(ek), "prefix", 6, tk);
    memset(k, 0, sizeof(*k));
    k->mac = EVP_MAC_CTX_new(r->hmac);
    k->tag = EVP_MAC_CTX_new(r->hmac);
    if (!k->mac || !k->tag || !EVP_MAC_init(k->mac, mk, sizeof(mk), params) ||
        !EVP_MAC_init(k->tag, tk, sizeof(tk), params)) {
        EVP_MAC_CTX_free(k->mac);
        EVP_MAC_CTX_free(k->tag);
        memset(k, 0, sizeof(*k));
        err = -ENOMEM;
    } else {
        k->epoch = epoch;
        k->set = true;
    }
    OPENSSL_cleanse(ek, sizeof(ek));
    OPENSSL_cleanse(mk, sizeof(mk));
    OPENSSL_cleanse(tk, sizeof(tk));
    return err;
}

static void key_free(struct ticket_key *k)
{
    EVP_MAC_CTX_free(k->mac);
    EVP_MAC_CTX_free(k->tag);
    memset(k, 0, sizeof(*k));
}

int ticket_ring_init(struct ticket_ring *r, const uint8_t *master, size_t master_len,
                     uint32_t rotate_s, uint32_t ttl_max_s, uint32_t skew_s, uint64_t now_unix_s)
{
    memset(r, 0, sizeof(*r));
    if (master_len < TICKET_MASTER_BYTES_MIN || master_len > TICKET_MASTER_BYTES_MAX)
        return -EINVAL;
    if (!rotate_s || !ttl_max_s || ttl_max_s > rotate_s) return -EINVAL;
    memcpy(r->master, master, master_len);
    r->master_len = master_len;
    r->rotate_s = rotate_s;
    r->ttl_max_s = ttl_max_s;
    r->skew_s = skew_s;
    r->hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    if (!r->hmac) goto out_wipe;
    uint32_t e = (uint32_t)(now_unix_s / rotate_s);
    if (derive(r, e, &r->cur) < 0) goto out_free;
    if (e > 0 && derive(r, e - 1, &r->prev) < 0) goto out_free;
    return 0;

out_free:
    ticket_ring_free(r);
    return -ENOMEM;
out_wipe:
    OPENSSL_cleanse(r, sizeof(*r));
    return -ENOMEM;
}

int ticket_ring_tick(struct ticket_ring *r, uint64_t now_unix_s)
{
    uint32_t e = (uint32_t)(now_unix_s / r->rotate_s);
    struct ticket_key cur, prev = {0};
    if (e == r->cur.epoch) return 0;
    if (derive(r, e, &cur) < 0) return -ENOMEM;
    if (e == r->cur.epoch + 1) {
        key_free(&r->prev);
        r->prev = r->cur;
    } else {
        if (e > 0 && derive(r, e - 1, &prev) < 0) {
            key_free(&cur);
            return -ENOMEM;
        }
        key_free(&r->prev);
        key_free(&r->cur);
        r->prev = prev;
    }
    r->cur = cur;
    return 1;
}

void ticket_ring_free(struct ticket_ring *r)
{
    key_free(&r->cur);
    key_free(&r->prev);
    EVP_MAC_free(r->hmac);
    OPENSSL_cleanse(r, sizeof(*r));
}

static const struct ticket_key *key_for(const struct ticket_ring *r, uint16_t epoch16)
{
    if (r->cur.set && (uint16_t)r->cur.epoch == epoch16) return &r->cur;
    if (r->prev.set && (uint16_t)r->prev.epoch == epoch16) return &r->prev;
    return NULL;
}

static uint32_t prefix_tag(const struct ticket_key *k, const struct prefix *p)
{
    uint8_t h[32];
    mac_run(k->tag, p->b, sizeof(p->b), h);
    return get32(h);
}

/* ---- tickets ------------------------------------------------------------ */

static void pack(const struct ticket *t, uint8_t b[TICKET_BIN_BYTES])
{
    b[0] = (uint8_t)(TICKET_VERSION << 4 | ((unsigned)t->kind & 15));
    b[1] = t->aux;
    b[2] = (uint8_t)(t->epoch >> 8);
    b[3] = (uint8_t)t->epoch;
    put32(b + 4, t->space);
    put32(b + 8, t->issued_unix_s);
    put32(b + 12, t->expires_unix_s);
    put32(b + 16, (uint32_t)(t->number >> 32));
    put32(b + 20, (uint32_t)t->number);
    put32(b + 24, t->prefix_tag);
}

static void unpack(const uint8_t b[TICKET_BIN_BYTES], struct ticket *t)
{
    t->kind = (enum ticket_kind)(b[0] & 15);
    t->aux = b[1];
    t->epoch = (uint16_t)(b[2] << 8 | b[3]);
    t->space = get32(b + 4);
    t->issued_unix_s = get32(b + 8);
    t->expires_unix_s = get32(b + 12);
    t->number = (uint64_t)get32(b + 16) << 32 | get32(b + 20);
    t->prefix_tag = get32(b + 24);
}

int ticket_issue(struct ticket_ring *r, struct ticket *t, const struct prefix *p,
                 uint64_t now_unix_s, uint32_t ttl_s, char *out, size_t out_len)
{
    assert(r->cur.set);
    assert(t->kind >= TICKET_ADMISSION && t->kind <= TICKET_PUZZLE);
    if (out_len <= TICKET_TEXT_BYTES) return -ENOSPC;
    if (!ttl_s || ttl_s > r->ttl_max_s || now_unix_s + ttl_s > UINT32_MAX) return -EINVAL;
    t->epoch = (uint16_t)r->cur.epoch;
    t->issued_unix_s = (uint32_t)now_unix_s;
    t->expires_unix_s = (uint32_t)(now_unix_s + ttl_s);
    t->prefix_tag = prefix_tag(&r->cur, p);

    uint8_t b[TICKET_BIN_BYTES], mac[32];
    pack(t, b);
    mac_run(r->cur.mac, b, SIGNED_BYTES, mac);
    memcpy(b + SIGNED_BYTES, mac, TICKET_MAC_BYTES);
    int n = b64_encode(B64_URL, b, sizeof(b), out, out_len);
    assert(n == TICKET_TEXT_BYTES);
    return n;
}

enum ticket_status ticket_verify(struct ticket_ring *r, const char *text, size_t len,
                                 enum ticket_kind kind, uint32_t space, const struct prefix *p,
                                 uint64_t now_unix_s, struct ticket *out)
{
    uint8_t b[TICKET_BIN_BYTES], mac[32];
    struct ticket t;
    if (len != TICKET_TEXT_BYTES) return TICKET_MALFORMED;
    if (b64_decode(B64_URL, text, len, b, sizeof(b)) != TICKET_BIN_BYTES) return TICKET_MALFORMED;
    if (b[0] >> 4 != TICKET_VERSION) return TICKET_MALFORMED;
    unpack(b, &t);
    const struct ticket_key *k = key_for(r, t.epoch);
    if (!k) return TICKET_UNKNOWN_EPOCH;
    mac_run(k->mac, b, SIGNED_BYTES, mac);
    if (CRYPTO_memcmp(mac, b + SIGNED_BYTES, TICKET_MAC_BYTES) != 0) return TICKET_BAD_SIGNATURE;
    if (out) *out = t;
    if (t.kind != kind) return TICKET_WRONG_KIND;
    if (t.issued_unix_s > now_unix_s + r->skew_s) return TICKET_NOT_YET_VALID;
    if (now_unix_s >= t.expires_unix_s) return TICKET_EXPIRED;
    if (t.space != space) return TICKET_WRONG_SPACE;
    if (prefix_tag(k, p) != t.prefix_tag) return TICKET_WRONG_PREFIX;
    return TICKET_OK;
}
