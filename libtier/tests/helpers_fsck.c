/* The fixture the fsck unit tests share (test_fsck*.c): a vault on a file
 * tier and a fault+file tier with three revisions, fsck runs, and commits
 * forged straight into a tier's log. */
#include <criterion/criterion.h>
#include <git2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers_fsck.h"
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

const char *dir;

char tier_a[4200], tier_b[4200], state[4200], src[4200], ctl[4200];

void fsck_fixture_setup(void)
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

void fsck_fixture_teardown(void)
{
	tt_rmrf(dir);
}

void push(tier_vault *v)
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
void make_vault(void)
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
tier_vault *open_vault(int with_state)
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

tier_fsck_report *fsck(int with_state, int read_data, int repair)
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

const tier_fsck_problem *find(const tier_fsck_report *r, const char *id,
                              const char *tier)
{
	for (size_t i = 0; i < r->nproblems; i++)
		if (!strcmp(r->problems[i].id, id) &&
		    (!tier || (r->problems[i].tier &&
		               !strcmp(r->problems[i].tier, tier))))
			return &r->problems[i];
	return NULL;
}

char *all_messages(const tier_fsck_report *r)
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
const char *big_pack(const char *tier)
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

/*
 * Forge a commit on top of a tier's head, straight in its log.git, and
 * make it the head: what a buggy writer, a hand edit or a hostile tier
 * would leave.  edit (may be NULL) gives the commit's tree.
 */
void forge_with(const char *tier, const char *spec, uint64_t revision,
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

void forge(const char *tier, const char *spec, uint64_t revision, int drop,
           const char *summary)
{
	forge_with(tier, spec, revision, drop ? drop_index : NULL, summary);
}

void git_fsck_clean(const char *tier)
{
	cr_assert_eq(
	        tt_sh("git --git-dir=%s/%s/log.git fsck --strict >%s/gitfsck.txt 2>&1",
	              dir, tier, dir),
	        0, "git fsck --strict of tier %s: %s", tier,
	        tt_read_file(tt_path("%s/gitfsck.txt", dir), NULL));
}

void blob_of(git_oid *out, git_repository *repo, const void *data, size_t len)
{
	cr_assert_eq(git_blob_create_from_buffer(out, repo, data, len), 0);
}

/* The revision tree with its root/ replaced by id. */
void with_part(git_oid *out, git_repository *repo, const git_tree *tree,
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
