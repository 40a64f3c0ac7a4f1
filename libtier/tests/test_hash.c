#include <criterion/criterion.h>
#include <string.h>

#include "hash.h"
#include "tier/errors.h"
#include "helpers.h"

static const char *hexof(const unsigned char id[TIER_HASH_LEN])
{
	static char hex[TIER_HASH_HEXLEN + 1];
	return tier_hex(hex, id, TIER_HASH_LEN);
}

Test(hash, known_vectors)
{
	unsigned char id[TIER_HASH_LEN];
	cr_assert_eq(tier_sha256(id, "", 0), 0);
	cr_assert_str_eq(
	        hexof(id),
	        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	cr_assert_eq(tier_sha256(id, "abc", 3), 0);
	cr_assert_str_eq(
	        hexof(id),
	        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	const char *two =
	        "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
	cr_assert_eq(tier_sha256(id, two, strlen(two)), 0);
	cr_assert_str_eq(
	        hexof(id),
	        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
	cr_assert_str_eq(TIER_HASH_ALGO, "sha256");
}

Test(hash, incremental_matches_oneshot)
{
	/* One million 'a': the FIPS 180-2 long vector, fed in uneven pieces. */
	static char a[1000000];
	unsigned char id[TIER_HASH_LEN], id2[TIER_HASH_LEN];
	tier_sha256_ctx ctx = TIER_SHA256_CTX_INIT;
	memset(a, 'a', sizeof(a));
	cr_assert_eq(tier_sha256_init(&ctx), 0);
	for (size_t off = 0, step = 1; off < sizeof(a);
	     off += step, step = step * 3 + 1) {
		size_t n = step < sizeof(a) - off ? step : sizeof(a) - off;
		cr_assert_eq(tier_sha256_update(&ctx, a + off, n), 0);
	}
	cr_assert_eq(tier_sha256_final(&ctx, id), 0);
	cr_assert_str_eq(
	        hexof(id),
	        "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
	cr_assert_eq(tier_sha256(id2, a, sizeof(a)), 0);
	cr_assert_eq(memcmp(id, id2, TIER_HASH_LEN), 0);

	/* The context is reusable after final. */
	cr_assert_eq(tier_sha256_init(&ctx), 0);
	cr_assert_eq(tier_sha256_update(&ctx, "abc", 3), 0);
	cr_assert_eq(tier_sha256_final(&ctx, id), 0);
	cr_assert_str_eq(
	        hexof(id),
	        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	tier_sha256_dispose(&ctx);
	tier_sha256_dispose(&ctx); /* twice is harmless */
}

Test(hash, hex_round_trip)
{
	unsigned char bin[TIER_HASH_LEN], back[TIER_HASH_LEN];
	char hex[TIER_HASH_HEXLEN + 1];
	for (int i = 0; i < TIER_HASH_LEN; i++)
		bin[i] = (unsigned char)(i * 37 + 5);
	cr_assert_eq(tier_hex(hex, bin, TIER_HASH_LEN), hex);
	cr_assert_eq(strlen(hex), TIER_HASH_HEXLEN);
	cr_assert_eq(tier_unhex(back, TIER_HASH_LEN, hex), 0);
	cr_assert_eq(memcmp(bin, back, TIER_HASH_LEN), 0);

	/* Uppercase is accepted on input; output is always lowercase. */
	unsigned char b2[2];
	cr_assert_eq(tier_unhex(b2, 2, "aBcD"), 0);
	cr_assert_eq(b2[0], 0xab);
	cr_assert_eq(b2[1], 0xcd);
	cr_assert_str_eq(tier_hex(hex, b2, 2), "abcd");
	cr_assert_str_eq(tier_hex(hex, b2, 0), "");
}

Test(hash, bad_hex_rejected)
{
	unsigned char out[4] = {1, 2, 3, 4};
	const char *bad[] = {"",         "0011223",  "001122334",  "0011223g",
	                     "00 11223", "0x112233", "00112233\n", "-0112233"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		cr_assert_eq(tier_unhex(out, 4, bad[i]), TIER_EUSAGE,
		             "accepted '%s'", bad[i]);
		cr_assert(strstr(tier_error_last(), "invalid id") != NULL,
		          "message: %s", tier_error_last());
		cr_assert(strchr(tier_error_last(), '\n') == NULL);
	}
	/* Nothing was written by a failed decode. */
	cr_assert_eq(out[0], 1);
	cr_assert_eq(out[3], 4);
	cr_assert_eq(tier_unhex(out, 4, NULL), TIER_EUSAGE);
	cr_assert_eq(tier_unhexn(out, 4, "00112233zz", 8), 0);
	cr_assert_eq(out[3], 0x33);
}
