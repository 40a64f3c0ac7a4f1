/*
 * Vaults and installations.
 *
 * A vault is one backup set; it lives on every tier of an installation.
 * An installation is one client's state directory: its id, the vault id,
 * the ordered tier list, a local git cache of the log with one ref per tier
 * (what this installation last saw or wrote there) and the intent journal.
 *
 * Opening a vault probes every tier (SPEC R5, R8, R9): reads its head,
 * mirrors its log into the cache, finishes or forgets an interrupted write
 * of ours, and classifies the tier (see tier_state).
 */
#ifndef TIER_VAULT_H
#define TIER_VAULT_H

#include "tier/common.h"

#include <stddef.h>
#include <stdint.h>

#include "tier/location.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tier_vault tier_vault;

/** See tier_vault_options.password. */
typedef int (*tier_password_cb)(char **out, size_t *len, void *payload);

/** What the probe found on one tier. */
typedef enum {
	TIER_STATE_UNKNOWN = 0,
	/** Online, log consistent with this installation. */
	TIER_STATE_OK = 1,
	/** Did not answer (retries ran out). */
	TIER_STATE_OFFLINE = 2,
	/** Another installation wrote there (ahead of, or diverged from, our ref). */
	TIER_STATE_FOREIGN = 3,
	/** Behind what this installation wrote there (an old disk image). */
	TIER_STATE_ROLLED_BACK = 4,
	/** The tier holds another vault. */
	TIER_STATE_OTHER_VAULT = 5,
	/** The log could not be read (corrupt head, missing objects). */
	TIER_STATE_DAMAGED = 6,
	/** The tier refused us: wrong password or key, permission denied. */
	TIER_STATE_REFUSED = 7,
} tier_state;

/** The state's word in tool output and JSON ("ok", "offline", "rolled-back"...). */
TIER_EXTERN const char *tier_state_name(tier_state s);

typedef struct {
	const char *name; /**< tier name */
	const char *url;  /**< URL without password */
	tier_state state;
	int online;
	int has_log; /**< 0: empty tier, revision 0 */
	uint64_t revision;
	char head[41];    /**< hex commit id, "" when none */
	int synchronized; /**< online, OK and at the maximum revision */
	uint64_t
	        stored_revision; /**< what this installation last saw/wrote (0: none) */
	char stored_head[41];
	const char *
	        problem; /**< one-line explanation for a non-OK state, or NULL */
} tier_info;

/** How tier_vault_init treats the tiers. */
typedef enum {
	TIER_INIT_NEW = 0, /**< create a new vault on empty tiers */
	TIER_INIT_ADOPT =
	        1, /**< take over an existing vault (logged as an 'adopt' revision) */
	TIER_INIT_READ_ONLY =
	        2, /**< follow an existing vault for restores only */
} tier_init_mode;

/**
 * Default of tier_vault_options.wait_timeout_ms: a write that finds no
 * tier to write to (or the installation's lock held) waits for ever.
 */
#define TIER_DEFAULT_WAIT_TIMEOUT_MS (-1)

