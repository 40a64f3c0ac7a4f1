#include "util/posix.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Set the message from errno and leave errno as it was for the caller. */
static int fail_errno(int errnum, const char *fmt, const char *arg)
{
	int rc = tier_error_set_errno(tier_error_from_errno(errnum), errnum,
	                              fmt, arg);
	errno = errnum;
	return rc;
}

int tier_write_all(int fd, const void *data, size_t len, const char *what)
{
	const char *p = data;
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			int e = errno;
			if (what)
				return fail_errno(e, "cannot write '%s'", what);
			int rc = tier_error_set_errno(
			        tier_error_from_errno(e), e,
			        "cannot write file descriptor %d", fd);
			errno = e;
			return rc;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int tier_pread_all(int fd, void *buf, size_t len, uint64_t off, size_t *got,
                   const char *what)
{
	char *p = buf;
	size_t done = 0;
	if (got)
		*got = 0;
	if (off > (uint64_t)INT64_MAX)
		return tier_error_set(
		        TIER_EUSAGE, "offset %llu out of range reading '%s'",
		        (unsigned long long)off, what ? what : "file");
	while (done < len) {
		ssize_t n =
		        pread(fd, p + done, len - done, (off_t)(off + done));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			int e = errno;
			if (got)
				*got = done;
			return fail_errno(e, "cannot read '%s'",
			                  what ? what : "file");
		}
		if (n == 0)
			break;
		done += (size_t)n;
	}
	if (got)
		*got = done;
	else if (done < len)
		return tier_error_set(TIER_ECORRUPT,
		                      "'%s' is truncated: %zu of %zu bytes",
		                      what ? what : "file", done, len);
	return 0;
}

int tier_fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return fail_errno(errno, "cannot open directory '%s'", dir);
	int rc = 0;
	/* Some file systems cannot fsync a directory; there is nothing better. */
	if (fsync(fd) < 0 && errno != EINVAL && errno != ENOTSUP &&
	    errno != EROFS) {
		int e = errno;
		rc = fail_errno(e, "cannot sync directory '%s'", dir);
		close(fd);
		errno = e;
		return rc;
	}
	close(fd);
	return rc;
}

/* The directory part of path into out ("." for a bare name). */
static int parent_of(tier_buf *out, const char *path)
{
	const char *slash = strrchr(path, '/');
	if (!slash)
		return tier_buf_sets(out, ".");
	if (slash == path)
		return tier_buf_sets(out, "/");
	tier_buf_clear(out);
	return tier_buf_put(out, path, (size_t)(slash - path));
}

int tier_fsync_parent(const char *path)
{
	tier_buf dir = TIER_BUF_INIT;
	int rc = parent_of(&dir, path);
	if (rc == 0)
		rc = tier_fsync_dir(dir.ptr);
	tier_buf_dispose(&dir);
	return rc;
}

int tier_mkdir_p(const char *path, mode_t mode)
{
	tier_buf b = TIER_BUF_INIT;
	struct stat st;
	int rc = 0;

	if (!*path)
		return tier_error_set(
		        TIER_EUSAGE,
		        "cannot create a directory with an empty name");
	if (stat(path, &st) == 0) {
		if (S_ISDIR(st.st_mode))
			return 0;
		errno = ENOTDIR;
		return tier_error_set(TIER_ECONFLICT,
		                      "'%s' exists and is not a directory",
		                      path);
	}
	if (tier_buf_sets(&b, path) < 0)
		return TIER_ERROR;
	/* Walk the components left to right; each prefix is made in turn. */
	for (char *p = b.ptr + 1;; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		char saved = *p;
		*p = '\0';
		if (mkdir(b.ptr, mode) == 0) {
			if ((rc = tier_fsync_parent(b.ptr)) < 0)
				break;
		} else if (errno == EEXIST) {
			if (stat(b.ptr, &st) < 0 || !S_ISDIR(st.st_mode)) {
				rc = tier_error_set(
				        TIER_ECONFLICT,
				        "'%s' exists and is not a directory",
				        b.ptr);
				errno = ENOTDIR;
				break;
			}
		} else {
			rc = fail_errno(errno, "cannot create directory '%s'",
			                b.ptr);
			break;
		}
		*p = saved;
		if (!saved)
			break;
		while (p[1] == '/')
			p++;
		if (!p[1])
			break;
	}
	tier_buf_dispose(&b);
	return rc;
}

