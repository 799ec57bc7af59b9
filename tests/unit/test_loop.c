/*
 * The loop's timers on a real lws context: order, re-arming, cancelling,
 * and a loop that sleeps between timers instead of spinning.
 */
#include "../harness.h"

#include <pthread.h>

#include "clock.h"
#include "loop.h"

static const struct loop_hooks hooks;

static void
setup(void)
{
	cr_assert_eq(loop_init(&hooks), 0);
}

static void
teardown(void)
{
	loop_fini();
}

TestSuite(loop, .init = setup, .fini = teardown, .timeout = H_TIMEOUT_S);

struct rec {
	char order[16];
	int n;
	int64_t at_us[16];
};

static struct rec rec;
static int64_t t0_us;

static void
mark(void *arg)
{
	rec.at_us[rec.n] = clock_mono_us() - t0_us;
	rec.order[rec.n++] = *(const char *)arg;
}

static void
stop(void *arg)
{
	(void)arg;
	loop_stop(0);
}

Test(loop, timers_fire_in_due_order_rearmed_and_cancelled)
{
	struct loop_timer a = {0}, b = {0}, c = {0}, d = {0}, end = {0};

	memset(&rec, 0, sizeof(rec));
	t0_us = clock_mono_us();
	loop_timer_set(&a, 40, mark, "a");
	loop_timer_set(&b, 10, mark, "b");
	loop_timer_set(&c, 20, mark, "c");
	loop_timer_set(&d, 30, mark, "d");
	/* Re-arming replaces: b now comes after d. */
	loop_timer_set(&b, 35, mark, "b");
	loop_timer_cancel(&c);
	loop_timer_set(&end, 80, stop, NULL);
	cr_assert_eq(loop_run(), 0);
	rec.order[rec.n] = '\0';
	cr_expect_str_eq(rec.order, "dba");
	/* Never more than 1 ms early. */
	cr_expect_geq(rec.at_us[0], 29000, "d fired at %lld us",
	    (long long)rec.at_us[0]);
	cr_expect_geq(rec.at_us[2], 39000, "a fired at %lld us",
	    (long long)rec.at_us[2]);
}

/* Early by at most a quarter of the delay: a 2 ms timer not before 1.5 ms. */
Test(loop, a_short_timer_fires_at_most_a_quarter_early)
{
	struct loop_timer a = {0}, end = {0};

	memset(&rec, 0, sizeof(rec));
	t0_us = clock_mono_us();
	loop_timer_set(&a, 2, mark, "a");
	loop_timer_set(&end, 20, stop, NULL);
	cr_assert_eq(loop_run(), 0);
	cr_assert_eq(rec.n, 1);
	cr_expect_geq(rec.at_us[0], 1500, "a 2 ms timer fired at %lld us",
	    (long long)rec.at_us[0]);
}

static struct loop_timer again;
static int again_n;

/* Re-arms itself for "now": it must not starve the loop. */
static void
rearm(void *arg)
{
	(void)arg;
	again_n++;
	loop_timer_set(&again, 0, rearm, NULL);
}

Test(loop, a_timer_rearming_itself_at_once_does_not_starve_the_others)
{
	struct loop_timer end = {0};

	again_n = 0;
	memset(&again, 0, sizeof(again));
	loop_timer_set(&again, 0, rearm, NULL);
	loop_timer_set(&end, 30, stop, NULL);
	cr_assert_eq(loop_run(), 0);
	cr_expect_gt(again_n, 1);
	loop_timer_cancel(&again);
}

static struct loop_timer tick;
static int ticks;

static void
tick_fn(void *arg)
{
	(void)arg;
	if (++ticks < 100)
		loop_timer_set(&tick, 5, tick_fn, NULL);
	else
		loop_stop(0);
}

static int
drain(int fd, void *arg)
{
	char buf[64];

	(void)arg;
	while (read(fd, buf, sizeof(buf)) > 0)
		;
	return 0;
}

static volatile int pinging;

/* Traffic: a byte on the pipe every 300 us, as messages come under load. */
static void *
pinger(void *arg)
{
	int fd = *(int *)arg;
	struct timespec ts = {0, 300000};

	while (pinging) {
		if (write(fd, "x", 1) < 0)
			break;
		nanosleep(&ts, NULL);
	}
	return NULL;
}

static int64_t
cpu_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/*
 * lws waits for its next timer in whole milliseconds rounded down: woken
 * by traffic less than a millisecond before a timer, it polls with a zero
 * timeout until the timer is due.  Under steady traffic that spin was a
 * good part of a core.  kefud's loop fires such a timer at once and
 * sleeps.  (A behaviour, not a speed figure: the loop thread's own CPU
 * time, which a spinning loop burns whatever the machine.)
 */
Test(loop, sleeps_between_timers_under_traffic)
{
	int64_t wall, cpu;
	pthread_t th;
	int p[2];

	cr_assert_eq(pipe2(p, O_NONBLOCK | O_CLOEXEC), 0);
	cr_assert_eq(loop_watch(p[0], drain, NULL), 0);
	pinging = 1;
	cr_assert_eq(pthread_create(&th, NULL, pinger, &p[1]), 0);
	ticks = 0;
	memset(&tick, 0, sizeof(tick));
	wall = clock_mono_us();
	cpu = cpu_us();
	loop_timer_set(&tick, 5, tick_fn, NULL);
	cr_assert_eq(loop_run(), 0);
	wall = clock_mono_us() - wall;
	cpu = cpu_us() - cpu;
	pinging = 0;
	pthread_join(th, NULL);
	cr_expect_lt(cpu * 10, wall, "the loop used %lld us of CPU in %lld us",
	    (long long)cpu, (long long)wall);
}
