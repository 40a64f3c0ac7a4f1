/* fsck of the snapshots (fsck_snap.c) with its set of objects checked
 * already spilled to disk (issue 15): a damaged node deep in a tree that
 * two revisions share is still found, once, and every other node is read. */
#include <criterion/criterion.h>
#include <git2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fsck_snap.h"
#include "helpers.h"
#include "snapshot.h"
#include "util/buf.h"

static git_repository *repo;

static void setup(void)
{
	git_libgit2_init();
	cr_assert_eq(git_repository_init(&repo, tt_tmpdir(), 1), 0);
}

static void teardown(void)
{
	git_repository_free(repo);
	repo = NULL;
	tier_fsck_snap_mem_records = 0;
	git_libgit2_shutdown();
}

TestSuite(fsck_snap, .init = setup, .fini = teardown);

static void blob(git_oid *out, const void *data, size_t len)
{
	cr_assert_eq(git_blob_create_from_buffer(out, repo, data, len), 0);
}

/* A file node, distinct for each k (its mtime). */
static void node(git_oid *out, int64_t k)
{
	tier_buf b = TIER_BUF_INIT;
	tier_node n;
	memset(&n, 0, sizeof(n));
	n.type = TIER_NODE_FILE;
	n.mode = 0644;
	n.mtime_sec = 1700000000 + k;
	cr_assert_eq(tier_node_encode(&b, NULL, &n), 0);
	blob(out, b.ptr, b.size);
	tier_buf_dispose(&b);
}

static void tree_of(git_oid *out, const char **names, const git_oid *ids,
                    const git_filemode_t *modes, size_t n)
{
	git_treebuilder *tb = NULL;
	cr_assert_eq(git_treebuilder_new(&tb, repo, NULL), 0);
	for (size_t i = 0; i < n; i++)
		cr_assert_eq(git_treebuilder_insert(NULL, tb, names[i], &ids[i],
		                                    modes[i]),
		             0, "%s", names[i]);
	cr_assert_eq(git_treebuilder_write(out, tb), 0);
	git_treebuilder_free(tb);
}

/* A directory of `files` distinct good nodes, named f0000... */
static void many(git_oid *out, int files, int64_t base)
{
	const char **names = calloc((size_t)files, sizeof(*names));
	git_oid *ids = calloc((size_t)files, sizeof(*ids));
	git_filemode_t *modes = calloc((size_t)files, sizeof(*modes));
	for (int i = 0; i < files; i++) {
		char *nm = malloc(16);
		snprintf(nm, 16, "f%04d", i);
		names[i] = nm;
		node(&ids[i], base + i);
		modes[i] = GIT_FILEMODE_BLOB;
	}
	tree_of(out, names, ids, modes, (size_t)files);
	for (int i = 0; i < files; i++)
		free((char *)names[i]);
	free(names);
	free(ids);
	free(modes);
}

/* d01/d02/.../d<depth>/bad: a blob that is not a node, and a good one. */
static void deep(git_oid *out, int depth)
{
	git_oid ids[2];
	const char *names[2] = {"bad", "good"};
	git_filemode_t modes[2] = {GIT_FILEMODE_BLOB, GIT_FILEMODE_BLOB};
	blob(&ids[0], "this is not a node\n", 19);
	node(&ids[1], -1);
	tree_of(out, names, ids, modes, 2);
	for (int d = depth; d > 1; d--) {
		char nm[8];
		const char *np[1] = {nm};
		git_filemode_t m[1] = {GIT_FILEMODE_TREE};
		git_oid sub = *out;
		snprintf(nm, sizeof(nm), "d%02d", d);
		tree_of(out, np, &sub, m, 1);
	}
}

/* A revision: a commit whose tree's "root" is root. */
static void commit(git_oid *out, const git_oid *root, const git_oid *parent)
{
	git_oid snap;
	const char *names[1] = {TIER_SNAP_ROOT};
	git_filemode_t modes[1] = {GIT_FILEMODE_TREE};
	git_signature *sig = NULL;
	git_tree *t = NULL;
	git_commit *p = NULL;
	tree_of(&snap, names, root, modes, 1);
	cr_assert_eq(git_tree_lookup(&t, repo, &snap), 0);
	cr_assert_eq(git_signature_new(&sig, "t", "t@t", 1700000000, 0), 0);
	if (parent)
		cr_assert_eq(git_commit_lookup(&p, repo, parent), 0);
	const git_commit *ps[1] = {p};
	cr_assert_eq(git_commit_create(out, repo, NULL, sig, sig, NULL, "rev\n",
	                               t, parent ? 1 : 0, ps),
	             0);
	git_commit_free(p);
	git_tree_free(t);
	git_signature_free(sig);
}

