/* The operation log: vault creation, revisions, R8 detection, R9 intents. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helpers.h"
#include "log.h"
#include "tier/vault.h"
#include "installation.h"
#include "vault.h"
#include "write.h"

static const char *dir;
static char tier_a[4200], tier_b[4200], state1[4200], state2[4200];

static void setup(void)
{
	dir = tt_tmpdir();
	cr_assert_not_null(dir);
	snprintf(tier_a, sizeof(tier_a), "a=file://%s/a", dir);
	snprintf(tier_b, sizeof(tier_b), "b=file://%s/b", dir);
	snprintf(state1, sizeof(state1), "%s/state1", dir);
	snprintf(state2, sizeof(state2), "%s/state2", dir);
}

static void teardown(void)
{
	tt_rmrf(dir);
}

TestSuite(vault, .init = setup, .fini = teardown);

static tier_vault_options opts_for(const char *state, int with_tiers)
{
	static const char *tiers[2];
	tiers[0] = tier_a;
	tiers[1] = tier_b;
	tier_vault_options o = TIER_VAULT_OPTIONS_INIT;
	o.state_dir = state;
	if (with_tiers) {
		o.tiers = tiers;
		o.ntiers = 2;
	}
	o.location.retries = 2;
	o.location.retry_delay = 1;
	return o;
}

static tier_vault *init_vault(const char *state, tier_init_mode mode)
{
	tier_vault *v = NULL;
	tier_vault_options o = opts_for(state, 1);
	o.mode = mode;
	int rc = tier_vault_init(&v, &o);
	cr_assert_eq(rc, 0, "init failed: %s", tier_error_last());
	return v;
}

static tier_vault *open_vault(const char *state)
{
	tier_vault *v = NULL;
	tier_vault_options o = opts_for(state, 0);
	int rc = tier_vault_open(&v, &o);
	cr_assert_eq(rc, 0, "open failed: %s", tier_error_last());
	return v;
}

static void mark(tier_vault *v, int expect_rc)
{
	tier_write_result *r = NULL;
	int rc = tier_vault_mark(&r, v, "test");
	cr_assert_eq(rc, expect_rc, "mark: got %d (%s), want %d", rc,
	             tier_error_last(), expect_rc);
	tier_write_result_free(r);
}

/* The head commit of a tier as stock git sees it. */
static char *git_head(const char *which)
{
	char cmd[8400];
	snprintf(
	        cmd, sizeof(cmd),
	        "git --git-dir=%s/%s/log.git rev-parse main 2>/dev/null > %s/head.out",
	        dir, which, dir);
	if (system(cmd) != 0)
		return NULL;
	char *s = tt_read_file(tt_path("%s/head.out", dir), NULL);
	if (s)
		s[strcspn(s, "\n")] = '\0';
	return s;
}

static int git_count(const char *which)
{
	char cmd[8400];
	snprintf(
	        cmd, sizeof(cmd),
	        "git --git-dir=%s/%s/log.git rev-list --first-parent --count main > %s/count.out",
	        dir, which, dir);
	if (system(cmd) != 0)
		return -1;
	char *s = tt_read_file(tt_path("%s/count.out", dir), NULL);
	int n = s ? atoi(s) : -1;
	free(s);
	return n;
}

static void assert_git_fsck(const char *which)
{
	cr_assert_eq(
	        tt_sh("git --git-dir=%s/%s/log.git fsck --strict --no-progress >/dev/null 2>&1",
	              dir, which),
	        0, "git fsck --strict failed on tier %s", which);
}

