/* The file:// driver, called through its table with a hand-made URL. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "driver/drivers.h"
#include "helpers.h"
#include "tier/errors.h"
#include "util/posix.h"

static char dir[4096];  /* the test's temp dir */
static char root[4096]; /* the tier root inside it */
static tier_url url;
static tier_driver *drv;

static void setup(void)
{
	const char *d = tt_tmpdir();
	cr_assert_not_null(d);
	strcpy(dir, d);
	snprintf(root, sizeof(root), "%s/tier", dir);
	cr_assert_eq(mkdir(root, 0777), 0);
	memset(&url, 0, sizeof(url));
	url.scheme = "file";
	url.path = root;
	cr_assert_eq(tier_driver_file_open(&drv, &url, NULL), 0, "%s",
	             tier_error_last());
}

static void teardown(void)
{
	if (drv)
		drv->free(drv);
	drv = NULL;
	tt_rmrf(dir);
}

TestSuite(driver_file, .init = setup, .fini = teardown);

/* Deterministic pseudo-random bytes (so that a misplaced block shows). */
static char *make_data(size_t n, uint32_t seed)
{
	char *p = malloc(n);
	uint32_t x = seed ? seed : 1;
	for (size_t i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		p[i] = (char)x;
	}
	return p;
}

typedef struct {
	tier_buf buf;
	int calls;
	int stop_after; /* abort on this call (0: never) */
} sink_state;

static int sink(const void *data, size_t len, void *payload)
{
	sink_state *s = payload;
	s->calls++;
	if (s->stop_after && s->calls >= s->stop_after)
		return 1;
	return tier_buf_put(&s->buf, data, len);
}

static int put_mem(const char *path, const void *data, size_t len,
                   unsigned int flags)
{
	tier_source src = {data, -1, len, NULL};
	return drv->put(drv, path, &src, flags);
}

static int get_all(const char *path, uint64_t off, uint64_t len, tier_buf *out)
{
	sink_state s = {TIER_BUF_INIT, 0, 0};
	int rc = drv->get(drv, path, off, len, sink, &s);
	*out = s.buf;
	return rc;
}

/* Count names holding ".tmp-" anywhere under path. */
static int count_temps(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *de;
	int n = 0;
	if (!d)
		return 0;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (strstr(de->d_name, ".tmp-"))
			n++;
		if (de->d_type == DT_DIR)
			n += count_temps(tt_path("%s/%s", path, de->d_name));
	}
	closedir(d);
	return n;
}

Test(driver_file, caps_and_ping)
{
	cr_assert_eq(drv->version, TIER_DRIVER_VERSION);
	cr_assert_eq(drv->caps, TIER_DRIVER_CAP_RENAME_OVERWRITE |
	                                TIER_DRIVER_CAP_EXCLUSIVE |
	                                TIER_DRIVER_CAP_DIRS |
	                                TIER_DRIVER_CAP_RENAME);
	cr_assert_eq(drv->ping(drv), 0, "%s", tier_error_last());
}

Test(driver_file, open_needs_absolute_path)
{
	tier_driver *d = (tier_driver *)1;
	tier_url u = {0};
	u.scheme = "file";
	u.path = "relative/dir";
	cr_assert_eq(tier_driver_file_open(&d, &u, NULL), TIER_EUSAGE);
	cr_assert_null(d);
	cr_assert(strstr(tier_error_last(), "relative/dir"));
}

