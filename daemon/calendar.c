/*
 * The business calendar: agents' duty hours per weekday, public holidays
 * and make-up workdays from a file, in the time zone of the configuration
 * (never the machine's).  Plugins ask it through the host table: are
 * agents on duty, when are they next, which part of the day is it, is
 * today a holiday.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "calendar.h"
#include "conf.h"
#include "log.h"
#include "xmalloc.h"

#define CAL_SEARCH_DAYS 60

enum cal_kind {
	CAL_HOLIDAY = 1,
	CAL_WORKDAY, /* a weekend day worked instead (调休) */
};

struct cal_day {
	int ymd; /* 20261001 */
	enum cal_kind kind;
	char *name;
	int greet; /* a festive day: greeted with its name */
};

struct calendar {
	char *tz;
	int duty[7][2]; /* minutes from midnight, by tm_wday; -1: off */
	int holiday_duty[2];
	int workday_duty[2];
	struct cal_day *days;
	int ndays;
};

static const struct calendar *cal_live;
/* By tm_wday; NULL-ended for conf_check_keys(). */
static const char *const cal_wdays[] = {"sun", "mon", "tue", "wed", "thu",
    "fri", "sat", NULL};

/* "09:00-18:00" or "" (off); 24:00 ends a day. */
static int
cal_hours(const config_setting_t *s, const char *name, int out[2])
{
	const char *v;
	int h1, m1, h2, m2, n = 0;

	if (conf_get_string(s, name, &v) != 1)
		return conf_member(s, name) == NULL ? 0 : -1;
	out[0] = out[1] = -1;
	if (*v == '\0')
		return 0;
	if (sscanf(v, "%2d:%2d-%2d:%2d%n", &h1, &m1, &h2, &m2, &n) != 4 ||
	    v[n] != '\0' || h1 > 23 || m1 > 59 || h2 > 24 || m2 > 59 ||
	    (h2 == 24 && m2 != 0) || h1 * 60 + m1 >= h2 * 60 + m2) {
		conf_report(conf_member(s, name), NULL,
		    "expected hours like \"09:00-18:00\" (or \"\" for off duty), found \"%s\"",
		    v);
		return -1;
	}
	out[0] = h1 * 60 + m1;
	out[1] = h2 * 60 + m2;
	return 0;
}

static int
cal_date(const config_setting_t *s, const char *name, int *ymd)
{
	const char *v;
	int y, m, d, n = 0;

	if (conf_get_string(s, name, &v) != 1) {
		if (conf_member(s, name) == NULL)
			conf_report(s, name, "missing required key");
		return -1;
	}
	if (sscanf(v, "%4d-%2d-%2d%n", &y, &m, &d, &n) != 3 || v[n] != '\0' ||
	    m < 1 || m > 12 || d < 1 || d > 31) {
		conf_report(conf_member(s, name), NULL,
		    "expected a date like \"2026-10-01\", found \"%s\"", v);
		return -1;
	}
	*ymd = y * 10000 + m * 100 + d;
	return 0;
}

static void
cal_add(struct calendar *c, int ymd, enum cal_kind kind, const char *name,
    int greet)
{
	c->days = realloc(c->days, (c->ndays + 1) * sizeof(*c->days));
	if (c->days == NULL)
		fatal("calendar");
	c->days[c->ndays++] = (struct cal_day){ymd, kind, xstrdup(name), greet};
}

/* The next calendar day after ymd. */
static int
cal_next_day(int ymd)
{
	struct tm tm = {.tm_year = ymd / 10000 - 1900,
	    .tm_mon = ymd / 100 % 100 - 1,
	    .tm_mday = ymd % 100 + 1,
	    .tm_hour = 12};

	timegm(&tm);
	return (tm.tm_year + 1900) * 10000 + (tm.tm_mon + 1) * 100 + tm.tm_mday;
}

