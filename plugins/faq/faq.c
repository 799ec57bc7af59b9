/*
 * faq: answers the shop's frequent questions from a knowledge base.
 *
 * Both the knowledge base and the customer's text are normalised (the
 * host's normaliser) and their synonyms rewritten to one form; entries
 * are ranked with BM25 over character unigrams and bigrams of all their
 * example questions, plus a boost for each keyword the text holds.  BM25
 * orders the entries; the confidence in one, from 0 to 1, is the geometric
 * mean of the share of the text's weight (idf) the entry holds and the
 * share of its closest example question the text holds.  Three tiers, with
 * cut-offs calibrated on the knowledge base at load or set by hand:
 * answer; clarify ("您是想问:1. ... 2. ...", and the customer's "1", "2"
 * or words pick one); not understood, noted as "faq.unanswered" for the
 * escalation plugin after this one.
 *
 * Answering a clarify list scores only the listed entries.  With
 * KEFU_FAQ_VERIFY in the environment (tests), every ranking is checked
 * against the exhaustive one, bit for bit.
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kefu/plugin.h"

#define FAQ_TEXT 4096
#define FAQ_TERMS 512
#define FAQ_CANDIDATES 3
#define FAQ_CLAUSES 16
#define FAQ_FOLDS 5
#define FAQ_MISSES 1000 /* misses in a row counted, at most */
#define FAQ_SHOWN 60    /* characters of a question in a clarify list */
#define BM25_K1 1.2
#define BM25_B 0.5

struct faq_entry {
	char *id;
	char *answer;
	char *category;
	char *question;  /* the first example, shown when clarifying */
	char **examples; /* all, normalised (for the calibration) */
	int nexamples;
	char **keywords; /* normalised */
	int nkeywords;
	uint32_t *terms; /* sorted term hashes of all its examples */
	int *tf;
	int nterms;
	int len;             /* terms in all */
	uint32_t **ex_terms; /* each example's own, sorted and unique */
	int *ex_n;
	int self; /* its place in the knowledge base, for the folds */
};

/* An entry holding a term, with the term's BM25 weight in it, worked out
 * once at load so that ranking only adds. */
struct faq_posting {
	int entry;
	float w;
};

/* A keyword of an entry, found by the hash of its normal form. */
struct faq_keyword {
	uint32_t hash;
	int entry;
	const char *word;
	size_t len;
	int same; /* the same word as the one before it in the table */
};

/* What a text has added up for an entry: its BM25 score (zero: not
 * reached yet) and the idf it holds, side by side. */
struct faq_acc {
	float score, cover;
};

struct faq_term {
	uint32_t hash;
	double idf;
	struct faq_posting *post;
	int npost;
};

struct faq {
	const struct kefu_host *host;
	const struct kefu_conf *kb; /* the knowledge base file */
	struct faq_entry *e;
	int n;
	int parked;             /* entries with enabled = false: not loaded */
	struct faq_term *terms; /* sorted by hash */
	int nterms;
	double avglen;
	char **syn_from, **syn_to; /* normalised, longest first */
	int nsyn;
	char **stop; /* stop words without a question in them, longest first */
	int nstop;
	int borrowed; /* a calibration fold: words and entries are the parent's
	               */
	int fold;     /* the fold's number, when borrowed */
	const char **ids; /* open-addressed set of the ids ... */
	int *idx;         /* ... and each one's entry */
	int nids;
	struct faq_keyword *kw; /* sorted by hash */
	int nkw;
	size_t kwmax; /* bytes in the longest */
	double answer_at, clarify_at, margin, keyword_boost;
	int fixed_answer, fixed_clarify; /* set by hand: not calibrated */
	double target_wrong;             /* the calibration's goal */
	struct faq_acc *acc;             /* per entry, zero between texts */
	int *touched;
	int verify; /* KEFU_FAQ_VERIFY: each ranking checked against the
	               exhaustive one */
	char *clarify_intro, *clarify_outro;
};

/* -- text to terms ---------------------------------------------------- */

static uint32_t
faq_hash(const char *s, size_t n)
{
	uint32_t h = 2166136261u;

	while (n-- > 0)
		h = (h ^ (uint8_t)*s++) * 16777619u;
	return h ? h : 1;
}

/* Bytes of the character at s; a truncated sequence ends at the first
 * byte that does not continue it, so the end of the string is never
 * passed. */
static size_t
faq_char(const char *s)
{
	unsigned char c = (unsigned char)*s;
	size_t n = c < 0x80 ? 1 : c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4, i;

	for (i = 1; i < n && ((unsigned char)s[i] & 0xc0) == 0x80; i++)
		;
	return i;
}

/*
 * Words that ask: they decide what a clause is about, so no stop word list
 * removes them, and a clause holding one is the question in a long message.
 */
static const char *const faq_asks[] = {"有没有", "能不能", "可不可以", "是不是",
    "会不会", "要不要", "行不行", "可以吗", "为什么", "多少", "多久", "怎么",
    "什么", "哪里", "哪个", "哪些", "如何", "是否", "能否", "可否", "几", "吗",
    "呢", "么", "啥", "咋", "嘛", "how", "what", "when", "where", "can",
    "do you", "is it", "are you", NULL};

/* Whether the normal form s asks something. */
static int
faq_asking(const char *s)
{
	int i;

	for (i = 0; faq_asks[i] != NULL; i++)
		if (strstr(s, faq_asks[i]) != NULL)
			return 1;
	return 0;
}

/* Takes the stop words out of s, except inside a word that asks: 没有
 * goes, the 没有 of 有没有 stays.  What is left closes up (破了个洞 reads
 * 破洞), so the pairs around a stop word still count. */
static void
faq_unstop(const struct faq *f, char *s)
{
	char keep[FAQ_TEXT];
	size_t n = strlen(s), w, k;
	const char *p;
	int i, j;

	if (f->nstop == 0 || n >= sizeof(keep))
		return;
	memset(keep, 0, n);
	for (j = 0; faq_asks[j] != NULL; j++)
		for (p = s; (p = strstr(p, faq_asks[j])) != NULL; p++)
			memset(keep + (p - s), 1, strlen(faq_asks[j]));
	for (i = 0; i < f->nstop; i++) {
		w = strlen(f->stop[i]);
		for (p = s; (p = strstr(p, f->stop[i])) != NULL; p += w) {
			for (k = 0; k < w && !keep[p - s + k]; k++)
				;
			if (k == w)
				memset((char *)p, '\1', w);
		}
	}
	for (p = s, k = 0; *p != '\0'; p++)
		if (*p != '\1')
			s[k++] = *p;
	s[k] = '\0';
}

/* Normal form with synonyms rewritten to one word, stop words blanked. */
static void
faq_norm(const struct faq *f, const char *in, char *out, size_t len)
{
	char tmp[FAQ_TEXT], *hit;
	size_t at, lf, lt;
	int i;

	f->host->normalise(in, out, len);
	for (i = 0; i < f->nsyn; i++) {
		lf = strlen(f->syn_from[i]);
		lt = strlen(f->syn_to[i]);
		/* Past each replacement, so the text always moves on. */
		for (at = 0;
		     (hit = strstr(out + at, f->syn_from[i])) != NULL;) {
			if (strlen(out) - lf + lt >= sizeof(tmp) ||
			    strlen(out) - lf + lt >= len)
				break;
			snprintf(tmp, sizeof(tmp), "%.*s%s%s", (int)(hit - out),
			    out, f->syn_to[i], hit + lf);
			at = (size_t)(hit - out) + lt;
			snprintf(out, len, "%s", tmp);
		}
	}
	faq_unstop(f, out);
}

