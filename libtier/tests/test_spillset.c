/*
 * The bounded-memory key set (util/spillset.h): exact answers whether the
 * records are in the table, in spilled runs or in merged runs, sorted
 * iteration, and memory that does not follow the count.
 */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"
#include "util/spillset.h"

/* A SHA-1-sized id per number (uniform bytes), and a value derived from it. */
static void key_of(unsigned char k[20], uint32_t i)
{
	unsigned char h[TIER_HASH_LEN];
	cr_assert_eq(tier_sha256(h, &i, sizeof(i)), 0);
	memcpy(k, h, 20);
}

static uint64_t val_of(uint32_t i)
{
	return (uint64_t)i * 2654435761u + 7;
}

static tier_spillset *filled(uint32_t n, size_t mem)
{
	tier_spillset *s = NULL;
	cr_assert_eq(tier_spillset_new(&s, 20, 8, NULL, mem), 0);
	for (uint32_t i = 0; i < n; i++) {
		unsigned char k[20];
		uint64_t v = val_of(i);
		key_of(k, i);
		cr_assert_eq(tier_spillset_add(s, k, &v), 1, "key %u", i);
	}
	return s;
}

/* With 64 records in memory, 20,000 keys go through many runs and
 * several merge levels; every answer must still be exact. */
Test(spillset, exact_across_runs_and_merges)
{
	const uint32_t n = 20000;
	tier_spillset *s = filled(n, 64);
	cr_assert_eq(tier_spillset_count(s), n);
	for (uint32_t i = 0; i < n; i++) {
		unsigned char k[20];
		uint64_t v = 0, old = 12345;
		key_of(k, i);
		cr_assert_eq(tier_spillset_get(s, k, &v), 1, "lost key %u", i);
		cr_assert_eq(v, val_of(i), "wrong value for key %u", i);
		/* a second add keeps the first value */
		cr_assert_eq(tier_spillset_add(s, k, &old), 0);
	}
	for (uint32_t i = n; i < n + 20000; i++) {
		unsigned char k[20];
		key_of(k, i);
		cr_assert_eq(tier_spillset_get(s, k, NULL), 0, "phantom %u", i);
	}
	cr_assert_eq(tier_spillset_count(s), n);
	tier_spillset_free(s);
}

struct order {
	unsigned char last[20];
	uint64_t seen;
	uint64_t sum;
};

static int check_order(const void *key, const void *val, void *ctx)
{
	struct order *o = ctx;
	uint64_t v;
	if (o->seen)
		cr_assert_lt(memcmp(o->last, key, 20), 0, "out of order at %lu",
		             (unsigned long)o->seen);
	memcpy(o->last, key, 20);
	memcpy(&v, val, 8);
	o->sum += v;
	o->seen++;
	return 0;
}

Test(spillset, foreach_is_sorted_and_complete)
{
	const uint32_t n = 5000;
	/* 100 in memory: runs of several levels plus a part-full table */
	tier_spillset *s = filled(n, 100);
	struct order o = {{0}, 0, 0};
	uint64_t want = 0;
	for (uint32_t i = 0; i < n; i++)
		want += val_of(i);
	cr_assert_eq(tier_spillset_foreach(s, check_order, &o), 0);
	cr_assert_eq(o.seen, n);
	cr_assert_eq(o.sum, want);
	/* the walk sorted the table: lookups and adds still work after it */
	unsigned char k[20];
	key_of(k, n - 1);
	cr_assert_eq(tier_spillset_get(s, k, NULL), 1);
	key_of(k, n);
	uint64_t v = 1;
	cr_assert_eq(tier_spillset_add(s, k, &v), 1);
	cr_assert_eq(tier_spillset_get(s, k, NULL), 1);
	tier_spillset_free(s);
}

static int stop_at_three(const void *key, const void *val, void *ctx)
{
	(void)key;
	(void)val;
	return ++*(int *)ctx == 3 ? 42 : 0;
}

Test(spillset, foreach_stops_on_callback)
{
	tier_spillset *s = filled(1000, 64);
	int calls = 0;
	cr_assert_eq(tier_spillset_foreach(s, stop_at_three, &calls), 42);
	cr_assert_eq(calls, 3);
	tier_spillset_free(s);
}

/* Keys only (value length 0), as a "seen" set. */
Test(spillset, keys_without_values)
{
	tier_spillset *s = NULL;
	cr_assert_eq(tier_spillset_new(&s, 32, 0, NULL, 64), 0);
	for (uint32_t i = 0; i < 3000; i++) {
		unsigned char k[32];
		cr_assert_eq(tier_sha256(k, &i, sizeof(i)), 0);
		cr_assert_eq(tier_spillset_add(s, k, NULL), 1);
		cr_assert_eq(tier_spillset_add(s, k, NULL), 0);
	}
	unsigned char k[32];
	uint32_t i = 1234;
	cr_assert_eq(tier_sha256(k, &i, sizeof(i)), 0);
	cr_assert_eq(tier_spillset_get(s, k, NULL), 1);
	tier_spillset_free(s);
}

/* What the set holds in memory grows by the filters and fences only:
 * ~1.4 bytes a record, not the 28 of the records themselves. */
Test(spillset, memory_does_not_follow_the_records)
{
	tier_spillset *small = filled(20000, 1024);
	tier_spillset *big = filled(200000, 1024);
	size_t ms = tier_spillset_memory(small), mb = tier_spillset_memory(big);
	cr_assert_lt(mb - ms, 180000 * 3, "grew %zu bytes for 180,000 records",
	             mb - ms);
	tier_spillset_free(small);
	tier_spillset_free(big);
}

/* A temporary directory that does not exist: a clear error once the
 * set has to spill, and nothing added in the failed call is claimed. */
Test(spillset, spill_failure_is_an_error)
{
	tier_spillset *s = NULL;
	cr_assert_eq(
	        tier_spillset_new(&s, 20, 0, "/nonexistent/tier-spill", 64), 0);
	int rc = 0;
	for (uint32_t i = 0; i < 64 && rc >= 0; i++) {
		unsigned char k[20];
		key_of(k, i);
		rc = tier_spillset_add(s, k, NULL);
	}
	cr_assert_lt(rc, 0);
	/* the table is full and cannot spill: further adds fail, never write
	 * past it, and what was added is still found */
	unsigned char k[20];
	key_of(k, 1000);
	cr_assert_lt(tier_spillset_add(s, k, NULL), 0);
	key_of(k, 10);
	cr_assert_eq(tier_spillset_get(s, k, NULL), 1);
	tier_spillset_free(s);
}
