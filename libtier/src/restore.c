/*
 * tier_restore_run: a revision (or part of it) back onto the local disk.
 *
 * The main thread walks the snapshot tree in the log cache, creates
 * directories, symlinks and special files as it goes, and turns the chunks
 * of regular files into read jobs: one ranged get of a pack covering many
 * consecutive chunks, of one file or of many small ones.  Two workers take
 * the jobs in turn: one fetches its range while the other decodes, checks
 * hashes and writes (the machine this was tuned on has two cores).  Tier
 * access is serialised by one lock: a tier_location (and a remote driver's
 * connection) serves one caller at a time.
 *
 * The tier is not trusted (a hostile or damaged one names its entries as it
 * likes): every snapshot directory passes tier_snap_tree_check() before
 * any of its entries is acted on, every object is size-checked before it
 * is read, and every file system call is relative to a directory fd opened
 * with O_NOFOLLOW, one component at a time.  So nothing is written outside
 * DEST, no link is followed that the restore did not mean to follow, and
 * the depth of a tree is not bounded by PATH_MAX.  A bad directory or entry
 * is reported and skipped; the rest of the revision is restored.
 *
 * A file is written to "<name>.tier-tmp" and renamed once complete, its
 * mode and mtime set before the rename: a file under its own name is
 * always complete.  That is what lets a rerun keep what an interrupted run
 * finished (same size, mtime and mode) and redo the rest.  A directory's
 * own metadata is applied when the walk has left it and the last file in
 * it is in place, once nothing is written into it any more.
 *
 * R2: every job is read from the first usable tier that holds the
 * revision; a missing or damaged pack, or a tier going offline, sends the
 * read to the next tier, reports the damage and remembers it for the rest
 * of the run.
 */
#include "tier/restore.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "objread.h"
#include "pack.h"
#include "snapshot.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/posix.h"
#include "util/text.h"
#include "vault.h"

/* A ranged get covers at most this much, unless one chunk is longer. */
#define JOB_MAX_BYTES (8u << 20)
/* Read across a hole this small rather than make a second request. */
#define JOB_GAP (64u << 10)
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
	struct meta m;
	int failed;
};

/* One chunk of a file: where it goes and where it is. */
struct piece {
	struct rfile *f;
	uint64_t off;
	const tier_chunk_loc *loc;
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

struct run {
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

	pthread_mutex_t lock; /* queue, stats, live files, dirs, errors */
	pthread_cond_t nonempty, nonfull, dir_freed;
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

