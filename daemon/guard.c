/*
 * The reply style guard: every text that goes to a customer passes here,
 * whichever plugin or timer wrote it.  A profile (per platform: JD forbids
 * 亲 and 宝贝) lists banned words, absolute promises and the seeds'
 * forbidden service phrases; a text holding one is rewritten by the
 * profile's substitutions or, when none applies, replaced by the profile's
 * safe fallback.  It is never sent as it is.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "guard.h"
#include "log.h"
#include "xmalloc.h"

#define GUARD_KINDS 3

static const char *const guard_kinds[GUARD_KINDS] = {"banned", "absolute",
    "forbidden"};

struct guard_term {
	char *text;
	int kind;
};

struct guard {
	char *profile;
	struct guard_term *terms;
	int nterms;
	char **from, **to;
	int nsub;
	char *fallback;
};

static const struct guard *guard_live;
static unsigned long guard_rewrites, guard_blocks;

static void
guard_term_add(struct guard *g, const char *t, int kind)
{
	g->terms = realloc(g->terms, (g->nterms + 1) * sizeof(*g->terms));
	if (g->terms == NULL)
		fatal("guard");
	g->terms[g->nterms++] = (struct guard_term){xstrdup(t), kind};
}

static void
guard_sub_add(struct guard *g, const char *from, const char *to)
{
	g->from = realloc(g->from, (g->nsub + 1) * sizeof(*g->from));
	g->to = realloc(g->to, (g->nsub + 1) * sizeof(*g->to));
	if (g->from == NULL || g->to == NULL)
		fatal("guard");
	g->from[g->nsub] = xstrdup(from);
	g->to[g->nsub++] = xstrdup(to);
}

static const config_setting_t *
guard_profile(const config_setting_t *profiles, const char *name)
{
	const config_setting_t *p;
	const char *n;
	int i;

	for (i = 0; (p = conf_elem(profiles, i)) != NULL; i++)
		if (conf_get_string(p, "name", &n) == 1 && strcmp(n, name) == 0)
			return p;
	return NULL;
}

/* Adds a profile and, first, the one it extends. */
static int
guard_load(struct guard *g, const config_setting_t *profiles,
    const config_setting_t *p, int depth)
{
	static const char *const keys[] = {"name", "extends", "banned",
	    "absolute", "forbidden", "substitutions", "fallback", NULL};
	const config_setting_t *e, *list;
	const char *v, *from, *to;
	int i, k, bad = 0;

	if (conf_check_keys(p, keys) < 0)
		bad = -1;
	if (conf_get_string(p, "extends", &v) == 1) {
		const config_setting_t *base = guard_profile(profiles, v);

		if (base == NULL || depth > 8) {
			conf_report(conf_member(p, "extends"), NULL,
			    "no profile \"%s\" to extend (or a loop)", v);
			return -1;
		}
		if (guard_load(g, profiles, base, depth + 1) < 0)
			bad = -1;
	}
	for (k = 0; k < GUARD_KINDS; k++) {
		list = conf_member(p, guard_kinds[k]);
		for (i = 0; (e = conf_elem(list, i)) != NULL; i++) {
			if (conf_get_string(e, NULL, &v) != 1 || *v == '\0') {
				conf_report(e, NULL,
				    "expected a word or phrase");
				bad = -1;
				continue;
			}
			guard_term_add(g, v, k);
		}
	}
	list = conf_member(p, "substitutions");
	for (i = 0; (e = conf_elem(list, i)) != NULL; i++) {
		if (conf_get_string(e, "from", &from) != 1 || *from == '\0' ||
		    conf_get_string(e, "to", &to) != 1) {
			conf_report(e, NULL,
			    "expected { from = \"...\"; to = \"...\"; }");
			bad = -1;
			continue;
		}
		guard_sub_add(g, from, to);
	}
	if (conf_get_string(p, "fallback", &v) == 1) {
		free(g->fallback);
		g->fallback = xstrdup(v);
	}
	return bad;
}

