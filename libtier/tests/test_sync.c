/* Sync by log replay (R6), writes abort sync (R7), writes wait for a tier (R3). */
#include <criterion/criterion.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "helpers.h"
#include "tier.h"
#include "vault.h"

static const char *dir;
static char tier_a[4400], tier_b[4400], state[4200], src[4200];

static void setup(void)
{
	dir = tt_tmpdir();
	cr_assert_not_null(dir);
	snprintf(tier_a, sizeof(tier_a), "a=file://%s/a", dir);
	/* b goes through the fault wrapper so tests can slow it down */
	snprintf(tier_b, sizeof(tier_b), "b=fault+file://%s/b?fault=%s/b.ctl",
	         dir, dir);
	snprintf(state, sizeof(state), "%s/state", dir);
	snprintf(src, sizeof(src), "%s/src", dir);
	tt_sh("mkdir -p %s && head -c 2000000 /dev/urandom > %s/one", src, src);
}

static void teardown(void)
{
	tt_rmrf(dir);
}

TestSuite(sync, .init = setup, .fini = teardown);

static tier_vault_options opts(void)
{
	tier_vault_options o = TIER_VAULT_OPTIONS_INIT;
	o.state_dir = state;
	o.location.retries = 2;
	o.location.retry_delay = 1;
	o.location.retry_cap = 5;
	return o;
}

static tier_vault *init(void)
{
	const char *tiers[2] = {tier_a, tier_b};
	tier_vault_options o = opts();
	o.tiers = tiers;
	o.ntiers = 2;
	tier_vault *v = NULL;
	cr_assert_eq(tier_vault_init(&v, &o), 0, "%s", tier_error_last());
	return v;
}

static tier_vault *reopen(void)
{
	tier_vault_options o = opts();
	tier_vault *v = NULL;
	cr_assert_eq(tier_vault_open(&v, &o), 0, "%s", tier_error_last());
	return v;
}

static int push_new_file(tier_vault *v, int i)
{
	tt_sh("head -c 1500000 /dev/urandom > %s/f%d", src, i);
	const char *paths[1] = {src};
	tier_push_options po = TIER_PUSH_OPTIONS_INIT;
	po.paths = paths;
	po.npaths = 1;
	tier_write_result *r = NULL;
	int rc = tier_push_run(&r, NULL, v, &po);
	tier_write_result_free(r);
	return rc;
}

static void assert_level(void)
{
	cr_assert_eq(
	        tt_sh("test \"$(git --git-dir=%s/a/log.git rev-parse main)\" = "
	              "\"$(git --git-dir=%s/b/log.git rev-parse main)\"",
	              dir, dir),
	        0, "same head");
	cr_assert_eq(tt_sh("diff -r %s/a/data %s/b/data", dir, dir), 0,
	             "same data");
	cr_assert_eq(
	        tt_sh("git --git-dir=%s/b/log.git fsck --strict >/dev/null 2>&1",
	              dir),
	        0);
}

/* b away for three pushes, back, synced. */
static tier_vault *behind_by_three(void)
{
	tier_vault *v = init();
	tier_vault_free(v);
	tt_sh("mv %s/b %s/b.away", dir, dir);
	v = reopen();
	for (int i = 0; i < 3; i++)
		cr_assert_eq(push_new_file(v, i), 0, "%s", tier_error_last());
	tier_vault_free(v);
	tt_sh("mv %s/b.away %s/b", dir, dir);
	v = reopen();
	cr_assert_eq(tier_vault_tier_info(v, 1)->revision, 1);
	cr_assert_eq(tier_vault_max_revision(v), 4);
	return v;
}

Test(sync, replays_what_a_returning_tier_missed)
{
	tier_vault *v = behind_by_three();
	uint64_t revs = 0, bytes = 0;
	cr_assert_eq(tier_sync_plan(v, 1, &revs, &bytes), 0);
	cr_assert_eq(revs, 3);
	cr_assert_gt(bytes, 2000000 + 3 * 1500000 - 1);
	tier_sync_stats st;
	cr_assert_eq(tier_sync_run(&st, v, NULL), 0, "%s", tier_error_last());
	cr_assert_eq(st.revisions, 3);
	cr_assert_eq(st.tiers, 1);
	cr_assert(tier_vault_tier_info(v, 1)->synchronized);
	tier_vault_free(v);
	assert_level();
	/* the synced tier takes writes again */
	v = reopen();
	cr_assert_eq(push_new_file(v, 9), 0);
	cr_assert(tier_vault_tier_info(v, 1)->synchronized);
	tier_vault_free(v);
	assert_level();
}

