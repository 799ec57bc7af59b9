#ifndef KEFU_WXMSG_H
#define KEFU_WXMSG_H

#include <stddef.h>
#include <stdint.h>

/*
 * A page of 微信客服 messages and events, as kf/sync_msg returns it, for
 * the WeCom driver (issue 16): parsed and checked, with nothing of the
 * core in it.  Who wrote it: origin 3 the customer, 4 the system (an
 * event), 5 an agent writing from WeCom.
 */
enum wx_origin {
	WX_ORIGIN_CUSTOMER = 3,
	WX_ORIGIN_SYSTEM = 4,
	WX_ORIGIN_AGENT = 5,
};

struct wx_msg {
	char *msgid;           /* the platform's, unique: our dedup key */
	char *open_kfid;       /* the customer service account */
	char *external_userid; /* the customer */
	char *servicer_userid; /* the agent, when one wrote or took it */
	int64_t send_time;     /* seconds since the epoch */
	int origin;
	char *msgtype; /* text, image, voice, file, link, event ... */
	char *text;    /* text.content (text messages) */
	/* msgtype "event": */
	char *event_type;          /* enter_session, msg_send_fail, ... */
	char *welcome_code;        /* enter_session: for send_msg_on_event */
	char *scene_param;         /* enter_session: from the link */
	char *fail_msgid;          /* msg_send_fail: our msgid */
	int fail_type;             /* msg_send_fail */
	int change_type;           /* session_status_change */
	char *new_servicer_userid; /* session_status_change */
	char *msg_code;            /* session_status_change: for its line */
};

struct wx_page {
	char *next_cursor;
	int has_more;
	struct wx_msg *msgs;
	size_t n;
	size_t dropped; /* items that were not messages: logged, skipped */
};

/*
 * Parses a sync_msg answer.  0 with the page; -1 with the reason in why
 * (not JSON, an errcode from the platform, no cursor ...), and the
 * platform's errcode in *errcode when it gave one (else 0).
 */
int wx_page_parse(const char *json, size_t len, struct wx_page *p, int *errcode,
    char *why, size_t whylen);
void wx_page_free(struct wx_page *p);

#endif
