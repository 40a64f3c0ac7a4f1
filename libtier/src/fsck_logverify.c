/*
 * --read-data of a log pack whose idx was read (fsck_log.h): the pack
 * downloaded to an unlinked temporary file, then walked object by object
 * from that file.  libgit2's indexer keeps ~60 bytes of every object in
 * memory (37 MB at 300,000 files, issue 15); here memory is that of the
 * largest object and its delta chain.  Each object must inflate to its
 * size, each delta apply to its base, and the id of what comes out must be
 * listed by the idx at that very offset; the count is the idx's and the
 * pack ends where its trailer begins.  With the pack's SHA-1 (its name)
 * and the idx's own (fsck_log.c), that is every check the indexer makes.
 */
#include "fsck_log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include <openssl/evp.h>

#include "gitpack_read.h"
#include "hash.h"
#include "objread.h"
#include "util/error.h"
#include "util/posix.h"
#include "util/spillset.h"

#define SUM   20
#define BLOCK (64 * 1024)

static int to_sha(const void *p, size_t n, void *ctx)
{
	return EVP_DigestUpdate(ctx, p, n)
	               ? 0
	               : tier_error_set(TIER_ERROR, "cannot compute a sha-1");
}

static const char *const type_name[] = {"", "commit", "tree", "blob", "tag"};

static int sha_start(EVP_MD_CTX *c, int type, uint64_t size)
{
	char h[64];
	int n = snprintf(h, sizeof(h), "%s %llu", type_name[type],
	                 (unsigned long long)size);
	return EVP_DigestInit_ex(c, EVP_sha1(), NULL) &&
	                       EVP_DigestUpdate(c, h, (size_t)n + 1)
	               ? 0
	               : tier_error_set(TIER_ERROR, "cannot compute a sha-1");
}

/* The object at off: its id into id, *end where the next one starts. */
static int object_id(tier_packread *v, EVP_MD_CTX *c, tier_buf *buf,
                     uint64_t off, unsigned char id[SUM], uint64_t *end)
{
	tier_packhdr h;
	unsigned int n = 0;
	int type = 0, rc = tier_packread_hdr(v, off, &h);
	if (rc < 0)
		return rc;
	if (h.type < 6) {
		/* the common case: hashed as it inflates, never held */
		if ((rc = sha_start(c, h.type, h.size)) < 0 ||
		    (rc = tier_packread_inflate(v, off, &h, to_sha, c, end)) <
		            0)
			return rc;
	} else if ((rc = tier_packread_resolve(v, off, &type, buf, end)) < 0 ||
	           (rc = sha_start(c, type, buf->size)) < 0 ||
	           (rc = to_sha(buf->ptr, buf->size, c)) < 0)
		return rc;
	if (!EVP_DigestFinal_ex(c, id, &n) || n != SUM)
		return tier_error_set(TIER_ERROR, "cannot compute a sha-1");
	return 0;
}

/*
 * The idx's entries in name order against the pack's as the walk found
 * them, sorted by the spill set: the same ids at the same offsets.
 */
enum { PER = 2048 };

struct cmp {
	tier_packread *v;
	uint32_t i, have; /* entries compared; of them, in names[] */
	unsigned char names[PER * SUM];
	uint64_t offs[PER];
};

static int cmp_entry(const void *key, const void *val, void *ctx)
{
	struct cmp *c = ctx;
	uint64_t off;
	int rc;
	if (c->i == c->v->ix->count)
		return 1;
	if (c->i % PER == 0) {
		uint32_t k = c->v->ix->count - c->i;
		k = k < PER ? k : PER;
		if ((rc = tier_logidx_names(c->v->ix, c->i, k, c->names)) < 0 ||
		    (rc = tier_logidx_offsets(c->v->ix, c->i, k, c->offs)) < 0)
			return rc;
	}
	memcpy(&off, val, sizeof(off));
	if (memcmp(c->names + (size_t)(c->i % PER) * SUM, key, SUM) != 0 ||
	    c->offs[c->i % PER] != off)
		return tier_packread_damaged(
		        c->v,
		        "the object at offset %llu is not the one its "
		        "idx lists there",
		        off);
	c->i++;
	return 0;
}

/* Every object in order; then each where the idx says its id is. */
static int walk(tier_packread *v, uint32_t count)
{
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	tier_buf buf = TIER_BUF_INIT;
	tier_spillset *seen = NULL;
	struct cmp *cm = NULL;
	unsigned char id[SUM];
	uint64_t off = 12, end = 0;
	int rc = c ? 0 : TIER_ERROR;

	if (rc == 0)
		rc = tier_spillset_new(&seen, SUM, sizeof(off), NULL, 0);
	for (uint32_t i = 0; i < count && rc == 0; i++, off = end) {
		if ((rc = object_id(v, c, &buf, off, id, &end)) < 0 ||
		    (rc = tier_spillset_add(seen, id, &off)) < 0)
			break;
		rc = rc == 1 ? 0
		             : tier_packread_damaged(
		                       v,
		                       "the object at offset %llu is in the "
		                       "pack twice",
		                       off);
	}
	if (rc == 0 && off != v->size - SUM)
		rc = tier_packread_damaged(
		        v,
		        "its objects end at offset %llu, not at its "
		        "trailer",
		        off);
	if (rc == 0 && !(cm = tier_calloc(1, sizeof(*cm))))
		rc = TIER_ERROR;
	if (rc == 0) {
		cm->v = v;
		rc = tier_spillset_foreach(seen, cmp_entry, cm);
		if (rc == 1 || (rc == 0 && cm->i != v->ix->count))
			rc = tier_packread_damaged(
			        v,
			        "its idx lists %llu objects, the pack "
			        "other ones",
			        v->ix->count);
	}
	free(cm);
	tier_spillset_free(seen);
	EVP_MD_CTX_free(c);
	tier_buf_dispose(&buf);
	return rc;
}

