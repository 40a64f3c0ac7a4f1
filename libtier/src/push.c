/*
 * Push: walk the source paths, build the snapshot tree in the write's
 * in-memory object store, and send new chunks in packs to every target.
 *
 * Threads: the calling thread walks directories and owns every libgit2
 * call; `threads` workers each take whole files (read, chunk, hash,
 * deduplicate, compress, append to the shared pack); one uploader thread
 * sends finished packs to the tiers.  A directory's tree is written once
 * every file below it is done, so memory stays bounded by the work queue,
 * not by the size of the tree.
 */
#include "tier/push.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "chunker.h"
#include "hash.h"
#include "log.h"
#include "pack.h"
#include "snapshot.h"
#include "util/error.h"
#include "util/idset.h"
#include "util/posix.h"
#include "vault.h"

#define QUEUE_MAX 512 /* files handed to workers, not yet done */
/*
 * Small files go to the workers in batches: one lock and one wake-up per
 * batch instead of per file (per-file hand-offs cost more than reading a
 * file of a few KiB).
 */
#define BATCH_FILES 32
#define BATCH_BYTES (4u << 20)
#define READ_BLOCK  (1u << 20)
#define MAX_WORKERS 16

/* ---- directories and files in flight ------------------------------------ */

struct dirjob {
	struct dirjob *parent;
	char *ename; /* escaped name in the parent ("" for the root) */
	git_treebuilder *tb;
	git_tree *prev; /* same directory in the previous revision, or NULL */
	int pending;    /* files and subdirectories not yet in tb */
	int closed;     /* walk of this directory finished */
	/* synthetic dirs (components above the given paths) */
	struct dirjob *kids, *next_kid;
	char *name;
	int synthetic;
};

struct filejob {
	struct filejob *next;
	struct dirjob *dir;
	char *path;
	char *ename;
	struct stat st;
	/* results */
	tier_chunk_ref *chunks;
	size_t nchunks, cap;
	int error; /* errno-ish: non-zero = skip the file */
	char errmsg[512];
	int changed;
	uint64_t read_bytes;
	uint64_t nchunk_refs, new_chunks,
	        new_bytes; /* merged into the stats once done */
};

/* ---- shared state --------------------------------------------------------- */

struct upload {
	struct upload *next;
	char *path;
};

struct push {
	tier_vault *v;
	tier_write *w;
	git_repository *repo;
	const tier_push_options *opts;
	tier_push_stats st;
	tier_chunkmap *map;
	char tmpdir[PATH_MAX];

	pthread_mutex_t lock; /* queues, stats, idset, pack writer */
	pthread_cond_t work_cv, done_cv, up_cv;
	struct filejob *todo_head, *todo_tail, *done_head;
	struct filejob *batch_head, *batch_tail; /* main thread only */
	size_t batch_files;
	uint64_t batch_bytes;
	int main_waiting;
	int in_flight; /* submitted, not yet drained by main */
	int stop;      /* no more work will come */
	int cancel;
	int fatal; /* a worker hit an error that ends the push */
	char fatal_msg[1024];
	int fatal_code;

	tier_idset added; /* chunks stored by this push */
	/*
	 * Each worker fills a pack of its own (pw[i], touched by worker i
	 * alone while files are in flight, by the main thread once they are
	 * all done): no lock around the bytes and the pack hash.  A shared
	 * pack made the workers queue on its lock for half the small-file
	 * part of a push.  pack_lock: finished packs and the upload queue.
	 */
	pthread_mutex_t pack_lock;
	uint64_t packs_done, stored_done;
	tier_pack_writer *pw[MAX_WORKERS];
	size_t next_worker;  /* under lock: hands out the pw slots */
	tier_vec pack_ids;   /* unsigned char[32] each */
	tier_vec pack_tails; /* tier_buf * each */

	struct upload *up_head, *up_tail;
	int up_stop;
	int up_failed;
	char up_msg[1024];
	int up_code;

	struct timespec last_progress;
	const char *current;
	uint64_t pack_size; /* close a pack at this size */
};

static void set_fatal(struct push *p, int code)
{
	if (!p->fatal) {
		p->fatal = 1;
		p->fatal_code = code;
		snprintf(p->fatal_msg, sizeof(p->fatal_msg), "%s",
		         tier_error_last());
	}
}

/* strerror() as our messages spell it: lowercase */
static const char *lc_strerror(int errnum)
{
	static _Thread_local char buf[128];
	snprintf(buf, sizeof(buf), "%s", strerror(errnum));
	if (buf[0] >= 'A' && buf[0] <= 'Z')
		buf[0] = (char)(buf[0] - 'A' + 'a');
	return buf;
}

static void warn(struct push *p, const char *fmt, ...) TIER_PRINTF(2, 3);
static void warn(struct push *p, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (p->opts->warning)
		p->opts->warning(msg, p->opts->payload);
}

/* ---- packs ------------------------------------------------------------------ */

/*
 * Finish the pack in *pwp (the caller's own) and queue it for upload;
 * only the queueing takes pack_lock.
 */
