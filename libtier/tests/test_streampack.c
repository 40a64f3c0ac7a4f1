/* The streaming-pack odb backend: objects read back at once, one copy of
 * each, and a finished pack that stock git and libgit2 accept. */
#include <criterion/criterion.h>
#include <git2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"
#include "streampack.h"
#include "tier/errors.h"

static const char *dir;
static git_repository *repo; /* its odb: the stream alone */
static git_odb_backend *sp;

static void setup(void)
{
	git_odb *odb = NULL;
	git_libgit2_init();
	dir = tt_tmpdir();
	cr_assert_eq(tt_sh("mkdir -p '%s/pk'", dir), 0);
	cr_assert_eq(tier_streampack_new(&sp, tt_path("%s/pk", dir)), 0, "%s",
	             tier_error_last());
	cr_assert_eq(git_odb_new(&odb), 0);
	cr_assert_eq(git_odb_add_backend(odb, sp, 1000), 0);
	cr_assert_eq(git_repository_wrap_odb(&repo, odb), 0);
	git_odb_free(odb);
}

static void teardown(void)
{
	git_repository_free(repo);
	git_libgit2_shutdown();
	tt_rmrf(dir);
}

TestSuite(streampack, .init = setup, .fini = teardown);

/* Body of blob i: sizes from a few bytes to over 64 KiB (stored blocks,
 * deflated ones, ones over the read chunk); len set. */
static char *body(int i, size_t *len)
{
	size_t n = i % 97 == 0 ? 70000 + (size_t)i : (size_t)(i * 37 % 1500);
	char *b = malloc(n + 32);
	int h = snprintf(b, n + 32, "blob %d\n", i);
	for (size_t k = (size_t)h; k < n; k++)
		b[k] = (char)('a' + (k * 7 + (size_t)i) % 23);
	*len = n > (size_t)h ? n : (size_t)h;
	return b;
}

/* n blobs in trees of 100 under a root, and a commit; *ids the blobs. */
static void write_objects(int n, git_oid *ids, git_oid *commit)
{
	git_treebuilder *root = NULL, *sub = NULL;
	git_oid tid;
	char name[32];
	cr_assert_eq(git_treebuilder_new(&root, repo, NULL), 0);
	for (int i = 0; i < n; i++) {
		size_t len;
		char *b = body(i, &len);
		cr_assert_eq(git_blob_create_from_buffer(&ids[i], repo, b, len),
		             0, "%s", git_error_last()->message);
		free(b);
		if (!sub)
			cr_assert_eq(git_treebuilder_new(&sub, repo, NULL), 0);
		snprintf(name, sizeof(name), "f%d", i);
		cr_assert_eq(git_treebuilder_insert(NULL, sub, name, &ids[i],
		                                    GIT_FILEMODE_BLOB),
		             0);
		if (i % 100 == 99 || i == n - 1) {
			cr_assert_eq(git_treebuilder_write(&tid, sub), 0);
			snprintf(name, sizeof(name), "d%d", i / 100);
			cr_assert_eq(git_treebuilder_insert(NULL, root, name,
			                                    &tid,
			                                    GIT_FILEMODE_TREE),
			             0);
			git_treebuilder_free(sub);
			sub = NULL;
		}
	}
	cr_assert_eq(git_treebuilder_write(&tid, root), 0);
	git_treebuilder_free(root);
	git_signature *sig;
	git_tree *tree;
	cr_assert_eq(git_signature_new(&sig, "t", "t@t", 1700000000, 0), 0);
	cr_assert_eq(git_tree_lookup(&tree, repo, &tid), 0);
	cr_assert_eq(git_commit_create(commit, repo, NULL, sig, sig, NULL, "m",
	                               tree, 0, NULL),
	             0);
	git_tree_free(tree);
	git_signature_free(sig);
}

static void check_read_back(git_repository *r, int n, const git_oid *ids)
{
	git_odb *odb;
	cr_assert_eq(git_repository_odb(&odb, r), 0);
	for (int i = 0; i < n; i++) {
		git_odb_object *o = NULL;
		size_t len, hlen;
		git_object_t t;
		char *b = body(i, &len);
		cr_assert_eq(git_odb_read(&o, odb, &ids[i]), 0, "object %d", i);
		cr_assert_eq(git_odb_object_size(o), len);
		cr_assert_eq(memcmp(git_odb_object_data(o), b, len), 0);
		git_odb_object_free(o);
		free(b);
		cr_assert(git_odb_exists(odb, &ids[i]));
		cr_assert_eq(git_odb_read_header(&hlen, &t, odb, &ids[i]), 0);
		cr_assert_eq(hlen, len);
		cr_assert_eq(t, GIT_OBJECT_BLOB);
	}
	git_odb_free(odb);
}

