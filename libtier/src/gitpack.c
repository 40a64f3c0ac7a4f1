/*
 * Git pack and index writer (formats: git's Documentation/gitformat-pack).
 *
 * pack: "PACK", version 2, object count (big-endian 32-bit); per object a
 * header (type in bits 4-6 of the first byte, the size in 4 + 7n bits,
 * high bit = more bytes follow) and the zlib stream of its content; then
 * the SHA-1 of everything before.
 * idx v2: "\377tOc", version 2, 256 cumulative counts by first id byte,
 * the sorted ids, the CRC-32 of each object's packed bytes, 31-bit offsets
 * (high bit set: index into a table of 64-bit offsets), that table, the
 * pack's SHA-1, and the SHA-1 of the idx itself.
 */
#include "gitpack.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "hash.h"
#include "tier/errors.h"
#include "util/error.h"
#include "util/idset.h"
#include "util/posix.h"

/* ---- which objects ------------------------------------------------------- */

static int add_tree(git_repository *repo, tier_idset *s, const git_oid *id,
                    const git_oid *old_id)
{
	git_tree *t = NULL, *old = NULL;
	int rc;
	if (old_id && git_oid_equal(id, old_id))
		return 0;
	if ((rc = tier_idset_add(s, id->id)) <= 0)
		return rc;
	if ((rc = git_tree_lookup(&t, repo, id)) < 0 ||
	    (old_id && (rc = git_tree_lookup(&old, repo, old_id)) < 0)) {
		rc = tier_error_from_git(rc, "cannot read a log tree");
		goto out;
	}
	size_t n = git_tree_entrycount(t);
	for (size_t i = 0; i < n && rc >= 0; i++) {
		const git_tree_entry *e = git_tree_entry_byindex(t, i);
		const git_tree_entry *o =
		        old ? git_tree_entry_byname(old, git_tree_entry_name(e))
		            : NULL;
		git_object_t type = git_tree_entry_type(e);
		const git_oid *eid = git_tree_entry_id(e);
		if (o && git_oid_equal(eid, git_tree_entry_id(o)))
			continue;
		if (type == GIT_OBJECT_TREE)
			rc = add_tree(repo, s, eid,
			              o && git_tree_entry_type(o) ==
			                                      GIT_OBJECT_TREE
			                      ? git_tree_entry_id(o)
			                      : NULL);
		else if (type == GIT_OBJECT_BLOB)
			rc = tier_idset_add(s, eid->id);
		/* a commit entry (submodule) is not ours to pack */
	}
out:
	git_tree_free(t);
	git_tree_free(old);
	return rc < 0 ? rc : 0;
}

_Static_assert(
        sizeof(git_oid) == GIT_OID_RAWSZ,
        "git_oid is its raw bytes: an id set's array is a git_oid array");

int tier_gitpack_new_objects(git_repository *repo, const git_oid *tip,
                             const git_oid *hide, git_oid **out, size_t *n)
{
	tier_idset s = TIER_IDSET_INIT(GIT_OID_RAWSZ);
	git_commit *c = NULL, *h = NULL;
	int rc;

	*out = NULL;
	*n = 0;
	if ((rc = git_commit_lookup(&c, repo, tip)) < 0 ||
	    (hide && (rc = git_commit_lookup(&h, repo, hide)) < 0)) {
		rc = tier_error_from_git(rc, "cannot read a log commit");
		goto out;
	}
	if ((rc = tier_idset_add(&s, tip->id)) < 0 ||
	    (rc = add_tree(repo, &s, git_commit_tree_id(c),
	                   h ? git_commit_tree_id(h) : NULL)) < 0)
		goto out;
	/* git_oid is GIT_OID_RAWSZ bytes, byte-aligned: the ids are an array of it */
	*n = s.n;
	*out = (git_oid *)tier_idset_detach(&s);
out:
	git_commit_free(c);
	git_commit_free(h);
	tier_idset_dispose(&s);
	return rc < 0 ? rc : 0;
}

/* ---- writing -------------------------------------------------------------- */

#define FLUSH_AT (1u << 20)

struct out {
	int fd;
	const char *path;
	EVP_MD_CTX *sha;
	tier_buf buf;
	uint64_t off; /* bytes before buf */
};

