/*
 * Tier URLs and tier locations.
 *
 * A tier is one storage location of a vault, named by a URL:
 *   file:///abs/path          local disk or a mounted network share
 *   ftp://user:pw@host:port/path, ftps:// (explicit TLS), sftp://
 *   s3://bucket/prefix?endpoint=...&region=...
 *   fault+<url>?fault=/path/to/control   failure injection around any tier
 * optionally prefixed by a name: "NAME=URL" (names are [A-Za-z0-9_.-]+).
 *
 * A tier_location is an opened tier: its URL, its driver, and the reconnect
 * layer (R1) through which every call goes.  Paths given to location calls
 * are relative to the tier root, '/'-separated, without "." or ".." parts.
 */
#ifndef TIER_LOCATION_H
#define TIER_LOCATION_H

#include "tier/common.h"

#include <stddef.h>
#include <stdint.h>

#include "tier/errors.h"

#ifdef __cplusplus
extern "C" {
#endif

/** A parsed tier URL.  All strings are owned by the struct; NULL if absent. */
typedef struct tier_url {
	char *name;     /**< "NAME=" part, or a name derived from the URL */
	char *scheme;   /**< "file", "ftp", "ftps", "sftp", "s3", "fault" */
	char *user;     /**< decoded */
	char *password; /**< decoded; never printed */
	char *host;
	int port;   /**< 0 when not given */
	char *path; /**< decoded, absolute ("/..."), no trailing '/' except "/" */
	char *query;            /**< raw query string without '?', or NULL */
	struct tier_url *inner; /**< for fault+URL: the wrapped URL */
	char *fault_control;    /**< for fault+URL: path of the control file */
} tier_url;

/**
 * Parse "NAME=URL" or "URL".  Returns 0, or TIER_EUSAGE for a bad URL,
 * with a message naming the problem (empty, unknown scheme, relative file
 * path, bad port, missing host, bad name or query...) and never echoing a
 * password; TIER_ERROR when out of memory.
 */
TIER_EXTERN int tier_url_parse(tier_url **out, const char *spec);

/** The URL as text with the password replaced by "***"; caller frees.
 *  NULL when out of memory. */
TIER_EXTERN char *tier_url_redacted(const tier_url *url);

/** Deep copy.  Returns 0, or TIER_ERROR when out of memory. */
TIER_EXTERN int tier_url_dup(tier_url **out, const tier_url *url);

TIER_EXTERN void tier_url_free(tier_url *url);

/* ------------------------------------------------------------------ */

typedef struct tier_location tier_location;

/** Metadata of one object on a tier. */
typedef struct {
	uint64_t size;
	int64_t mtime; /**< seconds since the epoch, 0 if unknown */
	int is_dir;
} tier_stat;

/**
 * Where put() takes its bytes from: memory (data != NULL) or a file
 * descriptor read with pread() from offset 0.  Either can be read again,
 * which is how the reconnect layer retries an upload.
 *
 * link_path (optional, with fd): the local file fd reads.  A file tier on
 * the same file system may hard-link it as the new object instead of
 * copying the bytes.  The caller promises never to change that file (it
 * only unlinks its own name afterwards) and gives it to one tier per
 * object at most, so that no two tiers ever share an inode.
 */
typedef struct {
	const void *data;
	int fd;
	uint64_t size;
	const char *link_path;
} tier_source;

/** Receives a streamed get(); non-zero return aborts with TIER_EABORTED. */
typedef int (*tier_sink_cb)(const void *data, size_t len, void *payload);
/** One name in a directory listing (not "." or ".."). */
typedef int (*tier_list_cb)(const char *name, const tier_stat *st,
                            void *payload);

/** Flags for put(). */
#define TIER_PUT_EXCLUSIVE 0x1u /**< fail with TIER_ECONFLICT if it exists */

/**
 * Sleep hook of the reconnect layer: called between attempts.  Returning
 * non-zero cancels the operation (TIER_EABORTED).  Tests use it as a fake
 * clock; sync uses it to stop waiting when a write starts.
 */
typedef int (*tier_sleep_cb)(unsigned int ms, void *payload);

/** Trace hook: one line per retry / state change, for -v. */
typedef void (*tier_trace_cb)(const char *line, void *payload);

/*
 * Defaults of tier_location_options, as TIER_LOCATION_OPTIONS_INIT fills
 * them (and as the tools' --retries, --retry-delay and --timeout start).
 */
/** Attempts per tier call (all of them, not re-tries) before offline. */
#define TIER_DEFAULT_RETRIES 10
/** Base of the exponential back-off between attempts, in milliseconds. */
#define TIER_DEFAULT_RETRY_DELAY_MS 200
/** Longest back-off between two attempts, in milliseconds. */
#define TIER_DEFAULT_RETRY_CAP_MS 30000
/** How long a remote tier may stay silent (connect, low speed), in seconds. */
#define TIER_DEFAULT_TIMEOUT_S 30

typedef struct {
	unsigned int version;
	/** attempts per call, default TIER_DEFAULT_RETRIES; 0 means 1 */
	unsigned int retries;
	/** base back-off in ms, default TIER_DEFAULT_RETRY_DELAY_MS */
	unsigned int retry_delay;
	/** back-off cap in ms, default TIER_DEFAULT_RETRY_CAP_MS */
	unsigned int retry_cap;
	/** connect / low-speed timeout in s, default TIER_DEFAULT_TIMEOUT_S;
	 *  0 also means the default */
	unsigned int timeout;
	uint64_t max_send_speed; /**< bytes/s, 0 = unlimited */
	uint64_t max_recv_speed;
	const char *cacert;  /**< CA file for ftps:// */
	int insecure;        /**< skip TLS / host key verification */
	const char *netrc;   /**< netrc file for credentials */
	tier_sleep_cb sleep; /**< NULL = nanosleep */
	tier_trace_cb trace;
	void *payload; /**< passed to sleep and trace */
} tier_location_options;

#define TIER_LOCATION_OPTIONS_VERSION 1
#define TIER_LOCATION_OPTIONS_INIT                                            \
	{                                                                     \
		TIER_LOCATION_OPTIONS_VERSION, TIER_DEFAULT_RETRIES,          \
		        TIER_DEFAULT_RETRY_DELAY_MS,                          \
		        TIER_DEFAULT_RETRY_CAP_MS, TIER_DEFAULT_TIMEOUT_S, 0, \
		        0, NULL, 0, NULL, NULL, NULL, NULL                    \
	}

/**
 * Open a tier from "NAME=URL" (or a bare URL).  Does not contact the tier:
 * a tier that is away opens fine and is found offline on first use.  opts
 * may be NULL (the defaults).
 *
 * Returns 0, or TIER_EUSAGE for no spec, a bad URL (tier_url_parse), a
 * scheme no driver is registered for, a driver option the driver refuses
 * (an S3 bucket missing, a bad query parameter) or an opts->version
 * outside 1..TIER_LOCATION_OPTIONS_VERSION; TIER_EUNSUPPORTED when the
 * driver's table has a version this library does not know; TIER_ERROR
 * when out of memory.  The driver's constructor may add its own codes.
 */
TIER_EXTERN int tier_location_open(tier_location **out, const char *spec,
                                   const tier_location_options *opts);
TIER_EXTERN void tier_location_free(tier_location *loc);

/**
 * A second, independent connection to the same tier (same URL, options and
 * offline verdict): one location must not be used by two threads at once,
 * so a thread that wants its own opens a clone.  Returns 0, or the codes
 * of tier_location_open() for reopening the driver (TIER_ERROR when out of
 * memory).
 */
TIER_EXTERN int tier_location_clone(tier_location **out,
                                    const tier_location *loc);

TIER_EXTERN const char *tier_location_name(const tier_location *loc);
/** URL with the password removed (borrowed). */
TIER_EXTERN const char *tier_location_display(const tier_location *loc);
TIER_EXTERN const tier_url *tier_location_url(const tier_location *loc);

/** Whether the reconnect layer has given up on this tier in this process
 *  (1 or 0; not an error code). */
TIER_EXTERN int tier_location_is_offline(const tier_location *loc);
/** Forget an offline verdict (before probing again). */
TIER_EXTERN void tier_location_reset(tier_location *loc);
/** Number of attempts made so far (all calls), for tests and stats. */
TIER_EXTERN uint64_t tier_location_attempts(const tier_location *loc);

/*
 * The primitives.  Each goes through the reconnect layer: transient
 * failures are retried with back-off; once attempts run out the call
 * returns TIER_EOFFLINE and the tier stays offline (later calls fail at
 * once) until tier_location_reset().
 *
 * Each returns 0, or:
 *   TIER_EOFFLINE     the tier did not answer within the attempts, or was
 *                     found offline earlier;
 *   TIER_EAUTH        refused (login, permission); a refused read makes
 *                     later calls fail the same way until reset;
 *   TIER_ENOTFOUND    no such object or directory (stat, get, rename,
 *                     list, remove);
 *   TIER_ECONFLICT    put(TIER_PUT_EXCLUSIVE) of an existing object, a
 *                     rename onto an existing one where the driver cannot
 *                     replace it, a file where a directory is wanted;
 *   TIER_ENOSPC       the tier is full (put, mkdir_p);
 *   TIER_ECORRUPT     the tier answered with something malformed (a
 *                     short object, a reply that does not parse);
 *   TIER_EABORTED     the sink or list callback returned non-zero, or the
 *                     sleep hook cancelled a retry;
 *   TIER_EUNSUPPORTED the driver lacks the operation (rename on S3);
 *   TIER_EUSAGE       a path the tier refuses ("..", absolute);
 *   TIER_ERROR        anything else (out of memory, a local failure).
 * Every message except TIER_EOFFLINE's already names the tier.
 */
TIER_EXTERN int tier_location_ping(tier_location *loc);
TIER_EXTERN int tier_location_stat(tier_location *loc, const char *path,
                                   tier_stat *out);
/** Stream bytes [offset, offset+len) (len UINT64_MAX = to the end). */
TIER_EXTERN int tier_location_get(tier_location *loc, const char *path,
                                  uint64_t offset, uint64_t len,
                                  tier_sink_cb sink, void *payload);
/** Read a whole (small) object into memory; caller frees *out.  As get(),
 *  and TIER_ECORRUPT when the object is larger than max_len. */
TIER_EXTERN int tier_location_get_all(tier_location *loc, const char *path,
                                      char **out, size_t *out_len,
                                      size_t max_len);
/** Atomic put: the object appears whole under its name, or not at all.
 *  flags: TIER_PUT_EXCLUSIVE (TIER_ECONFLICT when it exists). */
TIER_EXTERN int tier_location_put(tier_location *loc, const char *path,
                                  const tier_source *src, unsigned int flags);
TIER_EXTERN int tier_location_put_mem(tier_location *loc, const char *path,
                                      const void *data, size_t len,
                                      unsigned int flags);
TIER_EXTERN int tier_location_rename(tier_location *loc, const char *from,
                                     const char *to);
TIER_EXTERN int tier_location_list(tier_location *loc, const char *dir,
                                   tier_list_cb cb, void *payload);
TIER_EXTERN int tier_location_remove(tier_location *loc, const char *path);
/** Create a directory and its parents; 0 at once on a tier without
 *  directories (no TIER_DRIVER_CAP_DIRS). */
TIER_EXTERN int tier_location_mkdir_p(tier_location *loc, const char *path);

/** Capabilities of the underlying driver (TIER_DRIVER_CAP_* in sys/driver.h). */
TIER_EXTERN unsigned int tier_location_caps(const tier_location *loc);

#ifdef __cplusplus
}
#endif
#endif
