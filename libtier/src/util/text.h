/* Small text helpers shared by the URL, query and snapshot parsers. */
#ifndef TIER_UTIL_TEXT_H
#define TIER_UTIL_TEXT_H

#include <stddef.h>

/** Value of a hexadecimal digit, -1 if c is not one. */
int tier_hexval(int c);

#define TIER_DECODE_STRICT \
	0x1u /**< a malformed %XX is an error (else kept as is) */
#define TIER_DECODE_PLUS_SPACE 0x2u /**< '+' is a space, as in form encoding */

/**
 * Percent-decode s[0..n) into a new NUL-terminated string (caller frees).
 * A decoded NUL byte, or with TIER_DECODE_STRICT a malformed escape, gives
 * NULL with *bad = 1; out of memory gives NULL with *bad = 0.
 */
char *tier_percent_decode(const char *s, size_t n, unsigned int flags,
                          int *bad);

#endif
