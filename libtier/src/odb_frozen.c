/* The frozen-pack odb backend (odb_frozen.h): no refresh, freshen from memory. */
#include "odb_frozen.h"

#include <stdlib.h>

#include "odb_pack.h"
#include "util/buf.h"

/*
 * The cache's packs, read-only and never rescanned.  A write creates
 * thousands of new objects; for each, libgit2 asks every backend whether
 * it exists and, when none has it, refreshes them: the stock pack backend
 * then rereads the pack directory.  Nothing adds packs to the cache during
 * a write, so this wrapper has no refresh and answers freshen from memory.
 */
struct frozen_packs {
	git_odb_backend parent;
	git_odb_backend *inner;
	uint64_t hits; /* freshen calls answered yes */
};

#define FROZEN(b) ((struct frozen_packs *)(b))

static git_odb_backend *fp_inner(git_odb_backend *b)
{
	FROZEN(b)->inner->odb = b->odb;
	return FROZEN(b)->inner;
}

static int fp_read(void **d, size_t *l, git_object_t *t, git_odb_backend *b,
                   const git_oid *id)
{
	git_odb_backend *in = fp_inner(b);
	return in->read(d, l, t, in, id);
}

static int fp_read_prefix(git_oid *o, void **d, size_t *l, git_object_t *t,
                          git_odb_backend *b, const git_oid *id, size_t n)
{
	git_odb_backend *in = fp_inner(b);
	return in->read_prefix(o, d, l, t, in, id, n);
}

static int fp_read_header(size_t *l, git_object_t *t, git_odb_backend *b,
                          const git_oid *id)
{
	git_odb_backend *in = fp_inner(b);
	return in->read_header(l, t, in, id);
}

static int fp_exists(git_odb_backend *b, const git_oid *id)
{
	git_odb_backend *in = fp_inner(b);
	return in->exists(in, id);
}

static int fp_exists_prefix(git_oid *o, git_odb_backend *b, const git_oid *id,
                            size_t n)
{
	git_odb_backend *in = fp_inner(b);
	return in->exists_prefix(o, in, id, n);
}

/*
 * libgit2 freshens only what it is about to write (and a new commit's
 * tree): a yes means an object of the write that the cache had already.
 */
static int fp_freshen(git_odb_backend *b, const git_oid *id)
{
	if (!fp_exists(b, id))
		return GIT_ENOTFOUND;
	FROZEN(b)->hits++;
	return 0;
}

uint64_t tier_odb_frozen_hits(git_odb_backend *b)
{
	return FROZEN(b)->hits;
}

static void fp_free(git_odb_backend *b)
{
	FROZEN(b)->inner->free(FROZEN(b)->inner);
	free(b);
}

int tier_odb_frozen_new(git_odb_backend **out, const char *objdir)
{
	struct frozen_packs *f = tier_calloc(1, sizeof(*f));
	int rc;
	if (!f)
		return GIT_ERROR;
	if ((rc = tier_odb_pack_new(&f->inner, objdir, 1)) < 0) {
		free(f);
		return rc;
	}
	f->parent.version = GIT_ODB_BACKEND_VERSION;
	f->parent.read = fp_read;
	f->parent.read_prefix = fp_read_prefix;
	f->parent.read_header = fp_read_header;
	f->parent.exists = fp_exists;
	f->parent.exists_prefix = fp_exists_prefix;
	f->parent.freshen = fp_freshen;
	f->parent.free = fp_free;
	*out = &f->parent;
	return 0;
}
