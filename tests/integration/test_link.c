/*
 * The platform link end to end: a real kefud against the real sandbox
 * platform over real TLS, with the faults the protocol allows.
 */

#include "../sandbox.h"

#include <dirent.h>

TestSuite(link, .init = sb_setup, .fini = sb_teardown, .timeout = 300);

/* Sandbox and kefud up, the link ready; returns the kefud log offset. */
static size_t
up(int heartbeat_ms)
{
	sb_start_sandbox(&sb, "server", heartbeat_ms);
	sb_config(&sb, "token", "");
	sb_start_kefud(&sb);
	return h_wait_log(sb.klog, "link: ready", 0);
}

Test(link, greeting_round_trip)
{
	char *id, *text = NULL;
	cJSON *st;

	up(15000);
	id = sb_say(&sb, "c-1", "你好");
	sb_expect_one_reply(&sb, id);
	sb_replies(&sb, id, &text);
	cr_expect_str_eq(text, "收到 (good 1.0.0)");
	st = sb_ctl(&sb, "{\"cmd\":\"state\"}");
	cr_expect_str_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(st,
	                                         "identify"),
	                     "client")
	                     ->valuestring,
	    "kefud/0.1.0");
	cJSON_Delete(st);
	free(text);
	free(id);
}

Test(link, drop_mid_conversation_loses_and_repeats_nothing)
{
	char *a, *b, *c;
	size_t at = up(15000);

	a = sb_say(&sb, "c-1", "第一句");
	sb_expect_one_reply(&sb, a);
	/* Cut the TCP connection without a close frame, then keep talking. */
	sb_do(&sb, "{\"cmd\":\"fault\",\"kind\":\"drop\"}");
	b = sb_say(&sb, "c-1", "第二句");
	c = sb_say(&sb, "c-2", "另一位顾客");
	at = h_wait_log(sb.klog, "link: lost", at);
	h_wait_log(sb.klog, "link: ready", at);
	sb_expect_one_reply(&sb, b);
	sb_expect_one_reply(&sb, c);
	cr_expect_eq(sb_replies(&sb, a, NULL), 1);
	cr_expect_geq(sb_state_num(&sb, "connections"), 2);
	free(a);
	free(b);
	free(c);
}

/*
 * With a sandbox fault on, a customer writes and the platform applies the
 * reply; once the state counter stat is at least 1, kefud is killed -9.
 */
static char *
reply_then_kill9(const char *fault, const char *stat)
{
	double end = h_now() + H_TIMEOUT_S;
	char cmd[96], *a;

	snprintf(cmd, sizeof(cmd), "{\"cmd\":\"fault\",\"kind\":\"%s\"}",
	    fault);
	sb_do(&sb, cmd);
	a = sb_say(&sb, "c-1", "在吗");
	while (sb_replies(&sb, a, NULL) == 0 || sb_state_num(&sb, stat) < 1) {
		cr_assert(h_now() < end, "no reply and %s within %d s", stat,
		    H_TIMEOUT_S);
		h_sleep_ms(20);
	}
	kill(sb.kefud, SIGKILL);
	cr_expect_eq(h_wait_exit(sb.kefud), -SIGKILL);
	return a;
}

/*
 * kill -9 after the platform applied a reply but before kefud saw its
 * result, and while more customers write: the reply was recorded in the
 * store, so after the restart it is sent again with its original id and
 * the platform applies it once.
 */
Test(link, kill9_before_the_result_answers_each_message_once)
{
	char *a, *b;
	size_t at = up(15000);

	/* Durable, so acknowledged; the result never came. */
	a = reply_then_kill9("swallow", "acked");
	sb_do(&sb, "{\"cmd\":\"fault\",\"kind\":\"unswallow\"}");
	b = sb_say(&sb, "c-2", "有人吗");
	sb_start_kefud(&sb);
	at = h_wait_log(sb.klog, "actions to send again: 1", at);
	h_wait_log(sb.klog, "link: ready", at);
	sb_expect_one_reply(&sb, a);
	sb_expect_one_reply(&sb, b);
	cr_expect_geq(sb_state_num(&sb, "duplicates"), 1);
	free(a);
	free(b);
}

/*
 * kill -9 after the reply, before the platform took the ack: the event
 * comes again after the restart, and kefud, which stored that it handled
 * it, does not answer twice.
 */
