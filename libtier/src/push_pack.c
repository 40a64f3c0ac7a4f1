/*
 * Push: data packs.  A worker closes its pack once it is full
 * (tier_push_pack_finish hands the pack's tail to the main thread, which
 * writes it into the log as the pack's index blob, and queues the file);
 * two uploader threads send finished packs to every target and record
 * each sent one for resume (push_resume.c); the packs an interrupted push
 * left on the targets are named again here.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "push_int.h"
#include "util/error.h"
#include "util/posix.h"

/*
 * Finished packs waiting for the uploader.  Past this the workers wait:
 * reading keeps pace with the tiers, so the local copies stay small and a
 * Ctrl-C lands while files are still read (what was sent is recorded and
 * reused), not after a long queue of uploads nobody can stop.
 */
#define UP_QUEUE_MAX 2

/*
 * The tail (index + trailer, tl bytes) of the finished pack at path into
 * tail, and the pack's size.  have_mem: the caller's allocations all
 * succeeded (the reopen is tried anyway: its message names the pack).
 */
static int read_tail(tier_buf *tail, uint64_t *size, const char *path,
                     size_t tl, int have_mem)
{
	int rc = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (!have_mem || fd < 0 || tier_buf_grow(tail, tl) < 0) {
		rc = fd < 0 ? tier_error_set_errno(TIER_ERROR, errno,
		                                   "cannot reopen pack '%s'",
		                                   path)
		            : TIER_ERROR;
		goto out;
	}
	struct stat sb;
	if (fstat(fd, &sb) < 0 || (uint64_t)sb.st_size < tl) {
		rc = tier_error_set(TIER_ERROR,
		                    "pack '%s' is shorter than its index",
		                    path);
		goto out;
	}
	*size = (uint64_t)sb.st_size;
	if ((rc = tier_pread_all(fd, tail->ptr, tl, *size - tl, NULL, path)) <
	    0)
		goto out;
	tail->size = tl;
out:
	if (fd >= 0)
		close(fd);
	return rc;
}

/*
 * Under pack_lock: the pack's id joins the revision's list (*idc taken,
 * NULLed), its tail (*tail taken) the main thread's list and u (taken) the
 * upload queue; then wait while the queue is full.
 */
static int queue_pack(struct push_run *p, unsigned char **idc,
                      struct pack_tail **tail, struct upload *u, char *path,
                      uint64_t size)
{
	pthread_mutex_lock(&p->pack_lock);
	if (tier_vec_push(&p->pack_ids, *idc) < 0) {
		pthread_mutex_unlock(&p->pack_lock);
		return TIER_ERROR;
	}
	*idc = NULL;
	struct pack_tail *t = *tail;
	*tail = NULL;
	t->refs = 2;
	if (p->tails_tail)
		p->tails_tail->next = t;
	else
		p->tails_head = t;
	p->tails_tail = t;
	p->packs_done++;
	p->stored_done += size;
	u->path = path;
	u->tail = t;
	if (p->up_tail)
		p->up_tail->next = u;
	else
		p->up_head = u;
	p->up_tail = u;
	p->up_queued++;
	pthread_cond_broadcast(&p->up_cv);
	while (p->up_queued > UP_QUEUE_MAX && !p->up_failed && !p->up_stop)
		pthread_cond_wait(&p->room_cv, &p->pack_lock);
	pthread_mutex_unlock(&p->pack_lock);
	return 0;
}

void tier_push_tail_release(struct push_run *p, struct pack_tail *t)
{
	(void)p;
	if (t && --t->refs <= 0) {
		tier_buf_dispose(&t->buf);
		free(t);
	}
}

/* One index blob, its id at the end of pack_blobs. */
static int index_blob(struct push_run *p, const tier_buf *tail)
{
	git_oid *id = tier_malloc(sizeof(*id));
	int rc;
	if (!id)
		return TIER_ERROR;
	if ((rc = git_blob_create_from_buffer(id, p->repo, tail->ptr,
	                                      tail->size)) < 0)
		rc = tier_error_from_git(rc, "cannot update the pack index");
	else if ((rc = tier_vec_push(&p->pack_blobs, id)) == 0)
		return 0;
	free(id);
	return rc;
}