/* Character unigrams and bigrams (a space ends a run). */
static int
faq_terms(const char *s, uint32_t *out, int max)
{
	const char *p = s, *prev = NULL;
	int n = 0;

	while (*p != '\0' && n + 2 <= max) {
		size_t w = faq_char(p);

		if (*p == ' ') {
			prev = NULL;
			p++;
			continue;
		}
		/* The top bit tells pairs from single characters. */
		out[n++] = faq_hash(p, w) & 0x7fffffffu;
		if (prev != NULL)
			out[n++] = faq_hash(prev, (size_t)(p - prev) + w) |
			    0x80000000u;
		prev = p;
		p += w;
	}
	return n;
}

static int
faq_cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* The sorted, unique terms of text, in *out (the caller frees it). */
static int
faq_term_set(const struct faq *f, const char *text, uint32_t **out)
{
	uint32_t q[FAQ_TERMS];
	char norm[FAQ_TEXT];
	int n, i, k;

	faq_norm(f, text, norm, sizeof(norm));
	n = faq_terms(norm, q, FAQ_TERMS);
	qsort(q, n, sizeof(*q), faq_cmp_u32);
	for (i = k = 0; i < n; i++)
		if (k == 0 || q[k - 1] != q[i])
			q[k++] = q[i];
	*out = malloc((k + 1) * sizeof(**out));
	memcpy(*out, q, k * sizeof(**out));
	return k;
}

/* -- loading ------------------------------------------------------------ */

static int
faq_synonyms(struct faq *f, const char *path)
{
	const struct kefu_host *h = f->host;
	const struct kefu_conf *root = h->conf_load(path), *groups, *g;
	const char *w;
	char canon[256], norm[256];
	int i, j;

	if (root == NULL)
		return -1;
	groups = h->conf_member(root, "synonyms");
	for (i = 0; (g = h->conf_elem(groups, i)) != NULL; i++) {
		if (h->conf_length(g) < 2 ||
		    h->conf_string(h->conf_elem(g, 0), NULL, &w) != 1) {
			h->conf_error(g, NULL,
			    "expected [\"word\", \"another word\", ...]");
			h->conf_free(root);
			return -1;
		}
		h->normalise(w, canon, sizeof(canon));
		for (j = 1; h->conf_elem(g, j) != NULL; j++) {
			if (h->conf_string(h->conf_elem(g, j), NULL, &w) != 1)
				continue;
			h->normalise(w, norm, sizeof(norm));
			if (*norm == '\0' || strcmp(norm, canon) == 0)
				continue;
			if (strstr(canon, norm) != NULL) {
				h->log(KEFU_LOG_WARNING,
				    "%s: synonym \"%s\" is part of \"%s\" itself; ignored",
				    path, w, canon);
				continue;
			}
			f->syn_from = realloc(f->syn_from,
			    (f->nsyn + 1) * sizeof(char *));
			f->syn_to =
			    realloc(f->syn_to, (f->nsyn + 1) * sizeof(char *));
			f->syn_from[f->nsyn] = strdup(norm);
			f->syn_to[f->nsyn++] = strdup(canon);
		}
	}
	h->conf_free(root);
	/* Longest first, so 顺丰快递 is not half rewritten by 快递. */
	for (i = 1; i < f->nsyn; i++)
		for (j = i; j > 0 &&
		     strlen(f->syn_from[j]) > strlen(f->syn_from[j - 1]);
		     j--) {
			char *a = f->syn_from[j], *b = f->syn_to[j];

			f->syn_from[j] = f->syn_from[j - 1];
			f->syn_to[j] = f->syn_to[j - 1];
			f->syn_from[j - 1] = a;
			f->syn_to[j - 1] = b;
		}
	return 0;
}

/* Term counts of one entry from its examples, but those skip() holds
 * out (NULL: all of them). */
static void
faq_index_entry(struct faq *f, struct faq_entry *e,
    int (*skip)(int entry, int example, int n, int fold), int entry, int fold)
{
	uint32_t all[FAQ_TERMS * 4];
	char norm[FAQ_TEXT];
	int i, n = 0, k;

	for (i = 0; i < e->nexamples; i++) {
		if (skip != NULL && skip(entry, i, e->nexamples, fold))
			continue;
		faq_norm(f, e->examples[i], norm, sizeof(norm));
		n += faq_terms(norm, all + n,
		    (int)(sizeof(all) / sizeof(*all)) - n);
	}
	qsort(all, n, sizeof(*all), faq_cmp_u32);
	e->terms = calloc(n + 1, sizeof(*e->terms));
	e->tf = calloc(n + 1, sizeof(*e->tf));
	e->nterms = 0;
	for (i = 0; i < n; i = k) {
		for (k = i; k < n && all[k] == all[i]; k++)
			;
		e->terms[e->nterms] = all[i];
		e->tf[e->nterms++] = k - i;
	}
	e->len = n;
}

static int
faq_cmp_term(const void *a, const void *b)
{
	uint32_t x = ((const struct faq_term *)a)->hash,
	         y = ((const struct faq_term *)b)->hash;

	return x < y ? -1 : x > y;
}

static int
faq_cmp_keyword(const void *a, const void *b)
{
	uint32_t x = ((const struct faq_keyword *)a)->hash,
	         y = ((const struct faq_keyword *)b)->hash;

	return x < y ? -1 : x > y;
}

static struct faq_term *
faq_find(const struct faq *f, uint32_t hash)
{
	struct faq_term key = {.hash = hash};

	return bsearch(&key, f->terms, f->nterms, sizeof(key), faq_cmp_term);
}

/*
 * The inverted index: every term with its idf and the entries holding it,
 * each with the term's whole BM25 weight there; and the keyword table.
 */
static void
faq_index(struct faq *f)
{
	int i, j, total = 0, k = 0;
	struct faq_term *t;
	double len;

	for (i = 0; i < f->n; i++)
		total += f->e[i].nterms;
	f->terms = calloc(total + 1, sizeof(*f->terms));
	for (i = 0; i < f->n; i++)
		for (j = 0; j < f->e[i].nterms; j++)
			f->terms[k++].hash = f->e[i].terms[j];
	qsort(f->terms, k, sizeof(*f->terms), faq_cmp_term);
	/* Unique terms, counting the entries of each. */
	for (i = j = 0; i < k; i++) {
		if (j == 0 || f->terms[j - 1].hash != f->terms[i].hash)
			f->terms[j++].hash = f->terms[i].hash;
		f->terms[j - 1].npost++;
	}
	f->nterms = j;
	for (i = 0; i < f->nterms; i++) {
		t = &f->terms[i];
		t->post = calloc(t->npost, sizeof(*t->post));
		t->idf = log(1 + (f->n - t->npost + 0.5) / (t->npost + 0.5));
		t->npost = 0;
	}
	for (i = 0, total = 0; i < f->n; i++)
		total += f->e[i].len;
	f->avglen = f->n ? (double)total / f->n : 1;
	for (i = 0; i < f->n; i++) {
		len = BM25_K1 * (1 - BM25_B + BM25_B * f->e[i].len / f->avglen);
		for (j = 0; j < f->e[i].nterms; j++) {
			double tf = f->e[i].tf[j];

			t = faq_find(f, f->e[i].terms[j]);
			t->post[t->npost++] = (struct faq_posting){i,
			    (float)(t->idf * tf * (BM25_K1 + 1) / (tf + len))};
		}
	}
	for (i = 0, total = 0; i < f->n; i++)
		total += f->e[i].nkeywords;
	f->kw = calloc(total + 1, sizeof(*f->kw));
	for (i = 0; i < f->n; i++)
		for (j = 0; j < f->e[i].nkeywords; j++) {
			const char *w = f->e[i].keywords[j];

			f->kw[f->nkw++] =
			    (struct faq_keyword){faq_hash(w, strlen(w)), i, w,
			        strlen(w), 0};
			if (strlen(w) > f->kwmax)
				f->kwmax = strlen(w);
		}
	qsort(f->kw, f->nkw, sizeof(*f->kw), faq_cmp_keyword);
	for (i = 1; i < f->nkw; i++)
		f->kw[i].same = f->kw[i].hash == f->kw[i - 1].hash &&
		    f->kw[i].len == f->kw[i - 1].len &&
		    memcmp(f->kw[i].word, f->kw[i - 1].word, f->kw[i].len) == 0;
}

