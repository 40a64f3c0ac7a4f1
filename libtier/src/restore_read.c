/*
 * Reading (R2): read jobs built by the walk, the queue, the workers that
 * fetch a range of a pack from the first usable tier, decode and check its
 * chunks, fall back to the other tiers chunk by chunk, and write them.
 */
#include "restore_int.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/error.h"

static int grow(unsigned char **p, size_t *cap, size_t need)
{
	if (need <= *cap)
		return 0;
	unsigned char *np = tier_realloc(*p, need);
	if (!np)
		return TIER_ERROR;
	*p = np;
	*cap = need;
	return 0;
}

/*
 * Test hook TIER_TEST_RESTORE_KILL=n: _exit(137), as kill -9 would, once
 * n pieces of files are written, counted over both workers (so a test
 * interrupts a restore with some files complete and some half written).
 */
static void test_kill_point(struct restore_run *r)
{
	if (!r->kill_after)
		return;
	pthread_mutex_lock(&r->lock);
	int now = ++r->pieces >= r->kill_after;
	pthread_mutex_unlock(&r->lock);
	if (now)
		_exit(137);
}

/* ---- reading from the tiers (R2) -------------------------------------- */

struct sink {
	unsigned char *buf;
	size_t cap, got;
};

static int sink_cb(const void *data, size_t len, void *payload)
{
	struct sink *s = payload;
	if (len > s->cap - s->got)
		return 1;
	memcpy(s->buf + s->got, data, len);
	s->got += len;
	return 0;
}

/*
 * Why reads failed: the message when no tier has the data, and the damage
 * to report once a later tier served it.
 */
struct reasons {
	tier_buf text;
	int any_damage;   /* a failure other than offline */
	tier_vec pending; /* char *: "tier 'a': pack 77b1... is missing" */
};

#define REASONS_INIT                            \
	{                                       \
		TIER_BUF_INIT, 0, TIER_VEC_INIT \
	}

static void reasons_dispose(struct reasons *why)
{
	tier_buf_dispose(&why->text);
	tier_vec_dispose(&why->pending, free);
}

/* A later tier served what the pending ones lacked: report each, count it. */
static void reasons_served(struct restore_run *r, struct reasons *why,
                           const char *by)
{
	for (size_t i = 0; i < why->pending.length; i++) {
		tier_restore_warn(r, "%s; read from tier '%s'",
		                  (char *)why->pending.ptr[i], by);
		pthread_mutex_lock(&r->lock);
		r->stats->damaged++;
		pthread_mutex_unlock(&r->lock);
	}
	tier_vec_dispose(&why->pending, free);
	why->pending = (tier_vec)TIER_VEC_INIT;
}

static void reasons_pending(struct reasons *why, const char *fmt, ...)
        TIER_PRINTF(2, 3);
static void reasons_pending(struct reasons *why, const char *fmt, ...)
{
	tier_buf b = TIER_BUF_INIT;
	va_list ap;
	va_start(ap, fmt);
	tier_buf_vprintf(&b, fmt, ap);
	va_end(ap);
	char *m = tier_buf_detach(&b);
	if (m && tier_vec_push(&why->pending, m) < 0)
		free(m);
}

static void reason_add(struct reasons *why, const char *tier, const char *msg)
{
	tier_buf_printf(&why->text, "%stier '%s': %s",
	                why->text.size ? "; " : "", tier, msg);
}

/*
 * A get failed on tier i: an offline tier is left for the rest of the run,
 * a pack that is missing or unreadable there is remembered as bad.
 * Caller holds r->io.
 */
static void read_failed(struct restore_run *r, size_t i, uint32_t pack, int rc,
                        struct reasons *why)
{
	struct rtier *t = &r->t[i];
	char msg[1024], ph[SHORT_HEX + 1], own[300];
	const char *last = tier_error_last();
	/* the location names the tier already; the reasons name it too */
	snprintf(own, sizeof(own), "tier '%s': ", t->name);
	if (!strncmp(last, own, strlen(own)))
		last += strlen(own);
	snprintf(msg, sizeof(msg), "%s", last);
	tier_restore_short_hex(ph, tier_chunkmap_pack_id(r->map, pack));
	if (rc == TIER_EOFFLINE || tier_location_is_offline(t->loc)) {
		t->usable = 0;
		reason_add(why, t->name, "offline");
		tier_restore_warn(
		        r,
		        "tier '%s' went offline (%s); reading from the other tiers",
		        t->name, msg);
		return;
	}
	/* two workers can read the same pack at once: the damage is reported
	 * (and counted) by the first to find it */
	int known = t->bad[pack];
	t->bad[pack] = 1;
	why->any_damage = 1;
	if (rc == TIER_ENOTFOUND) {
		reason_add(why, t->name, "the pack is missing");
		if (!known)
			reasons_pending(why, "tier '%s': pack %s is missing",
			                t->name, ph);
	} else {
		reason_add(why, t->name, msg);
		if (!known)
			reasons_pending(why,
			                "tier '%s': cannot read pack %s (%s)",
			                t->name, ph, msg);
	}
}

