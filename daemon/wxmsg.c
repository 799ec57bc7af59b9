/*
 * kf/sync_msg answers (wxmsg.h), parsed with cJSON.  Anything the
 * platform sends is either a checked page or a reason; an item that is
 * not a message is counted and skipped, since the cursor moves past it
 * anyway.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "utf8.h"
#include "wxmsg.h"
#include "xmalloc.h"

#define WX_ID_MAX 256 /* the documentation's ids are 32 to 64 bytes */
#define WX_TEXT_MAX 65536

/* A string member, copied, or NULL when absent, not a string, too long
 * or not UTF-8. */
static char *
wx_str(const cJSON *o, const char *name, size_t max)
{
	const cJSON *m = cJSON_GetObjectItemCaseSensitive(o, name);
	size_t n;

	if (!cJSON_IsString(m) || m->valuestring == NULL)
		return NULL;
	n = strlen(m->valuestring);
	if (n > max || utf8_count(m->valuestring, n) < 0)
		return NULL;
	return xstrdup(m->valuestring);
}

static int64_t
wx_num(const cJSON *o, const char *name, int64_t dflt)
{
	const cJSON *m = cJSON_GetObjectItemCaseSensitive(o, name);

	/* Out of range (1e300, NaN) is absent: no undefined conversion. */
	if (!cJSON_IsNumber(m) || !(m->valuedouble > -9.0e18) ||
	    !(m->valuedouble < 9.0e18))
		return dflt;
	return (int64_t)m->valuedouble;
}

/* A small number (an origin, a type): 0 to 65535, else 0. */
static int
wx_small(const cJSON *o, const char *name)
{
	int64_t v = wx_num(o, name, 0);

	return v >= 0 && v <= 65535 ? (int)v : 0;
}

static void
wx_msg_free(struct wx_msg *m)
{
	free(m->msgid);
	free(m->open_kfid);
	free(m->external_userid);
	free(m->servicer_userid);
	free(m->msgtype);
	free(m->text);
	free(m->event_type);
	free(m->welcome_code);
	free(m->scene_param);
	free(m->fail_msgid);
	free(m->new_servicer_userid);
	free(m->msg_code);
	memset(m, 0, sizeof(*m));
}

/* One item of msg_list: 0, or -1 when it is not a message. */
static int
wx_msg_parse(const cJSON *o, struct wx_msg *m)
{
	const cJSON *ev, *t;

	memset(m, 0, sizeof(*m));
	if (!cJSON_IsObject(o))
		return -1;
	m->msgid = wx_str(o, "msgid", WX_ID_MAX);
	m->msgtype = wx_str(o, "msgtype", 32);
	m->origin = wx_small(o, "origin");
	m->send_time = wx_num(o, "send_time", 0);
	m->open_kfid = wx_str(o, "open_kfid", WX_ID_MAX);
	m->external_userid = wx_str(o, "external_userid", WX_ID_MAX);
	m->servicer_userid = wx_str(o, "servicer_userid", WX_ID_MAX);
	if (m->msgid == NULL || *m->msgid == '\0' || m->msgtype == NULL ||
	    (m->origin != WX_ORIGIN_CUSTOMER && m->origin != WX_ORIGIN_SYSTEM &&
	        m->origin != WX_ORIGIN_AGENT))
		goto bad;
	if (strcmp(m->msgtype, "text") == 0) {
		t = cJSON_GetObjectItemCaseSensitive(o, "text");
		if ((m->text = wx_str(t, "content", WX_TEXT_MAX)) == NULL)
			goto bad;
	} else if (strcmp(m->msgtype, "event") == 0) {
		ev = cJSON_GetObjectItemCaseSensitive(o, "event");
		if ((m->event_type = wx_str(ev, "event_type", 64)) == NULL)
			goto bad;
		/* An event names its conversation inside. */
		if (m->open_kfid == NULL)
			m->open_kfid = wx_str(ev, "open_kfid", WX_ID_MAX);
		if (m->external_userid == NULL)
			m->external_userid =
			    wx_str(ev, "external_userid", WX_ID_MAX);
		m->welcome_code = wx_str(ev, "welcome_code", WX_ID_MAX);
		m->scene_param = wx_str(ev, "scene_param", WX_ID_MAX);
		m->fail_msgid = wx_str(ev, "fail_msgid", WX_ID_MAX);
		m->fail_type = wx_small(ev, "fail_type");
		m->change_type = wx_small(ev, "change_type");
		m->new_servicer_userid =
		    wx_str(ev, "new_servicer_userid", WX_ID_MAX);
		m->msg_code = wx_str(ev, "msg_code", WX_ID_MAX);
	}
	/* Every message belongs to a customer of an account; an event
	 * about an agent's status (servicer_status_change) need not. */
	if ((m->open_kfid == NULL || m->external_userid == NULL) &&
	    m->event_type == NULL)
		goto bad;
	return 0;
bad:
	wx_msg_free(m);
	return -1;
}

int
wx_page_parse(const char *json, size_t len, struct wx_page *p, int *errcode,
    char *why, size_t whylen)
{
	const cJSON *list, *item;
	int64_t code;
	cJSON *o;
	size_t cap;

	memset(p, 0, sizeof(*p));
	*errcode = 0;
	if ((o = cJSON_ParseWithLength(json, len)) == NULL ||
	    !cJSON_IsObject(o)) {
		snprintf(why, whylen, "not a JSON object");
		cJSON_Delete(o);
		return -1;
	}
	code = wx_num(o, "errcode", 0);
	if (code != 0) {
		*errcode = code > 0 && code < 1000000000 ? (int)code : -1;
		const cJSON *m = cJSON_GetObjectItemCaseSensitive(o, "errmsg");

		snprintf(why, whylen, "errcode %lld: %.200s", (long long)code,
		    cJSON_IsString(m) ? m->valuestring : "");
		cJSON_Delete(o);
		return -1;
	}
	list = cJSON_GetObjectItemCaseSensitive(o, "msg_list");
	p->next_cursor = wx_str(o, "next_cursor", 64);
	p->has_more = wx_num(o, "has_more", 0) != 0;
	if (p->next_cursor == NULL || *p->next_cursor == '\0' ||
	    (list != NULL && !cJSON_IsArray(list))) {
		snprintf(why, whylen, "no next_cursor, or msg_list not a list");
		cJSON_Delete(o);
		wx_page_free(p);
		return -1;
	}
	cap = (size_t)cJSON_GetArraySize(list);
	p->msgs = xcalloc(cap > 0 ? cap : 1, sizeof(*p->msgs));
	cJSON_ArrayForEach(item, list)
	{
		if (wx_msg_parse(item, &p->msgs[p->n]) == 0)
			p->n++;
		else
			p->dropped++;
	}
	cJSON_Delete(o);
	return 0;
}

void
wx_page_free(struct wx_page *p)
{
	size_t i;

	for (i = 0; i < p->n; i++)
		wx_msg_free(&p->msgs[i]);
	free(p->msgs);
	free(p->next_cursor);
	memset(p, 0, sizeof(*p));
}
