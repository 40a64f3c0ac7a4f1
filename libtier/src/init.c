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

#include "keys.h"
#include "log.h"
#include "snapshot.h"
#include "tier/sys/driver.h"
#include "util/error.h"
#include "util/posix.h"
#include "vault_int.h"
#include "write.h"

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

/*
 * file://: the root with every missing parent (mkdir -p, SPEC section 4).
 * The parents get the usual mode (the umask decides); the root itself is
 * private whatever the umask or a set-group-ID parent: the file driver
 * shares a root only when told (docs/security.md).
 */
static int create_file_root(const char *path)
{
	struct stat st;
	char parent[PATH_MAX];
	if (stat(path, &st) == 0 || (errno != ENOENT && errno != ENOTDIR))
		return 0; /* there, or the tier will say what is wrong */
	size_t n = strlen(path);
	while (n > 1 && path[n - 1] == '/')
		n--;
	const char *slash = memrchr(path, '/', n);
	if (slash && slash > path && (size_t)(slash - path) < sizeof(parent)) {
		memcpy(parent, path, (size_t)(slash - path));
		parent[slash - path] = '\0';
		int rc = tier_mkdir_p(parent, 0755);
		if (rc < 0) {
			tier_error_prefix("cannot create tier root '%s'", path);
			return rc == TIER_ECONFLICT ? rc : TIER_EOFFLINE;
		}
	}
	if (mkdir(path, 0700) < 0 || chmod(path, 0700) < 0)
		return tier_error_set_errno(TIER_EOFFLINE, errno,
		                            "cannot create tier root '%s'",
		                            path);
	return 0;
}

/*
 * ftp://, ftps://, sftp://: find the nearest ancestor of the root that
 * exists (a driver opened on it finds its own root), then create every
 * level below it in one mkdir_p.  Walking up, not down from "/", never
 * asks the server to make a directory above one that is there (a chroot,
 * "/~" for the home directory, a login directory the user may not leave).
 */
static int create_remote_root(tier_location *loc, const tier_url *u,
                              const tier_location_options *lopts)
{
	tier_stat st = {0};
	int rc = tier_location_stat(loc, "", &st);
	if (rc != TIER_ENOTFOUND)
		return 0; /* there, or the tier will say what is wrong on first use */
	tier_error_clear();

	tier_url *parent = NULL;
	if ((rc = tier_url_dup(&parent, u)) < 0)
		return rc;
	size_t n = strlen(u->path);
	while (n > 0 && u->path[n - 1] == '/')
		n--;
	for (;;) {
		const char *slash = memrchr(u->path, '/', n);
		if (!slash) {
			rc = tier_error_set(TIER_ENOTFOUND,
			                    "no directory above it exists");
			break;
		}
		n = (size_t)(slash - u->path);
		memcpy(parent->path, u->path, n);
		parent->path[n] = '\0';
		tier_driver *drv = NULL;
		if ((rc = tier_driver_open(&drv, parent, lopts)) < 0)
			break;
		/* the server's top ("/" or the login directory) is not probed:
		 * it is there if we could log in */
		rc = n == 0 ? 0 : drv->stat(drv, "", &st);
		if (rc == 0)
			rc = drv->mkdir_p(drv, slash + 1);
		drv->free(drv);
		if (rc != TIER_ENOTFOUND || n == 0)
			break;
		tier_error_clear();
	}
	tier_url_free(parent);
	if (rc < 0)
		tier_error_prefix("cannot create the root of tier '%s'",
		                  tier_location_name(loc));
	return rc;
}

/* Create a tier's root and its missing parents. */
static int create_root(tier_location *loc, const tier_location_options *lopts)
{
	const tier_url *u = tier_location_url(loc);
	if (!strcmp(u->scheme, "fault") && u->inner)
		u = u->inner;
	if (!strcmp(u->scheme, "file"))
		return create_file_root(u->path);
	if (!(tier_location_caps(loc) & TIER_DRIVER_CAP_DIRS))
		return 0; /* s3: the bucket must exist, a prefix needs no making */
	return create_remote_root(loc, u, lopts);
}

