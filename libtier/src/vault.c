/*
 * The vault handle: opening an installation (or tiers alone), freeing it,
 * and the accessors.  What the handle does lives beside it: the config
 * and lock in installation.c, refs and intents in tierref.c (R9), the
 * probe in probe.c (R5, R8), init in init.c, the write in write.c (R3).
 */
#include "vault_int.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "keys.h"
#include "odb_pack.h"
#include "util/error.h"
#include "util/posix.h"

/* libgit2's memory bounds (see git_init_once) */
#define TIER_GIT_MWINDOW_SIZE  ((size_t)2 << 20)
#define TIER_GIT_MWINDOW_LIMIT ((size_t)8 << 20)
#define TIER_GIT_CACHE_MAX     ((ssize_t)8 << 20)

static pthread_once_t git_once = PTHREAD_ONCE_INIT;
static void git_init_once(void)
{
	git_libgit2_init();
	/* our repositories must not depend on the user's git configuration
	 * (nor fail when $HOME is unreadable, as for a backup run as 'nobody') */
	git_libgit2_opts(GIT_OPT_SET_SEARCH_PATH, GIT_CONFIG_LEVEL_GLOBAL, "");
	git_libgit2_opts(GIT_OPT_SET_SEARCH_PATH, GIT_CONFIG_LEVEL_XDG, "");
	git_libgit2_opts(GIT_OPT_SET_SEARCH_PATH, GIT_CONFIG_LEVEL_SYSTEM, "");
	git_libgit2_opts(GIT_OPT_SET_SEARCH_PATH, GIT_CONFIG_LEVEL_PROGRAMDATA,
	                 "");
	/* memory that does not grow with the vault (SPEC 11): libgit2 maps
	 * pack files in windows of 1 GiB up to 8 GiB by default and keeps
	 * 256 MiB of parsed objects; resident pages of a mapped log cache
	 * count as ours.  2 MiB windows up to 8 MiB: an unchanged push of
	 * 1M files 59 -> 45 MiB and no slower (4.6 s against 4.8-5.7 s). */
	git_libgit2_opts(GIT_OPT_SET_MWINDOW_SIZE, TIER_GIT_MWINDOW_SIZE);
	git_libgit2_opts(GIT_OPT_SET_MWINDOW_MAPPED_LIMIT,
	                 TIER_GIT_MWINDOW_LIMIT);
	git_libgit2_opts(GIT_OPT_SET_CACHE_MAX_SIZE, TIER_GIT_CACHE_MAX);
}

/* ---- opening --------------------------------------------------------- */

int tier_vault_open_cache(tier_vault *v, int create)
{
	char path[PATH_MAX];
	int rc;
	if (v->state_dir) {
		snprintf(path, sizeof(path), "%s/cache.git", v->state_dir);
	} else {
		const char *base = getenv("TMPDIR");
		snprintf(path, sizeof(path), "%s/tier-cache-XXXXXX",
		         base && *base ? base : "/tmp");
		if (!mkdtemp(path))
			return tier_error_set_errno(
			        TIER_ERROR, errno,
			        "cannot create a temporary log cache");
		v->tmp_cache = tier_strdup(path);
		create = 1;
	}
	if (create)
		rc = git_repository_init(&v->cache, path, 1);
	else
		rc = git_repository_open_bare(&v->cache, path);
	if (rc < 0)
		return tier_error_from_git(rc, "cannot open log cache '%s'",
		                           path);
	/* its packs read with pread, not mapped (issue 15, odb_pack.h) */
	if ((rc = tier_odb_pack_install(v->cache)) < 0)
		return tier_error_from_git(rc, "cannot open log cache '%s'",
		                           path);
	return 0;
}

/*
 * The config's caps of the tier named name, where the caller set none
 * (--limit-upload and --limit-download win for the run): 1 when they
 * change opts.
 */
static int tier_limits(const tier_vault *v, const char *name,
                       tier_location_options *opts)
{
	int changed = 0;
	for (size_t i = 0; i < v->nlimits; i++) {
		if (strcmp(v->limits[i].name, name) != 0)
			continue;
		if (!opts->max_send_speed && v->limits[i].up) {
			opts->max_send_speed = v->limits[i].up;
			changed = 1;
		}
		if (!opts->max_recv_speed && v->limits[i].down) {
			opts->max_recv_speed = v->limits[i].down;
			changed = 1;
		}
	}
	return changed;
}

