#ifndef KEFU_WXCRYPT_H
#define KEFU_WXCRYPT_H

#include <stddef.h>

/*
 * WeCom (企业微信) callback security, for the 微信客服 driver: the
 * signature over a callback and the encryption of its body, as the WeCom
 * documentation's 加解密方案 describes them.
 *
 *   msg_signature = hex(SHA1(sorted(token, timestamp, nonce, encrypted)
 *                            concatenated))
 *   encrypted     = base64(AES-256-CBC(key, iv = key[0..15],
 *                          random(16) . msg_len(4, big-endian) . msg .
 *                          receiveid, PKCS#7 to 32 bytes))
 *   key           = base64(EncodingAESKey "=") (43 characters -> 32 bytes)
 */

#define WX_KEY_LEN 32
#define WX_SIG_LEN 40 /* hex characters */

/* The AES key from an EncodingAESKey: 0, or -1 if it is not 43 base64
 * characters that make 32 bytes. */
int wx_key(const char *encoding_aes_key, unsigned char key[WX_KEY_LEN]);

/* The signature a callback with these parts must carry, NUL-ended. */
void wx_signature(const char *token, const char *timestamp, const char *nonce,
    const char *encrypted, char out[WX_SIG_LEN + 1]);

/* 1 when sig is the signature of the parts (compared in constant time). */
int wx_signature_ok(const char *sig, const char *token, const char *timestamp,
    const char *nonce, const char *encrypted);

/*
 * The message inside an encrypted text, malloc'ed and NUL-ended with its
 * length in *len; NULL with the reason in *why when the text is not
 * base64, not whole AES blocks, badly padded, its length field is wrong,
 * or it was not meant for receiveid (the corp id).
 */
char *wx_decrypt(const unsigned char key[WX_KEY_LEN], const char *encrypted,
    const char *receiveid, size_t *len, const char **why);

/* The encrypted text (base64, malloc'ed) of msg for receiveid, with the
 * 16 random bytes given (tests, the fake platform) or drawn (NULL). */
char *wx_encrypt(const unsigned char key[WX_KEY_LEN], const char *msg,
    size_t len, const char *receiveid, const unsigned char *random16);

#endif
