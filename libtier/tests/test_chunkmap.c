/* The index/ tree and the chunk map read from it (chunkmap.c). */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"
#include "helpers.h"
#include "pack.h"
#include "snapshot.h"
#include "tier/errors.h"

Test(chunkmap, from_index_tree)
{
	const char *dir = tt_tmpdir();
	git_libgit2_init();
	git_repository *repo = NULL;
	cr_assert_eq(git_repository_init(&repo, tt_path("%s/repo", dir), 1), 0);
	/* two real packs */
	unsigned char ids[2][32];
	tier_buf tails[2] = {TIER_BUF_INIT, TIER_BUF_INIT};
	unsigned char cid[3][32];
	for (int p = 0; p < 2; p++) {
		tier_pack_writer *w = NULL;
		cr_assert_eq(tier_pack_writer_new(&w, dir), 0);
		for (int c = 0; c < 2; c++) {
			char data[100];
			memset(data, 'a' + p + c, sizeof(data));
			tier_sha256(cid[p + c], data, sizeof(data));
			cr_assert_eq(tier_pack_writer_add(w, cid[p + c], data,
			                                  sizeof(data)),
			             0);
		}
		char *path = NULL;
		cr_assert_eq(tier_pack_writer_finish(w, ids[p], &path), 0);
		tier_pack_writer_free(w);
		size_t len = 0;
		char *all = tt_read_file(path, &len);
		size_t tail = len - TIER_PACK_HEADER_SIZE - 0;
		(void)tail;
		/* the tail: index + trailer = 2 entries + trailer */
		size_t tl = 2 * TIER_PACK_ENTRY_SIZE + TIER_PACK_TRAILER_SIZE;
		tier_buf_put(&tails[p], all + len - tl, tl);
		free(all);
		free(path);
	}
	git_oid index, tree, blobs[2];
	for (int p = 0; p < 2; p++)
		cr_assert_eq(git_blob_create_from_buffer(&blobs[p], repo,
		                                         tails[p].ptr,
		                                         tails[p].size),
		             0);
	cr_assert_eq(tier_snap_index_add(&index, repo, NULL, 2,
	                                 (const unsigned char(*)[32])ids,
	                                 blobs),
	             0, "%s", tier_error_last());
	cr_assert_eq(tier_snap_compose(&tree, repo, NULL, NULL, &index), 0);
	git_tree *t = NULL;
	cr_assert_eq(git_tree_lookup(&t, repo, &tree), 0);
	tier_chunkmap *m = NULL;
	cr_assert_eq(tier_chunkmap_load(&m, repo, t, NULL), 0, "%s",
	             tier_error_last());
	cr_assert_eq(tier_chunkmap_pack_count(m), 2);
	cr_assert_eq(tier_chunkmap_count(m), 3,
	             "the chunk in both packs counts once");
	tier_chunk_loc loc;
	for (int i = 0; i < 3; i++)
		cr_assert_eq(tier_chunkmap_find(m, cid[i], &loc), 1);
	unsigned char none[32] = {0};
	cr_assert_eq(tier_chunkmap_find(m, none, &loc), 0);
	tier_chunkmap_free(m);
	git_tree_free(t);
	git_repository_free(repo);
	tier_buf_dispose(&tails[0]);
	tier_buf_dispose(&tails[1]);
	tt_rmrf(dir);
}
