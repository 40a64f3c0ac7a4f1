/* fsck of log packs on a tier: idx parsing, the cheap check, the indexed download. */
#include "fsck_log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "hash.h"
#include "util/error.h"
#include "util/posix.h"

#define IDX_HEADER 8
#define IDX_FANOUT (256 * 4)
#define SUM        20

static uint32_t be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

static uint64_t be64(const unsigned char *p)
{
	return (uint64_t)be32(p) << 32 | be32(p + 4);
}

/* Blocks of the idx read at a time: a whole idx is 28 bytes an object
 * (16 MiB at 300,000 files), it stays in its file (issue 15). */
#define BLOCK (64 * 1024)

static int rd(int fd, uint64_t off, void *buf, size_t len)
{
	return tier_pread_all(fd, buf, len, off, NULL, "a downloaded idx");
}

/* Its own checksum first: anything garbled is caught there. */
static int idx_sum_check(int fd, uint64_t len, unsigned char *blk)
{
	unsigned char sum[SUM], want[SUM];
	unsigned int n = 0;
	int rc = 0;
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	if (!c || !EVP_DigestInit_ex(c, EVP_sha1(), NULL))
		rc = tier_error_set(TIER_ERROR, "cannot compute a sha-1");
	for (uint64_t off = 0; rc == 0 && off < len - SUM;) {
		size_t k = len - SUM - off < BLOCK ? (size_t)(len - SUM - off)
		                                   : BLOCK;
		if ((rc = rd(fd, off, blk, k)) == 0 &&
		    !EVP_DigestUpdate(c, blk, k))
			rc = tier_error_set(TIER_ERROR,
			                    "cannot compute a sha-1");
		off += k;
	}
	if (rc == 0 && (!EVP_DigestFinal_ex(c, sum, &n) || n != SUM))
		rc = tier_error_set(TIER_ERROR, "cannot compute a sha-1");
	EVP_MD_CTX_free(c);
	if (rc == 0 && (rc = rd(fd, len - SUM, want, SUM)) == 0 &&
	    memcmp(sum, want, SUM) != 0)
		rc = tier_error_set(TIER_ECORRUPT,
		                    "its idx fails its checksum");
	return rc;
}

/* The names, a block at a time: sorted, each in its fan-out bucket. */
static int idx_names_check(const tier_logidx *ix, unsigned char *blk)
{
	unsigned char prev[SUM];
	const size_t per = BLOCK / SUM;
	int rc = 0;
	for (uint64_t i = 0; i < ix->count && rc == 0;) {
		size_t k = ix->count - i < per ? (size_t)(ix->count - i) : per;
		if ((rc = rd(ix->fd, IDX_HEADER + IDX_FANOUT + i * SUM, blk,
		             k * SUM)) < 0)
			break;
		for (size_t j = 0; j < k; j++, i++) {
			const unsigned char *nm = blk + j * SUM;
			unsigned int b = nm[0];
			if ((i > 0 && memcmp(prev, nm, SUM) >= 0) ||
			    i >= ix->fan[b] || (b > 0 && i < ix->fan[b - 1]))
				return tier_error_set(
				        TIER_ECORRUPT,
				        "its idx lists object ids out of order");
			memcpy(prev, nm, SUM);
		}
	}
	return rc;
}

/* The offsets, a block at a time: none garbled; the largest kept. */
static int idx_offsets_check(tier_logidx *ix, uint64_t nlarge,
                             unsigned char *blk)
{
	const uint64_t offs = IDX_HEADER + IDX_FANOUT +
	                      (uint64_t)ix->count * (SUM + 4),
	               large = offs + (uint64_t)ix->count * 4;
	const size_t per = BLOCK / 4;
	int rc = 0;
	for (uint64_t i = 0; i < ix->count && rc == 0;) {
		size_t k = ix->count - i < per ? (size_t)(ix->count - i) : per;
		if ((rc = rd(ix->fd, offs + i * 4, blk, k * 4)) < 0)
			break;
		for (size_t j = 0; j < k && rc == 0; j++, i++) {
			uint64_t off = be32(blk + j * 4);
			unsigned char b8[8];
			if (off & 0x80000000u) {
				off &= 0x7fffffffu;
				if (off >= nlarge)
					return tier_error_set(
					        TIER_ECORRUPT,
					        "its idx has a garbled offset");
				if ((rc = rd(ix->fd, large + off * 8, b8, 8)) <
				    0)
					break;
				off = be64(b8);
			}
			if (off < 12)
				return tier_error_set(
				        TIER_ECORRUPT,
				        "its idx has a garbled offset");
			if (off > ix->max_offset)
				ix->max_offset = off;
		}
	}
	return rc;
}

