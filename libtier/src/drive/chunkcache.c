/*
 * Chunk cache (chunkcache.h): a hash table of ids over a doubly linked
 * recency list; each chunk is the file <dir>/<hex id>.  The files live in
 * a directory made for this cache alone (mkdtemp), so a second mount
 * never shares or removes another's.
 */
#include "drive/chunkcache.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/buf.h"
#include "util/error.h"
#include "util/posix.h"

struct centry {
	unsigned char id[TIER_HASH_LEN];
	uint64_t len;
	struct centry *hnext;         /* bucket chain */
	struct centry *newer, *older; /* recency list */
};

struct tier_chunkcache {
	char *dir;
	uint64_t max, bytes;
	struct centry **buckets;
	size_t nbuckets, count;
	struct centry *newest, *oldest;
};

static size_t bucket_of(const struct tier_chunkcache *c,
                        const unsigned char *id)
{
	uint64_t h;
	memcpy(&h, id, sizeof(h)); /* ids are hashes: any 8 bytes spread */
	return (size_t)(h % c->nbuckets);
}

static void file_name(const struct tier_chunkcache *c, const unsigned char *id,
                      char *out, size_t size)
{
	char hex[2 * TIER_HASH_LEN + 1];
	snprintf(out, size, "%s/%s", c->dir, tier_hex(hex, id, TIER_HASH_LEN));
}

int tier_chunkcache_open(struct tier_chunkcache **out, const char *parent,
                         uint64_t max)
{
	struct tier_chunkcache *c;
	tier_buf tmpl = TIER_BUF_INIT;

	*out = NULL;
	if (!(c = tier_calloc(1, sizeof(*c))))
		return TIER_ERROR;
	c->max = max;
	c->nbuckets = 4096;
	if (!(c->buckets = tier_calloc(c->nbuckets, sizeof(*c->buckets))) ||
	    tier_buf_printf(&tmpl, "%s/tier-mount-cache.XXXXXX", parent) < 0) {
		tier_buf_dispose(&tmpl);
		tier_chunkcache_free(c);
		return TIER_ERROR;
	}
	if (!mkdtemp(tmpl.ptr)) {
		int e = errno;
		tier_error_set_errno(TIER_ERROR, e,
		                     "cannot make the chunk cache in '%s'",
		                     parent);
		tier_buf_dispose(&tmpl);
		tier_chunkcache_free(c);
		return TIER_ERROR;
	}
	c->dir = tier_buf_detach(&tmpl);
	*out = c;
	return 0;
}

static void unlink_entry(struct tier_chunkcache *c, struct centry *e)
{
	if (e->newer)
		e->newer->older = e->older;
	else
		c->newest = e->older;
	if (e->older)
		e->older->newer = e->newer;
	else
		c->oldest = e->newer;
	e->newer = e->older = NULL;
}

static void push_newest(struct tier_chunkcache *c, struct centry *e)
{
	e->older = c->newest;
	e->newer = NULL;
	if (c->newest)
		c->newest->newer = e;
	c->newest = e;
	if (!c->oldest)
		c->oldest = e;
}

static struct centry *find(const struct tier_chunkcache *c,
                           const unsigned char *id)
{
	struct centry *e = c->buckets[bucket_of(c, id)];
	while (e && memcmp(e->id, id, TIER_HASH_LEN))
		e = e->hnext;
	return e;
}

static void drop(struct tier_chunkcache *c, struct centry *e)
{
	char name[4096];
	struct centry **pp = &c->buckets[bucket_of(c, e->id)];
	while (*pp != e)
		pp = &(*pp)->hnext;
	*pp = e->hnext;
	unlink_entry(c, e);
	file_name(c, e->id, name, sizeof(name));
	(void)unlink(name);
	c->bytes -= e->len;
	c->count--;
	free(e);
}

void tier_chunkcache_free(struct tier_chunkcache *c)
{
	if (!c)
		return;
	while (c->oldest)
		drop(c, c->oldest);
	if (c->dir)
		(void)tier_rm_rf(c->dir); /* anything a failed put left */
	free(c->buckets);
	free(c->dir);
	free(c);
}

const char *tier_chunkcache_dir(const struct tier_chunkcache *c)
{
	return c->dir;
}

uint64_t tier_chunkcache_bytes(const struct tier_chunkcache *c)
{
	return c->bytes;
}

int tier_chunkcache_has(const struct tier_chunkcache *c,
                        const unsigned char id[TIER_HASH_LEN])
{
	return find(c, id) != NULL;
}

int tier_chunkcache_get(struct tier_chunkcache *c,
                        const unsigned char id[TIER_HASH_LEN], void *buf,
                        size_t len, uint64_t off)
{
	struct centry *e = find(c, id);
	char name[4096];
	size_t got = 0;
	int fd, rc;

	if (!e || off > e->len || len > e->len - off)
		return 0;
	file_name(c, id, name, sizeof(name));
	if ((fd = open(name, O_RDONLY | O_CLOEXEC)) < 0) {
		drop(c, e);
		return 0;
	}
	rc = tier_pread_all(fd, buf, len, off, &got, name);
	close(fd);
	if (rc < 0 || got != len) {
		drop(c, e);
		return 0;
	}
	unlink_entry(c, e);
	push_newest(c, e);
	return 1;
}

void tier_chunkcache_put(struct tier_chunkcache *c,
                         const unsigned char id[TIER_HASH_LEN],
                         const void *data, size_t len)
{
	struct centry *e;
	char name[4096];
	int fd, rc;

	if (len > c->max || find(c, id))
		return;
	while (c->oldest && c->bytes + len > c->max)
		drop(c, c->oldest);
	if (!(e = tier_calloc(1, sizeof(*e))))
		return;
	file_name(c, id, name, sizeof(name));
	fd = open(name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	rc = fd < 0 ? -1 : tier_write_all(fd, data, len, name);
	if (fd >= 0 && close(fd) < 0)
		rc = -1;
	if (rc < 0) {
		(void)unlink(name);
		free(e);
		return;
	}
	memcpy(e->id, id, TIER_HASH_LEN);
	e->len = len;
	size_t b = bucket_of(c, id);
	e->hnext = c->buckets[b];
	c->buckets[b] = e;
	push_newest(c, e);
	c->bytes += len;
	c->count++;
}
