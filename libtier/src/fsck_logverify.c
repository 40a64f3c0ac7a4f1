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

#include "hash.h"
#include "objread.h"
#include "util/error.h"
#include "util/posix.h"
#include "util/spillset.h"

#define SUM       20
#define BLOCK     (64 * 1024)
#define MAX_CHAIN 4096          /* git's own limit on a delta chain */
#define MAX_OBJ   TIER_MAX_TREE /* the largest log object the format has */

struct pv {
	int fd;
	uint64_t size; /* of the pack, trailer included */
	const tier_logidx *ix;
	unsigned char *win; /* BLOCK bytes of the pack from woff */
	uint64_t woff;
	size_t wlen;
	tier_buf *why;
	/* the last delta resolved: often the base of the next one (a chain
	 * in pack order), which then costs one inflation, not its depth */
	uint64_t last_off;
	int last_type; /* 0: none yet */
	tier_buf last;
};

static int damaged(struct pv *v, const char *fmt, uint64_t off)
{
	tier_buf_clear(v->why);
	tier_buf_printf(v->why, fmt, (unsigned long long)off);
	return TIER_ECORRUPT;
}

/* The pack's bytes from at (before the trailer), at least `need` of them
 * when there are: *p, *k.  Objects are small and read in order, so the
 * window serves many before it moves. */
static int view(struct pv *v, uint64_t at, size_t need, const unsigned char **p,
                size_t *k)
{
	uint64_t end = v->size - SUM;
	if (at >= end)
		return TIER_ECORRUPT;
	if (at < v->woff || at + need > v->woff + v->wlen ||
	    at >= v->woff + v->wlen) {
		size_t n = end - at < BLOCK ? (size_t)(end - at) : BLOCK;
		v->wlen = 0;
		int rc = tier_pread_all(v->fd, v->win, n, at, NULL,
		                        "a downloaded log pack");
		if (rc < 0)
			return rc;
		v->woff = at;
		v->wlen = n;
	}
	*p = v->win + (at - v->woff);
	*k = v->woff + v->wlen - at;
	return 0;
}

/* An object's header at off: type, inflated size, where its data starts;
 * for a delta its base's offset (6) or id (7). */
struct hdr {
	int type;
	uint64_t size, data, base_off;
	unsigned char base_id[SUM];
};

static int read_hdr(struct pv *v, uint64_t off, struct hdr *h)
{
	const unsigned char *b;
	size_t n, i = 0;
	int rc = view(v, off, 40, &b, &n);
	if (rc < 0)
		return rc == TIER_ECORRUPT
		               ? damaged(v,
		                         "an object at offset %llu is cut short",
		                         off)
		               : rc;
	h->type = (b[0] >> 4) & 7;
	h->size = b[0] & 15;
	for (unsigned s = 4; b[i++] & 0x80; s += 7) {
		if (i >= n || s > 57)
			return damaged(v,
			               "a garbled object header at offset %llu",
			               off);
		h->size |= (uint64_t)(b[i] & 0x7f) << s;
	}
	if (h->type == 6) {
		if (i >= n)
			return damaged(v,
			               "an object at offset %llu is cut short",
			               off);
		unsigned char c = b[i++];
		uint64_t d = c & 0x7f;
		while (c & 0x80) {
			if (i >= n || d >> 56)
				return damaged(v,
				               "a delta at offset %llu has a "
				               "garbled base offset",
				               off);
			c = b[i++];
			d = ((d + 1) << 7) | (c & 0x7f);
		}
		if (d == 0 || d > off)
			return damaged(v,
			               "a delta at offset %llu has a bad base",
			               off);
		h->base_off = off - d;
	} else if (h->type == 7) {
		if (i + SUM > n)
			return damaged(v,
			               "an object at offset %llu is cut short",
			               off);
		memcpy(h->base_id, b + i, SUM);
		i += SUM;
	} else if (h->type < 1 || h->type > 4)
		return damaged(v, "an object of unknown type at offset %llu",
		               off);
	if (h->size > MAX_OBJ)
		return damaged(v,
		               "the object at offset %llu is over the "
		               "format's size limit",
		               off);
	h->data = off + i;
	return 0;
}

typedef int (*out_fn)(const void *p, size_t n, void *ctx);

/* Inflate the stream of the object at off (h->size bytes out) into fn;
 * *end: where the next object starts. */
