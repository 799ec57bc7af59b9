#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "clock.h"
#include "conv.h"
#include "frame.h"
#include "platform.h"
#include "log.h"
#include "loop.h"
#include "outbox.h"
#include "store.h"
#include "xmalloc.h"

#define OUTBOX_BURST 4 /* tokens; with the rate, at most 19 in any second */
#define OUTBOX_RETRY_MIN_MS 500
#define OUTBOX_RETRY_MAX_MS 30000
/* No result two heartbeat intervals after sending (at least this): sent
 * again, same id (the platform applies an id once). */
#define OUTBOX_RESULT_MIN_MS 2000
#define OUTBOX_NO_RESULT_TRIES 5 /* sends without a result: then failed */

enum ob_state {
	OB_QUEUED, /* waiting for the link and a token */
	OB_SENT,   /* waiting for its result */
	OB_WAIT,   /* waiting to be retried */
};

struct ob_item {
	char *id;
	char *frame;
	size_t len;
	uint32_t conv; /* a hash of its conversation: its order is kept */
	uint64_t seq;
	enum ob_state state;
	int tries;
	struct loop_timer retry;
	struct ob_item *next, *prev;
};

static struct ob_item *ob_head, *ob_tail;
static size_t ob_n;
static double ob_rate = 15, ob_tokens = OUTBOX_BURST;
static int64_t ob_refill_ms;
static int ob_up;
static struct loop_timer ob_pump_timer;
static void (*ob_no_agents)(const char *frame);
static void (*ob_failed)(const char *, const char *, const char *);

void
outbox_on_no_agents(void (*fn)(const char *frame))
{
	ob_no_agents = fn;
}

void
outbox_on_failed(
    void (*fn)(const char *frame, const char *code, const char *message))
{
	ob_failed = fn;
}

void
outbox_configure(int per_second)
{
	ob_rate = per_second;
}

static void ob_pump(void *arg);
static void ob_remove(struct ob_item *it);
static void ob_requeue(void *arg);
static void ob_no_result(void *arg);

static int64_t
ob_result_ms(void)
{
	int64_t ms = platform_result_wait_ms();

	return ms > OUTBOX_RESULT_MIN_MS ? ms : OUTBOX_RESULT_MIN_MS;
}

/*
 * Whether an earlier action of it's conversation is out: busy[] is an
 * open-addressed set of conversation hashes seen out in this pass (0
 * free).  An action that is out, or waits behind one, joins the set.
 */
static int
ob_conv_busy(const struct ob_item *it, uint32_t *busy, size_t n)
{
	size_t i = it->conv % n;

	while (busy[i] != 0 && busy[i] != it->conv)
		i = (i + 1) % n;
	if (busy[i] == it->conv)
		return 1;
	if (it->state != OB_QUEUED)
		busy[i] = it->conv;
	return 0;
}

/* The hash of a conversation id, never 0 (0 marks a free slot). */
static uint32_t
ob_conv_of_id(const char *id)
{
	uint32_t h = conv_hash(id);

	return h != 0 ? h : 1;
}

/* The hash of the frame's conversation. */
static uint32_t
ob_conv_of(const char *frame)
{
	cJSON *o = cJSON_Parse(frame);
	const cJSON *cv = cJSON_GetObjectItemCaseSensitive(o, "conversation");
	uint32_t h = ob_conv_of_id(cJSON_IsString(cv) ? cv->valuestring : "");

	cJSON_Delete(o);
	return h;
}

static void
ob_refill(int64_t now)
{
	if (ob_refill_ms != 0)
		ob_tokens += (now - ob_refill_ms) * ob_rate / 1000.0;
	if (ob_tokens > OUTBOX_BURST)
		ob_tokens = OUTBOX_BURST;
	ob_refill_ms = now;
}

/*
 * Sends queued actions, oldest first, while the link and the pace allow.
 * One that can never be sent fails at once rather than holding up every
 * action after it.  What the failure handler queues (a line to the
 * customer) is sent in the same pass, not by a nested one.
 */
