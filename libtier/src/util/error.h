/* Internal side of the error model: setting the thread-local message. */
#ifndef TIER_UTIL_ERROR_H
#define TIER_UTIL_ERROR_H

#include "tier/errors.h"

#if defined(__GNUC__)
#define TIER_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define TIER_PRINTF(f, a)
#endif

/** Set the message and return code, so `return tier_error_set(...)` works. */
int tier_error_set(int code, const char *fmt, ...) TIER_PRINTF(2, 3);

/** Like tier_error_set, appending ": strerror(errnum)". */
int tier_error_set_errno(int code, int errnum, const char *fmt, ...)
        TIER_PRINTF(3, 4);

/** Map an errno value to a tier code (ENOENT -> ENOTFOUND, EACCES -> EAUTH...). */
int tier_error_from_errno(int errnum);

/** Prefix the current message with "context: " (keeps the code). */
int tier_error_prefix(const char *fmt, ...) TIER_PRINTF(1, 2);

/** Translate the last libgit2 error into ours; returns the tier code. */
int tier_error_from_git(int git_rc, const char *fmt, ...) TIER_PRINTF(2, 3);

#endif
