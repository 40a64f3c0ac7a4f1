/*
 * The virtual drive (SPEC 10, tier-mount): every kept revision of a vault
 * as one read-only tree of paths, served on demand.
 *
 *   /revisions/N/<the paths as backed up>   every push revision not forgotten
 *   /latest        -> revisions/N           the newest of them
 *   /archive/NAME  -> ../revisions/N        every archive in force
 *
 * The history (which revisions exist, archives) is read once, at open.
 * A revision's snapshot is opened when a path below it is first used, and
 * its directories are read one at a time as they are looked at (tier/
 * browse.h): memory grows with the directories in use, not with the
 * number of revisions or files (SPEC 11).  File bytes are read by chunk,
 * only the chunks a read touches plus a readahead window that grows while
 * a reader goes on in order, each from the first tier that answers (R2,
 * per chunk), through a bounded on-disk chunk cache.
 *
 * Thread-safe: every call may come from any thread; they are serialized
 * inside (the log cache and the tier connections are one per vault).
 */
#ifndef TIER_DRIVE_H
#define TIER_DRIVE_H

#include "tier/common.h"

#include <stddef.h>
#include <stdint.h>

#include "tier/browse.h"
#include "tier/vault.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tier_drive tier_drive;
typedef struct tier_drive_file tier_drive_file;

/** Default bound of the chunk cache: 256 MiB. */
#define TIER_DRIVE_CACHE_SIZE_DEFAULT (256u * 1024 * 1024)

typedef struct {
	unsigned int version;
	/** where the chunk cache lives: a new directory is made in it and
	 *  removed by tier_drive_free(); NULL: $TMPDIR or /tmp */
	const char *cache_dir;
	/** bytes the cache may hold; 0: TIER_DRIVE_CACHE_SIZE_DEFAULT */
	uint64_t cache_size;
	/** damage read around, a tier that failed: one line each */
	tier_browse_warning_cb warning;
	void *payload;
} tier_drive_options;

#define TIER_DRIVE_OPTIONS_VERSION 1
#define TIER_DRIVE_OPTIONS_INIT                                 \
	{                                                       \
		TIER_DRIVE_OPTIONS_VERSION, NULL, 0, NULL, NULL \
	}

/** What stat(2) shows of a path. */
typedef struct {
	tier_entry_type type;
	uint32_t mode; /**< permission bits, 07777 */
	uint32_t uid, gid;
	uint64_t size;
	int64_t mtime_sec;
	uint32_t mtime_nsec;
	uint64_t rdev;
} tier_drive_stat;

typedef struct {
	uint64_t reads;      /**< tier_drive_file_read calls */
	uint64_t cache_hits; /**< chunks served from the cache */
	uint64_t fetched;    /**< chunks read from a tier */
	uint64_t fetched_bytes;
	uint64_t cached_bytes;   /**< in the cache now */
	uint64_t damaged;        /**< packs or chunks read around damage */
	uint64_t open_revisions; /**< snapshots open now */
} tier_drive_stats;

/**
 * Read the history of v (v must stay open until tier_drive_free) and make
 * the cache directory.  Returns 0, or TIER_EUSAGE for bad options, the
 * codes of tier_vault_log(), TIER_ERROR when the cache directory cannot be
 * made (the message names it) or out of memory.
 */
TIER_EXTERN int tier_drive_open(tier_drive **out, tier_vault *v,
                                const tier_drive_options *opts);
/** Close every file and snapshot, remove the cache directory. */
TIER_EXTERN void tier_drive_free(tier_drive *d);

/** The revisions the drive shows, oldest first (borrowed). */
TIER_EXTERN const uint64_t *tier_drive_revisions(const tier_drive *d,
                                                 size_t *count);
/** The cache directory made by tier_drive_open. */
TIER_EXTERN const char *tier_drive_cache_dir(const tier_drive *d);

/**
 * Stat path ("/", "/revisions/3/home/u/a.txt").  Returns 0, TIER_ENOTFOUND
 * for a path the drive lacks, TIER_ECORRUPT for a snapshot that fails its
 * checks, TIER_EOFFLINE when no tier can be read, TIER_ERROR.
 */
TIER_EXTERN int tier_drive_stat_path(tier_drive *d, const char *path,
                                     tier_drive_stat *st);

/** One entry of a directory: borrowed for the callback. */
typedef int (*tier_drive_list_cb)(const char *name, const tier_drive_stat *st,
                                  void *payload);
/**
 * Call cb for every entry of directory path, in byte order of the names
 * ("." and ".." not included).  cb returning non-zero stops
 * (TIER_EABORTED).  Returns 0, TIER_ECONFLICT for a path that is no
 * directory, or the codes of tier_drive_stat_path().
 */
TIER_EXTERN int tier_drive_list(tier_drive *d, const char *path,
                                tier_drive_list_cb cb, void *payload);

/**
 * The target of symlink path into buf (NUL-terminated, cut to size - 1).
 * Returns 0, TIER_ECONFLICT for a path that is no symlink, or the codes of
 * tier_drive_stat_path().
 */
TIER_EXTERN int tier_drive_readlink(tier_drive *d, const char *path, char *buf,
                                    size_t size);

/** Open regular file path.  Returns 0, TIER_ECONFLICT for a path that is
 *  no regular file, or the codes of tier_drive_stat_path(). */
TIER_EXTERN int tier_drive_file_open(tier_drive_file **out, tier_drive *d,
                                     const char *path);
/**
 * Up to size bytes at offset into buf: the number read (0 at the end), or
 * TIER_EOFFLINE when no tier that holds a chunk answers (after the
 * vault's retries), TIER_ECORRUPT when a chunk is damaged on every tier.
 */
TIER_EXTERN int64_t tier_drive_file_read(tier_drive_file *f, void *buf,
                                         size_t size, uint64_t offset);
TIER_EXTERN void tier_drive_file_close(tier_drive_file *f);

TIER_EXTERN void tier_drive_get_stats(tier_drive *d, tier_drive_stats *out);

#ifdef __cplusplus
}
#endif
#endif