Test(vault, init_creates_revision_one_that_stock_git_reads)
{
	tier_vault *v = init_vault(state1, TIER_INIT_NEW);
	cr_assert_eq(tier_vault_max_revision(v), 1);
	cr_assert_eq(git_count("a"), 1);
	cr_assert_eq(git_count("b"), 1);
	char *ha = git_head("a"), *hb = git_head("b");
	cr_assert_str_eq(ha, hb, "both tiers hold the same commit");
	cr_assert_str_eq(ha, tier_vault_tier_info(v, 0)->head);
	assert_git_fsck("a");
	assert_git_fsck("b");
	cr_assert_eq(
	        tt_sh("git --git-dir=%s/a/log.git log -1 --format=%%B main | grep -q '^Tier-Revision: 1$'",
	              dir),
	        0);
	cr_assert_eq(
	        tt_sh("git --git-dir=%s/a/log.git log -1 --format=%%B main | grep -q '^Tier-Op: init$'",
	              dir),
	        0);
	free(ha);
	free(hb);
	tier_vault_free(v);
}

Test(vault, every_mark_is_one_commit_on_every_tier)
{
	tier_vault *v = init_vault(state1, TIER_INIT_NEW);
	for (int i = 0; i < 4; i++)
		mark(v, 0);
	cr_assert_eq(tier_vault_max_revision(v), 5);
	cr_assert_eq(git_count("a"), 5);
	cr_assert_eq(git_count("b"), 5);
	char *ha = git_head("a"), *hb = git_head("b");
	cr_assert_str_eq(ha, hb);
	free(ha);
	free(hb);
	/* the trailer and the first-parent count agree */
	git_oid head;
	cr_assert_eq(tier_vault_best_head(v, &head, NULL), 0);
	uint64_t n = 0;
	cr_assert_eq(tier_log_count(&n, tier_vault_cache(v), &head), 0);
	cr_assert_eq(n, 5);
	tier_vault_free(v);
	/* reopening finds everything in order */
	v = open_vault(state1);
	cr_assert_eq(tier_vault_check(v), 0);
	cr_assert_eq(tier_vault_max_revision(v), 5);
	cr_assert(tier_vault_tier_info(v, 1)->synchronized);
	assert_git_fsck("a");
	assert_git_fsck("b");
	tier_vault_free(v);
}

Test(vault, init_refuses_a_non_empty_tier_and_an_existing_installation)
{
	tier_vault *v = NULL;
	tt_sh("mkdir -p %s/b && echo x > %s/b/somefile", dir, dir);
	tier_vault_options o = opts_for(state1, 1);
	cr_assert_eq(tier_vault_init(&v, &o), TIER_ECONFLICT);
	cr_assert(strstr(tier_error_last(), "tier 'b'") != NULL, "%s",
	          tier_error_last());
	cr_assert(strstr(tier_error_last(), "not empty") != NULL, "%s",
	          tier_error_last());
	/* nothing was created on the empty tier, no installation remains */
	cr_assert_neq(tt_sh("test -e %s/a/log.git", dir), 0);
	cr_assert_neq(tt_sh("test -e %s/config", state1), 0);
	tt_sh("rm -rf %s/b", dir);
	v = init_vault(state1, TIER_INIT_NEW);
	tier_vault_free(v);
	v = NULL;
	o = opts_for(state1, 1);
	cr_assert_eq(tier_vault_init(&v, &o), TIER_ECONFLICT);
	cr_assert(strstr(tier_error_last(), "already holds an installation") !=
	          NULL);
}