struct dlsink {
	int fd;
	uint64_t size;
	int rc;
};

static int dl_sink(const void *data, size_t len, void *payload)
{
	struct dlsink *s = payload;
	if ((s->rc = tier_write_all(s->fd, data, len,
	                            "a downloaded log pack")) < 0)
		return 1;
	s->size += len;
	return 0;
}

/* The download in an unlinked temporary file: v->fd, v->size. */
static int download(tier_packread *v, tier_location *loc, const char *path,
                    uint64_t *bytes)
{
	const char *base = getenv("TMPDIR");
	char tmp[4200];
	struct dlsink s = {-1, 0, 0};
	snprintf(tmp, sizeof(tmp), "%s/tier-fsck-pack-XXXXXX",
	         base && *base ? base : "/tmp");
	if ((s.fd = mkstemp(tmp)) < 0)
		return tier_error_set_errno(
		        TIER_ERROR, errno,
		        "cannot create a temporary file in '%s'",
		        base && *base ? base : "/tmp");
	unlink(tmp);
	int rc = tier_location_get(loc, path, 0, UINT64_MAX, dl_sink, &s);
	if (rc == TIER_EABORTED && s.rc < 0)
		rc = s.rc;
	if (bytes)
		*bytes += s.size;
	v->fd = s.fd;
	v->size = s.size;
	return rc;
}

/* Its SHA-1 trailer is that of all before it: the name it has. */
static int trailer(tier_packread *v, tier_buf *name, uint32_t *count)
{
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	unsigned char sum[SUM], tail[SUM], head[12];
	char hex[2 * SUM + 1];
	unsigned int n = 0;
	int rc = c && EVP_DigestInit_ex(c, EVP_sha1(), NULL)
	                 ? 0
	                 : tier_error_set(TIER_ERROR, "cannot compute a sha-1");
	if (rc == 0 && v->size < 12 + SUM)
		rc = tier_packread_damaged(v, "it is only %llu bytes", v->size);
	for (uint64_t off = 0; rc == 0 && off < v->size - SUM;) {
		const unsigned char *p;
		size_t k;
		if ((rc = tier_packread_view(v, off, 1, &p, &k)) == 0)
			rc = to_sha(p, k, c);
		off += k;
	}
	if (rc == 0 && (!EVP_DigestFinal_ex(c, sum, &n) || n != SUM))
		rc = tier_error_set(TIER_ERROR, "cannot compute a sha-1");
	EVP_MD_CTX_free(c);
	if (rc == 0 &&
	    (pread(v->fd, tail, SUM, (off_t)(v->size - SUM)) != SUM ||
	     pread(v->fd, head, 12, 0) != 12))
		rc = tier_error_set_errno(TIER_ERROR, errno,
		                          "cannot read back a log pack");
	if (rc < 0)
		return rc;
	if (memcmp(sum, tail, SUM) != 0) {
		tier_buf_clear(v->why);
		tier_buf_puts(v->why,
		              "its trailer is not the SHA-1 of its content");
		return TIER_ECORRUPT;
	}
	if (memcmp(head, "PACK", 4) != 0 || (head[7] != 2 && head[7] != 3) ||
	    head[4] || head[5] || head[6]) {
		tier_buf_clear(v->why);
		tier_buf_puts(v->why, "no git pack header");
		return TIER_ECORRUPT;
	}
	*count = (uint32_t)head[8] << 24 | (uint32_t)head[9] << 16 |
	         (uint32_t)head[10] << 8 | head[11];
	return tier_buf_printf(name, "pack-%s", tier_hex(hex, sum, SUM));
}

int tier_logpack_verify(tier_location *loc, const char *path,
                        const tier_logidx *ix, tier_buf *out_name,
                        uint32_t *objects, uint64_t *bytes, tier_buf *why)
{
	tier_packread v;
	uint32_t count = 0;
	int rc;

	tier_buf_clear(why);
	tier_buf_clear(out_name);
	if (tier_packread_init(&v, -1, 0, ix, BLOCK, why) < 0)
		return TIER_ERROR;
	if ((rc = download(&v, loc, path, bytes)) == 0 &&
	    (rc = trailer(&v, out_name, &count)) == 0 && count == ix->count)
		rc = walk(&v, count);
	if (rc == 0)
		*objects =
		        count; /* a count not the idx's: the caller says so */
	if (rc == TIER_ECORRUPT)
		tier_error_set(TIER_ECORRUPT, "log pack '%s' is damaged: %s",
		               path, tier_buf_cstr(why));
	if (v.fd >= 0)
		close(v.fd);
	tier_packread_dispose(&v);
	return rc;
}
