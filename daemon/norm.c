/*
 * Normalising what customers write, before anything matches it: full
 * width to half width, letters to lower case, traditional characters to
 * simplified ones (all of OpenCC's), punctuation and emoji to single spaces,
 * circled and full-width digits to ASCII.  Chinese numerals stay as they
 * are: 一 is a number in 一件 but not in 一下.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "norm.h"

/*
 * Traditional -> simplified: every character of OpenCC's TSCharacters,
 * generated at build time (tools/gen-t2s.py), sorted by code point.
 */
#include "t2s.h"

/* Variants customers type that OpenCC leaves alone (劵 for 券). */
static const uint32_t norm_variants[][2] = {
    {0x52b5, 0x5238}, /* 劵 -> 券 */
};

/* UTF-8 decode of one code point; returns its length, 0 at the end. */
static size_t
norm_decode(const unsigned char *s, uint32_t *cp)
{
	if (s[0] == 0)
		return 0;
	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	}
	if ((s[0] & 0xe0) == 0xc0 && s[1]) {
		*cp = (s[0] & 0x1f) << 6 | (s[1] & 0x3f);
		return 2;
	}
	if ((s[0] & 0xf0) == 0xe0 && s[1] && s[2]) {
		*cp = (s[0] & 0x0f) << 12 | (s[1] & 0x3f) << 6 | (s[2] & 0x3f);
		return 3;
	}
	if ((s[0] & 0xf8) == 0xf0 && s[1] && s[2] && s[3]) {
		*cp = (s[0] & 0x07) << 18 | (s[1] & 0x3f) << 12 |
		    (s[2] & 0x3f) << 6 | (s[3] & 0x3f);
		return 4;
	}
	*cp = 0xfffd; /* invalid: one byte at a time */
	return 1;
}

static size_t
norm_encode(uint32_t cp, char *out)
{
	if (cp < 0x80) {
		out[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (char)(0xc0 | cp >> 6);
		out[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (char)(0xe0 | cp >> 12);
		out[1] = (char)(0x80 | (cp >> 6 & 0x3f));
		out[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	out[0] = (char)(0xf0 | cp >> 18);
	out[1] = (char)(0x80 | (cp >> 12 & 0x3f));
	out[2] = (char)(0x80 | (cp >> 6 & 0x3f));
	out[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

static uint32_t
norm_lookup(const uint32_t (*t)[2], size_t n, uint32_t cp)
{
	size_t lo = 0, hi = n, mid;

	while (lo < hi) {
		mid = (lo + hi) / 2;
		if (t[mid][0] < cp)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < n && t[lo][0] == cp ? t[lo][1] : cp;
}

/* The simplified form of a traditional character, or cp itself. */
static uint32_t
norm_simplify(uint32_t cp)
{
	if (cp < 0x3400)
		return cp;
	cp = norm_lookup(norm_variants,
	    sizeof(norm_variants) / sizeof(*norm_variants), cp);
	return norm_lookup(norm_t2s, sizeof(norm_t2s) / sizeof(*norm_t2s), cp);
}

/* What a code point becomes: another one, a space (0x20), or nothing (0). */
static uint32_t
norm_map(uint32_t cp)
{
	if (cp >= 0xff10 && cp <= 0xff19) /* full-width digits */
		return cp - 0xfee0;
	if (cp >= 0xff21 && cp <= 0xff3a) /* full-width capitals */
		return cp - 0xfee0 + 32;
	if (cp >= 0xff41 && cp <= 0xff5a)
		return cp - 0xfee0;
	if (cp >= 'A' && cp <= 'Z')
		return cp + 32;
	if (cp >= 0x2460 && cp <= 0x2468) /* ①-⑨ */
		return '1' + (cp - 0x2460);
	if (cp >= 0x2776 && cp <= 0x277e) /* ❶-❾ */
		return '1' + (cp - 0x2776);
	if (cp == 0xfe0f || cp == 0x200d || cp == 0xfe0e) /* emoji joiners */
		return 0;
	if ((cp >= 0x1f000 && cp <= 0x1faff) ||
	    (cp >= 0x2600 && cp <= 0x27bf) ||
	    (cp >= 0x1f1e6 && cp <= 0x1f1ff) || cp == 0xfffd)
		return ' '; /* emoji, symbols */
	if (cp < 0x80 &&
	    !((cp >= '0' && cp <= '9') || (cp >= 'a' && cp <= 'z')))
		return ' '; /* ASCII punctuation, spaces, controls */
	if ((cp >= 0x3000 && cp <= 0x303f) || (cp >= 0xff00 && cp <= 0xffef) ||
	    (cp >= 0x2000 && cp <= 0x206f) || (cp >= 0xfe30 && cp <= 0xfe4f) ||
	    cp == 0x00b7 || cp == 0x00a0)
		return ' '; /* CJK and general punctuation, full-width rest */
	return norm_simplify(cp);
}

size_t
norm_text(const char *in, char *out, size_t len)
{
	const unsigned char *p = (const unsigned char *)in;
	size_t n = 0, w;
	uint32_t cp, m;
	char enc[4];

	if (len == 0)
		return 0;
	while ((w = norm_decode(p, &cp)) != 0) {
		p += w;
		if ((m = norm_map(cp)) == 0)
			continue;
		if (m == ' ' && (n == 0 || out[n - 1] == ' '))
			continue; /* collapse, and no space in front */
		w = norm_encode(m, enc);
		if (n + w >= len)
			break;
		memcpy(out + n, enc, w);
		n += w;
	}
	while (n > 0 && out[n - 1] == ' ')
		n--;
	out[n] = '\0';
	return n;
}
