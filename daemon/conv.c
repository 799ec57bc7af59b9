#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "conv.h"
#include "log.h"
#include "xmalloc.h"

#define CONV_BUCKETS 16384

static struct conv *conv_table[CONV_BUCKETS];
/* Which buckets hold a conversation: a pass over all of them skips the
 * empty ones 64 at a time (an idle kefud holds few). */
static uint64_t conv_used[CONV_BUCKETS / 64];
static unsigned conv_n;
static unsigned conv_hist = 20;
static struct conv *conv_dirty;
static void (*conv_touch_hook)(struct conv *);

_Static_assert((int)CONV_WAITING == (int)KEFU_OWNER_WAITING &&
        (int)CONV_AGENT == (int)KEFU_OWNER_AGENT &&
        (int)CONV_CLOSED == (int)KEFU_OWNER_CLOSED,
    "conv_owner and kefu_owner must agree");

static const char *const conv_owners[] = {"bot", "waiting", "agent", "closed"};

void
conv_configure(unsigned history)
{
	conv_hist = history < 20 ? 20 : history;
}

unsigned
conv_history(void)
{
	return conv_hist;
}

const char *
conv_owner_name(enum conv_owner o)
{
	return o <= CONV_CLOSED ? conv_owners[o] : "?";
}

int
conv_owner_parse(const char *name)
{
	int i;

	for (i = 0; i <= CONV_CLOSED; i++)
		if (strcmp(conv_owners[i], name) == 0)
			return i;
	return -1;
}

uint32_t
conv_hash(const char *s)
{
	uint32_t h = 2166136261u; /* FNV-1a */

	while (*s != '\0')
		h = (h ^ (uint8_t)*s++) * 16777619u;
	return h;
}

struct conv *
conv_insert(const char *id)
{
	size_t i = conv_hash(id) % CONV_BUCKETS;
	struct conv **b = &conv_table[i], *c;

	c = xcalloc(1, sizeof(*c));
	c->id = xstrdup(id);
	c->next = *b;
	*b = c;
	conv_used[i / 64] |= (uint64_t)1 << (i % 64);
	conv_n++;
	/* Its state is filled in by the caller before the hook's timer
	 * fires (the loop's next turn). */
	if (conv_touch_hook != NULL)
		conv_touch_hook(c);
	return c;
}

struct conv *
conv_get(const char *id, int create)
{
	struct conv *c;

	for (c = conv_table[conv_hash(id) % CONV_BUCKETS]; c != NULL;
	     c = c->next)
		if (strcmp(c->id, id) == 0)
			return c;
	if (!create)
		return NULL;
	conv_started(clock_wall_ms());
	return conv_insert(id);
}

/* Conversations begun, per minute, over the last CONV_RECENT_MIN. */
#define CONV_RECENT_MIN 10
static struct {
	int64_t minute;
	unsigned n;
} conv_recent[CONV_RECENT_MIN];

void
conv_started(int64_t now)
{
	int64_t m = now / 60000;
	unsigned i = (unsigned)(m % CONV_RECENT_MIN);

	if (conv_recent[i].minute != m) {
		conv_recent[i].minute = m;
		conv_recent[i].n = 0;
	}
	conv_recent[i].n++;
}

unsigned
conv_count_recent(int64_t now)
{
	int64_t m = now / 60000;
	unsigned n = 0, i;

	for (i = 0; i < CONV_RECENT_MIN; i++)
		if (conv_recent[i].minute > m - CONV_RECENT_MIN &&
		    conv_recent[i].minute <= m)
			n += conv_recent[i].n;
	return n;
}

/*
 * Line texts are kept once however many conversations hold them: most of
 * what the bot says is the same few welcomes and answers, and with 10,000
 * conversations of 20 lines a copy of each in each was most of kefud's
 * memory.  Each text is counted, and freed with its last line.
 */
struct conv_text {
	struct conv_text *next;
	uint32_t hash;
	unsigned refs;
	char s[];
};

