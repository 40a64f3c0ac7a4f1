/*
 * Sync's data: copying the data packs a log entry added to a tier that
 * lacks them (R6), each fetched into a temporary file and verified by its
 * hash before it is put, from the source or any other tier that has it
 * intact; two threads when an entry added many packs.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hash.h"
#include "packfetch.h"
#include "snapshot.h"
#include "sync_int.h"
#include "util/error.h"
#include "util/posix.h"

struct copy_sink {
	struct sync *s;
	int fd;
	tier_sha256_ctx sha;
	uint64_t got;
	int rc;
};

static int copy_sink_cb(const void *data, size_t len, void *payload)
{
	struct copy_sink *c = payload;
	if ((c->got & ((1u << 20) - 1)) + len >= (1u << 20) &&
	    (c->rc = tier_sync_should_stop(c->s)) < 0)
		return -1; /* checked every MiB: well within a second */
	if ((c->fd >= 0 &&
	     (c->rc = tier_write_all(c->fd, data, len, "sync temporary file")) <
	             0) ||
	    (c->rc = tier_sha256_update(&c->sha, data, len)) < 0)
		return -1;
	c->got += len;
	return 0;
}

static int fetch_stop_cb(void *payload)
{
	return tier_sync_should_stop(payload);
}

/* Fetch pack `id` from tier src into a verified temp file (fd open at *fd). */
static int fetch_pack(struct sync *s, tier_location *src,
                      const struct added_pack *p, int *fd, char *tmppath,
                      size_t cap)
{
	return tier_pack_fetch(src, p->id, p->size, s->tmpdir, "sync",
	                       fetch_stop_cb, s, fd, tmppath, cap, NULL);
}

/*
 * Whether the pack already on the target is the real one.  It can only be
 * there from an interrupted sync or a failed write; on an honest store an
 * atomic put makes it whole, but a store that tore or garbled it must not
 * end up referenced (read back and hashed: reading costs less than writing).
 */
static int existing_pack_ok(struct sync *s, tier_location *dst,
                            const struct added_pack *p)
{
	char path[80];
	unsigned char got[TIER_HASH_LEN];
	struct copy_sink c = {s, -1, TIER_SHA256_CTX_INIT, 0, 0};
	int rc;
	tier_data_pack_path(path, p->id);
	if ((rc = tier_sha256_init(&c.sha)) < 0)
		return rc;
	rc = tier_location_get(dst, path, 0, UINT64_MAX, copy_sink_cb, &c);
	if (rc == TIER_EABORTED && c.rc < 0)
		rc = tier_error_set(c.rc, "%s", tier_error_last());
	if (rc == 0)
		rc = tier_sha256_final(&c.sha, got);
	tier_sha256_dispose(&c.sha);
	if (rc < 0)
		return rc;
	return memcmp(got, p->id, TIER_HASH_LEN) == 0;
}

/* The tier's location for this thread: its own clone, else the vault's. */
static tier_location *loc_at(struct sync *s, tier_location **locs, size_t i)
{
	return locs && locs[i] ? locs[i] : tier_vault_location(s->v, i);
}

/*
 * Resumed sync: a pack put whole before the interruption is kept, once it
 * proves to be the pack its name says.  1: keep it; 0: copy it.
 */
static int pack_already_there(struct sync *s, tier_location *dst,
                              const struct added_pack *p, const char *path)
{
	tier_stat st;
	int rc = tier_location_stat(dst, path, &st);
	if (rc == 0 && (!p->size || st.size == p->size)) {
		int ok = existing_pack_ok(s, dst, p);
		if (ok < 0 && ok != TIER_ECORRUPT && ok != TIER_ENOTFOUND)
			return ok;
		if (ok == 1) {
			tier_sync_count(s, &s->st.skipped, 1);
			return 1;
		}
		char msg[512];
		snprintf(
		        msg, sizeof(msg),
		        "tier '%s': pack %s there is damaged; copying it again",
		        tier_location_name(dst), path);
		tier_sync_warn(s, msg);
		tier_sync_count(s, &s->st.damaged, 1);
	} else if (rc < 0 && rc != TIER_ENOTFOUND)
		return rc;
	return 0;
}

/*
 * From the source, else from any other tier at a revision that has it,
 * into a verified temp file (*fd, at tmp).
 */
static int fetch_from_any(struct sync *s, tier_location **locs, size_t dst_i,
                          size_t src_i, const struct added_pack *p, int *fd,
                          char *tmp, size_t cap, const char *path)
{
	tier_vault *v = s->v;
	size_t n = tier_vault_tier_count(v);
	int rc, last = TIER_ENOTFOUND;
	for (size_t k = 0; k <= n; k++) {
		size_t i = k == 0 ? src_i : k - 1;
		if ((k > 0 && i == src_i) || i == dst_i)
			continue;
		const tier_info *in = tier_vault_tier_info(v, i);
		if (!in->online || in->state != TIER_STATE_OK)
			continue;
		rc = fetch_pack(s, loc_at(s, locs, i), p, fd, tmp, cap);
		if (rc == TIER_EABORTED)
			return rc;
		if (rc == 0)
			break;
		last = rc;
		if (rc == TIER_ECORRUPT || rc == TIER_ENOTFOUND) {
			char msg[1024];
			snprintf(msg, sizeof(msg), "%s; trying another tier",
			         tier_error_last());
			tier_sync_warn(s, msg);
			tier_sync_count(s, &s->st.damaged, 1);
		}
	}
	if (*fd < 0)
		return tier_error_set(
		        last, "no tier has pack %s intact for tier '%s': %s",
		        path, tier_location_name(loc_at(s, locs, dst_i)),
		        tier_error_last());
	return 0;
}

