/*
 * Conversations end to end: the owner state machine seen from the
 * platform.  The bot never talks over a human, and the agent gets the
 * whole context.
 */
#include "../sandbox.h"

#include <time.h>

/*
 * Starts the sandbox and writes a configuration with the "good" test
 * plugin, the given sections and the sandbox as platform.
 */
static void
configure(const char *sections)
{
	sb_start_sandbox(&sb, "server", 15000);
	free(sb.conf);
	sb.conf = h_write(sb.dir, "kefud.conf",
	    "state_dir = \"state\";\nplugin_dir = \"%s/tests/plugins\";\n"
	    "plugins = [\"good\"];\n%s"
	    "platform = { url = \"wss://localhost:%d/bot\"; ca_file = \"certs/ca.pem\"; token_file = \"token\"; };\n",
	    KEFU_BUILD, sections, sb.port);
}

TestSuite(conversation, .init = sb_setup, .fini = sb_teardown, .timeout = 300);

static const char *
str(const cJSON *o, const char *name)
{
	const cJSON *m = cJSON_GetObjectItem(o, name);

	cr_assert(cJSON_IsString(m), "no string %s", name);
	return m->valuestring;
}

Test(conversation, handoff_silence_and_quiet_return)
{
	char *m1, *m2, *m3, *m4, *m5, *text = NULL;
	cJSON *h, *ctx, *tr, *line;

	configure("good = { reply = \"收到\"; handoff = \"转人工\"; };\n");
	sb_start_kefud(&sb);
	h_wait_log(sb.klog, "link: ready", 0);

	m1 = sb_say(&sb, "c-1", "羽绒服有货吗");
	sb_expect_one_reply(&sb, m1);
	m2 = sb_say(&sb, "c-1", "我要转人工");
	sb_expect_one_reply(&sb, m2);
	sb_replies(&sb, m2, &text);
	cr_expect_str_eq(text, "已为您转接人工客服,请稍等");

	sb_wait_ids(&sb, "h:", 1); /* after the reply, in order */
	h = sb_last_action(&sb, "handoff");
	cr_assert_not_null(h, "no handoff applied");
	cr_expect_str_eq(str(h, "conversation"), "c-1");
	cr_expect_str_eq(str(h, "reason"), "human_request");
	cr_expect_str_eq(str(h, "summary"), "顾客要求人工服务");
	cr_expect_str_eq(str(h, "priority"), "normal");
	ctx = cJSON_GetObjectItem(h, "context");
	cr_expect_str_eq(str(cJSON_GetObjectItem(ctx, "customer"), "id"),
	    "u-c-1");
	tr = cJSON_GetObjectItem(ctx, "transcript");
	cr_assert_eq(cJSON_GetArraySize(tr), 4, "transcript: %s",
	    cJSON_PrintUnformatted(tr));
	line = cJSON_GetArrayItem(tr, 0);
	cr_expect_str_eq(str(line, "from"), "customer");
	cr_expect_str_eq(str(line, "text"), "羽绒服有货吗");
	cr_expect(cJSON_IsNumber(cJSON_GetObjectItem(line, "ts")));
	cr_expect_str_eq(str(cJSON_GetArrayItem(tr, 1), "from"), "bot");
	cr_expect_str_eq(str(cJSON_GetArrayItem(tr, 2), "text"), "我要转人工");
	cr_expect_str_eq(str(cJSON_GetArrayItem(tr, 3), "text"),
	    "已为您转接人工客服,请稍等");
	cr_expect_str_eq(cJSON_GetArrayItem(cJSON_GetObjectItem(ctx, "intents"),
	                     0)
	                     ->valuestring,
	    "human_request");
	cr_expect_str_eq(str(cJSON_GetObjectItem(ctx, "entities"), "said"),
	    "我要转人工");
	cr_expect_eq(cJSON_GetObjectItem(ctx, "bot_turns")->valueint, 2);
	cr_expect_gt(cJSON_GetObjectItem(ctx, "waiting_since")->valuedouble,
	    1.7e12);
	cJSON_Delete(h);

	/* Waiting, then with an agent: the bot says nothing. */
	m3 = sb_say(&sb, "c-1", "还要等多久");
	sb_do(&sb, "{\"cmd\":\"agent_join\",\"conversation\":\"c-1\"}");
	sb_do(&sb,
	    "{\"cmd\":\"agent_say\",\"conversation\":\"c-1\",\"text\":\"您好,我是小李\"}");
	m4 = sb_say(&sb, "c-1", "好的");
	sb_settle(&sb);
	cr_expect_eq(sb_replies(&sb, m3, NULL), 0,
	    "the bot talked while the customer waited");
	cr_expect_eq(sb_replies(&sb, m4, NULL), 0,
	    "the bot talked over the agent");

	/* Handed back: the bot answers again. */
	sb_do(&sb, "{\"cmd\":\"agent_release\",\"conversation\":\"c-1\"}");
	m5 = sb_say(&sb, "c-1", "谢谢");
	sb_expect_one_reply(&sb, m5);
	h_wait_log(sb.klog, "conversation c-1: agent -> bot", 0);
	free(text);
	free(m1);
	free(m2);
	free(m3);
	free(m4);
	free(m5);
}

/* kill -9 while a customer waits for an agent: after the restart the
 * agent's queue still has them, and the wait updates go on. */
