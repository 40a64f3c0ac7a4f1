/*
 * Sync (R6) by log replay, aborted by writes (R7): each tier behind gets
 * the data packs, log objects and heads it lacks, entry by entry, each
 * head moved as a write moves it (R9, tier_vault_advance).
 */
#include "tier/sync.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "hash.h"
#include "installation.h"
#include "log.h"
#include "objread.h"
#include "pack.h"
#include "snapshot.h"
#include "tierref.h"
#include "util/error.h"
#include "util/idset.h"
#include "util/posix.h"
#include "vault.h"

struct sync {
	tier_vault *v;
	const tier_sync_options *opts;
	pthread_mutex_t
	        lock; /* st, warnings, progress: pack copies run in two threads */
	tier_sync_stats st;
	char tmpdir[PATH_MAX];
	const char *tier; /* being synced, for progress */
	uint64_t revision;
};

static int should_stop(struct sync *s)
{
	if (tier_vault_write_wanted(s->v))
		return tier_error_set(
		        TIER_EABORTED,
		        "sync of tier '%s' stopped at revision %llu: a write started "
		        "(run tier-sync again when it is done)",
		        s->tier, (unsigned long long)s->revision);
	pthread_mutex_lock(&s->lock);
	int cancel = s->opts->progress &&
	             s->opts->progress(&s->st, s->tier, s->revision,
	                               s->opts->payload);
	pthread_mutex_unlock(&s->lock);
	if (cancel)
		return tier_error_set(
		        TIER_EABORTED,
		        "sync of tier '%s' cancelled at revision %llu", s->tier,
		        (unsigned long long)s->revision);
	return 0;
}

/* Count into the stats from any thread. */
static void count(struct sync *s, uint64_t *field, uint64_t n)
{
	pthread_mutex_lock(&s->lock);
	*field += n;
	pthread_mutex_unlock(&s->lock);
}

static int stop_cb(void *payload)
{
	return should_stop(payload);
}

static void warn(struct sync *s, const char *msg)
{
	pthread_mutex_lock(&s->lock);
	if (s->opts->warning)
		s->opts->warning(msg, s->opts->payload);
	pthread_mutex_unlock(&s->lock);
}

/* ---- packs a revision added: the index/ entries its parent lacks ---- */

static int index_tree(git_tree **out, git_repository *repo,
                      const git_oid *commit)
{
	git_commit *c = NULL;
	git_tree *t = NULL;
	git_oid id;
	int rc;
	*out = NULL;
	if (!commit)
		return 0;
	if ((rc = tier_log_commit_lookup(&c, repo, commit)) < 0)
		return rc;
	rc = tier_tree_lookup_bounded(&t, repo, git_commit_tree_id(c),
	                              "the tree of a log entry");
	git_commit_free(c);
	if (rc < 0)
		return rc;
	if (tier_snap_part(&id, t, TIER_SNAP_INDEX) == 0)
		rc = tier_tree_lookup_bounded(out, repo, &id,
		                              "a pack index tree");
	git_tree_free(t);
	return rc < 0 ? rc : 0;
}

struct added_pack {
	unsigned char id[TIER_HASH_LEN];
	uint64_t size;
};

struct added {
	struct added_pack *p;
	size_t n, cap;
};

/* One pack the newer index lists: its size from the trailer at the end of
 * its stored tail (the blob size-checked before it is read). */
