/* The id set shared by push (chunk ids), fsck and the git pack writer. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"
#include "util/idset.h"

/* A SHA-256 id per number: uniform bytes, as the set expects. */
static void id_of(unsigned char id[TIER_HASH_LEN], unsigned int i)
{
	cr_assert_eq(tier_sha256(id, &i, sizeof(i)), 0);
}

Test(idset, adds_once_keeps_order_and_grows)
{
	tier_idset s = TIER_IDSET_INIT(TIER_HASH_LEN);
	unsigned char id[TIER_HASH_LEN];
	cr_assert_not(tier_idset_has(&s, "0123456789abcdef0123456789abcdef"));
	for (unsigned int i = 0; i < 5000; i++) {
		id_of(id, i);
		cr_assert_eq(tier_idset_add(&s, id), 1);
	}
	for (unsigned int i = 0; i < 5000; i += 7) {
		id_of(id, i);
		cr_assert_eq(tier_idset_add(&s, id), 0, "id %u added twice", i);
		cr_assert(tier_idset_has(&s, id));
	}
	id_of(id, 5000);
	cr_assert_not(tier_idset_has(&s, id));
	cr_assert_eq(s.n, 5000);
	for (unsigned int i = 0; i < 5000; i++) {
		id_of(id, i);
		cr_assert_eq(memcmp(tier_idset_at(&s, i), id, TIER_HASH_LEN), 0,
		             "insertion order lost at %u", i);
	}
	unsigned char *ids = tier_idset_detach(&s);
	cr_assert_eq(s.n, 0);
	cr_assert_not(tier_idset_has(&s, id));
	id_of(id, 4999);
	cr_assert_eq(memcmp(ids + 4999 * TIER_HASH_LEN, id, TIER_HASH_LEN), 0);
	free(ids);
	tier_idset_dispose(&s);
}

Test(idset, shorter_ids)
{
	tier_idset s = TIER_IDSET_INIT(20); /* git object ids */
	unsigned char id[TIER_HASH_LEN];
	for (unsigned int i = 0; i < 3000; i++) {
		id_of(id, i % 1000);
		cr_assert_eq(tier_idset_add(&s, id), i < 1000 ? 1 : 0);
	}
	cr_assert_eq(s.n, 1000);
	tier_idset_dispose(&s);
}

Test(idset, a_set_without_its_id_length_refuses_to_work)
{
	/* zeroed (no TIER_IDSET_INIT): with 0-byte ids every id would
	 * compare equal and be taken for present */
	tier_idset s;
	unsigned char id[TIER_HASH_LEN];
	memset(&s, 0, sizeof(s));
	id_of(id, 1);
	cr_assert_lt(tier_idset_add(&s, id), 0);
	tier_idset_dispose(&s);
}
