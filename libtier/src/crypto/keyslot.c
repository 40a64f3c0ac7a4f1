/* Key slots (keyslot.h): scrypt from OpenSSL, the wrap is tier_seal. */
#include "crypto/keyslot.h"

#include <inttypes.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"
#include "util/error.h"

#define MASTER_LEN     (TIER_KEY_DATA_LEN + TIER_KEY_SIV_LEN + TIER_KEY_ID_LEN)
#define SALT_LEN       32
#define WRAPPED_LEN    (MASTER_LEN + TIER_SEAL_OVERHEAD)
#define KDF_MAX_MEMORY (1ull << 30)

void tier_kdf_params_for_memory(tier_kdf_params *out, uint64_t bytes)
{
	uint64_t n = 1024;
	if (!bytes)
		bytes = TIER_KDF_DEFAULT_MEMORY;
	if (bytes > KDF_MAX_MEMORY)
		bytes = KDF_MAX_MEMORY;
	/* the largest power of two with 128 * N * 8 <= bytes, at least 1 MiB */
	while (n * 2 * 8 * 128 <= bytes)
		n *= 2;
	out->n = n;
	out->r = 8;
	out->p = 1;
}

/* The bounds a slot from a tier must keep before we run its KDF. */
static int params_ok(const tier_kdf_params *p)
{
	return p->n >= 1024 && p->n <= (1u << 22) && !(p->n & (p->n - 1)) &&
	       p->r >= 1 && p->r <= 32 && p->p >= 1 && p->p <= 16 &&
	       p->n * p->r * 128 <= KDF_MAX_MEMORY;
}

int tier_kdf_derive(unsigned char *out, size_t outlen, const char *pw,
                    size_t pwlen, const unsigned char *salt, size_t saltlen,
                    const tier_kdf_params *p)
{
	uint64_t maxmem;
	unsigned long e;
	char msg[256];
	if (!params_ok(p))
		return tier_error_set(TIER_EUNSUPPORTED,
		                      "scrypt parameters N=%" PRIu64
		                      " r=%u p=%u out of bounds",
		                      p->n, p->r, p->p);
	/* what OpenSSL's scrypt allocates, 128 r (N + 2) + 128 r p, and some
	 * slack: its default limit (32 MiB) is below our default cost */
	maxmem = 128 * p->r * (p->n + 2) + 128ull * p->r * p->p + (1u << 20);
	if (EVP_PBE_scrypt(pw ? pw : "", pwlen, salt, saltlen, p->n, p->r, p->p,
	                   maxmem, out, outlen) == 1)
		return 0;
	e = ERR_get_error();
	ERR_error_string_n(e, msg, sizeof(msg));
	ERR_clear_error();
	OPENSSL_cleanse(out, outlen);
	return tier_error_set(TIER_ERROR,
	                      "cannot derive a key: OpenSSL error %s",
	                      e ? msg : "(none queued)");
}

static void clean_field(char *out, size_t cap, const char *in)
{
	size_t i = 0;
	for (; in && in[i] && i + 1 < cap; i++) {
		unsigned char c = (unsigned char)in[i];
		out[i] = (c <= 0x20 || c == 0x7f) ? '_' : (char)c;
	}
	out[i] = '\0';
	if (!i && cap > 1)
		snprintf(out, cap, "unknown");
}

/* The wrapping key as a tier_keys whose data key it is. */
static int wrap_key(tier_keys *wk, const char *pw, size_t pwlen,
                    const unsigned char *salt, const tier_kdf_params *p)
{
	memset(wk, 0, sizeof(*wk));
	return tier_kdf_derive(wk->data, sizeof(wk->data), pw, pwlen, salt,
	                       SALT_LEN, p);
}

static void master_bytes(unsigned char *m, const tier_keys *k)
{
	memcpy(m, k->data, TIER_KEY_DATA_LEN);
	memcpy(m + TIER_KEY_DATA_LEN, k->siv, TIER_KEY_SIV_LEN);
	memcpy(m + TIER_KEY_DATA_LEN + TIER_KEY_SIV_LEN, k->id,
	       TIER_KEY_ID_LEN);
}

/* The slot's text up to and including the "user" line. */
static int put_header(tier_buf *out, const char *id, const unsigned char *salt,
                      const tier_kdf_params *p, int64_t created,
                      const char *host, const char *user)
{
	char salt_hex[2 * SALT_LEN + 1], h[256], u[256];
	tier_hex(salt_hex, salt, SALT_LEN);
	clean_field(h, sizeof(h), host);
	clean_field(u, sizeof(u), user);
	return tier_buf_printf(out,
	                       "tier-key 1\nid %s\nkdf scrypt N=%" PRIu64
	                       " r=%u p=%u\nsalt %s\ncreated %" PRId64
	                       "\nhost %s\nuser %s\n",
	                       id, p->n, p->r, p->p, salt_hex, created, h, u);
}

