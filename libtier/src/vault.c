#include "vault_int.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <git2/sys/mempack.h>
#include <git2/sys/odb_backend.h>

#include "log.h"
#include "odb_frozen.h"
#include "util/idset.h"
#include "tier/sys/driver.h"
#include "retry.h"
#include "snapshot.h"
#include "util/error.h"
#include "util/posix.h"
#include "util/text.h"

/* ---- small helpers -------------------------------------------------- */

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
}

static int random_hex(char *out, size_t nbytes)
{
	unsigned char raw[32];
	if (nbytes > sizeof(raw))
		nbytes = sizeof(raw);
	if (getrandom(raw, nbytes, 0) != (ssize_t)nbytes)
		return tier_error_set_errno(TIER_ERROR, errno,
		                            "cannot get random bytes");
	for (size_t i = 0; i < nbytes; i++)
		sprintf(out + 2 * i, "%02x", raw[i]);
	return 0;
}

/* ---- opening --------------------------------------------------------- */

static int open_cache(tier_vault *v, int create)
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
	int rc = tier_location_open(&t->loc, spec, &v->lopts);
	if (rc < 0)
		return rc;
	for (size_t i = 0; i < v->n; i++)
		if (!strcmp(tier_location_name(v->t[i].loc),
		            tier_location_name(t->loc))) {
			rc = tier_error_set(
			        TIER_EUSAGE,
			        "two tiers are named '%s': name them with NAME=URL",
			        tier_location_name(t->loc));
			tier_location_free(t->loc);
			return rc;
		}
	t->info.name = tier_location_name(t->loc);
	t->info.url = tier_location_display(t->loc);
	v->n++;
	return 0;
}

static int vault_alloc(tier_vault **out, const tier_vault_options *opts)
{
	pthread_once(&git_once, git_init_once);
	tier_vault *v = tier_calloc(1, sizeof(*v));
	if (!v)
		return TIER_ERROR;
	v->lock_fd = -1;
	tier_location_options def = TIER_LOCATION_OPTIONS_INIT;
	v->lopts = opts ? opts->location : def;
	v->wait_timeout_ms =
	        opts ? opts->wait_timeout_ms : TIER_DEFAULT_WAIT_TIMEOUT_MS;
	v->reading = opts ? opts->reading : 0;
	v->notice = opts ? opts->notice : NULL;
	v->notice_payload = opts ? opts->notice_payload : NULL;
	if (opts && opts->state_dir && *opts->state_dir &&
	    !(v->state_dir = tier_strdup(opts->state_dir))) {
		free(v);
		return TIER_ERROR;
	}
	*out = v;
	return 0;
}

/* ---- opening --------------------------------------------------------- */

int tier_vault_open(tier_vault **out, const tier_vault_options *opts)
{
	tier_vault *v = NULL;
	git_config *cfg = NULL;
	int rc;

	*out = NULL;
	TIER_ASSERT_ARG(out);
	if (opts)
		TIER_CHECK_VERSION(opts, TIER_VAULT_OPTIONS_VERSION,
		                   "tier_vault_options");
	if ((rc = vault_alloc(&v, opts)) < 0)
		return rc;
	if (v->state_dir) {
		if ((rc = tier_installation_load(v, opts, &cfg)) < 0)
			goto fail;
		if ((rc = open_cache(v, 0)) < 0)
			goto fail;
	} else {
		if (!opts || opts->ntiers == 0) {
			rc = tier_error_set(
			        TIER_EUSAGE,
			        "no installation and no tier: give -s DIR or -t URL");
			goto fail;
		}
		v->read_only = 1;
		if ((rc = open_cache(v, 1)) < 0)
			goto fail;
	}
	for (size_t i = 0; opts && i < opts->ntiers; i++)
		if ((rc = tier_vault_add_tier(v, opts->tiers[i])) < 0 ||
		    (cfg && (rc = tier_installation_check_tier(
		                     v, cfg, v->t[v->n - 1].info.name)) < 0))
			goto fail;
	if (opts->intend_write && v->state_dir && !v->read_only)
		tier_installation_announce_write(v);
	if (!opts->no_probe && (rc = tier_vault_probe(v)) < 0)
		goto fail;
	git_config_free(cfg);
	*out = v;
	return 0;
fail:
	git_config_free(cfg);
	tier_vault_free(v);
	return rc;
}