Test(link, kill9_before_the_ack_answers_once)
{
	char *a, *b;
	size_t at = up(15000);

	/* The store committed and an ack went out, which the platform lost. */
	a = reply_then_kill9("ignore_acks", "acks");
	cr_expect_eq(sb_state_num(&sb, "acked"), 0);
	sb_start_kefud(&sb);
	at = h_wait_log(sb.klog, "restored event 1;", at);
	at = h_wait_log(sb.klog, "link: ready", at);
	h_wait_log(sb.klog, "already handled; skipped", at);
	cr_expect_geq(sb_state_num(&sb, "redelivered"), 1);
	sb_do(&sb, "{\"cmd\":\"fault\",\"kind\":\"heed_acks\"}");
	b = sb_say(&sb, "c-1", "还在吗");
	sb_expect_one_reply(&sb, b);
	cr_expect_eq(sb_replies(&sb, a, NULL), 1);
	free(a);
	free(b);
}

Test(link, unauthorized_token_retries_at_most_once_a_minute)
{
	size_t at;
	cJSON *st;
	char *log;
	double delay;
	char *wrong = h_write(sb.dir, "wrong-token", "not-the-token\n");

	cr_assert(chmod(wrong, 0600) == 0);
	sb_start_sandbox(&sb, "server", 15000);
	sb_config(&sb, "wrong-token", "");
	sb_start_kefud(&sb);
	at = h_wait_log(sb.klog, "refused the token (HTTP 401)", 0);
	at = h_wait_log(sb.klog, "link: reconnecting in ", at);
	log = h_read(sb.klog);
	delay = atof(log + at);
	free(log);
	cr_expect(delay >= 60 && delay <= 75, "retry in %.3f s", delay);
	h_sleep_ms(3000);
	st = sb_ctl(&sb, "{\"cmd\":\"state\"}");
	cr_expect_eq(cJSON_GetArraySize(cJSON_GetObjectItem(st, "auth_times")),
	    1, "more than one attempt in 3 s");
	cJSON_Delete(st);
	free(wrong);
}

Test(link, token_file_readable_by_others_is_refused)
{
	char *kefud = h_build("kefud"), *log;
	char *argv[] = {kefud, "-c", NULL, NULL};

	cr_assert(chmod(sb.token, 0644) == 0);
	sb_config(&sb, "token", "");
	argv[2] = sb.conf;
	cr_expect_eq(h_wait_exit(h_spawn(argv, sb.klog)), 78,
	    "a configuration error: the unit does not restart it");
	log = h_read(sb.klog);
	cr_expect_not_null(
	    strstr(log,
	        "token: refused: must be a regular file that only its owner can read (chmod 600); mode is 0644"),
	    "%s", log);
	cr_expect_null(strstr(log, "test-token"), "the token reached the log");
	free(log);
	free(kefud);
}

Test(link, certificate_from_another_ca_is_refused)
{
	size_t at;
	char *log;

	sb_start_sandbox(&sb, "other-server", 15000);
	sb_config(&sb, "token", "");
	sb_start_kefud(&sb);
	at = h_wait_log(sb.klog,
	    "link: down: cannot connect to wss://localhost:", 0);
	h_wait_log(sb.klog, "link: reconnecting in", at);
	log = h_read(sb.klog);
	cr_expect_null(strstr(log, "link: ready"), "%s", log);
	cr_expect_eq(sb_state_num(&sb, "connections"), 0);
	free(log);
}

/* Our CA, but a certificate for localhost and 127.0.0.1 only. */
Test(link, certificate_for_another_host_is_refused)
{
	char *log;

	sb_start_sandbox_on(&sb, "127.0.0.2", "server", 15000);
	sb_config_host(&sb, "127.0.0.2", "token", "");
	sb_start_kefud(&sb);
	h_wait_log(sb.klog,
	    "link: down: cannot connect to wss://127.0.0.2:", 0);
	log = h_read(sb.klog);
	cr_expect_null(strstr(log, "link: ready"), "%s", log);
	cr_expect_eq(sb_state_num(&sb, "connections"), 0);
	free(log);
}

