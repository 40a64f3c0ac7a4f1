#include "opt.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tier.h"

#include "exitcodes.h"
#include "output.h"

#define HELP_WIDTH   79 /* wrap --help here: fits an 80-column terminal */
#define HELP_MAX_COL 30 /* help text starts at most here */
/* libtier's default --timeout as text ("30s"), for the help string */
#define STR_(x)              #x
#define STR(x)               STR_(x)
#define DEFAULT_TIMEOUT_TEXT STR(TIER_DEFAULT_TIMEOUT_S) "s"

/* The common options point into a tool_common and a few locals. */
struct common_table {
	struct tool_opt opts[16];
	int help, version;
	uint64_t delay_ms, timeout_ms;
	char retries_help[96], delay_help[128];
};

static void common_table_init(struct common_table *t, struct tool_common *c)
{
	tier_location_options d = TIER_LOCATION_OPTIONS_INIT;
	int i = 0;

	t->help = t->version = 0;
	t->delay_ms = c->retry_delay;
	t->timeout_ms = (uint64_t)c->timeout * 1000;
	snprintf(t->retries_help, sizeof(t->retries_help),
	         "attempts per tier call before the tier counts as offline "
	         "(default %u)",
	         d.retries);
	snprintf(t->delay_help, sizeof(t->delay_help),
	         "base back-off between attempts, e.g. 200ms or 2s; a bare "
	         "number is milliseconds (default %ums)",
	         d.retry_delay);

	t->opts[i++] = (struct tool_opt)TOOL_STRING(
	        's', "state", "DIR", &c->state_dir,
	        "installation state directory (default: $TIER_STATE_DIR)");
	t->opts[i++] = (struct tool_opt)TOOL_LIST(
	        't', "tier", "[NAME=]URL", &c->tiers,
	        "a tier of the vault; repeat for each tier, in read order "
	        "(default: the tiers the installation remembers; with -s, "
	        "NAME must be one of them)");
	t->opts[i++] = (struct tool_opt)TOOL_FLAG(
	        0, "json", &c->json,
	        "print one JSON object on stdout instead of text");
	t->opts[i++] = (struct tool_opt)TOOL_FLAG(
	        'q', "quiet", &c->quiet,
	        "no progress line or informational messages");
	t->opts[i++] = (struct tool_opt)TOOL_FLAG(
	        'v', "verbose", &c->verbose,
	        "say more on stderr (retries, tier state); repeatable");
	t->opts[i++] = (struct tool_opt)TOOL_UINT(
	        0, "retries", "N", &c->retries, 1, 0, t->retries_help);
	t->opts[i++] = (struct tool_opt)TOOL_DURATION_MS(
	        0, "retry-delay", &t->delay_ms, 0, UINT_MAX, t->delay_help);
	t->opts[i++] = (struct tool_opt)TOOL_DURATION_S(
	        0, "timeout", &t->timeout_ms, 1, 3600 * 1000,
	        "how long a remote tier may stay silent (connecting, a reply, a "
	        "transfer) before the attempt counts as failed, in whole "
	        "seconds (rounded up); a bare number is seconds "
	        "(default " DEFAULT_TIMEOUT_TEXT ")");
	t->opts[i++] = (struct tool_opt)TOOL_STRING(
	        0, "cacert", "FILE", &c->cacert,
	        "CA certificates to verify ftps:// servers and https S3 endpoints "
	        "(default: $TIER_CACERT; remembered by tier-init)");
	t->opts[i++] = (struct tool_opt)TOOL_FLAG(
	        0, "insecure", &c->insecure,
	        "do not verify TLS certificates or SSH host keys (for tests only)");
	t->opts[i++] = (struct tool_opt)TOOL_STRING(
	        0, "password-file", "FILE", &c->password_file,
	        "read an encrypted vault's password from the first line of FILE "
	        "(default: $TIER_PASSWORD_FILE, $TIER_PASSWORD, else ask on the "
	        "terminal)");
	t->opts[i++] = (struct tool_opt)TOOL_STRING(
	        0, "password-command", "CMD", &c->password_command,
	        "run CMD with /bin/sh and take the first line it prints as the "
	        "password");
	t->opts[i++] = (struct tool_opt)TOOL_FLAG('h', "help", &t->help,
	                                          "show this help and exit");
	t->opts[i++] = (struct tool_opt)TOOL_FLAG(0, "version", &t->version,
	                                          "show the version and exit");
	t->opts[i++] = (struct tool_opt)TOOL_OPTS_END;
}

