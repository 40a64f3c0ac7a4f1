/*
 * The put of the file:// driver (R3's writes on a local tier): the object
 * is written to a temp name beside it, fsynced, then renamed over the name
 * (or linked, for an exclusive put), and its directory synced, so that
 * nothing half-written is ever visible by its name.  A put of a local file
 * may hard-link it instead of copying (put_by_link).
 */
#include "driver/drivers.h"
#include "driver/file_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h> /* rename */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/buf.h"
#include "util/pace.h"
#include "util/posix.h"

#define COPY_BLOCK (256 * 1024)

/* Copy the source into fd.  Errors on the source side are local: TIER_ERROR. */
static int copy_source(file_driver *f, int fd, const tier_source *src,
                       const char *rel)
{
	tier_pace pace;
	tier_pace_start(&pace, f->max_send);
	if (src->data) {
		if (src->size > SIZE_MAX)
			return tier_error_set(TIER_EUSAGE,
			                      "source for '%s' too large", rel);
		/* a block at a time only to pace it */
		const char *d = src->data;
		size_t left = (size_t)src->size,
		       step = f->max_send ? COPY_BLOCK : left;
		while (left) {
			size_t n = left < step ? left : step;
			if (tier_write_all(fd, d, n, rel) < 0)
				return tier_file_fail(f, errno, "write", rel);
			tier_pace_add(&pace, n);
			d += n;
			left -= n;
		}
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
			rc = tier_file_fail(f, errno, "write", rel);
			break;
		}
		pos += got;
		tier_pace_add(&pace, got);
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
	return tier_file_fail(f, e, "create", rel);
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
		if (errno == ENOENT && !made_dirs &&
		    tier_file_dir_len(path) > 0) {
			made_dirs = 1;
			if ((rc = tier_file_make_dirs(
			             f, path, tier_file_dir_len(path))) < 0)
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
		rc = tier_file_fail(f, errno, "open", path);
		goto fail;
	}
	if (fchmod(fd, tier_file_mode(f)) < 0 || fsync(fd) < 0) {
		rc = tier_file_fail(f, errno, "sync", path);
		close(fd);
		goto fail;
	}
	drop_cached(fd);
	close(fd);
	if (rename(tmp->ptr, dst->ptr) < 0) {
		rc = tier_file_fail(f, errno, "replace", path);
		goto fail;
	}
	return tier_file_sync_dir_of(f, path);
fail:
	unlink(tmp->ptr);
	return rc;
}

int tier_file_put(tier_driver *drv, const char *path, const tier_source *src,
                  unsigned int flags)
{
	file_driver *f = tier_file_of(drv);
	tier_buf dst = TIER_BUF_INIT, tmp = TIER_BUF_INIT;
	int fd = -1, rc = tier_driver_check_path(path, 0);
	struct stat st;
	if (rc < 0)
		return rc;
	if (!src->data && src->fd < 0 && src->size > 0)
		return tier_error_set(TIER_EUSAGE, "no source for '%s'", path);
	if (tier_file_path(&dst, f, path) < 0)
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
	if (src->link_path && !(flags & TIER_PUT_EXCLUSIVE) &&
	    !tier_file_is_shared(f) && !f->max_send /* a cap: copy, paced */ &&
	    is_source_file(src->link_path, src->fd, src->size)) {
		rc = put_by_link(f, src->link_path, &tmp, &dst, path);
		if (rc != TEMP_FAILED)
			goto out;
		rc = 0; /* another file system: copy */
	}
	rc = create_temp(f, &tmp, dst.ptr, path, make_file, NULL, &fd);
	if (rc == TEMP_FAILED)
		rc = tier_file_fail(f, errno, "create", path);
	if (rc < 0)
		goto out;
	/* exactly this mode, whatever the umask */
	if (fchmod(fd, tier_file_mode(f)) < 0) {
		rc = tier_file_fail(f, errno, "set the mode of", path);
		goto fail;
	}
	if ((rc = copy_source(f, fd, src, path)) < 0)
		goto fail;
	if (fsync(fd) < 0) {
		rc = tier_file_fail(f, errno, "sync", path);
		goto fail;
	}
	drop_cached(fd);
	if (close(fd) < 0) {
		fd = -1;
		rc = tier_file_fail(f, errno, "write", path);
		goto fail;
	}
	fd = -1;
	if (flags & TIER_PUT_EXCLUSIVE) {
		if ((rc = publish_exclusive(f, tmp.ptr, dst.ptr, path)) < 0)
			goto fail;
		unlink(tmp.ptr);
	} else if (rename(tmp.ptr, dst.ptr) < 0) {
		rc = tier_file_fail(f, errno, "replace", path);
		goto fail;
	}
	rc = tier_file_sync_dir_of(f, path);
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