/* One tier_vault_init: what its steps share. */
struct init_run {
	const tier_vault_options *opts;
	tier_vault *v;
	git_config *cfg;       /* the config being written, until vault.id */
	char config[PATH_MAX]; /* <state>/config */
	char user[128], host[128];
};

/* A state directory and a tier to start with, and no installation yet. */
static int init_check(const tier_vault_options *opts)
{
	char path[PATH_MAX];
	struct stat st;
	if (!opts->state_dir || !*opts->state_dir)
		return tier_error_set(
		        TIER_EUSAGE,
		        "tier-init needs a state directory (-s DIR)");
	if (opts->ntiers == 0)
		return tier_error_set(
		        TIER_EUSAGE,
		        "tier-init needs at least one tier (-t URL)");
	if (opts->encryption && strcmp(opts->encryption, "none") &&
	    strcmp(opts->encryption, "aes-256-gcm"))
		return tier_error_set(TIER_EUSAGE,
		                      "unknown encryption '%s' (aes-256-gcm or "
		                      "none)",
		                      opts->encryption);
	snprintf(path, sizeof(path), "%s/config", opts->state_dir);
	if (stat(path, &st) == 0)
		return tier_error_set(
		        TIER_ECONFLICT,
		        "'%s' already holds an installation; use another state directory",
		        opts->state_dir);
	return 0;
}

static int init_tiers(struct init_run *run)
{
	tier_vault *v = run->v;
	int rc;
	v->read_only = run->opts->mode == TIER_INIT_READ_ONLY;
	for (size_t i = 0; i < run->opts->ntiers; i++)
		if ((rc = tier_vault_add_tier(v, run->opts->tiers[i])) < 0)
			return rc;
	/* each tier root is created with its missing parents (SPEC 4) */
	for (size_t i = 0; i < v->n; i++)
		if ((rc = create_root(v->t[i].loc, &v->lopts)) < 0)
			return rc;
	return 0;
}

/* The state directory, its intent journal and the log cache. */
static int init_state_dir(struct init_run *run)
{
	char path[PATH_MAX];
	int rc;
	if ((rc = tier_mkdir_p(run->opts->state_dir, 0700)) < 0)
		return rc;
	snprintf(path, sizeof(path), "%s/intent", run->opts->state_dir);
	if ((rc = tier_mkdir_p(path, 0700)) < 0)
		return rc;
	return tier_vault_open_cache(run->v, 1);
}

/* A new vault goes on empty tiers only. */
static int init_check_empty(tier_vault *v)
{
	int rc;
	for (size_t i = 0; i < v->n; i++) {
		int empty = 0;
		if ((rc = tier_log_tier_is_empty(v->t[i].loc, &empty)) < 0) {
			tier_error_prefix(
			        "cannot create the vault on tier '%s'",
			        v->t[i].info.name);
			return rc;
		}
		if (!empty)
			return tier_error_set(
			        TIER_ECONFLICT,
			        "tier '%s' (%s) is not empty: tier-init creates a vault only on "
			        "empty tiers (use --adopt to take over an existing vault)",
			        v->t[i].info.name, v->t[i].info.url);
	}
	return 0;
}

/* The installation's id, and a new vault's. */
static int init_ids(struct init_run *run)
{
	int rc;
	if (run->opts->mode == TIER_INIT_NEW &&
	    ((rc = init_check_empty(run->v)) < 0 ||
	     (rc = random_hex(run->v->vault_id, 16)) < 0))
		return rc;
	return random_hex(run->v->inst_id, 16);
}

/*
 * libgit2 rewrites the config through a lock file, with the umask's mode:
 * make it private again (it may hold tier passwords).  After each batch
 * of writes.
 */
static void init_config_private(const struct init_run *run)
{
	chmod(run->config, 0600);
}

/* The config file, created here with mode 0600, opened for writing. */
static int init_config_create(struct init_run *run)
{
	int fd = open(run->config, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
	              0600);
	if (fd < 0)
		return tier_error_set_errno(TIER_ERROR, errno,
		                            "cannot create '%s'", run->config);
	close(fd);
	return tier_installation_config_open(&run->cfg, run->opts->state_dir);
}

