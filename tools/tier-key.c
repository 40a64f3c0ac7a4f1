/* tier-key: the passwords of an encrypted vault (SPEC section 8). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exitcodes.h"
#include "opt.h"
#include "output.h"
#include "password.h"
#include "session.h"

static const char *opt_new_file, *opt_new_command;
static uint64_t opt_kdf_memory;

static const struct tool_opt options[] = {
        TOOL_STRING(0, "new-password-file", "FILE", &opt_new_file,
                    "add, passwd: the new password is the first line of FILE "
                    "(default: ask twice on the terminal)"),
        TOOL_STRING(0, "new-password-command", "CMD", &opt_new_command,
                    "add, passwd: the new password is the first line CMD "
                    "prints"),
        TOOL_SIZE(0, "kdf-memory", "SIZE", &opt_kdf_memory, 1024 * 1024,
                  1024ull * 1024 * 1024,
                  "add, passwd: memory of the new key's scrypt (default 64M)"),
        TOOL_OPTS_END};

static const struct tool_exit_doc exits[] = {
        {TOOL_EXIT_ERROR, "error; also: wrong password, no such key, the "
                          "vault is not encrypted"},
        {TOOL_EXIT_FOREIGN, NULL},
        {TOOL_EXIT_ROLLEDBACK, NULL},
        {TOOL_EXIT_INTERRUPTED, NULL},
        {TOOL_EXIT_TIMEOUT, NULL},
        TOOL_EXITS_END};

static const struct tool_def def = {
        .name = "tier-key",
        .args = "list | add | remove ID | passwd",
        .description =
                "List, add or remove the passwords (key slots) of an encrypted vault, or "
                "change the one given (passwd).  The current password comes from the usual "
                "sources (--password-file, ...), the new one from --new-password-file, "
                "--new-password-command or the terminal.  A change is a logged write on "
                "every tier (sync carries it to a tier that was away); no data is "
                "rewritten: every slot wraps the same master key.",
        .options = options,
        .min_args = 1,
        .max_args = 2,
        .exits = exits,
};

static int list(struct tool_common *c, tier_vault *v)
{
	tier_key_info *k = NULL;
	size_t n = 0;
	char when[64];
	int rc = tier_vault_key_list(&k, &n, v);
	if (rc < 0)
		return tool_fail(rc);
	if (c->json) {
		json_t *arr = json_array();
		for (size_t i = 0; i < n; i++) {
			tool_time_rfc3339(when, sizeof(when), k[i].created);
			json_array_append_new(
			        arr, json_pack("{s:s, s:b, s:s, s:s, s:s, s:s}",
			                       "id", k[i].id, "current",
			                       k[i].current, "created", when,
			                       "host", k[i].host, "user",
			                       k[i].user, "kdf", k[i].kdf));
		}
		free(k);
		return tool_json_emit(json_pack("{s:o}", "keys", arr));
	}
	tool_table *t = tool_table_new(5);
	tool_table_cell(t, "ID");
	tool_table_cell(t, "");
	tool_table_cell(t, "CREATED");
	tool_table_cell(t, "USER@HOST");
	tool_table_cell(t, "KDF");
	for (size_t i = 0; i < n; i++) {
		tool_time_text(when, sizeof(when), k[i].created);
		tool_table_cell(t, k[i].id);
		tool_table_cell(t, k[i].current ? "*" : "");
		tool_table_cell(t, when);
		tool_table_add(t, "%s@%s", k[i].user, k[i].host);
		tool_table_cell(t, k[i].kdf);
	}
	tool_table_print(t, stdout);
	tool_table_free(t);
	free(k);
	return TOOL_EXIT_OK;
}

static int change(struct tool_common *c, tier_vault *v, const char *cmd,
                  const char *remove)
{
	tier_write_result *res = NULL;
	char *pw = NULL, id[17] = "";
	size_t len = 0;
	int add = strcmp(cmd, "remove") != 0, rc = 0;
	if (add && (rc = tool_password_new(&pw, &len, opt_new_file,
	                                   opt_new_command, NULL,
	                                   "--new-password-file or "
	                                   "--new-password-command")) < 0)
		return tool_fail(rc);
	rc = tier_vault_key_change(&res, v, pw, len, opt_kdf_memory, remove,
	                           id);
	if (pw) {
		memset(pw, 0, len);
		free(pw);
	}
	if (res)
		tool_write_result_report(res);
	if (rc < 0) {
		tier_write_result_free(res);
		return tool_fail(rc);
	}
	if (c->json) {
		json_t *o = json_pack("{s:I, s:s, s:o}", "revision",
		                      (json_int_t)res->revision, "commit",
		                      res->commit, "tiers",
		                      tool_json_tiers(v, res));
		if (o && add)
			json_object_set_new(o, "added", json_string(id));
		if (o && remove)
			json_object_set_new(o, "removed", json_string(remove));
		rc = tool_json_emit(o);
	} else {
		printf("%llu\n", (unsigned long long)res->revision);
		if (add)
			tool_info("added key %s", id);
		if (remove)
			tool_info("removed key %s", remove);
		rc = TOOL_EXIT_OK;
	}
	tier_write_result_free(res);
	return rc;
}

static int run(struct tool_common *c)
{
	const char *cmd = c->args.items[0];
	tier_vault *v = NULL;
	int rc, write;
	if (strcmp(cmd, "list") && strcmp(cmd, "add") &&
	    strcmp(cmd, "remove") && strcmp(cmd, "passwd"))
		return tool_usage_error("unknown command '%s' (list, add, "
		                        "remove ID, passwd)",
		                        cmd);
	if (!strcmp(cmd, "remove") != (c->args.count == 2))
		return tool_usage_error(!strcmp(cmd, "remove")
		                                ? "remove needs the key's ID "
		                                  "(see tier-key list)"
		                                : "'%s' takes no argument",
		                        cmd);
	write = strcmp(cmd, "list") != 0;
	tool_vault_set_intend_write(write);
	if ((rc = tool_vault_open(&v, c, write ? TOOL_WRITE : TOOL_READ, 1)) <
	    0)
		return tool_fail(rc);
	if (!tier_vault_encrypted(v))
		rc = tool_fail(tier_error_raise(
		        TIER_EUNSUPPORTED, "the vault is not encrypted: it has "
		                           "no keys"));
	else if (!write)
		rc = list(c, v);
	else
		rc = change(c, v, cmd,
		            !strcmp(cmd, "remove")   ? c->args.items[1]
		            : !strcmp(cmd, "passwd") ? tier_vault_key_current(v)
		                                     : NULL);
	tier_vault_free(v);
	return rc;
}

int main(int argc, char **argv)
{
	struct tool_common c;
	tool_init(&c, &def, argc, argv);
	return tool_finish(&c, run(&c));
}
