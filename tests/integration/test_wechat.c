/*
 * kefud with platform.kind "wechat-kf" against the fake 微信客服
 * (tests/sandbox/wecom.py): real processes, real TLS to the API with a
 * CA made for the test, real signed and encrypted callbacks to kefud's
 * platform.listen, a real database.
 */
#include "../sandbox.h"

#include <sys/random.h>

/* Where kefud takes the callbacks; the fake's API is on sb.port. */
static int cb_port;
static char *secret, *cb_token, *aes_key;

/* A random printable word of n characters from the kernel. */
static char *
wx_word(int n, const char *alphabet)
{
	unsigned char r[64];
	char *w = calloc(1, (size_t)n + 1);
	size_t k = strlen(alphabet);
	int i;

	cr_assert(n <= 64 && getrandom(r, (size_t)n, 0) == n);
	for (i = 0; i < n; i++)
		w[i] = alphabet[r[i] % k];
	return w;
}

static void
wx_setup(void)
{
	static const char an[] =
	    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

	sb_init(&sb);
	secret = wx_word(43, an);
	cb_token = wx_word(20, an);
	/* 43 characters whose last carries no bits past the 32 bytes. */
	aes_key = wx_word(43, an);
	aes_key[42] = 'A';
	free(sb.token);
	sb.token =
	    h_write(sb.dir, "token", "%s:%s:%s\n", secret, cb_token, aes_key);
	cr_assert(chmod(sb.token, 0600) == 0);
	cb_port = h_free_port();
}

/* No part of the token (the secret, the callback token, the key) in the
 * log, at any level. */
static void
wx_teardown(void)
{
	char *log = h_read(sb.klog);

	cr_expect_null(strstr(log, secret), "the corpsecret reached the log");
	cr_expect_null(strstr(log, cb_token),
	    "the callback token reached the log");
	cr_expect_null(strstr(log, aes_key),
	    "the EncodingAESKey reached the log");
	free(log);
	sb_stop(&sb);
	free(secret);
	free(cb_token);
	free(aes_key);
}

TestSuite(wechat, .init = wx_setup, .fini = wx_teardown, .timeout = 300);

static void
wx_start_fake(const char *token_life)
{
	char port[16], cb[16];
	char *pem = h_path(sb.certs, "server.pem"),
	     *key = h_path(sb.certs, "server.key");

	snprintf(port, sizeof(port), "%d", sb.port);
	snprintf(cb, sizeof(cb), "%d", cb_port);
	char *argv[] = {"/usr/bin/python3", KEFU_SRC "/tests/sandbox/wecom.py",
	    "--port", port, "--cert", pem, "--key", key, "--token-file",
	    sb.token, "--callback-port", cb, "--control", sb.ctl,
	    "--action-log", sb.actions, "--token-life", (char *)token_life,
	    NULL};
	sb.sandbox = h_spawn(argv, sb.sblog);
	h_wait_log(sb.sblog, "wecom: listening", 0);
	free(pem);
	free(key);
}

/* The CA file the configuration names. */
static const char *wx_ca = "certs/ca.pem";

/* The platform group for the fake, with extra keys of the driver. */
static char *
wx_platform(const char *extra)
{
	char *p;

	cr_assert(asprintf(&p,
	              "platform = {\n"
	              "  kind = \"wechat-kf\";\n"
	              "  url = \"https://localhost:%d/\";\n"
	              "  ca_file = \"%s\";\n"
	              "  token_file = \"token\";\n"
	              "  listen = \"127.0.0.1:%d\";\n"
	              "  corp_id = \"ww-kefu-sandbox\";\n"
	              "  open_kfid = \"wk-sandbox\";\n"
	              "  agent_id = 1000002;\n"
	              "%s"
	              "};\n",
	              sb.port, wx_ca, cb_port, extra) > 0);
	return p;
}

/* The configuration with the test plugin "good" replying reply, lines
 * times (its i-th line ending " i/N"), and extra root settings. */
static void
wx_config_good(const char *reply, int lines, const char *platform_extra,
    const char *extra)
{
	char *p = wx_platform(platform_extra);

	free(sb.conf);
	sb.conf = h_write(sb.dir, "kefud.conf",
	    "log_level = \"debug\";\n"
	    "state_dir = \"state\";\n"
	    "plugin_dir = \"%s/tests/plugins\";\n"
	    "plugins = [\"good\"];\n"
	    "good = { reply = \"%s\"; handoff = \"转人工\"; lines = %d;%s };\n"
	    "%s%s",
	    KEFU_BUILD, reply, lines,
	    strstr(reply, "？") != NULL ? " ask = true;" : "", p, extra);
	free(p);
}