/* Remembers the id of entry f->n (not there yet). */
static void
faq_id_put(struct faq *f, const char *id)
{
	uint32_t i = faq_hash(id, strlen(id)) % (uint32_t)f->nids;

	while (f->ids[i] != NULL)
		i = (i + 1) % (uint32_t)f->nids;
	f->ids[i] = id;
	f->idx[i] = f->n;
}

/* The entry with this id, or -1: state kept across reloads names entries
 * by id, never by position. */
static int
faq_by_id(const struct faq *f, const char *id)
{
	uint32_t i;

	if (f->nids == 0)
		return -1;
	for (i = faq_hash(id, strlen(id)) % (uint32_t)f->nids;
	     f->ids[i] != NULL; i = (i + 1) % (uint32_t)f->nids)
		if (strcmp(f->ids[i], id) == 0)
			return f->idx[i];
	return -1;
}

static int
faq_load(struct faq *f, const char *path)
{
	static const char *const keys[] = {"id", "questions", "answer",
	    "keywords", "category", "enabled", NULL};
	const struct kefu_host *h = f->host;
	const struct kefu_conf *list, *x, *qs, *kw;
	const char *id, *answer, *q, *term, *cat;
	char norm[256];
	int i, j, bad = 0, on;

	if ((f->kb = h->conf_load(path)) == NULL)
		return -1;
	list = h->conf_member(f->kb, "faq");
	if (h->conf_length(list) == 0) {
		h->conf_error(f->kb, "faq", "expected a list of entries");
		return -1;
	}
	f->e = calloc(h->conf_length(list), sizeof(*f->e));
	f->ids = calloc(2 * h->conf_length(list), sizeof(*f->ids));
	f->nids = 2 * h->conf_length(list);
	f->idx = calloc(2 * h->conf_length(list), sizeof(*f->idx));
	for (i = 0; (x = h->conf_elem(list, i)) != NULL; i++) {
		struct faq_entry *e = &f->e[f->n];

		qs = h->conf_member(x, "questions");
		if (h->conf_check_keys(x, keys) < 0 ||
		    h->conf_string(x, "id", &id) != 1 ||
		    h->conf_string(x, "answer", &answer) != 1 ||
		    h->conf_length(qs) == 0 ||
		    h->conf_string(h->conf_elem(qs, 0), NULL, &q) != 1) {
			h->conf_error(x, NULL,
			    "an entry needs id, questions (a non-empty list) and answer");
			bad = -1;
			continue;
		}
		if (faq_by_id(f, id) >= 0) {
			h->conf_error(x, "id", "\"%s\" is used twice", id);
			bad = -1;
			continue;
		}
		/* Parked: kept in the file, checked, never answered. */
		on = 1;
		if (h->conf_bool(x, "enabled", &on) < 0)
			bad = -1;
		if (!on) {
			f->parked++;
			continue;
		}
		if (*answer == '\0') {
			h->conf_error(x, "answer", "empty");
			bad = -1;
			continue;
		}
		if ((term = h->guard_term(answer)) != NULL) {
			h->conf_error(x, "answer",
			    "holds \"%s\", which the style guard forbids",
			    term);
			bad = -1;
			continue;
		}
		cat = NULL;
		if (h->conf_string(x, "category", &cat) < 0)
			cat = NULL;
		e->id = strdup(id);
		faq_id_put(f, e->id);
		e->answer = strdup(answer);
		e->question = strdup(q);
		e->category = cat != NULL ? strdup(cat) : NULL;
		kw = h->conf_member(x, "keywords");
		e->keywords = calloc(h->conf_length(kw) + 1, sizeof(char *));
		for (j = 0; h->conf_string(h->conf_elem(kw, j), NULL, &q) == 1;
		     j++) {
			faq_norm(f, q, norm, sizeof(norm));
			if (*norm != '\0')
				e->keywords[e->nkeywords++] = strdup(norm);
		}
		e->examples = calloc(h->conf_length(qs) + 1, sizeof(char *));
		e->ex_terms =
		    calloc(h->conf_length(qs) + 1, sizeof(uint32_t *));
		e->ex_n = calloc(h->conf_length(qs) + 1, sizeof(int));
		for (j = 0; h->conf_string(h->conf_elem(qs, j), NULL, &q) == 1;
		     j++) {
			e->examples[e->nexamples] = strdup(q);
			e->ex_n[e->nexamples] =
			    faq_term_set(f, q, &e->ex_terms[e->nexamples]);
			e->nexamples++;
		}
		e->self = f->n;
		faq_index_entry(f, e, NULL, 0, 0);
		f->n++;
	}
	if (bad == 0)
		faq_index(f);
	f->acc = calloc(f->n + 1, sizeof(*f->acc));
	/* An entry is listed again for each keyword adding nothing to it
	 * (keyword_boost_percent = 0). */
	f->touched = calloc(f->n + f->nkw + 1, sizeof(*f->touched));
	return bad;
}

static void
faq_free(struct faq *f)
{
	int i, j;

	for (i = 0; i < f->n; i++) {
		struct faq_entry *e = &f->e[i];

		free(e->terms);
		free(e->tf);
		if (f->borrowed)
			continue; /* the rest is the parent's */
		free(e->id);
		free(e->answer);
		free(e->question);
		free(e->category);
		for (j = 0; j < e->nkeywords; j++)
			free(e->keywords[j]);
		free(e->keywords);
		for (j = 0; j < e->nexamples; j++) {
			free(e->examples[j]);
			free(e->ex_terms[j]);
		}
		free(e->examples);
		free(e->ex_terms);
		free(e->ex_n);
	}
	for (i = 0; i < f->nterms; i++)
		free(f->terms[i].post);
	if (!f->borrowed) {
		for (i = 0; i < f->nsyn; i++) {
			free(f->syn_from[i]);
			free(f->syn_to[i]);
		}
		for (i = 0; i < f->nstop; i++)
			free(f->stop[i]);
		free(f->syn_from);
		free(f->syn_to);
		free(f->stop);
		free(f->clarify_intro);
		free(f->clarify_outro);
		if (f->kb != NULL)
			f->host->conf_free(f->kb);
	}
	free(f->ids);
	free(f->idx);
	free(f->terms);
	free(f->kw);
	free(f->e);
	free(f->acc);
	free(f->touched);
	free(f);
}

static int
faq_double(const struct kefu_host *h, const struct kefu_conf *c,
    const char *name, double def, double *out)
{
	long long v = (long long)(def * 100);

	if (h->conf_int(c, name, &v) < 0)
		return -1;
	if (v < 0 || v > 100) {
		h->conf_error(c, name, "a percentage from 0 to 100");
		return -1;
	}
	*out = v / 100.0;
	return 0;
}