static int init_config_installation(struct init_run *run)
{
	tier_vault *v = run->v;
	git_config *cfg = run->cfg;
	tier_buf order = TIER_BUF_INIT;
	int rc;
	for (size_t i = 0; i < v->n; i++)
		tier_buf_printf(&order, "%s%s", i ? " " : "",
		                v->t[i].info.name);
	if ((rc = git_config_set_string(cfg, "installation.id", v->inst_id)) <
	            0 ||
	    (rc = git_config_set_string(cfg, "installation.host", run->host)) <
	            0 ||
	    (rc = git_config_set_string(cfg, "installation.user", run->user)) <
	            0 ||
	    (rc = git_config_set_bool(cfg, "installation.readonly",
	                              v->read_only)) < 0 ||
	    (rc = git_config_set_string(cfg, "installation.tiers",
	                                tier_buf_cstr(&order))) < 0 ||
	    (v->lopts.cacert &&
	     (rc = git_config_set_string(cfg, "tls.cacert", v->lopts.cacert)) <
	             0) ||
	    (v->lopts.insecure &&
	     (rc = git_config_set_bool(cfg, "tls.insecure", 1)) < 0))
		rc = tier_error_from_git(rc,
		                         "cannot write installation config");
	else
		rc = 0;
	tier_buf_dispose(&order);
	return rc;
}

static int init_config_tiers(struct init_run *run)
{
	tier_vault *v = run->v;
	int rc;
	for (size_t i = 0; i < v->n; i++) {
		char key[256];
		/* keep the URL as given (with its credentials, mode 0600) */
		const char *spec = run->opts->tiers[i];
		const char *eq = strchr(spec, '=');
		const char *colon = strchr(spec, ':');
		if (eq && (!colon || eq < colon))
			spec = eq + 1;
		snprintf(key, sizeof(key), "tier.%s.url", v->t[i].info.name);
		rc = git_config_set_string(run->cfg, key, spec);
		if (rc < 0)
			return tier_error_from_git(
			        rc, "cannot write installation config");
	}
	return 0;
}

/* The installation config, written before any tier is touched. */
static int init_config(struct init_run *run)
{
	int rc;
	tier_installation_who(run->user, sizeof(run->user), run->host,
	                      sizeof(run->host));
	snprintf(run->config, sizeof(run->config), "%s/config",
	         run->opts->state_dir);
	if ((rc = init_config_create(run)) < 0 ||
	    (rc = init_config_installation(run)) < 0 ||
	    (rc = init_config_tiers(run)) < 0)
		return rc;
	init_config_private(run);
	return 0;
}

/* vault.id completes the config. */
static int init_config_vault_id(struct init_run *run)
{
	int rc = git_config_set_string(run->cfg, "vault.id", run->v->vault_id);
	if (rc < 0)
		return tier_error_from_git(rc,
		                           "cannot write installation config");
	git_config_free(run->cfg);
	run->cfg = NULL;
	init_config_private(run);
	return 0;
}

/* Every tier must have taken revision 1. */
static int init_all_written(const tier_write_result *res)
{
	for (size_t i = 0; i < res->ntiers; i++)
		if (res->tiers[i].outcome != TIER_WRITE_WRITTEN)
			return tier_error_set(
			        TIER_EOFFLINE,
			        "cannot create the vault on tier '%s': %s",
			        res->tiers[i].name, res->tiers[i].error);
	return 0;
}

/* A new vault: revision 1, its birth, the same commit on every tier. */
static int init_new(struct init_run *run)
{
	tier_vault *v = run->v;
	tier_write_result *res = NULL;
	tier_write *w = NULL;
	git_oid tree, keys;
	tier_buf slot = TIER_BUF_INIT;
	char slot_id[17];
	int enc = run->opts->encryption &&
	          strcmp(run->opts->encryption, "none") != 0;
	int rc;
	/* the password first: without one no tier is touched */
	if ((rc = init_config_vault_id(run)) < 0 ||
	    (enc && (rc = tier_keys_create(v, &slot, slot_id,
	                                   run->opts->kdf_memory)) < 0)) {
		tier_buf_dispose(&slot);
		return rc;
	}
	for (size_t i = 0; i < v->n; i++)
		if ((rc = tier_log_create(v->t[i].loc)) < 0) {
			tier_error_prefix(
			        "cannot create the vault on tier '%s'",
			        v->t[i].info.name);
			tier_buf_dispose(&slot);
			return rc;
		}
	if ((rc = tier_vault_probe(v)) < 0 ||
	    (rc = tier_write_begin(&w, v, "init")) < 0) {
		tier_buf_dispose(&slot);
		return rc;
	}
	rc = enc ? tier_keys_write_tree(&keys, tier_write_repo(w), &slot,
	                                (const char(*)[17])slot_id, 1)
	         : 0;
	tier_buf_dispose(&slot);
	if (rc == 0)
		rc = tier_snap_initial_tree(&tree, tier_write_repo(w),
		                            v->vault_id, enc ? &keys : NULL);
	if (rc == 0)
		rc = tier_write_commit(w, &tree, "init: new vault", NULL, &res);
	tier_write_free(w);
	if (rc == 0 && res)
		rc = init_all_written(res);
	tier_write_result_free(res);
	return rc;
}

