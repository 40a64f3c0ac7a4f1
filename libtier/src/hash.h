/*
 * SHA-256 for chunk, pack and object ids, through OpenSSL's EVP interface
 * (libcrypto picks the fastest code for the CPU, SHA-NI included).
 * Internal header.
 */
#ifndef TIER_HASH_H
#define TIER_HASH_H

#include <stddef.h>

/** The algorithm name a vault records; ids are its digests. */
#define TIER_HASH_ALGO "sha256"
/** Bytes in an id. */
#define TIER_HASH_LEN 32
/** Hex digits in an id (the string needs one more byte for the NUL). */
#define TIER_HASH_HEXLEN 64

/**
 * One-shot SHA-256 of data.  Thread-safe.  Fails (TIER_ERROR) only when
 * libcrypto cannot give us the algorithm or memory.
 */
int tier_sha256(unsigned char out[TIER_HASH_LEN], const void *data, size_t len);

/**
 * Incremental SHA-256.  Start from TIER_SHA256_CTX_INIT; init() may be
 * called again after final() to hash something else without reallocating.
 * One context per thread at a time.
 */
typedef struct {
	void *md; /* EVP_MD_CTX, allocated by the first init() */
} tier_sha256_ctx;

#define TIER_SHA256_CTX_INIT \
	{                    \
		NULL         \
	}

int tier_sha256_init(tier_sha256_ctx *ctx);
int tier_sha256_update(tier_sha256_ctx *ctx, const void *data, size_t len);
int tier_sha256_final(tier_sha256_ctx *ctx, unsigned char out[TIER_HASH_LEN]);
/** Release the context (no-op on one never initialised). */
void tier_sha256_dispose(tier_sha256_ctx *ctx);

/**
 * Lowercase hex of len bytes into out, which holds 2 * len + 1 bytes
 * (NUL-terminated).  Returns out, so it can sit inside a printf.
 */
char *tier_hex(char *out, const unsigned char *bin, size_t len);

/**
 * Decode exactly 2 * len hex digits (either case) from the NUL-terminated
 * string hex into len bytes.  Anything else (wrong length, a non-hex
 * character) is TIER_EUSAGE with a message quoting the input; out is then
 * left untouched.
 */
int tier_unhex(unsigned char *out, size_t len, const char *hex);

/** Like tier_unhex on a string of known length (need not be NUL-terminated). */
int tier_unhexn(unsigned char *out, size_t len, const char *hex, size_t hexlen);

#endif
