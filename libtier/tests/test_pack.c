#include <criterion/criterion.h>
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/seal.h"
#include "hash.h"
#include "helpers.h"
#include "pack.h"
#include "pack_int.h"
#include "tier/errors.h"

static uint64_t rng_state = 88172645463325252ull;

static uint64_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static unsigned char *random_bytes(size_t len)
{
	unsigned char *p = malloc(len ? len : 1);
	for (size_t i = 0; i < len; i++)
		p[i] = (unsigned char)rnd();
	return p;
}

static unsigned char *text_bytes(size_t len)
{
	static const char *words[] = {"backup ", "tier ",  "revision ", "pack ",
	                              "chunk ",  "vault ", "log\n",     "the "};
	unsigned char *p = malloc(len ? len : 1);
	size_t i = 0;
	while (i < len) {
		const char *w = words[rnd() % 8];
		for (; *w && i < len; w++)
			p[i++] = (unsigned char)*w;
	}
	return p;
}

static const char *hexof(const unsigned char *id)
{
	static char hex[4][TIER_HASH_HEXLEN + 1];
	static int n;
	return tier_hex(hex[n++ % 4], id, TIER_HASH_LEN);
}

typedef struct {
	unsigned char id[TIER_HASH_LEN];
	unsigned char *data;
	size_t len;
} chunk;

/*
 * A pack of n chunks alternating random and text, sealed with keys (NULL:
 * plaintext), each len bytes (0: random sizes); returns its path.
 */
static char *make_pack_k(const char *dir, const tier_keys *keys, chunk *ch,
                         size_t n, size_t clen, unsigned char pack_id[32])
{
	tier_pack_writer *w;
	char *path;
	cr_assert_eq(tier_pack_writer_new(&w, dir, keys), 0, "%s",
	             tier_error_last());
	for (size_t i = 0; i < n; i++) {
		ch[i].len = clen ? clen : 1000 + rnd() % 70000;
		ch[i].data =
		        i % 2 ? text_bytes(ch[i].len) : random_bytes(ch[i].len);
		cr_assert_eq(
		        tier_chunk_id(ch[i].id, keys, ch[i].data, ch[i].len),
		        0);
		if (i % 3 == 2) {
			/* The two-thread path: compress first, hand over after. */
			unsigned char *out = malloc(ch[i].len);
			size_t out_len;
			unsigned int flags;
			cr_assert_eq(tier_chunk_compress(ch[i].data, ch[i].len,
			                                 out, ch[i].len,
			                                 &out_len, &flags),
			             0);
			cr_assert_eq(tier_pack_writer_add_compressed(
			                     w, ch[i].id, out, out_len,
			                     ch[i].len, flags),
			             0);
			free(out);
		} else {
			cr_assert_eq(tier_pack_writer_add(w, ch[i].id,
			                                  ch[i].data,
			                                  ch[i].len),
			             0, "%s", tier_error_last());
		}
		cr_assert_eq(tier_pack_writer_count(w), i + 1);
	}
	uint64_t expect_size = tier_pack_writer_size(w);
	cr_assert_eq(tier_pack_writer_finish(w, pack_id, &path), 0, "%s",
	             tier_error_last());
	tier_pack_writer_free(w);
	size_t len;
	char *all = tt_read_file(path, &len);
	cr_assert_not_null(all);
	cr_assert_eq(len, expect_size, "size %zu, writer said %llu", len,
	             (unsigned long long)expect_size);
	free(all);
	return path;
}

static char *make_pack(const char *dir, chunk *ch, size_t n,
                       unsigned char pack_id[32])
{
	return make_pack_k(dir, NULL, ch, n, 0, pack_id);
}

static void free_chunks(chunk *ch, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(ch[i].data);
}

