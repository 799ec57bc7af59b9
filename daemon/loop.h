#ifndef KEFU_LOOP_H
#define KEFU_LOOP_H

#include <stdint.h>
#include <libwebsockets.h>

struct loop_timer {
	int64_t due;   /* monotonic microseconds */
	int64_t early; /* it may fire this much before due */
	uint64_t seq;  /* when it was armed, in arming order */
	unsigned slot; /* in the loop's heap, from 1; 0: not armed */
	void (*fn)(void *);
	void *arg;
};

struct loop_hooks {
	void (*reload)(void);  /* SIGHUP */
	void (*stop)(int sig); /* SIGTERM, SIGINT: before the loop ends */
};

/* Blocks the handled signals; call before any other thread or child. */
int loop_init(const struct loop_hooks *hooks);
/* Serves until loop_stop() or a stopping signal; returns the exit code. */
int loop_run(void);
void loop_stop(int code);
void loop_fini(void);
struct lws_context *loop_context(void);
/*
 * A vhost for client connections of protocols (a platform driver's), named
 * after prefix and unique; trusting only ca_file when it is not NULL, else
 * the system's CAs; idle HTTP connections kept keepalive_s (0: lws's
 * default).  NULL when TLS cannot be set up (the caller says why).
 */
struct lws_vhost *loop_client_vhost(const char *prefix,
    const struct lws_protocols *protocols, const char *ca_file,
    int keepalive_s);
/*
 * Calls fn on the loop thread whenever fd is readable; fn returning -1
 * stops watching and closes fd.  When the loop closes fd on its own (a
 * hang-up), fn is called once more with fd -1 to let go of arg.
 */
int loop_watch(int fd, int (*fn)(int fd, void *arg), void *arg);

/*
 * fn runs once a turn, after the timers due and before the loop waits:
 * for the writes gathered over the turn, so that they leave together and
 * without a poll for writability first.  -1 when the slots are full.
 */
int loop_on_turn(void (*fn)(void));
void loop_off_turn(void (*fn)(void));

/*
 * Reads an established TLS connection's socket in bulk: one read for all
 * the records waiting, which the loop serves before it polls again.  -1
 * (nothing changed) when it cannot.  Undone when the connection closes.
 */
int loop_tls_bulk(struct lws *wsi);

/*
 * One-shot timers on the loop thread; re-arming replaces the due time.  A
 * timer may fire up to a quarter of its delay early, at most 1 ms (see
 * loop.c).
 */
void loop_timer_set(struct loop_timer *t, int64_t delay_ms, void (*fn)(void *),
    void *arg);
void loop_timer_cancel(struct loop_timer *t);

#endif
