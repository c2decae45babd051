/* log: one line per event on stderr, with a level and wall-clock time. */
#ifndef PODIUM_LOG_H
#define PODIUM_LOG_H

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

extern enum log_level log_threshold;

/* log_set_tag: names this process in every line ("podium[worker 1]: ...").
 * <tag> must outlive the process's logging (a static buffer). */
void log_set_tag(const char *tag);

void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)

#endif
