/*
 * crypto/seal.h: known answers for each primitive (NIST GCM, RFC 5297 SIV,
 * RFC 4231 HMAC, FIPS 180 SHA-256), then the properties callers rely on:
 * round trips, determinism, binding to the associated data, and that any
 * damage is TIER_ECORRUPT.
 */
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crypto/seal.h"
#include "hash.h"
#include "tier/errors.h"
#include "helpers.h"

static size_t unhex(unsigned char *out, const char *hex)
{
	size_t n = strlen(hex) / 2;
	cr_assert_eq(tier_unhex(out, n, hex), 0, "bad hex in the test: %s",
	             hex);
	return n;
}

static const char *hexof(const void *bin, size_t len)
{
	static char hex[2 * 4096 + 1];
	cr_assert_leq(len, 4096);
	return tier_hex(hex, bin, len);
}

static void some_keys(tier_keys *k)
{
	for (size_t i = 0; i < sizeof(k->data); i++)
		k->data[i] = (unsigned char)i;
	for (size_t i = 0; i < sizeof(k->siv); i++)
		k->siv[i] = (unsigned char)(0x40 + i);
	for (size_t i = 0; i < sizeof(k->id); i++)
		k->id[i] = (unsigned char)(0xa0 + i);
}

/* ---- AES-256-GCM -------------------------------------------------------- */

/* A published case as tier_seal lays it out: nonce || ct || tag. */
static void gcm_vector(const char *key, const char *iv, const char *ad,
                       const char *pt, const char *ct, const char *tag)
{
	tier_keys k;
	unsigned char sealed[256], want[128], adb[64], out[128];
	size_t n = 0, adl, ptl;
	memset(&k, 0, sizeof(k));
	cr_assert_eq(unhex(k.data, key), TIER_KEY_DATA_LEN);
	n += unhex(sealed, iv);
	cr_assert_eq(n, TIER_SEAL_NONCE_LEN);
	n += unhex(sealed + n, ct);
	n += unhex(sealed + n, tag);
	adl = unhex(adb, ad);
	ptl = unhex(want, pt);
	cr_assert_eq(n, ptl + TIER_SEAL_OVERHEAD);
	cr_assert_eq(tier_unseal(out, &k, adb, adl, sealed, n), 0, "%s",
	             tier_error_last());
	cr_assert_eq(memcmp(out, want, ptl), 0);
	sealed[n - 1] ^= 1;
	cr_assert_eq(tier_unseal(out, &k, adb, adl, sealed, n), TIER_ECORRUPT);
}

Test(crypto_seal, gcm_known_answers)
{
	/* McGrew and Viega, "The Galois/Counter Mode of Operation", test
	 * cases 13, 14 and 16 (AES-256, 96-bit IV) */
	const char *k0 = "00000000000000000000000000000000"
	                 "00000000000000000000000000000000";
	gcm_vector(k0, "000000000000000000000000", "", "", "",
	           "530f8afbc74536b9a963b4f1c4cb738b");
	gcm_vector(k0, "000000000000000000000000", "",
	           "00000000000000000000000000000000",
	           "cea7403d4d606b6e074ec5d3baf39d18",
	           "d0d1c8a799996bf0265b98b5d48ab919");
	gcm_vector("feffe9928665731c6d6a8f9467308308"
	           "feffe9928665731c6d6a8f9467308308",
	           "cafebabefacedbaddecaf888",
	           "feedfacedeadbeeffeedfacedeadbeefabaddad2",
	           "d9313225f88406e5a55909c5aff5269a"
	           "86a7a9531534f7da2e4c303d8a318a72"
	           "1c3c0c95956809532fcf0e2449a6b525"
	           "b16aedf5aa0de657ba637b39",
	           "522dc1f099567d07f47f37a32a84427d"
	           "643a8cdcbfe5c0c97598a2bd2555d1aa"
	           "8cb08e48590dbb3da7b08b1056828838"
	           "c5f61e6393ba7a0abcc9f662",
	           "76fc6ece0f4e1768cddf8853bb2d551b");
}

