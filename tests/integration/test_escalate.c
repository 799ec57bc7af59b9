/*
 * Escalation end to end: the shipped configuration (greeting, faq and
 * escalate with etc/kefu's rules and texts) against the sandbox platform,
 * each handoff reason with the frame the platform applied checked field
 * by field.
 */
#include "../sandbox.h"

static void
configure(const char *retry)
{
	sb_config_shipped(&sb, retry, "");
	sb_start_kefud(&sb);
	h_wait_log(sb.klog, "link: ready", 0);
}

TestSuite(escalate, .init = sb_setup, .fini = sb_teardown, .timeout = 300);

/* The customer says hello first, so that the welcome is out of the way. */
static void
hello(const char *conv)
{
	char *m = sb_say(&sb, conv, "你好");

	sb_expect_one_reply(&sb, m);
	free(m);
}

static const char *
str(const cJSON *o, const char *name)
{
	const cJSON *m = cJSON_GetObjectItem(o, name);

	cr_assert(cJSON_IsString(m), "no string %s in %s", name,
	    cJSON_PrintUnformatted(o));
	return m->valuestring;
}

/* The handoff the platform applied for conversation conv; asserts one. */
static cJSON *
handoff_of(const char *conv)
{
	double end = h_now() + H_TIMEOUT_S;
	cJSON *h;

	for (;;) {
		h = sb_last_action(&sb, "handoff");
		if (h != NULL && strcmp(str(h, "conversation"), conv) == 0)
			return h;
		cJSON_Delete(h);
		cr_assert(h_now() < end, "no handoff for %s within %d s", conv,
		    H_TIMEOUT_S);
		h_sleep_ms(20);
	}
}

/* A customer message with more than text (a product, a VIP flag). */
static char *
say_json(const char *json)
{
	cJSON *res = sb_ctl(&sb, json);
	char *id = strdup(cJSON_GetObjectItem(res, "message_id")->valuestring);

	cJSON_Delete(res);
	return id;
}

/* Transcript line i from the end (0: the last). */
static const cJSON *
line_back(const cJSON *ctx, int i)
{
	const cJSON *tr = cJSON_GetObjectItem(ctx, "transcript");

	return cJSON_GetArrayItem(tr, cJSON_GetArraySize(tr) - 1 - i);
}

static int
has_intent(const cJSON *ctx, const char *intent)
{
	const cJSON *i;

	cJSON_ArrayForEach(i,
	    cJSON_GetObjectItem(ctx, "intents")) if (strcmp(i->valuestring,
	                                                 intent) == 0) return 1;
	return 0;
}

/*
 * Bargaining: the shop's offer once, then an agent, with the offered
 * price and the product the customer came from.
 */
