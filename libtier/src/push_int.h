/*
 * What the files of a push share (internal header):
 *
 *   push.c         tier_push_run: the run's life, as a list of steps
 *   push_walk.c    the dir-fd walk of the given paths, the base revision's
 *                  nodes for unchanged files
 *   push_worker.c  the worker threads (read, chunk, store) and the queue
 *                  that hands them files
 *   push_node.c    nodes and trees: a directory's tree once all is done
 *   push_pack.c    data packs: closing, the uploader, resumed packs
 *   push_paths.c   the source path set and the choice of the base revision
 *   push_resume.c  the records that let an interrupted push reuse the packs
 *                  it had sent
 *
 * Threads: the calling thread ("main") walks and owns every libgit2 call;
 * workers take whole files; one uploader sends finished packs.  Each
 * function below says which thread may call it.
 */
#ifndef TIER_PUSH_INT_H
#define TIER_PUSH_INT_H

#include <git2.h>
#include <limits.h>
#include <pthread.h>
#include <stddef.h>
#include <sys/stat.h>
#include <time.h>

#include "exclude.h"
#include "hash.h"
#include "pack.h"
#include "snapshot.h"
#include "statcache.h"
#include "tier/push.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/idset.h"
#include "util/spillset.h"
#include "util/text.h"
#include "vault.h"
#include "write.h"

/* worker threads at most (each fills a pack of its own: push_run.pw) */
#define MAX_WORKERS 16

/* ---- directories and files in flight ------------------------------------ */

struct dirjob {
	struct dirjob *parent;
	struct dirjob *live_prev, *live_next; /* every dirjob not yet freed */
	char *ename; /* escaped name in the parent ("" for the root) */
	char *path;  /* absolute, for messages (never given to a syscall) */
	int fd; /* the directory, O_DIRECTORY; -1 once done or unreadable */
	git_treebuilder *tb;
	git_tree *prev; /* same directory in the base revision, or NULL */
	/* prev's record in the stat cache (loaded at its first file), and
	 * this push's record of the directory, written with its tree */
	tier_statdir sprev;
	tier_statent *snew;
	size_t nnew, capnew;
	/*
	 * While every entry added is prev's own (same name, id and mode) the
	 * directory has no treebuilder (tb NULL): seen marks those entries by
	 * their index in prev, and once all of prev is seen its tree is
	 * reused as it is.  The first entry that differs builds tb from the
	 * seen ones (push_node.c).
	 */
	unsigned char *seen;
	size_t nseen;
	int pending; /* files and subdirectories not yet in tb */
	int closed;  /* walk of this directory finished */
	int waiting; /* counted in push_run.waiting_dirs */
	int done;    /* tree written (tree_id) */
	git_oid tree_id;
	/* synthetic dirs (components above the given paths) */
	struct dirjob *kids, *next_kid;
	int synthetic;
};

struct filejob {
	struct filejob *next;
	struct dirjob *dir; /* opened relative to dir->fd */
	char *name;         /* raw name in dir */
	char *path;         /* absolute, for messages */
	char *ename;
	struct stat st;
	/* results */
	tier_chunk_ref *chunks;
	size_t nchunks, cap;
	int error;    /* non-zero = leave the file out */
	char *reason; /* why, lowercase ("permission denied") */
	int changed;
	uint64_t read_bytes;
	uint64_t nchunk_refs, new_chunks,
	        new_bytes; /* merged into the stats once done */
};

/* ---- the run's shared state ------------------------------------------- */

/*
 * A finished pack's tail (index + trailer), shared: the main thread writes
 * it into the log as the pack's index blob (tier_push_index_pending), the
 * uploader records it for resume; the last of the two frees it
 * (tier_push_tail_release, refs under pack_lock).  So a push holds the
 * tails of the packs in flight only, not of every pack until the commit.
 */
