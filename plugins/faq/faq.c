/*
 * faq: answers the shop's frequent questions from a knowledge base.
 *
 * Both the knowledge base and the customer's text are normalised (the
 * host's normaliser) and their synonyms rewritten to one form; entries
 * are ranked with BM25 over character unigrams and bigrams of all their
 * example questions, plus a boost for each keyword the text holds.  The
 * confidence of the best entry is its score over the best score the text
 * could reach, from 0 to 1.  Three tiers, thresholds in the configuration:
 * answer; clarify ("您是想问:1. ... 2. ...", and the customer's "1", "2" or
 * words pick one); not understood, noted as "faq.unanswered" for the
 * escalation plugin after this one.
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kefu/plugin.h"

#define FAQ_TEXT 4096
#define FAQ_TERMS 512
#define FAQ_CANDIDATES 3
#define BM25_K1 1.2
#define BM25_B 0.5

struct faq_entry {
	char *id;
	char *answer;
	char *category;
	char *question;  /* the first example, shown when clarifying */
	char **keywords; /* normalised */
	int nkeywords;
	uint32_t *terms; /* sorted term hashes of all its examples */
	int *tf;
	int nterms;
	int len; /* terms in all */
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
	struct faq_term *terms; /* sorted by hash */
	int nterms;
	double avglen;
	char **syn_from, **syn_to; /* normalised, longest first */
	int nsyn;
	const char **ids; /* open-addressed set of the ids, while loading */
	int nids;
	struct faq_keyword *kw; /* sorted by hash */
	int nkw;
	size_t kwmax; /* bytes in the longest */
	double answer_at, clarify_at, margin, keyword_boost;
	float *score; /* per entry, zero between texts */
	int *touched;
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

/* Normal form with synonyms rewritten to one word. */
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

/* Term counts of one entry from all its examples. */
static void
faq_index_entry(struct faq *f, struct faq_entry *e, const struct kefu_conf *qs)
{
	uint32_t all[FAQ_TERMS * 4];
	char norm[FAQ_TEXT];
	const char *q;
	int i, n = 0, k;

	for (i = 0;
	     f->host->conf_string(f->host->conf_elem(qs, i), NULL, &q) == 1;
	     i++) {
		faq_norm(f, q, norm, sizeof(norm));
		n += faq_terms(norm, all + n,
		    (int)(sizeof(all) / sizeof(*all)) - n);
	}
	qsort(all, n, sizeof(*all), faq_cmp_u32);
	e->terms = calloc(n + 1, sizeof(*e->terms));
	e->tf = calloc(n + 1, sizeof(*e->tf));
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
			    (struct faq_keyword){faq_hash(w, strlen(w)), i, w};
			if (strlen(w) > f->kwmax)
				f->kwmax = strlen(w);
		}
	qsort(f->kw, f->nkw, sizeof(*f->kw), faq_cmp_keyword);
}

/* Whether id was seen before in this knowledge base; remembers it. */
static int
faq_id_seen(struct faq *f, const char *id)
{
	uint32_t i = faq_hash(id, strlen(id)) % (uint32_t)f->nids;

	for (; f->ids[i] != NULL; i = (i + 1) % (uint32_t)f->nids)
		if (strcmp(f->ids[i], id) == 0)
			return 1;
	f->ids[i] = id;
	return 0;
}

static int
faq_load(struct faq *f, const char *path)
{
	static const char *const keys[] = {"id", "questions", "answer",
	    "keywords", "category", NULL};
	const struct kefu_host *h = f->host;
	const struct kefu_conf *list, *x, *qs, *kw;
	const char *id, *answer, *q, *term, *cat;
	char norm[256];
	int i, j, bad = 0;

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
		if (faq_id_seen(f, id)) {
			h->conf_error(x, "id", "\"%s\" is used twice", id);
			bad = -1;
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
		faq_index_entry(f, e, qs);
		f->n++;
	}
	free(f->ids);
	f->ids = NULL;
	if (bad == 0)
		faq_index(f);
	f->score = calloc(f->n + 1, sizeof(*f->score));
	f->touched = calloc(f->n + 1, sizeof(*f->touched));
	return bad;
}