/* ---- parsing ----------------------------------------------------------- */

static const struct tool_opt *find_long(const struct tool_opt *tab,
                                        const char *name, size_t len)
{
	for (; tab && tab->type != TOOL_OPT_END; tab++)
		if (strlen(tab->long_name) == len &&
		    memcmp(tab->long_name, name, len) == 0)
			return tab;
	return NULL;
}

static const struct tool_opt *find_short(const struct tool_opt *tab, char ch)
{
	for (; tab && tab->type != TOOL_OPT_END; tab++)
		if (tab->short_name && tab->short_name == ch)
			return tab;
	return NULL;
}

/* Digits only: strtoull alone would take "-1", " 5" and "0x10". */
static int parse_number(const char *s, uint64_t min, uint64_t max,
                        uint64_t *out)
{
	uint64_t v = 0;

	if (!*s)
		return -1;
	for (; *s; s++) {
		unsigned int d;
		if (*s < '0' || *s > '9')
			return -1;
		d = (unsigned int)(*s - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -2;
		v = v * 10 + d;
	}
	if (v < min || v > max)
		return -2;
	*out = v;
	return 0;
}

/*
 * "500ms", "30s", "2m", "1h", sums of those ("1m30s"), or a bare number in
 * unit_ms.  -1: not a duration; -2: too large.
 */
static int parse_duration(const char *s, uint64_t unit_ms, uint64_t *out)
{
	static const struct {
		const char *suffix;
		uint64_t ms;
	} units[] = {{"ms", 1},
	             {"s", 1000},
	             {"m", 60000},
	             {"h", 3600000},
	             {"d", 86400000}};
	uint64_t total = 0;
	int parts = 0;

	if (!*s)
		return -1;
	while (*s) {
		uint64_t v = 0, mul = 0;
		size_t i, n = 0;
		if (*s < '0' || *s > '9')
			return -1;
		for (; *s >= '0' && *s <= '9'; s++) {
			unsigned int d = (unsigned int)(*s - '0');
			if (v > (UINT64_MAX - d) / 10)
				return -2;
			v = v * 10 + d;
		}
		if (!*s && parts == 0) {
			mul = unit_ms; /* a bare number: the option's unit */
		} else {
			/* longest suffix first: "ms" before "m" */
			for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
				size_t l = strlen(units[i].suffix);
				if (!strncmp(s, units[i].suffix, l) &&
				    (s[l] == '\0' ||
				     (s[l] >= '0' && s[l] <= '9')) &&
				    l > n) {
					n = l;
					mul = units[i].ms;
				}
			}
			if (!mul)
				return -1;
			s += n;
		}
		if (v > UINT64_MAX / mul || total > UINT64_MAX - v * mul)
			return -2;
		total += v * mul;
		parts++;
	}
	*out = total;
	return 0;
}

/* A duration for messages: "500ms", "30s", "2m", "1h". */
static const char *duration_text(uint64_t ms, char buf[32])
{
	if (ms && ms % 3600000 == 0)
		snprintf(buf, 32, "%lluh", (unsigned long long)(ms / 3600000));
	else if (ms && ms % 60000 == 0)
		snprintf(buf, 32, "%llum", (unsigned long long)(ms / 60000));
	else if (ms % 1000 == 0)
		snprintf(buf, 32, "%llus", (unsigned long long)(ms / 1000));
	else
		snprintf(buf, 32, "%llums", (unsigned long long)ms);
	return buf;
}

static void list_push(struct tool_list *l, const char *item)
{
	l->items = tool_xrealloc(l->items, (l->count + 1) * sizeof(*l->items));
	l->items[l->count++] = item;
}

