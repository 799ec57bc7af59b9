/*
 * Service timers under a controllable clock: nothing here sleeps.  What a
 * timer sends is read back from the outbox.
 */
#include "../harness.h"

#include "clock.h"
#include "conv.h"
#include "event.h"
#include "outbox.h"
#include "store.h"
#include "timers.h"

#define T0 1763780400000LL
#define S(n) ((n)*1000LL)

static struct conf_conversations cv;
static char ids[64][128];
static int nids;
static char *dir;

static void
setup(void)
{
	h_log_capture();
	memset(&cv, 0, sizeof(cv));
	cv.history = 20;
	cv.wait_update_ms = S(180);
	cv.wait_update_text = "人工客服正在接入,请您稍等";
	cv.nfollowups = 2;
	cv.followup_ms[0] = S(120);
	cv.followup_text[0] = "您好,请问还在吗?";
	cv.followup_ms[1] = S(300);
	cv.followup_text[1] = "您还有其他问题吗?";
	cv.close_after_ms = S(600);
	cv.close_text = "感谢您的咨询,祝您购物愉快!";
	cv.idle_evict_ms = S(1800);
	conv_configure(20);
	timers_configure(&cv);
	dir = NULL;
}

static void
teardown(void)
{
	store_close();
	outbox_clear();
	event_reset();
	conv_free_all();
	clock_set_wall(0);
	log_set_hook(NULL);
	if (dir != NULL) {
		h_rmrf(dir);
		free(dir);
	}
}

TestSuite(timers, .init = setup, .fini = teardown);

static void
collect(const char *id, uint64_t seq, const char *frame)
{
	(void)seq;
	(void)frame;
	snprintf(ids[nids++], sizeof(ids[0]), "%s", id);
}

/* Runs the timers at T0 + ms; returns how many actions the outbox holds,
 * their ids in ids[]. */
static int
at(int64_t ms)
{
	clock_set_wall(T0 + ms);
	timers_run(T0 + ms);
	nids = 0;
	outbox_foreach(collect);
	return nids;
}

Test(timers, wait_updates_every_interval_until_an_agent_joins)
{
	struct conv *c = conv_insert("c-1");
	struct kefu_event joined = {.type = KEFU_EV_AGENT_JOINED,
	    .conversation = "c-1"};

	conv_handoff(c, T0);
	cr_expect_eq(at(S(179)), 0);
	cr_expect_eq(at(S(180)), 1);
	cr_expect_str_eq(ids[0], "w:c-1:1763780400000:0");
	cr_expect_eq(at(S(181)), 1, "twice for one interval");
	cr_expect_eq(at(S(359)), 1);
	cr_expect_eq(at(S(360)), 2);
	cr_expect_str_eq(ids[1], "w:c-1:1763780400000:1");
	cr_expect_str_eq(conv_line(c, c->hist_len - 1)->text,
	    "人工客服正在接入,请您稍等");
	conv_apply(c, &joined, T0 + S(400));
	cr_expect_eq(at(S(2000)), 2,
	    "a wait update reached a customer who has an agent");
}

Test(timers, a_late_wait_update_fires_once)
{
	struct conv *c = conv_insert("c-2");

	conv_handoff(c, T0);
	/* Five intervals passed while kefud was down: one update, not five. */
	cr_expect_eq(at(S(900) + 5), 1);
	cr_expect_eq(at(S(901)), 1);
	cr_expect_eq(c->wait_due, T0 + S(900) + 5 + S(180));
	cr_expect_eq(at(S(1080) + 5), 2);
}

Test(timers, followups_then_a_polite_close)
{
	struct conv *c = conv_insert("c-3");

	c->asked_ms = T0;
	cr_expect_eq(at(S(119)), 0);
	cr_expect_eq(at(S(120)), 1);
	cr_expect_str_eq(ids[0], "f:c-3:1763780400000:0");
	cr_expect_eq(at(S(299)), 1);
	cr_expect_eq(at(S(300)), 2);
	cr_expect_str_eq(ids[1], "f:c-3:1763780400000:1");
	cr_expect_eq(at(S(599)), 2);
	cr_expect_eq(at(S(600)), 3);
	cr_expect_str_eq(ids[2], "c:c-3:1763780400000");
	cr_expect_eq(c->owner, CONV_CLOSED);
	cr_expect_eq(at(S(5000)), 3);
}

Test(timers, an_answer_stops_the_followups)
{
	struct conv *c = conv_insert("c-4");
	struct kefu_event msg = {.type = KEFU_EV_MESSAGE,
	    .conversation = "c-4",
	    .text = "在的"};

	c->asked_ms = T0;
	cr_expect_eq(at(S(120)), 1);
	conv_apply(c, &msg, T0 + S(130));
	cr_expect_eq(at(S(1000)), 1, "followed up a customer who answered");
}

Test(timers, after_an_outage_only_the_last_stage_happens)
{
	struct conv *c = conv_insert("c-5");

	c->asked_ms = T0;
	cr_expect_eq(at(S(700)), 1);
	cr_expect_str_eq(ids[0], "c:c-5:1763780400000");
	c = conv_insert("c-6");
	c->asked_ms = T0;
	cr_expect_eq(at(S(310)), 2);
	cr_expect_str_eq(ids[1], "f:c-6:1763780400000:1");
}

Test(timers, no_text_no_timer)
{
	struct conv *c = conv_insert("c-7");

	cv.wait_update_text = NULL;
	cv.nfollowups = 0;
	cv.close_text = NULL;
	conv_handoff(c, T0);
	conv_insert("c-8")->asked_ms = T0;
	cr_expect_eq(at(S(86400)), 0);
}

Test(timers, idle_conversations_leave_memory_but_not_the_store)
{
	struct conv *c;

	dir = h_tmpdir();
	cr_assert_eq(store_open(dir, 0), 0, "%s", h_log());
	c = conv_insert("c-9");
	conv_add_line(c, 'c', "你好", T0);
	c->last_ms = T0;
	cr_assert_eq(store_flush(), 0);
	at(S(1799));
	cr_expect_not_null(conv_get("c-9", 0));
	at(S(1801));
	cr_expect_null(conv_get("c-9", 0),
	    "an idle conversation stayed in memory");
	c = store_load_conv("c-9");
	cr_assert_not_null(c);
	cr_expect_str_eq(conv_line(c, 0)->text, "你好");
}
