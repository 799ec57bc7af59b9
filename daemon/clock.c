#include <time.h>

#include "clock.h"

static int64_t
clock_us(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t
clock_mono_us(void)
{
	return clock_us(CLOCK_MONOTONIC);
}

int64_t
clock_mono_ms(void)
{
	return clock_us(CLOCK_MONOTONIC) / 1000;
}

static int64_t clock_fake_ms;

void
clock_set_wall(int64_t ms)
{
	clock_fake_ms = ms;
}

int64_t
clock_wall_ms(void)
{
	if (clock_fake_ms != 0)
		return clock_fake_ms;
	return clock_us(CLOCK_REALTIME) / 1000;
}
