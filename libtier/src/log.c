#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tier/sys/driver.h"
#include "gitpack.h"
#include "hash.h"
#include "objread.h"
#include "util/error.h"
#include "util/posix.h"
#include <openssl/evp.h>

static void copy_field(char *dst, size_t cap, const char *src)
{
	snprintf(dst, cap, "%s", src ? src : "");
}

static int64_t parse_i64(const char *s)
{
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno || end == s || *end)
		return -1;
	return v;
}

int tier_commit_info_read(tier_commit_info *out, git_repository *repo,
                          const git_oid *id)
{
	git_commit *c = NULL;
	git_message_trailer_array tr = {0};
	char hex[GIT_OID_HEXSZ + 1];
	int rc;

	memset(out, 0, sizeof(*out));
	out->files = out->bytes = out->new_bytes = out->packs = -1;
	git_oid_tostr(hex, sizeof(hex), id);
	if ((rc = tier_log_commit_lookup(&c, repo, id)) < 0)
		return rc;
	git_oid_cpy(&out->id, id);
	/* the revision's time is the author's: tier-push --time sets it,
	 * the committer time says when it was written */
	const git_signature *author = git_commit_author(c);
	out->time = author ? (int64_t)author->when.time
	                   : (int64_t)git_commit_time(c);
	out->time_offset =
	        author ? author->when.offset : git_commit_time_offset(c);
	copy_field(out->summary, sizeof(out->summary), git_commit_summary(c));
	if ((rc = git_message_trailers(&tr, git_commit_message(c))) < 0) {
		git_commit_free(c);
		return tier_error_from_git(
		        rc, "cannot parse trailers of log commit %s", hex);
	}
	int have_rev = 0;
	for (size_t i = 0; i < tr.count; i++) {
		const char *k = tr.trailers[i].key, *v = tr.trailers[i].value;
		if (!strcmp(k, TIER_TRAILER_REVISION)) {
			int64_t r = parse_i64(v);
			if (r > 0) {
				out->revision = (uint64_t)r;
				have_rev = 1;
			}
		} else if (!strcmp(k, TIER_TRAILER_OP))
			copy_field(out->op, sizeof(out->op), v);
		else if (!strcmp(k, TIER_TRAILER_VAULT))
			copy_field(out->vault, sizeof(out->vault), v);
		else if (!strcmp(k, TIER_TRAILER_INSTALLATION))
			copy_field(out->installation, sizeof(out->installation),
			           v);
		else if (!strcmp(k, TIER_TRAILER_HOST))
			copy_field(out->host, sizeof(out->host), v);
		else if (!strcmp(k, TIER_TRAILER_USER))
			copy_field(out->user, sizeof(out->user), v);
		else if (!strcmp(k, "Tier-Files"))
			out->files = parse_i64(v);
		else if (!strcmp(k, "Tier-Bytes"))
			out->bytes = parse_i64(v);
		else if (!strcmp(k, "Tier-New-Bytes"))
			out->new_bytes = parse_i64(v);
		else if (!strcmp(k, "Tier-Packs"))
			out->packs = parse_i64(v);
	}
	git_message_trailer_array_free(&tr);
	git_commit_free(c);
	if (!have_rev)
		return tier_error_set(TIER_ECORRUPT,
		                      "log commit %s has no valid %s trailer",
		                      hex, TIER_TRAILER_REVISION);
	return 0;
}

int tier_log_commit_lookup(git_commit **out, git_repository *repo,
                           const git_oid *id)
{
	char hex[GIT_OID_HEXSZ + 1], what[GIT_OID_HEXSZ + 16];
	int rc;

	*out = NULL;
	git_oid_tostr(hex, sizeof(hex), id);
	snprintf(what, sizeof(what), "log commit %.12s", hex);
	if ((rc = tier_object_check(NULL, repo, id, GIT_OBJECT_COMMIT,
	                            TIER_MAX_SMALL_OBJECT, what)) < 0)
		return rc;
	if ((rc = git_commit_lookup(out, repo, id)) < 0)
		return tier_error_from_git(rc, "cannot read log commit %s",
		                           hex);
	return 0;
}

