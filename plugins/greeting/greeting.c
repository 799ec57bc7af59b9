/*
 * greeting: the first seconds of a chat, from the seeds.  A customer's
 * first contact gets a welcome with the shop's name and a daypart or
 * holiday greeting (naming the product when they came from its page); a
 * bare greeting later gets a short "在的" answer, not the welcome again;
 * when many customers are waiting the welcome asks them to describe their
 * question; thanks and goodbyes get a closing line.  Every text comes from
 * the configuration, with {shop}, {daypart}, {holiday} and {product}.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kefu/plugin.h"

#define GR_WORDS 64
#define GR_TEXT 2048

enum gr_text {
	GR_WELCOME,
	GR_HOLIDAY,
	GR_PRODUCT,
	GR_BUSY,
	GR_SHORT,
	GR_CLOSING,
	GR_NTEXTS,
};

static const char *const gr_text_keys[GR_NTEXTS] = {"welcome",
    "holiday_welcome", "product_welcome", "busy_welcome", "short_reply",
    "closing"};

enum gr_list {
	GR_GREETINGS,
	GR_THANKS,
	GR_NLISTS,
};

static const char *const gr_list_keys[GR_NLISTS] = {"greetings", "thanks"};

/* Sentence particles a bare greeting may carry: matching data, not text
 * for customers. */
static const char *const gr_particles[] = {"呀", "啊", "呢", "吧", "哦", "嘛",
    "么", "吗", "哈", "嗯", "了", "的", "啦", "呐", "哇", " ", NULL};

struct greeting {
	const struct kefu_host *host;
	char *text[GR_NTEXTS];
	char *words[GR_NLISTS][GR_WORDS]; /* normalised */
	int nwords[GR_NLISTS];
	long long busy_threshold;
};

static void
gr_free(struct greeting *g)
{
	int i, j;

	for (i = 0; i < GR_NTEXTS; i++)
		free(g->text[i]);
	for (i = 0; i < GR_NLISTS; i++)
		for (j = 0; j < g->nwords[i]; j++)
			free(g->words[i][j]);
	free(g);
}

static int
gr_list(struct greeting *g, const struct kefu_conf *conf, int which)
{
	const struct kefu_conf *list =
	    g->host->conf_member(conf, gr_list_keys[which]);
	const char *w;
	char norm[256];
	int i, n = g->host->conf_length(list);

	if (n > GR_WORDS) {
		g->host->conf_error(conf, gr_list_keys[which],
		    "at most %d words", GR_WORDS);
		return -1;
	}
	for (i = 0; i < n; i++) {
		if (g->host->conf_string(g->host->conf_elem(list, i), NULL,
		        &w) != 1) {
			g->host->conf_error(g->host->conf_elem(list, i), NULL,
			    "expected a word");
			return -1;
		}
		g->host->normalise(w, norm, sizeof(norm));
		if (*norm == '\0')
			continue;
		if ((g->words[which][g->nwords[which]++] = strdup(norm)) ==
		    NULL)
			return -1;
	}
	return 0;
}

static int
gr_longer(const void *a, const void *b)
{
	size_t la = strlen(*(char *const *)a), lb = strlen(*(char *const *)b);

	return la < lb ? 1 : la > lb ? -1 : 0;
}

static int
gr_init(const struct kefu_host *host, const struct kefu_conf *conf,
    void **state)
{
	static const char *const keys[] = {"welcome", "holiday_welcome",
	    "product_welcome", "busy_welcome", "short_reply", "closing",
	    "greetings", "thanks", "busy_threshold", NULL};
	struct greeting *g;
	const char *v, *term;
	int i;

	if (host->size <
	    offsetof(struct kefu_host, live_conversations) + sizeof(void *)) {
		host->log(KEFU_LOG_ERR,
		    "needs kefud with plugin ABI 1.1 or later");
		return -1;
	}
	if ((g = calloc(1, sizeof(*g))) == NULL)
		return -1;
	g->host = host;
	g->busy_threshold = -1;
	if (host->conf_check_keys(conf, keys) < 0 ||
	    host->conf_int(conf, "busy_threshold", &g->busy_threshold) < 0)
		goto fail;
	for (i = 0; i < GR_NTEXTS; i++) {
		v = NULL;
		if (host->conf_string(conf, gr_text_keys[i], &v) < 0)
			goto fail;
		if (v == NULL)
			continue;
		if ((term = host->guard_term(v)) != NULL)
			host->log(KEFU_LOG_WARNING,
			    "%s holds \"%s\", which the style guard will change",
			    gr_text_keys[i], term);
		if ((g->text[i] = strdup(v)) == NULL)
			goto fail;
	}
	if (g->text[GR_WELCOME] == NULL) {
		host->conf_error(conf, "welcome", "missing required key");
		goto fail;
	}
	for (i = 0; i < GR_NLISTS; i++) {
		if (gr_list(g, conf, i) < 0)
			goto fail;
		/* Longest first: 有人在吗 before 在吗. */
		qsort(g->words[i], g->nwords[i], sizeof(char *), gr_longer);
	}
	*state = g;
	return 0;
fail:
	gr_free(g);
	return -1;
}