struct guard *
guard_build(const config_setting_t *s)
{
	static const char *const keys[] = {"profile", "profiles", NULL};
	const config_setting_t *profiles = conf_member(s, "profiles"), *p;
	struct guard *g;
	const char *name = "default", *term;

	if (s == NULL)
		return NULL; /* no guard configured */
	g = xcalloc(1, sizeof(*g));
	if (conf_check_keys(s, keys) < 0 ||
	    conf_get_string(s, "profile", &name) < 0)
		goto fail;
	g->profile = xstrdup(name);
	if ((p = guard_profile(profiles, name)) == NULL) {
		if (conf_member(s, "profile") != NULL)
			conf_report(conf_member(s, "profile"), NULL,
			    "no profile named \"%s\" in guard.profiles", name);
		else
			conf_report(s, "profiles", "no profile named \"%s\"",
			    name);
		goto fail;
	}
	if (guard_load(g, profiles, p, 0) < 0)
		goto fail;
	if (g->fallback == NULL || *g->fallback == '\0') {
		conf_report(p, "fallback",
		    "missing: the safe text sent instead of one that breaks a rule");
		goto fail;
	}
	if (guard_check(g, g->fallback, &term) != 0) {
		conf_report(p, "fallback", "contains \"%s\" itself", term);
		goto fail;
	}
	return g;
fail:
	guard_free(g);
	return NULL;
}

void
guard_free(struct guard *g)
{
	int i;

	if (g == NULL)
		return;
	if (guard_live == g)
		guard_live = NULL;
	for (i = 0; i < g->nterms; i++)
		free(g->terms[i].text);
	for (i = 0; i < g->nsub; i++) {
		free(g->from[i]);
		free(g->to[i]);
	}
	free(g->terms);
	free(g->from);
	free(g->to);
	free(g->fallback);
	free(g->profile);
	free(g);
}

const struct guard *
guard_live_one(void)
{
	return guard_live;
}

void
guard_use(const struct guard *g)
{
	guard_live = g;
}

int
guard_check(const struct guard *g, const char *text, const char **term)
{
	int i;

	for (i = 0; g != NULL && i < g->nterms; i++)
		if (strstr(text, g->terms[i].text) != NULL) {
			if (term != NULL)
				*term = g->terms[i].text;
			return g->terms[i].kind + 1;
		}
	return 0;
}

/* Replaces every from with to; a new string. */
static char *
guard_replace(const char *text, const char *from, const char *to)
{
	size_t lf = strlen(from), lt = strlen(to), n = 0;
	const char *p, *hit;
	char *out, *o;

	for (p = text; (p = strstr(p, from)) != NULL; p += lf)
		n++;
	o = out = xcalloc(1, strlen(text) + n * lt + 1);
	for (p = text; (hit = strstr(p, from)) != NULL; p = hit + lf) {
		memcpy(o, p, hit - p);
		o += hit - p;
		memcpy(o, to, lt);
		o += lt;
	}
	strcpy(o, p);
	return out;
}

/* A template from the configuration that breaks a rule: said at load, so
 * `kefud -t` lists it. */
int
guard_lint(const struct guard *g, const config_setting_t *s, const char *name,
    const char *text)
{
	const char *term;
	int kind;

	if (g == NULL || text == NULL ||
	    (kind = guard_check(g, text, &term)) == 0)
		return 0;
	conf_warn(s, name,
	    "holds %s \"%s\" (guard profile %s): it will be rewritten or replaced when sent",
	    guard_kinds[kind - 1], term, g->profile);
	return 1;
}

char *
guard_apply(const char *text, const char *who, const char *conv)
{
	const struct guard *g = guard_live;
	const char *term;
	char *out, *next;
	int i, kind;

	if (g == NULL || guard_check(g, text, NULL) == 0)
		return xstrdup(text);
	out = xstrdup(text);
	for (i = 0; i < g->nsub; i++)
		if (strstr(out, g->from[i]) != NULL) {
			next = guard_replace(out, g->from[i], g->to[i]);
			free(out);
			out = next;
		}
	if ((kind = guard_check(g, out, &term)) == 0 && *out != '\0') {
		guard_rewrites++;
		log_info(
		    "conversation %s: guard rewrote a reply from %s (profile %s)",
		    conv, who, g->profile);
		return out;
	}
	guard_blocks++;
	log_warnx(
	    "conversation %s: guard blocked a reply from %s: it holds %s \"%s\" (profile %s); sent the fallback",
	    conv, who, kind ? guard_kinds[kind - 1] : "nothing after rewriting",
	    kind ? term : "", g->profile);
	free(out);
	return xstrdup(g->fallback);
}

void
guard_counts(unsigned long *rewrites, unsigned long *blocks)
{
	*rewrites = guard_rewrites;
	*blocks = guard_blocks;
}
