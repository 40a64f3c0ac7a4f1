/*
 * Writing the chunk map file (chunkidx.h) in bounded memory: the records
 * of the packs to add go into a buffer that is sorted and written out as a
 * run to an unlinked temp file whenever it fills; then the old file (itself
 * one sorted run) and the runs are merged k-way into the new file, block
 * by block, keeping one record per chunk id (the lowest pack number: the
 * old file's, then the earliest pack).  Memory: the buffer, a block per
 * run, and the fence.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chunkidx.h"
#include "objread.h"
#include "pack.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/posix.h"
#include "util/text.h"

/* records sorted in memory before a run is written (1.75 MiB) */
#define RUN_RECORDS 32768

struct runs {
	int fd; /* unlinked temp file, -1 until the first run */
	const char *dir;
	const tier_keys *keys; /* the vault's: sealed pack indexes */
	tier_chunk_loc *buf;
	size_t nbuf, max;
	uint64_t *off, *cnt; /* run i: first record's byte offset, records */
	size_t n, cap;
	uint64_t end;
};

/* One input of the merge: the old file (blocks checked) or one run. */
struct src {
	const tier_chunkmap *map;
	int fd;
	uint64_t off, left, block;
	unsigned char buf[TIER_CIDX_BLOCK];
	size_t have, pos;
	tier_chunk_loc cur;
};

struct out {
	int fd;
	unsigned char blk[TIER_CIDX_BLOCK];
	size_t inblk;
	uint64_t n, nblocks, cap;
	uint64_t *prefix;
	uint32_t *sum;
	unsigned char last[TIER_HASH_LEN];
};

static int cmp_loc(const void *a, const void *b)
{
	const tier_chunk_loc *x = a, *y = b;
	int c = memcmp(x->id, y->id, TIER_HASH_LEN);
	if (c)
		return c;
	return (x->pack > y->pack) - (x->pack < y->pack);
}

/* An unlinked temp file in dir (NULL: $TMPDIR, else /tmp). */
static int temp_fd(const char *dir)
{
	const char *base = dir ? dir : getenv("TMPDIR");
	tier_buf t = TIER_BUF_INIT;
	tier_buf_printf(&t, "%s/tier-chunkidx-XXXXXX",
	                base && *base ? base : "/tmp");
	if (!t.ptr)
		return TIER_ERROR;
	int fd = mkstemp(t.ptr);
	if (fd < 0)
		tier_error_set_errno(TIER_ERROR, errno,
		                     "cannot create a temporary file in '%s'",
		                     base && *base ? base : "/tmp");
	else
		unlink(t.ptr);
	tier_buf_dispose(&t);
	return fd;
}

static int runs_flush(struct runs *r)
{
	unsigned char rec[TIER_CIDX_REC * 64];
	if (!r->nbuf)
		return 0;
	if (r->fd < 0 && (r->fd = temp_fd(r->dir)) < 0)
		return TIER_ERROR;
	if (r->n == r->cap) {
		r->cap = r->cap ? r->cap * 2 : 16;
		uint64_t *o = tier_realloc(r->off, r->cap * sizeof(*o));
		if (o)
			r->off = o;
		uint64_t *c =
		        o ? tier_realloc(r->cnt, r->cap * sizeof(*c)) : NULL;
		if (!c)
			return TIER_ERROR;
		r->cnt = c;
	}
	qsort(r->buf, r->nbuf, sizeof(*r->buf), cmp_loc);
	r->off[r->n] = r->end;
	r->cnt[r->n++] = r->nbuf;
	for (size_t i = 0; i < r->nbuf; i += 64) {
		size_t k = r->nbuf - i < 64 ? r->nbuf - i : 64;
		for (size_t j = 0; j < k; j++)
			tier_cidx_rec_encode(rec + j * TIER_CIDX_REC,
			                     &r->buf[i + j]);
		if (tier_write_all(r->fd, rec, k * TIER_CIDX_REC,
		                   "the chunk index's runs") < 0)
			return TIER_ERROR;
		r->end += k * TIER_CIDX_REC;
	}
	r->nbuf = 0;
	return 0;
}