static void
faq_free(struct faq *f)
{
	int i, j;

	for (i = 0; i < f->n; i++) {
		struct faq_entry *e = &f->e[i];

		free(e->id);
		free(e->answer);
		free(e->question);
		free(e->category);
		for (j = 0; j < e->nkeywords; j++)
			free(e->keywords[j]);
		free(e->keywords);
		free(e->terms);
		free(e->tf);
	}
	for (i = 0; i < f->nterms; i++)
		free(f->terms[i].post);
	for (i = 0; i < f->nsyn; i++) {
		free(f->syn_from[i]);
		free(f->syn_to[i]);
	}
	free(f->syn_from);
	free(f->syn_to);
	free(f->terms);
	free(f->kw);
	free(f->e);
	free(f->score);
	free(f->touched);
	free(f->clarify_intro);
	free(f->clarify_outro);
	if (f->kb != NULL)
		f->host->conf_free(f->kb);
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

static int
faq_init(const struct kefu_host *host, const struct kefu_conf *conf,
    void **state)
{
	static const char *const keys[] = {"kb", "synonyms", "answer_percent",
	    "clarify_percent", "margin_percent", "keyword_boost_percent",
	    "clarify_intro", "clarify_outro", NULL};
	char path[4096];
	const char *v;
	struct faq *f;

	if (host->size <
	    offsetof(struct kefu_host, live_conversations) + sizeof(void *)) {
		host->log(KEFU_LOG_ERR,
		    "needs kefud with plugin ABI 1.1 or later");
		return -1;
	}
	if ((f = calloc(1, sizeof(*f))) == NULL)
		return -1;
	f->host = host;
	if (host->conf_check_keys(conf, keys) < 0 ||
	    faq_double(host, conf, "answer_percent", 0.95, &f->answer_at) < 0 ||
	    faq_double(host, conf, "clarify_percent", 0.85, &f->clarify_at) <
	        0 ||
	    faq_double(host, conf, "margin_percent", 0.25, &f->margin) < 0 ||
	    faq_double(host, conf, "keyword_boost_percent", 0.15,
	        &f->keyword_boost) < 0)
		goto fail;
	if (host->conf_string(conf, "clarify_intro", &v) == 1)
		f->clarify_intro = strdup(v);
	if (host->conf_string(conf, "clarify_outro", &v) == 1)
		f->clarify_outro = strdup(v);
	if (host->conf_member(conf, "synonyms") != NULL &&
	    (host->conf_path(conf, "synonyms", path, sizeof(path)) != 1 ||
	        faq_synonyms(f, path) < 0))
		goto fail;
	if (host->conf_path(conf, "kb", path, sizeof(path)) != 1) {
		if (host->conf_member(conf, "kb") == NULL)
			host->conf_error(conf, "kb", "missing required key");
		goto fail;
	}
	if (faq_load(f, path) < 0)
		goto fail;
	host->log(KEFU_LOG_INFO, "%d entries from %s, %d synonyms", f->n, path,
	    f->nsyn);
	*state = f;
	return 0;
fail:
	faq_free(f);
	return -1;
}

/* -- matching ----------------------------------------------------------- */

struct faq_hit {
	int entry;
	double score;
};

/*
 * Scores the entries text reaches; returns the best confidence and fills
 * best[] (at most FAQ_CANDIDATES), or -1 when the text has no terms.
 * Only entries in only[] count when only is not NULL.  Work is in
 * proportion to the postings of the text's terms, not to the size of the
 * knowledge base.
 */
static double
faq_rank(struct faq *f, const char *text, struct faq_hit *best, int *nbest,
    const int *only, int nonly)
{
	uint32_t q[FAQ_TERMS];
	char norm[FAQ_TEXT];
	const char *p, *end;
	double max = 0, sc;
	int nq, i, j, k, nt = 0, e, seen[FAQ_TERMS], nseen = 0;

	faq_norm(f, text, norm, sizeof(norm));
	if ((nq = faq_terms(norm, q, FAQ_TERMS)) == 0 || f->n == 0)
		return -1;
	for (i = 0; i < nq; i++) {
		const struct faq_term *t = faq_find(f, q[i]);

		if (t == NULL) {
			/*
			 * Characters the knowledge base never uses lower the
			 * confidence (今天天气不错 is not about 今天发货);
			 * new pairs of known characters do not: paraphrases
			 * are full of them.
			 */
			if (!(q[i] & 0x80000000u))
				max += 0.5 * log(1 + (f->n + 0.5) / 0.5);
			continue;
		}
		/* In a quarter of all entries or more: next to no weight,
		 * and the longest lists to walk. */
		if (t->npost * 4 > f->n && f->n >= 40)
			continue;
		/* The best this term could add: a document made of it. */
		max += t->idf;
		for (j = 0; j < t->npost; j++) {
			const struct faq_posting *ps = &t->post[j];

			if (f->score[ps->entry] == 0)
				f->touched[nt++] = ps->entry;
			f->score[ps->entry] += ps->w;
		}
	}
	/* Keywords the text holds: its substrings up to the longest one,
	 * each keyword counted once however often it appears. */
	for (p = norm; *p != '\0' && max > 0; p += faq_char(p))
		for (end = p + faq_char(p); (size_t)(end - p) <= f->kwmax;
		     end += faq_char(end)) {
			uint32_t h = faq_hash(p, (size_t)(end - p));
			int lo = 0, hi = f->nkw;

			while (lo < hi) { /* the first with this hash */
				k = (lo + hi) / 2;
				if (f->kw[k].hash < h)
					lo = k + 1;
				else
					hi = k;
			}
			if (lo == f->nkw || f->kw[lo].hash != h)
				continue;
			for (j = 0; j < nseen && seen[j] != lo; j++)
				;
			if (j == nseen && nseen < FAQ_TERMS)
				seen[nseen++] = lo;
			else
				continue;
			for (k = lo; k < f->nkw && f->kw[k].hash == h; k++) {
				const struct faq_keyword *kw = &f->kw[k];

				if (strlen(kw->word) != (size_t)(end - p) ||
				    memcmp(kw->word, p, end - p) != 0)
					continue;
				if (f->score[kw->entry] == 0)
					f->touched[nt++] = kw->entry;
				f->score[kw->entry] +=
				    (float)(f->keyword_boost * max);
			}
			if (*end == '\0')
				break;
		}
	*nbest = 0;
	for (i = 0; i < nt; i++) {
		e = f->touched[i];
		sc = f->score[e];
		f->score[e] = 0; /* ready for the next text */
		if (only != NULL) {
			for (j = 0; j < nonly && only[j] != e; j++)
				;
			if (j == nonly)
				continue;
		}
		sc = max > 0 ? sc / max : 0;
		/* Keep the best few, in order. */
		for (k = *nbest; k > 0 && best[k - 1].score < sc; k--)
			if (k < FAQ_CANDIDATES)
				best[k] = best[k - 1];
		if (k < FAQ_CANDIDATES) {
			best[k] = (struct faq_hit){e, sc};
			if (*nbest < FAQ_CANDIDATES)
				(*nbest)++;
		}
	}
	return *nbest > 0 ? best[0].score : 0;
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

/* The customer answers "您是想问": a number, or words of one question. */
static int
faq_pick(struct faq *f, struct kefu_turn *t, const char *text,
    struct faq_hit *picked)
{
	const char *list = f->host->store_get(t, "clarify");
	int cand[FAQ_CANDIDATES], n = 0, nb, i;
	struct faq_hit best[FAQ_CANDIDATES];
	char norm[64], *end;
	long k;

	if (list == NULL)
		return 0;
	while (n < FAQ_CANDIDATES && *list != '\0') {
		cand[n++] = (int)strtol(list, &end, 10);
		list = *end == ',' ? end + 1 : end;
	}
	f->host->normalise(text, norm, sizeof(norm));
	k = strtol(norm, &end, 10);
	if (end != norm && (*end == '\0' || strcmp(end, " ") == 0) && k >= 1 &&
	    k <= n) {
		*picked = (struct faq_hit){cand[k - 1], 1};
		return 1;
	}
	for (i = 0; i < n; i++)
		if (cand[i] >= f->n)
			return 0;
	if (faq_rank(f, text, best, &nb, cand, n) >= f->clarify_at && nb > 0) {
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
	char text[FAQ_TEXT], ids[64], num[16];
	double conf;
	size_t n;
	int nb = 0, i, misses;
	const char *m;

	if (ev->type != KEFU_EV_MESSAGE ||
	    h->outcome(t) == KEFU_OUTCOME_HANDOFF)
		return KEFU_NEXT;
	if (faq_pick(f, t, ev->text, &picked))
		return faq_answer(f, t, &picked);
	conf = faq_rank(f, ev->text, best, &nb, NULL, 0);
	if (conf < 0)
		return KEFU_NEXT; /* nothing to match: emoji, an image */
	if (conf >= f->answer_at &&
	    (nb < 2 ||
	        best[0].score - best[1].score >= f->margin * best[0].score))
		return faq_answer(f, t, &best[0]);
	if (conf >= f->clarify_at && nb >= 2 && f->clarify_intro != NULL) {
		n = snprintf(text, sizeof(text), "%s", f->clarify_intro);
		ids[0] = '\0';
		for (i = 0; i < nb && best[i].score >= 0.8 * best[0].score;
		     i++) {
			n += snprintf(text + n, sizeof(text) - n, "\n%d. %s",
			    i + 1, f->e[best[i].entry].question);
			snprintf(num, sizeof(num), "%s%d", i ? "," : "",
			    best[i].entry);
			strncat(ids, num, sizeof(ids) - strlen(ids) - 1);
		}
		if (i < 2 && conf >= f->answer_at)
			return faq_answer(f, t, &best[0]);
		if (i >= 2) {
			if (f->clarify_outro != NULL)
				snprintf(text + n, sizeof(text) - n, "\n%s",
				    f->clarify_outro);
			faq_note(f, t, &best[0]);
			h->note_set(t, "action", "clarify");
			h->store_set(t, "clarify", ids);
			h->reply(t, text);
			h->ask(t);
			return KEFU_NEXT;
		}
	}
	/* Not understood: the escalation plugin counts these.  The best
	 * candidate is noted anyway, for --replay and the evaluation. */
	if (nb > 0)
		faq_note(f, t, &best[0]);
	m = h->store_get(t, "unanswered");
	misses = (m != NULL ? atoi(m) : 0) + 1;
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
