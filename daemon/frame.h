#ifndef KEFU_FRAME_H
#define KEFU_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include "kefu/plugin.h"

#define FRAME_MAX 65536 /* bytes, either way (protocol: close 1009) */

enum frame_op {
	FRAME_HELLO = 1,
	FRAME_READY,
	FRAME_EVENT,
	FRAME_HEARTBEAT_ACK,
	FRAME_RECONNECT,
	FRAME_RESULT,
	FRAME_ERROR,
	FRAME_UNKNOWN, /* an op this version does not know: ignored */
};

/* One inbound frame; strings point into root and live as long as it. */
struct frame {
	enum frame_op op;
	void *root; /* cJSON */
	const char *opname;

	int64_t heartbeat_ms; /* hello */

	int64_t resume_from; /* ready */
	const char *shop_id;
	const char *shop_name;

	struct kefu_event ev; /* event */
	const char *ev_type;  /* NULL ev.type when the type is unknown */

	const char *id; /* result */
	int ok;
	const char *code; /* result error, error */
	const char *message;
	int64_t retry_after_ms;

	const char *reason; /* reconnect */
};

/*
 * Parses and checks one text frame.  Returns 0, or -1 with why filled in
 * when the frame is malformed (invalid UTF-8, not JSON, not an object,
 * wrong member types, missing members).
 */
/*
 * A client's WebSocket text frame (RFC 6455, 5.2) for the n bytes of
 * payload, masked with mask, at out: at most FRAME_WS_HEAD + n bytes.
 * Returns the bytes written.
 */
#define FRAME_WS_HEAD 14
size_t frame_ws_text(unsigned char *out, const char *payload, size_t n,
    const unsigned char mask[4]);

int frame_parse(const char *buf, size_t len, struct frame *f, char *why,
    size_t whylen);
void frame_free(struct frame *f);

/* Outbound frames, as malloc'ed JSON text. */
char *frame_identify(const char *client, uint64_t last_seq);
char *frame_heartbeat(void);
char *frame_ack(uint64_t seq);
char *frame_send(const char *id, const char *conv, const char *text,
    const char *reply_to);
char *frame_handoff(const char *id, const char *conv, const char *queue,
    const char *priority, const char *reason, const char *summary,
    const char *context_json);
char *frame_close(const char *id, const char *conv, const char *text);

#endif