/* One pack's index blob (size-checked before it is read) into the runs. */
static int runs_add_pack(struct runs *r, git_repository *repo,
                         const tier_cidx_pack *p, uint32_t packno)
{
	char name[TIER_HASH_HEXLEN + 1], what[96];
	tier_pack_index *idx = NULL;
	git_blob *blob = NULL;
	uint64_t need = 0;
	tier_hex(name, p->id, TIER_HASH_LEN);
	snprintf(what, sizeof(what), "the index of pack %.12s in the log",
	         name);
	int rc = tier_blob_lookup_bounded(&blob, repo, &p->blob,
	                                  TIER_MAX_INDEX_BLOB, what);
	if (rc < 0)
		return rc;
	rc = tier_pack_index_parse(&idx, &need, git_blob_rawcontent(blob),
	                           (size_t)git_blob_rawsize(blob), 0, name,
	                           r->keys);
	git_blob_free(blob);
	if (rc < 0)
		return rc;
	if (!idx)
		return tier_error_set(
		        TIER_ECORRUPT,
		        "index of pack %s in the log is incomplete", name);
	for (size_t i = 0; i < idx->count && rc == 0; i++) {
		if (r->nbuf == r->max && (rc = runs_flush(r)) < 0)
			break;
		tier_chunk_loc *l = &r->buf[r->nbuf++];
		memcpy(l->id, idx->entries[i].id, TIER_HASH_LEN);
		l->pack = packno;
		l->offset = idx->entries[i].offset;
		l->stored_len = idx->entries[i].stored_len;
		l->raw_len = idx->entries[i].raw_len;
		l->flags = idx->entries[i].flags;
	}
	tier_pack_index_free(idx);
	return rc;
}

/* 1 and s->cur: the next record; 0: the source is done. */
static int src_next(struct src *s)
{
	if (s->pos == s->have) {
		if (!s->left)
			return 0;
		size_t k = s->left < 64 ? (size_t)s->left : 64;
		int rc;
		if (s->map) {
			/* TIER_ECORRUPT: the caller rebuilds from the log */
			rc = tier_cidx_read_block(s->map, s->block++, s->buf,
			                          &k);
		} else {
			rc = tier_pread_all(s->fd, s->buf, k * TIER_CIDX_REC,
			                    s->off, NULL,
			                    "the chunk index's runs");
			s->off += k * TIER_CIDX_REC;
		}
		if (rc < 0)
			return rc;
		s->have = k;
		s->pos = 0;
	}
	tier_cidx_rec_decode(&s->cur, s->buf + s->pos * TIER_CIDX_REC);
	s->pos++;
	s->left--;
	return 1;
}

static int out_block(struct out *o)
{
	if (!o->inblk)
		return 0;
	if (o->nblocks == o->cap) {
		o->cap = o->cap ? o->cap * 2 : 256;
		uint64_t *p = tier_realloc(o->prefix, o->cap * sizeof(*p));
		if (p)
			o->prefix = p;
		uint32_t *s =
		        p ? tier_realloc(o->sum, o->cap * sizeof(*s)) : NULL;
		if (!s)
			return TIER_ERROR;
		o->sum = s;
	}
	size_t len = o->inblk * TIER_CIDX_REC;
	o->prefix[o->nblocks] = tier_cidx_prefix(o->blk);
	o->sum[o->nblocks++] = tier_cidx_sum(o->blk, len);
	o->inblk = 0;
	return tier_write_all(o->fd, o->blk, len, "the chunk index");
}

static int out_add(struct out *o, const tier_chunk_loc *l)
{
	/* a chunk stored twice (two pushes racing on tiers) keeps one home */
	if (o->n && memcmp(o->last, l->id, TIER_HASH_LEN) == 0)
		return 0;
	memcpy(o->last, l->id, TIER_HASH_LEN);
	tier_cidx_rec_encode(o->blk + o->inblk * TIER_CIDX_REC, l);
	o->n++;
	if (++o->inblk == TIER_CIDX_BLOCK_RECS)
		return out_block(o);
	return 0;
}

static int src_less(const struct src *a, const struct src *b)
{
	return cmp_loc(&a->cur, &b->cur) < 0;
}