/* The fake, and kefud with wx_config_good's configuration. */
static void
wx_start_with(const char *reply, int lines, const char *platform_extra,
    const char *extra)
{
	wx_start_fake("7200");
	wx_config_good(reply, lines, platform_extra, extra);
	sb_start_kefud(&sb);
	h_wait_log(sb.klog, "wechat-kf: access token", 0);
}

/* kefud with the test plugin "good" (lines: its replies per message). */
static void
wx_start_good(int lines, const char *platform_extra)
{
	wx_start_with("收到", lines, platform_extra, "");
}

/* The state the fake's session of customer user is in. */
static int
wx_session_state(const char *user)
{
	char cmd[256];
	cJSON *r;
	int st;

	snprintf(cmd, sizeof(cmd),
	    "{\"cmd\":\"session\",\"conversation\":\"%s\"}", user);
	r = sb_ctl(&sb, cmd);
	st = cJSON_GetObjectItem(r, "state")->valueint;
	cJSON_Delete(r);
	return st;
}

/* The messages agent has received from the app (message/send). */
static int
wx_inbox_count(const char *agent)
{
	char cmd[256];
	cJSON *r;
	int n;

	snprintf(cmd, sizeof(cmd), "{\"cmd\":\"inbox\",\"agent\":\"%s\"}",
	    agent);
	r = sb_ctl(&sb, cmd);
	n = cJSON_GetArraySize(cJSON_GetObjectItem(r, "messages"));
	cJSON_Delete(r);
	return n;
}

/* Occurrences of needle in haystack. */
static int
wx_count(const char *haystack, const char *needle)
{
	int n = 0;

	while ((haystack = strstr(haystack, needle)) != NULL) {
		n++;
		haystack += strlen(needle);
	}
	return n;
}

/* Lines holding mark delivered to customer user, in all messages. */
static int wx_lines_mark_n;

/* Delivered sends to customer user (api: NULL any, or the one). */
static int
wx_sends(const char *user, const char *api, char **last)
{
	char *all = h_read(sb.actions), *line, *save = NULL;
	cJSON *a;
	int n = 0;

	wx_lines_mark_n = 0;

	for (line = strtok_r(all, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save)) {
		if ((a = cJSON_Parse(line)) == NULL)
			continue;
		if (strcmp(cJSON_GetObjectItem(a, "op")->valuestring, "send") ==
		        0 &&
		    strcmp(cJSON_GetObjectItem(a, "conversation")->valuestring,
		        user) == 0 &&
		    cJSON_IsTrue(cJSON_GetObjectItem(a, "delivered")) &&
		    (api == NULL ||
		        strcmp(cJSON_GetObjectItem(a, "api")->valuestring,
		            api) == 0)) {
			n++;
			wx_lines_mark_n +=
			    wx_count(cJSON_GetObjectItem(a, "text")
			                 ->valuestring,
			        "收到");
			if (last != NULL) {
				free(*last);
				*last = strdup(cJSON_GetObjectItem(a, "text")
				                   ->valuestring);
			}
		}
		cJSON_Delete(a);
	}
	free(all);
	return n;
}

static void
wx_wait_sends(const char *user, const char *api, int n)
{
	double end = h_now() + H_TIMEOUT_S;

	while (wx_sends(user, api, NULL) < n) {
		if (h_now() > end) {
			char *log = h_read(sb.klog);

			cr_log_error("kefud log:\n%s", log);
			free(log);
			cr_assert_fail("fewer than %d sends to %s within %d s",
			    n, user, H_TIMEOUT_S);
		}
		h_sleep_ms(20);
	}
}

/* Every message pulled, and the effects committed (the store's batch
 * follows within milliseconds; the action log is the platform's). */
static void
wx_settle(void)
{
	sb_settle(&sb);
	h_sleep_ms(300);
}

static char *
wx_say(const char *user, const char *text)
{
	return sb_say(&sb, user, text);
}

static double
wx_stat(const char *key)
{
	return sb_state_num(&sb, key);
}