int tier_push_index_pending(struct push_run *p)
{
	int rc = 0;
	pthread_mutex_lock(&p->pack_lock);
	struct pack_tail *list = p->tails_head;
	p->tails_head = p->tails_tail = NULL;
	pthread_mutex_unlock(&p->pack_lock);
	/* libgit2 outside the lock: the workers and the uploader go on */
	for (struct pack_tail *t = list; t && rc == 0; t = t->next)
		rc = index_blob(p, &t->buf);
	pthread_mutex_lock(&p->pack_lock);
	for (struct pack_tail *t = list, *next; t; t = next) {
		next = t->next;
		tier_push_tail_release(p, t);
	}
	pthread_mutex_unlock(&p->pack_lock);
	return rc;
}

int tier_push_pack_finish(struct push_run *p, tier_pack_writer **pwp)
{
	unsigned char id[TIER_HASH_LEN];
	char *path = NULL;
	int rc;
	tier_pack_writer *pw = *pwp;
	if (!pw || tier_pack_writer_count(pw) == 0)
		return 0;
	*pwp = NULL;
	if ((rc = tier_pack_writer_finish(pw, id, &path)) < 0) {
		tier_pack_writer_free(pw);
		return rc;
	}
	size_t tl = (size_t)tier_pack_writer_tail_size(pw);
	uint64_t size = 0;
	tier_pack_writer_free(pw);

	/* the tail (index + trailer) goes into the log's index/ tree */
	struct pack_tail *tail = tier_calloc(1, sizeof(*tail));
	unsigned char *idc = tier_malloc(TIER_HASH_LEN);
	struct upload *u = tier_calloc(1, sizeof(*u));
	if ((rc = read_tail(tail ? &tail->buf : NULL, &size, path, tl,
	                    tail && idc && u)) == 0) {
		memcpy(idc, id, TIER_HASH_LEN);
		if ((rc = queue_pack(p, &idc, &tail, u, path, size)) == 0)
			return 0;
	}
	if (tail)
		tier_buf_dispose(&tail->buf);
	free(tail);
	free(idc);
	free(u);
	unlink(path);
	free(path);
	return rc;
}

/* Send one finished pack to every target (uploader thread). */
static int upload_one(struct push_run *p, tier_location *const *locs,
                      const struct upload *u)
{
	const char *base = strrchr(u->path, '/');
	unsigned char id[TIER_HASH_LEN];
	char dst[80];
	int rc;
	base = base ? base + 1 : u->path;
	tier_unhexn(id, TIER_HASH_LEN, base, TIER_HASH_HEXLEN);
	tier_data_pack_path(dst, id);
	int fd = open(u->path, O_RDONLY | O_CLOEXEC);
	struct stat sb;
	if (fd < 0 || fstat(fd, &sb) < 0) {
		rc = tier_error_set_errno(TIER_ERROR, errno,
		                          "cannot read pack '%s'", u->path);
	} else {
		/* a local tier may link the pack: it is never written again,
		 * only unlinked */
		tier_source src = {NULL, fd, (uint64_t)sb.st_size, u->path};
		rc = tier_write_put_on(p->w, locs, dst, &src);
	}
	if (fd >= 0)
		close(fd);
	/*
	 * On the targets now: if this push dies, the next one reuses the
	 * pack.  Only a hint, so a failure to record costs nothing but a
	 * later upload.
	 */
	if (rc == 0 && p->resume_dir.size)
		tier_push_resume_record(p->resume_dir.ptr, id, u->tail->buf.ptr,
		                        u->tail->buf.size);
	return rc;
}

/*
 * The first failed upload (under pack_lock, which it drops and takes
 * again): nothing can be stored any more, so the walk stops early.
 */
