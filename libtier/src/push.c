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
 *
 * Every file system call is relative to a directory descriptor (openat,
 * fstatat, readlinkat, fdopendir; O_NOFOLLOW below the given paths): no
 * path string reaches the kernel, so depth is bounded by the descriptors a
 * process may hold, not by PATH_MAX.  Path strings exist for messages only.
 */
#include "tier/push.h"

#include <dirent.h>
#include <stddef.h>
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
#include "objread.h"
#include "pack.h"
#include "push_internal.h"
#include "snapshot.h"
#include "util/error.h"
#include "util/idset.h"
#include "util/posix.h"
#include "util/text.h"
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
/*
 * Finished packs waiting for the uploader.  Past this the workers wait:
 * reading keeps pace with the tiers, so the local copies stay small and a
 * Ctrl-C lands while files are still read (what was sent is recorded and
 * reused), not after a long queue of uploads nobody can stop.
 */
#define UP_QUEUE_MAX 2
/*
 * Directories whose walk is over but whose files are still with the
 * workers keep their descriptor open (the workers open the files relative
 * to it); past this many the walk waits for files to finish.
 */
#define MAX_WAITING_DIRS 128
/* A node's fixed lines (type, mode, times...) take less than this. */
#define NODE_HEADER_MAX 1024
/* "chunk <64 hex> <length>\n" at most */
#define NODE_CHUNK_LINE 82

/* ---- directories and files in flight ------------------------------------ */

struct dirjob {
	struct dirjob *parent;
	struct dirjob *live_prev, *live_next; /* every dirjob not yet freed */
	char *ename; /* escaped name in the parent ("" for the root) */
	char *path;  /* absolute, for messages (never given to a syscall) */
	int fd; /* the directory, O_DIRECTORY; -1 once done or unreadable */
	git_treebuilder *tb;
	git_tree *prev; /* same directory in the base revision, or NULL */
	int pending;    /* files and subdirectories not yet in tb */
	int closed;     /* walk of this directory finished */
	int waiting;    /* counted in push.waiting_dirs */
	int done;       /* tree written (tree_id) */
	git_oid tree_id;
	/* synthetic dirs (components above the given paths) */
	struct dirjob *kids, *next_kid;
	int synthetic;
};

struct filejob {
	struct filejob *next;
	struct dirjob *dir; /* opened relative to dir->fd */
	char *name;         /* raw name in dir */
	char *path;         /* absolute, for messages */
	char *ename;
	struct stat st;
	/* results */
	tier_chunk_ref *chunks;
	size_t nchunks, cap;
	int error;    /* non-zero = leave the file out */
	char *reason; /* why, lowercase ("permission denied") */
	int changed;
	uint64_t read_bytes;
	uint64_t nchunk_refs, new_chunks,
	        new_bytes; /* merged into the stats once done */
};

/* ---- shared state --------------------------------------------------------- */

struct upload {
	struct upload *next;
	char *path;
	const tier_buf *tail; /* in pack_tails: for the resume record */
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
	pthread_cond_t work_cv, done_cv, up_cv, room_cv;
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
	size_t up_queued; /* under pack_lock: queued or being uploaded */
	int up_stop;
	int up_failed;
	char up_msg[1024];
	int up_code;

	struct timespec last_progress;
	tier_buf
	        current; /* path shown by progress (a copy: outlives the walk) */
	uint64_t pack_size;     /* close a pack at this size */
	size_t pack_max_chunks; /* and at this many chunks (TIER_MAX_INDEX_BLOB) */
	size_t node_max_chunks; /* chunks one file may have (TIER_MAX_NODE_BLOB) */