Test(link, malformed_frames_are_survived)
{
	static const char *const faults[] = {"garbage", "binary", "bad_utf8",
	    "unknown_op", "wrong_types", "oversized"};
	char cmd[128], *id, *log;
	size_t at = up(15000), i;

	for (i = 0; i < sizeof(faults) / sizeof(*faults); i++) {
		snprintf(cmd, sizeof(cmd),
		    "{\"cmd\":\"fault\",\"kind\":\"%s\"}", faults[i]);
		sb_do(&sb, cmd);
	}
	h_wait_log(sb.klog, "frame larger than 65536 bytes; closing with 1009",
	    at);
	id = sb_say(&sb, "c-1", "还在吗");
	sb_expect_one_reply(&sb, id);
	log = h_read(sb.klog);
	cr_expect_not_null(strstr(log, "malformed frame dropped: not JSON"),
	    "%s", log);
	cr_expect_null(strstr(log, "AddressSanitizer"), "%s", log);
	free(log);
	free(id);
}

Test(link, rate_limited_is_retried_with_the_same_id)
{
	char *id, cmd[256];
	cJSON *res;

	up(15000);
	sb_do(&sb,
	    "{\"cmd\":\"fail_next\",\"code\":\"rate_limited\",\"retry_after_ms\":300}");
	id = sb_say(&sb, "c-1", "你好");
	sb_expect_one_reply(&sb, id);
	snprintf(cmd, sizeof(cmd), "{\"cmd\":\"attempts\",\"id\":\"r:%s:0\"}",
	    id);
	res = sb_ctl(&sb, cmd);
	cr_expect_eq(cJSON_GetObjectItem(res, "attempts")->valueint, 2);
	cJSON_Delete(res);
	h_wait_log(sb.klog, "rate limited; retrying in 300 ms with the same id",
	    0);
	free(id);
}

Test(link, internal_error_is_retried_with_backoff)
{
	char *id;

	up(15000);
	sb_do(&sb, "{\"cmd\":\"fail_next\",\"code\":\"internal\",\"count\":2}");
	id = sb_say(&sb, "c-1", "你好");
	sb_expect_one_reply(&sb, id);
	h_wait_log(sb.klog,
	    "platform fault (forced by the sandbox); retry 2 in 1000 ms", 0);
	free(id);
}

/* 60 customers at once: every one answered once, none rate limited. */
Test(link, actions_are_paced_under_the_platform_limit)
{
	char conv[32], *ids[60];
	int i;

	up(15000);
	for (i = 0; i < 60; i++) {
		snprintf(conv, sizeof(conv), "c-%d", i);
		ids[i] = sb_say(&sb, conv, "你好");
	}
	for (i = 0; i < 60; i++) {
		sb_expect_one_reply(&sb, ids[i]);
		free(ids[i]);
	}
	cr_expect_eq(sb_state_num(&sb, "rate_limited"), 0);
}

/* After the sandbox's fault, kefud says why, reconnects at once (no
 * back-off), and answers again. */
static void
reconnects_at_once(const char *fault, const char *why, const char *text)
{
	size_t at = up(15000);
	char *cmd, *id;

	cr_assert(
	    asprintf(&cmd, "{\"cmd\":\"fault\",\"kind\":\"%s\"}", fault) > 0);
	sb_do(&sb, cmd);
	free(cmd);
	at = h_wait_log(sb.klog, why, at);
	at = h_wait_log(sb.klog, "link: reconnecting in 0.000 s", at);
	h_wait_log(sb.klog, "link: ready", at);
	id = sb_say(&sb, "c-1", text);
	sb_expect_one_reply(&sb, id);
	free(id);
}

Test(link, reconnect_request_is_obeyed_at_once)
{
	reconnects_at_once("reconnect", "platform asks to reconnect (sandbox)",
	    "你好");
}

Test(link, heartbeat_silence_is_detected)
{
	size_t at = up(300);
	char *id;

	sb_do(&sb, "{\"cmd\":\"fault\",\"kind\":\"mute\"}");
	at = h_wait_log(sb.klog, "(two heartbeat intervals)", at);
	h_wait_log(sb.klog, "link: ready", at);
	id = sb_say(&sb, "c-1", "你好");
	sb_expect_one_reply(&sb, id);
	free(id);
}

