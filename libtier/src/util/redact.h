/*
 * Credentials out of messages (docs/security.md): every URL in a text
 * loses the password of its user info and the values of its secret query
 * keys, found as fields of the URL, never by searching for the secret's
 * text (a short password would match ordinary words).
 */
#ifndef TIER_UTIL_REDACT_H
#define TIER_UTIL_REDACT_H

#include "util/buf.h"

/**
 * Append msg to out with every URL's credentials replaced by "***":
 * "ftp://u:pw@h/x" -> "ftp://u:***@h/x", "...?token=t&a=b" ->
 * "...?token=***&a=b".  Returns 1 when something was replaced, 0 when not,
 * TIER_ERROR when out of memory.
 */
int tier_redact_urls(tier_buf *out, const char *msg);

/** Is name (length n) a query key whose value is a secret? */
int tier_redact_secret_key(const char *name, size_t n);

#endif
