/* fsck: clean vaults pass; missing, truncated, corrupt packs, bad logs and
 * disagreeing tiers are found with the right id; repair mends from another tier. */
#include <criterion/criterion.h>
#include <git2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"
#include "log.h"
#include "tier/fsck.h"
#include "tier/push.h"
#include "tier/vault.h"

static const char *dir;
static char tier_a[4200], tier_b[4200], state[4200], src[4200], ctl[4200];

static void setup(void)
{
	dir = tt_tmpdir();
	cr_assert_not_null(dir);
	snprintf(tier_a, sizeof(tier_a), "a=file://%s/a", dir);
	snprintf(tier_b, sizeof(tier_b), "b=fault+file://%s/b?fault=%s/ctl",
	         dir, dir);
	snprintf(state, sizeof(state), "%s/state", dir);
	snprintf(src, sizeof(src), "%s/src", dir);
	snprintf(ctl, sizeof(ctl), "%s/ctl", dir);
	tt_write_file(ctl, "", 0);
	tt_sh("mkdir -p %s/sub && cd %s && printf hello > small.txt && "
	      "head -c 400000 /dev/urandom > sub/random.bin && "
	      "yes 'compressible line of text' | head -c 300000 > sub/text.txt",
	      src, src);
}

static void teardown(void)
{
	tt_rmrf(dir);
}

TestSuite(fsck, .init = setup, .fini = teardown);

static void push(tier_vault *v)
{
	const char *paths[1] = {src};
	tier_push_options po = TIER_PUSH_OPTIONS_INIT;
	po.paths = paths;
	po.npaths = 1;
	po.threads = 2;
	tier_write_result *r = NULL;
	cr_assert_eq(tier_push_run(&r, NULL, v, &po), 0, "push: %s",
	             tier_error_last());
	tier_write_result_free(r);
}

/* A vault on tiers a and b with two revisions of data (revision 3). */
static void make_vault(void)
{
	const char *tiers[2] = {tier_a, tier_b};
	tier_vault *v = NULL;
	tier_vault_options o = TIER_VAULT_OPTIONS_INIT;
	o.state_dir = state;
	o.tiers = tiers;
	o.ntiers = 2;
	o.location.retries = 2;
	o.location.retry_delay = 1;
	cr_assert_eq(tier_vault_init(&v, &o), 0, "init: %s", tier_error_last());
	push(v);
	tt_sh("printf 'hello again' > %s/small.txt && head -c 100000 /dev/urandom > %s/new.bin",
	      src, src);
	push(v);
	cr_assert_eq(tier_vault_max_revision(v), 3);
	tier_vault_free(v);
}

/* Open the vault as a tool would: the installation, or tiers alone. */
static tier_vault *open_vault(int with_state)
{
	const char *tiers[2] = {tier_a, tier_b};
	tier_vault *v = NULL;
	tier_vault_options o = TIER_VAULT_OPTIONS_INIT;
	o.state_dir = with_state ? state : NULL;
	o.tiers = with_state ? NULL : tiers;
	o.ntiers = with_state ? 0 : 2;
	o.location.retries = 2;
	o.location.retry_delay = 1;
	cr_assert_eq(tier_vault_open(&v, &o), 0, "open: %s", tier_error_last());
	return v;
}

static tier_fsck_report *fsck(int with_state, int read_data, int repair)
{
	tier_vault *v = open_vault(with_state);
	tier_fsck_options fo = TIER_FSCK_OPTIONS_INIT;
	fo.read_data = read_data;
	fo.repair = repair;
	tier_fsck_report *r = NULL;
	cr_assert_eq(tier_fsck_run(&r, v, &fo), 0, "fsck: %s",
	             tier_error_last());
	cr_assert_not_null(r);
	tier_vault_free(v);
	return r;
}

static const tier_fsck_problem *find(const tier_fsck_report *r, const char *id,
                                     const char *tier)
{
	for (size_t i = 0; i < r->nproblems; i++)
		if (!strcmp(r->problems[i].id, id) &&
		    (!tier || (r->problems[i].tier &&
		               !strcmp(r->problems[i].tier, tier))))
			return &r->problems[i];
	return NULL;
}