/* Under systemd: LoadCredential=token:... and no token_file. */
Test(link, token_from_the_systemd_credential)
{
	char *creds = h_path(sb.dir, "credentials"), *tok, *id;

	cr_assert(mkdir(creds, 0700) == 0);
	tok = h_path(creds, "token");
	h_copy(sb.token, tok);
	sb_start_sandbox(&sb, "server", 15000);
	free(sb.conf);
	sb.conf = h_write(sb.dir, "kefud.conf",
	    "state_dir = \"state\";\nplugin_dir = \"%s/tests/plugins\";\nplugins = [\"good\"];\n"
	    "good = { reply = \"收到\"; };\n"
	    "platform = { url = \"wss://localhost:%d/bot\"; ca_file = \"certs/ca.pem\"; };\n",
	    KEFU_BUILD, sb.port);
	cr_assert(setenv("CREDENTIALS_DIRECTORY", creds, 1) == 0);
	sb_start_kefud(&sb);
	unsetenv("CREDENTIALS_DIRECTORY");
	h_wait_log(sb.klog, "link: ready", 0);
	id = sb_say(&sb, "c-1", "你好");
	sb_expect_one_reply(&sb, id);
	free(id);
	free(tok);
	free(creds);
}

/* ws:// works when asked for, with a warning at every connect. */
Test(link, plain_ws_only_when_asked_and_always_warned)
{
	char *py = KEFU_SRC "/tests/sandbox/sandbox.py", port[16], *id;
	size_t at;

	snprintf(port, sizeof(port), "%d", sb.port);
	char *argv[] = {"/usr/bin/python3", py, "--plain", "--port", port,
	    "--token-file", sb.token, "--control", sb.ctl, "--action-log",
	    sb.actions, NULL};
	sb.sandbox = h_spawn(argv, sb.sblog);
	h_wait_log(sb.sblog, "sandbox: listening on ws://", 0);
	free(sb.conf);
	sb.conf = h_write(sb.dir, "kefud.conf",
	    "state_dir = \"state\";\nplugin_dir = \"%s/tests/plugins\";\nplugins = [\"good\"];\n"
	    "good = { reply = \"收到\"; };\n"
	    "platform = { url = \"ws://127.0.0.1:%d/bot\"; token_file = \"token\"; allow_plain_ws = true; };\n",
	    KEFU_BUILD, sb.port);
	sb_start_kefud(&sb);
	at = h_wait_log(sb.klog,
	    "without TLS (platform.allow_plain_ws): for tests only", 0);
	at = h_wait_log(sb.klog, "link: ready", at);
	sb_do(&sb, "{\"cmd\":\"fault\",\"kind\":\"reconnect\"}");
	at = h_wait_log(sb.klog,
	    "without TLS (platform.allow_plain_ws): for tests only", at);
	h_wait_log(sb.klog, "link: ready", at);
	id = sb_say(&sb, "c-1", "你好");
	sb_expect_one_reply(&sb, id);
	free(id);
}

/* invalid and unknown_conversation: logged, dropped, and the event still
 * counts as done, so acks and the next messages carry on. */
Test(link, invalid_and_unknown_conversation_are_dropped)
{
	char *a, *b, *c;
	double end;
	size_t at = up(15000);

	sb_do(&sb, "{\"cmd\":\"fail_next\",\"code\":\"invalid\"}");
	a = sb_say(&sb, "c-1", "你好");
	at = h_wait_log(sb.klog,
	    "(send) of conversation c-1 failed for good: invalid: forced by the sandbox",
	    at);
	sb_do(&sb, "{\"cmd\":\"fail_next\",\"code\":\"unknown_conversation\"}");
	b = sb_say(&sb, "c-2", "你好");
	h_wait_log(sb.klog, "failed for good: unknown_conversation", at);
	end = h_now() + H_TIMEOUT_S;
	while (sb_state_num(&sb, "acked") < sb_state_num(&sb, "seq")) {
		cr_assert(h_now() < end,
		    "events with dropped actions not acknowledged");
		h_sleep_ms(20);
	}
	cr_expect_eq(sb_replies(&sb, a, NULL), 0);
	cr_expect_eq(sb_replies(&sb, b, NULL), 0);
	c = sb_say(&sb, "c-1", "还在吗");
	sb_expect_one_reply(&sb, c);
	free(a);
	free(b);
	free(c);
}

/*
 * One well-formed event with an absurd seq (a platform fault): dropped
 * with an error, not saved as the last seq handled, so the real events
 * after it are still answered.  Before, the bot fell silent for good.
 */