static void sift_down(struct src **h, size_t n, size_t i)
{
	for (;;) {
		size_t m = i, l = 2 * i + 1, r = l + 1;
		if (l < n && src_less(h[l], h[m]))
			m = l;
		if (r < n && src_less(h[r], h[m]))
			m = r;
		if (m == i)
			return;
		struct src *t = h[i];
		h[i] = h[m];
		h[m] = t;
		i = m;
	}
}

/* Every source, in (id, pack) order, into o: a binary heap of sources. */
static int merge(struct out *o, struct src *s, size_t ns)
{
	struct src **h = tier_malloc((ns + 1) * sizeof(*h));
	size_t n = 0;
	int rc = 0;
	if (!h)
		return TIER_ERROR;
	for (size_t i = 0; i < ns && rc >= 0; i++)
		if ((rc = src_next(&s[i])) > 0)
			h[n++] = &s[i];
	for (size_t i = n / 2; i-- > 0;)
		sift_down(h, n, i);
	while (rc >= 0 && n) {
		if ((rc = out_add(o, &h[0]->cur)) < 0)
			break;
		if ((rc = src_next(h[0])) == 0)
			h[0] = h[--n];
		if (rc >= 0)
			sift_down(h, n, 0);
	}
	free(h);
	return rc < 0 ? rc : out_block(o);
}

/* Header, pack list, the merged records, the fence; then the header's
 * digest, written last so that a file cut short never checks. */
static int write_file(struct out *o, const tier_cidx_pack *packs, size_t np,
                      struct src *s, size_t ns)
{
	unsigned char head[TIER_CIDX_HEADER] = {0}, b[TIER_CIDX_PACK];
	int rc = tier_write_all(o->fd, head, sizeof(head), "the chunk index");
	for (size_t i = 0; rc == 0 && i < np; i++) {
		memset(b, 0, sizeof(b));
		memcpy(b, packs[i].id, TIER_HASH_LEN);
		memcpy(b + TIER_HASH_LEN, packs[i].blob.id, GIT_OID_RAWSZ);
		rc = tier_write_all(o->fd, b, sizeof(b), "the chunk index");
	}
	if (rc < 0 || (rc = merge(o, s, ns)) < 0)
		return rc;
	unsigned char fb[TIER_CIDX_FENCE * 256];
	size_t k = 0;
	for (uint64_t i = 0; rc == 0 && i < o->nblocks; i++) {
		tier_cidx_put64(fb + k, o->prefix[i]);
		tier_cidx_put32(fb + k + 8, o->sum[i]);
		k += TIER_CIDX_FENCE;
		if (k == sizeof(fb) || i + 1 == o->nblocks) {
			rc = tier_write_all(o->fd, fb, k, "the chunk index");
			k = 0;
		}
	}
	if (rc < 0)
		return rc;
	memcpy(head, TIER_CIDX_MAGIC, 8);
	tier_cidx_put32(head + 8, TIER_CIDX_VERSION);
	tier_cidx_put32(head + 12, TIER_CIDX_REC);
	tier_cidx_put32(head + 16, TIER_CIDX_BLOCK_RECS);
	tier_cidx_put64(head + 24, np);
	tier_cidx_put64(head + 32, o->n);
	if (tier_cidx_digest(head + 40, head, packs, np, o->prefix, o->sum,
	                     o->nblocks) < 0)
		return TIER_ERROR;
	if (pwrite(o->fd, head, sizeof(head), 0) != (ssize_t)sizeof(head))
		return tier_error_set_errno(TIER_ERROR, errno,
		                            "cannot write the chunk index");
	return 0;
}

/* The new file: a temp name beside <state>/chunkidx, else unlinked. */
static int create_out(tier_buf *tmp, const char *path)
{
	int fd = -1;
	if (path && tier_temp_name(tmp, path) == 0) {
		fd = open(tmp->ptr, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC,
		          0600);
		if (fd >= 0)
			return fd;
	}
	/* read-only use: the state cannot keep it, this run still needs it */
	tier_error_clear();
	tier_buf_clear(tmp);
	return temp_fd(NULL);
}

