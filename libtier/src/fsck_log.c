/* fsck of log packs on a tier: idx parsing, the cheap check, the indexed download. */
#include "fsck_log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "hash.h"
#include "util/error.h"

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

static int sha1(unsigned char out[SUM], const void *data, size_t len)
{
	unsigned int n = 0;
	if (!EVP_Digest(data, len, out, &n, EVP_sha1(), NULL) || n != SUM)
		return tier_error_set(TIER_ERROR, "cannot compute a sha-1");
	return 0;
}

int tier_logidx_parse(tier_logidx *out, const unsigned char *d, size_t len)
{
	static const unsigned char magic[4] = {0xff, 't', 'O', 'c'};
	unsigned char sum[SUM];
	int rc;

	memset(out, 0, sizeof(*out));
	if (len < IDX_HEADER + IDX_FANOUT + 2 * SUM)
		return tier_error_set(TIER_ECORRUPT,
		                      "its idx is truncated (%zu bytes)", len);
	if (memcmp(d, magic, 4) != 0 || be32(d + 4) != 2)
		return tier_error_set(TIER_ECORRUPT,
		                      "its idx is not a version 2 pack index");
	/* its own checksum first: anything garbled is caught here */
	if ((rc = sha1(sum, d, len - SUM)) < 0)
		return rc;
	if (memcmp(sum, d + len - SUM, SUM) != 0)
		return tier_error_set(TIER_ECORRUPT,
		                      "its idx fails its checksum");

	const unsigned char *fan = d + IDX_HEADER;
	for (int i = 1; i < 256; i++)
		if (be32(fan + 4 * i) < be32(fan + 4 * (i - 1)))
			return tier_error_set(
			        TIER_ECORRUPT,
			        "its idx has a garbled fan-out table");
	uint64_t n = be32(fan + 4 * 255);
	uint64_t need = IDX_HEADER + IDX_FANOUT + n * (SUM + 4 + 4) + 2 * SUM;
	if (need > len || (len - need) % 8 != 0)
		return tier_error_set(
		        TIER_ECORRUPT,
		        "its idx has %zu bytes, not what %llu objects need",
		        len, (unsigned long long)n);
	uint64_t nlarge = (len - need) / 8;
	const unsigned char *names = fan + IDX_FANOUT;
	const unsigned char *offs = names + n * (SUM + 4);
	const unsigned char *large = offs + n * 4;
	uint64_t max = 0;
	for (uint64_t i = 0; i < n; i++) {
		const unsigned char *nm = names + i * SUM;
		unsigned int b = nm[0];
		if ((i > 0 && memcmp(nm - SUM, nm, SUM) >= 0) ||
		    i >= be32(fan + 4 * b) ||
		    (b > 0 && i < be32(fan + 4 * (b - 1))))
			return tier_error_set(
			        TIER_ECORRUPT,
			        "its idx lists object ids out of order");
		uint64_t off = be32(offs + i * 4);
		if (off & 0x80000000u) {
			off &= 0x7fffffffu;
			if (off >= nlarge)
				return tier_error_set(
				        TIER_ECORRUPT,
				        "its idx has a garbled offset");
			off = be64(large + off * 8);
		}
		if (off < 12)
			return tier_error_set(TIER_ECORRUPT,
			                      "its idx has a garbled offset");
		if (off > max)
			max = off;
	}
	out->count = (uint32_t)n;
	out->names = names;
	memcpy(out->pack_sum, d + len - 2 * SUM, SUM);
	out->max_offset = max;
	return 0;
}

int tier_logidx_has(const tier_logidx *ix, const git_oid *id)
{
	size_t lo = 0, hi = ix->count;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = memcmp(ix->names + mid * SUM, id->id, SUM);
		if (c == 0)
			return 1;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return 0;
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