static int
cal_file(struct calendar *c, const char *path)
{
	const config_setting_t *root, *list, *e;
	const char *name;
	int i, from, to, bad = 0, days, greet;

	if ((root = conf_load_file(path)) == NULL)
		return -1;
	list = conf_member(root, "holidays");
	for (i = 0; (e = conf_elem(list, i)) != NULL; i++) {
		if (cal_date(e, "from", &from) < 0 ||
		    cal_date(e, "to", &to) < 0 ||
		    conf_get_string(e, "name", &name) != 1) {
			if (conf_member(e, "name") == NULL)
				conf_report(e, "name", "missing required key");
			bad = -1;
			continue;
		}
		if (to < from) {
			conf_report(conf_member(e, "to"), NULL,
			    "before \"from\"");
			bad = -1;
			continue;
		}
		/* 清明节 is a day off but no day to wish anyone joy. */
		greet = 1;
		if (conf_get_bool(e, "greet", &greet) < 0) {
			bad = -1;
			continue;
		}
		for (days = 0; from <= to && days < 60;
		     from = cal_next_day(from), days++)
			cal_add(c, from, CAL_HOLIDAY, name, greet);
	}
	list = conf_member(root, "workdays");
	for (i = 0; (e = conf_elem(list, i)) != NULL; i++) {
		if (cal_date(e, "date", &from) < 0) {
			bad = -1;
			continue;
		}
		if (conf_get_string(e, "name", &name) != 1)
			name = "";
		cal_add(c, from, CAL_WORKDAY, name, 0);
	}
	conf_free_file(root);
	return bad;
}

static int
cal_zone(const config_setting_t *s, const char *tz)
{
	const char *dir = getenv("TZDIR");
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s",
	    dir != NULL ? dir : "/usr/share/zoneinfo", tz);
	if (strstr(tz, "..") != NULL || access(path, R_OK) != 0) {
		conf_report(conf_member(s, "timezone"), NULL,
		    "unknown time zone \"%s\" (no %s)", tz, path);
		return -1;
	}
	return 0;
}

const char *
calendar_timezone(void)
{
	return cal_live != NULL ? cal_live->tz : "Asia/Shanghai";
}

struct calendar *
calendar_build(const config_setting_t *s)
{
	static const char *const keys[] = {"timezone", "duty", "holiday_duty",
	    "workday_duty", "holidays_file", NULL};
	struct calendar *c = xcalloc(1, sizeof(*c));
	const config_setting_t *duty = conf_member(s, "duty");
	const char *tz = "Asia/Shanghai";
	char path[PATH_MAX];
	int i, bad = 0;

	for (i = 0; i < 7; i++) {
		c->duty[i][0] = 9 * 60; /* every day 09:00-18:00 */
		c->duty[i][1] = 18 * 60;
	}
	c->holiday_duty[0] = c->holiday_duty[1] = -1;
	if (s != NULL && conf_check_keys(s, keys) < 0)
		bad = -1;
	if (conf_get_string(s, "timezone", &tz) < 0 || cal_zone(s, tz) < 0)
		bad = -1;
	c->tz = xstrdup(tz);
	if (duty != NULL) {
		if (!config_setting_is_group(duty) ||
		    conf_check_keys(duty, cal_wdays) < 0) {
			if (!config_setting_is_group(duty))
				conf_report(duty, NULL,
				    "expected a group of weekdays (mon = \"09:00-18:00\"; ...)");
			bad = -1;
		}
		for (i = 0; i < 7; i++)
			if (cal_hours(duty, cal_wdays[i], c->duty[i]) < 0)
				bad = -1;
	}
	memcpy(c->workday_duty, c->duty[1], sizeof(c->workday_duty));
	if (cal_hours(s, "holiday_duty", c->holiday_duty) < 0 ||
	    cal_hours(s, "workday_duty", c->workday_duty) < 0)
		bad = -1;
	if (conf_member(s, "holidays_file") != NULL) {
		if (conf_get_path(s, "holidays_file", path, sizeof(path)) !=
		        1 ||
		    cal_file(c, path) < 0)
			bad = -1;
	}
	if (bad) {
		calendar_free(c);
		return NULL;
	}
	return c;
}

void
calendar_free(struct calendar *c)
{
	int i;

	if (c == NULL)
		return;
	if (cal_live == c)
		cal_live = NULL;
	for (i = 0; i < c->ndays; i++)
		free(c->days[i].name);
	free(c->days);
	free(c->tz);
	free(c);
}