static int out_flush(struct out *o)
{
	if (!o->buf.size)
		return 0;
	if (!EVP_DigestUpdate(o->sha, o->buf.ptr, o->buf.size))
		return tier_error_set(TIER_ERROR, "SHA-1 failed");
	if (tier_write_all(o->fd, o->buf.ptr, o->buf.size, o->path) < 0)
		return tier_error_set_errno(tier_error_from_errno(errno), errno,
		                            "cannot write '%s'", o->path);
	o->off += o->buf.size;
	tier_buf_clear(&o->buf);
	return 0;
}

static int out_put(struct out *o, const void *p, size_t len)
{
	if (tier_buf_put(&o->buf, p, len) < 0)
		return TIER_ERROR;
	return o->buf.size >= FLUSH_AT ? out_flush(o) : 0;
}

/* Flush, append the SHA-1 of all so far (kept in sum), fsync, close. */
static int out_finish(struct out *o, unsigned char sum[20])
{
	unsigned int len = 0;
	int rc = out_flush(o);
	if (rc < 0)
		return rc;
	if (!EVP_DigestFinal_ex(o->sha, sum, &len) || len != 20)
		return tier_error_set(TIER_ERROR, "SHA-1 failed");
	if (tier_write_all(o->fd, sum, 20, o->path) < 0 || fsync(o->fd) < 0)
		return tier_error_set_errno(tier_error_from_errno(errno), errno,
		                            "cannot write '%s'", o->path);
	return 0;
}

static int out_open(struct out *o, const char *path)
{
	memset(o, 0, sizeof(*o));
	o->path = path;
	o->fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (o->fd < 0)
		return tier_error_set_errno(tier_error_from_errno(errno), errno,
		                            "cannot create '%s'", path);
	if (!(o->sha = EVP_MD_CTX_new()) ||
	    !EVP_DigestInit_ex(o->sha, EVP_sha1(), NULL))
		return tier_error_set(TIER_ERROR, "SHA-1 is not available");
	return 0;
}

static void out_close(struct out *o)
{
	if (o->fd >= 0)
		close(o->fd);
	o->fd = -1;
	EVP_MD_CTX_free(o->sha);
	o->sha = NULL;
	tier_buf_dispose(&o->buf);
}

static void be32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
}

static int pack_type(git_object_t t)
{
	switch (t) {
	case GIT_OBJECT_COMMIT:
		return 1;
	case GIT_OBJECT_TREE:
		return 2;
	case GIT_OBJECT_BLOB:
		return 3;
	case GIT_OBJECT_TAG:
		return 4;
	default:
		return -1;
	}
}

struct entry {
	git_oid id;
	uint64_t off;
	uint32_t crc;
};

/*
 * Objects smaller than this (the file nodes: ~260 bytes of text each) go
 * into the pack as zlib streams of one stored block, written here: a
 * deflate stream per object cost ~4 us whatever its size (state reset,
 * block set-up), 0.1 s at the end of a push of 24,000 files.  Stored, they
 * cost a copy and an Adler-32; that pack is 6.9 instead of 5.3 MB, until
 * tier_log_consolidate() repacks it.
 */
#define STORE_BELOW 512

static int pack_stored(tier_buf *b, const unsigned char *hdr, size_t h,
                       const void *data, size_t size, uint32_t *crc)
{
	/* zlib header (deflate, 32 KiB window, no dictionary: 0x7801 % 31 == 0),
	 * one final stored block (LEN, ~LEN), the data, Adler-32 big-endian */
	unsigned char zh[7] = {0x78,
	                       0x01,
	                       0x01,
	                       (unsigned char)size,
	                       (unsigned char)(size >> 8),
	                       (unsigned char)~size,
	                       (unsigned char)(~size >> 8)};
	unsigned char ad[4];
	uint32_t a =
	        (uint32_t)adler32(adler32(0L, Z_NULL, 0), data, (uInt)size);
	be32(ad, a);
	if (tier_buf_grow(b, h + sizeof(zh) + size + sizeof(ad)) < 0)
		return TIER_ERROR;
	unsigned char *start = (unsigned char *)b->ptr + b->size;
	tier_buf_put(b, hdr, h);
	tier_buf_put(b, zh, sizeof(zh));
	tier_buf_put(b, data, size);
	tier_buf_put(b, ad, sizeof(ad));
	*crc = (uint32_t)crc32(0L, start,
	                       (uInt)(b->ptr + b->size - (char *)start));
	return 0;
}

