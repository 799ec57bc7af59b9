#ifndef KEFU_CLOCK_H
#define KEFU_CLOCK_H

#include <stdint.h>

/* Monotonic time, for intervals and timeouts. */
int64_t clock_mono_ms(void);
int64_t clock_mono_us(void);
/* Wall-clock time, ms since the epoch, for what people and the platform
 * read. */
int64_t clock_wall_ms(void);
/* Tests: the wall clock stands at ms until set again; 0 lets it run. */
void clock_set_wall(int64_t ms);

#endif
