/* Knowledge base loading: the faq plugin's own validation on any file. */
#include "fuzz.h"

#include "../../plugins/faq/faq.c"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	config_t cfg;
	char conf[600];
	void *state;

	if (memmem(data, size, "@include", 8) != NULL)
		return 0;
	snprintf(conf, sizeof(conf), "faq = { kb = \"%s\"; };\n",
	    fuzz_file("faq.conf", data, size));
	config_init(&cfg);
	if (!config_read_string(&cfg, conf))
		abort();
	if (faq_init(host_table(),
	        (const struct kefu_conf *)config_lookup(&cfg, "faq"),
	        &state) == 0)
		faq_fini(state);
	config_destroy(&cfg);
	return 0;
}
