/*
 * One source, several test plugins, chosen with -D at build time:
 *   PLUG_NAME, PLUG_VERSION  the descriptor's name and version
 *   PLUG_ABI_MAJOR           another ABI major (refused by the core)
 *   PLUG_NO_DESC             no descriptor at all (refused)
 *   PLUG_INIT_FAIL           init reports failure (refused)
 * Configuration (section named PLUG_NAME): reply = "..." (required),
 * stop = true|false (end the chain after replying), handoff = "..." (a
 * message containing this asks for a human: intent "human_request",
 * entity "said" = the message), lines = N (N replies to a message, the
 * i-th ending " i/N": a turn of many lines), ask = true (the reply asks
 * the customer something: the core's follow-ups and close apply).
 * It replies "<reply> (<name> <version>)" to every message, notes that it
 * saw the event, and logs a tick every 100 ms, so a test can tell which
 * build is live.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kefu/plugin.h"

#ifndef PLUG_NAME
#define PLUG_NAME "testplug"
#endif
#ifndef PLUG_VERSION
#define PLUG_VERSION "1.0.0"
#endif
#ifndef PLUG_ABI_MAJOR
#define PLUG_ABI_MAJOR KEFU_ABI_MAJOR
#endif

/* Without a descriptor nothing refers to the functions. */
#define TP_FN static __attribute__((unused))

struct tp {
	const struct kefu_host *host;
	char reply[1024];
	char handoff[128];
	int stop;
	int lines;
	int ask;
};

TP_FN int
tp_init(const struct kefu_host *host, const struct kefu_conf *conf,
    void **state)
{
	static const char *const keys[] = {"reply", "stop", "handoff", "lines",
	    "ask", NULL};
	const char *reply = NULL, *handoff = NULL;
	struct tp *tp;
	long long lines = 1;
	int stop = 0, ask = 0;

#ifdef PLUG_INIT_FAIL
	host->log(KEFU_LOG_ERR, "init failing on purpose");
	return -1;
#endif
	if (host->conf_check_keys(conf, keys) < 0 ||
	    host->conf_string(conf, "reply", &reply) < 0 ||
	    host->conf_bool(conf, "stop", &stop) < 0 ||
	    host->conf_string(conf, "handoff", &handoff) < 0 ||
	    host->conf_int(conf, "lines", &lines) < 0 ||
	    host->conf_bool(conf, "ask", &ask) < 0)
		return -1;
	if (reply == NULL) {
		host->conf_error(conf, "reply", "missing required key");
		return -1;
	}
	if ((tp = calloc(1, sizeof(*tp))) == NULL)
		return -1;
	tp->host = host;
	snprintf(tp->reply, sizeof(tp->reply), "%s (%s %s)", reply, PLUG_NAME,
	    PLUG_VERSION);
	tp->stop = stop;
	tp->lines = lines >= 1 && lines <= 8 ? (int)lines : 1;
	tp->ask = ask;
	snprintf(tp->handoff, sizeof(tp->handoff), "%s",
	    handoff ? handoff : "");
	*state = tp;
	return 0;
}

TP_FN enum kefu_verdict
tp_handle(void *state, struct kefu_turn *t, const struct kefu_event *ev)
{
	struct tp *tp = state;
	const char *seen = tp->host->note_get(t, "seen");
	char notes[256];

	snprintf(notes, sizeof(notes), "%s%s%s", seen ? seen : "",
	    seen ? "," : "", PLUG_NAME);
	tp->host->note_set(t, "seen", notes);
	if (ev->type != KEFU_EV_MESSAGE)
		return KEFU_NEXT;
	/* ABI 1.1 functions: only where the core has them. */
	if (tp->handoff[0] != '\0' && strstr(ev->text, tp->handoff) != NULL &&
	    tp->host->size >=
	        offsetof(struct kefu_host, shop_name) + sizeof(void *)) {
		tp->host->intent_add(t, "human_request");
		tp->host->entity_set(t, "said", ev->text);
		tp->host->reply(t, "已为您转接人工客服,请稍等");
		tp->host->handoff(t, "human_request", "顾客要求人工服务");
		return KEFU_STOP;
	}
	if (tp->ask)
		tp->host->ask(t);
	if (tp->lines == 1)
		tp->host->reply(t, tp->reply);
	else
		for (int i = 1; i <= tp->lines; i++) {
			char line[1100];

			snprintf(line, sizeof(line), "%s %d/%d", tp->reply, i,
			    tp->lines);
			tp->host->reply(t, line);
		}
	return tp->stop ? KEFU_STOP : KEFU_NEXT;
}

TP_FN void
tp_timer(void *state)
{
	struct tp *tp = state;

	tp->host->log(KEFU_LOG_INFO, "tick %s %s", PLUG_NAME, PLUG_VERSION);
}

TP_FN void
tp_fini(void *state)
{
	free(state);
}

#ifndef PLUG_NO_DESC
KEFU_PLUGIN_EXPORT = {
    .abi_major = PLUG_ABI_MAJOR,
    .abi_minor = KEFU_ABI_MINOR,
    .size = sizeof(struct kefu_plugin),
    .name = PLUG_NAME,
    .version = PLUG_VERSION,
    .init = tp_init,
    .handle = tp_handle,
    .timer_ms = 100,
    .timer = tp_timer,
    .fini = tp_fini,
};
#else
/* Exported, but not a descriptor. */
__attribute__((visibility("default"))) int kefu_plugin_missing = 1;
#endif
