/*
 * kefu plugin ABI.
 *
 * This is the only header a plugin may include from kefu.  A plugin is a
 * shared object that exports one data symbol, KEFU_PLUGIN_SYMBOL, of type
 * struct kefu_plugin.  The core checks abi_major, abi_minor and size before
 * it calls any plugin function, then calls init() with a host table: every
 * service of the core (logging, configuration, replies, handoffs, storage,
 * the clock) is reached through that table, never by linking against the
 * daemon.
 *
 * Compatibility: structs only grow at the end.  A change that keeps old
 * plugins working bumps KEFU_ABI_MINOR; anything else bumps KEFU_ABI_MAJOR.
 * A plugin built for minor M runs on a core with minor >= M.  Check
 * host->size before using a host function newer than the minor you need.
 */
#ifndef KEFU_PLUGIN_H
#define KEFU_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#define KEFU_ABI_MAJOR 1
#define KEFU_ABI_MINOR 3

#define KEFU_PLUGIN_SYMBOL "kefu_plugin"

/* Opaque to plugins. */
struct kefu_conf; /* a configuration setting (a group, list or scalar) */
struct kefu_turn; /* the handling of one inbound event */

/* Syslog priorities, for host->log(). */
#define KEFU_LOG_ERR 3
#define KEFU_LOG_WARNING 4
#define KEFU_LOG_NOTICE 5
#define KEFU_LOG_INFO 6
#define KEFU_LOG_DEBUG 7

enum kefu_event_type {
	KEFU_EV_OPENED = 1,    /* conversation_opened */
	KEFU_EV_MESSAGE,       /* message: a customer wrote */
	KEFU_EV_AGENT_JOINED,  /* agent_joined */
	KEFU_EV_AGENT_MESSAGE, /* agent_message */
	KEFU_EV_HANDOFF_ENDED, /* handoff_ended */
	KEFU_EV_CLOSED,        /* conversation_closed */
};

/*
 * One inbound event, as the platform sent it.  Members that the event does
 * not carry are NULL (strings) or 0.  Strings are valid UTF-8 and live until
 * the handler returns.
 */
struct kefu_event {
	enum kefu_event_type type;
	uint64_t seq;
	const char *conversation;

	const char *customer_id;
	const char *customer_name;
	int customer_vip;

	const char *message_id;
	const char *message_kind; /* "text", "image", "product", "order" */
	const char *text;         /* "" for a message without text */
	int64_t ts_ms;            /* message time, ms since the epoch */

	const char *product_id; /* message of kind product, or opened */
	const char *product_title;
	const char *product_price;

	const char *order_id; /* message of kind order */
	const char *order_status;
	const char *order_amount;

	const char *agent_id; /* agent_joined, agent_message */
	const char *agent_name;
	const char *by; /* handoff_ended, conversation_closed */
};

/*
 * What a handler tells the core.  Plugins run in the configured order;
 * KEFU_NEXT passes the event on to the next plugin, KEFU_STOP ends the chain
 * for this event.  A plugin that replied usually stops; a plugin that only
 * recognised something (set a note, an intent) passes it on.
 */
enum kefu_verdict {
	KEFU_NEXT = 0,
	KEFU_STOP = 1,
};

/* What the plugins before this one did with the event. */
enum kefu_outcome {
	KEFU_OUTCOME_NONE = 0,
	KEFU_OUTCOME_REPLY,
	KEFU_OUTCOME_HANDOFF,
};

/* Who talks to the customer now (ABI 1.1). */
enum kefu_owner {
	KEFU_OWNER_BOT = 0,
	KEFU_OWNER_WAITING, /* a handoff was asked for */
	KEFU_OWNER_AGENT,
	KEFU_OWNER_CLOSED,
};

struct kefu_host {
	uint32_t abi_major;
	uint32_t abi_minor;
	uint32_t size; /* sizeof(struct kefu_host) of the running core */