Test(driver_file, put_get_round_trip)
{
	size_t n =
	        700 * 1024 + 13; /* several 256 KiB blocks and a ragged end */
	char *data = make_data(n, 7);
	tier_buf got;

	cr_assert_eq(put_mem("data/3f/pack1", data, n, 0), 0, "%s",
	             tier_error_last());
	size_t flen;
	char *disk = tt_read_file(tt_path("%s/data/3f/pack1", root), &flen);
	cr_assert_not_null(disk);
	cr_assert_eq(flen, n);
	cr_assert_eq(memcmp(disk, data, n), 0);
	free(disk);

	cr_assert_eq(get_all("data/3f/pack1", 0, UINT64_MAX, &got), 0, "%s",
	             tier_error_last());
	cr_assert_eq(got.size, n);
	cr_assert_eq(memcmp(got.ptr, data, n), 0);
	tier_buf_dispose(&got);

	/* A range across a block boundary. */
	cr_assert_eq(get_all("data/3f/pack1", 262000, 5000, &got), 0);
	cr_assert_eq(got.size, 5000);
	cr_assert_eq(memcmp(got.ptr, data + 262000, 5000), 0);
	tier_buf_dispose(&got);

	/* To the end from an offset; an empty range at the very end. */
	cr_assert_eq(get_all("data/3f/pack1", n - 10, UINT64_MAX, &got), 0);
	cr_assert_eq(got.size, 10);
	cr_assert_eq(memcmp(got.ptr, data + n - 10, 10), 0);
	tier_buf_dispose(&got);
	cr_assert_eq(get_all("data/3f/pack1", n, UINT64_MAX, &got), 0);
	cr_assert_eq(got.size, 0);
	tier_buf_dispose(&got);

	/* A range past the end: the object is not what the caller thinks. */
	cr_assert_eq(get_all("data/3f/pack1", n - 10, 11, &got), TIER_ECORRUPT);
	tier_buf_dispose(&got);

	tier_stat st;
	cr_assert_eq(drv->stat(drv, "data/3f/pack1", &st), 0);
	cr_assert_eq(st.size, n);
	cr_assert_eq(st.is_dir, 0);
	cr_assert_gt(st.mtime, 0);
	cr_assert_eq(drv->stat(drv, "data/3f", &st), 0);
	cr_assert_eq(st.is_dir, 1);

	/* Overwrite (non-exclusive) replaces the content; an empty object. */
	cr_assert_eq(put_mem("data/3f/pack1", "short", 5, 0), 0);
	cr_assert_eq(get_all("data/3f/pack1", 0, UINT64_MAX, &got), 0);
	cr_assert_eq(got.size, 5);
	cr_assert_eq(memcmp(got.ptr, "short", 5), 0);
	tier_buf_dispose(&got);
	cr_assert_eq(put_mem("empty", "", 0, 0), 0);
	cr_assert_eq(drv->stat(drv, "empty", &st), 0);
	cr_assert_eq(st.size, 0);
	cr_assert_eq(count_temps(root), 0);
	free(data);
}

Test(driver_file, put_from_fd)
{
	size_t n = 300 * 1024;
	char *data = make_data(n, 99);
	const char *src_path = tt_path("%s/source", dir);
	cr_assert_eq(tt_write_file(src_path, data, n), 0);
	int fd = open(src_path, O_RDONLY);
	cr_assert_geq(fd, 0);
	/* pread from 0: where the fd's own offset stands does not matter. */
	cr_assert_eq(lseek(fd, 1000, SEEK_SET), 1000);
	tier_source src = {NULL, fd, n, NULL};
	cr_assert_eq(drv->put(drv, "objects/x", &src, 0), 0, "%s",
	             tier_error_last());
	/* And again, as a retry would. */
	cr_assert_eq(drv->put(drv, "objects/y", &src, 0), 0, "%s",
	             tier_error_last());
	close(fd);

	tier_buf got;
	cr_assert_eq(get_all("objects/y", 0, UINT64_MAX, &got), 0);
	cr_assert_eq(got.size, n);
	cr_assert_eq(memcmp(got.ptr, data, n), 0);
	tier_buf_dispose(&got);
	free(data);
}

