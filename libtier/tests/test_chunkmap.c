/* The index/ tree and the chunk map read from it (chunkmap.c). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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
		cr_assert_eq(tier_pack_writer_new(&w, dir, NULL), 0);
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
	cr_assert_eq(tier_snap_compose(&tree, repo, NULL, NULL, &index, NULL),
	             0);
	git_tree *t = NULL;
	cr_assert_eq(git_tree_lookup(&t, repo, &tree), 0);
	tier_chunkmap *m = NULL;
	cr_assert_eq(tier_chunkmap_load(&m, repo, t, NULL, NULL), 0, "%s",
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

/* ---- the map on disk (chunkidx.c) ------------------------------------------ */

#define NPACK    6
#define PER_PACK 700

struct fixture {
	const char *dir, *state;
	git_repository *repo;
	unsigned char ids[NPACK][32];
	tier_buf tails[NPACK];
	unsigned char (*cid)[32]; /* [NPACK * PER_PACK]: chunk j of pack p */
};

/* Pack p holds chunks p*PER_PACK.. and, from p 1 on, the first 10 chunks
 * of pack p-1 again (a chunk stored twice keeps one home). */
static void make_pack(struct fixture *fx, int p)
{
	tier_pack_writer *w = NULL;
	cr_assert_eq(tier_pack_writer_new(&w, fx->dir, NULL), 0);
	size_t n = 0;
	for (int j = 0; j < PER_PACK + (p ? 10 : 0); j++) {
		char data[64];
		int c = j < PER_PACK ? p * PER_PACK + j
		                     : (p - 1) * PER_PACK + (j - PER_PACK);
		snprintf(data, sizeof(data), "chunk %d", c);
		tier_sha256(fx->cid[c], data, strlen(data));
		cr_assert_eq(
		        tier_pack_writer_add(w, fx->cid[c], data, strlen(data)),
		        0);
		n++;
	}
	char *path = NULL;
	cr_assert_eq(tier_pack_writer_finish(w, fx->ids[p], &path), 0);
	tier_pack_writer_free(w);
	size_t len = 0;
	char *all = tt_read_file(path, &len);
	size_t tl = n * TIER_PACK_ENTRY_SIZE + TIER_PACK_TRAILER_SIZE;
	tier_buf_put(&fx->tails[p], all + len - tl, tl);
	free(all);
	free(path);
}

static void fx_init(struct fixture *fx)
{
	memset(fx, 0, sizeof(*fx));
	fx->dir = tt_tmpdir();
	fx->state = tt_path("%s/state", fx->dir);
	fx->state = strdup(fx->state);
	cr_assert_eq(mkdir(fx->state, 0700), 0);
	git_libgit2_init();
	cr_assert_eq(
	        git_repository_init(&fx->repo, tt_path("%s/repo", fx->dir), 1),
	        0);
	fx->cid = calloc(NPACK * PER_PACK, 32);
	for (int p = 0; p < NPACK; p++)
		make_pack(fx, p);
}

static void fx_done(struct fixture *fx)
{
	for (int p = 0; p < NPACK; p++)
		tier_buf_dispose(&fx->tails[p]);
	free(fx->cid);
	git_repository_free(fx->repo);
	tt_rmrf(fx->dir);
	free((char *)fx->state);
}

/* A revision tree whose index/ lists the packs of mask. */
static git_tree *tree_of(struct fixture *fx, unsigned mask)
{
	unsigned char ids[NPACK][32];
	git_oid blobs[NPACK];
	size_t n = 0;
	for (int p = 0; p < NPACK; p++)
		if (mask & (1u << p)) {
			memcpy(ids[n], fx->ids[p], 32);
			cr_assert_eq(
			        git_blob_create_from_buffer(&blobs[n], fx->repo,
			                                    fx->tails[p].ptr,
			                                    fx->tails[p].size),
			        0);
			n++;
		}
	git_oid index, tree;
	cr_assert_eq(tier_snap_index_add(&index, fx->repo, NULL, n,
	                                 (const unsigned char(*)[32])ids,
	                                 blobs),
	             0, "%s", tier_error_last());
	cr_assert_eq(
	        tier_snap_compose(&tree, fx->repo, NULL, NULL, &index, NULL),
	        0);
	git_tree *t = NULL;
	cr_assert_eq(git_tree_lookup(&t, fx->repo, &tree), 0);
	return t;
}

