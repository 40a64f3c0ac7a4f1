/*
 * Push: walk the source paths, build the snapshot tree in the write's
 * in-memory object store, and send new chunks in packs to every target.
 * This file holds tier_push_run, the run's life as a list of steps
 * (options, previous revision, threads, walk, stop, revision, commit), and
 * the reporting every part of a push uses; the parts are listed in
 * push_int.h.
 *
 * Threads: the calling thread walks directories and owns every libgit2
 * call; `threads` workers each take whole files (read, chunk, hash,
 * deduplicate, compress, append to the shared pack); one uploader thread
 * sends finished packs to the tiers.  A directory's tree is written once
 * every file below it is done, so memory stays bounded by the work queue,
 * not by the size of the tree.
 */
#include "tier/push.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "objread.h"
#include "push_int.h"
#include "snapshot_int.h"
#include "util/error.h"
#include "util/posix.h"

/* A node's fixed lines (type, mode, times...) take less than this. */
#define NODE_HEADER_MAX 1024
/* "chunk <64 hex> <length>\n" at most */
#define NODE_CHUNK_LINE 82

/* ---- reporting ------------------------------------------------------------ */

void tier_push_set_fatal(struct push_run *p, int code)
{
	if (!p->fatal) {
		p->fatal = 1;
		p->fatal_code = code;
		snprintf(p->fatal_msg, sizeof(p->fatal_msg), "%s",
		         tier_error_last());
	}
}

/* strerror() as our messages spell it: lowercase */
const char *tier_push_strerror(int errnum)
{
	static _Thread_local char buf[128];
	snprintf(buf, sizeof(buf), "%s", strerror(errnum));
	if (buf[0] >= 'A' && buf[0] <= 'Z')
		buf[0] = (char)(buf[0] - 'A' + 'a');
	return buf;
}

void tier_push_warn(struct push_run *p, const char *fmt, ...)
{
	/* any length: a path may be longer than PATH_MAX */
	tier_buf msg = TIER_BUF_INIT;
	va_list ap;
	va_start(ap, fmt);
	tier_buf_vprintf(&msg, fmt, ap);
	va_end(ap);
	if (p->opts->warning && msg.ptr)
		p->opts->warning(msg.ptr, p->opts->payload);
	tier_buf_dispose(&msg);
}

/*
 * A path that is left out of the revision, or only partly in it: one
 * warning line (what: "" for a file, "directory " ...; after: what was
 * skipped) and the unreadable callback.  Main thread only.
 */
void tier_push_unreadable(struct push_run *p, const char *what,
                          const char *path, const char *reason,
                          const char *after)
{
	tier_buf q = TIER_BUF_INIT;
	tier_quote_path(&q, path, strlen(path));
	tier_push_warn(p, "cannot read %s'%s': %s (%s)", what,
	               tier_buf_cstr(&q), reason, after);
	tier_buf_dispose(&q);
	p->st.errors++;
	if (p->opts->unreadable)
		p->opts->unreadable(path, reason, p->opts->payload);
}

int tier_push_progress(struct push_run *p, int force)
{
	struct timespec now;
	if (!p->opts->progress)
		return 0;
	clock_gettime(CLOCK_MONOTONIC, &now);
	long ms = (now.tv_sec - p->last_progress.tv_sec) * 1000 +
	          (now.tv_nsec - p->last_progress.tv_nsec) / 1000000;
	if (!force && ms < 100)
		return 0;
	p->last_progress = now;
	tier_push_stats snap;
	pthread_mutex_lock(&p->lock);
	snap = p->st;
	pthread_mutex_unlock(&p->lock);
	pthread_mutex_lock(&p->pack_lock);
	snap.packs = p->packs_done;
	snap.stored_bytes = p->stored_done;
	pthread_mutex_unlock(&p->pack_lock);
	/* p->current is our copy: the walk's own buffers come and go */
	if (p->opts->progress(&snap, tier_buf_cstr(&p->current),
	                      p->opts->payload)) {
		p->cancel = 1;
		return tier_error_set(TIER_EABORTED, "push cancelled");
	}
	return 0;
}

/* ---- pieces of the run ------------------------------------------------------ */

