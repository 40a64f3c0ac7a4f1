/*
 * tier_push_run: one new revision holding a snapshot of some paths.
 *
 * Files are cut into content-defined chunks, each named by its SHA-256;
 * only chunks the vault lacks are compressed (lz4) and written, in packs of
 * many chunks, to every target tier of the write (SPEC R3).  A file whose
 * size, mtime, ctime and inode are those of the previous revision is not
 * read again.  Reading, chunking, hashing and compressing run in parallel.
 */
#ifndef TIER_PUSH_H
#define TIER_PUSH_H

#include "tier/common.h"

#include <stdint.h>

#include "tier/vault.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
	uint64_t files; /**< regular files in the snapshot */
	uint64_t dirs;
	uint64_t others; /**< symlinks, fifos, devices */
	uint64_t bytes;  /**< logical size of every file */
	uint64_t
	        unchanged_files; /**< taken from the previous revision unread */
	uint64_t read_bytes;     /**< bytes actually read */
	uint64_t chunks;         /**< chunks referenced by files read */
	uint64_t new_chunks;
	uint64_t new_bytes;    /**< raw bytes of the new chunks */
	uint64_t stored_bytes; /**< what the new chunks take in packs */
	uint64_t packs;        /**< packs written */
	uint64_t errors;       /**< paths left out or partly out (unreadable) */
	uint64_t changed;      /**< files that changed while being read */
	uint64_t skipped_special; /**< sockets: not backed up */
	/** packs an interrupted push had sent, named by this revision */
	uint64_t resumed_packs;
	/**
	 * Left out by the excludes (docs/excludes.md): entries other than
	 * directories, and the bytes of the regular files among them
	 */
	uint64_t excluded_files;
	uint64_t excluded_bytes;
	/**
	 * Directories left out (not walked: what they hold is not counted),
	 * and mount points kept empty by one_file_system
	 */
	uint64_t excluded_dirs;
} tier_push_stats;

/** Progress; return non-zero to cancel (TIER_EABORTED). */
typedef int (*tier_push_progress_cb)(const tier_push_stats *s,
                                     const char *current, void *payload);
/** A file or directory that was skipped or changed: one line, for stderr. */
typedef void (*tier_push_warning_cb)(const char *msg, void *payload);
/**
 * A source path that is not (or only partly) in the revision: a given
 * path that does not exist, a file, directory or symlink that could not
 * be read, a file too large for one node.  `path` is the absolute path as
 * the file system spells it (raw bytes, unquoted), `error` the reason
 * ("permission denied").  Called once per path, from the calling thread,
 * besides the warning callback (which gets the same fact as one line).
 */
typedef void (*tier_push_unreadable_cb)(const char *path, const char *error,
                                        void *payload);

/** An entry left out by the excludes (tier_push_options.excluded). */
typedef void (*tier_push_excluded_cb)(const char *path, const char *why,
                                      void *payload);

/** What tier_push_options.pack_size 0 means: close a data pack at 16 MiB. */
#define TIER_DEFAULT_PACK_SIZE (16u * 1024 * 1024)

typedef struct {
	unsigned int version;
	const char *const *paths; /**< what to back up (made absolute) */
	size_t npaths;
	unsigned int threads; /**< worker threads; 0 = number of CPUs */
	int reread;           /**< read every file, trust no metadata */
	tier_push_progress_cb progress;
	tier_push_warning_cb warning;
	void *payload;
	/** A data pack is closed once it holds this many bytes; 0 =
	 *  TIER_DEFAULT_PACK_SIZE (16 MiB).
	 *  Smaller packs suit slow links (less to resend after a cut). */
	uint64_t pack_size;
	/** Version 3: each unreadable path (may be NULL). */
	tier_push_unreadable_cb unreadable;

	/*
	 * Version 4: what to leave out (SPEC section 9, docs/excludes.md).
	 * The given paths themselves are always backed up; the excludes
	 * apply to what is below them.
	 */
	/** gitignore-style patterns, matched from each given path; the
	 *  last that matches decides ("!pat" keeps) */
	const char *const *exclude;
	size_t nexclude;
	/** files of such patterns, one a line ('#' comments) */
	const char *const *exclude_files;
	size_t nexclude_files;
	/** "NAME" or "NAME:HEADER": leave out a directory holding NAME;
	 *  "CACHEDIR.TAG" counts only with its standard signature */
	const char *const *exclude_if_present;
	size_t nexclude_if_present;
	/** leave out regular files larger than this many bytes; 0: none */
	uint64_t exclude_larger_than;
	/** do not cross mount points: an entry whose st_dev is none of
	 *  the given paths' is left out, a directory kept empty (restic) */
	int one_file_system;
	/** Each entry the excludes leave out, and each mount point kept
	 *  empty: its absolute path and why ("pattern", "size", "tag", "file
	 *  system"); may be NULL.  From the calling thread. */
	tier_push_excluded_cb excluded;

	/** Version 4: tags recorded in the revision (one Tier-Tag trailer
	 *  each, as restic's --tag): each 1 to 255 bytes, no whitespace,
	 *  comma or control character; duplicates are recorded once. */
	const char *const *tags;
	size_t ntags;
	/** Version 4: a description (Tier-Message trailer): one line of at
	 *  most 1000 bytes, no control character; NULL or "" for none. */
	const char *message;
	/** Version 4: record this time (seconds since the epoch) as the
	 *  revision's time instead of now, as restic's --time; has_time 0:
	 *  now.  time_offset: the zone it was given in, minutes east of UTC. */
	int has_time;
	int64_t time;
	int time_offset;
} tier_push_options;

