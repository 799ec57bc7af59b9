/*
 * escalate: recognises the cases a bot should not handle alone and hands
 * them to live agents with what they need, so that the customer never
 * repeats themselves (the seeds' transfer rule).
 *
 * It runs after the answering plugins, so it sees what they did.  Reasons,
 * checked in this order: angry (abuse, insults, threats), complaint,
 * human_request, repeated (the same question a third time), bargain, and
 * unanswered (the FAQ plugin could not answer twice in a row).  Words and
 * lexicons come from a rules file; so do the texts for the customer and
 * the one-line summary for the agent's queue.  A matching word right
 * after a negation (不用转人工) does not count; words listed under "allow"
 * are blanked out first (乳白色 is not an insult).
 *
 * Bargaining follows the shop's policy: the first time, the customer
 * hears the shop's offer (or the knowledge base's answer, when the FAQ
 * plugin answered); if they push again, an agent takes over.  An offered
 * price (150, 一百五, 150块) is extracted into the entity offered_price.
 */
#define _POSIX_C_SOURCE 200809L
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>

#include "kefu/plugin.h"

#define ES_TEXT 4096
#define ES_HISTORY_TEXT 1024

enum es_reason {
	ES_ANGRY,
	ES_COMPLAINT,
	ES_HUMAN,
	ES_REPEATED,
	ES_BARGAIN,
	ES_UNANSWERED,
	ES_NREASONS,
};

/* The protocol's reason words; also the rules file's group names. */
static const char *const es_names[ES_NREASONS] = {"angry", "complaint",
    "human_request", "repeated", "bargain", "unanswered"};

struct es_words {
	char **w; /* normalised */
	int n;
};

struct es_rule {
	int on; /* the rules file has the group */
	struct es_words words;
	struct es_words asked; /* a word followed by one asks, not tells */
	char *text;            /* to the customer, with the handoff */
	char *summary;         /* template for the agent's queue view */
};

struct escalate {
	const struct kefu_host *host;
	struct es_rule rule[ES_NREASONS];
	struct es_words negations, allow, price_words, units, kb_answers;
	char *offer;          /* bargain: the shop's offer, said once */
	char *offered;        /* bargain: {offered} in the summary */
	char *not_understood; /* the FAQ plugin's first miss */
	long long unanswered_after, repeated_after, order_digits;
	long long order_raise;
};

/* Bytes of the character at s; a truncated sequence ends at the first
 * byte that does not continue it, so the end of the string is never
 * passed. */
static size_t
es_char(const char *s)
{
	unsigned char c = (unsigned char)*s;
	size_t n = c < 0x80 ? 1 : c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4, i;

	for (i = 1; i < n && ((unsigned char)s[i] & 0xc0) == 0x80; i++)
		;
	return i;
}

/* -- loading ------------------------------------------------------------ */

static void
es_words_free(struct es_words *w)
{
	int i;

	for (i = 0; i < w->n; i++)
		free(w->w[i]);
	free(w->w);
	w->w = NULL;
	w->n = 0;
}

static void
es_free(struct escalate *e)
{
	int i;

	for (i = 0; i < ES_NREASONS; i++) {
		es_words_free(&e->rule[i].words);
		es_words_free(&e->rule[i].asked);
		free(e->rule[i].text);
		free(e->rule[i].summary);
	}
	es_words_free(&e->negations);
	es_words_free(&e->allow);
	es_words_free(&e->price_words);
	es_words_free(&e->units);
	es_words_free(&e->kb_answers);
	free(e->offer);
	free(e->offered);
	free(e->not_understood);
	free(e);
}

