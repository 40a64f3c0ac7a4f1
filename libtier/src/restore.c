/*
 * tier_restore_run: a revision (or part of it) back onto the local disk.
 *
 * The main thread walks the snapshot tree in the log cache, creates
 * directories, symlinks and special files as it goes, and turns the chunks
 * of regular files into read jobs: one ranged get of a pack covering many
 * consecutive chunks, of one file or of many small ones.  Two workers take
 * the jobs in turn: one fetches its range while the other decodes, checks
 * hashes and writes (the machine this was tuned on has two cores).  Tier
 * access is serialised by one lock: a tier_location (and a remote driver's
 * connection) serves one caller at a time.
 *
 * The tier is not trusted (a hostile or damaged one names its entries as it
 * likes): every snapshot directory passes tier_snap_tree_check() before
 * any of its entries is acted on, every object is size-checked before it
 * is read, and every file system call is relative to a directory fd opened
 * with O_NOFOLLOW, one component at a time.  So nothing is written outside
 * DEST, no link is followed that the restore did not mean to follow, and
 * the depth of a tree is not bounded by PATH_MAX.  A bad directory or entry
 * is reported and skipped; the rest of the revision is restored.
 *
 * A file is written to "<name>.tier-tmp" and renamed once complete, its
 * mode and mtime set before the rename: a file under its own name is
 * always complete.  That is what lets a rerun keep what an interrupted run
 * finished (same size, mtime and mode) and redo the rest.  A directory's
 * own metadata is applied when the walk has left it and the last file in
 * it is in place, once nothing is written into it any more.
 *
 * R2: every job is read from the first usable tier that holds the
 * revision; a missing or damaged pack, or a tier going offline, sends the
 * read to the next tier, reports the damage and remembers it for the rest
 * of the run.
 */
#include "tier/restore.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stddef.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "restore_int.h"

#include "util/error.h"
#include "util/posix.h"
#include "util/text.h"

char *tier_restore_short_hex(char out[SHORT_HEX + 1], const unsigned char *id)
{
	char hex[TIER_HASH_HEXLEN + 1];
	tier_hex(hex, id, TIER_HASH_LEN);
	memcpy(out, hex, SHORT_HEX);
	out[SHORT_HEX] = '\0';
	return out;
}

/*
 * A path for a message, quoted (tier_quote_path) and, past SHOW_MAX bytes,
 * shortened in the middle: its start and its end (the name) stay, and the
 * reason after it is never cut off.  Valid until the fourth next call on
 * the same thread.
 */
const char *tier_restore_show(const char *s)
{
	enum { SLOTS = 4, HEAD = 120 };
	static _Thread_local char slot[SLOTS][SHOW_MAX + 64];
	static _Thread_local unsigned next;
	char *dst = slot[next++ % SLOTS];
	tier_buf b = TIER_BUF_INIT;

	if (!s)
		s = "";
	if (tier_quote_path(&b, s, strlen(s)) < 0 || !b.ptr) {
		tier_buf_dispose(&b);
		return "?";
	}
	if (b.size <= SHOW_MAX) {
		memcpy(dst, b.ptr, b.size + 1);
	} else {
		size_t tail = SHOW_MAX - HEAD;
		int n = snprintf(dst, SHOW_MAX + 64, "%.*s...(%zu bytes)...",
		                 (int)HEAD, b.ptr, b.size - HEAD - tail);
		memcpy(dst + n, b.ptr + b.size - tail, tail + 1);
	}
	tier_buf_dispose(&b);
	return dst;
}

/* The code of a local file system failure: never a usage error (exit 2). */
static int local_code(int errnum)
{
	int code = tier_error_from_errno(errnum);
	return code == TIER_EUSAGE || code == TIER_EOFFLINE ? TIER_ERROR : code;
}

int tier_restore_fs_error(int errnum, const char *what, const char *path)
{
	return tier_error_set_errno(local_code(errnum), errnum, "%s '%s'", what,
	                            tier_restore_show(path));
}

/* ---- errors and callbacks ---------------------------------------------- */

void tier_restore_warn(struct restore_run *r, const char *fmt, ...)
        TIER_PRINTF(2, 3);
