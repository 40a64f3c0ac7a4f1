/* The log cache's packs read with pread (odb_pack.h). */
#include "odb_pack.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <git2/sys/repository.h>

#include "gitpack_read.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/posix.h"

#define SUM 20
/* Objects are read at random: a small window, grown by the reader's loop
 * for the few large ones (directory trees). */
#define WINDOW (2 * 1024)

struct opack {
	char name[64]; /* "pack-<hex>" */
	int state;     /* 0 not opened yet, 1 open, -1 unusable */
	int fd;
	tier_logidx ix;
	tier_packread rd;
	tier_buf why;
};

struct odbp {
	git_odb_backend parent;
	char dir[PATH_MAX]; /* objects/pack */
	int frozen, scanned;
	struct opack **p;
	size_t n, last; /* last: where the last lookup found its object */
	pthread_mutex_t mu;
	tier_buf scratch;
	/* the last object looked up: a read_header is often followed by a
	 * read of the same object */
	git_oid cid;
	size_t cpack;
	uint64_t coff;
	int cvalid;
};

#define ODBP(b) ((struct odbp *)(b))

/* A libgit2 error carrying ours. */
static int git_fail(int code)
{
	git_error_set_str(GIT_ERROR_ODB, tier_error_last());
	return code;
}

static int pack_open(struct odbp *o, struct opack *p)
{
	char path[PATH_MAX + 80];
	unsigned char head[12], tail[SUM];
	struct stat st;
	int fd, rc;

	snprintf(path, sizeof(path), "%s/%s.idx", o->dir, p->name);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0 || fstat(fd, &st) < 0) {
		rc = tier_error_set_errno(TIER_ERROR, errno, "cannot open '%s'",
		                          path);
		if (fd >= 0)
			close(fd);
		return rc;
	}
	if ((rc = tier_logidx_open_local(&p->ix, fd, (uint64_t)st.st_size)) < 0)
		return tier_error_prefix("log cache '%s'", path);
	snprintf(path, sizeof(path), "%s/%s.pack", o->dir, p->name);
	if ((p->fd = open(path, O_RDONLY | O_CLOEXEC)) < 0 ||
	    fstat(p->fd, &st) < 0) {
		rc = tier_error_set_errno(TIER_ERROR, errno, "cannot open '%s'",
		                          path);
		goto fail;
	}
	if ((rc = tier_pread_all(p->fd, head, 12, 0, NULL, path)) < 0 ||
	    (uint64_t)st.st_size < 12 + SUM ||
	    (rc = tier_pread_all(p->fd, tail, SUM, (uint64_t)st.st_size - SUM,
	                         NULL, path)) < 0)
		goto fail;
	if (memcmp(head, "PACK", 4) != 0 ||
	    tier_be32(head + 8) != p->ix.count ||
	    memcmp(tail, p->ix.pack_sum, SUM) != 0) {
		rc = tier_error_set(
		        TIER_ECORRUPT,
		        "log cache pack '%s' does not match its idx", path);
		goto fail;
	}
	p->why = (tier_buf)TIER_BUF_INIT;
	if ((rc = tier_packread_init(&p->rd, p->fd, (uint64_t)st.st_size,
	                             &p->ix, WINDOW, &p->why)) < 0)
		goto fail;
	p->rd.bounded = 0; /* read_header tells an oversized object's size */
	p->state = 1;
	return 0;
fail:
	tier_logidx_close(&p->ix);
	if (p->fd >= 0)
		close(p->fd);
	p->fd = -1;
	return rc < 0 ? rc : TIER_ECORRUPT;
}

static void pack_close(struct opack *p)
{
	if (p->state == 1) {
		tier_packread_dispose(&p->rd);
		tier_logidx_close(&p->ix);
		close(p->fd);
		tier_buf_dispose(&p->why);
	}
	free(p);
}

