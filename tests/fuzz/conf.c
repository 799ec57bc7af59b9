/* The configuration file: every byte sequence is refused with its file,
 * line and key, or loads. */
#include "fuzz.h"

#include "conf.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct conf *c;

	/* @include could name any file (a FIFO, /dev/zero): not ours. */
	if (memmem(data, size, "@include", 8) != NULL)
		return 0;
	c = conf_load(fuzz_file("kefud.conf", data, size));
	conf_free(c);
	conf_error_reset();
	return 0;
}
