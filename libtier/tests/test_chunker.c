#include <criterion/criterion.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "chunker.h"
#include "hash.h"
#include "tier/errors.h"
#include "helpers.h"

/* Small sizes give many chunks per MiB, so statistics are meaningful. */
static const tier_chunker_params small = {2048, 8192, 65536, 2};

static uint64_t rng_state;

static uint64_t rnd(void)
{
	/* xorshift64*: deterministic test data, independent of libc. */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dull;
}

static unsigned char *random_data(size_t len, uint64_t seed)
{
	unsigned char *p = malloc(len);
	cr_assert_not_null(p);
	rng_state = seed;
	size_t i = 0;
	for (; i + 8 <= len; i += 8) {
		uint64_t v = rnd();
		memcpy(p + i, &v, 8);
	}
	for (; i < len; i++)
		p[i] = (unsigned char)rnd();
	return p;
}

typedef struct {
	size_t *len;
	size_t n, cap;
} cuts;

static void cuts_push(cuts *c, size_t len)
{
	if (c->n == c->cap) {
		c->cap = c->cap ? 2 * c->cap : 64;
		c->len = realloc(c->len, c->cap * sizeof(size_t));
		cr_assert_not_null(c->len);
	}
	c->len[c->n++] = len;
}

/* Chunk data fed in pieces of up to `piece` bytes (0: one buffer; a
 * pseudo-random size in [1, piece] otherwise). */
static cuts chunk_all(const tier_chunker_params *p, const unsigned char *data,
                      size_t len, size_t piece, uint64_t seed)
{
	tier_chunker c;
	cuts out = {0};
	size_t cur = 0, off = 0;
	cr_assert_eq(tier_chunker_init(&c, p), 0);
	rng_state = seed;
	while (off < len) {
		size_t n = len - off;
		if (piece) {
			size_t want = 1 + rnd() % piece;
			if (want < n)
				n = want;
		}
		const unsigned char *b = data + off;
		size_t left = n;
		while (left) {
			int cut;
			size_t used = tier_chunker_scan(&c, b, left, &cut);
			cr_assert_leq(used, left);
			cur += used;
			b += used;
			left -= used;
			if (cut) {
				cuts_push(&out, cur);
				cur = 0;
			} else {
				cr_assert_eq(left, 0);
			}
		}
		off += n;
	}
	size_t last = tier_chunker_finish(&c);
	cr_assert_eq(last, cur);
	if (last)
		cuts_push(&out, last);
	size_t total = 0;
	for (size_t i = 0; i < out.n; i++)
		total += out.len[i];
	cr_assert_eq(total, len);
	return out;
}

static void cuts_eq(const cuts *a, const cuts *b)
{
	cr_assert_eq(a->n, b->n, "%zu chunks vs %zu", a->n, b->n);
	for (size_t i = 0; i < a->n; i++)
		cr_assert_eq(a->len[i], b->len[i], "chunk %zu: %zu vs %zu", i,
		             a->len[i], b->len[i]);
}

Test(chunker, gear_table_is_fixed)
{
	/* splitmix64 from "tiercdc1": the table a vault's boundaries depend on. */
	const uint64_t *g = tier_chunker_gear();
	uint64_t s = 0x7469657263646331ull;
	for (int i = 0; i < 256; i++) {
		uint64_t z = (s += 0x9e3779b97f4a7c15ull);
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
		z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
		z ^= z >> 31;
		cr_assert_eq(g[i], z, "gear[%d] changed", i);
	}
	cr_assert_eq(g[0], 0x5dd4de19931e603bull);
	cr_assert_eq(g[255], 0x8294c5e924f76ca6ull);
	cr_assert_str_eq(TIER_CHUNKER_ALGO, "fastcdc-gear64-v1");
}

