/* fsck: clean vaults pass; missing, truncated, corrupt packs, bad logs and
 * disagreeing tiers are found with the right id; repair mends from another tier. */
#include <criterion/criterion.h>
#include <git2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"
#include "helpers.h"
#include "log.h"
#include "pack.h"
#include "snapshot.h"
#include "tier/fsck.h"
#include "tier/push.h"
#include "tier/restore.h"
#include "tier/vault.h"
#include "util/buf.h"

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

/* Rewrites the tree of the revision being forged: returns the new one. */
typedef void (*tree_edit)(git_oid *out, git_repository *repo,
                          const git_tree *tree);

/*
 * Forge a commit on top of a tier's head, straight in its log.git, and
 * make it the head: what a buggy writer, a hand edit or a hostile tier
 * would leave.  edit (may be NULL) gives the commit's tree.
 */
static void forge_with(const char *tier, const char *spec, uint64_t revision,
                       tree_edit edit, const char *summary)
{
	git_repository *repo = NULL;
	git_commit *head = NULL;
	git_tree *tree = NULL, *nt = NULL;
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
	if (edit)
		edit(&tid, repo, tree);
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
	git_tree_free(nt);
	git_tree_free(tree);
	git_commit_free(head);
	git_repository_free(repo);
	tier_location_free(loc);
}

static void drop_index(git_oid *out, git_repository *repo, const git_tree *tree)
{
	git_treebuilder *tb = NULL;
	cr_assert_eq(git_treebuilder_new(&tb, repo, tree), 0);
	cr_assert_eq(git_treebuilder_remove(tb, "index"), 0);
	cr_assert_eq(git_treebuilder_write(out, tb), 0);
	git_treebuilder_free(tb);
}

static void forge(const char *tier, const char *spec, uint64_t revision,
                  int drop, const char *summary)
{
	forge_with(tier, spec, revision, drop ? drop_index : NULL, summary);
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
	const tier_info *in = tier_vault_tier_info(v, 0);
	cr_assert_eq(in->state, TIER_STATE_ROLLED_BACK, "%s",
	             in->problem ? in->problem : "");
	cr_assert_eq(in->revision, 3);
	cr_assert_eq(tier_vault_accept_rollback(v, "a"), 0, "%s",
	             tier_error_last());
	tier_vault_free(v);
	git_fsck_clean("a");
}

/* ---- hostile tiers: names, nodes, the log's copy of a pack index -------- */

/* A tree object as a hostile tier writes it: libgit2's tree builder refuses
 * "../x" and duplicates, git_odb_write takes any bytes. */
struct raw_entry {
	unsigned int mode;
	const char *name;
	git_oid id;
};

static void raw_tree(git_oid *out, git_repository *repo,
                     const struct raw_entry *e, size_t n)
{
	static char buf[65536];
	size_t len = 0;
	git_odb *odb = NULL;
	for (size_t i = 0; i < n; i++) {
		len += (size_t)snprintf(buf + len, sizeof(buf) - len, "%o %s",
		                        e[i].mode, e[i].name) +
		       1;
		memcpy(buf + len, e[i].id.id, GIT_OID_RAWSZ);
		len += GIT_OID_RAWSZ;
		cr_assert_lt(len, sizeof(buf) - 512);
	}
	cr_assert_eq(git_repository_odb(&odb, repo), 0);
	cr_assert_eq(git_odb_write(out, odb, buf, len, GIT_OBJECT_TREE), 0);
	git_odb_free(odb);
}

static void blob_of(git_oid *out, git_repository *repo, const void *data,
                    size_t len)
{
	cr_assert_eq(git_blob_create_from_buffer(out, repo, data, len), 0);
}

/* The revision tree with its root/ replaced by id. */
static void with_part(git_oid *out, git_repository *repo, const git_tree *tree,
                      const char *part, const git_oid *id)
{
	git_treebuilder *tb = NULL;
	cr_assert_eq(git_treebuilder_new(&tb, repo, tree), 0);
	cr_assert_eq(
	        git_treebuilder_insert(NULL, tb, part, id, GIT_FILEMODE_TREE),
	        0);
	cr_assert_eq(git_treebuilder_write(out, tb), 0);
	git_treebuilder_free(tb);
}