static void
es_add(struct escalate *e, struct es_words *w, const char *word)
{
	char norm[256];
	char *start;

	const char *star = strchr(word, '*');
	char a[128];
	size_t n;

	/* Knowledge base ids are names, not words. */
	if (w == &e->kb_answers)
		snprintf(norm, sizeof(norm), "%s", word);
	else if (star != NULL) { /* A*B: both halves normalised */
		snprintf(a, sizeof(a), "%.*s", (int)(star - word), word);
		n = e->host->normalise(a, norm, sizeof(norm) / 2);
		norm[n++] = '*';
		e->host->normalise(star + 1, norm + n, sizeof(norm) - n);
	} else
		e->host->normalise(word, norm, sizeof(norm));
	/* The normal form may gain or lose spaces at its ends. */
	for (start = norm; *start == ' '; start++)
		;
	while (*start != '\0' && start[strlen(start) - 1] == ' ')
		start[strlen(start) - 1] = '\0';
	if (*start == '\0')
		return;
	w->w = realloc(w->w, (w->n + 1) * sizeof(*w->w));
	w->w[w->n++] = strdup(start);
}

/* A list of words, as ["...", ...]. */
static int
es_list(struct escalate *e, const struct kefu_conf *c, const char *name,
    struct es_words *w)
{
	const struct kefu_host *h = e->host;
	const struct kefu_conf *list = h->conf_member(c, name);
	const char *s;
	int i;

	if (list == NULL)
		return 0;
	for (i = 0; i < h->conf_length(list); i++) {
		if (h->conf_string(h->conf_elem(list, i), NULL, &s) != 1) {
			h->conf_error(h->conf_elem(list, i), NULL,
			    "expected a word in quotes");
			return -1;
		}
		es_add(e, w, s);
	}
	if (i == 0 && h->conf_string(list, NULL, &s) == 1) {
		h->conf_error(list, NULL, "expected a list [\"...\", ...]");
		return -1;
	}
	return 0;
}

/*
 * Word lists in files, one word per line ("#" starts a comment), such as
 * the profanity lexicon.  Single characters are left out (乳, 性 and 奶
 * are everyday words in a clothing shop); so are the words in skip.
 */
static int
es_lexicons(struct escalate *e, const struct kefu_conf *c, struct es_words *w)
{
	const struct kefu_host *h = e->host;
	const struct kefu_conf *list = h->conf_member(c, "lexicons");
	struct es_words skip = {0};
	char path[4096], line[512], norm[256];
	size_t len;
	int i, j, n;
	FILE *fp;

	if (list == NULL)
		return 0;
	if (es_list(e, c, "skip", &skip) < 0)
		return -1;
	for (i = 0; h->conf_elem(list, i) != NULL; i++) {
		if (h->conf_path(h->conf_elem(list, i), NULL, path,
		        sizeof(path)) != 1) {
			es_words_free(&skip);
			return -1;
		}
		if ((fp = fopen(path, "r")) == NULL) {
			h->conf_error(h->conf_elem(list, i), NULL,
			    "cannot read %s", path);
			es_words_free(&skip);
			return -1;
		}
		n = 0;
		while (fgets(line, sizeof(line), fp) != NULL) {
			len = strcspn(line, "\r\n");
			line[len] = '\0';
			if (line[0] == '#' || len == 0)
				continue;
			h->normalise(line, norm, sizeof(norm));
			if (norm[0] == '\0' || norm[es_char(norm)] == '\0')
				continue; /* one character */
			for (j = 0; j < skip.n && strcmp(skip.w[j], norm) != 0;
			     j++)
				;
			if (j < skip.n)
				continue;
			es_add(e, w, line);
			n++;
		}
		fclose(fp);
		h->log(KEFU_LOG_DEBUG, "%d words from %s", n, path);
	}
	es_words_free(&skip);
	return 0;
}

