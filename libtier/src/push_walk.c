/*
 * Push: the walk of the given paths, on the main thread.  Every file
 * system call is relative to a directory descriptor (openat, fstatat,
 * readlinkat, fdopendir; O_NOFOLLOW below the given paths): no path string
 * reaches the kernel, so depth is bounded by the descriptors a process may
 * hold, not by PATH_MAX.  Path strings exist for messages only.  Files
 * unchanged since the base revision take its node unread; the others go
 * to the workers (push_worker.c).
 */
#include <dirent.h>
#include <errno.h>
#include <git2/sys/odb_backend.h>
#include <inttypes.h>
#include <stddef.h>
#include <fcntl.h>
#include <stdio.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "chunker.h"
#include "objread.h"
#include "push_int.h"
#include "util/error.h"

/* A decimal number of 1 to 10 digits ending at '\n'; *v its value. */
static const char *chunk_len(const char *c, const char *end, uint64_t *v)
{
	const char *s = c;
	*v = 0;
	while (c < end && *c >= '0' && *c <= '9' && c - s < 10)
		*v = *v * 10 + (uint64_t)(*c++ - '0');
	if (c == s || c == end || *c != '\n' || (*s == '0' && c - s > 1))
		return NULL;
	return c + 1;
}

static const unsigned char lower_hex[256] = {
        ['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1,
        ['6'] = 1, ['7'] = 1, ['8'] = 1, ['9'] = 1, ['a'] = 1, ['b'] = 1,
        ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1};

/*
 * Whether rest, what follows "ino N\n" in a file's node, is what
 * tier_node_encode writes there: a dev line, then chunk lines adding up
 * to size, and nothing else.  Anything spelled otherwise (damage, another
 * writer) is "not the same", and the file is read again, as when the
 * node did not decode.
 */
static int node_rest_ok(const char *c, const char *end, uint64_t size)
{
	static const char chunk[] = "chunk ";
	uint64_t v, sum = 0;
	if (end - c < 4 || memcmp(c, "dev ", 4) ||
	    !(c = chunk_len(c + 4, end, &v)))
		return 0;
	while (c < end) {
		if (end - c < (ptrdiff_t)(sizeof(chunk) + TIER_HASH_HEXLEN) ||
		    memcmp(c, chunk, sizeof(chunk) - 1))
			return 0;
		c += sizeof(chunk) - 1;
		unsigned bad = 0; /* no branch per digit: this runs per file */
		for (int i = 0; i < TIER_HASH_HEXLEN; i++, c++)
			bad |= !lower_hex[(unsigned char)*c];
		if (bad)
			return 0;
		if (*c++ != ' ' || !(c = chunk_len(c, end, &v)) || v == 0 ||
		    v > TIER_CHUNKER_LIMIT)
			return 0;
		sum += v;
	}
	return sum == size;
}

/* "<key><decimal>\n" at o (at most 21 + strlen(key) bytes); the end. */
static char *put_num(char *o, const char *key, uint64_t v)
{
	char d[20];
	int n = 0;
	while (*key)
		*o++ = *key++;
	do
		d[n++] = (char)('0' + v % 10);
	while ((v /= 10) != 0);
	while (n)
		*o++ = d[--n];
	*o++ = '\n';
	return o;
}

/* "<key>[-]SECONDS.NNNNNNNNN\n", as tier_node_encode spells a time. */
static char *put_time(char *o, const char *key, const struct timespec *t)
{
	int64_t s = (int64_t)t->tv_sec;
	uint32_t ns = (uint32_t)t->tv_nsec;
	while (*key)
		*o++ = *key++;
	if (s < 0)
		*o++ = '-';
	o = put_num(o, "", s < 0 ? 0 - (uint64_t)s : (uint64_t)s) - 1;
	*o++ = '.';
	for (int i = 8; i >= 0; i--, ns /= 10)
		o[i] = (char)('0' + ns % 10);
	o += 9;
	*o++ = '\n';
	return o;
}

/* A regular file's node up to its ino line, as tier_node_encode writes it. */
static size_t node_head(char *o, const struct stat *st)
{
	static const char top[] = "tier-node 1\ntype file\nmode ";
	char *s = o;
	unsigned mode = (unsigned)(st->st_mode & 07777), sh = 9;
	memcpy(o, top, sizeof(top) - 1);
	o += sizeof(top) - 1;
	while (sh && !(mode >> sh))
		sh -= 3;
	for (;; sh -= 3) {
		*o++ = (char)('0' + ((mode >> sh) & 7));
		if (!sh)
			break;
	}
	*o++ = '\n';
	o = put_num(o, "uid ", (uint32_t)st->st_uid);
	o = put_num(o, "gid ", (uint32_t)st->st_gid);
	o = put_num(o, "size ", (uint64_t)st->st_size);
	o = put_time(o, "mtime ", &st->st_mtim);
	o = put_time(o, "ctime ", &st->st_ctim);
	o = put_num(o, "ino ", (uint64_t)st->st_ino);
	return (size_t)(o - s);
}

/*
 * Whether the base revision's node of an entry is a regular file with
 * the stat fields of st; *out is its entry.  On an unchanged re-push
 * this runs for every file, so it is built for speed: the blob's bytes
 * are compared with the fields as tier_node_encode spells them (no
 * decoding, no chunk list built), and the blob is read from the cache's
 * packs without git_odb_read's SHA-1 of it (a seventh of the re-push;
 * nothing is trusted on these bytes: a difference only means the file is
 * read again).  dev is not compared (a remount renumbers it).
 */
static int prev_node_same(struct push_run *p, git_tree *prev, const char *ename,
                          const struct stat *st, const git_tree_entry **out)
{
	const git_tree_entry *e =
	        prev ? git_tree_entry_byname(prev, ename) : NULL;
	git_odb_backend *b = tier_write_packs(p->w);
	git_object_t type;
	size_t len, size;
	void *data = NULL;
	char head[256];
	if (!e || git_tree_entry_type(e) != GIT_OBJECT_BLOB || !b)
		return 0;
	/* the size bound before inflating: an oversized node is damage */
	if (b->read_header(&len, &type, b, git_tree_entry_id(e)) < 0 ||
	    type != GIT_OBJECT_BLOB || len > TIER_MAX_NODE_BLOB ||
	    b->read(&data, &size, &type, b, git_tree_entry_id(e)) < 0)
		return 0;
	size_t n = node_head(head, st);
	int same =
	        type == GIT_OBJECT_BLOB && size >= n &&
	        !memcmp(data, head, n) &&
	        node_rest_ok((const char *)data + n, (const char *)data + size,
	                     (uint64_t)st->st_size);
	git_odb_backend_data_free(b, data);
	*out = e;
	return same;
}

static git_tree *prev_subtree(struct push_run *p, git_tree *prev,
                              const char *ename)
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
	if (strcmp(dir, "/") && tier_buf_puts(out, dir) < 0)
		return TIER_ERROR;
	if (tier_buf_putc(out, '/') < 0 || tier_buf_puts(out, name) < 0)
		return TIER_ERROR;
	return 0;
}

