#include <stdint.h>
#include <string.h>

#include "utf8.h"

long
utf8_count(const char *str, size_t len)
{
	const uint8_t *s = (const uint8_t *)str, *end = s + len;
	long n = 0;

	while (s < end) {
		uint32_t c = *s, min;
		int more;

		if (c == 0)
			return -1;
		if (c < 0x80) {
			s++;
			n++;
			continue;
		}
		if ((c & 0xe0) == 0xc0) {
			more = 1;
			c &= 0x1f;
			min = 0x80;
		} else if ((c & 0xf0) == 0xe0) {
			more = 2;
			c &= 0x0f;
			min = 0x800;
		} else if ((c & 0xf8) == 0xf0) {
			more = 3;
			c &= 0x07;
			min = 0x10000;
		} else
			return -1;
		if (end - s <= more)
			return -1;
		for (s++; more > 0; more--, s++) {
			if ((*s & 0xc0) != 0x80)
				return -1;
			c = (c << 6) | (*s & 0x3f);
		}
		if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
			return -1;
		n++;
	}
	return n;
}

void
utf8_prefix(char *buf, size_t len, const char *s, size_t max)
{
	const uint8_t *p = (const uint8_t *)s;
	size_t n = 0, i = 0;

	while (p[i] != '\0' && n < max) {
		size_t w = p[i] < 0x80 ? 1
		    : p[i] < 0xe0      ? 2
		    : p[i] < 0xf0      ? 3
		                       : 4,
		       k;

		/* A sequence cut short (text that was never checked, such as
		 * a configured one) ends where its bytes do: never past the
		 * NUL. */
		for (k = 1; k < w && (p[i + k] & 0xc0) == 0x80; k++)
			;
		w = k;
		if (i + w + 4 > len) /* room for "…" and the NUL */
			break;
		i += w;
		n++;
	}
	memcpy(buf, s, i);
	if (p[i] != '\0' && i + 4 <= len) {
		memcpy(buf + i, "\xe2\x80\xa6", 3);
		i += 3;
	}
	buf[i] = '\0';
}
