/*
 * seal.h over OpenSSL 3 EVP.  Algorithms are fetched once (pthread_once):
 * with OpenSSL 3 an EVP_aes_256_gcm()-style call does an implicit provider
 * lookup on every init, which costs more than sealing a small object.  The
 * fetched objects are only read afterwards, so any thread may use them; each
 * call has its own EVP_CIPHER_CTX / EVP_MAC_CTX.
 */
#include "crypto/seal.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include "hash.h"
#include "util/error.h"

#define BLOCK 16

static pthread_once_t fetch_once = PTHREAD_ONCE_INIT;
static EVP_CIPHER *gcm_cipher;
static EVP_CIPHER *siv_cipher;
static EVP_MAC_CTX *hmac_tmpl; /* HMAC-SHA256, no key: dup'ed per call */
static EVP_MAC *cmac_mac;      /* for empty SIV inputs: rare, not fast */

static EVP_MAC_CTX *mac_template(const char *name, const char *param,
                                 const char *value)
{
	EVP_MAC *mac = EVP_MAC_fetch(NULL, name, NULL);
	EVP_MAC_CTX *c = mac ? EVP_MAC_CTX_new(mac) : NULL;
	OSSL_PARAM p[] = {
	        OSSL_PARAM_construct_utf8_string(param, (char *)value, 0),
	        OSSL_PARAM_construct_end()};
	EVP_MAC_free(mac); /* the context keeps its own reference */
	if (c && EVP_MAC_CTX_set_params(c, p) != 1) {
		EVP_MAC_CTX_free(c);
		c = NULL;
	}
	return c;
}

static void fetch_all(void)
{
	gcm_cipher = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL);
	siv_cipher = EVP_CIPHER_fetch(NULL, "AES-256-SIV", NULL);
	hmac_tmpl = mac_template("HMAC", OSSL_MAC_PARAM_DIGEST, "SHA256");
	cmac_mac = EVP_MAC_fetch(NULL, "CMAC", NULL);
}

static int fetched(void)
{
	pthread_once(&fetch_once, fetch_all);
	return gcm_cipher && siv_cipher && hmac_tmpl && cmac_mac;
}

static int ossl_fail(const char *what)
{
	unsigned long e = ERR_get_error();
	char buf[256];
	ERR_error_string_n(e, buf, sizeof(buf));
	ERR_clear_error();
	return tier_error_set(TIER_ERROR, "cannot %s: OpenSSL error %s", what,
	                      e ? buf : "(none queued)");
}

int tier_keys_generate(tier_keys *k)
{
	if (RAND_bytes(k->data, sizeof(k->data)) != 1 ||
	    RAND_bytes(k->siv, sizeof(k->siv)) != 1 ||
	    RAND_bytes(k->id, sizeof(k->id)) != 1) {
		OPENSSL_cleanse(k, sizeof(*k));
		return ossl_fail("make the vault's keys");
	}
	return 0;
}

void tier_keys_wipe(tier_keys *k)
{
	if (k)
		OPENSSL_cleanse(k, sizeof(*k));
}

/* ---- AES-256-GCM -------------------------------------------------------- */

/* One GCM pass; enc: out = ct and tag filled, else out = pt, tag checked. */
static int gcm(int enc, unsigned char *out, const unsigned char *key,
               const unsigned char *nonce, const void *ad, size_t ad_len,
               const unsigned char *in, size_t len, unsigned char *tag)
{
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	int n = 0, ok;
	ok = c &&
	     EVP_CipherInit_ex(c, gcm_cipher, NULL, key, nonce, enc) == 1 &&
	     (!ad_len || EVP_CipherUpdate(c, NULL, &n, ad, (int)ad_len) == 1) &&
	     (!len || EVP_CipherUpdate(c, out, &n, in, (int)len) == 1) &&
	     (enc || EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_SET_TAG,
	                                 TIER_SEAL_TAG_LEN, tag) == 1);
	/* GCM is a stream mode: final writes nothing, n stays put */
	if (ok)
		ok = EVP_CipherFinal_ex(c, out + (len ? (size_t)n : 0), &n) ==
		     1;
	if (ok && enc)
		ok = EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_GET_TAG,
		                         TIER_SEAL_TAG_LEN, tag) == 1;
	EVP_CIPHER_CTX_free(c);
	return ok ? 0 : -1;
}

