/* Key slots (keyslot.h): scrypt from OpenSSL, the wrap is tier_seal. */
#include "crypto/keyslot.h"

#include <inttypes.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"
#include "util/error.h"

#define MASTER_LEN  (TIER_KEY_DATA_LEN + TIER_KEY_SIV_LEN + TIER_KEY_ID_LEN)
#define SALT_LEN    32
#define WRAPPED_LEN (MASTER_LEN + TIER_SEAL_OVERHEAD)

void tier_kdf_params_for_memory(tier_kdf_params *out, uint64_t bytes)
{
	uint64_t n = 1024;
	if (!bytes)
		bytes = TIER_KDF_DEFAULT_MEMORY;
	while (n * 2 * 8 * 128 <= bytes && n < (1u << 22))
		n *= 2;
	out->n = n;
	out->r = 8;
	out->p = 1;
}

static int params_ok(const tier_kdf_params *p)
{
	return p->n >= 1024 && p->n <= (1u << 22) && !(p->n & (p->n - 1)) &&
	       p->r >= 1 && p->r <= 32 && p->p >= 1 && p->p <= 16 &&
	       p->n * p->r * 128 <= (1ull << 30);
}

int tier_kdf_derive(unsigned char *out, size_t outlen, const char *pw,
                    size_t pwlen, const unsigned char *salt, size_t saltlen,
                    const tier_kdf_params *p)
{
	uint64_t maxmem;
	if (!params_ok(p))
		return tier_error_set(TIER_EUNSUPPORTED,
		                      "scrypt parameters out of bounds");
	maxmem = 128 * p->n * p->r + 128ull * p->r * p->p + (1u << 20);
	if (EVP_PBE_scrypt(pw, pwlen, salt, saltlen, p->n, p->r, p->p, maxmem,
	                   out, outlen) != 1)
		return tier_error_set(TIER_ERROR,
		                      "scrypt failed (out of memory?)");
	return 0;
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

int tier_keyslot_create(tier_buf *out, char id_out[17], const tier_keys *master,
                        const char *password, size_t password_len,
                        const tier_kdf_params *params, const char *host,
                        const char *user, int64_t created)
{
	unsigned char id[8], salt[SALT_LEN], m[MASTER_LEN], w[WRAPPED_LEN];
	char salt_hex[2 * SALT_LEN + 1], h[256], u[256];
	char wrapped_hex[2 * WRAPPED_LEN + 1];
	tier_keys wk;
	size_t start = out->size;
	int rc;
	if (RAND_bytes(id, sizeof(id)) != 1 ||
	    RAND_bytes(salt, sizeof(salt)) != 1)
		return tier_error_set(TIER_ERROR, "no random bytes for a key");
	tier_hex(id_out, id, sizeof(id));
	tier_hex(salt_hex, salt, sizeof(salt));
	clean_field(h, sizeof(h), host);
	clean_field(u, sizeof(u), user);
	tier_buf_printf(out,
	                "tier-key 1\nid %s\nkdf scrypt N=%" PRIu64
	                " r=%u p=%u\nsalt %s\ncreated %" PRId64
	                "\nhost %s\nuser %s\n",
	                id_out, params->n, params->r, params->p, salt_hex,
	                created, h, u);
	if (!out->ptr)
		return TIER_ERROR;
	if ((rc = wrap_key(&wk, password, password_len, salt, params)) < 0)
		return rc;
	master_bytes(m, master);
	rc = tier_seal(w, &wk, out->ptr + start, out->size - start, m,
	               sizeof(m));
	OPENSSL_cleanse(m, sizeof(m));
	tier_keys_wipe(&wk);
	if (rc < 0)
		return rc;
	tier_hex(wrapped_hex, w, sizeof(w));
	tier_buf_printf(out, "wrapped %s\n", wrapped_hex);
	return out->ptr ? 0 : TIER_ERROR;
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

static int copy_field(char *out, size_t cap, const char *v, size_t len)
{
	if (len >= cap || memchr(v, ' ', len) || memchr(v, '\0', len))
		return bad("a field is too long or holds a space");
	memcpy(out, v, len);
	out[len] = '\0';
	return 0;
}

static int parse_kdf(struct slot *s, const char *v, size_t len)
{
	char buf[64], tail;
	unsigned long long n;
	unsigned r, p;
	if (len >= sizeof(buf))
		return bad("kdf line too long");
	memcpy(buf, v, len);
	buf[len] = '\0';
	if (strncmp(buf, "scrypt ", 7))
		return tier_error_set(TIER_EUNSUPPORTED,
		                      "key slot uses an unknown KDF");
	if (sscanf(buf, "scrypt N=%llu r=%u p=%u%c", &n, &r, &p, &tail) != 3)
		return bad("kdf parameters");
	s->p.n = n;
	s->p.r = r;
	s->p.p = p;
	if (!params_ok(&s->p))
		return bad("scrypt parameters out of bounds");
	snprintf(s->info.kdf, sizeof(s->info.kdf), "%s", buf);
	return 0;
}

static int parse_i64(int64_t *out, const char *v, size_t len)
{
	int64_t x = 0;
	if (!len || len > 18)
		return bad("created");
	for (size_t i = 0; i < len; i++) {
		if (v[i] < '0' || v[i] > '9')
			return bad("created");
		x = x * 10 + (v[i] - '0');
	}
	*out = x;
	return 0;
}

static int parse(struct slot *s, const char *blob, size_t len)
{
	const char *p = blob, *end = blob + len, *v;
	size_t vl;
	int rc;
	memset(s, 0, sizeof(*s));
	if (len > TIER_KEYSLOT_MAX)
		return bad("too long");
	if (len < 11 || memcmp(blob, "tier-key ", 9))
		return bad("no 'tier-key' header");
	if (memcmp(blob, "tier-key 1\n", 11))
		return tier_error_set(TIER_EUNSUPPORTED,
		                      "key slot of a newer version");
	p += 11;
	if ((rc = line(&p, end, "id", &v, &vl)) < 0 ||
	    (rc = copy_field(s->info.id, sizeof(s->info.id), v, vl)) < 0 ||
	    vl != 16 || (rc = line(&p, end, "kdf", &v, &vl)) < 0 ||
	    (rc = parse_kdf(s, v, vl)) < 0 ||
	    (rc = line(&p, end, "salt", &v, &vl)) < 0)
		return rc < 0 ? rc : bad("id");
	if (tier_unhexn(s->salt, SALT_LEN, v, vl) < 0)
		return bad("salt");
	if ((rc = line(&p, end, "created", &v, &vl)) < 0 ||
	    (rc = parse_i64(&s->info.created, v, vl)) < 0 ||
	    (rc = line(&p, end, "host", &v, &vl)) < 0 ||
	    (rc = copy_field(s->info.host, sizeof(s->info.host), v, vl)) < 0 ||
	    (rc = line(&p, end, "user", &v, &vl)) < 0 ||
	    (rc = copy_field(s->info.user, sizeof(s->info.user), v, vl)) < 0)
		return rc;
	s->ad_len = (size_t)(p - blob);
	if ((rc = line(&p, end, "wrapped", &v, &vl)) < 0)
		return rc;
	if (tier_unhexn(s->wrapped, WRAPPED_LEN, v, vl) < 0)
		return bad("wrapped key");
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
	if (rc < 0)
		return tier_error_set(TIER_EAUTH, "wrong password");
	memcpy(out->data, m, TIER_KEY_DATA_LEN);
	memcpy(out->siv, m + TIER_KEY_DATA_LEN, TIER_KEY_SIV_LEN);
	memcpy(out->id, m + TIER_KEY_DATA_LEN + TIER_KEY_SIV_LEN,
	       TIER_KEY_ID_LEN);
	OPENSSL_cleanse(m, sizeof(m));
	return 0;
}
