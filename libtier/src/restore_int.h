/*
 * Inside tier_restore_run: the records shared by restore.c (the run),
 * restore_select.c (the selection, the revision, the tiers),
 * restore_plan.c (the walk over the snapshot, conflicts), restore_read.c
 * (jobs, workers, reads over the tiers) and restore_apply.c (directory
 * fds, temporary files, metadata, putting in place).  Private header.
 */
#ifndef TIER_RESTORE_INT_H
#define TIER_RESTORE_INT_H

#include <git2.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "tier/restore.h"
#include "pack.h"
#include "snapshot.h"
#include "util/buf.h"
#include "vault.h"

/* A ranged get covers at most this much, unless one chunk is longer. */
#define JOB_MAX_BYTES (8u << 20)
/* Read across a hole this small rather than make a second request. */
#define JOB_GAP (64u << 10)
/*
 * From a remote tier a request costs a round trip or more (an FTP read
 * that stops early costs a new login): a job may span a whole pack and
 * read across holes this large.
 */
#define JOB_MAX_BYTES_REMOTE (40u << 20)
#define JOB_GAP_REMOTE       (4u << 20)
/*
 * The planner gathers pieces in a window and cuts them into jobs in pack
 * and offset order once it holds this many stored bytes, pieces, or files
 * written in more than one piece (each keeps a descriptor open meanwhile).
 */
#define WINDOW_BYTES  (128u << 20)
#define WINDOW_PIECES 65536
#define WINDOW_FILES  256
/* Pieces per job: a file of one repeated chunk must not grow a job for ever. */
#define JOB_MAX_PIECES 8192
#define QUEUE_CAP      4
#define NWORKERS       2
#define PROGRESS_MS    100
#define TMP_SUFFIX     ".tier-tmp"
/* Hex digits of an id in messages. */
#define SHORT_HEX 16
/*
 * Directories the walk has left that still wait for files (each holds an
 * fd): past this many the planner lets the workers catch up, so that a
 * tree of many small directories does not run out of descriptors.
 */
#define PENDING_DIRS_MAX 256
/* Paths in messages longer than this are shortened in the middle. */
#define SHOW_MAX 400

#define DIR_FLAGS (O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)

/* ---- records ----------------------------------------------------------- */

/* Metadata applied to a restored object. */
struct meta {
	uint32_t mode, uid, gid;
	int64_t mtime_sec;
	uint32_t mtime_nsec;
};

/*
 * A directory of DEST, open.  The walk holds a reference while it is in
 * the directory, every file being written into it holds one until it is
 * renamed into place; the last one applies the directory's metadata (all
 * of its entries are in by then) and closes it.
 */
struct rdir {
	int fd;
	unsigned refs;
	int has_meta;
	struct meta m;
	char *path; /* DEST/..., for messages only */
};

/* A regular file being written. */
struct rfile {
	struct rfile *prev, *next; /* live list: files not finished yet */
	struct rdir *dir;          /* where it goes */
	char *name;                /* its name in dir */
	char *tmp;                 /* the temporary name in dir */
	char *path;                /* DEST/..., for messages only */
	const char *snap; /* the snapshot path inside path ("/home/...") */
	int fd;
	uint64_t remaining; /* pieces not written yet */
	int opening;        /* a worker creates its temporary file now */
	struct meta m;
	int failed;
};

/* One chunk of a file: where it goes and where it is. */
struct piece {
	struct rfile *f;
	uint64_t off;
	tier_chunk_loc loc; /* a copy: the chunk map lives on disk */
	uint32_t
	        rank; /* in a window: its pack's, in the order the walk met them */
};

/* One ranged get of a pack and the pieces it serves. */
struct job {
	uint32_t pack;
	uint64_t start, end;
	struct piece *p;
	size_t n, cap;
};

struct rtier {
	tier_location *loc;
	const char *name;
	int usable;         /* online and holding the revision */
	unsigned char *bad; /* per pack: missing or damaged here */
};

struct restore_run;

/*
 * A set of path patterns (restore_filter.c): the interface the shared
 * gitignore matcher sits behind.  match: 1 when the snapshot path ("/a/b")
 * matches, is_dir telling whether it names a directory; dir_matters: 0
 * when no pattern looks at that (then a blob's node is not read for it).
 */
struct tier_restore_matcher {
	/* the revision's source paths (Tier-Path), borrowed: an anchored
	 * pattern matches below each of them too, as tier-push matched it */
	char *const *roots;
	size_t nroots;
	int (*match)(const struct tier_restore_matcher *m, const char *snap,
	             int is_dir);
	int (*dir_matters)(const struct tier_restore_matcher *m);
	void (*free)(struct tier_restore_matcher *m);
};

/* A reading thread (restore_read.c) and its buffers. */
struct worker {
	struct restore_run *r;
	pthread_t th;
	/* the worker's own connection to each tier (NULL: share r->t[i].loc
	 * under r->io), so that two workers read at once */
	tier_location **locs;
	unsigned char *buf;
	size_t buf_cap;
	unsigned char *raw;
	size_t raw_cap;
};

