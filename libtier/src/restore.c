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
 * A file is written to "<name>.tier-tmp" and renamed once complete, so a
 * crash never leaves a half file under its name.  Directory modes and
 * mtimes are applied last, deepest first, once nothing is written into
 * them any more.
 *
 * R2: every job is read from the first usable tier that holds the
 * revision; a missing or damaged pack, or a tier going offline, sends the
 * read to the next tier, reports the damage and remembers it for the rest
 * of the run.
 */
#include "tier/restore.h"

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
#include "pack.h"
#include "snapshot.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/posix.h"
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

/* ---- records ----------------------------------------------------------- */

/* Metadata applied to a restored object. */
struct meta {
	uint32_t mode, uid, gid;
	int64_t mtime_sec;
	uint32_t mtime_nsec;
};

/* A regular file being written. */
struct rfile {
	struct rfile *prev, *next; /* live list: files not finished yet */
	char *path;                /* destination (final name) */
	const char *snap; /* the snapshot path inside path ("/home/...") */
	char *tmp;
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

struct rdir {
	char *path;
	int has_meta;
	struct meta m;
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
	tier_vec dirs; /* struct rdir *, in creation order */

	pthread_mutex_t lock; /* queue, stats, live files, errors */
	pthread_cond_t nonempty, nonfull;
	struct job *queue[QUEUE_CAP];
	size_t qhead, qlen;
	int planning_done;
	int abort;
	struct rfile *live;
	int fatal_code; /* the first error that stops the run */
	char *fatal_msg;
	int fail_code; /* the first entry that could not be restored */
	char *fail_msg;

