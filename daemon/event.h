#ifndef KEFU_EVENT_H
#define KEFU_EVENT_H

#include <stdint.h>

#include "frame.h"

/*
 * Events from the platform: each is handled once, its actions go to the
 * outbox, and the platform gets a cumulative ack for the highest seq whose
 * effects are all done.
 */
void event_handle(const struct frame *f);
/* One action caused by event seq has its final result. */
void event_done(uint64_t seq);
/* The highest seq acknowledged (identify.last_seq). */
uint64_t event_acked(void);
/* The link is ready again: send what acks are due. */
void event_link_up(void);
void event_reset(void);

#endif
