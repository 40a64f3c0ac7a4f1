/*
 * The virtual drive's namespace (tier/drive.h): /revisions/N, /latest,
 * /archive/NAME over the vault's history, read once at open; each
 * revision's snapshot opened on first use (a few kept, the least recently
 * used closed); recent directory listings kept so that the stat of each
 * name the kernel asks for after a readdir costs no snapshot read.
 */
#include "drive/drive_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/buf.h"
#include "util/error.h"

/* ---- opening ------------------------------------------------------------ */

int tier_drive_open(tier_drive **out, tier_vault *v,
                    const tier_drive_options *opts)
{
	const char *parent;
	tier_drive *d;
	int rc;

	TIER_ASSERT_ARG(out);
	*out = NULL;
	TIER_ASSERT_ARG(v);
	TIER_ASSERT_ARG(opts);
	TIER_CHECK_VERSION(opts, TIER_DRIVE_OPTIONS_VERSION,
	                   "tier_drive_options");
	if (!(d = tier_calloc(1, sizeof(*d))))
		return TIER_ERROR;
	pthread_mutex_init(&d->mu, NULL);
	d->v = v;
	d->o = *opts;
	if (!d->o.cache_size)
		d->o.cache_size = TIER_DRIVE_CACHE_SIZE_DEFAULT;
	parent = opts->cache_dir;
	if (!parent || !*parent)
		parent = getenv("TMPDIR");
	if (!parent || !*parent)
		parent = "/tmp";
	if ((rc = tier_drive_read_history(d)) < 0 ||
	    (rc = tier_chunkcache_open(&d->cache, parent, d->o.cache_size)) <
	            0) {
		tier_drive_free(d);
		return rc;
	}
	*out = d;
	return 0;
}

static void dir_clear(tier_drive *d, struct drive_dir *dd)
{
	for (size_t i = 0; i < dd->n; i++)
		free(dd->e[i].name);
	d->dcache_entries -= dd->n;
	free(dd->e);
	free(dd->path);
	memset(dd, 0, sizeof(*dd));
}

static void rev_close(tier_drive *d, struct drive_rev *r)
{
	d->damaged_closed += tier_browse_damaged(r->b);
	tier_browse_free(r->b);
	r->b = NULL;
	d->open_revs--;
}

void tier_drive_free(tier_drive *d)
{
	if (!d)
		return;
	for (size_t i = 0; i < d->nrevs; i++)
		if (d->revs[i].b)
			rev_close(d, &d->revs[i]);
	for (size_t i = 0; i < DRIVE_DCACHE_DIRS; i++)
		dir_clear(d, &d->dirs[i]);
	tier_chunkcache_free(d->cache);
	free(d->revs);
	free(d->rev_numbers);
	free(d->rev_times);
	free(d->archives);
	for (size_t i = 0; i < d->ntags; i++)
		free(d->tags[i].name);
	free(d->tags);
	pthread_mutex_destroy(&d->mu);
	free(d);
}

const uint64_t *tier_drive_revisions(const tier_drive *d, size_t *count)
{
	*count = d ? d->nrevs : 0;
	return d ? d->rev_numbers : NULL;
}

const char *tier_drive_cache_dir(const tier_drive *d)
{
	return d ? tier_chunkcache_dir(d->cache) : NULL;
}

void tier_drive_get_stats(tier_drive *d, tier_drive_stats *out)
{
	memset(out, 0, sizeof(*out));
	if (!d)
		return;
	pthread_mutex_lock(&d->mu);
	*out = d->st;
	out->cached_bytes = tier_chunkcache_bytes(d->cache);
	out->damaged = d->damaged_closed;
	for (size_t i = 0; i < d->nrevs; i++)
		out->damaged += tier_browse_damaged(d->revs[i].b);
	out->open_revisions = d->open_revs;
	pthread_mutex_unlock(&d->mu);
}

/* ---- snapshots ---------------------------------------------------------- */

