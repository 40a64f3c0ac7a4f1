/*
 * file:// driver: a tier on a local disk or a mounted network share.
 *
 * The one thing it must get right beyond POSIX calls is the difference
 * between "this object is missing" and "the whole tier is missing": an
 * unmounted share or a renamed-away root shows up as ENOENT too, but must
 * be TIER_EOFFLINE so that the reconnect layer retries and the engine does
 * not conclude the tier is empty.  So every ENOENT is checked against the
 * root, and nothing ever creates the root itself.
 *
 * What it writes is private to its owner whatever the umask (0700
 * directories, 0600 files, as borg's default umask 077 gives): a vault
 * holds root's 0600 files in readable form.  A vault is shared with a
 * group on purpose by making its root set-group-ID (chmod g+s, the Unix
 * sign of a directory kept by a group): then the group may read (0750 /
 * 0640), never write.  docs/security.md says how.
 */
#include "driver/drivers.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h> /* rename, renameat2 */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/buf.h"
#include "util/posix.h"

#define GET_BLOCK  (256 * 1024)
#define COPY_BLOCK (256 * 1024)

typedef struct {
	tier_driver base;
	char *root; /* absolute, no trailing '/' (except "/" itself) */
	int shared; /* -1 not known yet, 0 private, 1 root is set-group-ID */
} file_driver;

#define PRIVATE_DIR_MODE  0700
#define PRIVATE_FILE_MODE 0600
#define SHARED_DIR_MODE   02750 /* keeps the set-group-ID bit going down */
#define SHARED_FILE_MODE  0640

static file_driver *fd_of(tier_driver *drv)
{
	return (file_driver *)drv;
}

/* Is the root there and a directory?  Sets the offline message if not. */
static int root_check(file_driver *f)
{
	struct stat st;
	if (stat(f->root, &st) < 0) {
		int e = errno;
		if (e == EACCES || e == EPERM)
			return tier_error_set_errno(
			        TIER_EAUTH, e, "cannot reach tier root '%s'",
			        f->root);
		if (e == ENOENT || e == ENOTDIR)
			return tier_error_set(
			        TIER_EOFFLINE,
			        "tier root '%s' is not there (unmounted?)",
			        f->root);
		return tier_error_set_errno(TIER_EOFFLINE, e,
		                            "tier root '%s' does not answer",
		                            f->root);
	}
	if (!S_ISDIR(st.st_mode))
		return tier_error_set(
		        TIER_EOFFLINE,
		        "tier root '%s' is not there (unmounted?): not a directory",
		        f->root);
	return 0;
}

/* Whether the root says "shared with my group"; asked once per driver. */
static int is_shared(file_driver *f)
{
	struct stat st;
	if (f->shared < 0 && stat(f->root, &st) == 0)
		f->shared = (st.st_mode & S_ISGID) ? 1 : 0;
	return f->shared > 0;
}

static mode_t dir_mode(file_driver *f)
{
	return is_shared(f) ? SHARED_DIR_MODE : PRIVATE_DIR_MODE;
}

static mode_t file_mode(file_driver *f)
{
	return is_shared(f) ? SHARED_FILE_MODE : PRIVATE_FILE_MODE;
}

/*
 * Classify errno after a failed call on rel ("cannot <verb> '<rel>' in
 * '<root>'").  The codes are the driver contract: only the transient ones
 * may be TIER_EOFFLINE, or the reconnect layer would retry a full disk.
 */
static int fail(file_driver *f, int e, const char *verb, const char *rel)
{
	int code;
	switch (e) {
	case ENOENT:
	case ENOTDIR:
		if (root_check(f) < 0)
			return tier_error_last_code();
		code = TIER_ENOTFOUND;
		break;
	case EIO:
	case ESTALE:
	case ENOTCONN:
	case ETIMEDOUT:
	case ECONNRESET:
	case ECONNABORTED:
	case EHOSTDOWN:
	case EHOSTUNREACH:
	case ENETDOWN:
	case ENETUNREACH:
	case ENODEV:
	case ENXIO:
	case EAGAIN:
	case EINTR:
	case ENOLINK:
	case EREMOTEIO:
		code = TIER_EOFFLINE;
		break;
	case ENOSPC:
	case EDQUOT:
	case EFBIG:
		code = TIER_ENOSPC;
		break;
	case EACCES:
	case EPERM:
	case EROFS:
		code = TIER_EAUTH;
		break;
	case EEXIST:
	case ENOTEMPTY:
		code = TIER_ECONFLICT;
		break;
	default:
		/* EISDIR, ENAMETOOLONG, EINVAL, ELOOP: the tier's content
		 * or file system is at odds with us; never a usage error */
		code = TIER_ERROR;
	}
	return tier_error_set_errno(code, e, "cannot %s '%s' in '%s'", verb,
	                            *rel ? rel : ".", f->root);
}