	pthread_mutex_t io; /* tiers and their bad-pack maps */
	pthread_mutex_t cb; /* callbacks run one at a time */

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

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

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
	pthread_mutex_unlock(&r->lock);
	return code;
}

/* An entry that could not be restored: reported, counted, the run goes on. */
static void entry_failed(struct run *r, int code, const char *msg)
{
	pthread_mutex_lock(&r->lock);
	r->stats->errors++;
	if (!r->fail_code) {
		r->fail_code = code ? code : TIER_ERROR;
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

/* Called by the main thread only. */
static int progress(struct run *r, int force)
{
	tier_restore_stats s;
	int64_t now;
	if (!r->o->progress)
		return 0;
	now = now_ms();
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
	ts[0].tv_sec =
	        (time_t)m
	                ->mtime_sec; /* atime: the restore does not know better */
	ts[0].tv_nsec = (long)m->mtime_nsec;
	ts[1] = ts[0];
}

/* A metadata failure is reported and counted; the content is there. */
static void meta_failed(struct run *r, const char *what, const char *path,
                        int errnum)
{
	pthread_mutex_lock(&r->lock);
	r->stats->errors++;
	pthread_mutex_unlock(&r->lock);
	warn(r, "cannot set the %s of '%s': %s", what, path, strerror(errnum));
}

/* Owner, mode, mtime of a path (not for symlinks: see apply_link_meta). */
static void apply_path_meta(struct run *r, const char *path,
                            const struct meta *m)
{
	struct timespec ts[2];
	if (r->root && lchown(path, m->uid, m->gid) < 0)
		meta_failed(r, "owner", path, errno);
	if (chmod(path, m->mode) < 0)
		meta_failed(r, "mode", path, errno);
	meta_times(ts, m);
	if (utimensat(AT_FDCWD, path, ts, AT_SYMLINK_NOFOLLOW) < 0)
		meta_failed(r, "mtime", path, errno);
}

static void apply_link_meta(struct run *r, const char *path,
                            const struct meta *m)
{
	struct timespec ts[2];
	if (r->root && lchown(path, m->uid, m->gid) < 0)
		meta_failed(r, "owner", path, errno);
	meta_times(ts, m);
	if (utimensat(AT_FDCWD, path, ts, AT_SYMLINK_NOFOLLOW) < 0 &&
	    errno != EOPNOTSUPP)
		meta_failed(r, "mtime", path, errno);
}

/*
 * Make room for a new object at path.  Without overwrite anything there is
 * a conflict (the pre-pass found none, so something appeared meanwhile).
 */
static int clear_path(struct run *r, const char *path)
{
	struct stat st;
	if (lstat(path, &st) < 0) {
		if (errno == ENOENT)
			return 0;
		return tier_error_set_errno(tier_error_from_errno(errno), errno,
		                            "cannot stat '%s'", path);
	}
	if (!r->o->overwrite)
		return tier_error_set(
		        TIER_ECONFLICT,
		        "'%s' exists already (--overwrite replaces it)", path);
	if (S_ISDIR(st.st_mode))
		return tier_rm_rf(path);
	if (unlink(path) < 0)
		return tier_error_set_errno(tier_error_from_errno(errno), errno,
		                            "cannot remove '%s'", path);
	return 0;
}

/* rename(tmp, path), replacing a directory at path when overwriting. */
static int put_in_place(struct run *r, const char *tmp, const char *path)
{
	if (rename(tmp, path) == 0)
		return 0;
	if ((errno == EISDIR || errno == ENOTEMPTY || errno == EEXIST) &&
	    r->o->overwrite) {
		int rc = tier_rm_rf(path);
		if (rc < 0)
			return rc;
		if (rename(tmp, path) == 0)
			return 0;
	}
	return tier_error_set_errno(tier_error_from_errno(errno), errno,
	                            "cannot rename '%s' to '%s'", tmp, path);
}

/* ---- files --------------------------------------------------------------- */

static void rfile_free(struct rfile *f)
{
	if (!f)
		return;
	free(f->path);
	free(f->tmp);
	free(f);
}

static int rfile_open(struct rfile *f)
{
	/* a leftover of a crashed run is ours to replace; never follow a link */
	if (unlink(f->tmp) < 0 && errno != ENOENT)
		return tier_error_set_errno(tier_error_from_errno(errno), errno,
		                            "cannot remove '%s'", f->tmp);
	f->fd = open(f->tmp,
	             O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
	             0600);
	if (f->fd < 0)
		return tier_error_set_errno(tier_error_from_errno(errno), errno,
		                            "cannot create '%s'", f->tmp);
	return 0;
}

/* The last piece of a file is written (or failed): close and rename it. */
static int rfile_finish(struct run *r, struct rfile *f)
{
	struct timespec ts[2];
	int rc = 0;

	if (f->failed) {
		if (f->fd >= 0)
			close(f->fd);
		unlink(f->tmp);
		rfile_free(f);
		return 0;
	}
	if (f->fd < 0 && (rc = rfile_open(f)) < 0)
		goto out;
	/* chown first: it clears set-id bits that chmod then puts back */
	if (r->root && fchown(f->fd, f->m.uid, f->m.gid) < 0)
		meta_failed(r, "owner", f->path, errno);
	if (fchmod(f->fd, f->m.mode) < 0)
		meta_failed(r, "mode", f->path, errno);
	meta_times(ts, &f->m);
	if (futimens(f->fd, ts) < 0)
		meta_failed(r, "mtime", f->path, errno);
	int fd = f->fd;
	f->fd = -1;
	if (close(fd) < 0) {
		rc = tier_error_set_errno(tier_error_from_errno(errno), errno,
		                          "cannot write '%s'", f->tmp);
		goto out;
	}
	if ((rc = put_in_place(r, f->tmp, f->path)) < 0)
		goto out;
	pthread_mutex_lock(&r->lock);
	r->stats->files++;
	pthread_mutex_unlock(&r->lock);
out:
	if (rc < 0) {
		if (f->fd >= 0)
			close(f->fd);
		unlink(f->tmp);
		set_fatal(r, rc);
	}
	rfile_free(f);
	return rc;
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
	char msg[1024], ph[SHORT_HEX + 1];
	snprintf(msg, sizeof(msg), "%s", tier_error_last());
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
	        file, ch, ph, tier_buf_cstr(&why.text));
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
			return tier_error_set_errno(
			        tier_error_from_errno(errno), errno,
			        "cannot write '%s'", what);
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
			        p->f->snap, short_hex(ph, pid),
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
		                   p->f->tmp)) < 0) {
			set_fatal(r, rc);
			break;
		}
		bytes += l->raw_len;
		piece_done(r, p->f, 1);
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