/* What a tier holds: the packs of its head's index and their bytes, equal
 * to the files under data/; for a tier away, what the installation saw. */
Test(sync, held_counts_the_packs_of_a_tiers_head)
{
	tier_vault *v = behind_by_three();
	uint64_t packs = 0, bytes = 0, bpacks = 1, bbytes = 1;
	cr_assert_eq(tier_sync_held(v, 0, &packs, &bytes), 0, "%s",
	             tier_error_last());
	cr_assert_gt(packs, 0);
	cr_assert_eq(tt_sh("test \"$(find %s/a/data -type f -printf '%%s\\n' | "
	                   "awk '{s+=$1} END{print s}')\" = %llu",
	                   dir, (unsigned long long)bytes),
	             0, "bytes held %llu", (unsigned long long)bytes);
	cr_assert_eq(tier_sync_held(v, 1, &bpacks, &bbytes), 0);
	cr_assert_eq(bpacks, 0, "the tier behind holds no pack yet");
	cr_assert_eq(bbytes, 0);
	cr_assert_eq(tier_sync_run(NULL, v, NULL), 0, "%s", tier_error_last());
	cr_assert_eq(tier_sync_held(v, 1, &bpacks, &bbytes), 0);
	cr_assert_eq(bpacks, packs);
	cr_assert_eq(bbytes, bytes);
	tier_vault_free(v);
	/* away: the stored head still says what it holds */
	tt_sh("mv %s/a %s/a.away", dir, dir);
	v = reopen();
	cr_assert_not(tier_vault_tier_info(v, 0)->online);
	cr_assert_eq(tier_sync_held(v, 0, &packs, &bytes), 0, "%s",
	             tier_error_last());
	cr_assert_eq(packs, bpacks);
	cr_assert_eq(bytes, bbytes);
	cr_assert_eq(tier_sync_held(v, 5, &packs, &bytes), TIER_EUSAGE);
	tier_vault_free(v);
}

Test(sync, an_interrupted_sync_resumes)
{
	tier_vault *v = behind_by_three();
	tier_vault_free(v);
	pid_t pid = fork();
	if (pid == 0) {
		setenv("TIER_TEST_CRASH", "sync.pack:2", 1);
		tier_vault *c = reopen();
		tier_sync_run(NULL, c, NULL);
		_exit(0);
	}
	int status;
	waitpid(pid, &status, 0);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 137);
	v = reopen();
	cr_assert_eq(tier_vault_check(v), 0, "%s", tier_error_last());
	cr_assert_eq(tier_vault_tier_info(v, 1)->revision, 2,
	             "first entry replayed, second not");
	cr_assert_eq(
	        tt_sh("git --git-dir=%s/b/log.git fsck --strict >/dev/null 2>&1",
	              dir),
	        0);
	tier_sync_stats st;
	cr_assert_eq(tier_sync_run(&st, v, NULL), 0, "%s", tier_error_last());
	cr_assert_eq(st.revisions, 2);
	tier_vault_free(v);
	assert_level();
}

/* One push of `mb` MB of random data in packs of 256 KiB: one entry, many packs. */
static uint64_t push_many_packs(tier_vault *v, int mb)
{
	/* the same incompressible bytes every run (AES-CTR of zeros), so the
	 * chunk boundaries and the pack count do not vary */
	tt_sh("head -c %d000000 /dev/zero | openssl enc -aes-128-ctr -nosalt "
	      "-K 000102030405060708090a0b0c0d0e0f -iv 00000000000000000000000000000000 "
	      "> %s/big",
	      mb, src);
	const char *paths[1] = {src};
	tier_push_options po = TIER_PUSH_OPTIONS_INIT;
	po.paths = paths;
	po.npaths = 1;
	po.pack_size = 256 * 1024;
	tier_write_result *r = NULL;
	tier_push_stats st;
	cr_assert_eq(tier_push_run(&r, &st, v, &po), 0, "%s",
	             tier_error_last());
	tier_write_result_free(r);
	return st.packs;
}

