/*
 * The installation's config (tier/config.h): the table of known keys,
 * the value syntaxes, and reads and writes through libgit2's config API.
 * libgit2 keeps the file's syntax, comments and order; we only check
 * names and values before they go in and when they come out.
 */
#include "tier/config.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <git2.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/error.h"

#define S  TIER_CONFIG_STRING
#define MV TIER_CONFIG_MULTI
#define B  TIER_CONFIG_BOOL
#define I  TIER_CONFIG_INT
#define SZ TIER_CONFIG_SIZE
#define R  TIER_CONFIG_RATE
#define D  TIER_CONFIG_DURATION
#define SP TIER_CONFIG_SPAN
#define P  TIER_CONFIG_PERCENT

static const tier_config_key keys[] = {
        {"push.path", MV, "what tier-push backs up when given no PATH"},
        {"push.exclude", MV, "a pattern to leave out (as --exclude)"},
        {"push.excludeFile", MV, "a file of patterns (as --exclude-file)"},
        {"push.excludeCaches", B,
         "leave out directories with a CACHEDIR.TAG (as --exclude-caches)"},
        {"push.excludeIfPresent", MV,
         "leave out directories holding this file (as --exclude-if-present)"},
        {"push.excludeLargerThan", SZ,
         "leave out files larger than this (as --exclude-larger-than)"},
        {"push.oneFileSystem", B, "stay on the file system of each PATH"},
        {"push.tag", MV, "a tag every push records (as --tag)"},
        {"push.threads", I, "reader threads of tier-push (as --threads)"},
        {"push.reread", B, "read every file, changed or not (as --reread)"},
        {"push.packSize", I,
         "close data packs at about this many KiB "
         "(as --pack-size)"},
        {"push.waitTimeout", D,
         "how long a push waits for a tier "
         "(as --wait-timeout)"},
        {"forget.keepLast", I, "as tier-forget --keep-last"},
        {"forget.keepHourly", I, "as tier-forget --keep-hourly"},
        {"forget.keepDaily", I, "as tier-forget --keep-daily"},
        {"forget.keepWeekly", I, "as tier-forget --keep-weekly"},
        {"forget.keepMonthly", I, "as tier-forget --keep-monthly"},
        {"forget.keepYearly", I, "as tier-forget --keep-yearly"},
        {"forget.keepWithin", SP, "as tier-forget --keep-within (2y5m7d3h)"},
        {"forget.keepTag", MV, "as tier-forget --keep-tag"},
        {"prune.maxUnused", P, "as tier-prune --max-unused"},
        {"mount.cacheSize", SZ,
         "bytes of chunks tier-mount keeps (as --cache-size)"},
        {"tier.*.limitUpload", R, "upload cap of one tier, bytes/s (1M)"},
        {"tier.*.limitDownload", R, "download cap of one tier, bytes/s"},
        {"hooks.prePush", S, "shell command run before tier-push"},
        {"hooks.postPush", S, "shell command run after tier-push"},
        {"hooks.timeout", D, "longest a hook may run (300, 5m)"},
        {"retry.count", I, "as --retries"},
        {"retry.delay", D, "as --retry-delay (200ms)"},
        {"retry.timeout", D,
         "as --timeout: how long a remote tier may "
         "stay silent (30s)"},
        /* written by tier-init; tier-config shows them, does not set them */
        {"tier.*.url", S, "the tier's URL (set by tier-init)"},
};

#undef S
#undef MV
#undef B
#undef I
#undef SZ
#undef R
#undef D
#undef SP
#undef P

/* Sections the library writes itself (tier-init, keys): any key there is
 * accepted as a string, so an older tier-config reads a newer file. */
static const char *const internal_sections[] = {"vault", "installation", "tls",
                                                "crypto", "keys"};

static const tier_config_key internal_key = {"(internal)", TIER_CONFIG_STRING,
                                             "set by the library"};