	struct dirjob *live; /* every dirjob, for the teardown */
	int waiting_dirs;
	tier_buf resume_dir; /* <state>/resume */
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
static void unreadable(struct push *p, const char *what, const char *path,
                       const char *reason, const char *after)
{
	tier_buf q = TIER_BUF_INIT;
	tier_quote_path(&q, path, strlen(path));
	warn(p, "cannot read %s'%s': %s (%s)", what, tier_buf_cstr(&q), reason,
	     after);
	tier_buf_dispose(&q);
	p->st.errors++;
	if (p->opts->unreadable)
		p->opts->unreadable(path, reason, p->opts->payload);
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
	u->tail = p->pack_tails.ptr[p->pack_tails.length - 1];
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
			/*
			 * On the targets now: if this push dies, the next one
			 * reuses the pack.  Only a hint, so a failure to
			 * record costs nothing but a later upload.
			 */
			if (rc == 0 && p->resume_dir.size)
				tier_push_resume_record(p->resume_dir.ptr, id,
				                        u->tail->ptr,
				                        u->tail->size);
		}
		unlink(u->path);
		free(u->path);
		free(u);
		pthread_mutex_lock(&p->pack_lock);
		p->up_queued--;
		pthread_cond_broadcast(&p->room_cv);
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
			pthread_cond_broadcast(&p->room_cv);
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
	/* (the caller checked the count against the node's limit) */
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
	if (f->nchunks >= p->node_max_chunks) {
		/* one node holds the whole chunk list: past the format's
		 * limit restore would refuse the blob, so leave the file out */
		char why[160];
		snprintf(why, sizeof(why),
		         "too large to back up: more than %zu chunks, the most "
		         "one file's node holds",
		         p->node_max_chunks);
		f->error = EFBIG;
		free(f->reason);
		f->reason = tier_strdup(why);
		return 0;
	}
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
	/* the tail goes into the log as one blob: keep it under its limit */
	if (tier_pack_writer_size(*pw) >= p->pack_size ||
	    tier_pack_writer_count(*pw) >= p->pack_max_chunks)
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
static void test_touch_hook(const char *path, int fd)
{
	const char *t = getenv("TIER_TEST_TOUCH_DURING_READ");
	if (t && !strcmp(t, path)) {
		struct timespec ts[2] = {{0, UTIME_OMIT}, {12345, 0}};
		futimens(fd, ts);
	}
}

static void file_fail(struct filejob *f, int err, const char *reason)
{
	f->error = err ? err : EIO;
	free(f->reason);
	f->reason = tier_strdup(reason);
}

/* Read, chunk and store one file.  File-level problems go in f->error. */
static int process_file(struct push *p, struct worker_buf *wb,
                        struct filejob *f)
{
	tier_chunker ch;
	int fd, rc = 0;
	size_t have = 0; /* bytes in wb->buf not yet cut */
	struct stat after;