Test(link, an_absurd_seq_does_not_silence_the_bot)
{
	size_t at = up(15000);
	char *id;

	sb_do(&sb, "{\"cmd\":\"fault\",\"kind\":\"wild_seq\"}");
	h_wait_log(sb.klog, "event 9007199254740992 dropped: seq jumps", at);
	id = sb_say(&sb, "c-1", "你好");
	sb_expect_one_reply(&sb, id);
	free(id);
}

/* Where the reply to msgid is in the platform's record of applied
 * actions (0 first), or -1. */
static int
applied_at(const char *msgid)
{
	char *all = h_read(sb.actions), *line, *save = NULL;
	int i = 0, at = -1;
	cJSON *a, *rt;

	for (line = strtok_r(all, "\n", &save); line != NULL && at < 0;
	     line = strtok_r(NULL, "\n", &save), i++) {
		if ((a = cJSON_Parse(line)) == NULL)
			continue;
		rt = cJSON_GetObjectItem(a, "reply_to");
		if (cJSON_IsString(rt) && strcmp(rt->valuestring, msgid) == 0)
			at = i;
		cJSON_Delete(a);
	}
	free(all);
	return at;
}

/*
 * The reply to a first message is rate limited and retried; the reply to
 * the second message of the same conversation waits for it, so the
 * customer reads them in order (L15).
 */
Test(link, a_retried_reply_is_not_overtaken)
{
	char *a, *b;

	up(15000);
	sb_do(&sb,
	    "{\"cmd\":\"fail_next\",\"code\":\"rate_limited\","
	    "\"retry_after_ms\":800,\"op\":\"send\"}");
	a = sb_say(&sb, "c-1", "你好");
	b = sb_say(&sb, "c-1", "在吗");
	sb_expect_one_reply(&sb, a);
	sb_expect_one_reply(&sb, b);
	cr_expect_lt(applied_at(a), applied_at(b),
	    "the second reply went out first");
	free(a);
	free(b);
}

/*
 * The platform applies a reply and its result is lost, the link staying
 * up: kefud sends it again (same id) after two heartbeat intervals, not
 * at the next reconnect, and the actions behind it go on (L17).
 */
Test(link, a_lost_result_is_asked_again)
{
	char *a, *b, cmd[128];
	size_t at = up(1000);
	cJSON *res;

	sb_do(&sb, "{\"cmd\":\"fault\",\"kind\":\"swallow\"}");
	a = sb_say(&sb, "c-1", "你好");
	at = h_wait_log(sb.klog, "outbox: no result for action r:", at);
	sb_do(&sb, "{\"cmd\":\"fault\",\"kind\":\"unswallow\"}");
	b = sb_say(&sb, "c-1", "在吗");
	sb_expect_one_reply(&sb, b);
	cr_expect_eq(sb_replies(&sb, a, NULL), 1, "applied twice");
	snprintf(cmd, sizeof(cmd), "{\"cmd\":\"attempts\",\"id\":\"r:%s:0\"}",
	    a);
	res = sb_ctl(&sb, cmd);
	cr_expect_geq(cJSON_GetObjectItem(res, "attempts")->valueint, 2);
	cJSON_Delete(res);
	cr_expect_eq(sb_state_num(&sb, "connections"), 1, "reconnected");
	free(a);
	free(b);
}

/* A binary frame over the limit closes with 1009 like a text one, and
 * kefud reconnects at once, as docs/platform.md says (L3). */
Test(link, an_oversized_binary_frame_closes_1009_and_reconnects_at_once)
{
	reconnects_at_once("oversized_binary",
	    "frame larger than 65536 bytes; closing with 1009", "还在吗");
}

/*
 * The state database cannot be opened at start (corrupt, and kefud may not
 * move it aside): kefud does not connect, rather than answer with no idea
 * who owns which conversation.  Once ops move the file away it opens,
 * kefud connects and answers what customers wrote meanwhile (M4).
 */
Test(link, no_service_until_the_state_opens)
{
	char *state = h_path(sb.dir, "state"), *db, *moved, *id;
	size_t at;

	sb_start_sandbox(&sb, "server", 15000);
	sb_config(&sb, "token", "");
	cr_assert(mkdir(state, 0700) == 0);
	db = h_write(state, "kefu.db", "this is not a database, %s\n",
	    "but long enough to look like one's header");
	sb_start_kefud(&sb);
	at = h_wait_log(sb.klog, "not connecting to the platform until", 0);
	id = sb_say(&sb, "c-1", "你好");
	h_sleep_ms(1500);
	cr_expect_eq(sb_state_num(&sb, "connections"), 0);
	moved = h_path(state, "kefu.db.bad");
	cr_assert(rename(db, moved) == 0);
	at = h_wait_log(sb.klog, "open at last; state restored", at);
	h_wait_log(sb.klog, "link: ready", at);
	sb_expect_one_reply(&sb, id);
	free(id);
	free(moved);
	free(db);
	free(state);
}

