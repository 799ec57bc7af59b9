#ifndef KEFU_KV_H
#define KEFU_KV_H

#include <stddef.h>

/* A short list of string pairs: notes of a turn, a plugin's storage. */
struct kv {
	char **keys;
	char **vals;
	size_t n;
	size_t cap;
};

int kv_set(struct kv *kv, const char *key, const char *val);
const char *kv_get(const struct kv *kv, const char *key);
void kv_free(struct kv *kv);

#endif
