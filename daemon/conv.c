#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "conv.h"
#include "log.h"

#define CONV_BUCKETS 4096

static struct conv *conv_table[CONV_BUCKETS];
static unsigned conv_n;

static uint32_t
conv_hash(const char *s)
{
	uint32_t h = 2166136261u; /* FNV-1a */

	while (*s != '\0')
		h = (h ^ (uint8_t)*s++) * 16777619u;
	return h;
}

struct conv *
conv_get(const char *id, int create)
{
	struct conv **b = &conv_table[conv_hash(id) % CONV_BUCKETS], *c;

	for (c = *b; c != NULL; c = c->next)
		if (strcmp(c->id, id) == 0)
			return c;
	if (!create)
		return NULL;
	if ((c = calloc(1, sizeof(*c))) == NULL || (c->id = strdup(id)) == NULL)
		fatal("conversation");
	c->next = *b;
	*b = c;
	conv_n++;
	return c;
}

void
conv_free_all(void)
{
	struct conv *c, *next;
	size_t i;

	for (i = 0; i < CONV_BUCKETS; i++) {
		for (c = conv_table[i]; c != NULL; c = next) {
			next = c->next;
			kv_free(&c->store);
			free(c->id);
			free(c);
		}
		conv_table[i] = NULL;
	}
	conv_n = 0;
}

unsigned
conv_count(void)
{
	return conv_n;
}
