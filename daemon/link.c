/*
 * The link: the bot side of the platform protocol over libwebsockets.
 *
 *	connect -> hello -> identify(last acked seq) -> ready -> events
 *
 * A connection silent for two heartbeat intervals is dead.  Reconnects
 * back off exponentially with jitter (0.5 s doubling to 30 s, reset after a
 * connection stayed up 60 s); the platform's "reconnect" skips the wait;
 * HTTP 401 is a configuration error retried at most once a minute.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <openssl/evp.h>

#include "clock.h"
#include "frame.h"
#include "log.h"
#include "metrics.h"
#include "conf.h"
#include "token.h"
#include "loop.h"
#include "platform.h"
#include "version.h"
#include "xmalloc.h"

#define LINK_BACKOFF_MIN_MS 500
#define LINK_BACKOFF_MAX_MS 30000
#define LINK_STABLE_MS 60000
#define LINK_UNAUTHORIZED_MS 60000
#define LINK_HELLO_WAIT_MS 15000 /* before hello sets the interval */

enum link_state {
	LINK_OFF,        /* no platform configured */
	LINK_WAIT,       /* waiting to reconnect */
	LINK_CONNECTING, /* TCP, TLS, HTTP upgrade */
	LINK_HELLO,      /* connected, waiting for hello */
	LINK_IDENTIFY,   /* identify sent, waiting for ready */
	LINK_READY,
};

static const char *const link_states[] = {"off", "waiting to reconnect",
    "connecting", "waiting for hello", "identifying", "ready"};

struct link_tx {
	char *frame;
	size_t len;
	struct link_tx *next;
};

static struct {
	enum link_state state;
	/* Settings, copied from the generation. */
	char *url, *host, *path, *ca_file;
	int port, tls, rate;
	struct token *token;
	const struct platform_core *core;
	struct lws_vhost *vh;
	struct lws *wsi;
	struct link_tx *tx, **tx_tail;
	char *rx;
	size_t rx_len;
	int rx_skip;     /* the rest of this message is dropped */
	size_t rx_total; /* bytes of this message so far, kept or not */
	int64_t heartbeat_ms, last_rx_ms, up_since_ms;
	unsigned readies; /* times the link became ready */
	int attempts, reconnect_now, unauthorized;
	int settled; /* ready, and the redelivered backlog has come */
	int closing; /* our Close frame is out: nothing may follow it */
	unsigned beats_sent, beats_acked, settle_at; /* on this connection */
	int64_t last_1009_ms;
	struct loop_timer heartbeat, retry, silence;
	char shop_name[256];
	struct log_throttle bad_frames;
	unsigned bad_dropped;
} L = {.tx_tail = &L.tx};

static void link_connect(void *arg);

/* Not to connect (the state could not be read at start). */
static int link_held;

static void
link_hold(int on)
{
	link_held = on;
	if (on)
		log_emit(LOG_PRI_ERR,
		    "link: not connecting to the platform until the state "
		    "store opens: kefud does not know who owns which "
		    "conversation, and could acknowledge nothing");
	else if (L.state == LINK_WAIT && L.wsi == NULL) {
		log_info("link: the state store is open; connecting");
		loop_timer_set(&L.retry, 0, link_connect, NULL);
	}
}

static int
link_settled(void)
{
	return L.state == LINK_READY && L.settled;
}

/* No result two heartbeat intervals after sending (at least 2 s): the
 * action goes again, same id (the platform applies an id once). */
static int64_t
link_result_wait_ms(void)
{
	int64_t ms = 2 * L.heartbeat_ms;

	return ms > 2000 ? ms : 2000;
}

static int
link_ready(void)
{
	return L.state == LINK_READY;
}

static const char *
link_state_name(void)
{
	return link_states[L.state];
}

static const char *
link_shop_name(void)
{
	return L.shop_name;
}

static void
link_tx_clear(void)
{
	struct link_tx *t, *next;

	for (t = L.tx; t != NULL; t = next) {
		next = t->next;
		free(t->frame);
		free(t);
	}
	L.tx = NULL;
	L.tx_tail = &L.tx;
}

