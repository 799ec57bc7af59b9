#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "calendar.h"
#include "clock.h"
#include "conv.h"
#include "event.h"
#include "frame.h"
#include "guard.h"
#include "log.h"
#include "metrics.h"
#include "loop.h"
#include "outbox.h"
#include "store.h"
#include "timers.h"
#include "xmalloc.h"

/*
 * Each conversation has one loop timer, for the earliest thing due on it
 * (a wait update, a follow-up, a close, a handoff asked for again, leaving
 * memory): an idle kefud wakes for nothing else.  A change to a
 * conversation (conv_touch) looks at it again in the loop's next turn; a
 * timer due that could not act (the link down, an agent off duty, the
 * store busy) looks again a second later.
 */
#define TIMERS_RETRY_MS 1000
#define TIMERS_EVICT_RETRY_MS 60000
#define TIMERS_DUTY_CHECK_MS 60000 /* an update waiting for duty's end */

static const struct conf_conversations *T;
static int (*timers_gate)(void);

void
timers_set_gate(int (*open)(void))
{
	timers_gate = open;
}
static const struct conf_handoff *H;
static struct loop_timer timers_cap_timer;
static int timers_started;

static void timers_arm_all(void);

void
timers_configure(const struct conf_conversations *cv,
    const struct conf_handoff *h)
{
	T = cv;
	H = h;
	/* New intervals, texts or a new calendar: every due time again. */
	if (timers_started)
		timers_arm_all();
}

static void
timers_send(struct conv *c, const char *id, const char *text, int64_t now)
{
	event_say(c, id, text, "timers", now);
}

/* When the next wait update is due; 0: none is. */
static int64_t
timers_wait_due(const struct conv *c)
{
	const char *base = kv_get(&c->store, CONV_WAIT_BASE);
	unsigned from = base != NULL ? (unsigned)strtoul(base, NULL, 10) : 0;

	if (from > c->wait_updates) /* left by something else: ignored */
		from = 0;
	if (T->wait_update_text == NULL || c->waiting_since == 0 ||
	    c->wait_updates - from >= (unsigned)T->wait_updates_max)
		return 0;
	return c->wait_due != 0 ? c->wait_due
	                        : c->waiting_since + T->wait_update_ms;
}

/* While a customer waits for an agent: a status line every interval. */
static void
timers_wait(struct conv *c, int64_t now)
{
	char id[300], part[EVENT_ID_PART + 1];
	int64_t due = timers_wait_due(c);

	if (due == 0 || now < due)
		return;
	snprintf(id, sizeof(id), "w:%s:%lld:%u",
	    event_id_part(part, sizeof(part), c->id),
	    (long long)c->waiting_since, c->wait_updates);
	timers_send(c, id, T->wait_update_text, now);
	log_info("conversation %s: wait update %u", c->id, c->wait_updates + 1);
	c->wait_updates++;
	/* Late (after a restart): once now, then at the interval again. */
	c->wait_due =
	    (due + T->wait_update_ms > now ? due : now) + T->wait_update_ms;
	conv_touch(c);
}