static int full_path(tier_buf *out, file_driver *f, const char *rel)
{
	tier_buf_clear(out);
	if (!*rel)
		return tier_buf_puts(out, f->root);
	if (!strcmp(f->root, "/"))
		return tier_buf_printf(out, "/%s", rel);
	return tier_buf_printf(out, "%s/%s", f->root, rel);
}

/*
 * Create the directories of rel below the root (prefix_len bytes of rel;
 * the root itself is never created, see the top comment).  Each new
 * directory is made durable in its parent.
 */
static int make_dirs(file_driver *f, const char *rel, size_t prefix_len)
{
	tier_buf p = TIER_BUF_INIT;
	int rc = root_check(f);
	if (rc < 0)
		return rc;
	for (size_t i = 0; rc == 0 && i < prefix_len;) {
		size_t n = strcspn(rel + i, "/");
		if (i + n > prefix_len)
			n = prefix_len - i;
		i += n;
		char *sub = tier_strndup(rel, i);
		if (!sub || full_path(&p, f, sub) < 0) {
			free(sub);
			rc = TIER_ERROR;
			break;
		}
		if (mkdir(p.ptr, dir_mode(f)) == 0) {
			/* the umask may have taken more than we meant */
			if (chmod(p.ptr, dir_mode(f)) < 0)
				rc = fail(f, errno, "set the mode of", sub);
			else if (tier_fsync_parent(p.ptr) < 0)
				rc = fail(f, errno, "sync directory of", sub);
		} else if (errno == EEXIST) {
			struct stat st;
			if (stat(p.ptr, &st) == 0 && !S_ISDIR(st.st_mode))
				rc = tier_error_set(
				        TIER_ECONFLICT,
				        "'%s' in '%s' exists and is not a directory",
				        sub, f->root);
		} else {
			rc = fail(f, errno, "create directory", sub);
		}
		free(sub);
		i++; /* the '/' */
	}
	tier_buf_dispose(&p);
	return rc;
}

/* Length of the directory part of rel ("a/b/c" -> 3), 0 for a bare name. */
static size_t dir_len(const char *rel)
{
	const char *s = strrchr(rel, '/');
	return s ? (size_t)(s - rel) : 0;
}

static int sync_dir_of(file_driver *f, const char *rel)
{
	tier_buf p = TIER_BUF_INIT;
	char *dir = tier_strndup(rel, dir_len(rel));
	int rc = TIER_ERROR;
	if (dir && full_path(&p, f, dir) == 0) {
		rc = tier_fsync_dir(p.ptr);
		if (rc < 0)
			rc = fail(f, errno, "sync directory", dir);
	}
	free(dir);
	tier_buf_dispose(&p);
	return rc;
}

static int file_ping(tier_driver *drv)
{
	file_driver *f = fd_of(drv);
	int rc = root_check(f);
	if (rc < 0)
		return rc;
	/* A dead share may still stat from cache; reading the directory is a real probe. */
	DIR *d = opendir(f->root);
	if (!d)
		return fail(f, errno, "read", "");
	errno = 0;
	if (!readdir(d) && errno) {
		int e = errno;
		closedir(d);
		return fail(f, e, "read", "");
	}
	closedir(d);
	return 0;
}

static void fill_stat(tier_stat *out, const struct stat *st)
{
	out->size = S_ISDIR(st->st_mode) ? 0 : (uint64_t)st->st_size;
	out->mtime = (int64_t)st->st_mtime;
	out->is_dir = S_ISDIR(st->st_mode) ? 1 : 0;
}

static int file_stat(tier_driver *drv, const char *path, tier_stat *out)
{
	file_driver *f = fd_of(drv);
	tier_buf p = TIER_BUF_INIT;
	struct stat st;
	int rc = tier_driver_check_path(path, 1);
	if (rc < 0)
		return rc;
	if (full_path(&p, f, path) < 0)
		return TIER_ERROR;
	if (stat(p.ptr, &st) < 0)
		rc = fail(f, errno, "stat", path);
	else
		fill_stat(out, &st);
	tier_buf_dispose(&p);
	return rc;
}