static int
es_text(struct escalate *e, const struct kefu_conf *c, const char *name,
    char **out, int required)
{
	const struct kefu_host *h = e->host;
	const char *s, *bad;

	if (h->conf_string(c, name, &s) != 1) {
		if (h->conf_member(c, name) != NULL || required) {
			h->conf_error(c, name, "expected a text in quotes");
			return -1;
		}
		return 0;
	}
	if (*s == '\0') {
		h->conf_error(c, name, "empty");
		return -1;
	}
	if ((bad = h->guard_term(s)) != NULL) {
		h->conf_error(c, name,
		    "holds \"%s\", which the style guard forbids", bad);
		return -1;
	}
	free(*out); /* a later file (the shop's) overrides the layer's */
	*out = strdup(s);
	return 0;
}

/* One rules file; the last of the list says what a reason lacks. */
static int
es_rules(struct escalate *e, const char *path, int last)
{
	static const char *const top[] = {"negations", "allow", "angry",
	    "complaint", "human_request", "repeated", "bargain", "unanswered",
	    NULL};
	static const char *const keys[] = {"words", "lexicons", "skip", "text",
	    "summary", "offer", "offered", "price_words", "units", "kb_answers",
	    "not_understood", "asked", NULL};
	const struct kefu_host *h = e->host;
	const struct kefu_conf *root = h->conf_load(path), *g;
	int i, bad = 0;

	if (root == NULL)
		return -1;
	if (h->conf_check_keys(root, top) < 0 ||
	    es_list(e, root, "negations", &e->negations) < 0 ||
	    es_list(e, root, "allow", &e->allow) < 0)
		bad = -1;
	/* Every group, so that one run reports every error. */
	for (i = 0; i < ES_NREASONS; i++) {
		struct es_rule *r = &e->rule[i];

		if ((g = h->conf_member(root, es_names[i])) == NULL)
			continue;
		r->on = 1;
		if (h->conf_check_keys(g, keys) < 0 ||
		    es_list(e, g, "words", &r->words) < 0 ||
		    es_list(e, g, "asked", &r->asked) < 0 ||
		    es_lexicons(e, g, &r->words) < 0 ||
		    es_text(e, g, "text", &r->text, r->text == NULL) < 0 ||
		    es_text(e, g, "summary", &r->summary, r->summary == NULL) <
		        0)
			bad = -1;
		else if (i == ES_BARGAIN &&
		    (es_text(e, g, "offer", &e->offer, 0) < 0 ||
		        es_text(e, g, "offered", &e->offered, 0) < 0 ||
		        es_list(e, g, "price_words", &e->price_words) < 0 ||
		        es_list(e, g, "units", &e->units) < 0 ||
		        es_list(e, g, "kb_answers", &e->kb_answers) < 0))
			bad = -1;
		else if (i == ES_UNANSWERED &&
		    es_text(e, g, "not_understood", &e->not_understood, 0) < 0)
			bad = -1;
		else if (last && r->words.n == 0 && i != ES_REPEATED &&
		    i != ES_UNANSWERED) {
			h->conf_error(g, "words", "no words to recognise");
			bad = -1;
		}
	}
	h->conf_free(root);
	return bad;
}