Test(wechat, url_verification_welcome_faq_and_clarify)
{
	char *text = NULL, *conf, *p;
	cJSON *r;

	sb_config_shipped(&sb, NULL, "");
	/* The shipped configuration, with the fake instead of the sandbox
	 * sb_config_shipped started. */
	kill(sb.sandbox, SIGTERM);
	h_wait_exit(sb.sandbox);
	sb.sandbox = 0;
	conf = h_read(sb.conf);
	*strstr(conf, "platform = { url") = '\0';
	p = wx_platform("");
	free(sb.conf);
	sb.conf = h_write(sb.dir, "kefud.conf", "%s%s", conf, p);
	free(conf);
	free(p);
	wx_start_fake("7200");
	sb_start_kefud(&sb);
	h_wait_log(sb.klog, "wechat-kf: shop \"暖衣小铺\"", 0);

	/* The URL check WeCom makes when the callback is saved. */
	r = sb_ctl(&sb, "{\"cmd\":\"verify\"}");
	cr_expect_eq(cJSON_GetObjectItem(r, "status")->valueint, 200);
	cr_expect(cJSON_IsTrue(cJSON_GetObjectItem(r, "verified")),
	    "kefud did not echo the decrypted echostr");
	cJSON_Delete(r);
	/* The same with the echostr's + / = not %-escaped. */
	r = sb_ctl(&sb, "{\"cmd\":\"verify\",\"raw\":true}");
	cr_expect_eq(cJSON_GetObjectItem(r, "status")->valueint, 200);
	cr_expect(cJSON_IsTrue(cJSON_GetObjectItem(r, "verified")),
	    "a + in the echostr was read as a space");
	cJSON_Delete(r);

	/* A customer enters from a link: the welcome goes out with the
	 * welcome_code, and names the shop. */
	sb_do(&sb, "{\"cmd\":\"open\",\"conversation\":\"wm-a\"}");
	wx_wait_sends("wm-a", "send_msg_on_event", 1);
	wx_sends("wm-a", "send_msg_on_event", &text);
	cr_expect(strstr(text, "暖衣小铺") != NULL, "welcome: %s", text);

	/* A question of the knowledge base: its answer, by send_msg. */
	free(wx_say("wm-a", "请问发什么快递"));
	wx_wait_sends("wm-a", "send_msg", 1);
	wx_sends("wm-a", "send_msg", &text);
	cr_expect(strstr(text, "中通") != NULL, "answer: %s", text);

	/* A word that fits several entries: the bot asks which, with the
	 * candidates numbered. */
	free(wx_say("wm-a", "快递"));
	wx_wait_sends("wm-a", "send_msg", 2);
	wx_sends("wm-a", "send_msg", &text);
	cr_expect(strstr(text, "1.") != NULL && strstr(text, "2.") != NULL,
	    "clarify: %s", text);
	wx_settle();
	cr_expect_eq(wx_sends("wm-a", NULL, NULL), 3);
	free(text);
}

Test(wechat, handoff_to_the_queue_and_to_a_named_agent_with_context)
{
	cJSON *r, *m;
	const char *inbox;

	wx_start_good(1,
	    "  notify = [\"wangwu\"];\n"
	    "  routes = { vip = [\"lisi\", \"zhangsan\"]; };\n");
	/* No route for the queue: state 2, the context to the notified. */
	free(wx_say("wm-q", "你好"));
	wx_wait_sends("wm-q", NULL, 1);
	free(wx_say("wm-q", "我要转人工"));
	/* The line before the handoff goes with the transfer's code, and
	 * costs none of the 5 messages. */
	wx_wait_sends("wm-q", "send_msg_on_event", 1);
	{
		char *line = NULL;

		wx_sends("wm-q", "send_msg_on_event", &line);
		cr_expect(strstr(line, "转接") != NULL, "%s", line);
		free(line);
	}
	h_wait_log(sb.klog, "handoff", 0);
	wx_settle();
	cr_expect_eq(wx_session_state("wm-q"), 2,
	    "the session is not in the queue");
	r = sb_ctl(&sb, "{\"cmd\":\"inbox\",\"agent\":\"wangwu\"}");
	m = cJSON_GetObjectItem(r, "messages");
	cr_assert_eq(cJSON_GetArraySize(m), 1, "context not sent to wangwu");
	inbox = cJSON_GetArrayItem(m, 0)->valuestring;
	cr_expect(strstr(inbox, "wm-q") != NULL, "%s", inbox);
	cr_expect(strstr(inbox, "我要转人工") != NULL,
	    "the customer's words are not in the context: %s", inbox);
	cr_expect(strstr(inbox, "human_request") != NULL, "%s", inbox);
	cJSON_Delete(r);
	/* Waiting in the queue, the bot may not write (state 2): nothing
	 * was refused by the platform. */
	cr_expect_eq(wx_stat("errcode_95018"), 0);
}