/*
 * One tier_restore_run: set up by restore.c, walked by the main thread
 * (select, plan, apply), read and written by the workers (read, apply);
 * what the two sides share is under lock.
 */
struct restore_run {
	tier_vault *v;
	const tier_restore_options *o;
	tier_restore_stats *stats;
	git_repository *repo;
	tier_chunkmap *map;
	uint64_t rev;
	int root;      /* euid 0: ownership is restored */
	tier_buf dest; /* without a trailing '/' ("" for "/") */
	size_t ntiers;
	struct rtier *t;

	/* what is restored: the selected paths (none, or "": the whole
	 * revision), the commit of revision rev, its trees */
	tier_vec sel;
	int whole;
	tier_restore_options
	        opts; /* the caller's, as this version reads them */
	struct tier_restore_matcher *inc, *exc; /* NULL: none given */
	char **roots;    /* the revision's Tier-Path list, for inc and exc */
	int in_included; /* the walk is below an entry an include matched */
	git_oid commit;
	git_tree *rev_tree;
	git_tree *snap_root;   /* NULL: an empty revision */
	struct rdir *dest_dir; /* DEST, held by the walk until its end */
	struct worker w[NWORKERS];
	size_t started; /* of w, running */

	pthread_mutex_t lock; /* queue, stats, live files, dirs, errors */
	pthread_cond_t nonempty, nonfull, dir_freed;
	pthread_cond_t opened; /* a file's temporary was created (or failed) */
	struct job *queue[QUEUE_CAP];
	size_t qhead, qlen;
	int planning_done;
	int abort;
	struct rfile *live;
	size_t open_dirs; /* struct rdir alive */
	size_t depth;     /* of them, held by the walk */
	int fatal_code;   /* the first error that stops the run */
	char *fatal_msg;
	int fail_code; /* the first entry that could not be restored */
	char *fail_msg;

	pthread_mutex_t io; /* tiers and their bad-pack maps */
	pthread_mutex_t cb; /* callbacks run one at a time */

	unsigned long kill_after; /* TIER_TEST_RESTORE_KILL (0: off) */
	unsigned long pieces;     /* written, for kill_after */

	/* pieces planned but not yet cut into jobs (restore_read.c): read
	 * in pack and offset order once the window is full */
	struct piece *win;
	size_t win_n, win_cap;
	uint64_t win_bytes;     /* stored bytes of its pieces */
	size_t win_multi;       /* files with more than one piece in it */
	struct rfile *win_last; /* the file of the last piece */
	size_t win_last_n;      /* pieces of win_last in it */
	tier_buf current;       /* for progress: the entry being planned */
	int64_t last_progress;
};

/* ---- the run (restore.c) ---- */

char *tier_restore_short_hex(char out[SHORT_HEX + 1], const unsigned char *id);
const char *tier_restore_show(const char *s);
int tier_restore_fs_error(int errnum, const char *what, const char *path);
void tier_restore_warn(struct restore_run *r, const char *fmt, ...);
int tier_restore_set_fatal(struct restore_run *r, int code);
void tier_restore_entry_failed(struct restore_run *r, int code,
                               const char *msg);
int tier_restore_aborted(struct restore_run *r);
int tier_restore_entry_error(struct restore_run *r, int rc);
int tier_restore_progress(struct restore_run *r, int force);
void tier_restore_wait(struct restore_run *r, pthread_cond_t *c);
void tier_restore_stat_inc(struct restore_run *r, uint64_t *field);

/* ---- select (restore_select.c) ---- */

int tier_restore_next_component(tier_buf *comp, tier_buf *enc, const char **p,
                                const tier_keys *keys);
int tier_restore_selection(tier_vec *out, const tier_restore_options *o);
int tier_restore_rev_trees(struct restore_run *r, const git_oid *cid,
                           uint64_t rev, git_tree **rev_tree, git_tree **root);
int tier_restore_find_revision(struct restore_run *r, const tier_vec *sel,
                               int whole, git_oid *out);
/* The chunk map and the tiers to read revision `commit` from. */
int tier_restore_open_data(struct restore_run *r, const git_oid *commit);

/* ---- filter (restore_filter.c) ---- */

/* The matcher of n patterns (none: *out NULL); what: "include", "exclude". */
int tier_restore_matcher_new(struct tier_restore_matcher **out,
                             const char *const *pats, size_t n,
                             const char *what);
void tier_restore_matcher_free(struct tier_restore_matcher *m);
/*
 * Whether entry e at snap is restored (1) or left out (0); *all_below: an
 * include pattern matched it, so everything below it is in.
 */
int tier_restore_filter_take(struct restore_run *r, const git_tree_entry *e,
                             const char *snap, int *all_below);

/* ---- plan (restore_plan.c) ---- */