static void stop_threads(struct push_run *p, pthread_t *workers, size_t nw,
                         pthread_t up, int have_up)
{
	pthread_mutex_lock(&p->lock);
	p->stop = 1;
	pthread_cond_broadcast(&p->work_cv);
	pthread_mutex_unlock(&p->lock);
	for (size_t i = 0; i < nw; i++)
		pthread_join(workers[i], NULL);
	if (have_up) {
		pthread_mutex_lock(&p->pack_lock);
		p->up_stop = 1;
		pthread_cond_broadcast(&p->up_cv);
		pthread_mutex_unlock(&p->pack_lock);
		pthread_join(up, NULL);
		if (p->have_up2)
			pthread_join(p->up2, NULL);
		p->have_up2 = 0;
		tier_write_free_clones(p->w, p->up2_locs);
		p->up2_locs = NULL;
	}
	p->st.packs = p->packs_done;
	p->st.stored_bytes = p->stored_done;
}

static void summary_line(tier_buf *out, const tier_push_stats *s,
                         const tier_vec *set, int sealed)
{
	/* an encrypted vault shows no path in plain text, here neither */
	if (sealed)
		tier_buf_printf(out, "push: %zu path%s", set->length,
		                set->length == 1 ? "" : "s");
	else
		tier_buf_printf(out, "push: %s", tier_quote_name(set->ptr[0]));
	if (!sealed && set->length > 1)
		tier_buf_printf(out, " and %zu more", set->length - 1);
	/* a file is every non-directory entry, as tier-log --stat counts */
	tier_buf_printf(out, ", %llu file%s, %llu bytes (%llu new)",
	                (unsigned long long)(s->files + s->others),
	                s->files + s->others == 1 ? "" : "s",
	                (unsigned long long)s->bytes,
	                (unsigned long long)s->new_bytes);
}

/* TIER_TEST_<name>=N lowers a format bound so that tests reach it. */
static size_t test_bound(const char *name, size_t dflt)
{
	const char *e = getenv(name);
	char *end = NULL;
	unsigned long long n = e ? strtoull(e, &end, 10) : 0;
	if (!e || end == e || *end || n == 0 || n > dflt)
		return dflt;
	return (size_t)n;
}

/*
 * The tree of the base revision's snapshot (restic's parent): unchanged
 * files are taken from it unread.  *out NULL when there is none.
 */
static int base_root(struct push_run *p, git_tree **out, const char *trailers)
{
	char host[128];
	git_oid base, id;
	git_commit *c = NULL;
	git_tree *t = NULL;
	int found = 0, rc;
	*out = NULL;
	if (p->opts->reread || !tier_write_parent(p->w))
		return 0;
	tier_push_host(host, sizeof(host));
	if ((rc = tier_push_find_base(&base, &found, p->repo,
	                              tier_write_parent(p->w), host,
	                              trailers)) < 0 ||
	    !found)
		return rc;
	if ((rc = git_commit_lookup(&c, p->repo, &base)) < 0 ||
	    (rc = git_commit_tree(&t, c)) < 0) {
		git_commit_free(c);
		return tier_error_from_git(rc, "cannot read the base revision");
	}
	if (tier_snap_part(&id, t, TIER_SNAP_ROOT) == 0)
		rc = tier_tree_lookup_bounded(out, p->repo, &id,
		                              "the base revision's snapshot");
	git_tree_free(t);
	git_commit_free(c);
	return rc;
}

/* ---- the run's steps ----------------------------------------------------- */

/* A tag or the message: one trailer line, so no control character (no
 * newline could forge another trailer); a tag no blank or comma either
 * (restic's tag lists are comma-separated). */
static int check_label(const char *what, const char *s, size_t max, int tag)
{
	size_t n = strlen(s);
	if (n == 0 || n > max)
		return tier_error_set(TIER_EUSAGE,
		                      "%s '%.40s%s' must be 1 to %zu bytes",
		                      what, s, n > 40 ? "..." : "", max);
	for (const unsigned char *c = (const unsigned char *)s; *c; c++)
		if (*c < 0x20 || *c == 0x7f ||
		    (tag && (*c == ' ' || *c == ',')))
			return tier_error_set(
			        TIER_EUSAGE,
			        "%s '%.40s%s' has a %s: not allowed", what, s,
			        n > 40 ? "..." : "",
			        *c == ' '   ? "space"
			        : *c == ',' ? "comma"
			                    : "control character");
	return 0;
}

