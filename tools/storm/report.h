/* report: the human side of a result — the final text summary and the
 * self-contained HTML report (inline SVG charts, no script, no network).
 */
#ifndef PODIUM_REPORT_H
#define PODIUM_REPORT_H

#include <stdio.h>

#include "result.h"

void report_summary(const struct storm_result *r, FILE *f);
/* 0 or -errno. */
int report_html(const struct storm_result *r, FILE *f);

#endif