#define TIER_PUSH_OPTIONS_VERSION 4
#define TIER_PUSH_OPTIONS_INIT                                                 \
	{                                                                      \
		TIER_PUSH_OPTIONS_VERSION, NULL, 0, 0, 0, NULL, NULL, NULL, 0, \
		        NULL, NULL, 0, NULL, 0, NULL, 0, 0, 0, NULL, NULL, 0,  \
		        NULL, 0, 0, 0                                          \
	}

/**
 * Back up opts->paths as one new revision.  *out (even on some errors)
 * says what happened on each tier; stats (may be NULL) what was read and
 * stored.
 *
 * Paths are made absolute and normalised lexically ("." and ".." removed);
 * the revision records them (trailer `Tier-Path`, docs/format.md).  Files
 * unchanged since the *base* revision are taken from it unread: the newest
 * push revision from the same host with the same set of paths (restic's
 * parent snapshot), so two jobs with different paths do not read each
 * other's files again.  No such revision: every file is read.
 *
 * The walk goes through directory file descriptors (openat, O_NOFOLLOW),
 * so paths longer than PATH_MAX are backed up; it keeps one descriptor per
 * directory level open.
 *
 * A path that is missing or cannot be read (a given path, or a file or
 * directory inside one) is reported through opts->unreadable and
 * opts->warning and left out; the rest is backed up and the push still
 * succeeds (stats->errors says how many).  When none of the given paths
 * could be read at all nothing is written: TIER_ENOTFOUND (TIER_EAUTH when
 * each was refused).
 *
 * Interrupted pushes resume: each data pack is recorded in the state
 * directory once every target tier holds it, and the next push reuses
 * the recorded packs that are still on each of its target tiers (same
 * size) instead of sending their chunks again.
 *
 * Fails with TIER_EFOREIGN / TIER_EROLLEDBACK before writing anything
 * (R8), TIER_EOFFLINE when no tier took it, TIER_ENOSPC when the tiers
 * filled up (no new revision, every earlier one intact).  opts->version
 * 1 to 3 (without `pack_size`, `unreadable`, the excludes) are still
 * accepted.
 *
 * Returns 0, or: TIER_EUSAGE for no opts, no path, a pack_size out of
 * 64 KiB..4 GiB, a bad exclude pattern or --exclude-if-present name, or
 * an unknown opts->version (nothing written, as for an exclude file that
 * cannot be read: TIER_ENOTFOUND or TIER_ERROR, the message naming it); TIER_ENOTFOUND / TIER_EAUTH
 * when no given path could be read; TIER_EABORTED when the progress
 * callback cancelled; the codes of every write (tier_vault_mark()):
 * TIER_EUSAGE, TIER_EFOREIGN, TIER_EROLLEDBACK, TIER_ETIMEOUT,
 * TIER_EOFFLINE, TIER_EAUTH, TIER_ECORRUPT; TIER_ENOSPC and the other
 * codes of tier_location_put() when the tiers' puts fail; TIER_ERROR for a
 * local failure (threads, temporary files, out of memory).
 */
TIER_EXTERN int tier_push_run(tier_write_result **out, tier_push_stats *stats,
                              tier_vault *v, const tier_push_options *opts);

#ifdef __cplusplus
}
#endif
#endif
