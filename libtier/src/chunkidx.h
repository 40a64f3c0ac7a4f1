/*
 * The chunk map on disk (issue 15): where every chunk of the vault lives,
 * as a sorted file of fixed-size records kept in the installation's state
 * ("<state>/chunkidx") and reused across runs, so that no run holds a
 * record per chunk in memory.  chunkmap.c lists the packs of a revision's
 * index/ tree; chunkidx.c opens the file when it covers exactly those
 * packs and answers lookups; chunkidx_build.c writes a new one (the packs
 * the old file lacks merged in) with an external sort.
 *
 * File (integers little-endian):
 *   header  72 B: "TIERCIX1", version, record size, records a block,
 *           0, pack count (u64), record count (u64), SHA-256 of the header's
 *           first 40 bytes + the pack list + the fence
 *   packs   64 B each: pack id (32), index blob oid (20), 0 (12)
 *   records 56 B each, sorted by chunk id, in blocks of 64:
 *           id (32), offset (u64), pack (u32), stored_len, raw_len, flags
 *   fence   12 B a block: the first record's id prefix (8, big-endian),
 *           a checksum of the block (u32)
 * Never trusted: a header, size or checksum that does not match means a
 * rebuild, and every block read is checked against its fence checksum.
 * Internal header.
 */
#ifndef TIER_CHUNKIDX_H
#define TIER_CHUNKIDX_H

#include <git2.h>
#include <stdint.h>
#include <string.h>

#include "hash.h"
#include "snapshot.h"

#define TIER_CIDX_NAME       "chunkidx"
#define TIER_CIDX_MAGIC      "TIERCIX1"
#define TIER_CIDX_VERSION    1
#define TIER_CIDX_HEADER     72
#define TIER_CIDX_PACK       64
#define TIER_CIDX_REC        56
#define TIER_CIDX_BLOCK_RECS 64
#define TIER_CIDX_BLOCK      (TIER_CIDX_REC * TIER_CIDX_BLOCK_RECS)
#define TIER_CIDX_FENCE      12

/** One pack the index covers: its id and the index/ blob it was read from. */
typedef struct {
	unsigned char id[TIER_HASH_LEN];
	git_oid blob;
} tier_cidx_pack;

struct tier_chunkmap {
	int fd;                /* the index file (-1: no record) */
	char *path;            /* the shared file it is, NULL: private */
	uint64_t n;            /* records */
	uint64_t nblocks;      /* ceil(n / TIER_CIDX_BLOCK_RECS) */
	uint64_t rec_off;      /* file offset of the first record */
	tier_cidx_pack *packs; /* pack i of the records' pack numbers */
	size_t npacks;
	uint64_t *prefix;  /* fence: first id prefix of each block */
	uint32_t *sum;     /* fence: checksum of each block */
	size_t packs_read; /* index blobs the load read */
};

static inline void tier_cidx_put32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}
static inline void tier_cidx_put64(unsigned char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}
static inline uint32_t tier_cidx_get32(const unsigned char *p)
{
	uint32_t v = 0;
	for (int i = 3; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}
static inline uint64_t tier_cidx_get64(const unsigned char *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}
/** The fence key of an id: its first 8 bytes, big-endian (sorts as memcmp). */
static inline uint64_t tier_cidx_prefix(const unsigned char *id)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = (v << 8) | id[i];
	return v;
}

void tier_cidx_rec_encode(unsigned char *p, const tier_chunk_loc *l);
void tier_cidx_rec_decode(tier_chunk_loc *l, const unsigned char *p);
/** Checksum of a block's bytes (damage, not attack: the file is ours). */
uint32_t tier_cidx_sum(const unsigned char *p, size_t len);
/** SHA-256 of the header's first 40 bytes, the pack list and the fence. */
int tier_cidx_digest(unsigned char out[TIER_HASH_LEN],
                     const unsigned char *head, const tier_cidx_pack *packs,
                     size_t npacks, const uint64_t *prefix, const uint32_t *sum,
                     uint64_t nblocks);
/** Read block b of m (its records count into *nrec), checksum checked. */
int tier_cidx_read_block(const tier_chunkmap *m, uint64_t b,
                         unsigned char buf[TIER_CIDX_BLOCK], size_t *nrec);

/**
 * Write a new index: old's records and packs (may be NULL; its packs keep
 * their numbers) and the packs add[0..nadd), appended, read from repo's
 * index blobs.  Into "<state_dir>/chunkidx" (a temp file renamed over it)
 * when state_dir is given and writable, else an unlinked temp file.  *out
 * reads the new file.  keys: the vault's, to open sealed index blobs.
 */
int tier_cidx_build(tier_chunkmap **out, git_repository *repo,
                    const tier_chunkmap *old, const tier_cidx_pack *add,
                    size_t nadd, const char *state_dir, const tier_keys *keys);

/**
 * The map of exactly the packs want[0..n) (pack ids distinct): the file in
 * state_dir reused when it covers them, brought up to date when it lacks
 * some, rebuilt when it holds others or cannot be trusted.
 */
int tier_cidx_load(tier_chunkmap **out, git_repository *repo,
                   const tier_cidx_pack *want, size_t n, const char *state_dir,
                   const tier_keys *keys);

/**
 * The packs a revision's index/ tree lists (tree NULL or without index/:
 * none), sorted by id, each once; *out is the caller's (free()).
 */
int tier_snap_index_list(tier_cidx_pack **out, size_t *n, git_repository *repo,
                         const git_tree *tree);

/**
 * base_index (an index/ tree) without the packs ids[0..n) (absent ones
 * ignored; a fan-out directory left empty goes too): *out, written in repo.
 */
int tier_snap_index_remove(git_oid *out, git_repository *repo,
                           const git_tree *base_index, size_t n,
                           const unsigned char (*ids)[TIER_HASH_LEN]);

#endif