	struct job *cur;  /* being filled by the planner */
	tier_buf current; /* for progress: the entry being planned */
	int64_t last_progress;
};

struct worker {
	struct run *r;
	pthread_t th;
	/* the worker's own connection to each tier (NULL: share r->t[i].loc
	 * under r->io), so that two workers read at once */
	tier_location **locs;
	unsigned char *buf;
	size_t buf_cap;
	unsigned char *raw;
	size_t raw_cap;
};

static char *short_hex(char out[SHORT_HEX + 1], const unsigned char *id)
{
	char hex[TIER_HASH_HEXLEN + 1];
	tier_hex(hex, id, TIER_HASH_LEN);
	memcpy(out, hex, SHORT_HEX);
	out[SHORT_HEX] = '\0';
	return out;
}

static void buf_truncate(tier_buf *b, size_t len)
{
	if (b->ptr) {
		b->size = len;
		b->ptr[len] = '\0';
	}
}

static int grow(unsigned char **p, size_t *cap, size_t need)
{
	if (need <= *cap)
		return 0;
	unsigned char *np = tier_realloc(*p, need);
	if (!np)
		return TIER_ERROR;
	*p = np;
	*cap = need;
	return 0;
}

/*
 * A path for a message, quoted (tier_quote_path) and, past SHOW_MAX bytes,
 * shortened in the middle: its start and its end (the name) stay, and the
 * reason after it is never cut off.  Valid until the fourth next call on
 * the same thread.
 */
static const char *show(const char *s)
{
	enum { SLOTS = 4, HEAD = 120 };
	static _Thread_local char slot[SLOTS][SHOW_MAX + 64];
	static _Thread_local unsigned next;
	char *dst = slot[next++ % SLOTS];
	tier_buf b = TIER_BUF_INIT;

	if (!s)
		s = "";
	if (tier_quote_path(&b, s, strlen(s)) < 0 || !b.ptr) {
		tier_buf_dispose(&b);
		return "?";
	}
	if (b.size <= SHOW_MAX) {
		memcpy(dst, b.ptr, b.size + 1);
	} else {
		size_t tail = SHOW_MAX - HEAD;
		int n = snprintf(dst, SHOW_MAX + 64, "%.*s...(%zu bytes)...",
		                 (int)HEAD, b.ptr, b.size - HEAD - tail);
		memcpy(dst + n, b.ptr + b.size - tail, tail + 1);
	}
	tier_buf_dispose(&b);
	return dst;
}

/* The code of a local file system failure: never a usage error (exit 2). */
static int local_code(int errnum)
{
	int code = tier_error_from_errno(errnum);
	return code == TIER_EUSAGE || code == TIER_EOFFLINE ? TIER_ERROR : code;
}

static int fs_error(int errnum, const char *what, const char *path)
{
	return tier_error_set_errno(local_code(errnum), errnum, "%s '%s'", what,
	                            show(path));
}

/* ---- errors and callbacks ---------------------------------------------- */

static void warn(struct run *r, const char *fmt, ...) TIER_PRINTF(2, 3);
static void warn(struct run *r, const char *fmt, ...)
{
	tier_buf b = TIER_BUF_INIT;
	va_list ap;
	if (!r->o->warning)
		return;
	va_start(ap, fmt);
	tier_buf_vprintf(&b, fmt, ap);
	va_end(ap);
	pthread_mutex_lock(&r->cb);
	r->o->warning(tier_buf_cstr(&b), r->o->payload);
	pthread_mutex_unlock(&r->cb);
	tier_buf_dispose(&b);
}

/* Stop the run with the calling thread's last error (the first one wins). */
static int set_fatal(struct run *r, int code)
{
	pthread_mutex_lock(&r->lock);
	if (!r->fatal_code) {
		r->fatal_code = code ? code : TIER_ERROR;
		r->fatal_msg = strdup(tier_error_last());
	}
	r->abort = 1;
	pthread_cond_broadcast(&r->nonempty);
	pthread_cond_broadcast(&r->nonfull);
	pthread_cond_broadcast(&r->dir_freed);
	pthread_mutex_unlock(&r->lock);
	return code;
}

/* An entry that could not be restored: reported, counted, the run goes on. */
static void entry_failed(struct run *r, int code, const char *msg)
{
	pthread_mutex_lock(&r->lock);
	r->stats->errors++;
	if (!r->fail_code) {
		/* whatever the cause, a lost entry is exit 1, never 2 */
		r->fail_code =
		        code == TIER_EUSAGE || code == 0 ? TIER_ERROR : code;
		r->fail_msg = strdup(msg);
	}
	pthread_mutex_unlock(&r->lock);
	warn(r, "%s", msg);
}

static int aborted(struct run *r)
{
	pthread_mutex_lock(&r->lock);
	int a = r->abort;
	pthread_mutex_unlock(&r->lock);
	return a;
}

/*
 * The end of one entry that failed with rc (message set): a failure that
 * concerns the whole run (cancelled, disk full, stopped) is passed on, any
 * other is reported and the walk goes on with the next entry.
 */
static int entry_error(struct run *r, int rc)
{
	if (rc >= 0)
		return rc;
	if (rc == TIER_EABORTED || rc == TIER_ENOSPC || aborted(r))
		return rc;
	entry_failed(r, rc, tier_error_last());
	return 0;
}

/* Called by the main thread only. */
static int progress(struct run *r, int force)
{
	tier_restore_stats s;
	int64_t now;
	if (!r->o->progress)
		return 0;
	now = tier_now_ms();
	if (!force && now - r->last_progress < PROGRESS_MS)
		return 0;
	r->last_progress = now;
	pthread_mutex_lock(&r->lock);
	s = *r->stats;
	pthread_mutex_unlock(&r->lock);
	pthread_mutex_lock(&r->cb);
	int stop = r->o->progress(&s, r->current.size ? r->current.ptr : NULL,
	                          r->o->payload);
	pthread_mutex_unlock(&r->cb);
	if (stop) {
		tier_error_set(TIER_EABORTED, "restore cancelled");
		return set_fatal(r, TIER_EABORTED);
	}
	return 0;
}

static void stat_inc(struct run *r, uint64_t *field)
{
	pthread_mutex_lock(&r->lock);
	(*field)++;
	pthread_mutex_unlock(&r->lock);
}

/*
 * Test hook TIER_TEST_RESTORE_KILL=n: _exit(137), as kill -9 would, once
 * n pieces of files are written, counted over both workers (so a test
 * interrupts a restore with some files complete and some half written).
 */
static void test_kill_point(struct run *r)
{
	if (!r->kill_after)
		return;
	pthread_mutex_lock(&r->lock);
	int now = ++r->pieces >= r->kill_after;
	pthread_mutex_unlock(&r->lock);
	if (now)
		_exit(137);
}

/* ---- applying metadata ------------------------------------------------- */

static void meta_from_node(struct meta *m, const tier_node *n)
{
	m->mode = n->mode & 07777;
	m->uid = n->uid;
	m->gid = n->gid;
	m->mtime_sec = n->mtime_sec;
	m->mtime_nsec = n->mtime_nsec < 1000000000u ? n->mtime_nsec : 0;
}

static void meta_times(struct timespec ts[2], const struct meta *m)
{
	/* atime: the restore does not know better */
	ts[0].tv_sec = (time_t)m->mtime_sec;
	ts[0].tv_nsec = (long)m->mtime_nsec;
	ts[1] = ts[0];
}

/* A metadata failure is reported and counted; the content is there. */
static void meta_failed(struct run *r, const char *what, const char *path,
                        int errnum)
{
	stat_inc(r, &r->stats->errors);
	warn(r, "cannot set the %s of '%s': %s", what, show(path),
	     strerror(errnum));
}

/* Owner, mode, mtime of an open file or directory. */
static void apply_fd_meta(struct run *r, int fd, const char *path,
                          const struct meta *m)
{
	struct timespec ts[2];
	/* chown first: it clears set-id bits that chmod then puts back */
	if (r->root && fchown(fd, m->uid, m->gid) < 0)
		meta_failed(r, "owner", path, errno);
	if (fchmod(fd, m->mode) < 0)
		meta_failed(r, "mode", path, errno);
	meta_times(ts, m);
	if (futimens(fd, ts) < 0)
		meta_failed(r, "mtime", path, errno);
}

/*
 * Owner, mode, mtime of a fifo or device just made as name in dirfd:
 * nothing here follows a symlink (fchmodat without AT_SYMLINK_NOFOLLOW
 * only where the C library cannot do it, and only on what was just
 * checked not to be a link).
 */
static void apply_node_meta(struct run *r, int dirfd, const char *name,
                            const char *path, const struct meta *m)
{
	struct timespec ts[2];
	struct stat st;
	if (r->root &&
	    fchownat(dirfd, name, m->uid, m->gid, AT_SYMLINK_NOFOLLOW) < 0)
		meta_failed(r, "owner", path, errno);
	if (fchmodat(dirfd, name, m->mode, AT_SYMLINK_NOFOLLOW) < 0) {
		if ((errno == ENOTSUP || errno == EOPNOTSUPP) &&
		    fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    !S_ISLNK(st.st_mode)) {
			if (fchmodat(dirfd, name, m->mode, 0) < 0)
				meta_failed(r, "mode", path, errno);
		} else {
			meta_failed(r, "mode", path, errno);
		}
	}
	meta_times(ts, m);
	if (utimensat(dirfd, name, ts, AT_SYMLINK_NOFOLLOW) < 0)
		meta_failed(r, "mtime", path, errno);
}

static void apply_link_meta(struct run *r, int dirfd, const char *name,
                            const char *path, const struct meta *m)
{
	struct timespec ts[2];
	if (r->root &&
	    fchownat(dirfd, name, m->uid, m->gid, AT_SYMLINK_NOFOLLOW) < 0)
		meta_failed(r, "owner", path, errno);
	meta_times(ts, m);
	if (utimensat(dirfd, name, ts, AT_SYMLINK_NOFOLLOW) < 0 &&
	    errno != EOPNOTSUPP)
		meta_failed(r, "mtime", path, errno);
}

/* ---- directories: fds, one component at a time ------------------------ */

static int open_dir_at(int dirfd, const char *name)
{
	int fd;
	do
		fd = openat(dirfd, name, DIR_FLAGS);
	while (fd < 0 && errno == EINTR);
	return fd;
}

/*
 * rm -rf of name in dirfd, never following a link: each directory is
 * opened O_NOFOLLOW from its parent's fd, so no depth is too deep and no
 * link leads out.  errno is set on failure.
 */
static int remove_at(int dirfd, const char *name)
{
	struct stat st;
	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : -1;
	if (!S_ISDIR(st.st_mode))
		return unlinkat(dirfd, name, 0) < 0 && errno != ENOENT ? -1 : 0;
	int fd = open_dir_at(dirfd, name);
	if (fd < 0)
		return -1;
	DIR *d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -1;
	}
	/* a directory we may not write to cannot be emptied */
	if ((st.st_mode & 0700) != 0700)
		fchmod(fd, (st.st_mode & 07777) | 0700);
	int rc = 0;
	for (;;) {
		struct dirent *e;
		errno = 0;
		if (!(e = readdir(d))) {
			rc = errno ? -1 : 0;
			break;
		}
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (remove_at(fd, e->d_name) < 0) {
			rc = -1;
			break;
		}
	}
	int saved = errno;
	closedir(d);
	if (rc < 0) {
		errno = saved;
		return -1;
	}
	return unlinkat(dirfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT ? -1
	                                                                  : 0;
}

static struct rdir *rdir_new(struct run *r, int fd, const char *path)
{
	struct rdir *d = tier_calloc(1, sizeof(*d));
	if (!d || !(d->path = tier_strdup(path))) {
		free(d);
		close(fd);
		return NULL;
	}
	d->fd = fd;
	d->refs = 1;
	pthread_mutex_lock(&r->lock);
	r->open_dirs++;
	pthread_mutex_unlock(&r->lock);
	return d;
}

static void rdir_ref(struct run *r, struct rdir *d)
{
	pthread_mutex_lock(&r->lock);
	d->refs++;
	pthread_mutex_unlock(&r->lock);
}

/* The last reference applies the directory's metadata (unless the run
 * stopped: a rerun does it) and closes it. */
static void rdir_release(struct run *r, struct rdir *d)
{
	int last, stop;
	if (!d)
		return;
	pthread_mutex_lock(&r->lock);
	last = --d->refs == 0;
	stop = r->abort;
	if (last) {
		r->open_dirs--;
		pthread_cond_broadcast(&r->dir_freed);
	}
	pthread_mutex_unlock(&r->lock);
	if (!last)
		return;
	if (d->has_meta && !stop)
		apply_fd_meta(r, d->fd, d->path, &d->m);
	close(d->fd);
	free(d->path);
	free(d);
}

/* ---- files --------------------------------------------------------------- */

static void rfile_free(struct run *r, struct rfile *f)
{
	if (!f)
		return;
	rdir_release(r, f->dir);
	free(f->name);
	free(f->tmp);
	free(f->path);
	free(f);
}

/*
 * The temporary name of name: "<name>.tier-tmp", or, when that is longer
 * than a name may be, the start of name, a hash of all of it and the
 * suffix: always the same for the same name, so that a rerun finds the
 * leftover of a crashed run and replaces it.
 */
static char *tmp_name(const char *name)
{
	size_t n = strlen(name);
	tier_buf b = TIER_BUF_INIT;
	if (n + sizeof(TMP_SUFFIX) <= 256) {
		tier_buf_put(&b, name, n);
	} else {
		uint64_t h = 1469598103934665603ull; /* FNV-1a */
		for (size_t i = 0; i < n; i++)
			h = (h ^ (unsigned char)name[i]) * 1099511628211ull;
		tier_buf_put(&b, name, 200);
		tier_buf_printf(&b, "~%016" PRIx64, h);
	}
	tier_buf_puts(&b, TMP_SUFFIX);
	return tier_buf_detach(&b);
}

static int rfile_open(struct rfile *f)
{
	int dfd = f->dir->fd;
	/* a leftover of a crashed run is ours to replace; never follow a link */
	if (unlinkat(dfd, f->tmp, 0) < 0 && errno != ENOENT &&
	    !(errno == EISDIR && remove_at(dfd, f->tmp) == 0))
		return fs_error(errno, "cannot remove", f->path);
	f->fd = openat(dfd, f->tmp,
	               O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
	               0600);
	if (f->fd < 0)
		return fs_error(errno, "cannot create", f->path);
	return 0;
}

/* renameat(tmp, name), replacing a directory at name when overwriting. */
static int put_in_place(struct run *r, struct rfile *f)
{
	int dfd = f->dir->fd;
	if (renameat(dfd, f->tmp, dfd, f->name) == 0)
		return 0;
	if ((errno == EISDIR || errno == ENOTEMPTY || errno == EEXIST ||
	     errno == ENOTDIR) &&
	    r->o->overwrite) {
		if (remove_at(dfd, f->name) < 0)
			return fs_error(errno, "cannot remove", f->path);
		if (renameat(dfd, f->tmp, dfd, f->name) == 0)
			return 0;
	}
	return fs_error(errno, "cannot put in place", f->path);
}

/* The last piece of a file is written (or failed): close and rename it. */
static void rfile_finish(struct run *r, struct rfile *f)
{
	int rc = 0;

	if (f->failed) {
		if (f->fd >= 0)
			close(f->fd);
		unlinkat(f->dir->fd, f->tmp, 0);
		rfile_free(r, f);
		return;
	}
	if (f->fd < 0 && (rc = rfile_open(f)) < 0)
		goto out;
	apply_fd_meta(r, f->fd, f->path, &f->m);
	int fd = f->fd;
	f->fd = -1;
	if (close(fd) < 0) {
		rc = fs_error(errno, "cannot write", f->path);
		goto out;
	}
	if ((rc = put_in_place(r, f)) < 0)
		goto out;
	stat_inc(r, &r->stats->files);
out:
	if (rc < 0) {
		if (f->fd >= 0)
			close(f->fd);
		unlinkat(f->dir->fd, f->tmp, 0);
		if (entry_error(r, rc) < 0)
			set_fatal(r, rc);
	}
	rfile_free(r, f);
}

static void live_add(struct run *r, struct rfile *f)
{
	pthread_mutex_lock(&r->lock);
	f->prev = NULL;
	f->next = r->live;
	if (r->live)
		r->live->prev = f;
	r->live = f;
	pthread_mutex_unlock(&r->lock);
}

/* Caller holds r->lock. */
static void live_remove(struct run *r, struct rfile *f)
{
	if (f->prev)
		f->prev->next = f->next;
	else
		r->live = f->next;
	if (f->next)
		f->next->prev = f->prev;
	f->prev = f->next = NULL;
}

/* One piece of f is done; the last one finishes the file. */
static void piece_done(struct run *r, struct rfile *f, int ok)
{
	int last;
	pthread_mutex_lock(&r->lock);
	if (!ok)
		f->failed = 1;
	last = --f->remaining == 0;
	if (last)
		live_remove(r, f);
	pthread_mutex_unlock(&r->lock);
	if (last)
		rfile_finish(r, f);
}

/* ---- reading from the tiers (R2) -------------------------------------- */

struct sink {
	unsigned char *buf;
	size_t cap, got;
};

static int sink_cb(const void *data, size_t len, void *payload)
{
	struct sink *s = payload;
	if (len > s->cap - s->got)
		return 1;
	memcpy(s->buf + s->got, data, len);
	s->got += len;
	return 0;
}

/*
 * Why reads failed: the message when no tier has the data, and the damage
 * to report once a later tier served it.
 */
struct reasons {
	tier_buf text;
	int any_damage;   /* a failure other than offline */
	tier_vec pending; /* char *: "tier 'a': pack 77b1... is missing" */
};

#define REASONS_INIT                            \
	{                                       \
		TIER_BUF_INIT, 0, TIER_VEC_INIT \
	}

static void reasons_dispose(struct reasons *why)
{
	tier_buf_dispose(&why->text);
	tier_vec_dispose(&why->pending, free);
}

/* A later tier served what the pending ones lacked: report each, count it. */
static void reasons_served(struct run *r, struct reasons *why, const char *by)
{
	for (size_t i = 0; i < why->pending.length; i++) {
		warn(r, "%s; read from tier '%s'", (char *)why->pending.ptr[i],
		     by);
		pthread_mutex_lock(&r->lock);
		r->stats->damaged++;
		pthread_mutex_unlock(&r->lock);
	}
	tier_vec_dispose(&why->pending, free);
	why->pending = (tier_vec)TIER_VEC_INIT;
}

static void reasons_pending(struct reasons *why, const char *fmt, ...)
        TIER_PRINTF(2, 3);
static void reasons_pending(struct reasons *why, const char *fmt, ...)
{
	tier_buf b = TIER_BUF_INIT;
	va_list ap;
	va_start(ap, fmt);
	tier_buf_vprintf(&b, fmt, ap);
	va_end(ap);
	char *m = tier_buf_detach(&b);
	if (m && tier_vec_push(&why->pending, m) < 0)
		free(m);
}

static void reason_add(struct reasons *why, const char *tier, const char *msg)
{
	tier_buf_printf(&why->text, "%stier '%s': %s",
	                why->text.size ? "; " : "", tier, msg);
}

/*
 * A get failed on tier i: an offline tier is left for the rest of the run,
 * a pack that is missing or unreadable there is remembered as bad.
 * Caller holds r->io.
 */
static void read_failed(struct run *r, size_t i, uint32_t pack, int rc,
                        struct reasons *why)
{
	struct rtier *t = &r->t[i];
	char msg[1024], ph[SHORT_HEX + 1], own[300];
	const char *last = tier_error_last();
	/* the location names the tier already; the reasons name it too */
	snprintf(own, sizeof(own), "tier '%s': ", t->name);
	if (!strncmp(last, own, strlen(own)))
		last += strlen(own);
	snprintf(msg, sizeof(msg), "%s", last);
	short_hex(ph, tier_chunkmap_pack_id(r->map, pack));
	if (rc == TIER_EOFFLINE || tier_location_is_offline(t->loc)) {
		t->usable = 0;
		reason_add(why, t->name, "offline");
		warn(r,
		     "tier '%s' went offline (%s); reading from the other tiers",
		     t->name, msg);
		return;
	}
	/* two workers can read the same pack at once: the damage is reported
	 * (and counted) by the first to find it */
	int known = t->bad[pack];
	t->bad[pack] = 1;
	why->any_damage = 1;
	if (rc == TIER_ENOTFOUND) {
		reason_add(why, t->name, "the pack is missing");
		if (!known)
			reasons_pending(why, "tier '%s': pack %s is missing",
			                t->name, ph);
	} else {
		reason_add(why, t->name, msg);
		if (!known)
			reasons_pending(why,
			                "tier '%s': cannot read pack %s (%s)",
			                t->name, ph, msg);
	}
}

/*
 * Get [off, off+len) of pack into buf from the first usable tier that
 * holds it.  Returns the tier index, or -1 with why filled.  A tier found
 * without the pack before the one that served is reported as damage.
 * Caller holds r->io.
 */
static tier_location *loc_of(struct worker *w, size_t i)
{
	return w && w->locs && w->locs[i] ? w->locs[i] : w->r->t[i].loc;
}

/* Callers of fetch/chunk_fallback hold r->io only when w has no own
 * connections; the bookkeeping below is short and takes r->io itself
 * otherwise. */
static void io_lock(struct worker *w)
{
	if (w->locs)
		pthread_mutex_lock(&w->r->io);
}

static void io_unlock(struct worker *w)
{
	if (w->locs)
		pthread_mutex_unlock(&w->r->io);
}

static long fetch(struct worker *w, uint32_t pack, uint64_t off, size_t len,
                  unsigned char *buf, struct reasons *why)
{
	struct run *r = w->r;
	const unsigned char *pid = tier_chunkmap_pack_id(r->map, pack);
	char path[80], ph[SHORT_HEX + 1];
	tier_data_pack_path(path, pid);
	for (size_t i = 0; i < r->ntiers; i++) {
		struct rtier *t = &r->t[i];
		struct sink s = {buf, len, 0};
		io_lock(w);
		int skip = !t->usable || t->bad[pack];
		io_unlock(w);
		if (skip)
			continue;
		int rc = tier_location_get(loc_of(w, i), path, off, len,
		                           sink_cb, &s);
		if (rc == 0 && s.got != len)
			rc = tier_error_set(TIER_ECORRUPT,
			                    "pack %s on tier '%s' is truncated",
			                    short_hex(ph, pid), t->name);
		io_lock(w);
		if (rc == 0)
			reasons_served(r, why, t->name);
		else
			read_failed(r, i, pack, rc, why);
		io_unlock(w);
		if (rc == 0)
			return (long)i;
	}
	return -1;
}

static void entry_of(tier_pack_entry *e, const tier_chunk_loc *l)
{
	memcpy(e->id, l->id, TIER_HASH_LEN);
	e->offset = l->offset;
	e->stored_len = l->stored_len;
	e->raw_len = l->raw_len;
	e->flags = l->flags;
}

/*
 * A chunk failed its hash on tier src: read it alone from the other
 * tiers.  Caller holds r->io.  Returns 0 with the chunk in w->raw, or
 * TIER_ECORRUPT / TIER_EOFFLINE naming the file and the chunk.
 */
static int chunk_fallback(struct worker *w, const tier_chunk_loc *l, size_t src,
                          const char *file)
{
	struct run *r = w->r;
	const unsigned char *pid = tier_chunkmap_pack_id(r->map, l->pack);
	struct reasons why = REASONS_INIT;
	char path[80], ch[SHORT_HEX + 1], ph[SHORT_HEX + 1];
	unsigned char *stored = NULL;
	size_t cap = 0;
	tier_pack_entry e;
	int rc;

	entry_of(&e, l);
	tier_data_pack_path(path, pid);
	short_hex(ch, l->id);
	short_hex(ph, pid);
	r->t[src].bad[l->pack] = 1;
	why.any_damage = 1;
	reason_add(&why, r->t[src].name, "fails its hash");
	reasons_pending(&why, "tier '%s': chunk %s in pack %s fails its hash",
	                r->t[src].name, ch, ph);
	if (grow(&stored, &cap, l->stored_len ? l->stored_len : 1) < 0) {
		reasons_dispose(&why);
		return TIER_ERROR;
	}
	for (size_t i = 0; i < r->ntiers; i++) {
		struct rtier *t = &r->t[i];
		struct sink s = {stored, l->stored_len, 0};
		if (i == src || !t->usable || t->bad[l->pack])
			continue;
		rc = tier_location_get(loc_of(w, i), path, l->offset,
		                       l->stored_len, sink_cb, &s);
		if (rc == 0 && s.got != l->stored_len)
			rc = tier_error_set(TIER_ECORRUPT, "pack is truncated");
		if (rc < 0) {
			read_failed(r, i, l->pack, rc, &why);
			continue;
		}
		rc = tier_pack_chunk_decode(&e, pid, stored, l->stored_len,
		                            w->raw, w->raw_cap);
		if (rc < 0) {
			t->bad[l->pack] = 1;
			reason_add(&why, t->name, "fails its hash");
			reasons_pending(
			        &why,
			        "tier '%s': chunk %s in pack %s fails its hash",
			        t->name, ch, ph);
			continue;
		}
		reasons_served(r, &why, t->name);
		free(stored);
		reasons_dispose(&why);
		return 0;
	}
	free(stored);
	rc = tier_error_set(
	        TIER_ECORRUPT,
	        "cannot restore '%s': chunk %s in pack %s is damaged on "
	        "every tier (%s)",
	        show(file), ch, ph, tier_buf_cstr(&why.text));
	reasons_dispose(&why);
	return rc;
}

static int write_at(int fd, const unsigned char *p, size_t len, uint64_t off,
                    const char *what)
{
	while (len > 0) {
		ssize_t n = pwrite(fd, p, len, (off_t)off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return fs_error(errno, "cannot write", what);
		}
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

static int file_failed(struct run *r, struct rfile *f)
{
	pthread_mutex_lock(&r->lock);
	int failed = f->failed;
	pthread_mutex_unlock(&r->lock);
	return failed;
}

static int ensure_open(struct run *r, struct rfile *f)
{
	int rc = 0;
	pthread_mutex_lock(&r->lock);
	if (f->fd < 0)
		rc = rfile_open(f);
	pthread_mutex_unlock(&r->lock);
	return rc;
}

static int any_usable(struct run *r)
{
	int any = 0;
	pthread_mutex_lock(&r->io);
	for (size_t i = 0; i < r->ntiers; i++)
		any |= r->t[i].usable;
	pthread_mutex_unlock(&r->io);
	return any;
}

static void job_free(struct job *j)
{
	if (j) {
		free(j->p);
		free(j);
	}
}

static void run_job(struct worker *w, struct job *j)
{
	struct run *r = w->r;
	const unsigned char *pid = tier_chunkmap_pack_id(r->map, j->pack);
	size_t len = (size_t)(j->end - j->start);
	struct reasons why = REASONS_INIT;
	const tier_chunk_loc *ready = NULL;
	uint64_t bytes = 0, chunks = 0;
	long src;
	int rc;

	if (aborted(r))
		return;
	if (grow(&w->buf, &w->buf_cap, len ? len : 1) < 0) {
		set_fatal(r, TIER_ERROR);
		return;
	}
	if (!w->locs)
		pthread_mutex_lock(&r->io);
	src = fetch(w, j->pack, j->start, len, w->buf, &why);
	if (!w->locs)
		pthread_mutex_unlock(&r->io);

	for (size_t i = 0; i < j->n; i++) {
		struct piece *p = &j->p[i];
		const tier_chunk_loc *l = p->loc;
		if (aborted(r))
			break;
		if (file_failed(r, p->f)) {
			piece_done(r, p->f, 0);
			continue;
		}
		if (src < 0) {
			char ch[SHORT_HEX + 1], ph[SHORT_HEX + 1];
			tier_buf m = TIER_BUF_INIT;
			/* no reason this time: every usable tier was found without the pack before */
			int damage = why.any_damage ||
			             (!why.text.size && any_usable(r));
			tier_buf_printf(
			        &m,
			        "cannot restore '%s': pack %s of chunk %s cannot be read from "
			        "any tier (%s)",
			        show(p->f->snap), short_hex(ph, pid),
			        short_hex(ch, l->id),
			        why.text.size ? why.text.ptr
			        : damage ? "missing or damaged on every tier"
			                 : "every tier is offline");
			entry_failed(r, damage ? TIER_ECORRUPT : TIER_EOFFLINE,
			             tier_buf_cstr(&m));
			tier_buf_dispose(&m);
			piece_done(r, p->f, 0);
			continue;
		}
		if (l != ready) {
			tier_pack_entry e;
			entry_of(&e, l);
			if (grow(&w->raw, &w->raw_cap,
			         l->raw_len ? l->raw_len : 1) < 0) {
				set_fatal(r, TIER_ERROR);
				break;
			}
			rc = tier_pack_chunk_decode(
			        &e, pid, w->buf + (l->offset - j->start),
			        l->stored_len, w->raw, w->raw_cap);
			if (rc < 0) {
				pthread_mutex_lock(&r->io);
				rc = chunk_fallback(w, l, (size_t)src,
				                    p->f->snap);
				pthread_mutex_unlock(&r->io);
			}
			if (rc < 0) {
				ready = NULL;
				entry_failed(r, rc, tier_error_last());
				piece_done(r, p->f, 0);
				continue;
			}
			ready = l;
			chunks++;
		}
		if ((rc = ensure_open(r, p->f)) < 0 ||
		    (rc = write_at(p->f->fd, w->raw, l->raw_len, p->off,
		                   p->f->path)) < 0) {
			if (entry_error(r, rc) < 0) {
				set_fatal(r, rc);
				break;
			}
			piece_done(r, p->f, 0);
			continue;
		}
		bytes += l->raw_len;
		piece_done(r, p->f, 1);
		test_kill_point(r);
	}
	reasons_dispose(&why);
	pthread_mutex_lock(&r->lock);
	r->stats->bytes += bytes;
	r->stats->chunks += chunks;
	pthread_mutex_unlock(&r->lock);
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct run *r = w->r;
	for (;;) {
		struct job *j = NULL;
		pthread_mutex_lock(&r->lock);
		while (r->qlen == 0 && !r->planning_done && !r->abort)
			pthread_cond_wait(&r->nonempty, &r->lock);
		if (r->qlen > 0) {
			j = r->queue[r->qhead];
			r->qhead = (r->qhead + 1) % QUEUE_CAP;
			r->qlen--;
			pthread_cond_broadcast(&r->nonfull);
		}
		pthread_mutex_unlock(&r->lock);
		if (!j)
			break;
		run_job(w, j);
		job_free(j);
	}
	return NULL;
}

/* Hand a job to the workers, waiting (and reporting progress) while the queue is full. */
static int enqueue(struct run *r, struct job *j)
{
	pthread_mutex_lock(&r->lock);
	while (r->qlen == QUEUE_CAP && !r->abort) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += PROGRESS_MS * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&r->nonfull, &r->lock, &ts);
		if (r->qlen == QUEUE_CAP && !r->abort) {
			pthread_mutex_unlock(&r->lock);
			progress(r, 0);
			pthread_mutex_lock(&r->lock);
		}
	}
	if (r->abort) {
		int code = r->fatal_code;
		pthread_mutex_unlock(&r->lock);
		job_free(j);
		return code ? code : TIER_EABORTED;
	}
	r->queue[(r->qhead + r->qlen) % QUEUE_CAP] = j;
	r->qlen++;
	pthread_cond_signal(&r->nonempty);
	pthread_mutex_unlock(&r->lock);
	return 0;
}

static int flush_job(struct run *r)
{
	struct job *j = r->cur;
	r->cur = NULL;
	return j ? enqueue(r, j) : 0;
}

/*
 * Add a chunk to the job being built, or start a new one when the chunk
 * is in another pack or too far from the range.
 */
static int add_piece(struct run *r, struct rfile *f, uint64_t off,
                     const tier_chunk_loc *l)
{
	struct job *j = r->cur;
	uint64_t end = l->offset + l->stored_len;
	int rc;
	if (j) {
		uint64_t nend = end > j->end ? end : j->end;
		if (l->pack != j->pack || l->offset < j->start ||
		    l->offset > j->end + JOB_GAP ||
		    nend - j->start > JOB_MAX_BYTES || j->n == JOB_MAX_PIECES) {
			if ((rc = flush_job(r)) < 0)
				return rc;
			j = NULL;
		} else {
			j->end = nend;
		}
	}
	if (!j) {
		if (!(j = tier_calloc(1, sizeof(*j))))
			return TIER_ERROR;
		j->pack = l->pack;
		j->start = l->offset;
		j->end = end;
		r->cur = j;
	}
	if (j->n == j->cap) {
		size_t nc = j->cap ? j->cap * 2 : 16;
		struct piece *np = tier_realloc(j->p, nc * sizeof(*np));
		if (!np)
			return TIER_ERROR;
		j->p = np;
		j->cap = nc;
	}
	j->p[j->n].f = f;
	j->p[j->n].off = off;
	j->p[j->n].loc = l;
	j->n++;
	return 0;
}

/* ---- reading the snapshot (size-checked, names checked) ---------------- */

static const char *snap_of(struct run *r, const tier_buf *path)
{
	const char *s = path->ptr + r->dest.size;
	return *s ? s : "/";
}

static int read_node(struct run *r, tier_node *out, const git_oid *id,
                     const char *snap)
{
	git_blob *blob = NULL;
	tier_buf what = TIER_BUF_INIT;
	int rc;
	tier_buf_printf(&what, "the metadata of '%s'", show(snap));
	rc = tier_blob_lookup_bounded(&blob, r->repo, id, TIER_MAX_NODE_BLOB,
	                              tier_buf_cstr(&what));
	tier_buf_dispose(&what);
	if (rc < 0)
		return rc;
	rc = tier_node_decode(out, git_blob_rawcontent(blob),
	                      (size_t)git_blob_rawsize(blob));
	git_blob_free(blob);
	if (rc < 0)
		tier_error_prefix("'%s'", show(snap));
	return rc;
}

/*
 * A snapshot directory from the tier, size-checked, and every entry name
 * checked (one component, canonical, no duplicates) before any is used.
 */
static int load_tree(struct run *r, const git_oid *id, const char *snap,
                     git_tree **out)
{
	tier_buf what = TIER_BUF_INIT;
	int rc;
	*out = NULL;
	tier_buf_printf(&what, "directory '%s'", show(snap));
	rc = tier_tree_lookup_bounded(out, r->repo, id, tier_buf_cstr(&what));
	tier_buf_dispose(&what);
	if (rc == 0 && (rc = tier_snap_tree_check(*out)) < 0) {
		tier_error_prefix("directory '%s' not restored", show(snap));
		git_tree_free(*out);
		*out = NULL;
	}
	return rc;
}

/* The metadata of a snapshot directory (its "%" entry); 0 with *has = 0 when none. */
static int dir_meta(struct run *r, const git_tree *tree, tier_node *out,
                    int *has, const char *snap)
{
	const git_tree_entry *e =
	        git_tree_entry_byname(tree, TIER_SNAP_DIRMETA);
	*has = 0;
	if (!e || git_tree_entry_type(e) != GIT_OBJECT_BLOB)
		return 0;
	int rc = read_node(r, out, git_tree_entry_id(e), snap);
	if (rc == 0)
		*has = 1;
	return rc;
}

/* The length of a file: its chunks (what the restore writes). */
static uint64_t node_size(const tier_node *n)
{
	uint64_t size = 0;
	for (size_t i = 0; i < n->nchunks; i++)
		size += n->chunks[i].len;
	return size;
}

/*
 * Whether what stands at name in dirfd (st, not followed) is already what
 * the snapshot has there: a file of the same size, mtime and mode (and
 * owner, as root) is complete, since a file only gets its name once it is
 * (a partial one is under its temporary name); a symlink to the same
 * target; a fifo or device of the same kind; a directory.
 */
static int same_existing(struct run *r, const tier_node *n,
                         const struct stat *st, int dirfd, const char *name)
{
	struct meta m;
	meta_from_node(&m, n);
	int same_mode = (uint32_t)(st->st_mode & 07777) == m.mode;
	int same_owner = !r->root || (st->st_uid == (uid_t)m.uid &&
	                              st->st_gid == (gid_t)m.gid);
	switch (n->type) {
	case TIER_NODE_FILE:
		return S_ISREG(st->st_mode) &&
		       (uint64_t)st->st_size == node_size(n) &&
		       st->st_mtim.tv_sec == (time_t)m.mtime_sec &&
		       st->st_mtim.tv_nsec == (long)m.mtime_nsec && same_mode &&
		       same_owner;
	case TIER_NODE_DIR:
		return S_ISDIR(st->st_mode);
	case TIER_NODE_SYMLINK: {
		char *t;
		ssize_t got;
		int same;
		if (!S_ISLNK(st->st_mode) || !n->target ||
		    (uint64_t)st->st_size != n->target_len)
			return 0;
		if (!(t = tier_malloc(n->target_len + 1)))
			return 0;
		got = readlinkat(dirfd, name, t, n->target_len + 1);
		same = got == (ssize_t)n->target_len &&
		       !memcmp(t, n->target, n->target_len);
		free(t);
		return same;
	}
	case TIER_NODE_FIFO:
		return S_ISFIFO(st->st_mode) && same_mode && same_owner;
	case TIER_NODE_CHAR:
	case TIER_NODE_BLOCK:
		return (n->type == TIER_NODE_CHAR ? S_ISCHR(st->st_mode)
		                                  : S_ISBLK(st->st_mode)) &&
		       st->st_rdev == (dev_t)n->rdev && same_mode && same_owner;
	case TIER_NODE_SOCKET:
		return 1; /* never restored */
	}
	return 0;
}

static int conflict(const char *path)
{
	return tier_error_set(TIER_ECONFLICT,
	                      "'%s' exists already (--overwrite replaces it)",
	                      show(path));
}

/*
 * What is at name in dirfd, not followed: 1 (in *st), 0 for nothing, or
 * an error naming path.
 */
static int lookup_at(int dirfd, const char *name, const char *path,
                     struct stat *st)
{
	if (fstatat(dirfd, name, st, AT_SYMLINK_NOFOLLOW) == 0)
		return 1;
	if (errno == ENOENT)
		return 0;
	return fs_error(errno, "cannot stat", path);
}

/*
 * Make room at name for an object that is not there yet: without
 * overwrite anything there is a conflict (found by the check before the
 * walk, unless it appeared meanwhile).
 */
static int clear_at(struct run *r, int dirfd, const char *name,
                    const char *path)
{
	if (!r->o->overwrite)
		return conflict(path);
	if (remove_at(dirfd, name) < 0)
		return fs_error(errno, "cannot remove", path);
	return 0;
}

/* ---- planning: the walk over the snapshot ----------------------------- */

/* The walk holds d (d->refs counts it already) / lets go of it. */
static void walk_hold(struct run *r)
{
	pthread_mutex_lock(&r->lock);
	r->depth++;
	pthread_mutex_unlock(&r->lock);
}

static void walk_drop(struct run *r, struct rdir *d)
{
	pthread_mutex_lock(&r->lock);
	r->depth--;
	pthread_mutex_unlock(&r->lock);
	rdir_release(r, d);
}

static int flush_job(struct run *r);

/* Directories the walk has left that wait for files.  Caller holds r->lock. */
static size_t pending_dirs(const struct run *r)
{
	/* the walk may hold one directory twice (DEST, for a selected path) */
	return r->open_dirs > r->depth ? r->open_dirs - r->depth : 0;
}

/* Before the walk opens another directory: not too many waiting ones. */
static int dirs_wait(struct run *r)
{
	int rc;
	pthread_mutex_lock(&r->lock);
	int over = pending_dirs(r) >= PENDING_DIRS_MAX;
	pthread_mutex_unlock(&r->lock);
	if (!over)
		return 0;
	/* the files they wait for may be in the job being built */
	if ((rc = flush_job(r)) < 0)
		return rc;
	pthread_mutex_lock(&r->lock);
	while (pending_dirs(r) >= PENDING_DIRS_MAX && !r->abort) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += PROGRESS_MS * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&r->dir_freed, &r->lock, &ts);
		pthread_mutex_unlock(&r->lock);
		progress(r, 0);
		pthread_mutex_lock(&r->lock);
	}
	rc = r->abort ? (r->fatal_code ? r->fatal_code : TIER_EABORTED) : 0;
	pthread_mutex_unlock(&r->lock);
	return rc;
}