/* Create the last component of a tier's root, through its parent. */
static int create_root(tier_location *loc, const tier_location_options *lopts)
{
	const tier_url *u = tier_location_url(loc);
	struct stat st;
	int rc;
	if (!strcmp(u->scheme, "fault") && u->inner)
		u = u->inner;
	if (!strcmp(u->scheme, "file")) {
		/* private whatever the umask or a set-group-ID parent: the
		 * file driver shares a root only when told (docs/security.md) */
		if (stat(u->path, &st) < 0 && errno == ENOENT &&
		    (mkdir(u->path, 0700) < 0 || chmod(u->path, 0700) < 0))
			return tier_error_set_errno(
			        TIER_EOFFLINE, errno,
			        "cannot create tier root '%s'", u->path);
		return 0;
	}
	if (!(tier_location_caps(loc) & TIER_DRIVER_CAP_DIRS))
		return 0; /* object stores have no directories */
	rc = tier_location_stat(loc, "", &(tier_stat){0});
	if (rc != TIER_ENOTFOUND)
		return 0; /* there, or the tier will say what is wrong on first use */
	tier_error_clear();
	const char *slash = strrchr(u->path, '/');
	if (!slash || !slash[1] || slash == u->path)
		return 0;
	tier_url *parent = NULL;
	tier_driver *drv = NULL;
	if ((rc = tier_url_dup(&parent, u)) < 0)
		return rc;
	parent->path[slash - u->path] = '\0';
	if ((rc = tier_driver_open(&drv, parent, lopts)) == 0) {
		rc = drv->mkdir_p(drv, slash + 1);
		drv->free(drv);
	}
	tier_url_free(parent);
	if (rc < 0)
		tier_error_prefix("cannot create the root of tier '%s'",
		                  tier_location_name(loc));
	return rc;
}

