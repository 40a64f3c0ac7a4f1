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
	uint64_t new_bytes;       /**< raw bytes of the new chunks */
	uint64_t stored_bytes;    /**< what the new chunks take in packs */
	uint64_t packs;           /**< packs written */
	uint64_t errors;          /**< files or dirs skipped (unreadable) */
	uint64_t changed;         /**< files that changed while being read */
	uint64_t skipped_special; /**< sockets: not backed up */
} tier_push_stats;

/** Progress; return non-zero to cancel (TIER_EABORTED). */
typedef int (*tier_push_progress_cb)(const tier_push_stats *s,
                                     const char *current, void *payload);
/** A file or directory that was skipped or changed: one line, for stderr. */
typedef void (*tier_push_warning_cb)(const char *msg, void *payload);

typedef struct {
	unsigned int version;
	const char *const *paths; /**< what to back up (made absolute) */
	size_t npaths;
	unsigned int threads; /**< worker threads; 0 = number of CPUs */
	int reread;           /**< read every file, trust no metadata */
	tier_push_progress_cb progress;
	tier_push_warning_cb warning;
	void *payload;
	/** A data pack is closed once it holds this many bytes; 0 = 16 MiB.
	 *  Smaller packs suit slow links (less to resend after a cut). */
	uint64_t pack_size;
} tier_push_options;

#define TIER_PUSH_OPTIONS_VERSION 2
#define TIER_PUSH_OPTIONS_INIT                                                \
	{                                                                     \
		TIER_PUSH_OPTIONS_VERSION, NULL, 0, 0, 0, NULL, NULL, NULL, 0 \
	}

/**
 * Back up opts->paths as one new revision.  *out (even on some errors)
 * says what happened on each tier; stats (may be NULL) what was read and
 * stored.  A push that skipped unreadable files still succeeds (stats->errors
 * says how many).  Fails with TIER_EFOREIGN / TIER_EROLLEDBACK before writing
 * anything (R8), TIER_EOFFLINE when no tier took it, TIER_ENOSPC when the
 * tiers filled up (no new revision, every earlier one intact).
 */
int tier_push_run(tier_write_result **out, tier_push_stats *stats,
                  tier_vault *v, const tier_push_options *opts);

#ifdef __cplusplus
}
#endif
#endif
