/*
 * Sealing for encrypted vaults (SPEC section 8, docs/crypto.md): the one
 * place libtier calls an AEAD or a keyed hash.  Layer 1 (format): it knows
 * bytes and keys, not tiers.  A vault without encryption has no tier_keys
 * (NULL everywhere below means "plaintext vault": callers branch on it).
 *
 * Two seals, chosen per kind of object:
 *  - randomised, AES-256-GCM: nonce (12 bytes from RAND_bytes) || ciphertext
 *    || tag (16).  For chunks and data-pack indexes: unique data, no need to
 *    give equal plaintexts equal bytes.
 *  - deterministic, AES-256-SIV (RFC 5297): tag/IV (16) || ciphertext.  The
 *    same (ad, plaintext) gives the same bytes, so unchanged snapshot trees,
 *    node blobs and names keep their git ids (dedup and cheap diffs stay);
 *    it reveals only that two sealed things are equal.
 * Associated data binds a sealed object to where it belongs (a chunk to its
 * chunk id, a name to its role), so a tier owner cannot swap two of them.
 * Open failing authentication is TIER_ECORRUPT: damage on that tier, read
 * the next one (R2).
 */
#ifndef TIER_CRYPTO_SEAL_H
#define TIER_CRYPTO_SEAL_H

#include <stddef.h>

#include "util/buf.h"

#define TIER_KEY_DATA_LEN   32 /* AES-256-GCM: chunks, pack indexes */
#define TIER_KEY_SIV_LEN    64 /* AES-256-SIV: trees, nodes, names, paths */
#define TIER_KEY_ID_LEN     32 /* HMAC-SHA256: chunk ids */
#define TIER_SEAL_NONCE_LEN 12
#define TIER_SEAL_TAG_LEN   16
/** Bytes a randomised seal adds. */
#define TIER_SEAL_OVERHEAD (TIER_SEAL_NONCE_LEN + TIER_SEAL_TAG_LEN)
/** Bytes a deterministic seal adds. */
#define TIER_SEAL_DET_OVERHEAD 16

/** The vault's master key, as unwrapped from a key blob (keys.c). */
typedef struct tier_keys {
	unsigned char data[TIER_KEY_DATA_LEN];
	unsigned char siv[TIER_KEY_SIV_LEN];
	unsigned char id[TIER_KEY_ID_LEN];
} tier_keys;

/** Fill k with fresh random keys (tier-init). */
int tier_keys_generate(tier_keys *k);
/** Overwrite k (OPENSSL_cleanse) before it is freed. */
void tier_keys_wipe(tier_keys *k);

/**
 * Randomised seal of in[0..len) into out (len + TIER_SEAL_OVERHEAD bytes,
 * caller's memory: the pack writer seals in place of its own buffer).
 * Thread-safe.
 */
int tier_seal(unsigned char *out, const tier_keys *k, const void *ad,
              size_t ad_len, const void *in, size_t len);
/** Open what tier_seal made (len includes the overhead) into out (len -
 *  TIER_SEAL_OVERHEAD bytes).  TIER_ECORRUPT when it does not authenticate. */
int tier_unseal(unsigned char *out, const tier_keys *k, const void *ad,
                size_t ad_len, const void *in, size_t len);

/** Deterministic seal (AES-256-SIV), appended to out. */
int tier_seal_det(tier_buf *out, const tier_keys *k, const void *ad,
                  size_t ad_len, const void *in, size_t len);
/** Open a deterministic seal, appended to out; TIER_ECORRUPT when forged. */
int tier_unseal_det(tier_buf *out, const tier_keys *k, const void *ad,
                    size_t ad_len, const void *in, size_t len);

/**
 * A chunk's id: HMAC-SHA256 under k->id of its raw bytes (k NULL: plain
 * SHA-256, the unencrypted vault's id), so a tier owner cannot test for a
 * known file.  Thread-safe.
 */
int tier_chunk_id(unsigned char out[32], const tier_keys *k, const void *data,
                  size_t len);

#endif
