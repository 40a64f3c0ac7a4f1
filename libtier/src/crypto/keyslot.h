/*
 * A key slot: the vault's master key wrapped under one password (SPEC
 * section 8).  A text blob, one per password, kept in every tier's log as
 * keys/<id> (keys.c):
 *
 *   tier-key 1
 *   id <16 hex>
 *   kdf scrypt N=<n> r=<r> p=<p>
 *   salt <64 hex>
 *   created <unix seconds>
 *   host <name>
 *   user <name>
 *   wrapped <hex: AES-256-GCM seal of the 128-byte master key>
 *
 * The wrapping key is the first 32 bytes of scrypt(password, salt, N, r,
 * p); every byte before "wrapped" is the seal's associated data, so no
 * field can be changed unnoticed.  host and user have every byte <= 0x20
 * and 0x7f replaced by '_' (empty: "unknown", longer than 255: cut).
 *
 * A tier may be hostile: the parser takes exactly the text above (lines in
 * this order, lowercase hex, decimals without sign or leading zero, no
 * control bytes, at most TIER_KEYSLOT_MAX bytes) and bounds the KDF's cost
 * (2^10 <= N <= 2^22 a power of two, 1 <= r <= 32, 1 <= p <= 16,
 * 128 * N * r <= 1 GiB) before running it.  Layer 1: bytes and keys only.
 */
#ifndef TIER_CRYPTO_KEYSLOT_H
#define TIER_CRYPTO_KEYSLOT_H

#include <stddef.h>
#include <stdint.h>

#include "crypto/seal.h"
#include "util/buf.h"

typedef struct {
	uint64_t n;
	uint32_t r, p;
} tier_kdf_params;

#define TIER_KDF_DEFAULT_MEMORY (64u << 20)
/** Largest slot text accepted. */
#define TIER_KEYSLOT_MAX 4096

/** scrypt parameters for at most `bytes` of memory (128 * N * r, r = 8,
 *  p = 1, N the largest power of two that fits, but at least 1024 (1 MiB)
 *  and at most 2^20 (1 GiB)); 0: the default, 64 MiB. */
void tier_kdf_params_for_memory(tier_kdf_params *out, uint64_t bytes);

/** scrypt into out[0..outlen) (OpenSSL EVP_PBE_scrypt).  Parameters out
 *  of the bounds above: TIER_EUNSUPPORTED, nothing derived. */
int tier_kdf_derive(unsigned char *out, size_t outlen, const char *pw,
                    size_t pwlen, const unsigned char *salt, size_t saltlen,
                    const tier_kdf_params *p);

/** A new slot for master under password, appended to out; its id into
 *  id_out (16 hex + NUL).  TIER_EUSAGE for parameters out of bounds or a
 *  negative time; on any error out and id_out are as they were. */
int tier_keyslot_create(tier_buf *out, char id_out[17], const tier_keys *master,
                        const char *password, size_t password_len,
                        const tier_kdf_params *params, const char *host,
                        const char *user, int64_t created);

/**
 * Open a slot: 0 and *out filled; TIER_EAUTH when the password does not
 * open it; TIER_ECORRUPT (naming what is wrong) when malformed;
 * TIER_EUNSUPPORTED for another version or KDF.  *out untouched on error.
 */
int tier_keyslot_open(tier_keys *out, const char *blob, size_t len,
                      const char *password, size_t password_len);

typedef struct {
	char id[17];
	char kdf[64];
	int64_t created;
	char host[256];
	char user[256];
} tier_keyslot_info;

/** Parse a slot without opening it (tier-key list): TIER_ECORRUPT or
 *  TIER_EUNSUPPORTED as tier_keyslot_open, *out untouched on error. */
int tier_keyslot_info_parse(tier_keyslot_info *out, const char *blob,
                            size_t len);

#endif
