/* Frames from the platform: what is accepted, and why the rest is not. */
#include "../harness.h"

#include "frame.h"

static const struct bad {
	const char *in;
	const char *why;
} bad[] = {
    {"", "not JSON"},
    {"{\"op\":\"hello\"", "not JSON"},
    {"[1,2]", "not a JSON object"},
    {"\"hello\"", "not a JSON object"},
    {"{\"op\":7}", "no string member \"op\""},
    {"{\"x\":1}", "no string member \"op\""},
    {"{\"op\":\"hello\",\"x\":\"\xc3\x28\"}", "not valid UTF-8"},
    {"{\"op\":\"hello\",\"x\":\"\xed\xa0\x80\"}",
        "not valid UTF-8"}, /* surrogate */
    {"{\"op\":\"hello\",\"x\":\"\xc0\xaf\"}", "not valid UTF-8"}, /* overlong */
    {"{\"op\":\"hello\"}", "missing member \"heartbeat_ms\""},
    {"{\"op\":\"hello\",\"heartbeat_ms\":\"15000\"}",
        "member \"heartbeat_ms\" is not a number"},
    {"{\"op\":\"hello\",\"heartbeat_ms\":1.5}",
        "member \"heartbeat_ms\" is not a whole number >= 0"},
    {"{\"op\":\"hello\",\"heartbeat_ms\":5}",
        "member \"heartbeat_ms\" out of range (100 to 3600000)"},
    {"{\"op\":\"ready\",\"shop\":\"x\"}", "member \"shop\" is not an object"},
    {"{\"op\":\"event\",\"seq\":\"7\",\"type\":\"message\",\"conversation\":\"c\"}",
        "member \"seq\" is not a number"},
    {"{\"op\":\"event\",\"seq\":-1,\"type\":\"message\",\"conversation\":\"c\"}",
        "member \"seq\" is not a whole number >= 0"},
    {"{\"op\":\"event\",\"seq\":0,\"type\":\"message\",\"conversation\":\"c\"}",
        "member \"seq\" must be at least 1"},
    {"{\"op\":\"event\",\"seq\":1,\"type\":\"message\"}",
        "missing member \"conversation\""},
    {"{\"op\":\"event\",\"seq\":1,\"type\":\"message\",\"conversation\":[]}",
        "member \"conversation\" is not a string"},
    {"{\"op\":\"event\",\"seq\":1,\"type\":\"message\",\"conversation\":\"c\",\"customer\":{\"id\":\"u\"}}",
        "missing member \"message\""},
    {"{\"op\":\"event\",\"seq\":1,\"type\":\"message\",\"conversation\":\"c\",\"customer\":{\"id\":\"u\"},\"message\":{\"id\":\"m\",\"text\":5}}",
        "member \"text\" is not a string"},
    {"{\"op\":\"event\",\"seq\":1,\"type\":\"message\",\"conversation\":\"c\",\"customer\":{\"id\":\"u\",\"vip\":\"yes\"},\"message\":{\"id\":\"m\"}}",
        "member \"vip\" is not true or false"},
    {"{\"op\":\"event\",\"seq\":1,\"type\":\"agent_joined\",\"conversation\":\"c\"}",
        "missing member \"agent\""},
    {"{\"op\":\"result\",\"id\":\"r:1\"}",
        "member \"ok\" is not true or false"},
    {"{\"op\":\"result\",\"id\":\"r:1\",\"ok\":false}",
        "missing member \"error\""},
    {"{\"op\":\"result\",\"id\":\"r:1\",\"ok\":false,\"error\":{}}",
        "missing member \"code\""},
};

Test(frame, malformed_frames_are_refused_with_a_reason)
{
	const struct bad *b;
	struct frame f;
	char why[256];

	for (b = bad; b < bad + sizeof(bad) / sizeof(*bad); b++) {
		why[0] = '\0';
		cr_expect_eq(frame_parse(b->in, strlen(b->in), &f, why,
		                 sizeof(why)),
		    -1, "accepted: %s", b->in);
		cr_expect_str_eq(why, b->why, "for %s", b->in);
	}
}

