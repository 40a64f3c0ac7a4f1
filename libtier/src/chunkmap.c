/*
 * The log's index/ tree (docs/format.md): every data pack's tail under
 * index/<2 hex>/<64 hex>.  Read into the chunk map (which pack holds a
 * chunk, where) that push deduplicates against and restore and fsck read
 * by; written by tier_snap_index_add when a push adds its packs.
 * Declared in snapshot.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "objread.h"
#include "pack.h"
#include "snapshot.h"
#include "util/error.h"
#include "util/text.h"

/* ---- chunk map ------------------------------------------------------------ */

struct tier_chunkmap {
	tier_chunk_loc *locs;
	size_t n, cap;
	unsigned char (*packs)[TIER_HASH_LEN];
	size_t npacks, packcap;
};

static int cmp_loc(const void *a, const void *b)
{
	return memcmp(((const tier_chunk_loc *)a)->id,
	              ((const tier_chunk_loc *)b)->id, TIER_HASH_LEN);
}

static int map_add_pack(tier_chunkmap *m, const unsigned char *pack_id,
                        const char *data, size_t len, const char *name)
{
	tier_pack_index *idx = NULL;
	uint64_t need = 0;
	int rc = tier_pack_index_parse(&idx, &need, data, len, 0, name);
	if (rc < 0)
		return rc;
	if (!idx)
		return tier_error_set(
		        TIER_ECORRUPT,
		        "index of pack %s in the log is incomplete", name);
	if (m->npacks == m->packcap) {
		m->packcap = m->packcap ? m->packcap * 2 : 64;
		void *np =
		        tier_realloc(m->packs, m->packcap * sizeof(*m->packs));
		if (!np)
			goto oom;
		m->packs = np;
	}
	memcpy(m->packs[m->npacks], pack_id, TIER_HASH_LEN);
	for (size_t i = 0; i < idx->count; i++) {
		if (m->n == m->cap) {
			m->cap = m->cap ? m->cap * 2 : 1024;
			void *nl = tier_realloc(m->locs,
			                        m->cap * sizeof(*m->locs));
			if (!nl)
				goto oom;
			m->locs = nl;
		}
		tier_chunk_loc *l = &m->locs[m->n++];
		memcpy(l->id, idx->entries[i].id, TIER_HASH_LEN);
		l->pack = (uint32_t)m->npacks;
		l->offset = idx->entries[i].offset;
		l->stored_len = idx->entries[i].stored_len;
		l->raw_len = idx->entries[i].raw_len;
		l->flags = idx->entries[i].flags;
	}
	m->npacks++;
	tier_pack_index_free(idx);
	return 0;
oom:
	tier_pack_index_free(idx);
	return TIER_ERROR;
}

/* One index/<xx>/<pack id> blob: size-checked (TIER_MAX_INDEX_BLOB) before
 * it is read, as everything from a tier's log. */
static int map_add_entry(tier_chunkmap *m, git_repository *repo,
                         const git_tree_entry *e)
{
	unsigned char id[TIER_HASH_LEN];
	git_blob *blob = NULL;
	char what[96];
	const char *name = git_tree_entry_name(e);
	int rc;

	if (strlen(name) != TIER_HASH_HEXLEN ||
	    tier_unhex(id, TIER_HASH_LEN, name) < 0)
		return tier_error_set(TIER_ECORRUPT,
		                      "log index entry '%s' is not a pack id",
		                      tier_quote_name(name));
	snprintf(what, sizeof(what), "the index of pack %.12s in the log",
	         name);
	if ((rc = tier_blob_lookup_bounded(&blob, repo, git_tree_entry_id(e),
	                                   TIER_MAX_INDEX_BLOB, what)) < 0)
		return rc;
	rc = map_add_pack(m, id, git_blob_rawcontent(blob),
	                  (size_t)git_blob_rawsize(blob), name);
	git_blob_free(blob);
	return rc;
}

/* index/ and its fan-out directories (two levels, as tier_snap_index_add
 * writes them), every tree size-checked; not git_tree_walk, which reads
 * each subtree whole before anyone looked at its size. */
static int map_add_tree(tier_chunkmap *m, git_repository *repo,
                        const git_tree *t, int depth)
{
	int rc = 0;
	for (size_t i = 0; i < git_tree_entrycount(t) && rc == 0; i++) {
		const git_tree_entry *e = git_tree_entry_byindex(t, i);
		git_tree *sub = NULL;
		if (git_tree_entry_type(e) == GIT_OBJECT_BLOB) {
			rc = map_add_entry(m, repo, e);
			continue;
		}
		if (git_tree_entry_type(e) != GIT_OBJECT_TREE)
			continue;
		if (depth > 0)
			return tier_error_set(
			        TIER_ECORRUPT,
			        "log index directory '%s' is nested too deep",
			        tier_quote_name(git_tree_entry_name(e)));
		if ((rc = tier_tree_lookup_bounded(&sub, repo,
		                                   git_tree_entry_id(e),
		                                   "a pack index tree")) < 0)
			return rc;
		rc = map_add_tree(m, repo, sub, depth + 1);
		git_tree_free(sub);
	}
	return rc;
}