static struct {
	struct conv_text **b;
	size_t cap, n;
} CT;

static struct conv_text *
conv_text_head(const char *s)
{
	return (struct conv_text *)(void *)(s - offsetof(struct conv_text, s));
}

static void
conv_text_grow(void)
{
	struct conv_text **b, *t, *next;
	size_t cap = CT.cap > 0 ? CT.cap * 2 : 1024, i;

	b = xcalloc(cap, sizeof(*b));
	for (i = 0; i < CT.cap; i++)
		for (t = CT.b[i]; t != NULL; t = next) {
			next = t->next;
			t->next = b[t->hash & (cap - 1)];
			b[t->hash & (cap - 1)] = t;
		}
	free(CT.b);
	CT.b = b;
	CT.cap = cap;
}

static const char *
conv_text_get(const char *s)
{
	uint32_t h = conv_hash(s);
	struct conv_text *t;
	size_t len;

	if (CT.n >= CT.cap)
		conv_text_grow();
	for (t = CT.b[h & (CT.cap - 1)]; t != NULL; t = t->next)
		if (t->hash == h && strcmp(t->s, s) == 0) {
			t->refs++;
			return t->s;
		}
	len = strlen(s);
	t = xcalloc(1, sizeof(*t) + len + 1);
	memcpy(t->s, s, len + 1);
	t->hash = h;
	t->refs = 1;
	t->next = CT.b[h & (CT.cap - 1)];
	CT.b[h & (CT.cap - 1)] = t;
	CT.n++;
	return t->s;
}

static void
conv_text_put(const char *s)
{
	struct conv_text *t, **p;

	if (s == NULL || --(t = conv_text_head(s))->refs > 0)
		return;
	for (p = &CT.b[t->hash & (CT.cap - 1)]; *p != t; p = &(*p)->next)
		;
	*p = t->next;
	CT.n--;
	free(t);
}

static void
conv_destroy(struct conv *c)
{
	unsigned i;

	loop_timer_cancel(&c->timer);
	for (i = 0; i < c->hist_len; i++)
		conv_text_put(c->hist[(c->hist_head + i) % c->hist_cap].text);
	free(c->hist);
	kv_free(&c->store);
	kv_free(&c->entities);
	kv_free(&c->intents);
	free(c->customer_id);
	free(c->customer_name);
	free(c->product);
	free(c->id);
	free(c);
}

static void
conv_unlink_dirty(struct conv *c)
{
	struct conv **p;

	for (p = &conv_dirty; *p != NULL; p = &(*p)->dirty_next)
		if (*p == c) {
			*p = c->dirty_next;
			break;
		}
}

void
conv_forget(struct conv *c)
{
	size_t i = conv_hash(c->id) % CONV_BUCKETS;
	struct conv **p = &conv_table[i];

	for (; *p != NULL; p = &(*p)->next)
		if (*p == c) {
			*p = c->next;
			break;
		}
	if (conv_table[i] == NULL)
		conv_used[i / 64] &= ~((uint64_t)1 << (i % 64));
	if (c->dirty)
		conv_unlink_dirty(c);
	conv_n--;
	conv_destroy(c);
}

/* The first bucket from i on (before end) that holds a conversation, or
 * end. */
static size_t
conv_next_used(size_t i, size_t end)
{
	uint64_t w;

	while (i < end) {
		w = conv_used[i / 64] >> (i % 64);
		if (w == 0) {
			i = (i / 64 + 1) * 64;
			continue;
		}
		i += (size_t)__builtin_ctzll(w);
		return i < end ? i : end;
	}
	return end;
}

void
conv_free_all(void)
{
	struct conv *c, *next;
	size_t i;

	for (i = conv_next_used(0, CONV_BUCKETS); i < CONV_BUCKETS;
	     i = conv_next_used(i + 1, CONV_BUCKETS)) {
		for (c = conv_table[i]; c != NULL; c = next) {
			next = c->next;
			conv_destroy(c);
		}
		conv_table[i] = NULL;
	}
	memset(conv_used, 0, sizeof(conv_used));
	conv_n = 0;
	conv_dirty = NULL;
}

