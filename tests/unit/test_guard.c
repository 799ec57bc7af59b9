/* The reply style guard: every profile rule, rewriting, the fallback, and
 * what a bad guard configuration says. */
#include "../harness.h"

#include "conf.h"
#include "guard.h"

static struct guard *g;
static char *dir;

static const char profiles[] =
    "guard = {\n"
    "  profile = \"%s\";\n"
    "  profiles = (\n"
    "    { name = \"default\";\n"
    "      absolute = [\"保证\", \"肯定\", \"绝对\", \"百分百\"];\n"
    "      forbidden = [\"不知道\", \"我也没办法\", \"这不是我的错\", \"你问我我问谁\"];\n"
    "      substitutions = ( { from = \"保证\"; to = \"尽量确保\"; },\n"
    "                        { from = \"肯定\"; to = \"应该\"; },\n"
    "                        { from = \"百分百\"; to = \"绝对\"; } );\n"
    "      fallback = \"您的问题我需要再确认一下,请您稍等。\"; },\n"
    "    { name = \"jd\"; extends = \"default\";\n"
    "      banned = [\"亲\", \"宝贝\", \"淘宝\"];\n"
    "      substitutions = ( { from = \"亲,\"; to = \"您好,\"; },\n"
    "                        { from = \"宝贝\"; to = \"商品\"; } ); }\n"
    "  );\n"
    "};\n"
    "%s";

static config_t cfg;

static struct guard *
build(const char *profile, const char *extra)
{
	char *conf = h_write(dir, "kefud.conf", profiles, profile, extra);

	config_init(&cfg);
	cr_assert(config_read_file(&cfg, conf), "%s", config_error_text(&cfg));
	free(conf);
	conf_error_reset();
	g = guard_build(config_lookup(&cfg, "guard"));
	guard_use(g);
	return g;
}

static void
setup(void)
{
	h_log_capture();
	dir = h_tmpdir();
	g = NULL;
}

static void
teardown(void)
{
	guard_free(g);
	config_destroy(&cfg);
	log_set_hook(NULL);
	h_rmrf(dir);
	free(dir);
}

TestSuite(guard, .init = setup, .fini = teardown);

static void
expect(const char *in, const char *out)
{
	char *got = guard_apply(in, "test", "c-1");

	cr_expect_str_eq(got, out, "for %s", in);
	free(got);
}

Test(guard, clean_text_is_untouched)
{
	cr_assert_not_null(build("default", ""), "%s", h_log());
	expect("您好，这款羽绒服有L码，下单后48小时内发货。",
	    "您好，这款羽绒服有L码，下单后48小时内发货。");
	cr_expect_null(strstr(h_log(), "guard"), "%s", h_log());
}

/*
 * ASCII punctuation between Chinese characters is written full-width, as
 * a shop writes it; times, numbered lists, addresses, English and an
 * ellipsis stay as they are.  Not a rewrite: nothing is logged.
 */
Test(guard, punctuation_between_chinese_is_full_width)
{
	cr_assert_not_null(build("default", ""), "%s", h_log());
	expect("您好,欢迎光临!请问有什么可以帮您?",
	    "您好，欢迎光临！请问有什么可以帮您？");
	expect("在吗??", "在吗？？");
	expect("注意:请在收货后确认;谢谢.", "注意：请在收货后确认；谢谢。");
	expect("人工客服明天09:00上班", "人工客服明天09:00上班");
	expect("您是想问:\n1. 今天能发货吗\n2. 什么时候发货",
	    "您是想问：\n1. 今天能发货吗\n2. 什么时候发货");
	expect("详见 www.example.com 页面", "详见 www.example.com 页面");
	expect("请稍等...", "请稍等...");
	expect("OK, no problem.", "OK, no problem.");
	expect("价格是12.5元", "价格是12.5元");
	cr_expect_null(strstr(h_log(), "guard"), "%s", h_log());
}

Test(guard, absolute_promises_are_rewritten)
{
	cr_assert_not_null(build("default", ""), "%s", h_log());
	expect("我们保证是正品,肯定今天发货",
	    "我们尽量确保是正品，应该今天发货");
	cr_expect_not_null(
	    strstr(h_log(),
	        "conversation c-1: guard rewrote a reply from test (profile default)"),
	    "%s", h_log());
}