/*
 * Create (or keep) directory name in parent and open it: *out, held by
 * the walk.  count: it is restored for itself (not as a directory above a
 * selected path: such a directory already there keeps its own metadata,
 * and it is never replaced).
 */
static int make_dir(struct run *r, struct rdir *parent, const char *name,
                    const tier_buf *path, const tier_node *meta, int count,
                    struct rdir **out)
{
	struct stat st;
	int fd = -1, rc;

	*out = NULL;
	if ((rc = lookup_at(parent->fd, name, path->ptr, &st)) < 0)
		return rc;
	if (rc == 1 && S_ISDIR(st.st_mode)) {
		if ((fd = open_dir_at(parent->fd, name)) < 0)
			return fs_error(errno, "cannot open directory",
			                path->ptr);
		if (!count)
			meta = NULL;
		else if (meta && (st.st_mode & 0700) != 0700)
			/* left read-only by an earlier run: its mode comes
			 * back at the end */
			(void)fchmod(fd, (st.st_mode & 07777) | 0700);
	} else if (rc == 1 && !count) {
		return tier_error_set(
		        TIER_ECONFLICT,
		        "'%s' is not a directory (a directory "
		        "above a restored path is never replaced)",
		        show(path->ptr));
	} else if (rc == 1 &&
	           (rc = clear_at(r, parent->fd, name, path->ptr)) < 0) {
		return rc;
	}
	if (fd < 0) {
		/* owner-only until the contents are in; the real mode comes last */
		if (mkdirat(parent->fd, name, meta ? 0700 : 0777) < 0 &&
		    errno != EEXIST)
			return fs_error(errno, "cannot create directory",
			                path->ptr);
		if ((fd = open_dir_at(parent->fd, name)) < 0)
			return fs_error(errno, "cannot open directory",
			                path->ptr);
	}
	struct rdir *d = rdir_new(r, fd, path->ptr);
	if (!d)
		return TIER_ERROR;
	if (meta) {
		d->has_meta = 1;
		meta_from_node(&d->m, meta);
	}
	if (count)
		stat_inc(r, &r->stats->dirs);
	walk_hold(r);
	*out = d;
	return 0;
}

