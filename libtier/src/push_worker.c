/*
 * Push: the worker threads and the queue that feeds them.  A worker takes
 * whole files (read, chunk, hash, deduplicate, compress, seal when the
 * vault is encrypted, append to its own pack); the main thread hands files over in batches and takes them back
 * once done (tier_push_drain, which writes their nodes).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "chunker.h"
#include "push_int.h"
#include "util/error.h"

#define QUEUE_MAX 512 /* files handed to workers, not yet done */
/*
 * Small files go to the workers in batches: one lock and one wake-up per
 * batch instead of per file (per-file hand-offs cost more than reading a
 * file of a few KiB).
 */
#define BATCH_FILES 32
#define BATCH_BYTES (4u << 20)
#define READ_BLOCK  (1u << 20)
/*
 * Directories whose walk is over but whose files are still with the
 * workers keep their descriptor open (the workers open the files relative
 * to it); past this many the walk waits for files to finish.
 */
#define MAX_WAITING_DIRS 128

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

static int store_chunk(struct push_run *p, struct worker_buf *wb,
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
	/* keyed in an encrypted vault (HMAC-SHA256), else SHA-256 */
	if ((rc = tier_chunk_id(id, tier_vault_keys(p->v), data, len)) < 0)
		return rc;
	if ((rc = add_chunk_ref(f, id, len)) < 0)
		return rc;
	f->nchunk_refs++;
	tier_chunk_loc loc;
	if ((rc = tier_chunkmap_find(p->map, id, &loc)) != 0)
		return rc < 0 ? rc : 0; /* in a pack of the vault already */
	pthread_mutex_lock(&p->lock);
	rc = tier_spillset_add(p->added, id, NULL);
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
	/* this worker's own writer: sealing (with keys) runs here, on the
	 * worker, in parallel with the others */
	if (!*pw && (rc = tier_pack_writer_new(pw, p->tmpdir,
	                                       tier_vault_keys(p->v))) < 0)
		return rc;
	if ((rc = tier_pack_writer_add_compressed(*pw, id, wb->out, out_len,
	                                          len, flags)) < 0)
		return rc;
	/* the tail goes into the log as one blob: keep it under its limit */
	if (tier_pack_writer_size(*pw) >= p->pack_size ||
	    tier_pack_writer_count(*pw) >= p->pack_max_chunks)
		rc = tier_push_pack_finish(p, pw);
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

/*
 * Cut and store the chunks that end in the n bytes just read after the
 * *have uncut ones at the start of wb->buf; *have: what is left uncut,
 * moved to the start.
 */
static int cut_chunks(struct push_run *p, struct worker_buf *wb,
                      tier_chunker *ch, struct filejob *f, size_t *have,
                      size_t n)
{
	size_t scan_from = *have, total = *have + n, start = 0;
	int rc;
	while (scan_from < total) {
		int cut = 0;
		size_t used = tier_chunker_scan(ch, wb->buf + scan_from,
		                                total - scan_from, &cut);
		scan_from += used;
		if (!cut)
			break;
		if ((rc = store_chunk(p, wb, wb->buf + start, scan_from - start,
		                      f)) < 0)
			return rc;
		start = scan_from;
		if (f->error)
			break;
	}
	*have = total - start;
	if (start && *have)
		memmove(wb->buf, wb->buf + start, *have);
	return 0;
}

/* Read, chunk and store one file.  File-level problems go in f->error. */
static int process_file(struct push_run *p, struct worker_buf *wb,
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
		file_fail(f, errno, tier_push_strerror(errno));
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
			file_fail(f, errno, tier_push_strerror(errno));
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
		if ((rc = cut_chunks(p, wb, &ch, f, &have, (size_t)n)) < 0)
			goto out;
	}
	if (!f->error && fstat(fd, &after) == 0 && !same_stat(&after, &f->st))
		f->changed = 1;
out:
	close(fd);
	return rc;
}

void *tier_push_worker(void *arg)
{
	struct push_run *p = arg;
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
		tier_push_set_fatal(p, TIER_ERROR);
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
			tier_push_set_fatal(p, rc);
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

/* ---- the queue (main thread) ------------------------------------------------ */

/* Hand the files batched by the main thread to the workers. */
void tier_push_flush_batch(struct push_run *p)
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
int tier_push_drain(struct push_run *p, int wait)
{
	struct filejob *list;
	int rc = 0;
	if (wait)
		tier_push_flush_batch(p);
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
		int r = tier_push_file_done(p, list);
		if (r < 0 && rc == 0)
			rc = r;
		list = next;
	}
	/* the packs finished meanwhile: their tails into the log now */
	if (rc == 0)
		rc = tier_push_index_pending(p);
	if (rc == 0)
		rc = tier_push_progress(p, 0);
	if (rc == 0 && p->fatal)
		rc = tier_error_set(p->fatal_code, "%s", p->fatal_msg);
	return rc;
}

int tier_push_submit(struct push_run *p, struct filejob *f)
{
	int rc;
	/* bounded: files in flight, and the descriptors of their dirs */
	while (p->in_flight >= QUEUE_MAX ||
	       (p->in_flight > 0 && p->waiting_dirs >= MAX_WAITING_DIRS))
		if ((rc = tier_push_drain(p, 1)) < 0) {
			tier_push_filejob_free(f);
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
		tier_push_flush_batch(p);
	/* pick up finished work now and then without waiting */
	if ((p->in_flight & 63) == 0)
		return tier_push_drain(p, 0);
	return 0;
}
