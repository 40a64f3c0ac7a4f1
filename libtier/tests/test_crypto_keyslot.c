/*
 * crypto/keyslot.h: scrypt known answers (RFC 7914), slots that open, and
 * slots a hostile tier forged: tampered fields never open, malformed ones
 * are refused before any costly key derivation.
 */
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crypto/keyslot.h"
#include "hash.h"
#include "tier/errors.h"
#include "helpers.h"

#define PW    "correct horse battery staple"
#define PWLEN (sizeof(PW) - 1)

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void kat(const char *pw, const char *salt, uint64_t n, uint32_t r,
                uint32_t p, const char *want)
{
	tier_kdf_params kp = {n, r, p};
	unsigned char out[64];
	char hex[129];
	cr_assert_eq(tier_kdf_derive(out, sizeof(out), pw, strlen(pw),
	                             (const unsigned char *)salt, strlen(salt),
	                             &kp),
	             0, "%s", tier_error_last());
	cr_assert_str_eq(tier_hex(hex, out, sizeof(out)), want);
}

Test(crypto_keyslot, scrypt_rfc7914)
{
	/* RFC 7914 section 12; the N=16 case is below our floor of 1024 */
	kat("password", "NaCl", 1024, 8, 16,
	    "fdbabe1c9d3472007856e7190d01e9fe7c6ad7cbc8237830e77376634b373162"
	    "2eaf30d92e22a3886ff109279d9830dac727afb94a83ee6d8360cbdfa2cc0640");
	kat("pleaseletmein", "SodiumChloride", 16384, 8, 1,
	    "7023bdcb3afd7348461c06cd81fd38ebfda8fbba904f8e3ea9b543f6545da1f2"
	    "d5432955613f0fcf62d49705242a9af9e61e85dc0d651e40dfcf017b45575887");
}

Test(crypto_keyslot, kdf_bounds)
{
	static const tier_kdf_params bad[] = {
	        {512, 8, 1},      {3, 8, 1},          {1025, 8, 1},
	        {1u << 23, 1, 1}, {1ull << 30, 8, 1}, {1024, 0, 1},
	        {1024, 33, 1},    {1024, 8, 0},       {1024, 8, 17},
	        {1u << 21, 8, 1}, {1u << 22, 32, 16},
	};
	unsigned char out[32];
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		double t0 = now();
		cr_assert_eq(tier_kdf_derive(out, sizeof(out), "pw", 2,
		                             (const unsigned char *)"salt", 4,
		                             &bad[i]),
		             TIER_EUNSUPPORTED, "case %zu", i);
		cr_assert_lt(now() - t0, 0.5);
	}
}

Test(crypto_keyslot, params_for_memory)
{
	static const struct {
		uint64_t bytes, n;
	} c[] = {
	        {0, 65536},
	        {1, 1024},
	        {1u << 20, 1024},
	        {3u << 20, 2048},
	        {64u << 20, 65536},
	        {(64u << 20) - 1, 32768},
	        {1ull << 30, 1u << 20},
	        {100ull << 30, 1u << 20},
	};
	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		tier_kdf_params p;
		tier_kdf_params_for_memory(&p, c[i].bytes);
		cr_assert_eq(p.n, c[i].n, "%" PRIu64 " bytes: N=%" PRIu64,
		             c[i].bytes, p.n);
		cr_assert_eq(p.r, 8);
		cr_assert_eq(p.p, 1);
	}
}

/* A slot at the cheapest cost, master keys 0..127. */
static void make_slot(tier_buf *b, tier_keys *master, char id[17],
                      const char *host, const char *user)
{
	tier_kdf_params p = {1024, 8, 1};
	unsigned char *m = (unsigned char *)master;
	for (size_t i = 0; i < sizeof(*master); i++)
		m[i] = (unsigned char)i;
	cr_assert_eq(tier_keyslot_create(b, id, master, PW, PWLEN, &p, host,
	                                 user, 1765028000),
	             0, "%s", tier_error_last());
}