static int add_piece(struct run *r, struct rfile *f, uint64_t off,
                     const tier_chunk_loc *l);

static int plan_file(struct run *r, const tier_node *n, struct rdir *d,
                     const char *name, const tier_buf *path)
{
	const char *snap = snap_of(r, path);
	const tier_chunk_loc **locs = NULL;
	struct rfile *f = NULL;
	struct stat st;
	int rc = 0;

	if (n->nchunks && !(locs = tier_calloc(n->nchunks, sizeof(*locs))))
		return TIER_ERROR;
	for (size_t i = 0; i < n->nchunks; i++) {
		char ch[SHORT_HEX + 1];
		locs[i] = tier_chunkmap_find(r->map, n->chunks[i].id);
		if (!locs[i] || locs[i]->raw_len != n->chunks[i].len) {
			rc = tier_error_set(
			        TIER_ECORRUPT,
			        "cannot restore '%s': chunk %s is %s",
			        show(snap), short_hex(ch, n->chunks[i].id),
			        locs[i] ? "not the length the file says"
			                : "in no pack of the vault");
			goto out;
		}
	}
	if ((rc = lookup_at(d->fd, name, path->ptr, &st)) < 0)
		goto out;
	if (rc == 1 && same_existing(r, n, &st, d->fd, name)) {
		stat_inc(r, &r->stats->kept);
		rc = 0;
		goto out;
	}
	/* a file there is replaced by the rename, a directory before it */
	if (rc == 1 && !r->o->overwrite) {
		rc = conflict(path->ptr);
		goto out;
	}
	rc = 0;
	if (!(f = tier_calloc(1, sizeof(*f))) ||
	    !(f->name = tier_strdup(name)) || !(f->tmp = tmp_name(name)) ||
	    !(f->path = tier_strdup(path->ptr))) {
		rc = TIER_ERROR;
		goto out;
	}
	rdir_ref(r, d);
	f->dir = d;
	f->snap = f->path + r->dest.size;
	f->fd = -1;
	meta_from_node(&f->m, n);
	if (n->nchunks == 0) {
		rfile_finish(r, f);
		f = NULL;
		goto out;
	}
	f->remaining = n->nchunks;
	live_add(r, f);
	/* from here the workers own f: it may be finished before this loop
	 * ends, and a failure stops the run (f waits for pieces never sent) */
	uint64_t off = 0;
	for (size_t i = 0; i < n->nchunks && rc == 0; i++) {
		rc = add_piece(r, f, off, locs[i]);
		off += locs[i]->raw_len;
	}
	f = NULL;
	if (rc < 0)
		set_fatal(r, rc);
out:
	rfile_free(r, f);
	free(locs);
	return rc;
}