/*
 * Get [off, off+len) of pack into buf from the first usable tier that
 * holds it.  Returns the tier index, or -1 with why filled.  A tier found
 * without the pack before the one that served is reported as damage.
 * Caller holds r->io.
 */
static tier_location *loc_of(struct worker *w, size_t i)
{
	return w && w->locs && w->locs[i] ? w->locs[i] : w->r->t[i].loc;
}

/* Callers of fetch/chunk_fallback hold r->io only when w has no own
 * connections; the bookkeeping below is short and takes r->io itself
 * otherwise. */
static void io_lock(struct worker *w)
{
	if (w->locs)
		pthread_mutex_lock(&w->r->io);
}

static void io_unlock(struct worker *w)
{
	if (w->locs)
		pthread_mutex_unlock(&w->r->io);
}

static long fetch(struct worker *w, uint32_t pack, uint64_t off, size_t len,
                  unsigned char *buf, struct reasons *why)
{
	struct restore_run *r = w->r;
	const unsigned char *pid = tier_chunkmap_pack_id(r->map, pack);
	char path[80], ph[SHORT_HEX + 1];
	tier_data_pack_path(path, pid);
	for (size_t i = 0; i < r->ntiers; i++) {
		struct rtier *t = &r->t[i];
		struct sink s = {buf, len, 0};
		io_lock(w);
		int skip = !t->usable || t->bad[pack];
		io_unlock(w);
		if (skip)
			continue;
		int rc = tier_location_get(loc_of(w, i), path, off, len,
		                           sink_cb, &s);
		if (rc == 0 && s.got != len)
			rc = tier_error_set(TIER_ECORRUPT,
			                    "pack %s on tier '%s' is truncated",
			                    tier_restore_short_hex(ph, pid),
			                    t->name);
		io_lock(w);
		if (rc == 0)
			reasons_served(r, why, t->name);
		else
			read_failed(r, i, pack, rc, why);
		io_unlock(w);
		if (rc == 0)
			return (long)i;
	}
	return -1;
}

static void entry_of(tier_pack_entry *e, const tier_chunk_loc *l)
{
	memcpy(e->id, l->id, TIER_HASH_LEN);
	e->offset = l->offset;
	e->stored_len = l->stored_len;
	e->raw_len = l->raw_len;
	e->flags = l->flags;
}

/*
 * A chunk failed its hash on tier src: read it alone from the other
 * tiers.  Caller holds r->io.  Returns 0 with the chunk in w->raw, or
 * TIER_ECORRUPT / TIER_EOFFLINE naming the file and the chunk.
 */
static int chunk_fallback(struct worker *w, const tier_chunk_loc *l, size_t src,
                          const char *file)
{
	struct restore_run *r = w->r;
	const unsigned char *pid = tier_chunkmap_pack_id(r->map, l->pack);
	struct reasons why = REASONS_INIT;
	char path[80], ch[SHORT_HEX + 1], ph[SHORT_HEX + 1];
	unsigned char *stored = NULL;
	size_t cap = 0;
	tier_pack_entry e;
	int rc;

	entry_of(&e, l);
	tier_data_pack_path(path, pid);
	tier_restore_short_hex(ch, l->id);
	tier_restore_short_hex(ph, pid);
	r->t[src].bad[l->pack] = 1;
	why.any_damage = 1;
	reason_add(&why, r->t[src].name, "fails its hash");
	reasons_pending(&why, "tier '%s': chunk %s in pack %s fails its hash",
	                r->t[src].name, ch, ph);
	if (grow(&stored, &cap, l->stored_len ? l->stored_len : 1) < 0) {
		reasons_dispose(&why);
		return TIER_ERROR;
	}
	for (size_t i = 0; i < r->ntiers; i++) {
		struct rtier *t = &r->t[i];
		struct sink s = {stored, l->stored_len, 0};
		if (i == src || !t->usable || t->bad[l->pack])
			continue;
		rc = tier_location_get(loc_of(w, i), path, l->offset,
		                       l->stored_len, sink_cb, &s);
		if (rc == 0 && s.got != l->stored_len)
			rc = tier_error_set(TIER_ECORRUPT, "pack is truncated");
		if (rc < 0) {
			read_failed(r, i, l->pack, rc, &why);
			continue;
		}
		rc = tier_pack_chunk_decode(&e, pid, stored, l->stored_len,
		                            w->raw, w->raw_cap,
		                            tier_vault_keys(r->v));
		if (rc < 0) {
			t->bad[l->pack] = 1;
			reason_add(&why, t->name, "fails its hash");
			reasons_pending(
			        &why,
			        "tier '%s': chunk %s in pack %s fails its hash",
			        t->name, ch, ph);
			continue;
		}
		reasons_served(r, &why, t->name);
		free(stored);
		reasons_dispose(&why);
		return 0;
	}
	free(stored);
	rc = tier_error_set(
	        TIER_ECORRUPT,
	        "cannot restore '%s': chunk %s in pack %s is damaged on "
	        "every tier (%s)",
	        tier_restore_show(file), ch, ph, tier_buf_cstr(&why.text));
	reasons_dispose(&why);
	return rc;
}

