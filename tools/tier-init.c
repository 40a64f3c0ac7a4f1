/* tier-init: create a vault on empty tiers, or adopt / follow one. */
#include <stdio.h>

#include "exitcodes.h"
#include "opt.h"
#include "output.h"
#include "password.h"
#include "session.h"

#include <string.h>

static int opt_adopt, opt_read_only;
static const char *opt_encryption;
static uint64_t opt_kdf_memory;

static const struct tool_opt options[] = {
        TOOL_FLAG(
                0, "adopt", &opt_adopt,
                "take over the vault on the tiers (this machine replaces the one that wrote it); "
                "logged as a revision, the old installation then refuses to write"),
        TOOL_FLAG(
                0, "read-only", &opt_read_only,
                "follow the vault on the tiers for restores only; never writes"),
        TOOL_STRING(0, "encryption", "MODE", &opt_encryption,
                    "aes-256-gcm (the default: contents, names and metadata "
                    "sealed on this machine) or none (a plaintext vault)"),
        TOOL_SIZE(0, "kdf-memory", "SIZE", &opt_kdf_memory, 1024 * 1024,
                  1024ull * 1024 * 1024,
                  "memory the password's key derivation (scrypt) takes, "
                  "e.g. 64M (the default); more is slower to guess"),
        TOOL_OPTS_END};

static const struct tool_def def = {
        .name = "tier-init",
        .args = "",
        .description =
                "Create a new vault on every tier given with -t (each must be empty) and the "
                "installation in the state directory -s.  The tier order is the read order.",
        .options = options,
        .min_args = 0,
        .max_args = 0,
};

/* A new vault's password: a terminal asks twice. */
static int new_password(char **out, size_t *len, void *payload)
{
	return tool_password_new(out, len, NULL, NULL, payload,
	                         "--password-file, --password-command, "
	                         "TIER_PASSWORD_FILE, TIER_PASSWORD or "
	                         "--encryption none");
}

int main(int argc, char **argv)
{
	struct tool_common c;
	tier_vault *v = NULL;
	int rc;

	tool_init(&c, &def, argc, argv);
	if (opt_adopt && opt_read_only)
		return tool_finish(
		        &c,
		        tool_usage_error(
		                "--adopt and --read-only exclude each other"));
	if (!c.state_dir)
		return tool_finish(
		        &c,
		        tool_usage_error(
		                "give the installation's state directory with -s DIR"));
	if (!c.tiers.count)
		return tool_finish(
		        &c,
		        tool_usage_error(
		                "give at least one tier with -t [NAME=]URL"));

	if (opt_encryption && strcmp(opt_encryption, "aes-256-gcm") &&
	    strcmp(opt_encryption, "none"))
		return tool_finish(&c,
		                   tool_usage_error("unknown --encryption '%s' "
		                                    "(aes-256-gcm or none)",
		                                    opt_encryption));
	if ((opt_adopt || opt_read_only) && (opt_encryption || opt_kdf_memory))
		return tool_finish(
		        &c,
		        tool_usage_error("--encryption and --kdf-memory are "
		                         "for a new vault"));

	tier_vault_options o = TIER_VAULT_OPTIONS_INIT;
	tool_location_options(&c, &o.location);
	o.state_dir = c.state_dir;
	o.tiers = c.tiers.items;
	o.ntiers = c.tiers.count;
	o.mode = opt_adopt       ? TIER_INIT_ADOPT
	         : opt_read_only ? TIER_INIT_READ_ONLY
	                         : TIER_INIT_NEW;
	/* SPEC 8: encrypted unless --encryption none says otherwise */
	o.encryption = opt_encryption ? opt_encryption : "aes-256-gcm";
	o.kdf_memory = opt_kdf_memory;
	o.password = o.mode == TIER_INIT_NEW ? new_password : tool_password;
	o.password_payload = &c;
	if ((rc = tier_vault_init(&v, &o)) < 0)
		return tool_finish(&c, tool_fail(rc));

	if (c.json) {
		json_t *out = json_pack(
		        "{s:s, s:s, s:s, s:s, s:I, s:o}", "vault",
		        tier_vault_id(v), "encryption",
		        tier_vault_encrypted(v) ? "aes-256-gcm" : "none",
		        "installation", tier_vault_installation_id(v), "mode",
		        opt_adopt       ? "adopt"
		        : opt_read_only ? "read-only"
		                        : "new",
		        "revision", (json_int_t)tier_vault_max_revision(v),
		        "tiers", tool_json_tiers(v, NULL));
		/* the state directory is a path like any other (docs/json.md) */
		if (out)
			tool_json_set_name(out, "state", c.state_dir);
		rc = tool_json_emit(out);
	} else {
		printf("%s %svault %s on %s, installation %s in %s\n",
		       opt_adopt       ? "adopted"
		       : opt_read_only ? "following"
		                       : "created",
		       tier_vault_encrypted(v) ? "encrypted " : "",
		       tier_vault_id(v),
		       tool_count(tier_vault_tier_count(v), "tier", NULL),
		       tier_vault_installation_id(v), tool_q(c.state_dir));
		tool_vault_report(v);
	}
	tier_vault_free(v);
	return tool_finish(&c, rc);
}
