/* 微信客服 sync_msg answers: anything the platform could send must parse
 * into a checked page or be refused with a reason, never crash or leak. */
#include "fuzz.h"

#include "wxmsg.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct wx_page p;
	char why[256];
	int err;

	fuzz_init();
	if (wx_page_parse((const char *)data, size, &p, &err, why,
	        sizeof(why)) == 0)
		wx_page_free(&p);
	return 0;
}
