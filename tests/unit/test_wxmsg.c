/*
 * 微信客服 sync_msg pages for the WeCom driver: the shapes the WeCom
 * documentation gives (a customer's text, enter_session,
 * session_status_change, msg_send_fail, an agent's reply, a picture),
 * and what must be refused or skipped.
 */
#include "../harness.h"

#include "wxmsg.h"

TestSuite(wxmsg);

static int
parse(const char *json, struct wx_page *p, int *errcode, char *why)
{
	return wx_page_parse(json, strlen(json), p, errcode, why, 256);
}

Test(wxmsg, a_page_of_messages_and_events)
{
	static const char page[] =
	    "{\"errcode\":0,\"errmsg\":\"ok\",\"next_cursor\":\"4gw7MepFLfgF2VC5npN\",\"has_more\":1,"
	    "\"msg_list\":["
	    "{\"msgid\":\"from_msgid_4622416642169452483\",\"open_kfid\":\"wkAJ2GCAAASSm4_FhToWMFea0xAFfd3Q\","
	    " \"external_userid\":\"wmAJ2GCAAAme1XQRC-NI-q0_ZM9ukoAw\",\"send_time\":1615478585,\"origin\":3,"
	    " \"msgtype\":\"text\",\"text\":{\"content\":\"几天能到\",\"menu_id\":\"101\"}},"
	    "{\"msgid\":\"m2\",\"send_time\":1615478586,\"origin\":4,\"msgtype\":\"event\","
	    " \"event\":{\"event_type\":\"enter_session\",\"open_kfid\":\"wk1\",\"external_userid\":\"wm1\","
	    "  \"scene\":\"123\",\"scene_param\":\"sku-42\",\"welcome_code\":\"aaaaaa\"}},"
	    "{\"msgid\":\"m3\",\"origin\":4,\"msgtype\":\"event\","
	    " \"event\":{\"event_type\":\"session_status_change\",\"open_kfid\":\"wk1\",\"external_userid\":\"wm1\","
	    "  \"change_type\":1,\"new_servicer_userid\":\"zhangsan\",\"msg_code\":\"MSG_CODE\"}},"
	    "{\"msgid\":\"m4\",\"origin\":4,\"msgtype\":\"event\","
	    " \"event\":{\"event_type\":\"msg_send_fail\",\"open_kfid\":\"wk1\",\"external_userid\":\"wm1\","
	    "  \"fail_msgid\":\"r-m1-0\",\"fail_type\":6}},"
	    "{\"msgid\":\"m5\",\"open_kfid\":\"wk1\",\"external_userid\":\"wm1\",\"origin\":5,"
	    " \"servicer_userid\":\"zhangsan\",\"msgtype\":\"text\",\"text\":{\"content\":\"我来处理\"}},"
	    "{\"msgid\":\"m6\",\"open_kfid\":\"wk1\",\"external_userid\":\"wm1\",\"origin\":3,"
	    " \"msgtype\":\"image\",\"image\":{\"media_id\":\"MEDIA\"}}"
	    "]}";
	struct wx_page p;
	char why[256];
	int err;

	cr_assert_eq(parse(page, &p, &err, why), 0, "%s", why);
	cr_expect_str_eq(p.next_cursor, "4gw7MepFLfgF2VC5npN");
	cr_expect(p.has_more);
	cr_assert_eq(p.n, 6);
	cr_expect_eq(p.dropped, 0);
	cr_expect_str_eq(p.msgs[0].msgid, "from_msgid_4622416642169452483");
	cr_expect_eq(p.msgs[0].origin, WX_ORIGIN_CUSTOMER);
	cr_expect_eq(p.msgs[0].send_time, 1615478585);
	cr_expect_str_eq(p.msgs[0].text, "几天能到");
	cr_expect_str_eq(p.msgs[0].external_userid,
	    "wmAJ2GCAAAme1XQRC-NI-q0_ZM9ukoAw");
	/* Events name their conversation inside the event. */
	cr_expect_str_eq(p.msgs[1].event_type, "enter_session");
	cr_expect_str_eq(p.msgs[1].open_kfid, "wk1");
	cr_expect_str_eq(p.msgs[1].external_userid, "wm1");
	cr_expect_str_eq(p.msgs[1].welcome_code, "aaaaaa");
	cr_expect_str_eq(p.msgs[1].scene_param, "sku-42");
	cr_expect_eq(p.msgs[2].change_type, 1);
	cr_expect_str_eq(p.msgs[2].new_servicer_userid, "zhangsan");
	cr_expect_str_eq(p.msgs[2].msg_code, "MSG_CODE");
	cr_expect_str_eq(p.msgs[3].fail_msgid, "r-m1-0");
	cr_expect_eq(p.msgs[3].fail_type, 6);
	cr_expect_eq(p.msgs[4].origin, WX_ORIGIN_AGENT);
	cr_expect_str_eq(p.msgs[4].servicer_userid, "zhangsan");
	/* Not text: its kind is kept, for the transcript and the handoff. */
	cr_expect_str_eq(p.msgs[5].msgtype, "image");
	cr_expect_null(p.msgs[5].text);
	wx_page_free(&p);
}

Test(wxmsg, what_is_refused_or_skipped)
{
	struct wx_page p;
	char why[256];
	int err;

	cr_expect_eq(
	    parse("{\"errcode\":42001,\"errmsg\":\"access_token expired\"}", &p,
	        &err, why),
	    -1);
	cr_expect_eq(err, 42001, "the driver refreshes its token on this");
	cr_expect_not_null(strstr(why, "access_token expired"), "%s", why);
	cr_expect_eq(parse("not json", &p, &err, why), -1);
	cr_expect_eq(parse("[1]", &p, &err, why), -1);
	cr_expect_eq(parse("{\"errcode\":0,\"msg_list\":[]}", &p, &err, why),
	    -1, "no cursor: nowhere to resume from");
	cr_expect_eq(
	    parse("{\"errcode\":0,\"next_cursor\":\"c\",\"msg_list\":{}}", &p,
	        &err, why),
	    -1);
	/* Items that are not messages are skipped, and counted; the page
	 * and its cursor stand. */
	cr_assert_eq(
	    parse(
	        "{\"errcode\":0,\"next_cursor\":\"c2\",\"has_more\":0,\"msg_list\":["
	        "1, {}, {\"msgid\":\"x\"},"
	        "{\"msgid\":\"y\",\"origin\":9,\"msgtype\":\"text\",\"open_kfid\":\"k\",\"external_userid\":\"u\",\"text\":{\"content\":\"a\"}},"
	        "{\"msgid\":\"z\",\"origin\":3,\"msgtype\":\"text\",\"open_kfid\":\"k\",\"external_userid\":\"u\",\"text\":{}},"
	        "{\"msgid\":\"\xff\xfe\",\"origin\":3,\"msgtype\":\"text\",\"open_kfid\":\"k\",\"external_userid\":\"u\",\"text\":{\"content\":\"a\"}},"
	        "{\"msgid\":\"ok\",\"origin\":3,\"msgtype\":\"text\",\"open_kfid\":\"k\",\"external_userid\":\"u\",\"text\":{\"content\":\"在吗\"}}"
	        "]}",
	        &p, &err, why),
	    0, "%s", why);
	cr_expect_eq(p.n, 1);
	cr_expect_eq(p.dropped, 6);
	cr_expect_str_eq(p.msgs[0].text, "在吗");
	cr_expect(!p.has_more);
	wx_page_free(&p);
}