/* Stop words, one a line; those that ask something are kept (the stop
 * word list holds 怎么 and 吗, which decide what a customer wants). */
static int
faq_stopwords(struct faq *f, const struct kefu_conf *c, const char *path)
{
	char line[256], norm[256];
	FILE *fp;
	int i, j;

	if ((fp = fopen(path, "r")) == NULL) {
		f->host->conf_error(c, NULL, "cannot read %s", path);
		return -1;
	}
	while (fgets(line, sizeof(line), fp) != NULL) {
		line[strcspn(line, "\r\n")] = '\0';
		f->host->normalise(line, norm, sizeof(norm));
		/* Single characters are too often part of a word (一 in 一样
		 * and in 一件); question words decide intent. */
		if (norm[0] == '\0' || line[0] == '#' ||
		    norm[faq_char(norm)] == '\0' || faq_asking(norm) ||
		    strchr(norm, ' ') != NULL)
			continue;
		f->stop = realloc(f->stop, (f->nstop + 1) * sizeof(char *));
		f->stop[f->nstop++] = strdup(norm);
	}
	fclose(fp);
	for (i = 1; i < f->nstop; i++) /* longest first */
		for (j = i;
		     j > 0 && strlen(f->stop[j]) > strlen(f->stop[j - 1]);
		     j--) {
			char *x = f->stop[j];

			f->stop[j] = f->stop[j - 1];
			f->stop[j - 1] = x;
		}
	return 0;
}

/* A file, or a list of files (kefu's language layer first, then the
 * shop's own), each read by load. */
static int
faq_files(struct faq *f, const struct kefu_conf *conf, const char *name,
    int (*load)(struct faq *, const struct kefu_conf *, const char *))
{
	const struct kefu_host *h = f->host;
	const struct kefu_conf *m = h->conf_member(conf, name), *e;
	char path[4096];
	const char *v;
	int i;

	if (m == NULL)
		return 0;
	if (h->conf_length(m) == 0) {
		if (h->conf_string(m, NULL, &v) != 1)
			return -1;
		return h->conf_path(conf, name, path, sizeof(path)) == 1
		    ? load(f, m, path)
		    : -1;
	}
	for (i = 0; (e = h->conf_elem(m, i)) != NULL; i++)
		if (h->conf_path(e, NULL, path, sizeof(path)) != 1 ||
		    load(f, e, path) < 0)
			return -1;
	return 0;
}

static int
faq_synonyms_file(struct faq *f, const struct kefu_conf *c, const char *path)
{
	(void)c;
	return faq_synonyms(f, path);
}

static void faq_calibrate(struct faq *f);

static int
faq_init(const struct kefu_host *host, const struct kefu_conf *conf,
    void **state)
{
	static const char *const keys[] = {"kb", "synonyms", "stopwords",
	    "answer_percent", "clarify_percent", "margin_percent",
	    "keyword_boost_percent", "target_wrong_permille", "clarify_intro",
	    "clarify_outro", NULL};
	char path[4096];
	const char *v;
	long long permille = 10;
	struct faq *f;

	if (host->size <
	    offsetof(struct kefu_host, info_set) + sizeof(void *)) {
		host->log(KEFU_LOG_ERR,
		    "needs kefud with plugin ABI 1.3 or later");
		return -1;
	}
	if ((f = calloc(1, sizeof(*f))) == NULL)
		return -1;
	f->host = host;
	f->verify = getenv("KEFU_FAQ_VERIFY") != NULL;
	f->fixed_answer = host->conf_member(conf, "answer_percent") != NULL;
	f->fixed_clarify = host->conf_member(conf, "clarify_percent") != NULL;
	if (host->conf_check_keys(conf, keys) < 0 ||
	    faq_double(host, conf, "answer_percent", 0.80, &f->answer_at) < 0 ||
	    faq_double(host, conf, "clarify_percent", 0.60, &f->clarify_at) <
	        0 ||
	    faq_double(host, conf, "margin_percent", 0.25, &f->margin) < 0 ||
	    faq_double(host, conf, "keyword_boost_percent", 0.15,
	        &f->keyword_boost) < 0 ||
	    host->conf_int(conf, "target_wrong_permille", &permille) < 0)
		goto fail;
	if (permille < 1 || permille > 200) {
		host->conf_error(conf, "target_wrong_permille",
		    "from 1 to 200 (wrong answers per thousand questions)");
		goto fail;
	}
	f->target_wrong = permille / 1000.0;
	if (host->conf_string(conf, "clarify_intro", &v) == 1)
		f->clarify_intro = strdup(v);
	if (host->conf_string(conf, "clarify_outro", &v) == 1)
		f->clarify_outro = strdup(v);
	if (faq_files(f, conf, "synonyms", faq_synonyms_file) < 0 ||
	    faq_files(f, conf, "stopwords", faq_stopwords) < 0)
		goto fail;
	if (host->conf_path(conf, "kb", path, sizeof(path)) != 1) {
		if (host->conf_member(conf, "kb") == NULL)
			host->conf_error(conf, "kb", "missing required key");
		goto fail;
	}
	if (faq_load(f, path) < 0)
		goto fail;
	host->log(KEFU_LOG_INFO,
	    "%d entries from %s%s, %d synonyms, %d stop words", f->n, path,
	    f->parked > 0 ? " (and some parked: enabled = false)" : "", f->nsyn,
	    f->nstop);
	faq_calibrate(f);
	*state = f;
	return 0;
fail:
	faq_free(f);
	return -1;
}

/* -- matching ----------------------------------------------------------- */

struct faq_hit {
	int entry;
	double score; /* confidence, 0 to 1 */
	double rank;  /* BM25, for the order */
};

static int faq_held(int entry, int example, int n, int fold);

/* The weight of a term: its idf, or the most a term can have when the
 * knowledge base never uses it. */
static double
faq_idf(const struct faq *f, uint32_t hash)
{
	const struct faq_term *t = faq_find(f, hash);

	return t != NULL ? t->idf : log(1 + (f->n + 0.5) / 0.5);
}

/*
 * How much of its closest example question the text holds, weighted by
 * idf: 有货吗 holds all of 还有货吗, 今天天气不错 little of 今天能发货吗.
 * A fold of the calibration does not see the examples it holds out.
 */
static double
faq_example_cover(const struct faq *f, const uint32_t *qs, int nqs, int entry)
{
	const struct faq_entry *e = &f->e[entry];
	double best = 0, all, got;
	int i, j, k;

	for (i = 0; i < e->nexamples; i++) {
		if (f->borrowed && faq_held(e->self, i, e->nexamples, f->fold))
			continue;
		all = got = 0;
		for (j = k = 0; j < e->ex_n[i]; j++) {
			double w = faq_idf(f, e->ex_terms[i][j]);

			all += w;
			while (k < nqs && qs[k] < e->ex_terms[i][j])
				k++;
			if (k < nqs && qs[k] == e->ex_terms[i][j])
				got += w;
		}
		if (all > 0 && got / all > best)
			best = got / all;
	}
	return best;
}

/* A text made ready for ranking. */
struct faq_query {
	char norm[FAQ_TEXT];
	uint32_t q[FAQ_TERMS]; /* its terms */
	int nq;
	/* Those whose postings count, in the text's order, repeats
	 * included. */
	const struct faq_term *use[FAQ_TERMS];
	int nuse;
	double max; /* the most the text could score */
	/* The runs of the keyword table whose hash one of the text's
	 * substrings has, with the substring: in the order found. */
	struct {
		int lo;
		const char *p;
		size_t len;
	} kw[FAQ_TERMS];
	int nkw;
};