unsigned
conv_count(void)
{
	return conv_n;
}

void
conv_foreach(void (*fn)(struct conv *, void *), void *arg)
{
	struct conv *c, *next;
	size_t i;

	for (i = conv_next_used(0, CONV_BUCKETS); i < CONV_BUCKETS;
	     i = conv_next_used(i + 1, CONV_BUCKETS))
		for (c = conv_table[i]; c != NULL; c = next) {
			next = c->next; /* fn may forget c */
			fn(c, arg);
		}
}

static void
conv_count1(struct conv *c, void *arg)
{
	unsigned *n = arg;

	if ((int)c->owner == (int)n[1])
		n[0]++;
}

unsigned
conv_count_owner(enum conv_owner o)
{
	unsigned n[2] = {0, o};

	conv_foreach(conv_count1, n);
	return n[0];
}

void
conv_clean(struct conv *c)
{
	if (c->dirty)
		conv_unlink_dirty(c);
	c->dirty = 0;
}

void
conv_set_touch_hook(void (*fn)(struct conv *))
{
	conv_touch_hook = fn;
}

void
conv_touch(struct conv *c)
{
	if (!c->dirty) {
		c->dirty = 1;
		c->dirty_next = conv_dirty;
		conv_dirty = c;
	}
	if (conv_touch_hook != NULL)
		conv_touch_hook(c);
}

struct conv *
conv_take_dirty(void)
{
	struct conv *list = conv_dirty, *c;

	for (c = list; c != NULL; c = c->dirty_next)
		c->dirty = 0;
	conv_dirty = NULL;
	return list;
}

/* The ring at the size now configured, keeping its newest lines. */
static void
conv_resize(struct conv *c)
{
	struct conv_line *n = xcalloc(conv_hist, sizeof(*n));
	unsigned i,
	    drop = c->hist_len > conv_hist ? c->hist_len - conv_hist : 0;

	for (i = 0; i < c->hist_len; i++) {
		struct conv_line *l =
		    &c->hist[(c->hist_head + i) % c->hist_cap];

		if (i < drop)
			conv_text_put(l->text);
		else
			n[i - drop] = *l;
	}
	free(c->hist);
	c->hist = n;
	c->hist_cap = conv_hist;
	c->hist_head = 0;
	c->hist_len -= drop;
}

void
conv_add_line(struct conv *c, char from, const char *text, int64_t ts)
{
	struct conv_line *l;

	if (c->hist == NULL) {
		c->hist = xcalloc(conv_hist, sizeof(*c->hist));
		c->hist_cap = conv_hist;
	} else if (c->hist_cap != conv_hist)
		conv_resize(c);
	if (c->hist_len == c->hist_cap) {
		l = &c->hist[c->hist_head];
		conv_text_put(l->text);
		c->hist_head = (c->hist_head + 1) % c->hist_cap;
		c->hist_len--;
	}
	l = &c->hist[(c->hist_head + c->hist_len++) % c->hist_cap];
	l->ts = ts;
	l->from = from;
	l->text = conv_text_get(text);
	c->lines++;
	conv_touch(c);
}

const struct conv_line *
conv_line(const struct conv *c, unsigned i)
{
	if (i >= c->hist_len)
		return NULL;
	return &c->hist[(c->hist_head + i) % c->hist_cap];
}

static void
conv_set(char **dst, const char *v)
{
	if (v != NULL && (*dst == NULL || strcmp(*dst, v) != 0)) {
		free(*dst);
		*dst = xstrdup(v);
	}
}

static void
conv_owner_set(struct conv *c, enum conv_owner o)
{
	if (c->owner != o)
		log_info("conversation %s: %s -> %s", c->id,
		    conv_owner_name(c->owner), conv_owner_name(o));
	c->owner = o;
	if (o != CONV_WAITING) {
		c->waiting_since = 0;
		c->wait_due = 0;
		c->wait_updates = 0;
		kv_set(&c->store, CONV_PENDING, NULL);
	}
	if (o != CONV_BOT) {
		c->asked_ms = 0;
		c->followups = 0;
	}
}

