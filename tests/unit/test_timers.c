/*
 * Service timers under a controllable clock: nothing here sleeps.  What a
 * timer sends is read back from the outbox.
 */
#include "../harness.h"

#include <cjson/cJSON.h>
#include <libconfig.h>

#include "calendar.h"
#include "clock.h"
#include "conv.h"
#include "event.h"
#include "frame.h"
#include "outbox.h"
#include "store.h"
#include "timers.h"
#include "xmalloc.h"

#define T0 1763780400000LL
#define S(n) ((n)*1000LL)

static struct conf_conversations cv;
static struct conf_handoff ho;
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
	cv.wait_updates_max = 20;
	cv.nfollowups = 2;
	cv.followup_ms[0] = S(120);
	cv.followup_text[0] = "您好,请问还在吗?";
	cv.followup_ms[1] = S(300);
	cv.followup_text[1] = "您还有其他问题吗?";
	cv.close_after_ms = S(600);
	cv.close_text = "感谢您的咨询,祝您购物愉快!";
	cv.idle_evict_ms = S(1800);
	cv.max_live = 100000;
	memset(&ho, 0, sizeof(ho));
	ho.queue = "default";
	ho.no_agents_retry_ms = S(300);
	conv_configure(20);
	timers_configure(&cv, &ho);
	event_configure(&ho);
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
	calendar_use(NULL);
	outbox_on_no_agents(NULL);
	outbox_on_failed(NULL);
	outbox_link_down();
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
	cr_assert_lt(nids, 64, "more actions than a test expects");
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

/* An empty configured text sends nothing: the protocol's send needs 1 to
 * 2,000 characters, and an empty one would be refused as invalid. */
