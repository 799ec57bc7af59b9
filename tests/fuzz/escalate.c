/*
 * Recognising hard cases: the escalate plugin with the shipped rules on
 * any customer text (prices, negations, repeats over a few lines, and
 * FAQ misses in a row).
 */
#include "fuzz.h"

#include "../../plugins/escalate/escalate.c"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static void *state;

	fuzz_init();
	if (state == NULL)
		state =
		    fuzz_plugin("escalate = { rules = [\"" KEFU_SRC
		                "/etc/kefu/lang/escalate.conf\", \"" KEFU_SRC
		                "/etc/kefu/escalate.conf\"]; };\n",
		        "escalate", es_init);
	fuzz_turns(data, size, state, &kefu_plugin, 1);
	return 0;
}