static int inflate_at(struct pv *v, uint64_t off, const struct hdr *h,
                      out_fn fn, void *ctx, uint64_t *end)
{
	unsigned char out[16384];
	z_stream z;
	uint64_t at = h->data;
	int zr = Z_OK, rc = 0;
	memset(&z, 0, sizeof(z));
	if (inflateInit(&z) != Z_OK)
		return tier_error_set(TIER_ERROR, "zlib cannot start");
	while (zr != Z_STREAM_END && rc == 0) {
		if (z.avail_in == 0) {
			const unsigned char *p;
			size_t k;
			if ((rc = view(v, at, 1, &p, &k)) < 0)
				break;
			z.next_in = (Bytef *)p;
			z.avail_in = (uInt)k;
			at += k;
		}
		z.next_out = out;
		z.avail_out = sizeof(out);
		zr = inflate(&z, Z_NO_FLUSH);
		if ((zr != Z_OK && zr != Z_STREAM_END) || z.total_out > h->size)
			break;
		rc = fn(out, sizeof(out) - z.avail_out, ctx);
	}
	uint64_t total = z.total_out, used = z.total_in;
	inflateEnd(&z);
	if (rc < 0 && rc != TIER_ECORRUPT)
		return rc;
	if (rc < 0 || zr != Z_STREAM_END || total != h->size)
		return damaged(v, "the object at offset %llu does not inflate",
		               off);
	*end = h->data + used;
	return 0;
}

static int to_buf(const void *p, size_t n, void *ctx)
{
	return tier_buf_put(ctx, p, n);
}

static int to_sha(const void *p, size_t n, void *ctx)
{
	return EVP_DigestUpdate(ctx, p, n)
	               ? 0
	               : tier_error_set(TIER_ERROR, "cannot compute a sha-1");
}

static uint64_t varint(const unsigned char **p, const unsigned char *e)
{
	uint64_t x = 0;
	for (unsigned s = 0; *p < e && s < 64; s += 7) {
		unsigned char c = *(*p)++;
		x |= (uint64_t)(c & 0x7f) << s;
		if (!(c & 0x80))
			break;
	}
	return x;
}

/* git's delta: base size, result size, then copy and insert ops. */
static int apply(const tier_buf *base, const tier_buf *d, tier_buf *out)
{
	const unsigned char *p = (const unsigned char *)d->ptr,
	                    *e = p + d->size;
	if (varint(&p, e) != base->size)
		return TIER_ECORRUPT;
	uint64_t want = varint(&p, e);
	if (want > MAX_OBJ || tier_buf_grow(out, (size_t)want) < 0)
		return want > MAX_OBJ ? TIER_ECORRUPT : TIER_ERROR;
	tier_buf_clear(out);
	while (p < e) {
		unsigned char c = *p++;
		if (c & 0x80) {
			uint64_t o = 0, n = 0;
			for (int k = 0; k < 4; k++)
				if (c & (1 << k) && p < e)
					o |= (uint64_t)*p++ << (8 * k);
			for (int k = 0; k < 3; k++)
				if (c & (0x10 << k) && p < e)
					n |= (uint64_t)*p++ << (8 * k);
			n = n ? n : 0x10000;
			if (o + n > base->size || out->size + n > want)
				return TIER_ECORRUPT;
			tier_buf_put(out, base->ptr + o, (size_t)n);
		} else if (c) {
			if ((size_t)(e - p) < c || out->size + c > want)
				return TIER_ECORRUPT;
			tier_buf_put(out, p, c);
			p += c;
		} else
			return TIER_ECORRUPT;
	}
	return out->size == want ? 0 : TIER_ECORRUPT;
}

static const char *const type_name[] = {"", "commit", "tree", "blob", "tag"};

/* Where the idx puts object id: 1 with *off, 0 when it lists none. */
static int base_by_id(struct pv *v, const unsigned char *id, uint64_t *off)
{
	return tier_logidx_offset(v->ix, id, off);
}

/*
 * The object at off resolved: its type and content into out (the delta
 * chain followed to its base, each delta applied in turn).  *end: where
 * the object at off ends.
 */
