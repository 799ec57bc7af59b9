#ifndef KEFU_EVENT_H
#define KEFU_EVENT_H

#include <stdint.h>

#include "frame.h"

/*
 * Events from the platform: each is handled once, its actions go to the
 * outbox, and the platform gets a cumulative ack for the highest seq whose
 * effects the store has committed.
 */
void event_handle(const struct frame *f);
struct gen;
struct conv;
/*
 * What happens to one event of a conversation, before anything is sent:
 * the owner state machine, then (while the bot owns it) the plugin chain.
 * Returns 1 with t begun (turn_end() it) when the plugins ran.  The daemon
 * and the replay tool share it.
 */
int event_decide(struct gen *g, struct conv *c, const struct kefu_event *ev,
    struct kefu_turn *t);
/* The store committed every effect of the events up to seq. */
void event_durable(uint64_t seq);
/* The highest seq whose effects the store has committed. */
uint64_t event_durable_seq(void);
/* The highest seq handed to the plugins. */
uint64_t event_handled(void);
/* After a restart: the last seq the store holds. */
void event_restore(uint64_t last);
/* The highest seq acknowledged (identify.last_seq). */
uint64_t event_acked(void);
/* The link is ready again: send what acks are due. */
void event_link_up(void);
void event_reset(void);

#endif