static int idx_check(tier_logidx *ix, uint64_t len, unsigned char *blk)
{
	static const unsigned char magic[4] = {0xff, 't', 'O', 'c'};
	unsigned char hd[IDX_HEADER + IDX_FANOUT];
	int rc;

	if (len < IDX_HEADER + IDX_FANOUT + 2 * SUM)
		return tier_error_set(TIER_ECORRUPT,
		                      "its idx is truncated (%zu bytes)",
		                      (size_t)len);
	if ((rc = rd(ix->fd, 0, hd, sizeof(hd))) < 0)
		return rc;
	if (memcmp(hd, magic, 4) != 0 || be32(hd + 4) != 2)
		return tier_error_set(TIER_ECORRUPT,
		                      "its idx is not a version 2 pack index");
	if ((rc = idx_sum_check(ix->fd, len, blk)) < 0)
		return rc;
	for (int i = 0; i < 256; i++) {
		ix->fan[i] = be32(hd + IDX_HEADER + 4 * i);
		if (i > 0 && ix->fan[i] < ix->fan[i - 1])
			return tier_error_set(
			        TIER_ECORRUPT,
			        "its idx has a garbled fan-out table");
	}
	uint64_t n = ix->fan[255];
	uint64_t need = IDX_HEADER + IDX_FANOUT + n * (SUM + 4 + 4) + 2 * SUM;
	if (need > len || (len - need) % 8 != 0)
		return tier_error_set(
		        TIER_ECORRUPT,
		        "its idx has %zu bytes, not what %llu objects need",
		        (size_t)len, (unsigned long long)n);
	ix->count = (uint32_t)n;
	if ((rc = idx_names_check(ix, blk)) < 0 ||
	    (rc = idx_offsets_check(ix, (len - need) / 8, blk)) < 0)
		return rc;
	return rd(ix->fd, len - 2 * SUM, ix->pack_sum, SUM);
}

int tier_logidx_open(tier_logidx *out, int fd, uint64_t len)
{
	unsigned char *blk = tier_malloc(BLOCK);
	int rc;

	memset(out, 0, sizeof(*out));
	out->fd = fd;
	rc = blk ? idx_check(out, len, blk) : TIER_ERROR;
	free(blk);
	if (rc < 0) {
		close(fd);
		memset(out, 0, sizeof(*out));
		out->fd = -1;
	}
	return rc;
}

void tier_logidx_close(tier_logidx *ix)
{
	if (ix->fd >= 0)
		close(ix->fd);
	ix->fd = -1;
}

int tier_logidx_names(const tier_logidx *ix, uint32_t first, uint32_t n,
                      unsigned char *out)
{
	return rd(ix->fd, IDX_HEADER + IDX_FANOUT + (uint64_t)first * SUM, out,
	          (size_t)n * SUM);
}