Test(chunker, boundaries_are_deterministic_and_pinned)
{
	size_t len = 4u << 20;
	unsigned char *d = random_data(len, 42);
	cuts a = chunk_all(&small, d, len, 0, 0);
	cuts b = chunk_all(&small, d, len, 0, 0);
	cuts_eq(&a, &b);

	/*
	 * Golden values: if these change, every existing vault stops
	 * deduplicating against new pushes.  Do not "fix" them; add a new
	 * algorithm name instead.
	 */
	size_t pinned[] = {11337, 9431, 13081, 10353, 3585, 13737, 4582, 13454};
	cr_assert_eq(a.n, 454, "got %zu chunks", a.n);
	for (size_t i = 0; i < sizeof(pinned) / sizeof(*pinned); i++)
		cr_assert_eq(a.len[i], pinned[i], "chunk %zu is %zu bytes", i,
		             a.len[i]);

	/* The sizes borg and restic use, spelled out: defaults may move. */
	tier_chunker_params def = {512u << 10, 1u << 20, 8u << 20, 2};
	size_t biglen = 24u << 20;
	unsigned char *big = random_data(biglen, 7);
	cuts c = chunk_all(&def, big, biglen, 0, 0);
	size_t pinned_def[] = {1271883, 1072616, 574389,
	                       1220836, 1131249, 1053184};
	cr_assert_eq(c.n, 22);
	for (size_t i = 0; i < sizeof(pinned_def) / sizeof(*pinned_def); i++)
		cr_assert_eq(c.len[i], pinned_def[i],
		             "default chunk %zu is %zu bytes", i, c.len[i]);
	free(big);
	free(a.len);
	free(b.len);
	free(c.len);
	free(d);
}

Test(chunker, independent_of_buffer_split)
{
	size_t len = 6u << 20;
	unsigned char *d = random_data(len, 1234);
	/* A compressible stretch and a run of zeros exercise the max cut. */
	memset(d + (2u << 20), 0, 300000);
	for (size_t i = 0; i < 200000; i++)
		d[(4u << 20) + i] = "the quick brown fox "[i % 20];

	cuts whole = chunk_all(&small, d, len, 0, 0);
	size_t pieces[] = {1, 7, 63, 64, 65, 4096, 100000, 1u << 20};
	for (size_t i = 0; i < sizeof(pieces) / sizeof(*pieces); i++) {
		if (pieces[i] < 64 && i > 0) {
			/* Tiny pieces are slow: check only the first MiB. */
			cuts w1 = chunk_all(&small, d, 1u << 20, 0, 0);
			cuts s1 = chunk_all(&small, d, 1u << 20, pieces[i], i);
			cuts_eq(&w1, &s1);
			free(w1.len);
			free(s1.len);
			continue;
		}
		cuts s = chunk_all(&small, d, len, pieces[i], i);
		cuts_eq(&whole, &s);
		free(s.len);
	}

	tier_chunker_params def = TIER_CHUNKER_PARAMS_INIT;
	size_t biglen = 20u << 20;
	unsigned char *big = random_data(biglen, 99);
	cuts bw = chunk_all(&def, big, biglen, 0, 0);
	cuts bs = chunk_all(&def, big, biglen, 3u << 20, 5);
	cuts_eq(&bw, &bs);
	cr_assert_gt(bw.n, 5);
	free(bw.len);
	free(bs.len);
	free(big);
	free(whole.len);
	free(d);
}

Test(chunker, min_and_max_respected)
{
	size_t len = 8u << 20;
	unsigned char *d = random_data(len, 5);
	cuts r = chunk_all(&small, d, len, 0, 0);
	for (size_t i = 0; i + 1 < r.n; i++) {
		cr_assert_geq(r.len[i], small.min, "chunk %zu: %zu", i,
		              r.len[i]);
		cr_assert_leq(r.len[i], small.max, "chunk %zu: %zu", i,
		              r.len[i]);
	}
	cr_assert_leq(r.len[r.n - 1], small.max);

	/* Constant data never matches the mask: every chunk is max long. */
	memset(d, 0, len);
	cuts z = chunk_all(&small, d, len, 0, 0);
	cr_assert_eq(z.n, len / small.max);
	for (size_t i = 0; i < z.n; i++)
		cr_assert_eq(z.len[i], small.max);

	/* A stream shorter than min is one chunk. */
	cuts t = chunk_all(&small, d, small.min - 1, 0, 0);
	cr_assert_eq(t.n, 1);
	cr_assert_eq(t.len[0], small.min - 1);
	free(r.len);
	free(z.len);
	free(t.len);
	free(d);
}

Test(chunker, average_near_target)
{
	size_t len = 32u << 20;
	unsigned char *d = random_data(len, 77);
	cuts r = chunk_all(&small, d, len, 0, 0);
	double mean = (double)len / (double)r.n;
	cr_assert(mean > 0.8 * small.avg && mean < 1.4 * small.avg,
	          "mean chunk %.0f for target %u", mean, small.avg);

	tier_chunker_params def = TIER_CHUNKER_PARAMS_INIT;
	cuts b = chunk_all(&def, d, len, 0, 0);
	mean = (double)len / (double)b.n;
	cr_assert(mean > 0.75 * def.avg && mean < 1.5 * def.avg,
	          "mean chunk %.0f for target %u", mean, def.avg);
	free(r.len);
	free(b.len);
	free(d);
}