Test(timers, an_empty_text_sends_nothing)
{
	struct conv *c = conv_insert("c-9");

	cv.wait_update_text = "";
	conv_handoff(c, T0);
	cr_expect_eq(at(S(180)), 0);
	cr_expect_eq(at(S(400)), 0);
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

/* The frame of the action id in the outbox, or NULL. */
static char frame_of[8192];

static void
find_frame(const char *id, uint64_t seq, const char *frame)
{
	(void)seq;
	if (strcmp(id, frame_of) == 0)
		snprintf(frame_of, sizeof(frame_of), "%s", frame);
}

static cJSON *
action(const char *id)
{
	snprintf(frame_of, sizeof(frame_of), "%s", id);
	outbox_foreach(find_frame);
	return strcmp(frame_of, id) == 0 ? NULL : cJSON_Parse(frame_of);
}

static const char *
member(const cJSON *o, const char *name)
{
	const cJSON *m = cJSON_GetObjectItem(o, name);

	cr_assert(cJSON_IsString(m), "no %s in %s", name, cJSON_Print(o));
	return m->valuestring;
}

static void
result_no_agents(const char *id)
{
	char json[512], why[128];
	struct frame f;

	snprintf(json, sizeof(json),
	    "{\"op\":\"result\",\"id\":\"%s\",\"ok\":false,\"error\":{\"code\":\"no_agents\",\"message\":\"nobody\"}}",
	    id);
	cr_assert_eq(frame_parse(json, strlen(json), &f, why, sizeof(why)), 0,
	    "%s", why);
	outbox_result(f.id, f.ok, f.code, f.message, f.retry_after_ms);
	frame_free(&f);
}

/* A Shanghai calendar with the same duty hours every day, in use. */
static struct calendar *
shanghai_duty(const char *hours)
{
	struct calendar *cal;
	config_t cfg;
	char *path;

	dir = h_tmpdir();
	path = h_write(dir, "cal.conf",
	    "calendar = { timezone = \"Asia/Shanghai\"; duty = { mon = \"%s\"; "
	    "tue = \"%s\"; wed = \"%s\"; thu = \"%s\"; fri = \"%s\"; "
	    "sat = \"%s\"; sun = \"%s\"; }; };\n",
	    hours, hours, hours, hours, hours, hours, hours);
	config_init(&cfg);
	cr_assert(config_read_file(&cfg, path));
	cal = calendar_build(config_lookup(&cfg, "calendar"));
	config_destroy(&cfg);
	free(path);
	cr_assert_not_null(cal, "%s", h_log());
	calendar_use(cal);
	return cal;
}

/*
 * no_agents at night: the customer hears when agents are back, the bot
 * keeps the conversation, updates say so now and then, and the handoff
 * goes again at duty start with the same reason, queue and summary.  If
 * the platform still has nobody, again no sooner than the retry interval.
 */
Test(timers, no_agents_keeps_the_bot_and_asks_again_at_duty_start)
{
	/* Shanghai: T0 is Saturday 11:00; 22:00 is off duty. */
	const int64_t night = S(11 * 3600), morning = S(22 * 3600);
	struct calendar *cal;
	struct conv *c = conv_insert("c-1");
	cJSON *h, *n;
	char id[128];
	int64_t since;

	cal = shanghai_duty("09:00-21:00");
	ho.no_agents_text = "人工客服{when}上班后会第一时间为您处理";
	ho.no_agents_update_text = "人工客服{when}上班,请您放心";
	ho.no_agents_update_ms = S(3600);
	outbox_on_no_agents(event_no_agents);

	clock_set_wall(T0 + night);
	conv_add_line(c, 'c', "我要投诉", T0 + night);
	event_handoff(c, "h:m-1:1", 0, "complaint", "aftersale", "high",
	    "顾客投诉:我要投诉", T0 + night);
	cr_assert_eq(c->owner, CONV_WAITING);
	since = c->waiting_since;
	result_no_agents("h:m-1:1");

	cr_expect_eq(c->owner, CONV_BOT, "the bot must keep the conversation");
	cr_expect_eq(c->waiting_since, since);
	n = action("n:h:m-1:1");
	cr_assert_not_null(n, "the customer was not told");
	cr_expect_str_eq(member(n, "op"), "send");
	cr_expect_str_eq(member(n, "text"),
	    "人工客服明天09:00上班后会第一时间为您处理");
	cJSON_Delete(n);
	cr_expect_null(action("h:m-1:1"), "the refused handoff stayed queued");

	/* Night: one update an hour, no handoff. */
	cr_expect_eq(at(night + S(3599)), 1);
	cr_expect_eq(at(night + S(3600)), 2);
	snprintf(id, sizeof(id), "w:c-1:%lld:0", (long long)since);
	cr_expect_str_eq(ids[1], id);
	n = action(id);
	cr_expect_str_eq(member(n, "text"), "人工客服明天09:00上班,请您放心");
	cJSON_Delete(n);
	for (int64_t t = night + S(7200); t < morning; t += S(3600))
		at(t);
	cr_expect_eq(at(morning - S(1)), 11, "updates: one an hour");

	/* Duty start: the same handoff again, a new id. */
	at(morning);
	snprintf(id, sizeof(id), "p:c-1:%lld:1", (long long)since);
	h = action(id);
	cr_assert_not_null(h, "no handoff at duty start");
	cr_expect_str_eq(member(h, "op"), "handoff");
	cr_expect_str_eq(member(h, "reason"), "complaint");
	cr_expect_str_eq(member(h, "queue"), "aftersale");
	cr_expect_str_eq(member(h, "priority"), "high");
	cr_expect_str_eq(member(h, "summary"), "顾客投诉:我要投诉");
	cr_expect_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(h, "context"),
	                 "waiting_since")
	                 ->valuedouble,
	    (double)since);
	cJSON_Delete(h);
	cr_expect_eq(c->owner, CONV_WAITING);

	/* Still nobody, though the calendar says otherwise: again after
	 * no_agents_retry_ms, not every second. */
	result_no_agents(id);
	cr_expect_eq(c->owner, CONV_BOT);
	int before = at(morning + S(1));
	cr_expect_eq(at(morning + S(299)), before);
	at(morning + S(300));
	snprintf(id, sizeof(id), "p:c-1:%lld:2", (long long)since);
	h = action(id);
	cr_expect_not_null(h, "no second try after the retry interval");
	cJSON_Delete(h);
	calendar_use(NULL);
	calendar_free(cal);
}

/* The wall clock jumps back an hour (an NTP step) and forward again:
 * nothing fires twice, nothing is skipped for good. */
