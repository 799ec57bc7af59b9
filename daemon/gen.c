#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gen.h"
#include "calendar.h"
#include "conv.h"
#include "guard.h"
#include "outbox.h"
#include "platform.h"
#include "timers.h"
#include "event.h"
#include "log.h"
#include "store.h"

/* The style guard, and the configured texts it would change. */
static int
gen_guard(struct gen *g)
{
	const config_setting_t *root = config_root_setting(&g->conf->cfg);
	const config_setting_t *s = conf_member(root, "guard");
	const config_setting_t *cv = conf_member(root, "conversations"), *e;
	const config_setting_t *ho = conf_member(root, "handoff");
	static const char *const texts[] = {"wait_update_text", "close_text",
	    "backlog_apology", "flood_text", NULL};
	static const char *const ho_texts[] = {"no_agents_text",
	    "no_agents_update_text", NULL};
	int i;

	conf_error_reset();
	if (s == NULL) {
		log_warnx(
		    "%s: no \"guard\": replies go out without the style guard",
		    g->conf->path);
		return 0;
	}
	if ((g->guard = guard_build(s)) == NULL)
		return -1;
	for (i = 0; texts[i] != NULL; i++)
		if (conf_member(cv, texts[i]) != NULL)
			guard_lint(g->guard, conf_member(cv, texts[i]), NULL,
			    config_setting_get_string(
			        conf_member(cv, texts[i])));
	for (i = 0; ho_texts[i] != NULL; i++)
		if ((e = conf_member(ho, ho_texts[i])) != NULL)
			guard_lint(g->guard, e, NULL,
			    config_setting_get_string(e));
	for (i = 0;
	     (e = conf_elem(conf_member(cv, "followup_texts"), i)) != NULL; i++)
		if (config_setting_type(e) == CONFIG_TYPE_STRING)
			guard_lint(g->guard, e, NULL,
			    config_setting_get_string(e));
	return 0;
}

struct gen *
gen_build(const char *path, unsigned id, enum gen_token tok, char *why,
    size_t len)
{
	const struct guard *prev;
	struct gen *g;
	int i;

	conf_error_reset();
	if ((g = calloc(1, sizeof(*g))) == NULL)
		fatal("calloc");
	g->id = id;
	if ((g->conf = conf_load(path)) == NULL) {
		snprintf(why, len, "%s: %d error%s in the configuration", path,
		    conf_error_count(), conf_error_count() == 1 ? "" : "s");
		free(g);
		return NULL;
	}
	conf_error_reset();
	if ((g->calendar = calendar_build(
	         conf_member(config_root_setting(&g->conf->cfg),
	             "calendar"))) == NULL) {
		snprintf(why, len, "%s: %d error%s in the calendar", path,
		    conf_error_count(), conf_error_count() == 1 ? "" : "s");
		gen_free(g);
		return NULL;
	}
	if (gen_guard(g) < 0) {
		snprintf(why, len, "%s: %d error%s in the guard", path,
		    conf_error_count(), conf_error_count() == 1 ? "" : "s");
		gen_free(g);
		return NULL;
	}
	if (g->conf->platform.present && tok != GEN_TOKEN_SKIP) {
		/* By hand, outside systemd, the credential is out of reach:
		 * the unit's own ExecStartPre checks it for real. */
		if (tok == GEN_TOKEN_CHECK &&
		    g->conf->platform.token_file == NULL &&
		    getenv("CREDENTIALS_DIRECTORY") == NULL)
			log_warnx(
			    "platform token not checked: no platform.token_file, and the systemd credential \"token\" is only there under systemd ($CREDENTIALS_DIRECTORY is not set)");
		else if ((g->token = token_load(
		              g->conf->platform.token_file)) == NULL) {
			snprintf(why, len, "no usable platform token");
			gen_free(g);
			return NULL;
		} else if (g->conf->platform.driver->token_ok != NULL &&
		    !g->conf->platform.driver->token_ok(g->token)) {
			/* The driver said what is wrong with it. */
			snprintf(why, len, "no usable platform token");
			gen_free(g);
			return NULL;
		} else if (tok == GEN_TOKEN_CHECK) {
			token_free(g->token);
			g->token = NULL;
		}
	}
	if ((g->plugins = calloc(g->conf->nplugins + 1, sizeof(*g->plugins))) ==
	    NULL)
		fatal("calloc");
	/* Plugins check their texts against the guard they will live with. */
	prev = guard_live_one();
	guard_use(g->guard);
	for (i = 0; i < g->conf->nplugins; i++) {
		struct plugin *p = &g->plugins[i];
		const char *name = g->conf->plugins[i];

		if (plugin_open(p, g->conf->plugin_dir, name) < 0) {
			snprintf(why, len, "plugin \"%s\" could not be loaded",
			    name);
			goto fail;
		}
		g->nplugins++;
		conf_error_reset();
		if (plugin_init(p, conf_plugin_section(g->conf, name)) < 0 ||
		    conf_error_count() > 0) {
			snprintf(why, len,
			    "plugin \"%s\" refused its configuration", name);
			goto fail;
		}
	}
	guard_use(prev);
	return g;
fail:
	guard_use(prev);
	gen_free(g);
	return NULL;
}

void
gen_use(struct gen *g)
{
	log_set_level(g->conf->log_level);
	conv_configure(g->conf->conversations.history);
	calendar_use(g->calendar);
	guard_use(g->guard);
	timers_configure(&g->conf->conversations, &g->conf->handoff);
	event_configure(&g->conf->handoff);
	store_conversations_keep(g->conf->conversations.keep_days);
	store_questions_keep(g->conf->conversations.unanswered_keep_days,
	    g->conf->conversations.unanswered_max);
}

void
gen_start(struct gen *g)
{
	int i;

	gen_use(g);
	for (i = 0; i < g->nplugins; i++)
		plugin_timer_start(&g->plugins[i]);
	outbox_configure(g->conf->platform.actions_per_second);
	platform_configure(&g->conf->platform, g->token);
	g->token = NULL;
}

void
gen_stop(struct gen *g)
{
	int i;

	for (i = 0; i < g->nplugins; i++)
		plugin_timer_stop(&g->plugins[i]);
}

void
gen_free(struct gen *g)
{
	int i;

	if (g == NULL)
		return;
	/* Reverse order: a plugin may rely on those before it. */
	for (i = g->nplugins - 1; i >= 0; i--)
		plugin_close(&g->plugins[i]);
	free(g->plugins);
	token_free(g->token);
	calendar_free(g->calendar);
	guard_free(g->guard);
	conf_free(g->conf);
	free(g);
}

void
gen_versions(const struct gen *g, char *buf, size_t len)
{
	size_t n = 0;
	int i;

	buf[0] = '\0';
	for (i = 0; i < g->nplugins && n < len; i++)
		n += snprintf(buf + n, len - n, "%s%s %s", i ? ", " : "",
		    g->plugins[i].name, g->plugins[i].desc->version);
	if (g->nplugins == 0)
		snprintf(buf, len, "(no plugins)");
}

void
gen_dispatch(struct gen *g, struct kefu_turn *t, const struct kefu_event *ev)
{
	plugin_chain_run(g->plugins, g->nplugins, t, ev);
}
