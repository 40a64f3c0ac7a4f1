/*
 * util/spillset.h: the newest records in an open-addressing table, older
 * ones in sorted runs of a temporary file, each run with a Bloom filter and
 * a fence (the first 8 key bytes of each block) in memory.  Why not mmap
 * the runs: mapped pages that a lookup touched count in the process's
 * resident size, which is the figure issue 15 bounds; pread goes through
 * the page cache, which does not.
 */
#include "util/spillset.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tier/errors.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/posix.h"

/* records per block: one lookup in a run reads one block */
#define BLOCK_RECS 64
/* Bloom filter bits per record and probes: ~0.8% false positives */
#define BLOOM_BITS 10
#define BLOOM_K    7
/* runs of one level merged into one of the next */
#define MERGE_FANIN 4
/* records read or written at a time while merging */
#define MERGE_RECS 1024

struct run {
	uint64_t off; /* file offset of its first record */
	uint64_t n;
	uint64_t *bloom;
	uint64_t bloom_bits;
	uint64_t *fence; /* first 8 key bytes (big-endian) of each block */
	uint64_t nblocks;
	unsigned level;
};

struct tier_spillset {
	size_t key_len, val_len, rec_len;
	char *tmpdir;
	int fd;
	uint64_t file_end;

	unsigned char *mem; /* mem_n records of rec_len, unsorted */
	size_t mem_n, mem_cap;
	uint32_t *slot; /* index + 1 into mem; 0 = free */
	size_t mask;

	struct run *runs;
	size_t nruns, runs_cap;
	uint64_t count;
	unsigned char *block; /* one block, for lookups */
};

/* ---- keys ------------------------------------------------------------------ */

static uint64_t prefix64(const unsigned char *k)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = (v << 8) | k[i];
	return v;
}

static size_t slot_hash(const unsigned char *k)
{
	uint64_t h;
	memcpy(&h, k, sizeof(h));
	return (size_t)h;
}

static void bloom_hashes(const unsigned char *k, uint32_t *h1, uint32_t *h2)
{
	memcpy(h1, k + 8, 4);
	memcpy(h2, k + 12, 4);
	*h2 |= 1;
}

static uint64_t bloom_bit(uint32_t h1, uint32_t h2, int i, uint64_t nbits)
{
	uint32_t h = h1 + (uint32_t)i * h2;
	return (uint64_t)(((unsigned __int128)h * nbits) >> 32);
}

static void bloom_add(struct run *r, const unsigned char *k)
{
	uint32_t h1, h2;
	bloom_hashes(k, &h1, &h2);
	for (int i = 0; i < BLOOM_K; i++) {
		uint64_t b = bloom_bit(h1, h2, i, r->bloom_bits);
		r->bloom[b >> 6] |= (uint64_t)1 << (b & 63);
	}
}

static int bloom_has(const struct run *r, const unsigned char *k)
{
	uint32_t h1, h2;
	bloom_hashes(k, &h1, &h2);
	for (int i = 0; i < BLOOM_K; i++) {
		uint64_t b = bloom_bit(h1, h2, i, r->bloom_bits);
		if (!(r->bloom[b >> 6] & ((uint64_t)1 << (b & 63))))
			return 0;
	}
	return 1;
}

/* ---- the file ---------------------------------------------------------------- */

static int open_file(tier_spillset *s)
{
	const char *dir = s->tmpdir ? s->tmpdir : getenv("TMPDIR");
	if (!dir || !*dir)
		dir = "/tmp";
	s->fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (s->fd >= 0)
		return 0;
	/* file systems without O_TMPFILE: a named file, unlinked at once */
	tier_buf path = TIER_BUF_INIT;
	if (tier_buf_printf(&path, "%s/tier-spill-XXXXXX", dir) < 0)
		return TIER_ERROR;
	s->fd = mkostemp(path.ptr, O_CLOEXEC);
	int err = errno;
	if (s->fd >= 0)
		unlink(path.ptr);
	tier_buf_dispose(&path);
	if (s->fd < 0)
		return tier_error_set_errno(tier_error_from_errno(err), err,
		                            "cannot create a temporary file in "
		                            "'%s'",
		                            dir);
	return 0;
}