static int
link_queue(char *frame)
{
	struct link_tx *t;
	size_t len;

	if (frame == NULL || L.wsi == NULL || L.closing) {
		free(frame);
		return -1;
	}
	if ((len = strlen(frame)) > FRAME_MAX) {
		log_warnx(
		    "link: outgoing frame of %zu bytes is over the protocol's %d; not sent",
		    len, FRAME_MAX);
		free(frame);
		return -1;
	}
	if ((t = calloc(1, sizeof(*t))) == NULL)
		fatal("link");
	t->frame = frame;
	t->len = len;
	*L.tx_tail = t;
	L.tx_tail = &t->next;
	return 0; /* link_flush() writes it, at the end of the turn */
}

static int
link_send(char *frame)
{
	if (L.state != LINK_READY) {
		free(frame);
		return -1;
	}
	return link_queue(frame);
}

static void link_connect(void *arg);

/* Schedules the next attempt; the delay grows unless told otherwise. */
/* A random delay below n ms, different in every process: the kernel's
 * random numbers, since random() unseeded gives every kefud the same
 * sequence and they would all reconnect at the same instants. */
static int64_t
link_jitter(int64_t n)
{
	uint64_t r;

	if (getrandom(&r, sizeof(r), 0) != (ssize_t)sizeof(r))
		r = (uint64_t)clock_mono_ms() * 2654435761u ^
		    (uint64_t)getpid();
	return (int64_t)(r % (uint64_t)n);
}

static void
link_retry_later(void)
{
	int64_t delay, now = clock_mono_ms();

	if (L.state == LINK_OFF)
		return;
	L.state = LINK_WAIT;
	if (L.up_since_ms != 0 && now - L.up_since_ms >= LINK_STABLE_MS)
		L.attempts = 0;
	L.up_since_ms = 0;
	if (L.reconnect_now) {
		delay = 0;
		L.reconnect_now = 0;
	} else {
		delay = (int64_t)LINK_BACKOFF_MIN_MS
		    << (L.attempts < 6 ? L.attempts : 6);
		if (delay > LINK_BACKOFF_MAX_MS)
			delay = LINK_BACKOFF_MAX_MS;
		/* Equal jitter: half fixed, half random. */
		delay = delay / 2 + link_jitter(delay / 2 + 1);
		L.attempts++;
	}
	if (L.unauthorized) {
		delay = LINK_UNAUTHORIZED_MS + link_jitter(15000);
		L.unauthorized = 0;
	}
	log_info("link: reconnecting in %.3f s", delay / 1000.0);
	loop_timer_set(&L.retry, delay, link_connect, NULL);
}

static void
link_down(const char *why)
{
	int was_ready = L.state == LINK_READY;

	log_warnx("link: %s %s", was_ready ? "lost:" : "down:", why);
	L.wsi = NULL;
	L.heartbeat_ms = 0; /* the next connection waits for its own hello */
	loop_timer_cancel(&L.heartbeat);
	loop_timer_cancel(&L.silence);
	link_tx_clear();
	free(L.rx);
	L.rx = NULL;
	L.rx_len = 0;
	L.core->down();
	link_retry_later();
}

