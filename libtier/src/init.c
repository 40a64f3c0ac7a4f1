/*
 * tier_vault_init: a new installation, and with it a new vault on empty
 * tiers (revision 1, the same commit on every tier), or one that adopts a
 * vault (logged as an 'adopt' revision, R8 then stops the old machine) or
 * follows it read-only.  An installation that fails to come into being
 * leaves nothing behind.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "snapshot.h"
#include "tier/sys/driver.h"
#include "util/error.h"
#include "util/posix.h"
#include "vault_int.h"

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
	if ((rc = tier_vault_alloc(&v, opts)) < 0)
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
	if ((rc = tier_vault_open_cache(v, 1)) < 0)
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
