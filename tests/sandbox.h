/*
 * Driving the sandbox platform (tests/sandbox/sandbox.py) and kefud from a
 * test: real processes, real TLS with certificates made for the test, real
 * sockets on 127.0.0.1.
 */
#ifndef KEFU_TEST_SANDBOX_H
#define KEFU_TEST_SANDBOX_H

#include "harness.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>

struct sb {
	char *dir, *certs, *token, *ctl, *actions, *sblog, *klog, *conf;
	int port;
	pid_t sandbox, kefud;
};

static inline void
sb_init(struct sb *s)
{
	char *cmd;

	memset(s, 0, sizeof(*s));
	s->dir = h_tmpdir();
	s->certs = h_path(s->dir, "certs");
	cr_assert(asprintf(&cmd, "%s/tests/sandbox/mkcerts.sh %s", KEFU_SRC,
	              s->certs) > 0);
	cr_assert(system(cmd) == 0, "mkcerts failed");
	free(cmd);
	s->token = h_write(s->dir, "token", "test-token-%d\n", (int)getpid());
	cr_assert(chmod(s->token, 0600) == 0);
	s->ctl = h_path(s->dir, "ctl");
	s->actions = h_path(s->dir, "actions.jsonl");
	s->sblog = h_path(s->dir, "sandbox.log");
	s->klog = h_path(s->dir, "kefud.log");
	s->port = h_free_port();
}

/* cert: "server" (our CA) or "other-server" (another CA). */
static inline void
sb_start_sandbox_on(struct sb *s, const char *host, const char *cert,
    int heartbeat_ms)
{
	char *py = KEFU_SRC "/tests/sandbox/sandbox.py", port[16], hb[16];
	char *pem, *key;

	cr_assert(asprintf(&pem, "%s/%s.pem", s->certs, cert) > 0);
	cr_assert(asprintf(&key, "%s/%s.key", s->certs, cert) > 0);
	snprintf(port, sizeof(port), "%d", s->port);
	snprintf(hb, sizeof(hb), "%d", heartbeat_ms);
	char *argv[] = {"/usr/bin/python3", py, "--host", (char *)host,
	    "--port", port, "--cert", pem, "--key", key, "--token-file",
	    s->token, "--control", s->ctl, "--action-log", s->actions,
	    "--heartbeat-ms", hb, NULL};
	s->sandbox = h_spawn(argv, s->sblog);
	h_wait_log(s->sblog, "sandbox: listening", 0);
	free(pem);
	free(key);
}

static inline void
sb_start_sandbox(struct sb *s, const char *cert, int heartbeat_ms)
{
	sb_start_sandbox_on(s, "127.0.0.1", cert, heartbeat_ms);
}

/* Writes the configuration; extra goes at its end (plugin sections). */
static inline void
sb_config_host(struct sb *s, const char *host, const char *token_file,
    const char *extra)
{
	free(s->conf);
	s->conf = h_write(s->dir, "kefud.conf",
	    "log_level = \"debug\";\n"
	    "state_dir = \"state\";\n"
	    "plugin_dir = \"%s/tests/plugins\";\n"
	    "plugins = [\"good\"];\n"
	    "good = { reply = \"收到\"; };\n"
	    "platform = {\n"
	    "  url = \"wss://%s:%d/bot\";\n"
	    "  ca_file = \"certs/ca.pem\";\n"
	    "  token_file = \"%s\";\n"
	    "};\n%s",
	    KEFU_BUILD, host, s->port, token_file, extra);
}

static inline void
sb_config(struct sb *s, const char *token_file, const char *extra)
{
	sb_config_host(s, "localhost", token_file, extra);
}

static inline void
sb_start_kefud(struct sb *s)
{
	char *kefud = h_build("kefud");
	char *argv[] = {kefud, "-c", s->conf, NULL};

	s->kefud = h_spawn(argv, s->klog);
	free(kefud);
}

/* The token is a secret: not in any log line, at any level. */
static inline void
sb_expect_no_token(struct sb *s)
{
	char *tok = h_read(s->token), *log = h_read(s->klog);

	tok[strcspn(tok, "\n")] = '\0';
	cr_expect(*tok == '\0' || strstr(log, tok) == NULL,
	    "the token reached the log");
	free(tok);
	free(log);
}

static inline void
sb_stop(struct sb *s)
{
	if (s->kefud > 0) {
		kill(s->kefud, SIGTERM);
		cr_expect_eq(h_wait_exit(s->kefud), 0,
		    "kefud did not stop cleanly");
	}
	if (s->sandbox > 0) {
		kill(s->sandbox, SIGTERM);
		h_wait_exit(s->sandbox);
	}
	h_expect_clean_log(s->klog);
	sb_expect_no_token(s);
	h_rmrf(s->dir);
	free(s->dir);
	free(s->certs);
	free(s->token);
	free(s->ctl);
	free(s->actions);
	free(s->sblog);
	free(s->klog);
	free(s->conf);
}

