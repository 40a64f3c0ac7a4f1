/* The stat cache (statcache.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "statcache.h"
#include "util/error.h"
#include "util/posix.h"

/*
 * Layout, all numbers big-endian:
 *   "TIERSTC1"
 *   records: tree id (20), count (4), count entries of ENT bytes,
 *            FNV-1a 64 of all of that (8)
 *   table:   per record, sorted by tree id: tree id (20), offset (8)
 *   footer:  table offset (8), records (8), FNV-1a 64 of the table (8),
 *            "TIERSTCE"
 * FNV catches a torn or damaged file, not an attacker: whoever can write
 * the state directory can change the vault's config too.
 */
#define MAGIC     "TIERSTC1"
#define MAGIC_END "TIERSTCE"
#define OID       20
#define ENT       (OID + 3 * 4 + 8 + 8 + 4 + 8 + 4 + 8)
#define ROW       (OID + 8)
#define FOOT      32
/* a record of more files than this is not used (nor a table bigger) */
#define MAX_ENTRIES (64u * 1024 * 1024)

struct tier_statcache {
	int fd;
	uint64_t size;
	unsigned char *rows; /* the table */
	uint64_t nrows, table_off;
};

struct tier_statcache_writer {
	FILE *f;
	char *path, *tmp;
	uint64_t off, nrows, cap;
	unsigned char *rows;
	unsigned char *buf;
	size_t bufcap;
	int failed, committed;
};

static uint64_t fnv(uint64_t h, const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		h ^= p[i];
		h *= 0x100000001b3ull;
	}
	return h;
}
#define FNV0 0xcbf29ce484222325ull

static void put32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
}

static void put64(unsigned char *p, uint64_t v)
{
	put32(p, (uint32_t)(v >> 32));
	put32(p + 4, (uint32_t)v);
}

static uint32_t get32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

static uint64_t get64(const unsigned char *p)
{
	return (uint64_t)get32(p) << 32 | get32(p + 4);
}

void tier_statent_from_stat(tier_statent *e, const git_oid *node,
                            const struct stat *st)
{
	memset(e, 0, sizeof(*e));
	git_oid_cpy(&e->node, node);
	e->mode = (uint32_t)(st->st_mode & 07777);
	e->uid = (uint32_t)st->st_uid;
	e->gid = (uint32_t)st->st_gid;
	e->size = (uint64_t)st->st_size;
	e->mtime_sec = (int64_t)st->st_mtim.tv_sec;
	e->mtime_nsec = (uint32_t)st->st_mtim.tv_nsec;
	e->ctime_sec = (int64_t)st->st_ctim.tv_sec;
	e->ctime_nsec = (uint32_t)st->st_ctim.tv_nsec;
	e->ino = (uint64_t)st->st_ino;
}

static void ent_put(unsigned char *p, const tier_statent *e)
{
	memcpy(p, e->node.id, OID);
	p += OID;
	put32(p, e->mode);
	put32(p + 4, e->uid);
	put32(p + 8, e->gid);
	put64(p + 12, e->size);
	put64(p + 20, (uint64_t)e->mtime_sec);
	put32(p + 28, e->mtime_nsec);
	put64(p + 32, (uint64_t)e->ctime_sec);
	put32(p + 40, e->ctime_nsec);
	put64(p + 44, e->ino);
}

static void ent_get(tier_statent *e, const unsigned char *p)
{
	memcpy(e->node.id, p, OID);
	p += OID;
	e->mode = get32(p);
	e->uid = get32(p + 4);
	e->gid = get32(p + 8);
	e->size = get64(p + 12);
	e->mtime_sec = (int64_t)get64(p + 20);
	e->mtime_nsec = get32(p + 28);
	e->ctime_sec = (int64_t)get64(p + 32);
	e->ctime_nsec = get32(p + 40);
	e->ino = get64(p + 44);
}

/* ---- reading ------------------------------------------------------------ */