void tier_restore_warn(struct restore_run *r, const char *fmt, ...)
{
	tier_buf b = TIER_BUF_INIT;
	va_list ap;
	if (!r->o->warning)
		return;
	va_start(ap, fmt);
	tier_buf_vprintf(&b, fmt, ap);
	va_end(ap);
	pthread_mutex_lock(&r->cb);
	r->o->warning(tier_buf_cstr(&b), r->o->payload);
	pthread_mutex_unlock(&r->cb);
	tier_buf_dispose(&b);
}

/* Stop the run with the calling thread's last error (the first one wins). */
int tier_restore_set_fatal(struct restore_run *r, int code)
{
	pthread_mutex_lock(&r->lock);
	if (!r->fatal_code) {
		r->fatal_code = code ? code : TIER_ERROR;
		r->fatal_msg = strdup(tier_error_last());
	}
	r->abort = 1;
	pthread_cond_broadcast(&r->nonempty);
	pthread_cond_broadcast(&r->nonfull);
	pthread_cond_broadcast(&r->dir_freed);
	pthread_mutex_unlock(&r->lock);
	return code;
}

/* An entry that could not be restored: reported, counted, the run goes on. */
void tier_restore_entry_failed(struct restore_run *r, int code, const char *msg)
{
	pthread_mutex_lock(&r->lock);
	r->stats->errors++;
	if (!r->fail_code) {
		/* whatever the cause, a lost entry is exit 1, never 2 */
		r->fail_code =
		        code == TIER_EUSAGE || code == 0 ? TIER_ERROR : code;
		r->fail_msg = strdup(msg);
	}
	pthread_mutex_unlock(&r->lock);
	tier_restore_warn(r, "%s", msg);
}

int tier_restore_aborted(struct restore_run *r)
{
	pthread_mutex_lock(&r->lock);
	int a = r->abort;
	pthread_mutex_unlock(&r->lock);
	return a;
}

/*
 * The end of one entry that failed with rc (message set): a failure that
 * concerns the whole run (cancelled, disk full, stopped) is passed on, any
 * other is reported and the walk goes on with the next entry.
 */
int tier_restore_entry_error(struct restore_run *r, int rc)
{
	if (rc >= 0)
		return rc;
	if (rc == TIER_EABORTED || rc == TIER_ENOSPC || tier_restore_aborted(r))
		return rc;
	tier_restore_entry_failed(r, rc, tier_error_last());
	return 0;
}

/* Called by the main thread only. */
int tier_restore_progress(struct restore_run *r, int force)
{
	tier_restore_stats s;
	int64_t now;
	if (!r->o->progress)
		return 0;
	now = tier_now_ms();
	if (!force && now - r->last_progress < PROGRESS_MS)
		return 0;
	r->last_progress = now;
	pthread_mutex_lock(&r->lock);
	s = *r->stats;
	pthread_mutex_unlock(&r->lock);
	pthread_mutex_lock(&r->cb);
	int stop = r->o->progress(&s, r->current.size ? r->current.ptr : NULL,
	                          r->o->payload);
	pthread_mutex_unlock(&r->cb);
	if (stop) {
		tier_error_set(TIER_EABORTED, "restore cancelled");
		return tier_restore_set_fatal(r, TIER_EABORTED);
	}
	return 0;
}

/* r->lock held: wait on c for PROGRESS_MS at most, to report progress. */
void tier_restore_wait(struct restore_run *r, pthread_cond_t *c)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_nsec += PROGRESS_MS * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_cond_timedwait(c, &r->lock, &ts);
}

void tier_restore_stat_inc(struct restore_run *r, uint64_t *field)
{
	pthread_mutex_lock(&r->lock);
	(*field)++;
	pthread_mutex_unlock(&r->lock);
}

/* ---- the run ------------------------------------------------------------ */

/* The destination without trailing '/' ("" for "/"): every path starts with it. */
static int dest_path(struct restore_run *r)
{
	const char *d = r->o->dest;
	size_t n = strlen(d);
	while (n > 1 && d[n - 1] == '/')
		n--;
	if (n == 1 && d[0] == '/')
		n = 0;
	tier_buf_clear(&r->dest);
	if (tier_buf_grow(&r->dest, 0) < 0 || tier_buf_put(&r->dest, d, n) < 0)
		return TIER_ERROR;
	return 0;
}