static int
es_init(const struct kefu_host *host, const struct kefu_conf *conf,
    void **state)
{
	static const char *const keys[] = {"rules", "unanswered_after",
	    "repeated_after", "order_id_digits", "order_raise", NULL};
	const struct kefu_conf *rules, *r;
	struct escalate *e;
	char path[4096];
	int i;

	if (host->size <
	    offsetof(struct kefu_host, info_set) + sizeof(void *)) {
		host->log(KEFU_LOG_ERR,
		    "needs kefud with plugin ABI 1.3 or later");
		return -1;
	}
	if ((e = calloc(1, sizeof(*e))) == NULL)
		return -1;
	e->host = host;
	e->unanswered_after = 2;
	e->repeated_after = 3;
	e->order_digits = 10;
	e->order_raise = 1;
	if (host->conf_check_keys(conf, keys) < 0 ||
	    host->conf_int(conf, "unanswered_after", &e->unanswered_after) <
	        0 ||
	    host->conf_int(conf, "repeated_after", &e->repeated_after) < 0 ||
	    host->conf_int(conf, "order_id_digits", &e->order_digits) < 0 ||
	    host->conf_int(conf, "order_raise", &e->order_raise) < 0)
		goto fail;
	if (e->unanswered_after < 1 || e->repeated_after < 2 ||
	    e->order_digits < 4 || e->order_raise < 0 || e->order_raise > 2) {
		host->conf_error(conf, NULL,
		    "unanswered_after >= 1, repeated_after >= 2, order_id_digits >= 4, order_raise 0 to 2");
		goto fail;
	}
	/* kefu's language layer first, then the shop's own rules, which
	 * add words and may replace the texts. */
	if ((rules = host->conf_member(conf, "rules")) == NULL) {
		host->conf_error(conf, "rules", "missing required key");
		goto fail;
	}
	if (host->conf_length(rules) == 0) {
		if (host->conf_path(conf, "rules", path, sizeof(path)) != 1 ||
		    es_rules(e, path, 1) < 0)
			goto fail;
	} else
		for (i = 0; (r = host->conf_elem(rules, i)) != NULL; i++)
			if (host->conf_path(r, NULL, path, sizeof(path)) != 1 ||
			    es_rules(e, path,
			        host->conf_elem(rules, i + 1) == NULL) < 0)
				goto fail;
	*state = e;
	return 0;
fail:
	es_free(e);
	return -1;
}

/* -- recognising -------------------------------------------------------- */

/* Blanks every occurrence of the words in text (same length, spaces). */
static void
es_blank(char *text, const struct es_words *w)
{
	char *p;
	int i;

	for (i = 0; i < w->n; i++)
		for (p = text; (p = strstr(p, w->w[i])) != NULL;
		     p += strlen(w->w[i]))
			memset(p, ' ', strlen(w->w[i]));
}

static int
es_listed(const struct es_words *w, const char *word)
{
	int i;

	for (i = 0; i < w->n && strcmp(w->w[i], word) != 0; i++)
		;
	return i < w->n;
}

/* Whether a negation ends at most two characters before at. */
static int
es_negated(const struct escalate *e, const char *text, const char *at)
{
	const char *p = at;
	int back, i;
	size_t n;

	for (back = 0; back <= 2 && p >= text; back++) {
		for (i = 0; i < e->negations.n; i++) {
			n = strlen(e->negations.w[i]);
			if ((size_t)(p - text) >= n &&
			    strncmp(p - n, e->negations.w[i], n) == 0)
				return 1;
		}
		/* One character back. */
		if (p == text)
			break;
		do
			p--;
		while (p > text && ((unsigned char)*p & 0xc0) == 0x80);
	}
	return 0;
}

static int
es_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/*
 * Where word occurs in text from p on, and its end.  A word in Latin
 * letters counts only as a whole word (sb is not the sb of usb); "A*B" is A
 * followed by B within the same clause, at most ES_GAP bytes between them
 * (退款*没到: 退款一个星期了还没到).
 */
#define ES_GAP 24

static const char *
es_match(const char *text, const char *p, const char *word, const char **end)
{
	const char *star = strchr(word, '*'), *b, *q;
	size_t la = star != NULL ? (size_t)(star - word) : strlen(word);
	char a[128];

	/* Called for every word of the lexicons on every message: a copy,
	 * not a snprintf() (which was a sixth of kefud's CPU under load). */
	if (la >= sizeof(a))
		la = sizeof(a) - 1;
	memcpy(a, word, la);
	a[la] = '\0';
	for (; (p = strstr(p, a)) != NULL; p++) {
		if (es_alnum(*a) &&
		    ((p > text && es_alnum(p[-1])) ||
		        (!star && es_alnum(p[la]))))
			continue;
		if (star == NULL) {
			*end = p + la;
			return p;
		}
		for (q = p + la;
		     q <= p + la + ES_GAP && *q != '\0' && *q != ' '; q++)
			if (strncmp(q, star + 1, strlen(star + 1)) == 0) {
				b = q + strlen(star + 1);
				if (es_alnum(star[1]) && es_alnum(*b))
					continue;
				*end = b;
				return p;
			}
	}
	return NULL;
}

