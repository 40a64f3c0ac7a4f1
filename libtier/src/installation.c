/*
 * The installation: its state directory and what lives there besides the
 * log cache and the intents.  The config (git-config format, read and
 * written with libgit2), the write lock that serialises writes and syncs,
 * the write-wanted announcement that stops a running sync (R7), and the
 * removal of a state directory that failed to come into being.
 */
#include "installation.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "retry.h"
#include "tier/config.h"
#include "util/error.h"
#include "util/posix.h"
#include "util/text.h"
#include "vault_int.h"

void tier_installation_who(char *user, size_t ucap, char *host, size_t hcap)
{
	struct passwd *pw = getpwuid(geteuid());
	const char *u = pw ? pw->pw_name : getenv("USER");
	snprintf(user, ucap, "%s", u && *u ? u : "unknown");
	if (gethostname(host, hcap) != 0)
		snprintf(host, hcap, "unknown");
	host[hcap - 1] = '\0';
}

/* ---- config (git-config format, read with libgit2) ------------------ */

int tier_installation_config_open(git_config **cfg, const char *state_dir)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/config", state_dir);
	int rc = git_config_open_ondisk(cfg, path);
	if (rc < 0)
		return tier_error_from_git(
		        rc, "cannot read installation config '%s'", path);
	return 0;
}

static int config_get(git_config *cfg, const char *key, char *out, size_t cap,
                      const char *state_dir)
{
	git_buf b = {0};
	int rc = git_config_get_string_buf(&b, cfg, key);
	if (rc < 0) {
		git_buf_dispose(&b);
		return tier_error_set(
		        TIER_EUSAGE,
		        "installation '%s' has no '%s' in its config",
		        state_dir, key);
	}
	snprintf(out, cap, "%s", b.ptr);
	git_buf_dispose(&b);
	return 0;
}

static int load_tiers_from_config(tier_vault *v, git_config *cfg)
{
	char order[4096], key[256], url[4096];
	int rc;
	if ((rc = config_get(cfg, "installation.tiers", order, sizeof(order),
	                     v->state_dir)) < 0)
		return rc;
	char *save = NULL;
	for (char *name = strtok_r(order, " ,", &save); name;
	     name = strtok_r(NULL, " ,", &save)) {
		snprintf(key, sizeof(key), "tier.%s.url", name);
		if ((rc = config_get(cfg, key, url, sizeof(url),
		                     v->state_dir)) < 0)
			return rc;
		tier_buf spec = TIER_BUF_INIT;
		tier_buf_printf(&spec, "%s=%s", name, url);
		rc = tier_vault_add_tier(v, tier_buf_cstr(&spec));
		tier_buf_dispose(&spec);
		if (rc < 0)
			return rc;
	}
	if (v->n == 0)
		return tier_error_set(TIER_EUSAGE,
		                      "installation '%s' lists no tiers",
		                      v->state_dir);
	return 0;
}

/* tier.NAME.limitUpload / limitDownload (names come lowercased from git,
 * the subsection as written). */
struct limit_walk {
	tier_vault *v;
	int rc;
};