Test(vault, a_second_installation_makes_the_first_refuse_to_write)
{
	tier_vault *v1 = init_vault(state1, TIER_INIT_NEW);
	mark(v1, 0);
	tier_vault_free(v1);
	/* another machine adopts the vault and writes */
	tier_vault *v2 = init_vault(state2, TIER_INIT_ADOPT);
	cr_assert_eq(tier_vault_max_revision(v2), 3,
	             "adopt is logged as a revision");
	mark(v2, 0);
	tier_vault_free(v2);
	char *before_a = git_head("a"), *before_b = git_head("b");

	v1 = open_vault(state1);
	cr_assert_eq(tier_vault_check(v1), TIER_EFOREIGN);
	const char *msg = tier_error_last();
	cr_assert(strstr(msg, "tier 'a'") != NULL, "%s", msg);
	cr_assert(strstr(msg, "revision 4") != NULL, "%s", msg);
	cr_assert(strstr(msg, "revision 2") != NULL, "%s", msg);
	/* it took the vault over: say so; --adopt would lock it out */
	cr_assert(strstr(msg, "another installation") != NULL, "%s", msg);
	cr_assert(strstr(msg, "took over the vault in revision 3") != NULL,
	          "%s", msg);
	cr_assert(strstr(msg, tier_vault_installation_id(v1)) == NULL,
	          "names the other installation, not this one: %s", msg);
	cr_assert(strstr(msg, "--adopt") == NULL, "%s", msg);
	cr_assert(strstr(msg, "vault of its own") != NULL, "%s", msg);
	cr_assert(strstr(msg, "tier-init --read-only") != NULL, "%s", msg);
	cr_assert(strchr(msg, '\n') == NULL, "%s", msg);
	cr_assert_lt(strlen(msg), 250, "%zu characters: %s", strlen(msg), msg);
	mark(v1, TIER_EFOREIGN);
	tier_vault_free(v1);
	char *after_a = git_head("a"), *after_b = git_head("b");
	cr_assert_str_eq(before_a, after_a, "tier a untouched");
	cr_assert_str_eq(before_b, after_b, "tier b untouched");
	free(before_a);
	free(before_b);
	free(after_a);
	free(after_b);
	assert_git_fsck("a");
}

/* Issue 13.9: R8 guards writes; the old installation still reads. */
Test(vault, a_reader_reads_a_vault_another_installation_adopted)
{
	tier_vault *v1 = init_vault(state1, TIER_INIT_NEW);
	mark(v1, 0);
	tier_vault_free(v1);
	tier_vault *v2 = init_vault(state2, TIER_INIT_ADOPT);
	mark(v2, 0);
	tier_vault_free(v2);

	tier_vault_options o = opts_for(state1, 0);
	o.reading = 1;
	cr_assert_eq(tier_vault_open(&v1, &o), 0, "%s", tier_error_last());
	cr_assert_eq(tier_vault_check(v1), 0, "%s", tier_error_last());
	cr_assert_eq(tier_vault_max_revision(v1), 4);
	for (size_t i = 0; i < 2; i++) {
		const tier_info *in = tier_vault_tier_info(v1, i);
		cr_assert_eq(in->state, TIER_STATE_FOREIGN);
		cr_assert(in->synchronized, "tier %s readable", in->name);
	}
	git_oid head;
	cr_assert_eq(tier_vault_best_head(v1, &head, NULL), 0, "%s",
	             tier_error_last());
	tier_log_entry *log = NULL;
	size_t n = 0;
	cr_assert_eq(tier_vault_log(&log, &n, v1, 0), 0, "%s",
	             tier_error_last());
	cr_assert_eq(n, 4);
	cr_assert_eq(log[0].revision, 4);
	cr_assert_str_eq(log[1].op, "adopt");
	free(log);
	/* what a write would say, for the reader's warning */
	cr_assert_eq(tier_vault_check_write(v1), TIER_EFOREIGN);
	cr_assert(strstr(tier_error_last(), "took over"), "%s",
	          tier_error_last());
	/* and writing through a vault opened for reading is still R8's */
	mark(v1, TIER_EFOREIGN);
	cr_assert_eq(tier_vault_lock_sync(v1), TIER_EUSAGE);
	tier_vault_free(v1);

	/* opened to write, it trips at once */
	v1 = open_vault(state1);
	cr_assert_eq(tier_vault_check(v1), TIER_EFOREIGN);
	tier_vault_free(v1);
	assert_git_fsck("a");
	assert_git_fsck("b");
}

