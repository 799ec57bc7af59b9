#ifndef KEFU_TURN_H
#define KEFU_TURN_H

#include "conv.h"
#include "kefu/plugin.h"
#include "kv.h"

#define TURN_MAX_ACTIONS 8
#define TURN_TEXT_MAX 2000 /* characters, the platform's limit */

enum turn_kind {
	TURN_REPLY = 1,
	TURN_HANDOFF,
};

struct turn_action {
	enum turn_kind kind;
	char *plugin; /* who asked for it */
	char *text;   /* reply */
	char *reason; /* handoff */
	char *summary;
};

/* The handling of one inbound event: what the plugin chain decided. */
struct kefu_turn {
	struct conv *conv;
	const struct kefu_event *ev;
	struct turn_action act[TURN_MAX_ACTIONS];
	int nact;
	enum kefu_outcome outcome;
	struct kv notes;
	int asked;     /* a plugin said its reply asks something */
	int raise;     /* levels above the route's priority for a handoff */
	int detecting; /* the detection pass runs */
	char *claim;   /* a hard case: the reason claimed ... */
	char *claim_plugin; /* ... and the plugin that claimed it */
	char *unanswered;   /* a plugin could not answer: its candidates */
	int unanswered_set;
};

void turn_begin(struct kefu_turn *t, struct conv *c,
    const struct kefu_event *ev);
void turn_end(struct kefu_turn *t);

/* The host functions behind include/kefu/plugin.h. */
int turn_reply(struct kefu_turn *t, const char *text);
int turn_handoff(struct kefu_turn *t, const char *reason, const char *summary);
enum kefu_outcome turn_outcome(const struct kefu_turn *t);
int turn_retract(struct kefu_turn *t, const char *plugin);
void turn_raise(struct kefu_turn *t, int levels);
int turn_note_set(struct kefu_turn *t, const char *key, const char *value);
const char *turn_note_get(const struct kefu_turn *t, const char *key);
int turn_store_set(struct kefu_turn *t, const char *key, const char *value);
const char *turn_store_get(const struct kefu_turn *t, const char *key);
unsigned turn_conv_events(const struct kefu_turn *t);
enum kefu_owner turn_owner(const struct kefu_turn *t);
int turn_intent_add(struct kefu_turn *t, const char *intent);
int turn_entity_set(struct kefu_turn *t, const char *key, const char *value);
const char *turn_entity_get(const struct kefu_turn *t, const char *key);
unsigned turn_history_len(const struct kefu_turn *t);
int turn_history_get(const struct kefu_turn *t, unsigned i, char *from,
    const char **text, int64_t *ts_ms);
void turn_ask(struct kefu_turn *t);
int turn_claim(struct kefu_turn *t, const char *reason);
const char *turn_claimed(const struct kefu_turn *t, const char **plugin);
void turn_unanswered(struct kefu_turn *t, const char *candidates);

#endif
