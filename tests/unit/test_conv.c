/* The owner state machine and the transcript, edge by edge. */
#include "../harness.h"

#include "conv.h"

static void
setup(void)
{
	h_log_capture();
	conv_configure(20);
}

static void
teardown(void)
{
	log_set_hook(NULL);
	conv_free_all();
}

TestSuite(conv, .init = setup, .fini = teardown);

static int
ev(struct conv *c, enum kefu_event_type type, const char *text)
{
	struct kefu_event e = {.type = type,
	    .conversation = c->id,
	    .customer_id = "u-1",
	    .text = text,
	    .ts_ms = 1000};

	if (type == KEFU_EV_AGENT_JOINED || type == KEFU_EV_AGENT_MESSAGE)
		e.customer_id = NULL;
	return conv_apply(c, &e, 2000);
}

Test(conv, bot_waiting_agent_bot)
{
	struct conv *c = conv_get("c-1", 1);

	cr_expect_eq(c->owner, CONV_BOT);
	cr_expect_eq(ev(c, KEFU_EV_OPENED, NULL), 1, "the bot greets");
	cr_expect_eq(ev(c, KEFU_EV_MESSAGE, "转人工"), 1);
	conv_handoff(c, 5000);
	cr_expect_eq(c->owner, CONV_WAITING);
	cr_expect_eq(c->waiting_since, 5000);
	cr_expect_eq(ev(c, KEFU_EV_MESSAGE, "还要等多久"), 0,
	    "plugins run while waiting");
	cr_expect_eq(ev(c, KEFU_EV_AGENT_JOINED, NULL), 0);
	cr_expect_eq(c->owner, CONV_AGENT);
	cr_expect_eq(c->waiting_since, 0);
	cr_expect_eq(ev(c, KEFU_EV_AGENT_MESSAGE, "您好,我是小李"), 0);
	cr_expect_eq(ev(c, KEFU_EV_MESSAGE, "好的"), 0,
	    "plugins run while an agent talks");
	cr_expect_eq(ev(c, KEFU_EV_HANDOFF_ENDED, NULL), 0);
	cr_expect_eq(c->owner, CONV_BOT);
	cr_expect_eq(ev(c, KEFU_EV_MESSAGE, "谢谢"), 1, "the bot resumes");
	cr_expect_not_null(strstr(h_log(), "conversation c-1: bot -> waiting"),
	    "%s", h_log());
	cr_expect_not_null(strstr(h_log(), "conversation c-1: agent -> bot"),
	    "%s", h_log());
}

Test(conv, any_to_closed_and_back)
{
	static const enum conv_owner from[] = {CONV_BOT, CONV_WAITING,
	    CONV_AGENT, CONV_CLOSED};
	struct conv *c = conv_get("c-2", 1);
	size_t i;

	for (i = 0; i < sizeof(from) / sizeof(*from); i++) {
		c->owner = from[i];
		ev(c, KEFU_EV_CLOSED, NULL);
		cr_expect_eq(c->owner, CONV_CLOSED, "from %s",
		    conv_owner_name(from[i]));
	}
	/* A closed conversation stays closed for agents ... */
	ev(c, KEFU_EV_AGENT_JOINED, NULL);
	ev(c, KEFU_EV_HANDOFF_ENDED, NULL);
	cr_expect_eq(c->owner, CONV_CLOSED);
	/* ... and reopens when the customer writes again. */
	cr_expect_eq(ev(c, KEFU_EV_MESSAGE, "我又来了"), 1);
	cr_expect_eq(c->owner, CONV_BOT);
	ev(c, KEFU_EV_CLOSED, NULL);
	cr_expect_eq(ev(c, KEFU_EV_OPENED, NULL), 1);
	cr_expect_eq(c->owner, CONV_BOT);
}

Test(conv, agent_joined_without_a_handoff_and_agent_first)
{
	struct conv *c = conv_get("c-3", 1);

	ev(c, KEFU_EV_AGENT_MESSAGE, "我来处理");
	cr_expect_eq(c->owner, CONV_AGENT, "an agent who talks owns it");
	ev(c, KEFU_EV_HANDOFF_ENDED, NULL);
	ev(c, KEFU_EV_AGENT_JOINED, NULL);
	cr_expect_eq(c->owner, CONV_AGENT);
	conv_handoff(c, 1);
	cr_expect_eq(c->owner, CONV_AGENT,
	    "a handoff never takes it from an agent");
}

Test(conv, transcript_keeps_the_last_lines_in_order)
{
	struct conv *c = conv_get("c-4", 1);
	char text[32];
	unsigned i;

	for (i = 0; i < 25; i++) {
		snprintf(text, sizeof(text), "line %u", i);
		conv_add_line(c, i % 2 ? 'b' : 'c', text, i);
	}
	cr_assert_eq(c->hist_len, 20);
	cr_expect_eq(c->lines, 25);
	cr_expect_str_eq(conv_line(c, 0)->text, "line 5");
	cr_expect_eq(conv_line(c, 0)->ts, 5);
	cr_expect_str_eq(conv_line(c, 19)->text, "line 24");
	cr_expect_null(conv_line(c, 20));
}

