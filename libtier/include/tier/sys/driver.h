/*
 * The driver interface, for people writing a new kind of tier.
 *
 * A driver moves named byte objects; it knows nothing of git, packs or
 * revisions.  Paths are relative to the tier root, '/'-separated.  Every
 * function returns 0 or a negative TIER_E* code with tier_error_last() set;
 * the reconnect layer decides on retries from the code alone, so a driver
 * must classify: TIER_EOFFLINE for anything transient (refused, reset,
 * timeout, a vanished root), a permanent code for the rest.
 *
 * Drivers are not called concurrently on one instance.
 */
#ifndef TIER_SYS_DRIVER_H
#define TIER_SYS_DRIVER_H

#include "tier/common.h"

#include "tier/location.h"

#ifdef __cplusplus
extern "C" {
#endif

/** rename() replaces an existing target atomically (POSIX rename, FTP on most servers). */
#define TIER_DRIVER_CAP_RENAME_OVERWRITE 0x1u
/** put(TIER_PUT_EXCLUSIVE) is atomic create-only (O_EXCL, S3 If-None-Match). */
#define TIER_DRIVER_CAP_EXCLUSIVE 0x2u
/** Directories exist and must be created (file, ftp, sftp; not s3). */
#define TIER_DRIVER_CAP_DIRS 0x4u
/** rename() exists at all (not on S3). */
#define TIER_DRIVER_CAP_RENAME 0x8u

typedef struct tier_driver tier_driver;

struct tier_driver {
	unsigned int version; /**< TIER_DRIVER_VERSION */
	unsigned int caps;    /**< TIER_DRIVER_CAP_* */

	/** Is the tier root reachable?  (A vanished root is TIER_EOFFLINE.) */
	int (*ping)(tier_driver *drv);
	int (*stat)(tier_driver *drv, const char *path, tier_stat *out);
	/**
	 * Stream [offset, offset+len) to sink (len UINT64_MAX: to the end).
	 * On failure part of the range may have been delivered already; the
	 * reconnect layer resumes from where the sink stopped receiving.
	 */
	int (*get)(tier_driver *drv, const char *path, uint64_t offset,
	           uint64_t len, tier_sink_cb sink, void *payload);
	/** Atomic: never visible half-written under its final name. */
	int (*put)(tier_driver *drv, const char *path, const tier_source *src,
	           unsigned int flags);
	/** Missing source: TIER_ENOTFOUND; existing target without
	 *  CAP_RENAME_OVERWRITE: may fail with TIER_ECONFLICT. */
	int (*rename)(tier_driver *drv, const char *from, const char *to);
	/** Missing dir: TIER_ENOTFOUND. */
	int (*list)(tier_driver *drv, const char *dir, tier_list_cb cb,
	            void *payload);
	/** Missing: TIER_ENOTFOUND.  Removes a file or an empty directory. */
	int (*remove)(tier_driver *drv, const char *path);
	int (*mkdir_p)(tier_driver *drv, const char *path);
	void (*free)(tier_driver *drv);
};

#define TIER_DRIVER_VERSION 1

/** Constructor of a driver for one scheme. */
typedef int (*tier_driver_open_fn)(tier_driver **out, const tier_url *url,
                                   const tier_location_options *opts);

/**
 * Register a driver for a scheme (replacing any previous one).  The built-in
 * drivers (file, fault, ftp, ftps, sftp, s3) are registered on first use.
 * Returns 0, or TIER_EUSAGE when the scheme is 16 characters or longer or
 * the table of drivers is full.
 */
TIER_EXTERN int tier_driver_register(const char *scheme,
                                     tier_driver_open_fn open);

/**
 * Open the driver for a parsed URL (no reconnect layer).  Returns 0, or
 * TIER_EUSAGE when no driver is registered for the scheme; else what the
 * driver's constructor returns (the built-in ones: TIER_EUSAGE for a URL
 * or option they refuse, TIER_ERROR when out of memory).
 */
TIER_EXTERN int tier_driver_open(tier_driver **out, const tier_url *url,
                                 const tier_location_options *opts);

#ifdef __cplusplus
}
#endif
#endif