int tier_gitpack_encode(tier_buf *b, z_stream *z, git_object_t otype,
                        const void *data, size_t size, uint32_t *crc)
{
	unsigned char hdr[16];
	size_t h = 0;
	int type = pack_type(otype);
	if (type < 0)
		return tier_error_set(TIER_ECORRUPT,
		                      "log object of an unknown type");
	size_t rest = size >> 4;
	hdr[h++] = (unsigned char)((type << 4) | (size & 0x0f) |
	                           (rest ? 0x80 : 0));
	while (rest) {
		hdr[h++] = (unsigned char)((rest & 0x7f) |
		                           (rest > 0x7f ? 0x80 : 0));
		rest >>= 7;
	}
	if (size < STORE_BELOW)
		return pack_stored(b, hdr, h, data, size, crc);
	uLong bound = deflateBound(z, (uLong)size);
	if (tier_buf_grow(b, h + bound) < 0)
		return TIER_ERROR;
	unsigned char *start = (unsigned char *)b->ptr + b->size;
	memcpy(start, hdr, h);
	z->next_in = (Bytef *)data;
	z->avail_in = (uInt)size;
	z->next_out = start + h;
	z->avail_out = (uInt)bound;
	int zr = deflate(z, Z_FINISH);
	size_t zlen = bound - z->avail_out;
	if (zr != Z_STREAM_END || deflateReset(z) != Z_OK)
		return tier_error_set(TIER_ERROR,
		                      "zlib failed on a log object");
	*crc = (uint32_t)crc32(0L, start, (uInt)(h + zlen));
	b->size += h + zlen;
	return 0;
}

/* One object appended to b; e->off is the offset within b for now. */
static int pack_object(tier_buf *b, z_stream *z, git_odb_object *obj,
                       struct entry *e)
{
	e->off = b->size;
	return tier_gitpack_encode(b, z, git_odb_object_type(obj),
	                           git_odb_object_data(obj),
	                           git_odb_object_size(obj), &e->crc);
}

/*
 * A share of the objects, compressed into a buffer of its own; the shares
 * run on two threads.  The objects were read beforehand: libgit2 objects
 * are used from one thread at a time.
 */
struct share {
	git_odb_object **obj;
	struct entry *e;
	size_t n;
	tier_buf out;
	int rc;
	char msg[512];
	pthread_t th;
	int started;
};

static void *compress_share(void *arg)
{
	struct share *sh = arg;
	z_stream z;
	memset(&z, 0, sizeof(z));
	if (deflateInit(&z, Z_BEST_SPEED) != Z_OK) {
		sh->rc = tier_error_set(TIER_ERROR, "zlib cannot start");
	} else {
		for (size_t i = 0; i < sh->n && sh->rc == 0; i++)
			sh->rc = pack_object(&sh->out, &z, sh->obj[i],
			                     &sh->e[i]);
		deflateEnd(&z);
	}
	if (sh->rc < 0)
		snprintf(sh->msg, sizeof(sh->msg), "%s", tier_error_last());
	return NULL;
}

#define SHARES 2
/* below this, a thread costs more than it saves */
#define THREAD_MIN_OBJECTS 512

/*
 * Objects are read, compressed and written a batch at a time: the pack's
 * memory stays bounded (a sync replaying a first push of a million files
 * packs ~260 MB of node blobs).
 */
#define BATCH 8192

