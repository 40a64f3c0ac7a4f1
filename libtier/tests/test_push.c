/* Push: snapshots into the log, packs on every tier, dedup, bad input. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helpers.h"
#include "tier/push.h"
#include "tier/restore.h"
#include "tier/vault.h"

static const char *dir;
static char tier_a[4200], tier_b[4200], state[4200], src[4200];

static void setup(void)
{
	dir = tt_tmpdir();
	cr_assert_not_null(dir);
	snprintf(tier_a, sizeof(tier_a), "a=file://%s/a", dir);
	snprintf(tier_b, sizeof(tier_b), "b=file://%s/b", dir);
	snprintf(state, sizeof(state), "%s/state", dir);
	snprintf(src, sizeof(src), "%s/src", dir);
	tt_sh("mkdir -p %s/sub/deeper %s/empty && cd %s && printf hello > small.txt && "
	      "head -c 3000000 /dev/urandom > sub/random.bin && "
	      "yes 'compressible line of text' | head -c 2000000 > sub/deeper/text.txt && "
	      "ln -s small.txt link && mkfifo fifo && mkdir -p .git && echo gitfile > .git/config",
	      src, src, src);
}

static void teardown(void)
{
	tt_rmrf(dir);
}

TestSuite(push, .init = setup, .fini = teardown);

static tier_vault *make_vault(const char *a, const char *b)
{
	const char *tiers[2] = {a, b};
	tier_vault *v = NULL;
	tier_vault_options o = TIER_VAULT_OPTIONS_INIT;
	o.state_dir = state;
	o.tiers = tiers;
	o.ntiers = b ? 2 : 1;
	o.location.retries = 2;
	o.location.retry_delay = 1;
	cr_assert_eq(tier_vault_init(&v, &o), 0, "init: %s", tier_error_last());
	return v;
}

static int push(tier_vault *v, tier_push_stats *st, const char *path)
{
	const char *paths[1] = {path};
	tier_push_options po = TIER_PUSH_OPTIONS_INIT;
	po.paths = paths;
	po.npaths = 1;
	tier_write_result *r = NULL;
	int rc = tier_push_run(&r, st, v, &po);
	tier_write_result_free(r);
	return rc;
}

static int count_packs(const char *which)
{
	return tt_sh("exit $(find %s/%s/data -type f | wc -l)", dir, which);
}

Test(push, snapshot_lands_in_the_log_and_packs_on_every_tier)
{
	tier_vault *v = make_vault(tier_a, tier_b);
	tier_push_stats st;
	cr_assert_eq(push(v, &st, src), 0, "%s", tier_error_last());
	cr_assert_eq(tier_vault_max_revision(v), 2);
	cr_assert_eq(st.files, 4, "small, random, text, .git/config");
	cr_assert_eq(st.bytes, 5 + 3000000 + 2000000 + 8);
	cr_assert_eq(st.others, 2, "symlink and fifo");
	cr_assert_eq(st.errors, 0);
	cr_assert(st.stored_bytes < st.new_bytes, "text compresses");
	cr_assert_gt(count_packs("a"), 0);
	cr_assert_eq(count_packs("a"), count_packs("b"));
	cr_assert_eq(tt_sh("diff -r %s/a/data %s/b/data", dir, dir), 0,
	             "identical data on both tiers");
	/* stock git reads the snapshot; the .git directory is kept, escaped */
	cr_assert_eq(
	        tt_sh("git --git-dir=%s/a/log.git ls-tree -r --name-only main | grep -q '^root/.*/src/%%%%2Egit/config$'",
	              dir),
	        0);
	cr_assert_eq(
	        tt_sh("git --git-dir=%s/a/log.git ls-tree -r --name-only main | grep -q '^root/.*/src/sub/deeper/text.txt$'",
	              dir),
	        0);
	cr_assert_eq(
	        tt_sh("git --git-dir=%s/a/log.git fsck --strict >/dev/null 2>&1",
	              dir),
	        0);
	cr_assert_eq(
	        /* 4 regular files + symlink + fifo: a file is every
	         * non-directory entry, as tier-log --stat counts them */
	        tt_sh("git --git-dir=%s/a/log.git log -1 --format=%%B main | grep -q '^Tier-Files: 6$'",
	              dir),
	        0);
	tier_vault_free(v);
}

