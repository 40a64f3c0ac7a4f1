/*
 * The write transaction (R3): every online, synchronised tier takes the
 * revision, or the write waits for one to come back.  Begin takes the
 * installation's lock and probes again (R8 before any write), picks the
 * targets; puts send each data object to every target in parallel (a
 * target that fails is dropped); commit builds the revision's commit and
 * log pack once and moves each target's head (R9, tier_ref_move).
 */
#include "write.h"

#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <dirent.h>
#include <errno.h>

#include "log.h"
#include "odb_frozen.h"
#include "retry.h"
#include "streampack.h"
#include "util/error.h"
#include "util/posix.h"
#include "tierref.h"
#include "vault_int.h"

/* Consolidate a tier's log packs every this many revisions (docs/format.md). */
#define LOG_CONSOLIDATE_EVERY 32

struct tier_write {
	tier_vault *v;
	char op[32];
	/* the cache, opened again with a streaming pack on top */
	git_repository *repo;
	git_odb_backend *stream, *frozen; /* the odb's: freed with it */
	char packdir[PATH_MAX];           /* the stream's directory ("" none) */
	git_oid parent;
	int has_parent;
	uint64_t revision;
	size_t n;
	tier_write_outcome *outcome;
	tier_buf *error;
	/* one per tier: a location that push's two uploaders share (one with
	 * no clone: a file or fault+ tier) is used by one put at a time */
	pthread_mutex_t *loc_mu;
	size_t n_mu;   /* how many of them are initialised */
	git_time when; /* the revision's time, when has_when */
	int has_when;
};

static size_t pick_targets(tier_write *w)
{
	tier_vault *v = w->v;
	size_t targets = 0;
	w->has_parent = 0;
	for (size_t i = 0; i < v->n; i++) {
		tier_info *in = &v->t[i].info;
		tier_buf_clear(&w->error[i]);
		if (in->state == TIER_STATE_REFUSED ||
		    in->state == TIER_STATE_DAMAGED) {
			/* not away: broken or refusing us; waiting would not help */
			w->outcome[i] = TIER_WRITE_FAILED;
			tier_buf_sets(&w->error[i],
			              in->problem ? in->problem : "unusable");
		} else if (!in->online || in->state == TIER_STATE_OFFLINE) {
			w->outcome[i] = TIER_WRITE_SKIPPED_OFFLINE;
			tier_buf_sets(&w->error[i],
			              in->problem ? in->problem : "offline");
		} else if (!in->synchronized) {
			w->outcome[i] = TIER_WRITE_SKIPPED_UNSYNCHRONIZED;
			tier_buf_printf(&w->error[i],
			                "at revision %llu of %llu",
			                (unsigned long long)in->revision,
			                (unsigned long long)v->max_rev);
		} else {
			w->outcome[i] = TIER_WRITE_WRITTEN;
			if (!targets && v->t[i].has_head) {
				git_oid_cpy(&w->parent, &v->t[i].head);
				w->has_parent = 1;
			}
			targets++;
		}
	}
	/* synchronised tiers share a revision; they must share the commit too */
	for (size_t i = 0; i < v->n && w->has_parent; i++)
		if (w->outcome[i] == TIER_WRITE_WRITTEN &&
		    (!v->t[i].has_head ||
		     !git_oid_equal(&v->t[i].head, &w->parent))) {
			w->outcome[i] = TIER_WRITE_SKIPPED_UNSYNCHRONIZED;
			tier_buf_sets(&w->error[i],
			              "its head differs from the other tiers'");
			targets--;
		}
	return targets;
}

/* Why no tier can take the write: each tier's reason, "; " between. */
static void no_target_why(tier_write *w, tier_buf *why)
{
	tier_buf_clear(why);
	for (size_t i = 0; i < w->v->n; i++)
		tier_buf_printf(why, "%s%s", i ? "; " : "",
		                tier_buf_cstr(&w->error[i]));
}

/*
 * R3 waits for tiers that are away; with none away there is nothing to
 * wait for (a refused login, a damaged log): fail at once.  So does a
 * write told not to wait (--wait-timeout 0).
 */