static int add_entry(struct push_run *p, struct dirjob *d, const char *name,
                     const struct stat *st);

static int walk_dir(struct push_run *p, struct dirjob *d)
{
	int rc = 0, dfd;
	DIR *dir = NULL;
	/* fdopendir takes its descriptor: d->fd stays for the workers */
	if ((dfd = fcntl(d->fd, F_DUPFD_CLOEXEC, 0)) < 0 ||
	    !(dir = fdopendir(dfd))) {
		int err = errno;
		if (dfd >= 0)
			close(dfd);
		tier_push_unreadable(p, "directory ", d->path,
		                     tier_push_strerror(err),
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
				tier_push_unreadable(p, "", tier_buf_cstr(&cp),
				                     tier_push_strerror(err),
				                     "skipped");
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
		tier_push_unreadable(p, "directory ", d->path,
		                     tier_push_strerror(errno),
		                     "partly skipped");
	closedir(dir);
	return rc;
}

/*
 * Whether the base node of ename holds st: from the stat cache's record of
 * the directory when it has the node (no read of the log), else from the
 * node itself.
 */
static int base_same(struct push_run *p, struct dirjob *d, const char *ename,
                     const struct stat *st, const git_tree_entry **out)
{
	if (p->sc && d->prev) {
		if (!d->sprev.loaded &&
		    tier_statcache_dir(p->sc, git_tree_id(d->prev), &d->sprev) <
		            0)
			return TIER_ERROR;
		const git_tree_entry *e = git_tree_entry_byname(d->prev, ename);
		if (!e || git_tree_entry_type(e) != GIT_OBJECT_BLOB)
			return 0;
		int same =
		        tier_statdir_same(&d->sprev, git_tree_entry_id(e), st);
		if (same >= 0) {
			*out = e;
			return same;
		}
	}
	return prev_node_same(p, d->prev, ename, st, out);
}

/* A file unchanged since the base revision: its node, unread. */
static int take_unchanged(struct push_run *p, struct dirjob *d,
                          const char *ename, const struct stat *st, int *taken)
{
	const git_tree_entry *e;
	int rc;
	*taken = 0;
	if (p->opts->reread)
		return 0;
	if ((rc = base_same(p, d, ename, st, &e)) <= 0)
		return rc;
	p->st.files++;
	p->st.unchanged_files++;
	p->st.bytes += (uint64_t)st->st_size;
	*taken = 1;
	if ((rc = tier_push_stat_note(p, d, git_tree_entry_id(e), st)) < 0)
		return rc;
	return tier_push_tb_keep(p, d, e);
}

/* Whether path is one of the given paths (never left out) or above one. */
static int is_given(const struct push_run *p, const char *path)
{
	return strlen(path) <= p->given_len;
}

/* Tell opts->excluded (main thread only). */
static void excluded(struct push_run *p, const char *path, const char *why)
{
	if (p->opts->excluded)
		p->opts->excluded(path, why, p->opts->payload);
}

/* With one_file_system: whether dev is none of the given paths' devices. */
static int other_fs(const struct push_run *p, dev_t dev)
{
	if (!p->opts->one_file_system)
		return 0;
	for (size_t i = 0; i < p->ndevs; i++)
		if (p->devs[i] == dev)
			return 0;
	return 1;
}

/*
 * Whether the excludes leave out the entry at path (docs/excludes.md):
 * its path below the given path, or for an anchored pattern its absolute
 * path too (as restic matches), by the patterns; a regular file by its
 * size; a non-directory on another file system with one_file_system
 * (a directory there is a mount point: add_subdir keeps it empty).  Counted
 * in the stats when it is.
 */
static int left_out(struct push_run *p, const char *path, const struct stat *st)
{
	int is_dir = S_ISDIR(st->st_mode);
	const char *why = NULL;
	if (is_given(p, path))
		return 0;
	if (p->ex) {
		/* below the given path; the absolute path for anchored ones */
		const char *alt[2] = {path + p->given_len + 1, path + 1};
		uint64_t max = tier_exclude_larger_than(p->ex);
		size_t nalt =
		        p->given_len && tier_exclude_anchored(p->ex) ? 2 : 1;
		if (tier_exclude_match_alt(p->ex, alt, nalt, is_dir))
			why = "pattern";
		else if (max && S_ISREG(st->st_mode) &&
		         (uint64_t)st->st_size > max)
			why = "size";
	}
	if (!why && !is_dir && other_fs(p, st->st_dev))
		why = "file system";
	if (!why)
		return 0;
	excluded(p, path, why);
	if (is_dir) {
		p->st.excluded_dirs++;
	} else {
		p->st.excluded_files++;
		if (S_ISREG(st->st_mode))
			p->st.excluded_bytes += (uint64_t)st->st_size;
	}
	return 1;
}

static int add_subdir(struct push_run *p, struct dirjob *d, const char *name,
                      const char *ename, const char *path,
                      const struct stat *st)
{
	struct dirjob *sub;
	struct stat now = *st;
	int rc, err, fd, other;
	fd = openat(d->fd, name,
	            O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	err = errno;
	if (fd >= 0 && fstat(fd, &now) < 0)
		now = *st;
	if (fd >= 0 && p->ex && !is_given(p, path) &&
	    tier_exclude_dir_tagged(p->ex, fd)) {
		/* --exclude-if-present: the directory is left out whole */
		close(fd);
		excluded(p, path, "tag");
		p->st.excluded_dirs++;
		return 0;
	}
	/* a mount point with one_file_system: kept, its contents not */
	other = !is_given(p, path) && other_fs(p, now.st_dev);
	if (other)
		excluded(p, path, "file system");
	p->st.dirs++;
	p->st.excluded_dirs += (uint64_t)other;
	if ((rc = tier_push_new_dirjob(p, &sub, d, ename, path,
	                               prev_subtree(p, d->prev, ename))) < 0) {
		if (fd >= 0)
			close(fd);
		return rc;
	}
	sub->fd = fd;
	if (sub->fd < 0)
		tier_push_unreadable(p, "directory ", path,
		                     tier_push_strerror(err),
		                     "its contents are skipped");
	/* the directory's own metadata even when its contents are skipped */
	if ((rc = tier_push_add_dirmeta(p, sub, &now)) < 0)
		return rc;
	if (sub->fd >= 0 && !other && (rc = walk_dir(p, sub)) < 0)
		return rc;
	/* its files are all looked at: the record is not needed any more */
	tier_statdir_dispose(&sub->sprev);
	sub->closed = 1;
	sub->waiting = 1;
	p->waiting_dirs++;
	return tier_push_dir_try_finish(p, sub);
}

static int add_entry(struct push_run *p, struct dirjob *d, const char *name,
                     const struct stat *st)
{
	/*
	 * The escaped name and the path (p->current, shown by progress) are
	 * the run's own buffers, not one allocation each per file: a
	 * subdirectory's walk reuses them, and nothing here reads them after
	 * add_subdir (the dirjob keeps copies).
	 */
	tier_buf *en = &p->ename, *path = &p->current;
	tier_node n;
	git_oid id;
	char *target = NULL;
	int rc;

	if ((rc = tier_snap_name_encode(en, tier_vault_keys(p->v), name,
	                                strlen(name))) < 0 ||
	    (rc = join_path(path, d->path, name)) < 0)
		goto out;
	if ((p->ex || p->opts->one_file_system) && left_out(p, path->ptr, st))
		goto out;
	if (S_ISDIR(st->st_mode)) {
		rc = add_subdir(p, d, name, en->ptr, path->ptr, st);
		goto out;
	}
	if (S_ISREG(st->st_mode)) {
		int taken = 0;
		if ((rc = take_unchanged(p, d, en->ptr, st, &taken)) < 0 ||
		    taken)
			goto out;
		struct filejob *f = tier_calloc(1, sizeof(*f));
		if (!f || !(f->name = tier_strdup(name)) ||
		    !(f->path = tier_strdup(path->ptr)) ||
		    !(f->ename = tier_strdup(en->ptr))) {
			if (f)
				tier_push_filejob_free(f);
			rc = TIER_ERROR;
			goto out;
		}
		f->dir = d;
		f->st = *st;
		rc = tier_push_submit(p, f);
		goto out;
	}
	if (S_ISSOCK(st->st_mode)) {
		/* a socket is a live endpoint, not data: deliberately left out */
		p->st.skipped_special++;
		goto out;
	}
	tier_push_node_from_stat(&n, st);
	if (S_ISLNK(st->st_mode)) {
		/* the kernel caps a target at PATH_MAX; outlives write_node */
		if (!(target = tier_malloc(PATH_MAX + 1))) {
			rc = TIER_ERROR;
			goto out;
		}
		ssize_t tl = readlinkat(d->fd, name, target, PATH_MAX);
		if (tl < 0) {
			tier_push_unreadable(p, "symlink ", path->ptr,
			                     tier_push_strerror(errno),
			                     "skipped");
			goto out;
		}
		n.target = target;
		n.target_len = (size_t)tl;
	}
	p->st.others++;
	if ((rc = tier_push_write_node(p, &id, &n)) == 0)
		rc = tier_push_tb_insert(p, d, en->ptr, &id, GIT_FILEMODE_BLOB);
out:
	free(target);
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
static int synthetic_child(struct push_run *p, struct dirjob **out,
                           struct dirjob *d, const char *name, int fd)
{
	tier_buf en = TIER_BUF_INIT, path = TIER_BUF_INIT;
	struct dirjob *k;
	struct stat st;
	int rc;
	*out = NULL;
	if ((rc = tier_snap_name_encode(&en, tier_vault_keys(p->v), name,
	                                strlen(name))) < 0 ||
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
	if ((rc = tier_push_new_dirjob(p, &k, d, en.ptr, path.ptr,
	                               prev_subtree(p, d->prev, en.ptr))) < 0)
		goto out;
	k->fd = fd;
	fd = -1;
	k->synthetic = 1;
	k->next_kid = d->kids;
	d->kids = k;
	*out = k;
	rc = tier_push_add_dirmeta(p, k, &st);
out:
	if (fd >= 0)
		close(fd);
	tier_buf_dispose(&en);
	tier_buf_dispose(&path);
	return rc;
}

int tier_push_close_synthetic(struct push_run *p, struct dirjob *d)
{
	int rc;
	for (struct dirjob *k = d->kids; k; k = k->next_kid)
		if ((rc = tier_push_close_synthetic(p, k)) < 0)
			return rc;
	d->closed = 1;
	return tier_push_dir_try_finish(p, d);
}

/* One given path: its synthetic parents, then the entry itself. */
static int add_given(struct push_run *p, struct dirjob *root, const char *path,
                     int *readable, int *err)
{
	tier_vec comps = TIER_VEC_INIT;
	int *fds = NULL, rc;
	struct stat st;
	if ((rc = split_path(&comps, path)) < 0)
		goto out;
	p->given_len = strlen(path); /* "/": 0, its entries are "/x" */
	if (comps.length == 0) {
		/* "/" itself: the root's metadata and contents */
		p->given_len = 0;
		if (fstat(root->fd, &st) < 0) {
			*err = errno;
			goto out;
		}
		*readable = 1;
		p->st.dirs++;
		if ((rc = tier_push_add_dirmeta(p, root, &st)) == 0)
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

/* Whether one given path is there: *err 0, or why not (errno). */
static int probe_path(struct dirjob *root, const char *path, int *err)
{
	tier_vec comps = TIER_VEC_INIT;
	struct stat st;
	int *fds = NULL, rc;
	if ((rc = split_path(&comps, path)) < 0) {
		tier_vec_dispose(&comps, free);
		return rc;
	}
	if (comps.length == 0)
		*err = fstat(root->fd, &st) < 0 ? errno : 0;
	else if (!(fds = tier_calloc(comps.length, sizeof(*fds))))
		rc = TIER_ERROR;
	else if (open_chain(fds, &comps, root->fd, &st, err) == 0)
		for (size_t j = 0; j + 1 < comps.length; j++)
			close(fds[j]);
	free(fds);
	tier_vec_dispose(&comps, free);
	return rc;
}

/* None of the given paths is there: the error names each and why. */
static int none_there(const tier_vec *set, const int *errs)
{
	int all_denied = 1, rc;
	tier_buf msg = TIER_BUF_INIT;
	for (size_t i = 0; i < set->length; i++) {
		all_denied &= errs[i] == EACCES || errs[i] == EPERM;
		tier_buf_printf(&msg, "%s'%s': %s", i ? ", " : "",
		                tier_quote_name(set->ptr[i]),
		                tier_push_strerror(errs[i]));
	}
	if (set->length == 1)
		rc = tier_error_set(all_denied ? TIER_EAUTH : TIER_ENOTFOUND,
		                    "cannot back up %s", tier_buf_cstr(&msg));
	else
		rc = tier_error_set(all_denied ? TIER_EAUTH : TIER_ENOTFOUND,
		                    "cannot back up any of the %zu paths "
		                    "(%s)",
		                    set->length, tier_buf_cstr(&msg));
	tier_buf_dispose(&msg);
	return rc;
}

int tier_push_walk_paths(struct push_run *p, struct dirjob *root,
                         const tier_vec *set)
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
		if ((rc = probe_path(root, set->ptr[i], &errs[i])) < 0)
			goto out;
		ok += errs[i] == 0;
	}
	if (ok == 0) {
		rc = none_there(set, errs);
		goto out;
	}
	for (size_t i = 0; i < set->length; i++) {
		int readable = 0, err = errs[i];
		if (!err &&
		    (rc = add_given(p, root, set->ptr[i], &readable, &err)) < 0)
			goto out;
		if (!readable)
			tier_push_unreadable(p, "", set->ptr[i],
			                     tier_push_strerror(err),
			                     "not in the revision");
	}
out:
	free(errs);
	return rc;
}