	/* Logging; lines are prefixed with the plugin's name. */
	void (*log)(int prio, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));

	/*
	 * Configuration.  name NULL means the setting itself.  The getters
	 * return 1 when the value is there and of the right type, 0 when it
	 * is absent, and -1 when it has the wrong type; they report that
	 * error themselves as "file:line: key: problem".  *out is written
	 * only when they return 1: set it to the default first.
	 */
	const struct kefu_conf *(
	    *conf_member)(const struct kefu_conf *c, const char *name);
	int (*conf_string)(const struct kefu_conf *c, const char *name,
	    const char **out);
	int (*conf_int)(const struct kefu_conf *c, const char *name,
	    long long *out);
	int (*conf_bool)(const struct kefu_conf *c, const char *name, int *out);
	int (*conf_length)(const struct kefu_conf *c); /* list or array */
	const struct kefu_conf *(*conf_elem)(const struct kefu_conf *c, int i);
	/* Relative paths resolve against the main configuration file. */
	int (*conf_path)(const struct kefu_conf *c, const char *name, char *buf,
	    size_t len);
	/* Reports "file:line: key: message" and counts one error. */
	void (*conf_error)(const struct kefu_conf *c, const char *name,
	    const char *fmt, ...) __attribute__((format(printf, 3, 4)));
	/* Reports every member of group c not in the NULL-ended list. */
	int (*conf_check_keys)(const struct kefu_conf *c,
	    const char *const *known);
	/* A separate libconfig file (a knowledge base); NULL on error. */
	const struct kefu_conf *(*conf_load)(const char *path);
	void (*conf_free)(const struct kefu_conf *root);

	/* Wall clock in ms since the epoch (controllable in tests). */
	int64_t (*now_ms)(void);

	/* Actions for the turn's conversation.  0 on success, -1 refused. */
	int (*reply)(struct kefu_turn *t, const char *text);
	int (*handoff)(struct kefu_turn *t, const char *reason,
	    const char *summary);
	enum kefu_outcome (*outcome)(const struct kefu_turn *t);

	/* Notes: how one plugin informs the next ones within a turn. */
	int (
	    *note_set)(struct kefu_turn *t, const char *key, const char *value);
	const char *(*note_get)(const struct kefu_turn *t, const char *key);

	/*
	 * Per-conversation storage of this plugin, kept by the core: it
	 * survives a reload and is private to the plugin's name.
	 */
	int (*store_set)(struct kefu_turn *t, const char *key,
	    const char *value);
	const char *(*store_get)(const struct kefu_turn *t, const char *key);

	/* The read-only view of the conversation. */
	unsigned (*conv_turns)(const struct kefu_turn *t); /* events seen */

	/* ABI 1.1: the conversation, kept by the core. */
	enum kefu_owner (*owner)(const struct kefu_turn *t);
	/* What the bot recognised; it goes to the agent with a handoff. */
	int (*intent_add)(struct kefu_turn *t, const char *intent);
	int (*entity_set)(struct kefu_turn *t, const char *key,
	    const char *value);
	/* "product" falls back to the product page the customer came from;
	 * "order_id" is set by the core from an order message. */
	const char *(*entity_get)(const struct kefu_turn *t, const char *key);
	/* The last lines, oldest first; from is 'c', 'b' or 'a'.  Outputs
	 * the caller does not want may be NULL. */
	unsigned (*history_len)(const struct kefu_turn *t);
	int (*history_get)(const struct kefu_turn *t, unsigned i, char *from,
	    const char **text, int64_t *ts_ms);
	/*
	 * The reply asks the customer something: if they go silent the core
	 * follows up.  A reply ending in "?" or "？" counts as asking too.
	 */
	void (*ask)(struct kefu_turn *t);
	/* The shop's name, as the platform gave it ("" before that). */
	const char *(*shop_name)(void);
	/* The business calendar, in the configured time zone; times are ms
	 * since the epoch (host->now_ms()). */
	int (*on_duty)(int64_t now_ms);          /* are agents working now? */
	int64_t (*next_duty_ms)(int64_t now_ms); /* now when on duty */
	const char *(*daypart)(int64_t now_ms); /* 早上 中午 下午 晚上 */
	/* A festive holiday to greet ("国庆节"), or NULL: 清明节 is not. */
	const char *(*holiday)(int64_t now_ms);
	/*
	 * The style guard: NULL when text may go to a customer as it is,
	 * else the word that breaks a rule.  Every reply passes the guard
	 * anyway; plugins use this to check their templates and knowledge
	 * bases when they load.
	 */
	const char *(*guard_term)(const char *text);
	/*
	 * The normal form of a customer's text for matching: half width,
	 * lower case, simplified characters, no punctuation or emoji.
	 * Returns its length; out always ends with a NUL.
	 */
	size_t (*normalise)(const char *in, char *out, size_t len);
	/* Conversations in memory now, by owner; -1: how many began in the
	 * last ten minutes (how busy the shop is, not how many are kept). */
	unsigned (*live_conversations)(int owner);

	/*
	 * ABI 1.2.  Withdraws the replies earlier plugins made in this turn
	 * (only those of the named plugin; NULL: all), so that a plugin that
	 * knows better overrules them: the escalation plugin replaces an FAQ
	 * answer to a complaint with the handoff.  Returns how many.
	 */
	int (*retract)(struct kefu_turn *t, const char *plugin);
	/*
	 * This turn's handoff goes levels above the priority its reason is
	 * routed to (handoff.routes), up to urgent: a complaint about an
	 * order.  VIP customers are raised by the core itself.
	 */
	void (*raise)(struct kefu_turn *t, int levels);

	/*
	 * ABI 1.3.  Hard cases decide before answers.  In the detection pass
	 * (kefu_plugin.detect, run for every plugin before any handler) a
	 * plugin claims the turn for a case that only a person should take
	 * (reason: "complaint", "angry", "human_request" ...).  Then the
	 * claiming plugin's handler runs first, and no other plugin may
	 * reply in that turn, whatever the order of the chain: a complaint
	 * about a refund never gets the knowledge base's refund procedure.
	 * The first claim stands; returns 0, or -1 when the turn was claimed
	 * already or this is not the detection pass.
	 */
	int (*claim)(struct kefu_turn *t, const char *reason);
	/* The turn's claim: its reason, and who made it; NULL when none. */
	const char *(*claimed)(const struct kefu_turn *t, const char **plugin);
	/*
	 * The customer's question could not be answered, or only with a list
	 * to choose from: the core keeps it (text, conversation, time and
	 * these candidates, such as "size-chart 0.62,exchange 0.55") for
	 * `kefuctl unanswered`, so the shop learns what to add.
	 */
	void (*unanswered)(struct kefu_turn *t, const char *candidates);
	/*
	 * Figures about the plugin's own state (a calibration), shown by
	 * `kefud -t` and `kefuctl stats`; a NULL value removes the key.  Only
	 * from init().
	 */
	void (*info_set)(const char *key, const char *value);
};

