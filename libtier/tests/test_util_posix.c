/* util/posix: the local file helpers the state dir and the drivers rely on. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "helpers.h"
#include "tier/errors.h"
#include "util/posix.h"

static char dir[4096];

static void setup(void)
{
	const char *d = tt_tmpdir();
	cr_assert_not_null(d);
	strcpy(dir, d);
}

static void teardown(void)
{
	tt_rmrf(dir);
}

TestSuite(posix, .init = setup, .fini = teardown);

static int entries(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *de;
	int n = 0;
	if (!d)
		return -1;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

Test(posix, atomic_write_replaces)
{
	const char *p = tt_path("%s/state", dir);
	size_t len;
	cr_assert_eq(tier_atomic_write(p, "one", 3), 0, "%s",
	             tier_error_last());
	char *c = tt_read_file(p, &len);
	cr_assert_eq(len, 3);
	cr_assert_eq(memcmp(c, "one", 3), 0);
	free(c);
	cr_assert_eq(tier_atomic_write(p, "second", 6), 0);
	c = tt_read_file(p, &len);
	cr_assert_eq(len, 6);
	cr_assert_eq(memcmp(c, "second", 6), 0);
	free(c);
	cr_assert_eq(entries(dir), 1, "no temp file left");

	cr_assert_eq(tier_atomic_write_mode(tt_path("%s/secret", dir), "pw", 2,
	                                    0600),
	             0);
	struct stat st;
	cr_assert_eq(stat(tt_path("%s/secret", dir), &st), 0);
	cr_assert_eq(st.st_mode & 0777, 0600);
}

Test(posix, atomic_write_failure_leaves_old_content)
{
	const char *p = tt_path("%s/state", dir);
	cr_assert_eq(tier_atomic_write(p, "old", 3), 0);
	/* The target is a directory: rename fails, the temp file goes away. */
	cr_assert_eq(mkdir(tt_path("%s/adir", dir), 0777), 0);
	cr_assert_eq(tt_write_file(tt_path("%s/adir/x", dir), "x", 1), 0);
	cr_assert_lt(tier_atomic_write(tt_path("%s/adir", dir), "new", 3), 0);
	cr_assert(strstr(tier_error_last(), "adir"), "%s", tier_error_last());
	cr_assert_eq(entries(dir), 2);
	/* Missing directory: not found, named. */
	cr_assert_eq(tier_atomic_write(tt_path("%s/no/such", dir), "x", 1),
	             TIER_ENOTFOUND);
	size_t len;
	char *c = tt_read_file(p, &len);
	cr_assert_eq(len, 3);
	free(c);
}

Test(posix, mkdir_p_and_rm_rf)
{
	const char *deep = tt_path("%s/a/b//c/d/", dir);
	struct stat st;
	cr_assert_eq(tier_mkdir_p(deep, 0777), 0, "%s", tier_error_last());
	cr_assert_eq(stat(tt_path("%s/a/b/c/d", dir), &st), 0);
	cr_assert(S_ISDIR(st.st_mode));
	cr_assert_eq(tier_mkdir_p(tt_path("%s/a/b", dir), 0777), 0,
	             "existing is fine");
	cr_assert_eq(tt_write_file(tt_path("%s/a/file", dir), "f", 1), 0);
	cr_assert_eq(tier_mkdir_p(tt_path("%s/a/file", dir), 0777),
	             TIER_ECONFLICT);
	cr_assert_eq(tier_mkdir_p(tt_path("%s/a/file/sub", dir), 0777),
	             TIER_ECONFLICT);

	/* rm_rf removes the tree but does not follow a symlink out of it. */
	const char *outside = tt_path("%s/outside", dir);
	cr_assert_eq(mkdir(outside, 0777), 0);
	cr_assert_eq(tt_write_file(tt_path("%s/keep", outside), "k", 1), 0);
	cr_assert_eq(symlink(outside, tt_path("%s/a/b/link", dir)), 0);
	cr_assert_eq(tier_rm_rf(tt_path("%s/a", dir)), 0, "%s",
	             tier_error_last());
	cr_assert_neq(access(tt_path("%s/a", dir), F_OK), 0);
	cr_assert_eq(access(tt_path("%s/keep", outside), F_OK), 0);
	cr_assert_eq(tier_rm_rf(tt_path("%s/a", dir)), 0, "missing is fine");
	cr_assert_eq(tier_rm_rf(tt_path("%s/keep", outside)), 0,
	             "a plain file");
	cr_assert_neq(access(tt_path("%s/keep", outside), F_OK), 0);
}