static int limit_one(const git_config_entry *e, void *payload)
{
	struct limit_walk *w = payload;
	tier_vault *v = w->v;
	const char *first = strchr(e->name, '.'), *last = strrchr(e->name, '.');
	uint64_t rate;
	/* tier.NAME.limitUpload / limitDownload (git lowercases the key) */
	if (strncmp(e->name, "tier.", 5) != 0 || !first || last <= first + 1 ||
	    (size_t)(last - first - 1) >= 64 ||
	    (strcasecmp(last, ".limitupload") != 0 &&
	     strcasecmp(last, ".limitdownload") != 0))
		return 0;
	if (tier_config_parse_size(&rate, e->value) < 0) {
		w->rc = tier_error_set(TIER_EUSAGE,
		                       "config key '%s' in '%s/config': bad "
		                       "rate '%s' (write e.g. 512K or 10M)",
		                       e->name, v->state_dir, e->value);
		return GIT_EUSER;
	}
	size_t i = 0;
	while (i < v->nlimits &&
	       (strlen(v->limits[i].name) != (size_t)(last - first - 1) ||
	        strncmp(v->limits[i].name, first + 1,
	                (size_t)(last - first - 1)) != 0))
		i++;
	if (i == v->nlimits) {
		struct tier_limit *nl =
		        tier_realloc(v->limits, (i + 1) * sizeof(*nl));
		if (!nl) {
			w->rc = TIER_ERROR;
			return GIT_EUSER;
		}
		v->limits = nl;
		memset(&nl[i], 0, sizeof(nl[i]));
		memcpy(nl[i].name, first + 1, (size_t)(last - first - 1));
		v->nlimits++;
	}
	if (!strcmp(last + 1, "limitupload"))
		v->limits[i].up = rate;
	else
		v->limits[i].down = rate;
	return 0;
}

/* Open: what the config says (ids, read-only, TLS, the tier list). */
int tier_installation_load(tier_vault *v, const tier_vault_options *opts,
                           git_config **cfg)
{
	char cpath[PATH_MAX];
	struct stat st;
	int rc;
	snprintf(cpath, sizeof(cpath), "%s/config", v->state_dir);
	if (stat(cpath, &st) < 0)
		return tier_error_set(
		        TIER_EUSAGE,
		        "'%s' is not an installation (no config): run tier-init first",
		        v->state_dir);
	if ((rc = tier_installation_config_open(cfg, v->state_dir)) < 0 ||
	    (rc = config_get(*cfg, "vault.id", v->vault_id, sizeof(v->vault_id),
	                     v->state_dir)) < 0 ||
	    (rc = config_get(*cfg, "installation.id", v->inst_id,
	                     sizeof(v->inst_id), v->state_dir)) < 0)
		return rc;
	int ro = 0;
	if (git_config_get_bool(&ro, *cfg, "installation.readonly") == 0)
		v->read_only = ro;
	/* connection settings remembered by tier-init, unless given now */
	git_buf ca = {0};
	if (!v->lopts.cacert &&
	    git_config_get_string_buf(&ca, *cfg, "tls.cacert") == 0 &&
	    (v->cacert_conf = tier_strdup(ca.ptr)))
		v->lopts.cacert = v->cacert_conf;
	git_buf_dispose(&ca);
	int insecure = 0;
	if (!v->lopts.insecure &&
	    git_config_get_bool(&insecure, *cfg, "tls.insecure") == 0)
		v->lopts.insecure = insecure;
	struct limit_walk lw = {v, 0};
	/* not git_config_foreach_match: libgit2 1.5 leaks its regex's
	 * pcre2 match data (LeakSanitizer, cli.tty-output) */
	rc = git_config_foreach(*cfg, limit_one, &lw);
	if (rc == GIT_EUSER)
		return lw.rc;
	if (rc < 0)
		return tier_error_from_git(rc, "cannot read '%s/config'",
		                           v->state_dir);
	if (opts->ntiers == 0 && (rc = load_tiers_from_config(v, *cfg)) < 0)
		return rc;
	return 0;
}

/*
 * -t with an installation picks among the tiers it knows (by NAME=URL):
 * an unknown name would get a ref of its own in the cache and be written
 * to, outside the installation's list.
 */
int tier_installation_check_tier(tier_vault *v, git_config *cfg,
                                 const char *name)
{
	char order[4096];
	tier_buf known = TIER_BUF_INIT;
	int rc;
	if ((rc = config_get(cfg, "installation.tiers", order, sizeof(order),
	                     v->state_dir)) < 0)
		return rc;
	char *save = NULL;
	for (char *k = strtok_r(order, " ,", &save); k;
	     k = strtok_r(NULL, " ,", &save)) {
		if (!strcmp(k, name)) {
			tier_buf_dispose(&known);
			return 0;
		}
		tier_buf_printf(&known, "%s'%s'", known.size ? ", " : "", k);
	}
	rc = tier_error_set(TIER_EUSAGE,
	                    "tier '%s' is not a tier of installation '%s' "
	                    "(its tiers: %s)",
	                    name, v->state_dir,
	                    known.size ? tier_buf_cstr(&known) : "none");
	tier_buf_dispose(&known);
	return rc;
}

