/*
 * Shared by the fuzz targets: quiet logs and a scratch directory.  Each
 * target defines LLVMFuzzerTestOneInput; libFuzzer drives it (make fuzz),
 * and replay.c runs it over the saved corpus (make check).
 */
#ifndef KEFU_FUZZ_H
#define KEFU_FUZZ_H

#define _GNU_SOURCE
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static inline void
fuzz_quiet(int pri, const char *line)
{
	(void)pri;
	(void)line;
}

/* Once per process: logs off, a scratch directory. */
static inline const char *
fuzz_init(void)
{
	static char dir[] = "/tmp/kefu-fuzz-XXXXXX";
	static int done;

	if (!done) {
		log_set_hook(fuzz_quiet);
		if (mkdtemp(dir) == NULL)
			abort();
		done = 1;
	}
	return dir;
}

/* data as a NUL-terminated string (malloc'ed). */
static inline char *
fuzz_string(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);

	if (s == NULL)
		abort();
	memcpy(s, data, size);
	s[size] = '\0';
	return s;
}

/* data into the file dir/name; returns its path (static). */
static inline const char *
fuzz_file(const char *name, const uint8_t *data, size_t size)
{
	static char path[512];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%s", fuzz_init(), name);
	if ((fp = fopen(path, "w")) == NULL)
		abort();
	fwrite(data, 1, size, fp);
	fclose(fp);
	return path;
}

#endif