static int known(const struct odbp *o, const char *name)
{
	for (size_t i = 0; i < o->n; i++)
		if (!strcmp(o->p[i]->name, name))
			return 1;
	return 0;
}

/* Add the packs of the directory not listed yet (an idx names a pack: git
 * writes the idx last). */
static int scan(struct odbp *o)
{
	DIR *d = opendir(o->dir);
	struct dirent *e;
	int rc = 0;
	o->scanned = 1;
	if (!d)
		return errno == ENOENT
		               ? 0
		               : tier_error_set_errno(TIER_ERROR, errno,
		                                      "cannot list '%s'",
		                                      o->dir);
	while ((e = readdir(d)) && rc == 0) {
		size_t len = strlen(e->d_name);
		char name[64];
		if (len < 9 || len >= sizeof(name) + 4 ||
		    strncmp(e->d_name, "pack-", 5) != 0 ||
		    strcmp(e->d_name + len - 4, ".idx") != 0)
			continue;
		snprintf(name, sizeof(name), "%.*s", (int)(len - 4), e->d_name);
		if (known(o, name))
			continue;
		struct opack **np =
		        tier_realloc(o->p, (o->n + 1) * sizeof(*np));
		struct opack *p = tier_calloc(1, sizeof(*p));
		if (!np || !p) {
			free(p);
			if (np)
				o->p = np;
			rc = TIER_ERROR;
			break;
		}
		o->p = np;
		snprintf(p->name, sizeof(p->name), "%s", name);
		p->fd = -1;
		o->p[o->n++] = p;
	}
	closedir(d);
	return rc;
}

/* Where id is: 1 with *pi, *off; 0 when no pack has it. */
static int find(struct odbp *o, const git_oid *id, size_t *pi, uint64_t *off)
{
	int rc;
	if (o->cvalid && git_oid_equal(&o->cid, id)) {
		*pi = o->cpack;
		*off = o->coff;
		return 1;
	}
	if (!o->scanned && (rc = scan(o)) < 0)
		return rc;
	for (size_t k = 0; k < o->n; k++) {
		size_t i = k == 0 ? o->last : (k <= o->last ? k - 1 : k);
		struct opack *p = o->p[i];
		if (p->state == 0 && (rc = pack_open(o, p)) < 0) {
			/* one unreadable pack must not hide the others' objects:
			 * say why once, then leave it out */
			p->state = -1;
			tier_error_clear();
		}
		if (p->state != 1)
			continue;
		unsigned int b = id->id[0];
		if (p->ix.fan[b] == (b ? p->ix.fan[b - 1] : 0))
			continue; /* no id with this first byte: no read */
		if ((rc = tier_logidx_offset(&p->ix, id->id, off)) < 0)
			return rc;
		if (rc == 1) {
			o->last = i;
			*pi = i;
			git_oid_cpy(&o->cid, id);
			o->cpack = i;
			o->coff = *off;
			o->cvalid = 1;
			return 1;
		}
	}
	return 0;
}

/* Damage found by the reader, as an error naming the pack. */
static int read_fail(struct odbp *o, size_t pi, int rc)
{
	struct opack *p = o->p[pi];
	if (rc == TIER_ECORRUPT && p->why.size)
		rc = tier_error_set(TIER_ECORRUPT,
		                    "log cache pack '%s' is damaged: %s",
		                    p->name, tier_buf_cstr(&p->why));
	tier_buf_clear(&p->why);
	return rc;
}

static int to_mem(const void *p, size_t n, void *ctx)
{
	unsigned char **at = ctx;
	memcpy(*at, p, n);
	*at += n;
	return 0;
}