int tier_statcache_open(tier_statcache **out, const char *path)
{
	struct stat st;
	unsigned char foot[FOOT], head[8];
	tier_statcache *c;
	int fd;
	*out = NULL;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return 0;
	if (fstat(fd, &st) < 0 || st.st_size < 8 + FOOT ||
	    tier_pread_all(fd, head, 8, 0, NULL, path) < 0 ||
	    memcmp(head, MAGIC, 8) ||
	    tier_pread_all(fd, foot, FOOT, (uint64_t)st.st_size - FOOT, NULL,
	                   path) < 0 ||
	    memcmp(foot + 24, MAGIC_END, 8))
		goto unusable;
	uint64_t toff = get64(foot), nrows = get64(foot + 8);
	if (nrows > MAX_ENTRIES || toff < 8 ||
	    toff + nrows * ROW != (uint64_t)st.st_size - FOOT)
		goto unusable;
	if (!(c = tier_calloc(1, sizeof(*c)))) {
		close(fd);
		return TIER_ERROR;
	}
	c->fd = fd;
	c->size = (uint64_t)st.st_size;
	c->nrows = nrows;
	c->table_off = toff;
	if (nrows && !(c->rows = tier_malloc((size_t)(nrows * ROW)))) {
		tier_statcache_free(c);
		return TIER_ERROR;
	}
	if (nrows &&
	    (tier_pread_all(fd, c->rows, (size_t)(nrows * ROW), toff, NULL,
	                    path) < 0 ||
	     fnv(FNV0, c->rows, (size_t)(nrows * ROW)) != get64(foot + 16))) {
		tier_statcache_free(c);
		tier_error_clear();
		return 0;
	}
	*out = c;
	return 0;
unusable:
	tier_error_clear();
	close(fd);
	return 0;
}

void tier_statcache_free(tier_statcache *c)
{
	if (!c)
		return;
	if (c->fd >= 0)
		close(c->fd);
	free(c->rows);
	free(c);
}

void tier_statdir_dispose(tier_statdir *d)
{
	free(d->e);
	d->e = NULL;
	d->n = 0;
	d->loaded = 0;
}

static int by_node(const void *a, const void *b)
{
	return memcmp(((const tier_statent *)a)->node.id,
	              ((const tier_statent *)b)->node.id, OID);
}