/*
 * Whether one of the words of asked follows end in its clause, at most
 * ES_ASKED bytes on: 坏了怎么办, 漏液了能退吗 ask about the policy (the
 * knowledge base answers), they do not report what happened.
 */
#define ES_ASKED 12

static int
es_asked(const char *end, const struct es_words *asked)
{
	const char *q;
	int i;

	for (q = end; q <= end + ES_ASKED && *q != '\0' && *q != ' '; q++)
		for (i = 0; i < asked->n; i++)
			if (strncmp(q, asked->w[i], strlen(asked->w[i])) == 0)
				return 1;
	return 0;
}

/*
 * Which pairs of adjacent bytes the text has (hashed into ES_PAIRS bits):
 * a word whose first two bytes are not among them is not in the text, and
 * most words of a lexicon are skipped without a search.
 */
#define ES_PAIRS 4096

static unsigned
es_pair(const char *s)
{
	return ((unsigned)(unsigned char)s[0] * 257u + (unsigned char)s[1]) &
	    (ES_PAIRS - 1);
}

/* The first word of w in text that no negation precedes and no word of
 * asked follows, or NULL. */
static const char *
es_find(const struct escalate *e, const char *text, const struct es_words *w,
    const struct es_words *asked, const char **where)
{
	uint64_t pairs[ES_PAIRS / 64];
	const char *p, *end, *word;
	unsigned k;
	int i;

	memset(pairs, 0, sizeof(pairs));
	for (p = text; p[0] != '\0' && p[1] != '\0'; p++) {
		k = es_pair(p);
		pairs[k / 64] |= (uint64_t)1 << (k % 64);
	}
	for (i = 0; i < w->n; i++) {
		word = w->w[i];
		if (word[0] != '\0' && word[0] != '*' && word[1] != '\0' &&
		    word[1] != '*' &&
		    !(pairs[es_pair(word) / 64] >> (es_pair(word) % 64) & 1))
			continue;
		for (p = text; (p = es_match(text, p, w->w[i], &end)) != NULL;
		     p = end)
			if (!es_negated(e, text, p) &&
			    (asked == NULL || !es_asked(end, asked))) {
				if (where != NULL)
					*where = p;
				return w->w[i];
			}
	}
	return NULL;
}

/* A Chinese number at s (一百五, 两百, 八十八, 一百零五): its value and
 * end, or -1. */
static long
es_cn_number(const char *s, const char **end)
{
	static const char *const digit[] = {"零", "一", "二", "三", "四", "五",
	    "六", "七", "八", "九", "两", NULL};
	static const char *const unit[] = {"十", "百", "千", NULL};
	static const long unit_value[] = {10, 100, 1000};
	long total = 0, cur = -1, last = 1;
	const char *p = s;
	int i, zero = 0, any = 0;

	for (;; p += 3, any = 1) {
		for (i = 0; digit[i] != NULL && strncmp(p, digit[i], 3) != 0;
		     i++)
			;
		if (digit[i] != NULL) {
			cur = i == 10 ? 2 : i;
			zero |= i == 0;
			continue;
		}
		for (i = 0; unit[i] != NULL && strncmp(p, unit[i], 3) != 0; i++)
			;
		if (unit[i] == NULL)
			break;
		last = unit_value[i];
		total += (cur < 0 ? 1 : cur) * last;
		cur = -1;
	}
	if (!any)
		return -1;
	/* 一百五 is 150: a digit right after a unit is worth a tenth of it,
	 * unless a 零 came between (一百零五). */
	if (cur > 0)
		total +=
		    last >= 10 && total > 0 && !zero ? cur * last / 10 : cur;
	*end = p;
	return total;
}