static int read_at0(struct odbp *o, git_odb_backend *b, size_t pi, uint64_t off,
                    void **data, size_t *len, git_object_t *type)
{
	tier_packread *r = &o->p[pi]->rd;
	tier_packhdr h;
	uint64_t end;
	int t, rc;
	if ((rc = tier_packread_hdr(r, off, &h)) < 0)
		return rc;
	if (h.type < 6) {
		unsigned char *buf = git_odb_backend_data_alloc(b, h.size + 1),
		              *at = buf;
		if (!buf)
			return tier_error_set(TIER_ERROR, "out of memory");
		if ((rc = tier_packread_inflate(r, off, &h, to_mem, &at,
		                                &end)) < 0) {
			git_odb_backend_data_free(b, buf);
			return rc;
		}
		buf[h.size] = 0;
		*data = buf;
		*len = (size_t)h.size;
		*type = (git_object_t)h.type;
		return 0;
	}
	if ((rc = tier_packread_resolve(r, off, &t, &o->scratch, &end)) < 0)
		return rc;
	unsigned char *buf = git_odb_backend_data_alloc(b, o->scratch.size + 1);
	if (!buf)
		return tier_error_set(TIER_ERROR, "out of memory");
	memcpy(buf, o->scratch.ptr, o->scratch.size);
	buf[o->scratch.size] = 0;
	*data = buf;
	*len = o->scratch.size;
	*type = (git_object_t)t;
	return 0;
}

static int read_at(struct odbp *o, git_odb_backend *b, size_t pi, uint64_t off,
                   void **data, size_t *len, git_object_t *type)
{
	int rc = read_at0(o, b, pi, off, data, len, type);
	return rc < 0 ? read_fail(o, pi, rc) : rc;
}

static int op_read(void **data, size_t *len, git_object_t *type,
                   git_odb_backend *b, const git_oid *id)
{
	struct odbp *o = ODBP(b);
	size_t pi;
	uint64_t off;
	pthread_mutex_lock(&o->mu);
	int rc = find(o, id, &pi, &off);
	if (rc == 1 && (rc = read_at(o, b, pi, off, data, len, type)) == 0)
		rc = 1;
	pthread_mutex_unlock(&o->mu);
	return rc < 0 ? git_fail(GIT_ERROR) : rc == 0 ? GIT_ENOTFOUND : 0;
}

static int op_read_header(size_t *len, git_object_t *type, git_odb_backend *b,
                          const git_oid *id)
{
	struct odbp *o = ODBP(b);
	size_t pi;
	uint64_t off, size = 0;
	int t = 0;
	pthread_mutex_lock(&o->mu);
	int rc = find(o, id, &pi, &off);
	if (rc == 1) {
		rc = tier_packread_info(&o->p[pi]->rd, off, &t, &size,
		                        &o->scratch);
		rc = rc < 0 ? read_fail(o, pi, rc) : 1;
	}
	pthread_mutex_unlock(&o->mu);
	if (rc < 0)
		return git_fail(GIT_ERROR);
	if (rc == 0)
		return GIT_ENOTFOUND;
	*len = (size_t)size;
	*type = (git_object_t)t;
	return 0;
}

static int op_exists(git_odb_backend *b, const git_oid *id)
{
	struct odbp *o = ODBP(b);
	size_t pi;
	uint64_t off;
	pthread_mutex_lock(&o->mu);
	int rc = find(o, id, &pi, &off);
	pthread_mutex_unlock(&o->mu);
	if (rc < 0) {
		tier_error_clear();
		return 0;
	}
	return rc;
}

/* The one object whose id starts with the first n hex digits of id. */
static int find_prefix(struct odbp *o, const git_oid *id, size_t n,
                       git_oid *full, size_t *pi, uint64_t *off)
{
	int rc, found = 0;
	if (!o->scanned && (rc = scan(o)) < 0)
		return rc;
	for (size_t i = 0; i < o->n; i++) {
		struct opack *p = o->p[i];
		unsigned char got[SUM];
		uint64_t at;
		if (p->state == 0 && pack_open(o, p) < 0) {
			p->state = -1;
			tier_error_clear();
		}
		if (p->state != 1)
			continue;
		if ((rc = tier_logidx_prefix(&p->ix, id->id, n, got, &at)) < 0)
			return rc;
		if (rc == 2 || (rc == 1 && found && memcmp(full->id, got, SUM)))
			return 2;
		if (rc == 1 && !found) {
			memcpy(full->id, got, SUM);
			*pi = i;
			*off = at;
			found = 1;
		}
	}
	return found;
}

