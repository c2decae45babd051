/* attack: hostile traffic alongside the legitimate crowd, bounded in count
 * and time (everything closes when the run ends): slowloris (a request head
 * trickled one line a second, never finished), idle connections (connect,
 * send nothing), a flood of junk and forged requests at a fixed rate, and
 * slow readers (a real GET, then a few bytes read per second). The reconnect
 * storm lives in run.c (it drives the listeners themselves).
 *
 * Counters go to res->attack as "mode.counter": opened, connect_failed,
 * closed_by_server, answered, open_at_end; flood: sent, http_NNN, closed,
 * timeout, skipped_inflight_cap; slow_readers: bytes, dropped_by_server.
 */
#ifndef PODIUM_ATTACK_H
#define PODIUM_ATTACK_H

#include <stddef.h>
#include <stdint.h>

struct run;
struct attack;

#define ATTACK_FLOOD_INFLIGHT_MAX 2000  /* flood connections open at once, per worker */
#define ATTACK_FLOOD_TIMEOUT_MS 5000    /* a flood request unanswered this long is dropped */
#define ATTACK_TRICKLE_MS 1000          /* slowloris: one header line per connection per second */
#define ATTACK_SLOW_READ_BYTES 16       /* slow reader: bytes read per sweep (RUN_SWEEP_MS) */

struct attack *attack_new(struct run *r);
void attack_start(struct attack *a);
void attack_sweep(struct attack *a, uint64_t now_us);
/* attack_stop: closes everything still open and counts it. */
void attack_stop(struct attack *a, uint64_t now_us);
void attack_free(struct attack *a);

/* The flood's request <k> (cycling): junk and forged requests for <mount>.
 * Returns its length; the bytes are written to buf[0..cap). */
size_t attack_flood_request(unsigned k, const char *mount, char *buf, size_t cap);

#endif