Test(push, unchanged_files_are_not_read_again)
{
	tier_vault *v = make_vault(tier_a, tier_b);
	tier_push_stats st;
	cr_assert_eq(push(v, &st, src), 0);
	int packs = count_packs("a");
	cr_assert_eq(push(v, &st, src), 0);
	cr_assert_eq(st.read_bytes, 0);
	cr_assert_eq(st.unchanged_files, 4);
	cr_assert_eq(st.new_chunks, 0);
	cr_assert_eq(count_packs("a"), packs, "no new pack");
	/* a changed file is read, the rest is not */
	tt_sh("printf 'hello, world' > %s/small.txt", src);
	cr_assert_eq(push(v, &st, src), 0);
	cr_assert_eq(st.read_bytes, 12);
	cr_assert_eq(st.unchanged_files, 3);
	cr_assert_eq(st.new_chunks, 1);
	cr_assert_eq(tier_vault_max_revision(v), 4);
	tier_vault_free(v);
}

/*
 * The stat cache (state/statcache) only saves reading nodes: a damaged or
 * foreign one changes nothing a push decides, and a file whose stat
 * changed is read again even when the cache holds its old stat.
 */
Test(push, the_stat_cache_decides_nothing_on_its_own)
{
	tier_vault *v = make_vault(tier_a, NULL);
	tier_push_stats st;
	char cache[4300];
	snprintf(cache, sizeof(cache), "%s/statcache", state);
	cr_assert_eq(push(v, &st, src), 0, "%s", tier_error_last());
	cr_assert_eq(access(cache, F_OK), 0, "the push left a stat cache");
	cr_assert_eq(push(v, &st, src), 0, "%s", tier_error_last());
	cr_assert_eq(st.unchanged_files, 4);
	cr_assert_eq(st.read_bytes, 0);
	/* garbage over the middle of it: unchanged files are still found
	 * (from their nodes), nothing is lost */
	cr_assert_eq(
	        tt_sh("sz=$(stat -c %%s %s) && head -c $((sz / 2)) /dev/urandom | dd of=%s bs=1 seek=8 conv=notrunc 2>/dev/null",
	              cache, cache),
	        0);
	cr_assert_eq(push(v, &st, src), 0, "%s", tier_error_last());
	cr_assert_eq(st.unchanged_files, 4);
	cr_assert_eq(st.read_bytes, 0);
	/* the same size and mtime, new bytes: the ctime tells */
	cr_assert_eq(
	        tt_sh("f=%s/small.txt && m=$(stat -c %%y \"$f\") && "
	              "s=$(stat -c %%s \"$f\") && head -c \"$s\" /dev/zero | tr '\\0' x >\"$f\" && "
	              "touch -d \"$m\" \"$f\"",
	              src),
	        0);
	cr_assert_eq(push(v, &st, src), 0, "%s", tier_error_last());
	cr_assert_eq(st.unchanged_files, 3);
	cr_assert_gt(st.read_bytes, 0);
	/* an empty or missing cache: the same answers */
	cr_assert_eq(tt_sh(": >%s", cache), 0);
	cr_assert_eq(push(v, &st, src), 0, "%s", tier_error_last());
	cr_assert_eq(st.unchanged_files, 4);
	cr_assert_eq(unlink(cache), 0);
	cr_assert_eq(push(v, &st, src), 0, "%s", tier_error_last());
	cr_assert_eq(st.unchanged_files, 4);
	cr_assert_eq(access(cache, F_OK), 0, "written again");
	tier_vault_free(v);
}

/*
 * The tree of src in the snapshot at rev (a git revision of tier a's log),
 * as hex (not the root's: the directories above src change as other tests
 * make their own under the same temporary directory).
 */
static void root_tree(char *out, size_t cap, const char *rev)
{
	char cmd[8600];
	snprintf(cmd, sizeof(cmd),
	         "git --git-dir=%s/a/log.git rev-parse %s:root%s", dir, rev,
	         src);
	FILE *f = popen(cmd, "r");
	cr_assert_not_null(f);
	cr_assert_not_null(fgets(out, (int)cap, f));
	pclose(f);
}

