/*
 * Restore, the run (restore.c): round trips through push, cancelling,
 * interrupted runs (TIER_TEST_RESTORE_KILL) and the reruns that finish them.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helpers.h"
#include "helpers_restore.h"

TestSuite(restore, .init = restore_setup, .fini = restore_teardown);

/* ---- round trips ---------------------------------------------------------- */

Test(restore, full_tree_equals_source)
{
	make_full_tree();
	tier_vault *v = init_vault();
	uint64_t rev = push(v, src);
	tier_restore_stats st;
	int rc = restore(v, &st, 0, out, NULL, 0, 0);
	cr_assert_eq(rc, 0, "restore: %s (%s)", tier_error_last(), warnings);
	cr_assert_eq(st.revision, rev);
	compare(src, restored(out, NULL));
	cr_assert_eq(st.damaged, 0);
	cr_assert_eq(st.errors, 0, "warnings: %s", warnings);
	cr_assert_geq(st.files, 14);
	cr_assert_geq(st.bytes, 20u << 20);
	cr_assert(no_temp_files(out));
	tier_vault_free(v);
}

Test(restore, without_installation_from_tiers_alone)
{
	make_small_tree();
	tier_vault *v = init_vault();
	push(v, src);
	tier_vault_free(v);

	tier_vault_options o = vopts(NULL, 1);
	cr_assert_eq(tier_vault_open(&v, &o), 0, "open: %s", tier_error_last());
	tier_restore_stats st;
	int rc = restore(v, &st, 0, out, NULL, 0, 0);
	cr_assert_eq(rc, 0, "restore: %s", tier_error_last());
	compare(src, restored(out, NULL));
	tier_vault_free(v);
}

/* ---- progress ------------------------------------------------------------ */

static int cancel_cb(const tier_restore_stats *s, const char *cur,
                     void *payload)
{
	(void)s;
	(void)cur;
	(*(int *)payload)++;
	return 1; /* cancel at the first call */
}

Test(restore, progress_can_cancel)
{
	make_small_tree();
	tier_vault *v = init_vault();
	push(v, src);
	tier_restore_options o = TIER_RESTORE_OPTIONS_INIT;
	tier_restore_stats st;
	int calls = 0;
	o.dest = out;
	o.progress = cancel_cb;
	o.payload = &calls;
	int rc = tier_restore_run(&st, v, &o);
	cr_assert_eq(rc, TIER_EABORTED, "rc %d: %s", rc, tier_error_last());
	cr_assert_gt(calls, 0);
	cr_assert(no_temp_files(out));
	tier_vault_free(v);
}

/* ---- interrupted restores ------------------------------------------------ */

struct seen {
	char path[4200];
	ino_t ino;
	struct timespec ctime;
};

/* Every regular file below p (its name, not a temporary one). */
static size_t complete_files(const char *p, struct seen *out_files, size_t max)
{
	char list[4400];
	size_t n = 0;
	snprintf(list, sizeof(list), "%s/.files", dir);
	tt_sh("find '%s' -type f ! -name '*.tier-tmp' >'%s'", p, list);
	FILE *f = fopen(list, "r");
	cr_assert_not_null(f);
	while (n < max &&
	       fgets(out_files[n].path, sizeof(out_files[n].path), f)) {
		struct stat s;
		out_files[n].path[strcspn(out_files[n].path, "\n")] = '\0';
		cr_assert_eq(stat(out_files[n].path, &s), 0);
		out_files[n].ino = s.st_ino;
		out_files[n].ctime = s.st_ctim;
		n++;
	}
	fclose(f);
	unlink(list);
	return n;
}

/* Many files of one chunk each, and one of many chunks. */
static void make_many_files(void)
{
	cr_assert_eq(mkdir(src, 0755), 0);
	cr_assert_eq(mkdir(at("d"), 0555 | 0200), 0);
	for (int i = 0; i < 24; i++)
		put_big(at(tt_path("d/f%02d.bin", i)), 200u << 10, 100 + i);
	/* after d/ in the walk: half written when the kill comes */
	put_big(at("z.bin"), 24u << 20, 5);
	chmod(at("d"), 0555);
	set_mtime(at("d"), 1600000100, 0);
}

