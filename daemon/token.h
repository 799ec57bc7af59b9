#ifndef KEFU_TOKEN_H
#define KEFU_TOKEN_H

#include <stddef.h>

/*
 * The platform token.  Only the link reads it, to put it in one HTTP
 * header; it never passes through a printf-style function, lives in a page
 * excluded from core dumps, and is wiped when replaced.
 */
struct token;

/* From file, or when file is NULL from $CREDENTIALS_DIRECTORY/token. */
struct token *token_load(const char *file);
void token_free(struct token *t);
const char *token_value(const struct token *t, size_t *len);
int token_equal(const struct token *a, const struct token *b);

#endif