/* When the next follow-up or the close is due; 0: none is. */
static int64_t
timers_silent_due(const struct conv *c)
{
	int64_t due = 0;

	if (c->asked_ms == 0 || c->owner != CONV_BOT ||
	    kv_get(&c->store, CONV_PENDING) != NULL)
		return 0;
	if ((int)c->followups < T->nfollowups)
		due = c->asked_ms + T->followup_ms[c->followups];
	if (T->close_text != NULL &&
	    (due == 0 || c->asked_ms + T->close_after_ms < due))
		due = c->asked_ms + T->close_after_ms;
	return due;
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
	char id[300], part[EVENT_ID_PART + 1], *safe;

	/* Not while a handoff is promised for later (no_agents): closing
	 * would throw the call-back away. */
	if (c->asked_ms == 0 || c->owner != CONV_BOT ||
	    kv_get(&c->store, CONV_PENDING) != NULL)
		return;
	for (i = (int)c->followups; i < n; i++)
		if (now >= c->asked_ms + T->followup_ms[i])
			stage = i;
	if (T->close_text != NULL && now >= c->asked_ms + T->close_after_ms)
		stage = n;
	if (stage < 0)
		return;
	if (stage == n) {
		snprintf(id, sizeof(id), "c:%s:%lld",
		    event_id_part(part, sizeof(part), c->id),
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
	snprintf(id, sizeof(id), "f:%s:%lld:%d",
	    event_id_part(part, sizeof(part), c->id), (long long)c->asked_ms,
	    stage);
	timers_send(c, id, T->followup_text[stage], now);
	log_info("conversation %s: follow-up %d", c->id, stage + 1);
	c->followups = stage + 1;
	conv_touch(c);
}

static const char *
timers_member(const cJSON *o, const char *name)
{
	const cJSON *m = cJSON_GetObjectItemCaseSensitive(o, name);

	return cJSON_IsString(m) ? m->valuestring : "";
}

/*
 * A handoff refused for want of agents (event_no_agents()): asked for
 * again once it is due and the calendar says agents work; meanwhile, if
 * configured, a line now and then that says when they are back.
 */
static void
timers_pending(struct conv *c, int64_t now)
{
	const char *p = kv_get(&c->store, CONV_PENDING);
	const cJSON *at, *try;
	char id[300], part[EVENT_ID_PART + 1], *text;
	cJSON *o;

	if (p == NULL || c->waiting_since == 0 || (o = cJSON_Parse(p)) == NULL)
		return;
	at = cJSON_GetObjectItemCaseSensitive(o, "retry_at");
	try = cJSON_GetObjectItemCaseSensitive(o, "try");
	if (cJSON_IsNumber(at) && now >= (int64_t)at->valuedouble &&
	    calendar_on_duty(now)) {
		snprintf(id, sizeof(id), "p:%s:%lld:%d",
		    event_id_part(part, sizeof(part), c->id),
		    (long long)c->waiting_since,
		    cJSON_IsNumber(try) ? try->valueint : 1);
		log_info("conversation %s: agents on duty; asking again",
		    c->id);
		event_handoff(c, id, 0, timers_member(o, "reason"),
		    timers_member(o, "queue"), timers_member(o, "priority"),
		    timers_member(o, "summary"), now);
		c->wait_due = now + T->wait_update_ms;
	} else if (H->no_agents_update_text != NULL && c->wait_due != 0 &&
	    now >= c->wait_due && !calendar_on_duty(now)) {
		/* Off duty only: on duty, {when} would be "now". */
		snprintf(id, sizeof(id), "w:%s:%lld:%u",
		    event_id_part(part, sizeof(part), c->id),
		    (long long)c->waiting_since, c->wait_updates);
		text = event_expand_when(H->no_agents_update_text, now,
		    calendar_next_duty(now));
		timers_send(c, id, text, now);
		free(text);
		log_info("conversation %s: no-agents update %u", c->id,
		    c->wait_updates + 1);
		c->wait_updates++;
		c->wait_due = now + H->no_agents_update_ms;
		conv_touch(c);
	}
	cJSON_Delete(o);
}

/*
 * When timers_pending() next has something to do: the retry once it is due
 * and agents are on duty, or, off duty, the next no-agents update.  0:
 * nothing.
 */
static int64_t
timers_pending_due(const struct conv *c, int64_t now)
{
	const char *p = kv_get(&c->store, CONV_PENDING);
	const cJSON *retry;
	int64_t due = 0, at;
	cJSON *o;

	if (p == NULL || c->waiting_since == 0 || (o = cJSON_Parse(p)) == NULL)
		return 0;
	retry = cJSON_GetObjectItemCaseSensitive(o, "retry_at");
	if (cJSON_IsNumber(retry)) {
		due = (int64_t)retry->valuedouble;
		due = calendar_next_duty(now > due ? now : due); /* 0: never */
	}
	/* The update is for off duty only (see timers_pending()): due on
	 * duty, it waits for the duty to end, looked at once a minute. */
	if (H->no_agents_update_text != NULL && c->wait_due != 0) {
		at = now > c->wait_due ? now : c->wait_due;
		if (calendar_on_duty(at))
			at += TIMERS_DUTY_CHECK_MS;
		if (due == 0 || at < due)
			due = at;
	}
	cJSON_Delete(o);
	return due;
}

/* Whether c may leave memory, by its state alone. */
static int
timers_at_rest(const struct conv *c)
{
	return c->asked_ms == 0 && c->waiting_since == 0 &&
	    (c->owner == CONV_BOT || c->owner == CONV_CLOSED);
}

/*
 * Whether a conversation may leave memory: all of it in the store (nothing
 * changed since, nothing being written) and nothing due without a new
 * event.
 */
static int
timers_may_leave(const struct conv *c)
{
	return !c->dirty && !c->writing && timers_at_rest(c);
}

/* When something is next due on c (wall clock ms); 0: nothing is. */
static int64_t
timers_next(const struct conv *c, int64_t now)
{
	int64_t due = 0, d[3] = {0, 0, 0};
	int i;

	if (c->owner == CONV_WAITING)
		d[0] = timers_wait_due(c);
	else if (c->owner == CONV_BOT) {
		d[0] = timers_silent_due(c);
		d[1] = timers_pending_due(c, now);
	}
	if (timers_at_rest(c))
		d[2] = c->last_ms + T->idle_evict_ms + 1;
	for (i = 0; i < 3; i++)
		if (d[i] != 0 && (due == 0 || d[i] < due))
			due = d[i];
	return due;
}

int64_t
timers_due(const struct conv *c, int64_t now)
{
	int64_t due;

	if (T == NULL || H == NULL || (due = timers_next(c, now)) == 0)
		return 0;
	/* Due, and could not act: again in a while.  Only leaving memory
	 * (the store failing) waits longer: a disk full for an hour must
	 * not wake every idle conversation every second. */
	if (due <= now)
		due = now +
		    (timers_at_rest(c) ? TIMERS_EVICT_RETRY_MS
		                       : TIMERS_RETRY_MS);
	return due;
}

/* Returns 0 when c left memory. */
static int
timers_one(struct conv *c, int64_t now)
{

	/* While the link is down or the backlog is still coming, the view
	 * of who owns what is stale: nothing is said or closed. */
	if (timers_gate != NULL && !timers_gate())
		;
	else if (c->owner == CONV_WAITING)
		timers_wait(c, now);
	else if (c->owner == CONV_BOT) {
		timers_silent(c, now);
		timers_pending(c, now);
	}
	/* Idle and safely stored: out of memory. */
	if (store_ok() && timers_may_leave(c) &&
	    now - c->last_ms > T->idle_evict_ms) {
		log_debug("conversation %s: idle; out of memory", c->id);
		conv_forget(c);
		return 0;
	}
	return 1;
}

static void
timers_conv(struct conv *c, void *arg)
{
	timers_one(c, *(int64_t *)arg);
}

static int
timers_by_last(const void *a, const void *b)
{
	int64_t x = (*(struct conv *const *)a)->last_ms,
	        y = (*(struct conv *const *)b)->last_ms;

	return x < y ? -1 : x > y;
}

struct timers_idle {
	struct conv **c;
	unsigned n;
};

static void
timers_idle_one(struct conv *c, void *arg)
{
	struct timers_idle *l = arg;

	if (timers_may_leave(c))
		l->c[l->n++] = c;
}

/* Over max_live: the longest idle conversations leave memory (they are
 * in the store and come back with their next event). */
static void
timers_cap(void)
{
	/* After a pass that could not get under the cap: the next one a
	 * few seconds later, and one warning a minute, not a full scan and
	 * a warning every 100 ms. */
	static unsigned stuck_at;
	static int64_t retry_ms, warned_ms;
	unsigned n = conv_count(), i, over;
	int64_t now = clock_mono_ms();
	struct timers_idle l;

	if (n <= (unsigned)T->max_live || !store_ok())
		return;
	if (stuck_at != 0 && now + 10 < retry_ms) /* timers fire early */
		return;
	over = n - (unsigned)T->max_live;
	l.c = xcalloc(n, sizeof(*l.c));
	l.n = 0;
	conv_foreach(timers_idle_one, &l);
	qsort(l.c, l.n, sizeof(*l.c), timers_by_last);
	for (i = 0; i < l.n && i < over; i++) {
		conv_forget(l.c[i]);
		metric_inc(M_EVICTIONS);
	}
	stuck_at = 0;
	if (i < over) {
		stuck_at = conv_count();
		retry_ms = now + 5000;
		if (now - warned_ms >= 60000) {
			warned_ms = now;
			log_warnx("%u conversations in memory, over max_live "
			          "%d: the rest are busy",
			    conv_count(), T->max_live);
		}
	}
	free(l.c);
}

/* Everything due at now, over all conversations (tests, replays). */
void
timers_run(int64_t now)
{
	if (T == NULL || H == NULL)
		return;
	conv_foreach(timers_conv, &now);
	timers_cap();
	store_soon();
}

static void
timers_fire(void *arg)
{
	struct conv *c = arg;
	int64_t now = clock_wall_ms(), due;

	if (!timers_one(c, now))
		return;
	if (c->dirty)
		store_soon();
	if ((due = timers_due(c, now)) == 0) {
		loop_timer_cancel(&c->timer);
		return;
	}
	loop_timer_set(&c->timer, due - now, timers_fire, c);
}

static void
timers_cap_fire(void *arg)
{
	(void)arg;
	timers_cap();
	if (conv_count() > (unsigned)T->max_live) /* stuck: try again */
		loop_timer_set(&timers_cap_timer, 5000, timers_cap_fire, NULL);
}

/* c looked at in ms (0: the loop's next turn); the cap's pass too, when
 * there are more conversations in memory than max_live. */
static void
timers_look(struct conv *c, int64_t ms)
{
	if (!timers_started || T == NULL || H == NULL)
		return;
	loop_timer_set(&c->timer, ms, timers_fire, c);
	if (conv_count() > (unsigned)T->max_live && timers_cap_timer.slot == 0)
		loop_timer_set(&timers_cap_timer, 0, timers_cap_fire, NULL);
}

/* conv_touch() and a conversation new in memory: looked at next turn. */
static void
timers_touched(struct conv *c)
{
	timers_look(c, 0);
}

/* Every conversation looked at again within the next second, spread
 * over it: with 10,000 in memory, all at once would hold the loop. */
static void
timers_arm1(struct conv *c, void *arg)
{
	unsigned *i = arg;

	timers_look(c, (*i)++ % 1000);
}

static void
timers_arm_all(void)
{
	unsigned i = 0;

	conv_foreach(timers_arm1, &i);
}

/*
 * The loop's timers count monotonic time; the due times are on the wall
 * clock.  When the wall clock is set (NTP's first step after a boot, an
 * operator), a timerfd that never expires says so, and every due time is
 * worked out again: a step forward must not delay them all by its size.
 */
static int timers_clock_fd = -1;

/* The latest time there is: only the cancel counts (as systemd does). */
static int
timers_clock_arm(int fd)
{
	struct itimerspec its;

	memset(&its, 0, sizeof(its));
	its.it_value.tv_sec =
	    (time_t)(((uint64_t)1 << (sizeof(time_t) * 8 - 1)) - 1);
	if (timerfd_settime(fd, TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET,
	        &its, NULL) == 0)
		return 0;
	its.it_value.tv_sec = (time_t)INT32_MAX;
	return timerfd_settime(fd, TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET,
	    &its, NULL);
}

static int
timers_clock_set(int fd, void *arg)
{
	uint64_t n;

	(void)arg;
	if (fd < 0) {
		timers_clock_fd = -1;
		return 0;
	}
	if (read(fd, &n, sizeof(n)) < 0) {
		if (errno == ECANCELED) { /* still armed: nothing to redo */
			log_info("the wall clock was set: service timers "
			         "worked out again");
			if (timers_started)
				timers_arm_all();
		}
		return 0;
	}
	/* It expired: the clock is past the latest time it could be set
	 * to.  Armed again in the past it would fire on every turn. */
	log_warnx("service timers: the wall clock reads past the end of "
	          "time; no longer watching it");
	timers_clock_fd = -1;
	return -1;
}

static void
timers_clock_watch(void)
{
	int fd;

	if (timers_clock_fd >= 0)
		return;
	if ((fd = timerfd_create(CLOCK_REALTIME, TFD_NONBLOCK | TFD_CLOEXEC)) <
	        0 ||
	    timers_clock_arm(fd) < 0 ||
	    loop_watch(fd, timers_clock_set, NULL) < 0) {
		log_warn("service timers: cannot watch the wall clock; a step "
		         "of it delays them");
		if (fd >= 0)
			close(fd);
		return;
	}
	timers_clock_fd = fd;
}

void
timers_start(void)
{
	timers_started = 1;
	conv_set_touch_hook(timers_touched);
	timers_clock_watch();
	timers_arm_all();
}

static void
timers_disarm1(struct conv *c, void *arg)
{
	(void)arg;
	loop_timer_cancel(&c->timer);
}

void
timers_stop(void)
{
	timers_started = 0;
	conv_set_touch_hook(NULL);
	conv_foreach(timers_disarm1, NULL);
	loop_timer_cancel(&timers_cap_timer);
}