static char *all_messages(const tier_fsck_report *r)
{
	static char buf[16384];
	buf[0] = '\0';
	for (size_t i = 0; i < r->nproblems; i++) {
		strncat(buf, r->problems[i].message,
		        sizeof(buf) - strlen(buf) - 2);
		strcat(buf, "\n");
	}
	return buf;
}

/* Path (relative to the tier) of the largest data pack: the one with random.bin. */
static const char *big_pack(const char *tier)
{
	static char rel[256];
	char *out = NULL;
	size_t len = 0;
	tt_sh("cd %s/%s && ls -S data/*/* | head -n 1 > %s/pack.txt", dir, tier,
	      dir);
	out = tt_read_file(tt_path("%s/pack.txt", dir), &len);
	cr_assert(out && len > 10, "no pack on tier %s", tier);
	out[strcspn(out, "\n")] = '\0';
	snprintf(rel, sizeof(rel), "%s", out);
	free(out);
	return rel;
}

Test(fsck, a_clean_vault_passes_with_and_without_read_data)
{
	make_vault();
	tier_fsck_report *r = fsck(1, 0, 0);
	cr_assert_eq(r->nproblems, 0, "%s", all_messages(r));
	cr_assert_eq(r->errors, 0);
	cr_assert_eq(r->tiers_checked, 2);
	cr_assert_geq(r->packs_checked, 4, "two packs at least on each tier");
	cr_assert_eq(r->packs_read, 0);
	cr_assert_gt(r->chunks_checked, 0);
	tier_fsck_report_free(r);

	r = fsck(0, 1, 0);
	cr_assert_eq(r->nproblems, 0, "%s", all_messages(r));
	cr_assert_eq(r->packs_read, r->packs_checked,
	             "every pack downloaded and verified");
	cr_assert_gt(r->bytes_read, 400000);
	tier_fsck_report_free(r);
}

Test(fsck, a_deleted_pack_is_missing_on_that_tier_only)
{
	make_vault();
	const char *pack = big_pack("a");
	cr_assert_eq(tt_sh("rm %s/a/%s", dir, pack), 0);
	tier_fsck_report *r = fsck(1, 0, 0);
	const tier_fsck_problem *p = find(r, "pack-missing", "a");
	cr_assert_not_null(p, "%s", all_messages(r));
	cr_assert_eq(p->severity, TIER_FSCK_ERROR);
	cr_assert_str_eq(p->object, pack);
	cr_assert(strstr(p->message, "tier 'a'") &&
	                  strstr(p->message, "missing"),
	          "%s", p->message);
	cr_assert_null(find(r, "pack-missing", "b"));
	cr_assert_eq(r->errors, 1, "%s", all_messages(r));
	cr_assert_eq(p->repaired, 0);
	tier_fsck_report_free(r);
}

Test(fsck, flipped_bytes_are_found_only_by_read_data)
{
	make_vault();
	const char *pack = big_pack("a");
	cr_assert_eq(
	        tt_sh("printf 'XXXXXXXX' | dd of=%s/a/%s bs=1 seek=5000 conv=notrunc 2>/dev/null",
	              dir, pack),
	        0);
	tier_fsck_report *r = fsck(1, 0, 0);
	cr_assert_eq(r->errors, 0, "the size is right: %s", all_messages(r));
	tier_fsck_report_free(r);

	r = fsck(1, 1, 0);
	const tier_fsck_problem *p = find(r, "pack-corrupt", "a");
	cr_assert_not_null(p, "%s", all_messages(r));
	cr_assert(strstr(p->message, "fails its hash") &&
	                  strstr(p->message, "chunk"),
	          "%s", p->message);
	cr_assert_null(find(r, "pack-corrupt", "b"));
	cr_assert_eq(r->errors, 1);
	tier_fsck_report_free(r);
}