static int file_get(tier_driver *drv, const char *path, uint64_t offset,
                    uint64_t len, tier_sink_cb sink, void *payload)
{
	file_driver *f = fd_of(drv);
	tier_buf p = TIER_BUF_INIT;
	struct stat st;
	char *block = NULL;
	int fd = -1;
	int rc = tier_driver_check_path(path, 0);
	if (rc < 0)
		return rc;
	if (full_path(&p, f, path) < 0)
		return TIER_ERROR;
	fd = open(p.ptr, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		rc = fail(f, errno, "open", path);
		goto out;
	}
	if (fstat(fd, &st) < 0) {
		rc = fail(f, errno, "stat", path);
		goto out;
	}
	if (S_ISDIR(st.st_mode)) {
		/* a directory where an object belongs: damage, not usage */
		rc = tier_error_set(TIER_ECORRUPT,
		                    "cannot read '%s' in '%s': is a directory",
		                    path, f->root);
		goto out;
	}
	/*
	 * Objects are written whole (put is atomic), so a range that runs past
	 * the end means the object is not what the caller's index says it is.
	 */
	uint64_t size = (uint64_t)st.st_size;
	uint64_t end = len == UINT64_MAX || len > UINT64_MAX - offset
	                       ? UINT64_MAX
	                       : offset + len;
	if (offset > size || (end != UINT64_MAX && end > size)) {
		rc = tier_error_set(
		        TIER_ECORRUPT,
		        "'%s' in '%s' has %llu bytes, less than the %llu asked for",
		        path, f->root, (unsigned long long)size,
		        (unsigned long long)(end == UINT64_MAX ? offset : end));
		goto out;
	}
	if (end == UINT64_MAX)
		end = size;
	if (!(block = tier_malloc(GET_BLOCK))) {
		rc = TIER_ERROR;
		goto out;
	}
	for (uint64_t pos = offset; pos < end;) {
		size_t want =
		        end - pos < GET_BLOCK ? (size_t)(end - pos) : GET_BLOCK;
		size_t got = 0;
		if (tier_pread_all(fd, block, want, pos, &got, path) < 0) {
			rc = fail(f, errno, "read", path);
			goto out;
		}
		if (got == 0) {
			rc = tier_error_set(
			        TIER_ECORRUPT,
			        "'%s' in '%s' shrank while being read", path,
			        f->root);
			goto out;
		}
		if (sink(block, got, payload) != 0) {
			rc = tier_error_set(
			        TIER_EABORTED,
			        "reading '%s' in '%s' was cancelled", path,
			        f->root);
			goto out;
		}
		pos += got;
	}
out:
	if (fd >= 0)
		close(fd);
	free(block);
	tier_buf_dispose(&p);
	return rc;
}

/* Copy the source into fd.  Errors on the source side are local: TIER_ERROR. */
static int copy_source(file_driver *f, int fd, const tier_source *src,
                       const char *rel)
{
	if (src->data) {
		if (src->size > SIZE_MAX)
			return tier_error_set(TIER_EUSAGE,
			                      "source for '%s' too large", rel);
		if (tier_write_all(fd, src->data, (size_t)src->size, rel) < 0)
			return fail(f, errno, "write", rel);
		return 0;
	}
	char *block = tier_malloc(COPY_BLOCK);
	int rc = 0;
	if (!block)
		return TIER_ERROR;
	for (uint64_t pos = 0; pos < src->size;) {
		size_t want = src->size - pos < COPY_BLOCK
		                      ? (size_t)(src->size - pos)
		                      : COPY_BLOCK;
		size_t got = 0;
		if (tier_pread_all(src->fd, block, want, pos, &got, "source") <
		    0) {
			rc = tier_error_set_errno(
			        TIER_ERROR, errno,
			        "cannot read the source of '%s'", rel);
			break;
		}
		if (got < want) {
			rc = tier_error_set(
			        TIER_ERROR,
			        "source of '%s' ended at %llu of %llu bytes",
			        rel, (unsigned long long)(pos + got),
			        (unsigned long long)src->size);
			break;
		}
		if (tier_write_all(fd, block, got, rel) < 0) {
			rc = fail(f, errno, "write", rel);
			break;
		}
		pos += got;
	}
	free(block);
	return rc;
}

