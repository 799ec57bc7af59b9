#ifndef KEFU_CALENDAR_H
#define KEFU_CALENDAR_H

#include <stddef.h>
#include <stdint.h>
#include <libconfig.h>

struct calendar;

/* From the "calendar" group (NULL: the defaults); NULL after reporting. */
struct calendar *calendar_build(const config_setting_t *s);
void calendar_free(struct calendar *c);
/* The live calendar; also sets the process's time zone to its own. */
void calendar_use(const struct calendar *c);
/* The live calendar's zone, as configured: "Asia/Shanghai". */
const char *calendar_timezone(void);

/* Times are wall clock ms since the epoch. */
int calendar_on_duty(int64_t now);
int64_t calendar_next_duty(int64_t now);   /* now when on duty; 0: never */
const char *calendar_daypart(int64_t now); /* 早上, 中午, 下午, 晚上 */
/* Today's festive holiday (greet = true in the file): its name, or NULL. */
const char *calendar_holiday(int64_t now);
/* at as a customer reads it from now: 今天14:00, 明天09:00, 10月8日09:00. */
void calendar_when(int64_t now, int64_t at, char *buf, size_t len);

#endif
