#ifndef KEFU_TIMERS_H
#define KEFU_TIMERS_H

#include <stdint.h>

#include "conf.h"
#include "conv.h"

/*
 * The service timers of conversations, from the seeds: a status line every
 * few minutes while a customer waits for an agent; follow-ups to a customer
 * who went silent after the bot asked something, then a polite close; and
 * idle conversations leave memory (they stay in the store).  Due times live
 * on the conversation, so they survive a restart, and each action's id
 * comes from the timer's state, so a timer fires once: not zero times, not
 * twice.  A handoff the platform refused for want of agents is asked for
 * again here, once the calendar says agents work.
 */
/* Service timers act only while open() says so (NULL: always). */
void timers_set_gate(int (*open)(void));
void timers_configure(const struct conf_conversations *cv,
    const struct conf_handoff *h);
/* Fires what is due at now (wall clock ms) on every conversation: the
 * loop instead fires each conversation's own timer at timers_due(). */
void timers_run(int64_t now);
/* When the loop next looks at c, looked at now (wall clock ms, after
 * now; 0: not until it changes). */
int64_t timers_due(const struct conv *c, int64_t now);
void timers_start(void);
void timers_stop(void);

#endif