static void
ob_pump(void *arg)
{
	static int pumping;
	struct ob_item *it, *next;
	int64_t now = clock_mono_ms();
	uint32_t *busy;
	size_t nbusy;

	(void)arg;
	if (!ob_up || pumping)
		return;
	pumping = 1;
	ob_refill(now);
	nbusy = 2 * ob_n + 2;
	busy = xcalloc(nbusy, sizeof(*busy));
	for (it = ob_head; it != NULL; it = next) {
		if (it->state != OB_QUEUED) {
			ob_conv_busy(it, busy, nbusy);
			next = it->next;
			continue;
		}
		if (it->len > FRAME_MAX) {
			log_warnx("outbox: action %s is %zu bytes, over the "
			          "protocol's %d; it cannot be sent",
			    it->id, it->len, FRAME_MAX);
			if (ob_failed != NULL)
				ob_failed(it->frame, "too_large", NULL);
			next = it->next;
			ob_remove(it);
			continue;
		}
		if (ob_tokens < 1) {
			loop_timer_set(&ob_pump_timer,
			    (int64_t)((1 - ob_tokens) * 1000 / ob_rate) + 1,
			    ob_pump, NULL);
			break;
		}
		/* An earlier action of the conversation is still out (sent,
		 * or waiting to be retried): this one waits, so that a retry
		 * never lets a later reply overtake an earlier one. */
		if (ob_conv_busy(it, busy, nbusy)) {
			next = it->next;
			continue;
		}
		/* Out before the driver has it: a driver that takes the next
		 * line along (outbox_take_next) must not take this one. */
		it->state = OB_SENT;
		it->tries++;
		if (platform_send(xstrdup(it->frame)) < 0) {
			it->state = OB_QUEUED;
			it->tries--;
			break;
		}
		ob_tokens -= 1;
		loop_timer_set(&it->retry, ob_result_ms(), ob_no_result, it);
		ob_conv_busy(it, busy, nbusy); /* the next of its own waits */
		next = it->next;
	}
	free(busy);
	pumping = 0;
}

void
outbox_restore(const char *id, uint64_t seq, char *frame)
{
	struct ob_item *it;

	if ((it = calloc(1, sizeof(*it))) == NULL ||
	    (it->id = strdup(id)) == NULL)
		fatal("outbox");
	it->frame = frame;
	it->len = strlen(frame);
	it->conv = ob_conv_of(frame);
	it->seq = seq;
	it->prev = ob_tail;
	if (ob_tail != NULL)
		ob_tail->next = it;
	else
		ob_head = it;
	ob_tail = it;
	ob_n++;
}

void
outbox_add(const char *id, uint64_t seq, char *frame)
{
	store_outbox_put(id, seq, frame);
	outbox_restore(id, seq, frame);
	ob_pump(NULL);
}

void
outbox_foreach(void (*fn)(const char *, uint64_t, const char *))
{
	struct ob_item *it;

	for (it = ob_head; it != NULL; it = it->next)
		fn(it->id, it->seq, it->frame);
}

static struct ob_item *
ob_find(const char *id)
{
	struct ob_item *it;

	for (it = ob_head; it != NULL; it = it->next)
		if (strcmp(it->id, id) == 0)
			return it;
	return NULL;
}

static void
ob_remove(struct ob_item *it)
{
	store_outbox_del(it->id);
	loop_timer_cancel(&it->retry);
	if (it->prev != NULL)
		it->prev->next = it->next;
	else
		ob_head = it->next;
	if (it->next != NULL)
		it->next->prev = it->prev;
	else
		ob_tail = it->prev;
	ob_n--;
	free(it->id);
	free(it->frame);
	free(it);
}

static void
ob_requeue(void *arg)
{
	struct ob_item *it = arg;

	it->state = OB_QUEUED;
	ob_pump(NULL);
}

/* Sent, and no result came (lost, or answered with an error frame): sent
 * again with the same id rather than waiting for the next reconnect. */
static void
ob_no_result(void *arg)
{
	struct ob_item *it = arg;

	if (it->tries >= OUTBOX_NO_RESULT_TRIES) {
		/* Answered with errors, never with a result: given up, so
		 * that it does not hold its conversation for good. */
		if (ob_failed != NULL)
			ob_failed(it->frame, "no_result", NULL);
		ob_remove(it);
		ob_pump(NULL);
		return;
	}
	log_warnx(
	    "outbox: no result for action %s in %lld ms; sending it again",
	    it->id, (long long)ob_result_ms());
	ob_requeue(it);
}

static void
ob_retry_in(struct ob_item *it, int64_t ms)
{
	it->state = OB_WAIT;
	loop_timer_set(&it->retry, ms, ob_requeue, it);
}

static void ob_result(const char *id, int ok, const char *code,
    const char *message, int64_t retry_after_ms);

/* A result; what waited behind the action (its conversation's later
 * ones) may go now. */
void
outbox_result(const char *id, int ok, const char *code, const char *message,
    int64_t retry_after_ms)
{
	ob_result(id, ok, code, message, retry_after_ms);
	ob_pump(NULL);
}