Test(crypto_keyslot, create_open_round_trip)
{
	tier_buf b = TIER_BUF_INIT, b2 = TIER_BUF_INIT;
	tier_keys master, got;
	tier_keyslot_info info;
	char id[17], id2[17], want[256];
	make_slot(&b, &master, id, "pc1", "alice");
	cr_assert_eq(strlen(id), 16);
	snprintf(want, sizeof(want),
	         "tier-key 1\nid %s\nkdf scrypt N=1024 r=8 p=1\nsalt ", id);
	cr_assert_eq(strncmp(b.ptr, want, strlen(want)), 0, "%s", b.ptr);
	cr_assert(strstr(b.ptr, "\ncreated 1765028000\nhost pc1\nuser "
	                        "alice\nwrapped "));
	cr_assert_eq(b.ptr[b.size - 1], '\n');
	cr_assert_lt(b.size, TIER_KEYSLOT_MAX);

	cr_assert_eq(tier_keyslot_open(&got, b.ptr, b.size, PW, PWLEN), 0, "%s",
	             tier_error_last());
	cr_assert_eq(memcmp(&got, &master, sizeof(got)), 0);

	cr_assert_eq(tier_keyslot_info_parse(&info, b.ptr, b.size), 0);
	cr_assert_str_eq(info.id, id);
	cr_assert_str_eq(info.kdf, "scrypt N=1024 r=8 p=1");
	cr_assert_eq(info.created, 1765028000);
	cr_assert_str_eq(info.host, "pc1");
	cr_assert_str_eq(info.user, "alice");

	/* a second slot for the same key: another id, salt and wrap */
	make_slot(&b2, &master, id2, "pc1", "alice");
	cr_assert_str_neq(id, id2);
	cr_assert_neq(strcmp(b.ptr + 30, b2.ptr + 30), 0);

	/* appends */
	tier_buf_clear(&b2);
	tier_buf_puts(&b2, "X");
	make_slot(&b2, &master, id2, "pc1", "alice");
	cr_assert_eq(b2.ptr[0], 'X');
	cr_assert_eq(
	        tier_keyslot_open(&got, b2.ptr + 1, b2.size - 1, PW, PWLEN), 0);
	tier_buf_dispose(&b);
	tier_buf_dispose(&b2);
}

