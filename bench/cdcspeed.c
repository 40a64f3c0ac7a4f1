/*
 * cdcspeed: how fast can this machine chunk, hash and compress?
 *
 *   bench-cdcspeed [options] PATH...        (files or directories)
 *     --min N --avg N --max N --norm N      chunker parameters (K/M suffixes)
 *     --no-warm                             skip reading everything once first
 *     --compare OLD                         dedup: chunk OLD first, then report
 *                                           how much of PATH is new data
 *
 * Prints MB/s (10^6 bytes per second of wall time) of chunk + SHA-256 + lz4:
 * one thread; two threads splitting the work by file; and one reader/chunker
 * feeding two hash+compress workers (split by chunk).  The push pipeline is
 * judged against these ceilings.  Data is read through the page cache; by
 * default everything is read once first so the numbers measure CPU, not disk.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "chunker.h"
#include "hash.h"
#include "pack.h"
#include "tier/errors.h"

#define READ_SIZE (1u << 20)

typedef struct {
	char **path;
	size_t n, cap;
	uint64_t bytes;
} file_list;

typedef struct {
	uint64_t bytes, chunks, stored;
	uint64_t cut_chunks, cut_bytes; /* chunks ended by a cut, not by EOF */
	double t_chunk, t_sha, t_lz4;
	uint64_t new_chunks, new_bytes, new_stored;
} stats;

static tier_chunker_params params = TIER_CHUNKER_PARAMS_INIT;

/* Sorted ids of a reference tree, for --compare. */
static unsigned char *ref_ids;
static size_t ref_n;

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
	fprintf(stderr, "cdcspeed: %s\n", what);
	exit(1);
}

static void add_path(file_list *l, const char *path)
{
	struct stat st;
	if (lstat(path, &st) < 0) {
		fprintf(stderr, "cdcspeed: cannot stat '%s': %s\n", path,
		        strerror(errno));
		return;
	}
	if (S_ISDIR(st.st_mode)) {
		struct dirent **ents;
		int n = scandir(path, &ents, NULL, alphasort);
		if (n < 0)
			return;
		for (int i = 0; i < n; i++) {
			if (strcmp(ents[i]->d_name, ".") &&
			    strcmp(ents[i]->d_name, "..")) {
				size_t len = strlen(path) +
				             strlen(ents[i]->d_name) + 2;
				char *p = malloc(len);
				snprintf(p, len, "%s/%s", path,
				         ents[i]->d_name);
				add_path(l, p);
				free(p);
			}
			free(ents[i]);
		}
		free(ents);
	} else if (S_ISREG(st.st_mode)) {
		if (l->n == l->cap) {
			l->cap = l->cap ? 2 * l->cap : 256;
			l->path = realloc(l->path, l->cap * sizeof(char *));
			if (!l->path)
				die("out of memory");
		}
		l->path[l->n++] = strdup(path);
		l->bytes += (uint64_t)st.st_size;
	}
}

static int cmp_id(const void *a, const void *b)
{
	return memcmp(a, b, TIER_HASH_LEN);
}

/* Per-thread scratch for hash + compress. */
typedef struct {
	unsigned char *out;
	stats st;
	/* --compare: ids seen in the reference pass */
	unsigned char *ids;
	size_t n_ids, cap_ids;
	int collect;
} worker;

static void worker_init(worker *w)
{
	memset(w, 0, sizeof(*w));
	if (!(w->out = malloc(params.max)))
		die("out of memory");
}

static void process_chunk(worker *w, const unsigned char *data, size_t len,
                          int timed)
{
	unsigned char id[TIER_HASH_LEN];
	size_t out_len;
	unsigned int flags;
	double t0 = timed ? now() : 0, t1 = 0;
	if (tier_sha256(id, data, len) < 0)
		die("sha256 failed");
	if (timed)
		t1 = now();
	if (tier_chunk_compress(data, len, w->out, params.max, &out_len,
	                        &flags) < 0)
		die("compress failed");
	if (timed) {
		w->st.t_sha += t1 - t0;
		w->st.t_lz4 += now() - t1;
	}
	w->st.chunks++;
	w->st.stored += out_len;
	if (w->collect) {
		if (w->n_ids == w->cap_ids) {
			w->cap_ids = w->cap_ids ? 2 * w->cap_ids : 1024;
			w->ids = realloc(w->ids, w->cap_ids * TIER_HASH_LEN);
			if (!w->ids)
				die("out of memory");
		}
		memcpy(w->ids + w->n_ids++ * TIER_HASH_LEN, id, TIER_HASH_LEN);
	} else if (ref_ids &&
	           !bsearch(id, ref_ids, ref_n, TIER_HASH_LEN, cmp_id)) {
		w->st.new_chunks++;
		w->st.new_bytes += len;
		w->st.new_stored += out_len;
	}
}