struct pack_tail {
	struct pack_tail
	        *next; /* in push_run.tails_head: for the main thread */
	tier_buf buf;
	int refs;
};

struct upload {
	struct upload *next;
	char *path;
	struct pack_tail *tail; /* for the resume record */
};

struct push_run {
	tier_vault *v;
	tier_write *w;
	git_repository *repo;
	const tier_push_options *opts;
	tier_push_stats st;
	tier_chunkmap *map;
	char tmpdir[PATH_MAX];

	pthread_mutex_t lock; /* queues, stats, idset, pack writer */
	pthread_cond_t work_cv, done_cv, up_cv, room_cv;
	struct filejob *todo_head, *todo_tail, *done_head;
	struct filejob *batch_head, *batch_tail; /* main thread only */
	size_t batch_files;
	uint64_t batch_bytes;
	int main_waiting;
	int in_flight; /* submitted, not yet drained by main */
	int stop;      /* no more work will come */
	int cancel;
	int fatal; /* a worker hit an error that ends the push */
	char fatal_msg[1024];
	int fatal_code;

	tier_spillset *added; /* chunks stored by this push (key only) */
	/*
	 * Each worker fills a pack of its own (pw[i], touched by worker i
	 * alone while files are in flight, by the main thread once they are
	 * all done): no lock around the bytes and the pack hash.  A shared
	 * pack made the workers queue on its lock for half the small-file
	 * part of a push.  pack_lock: finished packs and the upload queue.
	 */
	pthread_mutex_t pack_lock;
	uint64_t packs_done, stored_done;
	tier_pack_writer *pw[MAX_WORKERS];
	size_t next_worker; /* under lock: hands out the pw slots */
	tier_vec pack_ids;  /* unsigned char[32] each */
	/* tails whose index blobs are not written yet, oldest first; the
	 * blobs of the first pack_blobs.length of pack_ids are written */
	struct pack_tail *tails_head, *tails_tail;
	tier_vec pack_blobs; /* git_oid * each: main thread only */

	struct upload *up_head, *up_tail;
	size_t up_queued; /* under pack_lock: queued or being uploaded */
	int up_stop;
	int up_failed;
	char up_msg[1024];
	int up_code;

	struct timespec last_progress;
	tier_buf
	        current; /* path shown by progress (a copy: outlives the walk) */
	tier_buf ename;  /* the walk's escaped name of the entry at hand */
	uint64_t pack_size;     /* close a pack at this size */
	size_t pack_max_chunks; /* and at this many chunks (TIER_MAX_INDEX_BLOB) */
	size_t node_max_chunks; /* chunks one file may have (TIER_MAX_NODE_BLOB) */

	/* the excludes (NULL: none), and the length of the given path being
	 * walked (0 for "/"), which patterns are relative to */
	tier_exclude *ex;
	size_t given_len;
	/* one_file_system: the devices of the given paths (as restic, an
	 * entry on any of them is on "the" file system) */
	dev_t *devs;
	size_t ndevs;

	struct dirjob *live; /* every dirjob, for the teardown */
	int waiting_dirs;
	tier_buf resume_dir; /* <state>/resume */

	/* tier_push_run's own (push.c): what one step hands the next */
	tier_push_options options; /* opts points here */
	tier_vec set;              /* the source paths */
	tier_buf paths;            /* their Tier-Path trailers */
	git_commit *parent;        /* the previous revision */
	git_tree *ptree, *pindex;  /* its tree and its index/ */
	git_tree *proot;    /* the base revision's snapshot, until root */
	tier_statcache *sc; /* the last push's, or NULL */
	tier_statcache_writer *scw; /* this push's, or NULL */
	git_oid vault_blob;
	struct dirjob *root;
	pthread_t workers[MAX_WORKERS], up, up2;
	size_t nworkers;
	int have_up, have_up2;
	/* the second uploader's own connections to the targets (one
	 * connection sends one pack at a time: a remote tier's wire would
	 * wait between packs) */
	tier_location **up2_locs;
};

