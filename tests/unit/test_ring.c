/* test_ring: chunk refcounts, the bounded window, sequence numbers, the
 * burst start by granule, and a listener cursor holding a chunk past its
 * eviction. */
#include "ring.h"

#include "t.h"

/* A chunk of <len> bytes filled with <fill>, with end time <granule>. */
static struct chunk *mk(uint32_t len, uint8_t fill, uint64_t granule)
{
    struct chunk *c = chunk_new(len);
    if (!c) return NULL;
    memset(c->data, fill, len);
    c->granule = granule;
    return c;
}

static void test_chunk_refs(void)
{
    uint64_t live = chunk_live, bytes = chunk_live_bytes;
    struct chunk *c = chunk_new(100);
    CHECK(c != NULL);
    if (!c) return;
    CHECK_EQ(c->refs, 1);
    CHECK_EQ(c->len, 100);
    CHECK_EQ(chunk_live, live + 1);
    CHECK_EQ(chunk_live_bytes, bytes + 100);
    CHECK(chunk_ref(c) == c);
    CHECK_EQ(c->refs, 2);
    chunk_unref(c);
    CHECK_EQ(c->refs, 1);
    CHECK_EQ(chunk_live, live + 1); /* still held */
    chunk_unref(c);
    CHECK_EQ(chunk_live, live);
    CHECK_EQ(chunk_live_bytes, bytes);

    struct chunk *z = chunk_new(0); /* an empty chunk is legal */
    CHECK(z != NULL);
    if (z) chunk_unref(z);
    CHECK_EQ(chunk_live, live);
}

static void test_init_rounds_cap(void)
{
    struct ring r;
    CHECK_EQ(ring_init(&r, 0, 1000), 0);
    CHECK_EQ(r.cap, 2);
    ring_destroy(&r);
    CHECK_EQ(ring_init(&r, 5, 1000), 0);
    CHECK_EQ(r.cap, 8);
    ring_destroy(&r);
    CHECK_EQ(ring_init(&r, 8, 1000), 0);
    CHECK_EQ(r.cap, 8);
    CHECK_EQ(ring_len(&r), 0);
    CHECK(ring_get(&r, 0) == NULL);
    ring_destroy(&r);
    CHECK(r.slots == NULL);
}

static void test_push_get_evict_by_count(void)
{
    uint64_t live = chunk_live, bytes = chunk_live_bytes;
    struct ring r;
    CHECK_EQ(ring_init(&r, 4, 1u << 20), 0);
    struct chunk *c[10];
    for (unsigned i = 0; i < 4; i++) {
        c[i] = mk(10, (uint8_t)i, 0);
        CHECK_EQ(ring_push(&r, c[i]), 0);
        CHECK_EQ(c[i]->seq, i);
    }
    CHECK_EQ(ring_len(&r), 4);
    CHECK_EQ(r.bytes, 40);
    for (unsigned i = 0; i < 4; i++) CHECK(ring_get(&r, i) == c[i]);
    CHECK(ring_get(&r, 4) == NULL); /* not yet published */

    /* Full: each push evicts exactly the oldest. */
    for (unsigned i = 4; i < 10; i++) {
        c[i] = mk(10, (uint8_t)i, 0);
        CHECK_EQ(ring_push(&r, c[i]), 1);
        CHECK_EQ(c[i]->seq, i);
        CHECK_EQ(r.tail, i - 3);
        CHECK_EQ(r.head, i + 1);
        CHECK(ring_get(&r, i - 4) == NULL);
        CHECK(ring_get(&r, i) == c[i]);
    }
    CHECK_EQ(ring_len(&r), 4);
    CHECK_EQ(r.bytes, 40);
    for (unsigned i = 6; i < 10; i++) {
        struct chunk *g = ring_get(&r, i);
        CHECK(g != NULL);
        if (g) CHECK_EQ(g->data[0], i);
    }
    CHECK_EQ(chunk_live, live + 4); /* evicted chunks were freed */
    ring_destroy(&r);
    CHECK_EQ(chunk_live, live);
    CHECK_EQ(chunk_live_bytes, bytes);
}

