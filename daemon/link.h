#ifndef KEFU_LINK_H
#define KEFU_LINK_H

#include <stdint.h>

#include "conf.h"
#include "token.h"

/*
 * The websocket to the platform (../shared/platform-protocol.md).  One
 * connection, kept up with back-off; frames in go to the event and outbox
 * modules, frames out come from them.
 */

/*
 * Applies the platform settings of a new generation; reconnects when they
 * changed.  Takes the token (the link is its only holder).  p NULL or not
 * present: no link.
 */
void link_configure(const struct conf_platform *p, struct token *tok);
void link_stop(void);

/* For tests without a platform (the state-machine fuzzer): link_send
 * hands its frames to fn (which takes them) instead.  NULL: the link. */
void link_set_sink(int (*fn)(char *frame));
/* Queues a frame (takes it); -1 when there is no ready connection. */
int link_send(char *frame);
int link_ready(void);
/* Ready, and the events the platform redelivered have come in: what the
 * timers and the outbox wait for after a (re)connect. */
int link_settled(void);
/* on: do not connect (the state store is not open yet); off: connect. */
void link_hold(int on);
/* The platform's heartbeat interval on this connection (0: none yet). */
int64_t link_heartbeat_ms(void);
const char *link_state_name(void);
const char *link_shop_name(void);

#endif