/*
 * Adopt: our refs start at what the tiers hold now, and the take-over is
 * itself logged, so the old machine sees it (R8 stops it there).
 */
static int init_adopt(struct init_run *run)
{
	tier_vault *v = run->v;
	tier_write_result *res = NULL;
	tier_write *w = NULL;
	char summary[256];
	int rc;
	for (size_t i = 0; i < v->n; i++)
		if (v->t[i].has_head && v->t[i].info.state == TIER_STATE_OK &&
		    (rc = tier_ref_write(v, &v->t[i], &v->t[i].head)) < 0)
			return rc;
	if ((rc = tier_vault_probe(v)) < 0)
		return rc;
	snprintf(summary, sizeof(summary),
	         "adopt: installation %.12s on %s takes over", v->inst_id,
	         run->host);
	if ((rc = tier_write_begin(&w, v, "adopt")) < 0)
		return rc;
	rc = tier_write_commit(w, NULL, summary, NULL, &res);
	tier_write_free(w);
	tier_write_result_free(res);
	return rc;
}

/* Adopt or follow: learn the vault from the tiers. */
static int init_join(struct init_run *run)
{
	tier_vault *v = run->v;
	int rc;
	if ((rc = tier_vault_probe(v)) < 0)
		return rc;
	if (!v->vault_id[0])
		return tier_error_set(
		        TIER_ENOTFOUND,
		        "no tier holds a vault to %s (are they online?)",
		        run->opts->mode == TIER_INIT_ADOPT ? "adopt"
		                                           : "follow");
	/* a follower that cannot open the keys could never restore */
	if ((rc = init_config_vault_id(run)) < 0 ||
	    (rc = tier_keys_load(v)) < 0)
		return rc;
	return run->opts->mode == TIER_INIT_ADOPT ? init_adopt(run) : 0;
}

/*
 * An installation that failed to come into being must not linger.  The
 * error to report is the one that stopped init, not what the cleanup may
 * add to it.
 */
static int init_fail(struct init_run *run, int rc)
{
	tier_error_saved e;
	tier_error_save(&e);
	git_config_free(run->cfg);
	if (run->v && run->v->state_dir)
		tier_installation_remove(run->v);
	tier_vault_free(run->v);
	tier_error_restore(&e);
	return rc;
}

int tier_vault_init(tier_vault **out, const tier_vault_options *opts)
{
	struct init_run run = {opts, NULL, NULL, "", "", ""};
	int rc;

	TIER_ASSERT_ARG(out);
	*out = NULL;
	TIER_ASSERT_ARG(opts);
	TIER_CHECK_VERSION(opts, TIER_VAULT_OPTIONS_VERSION,
	                   "tier_vault_options");
	if ((rc = init_check(opts)) < 0 ||
	    (rc = tier_vault_alloc(&run.v, opts)) < 0)
		return rc;
	if ((rc = init_tiers(&run)) < 0 || (rc = init_state_dir(&run)) < 0 ||
	    (rc = init_ids(&run)) < 0 || (rc = init_config(&run)) < 0 ||
	    (rc = opts->mode == TIER_INIT_NEW ? init_new(&run)
	                                      : init_join(&run)) < 0)
		return init_fail(&run, rc);
	git_config_free(run.cfg);
	*out = run.v;
	return 0;
}
