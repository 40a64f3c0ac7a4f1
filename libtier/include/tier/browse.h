/*
 * Browsing a revision without restoring it: list its directories, look a
 * path up, read one file's bytes (tier-ls, tier-find, tier-cat).
 *
 * A tier_browse is one revision's snapshot, opened from the log cache.
 * Listing is lazy, one directory at a time: a walk holds the directories
 * on the way down to where it is (one git tree each) and the names of the
 * directory it is in, never the whole tree, so memory grows with the depth
 * and the size of the largest directory, not with the number of files
 * (SPEC 11).  Every snapshot directory passes the same name checks as a
 * restore before any entry of it is shown.
 *
 * Reading a file goes through restore's chunk reads (SPEC R2): each range
 * of a pack from the first online tier holding the revision; a pack
 * missing or a chunk failing its hash there is read from the next tier,
 * and the damage is reported through the warning callback.
 */
#ifndef TIER_BROWSE_H
#define TIER_BROWSE_H

#include "tier/common.h"

#include <stddef.h>
#include <stdint.h>

#include "tier/vault.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tier_browse tier_browse;

/** What a snapshot entry is (the words of tier_browse_type_name). */
typedef enum {
	TIER_ENTRY_FILE = 0,
	TIER_ENTRY_DIR,
	TIER_ENTRY_SYMLINK,
	TIER_ENTRY_FIFO,
	TIER_ENTRY_CHAR,
	TIER_ENTRY_BLOCK,
	TIER_ENTRY_SOCKET,
} tier_entry_type;

/** "file", "dir", "symlink", "fifo", "char", "block", "socket". */
TIER_EXTERN const char *tier_browse_type_name(tier_entry_type t);

/** One entry, borrowed: valid during the callback only. */
typedef struct {
	const char *path; /**< in the snapshot: "/home/u/a.txt"; "/" the root */
	const char *name; /**< its last component; "" for the root */
	tier_entry_type type;
	uint32_t mode; /**< permission bits, 07777 */
	uint32_t uid, gid;
	uint64_t size; /**< file bytes; a symlink: its target's length */
	int64_t mtime_sec;
	uint32_t mtime_nsec;
	const char *target; /**< symlink target (not NUL-safe: target_len) */
	size_t target_len;
	uint64_t rdev; /**< devices */
	/** 0: the path asked for, 1: an entry of it, 2: below that... */
	unsigned depth;
	/** 0 for a directory whose own metadata the snapshot lacks (the
	 *  root, a directory above the paths pushed): mode, owner and time
	 *  are then 0 */
	int has_meta;
} tier_browse_entry;

typedef int (*tier_browse_cb)(const tier_browse_entry *e, void *payload);
/** Bytes of a file in order; non-zero stops the read (TIER_EABORTED). */
typedef int (*tier_browse_data_cb)(const void *data, size_t len, void *payload);
/** Damage found on a tier and read around: one line. */
typedef void (*tier_browse_warning_cb)(const char *msg, void *payload);

typedef struct {
	unsigned int version;
	/** 0: the newest revision */
	uint64_t revision;
	tier_browse_warning_cb warning;
	void *payload; /**< passed to warning */
} tier_browse_options;

#define TIER_BROWSE_OPTIONS_VERSION 1
#define TIER_BROWSE_OPTIONS_INIT                           \
	{                                                  \
		TIER_BROWSE_OPTIONS_VERSION, 0, NULL, NULL \
	}

/**
 * Open revision opts->revision of v for browsing (v must stay open until
 * tier_browse_free).  A revision that holds no snapshot (the first one, a
 * mark) browses as an empty root.
 *
 * Returns 0, or TIER_EUSAGE for no v or opts or an unknown version;
 * TIER_ENOTFOUND for a revision that does not exist (naming the latest);
 * TIER_EOFFLINE / TIER_EAUTH / TIER_ECORRUPT when no tier is readable or
 * the revision's objects fail their checks; TIER_ERROR when out of memory.
 */
TIER_EXTERN int tier_browse_open(tier_browse **out, tier_vault *v,
                                 const tier_browse_options *opts);
TIER_EXTERN void tier_browse_free(tier_browse *b);

/** The revision opened (the newest one's number for revision 0). */
TIER_EXTERN uint64_t tier_browse_revision(const tier_browse *b);
/** Its time (seconds since the epoch), as tier-log shows it. */
TIER_EXTERN int64_t tier_browse_time(const tier_browse *b);