/* ---- the write lock and write-wanted (R7) ---------------------------- */

/*
 * The installation's write lock (flock on <state>/lock) serialises writes
 * and syncs.  A writer that finds it taken announces itself in
 * <state>/write-wanted (its pid) so that a running sync stops within a
 * second (R7); the writer removes the announcement once it has the lock.
 */
static int state_file(char *out, size_t cap, const tier_vault *v,
                      const char *name)
{
	snprintf(out, cap, "%s/%s", v->state_dir, name);
	return 0;
}

/* <state>/write-wanted holds the pid of a writer that wants the lock. */
static int want_write(const tier_vault *v, char *want, size_t cap)
{
	char pid[32];
	int n = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
	state_file(want, cap, v, "write-wanted");
	return tier_atomic_write(want, pid, (size_t)n);
}

/*
 * The holder of the lock writes into the lock file who it is ("pid 4711",
 * "tool tier-push", "op push", "since <epoch>"), so that a second process
 * that finds the lock taken can say what it waits for.  Emptied again
 * before the lock is released.
 */
static void lock_record(tier_vault *v, const char *op)
{
	char text[256];
#if defined(__GLIBC__)
	const char *tool = program_invocation_short_name;
#else
	const char *tool = "?";
#endif
	int n = snprintf(text, sizeof(text),
	                 "pid %ld\ntool %s\nop %s\nsince %lld\n",
	                 (long)getpid(), tool && *tool ? tool : "?", op,
	                 (long long)time(NULL));
	/* only informative: a failure here must not fail the write */
	if (ftruncate(v->lock_fd, 0) == 0 &&
	    pwrite(v->lock_fd, text, (size_t)n, 0) != n &&
	    ftruncate(v->lock_fd, 0) < 0) {
		/* nothing more to do: a waiter then names no holder */
	}
}

struct lock_holder {
	long pid;
	char op[32];
	char tool[64];
	int64_t since;
};