int tier_log_first_parent(git_oid *out, git_repository *repo, const git_oid *id)
{
	git_commit *c = NULL;
	int rc = tier_log_commit_lookup(&c, repo, id);
	if (rc < 0)
		return rc;
	const git_oid *p = git_commit_parent_id(c, 0);
	if (p)
		git_oid_cpy(out, p);
	git_commit_free(c);
	return p ? 1 : 0;
}

static int parse_head(git_oid *out, const char *text, size_t len,
                      const char *what)
{
	while (len && (text[len - 1] == '\n' || text[len - 1] == '\r' ||
	               text[len - 1] == ' '))
		len--;
	if (len != GIT_OID_HEXSZ || git_oid_fromstrn(out, text, len) < 0)
		return tier_error_set(TIER_ECORRUPT,
		                      "tier head '%s' is not a commit id",
		                      what);
	return 0;
}

int tier_log_head_read(tier_location *loc, git_oid *out, int *exists)
{
	static const char *const names[] = {TIER_LOG_HEAD_REF,
	                                    TIER_LOG_HEAD_NEXT};
	*exists = 0;
	for (size_t i = 0; i < 2; i++) {
		char *text = NULL;
		size_t len = 0;
		int rc = tier_location_get_all(loc, names[i], &text, &len, 256);
		if (rc == TIER_ENOTFOUND)
			continue;
		if (rc < 0)
			return rc;
		rc = parse_head(out, text, len, names[i]);
		free(text);
		if (rc < 0)
			return tier_error_prefix("tier '%s'",
			                         tier_location_name(loc));
		*exists = 1;
		return 0;
	}
	tier_error_clear();
	return 0;
}

int tier_log_head_write(tier_location *loc, const git_oid *id)
{
	char line[GIT_OID_HEXSZ + 2];
	unsigned int caps = tier_location_caps(loc);
	int rc;
	git_oid_tostr(line, sizeof(line), id);
	line[GIT_OID_HEXSZ] = '\n';
	line[GIT_OID_HEXSZ + 1] = '\0';

	/* no rename at all (S3): one PUT replaces the object atomically */
	if (!(caps & TIER_DRIVER_CAP_RENAME))
		return tier_location_put_mem(loc, TIER_LOG_HEAD_REF, line,
		                             GIT_OID_HEXSZ + 1, 0);

	/*
	 * Stage the head in head.next (outside refs/: a put killed half way
	 * leaves its temporary file there, where git does not look for
	 * branches), then rename it into refs/heads/main.
	 */
	if (!(caps & TIER_DRIVER_CAP_RENAME_OVERWRITE)) {
		rc = tier_location_remove(loc, TIER_LOG_HEAD_NEXT);
		if (rc < 0 && rc != TIER_ENOTFOUND)
			return rc;
	}
	if ((rc = tier_location_put_mem(loc, TIER_LOG_HEAD_NEXT, line,
	                                GIT_OID_HEXSZ + 1, 0)) < 0)
		return rc;
	if (!(caps & TIER_DRIVER_CAP_RENAME_OVERWRITE)) {
		/*
		 * OpenSSH SFTP cannot rename over a file: remove main first.
		 * Readers take main, else head.next, so at every instant they
		 * see the old head or the new one (docs/format.md).
		 */
		rc = tier_location_remove(loc, TIER_LOG_HEAD_REF);
		if (rc < 0 && rc != TIER_ENOTFOUND)
			return rc;
	}
	return tier_location_rename(loc, TIER_LOG_HEAD_NEXT, TIER_LOG_HEAD_REF);
}

int tier_log_create(tier_location *loc)
{
	static const char head[] = "ref: refs/heads/main\n";
	static const char config[] = "[core]\n\trepositoryformatversion = 0\n"
	                             "\tfilemode = true\n\tbare = true\n";
	static const char desc[] = "libtier operation log\n";
	static const char *const dirs[] = {
	        "log.git/objects/pack", "log.git/objects/info",
	        "log.git/refs/heads", "log.git/refs/tags"};
	int rc;
	if (tier_location_caps(loc) & TIER_DRIVER_CAP_DIRS)
		for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++)
			if ((rc = tier_location_mkdir_p(loc, dirs[i])) < 0)
				return rc;
	if ((rc = tier_location_put_mem(loc, "log.git/config", config,
	                                sizeof(config) - 1, 0)) < 0 ||
	    (rc = tier_location_put_mem(loc, "log.git/description", desc,
	                                sizeof(desc) - 1, 0)) < 0)
		return rc;
	/* HEAD last: it is what makes the directory a repository */
	return tier_location_put_mem(loc, "log.git/HEAD", head,
	                             sizeof(head) - 1, 0);
}