static int check_labels(const tier_push_options *o)
{
	int rc;
	for (size_t i = 0; i < o->ntags; i++)
		if (!o->tags || !o->tags[i])
			return tier_error_set(TIER_EUSAGE, "a NULL tag");
		else if ((rc = check_label("tag", o->tags[i], 255, 1)) < 0)
			return rc;
	if (o->message && *o->message &&
	    (rc = check_label("message", o->message, 1000, 0)) < 0)
		return rc;
	return 0;
}

/* Tier-Tag (each tag once, in the order given) and Tier-Message. */
static int label_trailers(tier_buf *b, const tier_push_options *o,
                          const tier_keys *keys)
{
	for (size_t i = 0; i < o->ntags; i++) {
		size_t j = 0;
		while (j < i && strcmp(o->tags[j], o->tags[i]) != 0)
			j++;
		if (j == i)
			tier_buf_printf(b, "Tier-Tag: %s\n", o->tags[i]);
	}
	if (o->message && *o->message && keys) {
		tier_buf_puts(b, "Tier-Message: ");
		if (tier_trailer_seal(b, keys, "Tier-Message", o->message,
		                      strlen(o->message)) < 0)
			return TIER_ERROR;
		tier_buf_putc(b, '\n');
	} else if (o->message && *o->message) {
		tier_buf_printf(b, "Tier-Message: %s\n", o->message);
	}
	return 0;
}

/*
 * one_file_system: the devices of the given paths, as restic takes them:
 * an entry on any of them is on the file system (so "-x / /home" keeps
 * /home, also when the path set drops it as inside "/").  A path that
 * cannot be stat'ed adds none: the walk reports it.
 */
static int take_devices(struct push_run *p)
{
	const tier_push_options *o = &p->options;
	struct stat st;
	if (!o->one_file_system)
		return 0;
	if (!(p->devs =
	              tier_calloc(o->npaths ? o->npaths : 1, sizeof(*p->devs))))
		return TIER_ERROR;
	for (size_t i = 0; i < o->npaths; i++)
		if (o->paths[i] && stat(o->paths[i], &st) == 0)
			p->devs[p->ndevs++] = st.st_dev;
	return 0;
}

/* The excludes of the options (docs/excludes.md), checked before any write. */
static int take_excludes(struct push_run *p)
{
	const tier_push_options *o = &p->options;
	int rc = 0;
	if (!o->nexclude && !o->nexclude_files && !o->nexclude_if_present &&
	    !o->exclude_larger_than)
		return take_devices(p);
	if ((o->nexclude && !o->exclude) ||
	    (o->nexclude_files && !o->exclude_files) ||
	    (o->nexclude_if_present && !o->exclude_if_present))
		return tier_error_set(TIER_EUSAGE, "push options count "
		                                   "excludes but give none");
	if ((rc = tier_exclude_new(&p->ex)) < 0)
		return rc;
	for (size_t i = 0; rc == 0 && i < o->nexclude; i++)
		rc = tier_exclude_add(p->ex, o->exclude[i]);
	for (size_t i = 0; rc == 0 && i < o->nexclude_files; i++)
		rc = tier_exclude_add_file(p->ex, o->exclude_files[i]);
	for (size_t i = 0; rc == 0 && i < o->nexclude_if_present; i++)
		rc = tier_exclude_add_if_present(p->ex,
		                                 o->exclude_if_present[i]);
	tier_exclude_set_larger_than(p->ex, o->exclude_larger_than);
	if (rc == 0)
		rc = take_devices(p);
	if (rc < 0) {
		tier_exclude_free(p->ex);
		p->ex = NULL;
	}
	return rc;
}

/*
 * The options as this build reads them, and the path set they name.
 * Older structs are prefixes of this one: version 1 ends before
 * `pack_size`, version 2 before `unreadable`, version 3 before
 * `exclude`; the rest stays zero.
 */
