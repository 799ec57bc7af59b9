#ifndef KEFU_GUARD_H
#define KEFU_GUARD_H

#include <libconfig.h>

struct guard;

/* From the "guard" group; NULL when absent or after reporting errors. */
struct guard *guard_build(const config_setting_t *s);
void guard_free(struct guard *g);
void guard_use(const struct guard *g); /* the live one */
const struct guard *guard_live_one(void);

/* 0 when text is clean, else 1 + the rule's kind, with the term found. */
int guard_check(const struct guard *g, const char *text, const char **term);
/* The text to send instead of text: a new string, always safe. */
char *guard_apply(const char *text, const char *who, const char *conv);
/* Warns about a configured template that breaks a rule; 1 if it does. */
int guard_lint(const struct guard *g, const config_setting_t *s,
    const char *name, const char *text);
void guard_counts(unsigned long *rewrites, unsigned long *blocks);

#endif