Test(timers, a_clock_jump_fires_nothing_twice)
{
	struct conv *c = conv_insert("c-j");

	conv_handoff(c, T0);
	cr_expect_eq(at(S(180)), 1);
	cr_expect_eq(at(S(180) - S(3600)), 1, "fired again after a jump back");
	cr_expect_eq(at(S(200)), 1);
	cr_expect_eq(at(S(360)), 2);
	cr_expect_eq(at(S(7200)), 3, "a jump forward: one update, not a burst");
}

/* A customer left waiting hears "please wait" wait_updates_max times,
 * then no more: not every three minutes all night. */
Test(timers, wait_updates_stop_at_their_limit)
{
	struct conv *c = conv_insert("c-w");

	cv.wait_updates_max = 3;
	conv_handoff(c, T0);
	cr_expect_eq(at(S(180)), 1);
	cr_expect_eq(at(S(360)), 2);
	cr_expect_eq(at(S(540)), 3);
	cr_expect_eq(at(S(720)), 3);
	cr_expect_eq(at(S(3600)), 3);
}

static char failed[4][64];
static int nfailed;

static void
on_failed(const char *frame, const char *code, const char *message)
{
	cJSON *o = cJSON_Parse(frame);

	(void)message;
	snprintf(failed[nfailed++], sizeof(failed[0]), "%s %s",
	    cJSON_GetObjectItem(o, "id")->valuestring, code);
	cJSON_Delete(o);
}

/*
 * An action too large for any frame (one an older version queued, say)
 * fails at once and leaves the outbox; it does not hold up the actions
 * behind it.
 */
Test(timers, an_action_that_cannot_be_sent_does_not_block_the_others)
{
	char *big = xcalloc(1, FRAME_MAX + 100);

	memset(big, 'x', FRAME_MAX + 99);
	outbox_on_failed(on_failed);
	nfailed = 0;
	outbox_add("big", 0, frame_send("big", "c-1", big, NULL));
	outbox_add("small", 0, frame_send("small", "c-1", "您好", NULL));
	outbox_link_up();
	cr_expect_eq(nfailed, 1);
	cr_expect_str_eq(failed[0], "big too_large");
	cr_expect_eq(outbox_pending(), 1);
	nids = 0;
	outbox_foreach(collect);
	cr_expect_str_eq(ids[0], "small");
	free(big);
}

/*
 * A handoff promised for later (no_agents: "明天09:00上班后…") and a bot
 * line that asked something: the customer going quiet must not close the
 * conversation and throw the promised call-back away.
 */
Test(timers, silence_does_not_close_a_promised_call_back)
{
	struct conv *c = conv_insert("c-p");

	c->waiting_since = T0;
	conv_handoff_refused(c,
	    "{\"reason\":\"human_request\",\"queue\":\"presale\","
	    "\"priority\":\"normal\",\"summary\":\"\",\"retry_at\":"
	    "9999999999999,\"try\":1}");
	c->asked_ms = T0 + S(10);
	cr_expect_eq(at(S(10) + S(601)), 0, "%s", ids[0]);
	cr_expect_eq(c->owner, CONV_BOT);
	cr_expect_not_null(kv_get(&c->store, CONV_PENDING),
	    "the promised call-back was dropped");
}

/*
 * no_agents during duty hours (agents at lunch, logged out): the customer
 * hears that agents are busy, once, not "agents are back today at <now>"
 * at every retry.
 */
Test(timers, no_agents_on_duty_says_busy_once)
{
	struct calendar *cal;
	struct conv *c = conv_insert("c-d");
	cJSON *n;
	char id[128];
	int64_t since;

	cal = shanghai_duty("00:00-24:00");
	ho.no_agents_text = "人工客服{when}上班后会第一时间为您处理";
	ho.no_agents_busy_text = "人工客服都在忙，会尽快为您处理";
	ho.no_agents_update_text = "人工客服{when}上班,请您放心";
	ho.no_agents_update_ms = S(60);
	outbox_on_no_agents(event_no_agents);

	clock_set_wall(T0);
	event_handoff(c, "h:m-9:1", 0, "human_request", "presale", "normal",
	    "转人工", T0);
	since = c->waiting_since;
	result_no_agents("h:m-9:1");
	n = action("n:h:m-9:1");
	cr_assert_not_null(n, "the customer was not told");
	cr_expect_str_eq(member(n, "text"), "人工客服都在忙，会尽快为您处理");
	cJSON_Delete(n);
	/* No "back at <now>" updates on duty; the retry, refused again,
	 * tells the customer nothing new. */
	at(S(299));
	snprintf(id, sizeof(id), "w:c-d:%lld:0", (long long)since);
	cr_expect_null(action(id), "an update with {when} on duty");
	at(S(300));
	snprintf(id, sizeof(id), "p:c-d:%lld:1", (long long)since);
	cr_assert_not_null(n = action(id), "no retry");
	cJSON_Delete(n);
	result_no_agents(id);
	snprintf(id, sizeof(id), "n:p:c-d:%lld:1", (long long)since);
	cr_expect_null(action(id), "told again at the retry");
	calendar_use(NULL);
	calendar_free(cal);
}