Test(driver_file, put_by_link)
{
	size_t n = 200 * 1024;
	char *data = make_data(n, 7);
	const char *src_path = tt_path("%s/finished-pack", dir);
	cr_assert_eq(tt_write_file(src_path, data, n), 0);
	cr_assert_eq(chmod(src_path, 0600), 0);
	int fd = open(src_path, O_RDONLY);
	cr_assert_geq(fd, 0);
	tier_source src = {NULL, fd, n, src_path};
	cr_assert_eq(drv->put(drv, "data/ab/linked", &src, 0), 0, "%s",
	             tier_error_last());

	/* same file system: the tier's object is the same inode, no copy */
	struct stat a, b;
	cr_assert_eq(stat(src_path, &a), 0);
	cr_assert_eq(stat(tt_path("%s/data/ab/linked", root), &b), 0);
	cr_assert_eq(a.st_ino, b.st_ino);
	cr_assert_eq(b.st_nlink, 2);
	/* with the mode a copy would have had: private */
	cr_assert_eq(b.st_mode & 07777, 0600, "%o", b.st_mode & 07777);
	cr_assert_eq(count_temps(root), 0);

	/* the caller drops its name: the tier keeps the bytes */
	cr_assert_eq(unlink(src_path), 0);
	tier_buf got;
	cr_assert_eq(get_all("data/ab/linked", 0, UINT64_MAX, &got), 0);
	cr_assert_eq(got.size, n);
	cr_assert_eq(memcmp(got.ptr, data, n), 0);
	tier_buf_dispose(&got);

	/* a link_path that does not hold the announced bytes is copied from fd */
	const char *other = tt_path("%s/other", dir);
	cr_assert_eq(tt_write_file(other, data, 100), 0);
	tier_source wrong = {NULL, fd, n, other};
	cr_assert_eq(drv->put(drv, "data/ab/copied", &wrong, 0), 0, "%s",
	             tier_error_last());
	cr_assert_eq(stat(other, &a), 0);
	cr_assert_eq(stat(tt_path("%s/data/ab/copied", root), &b), 0);
	cr_assert_neq(a.st_ino, b.st_ino);
	cr_assert_eq(b.st_size, (off_t)n);

	/* an exclusive put never links (it must fail if the name exists) */
	tier_source excl = {NULL, fd, n, other};
	cr_assert_eq(drv->put(drv, "data/ab/linked", &excl, TIER_PUT_EXCLUSIVE),
	             TIER_ECONFLICT);
	close(fd);
	free(data);
}

Test(driver_file, no_temp_files_left)
{
	char *data = make_data(4096, 3);
	for (int i = 0; i < 5; i++)
		cr_assert_eq(put_mem(tt_path("a/b/obj%d", i), data, 4096, 0),
		             0);
	cr_assert_eq(count_temps(root), 0);

	/* The source is shorter than announced: fails, nothing under the name, no temp. */
	const char *src_path = tt_path("%s/short", dir);
	cr_assert_eq(tt_write_file(src_path, data, 100), 0);
	int fd = open(src_path, O_RDONLY);
	tier_source src = {NULL, fd, 4096, NULL};
	int rc = drv->put(drv, "a/b/truncated", &src, 0);
	close(fd);
	cr_assert_eq(rc, TIER_ERROR, "%d %s", rc, tier_error_last());
	cr_assert(strstr(tier_error_last(), "a/b/truncated"), "%s",
	          tier_error_last());
	cr_assert_neq(access(tt_path("%s/a/b/truncated", root), F_OK), 0);
	cr_assert_eq(count_temps(root), 0);

	/* The target is a directory: rename fails after the data is written. */
	cr_assert_eq(mkdir(tt_path("%s/a/b/isdir", root), 0777), 0);
	rc = put_mem("a/b/isdir", data, 4096, 0);
	cr_assert_lt(rc, 0);
	cr_assert_neq(rc, TIER_EOFFLINE,
	              "a permanent problem must not be retried");
	cr_assert_eq(count_temps(root), 0);

	/* Exclusive conflict cleans up too. */
	cr_assert_eq(put_mem("a/b/obj0", data, 4096, TIER_PUT_EXCLUSIVE),
	             TIER_ECONFLICT);
	cr_assert_eq(count_temps(root), 0);
	free(data);
}