/* Exclusive publish of a complete temp file: atomic create-only. */
static int publish_exclusive(file_driver *f, const char *tmp, const char *dst,
                             const char *rel)
{
	if (link(tmp, dst) == 0)
		return 0;
	int e = errno;
	if (e == EPERM || e == ENOTSUP || e == EOPNOTSUPP || e == ENOSYS ||
	    e == EMLINK) {
		/* No hard links here (vfat, some SMB shares): try the rename form. */
		if (renameat2(AT_FDCWD, tmp, AT_FDCWD, dst, RENAME_NOREPLACE) ==
		    0)
			return 0;
		if (errno == EEXIST)
			e = EEXIST;
		else if (errno != EINVAL && errno != ENOSYS && errno != ENOTSUP)
			e = errno;
	}
	if (e == EEXIST)
		return tier_error_set(TIER_ECONFLICT,
		                      "'%s' in '%s' exists already", rel,
		                      f->root);
	return fail(f, e, "create", rel);
}

/*
 * An object just written is on the disk (fsynced) and will not be read
 * again soon: give its pages back.  A backup then does not push the
 * user's working set out of the page cache, and the next object's pages
 * come from memory just freed instead of memory never touched, which in
 * a VM costs a host fault per page (we measured copies into the page
 * cache at a third of their usual speed when it had to grow).
 */
static void drop_cached(int fd)
{
	(void)posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
}

#define TEMP_FAILED 1

/*
 * Make a temp name beside dst and create it with make(): another name if
 * it exists, the parent directories (once) if they do not.  0 with *out =
 * what make() returned; TEMP_FAILED with errno from make(); or a negative
 * code when the directories cannot be made.
 */
static int create_temp(file_driver *f, tier_buf *tmp, const char *dst,
                       const char *path,
                       int (*make)(const char *tmp, const void *arg),
                       const void *arg, int *out)
{
	int made_dirs = 0, tries = 0, rc;
	for (;;) {
		if (tier_temp_name(tmp, dst) < 0)
			return TIER_ERROR;
		if ((*out = make(tmp->ptr, arg)) >= 0)
			return 0;
		if (errno == EEXIST && ++tries < 10)
			continue;
		if (errno == ENOENT && !made_dirs && dir_len(path) > 0) {
			made_dirs = 1;
			if ((rc = make_dirs(f, path, dir_len(path))) < 0)
				return rc;
			continue;
		}
		return TEMP_FAILED;
	}
}

static int make_file(const char *tmp, const void *unused)
{
	(void)unused;
	return open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
	            PRIVATE_FILE_MODE);
}

/* Does path name the very file fd reads, of exactly size bytes? */
static int is_source_file(const char *path, int fd, uint64_t size)
{
	struct stat a, b;
	return fd >= 0 && fstat(fd, &a) == 0 && stat(path, &b) == 0 &&
	       a.st_dev == b.st_dev && a.st_ino == b.st_ino &&
	       S_ISREG(a.st_mode) && (uint64_t)a.st_size == size;
}

static int make_link(const char *tmp, const void *local)
{
	return link(local, tmp);
}

/*
 * Publish a finished local file under path by a hard link: no byte is
 * copied.  The link gets the mode a copy would have and is fsynced (the
 * writer may not have) before the rename.  TEMP_FAILED: not on this file
 * system (or links refused); the caller copies instead.
 */
static int put_by_link(file_driver *f, const char *local, tier_buf *tmp,
                       const tier_buf *dst, const char *path)
{
	int linked, rc = create_temp(f, tmp, dst->ptr, path, make_link, local,
	                             &linked);
	if (rc != 0)
		return rc;
	int fd = open(tmp->ptr, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		rc = fail(f, errno, "open", path);
		goto fail;
	}
	if (fchmod(fd, file_mode(f)) < 0 || fsync(fd) < 0) {
		rc = fail(f, errno, "sync", path);
		close(fd);
		goto fail;
	}
	drop_cached(fd);
	close(fd);
	if (rename(tmp->ptr, dst->ptr) < 0) {
		rc = fail(f, errno, "replace", path);
		goto fail;
	}
	return sync_dir_of(f, path);
fail:
	unlink(tmp->ptr);
	return rc;
}