static int pack_finish(struct push *p, tier_pack_writer **pwp)
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
	size_t tl = tier_pack_writer_count(pw) * TIER_PACK_ENTRY_SIZE +
	            TIER_PACK_TRAILER_SIZE;
	uint64_t size = 0;
	tier_pack_writer_free(pw);

	/* the tail (index + trailer) goes into the log's index/ tree */
	tier_buf *tail = tier_calloc(1, sizeof(*tail));
	unsigned char *idc = tier_malloc(TIER_HASH_LEN);
	struct upload *u = tier_calloc(1, sizeof(*u));
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (!tail || !idc || !u || fd < 0 || tier_buf_grow(tail, tl) < 0) {
		rc = fd < 0 ? tier_error_set_errno(TIER_ERROR, errno,
		                                   "cannot reopen pack '%s'",
		                                   path)
		            : TIER_ERROR;
		goto fail;
	}
	struct stat sb;
	if (fstat(fd, &sb) < 0 || (uint64_t)sb.st_size < tl) {
		rc = tier_error_set(TIER_ERROR,
		                    "pack '%s' is shorter than its index",
		                    path);
		goto fail;
	}
	size = (uint64_t)sb.st_size;
	if ((rc = tier_pread_all(fd, tail->ptr, tl, size - tl, NULL, path)) < 0)
		goto fail;
	close(fd);
	fd = -1;
	tail->size = tl;
	memcpy(idc, id, TIER_HASH_LEN);
	pthread_mutex_lock(&p->pack_lock);
	if (tier_vec_push(&p->pack_ids, idc) < 0) {
		pthread_mutex_unlock(&p->pack_lock);
		rc = TIER_ERROR;
		goto fail;
	}
	idc = NULL;
	if (tier_vec_push(&p->pack_tails, tail) < 0) {
		/* the id without its tail would describe a pack wrongly */
		free(p->pack_ids.ptr[--p->pack_ids.length]);
		pthread_mutex_unlock(&p->pack_lock);
		rc = TIER_ERROR;
		goto fail;
	}
	tail = NULL;
	p->packs_done++;
	p->stored_done += size;
	u->path = path;
	if (p->up_tail)
		p->up_tail->next = u;
	else
		p->up_head = u;
	p->up_tail = u;
	pthread_cond_broadcast(&p->up_cv);
	pthread_mutex_unlock(&p->pack_lock);
	return 0;
fail:
	if (fd >= 0)
		close(fd);
	if (tail)
		tier_buf_dispose(tail);
	free(tail);
	free(idc);
	free(u);
	unlink(path);
	free(path);
	return rc;
}

static void *uploader(void *arg)
{
	struct push *p = arg;
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
		if (!p->up_failed) {
			const char *base = strrchr(u->path, '/');
			unsigned char id[TIER_HASH_LEN];
			char dst[80];
			base = base ? base + 1 : u->path;
			tier_unhexn(id, TIER_HASH_LEN, base, TIER_HASH_HEXLEN);
			tier_data_pack_path(dst, id);
			int fd = open(u->path, O_RDONLY | O_CLOEXEC);
			struct stat sb;
			if (fd < 0 || fstat(fd, &sb) < 0) {
				rc = tier_error_set_errno(
				        TIER_ERROR, errno,
				        "cannot read pack '%s'", u->path);
			} else {
				/* a local tier may link the pack: it is
				 * never written again, only unlinked */
				tier_source src = {NULL, fd,
				                   (uint64_t)sb.st_size,
				                   u->path};
				rc = tier_write_put(p->w, dst, &src);
			}
			if (fd >= 0)
				close(fd);
		}
		unlink(u->path);
		free(u->path);
		free(u);
		pthread_mutex_lock(&p->pack_lock);
		if (rc < 0 && !p->up_failed) {
			p->up_failed = 1;
			p->up_code = rc;
			snprintf(p->up_msg, sizeof(p->up_msg), "%s",
			         tier_error_last());
			/* nothing can be stored any more: stop the walk early */
			pthread_mutex_unlock(&p->pack_lock);
			pthread_mutex_lock(&p->lock);
			if (!p->fatal) {
				p->fatal = 1;
				p->fatal_code = rc;
				snprintf(p->fatal_msg, sizeof(p->fatal_msg),
				         "%s", p->up_msg);
			}
			pthread_cond_broadcast(&p->done_cv);
			pthread_mutex_unlock(&p->lock);
			pthread_mutex_lock(&p->pack_lock);
		}
	}
	pthread_mutex_unlock(&p->pack_lock);
	return NULL;
}

/* ---- workers ---------------------------------------------------------------- */

struct worker_buf {
	unsigned char *buf; /* read buffer: max chunk + one read block */
	size_t cap;
	unsigned char *out; /* compression output */
	size_t out_cap;
	tier_pack_writer **pw; /* this worker's pack */
};

static int add_chunk_ref(struct filejob *f, const unsigned char *id, size_t len)
{
	if (f->nchunks == f->cap) {
		size_t ncap = f->cap ? f->cap * 2 : 4;
		tier_chunk_ref *n = tier_realloc(f->chunks, ncap * sizeof(*n));
		if (!n)
			return TIER_ERROR;
		f->chunks = n;
		f->cap = ncap;
	}
	memcpy(f->chunks[f->nchunks].id, id, TIER_HASH_LEN);
	f->chunks[f->nchunks++].len = (uint32_t)len;
	return 0;
}

static int store_chunk(struct push *p, struct worker_buf *wb,
                       const unsigned char *data, size_t len, struct filejob *f)
{
	unsigned char id[TIER_HASH_LEN];
	int rc;
	if ((rc = tier_sha256(id, data, len)) < 0)
		return rc;
	if ((rc = add_chunk_ref(f, id, len)) < 0)
		return rc;
	f->nchunk_refs++;
	if (tier_chunkmap_find(p->map, id))
		return 0;
	pthread_mutex_lock(&p->lock);
	rc = tier_idset_add(&p->added, id);
	pthread_mutex_unlock(&p->lock);
	if (rc <= 0) /* stored by another file of this push, or out of memory */
		return rc;

	size_t out_len = 0;
	unsigned int flags = 0;
	if ((rc = tier_chunk_compress(data, len, wb->out, wb->out_cap, &out_len,
	                              &flags)) < 0)
		return rc;
	f->new_chunks++;
	f->new_bytes += len;
	tier_pack_writer **pw = wb->pw;
	if (!*pw && (rc = tier_pack_writer_new(pw, p->tmpdir)) < 0)
		return rc;
	if ((rc = tier_pack_writer_add_compressed(*pw, id, wb->out, out_len,
	                                          len, flags)) < 0)
		return rc;
	if (tier_pack_writer_size(*pw) >= p->pack_size)
		rc = pack_finish(p, pw);
	return rc;
}