Test(crypto_keyslot, host_and_user_cleaned)
{
	tier_buf b = TIER_BUF_INIT;
	tier_keys master, got;
	tier_keyslot_info info;
	char id[17], longname[400];
	make_slot(&b, &master, id, "my pc\n\tx\x7f", "");
	cr_assert_eq(tier_keyslot_info_parse(&info, b.ptr, b.size), 0, "%s",
	             tier_error_last());
	cr_assert_str_eq(info.host, "my_pc__x_");
	cr_assert_str_eq(info.user, "unknown");
	cr_assert_eq(tier_keyslot_open(&got, b.ptr, b.size, PW, PWLEN), 0);
	tier_buf_clear(&b);
	memset(longname, 'h', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	make_slot(&b, &master, id, longname, "b\xc3\xa9la");
	cr_assert_eq(tier_keyslot_info_parse(&info, b.ptr, b.size), 0, "%s",
	             tier_error_last());
	cr_assert_eq(strlen(info.host), 255);
	cr_assert_str_eq(info.user, "b\xc3\xa9la");
	tier_buf_dispose(&b);
}

Test(crypto_keyslot, wrong_password)
{
	tier_buf b = TIER_BUF_INIT;
	tier_keys master, got;
	char id[17];
	make_slot(&b, &master, id, "pc1", "alice");
	memset(&got, 0x5a, sizeof(got));
	cr_assert_eq(tier_keyslot_open(&got, b.ptr, b.size, "wrong", 5),
	             TIER_EAUTH);
	cr_assert_str_eq(tier_error_last(), "wrong password");
	cr_assert_eq(tier_keyslot_open(&got, b.ptr, b.size, PW, PWLEN - 1),
	             TIER_EAUTH);
	cr_assert_eq(tier_keyslot_open(&got, b.ptr, b.size, "", 0), TIER_EAUTH);
	for (size_t i = 0; i < sizeof(got); i++)
		cr_assert_eq(((unsigned char *)&got)[i], 0x5a,
		             "out filled on failure");
	tier_buf_dispose(&b);
}

/* Open a copy of slot with its first `from` (after the line `key`) replaced
 * by `to`; returns the code. */
static int open_edited(const tier_buf *slot, const char *key, const char *from,
                       const char *to)
{
	char *s = malloc(slot->size + 5000), *at;
	tier_keys got;
	size_t fl = strlen(from), tl = strlen(to);
	int rc;
	memcpy(s, slot->ptr, slot->size + 1);
	at = strstr(s, key);
	cr_assert(at, "no %s in the slot", key);
	at = strstr(at, from);
	cr_assert(at, "no %s after %s", from, key);
	memmove(at + tl, at + fl, strlen(at + fl) + 1);
	memcpy(at, to, tl);
	memset(&got, 0x5a, sizeof(got));
	rc = tier_keyslot_open(&got, s, strlen(s), PW, PWLEN);
	if (rc < 0)
		for (size_t i = 0; i < sizeof(got); i++)
			cr_assert_eq(((unsigned char *)&got)[i], 0x5a);
	free(s);
	return rc;
}

/* The first hex digit of the line key's value, changed. */
static int open_digit_flipped(const tier_buf *slot, const char *key)
{
	char from[64], to[64];
	const char *v = strstr(slot->ptr, key);
	cr_assert(v);
	v += strlen(key);
	snprintf(from, sizeof(from), "%s%.1s", key, v);
	snprintf(to, sizeof(to), "%s%c", key, *v == '1' ? '2' : '1');
	return open_edited(slot, key, from, to);
}

Test(crypto_keyslot, tampered_fields_do_not_open)
{
	tier_buf b = TIER_BUF_INIT;
	tier_keys master;
	char id[17];
	make_slot(&b, &master, id, "pc1", "alice");
	cr_assert_eq(open_edited(&b, "id ", "id ", "id "), 0);
	cr_assert_eq(open_digit_flipped(&b, "\nid "), TIER_EAUTH);
	cr_assert_eq(open_edited(&b, "kdf", "N=1024", "N=2048"), TIER_EAUTH);
	cr_assert_eq(open_edited(&b, "kdf", "p=1", "p=2"), TIER_EAUTH);
	cr_assert_eq(open_digit_flipped(&b, "\nsalt "), TIER_EAUTH);
	cr_assert_eq(open_edited(&b, "created", "1765028000", "1765028001"),
	             TIER_EAUTH);
	cr_assert_eq(open_edited(&b, "host", "pc1", "pc2"), TIER_EAUTH);
	cr_assert_eq(open_edited(&b, "user", "alice", "mallory"), TIER_EAUTH);
	cr_assert_eq(open_digit_flipped(&b, "\nwrapped "), TIER_EAUTH);
	cr_assert_eq(open_edited(&b, "wrapped", "\n", "0\n"), TIER_ECORRUPT);
	/* a digit every 13 of the wrapped key, one at a time (cheap KDF) */
	const char *w = strstr(b.ptr, "\nwrapped ") + 9;
	for (size_t i = 0; w + i < b.ptr + b.size - 1; i += 13) {
		char from[400], to[400];
		snprintf(from, sizeof(from), "wrapped %.*s", (int)(i + 1), w);
		snprintf(to, sizeof(to), "%s", from);
		to[8 + i] = to[8 + i] == 'a' ? 'b' : 'a';
		cr_assert_eq(open_edited(&b, "\nwrapped ", from, to),
		             TIER_EAUTH, "digit %zu", i);
	}
	tier_buf_dispose(&b);
}

static void malformed(const tier_buf *b, const char *key, const char *from,
                      const char *to, int want)
{
	double t0 = now();
	int rc = open_edited(b, key, from, to);
	cr_assert_eq(rc, want, "%s -> %s: rc %d (%s)", from, to, rc,
	             tier_error_last());
	/* a big KDF (the point of these cases) takes seconds */
	cr_assert_lt(now() - t0, 0.5, "%s -> %s ran a KDF", from, to);
}

Test(crypto_keyslot, malformed_slots_refused_early)
{
	tier_buf b = TIER_BUF_INIT;
	tier_keys master;
	char id[17];
	const char *lines[] = {"tier-key 1\n", "\nid ",      "\nkdf ",
	                       "\nsalt ",      "\ncreated ", "\nhost ",
	                       "\nuser ",      "\nwrapped "};
	make_slot(&b, &master, id, "pc1", "alice");
	malformed(&b, "tier-key", "tier-key 1", "tier-key 2",
	          TIER_EUNSUPPORTED);
	malformed(&b, "tier-key", "tier-key 1", "tier-key x", TIER_ECORRUPT);
	malformed(&b, "tier-key", "tier-key 1", "tier-kex 1", TIER_ECORRUPT);
	malformed(&b, "kdf", "scrypt", "argon2id", TIER_EUNSUPPORTED);
	malformed(&b, "kdf", "N=1024", "N=3", TIER_ECORRUPT);
	malformed(&b, "kdf", "N=1024", "N=1073741824", TIER_ECORRUPT);
	malformed(&b, "kdf", "N=1024", "N=4194304 r=32 p=1 r", TIER_ECORRUPT);
	malformed(&b, "kdf", "N=1024 r=8", "N=4194304 r=8", TIER_ECORRUPT);
	malformed(&b, "kdf", "N=1024 r=8", "N=1048576 r=9", TIER_ECORRUPT);
	malformed(&b, "kdf", "N=1024", "N=18446744073709551616", TIER_ECORRUPT);
	malformed(&b, "kdf", "N=1024", "N=-1024", TIER_ECORRUPT);
	malformed(&b, "kdf", "N=1024", "N=01024", TIER_ECORRUPT);
	malformed(&b, "kdf", "N=1024", "N= 1024", TIER_ECORRUPT);
	malformed(&b, "kdf", "r=8", "r=0", TIER_ECORRUPT);
	malformed(&b, "kdf", "r=8", "r=4294967304", TIER_ECORRUPT);
	malformed(&b, "kdf", "p=1", "p=17", TIER_ECORRUPT);
	malformed(&b, "kdf", "p=1", "p=1 ", TIER_ECORRUPT);
	malformed(&b, "kdf", "r=8 p=1", "p=1 r=8", TIER_ECORRUPT);
	malformed(&b, "\nid ", "\nid ", "\nid g", TIER_ECORRUPT);
	malformed(&b, "\nid ", "\nid ", "\nid A", TIER_ECORRUPT);
	malformed(&b, "\nid ", "\nid ", "\nid 0", TIER_ECORRUPT);
	malformed(&b, "\nsalt ", "\nsalt ", "\nsalt z", TIER_ECORRUPT);
	malformed(&b, "\nsalt ", "\nsalt ", "\nsalt 00", TIER_ECORRUPT);
	malformed(&b, "\nwrapped ", "\nwrapped ", "\nwrapped x", TIER_ECORRUPT);
	malformed(&b, "created", "1765028000", "-1765028000", TIER_ECORRUPT);
	malformed(&b, "created", "1765028000", "17650280000000000000",
	          TIER_ECORRUPT);
	malformed(&b, "host", "pc1", "pc\x01", TIER_ECORRUPT);
	malformed(&b, "host", "pc1", "p c", TIER_ECORRUPT);
	malformed(&b, "user", "alice\n", "alice\r\n", TIER_ECORRUPT);
	malformed(&b, "wrapped", "\n", "\n\n", TIER_ECORRUPT);
	malformed(&b, "wrapped", "\n", "", TIER_ECORRUPT);
	malformed(&b, "tier-key", "\n", "\r\n", TIER_ECORRUPT);
	/* each line missing, and each line twice */
	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		const char *at = strstr(b.ptr, lines[i]) + (i ? 1 : 0);
		const char *nl = strchr(at, '\n');
		char ln[512], two[1024];
		snprintf(ln, sizeof(ln), "%.*s", (int)(nl - at + 1), at);
		snprintf(two, sizeof(two), "%s%s", ln, ln);
		malformed(&b, ln, ln, "", TIER_ECORRUPT);
		malformed(&b, ln, ln, two, TIER_ECORRUPT);
	}
	tier_buf_dispose(&b);
}