Test(push, an_unchanged_tree_is_kept_and_a_removed_file_leaves_it)
{
	tier_vault *v = make_vault(tier_a, NULL);
	tier_push_stats st;
	char t1[64], t2[64], t3[64];
	cr_assert_eq(push(v, &st, src), 0, "%s", tier_error_last());
	cr_assert_eq(push(v, &st, src), 0, "%s", tier_error_last());
	root_tree(t1, sizeof(t1), "main~1");
	root_tree(t2, sizeof(t2), "main");
	cr_assert_str_eq(t1, t2, "nothing changed: the same snapshot tree");
	/* a file gone, another added: the trees above them are built anew */
	tt_sh("rm %s/sub/deeper/text.txt && printf new > %s/sub/added", src,
	      src);
	cr_assert_eq(push(v, &st, src), 0, "%s", tier_error_last());
	cr_assert_eq(st.unchanged_files, 3);
	root_tree(t3, sizeof(t3), "main");
	cr_assert_str_neq(t2, t3);
	cr_assert_neq(
	        tt_sh("git --git-dir=%s/a/log.git ls-tree -r --name-only main | grep -q 'deeper/text.txt$'",
	              dir),
	        0, "the removed file is not in the snapshot");
	cr_assert_eq(
	        tt_sh("git --git-dir=%s/a/log.git ls-tree -r --name-only main | grep -q 'sub/added$'",
	              dir),
	        0);
	cr_assert_eq(
	        tt_sh("git --git-dir=%s/a/log.git fsck --strict >/dev/null 2>&1",
	              dir),
	        0);
	tier_vault_free(v);
}

Test(push, duplicate_data_is_stored_once)
{
	tier_vault *v = make_vault(tier_a, NULL);
	tt_sh("cp %s/sub/random.bin %s/copy.bin", src, src);
	tier_push_stats st;
	cr_assert_eq(push(v, &st, src), 0);
	cr_assert_eq(st.bytes, 5 + 3000000 * 2 + 2000000 + 8);
	cr_assert_lt(st.new_bytes, 3000000 + 2000000 + 100,
	             "the copy adds no data");
	tier_vault_free(v);
}

Test(push, a_full_tier_fails_cleanly_and_keeps_earlier_revisions)
{
	char fa[4400];
	snprintf(fa, sizeof(fa), "a=fault+file://%s/a?fault=%s/ctl", dir, dir);
	tier_vault *v = make_vault(fa, NULL);
	tier_push_stats st;
	cr_assert_eq(push(v, &st, src), 0, "%s", tier_error_last());
	tt_sh("echo 'hello again' > %s/small.txt; head -c 1000000 /dev/urandom > %s/new.bin",
	      src, src);
	tt_write_file(tt_path("%s/ctl", dir), "enospc\n", 7);
	int rc = push(v, &st, src);
	cr_assert_eq(rc, TIER_ENOSPC, "got %d: %s", rc, tier_error_last());
	cr_assert(strstr(tier_error_last(), "'a'") ||
	                  strstr(tier_error_last(), "space"),
	          "%s", tier_error_last());
	tt_write_file(tt_path("%s/ctl", dir), "", 0);
	tier_vault_free(v);
	const char *tiers[1] = {fa};
	tier_vault_options o = TIER_VAULT_OPTIONS_INIT;
	o.state_dir = state;
	cr_assert_eq(tier_vault_open(&v, &o), 0);
	(void)tiers;
	cr_assert_eq(tier_vault_check(v), 0, "%s", tier_error_last());
	cr_assert_eq(tier_vault_max_revision(v), 2, "no new revision");
	cr_assert_eq(
	        tt_sh("git --git-dir=%s/a/log.git fsck --strict >/dev/null 2>&1",
	              dir),
	        0);
	/* and once there is space again the push goes through */
	cr_assert_eq(push(v, &st, src), 0, "%s", tier_error_last());
	cr_assert_eq(tier_vault_max_revision(v), 3);
	tier_vault_free(v);
}

static char *warnings;
static void collect_warning(const char *msg, void *payload)
{
	(void)payload;
	size_t n = warnings ? strlen(warnings) : 0;
	warnings = realloc(warnings, n + strlen(msg) + 2);
	strcpy(warnings + n, msg);
	strcat(warnings, "\n");
}

Test(push, a_file_changing_while_read_is_reported)
{
	tier_vault *v = make_vault(tier_a, NULL);
	char target[4400];
	snprintf(target, sizeof(target), "%s/sub/random.bin", src);
	setenv("TIER_TEST_TOUCH_DURING_READ", target, 1);
	const char *paths[1] = {src};
	tier_push_options po = TIER_PUSH_OPTIONS_INIT;
	po.paths = paths;
	po.npaths = 1;
	po.warning = collect_warning;
	tier_push_stats st;
	tier_write_result *r = NULL;
	cr_assert_eq(tier_push_run(&r, &st, v, &po), 0, "%s",
	             tier_error_last());
	tier_write_result_free(r);
	cr_assert_eq(st.changed, 1);
	cr_assert(warnings && strstr(warnings, "random.bin") &&
	                  strstr(warnings, "changed while"),
	          "%s", warnings ? warnings : "(none)");
	unsetenv("TIER_TEST_TOUCH_DURING_READ");
	/* the next push reads it again instead of trusting its metadata */
	cr_assert_eq(push(v, &st, src), 0);
	cr_assert_eq(st.read_bytes, 3000000);
	tier_vault_free(v);
}