/*
 * DEST itself, open: the one path the restore follows links in (it is the
 * caller's, not the tier's).  *fd = -1 when it does not exist and create
 * is 0.
 */
static int open_dest(struct restore_run *r, int create, int *fd)
{
	const char *p = r->dest.size ? r->dest.ptr : "/";
	int rc;
	*fd = -1;
	if (create && r->dest.size &&
	    (rc = tier_mkdir_p(r->dest.ptr, 0777)) < 0)
		return rc;
	*fd = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (*fd < 0 && (create || errno != ENOENT))
		return tier_restore_fs_error(errno, "cannot open destination",
		                             p);
	return 0;
}

/* The snapshot root passes the name check, or nothing in it is restored. */
static int root_ok(struct restore_run *r, const git_tree *root, int report)
{
	if (tier_snap_tree_check(root, tier_vault_keys(r->v)) == 0)
		return 1;
	tier_error_prefix(
	        "the snapshot of revision %" PRIu64 " is not restored", r->rev);
	if (report)
		tier_restore_entry_failed(r, TIER_ECORRUPT, tier_error_last());
	return 0;
}

/* The revision's source paths, for anchored --include/--exclude patterns. */
static int take_roots(struct restore_run *r)
{
	char hex[GIT_OID_HEXSZ + 1];
	size_t n = 0;
	int rc;
	if (!r->inc && !r->exc)
		return 0;
	git_oid_tostr(hex, sizeof(hex), &r->commit);
	if ((rc = tier_vault_revision_paths(&r->roots, &n, r->v, hex)) < 0)
		return rc;
	if (r->inc) {
		r->inc->roots = r->roots;
		r->inc->nroots = n;
	}
	if (r->exc) {
		r->exc->roots = r->roots;
		r->exc->nroots = n;
	}
	return 0;
}

/*
 * The selected paths, the revision that holds them all (a path in no
 * revision fails before anything is written) and its trees.
 */
static int choose_revision(struct restore_run *r)
{
	int rc;
	if ((rc = tier_restore_selection(&r->sel, r->o)) < 0)
		return rc;
	r->whole = r->sel.length == 0;
	for (size_t i = 0; i < r->sel.length; i++)
		if (!*(char *)r->sel.ptr[i])
			r->whole = 1;
	if ((rc = tier_restore_find_revision(r, &r->sel, r->whole,
	                                     &r->commit)) < 0 ||
	    (rc = take_roots(r)) < 0)
		return rc;
	r->stats->revision = r->rev;
	return tier_restore_rev_trees(r, &r->commit, r->rev, &r->rev_tree,
	                              &r->snap_root);
}

/* DEST's path, where the revision's chunks are and the tiers holding it. */
static int prepare(struct restore_run *r)
{
	int rc;
	if ((rc = dest_path(r)) < 0 ||
	    (rc = tier_restore_open_data(r, &r->commit)) < 0)
		return rc;
	return 0;
}

/*
 * The selection under d, DEST or what it will be: plan 0 checks for
 * conflicts and changes nothing, plan 1 restores.
 */
static int walk_selection(struct restore_run *r, struct rdir *d, int plan)
{
	tier_buf path = TIER_BUF_INIT;
	int rc = 0;
	if (tier_buf_put(&path, r->dest.ptr, r->dest.size) < 0)
		rc = TIER_ERROR;
	else if (r->whole && root_ok(r, r->snap_root, plan != WALK_CHECK))
		rc = plan == WALK_PLAN
		             ? tier_restore_walk_dir(r, r->snap_root, d, &path)
		             : tier_restore_each_entry(
		                       r, r->snap_root, d, &path,
		                       plan == WALK_DRY
		                               ? tier_restore_dry_entry
		                               : tier_restore_check_entry);
	for (size_t i = 0; i < r->sel.length && !r->whole && rc == 0; i++)
		rc = tier_restore_select_path(r, r->snap_root, d, r->sel.ptr[i],
		                              plan);
	tier_buf_dispose(&path);
	return rc;
}

