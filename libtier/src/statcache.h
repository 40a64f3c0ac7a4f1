/*
 * The stat cache: for each directory tree of the last snapshot pushed
 * from this installation, the stat fields of its files' nodes, so an
 * unchanged re-push compares a file's stat with its base node without
 * reading the node from the log (one read per directory instead of
 * several per file: docs/performance.md).
 *
 * It is keyed by content: a record names a tree id and, for each file
 * entry, the node id and the fields that node holds.  A lookup trusts a
 * field only for the node id the base tree names, so a record that
 * belongs to another snapshot is simply not found, and a damaged record
 * (its checksum) is not used: the push then reads the node as before.
 * Memory: the directory table (28 bytes a directory) and one record per
 * directory being walked.  File layout: docs/format.md, "stat cache".
 */
#ifndef TIER_STATCACHE_H
#define TIER_STATCACHE_H

#include <git2.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

/* What a file's node says of its stat, as tier_node_encode writes it. */
typedef struct {
	git_oid node;
	uint32_t mode, uid, gid; /* mode: the permission bits (07777) */
	uint64_t size;
	int64_t mtime_sec, ctime_sec;
	uint32_t mtime_nsec, ctime_nsec;
	uint64_t ino;
} tier_statent;

/* The entry of a node for st (a regular file's stat). */
void tier_statent_from_stat(tier_statent *e, const git_oid *node,
                            const struct stat *st);

/* ---- reading ------------------------------------------------------------ */

typedef struct tier_statcache tier_statcache;

/* One directory's record, loaded. */
typedef struct {
	tier_statent *e; /* sorted by node id */
	size_t n;
	int loaded; /* looked up (found or not) */
} tier_statdir;

/*
 * The cache at path; *out NULL (and 0) when there is none or it is not
 * usable (the push then reads nodes).  Errors only for out of memory.
 */
int tier_statcache_open(tier_statcache **out, const char *path);
void tier_statcache_free(tier_statcache *c);

/* The record of tree into *d (d->n 0 when there is none). */
int tier_statcache_dir(tier_statcache *c, const git_oid *tree, tier_statdir *d);

/*
 * Whether the node named node (an entry of d's tree) holds st's fields:
 * 1 same, 0 different, -1 not in the record (read the node).
 */
int tier_statdir_same(const tier_statdir *d, const git_oid *node,
                      const struct stat *st);
void tier_statdir_dispose(tier_statdir *d);

/* ---- writing ------------------------------------------------------------ */

typedef struct tier_statcache_writer tier_statcache_writer;

/* A new cache to replace path once committed (written to path.new). */
int tier_statcache_writer_new(tier_statcache_writer **out, const char *path);

/* The record of tree (its entries are sorted here). */
int tier_statcache_writer_dir(tier_statcache_writer *w, const git_oid *tree,
                              tier_statent *e, size_t n);

/* The table, the footer, then the rename over path. */
int tier_statcache_writer_commit(tier_statcache_writer *w);

/* Frees w; an uncommitted cache is removed. */
void tier_statcache_writer_free(tier_statcache_writer *w);

#endif