static int add_pack(struct added *a, git_repository *repo,
                    const git_tree_entry *e)
{
	const char *name = git_tree_entry_name(e);
	unsigned char id[TIER_HASH_LEN];
	git_blob *blob = NULL;
	tier_pack_trailer tr;
	char what[96];
	int rc;

	if (git_tree_entry_type(e) != GIT_OBJECT_BLOB ||
	    strlen(name) != TIER_HASH_HEXLEN ||
	    tier_unhex(id, TIER_HASH_LEN, name) < 0) {
		tier_error_clear();
		return 0; /* not a pack: nothing to copy */
	}
	if (a->n == a->cap) {
		size_t cap = a->cap ? a->cap * 2 : 16;
		struct added_pack *np = tier_realloc(a->p, cap * sizeof(*np));
		if (!np)
			return TIER_ERROR;
		a->p = np;
		a->cap = cap;
	}
	snprintf(what, sizeof(what), "the index of pack %.12s in the log",
	         name);
	if ((rc = tier_blob_lookup_bounded(&blob, repo, git_tree_entry_id(e),
	                                   TIER_MAX_INDEX_BLOB, what)) < 0)
		return rc;
	size_t bl = (size_t)git_blob_rawsize(blob);
	memcpy(a->p[a->n].id, id, TIER_HASH_LEN);
	a->p[a->n].size = 0;
	if (bl >= TIER_PACK_TRAILER_SIZE &&
	    tier_pack_trailer_parse(&tr, git_blob_rawcontent(blob), bl, name) ==
	            0)
		a->p[a->n].size = tr.pack_size;
	tier_error_clear();
	git_blob_free(blob);
	a->n++;
	return 0;
}

/*
 * Packs in the index of `to` but not of `from` (from NULL: all).  The two
 * levels of index/<xx>/<pack id> are compared by hand, not with git_diff
 * (which reads every tree whole, unchecked): a fan-out directory with the
 * same id on both sides is skipped.
 */
static int added_packs(struct added_pack **out, size_t *n, git_repository *repo,
                       const git_oid *from, const git_oid *to)
{
	git_tree *a = NULL, *b = NULL;
	struct added add = {NULL, 0, 0};
	int rc;
	*out = NULL;
	*n = 0;
	if ((rc = index_tree(&a, repo, from)) < 0 ||
	    (rc = index_tree(&b, repo, to)) < 0)
		goto out;
	for (size_t i = 0; b && i < git_tree_entrycount(b) && rc == 0; i++) {
		const git_tree_entry *eb = git_tree_entry_byindex(b, i);
		const git_tree_entry *ea =
		        a ? git_tree_entry_byname(a, git_tree_entry_name(eb))
		          : NULL;
		git_tree *sb = NULL, *sa = NULL;
		if (git_tree_entry_type(eb) != GIT_OBJECT_TREE ||
		    (ea && git_oid_equal(git_tree_entry_id(ea),
		                         git_tree_entry_id(eb))))
			continue;
		if ((rc = tier_tree_lookup_bounded(&sb, repo,
		                                   git_tree_entry_id(eb),
		                                   "a pack index tree")) < 0)
			break;
		if (ea && git_tree_entry_type(ea) == GIT_OBJECT_TREE &&
		    (rc = tier_tree_lookup_bounded(&sa, repo,
		                                   git_tree_entry_id(ea),
		                                   "a pack index tree")) < 0) {
			git_tree_free(sb);
			break;
		}
		for (size_t k = 0; k < git_tree_entrycount(sb) && rc == 0;
		     k++) {
			const git_tree_entry *e = git_tree_entry_byindex(sb, k);
			if (sa &&
			    git_tree_entry_byname(sa, git_tree_entry_name(e)))
				continue; /* listed before: copied then */
			rc = add_pack(&add, repo, e);
		}
		git_tree_free(sa);
		git_tree_free(sb);
	}
	if (rc == 0) {
		*out = add.p ? add.p : tier_calloc(1, sizeof(*add.p));
		*n = add.n;
		if (!*out)
			rc = TIER_ERROR;
		add.p = NULL;
	}
out:
	free(add.p);
	git_tree_free(a);
	git_tree_free(b);
	return rc;
}

/* ---- copying one data pack ------------------------------------------- */

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
	    (c->rc = should_stop(c->s)) < 0)
		return -1; /* checked every MiB: well within a second */
	if ((c->fd >= 0 &&
	     (c->rc = tier_write_all(c->fd, data, len, "sync temporary file")) <
	             0) ||
	    (c->rc = tier_sha256_update(&c->sha, data, len)) < 0)
		return -1;
	c->got += len;
	return 0;
}

