/*
 * Memory of live conversations: N conversations of 20 lines each, built
 * through the same code as kefud (conv_apply, conv_add_line), then the
 * process's resident set from /proc.  Prints figures; asserts nothing.
 *
 *	build/bench/conv [N]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "conv.h"

static long
rss_kb(const char *field)
{
	char line[256];
	long kb = -1;
	FILE *fp = fopen("/proc/self/status", "r");

	while (fp != NULL && fgets(line, sizeof(line), fp) != NULL)
		if (strncmp(line, field, strlen(field)) == 0)
			kb = strtol(line + strlen(field), NULL, 10);
	if (fp != NULL)
		fclose(fp);
	return kb;
}

int
main(int argc, char *argv[])
{
	/* Typical lines: a customer's question, the bot's answer. */
	static const char *const said[] = {
	    "你好,请问这件羽绒服还有L码吗?",
	    "您好,L码目前有货的,下单后48小时内发货,请问还有什么可以帮您?",
	    "什么时候能到上海",
	    "一般发货后2到3天送达上海,具体以快递实际派送为准哦。",
	};
	int n = argc > 1 ? atoi(argv[1]) : 10000, i, j;
	long before = rss_kb("VmRSS:"), after;
	struct timespec t0, t1;
	char id[32];

	conv_configure(20);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (i = 0; i < n; i++) {
		struct kefu_event ev = {.type = KEFU_EV_MESSAGE,
		    .customer_id = id,
		    .customer_name = "顾客",
		    .message_kind = "text"};
		struct conv *c;

		snprintf(id, sizeof(id), "c-%08d", i);
		ev.conversation = id;
		c = conv_insert(id);
		for (j = 0; j < 20; j += 2) {
			ev.text = said[j % 4];
			conv_apply(c, &ev, 1763780400000LL + j);
			conv_add_line(c, 'b', said[(j + 1) % 4],
			    1763780400000LL + j);
		}
		kv_set(&c->store, "hello\x1fgreeted", "1");
		kv_set(&c->entities, "product", "加厚羽绒服");
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	conv_take_dirty();
	after = rss_kb("VmRSS:");
	printf(
	    "conversations:  %d live, 20 lines each (typical Chinese lines of 9 to 33 characters)\n",
	    n);
	printf(
	    "RSS:            %.1f MB for the process, %.1f MB for the conversations (%.0f bytes each)\n",
	    after / 1024.0, (after - before) / 1024.0,
	    (after - before) * 1024.0 / n);
	printf("build time:     %.0f ms\n",
	    ((t1.tv_sec - t0.tv_sec) * 1e9 + (t1.tv_nsec - t0.tv_nsec)) / 1e6);
	conv_free_all();
	return 0;
}
