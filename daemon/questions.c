/*
 * What customers asked that the bot could not answer (or only with a list
 * to choose from), grouped for `kefuctl unanswered`: the shop reads the
 * groups, most asked first, and adds knowledge-base entries for them.
 * Questions are kept by the store; grouping happens when ops ask, by the
 * overlap of character pairs of their normal forms, so 发票怎么开 and
 * 怎么开发票啊 fall together.
 */
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "log.h"
#include "norm.h"
#include "questions.h"
#include "store.h"
#include "xmalloc.h"

#define Q_PAIRS 128
#define Q_SHOWN 5
#define Q_SIMILAR 0.5 /* Dice coefficient of character pairs */

struct q_group {
	uint32_t pairs[Q_PAIRS]; /* of its first question, sorted */
	int npairs;
	unsigned count;
	int64_t last_ms;
	cJSON *texts, *convs;
	char *candidates; /* of the latest */
};

struct q_all {
	struct q_group *g;
	size_t n, cap;
};

static uint32_t
q_hash(const char *s, size_t n)
{
	uint32_t h = 2166136261u;

	while (n-- > 0)
		h = (h ^ (uint8_t)*s++) * 16777619u;
	return h;
}

static size_t
q_char(const char *s)
{
	unsigned char c = (unsigned char)*s;
	size_t n = c < 0x80 ? 1 : c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4, i;

	for (i = 1; i < n && ((unsigned char)s[i] & 0xc0) == 0x80; i++)
		;
	return i;
}

static int
q_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* The distinct character pairs of a text's normal form, sorted. */
static int
q_pairs(const char *text, uint32_t *out)
{
	char norm[1024];
	const char *p, *prev = NULL;
	int n = 0, i, k;

	norm_text(text, norm, sizeof(norm));
	for (p = norm; *p != '\0' && n < Q_PAIRS; p += q_char(p)) {
		if (*p == ' ') {
			prev = NULL;
			continue;
		}
		/* A text of one character is its own pair. */
		if (prev != NULL || p[q_char(p)] == '\0')
			out[n++] = q_hash(prev != NULL ? prev : p,
			    (size_t)(p - (prev != NULL ? prev : p)) +
			        q_char(p));
		prev = p;
	}
	qsort(out, n, sizeof(*out), q_cmp);
	for (i = k = 0; i < n; i++)
		if (k == 0 || out[k - 1] != out[i])
			out[k++] = out[i];
	return k;
}

static double
q_dice(const uint32_t *a, int na, const uint32_t *b, int nb)
{
	int i = 0, j = 0, common = 0;

	while (i < na && j < nb) {
		if (a[i] == b[j]) {
			common++;
			i++;
			j++;
		} else if (a[i] < b[j])
			i++;
		else
			j++;
	}
	return na + nb > 0 ? 2.0 * common / (na + nb) : 0;
}

static void
q_add(void *arg, int64_t ts, const char *conv, const char *text,
    const char *candidates)
{
	struct q_all *all = arg;
	uint32_t pairs[Q_PAIRS];
	struct q_group *g = NULL;
	int n = q_pairs(text, pairs);
	size_t i;

	for (i = 0; i < all->n; i++)
		if (q_dice(all->g[i].pairs, all->g[i].npairs, pairs, n) >=
		    Q_SIMILAR) {
			g = &all->g[i];
			break;
		}
	if (g == NULL) {
		if (all->n == all->cap) {
			all->cap = all->cap ? all->cap * 2 : 64;
			all->g = realloc(all->g, all->cap * sizeof(*all->g));
			if (all->g == NULL)
				fatal("questions");
		}
		g = &all->g[all->n++];
		memset(g, 0, sizeof(*g));
		memcpy(g->pairs, pairs, n * sizeof(*pairs));
		g->npairs = n;
		g->texts = cJSON_CreateArray();
		g->convs = cJSON_CreateArray();
	}
	g->count++;
	g->last_ms = ts;
	free(g->candidates);
	g->candidates = candidates != NULL ? xstrdup(candidates) : NULL;
	/* The latest few, each text once. */
	for (i = 0; i < (size_t)cJSON_GetArraySize(g->texts); i++)
		if (strcmp(cJSON_GetArrayItem(g->texts, (int)i)->valuestring,
		        text) == 0)
			break;
	if (i == (size_t)cJSON_GetArraySize(g->texts)) {
		if (cJSON_GetArraySize(g->texts) == Q_SHOWN) {
			cJSON_DeleteItemFromArray(g->texts, 0);
			cJSON_DeleteItemFromArray(g->convs, 0);
		}
		cJSON_AddItemToArray(g->texts, cJSON_CreateString(text));
		cJSON_AddItemToArray(g->convs,
		    cJSON_CreateString(conv != NULL ? conv : ""));
	}
}

static int
q_by_count(const void *a, const void *b)
{
	const struct q_group *x = a, *y = b;

	if (x->count != y->count)
		return x->count < y->count ? 1 : -1;
	return x->last_ms < y->last_ms ? 1 : x->last_ms > y->last_ms ? -1 : 0;
}

cJSON *
questions_json(int64_t since, int limit)
{
	struct q_all all = {0};
	cJSON *o = cJSON_CreateObject(), *arr, *g;
	size_t i;
	int n;

	store_flush(); /* what was asked a moment ago too */
	if ((n = store_questions(since, q_add, &all)) < 0) {
		cJSON_Delete(o);
		return NULL;
	}
	qsort(all.g, all.n, sizeof(*all.g), q_by_count);
	cJSON_AddNumberToObject(o, "questions", n);
	cJSON_AddNumberToObject(o, "groups", (double)all.n);
	arr = cJSON_AddArrayToObject(o, "unanswered");
	for (i = 0; i < all.n; i++) {
		if ((int)i < limit) {
			g = cJSON_CreateObject();
			cJSON_AddNumberToObject(g, "count", all.g[i].count);
			cJSON_AddNumberToObject(g, "last_ms",
			    (double)all.g[i].last_ms);
			cJSON_AddItemToObject(g, "texts", all.g[i].texts);
			cJSON_AddItemToObject(g, "conversations",
			    all.g[i].convs);
			if (all.g[i].candidates != NULL)
				cJSON_AddStringToObject(g, "candidates",
				    all.g[i].candidates);
			cJSON_AddItemToArray(arr, g);
		} else {
			cJSON_Delete(all.g[i].texts);
			cJSON_Delete(all.g[i].convs);
		}
		free(all.g[i].candidates);
	}
	free(all.g);
	return o;
}
