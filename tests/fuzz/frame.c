/* Inbound frames from the platform: anything at all must parse or be
 * refused with a reason, never crash or leak. */
#include "fuzz.h"

#include "frame.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct frame f;
	char why[256];

	fuzz_init();
	if (frame_parse((const char *)data, size, &f, why, sizeof(why)) == 0)
		frame_free(&f);
	return 0;
}
