/*
 * Restore, what is restored (restore_select.c): -r N, the newest revision
 * holding the paths, partial restores, bad revisions and paths.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "helpers.h"
#include "helpers_restore.h"
#include "tier/push.h"

TestSuite(restore, .init = restore_setup, .fini = restore_teardown);

/* ---- revisions ----------------------------------------------------------- */

Test(restore, older_revision)
{
	char old[4200];
	make_small_tree();
	tier_vault *v = init_vault();
	uint64_t r1 = push(v, src);
	snprintf(old, sizeof(old), "%s/old", dir);
	cr_assert_eq(tt_sh("cp -a '%s' '%s'", src, old), 0);

	put_file(at("a.txt"), "alpha, changed\n", 0600, 1700000000);
	put_file(at("new.txt"), "new\n", 0644, 1700000001);
	unlink(at("sub/b.txt"));
	set_mtime(at("sub"), 1700000100, 0);
	set_mtime(src, 1700000101, 0);
	uint64_t r2 = push(v, src);
	cr_assert_gt(r2, r1);

	tier_restore_stats st;
	int rc = restore(v, &st, r1, out, NULL, 0, 0);
	cr_assert_eq(rc, 0, "restore -r: %s", tier_error_last());
	cr_assert_eq(st.revision, r1);
	compare(old, restored(out, NULL));

	char out2[4200];
	snprintf(out2, sizeof(out2), "%s/out2", dir);
	rc = restore(v, &st, 0, out2, NULL, 0, 0);
	cr_assert_eq(rc, 0, "restore: %s", tier_error_last());
	cr_assert_eq(st.revision, r2);
	compare(src, restored(out2, NULL));
	tier_vault_free(v);
}

Test(restore, empty_snapshot_revision)
{
	/* revision 1 (vault creation) holds no snapshot: an empty restore */
	tier_vault *v = init_vault();
	tier_restore_stats st;
	int rc = restore(v, &st, 1, out, NULL, 0, 0);
	cr_assert_eq(rc, 0, "%s", tier_error_last());
	cr_assert_eq(st.files, 0);
	cr_assert(exists(out));
	const char *p[1] = {"/x"};
	rc = restore(v, &st, 1, out, p, 1, 0);
	cr_assert_eq(rc, TIER_ENOTFOUND);
	tier_vault_free(v);
}

Test(restore, bad_revision_and_bad_path)
{
	make_small_tree();
	tier_vault *v = init_vault();
	uint64_t rev = push(v, src);
	tier_restore_stats st;

	int rc = restore(v, &st, rev + 7, out, NULL, 0, 0);
	cr_assert_eq(rc, TIER_ENOTFOUND);
	char want[128];
	snprintf(want, sizeof(want),
	         "revision %llu does not exist (latest is %llu)",
	         (unsigned long long)(rev + 7), (unsigned long long)rev);
	cr_assert_str_eq(tier_error_last(), want);

	const char *bad[2] = {tt_path("%s/sub", src),
	                      tt_path("%s/no/such file", src)};
	rc = restore(v, &st, 0, out, bad, 2, 0);
	cr_assert_eq(rc, TIER_ENOTFOUND);
	cr_assert(strstr(tier_error_last(), "/no/such file"), "message: %s",
	          tier_error_last());
	cr_assert(!exists(out), "nothing is written for a bad path");

	const char *dots[1] = {"/a/../b"};
	rc = restore(v, &st, 0, out, dots, 1, 0);
	cr_assert_eq(rc, TIER_EUSAGE);
	tier_vault_free(v);
}

/* ---- paths --------------------------------------------------------------- */