/* ---- planning: the walk over the snapshot ----------------------------- */

static int push_dir(struct run *r, const char *path, const tier_node *meta)
{
	struct rdir *d = tier_calloc(1, sizeof(*d));
	if (!d || !(d->path = tier_strdup(path))) {
		free(d);
		return TIER_ERROR;
	}
	if (meta) {
		d->has_meta = 1;
		meta_from_node(&d->m, meta);
	}
	if (tier_vec_push(&r->dirs, d) < 0) {
		free(d->path);
		free(d);
		return TIER_ERROR;
	}
	return 0;
}

static int read_node(struct run *r, tier_node *out, const git_oid *id,
                     const char *snap)
{
	git_blob *blob = NULL;
	int rc = git_blob_lookup(&blob, r->repo, id);
	if (rc < 0)
		return tier_error_from_git(
		        rc, "cannot read the metadata of '%s'", snap);
	rc = tier_node_decode(out, git_blob_rawcontent(blob),
	                      (size_t)git_blob_rawsize(blob));
	git_blob_free(blob);
	if (rc < 0)
		tier_error_prefix("'%s'", snap);
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

static const char *snap_of(struct run *r, const tier_buf *path)
{
	const char *s = path->ptr + r->dest.size;
	return *s ? s : "/";
}

/*
 * Create (or keep) a directory; its metadata goes on the list for the end.
 * count: whether it is restored for itself (not as the ancestor of a path).
 */
static int make_dir(struct run *r, const char *path, const tier_node *meta,
                    int count)
{
	struct stat st;
	int rc;
	if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode) && !count)
		return 0; /* an ancestor already there ("/home" when restoring into /) keeps its own */
	if (lstat(path, &st) < 0 || !S_ISDIR(st.st_mode)) {
		if ((rc = clear_path(r, path)) < 0)
			return rc;
		/* owner-only until the contents are in; the real mode comes last */
		if (mkdir(path, meta ? 0700 : 0777) < 0 && errno != EEXIST)
			return tier_error_set_errno(
			        tier_error_from_errno(errno), errno,
			        "cannot create directory '%s'", path);
	}
	if (count) {
		pthread_mutex_lock(&r->lock);
		r->stats->dirs++;
		pthread_mutex_unlock(&r->lock);
	}
	return push_dir(r, path, meta);
}

/* Without overwrite, nothing may stand where an object is restored. */
static int must_be_free(struct run *r, const char *path)
{
	struct stat st;
	if (r->o->overwrite || lstat(path, &st) < 0)
		return 0;
	return tier_error_set(TIER_ECONFLICT,
	                      "'%s' exists already (--overwrite replaces it)",
	                      path);
}