static int plan_symlink(struct run *r, const tier_node *n, struct rdir *d,
                        const char *name, const tier_buf *path)
{
	struct meta m;
	struct stat st;
	int rc;
	if (!n->target || n->target_len == 0 ||
	    memchr(n->target, '\0', n->target_len))
		return tier_error_set(
		        TIER_ECORRUPT,
		        "cannot restore symlink '%s': its target is not valid",
		        show(snap_of(r, path)));
	if ((rc = lookup_at(d->fd, name, path->ptr, &st)) < 0)
		return rc;
	if (rc == 1 && same_existing(r, n, &st, d->fd, name)) {
		stat_inc(r, &r->stats->kept);
		return 0;
	}
	if (rc == 1 && (rc = clear_at(r, d->fd, name, path->ptr)) < 0)
		return rc;
	if (symlinkat(n->target, d->fd, name) < 0)
		return fs_error(errno, "cannot create symlink", path->ptr);
	meta_from_node(&m, n);
	apply_link_meta(r, d->fd, name, path->ptr, &m);
	stat_inc(r, &r->stats->others);
	return 0;
}

static int plan_special(struct run *r, const tier_node *n, struct rdir *d,
                        const char *name, const tier_buf *path)
{
	struct meta m;
	struct stat st;
	int rc;
	const char *kind = tier_node_type_name(n->type);
	if (n->type == TIER_NODE_SOCKET) {
		warn(r, "'%s' is a socket: not restored",
		     show(snap_of(r, path)));
		return 0;
	}
	if ((n->type == TIER_NODE_CHAR || n->type == TIER_NODE_BLOCK) &&
	    !r->root) {
		stat_inc(r, &r->stats->errors);
		warn(r, "device '%s' not restored: creating devices needs root",
		     show(snap_of(r, path)));
		return 0;
	}
	if ((rc = lookup_at(d->fd, name, path->ptr, &st)) < 0)
		return rc;
	if (rc == 1 && same_existing(r, n, &st, d->fd, name)) {
		stat_inc(r, &r->stats->kept);
		return 0;
	}
	if (rc == 1 && (rc = clear_at(r, d->fd, name, path->ptr)) < 0)
		return rc;
	if (n->type == TIER_NODE_FIFO)
		rc = mkfifoat(d->fd, name, 0600);
	else
		rc = mknodat(d->fd, name,
		             (n->type == TIER_NODE_CHAR ? S_IFCHR : S_IFBLK) |
		                     0600,
		             (dev_t)n->rdev);
	if (rc < 0) {
		tier_buf what = TIER_BUF_INIT;
		tier_buf_printf(&what, "cannot create %s", kind);
		rc = fs_error(errno, tier_buf_cstr(&what), path->ptr);
		tier_buf_dispose(&what);
		return rc;
	}
	meta_from_node(&m, n);
	apply_node_meta(r, d->fd, name, path->ptr, &m);
	stat_inc(r, &r->stats->others);
	return 0;
}

static int walk_dir(struct run *r, const git_tree *tree, struct rdir *d,
                    tier_buf *path);

/* A directory entry: the directory, then what is in it. */
static int plan_tree(struct run *r, const git_tree_entry *e,
                     struct rdir *parent, const char *name, tier_buf *path)
{
	const char *snap = snap_of(r, path);
	git_tree *sub = NULL;
	struct rdir *d = NULL;
	tier_node n;
	int rc, has = 0;

	if ((rc = load_tree(r, git_tree_entry_id(e), snap, &sub)) < 0)
		return rc;
	if ((rc = dir_meta(r, sub, &n, &has, snap)) < 0 &&
	    (rc = entry_error(r, rc)) < 0) {
		git_tree_free(sub);
		return rc;
	}
	if ((rc = dirs_wait(r)) == 0)
		rc = make_dir(r, parent, name, path, has ? &n : NULL, 1, &d);
	if (has)
		tier_node_dispose(&n);
	if (rc == 0) {
		rc = walk_dir(r, sub, d, path);
		walk_drop(r, d);
	}
	git_tree_free(sub);
	return rc;
}

/*
 * Restore one tree entry, name in d (path: its destination, for messages).
 * An entry that cannot be restored is reported and 0 returned; < 0 stops
 * the run.
 */
