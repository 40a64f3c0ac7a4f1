/*
 * Reading a file of the drive (tier/drive.h): a read is served chunk by
 * chunk from the cache; the first chunk it misses starts one ranged fetch
 * of the missing chunks from there on, through the readahead window when
 * the reader goes on in order, so a sequential reader costs one tier
 * request per window, not one per kernel read.
 */
#include "drive/drive_int.h"

#include <stdlib.h>
#include <string.h>

#include "util/buf.h"
#include "util/error.h"

int tier_drive_file_open(tier_drive_file **out, tier_drive *d, const char *path)
{
	struct drive_rev *r = NULL;
	tier_drive_file *f;
	const char *rest;
	int rc;

	TIER_ASSERT_ARG(out);
	*out = NULL;
	TIER_ASSERT_ARG(d);
	TIER_ASSERT_ARG(path);
	if (!(f = tier_calloc(1, sizeof(*f))))
		return TIER_ERROR;
	pthread_mutex_lock(&d->mu);
	if ((rc = tier_drive_rev_path(d, path, &r, &rest)) == 0 &&
	    (rc = tier_drive_rev_browse(d, r)) == 0) {
		r->files++; /* before anything else may close it */
		if ((rc = tier_browse_file_open(&f->bf, r->b, rest)) < 0)
			tier_drive_rev_release(d, r);
	} else if (rc == TIER_ECONFLICT) {
		rc = tier_error_set(TIER_ECONFLICT, "'%s' is a directory",
		                    path);
	}
	pthread_mutex_unlock(&d->mu);
	if (rc < 0) {
		free(f);
		return rc;
	}
	f->d = d;
	f->r = r;
	f->size = tier_browse_file_size(f->bf);
	*out = f;
	return 0;
}

void tier_drive_file_close(tier_drive_file *f)
{
	if (!f)
		return;
	pthread_mutex_lock(&f->d->mu);
	tier_browse_file_free(f->bf);
	tier_drive_rev_release(f->d, f->r);
	pthread_mutex_unlock(&f->d->mu);
	free(f);
}

/* One read: the bytes asked for, and the chunks that cover them. */
struct request {
	tier_drive_file *f;
	unsigned char *buf;
	uint64_t off, end;
	size_t i0, i1;       /* chunks [i0, i1] hold [off, end) */
	unsigned char *done; /* i1 - i0 + 1 flags: copied into buf */
	size_t next;         /* the chunk the fetch callback gets next */
};

/* Chunk i's part of the request into buf. */
static void chunk_span(const struct request *q, size_t i, uint64_t *cstart,
                       uint64_t *from, uint64_t *to, const unsigned char **id)
{
	uint32_t len;
	tier_browse_file_chunk(q->f->bf, i, cstart, &len, id);
	*from = *cstart > q->off ? *cstart : q->off;
	*to = *cstart + len < q->end ? *cstart + len : q->end;
}

static int take_chunk(const void *data, size_t len, void *payload)
{
	struct request *q = payload;
	tier_drive *d = q->f->d;
	size_t i = q->next++;
	const unsigned char *id;
	uint64_t cstart, from, to;

	chunk_span(q, i, &cstart, &from, &to, &id);
	tier_chunkcache_put(d->cache, id, data, len);
	d->st.fetched++;
	d->st.fetched_bytes += len;
	if (i >= q->i0 && i <= q->i1 && !q->done[i - q->i0]) {
		memcpy(q->buf + (from - q->off),
		       (const unsigned char *)data + (from - cstart),
		       (size_t)(to - from));
		q->done[i - q->i0] = 1;
	}
	return 0;
}

/* The chunks to fetch from first on: missing ones in a row, to the end of
 * the request or of the readahead window. */
