#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conv.h"
#include "event.h"
#include "link.h"
#include "log.h"
#include "loop.h"
#include "outbox.h"
#include "reload.h"
#include "turn.h"

/* Events handled but not yet acknowledged, in seq order. */
struct ev_pending {
	uint64_t seq;
	int actions; /* without a final result yet */
};

static struct ev_pending *ev_q;
static size_t ev_head, ev_len, ev_cap;
static uint64_t ev_handled; /* highest seq handed to the plugins */
static uint64_t ev_acked;   /* highest seq acknowledged */
static struct loop_timer ev_ack_timer;
static int ev_ack_armed;

uint64_t
event_acked(void)
{
	return ev_acked;
}

static void
ev_push(uint64_t seq, int actions)
{
	if (ev_len == ev_cap) {
		size_t cap = ev_cap ? ev_cap * 2 : 64, i;
		struct ev_pending *q = malloc(cap * sizeof(*q));

		if (q == NULL)
			fatal("event queue");
		for (i = 0; i < ev_len; i++)
			q[i] = ev_q[(ev_head + i) % ev_cap];
		free(ev_q);
		ev_q = q;
		ev_cap = cap;
		ev_head = 0;
	}
	ev_q[(ev_head + ev_len++) % ev_cap] = (struct ev_pending){seq, actions};
}

/* One ack per loop turn, for the highest seq whose effects are done. */
static void
ev_ack(void *arg)
{
	uint64_t done = ev_acked;
	size_t n = 0;

	(void)arg;
	ev_ack_armed = 0;
	while (n < ev_len && ev_q[(ev_head + n) % ev_cap].actions == 0)
		done = ev_q[(ev_head + n++) % ev_cap].seq;
	if (n == 0 || link_send(frame_ack(done)) < 0)
		return; /* again when the link is ready */
	ev_head = (ev_head + n) % ev_cap;
	ev_len -= n;
	ev_acked = done;
}

/*
 * Acks are gathered for a few milliseconds: under load one ack covers many
 * events instead of one TLS write each; the platform waits no longer than
 * that for any of them.
 */
#define EVENT_ACK_DELAY_MS 5

static void
ev_ack_soon(void)
{
	if (!ev_ack_armed) {
		ev_ack_armed = 1;
		loop_timer_set(&ev_ack_timer, EVENT_ACK_DELAY_MS, ev_ack, NULL);
	}
}

void
event_done(uint64_t seq)
{
	size_t i;

	for (i = 0; i < ev_len; i++) {
		struct ev_pending *p = &ev_q[(ev_head + i) % ev_cap];

		if (p->seq == seq) {
			if (p->actions > 0)
				p->actions--;
			break;
		}
	}
	ev_ack_soon();
}

/* The id of an action: derived from what caused it, so a retry after a
 * crash or a reconnect carries the same id and is applied at most once. */
static void
ev_action_id(char *buf, size_t len, char kind, const struct kefu_event *ev,
    int i)
{
	if (ev->message_id != NULL)
		snprintf(buf, len, "%c:%s:%d", kind, ev->message_id, i);
	else
		snprintf(buf, len, "%c:%s:s%llu:%d", kind, ev->conversation,
		    (unsigned long long)ev->seq, i);
}

static int
ev_actions(const struct kefu_turn *t, const struct kefu_event *ev)
{
	const struct turn_action *a;
	char id[512];
	int i;

	for (i = 0; i < t->nact; i++) {
		a = &t->act[i];
		if (a->kind == TURN_REPLY) {
			ev_action_id(id, sizeof(id), 'r', ev, i);
			outbox_add(id, ev->seq,
			    frame_send(id, ev->conversation, a->text,
			        ev->message_id));
			log_info("conversation %s: reply from %s (%s)",
			    ev->conversation, a->plugin, id);
		} else {
			ev_action_id(id, sizeof(id), 'h', ev, i);
			outbox_add(id, ev->seq,
			    frame_handoff(id, ev->conversation, "default",
			        "normal", a->reason, a->summary, NULL));
			log_info("conversation %s: handoff (%s) from %s",
			    ev->conversation, a->reason, a->plugin);
		}
	}
	return t->nact;
}

void
event_handle(const struct frame *f)
{
	const struct kefu_event *ev = &f->ev;
	struct gen *g = reload_live();
	struct kefu_turn t;
	int n = 0;

	if (ev->seq <= ev_handled) {
		/* Delivered again: its effects are done or on their way. */
		log_debug("event %llu: already handled; skipped",
		    (unsigned long long)ev->seq);
		if (ev->seq <= ev_acked)
			link_send(frame_ack(ev_acked));
		return;
	}
	ev_handled = ev->seq;
	if (ev->type == 0) {
		log_info(
		    "event %llu: type \"%s\" unknown to this version; skipped",
		    (unsigned long long)ev->seq, f->ev_type);
	} else if (g != NULL) {
		turn_begin(&t, conv_get(ev->conversation, 1), ev);
		gen_dispatch(g, &t, ev);
		n = ev_actions(&t, ev);
		turn_end(&t);
	}
	ev_push(ev->seq, n);
	ev_ack_soon();
}

void
event_link_up(void)
{
	ev_ack_soon();
}

void
event_reset(void)
{
	loop_timer_cancel(&ev_ack_timer);
	ev_ack_armed = 0;
	free(ev_q);
	ev_q = NULL;
	ev_head = ev_len = ev_cap = 0;
}
