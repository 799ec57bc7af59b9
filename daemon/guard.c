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
#include "turn.h"
#include "utf8.h"
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

/* The code point of the UTF-8 character that ends just before end. */
static unsigned
guard_prev(const char *start, const char *end)
{
	const unsigned char *p = (const unsigned char *)end;
	unsigned cp;
	int n;

	if (end == start)
		return 0;
	do
		p--;
	while (p > (const unsigned char *)start && (*p & 0xc0) == 0x80);
	n = *p < 0x80 ? 0 : *p < 0xe0 ? 1 : *p < 0xf0 ? 2 : 3;
	cp = n == 0 ? *p : *p & (0x3f >> n);
	while (n-- > 0 && (const char *)++p < end)
		cp = cp << 6 | (*p & 0x3f);
	return cp;
}

/* A Chinese character, or Chinese (full-width) punctuation. */
static int
guard_cjk(unsigned cp)
{
	return (cp >= 0x3000 && cp <= 0x303f) ||
	    (cp >= 0x3400 && cp <= 0x4dbf) || (cp >= 0x4e00 && cp <= 0x9fff) ||
	    (cp >= 0xff00 && cp <= 0xffef) || cp == 0x2026 || cp == 0x201d;
}

/* The code point of the UTF-8 character at p; 0 at the end or on a
 * sequence cut short. */
static unsigned
guard_next(const char *p)
{
	const unsigned char *u = (const unsigned char *)p;
	int n = *u < 0x80 ? 0 : *u < 0xe0 ? 1 : *u < 0xf0 ? 2 : 3, i;
	unsigned cp = n == 0 ? *u : *u & (0x3f >> n);

	for (i = 1; i <= n; i++) {
		if ((u[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (u[i] & 0x3f);
	}
	return cp;
}

/*
 * ASCII punctuation after a Chinese character, before another, a space,
 * more punctuation or the end, written full-width as a shop writes it:
 * 您好,欢迎! reads 您好，欢迎！.  明天09:00, 1. 今天, www.example.com and
 * an ellipsis (...) stay as they are.
 */
static char *
guard_punct(const char *text)
{
	static const char ascii[] = ",!?:;.";
	static const char *const wide[] = {"，", "！", "？", "：", "；", "。"};
	char *out = xcalloc(1, strlen(text) * 3 + 1), *o = out;
	const char *p, *k;
	unsigned next;
	int before;

	for (p = text; *p != '\0'; p++) {
		k = strchr(ascii, *p);
		if (k == NULL || !guard_cjk(guard_prev(out, o)) ||
		    (*p == '.' &&
		        (p[1] == '.' || (p > text && p[-1] == '.')))) {
			*o++ = *p;
			continue;
		}
		next = guard_next(p + 1);
		before = next == 0 || next == ' ' || next == '\n' ||
		    guard_cjk(next) ||
		    (*p != '.' && next != '.' &&
		        strchr(ascii, (int)next) != NULL);
		if (before)
			o += sprintf(o, "%s", wide[k - ascii]);
		else
			*o++ = *p;
	}
	*o = '\0';
	return out;
}

char *
guard_apply(const char *text, const char *who, const char *conv)
{
	const struct guard *g = guard_live;
	const char *term;
	char *out, *next;
	int i, kind;

	if (g == NULL)
		return xstrdup(text);
	if (guard_check(g, text, NULL) == 0)
		return guard_punct(text);
	out = xstrdup(text);
	for (i = 0; i < g->nsub; i++)
		if (strstr(out, g->from[i]) != NULL) {
			next = guard_replace(out, g->from[i], g->to[i]);
			free(out);
			out = next;
		}
	/* A substitution may lengthen the text past what the platform takes
	 * (保证 -> 尽量确保): then the fallback goes, as for a block. */
	if ((kind = guard_check(g, out, &term)) == 0 && *out != '\0' &&
	    utf8_count(out, strlen(out)) <= TURN_TEXT_MAX) {
		guard_rewrites++;
		log_info(
		    "conversation %s: guard rewrote a reply from %s (profile %s)",
		    conv, who, g->profile);
		next = guard_punct(out);
		free(out);
		return next;
	}
	guard_blocks++;
	if (kind == 0 && *out != '\0')
		log_warnx("conversation %s: guard blocked a reply from %s: too "
		          "many characters after rewriting (%ld, the platform "
		          "takes %d; profile %s); sent the fallback",
		    conv, who, utf8_count(out, strlen(out)), TURN_TEXT_MAX,
		    g->profile);
	else
		log_warnx(
		    "conversation %s: guard blocked a reply from %s: it holds %s \"%s\" (profile %s); sent the fallback",
		    conv, who,
		    kind ? guard_kinds[kind - 1] : "nothing after rewriting",
		    kind ? term : "", g->profile);
	free(out);
	return guard_punct(g->fallback);
}

void
guard_counts(unsigned long *rewrites, unsigned long *blocks)
{
	*rewrites = guard_rewrites;
	*blocks = guard_blocks;
}