int tier_chunkmap_load(tier_chunkmap **out, git_repository *repo,
                       const git_tree *tree)
{
	tier_chunkmap *m = tier_calloc(1, sizeof(*m));
	git_tree *index = NULL;
	git_oid iid;
	int rc = 0;

	*out = NULL;
	if (!m)
		return TIER_ERROR;
	if (tree && tier_snap_part(&iid, tree, TIER_SNAP_INDEX) == 0) {
		if ((rc = tier_tree_lookup_bounded(&index, repo, &iid,
		                                   "the pack index tree")) < 0)
			goto fail;
		rc = map_add_tree(m, repo, index, 0);
		git_tree_free(index);
		if (rc < 0)
			goto fail;
	}
	if (m->n > 1) {
		qsort(m->locs, m->n, sizeof(*m->locs), cmp_loc);
		/* a chunk stored twice (two pushes racing on tiers) keeps one home */
		size_t k = 1;
		for (size_t i = 1; i < m->n; i++)
			if (memcmp(m->locs[i].id, m->locs[k - 1].id,
			           TIER_HASH_LEN) != 0)
				m->locs[k++] = m->locs[i];
		m->n = k;
	}
	*out = m;
	return 0;
fail:
	tier_chunkmap_free(m);
	return rc;
}

const tier_chunk_loc *tier_chunkmap_find(const tier_chunkmap *m,
                                         const unsigned char id[TIER_HASH_LEN])
{
	size_t lo = 0, hi = m->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = memcmp(m->locs[mid].id, id, TIER_HASH_LEN);
		if (c == 0)
			return &m->locs[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

size_t tier_chunkmap_count(const tier_chunkmap *m)
{
	return m->n;
}
size_t tier_chunkmap_pack_count(const tier_chunkmap *m)
{
	return m->npacks;
}
const unsigned char *tier_chunkmap_pack_id(const tier_chunkmap *m, size_t i)
{
	return i < m->npacks ? m->packs[i] : NULL;
}

void tier_chunkmap_free(tier_chunkmap *m)
{
	if (!m)
		return;
	free(m->locs);
	free(m->packs);
	free(m);
}

/* ---- index tree ------------------------------------------------------------ */

/* The fan-out tree fan of top with every pack of ids in that fan added. */
static int index_add_fan(git_treebuilder *top, git_repository *repo,
                         unsigned fan, size_t n,
                         const unsigned char (*ids)[TIER_HASH_LEN],
                         const git_oid *blobs)
{
	char hex[TIER_HASH_HEXLEN + 1], name[3];
	git_treebuilder *sub = NULL;
	git_tree *subtree = NULL;
	git_oid subid;
	int rc;
	snprintf(name, sizeof(name), "%02x", fan);
	const git_tree_entry *e = git_treebuilder_get(top, name);
	if (e &&
	    (rc = git_tree_lookup(&subtree, repo, git_tree_entry_id(e))) < 0)
		return rc;
	rc = git_treebuilder_new(&sub, repo, subtree);
	git_tree_free(subtree);
	for (size_t i = 0; i < n && rc >= 0; i++) {
		if (ids[i][0] != fan)
			continue;
		tier_hex(hex, ids[i], TIER_HASH_LEN);
		rc = git_treebuilder_insert(NULL, sub, hex, &blobs[i],
		                            GIT_FILEMODE_BLOB);
	}
	if (rc >= 0 && (rc = git_treebuilder_write(&subid, sub)) >= 0)
		rc = git_treebuilder_insert(NULL, top, name, &subid,
		                            GIT_FILEMODE_TREE);
	git_treebuilder_free(sub);
	return rc;
}

int tier_snap_index_add(git_oid *out, git_repository *repo,
                        const git_tree *base_index, size_t n,
                        const unsigned char (*ids)[TIER_HASH_LEN],
                        const git_oid *blobs)
{
	git_treebuilder *top = NULL;
	unsigned char used[256] = {0};
	int rc;
	if ((rc = git_treebuilder_new(&top, repo, base_index)) < 0)
		return tier_error_from_git(rc, "cannot update the pack index");
	for (size_t i = 0; i < n; i++)
		used[ids[i][0]] = 1;
	/* each fan-out tree written once: no tree of a half-added fan goes
	 * into the write's log pack */
	for (unsigned fan = 0; fan < 256 && rc >= 0; fan++)
		if (used[fan])
			rc = index_add_fan(top, repo, fan, n, ids, blobs);
	if (rc >= 0)
		rc = git_treebuilder_write(out, top);
	git_treebuilder_free(top);
	if (rc < 0)
		return tier_error_from_git(rc, "cannot update the pack index");
	return 0;
}