static size_t count_files(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	size_t n = 0;
	cr_assert_not_null(d);
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

Test(pack, round_trip)
{
	const char *dir = tt_tmpdir();
	chunk ch[12];
	unsigned char pid[32];
	char *path = make_pack(dir, ch, 12, pid);
	cr_assert(strstr(path, hexof(pid)) != NULL, "path %s", path);
	cr_assert_eq(count_files(dir), 1, "temporary file left behind");

	tier_pack_index *idx;
	cr_assert_eq(tier_pack_index_read_file(&idx, path, NULL), 0, "%s",
	             tier_error_last());
	cr_assert_eq(idx->count, 12);
	size_t len;
	unsigned char *file = (unsigned char *)tt_read_file(path, &len);
	int saw_lz4 = 0;
	for (size_t i = 0; i < 12; i++) {
		const tier_pack_entry *e = tier_pack_index_find(idx, ch[i].id);
		cr_assert_not_null(e);
		cr_assert_eq(e, &idx->entries[i], "index keeps file order");
		cr_assert_eq(e->raw_len, ch[i].len);
		saw_lz4 |= e->flags == TIER_CHUNK_LZ4;
		unsigned char *out = malloc(e->raw_len);
		cr_assert_eq(tier_pack_chunk_decode(e, pid, file + e->offset,
		                                    e->stored_len, out,
		                                    e->raw_len, NULL),
		             0, "%s", tier_error_last());
		cr_assert_eq(memcmp(out, ch[i].data, ch[i].len), 0);
		free(out);
	}
	cr_assert(saw_lz4);
	unsigned char absent[32] = {0};
	cr_assert_null(tier_pack_index_find(idx, absent));

	unsigned char got[32];
	cr_assert_eq(tier_pack_verify(path, NULL, got, NULL), 0, "%s",
	             tier_error_last());
	cr_assert_eq(memcmp(got, pid, 32), 0);
	cr_assert_eq(tier_pack_verify(path, pid, NULL, NULL), 0);
	tier_pack_index_free(idx);
	free(file);
	free(path);
	free_chunks(ch, 12);
	tt_rmrf(dir);
}

Test(pack, raw_fallback_for_incompressible)
{
	size_t len = 100000, out_len;
	unsigned int flags;
	unsigned char *r = random_bytes(len), *t = text_bytes(len);
	unsigned char *out = malloc(len);

	cr_assert_eq(tier_chunk_compress(r, len, out, len, &out_len, &flags),
	             0);
	cr_assert_eq(flags, TIER_CHUNK_RAW);
	cr_assert_eq(out_len, len);
	cr_assert_eq(memcmp(out, r, len), 0);

	cr_assert_eq(tier_chunk_compress(t, len, out, len, &out_len, &flags),
	             0);
	cr_assert_eq(flags, TIER_CHUNK_LZ4);
	cr_assert_lt(out_len, len / 2);

	/* Tiny chunks: one byte cannot shrink. */
	cr_assert_eq(tier_chunk_compress("x", 1, out, 1, &out_len, &flags), 0);
	cr_assert_eq(flags, TIER_CHUNK_RAW);
	cr_assert_eq(out_len, 1);
	cr_assert_eq(
	        tier_chunk_compress(t, len, out, len - 1, &out_len, &flags),
	        TIER_EUSAGE);

	/* Through the writer, the entry says raw and keeps the bytes as they are. */
	const char *dir = tt_tmpdir();
	tier_pack_writer *w;
	unsigned char id[32], pid[32];
	char *path;
	tier_pack_index *idx;
	tier_sha256(id, r, len);
	cr_assert_eq(tier_pack_writer_new(&w, dir, NULL), 0);
	cr_assert_eq(tier_pack_writer_add(w, id, r, len), 0);
	cr_assert_eq(tier_pack_writer_finish(w, pid, &path), 0);
	tier_pack_writer_free(w);
	cr_assert_eq(tier_pack_index_read_file(&idx, path, NULL), 0);
	cr_assert_eq(idx->entries[0].flags, TIER_CHUNK_RAW);
	cr_assert_eq(idx->entries[0].stored_len, len);
	size_t flen;
	unsigned char *file = (unsigned char *)tt_read_file(path, &flen);
	cr_assert_eq(memcmp(file + TIER_PACK_HEADER_SIZE, r, len), 0);
	cr_assert_eq(flen, TIER_PACK_HEADER_SIZE + len + TIER_PACK_ENTRY_SIZE +
	                           TIER_PACK_TRAILER_SIZE);
	tier_pack_index_free(idx);
	free(file);
	free(path);
	free(r);
	free(t);
	free(out);
	tt_rmrf(dir);
}

Test(pack, truncated_pack_rejected)
{
	const char *dir = tt_tmpdir();
	chunk ch[4];
	unsigned char pid[32];
	char *path = make_pack(dir, ch, 4, pid);
	size_t len;
	unsigned char *file = (unsigned char *)tt_read_file(path, &len);

	/* Every tail of every prefix: an exact-size copy so ASan sees overreads. */
	for (size_t cut = 0; cut < len;
	     cut += (cut < 400 || len - cut < 400) ? 1 : 997) {
		for (size_t tl = cut < 300 ? 0 : cut - 300; tl <= cut;
		     tl += 37) {
			unsigned char *tail = malloc(tl ? tl : 1);
			memcpy(tail, file + cut - tl, tl);
			tier_pack_index *idx = NULL;
			uint64_t need = 0;
			int rc = tier_pack_index_parse(&idx, &need, tail, tl,
			                               cut, "t", NULL);
			cr_assert(rc == TIER_ECORRUPT,
			          "prefix %zu tail %zu: rc %d need %llu", cut,
			          tl, rc, (unsigned long long)need);
			cr_assert_null(idx);
			free(tail);
		}
		cr_assert_eq(tt_write_file(tt_path("%s/short", dir), file, cut),
		             0);
		cr_assert_eq(tier_pack_verify(tt_path("%s/short", dir), NULL,
		                              NULL, NULL),
		             TIER_ECORRUPT, "prefix %zu", cut);
		cr_assert(strstr(tier_error_last(), "short") != NULL, "%s",
		          tier_error_last());
	}
	free(file);
	free(path);
	free_chunks(ch, 4);
	tt_rmrf(dir);
}

Test(pack, flipped_chunk_byte_names_the_chunk)
{
	const char *dir = tt_tmpdir();
	chunk ch[5];
	unsigned char pid[32];
	char *path = make_pack(dir, ch, 5, pid);
	tier_pack_index *idx;
	cr_assert_eq(tier_pack_index_read_file(&idx, path, NULL), 0);
	size_t len;
	unsigned char *file = (unsigned char *)tt_read_file(path, &len);

	for (size_t k = 0; k < 5; k++) {
		const tier_pack_entry *e = &idx->entries[k];
		for (int trial = 0; trial < 3; trial++) {
			size_t at = e->offset + rnd() % e->stored_len;
			file[at] ^= 0x40;
			cr_assert_eq(tt_write_file(path, file, len), 0);
			cr_assert_eq(tier_pack_verify(path, NULL, NULL, NULL),
			             TIER_ECORRUPT);
			cr_assert(strstr(tier_error_last(), hexof(e->id)) !=
			                  NULL,
			          "chunk %zu: %s", k, tier_error_last());
			cr_assert(strstr(tier_error_last(), hexof(pid)) != NULL,
			          "%s", tier_error_last());

			unsigned char *out = malloc(e->raw_len);
			int rc = tier_pack_chunk_decode(
			        e, pid, file + e->offset, e->stored_len, out,
			        e->raw_len, NULL);
			cr_assert_eq(rc, TIER_ECORRUPT);
			if (e->flags == TIER_CHUNK_RAW)
				cr_assert(strstr(tier_error_last(),
				                 "fails its hash") != NULL);
			char want[200];
			snprintf(want, sizeof(want), "chunk %s in pack %s",
			         hexof(e->id), hexof(pid));
			cr_assert(strstr(tier_error_last(), want) != NULL, "%s",
			          tier_error_last());
			free(out);
			file[at] ^= 0x40;
		}
	}
	cr_assert_eq(tt_write_file(path, file, len), 0);
	cr_assert_eq(tier_pack_verify(path, NULL, NULL, NULL), 0, "%s",
	             tier_error_last());
	tier_pack_index_free(idx);
	free(file);
	free(path);
	free_chunks(ch, 5);
	tt_rmrf(dir);
}

Test(pack, flipped_index_byte_rejected)
{
	const char *dir = tt_tmpdir();
	chunk ch[3];
	unsigned char pid[32];
	char *path = make_pack(dir, ch, 3, pid);
	size_t len;
	unsigned char *file = (unsigned char *)tt_read_file(path, &len);
	size_t from = len - TIER_PACK_TRAILER_SIZE - 3 * TIER_PACK_ENTRY_SIZE;

	/* Every byte of index and trailer, every bit. */
	for (size_t at = from; at < len; at++) {
		for (int bit = 0; bit < 8; bit++) {
			file[at] ^= (unsigned char)(1 << bit);
			tier_pack_index *idx = NULL;
			int rc = tier_pack_index_parse(&idx, NULL, file, len,
			                               len, path, NULL);
			size_t t = at - (len - TIER_PACK_TRAILER_SIZE);
			int version_or_cipher =
			        at >= len - TIER_PACK_TRAILER_SIZE && t >= 20 &&
			        t < 24;
			cr_assert_eq(rc,
			             version_or_cipher ? TIER_EUNSUPPORTED
			                               : TIER_ECORRUPT,
			             "byte %zu bit %d: rc %d", at, bit, rc);
			cr_assert_null(idx);
			file[at] ^= (unsigned char)(1 << bit);
		}
	}
	/* And a verifier on the file says so too. */
	file[from + 40] ^= 1;
	cr_assert_eq(tt_write_file(path, file, len), 0);
	cr_assert_eq(tier_pack_verify(path, NULL, NULL, NULL), TIER_ECORRUPT);
	cr_assert(strstr(tier_error_last(), "index") != NULL, "%s",
	          tier_error_last());
	/* A flipped header byte is caught as well. */
	file[from + 40] ^= 1;
	file[3] ^= 1;
	cr_assert_eq(tt_write_file(path, file, len), 0);
	cr_assert_eq(tier_pack_verify(path, NULL, NULL, NULL), TIER_ECORRUPT);
	cr_assert(strstr(tier_error_last(), "header") != NULL, "%s",
	          tier_error_last());
	free(file);
	free(path);
	free_chunks(ch, 3);
	tt_rmrf(dir);
}

Test(pack, id_is_sha256_of_file)
{
	const char *dir = tt_tmpdir();
	chunk ch[6];
	unsigned char pid[32], sum[32];
	char *path = make_pack(dir, ch, 6, pid);
	size_t len;
	char *file = tt_read_file(path, &len);
	cr_assert_eq(tier_sha256(sum, file, len), 0);
	cr_assert_eq(memcmp(sum, pid, 32), 0);
	cr_assert(strstr(path, tt_path("/%s.pack", hexof(pid))) != NULL);

	/* A pack stored under the wrong id fails verification, naming the pack. */
	const char *other = tt_path(
	        "%s/%s.pack", dir,
	        "00000000000000000000000000000000000000000000000000000000000000aa");
	cr_assert_eq(tt_write_file(other, file, len), 0);
	cr_assert_eq(tier_pack_verify(other, NULL, NULL, NULL), TIER_ECORRUPT);
	cr_assert(strstr(tier_error_last(), "fails its hash") != NULL, "%s",
	          tier_error_last());
	cr_assert(strstr(tier_error_last(), hexof(pid)) != NULL, "%s",
	          tier_error_last());
	/* Without an id in the name, nothing to compare: the content is fine. */
	cr_assert_eq(tt_write_file(tt_path("%s/copy", dir), file, len), 0);
	cr_assert_eq(tier_pack_verify(tt_path("%s/copy", dir), NULL, sum, NULL),
	             0);
	cr_assert_eq(memcmp(sum, pid, 32), 0);
	free(file);
	free(path);
	free_chunks(ch, 6);
	tt_rmrf(dir);
}

Test(pack, empty_pack)
{
	const char *dir = tt_tmpdir();
	tier_pack_writer *w;
	unsigned char pid[32], sum[32];
	char *path;
	cr_assert_eq(tier_pack_writer_new(&w, dir, NULL), 0);
	cr_assert_eq(tier_pack_writer_count(w), 0);
	cr_assert_eq(tier_pack_writer_size(w),
	             TIER_PACK_HEADER_SIZE + TIER_PACK_TRAILER_SIZE);
	cr_assert_eq(tier_pack_writer_finish(w, pid, &path), 0);
	/* Finished is final. */
	cr_assert_eq(tier_pack_writer_add(w, pid, "x", 1), TIER_EUSAGE);
	tier_pack_writer_free(w);

	size_t len;
	char *file = tt_read_file(path, &len);
	cr_assert_eq(len, TIER_PACK_HEADER_SIZE + TIER_PACK_TRAILER_SIZE);
	cr_assert_eq(memcmp(file, "TIERPACK", 8), 0);
	cr_assert_eq(memcmp(file + len - 8, "TIERPACK", 8), 0);
	tier_sha256(sum, file, len);
	cr_assert_eq(memcmp(sum, pid, 32), 0);
	tier_pack_index *idx;
	cr_assert_eq(tier_pack_index_read_file(&idx, path, NULL), 0);
	cr_assert_eq(idx->count, 0);
	cr_assert_eq(idx->trailer.pack_size, len);
	tier_pack_index_free(idx);
	cr_assert_eq(tier_pack_verify(path, NULL, NULL, NULL), 0, "%s",
	             tier_error_last());
	/* The trailer alone is the whole tail of an empty pack. */
	cr_assert_eq(tier_pack_index_parse(&idx, NULL, file + len - 64, 64, len,
	                                   "e", NULL),
	             0, "%s", tier_error_last());
	cr_assert_eq(idx->count, 0);
	tier_pack_index_free(idx);
	free(file);
	free(path);
	tt_rmrf(dir);
}

Test(pack, decode_rejects_inconsistent_entry)
{
	/* An entry from a caller's own index, not a parsed one: still checked. */
	unsigned char stored[10] = "abcdefghi", out[100];
	tier_pack_entry e;
	memset(&e, 0, sizeof(e));
	tier_sha256(e.id, stored, 10);
	e.stored_len = 10;
	e.raw_len = 100; /* raw, but longer than what is stored */
	e.flags = TIER_CHUNK_RAW;
	cr_assert_eq(
	        tier_pack_chunk_decode(&e, NULL, stored, 10, out, 100, NULL),
	        TIER_ECORRUPT);
	e.flags = TIER_CHUNK_LZ4; /* garbage lz4 stream */
	cr_assert_eq(
	        tier_pack_chunk_decode(&e, NULL, stored, 10, out, 100, NULL),
	        TIER_ECORRUPT);
	cr_assert(strstr(tier_error_last(), "fails to decompress") != NULL,
	          "%s", tier_error_last());
	e.flags = 7;
	cr_assert_eq(
	        tier_pack_chunk_decode(&e, NULL, stored, 10, out, 100, NULL),
	        TIER_ECORRUPT);
	e.flags = TIER_CHUNK_RAW;
	e.raw_len = 10;
	cr_assert_eq(
	        tier_pack_chunk_decode(&e, NULL, stored, 10, out, 100, NULL), 0,
	        "%s", tier_error_last());
	cr_assert_eq(memcmp(out, stored, 10), 0);
	cr_assert_eq(
	        tier_pack_chunk_decode(&e, NULL, stored, 9, out, 100, NULL),
	        TIER_EUSAGE);
	cr_assert_eq(tier_pack_chunk_decode(&e, NULL, stored, 10, out, 9, NULL),
	             TIER_EUSAGE);
}

Test(pack, abort_leaves_nothing)
{
	const char *dir = tt_tmpdir();
	tier_pack_writer *w;
	unsigned char id[32] = {1};
	cr_assert_eq(tier_pack_writer_new(&w, dir, NULL), 0);
	cr_assert_eq(tier_pack_writer_add(w, id, "hello hello hello hello", 23),
	             0);
	cr_assert_eq(count_files(dir), 1);
	tier_pack_writer_abort(w);
	cr_assert_eq(count_files(dir), 0);
	tier_pack_writer_free(NULL);
	tier_pack_writer_abort(NULL);

	cr_assert_eq(tier_pack_writer_new(&w, tt_path("%s/missing", dir), NULL),
	             TIER_ENOTFOUND);
	cr_assert(strstr(tier_error_last(), "missing") != NULL, "%s",
	          tier_error_last());
	cr_assert_null(w);
	tt_rmrf(dir);
}

Test(pack, large_index_needs_second_read)
{
	/* Many tiny chunks: the index is bigger than the first tail guess. */
	const char *dir = tt_tmpdir();
	size_t n = TIER_PACK_TAIL_GUESS / TIER_PACK_ENTRY_SIZE + 100;
	tier_pack_writer *w;
	unsigned char pid[32];
	char *path;
	cr_assert_eq(tier_pack_writer_new(&w, dir, NULL), 0);
	for (size_t i = 0; i < n; i++) {
		unsigned char id[32];
		uint64_t v = i;
		tier_sha256(id, &v, sizeof(v));
		cr_assert_eq(tier_pack_writer_add(w, id, &v, sizeof(v)), 0);
	}
	cr_assert_eq(tier_pack_writer_finish(w, pid, &path), 0);
	tier_pack_writer_free(w);

	size_t len;
	unsigned char *file = (unsigned char *)tt_read_file(path, &len);
	tier_pack_index *idx = NULL;
	uint64_t need = 0;
	cr_assert_eq(tier_pack_index_parse(&idx, &need, file + len - 4096, 4096,
	                                   len, "p", NULL),
	             0);
	cr_assert_null(idx);
	cr_assert_eq(need, n * TIER_PACK_ENTRY_SIZE + TIER_PACK_TRAILER_SIZE);
	cr_assert_eq(tier_pack_index_parse(&idx, &need, file + len - need, need,
	                                   len, "p", NULL),
	             0);
	cr_assert_not_null(idx);
	cr_assert_eq(idx->count, n);
	tier_pack_index_free(idx);
	cr_assert_eq(tier_pack_index_read_file(&idx, path, NULL), 0);
	cr_assert_eq(idx->count, n);
	tier_pack_index_free(idx);
	cr_assert_eq(tier_pack_verify(path, NULL, NULL, NULL), 0, "%s",
	             tier_error_last());
	free(file);
	free(path);
	tt_rmrf(dir);
}

Test(pack, garbage_never_parses)
{
	/* Random buffers, some with a plausible magic at the end. */
	for (int round = 0; round < 2000; round++) {
		size_t len = rnd() % 600;
		unsigned char *b = random_bytes(len);
		if (round % 2 && len >= 8)
			memcpy(b + len - 8, "TIERPACK", 8);
		if (round % 4 == 1 && len >= 64) {
			memset(b + len - 44, 0, 4); /* version 1, cipher 0 */
			b[len - 44] = 1;
		}
		tier_pack_index *idx = NULL;
		uint64_t need;
		int rc = tier_pack_index_parse(&idx, &need, b, len, 0, "g",
		                               NULL);
		cr_assert(rc < 0 || (idx == NULL && need > len),
		          "round %d parsed", round);
		tier_pack_index_free(idx);
		free(b);
	}
}

/* ---- sealed packs (version 2, AES-256-GCM) ------------------------------- */

static const char *fresh_keys(tier_keys *k)
{
	cr_assert_eq(tier_keys_generate(k), 0, "%s", tier_error_last());
	return tt_tmpdir();
}

/* Decode every chunk of file with keys: rc of the first failure. */
static int decode_all(const tier_pack_index *idx, const unsigned char *file,
                      const unsigned char *pid, const tier_keys *k)
{
	for (size_t i = 0; i < idx->count; i++) {
		const tier_pack_entry *e = &idx->entries[i];
		unsigned char *out = malloc(e->raw_len ? e->raw_len : 1);
		int rc = tier_pack_chunk_decode(e, pid, file + e->offset,
		                                e->stored_len, out, e->raw_len,
		                                k);
		free(out);
		if (rc < 0)
			return rc;
	}
	return 0;
}

Test(pack, sealed_round_trip)
{
	tier_keys k;
	const char *dir = fresh_keys(&k);
	chunk ch[8];
	unsigned char pid[32], got[32];
	char *path = make_pack_k(dir, &k, ch, 8, 0, pid);
	size_t len;
	unsigned char *file = (unsigned char *)tt_read_file(path, &len);
	tier_pack_index *idx;

	cr_assert(file[8] == 2 && file[10] == 1, "version 2, cipher 1");
	cr_assert_eq(tier_pack_index_read_file(&idx, path, &k), 0, "%s",
	             tier_error_last());
	cr_assert(idx->trailer.version == 2 && idx->trailer.cipher == 1);
	cr_assert_eq(idx->trailer.index_len, 8 * 52 + TIER_SEAL_OVERHEAD);
	cr_assert_eq(idx->count, 8);
	int saw_lz4 = 0;
	for (size_t i = 0; i < 8; i++) {
		const tier_pack_entry *e = &idx->entries[i];
		unsigned char *out = malloc(e->raw_len);
		cr_assert_eq(memcmp(e->id, ch[i].id, 32), 0);
		saw_lz4 |= e->flags == TIER_CHUNK_LZ4;
		if (e->flags == TIER_CHUNK_RAW)
			cr_assert_eq(e->stored_len, e->raw_len + 28);
		/* no plaintext of a raw chunk in the file */
		cr_assert_neq(memcmp(file + e->offset + 12, ch[i].data, 64), 0);
		cr_assert_eq(tier_pack_chunk_decode(e, pid, file + e->offset,
		                                    e->stored_len, out,
		                                    e->raw_len, &k),
		             0, "%s", tier_error_last());
		cr_assert_eq(memcmp(out, ch[i].data, ch[i].len), 0);
		free(out);
	}
	cr_assert(saw_lz4);
	cr_assert_eq(tier_pack_verify(path, NULL, got, &k), 0, "%s",
	             tier_error_last());
	cr_assert_eq(memcmp(got, pid, 32), 0);

	/* another vault's keys open nothing */
	tier_keys other;
	tier_pack_index *none = NULL;
	cr_assert(tier_keys_generate(&other) == 0 &&
	          tier_pack_index_read_file(&none, path, &other) ==
	                  TIER_ECORRUPT);
	cr_assert(strstr(tier_error_last(), "authentication"), "%s",
	          tier_error_last());
	cr_assert_eq(decode_all(idx, file, pid, &other), TIER_ECORRUPT);

	/* prune's copy: the sealed bytes as they are, into a new pack */
	tier_pack_writer *w;
	char *copy;
	const tier_pack_entry *e = &idx->entries[3];
	cr_assert_eq(tier_pack_writer_new(&w, dir, &k), 0);
	cr_assert_eq(tier_pack_writer_add_stored(w, e->id, file + e->offset,
	                                         e->stored_len, e->raw_len,
	                                         e->flags),
	             0, "%s", tier_error_last());
	cr_assert_eq(tier_pack_writer_tail_size(w), 52 + 28 + 64);
	cr_assert_eq(tier_pack_writer_finish(w, got, &copy), 0);
	tier_pack_writer_free(w);
	cr_assert_eq(tier_pack_verify(copy, NULL, NULL, &k), 0, "%s",
	             tier_error_last());
	tier_pack_index_free(idx);
	free(copy);
	free(file);
	free(path);
	free_chunks(ch, 8);
	tt_rmrf(dir);
}

Test(pack, sealed_every_flipped_byte_fails)
{
	tier_keys k;
	const char *dir = fresh_keys(&k);
	chunk ch[3];
	unsigned char pid[32];
	char *path = make_pack_k(dir, &k, ch, 3, 300, pid);
	size_t len;
	unsigned char *file = (unsigned char *)tt_read_file(path, &len);
	tier_pack_index *idx, *bad;
	cr_assert_eq(tier_pack_index_read_file(&idx, path, &k), 0);
	size_t iend = len - TIER_PACK_TRAILER_SIZE;
	size_t ioff = (size_t)idx->trailer.index_offset;
	unsigned char *t = file + iend;

	/* chunks: decode and verify, every byte */
	for (size_t at = TIER_PACK_HEADER_SIZE; at < ioff; at++) {
		file[at] ^= 0x01;
		cr_assert_eq(decode_all(idx, file, pid, &k), TIER_ECORRUPT,
		             "byte %zu", at);
		cr_assert(strstr(tier_error_last(), "fails authentication"),
		          "%s", tier_error_last());
		cr_assert_eq(tt_write_file(path, file, len), 0);
		cr_assert_eq(tier_pack_verify(path, NULL, NULL, &k),
		             TIER_ECORRUPT, "byte %zu", at);
		file[at] ^= 0x01;
	}
	/* the sealed index, with the trailer's hash made right again: only
	 * the seal can tell */
	for (size_t at = ioff; at < iend; at++) {
		file[at] ^= 0x80;
		cr_assert_eq(tier_pack_index_parse(&bad, NULL, file, len, len,
		                                   "s", &k),
		             TIER_ECORRUPT, "byte %zu", at);
		cr_assert_eq(tier_pack_index_hash(t + 24, file + ioff,
		                                  iend - ioff, t),
		             0);
		cr_assert_eq(tier_pack_index_parse(&bad, NULL, file, len, len,
		                                   "s", &k),
		             TIER_ECORRUPT, "byte %zu", at);
		cr_assert(strstr(tier_error_last(), "authentication"), "%s",
		          tier_error_last());
		cr_assert_null(bad);
		file[at] ^= 0x80;
		cr_assert_eq(tier_pack_index_hash(t + 24, file + ioff,
		                                  iend - ioff, t),
		             0);
	}
	cr_assert_eq(tt_write_file(path, file, len), 0);
	cr_assert_eq(tier_pack_verify(path, NULL, NULL, &k), 0);

	/* two chunks of one length swapped: each seal names its chunk */
	const tier_pack_entry *a = &idx->entries[0], *b = &idx->entries[2];
	cr_assert_eq(a->stored_len, b->stored_len);
	unsigned char tmp[400];
	memcpy(tmp, file + a->offset, a->stored_len);
	memcpy(file + a->offset, file + b->offset, a->stored_len);
	memcpy(file + b->offset, tmp, a->stored_len);
	cr_assert_eq(decode_all(idx, file, pid, &k), TIER_ECORRUPT);
	cr_assert_eq(tt_write_file(path, file, len), 0);
	cr_assert_eq(tier_pack_verify(path, NULL, NULL, &k), TIER_ECORRUPT);
	tier_pack_index_free(idx);
	free(file);
	free(path);
	free_chunks(ch, 3);
	tt_rmrf(dir);
}

Test(pack, sealed_and_plaintext_never_mix)
{
	tier_keys k;
	const char *dir = fresh_keys(&k);
	chunk sc[2], pc[2];
	unsigned char spid[32], ppid[32];
	char *sealed = make_pack_k(dir, &k, sc, 2, 0, spid);
	char *plain = make_pack(dir, pc, 2, ppid);
	tier_pack_index *idx = NULL;
	size_t len;
	char *file = tt_read_file(sealed, &len);

	/* an encrypted pack, a vault without a key */
	cr_assert_eq(
	        tier_pack_index_parse(&idx, NULL, file, len, len, "x", NULL),
	        TIER_EUNSUPPORTED);
	cr_assert(strstr(tier_error_last(),
	                 "pack x is encrypted and this vault has no key"),
	          "%s", tier_error_last());
	cr_assert_eq(tier_pack_index_read_file(&idx, sealed, NULL),
	             TIER_EUNSUPPORTED);
	cr_assert_eq(tier_pack_verify(sealed, NULL, NULL, NULL),
	             TIER_EUNSUPPORTED);
	/* a plaintext pack substituted into an encrypted vault */
	cr_assert_eq(tier_pack_index_read_file(&idx, plain, &k), TIER_ECORRUPT);
	cr_assert(strstr(tier_error_last(),
	                 "is not encrypted in an encrypted vault"),
	          "%s", tier_error_last());
	cr_assert_eq(tier_pack_verify(plain, NULL, NULL, &k), TIER_ECORRUPT);
	cr_assert_null(idx);

	/* an empty sealed pack: header, a sealed empty index, trailer */
	tier_pack_writer *w;
	char *path;
	cr_assert_eq(tier_pack_writer_new(&w, dir, &k), 0);
	cr_assert_eq(tier_pack_writer_size(w), 16 + 28 + 64);
	cr_assert_eq(tier_pack_writer_finish(w, spid, &path), 0);
	tier_pack_writer_free(w);
	cr_assert_eq(tier_pack_verify(path, NULL, NULL, &k), 0);
	free(path);
	free(file);
	free(sealed);
	free(plain);
	free_chunks(sc, 2), free_chunks(pc, 2);
	tt_rmrf(dir);
}

Test(pack, keyed_chunk_id)
{
	tier_keys k, k2;
	unsigned char sha[32], id[32], again[32], id2[32];
	cr_assert(!tier_keys_generate(&k) && !tier_keys_generate(&k2));
	cr_assert_eq(tier_sha256(sha, "abc", 3), 0);
	cr_assert_eq(tier_chunk_id(id, NULL, "abc", 3), 0);
	cr_assert_eq(memcmp(id, sha, 32), 0, "no keys: SHA-256");
	cr_assert_eq(tier_chunk_id(id, &k, "abc", 3), 0);
	cr_assert_eq(tier_chunk_id(again, &k, "abc", 3), 0);
	cr_assert_eq(tier_chunk_id(id2, &k2, "abc", 3), 0);
	cr_assert_neq(memcmp(id, sha, 32), 0, "keyed differs from SHA-256");
	cr_assert_eq(memcmp(id, again, 32), 0, "deterministic");
	cr_assert_neq(memcmp(id, id2, 32), 0, "per vault");
}