typedef struct {
	unsigned int version;
	/** Installation state directory; NULL = none (reading tools given -t only). */
	const char *state_dir;
	/** Tier specs "[NAME=]URL" in read order; with a state dir they
	 *  replace its list for this run only.  Required by init. */
	const char *const *tiers;
	size_t ntiers;
	tier_location_options location;
	/** tier_vault_init only */
	tier_init_mode mode;
	/** Open without probing the tiers (tier_vault_probe later). */
	int no_probe;
	/**
	 * R3: a write that finds no tier to write to waits, probing with
	 * back-off, until one is back.  -1 (TIER_DEFAULT_WAIT_TIMEOUT_MS):
	 * for ever; 0: fail at once (TIER_EOFFLINE); else give up after this
	 * many ms (TIER_ETIMEOUT).
	 * A write that finds the installation's lock held by another process
	 * waits for it the same way (0: TIER_ETIMEOUT at once), after a
	 * notice that names the holder ("waiting for push pid 4711 since
	 * 10:32:05 (the lock of '/state')").
	 */
	int64_t wait_timeout_ms;
	/** Said once when a write starts waiting, and when it goes on. */
	tier_trace_cb notice;
	void *notice_payload;
	/**
	 * The caller is about to write (tier-push): say so in the state
	 * directory before probing the tiers, so that a running sync stops
	 * at once (R7) instead of after this process's probe.  The probe is
	 * then a write's (docs/retry.md): a tier whose first attempts do not
	 * answer is offline for now, and retried in the background until the
	 * write's commit (or tier_vault_free()).
	 */
	int intend_write;
	/**
	 * The caller only reads (tier-log, tier-status, tier-restore).  R8
	 * guards writes: tier_vault_check() then passes a vault whose tiers
	 * another installation wrote (a rolled-back tier still fails it),
	 * and such a tier is read like a synchronised one when it is at the
	 * newest revision.  tier_write_begin() checks R8 in full;
	 * tier_vault_lock_sync() refuses a vault opened for reading.
	 */
	int reading;
	/**
	 * SPEC section 8: asked for the password the first time an
	 * encrypted vault's keys are needed (never for a plaintext vault).
	 * Sets *out to malloc'd bytes (not NUL-terminated; libtier wipes and
	 * frees them) and *len; returns 0 or a libtier code with the message
	 * set (TIER_EUSAGE: no password source).  NULL: an encrypted vault
	 * cannot be opened (TIER_EUSAGE).
	 */
	tier_password_cb password;
	void *password_payload;
	/** tier_vault_init (TIER_INIT_NEW): "aes-256-gcm" for an encrypted
	 *  vault (tier-init's default), NULL or "none" for a plaintext one
	 *  (what the API made before encryption existed). */
	const char *encryption;
	/** tier_vault_init: the KDF's memory in bytes (scrypt N*r*128);
	 *  0 = the default, 64 MiB.  Rounded down to a power of two. */
	uint64_t kdf_memory;
} tier_vault_options;

#define TIER_VAULT_OPTIONS_VERSION 1
#define TIER_VAULT_OPTIONS_INIT                                               \
	{                                                                     \
		TIER_VAULT_OPTIONS_VERSION, NULL, NULL, 0,                    \
		        TIER_LOCATION_OPTIONS_INIT, TIER_INIT_NEW, 0,         \
		        TIER_DEFAULT_WAIT_TIMEOUT_MS, NULL, NULL, 0, 0, NULL, \
		        NULL, NULL, 0                                         \
	}

/**
 * Create the installation (and, with TIER_INIT_NEW, the vault on every
 * tier: each must be empty or refused with TIER_ECONFLICT).  Every tier
 * must be online for init.  The state directory must not hold an
 * installation yet.
 *
 * Returns 0, or TIER_EUSAGE when opts gives no state directory or no
 * tier, a bad tier URL or an unknown opts->version; TIER_ECONFLICT when
 * the state directory holds an installation already or (TIER_INIT_NEW) a
 * tier is not empty; TIER_EOFFLINE when a tier does not answer or did not
 * take the new vault; TIER_ENOTFOUND (TIER_INIT_ADOPT, _READ_ONLY) when no
 * tier holds a vault; TIER_ERROR for a local failure (the state directory
 * or the log cache cannot be created).  The write of the first revision
 * passes on the codes of a write (tier_vault_mark()).
 */
TIER_EXTERN int tier_vault_init(tier_vault **out,
                                const tier_vault_options *opts);

/**
 * Open an installation (or tiers alone) and probe every tier.  A tier that
 * is offline, refuses us or holds something else does not fail the open:
 * its tier_info says so (tier_vault_check() judges R8).
 *
 * Returns 0, or TIER_EUSAGE when the state directory is no installation,
 * neither a state directory nor a tier is given, a tier spec is bad or not
 * one of the installation's, or opts->version is unknown; TIER_ECORRUPT
 * for an intent file of this installation that does not parse; TIER_ERROR
 * (or the code libgit2's error maps to) when the installation config, the
 * log cache or a stored ref cannot be read or written.
 */
TIER_EXTERN int tier_vault_open(tier_vault **out,
                                const tier_vault_options *opts);

/**
 * Probe every tier again (R5: at start, and when an offline tier answers).
 * Returns 0 whatever the tiers answered (their tier_info says); fails only
 * with the local codes of tier_vault_open(): TIER_ECORRUPT for an intent
 * that does not parse, TIER_ERROR for refs and intents that cannot be read
 * or written.
 */
TIER_EXTERN int tier_vault_probe(tier_vault *v);

TIER_EXTERN void tier_vault_free(tier_vault *v);