struct empty_check {
	int entries;
};

static int count_entry(const char *name, const tier_stat *st, void *payload)
{
	struct empty_check *e = payload;
	(void)st;
	/* a freshly formatted disk has lost+found; it holds no vault */
	if (strcmp(name, "lost+found") != 0)
		e->entries++;
	return 0;
}

int tier_log_tier_is_empty(tier_location *loc, int *empty)
{
	struct empty_check e = {0};
	int rc = tier_location_list(loc, "", count_entry, &e);
	if (rc == TIER_ENOTFOUND) {
		*empty = 1;
		return 0;
	}
	if (rc < 0)
		return rc;
	*empty = e.entries == 0;
	return 0;
}

/* ---- fetch ---------------------------------------------------------- */

struct name_list {
	tier_vec names;
};

static int collect_pack(const char *name, const tier_stat *st, void *payload)
{
	struct name_list *l = payload;
	size_t n = strlen(name);
	(void)st;
	if (n > 10 && !strncmp(name, "pack-", 5) &&
	    !strcmp(name + n - 5, ".pack")) {
		char *dup = tier_strndup(name, n - 5);
		if (!dup || tier_vec_push(&l->names, dup) < 0) {
			free(dup);
			return -1;
		}
	}
	return 0;
}

static int list_packs(tier_location *loc, tier_vec *out)
{
	struct name_list l = {TIER_VEC_INIT};
	int rc = tier_location_list(loc, TIER_LOG_PACK_DIR, collect_pack, &l);
	if (rc == TIER_ENOTFOUND)
		rc = 0;
	if (rc < 0) {
		tier_vec_dispose(&l.names, free);
		return rc;
	}
	*out = l.names;
	return 0;
}

struct pack_sink {
	git_odb_writepack *wp;
	git_indexer_progress stats;
	int git_rc;
};

static int pack_sink_cb(const void *data, size_t len, void *payload)
{
	struct pack_sink *s = payload;
	s->git_rc = s->wp->append(s->wp, data, len, &s->stats);
	return s->git_rc < 0 ? -1 : 0;
}

static int cache_has_pack(git_repository *cache, const char *name)
{
	char path[4096];
	struct stat st;
	snprintf(path, sizeof(path), "%s/objects/pack/%s.pack",
	         git_repository_path(cache), name);
	return stat(path, &st) == 0;
}

static int fetch_one(git_repository *cache, tier_location *loc,
                     const char *name)
{
	git_odb *odb = NULL;
	struct pack_sink s = {0};
	char path[256];
	int rc;

	snprintf(path, sizeof(path), "%s/%s.pack", TIER_LOG_PACK_DIR, name);
	if ((rc = git_repository_odb(&odb, cache)) < 0)
		return tier_error_from_git(rc,
		                           "cannot open the local log cache");
	if ((rc = git_odb_write_pack(&s.wp, odb, NULL, NULL)) < 0) {
		git_odb_free(odb);
		return tier_error_from_git(rc, "cannot index log pack");
	}
	rc = tier_location_get(loc, path, 0, UINT64_MAX, pack_sink_cb, &s);
	if (rc == TIER_EABORTED && s.git_rc < 0)
		rc = tier_error_from_git(s.git_rc,
		                         "tier '%s': log pack '%s' is damaged",
		                         tier_location_name(loc), path);
	if (rc == 0 && (rc = s.wp->commit(s.wp, &s.stats)) < 0)
		rc = tier_error_from_git(rc,
		                         "tier '%s': log pack '%s' is damaged",
		                         tier_location_name(loc), path);
	if (rc == TIER_ERROR)
		rc = TIER_ECORRUPT;
	s.wp->free(s.wp);
	git_odb_free(odb);
	return rc;
}

/*
 * A fetch that failed half way (one pack damaged) may leave the head commit
 * in the cache without all of its history.  This marker makes the next
 * fetch, from whichever tier, look at every pack instead of trusting "the
 * head is here"; a fetch that completes removes it.
 */
