/*
 * The streaming-pack odb backend (streampack.h).  Pack and idx layout as
 * in gitpack.c (git's Documentation/gitformat-pack): the header's object
 * count is a placeholder until the end, so the pack's SHA-1 is taken over
 * the finished file at the commit (as git fast-import does).
 */
#include "streampack.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "gitpack.h"
#include "hash.h"
#include "tier/errors.h"
#include "util/error.h"
#include "util/posix.h"
#include "util/spillset.h"

/* Appended bytes are written out once this many wait in memory. */
#define FLUSH_AT (256u << 10)
/* Bytes read at a time from the file when inflating an object. */
#define READ_AT 16384
/* A pack entry's type-and-size header is at most this long. */
#define HDR_MAX 16
/* spill set value: offset (8 bytes), CRC-32 (4), little-endian */
#define VAL_LEN 12

struct streampack {
	git_odb_backend parent;
	tier_spillset *set; /* id -> offset, crc */
	int fd;
	tier_buf path, dir;
	tier_buf buf; /* appended, not yet written: file bytes from flushed */
	uint64_t flushed; /* bytes in the file */
	z_stream zw, zr;
	int zw_ok, zr_ok;
	uint32_t fan[256]; /* objects by first id byte: the idx fan-out */
	uint64_t count;
	int failed;   /* an append failed half-way: the pack is unusable */
	int finished; /* renamed to its name: no more writes */
};

#define SP(b) ((struct streampack *)(b))

