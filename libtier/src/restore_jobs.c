/*
 * Read jobs (R2): the walk hands over the chunks of the files it plans,
 * in the order of the snapshot; they wait in a window that is cut, once
 * full, into ranged gets in pack and offset order, so that each pack is
 * read front to back in few large requests (a remote tier's round trips,
 * an FTP server's logins), whatever order push wrote the files in.
 */
#include "restore_int.h"

#include <stdlib.h>
#include <string.h>

#include "util/error.h"

void tier_restore_job_free(struct job *j)
{
	if (j) {
		free(j->p);
		free(j);
	}
}

void tier_restore_window_free(struct restore_run *r)
{
	free(r->win);
	r->win = NULL;
	r->win_n = r->win_cap = 0;
	r->win_bytes = 0;
	r->win_multi = 0;
	r->win_last = NULL;
	r->win_last_n = 0;
}

/* Hand a job to the workers, waiting (and reporting progress) while the queue is full. */
static int enqueue(struct restore_run *r, struct job *j)
{
	pthread_mutex_lock(&r->lock);
	while (r->qlen == QUEUE_CAP && !r->abort) {
		tier_restore_wait(r, &r->nonfull);
		if (r->qlen == QUEUE_CAP && !r->abort) {
			pthread_mutex_unlock(&r->lock);
			tier_restore_progress(r, 0);
			pthread_mutex_lock(&r->lock);
		}
	}
	if (r->abort) {
		int code = r->fatal_code;
		pthread_mutex_unlock(&r->lock);
		tier_restore_job_free(j);
		return code ? code : TIER_EABORTED;
	}
	r->queue[(r->qhead + r->qlen) % QUEUE_CAP] = j;
	r->qlen++;
	pthread_cond_signal(&r->nonempty);
	pthread_mutex_unlock(&r->lock);
	return 0;
}

/*
 * Each piece's rank: its pack's place in the order the walk first needed
 * the packs, so that files still complete roughly in walk order (progress,
 * a killed restore's rerun) while each pack is read front to back.
 */
static int rank_packs(struct restore_run *r)
{
	struct slot {
		uint32_t pack, rank;
		int used;
	} * slot;
	size_t cap = 16;
	uint32_t next = 0;
	while (cap < 2 * r->win_n)
		cap *= 2;
	if (!(slot = tier_calloc(cap, sizeof(*slot))))
		return TIER_ERROR;
	for (size_t i = 0; i < r->win_n; i++) {
		uint32_t pack = r->win[i].loc.pack;
		size_t h = (size_t)(pack * 0x9e3779b1u) & (cap - 1);
		while (slot[h].used && slot[h].pack != pack)
			h = (h + 1) & (cap - 1);
		if (!slot[h].used)
			slot[h] = (struct slot){pack, next++, 1};
		r->win[i].rank = slot[h].rank;
	}
	free(slot);
	return 0;
}

static int piece_cmp(const void *a, const void *b)
{
	const struct piece *x = a, *y = b;
	if (x->rank != y->rank)
		return x->rank < y->rank ? -1 : 1;
	if (x->loc.offset != y->loc.offset)
		return x->loc.offset < y->loc.offset ? -1 : 1;
	/* the same chunk in several places: the file's order */
	if (x->f != y->f)
		return (uintptr_t)x->f < (uintptr_t)y->f ? -1 : 1;
	return x->off < y->off ? -1 : x->off > y->off;
}

/* Is the first tier a read goes to a remote one? */
static int reads_remote(struct restore_run *r)
{
	for (size_t i = 0; i < r->ntiers; i++) {
		if (!r->t[i].usable)
			continue;
		const tier_url *u = tier_location_url(r->t[i].loc);
		while (u && u->inner)
			u = u->inner;
		return u && u->scheme && strcmp(u->scheme, "file") != 0;
	}
	return 0;
}

/* pieces [from, to) of the sorted window as one job */
static int emit(struct restore_run *r, size_t from, size_t to, uint64_t start,
                uint64_t end)
{
	struct job *j = tier_calloc(1, sizeof(*j));
	if (!j)
		return TIER_ERROR;
	j->n = j->cap = to - from;
	if (!(j->p = tier_calloc(j->n, sizeof(*j->p)))) {
		free(j);
		return TIER_ERROR;
	}
	memcpy(j->p, r->win + from, j->n * sizeof(*j->p));
	j->pack = r->win[from].loc.pack;
	j->start = start;
	j->end = end;
	return enqueue(r, j);
}

int tier_restore_flush_job(struct restore_run *r)
{
	int remote = reads_remote(r), rc = 0;
	uint64_t gap = remote ? JOB_GAP_REMOTE : JOB_GAP;
	uint64_t max = remote ? JOB_MAX_BYTES_REMOTE : JOB_MAX_BYTES;
	size_t from = 0;
	uint64_t start = 0, end = 0;

	if (!r->win_n)
		return 0;
	if ((rc = rank_packs(r)) < 0)
		return rc;
	qsort(r->win, r->win_n, sizeof(*r->win), piece_cmp);
	for (size_t i = 0; i < r->win_n && rc == 0; i++) {
		const tier_chunk_loc *l = &r->win[i].loc;
		uint64_t lend = l->offset + l->stored_len;
		if (i > from) {
			uint64_t nend = lend > end ? lend : end;
			if (l->pack == r->win[from].loc.pack &&
			    l->offset <= end + gap && nend - start <= max &&
			    i - from < JOB_MAX_PIECES) {
				end = nend;
				continue;
			}
			rc = emit(r, from, i, start, end);
		}
		from = i;
		start = l->offset;
		end = lend;
	}
	if (rc == 0)
		rc = emit(r, from, r->win_n, start, end);
	r->win_n = 0;
	r->win_bytes = 0;
	r->win_multi = 0;
	r->win_last = NULL;
	r->win_last_n = 0;
	return rc;
}

int tier_restore_add_piece(struct restore_run *r, struct rfile *f, uint64_t off,
                           const tier_chunk_loc *l)
{
	if (r->win_n == r->win_cap) {
		size_t nc = r->win_cap ? r->win_cap * 2 : 256;
		struct piece *np = tier_realloc(r->win, nc * sizeof(*np));
		if (!np)
			return TIER_ERROR;
		r->win = np;
		r->win_cap = nc;
	}
	if (f != r->win_last) {
		r->win_last = f;
		r->win_last_n = 0;
	}
	if (++r->win_last_n == 2)
		r->win_multi++;
	r->win[r->win_n].f = f;
	r->win[r->win_n].off = off;
	r->win[r->win_n].loc = *l;
	r->win_n++;
	r->win_bytes += l->stored_len;
	if (r->win_bytes >= WINDOW_BYTES || r->win_n >= WINDOW_PIECES ||
	    r->win_multi >= WINDOW_FILES)
		return tier_restore_flush_job(r);
	return 0;
}