const char *tier_restore_snap_of(struct restore_run *r, const tier_buf *path);
void tier_restore_walk_hold(struct restore_run *r);
void tier_restore_walk_drop(struct restore_run *r, struct rdir *d);
int tier_restore_walk_dir(struct restore_run *r, const git_tree *tree,
                          struct rdir *d, tier_buf *path);
typedef int (*tier_restore_entry_fn)(struct restore_run *,
                                     const git_tree_entry *, struct rdir *,
                                     const char *, tier_buf *);

int tier_restore_each_entry(struct restore_run *r, const git_tree *tree,
                            struct rdir *d, tier_buf *path,
                            tier_restore_entry_fn fn);
int tier_restore_check_entry(struct restore_run *r, const git_tree_entry *e,
                             struct rdir *d, const char *name, tier_buf *path);
/* How a walk over the selection treats what it finds. */
enum walk_mode {
	WALK_CHECK = 0, /* conflicts only, nothing changed */
	WALK_PLAN = 1,  /* restore */
	WALK_DRY = 2,   /* count what a restore would do, nothing changed */
};
int tier_restore_dry_entry(struct restore_run *r, const git_tree_entry *e,
                           struct rdir *d, const char *name, tier_buf *path);
int tier_restore_select_path(struct restore_run *r, const git_tree *root,
                             struct rdir *dest, const char *sel, int plan);

/* ---- read (restore_read.c) ---- */

void *tier_restore_worker_main(void *arg);

/* ---- jobs (restore_jobs.c) ---- */

void tier_restore_job_free(struct job *j);
/* Cut the window into jobs and hand them to the workers. */
int tier_restore_flush_job(struct restore_run *r);
/* A chunk of file f at off: into the window (flushed when full). */
int tier_restore_add_piece(struct restore_run *r, struct rfile *f, uint64_t off,
                           const tier_chunk_loc *l);
/* Drop what the window still holds (a run that stopped). */
void tier_restore_window_free(struct restore_run *r);

/* ---- apply (restore_apply.c) ---- */

void tier_restore_meta_from_node(struct meta *m, const tier_node *n);
int tier_restore_open_dir_at(int dirfd, const char *name);
struct rdir *tier_restore_rdir_new(struct restore_run *r, int fd,
                                   const char *path);
void tier_restore_rdir_ref(struct restore_run *r, struct rdir *d);
void tier_restore_rdir_release(struct restore_run *r, struct rdir *d);
void tier_restore_rfile_free(struct restore_run *r, struct rfile *f);
char *tier_restore_tmp_name(const char *name);
int tier_restore_rfile_open(struct rfile *f);
void tier_restore_rfile_finish(struct restore_run *r, struct rfile *f);
void tier_restore_live_add(struct restore_run *r, struct rfile *f);
void tier_restore_live_remove(struct restore_run *r, struct rfile *f);
void tier_restore_piece_done(struct restore_run *r, struct rfile *f, int ok);
int tier_restore_write_at(int fd, const unsigned char *p, size_t len,
                          uint64_t off, const char *what);
int tier_restore_same_existing(struct restore_run *r, const tier_node *n,
                               const struct stat *st, int dirfd,
                               const char *name);
/* same_existing, and for a regular file under TIER_OVERWRITE_ALWAYS the
 * same contents too (read and hashed chunk by chunk) */
int tier_restore_keepable(struct restore_run *r, const tier_node *n,
                          const struct stat *st, int dirfd, const char *name);
int tier_restore_conflict(const char *path);
int tier_restore_lookup_at(int dirfd, const char *name, const char *path,
                           struct stat *st);
int tier_restore_make_dir(struct restore_run *r, struct rdir *parent,
                          const char *name, const tier_buf *path,
                          const tier_node *meta, int count, struct rdir **out);
int tier_restore_make_symlink(struct restore_run *r, const tier_node *n,
                              struct rdir *d, const char *name,
                              const tier_buf *path);
int tier_restore_make_special(struct restore_run *r, const tier_node *n,
                              struct rdir *d, const char *name,
                              const tier_buf *path);

/* ---- reading one file in order (tier-cat) ---- */

typedef int (*tier_restore_sink_fn)(const void *data, size_t len,
                                    void *payload);
/* restore_read.c: n's chunks in order into sink, through the run's tiers */
int tier_restore_read_node(struct restore_run *r, const tier_node *n,
                           const char *snap, tier_restore_sink_fn sink,
                           void *payload);
/* restore.c: a run without destination, for reading revision rev (commit) */
struct tier_restore_reader;
int tier_restore_reader_open(struct tier_restore_reader **out, tier_vault *v,
                             const git_oid *commit, uint64_t rev,
                             tier_restore_warning_cb warning, void *payload);
int tier_restore_reader_read(struct tier_restore_reader *rd, const tier_node *n,
                             const char *snap, tier_restore_sink_fn sink,
                             void *payload);
uint64_t tier_restore_reader_damaged(const struct tier_restore_reader *rd);
void tier_restore_reader_free(struct tier_restore_reader *rd);

#endif
