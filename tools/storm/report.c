/* report: text summary and self-contained HTML (see report.h). */
#include "report.h"

#include <errno.h>
#include <string.h>

static double pct_ms(const struct hist *h, uint32_t ppm)
{
    return hist_quantile(h, ppm) / 1000.0;
}

static void print_map(FILE *f, const struct res_map *m)
{
    for (uint32_t i = 0; i < m->len; i++)
        fprintf(f, "%s%s=%llu", i ? ", " : "", m->e[i].key, (unsigned long long)m->e[i].n);
}

void report_summary(const struct storm_result *r, FILE *f)
{
    fprintf(f, "storm: %llu listeners -> %s%s, arrival %s, %.0f s, %llu process(es)\n",
            (unsigned long long)r->listeners_target, r->target, r->mount, r->arrival,
            r->duration_ms / 1000.0, (unsigned long long)r->procs);
    fprintf(f, "  joined %llu, failed %llu", (unsigned long long)r->joined,
            (unsigned long long)r->failed);
    if (r->by_reason.len) {
        fputs(" (", f);
        print_map(f, &r->by_reason);
        fputs(")", f);
    }
    fputc('\n', f);
    fprintf(f, "  ttfa ms: p50 %.1f  p90 %.1f  p99 %.1f  p99.9 %.1f  max %.1f  (from intended arrival)\n",
            pct_ms(&r->ttfa, 500000), pct_ms(&r->ttfa, 900000), pct_ms(&r->ttfa, 990000),
            pct_ms(&r->ttfa, 999000), r->ttfa.max / 1000.0);
    if (r->listeners_target)
        fprintf(f, "  audio within 1 s: %.1f%%, 5 s: %.1f%%, 60 s: %.1f%% of all listeners\n",
                100.0 * r->within[0] / r->listeners_target, 100.0 * r->within[1] / r->listeners_target,
                100.0 * r->within[2] / r->listeners_target);
    fprintf(f, "  schedule lag ms: p99 %.1f  max %.1f\n", pct_ms(&r->lag, 990000), r->lag.max / 1000.0);
    fprintf(f, "  issue lag ms (connect() call - intended arrival): p50 %.1f  p99 %.1f  max %.1f  "
            "(%llu sockets prepared in %llu ms",
            pct_ms(&r->issue, 500000), pct_ms(&r->issue, 990000), r->issue.max / 1000.0,
            (unsigned long long)r->armed, (unsigned long long)r->arm_ms);
    if (r->arm_failed) fprintf(f, ", %llu could not be", (unsigned long long)r->arm_failed);
    if (r->port_fallback)
        fprintf(f, ", %llu without their own port", (unsigned long long)r->port_fallback);
    fputs(")\n", f);
    fprintf(f, "  stalls %llu on %llu listeners (%.1f s empty)\n", (unsigned long long)r->stalls,
            (unsigned long long)r->stalled_listeners, r->stall_ms / 1000.0);
    fprintf(f, "  integrity errors %llu: crc %llu, sequence %llu, granule %llu, capture %llu\n",
            (unsigned long long)res_integrity(r), (unsigned long long)r->err_crc,
            (unsigned long long)r->err_seq, (unsigned long long)r->err_granule,
            (unsigned long long)r->err_capture);
    fprintf(f, "  audio received %.1f s over %.1f s listened (%.1f%%), %.1f MB\n", r->audio_ms / 1000.0,
            r->listen_ms / 1000.0, r->listen_ms ? 100.0 * r->audio_ms / r->listen_ms : 0.0,
            r->bytes / 1e6);
    fputs("  ended: ", f);
    print_map(f, &r->ended);
    fputc('\n', f);
    if (r->attack.len) {
        fputs("  attack: ", f);
        print_map(f, &r->attack);
        fputc('\n', f);
    }
    if (r->rejoin.count)
        fprintf(f, "  reconnect storm rejoin ttfa ms: p50 %.1f p99 %.1f max %.1f\n",
                pct_ms(&r->rejoin, 500000), pct_ms(&r->rejoin, 990000), r->rejoin.max / 1000.0);
    fprintf(f, "  tool cpu %.2f s = %.1f us per listener-second\n", r->cpu_us / 1e6,
            r->listen_ms ? r->cpu_us * 1000.0 / r->listen_ms : 0.0);
    char warn[RES_WARN_MAX][200];
    int nw = res_warnings(r, warn, RES_WARN_MAX);
    for (int i = 0; i < nw; i++)
        fprintf(f, "  warning: %s: the figures may measure the tool, not the server\n", warn[i]);
}

/* ---- HTML */