Test(push, unreadable_files_are_reported_and_the_rest_backed_up)
{
	/* root reads everything: run the push as 'nobody' */
	tt_sh("chmod 000 %s/sub/random.bin && chmod 777 %s && chown -R 65534 %s/src",
	      src, dir, dir);
	pid_t pid = fork();
	if (pid == 0) {
		if (setgid(65534) != 0 || setuid(65534) != 0)
			_exit(99);
		tier_vault *v = NULL;
		const char *tiers[1] = {tier_a};
		tier_vault_options o = TIER_VAULT_OPTIONS_INIT;
		char st2[4400];
		snprintf(st2, sizeof(st2), "%s/nstate", dir);
		o.state_dir = st2;
		o.tiers = tiers;
		o.ntiers = 1;
		if (tier_vault_init(&v, &o) < 0)
			_exit(98);
		const char *paths[1] = {src};
		tier_push_options po = TIER_PUSH_OPTIONS_INIT;
		po.paths = paths;
		po.npaths = 1;
		po.warning = collect_warning;
		tier_push_stats st;
		tier_write_result *r = NULL;
		int rc = tier_push_run(&r, &st, v, &po);
		if (rc != 0)
			_exit(97);
		if (st.errors != 1 || st.files != 3)
			_exit(96);
		if (!warnings || !strstr(warnings, "random.bin") ||
		    !strstr(warnings, "ermission"))
			_exit(95);
		_exit(0);
	}
	int status = 0;
	waitpid(pid, &status, 0);
	cr_assert(WIFEXITED(status));
	if (WEXITSTATUS(status) == 99 || WEXITSTATUS(status) == 98)
		cr_skip_test("cannot run as nobody here (%d)",
		             WEXITSTATUS(status));
	cr_assert_eq(WEXITSTATUS(status), 0, "child exit %d",
	             WEXITSTATUS(status));
}

Test(push, a_missing_path_writes_nothing)
{
	tier_vault *v = make_vault(tier_a, NULL);
	tier_push_stats st;
	char missing[4400];
	snprintf(missing, sizeof(missing), "%s/nope", dir);
	cr_assert_eq(push(v, &st, missing), TIER_ENOTFOUND);
	cr_assert(strstr(tier_error_last(), "nope") != NULL);
	cr_assert_eq(tier_vault_max_revision(v), 1);
	tier_vault_free(v);
}

Test(push, a_pack_size_out_of_range_is_refused_before_anything_is_written)
{
	tier_vault *v = make_vault(tier_a, NULL);
	const char *paths[1] = {src};
	tier_push_options po = TIER_PUSH_OPTIONS_INIT;
	po.paths = paths;
	po.npaths = 1;
	po.pack_size = 1000;
	tier_write_result *r = NULL;
	cr_assert_eq(tier_push_run(&r, NULL, v, &po), TIER_EUSAGE);
	cr_assert(strstr(tier_error_last(), "pack size"), "%s",
	          tier_error_last());
	tier_write_result_free(r);
	cr_assert_eq(tier_vault_max_revision(v), 1);
	tier_vault_free(v);
}

/* ---- paths past PATH_MAX (issue 12 point 7) ---------------------------- */

