#ifndef KEFU_CALENDAR_H
#define KEFU_CALENDAR_H

#include <stdint.h>
#include <libconfig.h>

struct calendar;

/* From the "calendar" group (NULL: the defaults); NULL after reporting. */
struct calendar *calendar_build(const config_setting_t *s);
void calendar_free(struct calendar *c);
/* The live calendar; also sets the process's time zone to its own. */
void calendar_use(const struct calendar *c);

/* Times are wall clock ms since the epoch. */
int calendar_on_duty(int64_t now);
int64_t calendar_next_duty(int64_t now);   /* now when on duty; 0: never */
const char *calendar_daypart(int64_t now); /* 早上, 中午, 下午, 晚上 */
const char *calendar_holiday(int64_t now); /* its name, or NULL */

#endif