static int pwrite_all(tier_spillset *s, const void *data, size_t len,
                      uint64_t off)
{
	const unsigned char *p = data;
	while (len > 0) {
		ssize_t w = pwrite(s->fd, p, len, (off_t)off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			int err = w < 0 ? errno : ENOSPC;
			return tier_error_set_errno(tier_error_from_errno(err),
			                            err,
			                            "cannot write a temporary "
			                            "file");
		}
		p += w;
		len -= (size_t)w;
		off += (uint64_t)w;
	}
	return 0;
}

static int read_recs(const tier_spillset *s, unsigned char *buf, uint64_t off,
                     size_t nrecs)
{
	return tier_pread_all(s->fd, buf, nrecs * s->rec_len, off, NULL,
	                      "a temporary file");
}

/* ---- runs ---------------------------------------------------------------- */

static void run_free(struct run *r)
{
	free(r->bloom);
	free(r->fence);
}

/* The filter and fence of a run of n records starting at off. */
static int run_init(struct run *r, uint64_t off, uint64_t n, unsigned level)
{
	memset(r, 0, sizeof(*r));
	r->off = off;
	r->n = n;
	r->level = level;
	r->bloom_bits = n * BLOOM_BITS < 64 ? 64 : n * BLOOM_BITS;
	r->nblocks = (n + BLOCK_RECS - 1) / BLOCK_RECS;
	r->bloom = tier_calloc((size_t)((r->bloom_bits + 63) / 64), 8);
	r->fence = tier_calloc(r->nblocks ? (size_t)r->nblocks : 1, 8);
	if (!r->bloom || !r->fence) {
		run_free(r);
		return TIER_ERROR;
	}
	return 0;
}

/* Record i of the run, in key order, seen once as it is written. */
static void run_note(struct run *r, uint64_t i, const unsigned char *key)
{
	bloom_add(r, key);
	if (i % BLOCK_RECS == 0)
		r->fence[i / BLOCK_RECS] = prefix64(key);
}

static int run_push(tier_spillset *s, const struct run *r)
{
	if (s->nruns == s->runs_cap) {
		size_t cap = s->runs_cap ? s->runs_cap * 2 : 8;
		void *nr = tier_realloc(s->runs, cap * sizeof(*s->runs));
		if (!nr)
			return TIER_ERROR;
		s->runs = nr;
		s->runs_cap = cap;
	}
	s->runs[s->nruns++] = *r;
	return 0;
}