/* ---- reporting (push.c) ---------------------------------------------- */

/** Record the first fatal error of the run (under p->lock). */
void tier_push_set_fatal(struct push_run *p, int code);
/** strerror() as our messages spell it: lowercase (a per-thread buffer). */
const char *tier_push_strerror(int errnum);
/** One warning line through opts->warning (any length). */
void tier_push_warn(struct push_run *p, const char *fmt, ...) TIER_PRINTF(2, 3);
/**
 * A path that is left out of the revision, or only partly in it: one
 * warning line (what: "" for a file, "directory " ...; after: what was
 * skipped) and the unreadable callback.  Main thread only.
 */
void tier_push_unreadable(struct push_run *p, const char *what,
                          const char *path, const char *reason,
                          const char *after);
/** The progress callback, at most every 100 ms unless force; main thread. */
int tier_push_progress(struct push_run *p, int force);

/* ---- walk (push_walk.c, main thread) ---------------------------------- */

/** Every path of set, under the synthetic root. */
int tier_push_walk_paths(struct push_run *p, struct dirjob *root,
                         const tier_vec *set);
/** Close d and the synthetic directories below it (their trees written). */
int tier_push_close_synthetic(struct push_run *p, struct dirjob *d);

/* ---- workers and their queue (push_worker.c) --------------------------- */

/** A worker thread's body (arg: the push_run). */
void *tier_push_worker(void *arg);
/** Hand the files batched by the main thread to the workers. */
void tier_push_flush_batch(struct push_run *p);
/** Handle finished files; with wait, block until at least one is done. */
int tier_push_drain(struct push_run *p, int wait);
/** Queue a file for the workers (takes f, freed on error). */
int tier_push_submit(struct push_run *p, struct filejob *f);

/* ---- nodes and trees (push_node.c, main thread) ------------------------ */

void tier_push_node_from_stat(tier_node *n, const struct stat *st);
/** Store a node blob (never one over the format's limit). */
int tier_push_write_node(struct push_run *p, git_oid *out, const tier_node *n);
/** Add one entry to the tree of d (see dirjob.seen). */
int tier_push_tb_insert(struct push_run *p, struct dirjob *d, const char *ename,
                        const git_oid *id, git_filemode_t mode);
/** Keep e, a node entry of d->prev (no second lookup by name). */
/* Notes a file's node and the stat it holds for this push's stat cache. */
int tier_push_stat_note(struct push_run *p, struct dirjob *d,
                        const git_oid *node, const struct stat *st);
int tier_push_tb_keep(struct push_run *p, struct dirjob *d,
                      const git_tree_entry *e);
/** The directory's own metadata, as its TIER_SNAP_DIRMETA entry. */
int tier_push_add_dirmeta(struct push_run *p, struct dirjob *d,
                          const struct stat *st);
/** A new dirjob in the live list; takes prev (freed on error). */
int tier_push_new_dirjob(struct push_run *p, struct dirjob **out,
                         struct dirjob *parent, const char *ename,
                         const char *path, git_tree *prev);
void tier_push_dirjob_free(struct push_run *p, struct dirjob *d);
/** Writes the tree of d once it is walked and nothing below it is pending. */
int tier_push_dir_try_finish(struct push_run *p, struct dirjob *d);
/** A file the workers are done with: its node in its directory's tree. */
int tier_push_file_done(struct push_run *p, struct filejob *f);
void tier_push_filejob_free(struct filejob *f);

/* ---- data packs (push_pack.c) ----------------------------------------- */

/**
 * Finish the pack in *pwp (the caller's own) and queue it for upload and
 * its tail for the main thread; only the queueing takes pack_lock.
 */
int tier_push_pack_finish(struct push_run *p, tier_pack_writer **pwp);
/** Drop one reference to t; the last frees it.  Under pack_lock. */
void tier_push_tail_release(struct push_run *p, struct pack_tail *t);
/**
 * Write the index blobs of the packs finished since the last call, in the
 * order of pack_ids; main thread.
 */
