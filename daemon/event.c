#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "calendar.h"
#include "clock.h"
#include "conf.h"
#include "conv.h"
#include "event.h"
#include "guard.h"
#include "platform.h"
#include "log.h"
#include "metrics.h"
#include "loop.h"
#include "outbox.h"
#include "reload.h"
#include "store.h"
#include "turn.h"
#include "utf8.h"
#include "xmalloc.h"

static const struct conf_handoff *ev_ho; /* the live generation's */
static uint64_t ev_handled;              /* highest seq handed to the plugins */
static uint64_t ev_durable; /* highest seq whose effects are committed */
static uint64_t ev_acked;   /* highest seq acknowledged */
static struct loop_timer ev_ack_timer;
static int ev_ack_armed;

void
event_configure(const struct conf_handoff *h)
{
	ev_ho = h;
}

uint64_t
event_acked(void)
{
	return ev_acked;
}

uint64_t
event_durable_seq(void)
{
	return ev_durable;
}

uint64_t
event_handled(void)
{
	return ev_handled;
}

void
event_restore(uint64_t last)
{
	ev_handled = ev_durable = ev_acked = last;
}

/* The ack is cumulative: the highest seq whose effects are committed. */
static void
ev_ack(void *arg)
{
	(void)arg;
	ev_ack_armed = 0;
	if (ev_durable > ev_acked && platform_ack(ev_durable) == 0)
		ev_acked = ev_durable; /* else again when the link is ready */
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
event_durable(uint64_t seq)
{
	if (seq > ev_durable)
		ev_durable = seq;
	ev_ack_soon();
}

const char *
event_id_part(char *buf, size_t len, const char *id)
{
	uint64_t a = 14695981039346656037ull, b = 1099511628211ull * 31;
	const unsigned char *p;

	if (strlen(id) <= EVENT_ID_PART)
		return id;
	/* Two FNV-1a hashes: 128 bits, so that two long ids do not meet. */
	for (p = (const unsigned char *)id; *p != '\0'; p++) {
		a = (a ^ *p) * 1099511628211ull;
		b = (b ^ *p) * 1099511628211ull + 0x9e3779b97f4a7c15ull;
	}
	snprintf(buf, len, "#%016llx%016llx", (unsigned long long)a,
	    (unsigned long long)b);
	return buf;
}

/* The id of an action: derived from what caused it, so a retry after a
 * crash or a reconnect carries the same id and is applied at most once. */
static void
ev_action_id(char *buf, size_t len, char kind, const struct kefu_event *ev,
    int i)
{
	char part[EVENT_ID_PART + 1];

	if (ev->message_id != NULL)
		snprintf(buf, len, "%c:%s:%d", kind,
		    event_id_part(part, sizeof(part), ev->message_id), i);
	else
		snprintf(buf, len, "%c:%s:s%llu:%d", kind,
		    event_id_part(part, sizeof(part), ev->conversation),
		    (unsigned long long)ev->seq, i);
}

/* At most this many characters of each line go to the agent, so that a
 * handoff with its whole transcript stays far under the frame limit. */
#define EVENT_CONTEXT_LINE 500

static const char *
ev_from(char from)
{
	return from == 'c' ? "customer" : from == 'b' ? "bot" : "agent";
}

/* Set on a conversation once it was handed to an agent (for the
 * deflection rate). */
#define EV_HANDED "core\x1fhanded"

/* The platform's limit for a handoff's summary, in characters. */
#define EVENT_SUMMARY_MAX 200

/* At most this many characters of a name, a product title or an entity. */
#define EVENT_CONTEXT_FIELD 200

/* s clipped to EVENT_CONTEXT_FIELD characters, as a member of o. */
static void
ev_add_clipped(cJSON *o, const char *name, const char *s)
{
	char buf[EVENT_CONTEXT_FIELD * 4 + 1];

	utf8_prefix(buf, sizeof(buf), s, EVENT_CONTEXT_FIELD);
	cJSON_AddStringToObject(o, name, buf);
}

/* The handoff's context, as the protocol page lays it out, without the
 * transcript's first skip lines. */
static char *
ev_context(const struct conv *c, unsigned skip)
{
	cJSON *o = cJSON_CreateObject(), *cust, *tr, *l, *in, *en;
	const struct conv_line *line;
	char text[EVENT_CONTEXT_LINE * 4 + 1];
	unsigned i;
	char *json;

	cust = cJSON_AddObjectToObject(o, "customer");
	if (c->customer_id != NULL)
		ev_add_clipped(cust, "id", c->customer_id);
	if (c->customer_name != NULL)
		ev_add_clipped(cust, "name", c->customer_name);
	tr = cJSON_AddArrayToObject(o, "transcript");
	for (i = skip; (line = conv_line(c, i)) != NULL; i++) {
		l = cJSON_CreateObject();
		cJSON_AddStringToObject(l, "from", ev_from(line->from));
		utf8_prefix(text, sizeof(text), line->text, EVENT_CONTEXT_LINE);
		cJSON_AddStringToObject(l, "text", text);
		cJSON_AddNumberToObject(l, "ts", (double)line->ts);
		cJSON_AddItemToArray(tr, l);
	}
	in = cJSON_AddArrayToObject(o, "intents");
	for (i = 0; i < c->intents.n; i++)
		cJSON_AddItemToArray(in,
		    cJSON_CreateString(c->intents.keys[i]));
	en = cJSON_AddObjectToObject(o, "entities");
	for (i = 0; i < c->entities.n; i++)
		ev_add_clipped(en, c->entities.keys[i], c->entities.vals[i]);
	if (c->product != NULL && kv_get(&c->entities, "product") == NULL)
		ev_add_clipped(en, "product", c->product);
	cJSON_AddNumberToObject(o, "bot_turns", c->bot_turns);
	cJSON_AddNumberToObject(o, "waiting_since", (double)c->waiting_since);
	if ((json = cJSON_PrintUnformatted(o)) == NULL)
		fatalx("out of memory building a handoff");
	cJSON_Delete(o);
	return json;
}

int
event_route(const struct conf_handoff *h, const char *reason, int raise,
    int vip, const char **queue)
{
	int i, prio = h->default_priority;

	*queue = h->queue;
	for (i = 0; i < h->nroutes; i++)
		if (strcmp(h->route_reason[i], reason) == 0) {
			*queue = h->route_queue[i];
			prio = h->route_priority[i];
			break;
		}
	prio += raise + (vip && h->vip_raise);
	return prio > CONF_PRIO_URGENT ? CONF_PRIO_URGENT : prio;
}

void
event_handoff(struct conv *c, const char *id, uint64_t seq, const char *reason,
    const char *queue, const char *priority, const char *summary, int64_t now)
{
	char line[EVENT_SUMMARY_MAX * 4 + 1], *ctx, *frame;
	const struct conv_line *l;
	unsigned i, skip, drop = 0;
	size_t len, cut;

	/* No summary from the plugin: the customer's last words. */
	for (i = c->hist_len; (summary == NULL || *summary == '\0') && i > 0;
	     i--)
		if ((l = conv_line(c, i - 1))->from == 'c')
			summary = l->text;
	utf8_prefix(line, sizeof(line), summary != NULL ? summary : reason,
	    EVENT_SUMMARY_MAX);
	conv_handoff(c, now);
	/*
	 * The whole frame within the protocol's limit: the oldest lines of
	 * the transcript go first, about as many as the excess holds.
	 */
	for (skip = 0;; skip += drop) {
		ctx = ev_context(c, skip);
		frame = frame_handoff(id, c->id, queue, priority, reason, line,
		    ctx);
		free(ctx);
		if ((len = strlen(frame)) <= FRAME_MAX || skip >= c->hist_len)
			break;
		free(frame);
		for (drop = 0, cut = 0;
		     cut < len - FRAME_MAX && skip + drop < c->hist_len; drop++)
			cut += strlen(conv_line(c, skip + drop)->text) + 32;
	}
	if (skip > 0)
		log_info("conversation %s: handoff %s leaves out the oldest %u "
		         "lines of the transcript to fit in a frame",
		    c->id, id, skip);
	outbox_add(id, seq, frame);
	log_info("conversation %s: handoff %s to %s (%s)", c->id, id, queue,
	    priority);
}

/* text with {when} replaced; the caller frees it. */
char *
event_expand_when(const char *text, int64_t now, int64_t at)
{
	const char *p = strstr(text, "{when}");
	char when[64], *out;
	size_t n;

	if (p == NULL)
		return xstrdup(text);
	calendar_when(now, at, when, sizeof(when));
	n = strlen(text) - 6 + strlen(when) + 1;
	out = xcalloc(1, n);
	snprintf(out, n, "%.*s%s%s", (int)(p - text), text, when, p + 6);
	return out;
}

static const char *
ev_member(const cJSON *o, const char *name)
{
	const cJSON *m = cJSON_GetObjectItemCaseSensitive(o, name);

	return cJSON_IsString(m) ? m->valuestring : NULL;
}

void
event_say(struct conv *c, const char *id, const char *text, const char *who,
    int64_t now)
{
	char *safe;

	/* An empty configured text says nothing: the protocol's send needs
	 * 1 to 2000 characters. */
	if (text == NULL || *text == '\0') {
		log_debug("conversation %s: %s's text is empty; nothing sent",
		    c->id, who);
		return;
	}
	safe = guard_apply(text, who, c->id);
	outbox_add(id, 0, frame_send(id, c->id, safe, NULL));
	conv_add_line(c, 'b', safe, now);
	c->bot_turns++;
	metric_inc(M_REPLIES_OUT);
	free(safe);
}

/*
 * The platform has no agent on duty: the customer hears when agents are
 * back, the bot keeps the conversation, and the timers ask again once the
 * calendar says agents work (and no sooner than no_agents_retry_ms).
 */
void
event_no_agents(const char *frame)
{
	const struct conf_handoff *h = ev_ho;
	cJSON *o = cJSON_Parse(frame), *p;
	const char *cid, *id, *n;
	int64_t now = clock_wall_ms(), at, duty;
	char nid[600], *text, *pending;
	const char *told;
	struct conv *c;
	int tries = 1, busy;

	cid = ev_member(o, "conversation");
	id = ev_member(o, "id");
	if (h == NULL || cid == NULL || id == NULL) {
		cJSON_Delete(o);
		return;
	}
	if ((c = conv_get(cid, 0)) == NULL &&
	    (c = store_load_conv(cid)) == NULL)
		c = conv_insert(cid);
	metric_inc(M_NO_AGENTS);
	if (c->owner != CONV_WAITING) {
		log_info("conversation %s: no agents for %s, but it is %s now",
		    cid, id, conv_owner_name(c->owner));
		cJSON_Delete(o);
		return;
	}
	/* p:<conversation>:<waiting since>:<try>, the last try's number. */
	if (strncmp(id, "p:", 2) == 0 && (n = strrchr(id, ':')) != NULL)
		tries = atoi(n + 1) + 1;
	duty = calendar_next_duty(now);
	at = now + h->no_agents_retry_ms;
	if (duty > at)
		at = duty;
	p = cJSON_CreateObject();
	cJSON_AddStringToObject(p, "reason", ev_member(o, "reason"));
	cJSON_AddStringToObject(p, "queue", ev_member(o, "queue"));
	cJSON_AddStringToObject(p, "priority", ev_member(o, "priority"));
	cJSON_AddStringToObject(p, "summary", ev_member(o, "summary"));
	cJSON_AddNumberToObject(p, "retry_at", (double)at);
	cJSON_AddNumberToObject(p, "try", tries);
	if ((pending = cJSON_PrintUnformatted(p)) == NULL)
		fatalx("out of memory keeping a handoff");
	cJSON_Delete(p);
	conv_handoff_refused(c, pending);
	free(pending);
	c->wait_due =
	    h->no_agents_update_text != NULL ? now + h->no_agents_update_ms : 0;
	log_info("conversation %s: no agent on duty (%s); the bot keeps it "
	         "and asks again in %lld s",
	    cid, id, (long long)(at - now) / 1000);
	/*
	 * Off duty: when agents are back.  On duty (agents at lunch, logged
	 * out, late): that they are busy, with no time to give, and only at
	 * the first refusal, not at every retry.
	 */
	busy = duty <= now;
	told = busy ? h->no_agents_busy_text : h->no_agents_text;
	if (told != NULL && (!busy || tries == 1)) {
		text = event_expand_when(told, now, duty);
		snprintf(nid, sizeof(nid), "n:%s", id);
		event_say(c, nid, text, "core", now);
		free(text);
	}
	cJSON_Delete(o);
	store_soon();
}

void
event_action_failed(const char *frame, const char *code, const char *message)
{
	const struct conf_handoff *h = ev_ho;
	cJSON *o = cJSON_Parse(frame);
	struct kefu_event back = {.type = KEFU_EV_HANDOFF_ENDED, .by = "kefud"};
	const char *op = ev_member(o, "op"), *cid, *id;
	int64_t now = clock_wall_ms();
	char fid[600];
	struct conv *c;

	cid = ev_member(o, "conversation");
	id = ev_member(o, "id");
	metric_inc(M_ACTIONS_FAILED);
	log_emit(LOG_PRI_ERR,
	    "action %s (%s) of conversation %s failed for good: %s%s%s",
	    id != NULL ? id : "?", op != NULL ? op : "?",
	    cid != NULL ? cid : "?", code, message != NULL ? ": " : "",
	    message != NULL ? message : "");
	if (op == NULL || strcmp(op, "handoff") != 0 || cid == NULL ||
	    id == NULL || strcmp(code, "unknown_conversation") == 0) {
		cJSON_Delete(o);
		return;
	}
	metric_inc(M_HANDOFFS_FAILED);
	if ((c = conv_get(cid, 0)) == NULL &&
	    (c = store_load_conv(cid)) == NULL) {
		cJSON_Delete(o);
		return;
	}
	if (c->owner == CONV_WAITING) {
		/* Nobody will come: the bot takes the conversation back. */
		back.conversation = c->id;
		conv_apply(c, &back, now);
		log_emit(LOG_PRI_ERR,
		    "conversation %s: handoff %s refused; back with the bot",
		    cid, id);
		if (h != NULL && h->failed_text != NULL) {
			snprintf(fid, sizeof(fid), "x:%s", id);
			event_say(c, fid, h->failed_text, "core", now);
		}
	}
	cJSON_Delete(o);
	store_soon();
}

static int
ev_asks(const char *text)
{
	size_t n = strlen(text);

	return (n >= 1 && text[n - 1] == '?') ||
	    (n >= 3 && strcmp(text + n - 3, "\xef\xbc\x9f") == 0); /* ？ */
}

/*
 * A customer whose message waited through an outage gets one apology, not
 * one per message: the first stale message of a conversation since the
 * last apology.
 */
static const char *
ev_apology(struct conv *c, const struct kefu_event *ev, int64_t now)
{
	const struct gen *g = reload_live();
	const struct conf_conversations *cv;
	const char *last;
	char at[24];

	if (g == NULL || ev->ts_ms == 0)
		return NULL;
	cv = &g->conf->conversations;
	if (cv->backlog_apology == NULL || now - ev->ts_ms < cv->backlog_ms)
		return NULL;
	last = kv_get(&c->store,
	    "core\x1f"
	    "apology");
	if (last != NULL && strtoll(last, NULL, 10) >= ev->ts_ms)
		return NULL;
	snprintf(at, sizeof(at), "%lld", (long long)now);
	kv_set(&c->store,
	    "core\x1f"
	    "apology",
	    at);
	return cv->backlog_apology;
}

static void
ev_actions(const struct kefu_turn *t, struct conv *c,
    const struct kefu_event *ev)
{
	const struct turn_action *a;
	int64_t now = clock_wall_ms();
	const char *sorry = t->nact > 0 ? ev_apology(c, ev, now) : NULL;
	char id[512], *safe;
	const char *queue;
	int i, prio, asked = t->asked, responded = 0;

	if (sorry != NULL) {
		safe = guard_apply(sorry, "core", ev->conversation);
		ev_action_id(id, sizeof(id), 'a', ev, 0);
		outbox_add(id, ev->seq,
		    frame_send(id, ev->conversation, safe, ev->message_id));
		conv_add_line(c, 'b', safe, now);
		free(safe);
		metric_inc(M_REPLIES_OUT);
		log_info(
		    "conversation %s: apology for a message that waited %lld s",
		    ev->conversation, (long long)(now - ev->ts_ms) / 1000);
	}

	for (i = 0; i < t->nact; i++) {
		a = &t->act[i];
		if (a->kind == TURN_REPLY) {
			safe =
			    guard_apply(a->text, a->plugin, ev->conversation);
			ev_action_id(id, sizeof(id), 'r', ev, i);
			outbox_add(id, ev->seq,
			    frame_send(id, ev->conversation, safe,
			        ev->message_id));
			conv_add_line(c, 'b', safe, now);
			c->bot_turns++;
			asked |= ev_asks(safe);
			metric_inc(M_REPLIES_OUT);
			if (!responded++ && ev->type == KEFU_EV_MESSAGE &&
			    ev->ts_ms != 0)
				metric_response(now - ev->ts_ms);
			free(safe);
			log_debug("conversation %s: reply from %s (%s)",
			    ev->conversation, a->plugin, id);
		} else {
			ev_action_id(id, sizeof(id), 'h', ev, i);
			prio = event_route(ev_ho, a->reason, t->raise, c->vip,
			    &queue);
			log_info("conversation %s: %s asks for an agent (%s)",
			    ev->conversation, a->plugin, a->reason);
			metric_handoff(a->reason);
			if (kv_get(&c->store, EV_HANDED) == NULL) {
				kv_set(&c->store, EV_HANDED, "1");
				metric_inc(M_HANDED_OFF);
			}
			event_handoff(c, id, ev->seq, a->reason, queue,
			    conf_priority_name(prio), a->summary, now);
		}
	}
	if (c->owner == CONV_BOT && asked && t->nact > 0) {
		c->asked_ms = now;
		c->followups = 0;
	}
	/* What the bot could not answer, for the shop to add. */
	if (t->unanswered_set && ev->text != NULL && *ev->text != '\0') {
		metric_inc(M_UNANSWERED);
		store_question(c->id, ev->text, t->unanswered, now);
	}
}

/* Where the platform said it resumes, on this connection (0: unknown). */
static uint64_t ev_resume;

void
event_resume_from(uint64_t seq)
{
	ev_resume = seq;
	if (seq > ev_handled + 1)
		log_warnx(
		    "link: the platform resumes from event %llu, but "
		    "the last handled is %llu: events in between are lost",
		    (unsigned long long)seq, (unsigned long long)ev_handled);
}

/*
 * Whether seq is far beyond any the platform can mean: seq goes up by one
 * per event, so a jump past EVENT_SEQ_WINDOW from where it resumed or from
 * the last handled is a fault.  Taken, it would be saved as the last seq
 * handled and every real event after it skipped for good.
 */
#define EVENT_SEQ_WINDOW 100000

static int
ev_wild(uint64_t seq)
{
	static int64_t said_ms;
	uint64_t base = ev_handled > ev_resume ? ev_handled : ev_resume;

	if (seq <= base + EVENT_SEQ_WINDOW)
		return 0;
	if (clock_mono_ms() - said_ms > 60000) {
		said_ms = clock_mono_ms();
		log_emit(LOG_PRI_ERR,
		    "event %llu dropped: seq jumps from %llu, past what the "
		    "platform can mean (a platform fault?)",
		    (unsigned long long)seq, (unsigned long long)base);
	}
	return 1;
}

void
event_handle(const struct kefu_event *ev, const char *type_name)
{
	struct gen *g = reload_live();
	struct kefu_turn t;
	struct conv *c;

	if (ev_wild(ev->seq))
		return;
	if (ev->seq > ev_handled + 1 && ev_handled > 0)
		log_warnx("event %llu: events %llu to %llu never came",
		    (unsigned long long)ev->seq,
		    (unsigned long long)ev_handled + 1,
		    (unsigned long long)ev->seq - 1);
	if (ev->seq <= ev_handled) {
		/* Delivered again: its effects are done or on their way. */
		log_debug("event %llu: already handled; skipped",
		    (unsigned long long)ev->seq);
		if (ev->seq <= ev_acked)
			platform_ack(ev_acked);
		return;
	}
	ev_handled = ev->seq;
	if (ev->type == 0) {
		log_info(
		    "event %llu: type \"%s\" unknown to this version; skipped",
		    (unsigned long long)ev->seq,
		    type_name != NULL ? type_name : "?");
	} else {
		if ((c = conv_get(ev->conversation, 0)) == NULL &&
		    (c = store_load_conv(ev->conversation)) == NULL) {
			c = conv_insert(ev->conversation);
			conv_started(clock_wall_ms());
			metric_inc(M_CONVERSATIONS);
		}
		if (ev->type == KEFU_EV_MESSAGE)
			metric_inc(M_MESSAGES_IN);
		if (event_decide(g, c, ev, &t)) {
			ev_actions(&t, c, ev);
			turn_end(&t);
		}
		/* An agent took it, or it ended: bot lines still queued
		 * (from before an outage, a restart) never go out. */
		if (c->owner == CONV_AGENT || c->owner == CONV_CLOSED)
			outbox_drop_sends(c->id);
	}
	store_soon();
}

/*
 * More than flood_per_minute messages in a minute: one polite line, then
 * a cool-down in which messages are kept in the transcript but get no
 * answer.  Returns 1 when the plugins should not see this message (t is
 * begun when there is the line to send).
 */
static int
ev_flood(const struct gen *g, struct conv *c, const struct kefu_event *ev,
    struct kefu_turn *t, int64_t now)
{
	const struct conf_conversations *cv = &g->conf->conversations;

	if (ev->type != KEFU_EV_MESSAGE || cv->flood_per_minute == 0)
		return 0;
	if (now - c->flood_start >= 60000) {
		c->flood_start = now;
		c->flood_n = 0;
	}
	c->flood_n++;
	if (now < c->flood_until)
		return 1;
	if (c->flood_n <= (unsigned)cv->flood_per_minute)
		return 0;
	c->flood_until = now + cv->flood_cooldown_ms;
	metric_inc(M_FLOODS);
	log_warnx("conversation %s: more than %d messages a minute; quiet for "
	          "%d s",
	    c->id, cv->flood_per_minute, cv->flood_cooldown_ms / 1000);
	if (cv->flood_text != NULL) {
		turn_begin(t, c, ev);
		turn_reply(t, cv->flood_text);
	}
	return 1;
}

int
event_decide(struct gen *g, struct conv *c, const struct kefu_event *ev,
    struct kefu_turn *t)
{
	int64_t now = clock_wall_ms();

	if (!conv_apply(c, ev, now) || g == NULL)
		return 0;
	memset(t, 0, sizeof(*t));
	if (ev_flood(g, c, ev, t, now))
		return t->conv != NULL; /* the line, if any */
	turn_begin(t, c, ev);
	gen_dispatch(g, t, ev);
	return 1;
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
	ev_handled = ev_durable = ev_acked = 0;
	ev_resume = 0;
}

/* The driver's keys live in the conversation's store, in a namespace no
 * plugin can reach. */
#define EV_PLATFORM_KEY(buf, key)                                              \
	snprintf(buf, sizeof(buf), "platform\x1f%s", key)

const char *
event_platform_get(const char *conv, const char *key)
{
	struct conv *c;
	char k[128];

	if ((c = conv_get(conv, 0)) == NULL &&
	    (c = store_load_conv(conv)) == NULL)
		return NULL;
	EV_PLATFORM_KEY(k, key);
	return kv_get(&c->store, k);
}

void
event_platform_set(const char *conv, const char *key, const char *value)
{
	struct conv *c;
	char k[128];

	if ((c = conv_get(conv, 0)) == NULL &&
	    (c = store_load_conv(conv)) == NULL)
		return;
	EV_PLATFORM_KEY(k, key);
	kv_set(&c->store, k, value);
	conv_touch(c);
	store_soon();
}