static int wait_allowed(tier_write *w, const tier_buf *why)
{
	tier_vault *v = w->v;
	int away = 0, refused = 0;
	for (size_t i = 0; i < v->n; i++) {
		away |= v->t[i].info.state == TIER_STATE_OFFLINE ||
		        (v->t[i].info.state == TIER_STATE_OK &&
		         !v->t[i].info.synchronized);
		refused |= v->t[i].info.state == TIER_STATE_REFUSED;
	}
	if (!away)
		return tier_error_set(refused ? TIER_EAUTH : TIER_ECORRUPT,
		                      "no tier can take the write: %s",
		                      tier_buf_cstr(why));
	if (v->wait_timeout_ms == 0)
		return tier_error_set(TIER_EOFFLINE,
		                      "no tier can take the write: %s",
		                      tier_buf_cstr(why));
	return 0;
}

static void wait_notice(tier_vault *v, const tier_buf *why)
{
	if (!v->notice)
		return;
	tier_buf msg = TIER_BUF_INIT;
	tier_buf_printf(
	        &msg,
	        "no tier can take the write now (%s); waiting for one to come back%s",
	        tier_buf_cstr(why),
	        v->wait_timeout_ms < 0 ? " (for ever; --wait-timeout bounds it)"
	                               : "");
	v->notice(tier_buf_cstr(&msg), v->notice_payload);
	tier_buf_dispose(&msg);
}

/* A write waiting for a target: back-off, since when, why. */
struct write_wait {
	tier_retry_policy pol;
	uint64_t rng;
	int64_t start;
	tier_buf why;
};

/*
 * Sleep attempt's back-off delay, never past the timeout: TIER_ETIMEOUT
 * once that is reached, TIER_EABORTED when the sleep is cancelled.
 */
static int wait_sleep(tier_write *w, struct write_wait *ww, unsigned attempt)
{
	tier_vault *v = w->v;
	unsigned int d = tier_retry_delay(&ww->pol, attempt < 20 ? attempt : 20,
	                                  &ww->rng);
	if (v->wait_timeout_ms > 0) {
		int64_t left = ww->start + v->wait_timeout_ms - tier_now_ms();
		if (left <= 0)
			return tier_error_set(
			        TIER_ETIMEOUT,
			        "gave up waiting for a tier after %lld s: %s",
			        (long long)(v->wait_timeout_ms / 1000),
			        tier_buf_cstr(&ww->why));
		if ((int64_t)d > left)
			d = (unsigned int)left;
	}
	if (v->lopts.sleep ? v->lopts.sleep(d, v->lopts.payload)
	                   : tier_retry_nanosleep(d, NULL))
		return tier_error_set(TIER_EABORTED,
		                      "cancelled while waiting for a tier");
	return 0;
}

/*
 * The tiers whose head read is retried in the background (the probe of a
 * write, tier_vault_probe_write): wait for them and probe again.  1 when
 * that gave the write a target, 0 when there was none to wait for or it
 * gave none.
 */
static int settle_pending(tier_write *w)
{
	tier_vault *v = w->v;
	int pending = 0, rc;
	for (size_t i = 0; i < v->n; i++)
		pending |= tier_reach_pending(v, &v->t[i]);
	if (!pending)
		return 0;
	/* tier_vault_probe() waits for every tier */
	if ((rc = tier_vault_probe(v)) < 0 ||
	    (rc = tier_vault_check_write(v)) < 0)
		return rc;
	return pick_targets(w) ? 1 : 0;
}

/*
 * R3: no tier can take the write.  Probe with back-off until one can, or
 * until the wait times out.  Says once what it waits for.
 */