/* Open t's location: v's options, the config's caps, our hooks. */
static int open_location(tier_vault *v, struct vtier *t, const char *spec)
{
	tier_location_options lo = v->lopts;
	int rc;
	if ((rc = tier_reach_attach(v, t, &lo)) < 0 ||
	    (rc = tier_location_open(&t->loc, spec, &lo)) < 0)
		return rc;
	/* its name is known once open (opening contacts no tier) */
	if (tier_limits(v, tier_location_name(t->loc), &lo)) {
		tier_location_free(t->loc);
		t->loc = NULL;
		if ((rc = tier_location_open(&t->loc, spec, &lo)) < 0)
			return rc;
	}
	for (size_t i = 0; i < v->n; i++)
		if (!strcmp(tier_location_name(v->t[i].loc),
		            tier_location_name(t->loc)))
			return tier_error_set(
			        TIER_EUSAGE,
			        "two tiers are named '%s': name them with NAME=URL",
			        tier_location_name(t->loc));
	return 0;
}

int tier_vault_add_tier(tier_vault *v, const char *spec)
{
	struct vtier *nt = tier_realloc(v->t, (v->n + 1) * sizeof(*v->t));
	if (!nt)
		return TIER_ERROR;
	v->t = nt;
	struct vtier *t = &v->t[v->n];
	memset(t, 0, sizeof(*t));
	int rc = open_location(v, t, spec);
	if (rc < 0) {
		tier_location_free(t->loc);
		tier_reach_detach(v, t);
		return rc;
	}
	t->info.name = tier_location_name(t->loc);
	t->info.url = tier_location_display(t->loc);
	v->n++;
	return 0;
}

/* The vault's head reads signal their end on a monotonic clock. */
static int reach_init(tier_vault *v)
{
	pthread_condattr_t ca;
	int ok = pthread_condattr_init(&ca) == 0;
	ok = ok && pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) == 0 &&
	     pthread_cond_init(&v->reach_cv, &ca) == 0;
	pthread_condattr_destroy(&ca);
	if (!ok)
		return tier_error_set(TIER_ERROR, "cannot make a condition");
	if (pthread_mutex_init(&v->reach_mu, NULL) != 0) {
		pthread_cond_destroy(&v->reach_cv);
		return tier_error_set(TIER_ERROR, "cannot make a mutex");
	}
	v->reach_ready = 1;
	return 0;
}

int tier_vault_alloc(tier_vault **out, const tier_vault_options *opts)
{
	pthread_once(&git_once, git_init_once);
	tier_vault *v = tier_calloc(1, sizeof(*v));
	if (!v)
		return TIER_ERROR;
	v->lock_fd = -1;
	if (reach_init(v) < 0) {
		free(v);
		return TIER_ERROR;
	}
	tier_location_options def = TIER_LOCATION_OPTIONS_INIT;
	v->lopts = opts ? opts->location : def;
	v->wait_timeout_ms =
	        opts ? opts->wait_timeout_ms : TIER_DEFAULT_WAIT_TIMEOUT_MS;
	v->reading = opts ? opts->reading : 0;
	v->notice = opts ? opts->notice : NULL;
	v->notice_payload = opts ? opts->notice_payload : NULL;
	v->password = opts ? opts->password : NULL;
	v->password_payload = opts ? opts->password_payload : NULL;
	if (opts && opts->state_dir && *opts->state_dir &&
	    !(v->state_dir = tier_strdup(opts->state_dir))) {
		tier_vault_free(v);
		return TIER_ERROR;
	}
	*out = v;
	return 0;
}

/*
 * Where the vault is read from: an installation (its config, its cache),
 * or tiers alone (-t, read-only, a temporary cache).
 */
static int open_source(tier_vault *v, const tier_vault_options *opts,
                       git_config **cfg)
{
	int rc;
	if (v->state_dir) {
		if ((rc = tier_installation_load(v, opts, cfg)) < 0)
			return rc;
		return tier_vault_open_cache(v, 0);
	}
	if (!opts || opts->ntiers == 0)
		return tier_error_set(
		        TIER_EUSAGE,
		        "no installation and no tier: give -s DIR or -t URL");
	v->read_only = 1;
	return tier_vault_open_cache(v, 1);
}

/* The tiers given (-t), which an installation must know. */
static int open_given_tiers(tier_vault *v, const tier_vault_options *opts,
                            git_config *cfg)
{
	int rc;
	for (size_t i = 0; opts && i < opts->ntiers; i++)
		if ((rc = tier_vault_add_tier(v, opts->tiers[i])) < 0 ||
		    (cfg && (rc = tier_installation_check_tier(
		                     v, cfg, v->t[v->n - 1].info.name)) < 0))
			return rc;
	return 0;
}