static int file_failed(struct restore_run *r, struct rfile *f)
{
	pthread_mutex_lock(&r->lock);
	int failed = f->failed;
	pthread_mutex_unlock(&r->lock);
	return failed;
}

/*
 * The file's temporary, created once.  Not under r->lock: creating
 * thousands of small files is most of a restore's system time, and the
 * other worker must go on reading meanwhile.
 */
static int ensure_open(struct restore_run *r, struct rfile *f)
{
	int rc = 0;
	pthread_mutex_lock(&r->lock);
	while (f->opening)
		pthread_cond_wait(&r->opened, &r->lock);
	if (f->fd >= 0) {
		pthread_mutex_unlock(&r->lock);
		return 0;
	}
	f->opening = 1;
	pthread_mutex_unlock(&r->lock);
	rc = tier_restore_rfile_open(f);
	pthread_mutex_lock(&r->lock);
	f->opening = 0;
	pthread_cond_broadcast(&r->opened);
	pthread_mutex_unlock(&r->lock);
	return rc;
}

static int any_usable(struct restore_run *r)
{
	int any = 0;
	pthread_mutex_lock(&r->io);
	for (size_t i = 0; i < r->ntiers; i++)
		any |= r->t[i].usable;
	pthread_mutex_unlock(&r->io);
	return any;
}

/* One job being read by a worker. */
struct job_read {
	struct worker *w;
	struct job *j;
	const unsigned char *pid;    /* the job's pack */
	long src;                    /* the tier that served it, -1: none */
	struct reasons why;          /* why the tiers before src did not */
	const tier_chunk_loc *ready; /* the chunk decoded in w->raw */
	uint64_t bytes, chunks;      /* written, decoded */
};

/* The job's range from the first tier that has it; -1: stop the run. */
static int fetch_job(struct job_read *jr)
{
	struct worker *w = jr->w;
	struct restore_run *r = w->r;
	size_t len = (size_t)(jr->j->end - jr->j->start);
	if (grow(&w->buf, &w->buf_cap, len ? len : 1) < 0) {
		tier_restore_set_fatal(r, TIER_ERROR);
		return -1;
	}
	if (!w->locs)
		pthread_mutex_lock(&r->io);
	jr->src = fetch(w, jr->j->pack, jr->j->start, len, w->buf, &jr->why);
	if (!w->locs)
		pthread_mutex_unlock(&r->io);
	return 0;
}

/* No tier served the range: the piece's file fails, saying why. */
static void piece_unreadable(struct job_read *jr, struct piece *p)
{
	struct restore_run *r = jr->w->r;
	char ch[SHORT_HEX + 1], ph[SHORT_HEX + 1];
	tier_buf m = TIER_BUF_INIT;
	/* no reason this time: every usable tier was found without the pack before */
	int damage =
	        jr->why.any_damage || (!jr->why.text.size && any_usable(r));
	tier_buf_printf(
	        &m,
	        "cannot restore '%s': pack %s of chunk %s cannot be read from "
	        "any tier (%s)",
	        tier_restore_show(p->f->snap),
	        tier_restore_short_hex(ph, jr->pid),
	        tier_restore_short_hex(ch, p->loc.id),
	        jr->why.text.size ? jr->why.text.ptr
	        : damage          ? "missing or damaged on every tier"
	                          : "every tier is offline");
	tier_restore_entry_failed(r, damage ? TIER_ECORRUPT : TIER_EOFFLINE,
	                          tier_buf_cstr(&m));
	tier_buf_dispose(&m);
	tier_restore_piece_done(r, p->f, 0);
}

