#ifndef KEFU_LOG_H
#define KEFU_LOG_H

#include <stdarg.h>
#include <stdint.h>

#define LOG_PRI_ERR 3
#define LOG_PRI_WARNING 4
#define LOG_PRI_NOTICE 5
#define LOG_PRI_INFO 6
#define LOG_PRI_DEBUG 7

/*
 * A log line that repeats (a reconnect, a full disk) is written at growing
 * intervals: the first time, then after 1, 2, 4 ... up to 300 seconds, with
 * the count of the lines held back.
 */
struct log_throttle {
	int64_t next_ms;
	int64_t gap_ms;
	unsigned suppressed;
};

void log_init(int level, int syslog_prefix);
void log_set_level(int level);
int log_level(void);
int log_level_parse(const char *name);
const char *log_level_name(int level);
/* Lines go to fn instead of stderr while set (tests). */
void log_set_hook(void (*fn)(int pri, const char *line));
/* Sees every line too, without replacing the output (kefuctl reload). */
void log_set_tap(void (*fn)(int pri, const char *line));
/* Text placed before every line until changed (a plugin's name). */
void log_set_tag(const char *tag);

void log_vemit(int pri, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));
void log_emit(int pri, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void fatal(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));
void fatalx(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));

/* Returns 1 when the line should be written now, 0 to hold it back. */
int log_throttle_pass(struct log_throttle *t, int64_t now_ms);
/* The trouble cleared: returns how many lines were held back, and resets. */
unsigned log_throttle_clear(struct log_throttle *t);

#endif