static size_t count(const tier_fsck_snap *s, const char *id)
{
	size_t n = 0;
	for (size_t i = 0; i < s->findings.length; i++) {
		const tier_fsck_finding *f = s->findings.ptr[i];
		n += !strcmp(f->id, id);
	}
	return n;
}

static const char *all(const tier_fsck_snap *s)
{
	static char buf[8192];
	size_t len = 0;
	buf[0] = '\0';
	for (size_t i = 0; i < s->findings.length && len < sizeof(buf) - 1;
	     i++) {
		const tier_fsck_finding *f = s->findings.ptr[i];
		len += (size_t)snprintf(buf + len, sizeof(buf) - len,
		                        "%s: %s\n", f->id, f->message);
	}
	return buf;
}

Test(fsck_snap, a_bad_node_deep_in_a_shared_tree_is_found_once_after_a_spill)
{
	git_oid m1, m2, d, r1, r2, c1, c2;
	/* revision 1: many/ and the deep tree; revision 2 changes many/ only,
	 * so the deep tree is the same object in both */
	many(&m1, 300, 0);
	many(&m2, 300, 1000);
	deep(&d, 24);
	const char *names[2] = {"d01", "many"};
	git_filemode_t modes[2] = {GIT_FILEMODE_TREE, GIT_FILEMODE_TREE};
	git_oid ids1[2] = {d, m1}, ids2[2] = {d, m2};
	tree_of(&r1, names, ids1, modes, 2);
	tree_of(&r2, names, ids2, modes, 2);
	commit(&c1, &r1, NULL);
	commit(&c2, &r2, &c1);

	/* 16 records in memory: 600 nodes and ~30 trees spill many runs */
	tier_fsck_snap_mem_records = 16;
	tier_fsck_snap s;
	cr_assert_eq(tier_fsck_snap_check(&s, repo, &c2, NULL, NULL), 0);
	cr_assert_eq(count(&s, "bad-node"), 1, "%s", all(&s));
	const tier_fsck_finding *f = NULL;
	for (size_t i = 0; i < s.findings.length; i++)
		if (!strcmp(((tier_fsck_finding *)s.findings.ptr[i])->id,
		            "bad-node"))
			f = s.findings.ptr[i];
	cr_assert(strstr(f->message, "/d01/d02/d03/") &&
	                  strstr(f->message, "/d24/bad"),
	          "%s", f->message);
	cr_assert_eq(s.findings.length, 1, "%s", all(&s));
	tier_fsck_snap_dispose(&s);
}

Test(fsck_snap, a_bad_node_only_the_older_revision_holds_is_found)
{
	git_oid m1, m2, d, r1, r2, c1, c2;
	/* revision 2 drops the deep tree: revision 1's walk must still enter
	 * it, after revision 2's nodes filled and spilled the set */
	many(&m1, 200, 0);
	many(&m2, 200, 0); /* the same nodes: met again, not read again */
	deep(&d, 8);
	const char *n1[2] = {"d01", "many"}, *n2[1] = {"many"};
	git_filemode_t modes[2] = {GIT_FILEMODE_TREE, GIT_FILEMODE_TREE};
	git_oid ids1[2] = {d, m1};
	tree_of(&r1, n1, ids1, modes, 2);
	tree_of(&r2, n2, &m2, modes, 1);
	commit(&c1, &r1, NULL);
	commit(&c2, &r2, &c1);

	tier_fsck_snap_mem_records = 16;
	tier_fsck_snap s;
	cr_assert_eq(tier_fsck_snap_check(&s, repo, &c2, NULL, NULL), 0);
	cr_assert_eq(count(&s, "bad-node"), 1, "%s", all(&s));
	cr_assert_eq(s.findings.length, 1, "%s", all(&s));
	tier_fsck_snap_dispose(&s);
}