Test(crypto_seal, gcm_round_trip_and_random_nonce)
{
	tier_keys k;
	unsigned char in[1000], a[1000 + TIER_SEAL_OVERHEAD],
	        b[1000 + TIER_SEAL_OVERHEAD], out[1000];
	some_keys(&k);
	for (size_t i = 0; i < sizeof(in); i++)
		in[i] = (unsigned char)(i * 7);
	for (size_t len = 0; len <= sizeof(in); len += len < 40 ? 1 : 191) {
		cr_assert_eq(tier_seal(a, &k, "ad", 2, in, len), 0);
		cr_assert_eq(tier_seal(b, &k, "ad", 2, in, len), 0);
		cr_assert_neq(memcmp(a, b, TIER_SEAL_NONCE_LEN), 0,
		              "two seals share a nonce");
		cr_assert_neq(memcmp(a, b, len + TIER_SEAL_OVERHEAD), 0);
		memset(out, 0, sizeof(out));
		cr_assert_eq(tier_unseal(out, &k, "ad", 2, a,
		                         len + TIER_SEAL_OVERHEAD),
		             0, "len %zu: %s", len, tier_error_last());
		cr_assert_eq(memcmp(out, in, len), 0);
		cr_assert_eq(tier_unseal(out, &k, "ad", 2, b,
		                         len + TIER_SEAL_OVERHEAD),
		             0);
		cr_assert_eq(memcmp(out, in, len), 0);
	}
	/* no associated data at all */
	cr_assert_eq(tier_seal(a, &k, NULL, 0, in, 10), 0);
	cr_assert_eq(tier_unseal(out, &k, NULL, 0, a, 10 + TIER_SEAL_OVERHEAD),
	             0);
	cr_assert_eq(tier_unseal(out, &k, "x", 1, a, 10 + TIER_SEAL_OVERHEAD),
	             TIER_ECORRUPT);
}

Test(crypto_seal, gcm_any_damage_is_corrupt)
{
	tier_keys k, other;
	const char *msg = "a chunk of somebody's file, sealed under its id";
	size_t len = strlen(msg), n = len + TIER_SEAL_OVERHEAD;
	unsigned char s[128], out[128];
	some_keys(&k);
	other = k;
	other.data[5] ^= 1;
	cr_assert_eq(tier_seal(s, &k, "id-1", 4, msg, len), 0);
	for (size_t i = 0; i < n; i++)
		for (int bit = 0; bit < 8; bit += 7) {
			s[i] ^= (unsigned char)(1 << bit);
			memset(out, 0x5a, sizeof(out));
			cr_assert_eq(tier_unseal(out, &k, "id-1", 4, s, n),
			             TIER_ECORRUPT, "byte %zu bit %d", i, bit);
			/* nothing unauthenticated leaks into out */
			cr_assert_eq(memmem(out, len, "chunk", 5), NULL);
			s[i] ^= (unsigned char)(1 << bit);
		}
	cr_assert_str_eq(tier_error_last(),
	                 "sealed object fails authentication");
	cr_assert_eq(tier_unseal(out, &k, "id-1", 4, s, n), 0);
	cr_assert_eq(tier_unseal(out, &k, "id-2", 4, s, n), TIER_ECORRUPT);
	cr_assert_eq(tier_unseal(out, &k, "id-1", 3, s, n), TIER_ECORRUPT);
	cr_assert_eq(tier_unseal(out, &other, "id-1", 4, s, n), TIER_ECORRUPT);
	for (size_t cut = 0; cut < n; cut++)
		cr_assert_eq(tier_unseal(out, &k, "id-1", 4, s, cut),
		             TIER_ECORRUPT, "truncated to %zu", cut);
	cr_assert_eq(tier_unseal(out, &k, "id-1", 4, s, 3), TIER_ECORRUPT);
	cr_assert_str_eq(tier_error_last(),
	                 "sealed object of 3 bytes is too short");
}

/* ---- AES-SIV ------------------------------------------------------------ */