/* Binary search of one block read from the file: 1 found. */
static int block_find(tier_spillset *s, const struct run *r, uint64_t b,
                      const unsigned char *key, void *val)
{
	uint64_t first = b * BLOCK_RECS;
	size_t n =
	        (size_t)(r->n - first < BLOCK_RECS ? r->n - first : BLOCK_RECS);
	int rc = read_recs(s, s->block, r->off + first * s->rec_len, n);
	if (rc < 0)
		return rc;
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const unsigned char *rec = s->block + mid * s->rec_len;
		int c = memcmp(rec, key, s->key_len);
		if (c == 0) {
			if (val)
				memcpy(val, rec + s->key_len, s->val_len);
			return 1;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return 0;
}

static int run_get(tier_spillset *s, const struct run *r,
                   const unsigned char *key, void *val)
{
	if (!bloom_has(r, key))
		return 0;
	uint64_t kp = prefix64(key);
	/* the first block whose first prefix is >= the key's */
	uint64_t lo = 0, hi = r->nblocks;
	while (lo < hi) {
		uint64_t mid = lo + (hi - lo) / 2;
		if (r->fence[mid] < kp)
			lo = mid + 1;
		else
			hi = mid;
	}
	/* the key is in the block before, or in a block starting with the
	 * same prefix (more than one only if keys share 64 bits) */
	uint64_t b = lo > 0 ? lo - 1 : 0;
	for (; b < r->nblocks && (b < lo || r->fence[b] == kp); b++) {
		int rc = block_find(s, r, b, key, val);
		if (rc != 0)
			return rc;
	}
	return 0;
}

/* ---- merging ------------------------------------------------------------- */

/* One sorted source: a run read through a buffer, or the sorted table. */
struct source {
	const struct run *run; /* NULL: the table */
	unsigned char *buf;
	size_t have, pos;
	uint64_t next; /* next record of the run to read */
};

static int source_fill(tier_spillset *s, struct source *src)
{
	if (!src->run)
		return 0;
	uint64_t left = src->run->n - src->next;
	size_t n = (size_t)(left < MERGE_RECS ? left : MERGE_RECS);
	src->pos = 0;
	src->have = n;
	if (n == 0)
		return 0;
	int rc = read_recs(s, src->buf, src->run->off + src->next * s->rec_len,
	                   n);
	src->next += n;
	return rc;
}

static const unsigned char *source_head(const tier_spillset *s,
                                        const struct source *src)
{
	return src->pos < src->have ? src->buf + src->pos * s->rec_len : NULL;
}

typedef int (*merge_fn)(tier_spillset *s, const unsigned char *rec, void *ctx);

/* Every record of the sources in key order through fn. */
static int merge_sources(tier_spillset *s, struct source *src, size_t n,
                         merge_fn fn, void *ctx)
{
	int rc = 0;
	for (;;) {
		size_t best = n;
		const unsigned char *bk = NULL;
		for (size_t i = 0; i < n; i++) {
			const unsigned char *h = source_head(s, &src[i]);
			if (h && (!bk || memcmp(h, bk, s->key_len) < 0)) {
				bk = h;
				best = i;
			}
		}
		if (!bk)
			return 0;
		if ((rc = fn(s, bk, ctx)) != 0)
			return rc;
		if (++src[best].pos == src[best].have &&
		    (rc = source_fill(s, &src[best])) < 0)
			return rc;
	}
}

static int sources_open(tier_spillset *s, struct source *src,
                        const struct run *runs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		src[i].run = &runs[i];
		src[i].buf = tier_malloc(MERGE_RECS * s->rec_len);
		if (!src[i].buf || source_fill(s, &src[i]) < 0)
			return TIER_ERROR;
	}
	return 0;
}

static void sources_close(struct source *src, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (src[i].run)
			free(src[i].buf);
}

/* The run being written by a merge. */
struct out_run {
	struct run r;
	unsigned char *buf;
	size_t used;
	uint64_t written;
};

static int out_flush(tier_spillset *s, struct out_run *o)
{
	int rc = pwrite_all(s, o->buf, o->used * s->rec_len,
	                    o->r.off + o->written * s->rec_len);
	o->written += o->used;
	o->used = 0;
	return rc;
}

static int out_add(tier_spillset *s, const unsigned char *rec, void *ctx)
{
	struct out_run *o = ctx;
	run_note(&o->r, o->written + o->used, rec);
	memcpy(o->buf + o->used * s->rec_len, rec, s->rec_len);
	if (++o->used == MERGE_RECS)
		return out_flush(s, o);
	return 0;
}

/* The last MERGE_FANIN runs (one level) become one run of the next level;
 * their file space is given back where the file system can. */
static int merge_tail(tier_spillset *s)
{
	size_t first = s->nruns - MERGE_FANIN;
	struct source src[MERGE_FANIN] = {{0}};
	struct out_run o = {0};
	uint64_t n = 0;
	int rc;
	for (size_t i = first; i < s->nruns; i++)
		n += s->runs[i].n;
	if ((rc = run_init(&o.r, s->file_end, n, s->runs[first].level + 1)) <
	            0 ||
	    !(o.buf = tier_malloc(MERGE_RECS * s->rec_len)) ||
	    (rc = sources_open(s, src, &s->runs[first], MERGE_FANIN)) < 0 ||
	    (rc = merge_sources(s, src, MERGE_FANIN, out_add, &o)) < 0 ||
	    (rc = out_flush(s, &o)) < 0) {
		sources_close(src, MERGE_FANIN);
		free(o.buf);
		run_free(&o.r);
		return rc < 0 ? rc : TIER_ERROR;
	}
	sources_close(src, MERGE_FANIN);
	free(o.buf);
	for (size_t i = first; i < s->nruns; i++) {
		(void)fallocate(s->fd,
		                FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
		                (off_t)s->runs[i].off,
		                (off_t)(s->runs[i].n * s->rec_len));
		run_free(&s->runs[i]);
	}
	s->nruns = first;
	s->file_end += n * s->rec_len;
	return run_push(s, &o.r);
}

