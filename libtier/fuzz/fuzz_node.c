/*
 * tier_node_decode: a file's metadata blob as a tier hands it over.
 * Whatever the bytes, the decoder returns 0 or TIER_ECORRUPT/TIER_ERROR,
 * reads nothing outside them, leaks nothing, and what it accepts encodes
 * and decodes again to the same node.
 */
#include "fuzz.h"

#include "snapshot.h"
#include "util/error.h"

static void same_node(const tier_node *a, const tier_node *b)
{
	FUZZ_CHECK(a->type == b->type && a->mode == b->mode &&
	           a->uid == b->uid && a->gid == b->gid && a->size == b->size &&
	           a->nchunks == b->nchunks && a->target_len == b->target_len &&
	           a->mtime_sec == b->mtime_sec &&
	           a->mtime_nsec == b->mtime_nsec &&
	           a->ctime_sec == b->ctime_sec &&
	           a->ctime_nsec == b->ctime_nsec && a->ino == b->ino &&
	           a->dev == b->dev);
	FUZZ_CHECK(!a->target_len ||
	           !memcmp(a->target, b->target, a->target_len));
	for (size_t i = 0; i < a->nchunks; i++)
		FUZZ_CHECK(!memcmp(&a->chunks[i], &b->chunks[i],
		                   sizeof(a->chunks[i])));
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	tier_node n, again;
	tier_buf enc = TIER_BUF_INIT;
	/* a copy of exactly size bytes: ASan sees any read past the end */
	char *copy = malloc(size ? size : 1);
	int rc;

	if (!copy)
		abort();
	memcpy(copy, data, size);
	rc = tier_node_decode(&n, NULL, copy, size);
	FUZZ_CHECK(rc == 0 || rc == TIER_ECORRUPT || rc == TIER_ERROR);
	if (rc == 0) {
		FUZZ_CHECK(n.mode <= 07777);
		/* encode writes a symlink's target and char/block rdev only */
		if (n.type != TIER_NODE_SYMLINK) {
			free(n.target);
			n.target = NULL;
			n.target_len = 0;
		}
		FUZZ_CHECK(tier_node_encode(&enc, NULL, &n) == 0);
		FUZZ_CHECK(tier_node_decode(&again, NULL, enc.ptr, enc.size) ==
		           0);
		same_node(&n, &again);
		tier_node_dispose(&again);
		tier_node_dispose(&n);
	}
	tier_buf_dispose(&enc);
	tier_error_clear();
	free(copy);
	return 0;
}