Test(streampack, objects_read_back_exist_and_are_written_once)
{
	enum { N = 1000 };
	git_oid ids[N], c, again, missing;
	write_objects(N, ids, &c);
	/* N blobs, 10 subtrees, the root, the commit */
	cr_assert_eq(tier_streampack_count(sp), N + 12);
	check_read_back(repo, N, ids);

	/* the same object again is the same one object */
	size_t len;
	char *b = body(5, &len);
	cr_assert_eq(git_blob_create_from_buffer(&again, repo, b, len), 0);
	cr_assert(git_oid_equal(&again, &ids[5]));
	cr_assert_eq(tier_streampack_add(sp, &again, GIT_OBJECT_BLOB, b, len),
	             0);
	free(b);
	cr_assert_eq(tier_streampack_count(sp), N + 12);

	memset(&missing, 0x5a, sizeof(missing));
	cr_assert(!tier_streampack_has(sp, &missing));
	git_odb *odb;
	git_odb_object *o = NULL;
	cr_assert_eq(git_repository_odb(&odb, repo), 0);
	cr_assert_eq(git_odb_read(&o, odb, &missing), GIT_ENOTFOUND);
	git_odb_free(odb);
}

/* Finish; git verifies the pack, indexes it into the very same idx, and
 * it holds exactly what the commit reaches; libgit2 reads every object. */
static void finish_and_check(int n, const git_oid *ids, const git_oid *c)
{
	tier_buf name = TIER_BUF_INIT;
	char hex[GIT_OID_HEXSZ + 1];
	const char *pk = tt_path("%s/pk", dir);
	cr_assert_eq(tier_streampack_finish(sp, &name), 0, "%s",
	             tier_error_last());
	cr_assert(name.size > 5);
	cr_assert_eq(tt_sh("git verify-pack '%s/%s.idx'", pk, name.ptr), 0);
	cr_assert_eq(tt_sh("cd '%s' && git index-pack -o check.idx '%s.pack' "
	                   ">/dev/null && cmp -s check.idx '%s.idx'",
	                   pk, name.ptr, name.ptr),
	             0, "our idx differs from git index-pack's");
	cr_assert_eq(tt_sh("test ! -e '%s/incoming.pack'", pk), 0);

	git_repository *r = NULL;
	const char *bare = tt_path("%s/bare.git", dir);
	cr_assert_eq(git_repository_init(&r, bare, 1), 0);
	cr_assert_eq(tt_sh("cp '%s/%s.pack' '%s/%s.idx' '%s/objects/pack/'", pk,
	                   name.ptr, pk, name.ptr, bare),
	             0);
	git_oid_tostr(hex, sizeof(hex), c);
	cr_assert_eq(tt_sh("cd '%s' && git --git-dir='%s' rev-list --objects "
	                   "%s | cut -c1-40 | sort >want && git show-index "
	                   "<'%s.idx' | cut -d' ' -f2 | sort >got && "
	                   "cmp -s want got && git --git-dir='%s' fsck "
	                   "--strict %s",
	                   pk, bare, hex, name.ptr, bare, hex),
	             0, "the pack does not hold exactly the commit's objects");
	check_read_back(r, n, ids);
	git_repository_free(r);
	tier_buf_dispose(&name);

	/* reads still work on the finished pack; writes do not */
	check_read_back(repo, n < 50 ? n : 50, ids);
	cr_assert_lt(tier_streampack_add(sp, c, GIT_OBJECT_BLOB, "x", 1), 0);
}

Test(streampack, finished_pack_is_git_compatible)
{
	enum { N = 600 };
	git_oid ids[N], c;
	write_objects(N, ids, &c);
	finish_and_check(N, ids, &c);
}

/* Over the spill set's memory table (65536 records): lookups and the
 * idx come from its runs on disk too. */
Test(streampack, many_objects_past_the_memory_table)
{
	enum { N = 70000 };
	git_oid *ids = calloc(N, sizeof(*ids)), c;
	write_objects(N, ids, &c);
	cr_assert_eq(tier_streampack_count(sp), N + 700 + 2);
	finish_and_check(N, ids, &c);
	free(ids);
}

Test(streampack, nothing_written_nothing_finished)
{
	tier_buf name = TIER_BUF_INIT;
	cr_assert_eq(tier_streampack_finish(sp, &name), 0);
	cr_assert_eq(name.size, 0);
}

Test(streampack, freed_unfinished_leaves_no_file)
{
	git_oid id;
	cr_assert_eq(git_blob_create_from_buffer(&id, repo, "x", 1), 0);
	cr_assert_eq(tt_sh("test -e '%s/pk/incoming.pack'", dir), 0);
	git_repository_free(repo); /* frees the odb and the stream */
	repo = NULL;
	cr_assert_eq(tt_sh("test -z \"$(ls -A '%s/pk')\"", dir), 0,
	             "an unfinished pack leaves no file behind");
}
