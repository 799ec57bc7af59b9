/* The greeting plugin, loaded for real into a generation, on the test
 * clock (Shanghai time). */
#include "../generation.h"

#define CONF                                                                                                                                \
	"state_dir = \"state\";\n"                                                                                                          \
	"plugin_dir = \"%s/plugins\";\n"                                                                                                    \
	"plugins = [\"greeting\"];\n"                                                                                                       \
	"calendar = { holidays_file = \"%s/etc/kefu/holidays-cn.conf\"; };\n"                                                               \
	"greeting = {\n"                                                                                                                    \
	"  welcome = \"{daypart}好,欢迎光临!请问有什么可以帮您?\";\n"                                                         \
	"  holiday_welcome = \"{holiday}快乐!欢迎光临,请问有什么可以帮您?\";\n"                                              \
	"  product_welcome = \"{daypart}好!看到您在看「{product}」,请问有什么可以帮您?\";\n"                               \
	"  busy_welcome = \"您好,现在咨询的顾客较多,请您直接描述问题,我们会尽快回复。\";\n"                      \
	"  busy_threshold = %d;\n"                                                                                                          \
	"  short_reply = \"在的,请问有什么可以帮您?\";\n"                                                                        \
	"  closing = \"感谢您的咨询,祝您购物愉快!\";\n"                                                                         \
	"  greetings = [\"你好\", \"您好\", \"在吗\", \"在不在\", \"有人吗\", \"有人在吗\", \"hello\", \"hi\", \"在\"];\n" \
	"  thanks = [\"谢谢\", \"多谢\", \"感谢\", \"好的\", \"thanks\", \"再见\", \"拜拜\", \"bye\"];\n"                       \
	"};\n"

TestSuite(greeting, .init = gen_setup, .fini = gen_teardown);

static void
start(int busy)
{
	g = gen_from(CONF, KEFU_BUILD, KEFU_SRC, busy);
	cr_assert_not_null(g, "%s", h_log());
}

/* Shanghai local time (UTC+8) as ms since the epoch. */
static int64_t
sh(int y, int mo, int d, int h)
{
	struct tm tm = {.tm_year = y - 1900,
	    .tm_mon = mo - 1,
	    .tm_mday = d,
	    .tm_hour = h};

	return ((int64_t)timegm(&tm) - 8 * 3600) * 1000;
}

/* What the plugin answers to one event; "" for nothing. */
static const char *
say(const char *conv, enum kefu_event_type type, const char *text,
    const char *product)
{
	static char out[2048];
	struct kefu_event ev = {.type = type,
	    .conversation = conv,
	    .customer_id = "u-1",
	    .message_kind = "text",
	    .text = text != NULL ? text : "",
	    .product_title = product};
	struct kefu_turn t;

	turn_begin(&t, conv_get(conv, 1), &ev);
	gen_dispatch(g, &t, &ev);
	snprintf(out, sizeof(out), "%s", t.nact > 0 ? t.act[0].text : "");
	turn_end(&t);
	return out;
}

Test(greeting, welcome_by_daypart_then_short_answers)
{
	start(1000);
	clock_set_wall(sh(2026, 11, 23, 9));
	cr_expect_str_eq(say("c-1", KEFU_EV_MESSAGE, "在吗?", NULL),
	    "早上好,欢迎光临!请问有什么可以帮您?");
	cr_expect_str_eq(say("c-1", KEFU_EV_MESSAGE, "有人在吗???", NULL),
	    "在的,请问有什么可以帮您?");
	cr_expect_str_eq(say("c-1", KEFU_EV_MESSAGE, "Hello!", NULL),
	    "在的,请问有什么可以帮您?");
	cr_expect_str_eq(say("c-1", KEFU_EV_MESSAGE, "👋", NULL),
	    "在的,请问有什么可以帮您?");
	cr_expect_str_eq(say("c-1", KEFU_EV_MESSAGE, "这件有L码吗", NULL), "",
	    "a question is not a greeting");
	cr_expect_str_eq(say("c-1", KEFU_EV_MESSAGE, "好的,谢谢!", NULL),
	    "感谢您的咨询,祝您购物愉快!");
	clock_set_wall(sh(2026, 11, 23, 20));
	cr_expect_str_eq(say("c-2", KEFU_EV_OPENED, NULL, NULL),
	    "晚上好,欢迎光临!请问有什么可以帮您?");
	cr_expect_str_eq(say("c-2", KEFU_EV_MESSAGE, "你好", NULL),
	    "在的,请问有什么可以帮您?", "welcomed twice");
}