Test(escalate, bargain_offer_once_then_an_agent)
{
	char *m1, *m2, *text = NULL;
	cJSON *h, *ctx, *en;

	configure(NULL);
	sb_do(&sb,
	    "{\"cmd\":\"open\",\"conversation\":\"c-b\",\"product\":{\"id\":\"p-1\",\"title\":\"加厚羽绒服\",\"price\":\"299.00\"}}");
	hello("c-b");
	m1 = sb_say(&sb, "c-b", "能便宜点吗");
	sb_expect_one_reply(&sb, m1);
	sb_replies(&sb, m1, &text);
	cr_expect(strstr(text, "活动价") != NULL, "no offer: %s", text);
	cr_expect_eq(sb_count_ids(&sb, "h:"), 0, "handed off at once");

	m2 = sb_say(&sb, "c-b", "150卖不卖");
	sb_expect_one_reply(&sb, m2);
	sb_replies(&sb, m2, &text);
	cr_expect_str_eq(text,
	    "这个价格需要请示一下同事，已为您转接人工客服，请您稍等，您不用重复说明情况。");
	h = handoff_of("c-b");
	cr_expect_str_eq(str(h, "reason"), "bargain");
	cr_expect_str_eq(str(h, "queue"), "presale");
	cr_expect_str_eq(str(h, "priority"), "normal");
	cr_expect_str_eq(str(h, "summary"),
	    "顾客议价：想以150元购买「加厚羽绒服」，已说明当前优惠");
	ctx = cJSON_GetObjectItem(h, "context");
	en = cJSON_GetObjectItem(ctx, "entities");
	cr_expect_str_eq(str(en, "offered_price"), "150");
	cr_expect_str_eq(str(en, "product"), "加厚羽绒服");
	cr_expect(has_intent(ctx, "bargain"));
	/* Oldest first, ending with this exchange. */
	cr_expect_str_eq(str(line_back(ctx, 0), "from"), "bot");
	cr_expect_str_eq(str(line_back(ctx, 0), "text"), text);
	cr_expect_str_eq(str(line_back(ctx, 1), "text"), "150卖不卖");
	cr_expect_str_eq(str(line_back(ctx, 2), "from"), "bot");
	cr_expect(strstr(str(line_back(ctx, 2), "text"), "活动价") != NULL);
	cr_expect_str_eq(str(line_back(ctx, 3), "text"), "能便宜点吗");
	cr_expect_str_eq(str(line_back(ctx, 3), "from"), "customer");
	cr_expect_geq(cJSON_GetObjectItem(line_back(ctx, 0), "ts")->valuedouble,
	    cJSON_GetObjectItem(line_back(ctx, 3), "ts")->valuedouble);
	cr_expect_geq(cJSON_GetObjectItem(ctx, "bot_turns")->valueint, 2);
	cr_expect_gt(cJSON_GetObjectItem(ctx, "waiting_since")->valuedouble,
	    1.7e12);
	cJSON_Delete(h);
	free(text);
	free(m1);
	free(m2);
}

/* A complaint about an order: aftersale, one level above high. */
Test(escalate, complaint_about_an_order_is_urgent)
{
	char *m, *text = NULL;
	cJSON *h, *ctx;

	configure(NULL);
	m = sb_say(&sb, "c-c", "订单202611230001234收到衣服破了个洞");
	sb_wait_ids(&sb, "h:", 1);
	h = handoff_of("c-c");
	cr_expect_str_eq(str(h, "reason"), "complaint");
	cr_expect_str_eq(str(h, "queue"), "aftersale");
	cr_expect_str_eq(str(h, "priority"), "urgent");
	cr_expect_str_eq(str(h, "summary"),
	    "顾客投诉(订单202611230001234)：订单202611230001234收到衣服破了个洞");
	ctx = cJSON_GetObjectItem(h, "context");
	cr_expect_str_eq(str(cJSON_GetObjectItem(ctx, "entities"), "order_id"),
	    "202611230001234");
	cr_expect(has_intent(ctx, "complaint"));
	cr_expect_str_eq(str(cJSON_GetObjectItem(ctx, "customer"), "id"),
	    "u-c-c");
	/* The apology alone: not the FAQ's quality answer, and no cheerful
	 * welcome in front of a complaint (the claim silences the others). */
	sb_settle(&sb);
	cr_expect_eq(sb_replies(&sb, m, &text), 1);
	cr_expect_str_eq(text,
	    "非常抱歉给您带来了不好的体验，您的问题已经转给售后专员处理，请您稍等，您不用重复说明情况。");
	cJSON_Delete(h);
	free(text);
	free(m);
}

/* Abuse goes to the complaints queue at once; emphasis alone does not. */
Test(escalate, anger_escalates_emphasis_does_not)
{
	char *m1, *m2, *m3;
	cJSON *h;

	configure(NULL);
	hello("c-e");
	m1 = sb_say(&sb, "c-e", "今天能到吗???");
	m2 = sb_say(&sb, "c-e", "谢谢!!!");
	sb_expect_one_reply(&sb, m2);
	sb_settle(&sb);
	cr_expect_eq(sb_count_ids(&sb, "h:"), 0, "emphasis was escalated");

	m3 = sb_say(&sb, "c-a", "你们是不是有病");
	h = handoff_of("c-a");
	cr_expect_str_eq(str(h, "reason"), "angry");
	cr_expect_str_eq(str(h, "queue"), "complaints");
	cr_expect_str_eq(str(h, "priority"), "urgent");
	cr_expect_str_eq(str(h, "summary"), "顾客情绪激动：你们是不是有病");
	cJSON_Delete(h);
	free(m1);
	free(m2);
	free(m3);
}