static int take_options(struct push_run *p, const tier_push_options *in)
{
	tier_push_options *opts = &p->options;
	int rc;
	*opts = (tier_push_options)TIER_PUSH_OPTIONS_INIT;
	if (in->version == 1)
		memcpy(opts, in, offsetof(tier_push_options, pack_size));
	else if (in->version == 2)
		memcpy(opts, in, offsetof(tier_push_options, unreadable));
	else if (in->version == 3)
		memcpy(opts, in, offsetof(tier_push_options, exclude));
	else
		*opts = *in;
	if ((rc = check_labels(opts)) < 0)
		return rc;
	if (opts->npaths == 0)
		return tier_error_set(
		        TIER_EUSAGE,
		        "nothing to back up: give at least one path");

	if (opts->pack_size &&
	    (opts->pack_size < 65536 || opts->pack_size > UINT32_MAX))
		return tier_error_set(
		        TIER_EUSAGE,
		        "pack size %llu is out of range (64 KiB to 4 GiB)",
		        (unsigned long long)opts->pack_size);
	if ((rc = take_excludes(p)) < 0)
		return rc;
	if ((rc = tier_push_path_set(&p->set, opts->paths, opts->npaths)) < 0 ||
	    (rc = tier_push_path_trailers(&p->paths, &p->set,
	                                  tier_vault_keys(p->v))) < 0) {
		tier_vec_dispose(&p->set, free);
		tier_buf_dispose(&p->paths);
		tier_exclude_free(p->ex);
		p->ex = NULL;
		free(p->devs);
		p->devs = NULL;
		return rc;
	}
	return 0;
}

static void run_init(struct push_run *p, tier_vault *v)
{
	p->v = v;
	p->opts = &p->options;
	p->pack_size = p->options.pack_size ? p->options.pack_size
	                                    : TIER_DEFAULT_PACK_SIZE;
	p->pack_max_chunks =
	        test_bound("TIER_TEST_PACK_MAX_CHUNKS",
	                   (TIER_MAX_INDEX_BLOB - TIER_PACK_TRAILER_SIZE) /
	                           TIER_PACK_ENTRY_SIZE);
	p->node_max_chunks = test_bound("TIER_TEST_NODE_MAX_CHUNKS",
	                                (TIER_MAX_NODE_BLOB - NODE_HEADER_MAX) /
	                                        NODE_CHUNK_LINE);
	pthread_mutex_init(&p->lock, NULL);
	pthread_mutex_init(&p->pack_lock, NULL);
	pthread_cond_init(&p->work_cv, NULL);
	pthread_cond_init(&p->done_cv, NULL);
	pthread_cond_init(&p->up_cv, NULL);
	pthread_cond_init(&p->room_cv, NULL);
	clock_gettime(CLOCK_MONOTONIC, &p->last_progress);
}

/*
 * The last push's stat cache, and this push's, beside it.  Neither is
 * needed: without them unchanged files are compared with their nodes.
 */
static int open_stat_cache(struct push_run *p)
{
	char path[PATH_MAX];
	int rc;
	if (snprintf(path, sizeof(path), "%s/statcache",
	             tier_vault_state_dir(p->v)) >= (int)sizeof(path))
		return 0;
	if (p->proot && !p->opts->reread &&
	    (rc = tier_statcache_open(&p->sc, path)) < 0)
		return rc;
	if (tier_statcache_writer_new(&p->scw, path) < 0)
		tier_error_clear();
	return 0;
}

/*
 * The previous revision: its index for dedup, its vault blob; the base
 * revision's snapshot for unchanged files.
 */
static int read_previous(struct push_run *p)
{
	int rc;
	p->repo = tier_write_repo(p->w);
	if (tier_write_parent(p->w)) {
		if ((rc = git_commit_lookup(&p->parent, p->repo,
		                            tier_write_parent(p->w))) < 0 ||
		    (rc = git_commit_tree(&p->ptree, p->parent)) < 0)
			return tier_error_from_git(
			        rc, "cannot read the previous revision");
		git_oid id;
		if (tier_snap_part(&id, p->ptree, TIER_SNAP_INDEX) == 0 &&
		    (rc = tier_tree_lookup_bounded(&p->pindex, p->repo, &id,
		                                   "the vault's index")) < 0)
			return rc;
	}
	if (!p->ptree ||
	    tier_snap_part(&p->vault_blob, p->ptree, TIER_SNAP_VAULT) < 0)
		return tier_error_set(
		        TIER_ECORRUPT,
		        "the vault's log has no vault description");
	if ((rc = base_root(p, &p->proot, tier_buf_cstr(&p->paths))) < 0)
		return rc;
	if ((rc = open_stat_cache(p)) < 0)
		return rc;
	return tier_chunkmap_load(&p->map, p->repo, p->ptree,
	                          tier_vault_state_dir(p->v),
	                          tier_vault_keys(p->v));
}