/* Conflicts are found before anything is written. */
static int check_conflicts(struct restore_run *r)
{
	struct rdir probe;
	int rc, fd;
	if (r->o->overwrite != TIER_OVERWRITE_REFUSE || !r->snap_root)
		return 0;
	if ((rc = open_dest(r, 0, &fd)) < 0 || fd < 0)
		return rc;
	memset(&probe, 0, sizeof(probe));
	probe.fd = fd;
	rc = walk_selection(r, &probe, WALK_CHECK);
	close(fd);
	return rc;
}

/* --dry-run: the walk counts, against DEST as it is (fd -1: none yet). */
static int dry_run(struct restore_run *r)
{
	struct rdir probe;
	int rc, fd;
	if ((rc = dest_path(r)) < 0 || (rc = check_conflicts(r)) < 0)
		return rc;
	if (!r->snap_root)
		return 0;
	if ((rc = open_dest(r, 0, &fd)) < 0)
		return rc;
	memset(&probe, 0, sizeof(probe));
	probe.fd = fd;
	rc = walk_selection(r, &probe, WALK_DRY);
	if (fd >= 0)
		close(fd);
	if (rc == 0 && r->fail_code)
		rc = tier_error_set(r->fail_code, "%s",
		                    r->fail_msg ? r->fail_msg
		                                : "restore failed");
	if (rc == 0)
		tier_restore_progress(r, 1);
	return rc;
}

/* DEST, created if need be and held by the walk. */
static int open_dest_dir(struct restore_run *r)
{
	int rc, fd;
	if ((rc = open_dest(r, 1, &fd)) < 0)
		return rc;
	if (!(r->dest_dir = tier_restore_rdir_new(
	              r, fd, r->dest.size ? r->dest.ptr : "/")))
		return TIER_ERROR;
	tier_restore_walk_hold(r);
	return 0;
}

/* A worker's own connections, so that reads overlap; shared ones if not. */
static void worker_connect(struct restore_run *r, struct worker *w)
{
	w->locs = tier_calloc(r->ntiers, sizeof(tier_location *));
	for (size_t i = 0; w->locs && i < r->ntiers; i++)
		if (r->t[i].usable &&
		    tier_location_clone(&w->locs[i], r->t[i].loc) < 0) {
			for (size_t k = 0; k < i; k++)
				tier_location_free(w->locs[k]);
			free(w->locs);
			w->locs = NULL;
			tier_error_clear();
		}
}

static int start_workers(struct restore_run *r)
{
	for (r->started = 0; r->started < NWORKERS; r->started++) {
		struct worker *w = &r->w[r->started];
		w->r = r;
		worker_connect(r, w);
		if (pthread_create(&w->th, NULL, tier_restore_worker_main, w) !=
		    0) {
			int rc = tier_error_set(
			        TIER_ERROR, "cannot start a restore thread");
			tier_restore_set_fatal(r, rc);
			return rc;
		}
	}
	return 0;
}

/* The walk: entries created, files cut into read jobs for the workers. */
static void plan(struct restore_run *r)
{
	int rc = walk_selection(r, r->dest_dir, WALK_PLAN);
	if (rc == 0)
		rc = tier_restore_flush_job(r);
	if (rc < 0)
		tier_restore_set_fatal(r, rc);
}

static void end_planning(struct restore_run *r)
{
	tier_restore_window_free(r);
	tier_buf_clear(&r->current);
	pthread_mutex_lock(&r->lock);
	r->planning_done = 1;
	pthread_cond_broadcast(&r->nonempty);
	pthread_mutex_unlock(&r->lock);
}

/* The workers drain the queue, progress is reported meanwhile. */
static void wait_for_workers(struct restore_run *r)
{
	for (;;) {
		pthread_mutex_lock(&r->lock);
		int busy = r->qlen > 0 || r->live != NULL;
		int stop = r->abort;
		pthread_mutex_unlock(&r->lock);
		if (!busy || stop)
			break;
		if (tier_restore_progress(r, 0) < 0)
			break;
		tier_sleep_ms(20);
	}
}