typedef void (*chunk_sink)(void *payload, const unsigned char *data,
                           size_t len);

/* Read a file and cut it into chunks; buf holds params.max bytes. */
static void chunk_file(const char *path, unsigned char *buf, stats *st,
                       int timed, chunk_sink sink, void *payload)
{
	tier_chunker c;
	size_t fill = 0, scanned = 0;
	int fd = open(path, O_RDONLY);
	if (fd < 0) {
		fprintf(stderr, "cdcspeed: cannot open '%s': %s\n", path,
		        strerror(errno));
		return;
	}
	tier_chunker_init(&c, &params);
	for (;;) {
		size_t room = params.max - fill;
		ssize_t n = read(fd, buf + fill,
		                 room < READ_SIZE ? room : READ_SIZE);
		if (n < 0)
			die("read failed");
		if (n == 0)
			break;
		fill += (size_t)n;
		st->bytes += (uint64_t)n;
		while (scanned < fill) {
			int cut;
			double t0 = timed ? now() : 0;
			size_t used = tier_chunker_scan(&c, buf + scanned,
			                                fill - scanned, &cut);
			if (timed)
				st->t_chunk += now() - t0;
			scanned += used;
			if (cut) {
				st->cut_chunks++;
				st->cut_bytes += scanned;
				sink(payload, buf, scanned);
				memmove(buf, buf + scanned, fill - scanned);
				fill -= scanned;
				scanned = 0;
			}
		}
	}
	if (tier_chunker_finish(&c))
		sink(payload, buf, fill);
	close(fd);
}

static void sink_direct(void *payload, const unsigned char *data, size_t len)
{
	process_chunk(payload, data, len, 1);
}

static void sink_direct_untimed(void *payload, const unsigned char *data,
                                size_t len)
{
	process_chunk(payload, data, len, 0);
}

static void merge(stats *a, const stats *b)
{
	a->bytes += b->bytes;
	a->chunks += b->chunks;
	a->stored += b->stored;
	a->cut_chunks += b->cut_chunks;
	a->cut_bytes += b->cut_bytes;
	a->t_chunk += b->t_chunk;
	a->t_sha += b->t_sha;
	a->t_lz4 += b->t_lz4;
	a->new_chunks += b->new_chunks;
	a->new_bytes += b->new_bytes;
	a->new_stored += b->new_stored;
}

/* ---- two threads, split by file ---- */

typedef struct {
	file_list *files;
	atomic_size_t next;
} by_file_shared;

typedef struct {
	by_file_shared *sh;
	worker w;
	stats read_st;
	unsigned char *buf;
} by_file_thread;

static void *by_file_main(void *arg)
{
	by_file_thread *t = arg;
	size_t i;
	while ((i = atomic_fetch_add(&t->sh->next, 1)) < t->sh->files->n)
		chunk_file(t->sh->files->path[i], t->buf, &t->read_st, 0,
		           sink_direct_untimed, &t->w);
	return NULL;
}

static stats run_by_file(file_list *files, int nthreads)
{
	by_file_shared sh = {files, 0};
	by_file_thread t[2];
	pthread_t th[2];
	stats total = {0};
	for (int i = 0; i < nthreads; i++) {
		t[i].sh = &sh;
		worker_init(&t[i].w);
		memset(&t[i].read_st, 0, sizeof(stats));
		t[i].buf = malloc(params.max);
		pthread_create(&th[i], NULL, by_file_main, &t[i]);
	}
	for (int i = 0; i < nthreads; i++) {
		pthread_join(th[i], NULL);
		total.bytes += t[i].read_st.bytes;
		t[i].w.st.bytes = 0;
		merge(&total, &t[i].w.st);
		free(t[i].w.out);
		free(t[i].buf);
	}
	return total;
}

/* ---- one reader/chunker feeding two workers, split by chunk ---- */

#define SLOTS 4

typedef struct {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	unsigned char *slot[SLOTS];
	size_t len[SLOTS];
	int state[SLOTS]; /* 0 free, 1 full, 2 taken */
	int done;
} queue;