static int plan_entry(struct run *r, const git_tree_entry *e, struct rdir *d,
                      const char *name, tier_buf *path)
{
	tier_node n;
	int rc;

	if (r->o->progress && tier_buf_sets(&r->current, snap_of(r, path)) < 0)
		return TIER_ERROR;
	if ((rc = progress(r, 0)) < 0)
		return rc;
	if (git_tree_entry_type(e) == GIT_OBJECT_TREE)
		return entry_error(r, plan_tree(r, e, d, name, path));
	if (git_tree_entry_type(e) != GIT_OBJECT_BLOB)
		return 0; /* a submodule link cannot be in a snapshot; nothing to restore */
	if ((rc = read_node(r, &n, git_tree_entry_id(e), snap_of(r, path))) < 0)
		return entry_error(r, rc);
	switch (n.type) {
	case TIER_NODE_FILE:
		rc = plan_file(r, &n, d, name, path);
		break;
	case TIER_NODE_DIR: {
		struct rdir *sub = NULL;
		if ((rc = make_dir(r, d, name, path, &n, 1, &sub)) == 0)
			walk_drop(r, sub);
		break;
	}
	case TIER_NODE_SYMLINK:
		rc = plan_symlink(r, &n, d, name, path);
		break;
	default:
		rc = plan_special(r, &n, d, name, path);
		break;
	}
	tier_node_dispose(&n);
	return rc < 0 ? entry_error(r, rc) : 0;
}

/*
 * Call fn for every entry of a snapshot directory (checked by load_tree),
 * with its decoded name and path extended by it.
 */
typedef int (*entry_fn)(struct run *, const git_tree_entry *, struct rdir *,
                        const char *, tier_buf *);

static int each_entry(struct run *r, const git_tree *tree, struct rdir *d,
                      tier_buf *path, entry_fn fn)
{
	size_t base = path->size, n = git_tree_entrycount(tree);
	tier_buf name = TIER_BUF_INIT;
	int rc = 0;
	for (size_t i = 0; i < n && rc == 0; i++) {
		const git_tree_entry *e = git_tree_entry_byindex(tree, i);
		if (!strcmp(git_tree_entry_name(e), TIER_SNAP_DIRMETA))
			continue;
		if ((rc = tier_snap_name_decode(&name,
		                                git_tree_entry_name(e))) < 0) {
			rc = entry_error(r, rc);
			continue;
		}
		if (tier_buf_putc(path, '/') < 0 ||
		    tier_buf_put(path, name.ptr, name.size) < 0)
			rc = TIER_ERROR;
		else
			rc = fn(r, e, d, name.ptr, path);
		buf_truncate(path, base);
	}
	tier_buf_dispose(&name);
	return rc;
}

static int walk_dir(struct run *r, const git_tree *tree, struct rdir *d,
                    tier_buf *path)
{
	return each_entry(r, tree, d, path, plan_entry);
}

/* ---- conflicts: checked before anything is written -------------------- */

/*
 * Without --overwrite, whatever stands in DEST where the snapshot has an
 * entry must be what the snapshot has (kept: a rerun after an
 * interruption) or a directory to merge into.  d->fd is a directory of
 * DEST as it is (nothing created yet); a damaged tree is left to the walk
 * to report.
 */
static int check_entry(struct run *r, const git_tree_entry *e, struct rdir *d,
                       const char *name, tier_buf *path)
{
	struct stat st;
	tier_node n;
	int rc;
	if ((rc = lookup_at(d->fd, name, path->ptr, &st)) <= 0)
		return rc;
	if (git_tree_entry_type(e) == GIT_OBJECT_TREE) {
		git_tree *sub = NULL;
		struct rdir sd;
		if (!S_ISDIR(st.st_mode))
			return conflict(path->ptr);
		if (load_tree(r, git_tree_entry_id(e), snap_of(r, path), &sub) <
		    0)
			return 0;
		memset(&sd, 0, sizeof(sd));
		if ((sd.fd = open_dir_at(d->fd, name)) < 0) {
			git_tree_free(sub);
			return fs_error(errno, "cannot open directory",
			                path->ptr);
		}
		rc = each_entry(r, sub, &sd, path, check_entry);
		close(sd.fd);
		git_tree_free(sub);
		return rc;
	}
	if (git_tree_entry_type(e) != GIT_OBJECT_BLOB ||
	    read_node(r, &n, git_tree_entry_id(e), snap_of(r, path)) < 0)
		return 0;
	int same = same_existing(r, &n, &st, d->fd, name);
	tier_node_dispose(&n);
	return same ? 0 : conflict(path->ptr);
}

/* ---- selection ------------------------------------------------------- */

/* A snapshot path as components joined by '/', without leading "/", "." or "//". */
static int normalize(tier_buf *out, const char *path)
{
	const char *p = path;
	tier_buf_clear(out);
	if (tier_buf_grow(out, 0) < 0)
		return TIER_ERROR;
	while (*p) {
		const char *s = p;
		while (*p && *p != '/')
			p++;
		size_t n = (size_t)(p - s);
		if (*p)
			p++;
		if (n == 0 || (n == 1 && s[0] == '.'))
			continue;
		if (n == 2 && s[0] == '.' && s[1] == '.')
			return tier_error_set(TIER_EUSAGE,
			                      "path '%s' must not contain '..'",
			                      show(path));
		if ((out->size && tier_buf_putc(out, '/') < 0) ||
		    tier_buf_put(out, s, n) < 0)
			return TIER_ERROR;
	}
	return 0;
}

/* Whether a (normalized) is b or an ancestor of b. */
static int covers(const char *a, const char *b)
{
	size_t n = strlen(a);
	if (n == 0)
		return 1;
	return !strncmp(a, b, n) && (b[n] == '\0' || b[n] == '/');
}

/* The next component of a selected path: [*s, *p) and *p moved past it. */
static int next_component(tier_buf *comp, tier_buf *enc, const char **p)
{
	const char *s = *p;
	while (**p && **p != '/')
		(*p)++;
	tier_buf_clear(comp);
	if (tier_buf_put(comp, s, (size_t)(*p - s)) < 0)
		return TIER_ERROR;
	return tier_snap_name_encode(enc, comp->ptr, comp->size);
}

/* Whether root holds the selected path sel (1) or not (0). */
static int holds(struct run *r, const git_tree *root, const char *sel)
{
	tier_buf comp = TIER_BUF_INIT, enc = TIER_BUF_INIT;
	git_tree *tree = NULL, *next = NULL;
	const char *p = sel;
	int rc;

	if (!root)
		return 0;
	if ((rc = git_tree_dup(&tree, (git_tree *)root)) < 0) {
		rc = tier_error_from_git(rc, "cannot read the snapshot");
		goto out;
	}
	for (;;) {
		if ((rc = next_component(&comp, &enc, &p)) < 0)
			goto out;
		const git_tree_entry *e = git_tree_entry_byname(tree, enc.ptr);
		if (!e || (*p && git_tree_entry_type(e) != GIT_OBJECT_TREE)) {
			rc = 0;
			goto out;
		}
		if (!*p) {
			rc = 1;
			goto out;
		}
		p++;
		if ((rc = tier_tree_lookup_bounded(&next, r->repo,
		                                   git_tree_entry_id(e),
		                                   "a snapshot directory")) < 0)
			goto out;
		git_tree_free(tree);
		tree = next;
		next = NULL;
	}
out:
	git_tree_free(tree);
	tier_buf_dispose(&comp);
	tier_buf_dispose(&enc);
	return rc;
}

/*
 * Check (plan = 0) or restore (plan = 1) one selected path (normalized,
 * not empty, in the snapshot): the directories above it are entered (and
 * created, when restoring) one by one from DEST's fd.
 */
static int select_path(struct run *r, const git_tree *root, struct rdir *dest,
                       const char *sel, int plan)
{
	tier_buf path = TIER_BUF_INIT, comp = TIER_BUF_INIT,
	         enc = TIER_BUF_INIT;
	git_tree *tree = NULL, *next = NULL;
	struct rdir *d = dest;
	struct rdir probe; /* check: the directory of DEST entered, not held */
	const char *p = sel;
	int rc = 0;

	memset(&probe, 0, sizeof(probe));
	probe.fd = -1;
	if (tier_buf_put(&path, r->dest.ptr, r->dest.size) < 0)
		return TIER_ERROR;
	if (plan) {
		rdir_ref(r, d);
		walk_hold(r);
	}
	if ((rc = git_tree_dup(&tree, (git_tree *)root)) < 0) {
		rc = tier_error_from_git(rc, "cannot read the snapshot");
		goto out;
	}
	for (;;) {
		if ((rc = next_component(&comp, &enc, &p)) < 0)
			goto out;
		const git_tree_entry *e = git_tree_entry_byname(tree, enc.ptr);
		if ((rc = tier_buf_putc(&path, '/')) < 0 ||
		    (rc = tier_buf_put(&path, comp.ptr, comp.size)) < 0)
			goto out;
		if (!e || (*p && git_tree_entry_type(e) != GIT_OBJECT_TREE)) {
			rc = tier_error_set(TIER_ENOTFOUND,
			                    "'%s' is not in revision %" PRIu64,
			                    show(snap_of(r, &path)), r->rev);
			goto out;
		}
		if (!*p) {
			if (plan)
				rc = plan_entry(r, e, d, comp.ptr, &path);
			else if (d)
				rc = check_entry(r, e, d, comp.ptr, &path);
			goto out;
		}
		p++;
		if ((rc = load_tree(r, git_tree_entry_id(e), snap_of(r, &path),
		                    &next)) < 0) {
			/* the walk reports it; the check leaves it to the walk */
			rc = plan ? entry_error(r, rc) : 0;
			goto out;
		}
		git_tree_free(tree);
		tree = next;
		next = NULL;
		if (plan) {
			struct rdir *nd = NULL;
			tier_node n;
			int has;
			if ((rc = dir_meta(r, tree, &n, &has,
			                   snap_of(r, &path))) < 0 &&
			    (rc = entry_error(r, rc)) < 0)
				goto out;
			rc = make_dir(r, d, comp.ptr, &path, has ? &n : NULL, 0,
			              &nd);
			if (has)
				tier_node_dispose(&n);
			if (rc < 0) {
				rc = entry_error(r, rc);
				goto out;
			}
			walk_drop(r, d);
			d = nd;
		} else if (d) {
			struct stat st;
			int fd;
			if ((rc = lookup_at(d->fd, comp.ptr, path.ptr, &st)) <
			    0)
				goto out;
			if (rc == 0) {
				d = NULL; /* nothing below can be in the way */
			} else if (!S_ISDIR(st.st_mode)) {
				rc = conflict(path.ptr);
				goto out;
			} else if ((fd = open_dir_at(d->fd, comp.ptr)) < 0) {
				rc = fs_error(errno, "cannot open directory",
				              path.ptr);
				goto out;
			} else {
				if (probe.fd >= 0)
					close(probe.fd);
				probe.fd = fd;
				d = &probe;
			}
			rc = 0;
		}
	}
out:
	if (plan && d)
		walk_drop(r, d);
	if (probe.fd >= 0)
		close(probe.fd);
	git_tree_free(tree);
	tier_buf_dispose(&path);
	tier_buf_dispose(&comp);
	tier_buf_dispose(&enc);
	return rc;
}