static void stop_workers(struct restore_run *r)
{
	for (size_t i = 0; i < r->started; i++)
		pthread_join(r->w[i].th, NULL);
	for (size_t i = 0; i < NWORKERS; i++) {
		for (size_t k = 0; r->w[i].locs && k < r->ntiers; k++)
			tier_location_free(r->w[i].locs[k]);
		free(r->w[i].locs);
		r->w[i].locs = NULL;
	}
	/* jobs left in the queue by a stopped run */
	while (r->qlen > 0) {
		tier_restore_job_free(r->queue[r->qhead]);
		r->qhead = (r->qhead + 1) % QUEUE_CAP;
		r->qlen--;
	}
}

/* Whatever is left was interrupted: no half file stays behind. */
static void discard_unfinished(struct restore_run *r)
{
	while (r->live) {
		struct rfile *f = r->live;
		tier_restore_live_remove(r, f);
		if (f->fd >= 0)
			close(f->fd);
		unlinkat(f->dir->fd, f->tmp, 0);
		tier_restore_rfile_free(r, f);
	}
	/* the last directories get their metadata here */
	tier_restore_walk_drop(r, r->dest_dir);
	r->dest_dir = NULL;
}

/* The first error that stopped the run, else the first entry that failed. */
static int run_result(struct restore_run *r)
{
	if (r->fatal_code)
		return tier_error_set(r->fatal_code, "%s",
		                      r->fatal_msg ? r->fatal_msg
		                                   : "restore failed");
	if (r->fail_code)
		return tier_error_set(r->fail_code, "%s",
		                      r->fail_msg ? r->fail_msg
		                                  : "restore failed");
	tier_restore_progress(r, 1);
	return 0;
}

static int run_restore(struct restore_run *r)
{
	int rc;
	if ((rc = choose_revision(r)) < 0)
		return rc;
	if (r->o->dry_run)
		return dry_run(r);
	if ((rc = prepare(r)) < 0 || (rc = check_conflicts(r)) < 0 ||
	    (rc = open_dest_dir(r)) < 0)
		return rc;
	if (start_workers(r) == 0 && r->snap_root)
		plan(r);
	end_planning(r);
	wait_for_workers(r);
	stop_workers(r);
	discard_unfinished(r);
	return run_result(r);
}

static void run_init(struct restore_run *r, tier_vault *v,
                     const tier_restore_options *opts,
                     tier_restore_stats *stats)
{
	memset(r, 0, sizeof(*r));
	r->v = v;
	r->o = opts;
	r->stats = stats;
	r->repo = tier_vault_cache(v);
	r->root = geteuid() == 0;
	const char *kill = getenv("TIER_TEST_RESTORE_KILL");
	if (kill && *kill)
		r->kill_after = strtoul(kill, NULL, 10);
	pthread_mutex_init(&r->lock, NULL);
	pthread_mutex_init(&r->io, NULL);
	pthread_mutex_init(&r->cb, NULL);
	pthread_cond_init(&r->nonempty, NULL);
	pthread_cond_init(&r->nonfull, NULL);
	pthread_cond_init(&r->dir_freed, NULL);
	pthread_cond_init(&r->opened, NULL);
}

static void run_dispose(struct restore_run *r)
{
	for (size_t i = 0; i < NWORKERS; i++) {
		free(r->w[i].buf);
		free(r->w[i].raw);
	}
	tier_vec_dispose(&r->sel, free);
	tier_restore_matcher_free(r->inc);
	tier_restore_matcher_free(r->exc);
	tier_strings_free(r->roots);
	git_tree_free(r->snap_root);
	git_tree_free(r->rev_tree);
	for (size_t i = 0; i < r->ntiers; i++)
		free(r->t[i].bad);
	free(r->t);
	tier_chunkmap_free(r->map);
	tier_buf_dispose(&r->dest);
	tier_buf_dispose(&r->current);
	free(r->fatal_msg);
	free(r->fail_msg);
	pthread_cond_destroy(&r->dir_freed);
	pthread_cond_destroy(&r->opened);
	pthread_cond_destroy(&r->nonempty);
	pthread_cond_destroy(&r->nonfull);
	pthread_mutex_destroy(&r->cb);
	pthread_mutex_destroy(&r->io);
	pthread_mutex_destroy(&r->lock);
}

