#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include <systemd/sd-daemon.h>

#include "conv.h"
#include "platform.h"
#include "log.h"
#include "loop.h"
#include "notify.h"

#define NOTIFY_STATUS_MS 5000

static struct loop_timer notify_wd, notify_st;
static int64_t notify_wd_ms;

void
notify_status(void)
{
	sd_notifyf(0,
	    "STATUS=link %s; conversations: %u with the bot, %u waiting, %u with agents",
	    platform_state_name(), conv_count_owner(CONV_BOT),
	    conv_count_owner(CONV_WAITING), conv_count_owner(CONV_AGENT));
}

static void
notify_status_tick(void *arg)
{
	(void)arg;
	notify_status();
	loop_timer_set(&notify_st, NOTIFY_STATUS_MS, notify_status_tick, NULL);
}

/* Sent by a loop timer: a loop that stops turning stops feeding it. */
static void
notify_watchdog(void *arg)
{
	(void)arg;
	sd_notify(0, "WATCHDOG=1");
	loop_timer_set(&notify_wd, notify_wd_ms, notify_watchdog, NULL);
}

void
notify_start(void)
{
	uint64_t usec;

	sd_notify(0, "READY=1");
	notify_status_tick(NULL);
	if (sd_watchdog_enabled(0, &usec) > 0) {
		notify_wd_ms = (int64_t)(usec / 2000);
		if (notify_wd_ms < 1)
			notify_wd_ms = 1;
		log_info("watchdog: every %lld ms", (long long)notify_wd_ms);
		notify_watchdog(NULL);
	}
}

void
notify_reloading(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%llu",
	    (unsigned long long)ts.tv_sec * 1000000 +
	        (unsigned long long)ts.tv_nsec / 1000);
}

void
notify_reloaded(void)
{
	sd_notify(0, "READY=1");
	notify_status();
}

void
notify_stopping(void)
{
	loop_timer_cancel(&notify_wd);
	loop_timer_cancel(&notify_st);
	sd_notify(0, "STOPPING=1");
}
