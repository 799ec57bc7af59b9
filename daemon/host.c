/*
 * The host table: the only way plugin code reaches the core.  Adapters
 * here turn the opaque plugin types into the core's own.
 */
#include <stdarg.h>
#include <stdio.h>

#include "calendar.h"
#include "clock.h"
#include "conf.h"
#include "conv.h"
#include "guard.h"
#include "norm.h"
#include "host.h"
#include "platform.h"
#include "log.h"
#include "plugin.h"
#include "turn.h"

#define HC(c) ((const config_setting_t *)(c))
#define KC(c) ((const struct kefu_conf *)(c))

static void host_log(int prio, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
host_log(int prio, const char *fmt, ...)
{
	va_list ap;

	if (prio < KEFU_LOG_ERR)
		prio = KEFU_LOG_ERR;
	if (prio > KEFU_LOG_DEBUG)
		prio = KEFU_LOG_DEBUG;
	va_start(ap, fmt);
	log_vemit(prio, fmt, ap);
	va_end(ap);
}

static const struct kefu_conf *
host_conf_member(const struct kefu_conf *c, const char *name)
{
	return KC(conf_member(HC(c), name));
}

static int
host_conf_string(const struct kefu_conf *c, const char *name, const char **out)
{
	return conf_get_string(HC(c), name, out);
}

static int
host_conf_int(const struct kefu_conf *c, const char *name, long long *out)
{
	return conf_get_int(HC(c), name, out);
}

static int
host_conf_bool(const struct kefu_conf *c, const char *name, int *out)
{
	return conf_get_bool(HC(c), name, out);
}

static int
host_conf_length(const struct kefu_conf *c)
{
	return conf_length(HC(c));
}

static const struct kefu_conf *
host_conf_elem(const struct kefu_conf *c, int i)
{
	return KC(conf_elem(HC(c), i));
}

static int
host_conf_path(const struct kefu_conf *c, const char *name, char *buf,
    size_t len)
{
	return conf_get_path(HC(c), name, buf, len);
}

static void host_conf_error(const struct kefu_conf *c, const char *name,
    const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void
host_conf_error(const struct kefu_conf *c, const char *name, const char *fmt,
    ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (c == NULL) {
		log_emit(LOG_PRI_ERR, "%s: %s",
		    name != NULL ? name : "(no section)", msg);
		return;
	}
	conf_report(HC(c), name, "%s", msg);
}

static int
host_conf_check_keys(const struct kefu_conf *c, const char *const *known)
{
	return conf_check_keys(HC(c), known);
}

static const struct kefu_conf *
host_conf_load(const char *path)
{
	return KC(conf_load_file(path));
}

static void
host_conf_free(const struct kefu_conf *root)
{
	conf_free_file(HC(root));
}

static const char *
host_guard_term(const char *text)
{
	const char *term = NULL;

	return guard_check(guard_live_one(), text, &term) ? term : NULL;
}

static unsigned
host_live(int owner)
{
	return owner < 0 ? conv_count_recent(clock_wall_ms())
	                 : conv_count_owner((enum conv_owner)owner);
}

static const struct kefu_host host = {
    .abi_major = KEFU_ABI_MAJOR,
    .abi_minor = KEFU_ABI_MINOR,
    .size = sizeof(struct kefu_host),
    .log = host_log,
    .conf_member = host_conf_member,
    .conf_string = host_conf_string,
    .conf_int = host_conf_int,
    .conf_bool = host_conf_bool,
    .conf_length = host_conf_length,
    .conf_elem = host_conf_elem,
    .conf_path = host_conf_path,
    .conf_error = host_conf_error,
    .conf_check_keys = host_conf_check_keys,
    .conf_load = host_conf_load,
    .conf_free = host_conf_free,
    .now_ms = clock_wall_ms,
    .reply = turn_reply,
    .handoff = turn_handoff,
    .outcome = turn_outcome,
    .note_set = turn_note_set,
    .note_get = turn_note_get,
    .store_set = turn_store_set,
    .store_get = turn_store_get,
    .conv_turns = turn_conv_events,
    .owner = turn_owner,
    .intent_add = turn_intent_add,
    .entity_set = turn_entity_set,
    .entity_get = turn_entity_get,
    .history_len = turn_history_len,
    .history_get = turn_history_get,
    .ask = turn_ask,
    .shop_name = platform_shop_name,
    .on_duty = calendar_on_duty,
    .next_duty_ms = calendar_next_duty,
    .daypart = calendar_daypart,
    .holiday = calendar_holiday,
    .guard_term = host_guard_term,
    .normalise = norm_text,
    .live_conversations = host_live,
    .retract = turn_retract,
    .raise = turn_raise,
    .claim = turn_claim,
    .claimed = turn_claimed,
    .unanswered = turn_unanswered,
    .info_set = plugin_info_set,
};

const struct kefu_host *
host_table(void)
{
	return &host;
}