/* The position of id among the idx's names: 1 with *pos, 0 when absent. */
static int idx_find(const tier_logidx *ix, const unsigned char *id,
                    uint32_t *pos)
{
	unsigned char nm[SUM];
	unsigned int b = id[0];
	uint32_t lo = b ? ix->fan[b - 1] : 0, hi = ix->fan[b];
	int rc;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if ((rc = tier_logidx_names(ix, mid, 1, nm)) < 0)
			return rc;
		int c = memcmp(nm, id, SUM);
		if (c == 0) {
			*pos = mid;
			return 1;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return 0;
}

int tier_logidx_has(const tier_logidx *ix, const git_oid *id)
{
	uint32_t pos;
	int rc = idx_find(ix, id->id, &pos);
	if (rc < 0) {
		tier_error_clear();
		return 0; /* unreadable: not there, as far as we know */
	}
	return rc;
}

int tier_logidx_offsets(const tier_logidx *ix, uint32_t first, uint32_t n,
                        uint64_t *out)
{
	const uint64_t offs = IDX_HEADER + IDX_FANOUT +
	                      (uint64_t)ix->count * (SUM + 4),
	               large = offs + (uint64_t)ix->count * 4;
	unsigned char raw[4096], b[8];
	int rc = 0;
	for (uint32_t i = 0; i < n && rc == 0; i++) {
		if (i % 1024 == 0) { /* four bytes each, a block at a time */
			uint32_t k = n - i < 1024 ? n - i : 1024;
			if ((rc = rd(ix->fd, offs + (uint64_t)(first + i) * 4,
			             raw, 4 * k)) < 0)
				break;
			for (uint32_t j = 0; j < k; j++)
				out[i + j] = be32(raw + 4 * j);
		}
		if (out[i] & 0x80000000u) {
			if ((rc = rd(ix->fd, large + (out[i] & 0x7fffffffu) * 8,
			             b, 8)) < 0)
				break;
			out[i] = be64(b);
		}
	}
	return rc;
}

int tier_logidx_offset(const tier_logidx *ix, const unsigned char *id,
                       uint64_t *off)
{
	const uint64_t offs = IDX_HEADER + IDX_FANOUT +
	                      (uint64_t)ix->count * (SUM + 4),
	               large = offs + (uint64_t)ix->count * 4;
	unsigned char b[8];
	uint32_t pos;
	int rc = idx_find(ix, id, &pos);
	if (rc <= 0 || (rc = rd(ix->fd, offs + (uint64_t)pos * 4, b, 4)) < 0)
		return rc;
	*off = be32(b);
	if (*off & 0x80000000u) {
		if ((rc = rd(ix->fd, large + (*off & 0x7fffffffu) * 8, b, 8)) <
		    0)
			return rc;
		*off = be64(b);
	}
	return 1;
}

struct idxsink {
	int fd;
	uint64_t size;
	int too_big;
	int rc;
};

static int idx_sink(const void *data, size_t len, void *payload)
{
	struct idxsink *s = payload;
	if (len > TIER_LOGPACK_IDX_MAX - s->size) {
		s->too_big = 1;
		return 1;
	}
	if ((s->rc = tier_write_all(s->fd, data, len, "a downloaded idx")) < 0)
		return 1;
	s->size += len;
	return 0;
}

int tier_logidx_fetch(tier_logidx *out, tier_location *loc, const char *path,
                      uint64_t *bytes)
{
	const char *base = getenv("TMPDIR");
	char tmp[4200];
	struct idxsink s = {-1, 0, 0, 0};
	int rc;

	memset(out, 0, sizeof(*out));
	out->fd = -1;
	snprintf(tmp, sizeof(tmp), "%s/tier-fsck-idx-XXXXXX",
	         base && *base ? base : "/tmp");
	if ((s.fd = mkstemp(tmp)) < 0)
		return tier_error_set_errno(
		        TIER_ERROR, errno,
		        "cannot create a temporary file in '%s'",
		        base && *base ? base : "/tmp");
	unlink(tmp); /* gone with the process, whatever happens */
	rc = tier_location_get(loc, path, 0, UINT64_MAX, idx_sink, &s);
	if (s.too_big)
		rc = tier_error_set(
		        TIER_ECORRUPT,
		        "object '%s' on tier '%s' is larger than %zu bytes",
		        path, tier_location_name(loc),
		        (size_t)TIER_LOGPACK_IDX_MAX);
	else if (rc == TIER_EABORTED && s.rc < 0)
		rc = s.rc;
	if (rc < 0) {
		close(s.fd);
		return rc;
	}
	if ((rc = tier_logidx_open(out, s.fd, s.size)) == 0 && bytes)
		*bytes += s.size;
	return rc;
}

/* ---- cheap check ------------------------------------------------------ */

struct small {
	unsigned char b[SUM];
	size_t n;
};

static int small_sink(const void *data, size_t len, void *payload)
{
	struct small *s = payload;
	if (len > sizeof(s->b) - s->n)
		return 1;
	memcpy(s->b + s->n, data, len);
	s->n += len;
	return 0;
}

static int read_range(tier_location *loc, const char *path, uint64_t off,
                      size_t len, unsigned char *out)
{
	struct small s = {{0}, 0};
	int rc = tier_location_get(loc, path, off, len, small_sink, &s);
	if (rc == 0 && s.n != len)
		rc = tier_error_set(TIER_ECORRUPT, "short read");
	if (rc == 0)
		memcpy(out, s.b, len);
	return rc;
}

/* The checksum a name "pack-<40 hex>" carries; 0 when the name has none. */
static int name_sum(unsigned char out[SUM], const char *name)
{
	if (strncmp(name, "pack-", 5) != 0 || strlen(name + 5) != 2 * SUM)
		return 0;
	if (tier_unhex(out, SUM, name + 5) < 0) {
		tier_error_clear();
		return 0;
	}
	return 1;
}

int tier_logpack_check(tier_location *loc, const char *path, const char *name,
                       uint64_t size, const tier_logidx *ix, tier_buf *why)
{
	unsigned char head[12], tail[SUM], want[SUM];
	char hex[2 * SUM + 1];
	int rc;

	tier_buf_clear(why);
	if (size < sizeof(head) + SUM) {
		tier_buf_printf(why, "only %llu bytes",
		                (unsigned long long)size);
		return TIER_ECORRUPT;
	}
	if (ix && ix->max_offset >= size - SUM) {
		tier_buf_printf(
		        why,
		        "%llu bytes, its idx has an object at offset %llu (truncated)",
		        (unsigned long long)size,
		        (unsigned long long)ix->max_offset);
		return TIER_ECORRUPT;
	}
	if ((rc = read_range(loc, path, 0, sizeof(head), head)) < 0 ||
	    (rc = read_range(loc, path, size - SUM, SUM, tail)) < 0) {
		if (rc == TIER_ECORRUPT)
			tier_buf_printf(why, "cannot be read whole: %s",
			                tier_error_last());
		return rc;
	}
	if (memcmp(head, "PACK", 4) != 0 ||
	    (be32(head + 4) != 2 && be32(head + 4) != 3)) {
		tier_buf_puts(why, "no git pack header");
		return TIER_ECORRUPT;
	}
	if (ix && be32(head + 8) != ix->count) {
		tier_buf_printf(why, "its header says %u objects, its idx %u",
		                be32(head + 8), ix->count);
		return TIER_ECORRUPT;
	}
	if (ix && memcmp(tail, ix->pack_sum, SUM) != 0) {
		tier_buf_printf(
		        why,
		        "%llu bytes, its last 20 bytes %s are not the checksum its idx "
		        "gives (truncated or overwritten)",
		        (unsigned long long)size, tier_hex(hex, tail, SUM));
		return TIER_ECORRUPT;
	}
	if (name_sum(want, name) && memcmp(tail, want, SUM) != 0) {
		tier_buf_printf(
		        why,
		        "%llu bytes, its last 20 bytes %.12s... are not the checksum its "
		        "name gives (truncated or overwritten)",
		        (unsigned long long)size, tier_hex(hex, tail, SUM));
		return TIER_ECORRUPT;
	}
	return 0;
}

/* ---- download through the indexer --------------------------------------- */

struct ixsink {
	git_indexer *ix;
	git_indexer_progress st;
	int git_rc;
	uint64_t *bytes;
};

static int ix_sink(const void *data, size_t len, void *payload)
{
	struct ixsink *s = payload;
	if ((s->git_rc = git_indexer_append(s->ix, data, len, &s->st)) < 0)
		return 1;
	if (s->bytes)
		*s->bytes += len;
	return 0;
}

static void git_why(tier_buf *why)
{
	const git_error *e = git_error_last();
	tier_buf_clear(why);
	tier_buf_puts(why, e && e->message ? e->message
	                                   : "the git indexer refused it");
}

int tier_logpack_index(tier_location *loc, const char *path, const char *dir,
                       tier_buf *out_name, uint32_t *objects, uint64_t *bytes,
                       tier_buf *why)
{
	git_indexer_options o;
	struct ixsink s = {NULL, {0}, 0, bytes};
	int rc;

	git_indexer_options_init(&o, GIT_INDEXER_OPTIONS_VERSION);
	tier_buf_clear(why);
	tier_buf_clear(out_name);
	/* no odb: our log packs are never thin, every delta base is inside */
	if ((rc = git_indexer_new(&s.ix, dir, 0, NULL, &o)) < 0)
		return tier_error_from_git(
		        rc, "cannot start indexing log pack '%s'", path);
	rc = tier_location_get(loc, path, 0, UINT64_MAX, ix_sink, &s);
	if (rc == TIER_EABORTED && s.git_rc < 0) {
		git_why(why);
		rc = TIER_ECORRUPT;
	} else if (rc == 0 && git_indexer_commit(s.ix, &s.st) < 0) {
		git_why(why);
		rc = TIER_ECORRUPT;
	} else if (rc == 0) {
		*objects = s.st.indexed_objects;
		if (tier_buf_printf(out_name, "pack-%s",
		                    git_indexer_name(s.ix)) < 0)
			rc = TIER_ERROR;
	}
	if (rc == TIER_ECORRUPT)
		tier_error_set(TIER_ECORRUPT, "log pack '%s' is damaged: %s",
		               path, tier_buf_cstr(why));
	git_indexer_free(s.ix);
	return rc;
}

int tier_logpack_tmpdir(tier_buf *out)
{
	const char *base = getenv("TMPDIR");
	tier_buf_clear(out);
	if (tier_buf_printf(out, "%s/tier-fsck-log-XXXXXX",
	                    base && *base ? base : "/tmp") < 0)
		return TIER_ERROR;
	if (!mkdtemp(out->ptr))
		return tier_error_set_errno(
		        TIER_ERROR, errno,
		        "cannot create a temporary directory in '%s'",
		        base && *base ? base : "/tmp");
	return 0;
}