/* ---- the table ------------------------------------------------------------- */

static size_t table_probe(const tier_spillset *s, const unsigned char *key,
                          int *found)
{
	size_t k = slot_hash(key) & s->mask;
	while (s->slot[k]) {
		const unsigned char *rec =
		        s->mem + (size_t)(s->slot[k] - 1) * s->rec_len;
		if (memcmp(rec, key, s->key_len) == 0) {
			*found = 1;
			return k;
		}
		k = (k + 1) & s->mask;
	}
	*found = 0;
	return k;
}

static void table_reindex(tier_spillset *s)
{
	memset(s->slot, 0, (s->mask + 1) * sizeof(*s->slot));
	for (size_t i = 0; i < s->mem_n; i++) {
		int found;
		size_t k = table_probe(s, s->mem + i * s->rec_len, &found);
		s->slot[k] = (uint32_t)(i + 1);
	}
}

static int cmp_rec(const void *a, const void *b, void *key_len)
{
	return memcmp(a, b, *(const size_t *)key_len);
}

static void table_sort(tier_spillset *s)
{
	qsort_r(s->mem, s->mem_n, s->rec_len, cmp_rec, &s->key_len);
}

/* The table, sorted, becomes a run at the end of the file. */
static int table_spill(tier_spillset *s)
{
	struct run r;
	int rc;
	if (s->fd < 0 && (rc = open_file(s)) < 0)
		return rc;
	table_sort(s);
	if ((rc = run_init(&r, s->file_end, s->mem_n, 0)) < 0) {
		table_reindex(s);
		return rc;
	}
	for (size_t i = 0; i < s->mem_n; i++)
		run_note(&r, i, s->mem + i * s->rec_len);
	if ((rc = pwrite_all(s, s->mem, s->mem_n * s->rec_len, s->file_end)) <
	            0 ||
	    (rc = run_push(s, &r)) < 0) {
		run_free(&r);
		table_reindex(
		        s); /* the table stays whole: a later add retries */
		return rc;
	}
	s->file_end += s->mem_n * s->rec_len;
	s->mem_n = 0;
	memset(s->slot, 0, (s->mask + 1) * sizeof(*s->slot));
	while (s->nruns >= MERGE_FANIN &&
	       s->runs[s->nruns - MERGE_FANIN].level ==
	               s->runs[s->nruns - 1].level)
		if ((rc = merge_tail(s)) < 0)
			return rc;
	return 0;
}

/* ---- the interface ---------------------------------------------------------- */

int tier_spillset_new(tier_spillset **out, size_t key_len, size_t val_len,
                      const char *tmpdir, size_t mem_records)
{
	*out = NULL;
	TIER_ASSERT_ARG(key_len >= 16);
	if (mem_records == 0)
		mem_records = TIER_SPILLSET_MEM_RECORDS;
	if (mem_records < BLOCK_RECS)
		mem_records = BLOCK_RECS;
	tier_spillset *s = tier_calloc(1, sizeof(*s));
	if (!s)
		return TIER_ERROR;
	s->fd = -1;
	s->key_len = key_len;
	s->val_len = val_len;
	s->rec_len = key_len + val_len;
	s->mem_cap = mem_records;
	size_t slots = 1;
	while (slots < mem_records * 2)
		slots <<= 1;
	s->mask = slots - 1;
	if ((tmpdir && !(s->tmpdir = tier_strdup(tmpdir))) ||
	    !(s->slot = tier_calloc(slots, sizeof(*s->slot))) ||
	    !(s->block = tier_malloc(BLOCK_RECS * s->rec_len))) {
		tier_spillset_free(s);
		return TIER_ERROR;
	}
	*out = s;
	return 0;
}