/* Read m objects, compress them in shares, append them to the pack. */
static int pack_batch(struct out *o, git_odb *odb, const git_oid *ids,
                      struct entry *e, git_odb_object **obj, size_t m,
                      struct share *sh)
{
	int rc = 0;
	size_t got = 0, nsh = m >= THREAD_MIN_OBJECTS ? SHARES : 1;
	for (; got < m; got++) {
		git_oid_cpy(&e[got].id, &ids[got]);
		if ((rc = git_odb_read(&obj[got], odb, &ids[got])) < 0) {
			rc = tier_error_from_git(rc,
			                         "cannot read a log object");
			goto out;
		}
	}
	for (size_t k = 0; k < nsh; k++) {
		tier_buf_clear(&sh[k].out);
		sh[k].rc = 0;
		sh[k].started = 0;
		sh[k].obj = obj + m * k / nsh;
		sh[k].e = e + m * k / nsh;
		sh[k].n = m * (k + 1) / nsh - m * k / nsh;
		if (k > 0)
			sh[k].started =
			        pthread_create(&sh[k].th, NULL, compress_share,
			                       &sh[k]) == 0;
		if (k > 0 && !sh[k].started)
			compress_share(&sh[k]);
	}
	compress_share(&sh[0]);
	for (size_t k = 0; k < nsh; k++)
		if (sh[k].started)
			pthread_join(sh[k].th, NULL);
	for (size_t k = 0; k < nsh; k++)
		if (sh[k].rc < 0) {
			rc = tier_error_set(sh[k].rc, "%s", sh[k].msg);
			goto out;
		}
	for (size_t k = 0; k < nsh; k++) {
		uint64_t base = o->off + o->buf.size;
		for (size_t i = 0; i < sh[k].n; i++)
			sh[k].e[i].off += base;
		/* the share's bytes go through the SHA-1 and out in one piece */
		if ((rc = out_flush(o)) < 0)
			goto out;
		tier_buf tmp = o->buf;
		o->buf = sh[k].out;
		rc = out_flush(o);
		sh[k].out = o->buf;
		o->buf = tmp;
		if (rc < 0)
			goto out;
	}
out:
	for (size_t i = 0; i < got; i++) {
		git_odb_object_free(obj[i]);
		obj[i] = NULL;
	}
	return rc;
}

static int cmp_entry(const void *a, const void *b)
{
	return git_oid_cmp(&((const struct entry *)a)->id,
	                   &((const struct entry *)b)->id);
}

static int write_idx(const char *path, struct entry *e, size_t n,
                     const unsigned char pack_sum[20])
{
	struct out o;
	unsigned char b[8], sum[20];
	uint32_t fan[256] = {0}, big = 0;
	int rc = out_open(&o, path);
	if (rc < 0)
		goto out;
	for (size_t i = 0; i < n; i++)
		fan[e[i].id.id[0]]++;
	for (int i = 1; i < 256; i++)
		fan[i] += fan[i - 1];
	rc = out_put(&o, "\377tOc", 4);
	be32(b, 2);
	if (rc == 0)
		rc = out_put(&o, b, 4);
	for (int i = 0; i < 256 && rc == 0; i++) {
		be32(b, fan[i]);
		rc = out_put(&o, b, 4);
	}
	for (size_t i = 0; i < n && rc == 0; i++)
		rc = out_put(&o, e[i].id.id, GIT_OID_RAWSZ);
	for (size_t i = 0; i < n && rc == 0; i++) {
		be32(b, e[i].crc);
		rc = out_put(&o, b, 4);
	}
	for (size_t i = 0; i < n && rc == 0; i++) {
		be32(b, e[i].off < 0x80000000u ? (uint32_t)e[i].off
		                               : 0x80000000u | big++);
		rc = out_put(&o, b, 4);
	}
	for (size_t i = 0; i < n && rc == 0; i++) {
		if (e[i].off < 0x80000000u)
			continue;
		be32(b, (uint32_t)(e[i].off >> 32));
		be32(b + 4, (uint32_t)e[i].off);
		rc = out_put(&o, b, 8);
	}
	if (rc == 0)
		rc = out_put(&o, pack_sum, 20);
	if (rc == 0)
		rc = out_finish(&o, sum);
out:
	out_close(&o);
	return rc;
}