static void test_evict_by_bytes(void)
{
    uint64_t live = chunk_live;
    struct ring r;
    CHECK_EQ(ring_init(&r, 64, 100), 0);
    for (unsigned i = 0; i < 5; i++) CHECK_EQ(ring_push(&r, mk(20, 0, 0)), 0);
    CHECK_EQ(r.bytes, 100); /* exactly at the limit: nothing goes */
    CHECK_EQ(ring_len(&r), 5);

    CHECK_EQ(ring_push(&r, mk(30, 0, 0)), 2); /* 130 -> 90 */
    CHECK_EQ(r.bytes, 90);
    CHECK_EQ(r.tail, 2);
    CHECK_EQ(r.head, 6);

    /* A chunk larger than the whole budget: everything else goes, it stays. */
    CHECK_EQ(ring_push(&r, mk(500, 7, 0)), 4);
    CHECK_EQ(ring_len(&r), 1);
    CHECK_EQ(r.bytes, 500);
    CHECK_EQ(r.tail, 6);
    struct chunk *g = ring_get(&r, 6);
    CHECK(g != NULL);
    if (g) CHECK_EQ(g->data[499], 7);

    /* And the next push evicts it (the newest is the only one kept). */
    CHECK_EQ(ring_push(&r, mk(10, 0, 0)), 1);
    CHECK_EQ(ring_len(&r), 1);
    CHECK_EQ(r.bytes, 10);
    CHECK_EQ(chunk_live, live + 1);
    ring_destroy(&r);
    CHECK_EQ(chunk_live, live);
}

static void test_reset_seq(void)
{
    struct ring r;
    CHECK_EQ(ring_init(&r, 4, 1u << 20), 0);
    ring_reset_seq(&r, 2); /* mount: seqs 0 and 1 are the header pages */
    CHECK_EQ(ring_len(&r), 0);
    struct chunk *a = mk(1, 0, 0), *b = mk(1, 0, 0);
    ring_push(&r, a);
    ring_push(&r, b);
    CHECK_EQ(a->seq, 2);
    CHECK_EQ(b->seq, 3);
    CHECK(ring_get(&r, 1) == NULL);
    CHECK(ring_get(&r, 2) == a);
    CHECK(ring_get(&r, 3) == b);

    /* Slot indexing past a power of two and near 2^32 (Ogg seq width). */
    ring_destroy(&r);
    CHECK_EQ(ring_init(&r, 4, 1u << 20), 0);
    uint64_t base = 0xfffffffeull;
    ring_reset_seq(&r, base);
    struct chunk *c[6];
    for (unsigned i = 0; i < 6; i++) {
        c[i] = mk(1, (uint8_t)i, 0);
        ring_push(&r, c[i]);
        CHECK_EQ(c[i]->seq, base + i);
    }
    CHECK_EQ(r.tail, base + 2);
    for (unsigned i = 2; i < 6; i++) CHECK(ring_get(&r, base + i) == c[i]);
    ring_destroy(&r);
}

/* Ten 100 ms pages (4800 samples each), granules 4800..48000. */
static void fill_pages(struct ring *r, unsigned n, uint64_t granule0)
{
    for (unsigned i = 0; i < n; i++) ring_push(r, mk(10, 0, granule0 + 4800ull * (i + 1)));
}

