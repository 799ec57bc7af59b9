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
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/ssl.h>

#include "log.h"
#include "loop.h"

/*
 * Timers: our own heap, behind one lws timer for the earliest.  lws waits
 * in poll() for its next timer in whole milliseconds rounded down, then
 * polls with a zero timeout until the timer is due; under load, with an
 * ack or a store batch always a few milliseconds off, that spin was most
 * of kefud's CPU.  So before each wait the loop fires the timers due
 * within the next millisecond itself, and sleeps instead of spinning.  A
 * timer fires up to 1 ms early, or a quarter of its delay when that is
 * shorter (a 1 ms timer does not fire at once).
 */
#define LOOP_EARLY_US 1000

static struct {
	struct loop_timer **heap;
	unsigned n, cap;
	uint64_t seq;
	lws_sorted_usec_list_t sul;
	int64_t sul_due; /* what the lws timer is set for; 0: not set */
} LT;

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
	int done; /* fn said -1: it knows the descriptor is gone */
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
		if (w != NULL && w->fn(w->fd, w->arg) < 0) {
			w->done = 1;
			return -1; /* lws closes the descriptor */
		}
		break;
	case LWS_CALLBACK_RAW_CLOSE_FILE:
		/* Closed by lws itself (a hang-up): fn hears of it with -1,
		 * so that it can let go of arg. */
		if (w != NULL && !w->done)
			w->fn(-1, w->arg);
		lws_set_opaque_user_data(wsi, NULL);
		free(w);
		break;
	default:
		break;
	}
	return 0;
}

struct lws_vhost *
loop_client_vhost(const char *prefix, const struct lws_protocols *protocols,
    const char *ca_file, int keepalive_s)
{
	static unsigned serial; /* an old vhost may linger while it closes */
	struct lws_context_creation_info info;
	char name[64];

	memset(&info, 0, sizeof(info));
	snprintf(name, sizeof(name), "%s-%u", prefix, ++serial);
	info.vhost_name = name;
	info.port = CONTEXT_PORT_NO_LISTEN;
	info.protocols = protocols;
	info.options = LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
	info.keepalive_timeout = keepalive_s;
	if (ca_file != NULL) {
		/* Only the configured CA: not also the system's. */
		info.client_ssl_ca_filepath = ca_file;
		info.options |= LWS_SERVER_OPTION_DISABLE_OS_CA_CERTS;
	}
	return lws_create_vhost(loop_ctx, &info);
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

/* -- reading TLS in bulk ------------------------------------------------ */

/*
 * OpenSSL reads a TLS record in two reads (its header, then its body) and
 * lws asks for one record per poll.  A connection given to
 * loop_tls_bulk() reads its socket through this BIO instead: one read
 * takes every record waiting (up to the buffer), and OpenSSL takes them
 * from memory.  Records left in the buffer after a service turn are
 * served before the next poll, which would not say they are there.
 */
#define LOOP_BULK_SIZE 65536
#define LOOP_BULK_MAX 4

struct loop_bulk {
	int fd;
	int eof; /* the peer closed its side */
	size_t off, len;
	unsigned char buf[LOOP_BULK_SIZE];
};

static struct loop_bulk *loop_bulks[LOOP_BULK_MAX];
static BIO_METHOD *loop_bio_method;

static int
loop_bio_read(BIO *bio, char *out, int outl)
{
	struct loop_bulk *b = BIO_get_data(bio);
	ssize_t n;

	BIO_clear_retry_flags(bio);
	if (outl <= 0)
		return 0;
	if (b->len == 0) {
		do
			n = read(b->fd, b->buf, sizeof(b->buf));
		while (n < 0 && errno == EINTR);
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				BIO_set_retry_read(bio);
			return -1;
		}
		if (n == 0) {
			b->eof = 1;
			return 0;
		}
		b->off = 0;
		b->len = (size_t)n;
	}
	n = (size_t)outl < b->len ? outl : (ssize_t)b->len;
	memcpy(out, b->buf + b->off, (size_t)n);
	b->off += (size_t)n;
	b->len -= (size_t)n;
	return (int)n;
}