static void incomplete_path(char *out, size_t cap, git_repository *cache)
{
	snprintf(out, cap, "%s/tier-fetch-incomplete",
	         git_repository_path(cache));
}

int tier_log_fetch(git_repository *cache, tier_location *loc,
                   const git_oid *head)
{
	git_odb *odb = NULL;
	tier_vec packs = TIER_VEC_INIT;
	int rc, have = 0;
	char hex[GIT_OID_HEXSZ + 1], marker[4200];
	struct stat st;

	incomplete_path(marker, sizeof(marker), cache);
	int incomplete = stat(marker, &st) == 0;
	if ((rc = git_repository_odb(&odb, cache)) < 0)
		return tier_error_from_git(rc,
		                           "cannot open the local log cache");
	have = git_odb_exists(odb, head);
	git_odb_free(odb);
	if (have && !incomplete)
		return 0;

	/* Two rounds: a consolidation may remove a pack between list and get. */
	for (int round = 0; round < 2 && (!have || incomplete); round++) {
		if ((rc = list_packs(loc, &packs)) < 0)
			return rc;
		rc = 0;
		for (size_t i = 0; i < packs.length && rc == 0; i++)
			if (!cache_has_pack(cache, packs.ptr[i]))
				rc = fetch_one(cache, loc, packs.ptr[i]);
		tier_vec_dispose(&packs, free);
		if (rc == TIER_ENOTFOUND && round == 0)
			continue;
		if (rc < 0) {
			int fd = open(marker, O_WRONLY | O_CREAT | O_CLOEXEC,
			              0600);
			if (fd >= 0)
				close(fd);
			return rc;
		}
		if ((rc = git_repository_odb(&odb, cache)) < 0)
			return tier_error_from_git(
			        rc, "cannot open the local log cache");
		git_odb_refresh(odb);
		have = git_odb_exists(odb, head);
		git_odb_free(odb);
		if (have && incomplete) {
			unlink(marker);
			incomplete = 0;
		}
	}
	if (!have) {
		git_oid_tostr(hex, sizeof(hex), head);
		return tier_error_set(
		        TIER_ECORRUPT,
		        "tier '%s': head %s is missing from its log packs",
		        tier_location_name(loc), hex);
	}
	return 0;
}

/* ---- upload --------------------------------------------------------- */