int tier_vault_init(tier_vault **out, const tier_vault_options *opts)
{
	tier_vault *v = NULL;
	git_config *cfg = NULL;
	int rc;
	char path[PATH_MAX], host[128], user[128];
	struct stat st;

	*out = NULL;
	TIER_ASSERT_ARG(out);
	TIER_ASSERT_ARG(opts);
	TIER_CHECK_VERSION(opts, TIER_VAULT_OPTIONS_VERSION,
	                   "tier_vault_options");
	if (!opts->state_dir || !*opts->state_dir)
		return tier_error_set(
		        TIER_EUSAGE,
		        "tier-init needs a state directory (-s DIR)");
	if (opts->ntiers == 0)
		return tier_error_set(
		        TIER_EUSAGE,
		        "tier-init needs at least one tier (-t URL)");
	snprintf(path, sizeof(path), "%s/config", opts->state_dir);
	if (stat(path, &st) == 0)
		return tier_error_set(
		        TIER_ECONFLICT,
		        "'%s' already holds an installation; use another state directory",
		        opts->state_dir);
	if ((rc = vault_alloc(&v, opts)) < 0)
		return rc;
	v->read_only = opts->mode == TIER_INIT_READ_ONLY;
	for (size_t i = 0; i < opts->ntiers; i++)
		if ((rc = tier_vault_add_tier(v, opts->tiers[i])) < 0)
			goto fail;

	/* a tier root is created if its parent exists (not a whole path:
	 * that would hide an unmounted share under a fresh directory tree) */
	for (size_t i = 0; i < v->n; i++)
		if ((rc = create_root(v->t[i].loc, &v->lopts)) < 0)
			goto fail;

	if (tier_mkdir_p(opts->state_dir, 0700) < 0) {
		rc = tier_error_last_code();
		goto fail;
	}
	snprintf(path, sizeof(path), "%s/intent", opts->state_dir);
	if (tier_mkdir_p(path, 0700) < 0) {
		rc = tier_error_last_code();
		goto fail;
	}
	if ((rc = open_cache(v, 1)) < 0)
		goto fail;

	if (opts->mode == TIER_INIT_NEW) {
		for (size_t i = 0; i < v->n; i++) {
			int empty = 0;
			if ((rc = tier_log_tier_is_empty(v->t[i].loc, &empty)) <
			    0) {
				tier_error_prefix(
				        "cannot create the vault on tier '%s'",
				        v->t[i].info.name);
				goto fail;
			}
			if (!empty) {
				rc = tier_error_set(
				        TIER_ECONFLICT,
				        "tier '%s' (%s) is not empty: tier-init creates a vault only on "
				        "empty tiers (use --adopt to take over an existing vault)",
				        v->t[i].info.name, v->t[i].info.url);
				goto fail;
			}
		}
		if ((rc = random_hex(v->vault_id, 16)) < 0)
			goto fail;
	}
	if ((rc = random_hex(v->inst_id, 16)) < 0)
		goto fail;

	/* write the installation config before touching any tier */
	tier_installation_who(user, sizeof(user), host, sizeof(host));
	snprintf(path, sizeof(path), "%s/config", opts->state_dir);
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		rc = tier_error_set_errno(TIER_ERROR, errno,
		                          "cannot create '%s'", path);
		goto fail;
	}
	close(fd);
	tier_buf order = TIER_BUF_INIT;
	for (size_t i = 0; i < v->n; i++)
		tier_buf_printf(&order, "%s%s", i ? " " : "",
		                v->t[i].info.name);
	if ((rc = tier_installation_config_open(&cfg, opts->state_dir)) < 0)
		goto fail_order;
	if ((rc = git_config_set_string(cfg, "installation.id", v->inst_id)) <
	            0 ||
	    (rc = git_config_set_string(cfg, "installation.host", host)) < 0 ||
	    (rc = git_config_set_string(cfg, "installation.user", user)) < 0 ||
	    (rc = git_config_set_bool(cfg, "installation.readonly",
	                              v->read_only)) < 0 ||
	    (rc = git_config_set_string(cfg, "installation.tiers",
	                                tier_buf_cstr(&order))) < 0 ||
	    (v->lopts.cacert &&
	     (rc = git_config_set_string(cfg, "tls.cacert", v->lopts.cacert)) <
	             0) ||
	    (v->lopts.insecure &&
	     (rc = git_config_set_bool(cfg, "tls.insecure", 1)) < 0)) {
		rc = tier_error_from_git(rc,
		                         "cannot write installation config");
		goto fail_order;
	}
	for (size_t i = 0; i < v->n; i++) {
		char key[256], *url;
		const tier_url *u = tier_location_url(v->t[i].loc);
		/* keep the URL as given (with its credentials, mode 0600) */
		url = tier_url_redacted(u);
		const char *spec = opts->tiers[i];
		const char *eq = strchr(spec, '=');
		const char *colon = strchr(spec, ':');
		if (eq && (!colon || eq < colon))
			spec = eq + 1;
		snprintf(key, sizeof(key), "tier.%s.url", v->t[i].info.name);
		rc = git_config_set_string(cfg, key, spec);
		free(url);
		if (rc < 0) {
			rc = tier_error_from_git(
			        rc, "cannot write installation config");
			goto fail_order;
		}
	}

	/* libgit2 rewrites the file through a lock file: make it private again
	 * (it may hold tier passwords) */
	chmod(path, 0600);
	if (opts->mode == TIER_INIT_NEW) {
		if ((rc = git_config_set_string(cfg, "vault.id", v->vault_id)) <
		    0) {
			rc = tier_error_from_git(
			        rc, "cannot write installation config");
			goto fail_order;
		}
		tier_buf_dispose(&order);
		git_config_free(cfg);
		cfg = NULL;
		chmod(path, 0600);
		/* revision 1: the vault's birth, the same commit on every tier */
		for (size_t i = 0; i < v->n; i++)
			if ((rc = tier_log_create(v->t[i].loc)) < 0) {
				tier_error_prefix(
				        "cannot create the vault on tier '%s'",
				        v->t[i].info.name);
				goto fail;
			}
		if ((rc = tier_vault_probe(v)) < 0)
			goto fail;
		tier_write_result *res = NULL;
		tier_write *w = NULL;
		git_oid tree;
		if ((rc = tier_write_begin(&w, v, "init")) < 0)
			goto fail;
		rc = tier_snap_initial_tree(&tree, tier_write_repo(w),
		                            v->vault_id);
		if (rc == 0)
			rc = tier_write_commit(w, &tree, "init: new vault",
			                       NULL, &res);
		tier_write_free(w);
		if (rc == 0 && res) {
			for (size_t i = 0; i < res->ntiers; i++)
				if (res->tiers[i].outcome !=
				    TIER_WRITE_WRITTEN) {
					rc = tier_error_set(
					        TIER_EOFFLINE,
					        "cannot create the vault on tier '%s': %s",
					        res->tiers[i].name,
					        res->tiers[i].error);
					break;
				}
		}
		tier_write_result_free(res);
		if (rc < 0)
			goto fail;
	} else {
		tier_buf_dispose(&order);
		/* adopt / follow: learn the vault from the tiers */
		if ((rc = tier_vault_probe(v)) < 0)
			goto fail;
		if (!v->vault_id[0]) {
			rc = tier_error_set(
			        TIER_ENOTFOUND,
			        "no tier holds a vault to %s (are they online?)",
			        opts->mode == TIER_INIT_ADOPT ? "adopt"
			                                      : "follow");
			goto fail;
		}
		if ((rc = git_config_set_string(cfg, "vault.id", v->vault_id)) <
		    0) {
			rc = tier_error_from_git(
			        rc, "cannot write installation config");
			goto fail;
		}
		git_config_free(cfg);
		cfg = NULL;
		chmod(path, 0600);
		if (opts->mode == TIER_INIT_ADOPT) {
			/* our refs start at what the tiers hold now */
			for (size_t i = 0; i < v->n; i++)
				if (v->t[i].has_head &&
				    v->t[i].info.state == TIER_STATE_OK &&
				    (rc = tier_ref_write(v, &v->t[i],
				                         &v->t[i].head)) < 0)
					goto fail;
			if ((rc = tier_vault_probe(v)) < 0)
				goto fail;
			/* the take-over is itself logged, so the old machine sees it */
			tier_write_result *res = NULL;
			tier_write *w = NULL;
			char summary[256];
			snprintf(summary, sizeof(summary),
			         "adopt: installation %.12s on %s takes over",
			         v->inst_id, host);
			if ((rc = tier_write_begin(&w, v, "adopt")) < 0)
				goto fail;
			rc = tier_write_commit(w, NULL, summary, NULL, &res);
			tier_write_free(w);
			tier_write_result_free(res);
			if (rc < 0)
				goto fail;
		}
	}
	git_config_free(cfg);
	*out = v;
	return 0;
fail_order:
	tier_buf_dispose(&order);
fail:
	git_config_free(cfg);
	/* an installation that failed to come into being must not linger */
	if (v && v->state_dir)
		tier_installation_remove(v);
	tier_vault_free(v);
	return rc;
}

void tier_vault_free(tier_vault *v)
{
	if (!v)
		return;
	tier_installation_unlock(v);
	tier_installation_withdraw_write(v);
	for (size_t i = 0; i < v->n; i++) {
		tier_location_free(v->t[i].loc);
		tier_buf_dispose(&v->t[i].problem);
	}
	free(v->t);
	free(v->cacert_conf);
	git_repository_free(v->cache);
	if (v->tmp_cache) {
		tier_rm_rf(v->tmp_cache);
		free(v->tmp_cache);
	}
	free(v->state_dir);
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
	return i < v->n ? v->t[i].loc : NULL;
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