Test(wechat, a_routed_queue_goes_to_its_receiving_agent)
{
	cJSON *r, *m;
	char *conf;

	wx_start_good(1,
	    "  routes = { default = [\"lisi\", \"zhangsan\"]; };\n");
	/* lisi is not receiving (the fake's default); zhangsan is. */
	conf = h_read(sb.conf);
	cr_assert(strstr(conf, "routes") != NULL);
	free(conf);
	free(wx_say("wm-r", "转人工"));
	wx_wait_sends("wm-r", NULL, 1);
	h_wait_log(sb.klog, "handoff", 0);
	wx_settle();
	h_sleep_ms(500);
	r = sb_ctl(&sb, "{\"cmd\":\"session\",\"conversation\":\"wm-r\"}");
	cr_expect_eq(cJSON_GetObjectItem(r, "state")->valueint, 3);
	cr_expect_str_eq(cJSON_GetObjectItem(r, "servicer")->valuestring,
	    "zhangsan");
	cJSON_Delete(r);
	r = sb_ctl(&sb, "{\"cmd\":\"inbox\",\"agent\":\"zhangsan\"}");
	m = cJSON_GetObjectItem(r, "messages");
	cr_expect_eq(cJSON_GetArraySize(m), 1, "context not sent to zhangsan");
	cJSON_Delete(r);
	cr_expect_eq(wx_inbox_count("lisi"), 0,
	    "lisi is not receiving, and got the context");
}

Test(wechat, agent_takes_over_ends_and_the_bot_serves_again)
{
	wx_start_good(1, "");
	free(wx_say("wm-b", "你好"));
	wx_wait_sends("wm-b", NULL, 1);
	sb_do(&sb, "{\"cmd\":\"agent_join\",\"conversation\":\"wm-b\"}");
	free(wx_say("wm-b", "还在吗"));
	sb_do(&sb,
	    "{\"cmd\":\"agent_say\",\"conversation\":\"wm-b\",\"text\":\"您好，我是人工客服\"}");
	free(wx_say("wm-b", "好的"));
	wx_settle();
	h_sleep_ms(500);
	/* The bot fell silent while the agent had it. */
	cr_expect_eq(wx_sends("wm-b", NULL, NULL), 1);
	cr_expect_eq(wx_stat("errcode_95018"), 0,
	    "kefud tried to write while an agent had the session");
	/* The agent ends it; the customer writes again: the bot serves. */
	sb_do(&sb, "{\"cmd\":\"close\",\"conversation\":\"wm-b\"}");
	free(wx_say("wm-b", "我又来了"));
	wx_wait_sends("wm-b", NULL, 2);
}

Test(wechat, five_messages_at_most_after_a_customer_message)
{
	char *text = NULL;

	wx_start_good(8, "");
	free(wx_say("wm-c", "你好"));
	wx_wait_sends("wm-c", NULL, 5);
	wx_settle();
	h_sleep_ms(500);
	/* Eight lines: four alone, the last four joined in the fifth. */
	cr_expect_eq(wx_sends("wm-c", NULL, &text), 5);
	cr_expect(strstr(text, "5/8") != NULL && strstr(text, "8/8") != NULL,
	    "the fifth message: %s", text);
	cr_expect_eq(wx_stat("over_quota"), 0, "a sixth message was sent");
	/* The next customer message opens a new budget (a moment later:
	 * sends within a second of it count in it, for the clocks). */
	h_sleep_ms(2500);
	free(wx_say("wm-c", "好"));
	wx_wait_sends("wm-c", NULL, 10);
	cr_expect_eq(wx_stat("over_quota"), 0);
	free(text);
}