int tier_vault_open(tier_vault **out, const tier_vault_options *opts)
{
	tier_vault *v = NULL;
	git_config *cfg = NULL;
	tier_error_saved e;
	int rc;

	TIER_ASSERT_ARG(out);
	*out = NULL;
	if (opts)
		TIER_CHECK_VERSION(opts, TIER_VAULT_OPTIONS_VERSION,
		                   "tier_vault_options");
	if ((rc = tier_vault_alloc(&v, opts)) < 0)
		return rc;
	if ((rc = open_source(v, opts, &cfg)) < 0 ||
	    (rc = open_given_tiers(v, opts, cfg)) < 0)
		goto fail;
	if (opts->intend_write && v->state_dir && !v->read_only)
		tier_installation_announce_write(v);
	/* a writer goes on without the tiers that do not answer at once */
	if (!opts->no_probe &&
	    ((rc = opts->intend_write && v->state_dir && !v->read_only
	                   ? tier_vault_probe_write(v)
	                   : tier_vault_probe(v)) < 0 ||
	     (rc = tier_keys_load(v)) < 0))
		goto fail;
	git_config_free(cfg);
	*out = v;
	return 0;
fail:
	/* the error that stopped the open, not one of the cleanup's */
	tier_error_save(&e);
	git_config_free(cfg);
	tier_vault_free(v);
	tier_error_restore(&e);
	return rc;
}

void tier_vault_free(tier_vault *v)
{
	if (!v)
		return;
	tier_installation_unlock(v);
	tier_installation_withdraw_write(v);
	for (size_t i = 0; i < v->n; i++) {
		/* a background retry ends first: it uses the location */
		tier_reach_detach(v, &v->t[i]);
		tier_location_free(v->t[i].loc);
		tier_buf_dispose(&v->t[i].problem);
	}
	free(v->t);
	free(v->cacert_conf);
	free(v->limits);
	if (v->keys) {
		tier_keys_wipe(v->keys);
		free(v->keys);
	}
	git_repository_free(v->cache);
	if (v->tmp_cache) {
		tier_rm_rf(v->tmp_cache);
		free(v->tmp_cache);
	}
	free(v->state_dir);
	if (v->reach_ready) {
		pthread_cond_destroy(&v->reach_cv);
		pthread_mutex_destroy(&v->reach_mu);
	}
	free(v);
}

const char *tier_vault_id(const tier_vault *v)
{
	return v->vault_id;
}
const char *tier_vault_installation_id(const tier_vault *v)
{
	return v->inst_id;
}
int tier_vault_encrypted(const tier_vault *v)
{
	return v->keys != NULL;
}
const tier_keys *tier_vault_keys(const tier_vault *v)
{
	return v->keys;
}

const char *tier_vault_state_dir(const tier_vault *v)
{
	return v->state_dir;
}
int tier_vault_is_read_only(const tier_vault *v)
{
	return v->read_only;
}
uint64_t tier_vault_max_revision(const tier_vault *v)
{
	return v->max_rev;
}
size_t tier_vault_tier_count(const tier_vault *v)
{
	return v->n;
}
git_repository *tier_vault_cache(tier_vault *v)
{
	return v->cache;
}

const tier_info *tier_vault_tier_info(const tier_vault *v, size_t i)
{
	return i < v->n ? &v->t[i].info : NULL;
}

tier_location *tier_vault_location(tier_vault *v, size_t i)
{
	if (i >= v->n)
		return NULL;
	/* the caller may use it: no retry of ours may be using it still */
	tier_reach_settle(v, &v->t[i]);
	return v->t[i].loc;
}

int tier_vault_tier_head(const tier_vault *v, size_t i, git_oid *out)
{
	if (i >= v->n || !v->t[i].has_head)
		return TIER_ENOTFOUND;
	git_oid_cpy(out, &v->t[i].head);
	return 0;
}

int tier_vault_best_head(tier_vault *v, git_oid *out, size_t *idx)
{
	for (size_t i = 0; i < v->n; i++)
		if (v->t[i].info.synchronized && v->t[i].has_head) {
			git_oid_cpy(out, &v->t[i].head);
			if (idx)
				*idx = i;
			return 0;
		}
	for (size_t i = 0; i < v->n; i++) {
		tier_state st = v->t[i].info.state;
		const char *why = v->t[i].info.problem ? v->t[i].info.problem
		                                       : "unreadable";
		if (st == TIER_STATE_OFFLINE)
			return tier_error_set(
			        TIER_EOFFLINE,
			        "no tier of the vault is readable: %s", why);
		if (st == TIER_STATE_REFUSED)
			return tier_error_set(
			        TIER_EAUTH,
			        "no tier of the vault is readable: %s", why);
		if (st == TIER_STATE_DAMAGED || st == TIER_STATE_OTHER_VAULT)
			return tier_error_set(
			        TIER_ECORRUPT,
			        "no tier of the vault is readable: %s", why);
	}
	return tier_error_set(TIER_ENOTFOUND, "the vault has no revision yet");
}
