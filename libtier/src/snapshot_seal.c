/*
 * Snapshot trees of an encrypted vault (docs/crypto.md): every entry name
 * is the base64url text of a deterministic seal of the file name, and
 * every node blob is a deterministic seal of its text.  Deterministic, so
 * an unchanged file or directory keeps its git id: push dedups trees and
 * tier-log diffs them as cheaply as plaintext ones.
 *
 * base64url by hand: OpenSSL's EVP_EncodeBlock writes '/', which a tree
 * entry name cannot hold, and its decoder accepts several spellings of
 * one value (a reader must refuse all but the canonical one).
 */
#include "snapshot.h"
#include "snapshot_int.h"

#include <string.h>

#include "util/error.h"
#include "util/text.h"

static const char b64[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static int b64_value(unsigned char c)
{
	const char *p = c ? strchr(b64, c) : NULL;
	return p ? (int)(p - b64) : -1;
}

int tier_b64url_encode(tier_buf *out, const unsigned char *in, size_t len)
{
	uint32_t acc = 0;
	int bits = 0;
	if (tier_buf_grow(out, (len * 4 + 2) / 3 + 1) < 0)
		return TIER_ERROR;
	for (size_t i = 0; i < len; i++) {
		acc = (acc << 8) | in[i];
		bits += 8;
		while (bits >= 6) {
			bits -= 6;
			tier_buf_putc(out, b64[(acc >> bits) & 63]);
		}
	}
	if (bits > 0)
		tier_buf_putc(out, b64[(acc << (6 - bits)) & 63]);
	return 0;
}

/* Strict: only the spelling encode makes (no padding, zero spare bits). */
int tier_b64url_decode(tier_buf *out, const char *in, size_t len)
{
	uint32_t acc = 0;
	int bits = 0;
	if (len % 4 == 1)
		return TIER_ECORRUPT;
	for (size_t i = 0; i < len; i++) {
		int v = b64_value((unsigned char)in[i]);
		if (v < 0)
			return TIER_ECORRUPT;
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (tier_buf_putc(out, (char)((acc >> bits) & 0xff)) <
			    0)
				return TIER_ERROR;
		}
	}
	if (bits > 0 && (acc & ((1u << bits) - 1)))
		return TIER_ECORRUPT;
	return 0;
}

/* What a sealed thing is, bound into its seal: a name cannot be made to
 * pass for a node, nor a node for a name. */
#define AD_NAME "tier-name 1"
#define AD_NODE "tier-node 1"

int tier_snap_name_seal(tier_buf *out, const tier_keys *k, const char *name,
                        size_t len)
{
	tier_buf sealed = TIER_BUF_INIT;
	int rc;
	tier_buf_clear(out);
	if (len == 0 || memchr(name, '/', len) || memchr(name, '\0', len))
		return tier_error_set(TIER_EUSAGE,
		                      "a file name cannot be empty or hold "
		                      "'/' or NUL");
	rc = tier_seal_det(&sealed, k, AD_NAME, strlen(AD_NAME), name, len);
	if (rc == 0)
		rc = tier_b64url_encode(out, (const unsigned char *)sealed.ptr,
		                        sealed.size);
	tier_buf_dispose(&sealed);
	return rc;
}

int tier_snap_name_open(tier_buf *out, const tier_keys *k, const char *entry)
{
	tier_buf raw = TIER_BUF_INIT;
	const char *why = NULL;
	int rc = tier_b64url_decode(&raw, entry, strlen(entry));
	tier_buf_clear(out);
	if (rc == TIER_ECORRUPT ||
	    (rc == 0 && raw.size <= TIER_SEAL_DET_OVERHEAD))
		why = "is not a sealed name";
	else if (rc == 0 && tier_unseal_det(out, k, AD_NAME, strlen(AD_NAME),
	                                    raw.ptr, raw.size) < 0)
		why = "fails authentication";
	else if (rc == 0 &&
	         (out->size == 0 || memchr(out->ptr, '\0', out->size) ||
	          memchr(out->ptr, '/', out->size) ||
	          !strcmp(tier_buf_cstr(out), ".") ||
	          !strcmp(tier_buf_cstr(out), "..")))
		why = "opens to a name that is not one path component";
	tier_buf_dispose(&raw);
	if (why) {
		tier_buf_clear(out);
		return tier_error_set(TIER_ECORRUPT,
		                      "bad tree entry name '%s': %s",
		                      tier_quote_name(entry), why);
	}
	return rc;
}

int tier_node_seal(tier_buf *out, const tier_keys *k, const tier_buf *text)
{
	tier_buf_clear(out);
	return tier_seal_det(out, k, AD_NODE, strlen(AD_NODE), text->ptr,
	                     text->size);
}

int tier_node_open(tier_buf *out, const tier_keys *k, const char *data,
                   size_t len)
{
	tier_buf_clear(out);
	if (len < TIER_SEAL_DET_OVERHEAD ||
	    tier_unseal_det(out, k, AD_NODE, strlen(AD_NODE), data, len) < 0) {
		tier_buf_clear(out);
		return tier_error_set(TIER_ECORRUPT,
		                      "node fails authentication");
	}
	return 0;
}

#define TRAILER_SEALED "sealed:"

int tier_trailer_seal(tier_buf *out, const tier_keys *k, const char *key,
                      const char *value, size_t len)
{
	tier_buf sealed = TIER_BUF_INIT;
	int rc = tier_seal_det(&sealed, k, key, strlen(key), value, len);
	if (rc == 0 && tier_buf_puts(out, TRAILER_SEALED) < 0)
		rc = TIER_ERROR;
	if (rc == 0)
		rc = tier_b64url_encode(out, (const unsigned char *)sealed.ptr,
		                        sealed.size);
	tier_buf_dispose(&sealed);
	return rc;
}

int tier_trailer_open(tier_buf *out, const tier_keys *k, const char *key,
                      const char *value)
{
	tier_buf raw = TIER_BUF_INIT;
	size_t pre = strlen(TRAILER_SEALED);
	int rc;
	tier_buf_clear(out);
	if (strncmp(value, TRAILER_SEALED, pre) != 0)
		return TIER_ENOTFOUND;
	rc = tier_b64url_decode(&raw, value + pre, strlen(value + pre));
	if (rc == 0 &&
	    (raw.size < TIER_SEAL_DET_OVERHEAD ||
	     tier_unseal_det(out, k, key, strlen(key), raw.ptr, raw.size) < 0))
		rc = TIER_ECORRUPT;
	if (rc == 0 && memchr(out->ptr, '\0', out->size))
		rc = TIER_ECORRUPT;
	tier_buf_dispose(&raw);
	if (rc == TIER_ECORRUPT) {
		tier_buf_clear(out);
		return tier_error_set(
		        TIER_ECORRUPT,
		        "a sealed %s trailer fails authentication", key);
	}
	return rc;
}