Test(push, paths_longer_than_path_max_are_backed_up)
{
	tier_vault *v = make_vault(tier_a, NULL);
	/* 60 levels of 100-character names: ~6 KiB, past PATH_MAX (4 KiB);
	 * made relative to a directory fd: no long path reaches the kernel */
	char name[101];
	memset(name, 'd', 100);
	name[100] = '\0';
	int fd = open(src, O_RDONLY | O_DIRECTORY);
	cr_assert_geq(fd, 0);
	for (int i = 0; i < 60; i++) {
		cr_assert_eq(mkdirat(fd, name, 0755), 0);
		int sub = openat(fd, name, O_RDONLY | O_DIRECTORY);
		cr_assert_geq(sub, 0);
		close(fd);
		fd = sub;
	}
	int lf = openat(fd, "leaf.txt", O_WRONLY | O_CREAT, 0644);
	cr_assert_eq(write(lf, "deep data!", 10), 10);
	close(lf);
	close(fd);
	tier_push_stats st;
	cr_assert_eq(push(v, &st, src), 0, "%s", tier_error_last());
	cr_assert_eq(st.errors, 0, "nothing left out");
	cr_assert_eq(st.files, 5);
	/* the leaf is in the revision, 60 levels down, with its 10 bytes */
	cr_assert_eq(
	        tt_sh("git --git-dir=%s/a/log.git ls-tree -r --name-only main > %s/names && "
	              "p=$(grep '/leaf.txt$' %s/names) && "
	              "[ $(printf %%s \"$p\" | tr -cd / | wc -c) -ge 60 ] && "
	              "[ ${#p} -gt 6000 ] && "
	              "git --git-dir=%s/a/log.git cat-file -p \"main:$p\" | grep -qx 'size 10'",
	              dir, dir, dir, dir),
	        0, "leaf.txt missing from the revision");
	/* and the library's restore gives it back, byte for byte */
	tier_restore_options ro = TIER_RESTORE_OPTIONS_INIT;
	char dest[4400];
	snprintf(dest, sizeof(dest), "%s/out", dir);
	ro.dest = dest;
	tier_restore_stats rs;
	cr_assert_eq(tier_restore_run(&rs, v, &ro), 0, "%s", tier_error_last());
	cr_assert_eq(rs.errors, 0);
	/* diff(1) stops at PATH_MAX: the deep leaf is read through dir fds */
	cr_assert_eq(
	        tt_sh("diff -r -x '%s' -x fifo %s %s%s", name, src, dest, src),
	        0, "the rest of the restore equals the source");
	fd = open(tt_path("%s%s", dest, src), O_RDONLY | O_DIRECTORY);
	cr_assert_geq(fd, 0);
	for (int i = 0; i < 60; i++) {
		int sub = openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
		cr_assert_geq(sub, 0, "level %d not restored", i);
		close(fd);
		fd = sub;
	}
	char got[32] = "";
	lf = openat(fd, "leaf.txt", O_RDONLY | O_NOFOLLOW);
	cr_assert_geq(lf, 0, "leaf.txt not restored");
	cr_assert_eq(read(lf, got, sizeof(got)), 10);
	cr_assert_str_eq(got, "deep data!");
	close(lf);
	close(fd);
	tier_vault_free(v);
}

/* ---- the progress line (issue 13 point 3) ------------------------------- */

static int progress_calls, progress_bad;
static int check_progress(const tier_push_stats *s, const char *current,
                          void *payload)
{
	(void)s;
	(void)payload;
	progress_calls++;
	/* under ASan a pointer into freed memory stops the test here */
	if (!current || (strlen(current) && strncmp(current, src, strlen(src))))
		progress_bad++;
	return 0;
}

Test(push, the_progress_callback_gets_a_live_current_path)
{
	tier_vault *v = make_vault(tier_a, NULL);
	/* many directories, so that the walk's buffers come and go */
	tt_sh("cd %s && for i in $(seq 40); do mkdir -p d$i/e && echo $i > d$i/e/f; done",
	      src);
	const char *paths[1] = {src};
	tier_push_options po = TIER_PUSH_OPTIONS_INIT;
	po.paths = paths;
	po.npaths = 1;
	po.progress = check_progress;
	tier_write_result *r = NULL;
	cr_assert_eq(tier_push_run(&r, NULL, v, &po), 0, "%s",
	             tier_error_last());
	tier_write_result_free(r);
	cr_assert_gt(progress_calls, 0, "at least the final call");
	cr_assert_eq(progress_bad, 0, "current is a path under the source");
	tier_vault_free(v);
}

/* ---- missing and unreadable paths (issue 13 point 10) ------------------- */

static char unread[8192];
static int unread_n;
static void collect_unreadable(const char *path, const char *error,
                               void *payload)
{
	(void)payload;
	unread_n++;
	size_t n = strlen(unread);
	snprintf(unread + n, sizeof(unread) - n, "%s|%s\n", path, error);
}

