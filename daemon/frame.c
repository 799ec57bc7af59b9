/*
 * Frames of the platform protocol (../shared/platform-protocol.md): one
 * JSON object per websocket text frame.  Everything from the network is
 * checked here, before any other module sees it.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "frame.h"
#include "log.h"
#include "utf8.h"

struct frame_err {
	char *buf;
	size_t len;
};

static int frame_bad(struct frame_err *e, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int
frame_bad(struct frame_err *e, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(e->buf, e->len, fmt, ap);
	va_end(ap);
	return -1;
}

/* A member that must be a string (NULL allowed when optional). */
static int
frame_str(const cJSON *o, const char *name, int required, const char **out,
    struct frame_err *e)
{
	const cJSON *m = cJSON_GetObjectItemCaseSensitive(o, name);

	*out = NULL;
	if (m == NULL || cJSON_IsNull(m))
		return required ? frame_bad(e, "missing member \"%s\"", name)
		                : 0;
	if (!cJSON_IsString(m))
		return frame_bad(e, "member \"%s\" is not a string", name);
	*out = m->valuestring;
	return 0;
}

static int
frame_int(const cJSON *o, const char *name, int required, int64_t *out,
    struct frame_err *e)
{
	const cJSON *m = cJSON_GetObjectItemCaseSensitive(o, name);
	double v;

	*out = 0;
	if (m == NULL || cJSON_IsNull(m))
		return required ? frame_bad(e, "missing member \"%s\"", name)
		                : 0;
	if (!cJSON_IsNumber(m))
		return frame_bad(e, "member \"%s\" is not a number", name);
	v = m->valuedouble;
	if (v != floor(v) || v < 0 || v > 9007199254740992.0)
		return frame_bad(e, "member \"%s\" is not a whole number >= 0",
		    name);
	*out = (int64_t)v;
	return 0;
}

static const cJSON *
frame_obj(const cJSON *o, const char *name, int required, int *bad,
    struct frame_err *e)
{
	const cJSON *m = cJSON_GetObjectItemCaseSensitive(o, name);

	if (m == NULL || cJSON_IsNull(m)) {
		if (required)
			*bad = frame_bad(e, "missing member \"%s\"", name);
		return NULL;
	}
	if (!cJSON_IsObject(m)) {
		*bad = frame_bad(e, "member \"%s\" is not an object", name);
		return NULL;
	}
	return m;
}

static const struct {
	const char *name;
	enum kefu_event_type type;
} frame_types[] = {
    {"conversation_opened", KEFU_EV_OPENED},
    {"message", KEFU_EV_MESSAGE},
    {"agent_joined", KEFU_EV_AGENT_JOINED},
    {"agent_message", KEFU_EV_AGENT_MESSAGE},
    {"handoff_ended", KEFU_EV_HANDOFF_ENDED},
    {"conversation_closed", KEFU_EV_CLOSED},
};

static int
frame_product(const cJSON *p, struct kefu_event *ev, struct frame_err *e)
{
	if (frame_str(p, "id", 1, &ev->product_id, e) < 0 ||
	    frame_str(p, "title", 0, &ev->product_title, e) < 0 ||
	    frame_str(p, "price", 0, &ev->product_price, e) < 0)
		return -1;
	return 0;
}

static int
frame_message(const cJSON *m, struct kefu_event *ev, struct frame_err *e)
{
	const cJSON *sub;
	int bad = 0;

	if (frame_str(m, "id", 1, &ev->message_id, e) < 0 ||
	    frame_str(m, "kind", 0, &ev->message_kind, e) < 0 ||
	    frame_str(m, "text", 0, &ev->text, e) < 0 ||
	    frame_int(m, "ts", 0, &ev->ts_ms, e) < 0)
		return -1;
	if (ev->message_kind == NULL)
		ev->message_kind = "text";
	if (ev->text == NULL)
		ev->text = "";
	if ((sub = frame_obj(m, "product", 0, &bad, e)) != NULL &&
	    frame_product(sub, ev, e) < 0)
		return -1;
	if ((sub = frame_obj(m, "order", 0, &bad, e)) != NULL &&
	    (frame_str(sub, "id", 1, &ev->order_id, e) < 0 ||
	        frame_str(sub, "status", 0, &ev->order_status, e) < 0 ||
	        frame_str(sub, "amount", 0, &ev->order_amount, e) < 0))
		return -1;
	return bad;
}