static int file_put(tier_driver *drv, const char *path, const tier_source *src,
                    unsigned int flags)
{
	file_driver *f = fd_of(drv);
	tier_buf dst = TIER_BUF_INIT, tmp = TIER_BUF_INIT;
	int fd = -1, rc = tier_driver_check_path(path, 0);
	struct stat st;
	if (rc < 0)
		return rc;
	if (!src->data && src->fd < 0 && src->size > 0)
		return tier_error_set(TIER_EUSAGE, "no source for '%s'", path);
	if (full_path(&dst, f, path) < 0)
		return TIER_ERROR;
	/* Cheap early answer; link() below is what makes it atomic. */
	if ((flags & TIER_PUT_EXCLUSIVE) && lstat(dst.ptr, &st) == 0) {
		rc = tier_error_set(TIER_ECONFLICT,
		                    "'%s' in '%s' exists already", path,
		                    f->root);
		goto out;
	}
	/* a link keeps the local file's group: a shared vault's group must
	 * come from its set-group-ID directory, so copy there */
	if (src->link_path && !(flags & TIER_PUT_EXCLUSIVE) && !is_shared(f) &&
	    is_source_file(src->link_path, src->fd, src->size)) {
		rc = put_by_link(f, src->link_path, &tmp, &dst, path);
		if (rc != TEMP_FAILED)
			goto out;
		rc = 0; /* another file system: copy */
	}
	rc = create_temp(f, &tmp, dst.ptr, path, make_file, NULL, &fd);
	if (rc == TEMP_FAILED)
		rc = fail(f, errno, "create", path);
	if (rc < 0)
		goto out;
	/* exactly this mode, whatever the umask */
	if (fchmod(fd, file_mode(f)) < 0) {
		rc = fail(f, errno, "set the mode of", path);
		goto fail;
	}
	if ((rc = copy_source(f, fd, src, path)) < 0)
		goto fail;
	if (fsync(fd) < 0) {
		rc = fail(f, errno, "sync", path);
		goto fail;
	}
	drop_cached(fd);
	if (close(fd) < 0) {
		fd = -1;
		rc = fail(f, errno, "write", path);
		goto fail;
	}
	fd = -1;
	if (flags & TIER_PUT_EXCLUSIVE) {
		if ((rc = publish_exclusive(f, tmp.ptr, dst.ptr, path)) < 0)
			goto fail;
		unlink(tmp.ptr);
	} else if (rename(tmp.ptr, dst.ptr) < 0) {
		rc = fail(f, errno, "replace", path);
		goto fail;
	}
	rc = sync_dir_of(f, path);
	goto out;
fail:
	if (fd >= 0)
		close(fd);
	unlink(tmp.ptr);
out:
	tier_buf_dispose(&dst);
	tier_buf_dispose(&tmp);
	return rc;
}

static int file_rename(tier_driver *drv, const char *from, const char *to)
{
	file_driver *f = fd_of(drv);
	tier_buf a = TIER_BUF_INIT, b = TIER_BUF_INIT;
	int rc;
	if ((rc = tier_driver_check_path(from, 0)) < 0 ||
	    (rc = tier_driver_check_path(to, 0)) < 0)
		return rc;
	if (full_path(&a, f, from) < 0 || full_path(&b, f, to) < 0) {
		rc = TIER_ERROR;
		goto out;
	}
	if (rename(a.ptr, b.ptr) < 0) {
		int e = errno;
		struct stat st;
		/* ENOENT may be the target's directory: make it if the source is there. */
		if (e == ENOENT && dir_len(to) > 0 && stat(a.ptr, &st) == 0) {
			if ((rc = make_dirs(f, to, dir_len(to))) < 0)
				goto out;
			if (rename(a.ptr, b.ptr) == 0)
				goto synced;
			e = errno;
		}
		rc = fail(f, e, "rename", from);
		if (e == EEXIST || e == ENOTEMPTY || e == EISDIR)
			rc = tier_error_set_errno(
			        e == EISDIR ? TIER_EUSAGE : TIER_ECONFLICT, e,
			        "cannot rename '%s' to '%s' in '%s'", from, to,
			        f->root);
		goto out;
	}
synced:
	rc = sync_dir_of(f, to);
	if (rc == 0 &&
	    (dir_len(from) != dir_len(to) || strncmp(from, to, dir_len(to))))
		rc = sync_dir_of(f, from);
out:
	tier_buf_dispose(&a);
	tier_buf_dispose(&b);
	return rc;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int file_list(tier_driver *drv, const char *dir, tier_list_cb cb,
                     void *payload)
{
	file_driver *f = fd_of(drv);
	tier_buf p = TIER_BUF_INIT;
	tier_vec names = TIER_VEC_INIT;
	struct dirent *de;
	DIR *d;
	int rc = tier_driver_check_path(dir, 1);
	if (rc < 0)
		return rc;
	if (full_path(&p, f, dir) < 0)
		return TIER_ERROR;
	if (!(d = opendir(p.ptr))) {
		rc = fail(f, errno, "list", dir);
		goto out;
	}
	for (;;) {
		errno = 0;
		if (!(de = readdir(d))) {
			if (errno)
				rc = fail(f, errno, "list", dir);
			break;
		}
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..") ||
		    tier_is_temp_name(de->d_name))
			continue;
		char *name = tier_strdup(de->d_name);
		if (!name || tier_vec_push(&names, name) < 0) {
			free(name);
			rc = TIER_ERROR;
			break;
		}
	}
	/* Sorted, so that listings of two tiers compare and tests are stable. */
	tier_vec_sort(&names, cmp_names);
	for (size_t i = 0; rc == 0 && i < names.length; i++) {
		const char *name = names.ptr[i];
		struct stat st;
		tier_stat ts;
		if (fstatat(dirfd(d), name, &st, 0) < 0) {
			if (errno == ENOENT)
				continue; /* removed since readdir */
			rc = fail(f, errno, "stat", name);
			break;
		}
		fill_stat(&ts, &st);
		if (cb(name, &ts, payload) != 0)
			rc = tier_error_set(
			        TIER_EABORTED,
			        "listing '%s' in '%s' was cancelled",
			        *dir ? dir : ".", f->root);
	}
	closedir(d);
out:
	tier_vec_dispose(&names, free);
	tier_buf_dispose(&p);
	return rc;
}