Test(fsck, repair_copies_a_corrupt_pack_from_the_other_tier)
{
	make_vault();
	const char *pack = big_pack("a");
	tt_sh("printf 'XXXXXXXX' | dd of=%s/a/%s bs=1 seek=5000 conv=notrunc 2>/dev/null",
	      dir, pack);
	cr_assert_neq(tt_sh("cmp -s %s/a/%s %s/b/%s", dir, pack, dir, pack), 0);
	tier_fsck_report *r = fsck(1, 1, 1);
	const tier_fsck_problem *p = find(r, "pack-corrupt", "a");
	cr_assert_not_null(p, "%s", all_messages(r));
	cr_assert_eq(p->repaired, 1, "%s", p->message);
	cr_assert(strstr(p->message, "repaired from tier 'b'"), "%s",
	          p->message);
	cr_assert_eq(r->errors, 0);
	cr_assert_eq(r->repaired, 1);
	tier_fsck_report_free(r);

	cr_assert_eq(tt_sh("cmp -s %s/a/%s %s/b/%s", dir, pack, dir, pack), 0,
	             "same bytes again");
	cr_assert_eq(tt_sh("diff -r %s/a/data %s/b/data", dir, dir), 0);
	r = fsck(1, 1, 0);
	cr_assert_eq(r->nproblems, 0, "clean after repair: %s",
	             all_messages(r));
	tier_fsck_report_free(r);
	/* repair never touches a log head */
	cr_assert_eq(
	        tt_sh("cmp -s %s/a/log.git/refs/heads/main %s/b/log.git/refs/heads/main",
	              dir, dir),
	        0);
}

Test(fsck, a_truncated_pack_has_the_wrong_size_and_is_repaired)
{
	make_vault();
	const char *pack = big_pack("b");
	tt_sh("truncate -s 1000 %s/b/%s", dir, pack);
	tier_fsck_report *r = fsck(1, 0, 0);
	const tier_fsck_problem *p = find(r, "pack-size", "b");
	cr_assert_not_null(p, "%s", all_messages(r));
	cr_assert(strstr(p->message, "1000 bytes"), "%s", p->message);
	cr_assert_eq(r->errors, 1);
	tier_fsck_report_free(r);

	r = fsck(1, 0, 1);
	cr_assert_eq(r->repaired, 1, "%s", all_messages(r));
	cr_assert_eq(r->errors, 0);
	tier_fsck_report_free(r);
	cr_assert_eq(tt_sh("cmp -s %s/a/%s %s/b/%s", dir, pack, dir, pack), 0);
}

Test(fsck, a_tier_at_a_lower_revision_is_only_behind)
{
	make_vault();
	tier_vault *v = open_vault(1);
	tt_write_file(ctl, "offline\n", 8);
	tt_sh("head -c 50000 /dev/urandom > %s/third.bin", src);
	push(v); /* lands on a alone */
	tier_vault_free(v);
	tt_write_file(ctl, "", 0);

	tier_fsck_report *r = fsck(1, 1, 0);
	const tier_fsck_problem *p = find(r, "tier-behind", "b");
	cr_assert_not_null(p, "%s", all_messages(r));
	cr_assert_eq(p->severity, TIER_FSCK_WARNING);
	cr_assert(strstr(p->message, "revision 3 of 4"), "%s", p->message);
	cr_assert_eq(r->errors, 0, "behind is not damage: %s", all_messages(r));
	cr_assert_eq(r->warnings, 1, "%s", all_messages(r));
	tier_fsck_report_free(r);
}

Test(fsck, an_offline_tier_is_a_warning)
{
	make_vault();
	tt_write_file(ctl, "offline\n", 8);
	tier_fsck_report *r = fsck(1, 0, 0);
	const tier_fsck_problem *p = find(r, "tier-offline", "b");
	cr_assert_not_null(p, "%s", all_messages(r));
	cr_assert_eq(p->severity, TIER_FSCK_WARNING);
	cr_assert_eq(r->errors, 0, "%s", all_messages(r));
	cr_assert_eq(r->tiers_checked, 1);
	tier_fsck_report_free(r);
}

