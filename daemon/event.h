#ifndef KEFU_EVENT_H
#define KEFU_EVENT_H

#include <stdint.h>

#include "frame.h"

/*
 * Events from the platform: each is handled once, its actions go to the
 * outbox, and the platform gets a cumulative ack for the highest seq whose
 * effects the store has committed.
 */
void event_handle(const struct kefu_event *ev, const char *type_name);
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
/* ready.resume_from of this connection: checked against the last seq,
 * and the base against which a seq that jumps too far is refused. */
void event_resume_from(uint64_t seq);
/* The link is ready again: send what acks are due. */
void event_link_up(void);
void event_reset(void);

struct conf_handoff;
/* Routes and no_agents texts of the live generation. */
void event_configure(const struct conf_handoff *h);
/*
 * The queue and priority of a handoff: its reason's route (handoff.routes),
 * raised by raise levels and one more for a VIP customer, up to urgent.
 */
int event_route(const struct conf_handoff *h, const char *reason, int raise,
    int vip, const char **queue);
/* Sends a handoff with its context; the conversation waits for an agent.
 * The summary is clipped to the platform's 200 characters. */
void event_handoff(struct conv *c, const char *id, uint64_t seq,
    const char *reason, const char *queue, const char *priority,
    const char *summary, int64_t now);
/* The platform answered a handoff with no_agents (frame: the handoff). */
void event_no_agents(const char *frame);
/*
 * An action failed for good: the platform refused it (code, message) or it
 * could not be sent at all (code "too_large").  A handoff's conversation
 * goes back to the bot and the customer is told.
 */
void event_action_failed(const char *frame, const char *code,
    const char *message);
struct conv;
/*
 * An id from the platform (a conversation's, a message's) as part of an
 * action id: itself up to EVENT_ID_PART bytes, a hash of it beyond, so
 * that action ids stay short and two long ids never share one.  buf
 * holds EVENT_ID_PART + 1 bytes.
 */
#define EVENT_ID_PART 64
const char *event_id_part(char *buf, size_t len, const char *id);
/* A bot line from the core (who: "core", "timers") through the guard, to
 * the outbox and the transcript. */
void event_say(struct conv *c, const char *id, const char *text,
    const char *who, int64_t now);
/* The platform driver's state of a conversation (struct platform_core). */
const char *event_platform_get(const char *conv, const char *key);
void event_platform_set(const char *conv, const char *key, const char *value);
/* text with "{when}" as a customer reads at from now (malloc'ed). */
char *event_expand_when(const char *text, int64_t now, int64_t at);

#endif