Test(crypto_keyslot, odd_sizes_and_bytes)
{
	tier_buf b = TIER_BUF_INIT;
	tier_keys master, got;
	tier_keyslot_info info;
	char id[17], *huge, *nul;
	make_slot(&b, &master, id, "pc1", "alice");
	/* bigger than any slot: refused before parsing */
	huge = calloc(1, TIER_KEYSLOT_MAX + 2);
	memcpy(huge, b.ptr, b.size);
	memset(huge + b.size, '\n', TIER_KEYSLOT_MAX + 1 - b.size);
	cr_assert_eq(
	        tier_keyslot_open(&got, huge, TIER_KEYSLOT_MAX + 1, PW, PWLEN),
	        TIER_ECORRUPT);
	cr_assert_eq(tier_keyslot_info_parse(&info, huge, 1u << 30),
	             TIER_ECORRUPT);
	free(huge);
	/* every prefix of a good slot: never opens, never reads past len */
	for (size_t n = 0; n < b.size; n++) {
		char *p = malloc(n ? n : 1);
		memcpy(p, b.ptr, n);
		cr_assert_lt(tier_keyslot_info_parse(&info, p, n), 0, "%zu", n);
		cr_assert_lt(tier_keyslot_open(&got, p, n, PW, PWLEN), 0);
		free(p);
	}
	/* a NUL inside: the length rules, not strlen */
	nul = malloc(b.size);
	memcpy(nul, b.ptr, b.size);
	nul[strstr(nul, "host ") - nul + 5] = '\0';
	cr_assert_eq(tier_keyslot_open(&got, nul, b.size, PW, PWLEN),
	             TIER_ECORRUPT);
	free(nul);
	tier_buf_dispose(&b);
}

