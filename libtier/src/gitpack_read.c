/* A git pack read with pread (gitpack_read.h). */
#include "gitpack_read.h"

#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "objread.h"
#include "util/error.h"
#include "util/posix.h"

#define SUM       20
#define MAX_CHAIN 4096          /* git's own limit on a delta chain */
#define MAX_OBJ   TIER_MAX_TREE /* the largest log object the format has */

int tier_packread_init(tier_packread *r, int fd, uint64_t size,
                       const tier_logidx *ix, size_t block, tier_buf *why)
{
	memset(r, 0, sizeof(*r));
	r->fd = fd;
	r->size = size;
	r->ix = ix;
	r->block = block;
	r->why = why;
	r->bounded = 1;
	for (int i = 0; i < TIER_PACKREAD_BASES; i++)
		r->base[i].data = (tier_buf)TIER_BUF_INIT;
	return (r->win = tier_malloc(block)) ? 0 : TIER_ERROR;
}

void tier_packread_dispose(tier_packread *r)
{
	free(r->win);
	r->win = NULL;
	for (int i = 0; i < TIER_PACKREAD_BASES; i++)
		tier_buf_dispose(&r->base[i].data);
}

int tier_packread_damaged(tier_packread *v, const char *fmt, uint64_t off)
{
	tier_buf_clear(v->why);
	tier_buf_printf(v->why, fmt, (unsigned long long)off);
	return TIER_ECORRUPT;
}

/* The pack's bytes from at (before the trailer), at least `need` of them
 * when there are: *p, *k.  Objects are small and read in order, so the
 * window serves many before it moves. */