Test(fsck, damage_on_every_tier_cannot_be_repaired)
{
	make_vault();
	const char *pack = big_pack("a");
	tt_sh("rm %s/a/%s && truncate -s 64 %s/b/%s", dir, pack, dir, pack);
	tier_fsck_report *r = fsck(1, 1, 1);
	cr_assert_eq(r->repaired, 0, "%s", all_messages(r));
	cr_assert_eq(r->errors, 2, "%s", all_messages(r));
	const tier_fsck_problem *p = find(r, "pack-missing", "a");
	cr_assert_not_null(p);
	cr_assert(strstr(p->message, "cannot repair"), "%s", p->message);
	cr_assert_not_null(find(r, "pack-size", "b"));
	tier_fsck_report_free(r);
}

/*
 * Forge a commit on top of a tier's head, straight in its log.git, and
 * make it the head: what a buggy writer or a hand edit would leave.
 */
static void forge(const char *tier, const char *spec, uint64_t revision,
                  int drop_index, const char *summary)
{
	git_repository *repo = NULL;
	git_commit *head = NULL;
	git_tree *tree = NULL, *nt = NULL;
	git_treebuilder *tb = NULL;
	git_signature *sig = NULL;
	git_oid hid, tid, cid;
	tier_commit_info ci;
	tier_location *loc = NULL;
	int exists = 0;
	char msg[512];

	git_libgit2_init();
	cr_assert_eq(tier_location_open(&loc, spec, NULL), 0, "%s",
	             tier_error_last());
	cr_assert_eq(tier_log_head_read(loc, &hid, &exists), 0);
	cr_assert(exists);
	cr_assert_eq(git_repository_open_bare(
	                     &repo, tt_path("%s/%s/log.git", dir, tier)),
	             0);
	cr_assert_eq(tier_commit_info_read(&ci, repo, &hid), 0, "%s",
	             tier_error_last());
	cr_assert_eq(git_commit_lookup(&head, repo, &hid), 0);
	cr_assert_eq(git_commit_tree(&tree, head), 0);
	git_oid_cpy(&tid, git_tree_id(tree));
	if (drop_index) {
		cr_assert_eq(git_treebuilder_new(&tb, repo, tree), 0);
		cr_assert_eq(git_treebuilder_remove(tb, "index"), 0);
		cr_assert_eq(git_treebuilder_write(&tid, tb), 0);
	}
	cr_assert_eq(git_tree_lookup(&nt, repo, &tid), 0);
	snprintf(msg, sizeof(msg),
	         "%s\n\nTier-Revision: %llu\nTier-Op: mark\nTier-Vault: %s\n",
	         summary, (unsigned long long)revision, ci.vault);
	cr_assert_eq(git_signature_now(&sig, "forger", "forger@example.org"),
	             0);
	const git_commit *parents[1] = {head};
	cr_assert_eq(git_commit_create(&cid, repo, NULL, sig, sig, NULL, msg,
	                               nt, 1, parents),
	             0);
	cr_assert_eq(tier_log_upload(repo, loc, &cid, &hid, NULL), 0, "%s",
	             tier_error_last());
	cr_assert_eq(tier_log_head_write(loc, &cid), 0);
	git_signature_free(sig);
	git_treebuilder_free(tb);
	git_tree_free(nt);
	git_tree_free(tree);
	git_commit_free(head);
	git_repository_free(repo);
	tier_location_free(loc);
}

Test(fsck, a_commit_with_a_wrong_tier_revision_is_found)
{
	make_vault();
	forge("a", tier_a, 7, 0, "forged");
	tier_fsck_report *r = fsck(0, 0, 0);
	const tier_fsck_problem *p = find(r, "revision-mismatch", "a");
	cr_assert_not_null(p, "%s", all_messages(r));
	cr_assert_eq(p->severity, TIER_FSCK_ERROR);
	cr_assert(strstr(p->message, "Tier-Revision 7") &&
	                  strstr(p->message, "revision 4"),
	          "%s", p->message);
	cr_assert_null(find(r, "revision-mismatch", "b"));
	tier_fsck_report_free(r);
}

