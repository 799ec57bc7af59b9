/*
 * Matching: the faq plugin with the shipped knowledge base on any
 * customer text, a few lines to one conversation so that a "您是想问"
 * and the customer's pick are reached too.
 */
#include "fuzz.h"

#include <libconfig.h>

#include "../../plugins/faq/faq.c"
#include "conv.h"
#include "host.h"
#include "turn.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char conf[] =
	    "faq = { kb = \"" KEFU_SRC
	    "/etc/kefu/faq.conf\"; synonyms = \"" KEFU_SRC
	    "/etc/kefu/synonyms.conf\"; answer_percent = 80; clarify_percent = 60; clarify_intro = \"您是想问:\"; };\n";
	static void *state;
	static config_t cfg;
	struct kefu_event ev = {.type = KEFU_EV_MESSAGE,
	    .conversation = "c-fuzz",
	    .customer_id = "u-fuzz",
	    .message_kind = "text"};
	struct kefu_turn t;
	char *text, *line, *save = NULL;
	int n = 0;

	fuzz_init();
	if (state == NULL) {
		config_init(&cfg);
		if (!config_read_string(&cfg, conf) ||
		    faq_init(host_table(),
		        (const struct kefu_conf *)config_lookup(&cfg, "faq"),
		        &state) < 0)
			abort();
	}
	text = fuzz_string(data, size);
	for (line = strtok_r(text, "\n", &save); line != NULL && n < 4;
	     line = strtok_r(NULL, "\n", &save), n++) {
		ev.text = line;
		turn_begin(&t, conv_get("c-fuzz", 1), &ev);
		faq_handle(state, &t, &ev);
		turn_end(&t);
	}
	conv_free_all();
	free(text);
	return 0;
}