Test(restore, one_subdirectory_and_one_file)
{
	make_full_tree();
	tier_vault *v = init_vault();
	push(v, src);
	tier_restore_stats st;

	const char *sub[1] = {tt_path("%s/sub", src)};
	int rc = restore(v, &st, 0, out, sub, 1, 0);
	cr_assert_eq(rc, 0, "restore sub: %s", tier_error_last());
	compare(at("sub"), restored(out, "sub"));
	cr_assert(!exists(restored(out, "a.txt")));
	cr_assert(!exists(restored(out, "big.bin")));
	cr_assert_eq(st.files, 2);

	/* a file, given without the leading '/', and a path under it given too */
	char out2[4200];
	snprintf(out2, sizeof(out2), "%s/out2", dir);
	const char *one[2] = {tt_path("%s/ro/inside", src + 1),
	                      tt_path("%s/ro/inside", src)};
	rc = restore(v, &st, 0, out2, one, 2, 0);
	cr_assert_eq(rc, 0, "restore file: %s", tier_error_last());
	compare(at("ro/inside"), restored(out2, "ro/inside"));
	cr_assert(!exists(restored(out2, "ro/../a.txt")));
	cr_assert_eq(st.files, 1);
	/* its parent took the snapshot's metadata */
	struct stat s;
	cr_assert_eq(stat(restored(out2, "ro"), &s), 0);
	cr_assert_eq(s.st_mode & 07777, 0555);
	tier_vault_free(v);
}

Test(restore, top_level_path, .timeout = 60)
{
	make_small_tree();
	tier_vault *v = init_vault();
	push(v, src);
	tier_restore_stats st;
	/* the first component of every snapshot path: the walk holds DEST
	 * twice here, which must not look like directories waiting */
	char first[4200];
	snprintf(first, sizeof(first), "/%.*s", (int)strcspn(src + 1, "/"),
	         src + 1);
	const char *top[1] = {first};
	int rc = restore(v, &st, 0, out, top, 1, 0);
	cr_assert_eq(rc, 0, "%s", tier_error_last());
	compare(src, restored(out, NULL));
	tier_vault_free(v);
}

/* ---- which revision: the newest that holds the paths ------------------ */

static uint64_t push_paths(tier_vault *v, const char *const *paths, size_t n)
{
	tier_write_result *res = NULL;
	tier_push_stats st;
	tier_push_options o = TIER_PUSH_OPTIONS_INIT;
	o.paths = paths;
	o.npaths = n;
	int rc = tier_push_run(&res, &st, v, &o);
	cr_assert_eq(rc, 0, "push: %s", tier_error_last());
	uint64_t rev = res->revision;
	tier_write_result_free(res);
	return rev;
}

Test(restore, newest_revision_holding_the_path)
{
	make_small_tree();
	char other[4200];
	snprintf(other, sizeof(other), "%s/other", dir);
	cr_assert_eq(mkdir(other, 0755), 0);
	put_file(tt_path("%s/o.txt", other), "other job\n", 0644, 1600000000);
	tier_vault *v = init_vault();
	const char *p1[1] = {src}, *p2[1] = {other};
	uint64_t r1 = push_paths(v, p1, 1);
	uint64_t r2 = push_paths(v, p2, 1); /* another job, other paths */
	cr_assert_gt(r2, r1);

	tier_restore_stats st;
	const char *want[1] = {tt_path("%s/sub", src)};
	int rc = restore(v, &st, 0, out, want, 1, 0);
	cr_assert_eq(rc, 0, "restore: %s", tier_error_last());
	cr_assert_eq(st.revision, r1);
	cr_assert_eq(st.latest, r2);
	compare(at("sub"), restored(out, "sub"));

	/* -r names a revision without it: the message says which has it */
	char out2[4200], msg[512];
	snprintf(out2, sizeof(out2), "%s/out2", dir);
	rc = restore(v, &st, r2, out2, want, 1, 0);
	cr_assert_eq(rc, TIER_ENOTFOUND);
	snprintf(msg, sizeof(msg),
	         "'%s/sub' is not in revision %llu (revision %llu is the "
	         "newest that holds it)",
	         src, (unsigned long long)r2, (unsigned long long)r1);
	cr_assert_str_eq(tier_error_last(), msg);
	cr_assert(!exists(out2));

	const char *none[1] = {"/no/such/file"};
	rc = restore(v, &st, 0, out2, none, 1, 0);
	cr_assert_eq(rc, TIER_ENOTFOUND);
	snprintf(msg, sizeof(msg),
	         "'/no/such/file' is not in revision %llu (nor in any other)",
	         (unsigned long long)r2);
	cr_assert_str_eq(tier_error_last(), msg);

	/* no path: the latest, whatever it holds */
	rc = restore(v, &st, 0, out2, NULL, 0, 0);
	cr_assert_eq(rc, 0, "%s", tier_error_last());
	cr_assert_eq(st.revision, r2);
	tier_vault_free(v);
}