/* What a customer's message looks like in the transcript. */
static const char *
conv_text_of(const struct kefu_event *ev)
{
	if (ev->text != NULL && *ev->text != '\0')
		return ev->text;
	if (ev->product_title != NULL)
		return ev->product_title;
	if (ev->order_id != NULL)
		return ev->order_id;
	return ev->message_kind != NULL ? ev->message_kind : "";
}

int
conv_apply(struct conv *c, const struct kefu_event *ev, int64_t now)
{
	int64_t ts = ev->ts_ms ? ev->ts_ms : now;

	c->events++;
	c->last_ms = now;
	conv_set(&c->customer_id, ev->customer_id);
	conv_set(&c->customer_name, ev->customer_name);
	if (ev->customer_id != NULL)
		c->vip = ev->customer_vip;
	conv_touch(c);
	switch (ev->type) {
	case KEFU_EV_OPENED:
		if (c->owner == CONV_CLOSED)
			conv_owner_set(c, CONV_BOT);
		conv_set(&c->product, ev->product_title);
		return c->owner == CONV_BOT;
	case KEFU_EV_MESSAGE:
		if (c->owner == CONV_CLOSED)
			conv_owner_set(c,
			    CONV_BOT); /* the customer came back */
		conv_add_line(c, 'c', conv_text_of(ev), ts);
		if (ev->product_title != NULL)
			conv_set(&c->product, ev->product_title);
		if (ev->order_id != NULL && *ev->order_id != '\0')
			kv_set(&c->entities, "order_id", ev->order_id);
		c->asked_ms = 0; /* answered: no follow-ups */
		c->followups = 0;
		return c->owner == CONV_BOT;
	case KEFU_EV_AGENT_JOINED:
		if (c->owner != CONV_CLOSED)
			conv_owner_set(c, CONV_AGENT);
		return 0;
	case KEFU_EV_AGENT_MESSAGE:
		conv_add_line(c, 'a', conv_text_of(ev), ts);
		if (c->owner == CONV_BOT || c->owner == CONV_WAITING)
			conv_owner_set(c, CONV_AGENT);
		return 0;
	case KEFU_EV_HANDOFF_ENDED:
		if (c->owner != CONV_CLOSED)
			conv_owner_set(c, CONV_BOT); /* quietly: no greeting */
		return 0;
	case KEFU_EV_CLOSED:
		conv_owner_set(c, CONV_CLOSED);
		return 0;
	}
	return 0;
}

void
conv_close(struct conv *c)
{
	conv_owner_set(c, CONV_CLOSED);
	conv_touch(c);
}

void
conv_handoff(struct conv *c, int64_t now)
{
	char base[16];

	if (c->owner != CONV_BOT)
		return;
	conv_owner_set(c, CONV_WAITING);
	/* Asked again while a refused handoff waits for duty hours: the
	 * customer has been waiting since the first time. */
	if (kv_get(&c->store, CONV_PENDING) == NULL || c->waiting_since == 0)
		c->waiting_since = now;
	kv_set(&c->store, CONV_PENDING, NULL);
	c->wait_due = 0;
	/* The updates said so far (a night of no-agents ones, say) do not
	 * count against this wait's limit; the counter goes on, so that
	 * the updates' ids stay new. */
	snprintf(base, sizeof(base), "%u", c->wait_updates);
	kv_set(&c->store, CONV_WAIT_BASE, base);
	conv_touch(c);
}

void
conv_handoff_refused(struct conv *c, const char *pending)
{
	int64_t since = c->waiting_since;

	conv_owner_set(c, CONV_BOT);
	c->waiting_since = since;
	c->wait_due = 0;
	kv_set(&c->store, CONV_PENDING, pending);
	conv_touch(c);
}