Test(driver_file, exclusive_put)
{
	tier_buf got;
	cr_assert_eq(put_mem("refs/lock", "first", 5, TIER_PUT_EXCLUSIVE), 0,
	             "%s", tier_error_last());
	cr_assert_eq(put_mem("refs/lock", "second", 6, TIER_PUT_EXCLUSIVE),
	             TIER_ECONFLICT);
	cr_assert_eq(tier_error_last_code(), TIER_ECONFLICT);
	cr_assert(strstr(tier_error_last(), "refs/lock"), "%s",
	          tier_error_last());
	cr_assert_eq(get_all("refs/lock", 0, UINT64_MAX, &got), 0);
	cr_assert_eq(got.size, 5);
	cr_assert_eq(memcmp(got.ptr, "first", 5), 0);
	tier_buf_dispose(&got);
	/* Without the flag it overwrites. */
	cr_assert_eq(put_mem("refs/lock", "second", 6, 0), 0);
	cr_assert_eq(get_all("refs/lock", 0, UINT64_MAX, &got), 0);
	cr_assert_eq(got.size, 6);
	tier_buf_dispose(&got);
}

/* Every call on a tier whose root is away is offline, and nothing recreates it. */
static void assert_all_offline(void)
{
	tier_stat st;
	tier_buf got;
	cr_assert_eq(drv->ping(drv), TIER_EOFFLINE);
	cr_assert(strstr(tier_error_last(), "is not there (unmounted?)"), "%s",
	          tier_error_last());
	cr_assert(strstr(tier_error_last(), root), "%s", tier_error_last());
	cr_assert_eq(drv->stat(drv, "obj", &st), TIER_EOFFLINE);
	cr_assert_eq(drv->stat(drv, "missing", &st), TIER_EOFFLINE);
	cr_assert_eq(get_all("obj", 0, UINT64_MAX, &got), TIER_EOFFLINE);
	tier_buf_dispose(&got);
	cr_assert_eq(put_mem("new/deep/obj", "x", 1, 0), TIER_EOFFLINE, "%s",
	             tier_error_last());
	cr_assert_eq(put_mem("top", "x", 1, TIER_PUT_EXCLUSIVE), TIER_EOFFLINE);
	cr_assert_eq(drv->mkdir_p(drv, "some/dir"), TIER_EOFFLINE);
	cr_assert_eq(drv->mkdir_p(drv, ""), TIER_EOFFLINE);
	cr_assert_eq(drv->remove(drv, "obj"), TIER_EOFFLINE);
	cr_assert_eq(drv->rename(drv, "obj", "obj2"), TIER_EOFFLINE);
	cr_assert_eq(drv->list(drv, "", NULL, NULL), TIER_EOFFLINE);
	cr_assert_eq(drv->list(drv, "sub", NULL, NULL), TIER_EOFFLINE);
}

Test(driver_file, vanished_root_is_offline)
{
	char away[4200];
	tier_stat st;
	snprintf(away, sizeof(away), "%s.away", root);
	cr_assert_eq(put_mem("obj", "hello", 5, 0), 0);
	cr_assert_eq(mkdir(tt_path("%s/sub", root), 0777), 0);

	cr_assert_eq(rename(root, away), 0);
	assert_all_offline();
	cr_assert_neq(access(root, F_OK), 0, "the root must not be recreated");

	/* The share comes back: everything answers again, data intact. */
	cr_assert_eq(rename(away, root), 0);
	cr_assert_eq(drv->ping(drv), 0, "%s", tier_error_last());
	cr_assert_eq(drv->stat(drv, "obj", &st), 0);
	cr_assert_eq(st.size, 5);
	cr_assert_eq(drv->stat(drv, "missing", &st), TIER_ENOTFOUND);

	/* A root replaced by a plain file is just as absent. */
	cr_assert_eq(rename(root, away), 0);
	cr_assert_eq(tt_write_file(root, "x", 1), 0);
	assert_all_offline();
	size_t len;
	char *c = tt_read_file(root, &len);
	cr_assert_eq(len, 1, "the file in the root's place must be left alone");
	free(c);
}