static int range_error(const struct tool_opt *o, const char *spelled,
                       const char *value, uint64_t max)
{
	uint64_t type_max = o->type == TOOL_OPT_UINT ? UINT_MAX : UINT64_MAX;
	char range[64];

	if (max == type_max && o->min == 0)
		snprintf(range, sizeof(range), "at most %llu",
		         (unsigned long long)max);
	else if (max == type_max)
		snprintf(range, sizeof(range), "at least %llu",
		         (unsigned long long)o->min);
	else
		snprintf(range, sizeof(range), "%llu to %llu",
		         (unsigned long long)o->min, (unsigned long long)max);
	return tool_usage_error("number '%s' out of range for %s (%s)", value,
	                        spelled, range);
}

/* Which options the command line gave: the config fills in the others. */
#define MAX_OPTS 64
static const struct tool_opt *given_tabs[2];
static unsigned char given[2][MAX_OPTS];

static void mark_given(const struct tool_opt *o)
{
	for (int t = 0; t < 2; t++)
		for (int i = 0; given_tabs[t] && i < MAX_OPTS &&
		                given_tabs[t][i].type != TOOL_OPT_END;
		     i++)
			if (&given_tabs[t][i] == o)
				given[t][i] = 1;
}

static int apply(const struct tool_opt *o, const char *spelled,
                 const char *value)
{
	uint64_t n, max;
	int rc;

	switch (o->type) {
	case TOOL_OPT_FLAG:
		(*(int *)o->value)++;
		break;
	case TOOL_OPT_STRING:
		*(const char **)o->value = value;
		break;
	case TOOL_OPT_LIST:
		list_push(o->value, value);
		break;
	case TOOL_OPT_UINT:
	case TOOL_OPT_U64:
		max = o->type == TOOL_OPT_UINT ? UINT_MAX : UINT64_MAX;
		if (o->max && o->max < max)
			max = o->max;
		rc = parse_number(value, o->min, max, &n);
		if (rc == -1)
			return tool_usage_error("invalid number '%s' for %s",
			                        value, spelled);
		if (rc == -2)
			return range_error(o, spelled, value, max);
		if (o->type == TOOL_OPT_UINT)
			*(unsigned int *)o->value = (unsigned int)n;
		else
			*(uint64_t *)o->value = n;
		break;
	case TOOL_OPT_DURATION_MS:
	case TOOL_OPT_DURATION_S: {
		char lo[32], hi[32];
		max = o->max ? o->max : UINT64_MAX;
		rc = parse_duration(
		        value, o->type == TOOL_OPT_DURATION_S ? 1000 : 1, &n);
		if (rc == -1)
			return tool_usage_error(
			        "invalid duration '%s' for %s (write "
			        "e.g. 500ms, 30s, 2m or 1h)",
			        value, spelled);
		if (rc == -2 || n < o->min || n > max)
			return tool_usage_error(
			        "duration '%s' out of range for %s (%s "
			        "to %s)",
			        value, spelled, duration_text(o->min, lo),
			        duration_text(max, hi));
		*(uint64_t *)o->value = n;
		break;
	}
	case TOOL_OPT_SIZE:
		if (tier_config_parse_size(&n, value) < 0)
			return tool_usage_error(
			        "invalid size '%s' for %s (write e.g. 512K, 10M "
			        "or 1G)",
			        value, spelled);
		if (n < o->min || (o->max && n > o->max))
			return range_error(o, spelled, value,
			                   o->max ? o->max : UINT64_MAX);
		*(uint64_t *)o->value = n;
		break;
	case TOOL_OPT_END:
		break;
	}
	mark_given(o);
	if (o->seen)
		(*o->seen)++;
	return 0;
}

