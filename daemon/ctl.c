/*
 * The control socket kefuctl talks to, and the optional loopback metrics
 * endpoint.  Both are descriptors watched by the event loop: a request is
 * one line ("status", "show c-1"), the answer one JSON object, then the
 * connection closes.  Requests run on the loop thread between events, so
 * a reload from kefuctl is exactly a SIGHUP, and synchronous.
 */
#define _GNU_SOURCE /* accept4 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "calendar.h"
#include "clock.h"
#include "conf.h"
#include "conv.h"
#include "ctl.h"
#include "platform.h"
#include "log.h"
#include "loop.h"
#include "metrics.h"
#include "plugin.h"
#include "questions.h"
#include "reload.h"
#include "store.h"
#include "version.h"
#include "xmalloc.h"

#define CTL_REQUEST_MAX 4096
#define CTL_HTTP_MAX (128 * 1024) /* a platform callback, with its body */
#define CTL_WRITE_WAIT_MS 2000
#define CTL_CLIENT_MS 5000 /* a client says what it wants within this */
#define CTL_CLIENTS_MAX 32 /* open at once, per listener */

/*
 * The listeners: kefuctl's control socket, which may do anything; the
 * view socket, for people who may look but not act (its own file, so
 * its own group: docs/operations.md); the metrics endpoint.
 */
enum ctl_kind { CTL_ADMIN, CTL_VIEW, CTL_METRICS, CTL_PLATFORM, CTL_KINDS };

struct ctl_client {
	size_t n, cap;
	enum ctl_kind kind;
	int fd;
	struct loop_timer deadline;
	char buf[]; /* cap bytes */
};

/* Clients open now, per listener. */
static int ctl_clients[CTL_KINDS];
static const enum ctl_kind ctl_kinds[CTL_KINDS] = {CTL_ADMIN, CTL_VIEW,
    CTL_METRICS, CTL_PLATFORM};
static const char *const ctl_kind_names[CTL_KINDS] = {"control socket",
    "read-only socket", "metrics", "platform callbacks"};
/* A descriptor held in reserve: given up for a moment to accept (and
 * close) a connection when the process is out of them, so that a full
 * table never leaves the listening socket readable for ever. */
static int ctl_spare = -1;

static void (*ctl_reload)(void);
static char *ctl_path, *ctl_view_path;
static int64_t ctl_started_ms;

/* Lines worth showing from a reload kefuctl asked for. */
static cJSON *ctl_lines;

static void
ctl_tap(int pri, const char *line)
{
	if (ctl_lines != NULL && pri <= LOG_PRI_WARNING &&
	    cJSON_GetArraySize(ctl_lines) < 100)
		cJSON_AddItemToArray(ctl_lines, cJSON_CreateString(line));
}

static cJSON *ctl_error(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

static cJSON *
ctl_error(const char *fmt, ...)
{
	cJSON *o = cJSON_CreateObject();
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	cJSON_AddBoolToObject(o, "ok", 0);
	cJSON_AddStringToObject(o, "error", msg);
	return o;
}

/* Every answer carries the shop's time zone: kefuctl prints times in it,
 * not in the server's (often UTC on a cloud image). */
static cJSON *
ctl_ok(void)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddBoolToObject(o, "ok", 1);
	cJSON_AddStringToObject(o, "timezone", calendar_timezone());
	return o;
}

static void
ctl_owners(cJSON *o)
{
	cJSON *c = cJSON_AddObjectToObject(o, "conversations");
	int i;

	for (i = CONV_BOT; i <= CONV_CLOSED; i++)
		cJSON_AddNumberToObject(c, conv_owner_name((enum conv_owner)i),
		    conv_count_owner((enum conv_owner)i));
}