static int runs_get(tier_spillset *s, const void *key, void *val)
{
	/* newest first: the same key is never in two places, so the order
	 * only matters for speed (recent keys are looked up most) */
	for (size_t i = s->nruns; i-- > 0;) {
		int rc = run_get(s, &s->runs[i], key, val);
		if (rc != 0)
			return rc;
	}
	return 0;
}

int tier_spillset_get(tier_spillset *s, const void *key, void *val)
{
	int found;
	size_t k = table_probe(s, key, &found);
	if (found) {
		if (val)
			memcpy(val,
			       s->mem + (size_t)(s->slot[k] - 1) * s->rec_len +
			               s->key_len,
			       s->val_len);
		return 1;
	}
	return runs_get(s, key, val);
}

int tier_spillset_add(tier_spillset *s, const void *key, const void *val)
{
	int found, rc;
	size_t k = table_probe(s, key, &found);
	if (found)
		return 0;
	if ((rc = runs_get(s, key, NULL)) != 0)
		return rc < 0 ? rc : 0;
	if (s->mem_n == s->mem_cap) { /* an earlier spill failed */
		if ((rc = table_spill(s)) < 0)
			return rc;
		k = table_probe(s, key, &found);
	}
	if (!s->mem) {
		/* the table's records are allocated on first use: most sets
		 * of a small run stay far below the cap */
		s->mem = tier_malloc(s->mem_cap * s->rec_len);
		if (!s->mem)
			return TIER_ERROR;
	}
	unsigned char *rec = s->mem + s->mem_n * s->rec_len;
	memcpy(rec, key, s->key_len);
	if (s->val_len)
		memcpy(rec + s->key_len, val, s->val_len);
	s->slot[k] = (uint32_t)(++s->mem_n);
	s->count++;
	if (s->mem_n == s->mem_cap && (rc = table_spill(s)) < 0)
		return rc;
	return 1;
}

uint64_t tier_spillset_count(const tier_spillset *s)
{
	return s->count;
}

struct walk {
	tier_spillset_fn fn;
	void *ctx;
};

static int walk_one(tier_spillset *s, const unsigned char *rec, void *ctx)
{
	struct walk *w = ctx;
	return w->fn(rec, rec + s->key_len, w->ctx);
}

int tier_spillset_foreach(tier_spillset *s, tier_spillset_fn fn, void *ctx)
{
	size_t n = s->nruns + 1;
	struct source *src = tier_calloc(n, sizeof(*src));
	struct walk w = {fn, ctx};
	int rc;
	if (!src)
		return TIER_ERROR;
	table_sort(s);
	table_reindex(s);
	src[s->nruns].buf = s->mem;
	src[s->nruns].have = s->mem_n;
	if ((rc = sources_open(s, src, s->runs, s->nruns)) == 0)
		rc = merge_sources(s, src, n, walk_one, &w);
	sources_close(src, n);
	free(src);
	return rc;
}

size_t tier_spillset_memory(const tier_spillset *s)
{
	size_t m = sizeof(*s) + (s->mask + 1) * sizeof(*s->slot) +
	           BLOCK_RECS * s->rec_len + s->runs_cap * sizeof(*s->runs);
	if (s->mem)
		m += s->mem_cap * s->rec_len;
	for (size_t i = 0; i < s->nruns; i++)
		m += (size_t)((s->runs[i].bloom_bits + 63) / 64 * 8 +
		              s->runs[i].nblocks * 8);
	return m;
}

void tier_spillset_free(tier_spillset *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->nruns; i++)
		run_free(&s->runs[i]);
	free(s->runs);
	free(s->mem);
	free(s->slot);
	free(s->block);
	free(s->tmpdir);
	if (s->fd >= 0)
		close(s->fd);
	free(s);
}