static int plan_file(struct run *r, const tier_node *n, const tier_buf *path)
{
	const char *snap = snap_of(r, path);
	const tier_chunk_loc **locs = NULL;
	struct rfile *f = NULL;
	int rc = 0;

	if (n->nchunks && !(locs = tier_calloc(n->nchunks, sizeof(*locs))))
		return TIER_ERROR;
	for (size_t i = 0; i < n->nchunks; i++) {
		char ch[SHORT_HEX + 1];
		locs[i] = tier_chunkmap_find(r->map, n->chunks[i].id);
		if (!locs[i] || locs[i]->raw_len != n->chunks[i].len) {
			tier_buf m = TIER_BUF_INIT;
			tier_buf_printf(&m,
			                "cannot restore '%s': chunk %s is %s",
			                snap, short_hex(ch, n->chunks[i].id),
			                locs[i] ? "not the length the file says"
			                        : "in no pack of the vault");
			entry_failed(r, TIER_ECORRUPT, tier_buf_cstr(&m));
			tier_buf_dispose(&m);
			free(locs);
			return 0;
		}
	}
	if ((rc = must_be_free(r, path->ptr)) < 0)
		goto out;
	if (!(f = tier_calloc(1, sizeof(*f))) ||
	    !(f->path = tier_strdup(path->ptr)) ||
	    !(f->tmp = tier_malloc(path->size + sizeof(TMP_SUFFIX)))) {
		rc = TIER_ERROR;
		goto out;
	}
	memcpy(f->tmp, path->ptr, path->size);
	memcpy(f->tmp + path->size, TMP_SUFFIX, sizeof(TMP_SUFFIX));
	f->snap = f->path + r->dest.size;
	f->fd = -1;
	meta_from_node(&f->m, n);
	if (n->nchunks == 0) {
		rc = rfile_finish(r, f);
		f = NULL;
		goto out;
	}
	f->remaining = n->nchunks;
	live_add(r, f);
	/* from here the workers own f: it may be finished before this loop ends */
	uint64_t off = 0;
	for (size_t i = 0; i < n->nchunks && rc == 0; i++) {
		rc = add_piece(r, f, off, locs[i]);
		off += locs[i]->raw_len;
	}
	f = NULL;
out:
	rfile_free(f);
	free(locs);
	return rc;
}

static int plan_symlink(struct run *r, const tier_node *n, tier_buf *path)
{
	struct meta m;
	int rc;
	if (!n->target || n->target_len == 0 ||
	    memchr(n->target, '\0', n->target_len)) {
		tier_buf msg = TIER_BUF_INIT;
		tier_buf_printf(
		        &msg,
		        "cannot restore symlink '%s': its target is not valid",
		        snap_of(r, path));
		entry_failed(r, TIER_ECORRUPT, tier_buf_cstr(&msg));
		tier_buf_dispose(&msg);
		return 0;
	}
	if ((rc = clear_path(r, path->ptr)) < 0)
		return rc;
	if (symlink(n->target, path->ptr) < 0)
		return tier_error_set_errno(tier_error_from_errno(errno), errno,
		                            "cannot create symlink '%s'",
		                            path->ptr);
	meta_from_node(&m, n);
	apply_link_meta(r, path->ptr, &m);
	pthread_mutex_lock(&r->lock);
	r->stats->others++;
	pthread_mutex_unlock(&r->lock);
	return 0;
}

static int plan_special(struct run *r, const tier_node *n, tier_buf *path)
{
	struct meta m;
	int rc;
	const char *kind = tier_node_type_name(n->type);
	if (n->type == TIER_NODE_SOCKET) {
		warn(r, "'%s' is a socket: not restored", snap_of(r, path));
		return 0;
	}
	if ((n->type == TIER_NODE_CHAR || n->type == TIER_NODE_BLOCK) &&
	    !r->root) {
		pthread_mutex_lock(&r->lock);
		r->stats->errors++;
		pthread_mutex_unlock(&r->lock);
		warn(r, "device '%s' not restored: creating devices needs root",
		     snap_of(r, path));
		return 0;
	}
	if ((rc = clear_path(r, path->ptr)) < 0)
		return rc;
	if (n->type == TIER_NODE_FIFO)
		rc = mkfifo(path->ptr, 0600);
	else
		rc = mknod(path->ptr,
		           (n->type == TIER_NODE_CHAR ? S_IFCHR : S_IFBLK) |
		                   0600,
		           (dev_t)n->rdev);
	if (rc < 0)
		return tier_error_set_errno(tier_error_from_errno(errno), errno,
		                            "cannot create %s '%s'", kind,
		                            path->ptr);
	meta_from_node(&m, n);
	apply_path_meta(r, path->ptr, &m);
	pthread_mutex_lock(&r->lock);
	r->stats->others++;
	pthread_mutex_unlock(&r->lock);
	return 0;
}