Test(push, a_missing_path_is_reported_and_the_others_backed_up)
{
	tier_vault *v = make_vault(tier_a, NULL);
	char missing[4400];
	snprintf(missing, sizeof(missing), "%s/nope", dir);
	const char *paths[2] = {missing, src};
	tier_push_options po = TIER_PUSH_OPTIONS_INIT;
	po.paths = paths;
	po.npaths = 2;
	po.warning = collect_warning;
	po.unreadable = collect_unreadable;
	tier_push_stats st;
	tier_write_result *r = NULL;
	cr_assert_eq(tier_push_run(&r, &st, v, &po), 0, "%s",
	             tier_error_last());
	tier_write_result_free(r);
	cr_assert_eq(tier_vault_max_revision(v), 2, "the revision is written");
	cr_assert_eq(st.errors, 1);
	cr_assert_eq(st.files, 4, "the other path is whole");
	cr_assert_eq(unread_n, 1);
	char want[4500];
	snprintf(want, sizeof(want), "%s|no such file or directory\n", missing);
	cr_assert_str_eq(unread, want);
	cr_assert(warnings && strstr(warnings, missing), "%s",
	          warnings ? warnings : "(none)");
	/* both paths are recorded: the job is the same next time */
	cr_assert_eq(
	        tt_sh("git --git-dir=%s/a/log.git log -1 --format=%%B main > %s/msg && "
	              "grep -qx 'Tier-Path: %s' %s/msg && grep -qx 'Tier-Path: %s' %s/msg",
	              dir, dir, missing, dir, src, dir),
	        0);
	tier_vault_free(v);
}

Test(push, a_version_2_options_struct_is_still_taken)
{
	tier_vault *v = make_vault(tier_a, NULL);
	char missing[4400];
	snprintf(missing, sizeof(missing), "%s/nope", dir);
	const char *paths[2] = {src, missing};
	tier_push_options po = TIER_PUSH_OPTIONS_INIT;
	po.version = 2;
	po.paths = paths;
	po.npaths = 2;
	/* past the end of a version 2 struct: must never be called */
	po.unreadable = (tier_push_unreadable_cb)1;
	tier_push_stats st;
	tier_write_result *r = NULL;
	cr_assert_eq(tier_push_run(&r, &st, v, &po), 0, "%s",
	             tier_error_last());
	cr_assert_eq(st.errors, 1, "the missing path is counted");
	tier_write_result_free(r);
	tier_vault_free(v);
}

/* ---- two jobs with different paths (issue 13 points 6, 11) ------------- */

static int count_diff(const tier_diff_entry *e, void *payload)
{
	(void)e;
	(*(int *)payload)++;
	return 0;
}

Test(push, each_job_compares_with_its_own_last_revision)
{
	tier_vault *v = make_vault(tier_a, NULL);
	char job_a[4400], job_b[4400];
	snprintf(job_a, sizeof(job_a), "%s/sub", src);
	snprintf(job_b, sizeof(job_b), "%s/jobb", dir);
	tt_sh("mkdir -p %s && head -c 500000 /dev/urandom > %s/b.bin && echo b > %s/b.txt",
	      job_b, job_b, job_b);
	tier_push_stats st;
	cr_assert_eq(push(v, &st, job_a), 0, "%s", tier_error_last()); /* 2 */
	cr_assert_eq(push(v, &st, job_b), 0, "%s", tier_error_last()); /* 3 */
	/* A again, typed another way: same absolute path, same job */
	char job_a2[4500];
	snprintf(job_a2, sizeof(job_a2), "%s/./deeper/../", job_a);
	cr_assert_eq(push(v, &st, job_a2), 0, "%s", tier_error_last()); /* 4 */
	cr_assert_eq(st.read_bytes, 0, "job A read %llu bytes",
	             (unsigned long long)st.read_bytes);
	cr_assert_eq(st.unchanged_files, 2);
	cr_assert_eq(push(v, &st, job_b), 0, "%s", tier_error_last()); /* 5 */
	cr_assert_eq(st.read_bytes, 0, "job B read %llu bytes",
	             (unsigned long long)st.read_bytes);
	cr_assert_eq(st.unchanged_files, 2);
	/* no churn between a job's two revisions */
	int changes = 0;
	cr_assert_eq(tier_vault_diff(v, 2, 4, count_diff, &changes), 0, "%s",
	             tier_error_last());
	cr_assert_eq(changes, 0, "A: %d changes", changes);
	cr_assert_eq(tier_vault_diff(v, 3, 5, count_diff, &changes), 0);
	cr_assert_eq(changes, 0, "B: %d changes", changes);
	/* the paths are in the log, absolute and normalised */
	cr_assert_eq(
	        tt_sh("git --git-dir=%s/a/log.git log -1 --skip=1 --format=%%B main | grep -x 'Tier-Path: .*' > %s/p && "
	              "[ \"$(cat %s/p)\" = 'Tier-Path: %s' ]",
	              dir, dir, dir, job_a),
	        0);
	/* --reread reads everything again, base or not */
	const char *paths[1] = {job_b};
	tier_push_options po = TIER_PUSH_OPTIONS_INIT;
	po.paths = paths;
	po.npaths = 1;
	po.reread = 1;
	tier_write_result *r = NULL;
	cr_assert_eq(tier_push_run(&r, &st, v, &po), 0);
	tier_write_result_free(r);
	cr_assert_eq(st.read_bytes, 500002);
	tier_vault_free(v);
}