int tier_seal(unsigned char *out, const tier_keys *k, const void *ad,
              size_t ad_len, const void *in, size_t len)
{
	if (len > INT32_MAX || ad_len > INT32_MAX)
		return tier_error_set(TIER_EUSAGE,
		                      "cannot seal %zu bytes: too large", len);
	if (!fetched())
		return ossl_fail("seal: no AES-256-GCM in libcrypto");
	if (RAND_bytes(out, TIER_SEAL_NONCE_LEN) != 1)
		return ossl_fail("seal: no random nonce");
	if (gcm(1, out + TIER_SEAL_NONCE_LEN, k->data, out, ad, ad_len, in, len,
	        out + TIER_SEAL_NONCE_LEN + len) < 0)
		return ossl_fail("seal");
	return 0;
}

/* A sealed input's length, checked before anything is read of it. */
static int open_len(size_t len, size_t ad_len, size_t overhead)
{
	if (len < overhead)
		return tier_error_set(TIER_ECORRUPT,
		                      "sealed object of %zu bytes is too short",
		                      len);
	if (len > INT32_MAX || ad_len > INT32_MAX)
		return tier_error_set(TIER_ECORRUPT,
		                      "sealed object of %zu bytes is too large",
		                      len);
	return 0;
}

int tier_unseal(unsigned char *out, const tier_keys *k, const void *ad,
                size_t ad_len, const void *in, size_t len)
{
	const unsigned char *p = in;
	unsigned char tag[TIER_SEAL_TAG_LEN];
	int rc;
	if ((rc = open_len(len, ad_len, TIER_SEAL_OVERHEAD)) < 0)
		return rc;
	if (!fetched())
		return ossl_fail("unseal: no AES-256-GCM in libcrypto");
	len -= TIER_SEAL_OVERHEAD;
	memcpy(tag, p + TIER_SEAL_NONCE_LEN + len, sizeof(tag));
	if (gcm(0, out, k->data, p, ad, ad_len, p + TIER_SEAL_NONCE_LEN, len,
	        tag) < 0) {
		/* never hand back plaintext that did not authenticate */
		OPENSSL_cleanse(out, len);
		ERR_clear_error();
		return tier_error_set(TIER_ECORRUPT,
		                      "sealed object fails authentication");
	}
	return 0;
}

/* ---- AES-256-SIV -------------------------------------------------------- */

/* The doubling of RFC 5297 section 2.3, in GF(2^128). */
static void dbl(unsigned char b[BLOCK])
{
	unsigned char carry = b[0] >> 7;
	for (int i = 0; i < BLOCK - 1; i++)
		b[i] = (unsigned char)(b[i] << 1 | b[i + 1] >> 7);
	b[BLOCK - 1] = (unsigned char)(b[BLOCK - 1] << 1 ^ (carry ? 0x87 : 0));
}

/* A CMAC context cannot be copied before it has a key (CMAC_CTX_copy), so
 * unlike HMAC there is no template: the cipher is named on every call. */
static int cmac(unsigned char out[BLOCK], const unsigned char *key,
                const void *data, size_t len)
{
	EVP_MAC_CTX *c = EVP_MAC_CTX_new(cmac_mac);
	OSSL_PARAM p[] = {OSSL_PARAM_construct_utf8_string(
	                          OSSL_MAC_PARAM_CIPHER, "AES-256-CBC", 0),
	                  OSSL_PARAM_construct_end()};
	size_t n = 0;
	int ok = c && EVP_MAC_init(c, key, TIER_KEY_SIV_LEN / 2, p) == 1 &&
	         EVP_MAC_update(c, data, len) == 1 &&
	         EVP_MAC_final(c, out, &n, BLOCK) == 1 && n == BLOCK;
	EVP_MAC_CTX_free(c);
	return ok ? 0 : -1;
}

/*
 * The SIV of an empty plaintext.  OpenSSL 3.0's AES-SIV cannot do one: with
 * no plaintext update its final fails.  So S2V (RFC 5297 section 2.4) is
 * done here for that case: D = dbl(CMAC(0)) ^ CMAC(ad), V = CMAC(dbl(D) ^
 * pad("")), with the first half of the SIV key as the CMAC key.  An empty
 * ad is no component at all, as in OpenSSL's update with no bytes.  There
 * is no ciphertext, so the SIV is the whole seal.
 */
static int siv_empty(unsigned char v[BLOCK], const tier_keys *k, const void *ad,
                     size_t ad_len)
{
	static const unsigned char zero[BLOCK];
	unsigned char d[BLOCK], t[BLOCK];
	int rc = cmac(d, k->siv, zero, sizeof(zero));
	if (rc == 0 && ad_len) {
		dbl(d);
		rc = cmac(t, k->siv, ad, ad_len);
		for (int i = 0; i < BLOCK; i++)
			d[i] ^= t[i];
	}
	if (rc == 0) {
		dbl(d);
		d[0] ^= 0x80;
		rc = cmac(v, k->siv, d, sizeof(d));
	}
	OPENSSL_cleanse(d, sizeof(d));
	OPENSSL_cleanse(t, sizeof(t));
	return rc;
}