Test(driver_file, missing_object_is_not_found)
{
	tier_stat st;
	tier_buf got;
	cr_assert_eq(drv->stat(drv, "nope", &st), TIER_ENOTFOUND);
	cr_assert(strstr(tier_error_last(), "nope"), "%s", tier_error_last());
	cr_assert_eq(drv->stat(drv, "no/such/dir/obj", &st), TIER_ENOTFOUND);
	cr_assert_eq(get_all("nope", 0, UINT64_MAX, &got), TIER_ENOTFOUND);
	tier_buf_dispose(&got);
	cr_assert_eq(drv->remove(drv, "nope"), TIER_ENOTFOUND);
	cr_assert_eq(drv->rename(drv, "nope", "other"), TIER_ENOTFOUND);
	cr_assert_eq(drv->rename(drv, "nope", "new/dir/other"), TIER_ENOTFOUND);
	cr_assert_neq(access(tt_path("%s/new", root), F_OK), 0);
	cr_assert_eq(drv->list(drv, "nodir", NULL, NULL), TIER_ENOTFOUND);
	/* A file where a directory is expected is also "not there". */
	cr_assert_eq(put_mem("file", "x", 1, 0), 0);
	cr_assert_eq(drv->stat(drv, "file/below", &st), TIER_ENOTFOUND);
}

Test(driver_file, bad_paths_refused)
{
	tier_stat st;
	const char *bad[] = {"../escape", "a/../../b", "/abs", "a//b",
	                     "a/./b",     "a/",        "."};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_assert_eq(drv->stat(drv, bad[i], &st), TIER_EUSAGE, "%s",
		             bad[i]);
		cr_assert_eq(put_mem(bad[i], "x", 1, 0), TIER_EUSAGE, "%s",
		             bad[i]);
	}
	cr_assert_eq(put_mem("", "x", 1, 0), TIER_EUSAGE);
	cr_assert_eq(drv->remove(drv, ""), TIER_EUSAGE);
	cr_assert_neq(access(tt_path("%s/escape", dir), F_OK), 0);
}

typedef struct {
	char names[16][64];
	tier_stat st[16];
	int n;
	int stop_at;
} list_state;

static int list_cb(const char *name, const tier_stat *st, void *payload)
{
	list_state *s = payload;
	if (s->stop_at && s->n + 1 == s->stop_at)
		return 1;
	cr_assert_lt(s->n, 16);
	snprintf(s->names[s->n], 64, "%s", name);
	s->st[s->n++] = *st;
	return 0;
}

Test(driver_file, list)
{
	list_state s = {0};
	cr_assert_eq(put_mem("d/b", "bb", 2, 0), 0);
	cr_assert_eq(put_mem("d/a", "a", 1, 0), 0);
	cr_assert_eq(put_mem("d/c/inner", "i", 1, 0), 0);
	/* A crash leftover of ours is not an object. */
	cr_assert_eq(
	        tt_write_file(tt_path("%s/d/a.tmp-123-00ff00ff00ff00ff", root),
	                      "t", 1),
	        0);
	/* But a name that merely mentions tmp is. */
	cr_assert_eq(put_mem("d/x.tmp-notours", "z", 1, 0), 0);

	cr_assert_eq(drv->list(drv, "d", list_cb, &s), 0, "%s",
	             tier_error_last());
	cr_assert_eq(s.n, 4);
	cr_assert_str_eq(s.names[0], "a");
	cr_assert_str_eq(s.names[1], "b");
	cr_assert_str_eq(s.names[2], "c");
	cr_assert_str_eq(s.names[3], "x.tmp-notours");
	cr_assert_eq(s.st[0].size, 1);
	cr_assert_eq(s.st[1].size, 2);
	cr_assert_eq(s.st[1].is_dir, 0);
	cr_assert_eq(s.st[2].is_dir, 1);

	/* The root lists with "". */
	memset(&s, 0, sizeof(s));
	cr_assert_eq(drv->list(drv, "", list_cb, &s), 0);
	cr_assert_eq(s.n, 1);
	cr_assert_str_eq(s.names[0], "d");

	/* A callback stopping the listing. */
	memset(&s, 0, sizeof(s));
	s.stop_at = 2;
	cr_assert_eq(drv->list(drv, "d", list_cb, &s), TIER_EABORTED);
	cr_assert_eq(s.n, 1);

	/* An empty directory lists nothing. */
	memset(&s, 0, sizeof(s));
	cr_assert_eq(drv->mkdir_p(drv, "e/f"), 0);
	cr_assert_eq(drv->list(drv, "e/f", list_cb, &s), 0);
	cr_assert_eq(s.n, 0);
}