static int walk_dir(struct run *r, const git_tree *tree, tier_buf *path);

/* Restore one tree entry at path (its destination). */
static int plan_entry(struct run *r, const git_tree_entry *e, tier_buf *path)
{
	tier_node n;
	int rc, has;

	if (r->o->progress && tier_buf_sets(&r->current, snap_of(r, path)) < 0)
		return TIER_ERROR;
	if ((rc = progress(r, 0)) < 0)
		return rc;
	if (git_tree_entry_type(e) == GIT_OBJECT_TREE) {
		git_tree *sub = NULL;
		if ((rc = git_tree_lookup(&sub, r->repo,
		                          git_tree_entry_id(e))) < 0)
			return tier_error_from_git(rc,
			                           "cannot read directory '%s'",
			                           snap_of(r, path));
		if ((rc = dir_meta(r, sub, &n, &has, snap_of(r, path))) == 0) {
			rc = make_dir(r, path->ptr, has ? &n : NULL, 1);
			if (has)
				tier_node_dispose(&n);
		}
		if (rc == 0)
			rc = walk_dir(r, sub, path);
		git_tree_free(sub);
		return rc;
	}
	if (git_tree_entry_type(e) != GIT_OBJECT_BLOB)
		return 0; /* a submodule link cannot be in a snapshot; nothing to restore */
	if ((rc = read_node(r, &n, git_tree_entry_id(e), snap_of(r, path))) < 0)
		return rc;
	switch (n.type) {
	case TIER_NODE_FILE:
		rc = plan_file(r, &n, path);
		break;
	case TIER_NODE_DIR:
		rc = make_dir(r, path->ptr, &n, 1);
		break;
	case TIER_NODE_SYMLINK:
		rc = plan_symlink(r, &n, path);
		break;
	default:
		rc = plan_special(r, &n, path);
		break;
	}
	tier_node_dispose(&n);
	return rc;
}

/* Append "/<decoded name of e>" to path. */
static int path_push(tier_buf *path, tier_buf *name, const git_tree_entry *e)
{
	int rc = tier_snap_name_decode(name, git_tree_entry_name(e));
	if (rc < 0)
		return rc;
	if (!strcmp(name->ptr, ".") || !strcmp(name->ptr, ".."))
		return tier_error_set(TIER_ECORRUPT,
		                      "snapshot entry '%s' is not a file name",
		                      git_tree_entry_name(e));
	if (tier_buf_putc(path, '/') < 0 ||
	    tier_buf_put(path, name->ptr, name->size) < 0)
		return TIER_ERROR;
	return 0;
}

/* Call fn for every entry of a snapshot directory, path extended by its name. */
static int each_entry(struct run *r, const git_tree *tree, tier_buf *path,
                      int (*fn)(struct run *, const git_tree_entry *,
                                tier_buf *))
{
	size_t base = path->size, count = git_tree_entrycount(tree);
	tier_buf name = TIER_BUF_INIT;
	int rc = 0;
	for (size_t i = 0; i < count && rc == 0; i++) {
		const git_tree_entry *e = git_tree_entry_byindex(tree, i);
		if (!strcmp(git_tree_entry_name(e), TIER_SNAP_DIRMETA))
			continue;
		if ((rc = path_push(path, &name, e)) == 0)
			rc = fn(r, e, path);
		buf_truncate(path, base);
	}
	tier_buf_dispose(&name);
	return rc;
}

static int walk_dir(struct run *r, const git_tree *tree, tier_buf *path)
{
	return each_entry(r, tree, path, plan_entry);
}