int tier_statcache_dir(tier_statcache *c, const git_oid *tree, tier_statdir *d)
{
	uint64_t lo = 0, hi = c->nrows;
	tier_statdir_dispose(d);
	d->loaded = 1;
	while (lo < hi) {
		uint64_t mid = lo + (hi - lo) / 2;
		int cmp = memcmp(c->rows + mid * ROW, tree->id, OID);
		if (cmp == 0) {
			lo = mid;
			break;
		}
		if (cmp < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo >= c->nrows || memcmp(c->rows + lo * ROW, tree->id, OID))
		return 0;
	uint64_t off = get64(c->rows + lo * ROW + OID);
	unsigned char h[OID + 4];
	if (off < 8 || off + sizeof(h) > c->table_off ||
	    tier_pread_all(c->fd, h, sizeof(h), off, NULL, "the stat cache") <
	            0 ||
	    memcmp(h, tree->id, OID))
		goto unusable;
	uint64_t n = get32(h + OID), len = sizeof(h) + n * ENT + 8;
	if (n == 0 || n > MAX_ENTRIES || off + len > c->table_off)
		goto unusable;
	unsigned char *raw = tier_malloc((size_t)len);
	if (!raw)
		return TIER_ERROR;
	if (tier_pread_all(c->fd, raw, (size_t)len, off, NULL,
	                   "the stat cache") < 0 ||
	    fnv(FNV0, raw, (size_t)len - 8) != get64(raw + len - 8)) {
		free(raw);
		goto unusable;
	}
	if (!(d->e = tier_calloc((size_t)n, sizeof(*d->e)))) {
		free(raw);
		return TIER_ERROR;
	}
	for (uint64_t i = 0; i < n; i++)
		ent_get(&d->e[i], raw + sizeof(h) + i * ENT);
	free(raw);
	d->n = (size_t)n;
	return 0;
unusable:
	tier_error_clear();
	return 0;
}

int tier_statdir_same(const tier_statdir *d, const git_oid *node,
                      const struct stat *st)
{
	tier_statent key;
	if (!d->n)
		return -1;
	git_oid_cpy(&key.node, node);
	const tier_statent *e =
	        bsearch(&key, d->e, d->n, sizeof(*d->e), by_node);
	if (!e)
		return -1;
	tier_statent s;
	tier_statent_from_stat(&s, node, st);
	return s.mode == e->mode && s.uid == e->uid && s.gid == e->gid &&
	       s.size == e->size && s.mtime_sec == e->mtime_sec &&
	       s.mtime_nsec == e->mtime_nsec && s.ctime_sec == e->ctime_sec &&
	       s.ctime_nsec == e->ctime_nsec && s.ino == e->ino;
}

/* ---- writing ------------------------------------------------------------ */

static int w_put(tier_statcache_writer *w, const void *p, size_t n)
{
	if (w->failed || fwrite(p, 1, n, w->f) != n) {
		w->failed = 1;
		return tier_error_set_errno(TIER_ERROR, errno,
		                            "cannot write '%s'", w->tmp);
	}
	w->off += n;
	return 0;
}

int tier_statcache_writer_new(tier_statcache_writer **out, const char *path)
{
	tier_statcache_writer *w = tier_calloc(1, sizeof(*w));
	size_t n = strlen(path) + 5;
	int fd;
	*out = NULL;
	if (!w || !(w->path = tier_strdup(path)) || !(w->tmp = tier_malloc(n)))
		goto oom;
	snprintf(w->tmp, n, "%s.new", path);
	fd = open(w->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || !(w->f = fdopen(fd, "wb"))) {
		int rc = tier_error_set_errno(TIER_ERROR, errno,
		                              "cannot create '%s'", w->tmp);
		if (fd >= 0)
			close(fd);
		tier_statcache_writer_free(w);
		return rc;
	}
	if (w_put(w, MAGIC, 8) < 0) {
		tier_statcache_writer_free(w);
		return TIER_ERROR;
	}
	*out = w;
	return 0;
oom:
	tier_statcache_writer_free(w);
	return TIER_ERROR;
}

int tier_statcache_writer_dir(tier_statcache_writer *w, const git_oid *tree,
                              tier_statent *e, size_t n)
{
	if (w->failed)
		return TIER_ERROR;
	if (n == 0 || n > MAX_ENTRIES)
		return 0; /* nothing to cache, or not worth it */
	if (w->nrows == w->cap) {
		uint64_t cap = w->cap ? w->cap * 2 : 256;
		unsigned char *r = realloc(w->rows, (size_t)(cap * ROW));
		if (!r)
			return tier_error_set(TIER_ERROR, "out of memory");
		w->rows = r;
		w->cap = cap;
	}
	size_t len = OID + 4 + n * ENT + 8;
	if (len > w->bufcap) {
		unsigned char *b = realloc(w->buf, len);
		if (!b)
			return tier_error_set(TIER_ERROR, "out of memory");
		w->buf = b;
		w->bufcap = len;
	}
	qsort(e, n, sizeof(*e), by_node);
	memcpy(w->buf, tree->id, OID);
	put32(w->buf + OID, (uint32_t)n);
	for (size_t i = 0; i < n; i++)
		ent_put(w->buf + OID + 4 + i * ENT, &e[i]);
	put64(w->buf + len - 8, fnv(FNV0, w->buf, len - 8));
	unsigned char *row = w->rows + w->nrows * ROW;
	memcpy(row, tree->id, OID);
	put64(row + OID, w->off);
	w->nrows++;
	return w_put(w, w->buf, len);
}

static int by_row(const void *a, const void *b)
{
	return memcmp(a, b, OID);
}

int tier_statcache_writer_commit(tier_statcache_writer *w)
{
	unsigned char foot[FOOT];
	uint64_t n = 0;
	if (w->failed)
		return TIER_ERROR;
	/* the same tree twice (two equal directories): one row */
	if (w->nrows)
		qsort(w->rows, (size_t)w->nrows, ROW, by_row);
	for (uint64_t i = 0; i < w->nrows; i++)
		if (n == 0 ||
		    memcmp(w->rows + (n - 1) * ROW, w->rows + i * ROW, OID))
			memmove(w->rows + n++ * ROW, w->rows + i * ROW, ROW);
	put64(foot, w->off);
	put64(foot + 8, n);
	put64(foot + 16, fnv(FNV0, w->rows, (size_t)(n * ROW)));
	memcpy(foot + 24, MAGIC_END, 8);
	if ((n && w_put(w, w->rows, (size_t)(n * ROW)) < 0) ||
	    w_put(w, foot, FOOT) < 0)
		return TIER_ERROR;
	int rc = fflush(w->f);
	if (rc == 0)
		rc = fclose(w->f);
	else
		fclose(w->f);
	w->f = NULL;
	if (rc != 0 || rename(w->tmp, w->path) < 0) {
		w->failed = 1;
		return tier_error_set_errno(TIER_ERROR, errno,
		                            "cannot write '%s'", w->path);
	}
	w->committed = 1;
	return 0;
}

void tier_statcache_writer_free(tier_statcache_writer *w)
{
	if (!w)
		return;
	if (w->f)
		fclose(w->f);
	if (!w->committed && w->tmp)
		unlink(w->tmp);
	free(w->rows);
	free(w->buf);
	free(w->path);
	free(w->tmp);
	free(w);
}