int tier_packread_view(tier_packread *v, uint64_t at, size_t need,
                       const unsigned char **p, size_t *k)
{
	uint64_t end = v->size - SUM;
	if (at >= end)
		return TIER_ECORRUPT;
	if (at < v->woff || at + need > v->woff + v->wlen ||
	    at >= v->woff + v->wlen) {
		size_t n = end - at < v->block ? (size_t)(end - at) : v->block;
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

int tier_packread_hdr(tier_packread *v, uint64_t off, tier_packhdr *h)
{
	const unsigned char *b;
	size_t n, i = 0;
	int rc = tier_packread_view(v, off, 40, &b, &n);
	if (rc < 0)
		return rc == TIER_ECORRUPT
		               ? tier_packread_damaged(
		                         v,
		                         "an object at offset %llu is cut short",
		                         off)
		               : rc;
	h->type = (b[0] >> 4) & 7;
	h->size = b[0] & 15;
	for (unsigned s = 4; b[i++] & 0x80; s += 7) {
		if (i >= n || s > 57)
			return tier_packread_damaged(
			        v, "a garbled object header at offset %llu",
			        off);
		h->size |= (uint64_t)(b[i] & 0x7f) << s;
	}
	if (h->type == 6) {
		if (i >= n)
			return tier_packread_damaged(
			        v, "an object at offset %llu is cut short",
			        off);
		unsigned char c = b[i++];
		uint64_t d = c & 0x7f;
		while (c & 0x80) {
			if (i >= n || d >> 56)
				return tier_packread_damaged(
				        v,
				        "a delta at offset %llu has a "
				        "garbled base offset",
				        off);
			c = b[i++];
			d = ((d + 1) << 7) | (c & 0x7f);
		}
		if (d == 0 || d > off)
			return tier_packread_damaged(
			        v, "a delta at offset %llu has a bad base",
			        off);
		h->base_off = off - d;
	} else if (h->type == 7) {
		if (i + SUM > n)
			return tier_packread_damaged(
			        v, "an object at offset %llu is cut short",
			        off);
		memcpy(h->base_id, b + i, SUM);
		i += SUM;
	} else if (h->type < 1 || h->type > 4)
		return tier_packread_damaged(
		        v, "an object of unknown type at offset %llu", off);
	if (h->size > MAX_OBJ && (v->bounded || h->type >= 6))
		return tier_packread_damaged(
		        v,
		        "the object at offset %llu is over the "
		        "format's size limit",
		        off);
	h->data = off + i;
	return 0;
}

/* Inflate the stream of the object at off (h->size bytes out) into fn;
 * *end: where the next object starts. */
int tier_packread_inflate(tier_packread *v, uint64_t off, const tier_packhdr *h,
                          tier_packread_out fn, void *ctx, uint64_t *end)
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
			if ((rc = tier_packread_view(v, at, 1, &p, &k)) < 0)
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
		return tier_packread_damaged(
		        v, "the object at offset %llu does not inflate", off);
	*end = h->data + used;
	return 0;
}

static int to_buf(const void *p, size_t n, void *ctx)
{
	return tier_buf_put(ctx, p, n);
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

/* Where the idx puts object id: 1 with *off, 0 when it lists none. */
static int base_by_id(tier_packread *v, const unsigned char *id, uint64_t *off)
{
	return tier_logidx_offset(v->ix, id, off);
}

/*
 * The object at off resolved: its type and content into out (the delta
 * chain followed to its base, each delta applied in turn).  *end: where
 * the object at off ends.
 */
static struct tier_packbase *base_slot(tier_packread *v, uint64_t off)
{
	return &v->base[(off * 0x9E3779B97F4A7C15ull) >> 58];
}

static const struct tier_packbase *base_get(tier_packread *v, uint64_t off)
{
	const struct tier_packbase *b = base_slot(v, off);
	return b->type && b->off == off ? b : NULL;
}

static void base_put(tier_packread *v, uint64_t off, int type,
                     const tier_buf *data)
{
	struct tier_packbase *b = base_slot(v, off);
	if (data->size > TIER_PACKREAD_BASE_MAX)
		return;
	b->type = 0;
	tier_buf_clear(&b->data);
	if (tier_buf_put(&b->data, data->ptr, data->size) < 0) {
		tier_error_clear(); /* not kept: the next costs more */
		return;
	}
	b->off = off;
	b->type = type;
}

int tier_packread_resolve(tier_packread *v, uint64_t off, int *type,
                          tier_buf *out, uint64_t *end)
{
	uint64_t *chain = tier_malloc(MAX_CHAIN * sizeof(*chain));
	tier_buf d = TIER_BUF_INIT, tmp = TIER_BUF_INIT;
	tier_packhdr h;
	size_t n = 0;
	uint64_t at = off, e;
	int rc = chain ? 0 : TIER_ERROR;

	const struct tier_packbase *hit = NULL;
	while (rc == 0 && (rc = tier_packread_hdr(v, at, &h)) == 0 &&
	       h.type >= 6) {
		if (n > 0 && (hit = base_get(v, at)) != NULL)
			break;
		if (n == MAX_CHAIN) {
			rc = tier_packread_damaged(
			        v,
			        "the delta at offset %llu has a chain "
			        "too long",
			        off);
			break;
		}
		chain[n++] = at;
		if (h.type == 6)
			at = h.base_off;
		else if ((rc = base_by_id(v, h.base_id, &at)) == 0)
			rc = tier_packread_damaged(
			        v,
			        "the delta at offset %llu has a base the "
			        "pack lacks",
			        off);
		else if (rc == 1)
			rc = 0;
	}
	tier_buf_clear(out);
	if (rc == 0 && hit) {
		*type = hit->type;
		rc = tier_buf_put(out, hit->data.ptr, hit->data.size);
	} else if (rc == 0) {
		*type = h.type;
		rc = tier_packread_inflate(v, at, &h, to_buf, out, &e);
		if (n == 0)
			*end = e;
		else if (rc == 0)
			base_put(v, at, h.type, out);
	}
	for (size_t k = n; rc == 0 && k-- > 0;) {
		tier_buf_clear(&d);
		if ((rc = tier_packread_hdr(v, chain[k], &h)) < 0 ||
		    (rc = tier_packread_inflate(v, chain[k], &h, to_buf, &d,
		                                &e)) < 0)
			break;
		if (k == 0)
			*end = e;
		if ((rc = apply(out, &d, &tmp)) == TIER_ECORRUPT)
			rc = tier_packread_damaged(
			        v, "the delta at offset %llu does not apply",
			        chain[k]);
		tier_buf t = *out;
		*out = tmp;
		tmp = t;
		if (rc == 0)
			base_put(v, chain[k], *type, out);
	}
	free(chain);
	tier_buf_dispose(&d);
	tier_buf_dispose(&tmp);
	return rc;
}

int tier_packread_info(tier_packread *v, uint64_t off, int *type,
                       uint64_t *size, tier_buf *scratch)
{
	tier_packhdr h;
	uint64_t end;
	int rc = tier_packread_hdr(v, off, &h);
	if (rc < 0)
		return rc;
	if (h.type < 6) {
		*type = h.type;
		*size = h.size;
		return 0;
	}
	if ((rc = tier_packread_resolve(v, off, type, scratch, &end)) < 0)
		return rc;
	*size = scratch->size;
	return 0;
}