static int add_packs(struct runs *r, tier_chunkmap *m, git_repository *repo,
                     const tier_cidx_pack *add, size_t nadd, size_t base)
{
	int rc = 0;
	/* tests make runs small to merge many */
	const char *e = getenv("TIER_TEST_CHUNKIDX_RUN");
	long t = e ? atol(e) : 0;
	r->max = t > 0 && t < RUN_RECORDS ? (size_t)t : RUN_RECORDS;
	r->buf = tier_malloc(r->max * sizeof(*r->buf));
	if (!r->buf)
		return TIER_ERROR;
	for (size_t j = 0; j < nadd && rc == 0; j++) {
		rc = runs_add_pack(r, repo, &add[j], (uint32_t)(base + j));
		m->packs_read++;
	}
	if (rc == 0)
		rc = runs_flush(r);
	free(r->buf);
	r->buf = NULL;
	return rc;
}

static int build_records(tier_chunkmap *m, git_repository *repo,
                         const tier_chunkmap *old, const tier_cidx_pack *add,
                         size_t nadd, const char *dir, const tier_keys *keys)
{
	struct runs r = {.fd = -1, .dir = dir, .keys = keys};
	struct src *s = NULL;
	struct out o = {.fd = m->fd};
	size_t base = old ? old->npacks : 0, ns = 0;
	int rc = add_packs(&r, m, repo, add, nadd, base);
	if (rc == 0 && !(s = tier_calloc(r.n + 1, sizeof(*s))))
		rc = TIER_ERROR;
	if (rc == 0 && old)
		s[ns++] = (struct src){.map = old, .left = old->n};
	for (size_t i = 0; rc == 0 && i < r.n; i++)
		s[ns++] = (struct src){
		        .fd = r.fd, .off = r.off[i], .left = r.cnt[i]};
	if (rc == 0)
		rc = write_file(&o, m->packs, m->npacks, s, ns);
	m->n = o.n;
	m->nblocks = o.nblocks;
	m->rec_off = TIER_CIDX_HEADER + (uint64_t)m->npacks * TIER_CIDX_PACK;
	m->prefix = o.prefix;
	m->sum = o.sum;
	free(s);
	free(r.off);
	free(r.cnt);
	if (r.fd >= 0)
		close(r.fd);
	return rc;
}

int tier_cidx_build(tier_chunkmap **out, git_repository *repo,
                    const tier_chunkmap *old, const tier_cidx_pack *add,
                    size_t nadd, const char *state_dir, const tier_keys *keys)
{
	tier_buf path = TIER_BUF_INIT, tmp = TIER_BUF_INIT;
	size_t base = old ? old->npacks : 0;
	int rc = TIER_ERROR;
	*out = NULL;
	tier_chunkmap *m = tier_calloc(1, sizeof(*m));
	if (!m)
		return TIER_ERROR;
	m->fd = -1;
	m->npacks = base + nadd;
	if (!(m->packs = tier_malloc((m->npacks + 1) * sizeof(*m->packs))))
		goto out;
	if (base)
		memcpy(m->packs, old->packs, base * sizeof(*m->packs));
	if (nadd)
		memcpy(m->packs + base, add, nadd * sizeof(*m->packs));
	if (state_dir)
		tier_buf_printf(&path, "%s/%s", state_dir, TIER_CIDX_NAME);
	if (state_dir && !path.ptr)
		goto out;
	if ((m->fd = create_out(&tmp, path.ptr)) < 0)
		goto out;
	rc = build_records(m, repo, old, add, nadd, tmp.size ? state_dir : NULL,
	                   keys);
	if (rc == 0 && tmp.size) {
		/* readers of the old file keep their open descriptor */
		if (rename(tmp.ptr, path.ptr) == 0)
			m->path = tier_buf_detach(&path);
		else
			unlink(tmp.ptr);
	} else if (tmp.size) {
		unlink(tmp.ptr);
	}
out:
	tier_buf_dispose(&path);
	tier_buf_dispose(&tmp);
	if (rc < 0) {
		tier_chunkmap_free(m);
		return rc;
	}
	*out = m;
	return 0;
}