static void
ctl_generation(cJSON *o)
{
	const struct gen *g = reload_live();
	cJSON *ps, *p;
	int i;

	cJSON_AddStringToObject(o, "configuration", g->conf->path);
	cJSON_AddNumberToObject(o, "generation", g->id);
	ps = cJSON_AddArrayToObject(o, "plugins");
	for (i = 0; i < g->nplugins; i++) {
		p = cJSON_CreateObject();
		cJSON_AddStringToObject(p, "name", g->plugins[i].desc->name);
		cJSON_AddStringToObject(p, "version",
		    g->plugins[i].desc->version);
		cJSON_AddItemToArray(ps, p);
	}
}

static cJSON *
ctl_status(void)
{
	const struct reload_status *r = reload_last();
	cJSON *o = ctl_ok(), *l;

	cJSON_AddStringToObject(o, "version", KEFU_VERSION);
	cJSON_AddNumberToObject(o, "pid", getpid());
	cJSON_AddNumberToObject(o, "uptime_s",
	    (double)(clock_mono_ms() - ctl_started_ms) / 1000);
	cJSON_AddStringToObject(o, "link", platform_state_name());
	cJSON_AddStringToObject(o, "shop", platform_shop_name());
	ctl_generation(o);
	l = cJSON_AddObjectToObject(o, "last_reload");
	if (r->at_ms != 0) {
		cJSON_AddNumberToObject(l, "at_ms", (double)r->at_ms);
		cJSON_AddBoolToObject(l, "ok", r->ok);
		if (!r->ok)
			cJSON_AddStringToObject(l, "error", r->error);
	}
	ctl_owners(o);
	cJSON_AddBoolToObject(o, "store_ok", store_ok());
	return o;
}

static cJSON *
ctl_do_reload(void)
{
	const struct reload_status *r;
	cJSON *o, *lines = cJSON_CreateArray();

	ctl_lines = lines;
	log_set_tap(ctl_tap);
	ctl_reload();
	log_set_tap(NULL);
	ctl_lines = NULL;
	r = reload_last();
	if (r->ok) {
		o = ctl_ok();
		ctl_generation(o);
	} else
		o = ctl_error("%s", r->error);
	cJSON_AddItemToObject(o, "messages", lines);
	return o;
}

struct ctl_list {
	cJSON *arr;
	int owner; /* -1: all */
};

static void
ctl_list_one(struct conv *c, void *arg)
{
	struct ctl_list *l = arg;
	cJSON *o;

	if (l->owner >= 0 && (int)c->owner != l->owner)
		return;
	o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "id", c->id);
	cJSON_AddStringToObject(o, "owner", conv_owner_name(c->owner));
	if (c->customer_id != NULL)
		cJSON_AddStringToObject(o, "customer", c->customer_id);
	cJSON_AddNumberToObject(o, "last_ms", (double)c->last_ms);
	cJSON_AddNumberToObject(o, "waiting_since", (double)c->waiting_since);
	cJSON_AddNumberToObject(o, "lines", c->lines);
	cJSON_AddItemToArray(l->arr, o);
}

static cJSON *
ctl_conversations(const char *owner)
{
	struct ctl_list l = {NULL, -1};
	cJSON *o;

	if (owner != NULL && (l.owner = conv_owner_parse(owner)) < 0)
		return ctl_error(
		    "unknown owner \"%s\": use bot, waiting, agent or closed",
		    owner);
	o = ctl_ok();
	l.arr = cJSON_AddArrayToObject(o, "conversations");
	conv_foreach(ctl_list_one, &l);
	return o;
}

static struct conv *
ctl_find(const char *id)
{
	struct conv *c = conv_get(id, 0);

	return c != NULL ? c : store_load_conv(id);
}