/* ---- conflicts: checked before anything is written -------------------- */

static int conflict(const char *path)
{
	return tier_error_set(TIER_ECONFLICT,
	                      "'%s' exists already (--overwrite replaces it)",
	                      path);
}

static int check_entry(struct run *r, const git_tree_entry *e, tier_buf *path);

static int check_tree(struct run *r, const git_tree *tree, tier_buf *path)
{
	return each_entry(r, tree, path, check_entry);
}

static int check_entry(struct run *r, const git_tree_entry *e, tier_buf *path)
{
	struct stat st;
	git_tree *sub = NULL;
	int rc;
	if (lstat(path->ptr, &st) < 0) {
		if (errno == ENOENT)
			return 0; /* nothing below it can exist either */
		return tier_error_set_errno(tier_error_from_errno(errno), errno,
		                            "cannot stat '%s'", path->ptr);
	}
	if (git_tree_entry_type(e) != GIT_OBJECT_TREE || !S_ISDIR(st.st_mode))
		return conflict(path->ptr);
	if ((rc = git_tree_lookup(&sub, r->repo, git_tree_entry_id(e))) < 0)
		return tier_error_from_git(rc, "cannot read directory '%s'",
		                           snap_of(r, path));
	rc = check_tree(r, sub, path);
	git_tree_free(sub);
	return rc;
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
			                      path);
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

enum sel_mode {
	SEL_RESOLVE, /* only: is it in the snapshot? */
	SEL_CHECK,   /* would restoring it conflict with what is in dest? */
	SEL_PLAN,    /* restore it (and its ancestors) */
};

/* Resolve one selected path (normalized, not empty) in the root tree. */
static int select_path(struct run *r, const git_tree *root, const char *sel,
                       enum sel_mode mode)
{
	tier_buf path = TIER_BUF_INIT, comp = TIER_BUF_INIT,
	         enc = TIER_BUF_INIT;
	git_tree *tree = NULL, *next = NULL;
	const char *p = sel;
	int rc = 0,
	    alive = 1; /* SEL_CHECK: whether the ancestors exist in dest */