Test(posix, read_file)
{
	tier_buf b = TIER_BUF_INIT;
	const char *p = tt_path("%s/f", dir);
	cr_assert_eq(tier_read_file(&b, p, 0), TIER_ENOTFOUND);
	cr_assert(strstr(tier_error_last(), p), "%s", tier_error_last());
	cr_assert_eq(tt_write_file(p, "hello", 5), 0);
	cr_assert_eq(tier_read_file(&b, p, 0), 0);
	cr_assert_str_eq(tier_buf_cstr(&b), "hello");
	cr_assert_eq(b.size, 5);
	cr_assert_eq(tier_read_file(&b, p, 4), TIER_ECORRUPT);
	/* An empty file reads as "", even into a buffer that held something. */
	cr_assert_eq(tt_write_file(p, "", 0), 0);
	cr_assert_eq(tier_buf_sets(&b, "stale content"), 0);
	cr_assert_eq(tier_read_file(&b, p, 0), 0);
	cr_assert_str_eq(tier_buf_cstr(&b), "");
	tier_buf_dispose(&b);
	cr_assert_eq(tier_read_file(&b, p, 0), 0);
	cr_assert_str_eq(tier_buf_cstr(&b), "");
	tier_buf_dispose(&b);
}

Test(posix, write_all_and_pread_all)
{
	const char *p = tt_path("%s/f", dir);
	char buf[16];
	size_t got;
	int fd = open(p, O_RDWR | O_CREAT, 0666);
	cr_assert_geq(fd, 0);
	cr_assert_eq(tier_write_all(fd, "0123456789", 10, p), 0);
	cr_assert_eq(tier_pread_all(fd, buf, 4, 3, &got, p), 0);
	cr_assert_eq(got, 4);
	cr_assert_eq(memcmp(buf, "3456", 4), 0);
	cr_assert_eq(tier_pread_all(fd, buf, 16, 8, &got, p), 0,
	             "short at the end");
	cr_assert_eq(got, 2);
	cr_assert_eq(tier_pread_all(fd, buf, 16, 8, NULL, p), TIER_ECORRUPT,
	             "without got a short read is an error");
	close(fd);
	cr_assert_lt(tier_write_all(fd, "x", 1, p), 0, "a closed fd");
	cr_assert(strstr(tier_error_last(), p), "%s", tier_error_last());
}

Test(posix, temp_names)
{
	tier_buf a = TIER_BUF_INIT, b = TIER_BUF_INIT;
	cr_assert_eq(tier_temp_name(&a, "dir/obj"), 0);
	cr_assert_eq(tier_temp_name(&b, "dir/obj"), 0);
	cr_assert_str_neq(a.ptr, b.ptr);
	cr_assert_eq(strncmp(a.ptr, "dir/obj.tmp-", 12), 0, "%s", a.ptr);
	cr_assert(tier_is_temp_name(strrchr(a.ptr, '/') + 1), "%s", a.ptr);
	cr_assert(tier_is_temp_name("x.tmp-1-ab"));
	cr_assert(!tier_is_temp_name("x.tmp-notours"));
	cr_assert(!tier_is_temp_name("x.tmp-12-"));
	cr_assert(!tier_is_temp_name("x.tmp-12-abz"));
	cr_assert(!tier_is_temp_name(".tmp-1-ab"), "no name before it");
	cr_assert(!tier_is_temp_name("plain"));
	tier_buf_dispose(&a);
	tier_buf_dispose(&b);
}
