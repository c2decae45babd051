/* ring: published chunks of one stream, one writer, many cursors.
 *
 *            tail                                   head
 *             v                                      v
 *   slots: [ c7 | c8 | c9 | c10 | c11 | c12 | c13 |  -  ]   (seq % cap)
 *             ^         ^                  ^
 *           cursor    cursor             cursor      (listeners: seq + offset)
 *
 * A chunk is immutable once published and refcounted: the ring holds one
 * reference while the chunk is inside the window; a cursor that is part-way
 * through a chunk holds another so the chunk outlives its eviction and the
 * listener can finish the page it started. Cursors between chunks hold only a
 * sequence number. A cursor whose next sequence number fell below the tail
 * has fallen out of the window: it must skip or be dropped (see fanout).
 *
 * The window is bounded by chunk count (slots) and by bytes. Single-threaded:
 * the writer and the readers live on one loop.
 */
#ifndef PODIUM_RING_H
#define PODIUM_RING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct chunk {
    uint32_t refs;
    uint32_t len;     /* bytes in data[] */
    uint64_t seq;     /* position in the stream (Ogg page sequence number) */
    uint64_t granule; /* end time of the chunk, 48 kHz samples (incl. pre-skip) */
    uint64_t born_us; /* monotonic time of publication (origin timestamp) */
    uint8_t data[];
};

/* chunk_new: a chunk of <len> bytes with refs = 1, data uninitialised.
 * NULL when out of memory. */
struct chunk *chunk_new(uint32_t len);

static inline struct chunk *chunk_ref(struct chunk *c)
{
    c->refs++;
    return c;
}

void chunk_unref(struct chunk *c);

/* Live chunks and their bytes, all rings together (for /metrics). */
extern uint64_t chunk_live, chunk_live_bytes;

struct ring {
    struct chunk **slots;
    uint32_t cap;   /* power of two */
    uint64_t tail;  /* oldest seq held (== head when empty) */
    uint64_t head;  /* next seq to publish */
    uint64_t bytes; /* bytes of chunks held */
    uint64_t bytes_max;
};

/* ring_init: <cap_chunks> is rounded up to a power of two. 0 or -ENOMEM. */
int ring_init(struct ring *r, uint32_t cap_chunks, uint64_t bytes_max);
void ring_destroy(struct ring *r);

/* ring_reset_seq: on an empty ring, sets the next sequence number. */
void ring_reset_seq(struct ring *r, uint64_t seq);

/* ring_restart: drops every chunk and continues at <seq>. */
void ring_restart(struct ring *r, uint64_t seq);

/* ring_push: publishes <c> (the ring takes over the caller's reference) as
 * seq ring->head, after setting c->seq, then evicts from the tail until the
 * window fits. Returns the number of chunks evicted. */
unsigned ring_push(struct ring *r, struct chunk *c);

/* ring_get: the chunk with <seq>, or NULL when it is not in the window
 * (evicted, or not yet published). No reference is taken. */
static inline struct chunk *ring_get(const struct ring *r, uint64_t seq)
{
    if (seq < r->tail || seq >= r->head) return NULL;
    return r->slots[seq & (r->cap - 1)];
}

static inline uint64_t ring_len(const struct ring *r)
{
    return r->head - r->tail;
}

/* ring_seq_back: the oldest seq whose chunks from there to the head span at
 * least <samples> of audio (by granule), clamped to the tail. A join starts
 * here so players can fill their buffer at once. */
uint64_t ring_seq_back(const struct ring *r, uint64_t samples);

#endif