static cJSON *
ctl_show(const char *id)
{
	const struct conv_line *line;
	struct conv *c;
	cJSON *o, *a, *l;
	unsigned i;

	if (id == NULL)
		return ctl_error("show needs a conversation id");
	if ((c = ctl_find(id)) == NULL)
		return ctl_error("no conversation \"%s\"", id);
	o = ctl_ok();
	cJSON_AddStringToObject(o, "id", c->id);
	cJSON_AddStringToObject(o, "owner", conv_owner_name(c->owner));
	if (c->customer_id != NULL)
		cJSON_AddStringToObject(o, "customer", c->customer_id);
	if (c->customer_name != NULL)
		cJSON_AddStringToObject(o, "customer_name", c->customer_name);
	cJSON_AddBoolToObject(o, "vip", c->vip);
	if (c->product != NULL)
		cJSON_AddStringToObject(o, "product", c->product);
	cJSON_AddNumberToObject(o, "waiting_since", (double)c->waiting_since);
	cJSON_AddNumberToObject(o, "bot_turns", c->bot_turns);
	a = cJSON_AddArrayToObject(o, "intents");
	for (i = 0; i < c->intents.n; i++)
		cJSON_AddItemToArray(a, cJSON_CreateString(c->intents.keys[i]));
	a = cJSON_AddObjectToObject(o, "entities");
	for (i = 0; i < c->entities.n; i++)
		cJSON_AddStringToObject(a, c->entities.keys[i],
		    c->entities.vals[i]);
	a = cJSON_AddArrayToObject(o, "transcript");
	for (i = 0; (line = conv_line(c, i)) != NULL; i++) {
		l = cJSON_CreateObject();
		cJSON_AddStringToObject(l, "from",
		    line->from == 'c'       ? "customer"
		        : line->from == 'b' ? "bot"
		                            : "agent");
		cJSON_AddStringToObject(l, "text", line->text);
		cJSON_AddNumberToObject(l, "ts", (double)line->ts);
		cJSON_AddItemToArray(a, l);
	}
	return o;
}

/* A conversation stuck with an agent (or waiting) goes back to the bot,
 * as if the platform had sent handoff_ended. */
static cJSON *
ctl_handback(const char *id)
{
	struct kefu_event ev = {.type = KEFU_EV_HANDOFF_ENDED, .by = "kefuctl"};
	enum conv_owner was;
	struct conv *c;
	cJSON *o;

	if (id == NULL)
		return ctl_error("handback needs a conversation id");
	if ((c = ctl_find(id)) == NULL)
		return ctl_error("no conversation \"%s\"", id);
	if (c->owner != CONV_AGENT && c->owner != CONV_WAITING)
		return ctl_error("conversation %s is %s, not with an agent", id,
		    conv_owner_name(c->owner));
	was = c->owner;
	ev.conversation = c->id;
	conv_apply(c, &ev, clock_wall_ms());
	store_soon();
	log_info("conversation %s: handed back to the bot by kefuctl", id);
	o = ctl_ok();
	cJSON_AddStringToObject(o, "was", conv_owner_name(was));
	cJSON_AddStringToObject(o, "owner", conv_owner_name(c->owner));
	return o;
}

/* The counters, and what each plugin says of itself (faq: its cut-offs
 * and how they were set), as "plugin.NAME.KEY". */
static cJSON *
ctl_stats(void)
{
	cJSON *o = metrics_json(), *all = NULL, *one;
	const struct gen *g = reload_live();
	size_t k;
	int i;

	for (i = 0; g != NULL && i < g->nplugins; i++) {
		const struct plugin *p = &g->plugins[i];

		if (p->info.n == 0)
			continue;
		if (all == NULL)
			all = cJSON_AddObjectToObject(o, "plugin");
		one = cJSON_AddObjectToObject(all, p->name);
		for (k = 0; k < p->info.n; k++)
			cJSON_AddStringToObject(one, p->info.keys[k],
			    p->info.vals[k]);
	}
	cJSON_AddBoolToObject(o, "ok", 1);
	return o;
}

/* What the bot could not answer in the last days, grouped. */
static cJSON *
ctl_unanswered(int days)
{
	cJSON *o, *q;
	cJSON *m;

	if (days < 1)
		return ctl_error("unanswered: days must be 1 or more");
	q = questions_json(clock_wall_ms() - (int64_t)days * 86400000, 100);
	if (q == NULL)
		return ctl_error("the store is not open: nothing kept");
	o = ctl_ok();
	while ((m = q->child) != NULL) {
		cJSON_DetachItemViaPointer(q, m);
		cJSON_AddItemToObject(o, m->string, m);
	}
	cJSON_Delete(q);
	return o;
}