/* root/ keeps what it held and gains every kind of bad entry. */
static void hostile_names(git_oid *out, git_repository *repo,
                          const git_tree *tree)
{
	struct raw_entry e[64];
	size_t n = 0;
	git_tree *root = NULL;
	git_oid good, broken, newroot;
	tier_buf node = TIER_BUF_INIT;
	tier_node fn;

	memset(&fn, 0, sizeof(fn));
	fn.type = TIER_NODE_FILE;
	fn.mode = 0644;
	cr_assert_eq(tier_node_encode(&node, &fn), 0);
	blob_of(&good, repo, node.ptr, node.size);
	tier_buf_dispose(&node);
	blob_of(&broken, repo, "this is not a node\n", 19);

	const git_tree_entry *re = git_tree_entry_byname(tree, "root");
	cr_assert_not_null(re);
	cr_assert_eq(git_tree_lookup(&root, repo, git_tree_entry_id(re)), 0);
	for (size_t i = 0; i < git_tree_entrycount(root); i++) {
		const git_tree_entry *x = git_tree_entry_byindex(root, i);
		e[n].mode = git_tree_entry_filemode(x);
		e[n].name = git_tree_entry_name(x);
		git_oid_cpy(&e[n++].id, git_tree_entry_id(x));
	}
	static const char *const bad_blobs[] = {
	        "../../escaped.txt", "dup", "dup", "%2Fetc",
	        "esc\x1b[31mname",   "fine"};
	for (size_t i = 0; i < 6; i++) {
		e[n].mode = 0100644;
		e[n].name = bad_blobs[i];
		git_oid_cpy(&e[n++].id, &good);
	}
	e[n].mode = 040000;
	e[n].name = "..";
	git_oid_cpy(&e[n++].id, git_tree_id(root));
	e[n].mode = 0100644;
	e[n].name = "broken";
	git_oid_cpy(&e[n++].id, &broken);
	raw_tree(&newroot, repo, e, n);
	with_part(out, repo, tree, "root", &newroot);
	git_tree_free(root);
}

static size_t count_id(const tier_fsck_report *r, const char *id,
                       const char *tier)
{
	size_t n = 0;
	for (size_t i = 0; i < r->nproblems; i++)
		if (!strcmp(r->problems[i].id, id) &&
		    (!tier || !strcmp(r->problems[i].tier, tier)))
			n++;
	return n;
}

static const tier_fsck_problem *find_object(const tier_fsck_report *r,
                                            const char *id, const char *object)
{
	for (size_t i = 0; i < r->nproblems; i++)
		if (!strcmp(r->problems[i].id, id) && r->problems[i].object &&
		    !strcmp(r->problems[i].object, object))
			return &r->problems[i];
	return NULL;
}

static int count_change(const tier_diff_entry *e, void *payload)
{
	(void)e;
	(*(int *)payload)++;
	return 0;
}

Test(fsck, every_bad_name_and_node_of_a_hostile_tier_is_damage)
{
	make_vault();
	forge_with("a", tier_a, 4, hostile_names, "hostile");
	tier_fsck_report *r = fsck(0, 0, 0);
	const char *all = all_messages(r);

	const tier_fsck_problem *p =
	        find_object(r, "dotdot-entry-name", "/../../escaped.txt");
	cr_assert_not_null(p, "%s", all);
	cr_assert_eq(p->severity, TIER_FSCK_ERROR);
	cr_assert_str_eq(p->tier, "a");
	cr_assert(strstr(p->message, "revision 4") &&
	                  strstr(p->message, "escaped.txt"),
	          "%s", p->message);
	cr_assert_not_null(find_object(r, "dotdot-entry-name", "/.."), "%s",
	                   all);
	p = find_object(r, "duplicate-entries", "/dup");
	cr_assert_not_null(p, "%s", all);
	cr_assert(strstr(p->message, "2 times"), "%s", p->message);
	cr_assert_not_null(find_object(r, "bad-entry-name", "/%2Fetc"), "%s",
	                   all);
	/* a name with a terminal escape is quoted, never printed raw */
	p = find_object(r, "bad-entry-name", "\"/esc\\033[31mname\"");
	cr_assert_not_null(p, "%s", all);
	for (size_t i = 0; i < r->nproblems; i++)
		cr_assert_null(strchr(r->problems[i].message, '\x1b'), "%s",
		               r->problems[i].message);
	p = find_object(r, "bad-node", "/broken");
	cr_assert_not_null(p, "%s", all);
	cr_assert(strstr(p->message, "revision 4") &&
	                  strstr(p->message, "does not parse"),
	          "%s", p->message);
	cr_assert_eq(count_id(r, "dotdot-entry-name", "a"), 2, "%s", all);
	cr_assert_eq(r->errors, 6, "nothing else on a, nothing on b: %s", all);
	cr_assert_not_null(find(r, "tier-behind", "b"), "%s", all);
	tier_fsck_report_free(r);

	/* tier-log's diff stops at the bad directory, in one line */
	tier_vault *v = open_vault(0);
	int n = 0;
	cr_assert_eq(tier_vault_diff(v, 3, 4, count_change, &n), TIER_ECORRUPT);
	cr_assert(strstr(tier_error_last(), "bad tree entry name") ||
	                  strstr(tier_error_last(), "duplicate"),
	          "%s", tier_error_last());
	cr_assert_null(strchr(tier_error_last(), '\n'));
	cr_assert_eq(tier_vault_diff(v, 2, 3, count_change, &n), 0, "%s",
	             tier_error_last());
	cr_assert_gt(n, 0, "the good revisions still compare");
	tier_vault_free(v);
}