Test(greeting, a_question_first_gets_the_welcome_and_goes_on)
{
	struct kefu_event ev = {.type = KEFU_EV_MESSAGE,
	    .conversation = "c-3",
	    .customer_id = "u-1",
	    .message_kind = "text",
	    .text = "你好,什么时候发货"};
	struct kefu_turn t;

	start(1000);
	clock_set_wall(sh(2026, 11, 23, 15));
	turn_begin(&t, conv_get("c-3", 1), &ev);
	gen_dispatch(g, &t, &ev);
	cr_assert_eq(t.nact, 1);
	cr_expect_str_eq(t.act[0].text, "下午好,欢迎光临!请问有什么可以帮您?");
	turn_end(&t);
}

Test(greeting, holiday_product_and_busy)
{
	start(1000);
	clock_set_wall(sh(2026, 10, 1, 12));
	cr_expect_str_eq(say("c-4", KEFU_EV_OPENED, NULL, NULL),
	    "国庆节快乐!欢迎光临,请问有什么可以帮您?");
	clock_set_wall(sh(2026, 11, 23, 12));
	cr_expect_str_eq(say("c-5", KEFU_EV_OPENED, NULL, "加厚羽绒服"),
	    "中午好!看到您在看「加厚羽绒服」,请问有什么可以帮您?");
	gen_stop(g);
	gen_free(g);
	start(1);
	say("c-6", KEFU_EV_OPENED, NULL, NULL);
	cr_expect_str_eq(say("c-7", KEFU_EV_OPENED, NULL, NULL),
	    "您好,现在咨询的顾客较多,请您直接描述问题,我们会尽快回复。");
}

/* State an older generation left: any value of "greeted" means greeted. */
Test(greeting, state_left_by_an_older_generation)
{
	static const char *const stale[] = {"1", "", "0", "yes\nno", NULL};
	char conv[16];
	int i;

	start(1000);
	clock_set_wall(sh(2026, 11, 23, 9));
	for (i = 0; stale[i] != NULL; i++) {
		snprintf(conv, sizeof(conv), "g-%d", i);
		kv_set(&conv_get(conv, 1)->store,
		    "greeting\x1f"
		    "greeted",
		    stale[i]);
		cr_expect_str_eq(say(conv, KEFU_EV_MESSAGE, "在吗?", NULL),
		    "在的,请问有什么可以帮您?", "greeted \"%s\"", stale[i]);
	}
}

/*
 * Busy means many conversations began lately, not many kept in memory
 * (closed or idle ones are kept for half an hour): ten minutes on, the
 * same conversations in memory do not make the shop busy (L10).
 */
Test(greeting, busy_is_conversations_begun_lately)
{
	const char *r;

	start(1);
	clock_set_wall(sh(2026, 11, 23, 10));
	say("b-1", KEFU_EV_OPENED, NULL, NULL);
	cr_expect_str_eq(say("b-2", KEFU_EV_OPENED, NULL, NULL),
	    "您好,现在咨询的顾客较多,请您直接描述问题,我们会尽快回复。");
	clock_set_wall(sh(2026, 11, 23, 10) + 11 * 60000);
	r = say("b-3", KEFU_EV_OPENED, NULL, NULL);
	cr_expect(strstr(r, "较多") == NULL && strstr(r, "欢迎光临") != NULL,
	    "%s (%u conversations in memory)", r, conv_count());
}