static int wait_for_target(tier_write *w)
{
	tier_vault *v = w->v;
	struct write_wait ww = {
	        {UINT_MAX,
	         v->lopts.retry_delay ? v->lopts.retry_delay
	                              : TIER_DEFAULT_RETRY_DELAY_MS,
	         v->lopts.retry_cap ? v->lopts.retry_cap
	                            : TIER_DEFAULT_RETRY_CAP_MS},
	        (uint64_t)getpid() * 0x9E3779B97F4A7C15ull,
	        tier_now_ms(),
	        TIER_BUF_INIT};
	int rc;

	/* R1 before R3's wait: what the tiers retried meanwhile answer */
	if ((rc = settle_pending(w)) != 0)
		return rc < 0 ? rc : 0;
	no_target_why(w, &ww.why);
	if ((rc = wait_allowed(w, &ww.why)) < 0)
		goto out;
	wait_notice(v, &ww.why);
	for (unsigned attempt = 0;; attempt++) {
		if ((rc = wait_sleep(w, &ww, attempt)) < 0)
			break;
		for (size_t i = 0; i < v->n; i++)
			tier_location_reset(v->t[i].loc);
		/* R5 and R8 again: whoever came back may have moved on */
		if ((rc = tier_vault_probe(v)) < 0 ||
		    (rc = tier_vault_check_write(v)) < 0)
			break;
		if (pick_targets(w)) {
			if (v->notice)
				v->notice("a tier is back; writing",
				          v->notice_payload);
			rc = 0;
			break;
		}
		no_target_why(w, &ww.why);
	}
out:
	tier_buf_dispose(&ww.why);
	return rc;
}

/* The lock, and R8 again under it: what we saw at open may be stale. */
static int write_lock(tier_vault *v, const char *op)
{
	int rc;
	if ((rc = tier_installation_lock(v, 0, op)) < 0)
		return rc;
	/* test hook (docs/testing.md): hold the lock that long, so that a
	 * second process finds it taken */
	const char *hold = getenv("TIER_TEST_LOCK_HOLD");
	if (hold && *hold)
		tier_retry_nanosleep((unsigned int)strtoul(hold, NULL, 10),
		                     NULL);
	/* a tier that does not answer at once is retried meanwhile */
	if ((rc = tier_vault_probe_write(v)) < 0 ||
	    (rc = tier_vault_check_write(v)) < 0) {
		tier_installation_unlock(v);
		return rc;
	}
	return 0;
}

/*
 * The directories of writes that died (the lock is ours: no live write
 * has one), then ours: "<cache>/tmp/logpack-XXXXXX".
 */
static int make_packdir(tier_write *w)
{
	char tmp[PATH_MAX], old[PATH_MAX + 300];
	int rc;
	snprintf(tmp, sizeof(tmp), "%s/tmp", git_repository_path(w->v->cache));
	if ((rc = tier_mkdir_p(tmp, 0700)) < 0)
		return rc;
	DIR *d = opendir(tmp);
	struct dirent *de;
	while (d && (de = readdir(d)) != NULL)
		if (!strncmp(de->d_name, "logpack-", 8)) {
			snprintf(old, sizeof(old), "%s/%s", tmp, de->d_name);
			tier_rm_rf(old);
		}
	if (d)
		closedir(d);
	snprintf(w->packdir, sizeof(w->packdir), "%s/logpack-XXXXXX", tmp);
	if (!mkdtemp(w->packdir)) {
		rc = tier_error_set_errno(TIER_ERROR, errno,
		                          "cannot create '%s'", w->packdir);
		w->packdir[0] = '\0';
		return rc;
	}
	return 0;
}

/*
 * New objects go to a pack on disk as they are made (streampack.h: the
 * memory of a write no longer grows with its objects); old ones are read
 * from the cache's packs.  No loose-object backend: the cache holds packs
 * only, and without it libgit2 does not probe the disk for every object
 * it writes.
 */