/* The substring from p to end, if it is a keyword not listed yet. */
static void
faq_query_keyword(const struct faq *f, struct faq_query *qr, const char *p,
    const char *end)
{
	uint32_t h = faq_hash(p, (size_t)(end - p));
	int lo = 0, hi = f->nkw, j, k;

	while (lo < hi) { /* the first with this hash */
		k = (lo + hi) / 2;
		if (f->kw[k].hash < h)
			lo = k + 1;
		else
			hi = k;
	}
	if (lo == f->nkw || f->kw[lo].hash != h)
		return;
	for (j = 0; j < qr->nkw && qr->kw[j].lo != lo; j++)
		;
	if (j < qr->nkw || qr->nkw == FAQ_TERMS)
		return;
	qr->kw[qr->nkw].lo = lo;
	qr->kw[qr->nkw].p = p;
	qr->kw[qr->nkw].len = (size_t)(end - p);
	qr->nkw++;
}

/* The text's terms and the keywords it holds; 0 when it has no terms. */
static int
faq_query(const struct faq *f, const char *text, struct faq_query *qr)
{
	const char *p, *end;
	int i;

	faq_norm(f, text, qr->norm, sizeof(qr->norm));
	if ((qr->nq = faq_terms(qr->norm, qr->q, FAQ_TERMS)) == 0 || f->n == 0)
		return 0;
	qr->max = 0;
	qr->nuse = qr->nkw = 0;
	for (i = 0; i < qr->nq; i++) {
		const struct faq_term *t = faq_find(f, qr->q[i]);

		if (t == NULL) {
			/*
			 * Characters the knowledge base never uses lower the
			 * confidence (今天天气不错 is not about 今天发货);
			 * new pairs of known characters do not: paraphrases
			 * are full of them.
			 */
			if (!(qr->q[i] & 0x80000000u))
				qr->max += 0.5 * log(1 + (f->n + 0.5) / 0.5);
			continue;
		}
		/* In a quarter of all entries or more: next to no weight,
		 * and the longest lists to walk. */
		if (t->npost * 4 > f->n && f->n >= 40)
			continue;
		/* The best this term could add: a document made of it. */
		qr->max += t->idf;
		qr->use[qr->nuse++] = t;
	}
	/* Keywords the text holds: its substrings up to the longest one,
	 * each keyword counted once however often it appears. */
	for (p = qr->norm; *p != '\0' && qr->max > 0; p += faq_char(p)) {
		/* Never past the text's end, whether or not the last
		 * substring was a keyword. */
		end = p;
		do {
			end += faq_char(end);
			if ((size_t)(end - p) > f->kwmax)
				break;
			faq_query_keyword(f, qr, p, end);
		} while (*end != '\0');
	}
	return 1;
}

/* Adds what the term holds for an entry. */
static void
faq_add(struct faq *f, int e, float w, float idf, int *nt)
{
	struct faq_acc *a = &f->acc[e];

	if (a->score == 0)
		f->touched[(*nt)++] = e;
	a->score += w;
	a->cover += idf;
}

/* Adds the boosts of the keywords the text holds, to every entry or to
 * those in only[] (sorted). */
static void
faq_boost(struct faq *f, const struct faq_query *qr, const int *only, int nonly,
    int *nt)
{
	int i, k, j, same = 0;

	for (i = 0; i < qr->nkw; i++) {
		uint32_t h = f->kw[qr->kw[i].lo].hash;

		for (k = qr->kw[i].lo; k < f->nkw && f->kw[k].hash == h; k++) {
			const struct faq_keyword *kw = &f->kw[k];

			/* Runs of one word are compared once. */
			if (!kw->same)
				same = kw->len == qr->kw[i].len &&
				    memcmp(kw->word, qr->kw[i].p, kw->len) == 0;
			if (!same)
				continue;
			if (only != NULL) {
				for (j = 0; j < nonly && only[j] != kw->entry;
				     j++)
					;
				if (j == nonly)
					continue;
			}
			if (f->acc[kw->entry].score == 0)
				f->touched[(*nt)++] = kw->entry;
			f->acc[kw->entry].score +=
			    (float)(f->keyword_boost * qr->max);
			f->acc[kw->entry].cover +=
			    (float)(f->keyword_boost * qr->max);
		}
	}
}

/* Every entry the text reaches, in f->acc; returns how many in
 * f->touched.  Work is in proportion to the postings of the text's
 * terms. */
static int
faq_accumulate(struct faq *f, const struct faq_query *qr)
{
	int i, j, nt = 0;

	for (i = 0; i < qr->nuse; i++) {
		const struct faq_term *t = qr->use[i];
		float idf = (float)t->idf;

		for (j = 0; j < t->npost; j++)
			faq_add(f, t->post[j].entry, t->post[j].w, idf, &nt);
	}
	faq_boost(f, qr, NULL, 0, &nt);
	return nt;
}

static int
faq_cmp_int(const void *a, const void *b)
{
	int x = *(const int *)a, y = *(const int *)b;

	return x < y ? -1 : x > y;
}

/*
 * The same for the entries in only[] alone (a clarify list): each looked
 * up in the postings instead of walking them, in the order the walk
 * would reach them, so that the sums and their order are the same.
 */
static int
faq_accumulate_only(struct faq *f, const struct faq_query *qr, const int *only,
    int nonly)
{
	int o[FAQ_CANDIDATES], no = 0, i, j, lo, hi, mid, nt = 0;

	if (nonly > FAQ_CANDIDATES)
		return faq_accumulate(f, qr);
	memcpy(o, only, nonly * sizeof(*o));
	qsort(o, nonly, sizeof(*o), faq_cmp_int);
	for (i = 0; i < nonly; i++)
		if (no == 0 || o[no - 1] != o[i])
			o[no++] = o[i];
	for (i = 0; i < qr->nuse; i++) {
		const struct faq_term *t = qr->use[i];

		for (j = 0; j < no; j++) {
			for (lo = 0, hi = t->npost; lo < hi;) {
				mid = (lo + hi) / 2;
				if (t->post[mid].entry < o[j])
					lo = mid + 1;
				else
					hi = mid;
			}
			if (lo < t->npost && t->post[lo].entry == o[j])
				faq_add(f, o[j], t->post[lo].w, (float)t->idf,
				    &nt);
		}
	}
	faq_boost(f, qr, o, no, &nt);
	return nt;
}

/* The best few of the entries reached, in order (the first reached first
 * among equals), with f->acc zeroed again for the next text. */
static void
faq_select(struct faq *f, const struct faq_query *qr, int nt, const int *only,
    int nonly, struct faq_hit *best, int *nbest)
{
	double sc, cv;
	int i, j, k, e;

	*nbest = 0;
	for (i = 0; i < nt; i++) {
		e = f->touched[i];
		sc = f->acc[e].score;
		cv = f->acc[e].cover;
		f->acc[e].score = f->acc[e].cover = 0;
		if (only != NULL) {
			for (j = 0; j < nonly && only[j] != e; j++)
				;
			if (j == nonly)
				continue;
		}
		/* Keep the best few, in order. */
		for (k = *nbest; k > 0 && best[k - 1].rank < sc; k--)
			if (k < FAQ_CANDIDATES)
				best[k] = best[k - 1];
		if (k < FAQ_CANDIDATES) {
			cv = qr->max > 0 ? cv / qr->max : 0;
			best[k] = (struct faq_hit){e, cv > 1 ? 1 : cv, sc};
			if (*nbest < FAQ_CANDIDATES)
				(*nbest)++;
		}
	}
}