/* Whether one of w starts at p (after at most one space). */
static int
es_starts(const struct es_words *w, const char *p)
{
	int i;

	if (*p == ' ')
		p++;
	for (i = 0; i < w->n; i++)
		if (strncmp(p, w->w[i], strlen(w->w[i])) == 0)
			return (int)strlen(w->w[i]) + 1;
	return 0;
}

/*
 * A price the customer proposes: a number followed by a unit (150块) or a
 * price word (150卖不卖, 一百五行不行).  Returns it, or -1.  *off tells
 * that they ask for an amount off instead (便宜20块, 少10块).
 */
static long
es_price(const struct escalate *e, const char *text, int bargaining, int *off)
{
	const char *p, *end;
	long v;
	int unit, discount;

	*off = 0;
	for (p = text; *p != '\0'; p = end) {
		/* Matching data: the words before an amount off. */
		discount = (p - text >= 6 && strncmp(p - 6, "便宜", 6) == 0) ||
		    (p - text >= 3 &&
		        (strncmp(p - 3, "少", 3) == 0 ||
		            strncmp(p - 3, "减", 3) == 0));
		if (isdigit((unsigned char)*p)) {
			v = strtol(p, (char **)&end, 10);
			if (*end == '.')
				for (end++; isdigit((unsigned char)*end); end++)
					;
		} else if ((v = es_cn_number(p, &end)) < 0) {
			end = p + es_char(p);
			continue;
		}
		unit = es_starts(&e->units, end);
		if (discount) {
			*off |= v > 0 && unit;
			continue;
		}
		if (v > 0 &&
		    (es_starts(&e->price_words, end) ||
		        (unit &&
		            (bargaining ||
		                es_starts(&e->price_words, end + unit - 1)))))
			return v;
	}
	return -1;
}

/* An order number in the text: a run of order_id_digits digits or more. */
static int
es_order(const struct escalate *e, const char *text, char *out, size_t len)
{
	const char *p = text;
	size_t n;

	while (*p != '\0') {
		n = strspn(p, "0123456789");
		if (n >= (size_t)e->order_digits && n < len) {
			memcpy(out, p, n);
			out[n] = '\0';
			return 1;
		}
		p += n > 0 ? n : 1;
	}
	return 0;
}

/* The customer said the same thing before, this many times in all. */
static int
es_repeats(const struct escalate *e, struct kefu_turn *t, const char *norm)
{
	const struct kefu_host *h = e->host;
	char other[ES_HISTORY_TEXT], from;
	const char *text;
	unsigned i, n = h->history_len(t);
	int count = 0;

	/* Short words (好的, 嗯) are not questions. */
	if (strlen(norm) < 9)
		return 0;
	/* The last line is this message itself. */
	for (i = 0; i + 1 < n; i++)
		if (h->history_get(t, i, &from, &text, NULL) == 0 &&
		    from == 'c') {
			h->normalise(text, other, sizeof(other));
			count += strcmp(other, norm) == 0;
		}
	return count + 1;
}

/* -- what the agent and the customer read --------------------------------- */

/* Up to max characters of s. */
static void
es_clip(char *out, size_t len, const char *s, int max)
{
	size_t n = 0;
	int chars = 0;

	while (s[n] != '\0' && chars < max) {
		size_t w = es_char(s + n);

		if (n + w >= len)
			break;
		n += w;
		chars++;
	}
	memcpy(out, s, n);
	out[n] = '\0';
}

struct es_vars {
	const char *name[6];
	const char *value[6];
};

static const char *
es_var(const struct es_vars *v, const char *name, size_t n)
{
	int i;

	for (i = 0; i < 6 && v->name[i] != NULL; i++)
		if (strlen(v->name[i]) == n &&
		    strncmp(v->name[i], name, n) == 0)
			return v->value[i] != NULL && *v->value[i] != '\0'
			    ? v->value[i]
			    : NULL;
	return NULL;
}