Test(fsck, with_the_installation_a_forged_head_is_a_foreign_writer)
{
	make_vault();
	forge("a", tier_a, 4, 0, "someone else");
	tier_fsck_report *r = fsck(1, 0, 0);
	cr_assert_not_null(find(r, "foreign-writer", "a"), "%s",
	                   all_messages(r));
	cr_assert_not_null(find(r, "tier-behind", "b"), "%s", all_messages(r));
	cr_assert_eq(r->errors, 0, "a foreign writer is not damage: %s",
	             all_messages(r));
	tier_fsck_report_free(r);
}

Test(fsck, tiers_at_the_same_revision_with_different_heads_disagree)
{
	make_vault();
	forge("a", tier_a, 4, 0, "one");
	forge("b", tier_b, 4, 0, "another");
	tier_fsck_report *r = fsck(0, 0, 0);
	const tier_fsck_problem *p = find(r, "tier-disagree", "b");
	cr_assert_not_null(p, "%s", all_messages(r));
	cr_assert(strstr(p->message, "tier 'a'"), "%s", p->message);
	cr_assert_eq(r->errors, 1, "%s", all_messages(r));
	tier_fsck_report_free(r);
}

Test(fsck, a_snapshot_naming_chunks_no_pack_holds)
{
	make_vault();
	forge("a", tier_a, 4, 1, "index lost");
	tier_fsck_report *r = fsck(0, 0, 0);
	const tier_fsck_problem *p = find(r, "chunk-missing", "a");
	cr_assert_not_null(p, "%s", all_messages(r));
	cr_assert(strstr(p->message, "random.bin") ||
	                  strstr(p->message, "text.txt") ||
	                  strstr(p->message, "small.txt") ||
	                  strstr(p->message, "new.bin"),
	          "%s", p->message);
	cr_assert_null(find(r, "chunk-missing", "b"));
	/* packs on a that its head no longer lists: worth knowing, not damage */
	cr_assert_not_null(find(r, "pack-unreferenced", "a"));
	tier_fsck_report_free(r);
}

Test(fsck, a_missing_git_head_file_is_found_and_written_again)
{
	make_vault();
	tt_sh("rm %s/a/log.git/HEAD", dir);
	tier_fsck_report *r = fsck(1, 0, 0);
	cr_assert_not_null(find(r, "log-file-missing", "a"), "%s",
	                   all_messages(r));
	cr_assert_eq(r->errors, 1);
	tier_fsck_report_free(r);
	r = fsck(1, 0, 1);
	cr_assert_eq(r->repaired, 1, "%s", all_messages(r));
	tier_fsck_report_free(r);
	cr_assert_eq(
	        tt_sh("git --git-dir=%s/a/log.git log --oneline >/dev/null 2>&1",
	              dir),
	        0);
}

static int calls;
static int stop_at_first(const tier_fsck_problem *p, void *payload)
{
	(void)p;
	(void)payload;
	calls++;
	return 1;
}

Test(fsck, a_callback_sees_each_problem_and_can_stop)
{
	make_vault();
	const char *pack = big_pack("a");
	tt_sh("rm %s/a/%s && rm %s/b/%s", dir, pack, dir, pack);
	tier_vault *v = open_vault(1);
	tier_fsck_options fo = TIER_FSCK_OPTIONS_INIT;
	fo.problem = stop_at_first;
	tier_fsck_report *r = NULL;
	cr_assert_eq(tier_fsck_run(&r, v, &fo), TIER_EABORTED);
	cr_assert_eq(calls, 1);
	cr_assert_not_null(r, "what was found so far");
	cr_assert_eq(r->errors, 1);
	tier_fsck_report_free(r);
	fo.version = 99;
	cr_assert_eq(tier_fsck_run(&r, v, &fo), TIER_EUSAGE);
	cr_assert_null(r);
	tier_vault_free(v);
}

/* ---- log packs as they are on the tier, and a garbled head ---------------- */

/* Name (relative to the tier) of the largest log pack on a tier. */
static const char *big_log_pack(const char *tier)
{
	static char rel[256];
	char *out = NULL;
	size_t len = 0;
	tt_sh("cd %s/%s && ls -S log.git/objects/pack/*.pack | head -n 1 > %s/lpack.txt",
	      dir, tier, dir);
	out = tt_read_file(tt_path("%s/lpack.txt", dir), &len);
	cr_assert(out && len > 10, "no log pack on tier %s", tier);
	out[strcspn(out, "\n")] = '\0';
	snprintf(rel, sizeof(rel), "%s", out);
	free(out);
	return rel;
}