/* KEFU_FAQ_VERIFY: the ranking against the exhaustive one, bit for bit;
 * a difference is a bug, and aborts. */
static void
faq_verify(struct faq *f, const char *text, const struct faq_hit *best,
    int nbest, const struct faq_hit *ref, int nref)
{
	int i;

	for (i = 0; i < nbest && nbest == nref; i++)
		if (best[i].entry != ref[i].entry ||
		    memcmp(&best[i].score, &ref[i].score, sizeof(double)) !=
		        0 ||
		    memcmp(&best[i].rank, &ref[i].rank, sizeof(double)) != 0)
			break;
	if (nbest == nref && i == nbest)
		return;
	f->host->log(KEFU_LOG_ERR,
	    "ranking differs from the exhaustive one for \"%s\": %d "
	    "candidates, %d expected; at %d: %s %.9g, %s %.9g expected",
	    text, nbest, nref, i, i < nbest ? f->e[best[i].entry].id : "-",
	    i < nbest ? best[i].rank : 0,
	    i < nref ? f->e[ref[i].entry].id : "-", i < nref ? ref[i].rank : 0);
	abort();
}

/*
 * Scores the entries text reaches; returns the best confidence and fills
 * best[] (at most FAQ_CANDIDATES), or -1 when the text has no terms.
 * Only entries in only[] count when only is not NULL.
 */
static double
faq_rank(struct faq *f, const char *text, struct faq_hit *best, int *nbest,
    const int *only, int nonly)
{
	struct faq_query qr;
	struct faq_hit ref[FAQ_CANDIDATES];
	int nref = 0, i, k, nt;

	if (!faq_query(f, text, &qr))
		return -1;
	if (f->verify) {
		nt = faq_accumulate(f, &qr);
		faq_select(f, &qr, nt, only, nonly, ref, &nref);
	}
	nt = only != NULL ? faq_accumulate_only(f, &qr, only, nonly)
	                  : faq_accumulate(f, &qr);
	faq_select(f, &qr, nt, only, nonly, best, nbest);
	if (f->verify)
		faq_verify(f, text, best, *nbest, ref, nref);
	/* The confidence: the share of the text the entry holds, and the
	 * share of its closest example the text holds. */
	qsort(qr.q, qr.nq, sizeof(*qr.q), faq_cmp_u32);
	for (i = k = 0; i < qr.nq; i++)
		if (k == 0 || qr.q[k - 1] != qr.q[i])
			qr.q[k++] = qr.q[i];
	for (i = 0; i < *nbest; i++)
		best[i].score = sqrt(best[i].score *
		    faq_example_cover(f, qr.q, k, best[i].entry));
	return *nbest > 0 ? best[0].score : 0;
}

/* Whether the best candidate stands out from the next one: by the order's
 * score, which tells entries apart better than their coverage. */
static int
faq_clear(const struct faq *f, const struct faq_hit *best, int nb)
{
	return nb < 2 ||
	    best[0].rank - best[1].rank >= f->margin * best[0].rank;
}

/*
 * The question inside a message.  Clauses end at punctuation or a space;
 * the whole text, each clause and each two neighbouring clauses are
 * ranked, and the best of them counts.  When a clause asks something (a
 * question word, or a "?" after it), only the pieces holding an asking
 * clause count: the context around it (我在成都，上周买的) is not what the
 * customer wants to know.
 */
static double
faq_best(struct faq *f, const char *text, struct faq_hit *best, int *nbest,
    const int *only, int nonly)
{
	struct {
		const char *s;
		size_t n;
		int asks;
	} cl[FAQ_CLAUSES];
	struct faq_hit hits[FAQ_CANDIDATES];
	char piece[FAQ_TEXT], norm[FAQ_TEXT];
	const char *p = text, *start = text;
	int ncl = 0, i, k, nh, asking = 0;
	double conf, top, whole, rank = -1;

	whole = top = faq_rank(f, text, best, nbest, only, nonly);
	for (;; p += faq_char(p)) {
		unsigned char c = (unsigned char)*p;
		int q = c == '?' || strncmp(p, "？", 3) == 0;
		int sep = c == '\0' || q || strchr(" \t\n,.;!~", c) != NULL ||
		    strncmp(p, "，", 3) == 0 || strncmp(p, "。", 3) == 0 ||
		    strncmp(p, "！", 3) == 0 || strncmp(p, "；", 3) == 0 ||
		    strncmp(p, "、", 3) == 0 || strncmp(p, "～", 3) == 0 ||
		    strncmp(p, "…", 3) == 0;

		if (sep && p > start && ncl < FAQ_CLAUSES) {
			snprintf(piece, sizeof(piece), "%.*s", (int)(p - start),
			    start);
			f->host->normalise(piece, norm, sizeof(norm));
			if (*norm != '\0') {
				cl[ncl].s = start;
				cl[ncl].n = (size_t)(p - start);
				cl[ncl].asks = q || faq_asking(norm);
				asking |= cl[ncl].asks;
				ncl++;
			}
		}
		if (q && ncl > 0)
			cl[ncl - 1].asks = asking = 1;
		if (sep)
			start = p + faq_char(p);
		if (*p == '\0')
			break;
	}
	if (ncl < 2)
		return top;
	if (asking)
		top = -1; /* the whole text counts only as a last resort */
	for (i = 0; i < ncl; i++)
		for (k = i; k <= i + 1 && k < ncl; k++) {
			if (asking && !cl[i].asks && !cl[k].asks)
				continue;
			snprintf(piece, sizeof(piece), "%.*s",
			    (int)(cl[k].s + cl[k].n - cl[i].s), cl[i].s);
			conf = faq_rank(f, piece, hits, &nh, only, nonly);
			/* Among the pieces that ask, the one with the most
			 * evidence: 那件羽绒服，想问下怎么洗 over 想问下怎么洗.
			 */
			if (asking ? nh > 0 && hits[0].rank > rank
			           : conf > top) {
				rank = nh > 0 ? hits[0].rank : rank;
				top = conf;
				memcpy(best, hits, sizeof(hits));
				*nbest = nh;
			}
		}
	/* No piece had terms: best[] still holds the whole text's ranking. */
	return top < 0 ? whole : top;
}

/* -- calibration --------------------------------------------------------- */

/* Fold `fold` holds out every example of about one entry in fifteen (as
 * questions the knowledge base cannot answer) and every fifth example of
 * the others, never an entry's only one. */
static int
faq_absent(int entry, int fold)
{
	return entry % FAQ_FOLDS == fold && entry / FAQ_FOLDS % 3 == 0;
}

static int
faq_held(int entry, int example, int n, int fold)
{
	return faq_absent(entry, fold) ||
	    (n >= 2 && (entry + example) % FAQ_FOLDS == fold);
}

struct faq_sample {
	float conf;
	char margin_ok, right, in_list, known;
};

/* The index without the fold's held-out questions, borrowing the rest. */
static struct faq *
faq_fold(const struct faq *f, int fold, int *orig)
{
	struct faq *c = calloc(1, sizeof(*c));
	int i;

	*c = (struct faq){.host = f->host,
	    .syn_from = f->syn_from,
	    .syn_to = f->syn_to,
	    .nsyn = f->nsyn,
	    .stop = f->stop,
	    .nstop = f->nstop,
	    .borrowed = 1,
	    .fold = fold,
	    .margin = f->margin,
	    .keyword_boost = f->keyword_boost,
	    .verify = f->verify};
	c->e = calloc(f->n + 1, sizeof(*c->e));
	for (i = 0; i < f->n; i++) {
		if (faq_absent(i, fold))
			continue;
		c->e[c->n] = f->e[i];
		faq_index_entry(c, &c->e[c->n], faq_held, i, fold);
		orig[c->n++] = i;
	}
	faq_index(c);
	c->acc = calloc(c->n + 1, sizeof(*c->acc));
	c->touched = calloc(c->n + c->nkw + 1, sizeof(*c->touched));
	return c;
}

