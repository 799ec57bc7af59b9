#ifndef KEFU_CONV_H
#define KEFU_CONV_H

#include "kv.h"

/*
 * A conversation, owned by the core so that it outlives any plugin
 * generation.  Plugins see it only through the host table.
 */
struct conv {
	char *id;
	unsigned events;   /* inbound events handled so far */
	struct kv store;   /* "plugin\x1fkey" -> value */
	struct conv *next; /* hash chain */
};

struct conv *conv_get(const char *id, int create);
void conv_free_all(void);
unsigned conv_count(void);

#endif