static int cmp_id(const void *a, const void *b)
{
	return memcmp(a, b, TIER_HASH_LEN);
}

/* Ids of the chunks of data, sorted for lookup. */
static unsigned char *chunk_ids(const cuts *c, const unsigned char *d)
{
	unsigned char *ids = malloc(c->n * TIER_HASH_LEN);
	size_t off = 0;
	for (size_t i = 0; i < c->n; i++) {
		cr_assert_eq(tier_sha256(ids + i * TIER_HASH_LEN, d + off,
		                         c->len[i]),
		             0);
		off += c->len[i];
	}
	qsort(ids, c->n, TIER_HASH_LEN, cmp_id);
	return ids;
}

Test(chunker, one_percent_insert_changes_few_chunks)
{
	tier_chunker_params def = TIER_CHUNKER_PARAMS_INIT;
	size_t len = 64u << 20, ins = len / 100, at = len / 2 + 12345;
	unsigned char *d = random_data(len, 2024);
	unsigned char *extra = random_data(ins, 9);
	unsigned char *e = malloc(len + ins);
	memcpy(e, d, at);
	memcpy(e + at, extra, ins);
	memcpy(e + at + ins, d + at, len - at);

	cuts a = chunk_all(&def, d, len, 0, 0);
	cuts b = chunk_all(&def, e, len + ins, 1u << 20, 3);
	unsigned char *ia = chunk_ids(&a, d);
	unsigned char *ib = chunk_ids(&b, e);
	size_t fresh = 0, fresh_bytes = 0;
	/* ib is sorted, so recompute bytes per new chunk by walking b in order. */
	size_t off = 0;
	for (size_t i = 0; i < b.n; i++) {
		unsigned char id[TIER_HASH_LEN];
		cr_assert_eq(tier_sha256(id, e + off, b.len[i]), 0);
		if (!bsearch(id, ia, a.n, TIER_HASH_LEN, cmp_id)) {
			fresh++;
			fresh_bytes += b.len[i];
		}
		off += b.len[i];
	}
	cr_log_info(
	        "%zu chunks before, %zu after, %zu new (%zu bytes for a %zu byte insert)",
	        a.n, b.n, fresh, fresh_bytes, ins);
	cr_assert_leq(fresh, 4, "%zu new chunks", fresh);
	cr_assert_lt(fresh_bytes, 6 * ins);
	free(ia);
	free(ib);
	free(a.len);
	free(b.len);
	free(d);
	free(e);
	free(extra);
}

Test(chunker, zero_length_input)
{
	tier_chunker c;
	int cut = 7;
	cr_assert_eq(tier_chunker_init(&c, NULL), 0);
	cr_assert_eq(tier_chunker_scan(&c, NULL, 0, &cut), 0);
	cr_assert_eq(cut, 0);
	cr_assert_eq(tier_chunker_finish(&c), 0);

	/* Empty buffers mid-stream change nothing either. */
	unsigned char *d = random_data(1u << 20, 3);
	cuts whole = chunk_all(&small, d, 1u << 20, 0, 0);
	cr_assert_eq(tier_chunker_init(&c, &small), 0);
	size_t off = 0, cur = 0, n = 0;
	while (off < (1u << 20)) {
		size_t used = tier_chunker_scan(&c, d + off, 0, &cut);
		cr_assert_eq(used, 0);
		cr_assert_eq(cut, 0);
		used = tier_chunker_scan(&c, d + off, (1u << 20) - off, &cut);
		off += used;
		cur += used;
		if (cut) {
			cr_assert_eq(cur, whole.len[n++]);
			cur = 0;
		}
	}
	if (cur)
		cr_assert_eq(tier_chunker_finish(&c), whole.len[n++]);
	cr_assert_eq(n, whole.n);
	free(whole.len);
	free(d);
}

Test(chunker, bad_params_rejected)
{
	tier_chunker c;
	tier_chunker_params bad[] = {
	        {0, 8192, 65536, 2},    /* min too small */
	        {8192, 8192, 65536, 2}, /* avg not above min */
	        {2048, 8192, 4096, 2},  /* max below avg */
	        {2048, 6000, 65536, 2}, /* avg not a power of two */
	        {2048, 8192, 65536, 4}, /* norm out of range */
	        {2048, 8192, TIER_CHUNKER_LIMIT + 1, 2},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		cr_assert_eq(tier_chunker_init(&c, &bad[i]), TIER_EUSAGE,
		             "case %zu", i);
		cr_assert(strstr(tier_error_last(), "chunker") != NULL);
	}
	cr_assert_eq(tier_chunker_params_check(NULL), 0);
}
