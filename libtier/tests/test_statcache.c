/*
 * The stat cache (statcache.h): what was written is found by tree and
 * node, a different stat is "different", anything it does not hold or
 * cannot vouch for (another tree, another node, a damaged record or
 * table) is "not known", never "same".
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "helpers.h"
#include "statcache.h"

static void oid_of(git_oid *o, unsigned tag, unsigned i)
{
	memset(o, 0, sizeof(*o));
	for (int k = 0; k < 20; k++)
		o->id[k] =
		        (unsigned char)((tag * 131 + i * 7 + (unsigned)k * 29) ^
		                        (i >> (k % 16)));
	o->id[0] = (unsigned char)tag;
	o->id[1] = (unsigned char)i;
	o->id[2] = (unsigned char)(i >> 8);
}

static struct stat stat_of(unsigned i)
{
	struct stat st;
	memset(&st, 0, sizeof(st));
	st.st_mode = S_IFREG | 0640;
	st.st_uid = 1000 + i;
	st.st_gid = 100;
	st.st_size = (off_t)(i * 1000 + 1);
	st.st_mtim.tv_sec = 1700000000 + i;
	st.st_mtim.tv_nsec = 123456789;
	st.st_ctim.tv_sec = 1700000100 + i;
	st.st_ctim.tv_nsec = 5;
	st.st_ino = 424242 + i;
	return st;
}

/* dirs directories of n files each: tree d, node (d, i), stat_of(i + d) */
static const char *write_cache(unsigned dirs, unsigned n)
{
	const char *path = tt_path("%s/statcache-%u-%u", tt_tmpdir(), dirs, n);
	tier_statcache_writer *w = NULL;
	cr_assert_eq(tier_statcache_writer_new(&w, path), 0);
	tier_statent *e = calloc(n, sizeof(*e));
	for (unsigned d = 0; d < dirs; d++) {
		git_oid tree, node;
		oid_of(&tree, 200, d);
		for (unsigned i = 0; i < n; i++) {
			struct stat st = stat_of(i + d);
			oid_of(&node, 1 + d, i);
			tier_statent_from_stat(&e[i], &node, &st);
		}
		cr_assert_eq(tier_statcache_writer_dir(w, &tree, e, n), 0);
	}
	free(e);
	cr_assert_eq(tier_statcache_writer_commit(w), 0);
	tier_statcache_writer_free(w);
	cr_assert_eq(access(tt_path("%s.new", path), F_OK), -1,
	             "no temporary left");
	return path;
}

Test(statcache, what_is_written_is_found)
{
	const char *path = write_cache(50, 300);
	tier_statcache *c = NULL;
	cr_assert_eq(tier_statcache_open(&c, path), 0);
	cr_assert_not_null(c);
	for (unsigned d = 0; d < 50; d++) {
		tier_statdir sd = {0};
		git_oid tree, node;
		oid_of(&tree, 200, d);
		cr_assert_eq(tier_statcache_dir(c, &tree, &sd), 0);
		cr_assert_eq(sd.n, 300);
		for (unsigned i = 0; i < 300; i++) {
			struct stat st = stat_of(i + d);
			oid_of(&node, 1 + d, i);
			cr_assert_eq(tier_statdir_same(&sd, &node, &st), 1,
			             "dir %u file %u", d, i);
			/* each field on its own makes a difference */
			struct stat o = st;
			o.st_mtim.tv_nsec++;
			cr_assert_eq(tier_statdir_same(&sd, &node, &o), 0);
			o = st;
			o.st_ctim.tv_sec++;
			cr_assert_eq(tier_statdir_same(&sd, &node, &o), 0);
			o = st;
			o.st_size++;
			cr_assert_eq(tier_statdir_same(&sd, &node, &o), 0);
			o = st;
			o.st_ino++;
			cr_assert_eq(tier_statdir_same(&sd, &node, &o), 0);
			o = st;
			o.st_mode = S_IFREG | 0644;
			cr_assert_eq(tier_statdir_same(&sd, &node, &o), 0);
			o = st;
			o.st_uid++;
			cr_assert_eq(tier_statdir_same(&sd, &node, &o), 0);
			/* another directory's node is not in this record */
			oid_of(&node, 2 + d, i);
			cr_assert_eq(tier_statdir_same(&sd, &node, &st), -1);
		}
		tier_statdir_dispose(&sd);
	}
	/* a tree it never saw */
	tier_statdir sd = {0};
	git_oid tree;
	oid_of(&tree, 201, 3);
	cr_assert_eq(tier_statcache_dir(c, &tree, &sd), 0);
	cr_assert_eq(sd.n, 0);
	struct stat st = stat_of(0);
	cr_assert_eq(tier_statdir_same(&sd, &tree, &st), -1);
	tier_statcache_free(c);
}