static int same_stat(const struct stat *a, const struct stat *b)
{
	return a->st_size == b->st_size &&
	       a->st_mtim.tv_sec == b->st_mtim.tv_sec &&
	       a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
	       a->st_ctim.tv_sec == b->st_ctim.tv_sec &&
	       a->st_ctim.tv_nsec == b->st_ctim.tv_nsec &&
	       a->st_ino == b->st_ino;
}

/*
 * TIER_TEST_TOUCH_DURING_READ=<path>: after the first block of that file is
 * read, change its mtime, as a program writing to it would (docs/testing.md).
 */
static void test_touch_hook(const char *path)
{
	const char *t = getenv("TIER_TEST_TOUCH_DURING_READ");
	if (t && !strcmp(t, path)) {
		struct timespec ts[2] = {{0, UTIME_OMIT}, {12345, 0}};
		utimensat(AT_FDCWD, path, ts, 0);
	}
}

/* Read, chunk and store one file.  File-level problems go in f->error. */
static int process_file(struct push *p, struct worker_buf *wb,
                        struct filejob *f)
{
	tier_chunker ch;
	int fd, rc = 0;
	size_t have = 0; /* bytes in wb->buf not yet cut */
	struct stat after;

	fd = open(f->path, O_RDONLY | O_CLOEXEC | O_NOATIME);
	if (fd < 0 && errno == EPERM)
		fd = open(f->path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		f->error = errno;
		snprintf(f->errmsg, sizeof(f->errmsg), "cannot read '%s': %s",
		         f->path, lc_strerror(errno));
		return 0;
	}
	tier_chunker_init(&ch, NULL);
	for (;;) {
		if (p->cancel || p->fatal)
			break;
		ssize_t n = read(fd, wb->buf + have, READ_BLOCK);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			f->error = errno;
			snprintf(f->errmsg, sizeof(f->errmsg),
			         "cannot read '%s': %s", f->path,
			         lc_strerror(errno));
			break;
		}
		if (n == 0) {
			size_t last = tier_chunker_finish(&ch);
			if (last &&
			    (rc = store_chunk(p, wb, wb->buf, last, f)) < 0)
				goto out;
			break;
		}
		if (f->read_bytes == 0)
			test_touch_hook(f->path);
		f->read_bytes += (size_t)n;
		size_t scan_from = have, total = have + (size_t)n, start = 0;
		while (scan_from < total) {
			int cut = 0;
			size_t used =
			        tier_chunker_scan(&ch, wb->buf + scan_from,
			                          total - scan_from, &cut);
			scan_from += used;
			if (!cut)
				break;
			if ((rc = store_chunk(p, wb, wb->buf + start,
			                      scan_from - start, f)) < 0)
				goto out;
			start = scan_from;
		}
		have = total - start;
		if (start && have)
			memmove(wb->buf, wb->buf + start, have);
	}
	if (!f->error && fstat(fd, &after) == 0 && !same_stat(&after, &f->st))
		f->changed = 1;
out:
	close(fd);
	return rc;
}

static void *worker(void *arg)
{
	struct push *p = arg;
	tier_chunker_params cp = TIER_CHUNKER_PARAMS_INIT;
	struct worker_buf wb;
	wb.cap = cp.max + READ_BLOCK;
	wb.out_cap = cp.max;
	wb.buf = malloc(wb.cap);
	wb.out = malloc(wb.out_cap);

	pthread_mutex_lock(&p->lock);
	wb.pw = &p->pw[p->next_worker++];
	if (!wb.buf || !wb.out) {
		tier_error_set(TIER_ERROR, "out of memory");
		set_fatal(p, TIER_ERROR);
	}
	for (;;) {
		while (!p->todo_head && !p->stop)
			pthread_cond_wait(&p->work_cv, &p->lock);
		if (!p->todo_head)
			break;
		/* take a batch: up to BATCH_FILES files or BATCH_BYTES of data */
		struct filejob *mine = NULL, **tail = &mine;
		size_t nf = 0;
		uint64_t nb = 0;
		while (p->todo_head && nf < BATCH_FILES && nb < BATCH_BYTES) {
			struct filejob *f = p->todo_head;
			p->todo_head = f->next;
			f->next = NULL;
			*tail = f;
			tail = &f->next;
			nf++;
			nb += (uint64_t)f->st.st_size;
		}
		if (!p->todo_head)
			p->todo_tail = NULL;
		int skip = p->fatal || p->cancel;
		pthread_mutex_unlock(&p->lock);
		int rc = 0;
		for (struct filejob *f = mine; f && rc == 0; f = f->next)
			if (!skip && !p->fatal && !p->cancel)
				rc = process_file(p, &wb, f);
		pthread_mutex_lock(&p->lock);
		if (rc < 0)
			set_fatal(p, rc);
		while (mine) {
			struct filejob *f = mine;
			mine = f->next;
			p->st.read_bytes += f->read_bytes;
			p->st.chunks += f->nchunk_refs;
			p->st.new_chunks += f->new_chunks;
			p->st.new_bytes += f->new_bytes;
			f->next = p->done_head;
			p->done_head = f;
		}
		if (p->main_waiting)
			pthread_cond_broadcast(&p->done_cv);
	}
	pthread_mutex_unlock(&p->lock);
	free(wb.buf);
	free(wb.out);
	return NULL;
}

/* ---- tree building (main thread only) ------------------------------------------ */

