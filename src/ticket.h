/* ticket: compact HMAC-SHA256-signed tokens that any node verifies alone.
 *
 * One binary layout for every kind, 48 bytes, sent as 64 base64url
 * characters (no padding, URL- and header-safe):
 *
 *   off len  field
 *    0   1   version (high nibble, 1) | kind (low nibble)
 *    1   1   aux: the puzzle's difficulty in bits; 0 for other kinds
 *    2   2   key epoch, low 16 bits                         (big-endian)
 *    4   4   space id
 *    8   4   issued at, Unix seconds
 *   12   4   expires at, Unix seconds (valid while now < expires)
 *   16   8   number: admission id, deli number, pre-queue slot, puzzle nonce
 *   24   4   prefix tag: HMAC(tag key, client prefix), first 4 bytes
 *   28  20   MAC: HMAC-SHA256(mac key, bytes 0..27), first 20 bytes (160 bits)
 *
 * The prefix is carried as a keyed tag, not in clear: a ticket in a shared
 * URL does not reveal the holder's network, yet a verifier tells "wrong
 * prefix" from "forged" (the MAC covers the tag). The kind is inside the MAC,
 * so a puzzle or queue ticket is never accepted where an admission ticket is
 * required.
 *
 * Keys: every node derives the same per-epoch keys from one shared master
 * secret, epoch = floor(unix_s / rotate_s). The ring holds the current and
 * the previous epoch; rotate_s >= ttl_max_s guarantees that a ticket signed
 * at the very end of an epoch stays verifiable for its whole life. Clocks are
 * wall-clock Unix seconds (tickets cross nodes, so a shared time base is
 * needed), passed in; skew_s tolerates nodes slightly ahead of each other.
 *
 * Replay. A ticket is bound to a space, a client prefix, a kind and an
 * expiry. That stops a ticket lifted from a log, a Referer or another network
 * from being used elsewhere, for another space, as another kind, or after it
 * expires. It does NOT stop: reuse from the same /24 or /48 until expiry
 * (a household or a carrier NAT shares it by design), several concurrent
 * uses of one admission ticket, or a queue ticket polled by many clients of
 * one prefix. Those are bounded by other layers: per-prefix connection caps
 * and ticket buckets (iptable), the deli's one-redemption-per-number bitmap
 * (admit), the puzzle replay set (pow), and short expiries.
 *
 * Verification order, cheapest first: length and alphabet, version, epoch
 * (no MAC for an unknown epoch), MAC (constant-time compare), then the
 * claims: kind, clock, space, prefix.
 */
#ifndef PODIUM_TICKET_H
#define PODIUM_TICKET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "prefix.h"

#define TICKET_BIN_BYTES 48
#define TICKET_TEXT_BYTES 64 /* without the NUL */
#define TICKET_MAC_BYTES 20
#define TICKET_KEY_BYTES 32
#define TICKET_MASTER_BYTES_MIN 16
#define TICKET_MASTER_BYTES_MAX 64
#define TICKET_VERSION 1

enum ticket_kind {
    TICKET_ADMISSION = 1, /* may listen: 200 from join, ?ticket= on stream URLs */
    TICKET_QUEUE = 2,     /* a deli number: retry the join with it */
    TICKET_PREQUEUE = 3,  /* arrived before the start: a pre-queue slot */
    TICKET_PUZZLE = 4,    /* a proof-of-work challenge (pow.h) */
};

enum ticket_status {
    TICKET_OK = 0,
    TICKET_MALFORMED,     /* wrong length, alphabet or version */
    TICKET_UNKNOWN_EPOCH, /* signed with a key we no longer (or never) had */
    TICKET_BAD_SIGNATURE, /* forged or altered */
    TICKET_WRONG_KIND,    /* a genuine ticket of another kind */
    TICKET_NOT_YET_VALID, /* issued in the future beyond skew_s */
    TICKET_EXPIRED,
    TICKET_WRONG_SPACE,
    TICKET_WRONG_PREFIX, /* genuine, but presented from another network */
};

struct ticket {
    enum ticket_kind kind;
    uint8_t aux;
    uint16_t epoch;
    uint32_t space;
    uint32_t issued_unix_s;
    uint32_t expires_unix_s;
    uint64_t number;
    uint32_t prefix_tag;
};

/* A key of one epoch, as two keyed HMAC contexts (re-initialised per use
 * with the same key: about 0.3 us instead of 3 us for a one-shot HMAC()). */
struct ticket_key {
    uint32_t epoch;
    bool set;
    struct evp_mac_ctx_st *mac; /* EVP_MAC_CTX, HMAC-SHA256 under the MAC key */
    struct evp_mac_ctx_st *tag; /* under the prefix-tag key */
};

/* A ring is used by one thread at a time (the MAC contexts are scratch
 * state): give each worker its own, initialised from the same master. */
struct ticket_ring {
    uint8_t master[TICKET_MASTER_BYTES_MAX];
    size_t master_len;
    uint32_t rotate_s;  /* epoch length */
    uint32_t ttl_max_s; /* no ticket lives longer (<= rotate_s) */
    uint32_t skew_s;    /* tolerated clock lead of the issuing node */
    struct evp_mac_st *hmac;
    struct ticket_key cur, prev;
};

/* ticket_ring_init: derives the keys of the epoch of <now_unix_s> and the one
 * before. <master> is the secret shared by all nodes, 16..64 bytes. Returns
 * 0, -EINVAL (master length, rotate_s == 0, ttl_max_s == 0 or > rotate_s),
 * or -ENOMEM. On success, release with ticket_ring_free(). */
int ticket_ring_init(struct ticket_ring *r, const uint8_t *master, size_t master_len,
                     uint32_t rotate_s, uint32_t ttl_max_s, uint32_t skew_s, uint64_t now_unix_s);

/* ticket_ring_tick: moves to the epoch of <now_unix_s> if it changed (the
 * current key becomes the previous one). Returns 1 when it rotated, 0 when
 * the epoch is unchanged, -ENOMEM (the ring keeps its old keys). */
int ticket_ring_tick(struct ticket_ring *r, uint64_t now_unix_s);

/* ticket_ring_free: frees the contexts and zeroes the secrets. */
void ticket_ring_free(struct ticket_ring *r);

/* ticket_issue: signs <t> for the client prefix <p>. The caller sets kind,
 * aux, space and number; issue sets epoch (current), issued (now), expires
 * (now + ttl_s) and the prefix tag. Writes TICKET_TEXT_BYTES characters and
 * a NUL. Returns TICKET_TEXT_BYTES, -ENOSPC if out_len <= TICKET_TEXT_BYTES,
 * -EINVAL if ttl_s is 0 or above ttl_max_s or the times do not fit 32 bits. */
int ticket_issue(struct ticket_ring *r, struct ticket *t, const struct prefix *p,
                 uint64_t now_unix_s, uint32_t ttl_s, char *out, size_t out_len);

/* ticket_verify: checks the ticket text[0..len) for use as <kind> in <space>
 * by a client of prefix <p> at <now_unix_s>. Returns TICKET_OK and fills
 * <out> (may be NULL), or the first reason it fails (see the order above);
 * <out> is filled for every reason after TICKET_BAD_SIGNATURE. */
enum ticket_status ticket_verify(struct ticket_ring *r, const char *text, size_t len,
                                 enum ticket_kind kind, uint32_t space, const struct prefix *p,
                                 uint64_t now_unix_s, struct ticket *out);

/* ticket_status_name: a metric label ("ok", "malformed", "bad_signature"...). */
const char *ticket_status_name(enum ticket_status s);

#endif
