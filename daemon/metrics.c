/*
 * Counters and the first-response histogram.  Plain integers, touched
 * only on the loop thread.
 */
#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "clock.h"
#include "conv.h"
#include "event.h"
#include "guard.h"
#include "kefu/plugin.h"
#include "platform.h"
#include "log.h"
#include "metrics.h"
#include "outbox.h"
#include "reload.h"
#include "store.h"
#include "version.h"
#include "xmalloc.h"

#define METRICS_REASONS 16

static const struct {
	const char *name, *help;
} metric_info[M_NMETRICS] = {
    {"messages_in", "customer messages handled"},
    {"replies_out", "texts sent to customers"},
    {"conversations", "conversations new to kefud"},
    {"conversations_handed_off", "of them, handed to an agent"},
    {"handoffs", "handoffs asked for"},
    {"no_agents", "handoffs answered with no_agents"},
    {"reconnects", "times the platform link came back"},
    {"reloads_ok", "reloads that went live"},
    {"reloads_failed", "reloads that failed"},
    {"floods", "customers cooled down for sending too fast"},
    {"evictions", "conversations moved out of memory over max_live"},
    {"actions_failed",
        "actions the platform refused for good or that could not be sent"},
    {"handoffs_failed",
        "handoffs refused for good: the conversation went back to the bot"},
    {"unanswered",
        "customer questions the bot could not answer, or answered only with "
        "a list to choose from (kefuctl unanswered)"},
};

/* First-response buckets, ms; the seeds ask for an answer within 10 s. */
static const int64_t metric_le[] = {100, 250, 500, 1000, 2000, 5000, 10000,
    30000, 60000};
#define METRICS_BUCKETS (sizeof(metric_le) / sizeof(*metric_le))
#define METRICS_10S 6

static uint64_t metric_n[M_NMETRICS];
/* The wall clock at start: /proc/stat's boot time is hidden under the
 * unit's ProcSubset=pid. */
static int64_t metric_started_ms;
static uint64_t metric_bucket[METRICS_BUCKETS + 1], metric_count;
static int64_t metric_sum_ms;
static struct {
	char reason[32];
	uint64_t n;
} metric_reason[METRICS_REASONS];

void
metrics_start(void)
{
	metric_started_ms = clock_wall_ms();
}

void
metric_inc(enum metric m)
{
	metric_n[m]++;
}

void
metric_handoff(const char *reason)
{
	int i;

	metric_n[M_HANDOFFS]++;
	if (strlen(reason) >= sizeof(metric_reason[0].reason) ||
	    strcmp(reason, "other") == 0)
		return; /* too long for a slot, or the name of the rest */
	for (i = 0; i < METRICS_REASONS; i++) {
		if (metric_reason[i].reason[0] == '\0')
			snprintf(metric_reason[i].reason,
			    sizeof(metric_reason[i].reason), "%s", reason);
		if (strcmp(metric_reason[i].reason, reason) == 0) {
			metric_reason[i].n++;
			return;
		}
	}
	/* More reasons than slots: counted in the total only. */
}

void
metric_response(int64_t ms)
{
	size_t i;

	if (ms < 0)
		ms = 0;
	for (i = 0; i < METRICS_BUCKETS && ms > metric_le[i]; i++)
		;
	metric_bucket[i]++;
	metric_count++;
	metric_sum_ms += ms;
}

static double
metric_deflection(void)
{
	uint64_t c = metric_n[M_CONVERSATIONS];

	return c ? 1.0 - (double)metric_n[M_HANDED_OFF] / (double)c : 0;
}

static uint64_t
metric_under_10s(void)
{
	uint64_t n = 0;
	int i;

	for (i = 0; i <= METRICS_10S; i++)
		n += metric_bucket[i];
	return n;
}

cJSON *
metrics_json(void)
{
	cJSON *o = cJSON_CreateObject(), *r, *h;
	unsigned long rw, bl;
	size_t i;

	for (i = 0; i < M_NMETRICS; i++)
		cJSON_AddNumberToObject(o, metric_info[i].name,
		    (double)metric_n[i]);
	r = cJSON_AddObjectToObject(o, "handoffs_by_reason");
	for (i = 0; i < METRICS_REASONS && metric_reason[i].reason[0]; i++)
		cJSON_AddNumberToObject(r, metric_reason[i].reason,
		    (double)metric_reason[i].n);
	cJSON_AddNumberToObject(o, "deflection_rate", metric_deflection());
	guard_counts(&rw, &bl);
	cJSON_AddNumberToObject(o, "guard_rewrites", (double)rw);
	cJSON_AddNumberToObject(o, "guard_blocks", (double)bl);
	h = cJSON_AddObjectToObject(o, "first_response");
	cJSON_AddNumberToObject(h, "count", (double)metric_count);
	cJSON_AddNumberToObject(h, "sum_ms", (double)metric_sum_ms);
	cJSON_AddNumberToObject(h, "under_10s",
	    metric_count ? (double)metric_under_10s() / (double)metric_count
	                 : 0);
	r = cJSON_AddArrayToObject(h, "buckets");
	for (i = 0; i <= METRICS_BUCKETS; i++) {
		cJSON *b = cJSON_CreateObject();

		if (i < METRICS_BUCKETS)
			cJSON_AddNumberToObject(b, "le_ms",
			    (double)metric_le[i]);
		else
			cJSON_AddStringToObject(b, "le_ms", "+Inf");
		cJSON_AddNumberToObject(b, "count", (double)metric_bucket[i]);
		cJSON_AddItemToArray(r, b);
	}
	cJSON_AddNumberToObject(o, "live_conversations", conv_count());
	return o;
}