static void node_from_stat(tier_node *n, const struct stat *st)
{
	memset(n, 0, sizeof(*n));
	n->mode = st->st_mode & 07777;
	n->uid = st->st_uid;
	n->gid = st->st_gid;
	n->size = S_ISREG(st->st_mode) ? (uint64_t)st->st_size : 0;
	n->mtime_sec = st->st_mtim.tv_sec;
	n->mtime_nsec = (uint32_t)st->st_mtim.tv_nsec;
	n->ctime_sec = st->st_ctim.tv_sec;
	n->ctime_nsec = (uint32_t)st->st_ctim.tv_nsec;
	n->ino = st->st_ino;
	n->dev = st->st_dev;
	if (S_ISREG(st->st_mode))
		n->type = TIER_NODE_FILE;
	else if (S_ISDIR(st->st_mode))
		n->type = TIER_NODE_DIR;
	else if (S_ISLNK(st->st_mode))
		n->type = TIER_NODE_SYMLINK;
	else if (S_ISFIFO(st->st_mode))
		n->type = TIER_NODE_FIFO;
	else if (S_ISCHR(st->st_mode))
		n->type = TIER_NODE_CHAR;
	else if (S_ISBLK(st->st_mode))
		n->type = TIER_NODE_BLOCK;
	else
		n->type = TIER_NODE_SOCKET;
	if (n->type == TIER_NODE_CHAR || n->type == TIER_NODE_BLOCK)
		n->rdev = st->st_rdev;
}

static int write_node(struct push *p, git_oid *out, const tier_node *n)
{
	tier_buf b = TIER_BUF_INIT;
	int rc = tier_node_encode(&b, n);
	if (rc == 0 &&
	    (rc = git_blob_create_from_buffer(out, p->repo, b.ptr, b.size)) < 0)
		rc = tier_error_from_git(rc, "cannot store file metadata");
	tier_buf_dispose(&b);
	return rc;
}

static int tb_insert(struct dirjob *d, const char *ename, const git_oid *id,
                     git_filemode_t mode)
{
	int rc = git_treebuilder_insert(NULL, d->tb, ename, id, mode);
	if (rc < 0)
		return tier_error_from_git(
		        rc, "cannot add '%s' to the snapshot", ename);
	return 0;
}

static int dir_try_finish(struct push *p, struct dirjob *d);

static int dir_child_done(struct push *p, struct dirjob *d)
{
	d->pending--;
	return dir_try_finish(p, d);
}

/* Writes the tree of d once it is walked and nothing below it is pending. */
static int dir_try_finish(struct push *p, struct dirjob *d)
{
	git_oid id;
	int rc;
	if (!d->closed || d->pending > 0 || d->synthetic == 2)
		return 0;
	if ((rc = git_treebuilder_write(&id, d->tb)) < 0)
		return tier_error_from_git(rc, "cannot write a snapshot tree");
	git_treebuilder_free(d->tb);
	d->tb = NULL;
	git_tree_free(d->prev);
	d->prev = NULL;
	if (!d->parent) {
		/* the root: keep the id in ename's place */
		d->synthetic = 2;
		git_oid *keep = tier_malloc(sizeof(*keep));
		if (!keep)
			return TIER_ERROR;
		git_oid_cpy(keep, &id);
		free(d->ename);
		d->ename = (char *)keep;
		return 0;
	}
	if ((rc = tb_insert(d->parent, d->ename, &id, GIT_FILEMODE_TREE)) < 0)
		return rc;
	struct dirjob *parent = d->parent;
	if (!d->synthetic) {
		free(d->ename);
		free(d);
	} else
		d->synthetic = 2; /* done, owned by the synthetic list */
	return dir_child_done(p, parent);
}

static int file_done(struct push *p, struct filejob *f)
{
	tier_node n;
	git_oid id;
	int rc = 0;
	struct dirjob *d = f->dir;

	if (f->error) {
		warn(p, "%s (skipped)", f->errmsg);
		p->st.errors++;
	} else if (!p->cancel && !p->fatal) {
		node_from_stat(&n, &f->st);
		if (f->changed) {
			warn(p,
			     "'%s' changed while it was read; the backup holds what was read",
			     f->path);
			p->st.changed++;
			n.ctime_sec = 0; /* make the next push read it again */
			n.ctime_nsec = 0;
		}
		n.size = 0;
		for (size_t i = 0; i < f->nchunks; i++)
			n.size += f->chunks[i].len;
		n.nchunks = f->nchunks;
		n.chunks = f->chunks;
		rc = write_node(p, &id, &n);
		if (rc == 0)
			rc = tb_insert(d, f->ename, &id, GIT_FILEMODE_BLOB);
		p->st.files++;
		p->st.bytes += n.size;
	}
	free(f->chunks);
	free(f->path);
	free(f->ename);
	free(f);
	if (rc < 0)
		return rc;
	return dir_child_done(p, d);
}

static int progress(struct push *p, int force)
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
	if (p->opts->progress(&snap, p->current, p->opts->payload)) {
		p->cancel = 1;
		return tier_error_set(TIER_EABORTED, "push cancelled");
	}
	return 0;
}

/* Hand the files batched by the main thread to the workers. */
static void flush_batch(struct push *p)
{
	if (!p->batch_head)
		return;
	pthread_mutex_lock(&p->lock);
	if (p->todo_tail)
		p->todo_tail->next = p->batch_head;
	else
		p->todo_head = p->batch_head;
	p->todo_tail = p->batch_tail;
	pthread_cond_broadcast(&p->work_cv);
	pthread_mutex_unlock(&p->lock);
	p->batch_head = p->batch_tail = NULL;
	p->batch_files = 0;
	p->batch_bytes = 0;
}

