#ifndef KEFU_XMALLOC_H
#define KEFU_XMALLOC_H

#include <stddef.h>

/* Allocation that cannot fail: out of memory is fatal. */
void *xcalloc(size_t n, size_t size);
/* NULL stays NULL. */
char *xstrdup(const char *s);

#endif
