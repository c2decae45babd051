/* metrics: server-wide counters and the Prometheus text rendering.
 * What each metric counts is written down in docs/operations.md. */
#ifndef PODIUM_METRICS_H
#define PODIUM_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "timeline.h"

/* Why a connection or request was refused; one label value each. */
enum reject_reason {
    REJ_BAD_REQUEST,
    REJ_METHOD,
    REJ_HEADER_TOO_LARGE,
    REJ_URI_TOO_LONG,
    REJ_NOT_FOUND,
    REJ_UNAUTHORIZED,
    REJ_MOUNT_BUSY,
    REJ_UNSUPPORTED_MEDIA,
    REJ_LISTENER_CAP,
    REJ_MOUNT_CAP,
    REJ_HEADER_TIMEOUT,
    REJ_CONNECTION_CAP,
    REJ_OUT_OF_MEMORY,
    REJ_HANDOFF,
    REJ_BODY_TOO_LARGE,
    REJ__COUNT
};

const char *reject_reason_name(enum reject_reason r);

/* The flush lag histogram's upper bounds, in ms (a pass is counted in the
 * first bucket that holds it; above the last, only in flush_passes). */
#define FLUSH_LAG_BUCKETS 6
extern const uint32_t flush_lag_bucket_ms[FLUSH_LAG_BUCKETS];

/* Every field is a uint64_t: workers' reports are summed field by field. */
struct metrics {
    uint64_t accepts;          /* TCP connections accepted */
    uint64_t accept_pauses;    /* accept stopped for lack of fds or the connection cap */
    uint64_t connections;      /* open now (gauge) */
    uint64_t listeners;        /* listening now (gauge) */
    uint64_t listener_joins;   /* listeners that got a 200 and their first bytes queued */
    uint64_t listener_leaves;  /* listeners that went away (closed by peer, error) */
    uint64_t bytes_sent;       /* body and header bytes written to listeners */
    uint64_t writes;           /* send and sendmsg calls to listeners */
    uint64_t flush_passes;     /* flush passes that wrote to a listener */
    uint64_t flush_lag_ms;     /* their lags summed: due time to the last write */
    uint64_t flush_lag[FLUSH_LAG_BUCKETS]; /* passes per lag bucket (not cumulative) */
    uint64_t slow_skips;       /* slow listeners moved ahead to a page boundary */
    uint64_t slow_drops;       /* slow listeners disconnected */
    uint64_t sources;          /* connected now (gauge) */
    uint64_t source_connects;  /* sources accepted (auth ok, mount free) */
    uint64_t source_timeouts;  /* sources closed for silence */
    uint64_t source_bytes;     /* bytes read from sources */
    uint64_t source_bad_packets; /* Opus packets dropped as malformed */
    uint64_t pages;            /* Ogg pages published */
    uint64_t grace_closes;     /* listeners closed when a mount's grace period ran out */
    uint64_t junk_from_listeners; /* listeners closed for sending data */
    uint64_t handoffs;         /* worker: connections handed to the origin */
    uint64_t api_requests;     /* requests under /api */
    uint64_t api_errors;       /* of which answered with a JSON error */
    uint64_t spaces_started;   /* spaces that went live */
    uint64_t stage_joins;      /* stage WebSockets accepted */
    uint64_t stage_refused;    /* stage joins refused: the stage was full */
    uint64_t stage_audio_drops; /* speaker packets dropped (mix queue full, oversize) */
    uint64_t stage_out_drops;  /* mix-minus packets dropped (peer's output full) */
    uint64_t stage_bad_messages; /* malformed or refused stage messages */
    uint64_t recording_errors; /* recording writes or closes that failed */
    uint64_t rtp_packets;      /* RTP datagrams that parsed */
    uint64_t rtp_bad;          /* datagrams that were not RTP */
    uint64_t rtp_unexpected;   /* RTP from an address no space expects */
    uint64_t rejects[REJ__COUNT];
    /* the gate (gate.c, gatejoin.c); reasons and outcomes as in timeline.h */
    uint64_t gate_requests;                  /* requests the gate looked at */
    uint64_t gate_glitches;                  /* malformed input, in events */
    uint64_t gate_joins[TIMELINE_OUTCOMES];  /* join answers by outcome */
    uint64_t gate_rejects[TIMELINE_REASONS]; /* refusals by reason */
    uint64_t gate_tickets_ok;                /* stream requests with a valid ticket */
    uint64_t gate_puzzles_issued;            /* puzzles handed out */
    uint64_t gate_puzzles_solved;            /* solutions accepted */
    uint64_t gate_proxied;                   /* connections whose client a trusted proxy named */
};



struct server;

/* metrics_flush_lag: one flush pass that wrote to a listener finished
 * <lag_ms> after it was due. */
void metrics_flush_lag(struct metrics *m, uint64_t lag_ms);

/* metrics_render: the Prometheus text exposition of <srv> into a malloc'd
 * buffer. 0 or -ENOMEM. */
int metrics_render(const struct server *srv, char **out, size_t *len);
#endif
