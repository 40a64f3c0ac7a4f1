/*
 * tier-config: read and set the installation's config, <state>/config
 * (SPEC section 9), through libtier's config layer (tier/config.h), which
 * reads and writes it with libgit2's config API.  As git config:
 *	tier-config KEY          print its value(s), exit 1 when not set
 *	tier-config KEY VALUE    set it (every earlier value replaced)
 *	tier-config --add KEY VALUE   one more value of a multi-valued key
 *	tier-config --unset KEY  remove it (every value)
 *	tier-config --list       every entry, KEY=VALUE
 *	tier-config --keys       the known keys with their types
 */
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "exitcodes.h"
#include "opt.h"
#include "output.h"
#include "tier.h"

static int opt_list, opt_unset, opt_add, opt_keys;

static const struct tool_opt options[] = {
        TOOL_FLAG('l', "list", &opt_list, "print every entry as KEY=VALUE"),
        TOOL_FLAG(0, "unset", &opt_unset, "remove KEY (every value it has)"),
        TOOL_FLAG(0, "add", &opt_add,
                  "add VALUE to the multi-valued KEY instead of replacing "
                  "its values"),
        TOOL_FLAG(0, "keys", &opt_keys,
                  "print the known keys, their types and what they do"),
        TOOL_OPTS_END};

static const struct tool_def def = {
        .name = "tier-config",
        .args = "[KEY [VALUE]]",
        .description =
                "Read and set the installation's config, <state>/config, "
                "in git-config syntax. KEY alone prints its value (every "
                "value of a multi-valued key, one a line; exit 1 when it "
                "is not set); KEY VALUE sets it. Unknown keys and bad "
                "values are refused (exit 2), nothing written.",
        .options = options,
        .min_args = 0,
        .max_args = 2,
        .no_config = 1,
};

static int print_entry(const char *name, const char *value, void *payload)
{
	json_t *arr = payload;
	if (arr) {
		json_t *o = json_object();
		json_object_set_new(o, "key", tool_json_text(name));
		json_object_set_new(o, "value", tool_json_text(value));
		json_array_append_new(arr, o);
	} else {
		printf("%s=%s\n", name, value);
	}
	return 0;
}

static int do_list(const struct tool_common *c)
{
	tier_config *cfg;
	int rc = tier_config_open(&cfg, c->state_dir);
	if (rc < 0)
		return tool_fail(rc);
	json_t *arr = c->json ? json_array() : NULL;
	rc = tier_config_foreach(cfg, print_entry, arr);
	if (rc == 0 && arr) {
		json_t *o = json_object();
		json_object_set_new(o, "file",
		                    tool_json_text(tier_config_path(cfg)));
		json_object_set_new(o, "entries", arr);
		rc = tool_json_emit(o);
		arr = NULL;
	}
	json_decref(arr);
	tier_config_free(cfg);
	return rc < 0 ? tool_fail(rc) : rc;
}

static int print_value(const char *value, void *payload)
{
	(void)payload;
	printf("%s\n", value);
	return 0;
}

static int do_get(const struct tool_common *c, const char *key)
{
	tier_config *cfg;
	int rc;
	if (!tier_config_key_find(key))
		return tool_usage_error("unknown config key '%s' (see --keys)",
		                        key);
	if ((rc = tier_config_open(&cfg, c->state_dir)) < 0)
		return tool_fail(rc);
	rc = tier_config_get_multi(cfg, key, print_value, NULL);
	tier_config_free(cfg);
	if (rc == TIER_ENOTFOUND)
		return TOOL_EXIT_ERROR; /* as git config: not set, nothing said */
	return rc < 0 ? tool_fail(rc) : 0;
}

static int do_keys(void)
{
	size_t n;
	const tier_config_key *k = tier_config_keys(&n);
	for (size_t i = 0; i < n; i++)
		printf("%-24s %-8s %s\n", k[i].name,
		       tier_config_type_name(k[i].type), k[i].help);
	return 0;
}

static int run(const struct tool_common *c)
{
	const char *const *a = c->args.items;
	size_t n = c->args.count;
	if (opt_list + opt_unset + opt_add + opt_keys > 1)
		return tool_usage_error(
		        "--list, --keys, --unset and --add go alone");
	if (opt_keys)
		return n ? tool_usage_error("--keys takes no KEY") : do_keys();
	if (opt_list)
		return n ? tool_usage_error("--list takes no KEY") : do_list(c);
	if (c->json)
		return tool_usage_error("--json goes with --list");
	if (opt_unset) {
		if (n != 1)
			return tool_usage_error("--unset takes one KEY");
		return tool_fail(tier_config_unset(c->state_dir, a[0]));
	}
	if (opt_add) {
		if (n != 2)
			return tool_usage_error("--add takes KEY VALUE");
		return tool_fail(tier_config_add(c->state_dir, a[0], a[1]));
	}
	if (n == 0)
		return tool_usage_error("no KEY (see --help)");
	if (n == 1)
		return do_get(c, a[0]);
	return tool_fail(tier_config_set(c->state_dir, a[0], a[1]));
}

int main(int argc, char **argv)
{
	struct tool_common c;
	tool_init(&c, &def, argc, argv);
	if (!c.state_dir && !opt_keys)
		return tool_finish(
		        &c, tool_usage_error("no state directory (-s DIR or "
		                             "TIER_STATE_DIR)"));
	return tool_finish(&c, run(&c));
}