/*
 * The piece's chunk into w->raw, from the range or, failing its hash,
 * from another tier.  0: decoded; 1: the piece failed; -1: stop the job.
 */
static int decode_chunk(struct job_read *jr, struct piece *p)
{
	struct worker *w = jr->w;
	struct restore_run *r = w->r;
	const tier_chunk_loc *l = &p->loc;
	tier_pack_entry e;
	int rc;
	entry_of(&e, l);
	if (grow(&w->raw, &w->raw_cap, l->raw_len ? l->raw_len : 1) < 0) {
		tier_restore_set_fatal(r, TIER_ERROR);
		return -1;
	}
	rc = tier_pack_chunk_decode(
	        &e, jr->pid, w->buf + (l->offset - jr->j->start), l->stored_len,
	        w->raw, w->raw_cap, tier_vault_keys(r->v));
	if (rc < 0) {
		pthread_mutex_lock(&r->io);
		rc = chunk_fallback(w, l, (size_t)jr->src, p->f->snap);
		pthread_mutex_unlock(&r->io);
	}
	if (rc < 0) {
		jr->ready = NULL;
		tier_restore_entry_failed(r, rc, tier_error_last());
		tier_restore_piece_done(r, p->f, 0);
		return 1;
	}
	jr->ready = l;
	jr->chunks++;
	return 0;
}

/* The decoded chunk into its file; -1: stop the job. */
static int write_piece(struct job_read *jr, struct piece *p)
{
	struct worker *w = jr->w;
	struct restore_run *r = w->r;
	const tier_chunk_loc *l = &p->loc;
	int rc;
	if ((rc = ensure_open(r, p->f)) < 0 ||
	    (rc = tier_restore_write_at(p->f->fd, w->raw, l->raw_len, p->off,
	                                p->f->path)) < 0) {
		if (tier_restore_entry_error(r, rc) < 0) {
			tier_restore_set_fatal(r, rc);
			return -1;
		}
		tier_restore_piece_done(r, p->f, 0);
		return 0;
	}
	jr->bytes += l->raw_len;
	tier_restore_piece_done(r, p->f, 1);
	test_kill_point(r);
	return 0;
}

/* One piece of the job; -1: stop the job. */
static int read_piece(struct job_read *jr, struct piece *p)
{
	struct restore_run *r = jr->w->r;
	int rc;
	if (tier_restore_aborted(r))
		return -1;
	if (file_failed(r, p->f)) {
		tier_restore_piece_done(r, p->f, 0);
		return 0;
	}
	if (jr->src < 0) {
		piece_unreadable(jr, p);
		return 0;
	}
	/* the same chunk twice in a row (a file of repeats) is decoded once */
	const tier_chunk_loc *ready = jr->ready;
	if ((!ready || ready->pack != p->loc.pack ||
	     ready->offset != p->loc.offset) &&
	    (rc = decode_chunk(jr, p)) != 0)
		return rc < 0 ? -1 : 0;
	return write_piece(jr, p);
}

static void run_job(struct worker *w, struct job *j)
{
	struct restore_run *r = w->r;
	struct job_read jr = {w, j, NULL, -1, REASONS_INIT, NULL, 0, 0};

	jr.pid = tier_chunkmap_pack_id(r->map, j->pack);
	if (tier_restore_aborted(r) || fetch_job(&jr) < 0)
		return;
	for (size_t i = 0; i < j->n; i++)
		if (read_piece(&jr, &j->p[i]) < 0)
			break;
	reasons_dispose(&jr.why);
	pthread_mutex_lock(&r->lock);
	r->stats->bytes += jr.bytes;
	r->stats->chunks += jr.chunks;
	pthread_mutex_unlock(&r->lock);
}

void *tier_restore_worker_main(void *arg)
{
	struct worker *w = arg;
	struct restore_run *r = w->r;
	for (;;) {
		struct job *j = NULL;
		pthread_mutex_lock(&r->lock);
		while (r->qlen == 0 && !r->planning_done && !r->abort)
			pthread_cond_wait(&r->nonempty, &r->lock);
		if (r->qlen > 0) {
			j = r->queue[r->qhead];
			r->qhead = (r->qhead + 1) % QUEUE_CAP;
			r->qlen--;
			pthread_cond_broadcast(&r->nonfull);
		}
		pthread_mutex_unlock(&r->lock);
		if (!j)
			break;
		run_job(w, j);
		tier_restore_job_free(j);
	}
	return NULL;
}

/* ---- one file in order (tier-cat) -------------------------------------- */