Test(crypto_keyslot, create_refuses_bad_params)
{
	tier_buf b = TIER_BUF_INIT;
	tier_keys master;
	tier_kdf_params p = {1000, 8, 1};
	char id[17] = "unchanged";
	memset(&master, 1, sizeof(master));
	tier_buf_puts(&b, "keep");
	cr_assert_eq(tier_keyslot_create(&b, id, &master, PW, PWLEN, &p, "h",
	                                 "u", 0),
	             TIER_EUSAGE);
	cr_assert_str_eq(tier_buf_cstr(&b), "keep");
	cr_assert_str_eq(id, "unchanged");
	tier_buf_dispose(&b);
}

Test(crypto_keyslot, default_cost_timing)
{
	tier_buf b = TIER_BUF_INIT;
	tier_keys master, got;
	tier_kdf_params p;
	char id[17];
	double t0, t;
	tier_kdf_params_for_memory(&p, 0);
	cr_assert_eq(p.n * p.r * 128, TIER_KDF_DEFAULT_MEMORY);
	cr_assert_eq(tier_keys_generate(&master), 0);
	cr_assert_eq(tier_keyslot_create(&b, id, &master, PW, PWLEN, &p, "pc1",
	                                 "alice", 1765028000),
	             0, "%s", tier_error_last());
	cr_assert(strstr(b.ptr, "kdf scrypt N=65536 r=8 p=1\n"));
	t0 = now();
	cr_assert_eq(tier_keyslot_open(&got, b.ptr, b.size, PW, PWLEN), 0, "%s",
	             tier_error_last());
	t = now() - t0;
	cr_assert_eq(memcmp(&got, &master, sizeof(got)), 0);
	cr_log_info("opening a key slot at the default 64 MiB scrypt: %.0f ms",
	            t * 1000);
	cr_assert_lt(t, 5.0);
	tier_buf_dispose(&b);
}
