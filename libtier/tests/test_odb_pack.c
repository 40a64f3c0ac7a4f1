/* The log cache's pread pack reader against libgit2's own, on packs made by
 * libgit2's packbuilder (deltas included). */
#include <criterion/criterion.h>
#include <git2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"
#include "odb_pack.h"

static const char *dir;
static git_repository *repo;
static git_odb *ours; /* our backend alone over repo's objects */

static void setup(void)
{
	git_libgit2_init();
	dir = tt_tmpdir();
	cr_assert_eq(git_repository_init(&repo, tt_path("%s/repo.git", dir), 1),
	             0);
}

static void teardown(void)
{
	if (ours)
		git_odb_free(ours);
	ours = NULL;
	git_repository_free(repo);
	git_libgit2_shutdown();
	if (!getenv("TT_KEEP"))
		tt_rmrf(dir);
}

TestSuite(odb_pack, .init = setup, .fini = teardown);

/* n blobs of similar text (deltas among them), then a pack of them. */
static void make_pack(git_oid *ids, int n, int seed)
{
	git_packbuilder *pb;
	char body[4096];
	cr_assert_eq(git_packbuilder_new(&pb, repo), 0);
	for (int i = 0; i < n; i++) {
		int len = snprintf(body, sizeof(body), "seed %d\n", seed);
		for (int k = 0; k < 40; k++)
			len += snprintf(body + len, sizeof(body) - (size_t)len,
			                "line %d of a text shared by all %d\n",
			                k, k * 7);
		len += snprintf(body + len, sizeof(body) - (size_t)len,
		                "this one is %d\n", i);
		cr_assert_eq(git_blob_create_from_buffer(&ids[i], repo, body,
		                                         (size_t)len),
		             0);
		cr_assert_eq(git_packbuilder_insert(pb, &ids[i], NULL), 0);
	}
	cr_assert_eq(git_packbuilder_write(pb, NULL, 0, NULL, NULL), 0);
	git_packbuilder_free(pb);
}

static void open_ours(void)
{
	git_odb_backend *b;
	cr_assert_eq(git_odb_new(&ours), 0);
	cr_assert_eq(
	        tier_odb_pack_new(&b, tt_path("%s/repo.git/objects", dir), 0),
	        0);
	cr_assert_eq(git_odb_add_backend(ours, b, 1), 0);
}

/* Every object reads the same through ours as through libgit2's. */
static void same(const git_oid *ids, int n)
{
	git_odb *theirs;
	cr_assert_eq(git_repository_odb(&theirs, repo), 0);
	for (int i = 0; i < n; i++) {
		git_odb_object *a, *b;
		size_t len;
		git_object_t t;
		cr_assert_eq(git_odb_read(&a, theirs, &ids[i]), 0);
		cr_assert_eq(git_odb_read(&b, ours, &ids[i]), 0, "%s",
		             git_error_last() ? git_error_last()->message : "");
		cr_assert_eq(git_odb_object_size(a), git_odb_object_size(b));
		cr_assert_eq(git_odb_object_type(b), GIT_OBJECT_BLOB);
		cr_assert(!memcmp(git_odb_object_data(a),
		                  git_odb_object_data(b),
		                  git_odb_object_size(a)));
		cr_assert_eq(git_odb_read_header(&len, &t, ours, &ids[i]), 0);
		cr_assert_eq(len, git_odb_object_size(a));
		git_odb_object_free(a);
		git_odb_object_free(b);
	}
	git_odb_free(theirs);
}

static int count_cb(const git_oid *id, void *payload)
{
	(void)id;
	(*(int *)payload)++;
	return 0;
}

Test(odb_pack, small_and_fenced_packs_with_deltas_read_as_libgit2_reads_them)
{
	enum { SMALL = 300, BIG = 5000 };
	git_oid *ids = calloc(SMALL + BIG, sizeof(*ids));
	cr_assert_not_null(ids);
	make_pack(ids, SMALL, 1);       /* all ids in memory */
	make_pack(ids + SMALL, BIG, 2); /* a fence of every 64th */
	open_ours();
	same(ids, SMALL + BIG);

	int n = 0;
	cr_assert_eq(git_odb_foreach(ours, count_cb, &n), 0);
	cr_assert_eq(n, SMALL + BIG);

	git_oid missing;
	git_odb_object *o;
	memset(&missing, 0xab, sizeof(missing));
	cr_assert_eq(git_odb_read(&o, ours, &missing), GIT_ENOTFOUND);
	cr_assert_eq(git_odb_exists(ours, &missing), 0);
	cr_assert_eq(git_odb_exists(ours, &ids[SMALL + 17]), 1);
	free(ids);
}

Test(odb_pack, short_ids_are_found_and_ambiguous_ones_refused)
{
	enum { N = 5000 };
	git_oid *ids = calloc(N, sizeof(*ids));
	cr_assert_not_null(ids);
	make_pack(ids, N, 3);
	open_ours();
	git_oid full, pfx;
	for (int i = 0; i < N; i += 97) {
		cr_assert_eq(
		        git_oid_fromstrn(&pfx, git_oid_tostr_s(&ids[i]), 12),
		        0);
		cr_assert_eq(git_odb_exists_prefix(&full, ours, &pfx, 12), 0);
		cr_assert(git_oid_equal(&full, &ids[i]));
	}
	/* two of 5000 ids share their first four hex digits (about 190
	 * pairs are expected): that prefix names neither */
	int found = 0;
	for (int i = 0; i < N && !found; i++)
		for (int k = i + 1; k < N && !found; k++)
			if (!memcmp(ids[i].id, ids[k].id, 2)) {
				found = 1;
				cr_assert_eq(git_oid_fromstrn(
				                     &pfx,
				                     git_oid_tostr_s(&ids[i]),
				                     4),
				             0);
				cr_assert_eq(git_odb_exists_prefix(&full, ours,
				                                   &pfx, 4),
				             GIT_EAMBIGUOUS);
			}
	cr_assert(found);
	free(ids);
}

Test(odb_pack, a_pack_added_later_is_found_after_the_first_lookups)
{
	git_oid a[10], b[10];
	make_pack(a, 10, 4);
	open_ours();
	same(a, 10);
	make_pack(b, 10, 5); /* libgit2 refreshes us on the miss */
	same(b, 10);
}