Test(restore, killed_then_rerun_finishes)
{
	make_many_files();
	tier_vault *v = init_vault();
	push(v, src);
	tier_vault_free(v);

	/* kill -9 (the hook: _exit(137)) after 27 pieces: the 24 small files
	 * of one piece each are complete or not, z.bin (>= 6) is not */
	fflush(NULL);
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		setenv("TIER_TEST_RESTORE_KILL", "27", 1);
		tier_vault *cv = open_vault();
		tier_restore_stats cst;
		restore(cv, &cst, 0, out, NULL, 0, 0);
		_exit(0); /* not reached unless the hook is gone */
	}
	int status = 0;
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 137,
	          "the restore was not killed (status %d)", status);

	struct seen *done = calloc(64, sizeof(*done));
	size_t ndone = complete_files(out, done, 64);
	cr_assert_gt(ndone, 0, "nothing complete before the kill");
	/* the partial file is under its temporary name only */
	cr_assert(!exists(restored(out, "z.bin")), "partial z.bin");
	cr_assert(exists(restored(out, "z.bin.tier-tmp")),
	          "no partial z.bin.tier-tmp: the kill came too late");

	/* the same command again: it finishes, keeping what was complete */
	v = open_vault();
	tier_restore_stats st;
	int rc = restore(v, &st, 0, out, NULL, 0, 0);
	cr_assert_eq(rc, 0, "rerun: %s (%s)", tier_error_last(), warnings);
	compare(src, restored(out, NULL));
	cr_assert(no_temp_files(out));
	cr_assert_eq(st.kept, ndone, "kept %llu of %zu",
	             (unsigned long long)st.kept, ndone);
	cr_assert_eq(st.files + st.kept, 25);
	for (size_t i = 0; i < ndone; i++) {
		struct stat s;
		cr_assert_eq(stat(done[i].path, &s), 0);
		cr_assert_eq(s.st_ino, done[i].ino, "'%s' was rewritten",
		             done[i].path);
		cr_assert(s.st_ctim.tv_sec == done[i].ctime.tv_sec &&
		                  s.st_ctim.tv_nsec == done[i].ctime.tv_nsec,
		          "'%s' was touched", done[i].path);
	}

	/* and with --overwrite: nothing to redo, nothing rewritten */
	ndone = complete_files(out, done, 64);
	rc = restore(v, &st, 0, out, NULL, 0, 1);
	cr_assert_eq(rc, 0, "overwrite: %s", tier_error_last());
	cr_assert_eq(st.files, 0);
	cr_assert_eq(st.kept, 25);
	for (size_t i = 0; i < ndone; i++) {
		struct stat s;
		cr_assert_eq(stat(done[i].path, &s), 0);
		cr_assert_eq(s.st_ino, done[i].ino);
	}
	compare(src, restored(out, NULL));
	free(done);
	tier_vault_free(v);
}

Test(restore, cancelled_then_rerun_finishes)
{
	make_many_files();
	tier_vault *v = init_vault();
	push(v, src);
	tier_restore_options o = TIER_RESTORE_OPTIONS_INIT;
	tier_restore_stats st;
	o.dest = out;
	int calls = 0;
	o.progress = cancel_cb; /* Ctrl-C: directories made, no metadata */
	o.payload = &calls;
	int rc = tier_restore_run(&st, v, &o);
	cr_assert_eq(rc, TIER_EABORTED, "rc %d: %s", rc, tier_error_last());
	cr_assert(no_temp_files(out));
	uint64_t before = st.files;

	rc = restore(v, &st, 0, out, NULL, 0, 0);
	cr_assert_eq(rc, 0, "rerun: %s (%s)", tier_error_last(), warnings);
	compare(src, restored(out, NULL));
	cr_assert_eq(st.kept, before);
	cr_assert_eq(st.files + st.kept, 25);
	tier_vault_free(v);
}
