/* The faq plugin with the shipped knowledge base, loaded for real. */
#include "../generation.h"

TestSuite(faq, .init = gen_setup, .fini = gen_teardown);

/* The faq plugin as shipped (language layer, stop words, calibrated
 * cut-offs), with faq_extra in its group and extra after it. */
static struct gen *
start_with(const char *kb, const char *faq_extra, const char *extra)
{
	return g = gen_from(
	           "state_dir = \"state\";\nplugin_dir = \"%s/plugins\";\nplugins = [\"faq\"];\n"
	           "faq = { kb = \"%s\"; synonyms = [\"%s/etc/kefu/lang/synonyms.conf\", \"%s/etc/kefu/synonyms.conf\"];\n"
	           "  stopwords = \"%s/etc/kefu/lang/stopwords-zh.txt\";\n"
	           "  clarify_intro = \"您是想问:\"; clarify_outro = \"请回复序号。\"; %s };\n%s",
	           KEFU_BUILD, kb, KEFU_SRC, KEFU_SRC, KEFU_SRC, faq_extra,
	           extra);
}

static struct gen *
start(const char *kb, const char *extra)
{
	return start_with(kb, "", extra);
}

static char *
shipped(void)
{
	static char kb[512];

	snprintf(kb, sizeof(kb), "%s/etc/kefu/faq.conf", KEFU_SRC);
	return kb;
}

/* The decision for one message: "id", "clarify:<text>", or
 * "none:<misses>"; the best candidate's id is left in top[]. */
static char top[256];

static const char *
ask(const char *conv, const char *text)
{
	static char out[2048];
	struct kefu_event ev = {.type = KEFU_EV_MESSAGE,
	    .conversation = conv,
	    .customer_id = "u-1",
	    .message_kind = "text",
	    .text = text};
	struct kefu_turn t;
	const char *v;

	turn_begin(&t, conv_get(conv, 1), &ev);
	gen_dispatch(g, &t, &ev);
	v = turn_note_get(&t, "faq.id");
	snprintf(top, sizeof(top), "%s", v != NULL ? v : "");
	if ((v = turn_note_get(&t, "action")) != NULL &&
	    strcmp(v, "clarify") == 0)
		snprintf(out, sizeof(out), "clarify:%s", t.act[0].text);
	else if (t.nact > 0)
		snprintf(out, sizeof(out), "%s", turn_note_get(&t, "faq.id"));
	else if ((v = turn_note_get(&t, "faq.unanswered")) != NULL)
		snprintf(out, sizeof(out), "none:%s", v);
	else
		snprintf(out, sizeof(out), "pass");
	turn_end(&t);
	return out;
}

/* Answered, or offered first when the shop's knowledge base is not sure
 * enough to answer: either way the customer sees the right entry first. */
Test(faq, paraphrases_find_their_answer)
{
	static const char *const cases[][2] = {
	    {"几天能到北京", "ship-days"},
	    {"发啥快递", "courier"},
	    {"可以发顺丰不", "courier"},
	    {"满多少包邮啊", "free-ship"},
	    {"退货运费谁承担", "return-fee"},
	    {"衣服破了个洞", "quality"},
	    {"我160斤穿多大码", "size-advice"},
	    {"有色差吗", "color-diff"},
	    {"能开发票吗", "invoice"},
	    {"怎么付钱", "pay"},
	    {"地址写错了能改吗", "wrong-addr"},
	    {"羽绒服怎么洗", "wash-down"},
	    {"還有貨嗎", "stock"},
	    {"退款多久到账？？", "refund-time"},
	    {"快件一直没动", "no-update"},
	    {"ＸＬ码偏大还是偏小", "size-fit"},
	};
	size_t i;

	cr_assert_not_null(start(shipped(), ""), "%s", h_log());
	for (i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		const char *r = ask(cases[i][0], cases[i][0]);

		cr_expect(strcmp(r, cases[i][1]) == 0 ||
		        (strncmp(r, "clarify:", 8) == 0 &&
		            strcmp(top, cases[i][1]) == 0),
		    "for %s: %s (best %s)", cases[i][0], r, top);
	}
}

/* Customers wrap the question in context; the clause that asks decides. */
Test(faq, the_question_inside_a_long_message)
{
	static const char *const cases[][2] = {
	    {"我在成都，上周买的那件羽绒服，想问下怎么洗", "wash-down"},
	    {"你好，我是老顾客了，昨天刚下的单，几天能到北京？", "ship-days"},
	    {"衣服收到了挺喜欢的，就是有个问题，能开发票吗", "invoice"},
	};
	size_t i;

	cr_assert_not_null(start(shipped(), ""), "%s", h_log());
	for (i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		ask(cases[i][0], cases[i][0]);
		cr_expect_str_eq(top, cases[i][1], "for %s", cases[i][0]);
	}
}