static size_t fetch_count(const struct request *q, size_t first, size_t last)
{
	tier_drive *d = q->f->d;
	size_t k = first + 1;
	while (k <= last) {
		const unsigned char *id;
		uint64_t start;
		uint32_t len;
		tier_browse_file_chunk(q->f->bf, k, &start, &len, &id);
		if (tier_chunkcache_has(d->cache, id))
			break;
		k++;
	}
	return k - first;
}

static int serve(struct request *q, size_t last)
{
	tier_drive *d = q->f->d;
	for (size_t i = q->i0; i <= q->i1; i++) {
		const unsigned char *id;
		uint64_t cstart, from, to;
		int rc;
		if (q->done[i - q->i0])
			continue;
		chunk_span(q, i, &cstart, &from, &to, &id);
		if (tier_chunkcache_get(d->cache, id, q->buf + (from - q->off),
		                        (size_t)(to - from), from - cstart)) {
			q->done[i - q->i0] = 1;
			d->st.cache_hits++;
			continue;
		}
		/* a miss: fetch from here on, readahead included */
		q->next = i;
		rc = tier_browse_file_read(
		        q->f->bf, i, fetch_count(q, i, last > i ? last : i),
		        take_chunk, q);
		if (rc < 0 && !q->done[i - q->i0])
			return rc;
		/* the readahead failed past what was asked: read the rest of
		 * the request without it, a chunk at a time */
		if (rc < 0)
			last = q->i1;
		if (!q->done[i - q->i0])
			return tier_error_set(TIER_ERROR,
			                      "chunk %zu was not read", i);
	}
	return 0;
}

/* Where the readahead window ends: the chunk holding its last byte. */
static size_t readahead_end(tier_drive_file *f, uint64_t off, uint64_t end)
{
	/* in order, give or take the kernel's own reads out of order */
	int in_order = off + DRIVE_READAHEAD_MIN >= f->next_off &&
	               off <= f->next_off + DRIVE_READAHEAD_MIN;
	if (!in_order)
		f->window = 0;
	else if (f->window < DRIVE_READAHEAD_MIN)
		f->window = DRIVE_READAHEAD_MIN;
	else if (f->window < DRIVE_READAHEAD_MAX)
		f->window *= 2;
	if (end > f->next_off)
		f->next_off = end;
	uint64_t ra = end + f->window;
	if (ra > f->size)
		ra = f->size;
	return tier_browse_file_chunk_at(f->bf, ra - 1);
}

int64_t tier_drive_file_read(tier_drive_file *f, void *buf, size_t size,
                             uint64_t offset)
{
	struct request q;
	tier_drive *d;
	size_t last;
	int rc;

	TIER_ASSERT_ARG(f);
	TIER_ASSERT_ARG(buf || !size);
	d = f->d;
	if (offset >= f->size || size == 0)
		return 0;
	if (size > f->size - offset)
		size = (size_t)(f->size - offset);
	memset(&q, 0, sizeof(q));
	q.f = f;
	q.buf = buf;
	q.off = offset;
	q.end = offset + size;
	pthread_mutex_lock(&d->mu);
	if (d->reprobe) {
		d->reprobe = 0;
		(void)tier_vault_probe(d->v); /* what answers now is used */
	}
	d->st.reads++;
	q.i0 = tier_browse_file_chunk_at(f->bf, q.off);
	q.i1 = tier_browse_file_chunk_at(f->bf, q.end - 1);
	last = readahead_end(f, q.off, q.end);
	if (!(q.done = tier_calloc(q.i1 - q.i0 + 1, 1)))
		rc = TIER_ERROR;
	else
		rc = serve(&q, last);
	if (rc < 0) {
		/* a reader remembers the tiers that failed it: start afresh */
		tier_error_saved e;
		tier_error_save(&e);
		for (size_t i = 0; i < d->nrevs; i++)
			tier_browse_reset(d->revs[i].b);
		d->reprobe = 1;
		tier_error_restore(&e);
	}
	pthread_mutex_unlock(&d->mu);
	free(q.done);
	return rc < 0 ? rc : (int64_t)size;
}