static void upload_failed(struct push_run *p, int rc)
{
	p->up_failed = 1;
	p->up_code = rc;
	snprintf(p->up_msg, sizeof(p->up_msg), "%s", tier_error_last());
	pthread_mutex_unlock(&p->pack_lock);
	pthread_mutex_lock(&p->lock);
	if (!p->fatal) {
		p->fatal = 1;
		p->fatal_code = rc;
		snprintf(p->fatal_msg, sizeof(p->fatal_msg), "%s", p->up_msg);
	}
	pthread_cond_broadcast(&p->done_cv);
	pthread_mutex_unlock(&p->lock);
	pthread_mutex_lock(&p->pack_lock);
	pthread_cond_broadcast(&p->room_cv);
}

static void uploader(struct push_run *p, tier_location *const *locs)
{
	pthread_mutex_lock(&p->pack_lock);
	for (;;) {
		while (!p->up_head && !p->up_stop)
			pthread_cond_wait(&p->up_cv, &p->pack_lock);
		struct upload *u = p->up_head;
		if (!u)
			break;
		p->up_head = u->next;
		if (!p->up_head)
			p->up_tail = NULL;
		pthread_mutex_unlock(&p->pack_lock);

		int rc = 0;
		if (!p->up_failed)
			rc = upload_one(p, locs, u);
		unlink(u->path);
		free(u->path);
		pthread_mutex_lock(&p->pack_lock);
		tier_push_tail_release(p, u->tail);
		free(u);
		p->up_queued--;
		pthread_cond_broadcast(&p->room_cv);
		if (rc < 0 && !p->up_failed)
			upload_failed(p, rc);
	}
	pthread_mutex_unlock(&p->pack_lock);
}

void *tier_push_uploader(void *arg)
{
	uploader(arg, NULL);
	return NULL;
}

void *tier_push_uploader2(void *arg)
{
	struct push_run *p = arg;
	uploader(p, p->up2_locs);
	return NULL;
}

/*
 * Packs left in cache.git/tmp by a push that was killed: not on any tier
 * (or recorded for resume already); only the write lock holder runs here.
 */
void tier_push_clean_tmp(const char *tmpdir)
{
	DIR *d = opendir(tmpdir);
	struct dirent *de;
	if (!d)
		return;
	while ((de = readdir(d)) != NULL) {
		size_t n = strlen(de->d_name);
		int finished = n == TIER_HASH_HEXLEN + 5 &&
		               !strcmp(de->d_name + TIER_HASH_HEXLEN, ".pack");
		int partial = !strncmp(de->d_name, "pack-", 5) && n > 9 &&
		              !strcmp(de->d_name + n - 4, ".tmp");
		if (finished || partial)
			unlinkat(dirfd(d), de->d_name, 0);
	}
	closedir(d);
}

/* Name the packs an interrupted push left on every target in this one. */
int tier_push_take_resumed(struct push_run *p)
{
	tier_idset committed = TIER_IDSET_INIT(TIER_HASH_LEN);
	tier_push_resumed *r = NULL;
	size_t n = 0;
	int rc = 0;
	for (size_t i = 0; i < tier_chunkmap_pack_count(p->map) && rc >= 0; i++)
		rc = tier_idset_add(&committed,
		                    tier_chunkmap_pack_id(p->map, i));
	if (rc >= 0)
		rc = tier_push_resume_load(&r, &n, p->resume_dir.ptr, p->w,
		                           tier_vault_tier_count(p->v),
		                           &committed, p->added,
		                           tier_vault_keys(p->v));
	tier_idset_dispose(&committed);
	for (size_t i = 0; rc >= 0 && i < n; i++) {
		unsigned char *id = tier_malloc(TIER_HASH_LEN);
		if (!id || tier_vec_push(&p->pack_ids, id) < 0) {
			free(id);
			rc = TIER_ERROR;
			break;
		}
		memcpy(id, r[i].id, TIER_HASH_LEN);
		/* before any worker runs: its blob is next in order */
		if ((rc = index_blob(p, &r[i].tail)) < 0)
			break;
		p->st.resumed_packs++;
	}
	tier_push_resumed_free(r, n);
	return rc < 0 ? rc : 0;
}