/*
 * With no cut-offs in the configuration, the plugin sets its own from
 * the knowledge base and says so; cut-offs set by hand win.
 */
Test(faq, cut_offs_are_calibrated_unless_set_by_hand)
{
	const char *a;

	cr_assert_not_null(start(shipped(), ""), "%s", h_log());
	cr_expect_not_null(strstr(h_log(), "faq: calibrated on "), "%s",
	    h_log());
	cr_expect_null(strstr(h_log(), "set by hand"), "%s", h_log());
	a = strstr(h_log(), "answer at ");
	cr_assert_not_null(a, "%s", h_log());
	cr_expect(atoi(a + 10) >= 50 && atoi(a + 10) <= 95, "%s", a);
	gen_teardown();
	gen_setup();

	/* A low cut-off by hand: a short paraphrase is answered outright. */
	cr_assert_not_null(start_with(shipped(),
	                       "answer_percent = 30; clarify_percent = 20;",
	                       ""),
	    "%s", h_log());
	cr_expect_not_null(strstr(h_log(), "answer at 30 % (set by hand)"),
	    "%s", h_log());
	cr_expect_str_eq(ask("c-1", "几天能到北京"), "ship-days");
}

Test(faq, off_topic_is_counted_as_unanswered)
{
	const char *r;

	cr_assert_not_null(start(shipped(), ""), "%s", h_log());
	r = ask("c-0", "今天天气不错");
	cr_expect(strncmp(r, "none:", 5) == 0 || strncmp(r, "clarify:", 8) == 0,
	    "small talk is never answered: %s", r);
	cr_expect_str_eq(ask("c-1", "你是机器人吗"), "none:1");
	cr_expect_str_eq(ask("c-1", "讲个笑话"), "none:2");
	cr_expect_str_eq(ask("c-1", "能开发票吗"), "invoice");
	cr_expect_str_eq(ask("c-1", "讲个笑话"), "none:1",
	    "an answer resets the count");
	cr_expect_str_eq(ask("c-1", "👍"), "pass",
	    "nothing to match is not a miss");
}

/* The entry whose first question the clarify text lists as "n. ". */
static const char *
listed(const char *clarify, int n)
{
	static const char *const ids[][2] = {{"怎么退货", "return-how"},
	    {"能七天无理由退货吗", "return7"}, {"退货运费谁出", "return-fee"}};
	char mark[8], q[128];
	const char *p;
	size_t i;

	snprintf(mark, sizeof(mark), "\n%d. ", n);
	if ((p = strstr(clarify, mark)) == NULL)
		return "(not listed)";
	p += strlen(mark);
	snprintf(q, sizeof(q), "%.*s", (int)strcspn(p, "\n"), p);
	for (i = 0; i < sizeof(ids) / sizeof(*ids); i++)
		if (strcmp(q, ids[i][0]) == 0)
			return ids[i][1];
	return "(unexpected question)";
}

Test(faq, clarify_then_pick_by_number_or_words)
{
	char shown[2048];
	const char *r;

	cr_assert_not_null(start(shipped(), ""), "%s", h_log());
	r = ask("c-1", "退货");
	cr_assert_not_null(strstr(r, "clarify:您是想问:\n1. "), "%s", r);
	cr_expect_not_null(strstr(r, "\n请回复序号。"), "%s", r);
	snprintf(shown, sizeof(shown), "%s", r);
	cr_expect_str_eq(ask("c-1", "2"), listed(shown, 2), "%s", shown);
	ask("c-2", "退货");
	cr_expect_str_eq(ask("c-2", "运费谁出"), "return-fee");
}

Test(faq, a_bad_knowledge_base_is_refused_with_file_line_and_key)
{
	char *kb = h_write(dir, "bad.conf",
	    "faq = (\n"
	    "  { id = \"a\"; questions = [\"x\"]; answer = \"好的\"; },\n"
	    "  { id = \"a\"; questions = [\"y\"]; answer = \"好\"; },\n"
	    "  { id = \"b\"; questions = [\"z\"]; answer = \"\"; },\n"
	    "  { id = \"c\"; questions = [\"w\"]; answer = \"保证今天到\"; },\n"
	    "  { id = \"d\"; answer = \"没有问题\"; }\n"
	    ");\n");

	cr_expect_null(start(kb,
	    "guard = { profiles = ( { name = \"default\"; absolute = [\"保证\"]; fallback = \"请稍等。\"; } ); };\n"));
	cr_expect_not_null(strstr(h_log(),
	                       "bad.conf:3: faq[1].id: \"a\" is used twice"),
	    "%s", h_log());
	cr_expect_not_null(strstr(h_log(), "bad.conf:4: faq[2].answer: empty"),
	    "%s", h_log());
	cr_expect_not_null(
	    strstr(h_log(),
	        "bad.conf:5: faq[3].answer: holds \"保证\", which the style guard forbids"),
	    "%s", h_log());
	cr_expect_not_null(
	    strstr(h_log(), "bad.conf:6: faq[4]: an entry needs id, questions"),
	    "%s", h_log());
	free(kb);
}