/* What the lock file says of its holder; 0 when it says nothing (yet). */
static int lock_holder_read(int fd, struct lock_holder *h)
{
	char text[256], *line, *save = NULL;
	ssize_t n = pread(fd, text, sizeof(text) - 1, 0);
	memset(h, 0, sizeof(*h));
	if (n <= 0)
		return 0;
	text[n] = '\0';
	for (line = strtok_r(text, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		if (!strncmp(line, "pid ", 4))
			h->pid = strtol(line + 4, NULL, 10);
		else if (!strncmp(line, "op ", 3))
			snprintf(h->op, sizeof(h->op), "%s", line + 3);
		else if (!strncmp(line, "tool ", 5))
			snprintf(h->tool, sizeof(h->tool), "%s", line + 5);
		else if (!strncmp(line, "since ", 6))
			h->since = strtoll(line + 6, NULL, 10);
	}
	return h->pid > 0;
}

/* "push pid 4711 since 10:32:05" (the date too when not today). */
static void lock_holder_describe(char *out, size_t cap, int fd)
{
	struct lock_holder h;
	char when[32] = "";
	if (!lock_holder_read(fd, &h)) {
		snprintf(out, cap, "another process");
		return;
	}
	if (h.since > 0) {
		time_t t = (time_t)h.since, now = time(NULL);
		struct tm tm, tn;
		localtime_r(&t, &tm);
		localtime_r(&now, &tn);
		strftime(when, sizeof(when),
		         tm.tm_yday == tn.tm_yday && tm.tm_year == tn.tm_year
		                 ? " since %H:%M:%S"
		                 : " since %Y-%m-%d %H:%M:%S",
		         &tm);
	}
	/* the tool only when the operation does not say it (tier-fsck
	 * --repair locks like a sync) */
	char tool[80] = "";
	if (h.tool[0] && h.op[0] &&
	    !(strncmp(h.tool, "tier-", 5) == 0 && !strcmp(h.tool + 5, h.op)))
		snprintf(tool, sizeof(tool), " (%s)", h.tool);
	snprintf(out, cap, "%s pid %ld%s%s", h.op[0] ? h.op : "a process",
	         h.pid, tool, when);
}

/* The state directory as an absolute path, quoted, for lock messages. */
static const char *lock_where(const tier_vault *v)
{
	char abs[PATH_MAX];
	if (!realpath(v->state_dir, abs))
		snprintf(abs, sizeof(abs), "%s", v->state_dir);
	return tier_quote_name(abs);
}

/*
 * The lock is taken: say once what holds it, then wait for it, polling,
 * at most wait_timeout_ms (-1: for ever, 0: not at all: TIER_ETIMEOUT).
 */
static int lock_wait(tier_vault *v, const char *path)
{
	char who[160];
	int64_t start = tier_now_ms();
	lock_holder_describe(who, sizeof(who), v->lock_fd);
	if (v->wait_timeout_ms == 0)
		return tier_error_set(
		        TIER_ETIMEOUT,
		        "the installation is busy: %s holds the lock of '%s' "
		        "(not waiting: --wait-timeout 0)",
		        who, lock_where(v));
	if (v->notice) {
		char line[PATH_MAX + 256];
		snprintf(line, sizeof(line),
		         "waiting for %s (the lock of '%s')", who,
		         lock_where(v));
		v->notice(line, v->notice_payload);
	}
	for (;;) {
		unsigned int d = 100;
		if (flock(v->lock_fd, LOCK_EX | LOCK_NB) == 0)
			return 0;
		if (errno != EWOULDBLOCK && errno != EINTR)
			return tier_error_set_errno(TIER_ERROR, errno,
			                            "cannot lock '%s'", path);
		if (v->wait_timeout_ms > 0) {
			int64_t left =
			        start + v->wait_timeout_ms - tier_now_ms();
			if (left <= 0) {
				lock_holder_describe(who, sizeof(who),
				                     v->lock_fd);
				return tier_error_set(
				        TIER_ETIMEOUT,
				        "gave up after %lld s waiting for %s (the lock of '%s')",
				        (long long)((v->wait_timeout_ms + 999) /
				                    1000),
				        who, lock_where(v));
			}
			if (left < d)
				d = (unsigned int)left;
		}
		if (v->lopts.sleep ? v->lopts.sleep(d, v->lopts.payload)
		                   : tier_retry_nanosleep(d, NULL))
			return tier_error_set(TIER_EABORTED,
			                      "cancelled while waiting for %s",
			                      who);
	}
}

int tier_installation_lock(tier_vault *v, int nonblock, const char *op)
{
	char path[PATH_MAX], want[PATH_MAX];
	int rc;
	if (v->lock_fd >= 0) {
		v->lock_depth++;
		return 0;
	}
	state_file(path, sizeof(path), v, "lock");
	v->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (v->lock_fd < 0)
		return tier_error_set_errno(TIER_ERROR, errno,
		                            "cannot open lock '%s'", path);
	if (flock(v->lock_fd, LOCK_EX | LOCK_NB) == 0) {
		v->lock_depth = 1;
		lock_record(v, op);
		return 0;
	}
	if (errno != EWOULDBLOCK) {
		int e = errno;
		close(v->lock_fd);
		v->lock_fd = -1;
		return tier_error_set_errno(TIER_ERROR, e, "cannot lock '%s'",
		                            path);
	}
	if (nonblock) {
		char who[160];
		lock_holder_describe(who, sizeof(who), v->lock_fd);
		close(v->lock_fd);
		v->lock_fd = -1;
		return tier_error_set(
		        TIER_ECONFLICT,
		        "the installation is busy: %s holds the lock of '%s'",
		        who, lock_where(v));
	}
	want_write(v, want, sizeof(want));
	rc = lock_wait(v, path);
	unlink(want);
	if (rc < 0) {
		close(v->lock_fd);
		v->lock_fd = -1;
		return rc;
	}
	v->lock_depth = 1;
	lock_record(v, op);
	return 0;
}

void tier_installation_unlock(tier_vault *v)
{
	if (v->lock_fd >= 0 && --v->lock_depth <= 0) {
		if (ftruncate(v->lock_fd, 0) < 0) {
			/* informative only: the next holder rewrites it */
		}
		close(v->lock_fd);
		v->lock_fd = -1;
		v->lock_depth = 0;
	}
}

int tier_vault_lock_sync(tier_vault *v)
{
	if (!v->state_dir)
		return tier_error_set(TIER_EUSAGE,
		                      "syncing needs an installation (-s DIR)");
	if (v->read_only)
		return tier_error_set(
		        TIER_EUSAGE,
		        "this installation is read-only: it never writes");
	/* sync checks R8 after this with tier_vault_check(): in full */
	if (v->reading)
		return tier_error_set(
		        TIER_EUSAGE,
		        "this vault was opened for reading: it cannot sync");
	return tier_installation_lock(v, 1, "sync");
}

void tier_vault_unlock(tier_vault *v)
{
	tier_installation_unlock(v);
}

int tier_vault_write_wanted(const tier_vault *v)
{
	char want[PATH_MAX], text[32] = {0};
	if (!v->state_dir)
		return 0;
	state_file(want, sizeof(want), v, "write-wanted");
	FILE *f = fopen(want, "r");
	if (!f)
		return 0;
	size_t n = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	text[n] = '\0';
	long pid = strtol(text, NULL, 10);
	/* an announcement left by a writer that died does not count, nor our own */
	if (pid == (long)getpid() ||
	    (pid > 0 && kill((pid_t)pid, 0) < 0 && errno == ESRCH))
		return 0;
	return 1;
}

/* Open with intend_write: say so before the probe (R7, see tier/vault.h). */
void tier_installation_announce_write(tier_vault *v)
{
	char want[PATH_MAX];
	v->announced = want_write(v, want, sizeof(want)) == 0;
	tier_error_clear();
}

/* Free: only our own announcement; another writer may have made its own. */
void tier_installation_withdraw_write(tier_vault *v)
{
	char want[PATH_MAX], text[32] = {0};
	if (!v->announced)
		return;
	state_file(want, sizeof(want), v, "write-wanted");
	FILE *f = fopen(want, "r");
	if (f) {
		size_t n = fread(text, 1, sizeof(text) - 1, f);
		fclose(f);
		text[n] = '\0';
		if (strtol(text, NULL, 10) == (long)getpid())
			unlink(want);
	}
}

/* ---- removal -------------------------------------------------------- */

void tier_installation_remove(tier_vault *v)
{
	char cpath[PATH_MAX];
	snprintf(cpath, sizeof(cpath), "%s/config", v->state_dir);
	unlink(cpath);
	/* and what init made beside it: a retry starts clean */
	git_repository_free(v->cache);
	v->cache = NULL;
	snprintf(cpath, sizeof(cpath), "%s/cache.git", v->state_dir);
	tier_rm_rf(cpath);
	snprintf(cpath, sizeof(cpath), "%s/intent", v->state_dir);
	tier_rm_rf(cpath);
	snprintf(cpath, sizeof(cpath), "%s/lock", v->state_dir);
	unlink(cpath);
	rmdir(v->state_dir); /* only if it is empty now */
}