/* Fetch pack `id` from tier src into a verified temp file (fd open at *fd). */
static int fetch_pack(struct sync *s, tier_location *src,
                      const struct added_pack *p, int *fd, char *tmppath,
                      size_t cap)
{
	char path[80], hex[TIER_HASH_HEXLEN + 1];
	unsigned char got[TIER_HASH_LEN];
	int rc;

	tier_data_pack_path(path, p->id);
	tier_hex(hex, p->id, TIER_HASH_LEN);
	snprintf(tmppath, cap, "%s/sync-XXXXXX", s->tmpdir);
	*fd = mkstemp(tmppath);
	if (*fd < 0)
		return tier_error_set_errno(
		        TIER_ERROR, errno,
		        "cannot create a temporary file in '%s'", s->tmpdir);
	struct copy_sink c = {s, *fd, TIER_SHA256_CTX_INIT, 0, 0};
	if ((rc = tier_sha256_init(&c.sha)) < 0)
		goto fail;
	rc = tier_location_get(src, path, 0, UINT64_MAX, copy_sink_cb, &c);
	if (rc == TIER_EABORTED && c.rc < 0)
		rc = tier_error_set(c.rc, "%s", tier_error_last());
	if (rc < 0) {
		tier_sha256_dispose(&c.sha);
		goto fail;
	}
	if ((rc = tier_sha256_final(&c.sha, got)) < 0)
		goto fail;
	tier_sha256_dispose(&c.sha);
	if (memcmp(got, p->id, TIER_HASH_LEN) != 0 ||
	    (p->size && c.got != p->size)) {
		rc = tier_error_set(
		        TIER_ECORRUPT,
		        "tier '%s': pack %s is damaged (its hash does not match)",
		        tier_location_name(src), path);
		goto fail;
	}
	return 0;
fail:
	close(*fd);
	*fd = -1;
	unlink(tmppath);
	return rc;
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

static int copy_pack(struct sync *s, tier_location **locs, size_t dst_i,
                     size_t src_i, const struct added_pack *p)
{
	tier_vault *v = s->v;
	tier_location *dst = loc_at(s, locs, dst_i);
	char path[80], tmp[PATH_MAX];
	tier_stat st;
	int rc, fd = -1;

	tier_data_pack_path(path, p->id);
	/* resumed sync: a pack put whole before the interruption is kept,
	 * once it proves to be the pack its name says */
	rc = tier_location_stat(dst, path, &st);
	if (rc == 0 && (!p->size || st.size == p->size)) {
		int ok = existing_pack_ok(s, dst, p);
		if (ok < 0 && ok != TIER_ECORRUPT && ok != TIER_ENOTFOUND)
			return ok;
		if (ok == 1) {
			count(s, &s->st.skipped, 1);
			return 0;
		}
		char msg[512];
		snprintf(
		        msg, sizeof(msg),
		        "tier '%s': pack %s there is damaged; copying it again",
		        tier_location_name(dst), path);
		warn(s, msg);
		count(s, &s->st.damaged, 1);
	} else if (rc < 0 && rc != TIER_ENOTFOUND)
		return rc;

	/* from the source, else from any other tier at a revision that has it */
	size_t n = tier_vault_tier_count(v);
	int last = TIER_ENOTFOUND;
	for (size_t k = 0; k <= n; k++) {
		size_t i = k == 0 ? src_i : k - 1;
		if ((k > 0 && i == src_i) || i == dst_i)
			continue;
		const tier_info *in = tier_vault_tier_info(v, i);
		if (!in->online || in->state != TIER_STATE_OK)
			continue;
		rc = fetch_pack(s, loc_at(s, locs, i), p, &fd, tmp,
		                sizeof(tmp));
		if (rc == TIER_EABORTED)
			return rc;
		if (rc == 0)
			break;
		last = rc;
		if (rc == TIER_ECORRUPT || rc == TIER_ENOTFOUND) {
			char msg[1024];
			snprintf(msg, sizeof(msg), "%s; trying another tier",
			         tier_error_last());
			warn(s, msg);
			count(s, &s->st.damaged, 1);
		}
	}
	if (fd < 0)
		return tier_error_set(
		        last, "no tier has pack %s intact for tier '%s': %s",
		        path, tier_location_name(dst), tier_error_last());
	struct stat sb;
	if (fstat(fd, &sb) < 0) {
		rc = tier_error_set_errno(TIER_ERROR, errno, "cannot stat '%s'",
		                          tmp);
	} else {
		/* the temp file is this tier's alone: a local tier may link it */
		tier_source src = {NULL, fd, (uint64_t)sb.st_size, tmp};
		rc = tier_location_put(dst, path, &src, 0);
		if (rc == 0) {
			count(s, &s->st.packs, 1);
			count(s, &s->st.bytes, (uint64_t)sb.st_size);
		}
	}
	close(fd);
	unlink(tmp);
	return rc;
}

/* ---- copying the packs of one entry, two at a time ------------------- */

/*
 * A pack copy is a read, a SHA-256 and a write: one thread leaves a core
 * idle while the other waits on the disk.  Two threads, the second with
 * its own connection to every tier (a location is used by one thread at
 * a time).  Few packs are not worth a second login.
 */
#define COPY_THREADS    2
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
		int rc = should_stop(s);
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

static int copy_packs(struct sync *s, size_t dst_i, size_t src_i,
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

/* ---- replaying one tier ------------------------------------------------ */

/*
 * When the tier's head is not on the source's first-parent chain (the walk
 * above reached the first revision), drop what is below it as git_revwalk's
 * hide did: the commits the tier's own chain holds, and all older ones.
 */
static int drop_known(tier_vec *todo, git_repository *repo, const git_oid *cur,
                      const char *tier)
{
	tier_idset seen = TIER_IDSET_INIT(GIT_OID_RAWSZ);
	git_oid oid;
	int rc;

	git_oid_cpy(&oid, cur);
	for (;;) {
		if ((rc = tier_idset_add(&seen, oid.id)) < 0)
			goto out;
		if ((rc = tier_log_first_parent(&oid, repo, &oid)) < 0) {
			tier_error_prefix("cannot read the log of tier '%s'",
			                  tier);
			goto out;
		}
		if (rc == 0)
			break;
	}
	for (size_t i = 0; i < todo->length; i++) {
		if (!tier_idset_has(&seen, ((git_oid *)todo->ptr[i])->id))
			continue;
		for (size_t k = i; k < todo->length; k++)
			free(todo->ptr[k]);
		todo->length = i;
		break;
	}
	rc = 0;
out:
	tier_idset_dispose(&seen);
	return rc;
}

/*
 * The first-parent chain from the source's head down to the tier's own
 * head (cur, NULL for an empty tier), oldest first; walked by hand
 * (git_revwalk reads each commit whole before anyone checked its size).
 */
static int sync_todo(struct sync *s, tier_vec *todo, const git_oid *src_head,
                     const git_oid *cur)
{
	git_repository *repo = tier_vault_cache(s->v);
	git_oid oid;
	int at_cur = 0, rc;

	git_oid_cpy(&oid, src_head);
	for (;;) {
		if (cur && git_oid_equal(&oid, cur)) {
			at_cur = 1;
			break;
		}
		git_oid *k = tier_malloc(sizeof(*k));
		if (!k || tier_vec_push(todo, k) < 0) {
			free(k);
			return TIER_ERROR;
		}
		git_oid_cpy(k, &oid);
		if ((rc = tier_log_first_parent(&oid, repo, &oid)) < 0) {
			tier_error_prefix(
			        "cannot list the revisions tier '%s' lacks",
			        s->tier);
			return rc;
		}
		if (rc == 0)
			break;
	}
	if (cur && !at_cur && todo->length &&
	    (rc = drop_known(todo, repo, cur, s->tier)) < 0)
		return rc;
	/* oldest first */
	for (size_t a = 0, b = todo->length; a + 1 < b; a++, b--) {
		void *t = todo->ptr[a];
		todo->ptr[a] = todo->ptr[b - 1];
		todo->ptr[b - 1] = t;
	}
	return 0;
}

/*
 * The log objects of every missing entry first (objects that no head
 * points at yet are harmless): the source's log packs, copied as they
 * are.  A source whose pack does not hash to its name: one pack built
 * from the cache instead.
 */
static int sync_log(struct sync *s, size_t i, size_t src_i,
                    const git_oid *src_head, const git_oid *cur)
{
	tier_vault *v = s->v;
	tier_location *dst = tier_vault_location(v, i);
	int rc = tier_log_copy_packs(tier_vault_location(v, src_i), dst,
	                             s->tmpdir, stop_cb, s, &s->st.log_bytes);
	if (rc == TIER_ECORRUPT) {
		warn(s, tier_error_last());
		rc = tier_log_upload(tier_vault_cache(v), dst, src_head, cur,
		                     NULL);
	}
	return rc;
}

/* One entry of the log on tier i, whose head is cur (NULL: none yet). */
static int sync_entry(struct sync *s, size_t i, size_t src_i, const git_oid *c,
                      const git_oid *cur)
{
	git_repository *repo = tier_vault_cache(s->v);
	tier_commit_info ci;
	struct added_pack *packs = NULL;
	size_t np = 0;
	int rc;

	if ((rc = tier_commit_info_read(&ci, repo, c)) < 0)
		return rc;
	s->revision = ci.revision;
	if ((rc = should_stop(s)) < 0)
		return rc;
	/* data first, then the log objects, then the head: the tier never
	 * points at data it lacks */
	if ((rc = added_packs(&packs, &np, repo, cur, c)) < 0)
		return rc;
	rc = copy_packs(s, i, src_i, packs, np);
	free(packs);
	if (rc < 0)
		return rc;
	tier_test_crashpoint("sync.pack");
	return tier_vault_advance(s->v, i, c, ci.revision);
}

/* Replay on tier i what it lacks of the source's log; heads move entry by entry. */
static int sync_tier(struct sync *s, size_t i, size_t src_i,
                     const git_oid *src_head)
{
	tier_vault *v = s->v;
	tier_location *dst = tier_vault_location(v, i);
	git_oid cur;
	int has_cur = tier_vault_tier_head(v, i, &cur) == 0;
	tier_vec todo = TIER_VEC_INIT;
	int rc;

	s->tier = tier_location_name(dst);
	if ((rc = sync_todo(s, &todo, src_head, has_cur ? &cur : NULL)) < 0)
		goto out;
	if (!has_cur && (rc = tier_log_create(dst)) < 0)
		goto out;
	if (todo.length &&
	    (rc = sync_log(s, i, src_i, src_head, has_cur ? &cur : NULL)) < 0)
		goto out;
	for (size_t k = 0; k < todo.length; k++) {
		const git_oid *c = todo.ptr[k];
		if ((rc = sync_entry(s, i, src_i, c, has_cur ? &cur : NULL)) <
		    0)
			goto out;
		git_oid_cpy(&cur, c);
		has_cur = 1;
		s->st.revisions++;
	}
	/* packs add up over many syncs: fold them past the writers' limit */
	if (todo.length > 1)
		tier_log_consolidate(tier_vault_cache(v), dst, &cur, 8);
	s->st.tiers++;
	rc = 0;
out:
	tier_vec_dispose(&todo, free);
	return rc;
}

static int find_source(tier_vault *v, size_t *src_i, git_oid *head)
{
	for (size_t i = 0; i < tier_vault_tier_count(v); i++) {
		const tier_info *in = tier_vault_tier_info(v, i);
		if (in->synchronized && tier_vault_tier_head(v, i, head) == 0) {
			*src_i = i;
			return 0;
		}
	}
	return tier_error_set(TIER_EOFFLINE,
	                      "no tier at the newest revision (%llu) is online",
	                      (unsigned long long)tier_vault_max_revision(v));
}

int tier_sync_run(tier_sync_stats *stats, tier_vault *v,
                  const tier_sync_options *opts)
{
	struct sync s;
	tier_sync_options def = TIER_SYNC_OPTIONS_INIT;
	int rc;

	if (!opts)
		opts = &def;
	TIER_CHECK_VERSION(opts, TIER_SYNC_OPTIONS_VERSION,
	                   "tier_sync_options");
	memset(&s, 0, sizeof(s));
	s.v = v;
	s.opts = opts;
	s.tier = "";
	pthread_mutex_init(&s.lock, NULL);

	/* R6: only when the installation is idle; a write always wins */
	while ((rc = tier_vault_lock_sync(v)) == TIER_ECONFLICT &&
	       opts->wait_idle) {
		struct timespec ts = {0, 200 * 1000000L};
		nanosleep(&ts, NULL);
		if ((rc = should_stop(&s)) < 0)
			break;
	}
	if (rc < 0) {
		pthread_mutex_destroy(&s.lock);
		return rc;
	}
	snprintf(s.tmpdir, sizeof(s.tmpdir), "%s/tmp",
	         git_repository_path(tier_vault_cache(v)));
	if ((rc = tier_mkdir_p(s.tmpdir, 0700)) < 0)
		goto out;
	/* R5: fresh revisions of every tier, R8 before writing anything */
	for (size_t i = 0; i < tier_vault_tier_count(v); i++)
		tier_location_reset(tier_vault_location(v, i));
	if ((rc = tier_vault_probe(v)) < 0 || (rc = tier_vault_check(v)) < 0)
		goto out;
	size_t src_i;
	git_oid head;
	int need = 0;
	for (size_t i = 0; i < tier_vault_tier_count(v); i++) {
		const tier_info *in = tier_vault_tier_info(v, i);
		need |= in->online && in->state == TIER_STATE_OK &&
		        !in->synchronized;
	}
	if (!need)
		goto out;
	if ((rc = find_source(v, &src_i, &head)) < 0)
		goto out;
	for (size_t i = 0; i < tier_vault_tier_count(v) && rc == 0; i++) {
		const tier_info *in = tier_vault_tier_info(v, i);
		if (in->online && in->state == TIER_STATE_OK &&
		    !in->synchronized)
			rc = sync_tier(&s, i, src_i, &head);
	}
out:
	tier_vault_unlock(v);
	if (stats)
		*stats = s.st;
	pthread_mutex_destroy(&s.lock);
	return rc;
}

int tier_sync_plan(tier_vault *v, size_t i, uint64_t *revisions,
                   uint64_t *bytes)
{
	const tier_info *in = tier_vault_tier_info(v, i);
	git_oid head, cur;
	size_t src_i;
	struct added_pack *p = NULL;
	size_t n = 0;
	int rc;
	*revisions = *bytes = 0;
	if (!in || !in->online || in->state != TIER_STATE_OK ||
	    in->synchronized)
		return 0;
	if ((rc = find_source(v, &src_i, &head)) < 0)
		return rc;
	int has_cur = tier_vault_tier_head(v, i, &cur) == 0;
	*revisions = tier_vault_max_revision(v) - in->revision;
	if ((rc = added_packs(&p, &n, tier_vault_cache(v),
	                      has_cur ? &cur : NULL, &head)) < 0)
		return rc;
	for (size_t k = 0; k < n; k++)
		*bytes += p[k].size;
	free(p);
	return 0;
}