/* cache.git/tmp for the packs being filled; the packs to resume. */
static int prepare_packs(struct push_run *p)
{
	int rc;
	snprintf(p->tmpdir, sizeof(p->tmpdir), "%s/tmp",
	         git_repository_path(tier_vault_cache(p->v)));
	if ((rc = tier_mkdir_p(p->tmpdir, 0700)) < 0)
		return rc;
	tier_push_clean_tmp(p->tmpdir);
	/* its runs spill beside the packs being filled, not into $TMPDIR */
	if ((rc = tier_spillset_new(&p->added, TIER_HASH_LEN, 0, p->tmpdir,
	                            0)) < 0)
		return rc;
	if ((rc = tier_push_resume_dir(&p->resume_dir,
	                               tier_vault_cache(p->v))) < 0)
		return rc;
	return tier_push_take_resumed(p);
}

static int start_threads(struct push_run *p)
{
	unsigned int nthreads = p->opts->threads;
	if (!nthreads) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);
		nthreads = n > 0 ? (unsigned)n : 2;
	}
	if (nthreads > MAX_WORKERS)
		nthreads = MAX_WORKERS;
	for (; p->nworkers < nthreads; p->nworkers++)
		if (pthread_create(&p->workers[p->nworkers], NULL,
		                   tier_push_worker, p) != 0)
			break;
	if (pthread_create(&p->up, NULL, tier_push_uploader, p) == 0)
		p->have_up = 1;
	/* a second uploader when its connections can be had (they log in
	 * on first use); without it the push is only slower */
	if (p->have_up && tier_write_clone_targets(p->w, &p->up2_locs) == 0 &&
	    pthread_create(&p->up2, NULL, tier_push_uploader2, p) == 0)
		p->have_up2 = 1;
	if (!p->have_up2) {
		tier_write_free_clones(p->w, p->up2_locs);
		p->up2_locs = NULL;
		tier_error_clear();
	}
	if (!p->nworkers || !p->have_up)
		return tier_error_set(TIER_ERROR, "cannot start push threads");
	return 0;
}