/* Conversations idle over some days, and their transcripts, deleted now
 * rather than at keep_days. */
static cJSON *
ctl_purge(const char *arg)
{
	char *end = NULL;
	long days = arg != NULL ? strtol(arg, &end, 10) : 0, n;
	cJSON *o;

	if (end == NULL || *end != '\0' || days < 1 || days > 3650)
		return ctl_error("purge: days must be 1 to 3650");
	if ((n = store_purge((int)days)) < 0)
		return ctl_error("the store is not open: nothing to purge");
	log_emit(LOG_PRI_NOTICE,
	    "kefuctl purge: deleting %ld conversations idle over %ld "
	    "days, with their transcripts",
	    n, days);
	o = ctl_ok();
	cJSON_AddNumberToObject(o, "conversations", (double)n);
	cJSON_AddBoolToObject(o, "more", n >= STORE_PURGE_COUNT_MAX);
	cJSON_AddNumberToObject(o, "days", (double)days);
	return o;
}

/* The log level now, or a new one until the next reload (which takes the
 * configuration's again), as unbound-control verbosity does. */
static cJSON *
ctl_log_level(const char *level)
{
	cJSON *o;
	int l;

	if (level != NULL) {
		if ((l = log_level_parse(level)) < 0)
			return ctl_error(
			    "log-level: unknown level \"%s\": use "
			    "error, warning, notice, info or debug",
			    level);
		log_set_level(l); /* then said, at the new level */
		log_emit(LOG_PRI_NOTICE,
		    "kefuctl: log level %s until the next reload", level);
	}
	o = ctl_ok();
	cJSON_AddStringToObject(o, "log_level", log_level_name(log_level()));
	return o;
}

static cJSON *
ctl_handle(char *line, enum ctl_kind kind)
{
	/* What the read-only socket answers: a new request is an action
	 * until it is added here. */
	static const char *const looks[] = {"status", "stats", "conversations",
	    "show", "unanswered", NULL};
	char *argv[4], *save = NULL, *w;
	int argc = 0, i;

	for (w = strtok_r(line, " \t\r\n", &save); w != NULL && argc < 4;
	     w = strtok_r(NULL, " \t\r\n", &save))
		argv[argc++] = w;
	if (argc == 0)
		return ctl_error("empty request");
	for (i = 0; looks[i] != NULL && strcmp(argv[0], looks[i]) != 0; i++)
		;
	if (kind == CTL_VIEW && looks[i] == NULL &&
	    !(strcmp(argv[0], "log-level") == 0 && argc == 1))
		return ctl_error("%s: not allowed on the read-only socket; ask "
		                 "someone in the service's group",
		    argv[0]);
	if (strcmp(argv[0], "status") == 0)
		return ctl_status();
	if (strcmp(argv[0], "reload") == 0)
		return ctl_do_reload();
	if (strcmp(argv[0], "purge") == 0)
		return ctl_purge(argc > 1 ? argv[1] : NULL);
	if (strcmp(argv[0], "log-level") == 0)
		return ctl_log_level(argc > 1 ? argv[1] : NULL);
	if (strcmp(argv[0], "stats") == 0)
		return ctl_stats();
	if (strcmp(argv[0], "conversations") == 0)
		return ctl_conversations(argc > 1 ? argv[1] : NULL);
	if (strcmp(argv[0], "show") == 0)
		return ctl_show(argc > 1 ? argv[1] : NULL);
	if (strcmp(argv[0], "handback") == 0)
		return ctl_handback(argc > 1 ? argv[1] : NULL);
	if (strcmp(argv[0], "unanswered") == 0)
		return ctl_unanswered(argc > 1 ? atoi(argv[1]) : 30);
	return ctl_error("unknown request \"%s\"", argv[0]);
}

