/*
 * The keys of an encrypted vault (SPEC section 8, docs/crypto.md): the
 * master key is random, made once by tier-init, and kept in the log of
 * every tier as key slots, keys/<16 hex>, each wrapping it under one
 * password (crypto/keyslot.h).  A slot change is a logged write, so sync
 * carries it to a lagging tier like any other revision.
 */
#ifndef TIER_KEYS_H
#define TIER_KEYS_H

#include <git2.h>

#include "crypto/seal.h"
#include "tier/vault.h"

/**
 * After the probe: read the vault blob of the newest head this vault
 * knows (a tier's, else this installation's ref of one); for an encrypted
 * vault ask for the password and open a key slot with it.  0 with
 * tier_vault_keys() NULL for a plaintext vault (or one without a
 * revision yet); TIER_EAUTH "wrong password" when no slot opens;
 * TIER_EUSAGE when no password can be had.
 */
int tier_keys_load(tier_vault *v);

/**
 * tier-init of an encrypted vault: fresh keys into v, and the text of one
 * slot for the password (asked through the callback) into slot, named id.
 * Called before anything is written to a tier, so that a missing password
 * leaves the tiers untouched.
 */
int tier_keys_create(tier_vault *v, tier_buf *slot, char id[17],
                     uint64_t kdf_memory);
/** The keys/ tree of slots (texts and names), written to repo. */
int tier_keys_write_tree(git_oid *out, git_repository *repo,
                         const tier_buf *slots, const char (*ids)[17],
                         size_t n);

/** Ask the password callback (the bytes are the caller's to wipe/free). */
int tier_keys_ask(tier_vault *v, char **pw, size_t *len);
/** OPENSSL_cleanse and free a password. */
void tier_keys_forget_password(char *pw, size_t len);

#endif
