/* gatestatus: GET /api/status (is the pressure now a crowd or an attack,
 * with the evidence) and GET /api/status/timeline?from=&to= (the gate's
 * per-second timeline as JSON). Origin (and single process) only: workers
 * hand /api/ over. Shapes in docs/protocol.md ("Join API"). */
#ifndef PODIUM_GATESTATUS_H
#define PODIUM_GATESTATUS_H

#include <stdbool.h>

struct conn;
struct http_request;

#define GATESTATUS_WINDOW_S_DEFAULT 60    /* /api/status looks this far back */
#define GATESTATUS_WINDOW_S_MAX 3600      /* ... at most */
#define GATESTATUS_TIMELINE_S_DEFAULT 300 /* /api/status/timeline without from */
#define GATESTATUS_TIMELINE_S_MAX 3600    /* seconds per export: 2 KiB each at worst */

/* gatestatus_route: answers <req> if it is one of the two; false otherwise. */
bool gatestatus_route(struct conn *c, const struct http_request *req);

#endif