static int write_repo(tier_write *w)
{
	char objdir[PATH_MAX];
	git_odb *odb = NULL;
	git_odb_backend *packs = NULL, *stream = NULL;
	int rc;
	snprintf(objdir, sizeof(objdir), "%s/objects",
	         git_repository_path(w->v->cache));
	if ((rc = make_packdir(w)) < 0 ||
	    (rc = tier_streampack_new(&stream, w->packdir)) < 0)
		return rc;
	if ((rc = git_odb_new(&odb)) < 0 ||
	    (rc = tier_odb_frozen_new(&packs, objdir)) < 0 ||
	    (rc = git_odb_add_backend(odb, packs, 1)) < 0 ||
	    (w->frozen = packs, packs = NULL, 0) ||
	    (rc = git_odb_add_backend(odb, stream, 1000)) < 0 ||
	    (w->stream = stream, stream = NULL, 0) ||
	    (rc = git_repository_wrap_odb(&w->repo, odb)) < 0) {
		rc = tier_error_from_git(rc, "cannot prepare the new revision");
		if (packs)
			packs->free(packs);
		if (stream)
			stream->free(stream);
		git_odb_free(odb);
		w->stream = w->frozen = NULL;
		return rc;
	}
	git_odb_free(odb);
	return 0;
}

int tier_write_begin(tier_write **out, tier_vault *v, const char *op)
{
	tier_write *w;
	int rc;

	*out = NULL;
	if (!v->state_dir)
		return tier_error_set(TIER_EUSAGE,
		                      "writing needs an installation (-s DIR)");
	if (v->read_only)
		return tier_error_set(
		        TIER_EUSAGE,
		        "this installation is read-only: it follows the vault for restores");
	if ((rc = write_lock(v, op)) < 0)
		return rc;
	if (!(w = tier_calloc(1, sizeof(*w)))) {
		tier_installation_unlock(v);
		return TIER_ERROR;
	}
	w->v = v;
	snprintf(w->op, sizeof(w->op), "%s", op);
	w->n = v->n;
	w->outcome = tier_calloc(v->n, sizeof(*w->outcome));
	w->error = tier_calloc(v->n, sizeof(*w->error));
	w->loc_mu = tier_calloc(v->n ? v->n : 1, sizeof(*w->loc_mu));
	if (!w->outcome || !w->error || !w->loc_mu) {
		rc = TIER_ERROR;
		goto fail;
	}
	for (; w->n_mu < w->n; w->n_mu++)
		if (pthread_mutex_init(&w->loc_mu[w->n_mu], NULL) != 0) {
			rc = tier_error_set(TIER_ERROR, "cannot make a mutex");
			goto fail;
		}
	if (!pick_targets(w) && (rc = wait_for_target(w)) < 0)
		goto fail;
	w->revision = v->max_rev + 1;
	if ((rc = write_repo(w)) < 0)
		goto fail;
	*out = w;
	return 0;
fail:
	tier_write_free(w);
	return rc;
}

git_repository *tier_write_repo(tier_write *w)
{
	return w->repo;
}

git_odb_backend *tier_write_packs(tier_write *w)
{
	return w->frozen;
}

const git_oid *tier_write_parent(const tier_write *w)
{
	return w->has_parent ? &w->parent : NULL;
}

uint64_t tier_write_revision(const tier_write *w)
{
	return w->revision;
}

size_t tier_write_target_count(const tier_write *w)
{
	size_t n = 0;
	for (size_t i = 0; i < w->n; i++)
		n += w->outcome[i] == TIER_WRITE_WRITTEN;
	return n;
}

tier_location *tier_write_target(tier_write *w, size_t i)
{
	return i < w->n && w->outcome[i] == TIER_WRITE_WRITTEN ? w->v->t[i].loc
	                                                       : NULL;
}

static void drop_target(tier_write *w, size_t i)
{
	w->outcome[i] = TIER_WRITE_FAILED;
	tier_buf_sets(&w->error[i], tier_error_last());
}

struct put_job {
	tier_location *loc;
	pthread_mutex_t *mu; /* held around the put (NULL: loc is a clone) */
	const char *path;
	const tier_source *src;
	int rc;
	char msg[512];
	pthread_t th;
	int started;
	tier_source own; /* src without link_path, for all tiers but one */
};