Test(driver_file, remove_and_mkdir)
{
	tier_stat st;
	cr_assert_eq(drv->mkdir_p(drv, "x/y/z"), 0, "%s", tier_error_last());
	cr_assert_eq(drv->mkdir_p(drv, "x/y/z"), 0,
	             "mkdir_p of an existing dir is fine");
	cr_assert_eq(drv->stat(drv, "x/y/z", &st), 0);
	cr_assert_eq(st.is_dir, 1);
	cr_assert_eq(put_mem("x/y/file", "f", 1, 0), 0);
	cr_assert_eq(drv->mkdir_p(drv, "x/y/file/sub"), TIER_ECONFLICT);

	cr_assert_eq(drv->remove(drv, "x/y"), TIER_ECONFLICT,
	             "a full directory stays");
	cr_assert(strstr(tier_error_last(), "not empty"), "%s",
	          tier_error_last());
	cr_assert_eq(drv->remove(drv, "x/y/file"), 0, "%s", tier_error_last());
	cr_assert_eq(drv->stat(drv, "x/y/file", &st), TIER_ENOTFOUND);
	cr_assert_eq(drv->remove(drv, "x/y/z"), 0, "%s", tier_error_last());
	cr_assert_eq(drv->remove(drv, "x/y"), 0);
	cr_assert_eq(drv->stat(drv, "x/y", &st), TIER_ENOTFOUND);
	cr_assert_eq(drv->remove(drv, "x/y"), TIER_ENOTFOUND);
}

Test(driver_file, rename_overwrites)
{
	tier_buf got;
	tier_stat st;
	cr_assert_eq(put_mem("incoming/p1", "new content", 11, 0), 0);
	cr_assert_eq(put_mem("data/p1", "old", 3, 0), 0);
	cr_assert_eq(drv->rename(drv, "incoming/p1", "data/p1"), 0, "%s",
	             tier_error_last());
	cr_assert_eq(drv->stat(drv, "incoming/p1", &st), TIER_ENOTFOUND);
	cr_assert_eq(get_all("data/p1", 0, UINT64_MAX, &got), 0);
	cr_assert_eq(got.size, 11);
	cr_assert_eq(memcmp(got.ptr, "new content", 11), 0);
	tier_buf_dispose(&got);

	/* The target's directories are created as needed. */
	cr_assert_eq(drv->rename(drv, "data/p1", "deep/er/p1"), 0, "%s",
	             tier_error_last());
	cr_assert_eq(drv->stat(drv, "deep/er/p1", &st), 0);
	cr_assert_eq(st.size, 11);
}

Test(driver_file, get_aborted_by_sink)
{
	size_t n = 600 * 1024;
	char *data = make_data(n, 5);
	sink_state s = {TIER_BUF_INIT, 0, 2};
	cr_assert_eq(put_mem("big", data, n, 0), 0);
	cr_assert_eq(drv->get(drv, "big", 0, UINT64_MAX, sink, &s),
	             TIER_EABORTED);
	cr_assert_eq(tier_error_last_code(), TIER_EABORTED);
	cr_assert(strstr(tier_error_last(), "big"), "%s", tier_error_last());
	cr_assert_eq(s.calls, 2, "no block after the sink said stop");
	cr_assert_eq(s.buf.size, 256 * 1024, "blocks of 256 KiB");
	cr_assert_eq(memcmp(s.buf.ptr, data, s.buf.size), 0);
	tier_buf_dispose(&s.buf);
	free(data);
}

Test(driver_file, permission_denied_is_auth)
{
	if (geteuid() == 0)
		cr_skip_test("root ignores permissions");
	tier_stat st;
	cr_assert_eq(put_mem("locked/obj", "x", 1, 0), 0);
	cr_assert_eq(chmod(tt_path("%s/locked", root), 0500), 0);
	cr_assert_eq(put_mem("locked/obj2", "x", 1, 0), TIER_EAUTH);
	cr_assert_eq(chmod(tt_path("%s/locked", root), 0000), 0);
	cr_assert_eq(drv->stat(drv, "locked/obj", &st), TIER_EAUTH);
	chmod(tt_path("%s/locked", root), 0700);
}