static long
loop_bio_ctrl(BIO *bio, int cmd, long num, void *ptr)
{
	struct loop_bulk *b = BIO_get_data(bio);

	(void)num;
	switch (cmd) {
	case BIO_CTRL_FLUSH:
		return 1;
	case BIO_CTRL_EOF:
		return b != NULL && b->eof && b->len == 0;
	case BIO_CTRL_PENDING:
		return b != NULL ? (long)b->len : 0;
	case BIO_C_GET_FD:
		/* lws closes the socket it finds with SSL_get_fd(), which
		 * asks the read side: without an answer it would stay open
		 * for good after each connection. */
		if (b == NULL)
			return -1;
		if (ptr != NULL)
			*(int *)ptr = b->fd;
		return b->fd;
	default:
		return 0;
	}
}

static int
loop_bio_free(BIO *bio)
{
	struct loop_bulk *b = BIO_get_data(bio);
	unsigned i;

	for (i = 0; i < LOOP_BULK_MAX; i++)
		if (loop_bulks[i] == b)
			loop_bulks[i] = NULL;
	free(b);
	BIO_set_data(bio, NULL);
	return 1;
}

int
loop_tls_bulk(struct lws *wsi)
{
	SSL *ssl = lws_get_ssl(wsi);
	struct loop_bulk *b;
	unsigned i;
	BIO *bio;

	if (ssl == NULL)
		return -1;
	for (i = 0; i < LOOP_BULK_MAX && loop_bulks[i] != NULL; i++)
		;
	if (i == LOOP_BULK_MAX)
		return -1;
	if (loop_bio_method == NULL) {
		if ((loop_bio_method = BIO_meth_new(BIO_get_new_index() |
		             BIO_TYPE_SOURCE_SINK | BIO_TYPE_DESCRIPTOR,
		         "kefu bulk read")) == NULL ||
		    !BIO_meth_set_read(loop_bio_method, loop_bio_read) ||
		    !BIO_meth_set_ctrl(loop_bio_method, loop_bio_ctrl) ||
		    !BIO_meth_set_destroy(loop_bio_method, loop_bio_free))
			return -1;
	}
	if ((b = calloc(1, sizeof(*b))) == NULL)
		return -1;
	b->fd = lws_get_socket_fd(wsi);
	if (b->fd < 0 || (bio = BIO_new(loop_bio_method)) == NULL) {
		free(b);
		return -1;
	}
	BIO_set_data(bio, b);
	BIO_set_init(bio, 1);
	loop_bulks[i] = b;
	SSL_set0_rbio(ssl, bio); /* lws's socket BIO stays the write side */
	return 0;
}

/*
 * Serves again each bulk connection with records in memory, while that
 * takes some: a partial record waits for the rest, and for a poll.
 */
static void
loop_tls_drain(void)
{
	struct lws_pollfd p;
	unsigned i;
	size_t before;

	for (i = 0; i < LOOP_BULK_MAX; i++)
		while (loop_bulks[i] != NULL && loop_bulks[i]->len > 0) {
			before = loop_bulks[i]->len;
			memset(&p, 0, sizeof(p));
			p.fd = loop_bulks[i]->fd;
			p.events = p.revents = POLLIN;
			if (lws_service_fd(loop_ctx, &p) < 0)
				return;
			if (loop_bulks[i] != NULL &&
			    loop_bulks[i]->len >= before)
				break;
		}
}

/* -- the turn ----------------------------------------------------------- */

#define LOOP_TURN_MAX 4

static void (*loop_turn_fn[LOOP_TURN_MAX])(void);

int
loop_on_turn(void (*fn)(void))
{
	unsigned i;

	for (i = 0; i < LOOP_TURN_MAX; i++)
		if (loop_turn_fn[i] == NULL || loop_turn_fn[i] == fn) {
			loop_turn_fn[i] = fn;
			return 0;
		}
	return -1;
}

void
loop_off_turn(void (*fn)(void))
{
	unsigned i;

	for (i = 0; i < LOOP_TURN_MAX; i++)
		if (loop_turn_fn[i] == fn)
			loop_turn_fn[i] = NULL;
}

static void loop_timers_run(void);

/*
 * A turn: the timers due, the writes gathered over the turn (loop_on_turn),
 * one poll and what it found, then the TLS records read meanwhile.
 */
int
loop_run(void)
{
	unsigned i;

	while (!loop_stopping) {
		loop_timers_run();
		for (i = 0; i < LOOP_TURN_MAX; i++)
			if (loop_turn_fn[i] != NULL)
				loop_turn_fn[i]();
		if (lws_service(loop_ctx, 0) < 0)
			break;
		loop_tls_drain();
	}
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
	unsigned i;

	if (loop_ctx != NULL)
		lws_context_destroy(loop_ctx);
	loop_ctx = NULL;
	BIO_meth_free(loop_bio_method);
	loop_bio_method = NULL;
	memset(loop_turn_fn, 0, sizeof(loop_turn_fn));
	for (i = 0; i < LT.n; i++)
		LT.heap[i]->slot = 0;
	free(LT.heap);
	memset(&LT, 0, sizeof(LT));
	loop_sigfd = -1;
}