TIER_EXTERN const char *tier_vault_id(const tier_vault *v);
TIER_EXTERN const char *tier_vault_installation_id(const tier_vault *v);
/** 1 when the vault is encrypted (its keys are open), else 0. */
TIER_EXTERN int tier_vault_encrypted(const tier_vault *v);
/** 1 for a read-only installation or tiers opened alone, else 0. */
TIER_EXTERN int tier_vault_is_read_only(const tier_vault *v);
TIER_EXTERN uint64_t tier_vault_max_revision(const tier_vault *v);
TIER_EXTERN size_t tier_vault_tier_count(const tier_vault *v);
TIER_EXTERN const tier_info *tier_vault_tier_info(const tier_vault *v,
                                                  size_t i);
/** Tier i's location (borrowed); waits first for a background retry of
 *  the tier's head read (intend_write) to end, so that it is the
 *  caller's alone. */
TIER_EXTERN tier_location *tier_vault_location(tier_vault *v, size_t i);

/**
 * R8: 0 when no tier is foreign or rolled back; else TIER_EFOREIGN or
 * TIER_EROLLEDBACK (foreign wins) with a one-line message (under ~250
 * characters) that names the tier, both revisions, who wrote the foreign
 * revision and when, and what to do: when that installation took the
 * vault over (tier-init --adopt), a vault of its own or --read-only,
 * never --adopt.  A read-only installation and a vault opened without a
 * state dir never trip it; one opened for reading
 * (tier_vault_options.reading) passes foreign tiers.  After those two,
 * TIER_EUSAGE when a tier holds another vault.
 */
TIER_EXTERN int tier_vault_check(const tier_vault *v);

/**
 * tier_vault_check() as a write sees it, also for a vault opened for
 * reading: what a reading tool warns about.  Returns 0, TIER_EFOREIGN,
 * TIER_EROLLEDBACK or TIER_EUSAGE as tier_vault_check().
 */
TIER_EXTERN int tier_vault_check_write(const tier_vault *v);

/**
 * Accept that tier `name` is behind what this installation wrote there
 * (an old disk image, a replaced disk): forget the stored ref so that the
 * tier counts as merely unsynchronised and tier-sync brings it level.
 * Returns 0, or TIER_EUSAGE without a writing installation (no state
 * directory, read-only), for no tier of that name or one that is not
 * rolled back; TIER_ERROR when the ref cannot be written; then the codes
 * of tier_vault_probe().
 */
TIER_EXTERN int tier_vault_accept_rollback(tier_vault *v, const char *name);

/* ---- write results ------------------------------------------------- */

typedef enum {
	TIER_WRITE_WRITTEN = 0,
	TIER_WRITE_SKIPPED_OFFLINE = 1,
	TIER_WRITE_SKIPPED_UNSYNCHRONIZED = 2,
	TIER_WRITE_FAILED = 3,
} tier_write_outcome;

typedef struct {
	const char *name;
	tier_write_outcome outcome;
	char error[512];
} tier_write_tier;

typedef struct {
	uint64_t revision;
	char commit[41];
	size_t ntiers;
	tier_write_tier *tiers;
} tier_write_result;

/** "written", "skipped-offline", "skipped-unsynchronized", "failed". */
TIER_EXTERN const char *tier_write_outcome_name(tier_write_outcome o);
TIER_EXTERN void tier_write_result_free(tier_write_result *r);

/** A key slot of an encrypted vault (tier-key list). */
typedef struct {
	char id[17];  /**< 16 hex digits */
	char kdf[64]; /**< "scrypt N=65536 r=8 p=1" */
	int64_t created;
	char host[256], user[256];
	int current; /**< the slot this run's password opened */
} tier_key_info;

/** The key slots of the newest revision; free(*out).  TIER_EUNSUPPORTED
 *  for a plaintext vault. */
TIER_EXTERN int tier_vault_key_list(tier_key_info **out, size_t *count,
                                    tier_vault *v);
/**
 * One logged write (Tier-Op: key) on every tier that takes it: add a slot
 * for password (NULL: none), made with kdf_memory bytes (0: 64 MiB), and
 * remove slot `remove` (NULL: none).  tier-key add, remove and passwd
 * (add the new, remove the current).  No data is rewritten: the master
 * key stays.  Removing the last slot is TIER_EUSAGE.
 */
TIER_EXTERN int tier_vault_key_change(tier_write_result **out, tier_vault *v,
                                      const char *password, size_t password_len,
                                      uint64_t kdf_memory, const char *remove,
                                      char id_out[17]);
/** The id of the slot this run's password opened; NULL: plaintext. */
TIER_EXTERN const char *tier_vault_key_current(const tier_vault *v);

