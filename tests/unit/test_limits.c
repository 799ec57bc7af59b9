/*
 * Limits that protect kefud from one customer and from too many: flood
 * control (one polite line, then a quiet cool-down, counted) and the cap
 * on conversations in memory.
 */
#include "../generation.h"

#include "event.h"
#include "store.h"
#include "outbox.h"
#include "timers.h"

#define T0 1763780400000LL

TestSuite(limits, .init = gen_setup, .fini = gen_teardown);

/* What one customer message gets: the first reply's text, or "". */
static const char *
say(const char *text, int64_t at)
{
	static char out[512];
	struct kefu_event ev = {.type = KEFU_EV_MESSAGE,
	    .conversation = "c-1",
	    .customer_id = "u-1",
	    .message_kind = "text",
	    .text = text};
	struct kefu_turn t;

	clock_set_wall(at);
	out[0] = '\0';
	if (event_decide(g, conv_get("c-1", 1), &ev, &t)) {
		if (t.nact > 0)
			snprintf(out, sizeof(out), "%s", t.act[0].text);
		turn_end(&t);
	}
	return out;
}

Test(limits, a_flood_gets_one_line_then_quiet_then_answers_again)
{
	h_plugin(dir, "good", "good");
	g = gen_from(
	    "state_dir = \"state\";\nplugin_dir = \"%s\";\n"
	    "plugins = [\"good\"];\ngood = { reply = \"收到\"; };\n"
	    "conversations = { flood_per_minute = 3; flood_cooldown_ms = 30000;\n"
	    "  flood_text = \"您发送得太快了,请稍等片刻再发。\"; };\n",
	    dir);
	cr_assert_not_null(g, "%s", h_log());
	cr_expect_str_eq(say("1", T0), "收到 (good 1.0.0)");
	cr_expect_str_eq(say("2", T0 + 1000), "收到 (good 1.0.0)");
	cr_expect_str_eq(say("3", T0 + 2000), "收到 (good 1.0.0)");
	cr_expect_str_eq(say("4", T0 + 3000),
	    "您发送得太快了,请稍等片刻再发。");
	cr_expect_str_eq(say("5", T0 + 4000), "",
	    "answered during the cool-down");
	cr_expect_str_eq(say("6", T0 + 32000), "",
	    "a new minute has not begun");
	cr_expect_str_eq(say("7", T0 + 61000), "收到 (good 1.0.0)");
	/* Every message is in the transcript all the same (the replies go
	 * in when they are sent, not here). */
	cr_assert_eq(conv_get("c-1", 0)->hist_len, 7);
	cr_expect_str_eq(conv_line(conv_get("c-1", 0), 6)->text, "7");
	cr_expect_not_null(
	    strstr(h_log(), "conversation c-1: more than 3 messages a minute"),
	    "%s", h_log());
}

static void
collect(const char *id, uint64_t seq, const char *frame)
{
	(void)id;
	(void)seq;
	(void)frame;
}

/* The good test plugin, at most 10 conversations in memory. */
static void
start_max_live_10(void)
{
	h_plugin(dir, "good", "good");
	g = gen_from("state_dir = \"state\";\nplugin_dir = \"%s\";\n"
	             "plugins = [\"good\"];\ngood = { reply = \"收到\"; };\n"
	             "conversations = { max_live = 10; };\n",
	    dir);
	cr_assert_not_null(g, "%s", h_log());
}

Test(limits, over_max_live_the_longest_idle_leave_memory)
{
	char id[16];
	struct conv *c;
	int i;

	start_max_live_10();
	/* The store's clock too: its retention sees these as recent. */
	clock_set_wall(T0 + 20000);
	cr_assert_eq(store_open(dir, 0), 0, "%s", h_log());
	for (i = 0; i < 15; i++) {
		snprintf(id, sizeof(id), "c-%02d", i);
		c = conv_insert(id);
		conv_add_line(c, 'c', "你好", T0);
		c->last_ms = T0 + i * 1000; /* c-00 the longest idle */
	}
	conv_get("c-01", 0)->asked_ms = T0; /* a follow-up is due: stays */
	cr_assert_eq(store_flush(), 0);
	timers_run(T0 + 20000);
	cr_expect_eq(conv_count(), 10);
	cr_expect_null(conv_get("c-00", 0));
	cr_expect_not_null(conv_get("c-01", 0), "a busy conversation left");
	for (i = 2; i <= 5; i++) {
		snprintf(id, sizeof(id), "c-%02d", i);
		cr_expect_null(conv_get(id, 0), "%s stayed", id);
	}
	cr_expect_not_null(conv_get("c-06", 0));
	/* Out of memory, not lost. */
	c = store_load_conv("c-03");
	cr_assert_not_null(c);
	cr_expect_str_eq(conv_line(c, 0)->text, "你好");
	outbox_foreach(collect);
	store_close();
}

/*
 * Over max_live with nothing that may leave memory (every customer waits
 * for an agent): one warning, not a full scan and a warning every 100 ms.
 */
Test(limits, over_max_live_with_nothing_to_evict_warns_once)
{
	char id[16];
	const char *p;
	struct conv *c;
	int i, n = 0;

	start_max_live_10();
	cr_assert_eq(store_open(dir, 0), 0, "%s", h_log());
	for (i = 0; i < 15; i++) {
		snprintf(id, sizeof(id), "w-%02d", i);
		c = conv_insert(id);
		conv_handoff(c, T0);
	}
	cr_assert_eq(store_flush(), 0);
	for (i = 0; i < 50; i++)
		timers_run(T0 + 1000 + i * 100);
	cr_expect_eq(conv_count(), 15, "a waiting customer left memory");
	for (p = h_log(); (p = strstr(p, "over max_live")) != NULL; p++)
		n++;
	cr_expect_eq(n, 1, "%s", h_log());
	store_close();
}