static int file_remove(tier_driver *drv, const char *path)
{
	file_driver *f = fd_of(drv);
	tier_buf p = TIER_BUF_INIT;
	int rc = tier_driver_check_path(path, 0);
	if (rc < 0)
		return rc;
	if (full_path(&p, f, path) < 0)
		return TIER_ERROR;
	if (unlink(p.ptr) < 0) {
		int e = errno;
		struct stat st;
		if ((e == EISDIR || e == EPERM) && lstat(p.ptr, &st) == 0 &&
		    S_ISDIR(st.st_mode)) {
			if (rmdir(p.ptr) == 0)
				goto removed;
			e = errno;
			if (e == ENOTEMPTY || e == EEXIST) {
				rc = tier_error_set(
				        TIER_ECONFLICT,
				        "cannot remove directory '%s' in '%s': not empty",
				        path, f->root);
				goto out;
			}
		}
		rc = fail(f, e, "remove", path);
		goto out;
	}
removed:
	rc = sync_dir_of(f, path);
out:
	tier_buf_dispose(&p);
	return rc;
}

static int file_mkdir_p(tier_driver *drv, const char *path)
{
	file_driver *f = fd_of(drv);
	int rc = tier_driver_check_path(path, 1);
	if (rc < 0)
		return rc;
	if (!*path)
		return root_check(f);
	return make_dirs(f, path, strlen(path));
}

static void file_free(tier_driver *drv)
{
	file_driver *f = fd_of(drv);
	if (!f)
		return;
	free(f->root);
	free(f);
}

int tier_driver_file_open(tier_driver **out, const tier_url *url,
                          const tier_location_options *opts)
{
	(void)opts;
	*out = NULL;
	if (!url->path || url->path[0] != '/')
		return tier_error_set(
		        TIER_EUSAGE,
		        "file tier needs an absolute path, not '%s'",
		        url->path ? url->path : "");
	file_driver *f = tier_calloc(1, sizeof(*f));
	if (!f)
		return TIER_ERROR;
	size_t n = strlen(url->path);
	while (n > 1 && url->path[n - 1] == '/')
		n--;
	if (!(f->root = tier_strndup(url->path, n))) {
		free(f);
		return TIER_ERROR;
	}
	f->shared = -1;
	f->base.version = TIER_DRIVER_VERSION;
	f->base.caps = TIER_DRIVER_CAP_RENAME_OVERWRITE |
	               TIER_DRIVER_CAP_EXCLUSIVE | TIER_DRIVER_CAP_DIRS |
	               TIER_DRIVER_CAP_RENAME;
	f->base.ping = file_ping;
	f->base.stat = file_stat;
	f->base.get = file_get;
	f->base.put = file_put;
	f->base.rename = file_rename;
	f->base.list = file_list;
	f->base.remove = file_remove;
	f->base.mkdir_p = file_mkdir_p;
	f->base.free = file_free;
	*out = &f->base;
	return 0;
}
