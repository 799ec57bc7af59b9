#ifndef KEFU_UTF8_H
#define KEFU_UTF8_H

#include <stddef.h>

/*
 * Returns the number of code points in s[0..len), or -1 when s is not
 * well-formed UTF-8 (overlong forms, surrogates, > U+10FFFF, NUL).
 */
long utf8_count(const char *s, size_t len);
/* Copies at most max characters of s into buf, whole characters only,
 * with "…" when cut; a sequence cut short counts as one character and is
 * never read past its string's end. */
void utf8_prefix(char *buf, size_t len, const char *s, size_t max);

#endif
