#ifndef KEFU_CONV_H
#define KEFU_CONV_H

#include <stdint.h>

#include "kefu/plugin.h"
#include "kv.h"
#include "loop.h"

/*
 * A conversation, owned by the core so that it outlives any plugin
 * generation and, through the store, any process.  Plugins see it only
 * through the host table.
 *
 * Owner: bot -> waiting (a handoff was asked for) -> agent (agent_joined)
 * -> bot (handoff_ended); any -> closed.  Only while the bot owns it do the
 * plugins run; while a customer waits or talks to an agent, nothing but the
 * core's wait updates reaches them.
 */
enum conv_owner {
	CONV_BOT = 0,
	CONV_WAITING,
	CONV_AGENT,
	CONV_CLOSED,
};

struct conv_line {
	int64_t ts;
	char from;        /* 'c' customer, 'b' bot, 'a' agent */
	const char *text; /* shared with other lines (conv.c): never freed */
};

struct conv {
	char *id;
	enum conv_owner owner;
	char *customer_id;
	char *customer_name;
	int vip;
	char *product;   /* the product page the customer came from */
	unsigned events; /* inbound events handled */
	unsigned bot_turns;
	int64_t last_ms;       /* last activity, wall clock */
	int64_t waiting_since; /* owner waiting: since when */
	/* Service timers (wall clock ms; 0 is off). */
	int64_t wait_due;
	unsigned wait_updates;
	int64_t asked_ms; /* the bot asked and the customer has not answered */
	/* Flood control, in memory only: messages in the minute from
	 * flood_start, and the end of a cool-down. */
	int64_t flood_start, flood_until;
	unsigned flood_n;
	unsigned followups;
	/* The last lines, a ring of hist_cap entries: conv_history() when it
	 * was made, resized on the next line after a reload changed it. */
	struct conv_line *hist;
	unsigned hist_len, hist_head, hist_cap;
	unsigned lines;       /* lines ever added */
	unsigned saved_lines; /* lines in the store */
	struct kv store;      /* "plugin\x1fkey" -> value */
	struct kv entities;
	struct kv intents; /* intent -> "" (a set, in order of arrival) */
	int dirty;
	int writing;             /* in a batch the store is writing */
	struct conv *next;       /* hash chain */
	struct conv *dirty_next; /* list of changed conversations */
	struct loop_timer timer; /* its service timers' (timers.c) */
};

/* Lines of history kept per conversation (at least 20). */
void conv_configure(unsigned history);
unsigned conv_history(void);
/* FNV-1a of a conversation id: its hash bucket, the outbox's key. */
uint32_t conv_hash(const char *id);
/* A conversation new to kefud began (not one loaded from the store). */
void conv_started(int64_t now);
/* How many began in the last ten minutes: how busy the shop is now. */
unsigned conv_count_recent(int64_t now);

struct conv *conv_get(const char *id, int create);
/* A new conversation with its stored state (the store calls it). */
struct conv *conv_insert(const char *id);
void conv_forget(struct conv *c); /* out of memory; stays in the store */
void conv_free_all(void);
unsigned conv_count(void);
unsigned conv_count_owner(enum conv_owner o);
void conv_foreach(void (*fn)(struct conv *, void *), void *arg);

/*
 * Applies an event to the owner state machine and the transcript; returns
 * 1 when the plugins should see it (the bot owns the conversation).
 */
int conv_apply(struct conv *c, const struct kefu_event *ev, int64_t now);
void conv_add_line(struct conv *c, char from, const char *text, int64_t ts);
const struct conv_line *conv_line(const struct conv *c, unsigned i);
/* A handoff was asked for: the bot stops talking. */
void conv_handoff(struct conv *c, int64_t now);
/*
 * The platform had no agent (no_agents): the bot keeps the conversation,
 * waiting_since stays, and pending (the handoff to ask for again, JSON)
 * is kept in the store under CONV_PENDING until it is asked for again,
 * the conversation closes or an agent hands it back.
 */
#define CONV_PENDING "core\x1fhandoff"
/* wait_updates when this wait for an agent began. */
#define CONV_WAIT_BASE "core\x1fwait_base"
void conv_handoff_refused(struct conv *c, const char *pending);
/* The bot closed it (a silent customer). */
void conv_close(struct conv *c);
const char *conv_owner_name(enum conv_owner o);
int conv_owner_parse(const char *name);

/* Changed since the last conv_take_dirty(). */
void conv_touch(struct conv *c);
/* fn(c) on each conv_touch(c) and each conversation new in memory. */
void conv_set_touch_hook(void (*fn)(struct conv *));
struct conv *conv_take_dirty(void);
/* Not changed after all (just loaded from the store). */
void conv_clean(struct conv *c);

#endif
