/*
 * The escalate plugin's rules, loaded for real with the shipped knowledge
 * base and rules file: what it recognises in one message, the prices it
 * extracts, and a rules file it refuses.
 */
#include "../generation.h"

TestSuite(rules, .init = gen_setup, .fini = gen_teardown);

static struct gen *
start(const char *rules)
{
	return g = gen_from(
	           "state_dir = \"state\";\nplugin_dir = \"%s/plugins\";\n"
	           "plugins = [\"faq\", \"escalate\"];\n"
	           "faq = { kb = \"%s/etc/kefu/faq.conf\"; synonyms = \"%s/etc/kefu/synonyms.conf\";\n"
	           "  answer_percent = 80; clarify_percent = 60; };\n"
	           "escalate = { rules = %s; };\n"
	           "guard = { profiles = ( { name = \"default\"; absolute = [\"保证\"]; fallback = \"请稍等。\"; } ); };\n",
	           KEFU_BUILD, KEFU_SRC, KEFU_SRC, rules);
}

static const char *
shipped(void)
{
	static char path[1024];

	/* kefu's language layer, then the shop's own file. */
	snprintf(path, sizeof(path),
	    "[\"%s/etc/kefu/lang/escalate.conf\", \"%s/etc/kefu/escalate.conf\"]",
	    KEFU_SRC, KEFU_SRC);
	return path;
}

/*
 * One message in a fresh conversation: "reason[:price]", "offer[:price]"
 * or "-" (nothing recognised).
 */
static const char *
decide(const char *text)
{
	static char out[256];
	static int n;
	char conv[32];
	struct kefu_event ev = {.type = KEFU_EV_MESSAGE,
	    .customer_id = "u-1",
	    .message_kind = "text",
	    .text = text};
	struct kefu_turn t;
	const char *reason, *action, *price;
	struct conv *c;

	snprintf(conv, sizeof(conv), "c-%d", ++n);
	ev.conversation = conv;
	c = conv_get(conv, 1);
	conv_add_line(c, 'c', text, 0);
	turn_begin(&t, c, &ev);
	gen_dispatch(g, &t, &ev);
	reason = turn_note_get(&t, "reason");
	action = turn_note_get(&t, "action");
	price = turn_entity_get(&t, "offered_price");
	snprintf(out, sizeof(out), "%s%s%s",
	    action != NULL && strcmp(action, "offer") == 0 ? "offer"
	        : reason != NULL                           ? reason
	                                                   : "-",
	    price != NULL ? ":" : "", price != NULL ? price : "");
	turn_end(&t);
	return out;
}

Test(rules, reasons_prices_negations_and_everyday_words)
{
	static const char *const cases[][2] = {
	    {"150卖不卖", "offer:150"},
	    {"一百五行不行", "offer:150"},
	    {"两百块卖给我吧", "offer:200"},
	    {"一百零五可以吗", "offer:105"},
	    {"八十八块卖不卖", "offer:88"},
	    {"便宜20块吧", "offer"},
	    {"199元的那件还有吗", "-"},
	    {"满多少包邮", "-"},
	    {"能包邮吗", "-"}, /* a question about the postage rule */
	    {"转人工", "human_request"},
	    {"不用转人工了", "-"},
	    {"我不是要投诉", "-"},
	    {"我要投诉", "complaint"},
	    {"你们是不是有病", "angry"},
	    {"乳白色有S码吗", "-"},
	    {"性价比高吗", "-"},
	    {"我妈妈穿多大码", "-"},
	    {"今天能到吗???", "-"},
	    /* The language layer: traditional characters, process
	     * complaints, safety, quantities, English. */
	    {"我要投訴", "complaint"},
	    {"退款一个星期了还没到", "complaint"},
	    {"充电器冒烟了", "complaint"},
	    {"两台800行不行", "offer:800"},
	    {"凑个整吧", "offer"},
	    {"直播间才卖99", "offer"},
	    {"can i talk to a real person", "human_request"},
	    {"找你们经理", "human_request"},
	    /* Look-alikes: a word inside a longer everyday word. */
	    {"滚筒洗衣机怎么清洗", "-"},
	    {"有病号服吗", "-"},
	    {"usb线有多长", "-"},
	    {"退款多久到账", "-"},
	    /* A problem asked about before it happened, or as a question
	     * of the policy (complaint.asked, negations): the knowledge
	     * base answers it.  Told as what happened: a complaint. */
	    {"收到坏了怎么办", "-"},
	    {"漏液了能退吗", "-"},
	    {"万一发错了怎么处理", "-"},
	    {"收到就是坏的", "complaint"},
	    {"漏液了，你们怎么搞的", "complaint"},
	};
	size_t i;

	cr_assert_not_null(start(shipped()), "%s", h_log());
	for (i = 0; i < sizeof(cases) / sizeof(*cases); i++)
		cr_expect_str_eq(decide(cases[i][0]), cases[i][1], "for %s",
		    cases[i][0]);
}

