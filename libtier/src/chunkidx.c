/*
 * The chunk map on disk (chunkidx.h): opening and checking the file a
 * previous run left in the state directory, deciding whether it can serve
 * the packs a revision lists, and the lookups.  A lookup is a binary search
 * of the in-memory fence, then one pread of one block: no mmap (mapped
 * pages count in the peak RSS issue 15 bounds) and no shared cursor, so
 * push's worker threads may look up at once.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "chunkidx.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/posix.h"

void tier_cidx_rec_encode(unsigned char *p, const tier_chunk_loc *l)
{
	memcpy(p, l->id, TIER_HASH_LEN);
	tier_cidx_put64(p + 32, l->offset);
	tier_cidx_put32(p + 40, l->pack);
	tier_cidx_put32(p + 44, l->stored_len);
	tier_cidx_put32(p + 48, l->raw_len);
	tier_cidx_put32(p + 52, l->flags);
}

void tier_cidx_rec_decode(tier_chunk_loc *l, const unsigned char *p)
{
	memcpy(l->id, p, TIER_HASH_LEN);
	l->offset = tier_cidx_get64(p + 32);
	l->pack = tier_cidx_get32(p + 40);
	l->stored_len = tier_cidx_get32(p + 44);
	l->raw_len = tier_cidx_get32(p + 48);
	l->flags = tier_cidx_get32(p + 52);
}

uint32_t tier_cidx_sum(const unsigned char *p, size_t len)
{
	/* FNV-1a over 64-bit words, then a final mix: cheap per lookup */
	uint64_t h = 0xcbf29ce484222325ULL ^ len;
	size_t i = 0;
	for (; i + 8 <= len; i += 8)
		h = (h ^ tier_cidx_get64(p + i)) * 0x100000001b3ULL;
	for (; i < len; i++)
		h = (h ^ p[i]) * 0x100000001b3ULL;
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	return (uint32_t)h;
}

int tier_cidx_digest(unsigned char out[TIER_HASH_LEN],
                     const unsigned char *head, const tier_cidx_pack *packs,
                     size_t npacks, const uint64_t *prefix, const uint32_t *sum,
                     uint64_t nblocks)
{
	tier_sha256_ctx c = TIER_SHA256_CTX_INIT;
	unsigned char b[TIER_CIDX_PACK];
	int rc = tier_sha256_init(&c);
	if (rc == 0)
		rc = tier_sha256_update(&c, head, 40);
	for (size_t i = 0; rc == 0 && i < npacks; i++) {
		memset(b, 0, sizeof(b));
		memcpy(b, packs[i].id, TIER_HASH_LEN);
		memcpy(b + TIER_HASH_LEN, packs[i].blob.id, GIT_OID_RAWSZ);
		rc = tier_sha256_update(&c, b, sizeof(b));
	}
	for (uint64_t i = 0; rc == 0 && i < nblocks; i++) {
		tier_cidx_put64(b, prefix[i]);
		tier_cidx_put32(b + 8, sum[i]);
		rc = tier_sha256_update(&c, b, TIER_CIDX_FENCE);
	}
	if (rc == 0)
		rc = tier_sha256_final(&c, out);
	tier_sha256_dispose(&c);
	return rc;
}

static int damaged(const tier_chunkmap *m, const char *why)
{
	/* the next run rebuilds it rather than trip over it again */
	if (m->path)
		unlink(m->path);
	return tier_error_set(TIER_ECORRUPT,
	                      "the chunk index %s is damaged: %s",
	                      m->path ? m->path : "(temporary)", why);
}

int tier_cidx_read_block(const tier_chunkmap *m, uint64_t b,
                         unsigned char buf[TIER_CIDX_BLOCK], size_t *nrec)
{
	uint64_t first = b * TIER_CIDX_BLOCK_RECS;
	size_t k = m->n - first < TIER_CIDX_BLOCK_RECS ? (size_t)(m->n - first)
	                                               : TIER_CIDX_BLOCK_RECS;
	size_t got = 0;
	int rc = tier_pread_all(m->fd, buf, k * TIER_CIDX_REC,
	                        m->rec_off + first * TIER_CIDX_REC, &got,
	                        "the chunk index");
	if (rc < 0)
		return rc;
	if (got != k * TIER_CIDX_REC)
		return damaged(m, "it is shorter than it says");
	if (tier_cidx_sum(buf, got) != m->sum[b] ||
	    tier_cidx_prefix(buf) != m->prefix[b])
		return damaged(m, "a block fails its checksum");
	*nrec = k;
	return 0;
}