Test(conv, messages_without_text_in_the_transcript)
{
	struct conv *c = conv_get("c-5", 1);
	struct kefu_event e = {.type = KEFU_EV_MESSAGE,
	    .conversation = "c-5",
	    .message_kind = "product",
	    .text = "",
	    .product_title = "加厚羽绒服"};

	conv_apply(c, &e, 1);
	cr_expect_str_eq(conv_line(c, 0)->text, "加厚羽绒服");
	cr_expect_str_eq(c->product, "加厚羽绒服");
	e.message_kind = "image";
	e.product_title = NULL;
	conv_apply(c, &e, 2);
	cr_expect_str_eq(conv_line(c, 1)->text, "image");
}

Test(conv, changed_conversations_are_listed_once)
{
	struct conv *a = conv_get("c-a", 1), *b = conv_get("c-b", 1), *l;
	int n = 0;

	conv_take_dirty();
	ev(a, KEFU_EV_MESSAGE, "x");
	ev(a, KEFU_EV_MESSAGE, "y");
	ev(b, KEFU_EV_MESSAGE, "z");
	for (l = conv_take_dirty(); l != NULL; l = l->dirty_next)
		n++;
	cr_expect_eq(n, 2);
	cr_expect_null(conv_take_dirty());
	cr_expect_eq(conv_count(), 2);
	cr_expect_eq(conv_count_owner(CONV_BOT), 2);
	conv_forget(a);
	cr_expect_eq(conv_count(), 1);
	cr_expect_null(conv_get("c-a", 0));
}

/*
 * A reload may change conversations.history: each ring keeps the size it
 * has and takes the new one on its next line, keeping the newest lines.
 * Under ASan, indexing an old ring with the new size overflowed the heap.
 */
Test(conv, history_size_changed_by_a_reload)
{
	struct conv *a = conv_get("c-a", 1), *b;
	char text[16];
	unsigned i;

	for (i = 0; i < 25; i++) {
		snprintf(text, sizeof(text), "a%u", i);
		conv_add_line(a, 'c', text, i);
	}
	conv_configure(50);
	b = conv_get("c-b", 1);
	for (i = 25; i < 60; i++) {
		snprintf(text, sizeof(text), "a%u", i);
		conv_add_line(a, 'c', text, i);
		conv_add_line(b, 'c', text, i);
	}
	/* Grown to 50: the 20 it held (5..24) and the 35 new, newest 50. */
	cr_assert_eq(a->hist_len, 50);
	cr_expect_str_eq(conv_line(a, 0)->text, "a10");
	cr_expect_str_eq(conv_line(a, 49)->text, "a59");
	cr_expect_eq(b->hist_len, 35);

	conv_configure(20);
	conv_add_line(a, 'c', "last", 60);
	cr_assert_eq(a->hist_len, 20);
	cr_expect_str_eq(conv_line(a, 0)->text, "a41");
	cr_expect_str_eq(conv_line(a, 18)->text, "a59");
	cr_expect_str_eq(conv_line(a, 19)->text, "last");
	cr_expect_null(conv_line(a, 20));
	/* b is shrunk on its next line too; freeing both frees every line. */
	cr_expect_eq(b->hist_len, 35);
	cr_expect_str_eq(conv_line(b, 34)->text, "a59");
}

/* A line said in many conversations is kept once, and outlives any of
 * them: forgetting one, or its oldest lines leaving the history, leaves
 * the others' lines as they were (under ASan, any early free shows). */
Test(conv, a_line_shared_by_conversations_outlives_either)
{
	struct conv *a = conv_insert("c-a"), *b = conv_insert("c-b");
	char line[32];
	int i;

	conv_add_line(a, 'b', "您好，欢迎光临！", 1);
	conv_add_line(b, 'b', "您好，欢迎光临！", 2);
	cr_expect_eq(conv_line(a, 0)->text, conv_line(b, 0)->text,
	    "the same line is kept twice");
	conv_forget(a);
	cr_expect_str_eq(conv_line(b, 0)->text, "您好，欢迎光临！");
	for (i = 0; i < 25; i++) {
		snprintf(line, sizeof(line), "第%d句", i);
		conv_add_line(b, 'c', line, 3 + i);
	}
	cr_expect_eq(b->hist_len, 20);
	cr_expect_str_eq(conv_line(b, 0)->text, "第5句");
	cr_expect_str_eq(conv_line(b, 19)->text, "第24句");
	a = conv_insert("c-a");
	conv_add_line(a, 'c', "第24句", 30);
	cr_expect_eq(conv_line(a, 0)->text, conv_line(b, 19)->text);
}
