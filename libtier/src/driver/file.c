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
#include "driver/file_int.h"

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
#include "util/pace.h"

#define GET_BLOCK (256 * 1024)

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
int tier_file_is_shared(file_driver *f)
{
	struct stat st;
	if (f->shared < 0 && stat(f->root, &st) == 0)
		f->shared = (st.st_mode & S_ISGID) ? 1 : 0;
	return f->shared > 0;
}

static mode_t dir_mode(file_driver *f)
{
	return tier_file_is_shared(f) ? SHARED_DIR_MODE : PRIVATE_DIR_MODE;
}

mode_t tier_file_mode(file_driver *f)
{
	return tier_file_is_shared(f) ? SHARED_FILE_MODE : PRIVATE_FILE_MODE;
}

/*
 * Classify errno after a failed call on rel ("cannot <verb> '<rel>' in
 * '<root>'").  The codes are the driver contract: only the transient ones
 * may be TIER_EOFFLINE, or the reconnect layer would retry a full disk.
 */
int tier_file_fail(file_driver *f, int e, const char *verb, const char *rel)
{
	int code, rc;
	switch (e) {
	case ENOENT:
	case ENOTDIR:
		if ((rc = root_check(f)) < 0)
			return rc;
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

int tier_file_path(tier_buf *out, file_driver *f, const char *rel)
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
int tier_file_make_dirs(file_driver *f, const char *rel, size_t prefix_len)
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
		if (!sub || tier_file_path(&p, f, sub) < 0) {
			free(sub);
			rc = TIER_ERROR;
			break;
		}
		if (mkdir(p.ptr, dir_mode(f)) == 0) {
			/* the umask may have taken more than we meant */
			if (chmod(p.ptr, dir_mode(f)) < 0)
				rc = tier_file_fail(f, errno, "set the mode of",
				                    sub);
			else if (tier_fsync_parent(p.ptr) < 0)
				rc = tier_file_fail(f, errno,
				                    "sync directory of", sub);
		} else if (errno == EEXIST) {
			struct stat st;
			if (stat(p.ptr, &st) == 0 && !S_ISDIR(st.st_mode))
				rc = tier_error_set(
				        TIER_ECONFLICT,
				        "'%s' in '%s' exists and is not a directory",
				        sub, f->root);
		} else {
			rc = tier_file_fail(f, errno, "create directory", sub);
		}
		free(sub);
		i++; /* the '/' */
	}
	tier_buf_dispose(&p);
	return rc;
}

/* Length of the directory part of rel ("a/b/c" -> 3), 0 for a bare name. */
size_t tier_file_dir_len(const char *rel)
{
	const char *s = strrchr(rel, '/');
	return s ? (size_t)(s - rel) : 0;
}

int tier_file_sync_dir_of(file_driver *f, const char *rel)
{
	tier_buf p = TIER_BUF_INIT;
	char *dir = tier_strndup(rel, tier_file_dir_len(rel));
	int rc = TIER_ERROR;
	if (dir && tier_file_path(&p, f, dir) == 0) {
		rc = tier_fsync_dir(p.ptr);
		if (rc < 0)
			rc = tier_file_fail(f, errno, "sync directory", dir);
	}
	free(dir);
	tier_buf_dispose(&p);
	return rc;
}

