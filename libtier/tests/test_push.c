/* Push: snapshots into the log, packs on every tier, dedup, bad input. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helpers.h"
#include "tier/push.h"
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