/* Lines "收到" delivered to the conversations prefix0 .. prefix(n-1). */
static int
wx_lines_of(const char *prefix, int n, int each)
{
	char user[64];
	int i, total = 0;

	for (i = 0; i < n; i++) {
		snprintf(user, sizeof(user), "%s%d", prefix, i);
		wx_sends(user, NULL, NULL);
		cr_expect_eq(wx_lines_mark_n, each,
		    "%s: %d replies to %d messages", user, wx_lines_mark_n,
		    each);
		total += wx_lines_mark_n;
	}
	return total;
}

static void
wx_wait_lines(const char *prefix, int n, int each)
{
	double end = h_now() + H_TIMEOUT_S;
	char user[64];
	int i;

	for (i = 0; i < n; i++) {
		snprintf(user, sizeof(user), "%s%d", prefix, i);
		for (;;) {
			wx_sends(user, NULL, NULL);
			if (wx_lines_mark_n >= each)
				break;
			cr_assert(h_now() < end, "%s: %d of %d replies", user,
			    wx_lines_mark_n, each);
			h_sleep_ms(20);
		}
	}
}

Test(wechat, kill_9_in_a_burst_loses_and_doubles_nothing)
{
	char *kefud = h_build("kefud");
	cJSON *st, *ps, *e;
	int n, after = -1;

	wx_start_good(1, "");
	/*
	 * Ten messages of a customer at once: after the last, 微信客服
	 * takes five messages, so the ten replies come as four alone and
	 * six joined in the fifth.  Counted by line: each reply once.
	 */
	sb_do(&sb,
	    "{\"cmd\":\"burst\",\"n\":60,\"conversations\":6,"
	    "\"prefix\":\"wm-a-\"}");
	wx_wait_lines("wm-a-", 6, 10);
	wx_settle(); /* committed, with the cursor after them */
	sb_do(&sb,
	    "{\"cmd\":\"burst\",\"n\":60,\"conversations\":6,"
	    "\"prefix\":\"wm-b-\"}");
	h_wait_log(sb.klog, "reply from good (r:wx", 0);
	kill(sb.kefud, SIGKILL);
	h_wait_exit(sb.kefud);
	{
		char *argv[] = {kefud, "-c", sb.conf, NULL};

		sb.kefud = h_spawn(argv, sb.klog);
	}
	free(kefud);
	wx_wait_lines("wm-b-", 6, 10);
	wx_settle();
	h_sleep_ms(1000);
	n = wx_lines_of("wm-a-", 6, 10) + wx_lines_of("wm-b-", 6, 10);
	cr_expect_eq(n, 120, "0 lost, 0 doubled: %d replies", n);
	cr_expect_eq(wx_stat("over_quota"), 0);
	/* The restarted kefud pulled from the cursor it had committed, not
	 * from the beginning: its first pull (with its own access token)
	 * started past the first burst. */
	st = sb_ctl(&sb, "{\"cmd\":\"state\"}");
	ps = cJSON_GetObjectItem(st, "pull_starts");
	cJSON_ArrayForEach(e, ps) if (cJSON_GetArrayItem(e, 0)->valueint == 2 &&
	    after < 0) after = cJSON_GetArrayItem(e, 1)->valueint;
	cJSON_Delete(st);
	cr_expect_geq(after, 60, "the pull after the restart began at %d",
	    after);
}

Test(wechat, a_lost_callback_is_caught_up_by_the_next_pull)
{
	wx_start_good(1, "");
	free(wx_say("wm-d", "一"));
	wx_wait_sends("wm-d", NULL, 1);
	sb_do(&sb, "{\"cmd\":\"fault\",\"kind\":\"lose_callbacks\"}");
	free(wx_say("wm-d", "二"));
	h_sleep_ms(500);
	cr_expect_eq(wx_sends("wm-d", NULL, NULL), 1,
	    "answered without a callback?");
	free(wx_say("wm-d", "三"));
	wx_wait_sends("wm-d", NULL, 3);
	wx_settle();
	cr_expect_eq(wx_sends("wm-d", NULL, NULL), 3);
}

Test(wechat, an_access_token_revoked_mid_run_is_fetched_again)
{
	wx_start_good(1, "");
	free(wx_say("wm-e", "一"));
	wx_wait_sends("wm-e", NULL, 1);
	sb_do(&sb, "{\"cmd\":\"fault\",\"kind\":\"revoke_tokens\"}");
	free(wx_say("wm-e", "二"));
	wx_wait_sends("wm-e", NULL, 2);
	cr_expect_eq(wx_stat("tokens"), 2, "one new token, not more");
	cr_expect_eq(wx_stat("errcode_40014"), 1);
}