static void flip(const char *path, off_t at)
{
	int fd = open(path, O_RDWR);
	unsigned char b;
	cr_assert(fd >= 0);
	cr_assert_eq(pread(fd, &b, 1, at), 1);
	b ^= 0x40;
	cr_assert_eq(pwrite(fd, &b, 1, at), 1);
	close(fd);
}

Test(statcache, a_damaged_record_is_not_known)
{
	const char *path = write_cache(4, 10);
	/* a byte of the first record's entries (8 magic, 24 record head) */
	flip(path, 8 + 24 + 30);
	tier_statcache *c = NULL;
	cr_assert_eq(tier_statcache_open(&c, path), 0);
	cr_assert_not_null(c);
	int found = 0, lost = 0;
	for (unsigned d = 0; d < 4; d++) {
		tier_statdir sd = {0};
		git_oid tree, node;
		oid_of(&tree, 200, d);
		cr_assert_eq(tier_statcache_dir(c, &tree, &sd), 0);
		struct stat st = stat_of(d);
		oid_of(&node, 1 + d, 0);
		int r = tier_statdir_same(&sd, &node, &st);
		cr_assert_neq(r, 0, "a damaged record must not answer");
		found += r == 1;
		lost += r == -1;
		tier_statdir_dispose(&sd);
	}
	cr_assert_eq(found, 3);
	cr_assert_eq(lost, 1);
	tier_statcache_free(c);
}

Test(statcache, a_damaged_table_or_a_torn_file_is_no_cache)
{
	const char *path = write_cache(4, 10);
	struct stat st;
	cr_assert_eq(stat(path, &st), 0);
	/* a byte of the table */
	flip(path, st.st_size - 32 - 5);
	tier_statcache *c = (tier_statcache *)1;
	cr_assert_eq(tier_statcache_open(&c, path), 0);
	cr_assert_null(c);
	/* cut short */
	path = write_cache(5, 10);
	cr_assert_eq(truncate(path, 100), 0);
	cr_assert_eq(tier_statcache_open(&c, path), 0);
	cr_assert_null(c);
	/* not there */
	cr_assert_eq(tier_statcache_open(&c, tt_path("%s/none", tt_tmpdir())),
	             0);
	cr_assert_null(c);
}

Test(statcache, an_empty_directory_has_no_record)
{
	const char *path = tt_path("%s/statcache-empty", tt_tmpdir());
	tier_statcache_writer *w = NULL;
	git_oid tree;
	oid_of(&tree, 9, 9);
	cr_assert_eq(tier_statcache_writer_new(&w, path), 0);
	cr_assert_eq(tier_statcache_writer_dir(w, &tree, NULL, 0), 0);
	cr_assert_eq(tier_statcache_writer_commit(w), 0);
	tier_statcache_writer_free(w);
	tier_statcache *c = NULL;
	tier_statdir sd = {0};
	cr_assert_eq(tier_statcache_open(&c, path), 0);
	cr_assert_not_null(c);
	cr_assert_eq(tier_statcache_dir(c, &tree, &sd), 0);
	cr_assert_eq(sd.n, 0);
	tier_statcache_free(c);
}

Test(statcache, an_uncommitted_writer_leaves_the_old_cache)
{
	const char *path = write_cache(2, 3);
	struct stat before, after;
	cr_assert_eq(stat(path, &before), 0);
	tier_statcache_writer *w = NULL;
	cr_assert_eq(tier_statcache_writer_new(&w, path), 0);
	tier_statcache_writer_free(w);
	cr_assert_eq(stat(path, &after), 0);
	cr_assert_eq(before.st_ino, after.st_ino);
	cr_assert_eq(before.st_size, after.st_size);
	cr_assert_eq(access(tt_path("%s.new", path), F_OK), -1);
}