/* ---- resuming an interrupted push (issue 13 point 4) -------------------- */

static long long du_bytes(const char *path)
{
	return tt_sh(
	        "exit $(( $(find %s -type f -printf '%%s\\n' | awk '{s+=$1} END {print s+0}') / 65536 ))",
	        path);
}

Test(push, an_interrupted_push_reuses_the_packs_it_sent)
{
	char fa[4400], ctl[4400];
	snprintf(ctl, sizeof(ctl), "%s/ctl", dir);
	snprintf(fa, sizeof(fa), "a=fault+file://%s/a?fault=%s", dir, ctl);
	tier_vault *v = make_vault(fa, NULL);
	tier_vault_free(v);
	/* 3 MiB that does not compress, in files of 16 KiB (a chunk each):
	 * ~48 packs of 64 KiB */
	tt_sh("rm -rf %s/* %s/.git && head -c 3145728 /dev/urandom | split -b 16384 - %s/r",
	      src, src, src);
	const char *paths[1] = {src};
	tier_push_options po = TIER_PUSH_OPTIONS_INIT;
	po.paths = paths;
	po.npaths = 1;
	po.pack_size = 65536;
	po.threads = 2;
	/* the 21st put ends the process like kill -9: 20 packs are on the tier */
	tt_write_file(ctl, "crash put 21\n", 13);
	pid_t pid = fork();
	if (pid == 0) {
		tier_vault_options o = TIER_VAULT_OPTIONS_INIT;
		o.state_dir = state;
		tier_vault *cv = NULL;
		if (tier_vault_open(&cv, &o) < 0)
			_exit(90);
		tier_write_result *r = NULL;
		int rc = tier_push_run(&r, NULL, cv, &po);
		fprintf(stderr, "push did not crash: %d %s\n", rc,
		        tier_error_last());
		_exit(91); /* should have crashed */
	}
	int status = 0;
	waitpid(pid, &status, 0);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 137,
	          "the push was not killed (%d)", status);
	int recorded = tt_sh("exit $(ls %s/resume | wc -l)", state);
	cr_assert_geq(recorded, 18, "%d packs recorded", recorded);
	/* one recorded pack vanished from the tier: simply not reused */
	cr_assert_eq(tt_sh("f=$(ls %s/resume | head -1) && h=${f%%.tail} && "
	                   "rm %s/a/data/$(printf %%.2s $h)/$h",
	                   state, dir),
	             0);

	tt_write_file(ctl, "", 0);
	tier_vault_options o = TIER_VAULT_OPTIONS_INIT;
	o.state_dir = state;
	cr_assert_eq(tier_vault_open(&v, &o), 0, "%s", tier_error_last());
	tier_push_stats st;
	tier_write_result *r = NULL;
	cr_assert_eq(tier_push_run(&r, &st, v, &po), 0, "%s",
	             tier_error_last());
	tier_write_result_free(r);
	cr_assert_eq(st.resumed_packs, (uint64_t)recorded - 1,
	             "%llu of %d reused", (unsigned long long)st.resumed_packs,
	             recorded - 1);
	cr_assert_eq(tt_sh("exit $(ls %s/resume | wc -l)", state), 0,
	             "records cleared once the revision names the packs");
	/* data: 3 MiB of packs, plus at most ~one pack resent */
	long long units =
	        du_bytes(tt_path("%s/a/data", dir)); /* 64 KiB units */
	cr_assert_leq(units, 48 + 2, "data is %lld x 64 KiB", units);
	/* and the revision restores byte for byte */
	tier_restore_options ro = TIER_RESTORE_OPTIONS_INIT;
	char dest[4400];
	snprintf(dest, sizeof(dest), "%s/out", dir);
	ro.dest = dest;
	tier_restore_stats rs;
	cr_assert_eq(tier_restore_run(&rs, v, &ro), 0, "%s", tier_error_last());
	cr_assert_eq(tt_sh("diff -r %s %s%s", src, dest, src), 0);
	cr_assert_eq(
	        tt_sh("git --git-dir=%s/a/log.git fsck --strict >/dev/null 2>&1",
	              dir),
	        0);
	tier_vault_free(v);
}