static int put_file(tier_location *loc, const char *dst, const char *src)
{
	int fd = open(src, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (fd < 0)
		return tier_error_set_errno(TIER_ERROR, errno,
		                            "cannot open '%s'", src);
	if (fstat(fd, &st) < 0) {
		close(fd);
		return tier_error_set_errno(TIER_ERROR, errno,
		                            "cannot stat '%s'", src);
	}
	tier_source s = {NULL, fd, (uint64_t)st.st_size, NULL};
	int rc = tier_location_put(loc, dst, &s, 0);
	close(fd);
	return rc;
}

static int make_tmpdir(char *out, size_t cap)
{
	const char *base = getenv("TMPDIR");
	snprintf(out, cap, "%s/tier-pack-XXXXXX",
	         base && *base ? base : "/tmp");
	if (!mkdtemp(out))
		return tier_error_set_errno(
		        TIER_ERROR, errno,
		        "cannot create a temporary directory");
	return 0;
}

/*
 * The pack of a single commit over its parent (a write's revision): our
 * own writer, no delta search, no re-indexing.  1 when tip..hide is not
 * one commit (the caller uses libgit2's packbuilder then).
 */
static int one_commit_pack(git_repository *repo, const git_oid *tip,
                           const git_oid *hide, const char *dir, tier_buf *name)
{
	git_commit *c = NULL;
	git_odb *odb = NULL;
	git_oid *ids = NULL;
	size_t n = 0;
	int rc;
	if ((rc = git_commit_lookup(&c, repo, tip)) < 0)
		return tier_error_from_git(rc, "cannot read a log commit");
	unsigned int np = git_commit_parentcount(c);
	int one = hide ? np == 1 && git_oid_equal(git_commit_parent_id(c, 0),
	                                          hide)
	               : np == 0;
	git_commit_free(c);
	if (!one)
		return 1;
	if ((rc = git_repository_odb(&odb, repo)) < 0)
		return tier_error_from_git(rc, "cannot open the log objects");
	if ((rc = tier_gitpack_new_objects(repo, tip, hide, &ids, &n)) == 0)
		rc = tier_gitpack_write(odb, ids, n, dir, name);
	free(ids);
	git_odb_free(odb);
	return rc;
}

int tier_log_pack_build(git_repository *repo, const git_oid *tip,
                        const git_oid *hide, const char *dir, tier_buf *name)
{
	git_packbuilder *pb = NULL;
	git_revwalk *walk = NULL;
	int rc;

	tier_buf_clear(name);
	if ((rc = one_commit_pack(repo, tip, hide, dir, name)) != 1)
		return rc;
	if ((rc = git_packbuilder_new(&pb, repo)) < 0)
		return tier_error_from_git(rc, "cannot build log pack");
	/* delta search over many similar metadata blobs is the costly part */
	git_packbuilder_set_threads(pb, 2);
	if ((rc = git_revwalk_new(&walk, repo)) < 0 ||
	    (rc = git_revwalk_push(walk, tip)) < 0 ||
	    (hide && (rc = git_revwalk_hide(walk, hide)) < 0) ||
	    (rc = git_packbuilder_insert_walk(pb, walk)) < 0) {
		rc = tier_error_from_git(rc, "cannot collect log objects");
		goto out;
	}
	if (git_packbuilder_object_count(pb) == 0)
		goto out;
	if ((rc = git_packbuilder_write(pb, dir, 0, NULL, NULL)) < 0) {
		rc = tier_error_from_git(rc, "cannot write log pack");
		goto out;
	}
	tier_buf_printf(name, "pack-%s", git_packbuilder_name(pb));
out:
	git_revwalk_free(walk);
	git_packbuilder_free(pb);
	return rc;
}

int tier_log_pack_put(tier_location *loc, const char *dir, const char *name)
{
	char src[4200], dst[256];
	int rc;
	if (!name || !*name)
		return 0;
	/* pack before idx: git considers a pack only once its idx exists */
	snprintf(src, sizeof(src), "%s/%s.pack", dir, name);
	snprintf(dst, sizeof(dst), "%s/%s.pack", TIER_LOG_PACK_DIR, name);
	if ((rc = put_file(loc, dst, src)) < 0)
		return rc;
	snprintf(src, sizeof(src), "%s/%s.idx", dir, name);
	snprintf(dst, sizeof(dst), "%s/%s.idx", TIER_LOG_PACK_DIR, name);
	return put_file(loc, dst, src);
}

int tier_log_upload(git_repository *repo, tier_location *loc,
                    const git_oid *tip, const git_oid *hide, tier_buf *name)
{
	char dir[4096], path[4200];
	tier_buf n = TIER_BUF_INIT;
	int rc;

	if (name)
		tier_buf_clear(name);
	if ((rc = make_tmpdir(dir, sizeof(dir))) < 0)
		return rc;
	if ((rc = tier_log_pack_build(repo, tip, hide, dir, &n)) == 0 &&
	    (rc = tier_log_pack_put(loc, dir, tier_buf_cstr(&n))) == 0 && name)
		tier_buf_puts(name, tier_buf_cstr(&n));
	if (n.size) {
		snprintf(path, sizeof(path), "%s/%s.pack", dir, n.ptr);
		unlink(path);
		snprintf(path, sizeof(path), "%s/%s.idx", dir, n.ptr);
		unlink(path);
	}
	rmdir(dir);
	tier_buf_dispose(&n);
	return rc;
}

/* ---- copying log packs between tiers (sync) -------------------------- */

struct all_names {
	tier_vec names;
	tier_vec sizes; /* uint64_t * per name */
};

static int collect_any(const char *name, const tier_stat *st, void *payload)
{
	struct all_names *l = payload;
	char *dup = tier_strdup(name);
	uint64_t *sz = tier_malloc(sizeof(*sz));
	if (!dup || !sz || tier_vec_push(&l->names, dup) < 0) {
		free(dup);
		free(sz);
		return -1;
	}
	*sz = st ? st->size : 0;
	if (tier_vec_push(&l->sizes, sz) < 0)
		return -1;
	return 0;
}

static long find_name(const struct all_names *l, const char *name)
{
	for (size_t i = 0; i < l->names.length; i++)
		if (!strcmp(l->names.ptr[i], name))
			return (long)i;
	return -1;
}

static int sha1_of(unsigned char out[20], const void *data, size_t len)
{
	unsigned int n = 0;
	return EVP_Digest(data, len, out, &n, EVP_sha1(), NULL) && n == 20 ? 0
	                                                                   : -1;
}

/* A git pack ends with the SHA-1 of all before it, and is named by it. */
static int check_pack_file(const char *file, const char *base)
{
	int fd = open(file, O_RDONLY | O_CLOEXEC);
	struct stat st;
	unsigned char buf[65536], md[EVP_MAX_MD_SIZE], tail[20];
	unsigned int mdlen = 0;
	char hex[41];
	int ok = 0;
	if (fd >= 0 && fstat(fd, &st) == 0 && st.st_size >= 32) {
		EVP_MD_CTX *ctx = EVP_MD_CTX_new();
		uint64_t left = (uint64_t)st.st_size - 20;
		ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha1(), NULL);
		while (ok && left) {
			ssize_t n = read(fd, buf,
			                 left < sizeof(buf) ? (size_t)left
			                                    : sizeof(buf));
			ok = n > 0 && EVP_DigestUpdate(ctx, buf, (size_t)n);
			left -= n > 0 ? (uint64_t)n : 0;
		}
		ok = ok && read(fd, tail, 20) == 20 &&
		     EVP_DigestFinal_ex(ctx, md, &mdlen) && mdlen == 20 &&
		     !memcmp(md, tail, 20);
		EVP_MD_CTX_free(ctx);
	}
	if (fd >= 0)
		close(fd);
	for (int i = 0; ok && i < 20; i++)
		sprintf(hex + 2 * i, "%02x", md[i]);
	if (!ok || strncmp(base, "pack-", 5) != 0 ||
	    strncmp(base + 5, hex, 40) != 0)
		return tier_error_set(TIER_ECORRUPT,
		                      "log pack '%s' does not hash to its name",
		                      base);
	return 0;
}

