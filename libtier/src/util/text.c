#include "util/text.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/buf.h"
#include "util/error.h"

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

int tier_name_needs_quoting(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\')
			return 1;
	}
	return 0;
}

int tier_quote_path(tier_buf *out, const char *s, size_t len)
{
	static const char esc_from[] = "\a\b\t\n\v\f\r\"\\";
	static const char esc_to[] = "abtnvfr\"\\";
	int rc = 0;

	if (!tier_name_needs_quoting(s, len))
		return tier_buf_put(out, s, len);
	rc |= tier_buf_putc(out, '"');
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		const char *e =
		        c ? memchr(esc_from, c, sizeof(esc_from) - 1) : NULL;
		if (e) {
			rc |= tier_buf_putc(out, '\\');
			rc |= tier_buf_putc(out, esc_to[e - esc_from]);
		} else if (c < 0x20 || c >= 0x7f) {
			rc |= tier_buf_printf(out, "\\%03o", c);
		} else {
			rc |= tier_buf_putc(out, (char)c);
		}
	}
	rc |= tier_buf_putc(out, '"');
	return rc < 0 ? TIER_ERROR : 0;
}

const char *tier_quote_name(const char *s)
{
	enum { SLOTS = 4, MAX = 512 };
	static _Thread_local char slot[SLOTS][MAX + 8];
	static _Thread_local unsigned next;
	char *dst = slot[next++ % SLOTS];
	tier_buf b = TIER_BUF_INIT;
	size_t n;

	if (!s)
		s = "(null)";
	if (tier_quote_path(&b, s, strlen(s)) < 0 || !b.ptr) {
		tier_buf_dispose(&b);
		snprintf(dst, MAX + 8, "?");
		return dst;
	}
	n = b.size;
	if (n > MAX) {
		memcpy(dst, b.ptr, MAX);
		memcpy(dst + MAX, "...", 4);
	} else {
		memcpy(dst, b.ptr, n);
		dst[n] = '\0';
	}
	tier_buf_dispose(&b);
	return dst;
}