/* A growing text buffer. */
struct metric_buf {
	char *s;
	size_t n, cap;
};

static void metric_printf(struct metric_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
metric_printf(struct metric_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(b->s + b->n, b->cap - b->n, fmt, ap);
		va_end(ap);
		if (n >= 0 && (size_t)n < b->cap - b->n)
			break;
		b->cap = b->cap * 2 + (size_t)n + 1;
		if ((b->s = realloc(b->s, b->cap)) == NULL)
			fatal("realloc");
	}
	b->n += (size_t)n;
}

/* A label value as the exposition format wants it: \ " and newline
 * escaped. */
static void
metric_label(struct metric_buf *b, const char *v)
{
	for (; *v != '\0'; v++)
		if (*v == '\\' || *v == '"')
			metric_printf(b, "\\%c", *v);
		else if (*v == '\n')
			metric_printf(b, "\\n");
		else
			metric_printf(b, "%c", *v);
}

static void
metric_head(struct metric_buf *b, const char *name, const char *type,
    const char *help)
{
	metric_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name,
	    type);
}

/* The process_* metrics every Prometheus client library exports. */
static void
metric_process(struct metric_buf *b)
{
	long tick = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE);
	unsigned long long utime = 0, stime = 0, vsize = 0;
	long long rss = 0;
	struct rlimit rl;
	struct dirent *d;
	char buf[1024], *p;
	FILE *fp;
	DIR *dir;
	int fds = 0;

	if ((fp = fopen("/proc/self/stat", "r")) != NULL) {
		/* After the command's closing parenthesis: field 3 on. */
		if (fgets(buf, sizeof(buf), fp) != NULL &&
		    (p = strrchr(buf, ')')) != NULL)
			sscanf(p + 2,
			    "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu "
			    "%*d %*d %*d %*d %*d %*d %*u %llu %lld",
			    &utime, &stime, &vsize, &rss);
		fclose(fp);
	}
	if ((dir = opendir("/proc/self/fd")) != NULL) {
		while ((d = readdir(dir)) != NULL)
			fds += d->d_name[0] != '.';
		closedir(dir);
		fds--; /* the directory's own */
	}
	metric_head(b, "process_cpu_seconds_total", "counter",
	    "Total user and system CPU time spent in seconds.");
	metric_printf(b, "process_cpu_seconds_total %.2f\n",
	    (double)(utime + stime) / (double)tick);
	metric_head(b, "process_start_time_seconds", "gauge",
	    "Start time of the process since unix epoch in seconds.");
	metric_printf(b, "process_start_time_seconds %.3f\n",
	    (double)metric_started_ms / 1000);
	metric_head(b, "process_resident_memory_bytes", "gauge",
	    "Resident memory size in bytes.");
	metric_printf(b, "process_resident_memory_bytes %lld\n", rss * page);
	metric_head(b, "process_virtual_memory_bytes", "gauge",
	    "Virtual memory size in bytes.");
	metric_printf(b, "process_virtual_memory_bytes %llu\n", vsize);
	metric_head(b, "process_open_fds", "gauge",
	    "Number of open file descriptors.");
	metric_printf(b, "process_open_fds %d\n", fds);
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		metric_head(b, "process_max_fds", "gauge",
		    "Maximum number of open file descriptors.");
		metric_printf(b, "process_max_fds %llu\n",
		    (unsigned long long)rl.rlim_cur);
	}
}

/*
 * Prometheus text format, by its naming conventions: counters end in
 * _total and are not repeated (handoffs are one family, by reason), no
 * ratios (PromQL derives them), the unit in the name, escaped labels.
 */