const tier_config_key *tier_config_keys(size_t *count)
{
	if (count)
		*count = sizeof(keys) / sizeof(keys[0]);
	return keys;
}

const char *tier_config_type_name(tier_config_type type)
{
	static const char *const names[] = {"string",   "multi", "bool",
	                                    "int",      "size",  "rate",
	                                    "duration", "span",  "percent"};
	return (unsigned)type < sizeof(names) / sizeof(names[0]) ? names[type]
	                                                         : "unknown";
}

/* "tier.fast.limitUpload" against "tier.*.limitUpload": section and key
 * without case, any non-empty subsection for '*'. */
static int key_matches(const char *pattern, const char *name)
{
	const char *pd = strchr(pattern, '.'), *nd = strchr(name, '.');
	if (!pd || !nd || (size_t)(pd - pattern) != (size_t)(nd - name) ||
	    strncasecmp(pattern, name, (size_t)(pd - pattern)) != 0)
		return 0;
	const char *pl = strrchr(pattern, '.'), *nl = strrchr(name, '.');
	if ((pl == pd) != (nl == nd))
		return 0;
	if (pl != pd && nl - nd - 1 < 1)
		return 0; /* empty subsection */
	return strcasecmp(pl + 1, nl + 1) == 0;
}

static int is_internal(const char *name)
{
	const char *dot = strchr(name, '.');
	if (!dot || !dot[1])
		return 0;
	for (size_t i = 0;
	     i < sizeof(internal_sections) / sizeof(internal_sections[0]); i++)
		if (strlen(internal_sections[i]) == (size_t)(dot - name) &&
		    strncasecmp(internal_sections[i], name,
		                (size_t)(dot - name)) == 0)
			return 1;
	return key_matches("tier.*.url", name);
}

const tier_config_key *tier_config_key_find(const char *name)
{
	if (!name)
		return NULL;
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (key_matches(keys[i].name, name))
			return &keys[i];
	if (is_internal(name))
		return &internal_key;
	return NULL;
}

/* ---- value syntaxes ------------------------------------------------- */