int tier_drive_rev_browse(tier_drive *d, struct drive_rev *r)
{
	tier_browse_options bo = TIER_BROWSE_OPTIONS_INIT;
	size_t idle = 0;
	int rc;

	r->used = ++d->tick;
	if (r->b)
		return 0;
	for (size_t i = 0; i < d->nrevs; i++)
		idle += d->revs[i].b && !d->revs[i].files;
	while (idle >= DRIVE_MAX_IDLE_REVS) {
		struct drive_rev *lru = NULL;
		for (size_t i = 0; i < d->nrevs; i++) {
			struct drive_rev *o = &d->revs[i];
			if (o->b && !o->files && (!lru || o->used < lru->used))
				lru = o;
		}
		rev_close(d, lru);
		idle--;
	}
	bo.revision = r->rev;
	bo.warning = d->o.warning;
	bo.payload = d->o.payload;
	if ((rc = tier_browse_open(&r->b, d->v, &bo)) < 0)
		return rc;
	d->open_revs++;
	return 0;
}

void tier_drive_rev_release(tier_drive *d, struct drive_rev *r)
{
	(void)d;
	if (r && r->files)
		r->files--;
}

/* ---- the namespace ------------------------------------------------------ */

enum kind {
	K_ROOT,     /* "/" */
	K_REVS,     /* "/revisions" */
	K_ARCHIVES, /* "/archive" */
	K_LATEST,   /* "/latest": a symlink */
	K_ARCHIVE,  /* "/archive/NAME": a symlink */
	K_TAGS,     /* "/tags" */
	K_TAG,      /* "/tags/NAME": a directory of symlinks */
	K_TAGGED,   /* "/tags/NAME/N": a symlink */
	K_IN_REV,   /* "/revisions/N" and below */
};

struct where {
	enum kind kind;
	struct drive_rev *r; /* K_IN_REV, and the target of a symlink */
	int64_t time;        /* of r, or of the newest revision */
	const char *rest;    /* K_IN_REV: the snapshot path, "/" or "/a" */
	size_t tag;          /* K_TAG: the first d->tags of it */
};

static int is_link(enum kind k)
{
	return k == K_LATEST || k == K_ARCHIVE || k == K_TAGGED;
}

static struct drive_rev *find_rev(tier_drive *d, uint64_t rev)
{
	size_t lo = 0, hi = d->nrevs;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (d->revs[mid].rev == rev)
			return &d->revs[mid];
		if (d->revs[mid].rev < rev)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static int64_t rev_time(const tier_drive *d, const struct drive_rev *r)
{
	return d->rev_times[r - d->revs];
}

/* "17" exactly: no sign, no leading zero. */
static int parse_rev(const char *s, size_t n, uint64_t *out)
{
	uint64_t v = 0;
	if (n == 0 || n > 19 || (s[0] == '0'))
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	*out = v;
	return 0;
}

/* Whether d->tags i and j have different names. */
static int tag_cmp_name(const tier_drive *d, size_t i, size_t j)
{
	return strcmp(d->tags[i].name, d->tags[j].name) != 0;
}

static int not_found(const char *path)
{
	return tier_error_set(TIER_ENOTFOUND, "'%s' is not on the drive", path);
}

/* "/a/b" -> is component "a" next, with *after the rest ("/b" or ""). */
static int component(const char *p, const char *name, const char **after)
{
	size_t n = strlen(name);
	if (strncmp(p, name, n) || (p[n] && p[n] != '/'))
		return 0;
	*after = p + n;
	return 1;
}

/* The first d->tags entry named name (n bytes), or d->ntags. */
static size_t first_tag(const tier_drive *d, const char *name, size_t n)
{
	for (size_t i = 0; i < d->ntags; i++)
		if (strlen(d->tags[i].name) == n &&
		    !memcmp(d->tags[i].name, name, n))
			return i;
	return d->ntags;
}

static int locate_tag(tier_drive *d, const char *path, const char *after,
                      struct where *w)
{
	const char *name = after, *num;
	uint64_t rev;
	size_t len;