struct kefu_plugin {
	uint32_t abi_major; /* KEFU_ABI_MAJOR */
	uint32_t abi_minor; /* KEFU_ABI_MINOR */
	uint32_t size;      /* sizeof(struct kefu_plugin) */
	const char *name;
	const char *version;

	/*
	 * Builds private state from the plugin's configuration section
	 * (NULL when the configuration has none).  Returns 0, or -1 after
	 * reporting why through host->log or host->conf_error.
	 */
	int (*init)(const struct kefu_host *host, const struct kefu_conf *conf,
	    void **state);
	/* Must not block.  May be NULL for a timer-only plugin. */
	enum kefu_verdict (*handle)(void *state, struct kefu_turn *t,
	    const struct kefu_event *ev);
	uint32_t timer_ms; /* 0: no timer */
	void (*timer)(void *state);
	void (*fini)(void *state); /* cannot fail; may be NULL */

	/*
	 * ABI 1.3, may be NULL: the detection pass.  Every plugin's detect
	 * runs, in chain order, before any handler; it may read the event,
	 * set notes and claim the turn (host->claim), but not reply.
	 */
	void (*detect)(void *state, struct kefu_turn *t,
	    const struct kefu_event *ev);
};

#define KEFU_PLUGIN_EXPORT                                                     \
	__attribute__((visibility("default")))                                 \
	const struct kefu_plugin kefu_plugin

#endif