static void *put_thread(void *arg)
{
	struct put_job *j = arg;
	if (j->mu)
		pthread_mutex_lock(j->mu);
	j->rc = tier_location_put(j->loc, j->path, j->src, 0);
	if (j->rc < 0)
		snprintf(j->msg, sizeof(j->msg), "%s", tier_error_last());
	if (j->mu)
		pthread_mutex_unlock(j->mu);
	return NULL;
}

/* A tier kept in a local directory (file://, or fault+ around one). */
static int is_file_tier(const tier_location *loc)
{
	const tier_url *u = tier_location_url(loc);
	while (u && u->inner)
		u = u->inner;
	return u && u->scheme && !strcmp(u->scheme, "file");
}

/* Puts may run in two threads (push's uploaders): the outcomes they
 * read and drop are changed under this lock. */
static pthread_mutex_t put_lock = PTHREAD_MUTEX_INITIALIZER;

int tier_write_put(tier_write *w, const char *path, const tier_source *src)
{
	return tier_write_put_on(w, NULL, path, src);
}

int tier_write_clone_targets(tier_write *w, tier_location ***out)
{
	tier_location **locs = tier_calloc(w->n ? w->n : 1, sizeof(*locs));
	int rc = 0;
	*out = NULL;
	if (!locs)
		return TIER_ERROR;
	size_t made = 0;
	pthread_mutex_lock(&put_lock);
	for (size_t i = 0; i < w->n && rc == 0; i++) {
		tier_location *loc = w->v->t[i].loc;
		/* a second connection pays where a request costs a round
		 * trip; a fault+ tier keeps one instance, whose schedule
		 * counts every call (docs/fault.md) */
		if (w->outcome[i] != TIER_WRITE_WRITTEN || is_file_tier(loc) ||
		    tier_location_url(loc)->inner)
			continue;
		if ((rc = tier_location_clone(&locs[i], loc)) == 0)
			made++;
	}
	pthread_mutex_unlock(&put_lock);
	if (rc == 0 && !made)
		rc = TIER_EUNSUPPORTED; /* nothing a second uploader would use */
	if (rc < 0) {
		tier_write_free_clones(w, locs);
		return rc;
	}
	*out = locs;
	return 0;
}

void tier_write_free_clones(tier_write *w, tier_location **locs)
{
	for (size_t i = 0; locs && i < w->n; i++)
		tier_location_free(locs[i]);
	free(locs);
}

int tier_write_put_on(tier_write *w, tier_location *const *locs,
                      const char *path, const tier_source *src)
{
	int last = TIER_EOFFLINE;
	char last_msg[512] = "";
	struct put_job *jobs = tier_calloc(w->n, sizeof(*jobs));
	tier_write_outcome *now = tier_calloc(w->n ? w->n : 1, sizeof(*now));
	if (!jobs || !now) {
		free(jobs);
		free(now);
		return TIER_ERROR;
	}
	pthread_mutex_lock(&put_lock);
	memcpy(now, w->outcome, w->n * sizeof(*now));
	pthread_mutex_unlock(&put_lock);
	/*
	 * The tiers are independent: one thread per target beyond the first
	 * (each location is used by one thread at a time; a tier_source is read
	 * with pread or from memory, so sharing it is safe).
	 */
	size_t first = w->n, linker = w->n;
	/* one file tier may take src->link_path (no two tiers share an inode) */
	for (size_t i = 0; src->link_path && i < w->n && linker == w->n; i++)
		if (now[i] == TIER_WRITE_WRITTEN &&
		    is_file_tier(w->v->t[i].loc))
			linker = i;
	for (size_t i = 0; i < w->n; i++) {
		if (now[i] != TIER_WRITE_WRITTEN)
			continue;
		int clone = locs && locs[i];
		jobs[i] = (struct put_job){.loc = clone ? locs[i]
		                                        : w->v->t[i].loc,
		                           .mu = clone ? NULL : &w->loc_mu[i],
		                           .path = path,
		                           .src = src,
		                           .own = *src};
		if (i != linker) {
			jobs[i].own.link_path = NULL;
			jobs[i].src = &jobs[i].own;
		}
		if (first == w->n) {
			first = i;
			continue;
		}
		jobs[i].started = pthread_create(&jobs[i].th, NULL, put_thread,
		                                 &jobs[i]) == 0;
		if (!jobs[i].started)
			put_thread(&jobs[i]);
	}
	if (first < w->n)
		put_thread(&jobs[first]);
	for (size_t i = 0; i < w->n; i++)
		if (jobs[i].started)
			pthread_join(jobs[i].th, NULL);
	pthread_mutex_lock(&put_lock);
	for (size_t i = 0; i < w->n; i++) {
		if (w->outcome[i] == TIER_WRITE_WRITTEN && jobs[i].loc &&
		    jobs[i].rc < 0) {
			last = jobs[i].rc;
			snprintf(last_msg, sizeof(last_msg), "%s", jobs[i].msg);
			w->outcome[i] = TIER_WRITE_FAILED;
			tier_buf_sets(&w->error[i], jobs[i].msg);
		}
	}
	size_t left = tier_write_target_count(w);
	pthread_mutex_unlock(&put_lock);
	free(jobs);
	free(now);
	/* keep the cause (no space, permission) when the last tier is gone */
	if (!left)
		return tier_error_set(last, "no tier took '%s': %s", path,
		                      last_msg);
	return 0;
}