/* Remove everything inside the open directory dfd (which is closed). */
static int rm_rf_in(int dfd, const char *path)
{
	DIR *d = fdopendir(dfd);
	struct dirent *de;
	int rc = 0;
	if (!d) {
		int e = errno;
		close(dfd);
		return fail_errno(e, "cannot read directory '%s'", path);
	}
	while (rc == 0) {
		errno = 0;
		if (!(de = readdir(d))) {
			if (errno)
				rc = fail_errno(errno,
				                "cannot read directory '%s'",
				                path);
			break;
		}
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (unlinkat(dirfd(d), de->d_name, 0) == 0 || errno == ENOENT)
			continue;
		if (errno != EISDIR && errno != EPERM) {
			rc = fail_errno(errno, "cannot remove '%s'",
			                de->d_name);
			break;
		}
		int sub =
		        openat(dirfd(d), de->d_name,
		               O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (sub < 0) {
			rc = fail_errno(errno, "cannot open directory '%s'",
			                de->d_name);
			break;
		}
		tier_buf sp = TIER_BUF_INIT;
		if (tier_buf_printf(&sp, "%s/%s", path, de->d_name) < 0) {
			close(sub);
			rc = TIER_ERROR;
			break;
		}
		rc = rm_rf_in(sub, sp.ptr);
		tier_buf_dispose(&sp);
		if (rc == 0 &&
		    unlinkat(dirfd(d), de->d_name, AT_REMOVEDIR) < 0 &&
		    errno != ENOENT)
			rc = fail_errno(errno, "cannot remove directory '%s'",
			                de->d_name);
	}
	closedir(d);
	return rc;
}

int tier_rm_rf(const char *path)
{
	struct stat st;
	if (lstat(path, &st) < 0)
		return errno == ENOENT
		               ? 0
		               : fail_errno(errno, "cannot remove '%s'", path);
	if (!S_ISDIR(st.st_mode)) {
		if (unlink(path) < 0 && errno != ENOENT)
			return fail_errno(errno, "cannot remove '%s'", path);
		return 0;
	}
	int dfd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0)
		return fail_errno(errno, "cannot open directory '%s'", path);
	int rc = rm_rf_in(dfd, path);
	if (rc == 0 && rmdir(path) < 0 && errno != ENOENT)
		rc = fail_errno(errno, "cannot remove directory '%s'", path);
	return rc;
}

int tier_temp_name(tier_buf *out, const char *path)
{
	static _Thread_local uint64_t counter;
	uint64_t r = 0;
	if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != (ssize_t)sizeof(r)) {
		/* No entropy yet (early boot): time and a counter are enough with O_EXCL. */
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		r = ((uint64_t)ts.tv_sec << 30) ^ (uint64_t)ts.tv_nsec;
	}
	r ^= ++counter * 0x9e3779b97f4a7c15ull;
	tier_buf_clear(out);
	return tier_buf_printf(out, "%s.tmp-%ld-%016llx", path, (long)getpid(),
	                       (unsigned long long)r);
}

int tier_is_temp_name(const char *name)
{
	const char *t = strstr(name, ".tmp-");
	/* The last ".tmp-" counts: "a.tmp-1-x.tmp-2-ff" is a temp of a temp. */
	for (const char *n = t; n; n = strstr(n + 1, ".tmp-"))
		t = n;
	if (!t || t == name)
		return 0;
	const char *p = t + 5;
	size_t digits = strspn(p, "0123456789");
	if (!digits || p[digits] != '-')
		return 0;
	p += digits + 1;
	size_t hex = strspn(p, "0123456789abcdef");
	return hex > 0 && p[hex] == '\0';
}

int tier_atomic_write_mode(const char *path, const void *data, size_t len,
                           mode_t mode)
{
	tier_buf tmp = TIER_BUF_INIT;
	int fd = -1, rc = 0, tries = 0;

	do {
		if (tier_temp_name(&tmp, path) < 0)
			return TIER_ERROR;
		fd = open(tmp.ptr, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
		          mode);
	} while (fd < 0 && errno == EEXIST && ++tries < 10);
	if (fd < 0) {
		rc = fail_errno(errno, "cannot create '%s'", tmp.ptr);
		tier_buf_dispose(&tmp);
		return rc;
	}
	if ((rc = tier_write_all(fd, data, len, path)) < 0)
		goto fail;
	if (fsync(fd) < 0) {
		rc = fail_errno(errno, "cannot sync '%s'", path);
		goto fail;
	}
	if (close(fd) < 0) {
		fd = -1;
		rc = fail_errno(errno, "cannot write '%s'", path);
		goto fail;
	}
	fd = -1;
	if (rename(tmp.ptr, path) < 0) {
		rc = fail_errno(errno, "cannot replace '%s'", path);
		goto fail;
	}
	tier_buf_dispose(&tmp);
	return tier_fsync_parent(path);

fail:;
	int e = errno;
	if (fd >= 0)
		close(fd);
	unlink(tmp.ptr);
	tier_buf_dispose(&tmp);
	errno = e;
	return rc;
}

int tier_atomic_write(const char *path, const void *data, size_t len)
{
	return tier_atomic_write_mode(path, data, len, 0666);
}

int tier_read_file(tier_buf *out, const char *path, size_t max_len)
{
	struct stat st;
	int rc = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	tier_buf_clear(out);
	if (fd < 0)
		return fail_errno(errno, "cannot open '%s'", path);
	if (fstat(fd, &st) < 0) {
		rc = fail_errno(errno, "cannot stat '%s'", path);
		goto out;
	}
	if (S_ISDIR(st.st_mode)) {
		errno = EISDIR;
		rc = tier_error_set(TIER_EUSAGE, "'%s' is a directory", path);
		goto out;
	}
	/* Read to the end rather than trusting st_size (a file being appended). */
	for (;;) {
		if (tier_buf_grow(out, 8192) < 0) {
			rc = TIER_ERROR;
			goto out;
		}
		out->ptr[out->size] =
		        '\0'; /* grow leaves new memory as it was */
		ssize_t n = read(fd, out->ptr + out->size,
		                 out->asize - out->size - 1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			rc = fail_errno(errno, "cannot read '%s'", path);
			goto out;
		}
		if (n == 0)
			break;
		out->size += (size_t)n;
		out->ptr[out->size] = '\0';
		if (max_len && out->size > max_len) {
			rc = tier_error_set(TIER_ECORRUPT,
			                    "'%s' is larger than %zu bytes",
			                    path, max_len);
			goto out;
		}
	}
out:;
	int e = errno;
	close(fd);
	errno = e;
	return rc;
}

void tier_sleep_ms(unsigned int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

int64_t tier_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