static void node_is_junk(git_oid *out, git_repository *repo)
{
	blob_of(out, repo, "this is not a node either\n", 26);
}

/* root/ replaced by one whose every entry's node does not parse. */
static void junk_node(git_oid *out, git_repository *repo, const git_tree *tree)
{
	struct raw_entry e[1];
	git_oid root;
	e[0].mode = 0100644;
	e[0].name = "file";
	node_is_junk(&e[0].id, repo);
	raw_tree(&root, repo, e, 1);
	with_part(out, repo, tree, "root", &root);
}

Test(fsck, a_node_that_does_not_parse_fails_the_diff_instead_of_size_0)
{
	make_vault();
	forge_with("a", tier_a, 4, junk_node, "junk");
	tier_vault *v = open_vault(0);
	int n = 0;
	cr_assert_eq(tier_vault_diff(v, 3, 4, count_change, &n), TIER_ECORRUPT,
	             "%s", tier_error_last());
	cr_assert(strstr(tier_error_last(), "/file"), "%s", tier_error_last());
	tier_vault_free(v);
	tier_fsck_report *r = fsck(0, 0, 0);
	cr_assert_not_null(find_object(r, "bad-node", "/file"), "%s",
	                   all_messages(r));
	tier_fsck_report_free(r);
}

/* The log's copy of the largest pack's tail, with the ids of its first two
 * chunks swapped (and the index hash made right again): it parses, every
 * chunk is "in a pack", but restore reads each of the two at the other's
 * place. */
static void swap_index(git_oid *out, git_repository *repo, const git_tree *tree)
{
	git_tree *index = NULL, *best_fan = NULL;
	const git_tree_entry *ie = git_tree_entry_byname(tree, "index");
	git_oid best, nb, nfan, nindex;
	size_t best_len = 0;
	char best_name[80], fan_name[8];

	cr_assert_not_null(ie);
	cr_assert_eq(git_tree_lookup(&index, repo, git_tree_entry_id(ie)), 0);
	for (size_t i = 0; i < git_tree_entrycount(index); i++) {
		const git_tree_entry *fe = git_tree_entry_byindex(index, i);
		git_tree *fan = NULL;
		cr_assert_eq(git_tree_lookup(&fan, repo, git_tree_entry_id(fe)),
		             0);
		for (size_t k = 0; k < git_tree_entrycount(fan); k++) {
			const git_tree_entry *be =
			        git_tree_entry_byindex(fan, k);
			git_blob *b = NULL;
			cr_assert_eq(git_blob_lookup(&b, repo,
			                             git_tree_entry_id(be)),
			             0);
			if ((size_t)git_blob_rawsize(b) > best_len) {
				best_len = (size_t)git_blob_rawsize(b);
				git_oid_cpy(&best, git_tree_entry_id(be));
				snprintf(best_name, sizeof(best_name), "%s",
				         git_tree_entry_name(be));
				snprintf(fan_name, sizeof(fan_name), "%s",
				         git_tree_entry_name(fe));
			}
			git_blob_free(b);
		}
		git_tree_free(fan);
	}
	git_blob *b = NULL;
	cr_assert_eq(git_blob_lookup(&b, repo, &best), 0);
	unsigned char *t = malloc(best_len);
	memcpy(t, git_blob_rawcontent(b), best_len);
	git_blob_free(b);
	size_t count =
	        (best_len - TIER_PACK_TRAILER_SIZE) / TIER_PACK_ENTRY_SIZE;
	cr_assert_geq(count, 2, "the largest pack holds %zu chunks", count);
	unsigned char tmp[TIER_HASH_LEN];
	memcpy(tmp, t, TIER_HASH_LEN);
	memcpy(t, t + TIER_PACK_ENTRY_SIZE, TIER_HASH_LEN);
	memcpy(t + TIER_PACK_ENTRY_SIZE, tmp, TIER_HASH_LEN);
	/* trailer bytes 24..56: SHA-256 of the index and trailer bytes 0..24 */
	size_t ilen = best_len - TIER_PACK_TRAILER_SIZE;
	tier_sha256_ctx ctx = TIER_SHA256_CTX_INIT;
	cr_assert_eq(tier_sha256_init(&ctx), 0);
	cr_assert_eq(tier_sha256_update(&ctx, t, ilen + 24), 0);
	cr_assert_eq(tier_sha256_final(&ctx, t + ilen + 24), 0);
	tier_sha256_dispose(&ctx);
	blob_of(&nb, repo, t, best_len);
	free(t);

	git_treebuilder *tb = NULL;
	const git_tree_entry *fe = git_tree_entry_byname(index, fan_name);
	cr_assert_eq(git_tree_lookup(&best_fan, repo, git_tree_entry_id(fe)),
	             0);
	cr_assert_eq(git_treebuilder_new(&tb, repo, best_fan), 0);
	cr_assert_eq(git_treebuilder_insert(NULL, tb, best_name, &nb,
	                                    GIT_FILEMODE_BLOB),
	             0);
	cr_assert_eq(git_treebuilder_write(&nfan, tb), 0);
	git_treebuilder_free(tb);
	cr_assert_eq(git_treebuilder_new(&tb, repo, index), 0);
	cr_assert_eq(git_treebuilder_insert(NULL, tb, fan_name, &nfan,
	                                    GIT_FILEMODE_TREE),
	             0);
	cr_assert_eq(git_treebuilder_write(&nindex, tb), 0);
	git_treebuilder_free(tb);
	with_part(out, repo, tree, "index", &nindex);
	git_tree_free(best_fan);
	git_tree_free(index);
}