/*
 * A VIP asks for a person after a long chat: one level up, and the agent
 * gets at least the last 20 lines, oldest first.
 */
Test(escalate, human_request_from_a_vip_with_the_whole_transcript)
{
	static const char *const questions[] = {"有优惠券吗", "可以发顺丰吗",
	    "几天能到", "退货运费谁出", "能开发票吗", "会起球吗", "是纯棉的吗",
	    "怎么洗", "有大码吗", "可以用花呗吗", NULL};
	char cmd[512], *m, *text = NULL;
	const cJSON *tr, *l;
	cJSON *h;
	int i, n;

	configure(NULL);
	hello("c-v");
	for (i = 0; questions[i] != NULL; i++) {
		snprintf(cmd, sizeof(cmd),
		    "{\"cmd\":\"message\",\"conversation\":\"c-v\",\"text\":\"%s\",\"customer\":{\"id\":\"u-v\",\"name\":\"王女士\",\"vip\":true}}",
		    questions[i]);
		m = say_json(cmd);
		sb_expect_one_reply(&sb, m);
		free(m);
	}
	m = say_json(
	    "{\"cmd\":\"message\",\"conversation\":\"c-v\",\"text\":\"转人工\",\"customer\":{\"id\":\"u-v\",\"name\":\"王女士\",\"vip\":true}}");
	h = handoff_of("c-v");
	sb_replies(&sb, m, &text);
	cr_expect_str_eq(str(h, "reason"), "human_request");
	cr_expect_str_eq(str(h, "queue"), "presale");
	cr_expect_str_eq(str(h, "priority"), "high", "a VIP is one level up");
	cr_expect_str_eq(str(h, "summary"), "顾客要求人工服务：转人工");
	tr = cJSON_GetObjectItem(cJSON_GetObjectItem(h, "context"),
	    "transcript");
	n = cJSON_GetArraySize(tr);
	cr_expect_geq(n, 20, "transcript of %d lines", n);
	cr_expect_str_eq(str(cJSON_GetArrayItem(tr, n - 2), "text"), "转人工");
	cr_expect_str_eq(str(cJSON_GetArrayItem(tr, n - 1), "text"), text);
	for (i = 1; i < n; i++) {
		l = cJSON_GetArrayItem(tr, i);
		cr_expect_geq(cJSON_GetObjectItem(l, "ts")->valuedouble,
		    cJSON_GetObjectItem(cJSON_GetArrayItem(tr, i - 1), "ts")
		        ->valuedouble,
		    "transcript out of order at %d", i);
	}
	cr_expect_str_eq(str(cJSON_GetObjectItem(cJSON_GetObjectItem(h,
	                                             "context"),
	                         "customer"),
	                     "name"),
	    "王女士");
	cJSON_Delete(h);
	free(text);
	free(m);
}

/* Two misses in a row: first a request to rephrase, then an agent. */
Test(escalate, unanswered_twice_then_an_agent)
{
	char *m1, *m2, *text = NULL;
	cJSON *h;

	configure(NULL);
	hello("c-u");
	m1 = sb_say(&sb, "c-u", "asdfgh qwe");
	sb_expect_one_reply(&sb, m1);
	sb_replies(&sb, m1, &text);
	cr_expect(strstr(text, "换个说法") != NULL, "%s", text);
	cr_expect_eq(sb_count_ids(&sb, "h:"), 0);
	m2 = sb_say(&sb, "c-u", "zxcv mnb");
	h = handoff_of("c-u");
	cr_expect_str_eq(str(h, "reason"), "unanswered");
	cr_expect_str_eq(str(h, "summary"), "机器人未能回答：zxcv mnb");
	cJSON_Delete(h);
	free(text);
	free(m1);
	free(m2);
}

