/*
 * Applying to DEST: directory fds opened one component at a time with
 * O_NOFOLLOW, files written under a temporary name and renamed once
 * complete, metadata, what is already there (kept, conflict, replaced),
 * directories, symlinks and special files.
 */
#include "restore_int.h"

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

#include "hash.h"
#include "util/error.h"
#include "util/posix.h"

/* ---- applying metadata ------------------------------------------------- */

void tier_restore_meta_from_node(struct meta *m, const tier_node *n)
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
static void meta_failed(struct restore_run *r, const char *what,
                        const char *path, int errnum)
{
	tier_restore_stat_inc(r, &r->stats->errors);
	tier_restore_warn(r, "cannot set the %s of '%s': %s", what,
	                  tier_restore_show(path), strerror(errnum));
}

/* Owner, mode, mtime of an open file or directory. */
static void apply_fd_meta(struct restore_run *r, int fd, const char *path,
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
static void apply_node_meta(struct restore_run *r, int dirfd, const char *name,
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

static void apply_link_meta(struct restore_run *r, int dirfd, const char *name,
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

int tier_restore_open_dir_at(int dirfd, const char *name)
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
	int fd = tier_restore_open_dir_at(dirfd, name);
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

struct rdir *tier_restore_rdir_new(struct restore_run *r, int fd,
                                   const char *path)
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

void tier_restore_rdir_ref(struct restore_run *r, struct rdir *d)
{
	pthread_mutex_lock(&r->lock);
	d->refs++;
	pthread_mutex_unlock(&r->lock);
}

/* The last reference applies the directory's metadata (unless the run
 * stopped: a rerun does it) and closes it. */
void tier_restore_rdir_release(struct restore_run *r, struct rdir *d)
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

void tier_restore_rfile_free(struct restore_run *r, struct rfile *f)
{
	if (!f)
		return;
	tier_restore_rdir_release(r, f->dir);
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
char *tier_restore_tmp_name(const char *name)
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

int tier_restore_rfile_open(struct rfile *f)
{
	int dfd = f->dir->fd;
	/* a leftover of a crashed run is ours to replace; never follow a link */
	if (unlinkat(dfd, f->tmp, 0) < 0 && errno != ENOENT &&
	    !(errno == EISDIR && remove_at(dfd, f->tmp) == 0))
		return tier_restore_fs_error(errno, "cannot remove", f->path);
	f->fd = openat(dfd, f->tmp,
	               O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
	               0600);
	if (f->fd < 0)
		return tier_restore_fs_error(errno, "cannot create", f->path);
	return 0;
}

/* renameat(tmp, name), replacing a directory at name when overwriting. */
static int put_in_place(struct restore_run *r, struct rfile *f)
{
	int dfd = f->dir->fd;
	if (renameat(dfd, f->tmp, dfd, f->name) == 0)
		return 0;
	if ((errno == EISDIR || errno == ENOTEMPTY || errno == EEXIST ||
	     errno == ENOTDIR) &&
	    (r->o->overwrite == TIER_OVERWRITE_IF_CHANGED ||
	     r->o->overwrite == TIER_OVERWRITE_ALWAYS)) {
		if (remove_at(dfd, f->name) < 0)
			return tier_restore_fs_error(errno, "cannot remove",
			                             f->path);
		if (renameat(dfd, f->tmp, dfd, f->name) == 0)
			return 0;
	}
	return tier_restore_fs_error(errno, "cannot put in place", f->path);
}

/* The last piece of a file is written (or failed): close and rename it. */
void tier_restore_rfile_finish(struct restore_run *r, struct rfile *f)
{
	int rc = 0;

	if (f->failed) {
		if (f->fd >= 0)
			close(f->fd);
		unlinkat(f->dir->fd, f->tmp, 0);
		tier_restore_rfile_free(r, f);
		return;
	}
	if (f->fd < 0 && (rc = tier_restore_rfile_open(f)) < 0)
		goto out;
	apply_fd_meta(r, f->fd, f->path, &f->m);
	int fd = f->fd;
	f->fd = -1;
	if (close(fd) < 0) {
		rc = tier_restore_fs_error(errno, "cannot write", f->path);
		goto out;
	}
	if ((rc = put_in_place(r, f)) < 0)
		goto out;
	tier_restore_stat_inc(r, &r->stats->files);
out:
	if (rc < 0) {
		if (f->fd >= 0)
			close(f->fd);
		unlinkat(f->dir->fd, f->tmp, 0);
		if (tier_restore_entry_error(r, rc) < 0)
			tier_restore_set_fatal(r, rc);
	}
	tier_restore_rfile_free(r, f);
}

void tier_restore_live_add(struct restore_run *r, struct rfile *f)
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
void tier_restore_live_remove(struct restore_run *r, struct rfile *f)
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
void tier_restore_piece_done(struct restore_run *r, struct rfile *f, int ok)
{
	int last;
	pthread_mutex_lock(&r->lock);
	if (!ok)
		f->failed = 1;
	last = --f->remaining == 0;
	if (last)
		tier_restore_live_remove(r, f);
	pthread_mutex_unlock(&r->lock);
	if (last)
		tier_restore_rfile_finish(r, f);
}

int tier_restore_write_at(int fd, const unsigned char *p, size_t len,
                          uint64_t off, const char *what)
{
	while (len > 0) {
		ssize_t n = pwrite(fd, p, len, (off_t)off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return tier_restore_fs_error(errno, "cannot write",
			                             what);
		}
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
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
int tier_restore_same_existing(struct restore_run *r, const tier_node *n,
                               const struct stat *st, int dirfd,
                               const char *name)
{
	struct meta m;
	tier_restore_meta_from_node(&m, n);
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

/*
 * Whether the regular file at name has n's contents: read in n's chunk
 * lengths, each hashed against its id (keyed in an encrypted vault).
 */
static int same_content(struct restore_run *r, const tier_node *n, int dirfd,
                        const char *name)
{
	unsigned char *buf = NULL, id[TIER_HASH_LEN];
	size_t cap = 0, got = 0;
	uint64_t off = 0;
	int fd, same = 1;
	fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return 0;
	for (size_t i = 0; i < n->nchunks && same; i++) {
		size_t len = n->chunks[i].len;
		if (len > cap) {
			unsigned char *nb = tier_realloc(buf, len);
			if (!nb) {
				same = 0;
				break;
			}
			buf = nb;
			cap = len;
		}
		same = tier_pread_all(fd, buf, len, off, &got, name) == 0 &&
		       got == len &&
		       tier_chunk_id(id, tier_vault_keys(r->v), buf, len) ==
		               0 &&
		       !memcmp(id, n->chunks[i].id, TIER_HASH_LEN);
		off += len;
	}
	/* nothing after the last chunk */
	if (same && (tier_pread_all(fd, id, 1, off, &got, name) < 0 || got))
		same = 0;
	tier_error_clear();
	free(buf);
	close(fd);
	return same;
}

int tier_restore_keepable(struct restore_run *r, const tier_node *n,
                          const struct stat *st, int dirfd, const char *name)
{
	if (!tier_restore_same_existing(r, n, st, dirfd, name))
		return 0;
	if (n->type != TIER_NODE_FILE ||
	    r->o->overwrite != TIER_OVERWRITE_ALWAYS)
		return 1;
	return same_content(r, n, dirfd, name);
}

int tier_restore_conflict(const char *path)
{
	return tier_error_set(TIER_ECONFLICT,
	                      "'%s' exists already (--overwrite replaces it)",
	                      tier_restore_show(path));
}

/*
 * What is at name in dirfd, not followed: 1 (in *st), 0 for nothing, or
 * an error naming path.
 */
int tier_restore_lookup_at(int dirfd, const char *name, const char *path,
                           struct stat *st)
{
	if (fstatat(dirfd, name, st, AT_SYMLINK_NOFOLLOW) == 0)
		return 1;
	if (errno == ENOENT)
		return 0;
	return tier_restore_fs_error(errno, "cannot stat", path);
}

/*
 * Make room at name for an object that is not there yet: without
 * overwrite anything there is a conflict (found by the check before the
 * walk, unless it appeared meanwhile).
 */
static int clear_at(struct restore_run *r, int dirfd, const char *name,
                    const char *path)
{
	if (r->o->overwrite != TIER_OVERWRITE_IF_CHANGED &&
	    r->o->overwrite != TIER_OVERWRITE_ALWAYS)
		return tier_restore_conflict(path);
	if (remove_at(dirfd, name) < 0)
		return tier_restore_fs_error(errno, "cannot remove", path);
	return 0;
}

/*
 * Create (or keep) directory name in parent and open it: *out, held by
 * the walk.  count: it is restored for itself (not as a directory above a
 * selected path: such a directory already there keeps its own metadata,
 * and it is never replaced).
 */
int tier_restore_make_dir(struct restore_run *r, struct rdir *parent,
                          const char *name, const tier_buf *path,
                          const tier_node *meta, int count, struct rdir **out)
{
	struct stat st;
	int fd = -1, rc;

	*out = NULL;
	if ((rc = tier_restore_lookup_at(parent->fd, name, path->ptr, &st)) < 0)
		return rc;
	if (rc == 1 && S_ISDIR(st.st_mode)) {
		if ((fd = tier_restore_open_dir_at(parent->fd, name)) < 0)
			return tier_restore_fs_error(
			        errno, "cannot open directory", path->ptr);
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
		        tier_restore_show(path->ptr));
	} else if (rc == 1 && r->o->overwrite == TIER_OVERWRITE_NEVER) {
		tier_restore_stat_inc(r, &r->stats->skipped);
		return 1; /* left as it is, and what the snapshot has below */
	} else if (rc == 1 &&
	           (rc = clear_at(r, parent->fd, name, path->ptr)) < 0) {
		return rc;
	}
	if (fd < 0) {
		/* owner-only until the contents are in; the real mode comes last */
		if (mkdirat(parent->fd, name, meta ? 0700 : 0777) < 0 &&
		    errno != EEXIST)
			return tier_restore_fs_error(
			        errno, "cannot create directory", path->ptr);
		if ((fd = tier_restore_open_dir_at(parent->fd, name)) < 0)
			return tier_restore_fs_error(
			        errno, "cannot open directory", path->ptr);
	}
	struct rdir *d = tier_restore_rdir_new(r, fd, path->ptr);
	if (!d)
		return TIER_ERROR;
	if (meta) {
		d->has_meta = 1;
		tier_restore_meta_from_node(&d->m, meta);
	}
	if (count)
		tier_restore_stat_inc(r, &r->stats->dirs);
	tier_restore_walk_hold(r);
	*out = d;
	return 0;
}

/*
 * What is at name already: kept when it is the same as n (1), else cleared
 * out of the way (0), or an error.
 */
static int keep_or_clear(struct restore_run *r, const tier_node *n,
                         struct rdir *d, const char *name, const tier_buf *path)
{
	struct stat st;
	int rc;
	if ((rc = tier_restore_lookup_at(d->fd, name, path->ptr, &st)) < 0)
		return rc;
	if (rc == 1 && tier_restore_same_existing(r, n, &st, d->fd, name)) {
		tier_restore_stat_inc(r, &r->stats->kept);
		return 1;
	}
	if (rc == 1 && r->o->overwrite == TIER_OVERWRITE_NEVER) {
		tier_restore_stat_inc(r, &r->stats->skipped);
		return 1;
	}
	if (rc == 1 && (rc = clear_at(r, d->fd, name, path->ptr)) < 0)
		return rc;
	return 0;
}

int tier_restore_make_symlink(struct restore_run *r, const tier_node *n,
                              struct rdir *d, const char *name,
                              const tier_buf *path)
{
	struct meta m;
	int rc;
	if (!n->target || n->target_len == 0 ||
	    memchr(n->target, '\0', n->target_len))
		return tier_error_set(
		        TIER_ECORRUPT,
		        "cannot restore symlink '%s': its target is not valid",
		        tier_restore_show(tier_restore_snap_of(r, path)));
	if ((rc = keep_or_clear(r, n, d, name, path)) != 0)
		return rc < 0 ? rc : 0;
	if (symlinkat(n->target, d->fd, name) < 0)
		return tier_restore_fs_error(errno, "cannot create symlink",
		                             path->ptr);
	tier_restore_meta_from_node(&m, n);
	apply_link_meta(r, d->fd, name, path->ptr, &m);
	tier_restore_stat_inc(r, &r->stats->others);
	return 0;
}

int tier_restore_make_special(struct restore_run *r, const tier_node *n,
                              struct rdir *d, const char *name,
                              const tier_buf *path)
{
	struct meta m;
	int rc;
	const char *kind = tier_node_type_name(n->type);
	if (n->type == TIER_NODE_SOCKET) {
		tier_restore_warn(
		        r, "'%s' is a socket: not restored",
		        tier_restore_show(tier_restore_snap_of(r, path)));
		return 0;
	}
	if ((n->type == TIER_NODE_CHAR || n->type == TIER_NODE_BLOCK) &&
	    !r->root) {
		tier_restore_stat_inc(r, &r->stats->errors);
		tier_restore_warn(
		        r,
		        "device '%s' not restored: creating devices needs root",
		        tier_restore_show(tier_restore_snap_of(r, path)));
		return 0;
	}
	if ((rc = keep_or_clear(r, n, d, name, path)) != 0)
		return rc < 0 ? rc : 0;
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
		rc = tier_restore_fs_error(errno, tier_buf_cstr(&what),
		                           path->ptr);
		tier_buf_dispose(&what);
		return rc;
	}
	tier_restore_meta_from_node(&m, n);
	apply_node_meta(r, d->fd, name, path->ptr, &m);
	tier_restore_stat_inc(r, &r->stats->others);
	return 0;
}
