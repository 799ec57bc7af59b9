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
		    "/etc/kefu/faq.conf\"; synonyms = [\"" KEFU_SRC
		    "/etc/kefu/lang/synonyms.conf\", \"" KEFU_SRC
		    "/etc/kefu/synonyms.conf\"]; stopwords = \"" KEFU_SRC
		    "/etc/kefu/lang/stopwords-zh.txt\"; "
		    "clarify_intro = \"您是想问:\"; };\n",
		    "faq", faq_init);
	fuzz_turns(data, size, state, &kefu_plugin, 0);
	return 0;
}
