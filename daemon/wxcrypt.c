/*
 * WeCom callback signatures and body encryption (wxcrypt.h), with
 * OpenSSL.  Checked against the published example of the WeCom
 * documentation (tests/unit/test_wxcrypt.c) and fuzzed (tests/fuzz).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "log.h"
#include "wxcrypt.h"
#include "xmalloc.h"

#define WX_RANDOM 16
#define WX_BLOCK 32 /* PKCS#7 to 32 bytes, not AES's 16 */
#define WX_TEXT_MAX (1 << 20)

/* Base64 to bytes (malloc'ed), or NULL: the length must be whole groups
 * of four, and only the alphabet and final '=' may appear. */
static unsigned char *
wx_unbase64(const char *s, size_t *len)
{
	size_t n = strlen(s), pad = 0;
	unsigned char *out;
	int r;

	if (n == 0 || n % 4 != 0 || n > WX_TEXT_MAX)
		return NULL;
	if (s[n - 1] == '=')
		pad = s[n - 2] == '=' ? 2 : 1;
	if (memchr(s, '=', n - pad) != NULL)
		return NULL;
	out = xcalloc(1, n / 4 * 3 + 1);
	if ((r = EVP_DecodeBlock(out, (const unsigned char *)s, (int)n)) < 0 ||
	    (size_t)r < pad) {
		free(out);
		return NULL;
	}
	*len = (size_t)r - pad;
	return out;
}

int
wx_key(const char *encoding_aes_key, unsigned char key[WX_KEY_LEN])
{
	char b64[48];
	unsigned char *k;
	size_t n;

	if (strlen(encoding_aes_key) != 43)
		return -1;
	snprintf(b64, sizeof(b64), "%s=", encoding_aes_key);
	if ((k = wx_unbase64(b64, &n)) == NULL)
		return -1;
	if (n != WX_KEY_LEN) {
		OPENSSL_cleanse(k, n);
		free(k);
		return -1;
	}
	memcpy(key, k, WX_KEY_LEN);
	OPENSSL_cleanse(k, n);
	free(k);
	return 0;
}

static int
wx_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

void
wx_signature(const char *token, const char *timestamp, const char *nonce,
    const char *encrypted, char out[WX_SIG_LEN + 1])
{
	const char *part[4] = {token, timestamp, nonce, encrypted};
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0, i;
	EVP_MD_CTX *ctx;

	qsort(part, 4, sizeof(*part), wx_cmp);
	if ((ctx = EVP_MD_CTX_new()) == NULL)
		fatalx("out of memory");
	EVP_DigestInit_ex(ctx, EVP_sha1(), NULL);
	for (i = 0; i < 4; i++)
		EVP_DigestUpdate(ctx, part[i], strlen(part[i]));
	EVP_DigestFinal_ex(ctx, md, &mdlen);
	EVP_MD_CTX_free(ctx);
	for (i = 0; i < mdlen && i < WX_SIG_LEN / 2; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
	out[2 * i] = '\0';
}

int
wx_signature_ok(const char *sig, const char *token, const char *timestamp,
    const char *nonce, const char *encrypted)
{
	char want[WX_SIG_LEN + 1];

	wx_signature(token, timestamp, nonce, encrypted, want);
	return strlen(sig) == WX_SIG_LEN &&
	    CRYPTO_memcmp(sig, want, WX_SIG_LEN) == 0;
}

/* AES-256-CBC over whole blocks, no padding of OpenSSL's own; -1 on a
 * failure, else the length (that of the input). */
static int
wx_aes(const unsigned char key[WX_KEY_LEN], int enc, const unsigned char *in,
    size_t len, unsigned char *out)
{
	EVP_CIPHER_CTX *ctx;
	int n = 0, m = 0, ok;

	if ((ctx = EVP_CIPHER_CTX_new()) == NULL)
		fatalx("out of memory");
	ok = EVP_CipherInit_ex(ctx, EVP_aes_256_cbc(), NULL, key, key, enc) ==
	        1 &&
	    EVP_CIPHER_CTX_set_padding(ctx, 0) == 1 &&
	    EVP_CipherUpdate(ctx, out, &n, in, (int)len) == 1 &&
	    EVP_CipherFinal_ex(ctx, out + n, &m) == 1;
	EVP_CIPHER_CTX_free(ctx);
	return ok ? n + m : -1;
}

char *
wx_decrypt(const unsigned char key[WX_KEY_LEN], const char *encrypted,
    const char *receiveid, size_t *len, const char **why)
{
	unsigned char *ct, *pt;
	size_t n, pad, body, mlen, rlen = strlen(receiveid), i;
	char *msg = NULL;

	if ((ct = wx_unbase64(encrypted, &n)) == NULL) {
		*why = "not base64";
		return NULL;
	}
	if (n < WX_BLOCK || n % 16 != 0) {
		*why = "not whole AES blocks";
		free(ct);
		return NULL;
	}
	pt = xcalloc(1, n);
	if (wx_aes(key, 0, ct, n, pt) != (int)n) {
		*why = "cannot be decrypted";
		goto out;
	}
	pad = pt[n - 1];
	for (i = 0; pad >= 1 && pad <= WX_BLOCK && i < pad; i++)
		if (pt[n - 1 - i] != pad)
			break;
	if (pad < 1 || pad > WX_BLOCK || i != pad) {
		*why = "bad padding (wrong key?)";
		goto out;
	}
	body = n - pad;
	if (body < WX_RANDOM + 4) {
		*why = "too short";
		goto out;
	}
	mlen = (size_t)pt[16] << 24 | (size_t)pt[17] << 16 |
	    (size_t)pt[18] << 8 | pt[19];
	if (mlen > body - WX_RANDOM - 4) {
		*why = "message length past the end";
		goto out;
	}
	if (body - WX_RANDOM - 4 - mlen != rlen ||
	    memcmp(pt + WX_RANDOM + 4 + mlen, receiveid, rlen) != 0) {
		*why = "meant for another corp id";
		goto out;
	}
	msg = xcalloc(1, mlen + 1);
	memcpy(msg, pt + WX_RANDOM + 4, mlen);
	*len = mlen;
out:
	OPENSSL_cleanse(pt, n);
	free(pt);
	free(ct);
	return msg;
}

char *
wx_encrypt(const unsigned char key[WX_KEY_LEN], const char *msg, size_t len,
    const char *receiveid, const unsigned char *random16)
{
	size_t rlen = strlen(receiveid), body = WX_RANDOM + 4 + len + rlen;
	size_t pad = WX_BLOCK - body % WX_BLOCK, n = body + pad;
	unsigned char *pt = xcalloc(1, n), *ct = xcalloc(1, n);
	char *out = xcalloc(1, (n + 2) / 3 * 4 + 1);

	if (random16 != NULL)
		memcpy(pt, random16, WX_RANDOM);
	else if (getrandom(pt, WX_RANDOM, 0) != WX_RANDOM)
		fatal("getrandom");
	pt[16] = (unsigned char)(len >> 24);
	pt[17] = (unsigned char)(len >> 16);
	pt[18] = (unsigned char)(len >> 8);
	pt[19] = (unsigned char)len;
	memcpy(pt + WX_RANDOM + 4, msg, len);
	memcpy(pt + WX_RANDOM + 4 + len, receiveid, rlen);
	memset(pt + body, (int)pad, pad);
	if (wx_aes(key, 1, pt, n, ct) != (int)n)
		fatalx("AES-256-CBC failed");
	EVP_EncodeBlock((unsigned char *)out, ct, (int)n);
	OPENSSL_cleanse(pt, n);
	free(pt);
	free(ct);
	return out;
}