static void warning_sink(const char *msg, void *payload)
{
	(void)msg;
	(void)payload;
}

Test(fsck, a_pack_index_copy_that_disagrees_with_the_pack_is_damage)
{
	make_vault();
	forge_with("a", tier_a, 4, swap_index, "index forged");
	/* the same log on b: both tiers hold the same forged revision */
	cr_assert_eq(
	        tt_sh("cp %s/a/log.git/objects/pack/* %s/b/log.git/objects/pack/ && "
	              "cp %s/a/log.git/refs/heads/main %s/b/log.git/refs/heads/main",
	              dir, dir, dir, dir),
	        0);

	/* every chunk is in the map, every pack is sound on its own */
	tier_fsck_report *r = fsck(0, 0, 0);
	cr_assert_eq(r->errors, 0, "%s", all_messages(r));
	tier_fsck_report_free(r);

	/* and yet restore cannot use it */
	tier_vault *v = open_vault(0);
	tier_restore_options ro = TIER_RESTORE_OPTIONS_INIT;
	tier_restore_stats st;
	memset(&st, 0, sizeof(st));
	ro.dest = tt_path("%s/out", dir);
	ro.warning = warning_sink;
	int rc = tier_restore_run(&st, v, &ro);
	cr_assert(rc < 0 || st.errors > 0, "restore of revision 4 worked");
	tier_vault_free(v);

	r = fsck(0, 1, 0);
	const tier_fsck_problem *p = find(r, "pack-index-mismatch", "a");
	cr_assert_not_null(p, "%s", all_messages(r));
	cr_assert_eq(p->severity, TIER_FSCK_ERROR);
	cr_assert(strstr(p->message, "differs from the pack's own from byte 0"),
	          "%s", p->message);
	cr_assert_not_null(find(r, "pack-index-mismatch", "b"), "%s",
	                   all_messages(r));
	cr_assert_eq(r->errors, 2, "%s", all_messages(r));
	tier_fsck_report_free(r);

	/* no tier agrees with the log: repair says why and mends nothing */
	r = fsck(0, 1, 1);
	p = find(r, "pack-index-mismatch", "a");
	cr_assert_not_null(p, "%s", all_messages(r));
	cr_assert_eq(p->repaired, 0);
	cr_assert(strstr(p->message, "log's copy of its index that is wrong"),
	          "%s", p->message);
	cr_assert_eq(r->errors, 2);
	tier_fsck_report_free(r);
}