/**
 * Write an archive mark: a revision that changes no data, labelled.
 * (Also the simplest write operation, used by tests of the log.)
 *
 * The codes of every write (tier_push_run() too): 0 when at least one
 * tier took the revision (*out says which); TIER_EUSAGE without a writing
 * installation (no state directory, read-only); TIER_EFOREIGN /
 * TIER_EROLLEDBACK before writing anything (R8); TIER_ETIMEOUT when the
 * installation's lock or a tier did not come free within
 * tier_vault_options.wait_timeout_ms; TIER_EOFFLINE when no tier can take
 * the write and wait_timeout_ms is 0, or no tier took it; when no tier
 * can take it and none is merely away, TIER_EAUTH (a tier refused us) or
 * else TIER_ECORRUPT (damaged, another vault); TIER_EABORTED when the
 * location options' sleep hook cancelled the wait; TIER_ERROR for a local
 * failure (lock file, log cache, intent journal, out of memory).
 */
TIER_EXTERN int tier_vault_mark(tier_write_result **out, tier_vault *v,
                                const char *label);

/* ---- history ---------------------------------------------------------- */

typedef struct {
	uint64_t revision;
	char commit[41];
	int64_t time;
	int time_offset; /**< minutes east of UTC */
	char op[32];
	char installation[65];
	char host[128];
	char user[128];
	char summary[256];
	int64_t files, bytes, new_bytes, packs; /**< -1 when not recorded */
} tier_log_entry;

/**
 * History from the newest revision of the first readable tier at the
 * maximum revision, newest first, at most `max` entries (0 = all).
 * Returns 0 (count 0 for a vault without revisions), or TIER_EOFFLINE /
 * TIER_EAUTH / TIER_ECORRUPT when no tier is readable (offline, refused,
 * damaged), TIER_ECORRUPT for a log commit that fails its checks, TIER_ERROR
 * when out of memory.
 */
TIER_EXTERN int tier_vault_log(tier_log_entry **out, size_t *count,
                               tier_vault *v, size_t max);

/**
 * The source paths revision `commit` (hex id, as in tier_log_entry)
 * holds, in the order they were given to the push: one Tier-Path trailer
 * each.  *out is a NULL-terminated array for tier_strings_free(); it is
 * empty (count 0) for a revision that records no path (an op other than
 * push, or a push written before Tier-Path existed: its summary says).
 * Returns 0, or TIER_EUSAGE when `commit` is not a hex commit id;
 * TIER_ENOTFOUND when the log cache does not hold it; TIER_ECORRUPT when
 * it is not a commit or is too large to be one; TIER_ERROR when out of
 * memory.
 */
TIER_EXTERN int tier_vault_revision_paths(char ***out, size_t *count,
                                          tier_vault *v, const char *commit);

/**
 * Every value of trailer `key` of revision `commit`, in order: "Tier-Tag"
 * (one per tag), "Tier-Message" (at most one), "Tier-Path" (as
 * tier_vault_revision_paths()), or any other (docs/format.md).  The
 * same returns and array as tier_vault_revision_paths(); TIER_EUSAGE also
 * for an empty key.
 */
TIER_EXTERN int tier_vault_revision_trailers(char ***out, size_t *count,
                                             tier_vault *v, const char *commit,
                                             const char *key);

/** Free a NULL-terminated array of strings (NULL: no-op). */
TIER_EXTERN void tier_strings_free(char **list);

/** One difference between two snapshots. */
typedef struct {
	char status; /**< 'A' added, 'D' deleted, 'M' modified (data or metadata) */
	const char *path; /**< "/home/u/file" */
	uint64_t old_size, new_size;
} tier_diff_entry;

typedef int (*tier_diff_cb)(const tier_diff_entry *e, void *payload);

/**
 * What changed between the snapshots of revisions `from` and `to` (from 0:
 * the empty snapshot), file by file in path order.  Directories' own
 * metadata changes are not reported.  cb returning non-zero stops
 * (TIER_EABORTED).  Returns 0, or TIER_ENOTFOUND for a revision that
 * does not exist (or the vault has none yet); TIER_ECORRUPT when the log
 * ends early, a commit carries another revision or a snapshot does not
 * parse; TIER_EOFFLINE / TIER_EAUTH / TIER_ECORRUPT when no tier is
 * readable; TIER_EABORTED when cb stopped; TIER_ERROR when out of
 * memory.
 */
TIER_EXTERN int tier_vault_diff(tier_vault *v, uint64_t from, uint64_t to,
                                tier_diff_cb cb, void *payload);

#ifdef __cplusplus
}
#endif
#endif