static tier_chunkmap *load(struct fixture *fx, unsigned mask, const char *state,
                           size_t packs_read)
{
	git_tree *t = tree_of(fx, mask);
	tier_chunkmap *m = NULL;
	cr_assert_eq(tier_chunkmap_load(&m, fx->repo, t, state, NULL), 0, "%s",
	             tier_error_last());
	git_tree_free(t);
	cr_assert_eq(tier_chunkmap_packs_read(m), packs_read,
	             "read %zu index blobs, not %zu",
	             tier_chunkmap_packs_read(m), packs_read);
	return m;
}

/* Every chunk of the packs of mask found where its pack's index says; the
 * other packs' own chunks not found. */
static void check_map(struct fixture *fx, tier_chunkmap *m, unsigned mask)
{
	size_t want = 0;
	for (int p = 0; p < NPACK; p++) {
		tier_pack_index *idx = NULL;
		uint64_t need = 0;
		if (!(mask & (1u << p)))
			continue;
		/* only chunks listed by another pack of mask count twice */
		want += PER_PACK;
		if (p && (mask & (1u << (p - 1))) == 0)
			want += 10;
		cr_assert_eq(
		        tier_pack_index_parse(&idx, &need, fx->tails[p].ptr,
		                              fx->tails[p].size, 0, NULL, NULL),
		        0);
		for (size_t i = 0; i < idx->count; i++) {
			tier_chunk_loc l;
			cr_assert_eq(
			        tier_chunkmap_find(m, idx->entries[i].id, &l),
			        1, "pack %d chunk %zu", p, i);
			/* its home: this pack or the other one holding it */
			const unsigned char *home =
			        tier_chunkmap_pack_id(m, l.pack);
			cr_assert_not_null(home);
			if (memcmp(home, fx->ids[p], 32) != 0)
				continue;
			cr_assert_eq(l.offset, idx->entries[i].offset);
			cr_assert_eq(l.stored_len, idx->entries[i].stored_len);
			cr_assert_eq(l.raw_len, idx->entries[i].raw_len);
			cr_assert_eq(l.flags, idx->entries[i].flags);
		}
		tier_pack_index_free(idx);
	}
	cr_assert_eq(tier_chunkmap_count(m), want);
	for (int p = 0; p < NPACK; p++) {
		if (mask & (1u << p))
			continue;
		tier_chunk_loc l;
		/* chunks 10.. of a pack are in no other */
		for (int j = 10; j < PER_PACK; j++)
			cr_assert_eq(tier_chunkmap_find(
			                     m, fx->cid[p * PER_PACK + j], &l),
			             0);
	}
	unsigned char none[32];
	memset(none, 0xff, sizeof(none));
	tier_chunk_loc l;
	cr_assert_eq(tier_chunkmap_find(m, none, &l), 0);
	memset(none, 0, sizeof(none));
	cr_assert_eq(tier_chunkmap_find(m, none, &l), 0);
}

static struct timespec mtime_of(const char *path)
{
	struct stat st;
	cr_assert_eq(stat(path, &st), 0, "%s", path);
	return st.st_mtim;
}

Test(chunkmap, on_disk_equals_memory_and_is_reused)
{
	struct fixture fx;
	fx_init(&fx);
	const char *file = strdup(tt_path("%s/chunkidx", fx.state));
	unsigned first = 0x0f; /* packs 0-3 */
	tier_chunkmap *m = load(&fx, first, fx.state, 4);
	check_map(&fx, m, first);
	tier_chunkmap_free(m);
	struct timespec t0 = mtime_of(file);

	/* the same tree: nothing read, the file as it was */
	m = load(&fx, first, fx.state, 0);
	check_map(&fx, m, first);
	tier_chunkmap_free(m);
	struct timespec t1 = mtime_of(file);
	cr_assert(t0.tv_sec == t1.tv_sec && t0.tv_nsec == t1.tv_nsec);

	/* a new pack: only its index blob read */
	m = load(&fx, first | 0x10, fx.state, 1);
	check_map(&fx, m, first | 0x10);
	/* a reader holding the old map while another run replaces it */
	tier_chunkmap *m2 = load(&fx, 0x3f, fx.state, 1);
	check_map(&fx, m, first | 0x10);
	check_map(&fx, m2, 0x3f);
	tier_chunkmap_free(m);
	tier_chunkmap_free(m2);

	/* packs 1 and 3 dropped: rebuilt from what the tree lists */
	m = load(&fx, 0x35, fx.state, 4);
	check_map(&fx, m, 0x35);
	tier_chunkmap_free(m);
	m = load(&fx, 0x35, fx.state, 0);
	tier_chunkmap_free(m);

	/* an empty index */
	m = load(&fx, 0, fx.state, 0);
	check_map(&fx, m, 0);
	tier_chunkmap_free(m);
	free((char *)file);
	fx_done(&fx);
}

