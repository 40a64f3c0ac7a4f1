/*
 * libtier error model.
 *
 * Every fallible function returns an int: 0 on success or one of the
 * negative TIER_E* codes below.  Each code is a decision a caller takes
 * differently; the details are in a thread-local one-line message read with
 * tier_error_last().  Codes are never renumbered: a retired code keeps its
 * number as a placeholder.
 */
#ifndef TIER_ERRORS_H
#define TIER_ERRORS_H

#include "tier/common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
	TIER_OK = 0,
	/** Anything not listed below; the message says what. */
	TIER_ERROR = -1,
	/**
	 * Transient: the tier did not answer (refused, reset, timeout, FTP 4xx,
	 * a root directory that vanished like an unmounted share).  The
	 * reconnect layer retries these; once it gives up the tier is offline.
	 */
	TIER_EOFFLINE = -2,
	/** The object, file or revision does not exist. */
	TIER_ENOTFOUND = -3,
	/** Authentication refused or permission denied: permanent. */
	TIER_EAUTH = -4,
	/** The tier (or the local disk) is full. */
	TIER_ENOSPC = -5,
	/** Data failed its hash, a structure failed to parse. */
	TIER_ECORRUPT = -6,
	/** The thing exists already, or a lock is held by someone else. */
	TIER_ECONFLICT = -7,
	/** Another installation writes to this vault (exit 3). */
	TIER_EFOREIGN = -8,
	/** A tier is behind what this installation wrote there (exit 4). */
	TIER_EROLLEDBACK = -9,
	/** Cancelled by a callback or by a write starting (exit 6). */
	TIER_EABORTED = -10,
	/** Bad argument, URL or configuration (exit 2). */
	TIER_EUSAGE = -11,
	/** Gave up waiting for a tier (exit 75). */
	TIER_ETIMEOUT = -12,
	/** The tier kind cannot do this operation. */
	TIER_EUNSUPPORTED = -13,
} tier_error_code;

/**
 * The last error message of the calling thread: one line, lowercase, no
 * full stop, naming the thing.  Never NULL (empty string when none).
 */
TIER_EXTERN const char *tier_error_last(void);

/**
 * The code that went with the last message (TIER_OK when none): what the
 * failing call returned.
 */
TIER_EXTERN int tier_error_last_code(void);

/** Short stable name of a code ("offline", "not found", ...). */
TIER_EXTERN const char *tier_error_name(int code);

/**
 * Set the calling thread's last error to msg and return code: for
 * callbacks (a password source) whose failure libtier passes on as is.
 */
TIER_EXTERN int tier_error_raise(int code, const char *msg);

/** Forget the last error of the calling thread. */
TIER_EXTERN void tier_error_clear(void);

#ifdef __cplusplus
}
#endif
#endif
