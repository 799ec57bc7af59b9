/*
 * Matching: the faq plugin with the shipped knowledge base on any
 * customer text, a few lines to one conversation so that a "您是想问"
 * and the customer's pick are reached too.
 */
#include "fuzz.h"

#include "../../plugins/faq/faq.c"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static void *state;

	fuzz_init();
	if (state == NULL)
		state = fuzz_plugin(
		    "faq = { kb = \"" KEFU_SRC
		    "/etc/kefu/faq.conf\"; synonyms = \"" KEFU_SRC
		    "/etc/kefu/synonyms.conf\"; answer_percent = 80; "
		    "clarify_percent = 60; clarify_intro = \"您是想问:\"; };\n",
		    "faq", faq_init);
	fuzz_turns(data, size, state, faq_handle, 0);
	return 0;
}