static int count_files(const char *d)
{
	return tt_sh("exit $(find %s -type f | wc -l)", d);
}

Test(sync, an_entry_of_many_packs_survives_a_failing_tier)
{
	tier_vault *v = init();
	tier_vault_free(v);
	tt_sh("mv %s/b %s/b.away", dir, dir);
	v = reopen();
	/* 8 packs or more: two copy threads, and whichever way the two
	 * split the puts, one of them makes a fourth */
	uint64_t packs = push_many_packs(v, 4);
	cr_assert_geq(packs, 8, "%llu packs", (unsigned long long)packs);
	tier_vault_free(v);
	tt_sh("mv %s/b.away %s/b", dir, dir);

	/* b fails every put from its fourth on (each thread's instance counts
	 * its own): the sync stops with b at its old revision */
	tt_sh("echo 'fail put 4- enospc' > %s/b.ctl", dir);
	v = reopen();
	tier_sync_stats st;
	cr_assert_lt(tier_sync_run(&st, v, NULL), 0);
	cr_assert_eq(tier_vault_tier_info(v, 1)->revision, 1);
	tier_vault_free(v);
	cr_assert_eq(tt_sh("git --git-dir=%s/b/log.git fsck --strict "
	                   ">/dev/null 2>&1",
	                   dir),
	             0);

	/* the next sync finishes the entry */
	tt_sh(": > %s/b.ctl", dir);
	v = reopen();
	cr_assert_eq(tier_sync_run(&st, v, NULL), 0, "%s", tier_error_last());
	cr_assert_eq(st.revisions, 1);
	cr_assert(tier_vault_tier_info(v, 1)->synchronized);
	tier_vault_free(v);
	assert_level();
	cr_assert_geq(count_files(tt_path("%s/b/data", dir)), 8);

	/* the tiers share no inode: a pack linked into one tier is copied to
	 * the other (a bit flipped in one must not be in both) */
	cr_assert_eq(tt_sh("cd %s && for f in $(cd a && find data -type f); do "
	                   "test \"$(stat -c %%i a/$f)\" != "
	                   "\"$(stat -c %%i b/$f)\" || exit 1; done",
	                   dir),
	             0, "a pack shares its inode between the tiers");
}