static int op_read_prefix(git_oid *out, void **data, size_t *len,
                          git_object_t *type, git_odb_backend *b,
                          const git_oid *id, size_t n)
{
	struct odbp *o = ODBP(b);
	size_t pi = 0;
	uint64_t off = 0;
	git_oid full;
	pthread_mutex_lock(&o->mu);
	int rc = find_prefix(o, id, n, &full, &pi, &off);
	if (rc == 1 && (rc = read_at(o, b, pi, off, data, len, type)) == 0)
		rc = 1;
	pthread_mutex_unlock(&o->mu);
	if (rc < 0)
		return git_fail(GIT_ERROR);
	if (rc == 2)
		return GIT_EAMBIGUOUS;
	if (rc == 0)
		return GIT_ENOTFOUND;
	git_oid_cpy(out, &full);
	return 0;
}

static int op_exists_prefix(git_oid *out, git_odb_backend *b, const git_oid *id,
                            size_t n)
{
	struct odbp *o = ODBP(b);
	size_t pi;
	uint64_t off;
	git_oid full;
	pthread_mutex_lock(&o->mu);
	int rc = find_prefix(o, id, n, &full, &pi, &off);
	pthread_mutex_unlock(&o->mu);
	if (rc < 0)
		return git_fail(GIT_ERROR);
	if (rc == 2)
		return GIT_EAMBIGUOUS;
	if (rc == 0)
		return GIT_ENOTFOUND;
	git_oid_cpy(out, &full);
	return 0;
}

static int op_refresh(git_odb_backend *b)
{
	struct odbp *o = ODBP(b);
	int rc = 0;
	if (o->frozen)
		return 0;
	pthread_mutex_lock(&o->mu);
	rc = scan(o);
	pthread_mutex_unlock(&o->mu);
	return rc < 0 ? git_fail(GIT_ERROR) : 0;
}

/* Every id of every pack, a block at a time. */
static int op_foreach(git_odb_backend *b, git_odb_foreach_cb cb, void *payload)
{
	struct odbp *o = ODBP(b);
	unsigned char blk[256 * SUM];
	int rc = 0;
	pthread_mutex_lock(&o->mu);
	if (!o->scanned)
		rc = scan(o);
	for (size_t i = 0; i < o->n && rc == 0; i++) {
		struct opack *p = o->p[i];
		if (p->state == 0 && (rc = pack_open(o, p)) < 0)
			break;
		for (uint32_t k = 0; k < p->ix.count && rc == 0;) {
			uint32_t m =
			        p->ix.count - k < 256 ? p->ix.count - k : 256;
			if ((rc = tier_logidx_names(&p->ix, k, m, blk)) < 0)
				break;
			for (uint32_t j = 0; j < m && rc == 0; j++) {
				git_oid id;
				git_oid_fromraw(&id, blk + (size_t)j * SUM);
				rc = cb(&id, payload);
			}
			k += m;
		}
	}
	pthread_mutex_unlock(&o->mu);
	if (rc < 0 && rc != GIT_EUSER && tier_error_last()[0])
		return git_fail(GIT_ERROR);
	return rc ? (rc > 0 ? GIT_EUSER : rc) : 0;
}

/* A fetched pack, indexed by libgit2's indexer into the pack directory. */
struct wpack {
	git_odb_writepack parent;
	git_indexer *ix;
};

static int wp_append(git_odb_writepack *w, const void *data, size_t size,
                     git_indexer_progress *st)
{
	return git_indexer_append(((struct wpack *)w)->ix, data, size, st);
}