/*
 * A template with {name} placeholders; a part in [brackets] is left out
 * when a placeholder in it has no value.  Returns -1 when a placeholder
 * outside brackets has none.
 */
static int
es_expand(const char *tpl, const struct es_vars *v, char *out, size_t len)
{
	size_t o = 0, mark = 0;
	const char *p, *close, *val;
	int in_opt = 0, drop = 0;

	for (p = tpl; *p != '\0' && o + 1 < len; p++) {
		if (*p == '[' && !in_opt) {
			in_opt = 1;
			drop = 0;
			mark = o;
		} else if (*p == ']' && in_opt) {
			in_opt = 0;
			if (drop)
				o = mark;
		} else if (*p == '{' && (close = strchr(p, '}')) != NULL) {
			val = es_var(v, p + 1, (size_t)(close - p - 1));
			if (val == NULL) {
				if (!in_opt)
					return -1;
				drop = 1;
			} else
				o += snprintf(out + o, len - o, "%s", val);
			if (o >= len)
				o = len - 1;
			p = close;
		} else
			out[o++] = *p;
	}
	out[o] = '\0';
	return 0;
}

/* -- deciding ----------------------------------------------------------- */

static enum kefu_verdict
es_escalate(struct escalate *e, struct kefu_turn *t, enum es_reason r,
    const char *said, long price)
{
	const struct kefu_host *h = e->host;
	char summary[1024], words[256], num[32];
	const char *o = h->entity_get(t, "order_id");
	struct es_vars v = {{"text", "product", "order", "price", "offered"},
	    {words, h->entity_get(t, "product"), o, NULL, NULL}};

	es_clip(words, sizeof(words), said, 60);
	if (price > 0) {
		snprintf(num, sizeof(num), "%ld", price);
		v.value[3] = num;
	}
	if (r == ES_BARGAIN && h->store_get(t, "offered") != NULL)
		v.value[4] = e->offered;
	if (es_expand(e->rule[r].summary, &v, summary, sizeof(summary)) < 0)
		snprintf(summary, sizeof(summary), "%s", words);
	if (r == ES_COMPLAINT && v.value[2] != NULL)
		h->raise(t, (int)e->order_raise);
	h->intent_add(t, es_names[r]);
	h->note_set(t, "reason", es_names[r]);
	/* The FAQ plugin's answer to a complaint is not the answer. */
	h->retract(t, "faq");
	h->reply(t, e->rule[r].text);
	h->handoff(t, es_names[r], summary);
	return KEFU_STOP;
}