Test(vault, a_tier_replaced_by_an_older_copy_is_rolled_back)
{
	tier_vault *v = init_vault(state1, TIER_INIT_NEW);
	mark(v, 0);
	tt_sh("cp -a %s/b %s/b.old", dir, dir);
	mark(v, 0);
	mark(v, 0);
	tier_vault_free(v);
	tt_sh("rm -rf %s/b && mv %s/b.old %s/b", dir, dir, dir);

	v = open_vault(state1);
	cr_assert_eq(tier_vault_check(v), TIER_EROLLEDBACK);
	cr_assert(strstr(tier_error_last(), "tier 'b' is at revision 2") !=
	                  NULL,
	          "%s", tier_error_last());
	cr_assert(strstr(tier_error_last(), "revision 4") != NULL, "%s",
	          tier_error_last());
	mark(v, TIER_EROLLEDBACK);
	/* the operator accepts it: the tier is merely behind */
	cr_assert_eq(tier_vault_accept_rollback(v, "b"), 0, "%s",
	             tier_error_last());
	cr_assert_eq(tier_vault_check(v), 0);
	cr_assert_eq(tier_vault_tier_info(v, 1)->synchronized, 0);
	cr_assert_eq(tier_vault_tier_info(v, 1)->revision, 2);
	tier_vault_free(v);
}

Test(vault, an_empty_tier_where_we_wrote_is_not_silently_refilled)
{
	tier_vault *v = init_vault(state1, TIER_INIT_NEW);
	tier_vault_free(v);
	/* the mount point is there but the share is not mounted */
	tt_sh("rm -rf %s/b && mkdir %s/b", dir, dir);
	v = open_vault(state1);
	cr_assert_eq(tier_vault_check(v), TIER_EROLLEDBACK);
	cr_assert(strstr(tier_error_last(), "is empty") != NULL, "%s",
	          tier_error_last());
	cr_assert(strstr(tier_error_last(), "mounted") != NULL, "%s",
	          tier_error_last());
	tier_vault_free(v);
}

Test(vault, an_offline_tier_is_skipped_and_comes_back_behind)
{
	tier_vault *v = init_vault(state1, TIER_INIT_NEW);
	tier_vault_free(v);
	tt_sh("mv %s/b %s/b.away", dir, dir);
	v = open_vault(state1);
	cr_assert_eq(tier_vault_check(v), 0);
	cr_assert_eq(tier_vault_tier_info(v, 1)->state, TIER_STATE_OFFLINE);
	tier_write_result *r = NULL;
	cr_assert_eq(tier_vault_mark(&r, v, "offline"), 0, "%s",
	             tier_error_last());
	cr_assert_eq(r->tiers[0].outcome, TIER_WRITE_WRITTEN);
	cr_assert_eq(r->tiers[1].outcome, TIER_WRITE_SKIPPED_OFFLINE);
	cr_assert_str_eq(tier_write_outcome_name(r->tiers[1].outcome),
	                 "skipped-offline");
	tier_write_result_free(r);
	tier_vault_free(v);
	tt_sh("mv %s/b.away %s/b", dir, dir);
	v = open_vault(state1);
	cr_assert_eq(tier_vault_check(v), 0, "behind is not foreign: %s",
	             tier_error_last());
	cr_assert_eq(tier_vault_tier_info(v, 1)->revision, 1);
	cr_assert_eq(tier_vault_tier_info(v, 1)->synchronized, 0);
	/* an unsynchronised tier is skipped by the next write */
	cr_assert_eq(tier_vault_mark(&r, v, "again"), 0);
	cr_assert_eq(r->tiers[1].outcome, TIER_WRITE_SKIPPED_UNSYNCHRONIZED);
	tier_write_result_free(r);
	tier_vault_free(v);
}