Test(driver_file, open_through_registry)
{
	tier_driver *d = NULL;
	cr_assert_eq(tier_driver_open(&d, &url, NULL), 0, "%s",
	             tier_error_last());
	cr_assert_eq(d->ping(d), 0);
	d->free(d);
}

/* Mode bits (07777) of a path under the root. */
static mode_t mode_of(const char *rel)
{
	struct stat st;
	cr_assert_eq(lstat(tt_path("%s/%s", root, rel), &st), 0, "%s", rel);
	return st.st_mode & 07777;
}

/* Everything the driver creates, through each way of creating it. */
static void write_everything(void)
{
	char *data = make_data(4096, 11);
	const char *src_path = tt_path("%s/linkable", dir);
	cr_assert_eq(tt_write_file(src_path, data, 4096), 0);
	cr_assert_eq(chmod(src_path, 0644), 0);
	int fd = open(src_path, O_RDONLY);
	cr_assert_geq(fd, 0);
	tier_source linked = {NULL, fd, 4096, src_path};
	tier_source copied = {NULL, fd, 4096, NULL};

	cr_assert_eq(put_mem("log.git/config", "x", 1, 0), 0, "%s",
	             tier_error_last());
	cr_assert_eq(
	        put_mem("log.git/refs/heads/main", "y", 1, TIER_PUT_EXCLUSIVE),
	        0, "%s", tier_error_last());
	cr_assert_eq(drv->mkdir_p(drv, "log.git/objects/pack"), 0);
	cr_assert_eq(drv->put(drv, "data/ab/linked", &linked, 0), 0, "%s",
	             tier_error_last());
	cr_assert_eq(drv->put(drv, "data/cd/copied", &copied, 0), 0, "%s",
	             tier_error_last());
	cr_assert_eq(put_mem("incoming/p", "z", 1, 0), 0);
	cr_assert_eq(drv->rename(drv, "incoming/p", "moved/to/p"), 0);
	close(fd);
	free(data);
}

static void assert_modes(mode_t dmode, mode_t fmode)
{
	static const char *const dirs[] = {"log.git",
	                                   "log.git/refs",
	                                   "log.git/refs/heads",
	                                   "log.git/objects/pack",
	                                   "data/ab",
	                                   "moved/to"};
	static const char *const files[] = {
	        "log.git/config", "log.git/refs/heads/main", "data/ab/linked",
	        "data/cd/copied", "moved/to/p"};
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++)
		cr_assert_eq(mode_of(dirs[i]), dmode, "%s: %o", dirs[i],
		             mode_of(dirs[i]));
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++)
		cr_assert_eq(mode_of(files[i]), fmode, "%s: %o", files[i],
		             mode_of(files[i]));
}

/* A vault holds root's 0600 files: under umask 022 nobody else may read it. */
Test(driver_file, private_whatever_the_umask)
{
	mode_t old = umask(022);
	write_everything();
	umask(old);
	assert_modes(0700, 0600);
	cr_assert_eq(
	        tt_sh("test -z \"$(find '%s' -mindepth 1 -perm /077)\"", root),
	        0, "find -perm /077 found something");
}

/* A umask that takes the owner's bits must not lock the owner out. */
Test(driver_file, owner_bits_whatever_the_umask)
{
	mode_t old = umask(0277);
	write_everything();
	umask(old);
	assert_modes(0700, 0600);
}

/* A set-group-ID root is a vault shared with its group on purpose: read only. */
Test(driver_file, setgid_root_shares_with_the_group)
{
	/* as root, a group that is not ours shows where a file's group
	 * came from (a hard link would keep the local file's) */
	gid_t group = geteuid() == 0 ? 54321 : getegid();
	drv->free(drv);
	cr_assert_eq(chown(root, (uid_t)-1, group), 0);
	cr_assert_eq(chmod(root, 02750), 0);
	cr_assert_eq(tier_driver_file_open(&drv, &url, NULL), 0);
	mode_t old = umask(077);
	write_everything();
	umask(old);
	assert_modes(02750, 0640);
	cr_assert_eq(tt_sh("test -z \"$(find '%s' ! -group %u)\"", root,
	                   (unsigned int)group),
	             0, "a file of the shared tier is not in its group");
}