/* One control command; returns the parsed answer (cJSON_Delete it). */
static inline cJSON *
sb_ctl(struct sb *s, const char *json)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	char buf[65536];
	size_t n = 0;
	ssize_t r;
	cJSON *res;
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", s->ctl);
	cr_assert(connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0,
	    "control socket: %s", strerror(errno));
	cr_assert(write(fd, json, strlen(json)) == (ssize_t)strlen(json));
	cr_assert(write(fd, "\n", 1) == 1);
	while (n < sizeof(buf) - 1 &&
	    (r = read(fd, buf + n, sizeof(buf) - 1 - n)) > 0) {
		n += r;
		if (buf[n - 1] == '\n')
			break;
	}
	close(fd);
	buf[n] = '\0';
	res = cJSON_Parse(buf);
	cr_assert_not_null(res, "bad control answer: %s", buf);
	cr_assert(cJSON_IsTrue(cJSON_GetObjectItem(res, "ok")),
	    "control %s: %s", json, buf);
	return res;
}

static inline void
sb_do(struct sb *s, const char *json)
{
	cJSON_Delete(sb_ctl(s, json));
}

/* A customer message; returns its message id (free it). */
static inline char *
sb_say(struct sb *s, const char *conv, const char *text)
{
	char *cmd, *id;
	cJSON *res;

	cr_assert(
	    asprintf(&cmd,
	        "{\"cmd\":\"message\",\"conversation\":\"%s\",\"text\":\"%s\"}",
	        conv, text) > 0);
	res = sb_ctl(s, cmd);
	id = strdup(cJSON_GetObjectItem(res, "message_id")->valuestring);
	cJSON_Delete(res);
	free(cmd);
	return id;
}

static inline double
sb_state_num(struct sb *s, const char *key)
{
	cJSON *res = sb_ctl(s, "{\"cmd\":\"state\"}"), *v;
	double d;

	v = cJSON_GetObjectItem(res, key);
	if (v == NULL)
		v = cJSON_GetObjectItem(cJSON_GetObjectItem(res, "stats"), key);
	d = v != NULL ? v->valuedouble : 0;
	cJSON_Delete(res);
	return d;
}

/* Replies the platform applied to one customer message. */
static inline int
sb_replies(struct sb *s, const char *msgid, char **text)
{
	char *all = h_read(s->actions), *line, *save = NULL;
	cJSON *a, *rt;
	int n = 0;

	for (line = strtok_r(all, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save)) {
		if ((a = cJSON_Parse(line)) == NULL)
			continue;
		rt = cJSON_GetObjectItem(a, "reply_to");
		if (cJSON_IsString(rt) && strcmp(rt->valuestring, msgid) == 0) {
			n++;
			if (text != NULL) {
				free(*text);
				*text = strdup(cJSON_GetObjectItem(a, "text")
				                   ->valuestring);
			}
		}
		cJSON_Delete(a);
	}
	free(all);
	return n;
}

/* Actions applied whose id starts with prefix. */
static inline int
sb_count_ids(struct sb *s, const char *prefix)
{
	char *all = h_read(s->actions), *line, *save = NULL;
	cJSON *a, *id;
	int n = 0;

	for (line = strtok_r(all, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save)) {
		if ((a = cJSON_Parse(line)) == NULL)
			continue;
		id = cJSON_GetObjectItem(a, "id");
		if (cJSON_IsString(id) &&
		    strncmp(id->valuestring, prefix, strlen(prefix)) == 0)
			n++;
		cJSON_Delete(a);
	}
	free(all);
	return n;
}

static inline void
sb_wait_ids(struct sb *s, const char *prefix, int n)
{
	double end = h_now() + H_TIMEOUT_S;

	while (sb_count_ids(s, prefix) < n) {
		cr_assert(h_now() < end,
		    "fewer than %d actions %s* within %d s", n, prefix,
		    H_TIMEOUT_S);
		h_sleep_ms(20);
	}
}

/* The last action the platform applied with this op, or NULL. */
static inline cJSON *
sb_last_action(struct sb *s, const char *op)
{
	char *all = h_read(s->actions), *line, *save = NULL;
	cJSON *a, *last = NULL;

	for (line = strtok_r(all, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save)) {
		if ((a = cJSON_Parse(line)) == NULL)
			continue;
		if (strcmp(cJSON_GetObjectItem(a, "op")->valuestring, op) ==
		    0) {
			cJSON_Delete(last);
			last = a;
		} else
			cJSON_Delete(a);
	}
	free(all);
	return last;
}