static int resolve(struct pv *v, uint64_t off, int *type, tier_buf *out,
                   uint64_t *end)
{
	uint64_t *chain = tier_malloc(MAX_CHAIN * sizeof(*chain));
	tier_buf d = TIER_BUF_INIT, tmp = TIER_BUF_INIT;
	struct hdr h;
	size_t n = 0;
	uint64_t at = off, e;
	int rc = chain ? 0 : TIER_ERROR;

	int hit = 0;
	while (rc == 0 && (rc = read_hdr(v, at, &h)) == 0 && h.type >= 6) {
		if (n > 0 && v->last_type && at == v->last_off) {
			hit = 1;
			break;
		}
		if (n == MAX_CHAIN) {
			rc = damaged(v,
			             "the delta at offset %llu has a chain "
			             "too long",
			             off);
			break;
		}
		chain[n++] = at;
		if (h.type == 6)
			at = h.base_off;
		else if ((rc = base_by_id(v, h.base_id, &at)) == 0)
			rc = damaged(v,
			             "the delta at offset %llu has a base the "
			             "pack lacks",
			             off);
		else if (rc == 1)
			rc = 0;
	}
	tier_buf_clear(out);
	if (rc == 0 && hit) {
		*type = v->last_type;
		rc = tier_buf_put(out, v->last.ptr, v->last.size);
	} else if (rc == 0) {
		*type = h.type;
		rc = inflate_at(v, at, &h, to_buf, out, &e);
		if (n == 0)
			*end = e;
	}
	for (size_t k = n; rc == 0 && k-- > 0;) {
		tier_buf_clear(&d);
		if ((rc = read_hdr(v, chain[k], &h)) < 0 ||
		    (rc = inflate_at(v, chain[k], &h, to_buf, &d, &e)) < 0)
			break;
		if (k == 0)
			*end = e;
		if ((rc = apply(out, &d, &tmp)) == TIER_ECORRUPT)
			rc = damaged(v,
			             "the delta at offset %llu does not apply",
			             chain[k]);
		tier_buf t = *out;
		*out = tmp;
		tmp = t;
	}
	v->last_type = 0;
	if (rc == 0 && n > 0) {
		tier_buf_clear(&v->last);
		if (tier_buf_put(&v->last, out->ptr, out->size) == 0) {
			v->last_off = off;
			v->last_type = *type;
		} else
			tier_error_clear(); /* not kept: the next costs more */
	}
	free(chain);
	tier_buf_dispose(&d);
	tier_buf_dispose(&tmp);
	return rc;
}

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
static int object_id(struct pv *v, EVP_MD_CTX *c, tier_buf *buf, uint64_t off,
                     unsigned char id[SUM], uint64_t *end)
{
	struct hdr h;
	unsigned int n = 0;
	int type = 0, rc = read_hdr(v, off, &h);
	if (rc < 0)
		return rc;
	if (h.type < 6) {
		/* the common case: hashed as it inflates, never held */
		if ((rc = sha_start(c, h.type, h.size)) < 0 ||
		    (rc = inflate_at(v, off, &h, to_sha, c, end)) < 0)
			return rc;
	} else if ((rc = resolve(v, off, &type, buf, end)) < 0 ||
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
	struct pv *v;
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
		return damaged(c->v,
		               "the object at offset %llu is not the one its "
		               "idx lists there",
		               off);
	c->i++;
	return 0;
}

/* Every object in order; then each where the idx says its id is. */
static int walk(struct pv *v, uint32_t count)
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
		             : damaged(v,
		                       "the object at offset %llu is in the "
		                       "pack twice",
		                       off);
	}
	if (rc == 0 && off != v->size - SUM)
		rc = damaged(v,
		             "its objects end at offset %llu, not at its "
		             "trailer",
		             off);
	if (rc == 0 && !(cm = tier_calloc(1, sizeof(*cm))))
		rc = TIER_ERROR;
	if (rc == 0) {
		cm->v = v;
		rc = tier_spillset_foreach(seen, cmp_entry, cm);
		if (rc == 1 || (rc == 0 && cm->i != v->ix->count))
			rc = damaged(v,
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
static int download(struct pv *v, tier_location *loc, const char *path,
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
static int trailer(struct pv *v, tier_buf *name, uint32_t *count)
{
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	unsigned char sum[SUM], tail[SUM], head[12];
	char hex[2 * SUM + 1];
	unsigned int n = 0;
	int rc = c && EVP_DigestInit_ex(c, EVP_sha1(), NULL)
	                 ? 0
	                 : tier_error_set(TIER_ERROR, "cannot compute a sha-1");
	if (rc == 0 && v->size < 12 + SUM)
		rc = damaged(v, "it is only %llu bytes", v->size);
	for (uint64_t off = 0; rc == 0 && off < v->size - SUM;) {
		const unsigned char *p;
		size_t k;
		if ((rc = view(v, off, 1, &p, &k)) == 0)
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
	struct pv v = {.fd = -1, .ix = ix, .why = why, .last = TIER_BUF_INIT};
	uint32_t count = 0;
	int rc;

	tier_buf_clear(why);
	tier_buf_clear(out_name);
	if (!(v.win = tier_malloc(BLOCK)))
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
	tier_buf_dispose(&v.last);
	free(v.win);
	return rc;
}