static void html_text(FILE *f, const char *s)
{
    for (; *s; s++) {
        if (*s == '<') fputs("&lt;", f);
        else if (*s == '>') fputs("&gt;", f);
        else if (*s == '&') fputs("&amp;", f);
        else if (*s == '"') fputs("&quot;", f);
        else fputc(*s, f);
    }
}

#define W 720
#define H 220
#define PAD 40

/* A bar or line chart of <n> values; <line> draws a polyline. */
static void chart(FILE *f, const char *title, const double *v, uint32_t n, bool line,
                  const char *color, const char *xlabel)
{
    double mx = 0;
    for (uint32_t i = 0; i < n; i++)
        if (v[i] > mx) mx = v[i];
    if (mx <= 0) mx = 1;
    fprintf(f, "<h3>");
    html_text(f, title);
    fprintf(f, "</h3>\n<svg width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" role=\"img\">\n", W, H, W, H);
    fprintf(f, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#888\"/>", PAD, H - PAD, W - 10, H - PAD);
    fprintf(f, "<line x1=\"%d\" y1=\"10\" x2=\"%d\" y2=\"%d\" stroke=\"#888\"/>", PAD, PAD, H - PAD);
    fprintf(f, "<text x=\"2\" y=\"20\" font-size=\"11\">%.0f</text>", mx);
    fprintf(f, "<text x=\"%d\" y=\"%d\" font-size=\"11\">", W / 2, H - 8);
    html_text(f, xlabel);
    fprintf(f, "</text>\n");
    double pw = (double)(W - PAD - 10), ph = (double)(H - PAD - 10);
    if (n == 0) {
        fputs("<text x=\"60\" y=\"60\">no data</text></svg>\n", f);
        return;
    }
    double bw = pw / n;
    if (line) {
        fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" points=\"", color);
        for (uint32_t i = 0; i < n; i++)
            fprintf(f, "%.1f,%.1f ", PAD + bw * (i + 0.5), H - PAD - v[i] / mx * ph);
        fputs("\"/>\n", f);
    } else {
        for (uint32_t i = 0; i < n; i++) {
            if (v[i] <= 0) continue;
            double h = v[i] / mx * ph;
            fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\"/>",
                    PAD + bw * i, H - PAD - h, bw > 2 ? bw - 1 : bw, h, color);
        }
        fputc('\n', f);
    }
    fprintf(f, "<text x=\"%d\" y=\"%d\" font-size=\"11\">0</text>", PAD, H - PAD + 14);
    fprintf(f, "<text x=\"%d\" y=\"%d\" font-size=\"11\">%u</text></svg>\n", W - 40, H - PAD + 14, n);
}

static void kv_row(FILE *f, const char *k, const char *fmt, double v)
{
    fprintf(f, "<tr><th>%s</th><td>", k);
    fprintf(f, fmt, v);
    fputs("</td></tr>\n", f);
}

