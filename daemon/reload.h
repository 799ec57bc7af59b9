#ifndef KEFU_RELOAD_H
#define KEFU_RELOAD_H

#include <stdint.h>

#include "gen.h"

/* Builds the first generation and, once admit() (if any) agrees, starts
 * it: -1 for a configuration that cannot work, -2 if admit() said no. */
int reload_start(const char *path, int (*admit)(const struct gen *));
/* Builds a new generation; swaps only when all of it is ready. */
int reload_run(void);
struct gen *reload_live(void);
void reload_fini(void);

struct reload_status {
	int64_t at_ms; /* wall clock of the last attempt, 0 if none */
	int ok;
	int64_t ok_ms; /* of the last configuration that went live (start) */
	char error[512];
};
const struct reload_status *reload_last(void);

#endif