static void
parse(const char *in, struct frame *f)
{
	char why[256];

	cr_assert_eq(frame_parse(in, strlen(in), f, why, sizeof(why)), 0,
	    "%s: %s", in, why);
}

Test(frame, message_event)
{
	struct frame f;

	parse(
	    "{\"op\":\"event\",\"seq\":42,\"type\":\"message\",\"conversation\":\"c-9\","
	    "\"customer\":{\"id\":\"u-1\",\"name\":\"张三\",\"vip\":true},"
	    "\"message\":{\"id\":\"m-1\",\"kind\":\"order\",\"text\":\"到哪了\",\"ts\":1763780400123,"
	    "\"order\":{\"id\":\"o-7\",\"status\":\"shipped\",\"amount\":\"199.00\"}},"
	    "\"future_member\":{\"ignored\":true}}",
	    &f);
	cr_expect_eq(f.op, FRAME_EVENT);
	cr_expect_eq(f.ev.type, KEFU_EV_MESSAGE);
	cr_expect_eq(f.ev.seq, 42);
	cr_expect_str_eq(f.ev.conversation, "c-9");
	cr_expect_str_eq(f.ev.customer_id, "u-1");
	cr_expect_str_eq(f.ev.customer_name, "张三");
	cr_expect_eq(f.ev.customer_vip, 1);
	cr_expect_str_eq(f.ev.message_id, "m-1");
	cr_expect_str_eq(f.ev.message_kind, "order");
	cr_expect_str_eq(f.ev.text, "到哪了");
	cr_expect_eq(f.ev.ts_ms, 1763780400123LL);
	cr_expect_str_eq(f.ev.order_id, "o-7");
	cr_expect_str_eq(f.ev.order_status, "shipped");
	frame_free(&f);
}

Test(frame, opened_from_a_product_page_and_text_defaults)
{
	struct frame f;

	parse(
	    "{\"op\":\"event\",\"seq\":1,\"type\":\"conversation_opened\",\"conversation\":\"c\","
	    "\"customer\":{\"id\":\"u\"},\"product\":{\"id\":\"p-1\",\"title\":\"加厚羽绒服\",\"price\":\"399.00\"}}",
	    &f);
	cr_expect_eq(f.ev.type, KEFU_EV_OPENED);
	cr_expect_str_eq(f.ev.product_title, "加厚羽绒服");
	cr_expect_null(f.ev.text);
	frame_free(&f);
	parse(
	    "{\"op\":\"event\",\"seq\":2,\"type\":\"message\",\"conversation\":\"c\","
	    "\"customer\":{\"id\":\"u\"},\"message\":{\"id\":\"m\",\"kind\":\"image\"}}",
	    &f);
	cr_expect_str_eq(f.ev.text, "");
	frame_free(&f);
}

/* Forward compatibility: a newer op or event type is not an error. */
Test(frame, unknown_op_and_event_type)
{
	struct frame f;

	parse("{\"op\":\"shop_updated\",\"x\":1}", &f);
	cr_expect_eq(f.op, FRAME_UNKNOWN);
	cr_expect_str_eq(f.opname, "shop_updated");
	frame_free(&f);
	parse(
	    "{\"op\":\"event\",\"seq\":3,\"type\":\"rating\",\"conversation\":\"c\"}",
	    &f);
	cr_expect_eq(f.op, FRAME_EVENT);
	cr_expect_eq(f.ev.type, 0);
	cr_expect_str_eq(f.ev_type, "rating");
	frame_free(&f);
}