Test(wechat, bad_callbacks_are_refused_without_side_effects)
{
	cJSON *r;
	double pulls;

	wx_start_good(1, "");
	free(wx_say("wm-f", "你好"));
	wx_wait_sends("wm-f", NULL, 1);
	wx_settle();
	pulls = wx_stat("pulls");
	r = sb_ctl(&sb, "{\"cmd\":\"fault\",\"kind\":\"bad_signature\"}");
	cr_expect_eq(cJSON_GetObjectItem(r, "status")->valueint, 403);
	cJSON_Delete(r);
	r = sb_ctl(&sb, "{\"cmd\":\"fault\",\"kind\":\"corrupt_body\"}");
	cr_expect_eq(cJSON_GetObjectItem(r, "status")->valueint, 403);
	cJSON_Delete(r);
	h_sleep_ms(500);
	cr_expect_eq(wx_stat("pulls"), pulls,
	    "a refused callback made kefud pull");
	h_wait_log(sb.klog, "callback refused: bad msg_signature", 0);
	/* A good one still works. */
	free(wx_say("wm-f", "在吗"));
	wx_wait_sends("wm-f", NULL, 2);
}

Test(wechat, check_refuses_a_token_without_its_three_parts)
{
	char *kefud = h_build("kefud"), *p, *log;

	free(h_write(sb.dir, "token", "only-a-secret\n"));
	p = wx_platform("");
	free(sb.conf);
	sb.conf = h_write(sb.dir, "kefud.conf",
	    "state_dir = \"state\";\nplugin_dir = \"%s/tests/plugins\";\n"
	    "plugins = [\"good\"];\ngood = { reply = \"收到\"; };\n%s",
	    KEFU_BUILD, p);
	free(p);
	{
		char *argv[] = {kefud, "-t", "-c", sb.conf, NULL};

		cr_expect_eq(h_wait_exit(h_spawn(argv, sb.klog)), 78);
	}
	log = h_read(sb.klog);
	cr_expect(strstr(log, "corpsecret:callback token:EncodingAESKey") !=
	        NULL,
	    "%s", log);
	free(log);
	free(kefud);
	/* The teardown looks for the real parts in the log. */
	free(h_write(sb.dir, "token", "%s:%s:%s\n", secret, cb_token, aes_key));
}

Test(wechat, a_busy_platform_is_tried_again_and_sends_once)
{
	wx_start_good(1, "");
	free(wx_say("wm-g", "一"));
	wx_wait_sends("wm-g", NULL, 1);
	sb_do(&sb, "{\"cmd\":\"fault\",\"kind\":\"busy\",\"count\":2}");
	free(wx_say("wm-g", "二"));
	wx_wait_sends("wm-g", NULL, 2);
	wx_settle();
	h_sleep_ms(500);
	cr_expect_eq(wx_sends("wm-g", NULL, NULL), 2);
	cr_expect_eq(wx_stat("errcode_-1"), 2);
}

Test(wechat, access_tokens_are_fetched_again_before_they_expire)
{
	char text[32];
	int i;

	/* A token of 4 s: kefud takes a new one after half of it. */
	wx_start_fake("4");
	wx_config_good("收到", 1, "", "");
	sb_start_kefud(&sb);
	h_wait_log(sb.klog, "wechat-kf: access token", 0);
	for (i = 0; i < 6; i++) {
		snprintf(text, sizeof(text), "第%d句", i);
		free(wx_say("wm-t", text));
		wx_wait_sends("wm-t", NULL, i + 1);
		h_sleep_ms(1000);
	}
	cr_expect_geq(wx_stat("tokens"), 3);
	cr_expect_eq(wx_stat("errcode_42001"), 0, "an expired token was used");
}

