#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "conv.h"
#include "frame.h"
#include "guard.h"
#include "log.h"
#include "loop.h"
#include "outbox.h"
#include "store.h"
#include "timers.h"

#define TIMERS_TICK_MS 1000

static const struct conf_conversations *T;
static struct loop_timer timers_tick;

void
timers_configure(const struct conf_conversations *cv)
{
	T = cv;
}

static void
timers_send(struct conv *c, const char *id, const char *text, int64_t now)
{
	char *safe = guard_apply(text, "timers", c->id);

	outbox_add(id, 0, frame_send(id, c->id, safe, NULL));
	conv_add_line(c, 'b', safe, now);
	c->bot_turns++;
	free(safe);
}

/* While a customer waits for an agent: a status line every interval. */
static void
timers_wait(struct conv *c, int64_t now)
{
	char id[300];
	int64_t due;

	if (T->wait_update_text == NULL || c->waiting_since == 0)
		return;
	due = c->wait_due != 0 ? c->wait_due
	                       : c->waiting_since + T->wait_update_ms;
	if (now < due)
		return;
	snprintf(id, sizeof(id), "w:%s:%lld:%u", c->id,
	    (long long)c->waiting_since, c->wait_updates);
	timers_send(c, id, T->wait_update_text, now);
	log_info("conversation %s: wait update %u", c->id, c->wait_updates + 1);
	c->wait_updates++;
	/* Late (after a restart): once now, then at the interval again. */
	c->wait_due =
	    (due + T->wait_update_ms > now ? due : now) + T->wait_update_ms;
	conv_touch(c);
}

/*
 * The bot asked and the customer went silent: follow-ups, then a close.
 * When several stages are due at once (after an outage) only the last
 * one happens: a customer gets no burst of reminders.
 */
static void
timers_silent(struct conv *c, int64_t now)
{
	int n = T->nfollowups, stage = -1, i;
	char id[300], *safe;

	if (c->asked_ms == 0 || c->owner != CONV_BOT)
		return;
	for (i = (int)c->followups; i < n; i++)
		if (now >= c->asked_ms + T->followup_ms[i])
			stage = i;
	if (T->close_text != NULL && now >= c->asked_ms + T->close_after_ms)
		stage = n;
	if (stage < 0)
		return;
	if (stage == n) {
		snprintf(id, sizeof(id), "c:%s:%lld", c->id,
		    (long long)c->asked_ms);
		safe = guard_apply(T->close_text, "timers", c->id);
		outbox_add(id, 0, frame_close(id, c->id, safe));
		conv_add_line(c, 'b', safe, now);
		free(safe);
		conv_close(c);
		log_info(
		    "conversation %s: closed after the customer went silent",
		    c->id);
		return;
	}
	snprintf(id, sizeof(id), "f:%s:%lld:%d", c->id, (long long)c->asked_ms,
	    stage);
	timers_send(c, id, T->followup_text[stage], now);
	log_info("conversation %s: follow-up %d", c->id, stage + 1);
	c->followups = stage + 1;
	conv_touch(c);
}

static void
timers_conv(struct conv *c, void *arg)
{
	int64_t now = *(int64_t *)arg;

	if (c->owner == CONV_WAITING)
		timers_wait(c, now);
	else if (c->owner == CONV_BOT)
		timers_silent(c, now);
	/* Idle and safely stored: out of memory. */
	if (!c->dirty && store_ok() && c->asked_ms == 0 &&
	    (c->owner == CONV_BOT || c->owner == CONV_CLOSED) &&
	    now - c->last_ms > T->idle_evict_ms) {
		log_debug("conversation %s: idle; out of memory", c->id);
		conv_forget(c);
	}
}

void
timers_run(int64_t now)
{
	if (T == NULL)
		return;
	conv_foreach(timers_conv, &now);
	store_soon();
}

static void
timers_fire(void *arg)
{
	(void)arg;
	timers_run(clock_wall_ms());
	loop_timer_set(&timers_tick, TIMERS_TICK_MS, timers_fire, NULL);
}

void
timers_start(void)
{
	loop_timer_set(&timers_tick, TIMERS_TICK_MS, timers_fire, NULL);
}

void
timers_stop(void)
{
	loop_timer_cancel(&timers_tick);
}
