/*
 * WeCom callback security for the 微信客服 driver, against the example the
 * WeCom documentation publishes for its 加解密方案 (corp id
 * wx5823bf96d3bd56c7, token QDG6eK): the URL check's echostr and an
 * encrypted message, each with its signature.
 */
#include "../harness.h"

#include "wxcrypt.h"

#define CORP "wx5823bf96d3bd56c7"
#define TOKEN "QDG6eK"
#define AESKEY "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"

static const char echostr[] =
    "P9nAzCzyDtyTWESHep1vC5X9xho/qYX3Zpb4yKa9SKld1DsH3Iyt3tP3zNdtp+4RPcs8TgAE7OaBO+FZXvnaqQ==";
static const char message[] =
    "RypEvHKD8QQKFhvQ6QleEB4J58tiPdvo+rtK1I9qca6aM/wvqnLSV5zEPeusUiX5L5X/"
    "0lWfrf0QADHHhGd3QczcdCUpj911L3vg3W/sYYvuJTs3TUUkSUXxaccAS0qhxchrRYt66wiSpGLYL42aM6A8dTT+"
    "6k4aSknmPj48kzJs8qLjvd4Xgpue06DOdnLxAUHzM6+kDZ+HMZfJYuR+LtwGc2hgf5gsijff0ekUNXZiqATP7PF5mZxZ3Izoun1s4zG4LUMnvw2r+"
    "KqCKIw+3IQH03v+BCA9nMELNqbSf6tiWSrXJB3LAVGUcallcrw8V2t9EL4EhzJWrQUax5wLVMNS0+"
    "rUPA3k22Ncx4XXZS9o0MBH27Bo6BpNelZpS+/uh9KsNlY6bHCmJU9p8g7m3fVKn28H3KDYA5Pl/"
    "T8Z1ptDAVe0lXdQ2YoyyH2uyPIGHBZZIs2pDBS8R07+qN+E7Q==";

TestSuite(wxcrypt);

Test(wxcrypt, the_published_url_check)
{
	unsigned char key[WX_KEY_LEN];
	const char *why = NULL;
	size_t n = 0;
	char *msg;

	cr_assert_eq(wx_key(AESKEY, key), 0);
	cr_expect(wx_signature_ok("5c45ff5e21c57e6ad56bac8758b79b1d9ac89fd3",
	    TOKEN, "1409659589", "263014780", echostr));
	msg = wx_decrypt(key, echostr, CORP, &n, &why);
	cr_assert_not_null(msg, "%s", why);
	cr_expect_str_eq(msg, "1616140317555161061");
	cr_expect_eq(n, 19);
	free(msg);
}

Test(wxcrypt, the_published_message)
{
	unsigned char key[WX_KEY_LEN];
	char sig[WX_SIG_LEN + 1], *msg;
	const char *why = NULL;
	size_t n = 0;

	cr_assert_eq(wx_key(AESKEY, key), 0);
	wx_signature(TOKEN, "1409659813", "1372623149", message, sig);
	cr_expect_str_eq(sig, "477715d11cdb4164915debcba66cb864d751f3e6");
	msg = wx_decrypt(key, message, CORP, &n, &why);
	cr_assert_not_null(msg, "%s", why);
	cr_expect_not_null(strstr(msg, "<Content><![CDATA[hello]]></Content>"),
	    "%s", msg);
	cr_expect_not_null(strstr(msg, "<MsgId>4561255354251345929</MsgId>"),
	    "%s", msg);
	cr_expect_eq(n, strlen(msg));
	free(msg);
}

/* What must be refused: a wrong signature, another corp's message, a
 * wrong key, and bodies broken in every way a callback could be. */
Test(wxcrypt, what_is_refused)
{
	unsigned char key[WX_KEY_LEN], other[WX_KEY_LEN];
	const char *why = NULL;
	char *bad;
	size_t n;

	cr_assert_eq(wx_key(AESKEY, key), 0);
	cr_expect(!wx_signature_ok("477715d11cdb4164915debcba66cb864d751f3e7",
	    TOKEN, "1409659813", "1372623149", message));
	cr_expect(!wx_signature_ok("477715d11cdb4164915debcba66cb864d751f3e",
	    TOKEN, "1409659813", "1372623149", message));
	cr_expect(!wx_signature_ok("477715d11cdb4164915debcba66cb864d751f3e6",
	    TOKEN, "1409659814", "1372623149", message));
	cr_expect_null(
	    wx_decrypt(key, message, "wx5823bf96d3bd56c8", &n, &why));
	cr_expect_str_eq(why, "meant for another corp id");
	cr_expect_null(wx_decrypt(key, message, "", &n, &why));
	cr_assert_eq(wx_key("abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",
	                 other),
	    0);
	cr_expect_null(wx_decrypt(other, message, CORP, &n, &why));
	cr_expect_null(wx_decrypt(key, "not base64!", CORP, &n, &why));
	cr_expect_null(wx_decrypt(key, "", CORP, &n, &why));
	cr_expect_null(wx_decrypt(key, "AAAA", CORP, &n, &why));
	cr_expect_str_eq(why, "not whole AES blocks");
	bad = strdup(message);
	bad[40] = bad[40] == 'A' ? 'B' : 'A'; /* a flipped block */
	cr_expect_null(wx_decrypt(key, bad, CORP, &n, &why));
	free(bad);
	cr_expect_eq(wx_key("short", key), -1);
	cr_expect_eq(wx_key("jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2!", key),
	    -1);
}

/* Our own encryption is what the documentation's scheme decrypts (the
 * fake platform of the tests will encrypt the same way). */
Test(wxcrypt, encrypt_round_trips)
{
	static const char *const msgs[] = {"", "a", "您好，欢迎光临！",
	    "<xml><Event><![CDATA[kf_msg_or_event]]></Event></xml>", NULL};
	unsigned char key[WX_KEY_LEN], rnd[16];
	const char *why = NULL, *const * m;
	char *enc, *dec, long_msg[5000];
	size_t n;

	cr_assert_eq(wx_key(AESKEY, key), 0);
	for (m = msgs; *m != NULL; m++) {
		enc = wx_encrypt(key, *m, strlen(*m), CORP, NULL);
		dec = wx_decrypt(key, enc, CORP, &n, &why);
		cr_assert_not_null(dec, "%s: %s", *m, why);
		cr_expect_str_eq(dec, *m);
		free(enc);
		free(dec);
	}
	memset(long_msg, 'x', sizeof(long_msg) - 1);
	long_msg[sizeof(long_msg) - 1] = '\0';
	enc = wx_encrypt(key, long_msg, strlen(long_msg), CORP, NULL);
	dec = wx_decrypt(key, enc, CORP, &n, &why);
	cr_expect_eq(n, strlen(long_msg));
	free(enc);
	free(dec);
	/* Given the same random bytes, the same text; else a new one. */
	memset(rnd, 7, sizeof(rnd));
	enc = wx_encrypt(key, "1616140317555161061", 19, CORP, rnd);
	dec = wx_encrypt(key, "1616140317555161061", 19, CORP, rnd);
	cr_expect_str_eq(enc, dec);
	free(dec);
	dec = wx_encrypt(key, "1616140317555161061", 19, CORP, NULL);
	cr_expect_str_neq(enc, dec);
	free(dec);
	free(enc);
}
