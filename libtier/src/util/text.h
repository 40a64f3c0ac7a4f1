/* Small text helpers shared by the URL, query and snapshot parsers. */
#ifndef TIER_UTIL_TEXT_H
#define TIER_UTIL_TEXT_H

#include <stddef.h>

#include "util/buf.h"

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

/* Bytes that make a name need quoting (core.quotePath = true, as git). */
int tier_name_needs_quoting(const char *s, size_t len);

/**
 * Append s[0..len) to out quoted the way git's core.quotePath does: as is
 * when it holds no control byte, DEL, '"', '\\' or byte >= 0x80; else in
 * double quotes with C escapes (\\n, \\t, \\", \\\\) and \\ooo octal
 * for the other bytes.  Terminal escapes and newlines in names a tier sent
 * can never reach a terminal raw, and one name is always one line.
 */
int tier_quote_path(tier_buf *out, const char *s, size_t len);

/**
 * tier_quote_path() of a NUL-terminated string into one of a few
 * thread-local buffers, for error messages: valid until the fourth next
 * call on the same thread; cut (with "...") past 512 bytes.
 */
const char *tier_quote_name(const char *s);

#endif