/* The idx on dst is whole (its own SHA-1 trailer) and names this pack. */
static int idx_ok(tier_location *dst, const char *path, const char *base)
{
	char *data = NULL;
	size_t len = 0;
	unsigned char md[20], want[20];
	int ok = 0;
	if (tier_location_get_all(dst, path, &data, &len, 256u << 20) == 0 &&
	    len >= 40 && sha1_of(md, data, len - 20) == 0 &&
	    !memcmp(md, data + len - 20, 20) &&
	    tier_unhexn(want, 20, base + 5, 40) == 0 &&
	    !memcmp(want, data + len - 40, 20))
		ok = 1;
	free(data);
	tier_error_clear();
	return ok;
}

struct fd_sink {
	int fd;
	int rc;
};

static int fd_sink_cb(const void *data, size_t len, void *payload)
{
	struct fd_sink *s = payload;
	return (s->rc = tier_write_all(s->fd, data, len, "log pack copy")) < 0
	               ? -1
	               : 0;
}

static int copy_one(tier_location *src, tier_location *dst, const char *tmpdir,
                    const char *dir, const char *name, int check,
                    uint64_t *bytes)
{
	char tmp[4200], path[512];
	int rc;
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	snprintf(tmp, sizeof(tmp), "%s/logcopy-XXXXXX", tmpdir);
	int fd = mkstemp(tmp);
	if (fd < 0)
		return tier_error_set_errno(TIER_ERROR, errno,
		                            "cannot create a file in '%s'",
		                            tmpdir);
	struct fd_sink s = {fd, 0};
	rc = tier_location_get(src, path, 0, UINT64_MAX, fd_sink_cb, &s);
	if (rc == TIER_EABORTED && s.rc < 0)
		rc = s.rc;
	close(fd);
	if (rc == 0 && check)
		rc = check_pack_file(tmp, name);
	if (rc == 0) {
		struct stat st;
		if (bytes && stat(tmp, &st) == 0)
			*bytes += (uint64_t)st.st_size;
		rc = put_file(dst, path, tmp);
	}
	unlink(tmp);
	return rc;
}

