/*
 * The 微信客服 (WeChat Customer Service, the WeCom "kf" API) driver
 * (platform.kind "wechat-kf"; docs/platform.md).
 *
 *	callback (a wake-up) -> kf/sync_msg from the cursor, while has_more
 *	    -> events up to the core, numbered by seq
 *	actions down -> kf/send_msg, kf/send_msg_on_event,
 *	    kf/service_state/trans, message/send (the agent's context)
 *
 * The cursor is kefud's resume point: the store commits it with the
 * effects of the events it covers (resume_point), and a restart pulls
 * from the last one committed, so the same messages come again with the
 * same seqs and their replies with the same msgids, which the platform
 * applies once.
 *
 * The platform token of this kind is one line, "corpsecret:callback
 * token:EncodingAESKey"; none of it is ever logged, and the access token
 * lives in the same kind of page as the platform token.
 */
#define _GNU_SOURCE /* asprintf */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "clock.h"
#include "conf.h"
#include "log.h"
#include "loop.h"
#include "platform.h"
#include "token.h"
#include "utf8.h"
#include "wxcrypt.h"
#include "wxmsg.h"
#include "xmalloc.h"

#define WX_LIST_MAX 32 /* accounts, agents of a queue, queues */

/* The driver's keys of the platform group (docs/platform.md). */
struct wx_conf {
	char *corp_id;
	char *shop_name; /* NULL: the customer service account's name */
	char *callback_path;
	int agent_id;      /* the self-built app's AgentId, for message/send */
	int context_lines; /* transcript lines in an agent's context */
	char *open_kfid[WX_LIST_MAX]; /* served accounts (none: all) */
	int nopen_kfid;
	char *notify[WX_LIST_MAX]; /* told of a handoff left in the queue */
	int nnotify;
	char *route_queue[WX_LIST_MAX]; /* queue -> agents who take it */
	char *route_agents[WX_LIST_MAX][WX_LIST_MAX];
	int route_nagents[WX_LIST_MAX];
	int nroutes;
};

#define WX_CALLS_MAX 4                  /* requests out at once */
#define WX_CALL_TIMEOUT_MS 15000        /* one request, connect to answer */
#define WX_TOKEN_EARLY_MS 300000        /* refreshed this long before its end */
#define WX_WAKE_TOKEN_MS 540000         /* a callback's Token: 10 min, less 1 */
#define WX_PULL_EVERY_MS 60000          /* a pull without a callback */
#define WX_PULL_LIMIT 200               /* messages per sync_msg page */
#define WX_ANSWER_MAX (8 * 1024 * 1024) /* bytes of an API answer */
#define WX_QUOTA 5                      /* messages after a customer's ... */
#define WX_QUOTA_MS (48LL * 3600000)    /* ... within 48 hours */
#define WX_JOIN_MS 300                  /* the last of the quota waits this */
#define WX_CODE_MS 20000                /* welcome_code, msg_code lifetime */
#define WX_STALE_S 600                  /* first pull: older is not answered */
#define WX_BACKOFF_MIN_MS 1000
#define WX_BACKOFF_MAX_MS 60000
#define WX_MSGID_MAX 32 /* send_msg's msgid: [0-9a-zA-Z_-]{1,32} */

/* The errcodes the driver acts on (WeCom 全局错误码). */
#define WX_ERR_BUSY -1
#define WX_NO_ANSWER -2 /* ours: no answer at all (it may have arrived) */
#define WX_ERR_STATE_CHANGE 95016 /* 不允许这种状态转换 */
#define WX_ERR_BAD_SECRET 40001
#define WX_ERR_BAD_TOKEN 40014
#define WX_ERR_TOKEN_EXPIRED 42001
#define WX_ERR_FREQ 45009
#define WX_ERR_FREQ2 45033
#define WX_ERR_SESSION_STATE 95018
#define WX_ERR_WAKE_TOKEN 95007 /* the callback's Token is not valid */

enum wx_call {
	WX_GETTOKEN,
	WX_SYNC,
	WX_SEND,     /* kf/send_msg */
	WX_ON_EVENT, /* kf/send_msg_on_event */
	WX_SERVICERS,
	WX_TRANS,
	WX_NOTIFY,    /* message/send */
	WX_ACCOUNTS,  /* kf/account/list: the shop's name */
	WX_STATE_GET, /* kf/service_state/get */
};

static const char *const wx_call_names[] = {"gettoken", "kf/sync_msg",
    "kf/send_msg", "kf/send_msg_on_event", "kf/servicer/list",
    "kf/service_state/trans", "message/send", "kf/account/list",
    "kf/service_state/get"};

struct wx_act; /* an action being carried out, in steps */

struct wx_req {
	enum wx_call call;
	char *query; /* after "?access_token=...&", or NULL */
	char *body;  /* JSON for a POST; NULL: GET */
	struct wx_act *act;
	int refreshed;      /* sent again once after a token refresh */
	unsigned token_gen; /* the access token it was sent with */
	int64_t queued_ms;  /* when it began to wait (monotonic) */
	struct lws *wsi;
	char *rx;
	size_t rx_len;
	int status, done;
	struct loop_timer timeout;
	struct wx_req *next;
	struct wx_req *out_prev, *out_next; /* while out */
};

struct wx_act {
	char *id;   /* the action's, for its result */
	char *op;   /* send, handoff, close */
	char *conv; /* OPEN_KFID:EXTERNAL_USERID */
	char *kfid, *user;
	char *text; /* the line: sent, of a transfer, of an end */
	char *queue, *reason, *summary, *context; /* handoff */
	char msgid[WX_MSGID_MAX + 1];
	char *agent;    /* handoff: the agent it goes to, if any */
	char *msg_code; /* from trans */
	char *code;     /* the welcome code it used */
	int state;      /* trans to */
	int said;       /* the line of the change is sent */
	int slot;       /* it holds a place in the customer's budget */
	int lines;      /* lines joined into it (a fifth message) */
	int took;       /* a close took the session (0 -> 1) once */
	int maybe_sent; /* an attempt had no answer: it may have arrived */
	char **joined;  /* ids carried with it: lines, a transfer line */
	int njoined;
	/* The step out now, kept to send it again. */
	enum wx_call step_call;
	char *step_query, *step_body;
	int step_tries;
	struct loop_timer retry;
	struct wx_act *prev, *next; /* W.acts */
	struct wx_act *start_next;  /* W.starting */
};

/*
 * A customer's send budget (the 5 messages in 48 hours), kept with the
 * conversation by the core ("quota": "<since_ms> <used>") and here while
 * the customer is active; and the welcome code of their last entry.
 */
#define WX_CARRIED 16 /* msgids of lines joined into fifths, kept */
#define WX_FIFTH 16   /* lines joined into one fifth message, at most */

struct wx_cust {
	char *conv;
	int64_t since_ms; /* the customer's last message (wall clock) */
	int used;         /* messages sent since */
	char slot[WX_QUOTA][WX_MSGID_MAX + 1];      /* their msgids */
	int64_t slot_ms[WX_QUOTA];                  /* and when they went */
	char carried[WX_CARRIED][WX_MSGID_MAX + 1]; /* lines in fifths */
	int ncarried;
	/* The ids of the lines joined into the fifth, so that a fifth
	 * sent again carries the same (not kept across a restart). */
	char *fifth[WX_FIFTH];
	int nfifth;
	int state;          /* the session's, as last known; -1 not known */
	char *welcome;      /* enter_session's welcome_code, unused */
	int64_t welcome_ms; /* its message's time (wall clock) */
	struct wx_cust *next;
};

#define WX_CUST_BUCKETS 1024

/* A result for the core, delivered from the loop, never from within the
 * driver's send(). */
struct wx_result {
	char *id, *code, *message;
	int ok;
	int64_t retry_ms;
	struct wx_result *next;
};

/* Secrets, in a page kept out of core dumps. */
struct wx_secret {
	unsigned char key[WX_KEY_LEN];
	char access[600];
	size_t access_len;
};

static struct {
	int on, held, settled;
	const struct platform_core *core;
	struct token *tok;
	const char *secret, *cb_token; /* in tok's page */
	size_t secret_len, cb_token_len;
	struct wx_secret *sec;
	int64_t access_until; /* monotonic ms */
	int64_t token_after;  /* no gettoken before (after a failure) */
	int token_busy, token_failures;
	/* Settings, copied. */
	char *corp_id, *api_host, *api_base, *ca_file, *cb_path;
	char shop_name[256];
	int api_port, api_tls, agent_id, context_lines;
	char **kfids;
	int nkfids;
	char **notify;
	int nnotify;
	char **routes; /* queue, "a|b|c", queue, ... */
	int nroutes;
	struct lws_vhost *vh;
	/* Requests: waiting for a token or a slot, and out. */
	struct wx_req *wait, **wait_tail;
	struct wx_req *outs;       /* out now: their connections answer them */
	struct wx_req *connecting; /* in lws_client_connect_via_info() */
	int connect_failed;
	int out;
	unsigned token_gen; /* new access token, new number */
	/* The pull. */
	char *cursor;      /* where the next pull starts */
	char *cursor_corp; /* whose */
	char *wake_token;  /* the last callback's Token */
	int64_t wake_ms;   /* when it came (monotonic) */
	int pulling, pull_again, first_pull;
	uint64_t seq;           /* the last seq numbered */
	uint64_t seq_at_cursor; /* the seq of the last event before cursor */
	int64_t backoff_ms;
	int64_t pull_after; /* no pull before (a failed one's back-off) */
	struct loop_timer pull_timer, token_timer, vh_timer;
	struct wx_cust *custs[WX_CUST_BUCKETS];
	size_t ncusts;
	struct wx_result *results, **results_tail;
	struct wx_act *acts; /* under way */
	struct wx_act *starting, **starting_tail;
	struct loop_timer start_timer;
	struct loop_timer results_timer;
	char state[64];
	struct log_throttle bad_cb;
} W = {.wait_tail = &W.wait,
    .results_tail = &W.results,
    .starting_tail = &W.starting};

static void wx_pump(void);
static void wx_act_step(struct wx_act *a, struct wx_req *r, int errcode,
    const cJSON *o);

/* -- secrets ----------------------------------------------------------- */

static void
wx_secret_free(void)
{
	if (W.sec == NULL)
		return;
	explicit_bzero(W.sec, sizeof(*W.sec));
	munmap(W.sec, (size_t)sysconf(_SC_PAGESIZE));
	W.sec = NULL;
}

/*
 * The token's three parts, "corpsecret:callback token:EncodingAESKey":
 * pointers into it, and the AES key.  0, or -1 said why.
 */
static int
wx_split(const struct token *tok, const char **c1, const char **c2,
    unsigned char key[WX_KEY_LEN])
{
	const char *v;
	size_t len;

	v = token_value(tok, &len);
	if ((*c1 = memchr(v, ':', len)) == NULL ||
	    (*c2 = memchr(*c1 + 1, ':', len - (size_t)(*c1 + 1 - v))) == NULL ||
	    *c1 == v || *c2 == *c1 + 1 ||
	    memchr(*c2 + 1, ':', len - (size_t)(*c2 + 1 - v)) != NULL) {
		log_emit(LOG_PRI_ERR,
		    "wechat-kf: the platform token must be one line "
		    "\"corpsecret:callback token:EncodingAESKey\" "
		    "(docs/platform.md)");
		return -1;
	}
	if (wx_key(*c2 + 1, key) < 0) {
		log_emit(LOG_PRI_ERR,
		    "wechat-kf: the EncodingAESKey in the platform token is "
		    "not 43 characters of base64");
		return -1;
	}
	return 0;
}

static int
wx_token_ok(const struct token *tok)
{
	unsigned char key[WX_KEY_LEN];
	const char *c1, *c2;
	int r = wx_split(tok, &c1, &c2, key);

	explicit_bzero(key, sizeof(key));
	return r == 0;
}