/*
 * A conversation id longer than the buffers action ids were built in:
 * every wait update still has an id of its own (the cut ids used to be
 * all the same, and the platform dropped all but the first).
 */
Test(timers, long_ids_keep_actions_apart)
{
	char long_id[401];
	struct conv *c;

	memset(long_id, 'x', 400);
	long_id[400] = '\0';
	c = conv_insert(long_id);
	conv_handoff(c, T0);
	cr_assert_eq(at(S(180)), 1);
	cr_assert_eq(at(S(360)), 2);
	cr_expect_str_neq(ids[0], ids[1]);
	cr_expect_lt(strlen(ids[0]), 120, "%s", ids[0]);
}

static size_t longest;

static void
measure(const char *id, uint64_t seq, const char *frame)
{
	(void)id;
	(void)seq;
	if (strlen(frame) > longest)
		longest = strlen(frame);
}

/*
 * Every action the core builds, at the largest its inputs allow, fits in
 * one frame: a handoff of a 1,000-line history of 500 characters each
 * that escape six-fold in JSON, with long names, product and entities; a
 * wait update, follow-up and close of 2,000 characters.
 */
Test(timers, every_action_at_its_maximum_size_fits_a_frame)
{
	char *line = xcalloc(1, 500 * 3 + 1), *big = xcalloc(1, 2000 * 3 + 1),
	     key[16];
	struct conv *c;
	int i;

	memset(line, 0x01, 500); /* \u0001 in JSON: six bytes each */
	for (i = 0; i < 2000; i++)
		memcpy(big + 3 * i, "长", 3);
	conv_configure(1000);
	cv.history = 1000;
	cv.wait_update_text = big;
	cv.close_text = big;
	cv.followup_text[0] = big;
	c = conv_insert("c-max");
	c->customer_id = strdup(big);
	c->customer_name = strdup(big);
	c->product = strdup(big);
	for (i = 0; i < 16; i++) {
		snprintf(key, sizeof(key), "e%d", i);
		kv_set(&c->entities, key, big);
	}
	for (i = 0; i < 1000; i++)
		conv_add_line(c, 'c', line, T0);
	event_handoff(c, "h:max", 0, "complaint", "aftersale", "high", big, T0);
	cr_assert_eq(at(S(180)), 2, "the handoff and a wait update");
	longest = 0;
	outbox_foreach(measure);
	cr_expect_leq(longest, FRAME_MAX, "a frame of %zu bytes", longest);

	c = conv_insert("c-max2");
	c->asked_ms = T0 + S(180);
	at(S(180) + S(120)); /* the follow-up */
	at(S(180) + S(600)); /* the close */
	longest = 0;
	outbox_foreach(measure);
	cr_expect_leq(longest, FRAME_MAX, "a frame of %zu bytes", longest);
	cr_expect_geq(outbox_pending(), 4);
	free(line);
	free(big);
}

/*
 * A night of no-agents updates does not use up the wait updates of the
 * wait that follows in the morning (the review's F3).
 */
Test(timers, a_night_of_no_agents_updates_leaves_the_wait_its_own)
{
	struct conv *c = conv_insert("c-n");
	int n;

	cv.wait_updates_max = 3;
	c->waiting_since = T0;
	conv_handoff_refused(c,
	    "{\"reason\":\"human_request\",\"queue\":"
	    "\"presale\",\"priority\":\"normal\","
	    "\"summary\":\"\",\"retry_at\":0,\"try\":1}");
	c->wait_updates = 11; /* said overnight */
	conv_handoff(c, T0 + S(36000));
	n = at(S(36000) + S(180));
	cr_expect_eq(n, 1, "no wait update after the night's");
	cr_expect_eq(at(S(36000) + S(360)), 2);
	cr_expect_eq(at(S(36000) + S(540)), 3);
	cr_expect_eq(at(S(36000) + S(720)), 3, "past the limit");
}