/*
 * Two replies of one conversation queued together (after an outage) and
 * the first rate limited: the second still waits for it (the review's
 * F1: the first sent in the same pass did not hold the second).
 */
Test(link, replies_queued_together_keep_their_order)
{
	size_t at = up(15000);
	char *a, *b;

	sb_do(&sb, "{\"cmd\":\"fault\",\"kind\":\"away\"}");
	at = h_wait_log(sb.klog, "link: lost", at);
	a = sb_say(&sb, "c-1", "你好");
	b = sb_say(&sb, "c-1", "在吗");
	sb_do(&sb,
	    "{\"cmd\":\"fail_next\",\"code\":\"rate_limited\","
	    "\"retry_after_ms\":800,\"op\":\"send\"}");
	sb_do(&sb, "{\"cmd\":\"fault\",\"kind\":\"back\"}");
	sb_expect_one_reply(&sb, a);
	sb_expect_one_reply(&sb, b);
	cr_expect_lt(applied_at(a), applied_at(b),
	    "the second reply went out first");
	free(a);
	free(b);
}

/*
 * Two events in two TLS records that arrive in one TCP segment, and then
 * nothing (no results, a heartbeat every ten minutes): kefud reads the
 * socket once for both (its bulk read) and must answer the second from
 * what it read, not wait for a poll that no new data will bring.  (That
 * one read takes them all is measured by tests/bench/cost.py: reads per
 * message.)
 */
Test(link, two_records_in_one_segment_are_both_served)
{
	char *py = KEFU_SRC "/tests/sandbox/coalesce.py", port[16], *pem, *key;
	int rc;

	cr_assert(asprintf(&pem, "%s/server.pem", sb.certs) > 0);
	cr_assert(asprintf(&key, "%s/server.key", sb.certs) > 0);
	snprintf(port, sizeof(port), "%d", sb.port);
	char *argv[] = {"/usr/bin/python3", py, port, pem, key, sb.token, "20",
	    NULL};
	sb.sandbox = h_spawn(argv, sb.sblog);
	h_wait_log(sb.sblog, "coalesce: listening", 0);
	sb_config(&sb, "token", "");
	sb_start_kefud(&sb);
	h_wait_log(sb.sblog, "in one segment", 0);
	rc = h_wait_exit(sb.sandbox);
	sb.sandbox = 0;
	if (rc != 0) {
		char *log = h_read(sb.sblog);

		cr_log_error("platform log:\n%s", log);
		free(log);
	}
	cr_expect_eq(rc, 0, "an event read with another was not answered");
	free(pem);
	free(key);
}

/* kefud's open descriptors, from /proc. */
static int
open_fds(pid_t pid)
{
	char path[64];
	struct dirent *e;
	DIR *d;
	int n = 0;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	cr_assert_not_null(d = opendir(path));
	while ((e = readdir(d)) != NULL)
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

/* Every connection kefud loses, it closes: after five drops it holds
 * as many descriptors as before them, not one more per reconnect. */
Test(link, reconnects_leave_no_descriptor_behind)
{
	size_t at = up(15000);
	char *id;
	int before, i;

	id = sb_say(&sb, "c-1", "你好");
	sb_expect_one_reply(&sb, id);
	free(id);
	before = open_fds(sb.kefud);
	for (i = 0; i < 5; i++) {
		sb_do(&sb, "{\"cmd\":\"fault\",\"kind\":\"drop\"}");
		at = h_wait_log(sb.klog, "link: lost", at);
		at = h_wait_log(sb.klog, "link: ready", at);
	}
	id = sb_say(&sb, "c-1", "还在吗");
	sb_expect_one_reply(&sb, id);
	free(id);
	cr_expect_eq(open_fds(sb.kefud), before,
	    "descriptors before five reconnects: %d, after: %d", before,
	    open_fds(sb.kefud));
}
