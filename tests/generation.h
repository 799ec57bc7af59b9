/*
 * Tests of plugins loaded for real into a generation: a temporary
 * directory, a generation built from a kefud.conf written there, and a
 * clean slate after each test.  TestSuite(x, .init = gen_setup, .fini =
 * gen_teardown), then g = gen_from(...).
 */
#ifndef KEFU_TEST_GENERATION_H
#define KEFU_TEST_GENERATION_H

#include "harness.h"

#include "clock.h"
#include "conv.h"
#include "gen.h"
#include "turn.h"

static char *dir;
static struct gen *g;

static inline void
gen_setup(void)
{
	h_log_capture();
	dir = h_tmpdir();
}

static inline void
gen_teardown(void)
{
	if (g != NULL) {
		gen_stop(g);
		gen_free(g);
	}
	g = NULL;
	conv_free_all();
	clock_set_wall(0);
	log_set_hook(NULL);
	h_rmrf(dir);
	free(dir);
}

/* The generation of the kefud.conf fmt makes, started; NULL (reasons in
 * h_log()) when it does not build. */
static inline struct gen *gen_from(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

static inline struct gen *
gen_from(const char *fmt, ...)
{
	char why[256], *text, *path;
	struct gen *n;
	va_list ap;

	va_start(ap, fmt);
	cr_assert(vasprintf(&text, fmt, ap) >= 0);
	va_end(ap);
	path = h_write(dir, "kefud.conf", "%s", text);
	if ((n = gen_build(path, 1, GEN_TOKEN_LOAD, why, sizeof(why))) != NULL)
		gen_start(n);
	free(text);
	free(path);
	return n;
}

#endif