Test(wechat, long_lines_are_joined_within_a_message_s_bytes)
{
	char reply[700];
	int i, n = 0;

	/* 200 Chinese characters: 600 bytes; eight lines of them. */
	for (i = 0; i < 200; i++)
		n += snprintf(reply + n, sizeof(reply) - n, "好");
	wx_start_with(reply, 8, "", "");
	free(wx_say("wm-l", "你好"));
	wx_wait_sends("wm-l", NULL, 5);
	wx_settle();
	h_sleep_ms(500);
	{
		char *all = h_read(sb.actions), *line, *save = NULL;
		int seen = 0;

		for (line = strtok_r(all, "\n", &save); line != NULL;
		     line = strtok_r(NULL, "\n", &save)) {
			cJSON *a = cJSON_Parse(line);
			const char *t;

			if (a == NULL ||
			    !cJSON_IsTrue(
			        cJSON_GetObjectItem(a, "delivered"))) {
				cJSON_Delete(a);
				continue;
			}
			t = cJSON_GetObjectItem(a, "text")->valuestring;
			cr_expect_leq(strlen(t), 2048, "a message of %zu bytes",
			    strlen(t));
			seen += wx_count(t, "/8");
			cJSON_Delete(a);
		}
		free(all);
		/* Four alone, three joined in the fifth; the eighth does
		 * not fit, and is not sent as a sixth. */
		cr_expect_eq(seen, 7, "%d lines delivered", seen);
	}
	cr_expect_eq(wx_sends("wm-l", NULL, NULL), 5);
	cr_expect_eq(wx_stat("over_quota"), 0);
	h_wait_log(sb.klog, "too long to join", 0);
}

Test(wechat, a_customer_in_the_queue_gets_no_bot_lines)
{
	wx_start_with("收到", 1, "",
	    "conversations = { wait_update_ms = 300; wait_update_text = "
	    "\"人工客服正在接入，请您稍等\"; wait_updates_max = 3; };\n");
	free(wx_say("wm-w", "我要转人工"));
	wx_wait_sends("wm-w", "send_msg_on_event", 1);
	h_sleep_ms(2000); /* the wait updates are due */
	cr_expect_eq(wx_session_state("wm-w"), 2);
	cr_expect_eq(wx_sends("wm-w", NULL, NULL), 1);
	cr_expect_eq(wx_stat("errcode_95018"), 0,
	    "kefud wrote to a customer in the queue");
	h_wait_log(sb.klog, "where only agents write", 0);
}

Test(wechat, the_bot_ends_a_session_it_never_took_with_its_line)
{
	wx_start_with("还有什么可以帮您？", 1, "",
	    "conversations = { close_after_ms = 500; close_text = "
	    "\"感谢您的咨询，祝您生活愉快\"; };\n");
	free(wx_say("wm-x", "你好"));
	/* The question, then silence: the close, 0 -> 1 -> 4, and the
	 * closing line with the code of the end. */
	wx_wait_sends("wm-x", "send_msg_on_event", 1);
	cr_expect_eq(wx_session_state("wm-x"), 4);
	{
		char *line = NULL;

		wx_sends("wm-x", "send_msg_on_event", &line);
		cr_expect(strstr(line, "感谢您的咨询") != NULL, "%s", line);
		free(line);
	}
}

Test(wechat, a_reload_with_calls_out_loses_and_doubles_nothing)
{
	char *path = h_path(sb.certs, "ca.pem"), *ca = h_read(path);

	free(h_write(sb.dir, "certs/ca2.pem", "%s", ca));
	free(ca);
	free(path);
	wx_start_good(1, "");
	sb_do(&sb,
	    "{\"cmd\":\"burst\",\"n\":60,\"conversations\":6,"
	    "\"prefix\":\"wm-r-\"}");
	h_wait_log(sb.klog, "reply from good (r:wx", 0);
	/* Another CA file: the driver starts again, with calls out. */
	wx_ca = "certs/ca2.pem";
	wx_config_good("收到", 1, "", "");
	wx_ca = "certs/ca.pem";
	kill(sb.kefud, SIGHUP);
	wx_wait_lines("wm-r-", 6, 10);
	wx_settle();
	h_sleep_ms(1000);
	cr_expect_eq(wx_lines_of("wm-r-", 6, 10), 60);
	h_wait_log(sb.klog, "reload ok", 0);
}