/* Programming errors in a tool's table are caught on the first run. */
static int check_table(const struct tool_opt *tool,
                       const struct tool_opt *common)
{
	const struct tool_opt *o;

	for (o = tool; o && o->type != TOOL_OPT_END; o++) {
		const char *bad = NULL;
		if (o - tool >= MAX_OPTS - 1)
			bad = "more entries than MAX_OPTS";
		else if (!o->long_name || !*o->long_name || !o->value)
			bad = "an entry without a long name or a value";
		else if (find_long(common, o->long_name,
		                   strlen(o->long_name)) ||
		         find_long(o + 1, o->long_name, strlen(o->long_name)))
			bad = "a long name given twice";
		else if (o->short_name && (find_short(common, o->short_name) ||
		                           find_short(o + 1, o->short_name)))
			bad = "a short name given twice";
		if (bad) {
			tool_error("internal error: option table has %s "
			           "('%s')",
			           bad, o->long_name ? o->long_name : "");
			return TOOL_EXIT_ERROR;
		}
	}
	return 0;
}

static void print_version(const struct tool_def *def)
{
	printf("%s (libtier) %s\n", def->name, tier_version());
}

/* One command line being read: the tool's table first, then the common one. */
struct opt_parse {
	const struct tool_opt *tabs[2];
	int argc;
	char **argv;
	int i; /* the argument being read; a value taken moves it on */
};

/* Defaults before any option: libtier's retries and delay, the environment. */
static void common_defaults(struct tool_common *out, const struct tool_def *def)
{
	tier_location_options defaults = TIER_LOCATION_OPTIONS_INIT;
	const char *env;

	memset(out, 0, sizeof(*out));
	out->def = def;
	out->retries = defaults.retries;
	out->retry_delay = defaults.retry_delay;
	env = getenv("TIER_STATE_DIR");
	if (env && *env)
		out->state_dir = env;
	env = getenv("TIER_CACERT");
	if (env && *env)
		out->cacert = env;
	tool_set_name(def->name);
}

/* --json is known before parsing, so that a usage error found on the way
 * still prints its error object. */
