#include "util/text.h"

#include <stdlib.h>

#include "util/buf.h"

int tier_hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

char *tier_percent_decode(const char *s, size_t n, unsigned int flags, int *bad)
{
	char *out = tier_malloc(n + 1), *o = out;
	*bad = 0;
	if (!out)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		int c = (unsigned char)s[i];
		if (c == '%') {
			int hi = i + 2 < n ? tier_hexval(s[i + 1]) : -1;
			int lo = hi >= 0 ? tier_hexval(s[i + 2]) : -1;
			if (hi >= 0 && lo >= 0) {
				c = hi * 16 + lo;
				i += 2;
			} else if (flags & TIER_DECODE_STRICT) {
				c = 0; /* refused below */
			}
		} else if (c == '+' && (flags & TIER_DECODE_PLUS_SPACE)) {
			c = ' ';
		}
		if (c == 0) {
			*bad = 1;
			free(out);
			return NULL;
		}
		*o++ = (char)c;
	}
	*o = '\0';
	return out;
}
