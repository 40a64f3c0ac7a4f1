/* The drive's chunk cache (drive/chunkcache.h): what is put is got back
 * byte for byte, at any offset; the budget holds, the least recently used
 * leaves first; the directory is the cache's own and goes at free. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "drive/chunkcache.h"

static void id_of(unsigned char id[TIER_HASH_LEN], int n)
{
	memset(id, 0, TIER_HASH_LEN);
	id[0] = (unsigned char)n;
	id[9] = (unsigned char)(n * 7);
}

static char parent[] = "/tmp/tier-test-cache.XXXXXX";

static void setup(void)
{
	cr_assert_not_null(mkdtemp(parent));
}

static void teardown(void)
{
	rmdir(parent);
}

TestSuite(drive_cache, .init = setup, .fini = teardown);

Test(drive_cache, put_get_evict_free)
{
	struct tier_chunkcache *c;
	unsigned char id[TIER_HASH_LEN], data[1000], got[1000];
	struct stat st;
	char dir[256];

	cr_assert_eq(tier_chunkcache_open(&c, parent, 3000), 0);
	snprintf(dir, sizeof(dir), "%s", tier_chunkcache_dir(c));
	cr_assert_eq(strncmp(dir, parent, strlen(parent)), 0);
	for (int i = 0; i < 3; i++) {
		memset(data, 'a' + i, sizeof(data));
		data[i] = 'X';
		id_of(id, i);
		tier_chunkcache_put(c, id, data, sizeof(data));
	}
	cr_assert_eq(tier_chunkcache_bytes(c), 3000);
	/* chunk 0 used last, so 1 is the oldest when 3 comes */
	id_of(id, 0);
	cr_assert_eq(tier_chunkcache_get(c, id, got, 10, 0), 1);
	cr_assert_eq(got[0], 'X');
	cr_assert_eq(got[1], 'a');
	memset(data, 'd', sizeof(data));
	id_of(id, 3);
	tier_chunkcache_put(c, id, data, sizeof(data));
	cr_assert_eq(tier_chunkcache_bytes(c), 3000, "the budget holds");
	id_of(id, 1);
	cr_assert_eq(tier_chunkcache_has(c, id), 0, "the oldest left");
	cr_assert_eq(tier_chunkcache_get(c, id, got, 10, 0), 0);
	id_of(id, 2);
	cr_assert_eq(tier_chunkcache_get(c, id, got, 998, 2), 1);
	cr_assert_eq(got[0], 'X', "byte 2 of chunk 2");
	cr_assert_eq(got[1], 'c');
	cr_assert_eq(got[997], 'c');
	cr_assert_eq(tier_chunkcache_get(c, id, got, 2, 999), 0,
	             "a range past the chunk is a miss");
	/* larger than the whole budget: not kept, nothing evicted */
	unsigned char big[4000];
	memset(big, 'z', sizeof(big));
	id_of(id, 9);
	tier_chunkcache_put(c, id, big, sizeof(big));
	cr_assert_eq(tier_chunkcache_has(c, id), 0);
	cr_assert_eq(tier_chunkcache_bytes(c), 3000);
	tier_chunkcache_free(c);
	cr_assert_neq(stat(dir, &st), 0, "the cache directory is removed");
}

Test(drive_cache, a_lost_file_is_a_miss)
{
	struct tier_chunkcache *c;
	unsigned char id[TIER_HASH_LEN], data[100], got[100];
	char path[512], hex[2 * TIER_HASH_LEN + 1];

	cr_assert_eq(tier_chunkcache_open(&c, parent, 1000), 0);
	memset(data, 'q', sizeof(data));
	id_of(id, 5);
	tier_chunkcache_put(c, id, data, sizeof(data));
	snprintf(path, sizeof(path), "%s/%s", tier_chunkcache_dir(c),
	         tier_hex(hex, id, TIER_HASH_LEN));
	cr_assert_eq(unlink(path), 0);
	cr_assert_eq(tier_chunkcache_get(c, id, got, 100, 0), 0);
	cr_assert_eq(tier_chunkcache_bytes(c), 0, "dropped from the count");
	tier_chunkcache_free(c);
}

Test(drive_cache, no_parent_is_an_error)
{
	struct tier_chunkcache *c;
	cr_assert_lt(tier_chunkcache_open(&c, "/nonexistent/dir", 1000), 0);
	cr_assert_null(c);
}
