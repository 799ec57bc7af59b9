/*
 * Logging to stderr.  Under systemd, journald reads the "<N>" prefix as the
 * line's syslog priority; on a terminal the lines are plain.  errno is
 * preserved across every call.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "log.h"

static int log_lvl = LOG_PRI_INFO;
static int log_prefix = 1;
static const char *log_tag;
static void (*log_hook)(int, const char *);
static void (*log_tap)(int, const char *);

static const char *const log_names[] = {
    [LOG_PRI_ERR] = "error",
    [LOG_PRI_WARNING] = "warning",
    [LOG_PRI_NOTICE] = "notice",
    [LOG_PRI_INFO] = "info",
    [LOG_PRI_DEBUG] = "debug",
};

void
log_init(int level, int syslog_prefix)
{
	log_lvl = level;
	log_prefix = syslog_prefix;
}

void
log_set_level(int level)
{
	log_lvl = level;
}

int
log_level(void)
{
	return log_lvl;
}

int
log_level_parse(const char *name)
{
	int i;

	for (i = LOG_PRI_ERR; i <= LOG_PRI_DEBUG; i++)
		if (strcasecmp(name, log_names[i]) == 0)
			return i;
	return -1;
}

const char *
log_level_name(int level)
{
	if (level < LOG_PRI_ERR || level > LOG_PRI_DEBUG)
		return "?";
	return log_names[level];
}

void
log_set_tap(void (*fn)(int pri, const char *line))
{
	log_tap = fn;
}

void
log_set_hook(void (*fn)(int pri, const char *line))
{
	log_hook = fn;
}

void
log_set_tag(const char *tag)
{
	log_tag = tag;
}

/*
 * Control characters in what a line says (ids and messages from the
 * platform, customer texts) written as \n, \r, \xNN: a line is one line,
 * and none can forge a journal entry of its own with "\n<3>...".
 */
static void
log_escape(char *s, size_t size)
{
	char tmp[4096], *o = tmp;
	const unsigned char *p;
	int bad = 0;

	for (p = (const unsigned char *)s; *p != '\0'; p++)
		bad |= (*p < 0x20 && *p != '\t') || *p == 0x7f;
	if (!bad)
		return;
	for (p = (const unsigned char *)s;
	     *p != '\0' && o < tmp + sizeof(tmp) - 5; p++)
		if (*p == '\n')
			o += sprintf(o, "\\n");
		else if (*p == '\r')
			o += sprintf(o, "\\r");
		else if ((*p < 0x20 && *p != '\t') || *p == 0x7f)
			o += sprintf(o, "\\x%02x", *p);
		else
			*o++ = (char)*p;
	*o = '\0';
	snprintf(s, size, "%s", tmp);
}

void
log_vemit(int pri, const char *fmt, va_list ap)
{
	char line[4096];
	int saved = errno, n = 0, body;

	if (pri > log_lvl)
		return;
	if (log_prefix)
		n = snprintf(line, sizeof(line), "<%d>", pri);
	else if (pri <= LOG_PRI_WARNING)
		n = snprintf(line, sizeof(line), "%s: ", log_names[pri]);
	body = n;
	if (log_tag != NULL)
		n += snprintf(line + n, sizeof(line) - n, "%s: ", log_tag);
	vsnprintf(line + n, sizeof(line) - n, fmt, ap);
	log_escape(line + n, sizeof(line) - n);
	if (log_tap != NULL)
		log_tap(pri, line + body);
	if (log_hook != NULL) {
		log_hook(pri, line + body);
		errno = saved;
		return;
	}
	/* One write per line, so lines of two processes never interleave. */
	n = strlen(line);
	if (n < (int)sizeof(line) - 1) {
		line[n++] = '\n';
	} else {
		line[sizeof(line) - 2] = '\n';
		n = sizeof(line) - 1;
	}
	if (write(STDERR_FILENO, line, n) < 0) {
		/* Nowhere left to say it. */
	}
	errno = saved;
}

void
log_emit(int pri, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vemit(pri, fmt, ap);
	va_end(ap);
}

static void log_errno(int pri, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

static void
log_errno(int pri, const char *fmt, va_list ap)
{
	char msg[3072];
	int saved = errno;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	log_emit(pri, "%s: %s", msg, strerror(saved));
	errno = saved;
}

void
log_warn(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_errno(LOG_PRI_WARNING, fmt, ap);
	va_end(ap);
}

void
log_warnx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vemit(LOG_PRI_WARNING, fmt, ap);
	va_end(ap);
}

void
log_info(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vemit(LOG_PRI_INFO, fmt, ap);
	va_end(ap);
}

void
log_debug(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vemit(LOG_PRI_DEBUG, fmt, ap);
	va_end(ap);
}

void
fatal(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_errno(LOG_PRI_ERR, fmt, ap);
	va_end(ap);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vemit(LOG_PRI_ERR, fmt, ap);
	va_end(ap);
	exit(1);
}

#define LOG_THROTTLE_FIRST_MS 1000
#define LOG_THROTTLE_MAX_MS 300000

int
log_throttle_pass(struct log_throttle *t, int64_t now_ms)
{
	if (t->gap_ms != 0 && now_ms < t->next_ms) {
		t->suppressed++;
		return 0;
	}
	if (t->gap_ms == 0)
		t->gap_ms = LOG_THROTTLE_FIRST_MS;
	else if (t->gap_ms < LOG_THROTTLE_MAX_MS)
		t->gap_ms *= 2;
	if (t->gap_ms > LOG_THROTTLE_MAX_MS)
		t->gap_ms = LOG_THROTTLE_MAX_MS;
	t->next_ms = now_ms + t->gap_ms;
	return 1;
}

unsigned
log_throttle_clear(struct log_throttle *t)
{
	unsigned n = t->suppressed;

	t->gap_ms = 0;
	t->next_ms = 0;
	t->suppressed = 0;
	return n;
}
