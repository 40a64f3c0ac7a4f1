/*
 * Restore, writing into DEST (restore_apply.c): conflicts and --overwrite,
 * links in DEST never followed, trees deeper than PATH_MAX.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "helpers.h"
#include "helpers_restore.h"

TestSuite(restore, .init = restore_setup, .fini = restore_teardown);

/* ---- what is in DEST ----------------------------------------------------- */

Test(restore, conflict_without_overwrite)
{
	make_small_tree();
	tier_vault *v = init_vault();
	push(v, src);
	tier_restore_stats st;
	cr_assert_eq(restore(v, &st, 0, out, NULL, 0, 0), 0, "%s",
	             tier_error_last());

	/* change a restored file: a second restore refuses, touching nothing */
	put_file(restored(out, "a.txt"), "mine\n", 0644, 1);
	int rc = restore(v, &st, 0, out, NULL, 0, 0);
	cr_assert_eq(rc, TIER_ECONFLICT);
	cr_assert(strstr(tier_error_last(), "a.txt"), "message: %s",
	          tier_error_last());
	char *text = tt_read_file(restored(out, "a.txt"), NULL);
	cr_assert_str_eq(text, "mine\n");
	free(text);

	rc = restore(v, &st, 0, out, NULL, 0, 1);
	cr_assert_eq(rc, 0, "overwrite: %s", tier_error_last());
	compare(src, restored(out, NULL));

	/* a directory where the snapshot has a file is replaced too */
	unlink(restored(out, "a.txt"));
	cr_assert_eq(mkdir(restored(out, "a.txt"), 0755), 0);
	rc = restore(v, &st, 0, out, NULL, 0, 1);
	cr_assert_eq(rc, 0, "overwrite dir: %s", tier_error_last());
	compare(src, restored(out, NULL));
	tier_vault_free(v);
}

/* ---- links in DEST ------------------------------------------------------ */

Test(restore, symlink_in_dest_is_never_followed)
{
	char canary[4200];
	make_small_tree();
	snprintf(canary, sizeof(canary), "%s/canary", dir);
	cr_assert_eq(mkdir(canary, 0700), 0);
	char *before = snapshot_of(canary);
	tier_vault *v = init_vault();
	push(v, src);
	tier_restore_stats st;
	cr_assert_eq(restore(v, &st, 0, out, NULL, 0, 0), 0, "%s",
	             tier_error_last());

	/* sub/ in DEST is now a link out of it */
	cr_assert_eq(tt_sh("rm -rf '%s'", restored(out, "sub")), 0);
	cr_assert_eq(symlink(canary, restored(out, "sub")), 0);

	/* a restore of a path below it: the link is neither followed nor
	 * replaced (it is above the path asked for) */
	const char *below[1] = {tt_path("%s/sub/b.txt", src)};
	int rc = restore(v, &st, 0, out, below, 1, 1);
	cr_assert_eq(rc, TIER_ECONFLICT, "rc %d: %s", rc, tier_error_last());
	cr_assert(strstr(tier_error_last(), "/sub' is not a directory"), "%s",
	          tier_error_last());

	/* the whole revision: without --overwrite a conflict, found before
	 * anything is written */
	rc = restore(v, &st, 0, out, NULL, 0, 0);
	cr_assert_eq(rc, TIER_ECONFLICT, "rc %d: %s", rc, tier_error_last());
	cr_assert(strstr(tier_error_last(), "/sub' exists already"), "%s",
	          tier_error_last());

	/* with it, the link is replaced by the directory */
	rc = restore(v, &st, 0, out, NULL, 0, 1);
	cr_assert_eq(rc, 0, "%s", tier_error_last());
	compare(src, restored(out, NULL));
	char *after = snapshot_of(canary);
	cr_assert_str_eq(before, after);
	free(before);
	free(after);
	tier_vault_free(v);
}

/* ---- deeper than PATH_MAX ------------------------------------------------ */

#define DEEP_LEVELS 60
#define DEEP_NAME   100

static void deep_name(char *buf, int level)
{
	memset(buf, 'a' + level % 26, DEEP_NAME);
	snprintf(buf, 4, "%02d", level);
	buf[2] = 'x';
	buf[DEEP_NAME] = '\0';
}

