/* Our git pack + idx writer, judged by stock git. */
#include <criterion/criterion.h>
#include <git2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gitpack.h"
#include "helpers.h"
#include "tier/errors.h"

static const char *dir;
static git_repository *repo;

static void setup(void)
{
	git_libgit2_init();
	dir = tt_tmpdir();
	cr_assert_eq(git_repository_init(&repo, tt_path("%s/repo.git", dir), 1),
	             0);
}

static void teardown(void)
{
	git_repository_free(repo);
	git_libgit2_shutdown();
	tt_rmrf(dir);
}

TestSuite(gitpack, .init = setup, .fini = teardown);

/* A tree of n files under a/, a/b/ and the root, contents seeded by gen. */
static void make_tree(git_oid *out, int n, int gen, int changed)
{
	git_treebuilder *root, *a, *b;
	git_oid id, aid, bid;
	char name[32], body[128];
	cr_assert_eq(git_treebuilder_new(&root, repo, NULL), 0);
	cr_assert_eq(git_treebuilder_new(&a, repo, NULL), 0);
	cr_assert_eq(git_treebuilder_new(&b, repo, NULL), 0);
	for (int i = 0; i < n; i++) {
		/* only file `changed` differs between generations */
		int len = snprintf(body, sizeof(body), "file %d gen %d\n", i,
		                   i == changed ? gen : 0);
		cr_assert_eq(git_blob_create_from_buffer(&id, repo, body,
		                                         (size_t)len),
		             0);
		snprintf(name, sizeof(name), "f%03d", i);
		git_treebuilder *t = i % 3 == 0 ? root : i % 3 == 1 ? a : b;
		cr_assert_eq(git_treebuilder_insert(NULL, t, name, &id,
		                                    GIT_FILEMODE_BLOB),
		             0);
	}
	cr_assert_eq(git_treebuilder_write(&bid, b), 0);
	cr_assert_eq(
	        git_treebuilder_insert(NULL, a, "b", &bid, GIT_FILEMODE_TREE),
	        0);
	cr_assert_eq(git_treebuilder_write(&aid, a), 0);
	cr_assert_eq(git_treebuilder_insert(NULL, root, "a", &aid,
	                                    GIT_FILEMODE_TREE),
	             0);
	cr_assert_eq(git_treebuilder_write(out, root), 0);
	git_treebuilder_free(root);
	git_treebuilder_free(a);
	git_treebuilder_free(b);
}

static void make_commit(git_oid *out, const git_oid *tree_id,
                        const git_oid *parent)
{
	git_signature *sig;
	git_tree *tree;
	git_commit *p = NULL;
	cr_assert_eq(git_signature_new(&sig, "t", "t@t", 1700000000, 0), 0);
	cr_assert_eq(git_tree_lookup(&tree, repo, tree_id), 0);
	if (parent)
		cr_assert_eq(git_commit_lookup(&p, repo, parent), 0);
	const git_commit *parents[1] = {p};
	cr_assert_eq(git_commit_create(out, repo, NULL, sig, sig, NULL, "m",
	                               tree, p ? 1 : 0, parents),
	             0);
	git_commit_free(p);
	git_tree_free(tree);
	git_signature_free(sig);
}