Test(frame, result_hello_ready)
{
	struct frame f;

	parse(
	    "{\"op\":\"result\",\"id\":\"r:m-1:0\",\"ok\":false,\"error\":{\"code\":\"rate_limited\",\"message\":\"slow\",\"retry_after_ms\":500}}",
	    &f);
	cr_expect_eq(f.op, FRAME_RESULT);
	cr_expect_eq(f.ok, 0);
	cr_expect_str_eq(f.code, "rate_limited");
	cr_expect_eq(f.retry_after_ms, 500);
	frame_free(&f);
	parse("{\"op\":\"hello\",\"heartbeat_ms\":15000}", &f);
	cr_expect_eq(f.heartbeat_ms, 15000);
	frame_free(&f);
	parse(
	    "{\"op\":\"ready\",\"shop\":{\"id\":\"shop-1\",\"name\":\"暖衣小铺\"},\"resume_from\":42}",
	    &f);
	cr_expect_eq(f.resume_from, 42);
	cr_expect_str_eq(f.shop_name, "暖衣小铺");
	frame_free(&f);
}

/* What we send is valid JSON with every character escaped as needed. */
Test(frame, outbound_frames)
{
	char *s = frame_send("r:m-1:0", "c-1", "他说\"你好\"\n\\", "m-1");

	cr_expect_str_eq(s,
	    "{\"op\":\"send\",\"id\":\"r:m-1:0\",\"conversation\":\"c-1\",\"text\":\"他说\\\"你好\\\"\\n\\\\\",\"reply_to\":\"m-1\"}");
	free(s);
	s = frame_identify("kefud/0.1.0", 41);
	cr_expect_str_eq(s,
	    "{\"op\":\"identify\",\"client\":\"kefud/0.1.0\",\"last_seq\":41}");
	free(s);
	s = frame_ack(9007199254740991ULL);
	cr_expect_str_eq(s, "{\"op\":\"ack\",\"seq\":9007199254740991}");
	free(s);
}

/* Strings from the platform in a log line cannot break it in two or
 * forge a journal entry with a priority of their own (L14). */
Test(frame, platform_strings_cannot_forge_log_lines)
{
	h_log_capture();
	log_emit(LOG_PRI_INFO, "conversation %s: handed back",
	    "c-1\n<3>forged\r\x1b[31m");
	cr_expect_str_eq(h_log(),
	    "conversation c-1\\n<3>forged\\r\\x1b[31m: handed back\n");
	log_set_hook(NULL);
}

/* What frame_ws_text() writes, read back as a server reads it (RFC 6455,
 * 5.2): every length form, the mask bit set, the payload unmasked again. */
Test(frame, websocket_text_frames_read_back_at_every_length)
{
	static const size_t lens[] = {0, 1, 125, 126, 127, 65535, 65536};
	const unsigned char mask[4] = {0x37, 0xfa, 0x21, 0x3d};
	unsigned char *out = malloc(FRAME_WS_HEAD + 65536), *p;
	char *payload = malloc(65536);
	size_t i, j, n, len;

	for (j = 0; j < 65536; j++)
		payload[j] = (char)('a' + j % 26);
	for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		n = frame_ws_text(out, payload, lens[i], mask);
		p = out;
		cr_assert_eq(*p++, 0x81, "FIN and text");
		cr_assert(*p & 0x80, "a client's frame is masked");
		len = *p++ & 0x7f;
		if (len == 126) {
			len = (size_t)p[0] << 8 | p[1];
			p += 2;
			cr_expect_geq(lens[i], 126);
		} else if (len == 127) {
			for (len = 0, j = 0; j < 8; j++)
				len = len << 8 | p[j];
			p += 8;
			cr_expect_geq(lens[i], 65536);
		}
		cr_assert_eq(len, lens[i]);
		cr_assert(memcmp(p, mask, 4) == 0);
		p += 4;
		cr_assert_eq((size_t)(p - out) + len, n);
		for (j = 0; j < len; j++)
			p[j] ^= mask[j & 3];
		cr_expect(memcmp(p, payload, len) == 0, "payload of %zu",
		    lens[i]);
	}
	free(out);
	free(payload);
}