/*
 * A conversation's faq state outlives the generation that wrote it
 * (reloads, restarts): positions from an older version, ids a reload
 * removed, junk.  None of it may crash or answer another entry.
 */
Test(faq, state_left_by_an_older_generation)
{
	static const char *const stale[] = {"41,57", "2,3", "0", "", "-1",
	    "no-such-id\nnor-this", "\n\n\n", NULL};
	char junk[600], conv[16];
	const char *r;
	struct conv *c;
	int i;

	cr_assert_not_null(start(shipped(), ""), "%s", h_log());
	memset(junk, 'x', sizeof(junk) - 1);
	junk[sizeof(junk) - 1] = '\0';
	for (i = 0; stale[i] != NULL; i++) {
		snprintf(conv, sizeof(conv), "s-%d", i);
		c = conv_get(conv, 1);
		kv_set(&c->store,
		    "faq\x1f"
		    "clarify",
		    stale[i]);
		r = ask(conv, "1");
		cr_expect_eq(strncmp(r, "none:", 5), 0, "\"%s\" then 1: %s",
		    stale[i], r);
	}
	c = conv_get("s-junk", 1);
	kv_set(&c->store,
	    "faq\x1f"
	    "clarify",
	    junk);
	cr_expect_eq(strncmp(ask("s-junk", "2"), "none:", 5), 0);
	/* An id that is still there is still on offer, at its place. */
	c = conv_get("s-kept", 1);
	kv_set(&c->store,
	    "faq\x1f"
	    "clarify",
	    "gone-entry\ninvoice");
	cr_expect_str_eq(ask("s-kept", "2"), "invoice");
	/* A miss count from anywhere: counted on, never past its limit. */
	c = conv_get("s-many", 1);
	kv_set(&c->store,
	    "faq\x1f"
	    "unanswered",
	    "2147483647");
	cr_expect_str_eq(ask("s-many", "讲个笑话"), "none:1000");
	c = conv_get("s-neg", 1);
	kv_set(&c->store,
	    "faq\x1f"
	    "unanswered",
	    "-5");
	cr_expect_str_eq(ask("s-neg", "讲个笑话"), "none:1");
}

/*
 * A clarify list of entries whose first questions are very long: each is
 * shown clipped, and the text never runs past its buffer (a stack
 * overflow under ASan before).
 */
Test(faq, a_clarify_list_of_very_long_questions)
{
	char *kb, q[3][1600 * 3 + 16];
	const char *r;
	int e, i;

	for (e = 0; e < 3; e++) {
		int n = snprintf(q[e], sizeof(q[e]), "退货%d", e);

		for (i = 0; i < 1500; i++)
			n += snprintf(q[e] + n, sizeof(q[e]) - n, "%s",
			    i % 2 ? "货" : "退");
	}
	kb = h_write(dir, "long.conf",
	    "faq = (\n"
	    "  { id = \"a\"; questions = [\"%s\"]; answer = \"甲\"; },\n"
	    "  { id = \"b\"; questions = [\"%s\"]; answer = \"乙\"; },\n"
	    "  { id = \"c\"; questions = [\"%s\"]; answer = \"丙\"; }\n"
	    ");\n",
	    q[0], q[1], q[2]);
	cr_assert_not_null(start_with(kb,
	                       "answer_percent = 100; clarify_percent = 1;",
	                       ""),
	    "%s", h_log());
	r = ask("c-long", "退货");
	cr_assert(strncmp(r, "clarify:您是想问:\n1. 退货", 22) == 0, "%.200s",
	    r);
	cr_expect_not_null(strstr(r, "…\n2. "), "%.300s", r);
	cr_expect_not_null(strstr(r, "\n请回复序号。"), "the outro is lost");
	cr_expect_lt(strlen(r), 1000);
	free(kb);
}

/* An entry parked with enabled = false stays in the file, checked, and is
 * never answered; taking the line out brings it back. */