/* The same question a third time. */
Test(escalate, the_same_question_a_third_time)
{
	char *m;
	cJSON *h;
	int i;

	configure(NULL);
	hello("c-r");
	for (i = 0; i < 2; i++) {
		m = sb_say(&sb, "c-r", "我的快递到底到哪里了");
		sb_expect_one_reply(&sb, m);
		free(m);
	}
	cr_expect_eq(sb_count_ids(&sb, "h:"), 0);
	m = sb_say(&sb, "c-r", "我的快递到底到哪里了");
	h = handoff_of("c-r");
	cr_expect_str_eq(str(h, "reason"), "repeated");
	cr_expect_str_eq(str(h, "queue"), "aftersale");
	cr_expect_str_eq(str(h, "priority"), "high");
	cJSON_Delete(h);
	free(m);
}

/*
 * After the handoff the bot is silent; after handoff_ended it answers
 * again, without a second welcome.
 */
Test(escalate, silent_with_an_agent_then_back_without_a_welcome)
{
	char *m1, *m2, *m3, *text = NULL;
	cJSON *h;

	configure(NULL);
	hello("c-s");
	m1 = sb_say(&sb, "c-s", "转人工");
	h = handoff_of("c-s");
	cJSON_Delete(h);
	sb_do(&sb, "{\"cmd\":\"agent_join\",\"conversation\":\"c-s\"}");
	m2 = sb_say(&sb, "c-s", "你好,我想问下尺码");
	sb_settle(&sb);
	cr_expect_eq(sb_replies(&sb, m2, NULL), 0,
	    "the bot talked over the agent");
	sb_do(&sb, "{\"cmd\":\"agent_release\",\"conversation\":\"c-s\"}");
	m3 = sb_say(&sb, "c-s", "有优惠券吗");
	sb_expect_one_reply(&sb, m3);
	sb_replies(&sb, m3, &text);
	cr_expect(strstr(text, "优惠券") != NULL &&
	        strstr(text, "欢迎") == NULL,
	    "not the FAQ answer alone: %s", text);
	free(text);
	free(m1);
	free(m2);
	free(m3);
}

/*
 * no_agents: the customer hears that agents are busy, the bot keeps
 * answering, and the handoff goes again once agents are there (every day
 * is on duty here, so after no_agents_retry_ms).
 */
Test(escalate, no_agents_then_again_when_agents_are_back)
{
	char *m1, *m2, *text = NULL;
	cJSON *h;

	configure("no_agents_retry_ms = 2000;");
	hello("c-n");
	sb_do(&sb, "{\"cmd\":\"agents\",\"on\":false}");
	m1 = sb_say(&sb, "c-n", "转人工");
	sb_wait_ids(&sb, "n:h:", 1);
	cr_expect_eq(sb_state_num(&sb, "no_agents"), 1);
	h = sb_last_action(&sb, "send");
	text = strdup(str(h, "text"));
	cJSON_Delete(h);
	/* Every day is on duty here: agents are busy, not "back today at
	 * <now>" (no_agents_busy_text). */
	cr_expect(strstr(text, "都在忙") != NULL &&
	        strstr(text, "上班") == NULL && strstr(text, "{when}") == NULL,
	    "%s", text);
	h_wait_log(sb.klog, "conversation c-n: waiting -> bot", 0);

	/* The bot keeps the conversation meanwhile. */
	m2 = sb_say(&sb, "c-n", "有优惠券吗");
	sb_expect_one_reply(&sb, m2);
	cr_expect_eq(sb_count_ids(&sb, "p:"), 0);

	sb_do(&sb, "{\"cmd\":\"agents\",\"on\":true}");
	sb_wait_ids(&sb, "p:c-n:", 1);
	h = handoff_of("c-n");
	cr_expect_str_eq(str(h, "reason"), "human_request");
	cr_expect_str_eq(str(h, "summary"), "顾客要求人工服务：转人工");
	cr_expect_str_eq(str(line_back(cJSON_GetObjectItem(h, "context"), 1),
	                     "text"),
	    "有优惠券吗"
	    /* the transcript goes on past the first try */
	    ,
	    "transcript: %s",
	    cJSON_PrintUnformatted(
	        cJSON_GetObjectItem(cJSON_GetObjectItem(h, "context"),
	            "transcript")));
	cJSON_Delete(h);
	free(text);
	free(m1);
	free(m2);
}