static void sink_queue(void *payload, const unsigned char *data, size_t len)
{
	queue *q = payload;
	int s;
	pthread_mutex_lock(&q->mu);
	for (;;) {
		for (s = 0; s < SLOTS && q->state[s] != 0; s++)
			;
		if (s < SLOTS)
			break;
		pthread_cond_wait(&q->cv, &q->mu);
	}
	q->state[s] = 2; /* ours while we copy */
	pthread_mutex_unlock(&q->mu);
	memcpy(q->slot[s], data, len);
	pthread_mutex_lock(&q->mu);
	q->len[s] = len;
	q->state[s] = 1;
	pthread_cond_broadcast(&q->cv);
	pthread_mutex_unlock(&q->mu);
}

typedef struct {
	queue *q;
	worker w;
} chunk_worker;

static void *chunk_worker_main(void *arg)
{
	chunk_worker *cw = arg;
	queue *q = cw->q;
	for (;;) {
		int s;
		pthread_mutex_lock(&q->mu);
		for (;;) {
			for (s = 0; s < SLOTS && q->state[s] != 1; s++)
				;
			if (s < SLOTS || q->done)
				break;
			pthread_cond_wait(&q->cv, &q->mu);
		}
		if (s == SLOTS) {
			pthread_mutex_unlock(&q->mu);
			return NULL;
		}
		q->state[s] = 2;
		pthread_mutex_unlock(&q->mu);
		process_chunk(&cw->w, q->slot[s], q->len[s], 0);
		pthread_mutex_lock(&q->mu);
		q->state[s] = 0;
		pthread_cond_broadcast(&q->cv);
		pthread_mutex_unlock(&q->mu);
	}
}

static stats run_by_chunk(file_list *files)
{
	queue q;
	chunk_worker cw[2];
	pthread_t th[2];
	stats total = {0};
	unsigned char *buf = malloc(params.max);
	memset(&q, 0, sizeof(q));
	pthread_mutex_init(&q.mu, NULL);
	pthread_cond_init(&q.cv, NULL);
	for (int s = 0; s < SLOTS; s++)
		q.slot[s] = malloc(params.max);
	for (int i = 0; i < 2; i++) {
		cw[i].q = &q;
		worker_init(&cw[i].w);
		pthread_create(&th[i], NULL, chunk_worker_main, &cw[i]);
	}
	for (size_t i = 0; i < files->n; i++)
		chunk_file(files->path[i], buf, &total, 0, sink_queue, &q);
	pthread_mutex_lock(&q.mu);
	q.done = 1;
	pthread_cond_broadcast(&q.cv);
	pthread_mutex_unlock(&q.mu);
	for (int i = 0; i < 2; i++) {
		pthread_join(th[i], NULL);
		merge(&total, &cw[i].w.st);
		free(cw[i].w.out);
	}
	for (int s = 0; s < SLOTS; s++)
		free(q.slot[s]);
	free(buf);
	return total;
}

/* ---- main ---- */

static uint32_t parse_size(const char *s)
{
	char *end;
	unsigned long long v = strtoull(s, &end, 10);
	if (*end == 'K' || *end == 'k')
		v <<= 10, end++;
	else if (*end == 'M' || *end == 'm')
		v <<= 20, end++;
	if (*end || v == 0 || v > UINT32_MAX)
		die("bad size");
	return (uint32_t)v;
}

static double mbs(uint64_t bytes, double secs)
{
	return secs > 0 ? (double)bytes / secs / 1e6 : 0;
}

static void warm(file_list *files)
{
	unsigned char *b = malloc(READ_SIZE);
	for (size_t i = 0; i < files->n; i++) {
		int fd = open(files->path[i], O_RDONLY);
		if (fd < 0)
			continue;
		while (read(fd, b, READ_SIZE) > 0)
			;
		close(fd);
	}
	free(b);
}