static void
ob_result(const char *id, int ok, const char *code, const char *message,
    int64_t retry_after_ms)
{
	struct ob_item *it = ob_find(id);
	int64_t backoff;

	if (it == NULL) {
		log_debug(
		    "outbox: result for unknown action %s (answered before)",
		    id);
		return;
	}
	if (ok) {
		ob_remove(it);
		return;
	}
	if (code == NULL)
		code = "unknown";
	if (strcmp(code, "rate_limited") == 0) {
		log_info(
		    "outbox: action %s rate limited; retrying in %lld ms with the same id",
		    it->id, (long long)retry_after_ms);
		ob_retry_in(it,
		    retry_after_ms > 0 ? retry_after_ms : OUTBOX_RETRY_MIN_MS);
		return;
	}
	if (strcmp(code, "internal") == 0) {
		/* tries is 0 for an action restored after a restart and not
		 * sent by this process: the first back-off. */
		backoff = OUTBOX_RETRY_MIN_MS << (it->tries <= 1 ? 0
		                  : it->tries < 7                ? it->tries - 1
		                                                 : 6);
		if (backoff > OUTBOX_RETRY_MAX_MS)
			backoff = OUTBOX_RETRY_MAX_MS;
		log_warnx(
		    "outbox: action %s: platform fault (%s); retry %d in %lld ms",
		    it->id, message != NULL ? message : "internal", it->tries,
		    (long long)backoff);
		ob_retry_in(it, backoff);
		return;
	}
	if (strcmp(code, "no_agents") == 0 && ob_no_agents != NULL) {
		ob_no_agents(it->frame);
		ob_remove(it);
		return;
	}
	/* invalid, unknown_conversation, or a code we do not know. */
	if (ob_failed != NULL)
		ob_failed(it->frame, code, message);
	else
		log_warnx("outbox: action %s dropped: %s%s%s", it->id, code,
		    message != NULL ? ": " : "",
		    message != NULL ? message : "");
	ob_remove(it);
}

/* Whether frame is op for conversation conv. */
static int
ob_is(const char *frame, const char *op, const char *conv)
{
	cJSON *o = cJSON_Parse(frame);
	const cJSON *m = cJSON_GetObjectItemCaseSensitive(o, "op"),
	            *cv = cJSON_GetObjectItemCaseSensitive(o, "conversation");
	int r = cJSON_IsString(m) && cJSON_IsString(cv) &&
	    strcmp(cv->valuestring, conv) == 0 &&
	    (op == NULL || strcmp(m->valuestring, op) == 0);

	cJSON_Delete(o);
	return r;
}

void
outbox_drop_sends(const char *conv)
{
	struct ob_item *it, *next;
	uint32_t h = ob_conv_of_id(conv);

	for (it = ob_head; it != NULL; it = next) {
		next = it->next;
		/* Sent ones too: one whose result is lost would be sent
		 * again later. */
		if (it->conv == h &&
		    (ob_is(it->frame, "send", conv) ||
		        ob_is(it->frame, "typing", conv))) {
			log_info(
			    "outbox: action %s dropped: conversation %s is "
			    "no longer the bot's",
			    it->id, conv);
			ob_remove(it);
		}
	}
}

char *
outbox_take_next(const char *conv, const char *op, const char *id)
{
	uint32_t h = ob_conv_of_id(conv);
	struct ob_item *it;

	for (it = ob_head; it != NULL; it = it->next) {
		if (it->conv != h || !ob_is(it->frame, NULL, conv))
			continue;
		if (it->state == OB_SENT)
			continue; /* the one out, or one taken before */
		/* Queued, or waiting to be tried again (it failed with the
		 * one it went with before): it goes with this one now. */
		if ((it->state != OB_QUEUED && it->state != OB_WAIT) ||
		    !ob_is(it->frame, op, conv) ||
		    (id != NULL && strcmp(it->id, id) != 0))
			return NULL;
		it->state = OB_SENT;
		it->tries++;
		loop_timer_set(&it->retry, ob_result_ms(), ob_no_result, it);
		return xstrdup(it->frame);
	}
	return NULL;
}

void
outbox_link_up(void)
{
	ob_up = 1;
	ob_pump(NULL);
}

/* Whatever was sent may not have arrived: send it again, same id. */
void
outbox_link_down(void)
{
	struct ob_item *it;

	ob_up = 0;
	loop_timer_cancel(&ob_pump_timer);
	for (it = ob_head; it != NULL; it = it->next)
		if (it->state == OB_SENT) {
			loop_timer_cancel(&it->retry);
			it->state = OB_QUEUED;
		}
}

size_t
outbox_pending(void)
{
	return ob_n;
}

void
outbox_clear(void)
{
	struct ob_item *it, *next;

	for (it = ob_head; it != NULL; it = next) {
		next = it->next;
		loop_timer_cancel(&it->retry);
		free(it->id);
		free(it->frame);
		free(it);
	}
	ob_head = ob_tail = NULL;
	ob_n = 0;
	loop_timer_cancel(&ob_pump_timer);
}