static void json_before_parsing(int argc, char **argv)
{
	int i;

	for (i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
		if (strcmp(argv[i], "--json") == 0)
			tool_output_json(1);
}

/* "--name", "--name=value" or "--name value". */
static int parse_long(struct opt_parse *p, const char *arg)
{
	const char *name = arg + 2;
	const char *eq = strchr(name, '=');
	size_t len = eq ? (size_t)(eq - name) : strlen(name);
	const char *value = NULL;
	const struct tool_opt *o;
	char spelled[128];

	snprintf(spelled, sizeof(spelled), "option '--%.*s'",
	         (int)(len < 100 ? len : 100), name);
	if (!(o = find_long(p->tabs[0], name, len)))
		o = find_long(p->tabs[1], name, len);
	if (!o)
		return tool_usage_error("unknown %s", spelled);
	if (o->type == TOOL_OPT_FLAG) {
		if (eq)
			return tool_usage_error("%s takes no value", spelled);
	} else if (eq) {
		value = eq + 1;
	} else if (p->i + 1 < p->argc) {
		value = p->argv[++p->i];
	}
	if (o->type != TOOL_OPT_FLAG && (!value || !*value))
		return tool_usage_error("%s needs a value", spelled);
	return apply(o, spelled, value);
}

/* "-abc" (flags), "-sDIR" or "-s DIR": a value ends the group. */
static int parse_short(struct opt_parse *p, const char *arg)
{
	const char *c;
	int rc;

	for (c = arg + 1; *c; c++) {
		const struct tool_opt *o;
		const char *value = NULL;
		char spelled[128];

		snprintf(spelled, sizeof(spelled), "option '-%c'", *c);
		if (!(o = find_short(p->tabs[0], *c)))
			o = find_short(p->tabs[1], *c);
		if (!o)
			return tool_usage_error("unknown %s", spelled);
		if (o->type != TOOL_OPT_FLAG) {
			if (c[1])
				value = c + 1;
			else if (p->i + 1 < p->argc)
				value = p->argv[++p->i];
			if (!value || !*value)
				return tool_usage_error("%s needs a value",
				                        spelled);
		}
		if ((rc = apply(o, spelled, value)) != 0)
			return rc;
		if (value)
			break;
	}
	return 0;
}

/*
 * Apply every option; the other arguments move to the front of argv
 * (argv[1..*nargs]).  Returns TOOL_OPT_CONTINUE, or the exit code after an
 * error, --help or --version.
 */
static int parse_options(struct opt_parse *p, const struct common_table *ct,
                         const struct tool_def *def, size_t *nargs)
{
	int only_args = 0, w = 1, rc;

	for (p->i = 1; p->i < p->argc; p->i++) {
		const char *arg = p->argv[p->i];

		if (only_args || arg[0] != '-' || arg[1] == '\0') {
			/* w <= i: moving arguments forward never clobbers
			 * an element not read yet. */
			p->argv[w++] = p->argv[p->i];
			continue;
		}
		if (strcmp(arg, "--") == 0) {
			only_args = 1;
			continue;
		}
		rc = arg[1] == '-' ? parse_long(p, arg) : parse_short(p, arg);
		if (rc != 0)
			return rc;
		/* --help and --version win over what follows them. */
		if (ct->help) {
			tool_opt_help(def);
			return TOOL_EXIT_OK;
		}
		if (ct->version) {
			print_version(def);
			return TOOL_EXIT_OK;
		}
	}
	*nargs = (size_t)(w - 1);
	return TOOL_OPT_CONTINUE;
}

/* ---- defaults from the config (docs/config.md) ------------------------- */

static tier_config *g_config;
/* The values taken from it: libgit2 lends them for one callback only. */
static struct tool_list g_values;

static const char *keep_value(const char *v)
{
	char *copy = strdup(v);
	if (!copy) {
		tool_error("out of memory");
		exit(TOOL_EXIT_ERROR);
	}
	list_push(&g_values, copy);
	return copy;
}

const struct tier_config *tool_config(void)
{
	return g_config;
}

/* The common options with a key: named by what they set, not by tool. */
static const struct {
	const char *opt, *key;
} common_keys[] = {{"retries", "retry.count"},
                   {"retry-delay", "retry.delay"},
                   {"timeout", "retry.timeout"}};

/* The naming rule: "tier-push" and "--exclude-larger-than" give
 * "push.excludeLargerThan". */
static void key_of(char *out, size_t cap, const char *tool, const char *opt)
{
	size_t n = 0;
	if (!strncmp(tool, "tier-", 5))
		tool += 5;
	for (; *tool && n + 1 < cap; tool++)
		out[n++] = *tool;
	if (n + 1 < cap)
		out[n++] = '.';
	for (int up = 0; *opt && n + 1 < cap; opt++) {
		if (*opt == '-') {
			up = 1;
			continue;
		}
		out[n++] = up && *opt >= 'a' && *opt <= 'z'
		                   ? (char)(*opt - 'a' + 'A')
		                   : *opt;
		up = 0;
	}
	out[n] = '\0';
}

struct cfg_apply {
	const struct tool_opt *o;
	const char *what;
	int rc;
};

static int apply_value(const char *value, void *payload)
{
	struct cfg_apply *a = payload;
	char secs[40];
	/* a bare number in the config is seconds, whatever the flag's unit */
	if ((a->o->type == TOOL_OPT_DURATION_MS ||
	     a->o->type == TOOL_OPT_DURATION_S) &&
	    value[0] && strspn(value, "0123456789") == strlen(value) &&
	    strlen(value) < 30) {
		snprintf(secs, sizeof(secs), "%ss", value);
		value = secs;
	}
	a->rc = apply(a->o, a->what, keep_value(value));
	return a->rc ? 1 : 0;
}

/* One option not given on the command line, from its key if set. */
static int last_value(const char *value, void *payload)
{
	*(const char **)payload = keep_value(value);
	return 0;
}

static int config_option(const struct tool_opt *o, const char *key)
{
	char what[192];
	struct cfg_apply a = {o, what, 0};
	const char *v = NULL;
	int on = 0;

	if (!tier_config_key_find(key))
		return 0; /* the option has no key */
	snprintf(what, sizeof(what), "config key '%s' in '%s'", key,
	         tier_config_path(g_config));
	switch (o->type) {
	case TOOL_OPT_FLAG:
		if (tier_config_get_bool(&on, g_config, key) == 0 && on)
			(*(int *)o->value)++;
		return 0;
	case TOOL_OPT_LIST: {
		/* the config's values first, then the command line's: a
		 * later exclude pattern wins, as in a .gitignore */
		struct tool_list *l = o->value, cmd = *l;
		l->items = NULL;
		l->count = 0;
		tier_config_get_multi(g_config, key, apply_value, &a);
		for (size_t i = 0; i < cmd.count; i++)
			list_push(l, cmd.items[i]);
		free(cmd.items);
		return a.rc;
	}
	default: /* the last value, spelled as in the file */
		if (tier_config_get_multi(g_config, key, last_value, &v) == 0)
			apply_value(v, &a);
		return a.rc;
	}
}

/*
 * Every option of the tool that the command line did not give takes its
 * key's value from <state>/config; a list option takes the config's
 * values and then the command line's.  tier-config itself reads no
 * defaults (it must be able to mend a config that does not check).
 */
static int config_defaults(const struct tool_common *out,
                           const struct tool_def *def)
{
	char path[4096], key[128];
	struct stat st;
	int rc;

	if (def->no_config || !out->state_dir)
		return 0;
	snprintf(path, sizeof(path), "%s/config", out->state_dir);
	if (stat(path, &st) < 0)
		return 0; /* no installation yet (tier-init) */
	if ((rc = tier_config_open(&g_config, out->state_dir)) < 0)
		return tool_fail(rc);
	for (int t = 0; t < 2; t++)
		for (int i = 0; given_tabs[t] && i < MAX_OPTS &&
		                given_tabs[t][i].type != TOOL_OPT_END;
		     i++) {
			const struct tool_opt *o = &given_tabs[t][i];
			if (given[t][i] && o->type != TOOL_OPT_LIST)
				continue;
			key[0] = '\0';
			if (t == 0)
				key_of(key, sizeof(key), def->name,
				       o->long_name);
			for (size_t k = 0;
			     t == 1 &&
			     k < sizeof(common_keys) / sizeof(common_keys[0]);
			     k++)
				if (!strcmp(o->long_name, common_keys[k].opt))
					snprintf(key, sizeof(key), "%s",
					         common_keys[k].key);
			if (key[0] && (rc = config_option(o, key)) != 0)
				return rc;
		}
	return 0;
}

int tool_opt_parse(struct tool_common *out, const struct tool_def *def,
                   int argc, char **argv)
{
	struct common_table ct;
	struct opt_parse p = {{def->options, NULL}, argc, argv, 0};
	size_t nargs = 0;
	int rc;

	common_defaults(out, def);
	json_before_parsing(argc, argv);
	common_table_init(&ct, out);
	p.tabs[1] = ct.opts;
	if ((rc = check_table(def->options, ct.opts)) != 0)
		return rc;
	given_tabs[0] = def->options;
	given_tabs[1] = ct.opts;
	if ((rc = parse_options(&p, &ct, def, &nargs)) != TOOL_OPT_CONTINUE)
		return rc;
	if ((rc = config_defaults(out, def)) != 0)
		return rc;

	out->retry_delay = (unsigned int)ct.delay_ms; /* <= UINT_MAX */
	/* the library counts whole seconds: never shorter than asked */
	out->timeout = (unsigned int)((ct.timeout_ms + 999) / 1000);

	out->args.items = (const char **)argv + 1;
	out->args.count = nargs;
	if (nargs < def->min_args)
		return tool_usage_error("missing argument: %s",
		                        def->args ? def->args : "");
	if (def->max_args != TOOL_ARGS_MANY && nargs > def->max_args)
		return tool_usage_error("unexpected argument '%s'",
		                        argv[1 + def->max_args]);
	tool_output_setup(out);
	return TOOL_OPT_CONTINUE;
}

void tool_common_dispose(struct tool_common *c)
{
	const struct tool_opt *o;

	tier_config_free(g_config);
	g_config = NULL;
	for (size_t i = 0; i < g_values.count; i++)
		free((char *)g_values.items[i]);
	free(g_values.items);
	memset(&g_values, 0, sizeof(g_values));
	free(c->tiers.items);
	c->tiers.items = NULL;
	c->tiers.count = 0;
	for (o = c->def ? c->def->options : NULL; o && o->type != TOOL_OPT_END;
	     o++) {
		if (o->type == TOOL_OPT_LIST && o->value) {
			struct tool_list *l = o->value;
			free(l->items);
			l->items = NULL;
			l->count = 0;
		}
	}
}

/* ---- signals ----------------------------------------------------------- */

static volatile sig_atomic_t g_interrupted;

static void on_signal(int sig)
{
	(void)sig;
	g_interrupted = 1;
}

int tool_interrupted(void)
{
	return g_interrupted != 0;
}

static void install_signals(void)
{
	static const int sigs[] = {SIGINT, SIGTERM, SIGHUP};
	struct sigaction sa;
	size_t i;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	/* The first signal asks the operation to stop cleanly (exit 6);
	 * SA_RESETHAND lets a second one kill the tool at once. */
	sa.sa_flags = SA_RESTART | SA_RESETHAND;
	for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaction(sigs[i], &sa, NULL);
}

void tool_init(struct tool_common *out, const struct tool_def *def, int argc,
               char **argv)
{
	int rc;

	/*
	 * As borg does: what the tools create (the state directory, tier
	 * files, directories of DEST that no snapshot entry describes) is
	 * the user's alone.  Restored entries get their recorded modes.
	 */
	umask(077);
	rc = tool_opt_parse(out, def, argc, argv);
	if (rc != TOOL_OPT_CONTINUE) {
		if (fflush(stdout) != 0 && rc == TOOL_EXIT_OK)
			rc = TOOL_EXIT_ERROR;
		tool_common_dispose(out);
		exit(rc);
	}
	install_signals();
}

int tool_finish(struct tool_common *c, int exit_code)
{
	int failed;

	tool_progress_done();
	errno = 0;
	failed = fflush(stdout) != 0 || ferror(stdout);
	if (failed) {
		/* errno is only meaningful when fflush itself failed. */
		tool_error("cannot write to stdout%s%s", errno ? ": " : "",
		           errno ? strerror(errno) : "");
		if (exit_code == TOOL_EXIT_OK)
			exit_code = TOOL_EXIT_ERROR;
	}
	tool_common_dispose(c);
	return exit_code;
}

/* ---- location options -------------------------------------------------- */

uint64_t tool_limit_upload, tool_limit_download;

static void trace_line(const char *line, void *payload)
{
	(void)payload;
	tool_verbose(1, "%s", line);
}

/* On a terminal without -v: each retry as the one updating progress line
 * ("tier 'srv': attempt 3/10, next in 1.6 s (...)"), so that a tier that
 * does not answer never leaves the terminal blank for a minute. */
static void trace_progress(const char *line, void *payload)
{
	(void)payload;
	tool_progress("%s", line);
}

void tool_location_options(const struct tool_common *c,
                           tier_location_options *opts)
{
	opts->retries = c->retries;
	opts->retry_delay = c->retry_delay;
	/* a long base delay must not be cut down by the default cap */
	if (opts->retry_cap < c->retry_delay)
		opts->retry_cap = c->retry_delay;
	if (c->timeout)
		opts->timeout = c->timeout;
	if (c->cacert)
		opts->cacert = c->cacert;
	if (c->insecure)
		opts->insecure = 1;
	/* over every tier's tier.NAME.limit* for this run */
	if (tool_limit_upload)
		opts->max_send_speed = tool_limit_upload;
	if (tool_limit_download)
		opts->max_recv_speed = tool_limit_download;
	if (c->verbose > 0) {
		opts->trace = trace_line;
		/* The payload is shared with the sleep hook: keep the
		 * caller's. */
	} else if (tool_progress_enabled()) {
		opts->trace = trace_progress;
	}
}

/* ---- --help ------------------------------------------------------------ */

static void spaces(size_t n)
{
	while (n--)
		putchar(' ');
}

/* Print text from column col, wrapping at HELP_WIDTH to column indent. */
static void wrap(const char *text, size_t col, size_t indent)
{
	const char *p = text;

	while (*p) {
		size_t len;

		if (*p == '\n') {
			putchar('\n');
			col = 0;
			p++;
			continue;
		}
		if (*p == ' ') {
			p++;
			continue;
		}
		len = strcspn(p, " \n");
		if (col < indent) {
			spaces(indent - col);
			col = indent;
		} else if (col > indent && col + 1 + len > HELP_WIDTH) {
			putchar('\n');
			spaces(indent);
			col = indent;
		} else if (col > indent) {
			putchar(' ');
			col++;
		}
		fwrite(p, 1, len, stdout);
		col += len;
		p += len;
	}
	putchar('\n');
}

/* "  -s, --state DIR" */
static size_t option_left(const struct tool_opt *o, int print)
{
	size_t n = 2 + 4 + 2 + strlen(o->long_name);

	if (o->arg_name)
		n += 1 + strlen(o->arg_name);
	if (print) {
		if (o->short_name)
			printf("  -%c, ", o->short_name);
		else
			printf("      ");
		printf("--%s", o->long_name);
		if (o->arg_name)
			printf(" %s", o->arg_name);
	}
	return n;
}

static size_t help_column(const struct tool_opt *tab, size_t col)
{
	for (; tab && tab->type != TOOL_OPT_END; tab++) {
		size_t w = option_left(tab, 0) + 2;
		if (w > col)
			col = w;
	}
	return col > HELP_MAX_COL ? HELP_MAX_COL : col;
}

static void print_options(const char *title, const struct tool_opt *tab,
                          size_t col)
{
	printf("\n%s\n", title);
	for (; tab && tab->type != TOOL_OPT_END; tab++) {
		size_t w = option_left(tab, 1);
		if (!tab->help || !*tab->help) {
			putchar('\n');
			continue;
		}
		if (w + 2 > col) {
			putchar('\n');
			w = 0;
		}
		wrap(tab->help, w, col);
	}
}

static const char *exit_override(const struct tool_def *def, int code)
{
	const struct tool_exit_doc *e;

	for (e = def->exits; e && e->code >= 0; e++)
		if (e->code == code)
			return e->meaning;
	return NULL;
}

static void print_exit(int code, const char *meaning)
{
	if (!meaning)
		meaning = tool_exit_meaning(code);
	printf("  %-4d", code);
	wrap(meaning ? meaning : "", 6, 6);
}

static void print_exits(const struct tool_def *def)
{
	const struct tool_exit_doc *e;
	int code, last = 2;

	printf("\nEXIT STATUS\n");
	for (code = 0; code <= 2; code++)
		print_exit(code, exit_override(def, code));
	/* The table need not be sorted; print in ascending order. */
	for (;;) {
		const struct tool_exit_doc *next = NULL;
		for (e = def->exits; e && e->code >= 0; e++)
			if (e->code > last && (!next || e->code < next->code))
				next = e;
		if (!next)
			break;
		print_exit(next->code, next->meaning);
		last = next->code;
	}
}

void tool_opt_help(const struct tool_def *def)
{
	struct tool_common dummy;
	struct common_table ct;
	size_t col;

	memset(&dummy, 0, sizeof(dummy));
	common_table_init(&ct, &dummy);
	col = help_column(ct.opts, help_column(def->options, 0));

	printf("usage: %s [options]%s%s\n", def->name, def->args ? " " : "",
	       def->args ? def->args : "");
	if (def->description && *def->description) {
		putchar('\n');
		wrap(def->description, 0, 0);
	}
	if (def->options && def->options->type != TOOL_OPT_END)
		print_options("OPTIONS", def->options, col);
	print_options("COMMON OPTIONS", ct.opts, col);
	print_exits(def);
}
