#ifndef KEFU_CONF_H
#define KEFU_CONF_H

#include <stddef.h>
#include <libconfig.h>

/* A URL as the drivers use it: scheme://host[:port][/path]. */
struct conf_url {
	int tls;
	char *host;
	int port;
	char *path;
};

struct platform_driver;

struct conf_platform {
	int present;   /* the group is there: kefud connects */
	char *kind;    /* its driver's (daemon/platform.h): "kefu" by default */
	char *url;     /* in the driver's scheme (wss, https) */
	char *ca_file; /* NULL: the system's bundle */
	char *token_file; /* NULL: the systemd credential "token" */
	int allow_plain_ws;
	int actions_per_second;
	int faster_than_protocol; /* the platform allows more than 20/s */
	/* From url. */
	int tls;
	char *host;
	int port;
	char *path;
	/* Where the platform's HTTP requests come (its driver answers
	 * them), or NULL; read once, at start, like control_socket. */
	char *listen;
	const struct platform_driver *driver;
	void *settings; /* the driver's own keys, as it loaded them */
};

#define CONF_FOLLOWUPS_MAX 4

/* Service timers and their texts (all optional; no text, no timer). */
struct conf_conversations {
	int present;
	int history;
	int wait_update_ms;
	char *wait_update_text;
	int wait_updates_max;
	int nfollowups;
	int followup_ms[CONF_FOLLOWUPS_MAX];
	char *followup_text[CONF_FOLLOWUPS_MAX];
	int close_after_ms;
	char *close_text;
	int idle_evict_ms;
	int backlog_ms;
	char *backlog_apology;
	int flood_per_minute; /* 0: no limit */
	int flood_cooldown_ms;
	char *flood_text;
	int max_live; /* conversations in memory, the oldest idle evicted */
	/* Questions the bot could not answer: kept this long, this many. */
	int keep_days; /* conversations idle this long are deleted */
	int unanswered_keep_days;
	int unanswered_max;
};

/* Handoff priorities, as the protocol names them. */
enum conf_priority {
	CONF_PRIO_NORMAL = 0,
	CONF_PRIO_HIGH,
	CONF_PRIO_URGENT,
};

#define CONF_ROUTES_MAX 16

/* Where each handoff reason goes, and what happens without agents. */
struct conf_handoff {
	int present;
	char *queue; /* reasons without a route */
	char *priority;
	int vip_raise; /* VIP customers one priority level up */
	int nroutes;
	char *route_reason[CONF_ROUTES_MAX];
	char *route_queue[CONF_ROUTES_MAX];
	int route_priority[CONF_ROUTES_MAX];
	int default_priority;
	char *no_agents_text;      /* "{when}": when agents are back */
	char *no_agents_busy_text; /* no_agents while on duty: no {when} */
	int no_agents_retry_ms;
	char *no_agents_update_text;
	int no_agents_update_ms;
	char *failed_text; /* a handoff refused for good */
};

const char *conf_priority_name(int p);

struct conf {
	config_t cfg;
	char *path;
	char *dir; /* where relative paths start */

	int log_level;
	char *control_socket; /* kefuctl's unix socket */
	char *view_socket;    /* kefuctl's, read-only */
	char *metrics_listen; /* "127.0.0.1:9464"; NULL: no endpoint */
	char *data_dir;       /* vendor data: lang/, holidays */
	char *state_dir;
	int state_move_corrupt;
	char *plugin_dir;
	char **plugins; /* names, in chain order */
	int *plugin_lines;
	int nplugins;
	struct conf_platform platform;
	struct conf_conversations conversations;
	struct conf_handoff handoff;
};

/* Parses and validates; reports every error and returns NULL on any. */
struct conf *conf_load(const char *path);
void conf_free(struct conf *c);
/* The plugin's own section, or NULL. */
const config_setting_t *conf_plugin_section(const struct conf *c,
    const char *name);

/* Errors reported since the last conf_error_reset(). */
void conf_error_reset(void);
int conf_error_count(void);
void conf_report(const config_setting_t *s, const char *name, const char *fmt,
    ...) __attribute__((format(printf, 3, 4)));
/* The same, as a warning that does not count as an error. */
void conf_warn(const config_setting_t *s, const char *name, const char *fmt,
    ...) __attribute__((format(printf, 3, 4)));

/* The setting accessors handed to plugins (see include/kefu/plugin.h). */
const config_setting_t *conf_member(const config_setting_t *s,
    const char *name);
int conf_get_string(const config_setting_t *s, const char *name,
    const char **out);
int conf_get_int(const config_setting_t *s, const char *name, long long *out);
/* A string or a list of them, each an id (1 to 64 printable ASCII
 * characters, no spaces), into out[max] (malloc'ed): 1, 0 absent, -1. */
int conf_get_ids(const config_setting_t *s, const char *name, char **out,
    int max, int *n);
int conf_get_bool(const config_setting_t *s, const char *name, int *out);
int conf_length(const config_setting_t *s);
const config_setting_t *conf_elem(const config_setting_t *s, int i);
int conf_get_path(const config_setting_t *s, const char *name, char *buf,
    size_t len);
int conf_check_keys(const config_setting_t *s, const char *const *known);
const config_setting_t *conf_load_file(const char *path);
void conf_free_file(const config_setting_t *root);

#endif
