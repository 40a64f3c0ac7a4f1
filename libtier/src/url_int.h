/*
 * Internal to the tier URL parser: url.c (names, redaction, copy, free)
 * and url_parse.c (the grammar of one URL).
 */
#ifndef TIER_URL_INT_H
#define TIER_URL_INT_H

#include "tier/location.h"

/**
 * Parse text (a URL without "NAME=") into u (zeroed by the caller; what
 * was filled in is freed with it on failure).  shown is the URL as
 * messages name it (redacted).  0, or TIER_EUSAGE with a one-line message,
 * or TIER_ERROR for out of memory.
 */
int tier_url_parse_text(tier_url *u, const char *text, const char *shown);

#endif