/* A decimal number at *p, advancing it; -1 when none or too large. */
static int take_number(uint64_t *out, const char **p)
{
	const char *s = *p;
	uint64_t v = 0;
	if (!isdigit((unsigned char)*s))
		return -1;
	for (; isdigit((unsigned char)*s); s++) {
		if (v > (UINT64_MAX - 9) / 10)
			return -1;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	*out = v;
	*p = s;
	return 0;
}

static int mul_ok(uint64_t *v, uint64_t m)
{
	if (m && *v > UINT64_MAX / m)
		return -1;
	*v *= m;
	return 0;
}

int tier_config_parse_size(uint64_t *out, const char *text)
{
	const char *p = text;
	uint64_t v, m = 1;
	if (!text || take_number(&v, &p) < 0)
		return TIER_EUSAGE;
	switch (toupper((unsigned char)*p)) {
	case 'K':
		m = 1ull << 10;
		p++;
		break;
	case 'M':
		m = 1ull << 20;
		p++;
		break;
	case 'G':
		m = 1ull << 30;
		p++;
		break;
	case 'T':
		m = 1ull << 40;
		p++;
		break;
	default:
		break;
	}
	if (m > 1 && (*p == 'i' || *p == 'I'))
		p++;
	if (*p == 'b' || *p == 'B')
		p++;
	if (*p || mul_ok(&v, m) < 0)
		return TIER_EUSAGE;
	*out = v;
	return 0;
}

/* A sum of NUMBER UNIT; units[] maps a unit to a multiplier.  A bare
 * number alone counts in bare_unit (0: refused). */
struct unit {
	const char *name;
	uint64_t mul;
};

static int parse_sum(uint64_t *out, const char *text, const struct unit *u,
                     size_t nu, uint64_t bare_unit)
{
	const char *p = text;
	uint64_t sum = 0, v;
	if (!text || !*text)
		return TIER_EUSAGE;
	while (*p) {
		if (take_number(&v, &p) < 0)
			return TIER_EUSAGE;
		if (!*p && p != text && sum == 0 && bare_unit &&
		    !isalpha((unsigned char)p[-1])) {
			if (mul_ok(&v, bare_unit) < 0)
				return TIER_EUSAGE;
			*out = v;
			return 0;
		}
		size_t i, len = 0;
		for (i = 0; i < nu; i++) {
			len = strlen(u[i].name);
			if (strncmp(p, u[i].name, len) == 0 &&
			    !isalpha((unsigned char)p[len]))
				break;
		}
		if (i == nu || mul_ok(&v, u[i].mul) < 0 || sum + v < sum)
			return TIER_EUSAGE;
		sum += v;
		p += len;
	}
	*out = sum;
	return 0;
}

/* Durations in milliseconds. */
static int parse_duration_ms(uint64_t *out, const char *text)
{
	static const struct unit u[] = {{"ms", 1},
	                                {"s", 1000},
	                                {"m", 60000},
	                                {"h", 3600000},
	                                {"d", 86400000}};
	return parse_sum(out, text, u, sizeof(u) / sizeof(u[0]), 1000);
}

int tier_config_parse_duration(uint64_t *out, const char *text)
{
	uint64_t ms;
	if (parse_duration_ms(&ms, text) < 0)
		return TIER_EUSAGE;
	*out = ms / 1000 + (ms % 1000 != 0);
	return 0;
}

int tier_config_parse_span(uint64_t *out, const char *text)
{
	static const struct unit u[] = {{"y", 365 * 86400ull},
	                                {"m", 30 * 86400ull},
	                                {"d", 86400},
	                                {"h", 3600}};
	return parse_sum(out, text, u, sizeof(u) / sizeof(u[0]), 0);
}

static int parse_percent(uint64_t *out, const char *text)
{
	const char *p = text;
	uint64_t v;
	if (!text || take_number(&v, &p) < 0)
		return TIER_EUSAGE;
	if (*p == '%')
		p++;
	if (*p || v > 100)
		return TIER_EUSAGE;
	*out = v;
	return 0;
}

/* libgit2 parses bools and ints, and sets its (thread-local) errors */
static pthread_once_t once = PTHREAD_ONCE_INIT;
static void init_once(void)
{
	git_libgit2_init();
}

static int check_value(const tier_config_key *k, const char *value)
{
	pthread_once(&once, init_once);
	uint64_t u;
	int b;
	int64_t i;
	switch (k->type) {
	case TIER_CONFIG_STRING:
	case TIER_CONFIG_MULTI:
		return 0;
	case TIER_CONFIG_BOOL:
		return git_config_parse_bool(&b, value) == 0 ? 0 : TIER_EUSAGE;
	case TIER_CONFIG_INT:
		return value && git_config_parse_int64(&i, value) == 0 &&
		                       i >= 0 && isdigit((unsigned char)*value)
		               ? 0
		               : TIER_EUSAGE;
	case TIER_CONFIG_SIZE:
	case TIER_CONFIG_RATE:
		return tier_config_parse_size(&u, value);
	case TIER_CONFIG_DURATION:
		return parse_duration_ms(&u, value);
	case TIER_CONFIG_SPAN:
		return tier_config_parse_span(&u, value);
	case TIER_CONFIG_PERCENT:
		return parse_percent(&u, value);
	}
	return TIER_EUSAGE;
}

static const char *type_hint(tier_config_type t)
{
	switch (t) {
	case TIER_CONFIG_BOOL:
		return "true or false";
	case TIER_CONFIG_INT:
		return "a whole number";
	case TIER_CONFIG_SIZE:
		return "a size such as 512K, 10M, 1G";
	case TIER_CONFIG_RATE:
		return "bytes per second such as 512K, 10M";
	case TIER_CONFIG_DURATION:
		return "seconds, or a sum such as 5m, 1m30s";
	case TIER_CONFIG_SPAN:
		return "a span such as 2y5m7d3h";
	case TIER_CONFIG_PERCENT:
		return "a percentage 0..100";
	default:
		return "text";
	}
}

int tier_config_check(const char *name, const char *value)
{
	const tier_config_key *k = tier_config_key_find(name);
	if (!k)
		return tier_error_set(TIER_EUSAGE, "unknown config key '%s'",
		                      name ? name : "");
	if (check_value(k, value ? value : "") < 0)
		return tier_error_set(TIER_EUSAGE,
		                      "config key '%s': bad %s '%s' (want %s)",
		                      name, tier_config_type_name(k->type),
		                      value ? value : "", type_hint(k->type));
	return 0;
}

/* ---- reading -------------------------------------------------------- */

struct tier_config {
	git_config *snap; /* a snapshot: its strings live as long as it */
	char path[PATH_MAX];
};

static int config_path(char *out, size_t cap, const char *state_dir)
{
	pthread_once(&once, init_once);
	if (!state_dir || !*state_dir)
		return tier_error_set(TIER_EUSAGE,
		                      "no state directory (-s DIR or "
		                      "TIER_STATE_DIR)");
	if ((size_t)snprintf(out, cap, "%s/config", state_dir) >= cap)
		return tier_error_set(TIER_EUSAGE,
		                      "state directory name too long");
	return 0;
}

/* A libgit2 error as ours: a parse error is the user's (usage). */
static int git_fail(int rc, const char *what, const char *path)
{
	const git_error *ge = git_error_last();
	if (ge && ge->klass == GIT_ERROR_CONFIG)
		return tier_error_set(TIER_EUSAGE, "%s", ge->message);
	return tier_error_from_git(rc, "%s '%s'", what, path);
}

static int check_entry(const git_config_entry *e, void *payload)
{
	const char *path = payload;
	if (tier_config_check(e->name, e->value) < 0) {
		tier_error_prefix("'%s'", path);
		return GIT_EUSER;
	}
	return 0;
}

int tier_config_open(tier_config **out, const char *state_dir)
{
	*out = NULL;
	tier_config *c = calloc(1, sizeof(*c));
	git_config *file = NULL;
	int rc;
	if (!c)
		return tier_error_set(TIER_ERROR, "out of memory");
	if ((rc = config_path(c->path, sizeof(c->path), state_dir)) < 0)
		goto fail;
	if (access(c->path, F_OK) == 0 && access(c->path, R_OK) != 0) {
		rc = tier_error_set_errno(TIER_ERROR, errno, "cannot read '%s'",
		                          c->path);
		goto fail;
	}
	if ((rc = git_config_open_ondisk(&file, c->path)) < 0 ||
	    (rc = git_config_snapshot(&c->snap, file)) < 0) {
		rc = git_fail(rc, "cannot read config", c->path);
		goto fail;
	}
	git_config_free(file);
	file = NULL;
	rc = git_config_foreach(c->snap, check_entry, c->path);
	if (rc == GIT_EUSER) {
		rc = TIER_EUSAGE;
		goto fail;
	}
	if (rc < 0) {
		rc = git_fail(rc, "cannot read config", c->path);
		goto fail;
	}
	*out = c;
	return 0;
fail:
	git_config_free(file);
	tier_config_free(c);
	return rc;
}

void tier_config_free(tier_config *cfg)
{
	if (!cfg)
		return;
	git_config_free(cfg->snap);
	free(cfg);
}

const char *tier_config_path(const tier_config *cfg)
{
	return cfg ? cfg->path : "";
}

/* The last value of a key, checked against the wanted types. */
static int get_raw(const char **out, const tier_config *cfg, const char *name,
                   unsigned types)
{
	const tier_config_key *k = tier_config_key_find(name);
	if (!k)
		return tier_error_set(TIER_EUSAGE, "unknown config key '%s'",
		                      name ? name : "");
	if (!(types & (1u << k->type)))
		return tier_error_set(TIER_EUSAGE,
		                      "config key '%s' is a %s, not read so",
		                      name, tier_config_type_name(k->type));
	git_config_entry *e = NULL;
	int rc = git_config_get_entry(&e, cfg->snap, name);
	if (rc == GIT_ENOTFOUND)
		return TIER_ENOTFOUND;
	if (rc < 0)
		return git_fail(rc, "cannot read config", cfg->path);
	*out = e->value;
	git_config_entry_free(e); /* the snapshot keeps the value */
	return 0;
}

#define T(x) (1u << (x))

int tier_config_get_string(const char **out, const tier_config *cfg,
                           const char *name)
{
	return get_raw(out, cfg, name,
	               T(TIER_CONFIG_STRING) | T(TIER_CONFIG_MULTI));
}

int tier_config_get_bool(int *out, const tier_config *cfg, const char *name)
{
	const char *v = NULL;
	int rc = get_raw(&v, cfg, name, T(TIER_CONFIG_BOOL));
	if (rc < 0)
		return rc;
	return git_config_parse_bool(out, v) == 0 ? 0
	                                          : tier_config_check(name, v);
}

int tier_config_get_int(int64_t *out, const tier_config *cfg, const char *name)
{
	const char *v = NULL;
	int rc = get_raw(&v, cfg, name, T(TIER_CONFIG_INT));
	if (rc < 0)
		return rc;
	return git_config_parse_int64(out, v) == 0 ? 0
	                                           : tier_config_check(name, v);
}

int tier_config_get_size(uint64_t *out, const tier_config *cfg,
                         const char *name)
{
	const char *v = NULL;
	int rc = get_raw(&v, cfg, name,
	                 T(TIER_CONFIG_SIZE) | T(TIER_CONFIG_RATE) |
	                         T(TIER_CONFIG_PERCENT));
	if (rc < 0)
		return rc;
	const tier_config_key *k = tier_config_key_find(name);
	rc = k->type == TIER_CONFIG_PERCENT ? parse_percent(out, v)
	                                    : tier_config_parse_size(out, v);
	return rc == 0 ? 0 : tier_config_check(name, v);
}

int tier_config_get_seconds(uint64_t *out, const tier_config *cfg,
                            const char *name)
{
	const char *v = NULL;
	int rc = get_raw(&v, cfg, name,
	                 T(TIER_CONFIG_DURATION) | T(TIER_CONFIG_SPAN));
	if (rc < 0)
		return rc;
	const tier_config_key *k = tier_config_key_find(name);
	rc = k->type == TIER_CONFIG_SPAN ? tier_config_parse_span(out, v)
	                                 : tier_config_parse_duration(out, v);
	return rc == 0 ? 0 : tier_config_check(name, v);
}

struct multi_walk {
	tier_config_value_cb cb;
	void *payload;
	int rc;
	int n;
};

static int multi_one(const git_config_entry *e, void *payload)
{
	struct multi_walk *w = payload;
	w->n++;
	if ((w->rc = w->cb(e->value, w->payload)) != 0)
		return GIT_EUSER;
	return 0;
}

int tier_config_get_multi(const tier_config *cfg, const char *name,
                          tier_config_value_cb cb, void *payload)
{
	const char *v = NULL;
	int rc = get_raw(&v, cfg, name, ~0u);
	if (rc < 0)
		return rc;
	struct multi_walk w = {cb, payload, 0, 0};
	rc = git_config_get_multivar_foreach(cfg->snap, name, NULL, multi_one,
	                                     &w);
	if (rc == GIT_EUSER)
		return w.rc;
	if (rc == GIT_ENOTFOUND || w.n == 0)
		return TIER_ENOTFOUND;
	return rc < 0 ? git_fail(rc, "cannot read config", cfg->path) : 0;
}

struct each_walk {
	tier_config_entry_cb cb;
	void *payload;
	int rc;
};

static int each_one(const git_config_entry *e, void *payload)
{
	struct each_walk *w = payload;
	if ((w->rc = w->cb(e->name, e->value, w->payload)) != 0)
		return GIT_EUSER;
	return 0;
}

int tier_config_foreach(const tier_config *cfg, tier_config_entry_cb cb,
                        void *payload)
{
	struct each_walk w = {cb, payload, 0};
	int rc = git_config_foreach(cfg->snap, each_one, &w);
	if (rc == GIT_EUSER)
		return w.rc;
	return rc < 0 ? git_fail(rc, "cannot read config", cfg->path) : 0;
}

/* ---- writing -------------------------------------------------------- */

/*
 * libgit2 rewrites the file through a lock file created with the umask's
 * mode; the file is created 0600 here first and put back to 0600 after.
 */
static int open_for_write(git_config **out, char *path, size_t cap,
                          const char *state_dir)
{
	int rc = config_path(path, cap, state_dir);
	if (rc < 0)
		return rc;
	int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return tier_error_set_errno(TIER_ERROR, errno,
		                            "cannot write '%s'", path);
	close(fd);
	if ((rc = git_config_open_ondisk(out, path)) < 0)
		return git_fail(rc, "cannot read config", path);
	return 0;
}

static int finish_write(git_config *cfg, int rc, const char *path)
{
	git_config_free(cfg);
	if (chmod(path, 0600) < 0 && rc == 0)
		rc = tier_error_set_errno(TIER_ERROR, errno,
		                          "cannot make '%s' private", path);
	return rc;
}

static int write_value(const char *state_dir, const char *name,
                       const char *value, int add)
{
	char path[PATH_MAX];
	git_config *cfg = NULL;
	int rc;
	tier_error_clear();
	if ((rc = tier_config_check(name, value)) < 0)
		return rc;
	const tier_config_key *k = tier_config_key_find(name);
	if (k == &internal_key || key_matches("tier.*.url", name))
		return tier_error_set(TIER_EUSAGE,
		                      "config key '%s' is set by tier-init",
		                      name);
	if (add && k->type != TIER_CONFIG_MULTI)
		return tier_error_set(TIER_EUSAGE,
		                      "config key '%s' takes one value (set it "
		                      "without --add)",
		                      name);
	if ((rc = open_for_write(&cfg, path, sizeof(path), state_dir)) < 0)
		return rc;
	if (add) {
		/* a pattern that matches no value: append (git config --add) */
		rc = git_config_set_multivar(cfg, name, "a^", value);
	} else {
		rc = git_config_delete_multivar(cfg, name, ".*");
		if (rc == 0 || rc == GIT_ENOTFOUND)
			rc = git_config_set_string(cfg, name, value);
	}
	if (rc < 0)
		rc = git_fail(rc, "cannot write config", path);
	return finish_write(cfg, rc, path);
}

int tier_config_set(const char *state_dir, const char *name, const char *value)
{
	return write_value(state_dir, name, value, 0);
}

int tier_config_add(const char *state_dir, const char *name, const char *value)
{
	return write_value(state_dir, name, value, 1);
}

/* Any key may be removed, known or not: that is how a file with a stale
 * key is mended. */
int tier_config_unset(const char *state_dir, const char *name)
{
	char path[PATH_MAX];
	git_config *cfg = NULL;
	int rc;
	if (!name || !strchr(name, '.'))
		return tier_error_set(TIER_EUSAGE, "bad config key '%s'",
		                      name ? name : "");
	if (is_internal(name))
		return tier_error_set(TIER_EUSAGE,
		                      "config key '%s' is set by tier-init",
		                      name);
	if ((rc = open_for_write(&cfg, path, sizeof(path), state_dir)) < 0)
		return rc;
	rc = git_config_delete_multivar(cfg, name, ".*");
	if (rc == GIT_ENOTFOUND)
		rc = tier_error_set(TIER_ENOTFOUND,
		                    "config key '%s' is not set in '%s'", name,
		                    path);
	else if (rc < 0)
		rc = git_fail(rc, "cannot write config", path);
	return finish_write(cfg, rc, path);
}