/* ---- format bounds (objread.h) ------------------------------------------ */

Test(push, packs_close_before_their_tail_outgrows_the_index_limit)
{
	/* the real limit is 1.29 M chunks; the hook lowers it to 3 */
	setenv("TIER_TEST_PACK_MAX_CHUNKS", "3", 1);
	tier_vault *v = make_vault(tier_a, NULL);
	tt_sh("cd %s && for i in $(seq 10); do echo file $i > f$i; done", src);
	tier_push_stats st;
	cr_assert_eq(push(v, &st, src), 0, "%s", tier_error_last());
	cr_assert_geq(st.packs, st.new_chunks / 3);
	/* every tail in the index holds at most 3 entries (52 bytes each) */
	cr_assert_eq(
	        tt_sh("git --git-dir=%s/a/log.git ls-tree -r -l main index | "
	              "awk '$4 > 3*52+64 {bad=1} END {exit bad}'",
	              dir),
	        0);
	unsetenv("TIER_TEST_PACK_MAX_CHUNKS");
	tier_vault_free(v);
}

Test(push, a_file_too_large_for_one_node_is_reported_not_written)
{
	setenv("TIER_TEST_NODE_MAX_CHUNKS", "2", 1);
	tier_vault *v = make_vault(tier_a, NULL);
	/* chunks are at most 4 MiB: 12 MB is 3 chunks or more */
	char job[4400];
	snprintf(job, sizeof(job), "%s/bigjob", dir);
	tt_sh("mkdir %s && head -c 12000000 /dev/urandom > %s/big.bin && echo hi > %s/small.txt",
	      job, job, job);
	const char *paths[1] = {job};
	tier_push_options po = TIER_PUSH_OPTIONS_INIT;
	po.paths = paths;
	po.npaths = 1;
	po.warning = collect_warning;
	po.unreadable = collect_unreadable;
	tier_push_stats st;
	tier_write_result *r = NULL;
	cr_assert_eq(tier_push_run(&r, &st, v, &po), 0, "%s",
	             tier_error_last());
	tier_write_result_free(r);
	cr_assert_eq(st.errors, 1, "%s", unread);
	cr_assert(strstr(unread, "big.bin|too large"), "%s", unread);
	cr_assert(warnings && strstr(warnings, "big.bin"), "%s",
	          warnings ? warnings : "");
	cr_assert_neq(
	        tt_sh("git --git-dir=%s/a/log.git ls-tree -r --name-only main | grep -q big.bin",
	              dir),
	        0, "big.bin is not in the revision");
	cr_assert_eq(
	        tt_sh("git --git-dir=%s/a/log.git ls-tree -r --name-only main | grep -q small.txt",
	              dir),
	        0);
	unsetenv("TIER_TEST_NODE_MAX_CHUNKS");
	tier_vault_free(v);
}

Test(push, a_path_with_odd_bytes_is_one_quoted_trailer_and_still_a_job)
{
	tier_vault *v = make_vault(tier_a, NULL);
	char odd[4400];
	snprintf(odd, sizeof(odd), "%s/caf\xc3\xa9\nline", dir);
	cr_assert_eq(mkdir(odd, 0755), 0);
	tt_write_file(tt_path("%s/f", odd), "data", 4);
	tier_push_stats st;
	cr_assert_eq(push(v, &st, odd), 0, "%s", tier_error_last());
	cr_assert_eq(
	        tt_sh("git --git-dir=%s/a/log.git log -1 --format=%%B main | "
	              "grep -c '^Tier-Path: \"%s/caf\\\\303\\\\251\\\\nline\"$' | grep -qx 1",
	              dir, dir),
	        0, "one quoted Tier-Path line");
	cr_assert_eq(push(v, &st, odd), 0);
	cr_assert_eq(st.read_bytes, 0, "the quoted path matches its base");
	cr_assert_eq(st.unchanged_files, 1);
	tier_vault_free(v);
}