/* The shipped configuration with "history" and no flood limit. */
static void
configure_history(int lines)
{
	char with[256], *text;

	sb_config_shipped(&sb, NULL, "");
	snprintf(with, sizeof(with), "wait_updates_max = 20;\n\thistory = %d;",
	    lines);
	text = sb_subst(h_read(sb.conf), "wait_updates_max = 20;", NULL, with);
	text = sb_subst(text, "flood_per_minute = 30;", NULL,
	    "flood_per_minute = 0;");
	free(h_write(sb.dir, "kefud.conf", "%s", text));
	free(text);
	sb_start_kefud(&sb);
	h_wait_log(sb.klog, "link: ready", 0);
}

/*
 * A handoff with a long history fits in a frame: the oldest lines go, the
 * latest stay, and actions after it still flow.  (Over 64 KiB, the frame
 * used to stay at the head of the outbox for good, across restarts.)
 */
Test(escalate, a_long_transcript_is_cut_to_fit_in_a_frame)
{
	char text[1600], *m;
	const cJSON *tr;
	cJSON *h, *ctx;
	int i, n;

	configure_history(100);
	hello("c-l");
	m = sb_say(&sb, "c-l", "转人工");
	sb_wait_ids(&sb, "h:", 1);
	free(m);
	sb_do(&sb, "{\"cmd\":\"agent_join\",\"conversation\":\"c-l\"}");
	/* 60 lines of 500 characters while the agent has it: about 90 KB. */
	for (i = 0; i < 60; i++) {
		for (n = 0; n < 499; n++)
			memcpy(text + 3 * n, "长", 3);
		snprintf(text + 3 * n, sizeof(text) - 3 * n, "%d", i % 10);
		m = sb_say(&sb, "c-l", text);
		free(m);
	}
	sb_settle(&sb);
	sb_do(&sb, "{\"cmd\":\"agent_release\",\"conversation\":\"c-l\"}");
	sb_settle(&sb);
	m = sb_say(&sb, "c-l", "转人工");
	sb_wait_ids(&sb, "h:", 2);
	h = handoff_of("c-l");
	ctx = cJSON_GetObjectItem(h, "context");
	tr = cJSON_GetObjectItem(ctx, "transcript");
	cr_expect_lt(cJSON_GetArraySize(tr), 60, "nothing left out");
	cr_expect_gt(cJSON_GetArraySize(tr), 20, "too much left out");
	cr_expect_str_eq(str(line_back(ctx, 1), "text"), "转人工");
	h_wait_log(sb.klog, "lines of the transcript to fit in a frame", 0);
	cJSON_Delete(h);
	free(m);

	/* The outbox goes on. */
	hello("c-after");
}

/*
 * A handoff the platform refuses for good (a queue it does not know):
 * the customer is told, the bot takes the conversation back, and the
 * next question is answered, not met with "please wait" for ever.
 */
Test(escalate, a_refused_handoff_returns_the_customer_to_the_bot)
{
	char *m, *text = NULL;

	configure(NULL);
	hello("c-x");
	sb_do(&sb,
	    "{\"cmd\":\"fail_next\",\"code\":\"invalid\",\"op\":\"handoff\"}");
	m = sb_say(&sb, "c-x", "转人工");
	h_wait_log(sb.klog, "refused; back with the bot", 0);
	sb_settle(&sb);
	cr_expect_eq(sb_count_ids(&sb, "h:"), 0);
	cr_expect_eq(sb_count_ids(&sb, "x:h:"), 1, "the customer was not told");
	free(m);
	m = sb_say(&sb, "c-x", "有优惠券吗");
	sb_expect_one_reply(&sb, m);
	cr_expect_eq(sb_replies(&sb, m, &text), 1);
	cr_expect_null(strstr(text, "稍等"), "%s", text);
	free(text);
	free(m);
}