/* The whole answer, waiting a little for a slow reader. */
static void
ctl_write(int fd, const char *s, size_t n)
{
	struct pollfd p = {.fd = fd, .events = POLLOUT};
	ssize_t w;

	while (n > 0) {
		if ((w = write(fd, s, n)) > 0) {
			s += w;
			n -= (size_t)w;
		} else if (w < 0 && errno == EAGAIN &&
		    poll(&p, 1, CTL_WRITE_WAIT_MS) > 0)
			continue;
		else
			return;
	}
}

static void
ctl_client_free(struct ctl_client *cl)
{
	loop_timer_cancel(&cl->deadline);
	ctl_clients[cl->kind]--;
	free(cl);
}

/* Too slow to ask: shut the connection, so that its read sees the end
 * and the loop closes it. */
static void
ctl_client_late(void *arg)
{
	struct ctl_client *cl = arg;

	shutdown(cl->fd, SHUT_RDWR);
}

/*
 * An HTTP request, whole (head, and the body its Content-Length gives):
 * 1, with the body in *body; 0 while more is to come; -1 when it is not
 * one this endpoint can take.
 */
static int
ctl_http_whole(struct ctl_client *cl, const char **body, size_t *len)
{
	char *end = strstr(cl->buf, "\r\n\r\n"), *cl_hdr;
	unsigned long long want = 0;
	size_t head;

	if (end == NULL)
		return cl->n < cl->cap - 1 ? 0 : -1;
	head = (size_t)(end - cl->buf) + 4;
	*end = '\0'; /* headers end here: searched as one string */
	cl_hdr = strcasestr(cl->buf, "\r\ncontent-length:");
	if (cl_hdr != NULL)
		want = strtoull(cl_hdr + 17, NULL, 10);
	*end = '\r';
	if (want > cl->cap - 1 - head)
		return -1;
	if (cl->n - head < want)
		return 0;
	cl->buf[head - 4] = '\0';
	*body = cl->buf + head;
	*len = (size_t)want;
	cl->buf[head + want] = '\0';
	return 1;
}

static const char *
ctl_status_text(int status)
{
	switch (status) {
	case 200:
		return "OK";
	case 400:
		return "Bad Request";
	case 403:
		return "Forbidden";
	case 404:
		return "Not Found";
	case 413:
		return "Payload Too Large";
	default:
		return "Service Unavailable";
	}
}

/* The answer of an HTTP endpoint, then the connection closes. */
static void
ctl_http_answer(int fd, int status, const char *ctype, const char *text)
{
	char head[256];
	size_t n = text != NULL ? strlen(text) : 0;

	snprintf(head, sizeof(head),
	    "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
	    "Connection: close\r\n\r\n",
	    status, ctl_status_text(status), ctype, n);
	ctl_write(fd, head, strlen(head));
	ctl_write(fd, text, n);
}

/* GET /metrics, or a request for the platform driver. */
static void
ctl_http(struct ctl_client *cl, const char *body, size_t len)
{
	char method[16], target[2048], *text = NULL;
	const char *ctype = "text/plain; charset=utf-8";
	int status;

	if (sscanf(cl->buf, "%15s %2047s", method, target) != 2) {
		ctl_http_answer(cl->fd, 400, ctype, "bad request\r\n");
		return;
	}
	if (cl->kind == CTL_PLATFORM) {
		status =
		    platform_http(method, target, body, len, &text, &ctype);
		ctl_http_answer(cl->fd, status, ctype, text);
		free(text);
	} else if (strcmp(method, "GET") == 0 &&
	    (strcmp(target, "/metrics") == 0 ||
	        strncmp(target, "/metrics?", 9) == 0)) {
		text = metrics_prometheus();
		ctl_http_answer(cl->fd, 200,
		    "text/plain; version=0.0.4; charset=utf-8", text);
		free(text);
	} else
		ctl_http_answer(cl->fd, 404, ctype, "/metrics\r\n");
}

