#include <stdlib.h>
#include <sys/types.h>
#include <string.h>

#include "kv.h"

static ssize_t
kv_find(const struct kv *kv, const char *key)
{
	size_t i;

	for (i = 0; i < kv->n; i++)
		if (strcmp(kv->keys[i], key) == 0)
			return (ssize_t)i;
	return -1;
}

/* val NULL removes the key. */
int
kv_set(struct kv *kv, const char *key, const char *val)
{
	ssize_t i = kv_find(kv, key);
	char *v = NULL;

	if (val != NULL && (v = strdup(val)) == NULL)
		return -1;
	if (i >= 0) {
		free(kv->vals[i]);
		if (v != NULL) {
			kv->vals[i] = v;
			return 0;
		}
		free(kv->keys[i]);
		kv->n--;
		kv->keys[i] = kv->keys[kv->n];
		kv->vals[i] = kv->vals[kv->n];
		return 0;
	}
	if (v == NULL)
		return 0;
	if (kv->n == kv->cap) {
		size_t cap = kv->cap ? kv->cap * 2 : 4;
		char **k = realloc(kv->keys, cap * sizeof(*k));
		char **w;

		if (k == NULL)
			goto fail;
		kv->keys = k;
		if ((w = realloc(kv->vals, cap * sizeof(*w))) == NULL)
			goto fail;
		kv->vals = w;
		kv->cap = cap;
	}
	if ((kv->keys[kv->n] = strdup(key)) == NULL)
		goto fail;
	kv->vals[kv->n++] = v;
	return 0;
fail:
	free(v);
	return -1;
}

const char *
kv_get(const struct kv *kv, const char *key)
{
	ssize_t i = kv_find(kv, key);

	return i >= 0 ? kv->vals[i] : NULL;
}

void
kv_free(struct kv *kv)
{
	size_t i;

	for (i = 0; i < kv->n; i++) {
		free(kv->keys[i]);
		free(kv->vals[i]);
	}
	free(kv->keys);
	free(kv->vals);
	memset(kv, 0, sizeof(*kv));
}