int tier_push_index_pending(struct push_run *p);
/** The uploaders' bodies (arg: the push_run): the first on the vault's
 *  connections, the second on p->up2_locs. */
void *tier_push_uploader(void *arg);
void *tier_push_uploader2(void *arg);
/**
 * Packs left in cache.git/tmp by a push that was killed: not on any tier
 * (or recorded for resume already); only the write lock holder runs here.
 */
void tier_push_clean_tmp(const char *tmpdir);
/** Name the packs an interrupted push left on every target in this one. */
int tier_push_take_resumed(struct push_run *p);

/** Trailer naming one source path of a push revision (docs/format.md). */
#define TIER_TRAILER_PATH "Tier-Path"

/* ---- paths (push_paths.c) ------------------------------------------- */

/**
 * path made absolute (against the working directory) and normalised
 * lexically: no ".", "..", "//" or trailing "/".  Symlinks are not
 * resolved: what the user typed, absolute.
 */
int tier_push_abs_path(tier_buf *out, const char *path);

/**
 * The set of paths a push records: each made absolute, sorted, duplicates
 * and paths inside another one of the set dropped (they add nothing to
 * the snapshot).  *out holds malloc'd strings (tier_vec_dispose(.., free)).
 */
int tier_push_path_set(tier_vec *out, const char *const *paths, size_t n);

/** "Tier-Path: <quoted path>\n" per path (quoted as git's core.quotePath). */
int tier_push_path_trailers(tier_buf *out, const tier_vec *set,
                            const tier_keys *keys);

/** The host name a revision records in Tier-Host (as vault.c writes it). */
void tier_push_host(char *host, size_t cap);

/**
 * The base revision of a push: the newest commit on the first-parent chain
 * from `head` whose trailers say op push, host `host` and exactly the
 * Tier-Path set `trailers` (as tier_push_path_trailers wrote it).  *found
 * = 0 when there is none.  Commits are size-checked before they are read.
 */
int tier_push_find_base(git_oid *out, int *found, git_repository *repo,
                        const git_oid *head, const char *host,
                        const char *trailers);

/* ---- resume records (push_resume.c) ---------------------------------- */

/** "<state>/resume" for the cache repository of an installation. */
int tier_push_resume_dir(tier_buf *out, git_repository *cache);

/**
 * Record that data pack `id`, whose tail (index + trailer) is tail[0..len),
 * is on the write's targets: "<dir>/<64 hex>.tail", written to a temp file,
 * fsynced and renamed (never half visible).
 */
int tier_push_resume_record(const char *dir,
                            const unsigned char id[TIER_HASH_LEN],
                            const void *tail, size_t len);

/** A recorded pack that the next push may name in its revision. */
typedef struct {
	unsigned char id[TIER_HASH_LEN];
	tier_buf tail;
	uint64_t size; /**< of the whole pack */
	size_t nchunks;
} tier_push_resumed;

/**
 * The recorded packs that every target of w holds at their full size and
 * that `committed` (pack ids already in the vault's index) lacks.  Their
 * chunk ids go into `chunks`.  A record that is damaged, or whose pack is
 * missing or short on some target, is skipped (the push sends its chunks
 * again).  *out is an array of *n (tier_push_resumed_free).  keys: the
 * vault's (the records are sealed pack tails in an encrypted vault).
 */
int tier_push_resume_load(tier_push_resumed **out, size_t *n, const char *dir,
                          tier_write *w, size_t ntiers,
                          const tier_idset *committed, tier_spillset *chunks,
                          const tier_keys *keys);

void tier_push_resumed_free(tier_push_resumed *r, size_t n);

/** Remove every record (after a revision naming the packs is written). */
void tier_push_resume_clear(const char *dir);

#endif