/* Handle finished files; with wait, block until at least one is done. */
static int drain(struct push *p, int wait)
{
	struct filejob *list;
	int rc = 0;
	if (wait)
		flush_batch(p);
	pthread_mutex_lock(&p->lock);
	p->main_waiting = 1;
	while (wait && !p->done_head && p->in_flight > 0 && !p->fatal)
		pthread_cond_wait(&p->done_cv, &p->lock);
	p->main_waiting = 0;
	list = p->done_head;
	p->done_head = NULL;
	pthread_mutex_unlock(&p->lock);
	while (list) {
		struct filejob *next = list->next;
		p->in_flight--;
		int r = file_done(p, list);
		if (r < 0 && rc == 0)
			rc = r;
		list = next;
	}
	if (rc == 0)
		rc = progress(p, 0);
	if (rc == 0 && p->fatal)
		rc = tier_error_set(p->fatal_code, "%s", p->fatal_msg);
	return rc;
}

static int submit(struct push *p, struct filejob *f)
{
	int rc;
	while (p->in_flight >= QUEUE_MAX)
		if ((rc = drain(p, 1)) < 0)
			return rc;
	f->next = NULL;
	if (p->batch_tail)
		p->batch_tail->next = f;
	else
		p->batch_head = f;
	p->batch_tail = f;
	p->in_flight++;
	p->batch_files++;
	p->batch_bytes += (uint64_t)f->st.st_size;
	if (p->batch_files >= BATCH_FILES || p->batch_bytes >= BATCH_BYTES)
		flush_batch(p);
	/* pick up finished work now and then without waiting */
	if ((p->in_flight & 63) == 0)
		return drain(p, 0);
	return 0;
}

/* The previous revision's node for an entry, if it is a blob. */
static int prev_node(struct push *p, git_tree *prev, const char *ename,
                     tier_node *n, git_oid *id)
{
	const git_tree_entry *e =
	        prev ? git_tree_entry_byname(prev, ename) : NULL;
	git_blob *b = NULL;
	if (!e || git_tree_entry_type(e) != GIT_OBJECT_BLOB)
		return 0;
	if (git_blob_lookup(&b, p->repo, git_tree_entry_id(e)) < 0)
		return 0;
	int ok = tier_node_decode(n, git_blob_rawcontent(b),
	                          (size_t)git_blob_rawsize(b)) == 0;
	git_blob_free(b);
	if (ok)
		git_oid_cpy(id, git_tree_entry_id(e));
	return ok;
}

static git_tree *prev_subtree(struct push *p, git_tree *prev, const char *ename)
{
	const git_tree_entry *e =
	        prev ? git_tree_entry_byname(prev, ename) : NULL;
	git_tree *t = NULL;
	if (e && git_tree_entry_type(e) == GIT_OBJECT_TREE)
		git_tree_lookup(&t, p->repo, git_tree_entry_id(e));
	return t;
}

static int add_entry(struct push *p, struct dirjob *d, const char *path,
                     const char *name, const struct stat *st);

static int walk_dir(struct push *p, struct dirjob *d, const char *path)
{
	DIR *dir = opendir(path);
	tier_buf child = TIER_BUF_INIT;
	int rc = 0;
	if (!dir) {
		warn(p,
		     "cannot read directory '%s': %s (its contents are skipped)",
		     path, lc_strerror(errno));
		p->st.errors++;
		return 0;
	}
	struct dirent *de;
	errno = 0;
	while ((de = readdir(dir)) != NULL) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		struct stat st;
		if (fstatat(dirfd(dir), de->d_name, &st, AT_SYMLINK_NOFOLLOW) <
		    0) {
			if (errno !=
			    ENOENT) { /* vanished since readdir: nothing to back up */
				warn(p, "cannot stat '%s/%s': %s (skipped)",
				     path, de->d_name, lc_strerror(errno));
				p->st.errors++;
			}
			continue;
		}
		tier_buf_clear(&child);
		tier_buf_printf(&child, "%s/%s", strcmp(path, "/") ? path : "",
		                de->d_name);
		if ((rc = add_entry(p, d, tier_buf_cstr(&child), de->d_name,
		                    &st)) < 0)
			break;
		errno = 0;
	}
	if (rc == 0 && errno) {
		warn(p, "cannot read directory '%s': %s (partly skipped)", path,
		     lc_strerror(errno));
		p->st.errors++;
	}
	closedir(dir);
	tier_buf_dispose(&child);
	return rc;
}

static int add_dirmeta(struct push *p, struct dirjob *d, const struct stat *st)
{
	tier_node n;
	git_oid id;
	int rc;
	node_from_stat(&n, st);
	if ((rc = write_node(p, &id, &n)) < 0)
		return rc;
	return tb_insert(d, TIER_SNAP_DIRMETA, &id, GIT_FILEMODE_BLOB);
}

static int new_dirjob(struct push *p, struct dirjob **out,
                      struct dirjob *parent, const char *ename, git_tree *prev)
{
	struct dirjob *d = tier_calloc(1, sizeof(*d));
	int rc;
	if (!d)
		return TIER_ERROR;
	if (!(d->ename = tier_strdup(ename))) {
		free(d);
		return TIER_ERROR;
	}
	if ((rc = git_treebuilder_new(&d->tb, p->repo, NULL)) < 0) {
		free(d->ename);
		free(d);
		return tier_error_from_git(rc, "cannot build a snapshot tree");
	}
	d->parent = parent;
	d->prev = prev;
	if (parent)
		parent->pending++;
	*out = d;
	return 0;
}