static void test_seq_back(void)
{
    struct ring r;
    CHECK_EQ(ring_init(&r, 16, 1u << 20), 0);
    ring_reset_seq(&r, 2);
    /* Empty ring: the head (nothing to send yet). */
    CHECK_EQ(ring_seq_back(&r, 48000), 2);

    fill_pages(&r, 10, 0); /* seqs 2..11, granules 4800..48000 */
    CHECK_EQ(r.head, 12);
    /* One page's worth: the newest page alone spans 4800. */
    CHECK_EQ(ring_seq_back(&r, 4800), 11);
    CHECK_EQ(ring_seq_back(&r, 1), 11);
    /* One sample more than a page needs two. */
    CHECK_EQ(ring_seq_back(&r, 4801), 10);
    CHECK_EQ(ring_seq_back(&r, 9600), 10);
    /* 500 ms: exactly five pages. */
    CHECK_EQ(ring_seq_back(&r, 24000), 7);
    CHECK_EQ(ring_seq_back(&r, 24001), 6);
    /* Nine pages have a known start (the tail's start is unknown). */
    CHECK_EQ(ring_seq_back(&r, 43200), 3);
    /* More than the window: clamped to the tail. */
    CHECK_EQ(ring_seq_back(&r, 43201), 2);
    CHECK_EQ(ring_seq_back(&r, 48000 * 100), 2);

    /* After eviction the clamp follows the tail. */
    fill_pages(&r, 10, 48000); /* seqs 12..21; cap 16 keeps 6..21 */
    CHECK_EQ(r.tail, 6);
    CHECK_EQ(ring_seq_back(&r, 48000 * 100), 6);
    CHECK_EQ(ring_seq_back(&r, 48000), 12); /* granule 96000 - 48000 = start of seq 12 */
    ring_destroy(&r);

    /* A single chunk: it is the answer whatever is asked. */
    CHECK_EQ(ring_init(&r, 4, 1u << 20), 0);
    fill_pages(&r, 1, 0);
    CHECK_EQ(ring_seq_back(&r, 0), 0);
    CHECK_EQ(ring_seq_back(&r, 1000000), 0);
    ring_destroy(&r);
}

/* A model of fanout's cursor (conn.hold/off/seq): a listener part-way
 * through chunk s holds a reference; the writer publishes on and the ring
 * evicts s; the listener can still finish s, and the last unref frees it. */
static void test_cursor_holds_evicted_chunk(void)
{
    uint64_t live = chunk_live, bytes = chunk_live_bytes;
    struct ring r;
    CHECK_EQ(ring_init(&r, 4, 1u << 20), 0);
    for (unsigned i = 0; i < 4; i++) ring_push(&r, mk(64, (uint8_t)(0xa0 + i), 0));

    /* Cursor: sent 10 bytes of seq 1, so holds it from offset 10. */
    struct chunk *hold = chunk_ref(ring_get(&r, 1));
    uint32_t off = 10;
    uint64_t next = 2;
    CHECK_EQ(hold->refs, 2);

    /* Writer runs ahead: seqs 0..5 evicted, window 6..9. */
    for (unsigned i = 4; i < 10; i++) ring_push(&r, mk(64, (uint8_t)(0xa0 + i), 0));
    CHECK_EQ(r.tail, 6);
    CHECK(ring_get(&r, 1) == NULL);
    CHECK_EQ(hold->refs, 1); /* the ring let go; the cursor did not */
    CHECK_EQ(chunk_live, live + 5);
    CHECK_EQ(chunk_live_bytes, bytes + 5 * 64);

    /* The rest of the page is intact. */
    int intact = 1;
    for (uint32_t i = off; i < hold->len; i++) intact &= hold->data[i] == 0xa1;
    CHECK(intact);
    CHECK_EQ(hold->seq, 1);

    /* Finishing the held chunk, the cursor's next seq is out of the window
     * and ring_get answers NULL: the caller must check the tail first
     * (fanout_flush does, also while a part-sent chunk is held; it once did
     * not, and dereferenced NULL in exactly this state). */
    CHECK(next < r.tail);
    CHECK(ring_get(&r, next) == NULL);
    chunk_unref(hold);
    CHECK_EQ(chunk_live, live + 4);
    ring_destroy(&r);
    CHECK_EQ(chunk_live, live);
    CHECK_EQ(chunk_live_bytes, bytes);
}

int main(void)
{
    T_RUN(test_chunk_refs);
    T_RUN(test_init_rounds_cap);
    T_RUN(test_push_get_evict_by_count);
    T_RUN(test_evict_by_bytes);
    T_RUN(test_reset_seq);
    T_RUN(test_seq_back);
    T_RUN(test_cursor_holds_evicted_chunk);
    T_DONE();
}