static int file_ping(tier_driver *drv)
{
	file_driver *f = tier_file_of(drv);
	int rc = root_check(f);
	if (rc < 0)
		return rc;
	/* A dead share may still stat from cache; reading the directory is a real probe. */
	DIR *d = opendir(f->root);
	if (!d)
		return tier_file_fail(f, errno, "read", "");
	errno = 0;
	if (!readdir(d) && errno) {
		int e = errno;
		closedir(d);
		return tier_file_fail(f, e, "read", "");
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
	file_driver *f = tier_file_of(drv);
	tier_buf p = TIER_BUF_INIT;
	struct stat st;
	int rc = tier_driver_check_path(path, 1);
	if (rc < 0)
		return rc;
	if (tier_file_path(&p, f, path) < 0)
		return TIER_ERROR;
	if (stat(p.ptr, &st) < 0)
		rc = tier_file_fail(f, errno, "stat", path);
	else
		fill_stat(out, &st);
	tier_buf_dispose(&p);
	return rc;
}

/* Open rel for reading: an object, never a directory.  The fd or a code. */
static int get_open(file_driver *f, const char *path, const char *full,
                    struct stat *st)
{
	int fd = open(full, O_RDONLY | O_CLOEXEC), rc;
	if (fd < 0)
		return tier_file_fail(f, errno, "open", path);
	if (fstat(fd, st) < 0)
		rc = tier_file_fail(f, errno, "stat", path);
	else if (S_ISDIR(st->st_mode))
		/* a directory where an object belongs: damage, not usage */
		rc = tier_error_set(TIER_ECORRUPT,
		                    "cannot read '%s' in '%s': is a directory",
		                    path, f->root);
	else
		return fd;
	close(fd);
	return rc;
}

/*
 * Objects are written whole (put is atomic), so a range that runs past
 * the end means the object is not what the caller's index says it is.
 * The end of the range into *endp.
 */
static int get_range(file_driver *f, const char *path, uint64_t size,
                     uint64_t offset, uint64_t len, uint64_t *endp)
{
	uint64_t end = len == UINT64_MAX || len > UINT64_MAX - offset
	                       ? UINT64_MAX
	                       : offset + len;
	if (offset > size || (end != UINT64_MAX && end > size))
		return tier_error_set(
		        TIER_ECORRUPT,
		        "'%s' in '%s' has %llu bytes, less than the %llu asked for",
		        path, f->root, (unsigned long long)size,
		        (unsigned long long)(end == UINT64_MAX ? offset : end));
	*endp = end == UINT64_MAX ? size : end;
	return 0;
}

/* Bytes [pos, end) of fd to the sink, a block at a time. */
static int get_copy(file_driver *f, const char *path, int fd, uint64_t pos,
                    uint64_t end, tier_sink_cb sink, void *payload)
{
	char *block = tier_malloc(GET_BLOCK);
	tier_pace pace;
	int rc = 0;
	if (!block)
		return TIER_ERROR;
	tier_pace_start(&pace, f->max_recv);
	while (rc == 0 && pos < end) {
		size_t want =
		        end - pos < GET_BLOCK ? (size_t)(end - pos) : GET_BLOCK;
		size_t got = 0;
		if (tier_pread_all(fd, block, want, pos, &got, path) < 0)
			rc = tier_file_fail(f, errno, "read", path);
		else if (got == 0)
			rc = tier_error_set(
			        TIER_ECORRUPT,
			        "'%s' in '%s' shrank while being read", path,
			        f->root);
		else if (sink(block, got, payload) != 0)
			rc = tier_error_set(
			        TIER_EABORTED,
			        "reading '%s' in '%s' was cancelled", path,
			        f->root);
		pos += got;
		tier_pace_add(&pace, got);
	}
	free(block);
	return rc;
}

static int file_get(tier_driver *drv, const char *path, uint64_t offset,
                    uint64_t len, tier_sink_cb sink, void *payload)
{
	file_driver *f = tier_file_of(drv);
	tier_buf p = TIER_BUF_INIT;
	struct stat st;
	uint64_t end = 0;
	int fd, rc = tier_driver_check_path(path, 0);
	if (rc < 0)
		return rc;
	if (tier_file_path(&p, f, path) < 0)
		return TIER_ERROR;
	fd = get_open(f, path, p.ptr, &st);
	tier_buf_dispose(&p);
	if (fd < 0)
		return fd;
	rc = get_range(f, path, (uint64_t)st.st_size, offset, len, &end);
	if (rc == 0)
		rc = get_copy(f, path, fd, offset, end, sink, payload);
	close(fd);
	return rc;
}

static int file_rename(tier_driver *drv, const char *from, const char *to)
{
	file_driver *f = tier_file_of(drv);
	tier_buf a = TIER_BUF_INIT, b = TIER_BUF_INIT;
	int rc;
	if ((rc = tier_driver_check_path(from, 0)) < 0 ||
	    (rc = tier_driver_check_path(to, 0)) < 0)
		return rc;
	if (tier_file_path(&a, f, from) < 0 || tier_file_path(&b, f, to) < 0) {
		rc = TIER_ERROR;
		goto out;
	}
	if (rename(a.ptr, b.ptr) < 0) {
		int e = errno;
		struct stat st;
		/* ENOENT may be the target's directory: make it if the source is there. */
		if (e == ENOENT && tier_file_dir_len(to) > 0 &&
		    stat(a.ptr, &st) == 0) {
			if ((rc = tier_file_make_dirs(
			             f, to, tier_file_dir_len(to))) < 0)
				goto out;
			if (rename(a.ptr, b.ptr) == 0)
				goto synced;
			e = errno;
		}
		rc = tier_file_fail(f, e, "rename", from);
		if (e == EEXIST || e == ENOTEMPTY || e == EISDIR)
			rc = tier_error_set_errno(
			        e == EISDIR ? TIER_EUSAGE : TIER_ECONFLICT, e,
			        "cannot rename '%s' to '%s' in '%s'", from, to,
			        f->root);
		goto out;
	}
synced:
	rc = tier_file_sync_dir_of(f, to);
	if (rc == 0 && (tier_file_dir_len(from) != tier_file_dir_len(to) ||
	                strncmp(from, to, tier_file_dir_len(to))))
		rc = tier_file_sync_dir_of(f, from);
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
	file_driver *f = tier_file_of(drv);
	tier_buf p = TIER_BUF_INIT;
	tier_vec names = TIER_VEC_INIT;
	struct dirent *de;
	DIR *d;
	int rc = tier_driver_check_path(dir, 1);
	if (rc < 0)
		return rc;
	if (tier_file_path(&p, f, dir) < 0)
		return TIER_ERROR;
	if (!(d = opendir(p.ptr))) {
		rc = tier_file_fail(f, errno, "list", dir);
		goto out;
	}
	for (;;) {
		errno = 0;
		if (!(de = readdir(d))) {
			if (errno)
				rc = tier_file_fail(f, errno, "list", dir);
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
			rc = tier_file_fail(f, errno, "stat", name);
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
	file_driver *f = tier_file_of(drv);
	tier_buf p = TIER_BUF_INIT;
	int rc = tier_driver_check_path(path, 0);
	if (rc < 0)
		return rc;
	if (tier_file_path(&p, f, path) < 0)
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
		rc = tier_file_fail(f, e, "remove", path);
		goto out;
	}
removed:
	rc = tier_file_sync_dir_of(f, path);
out:
	tier_buf_dispose(&p);
	return rc;
}

static int file_mkdir_p(tier_driver *drv, const char *path)
{
	file_driver *f = tier_file_of(drv);
	int rc = tier_driver_check_path(path, 1);
	if (rc < 0)
		return rc;
	if (!*path)
		return root_check(f);
	return tier_file_make_dirs(f, path, strlen(path));
}

static void file_free(tier_driver *drv)
{
	file_driver *f = tier_file_of(drv);
	if (!f)
		return;
	free(f->root);
	free(f);
}

int tier_driver_file_open(tier_driver **out, const tier_url *url,
                          const tier_location_options *opts)
{
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
	if (opts) {
		f->max_send = opts->max_send_speed;
		f->max_recv = opts->max_recv_speed;
	}
	f->base.version = TIER_DRIVER_VERSION;
	f->base.caps = TIER_DRIVER_CAP_RENAME_OVERWRITE |
	               TIER_DRIVER_CAP_EXCLUSIVE | TIER_DRIVER_CAP_DIRS |
	               TIER_DRIVER_CAP_RENAME;
	f->base.ping = file_ping;
	f->base.stat = file_stat;
	f->base.get = file_get;
	f->base.put = tier_file_put;
	f->base.rename = file_rename;
	f->base.list = file_list;
	f->base.remove = file_remove;
	f->base.mkdir_p = file_mkdir_p;
	f->base.free = file_free;
	*out = &f->base;
	return 0;
}