static int
wx_secrets(struct token *tok)
{
	const char *c1, *c2;
	size_t len;

	W.sec = mmap(NULL, (size_t)sysconf(_SC_PAGESIZE),
	    PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (W.sec == MAP_FAILED) {
		W.sec = NULL;
		log_warn("wechat-kf: mmap");
		return -1;
	}
	madvise(W.sec, (size_t)sysconf(_SC_PAGESIZE), MADV_DONTDUMP);
	if (wx_split(tok, &c1, &c2, W.sec->key) < 0) {
		wx_secret_free();
		return -1;
	}
	W.secret = token_value(tok, &len);
	W.secret_len = (size_t)(c1 - W.secret);
	W.cb_token = c1 + 1;
	W.cb_token_len = (size_t)(c2 - c1 - 1);
	return 0;
}

/* -- requests ---------------------------------------------------------- */

static void
wx_req_free(struct wx_req *r)
{
	loop_timer_cancel(&r->timeout);
	if (r->call == WX_GETTOKEN && r->rx != NULL)
		explicit_bzero(r->rx, r->rx_len);
	free(r->query);
	free(r->body);
	free(r->rx);
	free(r);
}

static void
wx_queue(enum wx_call call, char *query, cJSON *body, struct wx_act *a)
{
	struct wx_req *r = xcalloc(1, sizeof(*r));

	r->call = call;
	r->query = query;
	if (body != NULL) {
		if ((r->body = cJSON_PrintUnformatted(body)) == NULL)
			fatalx("out of memory");
		cJSON_Delete(body);
	}
	r->act = a;
	r->queued_ms = clock_mono_ms();
	*W.wait_tail = r;
	W.wait_tail = &r->next;
	wx_pump();
}

/* s (n bytes) as a query value: unreserved characters as they are, the
 * others %XX. */
static void
wx_escape(char *out, size_t len, const char *s, size_t n)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t i, o = 0;

	for (i = 0; i < n && o + 4 <= len; i++) {
		unsigned char c = (unsigned char)s[i];

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '_' ||
		    c == '.' || c == '~')
			out[o++] = (char)c;
		else {
			out[o++] = '%';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		}
	}
	out[o] = '\0';
}

/* The path of a call with its query, access token included (never
 * logged: the log names the call only). */
static void
wx_path(const struct wx_req *r, char *buf, size_t len)
{
	char id[3 * 64 + 1], secret[3 * 1024 + 1], tok[3 * 600 + 1];

	if (r->call == WX_GETTOKEN) {
		wx_escape(id, sizeof(id), W.corp_id, strlen(W.corp_id));
		wx_escape(secret, sizeof(secret), W.secret, W.secret_len);
		snprintf(buf, len, "%scgi-bin/gettoken?corpid=%s&corpsecret=%s",
		    W.api_base, id, secret);
		explicit_bzero(secret, sizeof(secret));
		return;
	}
	wx_escape(tok, sizeof(tok), W.sec->access, W.sec->access_len);
	snprintf(buf, len, "%scgi-bin/%s?access_token=%s%s%s", W.api_base,
	    wx_call_names[r->call], tok, r->query != NULL ? "&" : "",
	    r->query != NULL ? r->query : "");
	explicit_bzero(tok, sizeof(tok));
}

static void wx_done(struct wx_req *r);

static void
wx_call_timeout(void *arg)
{
	struct wx_req *r = arg;
	struct lws *wsi = r->wsi;

	r->status = 0;
	r->wsi = NULL;
	if (wsi != NULL) {
		lws_set_opaque_user_data(wsi, NULL);
		lws_set_timeout(wsi, PENDING_TIMEOUT_USER_OK,
		    LWS_TO_KILL_ASYNC);
	}
	wx_done(r);
}

static int
wx_start(struct wx_req *r)
{
	struct lws_client_connect_info ci;
	char path[8192];

	wx_path(r, path, sizeof(path));
	memset(&ci, 0, sizeof(ci));
	ci.context = loop_context();
	ci.vhost = W.vh;
	ci.address = W.api_host;
	ci.port = W.api_port;
	ci.path = path;
	ci.host = W.api_host;
	ci.origin = W.api_host;
	/* One kept-alive connection, requests queued on it: a TLS
	 * handshake per call would cost milliseconds of CPU and, over
	 * the internet, round trips. */
	ci.ssl_connection = LCCSCF_PIPELINE | (W.api_tls ? LCCSCF_USE_SSL : 0);
	ci.method = r->body != NULL ? "POST" : "GET";
	ci.alpn = "http/1.1";
	ci.local_protocol_name = "kefu-wxkf";
	ci.opaque_user_data = r;
	ci.pwsi = &r->wsi;
	W.out++;
	r->token_gen = W.token_gen;
	r->out_next = W.outs;
	if (W.outs != NULL)
		W.outs->out_prev = r;
	W.outs = r;
	loop_timer_set(&r->timeout, WX_CALL_TIMEOUT_MS, wx_call_timeout, r);
	/* lws keeps its own copy of the path (with the secret or the
	 * access token in its query): ours is wiped. */
	/* lws may call back with a connection error before it returns
	 * NULL: then the request ends here, once, not in the callback. */
	W.connecting = r;
	W.connect_failed = 0;
	if (lws_client_connect_via_info(&ci) == NULL || W.connect_failed) {
		W.connecting = NULL;
		explicit_bzero(path, sizeof(path));
		r->wsi = NULL;
		r->status = 0;
		wx_done(r);
		return -1;
	}
	W.connecting = NULL;
	explicit_bzero(path, sizeof(path));
	return 0;
}

static void wx_token_fetch(void);

/* Starts what waits, while there are slots and (but for gettoken) a
 * valid access token. */
static void
wx_pump(void)
{
	struct wx_req **pp = &W.wait, *r;
	int have = W.sec != NULL && W.sec->access_len > 0 &&
	    clock_mono_ms() < W.access_until;

	if (!W.on || W.held || W.vh == NULL)
		return;
	while ((r = *pp) != NULL && W.out < WX_CALLS_MAX) {
		if (r->call != WX_GETTOKEN && !have) {
			pp = &r->next;
			continue;
		}
		*pp = r->next;
		if (W.wait_tail == &r->next)
			W.wait_tail = pp;
		r->next = NULL;
		wx_start(r);
	}
	if (!have && W.wait != NULL)
		wx_token_fetch();
}

static int
wx_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user,
    void *in, size_t len)
{
	struct wx_req *r = lws_get_opaque_user_data(wsi);
	char buf[4096 + LWS_PRE], *px;
	int n;

	(void)user;
	if (r == NULL)
		return reason == LWS_CALLBACK_RECEIVE_CLIENT_HTTP ? -1 : 0;
	switch (reason) {
	case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER:
		if (r->body != NULL) {
			unsigned char **p = (unsigned char **)in,
			              *end = (*p) + len;

			if (lws_add_http_header_by_token(wsi,
			        WSI_TOKEN_HTTP_CONTENT_TYPE,
			        (const unsigned char *)"application/json", 16,
			        p, end) ||
			    lws_add_http_header_content_length(wsi,
			        strlen(r->body), p, end))
				return -1;
			lws_client_http_body_pending(wsi, 1);
			lws_callback_on_writable(wsi);
		}
		break;
	case LWS_CALLBACK_CLIENT_HTTP_WRITEABLE: {
		size_t blen = r->body != NULL ? strlen(r->body) : 0;
		unsigned char *b = xcalloc(1, LWS_PRE + blen + 1);

		memcpy(b + LWS_PRE, r->body, blen);
		n = lws_write(wsi, b + LWS_PRE, blen, LWS_WRITE_HTTP_FINAL);
		free(b);
		if (n < (int)blen)
			return -1;
		lws_client_http_body_pending(wsi, 0);
		break;
	}
	case LWS_CALLBACK_ESTABLISHED_CLIENT_HTTP:
		r->status = (int)lws_http_client_http_response(wsi);
		break;
	case LWS_CALLBACK_RECEIVE_CLIENT_HTTP_READ:
		if (r->rx_len + len > WX_ANSWER_MAX)
			return -1; /* no answer of the platform is this big */
		if ((px = realloc(r->rx, r->rx_len + len + 1)) == NULL)
			fatal("wechat-kf");
		r->rx = px;
		memcpy(r->rx + r->rx_len, in, len);
		r->rx_len += len;
		r->rx[r->rx_len] = '\0';
		break;
	case LWS_CALLBACK_RECEIVE_CLIENT_HTTP:
		px = buf + LWS_PRE;
		n = (int)sizeof(buf) - LWS_PRE;
		if (lws_http_client_read(wsi, &px, &n) < 0)
			return -1;
		break;
	case LWS_CALLBACK_COMPLETED_CLIENT_HTTP:
		r->done = 1;
		lws_set_opaque_user_data(wsi, NULL);
		r->wsi = NULL;
		wx_done(r);
		return 0; /* the connection stays for the next request */
	case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
	case LWS_CALLBACK_CLOSED_CLIENT_HTTP:
		lws_set_opaque_user_data(wsi, NULL);
		r->wsi = NULL;
		if (r == W.connecting) { /* wx_start ends it */
			W.connect_failed = 1;
			break;
		}
		if (reason == LWS_CALLBACK_CLIENT_CONNECTION_ERROR)
			log_warnx("wechat-kf: %s: %s", wx_call_names[r->call],
			    in != NULL ? (const char *)in : "connection error");
		r->status = 0;
		wx_done(r);
		break;
	default:
		break;
	}
	return 0;
}

