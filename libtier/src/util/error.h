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

/**
 * An error kept across cleanup, as libgit2's git_error_save: cleanup code
 * that may itself fail (closing a file, removing a temp dir) runs between
 * tier_error_save() and tier_error_restore(), so the caller sees the first
 * failure, not the cleanup's.
 */
typedef struct {
	int code;
	char msg[1024];
} tier_error_saved;

void tier_error_save(tier_error_saved *s);
/** Put the saved error back; returns its code, so `return` can use it. */
int tier_error_restore(const tier_error_saved *s);

/**
 * Option structs are versioned as in libgit2: a caller built against an
 * older header passes an older version, which must keep working.  Returns
 * TIER_EUSAGE "unsupported <what> version N (this libtier knows 1 to M)"
 * when version is 0 or newer than current.
 */
int tier_check_version(unsigned int version, unsigned int current,
                       const char *what);

/** Return from the calling function when the option struct's version is unknown. */
#define TIER_CHECK_VERSION(opts, current, what)                               \
	do {                                                                  \
		int tier__rc = tier_check_version((opts)->version, (current), \
		                                  (what));                    \
		if (tier__rc < 0)                                             \
			return tier__rc;                                      \
	} while (0)

/**
 * Return TIER_EUSAGE "invalid argument: <expr>" from the calling function
 * when a required argument is missing (NULL handle, NULL out pointer).
 */
#define TIER_ASSERT_ARG(expr)                                                 \
	do {                                                                  \
		if (!(expr))                                                  \
			return tier_error_set(TIER_EUSAGE,                    \
			                      "invalid argument: %s", #expr); \
	} while (0)

#endif