/* Closes the connection from outside its callbacks. */
static void
link_kill(const char *why)
{
	struct lws *wsi = L.wsi;

	if (wsi == NULL)
		return;
	link_down(why);
	lws_set_timeout(wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
}

/*
 * The connection is dead after two heartbeat intervals without a frame:
 * checked at the moment the last frame plus two intervals comes, not at
 * the next heartbeat (which made it two to three).  Before hello, the
 * wait for hello.
 */
static void
link_silence(void *arg)
{
	int64_t silent = clock_mono_ms() - L.last_rx_ms;
	int64_t limit =
	    L.heartbeat_ms ? 2 * L.heartbeat_ms : LINK_HELLO_WAIT_MS;
	char why[128];

	(void)arg;
	if (silent >= limit) {
		snprintf(why, sizeof(why),
		    "no frame from the platform for %lld ms (two heartbeat intervals)",
		    (long long)silent);
		link_kill(why);
		return;
	}
	loop_timer_set(&L.silence, limit - silent, link_silence, NULL);
}

/* A heartbeat, counted: acks come back in order, so the n-th ack on a
 * connection answers its n-th heartbeat. */
static void
link_beat(void)
{
	if (link_queue(frame_heartbeat()) == 0)
		L.beats_sent++;
}

static void
link_heartbeat(void *arg)
{
	(void)arg;
	if (L.state >= LINK_IDENTIFY)
		link_beat();
	loop_timer_set(&L.heartbeat,
	    L.heartbeat_ms ? L.heartbeat_ms : LINK_HELLO_WAIT_MS,
	    link_heartbeat, NULL);
}

/* Malformed input is logged at growing intervals, never in a flood. */
static void link_bad_frame(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

static void
link_bad_frame(const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	if (!log_throttle_pass(&L.bad_frames, clock_mono_ms())) {
		L.bad_dropped++;
		return;
	}
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (L.bad_dropped > 0)
		log_warnx(
		    "link: %s (and %u more malformed frames since the last report)",
		    msg, L.bad_dropped);
	else
		log_warnx("link: %s", msg);
	L.bad_dropped = 0;
}

static void
link_frame(const char *buf, size_t len)
{
	struct frame f;
	char why[256];

	if (frame_parse(buf, len, &f, why, sizeof(why)) < 0) {
		link_bad_frame("malformed frame dropped: %s", why);
		return;
	}
	switch (f.op) {
	case FRAME_HELLO:
		L.heartbeat_ms = f.heartbeat_ms;
		loop_timer_set(&L.silence, 2 * L.heartbeat_ms, link_silence,
		    NULL);
		L.state = LINK_IDENTIFY;
		link_queue(
		    frame_identify("kefud/" KEFU_VERSION, L.core->acked()));
		loop_timer_set(&L.heartbeat, L.heartbeat_ms, link_heartbeat,
		    NULL);
		break;
	case FRAME_READY:
		if (L.state != LINK_IDENTIFY) {
			link_bad_frame("ready dropped: not expected now");
			break;
		}
		L.state = LINK_READY;
		L.up_since_ms = clock_mono_ms();
		if (L.readies++ > 0)
			metric_inc(M_RECONNECTS);
		snprintf(L.shop_name, sizeof(L.shop_name), "%s",
		    f.shop_name != NULL ? f.shop_name : "");
		log_info(
		    "link: ready; shop \"%s\", resuming from event %lld, %zu actions waiting",
		    L.shop_name, (long long)f.resume_from, L.core->pending());
		L.core->resume_from(
		    f.resume_from > 0 ? (uint64_t)f.resume_from : 0);
		L.core->up();
		/*
		 * Queued actions wait until the platform answers a heartbeat
		 * sent now: the events it redelivers come before that answer,
		 * so an agent who took a conversation meanwhile is known
		 * before any stale bot line goes out.
		 */
		L.settled = 0;
		link_beat();
		L.settle_at = L.beats_sent;
		break;
	case FRAME_EVENT:
		if (L.state != LINK_READY)
			link_bad_frame("event dropped: before ready");
		else
			L.core->event(&f.ev, f.ev_type);
		break;
	case FRAME_RESULT:
		L.core->result(f.id, f.ok, f.code, f.message, f.retry_after_ms);
		break;
	case FRAME_RECONNECT:
		log_info("link: platform asks to reconnect (%s)",
		    f.reason != NULL ? f.reason : "no reason given");
		L.reconnect_now = 1;
		frame_free(&f);
		link_kill("closed at the platform's request");
		return;
	case FRAME_ERROR:
		log_warnx("link: platform error %s: %s",
		    f.code != NULL ? f.code : "?",
		    f.message != NULL ? f.message : "");
		break;
	case FRAME_UNKNOWN:
		link_bad_frame("unknown op \"%s\" ignored", f.opname);
		break;
	case FRAME_HEARTBEAT_ACK:
		L.beats_acked++;
		/* The answer to the heartbeat sent at ready, not to one sent
		 * before it (this assumes, as the sandbox does and the
		 * protocol's order of frames implies, that the platform sends
		 * what it redelivers before it answers that heartbeat). */
		if (L.state == LINK_READY && !L.settled &&
		    L.beats_acked >= L.settle_at) {
			L.settled = 1;
			log_info("link: the backlog is in; %zu actions to send",
			    L.core->pending());
			L.core->settled();
		}
		break;
	}
	frame_free(&f);
}

/* Collects the fragments of one message, up to the protocol's limit. */
static int
link_receive(struct lws *wsi, const char *in, size_t len)
{
	if (lws_is_first_fragment(wsi)) {
		L.rx_len = 0;
		L.rx_total = 0;
		L.rx_skip = 0;
		if (lws_frame_is_binary(wsi)) {
			link_bad_frame(
			    "binary frame dropped: the protocol has only text frames");
			L.rx_skip = 1;
		}
	}
	/* The protocol: whoever receives a larger frame, text or binary,
	 * closes with 1009; the event comes again on a new connection, at
	 * once (docs/platform.md). */
	L.rx_total += len;
	if (L.rx_total > FRAME_MAX) {
		log_warnx(
		    "link: frame larger than %d bytes; closing with 1009 as the protocol says",
		    FRAME_MAX);
		lws_close_reason(wsi, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE,
		    (unsigned char *)"frame too large", 15);
		/* At once the first time; a platform that sends the same
		 * frame again gets the back-off, not a reconnect storm. */
		if (clock_mono_ms() - L.last_1009_ms > LINK_STABLE_MS)
			L.reconnect_now = 1;
		L.last_1009_ms = clock_mono_ms();
		L.closing = 1;
		return -1;
	}
	if (!L.rx_skip) {
		if (L.rx == NULL && (L.rx = malloc(FRAME_MAX + 1)) == NULL)
			fatal("link");
		memcpy(L.rx + L.rx_len, in, len);
		L.rx_len += len;
	}
	if (!lws_is_final_fragment(wsi))
		return 0;
	if (!L.rx_skip)
		link_frame(L.rx, L.rx_len);
	L.rx_len = 0;
	return 0;
}

/*
 * Frames queued since the last writable callback all go out now, framed
 * here and handed to lws as one write: one TLS record and one system
 * call for a turn's replies and acks, not one of each per frame.  The
 * masking keys come from link_mask(), not from a read of /dev/urandom
 * per frame as in lws_write().
 * lws buffers what the kernel does not take; the rest waits for the next
 * callback.
 */
#define LINK_WRITE_BURST 64

/*
 * Masking keys: ChaCha20's key stream under a key from getrandom(), taken
 * when a connection is established.  (OpenSSL's RAND_bytes() would do,
 * but asks getpid() on every call to notice a fork.)
 */
static struct {
	EVP_CIPHER_CTX *ctx;
	unsigned char stream[256];
	size_t used;
} LM;

static void
link_mask_seed(void)
{
	unsigned char key[32 + 16];

	if (getrandom(key, sizeof(key), 0) != (ssize_t)sizeof(key))
		fatal("link: getrandom");
	if ((LM.ctx == NULL && (LM.ctx = EVP_CIPHER_CTX_new()) == NULL) ||
	    !EVP_EncryptInit_ex(LM.ctx, EVP_chacha20(), NULL, key, key + 32))
		fatalx("link: cannot set up ChaCha20 for the masking keys");
	explicit_bzero(key, sizeof(key));
	LM.used = sizeof(LM.stream);
}

static void
link_mask(unsigned char *out, size_t n)
{
	static const unsigned char zero[sizeof(LM.stream)];
	size_t k;
	int len;

	if (LM.ctx == NULL)
		link_mask_seed();
	while (n > 0) {
		if (LM.used == sizeof(LM.stream)) {
			if (!EVP_EncryptUpdate(LM.ctx, LM.stream, &len, zero,
			        (int)sizeof(zero)) ||
			    len != (int)sizeof(zero))
				fatalx("link: ChaCha20 failed");
			LM.used = 0;
		}
		k = sizeof(LM.stream) - LM.used;
		if (k > n)
			k = n;
		memcpy(out, LM.stream + LM.used, k);
		LM.used += k;
		out += k;
		n -= k;
	}
}

static int
link_write(struct lws *wsi)
{
	unsigned char mask[4 * LINK_WRITE_BURST], *buf, *p;
	size_t need = LWS_PRE, len;
	struct link_tx *t;
	int n = 0, i;

	/* Our Close is out (or a write failed): nothing may follow. */
	if (L.closing)
		return 0;
	for (t = L.tx; t != NULL && n < LINK_WRITE_BURST; t = t->next, n++)
		need += FRAME_WS_HEAD + t->len;
	if (n == 0)
		return 0;
	link_mask(mask, 4 * (size_t)n);
	if ((buf = malloc(need)) == NULL)
		fatal("link");
	p = buf + LWS_PRE;
	for (i = 0; i < n; i++) {
		t = L.tx;
		p += frame_ws_text(p, t->frame, t->len, mask + 4 * i);
		L.tx = t->next;
		if (L.tx == NULL)
			L.tx_tail = &L.tx;
		free(t->frame);
		free(t);
	}
	len = (size_t)(p - (buf + LWS_PRE));
	if (lws_write(wsi, buf + LWS_PRE, len, LWS_WRITE_RAW) < (int)len) {
		free(buf);
		log_warnx("link: write failed");
		L.closing = 1;
		return -1;
	}
	free(buf);
	if (L.tx != NULL)
		lws_callback_on_writable(wsi);
	return 0;
}

/*
 * Once a turn (loop_on_turn): what the turn queued leaves now, in one
 * write, without first polling for writability.  When lws still holds
 * bytes the kernel did not take, the writable callback sends the rest
 * and then the queue.
 */
static void
link_flush(void)
{
	if (L.wsi == NULL || L.tx == NULL || L.state < LINK_HELLO || L.closing)
		return;
	if (lws_partial_buffered(L.wsi)) {
		lws_callback_on_writable(L.wsi);
		return;
	}
	if (link_write(L.wsi) < 0)
		lws_set_timeout(L.wsi, PENDING_TIMEOUT_KILLED_BY_PARENT,
		    LWS_TO_KILL_ASYNC);
}

/* "Authorization: Bearer <token>", without any printf-style function. */
static int
link_auth_header(struct lws *wsi, unsigned char **p, unsigned char *end)
{
	char value[1100];
	const char *tok;
	size_t len;
	int r;

	tok = token_value(L.token, &len);
	if (len + 8 > sizeof(value))
		return -1;
	memcpy(value, "Bearer ", 7);
	memcpy(value + 7, tok, len);
	r = lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_AUTHORIZATION,
	    (unsigned char *)value, (int)(len + 7), p, end);
	explicit_bzero(value, sizeof(value));
	return r;
}

static int
link_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user,
    void *in, size_t len)
{
	char why[300];
	int status;

	(void)user;
	if (wsi != L.wsi && reason != LWS_CALLBACK_CLIENT_CONNECTION_ERROR &&
	    reason != LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER)
		return reason == LWS_CALLBACK_CLIENT_RECEIVE ? -1 : 0;
	switch (reason) {
	case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER:
		if (L.token == NULL)
			return -1;
		return link_auth_header(wsi, (unsigned char **)in,
		    *(unsigned char **)in + len);
	case LWS_CALLBACK_CLIENT_ESTABLISHED:
		log_info("link: connected to %s", L.url);
		L.closing = 0;
		link_mask_seed();
		if (L.tls && loop_tls_bulk(wsi) < 0)
			log_warnx("link: reading TLS record by record");
		L.state = LINK_HELLO;
		L.last_rx_ms = clock_mono_ms();
		L.beats_sent = L.beats_acked = L.settle_at = 0;
		loop_timer_set(&L.heartbeat, LINK_HELLO_WAIT_MS, link_heartbeat,
		    NULL);
		loop_timer_set(&L.silence, LINK_HELLO_WAIT_MS, link_silence,
		    NULL);
		break;
	case LWS_CALLBACK_CLIENT_RECEIVE:
		L.last_rx_ms = clock_mono_ms();
		return link_receive(wsi, in, len);
	case LWS_CALLBACK_CLIENT_WRITEABLE:
		return link_write(wsi);
	case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
		if (wsi != L.wsi && L.wsi != NULL)
			break;
		status = lws_http_client_http_response(wsi);
		if (status == 401) {
			L.unauthorized = 1;
			log_emit(LOG_PRI_ERR,
			    "link: %s refused the token (HTTP 401): check platform.token_file or the \"token\" credential; retrying in a minute",
			    L.url);
		}
		snprintf(why, sizeof(why), "cannot connect to %s: %s", L.url,
		    in != NULL ? (const char *)in : "connection error");
		link_down(why);
		break;
	case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
		if (len >= 2)
			log_info("link: platform closes with status %u",
			    ((unsigned char *)in)[0] << 8 |
			        ((unsigned char *)in)[1]);
		break;
	case LWS_CALLBACK_CLIENT_CLOSED:
		link_down("connection closed");
		break;
	default:
		break;
	}
	return 0;
}