static int
faq_cmp_sample(const void *a, const void *b)
{
	float x = ((const struct faq_sample *)a)->conf,
	      y = ((const struct faq_sample *)b)->conf;

	return x < y ? -1 : x > y;
}

/*
 * The knowledge base measured against itself: each held-out example is a
 * question whose right answer is known (its entry, or none when the whole
 * entry was held out).  The answer cut-off is the lowest that keeps wrong
 * answers under the target, counting questions the knowledge base cannot
 * answer as a fifth of the traffic; the clarify cut-off keeps the right
 * entry on offer for 95 % of the questions that have it among the best
 * candidates.
 */
static void
faq_calibrate(struct faq *f)
{
	struct faq_sample *sm;
	struct faq_hit best[FAQ_CANDIDATES];
	int *orig, fold, i, j, k, nb, n = 0, cap = 0, pos = 0, neg = 0, listed;
	int stride = f->n > 600 ? f->n / 600 : 1;
	double t, answer, clarify, wrong, rate, answered;
	char buf[64];
	struct faq *c;

	if (f->n < 2 * FAQ_FOLDS || (f->fixed_answer && f->fixed_clarify))
		goto report;
	for (i = 0; i < f->n; i++)
		cap += i % stride == 0 ? f->e[i].nexamples : 0;
	sm = calloc(cap + 1, sizeof(*sm));
	orig = calloc(f->n + 1, sizeof(*orig));
	for (fold = 0; fold < FAQ_FOLDS; fold++) {
		c = faq_fold(f, fold, orig);
		for (i = 0; i < f->n; i += stride)
			for (j = 0; j < f->e[i].nexamples; j++) {
				if (!faq_held(i, j, f->e[i].nexamples, fold) ||
				    n == cap)
					continue;
				if (faq_best(c, f->e[i].examples[j], best, &nb,
				        NULL, 0) < 0)
					continue;
				sm[n].conf = nb > 0 ? (float)best[0].score : 0;
				sm[n].margin_ok = faq_clear(f, best, nb);
				sm[n].known = !faq_absent(i, fold);
				sm[n].right =
				    nb > 0 && orig[best[0].entry] == i;
				for (k = 0; k < nb && orig[best[k].entry] != i;
				     k++)
					;
				sm[n].in_list = k < nb;
				pos += sm[n].known;
				neg += !sm[n].known;
				n++;
			}
		faq_free(c);
	}
	free(orig);
	if (pos == 0 || neg == 0) {
		free(sm);
		goto report;
	}
	/*
	 * The answer cut-off: going down from 95 %, the lowest before the
	 * share of questions answered wrong would pass the target (four in
	 * five questions taken to have an answer in the knowledge base, one
	 * in five not).
	 */
	answer = 0.95;
	for (t = 0.95; t >= 0.495; t -= 0.01) {
		double wp = 0, wn = 0;

		for (i = 0; i < n; i++)
			if (sm[i].conf >= t && sm[i].margin_ok) {
				wp += sm[i].known && !sm[i].right;
				wn += !sm[i].known;
			}
		rate = 0.8 * wp / pos + 0.2 * wn / neg;
		if (rate > f->target_wrong)
			break;
		answer = t;
	}
	/* The clarify cut-off: the 5th percentile of the right entry's
	 * questions that would list it. */
	qsort(sm, n, sizeof(*sm), faq_cmp_sample);
	for (i = listed = 0; i < n; i++)
		listed += sm[i].known && sm[i].in_list;
	clarify = answer;
	for (i = k = 0; i < n; i++)
		if (sm[i].known && sm[i].in_list && ++k > listed / 20) {
			clarify = sm[i].conf;
			break;
		}
	if (clarify > answer)
		clarify = answer;
	/* An offer is at least half as sure as an answer: 讲个笑话 gets no
	 * list of entries that merely share a character with it. */
	if (clarify < answer / 2)
		clarify = answer / 2;
	if (!f->fixed_answer)
		f->answer_at = answer;
	if (!f->fixed_clarify)
		f->clarify_at = clarify;
	/* Never an offer where an answer would do (an answer cut-off set by
	 * hand below the calibrated offer). */
	if (!f->fixed_clarify && f->clarify_at > f->answer_at)
		f->clarify_at = f->answer_at;
	wrong = answered = 0;
	for (i = 0; i < n; i++)
		if (sm[i].known && sm[i].conf >= f->answer_at &&
		    sm[i].margin_ok) {
			answered++;
			wrong += !sm[i].right;
		}
	f->host->log(KEFU_LOG_NOTICE,
	    "calibrated on %d held-out example questions (%d of entries held "
	    "out whole): answer at %.0f %%%s, clarify at %.0f %%%s; on them "
	    "%.0f %% answered, %.1f %% of the answers wrong",
	    pos, neg, f->answer_at * 100,
	    f->fixed_answer ? " (set by hand)" : "", f->clarify_at * 100,
	    f->fixed_clarify ? " (set by hand)" : "", 100.0 * answered / pos,
	    answered ? 100.0 * wrong / answered : 0);
	snprintf(buf, sizeof(buf), "%d", pos + neg);
	f->host->info_set("calibration_questions", buf);
	snprintf(buf, sizeof(buf), "%.1f",
	    answered ? 100.0 * wrong / answered : 0);
	f->host->info_set("calibration_wrong_percent", buf);
	free(sm);
	goto info;
report:
	f->host->log(KEFU_LOG_NOTICE,
	    "not calibrated (%s): answer at %.0f %%%s, clarify at %.0f %%%s",
	    f->fixed_answer && f->fixed_clarify
	        ? "both cut-offs set by hand"
	        : "too few entries or example questions",
	    f->answer_at * 100, f->fixed_answer ? " (set by hand)" : "",
	    f->clarify_at * 100, f->fixed_clarify ? " (set by hand)" : "");
info:
	snprintf(buf, sizeof(buf), "%.0f", f->answer_at * 100);
	f->host->info_set("answer_percent", buf);
	snprintf(buf, sizeof(buf), "%.0f", f->clarify_at * 100);
	f->host->info_set("clarify_percent", buf);
	f->host->info_set("cutoffs",
	    f->fixed_answer && f->fixed_clarify       ? "configured"
	        : f->fixed_answer || f->fixed_clarify ? "partly configured"
	                                              : "calibrated");
	snprintf(buf, sizeof(buf), "%d", f->n);
	f->host->info_set("entries", buf);
}

/* -- answering ---------------------------------------------------------- */

/* Appends to buf[*n] what fmt makes, if all of it fits; 0 (buf as it
 * was) if not. */
