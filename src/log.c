/* log: stderr lines "podium: LEVEL message". Errors never allocate. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>

enum log_level log_threshold = LOG_INFO;
static char tag_buf[40];

void log_set_tag(const char *tag)
{
    snprintf(tag_buf, sizeof(tag_buf), "[%s]", tag);
}

void log_msg(enum log_level level, const char *fmt, ...)
{
    static const char *names[] = {"debug", "info", "warn", "error"};
    char line[1024];
    va_list ap;
    if (level < log_threshold) return;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    /* One write per line so lines from threads do not interleave. */
    fprintf(stderr, "podium%s: %s: %s\n", tag_buf, names[level], line);
}
