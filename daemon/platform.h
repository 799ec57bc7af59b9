#ifndef KEFU_PLATFORM_H
#define KEFU_PLATFORM_H

#include <stddef.h>
#include <stdint.h>

#include "kefu/plugin.h"

/*
 * The seam between the core (events, conversations, plugins, outbox,
 * store, timers) and the driver that speaks to one messaging platform
 * (docs/platform.md, "Drivers").  The core sees only this header; a
 * driver sees only the table of core functions it is given at start, so
 * that neither includes the other and a third platform is a new file.
 *
 * Actions go down as JSON objects in kefu's own action format (the "send",
 * "handoff", "close" and "typing" of docs/platform-protocol.md, with their
 * stable "id"); the driver carries each out in its platform's terms and
 * reports its result up.  Events come up as struct kefu_event with a seq
 * the driver numbers from 1 without gaps; the core says which seq is
 * durable, and the driver acknowledges it (or commits its own resume point
 * for it) only then.
 */

struct conf_platform;
struct token;

/* The core, as a driver sees it. */
struct platform_core {
	/* An event; type_name is the platform's name for it (logged when
	 * ev->type is 0, a type this version does not know). */
	void (*event)(const struct kefu_event *ev, const char *type_name);
	/* The result of the action with this id: ok, or failed with code
	 * ("rate_limited", "internal", "no_agents", "invalid",
	 * "unknown_conversation", ...), a message for the log, and for
	 * "rate_limited" when to try again. */
	void (*result)(const char *id, int ok, const char *code,
	    const char *message, int64_t retry_after_ms);
	/* Where the platform resumes on this connection (0: unknown). */
	void (*resume_from)(uint64_t seq);
	/* Connected: acknowledgements may go. */
	void (*up)(void);
	/* The backlog the platform redelivers is in: actions may go. */
	void (*settled)(void);
	/* Disconnected: actions out may not have arrived. */
	void (*down)(void);
	/* The highest seq acknowledged (for the protocol's identify). */
	uint64_t (*acked)(void);
	/* Actions waiting for a result (for the log). */
	size_t (*pending)(void);
	/*
	 * The action queued for conversation right after the one now out,
	 * when it is an op ("send": a driver that joins lines into one
	 * platform message; "handoff": one that sends the line before it
	 * with the transfer), and when id is not NULL that action: taken
	 * (malloc'ed; its result is the driver's to report), or NULL when
	 * the next action is something else.
	 */
	char *(*take_next)(const char *conversation, const char *op,
	    const char *id);
	/* The driver's own state of a conversation, kept with it across
	 * restarts (NULL: none, or no such conversation). */
	const char *(*conv_get)(const char *conversation, const char *key);
	void (*conv_set)(const char *conversation, const char *key,
	    const char *value);
};

struct config_setting_t;

/* A platform driver: one per platform.kind. */
struct platform_driver {
	const char *kind;
	const char *scheme;      /* of platform.url: "wss", "https" */
	const char *default_url; /* NULL: platform.url is required */
	/* Keys of the platform group that are the driver's own. */
	const char *const *keys;
	/*
	 * Loads them from the platform group g at configuration load
	 * (kefud -t too), reporting every problem with conf_report(); the
	 * settings (given to configure in p->settings), NULL for none.
	 */
	void *(
	    *load)(struct conf_platform *p, const struct config_setting_t *g);
	void (*unload)(void *settings);
	/* Whether the platform token is one this driver can use (NULL:
	 * any); says why not.  At load, so kefud -t finds it too. */
	int (*token_ok)(const struct token *tok);
	/*
	 * Applies the platform settings of a new generation (reconnecting
	 * when they changed); takes tok.  Returns -1 when they cannot work
	 * (the reason logged).
	 */
	int (*configure)(const struct conf_platform *p, struct token *tok,
	    const struct platform_core *core);
	void (*stop)(void);
	/*
	 * Carries out an action (JSON text, taken); -1: not now, keep it.
	 * Its result comes later through core->result, never from within
	 * send itself.
	 */
	int (*send)(char *action);
	/* Every effect of the events up to seq is durable: 0 when the
	 * platform was told (or needs no telling), -1 to be asked again
	 * once it is up. */
	int (*ack)(uint64_t seq);
	/* Ready to carry out actions, and what it redelivers is in. */
	int (*settled)(void);
	int (*ready)(void);
	/* How long to wait for an action's result before sending it again. */
	int64_t (*result_wait_ms)(void);
	/* on: do not connect (the state store is not open yet). */
	void (*hold)(int on);
	const char *(*state_name)(void);
	const char *(*shop_name)(void);
	/*
	 * A driver whose platform keeps no position for it (a cursor it
	 * must keep itself): the position that goes with seq, stored by the
	 * core in the same transaction as the effects of the events up to
	 * seq (malloc'ed, NULL: none); and at start, the one last stored.
	 */
	char *(*resume_point)(uint64_t seq);
	void (*restore)(uint64_t seq, const char *resume);
	/*
	 * A request to platform.listen (the platform's callbacks): the
	 * HTTP status, with the answer in *out (malloc'ed) of type *ctype.
	 */
	int (*http)(const char *method, const char *target, const char *body,
	    size_t len, char **out, const char **ctype);
};

extern const struct platform_driver platform_kefu;      /* link.c */
extern const struct platform_driver platform_wechat_kf; /* wxkf.c */

/* The driver for kind, or NULL; the kinds there are, for a message. */
const struct platform_driver *platform_find(const char *kind);
const char *platform_kinds(void);

/*
 * The core's side of the seam: the driver the configuration names, and
 * the core functions handed to it (set once, by main).
 */
void platform_set_core(const struct platform_core *core);
void platform_configure(const struct conf_platform *p, struct token *tok);
void platform_stop(void);
int platform_send(char *action);
int platform_ack(uint64_t seq);
int platform_ready(void);
int platform_settled(void);
int64_t platform_result_wait_ms(void);
void platform_hold(int on);
const char *platform_state_name(void);
const char *platform_shop_name(void);
const char *platform_kind(void);
char *platform_resume_point(uint64_t seq);
int platform_http(const char *method, const char *target, const char *body,
    size_t len, char **out, const char **ctype);
void platform_restore(uint64_t seq, const char *resume);

/* For tests without a platform (the state-machine fuzzer): actions and
 * acks go to fn (which takes the text) instead.  NULL: the driver. */
void platform_set_sink(int (*fn)(char *frame));

#endif