void
calendar_use(const struct calendar *c)
{
	cal_live = c;
	/* All local times of the process follow the configured zone. */
	if (c != NULL) {
		setenv("TZ", c->tz, 1);
		tzset();
	}
}

static const struct cal_day *
cal_find(const struct calendar *c, int ymd)
{
	int i;

	for (i = 0; i < c->ndays; i++)
		if (c->days[i].ymd == ymd)
			return &c->days[i];
	return NULL;
}

static void
cal_local(int64_t ms, struct tm *tm)
{
	time_t t = (time_t)(ms / 1000);

	localtime_r(&t, tm);
}

/* The duty hours of a local day. */
static const int *
cal_hours_of(const struct calendar *c, const struct tm *tm)
{
	const struct cal_day *d = cal_find(c,
	    (tm->tm_year + 1900) * 10000 + (tm->tm_mon + 1) * 100 +
	        tm->tm_mday);

	if (d != NULL && d->kind == CAL_HOLIDAY)
		return c->holiday_duty;
	if (d != NULL && d->kind == CAL_WORKDAY)
		return c->workday_duty;
	return c->duty[tm->tm_wday];
}

int
calendar_on_duty(int64_t now)
{
	struct tm tm;
	const int *h;
	int min;

	if (cal_live == NULL)
		return 1;
	cal_local(now, &tm);
	h = cal_hours_of(cal_live, &tm);
	min = tm.tm_hour * 60 + tm.tm_min;
	return h[0] >= 0 && min >= h[0] && min < h[1];
}

int64_t
calendar_next_duty(int64_t now)
{
	struct tm tm, day;
	const int *h;
	int64_t start;
	int i;

	if (cal_live == NULL || calendar_on_duty(now))
		return now;
	cal_local(now, &tm);
	for (i = 0; i < CAL_SEARCH_DAYS; i++) {
		day = tm;
		day.tm_mday += i;
		day.tm_hour = 12;
		day.tm_min = day.tm_sec = 0;
		day.tm_isdst = -1;
		mktime(&day); /* normalise the date, find its weekday */
		h = cal_hours_of(cal_live, &day);
		if (h[0] < 0)
			continue;
		day.tm_hour = h[0] / 60;
		day.tm_min = h[0] % 60;
		day.tm_isdst = -1;
		start = (int64_t)mktime(&day) * 1000;
		if (start > now)
			return start;
	}
	return 0; /* nobody on duty for two months */
}

const char *
calendar_daypart(int64_t now)
{
	struct tm tm;

	cal_local(now, &tm);
	if (tm.tm_hour >= 5 && tm.tm_hour < 11)
		return "早上";
	if (tm.tm_hour >= 11 && tm.tm_hour < 13)
		return "中午";
	if (tm.tm_hour >= 13 && tm.tm_hour < 18)
		return "下午";
	return "晚上";
}

/*
 * When a moment is, as a customer reads it from now: 今天14:00, 明天09:00,
 * or 10月8日09:00, in the calendar's zone.
 */
void
calendar_when(int64_t now, int64_t at, char *buf, size_t len)
{
	struct tm a, b;
	int64_t next_day;

	cal_local(now, &a);
	cal_local(at, &b);
	next_day = now + 86400000;
	if (a.tm_year == b.tm_year && a.tm_yday == b.tm_yday)
		snprintf(buf, len, "今天%02d:%02d", b.tm_hour, b.tm_min);
	else {
		cal_local(next_day, &a);
		if (a.tm_year == b.tm_year && a.tm_yday == b.tm_yday)
			snprintf(buf, len, "明天%02d:%02d", b.tm_hour,
			    b.tm_min);
		else
			snprintf(buf, len, "%d月%d日%02d:%02d", b.tm_mon + 1,
			    b.tm_mday, b.tm_hour, b.tm_min);
	}
}

const char *
calendar_holiday(int64_t now)
{
	const struct cal_day *d;
	struct tm tm;

	if (cal_live == NULL)
		return NULL;
	cal_local(now, &tm);
	d = cal_find(cal_live,
	    (tm.tm_year + 1900) * 10000 + (tm.tm_mon + 1) * 100 + tm.tm_mday);
	return d != NULL && d->kind == CAL_HOLIDAY && d->greet ? d->name : NULL;
}