int tier_keyslot_create(tier_buf *out, char id_out[17], const tier_keys *master,
                        const char *password, size_t password_len,
                        const tier_kdf_params *params, const char *host,
                        const char *user, int64_t created)
{
	unsigned char id[8], salt[SALT_LEN], m[MASTER_LEN], w[WRAPPED_LEN];
	char id_hex[17], wrapped_hex[2 * WRAPPED_LEN + 1];
	tier_keys wk;
	size_t start = out->size;
	int rc;
	if (!params_ok(params))
		return tier_error_set(TIER_EUSAGE,
		                      "scrypt parameters N=%" PRIu64
		                      " r=%u p=%u out of bounds",
		                      params->n, params->r, params->p);
	if (created < 0)
		return tier_error_set(TIER_EUSAGE,
		                      "key slot time %" PRId64 " is negative",
		                      created);
	if (RAND_bytes(id, sizeof(id)) != 1 ||
	    RAND_bytes(salt, sizeof(salt)) != 1) {
		ERR_clear_error();
		return tier_error_set(TIER_ERROR, "no random bytes for a key");
	}
	tier_hex(id_hex, id, sizeof(id));
	if ((rc = put_header(out, id_hex, salt, params, created, host, user)) <
	            0 ||
	    (rc = wrap_key(&wk, password, password_len, salt, params)) < 0)
		goto fail;
	master_bytes(m, master);
	rc = tier_seal(w, &wk, out->ptr + start, out->size - start, m,
	               sizeof(m));
	OPENSSL_cleanse(m, sizeof(m));
	tier_keys_wipe(&wk);
	if (rc < 0)
		goto fail;
	tier_hex(wrapped_hex, w, sizeof(w));
	if ((rc = tier_buf_printf(out, "wrapped %s\n", wrapped_hex)) < 0)
		goto fail;
	memcpy(id_out, id_hex, sizeof(id_hex));
	return 0;
fail:
	/* nothing half-made stays in out */
	if (out->ptr) {
		out->size = start;
		out->ptr[start] = '\0';
	}
	return rc;
}

/* ---- parsing ------------------------------------------------------------ */

struct slot {
	tier_keyslot_info info;
	tier_kdf_params p;
	unsigned char salt[SALT_LEN];
	unsigned char wrapped[WRAPPED_LEN];
	size_t ad_len; /* bytes before "wrapped " */
};

static int bad(const char *why)
{
	return tier_error_set(TIER_ECORRUPT, "bad key slot: %s", why);
}

/* The value of the line that must come next, "key value\n". */
static int line(const char **p, const char *end, const char *key,
                const char **val, size_t *vlen)
{
	size_t kl = strlen(key);
	const char *nl = memchr(*p, '\n', (size_t)(end - *p));
	if (!nl || (size_t)(nl - *p) <= kl + 1 || memcmp(*p, key, kl) ||
	    (*p)[kl] != ' ')
		return tier_error_set(TIER_ECORRUPT,
		                      "bad key slot: no '%s' line", key);
	*val = *p + kl + 1;
	*vlen = (size_t)(nl - *val);
	*p = nl + 1;
	return 0;
}

/* A host or user name: what clean_field writes, nothing else. */
static int copy_field(char *out, size_t cap, const char *v, size_t len,
                      const char *what)
{
	if (len >= cap)
		return tier_error_set(TIER_ECORRUPT,
		                      "bad key slot: %s too long", what);
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)v[i];
		if (c <= 0x20 || c == 0x7f)
			return tier_error_set(
			        TIER_ECORRUPT,
			        "bad key slot: %s holds a control byte", what);
	}
	memcpy(out, v, len);
	out[len] = '\0';
	return 0;
}

/* Exactly 2 * n lowercase hex digits, as tier_hex writes them. */
static int lower_hex(unsigned char *out, size_t n, const char *v, size_t len)
{
	if (len != 2 * n)
		return -1;
	for (size_t i = 0; i < len; i++)
		if (!((v[i] >= '0' && v[i] <= '9') ||
		      (v[i] >= 'a' && v[i] <= 'f')))
			return -1;
	return out ? tier_unhexn(out, n, v, len) : 0;
}

/* "<name>=<decimal>" at *p, no sign, no leading zero, at most max. */
static int param(const char **p, const char *end, const char *name,
                 uint64_t max, uint64_t *out)
{
	size_t nl = strlen(name);
	const char *q = *p;
	uint64_t x = 0;
	if ((size_t)(end - q) < nl + 2 || memcmp(q, name, nl) || q[nl] != '=')
		return -1;
	q += nl + 1;
	if (*q == '0' || *q < '0' || *q > '9')
		return -1;
	for (; q < end && *q >= '0' && *q <= '9'; q++)
		if ((x = x * 10 + (uint64_t)(*q - '0')) > max)
			return -1;
	*out = x;
	*p = q;
	return 0;
}