struct lws_context *
loop_context(void)
{
	return loop_ctx;
}

/* -- timers ------------------------------------------------------------- */

/* The heap is ordered by the earliest each timer may fire. */
static int
loop_before(const struct loop_timer *a, const struct loop_timer *b)
{
	int64_t x = a->due - a->early, y = b->due - b->early;

	return x < y || (x == y && a->seq < b->seq);
}

static void
loop_heap_put(unsigned i, struct loop_timer *t)
{
	LT.heap[i] = t;
	t->slot = i + 1;
}

static void
loop_heap_up(unsigned i)
{
	struct loop_timer *t = LT.heap[i];

	while (i > 0 && loop_before(t, LT.heap[(i - 1) / 2])) {
		loop_heap_put(i, LT.heap[(i - 1) / 2]);
		i = (i - 1) / 2;
	}
	loop_heap_put(i, t);
}

static void
loop_heap_down(unsigned i)
{
	struct loop_timer *t = LT.heap[i];
	unsigned c;

	while ((c = 2 * i + 1) < LT.n) {
		if (c + 1 < LT.n && loop_before(LT.heap[c + 1], LT.heap[c]))
			c++;
		if (!loop_before(LT.heap[c], t))
			break;
		loop_heap_put(i, LT.heap[c]);
		i = c;
	}
	loop_heap_put(i, t);
}

static void
loop_heap_del(struct loop_timer *t)
{
	unsigned i = t->slot - 1;
	struct loop_timer *last = LT.heap[--LT.n];

	t->slot = 0;
	if (i == LT.n)
		return;
	loop_heap_put(i, last);
	loop_heap_up(i);
	loop_heap_down(last->slot - 1);
}

static void loop_sul_fire(lws_sorted_usec_list_t *sul);

/* The lws timer follows the earliest of ours. */
static void
loop_sul_follow(void)
{
	int64_t due = LT.n > 0 ? LT.heap[0]->due : 0, now;

	if (due == LT.sul_due || loop_ctx == NULL)
		return;
	LT.sul_due = due;
	if (due == 0) {
		lws_sul_cancel(&LT.sul);
		return;
	}
	now = lws_now_usecs();
	lws_sul_schedule(loop_ctx, 0, &LT.sul, loop_sul_fire,
	    due > now ? due - now : 0);
}

/*
 * Fires the timers due, less their early margin, but none armed while
 * this runs: a timer re-arming itself for now waits for the next turn.
 */
static void
loop_timers_run(void)
{
	int64_t now = lws_now_usecs();
	uint64_t limit = LT.seq;
	struct loop_timer *t;

	while (LT.n > 0) {
		t = LT.heap[0];
		if (t->due - t->early > now || t->seq > limit)
			break;
		loop_heap_del(t);
		t->fn(t->arg);
	}
	loop_sul_follow();
}

static void
loop_sul_fire(lws_sorted_usec_list_t *sul)
{
	(void)sul;
	LT.sul_due = 0;
	loop_timers_run();
}

void
loop_timer_set(struct loop_timer *t, int64_t delay_ms, void (*fn)(void *),
    void *arg)
{
	t->fn = fn;
	t->arg = arg;
	if (loop_ctx == NULL)
		return;
	if (t->slot != 0)
		loop_heap_del(t);
	if (LT.n == LT.cap) {
		LT.cap = LT.cap > 0 ? LT.cap * 2 : 64;
		if ((LT.heap = reallocarray(LT.heap, LT.cap,
		         sizeof(*LT.heap))) == NULL)
			fatal("loop");
	}
	t->due = lws_now_usecs() + delay_ms * LWS_US_PER_MS;
	t->early = delay_ms * LWS_US_PER_MS / 4;
	if (t->early > LOOP_EARLY_US)
		t->early = LOOP_EARLY_US;
	t->seq = ++LT.seq;
	loop_heap_put(LT.n++, t);
	loop_heap_up(LT.n - 1);
	loop_sul_follow();
}

void
loop_timer_cancel(struct loop_timer *t)
{
	if (t->slot == 0)
		return;
	loop_heap_del(t);
	loop_sul_follow();
}
