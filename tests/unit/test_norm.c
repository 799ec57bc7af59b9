/* The normaliser: a table of what customers write and what matching sees. */
#include "../harness.h"

#include "norm.h"
#include "utf8.h"

static const struct {
	const char *in, *out;
} cases[] = {
    {"你好", "你好"},
    {"  你好!!!  ", "你好"},
    {"今天能到吗???", "今天能到吗"},
    {"今天能到吗？？？", "今天能到吗"},
    {"在嗎？", "在吗"},                       /* traditional */
    {"這個貨什麼時候發", "这个货什么时候发"}, /* traditional */
    /* Beyond shopping words: the whole of OpenCC's character table. */
    {"我要投訴,差評!騙子,錯了幾次", "我要投诉 差评 骗子 错了几次"},
    {"太貴了 機器壞了 找老闆", "太贵了 机器坏了 找老板"},
    {"優惠劵", "优惠券"},       /* a variant customers type */
    {"ＸＬ码有吗", "xl码有吗"}, /* full width, case */
    {"Ｈｅｌｌｏ", "hello"},
    {"HELLO Hi", "hello hi"},
    {"１２３元", "123元"},
    {"①号链接", "1号链接"},
    {"谢谢😊👍", "谢谢"},
    {"👋", ""},
    {"❤️❤️", ""},
    {"你好，请问、这件「衣服」有货吗", "你好 请问 这件 衣服 有货吗"},
    {"100块卖不卖", "100块卖不卖"},
    {"一下", "一下"}, /* Chinese numerals stay */
    {"a\tb\nc", "a b c"},
    {"", ""},
};

Test(norm, table)
{
	char out[256];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		norm_text(cases[i].in, out, sizeof(out));
		cr_expect_str_eq(out, cases[i].out, "for \"%s\"", cases[i].in);
	}
}

Test(norm, never_overflows_and_stays_utf8)
{
	char out[8];
	size_t n;

	n = norm_text("你好你好你好", out, sizeof(out));
	cr_expect_eq(n, 6,
	    "two characters of three bytes fit in 8 with the NUL");
	cr_expect_str_eq(out, "你好");
	n = norm_text("\xff\xfe\xe4\xbd", out, sizeof(out)); /* invalid bytes */
	cr_expect_eq(n, 0);
}

/* utf8_prefix on text that ends inside a character (a configured text is
 * not checked as UTF-8): ASan read past the end before the fix. */
Test(norm, a_prefix_of_text_cut_inside_a_character)
{
	char *s = malloc(4), buf[64];

	memcpy(s, "a\xe5\x9b", 3); /* 'a', then two of 国's three bytes */
	s[3] = '\0';
	utf8_prefix(buf, sizeof(buf), s, 10);
	cr_expect_eq(strlen(buf), 3);
	cr_expect_eq(memcmp(buf, s, 3), 0);
	utf8_prefix(buf, sizeof(buf), "好的", 1);
	cr_expect_str_eq(buf, "好…");
	free(s);
}
