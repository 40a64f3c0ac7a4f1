/*
 * Resume records: a push that is interrupted (Ctrl-C, kill -9, power cut)
 * after some of its data packs reached the tiers leaves, for each such
 * pack, "<state>/resume/<64 hex>.tail": the pack's tail (index and
 * trailer) exactly as the revision's index/ tree would hold it.  The next
 * push checks that each of its target tiers has the pack at its full size
 * and then names the pack in its revision instead of sending the chunks
 * again.  Records are only ever a hint: a wrong or stale one costs an
 * upload, never a revision that names a missing pack.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "objread.h"
#include "pack.h"
#include "push_int.h"
#include "snapshot.h"
#include "util/error.h"
#include "util/posix.h"

#define TAIL_SUFFIX ".tail"

int tier_push_resume_dir(tier_buf *out, git_repository *cache)
{
	/* the cache is "<state>/cache.git/" */
	const char *cp = git_repository_path(cache);
	size_t n = strlen(cp);
	while (n && cp[n - 1] == '/')
		n--;
	while (n && cp[n - 1] != '/')
		n--;
	tier_buf_clear(out);
	tier_buf_put(out, cp, n);
	tier_buf_puts(out, "resume");
	return out->ptr ? 0 : TIER_ERROR;
}

int tier_push_resume_record(const char *dir,
                            const unsigned char id[TIER_HASH_LEN],
                            const void *tail, size_t len)
{
	char hex[TIER_HASH_HEXLEN + 1];
	tier_buf path = TIER_BUF_INIT;
	int rc;
	if ((rc = tier_mkdir_p(dir, 0700)) < 0)
		return rc;
	tier_hex(hex, id, TIER_HASH_LEN);
	tier_buf_printf(&path, "%s/%s%s", dir, hex, TAIL_SUFFIX);
	if (!path.ptr)
		return TIER_ERROR;
	/* temp file, fsync, rename, fsync of the directory */
	rc = tier_atomic_write_mode(path.ptr, tail, len, 0600);
	tier_buf_dispose(&path);
	return rc;
}

void tier_push_resumed_free(tier_push_resumed *r, size_t n)
{
	for (size_t i = 0; r && i < n; i++)
		tier_buf_dispose(&r[i].tail);
	free(r);
}

/* Whether every target of w holds data pack id at exactly size bytes. */
static int on_every_target(tier_write *w, size_t ntiers,
                           const unsigned char id[TIER_HASH_LEN], uint64_t size)
{
	char path[80];
	size_t targets = 0;
	tier_data_pack_path(path, id);
	for (size_t i = 0; i < ntiers; i++) {
		tier_location *loc = tier_write_target(w, i);
		tier_stat st;
		if (!loc)
			continue;
		targets++;
		if (tier_location_stat(loc, path, &st) < 0 || st.is_dir ||
		    st.size != size)
			return 0;
	}
	return targets > 0;
}

static int parse_record(tier_push_resumed *r, const char *path,
                        const char *name, const tier_keys *keys)
{
	tier_pack_index *idx = NULL;
	uint64_t need = 0;
	int rc;
	if (tier_unhexn(r->id, TIER_HASH_LEN, name, TIER_HASH_HEXLEN) < 0)
		return TIER_ECORRUPT;
	if ((rc = tier_read_file(&r->tail, path, TIER_MAX_INDEX_BLOB)) < 0)
		return rc;
	if (r->tail.size < TIER_PACK_TRAILER_SIZE)
		return TIER_ECORRUPT;
	rc = tier_pack_index_parse(&idx, &need, r->tail.ptr, r->tail.size, 0,
	                           path, keys);
	if (rc < 0)
		return rc;
	/* the record is the whole tail, nothing more and nothing less */
	if (!idx || idx->trailer.index_len + TIER_PACK_TRAILER_SIZE !=
	                    (uint64_t)r->tail.size) {
		tier_pack_index_free(idx);
		return TIER_ECORRUPT;
	}
	r->size = idx->trailer.pack_size;
	r->nchunks = idx->count;
	tier_pack_index_free(idx);
	return 0;
}

static int add_chunks(tier_spillset *chunks, const tier_push_resumed *r,
                      const tier_keys *keys)
{
	tier_pack_index *idx = NULL;
	uint64_t need = 0;
	int rc = tier_pack_index_parse(&idx, &need, r->tail.ptr, r->tail.size,
	                               0, NULL, keys);
	for (size_t i = 0; rc == 0 && idx && i < idx->count; i++)
		if (tier_spillset_add(chunks, idx->entries[i].id, NULL) < 0)
			rc = TIER_ERROR;
	tier_pack_index_free(idx);
	return rc;
}

int tier_push_resume_load(tier_push_resumed **out, size_t *n, const char *dir,
                          tier_write *w, size_t ntiers,
                          const tier_idset *committed, tier_spillset *chunks,
                          const tier_keys *keys)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	tier_push_resumed *arr = NULL;
	size_t len = 0, cap = 0;
	int rc = 0;
	*out = NULL;
	*n = 0;
	if (!d)
		return 0; /* no records: nothing was interrupted */
	while ((de = readdir(d)) != NULL) {
		size_t nl = strlen(de->d_name);
		if (nl != TIER_HASH_HEXLEN + strlen(TAIL_SUFFIX) ||
		    strcmp(de->d_name + TIER_HASH_HEXLEN, TAIL_SUFFIX))
			continue;
		if (len == cap) {
			size_t nc = cap ? cap * 2 : 8;
			tier_push_resumed *na =
			        tier_realloc(arr, nc * sizeof(*na));
			if (!na) {
				rc = TIER_ERROR;
				break;
			}
			arr = na;
			cap = nc;
		}
		tier_push_resumed *r = &arr[len];
		memset(r, 0, sizeof(*r));
		tier_buf path = TIER_BUF_INIT;
		tier_buf_printf(&path, "%s/%s", dir, de->d_name);
		int ok = path.ptr &&
		         parse_record(r, path.ptr, de->d_name, keys) == 0 &&
		         !tier_idset_has(committed, r->id) &&
		         on_every_target(w, ntiers, r->id, r->size);
		tier_buf_dispose(&path);
		if (!ok) {
			tier_buf_dispose(&r->tail);
			continue;
		}
		if ((rc = add_chunks(chunks, r, keys)) < 0) {
			tier_buf_dispose(&r->tail);
			break;
		}
		len++;
	}
	closedir(d);
	if (rc < 0) {
		tier_push_resumed_free(arr, len);
		return rc;
	}
	*out = arr;
	*n = len;
	return 0;
}

void tier_push_resume_clear(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	if (!d)
		return;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		unlinkat(dirfd(d), de->d_name, 0);
	}
	closedir(d);
	tier_fsync_dir(dir);
}
