/* Snapshot names, nodes and trailers of an encrypted vault (snapshot_seal.c). */
#include <criterion/criterion.h>
#include <string.h>

#include "snapshot.h"
#include "snapshot_int.h"
#include "tier/errors.h"

static tier_keys keys, other;

static void setup(void)
{
	cr_assert_eq(tier_keys_generate(&keys), 0);
	cr_assert_eq(tier_keys_generate(&other), 0);
}

TestSuite(snapshot_sealed, .init = setup);

Test(snapshot_sealed, names_round_trip_deterministic_and_git_safe)
{
	const char *names[] = {"a", ".git", "..x", "caf\xc3\xa9 %~\x01",
	                       "-", "x.y"};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		tier_buf e1 = TIER_BUF_INIT, e2 = TIER_BUF_INIT,
		         d = TIER_BUF_INIT;
		size_t len = strlen(names[i]);
		cr_assert_eq(tier_snap_name_encode(&e1, &keys, names[i], len),
		             0);
		cr_assert_eq(tier_snap_name_encode(&e2, &keys, names[i], len),
		             0);
		cr_assert_str_eq(e1.ptr, e2.ptr,
		                 "the same name seals the same");
		cr_assert_null(strpbrk(e1.ptr, "/.%=+"), "%s", e1.ptr);
		if (len >= 4) /* a short name may appear by chance */
			cr_assert_null(strstr(e1.ptr, names[i]));
		cr_assert_eq(tier_snap_name_decode(&d, &keys, e1.ptr), 0);
		cr_assert_eq(d.size, len);
		cr_assert_eq(memcmp(d.ptr, names[i], len), 0);
		cr_assert_eq(tier_snap_name_decode(&d, &other, e1.ptr),
		             TIER_ECORRUPT,
		             "another vault's key opens nothing");
		/* every character changed: refused */
		for (size_t j = 0; j < e1.size; j++) {
			char save = e1.ptr[j];
			e1.ptr[j] = save == 'A' ? 'B' : 'A';
			cr_assert_eq(tier_snap_name_decode(&d, &keys, e1.ptr),
			             TIER_ECORRUPT);
			e1.ptr[j] = save;
		}
		tier_buf_dispose(&e1);
		tier_buf_dispose(&e2);
		tier_buf_dispose(&d);
	}
	tier_buf e = TIER_BUF_INIT;
	cr_assert_eq(tier_snap_name_encode(&e, &keys, "a/b", 3), TIER_EUSAGE);
	cr_assert_eq(tier_snap_name_decode(&e, &keys, "plain"), TIER_ECORRUPT);
	tier_buf_dispose(&e);
}

Test(snapshot_sealed, nodes_round_trip_and_every_flip_fails)
{
	tier_node n = {0}, d;
	tier_buf b = TIER_BUF_INIT;
	tier_chunk_ref ch = {{0}, 5};
	n.type = TIER_NODE_FILE;
	n.mode = 0644;
	n.size = 5;
	n.nchunks = 1;
	n.chunks = &ch;
	cr_assert_eq(tier_node_encode(&b, &keys, &n), 0);
	cr_assert_null(memmem(b.ptr, b.size, "tier-node", 9), "sealed");
	cr_assert_eq(tier_node_decode(&d, &keys, b.ptr, b.size), 0);
	cr_assert_eq(d.size, 5);
	cr_assert_eq(d.nchunks, 1);
	tier_node_dispose(&d);
	for (size_t i = 0; i < b.size; i++) {
		b.ptr[i] ^= 1;
		cr_assert_eq(tier_node_decode(&d, &keys, b.ptr, b.size),
		             TIER_ECORRUPT, "byte %zu", i);
		b.ptr[i] ^= 1;
	}
	cr_assert_eq(tier_node_decode(&d, NULL, b.ptr, b.size), TIER_ECORRUPT);
	tier_buf_dispose(&b);
}

Test(snapshot_sealed, trailers_bind_their_key)
{
	tier_buf t = TIER_BUF_INIT, o = TIER_BUF_INIT;
	cr_assert_eq(tier_trailer_seal(&t, &keys, "Tier-Path", "/home/u", 7),
	             0);
	cr_assert_eq(strncmp(t.ptr, "sealed:", 7), 0);
	cr_assert_eq(tier_trailer_open(&o, &keys, "Tier-Path", t.ptr), 0);
	cr_assert_str_eq(o.ptr, "/home/u");
	cr_assert_eq(tier_trailer_open(&o, &keys, "Tier-Message", t.ptr),
	             TIER_ECORRUPT, "a path cannot pass for a message");
	cr_assert_eq(tier_trailer_open(&o, &keys, "Tier-Path", "/plain"),
	             TIER_ENOTFOUND);
	tier_buf_dispose(&t);
	tier_buf_dispose(&o);
}