/* Copies template with its placeholders filled in. */
static void
gr_fill(char *out, size_t len, const char *tpl, const char *const vars[][2])
{
	size_t n = 0, k;
	int i;

	while (*tpl != '\0' && n + 1 < len) {
		for (i = 0; vars[i][0] != NULL; i++) {
			k = strlen(vars[i][0]);
			if (strncmp(tpl, vars[i][0], k) == 0)
				break;
		}
		if (vars[i][0] != NULL) {
			n += snprintf(out + n, len - n, "%s", vars[i][1]);
			tpl += strlen(vars[i][0]);
			if (n >= len)
				n = len - 1;
			continue;
		}
		out[n++] = *tpl++;
	}
	out[n] = '\0';
}

/* Removes every word of the list (and particles) from s; 1 if nothing
 * else was there and at least one word was. */
static int
gr_only(const struct greeting *g, const char *norm, int which)
{
	char s[GR_TEXT], *hit;
	const char *w;
	int i, found = 0, again = 1;

	snprintf(s, sizeof(s), "%s", norm);
	while (again) {
		again = 0;
		for (i = 0; i < g->nwords[which]; i++)
			while ((hit = strstr(s, g->words[which][i])) != NULL) {
				memmove(hit, hit + strlen(g->words[which][i]),
				    strlen(hit + strlen(g->words[which][i])) +
				        1);
				found = again = 1;
			}
	}
	for (i = 0; (w = gr_particles[i]) != NULL; i++)
		while ((hit = strstr(s, w)) != NULL)
			memmove(hit, hit + strlen(w),
			    strlen(hit + strlen(w)) + 1);
	return found && *s == '\0';
}

static enum kefu_verdict
gr_say(struct greeting *g, struct kefu_turn *t, const struct kefu_event *ev,
    enum gr_text which)
{
	const struct kefu_host *h = g->host;
	int64_t now = h->now_ms();
	const char *holiday = h->holiday(now);
	const char *product = ev->product_title != NULL
	    ? ev->product_title
	    : h->entity_get(t, "product");
	const char *shop = h->shop_name();
	const char *const vars[][2] = {{"{shop}", shop},
	    {"{daypart}", h->daypart(now)},
	    {"{holiday}", holiday != NULL ? holiday : ""},
	    {"{product}", product != NULL ? product : ""}, {NULL, NULL}};
	char text[GR_TEXT];

	if (which == GR_WELCOME) {
		if (g->busy_threshold >= 0 && g->text[GR_BUSY] != NULL &&
		    h->live_conversations(-1) >
		        (unsigned long long)g->busy_threshold)
			which = GR_BUSY;
		else if (product != NULL && g->text[GR_PRODUCT] != NULL)
			which = GR_PRODUCT;
		else if (holiday != NULL && g->text[GR_HOLIDAY] != NULL)
			which = GR_HOLIDAY;
	}
	if (g->text[which] == NULL)
		return KEFU_NEXT;
	gr_fill(text, sizeof(text), g->text[which], vars);
	h->reply(t, text);
	return KEFU_STOP;
}

static enum kefu_verdict
gr_handle(void *state, struct kefu_turn *t, const struct kefu_event *ev)
{
	struct greeting *g = state;
	const struct kefu_host *h = g->host;
	char norm[GR_TEXT];
	int first, bare;

	if (ev->type != KEFU_EV_OPENED && ev->type != KEFU_EV_MESSAGE)
		return KEFU_NEXT;
	first = h->store_get(t, "greeted") == NULL;
	if (ev->type == KEFU_EV_OPENED) {
		if (!first)
			return KEFU_NEXT;
		h->store_set(t, "greeted", "1");
		return gr_say(g, t, ev, GR_WELCOME);
	}
	h->normalise(ev->text, norm, sizeof(norm));
	/* Emoji only (or nothing at all) counts as a greeting. */
	bare = (*norm == '\0' && strcmp(ev->message_kind, "text") == 0) ||
	    gr_only(g, norm, GR_GREETINGS);
	if (!first && gr_only(g, norm, GR_THANKS))
		return gr_say(g, t, ev, GR_CLOSING);
	if (first) {
		h->store_set(t, "greeted", "1");
		gr_say(g, t, ev, GR_WELCOME);
		/* A question in the first message still needs its answer. */
		return bare ? KEFU_STOP : KEFU_NEXT;
	}
	return bare ? gr_say(g, t, ev, GR_SHORT) : KEFU_NEXT;
}

static void
gr_fini(void *state)
{
	gr_free(state);
}

KEFU_PLUGIN_EXPORT = {
    .abi_major = KEFU_ABI_MAJOR,
    .abi_minor = KEFU_ABI_MINOR,
    .size = sizeof(struct kefu_plugin),
    .name = "greeting",
    .version = "1.0.0",
    .init = gr_init,
    .handle = gr_handle,
    .fini = gr_fini,
};