/*
 * R9 on each target, the same move for every tier; a target whose tier
 * fails is dropped, a failure of ours (journal, ref) ends the write.
 */
static int move_targets(tier_write *w, const git_oid *id, const char *packdir,
                        const tier_buf *packname)
{
	tier_vault *v = w->v;
	struct tier_ref_move m = {.op = "write",
	                          .from = tier_write_parent(w),
	                          .from_rev = w->revision - 1,
	                          .to = id,
	                          .to_rev = w->revision,
	                          .pack_dir = packdir,
	                          .pack_name = tier_buf_cstr(packname)};
	int rc;
	for (size_t i = 0; i < w->n; i++) {
		int tier_failed;
		if (w->outcome[i] != TIER_WRITE_WRITTEN)
			continue;
		if ((rc = tier_ref_move(v, i, &m, &tier_failed)) < 0) {
			if (!tier_failed)
				return rc;
			drop_target(w, i);
			continue;
		}
		if (w->revision % LOG_CONSOLIDATE_EVERY == 0)
			tier_log_consolidate(v->cache, v->t[i].loc, id,
			                     TIER_LOG_MAX_PACKS);
	}
	return 0;
}

/*
 * A tier skipped as offline that answers now came back while the write
 * went on without it (its retries overlapped the write): it missed this
 * revision, so it is unsynchronised (tier-sync levels it).  One still
 * away is reported as its retries left it.
 */
static void mark_came_back(tier_write *w)
{
	tier_vault *v = w->v;
	for (size_t i = 0; i < w->n; i++) {
		const tier_info *in = &v->t[i].info;
		if (w->outcome[i] != TIER_WRITE_SKIPPED_OFFLINE)
			continue;
		if (!in->online) {
			/* still away: what its retries ended with */
			if (in->problem)
				tier_buf_sets(&w->error[i], in->problem);
			continue;
		}
		w->outcome[i] = TIER_WRITE_SKIPPED_UNSYNCHRONIZED;
		tier_buf_clear(&w->error[i]);
		tier_buf_printf(&w->error[i],
		                "tier '%s' answered again during the write, "
		                "which went on without it",
		                in->name);
		if (in->state == TIER_STATE_OK)
			tier_buf_printf(&w->error[i],
			                ": at revision %llu of %llu",
			                (unsigned long long)in->revision,
			                (unsigned long long)v->max_rev);
		else if (in->problem)
			tier_buf_printf(&w->error[i], ": %s", in->problem);
	}
}