/* The pack file at path: header and every object; sum is its SHA-1. */
static int write_pack_file(const char *path, git_odb *odb, const git_oid *ids,
                           size_t n, struct entry *e, git_odb_object **obj,
                           struct share *sh, unsigned char sum[20])
{
	struct out o = {.fd = -1};
	unsigned char hdr[12];
	int rc;
	if ((rc = out_open(&o, path)) < 0)
		goto out;
	memcpy(hdr, "PACK", 4);
	be32(hdr + 4, 2);
	be32(hdr + 8, (uint32_t)n);
	if ((rc = out_put(&o, hdr, sizeof(hdr))) < 0)
		goto out;
	for (size_t start = 0; start < n; start += BATCH) {
		size_t m = n - start < BATCH ? n - start : BATCH;
		if ((rc = pack_batch(&o, odb, ids + start, e + start, obj, m,
		                     sh)) < 0)
			goto out;
	}
	rc = out_finish(&o, sum);
out:
	out_close(&o);
	return rc;
}

/* The entries in id order, as the idx lists them; each id once. */
static int sort_entries(struct entry *e, size_t n)
{
	qsort(e, n, sizeof(*e), cmp_entry);
	for (size_t i = 1; i < n; i++)
		if (git_oid_equal(&e[i - 1].id, &e[i].id))
			return tier_error_set(
			        TIER_ERROR,
			        "log object listed twice for one pack");
	return 0;
}

/*
 * Give the temporary files their names, pack first, idx last: a pack
 * counts for git once its idx is there.
 */
static int name_pack(const char *dir, const char *tmp_pack, const char *tmp_idx,
                     const char *hex)
{
	tier_buf final = TIER_BUF_INIT;
	int rc = 0;
	tier_buf_printf(&final, "%s/pack-%s.pack", dir, hex);
	if (rename(tmp_pack, final.ptr) < 0) {
		rc = tier_error_set_errno(TIER_ERROR, errno, "cannot name '%s'",
		                          final.ptr);
		goto out;
	}
	tier_buf_clear(&final);
	tier_buf_printf(&final, "%s/pack-%s.idx", dir, hex);
	if (rename(tmp_idx, final.ptr) < 0) {
		rc = tier_error_set_errno(TIER_ERROR, errno, "cannot name '%s'",
		                          final.ptr);
		goto out;
	}
	rc = tier_fsync_dir(dir);
out:
	tier_buf_dispose(&final);
	return rc;
}

int tier_gitpack_write(git_odb *odb, const git_oid *ids, size_t n,
                       const char *dir, tier_buf *name)
{
	struct entry *e = NULL;
	struct share sh[SHARES];
	git_odb_object **obj = NULL;
	int rc = 0;
	unsigned char sum[20];
	char hex[GIT_OID_HEXSZ + 1];
	tier_buf tmp_pack = TIER_BUF_INIT, tmp_idx = TIER_BUF_INIT;

	tier_buf_clear(name);
	if (n == 0)
		return 0;
	if (n > UINT32_MAX)
		return tier_error_set(TIER_EUSAGE, "too many log objects");
	memset(sh, 0, sizeof(sh));
	if (!(e = tier_calloc(n, sizeof(*e))) ||
	    !(obj = tier_calloc(BATCH, sizeof(*obj))) ||
	    tier_buf_printf(&tmp_pack, "%s/incoming.pack", dir) < 0 ||
	    tier_buf_printf(&tmp_idx, "%s/incoming.idx", dir) < 0) {
		rc = TIER_ERROR;
		goto out;
	}
	if ((rc = write_pack_file(tmp_pack.ptr, odb, ids, n, e, obj, sh, sum)) <
	            0 ||
	    (rc = sort_entries(e, n)) < 0 ||
	    (rc = write_idx(tmp_idx.ptr, e, n, sum)) < 0)
		goto out;
	tier_hex(hex, sum, 20);
	if ((rc = name_pack(dir, tmp_pack.ptr, tmp_idx.ptr, hex)) < 0)
		goto out;
	tier_buf_printf(name, "pack-%s", hex);
out:
	for (size_t k = 0; k < SHARES; k++)
		tier_buf_dispose(&sh[k].out);
	free(obj);
	if (rc < 0) {
		unlink(tmp_pack.ptr);
		unlink(tmp_idx.ptr);
	}
	free(e);
	tier_buf_dispose(&tmp_pack);
	tier_buf_dispose(&tmp_idx);
	return rc;
}