Test(conversation, restart_while_waiting_keeps_the_owner_and_the_updates)
{
	char *m1, *m2;
	size_t at;

	configure(
	    "good = { reply = \"收到\"; handoff = \"转人工\"; };\nconversations = { wait_update_ms = 700; wait_update_text = \"人工客服正在接入,请您稍等\"; };\n");
	sb_start_kefud(&sb);
	at = h_wait_log(sb.klog, "link: ready", 0);
	m1 = sb_say(&sb, "c-1", "转人工");
	sb_expect_one_reply(&sb, m1);
	sb_wait_ids(&sb, "w:c-1:", 1);

	kill(sb.kefud, SIGKILL);
	cr_expect_eq(h_wait_exit(sb.kefud), -SIGKILL);
	sb_start_kefud(&sb);
	at = h_wait_log(sb.klog, "conversations in memory: 1 ", at);
	h_wait_log(sb.klog, "link: ready", at);
	sb_wait_ids(&sb, "w:c-1:", 3);
	m2 = sb_say(&sb, "c-1", "还要多久");
	sb_settle(&sb);
	cr_expect_eq(sb_replies(&sb, m2, NULL), 0,
	    "the bot answered a waiting customer after the restart");
	cr_expect_eq(sb_state_num(&sb, "invalid"), 0);

	sb_do(&sb, "{\"cmd\":\"agent_join\",\"conversation\":\"c-1\"}");
	h_wait_log(sb.klog, "conversation c-1: waiting -> agent", at);
	sb_settle(&sb);
	int n = sb_count_ids(&sb, "w:c-1:");
	h_sleep_ms(2100); /* three intervals */
	cr_expect_eq(sb_count_ids(&sb, "w:c-1:"), n,
	    "wait updates went on while an agent talked");
	free(m1);
	free(m2);
}

/* Messages that waited through an outage: one apology per conversation,
 * then the answers, not a storm of apologies. */
Test(conversation, backlog_gets_one_apology)
{
	char cmd[256], *id[3];
	int64_t old = (int64_t)time(NULL) * 1000 - 300000;
	cJSON *res;
	int i;

	configure(
	    "good = { reply = \"收到\"; };\nconversations = { backlog_ms = 60000; backlog_apology = \"非常抱歉让您久等了。\"; };\n");
	/* Written while kefud was down, five minutes ago. */
	for (i = 0; i < 3; i++) {
		snprintf(cmd, sizeof(cmd),
		    "{\"cmd\":\"message\",\"conversation\":\"c-%d\",\"text\":\"在吗\",\"ts\":%lld}",
		    i < 2 ? 1 : 2, (long long)old + i);
		res = sb_ctl(&sb, cmd);
		id[i] =
		    strdup(cJSON_GetObjectItem(res, "message_id")->valuestring);
		cJSON_Delete(res);
	}
	sb_start_kefud(&sb);
	sb_wait_ids(&sb, "r:", 3);
	sb_settle(&sb);
	cr_expect_eq(sb_count_ids(&sb, "a:"), 2,
	    "one apology per conversation");
	cr_expect_eq(sb_replies(&sb, id[0], NULL), 2, "apology and answer");
	cr_expect_eq(sb_replies(&sb, id[1], NULL), 1, "a second apology");
	cr_expect_eq(sb_replies(&sb, id[2], NULL), 2);
	/* A fresh message: no apology. */
	free(id[0]);
	id[0] = sb_say(&sb, "c-1", "好的");
	sb_expect_one_reply(&sb, id[0]);
	for (i = 0; i < 3; i++)
		free(id[i]);
}

/* A plugin's reply reaches the customer only through the guard. */
Test(conversation, plugin_replies_pass_the_guard)
{
	char *m, *text = NULL;

	configure(
	    "good = { reply = \"亲,保证今天发货\"; };\nguard = { profile = \"jd\"; profiles = (\n  { name = \"jd\"; banned = [\"亲\"]; absolute = [\"保证\"];\n    substitutions = ( { from = \"亲,\"; to = \"您好,\"; }, { from = \"保证\"; to = \"尽量\"; } );\n    fallback = \"请您稍等。\"; } ); };\n");
	sb_start_kefud(&sb);
	h_wait_log(sb.klog, "link: ready", 0);
	m = sb_say(&sb, "c-1", "今天能发货吗");
	sb_expect_one_reply(&sb, m);
	sb_replies(&sb, m, &text);
	cr_expect_str_eq(text, "您好，尽量今天发货 (good 1.0.0)");
	free(text);
	free(m);
}

/*
 * An outage while a customer waits for an agent, and the agent takes the
 * conversation meanwhile: no "please wait" goes out at the reconnect,
 * neither from the timers during the outage nor queued before it (M1).
 */
Test(conversation, after_an_outage_no_stale_wait_update)
{
	char *m;
	size_t at;
	int before;

	configure("good = { reply = \"收到\"; handoff = \"转人工\"; };\n"
	          "conversations = { wait_update_ms = 1000; "
	          "wait_update_text = \"请您稍等\"; };\n");
	sb_start_kefud(&sb);
	at = h_wait_log(sb.klog, "link: ready", 0);
	m = sb_say(&sb, "c-1", "我要转人工");
	sb_wait_ids(&sb, "h:", 1);
	sb_do(&sb, "{\"cmd\":\"fault\",\"kind\":\"away\"}");
	at = h_wait_log(sb.klog, "link: lost", at);
	before = sb_count_ids(&sb, "w:");
	sb_do(&sb, "{\"cmd\":\"agent_join\",\"conversation\":\"c-1\"}");
	h_sleep_ms(3500); /* three wait intervals of outage */
	sb_do(&sb, "{\"cmd\":\"fault\",\"kind\":\"back\"}");
	at = h_wait_log(sb.klog, "link: ready", at);
	h_wait_log(sb.klog, "conversation c-1: waiting -> agent", at);
	sb_settle(&sb);
	h_sleep_ms(1500); /* a wait update would be due by now */
	cr_expect_eq(sb_count_ids(&sb, "w:"), before,
	    "a wait update reached a customer an agent has");
	free(m);
}