/* Actions in the outbox for conversation id. */
static int
actions_of(const char *id)
{
	int i, n = 0;

	for (i = 0; i < nids; i++)
		n += strstr(ids[i], id) != NULL;
	return n;
}

/* Conversations changed (conv_touch) since the flag was cleared. */
static int touched[3];
static const char *const touch_ids[] = {"c-w", "c-a", "c-p"};

static void
touch_seen(struct conv *c)
{
	int i;

	for (i = 0; i < 3; i++)
		if (strcmp(c->id, touch_ids[i]) == 0)
			touched[i] = 1;
}

/*
 * The loop fires each conversation's own timer, worked out when it last
 * fired or changed, not a pass over all of them.  Here the pass
 * (timers_run) runs every ten seconds over a day and a half, beside a
 * model of the loop's timers: each conversation's due time, worked out
 * again only when it is reached or the conversation changes, as
 * timers_fire() and the touch hook do.  Whenever the pass acts on a
 * conversation (a line said, a handoff asked again, a close), the model
 * says its timer was due; and the timers fire a bounded number of times,
 * not every step.  A customer waiting for an agent, one the bot asked,
 * and one whose handoff was refused at night.
 */
Test(timers, each_conversation_s_timer_is_due_whenever_a_pass_acts)
{
	const int64_t night = S(11 * 3600), step = S(10);
	struct calendar *cal = shanghai_duty("09:00-21:00");
	int64_t t, next[3], now;
	int before[3], fires = 0, i, n = 0;
	struct conv *c;

	ho.no_agents_text = "人工客服{when}上班后会第一时间为您处理";
	ho.no_agents_update_text = "人工客服{when}上班,请您放心";
	ho.no_agents_update_ms = S(3600);
	cv.wait_updates_max = 5;
	outbox_on_no_agents(event_no_agents);
	/* A store (in the calendar's directory): idle conversations can
	 * leave memory. */
	cr_assert_eq(store_open(dir, 0), 0, "%s", h_log());
	clock_set_wall(T0 + night);
	conv_handoff(conv_insert("c-w"), T0 + night);
	conv_insert("c-a")->asked_ms = T0 + night;
	c = conv_insert("c-p");
	conv_add_line(c, 'c', "我要投诉", T0 + night);
	event_handoff(c, "h:c-p:1", 0, "complaint", "aftersale", "high",
	    "顾客投诉", T0 + night);
	result_no_agents("h:c-p:1");
	at(night);
	conv_set_touch_hook(touch_seen);
	for (i = 0; i < 3; i++) {
		before[i] = actions_of(touch_ids[i]);
		next[i] = timers_due(conv_get(touch_ids[i], 0), T0 + night);
	}
	for (t = night + step; t < night + S(36 * 3600); t += step) {
		memset(touched, 0, sizeof(touched));
		n = at(t);
		now = T0 + t;
		cr_assert_eq(store_flush(), 0);
		for (i = 0; i < 3; i++) {
			if (actions_of(touch_ids[i]) != before[i]) {
				before[i] = actions_of(touch_ids[i]);
				cr_expect(next[i] > 0 && next[i] <= now,
				    "%s acted at +%lld s; its timer was due at "
				    "%+lld s",
				    touch_ids[i], (long long)t / 1000,
				    (long long)(next[i] - T0) / 1000);
			}
			if (!touched[i] && (next[i] == 0 || next[i] > now))
				continue;
			/* Fired, or changed: worked out again. */
			fires += next[i] != 0 && next[i] <= now;
			c = conv_get(touch_ids[i], 0);
			next[i] = c != NULL ? timers_due(c, now) : 0;
		}
	}
	conv_set_touch_hook(NULL);
	cr_expect_gt(n, 10, "the scenarios did next to nothing: %d actions", n);
	cr_expect_lt(fires, 200, "the timers fired %d times in 36 hours",
	    fires);
	calendar_use(NULL);
	calendar_free(cal);
}