/** tier_browse_list flags. */
#define TIER_BROWSE_RECURSIVE 1u /**< everything below, depth first */
#define TIER_BROWSE_SELF      2u /**< the path itself first (depth 0) */

/**
 * Call cb for path (a snapshot path, "/home/u" or "home/u"; "" or "/" the
 * root) and what is below it: a directory's entries in byte order of their
 * names (with TIER_BROWSE_RECURSIVE, each directory's entries right after
 * it), a file itself.  cb returning non-zero stops (TIER_EABORTED).
 *
 * Returns 0, or TIER_ENOTFOUND for a path the revision lacks; TIER_EUSAGE
 * for a path with ".."; TIER_ECORRUPT for a snapshot directory or entry
 * that fails its checks (a bad entry below the path: the walk stops there,
 * naming it); TIER_EABORTED when cb stopped; TIER_ERROR when out of memory.
 */
TIER_EXTERN int tier_browse_list(tier_browse *b, const char *path,
                                 unsigned flags, tier_browse_cb cb,
                                 void *payload);

/**
 * Read regular file path and pass its bytes to cb in order, every chunk
 * checked against its hash (R2: read from the next tier when the first
 * one fails).  Returns 0, or TIER_ENOTFOUND for a path the revision
 * lacks; TIER_ECONFLICT for a path that is not a regular file (a
 * directory, a symlink...); TIER_EOFFLINE when no online tier holds the
 * revision or a pack of it; TIER_ECORRUPT when a chunk is damaged on every
 * tier that has it; TIER_EABORTED when cb stopped.
 */
TIER_EXTERN int tier_browse_read(tier_browse *b, const char *path,
                                 tier_browse_data_cb cb, void *payload);

/**
 * One regular file of a revision, opened for reads of any part of it (the
 * virtual drive, tier/drive.h): its chunk list, kept in memory, with each
 * chunk's offset in the file.  It borrows b, which must outlive it.
 */
typedef struct tier_browse_file tier_browse_file;

/**
 * Open regular file path of b.  Returns 0, or the codes of
 * tier_browse_read() for the path (TIER_ENOTFOUND, TIER_ECONFLICT,
 * TIER_ECORRUPT, TIER_EUSAGE, TIER_ERROR).
 */
TIER_EXTERN int tier_browse_file_open(tier_browse_file **out, tier_browse *b,
                                      const char *path);
TIER_EXTERN void tier_browse_file_free(tier_browse_file *f);
/** Its size in bytes (the sum of its chunks). */
TIER_EXTERN uint64_t tier_browse_file_size(const tier_browse_file *f);
/** How many chunks it has (0 for an empty file). */
TIER_EXTERN size_t tier_browse_file_chunks(const tier_browse_file *f);
/** Chunk i (< tier_browse_file_chunks): where it starts in the file, its
 *  length, and its id (TIER_BROWSE_CHUNK_ID_LEN bytes, borrowed). */
TIER_EXTERN void tier_browse_file_chunk(const tier_browse_file *f, size_t i,
                                        uint64_t *offset, uint32_t *len,
                                        const unsigned char **id);
#define TIER_BROWSE_CHUNK_ID_LEN 32
/** The chunk that holds byte offset (< the size). */
TIER_EXTERN size_t tier_browse_file_chunk_at(const tier_browse_file *f,
                                             uint64_t offset);
/**
 * Read chunks [first, first + count) and pass each one whole to cb, in
 * order, each checked against its hash, read as tier_browse_read() reads
 * (R2 fallback, neighbours in one ranged read).  Returns 0 or the codes of
 * tier_browse_read().
 */
TIER_EXTERN int tier_browse_file_read(tier_browse_file *f, size_t first,
                                      size_t count, tier_browse_data_cb cb,
                                      void *payload);

/** Drop what b keeps between calls (the chunk reader, which holds the
 *  vault's chunk map and tier connections open): memory back, for a
 *  browse that stays open but idle.  Files of b stay usable. */
TIER_EXTERN void tier_browse_reset(tier_browse *b);

/** Packs or chunks served by a later tier after damage, so far. */
TIER_EXTERN uint64_t tier_browse_damaged(const tier_browse *b);

#ifdef __cplusplus
}
#endif
#endif