/* The fetched pack onto dst; the temp file goes either way. */
static int put_fetched(struct sync *s, tier_location *dst, const char *path,
                       int fd, char *tmp)
{
	struct stat sb;
	int rc;
	if (fstat(fd, &sb) < 0) {
		rc = tier_error_set_errno(TIER_ERROR, errno, "cannot stat '%s'",
		                          tmp);
	} else {
		/* the temp file is this tier's alone: a local tier may link it */
		tier_source src = {NULL, fd, (uint64_t)sb.st_size, tmp};
		rc = tier_location_put(dst, path, &src, 0);
		if (rc == 0) {
			tier_sync_count(s, &s->st.packs, 1);
			tier_sync_count(s, &s->st.bytes, (uint64_t)sb.st_size);
		}
	}
	close(fd);
	unlink(tmp);
	return rc;
}

static int copy_pack(struct sync *s, tier_location **locs, size_t dst_i,
                     size_t src_i, const struct added_pack *p)
{
	tier_location *dst = loc_at(s, locs, dst_i);
	char path[80], tmp[PATH_MAX];
	int rc, fd = -1;

	tier_data_pack_path(path, p->id);
	if ((rc = pack_already_there(s, dst, p, path)) != 0)
		return rc < 0 ? rc : 0;
	if ((rc = fetch_from_any(s, locs, dst_i, src_i, p, &fd, tmp,
	                         sizeof(tmp), path)) < 0)
		return rc;
	return put_fetched(s, dst, path, fd, tmp);
}

/* ---- the packs of one entry, two at a time ----------------------------- */

/*
 * A pack copy is a read, a SHA-256 and a write: one thread leaves a core
 * idle while the other waits on the disk.  Two threads, the second with
 * its own connection to every tier (a location is used by one thread at
 * a time).  Few packs are not worth a second login.
 */
#define COPY_THREADS 2

#define COPY_THREAD_MIN 4 /* packs */

struct copy_run {
	struct sync *s;
	size_t dst_i, src_i;
	const struct added_pack *packs;
	size_t np, next;
	int rc;
	char msg[1024];
};

struct copy_worker {
	struct copy_run *run;
	tier_location **locs; /* NULL: the vault's own */
	size_t nlocs;
	pthread_t th;
	int started;
};

static void *copy_worker_run(void *arg)
{
	struct copy_worker *w = arg;
	struct copy_run *run = w->run;
	struct sync *s = run->s;
	for (;;) {
		pthread_mutex_lock(&s->lock);
		size_t j = run->next++;
		int stop = run->rc < 0 || j >= run->np;
		pthread_mutex_unlock(&s->lock);
		if (stop)
			break;
		int rc = tier_sync_should_stop(s);
		if (rc == 0)
			rc = copy_pack(s, w->locs, run->dst_i, run->src_i,
			               &run->packs[j]);
		if (rc < 0) {
			pthread_mutex_lock(&s->lock);
			if (run->rc == 0) {
				run->rc = rc;
				snprintf(run->msg, sizeof(run->msg), "%s",
				         tier_error_last());
			}
			pthread_mutex_unlock(&s->lock);
			break;
		}
	}
	return NULL;
}

static void free_locs(tier_location **locs, size_t n)
{
	for (size_t i = 0; locs && i < n; i++)
		tier_location_free(locs[i]);
	free(locs);
}

int tier_sync_copy_packs(struct sync *s, size_t dst_i, size_t src_i,
                         const struct added_pack *packs, size_t np)
{
	struct copy_run run = {s, dst_i, src_i, packs, np, 0, 0, ""};
	struct copy_worker w[COPY_THREADS];
	size_t nt = tier_vault_tier_count(s->v);
	size_t nw = np >= COPY_THREAD_MIN ? COPY_THREADS : 1;
	memset(w, 0, sizeof(w));
	for (size_t k = 0; k < nw; k++) {
		w[k].run = &run;
		if (k == 0)
			continue;
		/* clones of every tier: copy_pack may fall back to any of them */
		w[k].locs = tier_calloc(nt, sizeof(*w[k].locs));
		w[k].nlocs = nt;
		int ok = w[k].locs != NULL;
		for (size_t i = 0; ok && i < nt; i++)
			ok = tier_location_clone(
			             &w[k].locs[i],
			             tier_vault_location(s->v, i)) == 0;
		if (ok)
			w[k].started =
			        pthread_create(&w[k].th, NULL, copy_worker_run,
			                       &w[k]) == 0;
	}
	copy_worker_run(&w[0]);
	for (size_t k = 1; k < nw; k++) {
		if (w[k].started)
			pthread_join(w[k].th, NULL);
		free_locs(w[k].locs, w[k].nlocs);
	}
	if (run.rc < 0)
		return tier_error_set(run.rc, "%s", run.msg);
	return 0;
}