static void poke(const char *path, long off, int whence)
{
	FILE *f = fopen(path, "r+b");
	cr_assert_not_null(f);
	cr_assert_eq(fseek(f, off, whence), 0);
	int c = fgetc(f);
	cr_assert_eq(fseek(f, -1, SEEK_CUR), 0);
	fputc(c ^ 0x40, f);
	fclose(f);
}

Test(chunkmap, many_runs_merged)
{
	struct fixture fx;
	fx_init(&fx);
	setenv("TIER_TEST_CHUNKIDX_RUN", "97", 1);
	tier_chunkmap *m = load(&fx, 0x07, fx.state, 3);
	check_map(&fx, m, 0x07);
	tier_chunkmap_free(m);
	m = load(&fx, 0x3f, fx.state, 3);
	check_map(&fx, m, 0x3f);
	tier_chunkmap_free(m);
	unsetenv("TIER_TEST_CHUNKIDX_RUN");
	fx_done(&fx);
}

Test(chunkmap, damaged_file_is_rebuilt)
{
	struct fixture fx;
	fx_init(&fx);
	const char *file = strdup(tt_path("%s/chunkidx", fx.state));
	unsigned all = 0x3f;
	tier_chunkmap_free(load(&fx, all, fx.state, NPACK));

	/* header, pack list, fence: caught when the file is opened */
	long where[] = {3, 30, 80, -5};
	for (size_t i = 0; i < sizeof(where) / sizeof(where[0]); i++) {
		poke(file, where[i], where[i] < 0 ? SEEK_END : SEEK_SET);
		tier_chunkmap *m = load(&fx, all, fx.state, NPACK);
		check_map(&fx, m, all);
		tier_chunkmap_free(m);
	}
	/* cut short */
	struct stat st;
	cr_assert_eq(stat(file, &st), 0);
	cr_assert_eq(truncate(file, st.st_size - 100), 0);
	tier_chunkmap_free(load(&fx, all, fx.state, NPACK));
	cr_assert_eq(truncate(file, 10), 0);
	tier_chunkmap_free(load(&fx, all, fx.state, NPACK));

	/* a record: caught by its block's checksum at the lookup */
	poke(file, 72 + NPACK * 64 + 56 * 1000 + 7, SEEK_SET);
	tier_chunkmap *m = load(&fx, all, fx.state, 0);
	int failed = 0;
	tier_chunk_loc l;
	for (int c = 0; c < NPACK * PER_PACK; c++)
		if (tier_chunkmap_find(m, fx.cid[c], &l) < 0)
			failed++;
	cr_assert_gt(failed, 0);
	tier_chunkmap_free(m);
	m = load(&fx, all, fx.state, NPACK);
	check_map(&fx, m, all);
	tier_chunkmap_free(m);

	/* a damaged block met while merging a new pack in: rebuilt whole */
	tier_chunkmap_free(load(&fx, 0x1f, fx.state, 5));
	poke(file, 72 + 5 * 64 + 56 * 1000 + 7, SEEK_SET);
	m = load(&fx, all, fx.state, NPACK);
	check_map(&fx, m, all);
	tier_chunkmap_free(m);
	free((char *)file);
	fx_done(&fx);
}

Test(chunkmap, without_a_writable_state)
{
	struct fixture fx;
	fx_init(&fx);
	tier_chunkmap *m = load(&fx, 0x3f, NULL, NPACK);
	check_map(&fx, m, 0x3f);
	tier_chunkmap_free(m);
	if (geteuid() != 0) { /* root writes anyway */
		cr_assert_eq(chmod(fx.state, 0500), 0);
		m = load(&fx, 0x3f, fx.state, NPACK);
		check_map(&fx, m, 0x3f);
		tier_chunkmap_free(m);
		cr_assert_neq(access(tt_path("%s/chunkidx", fx.state), F_OK),
		              0);
		cr_assert_eq(chmod(fx.state, 0700), 0);
	}
	fx_done(&fx);
}