Test(faq, a_parked_entry_is_not_answered)
{
	static const char kb[] =
	    "faq = (\n"
	    " { id = \"ship-days\"; questions = [\"几天能到\", \"多久到货\"];\n"
	    "   answer = \"一般两到四天送达。\"; },\n"
	    " { id = \"presale\"; enabled = false;\n"
	    "   questions = [\"双十一预售什么时候发货\", \"预售多久发\"];\n"
	    "   answer = \"预售商品在十一月二十日前发出。\"; },\n"
	    " { id = \"invoice\"; questions = [\"能开发票吗\"]; answer = \"可以开电子发票。\"; }\n"
	    ");\n";
	char *path = h_write(dir, "kb.conf", "%s", kb), *text, *e;

	cr_assert_not_null(start(path, ""), "%s", h_log());
	cr_expect_str_eq(ask("c-1", "几天能到"), "ship-days");
	cr_expect_str_neq(ask("c-2", "预售多久发"), "presale");
	cr_expect_str_neq(top, "presale");
	cr_expect_not_null(strstr(h_log(),
	                       "(and some parked: enabled = false)"),
	    "%s", h_log());
	gen_stop(g);
	gen_free(g);
	/* Back in service: the same file with enabled = true. */
	text = strdup(kb);
	e = strstr(text, "enabled = false;");
	memcpy(e, "enabled = true; ", 16);
	free(h_write(dir, "kb.conf", "%s", text));
	cr_assert_not_null(start(path, ""), "%s", h_log());
	cr_expect_str_eq(ask("c-3", "预售多久发"), "presale");
	free(text);
	free(path);
}

/*
 * KEFU_FAQ_VERIFY: every ranking, the calibration's too, is checked
 * against the exhaustive one, bit for bit, and a difference aborts.  Many
 * messages, and the answers to the clarify lists they bring, on the
 * shipped knowledge base and on one of look-alike entries (ties).
 */
static void
verify_many(int n)
{
	static const char *const thing[] = {"羽绒服", "卫衣", "牛仔裤", "衬衫",
	    "毛衣", "外套"};
	static const char *const topic[] = {"发货", "快递", "退货", "尺码",
	    "色差", "发票", "付款", "洗", "包邮", "退款"};
	static const char *const ask_[] = {"怎么办", "多久", "可以吗", "有没有",
	    "能不能"};
	static const char *const then[] = {"1", "2", "3", "是的", "退货",
	    "多久", "运费谁出", "不是"};
	char text[256], conv[32];
	int i;

	for (i = 0; i < n; i++) {
		const char *t = thing[i % 6], *p = topic[i / 6 % 10],
		           *a = ask_[i / 60 % 5];

		snprintf(conv, sizeof(conv), "v-%d", i);
		switch (i % 5) {
		case 0:
			snprintf(text, sizeof(text), "%s%s%s", t, p, a);
			break;
		case 1:
			snprintf(text, sizeof(text), "%s%s", p, a);
			break;
		case 2:
			snprintf(text, sizeof(text), "我在成都，%s%s，%s？", t,
			    p, a);
			break;
		case 3:
			snprintf(text, sizeof(text), "%s", p);
			break;
		default:
			snprintf(text, sizeof(text), "%s%s 上周买的 %s", a, p,
			    t);
		}
		ask(conv, text);
		ask(conv, then[i % 8]);
	}
}

Test(faq, the_ranking_is_the_exhaustive_one)
{
	char *kb, *e;
	size_t len = 0, cap = 1 << 20;
	int i;

	setenv("KEFU_FAQ_VERIFY", "1", 1);
	cr_assert_not_null(start(shipped(), ""), "%s", h_log());
	verify_many(600);
	cr_expect_null(strstr(h_log(), "differs"), "%s", h_log());
	gen_stop(g);
	gen_free(g);
	/* Pairs of entries alike but for their ids: equal scores. */
	e = malloc(cap);
	len += snprintf(e + len, cap - len, "faq = (\n");
	for (i = 0; i < 300; i++) {
		static const char *const t[] = {"羽绒服", "卫衣", "牛仔裤",
		    "衬衫", "毛衣", "外套"};
		static const char *const p[] = {"发货", "快递", "退货", "尺码",
		    "色差", "发票", "付款", "洗", "包邮", "退款"};
		int j = i % 150;

		len += snprintf(e + len, cap - len,
		    "{ id = \"e%d\"; questions = [\"%s%s怎么办\", \"%s的%s多久\", \"请问%s可以吗\"]; keywords = [\"%s\"]; answer = \"第%d条。\"; }%s\n",
		    i, t[j % 6], p[j / 6 % 10], t[j % 6], p[j / 6 % 10],
		    p[j / 6 % 10], p[j / 15 % 10], i, i + 1 < 300 ? "," : "");
	}
	snprintf(e + len, cap - len, ");\n");
	kb = h_write(dir, "alike.conf", "%s", e);
	cr_assert_not_null(start(kb, ""), "%s", h_log());
	verify_many(600);
	gen_stop(g);
	gen_free(g);
	/* No keyword boost: an entry reached by keywords alone scores 0. */
	cr_assert_not_null(start_with(kb, "keyword_boost_percent = 0;", ""),
	    "%s", h_log());
	verify_many(600);
	unsetenv("KEFU_FAQ_VERIFY");
	free(kb);
	free(e);
}