int tier_log_copy_packs(tier_location *src, tier_location *dst,
                        const char *tmpdir, int (*stop)(void *payload),
                        void *payload, uint64_t *bytes)
{
	struct all_names have = {TIER_VEC_INIT, TIER_VEC_INIT},
	                 want = {TIER_VEC_INIT, TIER_VEC_INIT};
	char idx[256], path[512];
	int rc;
	if ((rc = tier_location_list(src, TIER_LOG_PACK_DIR, collect_any,
	                             &want)) < 0)
		goto out;
	rc = tier_location_list(dst, TIER_LOG_PACK_DIR, collect_any, &have);
	if (rc < 0 && rc != TIER_ENOTFOUND)
		goto out;
	rc = 0;
	for (size_t i = 0; i < want.names.length && rc == 0; i++) {
		const char *n = want.names.ptr[i];
		size_t len = strlen(n);
		if (len < 10 || strncmp(n, "pack-", 5) != 0 ||
		    strcmp(n + len - 5, ".pack") != 0)
			continue;
		snprintf(idx, sizeof(idx), "%.*s.idx", (int)(len - 5), n);
		if (find_name(&want, idx) < 0)
			continue; /* an upload the source never finished */
		long hp = find_name(&have, n), hi = find_name(&have, idx);
		if (hp >= 0 && hi >= 0) {
			snprintf(path, sizeof(path), "%s/%s", TIER_LOG_PACK_DIR,
			         idx);
			if (*(uint64_t *)have.sizes.ptr[hp] ==
			            *(uint64_t *)want.sizes.ptr[i] &&
			    idx_ok(dst, path, n))
				continue;
		}
		if (stop && (rc = stop(payload)) < 0)
			break;
		/* .pack first, .idx last: git sees a pack only once its idx is there */
		if ((rc = copy_one(src, dst, tmpdir, TIER_LOG_PACK_DIR, n, 1,
		                   bytes)) == 0)
			rc = copy_one(src, dst, tmpdir, TIER_LOG_PACK_DIR, idx,
			              0, bytes);
	}
out:
	tier_vec_dispose(&have.names, free);
	tier_vec_dispose(&have.sizes, free);
	tier_vec_dispose(&want.names, free);
	tier_vec_dispose(&want.sizes, free);
	return rc;
}

int tier_log_consolidate(git_repository *repo, tier_location *loc,
                         const git_oid *head, unsigned int max_packs)
{
	tier_vec packs = TIER_VEC_INIT;
	tier_buf keep = TIER_BUF_INIT;
	char path[256];
	int rc;

	if ((rc = list_packs(loc, &packs)) < 0)
		return rc;
	if (packs.length <= max_packs)
		goto out;
	if ((rc = tier_log_upload(repo, loc, head, NULL, &keep)) < 0)
		goto out;
	for (size_t i = 0; i < packs.length; i++) {
		const char *n = packs.ptr[i];
		if (!strcmp(n, tier_buf_cstr(&keep)))
			continue;
		/* idx first: a pack without its idx is invisible to git */
		snprintf(path, sizeof(path), "%s/%s.idx", TIER_LOG_PACK_DIR, n);
		rc = tier_location_remove(loc, path);
		if (rc < 0 && rc != TIER_ENOTFOUND)
			goto out;
		snprintf(path, sizeof(path), "%s/%s.pack", TIER_LOG_PACK_DIR,
		         n);
		rc = tier_location_remove(loc, path);
		if (rc < 0 && rc != TIER_ENOTFOUND)
			goto out;
		rc = 0;
	}
out:
	tier_vec_dispose(&packs, free);
	tier_buf_dispose(&keep);
	return rc;
}

int tier_log_count(uint64_t *out, git_repository *repo, const git_oid *id)
{
	git_oid cur;
	uint64_t n = 1;
	int rc;

	git_oid_cpy(&cur, id);
	/* by hand, not git_revwalk: that inflates each commit unchecked */
	while ((rc = tier_log_first_parent(&cur, repo, &cur)) == 1)
		n++;
	if (rc < 0)
		return tier_error_prefix("cannot walk the log");
	*out = n;
	return 0;
}