static int add_entry(struct push *p, struct dirjob *d, const char *path,
                     const char *name, const struct stat *st)
{
	tier_buf en = TIER_BUF_INIT;
	tier_node n, old;
	git_oid id, oldid;
	char target[PATH_MAX +
	            1]; /* outlives the symlink branch: write_node reads it */
	int rc;

	if ((rc = tier_snap_name_encode(&en, name, strlen(name))) < 0)
		return rc;
	p->current = path;
	if (S_ISDIR(st->st_mode)) {
		struct dirjob *sub;
		p->st.dirs++;
		if ((rc = new_dirjob(p, &sub, d, en.ptr,
		                     prev_subtree(p, d->prev, en.ptr))) < 0)
			goto out;
		if ((rc = add_dirmeta(p, sub, st)) < 0 ||
		    (rc = walk_dir(p, sub, path)) < 0)
			goto out;
		sub->closed = 1;
		rc = dir_try_finish(p, sub);
		goto out;
	}
	if (S_ISREG(st->st_mode)) {
		/* unchanged since the previous revision: reuse its node unread */
		if (!p->opts->reread &&
		    prev_node(p, d->prev, en.ptr, &old, &oldid)) {
			int same = old.type == TIER_NODE_FILE &&
			           old.size == (uint64_t)st->st_size &&
			           old.mtime_sec == st->st_mtim.tv_sec &&
			           old.mtime_nsec ==
			                   (uint32_t)st->st_mtim.tv_nsec &&
			           old.ctime_sec == st->st_ctim.tv_sec &&
			           old.ctime_nsec ==
			                   (uint32_t)st->st_ctim.tv_nsec &&
			           old.ino == st->st_ino &&
			           old.mode == (st->st_mode & 07777) &&
			           old.uid == st->st_uid &&
			           old.gid == st->st_gid;
			tier_node_dispose(&old);
			if (same) {
				p->st.files++;
				p->st.unchanged_files++;
				p->st.bytes += (uint64_t)st->st_size;
				rc = tb_insert(d, en.ptr, &oldid,
				               GIT_FILEMODE_BLOB);
				goto out;
			}
		}
		struct filejob *f = tier_calloc(1, sizeof(*f));
		if (!f || !(f->path = tier_strdup(path))) {
			free(f);
			rc = TIER_ERROR;
			goto out;
		}
		f->ename = tier_buf_detach(&en);
		f->dir = d;
		f->st = *st;
		d->pending++;
		rc = submit(p, f);
		goto out;
	}
	if (S_ISSOCK(st->st_mode)) {
		/* a socket is a live endpoint, not data: deliberately left out */
		p->st.skipped_special++;
		goto out;
	}
	node_from_stat(&n, st);
	if (S_ISLNK(st->st_mode)) {
		ssize_t tl = readlink(path, target, PATH_MAX);
		if (tl < 0) {
			warn(p, "cannot read symlink '%s': %s (skipped)", path,
			     lc_strerror(errno));
			p->st.errors++;
			goto out;
		}
		n.target = target;
		n.target_len = (size_t)tl;
	}
	p->st.others++;
	if ((rc = write_node(p, &id, &n)) == 0)
		rc = tb_insert(d, en.ptr, &id, GIT_FILEMODE_BLOB);
out:
	tier_buf_dispose(&en);
	return rc;
}

/* ---- top level: the given paths under a synthetic root ----------------- */

static int make_absolute(tier_buf *out, const char *path)
{
	char cwd[PATH_MAX];
	tier_buf raw = TIER_BUF_INIT;
	if (path[0] != '/') {
		if (!getcwd(cwd, sizeof(cwd)))
			return tier_error_set_errno(
			        TIER_ERROR, errno,
			        "cannot get the current directory");
		tier_buf_printf(&raw, "%s/%s", cwd, path);
	} else
		tier_buf_puts(&raw, path);
	/* normalise ".", ".." and "//" lexically, like the user typed it */
	tier_buf_clear(out);
	char *save = NULL, *s = tier_buf_detach(&raw);
	for (char *c = strtok_r(s, "/", &save); c;
	     c = strtok_r(NULL, "/", &save)) {
		if (!strcmp(c, "."))
			continue;
		if (!strcmp(c, "..")) {
			char *slash = out->size ? strrchr(out->ptr, '/') : NULL;
			if (slash) {
				out->size = (size_t)(slash - out->ptr);
				out->ptr[out->size] = '\0';
			}
			continue;
		}
		tier_buf_printf(out, "/%s", c);
	}
	free(s);
	if (out->size == 0)
		tier_buf_puts(out, "/");
	return 0;
}

static struct dirjob *synthetic_child(struct push *p, struct dirjob *d,
                                      const char *name, const char *path,
                                      int *rc)
{
	tier_buf en = TIER_BUF_INIT;
	struct dirjob *k;
	*rc = tier_snap_name_encode(&en, name, strlen(name));
	if (*rc < 0)
		return NULL;
	for (k = d->kids; k; k = k->next_kid)
		if (!strcmp(k->ename, en.ptr)) {
			tier_buf_dispose(&en);
			return k;
		}
	struct stat st;
	if (lstat(path, &st) < 0) {
		*rc = tier_error_set_errno(TIER_ERROR, errno,
		                           "cannot back up '%s'", path);
		tier_buf_dispose(&en);
		return NULL;
	}
	if ((*rc = new_dirjob(p, &k, d, en.ptr,
	                      prev_subtree(p, d->prev, en.ptr))) < 0 ||
	    (*rc = add_dirmeta(p, k, &st)) < 0) {
		tier_buf_dispose(&en);
		return NULL;
	}
	tier_buf_dispose(&en);
	k->synthetic = 1;
	k->next_kid = d->kids;
	d->kids = k;
	return k;
}

static int close_synthetic(struct push *p, struct dirjob *d)
{
	int rc;
	for (struct dirjob *k = d->kids; k; k = k->next_kid)
		if ((rc = close_synthetic(p, k)) < 0)
			return rc;
	d->closed = 1;
	return dir_try_finish(p, d);
}

