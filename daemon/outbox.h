#ifndef KEFU_OUTBOX_H
#define KEFU_OUTBOX_H

#include <stddef.h>
#include <stdint.h>

#include "frame.h"

/*
 * Actions on their way to the platform.  Each keeps its stable id until its
 * result arrives: sent again with the same id after a reconnect, after
 * rate_limited (at retry_after_ms) and after internal (with back-off).
 * Sending is paced by a token bucket under the platform's 20 per second.
 */

/* Actions per second (the burst allowance keeps any second under 20). */
void outbox_configure(int per_second);
/* Takes frame (JSON text).  seq: the event that caused it, or 0. */
void outbox_add(const char *id, uint64_t seq, char *frame);
/* An action the store kept from before a restart (takes frame). */
void outbox_restore(const char *id, uint64_t seq, char *frame);
void outbox_foreach(
    void (*fn)(const char *id, uint64_t seq, const char *frame));
/* The platform's result for action id (see struct platform_core). */
void outbox_result(const char *id, int ok, const char *code,
    const char *message, int64_t retry_after_ms);
/* Who hears of a handoff answered with no_agents (its frame). */
void outbox_on_no_agents(void (*fn)(const char *frame));
/* An action failed for good: refused by the platform, or too large to
 * send (code "too_large"); the item is gone when fn returns. */
void outbox_on_failed(
    void (*fn)(const char *frame, const char *code, const char *message));
/* Unsent bot lines (send, typing) of conversation conv leave the outbox:
 * a person owns it now, or it ended. */
void outbox_drop_sends(const char *conv);
/* The action queued next for conversation conv if it is op, taken to go
 * with the one out now (see struct platform_core). */
char *outbox_take_next(const char *conv, const char *op, const char *id);
void outbox_link_up(void);
void outbox_link_down(void);
size_t outbox_pending(void);
void outbox_clear(void);

#endif