/* One SIV pass (RFC 5297, one AD component) over len > 0 bytes. */
static int siv(int enc, unsigned char *out, const tier_keys *k, const void *ad,
               size_t ad_len, const unsigned char *in, size_t len,
               unsigned char *tag)
{
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	int n = 0, ok;
	ok = c &&
	     EVP_CipherInit_ex(c, siv_cipher, NULL, k->siv, NULL, enc) == 1 &&
	     (enc || EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_SET_TAG,
	                                 TIER_SEAL_DET_OVERHEAD, tag) == 1) &&
	     (!ad_len || EVP_CipherUpdate(c, NULL, &n, ad, (int)ad_len) == 1) &&
	     EVP_CipherUpdate(c, out, &n, in, (int)len) == 1 &&
	     EVP_CipherFinal_ex(c, out + n, &n) == 1 &&
	     (!enc || EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_GET_TAG,
	                                  TIER_SEAL_DET_OVERHEAD, tag) == 1);
	EVP_CIPHER_CTX_free(c);
	return ok ? 0 : -1;
}

int tier_seal_det(tier_buf *out, const tier_keys *k, const void *ad,
                  size_t ad_len, const void *in, size_t len)
{
	unsigned char *p;
	int rc;
	if (len > INT32_MAX || ad_len > INT32_MAX)
		return tier_error_set(TIER_EUSAGE,
		                      "cannot seal %zu bytes: too large", len);
	if (!fetched())
		return ossl_fail("seal: no AES-256-SIV in libcrypto");
	if (tier_buf_grow(out, len + TIER_SEAL_DET_OVERHEAD) < 0)
		return TIER_ERROR;
	p = (unsigned char *)out->ptr + out->size;
	if (len)
		rc = siv(1, p + TIER_SEAL_DET_OVERHEAD, k, ad, ad_len, in, len,
		         p);
	else
		rc = siv_empty(p, k, ad, ad_len);
	if (rc < 0) {
		out->ptr[out->size] = '\0';
		return ossl_fail("seal");
	}
	out->size += len + TIER_SEAL_DET_OVERHEAD;
	out->ptr[out->size] = '\0';
	return 0;
}

int tier_unseal_det(tier_buf *out, const tier_keys *k, const void *ad,
                    size_t ad_len, const void *in, size_t len)
{
	unsigned char tag[TIER_SEAL_DET_OVERHEAD], want[TIER_SEAL_DET_OVERHEAD];
	const unsigned char *s = in;
	unsigned char *p;
	int rc;
	if ((rc = open_len(len, ad_len, TIER_SEAL_DET_OVERHEAD)) < 0)
		return rc;
	if (!fetched())
		return ossl_fail("unseal: no AES-256-SIV in libcrypto");
	len -= TIER_SEAL_DET_OVERHEAD;
	if (tier_buf_grow(out, len) < 0)
		return TIER_ERROR;
	memcpy(tag, s, sizeof(tag));
	p = (unsigned char *)out->ptr + out->size;
	if (len)
		rc = siv(0, p, k, ad, ad_len, s + TIER_SEAL_DET_OVERHEAD, len,
		         tag);
	else if ((rc = siv_empty(want, k, ad, ad_len)) == 0 &&
	         CRYPTO_memcmp(want, tag, sizeof(tag)))
		rc = -1;
	if (rc < 0) {
		OPENSSL_cleanse(p, len);
		out->ptr[out->size] = '\0';
		ERR_clear_error();
		return tier_error_set(TIER_ECORRUPT,
		                      "sealed object fails authentication");
	}
	out->size += len;
	out->ptr[out->size] = '\0';
	return 0;
}

/* ---- chunk ids ---------------------------------------------------------- */

int tier_chunk_id(unsigned char out[32], const tier_keys *k, const void *data,
                  size_t len)
{
	EVP_MAC_CTX *c;
	size_t n = 0;
	int ok;
	if (!k)
		return tier_sha256(out, data, len);
	if (!fetched())
		return ossl_fail("compute a chunk id: no HMAC in libcrypto");
	c = EVP_MAC_CTX_dup(hmac_tmpl);
	ok = c && EVP_MAC_init(c, k->id, sizeof(k->id), NULL) == 1 &&
	     EVP_MAC_update(c, data, len) == 1 &&
	     EVP_MAC_final(c, out, &n, 32) == 1 && n == 32;
	EVP_MAC_CTX_free(c);
	return ok ? 0 : ossl_fail("compute a chunk id");
}
