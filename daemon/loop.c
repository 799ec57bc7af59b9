/*
 * One thread, one loop: libwebsockets' service loop.  Signals are not
 * caught by handlers: they are blocked and read from a signalfd that the
 * loop adopts like any other descriptor, so SIGHUP is an ordinary callback
 * that runs between two events, never inside one.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "log.h"
#include "loop.h"

static struct lws_context *loop_ctx;
static const struct loop_hooks *loop_hk;
static int loop_sigfd = -1;
static int loop_stopping;
static int loop_code;

static void
loop_signal(int sig)
{
	switch (sig) {
	case SIGHUP:
		if (loop_hk != NULL && loop_hk->reload != NULL)
			loop_hk->reload();
		break;
	case SIGTERM:
	case SIGINT:
		log_info("%s: stopping", strsignal(sig));
		if (loop_hk != NULL && loop_hk->stop != NULL)
			loop_hk->stop(sig);
		loop_stop(0);
		break;
	}
}

static int
loop_signal_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user,
    void *in, size_t len)
{
	struct signalfd_siginfo si;

	(void)wsi;
	(void)user;
	(void)in;
	(void)len;
	switch (reason) {
	case LWS_CALLBACK_RAW_RX_FILE:
		while (read(loop_sigfd, &si, sizeof(si)) == sizeof(si))
			loop_signal((int)si.ssi_signo);
		break;
	case LWS_CALLBACK_RAW_CLOSE_FILE:
		loop_sigfd = -1;
		break;
	default:
		break;
	}
	return 0;
}

struct loop_watch {
	int (*fn)(int fd, void *arg);
	void *arg;
	int fd;
};

static int
loop_watch_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user,
    void *in, size_t len)
{
	struct loop_watch *w = lws_get_opaque_user_data(wsi);

	(void)user;
	(void)in;
	(void)len;
	switch (reason) {
	case LWS_CALLBACK_RAW_RX_FILE:
		if (w != NULL && w->fn(w->fd, w->arg) < 0)
			return -1; /* lws closes the descriptor */
		break;
	case LWS_CALLBACK_RAW_CLOSE_FILE:
		lws_set_opaque_user_data(wsi, NULL);
		free(w);
		break;
	default:
		break;
	}
	return 0;
}

int
loop_watch(int fd, int (*fn)(int fd, void *arg), void *arg)
{
	lws_sock_file_fd_type desc = {.filefd = fd};
	struct loop_watch *w = calloc(1, sizeof(*w));
	struct lws *wsi;

	if (w == NULL)
		return -1;
	w->fn = fn;
	w->arg = arg;
	w->fd = fd;
	if ((wsi = lws_adopt_descriptor_vhost(lws_get_vhost_by_name(loop_ctx,
	                                          "default"),
	         LWS_ADOPT_RAW_FILE_DESC, desc, "kefu-fd", NULL)) == NULL) {
		free(w);
		return -1;
	}
	lws_set_opaque_user_data(wsi, w);
	return 0;
}

static const struct lws_protocols loop_protocols[] = {
    {"kefu-signal", loop_signal_cb, 0, 0, 0, NULL, 0},
    {"kefu-fd", loop_watch_cb, 0, 0, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

static void
loop_lws_log(int level, const char *line)
{
	size_t n = strlen(line);

	while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		n--;
	log_emit(level == LLL_ERR ? LOG_PRI_ERR : LOG_PRI_WARNING,
	    "libwebsockets: %.*s", (int)n, line);
}

int
loop_init(const struct loop_hooks *hooks)
{
	struct lws_context_creation_info info;
	lws_sock_file_fd_type fd;
	sigset_t mask;

	loop_hk = hooks;
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&mask);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0) {
		log_warn("sigprocmask");
		return -1;
	}
	if ((loop_sigfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC)) <
	    0) {
		log_warn("signalfd");
		return -1;
	}
	lws_set_log_level(LLL_ERR | LLL_WARN, loop_lws_log);
	memset(&info, 0, sizeof(info));
	info.port = CONTEXT_PORT_NO_LISTEN;
	info.protocols = loop_protocols;
	info.options = LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
	if ((loop_ctx = lws_create_context(&info)) == NULL) {
		log_warnx("cannot create the libwebsockets context");
		return -1;
	}
	fd.filefd = loop_sigfd;
	if (lws_adopt_descriptor_vhost(lws_get_vhost_by_name(loop_ctx,
	                                   "default"),
	        LWS_ADOPT_RAW_FILE_DESC, fd, "kefu-signal", NULL) == NULL) {
		log_warnx("cannot adopt the signal descriptor into the loop");
		return -1;
	}
	return 0;
}

int
loop_run(void)
{
	while (!loop_stopping)
		if (lws_service(loop_ctx, 0) < 0)
			break;
	return loop_code;
}

void
loop_stop(int code)
{
	loop_code = code;
	loop_stopping = 1;
	if (loop_ctx != NULL)
		lws_cancel_service(loop_ctx);
}

void
loop_fini(void)
{
	if (loop_ctx != NULL)
		lws_context_destroy(loop_ctx);
	loop_ctx = NULL;
	loop_sigfd = -1;
}

struct lws_context *
loop_context(void)
{
	return loop_ctx;
}

static void
loop_timer_fire(lws_sorted_usec_list_t *sul)
{
	struct loop_timer *t = lws_container_of(sul, struct loop_timer, sul);

	t->fn(t->arg);
}

void
loop_timer_set(struct loop_timer *t, int64_t delay_ms, void (*fn)(void *),
    void *arg)
{
	t->fn = fn;
	t->arg = arg;
	if (loop_ctx != NULL)
		lws_sul_schedule(loop_ctx, 0, &t->sul, loop_timer_fire,
		    delay_ms * LWS_US_PER_MS);
}

void
loop_timer_cancel(struct loop_timer *t)
{
	if (loop_ctx != NULL)
		lws_sul_cancel(&t->sul);
}