static const struct lws_protocols link_protocols[] = {
    /* A turn's frames in one send() up to 256 KB (lws's default is
     * the rx buffer's size, 16 KB). */
    {"kefu-link", link_callback, 0, 16384, 0, NULL, 262144},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

static void
link_connect(void *arg)
{
	struct lws_client_connect_info ci;

	(void)arg;
	if (L.state == LINK_OFF || L.vh == NULL || link_held)
		return;
	if (!L.tls)
		log_warnx(
		    "link: connecting to %s without TLS (platform.allow_plain_ws): for tests only",
		    L.url);
	memset(&ci, 0, sizeof(ci));
	ci.context = loop_context();
	ci.vhost = L.vh;
	ci.address = L.host;
	ci.port = L.port;
	ci.path = L.path;
	ci.host = L.host;
	ci.origin = L.host;
	ci.ssl_connection = L.tls ? LCCSCF_USE_SSL : 0;
	ci.protocol = "kefu.v1";
	ci.local_protocol_name = "kefu-link";
	ci.pwsi = &L.wsi;
	L.state = LINK_CONNECTING;
	if (lws_client_connect_via_info(&ci) == NULL &&
	    L.state == LINK_CONNECTING) {
		L.wsi = NULL;
		link_retry_later();
	}
}

static void
link_forget(void)
{
	free(L.url);
	free(L.host);
	free(L.path);
	free(L.ca_file);
	L.url = L.host = L.path = L.ca_file = NULL;
	token_free(L.token);
	L.token = NULL;
}

static int
link_same(const struct conf_platform *p, const struct token *tok)
{
	return L.url != NULL && strcmp(L.url, p->url) == 0 &&
	    (L.ca_file == NULL) == (p->ca_file == NULL) &&
	    (L.ca_file == NULL || strcmp(L.ca_file, p->ca_file) == 0) &&
	    token_equal(L.token, tok);
}

static int
link_vhost(void)
{
	if ((L.vh = loop_client_vhost("kefu-link", link_protocols, L.ca_file,
	         0)) == NULL) {
		log_warnx("link: cannot set up TLS for %s%s%s", L.url,
		    L.ca_file != NULL ? " with CA file " : "",
		    L.ca_file != NULL ? L.ca_file : "");
		return -1;
	}
	return 0;
}

static void link_stop(void);

static int
link_configure(const struct conf_platform *p, struct token *tok,
    const struct platform_core *core)
{
	L.core = core;
	if (L.state != LINK_OFF && link_same(p, tok)) {
		token_free(tok);
		return 0;
	}
	link_stop();
	L.url = xstrdup(p->url);
	L.host = xstrdup(p->host);
	L.path = xstrdup(p->path);
	L.ca_file = xstrdup(p->ca_file);
	L.port = p->port;
	L.tls = p->tls;
	L.token = tok;
	L.attempts = 0;
	L.state = LINK_WAIT;
	if (loop_on_turn(link_flush) < 0)
		fatalx("link: no room in the loop's turn");
	if (link_vhost() < 0) {
		link_retry_later();
		return 0;
	}
	/* From the loop: at start, the store opens (or holds the link)
	 * before the first connection. */
	loop_timer_set(&L.retry, 0, link_connect, NULL);
	return 0;
}

static void
link_stop(void)
{
	struct lws_vhost *vh = L.vh;

	loop_timer_cancel(&L.retry);
	loop_timer_cancel(&L.heartbeat);
	loop_timer_cancel(&L.silence);
	L.state = LINK_OFF;
	L.wsi = NULL;
	L.vh = NULL;
	loop_off_turn(link_flush);
	link_tx_clear();
	free(L.rx);
	L.rx = NULL;
	EVP_CIPHER_CTX_free(LM.ctx);
	memset(&LM, 0, sizeof(LM));
	if (L.core != NULL)
		L.core->down();
	if (vh != NULL)
		lws_vhost_destroy(vh);
	link_forget();
}

static int
link_ack(uint64_t seq)
{
	return link_send(frame_ack(seq));
}

const struct platform_driver platform_kefu = {
    .kind = "kefu",
    .scheme = "wss",
    .configure = link_configure,
    .stop = link_stop,
    .send = link_send,
    .ack = link_ack,
    .settled = link_settled,
    .ready = link_ready,
    .result_wait_ms = link_result_wait_ms,
    .hold = link_hold,
    .state_name = link_state_name,
    .shop_name = link_shop_name,
};