int report_html(const struct storm_result *r, FILE *f)
{
    static double v[RES_TIMELINE_MAX];
    char fails[SLO_MAX][160];
    int nf = res_slo_check(r, fails, SLO_MAX);
    fputs("<!doctype html><html><head><meta charset=\"utf-8\"><title>podium storm report</title>\n"
          "<style>body{font:14px sans-serif;margin:2em;max-width:800px}table{border-collapse:"
          "collapse}th,td{padding:2px 10px;text-align:left;border-bottom:1px solid #ddd}"
          ".pass{color:#070}.fail{color:#b00}</style></head><body>\n<h1>podium storm</h1>\n<p>",
          f);
    html_text(f, r->target);
    html_text(f, r->mount);
    fprintf(f, " &mdash; %llu listeners, arrival ", (unsigned long long)r->listeners_target);
    html_text(f, r->arrival);
    fprintf(f, ", %.0f s, %llu process(es)</p>\n", r->duration_ms / 1000.0, (unsigned long long)r->procs);
    if (r->slo_spec[0]) {
        fprintf(f, "<h2 class=\"%s\">SLO %s: ", nf ? "fail" : "pass", nf ? "FAILED" : "held");
        html_text(f, r->slo_spec);
        fputs("</h2><ul>", f);
        for (int i = 0; i < nf && i < SLO_MAX; i++) {
            fputs("<li class=\"fail\">", f);
            html_text(f, fails[i]);
            fputs("</li>", f);
        }
        fputs("</ul>\n", f);
    }
    char warn[RES_WARN_MAX][200];
    int nw = res_warnings(r, warn, RES_WARN_MAX);
    for (int i = 0; i < nw; i++) {
        fputs("<p class=\"fail\">warning: ", f);
        html_text(f, warn[i]);
        fputs("</p>\n", f);
    }
    fputs("<table>\n", f);
    kv_row(f, "joined", "%.0f", (double)r->joined);
    kv_row(f, "failed", "%.0f", (double)r->failed);
    kv_row(f, "TTFA p50 (ms)", "%.1f", pct_ms(&r->ttfa, 500000));
    kv_row(f, "TTFA p99 (ms)", "%.1f", pct_ms(&r->ttfa, 990000));
    kv_row(f, "TTFA max (ms)", "%.1f", r->ttfa.max / 1000.0);
    kv_row(f, "stalls", "%.0f", (double)r->stalls);
    kv_row(f, "listeners stalled", "%.0f", (double)r->stalled_listeners);
    kv_row(f, "integrity errors", "%.0f", (double)res_integrity(r));
    kv_row(f, "connect issue lag p99 (ms)", "%.1f", pct_ms(&r->issue, 990000));
    kv_row(f, "tool CPU (us per listener-second)", "%.1f",
           r->listen_ms ? r->cpu_us * 1000.0 / r->listen_ms : 0.0);
    fputs("</table>\n", f);

    uint32_t n = r->ticks;
    for (uint32_t i = 0; i < n; i++) v[i] = r->tl[i].listeners;
    chart(f, "Listeners playing, per second", v, n, true, "#2a6", "seconds");
    for (uint32_t i = 0; i < n; i++) v[i] = r->tl[i].joins;
    chart(f, "Joins (first audio) per second", v, n, false, "#26a", "seconds");
    for (uint32_t i = 0; i < n; i++) v[i] = r->tl[i].stalls;
    chart(f, "Stalls per second", v, n, false, "#c60", "seconds");
    for (uint32_t i = 0; i < n; i++) v[i] = (double)r->tl[i].errors + r->tl[i].failures;
    chart(f, "Integrity errors and failed joins per second", v, n, false, "#b00", "seconds");

    /* TTFA distribution: the histogram's buckets from the first to the last
     * non-empty one (log-linear x axis). */
    uint32_t lo = HIST_BUCKETS, hi = 0;
    for (uint32_t i = 0; i < HIST_BUCKETS; i++)
        if (r->ttfa.counts[i]) {
            if (i < lo) lo = i;
            hi = i;
        }
    uint32_t m = 0;
    if (lo <= hi)
        for (uint32_t i = lo; i <= hi && m < RES_TIMELINE_MAX; i++) v[m++] = r->ttfa.counts[i];
    char xl[96];
    snprintf(xl, sizeof(xl), "TTFA %.1f ms .. %.1f ms (log-linear buckets)",
             lo <= hi ? hist_bucket_low(lo) / 1000.0 : 0.0, lo <= hi ? hist_bucket_high(hi) / 1000.0 : 0.0);
    chart(f, "TTFA distribution (listeners per bucket)", v, m, false, "#63a", xl);

    /* errors by reason */
    m = 0;
    const char *names[RES_MAP_MAX + 4];
    for (uint32_t i = 0; i < r->by_reason.len; i++) {
        names[m] = r->by_reason.e[i].key;
        v[m++] = (double)r->by_reason.e[i].n;
    }
    const char *ik[4] = {"crc", "sequence", "granule", "capture"};
    uint64_t iv[4] = {r->err_crc, r->err_seq, r->err_granule, r->err_capture};
    for (int i = 0; i < 4; i++) {
        names[m] = ik[i];
        v[m++] = (double)iv[i];
    }
    double mx = 1;
    for (uint32_t i = 0; i < m; i++)
        if (v[i] > mx) mx = v[i];
    fprintf(f, "<h3>Errors by reason</h3>\n<svg width=\"%d\" height=\"%u\" role=\"img\">\n", W, 20 * m + 10);
    for (uint32_t i = 0; i < m; i++) {
        fprintf(f, "<text x=\"0\" y=\"%u\" font-size=\"12\">", 20 * i + 15);
        html_text(f, names[i]);
        fprintf(f, "</text><rect x=\"220\" y=\"%u\" width=\"%.1f\" height=\"14\" fill=\"#b00\"/>"
                "<text x=\"%.1f\" y=\"%u\" font-size=\"12\">%.0f</text>\n",
                20 * i + 3, v[i] / mx * 420, 225 + v[i] / mx * 420, 20 * i + 15, v[i]);
    }
    fputs("</svg>\n", f);
    if (r->attack.len) {
        fputs("<h3>Attack</h3><table>", f);
        for (uint32_t i = 0; i < r->attack.len; i++) {
            fputs("<tr><th>", f);
            html_text(f, r->attack.e[i].key);
            fprintf(f, "</th><td>%llu</td></tr>", (unsigned long long)r->attack.e[i].n);
        }
        fputs("</table>\n", f);
    }
    fputs("</body></html>\n", f);
    return ferror(f) ? -EIO : 0;
}