static int
ctl_client_read(int fd, void *arg)
{
	struct ctl_client *cl = arg;
	const char *body = NULL;
	size_t blen = 0;
	char *end, *text;
	cJSON *o;
	ssize_t r;
	int http = cl->kind == CTL_METRICS || cl->kind == CTL_PLATFORM, w;

	if (fd < 0) { /* the loop closed it */
		ctl_client_free(cl);
		return -1;
	}
	r = read(fd, cl->buf + cl->n, cl->cap - 1 - cl->n);
	if (r <= 0) {
		if (r < 0 && errno == EAGAIN)
			return 0;
		ctl_client_free(cl);
		return -1;
	}
	cl->n += (size_t)r;
	cl->buf[cl->n] = '\0';
	if (http) {
		if ((w = ctl_http_whole(cl, &body, &blen)) == 0)
			return 0;
		if (w < 0)
			ctl_http_answer(fd, 413, "text/plain; charset=utf-8",
			    "request too large\r\n");
		else
			ctl_http(cl, body, blen);
		ctl_client_free(cl);
		return -1;
	}
	if ((end = strchr(cl->buf, '\n')) == NULL) {
		if (cl->n < cl->cap - 1)
			return 0;
		ctl_client_free(cl);
		return -1; /* too long: not ours */
	}
	*end = '\0';
	o = ctl_handle(cl->buf, cl->kind);
	if ((text = cJSON_PrintUnformatted(o)) == NULL)
		fatalx("out of memory answering kefuctl");
	ctl_write(fd, text, strlen(text));
	ctl_write(fd, "\n", 1);
	free(text);
	cJSON_Delete(o);
	ctl_client_free(cl);
	return -1;
}

static int
ctl_accept(int fd, void *arg)
{
	static int64_t warned_ms;
	struct ctl_client *cl;
	enum ctl_kind kind = *(const enum ctl_kind *)arg;
	size_t cap;
	int c;

	if (fd < 0)
		return -1;
	if ((c = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) < 0) {
		if ((errno == EMFILE || errno == ENFILE) && ctl_spare >= 0) {
			/* Out of descriptors: take the connection off the
			 * queue with the spare one and close it. */
			close(ctl_spare);
			if ((c = accept4(fd, NULL, NULL, SOCK_CLOEXEC)) >= 0)
				close(c);
			ctl_spare = open("/dev/null", O_RDONLY | O_CLOEXEC);
			if (clock_mono_ms() - warned_ms > 60000) {
				warned_ms = clock_mono_ms();
				log_warnx("%s: out of file descriptors; "
				          "connections refused",
				    ctl_kind_names[kind]);
			}
		}
		return 0;
	}
	if (ctl_clients[kind] >= CTL_CLIENTS_MAX) {
		close(c); /* busy: the client may try again */
		return 0;
	}
	cap = kind == CTL_PLATFORM ? CTL_HTTP_MAX : CTL_REQUEST_MAX;
	cl = xcalloc(1, sizeof(*cl) + cap);
	cl->cap = cap;
	cl->kind = kind;
	cl->fd = c;
	if (loop_watch(c, ctl_client_read, cl) < 0) {
		free(cl);
		close(c);
		return 0;
	}
	ctl_clients[kind]++;
	loop_timer_set(&cl->deadline, CTL_CLIENT_MS, ctl_client_late, cl);
	return 0;
}

static int
ctl_unix(const char *path, enum ctl_kind kind)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	struct stat st;
	mode_t old;
	int fd;

	if (strlen(path) >= sizeof(sun.sun_path)) {
		log_warnx("control socket %s: path too long", path);
		return -1;
	}
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	/* A socket left by a kefud that died; anything else stays. */
	if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
		unlink(path);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	         0)) < 0) {
		log_warn("control socket");
		return -1;
	}
	/* 0660: the group that owns the directory may use it (the
	 * service's for the control socket; a setgid directory of another
	 * group for the view socket). */
	old = umask(0117);
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		umask(old);
		log_warn("control socket %s", path);
		close(fd);
		return -1;
	}
	umask(old);
	if (listen(fd, 16) < 0 ||
	    loop_watch(fd, ctl_accept, (void *)&ctl_kinds[kind]) < 0) {
		log_warn("control socket %s", path);
		close(fd);
		unlink(path);
		return -1;
	}
	return 0;
}

