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

#include <libconfig.h>

#include "conv.h"
#include "host.h"
#include "log.h"
#include "plugin.h"
#include "turn.h"

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

/* A plugin's state from its section in the configuration text conf;
 * aborts when it refuses. */
static inline void *
fuzz_plugin(const char *conf, const char *section,
    int (*init)(const struct kefu_host *, const struct kefu_conf *, void **))
{
	static config_t cfg; /* the plugin may keep pointers into it */
	void *state;

	config_init(&cfg);
	if (!config_read_string(&cfg, conf) ||
	    init(host_table(),
	        (const struct kefu_conf *)config_lookup(&cfg, section),
	        &state) < 0)
		abort();
	return state;
}

/*
 * The first four lines of data as customer messages to one conversation,
 * each in the transcript and through the plugin as the core runs it (its
 * detection pass, then its handler); every other one after a note that
 * the FAQ plugin missed, when missed is set.
 */
static inline void
fuzz_turns(const uint8_t *data, size_t size, void *state,
    const struct kefu_plugin *desc, int missed)
{
	struct plugin p = {.name = (char *)desc->name,
	    .desc = desc,
	    .state = state};
	struct kefu_event ev = {.type = KEFU_EV_MESSAGE,
	    .conversation = "c-fuzz",
	    .customer_id = "u-fuzz",
	    .message_kind = "text"};
	char *text = fuzz_string(data, size), *line, *save = NULL;
	struct kefu_turn t;
	struct conv *c;
	int n = 0;

	for (line = strtok_r(text, "\n", &save); line != NULL && n < 4;
	     line = strtok_r(NULL, "\n", &save), n++) {
		ev.text = line;
		c = conv_get("c-fuzz", 1);
		conv_add_line(c, 'c', line, 0);
		turn_begin(&t, c, &ev);
		if (missed && n % 2)
			turn_note_set(&t, "faq.unanswered", "1");
		plugin_chain_run(&p, 1, &t, &ev);
		turn_end(&t);
	}
	conv_free_all();
	free(text);
}

#endif