/* The EVP pattern seal.c uses, for any SIV width: tag || ciphertext. */
static int evp_siv(const char *alg, int enc, unsigned char *out,
                   const unsigned char *key, const void *ad, size_t adl,
                   const unsigned char *in, size_t len, unsigned char *tag)
{
	EVP_CIPHER *ci = EVP_CIPHER_fetch(NULL, alg, NULL);
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	int n = 0, ok = ci && c &&
	                EVP_CipherInit_ex(c, ci, NULL, key, NULL, enc) == 1 &&
	                (enc || EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_SET_TAG,
	                                            16, tag) == 1) &&
	                EVP_CipherUpdate(c, NULL, &n, ad, (int)adl) == 1 &&
	                EVP_CipherUpdate(c, out, &n, in, (int)len) == 1 &&
	                EVP_CipherFinal_ex(c, out + n, &n) == 1 &&
	                (!enc || EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_GET_TAG,
	                                             16, tag) == 1);
	EVP_CIPHER_CTX_free(c);
	EVP_CIPHER_free(ci);
	return ok ? 0 : -1;
}

static void cmac(unsigned char out[16], const char *cbc,
                 const unsigned char *key, size_t klen, const void *d,
                 size_t len)
{
	EVP_MAC *m = EVP_MAC_fetch(NULL, "CMAC", NULL);
	EVP_MAC_CTX *c = EVP_MAC_CTX_new(m);
	OSSL_PARAM p[] = {OSSL_PARAM_construct_utf8_string(
	                          OSSL_MAC_PARAM_CIPHER, (char *)cbc, 0),
	                  OSSL_PARAM_construct_end()};
	size_t n = 0;
	cr_assert(c && EVP_MAC_init(c, key, klen, p) == 1 &&
	          EVP_MAC_update(c, d, len) == 1 &&
	          EVP_MAC_final(c, out, &n, 16) == 1 && n == 16);
	EVP_MAC_CTX_free(c);
	EVP_MAC_free(m);
}

static void dbl(unsigned char b[16])
{
	unsigned char carry = b[0] >> 7;
	for (int i = 0; i < 15; i++)
		b[i] = (unsigned char)(b[i] << 1 | b[i + 1] >> 7);
	b[15] = (unsigned char)(b[15] << 1 ^ (carry ? 0x87 : 0));
}

/* RFC 5297 S2V(K1, ad, pt) written out, for a plaintext under 16 bytes. */
static void s2v_short(unsigned char v[16], const char *cbc,
                      const unsigned char *k1, size_t klen, const void *ad,
                      size_t adl, const void *pt, size_t len)
{
	static const unsigned char zero[16];
	unsigned char d[16], t[16];
	cr_assert_lt(len, 16);
	cmac(d, cbc, k1, klen, zero, 16);
	dbl(d);
	cmac(t, cbc, k1, klen, ad, adl);
	for (int i = 0; i < 16; i++)
		d[i] ^= t[i];
	dbl(d);
	memset(t, 0, sizeof(t));
	memcpy(t, pt, len);
	t[len] = 0x80;
	for (int i = 0; i < 16; i++)
		d[i] ^= t[i];
	cmac(v, cbc, k1, klen, d, 16);
}

Test(crypto_seal, siv_rfc5297_a1)
{
	/* RFC 5297 appendix A.1, deterministic AES-128-SIV */
	unsigned char key[32], ad[24], pt[14], out[14], tag[16], v[16];
	unhex(key, "fffefdfcfbfaf9f8f7f6f5f4f3f2f1f0"
	           "f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff");
	unhex(ad, "101112131415161718191a1b1c1d1e1f2021222324252627");
	unhex(pt, "112233445566778899aabbccddee");
	cr_assert_eq(evp_siv("AES-128-SIV", 1, out, key, ad, sizeof(ad), pt,
	                     sizeof(pt), tag),
	             0);
	cr_assert_str_eq(hexof(tag, 16), "85632d07c6e8f37f950acd320a2ecc93");
	cr_assert_str_eq(hexof(out, 14), "40c02b9690c4dc04daef7f6afe5c");
	/* the S2V written out above agrees: it checks seal.c's empty case */
	s2v_short(v, "AES-128-CBC", key, 16, ad, sizeof(ad), pt, sizeof(pt));
	cr_assert_eq(memcmp(v, tag, 16), 0);
	cr_assert_eq(evp_siv("AES-128-SIV", 0, out, key, ad, sizeof(ad), out,
	                     sizeof(out), tag),
	             0);
	cr_assert_eq(memcmp(out, pt, sizeof(pt)), 0);
	tag[3] ^= 1;
	cr_assert_neq(evp_siv("AES-128-SIV", 0, out, key, ad, sizeof(ad), pt,
	                      sizeof(pt), tag),
	              0);
}

