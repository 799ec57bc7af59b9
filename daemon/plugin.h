#ifndef KEFU_PLUGIN_CORE_H
#define KEFU_PLUGIN_CORE_H

#include <libconfig.h>

#include "kefu/plugin.h"
#include "kv.h"
#include "loop.h"

struct plugin {
	char *name;
	char *file; /* where it was loaded from */
	int memfd;  /* the private copy; open while loaded */
	void *dl;
	const struct kefu_plugin *desc;
	void *state;
	int inited;
	struct loop_timer timer;
	struct kv info; /* host->info_set(): its calibration, for ops */
};

/* Loads a private copy of dir/name.so and checks its descriptor. */
int plugin_open(struct plugin *p, const char *dir, const char *name);
/* Calls init with the plugin's section (may be NULL). */
int plugin_init(struct plugin *p, const config_setting_t *section);
/* fini (when initialised), dlclose, forget. */
void plugin_close(struct plugin *p);
void plugin_timer_start(struct plugin *p);
void plugin_timer_stop(struct plugin *p);

/*
 * The detection pass (every plugin's detect), then the chain: the plugin
 * that claimed the turn first, then the others in order, until one says
 * KEFU_STOP.
 */
void plugin_chain_run(struct plugin *set, int n, struct kefu_turn *t,
    const struct kefu_event *ev);

/* The name of the plugin whose code runs now, or NULL. */
const char *plugin_current(void);
/* host->info_set(): a figure of the running plugin's own. */
void plugin_info_set(const char *key, const char *value);

#endif
