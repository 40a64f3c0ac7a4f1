#include "hash.h"

#include <pthread.h>
#include <string.h>

#include <openssl/evp.h>

#include "util/error.h"
#include "util/text.h"

/*
 * Fetch the digest once: with OpenSSL 3 every EVP_sha256()-based call does
 * an implicit provider lookup, which shows up when hashing small objects.
 */
static EVP_MD *sha256_md;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;

static void sha256_fetch(void)
{
	sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
}

static const EVP_MD *sha256_get(void)
{
	pthread_once(&sha256_once, sha256_fetch);
	if (!sha256_md)
		tier_error_set(TIER_ERROR, "cannot load sha256 from libcrypto");
	return sha256_md;
}

int tier_sha256(unsigned char out[TIER_HASH_LEN], const void *data, size_t len)
{
	const EVP_MD *md = sha256_get();
	unsigned int n = 0;
	if (!md)
		return TIER_ERROR;
	if (!EVP_Digest(data, len, out, &n, md, NULL) || n != TIER_HASH_LEN)
		return tier_error_set(TIER_ERROR, "sha256 failed in libcrypto");
	return 0;
}

int tier_sha256_init(tier_sha256_ctx *ctx)
{
	const EVP_MD *md = sha256_get();
	if (!md)
		return TIER_ERROR;
	if (!ctx->md && !(ctx->md = EVP_MD_CTX_new()))
		return tier_error_set(TIER_ERROR, "out of memory");
	if (!EVP_DigestInit_ex(ctx->md, md, NULL))
		return tier_error_set(TIER_ERROR,
		                      "sha256 init failed in libcrypto");
	return 0;
}

int tier_sha256_update(tier_sha256_ctx *ctx, const void *data, size_t len)
{
	if (!ctx->md)
		return tier_error_set(TIER_ERROR,
		                      "sha256 context used before init");
	if (len && !EVP_DigestUpdate(ctx->md, data, len))
		return tier_error_set(TIER_ERROR,
		                      "sha256 update failed in libcrypto");
	return 0;
}

int tier_sha256_final(tier_sha256_ctx *ctx, unsigned char out[TIER_HASH_LEN])
{
	unsigned int n = 0;
	if (!ctx->md)
		return tier_error_set(TIER_ERROR,
		                      "sha256 context used before init");
	if (!EVP_DigestFinal_ex(ctx->md, out, &n) || n != TIER_HASH_LEN)
		return tier_error_set(TIER_ERROR,
		                      "sha256 final failed in libcrypto");
	return 0;
}

void tier_sha256_dispose(tier_sha256_ctx *ctx)
{
	if (!ctx)
		return;
	EVP_MD_CTX_free(ctx->md);
	ctx->md = NULL;
}

char *tier_hex(char *out, const unsigned char *bin, size_t len)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < len; i++) {
		out[2 * i] = digits[bin[i] >> 4];
		out[2 * i + 1] = digits[bin[i] & 0xf];
	}
	out[2 * len] = '\0';
	return out;
}

int tier_unhexn(unsigned char *out, size_t len, const char *hex, size_t hexlen)
{
	/* Quote at most a screenful of the bad input, and never a newline. */
	int shown = hexlen > 80 ? 80 : (int)hexlen;
	for (int i = 0; i < shown; i++)
		if ((unsigned char)hex[i] < 0x20 || hex[i] == 0x7f) {
			shown = i;
			break;
		}
	if (hexlen != 2 * len)
		return tier_error_set(
		        TIER_EUSAGE,
		        "invalid id '%.*s%s': expected %zu hex digits, got %zu",
		        shown, hex, (size_t)shown < hexlen ? "..." : "",
		        2 * len, hexlen);
	for (size_t i = 0; i < hexlen; i++)
		if (tier_hexval((unsigned char)hex[i]) < 0)
			return tier_error_set(
			        TIER_EUSAGE,
			        "invalid id '%.*s%s': not a hex digit at position %zu",
			        shown, hex, (size_t)shown < hexlen ? "..." : "",
			        i + 1);
	for (size_t i = 0; i < len; i++)
		out[i] = (unsigned char)(tier_hexval((unsigned char)hex[2 * i])
		                                 << 4 |
		                         tier_hexval((
		                                 unsigned char)hex[2 * i + 1]));
	return 0;
}

int tier_unhex(unsigned char *out, size_t len, const char *hex)
{
	if (!hex)
		return tier_error_set(TIER_EUSAGE, "invalid id: none given");
	return tier_unhexn(out, len, hex, strlen(hex));
}
