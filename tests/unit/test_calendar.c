/* The business calendar: duty hours, holidays and make-up workdays, in
 * the configured time zone whatever the machine's. */
#include "../harness.h"

#include "calendar.h"
#include "conf.h"

static char *dir;
static struct calendar *cal;

static void
setup(void)
{
	h_log_capture();
	dir = h_tmpdir();
	/* The machine's zone must not matter. */
	setenv("TZ", "America/New_York", 1);
	tzset();
}

static void
teardown(void)
{
	calendar_free(cal);
	cal = NULL;
	log_set_hook(NULL);
	h_rmrf(dir);
	free(dir);
}

TestSuite(calendar, .init = setup, .fini = teardown);

/* Builds a calendar from the group text, with the shipped holidays unless
 * it names its own. */
static struct calendar *
build(const char *group)
{
	char *conf;
	const config_setting_t *s;
	config_t cfg;

	if (strstr(group, "holidays_file") != NULL)
		conf =
		    h_write(dir, "kefud.conf", "calendar = { %s };\n", group);
	else
		conf = h_write(dir, "kefud.conf",
		    "calendar = { holidays_file = \"%s/etc/kefu/holidays-cn.conf\"; %s };\n",
		    KEFU_SRC, group);
	config_init(&cfg);
	cr_assert(config_read_file(&cfg, conf), "%s", config_error_text(&cfg));
	s = config_lookup(&cfg, "calendar");
	conf_error_reset();
	cal = calendar_build(s);
	config_destroy(&cfg);
	free(conf);
	if (cal != NULL)
		calendar_use(cal);
	return cal;
}

/* Shanghai local time (UTC+8, no DST) as ms since the epoch. */
static int64_t
sh(int y, int mo, int d, int h, int mi)
{
	struct tm tm = {.tm_year = y - 1900,
	    .tm_mon = mo - 1,
	    .tm_mday = d,
	    .tm_hour = h,
	    .tm_min = mi};

	return ((int64_t)timegm(&tm) - 8 * 3600) * 1000;
}

Test(calendar, duty_hours_holidays_and_makeup_days)
{
	cr_assert_not_null(
	    build(
	        "duty = { mon = \"09:00-18:00\"; tue = \"09:00-18:00\"; wed = \"09:00-18:00\"; thu = \"09:00-18:00\"; fri = \"09:00-18:00\"; sat = \"10:00-16:00\"; sun = \"\"; };"),
	    "%s", h_log());
	/* A Monday, 10:00 in Shanghai (still Sunday night in New York). */
	cr_expect(calendar_on_duty(sh(2026, 11, 23, 10, 0)));
	cr_expect(!calendar_on_duty(sh(2026, 11, 23, 8, 59)));
	cr_expect(!calendar_on_duty(sh(2026, 11, 23, 18, 0)));
	/* Sunday off: next is Monday 09:00. */
	cr_expect_eq(calendar_next_duty(sh(2026, 11, 29, 11, 0)),
	    sh(2026, 11, 30, 9, 0));
	/* Saturday evening: Monday, not Sunday. */
	cr_expect_eq(calendar_next_duty(sh(2026, 11, 28, 17, 0)),
	    sh(2026, 11, 30, 9, 0));
	/* National Day week: a holiday, nobody on duty until the 8th ... */
	cr_expect_str_eq(calendar_holiday(sh(2026, 10, 1, 10, 0)), "国庆节");
	cr_expect(!calendar_on_duty(sh(2026, 10, 2, 10, 0)));
	cr_expect_eq(calendar_next_duty(sh(2026, 10, 1, 10, 0)),
	    sh(2026, 10, 8, 9, 0));
	/* ... and Sunday 20 September and Saturday 10 October are worked,
	 * on Monday's hours. */
	cr_expect(calendar_on_duty(sh(2026, 9, 20, 10, 0)));
	cr_expect_null(calendar_holiday(sh(2026, 9, 20, 10, 0)));
	cr_expect(calendar_on_duty(sh(2026, 10, 10, 17, 30)));
	cr_expect_str_eq(calendar_holiday(sh(2026, 2, 17, 12, 0)), "春节");
	cr_expect_null(calendar_holiday(sh(2026, 11, 23, 12, 0)));
	/* 清明节 is a day off, but nobody is wished a happy one. */
	cr_expect(!calendar_on_duty(sh(2026, 4, 5, 10, 0)));
	cr_expect_null(calendar_holiday(sh(2026, 4, 5, 10, 0)));
}

Test(calendar, dayparts)
{
	cr_assert_not_null(build(""), "%s", h_log());
	cr_expect_str_eq(calendar_daypart(sh(2026, 11, 23, 7, 30)), "早上");
	cr_expect_str_eq(calendar_daypart(sh(2026, 11, 23, 12, 0)), "中午");
	cr_expect_str_eq(calendar_daypart(sh(2026, 11, 23, 15, 0)), "下午");
	cr_expect_str_eq(calendar_daypart(sh(2026, 11, 23, 20, 0)), "晚上");
	cr_expect_str_eq(calendar_daypart(sh(2026, 11, 24, 2, 0)), "晚上");
}

Test(calendar, holiday_hours_and_another_zone)
{
	cr_assert_not_null(
	    build("timezone = \"Asia/Tokyo\"; holiday_duty = \"10:00-12:00\";"),
	    "%s", h_log());
	/* 10:30 in Shanghai is 11:30 in Tokyo: on duty on a holiday. */
	cr_expect(calendar_on_duty(sh(2026, 10, 1, 10, 30)));
	cr_expect(!calendar_on_duty(sh(2026, 10, 1, 11, 30)));
}

Test(calendar, errors_name_file_line_and_key)
{
	cr_expect_null(build(
	    "timezone = \"Mars/Olympus\"; duty = { mon = \"9-18\"; funday = \"\"; };"));
	cr_expect_not_null(
	    strstr(h_log(),
	        ":1: calendar.timezone: unknown time zone \"Mars/Olympus\""),
	    "%s", h_log());
	cr_expect_not_null(
	    strstr(h_log(),
	        ":1: calendar.duty.mon: expected hours like \"09:00-18:00\""),
	    "%s", h_log());
	cr_expect_not_null(strstr(h_log(),
	                       ":1: calendar.duty.funday: unknown key"),
	    "%s", h_log());
}

Test(calendar, bad_holidays_file)
{
	char *
	    hol = h_write(dir, "hol.conf",
	       "holidays = (\n { from = \"2026-13-01\"; to = \"2026-10-07\"; name = \"x\"; },\n { from = \"2026-10-07\"; to = \"2026-10-01\"; name = \"y\"; }\n);\n"),
	   *g;

	cr_assert(asprintf(&g, "holidays_file = \"%s\";", hol) > 0);
	cr_expect_null(build(g));
	cr_expect_not_null(
	    strstr(h_log(),
	        "hol.conf:2: holidays[0].from: expected a date like \"2026-10-01\", found \"2026-13-01\""),
	    "%s", h_log());
	cr_expect_not_null(strstr(h_log(),
	                       "hol.conf:3: holidays[1].to: before \"from\""),
	    "%s", h_log());
	free(g);
	free(hol);
}