static void free_synthetic(struct dirjob *d)
{
	struct dirjob *k = d->kids;
	while (k) {
		struct dirjob *next = k->next_kid;
		free_synthetic(k);
		k = next;
	}
	git_treebuilder_free(d->tb);
	git_tree_free(d->prev);
	free(d->ename);
	free(d);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int walk_paths(struct push *p, struct dirjob *root)
{
	tier_vec abs = TIER_VEC_INIT;
	int rc = 0;
	for (size_t i = 0; i < p->opts->npaths; i++) {
		tier_buf b = TIER_BUF_INIT;
		if ((rc = make_absolute(&b, p->opts->paths[i])) < 0 ||
		    (rc = tier_vec_push(&abs, tier_buf_detach(&b))) < 0) {
			tier_buf_dispose(&b);
			goto out;
		}
	}
	tier_vec_sort(&abs, cmp_str);
	/* every path must exist before anything is written */
	for (size_t i = 0; i < abs.length; i++) {
		struct stat st;
		if (lstat(abs.ptr[i], &st) < 0) {
			rc = tier_error_set_errno(
			        errno == EACCES ? TIER_EAUTH : TIER_ENOTFOUND,
			        errno, "cannot back up '%s'",
			        (char *)abs.ptr[i]);
			goto out;
		}
	}
	const char *prev_taken = NULL;
	for (size_t i = 0; i < abs.length; i++) {
		const char *path = abs.ptr[i];
		size_t pl = prev_taken ? strlen(prev_taken) : 0;
		/* a path inside one already taken adds nothing */
		if (prev_taken && (!strcmp(prev_taken, "/") ||
		                   (!strncmp(path, prev_taken, pl) &&
		                    (path[pl] == '/' || !path[pl]))))
			continue;
		prev_taken = path;
		struct stat st;
		if (lstat(path, &st) < 0) {
			rc = tier_error_set_errno(TIER_ERROR, errno,
			                          "cannot back up '%s'", path);
			goto out;
		}
		if (!strcmp(path, "/")) {
			p->st.dirs++;
			if ((rc = add_dirmeta(p, root, &st)) < 0 ||
			    (rc = walk_dir(p, root, "/")) < 0)
				goto out;
			continue;
		}
		/* synthetic directories down to the parent of path */
		struct dirjob *d = root;
		tier_buf sofar = TIER_BUF_INIT;
		const char *last = strrchr(path, '/') + 1;
		char *copy = tier_strndup(path, (size_t)(last - path)),
		     *save = NULL;
		for (char *c = strtok_r(copy, "/", &save); c && d;
		     c = strtok_r(NULL, "/", &save)) {
			tier_buf_printf(&sofar, "/%s", c);
			d = synthetic_child(p, d, c, tier_buf_cstr(&sofar),
			                    &rc);
		}
		free(copy);
		tier_buf_dispose(&sofar);
		if (!d)
			goto out;
		if ((rc = add_entry(p, d, path, last, &st)) < 0)
			goto out;
	}
out:
	tier_vec_dispose(&abs, free);
	return rc;
}

/* ---- the run ----------------------------------------------------------------- */

static void stop_threads(struct push *p, pthread_t *workers, size_t nw,
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
	}
	p->st.packs = p->packs_done;
	p->st.stored_bytes = p->stored_done;
}

static void summary_line(char *out, size_t cap, const tier_push_stats *s,
                         size_t npaths, const char *first)
{
	snprintf(out, cap, "push: %s%s, %llu file%s, %llu bytes (%llu new)",
	         first, npaths > 1 ? " and more" : "",
	         (unsigned long long)(s->files + s->others),
	         s->files + s->others == 1 ? "" : "s",
	         (unsigned long long)s->bytes,
	         (unsigned long long)s->new_bytes);
}

int tier_push_run(tier_write_result **out, tier_push_stats *stats,
                  tier_vault *v, const tier_push_options *opts)
{
	struct push p;
	pthread_t workers[MAX_WORKERS], up;
	size_t nw = 0;
	int have_up = 0, rc;
	git_commit *parent = NULL;
	git_tree *ptree = NULL, *proot = NULL, *pindex = NULL;
	git_oid vault_blob, root_id, index_id, rev_tree;
	struct dirjob *root = NULL;

	*out = NULL;
	if (stats)
		memset(stats, 0, sizeof(*stats));
	if (!opts || opts->version != TIER_PUSH_OPTIONS_VERSION)
		return tier_error_set(TIER_EUSAGE,
		                      "unsupported push options version");
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

	memset(&p, 0, sizeof(p));
	p.added = (tier_idset)TIER_IDSET_INIT(TIER_HASH_LEN);
	p.v = v;
	p.opts = opts;
	p.pack_size = opts->pack_size ? opts->pack_size : TIER_PACK_TARGET_SIZE;
	pthread_mutex_init(&p.lock, NULL);
	pthread_mutex_init(&p.pack_lock, NULL);
	pthread_cond_init(&p.work_cv, NULL);
	pthread_cond_init(&p.done_cv, NULL);
	pthread_cond_init(&p.up_cv, NULL);
	clock_gettime(CLOCK_MONOTONIC, &p.last_progress);

	if ((rc = tier_write_begin(&p.w, v, "push")) < 0)
		goto done;
	p.repo = tier_write_repo(p.w);

	/* the previous revision: its tree for unchanged files, its index for dedup */
	if (tier_write_parent(p.w)) {
		if ((rc = git_commit_lookup(&parent, p.repo,
		                            tier_write_parent(p.w))) < 0 ||
		    (rc = git_commit_tree(&ptree, parent)) < 0) {
			rc = tier_error_from_git(
			        rc, "cannot read the previous revision");
			goto done;
		}
		git_oid id;
		if (tier_snap_part(&id, ptree, TIER_SNAP_ROOT) == 0)
			git_tree_lookup(&proot, p.repo, &id);
		if (tier_snap_part(&id, ptree, TIER_SNAP_INDEX) == 0)
			git_tree_lookup(&pindex, p.repo, &id);
	}
	if (!ptree || tier_snap_part(&vault_blob, ptree, TIER_SNAP_VAULT) < 0) {
		rc = tier_error_set(TIER_ECORRUPT,
		                    "the vault's log has no vault description");
		goto done;
	}
	if ((rc = tier_chunkmap_load(&p.map, p.repo, ptree)) < 0)
		goto done;

	snprintf(p.tmpdir, sizeof(p.tmpdir), "%s/tmp",
	         git_repository_path(tier_vault_cache(v)));
	if ((rc = tier_mkdir_p(p.tmpdir, 0700)) < 0)
		goto done;

	unsigned int nthreads = opts->threads;
	if (!nthreads) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);
		nthreads = n > 0 ? (unsigned)n : 2;
	}
	if (nthreads > MAX_WORKERS)
		nthreads = MAX_WORKERS;
	for (; nw < nthreads; nw++)
		if (pthread_create(&workers[nw], NULL, worker, &p) != 0)
			break;
	if (pthread_create(&up, NULL, uploader, &p) == 0)
		have_up = 1;
	if (!nw || !have_up) {
		rc = tier_error_set(TIER_ERROR, "cannot start push threads");
		goto stop;
	}

	if ((rc = new_dirjob(&p, &root, NULL, "", proot)) < 0)
		goto stop;
	proot = NULL; /* owned by root */
	root->synthetic = 1;
	rc = walk_paths(&p, root);
	while (rc == 0 && p.in_flight > 0)
		rc = drain(&p, 1);
	if (rc == 0)
		rc = close_synthetic(&p, root);
	if (rc == 0 && p.fatal)
		rc = tier_error_set(p.fatal_code, "%s", p.fatal_msg);
	/* every file is done: the workers are idle, their packs are ours */
	for (size_t i = 0; rc == 0 && i < MAX_WORKERS; i++)
		rc = pack_finish(&p, &p.pw[i]);