Test(crypto_seal, siv_det_is_evp_aes256_siv)
{
	tier_keys k;
	tier_buf b = TIER_BUF_INIT;
	unsigned char out[64], tag[16];
	const char *pt = "a file name.txt";
	some_keys(&k);
	cr_assert_eq(tier_seal_det(&b, &k, "tier-name 1", 11, pt, strlen(pt)),
	             0);
	cr_assert_eq(b.size, strlen(pt) + TIER_SEAL_DET_OVERHEAD);
	cr_assert_eq(evp_siv("AES-256-SIV", 1, out, k.siv, "tier-name 1", 11,
	                     (const unsigned char *)pt, strlen(pt), tag),
	             0);
	cr_assert_eq(memcmp(b.ptr, tag, 16), 0);
	cr_assert_eq(memcmp(b.ptr + 16, out, strlen(pt)), 0);
	tier_buf_dispose(&b);
}

Test(crypto_seal, siv_det_empty_plaintext)
{
	/* OpenSSL 3.0 cannot SIV-seal nothing; seal.c runs S2V itself.
	 * Check that against the S2V written out here, which agrees with
	 * OpenSSL on every short plaintext. */
	tier_keys k;
	tier_buf b = TIER_BUF_INIT, o = TIER_BUF_INIT;
	unsigned char v[16];
	some_keys(&k);
	for (size_t len = 1; len < 16; len++) {
		tier_buf_clear(&b);
		cr_assert_eq(tier_seal_det(&b, &k, "role", 4,
		                           "0123456789abcdef", len),
		             0);
		s2v_short(v, "AES-256-CBC", k.siv, 32, "role", 4,
		          "0123456789abcdef", len);
		cr_assert_eq(memcmp(b.ptr, v, 16), 0, "len %zu", len);
	}
	tier_buf_clear(&b);
	cr_assert_eq(tier_seal_det(&b, &k, "role", 4, "", 0), 0, "%s",
	             tier_error_last());
	cr_assert_eq(b.size, TIER_SEAL_DET_OVERHEAD);
	s2v_short(v, "AES-256-CBC", k.siv, 32, "role", 4, "", 0);
	cr_assert_eq(memcmp(b.ptr, v, 16), 0);
	tier_buf_puts(&o, "pre");
	cr_assert_eq(tier_unseal_det(&o, &k, "role", 4, b.ptr, b.size), 0);
	cr_assert_str_eq(tier_buf_cstr(&o), "pre");
	cr_assert_eq(tier_unseal_det(&o, &k, "rolf", 4, b.ptr, b.size),
	             TIER_ECORRUPT);
	for (size_t i = 0; i < b.size; i++) {
		b.ptr[i] ^= 0x10;
		cr_assert_eq(tier_unseal_det(&o, &k, "role", 4, b.ptr, b.size),
		             TIER_ECORRUPT);
		b.ptr[i] ^= 0x10;
	}
	cr_assert_eq(o.size, 3);
	tier_buf_dispose(&b);
	tier_buf_dispose(&o);
}