/* What the write did on every tier, for the caller. */
static int write_result(tier_write_result **out, tier_write *w,
                        const git_oid *id)
{
	tier_write_result *r = tier_calloc(1, sizeof(*r));
	if (!r || !(r->tiers = tier_calloc(w->n, sizeof(*r->tiers)))) {
		free(r);
		return TIER_ERROR;
	}
	r->revision = w->revision;
	git_oid_tostr(r->commit, sizeof(r->commit), id);
	r->ntiers = w->n;
	for (size_t i = 0; i < w->n; i++) {
		r->tiers[i].name = w->v->t[i].info.name;
		r->tiers[i].outcome = w->outcome[i];
		snprintf(r->tiers[i].error, sizeof(r->tiers[i].error), "%s",
		         w->outcome[i] == TIER_WRITE_WRITTEN
		                 ? ""
		                 : tier_buf_cstr(&w->error[i]));
	}
	*out = r;
	return 0;
}

void tier_write_set_time(tier_write *w, int64_t time, int offset)
{
	w->when.time = (git_time_t)time;
	w->when.offset = offset;
	w->when.sign = offset < 0 ? '-' : '+';
	w->has_when = 1;
}

int tier_write_commit(tier_write *w, const git_oid *tree, const char *summary,
                      const char *extra_trailers, tier_write_result **out)
{
	tier_buf packname = TIER_BUF_INIT;
	git_oid id;
	int rc;

	*out = NULL;
	if ((rc = tier_revision_commit(
	             w->v, &id, w->op, w->revision, tier_write_parent(w), tree,
	             summary, extra_trailers, w->has_when ? &w->when : NULL,
	             w->repo)) < 0)
		return rc;
	if ((rc = tier_revision_pack(w->v->cache, w->repo, w->stream,
	                             tier_odb_frozen_hits(w->frozen) > 0, &id,
	                             tier_write_parent(w), w->packdir,
	                             &packname)) < 0)
		goto out;
	tier_test_crashpoint("write.persisted");
	if ((rc = move_targets(w, &id, w->packdir, &packname)) < 0)
		goto out;
	tier_buf_dispose(&packname);
	/* refresh what the vault knows of every tier (R5), once those
	 * retried in the background have their answer */
	tier_vault_probe(w->v);
	mark_came_back(w);
	if ((rc = write_result(out, w, &id)) < 0)
		return rc;
	if (!tier_write_target_count(w))
		return tier_error_set(TIER_EOFFLINE,
		                      "no tier took revision %llu: %s",
		                      (unsigned long long)w->revision,
		                      (*out)->tiers[0].error);
	return 0;
out:
	tier_buf_dispose(&packname);
	return rc;
}

void tier_write_free(tier_write *w)
{
	if (!w)
		return;
	/* the backends belong to the odb; the stream's files go with it */
	git_repository_free(w->repo);
	if (w->packdir[0])
		tier_rm_rf(w->packdir);
	if (w->error)
		for (size_t i = 0; i < w->n; i++)
			tier_buf_dispose(&w->error[i]);
	free(w->error);
	free(w->outcome);
	for (size_t i = 0; i < w->n_mu; i++)
		pthread_mutex_destroy(&w->loc_mu[i]);
	free(w->loc_mu);
	tier_installation_unlock(w->v);
	free(w);
}

const char *tier_write_outcome_name(tier_write_outcome o)
{
	switch (o) {
	case TIER_WRITE_WRITTEN:
		return "written";
	case TIER_WRITE_SKIPPED_OFFLINE:
		return "skipped-offline";
	case TIER_WRITE_SKIPPED_UNSYNCHRONIZED:
		return "skipped-unsynchronized";
	case TIER_WRITE_FAILED:
		return "failed";
	}
	return "failed";
}

void tier_write_result_free(tier_write_result *r)
{
	if (!r)
		return;
	free(r->tiers);
	free(r);
}

int tier_vault_mark(tier_write_result **out, tier_vault *v, const char *label)
{
	tier_write *w = NULL;
	char summary[256];
	int rc;
	*out = NULL;
	if ((rc = tier_write_begin(&w, v, "mark")) < 0)
		return rc;
	snprintf(summary, sizeof(summary), "mark: %s",
	         label && *label ? label : "(no label)");
	rc = tier_write_commit(w, NULL, summary, NULL, out);
	tier_write_free(w);
	return rc;
}
