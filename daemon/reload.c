/*
 * Transactional reload, after nginx's configuration cycles: the new
 * generation is built beside the live one, every step that can fail
 * happens before the swap, and the swap is one pointer store on the loop
 * thread between two events.  On failure the live generation is never
 * touched.
 */
#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "log.h"
#include "metrics.h"
#include "reload.h"

static struct gen *reload_gen;
static const char *reload_path;
static unsigned reload_next_id = 1;
static struct reload_status reload_st;

int
reload_start(const char *path, int (*admit)(const struct gen *))
{
	char why[512], vers[1024];

	reload_path = path;
	if ((reload_gen = gen_build(path, reload_next_id, GEN_TOKEN_LOAD, why,
	         sizeof(why))) == NULL) {
		log_emit(LOG_PRI_ERR, "cannot start: %s", why);
		return -1;
	}
	if (admit != NULL && admit(reload_gen) < 0) {
		gen_free(reload_gen);
		reload_gen = NULL;
		return -2;
	}
	reload_next_id++;
	reload_st.ok_ms = clock_wall_ms();
	gen_start(reload_gen);
	gen_versions(reload_gen, vers, sizeof(vers));
	log_info("generation %u live: %s", reload_gen->id, vers);
	return 0;
}

/*
 * Another kind of platform counts its events and keeps its position in
 * its own way: the state of one means nothing to the other, so a switch
 * is a restart with a state_dir of its own, not a reload.
 */
static int
reload_platform_changed(const struct gen *old, const struct gen *g, char *why,
    size_t len)
{
	const struct conf_platform *a = &old->conf->platform,
	                           *b = &g->conf->platform;

	if (a->present != b->present) {
		/* Its driver would begin without the state the store
		 * restored at start, and without its callback listener. */
		snprintf(why, len,
		    "the platform group is %s: that takes a restart",
		    b->present ? "added" : "removed");
		return 1;
	}
	if (!a->present || strcmp(a->kind, b->kind) == 0)
		return 0;
	snprintf(why, len,
	    "platform.kind changes from \"%s\" to \"%s\": that takes a "
	    "restart, with a state_dir of its own",
	    a->kind, b->kind);
	return 1;
}

int
reload_run(void)
{
	char why[512], before[1024], after[1024];
	struct gen *old = reload_gen, *g;
	int64_t t0 = clock_mono_us();

	log_info("reload: reading %s", reload_path);
	reload_st.at_ms = clock_wall_ms();
	if ((g = gen_build(reload_path, reload_next_id, GEN_TOKEN_LOAD, why,
	         sizeof(why))) != NULL &&
	    reload_platform_changed(old, g, why, sizeof(why))) {
		gen_free(g);
		g = NULL;
	}
	if (g == NULL) {
		reload_st.ok = 0;
		metric_inc(M_RELOADS_FAILED);
		snprintf(reload_st.error, sizeof(reload_st.error), "%s", why);
		log_emit(LOG_PRI_ERR,
		    "reload failed: %s; still serving generation %u", why,
		    old->id);
		return -1;
	}
	reload_next_id++;
	gen_versions(old, before, sizeof(before));
	gen_versions(g, after, sizeof(after));
	gen_stop(old);
	reload_gen = g; /* the commit */
	gen_start(g);
	reload_st.ok = 1;
	reload_st.ok_ms = reload_st.at_ms;
	reload_st.error[0] = '\0';
	metric_inc(M_RELOADS_OK);
	log_info(
	    "reload ok: generation %u -> %u in %.1f ms; plugins before: %s; after: %s",
	    old->id, g->id, (clock_mono_us() - t0) / 1000.0, before, after);
	gen_free(old);
	return 0;
}

struct gen *
reload_live(void)
{
	return reload_gen;
}

void
reload_fini(void)
{
	if (reload_gen != NULL) {
		gen_stop(reload_gen);
		gen_free(reload_gen);
	}
	reload_gen = NULL;
}

const struct reload_status *
reload_last(void)
{
	return &reload_st;
}