/*
 * The options as this build reads them: version 1 ends before dry_run,
 * the rest stays zero.  The patterns become matchers.
 */
static int take_options(struct restore_run *r, const tier_restore_options *in)
{
	int rc;
	r->opts = (tier_restore_options)TIER_RESTORE_OPTIONS_INIT;
	if (in->version == 1)
		memcpy(&r->opts, in, offsetof(tier_restore_options, dry_run));
	else
		r->opts = *in;
	r->o = &r->opts;
	if (r->opts.overwrite < TIER_OVERWRITE_REFUSE ||
	    r->opts.overwrite > TIER_OVERWRITE_NEVER)
		return tier_error_set(TIER_EUSAGE,
		                      "restore overwrite mode %d is unknown",
		                      r->opts.overwrite);
	if ((rc = tier_restore_matcher_new(&r->inc, r->opts.include,
	                                   r->opts.ninclude, "include")) < 0 ||
	    (rc = tier_restore_matcher_new(&r->exc, r->opts.exclude,
	                                   r->opts.nexclude, "exclude")) < 0)
		return rc;
	return 0;
}

int tier_restore_run(tier_restore_stats *stats, tier_vault *v,
                     const tier_restore_options *opts)
{
	tier_restore_stats local;
	struct restore_run r;
	int rc;

	if (!stats)
		stats = &local;
	memset(stats, 0, sizeof(*stats));
	TIER_ASSERT_ARG(v);
	TIER_ASSERT_ARG(opts);
	TIER_CHECK_VERSION(opts, TIER_RESTORE_OPTIONS_VERSION,
	                   "tier_restore_options");
	if (!opts->dest || !*opts->dest)
		return tier_error_set(
		        TIER_EUSAGE,
		        "no destination directory to restore into");
	if (opts->npaths && !opts->paths)
		return tier_error_set(
		        TIER_EUSAGE,
		        "restore options name paths but give none");

	run_init(&r, v, opts, stats);
	if ((rc = take_options(&r, opts)) == 0)
		rc = run_restore(&r);
	run_dispose(&r);
	return rc;
}

/* ---- a run that only reads (tier-cat, restore_int.h) -------------------- */

struct tier_restore_reader {
	struct restore_run r;
	tier_restore_options o;
	tier_restore_stats st;
};

int tier_restore_reader_open(struct tier_restore_reader **out, tier_vault *v,
                             const git_oid *commit, uint64_t rev,
                             tier_restore_warning_cb warning, void *payload)
{
	struct tier_restore_reader *rd = tier_calloc(1, sizeof(*rd));
	int rc;

	*out = NULL;
	if (!rd)
		return TIER_ERROR;
	rd->o = (tier_restore_options)TIER_RESTORE_OPTIONS_INIT;
	rd->o.dest = "";
	rd->o.warning = warning;
	rd->o.payload = payload;
	run_init(&rd->r, v, &rd->o, &rd->st);
	rd->r.rev = rev;
	rd->st.revision = rev;
	git_oid_cpy(&rd->r.commit, commit);
	if ((rc = tier_restore_rev_trees(&rd->r, commit, rev, &rd->r.rev_tree,
	                                 &rd->r.snap_root)) < 0 ||
	    (rc = tier_restore_open_data(&rd->r, commit)) < 0) {
		tier_restore_reader_free(rd);
		return rc;
	}
	*out = rd;
	return 0;
}

int tier_restore_reader_read(struct tier_restore_reader *rd, const tier_node *n,
                             const char *snap, tier_restore_sink_fn sink,
                             void *payload)
{
	return tier_restore_read_node(&rd->r, n, snap, sink, payload);
}

uint64_t tier_restore_reader_damaged(const struct tier_restore_reader *rd)
{
	return rd ? rd->st.damaged : 0;
}

void tier_restore_reader_free(struct tier_restore_reader *rd)
{
	if (!rd)
		return;
	run_dispose(&rd->r);
	free(rd);
}