static int faq_fits(char *buf, size_t size, size_t *n, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int
faq_fits(char *buf, size_t size, size_t *n, const char *fmt, ...)
{
	va_list ap;
	int k;

	va_start(ap, fmt);
	k = vsnprintf(buf + *n, size - *n, fmt, ap);
	va_end(ap);
	if (k < 0 || (size_t)k >= size - *n) {
		buf[*n] = '\0';
		return 0;
	}
	*n += (size_t)k;
	return 1;
}

/* At most max characters of s, whole ones, with "…" when cut. */
static void
faq_clip(char *out, size_t len, const char *s, int max)
{
	const char *p = s;
	int i;

	for (i = 0; *p != '\0' && i < max; i++)
		p += faq_char(p);
	if ((size_t)(p - s) + 4 > len)
		p = s; /* cannot happen with len from FAQ_SHOWN */
	snprintf(out, len, "%.*s%s", (int)(p - s), s, *p != '\0' ? "…" : "");
}

static void
faq_note(const struct faq *f, struct kefu_turn *t, const struct faq_hit *h)
{
	char s[32];

	snprintf(s, sizeof(s), "%.3f", h->score > 1 ? 1 : h->score);
	f->host->note_set(t, "faq.id", f->e[h->entry].id);
	f->host->note_set(t, "faq.score", s);
}

static enum kefu_verdict
faq_answer(struct faq *f, struct kefu_turn *t, const struct faq_hit *h)
{
	faq_note(f, t, h);
	f->host->store_set(t, "clarify", NULL);
	f->host->store_set(t, "unanswered", NULL);
	f->host->reply(t, f->e[h->entry].answer);
	/* Passed on: a plugin after this one (escalate) may know better. */
	return KEFU_NEXT;
}

/* What the core keeps of a question not answered: the best candidates. */
static void
faq_unanswered(struct faq *f, struct kefu_turn *t, const struct faq_hit *best,
    int nb)
{
	char list[512];
	size_t n = 0;
	int i;

	list[0] = '\0';
	for (i = 0; i < nb && n < sizeof(list); i++)
		n += snprintf(list + n, sizeof(list) - n, "%s%s %.2f",
		    i ? "," : "", f->e[best[i].entry].id, best[i].score);
	f->host->unanswered(t, nb > 0 ? list : NULL);
}

/*
 * The customer answers "您是想问": a number, a yes to a single offer, or
 * words of one of the questions.  The offer is kept as entry ids, so that
 * it still means the same entries after a reload changed the knowledge
 * base; an id that went away is no longer on offer.
 */
static int
faq_pick(struct faq *f, struct kefu_turn *t, const char *text,
    struct faq_hit *picked)
{
	static const char *const yes[] = {"是", "是的", "对", "对的", "嗯",
	    "嗯嗯", "没错", "就是这个", "yes", "ok", NULL};
	const char *list = f->host->store_get(t, "clarify");
	int cand[FAQ_CANDIDATES], pos[FAQ_CANDIDATES], n = 0, nb, i, k;
	struct faq_hit best[FAQ_CANDIDATES];
	char norm[64], id[256], *end;
	size_t len;

	if (list == NULL)
		return 0;
	for (k = 1; *list != '\0' && n < FAQ_CANDIDATES; k++) {
		len = strcspn(list, "\n");
		snprintf(id, sizeof(id), "%.*s", (int)len, list);
		if ((cand[n] = faq_by_id(f, id)) >= 0)
			pos[n++] = k;
		list += len + (list[len] == '\n');
	}
	if (n == 0)
		return 0;
	f->host->normalise(text, norm, sizeof(norm));
	k = (int)strtol(norm, &end, 10);
	if (end != norm && *end == '\0') {
		for (i = 0; i < n && pos[i] != k; i++)
			;
		if (i < n) {
			*picked = (struct faq_hit){cand[i], 1, 1};
			return 1;
		}
		return 0;
	}
	for (i = 0; yes[i] != NULL && strcmp(norm, yes[i]) != 0; i++)
		;
	if (yes[i] != NULL && n == 1 && pos[0] == 1) {
		*picked = (struct faq_hit){cand[0], 1, 1};
		return 1;
	}
	if (faq_best(f, text, best, &nb, cand, n) >= f->clarify_at && nb > 0) {
		*picked = best[0];
		return 1;
	}
	return 0;
}

static enum kefu_verdict
faq_handle(void *state, struct kefu_turn *t, const struct kefu_event *ev)
{
	struct faq *f = state;
	const struct kefu_host *h = f->host;
	struct faq_hit best[FAQ_CANDIDATES], picked;
	char text[4 * FAQ_TEXT], ids[1024], num[16], shown[FAQ_SHOWN * 4 + 4];
	double conf;
	size_t n, m;
	int nb = 0, i, misses;
	const char *s;

	if (ev->type != KEFU_EV_MESSAGE ||
	    h->outcome(t) == KEFU_OUTCOME_HANDOFF ||
	    h->claimed(t, NULL) != NULL)
		return KEFU_NEXT;
	if (faq_pick(f, t, ev->text, &picked))
		return faq_answer(f, t, &picked);
	conf = faq_best(f, ev->text, best, &nb, NULL, 0);
	if (conf < 0)
		return KEFU_NEXT; /* nothing to match: emoji, an image */
	if (conf >= f->answer_at && faq_clear(f, best, nb))
		return faq_answer(f, t, &best[0]);
	if (conf >= f->clarify_at && f->clarify_intro != NULL) {
		/* Up to three, those close to the best. */
		n = m = 0;
		text[0] = ids[0] = '\0';
		faq_fits(text, sizeof(text), &n, "%s", f->clarify_intro);
		/* Whole lines only: a candidate that does not fit is left
		 * out, with its id. */
		for (i = 0; i < nb && best[i].score >= 0.5 * best[0].score;
		     i++) {
			size_t n0 = n, m0 = m;

			faq_clip(shown, sizeof(shown),
			    f->e[best[i].entry].question, FAQ_SHOWN);
			if (!faq_fits(text, sizeof(text), &n, "\n%d. %s", i + 1,
			        shown) ||
			    !faq_fits(ids, sizeof(ids), &m, "%s%s",
			        i ? "\n" : "", f->e[best[i].entry].id)) {
				text[n = n0] = ids[m = m0] = '\0';
				break;
			}
		}
		if (f->clarify_outro != NULL)
			faq_fits(text, sizeof(text), &n, "\n%s",
			    f->clarify_outro);
		faq_note(f, t, &best[0]);
		h->note_set(t, "action", "clarify");
		h->note_set(t, "faq.candidates", ids);
		h->store_set(t, "clarify", ids);
		faq_unanswered(f, t, best, nb);
		h->reply(t, text);
		h->ask(t);
		return KEFU_NEXT;
	}
	/* Not understood: the escalation plugin counts these.  The best
	 * candidate is noted anyway, for --replay and the evaluation. */
	if (nb > 0)
		faq_note(f, t, &best[0]);
	faq_unanswered(f, t, best, nb);
	s = h->store_get(t, "unanswered");
	/* Whatever an older generation left: a count from 0 to FAQ_MISSES. */
	misses = (int)(s != NULL ? strtol(s, NULL, 10) : 0);
	misses = misses < 0        ? 1
	    : misses >= FAQ_MISSES ? FAQ_MISSES
	                           : misses + 1;
	snprintf(num, sizeof(num), "%d", misses);
	h->store_set(t, "unanswered", num);
	h->note_set(t, "faq.unanswered", num);
	h->store_set(t, "clarify", NULL);
	return KEFU_NEXT;
}

static void
faq_fini(void *state)
{
	faq_free(state);
}

KEFU_PLUGIN_EXPORT = {
    .abi_major = KEFU_ABI_MAJOR,
    .abi_minor = KEFU_ABI_MINOR,
    .size = sizeof(struct kefu_plugin),
    .name = "faq",
    .version = "1.0.0",
    .init = faq_init,
    .handle = faq_handle,
    .fini = faq_fini,
};