static enum kefu_verdict
es_handle(void *state, struct kefu_turn *t, const struct kefu_event *ev)
{
	struct escalate *e = state;
	const struct kefu_host *h = e->host;
	char norm[ES_TEXT], raw[ES_TEXT], num[32], order[64];
	const char *m, *faq, *action;
	long price = -1;
	int r, misses, words, off;

	if (ev->type != KEFU_EV_MESSAGE || ev->text == NULL ||
	    h->outcome(t) == KEFU_OUTCOME_HANDOFF)
		return KEFU_NEXT;
	h->normalise(ev->text, raw, sizeof(raw));
	if (es_order(e, raw, order, sizeof(order)))
		h->entity_set(t, "order_id", order);
	memcpy(norm, raw, sizeof(norm));
	es_blank(norm, &e->allow);

	/* Claimed in the detection pass: a hard case before any answer. */
	if ((m = h->claimed(t, &faq)) != NULL && strcmp(faq, "escalate") == 0)
		for (r = ES_ANGRY; r <= ES_HUMAN; r++)
			if (strcmp(m, es_names[r]) == 0)
				return es_escalate(e, t, r, ev->text, -1);
	if (e->rule[ES_REPEATED].on &&
	    es_repeats(e, t, raw) >= e->repeated_after)
		return es_escalate(e, t, ES_REPEATED, ev->text, -1);

	if (e->rule[ES_BARGAIN].on) {
		words = es_find(e, norm, &e->rule[ES_BARGAIN].words,
		            &e->rule[ES_BARGAIN].asked, NULL) != NULL;
		price = es_price(e, norm, words, &off);
		if (words || off || price > 0) {
			if (price > 0) {
				snprintf(num, sizeof(num), "%ld", price);
				h->entity_set(t, "offered_price", num);
			}
			h->note_set(t, "reason", "bargain");
			faq = h->note_get(t, "faq.id");
			action = h->note_get(t, "action");
			/* The FAQ plugin notes its best candidate even when
			 * it did not answer; only the entries listed in
			 * kb_answers state the shop's price rules. */
			if (h->note_get(t, "faq.unanswered") != NULL ||
			    (action != NULL &&
			        strcmp(action, "clarify") == 0) ||
			    (faq != NULL && !es_listed(&e->kb_answers, faq)))
				faq = NULL;
			/* Once: the shop's offer, or the knowledge base's
			 * answer; then an agent. */
			if (h->store_get(t, "offered") != NULL)
				return es_escalate(e, t, ES_BARGAIN, ev->text,
				    price);
			h->intent_add(t, "bargain");
			h->store_set(t, "offered", "1");
			if (h->outcome(t) == KEFU_OUTCOME_REPLY &&
			    faq != NULL &&
			    (action == NULL || strcmp(action, "clarify") != 0))
				return KEFU_STOP;
			if (e->offer == NULL)
				return es_escalate(e, t, ES_BARGAIN, ev->text,
				    price);
			h->retract(t, "faq");
			h->note_set(t, "action", "offer");
			h->reply(t, e->offer);
			return KEFU_STOP;
		}
	}

	/* The FAQ plugin missed (a welcome may have gone out all the same). */
	if (e->rule[ES_UNANSWERED].on &&
	    (m = h->note_get(t, "faq.unanswered")) != NULL) {
		misses = atoi(m);
		if (misses >= e->unanswered_after)
			return es_escalate(e, t, ES_UNANSWERED, ev->text, -1);
		if (e->not_understood != NULL) {
			h->reply(t, e->not_understood);
			return KEFU_STOP;
		}
	}
	return KEFU_NEXT;
}

/*
 * The detection pass: anger, a complaint or a request for a person claims
 * the turn before any plugin answers, so that the knowledge base never
 * answers a complaint that shares its words (a refund that does not
 * arrive is not a question about the refund procedure).
 */
static void
es_detect(void *state, struct kefu_turn *t, const struct kefu_event *ev)
{
	struct escalate *e = state;
	const struct kefu_host *h = e->host;
	char norm[ES_TEXT];
	int r;

	if (ev->type != KEFU_EV_MESSAGE || ev->text == NULL ||
	    h->owner(t) != KEFU_OWNER_BOT)
		return;
	h->normalise(ev->text, norm, sizeof(norm));
	es_blank(norm, &e->allow);
	for (r = ES_ANGRY; r <= ES_HUMAN; r++)
		if (e->rule[r].on &&
		    es_find(e, norm, &e->rule[r].words, &e->rule[r].asked,
		        NULL) != NULL) {
			h->claim(t, es_names[r]);
			return;
		}
}

static void
es_fini(void *state)
{
	es_free(state);
}

KEFU_PLUGIN_EXPORT = {
    .abi_major = KEFU_ABI_MAJOR,
    .abi_minor = KEFU_ABI_MINOR,
    .size = sizeof(struct kefu_plugin),
    .name = "escalate",
    .version = "1.0.0",
    .init = es_init,
    .handle = es_handle,
    .fini = es_fini,
    .detect = es_detect,
};