static void put_le(unsigned char *p, uint64_t v, int n)
{
	for (int i = 0; i < n; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t get_le(const unsigned char *p, int n)
{
	uint64_t v = 0;
	for (int i = n - 1; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static void be32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
}

static int sp_flush(struct streampack *sp)
{
	if (!sp->buf.size)
		return 0;
	if (tier_write_all(sp->fd, sp->buf.ptr, sp->buf.size, sp->path.ptr) <
	    0) {
		sp->failed = 1;
		return tier_error_set_errno(tier_error_from_errno(errno), errno,
		                            "cannot write '%s'", sp->path.ptr);
	}
	sp->flushed += sp->buf.size;
	tier_buf_clear(&sp->buf);
	/* a big object (an index blob of megabytes) does not keep its room */
	if (sp->buf.asize > 4 * FLUSH_AT)
		tier_buf_dispose(&sp->buf);
	return 0;
}

/*
 * Up to len bytes at offset off of the pack as appended so far, from the
 * file or from the bytes still in memory; *got is how many there were.
 */
static int sp_fetch(struct streampack *sp, void *dst, size_t len, uint64_t off,
                    size_t *got)
{
	uint64_t end = sp->flushed + sp->buf.size;
	size_t n = off >= end ? 0 : end - off < len ? (size_t)(end - off) : len;
	size_t from_file = off >= sp->flushed      ? 0
	                   : sp->flushed - off < n ? (size_t)(sp->flushed - off)
	                                           : n;
	*got = n;
	if (from_file &&
	    tier_pread_all(sp->fd, dst, from_file, off, NULL, sp->path.ptr) < 0)
		return TIER_ERROR;
	if (n > from_file)
		memcpy((char *)dst + from_file,
		       sp->buf.ptr + (off + from_file - sp->flushed),
		       n - from_file);
	return 0;
}

static git_object_t object_type(int t)
{
	switch (t) {
	case 1:
		return GIT_OBJECT_COMMIT;
	case 2:
		return GIT_OBJECT_TREE;
	case 3:
		return GIT_OBJECT_BLOB;
	case 4:
		return GIT_OBJECT_TAG;
	default:
		return GIT_OBJECT_INVALID;
	}
}

/*
 * The entry of id: where it is, its type and size, and the length of its
 * header.  GIT_ENOTFOUND when the pack does not hold it.
 */
static int sp_entry(struct streampack *sp, const git_oid *id, uint64_t *off,
                    git_object_t *type, size_t *size, size_t *hlen)
{
	unsigned char val[VAL_LEN], hdr[HDR_MAX];
	size_t got = 0, h = 0;
	int rc = tier_spillset_get(sp->set, id->id, val);
	if (rc == 0)
		return GIT_ENOTFOUND;
	if (rc < 0 || sp_fetch(sp, hdr, sizeof(hdr), get_le(val, 8), &got) < 0)
		goto fail;
	*off = get_le(val, 8);
	*type = object_type((hdr[0] >> 4) & 7);
	uint64_t sz = hdr[0] & 0x0f;
	int shift = 4, bad = !got || *type == GIT_OBJECT_INVALID;
	while (!bad && (hdr[h] & 0x80)) {
		if (++h >= got || shift > 57) {
			bad = 1;
			break;
		}
		sz |= (uint64_t)(hdr[h] & 0x7f) << shift;
		shift += 7;
	}
	if (bad || sz > SIZE_MAX - 1) {
		tier_error_set(TIER_ECORRUPT, "bad entry in '%s'",
		               sp->path.ptr);
		goto fail;
	}
	*size = (size_t)sz;
	*hlen = h + 1;
	return 0;
fail:
	git_error_set_str(GIT_ERROR_ODB, tier_error_last());
	return GIT_ERROR;
}

/* Inflate the zlib stream at off into out (exactly size bytes). */
static int sp_inflate(struct streampack *sp, uint64_t off, void *out,
                      size_t size)
{
	unsigned char in[READ_AT];
	int zr = Z_OK;
	if (inflateReset(&sp->zr) != Z_OK)
		return GIT_ERROR;
	sp->zr.next_out = out;
	sp->zr.avail_out = (uInt)size;
	while (zr != Z_STREAM_END) {
		size_t got = 0;
		size_t want = size + 64 < READ_AT ? size + 64 : READ_AT;
		if (sp_fetch(sp, in, want, off, &got) < 0 || !got)
			break;
		off += got;
		sp->zr.next_in = in;
		sp->zr.avail_in = (uInt)got;
		zr = inflate(&sp->zr, Z_NO_FLUSH);
		if (zr != Z_OK && zr != Z_STREAM_END)
			break;
	}
	if (zr != Z_STREAM_END || sp->zr.avail_out != 0) {
		git_error_set(GIT_ERROR_ODB, "cannot inflate an object of '%s'",
		              sp->path.ptr);
		return GIT_ERROR;
	}
	return 0;
}

static int sp_read(void **data, size_t *len, git_object_t *type,
                   git_odb_backend *b, const git_oid *id)
{
	struct streampack *sp = SP(b);
	uint64_t off;
	size_t size, h;
	int rc = sp_entry(sp, id, &off, type, &size, &h);
	if (rc < 0)
		return rc;
	/* one byte more: libgit2 may add a NUL to a zero-length object */
	void *out = git_odb_backend_data_alloc(b, size + 1);
	if (!out)
		return GIT_ERROR;
	if ((rc = sp_inflate(sp, off + h, out, size)) < 0) {
		git_odb_backend_data_free(b, out);
		return rc;
	}
	*data = out;
	*len = size;
	return 0;
}

static int sp_read_header(size_t *len, git_object_t *type, git_odb_backend *b,
                          const git_oid *id)
{
	uint64_t off;
	size_t h;
	return sp_entry(SP(b), id, &off, type, len, &h);
}

static int sp_exists(git_odb_backend *b, const git_oid *id)
{
	/* a read failure answers "no": libgit2 then looks elsewhere */
	return tier_spillset_get(SP(b)->set, id->id, NULL) == 1;
}

int tier_streampack_has(git_odb_backend *b, const git_oid *id)
{
	return sp_exists(b, id);
}

uint64_t tier_streampack_count(git_odb_backend *b)
{
	return SP(b)->count;
}

int tier_streampack_add(git_odb_backend *b, const git_oid *id,
                        git_object_t type, const void *data, size_t len)
{
	struct streampack *sp = SP(b);
	unsigned char val[VAL_LEN];
	uint32_t crc = 0;
	int rc;
	if (sp->failed || sp->finished)
		return tier_error_set(TIER_ERROR,
		                      "the pack '%s' takes no more objects",
		                      sp->path.ptr);
	if ((rc = tier_spillset_get(sp->set, id->id, NULL)) != 0)
		return rc < 0 ? rc : 0;
	uint64_t off = sp->flushed + sp->buf.size;
	size_t before = sp->buf.size;
	if ((rc = tier_gitpack_encode(&sp->buf, &sp->zw, type, data, len,
	                              &crc)) < 0) {
		sp->buf.size = before; /* nothing of it stays */
		return rc;
	}
	put_le(val, off, 8);
	put_le(val + 8, crc, 4);
	if ((rc = tier_spillset_add(sp->set, id->id, val)) < 0) {
		sp->buf.size = before;
		return rc;
	}
	sp->fan[id->id[0]]++;
	sp->count++;
	return sp->buf.size >= FLUSH_AT ? sp_flush(sp) : 0;
}

static int sp_write(git_odb_backend *b, const git_oid *id, const void *data,
                    size_t len, git_object_t type)
{
	if (tier_streampack_add(b, id, type, data, len) < 0) {
		git_error_set_str(GIT_ERROR_ODB, tier_error_last());
		return GIT_ERROR;
	}
	return 0;
}

static void sp_free(git_odb_backend *b)
{
	struct streampack *sp = SP(b);
	if (sp->fd >= 0)
		close(sp->fd);
	if (!sp->finished && sp->path.size)
		unlink(sp->path.ptr);
	if (sp->zw_ok)
		deflateEnd(&sp->zw);
	if (sp->zr_ok)
		inflateEnd(&sp->zr);
	tier_spillset_free(sp->set);
	tier_buf_dispose(&sp->buf);
	tier_buf_dispose(&sp->path);
	tier_buf_dispose(&sp->dir);
	free(sp);
}

int tier_streampack_new(git_odb_backend **out, const char *dir)
{
	struct streampack *sp = tier_calloc(1, sizeof(*sp));
	int rc = TIER_ERROR;
	*out = NULL;
	if (!sp)
		return TIER_ERROR;
	sp->fd = -1;
	git_odb_init_backend(&sp->parent, GIT_ODB_BACKEND_VERSION);
	sp->parent.read = sp_read;
	sp->parent.read_header = sp_read_header;
	sp->parent.exists = sp_exists;
	sp->parent.write = sp_write;
	sp->parent.free = sp_free;
	if (tier_buf_puts(&sp->dir, dir) < 0 ||
	    tier_buf_printf(&sp->path, "%s/incoming.pack", dir) < 0)
		goto fail;
	if ((rc = tier_spillset_new(&sp->set, GIT_OID_RAWSZ, VAL_LEN, dir, 0)) <
	    0)
		goto fail;
	rc = TIER_ERROR;
	if (deflateInit(&sp->zw, Z_BEST_SPEED) != Z_OK || !(sp->zw_ok = 1) ||
	    inflateInit(&sp->zr) != Z_OK || !(sp->zr_ok = 1)) {
		tier_error_set(TIER_ERROR, "zlib cannot start");
		goto fail;
	}
	sp->fd = open(sp->path.ptr, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC,
	              0644);
	if (sp->fd < 0) {
		rc = tier_error_set_errno(tier_error_from_errno(errno), errno,
		                          "cannot create '%s'", sp->path.ptr);
		goto fail;
	}
	/* "PACK", version 2, the count (set by finish) */
	static const unsigned char hdr[12] = {'P', 'A', 'C', 'K', 0, 0, 0, 2};
	if (tier_buf_put(&sp->buf, hdr, sizeof(hdr)) < 0)
		goto fail;
	*out = &sp->parent;
	return 0;
fail:
	sp_free(&sp->parent);
	return rc;
}

/* ---- finishing ---------------------------------------------------------- */

/* A file written in order, through a SHA-1 (for the idx). */
struct out {
	int fd;
	const char *path;
	EVP_MD_CTX *sha;
	tier_buf buf;
	int rc;
};

static void out_flush(struct out *o)
{
	if (o->rc < 0 || !o->buf.size)
		return;
	if (!EVP_DigestUpdate(o->sha, o->buf.ptr, o->buf.size))
		o->rc = tier_error_set(TIER_ERROR, "SHA-1 failed");
	else if (tier_write_all(o->fd, o->buf.ptr, o->buf.size, o->path) < 0)
		o->rc = tier_error_set_errno(tier_error_from_errno(errno),
		                             errno, "cannot write '%s'",
		                             o->path);
	tier_buf_clear(&o->buf);
}

static void out_put(struct out *o, const void *p, size_t len)
{
	if (o->rc == 0 && tier_buf_put(&o->buf, p, len) < 0)
		o->rc = TIER_ERROR;
	if (o->buf.size >= FLUSH_AT)
		out_flush(o);
}

/* The idx's sections, one walk of the spill set each. */
enum idx_part { IDS, CRCS, OFFSETS, BIG_OFFSETS };

struct idx_walk {
	struct out *o;
	enum idx_part part;
	uint32_t big; /* offsets over 31 bits so far */
};

static int idx_record(const void *key, const void *val, void *ctx)
{
	struct idx_walk *w = ctx;
	unsigned char b[8];
	uint64_t off = get_le(val, 8);
	switch (w->part) {
	case IDS:
		out_put(w->o, key, GIT_OID_RAWSZ);
		break;
	case CRCS:
		be32(b, (uint32_t)get_le((const unsigned char *)val + 8, 4));
		out_put(w->o, b, 4);
		break;
	case OFFSETS:
		be32(b, off < 0x80000000u ? (uint32_t)off
		                          : 0x80000000u | w->big++);
		out_put(w->o, b, 4);
		break;
	case BIG_OFFSETS:
		if (off >= 0x80000000u) {
			be32(b, (uint32_t)(off >> 32));
			be32(b + 4, (uint32_t)off);
			out_put(w->o, b, 8);
		}
		break;
	}
	return w->o->rc < 0 ? 1 : 0;
}

static int write_idx(struct streampack *sp, const char *path,
                     const unsigned char pack_sum[20])
{
	struct out o = {-1, path, NULL, TIER_BUF_INIT, 0};
	struct idx_walk w = {&o, IDS, 0};
	unsigned char b[4], sum[20];
	unsigned int len = 0;
	uint32_t cum = 0;
	o.fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (o.fd < 0)
		return tier_error_set_errno(tier_error_from_errno(errno), errno,
		                            "cannot create '%s'", path);
	if (!(o.sha = EVP_MD_CTX_new()) ||
	    !EVP_DigestInit_ex(o.sha, EVP_sha1(), NULL))
		o.rc = tier_error_set(TIER_ERROR, "SHA-1 is not available");
	out_put(&o, "\377tOc\0\0\0\2", 8);
	for (int i = 0; i < 256; i++) {
		be32(b, cum += sp->fan[i]);
		out_put(&o, b, 4);
	}
	for (int part = IDS; part <= BIG_OFFSETS && o.rc == 0; part++) {
		w.part = (enum idx_part)part;
		if (part == BIG_OFFSETS && !w.big)
			break;
		if (tier_spillset_foreach(sp->set, idx_record, &w) < 0 &&
		    o.rc == 0)
			o.rc = TIER_ERROR;
	}
	out_put(&o, pack_sum, 20);
	out_flush(&o);
	if (o.rc == 0 && (!EVP_DigestFinal_ex(o.sha, sum, &len) || len != 20))
		o.rc = tier_error_set(TIER_ERROR, "SHA-1 failed");
	if (o.rc == 0 &&
	    (tier_write_all(o.fd, sum, 20, path) < 0 || fsync(o.fd) < 0))
		o.rc = tier_error_set_errno(tier_error_from_errno(errno), errno,
		                            "cannot write '%s'", path);
	close(o.fd);
	EVP_MD_CTX_free(o.sha);
	tier_buf_dispose(&o.buf);
	return o.rc;
}

/* The count into the header, then the SHA-1 of the whole file after it. */
static int seal_pack(struct streampack *sp, unsigned char sum[20])
{
	unsigned char cnt[4];
	unsigned int len = 0;
	int rc = 0;
	EVP_MD_CTX *sha = NULL;
	char *chunk = tier_malloc(1u << 20);
	if (!chunk || (rc = sp_flush(sp)) < 0)
		goto out;
	be32(cnt, (uint32_t)sp->count);
	if (pwrite(sp->fd, cnt, 4, 8) != 4) {
		rc = tier_error_set_errno(tier_error_from_errno(errno), errno,
		                          "cannot write '%s'", sp->path.ptr);
		goto out;
	}
	if (!(sha = EVP_MD_CTX_new()) ||
	    !EVP_DigestInit_ex(sha, EVP_sha1(), NULL)) {
		rc = tier_error_set(TIER_ERROR, "SHA-1 is not available");
		goto out;
	}
	for (uint64_t off = 0; off < sp->flushed && rc == 0;) {
		size_t n = sp->flushed - off < (1u << 20)
		                   ? (size_t)(sp->flushed - off)
		                   : (1u << 20);
		if ((rc = tier_pread_all(sp->fd, chunk, n, off, NULL,
		                         sp->path.ptr)) == 0 &&
		    !EVP_DigestUpdate(sha, chunk, n))
			rc = tier_error_set(TIER_ERROR, "SHA-1 failed");
		off += n;
	}
	if (rc == 0 && (!EVP_DigestFinal_ex(sha, sum, &len) || len != 20))
		rc = tier_error_set(TIER_ERROR, "SHA-1 failed");
	if (rc == 0 && (pwrite(sp->fd, sum, 20, (off_t)sp->flushed) != 20 ||
	                fsync(sp->fd) < 0))
		rc = tier_error_set_errno(tier_error_from_errno(errno), errno,
		                          "cannot write '%s'", sp->path.ptr);
out:
	if (!chunk)
		rc = TIER_ERROR;
	EVP_MD_CTX_free(sha);
	free(chunk);
	return rc;
}

int tier_streampack_finish(git_odb_backend *b, tier_buf *name)
{
	struct streampack *sp = SP(b);
	unsigned char sum[20];
	char hex[GIT_OID_HEXSZ + 1];
	tier_buf idx = TIER_BUF_INIT, final = TIER_BUF_INIT;
	int rc;
	tier_buf_clear(name);
	if (sp->failed || sp->finished)
		return tier_error_set(TIER_ERROR, "the pack '%s' is unusable",
		                      sp->path.ptr);
	if (sp->count == 0)
		return 0;
	if (sp->count > UINT32_MAX)
		return tier_error_set(TIER_EUSAGE, "too many log objects");
	sp->failed = 1; /* until it is done */
	if ((rc = seal_pack(sp, sum)) < 0 ||
	    (rc = tier_buf_printf(&idx, "%s/incoming.idx", sp->dir.ptr)) < 0 ||
	    (rc = write_idx(sp, idx.ptr, sum)) < 0)
		goto out;
	tier_hex(hex, sum, 20);
	/* pack first, idx last: a pack counts for git once its idx is there */
	tier_buf_printf(&final, "%s/pack-%s.pack", sp->dir.ptr, hex);
	if (!final.ptr || rename(sp->path.ptr, final.ptr) < 0) {
		rc = tier_error_set_errno(TIER_ERROR, errno, "cannot name '%s'",
		                          tier_buf_cstr(&final));
		goto out;
	}
	sp->finished = 1;
	tier_buf_clear(&final);
	tier_buf_printf(&final, "%s/pack-%s.idx", sp->dir.ptr, hex);
	if (!final.ptr || rename(idx.ptr, final.ptr) < 0) {
		rc = tier_error_set_errno(TIER_ERROR, errno, "cannot name '%s'",
		                          tier_buf_cstr(&final));
		goto out;
	}
	if ((rc = tier_fsync_dir(sp->dir.ptr)) < 0)
		goto out;
	sp->failed = 0;
	tier_buf_printf(name, "pack-%s", hex);
out:
	if (rc < 0 && idx.ptr)
		unlink(idx.ptr);
	tier_buf_dispose(&idx);
	tier_buf_dispose(&final);
	return rc;
}
