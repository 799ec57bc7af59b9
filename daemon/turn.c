#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "plugin.h"
#include "turn.h"
#include "utf8.h"
#include "xmalloc.h"

void
turn_begin(struct kefu_turn *t, struct conv *c, const struct kefu_event *ev)
{
	memset(t, 0, sizeof(*t));
	t->conv = c;
	t->ev = ev;
}

void
turn_end(struct kefu_turn *t)
{
	int i;

	for (i = 0; i < t->nact; i++) {
		free(t->act[i].plugin);
		free(t->act[i].text);
		free(t->act[i].reason);
		free(t->act[i].summary);
	}
	kv_free(&t->notes);
	free(t->claim);
	free(t->claim_plugin);
	free(t->unanswered);
	memset(t, 0, sizeof(*t));
}

static struct turn_action *
turn_add(struct kefu_turn *t, enum turn_kind kind)
{
	struct turn_action *a;
	const char *who = plugin_current();

	if (t->nact == TURN_MAX_ACTIONS) {
		log_warnx(
		    "conversation %s: more than %d actions for one event; refused",
		    t->conv->id, TURN_MAX_ACTIONS);
		return NULL;
	}
	a = &t->act[t->nact++];
	memset(a, 0, sizeof(*a));
	a->kind = kind;
	a->plugin = xstrdup(who != NULL ? who : "core");
	return a;
}

int
turn_reply(struct kefu_turn *t, const char *text)
{
	struct turn_action *a;
	long n;

	if (text == NULL || (n = utf8_count(text, strlen(text))) < 1 ||
	    n > TURN_TEXT_MAX) {
		log_warnx(
		    "conversation %s: reply refused: text must be 1 to %d characters of valid UTF-8",
		    t->conv->id, TURN_TEXT_MAX);
		return -1;
	}
	/* A claimed turn is the claimant's: nobody answers over a hard
	 * case, whatever the order of the chain. */
	if (t->detecting ||
	    (t->claim_plugin != NULL &&
	        (plugin_current() == NULL ||
	            strcmp(plugin_current(), t->claim_plugin) != 0))) {
		log_debug("conversation %s: reply from %s refused: %s",
		    t->conv->id,
		    plugin_current() != NULL ? plugin_current() : "core",
		    t->detecting ? "the detection pass only looks"
		                 : "the turn is claimed for a hard case");
		return -1;
	}
	if ((a = turn_add(t, TURN_REPLY)) == NULL)
		return -1;
	a->text = xstrdup(text);
	if (t->outcome == KEFU_OUTCOME_NONE)
		t->outcome = KEFU_OUTCOME_REPLY;
	return 0;
}

int
turn_handoff(struct kefu_turn *t, const char *reason, const char *summary)
{
	struct turn_action *a;

	if (reason == NULL || *reason == '\0') {
		log_warnx("conversation %s: handoff refused: no reason",
		    t->conv->id);
		return -1;
	}
	if ((a = turn_add(t, TURN_HANDOFF)) == NULL)
		return -1;
	a->reason = xstrdup(reason);
	a->summary = xstrdup(summary != NULL ? summary : "");
	t->outcome = KEFU_OUTCOME_HANDOFF;
	return 0;
}

enum kefu_outcome
turn_outcome(const struct kefu_turn *t)
{
	return t->outcome;
}

/* Withdraws the replies of plugin (NULL: of every plugin) so far. */
int
turn_retract(struct kefu_turn *t, const char *plugin)
{
	int i, j, n = 0;

	for (i = j = 0; i < t->nact; i++) {
		struct turn_action *a = &t->act[i];

		if (a->kind == TURN_REPLY &&
		    (plugin == NULL || strcmp(a->plugin, plugin) == 0)) {
			free(a->plugin);
			free(a->text);
			n++;
			continue;
		}
		t->act[j++] = *a;
	}
	t->nact = j;
	if (t->outcome == KEFU_OUTCOME_REPLY) {
		for (i = 0; i < t->nact && t->act[i].kind != TURN_REPLY; i++)
			;
		if (i == t->nact)
			t->outcome = KEFU_OUTCOME_NONE;
	}
	return n;
}

void
turn_raise(struct kefu_turn *t, int levels)
{
	if (levels > 0)
		t->raise += levels;
}

int
turn_note_set(struct kefu_turn *t, const char *key, const char *value)
{
	return kv_set(&t->notes, key, value);
}

const char *
turn_note_get(const struct kefu_turn *t, const char *key)
{
	return kv_get(&t->notes, key);
}

/* A plugin's keys are kept apart by prefixing its name. */
static int
turn_store_key(char *buf, size_t len, const char *key)
{
	const char *who = plugin_current();
	int n = snprintf(buf, len, "%s\x1f%s", who != NULL ? who : "core", key);

	return n < 0 || (size_t)n >= len ? -1 : 0;
}

int
turn_store_set(struct kefu_turn *t, const char *key, const char *value)
{
	char k[256];

	if (turn_store_key(k, sizeof(k), key) < 0)
		return -1;
	conv_touch(t->conv);
	return kv_set(&t->conv->store, k, value);
}

const char *
turn_store_get(const struct kefu_turn *t, const char *key)
{
	char k[256];

	if (turn_store_key(k, sizeof(k), key) < 0)
		return NULL;
	return kv_get(&t->conv->store, k);
}

unsigned
turn_conv_events(const struct kefu_turn *t)
{
	return t->conv->events;
}

enum kefu_owner
turn_owner(const struct kefu_turn *t)
{
	return (enum kefu_owner)t->conv->owner;
}

int
turn_intent_add(struct kefu_turn *t, const char *intent)
{
	if (intent == NULL || *intent == '\0')
		return -1;
	conv_touch(t->conv);
	return kv_set(&t->conv->intents, intent, "");
}

int
turn_entity_set(struct kefu_turn *t, const char *key, const char *value)
{
	if (key == NULL || *key == '\0')
		return -1;
	conv_touch(t->conv);
	return kv_set(&t->conv->entities, key, value);
}

const char *
turn_entity_get(const struct kefu_turn *t, const char *key)
{
	const char *v = kv_get(&t->conv->entities, key);

	/* The product page the customer came from, unless a plugin knows
	 * better. */
	if (v == NULL && strcmp(key, "product") == 0)
		v = t->conv->product;
	return v;
}

unsigned
turn_history_len(const struct kefu_turn *t)
{
	return t->conv->hist_len;
}

int
turn_history_get(const struct kefu_turn *t, unsigned i, char *from,
    const char **text, int64_t *ts_ms)
{
	const struct conv_line *l = conv_line(t->conv, i);

	if (l == NULL)
		return -1;
	if (from != NULL)
		*from = l->from;
	if (text != NULL)
		*text = l->text;
	if (ts_ms != NULL)
		*ts_ms = l->ts;
	return 0;
}

void
turn_ask(struct kefu_turn *t)
{
	t->asked = 1;
}

int
turn_claim(struct kefu_turn *t, const char *reason)
{
	const char *who = plugin_current();

	if (!t->detecting || t->claim != NULL || reason == NULL ||
	    *reason == '\0' || who == NULL)
		return -1;
	t->claim = xstrdup(reason);
	t->claim_plugin = xstrdup(who);
	return 0;
}

const char *
turn_claimed(const struct kefu_turn *t, const char **plugin)
{
	if (plugin != NULL)
		*plugin = t->claim_plugin;
	return t->claim;
}

void
turn_unanswered(struct kefu_turn *t, const char *candidates)
{
	free(t->unanswered);
	t->unanswered = candidates != NULL ? xstrdup(candidates) : NULL;
	t->unanswered_set = 1;
}