Test(wechat, a_kind_switch_takes_a_restart_with_its_own_state)
{
	char *kefud = h_build("kefud"), *log;

	wx_start_good(1, "");
	free(wx_say("wm-k", "你好"));
	wx_wait_sends("wm-k", NULL, 1);
	sb_config(&sb, "token", "");
	kill(sb.kefud, SIGHUP);
	h_wait_log(sb.klog,
	    "platform.kind changes from \"wechat-kf\" to "
	    "\"kefu\"",
	    0);
	/* Still serving 微信客服. */
	free(wx_say("wm-k", "在吗"));
	wx_wait_sends("wm-k", NULL, 2);
	kill(sb.kefud, SIGTERM);
	cr_expect_eq(h_wait_exit(sb.kefud), 0);
	{
		char *argv[] = {kefud, "-c", sb.conf, NULL};

		sb.kefud = 0;
		cr_expect_eq(h_wait_exit(h_spawn(argv, sb.klog)), 78);
	}
	log = h_read(sb.klog);
	cr_expect(strstr(log,
	              "holds the state of a platform of kind "
	              "\"wechat-kf\"") != NULL,
	    "%s", log);
	free(log);
	free(kefud);
}

Test(wechat, a_fifth_message_that_fails_keeps_its_lines)
{
	char *text = NULL;

	wx_start_good(8, "");
	/* The fifth send_msg is refused as busy more times than the driver
	 * tries: it and its joined lines fail back to the outbox, and go
	 * again, joined again. */
	sb_do(&sb,
	    "{\"cmd\":\"fault\",\"kind\":\"busy\",\"api\":"
	    "\"send_msg\",\"skip\":4,\"count\":4}");
	free(wx_say("wm-h", "你好"));
	wx_wait_sends("wm-h", NULL, 5);
	wx_settle();
	h_sleep_ms(500);
	cr_expect_eq(wx_sends("wm-h", NULL, &text), 5);
	cr_expect_eq(wx_lines_mark_n, 8, "%d of 8 lines", wx_lines_mark_n);
	cr_expect(text != NULL && strstr(text, "8/8") != NULL, "%s", text);
	cr_expect_eq(wx_stat("over_quota"), 0);
	cr_expect_eq(wx_stat("errcode_-1"), 4);
	free(text);
}

Test(wechat, a_backlog_comes_in_pages_and_is_answered_once)
{
	int n;

	wx_start_good(1, "");
	/* 450 messages at once: three pages of 200, pulled while has_more. */
	sb_do(&sb,
	    "{\"cmd\":\"burst\",\"n\":450,\"conversations\":45,"
	    "\"prefix\":\"wm-p-\"}");
	wx_wait_lines("wm-p-", 45, 10);
	wx_settle();
	h_sleep_ms(500);
	n = wx_lines_of("wm-p-", 45, 10);
	cr_expect_eq(n, 450, "%d replies to 450 messages", n);
	cr_expect_geq(wx_stat("pulls"), 3);
}

Test(wechat, messages_older_than_three_days_are_gone_from_the_platform)
{
	char *kefud = h_build("kefud");

	wx_start_good(1, "");
	free(wx_say("wm-o", "一"));
	wx_wait_sends("wm-o", NULL, 1);
	wx_settle();
	/* kefud is down for four days; one message waits all that time,
	 * one comes just before it is back. */
	kill(sb.kefud, SIGTERM);
	cr_expect_eq(h_wait_exit(sb.kefud), 0);
	free(wx_say("wm-o", "二"));
	sb_do(&sb, "{\"cmd\":\"advance\",\"seconds\":345600}");
	free(wx_say("wm-o", "三"));
	{
		char *argv[] = {kefud, "-c", sb.conf, NULL};

		sb.kefud = h_spawn(argv, sb.klog);
	}
	free(kefud);
	wx_wait_sends("wm-o", NULL, 2);
	wx_settle();
	h_sleep_ms(500);
	/* The platform keeps three days: the second is gone, the third is
	 * answered, once. */
	cr_expect_eq(wx_sends("wm-o", NULL, NULL), 2);
}

Test(wechat, a_queue_with_no_agent_receiving_tells_its_own_agents)
{
	/* lisi takes the queue but is not receiving (the fake's default):
	 * the customer waits in the queue, and lisi, not wangwu, reads the
	 * context. */
	wx_start_good(1,
	    "  notify = [\"wangwu\"];\n"
	    "  routes = { default = [\"lisi\"]; };\n");
	free(wx_say("wm-n", "转人工"));
	wx_wait_sends("wm-n", "send_msg_on_event", 1);
	wx_settle();
	h_sleep_ms(500);
	cr_expect_eq(wx_session_state("wm-n"), 2);
	cr_expect_eq(wx_inbox_count("lisi"), 1);
	cr_expect_eq(wx_inbox_count("wangwu"), 0);
}