static int parse_kdf(struct slot *s, const char *v, size_t len)
{
	const char *p = v, *end = v + len;
	uint64_t n, r, pp;
	if (len < 7 || memcmp(v, "scrypt ", 7)) {
		size_t nl = 0;
		while (nl < len && nl < 32 && v[nl] > 0x20 && v[nl] < 0x7f)
			nl++;
		return tier_error_set(TIER_EUNSUPPORTED,
		                      "key slot uses an unknown kdf '%.*s'",
		                      (int)nl, v);
	}
	p += 7;
	if (param(&p, end, "N", 1u << 22, &n) < 0 || p == end || *p++ != ' ' ||
	    param(&p, end, "r", 32, &r) < 0 || p == end || *p++ != ' ' ||
	    param(&p, end, "p", 16, &pp) < 0 || p != end)
		return bad("kdf parameters");
	s->p.n = n;
	s->p.r = (uint32_t)r;
	s->p.p = (uint32_t)pp;
	if (!params_ok(&s->p))
		return bad("scrypt parameters out of bounds");
	snprintf(s->info.kdf, sizeof(s->info.kdf), "%.*s", (int)len, v);
	return 0;
}

static int parse_created(int64_t *out, const char *v, size_t len)
{
	int64_t x = 0;
	if (!len || len > 18 || (v[0] == '0' && len > 1))
		return bad("created");
	for (size_t i = 0; i < len; i++) {
		if (v[i] < '0' || v[i] > '9')
			return bad("created");
		x = x * 10 + (v[i] - '0');
	}
	*out = x;
	return 0;
}

static int parse_version(const char *blob, size_t len)
{
	size_t i = 9;
	if (len < 11 || memcmp(blob, "tier-key ", 9))
		return bad("no 'tier-key' header");
	if (!memcmp(blob, "tier-key 1\n", 11))
		return 0;
	while (i < len && i < 20 && blob[i] >= '0' && blob[i] <= '9')
		i++;
	if (i == 9 || i == len || blob[i] != '\n')
		return bad("no 'tier-key' header");
	return tier_error_set(TIER_EUNSUPPORTED,
	                      "key slot of version %.*s (this libtier knows 1)",
	                      (int)(i - 9), blob + 9);
}

static int parse(struct slot *s, const char *blob, size_t len)
{
	const char *p = blob + 11, *end = blob + len, *v;
	size_t vl;
	int rc;
	memset(s, 0, sizeof(*s));
	if (len > TIER_KEYSLOT_MAX)
		return bad("more than 4096 bytes");
	if ((rc = parse_version(blob, len)) < 0)
		return rc;
	if ((rc = line(&p, end, "id", &v, &vl)) < 0)
		return rc;
	if (lower_hex(NULL, 8, v, vl) < 0)
		return bad("id is not 16 hex digits");
	memcpy(s->info.id, v, vl);
	if ((rc = line(&p, end, "kdf", &v, &vl)) < 0 ||
	    (rc = parse_kdf(s, v, vl)) < 0 ||
	    (rc = line(&p, end, "salt", &v, &vl)) < 0)
		return rc;
	if (lower_hex(s->salt, SALT_LEN, v, vl) < 0)
		return bad("salt is not 64 hex digits");
	if ((rc = line(&p, end, "created", &v, &vl)) < 0 ||
	    (rc = parse_created(&s->info.created, v, vl)) < 0 ||
	    (rc = line(&p, end, "host", &v, &vl)) < 0 ||
	    (rc = copy_field(s->info.host, sizeof(s->info.host), v, vl,
	                     "host")) < 0 ||
	    (rc = line(&p, end, "user", &v, &vl)) < 0 ||
	    (rc = copy_field(s->info.user, sizeof(s->info.user), v, vl,
	                     "user")) < 0)
		return rc;
	s->ad_len = (size_t)(p - blob);
	if ((rc = line(&p, end, "wrapped", &v, &vl)) < 0)
		return rc;
	if (lower_hex(s->wrapped, WRAPPED_LEN, v, vl) < 0)
		return bad("wrapped key is not 312 hex digits");
	if (p != end)
		return bad("bytes after the wrapped key");
	return 0;
}

int tier_keyslot_info_parse(tier_keyslot_info *out, const char *blob,
                            size_t len)
{
	struct slot s;
	int rc = parse(&s, blob, len);
	if (rc == 0)
		*out = s.info;
	return rc;
}

int tier_keyslot_open(tier_keys *out, const char *blob, size_t len,
                      const char *password, size_t password_len)
{
	struct slot s;
	unsigned char m[MASTER_LEN];
	tier_keys wk;
	int rc;
	if ((rc = parse(&s, blob, len)) < 0)
		return rc;
	if ((rc = wrap_key(&wk, password, password_len, s.salt, &s.p)) < 0)
		return rc;
	rc = tier_unseal(m, &wk, blob, s.ad_len, s.wrapped, WRAPPED_LEN);
	tier_keys_wipe(&wk);
	if (rc == TIER_ECORRUPT)
		return tier_error_set(TIER_EAUTH, "wrong password");
	if (rc < 0)
		return rc;
	memcpy(out->data, m, TIER_KEY_DATA_LEN);
	memcpy(out->siv, m + TIER_KEY_DATA_LEN, TIER_KEY_SIV_LEN);
	memcpy(out->id, m + TIER_KEY_DATA_LEN + TIER_KEY_SIV_LEN,
	       TIER_KEY_ID_LEN);
	OPENSSL_cleanse(m, sizeof(m));
	return 0;
}