/* Waits until kefud has acknowledged every event the platform sent. */
static inline void
sb_settle(struct sb *s)
{
	double end = h_now() + H_TIMEOUT_S;

	while (sb_state_num(s, "acked") < sb_state_num(s, "seq")) {
		cr_assert(h_now() < end, "events not acknowledged within %d s",
		    H_TIMEOUT_S);
		h_sleep_ms(20);
	}
}

/*
 * Waits until the platform has applied a reply to msgid and kefud has
 * acknowledged everything, then asserts there is exactly one reply.
 */
static inline void
sb_expect_one_reply(struct sb *s, const char *msgid)
{
	double end = h_now() + H_TIMEOUT_S;

	while (sb_replies(s, msgid, NULL) == 0 ||
	    sb_state_num(s, "acked") < sb_state_num(s, "seq")) {
		if (h_now() > end) {
			char *log = h_read(s->klog);

			cr_log_error("kefud log:\n%s", log);
			free(log);
			cr_assert_fail(
			    "no reply to %s acknowledged within %d s", msgid,
			    H_TIMEOUT_S);
		}
		h_sleep_ms(20);
	}
	cr_expect_eq(sb_replies(s, msgid, NULL), 1, "replies to %s", msgid);
}

/* s with the first from ... up to and including the next until replaced
 * by to (until NULL: from alone); frees s. */
static inline char *
sb_subst(char *s, const char *from, const char *until, const char *to)
{
	char *p = strstr(s, from), *q, *out;

	cr_assert_not_null(p, "no \"%s\" in the shipped kefud.conf", from);
	q = until != NULL ? strstr(p, until) + strlen(until) : p + strlen(from);
	cr_assert(asprintf(&out, "%.*s%s%s", (int)(p - s), s, to, q) > 0);
	free(s);
	return out;
}

/*
 * Starts the sandbox and writes the shipped kefud.conf and its files in
 * the test's directory, with every day on duty (whether an agent is there
 * is the sandbox's say), the sandbox as platform, retry (NULL: as
 * shipped) as the no_agents retry setting, and extra root settings.
 */
static inline void
sb_config_shipped(struct sb *s, const char *retry, const char *extra)
{
	static const char *const files[] = {"faq.conf", "synonyms.conf",
	    "escalate.conf", "holidays-cn.conf", "lang/profanity-zh.txt",
	    "lang/synonyms.conf", "lang/escalate.conf", "lang/stopwords-zh.txt",
	    NULL};
	char *conf, *text, path[4096];
	int i;

	sb_start_sandbox(s, "server", 15000);
	snprintf(path, sizeof(path), "%s/lang", s->dir);
	cr_assert_eq(mkdir(path, 0755), 0);
	for (i = 0; files[i] != NULL; i++) {
		snprintf(path, sizeof(path), "%s/etc/kefu/%s", KEFU_SRC,
		    files[i]);
		text = h_read(path);
		free(h_write(s->dir, files[i], "%s", text));
		free(text);
	}
	snprintf(path, sizeof(path), "%s/etc/kefu/kefud.conf", KEFU_SRC);
	conf = h_read(path);
	conf = sb_subst(conf, "duty = {", "};",
	    "duty = { mon = \"00:00-24:00\"; tue = \"00:00-24:00\"; "
	    "wed = \"00:00-24:00\"; thu = \"00:00-24:00\"; "
	    "fri = \"00:00-24:00\"; sat = \"00:00-24:00\"; "
	    "sun = \"00:00-24:00\"; };");
	conf = sb_subst(conf, "@include \"platform.conf\"", NULL, "");
	if (retry != NULL)
		conf =
		    sb_subst(conf, "no_agents_retry_ms = 300000;", NULL, retry);
	free(s->conf);
	s->conf = h_write(s->dir, "kefud.conf",
	    "state_dir = \"state\";\nplugin_dir = \"%s/plugins\";\n%s%s\n"
	    "platform = { url = \"wss://localhost:%d/bot\"; ca_file = \"certs/ca.pem\"; token_file = \"token\"; };\n",
	    KEFU_BUILD, extra, conf, s->port);
	free(conf);
}

/* One sandbox setup per test: TestSuite(x, .init = sb_setup, .fini =
 * sb_teardown) and use sb. */
static struct sb sb;

static inline void
sb_setup(void)
{
	sb_init(&sb);
}

static inline void
sb_teardown(void)
{
	sb_stop(&sb);
}

#endif