/* The given paths under a synthetic root, every file done, packs closed. */
static int walk(struct push_run *p)
{
	int rc;
	rc = tier_push_new_dirjob(p, &p->root, NULL, "", "/", p->proot);
	p->proot = NULL; /* owned by root, or freed by new_dirjob */
	if (rc < 0)
		return rc;
	p->root->synthetic = 1;
	if ((p->root->fd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return tier_error_set_errno(TIER_ERROR, errno,
		                            "cannot open '/'");
	rc = tier_push_walk_paths(p, p->root, &p->set);
	while (rc == 0 && p->in_flight > 0)
		rc = tier_push_drain(p, 1);
	if (rc == 0)
		rc = tier_push_close_synthetic(p, p->root);
	if (rc == 0 && p->fatal)
		rc = tier_error_set(p->fatal_code, "%s", p->fatal_msg);
	/* every file is done: the workers are idle, their packs are ours */
	for (size_t i = 0; rc == 0 && i < MAX_WORKERS; i++)
		rc = tier_push_pack_finish(p, &p->pw[i]);
	return rc;
}

/* Stop the threads after the walk (rc its result); the run's result. */
static int stop_run(struct push_run *p, int rc)
{
	/* on error, drain what workers still hand back so nothing leaks */
	if (rc < 0) {
		p->cancel = 1;
		tier_push_flush_batch(p);
		pthread_mutex_lock(&p->lock);
		for (struct filejob *f = p->todo_head, *n; f; f = n) {
			n = f->next;
			f->next = p->done_head;
			p->done_head = f;
		}
		p->todo_head = p->todo_tail = NULL;
		pthread_mutex_unlock(&p->lock);
	}
	stop_threads(p, p->workers, p->nworkers, p->up, p->have_up);
	if (rc < 0) {
		for (struct filejob *f = p->done_head, *n; f; f = n) {
			n = f->next;
			tier_push_filejob_free(f);
		}
		p->done_head = NULL;
	}
	if (rc == 0 && p->up_failed)
		rc = tier_error_set(p->up_code, "%s", p->up_msg);
	return rc;
}

/* The previous index/ tree with this push's packs added. */
static int index_with_packs(struct push_run *p, git_oid *index_id)
{
	size_t n = p->pack_ids.length;
	unsigned char(*ids)[TIER_HASH_LEN] = NULL;
	git_oid *blobs = NULL;
	int rc;
	if ((rc = tier_push_index_pending(p)) < 0)
		return rc;
	if (p->pack_blobs.length != n)
		return tier_error_set(TIER_ERROR,
		                      "a data pack has no index blob");
	ids = tier_calloc(n, TIER_HASH_LEN);
	blobs = tier_calloc(n, sizeof(*blobs));
	if (!ids || !blobs) {
		rc = TIER_ERROR;
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		memcpy(ids[i], p->pack_ids.ptr[i], TIER_HASH_LEN);
		git_oid_cpy(&blobs[i], p->pack_blobs.ptr[i]);
	}
	rc = tier_snap_index_add(index_id, p->repo, p->pindex, n,
	                         (const unsigned char(*)[TIER_HASH_LEN])ids,
	                         blobs);
out:
	free(blobs);
	free(ids);
	return rc;
}

/* The revision: root, the index with the new packs, the same vault blob. */
static int compose_revision(struct push_run *p, git_oid *rev_tree)
{
	git_oid root_id, index_id, keys_id;
	int rc = 0, has_keys;
	git_oid_cpy(&root_id, &p->root->tree_id);
	/* an encrypted vault's key slots go on with every revision */
	has_keys = p->ptree &&
	           tier_snap_part(&keys_id, p->ptree, TIER_SNAP_KEYS) == 0;
	if (p->pack_ids.length)
		rc = index_with_packs(p, &index_id);
	else if (p->pindex)
		git_oid_cpy(&index_id, git_tree_id(p->pindex));
	if (rc < 0)
		return rc;
	return tier_snap_compose(rev_tree, p->repo, &p->vault_blob, &root_id,
	                         (p->pack_ids.length || p->pindex) ? &index_id
	                                                           : NULL,
	                         has_keys ? &keys_id : NULL);
}

/* The commit: summary and trailers; the resume records are spent. */
static int commit_revision(struct push_run *p, const git_oid *rev_tree,
                           tier_write_result **out)
{
	tier_buf trailers = TIER_BUF_INIT, summary = TIER_BUF_INIT;
	int rc;
	summary_line(&summary, &p->st, &p->set, tier_vault_keys(p->v) != NULL);
	tier_buf_printf(
	        &trailers,
	        "Tier-Files: %llu\nTier-Bytes: %llu\nTier-New-Bytes: %llu\nTier-Packs: %llu\n%s",
	        /* a file is every non-directory entry, as tier-log --stat
	         * counts them (docs/glossary.md) */
	        (unsigned long long)(p->st.files + p->st.others),
	        (unsigned long long)p->st.bytes,
	        (unsigned long long)p->st.new_bytes,
	        (unsigned long long)(p->st.packs + p->st.resumed_packs),
	        tier_buf_cstr(&p->paths));
	rc = label_trailers(&trailers, p->opts, tier_vault_keys(p->v));
	if (p->opts->has_time)
		tier_write_set_time(p->w, p->opts->time, p->opts->time_offset);
	if (rc < 0 || !summary.ptr || !trailers.ptr) {
		rc = TIER_ERROR;
	} else {
		rc = tier_write_commit(p->w, rev_tree, summary.ptr,
		                       trailers.ptr, out);
		/* the revision names every recorded pack now: nothing to
		 * resume */
		if (rc == 0) {
			tier_push_resume_clear(p->resume_dir.ptr);
			tier_push_progress(p, 1);
		} else {
			/* the last progress report must not replace the
			 * commit's error with "push cancelled" */
			tier_error_saved err;
			tier_error_save(&err);
			tier_push_progress(p, 1);
			tier_error_restore(&err);
		}
	}
	tier_buf_dispose(&trailers);
	tier_buf_dispose(&summary);
	return rc;
}

/*
 * Bring the chunk map's file up to date with this push's packs now, their
 * index blobs at hand, so that the next run (a restore, maybe read-only)
 * finds it current.  Best effort: that run would merge them in itself.
 */
static void refresh_chunk_index(struct push_run *p, const git_oid *rev_tree)
{
	git_repository *cache = tier_vault_cache(p->v);
	git_tree *t = NULL;
	tier_chunkmap_free(p->map);
	p->map = NULL;
	if (git_tree_lookup(&t, cache, rev_tree) == 0 &&
	    tier_chunkmap_load(&p->map, cache, t, tier_vault_state_dir(p->v),
	                       tier_vault_keys(p->v)) < 0)
		p->map = NULL;
	git_tree_free(t);
	tier_error_clear();
}

static void run_dispose(struct push_run *p, tier_push_stats *stats)
{
	while (p->live)
		tier_push_dirjob_free(p, p->live);
	if (stats)
		*stats = p->st;
	tier_chunkmap_free(p->map);
	tier_spillset_free(p->added);
	for (size_t i = 0; i < MAX_WORKERS; i++)
		tier_pack_writer_free(p->pw[i]);
	tier_vec_dispose(&p->pack_ids, free);
	tier_vec_dispose(&p->pack_blobs, free);
	/* the threads are joined: the last references are ours */
	for (struct pack_tail *t = p->tails_head, *n; t; t = n) {
		n = t->next;
		tier_push_tail_release(p, t);
	}
	for (struct upload *u = p->up_head, *n; u; u = n) {
		n = u->next;
		tier_push_tail_release(p, u->tail);
		unlink(u->path);
		free(u->path);
		free(u);
	}
	tier_statcache_free(p->sc);
	tier_statcache_writer_free(p->scw);
	git_tree_free(p->pindex);
	git_tree_free(p->proot);
	git_tree_free(p->ptree);
	git_commit_free(p->parent);
	tier_write_free(p->w);
	tier_buf_dispose(&p->current);
	tier_buf_dispose(&p->ename);
	tier_buf_dispose(&p->resume_dir);
	tier_buf_dispose(&p->paths);
	tier_vec_dispose(&p->set, free);
	tier_exclude_free(p->ex);
	free(p->devs);
	pthread_mutex_destroy(&p->lock);
	pthread_mutex_destroy(&p->pack_lock);
	pthread_cond_destroy(&p->work_cv);
	pthread_cond_destroy(&p->done_cv);
	pthread_cond_destroy(&p->up_cv);
	pthread_cond_destroy(&p->room_cv);
}

int tier_push_run(tier_write_result **out, tier_push_stats *stats,
                  tier_vault *v, const tier_push_options *opts_in)
{
	struct push_run p;
	git_oid rev_tree;
	int rc;

	*out = NULL;
	if (stats)
		memset(stats, 0, sizeof(*stats));
	memset(&p, 0, sizeof(p));
	TIER_ASSERT_ARG(opts_in);
	TIER_CHECK_VERSION(opts_in, TIER_PUSH_OPTIONS_VERSION,
	                   "tier_push_options");
	p.v = v; /* take_options seals the Tier-Path values with its keys */
	if ((rc = take_options(&p, opts_in)) < 0)
		return rc;
	run_init(&p, v);

	if ((rc = tier_write_begin(&p.w, v, "push")) == 0 &&
	    (rc = read_previous(&p)) == 0)
		rc = prepare_packs(&p);
	if (rc == 0) {
		/* once a thread may have started, stop_run joins them */
		if ((rc = start_threads(&p)) == 0)
			rc = walk(&p);
		rc = stop_run(&p, rc);
	}
	if (rc == 0 && (rc = compose_revision(&p, &rev_tree)) == 0)
		rc = commit_revision(&p, &rev_tree, out);
	if (rc == 0 && p.pack_ids.length)
		refresh_chunk_index(&p, &rev_tree);
	/* the new snapshot's records replace the last ones once it is a
	 * revision; a cache that cannot be written only slows the next push */
	if (rc == 0 && p.scw && tier_statcache_writer_commit(p.scw) < 0)
		tier_error_clear();

	run_dispose(&p, stats);
	return rc;
}
