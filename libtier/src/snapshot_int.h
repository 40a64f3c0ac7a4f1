/*
 * The sealed forms of snapshot names and nodes (snapshot_seal.c), behind
 * the keyed entry points of snapshot.h.
 */
#ifndef TIER_SNAPSHOT_INT_H
#define TIER_SNAPSHOT_INT_H

#include <stddef.h>

#include "crypto/seal.h"
#include "util/buf.h"

/** base64url without padding (RFC 4648 section 5), appended to out. */
int tier_b64url_encode(tier_buf *out, const unsigned char *in, size_t len);
/** Its strict inverse, appended to out: TIER_ECORRUPT for any other
 *  spelling. */
int tier_b64url_decode(tier_buf *out, const char *in, size_t len);

/** A file name as the entry name of an encrypted vault's tree. */
int tier_snap_name_seal(tier_buf *out, const tier_keys *k, const char *name,
                        size_t len);
/** Inverse; TIER_ECORRUPT naming the entry when it does not open to one
 *  path component. */
int tier_snap_name_open(tier_buf *out, const tier_keys *k, const char *entry);
/** A node's text as the blob of an encrypted vault. */
int tier_node_seal(tier_buf *out, const tier_keys *k, const tier_buf *text);
/** A node blob's text; TIER_ECORRUPT when it does not authenticate. */
int tier_node_open(tier_buf *out, const tier_keys *k, const char *data,
                   size_t len);

/**
 * An encrypted vault's trailer value: "sealed:" + base64url of the
 * deterministic seal of value, the trailer's key bound as associated data
 * (a path cannot pass for a message).  Equal values give equal text, so a
 * push still finds its base by comparing Tier-Path trailers.
 */
int tier_trailer_seal(tier_buf *out, const tier_keys *k, const char *key,
                      const char *value, size_t len);
/** Its inverse into out: TIER_ENOTFOUND when value is not sealed,
 *  TIER_ECORRUPT when it does not open. */
int tier_trailer_open(tier_buf *out, const tier_keys *k, const char *key,
                      const char *value);

#endif
