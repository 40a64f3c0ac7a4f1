/*
 * The data pack reader (pack.c): trailer, index, header and chunks, as a
 * tier or a log's index/ blob hands them over.  The input is a whole pack
 * (or a tail).  Since no fuzzer forges a SHA-256, each input is tried
 * twice: as is, and with the trailer's index hash made right, so the
 * index entries, the header and the lz4 chunks behind them are reached.
 * tier_pack_verify reads the input from a memfd: nothing on disk.
 */
#include "fuzz.h"

#include <sys/mman.h>
#include <unistd.h>

#include "hash.h"
#include "pack.h"
#include "util/error.h"

#define TRAILER_HASHED 24 /* as pack.c: trailer bytes under the index hash */

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	return 0;
}

/* A parsed index is self-consistent and lies inside the pack. */
static void check_index(const tier_pack_index *idx, size_t size)
{
	uint64_t off = TIER_PACK_HEADER_SIZE;
	FUZZ_CHECK(idx->count == idx->trailer.count);
	FUZZ_CHECK(idx->trailer.pack_size <= size);
	for (size_t i = 0; i < idx->count; i++) {
		const tier_pack_entry *e = &idx->entries[i];
		FUZZ_CHECK(e->offset == off);
		FUZZ_CHECK(e->raw_len <= TIER_PACK_CHUNK_MAX);
		off += e->stored_len;
		FUZZ_CHECK(off <= idx->trailer.index_offset);
	}
	FUZZ_CHECK(off == idx->trailer.index_offset);
}

static void decode_chunks(const tier_pack_index *idx, const uint8_t *pack,
                          size_t size)
{
	for (size_t i = 0; i < idx->count; i++) {
		const tier_pack_entry *e = &idx->entries[i];
		unsigned char *out;
		/* lz4 expands at most ~255 times: a bigger raw_len cannot
		 * decode, and would only make the run slow */
		if (e->raw_len > 255 * (uint64_t)e->stored_len + 64)
			continue;
		if (!(out = malloc(e->raw_len ? e->raw_len : 1)))
			abort();
		int rc = tier_pack_chunk_decode(e, NULL, pack + e->offset,
		                                e->stored_len, out, e->raw_len,
		                                NULL);
		FUZZ_CHECK(rc == 0 || rc == TIER_ECORRUPT);
		free(out);
	}
}

static void verify_memfd(const uint8_t *data, size_t size)
{
	char path[64];
	unsigned char id[TIER_HASH_LEN];
	int fd = memfd_create("fuzz-pack", MFD_CLOEXEC);
	if (fd < 0)
		abort();
	if (size && write(fd, data, size) != (ssize_t)size)
		abort();
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	int rc = tier_pack_verify(path, NULL, id, NULL);
	FUZZ_CHECK(rc == 0 || rc == TIER_ECORRUPT || rc == TIER_EUNSUPPORTED ||
	           rc == TIER_ERROR);
	close(fd);
}

static void parse_all(const uint8_t *data, size_t size)
{
	tier_pack_index *idx = NULL;
	uint64_t need = 0;
	int rc;

	/* a tail of unknown pack size (a ranged read) */
	rc = tier_pack_index_parse(&idx, &need, data, size, 0, "fuzz", NULL);
	FUZZ_CHECK(rc <= 0);
	if (rc == 0 && !idx)
		FUZZ_CHECK(need > size);
	if (idx) {
		FUZZ_CHECK(idx->trailer.pack_size >= size);
		tier_pack_index_free(idx);
		idx = NULL;
	}
	/* the whole pack */
	rc = tier_pack_index_parse(&idx, &need, data, size, size, "fuzz", NULL);
	FUZZ_CHECK(rc <= 0);
	if (rc == 0 && !idx)
		FUZZ_CHECK(need > size);
	if (idx) {
		check_index(idx, size);
		decode_chunks(idx, data, size);
		tier_pack_index_free(idx);
	}
	verify_memfd(data, size);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	tier_pack_trailer tr;
	uint8_t *copy;

	/* exact-size copies: ASan sees a read past the end */
	if (!(copy = malloc(size ? size : 1)))
		abort();
	memcpy(copy, data, size);
	if (tier_pack_trailer_parse(&tr, copy, size, NULL) == 0)
		FUZZ_CHECK(tr.pack_size == tr.index_offset + tr.index_len +
		                                   TIER_PACK_TRAILER_SIZE);
	parse_all(copy, size);

	/* again with the index hash right, if the trailer says where */
	if (tier_pack_trailer_parse(&tr, copy, size, NULL) == 0 &&
	    tr.index_len <= size - TIER_PACK_TRAILER_SIZE) {
		uint8_t *t = copy + size - TIER_PACK_TRAILER_SIZE;
		tier_sha256_ctx ctx = TIER_SHA256_CTX_INIT;
		unsigned char h[TIER_HASH_LEN];
		if (tier_sha256_init(&ctx) == 0 &&
		    tier_sha256_update(&ctx, t - tr.index_len,
		                       (size_t)tr.index_len) == 0 &&
		    tier_sha256_update(&ctx, t, TRAILER_HASHED) == 0 &&
		    tier_sha256_final(&ctx, h) == 0 &&
		    memcmp(t + TRAILER_HASHED, h, TIER_HASH_LEN)) {
			memcpy(t + TRAILER_HASHED, h, TIER_HASH_LEN);
			parse_all(copy, size);
		}
		tier_sha256_dispose(&ctx);
	}
	free(copy);
	tier_error_clear();
	return 0;
}