Test(fsck, repair_copies_only_from_a_tier_whose_pack_agrees_with_the_log)
{
	make_vault();
	forge_with("a", tier_a, 4, swap_index, "index forged");
	cr_assert_eq(
	        tt_sh("cp %s/a/log.git/objects/pack/* %s/b/log.git/objects/pack/ && "
	              "cp %s/a/log.git/refs/heads/main %s/b/log.git/refs/heads/main",
	              dir, dir, dir, dir),
	        0);
	const char *pack = big_pack("a");
	cr_assert_eq(tt_sh("rm %s/a/%s", dir, pack), 0);
	tier_fsck_report *r = fsck(0, 1, 1);
	const tier_fsck_problem *p = find(r, "pack-missing", "a");
	cr_assert_not_null(p, "%s", all_messages(r));
	cr_assert_eq(p->repaired, 0, "%s", p->message);
	cr_assert(strstr(p->message,
	                 "'b' has a copy that does not match the log either"),
	          "%s", p->message);
	tier_fsck_report_free(r);
	cr_assert_neq(tt_sh("test -f %s/a/%s", dir, pack), 0, "nothing copied");
}

/* ---- tiers fsck could not look at --------------------------------------- */

Test(fsck, a_vanished_tier_root_is_offline_and_counted)
{
	make_vault();
	cr_assert_eq(tt_sh("rm -rf %s/a", dir), 0);
	tier_fsck_report *r = fsck(1, 0, 0);
	const tier_fsck_problem *p = find(r, "tier-offline", "a");
	cr_assert_not_null(p, "%s", all_messages(r));
	cr_assert_eq(r->tiers_offline, 1, "%s", all_messages(r));
	cr_assert_eq(r->tiers_checked, 1);
	cr_assert_eq(r->errors, 0, "%s", all_messages(r));
	tier_fsck_report_free(r);

	/* and the fault tier away too: nothing was looked at */
	tt_write_file(ctl, "offline\n", 8);
	r = fsck(1, 0, 0);
	cr_assert_eq(r->tiers_offline, 2, "%s", all_messages(r));
	cr_assert_eq(r->tiers_checked, 0, "%s", all_messages(r));
	cr_assert_not_null(find(r, "tier-offline", "b"), "%s", all_messages(r));
	tier_fsck_report_free(r);
}

/* index/ff/<64 x f>: a pack index copy of 65 MiB of zeros, over the
 * format's bound (it deflates to ~64 KiB). */
static void huge_index(git_oid *out, git_repository *repo, const git_tree *tree)
{
	const git_tree_entry *ie = git_tree_entry_byname(tree, "index");
	git_tree *index = NULL, *fan = NULL;
	git_treebuilder *tb = NULL;
	git_oid blob, nfan, nindex;
	char name[TIER_HASH_HEXLEN + 1];
	size_t len = (65u << 20);
	char *zeros = calloc(1, len);

	cr_assert_not_null(zeros);
	blob_of(&blob, repo, zeros, len);
	free(zeros);
	memset(name, 'f', TIER_HASH_HEXLEN);
	name[TIER_HASH_HEXLEN] = '\0';
	cr_assert_not_null(ie);
	cr_assert_eq(git_tree_lookup(&index, repo, git_tree_entry_id(ie)), 0);
	const git_tree_entry *fe = git_tree_entry_byname(index, "ff");
	if (fe)
		cr_assert_eq(git_tree_lookup(&fan, repo, git_tree_entry_id(fe)),
		             0);
	cr_assert_eq(git_treebuilder_new(&tb, repo, fan), 0);
	cr_assert_eq(git_treebuilder_insert(NULL, tb, name, &blob,
	                                    GIT_FILEMODE_BLOB),
	             0);
	cr_assert_eq(git_treebuilder_write(&nfan, tb), 0);
	git_treebuilder_free(tb);
	cr_assert_eq(git_treebuilder_new(&tb, repo, index), 0);
	cr_assert_eq(git_treebuilder_insert(NULL, tb, "ff", &nfan,
	                                    GIT_FILEMODE_TREE),
	             0);
	cr_assert_eq(git_treebuilder_write(&nindex, tb), 0);
	git_treebuilder_free(tb);
	with_part(out, repo, tree, "index", &nindex);
	git_tree_free(fan);
	git_tree_free(index);
}

Test(fsck, a_pack_index_copy_over_the_bound_is_damage_and_never_read)
{
	make_vault();
	forge_with("a", tier_a, 4, huge_index, "huge index");
	tier_fsck_report *r = fsck(0, 0, 0);
	const tier_fsck_problem *p = find(r, "object-too-large", "a");
	cr_assert_not_null(p, "%s", all_messages(r));
	cr_assert(strstr(p->message, "68157440 bytes, over the format's limit"),
	          "%s", p->message);
	/* the chunk map (what restore loads) refuses it too */
	p = find(r, "index-corrupt", "a");
	cr_assert_not_null(p, "%s", all_messages(r));
	cr_assert(strstr(p->message, "over the format's limit"), "%s",
	          p->message);
	tier_fsck_report_free(r);
}
