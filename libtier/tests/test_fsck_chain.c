/* fsck of the log's structure (fsck_chain.c, fsck_snap.c): a wrong
 * Tier-Revision, a missing log.git/HEAD written again, a snapshot naming
 * chunks no pack holds, hostile names and nodes. */
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

TestSuite(fsck, .init = fsck_fixture_setup, .fini = fsck_fixture_teardown);

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
	cr_assert_eq(tier_node_encode(&node, NULL, &fn), 0);
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