Test(crypto_seal, siv_det_properties)
{
	tier_keys k, other;
	tier_buf a = TIER_BUF_INIT, b = TIER_BUF_INIT, o = TIER_BUF_INIT;
	const char *pt = "tier-node 1\nmode 100644\nsize 12345\n";
	size_t len = strlen(pt);
	some_keys(&k);
	other = k;
	other.siv[40] ^= 1; /* the CTR half */

	/* appends, and the same input gives the same bytes */
	tier_buf_puts(&a, "head:");
	cr_assert_eq(tier_seal_det(&a, &k, "tier-node 1", 11, pt, len), 0);
	cr_assert_eq(tier_seal_det(&b, &k, "tier-node 1", 11, pt, len), 0);
	cr_assert_eq(a.size, 5 + len + TIER_SEAL_DET_OVERHEAD);
	cr_assert_eq(memcmp(a.ptr, "head:", 5), 0);
	cr_assert_eq(memcmp(a.ptr + 5, b.ptr, b.size), 0);
	cr_assert_eq(a.ptr[a.size], '\0');

	/* another ad or key, other bytes */
	tier_buf_clear(&b);
	cr_assert_eq(tier_seal_det(&b, &k, "tier-name 1", 11, pt, len), 0);
	cr_assert_neq(memcmp(a.ptr + 5, b.ptr, b.size), 0);
	tier_buf_clear(&b);
	cr_assert_eq(tier_seal_det(&b, &other, "tier-node 1", 11, pt, len), 0);
	cr_assert_neq(memcmp(a.ptr + 5, b.ptr, b.size), 0);

	/* round trip, appended */
	tier_buf_puts(&o, ">");
	cr_assert_eq(tier_unseal_det(&o, &k, "tier-node 1", 11, a.ptr + 5,
	                             a.size - 5),
	             0, "%s", tier_error_last());
	cr_assert_eq(o.size, 1 + len);
	cr_assert_str_eq(o.ptr + 1, pt);

	/* every flipped byte, a wrong ad, a wrong key, a cut: corrupt */
	for (size_t i = 5; i < a.size; i++) {
		a.ptr[i] ^= 0x80;
		cr_assert_eq(tier_unseal_det(&o, &k, "tier-node 1", 11,
		                             a.ptr + 5, a.size - 5),
		             TIER_ECORRUPT, "byte %zu", i - 5);
		a.ptr[i] ^= 0x80;
	}
	cr_assert_eq(o.size, 1 + len, "a failed open appended something");
	cr_assert_eq(tier_unseal_det(&o, &k, "tier-node 2", 11, a.ptr + 5,
	                             a.size - 5),
	             TIER_ECORRUPT);
	cr_assert_eq(tier_unseal_det(&o, &other, "tier-node 1", 11, a.ptr + 5,
	                             a.size - 5),
	             TIER_ECORRUPT);
	for (size_t cut = 0; cut < a.size - 5; cut++)
		cr_assert_eq(tier_unseal_det(&o, &k, "tier-node 1", 11,
		                             a.ptr + 5, cut),
		             TIER_ECORRUPT, "cut to %zu", cut);
	tier_buf_dispose(&a);
	tier_buf_dispose(&b);
	tier_buf_dispose(&o);
}

/* ---- chunk ids ---------------------------------------------------------- */