	/* O_NOFOLLOW, O_NONBLOCK: what was a file at the walk may be a
	 * symlink or a fifo by now */
	const int flags =
	        O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK;
	fd = openat(f->dir->fd, f->name, flags | O_NOATIME);
	if (fd < 0 && errno == EPERM)
		fd = openat(f->dir->fd, f->name, flags);
	if (fd < 0) {
		file_fail(f, errno, lc_strerror(errno));
		return 0;
	}
	struct stat now;
	if (fstat(fd, &now) < 0 || !S_ISREG(now.st_mode)) {
		file_fail(f, EINVAL, "no longer a regular file");
		close(fd);
		return 0;
	}
	/* replaced since the walk (an editor's save): back up what is there */
	f->st = now;
	tier_chunker_init(&ch, NULL);
	for (;;) {
		if (p->cancel || p->fatal || f->error)
			break;
		ssize_t n = read(fd, wb->buf + have, READ_BLOCK);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			file_fail(f, errno, lc_strerror(errno));
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
			test_touch_hook(f->path, fd);
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
			if (f->error)
				break;
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
	/* never write what restore refuses (node_max_chunks keeps clear) */
	if (rc == 0 && b.size > TIER_MAX_NODE_BLOB)
		rc = tier_error_set(TIER_ERROR,
		                    "file metadata of %zu bytes is over the "
		                    "format's limit",
		                    b.size);
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

static void dir_close_fd(struct dirjob *d)
{
	if (d->fd >= 0)
		close(d->fd);
	d->fd = -1;
}

static void dirjob_free(struct push *p, struct dirjob *d)
{
	if (d->live_prev)
		d->live_prev->live_next = d->live_next;
	else
		p->live = d->live_next;
	if (d->live_next)
		d->live_next->live_prev = d->live_prev;
	dir_close_fd(d);
	git_treebuilder_free(d->tb);
	git_tree_free(d->prev);
	free(d->ename);
	free(d->path);
	free(d);
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
	int rc;
	if (!d->closed || d->pending > 0 || d->done)
		return 0;
	if ((rc = git_treebuilder_write(&d->tree_id, d->tb)) < 0)
		return tier_error_from_git(rc, "cannot write a snapshot tree");
	d->done = 1;
	git_treebuilder_free(d->tb);
	d->tb = NULL;
	git_tree_free(d->prev);
	d->prev = NULL;
	dir_close_fd(d);
	if (d->waiting) {
		d->waiting = 0;
		p->waiting_dirs--;
	}
	if (!d->parent)
		return 0; /* the root: tree_id is the snapshot */
	if ((rc = tb_insert(d->parent, d->ename, &d->tree_id,
	                    GIT_FILEMODE_TREE)) < 0)
		return rc;
	struct dirjob *parent = d->parent;
	/* synthetic ones stay: later given paths look them up by name */
	if (!d->synthetic)
		dirjob_free(p, d);
	return dir_child_done(p, parent);
}

static void filejob_free(struct filejob *f)
{
	free(f->chunks);
	free(f->name);
	free(f->path);
	free(f->ename);
	free(f->reason);
	free(f);
}

static int file_done(struct push *p, struct filejob *f)
{
	tier_node n;
	git_oid id;
	int rc = 0;
	struct dirjob *d = f->dir;

	if (f->error) {
		unreadable(p, "", f->path, f->reason ? f->reason : "read error",
		           "skipped");
	} else if (!p->cancel && !p->fatal) {
		node_from_stat(&n, &f->st);
		if (f->changed) {
			warn(p,
			     "'%s' changed while it was read; the backup holds what was read",
			     tier_quote_name(f->path));
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
	filejob_free(f);
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
	/* p->current is our copy: the walk's own buffers come and go */
	if (p->opts->progress(&snap, tier_buf_cstr(&p->current),
	                      p->opts->payload)) {
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
	/* bounded: files in flight, and the descriptors of their dirs */
	while (p->in_flight >= QUEUE_MAX ||
	       (p->in_flight > 0 && p->waiting_dirs >= MAX_WAITING_DIRS))
		if ((rc = drain(p, 1)) < 0) {
			filejob_free(f);
			return rc;
		}
	f->next = NULL;
	if (p->batch_tail)
		p->batch_tail->next = f;
	else
		p->batch_head = f;
	p->batch_tail = f;
	p->in_flight++;
	f->dir->pending++;
	p->batch_files++;
	p->batch_bytes += (uint64_t)f->st.st_size;
	if (p->batch_files >= BATCH_FILES || p->batch_bytes >= BATCH_BYTES)
		flush_batch(p);
	/* pick up finished work now and then without waiting */
	if ((p->in_flight & 63) == 0)
		return drain(p, 0);
	return 0;
}

/* The base revision's node for an entry, if it is a blob. */
static int prev_node(struct push *p, git_tree *prev, const char *ename,
                     tier_node *n, git_oid *id)
{
	const git_tree_entry *e =
	        prev ? git_tree_entry_byname(prev, ename) : NULL;
	git_blob *b = NULL;
	if (!e || git_tree_entry_type(e) != GIT_OBJECT_BLOB)
		return 0;
	/* an oversized node is damage: read the file again instead */
	if (tier_blob_lookup_bounded(&b, p->repo, git_tree_entry_id(e),
	                             TIER_MAX_NODE_BLOB, "file metadata") < 0)
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
		tier_tree_lookup_bounded(&t, p->repo, git_tree_entry_id(e),
		                         "a snapshot directory");
	return t;
}

/* "<dir>/<name>" for messages ("/name" under the root) */
static int join_path(tier_buf *out, const char *dir, const char *name)
{
	tier_buf_clear(out);
	tier_buf_printf(out, "%s/%s", strcmp(dir, "/") ? dir : "", name);
	return out->ptr ? 0 : TIER_ERROR;
}

static int add_entry(struct push *p, struct dirjob *d, const char *name,
                     const struct stat *st);

static int walk_dir(struct push *p, struct dirjob *d)
{
	int rc = 0, dfd;
	DIR *dir = NULL;
	/* fdopendir takes its descriptor: d->fd stays for the workers */
	if ((dfd = fcntl(d->fd, F_DUPFD_CLOEXEC, 0)) < 0 ||
	    !(dir = fdopendir(dfd))) {
		int err = errno;
		if (dfd >= 0)
			close(dfd);
		unreadable(p, "directory ", d->path, lc_strerror(err),
		           "its contents are skipped");
		return 0;
	}
	struct dirent *de;
	errno = 0;
	while ((de = readdir(dir)) != NULL) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		struct stat st;
		if (fstatat(d->fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			/* vanished since readdir: nothing to back up */
			if (errno != ENOENT) {
				tier_buf cp = TIER_BUF_INIT;
				int err = errno;
				join_path(&cp, d->path, de->d_name);
				unreadable(p, "", tier_buf_cstr(&cp),
				           lc_strerror(err), "skipped");
				tier_buf_dispose(&cp);
			}
			errno = 0;
			continue;
		}
		if ((rc = add_entry(p, d, de->d_name, &st)) < 0)
			break;
		errno = 0;
	}
	if (rc == 0 && errno)
		unreadable(p, "directory ", d->path, lc_strerror(errno),
		           "partly skipped");
	closedir(dir);
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
                      struct dirjob *parent, const char *ename,
                      const char *path, git_tree *prev)
{
	struct dirjob *d = tier_calloc(1, sizeof(*d));
	int rc;
	*out = NULL;
	if (!d) {
		git_tree_free(prev);
		return TIER_ERROR;
	}
	d->fd = -1;
	d->prev = prev;
	/* in the live list first: dirjob_free undoes all of it */
	d->live_next = p->live;
	if (p->live)
		p->live->live_prev = d;
	p->live = d;
	if (!(d->ename = tier_strdup(ename)) ||
	    !(d->path = tier_strdup(path))) {
		dirjob_free(p, d);
		return TIER_ERROR;
	}
	if ((rc = git_treebuilder_new(&d->tb, p->repo, NULL)) < 0) {
		dirjob_free(p, d);
		return tier_error_from_git(rc, "cannot build a snapshot tree");
	}
	d->parent = parent;
	if (parent)
		parent->pending++;
	*out = d;
	return 0;
}

/* A file unchanged since the base revision: its node, unread. */
static int take_unchanged(struct push *p, struct dirjob *d, const char *ename,
                          const struct stat *st, int *taken)
{
	tier_node old;
	git_oid oldid;
	*taken = 0;
	if (p->opts->reread || !prev_node(p, d->prev, ename, &old, &oldid))
		return 0;
	int same = old.type == TIER_NODE_FILE &&
	           old.size == (uint64_t)st->st_size &&
	           old.mtime_sec == st->st_mtim.tv_sec &&
	           old.mtime_nsec == (uint32_t)st->st_mtim.tv_nsec &&
	           old.ctime_sec == st->st_ctim.tv_sec &&
	           old.ctime_nsec == (uint32_t)st->st_ctim.tv_nsec &&
	           old.ino == st->st_ino && old.mode == (st->st_mode & 07777) &&
	           old.uid == st->st_uid && old.gid == st->st_gid;
	tier_node_dispose(&old);
	if (!same)
		return 0;
	p->st.files++;
	p->st.unchanged_files++;
	p->st.bytes += (uint64_t)st->st_size;
	*taken = 1;
	return tb_insert(d, ename, &oldid, GIT_FILEMODE_BLOB);
}

static int add_subdir(struct push *p, struct dirjob *d, const char *name,
                      const char *ename, const char *path,
                      const struct stat *st)
{
	struct dirjob *sub;
	struct stat now = *st;
	int rc;
	p->st.dirs++;
	if ((rc = new_dirjob(p, &sub, d, ename, path,
	                     prev_subtree(p, d->prev, ename))) < 0)
		return rc;
	sub->fd = openat(d->fd, name,
	                 O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (sub->fd < 0)
		unreadable(p, "directory ", path, lc_strerror(errno),
		           "its contents are skipped");
	else if (fstat(sub->fd, &now) < 0)
		now = *st;
	/* the directory's own metadata even when its contents are skipped */
	if ((rc = add_dirmeta(p, sub, &now)) < 0)
		return rc;
	if (sub->fd >= 0 && (rc = walk_dir(p, sub)) < 0)
		return rc;
	sub->closed = 1;
	sub->waiting = 1;
	p->waiting_dirs++;
	return dir_try_finish(p, sub);
}

static int add_entry(struct push *p, struct dirjob *d, const char *name,
                     const struct stat *st)
{
	tier_buf en = TIER_BUF_INIT, path = TIER_BUF_INIT;
	tier_node n;
	git_oid id;
	char *target = NULL;
	int rc;

	if ((rc = tier_snap_name_encode(&en, name, strlen(name))) < 0 ||
	    (rc = join_path(&path, d->path, name)) < 0)
		goto out;
	tier_buf_sets(&p->current, path.ptr);
	if (S_ISDIR(st->st_mode)) {
		rc = add_subdir(p, d, name, en.ptr, path.ptr, st);
		goto out;
	}
	if (S_ISREG(st->st_mode)) {
		int taken = 0;
		if ((rc = take_unchanged(p, d, en.ptr, st, &taken)) < 0 ||
		    taken)
			goto out;
		struct filejob *f = tier_calloc(1, sizeof(*f));
		if (!f || !(f->name = tier_strdup(name))) {
			free(f);
			rc = TIER_ERROR;
			goto out;
		}
		f->path = tier_buf_detach(&path);
		f->ename = tier_buf_detach(&en);
		f->dir = d;
		f->st = *st;
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
		/* the kernel caps a target at PATH_MAX; outlives write_node */
		if (!(target = tier_malloc(PATH_MAX + 1))) {
			rc = TIER_ERROR;
			goto out;
		}
		ssize_t tl = readlinkat(d->fd, name, target, PATH_MAX);
		if (tl < 0) {
			unreadable(p, "symlink ", path.ptr, lc_strerror(errno),
			           "skipped");
			goto out;
		}
		n.target = target;
		n.target_len = (size_t)tl;
	}
	p->st.others++;
	if ((rc = write_node(p, &id, &n)) == 0)
		rc = tb_insert(d, en.ptr, &id, GIT_FILEMODE_BLOB);
out:
	free(target);
	tier_buf_dispose(&en);
	tier_buf_dispose(&path);
	return rc;
}

/* ---- top level: the given paths under a synthetic root ----------------- */

/* The components of an absolute path ("/" has none). */
static int split_path(tier_vec *out, const char *path)
{
	char *copy = tier_strdup(path), *save = NULL;
	int rc = 0;
	if (!copy)
		return TIER_ERROR;
	for (char *c = strtok_r(copy, "/", &save); c && rc == 0;
	     c = strtok_r(NULL, "/", &save)) {
		char *dup = tier_strdup(c);
		if (!dup || (rc = tier_vec_push(out, dup)) < 0) {
			free(dup);
			rc = TIER_ERROR;
		}
	}
	free(copy);
	return rc;
}

/*
 * Open the directories above a given path, one openat() per component
 * from root_fd (following symlinks there, as the kernel would for the
 * whole path: only below the given path is nothing followed), and lstat
 * its last component.  fds[i] is the directory of comps[i], for
 * i < ncomps - 1; on failure every fd is closed and *err holds errno.
 */
static int open_chain(int *fds, const tier_vec *comps, int root_fd,
                      struct stat *st, int *err)
{
	size_t n = comps->length, i;
	int cur = root_fd;
	for (i = 0; i + 1 < n; i++) {
		fds[i] = openat(cur, comps->ptr[i],
		                O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fds[i] < 0)
			goto fail;
		cur = fds[i];
	}
	if (fstatat(cur, comps->ptr[n - 1], st, AT_SYMLINK_NOFOLLOW) < 0)
		goto fail;
	return 0;
fail:
	*err = errno;
	while (i-- > 0)
		close(fds[i]);
	return -1;
}

/* The synthetic child of d called name; takes fd (closed if one exists). */
static int synthetic_child(struct push *p, struct dirjob **out,
                           struct dirjob *d, const char *name, int fd)
{
	tier_buf en = TIER_BUF_INIT, path = TIER_BUF_INIT;
	struct dirjob *k;
	struct stat st;
	int rc;
	*out = NULL;
	if ((rc = tier_snap_name_encode(&en, name, strlen(name))) < 0 ||
	    (rc = join_path(&path, d->path, name)) < 0)
		goto out;
	for (k = d->kids; k; k = k->next_kid)
		if (!strcmp(k->ename, en.ptr)) {
			*out = k;
			goto out;
		}
	if (fstat(fd, &st) < 0) {
		rc = tier_error_set_errno(TIER_ERROR, errno, "cannot read '%s'",
		                          tier_quote_name(path.ptr));
		goto out;
	}
	if ((rc = new_dirjob(p, &k, d, en.ptr, path.ptr,
	                     prev_subtree(p, d->prev, en.ptr))) < 0)
		goto out;
	k->fd = fd;
	fd = -1;
	k->synthetic = 1;
	k->next_kid = d->kids;
	d->kids = k;
	*out = k;
	rc = add_dirmeta(p, k, &st);
out:
	if (fd >= 0)
		close(fd);
	tier_buf_dispose(&en);
	tier_buf_dispose(&path);
	return rc;
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

/* One given path: its synthetic parents, then the entry itself. */
static int add_given(struct push *p, struct dirjob *root, const char *path,
                     int *readable, int *err)
{
	tier_vec comps = TIER_VEC_INIT;
	int *fds = NULL, rc;
	struct stat st;
	if ((rc = split_path(&comps, path)) < 0)
		goto out;
	if (comps.length == 0) {
		/* "/" itself: the root's metadata and contents */
		if (fstat(root->fd, &st) < 0) {
			*err = errno;
			goto out;
		}
		*readable = 1;
		p->st.dirs++;
		if ((rc = add_dirmeta(p, root, &st)) == 0)
			rc = walk_dir(p, root);
		goto out;
	}
	if (!(fds = tier_calloc(comps.length, sizeof(*fds)))) {
		rc = TIER_ERROR;
		goto out;
	}
	if (open_chain(fds, &comps, root->fd, &st, err) < 0)
		goto out;
	*readable = 1;
	struct dirjob *d = root, *k = NULL;
	size_t i = 0;
	for (; i + 1 < comps.length; i++) {
		if ((rc = synthetic_child(p, &k, d, comps.ptr[i], fds[i])) < 0)
			break;
		d = k;
	}
	/* synthetic_child took fds[0..i]; close the rest */
	for (i = rc < 0 ? i + 1 : i; i + 1 < comps.length; i++)
		close(fds[i]);
	if (rc == 0)
		rc = add_entry(p, d, comps.ptr[comps.length - 1], &st);
out:
	free(fds);
	tier_vec_dispose(&comps, free);
	return rc;
}

static int walk_paths(struct push *p, struct dirjob *root, const tier_vec *set)
{
	int *errs = tier_calloc(set->length ? set->length : 1, sizeof(*errs));
	size_t ok = 0;
	int rc = 0;
	if (!errs)
		return TIER_ERROR;
	/*
	 * First see which paths are there: when none is, nothing is written
	 * and the error names them (no warnings before it).
	 */
	for (size_t i = 0; i < set->length; i++) {
		tier_vec comps = TIER_VEC_INIT;
		struct stat st;
		int *fds = NULL;
		if ((rc = split_path(&comps, set->ptr[i])) < 0) {
			tier_vec_dispose(&comps, free);
			goto out;
		}
		if (comps.length == 0)
			errs[i] = fstat(root->fd, &st) < 0 ? errno : 0;
		else if (!(fds = tier_calloc(comps.length, sizeof(*fds))))
			rc = TIER_ERROR;
		else if (open_chain(fds, &comps, root->fd, &st, &errs[i]) == 0)
			for (size_t j = 0; j + 1 < comps.length; j++)
				close(fds[j]);
		free(fds);
		tier_vec_dispose(&comps, free);
		if (rc < 0)
			goto out;
		ok += errs[i] == 0;
	}
	if (ok == 0) {
		int all_denied = 1;
		tier_buf msg = TIER_BUF_INIT;
		for (size_t i = 0; i < set->length; i++) {
			all_denied &= errs[i] == EACCES || errs[i] == EPERM;
			tier_buf_printf(&msg, "%s'%s': %s", i ? ", " : "",
			                tier_quote_name(set->ptr[i]),
			                lc_strerror(errs[i]));
		}
		if (set->length == 1)
			rc = tier_error_set(
			        all_denied ? TIER_EAUTH : TIER_ENOTFOUND,
			        "cannot back up %s", tier_buf_cstr(&msg));
		else
			rc = tier_error_set(
			        all_denied ? TIER_EAUTH : TIER_ENOTFOUND,
			        "cannot back up any of the %zu paths "
			        "(%s)",
			        set->length, tier_buf_cstr(&msg));
		tier_buf_dispose(&msg);
		goto out;
	}
	for (size_t i = 0; i < set->length; i++) {
		int readable = 0, err = errs[i];
		if (!err &&
		    (rc = add_given(p, root, set->ptr[i], &readable, &err)) < 0)
			goto out;
		if (!readable)
			unreadable(p, "", set->ptr[i], lc_strerror(err),
			           "not in the revision");
	}
out:
	free(errs);
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

static void summary_line(tier_buf *out, const tier_push_stats *s,
                         const tier_vec *set)
{
	tier_buf_printf(out, "push: %s", tier_quote_name(set->ptr[0]));
	if (set->length > 1)
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
 * Packs left in cache.git/tmp by a push that was killed: not on any tier
 * (or recorded for resume already); only the write lock holder runs here.
 */
static void clean_tmp(const char *tmpdir)
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
static int take_resumed(struct push *p)
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
		                           &committed, &p->added);
	tier_idset_dispose(&committed);
	for (size_t i = 0; rc >= 0 && i < n; i++) {
		unsigned char *id = tier_malloc(TIER_HASH_LEN);
		tier_buf *tail = tier_calloc(1, sizeof(*tail));
		if (!id || !tail || tier_vec_push(&p->pack_ids, id) < 0) {
			free(id);
			free(tail);
			rc = TIER_ERROR;
			break;
		}
		memcpy(id, r[i].id, TIER_HASH_LEN);
		*tail = r[i].tail;
		r[i].tail = (tier_buf)TIER_BUF_INIT;
		if (tier_vec_push(&p->pack_tails, tail) < 0) {
			free(p->pack_ids.ptr[--p->pack_ids.length]);
			tier_buf_dispose(tail);
			free(tail);
			rc = TIER_ERROR;
			break;
		}
		p->st.resumed_packs++;
	}
	tier_push_resumed_free(r, n);
	return rc < 0 ? rc : 0;
}

/*
 * The tree of the base revision's snapshot (restic's parent): unchanged
 * files are taken from it unread.  *out NULL when there is none.
 */
static int base_root(struct push *p, git_tree **out, const char *trailers)
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

int tier_push_run(tier_write_result **out, tier_push_stats *stats,
                  tier_vault *v, const tier_push_options *opts_in)
{
	struct push p;
	tier_push_options opts = TIER_PUSH_OPTIONS_INIT;
	pthread_t workers[MAX_WORKERS], up;
	size_t nw = 0;
	int have_up = 0, rc;
	git_commit *parent = NULL;
	git_tree *ptree = NULL, *proot = NULL, *pindex = NULL;
	git_oid vault_blob, root_id, index_id, rev_tree;
	struct dirjob *root = NULL;
	tier_vec set = TIER_VEC_INIT;
	tier_buf trailers = TIER_BUF_INIT, paths = TIER_BUF_INIT,
	         summary = TIER_BUF_INIT;

	*out = NULL;
	if (stats)
		memset(stats, 0, sizeof(*stats));
	memset(&p, 0, sizeof(p));
	TIER_ASSERT_ARG(opts_in);
	TIER_CHECK_VERSION(opts_in, TIER_PUSH_OPTIONS_VERSION, "tier_push_options");
	/* older structs are prefixes of this one: version 1 ends before
	 * `pack_size`, version 2 before `unreadable`; the rest stays zero */
	if (opts_in->version == 1)
		memcpy(&opts, opts_in, offsetof(tier_push_options, pack_size));
	else if (opts_in->version == 2)
		memcpy(&opts, opts_in, offsetof(tier_push_options, unreadable));
	else
		opts = *opts_in;
	if (opts.npaths == 0)
		return tier_error_set(
		        TIER_EUSAGE,
		        "nothing to back up: give at least one path");

	if (opts.pack_size &&
	    (opts.pack_size < 65536 || opts.pack_size > UINT32_MAX))
		return tier_error_set(
		        TIER_EUSAGE,
		        "pack size %llu is out of range (64 KiB to 4 GiB)",
		        (unsigned long long)opts.pack_size);
	if ((rc = tier_push_path_set(&set, opts.paths, opts.npaths)) < 0 ||
	    (rc = tier_push_path_trailers(&paths, &set)) < 0) {
		tier_vec_dispose(&set, free);
		tier_buf_dispose(&paths);
		return rc;
	}

	p.added = (tier_idset)TIER_IDSET_INIT(TIER_HASH_LEN);
	p.v = v;
	p.opts = &opts;
	p.pack_size = opts.pack_size ? opts.pack_size : TIER_DEFAULT_PACK_SIZE;
	p.pack_max_chunks =
	        test_bound("TIER_TEST_PACK_MAX_CHUNKS",
	                   (TIER_MAX_INDEX_BLOB - TIER_PACK_TRAILER_SIZE) /
	                           TIER_PACK_ENTRY_SIZE);
	p.node_max_chunks = test_bound("TIER_TEST_NODE_MAX_CHUNKS",
	                               (TIER_MAX_NODE_BLOB - NODE_HEADER_MAX) /
	                                       NODE_CHUNK_LINE);
	pthread_mutex_init(&p.lock, NULL);
	pthread_mutex_init(&p.pack_lock, NULL);
	pthread_cond_init(&p.work_cv, NULL);
	pthread_cond_init(&p.done_cv, NULL);
	pthread_cond_init(&p.up_cv, NULL);
	pthread_cond_init(&p.room_cv, NULL);
	clock_gettime(CLOCK_MONOTONIC, &p.last_progress);

	if ((rc = tier_write_begin(&p.w, v, "push")) < 0)
		goto done;
	p.repo = tier_write_repo(p.w);

	/* the previous revision: its index for dedup, its vault blob */
	if (tier_write_parent(p.w)) {
		if ((rc = git_commit_lookup(&parent, p.repo,
		                            tier_write_parent(p.w))) < 0 ||
		    (rc = git_commit_tree(&ptree, parent)) < 0) {
			rc = tier_error_from_git(
			        rc, "cannot read the previous revision");
			goto done;
		}
		git_oid id;
		if (tier_snap_part(&id, ptree, TIER_SNAP_INDEX) == 0 &&
		    (rc = tier_tree_lookup_bounded(&pindex, p.repo, &id,
		                                   "the vault's index")) < 0)
			goto done;
	}
	if (!ptree || tier_snap_part(&vault_blob, ptree, TIER_SNAP_VAULT) < 0) {
		rc = tier_error_set(TIER_ECORRUPT,
		                    "the vault's log has no vault description");
		goto done;
	}
	/* ... and the base revision's snapshot for unchanged files */
	if ((rc = base_root(&p, &proot, tier_buf_cstr(&paths))) < 0)
		goto done;
	if ((rc = tier_chunkmap_load(&p.map, p.repo, ptree)) < 0)
		goto done;

	snprintf(p.tmpdir, sizeof(p.tmpdir), "%s/tmp",
	         git_repository_path(tier_vault_cache(v)));
	if ((rc = tier_mkdir_p(p.tmpdir, 0700)) < 0)
		goto done;
	clean_tmp(p.tmpdir);
	if ((rc = tier_push_resume_dir(&p.resume_dir, tier_vault_cache(v))) <
	            0 ||
	    (rc = take_resumed(&p)) < 0)
		goto done;

	unsigned int nthreads = opts.threads;
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

	if ((rc = new_dirjob(&p, &root, NULL, "", "/", proot)) < 0) {
		proot = NULL; /* freed by new_dirjob */
		goto stop;
	}
	proot = NULL; /* owned by root */
	root->synthetic = 1;
	if ((root->fd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		rc = tier_error_set_errno(TIER_ERROR, errno, "cannot open '/'");
		goto stop;
	}
	rc = walk_paths(&p, root, &set);
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
			filejob_free(f);
		}
		p.done_head = NULL;
	}
	if (rc == 0 && p.up_failed)
		rc = tier_error_set(p.up_code, "%s", p.up_msg);
	if (rc < 0)
		goto done;

	/* the revision: root, the index with the new packs, the same vault blob */
	git_oid_cpy(&root_id, &root->tree_id);
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

	summary_line(&summary, &p.st, &set);
	tier_buf_printf(
	        &trailers,
	        "Tier-Files: %llu\nTier-Bytes: %llu\nTier-New-Bytes: %llu\nTier-Packs: %llu\n%s",
	        /* a file is every non-directory entry, as tier-log --stat
	         * counts them (docs/glossary.md) */
	        (unsigned long long)(p.st.files + p.st.others),
	        (unsigned long long)p.st.bytes,
	        (unsigned long long)p.st.new_bytes,
	        (unsigned long long)(p.st.packs + p.st.resumed_packs),
	        tier_buf_cstr(&paths));
	if (!summary.ptr || !trailers.ptr) {
		rc = TIER_ERROR;
		goto done;
	}
	rc = tier_write_commit(p.w, &rev_tree, summary.ptr, trailers.ptr, out);
	/* the revision names every recorded pack now: nothing to resume */
	if (rc == 0)
		tier_push_resume_clear(p.resume_dir.ptr);
	progress(&p, 1);

done:
	while (p.live)
		dirjob_free(&p, p.live);
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
	tier_buf_dispose(&p.current);
	tier_buf_dispose(&p.resume_dir);
	tier_buf_dispose(&trailers);
	tier_buf_dispose(&paths);
	tier_buf_dispose(&summary);
	tier_vec_dispose(&set, free);
	pthread_mutex_destroy(&p.lock);
	pthread_mutex_destroy(&p.pack_lock);
	pthread_cond_destroy(&p.work_cv);
	pthread_cond_destroy(&p.done_cv);
	pthread_cond_destroy(&p.up_cv);
	pthread_cond_destroy(&p.room_cv);
	return rc;
}