char *
metrics_prometheus(void)
{
	struct metric_buf b = {xcalloc(1, 4096), 0, 4096};
	static const char *const owner[] = {"bot", "waiting", "agent",
	    "closed"};
	const struct reload_status *rs = reload_last();
	unsigned long rw, bl;
	uint64_t cum = 0, other;
	size_t i;

	metric_head(&b, "kefu_build_info", "gauge",
	    "kefud's version and plugin ABI; always 1");
	metric_printf(&b, "kefu_build_info{version=\"%s\",abi=\"%d.%d\"} 1\n",
	    KEFU_VERSION, KEFU_ABI_MAJOR, KEFU_ABI_MINOR);
	for (i = 0; i < M_NMETRICS; i++) {
		if (i == M_HANDOFFS || i == M_RELOADS_OK ||
		    i == M_RELOADS_FAILED)
			continue; /* below, with labels */
		metric_printf(&b,
		    "# HELP kefu_%s_total %s\n# TYPE kefu_%s_total counter\n"
		    "kefu_%s_total %llu\n",
		    metric_info[i].name, metric_info[i].help,
		    metric_info[i].name, metric_info[i].name,
		    (unsigned long long)metric_n[i]);
	}
	metric_head(&b, "kefu_handoffs_total", "counter",
	    "handoffs asked for, by reason");
	other = metric_n[M_HANDOFFS];
	for (i = 0; i < METRICS_REASONS && metric_reason[i].reason[0]; i++) {
		metric_printf(&b, "kefu_handoffs_total{reason=\"");
		metric_label(&b, metric_reason[i].reason);
		metric_printf(&b, "\"} %llu\n",
		    (unsigned long long)metric_reason[i].n);
		other -= metric_reason[i].n;
	}
	if (other > 0) /* more reasons than slots */
		metric_printf(&b,
		    "kefu_handoffs_total{reason=\"other\"} %llu\n",
		    (unsigned long long)other);
	metric_head(&b, "kefu_reloads_total", "counter",
	    "reloads asked for, by result");
	metric_printf(&b,
	    "kefu_reloads_total{result=\"ok\"} %llu\n"
	    "kefu_reloads_total{result=\"failed\"} %llu\n",
	    (unsigned long long)metric_n[M_RELOADS_OK],
	    (unsigned long long)metric_n[M_RELOADS_FAILED]);
	metric_head(&b, "kefu_config_last_reload_successful", "gauge",
	    "whether the last reload went live (1) or was refused (0)");
	metric_printf(&b, "kefu_config_last_reload_successful %d\n",
	    rs->at_ms == 0 || rs->ok);
	metric_head(&b, "kefu_config_generation", "gauge",
	    "the live configuration's generation: 1 at start, one more each "
	    "reload that went live");
	metric_printf(&b, "kefu_config_generation %u\n",
	    reload_live() != NULL ? reload_live()->id : 0);
	metric_head(&b, "kefu_config_last_reload_success_timestamp_seconds",
	    "gauge", "when the live configuration was loaded");
	metric_printf(&b,
	    "kefu_config_last_reload_success_timestamp_seconds %.3f\n",
	    (double)rs->ok_ms / 1000);
	guard_counts(&rw, &bl);
	metric_printf(&b,
	    "# HELP kefu_guard_rewrites_total replies the style guard rewrote\n"
	    "# TYPE kefu_guard_rewrites_total counter\n"
	    "kefu_guard_rewrites_total %lu\n"
	    "# HELP kefu_guard_blocks_total replies the style guard replaced with its fallback\n"
	    "# TYPE kefu_guard_blocks_total counter\n"
	    "kefu_guard_blocks_total %lu\n",
	    rw, bl);
	metric_head(&b, "kefu_link_up", "gauge",
	    "1 while the platform link is ready");
	metric_printf(&b, "kefu_link_up %d\n", platform_ready());
	metric_head(&b, "kefu_store_ok", "gauge",
	    "1 while the state database is open and its last write succeeded");
	metric_printf(&b, "kefu_store_ok %d\n", store_ok());
	metric_head(&b, "kefu_outbox_pending", "gauge",
	    "actions queued for the platform, not yet confirmed");
	metric_printf(&b, "kefu_outbox_pending %zu\n", outbox_pending());
	metric_head(&b, "kefu_events_unacked", "gauge",
	    "platform events handled but not yet acknowledged (waiting for the "
	    "disk)");
	metric_printf(&b, "kefu_events_unacked %llu\n",
	    (unsigned long long)(event_handled() - event_acked()));
	metric_head(&b, "kefu_reply_latency_seconds", "histogram",
	    "customer message to the bot's reply being queued");
	for (i = 0; i < METRICS_BUCKETS; i++) {
		cum += metric_bucket[i];
		metric_printf(&b,
		    "kefu_reply_latency_seconds_bucket{le=\"%g\"} %llu\n",
		    (double)metric_le[i] / 1000, (unsigned long long)cum);
	}
	metric_printf(&b,
	    "kefu_reply_latency_seconds_bucket{le=\"+Inf\"} %llu\n"
	    "kefu_reply_latency_seconds_sum %.3f\n"
	    "kefu_reply_latency_seconds_count %llu\n",
	    (unsigned long long)metric_count, (double)metric_sum_ms / 1000,
	    (unsigned long long)metric_count);
	metric_head(&b, "kefu_live_conversations", "gauge",
	    "conversations in memory, by owner");
	for (i = 0; i < 4; i++)
		metric_printf(&b, "kefu_live_conversations{owner=\"%s\"} %u\n",
		    owner[i], conv_count_owner((enum conv_owner)i));
	metric_process(&b);
	return b.s;
}