static void git_fsck_clean(const char *tier)
{
	cr_assert_eq(
	        tt_sh("git --git-dir=%s/%s/log.git fsck --strict >%s/gitfsck.txt 2>&1",
	              dir, tier, dir),
	        0, "git fsck --strict of tier %s: %s", tier,
	        tt_read_file(tt_path("%s/gitfsck.txt", dir), NULL));
}

Test(fsck, a_truncated_log_pack_on_the_tier_is_found_though_the_cache_is_sound)
{
	make_vault();
	const char *lp = big_log_pack("a");
	cr_assert_eq(tt_sh("test -f %s/b/%s", dir, lp), 0,
	             "b holds the same log pack");
	tt_sh("f=%s/a/%s; truncate -s $(( $(stat -c %%s $f) / 2 )) $f", dir,
	      lp);

	/* the installation reads its cache: only a look at the tier finds it */
	tier_fsck_report *r = fsck(1, 0, 0);
	const tier_fsck_problem *p = find(r, "log-pack-damaged", "a");
	cr_assert_not_null(p, "%s", all_messages(r));
	cr_assert_eq(p->severity, TIER_FSCK_ERROR);
	cr_assert_str_eq(p->object, lp);
	cr_assert(strstr(p->message, "tier 'a'") &&
	                  strstr(p->message, "truncated"),
	          "%s", p->message);
	cr_assert_null(find(r, "log-pack-damaged", "b"));
	cr_assert_eq(r->errors, 1, "%s", all_messages(r));
	cr_assert_gt(r->log_packs_checked, 0);
	cr_assert_eq(r->log_packs_read, 0);
	tier_fsck_report_free(r);

	/* without the installation the log of a does not even read */
	r = fsck(0, 0, 0);
	cr_assert_not_null(find(r, "log-damaged", "a"), "%s", all_messages(r));
	cr_assert_not_null(find(r, "log-pack-damaged", "a"), "%s",
	                   all_messages(r));
	tier_fsck_report_free(r);

	r = fsck(1, 0, 1);
	p = find(r, "log-pack-damaged", "a");
	cr_assert_not_null(p, "%s", all_messages(r));
	cr_assert_eq(p->repaired, 1, "%s", p->message);
	cr_assert(strstr(p->message, "repaired from tier 'b'"), "%s",
	          p->message);
	cr_assert_eq(r->errors, 0, "%s", all_messages(r));
	tier_fsck_report_free(r);

	cr_assert_eq(tt_sh("cmp -s %s/a/%s %s/b/%s", dir, lp, dir, lp), 0,
	             "same bytes again");
	r = fsck(0, 1, 0);
	cr_assert_eq(r->nproblems, 0, "clean after repair: %s",
	             all_messages(r));
	cr_assert_gt(r->log_packs_read, 0);
	tier_fsck_report_free(r);
	git_fsck_clean("a");
}

Test(fsck, without_the_installation_repair_makes_a_log_readable_again)
{
	make_vault();
	const char *lp = big_log_pack("a");
	tt_sh("f=%s/a/%s; truncate -s $(( $(stat -c %%s $f) / 2 )) $f", dir,
	      lp);
	tier_fsck_report *r = fsck(0, 0, 1);
	const tier_fsck_problem *p = find(r, "log-damaged", "a");
	cr_assert_not_null(p, "%s", all_messages(r));
	cr_assert_eq(p->repaired, 1, "%s", all_messages(r));
	cr_assert(strstr(p->message, "reads again"), "%s", p->message);
	cr_assert_eq(r->errors, 0, "%s", all_messages(r));
	cr_assert_eq(r->tiers_checked, 2, "a checked in full once it reads: %s",
	             all_messages(r));
	tier_fsck_report_free(r);
	r = fsck(0, 0, 0);
	cr_assert_eq(r->nproblems, 0, "%s", all_messages(r));
	tier_fsck_report_free(r);
	git_fsck_clean("a");
}

