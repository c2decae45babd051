/* ring: bounded window of refcounted chunks. */
#include "ring.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>

uint64_t chunk_live, chunk_live_bytes;

struct chunk *chunk_new(uint32_t len)
{
    struct chunk *c = malloc(sizeof(*c) + len);
    if (!c) return NULL;
    c->refs = 1;
    c->len = len;
    c->seq = 0;
    c->granule = 0;
    c->born_us = 0;
    chunk_live++;
    chunk_live_bytes += len;
    return c;
}

void chunk_unref(struct chunk *c)
{
    assert(c->refs > 0);
    if (--c->refs) return;
    chunk_live--;
    chunk_live_bytes -= c->len;
    free(c);
}

int ring_init(struct ring *r, uint32_t cap_chunks, uint64_t bytes_max)
{
    uint32_t cap = 2;
    while (cap < cap_chunks) cap <<= 1;
    r->slots = calloc(cap, sizeof(*r->slots));
    if (!r->slots) return -ENOMEM;
    r->cap = cap;
    r->tail = r->head = 0;
    r->bytes = 0;
    r->bytes_max = bytes_max;
    return 0;
}

static void evict_one(struct ring *r)
{
    struct chunk **slot = &r->slots[r->tail & (r->cap - 1)];
    r->bytes -= (*slot)->len;
    chunk_unref(*slot);
    *slot = NULL;
    r->tail++;
}

void ring_destroy(struct ring *r)
{
    while (r->tail < r->head) evict_one(r);
    free(r->slots);
    r->slots = NULL;
}

void ring_reset_seq(struct ring *r, uint64_t seq)
{
    assert(r->tail == r->head);
    r->tail = r->head = seq;
}

void ring_restart(struct ring *r, uint64_t seq)
{
    while (ring_len(r)) evict_one(r);
    r->tail = r->head = seq;
}

unsigned ring_push(struct ring *r, struct chunk *c)
{
    unsigned evicted = 0;
    c->seq = r->head;
    /* Make room first: the slot for head aliases the tail when full. */
    while (ring_len(r) >= r->cap) {
        evict_one(r);
        evicted++;
    }
    r->slots[r->head & (r->cap - 1)] = c;
    r->head++;
    r->bytes += c->len;
    /* Always keep the newest chunk, whatever its size. */
    while (r->bytes > r->bytes_max && ring_len(r) > 1) {
        evict_one(r);
        evicted++;
    }
    return evicted;
}

uint64_t ring_seq_back(const struct ring *r, uint64_t samples)
{
    if (r->head == r->tail) return r->head;
    uint64_t newest = r->slots[(r->head - 1) & (r->cap - 1)]->granule;
    uint64_t seq = r->head - 1;
    /* Walk back while the span from seq's start to the head is too short.
     * A chunk's start time is its predecessor's granule. */
    while (seq > r->tail) {
        uint64_t start = r->slots[(seq - 1) & (r->cap - 1)]->granule;
        if (newest - start >= samples) break;
        seq--;
    }
    return seq;
}
