/*
 * Inside the vault handle: the structs that vault.c, installation.c,
 * tierref.c, probe.c, init.c and write.c share, and the functions they
 * call across those files.  The rest of the engine does not see these:
 * it uses vault.h (accessors), installation.h (R7 lock), tierref.h (R9
 * head moves) and write.h (the R3 write transaction).
 */
#ifndef TIER_VAULT_INT_H
#define TIER_VAULT_INT_H

#include <git2.h>

#include "tier/vault.h"
#include "util/buf.h"
#include "vault.h"

/* One tier of the vault: its location, what the last probe found there. */
struct vtier {
	tier_location *loc;
	tier_info info;
	tier_buf problem; /* owns info.problem */
	git_oid head;     /* the tier's head (has_head: not an empty tier) */
	int has_head;
	git_oid stored; /* our ref of it: what we last saw or wrote there */
	int has_stored;
};

struct tier_vault {
	char *state_dir; /* NULL: no installation */
	char *tmp_cache; /* ad-hoc cache dir to remove at free */
	int read_only;
	int reading; /* opened by a reading tool: R8 does not stop it */
	char vault_id[65];
	char inst_id[65];
	git_repository *cache;
	size_t n;
	struct vtier *t;
	uint64_t max_rev;
	int lock_fd;
	int lock_depth;
	char *cacert_conf; /* tls.cacert from the config, owned */
	int announced;     /* we wrote <state>/write-wanted at open */
	tier_location_options lopts;
	int64_t wait_timeout_ms;
	tier_trace_cb notice;
	void *notice_payload;
};

#endif
