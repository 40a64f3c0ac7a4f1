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
#include <pthread.h>

#include "tier/vault.h"
#include "util/buf.h"
#include "vault.h"

struct tier_reach; /* vault_reach.c: a tier's head read, maybe still running */

/* One tier of the vault: its location, what the last probe found there. */
struct vtier {
	tier_location *loc;
	struct tier_reach *reach; /* its hooks; owns loc while it retries */
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
	tier_keys *keys; /* unwrapped at open (keys.c); NULL: no encryption */
	git_repository *cache;
	size_t n;
	struct vtier *t;
	uint64_t max_rev;
	int lock_fd;
	int lock_depth;
	char *cacert_conf; /* tls.cacert from the config, owned */
	/* tier.NAME.limitUpload / limitDownload of the config, bytes/s */
	struct tier_limit {
		char name[64];
		uint64_t up, down;
	} * limits;
	size_t nlimits;
	int announced; /* we wrote <state>/write-wanted at open */
	tier_location_options lopts;
	int64_t wait_timeout_ms;
	tier_trace_cb notice;
	void *notice_payload;
	tier_password_cb password; /* asked once, by keys.c */
	char key_id[17];           /* the slot the password opened */
	void *password_payload;
	/* the tiers' head reads (vault_reach.c): their state, their end */
	pthread_mutex_t reach_mu;
	pthread_cond_t reach_cv;
	int reach_ready; /* reach_mu and reach_cv are initialised */
};

/* ---- vault.c --------------------------------------------------------- */

/** A handle with opts' settings, no tier, no cache yet. */
int tier_vault_alloc(tier_vault **out, const tier_vault_options *opts);
/** Open tier spec "[NAME=]URL" and add it to v (names must differ). */
int tier_vault_add_tier(tier_vault *v, const char *spec);
/**
 * Open the log cache, <state>/cache.git (create: make it); without an
 * installation a temporary one, removed at free.
 */
int tier_vault_open_cache(tier_vault *v, int create);

/* ---- probe.c ---------------------------------------------------------- */

/**
 * The probe of a write (R1 overlapping R3): a tier whose first attempt
 * does not answer (TIER_EOFFLINE) is judged offline for now and its head
 * read goes on being retried in the background, with its own R1 budget,
 * while the write goes on without it.  Waits as tier_vault_probe() does
 * while no tier has answered.  tier_vault_probe() waits for every tier.
 */
int tier_vault_probe_write(tier_vault *v);

/* ---- vault_reach.c ------------------------------------------------------ */

/**
 * Hooks of tier t's location: *lo (the caller's options) gets our sleep
 * and trace around the caller's, which tell a first attempt that failed
 * and let a background retry be cancelled.  Sets t->reach.
 */
int tier_reach_attach(tier_vault *v, struct vtier *t,
                      tier_location_options *lo);
/** Cancel t's background retry (its back-off ends at once), join, free. */
void tier_reach_detach(tier_vault *v, struct vtier *t);
/**
 * Read the head of every tier i with ask[i] at once, a thread each, into
 * t->head and t->has_head (tier_reach_result: how it went).  defer:
 * return once every read ended or failed its first attempt, and one ended
 * with an answer (or none is left running); the reads still in back-off
 * go on in the background (tier_reach_pending).  Else once all ended.
 */
void tier_reach_heads(tier_vault *v, const unsigned char *ask, int defer);
/** The result of t's last head read that ended, and its message. */
void tier_reach_result(tier_vault *v, const struct vtier *t, int *rc,
                       tier_buf *msg);
/** 1 while tier t's head read is retried in the background. */
int tier_reach_pending(tier_vault *v, const struct vtier *t);
/** 1 when that read has ended (settling t then does not wait). */
int tier_reach_ended(tier_vault *v, const struct vtier *t);
/** Why the first attempt of t's background read failed. */
void tier_reach_why(tier_vault *v, const struct vtier *t, tier_buf *out);
/** Wait for the end of tier t's background read (at once when none). */
void tier_reach_settle(tier_vault *v, struct vtier *t);

/* ---- installation.c ---------------------------------------------------- */