static int
frame_event(const cJSON *o, struct frame *f, struct frame_err *e)
{
	struct kefu_event *ev = &f->ev;
	const cJSON *sub, *vip;
	int64_t seq;
	int bad = 0;
	size_t i;

	if (frame_int(o, "seq", 1, &seq, e) < 0 ||
	    frame_str(o, "type", 1, &f->ev_type, e) < 0 ||
	    frame_str(o, "conversation", 1, &ev->conversation, e) < 0)
		return -1;
	if (seq < 1)
		return frame_bad(e, "member \"%s\" must be at least 1", "seq");
	ev->seq = (uint64_t)seq;
	for (i = 0; i < sizeof(frame_types) / sizeof(*frame_types); i++)
		if (strcmp(frame_types[i].name, f->ev_type) == 0)
			ev->type = frame_types[i].type;
	if (ev->type == 0)
		return 0; /* a newer event type: the caller skips it */
	if ((sub = frame_obj(o, "customer",
	         ev->type == KEFU_EV_MESSAGE || ev->type == KEFU_EV_OPENED,
	         &bad, e)) != NULL) {
		if (frame_str(sub, "id", 1, &ev->customer_id, e) < 0 ||
		    frame_str(sub, "name", 0, &ev->customer_name, e) < 0)
			return -1;
		vip = cJSON_GetObjectItemCaseSensitive(sub, "vip");
		if (vip != NULL && !cJSON_IsBool(vip))
			return frame_bad(e,
			    "member \"%s\" is not true or false", "vip");
		ev->customer_vip = cJSON_IsTrue(vip);
	}
	if ((sub = frame_obj(o, "message",
	         ev->type == KEFU_EV_MESSAGE ||
	             ev->type == KEFU_EV_AGENT_MESSAGE,
	         &bad, e)) != NULL &&
	    frame_message(sub, ev, e) < 0)
		return -1;
	if ((sub = frame_obj(o, "product", 0, &bad, e)) != NULL &&
	    frame_product(sub, ev, e) < 0)
		return -1;
	if ((sub = frame_obj(o, "agent",
	         ev->type == KEFU_EV_AGENT_JOINED ||
	             ev->type == KEFU_EV_AGENT_MESSAGE,
	         &bad, e)) != NULL &&
	    (frame_str(sub, "id", 1, &ev->agent_id, e) < 0 ||
	        frame_str(sub, "name", 0, &ev->agent_name, e) < 0))
		return -1;
	if (frame_str(o, "by", 0, &ev->by, e) < 0)
		return -1;
	return bad;
}

static int
frame_result(const cJSON *o, struct frame *f, struct frame_err *e)
{
	const cJSON *ok = cJSON_GetObjectItemCaseSensitive(o, "ok"), *err;
	int bad = 0;

	if (frame_str(o, "id", 1, &f->id, e) < 0)
		return -1;
	if (!cJSON_IsBool(ok))
		return frame_bad(e, "member \"%s\" is not true or false", "ok");
	f->ok = cJSON_IsTrue(ok);
	if (f->ok)
		return 0;
	if ((err = frame_obj(o, "error", 1, &bad, e)) == NULL)
		return -1;
	if (frame_str(err, "code", 1, &f->code, e) < 0 ||
	    frame_str(err, "message", 0, &f->message, e) < 0 ||
	    frame_int(err, "retry_after_ms", 0, &f->retry_after_ms, e) < 0)
		return -1;
	return 0;
}

static int
frame_members(const cJSON *o, struct frame *f, struct frame_err *e)
{
	const cJSON *shop;
	int bad = 0;

	switch (f->op) {
	case FRAME_HELLO:
		if (frame_int(o, "heartbeat_ms", 1, &f->heartbeat_ms, e) < 0)
			return -1;
		if (f->heartbeat_ms < 100 || f->heartbeat_ms > 3600000)
			return frame_bad(e,
			    "member \"%s\" out of range (100 to 3600000)",
			    "heartbeat_ms");
		return 0;
	case FRAME_READY:
		if (frame_int(o, "resume_from", 0, &f->resume_from, e) < 0)
			return -1;
		if ((shop = frame_obj(o, "shop", 0, &bad, e)) != NULL &&
		    (frame_str(shop, "id", 0, &f->shop_id, e) < 0 ||
		        frame_str(shop, "name", 0, &f->shop_name, e) < 0))
			return -1;
		return bad;
	case FRAME_EVENT:
		return frame_event(o, f, e);
	case FRAME_RESULT:
		return frame_result(o, f, e);
	case FRAME_ERROR:
		if (frame_str(o, "code", 0, &f->code, e) < 0 ||
		    frame_str(o, "message", 0, &f->message, e) < 0)
			return -1;
		return 0;
	case FRAME_RECONNECT:
		return frame_str(o, "reason", 0, &f->reason, e);
	default:
		return 0;
	}
}

static const struct {
	const char *name;
	enum frame_op op;
} frame_ops[] = {
    {"hello", FRAME_HELLO},
    {"ready", FRAME_READY},
    {"event", FRAME_EVENT},
    {"heartbeat_ack", FRAME_HEARTBEAT_ACK},
    {"reconnect", FRAME_RECONNECT},
    {"result", FRAME_RESULT},
    {"error", FRAME_ERROR},
};

