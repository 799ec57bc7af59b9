/*
 * Decision time of the answer chain (greeting + faq, the real plugins in a
 * real generation) per customer message, against knowledge bases of N
 * generated entries.  Prints the median and the 99th percentile; asserts
 * nothing.
 *
 *	build/bench/match BUILD_DIR N [N ...]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "conv.h"
#include "gen.h"
#include "turn.h"

static const char *const topic[] = {"发货", "快递", "退货", "换货", "尺码",
    "色差", "库存", "发票", "付款", "优惠券", "地址", "物流", "质量", "洗涤",
    "面料", "包邮", "退款", "赠品", "会员", "预售"};
static const char *const thing[] = {"羽绒服", "卫衣", "牛仔裤", "衬衫", "毛衣",
    "外套", "连衣裙", "T恤", "风衣", "棉服", "马甲", "短裤", "围巾", "帽子",
    "袜子", "睡衣", "西装", "夹克", "裙子", "大衣"};
static const char *const ask[] = {"怎么办", "多久", "可以吗", "在哪里",
    "是多少", "有没有", "怎么弄", "什么时候", "能不能", "要多少钱"};

static int
cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static void
kb(const char *path, int n)
{
	FILE *fp = fopen(path, "w");
	int i, t, h, a;

	fprintf(fp, "faq = (\n");
	for (i = 0; i < n; i++) {
		t = i % 20;
		h = (i / 20) % 20;
		a = (i / 400) % 10;
		fprintf(fp,
		    "{ id = \"e%d\"; questions = [\"%s%s%s\", \"%s的%s%s%d\", \"请问%s%s\"]; keywords = [\"%s\"]; answer = \"第%d条的答案。\"; }%s\n",
		    i, thing[h], topic[t], ask[a], thing[h], topic[t],
		    ask[(a + 3) % 10], i, topic[t], ask[(a + 7) % 10], topic[t],
		    i, i + 1 < n ? "," : "");
	}
	fprintf(fp, ");\n");
	fclose(fp);
}

static void
run(const char *build, int n)
{
	char dir[] = "/tmp/kefu-bench-XXXXXX", conf[600], kbf[600], why[256],
	     text[256];
	static double t[20000];
	struct kefu_event ev = {.type = KEFU_EV_MESSAGE,
	    .customer_id = "u",
	    .message_kind = "text"};
	struct kefu_turn turn;
	struct gen *g;
	FILE *fp;
	int i, m = 20000;
	double t0;

	mkdtemp(dir);
	snprintf(kbf, sizeof(kbf), "%s/faq.conf", dir);
	kb(kbf, n);
	snprintf(conf, sizeof(conf), "%s/kefud.conf", dir);
	fp = fopen(conf, "w");
	fprintf(fp,
	    "state_dir = \"state\";\nplugin_dir = \"%s/plugins\";\nplugins = [\"greeting\", \"faq\"];\n"
	    "greeting = { welcome = \"您好\"; greetings = [\"你好\", \"在吗\"]; };\n"
	    "faq = { kb = \"faq.conf\"; clarify_intro = \"您是想问:\"; };\n",
	    build);
	fclose(fp);
	t0 = now_us();
	if ((g = gen_build(conf, 1, GEN_TOKEN_SKIP, why, sizeof(why))) ==
	    NULL) {
		fprintf(stderr, "%s\n", why);
		exit(1);
	}
	printf("%6d entries: loaded in %.0f ms; ", n, (now_us() - t0) / 1000);
	gen_use(g);
	ev.conversation = "c-bench";
	for (i = 0; i < m; i++) {
		snprintf(text, sizeof(text), "%s%s%s", thing[(i * 7) % 20],
		    topic[i % 20], ask[(i * 3) % 10]);
		ev.text = text;
		t0 = now_us();
		turn_begin(&turn, conv_get("c-bench", 1), &ev);
		gen_dispatch(g, &turn, &ev);
		turn_end(&turn);
		t[i] = now_us() - t0;
	}
	qsort(t, m, sizeof(*t), cmp);
	printf(
	    "decision per message: median %.1f us, p99 %.1f us (%d messages)\n",
	    t[m / 2], t[m * 99 / 100], m);
	gen_free(g);
	conv_free_all();
	unlink(kbf);
	unlink(conf);
	rmdir(dir);
}

int
main(int argc, char *argv[])
{
	int i;

	if (argc < 3) {
		fprintf(stderr, "usage: match BUILD_DIR N [N ...]\n");
		return 2;
	}
	for (i = 2; i < argc; i++)
		run(argv[1], atoi(argv[i]));
	return 0;
}
