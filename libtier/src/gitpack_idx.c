/* A v2 pack index read a block at a time (gitpack_idx.h). */
#include "gitpack_idx.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "util/error.h"
#include "util/posix.h"

#define IDX_HEADER 8
#define IDX_FANOUT (256 * 4)
#define SUM        20
#define NAMES      (IDX_HEADER + IDX_FANOUT)

static uint64_t be64(const unsigned char *p)
{
	return (uint64_t)tier_be32(p) << 32 | tier_be32(p + 4);
}

/* Blocks of the idx read at a time when it is read through. */
#define BLOCK (64 * 1024)

static int rd(int fd, uint64_t off, void *buf, size_t len)
{
	return tier_pread_all(fd, buf, len, off, NULL, "a pack index");
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

/*
 * The names, a block at a time, into the fence (or all of them for a
 * small pack); with check, each must be sorted and in its fan-out bucket.
 */
static int idx_names_read(tier_logidx *ix, unsigned char *blk, int check)
{
	unsigned char prev[SUM];
	const size_t per = BLOCK / SUM;
	const int all = ix->count <= TIER_LOGIDX_SMALL;
	uint32_t want =
	        all ? ix->count
	            : (ix->count + TIER_LOGIDX_FENCE - 1) / TIER_LOGIDX_FENCE;
	int rc = 0;
	if (want && !(ix->ids = tier_malloc((size_t)want * SUM)))
		return TIER_ERROR;
	for (uint64_t i = 0; i < ix->count && rc == 0;) {
		size_t k = ix->count - i < per ? (size_t)(ix->count - i) : per;
		if ((rc = rd(ix->fd, NAMES + i * SUM, blk, k * SUM)) < 0)
			break;
		for (size_t j = 0; j < k; j++, i++) {
			const unsigned char *nm = blk + j * SUM;
			unsigned int b = nm[0];
			if (check &&
			    ((i > 0 && memcmp(prev, nm, SUM) >= 0) ||
			     i >= ix->fan[b] || (b > 0 && i < ix->fan[b - 1])))
				return tier_error_set(
				        TIER_ECORRUPT,
				        "its idx lists object ids out of order");
			memcpy(prev, nm, SUM);
			if (all || i % TIER_LOGIDX_FENCE == 0)
				memcpy(ix->ids + (size_t)ix->nids++ * SUM, nm,
				       SUM);
		}
	}
	return rc;
}

/* The offsets, a block at a time: none garbled; the largest kept. */
static int idx_offsets_check(tier_logidx *ix, uint64_t nlarge,
                             unsigned char *blk)
{
	const uint64_t offs = NAMES + (uint64_t)ix->count * (SUM + 4),
	               large = offs + (uint64_t)ix->count * 4;
	const size_t per = BLOCK / 4;
	int rc = 0;
	for (uint64_t i = 0; i < ix->count && rc == 0;) {
		size_t k = ix->count - i < per ? (size_t)(ix->count - i) : per;
		if ((rc = rd(ix->fd, offs + i * 4, blk, k * 4)) < 0)
			break;
		for (size_t j = 0; j < k && rc == 0; j++, i++) {
			uint64_t off = tier_be32(blk + j * 4);
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

/* Header, fan-out and size; *nlarge: entries of the 64-bit offset table. */
static int idx_layout(tier_logidx *ix, uint64_t len, uint64_t *nlarge)
{
	static const unsigned char magic[4] = {0xff, 't', 'O', 'c'};
	unsigned char hd[NAMES];
	int rc;

	if (len < NAMES + 2 * SUM)
		return tier_error_set(TIER_ECORRUPT,
		                      "its idx is truncated (%zu bytes)",
		                      (size_t)len);
	if ((rc = rd(ix->fd, 0, hd, sizeof(hd))) < 0)
		return rc;
	if (memcmp(hd, magic, 4) != 0 || tier_be32(hd + 4) != 2)
		return tier_error_set(TIER_ECORRUPT,
		                      "its idx is not a version 2 pack index");
	for (int i = 0; i < 256; i++) {
		ix->fan[i] = tier_be32(hd + IDX_HEADER + 4 * i);
		if (i > 0 && ix->fan[i] < ix->fan[i - 1])
			return tier_error_set(
			        TIER_ECORRUPT,
			        "its idx has a garbled fan-out table");
	}
	uint64_t n = ix->fan[255];
	uint64_t need = NAMES + n * (SUM + 4 + 4) + 2 * SUM;
	if (need > len || (len - need) % 8 != 0)
		return tier_error_set(
		        TIER_ECORRUPT,
		        "its idx has %zu bytes, not what %llu objects need",
		        (size_t)len, (unsigned long long)n);
	ix->count = (uint32_t)n;
	*nlarge = (len - need) / 8;
	return rd(ix->fd, len - 2 * SUM, ix->pack_sum, SUM);
}

static int idx_open(tier_logidx *out, int fd, uint64_t len, int verify)
{
	unsigned char *blk = tier_malloc(BLOCK);
	uint64_t nlarge = 0;
	int rc;

	memset(out, 0, sizeof(*out));
	out->fd = fd;
	if (!blk)
		rc = TIER_ERROR;
	else if ((rc = idx_layout(out, len, &nlarge)) == 0 && verify &&
	         (rc = idx_sum_check(fd, len, blk)) == 0)
		rc = idx_offsets_check(out, nlarge, blk);
	if (rc == 0)
		rc = idx_names_read(out, blk, verify);
	free(blk);
	if (rc < 0)
		tier_logidx_close(out);
	return rc;
}

int tier_logidx_open(tier_logidx *out, int fd, uint64_t len)
{
	return idx_open(out, fd, len, 1);
}

int tier_logidx_open_local(tier_logidx *out, int fd, uint64_t len)
{
	return idx_open(out, fd, len, 0);
}

void tier_logidx_close(tier_logidx *ix)
{
	if (ix->fd >= 0)
		close(ix->fd);
	free(ix->ids);
	memset(ix, 0, sizeof(*ix));
	ix->fd = -1;
}

int tier_logidx_names(const tier_logidx *ix, uint32_t first, uint32_t n,
                      unsigned char *out)
{
	if (ix->count <= TIER_LOGIDX_SMALL && ix->ids) {
		memcpy(out, ix->ids + (size_t)first * SUM, (size_t)n * SUM);
		return 0;
	}
	return rd(ix->fd, NAMES + (uint64_t)first * SUM, out, (size_t)n * SUM);
}

/*
 * The first position whose id is >= key (count when none): the fence
 * narrows it to one stretch of 64 ids, read at once into win (which then
 * holds *wn ids from *w0: the caller looks there first).
 */
static int lower_bound(const tier_logidx *ix, const unsigned char *key,
                       uint32_t *pos, unsigned char *win, uint32_t *w0,
                       uint32_t *wn)
{
	unsigned int b = key[0];
	uint32_t lo = b ? ix->fan[b - 1] : 0, hi = ix->fan[b];
	const unsigned char *ids = ix->ids;
	uint32_t base = 0; /* the position of ids[0] */
	*wn = 0;
	if (lo == hi) {
		*pos = lo;
		return 0;
	}
	if (ix->count > TIER_LOGIDX_SMALL) {
		/* fences below key: the answer lies after the last of them */
		uint32_t flo = 0, fhi = ix->nids;
		while (flo < fhi) {
			uint32_t mid = flo + (fhi - flo) / 2;
			if (memcmp(ix->ids + (size_t)mid * SUM, key, SUM) < 0)
				flo = mid + 1;
			else
				fhi = mid;
		}
		uint32_t s = flo ? (flo - 1) * TIER_LOGIDX_FENCE : 0;
		uint32_t e = flo * TIER_LOGIDX_FENCE + 1;
		s = s > lo ? s : lo;
		e = e < hi ? e : hi;
		if (s >= e) {
			*pos = s;
			return 0;
		}
		int rc = rd(ix->fd, NAMES + (uint64_t)s * SUM, win,
		            (size_t)(e - s) * SUM);
		if (rc < 0)
			return rc;
		*w0 = s;
		*wn = e - s;
		ids = win;
		base = s;
		lo = s;
		hi = e;
	}
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (memcmp(ids + (size_t)(mid - base) * SUM, key, SUM) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*pos = lo;
	return 0;
}

/* Window for lower_bound: one stretch between fences and the next fence. */
#define WIN ((TIER_LOGIDX_FENCE + 1) * SUM)

/* The id at pos (from the window when it has it). */
static int id_at(const tier_logidx *ix, uint32_t pos, const unsigned char *win,
                 uint32_t w0, uint32_t wn, unsigned char out[SUM])
{
	if (pos >= w0 && pos < w0 + wn) {
		memcpy(out, win + (size_t)(pos - w0) * SUM, SUM);
		return 0;
	}
	return tier_logidx_names(ix, pos, 1, out);
}

/* The position of id among the idx's names: 1 with *pos, 0 when absent. */
static int idx_find(const tier_logidx *ix, const unsigned char *id,
                    uint32_t *pos)
{
	unsigned char win[WIN], nm[SUM];
	uint32_t w0 = 0, wn = 0;
	int rc = lower_bound(ix, id, pos, win, &w0, &wn);
	if (rc < 0 || *pos >= ix->count)
		return rc;
	if ((rc = id_at(ix, *pos, win, w0, wn, nm)) < 0)
		return rc;
	return memcmp(nm, id, SUM) == 0;
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
	const uint64_t offs = NAMES + (uint64_t)ix->count * (SUM + 4),
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
				out[i + j] = tier_be32(raw + 4 * j);
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
	uint32_t pos;
	int rc = idx_find(ix, id, &pos);
	if (rc <= 0 || (rc = tier_logidx_offsets(ix, pos, 1, off)) < 0)
		return rc;
	return 1;
}

static int prefix_match(const unsigned char *a, const unsigned char *b,
                        size_t nhex)
{
	if (memcmp(a, b, nhex / 2) != 0)
		return 0;
	return nhex % 2 == 0 || (a[nhex / 2] >> 4) == (b[nhex / 2] >> 4);
}

int tier_logidx_prefix(const tier_logidx *ix, const unsigned char *id,
                       size_t nhex, unsigned char full[20], uint64_t *off)
{
	unsigned char win[WIN], key[SUM] = {0}, next[SUM];
	uint32_t pos, w0 = 0, wn = 0;
	int rc;
	nhex = nhex > 2 * SUM ? 2 * SUM : nhex;
	memcpy(key, id, (nhex + 1) / 2);
	if (nhex % 2)
		key[nhex / 2] &= 0xf0;
	if ((rc = lower_bound(ix, key, &pos, win, &w0, &wn)) < 0)
		return rc;
	if (pos >= ix->count)
		return 0;
	if ((rc = id_at(ix, pos, win, w0, wn, full)) < 0)
		return rc;
	if (!prefix_match(full, key, nhex))
		return 0;
	if (pos + 1 < ix->count) {
		if ((rc = id_at(ix, pos + 1, win, w0, wn, next)) < 0)
			return rc;
		if (prefix_match(next, key, nhex))
			return 2;
	}
	if ((rc = tier_logidx_offsets(ix, pos, 1, off)) < 0)
		return rc;
	return 1;
}