static const struct lws_protocols wx_protocols[] = {
    {"kefu-wxkf", wx_callback, 0, 0, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

static void wx_handle(struct wx_req *r, int errcode, const cJSON *o);

/* A request ended: answered (done), or failed (status 0). */
static void
wx_done(struct wx_req *r)
{
	cJSON *o = NULL;
	const cJSON *ec;
	int errcode = 0;

	loop_timer_cancel(&r->timeout);
	W.out--;
	if (r->out_prev != NULL)
		r->out_prev->out_next = r->out_next;
	else
		W.outs = r->out_next;
	if (r->out_next != NULL)
		r->out_next->out_prev = r->out_prev;
	r->out_prev = r->out_next = NULL;
	if (!r->done || r->status != 200 || r->rx == NULL ||
	    (o = cJSON_Parse(r->rx)) == NULL) {
		if (r->done)
			log_warnx("wechat-kf: %s: HTTP %d, %s",
			    wx_call_names[r->call], r->status,
			    r->rx == NULL ? "no body" : "not JSON");
		errcode = WX_NO_ANSWER; /* tried again, as busy */
	} else if (cJSON_IsNumber(
	               ec = cJSON_GetObjectItemCaseSensitive(o, "errcode")))
		errcode = ec->valueint;
	/* The access token is refused: a new one, and this once more. */
	if ((errcode == WX_ERR_BAD_TOKEN || errcode == WX_ERR_TOKEN_EXPIRED) &&
	    r->call != WX_GETTOKEN && !r->refreshed) {
		log_info("wechat-kf: %s: access token %s (%d); fetching a new "
		         "one",
		    wx_call_names[r->call],
		    errcode == WX_ERR_TOKEN_EXPIRED ? "expired" : "refused",
		    errcode);
		/* Not one fetched since this request left. */
		if (r->token_gen == W.token_gen) {
			W.access_until = 0;
			if (W.sec != NULL)
				W.sec->access_len = 0;
		}
		r->refreshed = 1;
		r->queued_ms = clock_mono_ms();
		r->done = 0;
		r->status = 0;
		free(r->rx);
		r->rx = NULL;
		r->rx_len = 0;
		cJSON_Delete(o);
		*W.wait_tail = r;
		W.wait_tail = &r->next;
		wx_pump();
		return;
	}
	wx_handle(r, errcode, o);
	cJSON_Delete(o);
	wx_req_free(r);
	wx_pump();
}

/* -- the access token -------------------------------------------------- */

static void
wx_token_fetch(void)
{
	struct wx_req *r;

	/* One at a time, and after a failure not before its back-off. */
	if (W.token_busy || W.out >= WX_CALLS_MAX || W.held || !W.on ||
	    clock_mono_ms() < W.token_after)
		return;
	W.token_busy = 1;
	r = xcalloc(1, sizeof(*r));
	r->call = WX_GETTOKEN;
	wx_start(r);
}

static void
wx_token_retry(void *arg)
{
	(void)arg;
	wx_pump();
	if (W.wait == NULL)
		wx_token_fetch();
}

static void wx_act_done(struct wx_act *a, int errcode, const char *what);
static void wx_pull_soon(int64_t ms);

/*
 * Without an access token nothing goes out: actions waiting longer than
 * a request may take fail back to the outbox (which tries them again
 * later), and a waiting pull is dropped for the next one.
 */
static void
wx_expire_waiting(void)
{
	struct wx_req **pp = &W.wait, *r;
	int64_t now = clock_mono_ms();

	while ((r = *pp) != NULL) {
		if (r->call == WX_GETTOKEN || r->call == WX_ACCOUNTS ||
		    now - r->queued_ms < WX_CALL_TIMEOUT_MS) {
			pp = &r->next;
			continue;
		}
		*pp = r->next;
		if (W.wait_tail == &r->next)
			W.wait_tail = pp;
		if (r->call == WX_SYNC) {
			W.pulling = 0;
			wx_pull_soon(WX_BACKOFF_MAX_MS);
		} else if (r->act != NULL)
			wx_act_done(r->act, WX_NO_ANSWER, "no access token");
		wx_req_free(r);
	}
}

static void
wx_token_done(int errcode, const cJSON *o)
{
	const cJSON *t = cJSON_GetObjectItemCaseSensitive(o, "access_token");
	const cJSON *e = cJSON_GetObjectItemCaseSensitive(o, "expires_in");
	int64_t life, delay;
	size_t n;

	W.token_busy = 0;
	if (errcode != 0 || !cJSON_IsString(t) ||
	    (n = strlen(t->valuestring)) == 0 || n >= sizeof(W.sec->access)) {
		W.token_failures++;
		delay = (int64_t)WX_BACKOFF_MIN_MS
		    << (W.token_failures <= 6 ? W.token_failures - 1 : 6);
		if (errcode == WX_ERR_BAD_SECRET || errcode == 40013)
			log_emit(LOG_PRI_ERR,
			    "wechat-kf: gettoken refused the corp id or the "
			    "secret (errcode %d): check platform.wechat_kf."
			    "corp_id and the platform token",
			    errcode);
		else
			log_warnx("wechat-kf: gettoken failed (errcode %d); "
			          "again in %lld s",
			    errcode, (long long)delay / 1000);
		if (delay > WX_BACKOFF_MAX_MS)
			delay = WX_BACKOFF_MAX_MS;
		W.token_after = clock_mono_ms() + delay;
		wx_expire_waiting();
		loop_timer_set(&W.token_timer, delay, wx_token_retry, NULL);
		return;
	}
	W.token_failures = 0;
	memcpy(W.sec->access, t->valuestring, n);
	W.sec->access_len = n;
	W.token_gen++;
	life = cJSON_IsNumber(e) && e->valuedouble > 0 &&
	        e->valuedouble < 86400 * 30
	    ? (int64_t)e->valuedouble * 1000
	    : 7200000;
	/* Refreshed early: never used in its last minutes. */
	life =
	    life > 2 * WX_TOKEN_EARLY_MS ? life - WX_TOKEN_EARLY_MS : life / 2;
	W.access_until = clock_mono_ms() + life;
	log_info("wechat-kf: access token for %lld s", (long long)life / 1000);
}

/* -- the pull ---------------------------------------------------------- */

static void wx_pull(void *arg);

static void
wx_pull_soon(int64_t ms)
{
	loop_timer_set(&W.pull_timer, ms, wx_pull, NULL);
}

static int
wx_kfid_served(const char *kfid)
{
	int i;

	if (W.nkfids == 0)
		return 1;
	for (i = 0; i < W.nkfids; i++)
		if (strcmp(W.kfids[i], kfid) == 0)
			return 1;
	return 0;
}

static unsigned
wx_hash(const char *s)
{
	unsigned h = 2166136261u;

	while (*s != '\0')
		h = (h ^ (unsigned char)*s++) * 16777619u;
	return h % WX_CUST_BUCKETS;
}

static void
wx_cust_free(struct wx_cust *c)
{
	while (c->nfifth > 0)
		free(c->fifth[--c->nfifth]);
	free(c->conv);
	free(c->welcome);
	free(c);
}

/*
 * Customers whose 48 hours are over and who have no welcome pending are
 * dropped from memory (the core keeps their budget): at most one bucket
 * per call, so the table stays the size of the active customers.
 */
static void
wx_cust_sweep(void)
{
	static unsigned next;
	struct wx_cust **pp = &W.custs[next++ % WX_CUST_BUCKETS], *c;
	int64_t now = clock_wall_ms();

	while ((c = *pp) != NULL)
		if (now - c->since_ms > WX_QUOTA_MS &&
		    (c->welcome == NULL || now - c->welcome_ms > WX_CODE_MS)) {
			*pp = c->next;
			wx_cust_free(c);
			W.ncusts--;
		} else
			pp = &c->next;
}

/* A list "a,b,c" (or "-") of msgids into list[max]: how many. */
static int
wx_ids(const char *s, size_t len, char (*list)[WX_MSGID_MAX + 1], int max)
{
	int n = 0;
	size_t k;

	while (len > 0 && *s != '-' && n < max) {
		k = strcspn(s, ",");
		if (k > len)
			k = len;
		if (k == 0 || k > WX_MSGID_MAX)
			break;
		memcpy(list[n], s, k);
		list[n++][k] = '\0';
		if (k == len)
			break;
		s += k + 1;
		len -= k + 1;
	}
	return n;
}

/* "2 SINCE USED STATE SLOTS CARRIED" as wx_cust_save writes it; anything
 * else leaves the customer as not known (nothing before they write). */
static void
wx_cust_load(struct wx_cust *c, const char *q)
{
	struct wx_cust t; /* all or nothing */
	long long since;
	int used, state, off = 0, n;
	const char *slots, *carried;

	if (sscanf(q, "2 %lld %d %d %n", &since, &used, &state, &off) != 3 ||
	    off == 0 || used < 0 || used > WX_QUOTA)
		return;
	slots = q + off;
	if ((carried = strchr(slots, ' ')) == NULL)
		return;
	memset(&t, 0, sizeof(t));
	/* "msgid@ms,..." or "-" */
	for (n = 0; n < used && slots < carried; n++) {
		size_t k = strcspn(slots, "@, ");

		if (k == 0 || k > WX_MSGID_MAX || slots[k] != '@')
			return;
		memcpy(t.slot[n], slots, k);
		t.slot[n][k] = '\0';
		t.slot_ms[n] = strtoll(slots + k + 1, NULL, 10);
		slots += k + 1 + strcspn(slots + k + 1, ", ");
		if (*slots == ',')
			slots++;
	}
	if (n != used)
		return;
	memcpy(c->slot, t.slot, sizeof(t.slot));
	memcpy(c->slot_ms, t.slot_ms, sizeof(t.slot_ms));
	c->since_ms = since;
	c->used = used;
	c->state = state >= 0 && state <= 4 ? state : -1;
	carried++;
	c->ncarried = wx_ids(carried, strlen(carried), c->carried, WX_CARRIED);
}

/* The customer of conversation conv, with the budget the core kept (none
 * kept: nothing may go before the customer writes). */
static struct wx_cust *
wx_cust(const char *conv)
{
	struct wx_cust **b = &W.custs[wx_hash(conv)], *c;
	const char *q;

	for (c = *b; c != NULL; c = c->next)
		if (strcmp(c->conv, conv) == 0)
			return c;
	wx_cust_sweep();
	c = xcalloc(1, sizeof(*c));
	c->conv = xstrdup(conv);
	c->used = WX_QUOTA;
	c->state = -1;
	if ((q = W.core->conv_get(conv, "quota")) != NULL)
		wx_cust_load(c, q);
	c->next = *b;
	*b = c;
	W.ncusts++;
	return c;
}

/* Whether a send with this msgid is under way (it goes after now). */
static int
wx_msgid_running(const char *msgid)
{
	const struct wx_act *a;

	for (a = W.acts; a != NULL; a = a->next)
		if (strcmp(a->msgid, msgid) == 0)
			return 1;
	return 0;
}

/*
 * A customer message at t: the platform counts the 5 from then, so the
 * budget holds what was sent since (replies to earlier messages that
 * went after t, before kefud pulled this one), with a margin for the
 * two clocks.
 */
#define WX_CLOCK_MARGIN_MS 1000

static void
wx_budget_from(struct wx_cust *c, int64_t t)
{
	int i, n = 0;

	for (i = 0; i < c->used && i < WX_QUOTA; i++)
		if (c->slot_ms[i] >= t - WX_CLOCK_MARGIN_MS ||
		    wx_msgid_running(c->slot[i])) {
			memmove(c->slot[n], c->slot[i], sizeof(c->slot[0]));
			c->slot_ms[n++] = c->slot_ms[i];
		}
	c->used = n;
	c->since_ms = t;
}

static void
wx_cust_save(const struct wx_cust *c)
{
	char v[64 + (WX_QUOTA + WX_CARRIED) * (WX_MSGID_MAX + 1) +
	    WX_QUOTA * 21];
	size_t n;
	int i;

	n = (size_t)snprintf(v, sizeof(v), "2 %lld %d %d ",
	    (long long)c->since_ms, c->used, c->state);
	for (i = 0; i < c->used && i < WX_QUOTA; i++)
		n += (size_t)snprintf(v + n, sizeof(v) - n, "%s%s@%lld",
		    i > 0 ? "," : "", c->slot[i], (long long)c->slot_ms[i]);
	n += (size_t)snprintf(v + n, sizeof(v) - n, "%s ",
	    c->used > 0 ? "" : "-");
	for (i = 0; i < c->ncarried; i++)
		n += (size_t)snprintf(v + n, sizeof(v) - n, "%s%s",
		    i > 0 ? "," : "", c->carried[i]);
	if (c->ncarried == 0)
		snprintf(v + n, sizeof(v) - n, "-");
	W.core->conv_set(c->conv, "quota", v);
}

static const char *
wx_kind(const char *msgtype)
{
	if (strcmp(msgtype, "channels_shop_product") == 0)
		return "product";
	if (strcmp(msgtype, "channels_shop_order") == 0)
		return "order";
	return msgtype;
}

/* One message of a page, up to the core as an event (or not). */
static void
wx_deliver(const struct wx_msg *m, int64_t now_s)
{
	struct kefu_event ev;
	struct wx_cust *c, *saved = NULL;
	char conv[300];
	const char *type = m->msgtype;

	if (m->open_kfid == NULL || m->external_userid == NULL ||
	    !wx_kfid_served(m->open_kfid))
		return;
	snprintf(conv, sizeof(conv), "%s:%s", m->open_kfid, m->external_userid);
	memset(&ev, 0, sizeof(ev));
	ev.conversation = conv;
	ev.customer_id = m->external_userid;
	ev.message_id = m->msgid;
	ev.ts_ms = m->send_time * 1000;
	/* A backlog from before this kefud first pulled (up to 3 days):
	 * not answered now, days late. */
	if (W.first_pull && now_s - m->send_time > WX_STALE_S)
		return;
	if (m->origin == WX_ORIGIN_CUSTOMER) {
		ev.type = KEFU_EV_MESSAGE;
		ev.message_kind = wx_kind(m->msgtype);
		ev.text = m->text != NULL ? m->text : "";
		c = wx_cust(conv);
		wx_budget_from(c, m->send_time * 1000);
		if (c->state == 4)
			c->state = 0; /* an ended session begins again */
		saved = c;
	} else if (m->origin == WX_ORIGIN_AGENT) {
		ev.type = KEFU_EV_AGENT_MESSAGE;
		ev.agent_id = m->servicer_userid;
		ev.message_kind = wx_kind(m->msgtype);
		ev.text = m->text != NULL ? m->text : "";
	} else if (strcmp(m->msgtype, "event") == 0 && m->event_type != NULL) {
		type = m->event_type;
		if (strcmp(type, "enter_session") == 0) {
			ev.type = KEFU_EV_OPENED;
			c = wx_cust(conv);
			free(c->welcome);
			c->welcome = m->welcome_code != NULL
			    ? xstrdup(m->welcome_code)
			    : NULL;
			/* 20 s from the event, not from the pull. */
			c->welcome_ms = m->send_time * 1000;
			if (c->state == 4 || c->state < 0)
				c->state = 0;
			saved = c;
		} else if (strcmp(type, "session_status_change") == 0) {
			switch (m->change_type) {
			case 1: /* taken from the queue */
			case 2: /* passed to another agent */
			case 4: /* an ended session taken again */
				ev.type = KEFU_EV_AGENT_JOINED;
				ev.agent_id = m->new_servicer_userid;
				(saved = wx_cust(conv))->state = 3;
				break;
			case 3: /* the agent ended it */
				ev.type = KEFU_EV_CLOSED;
				ev.by = "agent";
				(saved = wx_cust(conv))->state = 4;
				break;
			default:
				return;
			}
		} else if (strcmp(type, "msg_send_fail") == 0) {
			log_emit(LOG_PRI_ERR,
			    "wechat-kf: message %s to %s was not delivered "
			    "(fail_type %d%s)",
			    m->fail_msgid != NULL ? m->fail_msgid : "?", conv,
			    m->fail_type,
			    m->fail_type == 6 ? ": over 5 messages in 48 hours"
			        : m->fail_type == 4 ? ": the 48 hours are over"
			        : m->fail_type == 10
			        ? ": the customer refuses them"
			        : "");
			return;
		} else
			return; /* servicer_status_change, ...: not ours */
	} else
		return;
	ev.seq = ++W.seq;
	W.core->event(&ev, type);
	/* The conversation exists now: its budget is kept with it. */
	if (saved != NULL)
		wx_cust_save(saved);
}

static void
wx_sync_done(int errcode, const cJSON *o)
{
	struct wx_page pg;
	char *json, why[256];
	int64_t now_s = clock_wall_ms() / 1000;
	size_t i;
	int code = errcode;

	W.pulling = 0;
	if (errcode == 0 && (json = cJSON_PrintUnformatted(o)) != NULL) {
		if (wx_page_parse(json, strlen(json), &pg, &code, why,
		        sizeof(why)) == 0) {
			free(json);
			for (i = 0; i < pg.n; i++)
				wx_deliver(&pg.msgs[i], now_s);
			free(W.cursor);
			W.cursor = pg.next_cursor;
			pg.next_cursor = NULL;
			W.seq_at_cursor = W.seq;
			W.backoff_ms = 0;
			W.pull_after = 0;
			if (pg.dropped > 0)
				log_warnx("wechat-kf: %zu items of a "
				          "sync_msg page were not messages",
				    pg.dropped);
			if (pg.has_more || W.pull_again) {
				W.pull_again = 0;
				wx_pull_soon(0);
			} else {
				W.first_pull = 0;
				wx_pull_soon(WX_PULL_EVERY_MS);
			}
			if (!W.settled) {
				W.settled = 1;
				snprintf(W.state, sizeof(W.state), "ready");
				W.core->settled();
			}
			wx_page_free(&pg);
			return;
		}
		free(json);
		log_warnx("wechat-kf: sync_msg: %s", why);
	}
	W.backoff_ms = W.backoff_ms == 0           ? WX_BACKOFF_MIN_MS
	    : 2 * W.backoff_ms < WX_BACKOFF_MAX_MS ? 2 * W.backoff_ms
	                                           : WX_BACKOFF_MAX_MS;
	log_warnx("wechat-kf: sync_msg failed (errcode %d); again in %lld ms",
	    code, (long long)W.backoff_ms);
	/* A wake-up token the platform refuses is not sent again. */
	if (code == WX_ERR_WAKE_TOKEN) {
		free(W.wake_token);
		W.wake_token = NULL;
	}
	W.pull_after = clock_mono_ms() + W.backoff_ms;
	wx_pull_soon(W.backoff_ms);
}

/* A callback says messages wait: a pull now, unless a failed one waits
 * for its back-off (callbacks come with every message; a busy or rate
 * limited API is not pulled harder for them). */
static void
wx_wake(void)
{
	if (clock_mono_ms() >= W.pull_after)
		wx_pull_soon(0);
}

static void
wx_pull(void *arg)
{
	cJSON *b;

	(void)arg;
	if (!W.on || W.held)
		return;
	if (W.pulling) {
		W.pull_again = 1;
		return;
	}
	W.pulling = 1;
	b = cJSON_CreateObject();
	if (W.cursor != NULL && *W.cursor != '\0')
		cJSON_AddStringToObject(b, "cursor", W.cursor);
	if (W.wake_token != NULL &&
	    clock_mono_ms() - W.wake_ms < WX_WAKE_TOKEN_MS)
		cJSON_AddStringToObject(b, "token", W.wake_token);
	cJSON_AddNumberToObject(b, "limit", WX_PULL_LIMIT);
	wx_queue(WX_SYNC, NULL, b, NULL);
}

/* -- actions ----------------------------------------------------------- */

/*
 * An action runs in steps (a handoff: servicer/list, trans, the transfer
 * line, message/send), one request out at a time.  A step the platform
 * could not take now (busy, rate limited, no answer) is tried again here,
 * same request, same msgid, before the action fails back to the outbox.
 */
#define WX_STEP_TRIES 4

static void
wx_act_free(struct wx_act *a)
{
	if (a->prev != NULL)
		a->prev->next = a->next;
	else if (W.acts == a)
		W.acts = a->next;
	if (a->next != NULL)
		a->next->prev = a->prev;
	loop_timer_cancel(&a->retry);
	free(a->id);
	free(a->op);
	free(a->kfid);
	free(a->user);
	free(a->conv);
	free(a->text);
	free(a->queue);
	free(a->reason);
	free(a->summary);
	free(a->context);
	free(a->agent);
	free(a->msg_code);
	free(a->code);
	free(a->step_query);
	free(a->step_body);
	while (a->njoined > 0)
		free(a->joined[--a->njoined]);
	free(a->joined);
	free(a);
}

/* Whether an action with this id is being carried out (as itself or
 * carried by another): a copy the outbox sent again is dropped. */
static int
wx_act_running(const char *id)
{
	const struct wx_act *a;
	int i;

	for (a = W.acts; a != NULL; a = a->next) {
		if (strcmp(a->id, id) == 0)
			return 1;
		for (i = 0; i < a->njoined; i++)
			if (strcmp(a->joined[i], id) == 0)
				return 1;
	}
	return 0;
}

static void
wx_results_flush(void *arg)
{
	struct wx_result *r;

	(void)arg;
	while ((r = W.results) != NULL) {
		W.results = r->next;
		if (W.results == NULL)
			W.results_tail = &W.results;
		if (W.core != NULL)
			W.core->result(r->id, r->ok, r->code, r->message,
			    r->retry_ms);
		free(r->id);
		free(r->code);
		free(r->message);
		free(r);
	}
}

/* A result for the core, from the loop's next turn. */
static void
wx_result(const char *id, int ok, const char *code, const char *message,
    int64_t retry_ms)
{
	struct wx_result *r = xcalloc(1, sizeof(*r));

	r->id = xstrdup(id);
	r->ok = ok;
	r->code = xstrdup(code);
	r->message = xstrdup(message);
	r->retry_ms = retry_ms;
	*W.results_tail = r;
	W.results_tail = &r->next;
	loop_timer_set(&W.results_timer, 0, wx_results_flush, NULL);
}

/* send_msg's msgid from the action id: short, [0-9a-zA-Z_-], stable. */
static void
wx_msgid(char out[WX_MSGID_MAX + 1], const char *id)
{
	uint64_t a = 14695981039346656037ull, b = 0x9e3779b97f4a7c15ull;
	const unsigned char *p;

	for (p = (const unsigned char *)id; *p != '\0'; p++) {
		a = (a ^ *p) * 1099511628211ull;
		b = (b ^ *p) * 0x100000001b3ull + 0x2545f4914f6cdd1dull;
	}
	/* A final mix, so that ids alike do not give msgids alike. */
	a ^= b >> 29;
	a = (a ^ (a >> 30)) * 0xbf58476d1ce4e5b9ull;
	a = (a ^ (a >> 27)) * 0x94d049bb133111ebull;
	b ^= a >> 31;
	b = (b ^ (b >> 30)) * 0xbf58476d1ce4e5b9ull;
	b = (b ^ (b >> 27)) * 0x94d049bb133111ebull;
	a ^= a >> 31;
	b ^= b >> 31;
	snprintf(out, WX_MSGID_MAX + 1, "k%015llx%016llx",
	    (unsigned long long)(a >> 4), (unsigned long long)b);
}

/* Where msgid is in the list of n, or -1. */
static int
wx_find(const char (*list)[WX_MSGID_MAX + 1], int n, const char *msgid)
{
	int i;

	for (i = 0; i < n; i++)
		if (strcmp(list[i], msgid) == 0)
			return i;
	return -1;
}

/* The place of msgid in the customer's budget, or -1. */
static int
wx_slot_of(const struct wx_cust *c, const char *msgid)
{
	return wx_find(c->slot, c->used < WX_QUOTA ? c->used : WX_QUOTA, msgid);
}

/* Lines joined into a fifth message that was delivered: known as
 * delivered when they come again (a restart, a lost answer). */
static void
wx_carried(struct wx_cust *c, const struct wx_act *a)
{
	char mid[WX_MSGID_MAX + 1];
	int i;

	for (i = a->njoined - a->lines; i < a->njoined; i++) {
		wx_msgid(mid, a->joined[i]);
		if (c->ncarried == WX_CARRIED) {
			memmove(c->carried[0], c->carried[1],
			    (WX_CARRIED - 1) * sizeof(c->carried[0]));
			c->ncarried--;
		}
		snprintf(c->carried[c->ncarried++], WX_MSGID_MAX + 1, "%s",
		    mid);
	}
}

/*
 * The action is done: its result, and the same for what it carried (the
 * lines joined into a fifth message, a line before a handoff).  A send
 * the platform refused gives its place in the budget back.
 */
static void
wx_act_done(struct wx_act *a, int errcode, const char *what)
{
	char msg[200];
	const char *code = "invalid";
	int64_t retry = 0;
	struct wx_cust *c;
	int i;

	if (a->slot && (c = wx_cust(a->conv)) != NULL &&
	    (i = wx_slot_of(c, a->msgid)) >= 0) {
		if (errcode == 0) {
			/* Counted from when the platform took it. */
			c->slot_ms[i] = clock_wall_ms();
			wx_carried(c, a);
			wx_cust_save(c);
		} else if (errcode == WX_NO_ANSWER || a->maybe_sent) {
			/* It may have arrived, at any attempt: counted from
			 * the last one. */
			c->slot_ms[i] = clock_wall_ms();
			wx_cust_save(c);
		} else {
			/* Refused every time, so never delivered: its place
			 * is free again (later ones move down). */
			memmove(c->slot[i], c->slot[i + 1],
			    (size_t)(c->used - i - 1) * sizeof(c->slot[0]));
			memmove(&c->slot_ms[i], &c->slot_ms[i + 1],
			    (size_t)(c->used - i - 1) * sizeof(c->slot_ms[0]));
			c->used--;
			wx_cust_save(c);
		}
	}
	if (errcode == 0)
		code = NULL;
	else if (errcode == WX_ERR_BUSY || errcode == WX_NO_ANSWER)
		code = "internal";
	else if (errcode == WX_ERR_FREQ || errcode == WX_ERR_FREQ2) {
		code = "rate_limited";
		retry = 2000;
	}
	if (errcode != 0)
		snprintf(msg, sizeof(msg), "%s: errcode %d", what, errcode);
	wx_result(a->id, errcode == 0, code, errcode != 0 ? msg : NULL, retry);
	for (i = 0; i < a->njoined; i++)
		wx_result(a->joined[i], errcode == 0, code,
		    errcode != 0 ? msg : NULL, retry);
	wx_act_free(a);
}

static void wx_act_retry(void *arg);

/* A step's request, kept for a retry of the step. */
static void
wx_act_call(struct wx_act *a, enum wx_call call, char *query, cJSON *body)
{
	free(a->step_query);
	free(a->step_body);
	a->step_call = call;
	a->step_query = query;
	a->step_body = body != NULL ? cJSON_PrintUnformatted(body) : NULL;
	if (body != NULL && a->step_body == NULL)
		fatalx("out of memory");
	cJSON_Delete(body);
	a->step_tries = 0;
	wx_act_retry(a);
}

static void
wx_act_retry(void *arg)
{
	struct wx_act *a = arg;
	struct wx_req *r = xcalloc(1, sizeof(*r));

	a->step_tries++;
	r->call = a->step_call;
	r->query = xstrdup(a->step_query);
	r->body = xstrdup(a->step_body);
	r->act = a;
	r->queued_ms = clock_mono_ms();
	*W.wait_tail = r;
	W.wait_tail = &r->next;
	wx_pump();
}

/* The step failed: tried again when the platform could not take it now,
 * else 1 (the caller ends the action). */
static int
wx_act_again(struct wx_act *a, int errcode)
{
	int64_t ms;

	if (errcode != WX_ERR_BUSY && errcode != WX_NO_ANSWER &&
	    errcode != WX_ERR_FREQ && errcode != WX_ERR_FREQ2)
		return 1;
	if (a->step_tries >= WX_STEP_TRIES)
		return 1;
	ms = (int64_t)WX_BACKOFF_MIN_MS << (a->step_tries - 1);
	if ((errcode == WX_ERR_FREQ || errcode == WX_ERR_FREQ2) && ms < 2000)
		ms = 2000;
	loop_timer_set(&a->retry, ms, wx_act_retry, a);
	return 0;
}

static cJSON *
wx_text_body(const char *text)
{
	cJSON *b = cJSON_CreateObject(), *t;

	cJSON_AddStringToObject(b, "msgtype", "text");
	t = cJSON_AddObjectToObject(b, "text");
	cJSON_AddStringToObject(t, "content", text);
	return b;
}

#define WX_TEXT_BYTES 2048 /* text.content of a message, in bytes */

/*
 * text cut to what a message holds, at the end of a sentence if there is
 * one in the second half: 2,048 bytes are about 680 Chinese characters.
 */
static void
wx_fit(char **text, const char *conv)
{
	static const char *const ends[] = {"\xe3\x80\x82", "\xef\xbc\x81",
	    "\xef\xbc\x9f", "\n", "!", "?", "."}; /* 。！？ */
	size_t n = strlen(*text), cut = WX_TEXT_BYTES, best = 0, i, e;
	char *p = *text;

	if (n <= WX_TEXT_BYTES)
		return;
	while (cut > 0 && ((unsigned char)p[cut] & 0xc0) == 0x80)
		cut--;
	for (i = cut / 2; i < cut; i++)
		for (e = 0; e < sizeof(ends) / sizeof(*ends); e++)
			if (strncmp(p + i, ends[e], strlen(ends[e])) == 0 &&
			    i + strlen(ends[e]) <= cut)
				best = i + strlen(ends[e]);
	p[best > 0 ? best : cut] = '\0';
	log_warnx("wechat-kf: %s: a line of %zu bytes is cut to %zu, what "
	          "one 微信客服 message holds: shorten it",
	    conv, n, strlen(p));
}

/* A line to the customer: with a code (a welcome, the line of a state
 * change) through send_msg_on_event, else send_msg. */
static void
wx_say(struct wx_act *a, const char *code)
{
	cJSON *b;

	wx_fit(&a->text, a->conv);
	b = wx_text_body(a->text);
	cJSON_AddStringToObject(b, "msgid", a->msgid);
	if (code != NULL) {
		cJSON_AddStringToObject(b, "code", code);
		wx_act_call(a, WX_ON_EVENT, NULL, b);
		return;
	}
	cJSON_AddStringToObject(b, "touser", a->user);
	cJSON_AddStringToObject(b, "open_kfid", a->kfid);
	wx_act_call(a, WX_SEND, NULL, b);
}

static void
wx_carry(struct wx_act *a, const char *id)
{
	if ((a->joined = realloc(a->joined,
	         ((size_t)a->njoined + 1) * sizeof(*a->joined))) == NULL)
		fatal("wechat-kf");
	a->joined[a->njoined++] = xstrdup(id);
}

/*
 * The lines queued after a (taken from the core) joined to its text, as
 * many as a message holds; those that do not fit fail as the sixth
 * message they would be.  Their msgids are remembered, so that after a
 * restart they are known as delivered.
 */
static void
wx_join(struct wx_act *a, struct wx_cust *c, int again)
{
	char *next, *text;
	const cJSON *t, *id;
	cJSON *o;
	int n = 0, k = 0;

	if (!again)
		while (c->nfifth > 0)
			free(c->fifth[--c->nfifth]);
	while (a->lines < WX_FIFTH) {
		/* Sent again: the lines it carried, no others (the platform
		 * may have the first, under the same msgid). */
		if (again && k == c->nfifth)
			break;
		if ((next = W.core->take_next(a->conv, "send",
		         again ? c->fifth[k++] : NULL)) == NULL)
			break;
		o = cJSON_Parse(next);
		free(next);
		t = cJSON_GetObjectItemCaseSensitive(o, "text");
		id = cJSON_GetObjectItemCaseSensitive(o, "id");
		if (!cJSON_IsString(id)) {
			cJSON_Delete(o);
			break;
		}
		if (!cJSON_IsString(t)) {
			wx_result(id->valuestring, 0, "invalid", "no text", 0);
			cJSON_Delete(o);
			break;
		}
		if (strlen(a->text) + 1 + strlen(t->valuestring) >
		    WX_TEXT_BYTES) {
			/* It and the lines after it (in their order) go
			 * no further: the sixth message they would be. */
			wx_result(id->valuestring, 0, "invalid",
			    "over the 5 messages 微信客服 allows after a "
			    "customer's message, and too long to join to "
			    "the fifth",
			    0);
			cJSON_Delete(o);
			break;
		}
		wx_carry(a, id->valuestring);
		a->lines++;
		if (!again)
			c->fifth[c->nfifth++] = xstrdup(id->valuestring);
		if (asprintf(&text, "%s\n%s", a->text, t->valuestring) < 0)
			fatal("wechat-kf");
		free(a->text);
		a->text = text;
		cJSON_Delete(o);
		n++;
	}
	if (n > 0)
		log_info("wechat-kf: %s: the last message 微信客服 allows "
		         "carries %d more lines",
		    a->conv, n);
}

static void wx_handoff(struct wx_act *a);

static char *
wx_member(const cJSON *o, const char *name)
{
	const cJSON *m = cJSON_GetObjectItemCaseSensitive(o, name);

	return cJSON_IsString(m) ? xstrdup(m->valuestring) : NULL;
}

/* The fields of a handoff action into a. */
static void
wx_act_fields(struct wx_act *a, const cJSON *o)
{
	const cJSON *ctx;

	a->queue = wx_member(o, "queue");
	a->reason = wx_member(o, "reason");
	a->summary = wx_member(o, "summary");
	if ((ctx = cJSON_GetObjectItemCaseSensitive(o, "context")) != NULL)
		a->context = cJSON_PrintUnformatted(ctx);
}

static void
wx_send(struct wx_act *a)
{
	struct wx_cust *c = wx_cust(a->conv);
	char *h;
	cJSON *o;
	int i;

	/* Delivered already, inside an earlier fifth message. */
	if (wx_find(c->carried, c->ncarried, a->msgid) >= 0) {
		wx_act_done(a, 0, "send_msg");
		return;
	}
	/*
	 * A send again (the outbox's retry, a restart): its place, by
	 * send_msg as the first time (the platform knows its msgid), and
	 * for the fifth the lines it carried.  Its outcome the first time
	 * is not known: it may have arrived.
	 */
	if ((i = wx_slot_of(c, a->msgid)) >= 0) {
		a->slot = 1;
		a->maybe_sent = 1;
		if (i == WX_QUOTA - 1)
			wx_join(a, c, 1);
		wx_say(a, NULL);
		return;
	}
	/*
	 * The line says the customer goes to an agent, and the handoff
	 * comes right after it: it goes with the code of the transfer,
	 * after it, as 微信客服 means a transfer line to go.
	 */
	if ((h = W.core->take_next(a->conv, "handoff", NULL)) != NULL) {
		o = cJSON_Parse(h);
		free(h);
		wx_carry(a, a->id);
		free(a->id);
		a->id = wx_member(o, "id");
		free(a->op);
		a->op = xstrdup("handoff");
		wx_act_fields(a, o);
		cJSON_Delete(o);
		if (a->id == NULL) /* the core's always have one */
			a->id = xstrdup("?");
		wx_handoff(a);
		return;
	}
	/* An agent has the customer, or the session ended: 微信客服 lets
	 * only agents write now (the queue has its own notice). */
	if (c->state >= 2) {
		log_info("wechat-kf: %s: %s not sent: the session is in "
		         "state %d, where only agents write",
		    a->conv, a->id, c->state);
		wx_act_done(a, 0, "send_msg");
		return;
	}
	if (c->welcome != NULL &&
	    clock_wall_ms() - c->welcome_ms < WX_CODE_MS - 2000) {
		a->code = c->welcome;
		c->welcome = NULL;
		wx_say(a, a->code);
		return;
	}

	/* At most 5 messages within 48 hours of the customer's last one:
	 * the sixth is refused here, not lost there. */
	if (c->used >= WX_QUOTA ||
	    clock_wall_ms() - c->since_ms > WX_QUOTA_MS) {
		wx_result(a->id, 0, "invalid",
		    c->used >= WX_QUOTA
		        ? "over the 5 messages 微信客服 allows after a "
		          "customer's message"
		        : "the customer's last message is over 48 hours old",
		    0);
		wx_act_free(a);
		return;
	}
	a->slot = 1;
	c->slot_ms[c->used] = clock_wall_ms();
	snprintf(c->slot[c->used++], WX_MSGID_MAX + 1, "%s", a->msgid);
	/* The last message the budget allows carries the lines queued
	 * after it too. */
	if (c->used == WX_QUOTA)
		wx_join(a, c, 0);
	wx_cust_save(c);
	wx_say(a, NULL);
}

/* The agents a queue goes to: its route's, "a|b|c", or NULL. */
static const char *
wx_route(const char *queue)
{
	int i;

	for (i = 0; queue != NULL && i + 1 < W.nroutes; i += 2)
		if (strcmp(W.routes[i], queue) == 0)
			return W.routes[i + 1];
	return NULL;
}

/* The context an agent reads in WeCom: who, why, and the last lines. */
static char *
wx_context_text(const struct wx_act *a)
{
	cJSON *ctx = a->context != NULL ? cJSON_Parse(a->context) : NULL;
	const cJSON *tr, *l, *from, *text, *en, *e;
	size_t cap = 4096, n = 0;
	char *out = xcalloc(1, cap);
	int i, len;

#define WX_ADD(...)                                                            \
	do {                                                                   \
		int w_ = snprintf(out + n, cap - n, __VA_ARGS__);              \
		if (w_ > 0)                                                    \
			n += (size_t)w_ < cap - n ? (size_t)w_ : cap - n - 1;  \
	} while (0)
	WX_ADD("[kefu] 客户 %s 需要人工接待（%s）\n", a->user,
	    a->reason != NULL ? a->reason : "");
	if (a->summary != NULL && *a->summary != '\0')
		WX_ADD("摘要：%s\n", a->summary);
	en = cJSON_GetObjectItemCaseSensitive(ctx, "entities");
	cJSON_ArrayForEach(e, en) if (cJSON_IsString(e))
	    WX_ADD("%s：%s\n", e->string, e->valuestring);
	tr = cJSON_GetObjectItemCaseSensitive(ctx, "transcript");
	len = cJSON_GetArraySize(tr);
	if (len > 0)
		WX_ADD("最近对话：\n");
	for (i = len > W.context_lines ? len - W.context_lines : 0; i < len;
	     i++) {
		l = cJSON_GetArrayItem(tr, i);
		from = cJSON_GetObjectItemCaseSensitive(l, "from");
		text = cJSON_GetObjectItemCaseSensitive(l, "text");
		if (!cJSON_IsString(from) || !cJSON_IsString(text))
			continue;
		WX_ADD("%s：%s\n",
		    strcmp(from->valuestring, "customer") == 0  ? "客户"
		        : strcmp(from->valuestring, "bot") == 0 ? "机器人"
		                                                : "客服",
		    text->valuestring);
	}
#undef WX_ADD
	cJSON_Delete(ctx);
	/* message/send's text is at most 2048 bytes: cut at a character. */
	if (n > 2000) {
		n = 2000;
		while (n > 0 && ((unsigned char)out[n] & 0xc0) == 0x80)
			n--;
		out[n] = '\0';
	}
	return out;
}

static void
wx_notify(struct wx_act *a)
{
	char to[WX_LIST_MAX * 70] = "", *text;
	cJSON *b;
	int i;

	/* The agent given the customer; else the queue's own agents (none
	 * of them was receiving); else those told of every queue. */
	if (a->agent != NULL)
		snprintf(to, sizeof(to), "%s", a->agent);
	else if (wx_route(a->queue) != NULL)
		snprintf(to, sizeof(to), "%s", wx_route(a->queue));
	else
		for (i = 0; i < W.nnotify; i++)
			snprintf(to + strlen(to), sizeof(to) - strlen(to),
			    "%s%s", i > 0 ? "|" : "", W.notify[i]);
	if (W.agent_id == 0 || *to == '\0') {
		wx_act_done(a, 0, "handoff");
		return;
	}
	text = wx_context_text(a);
	b = wx_text_body(text);
	free(text);
	cJSON_AddStringToObject(b, "touser", to);
	cJSON_AddNumberToObject(b, "agentid", W.agent_id);
	wx_act_call(a, WX_NOTIFY, NULL, b);
}

static void
wx_trans(struct wx_act *a, int state)
{
	cJSON *b = cJSON_CreateObject();

	a->state = state;
	free(a->msg_code); /* each change has its own */
	a->msg_code = NULL;
	cJSON_AddStringToObject(b, "open_kfid", a->kfid);
	cJSON_AddStringToObject(b, "external_userid", a->user);
	cJSON_AddNumberToObject(b, "service_state", state);
	if (state == 3)
		cJSON_AddStringToObject(b, "servicer_userid", a->agent);
	wx_act_call(a, WX_TRANS, NULL, b);
}

static char *
wx_kfid_query(const struct wx_act *a)
{
	char k[3 * 300 + 1], *q;

	wx_escape(k, sizeof(k), a->kfid, strlen(a->kfid));
	if (asprintf(&q, "open_kfid=%s", k) < 0)
		fatal("wechat-kf");
	return q;
}

static void
wx_handoff(struct wx_act *a)
{
	if (wx_route(a->queue) != NULL)
		wx_act_call(a, WX_SERVICERS, wx_kfid_query(a), NULL);
	else
		wx_trans(a, 2);
}

/* The state WeCom says the session is in (kf/service_state/get). */
static void
wx_state_get(struct wx_act *a)
{
	cJSON *b = cJSON_CreateObject();

	cJSON_AddStringToObject(b, "open_kfid", a->kfid);
	cJSON_AddStringToObject(b, "external_userid", a->user);
	wx_act_call(a, WX_STATE_GET, NULL, b);
}

/* An agent took the customer through our own trans: the core hears it
 * as from the platform, so that the bot falls silent. */
static void
wx_agent_joined(struct wx_act *a)
{
	struct kefu_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.type = KEFU_EV_AGENT_JOINED;
	ev.conversation = a->conv;
	ev.customer_id = a->user;
	ev.agent_id = a->agent;
	ev.ts_ms = clock_wall_ms();
	ev.seq = ++W.seq;
	W.core->event(&ev, "service_state/trans");
}

/* The line of a transfer or an end could not go: the line's own result
 * (a transfer line carried from the core) says so, the change stands. */
static void
wx_line_failed(struct wx_act *a, const char *why)
{
	while (a->njoined > 0) {
		a->njoined--;
		wx_result(a->joined[a->njoined], 0, "invalid", why, 0);
		free(a->joined[a->njoined]);
	}
}

/* The line is out (or not to be): an agent named has the customer now,
 * then the agents hear of it; a close is done. */
static void
wx_after_line(struct wx_act *a)
{
	if (strcmp(a->op, "handoff") != 0) {
		wx_act_done(a, 0, "close");
		return;
	}
	if (a->state == 3 && a->agent != NULL)
		wx_agent_joined(a);
	wx_notify(a);
}

/* After trans: the state is the customer's now; the line that goes with
 * the change (its code); then the agents. */
static void
wx_trans_done(struct wx_act *a, const cJSON *o)
{
	struct wx_cust *c = wx_cust(a->conv);
	const cJSON *m = cJSON_GetObjectItemCaseSensitive(o, "msg_code");

	c->state = a->state;
	wx_cust_save(c);
	if (cJSON_IsString(m)) {
		free(a->msg_code);
		a->msg_code = xstrdup(m->valuestring);
	}
	if (a->state == 1) { /* close from state 0: now to 4 */
		wx_trans(a, 4);
		return;
	}
	if (a->text != NULL && *a->text != '\0' && !a->said) {
		a->said = 1;
		if (a->msg_code != NULL) {
			wx_say(a, a->msg_code);
			return;
		}
		log_warnx("wechat-kf: %s: no code came with the change to "
		          "state %d: its line is not sent",
		    a->conv, a->state);
		wx_line_failed(a, "no msg_code");
	}
	wx_after_line(a);
}

/* The first of the route's agents who is receiving, or none. */
static void
wx_pick_agent(struct wx_act *a, const cJSON *o)
{
	const char *agents = wx_route(a->queue), *p;
	const cJSON *l = cJSON_GetObjectItemCaseSensitive(o, "servicer_list"),
	            *s, *u, *st;

	for (p = agents; p != NULL && *p != '\0' && a->agent == NULL;
	     p += strcspn(p, "|"), p += *p == '|') {
		size_t n = strcspn(p, "|");

		cJSON_ArrayForEach(s, l)
		{
			u = cJSON_GetObjectItemCaseSensitive(s, "userid");
			st = cJSON_GetObjectItemCaseSensitive(s, "status");
			if (cJSON_IsString(u) && strlen(u->valuestring) == n &&
			    strncmp(u->valuestring, p, n) == 0 &&
			    (!cJSON_IsNumber(st) || st->valueint == 0)) {
				a->agent = xstrdup(u->valuestring);
				break;
			}
		}
	}
	if (a->agent == NULL)
		log_info("wechat-kf: no agent of queue %s is receiving; %s "
		         "goes to the queue",
		    a->queue, a->id);
}

/* The next step of an action, after request r. */
static void
wx_act_step(struct wx_act *a, struct wx_req *r, int errcode, const cJSON *o)
{
	const cJSON *st;

	if (errcode == WX_NO_ANSWER &&
	    (r->call == WX_SEND || r->call == WX_ON_EVENT))
		a->maybe_sent = 1;
	if (errcode != 0 && r->call != WX_TRANS && r->call != WX_NOTIFY &&
	    !wx_act_again(a, errcode))
		return;
	switch (r->call) {
	case WX_SEND:
	case WX_ON_EVENT:
		if (strcmp(a->op, "send") == 0) {
			wx_act_done(a, errcode, wx_call_names[r->call]);
			break;
		}
		/* The line of a transfer or an end: sent, or not, and the
		 * change stands either way. */
		if (errcode != 0) {
			log_warnx("wechat-kf: %s: the line of the change to "
			          "state %d was not sent (errcode %d)",
			    a->conv, a->state, errcode);
			wx_line_failed(a, "send_msg_on_event failed");
		}
		wx_after_line(a);
		break;
	case WX_SERVICERS:
		if (errcode != 0) {
			wx_act_done(a, errcode, wx_call_names[r->call]);
			break;
		}
		wx_pick_agent(a, o);
		wx_trans(a, a->agent != NULL ? 3 : 2);
		break;
	case WX_TRANS:
		if (errcode == WX_ERR_STATE_CHANGE) {
			/* Done before (our answer was lost), or a state
			 * this change cannot leave: ask. */
			wx_state_get(a);
			break;
		}
		if (errcode != 0) {
			if (wx_act_again(a, errcode))
				wx_act_done(a, errcode, wx_call_names[r->call]);
			break;
		}
		wx_trans_done(a, o);
		break;
	case WX_STATE_GET:
		st = cJSON_GetObjectItemCaseSensitive(o, "service_state");
		if (errcode != 0 || !cJSON_IsNumber(st)) {
			wx_act_done(a, errcode != 0 ? errcode : WX_NO_ANSWER,
			    wx_call_names[r->call]);
			break;
		}
		if (strcmp(a->op, "close") == 0 && st->valueint == 0 &&
		    !a->took) {
			a->took = 1;
			wx_trans(a, 1); /* 0 cannot end: the bot's first */
			break;
		}
		if (strcmp(a->op, "close") == 0 && st->valueint == 1 &&
		    a->state == 1) {
			wx_trans(a, 4); /* taken before: now the end */
			break;
		}
		if ((strcmp(a->op, "close") == 0 && st->valueint == 4) ||
		    (strcmp(a->op, "handoff") == 0 &&
		        (st->valueint == 2 || st->valueint == 3))) {
			/* It is where this action takes it: done, but
			 * for the line, whose code is gone. */
			const cJSON *sv = cJSON_GetObjectItemCaseSensitive(o,
			    "servicer_userid");

			if (!a->said && a->text != NULL && *a->text != '\0') {
				log_warnx(
				    "wechat-kf: %s: the change's code was "
				    "lost with its answer: its line is not "
				    "sent",
				    a->conv);
				wx_line_failed(a, "the change's code was lost");
			}
			a->said = 1;
			a->state = st->valueint;
			free(a->agent);
			a->agent =
			    cJSON_IsString(sv) && *sv->valuestring != '\0'
			    ? xstrdup(sv->valuestring)
			    : NULL;
			wx_trans_done(a, NULL);
			break;
		}
		wx_act_done(a, WX_ERR_STATE_CHANGE, "kf/service_state/trans");
		break;
	case WX_NOTIFY:
		if (errcode != 0) {
			if (!wx_act_again(a, errcode))
				break;
			log_warnx("wechat-kf: the context of %s did not "
			          "reach the agents (message/send errcode "
			          "%d); the handoff stands",
			    a->id, errcode);
		}
		wx_act_done(a, 0, "handoff");
		break;
	default:
		break;
	}
}

/* The shop's name, for the plugins: the first served account's. */
static void
wx_accounts_done(int errcode, const cJSON *o)
{
	const cJSON *l = cJSON_GetObjectItemCaseSensitive(o, "account_list"),
	            *a, *id, *name;

	if (errcode != 0)
		return;
	cJSON_ArrayForEach(a, l)
	{
		id = cJSON_GetObjectItemCaseSensitive(a, "open_kfid");
		name = cJSON_GetObjectItemCaseSensitive(a, "name");
		if (cJSON_IsString(id) && cJSON_IsString(name) &&
		    wx_kfid_served(id->valuestring) &&
		    strlen(name->valuestring) < sizeof(W.shop_name)) {
			snprintf(W.shop_name, sizeof(W.shop_name), "%s",
			    name->valuestring);
			log_info("wechat-kf: shop \"%s\" (account %s)",
			    W.shop_name, id->valuestring);
			return;
		}
	}
}

static void
wx_handle(struct wx_req *r, int errcode, const cJSON *o)
{
	if (errcode != 0 && r->call != WX_GETTOKEN)
		log_warnx("wechat-kf: %s: errcode %d", wx_call_names[r->call],
		    errcode);
	if (r->call == WX_GETTOKEN)
		wx_token_done(errcode, o);
	else if (r->call == WX_ACCOUNTS)
		wx_accounts_done(errcode, o);
	else if (r->call == WX_SYNC)
		wx_sync_done(errcode, o);
	else if (r->act != NULL)
		wx_act_step(r->act, r, errcode, o);
}

static void
wx_act_begin(void *arg)
{
	struct wx_act *a;

	(void)arg;
	while ((a = W.starting) != NULL) {
		if ((W.starting = a->start_next) == NULL)
			W.starting_tail = &W.starting;
		a->start_next = NULL;
		if (strcmp(a->op, "send") == 0)
			wx_send(a);
		else if (strcmp(a->op, "close") == 0)
			wx_trans(a, 4);
		else if (strcmp(a->op, "handoff") == 0)
			wx_handoff(a);
		else {
			wx_result(a->id, 0, "invalid", "unknown op", 0);
			wx_act_free(a);
		}
	}
}

/* An action from the core (taken). */
static int
wx_act_send(char *action)
{
	cJSON *o = cJSON_Parse(action);
	struct wx_act *a;
	char *colon;

	free(action);
	if (!W.on || !W.settled) {
		cJSON_Delete(o);
		return -1;
	}
	a = xcalloc(1, sizeof(*a));
	a->op = wx_member(o, "op");
	a->id = wx_member(o, "id");
	a->conv = wx_member(o, "conversation");
	if (a->op == NULL || a->id == NULL || a->conv == NULL ||
	    (colon = strchr(a->conv, ':')) == NULL) {
		cJSON_Delete(o);
		if (a->id != NULL)
			wx_result(a->id, 0, "invalid",
			    "not an action of this driver", 0);
		wx_act_free(a);
		return 0;
	}
	/* Sent again while this driver still carries it out (a token
	 * that is slow to come): one is enough. */
	if (wx_act_running(a->id)) {
		log_debug("wechat-kf: %s is under way; the copy is dropped",
		    a->id);
		cJSON_Delete(o);
		wx_act_free(a);
		return 0;
	}
	if ((a->kfid = strndup(a->conv, (size_t)(colon - a->conv))) == NULL)
		fatal("wechat-kf");
	a->user = xstrdup(colon + 1);
	a->text = wx_member(o, "text");
	wx_act_fields(a, o);
	wx_msgid(a->msgid, a->id);
	cJSON_Delete(o);
	if (strcmp(a->op, "typing") == 0) {
		wx_act_done(a, 0, "typing"); /* 微信客服 has none */
		return 0;
	}
	if (strcmp(a->op, "send") == 0 &&
	    (a->text == NULL || *a->text == '\0')) {
		wx_act_done(a, WX_ERR_STATE_CHANGE, "a send without text");
		return 0;
	}
	a->next = W.acts;
	if (W.acts != NULL)
		W.acts->prev = a;
	W.acts = a;
	/*
	 * Begun in the loop's next turn: the core queues a turn's actions
	 * one by one, and the first goes out before the others are there.
	 * By then the lines after it (to join into a fifth message) and a
	 * handoff after a line (to send the line with it) are queued.
	 */
	*W.starting_tail = a;
	W.starting_tail = &a->start_next;
	loop_timer_set(&W.start_timer, 0, wx_act_begin, NULL);
	return 0;
}

/* -- callbacks --------------------------------------------------------- */

/* The value of name in a query string, %-decoded, into buf. */
static int
wx_query(const char *q, const char *name, char *buf, size_t len)
{
	size_t nl = strlen(name), o = 0;
	const char *p;

	for (p = q; p != NULL && *p != '\0';
	     p = strchr(p, '&'), p += p != NULL) {
		if (strncmp(p, name, nl) != 0 || p[nl] != '=')
			continue;
		for (p += nl + 1; *p != '\0' && *p != '&' && o + 1 < len; p++) {
			if (*p == '%' && p[1] != '\0' && p[2] != '\0') {
				char hex[3] = {p[1], p[2], '\0'};

				buf[o++] = (char)strtol(hex, NULL, 16);
				p += 2;
			} else /* '+' as itself: base64 has it, never spaces */
				buf[o++] = *p;
		}
		buf[o] = '\0';
		return 1;
	}
	return 0;
}

/* The text of <name> in a callback's XML, CDATA or not, into buf. */
static int
wx_xml(const char *x, const char *name, char *buf, size_t len)
{
	char open[64], close[64];
	const char *p, *e;

	snprintf(open, sizeof(open), "<%s>", name);
	snprintf(close, sizeof(close), "</%s>", name);
	if ((p = strstr(x, open)) == NULL ||
	    (e = strstr(p += strlen(open), close)) == NULL)
		return 0;
	if (strncmp(p, "<![CDATA[", 9) == 0 && e - p >= 12 &&
	    strncmp(e - 3, "]]>", 3) == 0) {
		p += 9;
		e -= 3;
	}
	if ((size_t)(e - p) >= len)
		return 0;
	memcpy(buf, p, (size_t)(e - p));
	buf[e - p] = '\0';
	return 1;
}

static int
wx_refuse(char **out, const char *why)
{
	if (log_throttle_pass(&W.bad_cb, clock_mono_ms()))
		log_warnx("wechat-kf: callback refused: %s", why);
	*out = xstrdup("refused\n");
	return 403;
}

static int
wx_http(const char *method, const char *target, const char *body, size_t len,
    char **out, const char **ctype)
{
	char sig[64], ts[64], nonce[128], *enc, *msg, *tok;
	const char *q = strchr(target, '?'), *why;
	size_t n, plen = strlen(W.cb_path);
	int r;

	*ctype = "text/plain; charset=utf-8";
	if (!W.on || W.sec == NULL) {
		*out = xstrdup("not ready\n");
		return 503;
	}
	if (strncmp(target, W.cb_path, plen) != 0 ||
	    (target[plen] != '\0' && target[plen] != '?')) {
		*out = xstrdup("not here\n");
		return 404;
	}
	if (q == NULL || !wx_query(q + 1, "msg_signature", sig, sizeof(sig)) ||
	    !wx_query(q + 1, "timestamp", ts, sizeof(ts)) ||
	    !wx_query(q + 1, "nonce", nonce, sizeof(nonce)))
		return wx_refuse(out, "no msg_signature, timestamp or nonce");
	enc = xcalloc(1, 8192 > len + 1 ? 8192 : len + 1);
	if (strcmp(method, "GET") == 0) {
		/* URL verification: echostr, decrypted, is the answer. */
		if (!wx_query(q + 1, "echostr", enc, 8192)) {
			free(enc);
			return wx_refuse(out, "a GET without echostr");
		}
	} else if (strcmp(method, "POST") != 0 || body == NULL ||
	    !wx_xml(body, "Encrypt", enc, len + 1)) {
		free(enc);
		return wx_refuse(out, "no <Encrypt> in the body");
	}
	tok = xcalloc(1, W.cb_token_len + 1);
	memcpy(tok, W.cb_token, W.cb_token_len);
	r = wx_signature_ok(sig, tok, ts, nonce, enc);
	explicit_bzero(tok, W.cb_token_len);
	free(tok);
	if (!r) {
		free(enc);
		return wx_refuse(out, "bad msg_signature");
	}
	msg = wx_decrypt(W.sec->key, enc, W.corp_id, &n, &why);
	free(enc);
	if (msg == NULL)
		return wx_refuse(out, why);
	if (strcmp(method, "GET") == 0) {
		log_info("wechat-kf: callback URL verified");
		*out = msg;
		return 200;
	}
	/* kf_msg_or_event: its Token makes the pull's limits higher. */
	{
		char event[64], token[256];

		if (wx_xml(msg, "Event", event, sizeof(event)) &&
		    strcmp(event, "kf_msg_or_event") == 0) {
			if (wx_xml(msg, "Token", token, sizeof(token))) {
				free(W.wake_token);
				W.wake_token = xstrdup(token);
				W.wake_ms = clock_mono_ms();
			}
			wx_wake();
		}
	}
	free(msg);
	*out = xstrdup("success");
	return 200;
}

/* -- the driver -------------------------------------------------------- */

static int
wx_vhost(void)
{
	/* Idle API connections kept a minute. */
	if ((W.vh = loop_client_vhost("kefu-wxkf", wx_protocols, W.ca_file,
	         60)) == NULL) {
		log_warnx("wechat-kf: cannot set up TLS for %s", W.api_base);
		return -1;
	}
	return 0;
}

static void wx_lists_free(void);

static void
wx_forget(void)
{
	free(W.corp_id);
	free(W.api_host);
	free(W.api_base);
	free(W.ca_file);
	free(W.cb_path);
	wx_lists_free();
	W.corp_id = W.api_host = W.api_base = W.ca_file = W.cb_path = NULL;
	wx_secret_free();
	token_free(W.tok);
	W.tok = NULL;
}

static char **
wx_copy(char *const *v, int n)
{
	char **c = xcalloc((size_t)n + 1, sizeof(*c));
	int i;

	for (i = 0; i < n; i++)
		c[i] = xstrdup(v[i]);
	return c;
}

static void
wx_lists_free(void)
{
	int i;

	for (i = 0; i < W.nkfids; i++)
		free(W.kfids[i]);
	free(W.kfids);
	for (i = 0; i < W.nnotify; i++)
		free(W.notify[i]);
	free(W.notify);
	for (i = 0; i < W.nroutes; i++)
		free(W.routes[i]);
	free(W.routes);
	W.kfids = W.notify = W.routes = NULL;
	W.nkfids = W.nnotify = W.nroutes = 0;
}

/* What may change without a new connection: accounts, agents, routes. */
static void
wx_lists(const struct wx_conf *w)
{
	int i, j;

	wx_lists_free();
	if (w->shop_name != NULL)
		snprintf(W.shop_name, sizeof(W.shop_name), "%s", w->shop_name);
	W.agent_id = w->agent_id;
	W.context_lines = w->context_lines;
	W.kfids = wx_copy(w->open_kfid, w->nopen_kfid);
	W.nkfids = w->nopen_kfid;
	W.notify = wx_copy(w->notify, w->nnotify);
	W.nnotify = w->nnotify;
	W.routes = xcalloc(2 * (size_t)w->nroutes + 1, sizeof(*W.routes));
	for (i = 0; i < w->nroutes; i++) {
		char agents[WX_LIST_MAX * 70] = "";

		for (j = 0; j < w->route_nagents[i]; j++)
			snprintf(agents + strlen(agents),
			    sizeof(agents) - strlen(agents), "%s%s",
			    j > 0 ? "|" : "", w->route_agents[i][j]);
		W.routes[W.nroutes++] = xstrdup(w->route_queue[i]);
		W.routes[W.nroutes++] = xstrdup(agents);
	}
}

static int
wx_same(const struct conf_platform *p)
{
	const struct wx_conf *w = p->settings;

	return W.corp_id != NULL && strcmp(W.corp_id, w->corp_id) == 0 &&
	    strcmp(W.api_host, p->host) == 0 && W.api_port == p->port &&
	    strncmp(W.api_base, p->path, strlen(p->path)) == 0 &&
	    W.api_tls == p->tls && strcmp(W.cb_path, w->callback_path) == 0 &&
	    (W.ca_file == NULL) == (p->ca_file == NULL) &&
	    (W.ca_file == NULL || strcmp(W.ca_file, p->ca_file) == 0);
}

static void wx_stop(void);

/* The API's TLS context; tried again every 10 s while it cannot be made
 * (a CA file that cannot be read), with the state saying so. */
static void
wx_vhost_retry(void *arg)
{
	(void)arg;
	if (!W.on || W.vh != NULL)
		return;
	if (wx_vhost() < 0) {
		snprintf(W.state, sizeof(W.state), "no TLS context");
		loop_timer_set(&W.vh_timer, 10000, wx_vhost_retry, NULL);
		return;
	}
	snprintf(W.state, sizeof(W.state), "pulling");
	/* From the loop: the store restores the cursor first. */
	wx_pull_soon(0);
	wx_pump();
}

static int
wx_configure(const struct conf_platform *p, struct token *tok,
    const struct platform_core *core)
{
	const struct wx_conf *w = p->settings;
	char base[600];

	/* The same account and keys: only the lists change; requests out
	 * and the pull go on. */
	if (W.on && token_equal(W.tok, tok) && wx_same(p)) {
		token_free(tok);
		W.core = core;
		wx_lists(w);
		return 0;
	}
	wx_stop();
	W.core = core;
	if (tok == NULL || wx_secrets(tok) < 0) {
		token_free(tok);
		snprintf(W.state, sizeof(W.state), "no usable token");
		return -1;
	}
	W.tok = tok;
	/* A cursor is one organisation's: another's begins afresh. */
	if (W.cursor_corp != NULL && strcmp(W.cursor_corp, w->corp_id) != 0) {
		free(W.cursor);
		W.cursor = NULL;
	}
	free(W.cursor_corp);
	W.cursor_corp = xstrdup(w->corp_id);
	W.corp_id = xstrdup(w->corp_id);
	W.api_host = xstrdup(p->host);
	W.api_port = p->port;
	W.api_tls = p->tls;
	snprintf(base, sizeof(base), "%s%s", p->path,
	    p->path[strlen(p->path) - 1] == '/' ? "" : "/");
	W.api_base = xstrdup(base);
	W.ca_file = p->ca_file != NULL ? xstrdup(p->ca_file) : NULL;
	W.cb_path = xstrdup(w->callback_path);
	W.shop_name[0] = '\0';
	wx_lists(w);
	if (w->shop_name == NULL) {
		cJSON *b = cJSON_CreateObject();

		cJSON_AddNumberToObject(b, "offset", 0);
		cJSON_AddNumberToObject(b, "limit", 100);
		wx_queue(WX_ACCOUNTS, NULL, b, NULL);
	}
	W.on = 1;
	W.settled = 0;
	snprintf(W.state, sizeof(W.state), "pulling");
	if (W.cursor == NULL)
		W.first_pull = 1;
	W.core->up();
	wx_vhost_retry(NULL);
	return 0;
}

static void
wx_stop(void)
{
	struct wx_req *r, *next;
	struct wx_cust *c, *cn;
	struct lws_vhost *vh = W.vh;
	int i;

	if (!W.on && W.tok == NULL)
		return;
	W.on = 0;
	W.settled = 0;
	loop_timer_cancel(&W.pull_timer);
	loop_timer_cancel(&W.token_timer);
	loop_timer_cancel(&W.vh_timer);
	for (r = W.wait; r != NULL; r = next) {
		next = r->next;
		if (r->act != NULL)
			wx_act_free(r->act);
		wx_req_free(r);
	}
	W.wait = NULL;
	W.wait_tail = &W.wait;
	/*
	 * Requests out: their connections are cut now, and nothing they
	 * answer reaches the next configuration (a page handled twice, a
	 * token written to freed memory).  Their actions are sent again
	 * by the outbox, same ids.
	 */
	while ((r = W.outs) != NULL) {
		W.outs = r->out_next;
		if (r->wsi != NULL) {
			lws_set_opaque_user_data(r->wsi, NULL);
			lws_set_timeout(r->wsi, PENDING_TIMEOUT_USER_OK,
			    LWS_TO_KILL_ASYNC);
		}
		if (r->act != NULL)
			wx_act_free(r->act);
		wx_req_free(r);
	}
	loop_timer_cancel(&W.start_timer);
	W.starting = NULL;
	W.starting_tail = &W.starting;
	while (W.acts != NULL)
		wx_act_free(W.acts);
	for (i = 0; i < WX_CUST_BUCKETS; i++) {
		for (c = W.custs[i]; c != NULL; c = cn) {
			cn = c->next;
			wx_cust_free(c);
		}
		W.custs[i] = NULL;
	}
	W.ncusts = 0;
	/* Results decided are the core's: handed up now (stop is never
	 * called from within send). */
	loop_timer_cancel(&W.results_timer);
	wx_results_flush(NULL);
	while (W.results != NULL) {
		struct wx_result *res = W.results;

		W.results = res->next;
		free(res->id);
		free(res->code);
		free(res->message);
		free(res);
	}
	W.results_tail = &W.results;
	W.vh = NULL;
	W.pulling = 0;
	W.token_busy = 0;
	if (W.core != NULL)
		W.core->down();
	/* Requests still out end with their connections. */
	if (vh != NULL)
		lws_vhost_destroy(vh);
	W.out = 0;
	W.access_until = 0;
	wx_forget();
	snprintf(W.state, sizeof(W.state), "off");
}

static int
wx_ack(uint64_t seq)
{
	(void)seq; /* the cursor is the acknowledgement: resume_point */
	return 0;
}

static int
wx_settled(void)
{
	return W.on && W.settled;
}

static int
wx_ready(void)
{
	return W.on && W.settled;
}

static int64_t
wx_result_wait_ms(void)
{
	/* An action's steps each try up to 4 times, 15 s each, with back-off
	 * between, and may wait for a token: the driver always answers in
	 * the end, so the outbox waits long before sending a copy (which
	 * the driver drops while the action runs). */
	return 10 * 60 * 1000;
}

static void
wx_hold(int on)
{
	W.held = on;
	if (!on && W.on)
		wx_pull_soon(0);
}

static const char *
wx_state_name(void)
{
	return W.state[0] != '\0' ? W.state : "off";
}

static const char *
wx_shop_name(void)
{
	return W.shop_name;
}

#define WX_RESUME_TAG "wx2:" /* wx2:<F|-><corp id>:<cursor> */

static char *
wx_resume_point(uint64_t seq)
{
	char *r = NULL;

	/* Pages go up whole, in one turn of the loop: seq is the last of
	 * a page, and the cursor after it is where to go on. */
	/* Events after the cursor's are our own (an agent joined through
	 * our trans), never pulled again: the cursor covers them too. */
	if (W.cursor == NULL || seq < W.seq_at_cursor)
		return NULL;
	/* F: the backlog of a first start is still being passed over; the
	 * cursor is its organisation's. */
	if (asprintf(&r, WX_RESUME_TAG "%c%s:%s", W.first_pull ? 'F' : '-',
	        W.cursor_corp != NULL ? W.cursor_corp : "", W.cursor) < 0)
		fatal("wechat-kf");
	return r;
}

static void
wx_restore(uint64_t seq, const char *resume)
{
	const char *p, *colon;
	size_t tl = strlen(WX_RESUME_TAG);

	W.seq = W.seq_at_cursor = seq;
	free(W.cursor);
	W.cursor = NULL;
	W.first_pull = 1;
	if (resume == NULL || strncmp(resume, WX_RESUME_TAG, tl) != 0 ||
	    (resume[tl] != 'F' && resume[tl] != '-') ||
	    (colon = strchr(p = resume + tl + 1, ':')) == NULL) {
		if (resume != NULL)
			log_warnx(
			    "wechat-kf: the stored position is not one "
			    "this kefud reads: pulling afresh, passing over "
			    "the backlog");
		return;
	}
	/* Another organisation's cursor (corp_id changed while kefud was
	 * down) means nothing here. */
	if (W.corp_id == NULL || (size_t)(colon - p) != strlen(W.corp_id) ||
	    strncmp(p, W.corp_id, (size_t)(colon - p)) != 0) {
		log_warnx("wechat-kf: the stored position is another "
		          "organisation's: pulling afresh, passing over the "
		          "backlog");
		return;
	}
	W.first_pull = resume[tl] == 'F';
	W.cursor = xstrdup(colon + 1);
	log_info("wechat-kf: resuming after event %llu",
	    (unsigned long long)seq);
}

static void
wx_unload(void *settings)
{
	struct wx_conf *w = settings;
	int i, j;

	if (w == NULL)
		return;
	free(w->corp_id);
	free(w->shop_name);
	free(w->callback_path);
	for (i = 0; i < w->nopen_kfid; i++)
		free(w->open_kfid[i]);
	for (i = 0; i < w->nnotify; i++)
		free(w->notify[i]);
	for (i = 0; i < w->nroutes; i++) {
		free(w->route_queue[i]);
		for (j = 0; j < w->route_nagents[i]; j++)
			free(w->route_agents[i][j]);
	}
	free(w);
}

static void *
wx_load(struct conf_platform *p, const config_setting_t *g)
{
	struct wx_conf *w = xcalloc(1, sizeof(*w));
	const config_setting_t *routes, *r;
	const char *v, *colon;
	long long n;
	int i, bad = 0;

	if (conf_get_string(g, "corp_id", &v) == 1 && strlen(v) > 64) {
		conf_report(conf_member(g, "corp_id"), NULL,
		    "not a 企业ID: over 64 characters");
		bad = 1;
	} else if (conf_get_string(g, "corp_id", &v) != 1 || *v == '\0') {
		conf_report(g, "corp_id",
		    "missing required key (the 企业ID of the WeCom "
		    "organisation)");
		bad = 1;
	} else
		w->corp_id = xstrdup(v);
	if (conf_get_string(g, "shop_name", &v) == 1 && *v != '\0')
		w->shop_name = xstrdup(v);
	v = "/wechat-kf/callback";
	if (conf_get_string(g, "callback_path", &v) < 0 || *v != '/') {
		conf_report(conf_member(g, "callback_path"), NULL,
		    "must begin with /");
		bad = 1;
	}
	w->callback_path = xstrdup(v);
	if (p->listen == NULL)
		p->listen = xstrdup("127.0.0.1:17462");
	else if ((colon = strrchr(p->listen, ':')) == NULL ||
	    atoi(colon + 1) < 1 || atoi(colon + 1) > 65535) {
		conf_report(conf_member(g, "listen"), NULL,
		    "expected host:port, such as 127.0.0.1:17462");
		bad = 1;
	} else if (strncmp(p->listen, "127.", 4) != 0 &&
	    strncmp(p->listen, "[::1]:", 6) != 0 &&
	    strncmp(p->listen, "localhost:", 10) != 0)
		conf_warn(conf_member(g, "listen"), NULL,
		    "not a loopback address: callbacks should come through "
		    "the shop's nginx (HTTPS, the filed domain), not "
		    "straight from the network");
	n = 0;
	if (conf_get_int(g, "agent_id", &n) < 0 || n < 0 || n > 2147483647) {
		conf_report(conf_member(g, "agent_id"), NULL,
		    "expected the AgentId, a number");
		bad = 1;
	}
	w->agent_id = (int)n;
	n = 8;
	if (conf_get_int(g, "context_lines", &n) < 0 || n < 0 || n > 50) {
		conf_report(conf_member(g, "context_lines"), NULL,
		    "expected 0 to 50");
		bad = 1;
	}
	w->context_lines = (int)n;
	if (conf_get_ids(g, "open_kfid", w->open_kfid, WX_LIST_MAX,
	        &w->nopen_kfid) < 0 ||
	    conf_get_ids(g, "notify", w->notify, WX_LIST_MAX, &w->nnotify) < 0)
		bad = 1;
	if ((routes = conf_member(g, "routes")) != NULL &&
	    !config_setting_is_group(routes)) {
		conf_report(routes, NULL,
		    "expected a group: queue = [\"agent userid\", ...];");
		bad = 1;
		routes = NULL;
	}
	for (i = 0; (r = conf_elem(routes, i)) != NULL; i++) {
		if (i == WX_LIST_MAX) {
			conf_report(r, NULL, "more than %d routes",
			    WX_LIST_MAX);
			bad = 1;
			break;
		}
		if (conf_get_ids(r, NULL, w->route_agents[i], WX_LIST_MAX,
		        &w->route_nagents[i]) != 1) {
			bad = 1;
			break;
		}
		w->route_queue[i] = xstrdup(config_setting_name(r));
		w->nroutes = i + 1;
	}
	if ((w->nnotify > 0 || w->nroutes > 0) && w->agent_id == 0)
		conf_warn(g, "agent_id",
		    "not set: agents get no context with a handoff (the "
		    "AgentId of the self-built app sends it)");
	if (bad) {
		wx_unload(w);
		return NULL;
	}
	return w;
}

static const char *const wx_keys[] = {"corp_id", "shop_name", "callback_path",
    "agent_id", "context_lines", "open_kfid", "notify", "routes", NULL};

const struct platform_driver platform_wechat_kf = {
    .kind = "wechat-kf",
    .scheme = "https",
    .default_url = "https://qyapi.weixin.qq.com",
    .keys = wx_keys,
    .load = wx_load,
    .unload = wx_unload,
    .token_ok = wx_token_ok,
    .configure = wx_configure,
    .stop = wx_stop,
    .send = wx_act_send,
    .ack = wx_ack,
    .settled = wx_settled,
    .ready = wx_ready,
    .result_wait_ms = wx_result_wait_ms,
    .hold = wx_hold,
    .state_name = wx_state_name,
    .shop_name = wx_shop_name,
    .resume_point = wx_resume_point,
    .restore = wx_restore,
    .http = wx_http,
};
