/*
 * Counters and the first-response histogram.  Plain integers, touched
 * only on the loop thread.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conv.h"
#include "guard.h"
#include "log.h"
#include "metrics.h"
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
};

/* First-response buckets, ms; the seeds ask for an answer within 10 s. */
static const int64_t metric_le[] = {100, 250, 500, 1000, 2000, 5000, 10000,
    30000, 60000};
#define METRICS_BUCKETS (sizeof(metric_le) / sizeof(*metric_le))
#define METRICS_10S 6

static uint64_t metric_n[M_NMETRICS];
static uint64_t metric_bucket[METRICS_BUCKETS + 1], metric_count;
static int64_t metric_sum_ms;
static struct {
	char reason[32];
	uint64_t n;
} metric_reason[METRICS_REASONS];

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

char *
metrics_prometheus(void)
{
	struct metric_buf b = {xcalloc(1, 4096), 0, 4096};
	static const char *const owner[] = {"bot", "waiting", "agent",
	    "closed"};
	unsigned long rw, bl;
	uint64_t cum = 0;
	size_t i;

	for (i = 0; i < M_NMETRICS; i++)
		metric_printf(&b,
		    "# HELP kefu_%s_total %s\n# TYPE kefu_%s_total counter\n"
		    "kefu_%s_total %llu\n",
		    metric_info[i].name, metric_info[i].help,
		    metric_info[i].name, metric_info[i].name,
		    (unsigned long long)metric_n[i]);
	metric_printf(&b,
	    "# HELP kefu_handoffs_by_reason_total handoffs by reason\n"
	    "# TYPE kefu_handoffs_by_reason_total counter\n");
	for (i = 0; i < METRICS_REASONS && metric_reason[i].reason[0]; i++)
		metric_printf(&b,
		    "kefu_handoffs_by_reason_total{reason=\"%s\"} %llu\n",
		    metric_reason[i].reason,
		    (unsigned long long)metric_reason[i].n);
	guard_counts(&rw, &bl);
	metric_printf(&b,
	    "# HELP kefu_guard_rewrites_total replies the style guard rewrote\n"
	    "# TYPE kefu_guard_rewrites_total counter\n"
	    "kefu_guard_rewrites_total %lu\n"
	    "# HELP kefu_guard_blocks_total replies the style guard replaced with its fallback\n"
	    "# TYPE kefu_guard_blocks_total counter\n"
	    "kefu_guard_blocks_total %lu\n"
	    "# HELP kefu_deflection_ratio conversations handled without an agent\n"
	    "# TYPE kefu_deflection_ratio gauge\n"
	    "kefu_deflection_ratio %.4f\n"
	    "# HELP kefu_first_response_seconds customer message to bot reply\n"
	    "# TYPE kefu_first_response_seconds histogram\n",
	    rw, bl, metric_deflection());
	for (i = 0; i < METRICS_BUCKETS; i++) {
		cum += metric_bucket[i];
		metric_printf(&b,
		    "kefu_first_response_seconds_bucket{le=\"%g\"} %llu\n",
		    (double)metric_le[i] / 1000, (unsigned long long)cum);
	}
	metric_printf(&b,
	    "kefu_first_response_seconds_bucket{le=\"+Inf\"} %llu\n"
	    "kefu_first_response_seconds_sum %.3f\n"
	    "kefu_first_response_seconds_count %llu\n"
	    "# HELP kefu_conversations conversations in memory by owner\n"
	    "# TYPE kefu_conversations gauge\n",
	    (unsigned long long)metric_count, (double)metric_sum_ms / 1000,
	    (unsigned long long)metric_count);
	for (i = 0; i < 4; i++)
		metric_printf(&b, "kefu_conversations{owner=\"%s\"} %u\n",
		    owner[i], conv_count_owner((enum conv_owner)i));
	return b.s;
}