stop:
	/* on error, drain what workers still hand back so nothing leaks */
	if (rc < 0) {
		p.cancel = 1;
		flush_batch(&p);
		pthread_mutex_lock(&p.lock);
		for (struct filejob *f = p.todo_head, *n; f; f = n) {
			n = f->next;
			f->next = p.done_head;
			p.done_head = f;
		}
		p.todo_head = p.todo_tail = NULL;
		pthread_mutex_unlock(&p.lock);
	}
	stop_threads(&p, workers, nw, up, have_up);
	if (rc < 0) {
		for (struct filejob *f = p.done_head, *n; f; f = n) {
			n = f->next;
			free(f->chunks);
			free(f->path);
			free(f->ename);
			free(f);
		}
		p.done_head = NULL;
	}
	if (rc == 0 && p.up_failed)
		rc = tier_error_set(p.up_code, "%s", p.up_msg);
	if (rc < 0)
		goto done;

	/* the revision: root, the index with the new packs, the same vault blob */
	git_oid_cpy(&root_id, (git_oid *)root->ename);
	if (p.pack_ids.length) {
		tier_buf *tails =
		        tier_calloc(p.pack_ids.length, sizeof(*tails));
		unsigned char(*ids)[TIER_HASH_LEN] =
		        tier_calloc(p.pack_ids.length, TIER_HASH_LEN);
		if (!tails || !ids) {
			free(tails);
			free(ids);
			rc = TIER_ERROR;
			goto done;
		}
		for (size_t i = 0; i < p.pack_ids.length; i++) {
			memcpy(ids[i], p.pack_ids.ptr[i], TIER_HASH_LEN);
			tails[i] = *(tier_buf *)p.pack_tails.ptr[i];
		}
		rc = tier_snap_index_add(
		        &index_id, p.repo, pindex, p.pack_ids.length,
		        (const unsigned char(*)[TIER_HASH_LEN])ids, tails);
		free(tails);
		free(ids);
	} else if (pindex)
		git_oid_cpy(&index_id, git_tree_id(pindex));
	if (rc < 0 ||
	    (rc = tier_snap_compose(&rev_tree, p.repo, &vault_blob, &root_id,
	                            (p.pack_ids.length || pindex) ? &index_id
	                                                          : NULL)) < 0)
		goto done;

	char summary[512], trailers[512];
	summary_line(summary, sizeof(summary), &p.st, opts->npaths,
	             opts->paths[0]);
	snprintf(
	        trailers, sizeof(trailers),
	        "Tier-Files: %llu\nTier-Bytes: %llu\nTier-New-Bytes: %llu\nTier-Packs: %llu\n",
	        /* a file is every non-directory entry, as tier-log --stat
	         * counts them (docs/glossary.md) */
	        (unsigned long long)(p.st.files + p.st.others),
	        (unsigned long long)p.st.bytes,
	        (unsigned long long)p.st.new_bytes,
	        (unsigned long long)p.st.packs);
	rc = tier_write_commit(p.w, &rev_tree, summary, trailers, out);
	progress(&p, 1);

done:
	if (root) {
		if (root->synthetic == 2 && !root->tb) {
			free(root->ename);
			root->ename = NULL;
		}
		free_synthetic(root);
	}
	if (stats)
		*stats = p.st;
	tier_chunkmap_free(p.map);
	tier_idset_dispose(&p.added);
	for (size_t i = 0; i < MAX_WORKERS; i++)
		tier_pack_writer_free(p.pw[i]);
	tier_vec_dispose(&p.pack_ids, free);
	for (size_t i = 0; i < p.pack_tails.length; i++)
		tier_buf_dispose(p.pack_tails.ptr[i]);
	tier_vec_dispose(&p.pack_tails, free);
	for (struct upload *u = p.up_head, *n; u; u = n) {
		n = u->next;
		unlink(u->path);
		free(u->path);
		free(u);
	}
	git_tree_free(pindex);
	git_tree_free(proot);
	git_tree_free(ptree);
	git_commit_free(parent);
	tier_write_free(p.w);
	pthread_mutex_destroy(&p.lock);
	pthread_mutex_destroy(&p.pack_lock);
	pthread_cond_destroy(&p.work_cv);
	pthread_cond_destroy(&p.done_cv);
	pthread_cond_destroy(&p.up_cv);
	return rc;
}
