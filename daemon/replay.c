/*
 * The replay tool: what kefud would do with each message, without a
 * platform.  Ops test a knowledge base change with it before reloading;
 * the tests and the evaluation use it too.  Decisions go through
 * event_decide(), the daemon's own path; only the way out differs.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include <cjson/cJSON.h>

#include "clock.h"
#include "conf.h"
#include "conv.h"
#include "event.h"
#include "gen.h"
#include "guard.h"
#include "log.h"
#include "replay.h"
#include "turn.h"

/* What the chain decided, as one JSON line. */
static void
replay_print(FILE *out, unsigned n, const struct gen *g, struct conv *c,
    const struct kefu_event *ev, const struct kefu_turn *t, int ran)
{
	cJSON *o = cJSON_CreateObject(), *replies = cJSON_CreateArray();
	const char *action = "none", *plugin = NULL, *reason = NULL, *v,
	           *queue = NULL, *summary = NULL;
	int prio = 0;
	int64_t now = clock_wall_ms();
	char *safe, *line;
	int i;

	for (i = 0; ran && i < t->nact; i++) {
		const struct turn_action *a = &t->act[i];

		if (plugin == NULL)
			plugin = a->plugin;
		if (a->kind == TURN_HANDOFF) {
			action = "handoff";
			reason = a->reason;
			summary = a->summary;
			prio = event_route(&g->conf->handoff, a->reason,
			    t->raise, c->vip, &queue);
			conv_handoff(c, now);
			continue;
		}
		if (strcmp(action, "none") == 0)
			action = "reply";
		safe = guard_apply(a->text, a->plugin, c->id);
		cJSON_AddItemToArray(replies, cJSON_CreateString(safe));
		conv_add_line(c, 'b', safe, now);
		free(safe);
	}
	/* A plugin may name its decision more precisely (clarify). */
	if (ran && (v = turn_note_get(t, "action")) != NULL &&
	    strcmp(action, "handoff") != 0)
		action = v;
	cJSON_AddNumberToObject(o, "n", n);
	cJSON_AddStringToObject(o, "conversation", c->id);
	cJSON_AddStringToObject(o, "text", ev->text);
	cJSON_AddStringToObject(o, "owner", conv_owner_name(c->owner));
	cJSON_AddStringToObject(o, "action", action);
	if (plugin != NULL)
		cJSON_AddStringToObject(o, "plugin", plugin);
	if (ran && (v = turn_note_get(t, "faq.id")) != NULL)
		cJSON_AddStringToObject(o, "faq", v);
	if (ran && (v = turn_note_get(t, "faq.score")) != NULL)
		cJSON_AddNumberToObject(o, "score", atof(v));
	if (ran && (v = turn_note_get(t, "faq.candidates")) != NULL) {
		cJSON *cand = cJSON_AddArrayToObject(o, "candidates");
		size_t len;

		for (; *v != '\0'; v += len + (v[len] == '\n')) {
			char id[256];

			len = strcspn(v, "\n");
			snprintf(id, sizeof(id), "%.*s", (int)len, v);
			cJSON_AddItemToArray(cand, cJSON_CreateString(id));
		}
	}
	if (ran && (v = turn_note_get(t, "faq.unanswered")) != NULL)
		cJSON_AddNumberToObject(o, "unanswered", atoi(v));
	if (reason != NULL ||
	    (ran && (reason = turn_note_get(t, "reason")) != NULL))
		cJSON_AddStringToObject(o, "reason", reason);
	if (queue != NULL) {
		cJSON_AddStringToObject(o, "queue", queue);
		cJSON_AddStringToObject(o, "priority",
		    conf_priority_name(prio));
		cJSON_AddStringToObject(o, "summary", summary);
	}
	if (ran && (v = turn_entity_get(t, "offered_price")) != NULL)
		cJSON_AddStringToObject(o, "offered_price", v);
	cJSON_AddItemToObject(o, "replies", replies);
	if ((line = cJSON_PrintUnformatted(o)) != NULL) {
		fprintf(out, "%s\n", line);
		free(line);
	}
	cJSON_Delete(o);
}

/* One input line: plain text, or a JSON object with conversation, text. */
static int
replay_line(struct gen *g, FILE *out, unsigned n, const char *line)
{
	char conv[256] = "replay", text[8192], mid[32], customer[300];
	struct kefu_event ev = {0};
	struct kefu_turn t;
	struct conv *c;
	cJSON *j, *m;
	int ran;

	if (line[0] == '{') {
		if ((j = cJSON_Parse(line)) == NULL ||
		    !cJSON_IsString(m = cJSON_GetObjectItem(j, "text"))) {
			log_warnx(
			    "replay: line %u: expected {\"conversation\": \"...\", \"text\": \"...\"}",
			    n);
			cJSON_Delete(j);
			return -1;
		}
		snprintf(text, sizeof(text), "%s", m->valuestring);
		if (cJSON_IsString(m = cJSON_GetObjectItem(j, "conversation")))
			snprintf(conv, sizeof(conv), "%s", m->valuestring);
		cJSON_Delete(j);
	} else
		snprintf(text, sizeof(text), "%s", line);
	snprintf(mid, sizeof(mid), "replay-%u", n);
	snprintf(customer, sizeof(customer), "u-%s", conv);
	ev.type = KEFU_EV_MESSAGE;
	ev.seq = n;
	ev.conversation = conv;
	ev.customer_id = customer;
	ev.message_id = mid;
	ev.message_kind = "text";
	ev.text = text;
	ev.ts_ms = clock_wall_ms();
	c = conv_get(conv, 1);
	ran = event_decide(g, c, &ev, &t);
	replay_print(out, n, g, c, &ev, &t, ran);
	if (ran)
		turn_end(&t);
	return 0;
}

int
replay_run(const char *conf_path, const char *input, FILE *out)
{
	char why[512], *line = NULL;
	size_t cap = 0;
	ssize_t len;
	unsigned n = 0;
	struct gen *g;
	FILE *in;
	int bad = 0;

	if ((g = gen_build(conf_path, 1, GEN_TOKEN_SKIP, why, sizeof(why))) ==
	    NULL) {
		log_emit(LOG_PRI_ERR, "replay: %s", why);
		return EX_CONFIG;
	}
	gen_use(g);
	if ((in = strcmp(input, "-") == 0 ? stdin : fopen(input, "r")) ==
	    NULL) {
		log_warn("replay: %s", input);
		gen_free(g);
		return 1;
	}
	while ((len = getline(&line, &cap, in)) >= 0) {
		while (
		    len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
			line[--len] = '\0';
		n++;
		if (len == 0)
			continue;
		if (replay_line(g, out, n, line) < 0)
			bad = 1;
	}
	free(line);
	if (in != stdin)
		fclose(in);
	conv_free_all();
	gen_free(g);
	return bad;
}