	while (*name == '/')
		name++;
	if (!*name) {
		w->kind = K_TAGS;
		return 0;
	}
	len = strcspn(name, "/");
	if ((w->tag = first_tag(d, name, len)) == d->ntags)
		return not_found(path);
	num = name + len;
	while (*num == '/')
		num++;
	if (!*num) {
		w->kind = K_TAG;
		return 0;
	}
	if (parse_rev(num, strlen(num), &rev) < 0)
		return not_found(path);
	for (size_t i = w->tag; i < d->ntags && !tag_cmp_name(d, i, w->tag);
	     i++)
		if (d->tags[i].rev == rev && (w->r = find_rev(d, rev))) {
			w->kind = K_TAGGED;
			w->time = rev_time(d, w->r);
			return 0;
		}
	return not_found(path);
}

static int locate(tier_drive *d, const char *path, struct where *w)
{
	const char *p = path, *after;

	memset(w, 0, sizeof(*w));
	w->time = d->nrevs ? d->rev_times[d->nrevs - 1] : 0;
	while (*p == '/')
		p++;
	if (!*p) {
		w->kind = K_ROOT;
		return 0;
	}
	if (component(p, "latest", &after) && !*after && d->nrevs) {
		w->kind = K_LATEST;
		w->r = &d->revs[d->nrevs - 1];
		return 0;
	}
	if (component(p, "archive", &after)) {
		const char *name = after;
		while (*name == '/')
			name++;
		if (!*name) {
			w->kind = K_ARCHIVES;
			return 0;
		}
		for (size_t i = 0; i < d->narchives; i++) {
			if (strcmp(d->archives[i].name, name))
				continue;
			if (!(w->r = find_rev(d, d->archives[i].revision)))
				break;
			w->kind = K_ARCHIVE;
			w->time = rev_time(d, w->r);
			return 0;
		}
		return not_found(path);
	}
	if (component(p, "tags", &after))
		return locate_tag(d, path, after, w);
	if (component(p, "revisions", &after)) {
		const char *n = after;
		uint64_t rev;
		while (*n == '/')
			n++;
		if (!*n) {
			w->kind = K_REVS;
			return 0;
		}
		size_t len = strcspn(n, "/");
		if (parse_rev(n, len, &rev) < 0 || !(w->r = find_rev(d, rev)))
			return not_found(path);
		w->kind = K_IN_REV;
		w->time = rev_time(d, w->r);
		w->rest = n[len] ? n + len : "/";
		return 0;
	}
	return not_found(path);
}

int tier_drive_rev_path(tier_drive *d, const char *path, struct drive_rev **r,
                        const char **rest)
{
	struct where w;
	int rc = locate(d, path, &w);
	if (rc < 0)
		return rc;
	if (is_link(w.kind)) /* no file, a link */
		return tier_error_set(TIER_ECONFLICT, "'%s' is a symlink",
		                      path);
	if (w.kind != K_IN_REV)
		return TIER_ECONFLICT;
	*r = w.r;
	*rest = w.rest;
	return 0;
}

static void dir_stat(tier_drive_stat *st, int64_t time)
{
	memset(st, 0, sizeof(*st));
	st->type = TIER_ENTRY_DIR;
	st->mode = 0555;
	st->uid = (uint32_t)getuid();
	st->gid = (uint32_t)getgid();
	st->mtime_sec = time;
}

static void link_stat(tier_drive_stat *st, int64_t time, const char *target)
{
	dir_stat(st, time);
	st->type = TIER_ENTRY_SYMLINK;
	st->mode = 0777;
	st->size = strlen(target);
}

static void link_target(const struct where *w, char *buf, size_t size)
{
	snprintf(buf, size, "%srevisions/%" PRIu64,
	         w->kind == K_ARCHIVE  ? "../"
	         : w->kind == K_TAGGED ? "../../"
	                               : "",
	         w->r->rev);
}

static void entry_stat(tier_drive_stat *st, const tier_browse_entry *e,
                       int64_t time)
{
	if (!e->has_meta) { /* a directory above the paths pushed */
		dir_stat(st, time);
		return;
	}
	memset(st, 0, sizeof(*st));
	st->type = e->type;
	st->mode = e->mode;
	st->uid = e->uid;
	st->gid = e->gid;
	st->size = e->size;
	st->mtime_sec = e->mtime_sec;
	st->mtime_nsec = e->mtime_nsec;
	st->rdev = e->rdev;
}

/* ---- the directory cache ------------------------------------------------ */

static struct drive_dir *dir_find(tier_drive *d, const char *path)
{
	for (size_t i = 0; i < DRIVE_DCACHE_DIRS; i++)
		if (d->dirs[i].path && !strcmp(d->dirs[i].path, path)) {
			d->dirs[i].used = ++d->tick;
			return &d->dirs[i];
		}
	return NULL;
}

static int dent_cmp(const void *key, const void *e)
{
	return strcmp(key, ((const struct drive_dent *)e)->name);
}

/* The stat of path from its parent's listing, if that is kept. */
static const struct drive_dent *dir_lookup(tier_drive *d, const char *path)
{
	const char *slash = strrchr(path, '/');
	struct drive_dir *dd;
	char parent[4096];
	size_t n;

	if (!slash || slash == path || !slash[1])
		return NULL;
	n = (size_t)(slash - path);
	if (n >= sizeof(parent))
		return NULL;
	memcpy(parent, path, n);
	parent[n] = '\0';
	if (!(dd = dir_find(d, parent)))
		return NULL;
	return bsearch(slash + 1, dd->e, dd->n, sizeof(*dd->e), dent_cmp);
}

/* A slot for a new listing: a free one or the least recently used, and
 * room under the entry budget. */
static struct drive_dir *dir_slot(tier_drive *d, size_t entries)
{
	struct drive_dir *lru = &d->dirs[0];
	for (size_t i = 0; i < DRIVE_DCACHE_DIRS; i++) {
		if (!d->dirs[i].path) {
			lru = &d->dirs[i];
			break;
		}
		if (d->dirs[i].used < lru->used)
			lru = &d->dirs[i];
	}
	dir_clear(d, lru);
	while (d->dcache_entries + entries > DRIVE_DCACHE_ENTRIES) {
		struct drive_dir *o = NULL;
		for (size_t i = 0; i < DRIVE_DCACHE_DIRS; i++)
			if (d->dirs[i].path &&
			    (!o || d->dirs[i].used < o->used))
				o = &d->dirs[i];
		if (!o)
			break;
		dir_clear(d, o);
	}
	return lru;
}

/* ---- inside a revision -------------------------------------------------- */

struct collect {
	int64_t time;
	int self_only;
	tier_drive_stat self;
	char *target; /* self's symlink target */
	int have_self;
	struct drive_dent *e;
	size_t n, cap;
	int failed;
};

static int collect_cb(const tier_browse_entry *e, void *payload)
{
	struct collect *c = payload;
	if (e->depth == 0) {
		entry_stat(&c->self, e, c->time);
		c->have_self = 1;
		if (e->type == TIER_ENTRY_SYMLINK &&
		    !(c->target = tier_strndup(e->target, e->target_len)))
			c->failed = 1;
		return c->failed;
	}
	if (c->self_only)
		return 1; /* the entries are not needed */
	if (c->n == c->cap) {
		size_t nc = c->cap ? c->cap * 2 : 64;
		struct drive_dent *ne = tier_realloc(c->e, nc * sizeof(*ne));
		if (!ne)
			return c->failed = 1;
		c->e = ne;
		c->cap = nc;
	}
	if (!(c->e[c->n].name = tier_strdup(e->name)))
		return c->failed = 1;
	entry_stat(&c->e[c->n].st, e, c->time);
	c->n++;
	return 0;
}

static void collect_dispose(struct collect *c)
{
	for (size_t i = 0; i < c->n; i++)
		free(c->e[i].name);
	free(c->e);
	free(c->target);
}

static int in_rev(tier_drive *d, const struct where *w, struct collect *c)
{
	int rc;
	c->time = w->time;
	if ((rc = tier_drive_rev_browse(d, w->r)) < 0)
		return rc;
	rc = tier_browse_list(w->r->b, w->rest, TIER_BROWSE_SELF, collect_cb,
	                      c);
	if (c->failed)
		return TIER_ERROR;
	if (rc == TIER_EABORTED && c->have_self)
		rc = 0; /* stopped on purpose after the path itself */
	return rc;
}

int tier_drive_stat_path(tier_drive *d, const char *path, tier_drive_stat *st)
{
	struct collect c;
	struct where w;
	const struct drive_dent *de;
	char target[64];
	int rc;

	TIER_ASSERT_ARG(d);
	TIER_ASSERT_ARG(path);
	TIER_ASSERT_ARG(st);
	pthread_mutex_lock(&d->mu);
	if ((rc = locate(d, path, &w)) < 0)
		goto out;
	switch (w.kind) {
	case K_ROOT:
	case K_REVS:
	case K_ARCHIVES:
	case K_TAGS:
	case K_TAG:
		dir_stat(st, w.time);
		break;
	case K_LATEST:
	case K_ARCHIVE:
	case K_TAGGED:
		link_target(&w, target, sizeof(target));
		link_stat(st, w.time, target);
		break;
	case K_IN_REV:
		if ((de = dir_lookup(d, path))) {
			*st = de->st;
			break;
		}
		memset(&c, 0, sizeof(c));
		c.self_only = 1;
		if ((rc = in_rev(d, &w, &c)) == 0)
			*st = c.self;
		collect_dispose(&c);
		break;
	}
out:
	pthread_mutex_unlock(&d->mu);
	return rc;
}

int tier_drive_readlink(tier_drive *d, const char *path, char *buf, size_t size)
{
	struct collect c;
	struct where w;
	int rc;

	TIER_ASSERT_ARG(d);
	TIER_ASSERT_ARG(path);
	TIER_ASSERT_ARG(buf && size);
	pthread_mutex_lock(&d->mu);
	memset(&c, 0, sizeof(c));
	if ((rc = locate(d, path, &w)) < 0)
		goto out;
	if (is_link(w.kind)) {
		link_target(&w, buf, size);
		goto out;
	}
	c.self_only = 1;
	if (w.kind != K_IN_REV || (rc = in_rev(d, &w, &c)) == 0) {
		if (!c.target)
			rc = tier_error_set(TIER_ECONFLICT,
			                    "'%s' is not a symlink", path);
		else
			snprintf(buf, size, "%s", c.target);
	}
out:
	collect_dispose(&c);
	pthread_mutex_unlock(&d->mu);
	return rc;
}

/* ---- listing ------------------------------------------------------------ */

static int list_top(tier_drive *d, const struct where *w, tier_drive_list_cb cb,
                    void *payload)
{
	tier_drive_stat st;
	char name[32], target[64];

	switch (w->kind) {
	case K_ROOT:
		dir_stat(&st, w->time);
		if (cb("archive", &st, payload))
			return TIER_EABORTED;
		if (d->nrevs) {
			struct where l = {K_LATEST, &d->revs[d->nrevs - 1],
			                  w->time, NULL, 0};
			link_target(&l, target, sizeof(target));
			link_stat(&st, w->time, target);
			if (cb("latest", &st, payload))
				return TIER_EABORTED;
		}
		dir_stat(&st, w->time);
		if (cb("revisions", &st, payload))
			return TIER_EABORTED;
		return cb("tags", &st, payload) ? TIER_EABORTED : 0;
	case K_TAGS:
		dir_stat(&st, w->time);
		for (size_t i = 0; i < d->ntags; i++)
			if ((i == 0 || tag_cmp_name(d, i, i - 1)) &&
			    cb(d->tags[i].name, &st, payload))
				return TIER_EABORTED;
		return 0;
	case K_TAG:
		for (size_t i = w->tag;
		     i < d->ntags && !tag_cmp_name(d, i, w->tag); i++) {
			struct where t = {K_TAGGED, NULL, 0, NULL, 0};
			if (!(t.r = find_rev(d, d->tags[i].rev)))
				continue;
			link_target(&t, target, sizeof(target));
			link_stat(&st, rev_time(d, t.r), target);
			snprintf(name, sizeof(name), "%" PRIu64, t.r->rev);
			if (cb(name, &st, payload))
				return TIER_EABORTED;
		}
		return 0;
	case K_REVS:
		/* byte order of the names, as every listing: "10" < "9" */
		for (size_t i = 0; i < d->nrevs; i++) {
			dir_stat(&st, d->rev_times[i]);
			snprintf(name, sizeof(name), "%" PRIu64,
			         d->revs[i].rev);
			if (cb(name, &st, payload))
				return TIER_EABORTED;
		}
		return 0;
	default: /* K_ARCHIVES */
		for (size_t i = 0; i < d->narchives; i++) {
			struct where a = {K_ARCHIVE, NULL, 0, NULL, 0};
			if (!(a.r = find_rev(d, d->archives[i].revision)))
				continue;
			link_target(&a, target, sizeof(target));
			link_stat(&st, rev_time(d, a.r), target);
			if (cb(d->archives[i].name, &st, payload))
				return TIER_EABORTED;
		}
		return 0;
	}
}

static int list_rev(tier_drive *d, const char *path, const struct where *w,
                    tier_drive_list_cb cb, void *payload)
{
	struct drive_dir *dd = dir_find(d, path);
	struct collect c;
	int rc = 0;

	if (!dd) {
		memset(&c, 0, sizeof(c));
		if ((rc = in_rev(d, w, &c)) == 0 &&
		    c.self.type != TIER_ENTRY_DIR)
			rc = tier_error_set(TIER_ECONFLICT,
			                    "'%s' is not a directory", path);
		if (rc == 0 && c.n <= DRIVE_DCACHE_ENTRIES &&
		    (dd = dir_slot(d, c.n)) && (dd->path = tier_strdup(path))) {
			dd->e = c.e;
			dd->n = c.n;
			dd->used = ++d->tick;
			d->dcache_entries += c.n;
			c.e = NULL;
			c.n = 0;
		}
		if (rc == 0 && !dd) { /* too large to keep: from c */
			for (size_t i = 0; i < c.n && rc == 0; i++)
				if (cb(c.e[i].name, &c.e[i].st, payload))
					rc = TIER_EABORTED;
		}
		collect_dispose(&c);
		if (rc < 0 || !dd)
			return rc;
	}
	for (size_t i = 0; i < dd->n; i++)
		if (cb(dd->e[i].name, &dd->e[i].st, payload))
			return TIER_EABORTED;
	return 0;
}

int tier_drive_list(tier_drive *d, const char *path, tier_drive_list_cb cb,
                    void *payload)
{
	struct where w;
	int rc;

	TIER_ASSERT_ARG(d);
	TIER_ASSERT_ARG(path);
	TIER_ASSERT_ARG(cb);
	pthread_mutex_lock(&d->mu);
	if ((rc = locate(d, path, &w)) == 0) {
		if (is_link(w.kind))
			rc = tier_error_set(TIER_ECONFLICT, "'%s' is a symlink",
			                    path);
		else if (w.kind == K_IN_REV)
			rc = list_rev(d, path, &w, cb, payload);
		else
			rc = list_top(d, &w, cb, payload);
	}
	pthread_mutex_unlock(&d->mu);
	return rc;
}