/* The selection: every path, ancestors of others kept and their descendants dropped. */
static int selection(tier_vec *out, const tier_restore_options *o)
{
	tier_buf b = TIER_BUF_INIT;
	int rc = 0;
	for (size_t i = 0; i < o->npaths && rc == 0; i++) {
		char *s;
		if ((rc = normalize(&b, o->paths[i])) < 0)
			break;
		if (!(s = tier_buf_detach(&b)) || tier_vec_push(out, s) < 0) {
			free(s);
			rc = TIER_ERROR;
		}
	}
	tier_buf_dispose(&b);
	if (rc < 0)
		return rc;
	/* drop a path covered by another (or equal to an earlier one) */
	size_t k = 0;
	for (size_t i = 0; i < out->length; i++) {
		int drop = 0;
		for (size_t j = 0; j < out->length && !drop; j++) {
			if (i == j || !out->ptr[j])
				continue;
			if (covers(out->ptr[j], out->ptr[i]) &&
			    (strcmp(out->ptr[j], out->ptr[i]) != 0 || j < i))
				drop = 1;
		}
		if (drop) {
			free(out->ptr[i]);
			out->ptr[i] = NULL;
		}
	}
	for (size_t i = 0; i < out->length; i++)
		if (out->ptr[i])
			out->ptr[k++] = out->ptr[i];
	out->length = k;
	return 0;
}

/* ---- revision and tiers -------------------------------------------- */

/* The revision tree and snapshot (NULL: none, revision 1) of a commit. */
static int rev_trees(struct run *r, const git_oid *cid, uint64_t rev,
                     git_tree **rev_tree, git_tree **root)
{
	git_commit *c = NULL;
	git_oid rid;
	int rc;

	*rev_tree = *root = NULL;
	if ((rc = tier_object_check(NULL, r->repo, cid, GIT_OBJECT_COMMIT,
	                            TIER_MAX_SMALL_OBJECT, "a revision")) < 0)
		return tier_error_prefix("revision %" PRIu64, rev);
	if ((rc = git_commit_lookup(&c, r->repo, cid)) < 0)
		return tier_error_from_git(rc, "cannot read revision %" PRIu64,
		                           rev);
	rc = tier_tree_lookup_bounded(rev_tree, r->repo, git_commit_tree_id(c),
	                              "a revision tree");
	git_commit_free(c);
	if (rc < 0)
		return tier_error_prefix("revision %" PRIu64, rev);
	if (tier_snap_part(&rid, *rev_tree, TIER_SNAP_ROOT) == 0 &&
	    (rc = tier_tree_lookup_bounded(root, r->repo, &rid, "a snapshot")) <
	            0) {
		git_tree_free(*rev_tree);
		*rev_tree = NULL;
		return tier_error_prefix("revision %" PRIu64, rev);
	}
	return 0;
}

/* One step back along the first-parent chain: 1, or 0 at revision 1. */
static int rev_parent(struct run *r, git_oid *id, tier_commit_info *ci)
{
	git_commit *c = NULL;
	uint64_t was = ci->revision;
	int rc;
	if ((rc = git_commit_lookup(&c, r->repo, id)) < 0)
		return tier_error_from_git(rc, "cannot read revision %" PRIu64,
		                           was);
	if (git_commit_parentcount(c) == 0) {
		git_commit_free(c);
		return 0;
	}
	git_oid_cpy(id, git_commit_parent_id(c, 0));
	git_commit_free(c);
	if ((rc = tier_commit_info_read(ci, r->repo, id)) < 0)
		return rc;
	if (ci->revision >= was)
		return tier_error_set(TIER_ECORRUPT,
		                      "the log goes from revision %" PRIu64
		                      " to %" PRIu64 " backwards",
		                      was, ci->revision);
	return 1;
}

/*
 * The newest revision that holds every path of sel[from..to) (*rev = 0:
 * none), *id its commit.  missing: the first path the newest revision
 * (the head) lacks.
 */
static int newest_holding(struct run *r, const tier_vec *sel, size_t from,
                          size_t to, git_oid *id, uint64_t *rev)
{
	tier_commit_info ci;
	git_oid at;
	int rc;

	*rev = 0;
	if ((rc = tier_vault_best_head(r->v, &at, NULL)) < 0 ||
	    (rc = tier_commit_info_read(&ci, r->repo, &at)) < 0)
		return rc;
	for (;;) {
		git_tree *rt = NULL, *root = NULL;
		int all = 1;
		if ((rc = rev_trees(r, &at, ci.revision, &rt, &root)) < 0)
			return rc;
		for (size_t i = from; i < to && all; i++) {
			if ((rc = holds(r, root, sel->ptr[i])) < 0)
				break;
			all = rc == 1;
		}
		git_tree_free(root);
		git_tree_free(rt);
		if (rc < 0)
			return rc;
		if (all) {
			*rev = ci.revision;
			git_oid_cpy(id, &at);
			return 0;
		}
		if ((rc = rev_parent(r, &at, &ci)) <= 0)
			return rc;
	}
}

/*
 * The error for a selected path that revision rev lacks, naming the newest
 * revision that holds it (issue 13: "which revision has it?").
 */
static int not_in(struct run *r, const tier_vec *sel, size_t i, uint64_t rev)
{
	git_oid id;
	uint64_t has = 0;
	int rc = newest_holding(r, sel, i, i + 1, &id, &has);
	tier_buf name = TIER_BUF_INIT;
	if (rc < 0)
		return rc;
	tier_buf_printf(&name, "/%s", (const char *)sel->ptr[i]);
	if (!has)
		rc = tier_error_set(TIER_ENOTFOUND,
		                    "'%s' is not in revision %" PRIu64
		                    " (nor in any other)",
		                    show(tier_buf_cstr(&name)), rev);
	else if (has == rev)
		/* it is there, but not together with the other paths */
		rc = tier_error_set(TIER_ENOTFOUND,
		                    "no revision holds all of the paths given "
		                    "('%s' is in revision %" PRIu64 ")",
		                    show(tier_buf_cstr(&name)), has);
	else
		rc = tier_error_set(TIER_ENOTFOUND,
		                    "'%s' is not in revision %" PRIu64
		                    " (revision %" PRIu64
		                    " is the newest that holds it)",
		                    show(tier_buf_cstr(&name)), rev, has);
	tier_buf_dispose(&name);
	return rc;
}

/*
 * The revision to restore: -r N, else the newest one that holds every
 * selected path (two jobs backing up different paths take turns at the
 * head: "latest" is the latest of the paths asked for), else the head.
 */
static int find_revision(struct run *r, const tier_vec *sel, int whole,
                         git_oid *out)
{
	tier_commit_info ci;
	git_oid id;
	uint64_t want = r->o->revision;
	int rc;

	if ((rc = tier_vault_best_head(r->v, &id, NULL)) < 0)
		return rc;
	if ((rc = tier_commit_info_read(&ci, r->repo, &id)) < 0)
		return rc;
	r->stats->latest = ci.revision;
	if (want > ci.revision)
		return tier_error_set(TIER_ENOTFOUND,
		                      "revision %" PRIu64
		                      " does not exist (latest is %" PRIu64 ")",
		                      want, ci.revision);
	if (!want && !whole && sel->length) {
		uint64_t rev;
		if ((rc = newest_holding(r, sel, 0, sel->length, &id, &rev)) <
		    0)
			return rc;
		if (!rev) {
			git_tree *rt = NULL, *root = NULL;
			size_t i = 0;
			uint64_t head = r->stats->latest;
			if ((rc = tier_vault_best_head(r->v, &id, NULL)) < 0 ||
			    (rc = rev_trees(r, &id, head, &rt, &root)) < 0)
				return rc;
			/* the first path the latest revision lacks */
			for (i = 0; i < sel->length; i++)
				if ((rc = holds(r, root, sel->ptr[i])) != 1)
					break;
			git_tree_free(root);
			git_tree_free(rt);
			if (rc < 0)
				return rc;
			return not_in(r, sel, i < sel->length ? i : 0, head);
		}
		r->rev = rev;
		git_oid_cpy(out, &id);
		return 0;
	}
	while (want && ci.revision != want) {
		uint64_t was = ci.revision;
		if ((rc = rev_parent(r, &id, &ci)) < 0)
			return rc;
		if (rc == 0)
			return tier_error_set(
			        TIER_ENOTFOUND,
			        "revision %" PRIu64
			        " does not exist (latest is %" PRIu64 ")",
			        want, r->stats->latest);
		if (ci.revision < want)
			return tier_error_set(TIER_ECORRUPT,
			                      "the log skips revision %" PRIu64
			                      " (found %" PRIu64
			                      " after %" PRIu64 ")",
			                      want, ci.revision, was);
	}
	r->rev = ci.revision;
	git_oid_cpy(out, &id);
	if (want && !whole && sel->length) {
		git_tree *rt = NULL, *root = NULL;
		if ((rc = rev_trees(r, &id, r->rev, &rt, &root)) < 0)
			return rc;
		for (size_t i = 0; i < sel->length && rc == 0; i++) {
			if ((rc = holds(r, root, sel->ptr[i])) == 0)
				rc = not_in(r, sel, i, r->rev);
			else if (rc == 1)
				rc = 0;
		}
		git_tree_free(root);
		git_tree_free(rt);
		return rc;
	}
	return 0;
}