Test(sync, a_push_to_two_local_tiers_links_each_pack_into_one_at_most)
{
	tier_vault *v = init();
	uint64_t packs = push_many_packs(v, 3);
	cr_assert_geq(packs, 4, "%llu packs", (unsigned long long)packs);
	tier_vault_free(v);
	assert_level();
	cr_assert_eq(tt_sh("cd %s && for f in $(cd a && find data -type f); do "
	                   "test \"$(stat -c %%i a/$f)\" != "
	                   "\"$(stat -c %%i b/$f)\" || exit 1; done",
	                   dir),
	             0, "a pack shares its inode between the tiers");
	/* and no leftover temp pack in the state directory */
	cr_assert_eq(tt_sh("test -z \"$(find %s/state/cache.git/tmp -type f)\"",
	                   dir),
	             0);
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

Test(sync, a_write_in_another_process_aborts_a_sync_within_a_second)
{
	tier_vault *v = behind_by_three();
	tier_vault_free(v);
	/* a slow tier: every call to b takes 150 ms, so the sync takes seconds */
	tt_write_file(tt_path("%s/b.ctl", dir), "delay 150\n", 10);
	int pfd[2];
	cr_assert_eq(pipe(pfd), 0);
	pid_t pid = fork();
	if (pid == 0) {
		tier_vault *c = reopen();
		int64_t t0 = now_ms();
		int rc = tier_sync_run(NULL, c, NULL);
		int64_t t = now_ms() - t0;
		char msg[64];
		int n = snprintf(msg, sizeof(msg), "%d %lld\n", rc,
		                 (long long)t);
		if (write(pfd[1], msg, (size_t)n) < 0)
			_exit(2);
		tier_vault_free(c);
		_exit(0);
	}
	close(pfd[1]);
	usleep(500 * 1000); /* the sync is under way */
	int64_t t0 = now_ms();
	/* the writer: with b slow and behind, the write goes to a */
	v = reopen();
	tier_write_result *r = NULL;
	cr_assert_eq(tier_vault_mark(&r, v, "during sync"), 0, "%s",
	             tier_error_last());
	int64_t waited = now_ms() - t0;
	tier_write_result_free(r);
	char buf[64] = {0};
	cr_assert_gt(read(pfd[0], buf, sizeof(buf) - 1), 0);
	int status;
	waitpid(pid, &status, 0);
	int rc = atoi(buf);
	cr_assert_eq(rc, TIER_EABORTED, "sync result %s", buf);
	cr_assert_lt(waited, 1500,
	             "the write waited %lld ms for the sync to stop",
	             (long long)waited);
	tier_vault_free(v);
	/* b is consistent at an earlier revision; a later sync completes */
	tt_write_file(tt_path("%s/b.ctl", dir), "", 0);
	cr_assert_eq(
	        tt_sh("git --git-dir=%s/b/log.git fsck --strict >/dev/null 2>&1",
	              dir),
	        0);
	v = reopen();
	cr_assert_eq(tier_vault_check(v), 0, "%s", tier_error_last());
	cr_assert_lt(tier_vault_tier_info(v, 1)->revision, 5);
	cr_assert_eq(tier_sync_run(NULL, v, NULL), 0, "%s", tier_error_last());
	cr_assert_eq(tier_vault_tier_info(v, 1)->revision, 5);
	tier_vault_free(v);
	assert_level();
}

Test(sync, with_every_tier_away_a_write_gives_up_after_its_timeout)
{
	tier_vault *v = init();
	tier_vault_free(v);
	tt_sh("mv %s/a %s/a.away; mv %s/b %s/b.away", dir, dir, dir, dir);
	tier_vault_options o = opts();
	o.wait_timeout_ms = 400;
	cr_assert_eq(tier_vault_open(&v, &o), 0);
	int64_t t0 = now_ms();
	tier_write_result *r = NULL;
	cr_assert_eq(tier_vault_mark(&r, v, "x"), TIER_ETIMEOUT);
	int64_t t = now_ms() - t0;
	cr_assert(t >= 350 && t < 3000, "gave up after %lld ms", (long long)t);
	cr_assert(strstr(tier_error_last(), "gave up waiting") != NULL, "%s",
	          tier_error_last());
	tier_vault_free(v);
}

static void *bring_back(void *arg)
{
	(void)arg;
	usleep(300 * 1000);
	tt_sh("mv %s/a.away %s/a", dir, dir);
	return NULL;
}

static int notices;
static void count_notice(const char *line, void *payload)
{
	(void)payload;
	(void)line;
	notices++;
}

Test(sync, with_every_tier_away_a_write_waits_and_completes_when_one_returns)
{
	tier_vault *v = init();
	tier_vault_free(v);
	tt_sh("mv %s/a %s/a.away; mv %s/b %s/b.away", dir, dir, dir, dir);
	tier_vault_options o = opts();
	o.notice = count_notice;
	cr_assert_eq(tier_vault_open(&v, &o), 0);
	pthread_t th;
	pthread_create(&th, NULL, bring_back, NULL);
	tier_write_result *r = NULL;
	cr_assert_eq(tier_vault_mark(&r, v, "waited"), 0, "%s",
	             tier_error_last());
	pthread_join(th, NULL);
	cr_assert_eq(r->revision, 2);
	cr_assert_eq(r->tiers[0].outcome, TIER_WRITE_WRITTEN);
	cr_assert_eq(r->tiers[1].outcome, TIER_WRITE_SKIPPED_OFFLINE);
	cr_assert_eq(notices, 2,
	             "said once that it waits, once that it goes on");
	tier_write_result_free(r);
	tier_vault_free(v);
}