Test(fsck, a_garbled_log_pack_is_found_by_read_data_and_rebuilt_from_the_cache)
{
	make_vault();
	const char *lp = big_log_pack("a");
	tt_sh("f=%s/a/%s; printf 'XXXX' | dd of=$f bs=1 seek=$(( $(stat -c %%s $f) / 2 )) "
	      "conv=notrunc 2>/dev/null",
	      dir, lp);
	cr_assert_neq(tt_sh("cmp -s %s/a/%s %s/b/%s", dir, lp, dir, lp), 0);

	tier_fsck_report *r = fsck(1, 0, 0);
	cr_assert_eq(r->errors, 0, "size and checksum field are right: %s",
	             all_messages(r));
	tier_fsck_report_free(r);

	r = fsck(1, 1, 0);
	const tier_fsck_problem *p = find(r, "log-pack-damaged", "a");
	cr_assert_not_null(p, "%s", all_messages(r));
	cr_assert_str_eq(p->object, lp);
	cr_assert_eq(r->errors, 1, "%s", all_messages(r));
	tier_fsck_report_free(r);

	/* b away: no tier holds the same pack, the cache rebuilds the history */
	tt_write_file(ctl, "offline\n", 8);
	r = fsck(1, 1, 1);
	p = find(r, "log-pack-damaged", "a");
	cr_assert_not_null(p, "%s", all_messages(r));
	cr_assert_eq(p->repaired, 1, "%s", p->message);
	cr_assert(strstr(p->message, "local log cache"), "%s", p->message);
	cr_assert_eq(r->errors, 0, "%s", all_messages(r));
	tier_fsck_report_free(r);
	tt_write_file(ctl, "", 0);
	cr_assert_neq(tt_sh("test -f %s/a/%s", dir, lp), 0,
	              "the damaged pack is gone");

	r = fsck(1, 1, 0);
	cr_assert_eq(r->nproblems, 0, "clean after repair: %s",
	             all_messages(r));
	tier_fsck_report_free(r);
	r = fsck(0, 1, 0);
	cr_assert_eq(r->nproblems, 0, "clean from the tiers alone: %s",
	             all_messages(r));
	tier_fsck_report_free(r);
	git_fsck_clean("a");
}

Test(fsck,
     an_idx_without_its_pack_is_unpaired_and_a_pack_without_idx_is_worth_knowing)
{
	make_vault();
	const char *lp = big_log_pack("a");
	char base[256];
	snprintf(base, sizeof(base), "%.*s", (int)(strlen(lp) - 5), lp);
	tt_sh("rm %s/a/%s.pack", dir, base);
	tt_sh("cp %s/b/%s.pack %s/a/log.git/objects/pack/pack-0000000000000000000000000000000000000000.pack",
	      dir, base, dir);
	tier_fsck_report *r = fsck(1, 0, 0);
	const tier_fsck_problem *p = find(r, "log-pack-unpaired", "a");
	cr_assert_not_null(p, "%s", all_messages(r));
	cr_assert_eq(p->severity, TIER_FSCK_ERROR);
	/* a pack whose name is not its checksum is damaged, wherever it came from */
	cr_assert_not_null(find(r, "log-pack-damaged", "a"), "%s",
	                   all_messages(r));
	tier_fsck_report_free(r);
	tt_sh("rm %s/a/log.git/objects/pack/pack-0000000000000000000000000000000000000000.pack",
	      dir);

	r = fsck(1, 0, 1);
	p = find(r, "log-pack-unpaired", "a");
	cr_assert_not_null(p, "%s", all_messages(r));
	cr_assert_eq(p->repaired, 1, "%s", p->message);
	tier_fsck_report_free(r);
	cr_assert_eq(
	        tt_sh("cmp -s %s/a/%s.pack %s/b/%s.pack", dir, base, dir, base),
	        0);

	/* an interrupted upload leaves a pack without its idx: info only */
	tt_sh("rm %s/a/%s.idx", dir, base);
	r = fsck(1, 0, 0);
	p = find(r, "log-pack-unindexed", "a");
	cr_assert_not_null(p, "%s", all_messages(r));
	cr_assert_eq(p->severity, TIER_FSCK_INFO);
	cr_assert_eq(r->errors, 0, "%s", all_messages(r));
	tier_fsck_report_free(r);
}