Test(vault, read_only_follower_never_writes_nor_trips)
{
	tier_vault *v1 = init_vault(state1, TIER_INIT_NEW);
	tier_vault *f = init_vault(state2, TIER_INIT_READ_ONLY);
	cr_assert(tier_vault_is_read_only(f));
	mark(f, TIER_EUSAGE);
	tier_vault_free(f);
	mark(v1, 0);
	f = open_vault(state2);
	cr_assert_eq(tier_vault_check(f), 0);
	cr_assert_eq(tier_vault_max_revision(f), 2);
	tier_vault_free(f);
	/* and the follower does not make the writer see a foreign history */
	tier_vault_free(v1);
	v1 = open_vault(state1);
	cr_assert_eq(tier_vault_check(v1), 0);
	tier_vault_free(v1);
}

Test(vault, reading_needs_no_installation)
{
	tier_vault *v = init_vault(state1, TIER_INIT_NEW);
	mark(v, 0);
	mark(v, 0);
	tier_vault_free(v);
	const char *tiers[] = {tier_b};
	tier_vault_options o = TIER_VAULT_OPTIONS_INIT;
	o.tiers = tiers;
	o.ntiers = 1;
	cr_assert_eq(tier_vault_open(&v, &o), 0, "%s", tier_error_last());
	cr_assert_eq(tier_vault_max_revision(v), 3);
	tier_log_entry *e = NULL;
	size_t n = 0;
	cr_assert_eq(tier_vault_log(&e, &n, v, 0), 0);
	cr_assert_eq(n, 3);
	cr_assert_eq(e[0].revision, 3);
	cr_assert_str_eq(e[0].op, "mark");
	cr_assert_eq(e[2].revision, 1);
	cr_assert_str_eq(e[2].op, "init");
	cr_assert_neq(e[0].host[0], '\0');
	cr_assert_neq(e[0].user[0], '\0');
	free(e);
	mark(v, TIER_EUSAGE);
	tier_vault_free(v);
}

Test(vault, log_packs_are_consolidated)
{
	tier_vault *v = init_vault(state1, TIER_INIT_NEW);
	for (int i = 0; i < 40; i++)
		mark(v, 0);
	tier_vault_free(v);
	int packs = tt_sh(
	        "test $(ls %s/a/log.git/objects/pack/*.pack | wc -l) -le 10",
	        dir);
	cr_assert_eq(packs, 0, "log packs were consolidated");
	cr_assert_eq(git_count("a"), 41);
	assert_git_fsck("a");
	v = open_vault(state1);
	cr_assert_eq(tier_vault_check(v), 0);
	tier_vault_free(v);
	/* a reader with an empty cache copes with the consolidated tier */
	const char *tiers[] = {tier_a};
	tier_vault_options o = TIER_VAULT_OPTIONS_INIT;
	o.tiers = tiers;
	o.ntiers = 1;
	cr_assert_eq(tier_vault_open(&v, &o), 0, "%s", tier_error_last());
	cr_assert_eq(tier_vault_max_revision(v), 41);
	tier_vault_free(v);
}

/* A crash at each step of a write, on the first and on the second tier. */
static void crash_at(const char *point, int nth)
{
	tier_vault *v = init_vault(state1, TIER_INIT_NEW);
	mark(v, 0);
	tier_vault_free(v);
	pid_t pid = fork();
	cr_assert_neq(pid, -1);
	if (pid == 0) {
		char spec[64];
		snprintf(spec, sizeof(spec), "%s:%d", point, nth);
		setenv("TIER_TEST_CRASH", spec, 1);
		tier_vault *c = NULL;
		tier_vault_options o = opts_for(state1, 0);
		if (tier_vault_open(&c, &o) < 0)
			_exit(1);
		tier_write_result *r = NULL;
		tier_vault_mark(&r, c, "crashing");
		_exit(0);
	}
	int st = 0;
	waitpid(pid, &st, 0);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 137,
	          "child crashed at %s:%d", point, nth);

	v = open_vault(state1);
	cr_assert_eq(tier_vault_check(v), 0, "after a crash at %s:%d: %s",
	             point, nth, tier_error_last());
	uint64_t max = tier_vault_max_revision(v);
	cr_assert(max == 2 || max == 3, "no revision lost (max %llu)",
	          (unsigned long long)max);
	mark(v, 0);
	cr_assert_eq(tier_vault_max_revision(v), max + 1);
	tier_vault_free(v);
	assert_git_fsck("a");
	assert_git_fsck("b");
}

