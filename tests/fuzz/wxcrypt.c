/* WeCom callback bodies: anything a callback could carry must decrypt or
 * be refused with a reason, never crash, over-read or leak; and what we
 * encrypt must decrypt to itself. */
#include "fuzz.h"

#include "wxcrypt.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static unsigned char key[WX_KEY_LEN];
	static int keyed;
	const char *why;
	char *text, *out, *enc, sig[WX_SIG_LEN + 1];
	size_t n;

	fuzz_init();
	if (!keyed &&
	    wx_key("jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C", key) == 0)
		keyed = 1;
	text = strndup((const char *)data, size);
	if ((out = wx_decrypt(key, text, "wx5823bf96d3bd56c7", &n, &why)) !=
	    NULL)
		free(out);
	wx_signature(text, "1409659813", "1372623149", text, sig);
	enc = wx_encrypt(key, (const char *)data, size, "corp", NULL);
	if ((out = wx_decrypt(key, enc, "corp", &n, &why)) == NULL ||
	    n != size || memcmp(out, data, size) != 0)
		abort();
	free(out);
	free(enc);
	free(text);
	return 0;
}
