#ifndef KEFU_NORM_H
#define KEFU_NORM_H

#include <stddef.h>

/*
 * Writes the normal form of in (UTF-8) into out, at most len bytes with
 * the NUL; returns its length.  See norm.c for what changes.
 */
size_t norm_text(const char *in, char *out, size_t len);

#endif
