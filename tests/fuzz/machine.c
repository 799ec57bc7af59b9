/*
 * The conversation state machine, driven by a random sequence of steps:
 * platform events for a few conversations, results for queued actions
 * (every code the protocol has, and an unknown one), handoffs, time
 * passing (the service timers), reloads that change the history size,
 * and outages (the link down and up).  After each step the invariants
 * hold:
 *
 *   - every conversation has one known owner, and its transcript ring
 *     holds no more than its size;
 *   - no bot line (send, typing) waits in the outbox for a conversation
 *     an agent owns or that ended;
 *   - a customer's message is the last customer line of its transcript;
 *   - the outbox stays bounded.
 *
 * Frames sent go to a sink that takes them all (platform_set_sink), so the
 * outbox sends, keeps each conversation's order, and takes results for
 * what it sent.  No plugins run (no generation): the core's own lines
 * come from the timers, the no_agents and failure paths.  No loop: loop
 * timers (retries, result deadlines) do not fire.  No store: restarts are
 * the store tests' concern.
 */
#include "fuzz.h"

#include "calendar.h"
#include "clock.h"
#include "conf.h"
#include "event.h"
#include "frame.h"
#include "platform.h"
#include "outbox.h"
#include "timers.h"

#define M_CONVS 4
#define M_STEPS 48
#define M_T0 ((int64_t)1763780400000)

static struct conf_conversations cv;
static struct conf_handoff ho;
static uint64_t seq;
static char last_text[M_CONVS][32];

/* The platform's side of the link: every frame taken. */
static int
m_sink(char *frame)
{
	free(frame);
	return 0;
}

static void
m_setup(void)
{
	static int done;

	if (done)
		return;
	done = 1;
	fuzz_init();
	platform_set_sink(m_sink);
	cv.history = 20;
	cv.wait_update_ms = 180000;
	cv.wait_update_text = "人工客服正在接入，请您稍等";
	cv.wait_updates_max = 5;
	cv.nfollowups = 1;
	cv.followup_ms[0] = 120000;
	cv.followup_text[0] = "您好，请问还在吗？";
	cv.close_after_ms = 600000;
	cv.close_text = "感谢您的咨询";
	cv.idle_evict_ms = 1800000;
	cv.max_live = 100000;
	ho.queue = "default";
	ho.no_agents_text = "人工客服{when}上班后为您处理";
	ho.no_agents_busy_text = "人工客服都在忙";
	ho.no_agents_retry_ms = 300000;
	ho.no_agents_update_text = "人工客服{when}上班";
	ho.no_agents_update_ms = 3600000;
	ho.failed_text = "人工客服暂时无法接入";
	timers_configure(&cv, &ho);
	event_configure(&ho);
	outbox_on_no_agents(event_no_agents);
	outbox_on_failed(event_action_failed);
}

static void
m_event(const char *json)
{
	struct frame f;
	char why[256];

	if (frame_parse(json, strlen(json), &f, why, sizeof(why)) < 0)
		abort(); /* the fuzzer's own frames are well formed */
	event_handle(&f.ev, f.ev_type);
	frame_free(&f);
}

/* The id of the n-th queued action, into id (empty if none). */
static int m_pick, m_seen;
static char m_id[256];

static void
m_pick_one(const char *id, uint64_t s, const char *frame)
{
	(void)s;
	(void)frame;
	if (m_seen++ == m_pick)
		snprintf(m_id, sizeof(m_id), "%s", id);
}

static void
m_result(unsigned n, unsigned kind)
{
	static const char *const codes[] = {NULL, "rate_limited", "internal",
	    "invalid", "unknown_conversation", "no_agents", "surprise"};
	char json[512], why[256];
	struct frame f;

	m_pick = (int)(n % (outbox_pending() + 1));
	m_seen = 0;
	m_id[0] = '\0';
	outbox_foreach(m_pick_one);
	if (m_id[0] == '\0')
		return;
	kind %= sizeof(codes) / sizeof(*codes);
	if (codes[kind] == NULL)
		snprintf(json, sizeof(json),
		    "{\"op\":\"result\",\"id\":\"%s\",\"ok\":true}", m_id);
	else
		snprintf(json, sizeof(json),
		    "{\"op\":\"result\",\"id\":\"%s\",\"ok\":false,\"error\":"
		    "{\"code\":\"%s\",\"message\":\"fuzz\",\"retry_after_ms\":10}}",
		    m_id, codes[kind]);
	if (frame_parse(json, strlen(json), &f, why, sizeof(why)) < 0)
		abort();
	outbox_result(f.id, f.ok, f.code, f.message, f.retry_after_ms);
	frame_free(&f);
}

/* Invariant: no bot line queued for a conversation the bot does not own
 * (an agent has it, or it ended). */
static void
m_check_item(const char *id, uint64_t s, const char *frame)
{
	const char *p = strstr(frame, "\"conversation\":\"");
	char conv[16];
	struct conv *c;

	(void)id;
	(void)s;
	/* Frames are the core's own (frame_print): op first, ids plain. */
	if (p == NULL ||
	    (strncmp(frame, "{\"op\":\"send\"", 12) != 0 &&
	        strncmp(frame, "{\"op\":\"typing\"", 14) != 0))
		return;
	p += 16;
	snprintf(conv, sizeof(conv), "%.*s", (int)strcspn(p, "\""), p);
	if ((c = conv_get(conv, 0)) != NULL &&
	    (c->owner == CONV_AGENT || c->owner == CONV_CLOSED)) {
		fprintf(stderr, "a bot line for %s, owned by %s: %s\n", c->id,
		    conv_owner_name(c->owner), frame);
		abort();
	}
}