Test(crypto_seal, chunk_id_known_answers)
{
	tier_keys k;
	unsigned char id[32];
	const char *msg = "what do ya want for nothing?";
	cr_assert_eq(tier_chunk_id(id, NULL, "abc", 3), 0);
	cr_assert_str_eq(
	        hexof(id, 32),
	        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	/* RFC 4231 test case 2: key "Jefe"; a key shorter than the block is
	 * zero-padded by definition, so "Jefe" and 28 zeros is the same key */
	memset(&k, 0, sizeof(k));
	memcpy(k.id, "Jefe", 4);
	cr_assert_eq(tier_chunk_id(id, &k, msg, strlen(msg)), 0);
	cr_assert_str_eq(
	        hexof(id, 32),
	        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
	/* only the id key counts */
	memset(k.data, 0xff, sizeof(k.data));
	memset(k.siv, 0xff, sizeof(k.siv));
	cr_assert_eq(tier_chunk_id(id, &k, msg, strlen(msg)), 0);
	cr_assert_str_eq(
	        hexof(id, 32),
	        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
	cr_assert_eq(tier_chunk_id(id, &k, "", 0), 0);
}

Test(crypto_seal, keys_generate_and_wipe)
{
	tier_keys a, b, zero;
	memset(&zero, 0, sizeof(zero));
	cr_assert_eq(tier_keys_generate(&a), 0);
	cr_assert_eq(tier_keys_generate(&b), 0);
	cr_assert_neq(memcmp(&a, &b, sizeof(a)), 0);
	cr_assert_neq(memcmp(a.data, zero.data, sizeof(a.data)), 0);
	cr_assert_neq(memcmp(a.siv, zero.siv, sizeof(a.siv)), 0);
	cr_assert_neq(memcmp(a.id, zero.id, sizeof(a.id)), 0);
	tier_keys_wipe(&a);
	cr_assert_eq(memcmp(&a, &zero, sizeof(a)), 0);
	tier_keys_wipe(NULL);
}

/* ---- threads and speed -------------------------------------------------- */

#define MIB (1u << 20)

struct worker {
	const tier_keys *k;
	int failures;
};

static void *work(void *arg)
{
	struct worker *w = arg;
	unsigned char *in = malloc(64 << 10), *s = malloc((64 << 10) + 64),
	              *out = malloc(64 << 10), id[32], id2[32];
	tier_buf d = TIER_BUF_INIT, o = TIER_BUF_INIT;
	for (int i = 0; i < 200; i++) {
		size_t len = (size_t)(i * 331) % (64 << 10);
		memset(in, i, len);
		if (tier_seal(s, w->k, &i, sizeof(i), in, len) < 0 ||
		    tier_unseal(out, w->k, &i, sizeof(i), s,
		                len + TIER_SEAL_OVERHEAD) < 0 ||
		    memcmp(in, out, len) || tier_chunk_id(id, w->k, in, len) ||
		    tier_chunk_id(id2, w->k, out, len) || memcmp(id, id2, 32))
			w->failures++;
		tier_buf_clear(&d);
		tier_buf_clear(&o);
		if (tier_seal_det(&d, w->k, "n", 1, in, len % 300) < 0 ||
		    tier_unseal_det(&o, w->k, "n", 1, d.ptr, d.size) < 0 ||
		    o.size != len % 300 || memcmp(o.ptr, in, o.size))
			w->failures++;
	}
	tier_buf_dispose(&d);
	tier_buf_dispose(&o);
	free(in);
	free(s);
	free(out);
	return NULL;
}

Test(crypto_seal, threads)
{
	tier_keys k;
	pthread_t t[4];
	struct worker w[4];
	some_keys(&k);
	for (int i = 0; i < 4; i++) {
		w[i].k = &k;
		w[i].failures = 0;
		cr_assert_eq(pthread_create(&t[i], NULL, work, &w[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		cr_assert_eq(w[i].failures, 0, "thread %d", i);
	}
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

Test(crypto_seal, speed_per_mib)
{
	/* not a benchmark: a regression guard for a per-call fetch or copy
	 * (bound far below AES-NI speed so a slow CI box or ASan passes) */
	tier_keys k;
	unsigned char *in = calloc(1, MIB), *s = malloc(MIB + 64),
	              *out = malloc(MIB), id[32];
	int rounds = 64;
	double t0, seal, open, hmac;
	some_keys(&k);
	t0 = now();
	for (int i = 0; i < rounds; i++)
		cr_assert_eq(tier_seal(s, &k, id, 32, in, MIB), 0);
	seal = now() - t0;
	t0 = now();
	for (int i = 0; i < rounds; i++)
		cr_assert_eq(tier_unseal(out, &k, id, 32, s,
		                         MIB + TIER_SEAL_OVERHEAD),
		             0);
	open = now() - t0;
	t0 = now();
	for (int i = 0; i < rounds; i++)
		cr_assert_eq(tier_chunk_id(id, &k, in, MIB), 0);
	hmac = now() - t0;
	cr_log_info("1 MiB: seal %.0f MB/s, unseal %.0f MB/s, chunk id "
	            "(hmac-sha256) %.0f MB/s",
	            rounds * (MIB / 1e6) / seal, rounds * (MIB / 1e6) / open,
	            rounds * (MIB / 1e6) / hmac);
	cr_assert_lt(seal, 5.0);
	free(in);
	free(s);
	free(out);
}