static void garble_head(const char *tier)
{
	tt_sh("printf 'this is not a commit id\\n' > %s/%s/log.git/refs/heads/main",
	      dir, tier);
}

Test(fsck, a_garbled_head_is_written_again_from_the_installation)
{
	make_vault();
	garble_head("a");
	tier_fsck_report *r = fsck(1, 0, 0);
	const tier_fsck_problem *p = find(r, "log-damaged", "a");
	cr_assert_not_null(p, "%s", all_messages(r));
	cr_assert_eq(r->errors, 1, "%s", all_messages(r));
	tier_fsck_report_free(r);

	/* the tiers alone do not know what the head was */
	r = fsck(0, 0, 1);
	p = find(r, "log-damaged", "a");
	cr_assert_not_null(p, "%s", all_messages(r));
	cr_assert_eq(p->repaired, 0);
	cr_assert(strstr(p->message, "-s DIR --repair"), "%s", p->message);
	tier_fsck_report_free(r);

	r = fsck(1, 0, 1);
	p = find(r, "log-damaged", "a");
	cr_assert_not_null(p, "%s", all_messages(r));
	cr_assert_eq(p->repaired, 1, "%s", p->message);
	cr_assert(strstr(p->message, "head written again"), "%s", p->message);
	cr_assert_eq(r->errors, 0, "%s", all_messages(r));
	cr_assert_eq(r->tiers_checked, 2, "%s", all_messages(r));
	tier_fsck_report_free(r);

	cr_assert_eq(
	        tt_sh("cmp -s %s/a/log.git/refs/heads/main %s/b/log.git/refs/heads/main",
	              dir, dir),
	        0, "the head it had");
	r = fsck(1, 1, 0);
	cr_assert_eq(r->nproblems, 0, "%s", all_messages(r));
	tier_fsck_report_free(r);
	git_fsck_clean("a");
}

Test(fsck, a_garbled_head_whose_last_revision_is_lost_goes_back_and_says_so)
{
	make_vault();
	tier_vault *v = open_vault(1);
	tt_write_file(ctl, "offline\n", 8);
	tt_sh("head -c 50000 /dev/urandom > %s/third.bin", src);
	push(v); /* revision 4, on a alone */
	tier_vault_free(v);
	tt_write_file(ctl, "", 0);
	/* the log pack of revision 4 (the newest) goes, and the head is garbage */
	cr_assert_eq(
	        tt_sh("cd %s/a/log.git/objects/pack && n=$(ls -t *.idx | head -n 1) && "
	              "rm $n ${n%%.idx}.pack",
	              dir),
	        0);
	garble_head("a");

	tier_fsck_report *r = fsck(1, 0, 1);
	const tier_fsck_problem *p = find(r, "log-damaged", "a");
	cr_assert_not_null(p, "%s", all_messages(r));
	cr_assert_eq(p->repaired, 1, "%s", p->message);
	cr_assert(strstr(p->message, "tier-sync --accept-rollback a"), "%s",
	          p->message);
	cr_assert_not_null(find(r, "rolled-back", "a"), "%s", all_messages(r));
	cr_assert_eq(r->errors, 0, "%s", all_messages(r));
	tier_fsck_report_free(r);
	cr_assert_eq(
	        tt_sh("cmp -s %s/a/log.git/refs/heads/main %s/b/log.git/refs/heads/main",
	              dir, dir),
	        0, "revision 3, the head b has");

	v = open_vault(1);
	const tier_tier_info *in = tier_vault_tier_info(v, 0);
	cr_assert_eq(in->state, TIER_STATE_ROLLED_BACK, "%s",
	             in->problem ? in->problem : "");
	cr_assert_eq(in->revision, 3);
	cr_assert_eq(tier_vault_accept_rollback(v, "a"), 0, "%s",
	             tier_error_last());
	tier_vault_free(v);
	git_fsck_clean("a");
}
