#ifndef KEFU_GEN_H
#define KEFU_GEN_H

#include <stddef.h>

#include "conf.h"
#include "plugin.h"
#include "token.h"

/*
 * A generation: one configuration and the plugin set built from it.  A
 * reload builds a whole new generation beside the live one.
 */
struct gen {
	unsigned id;
	struct conf *conf;
	struct plugin *plugins;
	int nplugins;
	struct token *token; /* until gen_start() hands it to the link */
	struct calendar *calendar;
	struct guard *guard; /* NULL: none configured */
};

/* What gen_build() does with the platform token. */
enum gen_token {
	GEN_TOKEN_LOAD,  /* start and reload: the link needs it */
	GEN_TOKEN_CHECK, /* kefud -t: check it where it can be reached */
	GEN_TOKEN_SKIP,  /* --replay: never connects, never reads it */
};

/* Everything that can fail happens here; why says what, on failure. */
struct gen *gen_build(const char *path, unsigned id, enum gen_token tok,
    char *why, size_t len);
/* Makes its configuration current (calendar, guard, ...), without the
 * link or timers: what the replay tool needs. */
void gen_use(struct gen *g);
void gen_start(struct gen *g); /* gen_use, plugin timers, the link */
void gen_stop(struct gen *g);
void gen_free(struct gen *g);
/* "hello 1.0.0, faq 2.1" */
void gen_versions(const struct gen *g, char *buf, size_t len);
/* Hands one event of a conversation to the plugin chain. */
void gen_dispatch(struct gen *g, struct kefu_turn *t,
    const struct kefu_event *ev);

#endif