int tier_chunkmap_find(tier_chunkmap *m, const unsigned char id[TIER_HASH_LEN],
                       tier_chunk_loc *out)
{
	unsigned char buf[TIER_CIDX_BLOCK];
	uint64_t p = tier_cidx_prefix(id);
	/* the last block whose first prefix is <= p */
	uint64_t lo = 0, hi = m->nblocks;
	while (lo < hi) {
		uint64_t mid = lo + (hi - lo) / 2;
		if (m->prefix[mid] <= p)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (uint64_t b = lo; b-- > 0;) {
		size_t k = 0;
		int rc = tier_cidx_read_block(m, b, buf, &k);
		if (rc < 0)
			return rc;
		size_t l = 0, h = k;
		while (l < h) {
			size_t mid = l + (h - l) / 2;
			int c = memcmp(buf + mid * TIER_CIDX_REC, id,
			               TIER_HASH_LEN);
			if (c == 0) {
				tier_cidx_rec_decode(out,
				                     buf + mid * TIER_CIDX_REC);
				if (out->pack >= m->npacks)
					return damaged(m,
					               "a pack number is out "
					               "of range");
				return 1;
			}
			if (c < 0)
				l = mid + 1;
			else
				h = mid;
		}
		/* an id below the block's first may end the block before
		 * only when both begin with its prefix */
		if (l > 0 || m->prefix[b] != p)
			break;
	}
	return 0;
}

size_t tier_chunkmap_count(const tier_chunkmap *m)
{
	return (size_t)m->n;
}
size_t tier_chunkmap_pack_count(const tier_chunkmap *m)
{
	return m->npacks;
}
const unsigned char *tier_chunkmap_pack_id(const tier_chunkmap *m, size_t i)
{
	return i < m->npacks ? m->packs[i].id : NULL;
}
size_t tier_chunkmap_packs_read(const tier_chunkmap *m)
{
	return m->packs_read;
}

void tier_chunkmap_free(tier_chunkmap *m)
{
	if (!m)
		return;
	if (m->fd >= 0)
		close(m->fd);
	free(m->path);
	free(m->packs);
	free(m->prefix);
	free(m->sum);
	free(m);
}

/* ---- opening the file a previous run left ---------------------------------- */

static int read_sections(tier_chunkmap *m, const unsigned char *head,
                         uint64_t size)
{
	unsigned char b[TIER_CIDX_PACK], digest[TIER_HASH_LEN];
	uint64_t off = TIER_CIDX_HEADER;
	size_t got;
	m->rec_off = TIER_CIDX_HEADER + (uint64_t)m->npacks * TIER_CIDX_PACK;
	if (size !=
	    m->rec_off + m->n * TIER_CIDX_REC + m->nblocks * TIER_CIDX_FENCE)
		return 1;
	m->packs = tier_calloc(m->npacks ? m->npacks : 1, sizeof(*m->packs));
	m->prefix = tier_calloc(m->nblocks ? m->nblocks : 1, sizeof(uint64_t));
	m->sum = tier_calloc(m->nblocks ? m->nblocks : 1, sizeof(uint32_t));
	if (!m->packs || !m->prefix || !m->sum)
		return TIER_ERROR;
	for (size_t i = 0; i < m->npacks; i++, off += TIER_CIDX_PACK) {
		if (tier_pread_all(m->fd, b, TIER_CIDX_PACK, off, &got, "") <
		            0 ||
		    got != TIER_CIDX_PACK)
			return 1;
		memcpy(m->packs[i].id, b, TIER_HASH_LEN);
		git_oid_fromraw(&m->packs[i].blob, b + TIER_HASH_LEN);
	}
	off = m->rec_off + m->n * TIER_CIDX_REC;
	for (uint64_t i = 0; i < m->nblocks; i++, off += TIER_CIDX_FENCE) {
		if (tier_pread_all(m->fd, b, TIER_CIDX_FENCE, off, &got, "") <
		            0 ||
		    got != TIER_CIDX_FENCE)
			return 1;
		m->prefix[i] = tier_cidx_get64(b);
		m->sum[i] = tier_cidx_get32(b + 8);
	}
	if (tier_cidx_digest(digest, head, m->packs, m->npacks, m->prefix,
	                     m->sum, m->nblocks) < 0)
		return TIER_ERROR;
	return memcmp(digest, head + 40, TIER_HASH_LEN) != 0;
}

/* 0 and *out: the file at path, checked; 1: none to trust (rebuild). */
static int cidx_open(tier_chunkmap **out, const char *path)
{
	unsigned char head[TIER_CIDX_HEADER];
	struct stat st;
	size_t got = 0;
	*out = NULL;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 1;
	tier_chunkmap *m = tier_calloc(1, sizeof(*m));
	if (!m) {
		close(fd);
		return TIER_ERROR;
	}
	m->fd = fd;
	int rc = 1;
	if (fstat(fd, &st) < 0 ||
	    tier_pread_all(fd, head, sizeof(head), 0, &got, "") < 0 ||
	    got != sizeof(head) || memcmp(head, TIER_CIDX_MAGIC, 8) != 0 ||
	    tier_cidx_get32(head + 8) != TIER_CIDX_VERSION ||
	    tier_cidx_get32(head + 12) != TIER_CIDX_REC ||
	    tier_cidx_get32(head + 16) != TIER_CIDX_BLOCK_RECS)
		goto out;
	uint64_t np = tier_cidx_get64(head + 24),
	         n = tier_cidx_get64(head + 32);
	uint64_t size = (uint64_t)st.st_size;
	if (np > size / TIER_CIDX_PACK || n > size / TIER_CIDX_REC)
		goto out;
	m->npacks = (size_t)np;
	m->n = n;
	m->nblocks = (n + TIER_CIDX_BLOCK_RECS - 1) / TIER_CIDX_BLOCK_RECS;
	rc = read_sections(m, head, size);
out:
	if (rc == 0) {
		*out = m;
		return 0;
	}
	tier_error_clear(); /* a read error of a cache is a rebuild */
	tier_chunkmap_free(m);
	return rc < 0 ? rc : 1;
}

static int cmp_pack(const void *a, const void *b)
{
	return memcmp(((const tier_cidx_pack *)a)->id,
	              ((const tier_cidx_pack *)b)->id, TIER_HASH_LEN);
}

/*
 * Which of want the cached map lacks (into *add, *nadd); 1 when it holds a
 * pack want does not list, or one read from another blob: then it serves
 * only as a rebuild.
 */
static int cidx_diff(const tier_chunkmap *m, const tier_cidx_pack *want,
                     size_t n, tier_cidx_pack **add, size_t *nadd)
{
	tier_cidx_pack *have = tier_malloc((m->npacks + 1) * sizeof(*have));
	*add = tier_malloc((n + 1) * sizeof(**add));
	*nadd = 0;
	if (!have || !*add) {
		free(have);
		return TIER_ERROR;
	}
	memcpy(have, m->packs, m->npacks * sizeof(*have));
	qsort(have, m->npacks, sizeof(*have), cmp_pack);
	size_t matched = 0;
	for (size_t i = 0; i < n; i++) {
		const tier_cidx_pack *h = bsearch(&want[i], have, m->npacks,
		                                  sizeof(*have), cmp_pack);
		if (!h)
			(*add)[(*nadd)++] = want[i];
		else if (git_oid_equal(&h->blob, &want[i].blob))
			matched++;
	}
	free(have);
	return matched != m->npacks;
}

int tier_cidx_load(tier_chunkmap **out, git_repository *repo,
                   const tier_cidx_pack *want, size_t n, const char *state_dir,
                   const tier_keys *keys)
{
	tier_chunkmap *m = NULL;
	tier_cidx_pack *add = NULL;
	size_t nadd = 0;
	tier_buf path = TIER_BUF_INIT;
	int rc = 1;
	*out = NULL;
	if (state_dir) {
		tier_buf_printf(&path, "%s/%s", state_dir, TIER_CIDX_NAME);
		if (!path.ptr)
			return TIER_ERROR;
		rc = cidx_open(&m, path.ptr);
	}
	if (rc == 0 && (rc = cidx_diff(m, want, n, &add, &nadd)) == 0 &&
	    nadd == 0) {
		m->path = tier_buf_detach(&path);
		*out = m;
		free(add);
		return 0;
	}
	tier_buf_dispose(&path);
	if (rc == 0) { /* the cached packs and some more */
		rc = tier_cidx_build(out, repo, m, add, nadd, state_dir, keys);
		/* a block of the old file that fails its checksum (or a bad
		 * blob, which fails again) is worth one rebuild from the log */
		if (rc == TIER_ECORRUPT) {
			tier_error_clear();
			rc = 1;
		}
	}
	if (rc > 0)
		rc = tier_cidx_build(out, repo, NULL, want, n, state_dir, keys);
	tier_chunkmap_free(m);
	free(add);
	return rc;
}