/* 保证 -> 尽量确保 adds two characters: a reply at the platform's 2,000
 * rewritten past it would be refused by the platform, so the fallback
 * goes instead. */
Test(guard, a_rewrite_past_the_platforms_limit_gets_the_fallback)
{
	char in[8192], *got;
	int i, n = 0;

	cr_assert_not_null(build("default", ""), "%s", h_log());
	n += snprintf(in + n, sizeof(in) - n, "保证");
	for (i = 0; i < 1998; i++)
		n += snprintf(in + n, sizeof(in) - n, "好");
	got = guard_apply(in, "test", "c-1");
	cr_expect_str_eq(got, "您的问题我需要再确认一下，请您稍等。");
	cr_expect_not_null(strstr(h_log(),
	                       "too many characters after rewriting"),
	    "%s", h_log());
	free(got);
	/* At the limit after rewriting: still the rewrite. */
	in[n - 6] = '\0'; /* two 好 fewer: 1,998 characters, then 2,000 */
	got = guard_apply(in, "test", "c-1");
	cr_expect_eq(strncmp(got, "尽量确保", strlen("尽量确保")), 0, "%.40s",
	    got);
	free(got);
}

Test(guard, a_forbidden_phrase_gets_the_fallback)
{
	cr_assert_not_null(build("default", ""), "%s", h_log());
	expect("这个我也不知道", "您的问题我需要再确认一下，请您稍等。");
	cr_expect_not_null(
	    strstr(h_log(),
	        "guard blocked a reply from test: it holds forbidden \"不知道\" (profile default); sent the fallback"),
	    "%s", h_log());
	/* A substitution that leads to another rule is no escape. */
	expect("百分百正品", "您的问题我需要再确认一下，请您稍等。");
	expect("绝对没问题", "您的问题我需要再确认一下，请您稍等。");
}

Test(guard, jd_profile_extends_default)
{
	unsigned long rw, bl;

	cr_assert_not_null(build("jd", ""), "%s", h_log());
	expect("亲,宝贝已经发货了", "您好，商品已经发货了");
	expect("淘宝同款", "您的问题我需要再确认一下，请您稍等。");
	expect("保证正品", "尽量确保正品"); /* default's rules apply too */
	expect("亲爱的顾客", "您的问题我需要再确认一下，请您稍等。");
	guard_counts(&rw, &bl);
	cr_expect_geq(rw, 2);
	cr_expect_geq(bl, 2);
	/* The default profile alone says nothing about 亲. */
	guard_free(g);
	config_destroy(&cfg);
	cr_assert_not_null(build("default", ""), "%s", h_log());
	expect("亲,在的", "亲，在的");
}

Test(guard, templates_that_break_a_rule_are_listed)
{
	cr_assert_not_null(
	    build("default",
	        "conversations = { close_text = \"再见,我也没办法\"; };\n"),
	    "%s", h_log());
	cr_expect_eq(guard_lint(g,
	                 config_lookup(&cfg, "conversations.close_text"), NULL,
	                 "再见,我也没办法"),
	    1);
	cr_expect_not_null(
	    strstr(h_log(),
	        ":17: conversations.close_text: holds forbidden \"我也没办法\" (guard profile default)"),
	    "%s", h_log());
	cr_expect_eq(guard_lint(g,
	                 config_lookup(&cfg, "conversations.close_text"), NULL,
	                 "感谢您的咨询"),
	    0);
}

Test(guard, configuration_errors)
{
	cr_expect_null(build("tmall", ""));
	cr_expect_not_null(
	    strstr(h_log(),
	        ":2: guard.profile: no profile named \"tmall\" in guard.profiles"),
	    "%s", h_log());
}

Test(guard, a_fallback_must_pass_itself)
{
	char *conf = h_write(dir, "kefud.conf",
	    "guard = { profiles = ( { name = \"default\"; absolute = [\"保证\"]; fallback = \"保证马上回复\"; } ); };\n");

	config_init(&cfg);
	cr_assert(config_read_file(&cfg, conf));
	cr_expect_null(guard_build(config_lookup(&cfg, "guard")));
	cr_expect_not_null(
	    strstr(h_log(),
	        ":1: guard.profiles[0].fallback: contains \"保证\" itself"),
	    "%s", h_log());
	free(conf);
}
