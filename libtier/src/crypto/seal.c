/*
 * seal.h over OpenSSL 3 EVP.  The cipher objects are fetched once: a fetch
 * per 1 MiB chunk would cost more than the sealing itself.
 */
#include "crypto/seal.h"

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <string.h>

#include "hash.h"
#include "util/error.h"

static pthread_once_t fetch_once = PTHREAD_ONCE_INIT;
static EVP_CIPHER *siv_cipher;

static void fetch_ciphers(void)
{
	siv_cipher = EVP_CIPHER_fetch(NULL, "AES-256-SIV", NULL);
}

static int ossl_fail(const char *what)
{
	unsigned long e = ERR_get_error();
	char buf[256];
	ERR_error_string_n(e, buf, sizeof(buf));
	ERR_clear_error();
	return tier_error_set(TIER_ERROR, "cannot %s: OpenSSL: %s", what,
	                      e ? buf : "unknown error");
}

int tier_keys_generate(tier_keys *k)
{
	if (RAND_bytes(k->data, sizeof(k->data)) != 1 ||
	    RAND_bytes(k->siv, sizeof(k->siv)) != 1 ||
	    RAND_bytes(k->id, sizeof(k->id)) != 1)
		return ossl_fail("make the vault's keys");
	return 0;
}

void tier_keys_wipe(tier_keys *k)
{
	if (k)
		OPENSSL_cleanse(k, sizeof(*k));
}

/* One GCM pass; enc: out = ct||tag from in, else out = pt from ct||tag. */
static int gcm(int enc, unsigned char *out, const unsigned char *key,
               const unsigned char *nonce, const void *ad, size_t ad_len,
               const unsigned char *in, size_t len, unsigned char *tag)
{
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	int n = 0, ok;
	ok = c &&
	     EVP_CipherInit_ex(c, EVP_aes_256_gcm(), NULL, key, nonce, enc) ==
	             1 &&
	     (!ad_len || EVP_CipherUpdate(c, NULL, &n, ad, (int)ad_len) == 1) &&
	     (len == 0 || EVP_CipherUpdate(c, out, &n, in, (int)len) == 1) &&
	     (enc || EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG,
	                                 TIER_SEAL_TAG_LEN, tag) == 1);
	if (ok)
		ok = EVP_CipherFinal_ex(c, out + (len ? (size_t)n : 0), &n) ==
		     1;
	if (ok && enc)
		ok = EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG,
		                         TIER_SEAL_TAG_LEN, tag) == 1;
	EVP_CIPHER_CTX_free(c);
	return ok ? 0 : -1;
}

int tier_seal(unsigned char *out, const tier_keys *k, const void *ad,
              size_t ad_len, const void *in, size_t len)
{
	if (len > INT32_MAX || ad_len > INT32_MAX)
		return tier_error_set(TIER_EUSAGE, "cannot seal %zu bytes",
		                      len);
	if (RAND_bytes(out, TIER_SEAL_NONCE_LEN) != 1 ||
	    gcm(1, out + TIER_SEAL_NONCE_LEN, k->data, out, ad, ad_len, in, len,
	        out + TIER_SEAL_NONCE_LEN + len) < 0)
		return ossl_fail("seal");
	return 0;
}

int tier_unseal(unsigned char *out, const tier_keys *k, const void *ad,
                size_t ad_len, const void *in, size_t len)
{
	const unsigned char *p = in;
	if (len < TIER_SEAL_OVERHEAD || len > INT32_MAX || ad_len > INT32_MAX)
		return tier_error_set(TIER_ECORRUPT,
		                      "sealed object of %zu bytes is too short",
		                      len);
	len -= TIER_SEAL_OVERHEAD;
	if (gcm(0, out, k->data, p, ad, ad_len, p + TIER_SEAL_NONCE_LEN, len,
	        (unsigned char *)p + TIER_SEAL_NONCE_LEN + len) < 0) {
		ERR_clear_error();
		return tier_error_set(TIER_ECORRUPT,
		                      "sealed object fails authentication");
	}
	return 0;
}

/* One SIV pass (RFC 5297, one AD component). */
static int siv(int enc, unsigned char *out, const tier_keys *k, const void *ad,
               size_t ad_len, const unsigned char *in, size_t len,
               unsigned char *tag)
{
	EVP_CIPHER_CTX *c;
	int n = 0, ok;
	pthread_once(&fetch_once, fetch_ciphers);
	if (!siv_cipher || !(c = EVP_CIPHER_CTX_new()))
		return -1;
	ok = EVP_CipherInit_ex(c, siv_cipher, NULL, k->siv, NULL, enc) == 1 &&
	     (enc || EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_SET_TAG,
	                                 TIER_SEAL_DET_OVERHEAD, tag) == 1) &&
	     EVP_CipherUpdate(c, NULL, &n, ad, (int)ad_len) == 1 &&
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
	if (len > INT32_MAX || ad_len > INT32_MAX)
		return tier_error_set(TIER_EUSAGE, "cannot seal %zu bytes",
		                      len);
	/* one spare byte: EVP may touch out even for an empty input */
	if (tier_buf_grow(out, len + TIER_SEAL_DET_OVERHEAD + 1) < 0)
		return TIER_ERROR;
	p = (unsigned char *)out->ptr + out->size;
	if (siv(1, p + TIER_SEAL_DET_OVERHEAD, k, ad, ad_len, in, len, p) < 0)
		return ossl_fail("seal");
	out->size += len + TIER_SEAL_DET_OVERHEAD;
	out->ptr[out->size] = '\0';
	return 0;
}

int tier_unseal_det(tier_buf *out, const tier_keys *k, const void *ad,
                    size_t ad_len, const void *in, size_t len)
{
	unsigned char tag[TIER_SEAL_DET_OVERHEAD];
	const unsigned char *s = in;
	unsigned char *p;
	if (len < TIER_SEAL_DET_OVERHEAD || len > INT32_MAX ||
	    ad_len > INT32_MAX)
		return tier_error_set(TIER_ECORRUPT,
		                      "sealed object of %zu bytes is too short",
		                      len);
	len -= TIER_SEAL_DET_OVERHEAD;
	if (tier_buf_grow(out, len + 1) < 0)
		return TIER_ERROR;
	memcpy(tag, s, sizeof(tag));
	p = (unsigned char *)out->ptr + out->size;
	if (siv(0, p, k, ad, ad_len, s + TIER_SEAL_DET_OVERHEAD, len, tag) <
	    0) {
		OPENSSL_cleanse(p, len);
		ERR_clear_error();
		return tier_error_set(TIER_ECORRUPT,
		                      "sealed object fails authentication");
	}
	out->size += len;
	out->ptr[out->size] = '\0';
	return 0;
}

int tier_chunk_id(unsigned char out[32], const tier_keys *k, const void *data,
                  size_t len)
{
	unsigned int n = 32;
	if (!k)
		return tier_sha256(out, data, len);
	if (!HMAC(EVP_sha256(), k->id, (int)sizeof(k->id), data, len, out, &n))
		return ossl_fail("compute a chunk id");
	return 0;
}