	if (tier_buf_put(&path, r->dest.ptr, r->dest.size) < 0)
		return TIER_ERROR;
	if ((rc = git_tree_dup(&tree, (git_tree *)root)) < 0) {
		rc = tier_error_from_git(rc, "cannot read the snapshot");
		goto out;
	}
	for (;;) {
		const char *s = p;
		while (*p && *p != '/')
			p++;
		tier_buf_clear(&comp);
		if ((rc = tier_buf_put(&comp, s, (size_t)(p - s))) < 0 ||
		    (rc = tier_snap_name_encode(&enc, comp.ptr, comp.size)) < 0)
			goto out;
		const git_tree_entry *e = git_tree_entry_byname(tree, enc.ptr);
		if (!e || (*p && git_tree_entry_type(e) != GIT_OBJECT_TREE)) {
			rc = tier_error_set(TIER_ENOTFOUND,
			                    "'/%s' is not in revision %" PRIu64,
			                    sel, r->rev);
			goto out;
		}
		if ((rc = tier_buf_putc(&path, '/')) < 0 ||
		    (rc = tier_buf_put(&path, comp.ptr, comp.size)) < 0)
			goto out;
		if (!*p) {
			if (mode == SEL_CHECK && alive)
				rc = check_entry(r, e, &path);
			else if (mode == SEL_PLAN)
				rc = plan_entry(r, e, &path);
			goto out;
		}
		p++;
		if ((rc = git_tree_lookup(&next, r->repo,
		                          git_tree_entry_id(e))) < 0) {
			rc = tier_error_from_git(rc,
			                         "cannot read directory '%s'",
			                         snap_of(r, &path));
			goto out;
		}
		git_tree_free(tree);
		tree = next;
		next = NULL;
		if (mode == SEL_CHECK) {
			struct stat st;
			if (alive && lstat(path.ptr, &st) < 0)
				alive = 0;
			else if (alive && !S_ISDIR(st.st_mode)) {
				rc = conflict(path.ptr);
				goto out;
			}
		} else if (mode == SEL_PLAN) {
			tier_node n;
			int has;
			if ((rc = dir_meta(r, tree, &n, &has,
			                   snap_of(r, &path))) < 0)
				goto out;
			rc = make_dir(r, path.ptr, has ? &n : NULL, 0);
			if (has)
				tier_node_dispose(&n);
			if (rc < 0)
				goto out;
		}
	}
out:
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

static int find_revision(struct run *r, git_oid *out)
{
	tier_commit_info ci;
	git_oid id;
	uint64_t want = r->o->revision;
	int rc;

	if ((rc = tier_vault_best_head(r->v, &id, NULL)) < 0)
		return rc;
	if ((rc = tier_commit_info_read(&ci, r->repo, &id)) < 0)
		return rc;
	if (want > ci.revision)
		return tier_error_set(TIER_ENOTFOUND,
		                      "revision %" PRIu64
		                      " does not exist (latest is %" PRIu64 ")",
		                      want, ci.revision);
	uint64_t latest = ci.revision;
	while (want && ci.revision != want) {
		git_commit *c = NULL;
		if ((rc = git_commit_lookup(&c, r->repo, &id)) < 0)
			return tier_error_from_git(
			        rc, "cannot read revision %" PRIu64,
			        ci.revision);
		if (git_commit_parentcount(c) == 0) {
			git_commit_free(c);
			return tier_error_set(
			        TIER_ENOTFOUND,
			        "revision %" PRIu64
			        " does not exist (latest is %" PRIu64 ")",
			        want, latest);
		}
		git_oid_cpy(&id, git_commit_parent_id(c, 0));
		git_commit_free(c);
		if ((rc = tier_commit_info_read(&ci, r->repo, &id)) < 0)
			return rc;
		if (ci.revision < want)
			return tier_error_set(TIER_ECORRUPT,
			                      "the log skips revision %" PRIu64
			                      " (found %" PRIu64 ")",
			                      want, ci.revision);
	}
	r->rev = ci.revision;
	git_oid_cpy(out, &id);
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
		const tier_tier_info *in = tier_vault_tier_info(r->v, i);
		struct rtier *t = &r->t[i];
		git_oid head;
		t->loc = tier_vault_location(r->v, i);
		t->name = in->name;
		if (!(t->bad = tier_calloc(npacks ? npacks : 1, 1)))
			return TIER_ERROR;
		/* tiers away or unusable at open are in the vault's tier info (tools report them) */
		if (!in->online || in->state != TIER_STATE_OK || !in->has_log ||
		    in->revision < r->rev ||
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

static void apply_dirs(struct run *r)
{
	/* reverse creation order: children before their parents */
	for (size_t i = r->dirs.length; i-- > 0;) {
		struct rdir *d = r->dirs.ptr[i];
		if (d->has_meta)
			apply_path_meta(r, d->path, &d->m);
	}
}

static void rdir_free(void *p)
{
	struct rdir *d = p;
	free(d->path);
	free(d);
}

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

static int run_restore(struct run *r)
{
	git_commit *commit = NULL;
	git_tree *rev_tree = NULL, *root = NULL;
	tier_vec sel = TIER_VEC_INIT;
	struct worker w[NWORKERS];
	size_t started = 0;
	git_oid cid, rid;
	int rc;

	memset(w, 0, sizeof(w));
	if ((rc = find_revision(r, &cid)) < 0)
		goto out;
	r->stats->revision = r->rev;
	if ((rc = git_commit_lookup(&commit, r->repo, &cid)) < 0 ||
	    (rc = git_commit_tree(&rev_tree, commit)) < 0) {
		rc = tier_error_from_git(rc, "cannot read revision %" PRIu64,
		                         r->rev);
		goto out;
	}
	if (tier_snap_part(&rid, rev_tree, TIER_SNAP_ROOT) == 0 &&
	    (rc = git_tree_lookup(&root, r->repo, &rid)) < 0) {
		rc = tier_error_from_git(
		        rc, "cannot read the snapshot of revision %" PRIu64,
		        r->rev);
		goto out;
	}
	if ((rc = selection(&sel, r->o)) < 0)
		goto out;
	int whole = sel.length == 0;
	for (size_t i = 0; i < sel.length; i++)
		if (!*(char *)sel.ptr[i])
			whole = 1;
	if (!root && sel.length) {
		rc = tier_error_set(TIER_ENOTFOUND,
		                    "'/%s' is not in revision %" PRIu64,
		                    (char *)sel.ptr[0], r->rev);
		goto out;
	}
	if ((rc = dest_path(r)) < 0)
		goto out;
	/* a path not in the snapshot fails before anything is written */
	for (size_t i = 0; i < sel.length && !whole; i++)
		if ((rc = select_path(r, root, sel.ptr[i], SEL_RESOLVE)) < 0)
			goto out;
	if ((rc = tier_chunkmap_load(&r->map, r->repo, rev_tree)) < 0 ||
	    (rc = pick_tiers(r, &cid)) < 0)
		goto out;

	/* conflicts are found before anything is written */
	if (!r->o->overwrite && root) {
		tier_buf path = TIER_BUF_INIT;
		if (tier_buf_put(&path, r->dest.ptr, r->dest.size) < 0)
			rc = TIER_ERROR;
		else if (whole)
			rc = check_tree(r, root, &path);
		for (size_t i = 0; i < sel.length && !whole && rc == 0; i++)
			rc = select_path(r, root, sel.ptr[i], SEL_CHECK);
		tier_buf_dispose(&path);
		if (rc < 0)
			goto out;
	}
	if (r->dest.size && (rc = tier_mkdir_p(r->dest.ptr, 0777)) < 0)
		goto out;

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
		else if (whole)
			rc = walk_dir(r, root, &path);
		for (size_t i = 0; i < sel.length && !whole && rc == 0; i++)
			rc = select_path(r, root, sel.ptr[i], SEL_PLAN);
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

	/* whatever is left was interrupted: no half file stays behind */
	while (r->live) {
		struct rfile *f = r->live;
		live_remove(r, f);
		if (f->fd >= 0)
			close(f->fd);
		unlink(f->tmp);
		rfile_free(f);
	}
	if (!r->fatal_code)
		apply_dirs(r);
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
	git_commit_free(commit);
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
	if (!v || !opts || opts->version != TIER_RESTORE_OPTIONS_VERSION)
		return tier_error_set(TIER_EUSAGE,
		                      "unsupported restore options version");
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
	pthread_mutex_init(&r.lock, NULL);
	pthread_mutex_init(&r.io, NULL);
	pthread_mutex_init(&r.cb, NULL);
	pthread_cond_init(&r.nonempty, NULL);
	pthread_cond_init(&r.nonfull, NULL);

	rc = run_restore(&r);

	for (size_t i = 0; i < r.ntiers; i++)
		free(r.t[i].bad);
	free(r.t);
	tier_vec_dispose(&r.dirs, rdir_free);
	tier_chunkmap_free(r.map);
	tier_buf_dispose(&r.dest);
	tier_buf_dispose(&r.current);
	free(r.fatal_msg);
	free(r.fail_msg);
	pthread_cond_destroy(&r.nonempty);
	pthread_cond_destroy(&r.nonfull);
	pthread_mutex_destroy(&r.cb);
	pthread_mutex_destroy(&r.io);
	pthread_mutex_destroy(&r.lock);
	return rc;
}
