/* The style guard of the shipped configuration on any reply text. */
#include "fuzz.h"

#include "guard.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct guard *g;
	static config_t cfg;
	char *text, *safe;

	fuzz_init();
	if (g == NULL) {
		config_init(&cfg);
		config_set_include_dir(&cfg, KEFU_SRC "/etc/kefu");
		if (!config_read_file(&cfg, KEFU_SRC "/etc/kefu/kefud.conf") ||
		    (g = guard_build(config_lookup(&cfg, "guard"))) == NULL)
			abort();
		guard_use(g);
	}
	text = fuzz_string(data, size);
	safe = guard_apply(text, "fuzz", "c-fuzz");
	if (safe == NULL)
		abort();
	free(safe);
	free(text);
	return 0;
}