Test(vault, crash_after_persist)
{
	crash_at("write.persisted", 1);
}
Test(vault, crash_after_intent_first_tier)
{
	crash_at("write.intent", 1);
}
Test(vault, crash_after_intent_second_tier)
{
	crash_at("write.intent", 2);
}
Test(vault, crash_after_pack_first_tier)
{
	crash_at("write.pack", 1);
}
Test(vault, crash_after_pack_second_tier)
{
	crash_at("write.pack", 2);
}
Test(vault, crash_after_head_first_tier)
{
	crash_at("write.head", 1);
}
Test(vault, crash_after_head_second_tier)
{
	crash_at("write.head", 2);
}
Test(vault, crash_after_ref_first_tier)
{
	crash_at("write.ref", 1);
}
Test(vault, crash_after_ref_second_tier)
{
	crash_at("write.ref", 2);
}

/* A revision whose tree holds blob `body` (and `other`, if not NULL). */
static void write_with_blob(tier_vault *v, const char *body, const char *other)
{
	tier_write *w = NULL;
	tier_write_result *r = NULL;
	git_treebuilder *tb = NULL;
	git_oid id, tree;
	cr_assert_eq(tier_write_begin(&w, v, "push"), 0, "%s",
	             tier_error_last());
	git_repository *repo = tier_write_repo(w);
	cr_assert_eq(git_treebuilder_new(&tb, repo, NULL), 0);
	cr_assert_eq(git_blob_create_from_buffer(&id, repo, body, strlen(body)),
	             0);
	cr_assert_eq(
	        git_treebuilder_insert(NULL, tb, "x", &id, GIT_FILEMODE_BLOB),
	        0);
	if (other) {
		cr_assert_eq(git_blob_create_from_buffer(&id, repo, other,
		                                         strlen(other)),
		             0);
		cr_assert_eq(git_treebuilder_insert(NULL, tb, "y", &id,
		                                    GIT_FILEMODE_BLOB),
		             0);
	}
	cr_assert_eq(git_treebuilder_write(&tree, tb), 0);
	git_treebuilder_free(tb);
	cr_assert_eq(tier_write_commit(w, &tree, "push: test", NULL, &r), 0,
	             "%s", tier_error_last());
	tier_write_result_free(r);
	tier_write_free(w);
}

/*
 * A write killed once its pack is in the cache (not on the tiers): the
 * next write makes the same blob, which libgit2 does not write again (the
 * cache has it), yet the tiers must get it in the new log pack.
 */
Test(vault, an_object_only_in_the_cache_still_reaches_the_tiers)
{
	tier_vault *v = init_vault(state1, TIER_INIT_NEW);
	tier_vault_free(v);
	pid_t pid = fork();
	cr_assert_neq(pid, -1);
	if (pid == 0) {
		setenv("TIER_TEST_CRASH", "write.persisted:1", 1);
		tier_vault *c = NULL;
		tier_vault_options o = opts_for(state1, 0);
		if (tier_vault_open(&c, &o) < 0)
			_exit(1);
		write_with_blob(c, "only in the cache\n", NULL);
		_exit(0);
	}
	int st = 0;
	waitpid(pid, &st, 0);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 137);
	cr_assert_eq(
	        tt_sh("find '%s/state1' -name 'logpack-*' | grep -q .", dir), 0,
	        "the dead write's pack directory is left");

	v = open_vault(state1);
	write_with_blob(v, "only in the cache\n", "new\n");
	tier_vault_free(v);
	assert_git_fsck("a");
	assert_git_fsck("b");
	cr_assert_eq(
	        tt_sh("find '%s/state1' -name 'logpack-*' | grep -q .", dir), 1,
	        "the next write removed the dead one's directory");
}