int main(int argc, char **argv)
{
	file_list files = {0}, ref = {0};
	const char *compare = NULL;
	int do_warm = 1;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "--min") && i + 1 < argc)
			params.min = parse_size(argv[++i]);
		else if (!strcmp(a, "--avg") && i + 1 < argc)
			params.avg = parse_size(argv[++i]);
		else if (!strcmp(a, "--max") && i + 1 < argc)
			params.max = parse_size(argv[++i]);
		else if (!strcmp(a, "--norm") && i + 1 < argc)
			params.norm = (uint32_t)atoi(argv[++i]);
		else if (!strcmp(a, "--compare") && i + 1 < argc)
			compare = argv[++i];
		else if (!strcmp(a, "--no-warm"))
			do_warm = 0;
		else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			printf("usage: bench-cdcspeed [--min N] [--avg N] [--max N] [--norm N]"
			       " [--no-warm] [--compare OLD] PATH...\n");
			return 0;
		} else if (a[0] == '-')
			die("unknown option (see --help)");
		else
			add_path(&files, a);
	}
	if (!files.n)
		die("no input files (see --help)");
	if (tier_chunker_params_check(&params) < 0)
		die(tier_error_last());

	printf("params: min %u avg %u max %u norm %u (%s)\n", params.min,
	       params.avg, params.max, params.norm, TIER_CHUNKER_ALGO);
	if (compare) {
		worker w;
		stats st = {0};
		unsigned char *buf = malloc(params.max);
		add_path(&ref, compare);
		worker_init(&w);
		w.collect = 1;
		for (size_t i = 0; i < ref.n; i++)
			chunk_file(ref.path[i], buf, &st, 0,
			           sink_direct_untimed, &w);
		qsort(w.ids, w.n_ids, TIER_HASH_LEN, cmp_id);
		size_t uniq = 0;
		for (size_t i = 0; i < w.n_ids; i++)
			if (!uniq ||
			    memcmp(w.ids + (uniq - 1) * TIER_HASH_LEN,
			           w.ids + i * TIER_HASH_LEN, TIER_HASH_LEN))
				memmove(w.ids + uniq++ * TIER_HASH_LEN,
				        w.ids + i * TIER_HASH_LEN,
				        TIER_HASH_LEN);
		ref_ids = w.ids;
		ref_n = uniq;
		printf("reference: %zu files, %llu bytes, %llu chunks (%zu distinct), %llu stored\n",
		       ref.n, (unsigned long long)st.bytes,
		       (unsigned long long)w.st.chunks, uniq,
		       (unsigned long long)w.st.stored);
		free(buf);
		free(w.out);
	}
	printf("data: %zu files, %llu bytes\n", files.n,
	       (unsigned long long)files.bytes);
	if (do_warm)
		warm(&files);

	/* One thread, with the time of each stage. */
	worker w;
	stats st = {0};
	unsigned char *buf = malloc(params.max);
	worker_init(&w);
	double t0 = now();
	for (size_t i = 0; i < files.n; i++)
		chunk_file(files.path[i], buf, &st, 1, sink_direct, &w);
	double t1 = now();
	w.st.bytes = 0;
	merge(&st, &w.st);
	printf("chunks: %llu, mean %.0f bytes (%llu cut inside files, mean %.0f); "
	       "lz4 stores %.1f%% of the bytes\n",
	       (unsigned long long)st.chunks,
	       st.chunks ? (double)st.bytes / (double)st.chunks : 0.0,
	       (unsigned long long)st.cut_chunks,
	       st.cut_chunks ? (double)st.cut_bytes / (double)st.cut_chunks
	                     : 0.0,
	       st.bytes ? 100.0 * (double)st.stored / (double)st.bytes : 0.0);
	printf("stages alone: chunk %.0f MB/s, sha256 %.0f MB/s, lz4 %.0f MB/s\n",
	       mbs(st.bytes, st.t_chunk), mbs(st.bytes, st.t_sha),
	       mbs(st.bytes, st.t_lz4));
	printf("1 thread:             chunk+sha256+lz4 %.0f MB/s\n",
	       mbs(st.bytes, t1 - t0));
	if (compare)
		printf("new data vs reference: %llu of %llu chunks, %llu bytes (%.2f%%), "
		       "%llu stored\n",
		       (unsigned long long)st.new_chunks,
		       (unsigned long long)st.chunks,
		       (unsigned long long)st.new_bytes,
		       st.bytes
		               ? 100.0 * (double)st.new_bytes / (double)st.bytes
		               : 0.0,
		       (unsigned long long)st.new_stored);

	t0 = now();
	stats f = run_by_file(&files, 2);
	t1 = now();
	printf("2 threads by file:    chunk+sha256+lz4 %.0f MB/s\n",
	       mbs(f.bytes, t1 - t0));

	t0 = now();
	stats c = run_by_chunk(&files);
	t1 = now();
	printf("2 workers by chunk:   chunk+sha256+lz4 %.0f MB/s (1 reader/chunker thread"
	       " feeding 2 hash+lz4 threads)\n",
	       mbs(c.bytes, t1 - t0));
	if (f.chunks != st.chunks || c.chunks != st.chunks ||
	    f.stored != st.stored || c.stored != st.stored)
		die("threaded runs disagree with the single-thread run");

	free(buf);
	free(w.out);
	return 0;
}
