/*
 * Recognising hard cases: the escalate plugin with the shipped rules on
 * any customer text (prices, negations, repeats over a few lines).
 */
#include "fuzz.h"

#include <libconfig.h>

#include "../../plugins/escalate/escalate.c"
#include "conv.h"
#include "host.h"
#include "turn.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char conf[] = "escalate = { rules = \"" KEFU_SRC
	                           "/etc/kefu/escalate.conf\"; };\n";
	static void *state;
	static config_t cfg;
	struct kefu_event ev = {.type = KEFU_EV_MESSAGE,
	    .conversation = "c-fuzz",
	    .customer_id = "u-fuzz",
	    .message_kind = "text"};
	struct kefu_turn t;
	char *text, *line, *save = NULL;
	struct conv *c;
	int n = 0;

	fuzz_init();
	if (state == NULL) {
		config_init(&cfg);
		if (!config_read_string(&cfg, conf) ||
		    es_init(host_table(),
		        (const struct kefu_conf *)config_lookup(&cfg,
		            "escalate"),
		        &state) < 0)
			abort();
	}
	text = fuzz_string(data, size);
	for (line = strtok_r(text, "\n", &save); line != NULL && n < 4;
	     line = strtok_r(NULL, "\n", &save), n++) {
		ev.text = line;
		c = conv_get("c-fuzz", 1);
		conv_add_line(c, 'c', line, 0);
		turn_begin(&t, c, &ev);
		if (n % 2)
			turn_note_set(&t, "faq.unanswered", "1");
		es_handle(state, &t, &ev);
		turn_end(&t);
	}
	conv_free_all();
	free(text);
	return 0;
}
