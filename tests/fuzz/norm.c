/* The text normaliser on any bytes, into buffers of any size. */
#include "fuzz.h"

#include "norm.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *in, out[512];
	size_t n;

	fuzz_init();
	in = fuzz_string(data, size);
	n = norm_text(in, out, sizeof(out));
	if (n >= sizeof(out) || strlen(out) != n)
		abort();
	norm_text(in, out, 1 + size % 16); /* small buffers too */
	free(in);
	return 0;
}