static int wp_commit(git_odb_writepack *w, git_indexer_progress *st)
{
	int rc = git_indexer_commit(((struct wpack *)w)->ix, st);
	return rc < 0 ? rc : op_refresh(w->backend);
}

static void wp_free(git_odb_writepack *w)
{
	git_indexer_free(((struct wpack *)w)->ix);
	free(w);
}

static int op_writepack(git_odb_writepack **out, git_odb_backend *b,
                        git_odb *odb, git_indexer_progress_cb progress,
                        void *payload)
{
	struct wpack *w = tier_calloc(1, sizeof(*w));
	git_indexer_options opts;
	int rc;
	if (!w)
		return git_fail(GIT_ERROR);
	git_indexer_options_init(&opts, GIT_INDEXER_OPTIONS_VERSION);
	opts.progress_cb = progress;
	opts.progress_cb_payload = payload;
	if ((rc = git_indexer_new(&w->ix, ODBP(b)->dir, 0, odb, &opts)) < 0) {
		free(w);
		return rc;
	}
	w->parent.backend = b;
	w->parent.append = wp_append;
	w->parent.commit = wp_commit;
	w->parent.free = wp_free;
	*out = &w->parent;
	return 0;
}

static int op_freshen(git_odb_backend *b, const git_oid *id)
{
	return op_exists(b, id) ? 0 : GIT_ENOTFOUND;
}

static void op_free(git_odb_backend *b)
{
	struct odbp *o = ODBP(b);
	for (size_t i = 0; i < o->n; i++)
		pack_close(o->p[i]);
	free(o->p);
	tier_buf_dispose(&o->scratch);
	pthread_mutex_destroy(&o->mu);
	free(o);
}

int tier_odb_pack_new(git_odb_backend **out, const char *objdir, int frozen)
{
	struct odbp *o = tier_calloc(1, sizeof(*o));
	if (!o)
		return GIT_ERROR;
	if (git_odb_init_backend(&o->parent, GIT_ODB_BACKEND_VERSION) < 0 ||
	    pthread_mutex_init(&o->mu, NULL) != 0) {
		free(o);
		return GIT_ERROR;
	}
	snprintf(o->dir, sizeof(o->dir), "%s/pack", objdir);
	o->frozen = frozen;
	o->scratch = (tier_buf)TIER_BUF_INIT;
	o->parent.read = op_read;
	o->parent.read_prefix = op_read_prefix;
	o->parent.read_header = op_read_header;
	o->parent.exists = op_exists;
	o->parent.exists_prefix = op_exists_prefix;
	o->parent.refresh = op_refresh;
	o->parent.foreach = op_foreach;
	if (!frozen)
		o->parent.writepack = op_writepack;
	o->parent.freshen = op_freshen;
	o->parent.free = op_free;
	*out = &o->parent;
	return 0;
}

/* libgit2's own priorities: packs before loose objects */
#define PACK_PRIORITY  2
#define LOOSE_PRIORITY 1

int tier_odb_pack_install(git_repository *repo)
{
	char objdir[PATH_MAX];
	git_odb *odb = NULL;
	git_odb_backend *packs = NULL, *loose = NULL;
	int rc;
	snprintf(objdir, sizeof(objdir), "%sobjects",
	         git_repository_path(repo));
	if ((rc = git_odb_new(&odb)) < 0)
		return rc;
	if ((rc = tier_odb_pack_new(&packs, objdir, 0)) < 0 ||
	    (rc = git_odb_add_backend(odb, packs, PACK_PRIORITY)) < 0)
		goto out;
	packs = NULL;
	if ((rc = git_odb_backend_loose(&loose, objdir, -1, 0, 0, 0)) < 0 ||
	    (rc = git_odb_add_backend(odb, loose, LOOSE_PRIORITY)) < 0)
		goto out;
	loose = NULL;
	rc = git_repository_set_odb(repo, odb);
out:
	if (packs)
		packs->free(packs);
	if (loose)
		loose->free(loose);
	git_odb_free(odb);
	return rc;
}