int
frame_parse(const char *buf, size_t len, struct frame *f, char *why,
    size_t whylen)
{
	struct frame_err e = {why, whylen};
	const cJSON *op;
	cJSON *root;
	size_t i;

	memset(f, 0, sizeof(*f));
	if (utf8_count(buf, len) < 0)
		return frame_bad(&e, "%s", "not valid UTF-8");
	if ((root = cJSON_ParseWithLength(buf, len)) == NULL)
		return frame_bad(&e, "%s", "not JSON");
	f->root = root;
	if (!cJSON_IsObject(root)) {
		frame_free(f);
		return frame_bad(&e, "%s", "not a JSON object");
	}
	op = cJSON_GetObjectItemCaseSensitive(root, "op");
	if (!cJSON_IsString(op)) {
		frame_free(f);
		return frame_bad(&e, "%s", "no string member \"op\"");
	}
	f->opname = op->valuestring;
	f->op = FRAME_UNKNOWN;
	for (i = 0; i < sizeof(frame_ops) / sizeof(*frame_ops); i++)
		if (strcmp(frame_ops[i].name, f->opname) == 0)
			f->op = frame_ops[i].op;
	if (frame_members(root, f, &e) < 0) {
		frame_free(f);
		return -1;
	}
	return 0;
}

void
frame_free(struct frame *f)
{
	cJSON_Delete(f->root);
	memset(f, 0, sizeof(*f));
}

static char *
frame_print(cJSON *o)
{
	char *s;

	if (o == NULL || (s = cJSON_PrintUnformatted(o)) == NULL)
		fatalx("out of memory building a frame");
	cJSON_Delete(o);
	return s;
}

static cJSON *
frame_new(const char *op)
{
	cJSON *o = cJSON_CreateObject();

	if (o == NULL || cJSON_AddStringToObject(o, "op", op) == NULL)
		fatalx("out of memory building a frame");
	return o;
}

static void
frame_add(cJSON *o, const char *name, const char *value)
{
	if (value != NULL && cJSON_AddStringToObject(o, name, value) == NULL)
		fatalx("out of memory building a frame");
}

/* cJSON prints numbers with %.15g: a large seq would lose digits. */
static void
frame_add_seq(cJSON *o, const char *name, uint64_t v)
{
	char num[24];

	snprintf(num, sizeof(num), "%llu", (unsigned long long)v);
	if (cJSON_AddRawToObject(o, name, num) == NULL)
		fatalx("out of memory building a frame");
}

char *
frame_identify(const char *client, uint64_t last_seq)
{
	cJSON *o = frame_new("identify");

	frame_add(o, "client", client);
	frame_add_seq(o, "last_seq", last_seq);
	return frame_print(o);
}

char *
frame_heartbeat(void)
{
	return frame_print(frame_new("heartbeat"));
}

char *
frame_ack(uint64_t seq)
{
	cJSON *o = frame_new("ack");

	frame_add_seq(o, "seq", seq);
	return frame_print(o);
}

char *
frame_send(const char *id, const char *conv, const char *text,
    const char *reply_to)
{
	cJSON *o = frame_new("send");

	frame_add(o, "id", id);
	frame_add(o, "conversation", conv);
	frame_add(o, "text", text);
	frame_add(o, "reply_to", reply_to);
	return frame_print(o);
}

char *
frame_handoff(const char *id, const char *conv, const char *queue,
    const char *priority, const char *reason, const char *summary,
    const char *context_json)
{
	cJSON *o = frame_new("handoff"), *ctx;

	frame_add(o, "id", id);
	frame_add(o, "conversation", conv);
	frame_add(o, "queue", queue);
	frame_add(o, "priority", priority);
	frame_add(o, "reason", reason);
	frame_add(o, "summary", summary);
	ctx = context_json != NULL ? cJSON_Parse(context_json) : NULL;
	if (ctx == NULL)
		ctx = cJSON_CreateObject();
	cJSON_AddItemToObject(o, "context", ctx);
	return frame_print(o);
}

char *
frame_close(const char *id, const char *conv, const char *text)
{
	cJSON *o = frame_new("close");

	frame_add(o, "id", id);
	frame_add(o, "conversation", conv);
	frame_add(o, "text", text);
	return frame_print(o);
}

size_t
frame_ws_text(unsigned char *out, const char *payload, size_t n,
    const unsigned char mask[4])
{
	unsigned char *p = out;
	size_t i;
	int b;

	*p++ = 0x81; /* FIN, text */
	if (n < 126)
		*p++ = 0x80 | (unsigned char)n;
	else if (n < 65536) {
		*p++ = 0x80 | 126;
		*p++ = (unsigned char)(n >> 8);
		*p++ = (unsigned char)n;
	} else {
		*p++ = 0x80 | 127;
		for (b = 56; b >= 0; b -= 8)
			*p++ = (unsigned char)((uint64_t)n >> b);
	}
	memcpy(p, mask, 4);
	p += 4;
	for (i = 0; i < n; i++)
		p[i] = (unsigned char)payload[i] ^ mask[i & 3];
	return (size_t)(p - out) + n;
}
