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

#define SUM 20

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
	    (tier_be32(head + 4) != 2 && tier_be32(head + 4) != 3)) {
		tier_buf_puts(why, "no git pack header");
		return TIER_ECORRUPT;
	}
	if (ix && tier_be32(head + 8) != ix->count) {
		tier_buf_printf(why, "its header says %u objects, its idx %u",
		                tier_be32(head + 8), ix->count);
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