/*
 * Hard cases decide before answers: faq runs first in this chain, and a
 * complaint that shares its words with an entry still goes to a person,
 * with no knowledge-base answer in the same turn; the plain question is
 * still answered.
 */
static int
answered_by(const char *text, const char *plugin_id, char *reason, size_t len)
{
	struct kefu_event ev = {.type = KEFU_EV_MESSAGE,
	    .conversation = text,
	    .customer_id = "u-1",
	    .message_kind = "text",
	    .text = text};
	struct kefu_turn t;
	const char *r, *id;
	struct conv *c = conv_get(text, 1);
	int faq;

	conv_add_line(c, 'c', text, 0);
	turn_begin(&t, c, &ev);
	gen_dispatch(g, &t, &ev);
	r = turn_note_get(&t, "reason");
	snprintf(reason, len, "%s", r != NULL ? r : "-");
	id = turn_note_get(&t, "faq.id");
	faq = id != NULL && strcmp(id, plugin_id) == 0 && t.nact > 0 &&
	    turn_note_get(&t, "reason") == NULL;
	turn_end(&t);
	return faq;
}

Test(rules, hard_cases_decide_before_answers)
{
	char reason[64];

	cr_assert_not_null(start(shipped()), "%s", h_log());
	cr_expect(
	    answered_by("退款多久到账", "refund-time", reason, sizeof(reason)));
	cr_expect_str_eq(reason, "-");
	cr_expect(!answered_by("退款多久到账？都一个星期了还没到，我要投诉",
	    "refund-time", reason, sizeof(reason)));
	cr_expect_str_eq(reason, "complaint");
	cr_expect(!answered_by("衣服有质量问题，你们就是骗子", "quality",
	    reason, sizeof(reason)));
	cr_expect(strcmp(reason, "angry") == 0 ||
	        strcmp(reason, "complaint") == 0,
	    "%s", reason);
}

Test(rules, a_bad_rules_file_is_refused_with_file_line_and_key)
{
	char *rules = h_write(dir, "bad.conf",
	    "negations = [\"不用\"];\n"
	    "angry = { words = [\"滚\"]; text = \"保证马上处理\"; summary = \"x\"; };\n"
	    "complaint = { text = \"抱歉\"; summary = \"y\"; };\n"
	    "bargain = { words = [\"便宜\"]; text = \"稍等\"; summary = \"z\"; colour = 1; };\n");

	char *list;

	cr_assert(asprintf(&list, "\"%s\"", rules) > 0);
	cr_expect_null(start(list));
	free(list);
	cr_expect_not_null(
	    strstr(h_log(),
	        "bad.conf:2: angry.text: holds \"保证\", which the style guard forbids"),
	    "%s", h_log());
	cr_expect_not_null(
	    strstr(h_log(),
	        "bad.conf:3: complaint.words: no words to recognise"),
	    "%s", h_log());
	cr_expect_not_null(strstr(h_log(), "bad.conf:4: bargain.colour"), "%s",
	    h_log());
	free(rules);
}

/* State an older generation left: any value of "offered" means the
 * shop's offer was made, so the next bargain goes to a person. */
Test(rules, state_left_by_an_older_generation)
{
	static const char *const stale[] = {"1", "", "150", "x\ny", NULL};
	struct kefu_event ev = {.type = KEFU_EV_MESSAGE,
	    .customer_id = "u-1",
	    .message_kind = "text",
	    .text = "150卖不卖"};
	struct kefu_turn t;
	char conv[16];
	struct conv *c;
	int i;

	cr_assert_not_null(start(shipped()), "%s", h_log());
	for (i = 0; stale[i] != NULL; i++) {
		snprintf(conv, sizeof(conv), "o-%d", i);
		ev.conversation = conv;
		c = conv_get(conv, 1);
		kv_set(&c->store,
		    "escalate\x1f"
		    "offered",
		    stale[i]);
		conv_add_line(c, 'c', ev.text, 0);
		turn_begin(&t, c, &ev);
		gen_dispatch(g, &t, &ev);
		cr_expect_str_eq(turn_note_get(&t, "reason"), "bargain",
		    "offered \"%s\"", stale[i]);
		cr_expect_null(turn_note_get(&t, "action"));
		turn_end(&t);
	}
}