/* Write the pack of tip over hide; check it with git; return its object count. */
static size_t pack_and_verify(const git_oid *tip, const git_oid *hide,
                              const char *sub)
{
	git_odb *odb;
	git_oid *ids = NULL;
	size_t n = 0;
	tier_buf name = TIER_BUF_INIT;
	const char *out = tt_path("%s/%s", dir, sub);
	char tip_hex[GIT_OID_HEXSZ + 1], hide_hex[GIT_OID_HEXSZ + 1];

	cr_assert_eq(tt_sh("mkdir -p '%s'", out), 0);
	cr_assert_eq(git_repository_odb(&odb, repo), 0);
	cr_assert_eq(tier_gitpack_new_objects(repo, tip, hide, &ids, &n), 0,
	             "%s", tier_error_last());
	cr_assert_eq(tier_gitpack_write(odb, ids, n, out, &name), 0, "%s",
	             tier_error_last());
	git_odb_free(odb);
	free(ids);
	cr_assert(name.size > 5);

	/* git agrees with the pack, and indexes it into the very same idx */
	cr_assert_eq(tt_sh("git verify-pack '%s/%s.idx'", out, name.ptr), 0);
	cr_assert_eq(tt_sh("cd '%s' && git index-pack -o check.idx '%s.pack' "
	                   ">/dev/null && cmp -s check.idx '%s.idx'",
	                   out, name.ptr, name.ptr),
	             0, "our idx differs from git index-pack's");

	/* exactly the objects git lists for tip ^hide */
	git_oid_tostr(tip_hex, sizeof(tip_hex), tip);
	if (hide)
		git_oid_tostr(hide_hex, sizeof(hide_hex), hide);
	cr_assert_eq(tt_sh("cd '%s' && git --git-dir='%s/repo.git' rev-list "
	                   "--objects %s %s%s | cut -c1-40 | sort >want && "
	                   "git show-index <'%s.idx' | cut -d' ' -f2 | sort "
	                   ">got && cmp -s want got",
	                   out, dir, tip_hex, hide ? "^" : "",
	                   hide ? hide_hex : "", name.ptr),
	             0, "the pack does not hold exactly the new objects");
	tier_buf_dispose(&name);
	return n;
}

Test(gitpack, root_commit_then_one_change)
{
	git_oid t1, c1, t2, c2;
	make_tree(&t1, 60, 1, 7);
	make_commit(&c1, &t1, NULL);
	/* 60 blobs, 3 trees, 1 commit */
	cr_assert_eq(pack_and_verify(&c1, NULL, "p1"), 64);

	make_tree(&t2, 60, 2, 7); /* f007 is under a/: root and a/ change */
	make_commit(&c2, &t2, &c1);
	/* the commit, the root tree, a/ (not a/b/), one blob */
	cr_assert_eq(pack_and_verify(&c2, &c1, "p2"), 4);
}

Test(gitpack, many_objects_compressed_in_two_threads_and_batches)
{
	git_oid t1, c1, t2, c2;
	/* over the two-thread threshold and over one batch (8192), with
	 * trees above the stored-block size; file 451 is under a/ */
	make_tree(&t1, 8300, 1, 451);
	make_commit(&c1, &t1, NULL);
	cr_assert_eq(pack_and_verify(&c1, NULL, "p1"), 8304);
	make_tree(&t2, 8300, 2, 451);
	make_commit(&c2, &t2, &c1);
	cr_assert_eq(pack_and_verify(&c2, &c1, "p2"), 4);
}

Test(gitpack, unchanged_tree)
{
	git_oid t1, c1, c2;
	make_tree(&t1, 10, 1, 0);
	make_commit(&c1, &t1, NULL);
	make_commit(&c2, &t1, &c1);
	cr_assert_eq(pack_and_verify(&c2, &c1, "p"), 1); /* the commit alone */
}

Test(gitpack, nothing_to_write)
{
	git_odb *odb;
	tier_buf name = TIER_BUF_INIT;
	cr_assert_eq(git_repository_odb(&odb, repo), 0);
	cr_assert_eq(tier_gitpack_write(odb, NULL, 0, dir, &name), 0);
	cr_assert_eq(name.size, 0);
	git_odb_free(odb);
}

Test(gitpack, missing_object_fails_cleanly)
{
	git_odb *odb;
	git_oid bogus;
	tier_buf name = TIER_BUF_INIT;
	memset(&bogus, 0xab, sizeof(bogus));
	cr_assert_eq(git_repository_odb(&odb, repo), 0);
	cr_assert_lt(tier_gitpack_write(odb, &bogus, 1, dir, &name), 0);
	cr_assert_eq(name.size, 0);
	cr_assert_eq(tt_sh("test -z \"$(ls '%s' | grep -v repo.git)\"", dir), 0,
	             "a failed write leaves no file behind");
	git_odb_free(odb);
}