static int
ctl_tcp(const char *where, enum ctl_kind kind)
{
	const char *what = ctl_kind_names[kind];
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai;
	char host[256];
	const char *colon = strrchr(where, ':');
	int fd, one = 1, e;

	snprintf(host, sizeof(host), "%.*s", (int)(colon - where), where);
	if (host[0] == '[') { /* [::1] */
		memmove(host, host + 1, strlen(host));
		host[strlen(host) - 1] = '\0';
	}
	if ((e = getaddrinfo(host, colon + 1, &hints, &ai)) != 0) {
		log_warnx("%s: %s: %s", what, where, gai_strerror(e));
		return -1;
	}
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0);
	if (fd < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 16) < 0 ||
	    loop_watch(fd, ctl_accept, (void *)&ctl_kinds[kind]) < 0) {
		log_warn("%s: %s", what, where);
		if (fd >= 0)
			close(fd);
		freeaddrinfo(ai);
		return -1;
	}
	freeaddrinfo(ai);
	if (kind == CTL_METRICS)
		log_info("metrics: http://%s/metrics", where);
	else
		log_info("%s: http://%s", what, where);
	return 0;
}

int
ctl_start(const struct conf *c, void (*reload)(void))
{
	const char *rt = getenv("RUNTIME_DIRECTORY");
	char path[4096];

	ctl_reload = reload;
	ctl_started_ms = clock_mono_ms();
	if (ctl_spare < 0)
		ctl_spare = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (c->control_socket != NULL)
		snprintf(path, sizeof(path), "%s", c->control_socket);
	else if (rt != NULL && *rt != '\0')
		/* systemd's RuntimeDirectory= (the first, if several) */
		snprintf(path, sizeof(path), "%.*s/kefud.sock",
		    (int)strcspn(rt, ":"), rt);
	else
		path[0] = '\0';
	if (path[0] == '\0')
		log_info("no control socket: set control_socket for kefuctl");
	else if (ctl_unix(path, CTL_ADMIN) < 0)
		/* Customers come first: kefud serves without kefuctl. */
		log_warnx("kefuctl will not reach this kefud");
	else {
		ctl_path = xstrdup(path);
		log_info("control socket: %s", ctl_path);
	}
	if (c->view_socket == NULL)
		;
	else if (ctl_unix(c->view_socket, CTL_VIEW) < 0)
		log_warnx("no read-only socket");
	else {
		ctl_view_path = xstrdup(c->view_socket);
		log_info("read-only socket: %s", ctl_view_path);
	}
	if (c->metrics_listen != NULL &&
	    ctl_tcp(c->metrics_listen, CTL_METRICS) < 0)
		log_warnx("no metrics endpoint");
	/* The platform's callbacks: without them it would never say that
	 * messages wait, so kefud does not start. */
	if (c->platform.present && c->platform.listen != NULL &&
	    ctl_tcp(c->platform.listen, CTL_PLATFORM) < 0) {
		log_emit(LOG_PRI_ERR,
		    "cannot listen for the platform's callbacks on %s",
		    c->platform.listen);
		return -1;
	}
	return 0;
}

void
ctl_stop(void)
{
	if (ctl_path != NULL)
		unlink(ctl_path);
	free(ctl_path);
	ctl_path = NULL;
	if (ctl_view_path != NULL)
		unlink(ctl_view_path);
	free(ctl_view_path);
	ctl_view_path = NULL;
	if (ctl_spare >= 0)
		close(ctl_spare);
	ctl_spare = -1;
}
