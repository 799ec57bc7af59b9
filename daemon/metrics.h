#ifndef KEFU_METRICS_H
#define KEFU_METRICS_H

#include <stdint.h>

#include <cjson/cJSON.h>

/*
 * What kefud counts since it started: kefuctl stats prints it, and the
 * optional loopback endpoint serves it in Prometheus text format.
 */
enum metric {
	M_MESSAGES_IN,   /* customer messages handled */
	M_REPLIES_OUT,   /* texts sent to customers */
	M_CONVERSATIONS, /* conversations new to kefud */
	M_HANDED_OFF,    /* of them, handed to an agent at least once */
	M_HANDOFFS,      /* handoffs asked for */
	M_NO_AGENTS,     /* handoffs answered no_agents */
	M_RECONNECTS,    /* the link came back after being up */
	M_RELOADS_OK,
	M_RELOADS_FAILED,
	M_FLOODS,          /* customers who sent more than flood_per_minute */
	M_EVICTIONS,       /* conversations moved out of memory over max_live */
	M_ACTIONS_FAILED,  /* refused by the platform for good, or unsendable */
	M_HANDOFFS_FAILED, /* of them, handoffs: back to the bot */
	M_UNANSWERED,      /* questions not answered, or only clarified */
	M_NMETRICS,
};

void metrics_start(void); /* the process's start, for process_* */
void metric_inc(enum metric m);
void metric_handoff(const char *reason);
/* A bot reply to a customer message that came in ms before it. */
void metric_response(int64_t ms);

/* Everything as JSON (for kefuctl) or Prometheus text (malloc'ed). */
cJSON *metrics_json(void);
char *metrics_prometheus(void);

#endif