static void
m_check_conv(struct conv *c, void *arg)
{
	(void)arg;
	if (c->owner > CONV_CLOSED ||
	    (c->hist != NULL && c->hist_len > c->hist_cap)) {
		fprintf(stderr, "conversation %s: owner %d, %u lines in %u\n",
		    c->id, c->owner, c->hist_len, c->hist_cap);
		abort();
	}
}

static void
m_check(int steps)
{
	conv_foreach(m_check_conv, NULL);
	outbox_foreach(m_check_item);
	if (outbox_pending() > (size_t)(steps + 1) * 16) {
		fprintf(stderr, "%zu actions queued after %d steps\n",
		    outbox_pending(), steps);
		abort();
	}
}

/* The customer's line k is the last customer line of its transcript. */
static void
m_check_line(int k)
{
	char id[16];
	struct conv *c;
	unsigned i;

	snprintf(id, sizeof(id), "c-%d", k);
	if ((c = conv_get(id, 0)) == NULL)
		abort();
	for (i = c->hist_len; i > 0; i--)
		if (conv_line(c, i - 1)->from == 'c') {
			if (strcmp(conv_line(c, i - 1)->text, last_text[k]) !=
			    0)
				abort();
			return;
		}
	abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int64_t now = M_T0;
	char json[1024];
	size_t i;
	int step = 0;

	m_setup();
	conv_configure(20);
	clock_set_wall(now);
	seq = 0;
	for (i = 0; i + 1 < size && step < M_STEPS; i += 2, step++) {
		unsigned op = data[i] % 12, arg = data[i + 1];
		int k = (int)(arg % M_CONVS);

		if (op <= 4)
			seq++; /* each event its own seq */

		switch (op) {
		case 0: /* a customer writes */
			snprintf(last_text[k], sizeof(last_text[k]), "第%u句",
			    (unsigned)seq);
			snprintf(json, sizeof(json),
			    "{\"op\":\"event\",\"seq\":%llu,\"type\":\"message\","
			    "\"conversation\":\"c-%d\",\"customer\":{\"id\":"
			    "\"u-%d\"},\"message\":{\"id\":\"m-%llu\",\"kind\":"
			    "\"text\",\"text\":\"%s\",\"ts\":%lld}}",
			    (unsigned long long)seq, k, k,
			    (unsigned long long)seq, last_text[k],
			    (long long)now);
			m_event(json);
			m_check_line(k);
			break;
		case 1:
			snprintf(json, sizeof(json),
			    "{\"op\":\"event\",\"seq\":%llu,\"type\":"
			    "\"agent_joined\",\"conversation\":\"c-%d\","
			    "\"agent\":{\"id\":\"a-1\",\"name\":\"小王\"}}",
			    (unsigned long long)seq, k);
			m_event(json);
			break;
		case 2:
			snprintf(json, sizeof(json),
			    "{\"op\":\"event\",\"seq\":%llu,\"type\":"
			    "\"agent_message\",\"conversation\":\"c-%d\","
			    "\"agent\":{\"id\":\"a-1\"},\"message\":{\"id\":"
			    "\"am-%llu\",\"kind\":\"text\",\"text\":\"您好\"}}",
			    (unsigned long long)seq, k,
			    (unsigned long long)seq);
			m_event(json);
			break;
		case 3:
			snprintf(json, sizeof(json),
			    "{\"op\":\"event\",\"seq\":%llu,\"type\":"
			    "\"handoff_ended\",\"conversation\":\"c-%d\","
			    "\"by\":\"agent\"}",
			    (unsigned long long)seq, k);
			m_event(json);
			break;
		case 4:
			snprintf(json, sizeof(json),
			    "{\"op\":\"event\",\"seq\":%llu,\"type\":"
			    "\"conversation_closed\",\"conversation\":\"c-%d\","
			    "\"by\":\"customer\"}",
			    (unsigned long long)seq, k);
			m_event(json);
			break;
		case 5: {
			/* The bot hands over (as the escalate plugin would). */
			struct conv *c;
			char hid[64];

			snprintf(json, sizeof(json), "c-%d", k);
			c = conv_get(json, 1);
			if (c->owner != CONV_BOT)
				break;
			snprintf(hid, sizeof(hid), "h:fuzz-%d:%zu", k, i);
			conv_add_line(c, 'c', "转人工", now);
			event_handoff(c, hid, 0, "human_request", "presale",
			    "normal", NULL, now);
			break;
		}
		case 6:
		case 7: /* time passes: seconds to hours */
			now += (int64_t)(arg + 1) * (op == 6 ? 1000 : 60000);
			clock_set_wall(now);
			timers_run(now);
			break;
		case 8:
		case 9:
			m_result(arg, data[i] / 12);
			break;
		case 10: /* a reload changes the history size */
			conv_configure(20 + arg % 60);
			break;
		case 11: /* an outage, or the end of one */
			if (arg & 1)
				outbox_link_down();
			else
				outbox_link_up();
			break;
		}
		m_check(step);
	}
	outbox_link_down();
	outbox_clear();
	event_reset();
	conv_free_all();
	clock_set_wall(0);
	return 0;
}