/* src/deep/<60 levels of 100-character names>/<250-character file name> */
static git_oid add_deep(git_repository *repo, const git_tree *srct,
                        void *payload)
{
	(void)payload;
	git_oid a_node = entry_at(srct, "a.txt");
	git_oid dir_node = node_blob(repo, TIER_NODE_DIR, 0750, NULL);
	char file[251], name[DEEP_NAME + 1];
	memset(file, 'f', 250);
	file[250] = '\0';
	/* and a file whose chunk is in no pack: its message names a path
	 * of 6000 bytes, shortened, the reason kept */
	tier_node bad;
	tier_buf b = TIER_BUF_INIT;
	memset(&bad, 0, sizeof(bad));
	bad.type = TIER_NODE_FILE;
	bad.mode = 0644;
	bad.nchunks = 1;
	bad.chunks = calloc(1, sizeof(*bad.chunks));
	bad.chunks[0].len = 10;
	bad.size = 10; /* a valid node whose chunk is in no pack */
	cr_assert_eq(tier_node_encode(&b, NULL, &bad), 0);
	git_oid bad_node = blob_of(repo, b.ptr, b.size);
	tier_buf_dispose(&b);
	free(bad.chunks);
	struct rawent leaf[3] = {{0100644, "%", dir_node},
	                         {0100644, file, a_node},
	                         {0100644, "broken", bad_node}};
	git_oid t = raw_tree(repo, leaf, 3);
	for (int level = DEEP_LEVELS - 1; level >= 0; level--) {
		deep_name(name, level);
		struct rawent e[2] = {{0100644, "%", dir_node},
		                      {040000, name, t}};
		t = raw_tree(repo, e, 2);
	}
	git_treebuilder *tb = NULL;
	git_oid id_out;
	cr_assert_eq(git_treebuilder_new(&tb, repo, srct), 0);
	cr_assert_eq(
	        git_treebuilder_insert(NULL, tb, "deep", &t, GIT_FILEMODE_TREE),
	        0);
	cr_assert_eq(git_treebuilder_write(&id_out, tb), 0);
	git_treebuilder_free(tb);
	return id_out;
}

Test(restore, deeper_than_path_max)
{
	char name[DEEP_NAME + 1], file[251];
	make_small_tree();
	tier_vault *v = init_vault();
	push(v, src);
	tier_vault_free(v);
	craft(add_deep, NULL);

	v = open_tiers_only();
	tier_restore_stats st;
	int rc = restore(v, &st, 0, out, NULL, 0, 0);
	cr_assert_eq(rc, TIER_ECORRUPT, "restore: %s (%s)", tier_error_last(),
	             warnings);
	cr_assert_eq(st.errors, 1, "%s", warnings);
	cr_assert_eq(st.files, 4); /* a.txt, b.txt, mid.bin, the deep one */
	cr_assert_eq(nwarnings, 1);
	cr_assert(strstr(warnings, "cannot restore '/tmp/"), "%s", warnings);
	cr_assert(strstr(warnings, " bytes)..."), "%s", warnings);
	cr_assert(strstr(warnings, "/broken': chunk 0000000000000000 is in no "
	                           "pack of the vault\n"),
	          "%s", warnings);
	cr_assert_lt(strlen(warnings), 700, "%s", warnings);
	cr_assert_str_eq(tier_error_last(), strtok(warnings, "\n"));

	/* walk down by fds: the path is longer than any syscall takes */
	int fd = open(restored(out, "deep"), O_RDONLY | O_DIRECTORY);
	cr_assert_geq(fd, 0);
	size_t len = strlen(restored(out, "deep"));
	for (int level = 0; level < DEEP_LEVELS; level++) {
		struct stat s;
		deep_name(name, level);
		int nfd = openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
		cr_assert_geq(nfd, 0, "level %d: %s", level, strerror(errno));
		cr_assert_eq(fstat(nfd, &s), 0);
		cr_assert_eq(s.st_mode & 07777, 0750, "level %d mode %o", level,
		             s.st_mode & 07777);
		cr_assert_eq(s.st_mtim.tv_sec, 1600000000);
		close(fd);
		fd = nfd;
		len += 1 + DEEP_NAME;
	}
	cr_assert_gt(len, 4096, "the test must go past PATH_MAX");
	memset(file, 'f', 250);
	file[250] = '\0';
	int ffd = openat(fd, file, O_RDONLY | O_NOFOLLOW);
	cr_assert_geq(ffd, 0, "%s", strerror(errno));
	char buf[64];
	ssize_t got = read(ffd, buf, sizeof(buf));
	cr_assert_eq(got, 6);
	cr_assert_eq(memcmp(buf, "alpha\n", 6), 0);
	close(ffd);
	close(fd);
	compare(at("sub"), restored(out, "sub"));

	/* again: everything is there already and kept */
	rc = restore(v, &st, 0, out, NULL, 0, 0);
	cr_assert_eq(rc, TIER_ECORRUPT, "rerun: %s (%s)", tier_error_last(),
	             warnings);
	cr_assert_eq(st.files, 0);
	cr_assert_eq(st.kept, 4);
	tier_vault_free(v);
}