/*
 * Chunks of n from chunk i on that one ranged get covers, as a restore job
 * would group them: same pack, in order, gaps under JOB_GAP, at most
 * JOB_MAX_BYTES.  Returns how many (at least 1) or < 0.
 */
static long gather(struct restore_run *r, const tier_node *n, size_t i,
                   const char *snap, tier_chunk_loc *locs, size_t cap)
{
	size_t k = 0;
	for (; i + k < n->nchunks && k < cap; k++) {
		tier_chunk_loc *l = &locs[k];
		char ch[SHORT_HEX + 1];
		int found = tier_chunkmap_find(r->map, n->chunks[i + k].id, l);
		if (found < 0)
			return found;
		if (!found || l->raw_len != n->chunks[i + k].len)
			return tier_error_set(
			        TIER_ECORRUPT,
			        "cannot read '%s': chunk %s is %s",
			        tier_restore_show(snap),
			        tier_restore_short_hex(ch, n->chunks[i + k].id),
			        found ? "not the length the file says"
			              : "in no pack of the vault");
		if (k == 0)
			continue;
		uint64_t start = locs[0].offset,
		         end = locs[k - 1].offset + locs[k - 1].stored_len;
		uint64_t nend = l->offset + l->stored_len;
		if (l->pack != locs[0].pack || l->offset < start ||
		    l->offset > end + JOB_GAP ||
		    (nend > end ? nend : end) - start > JOB_MAX_BYTES)
			break;
	}
	return (long)k;
}

int tier_restore_read_node(struct restore_run *r, const tier_node *n,
                           const char *snap, tier_restore_sink_fn sink,
                           void *payload)
{
	enum { CAP = 1024 };
	struct worker *w = &r->w[0];
	tier_chunk_loc *locs = tier_calloc(CAP, sizeof(*locs));
	int rc = 0;

	w->r = r;
	if (!locs)
		return TIER_ERROR;
	for (size_t i = 0; i < n->nchunks && rc == 0;) {
		long k = gather(r, n, i, snap, locs, CAP);
		if (k < 0) {
			rc = (int)k;
			break;
		}
		uint64_t start = locs[0].offset, end = start;
		for (long j = 0; j < k; j++)
			if (locs[j].offset + locs[j].stored_len > end)
				end = locs[j].offset + locs[j].stored_len;
		struct job job = {locs[0].pack, start, end, NULL, 0, 0};
		struct job_read jr = {w,    &job, NULL, -1, REASONS_INIT,
		                      NULL, 0,    0};
		jr.pid = tier_chunkmap_pack_id(r->map, job.pack);
		if (fetch_job(&jr) < 0) {
			rc = r->fatal_code ? r->fatal_code : TIER_ERROR;
		} else if (jr.src < 0) {
			char ch[SHORT_HEX + 1], ph[SHORT_HEX + 1];
			int damage = jr.why.any_damage ||
			             (!jr.why.text.size && any_usable(r));
			rc = tier_error_set(
			        damage ? TIER_ECORRUPT : TIER_EOFFLINE,
			        "cannot read '%s': pack %s of chunk %s cannot be "
			        "read from any tier (%s)",
			        tier_restore_show(snap),
			        tier_restore_short_hex(ph, jr.pid),
			        tier_restore_short_hex(ch, locs[0].id),
			        jr.why.text.size ? jr.why.text.ptr
			        : damage ? "missing or damaged on every tier"
			                 : "every tier is offline");
		}
		for (long j = 0; j < k && rc == 0; j++) {
			tier_pack_entry e;
			entry_of(&e, &locs[j]);
			if (grow(&w->raw, &w->raw_cap,
			         locs[j].raw_len ? locs[j].raw_len : 1) < 0) {
				rc = TIER_ERROR;
				break;
			}
			rc = tier_pack_chunk_decode(
			        &e, jr.pid, w->buf + (locs[j].offset - start),
			        locs[j].stored_len, w->raw, w->raw_cap,
			        tier_vault_keys(r->v));
			if (rc < 0) {
				pthread_mutex_lock(&r->io);
				rc = chunk_fallback(w, &locs[j], (size_t)jr.src,
				                    snap);
				pthread_mutex_unlock(&r->io);
			}
			if (rc == 0 && sink(w->raw, locs[j].raw_len, payload))
				rc = tier_error_set(TIER_EABORTED,
				                    "reading '%s' stopped",
				                    tier_restore_show(snap));
			if (rc == 0) {
				r->stats->bytes += locs[j].raw_len;
				r->stats->chunks++;
			}
		}
		reasons_dispose(&jr.why);
		i += (size_t)k;
	}
	free(locs);
	return rc;
}