/* The tiers to read from: online, in a good state, and holding the commit. */
static int pick_tiers(struct run *r, const git_oid *commit)
{
	size_t n = tier_vault_tier_count(r->v),
	       npacks = tier_chunkmap_pack_count(r->map);
	size_t usable = 0;
	if (!(r->t = tier_calloc(n ? n : 1, sizeof(*r->t))))
		return TIER_ERROR;
	r->ntiers = n;
	for (size_t i = 0; i < n; i++) {
		const tier_info *in = tier_vault_tier_info(r->v, i);
		struct rtier *t = &r->t[i];
		git_oid head;
		t->loc = tier_vault_location(r->v, i);
		t->name = in->name;
		if (!(t->bad = tier_calloc(npacks ? npacks : 1, 1)))
			return TIER_ERROR;
		/* tiers away or unusable at open are in the vault's tier info
		 * (tools report them); one another installation wrote holds
		 * the vault all the same (R8 guards writes) */
		if (!in->online ||
		    (in->state != TIER_STATE_OK &&
		     in->state != TIER_STATE_FOREIGN) ||
		    !in->has_log || in->revision < r->rev ||
		    git_oid_fromstr(&head, in->head) < 0)
			continue;
		if (!git_oid_equal(&head, commit) &&
		    git_graph_descendant_of(r->repo, &head, commit) != 1)
			continue;
		t->usable = 1;
		usable++;
	}
	if (!usable)
		return tier_error_set(TIER_EOFFLINE,
		                      "no online tier holds revision %" PRIu64,
		                      r->rev);
	return 0;
}

/* ---- the run ------------------------------------------------------------ */

/* The destination without trailing '/' ("" for "/"): every path starts with it. */
static int dest_path(struct run *r)
{
	const char *d = r->o->dest;
	size_t n = strlen(d);
	while (n > 1 && d[n - 1] == '/')
		n--;
	if (n == 1 && d[0] == '/')
		n = 0;
	tier_buf_clear(&r->dest);
	if (tier_buf_grow(&r->dest, 0) < 0 || tier_buf_put(&r->dest, d, n) < 0)
		return TIER_ERROR;
	return 0;
}

/*
 * DEST itself, open: the one path the restore follows links in (it is the
 * caller's, not the tier's).  *fd = -1 when it does not exist and create
 * is 0.
 */
static int open_dest(struct run *r, int create, int *fd)
{
	const char *p = r->dest.size ? r->dest.ptr : "/";
	int rc;
	*fd = -1;
	if (create && r->dest.size &&
	    (rc = tier_mkdir_p(r->dest.ptr, 0777)) < 0)
		return rc;
	*fd = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (*fd < 0 && (create || errno != ENOENT))
		return fs_error(errno, "cannot open destination", p);
	return 0;
}

/* The snapshot root passes the name check, or nothing in it is restored. */
static int root_ok(struct run *r, const git_tree *root, int report)
{
	if (tier_snap_tree_check(root) == 0)
		return 1;
	tier_error_prefix(
	        "the snapshot of revision %" PRIu64 " is not restored", r->rev);
	if (report)
		entry_failed(r, TIER_ECORRUPT, tier_error_last());
	return 0;
}

static int run_restore(struct run *r)
{
	git_tree *rev_tree = NULL, *root = NULL;
	tier_vec sel = TIER_VEC_INIT;
	struct worker w[NWORKERS];
	struct rdir *dest = NULL;
	size_t started = 0;
	git_oid cid;
	int rc, fd;

	memset(w, 0, sizeof(w));
	if ((rc = selection(&sel, r->o)) < 0)
		goto out;
	int whole = sel.length == 0;
	for (size_t i = 0; i < sel.length; i++)
		if (!*(char *)sel.ptr[i])
			whole = 1;
	/* a path in no revision fails before anything is written */
	if ((rc = find_revision(r, &sel, whole, &cid)) < 0)
		goto out;
	r->stats->revision = r->rev;
	if ((rc = rev_trees(r, &cid, r->rev, &rev_tree, &root)) < 0)
		goto out;
	if ((rc = dest_path(r)) < 0)
		goto out;
	if ((rc = tier_chunkmap_load(&r->map, r->repo, rev_tree)) < 0 ||
	    (rc = pick_tiers(r, &cid)) < 0)
		goto out;

	/* conflicts are found before anything is written */
	if (!r->o->overwrite && root) {
		if ((rc = open_dest(r, 0, &fd)) < 0)
			goto out;
		if (fd >= 0) {
			struct rdir probe;
			tier_buf path = TIER_BUF_INIT;
			memset(&probe, 0, sizeof(probe));
			probe.fd = fd;
			if (tier_buf_put(&path, r->dest.ptr, r->dest.size) < 0)
				rc = TIER_ERROR;
			else if (whole && root_ok(r, root, 0))
				rc = each_entry(r, root, &probe, &path,
				                check_entry);
			for (size_t i = 0; i < sel.length && !whole && rc == 0;
			     i++)
				rc = select_path(r, root, &probe, sel.ptr[i],
				                 0);
			tier_buf_dispose(&path);
			close(fd);
			if (rc < 0)
				goto out;
		}
	}
	if ((rc = open_dest(r, 1, &fd)) < 0)
		goto out;
	if (!(dest = rdir_new(r, fd, r->dest.size ? r->dest.ptr : "/"))) {
		rc = TIER_ERROR;
		goto out;
	}
	walk_hold(r);

	for (started = 0; started < NWORKERS; started++) {
		w[started].r = r;
		/* own connections, so that reads overlap; shared ones if not */
		w[started].locs =
		        tier_calloc(r->ntiers, sizeof(tier_location *));
		for (size_t i = 0; w[started].locs && i < r->ntiers; i++)
			if (r->t[i].usable &&
			    tier_location_clone(&w[started].locs[i],
			                        r->t[i].loc) < 0) {
				for (size_t k = 0; k < i; k++)
					tier_location_free(w[started].locs[k]);
				free(w[started].locs);
				w[started].locs = NULL;
				tier_error_clear();
			}
		if (pthread_create(&w[started].th, NULL, worker_main,
		                   &w[started]) != 0) {
			rc = tier_error_set(TIER_ERROR,
			                    "cannot start a restore thread");
			set_fatal(r, rc);
			break;
		}
	}
	if (rc == 0 && root) {
		tier_buf path = TIER_BUF_INIT;
		if (tier_buf_put(&path, r->dest.ptr, r->dest.size) < 0)
			rc = TIER_ERROR;
		else if (whole && root_ok(r, root, 1))
			rc = walk_dir(r, root, dest, &path);
		for (size_t i = 0; i < sel.length && !whole && rc == 0; i++)
			rc = select_path(r, root, dest, sel.ptr[i], 1);
		tier_buf_dispose(&path);
		if (rc == 0)
			rc = flush_job(r);
		if (rc < 0)
			set_fatal(r, rc);
	}
	job_free(r->cur);
	r->cur = NULL;
	tier_buf_clear(&r->current);

	/* let the workers drain the queue, reporting progress meanwhile */
	pthread_mutex_lock(&r->lock);
	r->planning_done = 1;
	pthread_cond_broadcast(&r->nonempty);
	pthread_mutex_unlock(&r->lock);
	for (;;) {
		pthread_mutex_lock(&r->lock);
		int busy = r->qlen > 0 || r->live != NULL;
		int stop = r->abort;
		pthread_mutex_unlock(&r->lock);
		if (!busy || stop)
			break;
		if (progress(r, 0) < 0)
			break;
		tier_sleep_ms(20);
	}
	for (size_t i = 0; i < started; i++)
		pthread_join(w[i].th, NULL);
	for (size_t i = 0; i < NWORKERS; i++) {
		for (size_t k = 0; w[i].locs && k < r->ntiers; k++)
			tier_location_free(w[i].locs[k]);
		free(w[i].locs);
		w[i].locs = NULL;
	}
	/* jobs left in the queue by a stopped run */
	while (r->qlen > 0) {
		job_free(r->queue[r->qhead]);
		r->qhead = (r->qhead + 1) % QUEUE_CAP;
		r->qlen--;
	}

	/* whatever is left was interrupted: no half file stays behind */
	while (r->live) {
		struct rfile *f = r->live;
		live_remove(r, f);
		if (f->fd >= 0)
			close(f->fd);
		unlinkat(f->dir->fd, f->tmp, 0);
		rfile_free(r, f);
	}
	/* the last directories get their metadata here */
	walk_drop(r, dest);
	dest = NULL;
	if (r->fatal_code) {
		rc = tier_error_set(r->fatal_code, "%s",
		                    r->fatal_msg ? r->fatal_msg
		                                 : "restore failed");
	} else if (r->fail_code) {
		rc = tier_error_set(r->fail_code, "%s",
		                    r->fail_msg ? r->fail_msg
		                                : "restore failed");
	} else {
		progress(r, 1);
		rc = 0;
	}
out:
	for (size_t i = 0; i < NWORKERS; i++) {
		free(w[i].buf);
		free(w[i].raw);
	}
	tier_vec_dispose(&sel, free);
	git_tree_free(root);
	git_tree_free(rev_tree);
	return rc;
}

int tier_restore_run(tier_restore_stats *stats, tier_vault *v,
                     const tier_restore_options *opts)
{
	tier_restore_stats local;
	struct run r;
	int rc;

	if (!stats)
		stats = &local;
	memset(stats, 0, sizeof(*stats));
	TIER_ASSERT_ARG(v);
	TIER_ASSERT_ARG(opts);
	TIER_CHECK_VERSION(opts, TIER_RESTORE_OPTIONS_VERSION,
	                   "tier_restore_options");
	if (!opts->dest || !*opts->dest)
		return tier_error_set(
		        TIER_EUSAGE,
		        "no destination directory to restore into");
	if (opts->npaths && !opts->paths)
		return tier_error_set(
		        TIER_EUSAGE,
		        "restore options name paths but give none");

	memset(&r, 0, sizeof(r));
	r.v = v;
	r.o = opts;
	r.stats = stats;
	r.repo = tier_vault_cache(v);
	r.root = geteuid() == 0;
	const char *kill = getenv("TIER_TEST_RESTORE_KILL");
	if (kill && *kill)
		r.kill_after = strtoul(kill, NULL, 10);
	pthread_mutex_init(&r.lock, NULL);
	pthread_mutex_init(&r.io, NULL);
	pthread_mutex_init(&r.cb, NULL);
	pthread_cond_init(&r.nonempty, NULL);
	pthread_cond_init(&r.nonfull, NULL);
	pthread_cond_init(&r.dir_freed, NULL);

	rc = run_restore(&r);

	for (size_t i = 0; i < r.ntiers; i++)
		free(r.t[i].bad);
	free(r.t);
	tier_chunkmap_free(r.map);
	tier_buf_dispose(&r.dest);
	tier_buf_dispose(&r.current);
	free(r.fatal_msg);
	free(r.fail_msg);
	pthread_cond_destroy(&r.dir_freed);
	pthread_cond_destroy(&r.nonempty);
	pthread_cond_destroy(&r.nonfull);
	pthread_mutex_destroy(&r.cb);
	pthread_mutex_destroy(&r.io);
	pthread_mutex_destroy(&r.lock);
	return rc;
}