/** Who runs this process: the user and host names a revision records. */
void tier_installation_who(char *user, size_t ucap, char *host, size_t hcap);
int tier_installation_config_open(git_config **cfg, const char *state_dir);
/**
 * Open: read <state>/config into v (vault and installation ids, read-only,
 * TLS settings, and the tier list unless opts names tiers).  *cfg is left
 * open for tier_installation_check_tier(); the caller frees it.
 */
int tier_installation_load(tier_vault *v, const tier_vault_options *opts,
                           git_config **cfg);
/** TIER_EUSAGE when tier `name` (from -t) is not in the config's list. */
int tier_installation_check_tier(tier_vault *v, git_config *cfg,
                                 const char *name);
/**
 * Take the installation's write lock for op ("push", "sync", "open"),
 * recursively.  nonblock: TIER_ECONFLICT naming the holder when it is
 * taken; else announce write-wanted (R7) and wait v->wait_timeout_ms.
 */
int tier_installation_lock(tier_vault *v, int nonblock, const char *op);
void tier_installation_unlock(tier_vault *v);
/** Open with intend_write: write <state>/write-wanted before probing. */
void tier_installation_announce_write(tier_vault *v);
/** Free: remove that announcement if it is still ours. */
void tier_installation_withdraw_write(tier_vault *v);
/** A failed init: remove what it made in the state directory. */
void tier_installation_remove(tier_vault *v);

/* ---- tierref.c ---------------------------------------------------------- */

/** Read our ref of tier t into t->stored (none without an installation). */
int tier_ref_read(tier_vault *v, struct vtier *t);
/** Set our ref of tier t to id (NULL: remove it), and t->stored with it. */
int tier_ref_write(tier_vault *v, struct vtier *t, const git_oid *id);
/**
 * At a probe, with t's head read: finish or forget an intent of ours that
 * an interrupted write left (only while nobody holds the lock).
 */
int tier_intent_recover(tier_vault *v, struct vtier *t);

/**
 * R9, the one way a tier's head moves, for a write's commit and a sync's
 * replay alike: intent on disk, the log pack (a write's), head, our ref,
 * intent cleared.  A test kills the process between the steps with
 * TIER_TEST_CRASH=<op>.intent, <op>.pack, <op>.head, <op>.ref.
 */
struct tier_ref_move {
	const char *op;      /* "write", "sync": names the crash points */
	const git_oid *from; /* the tier's head now (NULL: empty tier) */
	uint64_t from_rev;
	const git_oid *to;
	uint64_t to_rev;
	/* the log pack to put before the head moves (tier_log_pack_put);
	 * pack_dir NULL: none, the log objects are on the tier already */
	const char *pack_dir, *pack_name;
};

/**
 * Move tier i's head as m says; then t->head is m->to.  On an error,
 * *tier_failed tells a failure of the tier (the pack or the head: drop it
 * from the write; the intent stays when the head may have moved) from one
 * of ours (the journal, the ref: give up).
 */
int tier_ref_move(tier_vault *v, size_t i, const struct tier_ref_move *m,
                  int *tier_failed);

/* ---- revision.c ---------------------------------------------------------- */

/**
 * The log commit of revision rev (operation op) in repo, on parent (NULL:
 * the first): tree_in, else the parent's tree, else an empty one.  when
 * (NULL: now) is the revision's time, the commit's author time; the
 * committer time is always now (when it was written).
 */
int tier_revision_commit(tier_vault *v, git_oid *out, const char *op,
                         uint64_t rev, const git_oid *parent,
                         const git_oid *tree_in, const char *summary,
                         const char *extra, const git_time *when,
                         git_repository *repo);
/**
 * The log pack of commit id (what it adds to parent): the write's
 * streaming pack (tier_streampack_new in dir: every object the write
 * created), finished in dir and, by hard links, put into the cache.  walk:
 * some object of the write was in the cache already (tier_odb_frozen_hits),
 * so the new objects of id over parent that the pack lacks are added
 * first.  *name is "pack-<hex>", empty when there was nothing to pack.
 */
int tier_revision_pack(git_repository *cache, git_repository *repo,
                       git_odb_backend *stream, int walk, const git_oid *id,
                       const git_oid *parent, const char *dir, tier_buf *name);

#endif
